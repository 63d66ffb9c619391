/* Tests of the policy document: defaults, a full document, the round trip, every rejection
 * with the key it names, and `podmig policy set KEY=VALUE` on each kind of key. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "scheduler.h"
#include "strutil.h"

static const char full_document[] =
        "{ \"mode\": \"observe\","
        "  \"thresholds\": { \"cpu\": 70, \"memory\": 75.5, \"network\": 60 },"
        "  \"nodes\": { \"node1\": { \"thresholds\": { \"cpu\": 60 } },"
        "             \"node2.example.com\": { \"thresholds\": { \"memory\": 50, \"network\": 40 "
        "} } },"
        "  \"window\": 5, \"margin\": 12.5,"
        "  \"cooldown\": { \"container_sec\": 60, \"node_sec\": 15, \"return_sec\": 300 },"
        "  \"concurrency\": { \"cluster\": 4, \"per_node\": 2 },"
        "  \"solver\": \"least-loaded\", \"seed\": 42,"
        "  \"weights\": { \"imbalance\": 2, \"migration\": 0.5, \"cpu\": 1, \"memory\": 0.5,"
        "                 \"network\": 0 },"
        "  \"retention\": { \"migrations\": 10, \"decisions\": 20, \"max_age_sec\": 86400 } }";

static json_t *load(const char *text)
{
	json_error_t e;
	json_t *doc = json_loads(text, JSON_REJECT_DUPLICATES, &e);
	if (!doc)
		fail_msg("bad test JSON: %s", e.text);
	return doc;
}

static const SchedNodeOverride *find_override(const SchedPolicy *p, const char *node)
{
	for (size_t i = 0; i < p->n_overrides; i++)
		if (streq(p->overrides[i].node, node))
			return &p->overrides[i];
	return NULL;
}

/* Same values, overrides in any order. */
static void assert_policy_equal(const SchedPolicy *a, const SchedPolicy *b)
{
	assert_int_equal(a->mode, b->mode);
	for (size_t i = 0; i < SCHED_RESOURCES; i++) {
		assert_float_equal(a->threshold[i], b->threshold[i], 0);
		assert_float_equal(a->weights.resource[i], b->weights.resource[i], 0);
	}
	assert_int_equal(a->n_overrides, b->n_overrides);
	for (size_t k = 0; k < a->n_overrides; k++) {
		const SchedNodeOverride *o = find_override(b, a->overrides[k].node);
		assert_non_null(o);
		for (size_t i = 0; i < SCHED_RESOURCES; i++)
			assert_true(isnan(a->overrides[k].threshold[i])
			                    ? isnan(o->threshold[i])
			                    : a->overrides[k].threshold[i] == o->threshold[i]);
	}
	assert_int_equal(a->window, b->window);
	assert_int_equal(a->predict_samples, b->predict_samples);
	assert_float_equal(a->margin, b->margin, 0);
	assert_int_equal(a->container_cooldown_sec, b->container_cooldown_sec);
	assert_int_equal(a->node_cooldown_sec, b->node_cooldown_sec);
	assert_int_equal(a->return_cooldown_sec, b->return_cooldown_sec);
	assert_int_equal(a->max_concurrent, b->max_concurrent);
	assert_int_equal(a->max_concurrent_per_node, b->max_concurrent_per_node);
	assert_int_equal(a->solver, b->solver);
	assert_int_equal(a->seed, b->seed);
	assert_float_equal(a->weights.imbalance, b->weights.imbalance, 0);
	assert_float_equal(a->weights.migration, b->weights.migration, 0);
	assert_int_equal(a->keep_migrations, b->keep_migrations);
	assert_int_equal(a->keep_decisions, b->keep_decisions);
	assert_int_equal(a->history_max_age_sec, b->history_max_age_sec);
}

/* Through JSON text and back, as etcd stores it. */
static void round_trip(const SchedPolicy *p)
{
	json_t *doc = NULL;
	assert_int_equal(sched_policy_to_json(p, &doc), 0);
	char *text = json_dumps(doc, JSON_COMPACT);
	assert_non_null(text);
	json_decref(doc);
	doc = load(text);
	free(text);
	SchedPolicy back;
	char *error = NULL;
	assert_int_equal(sched_policy_from_json(doc, &back, &error), 0);
	assert_null(error);
	assert_policy_equal(p, &back);
	sched_policy_done(&back);
	json_decref(doc);
}

