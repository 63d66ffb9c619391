/* rpc-server.c — the gRPC server: a method table built from protobuf-c service
 * descriptors, an accept thread, and a bounded pool of worker threads running
 * handlers with blocking receive/send helpers (each with a timeout) on a
 * per-call completion queue. A call that finds every worker busy is refused
 * at once, so no number of callers makes more threads. */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "error-util.h"
#include "log.h"
#include "rpc-internal.h"
#include "strutil.h"

typedef struct RpcMethod {
	char *path;
	const ProtobufCMethodDescriptor *desc;
	RpcHandler handler;
	void *userdata;
} RpcMethod;

struct RpcServer {
	grpc_server *server;
	grpc_completion_queue *accept_cq; /* completion queue for request_call */
	int port;

	RpcMethod *methods;
	size_t n_methods;

	pthread_t accept_thread;
	bool started;
	bool got_shutdown_tag;
	char shutdown_tag; /* its address is the tag */
	uint64_t first_message_timeout_usec;
	uint64_t io_timeout_usec;

	pthread_mutex_t lock;
	pthread_cond_t work;         /* a call was queued, or the server stops */
	pthread_cond_t workers_done; /* n_workers reached 0 */
	unsigned max_workers;
	unsigned n_workers; /* worker threads alive */
	unsigned n_idle;    /* of them waiting for work */
	bool stopping;
	RpcServerCall *queue; /* accepted, for an idle worker; at most n_idle long */
	unsigned n_queued;
};

struct RpcServerCall {
	RpcServer *server;
	grpc_call *call;
	grpc_completion_queue *cq;
	grpc_call_details details;
	grpc_metadata_array metadata;
	const RpcMethod *method;
	char *path;

	grpc_byte_buffer *reply; /* sent with the status */
	bool sent_initial_metadata;
	bool received_any; /* a receive has completed */
	bool finished;
	int cancelled;
	bool have_status;
	RpcStatus status;
	char op_tag, close_tag;
	RpcServerCall *next; /* in the server's queue */
};

int rpc_server_new(const char *address, const RpcOptions *options, RpcServer **ret)
{
	_cleanup_(grpc_server_credentials_releasep) grpc_server_credentials *creds = NULL;
	int r = rpc_server_credentials_new(options, &creds);
	if (r < 0)
		return r;

	RpcServer *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	pthread_mutex_init(&s->lock, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&s->work, &ca);
	pthread_condattr_destroy(&ca);
	pthread_cond_init(&s->workers_done, NULL);
	s->max_workers = options->max_calls ?: RPC_DEFAULT_MAX_CALLS;
	s->first_message_timeout_usec =
	        options->first_message_timeout_usec ?: RPC_DEFAULT_FIRST_MESSAGE_USEC;
	s->io_timeout_usec = options->call_io_timeout_usec ?: RPC_DEFAULT_CALL_IO_USEC;

	grpc_arg args[RPC_MAX_CHANNEL_ARGS];
	size_t n_args;
	rpc_channel_args_fill(options, false, args, &n_args);
	grpc_channel_args cargs = { .num_args = n_args, .args = args };

	s->server = grpc_server_create(&cargs, NULL);
	s->accept_cq = grpc_completion_queue_create_for_next(NULL);
	grpc_server_register_completion_queue(s->server, s->accept_cq, NULL);
	s->port = grpc_server_add_http2_port(s->server, address, creds);
	if (s->port <= 0) {
		log_debug("rpc: cannot listen on %s", address);
		rpc_server_free(s);
		return -EADDRNOTAVAIL;
	}
	*ret = s;
	return 0;
}

int rpc_server_add_service(RpcServer *s, const ProtobufCServiceDescriptor *service,
                           const RpcHandler *handlers, size_t n_handlers, void *userdata)
{
	if (s->started)
		return -EBUSY;
	if (n_handlers > service->n_methods)
		return -EINVAL;
	RpcMethod *m =
	        reallocarray(s->methods, s->n_methods + service->n_methods, sizeof(RpcMethod));
	if (!m)
		return -ENOMEM;
	s->methods = m;
	for (unsigned i = 0; i < n_handlers; i++) {
		if (!handlers[i])
			continue;
		char *path = rpc_method_path(service, &service->methods[i]);
		if (!path)
			return -ENOMEM;
		s->methods[s->n_methods++] = (RpcMethod){
			.path = path,
			.desc = &service->methods[i],
			.handler = handlers[i],
			.userdata = userdata,
		};
	}
	return 0;
}

