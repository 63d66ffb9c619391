/* Tests of the simulator: trace parsing and its refusals, the timing model, and small clusters
 * where each policy's answer is known — one node driven over its threshold by a trace, the
 * others idle. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "macro.h"
#include "sim.h"

static void test_trace_parse(void **state)
{
	SimTrace t = {};
	ErrorDetail err = {};

	assert_int_equal(sim_trace_parse("# cpu mem\n10 20\n\n30.5\t40\n", "a", NAN, &t, &err), 0);
	assert_int_equal(t.n, 2);
	assert_float_equal(t.cpu[1], 30.5, 1e-6);
	assert_float_equal(t.mem[1], 40, 1e-6);
	sim_trace_done(&t);

	/* one column: memory from the caller */
	assert_int_equal(sim_trace_parse("10\n20\n", "b", 7, &t, &err), 0);
	assert_float_equal(t.mem[0], 7, 1e-6);
	sim_trace_done(&t);

	assert_int_equal(sim_trace_parse("10\n", "c", NAN, &t, &err), -EINVAL);
	assert_non_null(strstr(err.message, "c:1"));
	error_detail_clear(&err);
	assert_int_equal(sim_trace_parse("10 20\n10 x\n", "d", NAN, &t, &err), -EINVAL);
	assert_non_null(strstr(err.message, "d:2"));
	error_detail_clear(&err);
	assert_int_equal(sim_trace_parse("-1 20\n", "e", NAN, &t, &err), -EINVAL);
	error_detail_clear(&err);
	assert_int_equal(sim_trace_parse("10 20 30\n", "f", NAN, &t, &err), -EINVAL);
	error_detail_clear(&err);
	assert_int_equal(sim_trace_parse("\n# nothing\n", "g", NAN, &t, &err), -EINVAL);
	assert_non_null(strstr(err.message, "no samples"));
	assert_null(t.cpu);
}

static void test_timing(void **state)
{
	SimTiming t;
	ErrorDetail err = {};
	double down, total;

	sim_timing_default(SIM_MODE_PODMIG, &t);
	sim_timing_eval(&t, 512, &down, &total);
	assert_float_equal(down, 3.40, 1e-9);
	assert_float_equal(total, 3.73, 1e-9);
	/* between points: linear */
	sim_timing_eval(&t, 768, &down, &total);
	assert_float_equal(down, (3.40 + 10.10) / 2, 1e-9);
	/* beyond the last: the last segment extended */
	sim_timing_eval(&t, 2048, &down, &total);
	assert_float_equal(down, 10.10 + (10.10 - 3.40) * 2, 1e-9);
	assert_true(total >= down);

	assert_int_equal(sim_timing_parse("100:1:2,200:2:3", &t, &err), 0);
	assert_int_equal(t.n, 2);
	sim_timing_eval(&t, 150, &down, &total);
	assert_float_equal(down, 1.5, 1e-9);
	assert_float_equal(total, 2.5, 1e-9);
	assert_int_equal(sim_timing_parse("100:1:2", &t, &err), 0);
	sim_timing_eval(&t, 50, &down, &total);
	assert_float_equal(total, 1, 1e-9);

	assert_int_equal(sim_timing_parse("100:3:2", &t, &err), -EINVAL);
	assert_int_equal(sim_timing_parse("200:1:2,100:1:2", &t, &err), -EINVAL);
	assert_int_equal(sim_timing_parse("100:1", &t, &err), -EINVAL);
	assert_int_equal(sim_timing_parse("", &t, &err), -EINVAL);
}

/* Two traces: "busy" steps from 10 % to 90 % CPU after 3 samples; "idle" stays at 10 %. */
static SimTraceSet *two_traces(void)
{
	SimTraceSet *s = calloc(1, sizeof(SimTraceSet));
	ErrorDetail err = {};
	char busy[4096] = "", *p = busy;

	assert_non_null(s);
	s->traces = calloc(2, sizeof(SimTrace));
	assert_non_null(s->traces);
	for (int i = 0; i < 40; i++)
		p += sprintf(p, "%d 10\n", i < 3 ? 10 : 90);
	assert_int_equal(sim_trace_parse(busy, "busy", NAN, &s->traces[0], &err), 0);
	assert_int_equal(sim_trace_parse("10 10\n", "idle", NAN, &s->traces[1], &err), 0);
	s->n = 2;
	return s;
}

/* 8 nodes of 2 cores; 16 containers of 1 core, each following "busy" or "idle" by the seed:
 * a node with two busy containers runs at 90 % once they are, the cluster at about 50 %. */
static void small_config(SimConfig *c, const SchedPolicy *p)
{
	sim_config_init(c, p, 8);
	c->n_containers = 16;
	c->node_cpu = 2;
	c->container_cpu = 1;
	c->node_memory = 16.0 * (1 << 30);
	c->container_memory = 1.0 * (1 << 30);
	c->trace_step_usec = c->step_usec = 60 * 1000000ull;
	c->duration_usec = 40 * c->step_usec;
}

