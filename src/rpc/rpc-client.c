/* rpc-client.c — the gRPC client: channels, unary calls with deadlines and
 * streams of every kind, each call on its own pluck completion queue. */
#include <errno.h>
#include <pthread.h>
#include <string.h>

#include "log.h"
#include "rpc-internal.h"

struct RpcChannel {
	grpc_channel *channel;
	uint32_t initial_metadata_flags;
};

struct RpcStream {
	grpc_call *call;
	grpc_completion_queue *cq;
	grpc_slice path; /* must outlive the call */
	const ProtobufCMessageDescriptor *output;

	grpc_metadata_array initial_metadata, trailing_metadata;
	grpc_status_code code;
	grpc_slice details;
	grpc_byte_buffer *recv_buffer;

	bool got_initial_metadata;
	bool recv_pending;     /* a receive that timed out is still in flight */
	bool status_started;   /* RECV_STATUS_ON_CLIENT outstanding */
	bool status_counted;   /* its end is in rpc_error_counts() */
	bool status_received;  /* ... and completed */
	bool metadata_started; /* SEND_INITIAL_METADATA outstanding */
	char send_tag, recv_tag, status_tag, metadata_tag;

	grpc_metadata *send_metadata; /* the caller's, copied */
	size_t n_send_metadata;
};

static void metadata_free(grpc_metadata *m, size_t n)
{
	for (size_t i = 0; m && i < n; i++) {
		grpc_slice_unref(m[i].key);
		grpc_slice_unref(m[i].value);
	}
	free(m);
}

/* The caller's metadata as gRPC's, with copied slices, checked for what
 * HTTP/2 headers may carry. */
static int metadata_new(const RpcMetadata *md, size_t n, grpc_metadata **ret)
{
	if (n == 0) {
		*ret = NULL;
		return 0;
	}
	grpc_metadata *m = calloc(n, sizeof(*m));
	if (!m)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		if (!md[i].key || !md[i].value) {
			metadata_free(m, i);
			return -EINVAL;
		}
		m[i].key = grpc_slice_from_copied_string(md[i].key);
		m[i].value = grpc_slice_from_copied_string(md[i].value);
		if (!grpc_header_key_is_legal(m[i].key) || grpc_is_binary_header(m[i].key) ||
		    !grpc_header_nonbin_value_is_legal(m[i].value)) {
			metadata_free(m, i + 1);
			return -EINVAL;
		}
	}
	*ret = m;
	return 0;
}

int rpc_channel_new(const char *target, const RpcOptions *options, RpcChannel **ret)
{
	_cleanup_(grpc_channel_credentials_releasep) grpc_channel_credentials *creds = NULL;
	int r = rpc_channel_credentials_new(options, &creds);
	if (r < 0)
		return r;

	grpc_arg args[RPC_MAX_CHANNEL_ARGS];
	size_t n_args;
	rpc_channel_args_fill(options, true, args, &n_args);
	grpc_channel_args cargs = { .num_args = n_args, .args = args };

	RpcChannel *ch = calloc(1, sizeof(*ch));
	if (!ch)
		return -ENOMEM;
	if (options->wait_for_ready)
		ch->initial_metadata_flags = GRPC_INITIAL_METADATA_WAIT_FOR_READY |
		                             GRPC_INITIAL_METADATA_WAIT_FOR_READY_EXPLICITLY_SET;
	ch->channel = grpc_channel_create(target, creds, &cargs);
	if (!ch->channel) {
		free(ch);
		return -EINVAL;
	}
	*ret = ch;
	return 0;
}

RpcChannel *rpc_channel_free(RpcChannel *ch)
{
	if (!ch)
		return NULL;
	grpc_channel_destroy(ch->channel);
	free(ch);
	return NULL;
}

static int method_path(const ProtobufCServiceDescriptor *service, const char *method,
                       const ProtobufCMethodDescriptor **ret_desc, grpc_slice *ret_path)
{
	const ProtobufCMethodDescriptor *m =
	        protobuf_c_service_descriptor_get_method_by_name(service, method);
	if (!m)
		return -EINVAL;
	_cleanup_free_ char *p = rpc_method_path(service, m);
	if (!p)
		return -ENOMEM;
	*ret_desc = m;
	*ret_path = grpc_slice_from_copied_string(p);
	return 0;
}