int rpc_server_get_port(const RpcServer *s)
{
	return s->port;
}

const char *rpc_server_call_method(const RpcServerCall *c)
{
	return c->path;
}

int rpc_server_call_get_metadata(const RpcServerCall *c, const char *key, char **ret)
{
	size_t n = strlen(key);
	for (size_t i = 0; i < c->metadata.count; i++) {
		const grpc_metadata *m = &c->metadata.metadata[i];
		if (GRPC_SLICE_LENGTH(m->key) != n ||
		    memcmp(GRPC_SLICE_START_PTR(m->key), key, n) != 0)
			continue;
		char *v = strndup((const char *)GRPC_SLICE_START_PTR(m->value),
		                  GRPC_SLICE_LENGTH(m->value));
		if (!v)
			return -ENOMEM;
		*ret = v;
		return 0;
	}
	return -ENOENT;
}

void rpc_peer_identity_done(RpcPeerIdentity *p)
{
	free(p->common_name);
	free(p->organizational_unit);
	*p = (RpcPeerIdentity){};
}

/* The only value of property `name`, as a string; NULL when absent, repeated
 * or holding a NUL byte. */
static char *auth_property_single(const grpc_auth_context *ctx, const char *name)
{
	grpc_auth_property_iterator it = grpc_auth_context_find_properties_by_name(ctx, name);
	const grpc_auth_property *p = grpc_auth_property_iterator_next(&it);
	if (!p || grpc_auth_property_iterator_next(&it) || !p->value ||
	    memchr(p->value, 0, p->value_length))
		return NULL;
	return strndup(p->value, p->value_length);
}

/* The OU of an RFC 2253 subject ("CN=node1,OU=agent,O=podmig", as gRPC gives
 * it): NULL unless exactly one OU is there and nothing is escaped or
 * multi-valued (names podmig issues never need either). */
static char *subject_organizational_unit(const char *subject)
{
	if (strpbrk(subject, "\\\"+<>;#"))
		return NULL;
	const char *found = NULL;
	size_t found_len = 0;
	unsigned n = 0;
	for (const char *p = subject; *p;) {
		size_t len = strcspn(p, ",");
		if (len > 3 && strncmp(p, "OU=", 3) == 0) {
			found = p + 3;
			found_len = len - 3;
			n++;
		}
		p += len + (p[len] == ',');
	}
	return n == 1 ? strndup(found, found_len) : NULL;
}

int rpc_server_call_peer_identity(const RpcServerCall *c, RpcPeerIdentity *ret)
{
	grpc_auth_context *ctx = grpc_call_auth_context(c->call);
	if (!ctx)
		return -ENOENT;
	_cleanup_(rpc_peer_identity_done) RpcPeerIdentity id = {};
	_cleanup_free_ char *subject = NULL;
	int r = -ENOENT;
	/* authenticated: the handshake verified a client certificate */
	if (grpc_auth_context_peer_is_authenticated(ctx) &&
	    (id.common_name = auth_property_single(ctx, GRPC_X509_CN_PROPERTY_NAME))) {
		if ((subject = auth_property_single(ctx, GRPC_X509_SUBJECT_PROPERTY_NAME)))
			id.organizational_unit = subject_organizational_unit(subject);
		*ret = id;
		id = (RpcPeerIdentity){};
		r = 0;
	}
	grpc_auth_context_release(ctx);
	return r;
}

int rpc_server_call_error(RpcServerCall *c, RpcCode code, const char *fmt, ...)
{
	char buf[sizeof(c->status.message)];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	rpc_status_set(&c->status, code, buf, n < 0 ? 0 : strlen(buf));
	c->have_status = true;
	return rpc_code_to_errno(code);
}

/* Waits for the batch on op_tag; past timeout_usec the call is cancelled
 * with DEADLINE_EXCEEDED (the batch then completes, failed). 1: it
 * succeeded, 0: it failed, -ETIMEDOUT. */
