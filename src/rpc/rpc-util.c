/* rpc-util.c — status codes, message packing and credentials shared by the
 * server and client halves of src/rpc. */
#include <errno.h>
#include <fcntl.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/slice.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "log.h"
#include "rpc-internal.h"
#include "string-table.h"

static pthread_mutex_t global_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned global_users;

void rpc_global_init(void)
{
	pthread_mutex_lock(&global_lock);
	if (global_users++ == 0)
		grpc_init();
	pthread_mutex_unlock(&global_lock);
}

void rpc_global_shutdown(void)
{
	pthread_mutex_lock(&global_lock);
	if (global_users > 0 && --global_users == 0)
		/* blocking: gRPC's threads and allocations are gone when this
		 * returns, which is what leak checkers want to see */
		grpc_shutdown_blocking();
	pthread_mutex_unlock(&global_lock);
}

static const char *const rpc_code_table[_RPC_CODE_MAX] = {
	[RPC_OK] = "OK",
	[RPC_CANCELLED] = "CANCELLED",
	[RPC_UNKNOWN] = "UNKNOWN",
	[RPC_INVALID_ARGUMENT] = "INVALID_ARGUMENT",
	[RPC_DEADLINE_EXCEEDED] = "DEADLINE_EXCEEDED",
	[RPC_NOT_FOUND] = "NOT_FOUND",
	[RPC_ALREADY_EXISTS] = "ALREADY_EXISTS",
	[RPC_PERMISSION_DENIED] = "PERMISSION_DENIED",
	[RPC_RESOURCE_EXHAUSTED] = "RESOURCE_EXHAUSTED",
	[RPC_FAILED_PRECONDITION] = "FAILED_PRECONDITION",
	[RPC_ABORTED] = "ABORTED",
	[RPC_OUT_OF_RANGE] = "OUT_OF_RANGE",
	[RPC_UNIMPLEMENTED] = "UNIMPLEMENTED",
	[RPC_INTERNAL] = "INTERNAL",
	[RPC_UNAVAILABLE] = "UNAVAILABLE",
	[RPC_DATA_LOSS] = "DATA_LOSS",
	[RPC_UNAUTHENTICATED] = "UNAUTHENTICATED",
};

static _Atomic uint64_t client_errors[_RPC_CODE_MAX], server_errors[_RPC_CODE_MAX];

void rpc_count_error(bool server, RpcCode code)
{
	if (code <= RPC_OK || code >= _RPC_CODE_MAX)
		return;
	atomic_fetch_add_explicit(server ? &server_errors[code] : &client_errors[code], 1,
	                          memory_order_relaxed);
}

void rpc_error_counts(uint64_t client[_RPC_CODE_MAX], uint64_t server[_RPC_CODE_MAX])
{
	for (size_t i = 0; i < _RPC_CODE_MAX; i++) {
		client[i] = atomic_load_explicit(&client_errors[i], memory_order_relaxed);
		server[i] = atomic_load_explicit(&server_errors[i], memory_order_relaxed);
	}
}

const char *rpc_code_to_string(RpcCode code)
{
	const char *s = string_table_lookup_to_string(rpc_code_table, ELEMENTSOF(rpc_code_table),
	                                              (size_t)code);
	return s ?: "UNKNOWN";
}

/* Both directions of this table must agree for the codes handlers return. */
static const int code_errnos[_RPC_CODE_MAX] = {
	[RPC_OK] = 0,
	[RPC_CANCELLED] = ECANCELED,
	[RPC_UNKNOWN] = EIO,
	[RPC_INVALID_ARGUMENT] = EINVAL,
	[RPC_DEADLINE_EXCEEDED] = ETIMEDOUT,
	[RPC_NOT_FOUND] = ENOENT,
	[RPC_ALREADY_EXISTS] = EEXIST,
	[RPC_PERMISSION_DENIED] = EPERM,
	[RPC_RESOURCE_EXHAUSTED] = ENOBUFS,
	[RPC_FAILED_PRECONDITION] = EBUSY,
	[RPC_ABORTED] = ECONNABORTED,
	[RPC_OUT_OF_RANGE] = ERANGE,
	[RPC_UNIMPLEMENTED] = EOPNOTSUPP,
	[RPC_INTERNAL] = EPROTO,
	[RPC_UNAVAILABLE] = ENOTCONN,
	[RPC_DATA_LOSS] = EBADMSG,
	[RPC_UNAUTHENTICATED] = EACCES,
};

