/* Unit tests for the scheduler's decisions: every rule of scheduler.h on hand-made views
 * (trigger, staleness, candidates, cooldowns, concurrency, selection, placement, drains,
 * the decision document), and a property test on random views. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "json-util.h"
#include "macro.h"
#include "scheduler-internal.h"
#include "scheduler.h"
#include "strutil.h"

#define SEC       1000000ull
#define NOW       (1800000000ull * SEC)
#define GIB       (1024.0 * 1024 * 1024)
#define MIB       (1024.0 * 1024)
#define CORES     4.0
#define MEMORY    (8 * GIB)
#define LINK      125e6
#define MAX_NODES 64
#define MAX_CTS   32
#define MAX_MIGS  64

typedef struct Fixture {
	SchedView view;
	SchedPolicy policy;
	SchedPlan *plan;
} Fixture;

static Fixture *fixture_new(void)
{
	Fixture *f = calloc(1, sizeof(Fixture));

	assert_non_null(f);
	f->view.nodes = calloc(MAX_NODES, sizeof(SchedNode));
	f->view.migrations = calloc(MAX_MIGS, sizeof(SchedMigration));
	assert_non_null(f->view.nodes);
	assert_non_null(f->view.migrations);
	sched_policy_init(&f->policy);
	return f;
}

static void fixture_free(Fixture *f)
{
	sched_plan_free(f->plan);
	sched_view_done(&f->view);
	sched_policy_done(&f->policy);
	free(f);
}

/* A node of 4 cores, 8 GiB, 125 MB/s whose last `k` samples, one a second up to NOW, have the
 * given CPU percents (memory 20 %, network 5 %). */
static SchedNode *node_add(Fixture *f, const char *name, const double *cpu, size_t k)
{
	SchedNode *n = &f->view.nodes[f->view.n_nodes++];

	assert_true(f->view.n_nodes <= MAX_NODES);
	*n = (SchedNode){
		.name = strdup(name),
		.capacity = { CORES, MEMORY, LINK },
		.interval_usec = SEC,
		.samples = calloc(SCHED_SAMPLES_MAX, sizeof(SchedSample)),
		.containers = calloc(MAX_CTS, sizeof(SchedContainer)),
	};
	assert_true(k <= SCHED_SAMPLES_MAX);
	for (size_t i = 0; i < k; i++)
		n->samples[i] = (SchedSample){
			.timestamp_usec = NOW - (k - 1 - i) * SEC,
			.percent = { cpu[i], 20, 5 },
		};
	n->n_samples = k;
	n->used[PLACEMENT_CPU] = k > 0 ? cpu[k - 1] / 100 * CORES : 0;
	n->used[PLACEMENT_MEMORY] = 0.2 * MEMORY;
	n->used[PLACEMENT_NETWORK] = 0.05 * LINK;
	return n;
}

/* A node whose CPU has been at `pct` for 5 samples. */
static SchedNode *node_at(Fixture *f, const char *name, double pct)
{
	double s[5] = { pct, pct, pct, pct, pct };
	return node_add(f, name, s, 5);
}

static SchedContainer *ct_add(SchedNode *n, const char *name, double cores, double memory)
{
	SchedContainer *c = &n->containers[n->n_containers++];

	assert_true(n->n_containers <= MAX_CTS);
	*c = (SchedContainer){
		.name = strdup(name),
		.running = true,
		.demand = { cores, memory, 0 },
		.memory_bytes = memory,
	};
	return c;
}

static SchedMigration *mig_add(Fixture *f, const char *ct, const char *src, const char *tgt,
                               SchedMigrationState state, uint64_t started, uint64_t ended)
{
	SchedMigration *m = &f->view.migrations[f->view.n_migrations++];

	assert_true(f->view.n_migrations <= MAX_MIGS);
	*m = (SchedMigration){
		.container = strdup(ct),
		.source = strdup(src),
		.target = strdup(tgt),
		.state = state,
		.automatic = true,
		.started_usec = started,
		.ended_usec = ended,
	};
	return m;
}

static const SchedPlan *decide(Fixture *f)
{
	f->plan = sched_plan_free(f->plan);
	assert_int_equal(sched_decide(&f->view, &f->policy, NOW, &f->plan), 0);
	return f->plan;
}

static const SchedDecision *decision_of(const SchedPlan *p, const char *node)
{
	for (size_t i = 0; i < p->n_decisions; i++)
		if (streq(p->decisions[i].node, node))
			return &p->decisions[i];
	return NULL;
}

static const SchedCandidate *candidate_of(const SchedDecision *d, const char *ct)
{
	for (size_t i = 0; i < d->n_candidates; i++)
		if (streq(d->candidates[i].container, ct))
			return &d->candidates[i];
	fail_msg("no candidate %s", ct);
	return NULL;
}

static const char *target_of(const SchedDecision *d, const char *ct)
{
	for (size_t i = 0; i < d->n_moves; i++)
		if (streq(d->moves[i].container, ct))
			return d->moves[i].target;
	return NULL;
}

static void assert_contains(const char *s, const char *part)
{
	if (!s || !strstr(s, part))
		fail_msg("\"%s\" does not contain \"%s\"", s ? s : "(null)", part);
}

/* node1 at 95 % CPU with one 1-core container, node2 idle. */
static Fixture *simple(void)
{
	Fixture *f = fixture_new();

	ct_add(node_at(f, "node1", 95), "c1", 1.0, 100 * MIB);
	node_at(f, "node2", 10);
	return f;
}

/* ---- rule 1: trigger ---- */

static void test_window_not_full(void **state)
{
	Fixture *f = fixture_new();
	double s[] = { 10, 95, 95 };
	const SchedPlan *p;

	f->policy.window = 3;
	ct_add(node_add(f, "node1", s, 3), "c1", 1, 100 * MIB);
	node_at(f, "node2", 10);
	p = decide(f);
	assert_int_equal(p->verdicts[0].state, SCHED_NODE_OK);
	assert_false(p->verdicts[0].overloaded[PLACEMENT_CPU]);
	assert_int_equal(p->n_decisions, 0);
	/* the window holds the newest samples */
	assert_int_equal(p->verdicts[0].n_window, 3);
	assert_true(p->verdicts[0].window[PLACEMENT_CPU][0] == 10);
	assert_true(p->verdicts[0].window[PLACEMENT_CPU][2] == 95);
	fixture_free(f);
}

static void test_window_full(void **state)
{
	Fixture *f = fixture_new();
	double s[] = { 10, 95, 95, 95 };
	const SchedPlan *p;

	ct_add(node_add(f, "node1", s, 4), "c1", 1, 100 * MIB);
	node_at(f, "node2", 10);
	p = decide(f);
	assert_int_equal(p->verdicts[0].state, SCHED_NODE_OVERLOADED);
	assert_true(p->verdicts[0].overloaded[PLACEMENT_CPU]);
	assert_false(p->verdicts[0].overloaded[PLACEMENT_MEMORY]);
	assert_int_equal(p->verdicts[0].run[PLACEMENT_CPU], 3);
	assert_int_equal(p->n_decisions, 1);
	assert_int_equal(p->decisions[0].outcome, SCHED_OUTCOME_MIGRATE);
	assert_int_equal(p->decisions[0].resource, PLACEMENT_CPU);
	assert_string_equal(target_of(&p->decisions[0], "c1"), "node2");
	assert_contains(p->decisions[0].why, "node1 CPU 95% > 80% for 3 samples: moving c1");
	assert_contains(p->decisions[0].why, "to node2 (aco, objective");
	fixture_free(f);
}

