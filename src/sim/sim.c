/* sim.c — sim_run(): the simulated cluster, its steps, the metrics, and the policies. podmig's
 * policies are the scheduler library's sched_decide(); Incus-style rebalancing and the
 * descheduler's LowNodeUtilization are written here, plainly. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "sim.h"
#include "string-table.h"
#include "time-util.h"

#define USEC_PER_SEC_F 1e6
#define MIB            (1024.0 * 1024.0)
#define GIB            (1024.0 * MIB)
/* Names "n0000042", "c0001234": fixed width, so a name pointer gives its index. */
#define NAME_LEN 24
/* The wall clock of the simulation's start, as the scheduler library sees it. */
#define EPOCH_USEC (1700000000ull * 1000000ull)

static const char *const sim_policy_table[_SIM_POLICY_MAX] = {
	[SIM_POLICY_NONE] = "none",
	[SIM_POLICY_INCUS] = "incus",
	[SIM_POLICY_DESCHEDULER] = "descheduler",
	[SIM_POLICY_LEAST_LOADED] = "least-loaded",
	[SIM_POLICY_PODMIG] = "podmig",
	[SIM_POLICY_PREDICTIVE] = "podmig-predictive",
};

DEFINE_STRING_TABLE_LOOKUP(sim_policy, SimPolicyKind);

void sim_config_init(SimConfig *c, const SchedPolicy *policy, size_t n_nodes)
{
	*c = (SimConfig){
		.n_nodes = n_nodes,
		.n_containers = n_nodes * 10,
		.node_cpu = 4,
		.node_memory = 16 * GIB,
		.node_bandwidth = 1.25e9,
		.container_cpu = 1,
		.container_memory = 4 * GIB,
		.trace_step_usec = 300 * 1000000ull,
		.step_usec = 30 * 1000000ull,
		.duration_usec = 24 * 3600 * 1000000ull,
		.seed = 1,
		.restart_sec = 5,
		.policy = policy,
		.predict_samples = 2,
		.incus_interval_usec = 300 * 1000000ull,
		.incus_threshold = 20,
		.descheduler_interval_usec = 300 * 1000000ull,
		.descheduler_low = { 50, 50 },
		.descheduler_target = { policy ? policy->threshold[PLACEMENT_CPU] : 80,
		                        policy ? policy->threshold[PLACEMENT_MEMORY] : 85 },
	};
	/* the low threshold defaults to 50 %, or the target where that is lower */
	for (size_t r = 0; r < 2; r++)
		c->descheduler_low[r] = MIN(c->descheduler_low[r], c->descheduler_target[r]);
	for (SimMode m = 0; m < _SIM_MODE_MAX; m++)
		sim_timing_default(m, &c->timing[m]);
}

void sim_result_done(SimResult *r)
{
	if (!r)
		return;
	free(r->overloaded);
	free(r->over_threshold);
	free(r->moves);
	*r = (SimResult){};
}

/* ---- state ---- */

typedef struct Ct {
	uint32_t trace;
	uint64_t offset_usec; /* into its trace: containers do not change load in step */
	uint32_t node;        /* where it runs; the source while it migrates */
	uint32_t target;      /* while it migrates */
	bool migrating, restarting;
	double down_from, up_at; /* seconds: down in [down_from, up_at) */
	double demand[2];        /* cores, bytes: this step's sample */
	double work_core_sec;    /* CPU work since its last start */
} Ct;

typedef struct Node {
	uint32_t *cts; /* running here (or leaving: migrating) */
	size_t n, cap;
	double used[2];
	SchedSample samples[SCHED_SAMPLES_MAX]; /* oldest first */
	size_t n_samples;
	SchedContainer *view; /* the scheduler's view of cts */
	size_t view_cap;
} Node;

typedef struct Mig {
	uint32_t ct, src, tgt;
	double start, end, downtime;
} Mig;