int rpc_code_to_errno(RpcCode code)
{
	if ((unsigned)code >= _RPC_CODE_MAX)
		return -EIO;
	return -code_errnos[code];
}

RpcCode rpc_code_from_errno(int error)
{
	error = abs(error);
	if (error == 0)
		return RPC_OK;
	/* a malformed message from the peer is its mistake, not data loss */
	if (error == EBADMSG)
		return RPC_INVALID_ARGUMENT;
	if (error == ENOMEM || error == EMSGSIZE)
		return RPC_RESOURCE_EXHAUSTED;
	if (error == EAGAIN || error == ECONNREFUSED || error == EHOSTUNREACH)
		return RPC_UNAVAILABLE;
	for (unsigned i = 1; i < _RPC_CODE_MAX; i++)
		if (code_errnos[i] == error)
			return i;
	return RPC_INTERNAL;
}

void rpc_status_set(RpcStatus *st, RpcCode code, const char *msg, size_t len)
{
	if (!st)
		return;
	st->code = code;
	len = MIN(len, sizeof(st->message) - 1);
	memcpy(st->message, msg, len);
	st->message[len] = 0;
}

char *rpc_method_path(const ProtobufCServiceDescriptor *service,
                      const ProtobufCMethodDescriptor *method)
{
	char *p;
	if (asprintf(&p, "/%s/%s", service->name, method->name) < 0)
		return NULL;
	return p;
}

int rpc_message_decode(const ProtobufCMessageDescriptor *desc, const uint8_t *data, size_t size,
                       ProtobufCMessage **ret)
{
	ProtobufCMessage *m = protobuf_c_message_unpack(desc, NULL, size, data);
	if (!m)
		return -EBADMSG;
	*ret = m;
	return 0;
}

grpc_byte_buffer *rpc_message_pack(const ProtobufCMessage *m)
{
	size_t n = protobuf_c_message_get_packed_size(m);
	grpc_slice s;

	if (n <= 256) {
		/* small messages are copied into an inlined slice: no malloc */
		uint8_t tmp[256];
		protobuf_c_message_pack(m, tmp);
		s = grpc_slice_from_copied_buffer((const char *)tmp, n);
	} else {
		/* big ones are handed to gRPC without a copy */
		uint8_t *buf = malloc(n);
		if (!buf)
			return NULL;
		protobuf_c_message_pack(m, buf);
		s = grpc_slice_new(buf, n, free);
	}
	grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&s, 1);
	grpc_slice_unref(s);
	return bb;
}

int rpc_byte_buffer_decode(const ProtobufCMessageDescriptor *desc, grpc_byte_buffer *bb,
                           ProtobufCMessage **ret)
{
	/* Decompression is off (rpc_channel_args_fill()): a compressed message
	 * arrives as sent, and inflating it here would be unbounded. */
	if (bb->type != GRPC_BB_RAW || bb->data.raw.compression != GRPC_COMPRESS_NONE)
		return -EPROTONOSUPPORT;
	/* the common case, one slice, is decoded in place */
	if (bb->data.raw.slice_buffer.count == 1) {
		grpc_slice s = bb->data.raw.slice_buffer.slices[0];
		return rpc_message_decode(desc, GRPC_SLICE_START_PTR(s), GRPC_SLICE_LENGTH(s), ret);
	}

	grpc_byte_buffer_reader r;
	if (!grpc_byte_buffer_reader_init(&r, bb))
		return -EBADMSG;
	grpc_slice s = grpc_byte_buffer_reader_readall(&r);
	grpc_byte_buffer_reader_destroy(&r);
	int k = rpc_message_decode(desc, GRPC_SLICE_START_PTR(s), GRPC_SLICE_LENGTH(s), ret);
	grpc_slice_unref(s);
	return k;
}

