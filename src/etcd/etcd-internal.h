/* etcd-internal.h — decoding of etcd's responses into podmig's types, shared
 * by the client and the fuzz targets (responses are outside bytes: every
 * optional sub-message may be missing). */
#pragma once

#include <pthread.h>
#include <string.h>

#include "etcd.h"
#include "etcdserver.pb-c.h"
#include "time-util.h"

/* Prefix → range_end: the prefix with its last byte incremented, dropping
 * trailing 0xff bytes ("\0" if the prefix is all 0xff: no upper bound).
 * `out` must have strlen(prefix) + 1 bytes; returns the length. */
size_t etcd_prefix_range_end(const char *prefix, uint8_t *out);

int etcd_key_value_from_pb(const Etcdserverpb__KeyValue *pb, EtcdKeyValue *ret);
int etcd_range_response_parse(const Etcdserverpb__RangeResponse *r, EtcdKeyValue **ret_kvs,
                              size_t *ret_n, int64_t *ret_revision);
/* Events of a watch response with mod_revision > after_revision, in order.
 * Returns their number; *ret_last_revision gets the highest one. */
int etcd_watch_response_events(const Etcdserverpb__WatchResponse *r, int64_t after_revision,
                               EtcdEvent **ret_events, int64_t *ret_last_revision);
int64_t etcd_header_revision(const Etcdserverpb__ResponseHeader *h);
/* The token of an Authenticate response: non-empty, fit for a header. */
int etcd_auth_token_from_pb(const Etcdserverpb__AuthenticateResponse *r, char **ret);

struct EtcdClient {
	size_t n_endpoints;
	char **endpoints; /* host:port */
	RpcChannel **channels;
	uint64_t timeout_usec;
	char *username, *password; /* NULL without authentication */

	pthread_mutex_t lock;
	size_t current; /* index of the endpoint in use */
	char *token;    /* etcd's, after Authenticate */
	unsigned n_authentications;
};

void etcd_strv_free(char **v, size_t n);
void etcd_set_last_error(const RpcStatus *st);

/* The endpoint in use: its index, and its channel. */
size_t etcd_client_pick(EtcdClient *c, RpcChannel **ret_channel);
/* After a failure on endpoint `index`: use the next one (unless another
 * thread already moved on). */
void etcd_client_failover(EtcdClient *c, size_t index);
/* The metadata of a call: hasleader, and the token if with_token and there
 * is one (*ret_token: the copy md points to, to free). Returns the count. */
size_t etcd_client_metadata(EtcdClient *c, bool with_token, RpcMetadata md[2], char **ret_token);
/* Gets a new token, unless the token in use is no longer `stale_token`
 * (another thread got one); NULL: unconditionally. */
int etcd_client_authenticate(EtcdClient *c, const char *stale_token);
bool etcd_status_invalid_token(const RpcStatus *st);

/* Unary call to etcd within the client's deadline: tries the endpoints in
 * turn while members are unreachable or without leader (a write only when it
 * certainly was not applied), and authenticates again on an invalid token.
 * On failure, etcd_last_error() says what etcd or gRPC said. */
int etcd_call(EtcdClient *c, const ProtobufCServiceDescriptor *service, const char *method,
              const ProtobufCMessage *request, ProtobufCMessage **ret_reply);

/* Opens a stream on the endpoint in use, with the call metadata. */
int etcd_stream_open(EtcdClient *c, const ProtobufCServiceDescriptor *service, const char *method,
                     RpcStream **ret, size_t *ret_index);
/* A stream opened on endpoint `index` failed: an invalid token (or, with
 * token_suspect, a refusal that a stale token explains) gets a new one;
 * anything else moves to the next endpoint. `s` (may be NULL) must have
 * ended; it is finished here to learn why, not freed. */
void etcd_stream_failed(EtcdClient *c, size_t index, RpcStream *s, bool token_suspect);

static inline ProtobufCBinaryData etcd_bytes(const char *s)
{
	return (ProtobufCBinaryData){ .len = s ? strlen(s) : 0, .data = (uint8_t *)s };
}