static void test_hysteresis(void **state)
{
	/* 75 is below the threshold (80) but above threshold − margin (70): still overloaded */
	double keep[] = { 95, 95, 95, 75, 72 };
	double release[] = { 95, 95, 95, 75, 65 };
	double again[] = { 95, 95, 95, 65, 95 };
	Fixture *f = fixture_new();
	const SchedPlan *p;

	node_add(f, "keep", keep, 5);
	node_add(f, "release", release, 5);
	node_add(f, "again", again, 5);
	p = decide(f);
	assert_int_equal(p->verdicts[0].state, SCHED_NODE_OVERLOADED);
	assert_int_equal(p->verdicts[0].run[PLACEMENT_CPU], 0);
	assert_int_equal(p->verdicts[1].state, SCHED_NODE_OK);
	/* released, then one sample over: the window starts again */
	assert_int_equal(p->verdicts[2].state, SCHED_NODE_OK);
	assert_contains(decision_of(p, "keep")->why, "was over 80%, not yet below 70%");
	fixture_free(f);
}

/* The predictive trigger: a rising line through the newest samples that crosses the threshold
 * within predict_samples acts before the window is full; flat or falling loads, loads below
 * threshold − margin, and the trigger switched off do not. */
static void test_predictive(void **state)
{
	double rising[] = { 50, 60, 70, 76 }; /* +8.6 a sample: 84 next */
	double flat[] = { 76, 76, 76, 76 };
	double low[] = { 30, 40, 50, 60 }; /* rising fast, but below 80 − 10 */
	double falling[] = { 85, 82, 79, 76 };
	Fixture *f = fixture_new();
	const SchedPlan *p;

	ct_add(node_add(f, "rising", rising, 4), "c1", 1, 100 * MIB);
	node_add(f, "flat", flat, 4);
	node_add(f, "low", low, 4);
	node_add(f, "falling", falling, 4);
	node_at(f, "idle", 10);

	/* off by default: nothing acts */
	assert_int_equal(f->policy.predict_samples, 0);
	p = decide(f);
	assert_int_equal(p->n_decisions, 0);

	f->policy.predict_samples = 1;
	p = decide(f);
	assert_int_equal(p->verdicts[0].state, SCHED_NODE_OVERLOADED);
	assert_true(p->verdicts[0].predicted[PLACEMENT_CPU]);
	assert_int_equal(p->verdicts[1].state, SCHED_NODE_OK);
	assert_int_equal(p->verdicts[2].state, SCHED_NODE_OK);
	assert_int_equal(p->verdicts[3].state, SCHED_NODE_OK);
	assert_int_equal(p->n_decisions, 1);
	assert_int_equal(p->decisions[0].outcome, SCHED_OUTCOME_MIGRATE);
	assert_string_equal(target_of(&p->decisions[0], "c1"), "idle");
	assert_contains(p->decisions[0].why,
	                "rising CPU 76% rising, predicted above 80% within 1 sample");

	/* a window over threshold still triggers as before, and is not called predicted */
	f->policy.predict_samples = 2;
	f->view.nodes[1].samples[3].percent[PLACEMENT_CPU] = 95;
	f->view.nodes[1].samples[2].percent[PLACEMENT_CPU] = 95;
	f->view.nodes[1].samples[1].percent[PLACEMENT_CPU] = 95;
	p = decide(f);
	assert_int_equal(p->verdicts[1].state, SCHED_NODE_OVERLOADED);
	assert_false(p->verdicts[1].predicted[PLACEMENT_CPU]);
	fixture_free(f);
}

static void test_gap_resets(void **state)
{
	Fixture *f = fixture_new();
	SchedNode *n;
	const SchedPlan *p;
	double s[] = { 95, 95, 95, 95 };

	n = node_add(f, "gap", s, 4);
	/* the first two samples 10 s earlier: more than 3 intervals apart from the next */
	n->samples[0].timestamp_usec -= 10 * SEC;
	n->samples[1].timestamp_usec -= 10 * SEC;
	n = node_add(f, "edge", s, 4);
	/* exactly 3 intervals apart: still consecutive */
	n->samples[0].timestamp_usec -= 2 * SEC;
	n = node_add(f, "backwards", s, 4);
	n->samples[1].timestamp_usec = n->samples[2].timestamp_usec;
	p = decide(f);
	assert_int_equal(p->verdicts[0].state, SCHED_NODE_OK);
	assert_int_equal(p->verdicts[0].run[PLACEMENT_CPU], 2);
	assert_int_equal(p->verdicts[1].state, SCHED_NODE_OVERLOADED);
	assert_int_equal(p->verdicts[2].state, SCHED_NODE_OK);
	fixture_free(f);
}

static void test_stale(void **state)
{
	Fixture *f = fixture_new();
	SchedNode *n;
	const SchedPlan *p;
	const SchedDecision *d;

	/* an overloaded node whose newest sample is 4 intervals old triggers nothing */
	n = node_at(f, "old", 95);
	ct_add(n, "c0", 1, 100 * MIB);
	for (size_t i = 0; i < n->n_samples; i++)
		n->samples[i].timestamp_usec -= 4 * SEC;
	ct_add(node_at(f, "node1", 95), "c1", 1, 100 * MIB);
	/* the emptiest node, but stale: never a target */
	n = node_at(f, "node2", 0);
	for (size_t i = 0; i < n->n_samples; i++)
		n->samples[i].timestamp_usec -= 4 * SEC;
	/* 3 intervals old: fresh */
	n = node_at(f, "node3", 40);
	for (size_t i = 0; i < n->n_samples; i++)
		n->samples[i].timestamp_usec -= 3 * SEC;
	/* no samples at all: stale */
	node_add(f, "node4", NULL, 0);
	p = decide(f);
	assert_int_equal(p->verdicts[0].state, SCHED_NODE_STALE);
	assert_false(p->verdicts[0].overloaded[PLACEMENT_CPU]);
	assert_int_equal(p->verdicts[2].state, SCHED_NODE_STALE);
	assert_int_equal(p->verdicts[3].state, SCHED_NODE_OK);
	assert_int_equal(p->verdicts[4].state, SCHED_NODE_STALE);
	assert_int_equal(p->n_decisions, 1);
	d = decision_of(p, "node1");
	assert_non_null(d);
	assert_int_equal(d->outcome, SCHED_OUTCOME_MIGRATE);
	assert_string_equal(target_of(d, "c1"), "node3");

	/* without node3 nothing can receive */
	f->view.nodes[3].samples[4].timestamp_usec -= 2 * SEC;
	p = decide(f);
	d = decision_of(p, "node1");
	assert_int_equal(d->outcome, SCHED_OUTCOME_NOTHING_FITS);
	assert_contains(d->why, "no other node can receive (4 stale)");
	fixture_free(f);
}

/* ---- rule 3: candidates ---- */

static void test_opt_out(void **state)
{
	Fixture *f = fixture_new();
	SchedNode *n = node_at(f, "node1", 95);
	const SchedDecision *d;

	/* the only container that would relieve the node alone is opted out */
	ct_add(n, "pinned", 1.2, 10 * MIB)->opt_out = true;
	ct_add(n, "small", 0.3, 10 * MIB);
	node_at(f, "node2", 10);
	d = &decide(f)->decisions[0];
	assert_int_equal(d->outcome, SCHED_OUTCOME_MIGRATE);
	assert_string_equal(candidate_of(d, "pinned")->skipped, "labelled podmig.migrate=false");
	assert_false(candidate_of(d, "pinned")->selected);
	assert_null(target_of(d, "pinned"));
	assert_string_equal(target_of(d, "small"), "node2");

	/* nothing else: no candidate, and the why says so */
	f->view.nodes[0].containers[1].running = false;
	d = &decide(f)->decisions[0];
	assert_int_equal(d->outcome, SCHED_OUTCOME_NO_CANDIDATE);
	assert_int_equal(d->n_moves, 0);
	assert_contains(
	        d->why,
	        "nothing may move: pinned labelled podmig.migrate=false, small not running");
	fixture_free(f);
}

