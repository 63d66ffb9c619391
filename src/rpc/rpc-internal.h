/* rpc-internal.h — helpers shared by the server and client halves of src/rpc:
 * message packing into gRPC byte buffers, deadlines, completion queues,
 * credentials and channel arguments built from RpcOptions. */
#pragma once

#include <grpc/byte_buffer.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/time.h>

#include "rpc.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(grpc_byte_buffer *, grpc_byte_buffer_destroy);
DEFINE_TRIVIAL_CLEANUP_FUNC(grpc_call *, grpc_call_unref);
DEFINE_TRIVIAL_CLEANUP_FUNC(grpc_server_credentials *, grpc_server_credentials_release);
DEFINE_TRIVIAL_CLEANUP_FUNC(grpc_channel_credentials *, grpc_channel_credentials_release);

/* "/package.Service/Method", malloc'd; NULL if out of memory. */
char *rpc_method_path(const ProtobufCServiceDescriptor *service,
                      const ProtobufCMethodDescriptor *method);

grpc_byte_buffer *rpc_message_pack(const ProtobufCMessage *m);
/* Decodes a received byte buffer; -EBADMSG if malformed, -EPROTONOSUPPORT if
 * compressed (inflating outside bytes would be unbounded: compression is
 * refused). */
int rpc_byte_buffer_decode(const ProtobufCMessageDescriptor *desc, grpc_byte_buffer *bb,
                           ProtobufCMessage **ret);

gpr_timespec rpc_deadline(uint64_t timeout_usec);

/* Blocks until the batch tagged `tag` on a pluck queue completes. */
grpc_event rpc_cq_pluck(grpc_completion_queue *cq, void *tag);
/* Shuts down, drains and destroys a queue whose batches have all completed. */
void rpc_cq_destroy(grpc_completion_queue *cq);
/* Counts a call that ended with `code` (OK is not counted): rpc_error_counts(). */
void rpc_count_error(bool server, RpcCode code);

/* Channel/server arguments from options. `args` must have room for
 * RPC_MAX_CHANNEL_ARGS. */
#define RPC_MAX_CHANNEL_ARGS 16
void rpc_channel_args_fill(const RpcOptions *o, bool client, grpc_arg *args, size_t *n);

int rpc_server_credentials_new(const RpcOptions *o, grpc_server_credentials **ret);
int rpc_channel_credentials_new(const RpcOptions *o, grpc_channel_credentials **ret);

void rpc_status_set(RpcStatus *st, RpcCode code, const char *msg, size_t len);
