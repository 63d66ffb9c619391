/* rpc.h — podmig's gRPC layer, on the gRPC C core and protobuf-c: a server
 * that serves the methods of protobuf-c service descriptors, a client for the
 * four call kinds (unary, client-, server- and bidirectional streaming), TLS
 * and mutual TLS, message-size limits. This room is the only one that calls
 * grpc_*; callers see protobuf-c messages, negative errnos and RpcStatus.
 *
 * Threading: the server runs each call's handler on a thread of a bounded
 * pool (a call that finds every worker busy is refused RESOURCE_EXHAUSTED at
 * once); receives and sends of a handler time out. A client
 * RpcStream may have one thread sending and one receiving at the same time;
 * rpc_stream_cancel() may be called from any thread. */
#pragma once

#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "macro.h"

#define RPC_USEC_PER_MSEC UINT64_C(1000)
#define RPC_USEC_PER_SEC  UINT64_C(1000000)
#define RPC_USEC_INFINITY UINT64_MAX

/* gRPC status codes; the numbers are gRPC's and cross the wire. */
typedef enum RpcCode {
	RPC_OK = 0,
	RPC_CANCELLED = 1,
	RPC_UNKNOWN = 2,
	RPC_INVALID_ARGUMENT = 3,
	RPC_DEADLINE_EXCEEDED = 4,
	RPC_NOT_FOUND = 5,
	RPC_ALREADY_EXISTS = 6,
	RPC_PERMISSION_DENIED = 7,
	RPC_RESOURCE_EXHAUSTED = 8,
	RPC_FAILED_PRECONDITION = 9,
	RPC_ABORTED = 10,
	RPC_OUT_OF_RANGE = 11,
	RPC_UNIMPLEMENTED = 12,
	RPC_INTERNAL = 13,
	RPC_UNAVAILABLE = 14,
	RPC_DATA_LOSS = 15,
	RPC_UNAUTHENTICATED = 16,
	_RPC_CODE_MAX,
} RpcCode;

/* The final status of a call: code and the peer's message. */
typedef struct RpcStatus {
	RpcCode code;
	char message[256];
} RpcStatus;

/* Transport settings shared by servers and channels. Plaintext must be asked
 * for; otherwise TLS is used:
 *   server: cert_file + key_file are its certificate; with ca_file, clients
 *           must present a certificate signed by that CA (mutual TLS).
 *   client: ca_file verifies the server (NULL: system roots); cert_file +
 *           key_file are presented to servers that ask (mutual TLS). */
typedef struct RpcOptions {
	bool plaintext;
	const char *ca_file;
	const char *cert_file;
	const char *key_file;
	/* client: name expected in the server's certificate, if it is not the
	 * host part of the target */
	const char *tls_server_name;
	size_t max_receive_message_bytes;    /* 0: gRPC's default, 4 MiB */
	size_t max_send_message_bytes;       /* 0: unlimited */
	unsigned max_reconnect_backoff_msec; /* client; 0: gRPC's default, 120 s */
	/* client: while disconnected, calls wait (within their deadline) for the
	 * channel to connect instead of failing at once with UNAVAILABLE */
	bool wait_for_ready;
	/* client: a connection of its own, never shared with other channels to
	 * the same target (a probe that must see a listener accept) */
	bool private_connection;
	/* server bounds; 0 takes the RPC_DEFAULT_* value */
	unsigned max_calls;                  /* handlers running at once (worker threads) */
	unsigned max_streams_per_connection; /* HTTP/2 concurrent streams */
	unsigned max_connection_idle_msec;   /* a connection without calls is closed */
	unsigned max_connection_age_msec;    /* then GOAWAY: no new calls on it */
	unsigned handshake_timeout_msec;     /* a connection must finish TLS/HTTP/2 setup */
	uint64_t first_message_timeout_usec; /* a call's first message must come so soon */
	uint64_t call_io_timeout_usec;       /* any later receive or send waits so long */
	/* server with ca_file: a client that presents no certificate still
	 * connects (one it presents must verify against the CA), and its calls
	 * have no peer identity (rpc_server_call_peer_identity()); the handlers
	 * must then refuse them, which lets the caller read why */
	bool client_certificate_optional;
} RpcOptions;

#define RPC_DEFAULT_MAX_CALLS 64
/* The status message of a call refused because every worker was busy
 * (RESOURCE_EXHAUSTED) begins so: its handler never ran, a retry is safe. */