static int call_wait(RpcServerCall *c, uint64_t timeout_usec, const char *what)
{
	grpc_event ev =
	        grpc_completion_queue_pluck(c->cq, &c->op_tag, rpc_deadline(timeout_usec), NULL);
	if (ev.type == GRPC_OP_COMPLETE)
		return ev.success ? 1 : 0;

	char msg[128];
	snprintf(msg, sizeof msg, "%s within %" PRIu64 " ms", what,
	         (uint64_t)(timeout_usec / RPC_USEC_PER_MSEC));
	log_debug("rpc: %s: %s: cancelled", c->path, msg);
	grpc_call_cancel_with_status(c->call, GRPC_STATUS_DEADLINE_EXCEEDED, msg, NULL);
	(void)rpc_cq_pluck(c->cq, &c->op_tag);
	/* the cancellation sent the status */
	c->finished = true;
	return -ETIMEDOUT;
}

int rpc_server_call_recv_timeout(RpcServerCall *c, uint64_t timeout_usec, ProtobufCMessage **ret)
{
	_cleanup_(grpc_byte_buffer_destroyp) grpc_byte_buffer *bb = NULL;
	grpc_op op = {
		.op = GRPC_OP_RECV_MESSAGE,
		.data.recv_message.recv_message = &bb,
	};
	if (c->finished)
		return -ESHUTDOWN;
	if (grpc_call_start_batch(c->call, &op, 1, &c->op_tag, NULL) != GRPC_CALL_OK)
		return -EPROTO;
	/* fails when the call was cancelled, e.g. by an oversized message (the
	 * core has already sent RESOURCE_EXHAUSTED then) */
	int k = call_wait(c, timeout_usec, "no message");
	if (k < 0)
		return k;
	c->received_any = true;
	if (k == 0)
		return -ECONNRESET;
	if (!bb)
		return 0;

	int r = rpc_byte_buffer_decode(c->method->desc->input, bb, ret);
	if (r < 0) {
		rpc_server_call_error(c, RPC_INVALID_ARGUMENT,
		                      r == -EPROTONOSUPPORT ? "compressed %s message refused"
		                                            : "malformed %s message",
		                      c->method->desc->input->name);
		return r;
	}
	return 1;
}

int rpc_server_call_recv(RpcServerCall *c, ProtobufCMessage **ret)
{
	return rpc_server_call_recv_timeout(c,
	                                    c->received_any ? c->server->io_timeout_usec
	                                                    : c->server->first_message_timeout_usec,
	                                    ret);
}

/* One batch: initial metadata if not sent yet, then message and/or status. */
static int call_send_ops(RpcServerCall *c, grpc_byte_buffer *bb, const RpcStatus *status)
{
	grpc_op ops[3] = {};
	size_t n = 0;
	grpc_slice details = grpc_empty_slice();

	if (!c->sent_initial_metadata)
		ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
	if (bb) {
		ops[n].op = GRPC_OP_SEND_MESSAGE;
		ops[n++].data.send_message.send_message = bb;
	}
	if (status) {
		rpc_count_error(true, status->code);
		details = grpc_slice_from_copied_string(status->message);
		ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
		ops[n].data.send_status_from_server.status = (grpc_status_code)status->code;
		ops[n++].data.send_status_from_server.status_details = &details;
	}

	int r = 0;
	if (grpc_call_start_batch(c->call, ops, n, &c->op_tag, NULL) != GRPC_CALL_OK)
		r = -EPROTO;
	else {
		int k = call_wait(c, c->server->io_timeout_usec, "the client took nothing");
		r = k < 0 ? k : k == 0 ? -ECONNRESET : 0;
	}
	c->sent_initial_metadata = true;
	if (status)
		c->finished = true;
	grpc_slice_unref(details);
	return r;
}

int rpc_server_call_send(RpcServerCall *c, const ProtobufCMessage *m)
{
	if (c->finished)
		return -ESHUTDOWN;
	_cleanup_(grpc_byte_buffer_destroyp) grpc_byte_buffer *bb = rpc_message_pack(m);
	if (!bb)
		return -ENOMEM;
	return call_send_ops(c, bb, NULL);
}

int rpc_server_call_reply(RpcServerCall *c, const ProtobufCMessage *m)
{
	grpc_byte_buffer *bb = rpc_message_pack(m);
	if (!bb)
		return -ENOMEM;
	if (c->reply)
		grpc_byte_buffer_destroy(c->reply);
	c->reply = bb;
	return 0;
}

