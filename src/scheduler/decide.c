/* decide.c — sched_decide(): verdicts, which nodes act and in what order, candidates,
 * selection, placement, and the sentence that explains each decision (rules 1-4 of
 * scheduler.h). Pure: the caller passes the view, the policy and the time. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "macro.h"
#include "scheduler-internal.h"
#include "string-table.h"
#include "strutil.h"

#define USEC_PER_SEC 1000000ull
/* Wall-clock budget of one solver run. */
#define SOLVE_TIME_LIMIT_MS 500
/* Containers named in a NO_CANDIDATE sentence, targets in a NOTHING_FITS one. */
#define WHY_CONTAINERS_MAX 8
#define WHY_TARGETS_MAX    3

/* ---- a growing string for the `why` sentences ---- */

typedef struct Buf {
	char *s;
	size_t len, cap;
	bool oom;
} Buf;

static _printf_(2, 3) void buf_printf(Buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->oom)
		return;
	va_start(ap, fmt);
	n = vsnprintf(b->s ? b->s + b->len : NULL, b->s ? b->cap - b->len : 0, fmt, ap);
	va_end(ap);
	if (n < 0) {
		b->oom = true;
		return;
	}
	if (!b->s || b->len + (size_t)n >= b->cap) {
		size_t cap = MAX(b->cap * 2, b->len + (size_t)n + 128);
		char *s = realloc(b->s, cap);

		if (!s) {
			b->oom = true;
			return;
		}
		b->s = s;
		b->cap = cap;
		va_start(ap, fmt);
		n = vsnprintf(b->s + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
	}
	b->len += (size_t)n;
}

/* The string, or -ENOMEM (and nothing to free). */
static int buf_take(Buf *b, char **ret)
{
	if (b->oom || !b->s) {
		free(b->s);
		*b = (Buf){};
		return -ENOMEM;
	}
	*ret = TAKE_PTR(b->s);
	*b = (Buf){};
	return 0;
}

static void buf_done(Buf *b)
{
	free(b->s);
	*b = (Buf){};
}

static const char *const resource_labels[SCHED_RESOURCES] = {
	[PLACEMENT_CPU] = "CPU",
	[PLACEMENT_MEMORY] = "memory",
	[PLACEMENT_NETWORK] = "network",
};

static void format_bytes(char buf[static 32], double bytes)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB" };
	size_t u = 0;

	while (bytes >= 1024 && u + 1 < ELEMENTSOF(units)) {
		bytes /= 1024;
		u++;
	}
	snprintf(buf, 32, u == 0 ? "%.0f %s" : "%.1f %s", bytes, units[u]);
}

/* "cpuhog-a (0.45 cores, 2.1 MiB)" */
static void buf_container(Buf *b, const SchedContainer *ct)
{
	char mem[32];

	format_bytes(mem, ct->demand[PLACEMENT_MEMORY]);
	buf_printf(b, "%s (%.3g core%s, %s)", ct->name, ct->demand[PLACEMENT_CPU],
	           ct->demand[PLACEMENT_CPU] == 1 ? "" : "s", mem);
}

/* ---- validation ---- */

static bool finite_nonneg(double x)
{
	return isfinite(x) && x >= 0;
}

static bool valid_threshold(double t)
{
	return isfinite(t) && t > 0 && t <= 100;
}

static int policy_validate(const SchedPolicy *p)
{
	double wsum = 0;

	if (!p || (unsigned)p->mode >= _SCHED_MODE_MAX || p->window < 1 ||
	    p->window > SCHED_SAMPLES_MAX || !finite_nonneg(p->margin) ||
	    (unsigned)p->solver >= _PLACEMENT_SOLVER_MAX || (p->n_overrides > 0 && !p->overrides))
		return -EINVAL;
	for (PlacementResource r = 0; r < SCHED_RESOURCES; r++) {
		if (!valid_threshold(p->threshold[r]) || !finite_nonneg(p->weights.resource[r]))
			return -EINVAL;
		wsum += p->weights.resource[r];
	}
	if (wsum <= 0 || !finite_nonneg(p->weights.imbalance) ||
	    !finite_nonneg(p->weights.migration))
		return -EINVAL;
	for (size_t i = 0; i < p->n_overrides; i++) {
		if (!p->overrides[i].node)
			return -EINVAL;
		for (PlacementResource r = 0; r < SCHED_RESOURCES; r++)
			if (!isnan(p->overrides[i].threshold[r]) &&
			    !valid_threshold(p->overrides[i].threshold[r]))
				return -EINVAL;
	}
	return 0;
}

static int node_validate(const SchedNode *n)
{
	if (!n->name || n->interval_usec == 0 ||
	    n->interval_usec > UINT64_MAX / SCHED_STALE_INTERVALS ||
	    (n->n_samples > 0 && !n->samples) || (n->n_containers > 0 && !n->containers))
		return -EINVAL;
	for (PlacementResource r = 0; r < SCHED_RESOURCES; r++)
		if (!isfinite(n->capacity[r]) || n->capacity[r] <= 0 || !finite_nonneg(n->used[r]))
			return -EINVAL;
	for (size_t i = 0; i < n->n_samples; i++)
		for (PlacementResource r = 0; r < SCHED_RESOURCES; r++)
			if (!finite_nonneg(n->samples[i].percent[r]))
				return -EINVAL;
	for (size_t i = 0; i < n->n_containers; i++) {
		const SchedContainer *c = &n->containers[i];

		if (!c->name || !finite_nonneg(c->memory_bytes))
			return -EINVAL;
		for (PlacementResource r = 0; r < SCHED_RESOURCES; r++)
			if (!finite_nonneg(c->demand[r]))
				return -EINVAL;
	}
	return 0;
}

