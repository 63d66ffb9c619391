/* agent-metrics.c — what podmig-agent tells Prometheus (docs/metrics.md):
 * its node's load as the collector measured it, the migrations it drove as
 * their source, and the errors of its etcd and gRPC calls, served on
 * --metrics-address by src/metrics. */
#include <stdlib.h>
#include <string.h>

#include "agent-internal.h"
#include "config.h"
#include "log.h"
#include "metrics-errors.h"
#include "metrics-http.h"
#include "metrics.h"
#include "migration-record.h"
#include "strutil.h"

struct AgentMetrics {
	MetricsRegistry *registry;
	MetricsHttp *http;
	Agent *agent;
	Metric *info, *up_podman, *published;
	Metric *cpu_used, *cpu_capacity, *cpu_ratio;
	Metric *mem_used, *mem_capacity, *mem_ratio;
	Metric *rx_rate, *tx_rate, *net_ratio;
	Metric *containers;
	Metric *migrations, *downtime, *duration, *bytes, *active;
};

/* The outcome of a migration as its source's handler ended: a final phase,
 * or "unsettled" (still restoring on the target, or etcd unreachable;
 * recovery settles it later). */
static const char *const results[] = { "done", "rolled-back", "failed", "unsettled", NULL };
static const char *const reasons[] = { "manual", "automatic", "drain", NULL };
static const char *const modes[] = { "stop-and-copy", "pre-copy", NULL };
static const char *const container_states[] = { "running", "paused", "exited",
	                                        "created", "other",  NULL };

static const double downtime_buckets[] = { 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120 };
static const double duration_buckets[] = { 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800 };
#define MiB (1024.0 * 1024.0)
static const double bytes_buckets[] = { 1 * MiB,    4 * MiB,    16 * MiB,    64 * MiB,   256 * MiB,
	                                1024 * MiB, 4096 * MiB, 16384 * MiB, 65536 * MiB };

/* The migrations under way, at each scrape. */
static void collect(MetricsRegistry *r, void *userdata)
{
	AgentMetrics *m = userdata;
	pthread_mutex_lock(&m->agent->migrations_lock);
	unsigned active = m->agent->migrations;
	pthread_mutex_unlock(&m->agent->migrations_lock);
	(void)metric_set(m->active, active);
}

static int metrics_define(AgentMetrics *m)
{
	const AgentConfig *c = m->agent->config;
	const char *node[] = { c->node_name, NULL };
	const char *version[] = { PODMIG_VERSION, NULL };
	int r;

	const struct {
		Metric **metric;
		MetricDesc desc;
	} defs[] = {
		{ &m->info,
		  { METRIC_GAUGE,
		    "podmig_agent_info",
		    "The agent's node and version (always 1).",
		    { { "node", node }, { "version", version } } } },
		{ &m->up_podman,
		  { METRIC_GAUGE, "podmig_node_podman_up",
		    "Whether the last sample reached Podman's API (1) or not (0)." } },
		{ &m->published,
		  { METRIC_GAUGE, "podmig_node_published",
		    "Whether the node's status is in etcd (1): etcd answered and the agent's "
		    "gRPC port serves." } },
		{ &m->cpu_used,
		  { METRIC_GAUGE, "podmig_node_cpu_usage_cores",
		    "CPU in use on the node, in cores, from the agent's accounting source." } },
		{ &m->cpu_capacity,
		  { METRIC_GAUGE, "podmig_node_cpu_capacity_cores",
		    "The node's CPU capacity in cores (declared, or the machine's)." } },
		{ &m->cpu_ratio,
		  { METRIC_GAUGE, "podmig_node_cpu_utilization_ratio",
		    "CPU in use over capacity (the scheduler's thresholds are percent of "
		    "this)." } },
		{ &m->mem_used,
		  { METRIC_GAUGE, "podmig_node_memory_usage_bytes",
		    "Memory in use on the node." } },
		{ &m->mem_capacity,
		  { METRIC_GAUGE, "podmig_node_memory_capacity_bytes",
		    "The node's memory capacity (declared, or MemTotal)." } },
		{ &m->mem_ratio,
		  { METRIC_GAUGE, "podmig_node_memory_utilization_ratio",
		    "Memory in use over capacity." } },
		{ &m->rx_rate,
		  { METRIC_GAUGE, "podmig_node_network_receive_bytes_per_second",
		    "Bytes received per second over the node's interfaces (lo excluded), "
		    "between the last two samples." } },
		{ &m->tx_rate,
		  { METRIC_GAUGE, "podmig_node_network_transmit_bytes_per_second",
		    "Bytes sent per second over the node's interfaces (lo excluded), between "
		    "the last two samples." } },
		{ &m->net_ratio,
		  { METRIC_GAUGE, "podmig_node_network_utilization_ratio",
		    "The larger of receive and transmit rate over the link bandwidth." } },
		{ &m->containers,
		  { METRIC_GAUGE,
		    "podmig_node_containers",
		    "Containers on the node by Podman state, as of the last sample.",
		    { { "state", container_states } } } },
		{ &m->migrations,
		  { METRIC_COUNTER,
		    "podmig_migrations_total",
		    "Migrations this node drove as their source, by outcome when its handler "
		    "ended, reason and mode.",
		    { { "result", results }, { "reason", reasons }, { "mode", modes } } } },
		{ &m->downtime,
		  { METRIC_HISTOGRAM,
		    "podmig_migration_downtime_seconds",
		    "Time a migrated container was stopped (checkpoint to restored), for "
		    "migrations done.",
		    { { "mode", modes } },
		    downtime_buckets,
		    ELEMENTSOF(downtime_buckets) } },
		{ &m->duration,
		  { METRIC_HISTOGRAM,
		    "podmig_migration_duration_seconds",
		    "Time from a migration's record to the end of its source's handler.",
		    { { "result", results } },
		    duration_buckets,
		    ELEMENTSOF(duration_buckets) } },
		{ &m->bytes,
		  { METRIC_HISTOGRAM,
		    "podmig_migration_sent_bytes",
		    "Checkpoint bytes a migration's source sent (every archive, pre-dump "
		    "included).",
		    { { "mode", modes } },
		    bytes_buckets,
		    ELEMENTSOF(bytes_buckets) } },
		{ &m->active,
		  { METRIC_GAUGE, "podmig_migrations_in_progress",
		    "Migrations this node takes part in now, as source or target." } },
	};
	for (size_t i = 0; i < ELEMENTSOF(defs); i++)
		if ((r = metrics_register(m->registry, &defs[i].desc, defs[i].metric)) < 0)
			return log_error_errno(r, "cannot define metric %s", defs[i].desc.name);
	(void)metric_set(m->info, 1, c->node_name, PODMIG_VERSION);
	if ((r = metrics_errors_register(m->registry)) < 0)
		return log_error_errno(r, "cannot define the error metrics");
	return metrics_add_collector(m->registry, collect, m);
}