static void test_defaults(void **state)
{
	SchedPolicy d, p;
	char *error = NULL;
	sched_policy_init(&d);

	/* an empty document is the defaults */
	json_t *empty = load("{}");
	assert_int_equal(sched_policy_from_json(empty, &p, &error), 0);
	json_decref(empty);
	assert_policy_equal(&d, &p);
	assert_int_equal(p.mode, SCHED_MODE_ACT);
	assert_float_equal(p.threshold[PLACEMENT_MEMORY], 85, 0);
	assert_int_equal(p.window, 3);
	assert_int_equal(p.solver, PLACEMENT_SOLVER_ACO);
	sched_policy_done(&p);
	round_trip(&d);

	/* to_json writes every key */
	json_t *doc = NULL;
	assert_int_equal(sched_policy_to_json(&d, &doc), 0);
	const char *const keys[] = { "mode",          "thresholds", "nodes",       "window",
		                     "predict",       "margin",     "cooldown",    "solver",
		                     "seed",          "weights",    "concurrency", "retention",
		                     "migration_mode" };
	for (size_t i = 0; i < ELEMENTSOF(keys); i++)
		assert_non_null(json_object_get(doc, keys[i]));
	assert_int_equal(json_object_size(doc), ELEMENTSOF(keys));
	assert_int_equal(json_object_size(json_object_get(doc, "weights")), 5);
	assert_int_equal(json_object_size(json_object_get(doc, "cooldown")), 3);
	assert_int_equal(json_object_size(json_object_get(doc, "retention")), 3);
	json_decref(doc);
	sched_policy_done(&d);
}

static void test_full_document(void **state)
{
	json_t *doc = load(full_document);
	SchedPolicy p;
	char *error = NULL;
	assert_int_equal(sched_policy_from_json(doc, &p, &error), 0);
	json_decref(doc);
	assert_int_equal(p.mode, SCHED_MODE_OBSERVE);
	assert_float_equal(p.threshold[PLACEMENT_CPU], 70, 0);
	assert_float_equal(p.threshold[PLACEMENT_MEMORY], 75.5, 0);
	assert_int_equal(p.n_overrides, 2);
	assert_float_equal(sched_policy_threshold(&p, "node1", PLACEMENT_CPU), 60, 0);
	assert_float_equal(sched_policy_threshold(&p, "node1", PLACEMENT_MEMORY), 75.5, 0);
	assert_float_equal(sched_policy_threshold(&p, "node2.example.com", PLACEMENT_NETWORK), 40,
	                   0);
	assert_float_equal(sched_policy_threshold(&p, "node3", PLACEMENT_NETWORK), 60, 0);
	assert_int_equal(p.window, 5);
	assert_float_equal(p.margin, 12.5, 0);
	assert_int_equal(p.container_cooldown_sec, 60);
	assert_int_equal(p.node_cooldown_sec, 15);
	assert_int_equal(p.return_cooldown_sec, 300);
	assert_int_equal(p.max_concurrent, 4);
	assert_int_equal(p.max_concurrent_per_node, 2);
	assert_int_equal(p.solver, PLACEMENT_SOLVER_LEAST_LOADED);
	assert_int_equal(p.seed, 42);
	assert_float_equal(p.weights.imbalance, 2, 0);
	assert_float_equal(p.weights.migration, 0.5, 0);
	assert_float_equal(p.weights.resource[PLACEMENT_NETWORK], 0, 0);
	assert_int_equal(p.keep_migrations, 10);
	assert_int_equal(p.keep_decisions, 20);
	assert_int_equal(p.history_max_age_sec, 86400);
	round_trip(&p);

	/* a node without thresholds of its own is no override */
	doc = load("{\"nodes\": {\"node9\": {}, \"node8\": {\"thresholds\": {}}}}");
	SchedPolicy q;
	assert_int_equal(sched_policy_from_json(doc, &q, &error), 0);
	json_decref(doc);
	assert_int_equal(q.n_overrides, 0);
	sched_policy_done(&q);
	sched_policy_done(&p);
}