static void test_container_cooldown(void **state)
{
	Fixture *f = simple();
	const SchedDecision *d;

	/* c1 arrived 60 s ago (container cooldown 120 s) from node3 */
	mig_add(f, "c1", "node3", "node1", SCHED_MIGRATION_DONE, NOW - 65 * SEC, NOW - 60 * SEC);
	f->policy.node_cooldown_sec = 0;
	d = &decide(f)->decisions[0];
	assert_int_equal(d->outcome, SCHED_OUTCOME_NO_CANDIDATE);
	assert_string_equal(candidate_of(d, "c1")->skipped, "in cooldown");
	assert_contains(d->why, "c1 in cooldown");

	f->view.migrations[0].ended_usec = NOW - 130 * SEC;
	d = &decide(f)->decisions[0];
	assert_int_equal(d->outcome, SCHED_OUTCOME_MIGRATE);
	assert_null(candidate_of(d, "c1")->skipped);

	/* a container being migrated now is no candidate */
	f->view.migrations[0].state = SCHED_MIGRATION_ACTIVE;
	f->view.migrations[0].source = (free(f->view.migrations[0].source), strdup("node1"));
	f->view.migrations[0].target = (free(f->view.migrations[0].target), strdup("node9"));
	f->policy.max_concurrent_per_node = 2;
	d = &decide(f)->decisions[0];
	assert_int_equal(d->outcome, SCHED_OUTCOME_NO_CANDIDATE);
	assert_string_equal(candidate_of(d, "c1")->skipped, "already migrating");
	fixture_free(f);
}

static void test_node_cooldown(void **state)
{
	Fixture *f = simple();
	const SchedDecision *d;

	/* node1 received another container 10 s ago (node cooldown 30 s) */
	mig_add(f, "other", "node2", "node1", SCHED_MIGRATION_DONE, NOW - 20 * SEC, NOW - 10 * SEC);
	d = &decide(f)->decisions[0];
	assert_int_equal(d->outcome, SCHED_OUTCOME_DEFERRED);
	assert_int_equal(d->n_moves, 0);
	assert_contains(d->why, "node1 took part in a migration 10 s ago (node cooldown 30 s)");

	/* 31 s ago: out of the cooldown */
	f->view.migrations[0].started_usec = NOW - 40 * SEC;
	f->view.migrations[0].ended_usec = NOW - 31 * SEC;
	d = &decide(f)->decisions[0];
	assert_int_equal(d->outcome, SCHED_OUTCOME_MIGRATE);

	/* a drain ignores the node cooldown */
	f->view.migrations[0].ended_usec = NOW - 10 * SEC;
	f->view.nodes[0].drained = true;
	d = &decide(f)->decisions[0];
	assert_true(d->drain);
	assert_int_equal(d->outcome, SCHED_OUTCOME_MIGRATE);
	fixture_free(f);
}

static void test_return_cooldown(void **state)
{
	Fixture *f = fixture_new();
	const SchedDecision *d;

	/* c1 left node1 for node2 200 s ago: out of its container cooldown, within the return
	 * cooldown (600 s). node2 is overloaded, node1 is the only node with room. */
	node_at(f, "node1", 10);
	ct_add(node_at(f, "node2", 95), "c1", 1, 100 * MIB);
	node_at(f, "node3", 70);
	mig_add(f, "c1", "node1", "node2", SCHED_MIGRATION_DONE, NOW - 205 * SEC, NOW - 200 * SEC);
	d = &decide(f)->decisions[0];
	assert_string_equal(d->node, "node2");
	assert_int_equal(d->outcome, SCHED_OUTCOME_NOTHING_FITS);
	assert_int_equal(d->n_moves, 0);
	assert_contains(d->why, "no node can take c1 (1 core, 100.0 MiB): not node1 (it left it "
	                        "less than 600 s ago), node3 would reach 95% CPU > 80%");

	/* with room on node3 it goes there, never back */
	f->view.nodes[2].used[PLACEMENT_CPU] = 0.2 * CORES;
	d = &decide(f)->decisions[0];
	assert_int_equal(d->outcome, SCHED_OUTCOME_MIGRATE);
	assert_string_equal(target_of(d, "c1"), "node3");

	/* after the return cooldown node1 is open again (and the emptiest) */
	f->view.nodes[2].used[PLACEMENT_CPU] = 0.6 * CORES;
	f->view.migrations[0].ended_usec = NOW - 601 * SEC;
	f->view.migrations[0].started_usec = NOW - 605 * SEC;
	d = &decide(f)->decisions[0];
	assert_string_equal(target_of(d, "c1"), "node1");

	/* back within the cooldown: c1 could only go home, so c2 relieves what it can */
	f->view.migrations[0].ended_usec = NOW - 200 * SEC;
	f->view.migrations[0].started_usec = NOW - 205 * SEC;
	f->view.nodes[2].used[PLACEMENT_CPU] = 0.7 * CORES;
	ct_add(&f->view.nodes[1], "c2", 0.3, 10 * MIB);
	d = &decide(f)->decisions[0];
	assert_int_equal(d->outcome, SCHED_OUTCOME_MIGRATE);
	assert_string_equal(candidate_of(d, "c1")->skipped, "fits on no other node");
	/* node1 is closed to c1 only */
	assert_string_equal(target_of(d, "c2"), "node1");
	fixture_free(f);
}

static void test_rolled_back_pair(void **state)
{
	Fixture *f = simple();
	SchedMigration *m;
	const SchedDecision *d;

	node_at(f, "node3", 50);
	/* c1's automatic migration to node2 was rolled back 300 s ago */
	m = mig_add(f, "c1", "node1", "node2", SCHED_MIGRATION_UNDONE, NOW - 305 * SEC,
	            NOW - 300 * SEC);
	d = &decide(f)->decisions[0];
	assert_int_equal(d->outcome, SCHED_OUTCOME_MIGRATE);
	assert_string_equal(target_of(d, "c1"), "node3");

	/* a manual one does not close node2 */
	m->automatic = false;
	d = &decide(f)->decisions[0];
	assert_string_equal(target_of(d, "c1"), "node2");

	/* nor does an automatic one after the return cooldown */
	m->automatic = true;
	m->ended_usec = NOW - 700 * SEC;
	d = &decide(f)->decisions[0];
	assert_string_equal(target_of(d, "c1"), "node2");
	fixture_free(f);
}

/* ---- rule 2: concurrency ---- */

static void test_concurrency_cluster(void **state)
{
	Fixture *f = simple();
	const SchedPlan *p;
	const SchedDecision *d;

	node_at(f, "node3", 10);
	node_at(f, "node4", 10);
	node_at(f, "node5", 10);
	node_at(f, "node6", 10);
	/* two migrations between other nodes fill the cluster's two slots */
	mig_add(f, "x", "node3", "node4", SCHED_MIGRATION_ACTIVE, NOW - 100 * SEC, 0);
	mig_add(f, "y", "node5", "node6", SCHED_MIGRATION_ACTIVE, NOW - 100 * SEC, 0);
	f->policy.node_cooldown_sec = 0;
	p = decide(f);
	d = &p->decisions[0];
	assert_int_equal(p->active_migrations, 2);
	assert_int_equal(d->outcome, SCHED_OUTCOME_DEFERRED);
	assert_contains(d->why, "deferred, 2 of 2 migrations under way in the cluster");

	f->policy.max_concurrent = 3;
	d = &decide(f)->decisions[0];
	assert_int_equal(d->outcome, SCHED_OUTCOME_MIGRATE);
	assert_string_equal(target_of(d, "c1"), "node2");
	fixture_free(f);
}

