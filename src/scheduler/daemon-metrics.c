/* daemon-metrics.c — podmig-scheduler's metrics (daemon-metrics.h). */
#include "daemon-metrics.h"

#include <stdlib.h>

#include "config.h"
#include "log.h"
#include "metrics-errors.h"
#include "metrics-http.h"
#include "metrics.h"
#include "strutil.h"

struct SchedulerMetrics {
	MetricsRegistry *registry;
	MetricsHttp *http;
	const atomic_bool *leading;
	Metric *info, *leader, *policy, *nodes, *decide_time, *decisions, *started, *ended;
};

static const char *const outcomes[] = { "migrate", "nothing-fits", "no-candidate", "deferred",
	                                NULL };
static const char *const modes[] = { "act", "observe", NULL };
static const char *const node_states[] = { "ok", "stale", "overloaded", "drained", NULL };
static const char *const reasons[] = { "automatic", "drain", NULL };
static const char *const results[] = {
	"done", "rolled-back", "failed", "refused", "unsettled", NULL
};
static const double decide_buckets[] = { 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
	                                 0.1,   0.25,   0.5,   1,    2.5 };

static void collect(MetricsRegistry *r, void *userdata)
{
	SchedulerMetrics *m = userdata;
	(void)metric_set(m->leader, atomic_load(m->leading));
}

static int metrics_define(SchedulerMetrics *m, const SchedulerConfig *c)
{
	const char *name[] = { c->name, NULL };
	const char *version[] = { PODMIG_VERSION, NULL };
	int r;

	const struct {
		Metric **metric;
		MetricDesc desc;
	} defs[] = {
		{ &m->info,
		  { METRIC_GAUGE,
		    "podmig_scheduler_info",
		    "The scheduler's name and version (always 1).",
		    { { "scheduler", name }, { "version", version } } } },
		{ &m->leader,
		  { METRIC_GAUGE, "podmig_scheduler_leader",
		    "Whether this scheduler leads (1) or stands by (0)." } },
		{ &m->policy,
		  { METRIC_GAUGE, "podmig_scheduler_policy_revision",
		    "etcd revision of the policy document in force (0: the defaults)." } },
		{ &m->nodes,
		  { METRIC_GAUGE,
		    "podmig_scheduler_nodes",
		    "Nodes by the trigger's verdict in the leader's last tick (0 while "
		    "standing by).",
		    { { "state", node_states } } } },
		{ &m->decide_time,
		  { METRIC_HISTOGRAM,
		    "podmig_scheduler_decision_duration_seconds",
		    "Time the leader took to build the view and decide, per tick.",
		    {},
		    decide_buckets,
		    ELEMENTSOF(decide_buckets) } },
		{ &m->decisions,
		  { METRIC_COUNTER,
		    "podmig_scheduler_decisions_total",
		    "Decisions stored, by outcome and mode (a decision that moves nothing is "
		    "stored when it changes, and at most once a minute while it stays).",
		    { { "outcome", outcomes }, { "mode", modes } } } },
		{ &m->started,
		  { METRIC_COUNTER,
		    "podmig_scheduler_migrations_started_total",
		    "Migrations this scheduler asked a source agent to make, by reason.",
		    { { "reason", reasons } } } },
		{ &m->ended,
		  { METRIC_COUNTER,
		    "podmig_scheduler_migrations_ended_total",
		    "Migrations this scheduler started, by how they ended for it (refused: "
		    "the source never began; unsettled: no final phase reported).",
		    { { "result", results } } } },
	};
	for (size_t i = 0; i < ELEMENTSOF(defs); i++)
		if ((r = metrics_register(m->registry, &defs[i].desc, defs[i].metric)) < 0)
			return log_error_errno(r, "cannot define metric %s", defs[i].desc.name);
	(void)metric_set(m->info, 1, c->name, PODMIG_VERSION);
	if ((r = metrics_errors_register(m->registry)) < 0)
		return log_error_errno(r, "cannot define the error metrics");
	return metrics_add_collector(m->registry, collect, m);
}

int scheduler_metrics_new(const SchedulerConfig *c, const atomic_bool *leading,
                          SchedulerMetrics **ret)
{
	int r;

	*ret = NULL;
	if (!c->metrics_address)
		return 0;
	SchedulerMetrics *m = calloc(1, sizeof *m);
	if (!m)
		return -ENOMEM;
	m->leading = leading;
	if ((r = metrics_registry_new(&m->registry)) < 0 || (r = metrics_define(m, c)) < 0) {
		scheduler_metrics_free(m);
		return r;
	}
	r = metrics_http_serve(m->registry, c->metrics_address, !c->insecure, c->tls_cert,
	                       c->tls_key, c->tls_ca, "scheduler", c->name, &m->http);
	if (r < 0) {
		scheduler_metrics_free(m);
		return r;
	}
	*ret = m;
	return 0;
}

SchedulerMetrics *scheduler_metrics_free(SchedulerMetrics *m)
{
	if (!m)
		return NULL;
	metrics_http_free(m->http); /* first: it renders the registry */
	metrics_registry_free(m->registry);
	free(m);
	return NULL;
}

int scheduler_metrics_get_port(const SchedulerMetrics *m)
{
	return m ? metrics_http_get_port(m->http) : 0;
}

void scheduler_metrics_tick(SchedulerMetrics *m, int64_t policy_revision, const SchedPlan *plan,
                            double decide_sec)
{
	if (!m)
		return;
	(void)metric_set(m->policy, (double)policy_revision);
	if (!atomic_load(m->leading)) {
		for (size_t k = 0; node_states[k]; k++)
			(void)metric_set(m->nodes, 0, node_states[k]);
		return;
	}
	(void)metric_observe(m->decide_time, decide_sec);
	if (!plan)
		return;
	unsigned counts[_SCHED_NODE_STATE_MAX] = {};
	for (size_t i = 0; i < plan->n_verdicts; i++)
		if (plan->verdicts[i].state < _SCHED_NODE_STATE_MAX)
			counts[plan->verdicts[i].state]++;
	for (int k = 0; k < _SCHED_NODE_STATE_MAX; k++)
		(void)metric_set(m->nodes, counts[k], sched_node_state_to_string(k));
}

void scheduler_metrics_decision(SchedulerMetrics *m, const SchedDecision *d, bool observe)
{
	if (!m)
		return;
	int r = metric_add(m->decisions, 1, sched_outcome_to_string(d->outcome),
	                   observe ? "observe" : "act");
	if (r < 0)
		log_debug_errno(r, "decision not counted");
}

void scheduler_metrics_migration_started(SchedulerMetrics *m, bool drain)
{
	if (m)
		(void)metric_add(m->started, 1, drain ? "drain" : "automatic");
}

void scheduler_metrics_migration_ended(SchedulerMetrics *m, const char *phase)
{
	if (!m)
		return;
	const char *result =
	        !*phase ? "refused"
	        : streq(phase, "done") || streq(phase, "rolled-back") || streq(phase, "failed")
	                ? phase
	                : "unsettled";
	(void)metric_add(m->ended, 1, result);
}
