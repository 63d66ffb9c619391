/* agent-internal.h — the agent's state, shared by its service loop
 * (agent.c), its migration handlers (agent-migrate*.c) and recovery
 * (agent-recover.c). */
#pragma once

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "agent.h"
#include "collector.h"
#include "etcd.h"
#include "migration-record.h"
#include "podman.h"
#include "rpc.h"
#include "service-notify.h"
#include "time-util.h"

#define BACKOFF_MIN_USEC (500 * 1000ULL)
#define BACKOFF_MAX_USEC (10 * 1000 * 1000ULL)

typedef struct Backoff {
	bool down;
	uint64_t delay_usec;
	uint64_t retry_at; /* monotonic */
} Backoff;

typedef struct AgentMetrics AgentMetrics;

struct Agent {
	const AgentConfig *config; /* the caller's; outlives the agent */
	char *advertise;           /* config's, with the real port if it listens on port 0 */
	char *info_key;
	char *status_key;
	PodmanClient *podman;
	Collector *collector;
	CriuFeatures criu;
	int64_t started_at;
	char *podman_version;

	EtcdClient *etcd;
	EtcdLease *lease;
	atomic_bool lease_lost;
	bool info_published;
	bool status_published; /* at least once: the agent is ready */
	ServiceNotify notify;  /* systemd: READY, STATUS, the watchdog */

	RpcServer *server;
	int port;                          /* the server's, kept across restarts */
	RpcChannel *probe;                 /* to this agent's own port (probe_self()) */
	bool serving;                      /* the last probes answered: the status is published */
	unsigned probe_failures;           /* in a row */
	unsigned long connections_refused; /* at the descriptor cap, as of the last probe */

	pthread_mutex_t lock; /* guards `last` for the gRPC handlers */
	NodeSample *last;

	Backoff podman_backoff, etcd_backoff;
	char podman_error[512];

	pthread_mutex_t migrations_lock; /* guards the count and ids below */
	unsigned migrations;             /* under way with this node as source or target */
	char (*active)[64];              /* their ids (config->max_migrations slots, "" free) */
	char **active_container;         /* per slot: the container it moves (NULL: free) */
	uint64_t next_recovery;          /* monotonic: when agent_recover() looks again */

	AgentMetrics *metrics; /* NULL without --metrics-address */
};

/* The agent's Prometheus metrics (agent-metrics.c, docs/metrics.md), served
 * on config->metrics_address; none (NULL, and every call below does
 * nothing) without one. */
int agent_metrics_new(Agent *a, AgentMetrics **ret);
AgentMetrics *agent_metrics_free(AgentMetrics *m);
int agent_metrics_get_port(const AgentMetrics *m);
/* The node's newest sample (may be NULL) and whether its status is in etcd. */
void agent_metrics_sample(AgentMetrics *m, const NodeSample *s, bool published);
/* A migration this node drove as its source, as its handler ended: `final`
 * is the record's phase then (not final: unsettled). */
void agent_metrics_migration(AgentMetrics *m, const MigrationRecord *rec, MigrationPhase final,
                             uint64_t downtime_ms, uint64_t bytes);

/* The containers this node's migrations move, in or out (NULL-terminated):
 * Podman holds a container's lock through its checkpoint or restore. */
int agent_busy_containers(Agent *a, char ***ret);

/* Whether a migration handler of this process is working on `id`. */
bool agent_migration_active(Agent *a, const char *id);

/* This node's own evidence that it takes part in migration `id`, which a
 * record in etcd alone cannot prove (anyone who may write etcd may write a
 * record): the file <work-dir>/evidence/<id>, written before the source
 * stops the container or the target receives it. Recovery touches a
 * container only with it. */
int agent_evidence_write(Agent *a, const char *id);
bool agent_evidence_has(Agent *a, const char *id);
void agent_evidence_remove(Agent *a, const char *id);

/* Finishes this node's side of migrations whose handler is gone (this agent
 * restarted, or a handler gave up waiting): `all` also looks at final
 * records (at start), otherwise only at migrations still under way
 * (agent-recover.c). */
void agent_recover(Agent *a, bool all);

/* The Agent service's migration methods: Migrate on the source
 * (agent-migrate-source.c), Receive on the target (agent-migrate-target.c),
 * FetchImage on the source for a target that lacks the image
 * (agent-migrate-image.c). */
int agent_handle_migrate(RpcServerCall *call, void *userdata);
int agent_handle_receive(RpcServerCall *call, void *userdata);
int agent_handle_fetch_image(RpcServerCall *call, void *userdata);

/* Who may call what (agent-authz.c). */
typedef enum PeerRole {
	PEER_ROLE_AGENT,     /* certificate OU "agent", CN the node's name */
	PEER_ROLE_SCHEDULER, /* OU "scheduler" */
	PEER_ROLE_OPERATOR,  /* OU "operator": the podmig CLI */
	_PEER_ROLE_MAX,
	_PEER_ROLE_INVALID = -EINVAL,
} PeerRole;
const char *peer_role_to_string(PeerRole r);
int peer_role_from_string(const char *s);

typedef enum AgentMethod {
	AGENT_METHOD_INFO,
	AGENT_METHOD_LIST_CONTAINERS,
	AGENT_METHOD_MIGRATE,
	AGENT_METHOD_RECEIVE,
	AGENT_METHOD_FETCH_IMAGE,
	AGENT_METHOD_MIGRATE_FORCED, /* Migrate with force: past podmig.migrate=false */
	_AGENT_METHOD_MAX,
} AgentMethod;
const char *agent_method_to_string(AgentMethod m);

typedef struct AgentPeer {
	PeerRole role;
	char name[254];
} AgentPeer;

/* The caller's role and name from its verified client certificate: -ENOENT
 * without one, -EPERM when it names no role. */
int agent_peer_identify(RpcServerCall *call, AgentPeer *ret);
/* 0 if the caller may call `method` (Receive and FetchImage: with `rec`,
 * the migration record the call names; NULL checks the role only); otherwise the call's status is
 * PERMISSION_DENIED with the reason, and the negative errno is returned. */
int agent_authorize(Agent *a, RpcServerCall *call, AgentMethod method, const MigrationRecord *rec);
/* 0 if a live migration order (migration-order.h), which only an operator
 * or a scheduler may write, names record `rec` (Receive, FetchImage): a
 * record alone is a claim any node may write. Otherwise PERMISSION_DENIED
 * with the reason (UNAVAILABLE if etcd cannot be read), whatever
 * --insecure says. */
int agent_authorize_order(Agent *a, RpcServerCall *call, AgentMethod method,
                          const MigrationRecord *rec);