static void test_concurrency_node(void **state)
{
	Fixture *f = simple();
	SchedMigration *m;
	const SchedDecision *d;

	node_at(f, "node3", 40);
	f->policy.node_cooldown_sec = 0;
	/* node1 is the source of a migration under way: its one slot is taken */
	m = mig_add(f, "x", "node1", "node3", SCHED_MIGRATION_ACTIVE, NOW - 100 * SEC, 0);
	d = &decide(f)->decisions[0];
	assert_int_equal(d->outcome, SCHED_OUTCOME_DEFERRED);
	assert_contains(d->why, "node1 takes part in 1 of 1 migrations a node may run at once");

	/* node2 (the emptiest) receives one from elsewhere: c1 goes to node3 */
	free(m->source);
	m->source = strdup("node9");
	free(m->target);
	m->target = strdup("node2");
	d = &decide(f)->decisions[0];
	assert_int_equal(d->outcome, SCHED_OUTCOME_MIGRATE);
	assert_string_equal(target_of(d, "c1"), "node3");

	/* every possible target busy: deferred */
	mig_add(f, "y", "node8", "node3", SCHED_MIGRATION_ACTIVE, NOW - 100 * SEC, 0);
	f->policy.max_concurrent = 5;
	d = &decide(f)->decisions[0];
	assert_int_equal(d->outcome, SCHED_OUTCOME_DEFERRED);
	assert_contains(d->why, "every node that could receive takes part in 1 migration already");
	fixture_free(f);
}

static void test_concurrency_within_plan(void **state)
{
	Fixture *f = fixture_new();
	const SchedPlan *p;

	ct_add(node_at(f, "hot1", 99), "a", 1, 100 * MIB);
	ct_add(node_at(f, "hot2", 95), "b", 1, 100 * MIB);
	ct_add(node_at(f, "hot3", 90), "c", 1, 100 * MIB);
	node_at(f, "cold1", 10);
	node_at(f, "cold2", 10);
	node_at(f, "cold3", 10);
	/* two cluster slots: the two most severe move, the third waits */
	p = decide(f);
	assert_int_equal(p->n_decisions, 3);
	assert_string_equal(p->decisions[0].node, "hot1");
	assert_string_equal(p->decisions[1].node, "hot2");
	assert_string_equal(p->decisions[2].node, "hot3");
	assert_int_equal(p->decisions[0].outcome, SCHED_OUTCOME_MIGRATE);
	assert_int_equal(p->decisions[1].outcome, SCHED_OUTCOME_MIGRATE);
	assert_int_equal(p->decisions[2].outcome, SCHED_OUTCOME_DEFERRED);
	/* one slot per node: the two targets differ */
	assert_string_not_equal(p->decisions[0].moves[0].target, p->decisions[1].moves[0].target);

	/* one target with room: the second finds none left */
	f->policy.max_concurrent = 10;
	f->view.nodes[4].used[PLACEMENT_CPU] = 0.79 * CORES;
	f->view.nodes[5].used[PLACEMENT_CPU] = 0.79 * CORES;
	p = decide(f);
	assert_int_equal(p->decisions[0].outcome, SCHED_OUTCOME_MIGRATE);
	assert_string_equal(p->decisions[0].moves[0].target, "cold1");
	assert_int_equal(p->decisions[1].outcome, SCHED_OUTCOME_NOTHING_FITS);
	fixture_free(f);
}

/* ---- rule 4: placement ---- */

static void test_nothing_fits(void **state)
{
	Fixture *f = simple();
	const SchedDecision *d;

	f->view.nodes[1].used[PLACEMENT_CPU] = 0.75 * CORES;
	node_at(f, "node3", 60)->used[PLACEMENT_MEMORY] = 0.84 * MEMORY;
	f->view.nodes[0].containers[0].demand[PLACEMENT_MEMORY] = 0.05 * MEMORY;
	d = &decide(f)->decisions[0];
	assert_int_equal(d->outcome, SCHED_OUTCOME_NOTHING_FITS);
	assert_int_equal(d->n_moves, 0);
	assert_string_equal(candidate_of(d, "c1")->skipped, "fits on no other node");
	assert_contains(d->why, "no node can take c1 (1 core, 409.6 MiB): node2 would reach 100% "
	                        "CPU > 80%, node3 would reach 85% CPU > 80%");
	/* up to the threshold exactly: 55 % + 25 % = 80 % */
	f->view.nodes[1].used[PLACEMENT_CPU] = 0.55 * CORES;
	d = &decide(f)->decisions[0];
	assert_string_equal(target_of(d, "c1"), "node2");
	fixture_free(f);
}

/* node1 at 95 % of 4 cores: excess over 70 % is 1 core */
static void test_least_cost(void **state)
{
	Fixture *f = fixture_new();
	SchedNode *n = node_at(f, "node1", 95);
	const SchedDecision *d;

	ct_add(n, "big", 1.2, 2 * GIB);
	ct_add(n, "a", 0.5, 50 * MIB);
	ct_add(n, "b", 0.6, 50 * MIB);
	ct_add(n, "tiny", 0.1, 10 * MIB);
	node_at(f, "node2", 10);
	node_at(f, "node3", 10);
	f->policy.max_concurrent = 4;
	f->policy.max_concurrent_per_node = 4;
	d = &decide(f)->decisions[0];
	assert_int_equal(d->outcome, SCHED_OUTCOME_MIGRATE);
	assert_int_equal(d->n_moves, 2);
	assert_non_null(target_of(d, "a"));
	assert_non_null(target_of(d, "b"));
	assert_true(candidate_of(d, "a")->selected);
	assert_false(candidate_of(d, "big")->selected);
	assert_true(d->relief == 1);

	/* and the other way round: one big one copies less than the two small ones */
	n->containers[0].memory_bytes = 20 * MIB;
	n->containers[0].demand[PLACEMENT_MEMORY] = 20 * MIB;
	d = &decide(f)->decisions[0];
	assert_int_equal(d->n_moves, 1);
	assert_non_null(target_of(d, "big"));

	/* past downtime counts in the cost: 3 s of it make "big" dearer than a + b */
	mig_add(f, "big", "node2", "node1", SCHED_MIGRATION_DONE, NOW - 3600 * SEC,
	        NOW - 3599 * SEC)
	        ->downtime_sec = 3;
	d = &decide(f)->decisions[0];
	assert_int_equal(d->n_moves, 2);
	assert_null(target_of(d, "big"));
	assert_true(candidate_of(d, "big")->cost_sec > 3);
	fixture_free(f);
}

static void test_partial_relief(void **state)
{
	Fixture *f = fixture_new();
	SchedNode *n = node_at(f, "node1", 95);
	const SchedDecision *d;

	ct_add(n, "a", 0.3, 10 * MIB);
	ct_add(n, "b", 0.2, 10 * MIB);
	node_at(f, "node2", 10);
	node_at(f, "node3", 10);
	/* one slot, no container relieves 1 core: the one that relieves most */
	d = &decide(f)->decisions[0];
	assert_int_equal(d->outcome, SCHED_OUTCOME_MIGRATE);
	assert_int_equal(d->n_moves, 1);
	assert_non_null(target_of(d, "a"));
	assert_float_equal(d->relief, 0.3, 1e-9);
	assert_contains(d->why, "relieves 30% of the excess (at most 1 move now)");
	fixture_free(f);
}

