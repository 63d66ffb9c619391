/* Fuzz target: etcd's responses as the client decodes them. The first byte
 * picks the response type; Range and Watch responses then go through the
 * client's conversion (missing sub-messages, odd revisions, binary keys), and
 * an Authenticate response's token must come out fit for a header. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "etcd-internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	uint8_t kind = data[0] % 7;
	int64_t after = data[1]; /* the watch's last delivered revision */
	data += 2;
	size -= 2;

	static const ProtobufCMessageDescriptor *const types[] = {
		&etcdserverpb__range_response__descriptor,
		&etcdserverpb__watch_response__descriptor,
		&etcdserverpb__txn_response__descriptor,
		&etcdserverpb__lease_keep_alive_response__descriptor,
		&etcdserverpb__lease_grant_response__descriptor,
		&etcdserverpb__delete_range_response__descriptor,
		&etcdserverpb__authenticate_response__descriptor,
	};
	ProtobufCMessage *m = NULL;
	if (rpc_message_decode(types[kind], data, size, &m) < 0)
		return 0;

	if (kind == 0) {
		EtcdKeyValue *kvs;
		size_t n;
		int64_t rev;
		if (etcd_range_response_parse((Etcdserverpb__RangeResponse *)m, &kvs, &n, &rev) >=
		    0)
			etcd_key_values_free(kvs, n);
	} else if (kind == 1) {
		EtcdEvent *events;
		int64_t last;
		int n = etcd_watch_response_events((Etcdserverpb__WatchResponse *)m, after, &events,
		                                   &last);
		if (n >= 0) {
			for (int i = 0; i < n; i++)
				if (events[i].kv.mod_revision <= after)
					__builtin_trap(); /* would be a repeated event */
			etcd_events_free(events, (size_t)n);
		}
	} else if (kind == 6) {
		char *token;
		if (etcd_auth_token_from_pb((Etcdserverpb__AuthenticateResponse *)m, &token) >= 0) {
			for (const char *p = token; *p; p++)
				if (*p < 0x20 || *p > 0x7e)
					__builtin_trap(); /* could not be a header value */
			free(token);
		}
	}
	rpc_message_free(m);
	return 0;
}