static void test_rejections(void **state)
{
	static const struct {
		const char *doc;
		const char *message; /* part of it */
	} bad[] = {
		{ "[]", "policy: [] is not an object" },
		{ "{\"colour\": 1}", "colour: unknown key" },
		{ "{\"thresholds\": {\"disk\": 50}}", "thresholds.disk: unknown key" },
		{ "{\"thresholds\": {\"cpu\": 120}}", "thresholds.cpu: 120 is not in (0, 100]" },
		{ "{\"thresholds\": {\"cpu\": 0}}", "thresholds.cpu: 0 is not in (0, 100]" },
		{ "{\"thresholds\": {\"memory\": -5}}", "thresholds.memory: -5 is negative" },
		{ "{\"thresholds\": {\"cpu\": \"80\"}}", "thresholds.cpu: \"80\" is not a number" },
		{ "{\"thresholds\": 80}", "thresholds: 80 is not an object" },
		{ "{\"nodes\": {\"node1\": {\"thresholds\": {\"cpu\": 101}}}}",
		  "nodes.node1.thresholds.cpu: 101 is not in (0, 100]" },
		{ "{\"nodes\": {\"node1\": {\"limits\": {}}}}", "nodes.node1.limits: unknown key" },
		{ "{\"nodes\": {\"-node\": {\"thresholds\": {\"cpu\": 50}}}}",
		  "nodes: '-node' is not a node name" },
		{ "{\"nodes\": {\"a b\": {}}}", "nodes: 'a b' is not a node name" },
		{ "{\"nodes\": []}", "nodes: [] is not an object" },
		{ "{\"window\": 0}", "window: 0 is not in [1, 16]" },
		{ "{\"window\": 17}", "window: 17 is not in [1, 16]" },
		{ "{\"predict\": 17}", "predict: 17 is not in [0, 16]" },
		{ "{\"predict\": -1}", "predict: -1 is negative" },
		{ "{\"window\": 2.5}", "window: 2.5 is not an integer" },
		{ "{\"window\": true}", "window: true is not a number" },
		{ "{\"margin\": -1}", "margin: -1 is negative" },
		{ "{\"margin\": 80}",
		  "margin: 80 is not below the lowest threshold (80, thresholds.cpu)" },
		{ "{\"margin\": 50, \"nodes\": {\"n1\": {\"thresholds\": {\"memory\": 40}}}}",
		  "margin: 50 is not below the lowest threshold (40, nodes.n1.thresholds.memory)" },
		{ "{\"cooldown\": {\"container_sec\": -1}}",
		  "cooldown.container_sec: -1 is negative" },
		{ "{\"cooldown\": {\"node_sec\": 1.5}}",
		  "cooldown.node_sec: 1.5 is not an integer" },
		{ "{\"cooldown\": {\"minutes\": 1}}", "cooldown.minutes: unknown key" },
		{ "{\"concurrency\": {\"cluster\": 0}}", "concurrency.cluster: 0 is not in [1, " },
		{ "{\"concurrency\": {\"per_node\": 0}}",
		  "concurrency.per_node: 0 is not in [1, " },
		{ "{\"mode\": \"fast\"}", "mode: \"fast\" is not one of act, observe" },
		{ "{\"mode\": 1}", "mode: 1 is not one of act, observe" },
		{ "{\"solver\": \"magic\"}", "solver: \"magic\" is not one of aco, exact" },
		{ "{\"seed\": -3}", "seed: -3 is negative" },
		{ "{\"weights\": {\"cpu\": 0, \"memory\": 0, \"network\": 0}}",
		  "weights: cpu, memory and network cannot all be 0" },
		{ "{\"weights\": {\"migration\": -0.5}}", "weights.migration: -0.5 is negative" },
		{ "{\"weights\": {\"migration\": 1e31}}",
		  "weights.migration: 1e+31 is above 1e+30" },
		{ "{\"weights\": {\"memory\": 1e300}}", "weights.memory: 1e+300 is above 1e+30" },
		{ "{\"weights\": {\"disk\": 1}}", "weights.disk: unknown key" },
		{ "{\"retention\": {\"migrations\": -1}}", "retention.migrations: -1 is negative" },
		{ "{\"retention\": {\"max_age_sec\": \"1d\"}}",
		  "retention.max_age_sec: \"1d\" is not a number" },
	};
	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		json_t *doc = load(bad[i].doc);
		SchedPolicy p;
		char *error = NULL;
		sched_policy_init(&p);
		p.window = 7; /* untouched on failure */
		assert_int_equal(sched_policy_from_json(doc, &p, &error), -EINVAL);
		assert_non_null(error);
		if (!strstr(error, bad[i].message))
			fail_msg("%s: got \"%s\", expected \"%s\"", bad[i].doc, error,
			         bad[i].message);
		assert_int_equal(p.window, 7);
		assert_int_equal(p.n_overrides, 0);
		free(error);
		/* no message asked for */
		assert_int_equal(sched_policy_from_json(doc, &p, NULL), -EINVAL);
		json_decref(doc);
	}
}

