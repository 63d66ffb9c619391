/* etcd-internal.h — decoding of etcd's responses into podmig's types, shared
 * by the client and the fuzz targets (responses are outside bytes: every
 * optional sub-message may be missing). */
#pragma once

#include <string.h>

#include "etcd.h"
#include "etcdserver.pb-c.h"

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

struct EtcdClient {
	RpcChannel *channel;
	uint64_t timeout_usec;
};

/* Unary call to etcd with the client's deadline. */
int etcd_call(EtcdClient *c, const ProtobufCServiceDescriptor *service, const char *method,
              const ProtobufCMessage *request, ProtobufCMessage **ret_reply);

static inline ProtobufCBinaryData etcd_bytes(const char *s)
{
	return (ProtobufCBinaryData){ .len = s ? strlen(s) : 0, .data = (uint8_t *)s };
}