static int view_validate(const SchedView *v)
{
	if (!v || (v->n_nodes > 0 && !v->nodes) || (v->n_migrations > 0 && !v->migrations))
		return -EINVAL;
	for (size_t i = 0; i < v->n_nodes; i++)
		if (node_validate(&v->nodes[i]) < 0)
			return -EINVAL;
	for (size_t i = 0; i < v->n_migrations; i++) {
		const SchedMigration *m = &v->migrations[i];

		if (!m->container || !m->source || !m->target ||
		    (unsigned)m->state >= _SCHED_MIGRATION_STATE_MAX ||
		    !finite_nonneg(m->downtime_sec))
			return -EINVAL;
	}
	return 0;
}

/* ---- the working state of one sched_decide() call ---- */

typedef struct NodeWork {
	double load[SCHED_RESOURCES];  /* used + in flight to it + moved to it in this plan */
	double limit[SCHED_RESOURCES]; /* threshold × capacity */
	unsigned busy;                 /* migrations under way or planned that it takes part in */
	uint64_t last_usec;            /* newest start or end of such a migration; 0: none */
	bool in_targets;               /* in the current decision's target list */
} NodeWork;

typedef struct Ctx {
	const SchedView *view;
	const SchedPolicy *policy;
	uint64_t now;
	SchedPlan *plan;
	NodeWork *work;
	size_t *by_name;      /* node indices sorted by name */
	size_t *by_container; /* migration indices sorted by container */
	unsigned busy;        /* migrations under way or planned in the cluster */
	/* the current decision's targets: least full first, then the extras */
	size_t *targets;
	size_t n_targets;
	size_t n_eligible;
	size_t target_slots; /* sum of the eligible targets' free slots */
	double best_bandwidth;
	/* why there are no targets */
	size_t n_full, n_stale, n_drained, n_overloaded;
} Ctx;

static int cmp_node_name(const void *a, const void *b, void *userdata)
{
	const SchedView *v = userdata;
	return strcmp(v->nodes[*(const size_t *)a].name, v->nodes[*(const size_t *)b].name);
}

static int cmp_migration_container(const void *a, const void *b, void *userdata)
{
	const SchedView *v = userdata;
	int r = strcmp(v->migrations[*(const size_t *)a].container,
	               v->migrations[*(const size_t *)b].container);
	return r != 0 ? r
	              : (*(const size_t *)a > *(const size_t *)b) -
	                        (*(const size_t *)a < *(const size_t *)b);
}

