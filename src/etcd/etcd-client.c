/* etcd-client.c — the client object: one gRPC channel per member endpoint,
 * the endpoint in use and failing over to the next one, unary requests with
 * their retry rules, streams on the endpoint in use, and etcd authentication
 * (a token from Auth.Authenticate sent as "token" metadata, fetched again
 * when etcd calls it invalid, e.g. after it expired).
 *
 * Every call also carries "hasleader: true", as etcd's Go client sends on
 * watches: a member that lost its quorum (no leader) then refuses requests
 * with "etcdserver: no leader" and ends its watch streams instead of going
 * quiet, and the client moves to another member. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "etcd-internal.h"
#include "log.h"
#include "strutil.h"

#define DEFAULT_TIMEOUT_USEC (5 * RPC_USEC_PER_SEC)
#define RETRY_PAUSE_USEC     (100 * RPC_USEC_PER_MSEC)

static _Thread_local RpcStatus last_error;
static _Atomic uint64_t request_errors[_RPC_CODE_MAX];

void etcd_error_counts(uint64_t ret[_RPC_CODE_MAX])
{
	for (size_t i = 0; i < _RPC_CODE_MAX; i++)
		ret[i] = atomic_load_explicit(&request_errors[i], memory_order_relaxed);
}

const RpcStatus *etcd_last_error(void)
{
	return &last_error;
}

void etcd_set_last_error(const RpcStatus *st)
{
	if (st)
		last_error = *st;
}

/* "a:1, https://b:2/" → "a:1", "b:2" */
static int endpoints_parse(const char *list, char ***ret, size_t *ret_n)
{
	_cleanup_free_ char *copy = strdup(list);
	if (!copy)
		return -ENOMEM;
	char **v = NULL;
	size_t n = 0;
	char *save = NULL;
	for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		t += strspn(t, " \t");
		const char *p = startswith(t, "http://") ?: startswith(t, "https://") ?: t;
		size_t len = strcspn(p, " \t/");
		if (len == 0)
			continue;
		char **nv = realloc(v, (n + 1) * sizeof(*v));
		char *e = strndup(p, len);
		if (!nv || !e) {
			free(e);
			v = nv ?: v;
			etcd_strv_free(v, n);
			return -ENOMEM;
		}
		v = nv;
		v[n++] = e;
	}
	if (n == 0)
		return -EINVAL;
	*ret = v;
	*ret_n = n;
	return 0;
}

void etcd_strv_free(char **v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		free(v[i]);
	free(v);
}

int etcd_client_new(const char *endpoints, const EtcdOptions *options, EtcdClient **ret)
{
	if (!!options->username != !!options->password)
		return -EINVAL;

	RpcOptions o = options->rpc;
	/* big prefix ranges exceed gRPC's 4 MiB default */
	if (o.max_receive_message_bytes == 0)
		o.max_receive_message_bytes = 64 * 1024 * 1024;
	/* fail fast on an unreachable member so the next one can be tried;
	 * etcd_call() waits and retries within the request's deadline */
	o.wait_for_ready = false;
	/* come back quickly after a member restarts */
	if (o.max_reconnect_backoff_msec == 0)
		o.max_reconnect_backoff_msec = 1000;

	_cleanup_(etcd_client_freep) EtcdClient *c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	pthread_mutex_init(&c->lock, NULL);
	c->timeout_usec = options->request_timeout_usec ?: DEFAULT_TIMEOUT_USEC;
	int r = endpoints_parse(endpoints, &c->endpoints, &c->n_endpoints);
	if (r < 0)
		return r;
	c->channels = calloc(c->n_endpoints, sizeof(*c->channels));
	if (!c->channels)
		return -ENOMEM;
	for (size_t i = 0; i < c->n_endpoints; i++) {
		r = rpc_channel_new(c->endpoints[i], &o, &c->channels[i]);
		if (r < 0)
			return r;
	}

	if (options->username) {
		c->username = strdup(options->username);
		c->password = strdup(options->password);
		if (!c->username || !c->password)
			return -ENOMEM;
		r = etcd_client_authenticate(c, NULL);
		if (r < 0)
			return r;
	}
	*ret = TAKE_PTR(c);
	return 0;
}

EtcdClient *etcd_client_free(EtcdClient *c)
{
	if (!c)
		return NULL;
	for (size_t i = 0; c->channels && i < c->n_endpoints; i++)
		rpc_channel_free(c->channels[i]);
	free(c->channels);
	etcd_strv_free(c->endpoints, c->n_endpoints);
	free(c->username);
	if (c->password) {
		explicit_bzero(c->password, strlen(c->password));
		free(c->password);
	}
	free(c->token);
	pthread_mutex_destroy(&c->lock);
	free(c);
	return NULL;
}

