/* etcd.h — podmig's etcd v3 client, over src/rpc: get/put/delete, prefix
 * ranges, compare-and-swap transactions, leases kept alive in the background
 * with a callback when one is lost, and prefix watches that survive a
 * reconnect (resuming after the last revision they delivered, so no event is
 * lost or repeated).
 *
 * Keys are text; values are bytes (podmig stores JSON) and are handed back
 * NUL-terminated. Functions return >= 0 or a negative errno; the outcomes a
 * caller must handle have names below.
 *
 * A client knows several members of a cluster and uses one at a time; when
 * it dies, is cut off or loses its quorum, requests, watches and lease
 * keepalives move to the next member (see etcd-client.c for which requests
 * are retried). TLS and mutual TLS come from EtcdOptions.rpc; with a user
 * name, the client authenticates and renews etcd's token when it expires.
 * A leader election on top of leases is in the last section. */
#pragma once

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error-util.h"
#include "macro.h"
#include "rpc.h"

#define ETCD_NOT_FOUND   OUTCOME_ETCD_NOT_FOUND /* no such key */
#define ETCD_CAS_FAILED  (-ESTALE)              /* the compare of a compare-and-swap failed */
#define ETCD_COMPACTED   (-EOVERFLOW)           /* a watch's revision was compacted away */
#define ETCD_LEASE_GONE  (-ETIME)               /* etcd says the lease expired or was revoked */
#define ETCD_AUTH_FAILED (-EACCES)              /* etcd refused the user name or password */

typedef struct EtcdClient EtcdClient;
typedef struct EtcdLease EtcdLease;
typedef struct EtcdWatch EtcdWatch;

typedef struct EtcdOptions {
	/* transport: .plaintext for http:// endpoints; else TLS with .ca_file
	 * (etcd's CA), and .cert_file + .key_file for --client-cert-auth */
	RpcOptions rpc;
	/* deadline of each request, fail-overs included; 0: 5 s */
	uint64_t request_timeout_usec;
	/* etcd authentication (both or neither) */
	const char *username;
	const char *password;
} EtcdOptions;

typedef struct EtcdKeyValue {
	char *key;
	char *value; /* NUL-terminated; value_size does not count the NUL */
	size_t value_size;
	int64_t create_revision;
	int64_t mod_revision;
	int64_t version;
	int64_t lease;
} EtcdKeyValue;

typedef enum EtcdEventType {
	ETCD_EVENT_PUT,
	ETCD_EVENT_DELETE,
} EtcdEventType;

typedef struct EtcdEvent {
	EtcdEventType type;
	EtcdKeyValue kv; /* for DELETE: key and mod_revision only */
} EtcdEvent;

/* `endpoints`: the cluster's members, comma-separated host:port (a leading
 * http:// or https:// is ignored: the options decide TLS). Connects lazily,
 * except that with a user name it authenticates at once: ETCD_AUTH_FAILED
 * if etcd refuses the name or password. */
int etcd_client_new(const char *endpoints, const EtcdOptions *options, EtcdClient **ret);
EtcdClient *etcd_client_free(EtcdClient *c);
DEFINE_TRIVIAL_CLEANUP_FUNC(EtcdClient *, etcd_client_free);
/* host:port of the member in use. */
const char *etcd_client_get_endpoint(EtcdClient *c);
/* What etcd or gRPC said about the last request that failed on this thread
 * (code and message, e.g. a TLS handshake error): for messages to people. */
const RpcStatus *etcd_last_error(void);
/* Requests of this process that failed (after the client's retries and
 * failover), by the gRPC code of the last attempt; index 0 (OK) stays 0.
 * For metrics. */
void etcd_error_counts(uint64_t ret[_RPC_CODE_MAX]);

void etcd_key_value_done(EtcdKeyValue *kv); /* frees the strings, not kv itself */
void etcd_key_values_free(EtcdKeyValue *kvs, size_t n);
void etcd_events_free(EtcdEvent *events, size_t n);

/* The key's current value; ETCD_NOT_FOUND if it does not exist. */
int etcd_get(EtcdClient *c, const char *key, EtcdKeyValue *ret);
/* All keys starting with `prefix`, sorted by key, and the store's revision. */
int etcd_get_prefix(EtcdClient *c, const char *prefix, EtcdKeyValue **ret_kvs, size_t *ret_n,
                    int64_t *ret_revision);