typedef struct Sim {
	const SimConfig *c;
	const SimTraceSet *traces;
	SimPolicyKind kind;
	SchedPolicy policy;
	SimResult *res;
	Ct *cts;
	Node *nodes;
	char *ct_names, *node_names;
	Mig *migs; /* active, and ended within the longest cooldown */
	size_t n_migs, cap_migs;
	SchedNode *view_nodes;
	SchedMigration *view_migs;
	double t; /* seconds since the start */
	uint64_t rng;
} Sim;

static uint64_t rng_next(uint64_t *s)
{
	/* splitmix64 */
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static void sim_done(Sim *s)
{
	for (size_t i = 0; s->nodes && i < s->c->n_nodes; i++) {
		free(s->nodes[i].cts);
		free(s->nodes[i].view);
	}
	free(s->nodes);
	free(s->cts);
	free(s->ct_names);
	free(s->node_names);
	free(s->migs);
	free(s->view_nodes);
	free(s->view_migs);
}

static int node_add(Node *n, uint32_t ct)
{
	if (n->n == n->cap) {
		size_t ncap = MAX(n->cap * 2, (size_t)8);
		uint32_t *a = realloc(n->cts, ncap * sizeof(uint32_t));

		if (!a)
			return -ENOMEM;
		n->cts = a;
		n->cap = ncap;
	}
	n->cts[n->n++] = ct;
	return 0;
}

static void node_remove(Node *n, uint32_t ct)
{
	for (size_t i = 0; i < n->n; i++)
		if (n->cts[i] == ct) {
			memmove(n->cts + i, n->cts + i + 1, (n->n - i - 1) * sizeof(uint32_t));
			n->n--;
			return;
		}
}

static bool ct_down(const Sim *s, const Ct *ct)
{
	return (ct->restarting || ct->migrating) && s->t >= ct->down_from && s->t < ct->up_at;
}

static double util(const Sim *s, const Node *n, int r)
{
	return n->used[r] / (r == 0 ? s->c->node_cpu : s->c->node_memory) * 100;
}

static double score(const Sim *s, const Node *n)
{
	return MAX(util(s, n, 0), util(s, n, 1));
}

static int config_validate(const SimConfig *c, const SimTraceSet *t, ErrorDetail *err)
{
	if (!c->policy)
		return error_detail_set_errno(err, -EINVAL, "no scheduler policy");
	if (c->n_nodes < 2 || c->n_nodes > 10000000 || c->n_containers > 100000000)
		return error_detail_set_errno(err, -EINVAL,
		                              "nodes must be 2..10000000, containers at most "
		                              "100000000");
	if (!t || t->n == 0)
		return error_detail_set_errno(err, -EINVAL, "no traces");
	if (!(c->node_cpu > 0) || !(c->node_memory > 0) || !(c->node_bandwidth > 0) ||
	    !(c->container_cpu > 0) || !(c->container_memory > 0) || !isfinite(c->node_cpu) ||
	    !isfinite(c->node_memory) || !isfinite(c->node_bandwidth) ||
	    !isfinite(c->container_cpu) || !isfinite(c->container_memory))
		return error_detail_set_errno(err, -EINVAL, "sizes and capacities must be > 0");
	if (c->step_usec == 0 || c->trace_step_usec == 0 || c->duration_usec < c->step_usec)
		return error_detail_set_errno(err, -EINVAL,
		                              "steps must be > 0 and the duration at least a step");
	if (c->trace_step_usec > SIM_STEP_USEC_MAX || c->step_usec > SIM_STEP_USEC_MAX ||
	    c->duration_usec / c->step_usec > SIM_STEPS_MAX)
		return error_detail_set_errno(err, -EINVAL,
		                              "steps must be at most a day, and at most %u of them",
		                              SIM_STEPS_MAX);
	if (c->incus_interval_usec == 0 || c->descheduler_interval_usec == 0)
		return error_detail_set_errno(err, -EINVAL, "policy intervals must be > 0");
	if (!isfinite(c->restart_sec) || c->restart_sec < 0 || !isfinite(c->incus_threshold) ||
	    c->incus_threshold < 0)
		return error_detail_set_errno(err, -EINVAL,
		                              "restart time and Incus threshold must be ≥ 0");
	for (int r = 0; r < 2; r++)
		if (!(c->descheduler_low[r] > 0) || !(c->descheduler_target[r] <= 100) ||
		    c->descheduler_low[r] > c->descheduler_target[r])
			return error_detail_set_errno(err, -EINVAL,
			                              "descheduler thresholds: 0 < low ≤ target ≤ "
			                              "100");
	for (size_t i = 0; c->placement && i < c->n_containers; i++)
		if (c->placement[i].trace >= t->n || c->placement[i].node >= c->n_nodes)
			return error_detail_set_errno(err, -EINVAL,
			                              "placement of container %zu: no trace %u or "
			                              "node %u",
			                              i, c->placement[i].trace,
			                              c->placement[i].node);
	for (SimMode m = 0; m < _SIM_MODE_MAX; m++)
		if (c->timing[m].n == 0)
			return error_detail_set_errno(err, -EINVAL, "no timing for %s",
			                              sim_mode_to_string(m));
	return 0;
}

static int sim_init(Sim *s)
{
	const SimConfig *c = s->c;
	size_t n = c->n_nodes, m = c->n_containers;
	_cleanup_free_ uint32_t *perm = NULL;
	int r;

	s->rng = c->seed;
	s->cts = calloc(MAX(m, 1u), sizeof(Ct));
	s->nodes = calloc(n, sizeof(Node));
	s->ct_names = calloc(MAX(m, 1u), NAME_LEN);
	s->node_names = calloc(n, NAME_LEN);
	s->view_nodes = calloc(n, sizeof(SchedNode));
	perm = calloc(MAX(m, 1u), sizeof(uint32_t));
	if (!s->cts || !s->nodes || !s->ct_names || !s->node_names || !s->view_nodes || !perm)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		snprintf(s->node_names + i * NAME_LEN, NAME_LEN, "n%07u", (unsigned)i);
	for (size_t i = 0; i < m; i++) {
		Ct *ct = &s->cts[i];

		snprintf(s->ct_names + i * NAME_LEN, NAME_LEN, "c%07u", (unsigned)i);
		if (c->placement) {
			ct->trace = c->placement[i].trace;
			ct->node = c->placement[i].node;
			r = node_add(&s->nodes[ct->node], (uint32_t)i);
			if (r < 0)
				return r;
			continue;
		}
		ct->trace = (uint32_t)(rng_next(&s->rng) % s->traces->n);
		ct->offset_usec =
		        rng_next(&s->rng) % (s->traces->traces[ct->trace].n * c->trace_step_usec);
		perm[i] = (uint32_t)i;
	}
	if (c->placement)
		return 0;
	/* Initial placement: the same number of containers on every node (±1), the containers
	 * shuffled, as a scheduler spreading by count would. */
	for (size_t i = m; i > 1; i--) {
		size_t j = rng_next(&s->rng) % i;
		uint32_t x = perm[i - 1];

		perm[i - 1] = perm[j];
		perm[j] = x;
	}
	for (size_t j = 0; j < m; j++) {
		s->cts[perm[j]].node = (uint32_t)(j % n);
		r = node_add(&s->nodes[j % n], perm[j]);
		if (r < 0)
			return r;
	}
	return 0;
}

/* ---- moves ---- */

static int mig_push(Sim *s, const Mig *g)
{
	if (s->n_migs == s->cap_migs) {
		size_t ncap = MAX(s->cap_migs * 2, (size_t)64);
		Mig *a = realloc(s->migs, ncap * sizeof(Mig));

		if (!a)
			return -ENOMEM;
		s->migs = a;
		s->cap_migs = ncap;
	}
	s->migs[s->n_migs++] = *g;
	return 0;
}

static int move_log(Sim *s, uint32_t i, uint32_t src, uint32_t tgt, bool eviction)
{
	SimResult *r = s->res;

	if ((r->n_moves & (r->n_moves + 1)) == 0) {
		/* grow at 0, 1, 3, 7, ...: capacity is the next power of two */
		SimMove *a = realloc(r->moves, (r->n_moves + 1) * 2 * sizeof(SimMove));

		if (!a)
			return -ENOMEM;
		r->moves = a;
	}
	r->moves[r->n_moves++] = (SimMove){
		.t_sec = s->t, .container = i, .source = src, .target = tgt, .eviction = eviction
	};
	return 0;
}

static int migrate(Sim *s, uint32_t i, uint32_t tgt, SimMode mode)
{
	Ct *ct = &s->cts[i];
	double down, total, mem = ct->demand[1];
	Mig g;

	sim_timing_eval(&s->c->timing[mode], mem / MIB, &down, &total);
	g = (Mig){ .ct = i,
		   .src = ct->node,
		   .tgt = tgt,
		   .start = s->t,
		   .end = s->t + total,
		   .downtime = down };
	ct->migrating = true;
	ct->target = tgt;
	ct->down_from = s->t + total - down;
	ct->up_at = s->t + total;
	s->res->migrations++;
	s->res->gib_moved += mem / GIB;
	s->res->downtime_sec += down;
	if (move_log(s, i, g.src, tgt, false) < 0)
		return -ENOMEM;
	return mig_push(s, &g);
}

/* Eviction: the container is killed and started again on `tgt`; its work is lost. */
static int evict(Sim *s, uint32_t i, uint32_t tgt)
{
	Ct *ct = &s->cts[i];

	if (move_log(s, i, ct->node, tgt, true) < 0)
		return -ENOMEM;
	node_remove(&s->nodes[ct->node], i);
	ct->node = tgt;
	ct->restarting = true;
	ct->down_from = s->t;
	ct->up_at = s->t + s->c->restart_sec;
	s->res->restarts++;
	s->res->lost_core_sec += ct->work_core_sec;
	ct->work_core_sec = 0;
	return node_add(&s->nodes[tgt], i);
}

/* Migrations that have ended: the containers run on their targets. */
static int finish(Sim *s)
{
	for (size_t k = 0; k < s->n_migs; k++) {
		Mig *g = &s->migs[k];
		Ct *ct = &s->cts[g->ct];
		int r;

		if (!ct->migrating || g->end > s->t || ct->up_at != g->end)
			continue;
		node_remove(&s->nodes[g->src], g->ct);
		ct->node = g->tgt;
		ct->migrating = false;
		r = node_add(&s->nodes[g->tgt], g->ct);
		if (r < 0)
			return r;
	}
	return 0;
}

/* ---- one step's loads and metrics ---- */

static void load_and_measure(Sim *s, size_t step)
{
	const SimConfig *c = s->c;
	double step_sec = (double)c->step_usec / USEC_PER_SEC_F;
	uint64_t t_usec = (uint64_t)(s->t * USEC_PER_SEC_F + 0.5);
	double sum[2] = {}, sum2[2] = {};
	unsigned over = 0, over_thr = 0;
	uint64_t now = EPOCH_USEC + (uint64_t)(s->t * USEC_PER_SEC_F + 0.5);

	for (size_t i = 0; i < c->n_nodes; i++)
		s->nodes[i].used[0] = s->nodes[i].used[1] = 0;
	for (size_t i = 0; i < c->n_containers; i++) {
		Ct *ct = &s->cts[i];
		const SimTrace *tr = &s->traces->traces[ct->trace];
		size_t k = (size_t)((ct->offset_usec + t_usec) / c->trace_step_usec);

		k = c->hold_last ? MIN(k, tr->n - 1) : k % tr->n;

		if (ct->restarting && s->t >= ct->up_at)
			ct->restarting = false;
		ct->demand[0] = tr->cpu[k] / 100.0 * c->container_cpu;
		ct->demand[1] = tr->mem[k] / 100.0 * c->container_memory;
		if (ct_down(s, ct))
			continue;
		s->nodes[ct->node].used[0] += ct->demand[0];
		s->nodes[ct->node].used[1] += ct->demand[1];
		ct->work_core_sec += ct->demand[0] * step_sec;
	}
	for (size_t i = 0; i < c->n_nodes; i++) {
		Node *n = &s->nodes[i];
		double u0 = util(s, n, 0), u1 = util(s, n, 1);
		SchedSample smp = { .timestamp_usec = now, .percent = { u0, u1, 0 } };

		if (n->n_samples == SCHED_SAMPLES_MAX) {
			memmove(n->samples, n->samples + 1,
			        (SCHED_SAMPLES_MAX - 1) * sizeof(SchedSample));
			n->n_samples--;
		}
		n->samples[n->n_samples++] = smp;
		over += u0 > 100 || u1 > 100;
		over_thr += u0 > s->policy.threshold[PLACEMENT_CPU] ||
		            u1 > s->policy.threshold[PLACEMENT_MEMORY];
		sum[0] += u0;
		sum[1] += u1;
		sum2[0] += u0 * u0;
		sum2[1] += u1 * u1;
	}
	s->res->overloaded[step] = over;
	s->res->over_threshold[step] = over_thr;
	s->res->overload_node_sec += over * step_sec;
	s->res->over_threshold_node_sec += over_thr * step_sec;
	for (int r = 0; r < 2; r++) {
		double mean = sum[r] / (double)c->n_nodes;
		double var = MAX(0.0, sum2[r] / (double)c->n_nodes - mean * mean);

		if (r == 0)
			s->res->spread_cpu += sqrt(var);
		else
			s->res->spread_mem += sqrt(var);
	}
}

/* ---- podmig: the scheduler library ---- */

static int act_podmig(Sim *s)
{
	const SimConfig *c = s->c;
	uint64_t now = EPOCH_USEC + (uint64_t)(s->t * USEC_PER_SEC_F + 0.5);
	uint64_t keep = MAX(MAX(s->policy.container_cooldown_sec, s->policy.node_cooldown_sec),
	                    s->policy.return_cooldown_sec);
	_cleanup_sched_plan_ SchedPlan *plan = NULL;
	size_t n_view_migs = 0, kept = 0;
	SchedView view;
	int r;

	for (size_t i = 0; i < c->n_nodes; i++) {
		Node *n = &s->nodes[i];

		if (n->view_cap < n->n) {
			SchedContainer *a = realloc(n->view, n->n * sizeof(SchedContainer));

			if (!a)
				return -ENOMEM;
			n->view = a;
			n->view_cap = n->n;
		}
		for (size_t k = 0; k < n->n; k++) {
			const Ct *ct = &s->cts[n->cts[k]];

			n->view[k] = (SchedContainer){
				.name = s->ct_names + (size_t)n->cts[k] * NAME_LEN,
				.running = !ct_down(s, ct),
				.demand = { ct->demand[0], ct->demand[1], 0 },
				.memory_bytes = ct->demand[1],
			};
		}
		s->view_nodes[i] = (SchedNode){
			.name = s->node_names + i * NAME_LEN,
			.capacity = { c->node_cpu, c->node_memory, c->node_bandwidth },
			.used = { n->used[0], n->used[1], 0 },
			.interval_usec = c->step_usec,
			.samples = n->samples,
			.n_samples = n->n_samples,
			.containers = n->view,
			.n_containers = n->n,
		};
	}

	/* Forget migrations no cooldown looks at any more. */
	for (size_t k = 0; k < s->n_migs; k++) {
		const Mig *g = &s->migs[k];

		if (g->end <= s->t && s->t - g->end >= (double)keep)
			continue;
		s->migs[kept++] = *g;
	}
	s->n_migs = kept;
	free(s->view_migs);
	s->view_migs = calloc(MAX(s->n_migs, 1u), sizeof(SchedMigration));
	if (!s->view_migs)
		return -ENOMEM;
	for (size_t k = 0; k < s->n_migs; k++) {
		const Mig *g = &s->migs[k];
		bool done = g->end <= s->t;

		s->view_migs[n_view_migs++] = (SchedMigration){
			.container = s->ct_names + (size_t)g->ct * NAME_LEN,
			.source = s->node_names + (size_t)g->src * NAME_LEN,
			.target = s->node_names + (size_t)g->tgt * NAME_LEN,
			.state = done ? SCHED_MIGRATION_DONE : SCHED_MIGRATION_ACTIVE,
			.automatic = true,
			.started_usec = EPOCH_USEC + (uint64_t)(g->start * USEC_PER_SEC_F + 0.5),
			.ended_usec =
			        done ? EPOCH_USEC + (uint64_t)(g->end * USEC_PER_SEC_F + 0.5) : 0,
			.downtime_sec = g->downtime,
		};
	}

	view = (SchedView){ .nodes = s->view_nodes,
		            .n_nodes = c->n_nodes,
		            .migrations = s->view_migs,
		            .n_migrations = n_view_migs };
	r = sched_decide(&view, &s->policy, now, &plan);
	if (r < 0)
		return r;
	for (size_t d = 0; d < plan->n_decisions; d++) {
		const SchedDecision *dec = &plan->decisions[d];

		if (dec->outcome != SCHED_OUTCOME_MIGRATE)
			continue;
		for (size_t k = 0; k < dec->n_moves; k++) {
			uint32_t i = (uint32_t)((size_t)(dec->moves[k].container - s->ct_names) /
			                        NAME_LEN);
			uint32_t t = (uint32_t)((size_t)(dec->moves[k].target - s->node_names) /
			                        NAME_LEN);

			r = migrate(s, i, t, SIM_MODE_PODMIG);
			if (r < 0)
				return r;
		}
	}
	return 0;
}

/* ---- Incus: cluster.rebalance ---- */

static bool every(const Sim *s, uint64_t interval_usec)
{
	uint64_t t = (uint64_t)(s->t * USEC_PER_SEC_F + 0.5);

	return t % interval_usec < s->c->step_usec;
}

/* Each interval, if the busiest node's score (the larger of CPU and memory use, percent)
 * exceeds the least busy one's by more than the threshold, move the one instance that
 * brings the pair closest, unless a move of an earlier interval is still under way. */
static int act_incus(Sim *s)
{
	const SimConfig *c = s->c;
	size_t busiest = 0, least = 0;
	double best = INFINITY;
	ssize_t pick = -1;

	if (!every(s, c->incus_interval_usec))
		return 0;
	for (size_t k = 0; k < s->n_migs; k++)
		if (s->cts[s->migs[k].ct].migrating)
			return 0;
	for (size_t i = 1; i < c->n_nodes; i++) {
		if (score(s, &s->nodes[i]) > score(s, &s->nodes[busiest]))
			busiest = i;
		if (score(s, &s->nodes[i]) < score(s, &s->nodes[least]))
			least = i;
	}
	if (score(s, &s->nodes[busiest]) - score(s, &s->nodes[least]) <= c->incus_threshold)
		return 0;
	for (size_t k = 0; k < s->nodes[busiest].n; k++) {
		const Ct *ct = &s->cts[s->nodes[busiest].cts[k]];
		Node b = s->nodes[busiest], l = s->nodes[least];
		double after;

		if (ct_down(s, ct))
			continue;
		for (int r = 0; r < 2; r++) {
			b.used[r] -= ct->demand[r];
			l.used[r] += ct->demand[r];
		}
		after = MAX(score(s, &b), score(s, &l));
		if (after < best) {
			best = after;
			pick = (ssize_t)s->nodes[busiest].cts[k];
		}
	}
	if (pick < 0 || best >= score(s, &s->nodes[busiest]))
		return 0;
	return migrate(s, (uint32_t)pick, (uint32_t)least, SIM_MODE_MANUAL);
}

/* ---- descheduler: LowNodeUtilization ---- */

typedef struct Heap {
	uint32_t *v;
	size_t n;
	const Sim *s;
} Heap;

static bool heap_less(const Heap *h, size_t a, size_t b)
{
	double sa = score(h->s, &h->s->nodes[h->v[a]]), sb = score(h->s, &h->s->nodes[h->v[b]]);

	return sa < sb || (sa == sb && h->v[a] < h->v[b]);
}

static void heap_swap(Heap *h, size_t a, size_t b)
{
	uint32_t x = h->v[a];

	h->v[a] = h->v[b];
	h->v[b] = x;
}

static void heap_down(Heap *h, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, m = i;

		if (l < h->n && heap_less(h, l, m))
			m = l;
		if (l + 1 < h->n && heap_less(h, l + 1, m))
			m = l + 1;
		if (m == i)
			return;
		heap_swap(h, i, m);
		i = m;
	}
}