/* Network demand the agents cannot tell (0) does not steer the choice. */
static void test_unknown_demand(void **state)
{
	Fixture *f = fixture_new();
	double s[] = { 50, 50, 50 };
	SchedNode *n = node_add(f, "node1", s, 3);
	const SchedDecision *d;

	for (size_t i = 0; i < n->n_samples; i++)
		n->samples[i].percent[PLACEMENT_NETWORK] = 95;
	n->used[PLACEMENT_NETWORK] = 0.95 * LINK;
	ct_add(n, "a", 0.3, 10 * MIB);
	ct_add(n, "b", 0.2, 10 * MIB);
	node_at(f, "node2", 10);
	d = &decide(f)->decisions[0];
	assert_int_equal(d->resource, PLACEMENT_NETWORK);
	assert_int_equal(d->outcome, SCHED_OUTCOME_NO_CANDIDATE);
	assert_contains(d->why, "node1 network 95% > 80% for 3 samples: no candidate reports a "
	                        "network demand, so none is known to relieve it");

	/* CPU overloaded too: chosen by CPU alone */
	for (size_t i = 0; i < n->n_samples; i++)
		n->samples[i].percent[PLACEMENT_CPU] = 95;
	n->used[PLACEMENT_CPU] = 0.95 * CORES;
	d = &decide(f)->decisions[0];
	assert_int_equal(d->outcome, SCHED_OUTCOME_MIGRATE);
	assert_non_null(target_of(d, "a"));
	assert_contains(d->why, "; no network demand known, network not counted");
	assert_float_equal(d->relief, 0.3, 1e-9);
	fixture_free(f);
}

static void test_drain(void **state)
{
	Fixture *f = fixture_new();
	SchedNode *n = node_at(f, "node1", 30);
	const SchedPlan *p;
	const SchedDecision *d;

	n->drained = true;
	ct_add(n, "a", 0.3, 10 * MIB);
	ct_add(n, "b", 0.2, 20 * MIB);
	ct_add(n, "c", 0.2, 30 * MIB);
	ct_add(n, "pinned", 0.2, 10 * MIB)->opt_out = true;
	node_at(f, "node2", 10);
	node_at(f, "node3", 10);
	/* a moved here 10 s ago: a drain ignores the container cooldown */
	mig_add(f, "a", "node3", "node1", SCHED_MIGRATION_DONE, NOW - 20 * SEC, NOW - 10 * SEC);
	f->policy.max_concurrent = 10;
	f->policy.max_concurrent_per_node = 10;
	p = decide(f);
	d = decision_of(p, "node1");
	assert_true(d->drain);
	assert_int_equal(p->verdicts[0].state, SCHED_NODE_DRAINED);
	assert_int_equal(d->outcome, SCHED_OUTCOME_MIGRATE);
	assert_int_equal(d->n_moves, 3);
	assert_null(target_of(d, "pinned"));
	/* a may not go back to node3 */
	assert_string_equal(target_of(d, "a"), "node2");
	assert_contains(d->why, "node1 is drained: moving ");

	/* with two slots, two now and the last later */
	f->policy.max_concurrent = 2;
	d = decision_of(decide(f), "node1");
	assert_int_equal(d->n_moves, 2);
	assert_int_equal(d->n_remaining, 1);
	assert_contains(d->why, "; 1 more follows in later plans");

	/* drains come first, even before a more loaded node, and a drained node receives
	 * nothing */
	f->policy.max_concurrent = 10;
	for (size_t i = 0; i < n->n_containers; i++)
		n->containers[i].opt_out = true;
	ct_add(node_at(f, "hot", 99), "h", 1, 10 * MIB);
	f->view.nodes[1].used[PLACEMENT_CPU] = 0.79 * CORES;
	f->view.nodes[2].used[PLACEMENT_CPU] = 0.79 * CORES;
	p = decide(f);
	assert_string_equal(p->decisions[0].node, "node1");
	assert_int_equal(p->decisions[0].outcome, SCHED_OUTCOME_NO_CANDIDATE);
	d = decision_of(p, "hot");
	assert_int_equal(d->outcome, SCHED_OUTCOME_NOTHING_FITS);
	fixture_free(f);
}

/* A sample taken before a container moved off its node still lists it there: it is not a
 * candidate of that node, drain or not. */
static void test_moved_away(void **state)
{
	Fixture *f = fixture_new();
	SchedNode *n = node_at(f, "node1", 30);
	const SchedDecision *d;

	n->drained = true;
	ct_add(n, "gone", 0.1, 10 * MIB);
	node_at(f, "node2", 10);
	mig_add(f, "gone", "node1", "node2", SCHED_MIGRATION_DONE, NOW - 3 * SEC, NOW - 1 * SEC);
	d = decision_of(decide(f), "node1");
	assert_int_equal(d->outcome, SCHED_OUTCOME_NO_CANDIDATE);
	assert_string_equal(candidate_of(d, "gone")->skipped, "moved away");

	/* it came back later: then it is here again (and may leave for node3) */
	node_at(f, "node3", 10);
	mig_add(f, "gone", "node2", "node1", SCHED_MIGRATION_DONE, NOW - 1 * SEC / 2, NOW);
	d = decision_of(decide(f), "node1");
	assert_null(candidate_of(d, "gone")->skipped);
	fixture_free(f);
}

static void test_in_flight_load(void **state)
{
	Fixture *f = simple();
	SchedNode *n;
	const SchedDecision *d;

	f->view.nodes[1].used[PLACEMENT_CPU] = 0.1 * CORES;
	node_at(f, "node3", 45);
	n = node_at(f, "node4", 50);
	ct_add(n, "inflight", 2, 10 * MIB);
	f->policy.max_concurrent_per_node = 2;
	f->policy.max_concurrent = 3;
	f->policy.node_cooldown_sec = 0;
	d = &decide(f)->decisions[0];
	assert_string_equal(target_of(d, "c1"), "node2");

	/* 2 cores on their way to node2: 10 % + 50 % + 25 % > 80 % */
	mig_add(f, "inflight", "node4", "node2", SCHED_MIGRATION_ACTIVE, NOW - 5 * SEC, 0);
	d = &decide(f)->decisions[0];
	assert_string_equal(target_of(d, "c1"), "node3");
	fixture_free(f);
}

static void test_policy_override(void **state)
{
	Fixture *f = simple();
	const SchedPlan *p;
	const SchedDecision *d;

	node_at(f, "node3", 40);
	node_at(f, "node4", 50);
	f->view.nodes[1].used[PLACEMENT_CPU] = 0.3 * CORES;
	f->policy.overrides = calloc(2, sizeof(SchedNodeOverride));
	f->policy.n_overrides = 2;
	/* node2 may only reach 50 % CPU: 30 % + 25 % is too much */
	f->policy.overrides[0] = (SchedNodeOverride){ strdup("node2"), { 50, NAN, NAN } };
	/* node4 is overloaded at 50 % with a threshold of 45 % */
	f->policy.overrides[1] = (SchedNodeOverride){ strdup("node4"), { 45, NAN, NAN } };
	p = decide(f);
	assert_true(p->verdicts[1].threshold[PLACEMENT_CPU] == 50);
	assert_true(p->verdicts[1].threshold[PLACEMENT_MEMORY] == 85);
	assert_int_equal(p->verdicts[3].state, SCHED_NODE_OVERLOADED);
	d = decision_of(p, "node1");
	assert_string_equal(target_of(d, "c1"), "node3");
	assert_contains(decision_of(p, "node4")->why, "node4 CPU 50% > 45%");
	fixture_free(f);
}