static int status_result(grpc_status_code code, grpc_slice details, RpcStatus *ret_status)
{
	rpc_status_set(ret_status, (RpcCode)code, (const char *)GRPC_SLICE_START_PTR(details),
	               GRPC_SLICE_LENGTH(details));
	return rpc_code_to_errno((RpcCode)code);
}

int rpc_call_unary(RpcChannel *ch, const ProtobufCServiceDescriptor *service, const char *method,
                   const ProtobufCMessage *request, uint64_t timeout_usec,
                   ProtobufCMessage **ret_reply, RpcStatus *ret_status)
{
	return rpc_call_unary_with_metadata(ch, service, method, request, NULL, 0, timeout_usec,
	                                    ret_reply, ret_status);
}

int rpc_call_unary_with_metadata(RpcChannel *ch, const ProtobufCServiceDescriptor *service,
                                 const char *method, const ProtobufCMessage *request,
                                 const RpcMetadata *metadata, size_t n_metadata,
                                 uint64_t timeout_usec, ProtobufCMessage **ret_reply,
                                 RpcStatus *ret_status)
{
	const ProtobufCMethodDescriptor *desc;
	grpc_slice path;
	int r = method_path(service, method, &desc, &path);
	if (r < 0)
		return r;
	if (request->descriptor != desc->input) {
		grpc_slice_unref(path);
		return -EINVAL;
	}

	grpc_metadata *md;
	r = metadata_new(metadata, n_metadata, &md);
	if (r < 0) {
		grpc_slice_unref(path);
		return r;
	}
	_cleanup_(grpc_byte_buffer_destroyp) grpc_byte_buffer *send = rpc_message_pack(request);
	if (!send) {
		metadata_free(md, n_metadata);
		grpc_slice_unref(path);
		return -ENOMEM;
	}

	grpc_completion_queue *cq = grpc_completion_queue_create_for_pluck(NULL);
	grpc_call *call = grpc_channel_create_call(ch->channel, NULL, GRPC_PROPAGATE_DEFAULTS, cq,
	                                           path, NULL, rpc_deadline(timeout_usec), NULL);

	grpc_metadata_array initial, trailing;
	grpc_metadata_array_init(&initial);
	grpc_metadata_array_init(&trailing);
	grpc_byte_buffer *recv = NULL;
	grpc_status_code code = GRPC_STATUS_UNKNOWN;
	grpc_slice details = grpc_empty_slice();
	grpc_op ops[6] = {
		{ .op = GRPC_OP_SEND_INITIAL_METADATA,
		  .flags = ch->initial_metadata_flags,
		  .data.send_initial_metadata = { .count = n_metadata, .metadata = md } },
		{ .op = GRPC_OP_SEND_MESSAGE, .data.send_message.send_message = send },
		{ .op = GRPC_OP_SEND_CLOSE_FROM_CLIENT },
		{ .op = GRPC_OP_RECV_INITIAL_METADATA,
		  .data.recv_initial_metadata.recv_initial_metadata = &initial },
		{ .op = GRPC_OP_RECV_MESSAGE, .data.recv_message.recv_message = &recv },
		{ .op = GRPC_OP_RECV_STATUS_ON_CLIENT,
		  .data.recv_status_on_client = { .trailing_metadata = &trailing,
		                                  .status = &code,
		                                  .status_details = &details } },
	};

	if (grpc_call_start_batch(call, ops, ELEMENTSOF(ops), ops, NULL) != GRPC_CALL_OK)
		r = -EPROTO;
	else {
		/* a batch with RECV_STATUS_ON_CLIENT completes once the call ended */
		rpc_cq_pluck(cq, ops);
		rpc_count_error(false, (RpcCode)code);
		r = status_result(code, details, ret_status);
		if (r >= 0) {
			ProtobufCMessage *m = NULL;
			r = recv ? rpc_byte_buffer_decode(desc->output, recv, &m) : -EBADMSG;
			if (r < 0)
				rpc_status_set(ret_status, RPC_INTERNAL, "malformed reply",
				               strlen("malformed reply"));
			else
				*ret_reply = m;
		}
	}

	if (recv)
		grpc_byte_buffer_destroy(recv);
	grpc_slice_unref(details);
	grpc_metadata_array_destroy(&initial);
	grpc_metadata_array_destroy(&trailing);
	grpc_call_unref(call);
	rpc_cq_destroy(cq);
	metadata_free(md, n_metadata);
	grpc_slice_unref(path);
	return r;
}