static bool over_target(const Sim *s, const Node *n)
{
	return util(s, n, 0) > s->c->descheduler_target[0] ||
	       util(s, n, 1) > s->c->descheduler_target[1];
}

static int cmp_score_desc(const void *a, const void *b, void *userdata)
{
	const Sim *s = userdata;
	double x = score(s, &s->nodes[*(const uint32_t *)a]),
	       y = score(s, &s->nodes[*(const uint32_t *)b]);

	return (x < y) - (x > y);
}

static int cmp_demand_desc(const void *a, const void *b, void *userdata)
{
	const Sim *s = userdata;
	const Ct *x = &s->cts[*(const uint32_t *)a], *y = &s->cts[*(const uint32_t *)b];
	double dx = MAX(x->demand[0] / s->c->node_cpu, x->demand[1] / s->c->node_memory);
	double dy = MAX(y->demand[0] / s->c->node_cpu, y->demand[1] / s->c->node_memory);

	return (dx < dy) - (dx > dy);
}

/* Each interval: nodes with every resource under the low thresholds are underutilised, nodes
 * with one above the target thresholds overutilised. From the overutilised (busiest first),
 * pods are evicted (the largest first) until the node is back under its target thresholds
 * or no underutilised node can take more. The kube-scheduler starts each evicted pod on the
 * least loaded underutilised node; a node leaves that pool once a pod would take it over its
 * target thresholds. */