static void test_invalid(void **state)
{
	Fixture *f = simple();
	SchedPlan *p = NULL;

	assert_int_equal(sched_decide(&f->view, &f->policy, NOW, &p), 0);
	p = sched_plan_free(p);
#define EXPECT_EINVAL(stmt, undo)                                                       \
	do {                                                                            \
		stmt;                                                                   \
		assert_int_equal(sched_decide(&f->view, &f->policy, NOW, &p), -EINVAL); \
		assert_null(p);                                                         \
		undo;                                                                   \
	} while (0)
	EXPECT_EINVAL(f->policy.window = 0, f->policy.window = 3);
	EXPECT_EINVAL(f->policy.window = SCHED_SAMPLES_MAX + 1, f->policy.window = 3);
	EXPECT_EINVAL(f->policy.threshold[PLACEMENT_CPU] = 0, f->policy.threshold[0] = 80);
	EXPECT_EINVAL(f->policy.threshold[PLACEMENT_CPU] = 101, f->policy.threshold[0] = 80);
	EXPECT_EINVAL(f->policy.threshold[PLACEMENT_CPU] = NAN, f->policy.threshold[0] = 80);
	EXPECT_EINVAL(f->policy.margin = INFINITY, f->policy.margin = 10);
	EXPECT_EINVAL(f->view.nodes[0].capacity[PLACEMENT_CPU] = 0,
	              f->view.nodes[0].capacity[0] = CORES);
	EXPECT_EINVAL(f->view.nodes[0].used[PLACEMENT_MEMORY] = NAN, f->view.nodes[0].used[1] = 0);
	EXPECT_EINVAL(f->view.nodes[0].samples[0].percent[2] = INFINITY,
	              f->view.nodes[0].samples[0].percent[2] = 5);
	EXPECT_EINVAL(f->view.nodes[0].containers[0].demand[0] = -1,
	              f->view.nodes[0].containers[0].demand[0] = 1);
	EXPECT_EINVAL(f->view.nodes[0].interval_usec = 0, f->view.nodes[0].interval_usec = SEC);
	{
		char *name = f->view.nodes[1].name;

		EXPECT_EINVAL(f->view.nodes[1].name = NULL, f->view.nodes[1].name = name);
		EXPECT_EINVAL(f->view.nodes[1].name = f->view.nodes[0].name,
		              f->view.nodes[1].name = name);
	}
	{
		char *name = f->view.nodes[0].containers[0].name;

		EXPECT_EINVAL(f->view.nodes[0].containers[0].name = NULL,
		              f->view.nodes[0].containers[0].name = name);
	}
	mig_add(f, "c1", "node2", "node1", SCHED_MIGRATION_DONE, NOW - 3600 * SEC,
	        NOW - 3599 * SEC);
	EXPECT_EINVAL(f->view.migrations[0].downtime_sec = NAN,
	              f->view.migrations[0].downtime_sec = 0);
	EXPECT_EINVAL(f->view.migrations[0].state = _SCHED_MIGRATION_STATE_MAX,
	              f->view.migrations[0].state = SCHED_MIGRATION_DONE);
	assert_int_equal(sched_decide(NULL, &f->policy, NOW, &p), -EINVAL);
	assert_int_equal(sched_decide(&f->view, NULL, NOW, &p), -EINVAL);
	assert_int_equal(sched_decide(&f->view, &f->policy, NOW, &p), 0);
	sched_plan_free(p);
	fixture_free(f);
}

static void test_strings(void **state)
{
	assert_string_equal(sched_outcome_to_string(SCHED_OUTCOME_MIGRATE), "migrate");
	assert_string_equal(sched_outcome_to_string(SCHED_OUTCOME_NOTHING_FITS), "nothing-fits");
	assert_string_equal(sched_outcome_to_string(SCHED_OUTCOME_NO_CANDIDATE), "no-candidate");
	assert_string_equal(sched_outcome_to_string(SCHED_OUTCOME_DEFERRED), "deferred");
	assert_null(sched_outcome_to_string(_SCHED_OUTCOME_MAX));
	assert_string_equal(sched_node_state_to_string(SCHED_NODE_OK), "ok");
	assert_string_equal(sched_node_state_to_string(SCHED_NODE_STALE), "stale");
	assert_string_equal(sched_node_state_to_string(SCHED_NODE_OVERLOADED), "overloaded");
	assert_string_equal(sched_node_state_to_string(SCHED_NODE_DRAINED), "drained");
	assert_null(sched_node_state_to_string(_SCHED_NODE_STATE_MAX));
}

static void test_decision_json(void **state)
{
	Fixture *f = simple();
	_cleanup_json_ json_t *o = NULL;
	const SchedDecision *d;
	json_t *t, *c, *m, *pl;

	ct_add(&f->view.nodes[0], "pinned", 0.5, 10 * MIB)->opt_out = true;
	d = &decide(f)->decisions[0];
	assert_int_equal(sched_decision_to_json(d, "d-1-ab", NOW, &o), 0);
	assert_string_equal(json_get_string(o, "id"), "d-1-ab");
	assert_true(json_get_u64(o, "time_usec", 0) == NOW);
	assert_string_equal(json_get_string(o, "node"), "node1");
	assert_string_equal(json_get_string(o, "outcome"), "migrate");
	assert_string_equal(json_get_string(o, "why"), d->why);
	t = json_object_get(o, "trigger");
	assert_string_equal(json_get_string(t, "kind"), "overload");
	assert_string_equal(json_get_string(t, "resource"), "cpu");
	assert_true(json_get_number(t, "threshold", 0) == 80);
	assert_int_equal(json_array_size(json_object_get(t, "window")), 3);
	assert_true(json_number_value(json_array_get(json_object_get(t, "window"), 2)) == 95);
	assert_true(json_get_bool(json_object_get(json_object_get(t, "resources"), "cpu"),
	                          "overloaded", false));
	assert_false(json_get_bool(json_object_get(json_object_get(t, "resources"), "memory"),
	                           "overloaded", true));
	c = json_object_get(o, "candidates");
	assert_int_equal(json_array_size(c), 2);
	assert_string_equal(json_get_string(json_array_get(c, 0), "container"), "c1");
	assert_true(json_get_bool(json_array_get(c, 0), "selected", false));
	assert_true(json_is_null(json_object_get(json_array_get(c, 0), "skipped")) ||
	            !json_object_get(json_array_get(c, 0), "skipped"));
	assert_true(json_get_number(json_object_get(json_array_get(c, 0), "demand"), "cpu_cores",
	                            0) == 1);
	assert_non_null(
	        json_object_get(json_object_get(json_array_get(c, 0), "demand"), "memory_bytes"));
	assert_non_null(json_object_get(json_object_get(json_array_get(c, 0), "demand"),
	                                "network_bytes_per_sec"));
	assert_true(json_get_number(json_array_get(c, 0), "cost_sec", 0) > 0);
	assert_string_equal(json_get_string(json_array_get(c, 1), "skipped"),
	                    "labelled podmig.migrate=false");
	m = json_object_get(o, "moves");
	assert_int_equal(json_array_size(m), 1);
	assert_string_equal(json_get_string(json_array_get(m, 0), "container"), "c1");
	assert_string_equal(json_get_string(json_array_get(m, 0), "target"), "node2");
	assert_true(json_get_number(json_array_get(m, 0), "transfer_sec", 0) > 0);
	pl = json_object_get(o, "placement");
	assert_string_equal(json_get_string(pl, "solver"), "aco");
	assert_non_null(json_get_string(pl, "status"));
	assert_non_null(json_object_get(pl, "objective"));
	assert_non_null(json_object_get(pl, "imbalance"));
	assert_non_null(json_object_get(pl, "migration_seconds"));
	assert_non_null(json_object_get(pl, "solve_ms"));
	json_decref(TAKE_PTR(o));

	/* a drain, and a decision without placement */
	f->view.nodes[0].drained = true;
	f->view.nodes[1].used[PLACEMENT_CPU] = 0.79 * CORES;
	d = &decide(f)->decisions[0];
	assert_int_equal(d->outcome, SCHED_OUTCOME_NOTHING_FITS);
	assert_int_equal(sched_decision_to_json(d, "d-2", NOW, &o), 0);
	t = json_object_get(o, "trigger");
	assert_string_equal(json_get_string(t, "kind"), "drain");
	assert_null(json_object_get(t, "resource"));
	assert_null(json_object_get(o, "placement"));
	assert_string_equal(json_get_string(o, "outcome"), "nothing-fits");
	assert_int_equal(sched_decision_to_json(d, NULL, NOW, &o), -EINVAL);
	json_decref(TAKE_PTR(o));

	/* deferred: no candidates, no moves, no placement */
	f->view.nodes[0].drained = false;
	mig_add(f, "other", "node2", "node1", SCHED_MIGRATION_DONE, NOW - 20 * SEC, NOW - 10 * SEC);
	d = &decide(f)->decisions[0];
	assert_int_equal(d->outcome, SCHED_OUTCOME_DEFERRED);
	assert_int_equal(sched_decision_to_json(d, "d-3", NOW, &o), 0);
	assert_string_equal(json_get_string(o, "outcome"), "deferred");
	assert_int_equal(json_array_size(json_object_get(o, "candidates")), 0);
	assert_int_equal(json_array_size(json_object_get(o, "moves")), 0);
	assert_null(json_object_get(o, "placement"));
	fixture_free(f);
}