int rpc_stream_open(RpcChannel *ch, const ProtobufCServiceDescriptor *service, const char *method,
                    RpcStream **ret)
{
	return rpc_stream_open_with_metadata(ch, service, method, NULL, 0, ret);
}

int rpc_stream_open_with_metadata(RpcChannel *ch, const ProtobufCServiceDescriptor *service,
                                  const char *method, const RpcMetadata *metadata,
                                  size_t n_metadata, RpcStream **ret)
{
	const ProtobufCMethodDescriptor *desc;
	grpc_slice path;
	int r = method_path(service, method, &desc, &path);
	if (r < 0)
		return r;

	_cleanup_(rpc_stream_freep) RpcStream *s = calloc(1, sizeof(*s));
	if (!s) {
		grpc_slice_unref(path);
		return -ENOMEM;
	}
	s->path = path;
	s->output = desc->output;
	s->details = grpc_empty_slice();
	grpc_metadata_array_init(&s->initial_metadata);
	grpc_metadata_array_init(&s->trailing_metadata);
	r = metadata_new(metadata, n_metadata, &s->send_metadata);
	if (r < 0)
		return r;
	s->n_send_metadata = n_metadata;
	s->cq = grpc_completion_queue_create_for_pluck(NULL);
	s->call = grpc_channel_create_call(ch->channel, NULL, GRPC_PROPAGATE_DEFAULTS, s->cq,
	                                   s->path, NULL, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);

	grpc_op op = { .op = GRPC_OP_RECV_STATUS_ON_CLIENT,
		       .data.recv_status_on_client = {
		               .trailing_metadata = &s->trailing_metadata,
		               .status = &s->code,
		               .status_details = &s->details,
		       } };
	if (grpc_call_start_batch(s->call, &op, 1, &s->status_tag, NULL) != GRPC_CALL_OK)
		return -EPROTO;
	s->status_started = true;

	/* not waited for here: with wait_for_ready it completes only once
	 * connected; stream_wait_ended() collects it */
	op = (grpc_op){ .op = GRPC_OP_SEND_INITIAL_METADATA,
		        .flags = ch->initial_metadata_flags,
		        .data.send_initial_metadata = { .count = s->n_send_metadata,
		                                        .metadata = s->send_metadata } };
	if (grpc_call_start_batch(s->call, &op, 1, &s->metadata_tag, NULL) != GRPC_CALL_OK)
		return -EPROTO;
	s->metadata_started = true;

	*ret = TAKE_PTR(s);
	return 0;
}

int rpc_stream_send_timeout(RpcStream *s, const ProtobufCMessage *m, uint64_t timeout_usec)
{
	_cleanup_(grpc_byte_buffer_destroyp) grpc_byte_buffer *bb = rpc_message_pack(m);
	if (!bb)
		return -ENOMEM;
	grpc_op op = { .op = GRPC_OP_SEND_MESSAGE, .data.send_message.send_message = bb };
	if (grpc_call_start_batch(s->call, &op, 1, &s->send_tag, NULL) != GRPC_CALL_OK)
		return -EPROTO;
	grpc_event ev =
	        grpc_completion_queue_pluck(s->cq, &s->send_tag, rpc_deadline(timeout_usec), NULL);
	if (ev.type == GRPC_QUEUE_TIMEOUT) {
		/* a send cannot be abandoned: end the call, then it completes */
		grpc_call_cancel(s->call, NULL);
		rpc_cq_pluck(s->cq, &s->send_tag);
		return -ETIMEDOUT;
	}
	if (!ev.success)
		return -ECONNRESET; /* the call has ended; finish says why */
	return 0;
}

int rpc_stream_send(RpcStream *s, const ProtobufCMessage *m)
{
	return rpc_stream_send_timeout(s, m, RPC_USEC_INFINITY);
}

int rpc_stream_close_send(RpcStream *s)
{
	grpc_op op = { .op = GRPC_OP_SEND_CLOSE_FROM_CLIENT };
	if (grpc_call_start_batch(s->call, &op, 1, &s->send_tag, NULL) != GRPC_CALL_OK)
		return -EPROTO;
	if (!rpc_cq_pluck(s->cq, &s->send_tag).success)
		return -ECONNRESET;
	return 0;
}