/* lease 0: none. ret_revision (optional): the revision of the write. */
int etcd_put(EtcdClient *c, const char *key, const char *value, size_t value_size, int64_t lease,
             int64_t *ret_revision);
/* Number of keys deleted (0 if there was none). */
int etcd_delete(EtcdClient *c, const char *key, int64_t *ret_deleted);
int etcd_delete_prefix(EtcdClient *c, const char *prefix, int64_t *ret_deleted);

/* Transactions: if every compare holds, apply `then`, else `otherwise`. */
typedef enum EtcdCompareTarget {
	ETCD_COMPARE_VERSION = 0,
	ETCD_COMPARE_CREATE_REVISION = 1,
	ETCD_COMPARE_MOD_REVISION = 2,
	ETCD_COMPARE_VALUE = 3,
} EtcdCompareTarget;

typedef enum EtcdCompareOp {
	ETCD_EQUAL = 0,
	ETCD_GREATER = 1,
	ETCD_LESS = 2,
	ETCD_NOT_EQUAL = 3,
} EtcdCompareOp;

typedef struct EtcdCompare {
	const char *key;
	EtcdCompareTarget target;
	EtcdCompareOp op;
	int64_t number;    /* for VERSION, CREATE_REVISION, MOD_REVISION */
	const char *value; /* for VALUE */
} EtcdCompare;

typedef enum EtcdOpType {
	ETCD_OP_PUT,
	ETCD_OP_DELETE,
	ETCD_OP_DELETE_PREFIX,
} EtcdOpType;

typedef struct EtcdOp {
	EtcdOpType type;
	const char *key;
	const char *value; /* PUT: NUL-terminated */
	int64_t lease;     /* PUT */
} EtcdOp;

/* Returns 1 if the compares held (then-branch applied), 0 if not. */
int etcd_txn(EtcdClient *c, const EtcdCompare *compares, size_t n_compares, const EtcdOp *then,
             size_t n_then, const EtcdOp *otherwise, size_t n_otherwise, int64_t *ret_revision);

/* Writes key only if its mod_revision is still `expected_mod_revision`
 * (0: only if the key does not exist). ETCD_CAS_FAILED otherwise. */
int etcd_compare_and_swap(EtcdClient *c, const char *key, int64_t expected_mod_revision,
                          const char *value, int64_t lease, int64_t *ret_revision);

/* ---- leases ---- */

/* Called at most once, from the keepalive thread, when the lease is lost:
 * ETCD_LEASE_GONE (etcd expired or revoked it) or -ETIMEDOUT (etcd could not be
 * reached for a whole TTL). The handler must not free the lease. */
typedef void (*EtcdLeaseLostHandler)(EtcdLease *lease, int error, void *userdata);

/* Grants a lease of ttl_sec seconds and keeps it alive from a background
 * thread (every TTL/3) until revoked or freed. */
int etcd_lease_grant(EtcdClient *c, int64_t ttl_sec, EtcdLeaseLostHandler on_lost, void *userdata,
                     EtcdLease **ret);
/* Grants a lease that nobody keeps alive: its keys go after ttl_sec. */
int etcd_lease_grant_expiring(EtcdClient *c, int64_t ttl_sec, int64_t *ret_id);
int64_t etcd_lease_get_id(const EtcdLease *l);
/* The TTL etcd granted (it may raise a too-short one). */
int64_t etcd_lease_get_ttl(const EtcdLease *l);
/* Stops the keepalive and revokes: keys attached to it go at once. */
int etcd_lease_revoke(EtcdLease *l);
/* Revokes a lease by id (e.g. one held by a process that is gone). */
int etcd_lease_revoke_id(EtcdClient *c, int64_t id);
/* Stops the keepalive without revoking: the lease expires after its TTL. */
EtcdLease *etcd_lease_free(EtcdLease *l);
DEFINE_TRIVIAL_CLEANUP_FUNC(EtcdLease *, etcd_lease_free);

/* ---- watches ---- */

/* Watches every key under `prefix`, from start_revision (0: from now on).
 * Returns once etcd has created the watch. */
