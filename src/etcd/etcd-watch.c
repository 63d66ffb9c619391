/* etcd-watch.c — prefix watches that resume after a reconnect: the watch
 * remembers the revision of the last event it delivered, re-creates itself
 * from the next revision on a new stream, and drops anything at or below it,
 * so each event arrives exactly once and in order. */
#include <string.h>
#include <time.h>

#include "etcd-internal.h"
#include "log.h"
#include "time-util.h"

struct EtcdWatch {
	EtcdClient *client;
	char *prefix;
	RpcStream *stream;
	size_t stream_index; /* the endpoint it is on */
	int64_t revision;    /* of the last event delivered */
	unsigned reconnects;
};

static uint64_t remaining(uint64_t deadline)
{
	if (deadline == RPC_USEC_INFINITY)
		return RPC_USEC_INFINITY;
	uint64_t now = now_usec(CLOCK_MONOTONIC);
	return deadline > now ? deadline - now : 0;
}

/* Opens a stream on the member in use and creates the watch from
 * start_revision (0: now); waits for etcd's confirmation. *ret_revision gets
 * the store's revision then. -EPERM: etcd refused it (the client has fetched
 * a new token by then, in case the old one expired). On other failures, the
 * client has moved to another member. */
static int watch_connect(EtcdWatch *w, int64_t start_revision, uint64_t deadline,
                         int64_t *ret_revision)
{
	_cleanup_(rpc_stream_freep) RpcStream *s = NULL;
	size_t index;
	int r = etcd_stream_open(w->client, &etcdserverpb__watch__descriptor, "Watch", &s, &index);
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
	if (r < 0) {
		etcd_stream_failed(w->client, index, s, false);
		return r;
	}

	_cleanup_message_ Etcdserverpb__WatchResponse *resp = NULL;
	r = rpc_stream_recv(s, remaining(deadline), (ProtobufCMessage **)&resp);
	if (r <= 0) {
		etcd_stream_failed(w->client, index, s, false);
		return r < 0 ? r : -ECONNRESET;
	}
	if (resp->canceled) {
		if (resp->compact_revision > 0)
			return ETCD_COMPACTED;
		log_debug("etcd: watch of %s refused: %s", w->prefix,
		          resp->cancel_reason ?: "no reason given");
		if (resp->cancel_reason && (strstr(resp->cancel_reason, "invalid auth token") ||
		                            strstr(resp->cancel_reason, "permission denied"))) {
			/* etcd checks the token only here; an expired one
			 * gets "invalid auth token" (3.4) or "permission
			 * denied" (older): try a new one once */
			etcd_stream_failed(w->client, index, NULL, true);
			return -EPERM;
		}
		return -ECANCELED;
	}
	if (!resp->created)
		return -EBADMSG;
	*ret_revision = etcd_header_revision(resp->header);
	w->stream = TAKE_PTR(s);
	w->stream_index = index;
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
	uint64_t deadline = now_usec(CLOCK_MONOTONIC) + c->timeout_usec;
	bool refused = false;
	int r;
	for (unsigned attempt = 1;; attempt++) {
		r = watch_connect(w, start_revision, deadline, &rev);
		if (r >= 0 || r == ETCD_COMPACTED || (r == -EPERM && refused) ||
		    now_usec(CLOCK_MONOTONIC) >= deadline)
			break;
		/* a refusal may be an expired token, replaced by now; and
		 * another member may answer if this one is away */
		refused = refused || r == -EPERM;
		if (attempt % c->n_endpoints == 0)
			sleep_usec(MIN(remaining(deadline), 100 * RPC_USEC_PER_MSEC));
	}
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
	uint64_t deadline = timeout_usec == RPC_USEC_INFINITY
	                            ? RPC_USEC_INFINITY
	                            : now_usec(CLOCK_MONOTONIC) + timeout_usec;
	bool refused = false;
	for (;;) {
		int r;
		if (!w->stream) {
			int64_t rev;
			r = watch_connect(w, w->revision + 1, deadline, &rev);
			if (r == ETCD_COMPACTED)
				return r;
			if (r == -EPERM) {
				/* once more, with the new token */
				if (refused)
					return r;
				refused = true;
				continue;
			}
			if (r < 0) {
				log_debug_errno(r, "etcd: watch of %s cannot reconnect yet",
				                w->prefix);
				uint64_t left = remaining(deadline);
				if (left == 0)
					return -ETIMEDOUT;
				uint64_t pause = MIN(left, 100 * RPC_USEC_PER_MSEC);
				sleep_usec(pause);
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
			/* the member went away, lost its leader, or the stream
			 * broke: resume on a new one, on the next member */
			etcd_stream_failed(w->client, w->stream_index, w->stream, false);
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

const char *etcd_watch_get_endpoint(const EtcdWatch *w)
{
	return w->client->endpoints[w->stream_index];
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