static void test_run_policies(void **state)
{
	_cleanup_(sim_trace_set_freep) SimTraceSet *traces = two_traces();
	SchedPolicy p;
	SimConfig c;
	SimResult r[_SIM_POLICY_MAX] = {}, again = {};
	ErrorDetail err = {};

	sched_policy_init(&p);
	p.max_concurrent = 4;
	small_config(&c, &p);
	for (SimPolicyKind k = 0; k < _SIM_POLICY_MAX; k++) {
		assert_int_equal(sim_run(&c, traces, k, &r[k], &err), 0);
		assert_int_equal(r[k].n_steps, 40);
	}
	/* Nothing moves under none; the overload is there. */
	assert_int_equal(r[SIM_POLICY_NONE].migrations, 0);
	assert_int_equal(r[SIM_POLICY_NONE].restarts, 0);
	assert_true(r[SIM_POLICY_NONE].over_threshold_node_sec > 0);
	/* podmig's policies migrate (never evict) and end up with less over-threshold time. */
	for (SimPolicyKind k = SIM_POLICY_LEAST_LOADED; k <= SIM_POLICY_PREDICTIVE; k++) {
		assert_true(r[k].migrations > 0);
		assert_int_equal(r[k].restarts, 0);
		assert_true(r[k].gib_moved > 0);
		assert_true(r[k].downtime_sec > 0);
		assert_true(r[k].over_threshold_node_sec <=
		            r[SIM_POLICY_NONE].over_threshold_node_sec);
	}
	/* The descheduler evicts: restarts and lost work, no migrations. */
	assert_int_equal(r[SIM_POLICY_DESCHEDULER].migrations, 0);
	assert_true(r[SIM_POLICY_DESCHEDULER].restarts > 0);
	assert_true(r[SIM_POLICY_DESCHEDULER].lost_core_sec > 0);

	/* Same seed, same result. */
	assert_int_equal(sim_run(&c, traces, SIM_POLICY_PODMIG, &again, &err), 0);
	assert_int_equal(again.migrations, r[SIM_POLICY_PODMIG].migrations);
	assert_float_equal(again.overload_node_sec, r[SIM_POLICY_PODMIG].overload_node_sec, 0);
	assert_memory_equal(again.overloaded, r[SIM_POLICY_PODMIG].overloaded,
	                    again.n_steps * sizeof(unsigned));
	sim_result_done(&again);
	for (SimPolicyKind k = 0; k < _SIM_POLICY_MAX; k++)
		sim_result_done(&r[k]);
	sched_policy_done(&p);
}

/* The timing model given is the one used: the downtime summed is the model's per
 * migration. */
static void test_migration_time(void **state)
{
	_cleanup_(sim_trace_set_freep) SimTraceSet *traces = two_traces();
	SchedPolicy p;
	SimConfig c;
	SimResult fast = {}, slow = {};
	ErrorDetail err = {};

	sched_policy_init(&p);
	p.max_concurrent = 4;
	small_config(&c, &p);
	c.step_usec = 1000000;
	assert_int_equal(sim_timing_parse("1:0.5:1,100000:0.5:1", &c.timing[SIM_MODE_PODMIG], &err),
	                 0);
	assert_int_equal(sim_run(&c, traces, SIM_POLICY_PODMIG, &fast, &err), 0);
	assert_int_equal(sim_timing_parse("1:50:100,2:50:100", &c.timing[SIM_MODE_PODMIG], &err),
	                 0);
	assert_int_equal(sim_run(&c, traces, SIM_POLICY_PODMIG, &slow, &err), 0);
	assert_true(fast.migrations > 0);
	assert_true(slow.migrations > 0);
	assert_float_equal(slow.downtime_sec, 50.0 * slow.migrations, 1e-6);
	assert_float_equal(fast.downtime_sec, 0.5 * fast.migrations, 1e-6);
	sim_result_done(&fast);
	sim_result_done(&slow);
	sched_policy_done(&p);
}

/* An explicit placement: nothing random, the moves logged. Node 0 holds two containers that
 * go busy (90 % of 1 core each on a 2-core node), nodes 1 and 2 one idle container each:
 * one busy container moves, to an idle node. */
