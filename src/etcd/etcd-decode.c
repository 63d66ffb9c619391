/* etcd-decode.c — etcd responses (outside bytes, already unpacked by
 * protobuf-c) into podmig's types, tolerating missing sub-messages. */
#include <string.h>

#include "etcd-internal.h"

size_t etcd_prefix_range_end(const char *prefix, uint8_t *out)
{
	size_t n = strlen(prefix);
	memcpy(out, prefix, n);
	while (n > 0 && out[n - 1] == 0xff)
		n--;
	if (n == 0) {
		out[0] = 0;
		return 1;
	}
	out[n - 1]++;
	return n;
}

int64_t etcd_header_revision(const Etcdserverpb__ResponseHeader *h)
{
	return h ? h->revision : 0;
}

int etcd_auth_token_from_pb(const Etcdserverpb__AuthenticateResponse *r, char **ret)
{
	const char *t = r->token;
	if (!t || !t[0] || strlen(t) > 4096)
		return -EBADMSG;
	/* it goes back out as an HTTP/2 header value */
	for (const char *p = t; *p; p++)
		if (*p < 0x20 || *p > 0x7e)
			return -EBADMSG;
	char *s = strdup(t);
	if (!s)
		return -ENOMEM;
	*ret = s;
	return 0;
}

static char *bytes_to_string(ProtobufCBinaryData b)
{
	char *s = malloc(b.len + 1);
	if (!s)
		return NULL;
	if (b.len > 0)
		memcpy(s, b.data, b.len);
	s[b.len] = 0;
	return s;
}

int etcd_key_value_from_pb(const Etcdserverpb__KeyValue *pb, EtcdKeyValue *ret)
{
	if (!pb)
		return -EBADMSG;
	EtcdKeyValue kv = {
		.key = bytes_to_string(pb->key),
		.value = bytes_to_string(pb->value),
		.value_size = pb->value.len,
		.create_revision = pb->create_revision,
		.mod_revision = pb->mod_revision,
		.version = pb->version,
		.lease = pb->lease,
	};
	if (!kv.key || !kv.value) {
		etcd_key_value_done(&kv);
		return -ENOMEM;
	}
	*ret = kv;
	return 0;
}

void etcd_key_value_done(EtcdKeyValue *kv)
{
	if (!kv)
		return;
	free(kv->key);
	free(kv->value);
	*kv = (EtcdKeyValue){};
}

void etcd_key_values_free(EtcdKeyValue *kvs, size_t n)
{
	for (size_t i = 0; kvs && i < n; i++)
		etcd_key_value_done(&kvs[i]);
	free(kvs);
}

void etcd_events_free(EtcdEvent *events, size_t n)
{
	for (size_t i = 0; events && i < n; i++)
		etcd_key_value_done(&events[i].kv);
	free(events);
}

int etcd_range_response_parse(const Etcdserverpb__RangeResponse *r, EtcdKeyValue **ret_kvs,
                              size_t *ret_n, int64_t *ret_revision)
{
	EtcdKeyValue *kvs = calloc(MAX(r->n_kvs, 1u), sizeof(EtcdKeyValue));
	if (!kvs)
		return -ENOMEM;
	for (size_t i = 0; i < r->n_kvs; i++) {
		int k = etcd_key_value_from_pb(r->kvs[i], &kvs[i]);
		if (k < 0) {
			etcd_key_values_free(kvs, i);
			return k;
		}
	}
	*ret_kvs = kvs;
	*ret_n = r->n_kvs;
	if (ret_revision)
		*ret_revision = etcd_header_revision(r->header);
	return 0;
}

int etcd_watch_response_events(const Etcdserverpb__WatchResponse *r, int64_t after_revision,
                               EtcdEvent **ret_events, int64_t *ret_last_revision)
{
	size_t n = 0;
	int64_t last = after_revision;
	EtcdEvent *events = calloc(MAX(r->n_events, 1u), sizeof(EtcdEvent));
	if (!events)
		return -ENOMEM;

	for (size_t i = 0; i < r->n_events; i++) {
		const Etcdserverpb__Event *e = r->events[i];
		if (!e || !e->kv) {
			etcd_events_free(events, n);
			return -EBADMSG;
		}
		/* already delivered before a reconnect */
		if (e->kv->mod_revision <= after_revision)
			continue;
		/* etcd sends revisions in order; anything else is not etcd */
		if (e->kv->mod_revision < last) {
			etcd_events_free(events, n);
			return -EBADMSG;
		}
		int k = etcd_key_value_from_pb(e->kv, &events[n].kv);
		if (k < 0) {
			etcd_events_free(events, n);
			return k;
		}
		events[n].type = e->type == ETCDSERVERPB__EVENT__EVENT_TYPE__DELETE
		                         ? ETCD_EVENT_DELETE
		                         : ETCD_EVENT_PUT;
		last = e->kv->mod_revision;
		n++;
	}
	if (n == 0) {
		free(events);
		events = NULL;
	}
	*ret_events = events;
	*ret_last_revision = last;
	return (int)n;
}