static void set_ok(SchedPolicy *p, const char *assignment)
{
	char *error = NULL;
	int r = sched_policy_set(p, assignment, &error);
	if (r < 0)
		fail_msg("%s: %s", assignment, error ?: strerror(-r));
	assert_null(error);
}

static void test_set(void **state)
{
	SchedPolicy p;
	sched_policy_init(&p);

	set_ok(&p, "thresholds.cpu=70");
	assert_float_equal(p.threshold[PLACEMENT_CPU], 70, 0);
	set_ok(&p, "thresholds.network=55.5");
	assert_float_equal(p.threshold[PLACEMENT_NETWORK], 55.5, 0);
	set_ok(&p, "mode=observe");
	assert_int_equal(p.mode, SCHED_MODE_OBSERVE);
	assert_int_equal(p.migration_mode, MODE_REQUEST_AUTO);
	set_ok(&p, "migration_mode=page-server");
	assert_int_equal(p.migration_mode, MODE_REQUEST_PAGE_SERVER);
	set_ok(&p, "migration_mode=post-copy");
	assert_int_equal(p.migration_mode, MODE_REQUEST_POST_COPY);
	set_ok(&p, "migration_mode=page-server");
	set_ok(&p, "cooldown.container_sec=60");
	assert_int_equal(p.container_cooldown_sec, 60);
	set_ok(&p, "solver=least-loaded");
	assert_int_equal(p.solver, PLACEMENT_SOLVER_LEAST_LOADED);
	set_ok(&p, "weights.migration=5e-1");
	assert_float_equal(p.weights.migration, 0.5, 0);
	set_ok(&p, "weights.migration=0.5");
	assert_float_equal(p.weights.migration, 0.5, 0);
	set_ok(&p, "window=5");
	set_ok(&p, "predict=2");
	assert_int_equal(p.predict_samples, 2);
	assert_int_equal(p.window, 5);
	set_ok(&p, "margin=5");
	assert_float_equal(p.margin, 5, 0);
	set_ok(&p, "concurrency.per_node=3");
	assert_int_equal(p.max_concurrent_per_node, 3);
	set_ok(&p, "seed=99");
	assert_int_equal(p.seed, 99);
	set_ok(&p, "retention.max_age_sec=3600");
	assert_int_equal(p.history_max_age_sec, 3600);

	/* per node: add, change, remove one resource, remove the node */
	set_ok(&p, "nodes.node1.thresholds.memory=60");
	assert_int_equal(p.n_overrides, 1);
	assert_float_equal(sched_policy_threshold(&p, "node1", PLACEMENT_MEMORY), 60, 0);
	assert_float_equal(sched_policy_threshold(&p, "node1", PLACEMENT_CPU), 70, 0);
	set_ok(&p, "nodes.node1.thresholds.cpu=50");
	assert_float_equal(sched_policy_threshold(&p, "node1", PLACEMENT_CPU), 50, 0);
	set_ok(&p, "nodes.node2.example.com.thresholds.cpu=40");
	assert_int_equal(p.n_overrides, 2);
	assert_float_equal(sched_policy_threshold(&p, "node2.example.com", PLACEMENT_CPU), 40, 0);
	set_ok(&p, "nodes.node1.thresholds.memory=");
	assert_float_equal(sched_policy_threshold(&p, "node1", PLACEMENT_MEMORY), 85, 0);
	assert_float_equal(sched_policy_threshold(&p, "node1", PLACEMENT_CPU), 50, 0);
	set_ok(&p, "nodes.node1.thresholds.cpu=");
	assert_int_equal(p.n_overrides, 1); /* nothing left of node1 */
	assert_null(find_override(&p, "node1"));
	set_ok(&p, "nodes.node2.example.com=");
	assert_int_equal(p.n_overrides, 0);
	set_ok(&p, "nodes.node7.thresholds.cpu="); /* nothing to remove: fine */
	assert_int_equal(p.n_overrides, 0);

	/* empty: back to the default */
	set_ok(&p, "thresholds.cpu=");
	assert_float_equal(p.threshold[PLACEMENT_CPU], 80, 0);
	set_ok(&p, "mode=");
	assert_int_equal(p.mode, SCHED_MODE_ACT);
	round_trip(&p);
	sched_policy_done(&p);
}