int etcd_watch_prefix(EtcdClient *c, const char *prefix, int64_t start_revision, EtcdWatch **ret);
/* Waits up to timeout_usec for events: returns their number (>= 1) and the
 * events in revision order, each delivered exactly once across reconnects;
 * -ETIMEDOUT if none came; ETCD_COMPACTED if the events to resume from are
 * gone (re-read the prefix and watch again). Reconnects on its own. */
int etcd_watch_next(EtcdWatch *w, uint64_t timeout_usec, EtcdEvent **ret_events);
/* The revision of the last event delivered (or the start point). */
int64_t etcd_watch_get_revision(const EtcdWatch *w);
/* How many times the watch had to reconnect. */
unsigned etcd_watch_get_reconnects(const EtcdWatch *w);
/* host:port of the member the watch is (or was last) connected to. */
const char *etcd_watch_get_endpoint(const EtcdWatch *w);
EtcdWatch *etcd_watch_free(EtcdWatch *w);
DEFINE_TRIVIAL_CLEANUP_FUNC(EtcdWatch *, etcd_watch_free);

/* ---- leader election ----
 *
 * Like etcd's concurrency.Election: each candidate puts the key
 * PREFIX<lease id in hex> under its own lease; the key with the lowest
 * create revision is the leader's; the others each wait for the deletion of
 * the key just before theirs. A leader that dies stops keeping its lease
 * alive, its key goes after the TTL and the next candidate leads. */

typedef struct EtcdElection EtcdElection;
typedef struct EtcdElectionObserver EtcdElectionObserver;

/* Called at most once, from the keepalive thread, when the lease of a leader
 * is lost (error as for EtcdLeaseLostHandler): it is no longer the leader,
 * or will not be once etcd notices. Must not free the election. */
typedef void (*EtcdElectionLostHandler)(EtcdElection *e, int error, void *userdata);

/* A candidate under `prefix` (e.g. "/podmig/scheduler/leader/") with a lease
 * of ttl_sec seconds, kept alive from now on. */
int etcd_election_new(EtcdClient *c, const char *prefix, int64_t ttl_sec,
                      EtcdElectionLostHandler on_lost, void *userdata, EtcdElection **ret);
/* Blocks until this candidate leads (0), with `value` (e.g. its address) as
 * the value of its key; -ETIMEDOUT after timeout_usec (RPC_USEC_INFINITY:
 * none), -ECANCELED after etcd_election_cancel(), ETCD_LEASE_GONE if the
 * lease was lost (make a new election). Unless it leads, the key is gone
 * when it returns. Campaigning again while leading updates the value. */
int etcd_election_campaign(EtcdElection *e, const char *value, uint64_t timeout_usec);
/* Makes a campaign in progress return -ECANCELED; safe from any thread. */
void etcd_election_cancel(EtcdElection *e);
/* Gives up leadership (or candidacy): deletes the key if it is still ours. */
int etcd_election_resign(EtcdElection *e);
bool etcd_election_is_leader(EtcdElection *e);
int64_t etcd_election_get_lease_id(const EtcdElection *e);
/* Revokes the lease (followers take over at once, not after the TTL). */
EtcdElection *etcd_election_free(EtcdElection *e);
DEFINE_TRIVIAL_CLEANUP_FUNC(EtcdElection *, etcd_election_free);

/* The current leader's key and value under `prefix`; ETCD_NOT_FOUND if none. */
int etcd_election_get_leader(EtcdClient *c, const char *prefix, EtcdKeyValue *ret);
/* Observes the leader under `prefix` through a watch. */
int etcd_election_observe(EtcdClient *c, const char *prefix, EtcdElectionObserver **ret);
/* Waits up to timeout_usec for a change of leader (the first call reports the
 * current state at once): 1 and the new leader's key and value in *ret, 0 if
 * there is no leader now, -ETIMEDOUT if nothing changed. */
int etcd_election_observer_next(EtcdElectionObserver *o, uint64_t timeout_usec, EtcdKeyValue *ret);
EtcdElectionObserver *etcd_election_observer_free(EtcdElectionObserver *o);
DEFINE_TRIVIAL_CLEANUP_FUNC(EtcdElectionObserver *, etcd_election_observer_free);