const char *etcd_client_get_endpoint(EtcdClient *c)
{
	pthread_mutex_lock(&c->lock);
	const char *e = c->endpoints[c->current];
	pthread_mutex_unlock(&c->lock);
	return e;
}

size_t etcd_client_pick(EtcdClient *c, RpcChannel **ret_channel)
{
	pthread_mutex_lock(&c->lock);
	size_t i = c->current;
	pthread_mutex_unlock(&c->lock);
	*ret_channel = c->channels[i];
	return i;
}

void etcd_client_failover(EtcdClient *c, size_t index)
{
	pthread_mutex_lock(&c->lock);
	/* several requests may fail on the same member: move on once */
	if (c->current == index && c->n_endpoints > 1) {
		c->current = (index + 1) % c->n_endpoints;
		log_debug("etcd: %s failed, now using %s", c->endpoints[index],
		          c->endpoints[c->current]);
	}
	pthread_mutex_unlock(&c->lock);
}

size_t etcd_client_metadata(EtcdClient *c, bool with_token, RpcMetadata md[2], char **ret_token)
{
	size_t n = 0;
	md[n++] = (RpcMetadata){ "hasleader", "true" };
	*ret_token = NULL;
	if (with_token) {
		pthread_mutex_lock(&c->lock);
		*ret_token = c->token ? strdup(c->token) : NULL;
		pthread_mutex_unlock(&c->lock);
		if (*ret_token)
			md[n++] = (RpcMetadata){ "token", *ret_token };
	}
	return n;
}

bool etcd_status_invalid_token(const RpcStatus *st)
{
	/* etcd's ErrGRPCInvalidAuthToken; also what an expired token gets */
	return st->code == RPC_UNAUTHENTICATED && strstr(st->message, "invalid auth token");
}

/* Whether a failed call was certainly not applied, so that even a write may
 * be sent again: gRPC could not reach the member, or etcd refused it before
 * proposing it (no leader). */
static bool status_never_sent(const RpcStatus *st)
{
	if (st->code != RPC_UNAVAILABLE)
		return false;
	return strstr(st->message, "failed to connect") || strstr(st->message, "no leader") ||
	       strstr(st->message, "Connection refused");
}

/* Whether the member might be the problem: try another one. */
static bool status_failover(const RpcStatus *st)
{
	return st->code == RPC_UNAVAILABLE || st->code == RPC_DEADLINE_EXCEEDED;
}

static bool method_idempotent(const char *method)
{
	/* reads, and requests whose repetition does no harm: a second grant
	 * leaves an unused lease that expires, a second revoke finds none */
	return streq(method, "Range") || streq(method, "Authenticate") ||
	       streq(method, "LeaseGrant") || streq(method, "LeaseRevoke");
}

static int call_once(EtcdClient *c, size_t index, bool with_token,
                     const ProtobufCServiceDescriptor *service, const char *method,
                     const ProtobufCMessage *request, uint64_t timeout_usec,
                     ProtobufCMessage **ret_reply, RpcStatus *st, char **ret_token)
{
	RpcMetadata md[2];
	size_t n_md = etcd_client_metadata(c, with_token, md, ret_token);
	return rpc_call_unary_with_metadata(c->channels[index], service, method, request, md, n_md,
	                                    timeout_usec, ret_reply, st);
}