#define RPC_BUSY_MESSAGE_PREFIX        "server busy"
#define RPC_DEFAULT_MAX_STREAMS        16
#define RPC_DEFAULT_IDLE_MSEC          (60 * 1000)
#define RPC_DEFAULT_AGE_MSEC           (30 * 60 * 1000)
#define RPC_DEFAULT_HANDSHAKE_MSEC     (10 * 1000)
#define RPC_DEFAULT_FIRST_MESSAGE_USEC (10 * RPC_USEC_PER_SEC)
#define RPC_DEFAULT_CALL_IO_USEC       (60 * RPC_USEC_PER_SEC)

/* Reference-counted around grpc_init()/grpc_shutdown_blocking(). Call before
 * anything else here; grpc starts threads, so do not fork() afterwards. */
void rpc_global_init(void);
void rpc_global_shutdown(void);

const char *rpc_code_to_string(RpcCode code);
/* Negative errno that best describes a non-OK code (0 for RPC_OK). */
int rpc_code_to_errno(RpcCode code);
/* The code a handler's negative errno is reported as. */
RpcCode rpc_code_from_errno(int error);

/* Calls of this process that ended with a status other than OK, by code
 * (index 0, OK, stays 0): as a client (etcd's calls included; a stream when
 * its status is read) and as a server (the status sent). For metrics. */
void rpc_error_counts(uint64_t client[_RPC_CODE_MAX], uint64_t server[_RPC_CODE_MAX]);

/* Decode outside bytes as a message of type `desc`. -EBADMSG if malformed. */
int rpc_message_decode(const ProtobufCMessageDescriptor *desc, const uint8_t *data, size_t size,
                       ProtobufCMessage **ret);

static inline void rpc_message_free(ProtobufCMessage *m)
{
	if (m)
		protobuf_c_message_free_unpacked(m, NULL);
}
/* For any pointer to an unpacked protobuf-c message. */
static inline void rpc_message_freep(void *p)
{
	rpc_message_free(*(ProtobufCMessage **)p);
}
#define _cleanup_message_ _cleanup_(rpc_message_freep)

/* ---- server ---- */

typedef struct RpcServer RpcServer;
typedef struct RpcServerCall RpcServerCall;

/* Serves one call, on its own thread. Return >= 0 for status OK (with the
 * message given to rpc_server_call_reply(), if any), or a negative errno:
 * the status is then the one set by rpc_server_call_error(), else derived
 * from the errno. */
typedef int (*RpcHandler)(RpcServerCall *call, void *userdata);

/* Binds `address` ("127.0.0.1:0" picks a free port). */
int rpc_server_new(const char *address, const RpcOptions *options, RpcServer **ret);
/* handlers[i] (i < n_handlers) serves service->methods[i]; NULL entries and
 * the methods past n_handlers answer UNIMPLEMENTED (so a service that grows
 * never reads past a caller's array). -EINVAL if n_handlers exceeds the
 * service's methods. Only before rpc_server_start(). */
int rpc_server_add_service(RpcServer *s, const ProtobufCServiceDescriptor *service,
                           const RpcHandler *handlers, size_t n_handlers, void *userdata);
/* Starts serving on a background thread. */
int rpc_server_start(RpcServer *s);
int rpc_server_get_port(const RpcServer *s);
/* Stops accepting, cancels calls in flight, waits for their handlers. */
RpcServer *rpc_server_free(RpcServer *s);
DEFINE_TRIVIAL_CLEANUP_FUNC(RpcServer *, rpc_server_free);

/* "/package.Service/Method" */
const char *rpc_server_call_method(const RpcServerCall *c);
/* A copy of the value of request metadata `key` (the first, if repeated);
 * -ENOENT if the client sent none. */
int rpc_server_call_get_metadata(const RpcServerCall *c, const char *key, char **ret);
/* Who is calling, from the client certificate the TLS handshake verified
 * against the server's CA: its subject's common name and organizational
 * unit (NULL if the subject has none, or more than one). */
typedef struct RpcPeerIdentity {
	char *common_name;
	char *organizational_unit;
} RpcPeerIdentity;
void rpc_peer_identity_done(RpcPeerIdentity *p);
/* -ENOENT when the caller presented no verified certificate (plaintext, or
 * a server whose client certificate is optional); ret untouched then. */
int rpc_server_call_peer_identity(const RpcServerCall *c, RpcPeerIdentity *ret);
/* 1 and a message, 0 when the client has finished sending, negative errno on
 * failure (a malformed message: -EBADMSG, a compressed one: -EPROTONOSUPPORT;
 * the call's status becomes INVALID_ARGUMENT). Nothing within the server's
 * first_message_timeout_usec (the call's first message) or
 * call_io_timeout_usec (any later one): -ETIMEDOUT, and the call ends
 * DEADLINE_EXCEEDED. */