int agent_metrics_new(Agent *a, AgentMetrics **ret)
{
	const AgentConfig *c = a->config;
	int r;

	if (!c->metrics_address) {
		*ret = NULL;
		return 0;
	}
	AgentMetrics *m = calloc(1, sizeof *m);
	if (!m)
		return -ENOMEM;
	m->agent = a;
	if ((r = metrics_registry_new(&m->registry)) < 0 || (r = metrics_define(m)) < 0) {
		agent_metrics_free(m);
		return r;
	}
	r = metrics_http_serve(m->registry, c->metrics_address, !c->insecure, c->tls_cert,
	                       c->tls_key, c->tls_ca, "node", c->node_name, &m->http);
	if (r < 0) {
		agent_metrics_free(m);
		return r;
	}
	*ret = m;
	return 0;
}

AgentMetrics *agent_metrics_free(AgentMetrics *m)
{
	if (!m)
		return NULL;
	metrics_http_free(m->http); /* first: it renders the registry */
	metrics_registry_free(m->registry);
	free(m);
	return NULL;
}

int agent_metrics_get_port(const AgentMetrics *m)
{
	return m ? metrics_http_get_port(m->http) : 0;
}

static const char *container_state(const char *s)
{
	for (size_t i = 0; container_states[i + 1]; i++)
		if (streq_ptr(s, container_states[i]))
			return s;
	return "other";
}

void agent_metrics_sample(AgentMetrics *m, const NodeSample *s, bool published)
{
	if (!m)
		return;
	(void)metric_set(m->published, published);
	if (!s)
		return;
	(void)metric_set(m->up_podman, s->podman_ok);
	(void)metric_set(m->cpu_used, s->cpu_used);
	(void)metric_set(m->cpu_capacity, s->capacity_cpus);
	(void)metric_set(m->cpu_ratio, s->cpu_percent / 100);
	(void)metric_set(m->mem_used, (double)s->mem_used);
	(void)metric_set(m->mem_capacity, (double)s->capacity_memory);
	(void)metric_set(m->mem_ratio, s->mem_percent / 100);
	(void)metric_set(m->rx_rate, s->net_rx_rate);
	(void)metric_set(m->tx_rate, s->net_tx_rate);
	(void)metric_set(m->net_ratio, s->net_percent / 100);
	if (!s->podman_ok)
		return; /* the containers are unknown: keep the last counts */
	unsigned counts[ELEMENTSOF(container_states) - 1] = {};
	for (size_t i = 0; i < s->n_containers; i++)
		for (size_t k = 0; k < ELEMENTSOF(counts); k++)
			if (streq(container_state(s->containers[i].state), container_states[k])) {
				counts[k]++;
				break;
			}
	for (size_t k = 0; k < ELEMENTSOF(counts); k++)
		(void)metric_set(m->containers, counts[k], container_states[k]);
}

void agent_metrics_migration(AgentMetrics *m, const MigrationRecord *rec, MigrationPhase final,
                             uint64_t downtime_ms, uint64_t bytes)
{
	if (!m)
		return;
	const char *result = final == MIGRATION_DONE          ? "done"
	                     : final == MIGRATION_ROLLED_BACK ? "rolled-back"
	                     : final == MIGRATION_FAILED      ? "failed"
	                                                      : "unsettled";
	const char *mode = migration_mode_to_string(rec->mode);
	uint64_t started = rec->phase_time_ms[MIGRATION_PLANNED], now = wall_ms();
	int r = metric_add(m->migrations, 1, result, migration_reason_to_string(rec->reason), mode);
	if (r < 0)
		log_debug_errno(r, "migration %s: not counted", rec->id);
	if (final == MIGRATION_DONE)
		(void)metric_observe(m->downtime, (double)downtime_ms / 1000, mode);
	if (started && now >= started)
		(void)metric_observe(m->duration, (double)(now - started) / 1000, result);
	(void)metric_observe(m->bytes, (double)bytes, mode);
}