static void test_placement(void **state)
{
	_cleanup_(sim_trace_set_freep) SimTraceSet *traces = two_traces();
	static const SimPlacement placement[] = {
		{ .trace = 0, .node = 0 },
		{ .trace = 0, .node = 0 },
		{ .trace = 1, .node = 1 },
		{ .trace = 1, .node = 2 },
	};
	SchedPolicy p;
	SimConfig c;
	SimResult r = {};
	ErrorDetail err = {};

	sched_policy_init(&p);
	small_config(&c, &p);
	c.n_nodes = 3;
	c.n_containers = ELEMENTSOF(placement);
	c.placement = placement;
	c.hold_last = true;
	assert_int_equal(sim_run(&c, traces, SIM_POLICY_PODMIG, &r, &err), 0);
	assert_int_equal(r.n_moves, 1);
	assert_int_equal(r.migrations, 1);
	assert_true(r.moves[0].container <= 1);
	assert_int_equal(r.moves[0].source, 0);
	assert_true(r.moves[0].target == 1 || r.moves[0].target == 2);
	assert_false(r.moves[0].eviction);
	/* the busy trace rises at its 4th sample (offsets are 0), 180 s in; the window is 3
	 * samples a minute apart: over at 180, 240 and 300 s */
	assert_float_equal(r.moves[0].t_sec, 300, 0);
	sim_result_done(&r);

	/* a placement naming a node that does not exist is refused */
	c.n_nodes = 2;
	assert_int_equal(sim_run(&c, traces, SIM_POLICY_PODMIG, &r, &err), -EINVAL);
	assert_non_null(strstr(err.message, "placement"));
	sched_policy_done(&p);
}

static void test_run_refuses(void **state)
{
	_cleanup_(sim_trace_set_freep) SimTraceSet *traces = two_traces();
	SchedPolicy p;
	SimConfig c;
	SimResult r = {};
	ErrorDetail err = {};

	sched_policy_init(&p);
	small_config(&c, &p);
	c.n_nodes = 1;
	assert_int_equal(sim_run(&c, traces, SIM_POLICY_PODMIG, &r, &err), -EINVAL);
	assert_non_null(strstr(err.message, "nodes"));
	error_detail_clear(&err);
	small_config(&c, &p);
	c.duration_usec = 0;
	assert_int_equal(sim_run(&c, traces, SIM_POLICY_PODMIG, &r, &err), -EINVAL);
	error_detail_clear(&err);
	small_config(&c, &p);
	c.step_usec = 1;
	c.duration_usec = 24 * 3600 * 1000000ull;
	assert_int_equal(sim_run(&c, traces, SIM_POLICY_NONE, &r, &err), -EINVAL);
	assert_non_null(strstr(err.message, "at most"));
	error_detail_clear(&err);
	small_config(&c, &p);
	c.trace_step_usec = 2 * SIM_STEP_USEC_MAX;
	assert_int_equal(sim_run(&c, traces, SIM_POLICY_NONE, &r, &err), -EINVAL);
	error_detail_clear(&err);
	small_config(&c, &p);
	c.descheduler_low[0] = 90;
	assert_int_equal(sim_run(&c, traces, SIM_POLICY_DESCHEDULER, &r, &err), -EINVAL);
	assert_null(r.overloaded);
	sched_policy_done(&p);
}

static void test_traces_load(void **state)
{
	char dir[] = "/tmp/test-sim-XXXXXX", path[128];
	SimTraceSet *s = NULL;
	ErrorDetail err = {};
	FILE *f;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/b", dir);
	assert_non_null(f = fopen(path, "we"));
	fputs("5 6\n7 8\n", f);
	fclose(f);
	snprintf(path, sizeof(path), "%s/a", dir);
	assert_non_null(f = fopen(path, "we"));
	fputs("1 2\n", f);
	fclose(f);
	snprintf(path, sizeof(path), "%s/.hidden", dir);
	assert_non_null(f = fopen(path, "we"));
	fputs("junk\n", f);
	fclose(f);
	assert_int_equal(sim_traces_load(dir, NAN, &s, &err), 0);
	assert_int_equal(s->n, 2);
	assert_string_equal(s->traces[0].name, "a");
	assert_int_equal(s->traces[1].n, 2);
	sim_trace_set_free(s);

	snprintf(path, sizeof(path), "%s/c", dir);
	assert_non_null(f = fopen(path, "we"));
	fputs("1\n", f);
	fclose(f);
	s = NULL;
	assert_int_equal(sim_traces_load(dir, NAN, &s, &err), -EINVAL);
	assert_null(s);
	assert_non_null(strstr(err.message, "c:1"));
	unlink(path);
	snprintf(path, sizeof(path), "%s/a", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/b", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/.hidden", dir);
	unlink(path);
	assert_int_equal(rmdir(dir), 0);
	error_detail_clear(&err);
	assert_int_equal(sim_traces_load(dir, NAN, &s, &err), -ENOENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_trace_parse),  cmocka_unit_test(test_timing),
		cmocka_unit_test(test_run_policies), cmocka_unit_test(test_migration_time),
		cmocka_unit_test(test_placement),    cmocka_unit_test(test_run_refuses),
		cmocka_unit_test(test_traces_load),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
