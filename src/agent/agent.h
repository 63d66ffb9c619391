/* agent.h — podmig-agent's logic as a library (main.c is a thin shell, so
 * tests link the real objects): its configuration from flags and a config
 * file, the JSON it publishes to etcd (docs/etcd-keys.md), and the service
 * loop that samples the node, keeps its keys alive under a lease and serves
 * the Agent gRPC service. */
#pragma once

#include <jansson.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "collector.h"
#include "error-util.h"
#include "macro.h"
#include "restore-policy.h"

#define AGENT_DEFAULT_PORT              7401
#define AGENT_DEFAULT_METRICS_PORT      7402 /* the conventional /metrics port; off by default */
#define AGENT_DEFAULT_PREFIX            "/podmig/"
#define AGENT_DEFAULT_PODMAN_SOCKET     "/run/podman/podman.sock"
#define AGENT_DEFAULT_ETCD              "127.0.0.1:2379"
#define AGENT_DEFAULT_WORK_DIR          "/var/lib/podmig"
#define AGENT_DEFAULT_CRIU_CONFIG_DIR   "/run/podmig/criu"
#define AGENT_DEFAULT_MAX_MIGRATIONS    2
#define AGENT_DEFAULT_MAX_CALLS         64 /* gRPC calls served at once (worker threads) */
#define AGENT_DEFAULT_STALL_TIMEOUT_SEC 60
/* Read at start when it exists and no --config names another file. */
#define AGENT_DEFAULT_CONFIG "/etc/podmig/agent.conf"

/* The agent-to-agent protocol: Receive, FetchImage and how agents move a
 * migration record's phases. A release that changes any of them raises it
 * by one and still speaks the one before, so agents whose protocols differ
 * by at most one migrate between each other (nodes are upgraded one at a
 * time); further apart, the source refuses before anything is stopped, and
 * a target refuses such a source's transfer. Published in Info and the
 * node's info; agents from before it was published spoke protocol 1.
 *   1: stop-and-copy and pre-copy transfers.
 *   2: page-server mode (a transfer's reply names the target's page-server
 *      port); a pair of agents uses it only when both speak 2 or later.
 *   3: post-copy (a transfer's header names the source's lazy-pages relay
 *      port; the target's `done` comes only once every page arrived); a
 *      pair uses it only when both speak 3 or later. */
#define AGENT_PROTOCOL             3
#define AGENT_PROTOCOL_PAGE_SERVER 2
#define AGENT_PROTOCOL_POST_COPY   3
/* Tests only: this variable makes the agent speak another protocol, as a
 * build of another release would (logged as a warning). */
#define AGENT_TEST_PROTOCOL_ENV "PODMIG_TEST_PROTOCOL"

static inline bool agent_protocol_compatible(unsigned a, unsigned b)
{
	return a + 1 >= b && b + 1 >= a;
}

typedef struct AgentConfig {
	char *node_name;         /* default: the host name */
	char *listen_address;    /* host:port of the gRPC server; default 0.0.0.0:7401 */
	char *advertise_address; /* host:port published to etcd; default: listen address,
	                            with the host name if it listens on every address */
	char *podman_socket;
	char *etcd_endpoint; /* host:port, "https://" prefix allowed ("http://" with insecure) */
	char *prefix;        /* etcd key prefix, ends in '/' */
	uint64_t interval_usec;
	int64_t lease_ttl_sec;
	AccountingSource source;
	double capacity_cpus;
	uint64_t capacity_memory;
	uint64_t link_bandwidth; /* bytes/s */
	char **labels;           /* "key=value" */
	char *tls_ca;
	char *tls_cert;
	char *tls_key;
	char *etcd_user;          /* etcd user name (password authentication) */
	char *etcd_password_file; /* its password: the file's first line */
	char *criu_path;
	char *proc_root; /* tests only; NULL: /proc */
	char *work_dir;  /* incoming archives; default /var/lib/podmig */
	/* CRIU configuration files, <dir>/<container>.conf, that containers
	 * name in their org.criu.config annotation (page-server and
	 * post-copy modes) */
	char *criu_config_dir;
	/* page-server mode's pages in flight: the source's recording of what
	 * its dump sent, the target's incoming page images; NULL: <work_dir>/pages */
	char *pages_dir;
	char *fault_dir;         /* tests only: fault points (src/migration/fault.h); NULL: inert */
	unsigned max_migrations; /* concurrent migrations this node takes part in */
	unsigned max_calls;      /* gRPC calls served at once; more are refused */
	uint64_t stall_timeout_usec; /* a call's peer sends or takes nothing so long: it ends */
	bool pre_copy_never;         /* --pre-copy=never: stop-and-copy even where pre-copy works */
	RestorePolicy restore;       /* what an incoming checkpoint may ask of this node */
	bool insecure;         /* --insecure: plaintext gRPC and etcd, nobody's identity known */
	int log_level;         /* --log-level as a syslog level; -1: not set */
	unsigned protocol;     /* AGENT_PROTOCOL, or $PODMIG_TEST_PROTOCOL in tests */
	char *metrics_address; /* HOST:PORT of /metrics (HTTPS unless insecure); NULL: none */
} AgentConfig;

void agent_config_init(AgentConfig *c);
void agent_config_done(AgentConfig *c);
/* One setting by its long option name ("node-name", "interval", ...);
 * -EINVAL with the reason in `error` if the value is bad, -ENOENT if the
 * key is unknown. */
int agent_config_set(AgentConfig *c, const char *key, const char *value, ErrorDetail *error);
/* Reads "key = value" lines ('#' comments; conf-file.h) from a file; a
 * missing file is an error too (-ENOENT). Errors name the file and line. */
int agent_config_load_file(AgentConfig *c, const char *path, ErrorDetail *error);
/* Fills in the defaults that depend on others; checks consistency. */
int agent_config_finish(AgentConfig *c, ErrorDetail *error);

/* What a node publishes once per lease: <prefix>nodes/<name>/info. */
typedef struct NodeInfo {
	const char *name;
	const char *grpc_address;
	const char *version;
	unsigned protocol;
	const char *podman_version; /* may be NULL */
	AccountingSource source;
	double capacity_cpus;
	uint64_t capacity_memory;
	uint64_t link_bandwidth;
	CriuFeatures criu;
	char *const *labels;
	int64_t started_at; /* unix seconds */
} NodeInfo;

json_t *node_info_to_json(const NodeInfo *info);
/* <prefix>nodes/<name>/status: the sample and its container list. */
json_t *node_status_to_json(const NodeSample *s);

typedef struct Agent Agent;

int agent_new(const AgentConfig *config, Agent **ret);
Agent *agent_free(Agent *a);
DEFINE_TRIVIAL_CLEANUP_FUNC(Agent *, agent_free);
/* The gRPC server's port (after agent_new). */
int agent_get_port(const Agent *a);
/* The port of its /metrics endpoint; 0 without one. */
int agent_get_metrics_port(const Agent *a);
/* Runs until one of `stop` (blocked in every thread by the caller) arrives;
 * then revokes the lease so the node's keys go at once. */
int agent_run(Agent *a, const sigset_t *stop);
