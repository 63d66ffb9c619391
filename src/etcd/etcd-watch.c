/* etcd-watch.c — prefix watches that resume after a reconnect: the watch
 * remembers the revision of the last event it delivered, re-creates itself
 * from the next revision on a new stream, and drops anything at or below it,
 * so each event arrives exactly once and in order. */
#include <string.h>
#include <time.h>

#include "etcd-internal.h"
#include "log.h"

struct EtcdWatch {
	EtcdClient *client;
	char *prefix;
	RpcStream *stream;
	int64_t revision; /* of the last event delivered */
	unsigned reconnects;
};

static uint64_t now_usec(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * RPC_USEC_PER_SEC + (uint64_t)ts.tv_nsec / 1000;
}

static uint64_t remaining(uint64_t deadline)
{
	if (deadline == RPC_USEC_INFINITY)
		return RPC_USEC_INFINITY;
	uint64_t now = now_usec();
	return deadline > now ? deadline - now : 0;
}

/* Opens a stream and creates the watch from start_revision (0: now); waits
 * for etcd's confirmation. *ret_revision gets the store's revision then. */
static int watch_connect(EtcdWatch *w, int64_t start_revision, uint64_t deadline,
                         int64_t *ret_revision)
{
	_cleanup_(rpc_stream_freep) RpcStream *s = NULL;
	int r = rpc_stream_open(w->client->channel, &etcdserverpb__watch__descriptor, "Watch", &s);
	if (r < 0)
		return r;

	_cleanup_free_ uint8_t *end = malloc(strlen(w->prefix) + 1);
	if (!end)
		return -ENOMEM;
	Etcdserverpb__WatchCreateRequest create = ETCDSERVERPB__WATCH_CREATE_REQUEST__INIT;
	create.key = etcd_bytes(w->prefix);
	create.range_end.len = etcd_prefix_range_end(w->prefix, end);
	create.range_end.data = end;
	create.start_revision = start_revision;
	Etcdserverpb__WatchRequest req = ETCDSERVERPB__WATCH_REQUEST__INIT;
	req.request_union_case = ETCDSERVERPB__WATCH_REQUEST__REQUEST_UNION_CREATE_REQUEST;
	req.create_request = &create;
	r = rpc_stream_send_timeout(s, &req.base, remaining(deadline));
	if (r < 0)
		return r;

	_cleanup_message_ Etcdserverpb__WatchResponse *resp = NULL;
	r = rpc_stream_recv(s, remaining(deadline), (ProtobufCMessage **)&resp);
	if (r < 0)
		return r;
	if (r == 0)
		return -ECONNRESET;
	if (resp->canceled)
		return resp->compact_revision > 0 ? ETCD_COMPACTED : -ECANCELED;
	if (!resp->created)
		return -EBADMSG;
	*ret_revision = etcd_header_revision(resp->header);
	w->stream = TAKE_PTR(s);
	return 0;
}

int etcd_watch_prefix(EtcdClient *c, const char *prefix, int64_t start_revision, EtcdWatch **ret)
{
	if (start_revision < 0)
		return -EINVAL;
	EtcdWatch *w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->client = c;
	w->prefix = strdup(prefix);
	if (!w->prefix) {
		free(w);
		return -ENOMEM;
	}
	int64_t rev;
	int r = watch_connect(w, start_revision, now_usec() + c->timeout_usec, &rev);
	if (r < 0) {
		etcd_watch_free(w);
		return r;
	}
	/* from now: events after the revision the watch was created at */
	w->revision = start_revision > 0 ? start_revision - 1 : rev;
	*ret = w;
	return 0;
}

int etcd_watch_next(EtcdWatch *w, uint64_t timeout_usec, EtcdEvent **ret_events)
{
	uint64_t deadline =
	        timeout_usec == RPC_USEC_INFINITY ? RPC_USEC_INFINITY : now_usec() + timeout_usec;
	for (;;) {
		int r;
		if (!w->stream) {
			int64_t rev;
			r = watch_connect(w, w->revision + 1, deadline, &rev);
			if (r == ETCD_COMPACTED)
				return r;
			if (r < 0) {
				log_debug_errno(r, "etcd: watch of %s cannot reconnect yet",
				                w->prefix);
				uint64_t left = remaining(deadline);
				if (left == 0)
					return -ETIMEDOUT;
				uint64_t pause = MIN(left, 100 * RPC_USEC_PER_MSEC);
				nanosleep(
				        &(struct timespec){
				                .tv_sec = (time_t)(pause / RPC_USEC_PER_SEC),
				                .tv_nsec =
				                        (long)(pause % RPC_USEC_PER_SEC) * 1000 },
				        NULL);
				continue;
			}
			w->reconnects++;
			log_debug("etcd: watch of %s resumed after revision %lld", w->prefix,
			          (long long)w->revision);
		}

		_cleanup_message_ Etcdserverpb__WatchResponse *resp = NULL;
		r = rpc_stream_recv(w->stream, remaining(deadline), (ProtobufCMessage **)&resp);
		if (r == -ETIMEDOUT)
			return r;
		if (r <= 0) {
			/* etcd went away or the stream broke: resume on a new one */
			w->stream = rpc_stream_free(w->stream);
			continue;
		}
		if (resp->canceled) {
			w->stream = rpc_stream_free(w->stream);
			if (resp->compact_revision > 0)
				return ETCD_COMPACTED;
			continue;
		}

		EtcdEvent *events;
		int64_t last;
		int n = etcd_watch_response_events(resp, w->revision, &events, &last);
		if (n < 0) {
			w->stream = rpc_stream_free(w->stream);
			return n;
		}
		if (n == 0)
			continue; /* progress notification, or only repeats */
		w->revision = last;
		*ret_events = events;
		return n;
	}
}

int64_t etcd_watch_get_revision(const EtcdWatch *w)
{
	return w->revision;
}

unsigned etcd_watch_get_reconnects(const EtcdWatch *w)
{
	return w->reconnects;
}

EtcdWatch *etcd_watch_free(EtcdWatch *w)
{
	if (!w)
		return NULL;
	/* etcd does not end a watch on half-close: cancel the call */
	rpc_stream_free(w->stream);
	free(w->prefix);
	free(w);
	return NULL;
}
