/* Sim-to-real: one short trace replayed twice with the same scheduler policy — on the 3-node
 * local cluster (1 CPU and 2 GiB declared per node), tracehog containers following the trace
 * files and the real podmig-scheduler deciding; and in the simulator's library (sim_run(),
 * which calls the same decision library). The migrations — which container, from where, to
 * where, in order — must be the same.
 *
 * The replay is driven by memory, which the collector measures exactly (CPU measured on a
 * shared machine is below nominal): no trace burns CPU. "grow" goes from 50 to 500 MiB after
 * 30 s on node1 beside "flat-200", taking node1 to about 34 % of 2 GiB, over a memory
 * threshold of 30 % by about 80 MiB; only "grow" leaving brings node1 under 20 % (threshold −
 * margin), and only node3 ("idle") takes it under 30 % — node2 ("flat-300") would reach about
 * 39 %. Each margin is 80 MiB or more, far above a container's own overhead.
 *
 * argv[1]: the podmig CLI; argv[2]: the trace directory (also baked into the image at
 * /traces). */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "json-util.h"
#include "macro.h"
#include "migrate-fixture.h"
#include "process-util.h"
#include "sim.h"
#include "strutil.h"
#include "time-util.h"

#define STEP_MS       5000
#define MIB_AT_100    1000 /* a trace's MEM% is of this many MiB */
#define TRACE_STEPS   18
#define MEM_THRESHOLD 30
#define MARGIN        10

static ClusterFixture *cluster;
static const char *podmig, *trace_dir;
static const char *const nodes[] = { "node1", "node2", "node3" };

/* In start order: "grow" last, so its growth comes after every container runs. */
static const struct {
	const char *name, *trace, *node;
} cts[] = {
	{ "sr-b", "flat-200", "node1" },
	{ "sr-c", "flat-300", "node2" },
	{ "sr-d", "idle", "node3" },
	{ "sr-a", "grow", "node1" },
};

#define query(...) migrate_fixture_query(podmig, __VA_ARGS__)
/* `podmig policy set ASSIGNMENTS...`, which must succeed. */
#define policy_set(...) assert_int_equal(migrate_fixture_policy_set(podmig, __VA_ARGS__), 0)

static int setup(void **state)
{
	setenv("PODMIG_TEST_SCHEDULERS", "1", 1);
	if (cluster_fixture_up(3, &cluster) < 0)
		return -1;
	setenv("PODMIG_ETCD_ENDPOINTS", cluster_fixture_env(cluster, "PODMIG_ETCD_ENDPOINTS"), 1);
	return migrate_fixture_wait_nodes(podmig, 3, 30000) < 0 ? -1 : 0;
}

static int teardown(void **state)
{
	cluster_fixture_down(cluster);
	cluster = NULL;
	return 0;
}

/* "container source target" per automatic migration, oldest first, one per line. */
static char *real_sequence(void)
{
	_cleanup_json_ json_t *all = query("history");
	char *s = strdup("");
	size_t n = json_array_size(all);

	assert_non_null(s);
	for (size_t i = n; i-- > 0;) {
		json_t *r = json_array_get(all, i);
		char *next = NULL;

		if (streq_ptr(json_string_value(json_object_get(r, "reason")), "manual"))
			continue;
		assert_true(asprintf(&next, "%s%s %s %s\n", s,
		                     json_string_value(json_object_get(r, "container")) ?: "?",
		                     json_string_value(json_object_get(r, "source")) ?: "?",
		                     json_string_value(json_object_get(r, "target")) ?: "?") > 0);
		free(s);
		s = next;
	}
	return s;
}

/* The same replay in the simulator: the nodes and containers above, sampled every second
 * (the agents' interval), the policy as set on the cluster. */