static int act_descheduler(Sim *s)
{
	const SimConfig *c = s->c;
	_cleanup_free_ uint32_t *under = NULL, *over = NULL, *cand = NULL;
	size_t n_under = 0, n_over = 0;
	Heap h;
	int r;

	if (!every(s, c->descheduler_interval_usec))
		return 0;
	under = calloc(c->n_nodes, sizeof(uint32_t));
	over = calloc(c->n_nodes, sizeof(uint32_t));
	if (!under || !over)
		return -ENOMEM;
	for (size_t i = 0; i < c->n_nodes; i++) {
		const Node *n = &s->nodes[i];

		if (util(s, n, 0) < c->descheduler_low[0] && util(s, n, 1) < c->descheduler_low[1])
			under[n_under++] = (uint32_t)i;
		else if (over_target(s, n))
			over[n_over++] = (uint32_t)i;
	}
	if (n_under == 0 || n_over == 0)
		return 0;
	qsort_r(over, n_over, sizeof(uint32_t), cmp_score_desc, s);
	h = (Heap){ .v = under, .n = n_under, .s = s };
	for (size_t i = n_under / 2 + 1; i-- > 0;)
		heap_down(&h, i);

	for (size_t k = 0; k < n_over && h.n > 0; k++) {
		Node *o = &s->nodes[over[k]];
		size_t n_cand = 0;

		free(cand);
		cand = calloc(MAX(o->n, 1u), sizeof(uint32_t));
		if (!cand)
			return -ENOMEM;
		for (size_t j = 0; j < o->n; j++)
			if (!ct_down(s, &s->cts[o->cts[j]]) && !s->cts[o->cts[j]].migrating)
				cand[n_cand++] = o->cts[j];
		qsort_r(cand, n_cand, sizeof(uint32_t), cmp_demand_desc, s);
		for (size_t j = 0; j < n_cand && over_target(s, o) && h.n > 0;) {
			Ct *ct = &s->cts[cand[j]];
			Node *t = &s->nodes[h.v[0]];
			Node after = *t;

			for (int q = 0; q < 2; q++)
				after.used[q] += ct->demand[q];
			if (over_target(s, &after)) {
				/* full: out of the pool */
				h.v[0] = h.v[--h.n];
				heap_down(&h, 0);
				continue;
			}
			for (int q = 0; q < 2; q++) {
				o->used[q] -= ct->demand[q];
				t->used[q] += ct->demand[q];
			}
			r = evict(s, cand[j], h.v[0]);
			if (r < 0)
				return r;
			heap_down(&h, 0);
			j++;
		}
	}
	return 0;
}