/* ---- selection on its own ---- */

static void test_select_set(void **state)
{
	double demand[20][SCHED_RESOURCES] = {}, cost[20], excess[SCHED_RESOURCES] = { 1, 0, 0 };
	bool need[SCHED_RESOURCES] = { true, false, false }, chosen[20];
	SchedSelection sel;

	/* 20 candidates, 4 slots: both the exact and the greedy path */
	for (size_t i = 0; i < 20; i++) {
		demand[i][0] = 0.1 + 0.05 * (double)i;
		cost[i] = 1 + (double)((i * 7) % 5);
	}
	for (size_t slots = 1; slots <= 20; slots++) {
		assert_int_equal(sched_select_set((const double(*)[SCHED_RESOURCES])demand, cost,
		                                  20, excess, need, slots, chosen, &sel),
		                 0);
		assert_true(sel.size >= 1 && sel.size <= slots);
		assert_true(sel.full);
		double sum = 0;
		for (size_t i = 0; i < 20; i++)
			sum += chosen[i] ? demand[i][0] : 0;
		assert_true(sum >= 1 - 1e-9);
	}
	/* exact: the cheapest cover (costs 1 + 2, fewer members than 1 + 1 + 1) */
	assert_int_equal(sched_select_set((const double(*)[SCHED_RESOURCES])demand, cost, 12,
	                                  excess, need, 12, chosen, &sel),
	                 0);
	assert_true(sel.full);
	assert_true(sel.cost == 3);
	assert_int_equal(sel.size, 2);
	assert_true(chosen[8] && chosen[10]);
	/* no slot: nothing */
	assert_int_equal(sched_select_set((const double(*)[SCHED_RESOURCES])demand, cost, 12,
	                                  excess, need, 0, chosen, &sel),
	                 0);
	assert_int_equal(sel.size, 0);
}

static uint64_t rng_state;

static uint64_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static double rnd_unit(void)
{
	return (double)(rnd() >> 11) / 9007199254740992.0;
}

/* The exact path against brute force over every subset. */
static void test_select_brute_force(void **state)
{
	rng_state = 0x9e3779b97f4a7c15ull;
	for (unsigned iter = 0; iter < 300; iter++) {
		size_t n = 1 + rnd() % 10, slots = rnd() % 5;
		double demand[10][SCHED_RESOURCES], cost[10], excess[SCHED_RESOURCES];
		bool need[SCHED_RESOURCES], chosen[10];
		SchedSelection sel, best = {};

		for (PlacementResource r = 0; r < SCHED_RESOURCES; r++) {
			need[r] = rnd() % 2;
			excess[r] = rnd_unit() * 2;
		}
		for (size_t i = 0; i < n; i++) {
			for (PlacementResource r = 0; r < SCHED_RESOURCES; r++)
				demand[i][r] = rnd_unit();
			cost[i] = rnd_unit() * 10;
		}
		assert_int_equal(sched_select_set((const double(*)[SCHED_RESOURCES])demand, cost, n,
		                                  excess, need, slots, chosen, &sel),
		                 0);
		for (unsigned mask = 1; mask < (1u << n); mask++) {
			double sum[SCHED_RESOURCES] = {}, c = 0, frac, total = 0;
			size_t size = (size_t)__builtin_popcount(mask);
			bool full, better;

			if (size > slots)
				continue;
			for (size_t i = 0; i < n; i++)
				if (mask & (1u << i)) {
					for (PlacementResource r = 0; r < SCHED_RESOURCES; r++)
						sum[r] += demand[i][r];
					c += cost[i];
				}
			frac = sched_relief_fraction(sum, excess, need);
			full = frac >= 1;
			for (PlacementResource r = 0; r < SCHED_RESOURCES; r++)
				if (need[r] && excess[r] > 0)
					total += MIN(sum[r] / excess[r], 1);
			if (best.size == 0)
				better = true;
			else if (full != best.full)
				better = full;
			else if (!full && fabs(frac - best.fraction) > 1e-9)
				better = frac > best.fraction;
			else if (!full && fabs(total - best.total) > 1e-9)
				better = total > best.total;
			else
				better = c < best.cost - 1e-12;
			if (better)
				best = (SchedSelection){ full, frac, total, c, size };
		}
		assert_int_equal(sel.size > 0, best.size > 0);
		assert_int_equal(sel.full, best.full);
		assert_float_equal(sel.fraction, best.fraction, 1e-9);
		assert_float_equal(sel.total, best.total, 1e-9);
		assert_float_equal(sel.cost, best.cost, 1e-9);
	}
}

/* Random views: whatever the plan, targets stay within their thresholds, concurrency within
 * its limits, and nothing moves where the rules forbid. */