static void call_finish(RpcServerCall *c, int r)
{
	RpcStatus st = { .code = RPC_OK };

	if (c->finished)
		return;
	if (r < 0) {
		if (c->have_status)
			st = c->status;
		else {
			st.code = rpc_code_from_errno(r);
			snprintf(st.message, sizeof(st.message), "%s", error_to_string(r));
		}
		if (st.code == RPC_OK) /* a failed handler never reports success */
			st.code = RPC_UNKNOWN;
	}
	(void)call_send_ops(c, st.code == RPC_OK ? c->reply : NULL, &st);
}

static void call_free(RpcServerCall *c)
{
	if (!c)
		return;
	if (c->reply)
		grpc_byte_buffer_destroy(c->reply);
	if (c->call)
		grpc_call_unref(c->call);
	rpc_cq_destroy(c->cq);
	grpc_call_details_destroy(&c->details);
	grpc_metadata_array_destroy(&c->metadata);
	free(c->path);
	free(c);
}

static const RpcMethod *server_find_method(const RpcServer *s, const char *path)
{
	for (size_t i = 0; i < s->n_methods; i++)
		if (streq(s->methods[i].path, path))
			return &s->methods[i];
	return NULL;
}

/* Runs one call's handler and ends the call. */
static void call_serve(RpcServerCall *c)
{
	RpcServer *s = c->server;

	/* outstanding for the call's whole life; completes when it ends */
	grpc_op op = {
		.op = GRPC_OP_RECV_CLOSE_ON_SERVER,
		.data.recv_close_on_server.cancelled = &c->cancelled,
	};
	bool close_started =
	        grpc_call_start_batch(c->call, &op, 1, &c->close_tag, NULL) == GRPC_CALL_OK;

	c->path = grpc_slice_to_c_string(c->details.method);
	c->method = server_find_method(s, c->path);
	if (!c->method) {
		log_debug("rpc: unknown method %s", c->path);
		rpc_server_call_error(c, RPC_UNIMPLEMENTED, "unknown method %s", c->path);
		call_finish(c, -EOPNOTSUPP);
	} else
		call_finish(c, c->method->handler(c, c->method->userdata));

	if (close_started)
		rpc_cq_pluck(c->cq, &c->close_tag);
	call_free(c);
}

/* An idle worker waits this long for a call before it ends. */
#define WORKER_IDLE_USEC (30 * RPC_USEC_PER_SEC)

static void *worker_thread(void *arg)
{
	RpcServerCall *c = arg;
	RpcServer *s = c->server;

	for (;;) {
		call_serve(c);
		c = NULL;

		pthread_mutex_lock(&s->lock);
		s->n_idle++;
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts); /* the condition's clock */
		ts.tv_sec += WORKER_IDLE_USEC / RPC_USEC_PER_SEC;
		while (!s->queue && !s->stopping)
			if (pthread_cond_timedwait(&s->work, &s->lock, &ts) == ETIMEDOUT)
				break;
		s->n_idle--;
		if (s->queue) {
			c = s->queue;
			s->queue = c->next;
			s->n_queued--;
		}
		if (!c) {
			if (--s->n_workers == 0)
				pthread_cond_broadcast(&s->workers_done);
			pthread_mutex_unlock(&s->lock);
			return NULL;
		}
		pthread_mutex_unlock(&s->lock);
	}
}

/* Ends a call no worker can take, at once. */
static void call_refuse(RpcServerCall *c, unsigned busy)
{
	c->path = grpc_slice_to_c_string(c->details.method);
	log_debug("rpc: %s refused: %u calls in progress", c->path, busy);
	rpc_server_call_error(c, RPC_RESOURCE_EXHAUSTED,
	                      RPC_BUSY_MESSAGE_PREFIX ": %u calls in progress, its limit", busy);
	call_finish(c, -EBUSY);
	call_free(c);
}

/* Hands an accepted call to an idle worker, a new one within the bound, or
 * refuses it. */