gpr_timespec rpc_deadline(uint64_t timeout_usec)
{
	if (timeout_usec == RPC_USEC_INFINITY || timeout_usec > (uint64_t)INT64_MAX / 1000)
		return gpr_inf_future(GPR_CLOCK_MONOTONIC);
	return gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
	                    gpr_time_from_micros((int64_t)timeout_usec, GPR_TIMESPAN));
}

grpc_event rpc_cq_pluck(grpc_completion_queue *cq, void *tag)
{
	return grpc_completion_queue_pluck(cq, tag, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
}

void rpc_cq_destroy(grpc_completion_queue *cq)
{
	if (!cq)
		return;
	grpc_completion_queue_shutdown(cq);
	while (rpc_cq_pluck(cq, NULL).type != GRPC_QUEUE_SHUTDOWN)
		;
	grpc_completion_queue_destroy(cq);
}

static int int_arg(size_t v)
{
	return v > INT_MAX ? INT_MAX : (int)v;
}

void rpc_channel_args_fill(const RpcOptions *o, bool client, grpc_arg *args, size_t *n)
{
	size_t k = 0;

	args[k++] = (grpc_arg){
		.type = GRPC_ARG_INTEGER,
		.key = (char *)GRPC_ARG_MAX_SEND_MESSAGE_LENGTH,
		.value.integer =
		        o->max_send_message_bytes > 0 ? int_arg(o->max_send_message_bytes) : -1,
	};
	if (o->max_receive_message_bytes > 0)
		args[k++] = (grpc_arg){
			.type = GRPC_ARG_INTEGER,
			.key = (char *)GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH,
			.value.integer = int_arg(o->max_receive_message_bytes),
		};
	if (client && o->max_reconnect_backoff_msec > 0) {
		int ms = int_arg(o->max_reconnect_backoff_msec);
		args[k++] = (grpc_arg){
			.type = GRPC_ARG_INTEGER,
			.key = (char *)GRPC_ARG_MAX_RECONNECT_BACKOFF_MS,
			.value.integer = ms,
		};
		args[k++] = (grpc_arg){
			.type = GRPC_ARG_INTEGER,
			.key = (char *)GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS,
			.value.integer = MIN(ms, 100),
		};
		/* after a failed connection the channel re-resolves its target
		 * (even an IP address), by default at most every 30 s, and
		 * does not reconnect before: keep that within the backoff */
		args[k++] = (grpc_arg){
			.type = GRPC_ARG_INTEGER,
			.key = (char *)GRPC_ARG_DNS_MIN_TIME_BETWEEN_RESOLUTIONS_MS,
			.value.integer = ms,
		};
	}
	/* Compression refused both ways: only identity is enabled, and nothing
	 * received is inflated before its size is checked (a small compressed
	 * message could expand to gigabytes). */
	args[k++] = (grpc_arg){
		.type = GRPC_ARG_INTEGER,
		.key = (char *)GRPC_COMPRESSION_CHANNEL_ENABLED_ALGORITHMS_BITSET,
		.value.integer = 1 << GRPC_COMPRESS_NONE,
	};
	args[k++] = (grpc_arg){
		.type = GRPC_ARG_INTEGER,
		.key = (char *)GRPC_ARG_ENABLE_PER_MESSAGE_DECOMPRESSION,
		.value.integer = 0,
	};
	if (!client) {
		const struct {
			const char *key;
			unsigned value, fallback;
		} bounds[] = {
			{ GRPC_ARG_MAX_CONCURRENT_STREAMS, o->max_streams_per_connection,
			  RPC_DEFAULT_MAX_STREAMS },
			{ GRPC_ARG_MAX_CONNECTION_IDLE_MS, o->max_connection_idle_msec,
			  RPC_DEFAULT_IDLE_MSEC },
			{ GRPC_ARG_MAX_CONNECTION_AGE_MS, o->max_connection_age_msec,
			  RPC_DEFAULT_AGE_MSEC },
			{ GRPC_ARG_SERVER_HANDSHAKE_TIMEOUT_MS, o->handshake_timeout_msec,
			  RPC_DEFAULT_HANDSHAKE_MSEC },
		};
		for (size_t i = 0; i < ELEMENTSOF(bounds); i++)
			args[k++] = (grpc_arg){
				.type = GRPC_ARG_INTEGER,
				.key = (char *)bounds[i].key,
				.value.integer = int_arg(bounds[i].value ?: bounds[i].fallback),
			};
	}
	if (client && o->private_connection)
		args[k++] = (grpc_arg){
			.type = GRPC_ARG_INTEGER,
			.key = (char *)GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL,
			.value.integer = 1,
		};
	if (client && !o->plaintext && o->tls_server_name)
		args[k++] = (grpc_arg){
			.type = GRPC_ARG_STRING,
			.key = (char *)GRPC_SSL_TARGET_NAME_OVERRIDE_ARG,
			.value.string = (char *)o->tls_server_name,
		};
	*n = k;
}

/* Whole file as a NUL-terminated string (PEM files are small). */
static int read_pem(const char *path, char **ret)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return log_debug_errno(negative_errno(), "rpc: cannot open %s", path);
	struct stat st;
	if (fstat(fd, &st) < 0)
		return negative_errno();
	if (!S_ISREG(st.st_mode) || st.st_size > 1024 * 1024)
		return -EFBIG;
	_cleanup_free_ char *buf = malloc((size_t)st.st_size + 1);
	if (!buf)
		return -ENOMEM;
	size_t have = 0;
	while (have < (size_t)st.st_size) {
		ssize_t k = read(fd, buf + have, (size_t)st.st_size - have);
		if (k < 0)
			return negative_errno();
		if (k == 0)
			break;
		have += (size_t)k;
	}
	buf[have] = 0;
	*ret = TAKE_PTR(buf);
	return 0;
}