static void test_property_random(void **state)
{
	rng_state = 0x2545f4914f6cdd1dull;
	for (unsigned iter = 0; iter < 400; iter++) {
		Fixture *f = fixture_new();
		size_t n_nodes = 2 + rnd() % 10;
		unsigned moves = 0, busy[MAX_NODES] = {}, moved_in[MAX_NODES] = {}, active = 0;
		double load[MAX_NODES][SCHED_RESOURCES] = {},
		       received[MAX_NODES][SCHED_RESOURCES] = {};
		const SchedPlan *p;
		char name[32];

		f->policy.window = 1 + rnd() % 4;
		f->policy.max_concurrent = rnd() % 5;
		f->policy.max_concurrent_per_node = 1 + rnd() % 3;
		f->policy.threshold[PLACEMENT_CPU] = 50 + rnd() % 50;
		f->policy.threshold[PLACEMENT_MEMORY] = 50 + rnd() % 50;
		f->policy.solver = rnd() % 2 ? PLACEMENT_SOLVER_ACO : PLACEMENT_SOLVER_LEAST_LOADED;
		f->policy.seed = iter;
		for (size_t i = 0; i < n_nodes; i++) {
			double cpu[6];
			size_t k = rnd() % 7;
			SchedNode *n;

			for (size_t j = 0; j < k; j++)
				cpu[j] = rnd_unit() * 110;
			snprintf(name, sizeof(name), "n%zu", i);
			n = node_add(f, name, cpu, k);
			n->used[PLACEMENT_MEMORY] = rnd_unit() * 0.9 * MEMORY;
			n->capacity[PLACEMENT_CPU] = 1 + (double)(rnd() % 8);
			n->used[PLACEMENT_CPU] = k > 0 ? cpu[k - 1] / 100 * n->capacity[0] : 0;
			n->drained = rnd() % 10 == 0;
			for (size_t j = 0, nc = rnd() % 7; j < nc; j++) {
				SchedContainer *c;

				snprintf(name, sizeof(name), "c%zu-%zu", i, j);
				c = ct_add(n, name, rnd_unit() * 1.5, rnd_unit() * 2 * GIB);
				c->demand[PLACEMENT_NETWORK] = rnd_unit() * 0.2 * LINK;
				c->running = rnd() % 8 != 0;
				c->opt_out = rnd() % 8 == 0;
			}
		}
		for (size_t j = 0, nm = rnd() % 6; j < nm; j++) {
			size_t a = rnd() % n_nodes, b = rnd() % n_nodes;
			SchedNode *src = &f->view.nodes[a];
			SchedMigration *m;

			if (a == b || src->n_containers == 0)
				continue;
			m = mig_add(f, src->containers[rnd() % src->n_containers].name, src->name,
			            f->view.nodes[b].name, rnd() % 3, NOW - rnd() % 900 * SEC, 0);
			if (m->state != SCHED_MIGRATION_ACTIVE)
				m->ended_usec = m->started_usec + SEC;
			m->downtime_sec = rnd_unit();
		}

		p = decide(f);

		/* what the view holds */
		for (size_t i = 0; i < n_nodes; i++)
			memcpy(load[i], f->view.nodes[i].used, sizeof(load[i]));
		for (size_t j = 0; j < f->view.n_migrations; j++) {
			const SchedMigration *m = &f->view.migrations[j];
			size_t a = (size_t)atoi(m->source + 1), b = (size_t)atoi(m->target + 1);

			if (m->state != SCHED_MIGRATION_ACTIVE)
				continue;
			active++;
			busy[a]++;
			busy[b]++;
			for (size_t k = 0; k < f->view.nodes[a].n_containers; k++)
				if (streq(f->view.nodes[a].containers[k].name, m->container))
					for (PlacementResource r = 0; r < SCHED_RESOURCES; r++)
						load[b][r] +=
						        f->view.nodes[a].containers[k].demand[r];
		}
		assert_int_equal(p->active_migrations, active);

		for (size_t i = 0; i < p->n_decisions; i++) {
			const SchedDecision *d = &p->decisions[i];
			size_t s = (size_t)atoi(d->node + 1);

			assert_non_null(d->why);
			assert_true(p->verdicts[s].state == SCHED_NODE_OVERLOADED ||
			            p->verdicts[s].state == SCHED_NODE_DRAINED);
			assert_int_equal(d->outcome == SCHED_OUTCOME_MIGRATE, d->n_moves > 0);
			for (size_t k = 0; k < d->n_moves; k++) {
				size_t t = (size_t)atoi(d->moves[k].target + 1);
				const SchedContainer *c = NULL;

				assert_true(t != s);
				assert_int_equal(p->verdicts[t].state, SCHED_NODE_OK);
				for (size_t q = 0; q < f->view.nodes[s].n_containers; q++)
					if (streq(f->view.nodes[s].containers[q].name,
					          d->moves[k].container))
						c = &f->view.nodes[s].containers[q];
				assert_non_null(c);
				assert_true(c->running && !c->opt_out);
				for (PlacementResource r = 0; r < SCHED_RESOURCES; r++)
					received[t][r] += c->demand[r];
				moved_in[t]++;
				busy[s]++;
				moves++;
				/* never back where it came from within the return cooldown */
				for (size_t j = 0; j < f->view.n_migrations; j++) {
					const SchedMigration *m = &f->view.migrations[j];

					if (streq(m->container, c->name) &&
					    m->state == SCHED_MIGRATION_DONE &&
					    NOW - m->ended_usec < 600 * SEC)
						assert_string_not_equal(m->source,
						                        d->moves[k].target);
				}
			}
		}
		if (moves > 0)
			assert_true(active + moves <= f->policy.max_concurrent);
		for (size_t t = 0; t < n_nodes; t++) {
			const SchedNode *n = &f->view.nodes[t];

			if (moved_in[t] == 0)
				continue;
			busy[t] += moved_in[t];
			assert_true(busy[t] <= f->policy.max_concurrent_per_node);
			for (PlacementResource r = 0; r < SCHED_RESOURCES; r++)
				assert_true(load[t][r] + received[t][r] <=
				            p->verdicts[t].threshold[r] / 100 * n->capacity[r] *
				                    (1 + 1e-9));
		}
		for (size_t s = 0; s < n_nodes; s++)
			if (busy[s] > 0 && moved_in[s] == 0) {
				/* a source: its moves stay within its free slots */
				unsigned before = 0;

				for (size_t j = 0; j < f->view.n_migrations; j++) {
					const SchedMigration *m = &f->view.migrations[j];

					if (m->state == SCHED_MIGRATION_ACTIVE &&
					    (streq(m->source, f->view.nodes[s].name) ||
					     streq(m->target, f->view.nodes[s].name)))
						before++;
				}
				if (busy[s] > before)
					assert_true(busy[s] <= f->policy.max_concurrent_per_node);
			}
		fixture_free(f);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_window_not_full),
		cmocka_unit_test(test_window_full),
		cmocka_unit_test(test_hysteresis),
		cmocka_unit_test(test_predictive),
		cmocka_unit_test(test_gap_resets),
		cmocka_unit_test(test_stale),
		cmocka_unit_test(test_opt_out),
		cmocka_unit_test(test_container_cooldown),
		cmocka_unit_test(test_moved_away),
		cmocka_unit_test(test_node_cooldown),
		cmocka_unit_test(test_return_cooldown),
		cmocka_unit_test(test_rolled_back_pair),
		cmocka_unit_test(test_concurrency_cluster),
		cmocka_unit_test(test_concurrency_node),
		cmocka_unit_test(test_concurrency_within_plan),
		cmocka_unit_test(test_nothing_fits),
		cmocka_unit_test(test_least_cost),
		cmocka_unit_test(test_partial_relief),
		cmocka_unit_test(test_unknown_demand),
		cmocka_unit_test(test_drain),
		cmocka_unit_test(test_in_flight_load),
		cmocka_unit_test(test_policy_override),
		cmocka_unit_test(test_invalid),
		cmocka_unit_test(test_strings),
		cmocka_unit_test(test_decision_json),
		cmocka_unit_test(test_select_set),
		cmocka_unit_test(test_select_brute_force),
		cmocka_unit_test(test_property_random),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