static void server_dispatch(RpcServer *s, RpcServerCall *c)
{
	pthread_mutex_lock(&s->lock);
	if (s->n_idle > s->n_queued) {
		RpcServerCall **p = &s->queue;
		while (*p)
			p = &(*p)->next;
		*p = c;
		s->n_queued++;
		pthread_cond_signal(&s->work);
		pthread_mutex_unlock(&s->lock);
		return;
	}
	unsigned busy = s->n_workers;
	if (s->n_workers >= s->max_workers) {
		pthread_mutex_unlock(&s->lock);
		call_refuse(c, busy);
		return;
	}
	s->n_workers++;
	pthread_mutex_unlock(&s->lock);

	pthread_attr_t attr;
	pthread_t t;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	int r = pthread_create(&t, &attr, worker_thread, c);
	pthread_attr_destroy(&attr);
	if (r != 0) {
		log_debug_errno(r, "rpc: cannot start a worker thread");
		pthread_mutex_lock(&s->lock);
		if (--s->n_workers == 0)
			pthread_cond_broadcast(&s->workers_done);
		pthread_mutex_unlock(&s->lock);
		call_refuse(c, busy);
	}
}

static RpcServerCall *call_new(RpcServer *s)
{
	RpcServerCall *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->server = s;
	c->cq = grpc_completion_queue_create_for_pluck(NULL);
	grpc_call_details_init(&c->details);
	grpc_metadata_array_init(&c->metadata);
	return c;
}

static void *accept_thread(void *arg)
{
	RpcServer *s = arg;

	for (;;) {
		RpcServerCall *c = call_new(s);
		if (!c)
			break;
		if (grpc_server_request_call(s->server, &c->call, &c->details, &c->metadata, c->cq,
		                             s->accept_cq, c) != GRPC_CALL_OK) {
			call_free(c);
			break;
		}

		grpc_event ev;
		for (;;) {
			ev = grpc_completion_queue_next(s->accept_cq,
			                                gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
			if (ev.type == GRPC_OP_COMPLETE && ev.tag == &s->shutdown_tag)
				s->got_shutdown_tag = true;
			else
				break;
		}
		if (ev.type != GRPC_OP_COMPLETE || !ev.success) {
			/* the server is shutting down */
			call_free(c);
			break;
		}
		server_dispatch(s, c);
	}
	return NULL;
}

int rpc_server_start(RpcServer *s)
{
	if (s->started)
		return -EALREADY;
	grpc_server_start(s->server);
	int r = pthread_create(&s->accept_thread, NULL, accept_thread, s);
	if (r != 0) {
		/* grpc_server_destroy() wants a shut down server */
		grpc_server_shutdown_and_notify(s->server, s->accept_cq, &s->shutdown_tag);
		return -r;
	}
	s->started = true;
	return 0;
}

RpcServer *rpc_server_free(RpcServer *s)
{
	if (!s)
		return NULL;

	if (s->server) {
		grpc_server_shutdown_and_notify(s->server, s->accept_cq, &s->shutdown_tag);
		grpc_server_cancel_all_calls(s->server);
		if (s->started)
			pthread_join(s->accept_thread, NULL);
		while (!s->got_shutdown_tag) {
			grpc_event ev = grpc_completion_queue_next(
			        s->accept_cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
			if (ev.type != GRPC_OP_COMPLETE || ev.tag == &s->shutdown_tag)
				break;
		}

		pthread_mutex_lock(&s->lock);
		s->stopping = true;
		pthread_cond_broadcast(&s->work);
		while (s->n_workers > 0)
			pthread_cond_wait(&s->workers_done, &s->lock);
		pthread_mutex_unlock(&s->lock);

		grpc_server_destroy(s->server);
	}
	if (s->accept_cq) {
		grpc_completion_queue_shutdown(s->accept_cq);
		while (grpc_completion_queue_next(s->accept_cq, gpr_inf_future(GPR_CLOCK_REALTIME),
		                                  NULL)
		               .type != GRPC_QUEUE_SHUTDOWN)
			;
		grpc_completion_queue_destroy(s->accept_cq);
	}
	for (size_t i = 0; i < s->n_methods; i++)
		free(s->methods[i].path);
	free(s->methods);
	pthread_cond_destroy(&s->work);
	pthread_cond_destroy(&s->workers_done);
	pthread_mutex_destroy(&s->lock);
	free(s);
	return NULL;
}