static ssize_t find_node(const Ctx *c, const char *name)
{
	size_t lo = 0, hi = c->view->n_nodes;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int r = strcmp(c->view->nodes[c->by_name[mid]].name, name);

		if (r == 0)
			return (ssize_t)c->by_name[mid];
		if (r < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

/* The migrations of `container`: by_container[*ret_first .. *ret_first + return). */
static size_t find_migrations(const Ctx *c, const char *container, size_t *ret_first)
{
	size_t lo = 0, hi = c->view->n_migrations, end;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (strcmp(c->view->migrations[c->by_container[mid]].container, container) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (end = lo; end < c->view->n_migrations &&
	               streq(c->view->migrations[c->by_container[end]].container, container);
	     end++)
		;
	*ret_first = lo;
	return end - lo;
}

static bool within(const Ctx *c, uint64_t t_usec, uint64_t seconds)
{
	uint64_t age = c->now > t_usec ? c->now - t_usec : 0;

	if (seconds > UINT64_MAX / USEC_PER_SEC)
		return true;
	return age < seconds * USEC_PER_SEC;
}

static uint64_t ended_or_started(const SchedMigration *m)
{
	return m->ended_usec > 0 ? m->ended_usec : m->started_usec;
}

static const SchedContainer *find_container(const SchedNode *n, const char *name)
{
	for (size_t i = 0; i < n->n_containers; i++)
		if (streq(n->containers[i].name, name))
			return &n->containers[i];
	return NULL;
}

static unsigned slots_left(unsigned limit, unsigned busy)
{
	return busy < limit ? limit - busy : 0;
}

static unsigned node_slots(const Ctx *c, size_t i)
{
	return slots_left(c->policy->max_concurrent_per_node, c->work[i].busy);
}

static double fullness(const NodeWork *w)
{
	double f = 0;

	for (PlacementResource r = 0; r < SCHED_RESOURCES; r++)
		f = MAX(f, w->load[r] / w->limit[r]);
	return f;
}

static bool fits(const Ctx *c, size_t t, const double demand[SCHED_RESOURCES])
{
	const NodeWork *w = &c->work[t];

	for (PlacementResource r = 0; r < SCHED_RESOURCES; r++)
		if (w->load[r] + demand[r] >
		    w->limit[r] + PLACEMENT_FEASIBILITY_TOLERANCE * c->view->nodes[t].capacity[r])
			return false;
	return true;
}

/* Why `container` may not go to node t (return cooldown), or NULL. */
static const char *forbidden(const Ctx *c, const char *container, size_t t)
{
	const char *name = c->view->nodes[t].name;
	size_t first, n = find_migrations(c, container, &first);

	for (size_t k = first; k < first + n; k++) {
		const SchedMigration *m = &c->view->migrations[c->by_container[k]];

		if (!within(c, ended_or_started(m), c->policy->return_cooldown_sec))
			continue;
		if (m->state == SCHED_MIGRATION_DONE && streq(m->source, name))
			return "it left it";
		if (m->state == SCHED_MIGRATION_UNDONE && m->automatic && streq(m->target, name))
			return "its migration there was rolled back";
	}
	return NULL;
}

static bool eligible(const Ctx *c, size_t s, size_t t)
{
	return t != s && c->plan->verdicts[t].state == SCHED_NODE_OK && node_slots(c, t) > 0;
}

/* The eligible targets of source s, the SCHED_TARGETS_MAX least full in order. */
static void collect_targets(Ctx *c, size_t s)
{
	double keys[SCHED_TARGETS_MAX];

	c->n_targets = c->n_eligible = c->target_slots = 0;
	c->n_full = c->n_stale = c->n_drained = c->n_overloaded = 0;
	c->best_bandwidth = 0;
	for (size_t t = 0; t < c->view->n_nodes; t++) {
		SchedNodeState st = c->plan->verdicts[t].state;
		double f;
		size_t k;

		if (t == s)
			continue;
		if (st != SCHED_NODE_OK) {
			c->n_stale += st == SCHED_NODE_STALE;
			c->n_drained += st == SCHED_NODE_DRAINED;
			c->n_overloaded += st == SCHED_NODE_OVERLOADED;
			continue;
		}
		if (node_slots(c, t) == 0) {
			c->n_full++;
			continue;
		}
		c->n_eligible++;
		c->target_slots += node_slots(c, t);
		c->best_bandwidth =
		        MAX(c->best_bandwidth, c->view->nodes[t].capacity[PLACEMENT_NETWORK]);

		f = fullness(&c->work[t]);
		if (c->n_targets == SCHED_TARGETS_MAX && f >= keys[SCHED_TARGETS_MAX - 1])
			continue;
		for (k = MIN(c->n_targets, (size_t)SCHED_TARGETS_MAX - 1); k > 0 && keys[k - 1] > f;
		     k--) {
			keys[k] = keys[k - 1];
			c->targets[k] = c->targets[k - 1];
		}
		keys[k] = f;
		c->targets[k] = t;
		c->n_targets = MIN(c->n_targets + 1, (size_t)SCHED_TARGETS_MAX);
	}
	for (size_t k = 0; k < c->n_targets; k++)
		c->work[c->targets[k]].in_targets = true;
}

static void release_targets(Ctx *c)
{
	for (size_t k = 0; k < c->n_targets; k++)
		c->work[c->targets[k]].in_targets = false;
	c->n_targets = 0;
}

/* Does the container fit alone on an eligible target open to it? One beyond the target list
 * that takes it joins the list. */
static bool fits_somewhere(Ctx *c, size_t s, const SchedContainer *ct)
{
	for (size_t k = 0; k < c->n_targets; k++)
		if (fits(c, c->targets[k], ct->demand) && !forbidden(c, ct->name, c->targets[k]))
			return true;
	if (c->n_targets >= c->n_eligible)
		return false;
	for (size_t t = 0; t < c->view->n_nodes; t++)
		if (!c->work[t].in_targets && eligible(c, s, t) && fits(c, t, ct->demand) &&
		    !forbidden(c, ct->name, t)) {
			c->work[t].in_targets = true;
			c->targets[c->n_targets++] = t;
			return true;
		}
	return false;
}

/* ---- the sentences ---- */

/* "node1 CPU 93% > 80% for 3 samples" or "node1 is drained" */
static void buf_trigger(Buf *b, const SchedDecision *d, const SchedPolicy *p)
{
	const SchedVerdict *v = d->verdict;
	bool first = true;

	if (d->drain) {
		buf_printf(b, "%s is drained", d->node);
		return;
	}
	buf_printf(b, "%s", d->node);
	for (unsigned k = 0; k < SCHED_RESOURCES; k++) {
		/* the trigger resource first */
		PlacementResource r = k == 0 ? d->resource : (k <= d->resource ? k - 1 : k);
		double newest = v->n_window > 0 ? v->window[r][v->n_window - 1] : 0;

		if (!v->overloaded[r])
			continue;
		buf_printf(b, "%s %s %.0f%%", first ? "" : ",", resource_labels[r], newest);
		if (v->predicted[r])
			buf_printf(b, " rising, predicted above %.0f%% within %u sample%s",
			           v->threshold[r], p->predict_samples,
			           p->predict_samples == 1 ? "" : "s");
		else if (v->run[r] > 0)
			buf_printf(b, " > %.0f%% for %u sample%s", v->threshold[r], v->run[r],
			           v->run[r] == 1 ? "" : "s");
		else
			buf_printf(b, " (was over %.0f%%, not yet below %.0f%%)", v->threshold[r],
			           v->threshold[r] - p->margin);
		first = false;
	}
}

/* "2 min" / "12 s" */
static void buf_age(Buf *b, const Ctx *c, uint64_t t_usec)
{
	uint64_t sec = (c->now > t_usec ? c->now - t_usec : 0) / USEC_PER_SEC;

	if (sec >= 120)
		buf_printf(b, "%" PRIu64 " min", sec / 60);
	else
		buf_printf(b, "%" PRIu64 " s", sec);
}

/* Why node t does not take `ct`: "node2 would reach 95% CPU > 80%". */
static void buf_refusal(Buf *b, const Ctx *c, size_t t, const SchedContainer *ct)
{
	const SchedNode *n = &c->view->nodes[t];
	const char *reason = forbidden(c, ct->name, t);

	if (reason) {
		buf_printf(b, "not %s (%s less than %" PRIu64 " s ago)", n->name, reason,
		           c->policy->return_cooldown_sec);
		return;
	}
	for (PlacementResource r = 0; r < SCHED_RESOURCES; r++)
		if (c->work[t].load[r] + ct->demand[r] >
		    c->work[t].limit[r] + PLACEMENT_FEASIBILITY_TOLERANCE * n->capacity[r]) {
			buf_printf(b, "%s would reach %.0f%% %s > %.0f%%", n->name,
			           (c->work[t].load[r] + ct->demand[r]) / n->capacity[r] * 100,
			           resource_labels[r], c->plan->verdicts[t].threshold[r]);
			return;
		}
	if (node_slots(c, t) == 0)
		buf_printf(b, "%s has no free migration slot", n->name);
	else
		buf_printf(b, "%s has room but not beside the others", n->name);
}

/* "no node can take c1 (0.6 cores, 1.0 GiB): node2 would reach 95% CPU > 80%, ..." */
static void buf_nothing_fits(Buf *b, const Ctx *c, const SchedContainer *ct)
{
	size_t shown = 0;

	buf_printf(b, "no node can take ");
	buf_container(b, ct);
	if (c->n_eligible == 0) {
		const struct {
			size_t n;
			const char *what;
		} parts[] = {
			{ c->n_stale, "stale" },
			{ c->n_drained, "drained" },
			{ c->n_overloaded, "overloaded" },
			{ c->n_full, "without a free migration slot" },
		};
		bool first = true;

		buf_printf(b, ": no other node can receive");
		for (size_t i = 0; i < ELEMENTSOF(parts); i++)
			if (parts[i].n > 0) {
				buf_printf(b, "%s%zu %s", first ? " (" : ", ", parts[i].n,
				           parts[i].what);
				first = false;
			}
		if (!first)
			buf_printf(b, ")");
		return;
	}
	/* Closed nodes first: they explain a refusal the loads do not. */
	for (int pass = 0; pass < 2; pass++)
		for (size_t k = 0; k < c->n_targets && shown < WHY_TARGETS_MAX; k++) {
			size_t t = c->targets[k];

			if ((pass == 0) != !!forbidden(c, ct->name, t))
				continue;
			buf_printf(b, shown == 0 ? ": " : ", ");
			buf_refusal(b, c, t, ct);
			shown++;
		}
	if (c->n_eligible > shown)
		buf_printf(b, " (and %zu more node%s)", c->n_eligible - shown,
		           c->n_eligible - shown == 1 ? "" : "s");
}

static PlacementResource trigger_resource(const SchedVerdict *v, bool drain)
{
	PlacementResource best = PLACEMENT_CPU;
	double best_severity = -INFINITY;

	for (PlacementResource r = 0; r < SCHED_RESOURCES; r++) {
		double newest = v->n_window > 0 ? v->window[r][v->n_window - 1] : 0;

		if (!drain && !v->overloaded[r])
			continue;
		if (newest - v->threshold[r] > best_severity) {
			best_severity = newest - v->threshold[r];
			best = r;
		}
	}
	return best;
}

static const char *const FITS_NOWHERE = "fits on no other node";

/* Why a container of the node is no candidate (before the fit), or NULL; and its mean
 * downtime in past migrations. A container whose newest migration moved it off this node
 * is listed only by a sample older than the move: it is not here. */
static const char *container_skip(const Ctx *c, const char *node, const SchedContainer *ct,
                                  bool drain, double *ret_downtime)
{
	size_t first, n = find_migrations(c, ct->name, &first);
	bool active = false, cooling = false;
	const SchedMigration *newest = NULL;
	double downtime = 0;
	unsigned done = 0;

	for (size_t k = first; k < first + n; k++) {
		const SchedMigration *m = &c->view->migrations[c->by_container[k]];

		if (!newest || m->started_usec > newest->started_usec)
			newest = m;
		if (m->state == SCHED_MIGRATION_ACTIVE)
			active = true;
		else if (m->ended_usec > 0 &&
		         within(c, m->ended_usec, c->policy->container_cooldown_sec))
			cooling = true;
		if (m->state == SCHED_MIGRATION_DONE) {
			downtime += m->downtime_sec;
			done++;
		}
	}
	*ret_downtime = done > 0 ? downtime / done : 0;

	if (!ct->running)
		return "not running";
	if (ct->opt_out)
		return "labelled podmig.migrate=false";
	if (active)
		return "already migrating";
	if (newest && newest->state == SCHED_MIGRATION_DONE && streq(newest->source, node))
		return "moved away";
	/* A drain is the operator's intent: it does not wait for cooldowns. */
	if (cooling && !drain)
		return "in cooldown";
	return NULL;
}

static void fill_node(const Ctx *c, size_t s, size_t t, const double load[SCHED_RESOURCES],
                      PlacementNode *ret)
{
	const SchedNode *n = &c->view->nodes[t];

	*ret = (PlacementNode){
		.bandwidth = MIN(c->view->nodes[s].capacity[PLACEMENT_NETWORK],
		                 n->capacity[PLACEMENT_NETWORK]),
	};
	for (PlacementResource r = 0; r < SCHED_RESOURCES; r++) {
		ret->capacity[r] = n->capacity[r];
		ret->used[r] = load[r];
		ret->threshold[r] = c->plan->verdicts[t].threshold[r] / 100;
	}
}

static int solve(const Ctx *c, const PlacementInstance *inst, PlacementResult **ret,
                 double *solve_ms)
{
	PlacementOptions o;
	int r;

	placement_options_init(&o);
	o.seed = c->policy->seed;
	o.time_limit_ms = SOLVE_TIME_LIMIT_MS;
	r = placement_solve(inst, c->policy->solver, &o, ret);
	if (r < 0)
		return r;
	*solve_ms += (*ret)->elapsed_ms;
	return 0;
}

/* Rule 4: place cts[0..n) from s over the current targets. target[i] is the node of
 * container i or -1. Together when no container has a closed target and the solver's answer
 * respects every target's free slots; else one at a time in the given order, each over its
 * open targets with slots left, loads updated after each. */
static int place(Ctx *c, size_t s, const SchedContainer *const *cts, size_t n, ssize_t *target,
                 SchedDecision *d)
{
	size_t nt = c->n_targets, n_placed = 0;
	_cleanup_free_ PlacementNode *nodes = calloc(nt + 1, sizeof(PlacementNode));
	_cleanup_free_ PlacementNode *sub = calloc(nt + 1, sizeof(PlacementNode));
	_cleanup_free_ PlacementContainer *pcs = calloc(MAX(n, 1u), sizeof(PlacementContainer));
	_cleanup_free_ ssize_t *assign = calloc(MAX(n, 1u), sizeof(ssize_t));
	_cleanup_free_ unsigned *slots = calloc(nt + 1, sizeof(unsigned));
	_cleanup_free_ size_t *map = calloc(nt + 1, sizeof(size_t));
	_cleanup_free_ double(*load)[SCHED_RESOURCES] = calloc(nt + 1, sizeof(*load));
	PlacementStatus status = PLACEMENT_STATUS_OPTIMAL, last = PLACEMENT_STATUS_INFEASIBLE;
	bool closed = false, together = false;
	PlacementInstance inst;
	int r;

	if (!nodes || !sub || !pcs || !assign || !slots || !map || !load)
		return -ENOMEM;

	fill_node(c, s, s, c->work[s].load, &nodes[0]);
	for (size_t k = 0; k < nt; k++) {
		size_t t = c->targets[k];

		fill_node(c, s, t, c->work[t].load, &nodes[k + 1]);
		slots[k + 1] = node_slots(c, t);
		memcpy(load[k + 1], c->work[t].load, sizeof(load[k + 1]));
	}
	for (size_t i = 0; i < n; i++) {
		memcpy(pcs[i].demand, cts[i]->demand, sizeof(pcs[i].demand));
		pcs[i].transfer_bytes = cts[i]->memory_bytes;
		assign[i] = -1;
		for (size_t k = 0; k < nt && !closed; k++)
			closed = forbidden(c, cts[i]->name, c->targets[k]);
	}
	inst = (PlacementInstance){
		.n_nodes = nt + 1,
		.nodes = nodes,
		.n_containers = n,
		.containers = pcs,
		.source = 0,
		.weights = c->policy->weights,
	};

	if (!closed && nt > 0) {
		_cleanup_placement_result_ PlacementResult *res = NULL;

		r = solve(c, &inst, &res, &d->solve_ms);
		if (r < 0)
			return r;
		last = res->status;
		if (placement_status_is_feasible(res->status)) {
			_cleanup_free_ unsigned *count = calloc(nt + 1, sizeof(unsigned));

			if (!count)
				return -ENOMEM;
			together = true;
			for (size_t i = 0; i < n; i++)
				if (++count[res->assignment[i]] > slots[res->assignment[i]])
					together = false;
			if (together) {
				memcpy(assign, res->assignment, n * sizeof(ssize_t));
				status = res->status;
			}
		}
	}
	if (!together) {
		status = PLACEMENT_STATUS_OPTIMAL;
		for (size_t i = 0; i < n; i++) {
			_cleanup_placement_result_ PlacementResult *res = NULL;
			PlacementInstance one;
			size_t m = 0;

			sub[0] = nodes[0];
			for (size_t k = 1; k <= nt; k++) {
				if (slots[k] == 0 || forbidden(c, cts[i]->name, c->targets[k - 1]))
					continue;
				fill_node(c, s, c->targets[k - 1], load[k], &sub[m + 1]);
				map[++m] = k;
			}
			if (m == 0)
				continue;
			one = (PlacementInstance){
				.n_nodes = m + 1,
				.nodes = sub,
				.n_containers = 1,
				.containers = &pcs[i],
				.source = 0,
				.weights = c->policy->weights,
			};
			r = solve(c, &one, &res, &d->solve_ms);
			if (r < 0)
				return r;
			last = res->status;
			if (!placement_status_is_feasible(res->status))
				continue;
			assign[i] = (ssize_t)map[res->assignment[0]];
			slots[assign[i]]--;
			for (PlacementResource q = 0; q < SCHED_RESOURCES; q++)
				load[assign[i]][q] += cts[i]->demand[q];
			if (res->status != PLACEMENT_STATUS_OPTIMAL)
				status = PLACEMENT_STATUS_FEASIBLE;
		}
	}

	/* Score what moves, on the loads before any of it, and refuse to hand out a plan that
	 * breaks a threshold. */
	for (size_t i = 0; i < n; i++) {
		target[i] = assign[i] > 0 ? (ssize_t)c->targets[assign[i] - 1] : -1;
		if (assign[i] > 0) {
			pcs[n_placed] = pcs[i];
			assign[n_placed++] = assign[i];
		}
	}
	d->solver = c->policy->solver;
	d->status = n_placed > 0 ? status : last;
	if (n_placed > 0) {
		inst.n_containers = n_placed;
		r = placement_evaluate(&inst, assign, &d->score);
		if (r < 0)
			return r;
		if (!d->score.feasible)
			return -ENOTRECOVERABLE;
		d->placed = true;
	}
	return (int)n_placed;
}

static int cmp_cost(const void *a, const void *b, void *userdata)
{
	const SchedCandidate *cand = userdata;
	size_t i = *(const size_t *)a, j = *(const size_t *)b;

	if (cand[i].cost_sec != cand[j].cost_sec)
		return cand[i].cost_sec < cand[j].cost_sec ? -1 : 1;
	return (i > j) - (i < j);
}

typedef struct Relief {
	const SchedCandidate *cand;
	const double *excess;
	const bool *need;
} Relief;

static double relief_of(const Relief *rl, size_t i)
{
	double sum = 0;

	for (PlacementResource r = 0; r < SCHED_RESOURCES; r++)
		if (rl->need[r] && rl->excess[r] > 0)
			sum += MIN(rl->cand[i].demand[r], rl->excess[r]) / rl->excess[r];
	return sum;
}

static int cmp_relief(const void *a, const void *b, void *userdata)
{
	size_t i = *(const size_t *)a, j = *(const size_t *)b;
	double x = relief_of(userdata, i), y = relief_of(userdata, j);

	if (x != y)
		return x > y ? -1 : 1;
	return (i > j) - (i < j);
}

static void deferred(SchedDecision *d, Buf *why)
{
	d->outcome = SCHED_OUTCOME_DEFERRED;
	buf_printf(why, ": deferred, ");
}

static int decide_node(Ctx *c, size_t s, SchedDecision *d)
{
	const SchedNode *node = &c->view->nodes[s];
	const SchedVerdict *v = &c->plan->verdicts[s];
	const SchedPolicy *p = c->policy;
	_cleanup_(buf_done) Buf why = {};
	_cleanup_free_ size_t *ok = NULL, *order = NULL;
	_cleanup_free_ double(*demand)[SCHED_RESOURCES] = NULL;
	_cleanup_free_ double *cost = NULL;
	_cleanup_free_ bool *chosen = NULL;
	_cleanup_free_ const SchedContainer **cts = NULL;
	_cleanup_free_ ssize_t *target = NULL;
	double excess[SCHED_RESOURCES] = {}, moved[SCHED_RESOURCES] = {}, bandwidth;
	bool need[SCHED_RESOURCES] = {}, unknown[SCHED_RESOURCES] = {};
	size_t n_ok = 0, n_nofit = 0, n_order = 0, max_size;
	unsigned cluster_free, node_free;
	int r;

	d->node = node->name;
	d->verdict = v;
	d->drain = v->state == SCHED_NODE_DRAINED;
	d->resource = trigger_resource(v, d->drain);
	buf_trigger(&why, d, p);

	/* Rule 2: does the node act now? */
	if (!d->drain && c->work[s].last_usec > 0 &&
	    within(c, c->work[s].last_usec, p->node_cooldown_sec)) {
		deferred(d, &why);
		buf_printf(&why, "%s took part in a migration ", node->name);
		buf_age(&why, c, c->work[s].last_usec);
		buf_printf(&why, " ago (node cooldown %" PRIu64 " s)", p->node_cooldown_sec);
		return buf_take(&why, &d->why);
	}
	cluster_free = slots_left(p->max_concurrent, c->busy);
	node_free = node_slots(c, s);
	if (cluster_free == 0) {
		deferred(d, &why);
		if (p->max_concurrent == 0)
			buf_printf(&why, "the policy allows no migration (max_concurrent 0)");
		else
			buf_printf(&why, "%u of %u migrations under way in the cluster", c->busy,
			           p->max_concurrent);
		return buf_take(&why, &d->why);
	}
	if (node_free == 0) {
		deferred(d, &why);
		buf_printf(&why, "%s takes part in %u of %u migrations a node may run at once",
		           node->name, c->work[s].busy, p->max_concurrent_per_node);
		return buf_take(&why, &d->why);
	}

	collect_targets(c, s);
	if (c->n_eligible == 0 && c->n_full > 0) {
		deferred(d, &why);
		buf_printf(&why,
		           "every node that could receive takes part in %u migration%s already",
		           p->max_concurrent_per_node, p->max_concurrent_per_node == 1 ? "" : "s");
		release_targets(c);
		return buf_take(&why, &d->why);
	}

	/* Rule 3: candidates, then the set. */
	d->n_candidates = node->n_containers;
	d->candidates = calloc(MAX(node->n_containers, 1u), sizeof(SchedCandidate));
	ok = calloc(MAX(node->n_containers, 1u), sizeof(size_t));
	if (!d->candidates || !ok)
		return -ENOMEM;
	bandwidth = node->capacity[PLACEMENT_NETWORK];
	if (c->best_bandwidth > 0)
		bandwidth = MIN(bandwidth, c->best_bandwidth);
	for (size_t i = 0; i < node->n_containers; i++) {
		const SchedContainer *ct = &node->containers[i];
		SchedCandidate *cand = &d->candidates[i];
		double downtime;

		cand->container = ct->name;
		memcpy(cand->demand, ct->demand, sizeof(cand->demand));
		cand->skipped = container_skip(c, d->node, ct, d->drain, &downtime);
		cand->cost_sec = ct->memory_bytes / bandwidth + downtime;
		if (!cand->skipped && !fits_somewhere(c, s, ct)) {
			cand->skipped = FITS_NOWHERE;
			n_nofit++;
		}
		if (!cand->skipped)
			ok[n_ok++] = i;
	}

	if (n_ok == 0 && n_nofit > 0) {
		size_t pick = SIZE_MAX;

		/* Explain with the cheapest container that would have moved. */
		for (size_t i = 0; i < node->n_containers; i++)
			if (d->candidates[i].skipped == FITS_NOWHERE &&
			    (pick == SIZE_MAX ||
			     d->candidates[i].cost_sec < d->candidates[pick].cost_sec))
				pick = i;
		d->outcome = SCHED_OUTCOME_NOTHING_FITS;
		buf_printf(&why, ": ");
		buf_nothing_fits(&why, c, &node->containers[pick]);
		release_targets(c);
		return buf_take(&why, &d->why);
	}
	if (n_ok == 0) {
		d->outcome = SCHED_OUTCOME_NO_CANDIDATE;
		if (node->n_containers == 0)
			buf_printf(&why, ": no containers");
		else
			buf_printf(&why, ": nothing may move:");
		for (size_t i = 0; i < node->n_containers && i < WHY_CONTAINERS_MAX; i++)
			buf_printf(&why, "%s %s %s", i == 0 ? "" : ",", d->candidates[i].container,
			           d->candidates[i].skipped);
		if (node->n_containers > WHY_CONTAINERS_MAX)
			buf_printf(&why, " and %zu more",
			           node->n_containers - (size_t)WHY_CONTAINERS_MAX);
		release_targets(c);
		return buf_take(&why, &d->why);
	}

	max_size = MIN(MIN((size_t)cluster_free, (size_t)node_free), c->target_slots);
	order = calloc(n_ok, sizeof(size_t));
	chosen = calloc(n_ok, sizeof(bool));
	if (!order || !chosen)
		return -ENOMEM;
	if (d->drain) {
		/* Everything goes; the cheapest first, the rest in later plans. */
		qsort_r(ok, n_ok, sizeof(size_t), cmp_cost, d->candidates);
		n_order = MIN(n_ok, max_size);
		memcpy(order, ok, n_order * sizeof(size_t));
	} else {
		SchedSelection sel;
		Relief rl;
		bool measurable = false, known[SCHED_RESOURCES] = {};

		for (PlacementResource q = 0; q < SCHED_RESOURCES; q++) {
			double floor_pct = v->threshold[q] - p->margin;

			if (!v->overloaded[q])
				continue;
			need[q] = true;
			excess[q] = node->used[q] - floor_pct / 100 * node->capacity[q];
			/* used and the samples are read apart: trust the sample when they
			 * disagree */
			if (excess[q] <= 0 && v->n_window > 0)
				excess[q] = (v->window[q][v->n_window - 1] - floor_pct) / 100 *
				            node->capacity[q];
		}
		demand = calloc(n_ok, sizeof(*demand));
		cost = calloc(n_ok, sizeof(double));
		if (!demand || !cost)
			return -ENOMEM;
		for (size_t i = 0; i < n_ok; i++) {
			memcpy(demand[i], d->candidates[ok[i]].demand, sizeof(demand[i]));
			cost[i] = d->candidates[ok[i]].cost_sec;
			for (PlacementResource q = 0; q < SCHED_RESOURCES; q++)
				known[q] = known[q] || demand[i][q] > 0;
		}
		/* A resource no candidate reports a demand of (network, when the agents cannot
		 * tell) cannot guide the choice: it is left out, and said so. */
		for (PlacementResource q = 0; q < SCHED_RESOURCES; q++) {
			unknown[q] = need[q] && !known[q];
			need[q] = need[q] && !unknown[q];
			measurable = measurable || need[q];
		}
		if (!measurable) {
			d->outcome = SCHED_OUTCOME_NO_CANDIDATE;
			buf_printf(&why,
			           ": no candidate reports a %s demand, so none is known to "
			           "relieve it",
			           resource_labels[d->resource]);
			release_targets(c);
			return buf_take(&why, &d->why);
		}
		r = sched_select_set((const double(*)[SCHED_RESOURCES])demand, cost, n_ok, excess,
		                     need, max_size, chosen, &sel);
		if (r < 0)
			return r;
		for (size_t i = 0; i < n_ok; i++)
			if (chosen[i])
				order[n_order++] = ok[i];
		rl = (Relief){ .cand = d->candidates, .excess = excess, .need = need };
		qsort_r(order, n_order, sizeof(size_t), cmp_relief, &rl);
	}

	/* Rule 4: where they go. */
	cts = calloc(MAX(n_order, 1u), sizeof(SchedContainer *));
	target = calloc(MAX(n_order, 1u), sizeof(ssize_t));
	if (!cts || !target)
		return -ENOMEM;
	for (size_t i = 0; i < n_order; i++)
		cts[i] = &node->containers[order[i]];
	r = place(c, s, cts, n_order, target, d);
	if (r < 0)
		return r;

	if (r == 0) {
		d->outcome = SCHED_OUTCOME_NOTHING_FITS;
		buf_printf(&why, ": ");
		buf_nothing_fits(&why, c, cts[0]);
		d->n_remaining = d->drain ? n_ok + n_nofit : 0;
		release_targets(c);
		return buf_take(&why, &d->why);
	}

	d->outcome = SCHED_OUTCOME_MIGRATE;
	d->moves = calloc((size_t)r, sizeof(SchedMove));
	if (!d->moves)
		return -ENOMEM;
	buf_printf(&why, ": moving ");
	for (size_t i = 0; i < n_order; i++) {
		size_t t;

		if (target[i] < 0)
			continue;
		t = (size_t)target[i];
		d->moves[d->n_moves++] = (SchedMove){
			.container = cts[i]->name,
			.target = c->view->nodes[t].name,
			.transfer_sec = cts[i]->memory_bytes /
			                MIN(node->capacity[PLACEMENT_NETWORK],
			                    c->view->nodes[t].capacity[PLACEMENT_NETWORK]),
		};
		d->candidates[order[i]].selected = true;
		for (PlacementResource q = 0; q < SCHED_RESOURCES; q++) {
			c->work[t].load[q] += cts[i]->demand[q];
			moved[q] += cts[i]->demand[q];
		}
		/* A move holds a slot of the cluster, of its source and of its target. */
		c->work[t].busy++;
		c->work[s].busy++;
		c->busy++;
		c->work[t].last_usec = c->now;
		c->work[s].last_usec = c->now;

		if (d->n_moves > 1)
			buf_printf(&why, ", ");
		buf_container(&why, cts[i]);
		buf_printf(&why, " to %s", c->view->nodes[t].name);
	}
	buf_printf(&why, " (%s, objective %.4g)", placement_solver_to_string(d->solver),
	           d->score.objective);

	if (d->n_moves < n_order) {
		bool first = true;

		buf_printf(&why, "; ");
		for (size_t i = 0; i < n_order; i++)
			if (target[i] < 0) {
				buf_printf(&why, "%s%s", first ? "" : ", ", cts[i]->name);
				first = false;
			}
		buf_printf(&why, " found no node beside the others");
	}
	if (d->drain) {
		d->n_remaining = n_ok + n_nofit - d->n_moves;
		if (d->n_remaining > 0)
			buf_printf(&why, "; %zu more follow%s in later plans", d->n_remaining,
			           d->n_remaining == 1 ? "s" : "");
	} else {
		d->relief = sched_relief_fraction(moved, excess, need);
		if (d->relief < 1)
			buf_printf(&why, "; relieves %.0f%% of the excess (at most %zu move%s now)",
			           d->relief * 100, max_size, max_size == 1 ? "" : "s");
		for (PlacementResource q = 0; q < SCHED_RESOURCES; q++)
			if (unknown[q])
				buf_printf(&why, "; no %s demand known, %s not counted",
				           resource_labels[q], resource_labels[q]);
	}
	release_targets(c);
	return buf_take(&why, &d->why);
}

static int cmp_acting(const void *a, const void *b, void *userdata)
{
	const SchedVerdict *v = userdata;
	size_t i = *(const size_t *)a, j = *(const size_t *)b;
	bool di = v[i].state == SCHED_NODE_DRAINED, dj = v[j].state == SCHED_NODE_DRAINED;

	/* Drains first (the operator asked), then the most severe. */
	if (di != dj)
		return di ? -1 : 1;
	if (v[i].severity != v[j].severity)
		return v[i].severity > v[j].severity ? -1 : 1;
	return (i > j) - (i < j);
}

int sched_decide(const SchedView *view, const SchedPolicy *policy, uint64_t now_usec,
                 SchedPlan **ret)
{
	_cleanup_sched_plan_ SchedPlan *plan = NULL;
	_cleanup_free_ NodeWork *work = NULL;
	_cleanup_free_ size_t *by_name = NULL, *by_container = NULL, *targets = NULL,
	                      *acting = NULL;
	size_t n = view ? view->n_nodes : 0, n_acting = 0;
	Ctx c;
	int r;

	if (!ret || policy_validate(policy) < 0 || view_validate(view) < 0)
		return -EINVAL;

	plan = calloc(1, sizeof(SchedPlan));
	if (!plan)
		return -ENOMEM;
	plan->verdicts = calloc(MAX(n, 1u), sizeof(SchedVerdict));
	work = calloc(MAX(n, 1u), sizeof(NodeWork));
	by_name = calloc(MAX(n, 1u), sizeof(size_t));
	targets = calloc(MAX(n, 1u), sizeof(size_t));
	acting = calloc(MAX(n, 1u), sizeof(size_t));
	by_container = calloc(MAX(view->n_migrations, 1u), sizeof(size_t));
	if (!plan->verdicts || !work || !by_name || !targets || !acting || !by_container)
		return -ENOMEM;
	plan->n_verdicts = n;

	c = (Ctx){
		.view = view,
		.policy = policy,
		.now = now_usec,
		.plan = plan,
		.work = work,
		.by_name = by_name,
		.by_container = by_container,
		.targets = targets,
	};

	for (size_t i = 0; i < n; i++)
		by_name[i] = i;
	qsort_r(by_name, n, sizeof(size_t), cmp_node_name, (void *)view);
	for (size_t i = 1; i < n; i++)
		if (streq(view->nodes[by_name[i - 1]].name, view->nodes[by_name[i]].name))
			return -EINVAL;
	for (size_t i = 0; i < view->n_migrations; i++)
		by_container[i] = i;
	qsort_r(by_container, view->n_migrations, sizeof(size_t), cmp_migration_container,
	        (void *)view);

	for (size_t i = 0; i < n; i++) {
		const SchedNode *node = &view->nodes[i];

		sched_verdict_compute(node, policy, now_usec, &plan->verdicts[i]);
		for (PlacementResource q = 0; q < SCHED_RESOURCES; q++) {
			work[i].load[q] = node->used[q];
			work[i].limit[q] = plan->verdicts[i].threshold[q] / 100 * node->capacity[q];
		}
	}

	/* Migrations: node cooldowns, slots held, and load in flight to targets. */
	for (size_t i = 0; i < view->n_migrations; i++) {
		const SchedMigration *m = &view->migrations[i];
		ssize_t src = find_node(&c, m->source), tgt = find_node(&c, m->target);
		uint64_t last = MAX(m->started_usec, m->ended_usec);

		if (src >= 0)
			work[src].last_usec = MAX(work[src].last_usec, last);
		if (tgt >= 0)
			work[tgt].last_usec = MAX(work[tgt].last_usec, last);
		if (m->state != SCHED_MIGRATION_ACTIVE)
			continue;
		plan->active_migrations++;
		c.busy++;
		if (src >= 0)
			work[src].busy++;
		if (tgt >= 0) {
			const SchedContainer *ct =
			        src >= 0 ? find_container(&view->nodes[src], m->container) : NULL;

			work[tgt].busy++;
			for (PlacementResource q = 0; ct && q < SCHED_RESOURCES; q++)
				work[tgt].load[q] += ct->demand[q];
		}
	}

	for (size_t i = 0; i < n; i++)
		if (plan->verdicts[i].state == SCHED_NODE_OVERLOADED ||
		    plan->verdicts[i].state == SCHED_NODE_DRAINED)
			acting[n_acting++] = i;
	qsort_r(acting, n_acting, sizeof(size_t), cmp_acting, plan->verdicts);

	plan->decisions = calloc(MAX(n_acting, 1u), sizeof(SchedDecision));
	if (!plan->decisions)
		return -ENOMEM;
	for (size_t k = 0; k < n_acting; k++) {
		plan->n_decisions = k + 1;
		r = decide_node(&c, acting[k], &plan->decisions[k]);
		if (r < 0)
			return r;
	}

	*ret = TAKE_PTR(plan);
	return 0;
}

SchedPlan *sched_plan_free(SchedPlan *p)
{
	if (!p)
		return NULL;
	for (size_t i = 0; i < p->n_decisions; i++) {
		free(p->decisions[i].why);
		free(p->decisions[i].candidates);
		free(p->decisions[i].moves);
	}
	free(p->decisions);
	free(p->verdicts);
	free(p);
	return NULL;
}

void sched_node_done(SchedNode *n)
{
	if (!n)
		return;
	for (size_t k = 0; k < n->n_containers; k++)
		free(n->containers[k].name);
	free(n->containers);
	free(n->samples);
	free(n->name);
	*n = (SchedNode){};
}

void sched_view_done(SchedView *v)
{
	if (!v)
		return;
	for (size_t i = 0; i < v->n_nodes; i++)
		sched_node_done(&v->nodes[i]);
	free(v->nodes);
	for (size_t i = 0; i < v->n_migrations; i++) {
		free(v->migrations[i].container);
		free(v->migrations[i].source);
		free(v->migrations[i].target);
	}
	free(v->migrations);
	*v = (SchedView){};
}

static const char *const sched_outcome_table[_SCHED_OUTCOME_MAX] = {
	[SCHED_OUTCOME_MIGRATE] = "migrate",
	[SCHED_OUTCOME_NOTHING_FITS] = "nothing-fits",
	[SCHED_OUTCOME_NO_CANDIDATE] = "no-candidate",
	[SCHED_OUTCOME_DEFERRED] = "deferred",
};
DEFINE_STRING_TABLE_LOOKUP_TO_STRING(sched_outcome, SchedOutcome);

static const char *const sched_node_state_table[_SCHED_NODE_STATE_MAX] = {
	[SCHED_NODE_OK] = "ok",
	[SCHED_NODE_STALE] = "stale",
	[SCHED_NODE_OVERLOADED] = "overloaded",
	[SCHED_NODE_DRAINED] = "drained",
};
DEFINE_STRING_TABLE_LOOKUP_TO_STRING(sched_node_state, SchedNodeState);