int rpc_server_credentials_new(const RpcOptions *o, grpc_server_credentials **ret)
{
	if (o->plaintext) {
		*ret = grpc_insecure_server_credentials_create();
		return 0;
	}
	if (!o->cert_file || !o->key_file)
		return -EINVAL; /* TLS without a certificate: refuse, never fall back */

	_cleanup_free_ char *cert = NULL, *key = NULL, *ca = NULL;
	int r = read_pem(o->cert_file, &cert);
	if (r < 0)
		return r;
	r = read_pem(o->key_file, &key);
	if (r < 0)
		return r;
	if (o->ca_file) {
		r = read_pem(o->ca_file, &ca);
		if (r < 0)
			return r;
	}
	grpc_ssl_pem_key_cert_pair pair = { .private_key = key, .cert_chain = cert };
	grpc_server_credentials *c = grpc_ssl_server_credentials_create_ex(
	        ca, &pair, 1,
	        !ca ? GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE
	        : o->client_certificate_optional
	                ? GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_AND_VERIFY
	                : GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY,
	        NULL);
	if (!c)
		return -EINVAL;
	*ret = c;
	return 0;
}

int rpc_channel_credentials_new(const RpcOptions *o, grpc_channel_credentials **ret)
{
	if (o->plaintext) {
		*ret = grpc_insecure_credentials_create();
		return 0;
	}
	if (!!o->cert_file != !!o->key_file)
		return -EINVAL;

	_cleanup_free_ char *cert = NULL, *key = NULL, *ca = NULL;
	int r;
	if (o->ca_file) {
		r = read_pem(o->ca_file, &ca);
		if (r < 0)
			return r;
	}
	if (o->cert_file) {
		r = read_pem(o->cert_file, &cert);
		if (r < 0)
			return r;
		r = read_pem(o->key_file, &key);
		if (r < 0)
			return r;
	}
	grpc_ssl_pem_key_cert_pair pair = { .private_key = key, .cert_chain = cert };
	grpc_channel_credentials *c =
	        grpc_ssl_credentials_create(ca, cert ? &pair : NULL, NULL, NULL);
	if (!c)
		return -EINVAL;
	*ret = c;
	return 0;
}