int rpc_server_call_recv(RpcServerCall *c, ProtobufCMessage **ret);
/* The same with its own timeout (RPC_USEC_INFINITY: none). */
int rpc_server_call_recv_timeout(RpcServerCall *c, uint64_t timeout_usec, ProtobufCMessage **ret);
/* Sends one message now (streaming replies); a client that takes none for
 * call_io_timeout_usec ends the call (-ETIMEDOUT). */
int rpc_server_call_send(RpcServerCall *c, const ProtobufCMessage *m);
/* Keeps `m` (packed now) to be sent together with the OK status. */
int rpc_server_call_reply(RpcServerCall *c, const ProtobufCMessage *m);
/* Sets the status the call ends with; returns rpc_code_to_errno(code) so a
 * handler can `return rpc_server_call_error(c, RPC_NOT_FOUND, "no %s", x);` */
int rpc_server_call_error(RpcServerCall *c, RpcCode code, const char *fmt, ...) _printf_(3, 4);

/* ---- client ---- */

typedef struct RpcChannel RpcChannel;
typedef struct RpcStream RpcStream;

/* Custom metadata sent with a call's request headers (e.g. an auth token).
 * Keys are lower-case letters, digits and "-_."; values printable ASCII (no
 * "-bin" keys); anything else is refused with -EINVAL. */
typedef struct RpcMetadata {
	const char *key;
	const char *value;
} RpcMetadata;

/* `target` is host:port. Connects lazily, reconnects by itself. */
int rpc_channel_new(const char *target, const RpcOptions *options, RpcChannel **ret);
RpcChannel *rpc_channel_free(RpcChannel *ch);
DEFINE_TRIVIAL_CLEANUP_FUNC(RpcChannel *, rpc_channel_free);

/* Unary call of service's `method` with a deadline (RPC_USEC_INFINITY: none).
 * Returns 0 and the reply, or the negative errno of the status; *ret_status
 * (optional) gets the status either way. */
int rpc_call_unary(RpcChannel *ch, const ProtobufCServiceDescriptor *service, const char *method,
                   const ProtobufCMessage *request, uint64_t timeout_usec,
                   ProtobufCMessage **ret_reply, RpcStatus *ret_status);
/* The same, with n_metadata entries of per-call metadata. */
int rpc_call_unary_with_metadata(RpcChannel *ch, const ProtobufCServiceDescriptor *service,
                                 const char *method, const ProtobufCMessage *request,
                                 const RpcMetadata *metadata, size_t n_metadata,
                                 uint64_t timeout_usec, ProtobufCMessage **ret_reply,
                                 RpcStatus *ret_status);

/* A streaming call of any kind, without deadline (use receive timeouts and
 * rpc_stream_cancel()). Client streaming: send..., close_send, recv, finish.
 * Server streaming: send, close_send, recv... until 0, finish. */
int rpc_stream_open(RpcChannel *ch, const ProtobufCServiceDescriptor *service, const char *method,
                    RpcStream **ret);
/* The same, with per-call metadata (copied: need not outlive the call). */
int rpc_stream_open_with_metadata(RpcChannel *ch, const ProtobufCServiceDescriptor *service,
                                  const char *method, const RpcMetadata *metadata,
                                  size_t n_metadata, RpcStream **ret);
int rpc_stream_send(RpcStream *s, const ProtobufCMessage *m);
/* The same, but a message that cannot be handed to the connection within
 * timeout_usec (e.g. wait_for_ready while disconnected, or flow control)
 * cancels the call and fails with -ETIMEDOUT. */
int rpc_stream_send_timeout(RpcStream *s, const ProtobufCMessage *m, uint64_t timeout_usec);
/* Half-close: tell the server no more messages follow. */
int rpc_stream_close_send(RpcStream *s);
/* 1 and a message; 0 at the end of the server's messages (the status follows,
 * see rpc_stream_finish()); -ETIMEDOUT when nothing arrived within timeout_usec
 * (the stream stays usable, call again); other negative errno: the call
 * failed, rpc_stream_finish() says why. */
int rpc_stream_recv(RpcStream *s, uint64_t timeout_usec, ProtobufCMessage **ret);
/* Ends the call from our side (status CANCELLED); safe from any thread. */
void rpc_stream_cancel(RpcStream *s);
/* Waits for the call's status; returns 0 or its negative errno. */
int rpc_stream_finish(RpcStream *s, RpcStatus *ret_status);
/* Cancels the call if it has not ended, waits for it, frees. */
RpcStream *rpc_stream_free(RpcStream *s);
DEFINE_TRIVIAL_CLEANUP_FUNC(RpcStream *, rpc_stream_free);