static char *sim_sequence(void)
{
	_cleanup_(sim_trace_set_freep) SimTraceSet *traces = NULL;
	SimPlacement placement[ELEMENTSOF(cts)];
	SchedPolicy policy;
	SimConfig c;
	SimResult res = {};
	ErrorDetail err = {};
	char *s = strdup("");

	assert_non_null(s);
	assert_int_equal(sim_traces_load(trace_dir, NAN, &traces, &err), 0);
	for (size_t i = 0; i < ELEMENTSOF(cts); i++) {
		placement[i] = (SimPlacement){ .trace = UINT32_MAX };
		for (size_t t = 0; t < traces->n; t++)
			if (streq(traces->traces[t].name, cts[i].trace))
				placement[i].trace = (uint32_t)t;
		for (size_t k = 0; k < ELEMENTSOF(nodes); k++)
			if (streq(nodes[k], cts[i].node))
				placement[i].node = (uint32_t)k;
		assert_int_not_equal(placement[i].trace, UINT32_MAX);
	}
	sched_policy_init(&policy);
	policy.threshold[PLACEMENT_MEMORY] = MEM_THRESHOLD;
	policy.margin = MARGIN;
	sim_config_init(&c, &policy, ELEMENTSOF(nodes));
	c.n_containers = ELEMENTSOF(cts);
	c.placement = placement;
	c.hold_last = true;
	c.node_cpu = 1;
	c.node_memory = 2.0 * 1024 * 1024 * 1024;
	c.container_memory = MIB_AT_100 * 1024.0 * 1024;
	c.trace_step_usec = STEP_MS * 1000ull;
	c.step_usec = 1000000;
	c.duration_usec = (TRACE_STEPS + 6) * c.trace_step_usec;
	assert_int_equal(sim_run(&c, traces, SIM_POLICY_PODMIG, &res, &err), 0);
	for (size_t i = 0; i < res.n_moves; i++) {
		char *next = NULL;

		assert_true(asprintf(&next, "%s%s %s %s\n", s, cts[res.moves[i].container].name,
		                     nodes[res.moves[i].source], nodes[res.moves[i].target]) > 0);
		free(s);
		s = next;
	}
	sim_result_done(&res);
	sched_policy_done(&policy);
	return s;
}

static void test_same_migrations(void **state)
{
	char thr[64], margin[64];
	_cleanup_free_ char *expected = sim_sequence(), *seen = NULL;

	printf("simulator: %s", *expected ? expected : "(no migration)\n");
	assert_string_equal(expected, "sr-a node1 node3\n");

	snprintf(thr, sizeof thr, "thresholds.memory=%d", MEM_THRESHOLD);
	snprintf(margin, sizeof margin, "margin=%d", MARGIN);
	policy_set("mode=observe", thr, margin, "window=3", NULL);
	uint64_t last_start = 0;
	for (size_t i = 0; i < ELEMENTSOF(cts); i++) {
		char extra[256];

		snprintf(extra, sizeof extra, ",\"command\":[\"/traces/%s\",\"%d\",\"%d\"]",
		         cts[i].trace, STEP_MS, MIB_AT_100);
		last_start = mono_msec();
		assert_int_equal(
		        migrate_fixture_start_container(cluster, podmig, cts[i].node, cts[i].name,
		                                        "localhost/podmig/tracehog", extra),
		        0);
	}
	assert_true(mono_msec() - last_start < 6 * STEP_MS - 5000);
	policy_set("mode=act", NULL);

	/* The whole trace, then a little more for anything late. */
	while (mono_msec() < last_start + (TRACE_STEPS + 4) * STEP_MS)
		sleep(1);
	seen = real_sequence();
	printf("cluster:   %s", *seen ? seen : "(no migration)\n");
	if (!streq(seen, expected)) {
		_cleanup_json_ json_t *decisions = query("decisions");
		_cleanup_free_ char *dump = json_dumps(decisions, JSON_INDENT(1));
		printf("decisions: %s\n", dump ?: "?");
	}
	assert_string_equal(seen, expected);
}

int main(int argc, char *argv[])
{
	if (argc < 3) {
		fprintf(stderr, "usage: %s PODMIG-CLI TRACE-DIR\n", argv[0]);
		return 2;
	}
	podmig = argv[1];
	trace_dir = argv[2];
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_same_migrations),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