static int call(EtcdClient *c, bool with_token, const ProtobufCServiceDescriptor *service,
                const char *method, const ProtobufCMessage *request, ProtobufCMessage **ret_reply)
{
	uint64_t deadline = now_usec(CLOCK_MONOTONIC) + c->timeout_usec;
	bool idempotent = method_idempotent(method);
	bool reauthenticated = false;
	size_t failures = 0;
	RpcStatus st = {};
	int r;

	for (;;) {
		uint64_t now = now_usec(CLOCK_MONOTONIC);
		if (now >= deadline)
			break;
		uint64_t left = deadline - now;
		/* a member that hangs (e.g. cut off) must leave time for another */
		uint64_t attempt =
		        c->n_endpoints > 1 ? MAX(left / 2, MIN(left, RPC_USEC_PER_SEC)) : left;
		RpcChannel *ch;
		size_t index = etcd_client_pick(c, &ch);
		_cleanup_free_ char *token = NULL;
		r = call_once(c, index, with_token, service, method, request, attempt, ret_reply,
		              &st, &token);
		if (r >= 0)
			return r;
		log_debug("etcd: %s/%s on %s failed: %s: %s", service->name, method,
		          c->endpoints[index], rpc_code_to_string(st.code), st.message);

		if (with_token && c->username && !reauthenticated &&
		    etcd_status_invalid_token(&st)) {
			reauthenticated = true;
			r = etcd_client_authenticate(c, token);
			if (r < 0)
				return r; /* last_error is Authenticate's */
			continue;
		}
		if (!status_failover(&st))
			goto fail;
		etcd_client_failover(c, index);
		if (!idempotent && !status_never_sent(&st))
			goto fail;
		/* after a round over every member, give them a moment */
		if (++failures % c->n_endpoints == 0) {
			now = now_usec(CLOCK_MONOTONIC);
			if (now < deadline)
				sleep_usec(MIN(RETRY_PAUSE_USEC, deadline - now));
		}
	}
	/* out of time: report what the last attempt said (e.g. a TLS handshake
	 * failure), which says more than "deadline exceeded" */
	if (st.code == RPC_OK) {
		st.code = RPC_DEADLINE_EXCEEDED;
		snprintf(st.message, sizeof(st.message), "no attempt within the deadline");
	}
	r = rpc_code_to_errno(st.code);
fail:
	if (st.code > RPC_OK && st.code < _RPC_CODE_MAX)
		atomic_fetch_add_explicit(&request_errors[st.code], 1, memory_order_relaxed);
	etcd_set_last_error(&st);
	return r;
}

int etcd_call(EtcdClient *c, const ProtobufCServiceDescriptor *service, const char *method,
              const ProtobufCMessage *request, ProtobufCMessage **ret_reply)
{
	return call(c, true, service, method, request, ret_reply);
}

int etcd_client_authenticate(EtcdClient *c, const char *stale_token)
{
	pthread_mutex_lock(&c->lock);
	bool fresh = stale_token && !streq_ptr(c->token, stale_token);
	pthread_mutex_unlock(&c->lock);
	if (fresh)
		return 0; /* another thread already got a new one */

	Etcdserverpb__AuthenticateRequest req = ETCDSERVERPB__AUTHENTICATE_REQUEST__INIT;
	req.name = c->username;
	req.password = c->password;
	_cleanup_message_ Etcdserverpb__AuthenticateResponse *resp = NULL;
	int r = call(c, false, &etcdserverpb__auth__descriptor, "Authenticate", &req.base,
	             (ProtobufCMessage **)&resp);
	if (r < 0) {
		/* etcd's ErrGRPCAuthFailed is INVALID_ARGUMENT: say what it is */
		if (last_error.code == RPC_INVALID_ARGUMENT &&
		    strstr(last_error.message, "authentication failed"))
			return ETCD_AUTH_FAILED;
		return r;
	}
	_cleanup_free_ char *token = NULL;
	r = etcd_auth_token_from_pb(resp, &token);
	if (r < 0)
		return r;
	pthread_mutex_lock(&c->lock);
	free(c->token);
	c->token = TAKE_PTR(token);
	c->n_authentications++;
	pthread_mutex_unlock(&c->lock);
	log_debug("etcd: authenticated as %s", c->username);
	return 0;
}

int etcd_stream_open(EtcdClient *c, const ProtobufCServiceDescriptor *service, const char *method,
                     RpcStream **ret, size_t *ret_index)
{
	RpcChannel *ch;
	size_t index = etcd_client_pick(c, &ch);
	RpcMetadata md[2];
	_cleanup_free_ char *token = NULL;
	size_t n_md = etcd_client_metadata(c, true, md, &token);
	int r = rpc_stream_open_with_metadata(ch, service, method, md, n_md, ret);
	if (r < 0)
		return r;
	*ret_index = index;
	return 0;
}

void etcd_stream_failed(EtcdClient *c, size_t index, RpcStream *s, bool token_suspect)
{
	RpcStatus st = {};
	if (s)
		(void)rpc_stream_finish(s, &st);
	if (c->username && (token_suspect || etcd_status_invalid_token(&st))) {
		/* maybe the token expired: get another for the next stream */
		(void)etcd_client_authenticate(c, NULL);
		return;
	}
	log_debug("etcd: stream on %s ended: %s: %s", c->endpoints[index],
	          rpc_code_to_string(st.code), st.message);
	etcd_client_failover(c, index);
}