int sim_run(const SimConfig *c, const SimTraceSet *traces, SimPolicyKind kind, SimResult *ret,
            ErrorDetail *err)
{
	_cleanup_(sim_result_done) SimResult res = { .kind = kind };
	Sim s = { .c = c, .traces = traces, .kind = kind, .res = &res };
	size_t n_steps;
	int r;

	if (!c || !ret || (unsigned)kind >= _SIM_POLICY_MAX)
		return -EINVAL;
	r = config_validate(c, traces, err);
	if (r < 0)
		return r;
	s.policy = *c->policy;
	if (kind == SIM_POLICY_LEAST_LOADED)
		s.policy.solver = PLACEMENT_SOLVER_LEAST_LOADED;
	if (kind == SIM_POLICY_PREDICTIVE)
		s.policy.predict_samples = c->predict_samples;

	n_steps = (size_t)(c->duration_usec / c->step_usec);
	res.n_steps = n_steps;
	res.overloaded = calloc(n_steps, sizeof(unsigned));
	res.over_threshold = calloc(n_steps, sizeof(unsigned));
	if (!res.overloaded || !res.over_threshold)
		return -ENOMEM;
	r = sim_init(&s);
	for (size_t k = 0; r >= 0 && k < n_steps; k++) {
		double t0;

		s.t = (double)k * ((double)c->step_usec / USEC_PER_SEC_F);
		r = finish(&s);
		if (r < 0)
			break;
		load_and_measure(&s, k);
		t0 = mono_sec();
		switch (kind) {
		case SIM_POLICY_NONE:
			break;
		case SIM_POLICY_INCUS:
			r = act_incus(&s);
			break;
		case SIM_POLICY_DESCHEDULER:
			r = act_descheduler(&s);
			break;
		default:
			r = act_podmig(&s);
		}
		t0 = (mono_sec() - t0) * 1000;
		res.decide_ms_total += t0;
		res.decide_ms_max = MAX(res.decide_ms_max, t0);
	}
	sim_done(&s);
	if (r < 0)
		return r == -EINVAL
		               ? error_detail_set_errno(err, r, "the scheduler refused the view")
		               : r;
	if (n_steps > 0) {
		res.spread_cpu /= (double)n_steps;
		res.spread_mem /= (double)n_steps;
	}
	*ret = res;
	res = (SimResult){};
	return 0;
}