int rpc_stream_recv(RpcStream *s, uint64_t timeout_usec, ProtobufCMessage **ret)
{
	if (!s->recv_pending) {
		grpc_op ops[2] = {};
		size_t n = 0;
		if (!s->got_initial_metadata) {
			ops[n].op = GRPC_OP_RECV_INITIAL_METADATA;
			ops[n++].data.recv_initial_metadata.recv_initial_metadata =
			        &s->initial_metadata;
		}
		ops[n].op = GRPC_OP_RECV_MESSAGE;
		ops[n++].data.recv_message.recv_message = &s->recv_buffer;
		if (grpc_call_start_batch(s->call, ops, n, &s->recv_tag, NULL) != GRPC_CALL_OK)
			return -EPROTO;
		s->got_initial_metadata = true;
		s->recv_pending = true;
	}

	grpc_event ev =
	        grpc_completion_queue_pluck(s->cq, &s->recv_tag, rpc_deadline(timeout_usec), NULL);
	if (ev.type == GRPC_QUEUE_TIMEOUT)
		return -ETIMEDOUT; /* still pending: the next call waits for it */
	s->recv_pending = false;
	if (!ev.success)
		return -ECONNRESET;
	if (!s->recv_buffer)
		return 0;

	int r = rpc_byte_buffer_decode(s->output, s->recv_buffer, ret);
	grpc_byte_buffer_destroy(s->recv_buffer);
	s->recv_buffer = NULL;
	return r < 0 ? r : 1;
}

void rpc_stream_cancel(RpcStream *s)
{
	if (s && s->call)
		grpc_call_cancel(s->call, NULL);
}

static void stream_wait_ended(RpcStream *s)
{
	if (s->recv_pending) {
		/* completes (without a message, or with one we drop) when the
		 * call ends */
		rpc_cq_pluck(s->cq, &s->recv_tag);
		s->recv_pending = false;
		if (s->recv_buffer) {
			grpc_byte_buffer_destroy(s->recv_buffer);
			s->recv_buffer = NULL;
		}
	}
	if (s->status_started && !s->status_received) {
		rpc_cq_pluck(s->cq, &s->status_tag);
		s->status_received = true;
	}
	if (s->metadata_started) {
		rpc_cq_pluck(s->cq, &s->metadata_tag);
		s->metadata_started = false;
	}
}

int rpc_stream_finish(RpcStream *s, RpcStatus *ret_status)
{
	if (!s->status_started)
		return -EPROTO;
	if (!s->got_initial_metadata && !s->recv_pending) {
		/* the core delivers the status only after the initial metadata
		 * (or a trailers-only answer) was received: ask for it */
		grpc_op op = { .op = GRPC_OP_RECV_INITIAL_METADATA,
			       .data.recv_initial_metadata.recv_initial_metadata =
			               &s->initial_metadata };
		if (grpc_call_start_batch(s->call, &op, 1, &s->recv_tag, NULL) == GRPC_CALL_OK) {
			s->got_initial_metadata = true;
			rpc_cq_pluck(s->cq, &s->recv_tag);
		}
	}
	if (s->recv_pending) {
		/* an unread message would keep the status from arriving: the
		 * caller gave up on the server's messages, so end the call */
		grpc_event ev = grpc_completion_queue_pluck(s->cq, &s->recv_tag,
		                                            gpr_time_0(GPR_CLOCK_REALTIME), NULL);
		if (ev.type == GRPC_QUEUE_TIMEOUT)
			grpc_call_cancel(s->call, NULL);
		else {
			s->recv_pending = false;
			if (s->recv_buffer) {
				grpc_byte_buffer_destroy(s->recv_buffer);
				s->recv_buffer = NULL;
			}
		}
	}
	stream_wait_ended(s);
	if (!s->status_counted)
		rpc_count_error(false, (RpcCode)s->code);
	s->status_counted = true;
	return status_result(s->code, s->details, ret_status);
}

RpcStream *rpc_stream_free(RpcStream *s)
{
	if (!s)
		return NULL;
	if (s->call) {
		if (!s->status_received)
			grpc_call_cancel(s->call, NULL);
		stream_wait_ended(s);
		grpc_call_unref(s->call);
	}
	rpc_cq_destroy(s->cq);
	grpc_slice_unref(s->details);
	grpc_metadata_array_destroy(&s->initial_metadata);
	grpc_metadata_array_destroy(&s->trailing_metadata);
	metadata_free(s->send_metadata, s->n_send_metadata);
	grpc_slice_unref(s->path);
	free(s);
	return NULL;
}