static void test_set_rejections(void **state)
{
	static const struct {
		const char *assignment;
		const char *message;
	} bad[] = {
		{ "thresholds.cpu", "'thresholds.cpu' is not KEY=VALUE" },
		{ "=5", "'=5' is not KEY=VALUE" },
		{ "thresholds.cpu=120", "thresholds.cpu: 120 is not in (0, 100]" },
		{ "thresholds.cpu=-1", "thresholds.cpu: -1 is negative" },
		{ "thresholds.cpu=high", "thresholds.cpu: 'high' is not a number" },
		{ "thresholds.disk=50", "thresholds.disk: unknown key" },
		{ "colour=blue", "colour: unknown key" },
		{ "cooldown=5", "cooldown: unknown key" },
		{ "window=0", "window: 0 is not in [1, 16]" },
		{ "window=2.5", "window: 2.5 is not an integer" },
		{ "margin=85", "margin: 85 is not below the lowest threshold" },
		{ "concurrency.cluster=0", "concurrency.cluster: 0 is not in [1, " },
		{ "mode=fast", "mode: \"fast\" is not one of act, observe" },
		{ "migration_mode=lazy", "migration_mode: \"lazy\" is not one of" },
		{ "solver=magic", "solver: \"magic\" is not one of" },
		{ "seed=-1", "seed: -1 is negative" },
		{ "weights.cpu=nan", "weights.cpu: 'nan' is not a number" },
		{ "window=0x10", "window: '0x10' is not a number" },
		{ "seed=99999999999999999999999",
		  "seed: '99999999999999999999999' is not a number" },
		{ "nodes.node1.thresholds.cpu=0",
		  "nodes.node1.thresholds.cpu: 0 is not in (0, 100]" },
		{ "nodes.node1.thresholds.disk=5", "nodes.node1.thresholds.disk: unknown key" },
		{ "nodes.-x.thresholds.cpu=5", "nodes.-x.thresholds.cpu: '-x' is not a node name" },
		{ "nodes.node1=5", "nodes.node1: only an empty value" },
		{ "nodes.=", "nodes.: unknown key" },
		{ "nodes.node1.thresholds=5", "nodes.node1.thresholds: unknown key" },
	};
	SchedPolicy p, before;
	sched_policy_init(&p);
	set_ok(&p, "nodes.node1.thresholds.cpu=60");
	sched_policy_init(&before);
	set_ok(&before, "nodes.node1.thresholds.cpu=60");
	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		char *error = NULL;
		assert_int_equal(sched_policy_set(&p, bad[i].assignment, &error), -EINVAL);
		assert_non_null(error);
		if (!strstr(error, bad[i].message))
			fail_msg("%s: got \"%s\", expected \"%s\"", bad[i].assignment, error,
			         bad[i].message);
		free(error);
		assert_policy_equal(&before, &p); /* unchanged */
	}
	sched_policy_done(&p);
	sched_policy_done(&before);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),       cmocka_unit_test(test_full_document),
		cmocka_unit_test(test_rejections),     cmocka_unit_test(test_set),
		cmocka_unit_test(test_set_rejections),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
