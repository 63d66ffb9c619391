/* podmig-sim — runs the trace-driven cluster simulator for each policy asked for, side by side
 * on the same cluster, and prints one table (and, with --out, data files for plots). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "macro.h"
#include "sim.h"
#include "strutil.h"
#include "time-util.h"

static void help(void)
{
	printf("podmig-sim --traces DIR [OPTIONS]\n\n"
	       "Simulates a cluster whose containers follow the trace files of DIR (one file per\n"
	       "container, one sample per line: \"CPU%% MEM%%\", or \"CPU%%\" with "
	       "--memory-percent)\n"
	       "under each policy, from the same initial placement, and prints a table.\n\n"
	       "  --nodes N                nodes (100)\n"
	       "  --containers M           containers (10 per node), sampled from the traces with\n"
	       "                           random time offsets\n"
	       "  --node-cpu CORES         node CPU capacity (4)\n"
	       "  --node-memory SIZE       node memory (16G)\n"
	       "  --node-bandwidth BYTES/S migration link (1250000000)\n"
	       "  --container-cpu CORES    what CPU 100%% of a trace is (1)\n"
	       "  --container-memory SIZE  what MEM 100%% of a trace is (4G)\n"
	       "  --memory-percent P       MEM%% of one-column trace files (else they are "
	       "refused)\n"
	       "  --trace-step SEC         time between two samples of a trace (300)\n"
	       "  --step SEC               simulation step and sampling interval (30)\n"
	       "  --hours H                simulated time (24)\n"
	       "  --seed N                 all randomness (1)\n"
	       "  --policies LIST          of none, incus, descheduler, least-loaded, podmig,\n"
	       "                           podmig-predictive (all)\n"
	       "  --policy KEY=VALUE       scheduler policy setting for the podmig policies, as\n"
	       "                           `podmig policy set` (repeatable); the simulator's\n"
	       "                           default concurrency.cluster is max(2, nodes / 10), and\n"
	       "                           window the policy's window (in agent samples) in\n"
	       "                           simulation steps: ceil(window x agent interval / step)\n"
	       "  --agent-interval SEC     the agents' sampling interval the policy's window is\n"
	       "                           meant for (1)\n"
	       "  --predict N              podmig-predictive's horizon in samples (2)\n"
	       "  --timing MODE=POINTS     migration time model, MODE podmig or manual, POINTS\n"
	       "                           MiB:DOWNTIME:TOTAL,... (bench/README.md, Migration)\n"
	       "  --restart-sec S          downtime of an evicted container (5)\n"
	       "  --incus-interval SEC     Incus rebalance interval (300)\n"
	       "  --incus-threshold PCT    Incus rebalance threshold, points (20)\n"
	       "  --descheduler-interval SEC  descheduler interval (300)\n"
	       "  --descheduler-low CPU,MEM   LowNodeUtilization thresholds (50,50, or the\n"
	       "                              targets where those are lower)\n"
	       "  --descheduler-target CPU,MEM  targetThresholds (the policy's thresholds)\n"
	       "  --out DIR                write timeline.dat (nodes above 100%%), "
	       "timeline-threshold.dat\n"
	       "                           (above a threshold) and summary.dat there\n"
	       "  -h, --help\n");
}

static int parse_seconds(const char *s, uint64_t *ret)
{
	double x;

	if (safe_atod(s, &x) < 0 || !(x > 0) || x > 1e9)
		return -EINVAL;
	*ret = (uint64_t)(x * 1e6 + 0.5);
	return *ret > 0 ? 0 : -EINVAL;
}

static int parse_positive(const char *s, double *ret)
{
	double x;

	if (safe_atod(s, &x) < 0 || !(x > 0) || !isfinite(x))
		return -EINVAL;
	*ret = x;
	return 0;
}

static int parse_pair(const char *s, double ret[2])
{
	double a, b;
	int n = 0;

	if (sscanf(s, "%lf,%lf%n", &a, &b, &n) != 2 || s[n] != 0 || !(a > 0) || !(a <= 100) ||
	    !(b > 0) || !(b <= 100))
		return -EINVAL;
	ret[0] = a;
	ret[1] = b;
	return 0;
}

static int parse_policies(const char *s, bool ret[_SIM_POLICY_MAX])
{
	_cleanup_free_ char *copy = strdup(s);
	bool any = false;
	char *save = NULL;

	if (!copy)
		return -ENOMEM;
	memset(ret, 0, _SIM_POLICY_MAX * sizeof(bool));
	for (char *w = strtok_r(copy, ",", &save); w; w = strtok_r(NULL, ",", &save)) {
		int k = sim_policy_from_string(w);

		if (k < 0)
			return -EINVAL;
		ret[k] = any = true;
	}
	return any ? 0 : -EINVAL;
}

/* One column per policy: the count `which` selects, per step. */
static int write_timeline(const char *path, const char *what, const SimConfig *c,
                          const SimResult *res, size_t n, bool over_threshold)
{
	_cleanup_fclose_ FILE *f = fopen(path, "we");
	double step_h = (double)c->step_usec / 3.6e9;

	if (!f)
		return log_error_errno(-errno, "%s: %m", path);
	fprintf(f, "# hour, then per policy: nodes %s\nhour", what);
	for (size_t p = 0; p < n; p++)
		fprintf(f, " %s", sim_policy_to_string(res[p].kind));
	fprintf(f, "\n");
	for (size_t k = 0; k < res[0].n_steps; k++) {
		fprintf(f, "%.4f", (double)k * step_h);
		for (size_t p = 0; p < n; p++)
			fprintf(f, " %u",
			        over_threshold ? res[p].over_threshold[k] : res[p].overloaded[k]);
		fprintf(f, "\n");
	}
	if (fflush(f) != 0)
		return log_error_errno(-EIO, "writing %s: %m", path);
	return 0;
}

static int write_outputs(const char *dir, const SimConfig *c, const SimResult *res, size_t n)
{
	_cleanup_free_ char *tl = NULL, *tt = NULL, *sm = NULL;
	_cleanup_fclose_ FILE *g = NULL;
	int r;

	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		return log_error_errno(-errno, "mkdir %s: %m", dir);
	if (asprintf(&tl, "%s/timeline.dat", dir) < 0 ||
	    asprintf(&tt, "%s/timeline-threshold.dat", dir) < 0 ||
	    asprintf(&sm, "%s/summary.dat", dir) < 0)
		return log_error_errno(-ENOMEM, "out of memory");
	r = write_timeline(tl, "above 100% of capacity", c, res, n, false);
	if (r < 0)
		return r;
	r = write_timeline(tt, "above a threshold", c, res, n, true);
	if (r < 0)
		return r;
	g = fopen(sm, "we");
	if (!g)
		return log_error_errno(-errno, "%s: %m", sm);
	fprintf(g, "# policy overloaded_node_hours over_threshold_node_hours migrations "
	           "gib_moved downtime_s restarts lost_core_hours\n");
	for (size_t p = 0; p < n; p++)
		fprintf(g, "%s %.3f %.3f %u %.3f %.1f %u %.3f\n", sim_policy_to_string(res[p].kind),
		        res[p].overload_node_sec / 3600, res[p].over_threshold_node_sec / 3600,
		        res[p].migrations, res[p].gib_moved, res[p].downtime_sec, res[p].restarts,
		        res[p].lost_core_sec / 3600);
	if (fflush(g) != 0)
		return log_error_errno(-EIO, "writing %s: %m", sm);
	return 0;
}

int main(int argc, char **argv)
{
	enum {
		ARG_TRACES = 0x100,
		ARG_NODES,
		ARG_CONTAINERS,
		ARG_NODE_CPU,
		ARG_NODE_MEMORY,
		ARG_NODE_BANDWIDTH,
		ARG_CONTAINER_CPU,
		ARG_CONTAINER_MEMORY,
		ARG_MEMORY_PERCENT,
		ARG_TRACE_STEP,
		ARG_STEP,
		ARG_HOURS,
		ARG_SEED,
		ARG_POLICIES,
		ARG_POLICY,
		ARG_PREDICT,
		ARG_TIMING,
		ARG_RESTART,
		ARG_INCUS_INTERVAL,
		ARG_INCUS_THRESHOLD,
		ARG_DS_INTERVAL,
		ARG_DS_LOW,
		ARG_DS_TARGET,
		ARG_OUT,
		ARG_AGENT_INTERVAL,
	};
	static const struct option options[] = {
		{ "traces", required_argument, NULL, ARG_TRACES },
		{ "nodes", required_argument, NULL, ARG_NODES },
		{ "containers", required_argument, NULL, ARG_CONTAINERS },
		{ "node-cpu", required_argument, NULL, ARG_NODE_CPU },
		{ "node-memory", required_argument, NULL, ARG_NODE_MEMORY },
		{ "node-bandwidth", required_argument, NULL, ARG_NODE_BANDWIDTH },
		{ "container-cpu", required_argument, NULL, ARG_CONTAINER_CPU },
		{ "container-memory", required_argument, NULL, ARG_CONTAINER_MEMORY },
		{ "memory-percent", required_argument, NULL, ARG_MEMORY_PERCENT },
		{ "trace-step", required_argument, NULL, ARG_TRACE_STEP },
		{ "step", required_argument, NULL, ARG_STEP },
		{ "hours", required_argument, NULL, ARG_HOURS },
		{ "seed", required_argument, NULL, ARG_SEED },
		{ "policies", required_argument, NULL, ARG_POLICIES },
		{ "policy", required_argument, NULL, ARG_POLICY },
		{ "predict", required_argument, NULL, ARG_PREDICT },
		{ "timing", required_argument, NULL, ARG_TIMING },
		{ "restart-sec", required_argument, NULL, ARG_RESTART },
		{ "incus-interval", required_argument, NULL, ARG_INCUS_INTERVAL },
		{ "incus-threshold", required_argument, NULL, ARG_INCUS_THRESHOLD },
		{ "descheduler-interval", required_argument, NULL, ARG_DS_INTERVAL },
		{ "descheduler-low", required_argument, NULL, ARG_DS_LOW },
		{ "descheduler-target", required_argument, NULL, ARG_DS_TARGET },
		{ "out", required_argument, NULL, ARG_OUT },
		{ "agent-interval", required_argument, NULL, ARG_AGENT_INTERVAL },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	_cleanup_(sched_policy_done) SchedPolicy policy;
	_cleanup_(sim_trace_set_freep) SimTraceSet *traces = NULL;
	_cleanup_free_ char **assignments = NULL;
	const char *traces_dir = NULL, *out = NULL, *timing[_SIM_MODE_MAX] = {};
	size_t n_assignments = 0, n_nodes = 100, n_res = 0;
	ssize_t n_containers = -1;
	double mem_percent = NAN, x, hours = 24, ds_low[2] = { NAN, NAN },
	       ds_target[2] = { NAN, NAN };
	uint64_t u, trace_step = 300000000ull, step = 30000000ull, seed = 1,
	            agent_interval = 1000000ull;
	bool want[_SIM_POLICY_MAX];
	SimConfig c;
	SimResult res[_SIM_POLICY_MAX] = {};
	ErrorDetail err = {};
	int opt, r;

	log_set_program("podmig-sim");
	sched_policy_init(&policy);
	for (size_t k = 0; k < _SIM_POLICY_MAX; k++)
		want[k] = true;
	assignments = calloc((size_t)argc + 1, sizeof(char *));
	if (!assignments)
		return log_error_errno(-ENOMEM, "out of memory"), EXIT_FAILURE;
	sim_config_init(&c, &policy, n_nodes);

#define BAD(what)                                                                              \
	do {                                                                                   \
		log_error("--%s: invalid value '%s'", options[opt - ARG_TRACES].name, optarg); \
		(void)(what);                                                                  \
		return EXIT_FAILURE;                                                           \
	} while (0)

	while ((opt = getopt_long(argc, argv, "h", options, NULL)) >= 0) {
		switch (opt) {
		case 'h':
			help();
			return EXIT_SUCCESS;
		case ARG_TRACES:
			traces_dir = optarg;
			break;
		case ARG_NODES:
			if (safe_atou64(optarg, &u) < 0 || u < 2 || u > 10000000)
				BAD(0);
			n_nodes = (size_t)u;
			break;
		case ARG_CONTAINERS:
			if (safe_atou64(optarg, &u) < 0 || u > 100000000)
				BAD(0);
			n_containers = (ssize_t)u;
			break;
		case ARG_NODE_CPU:
			if (parse_positive(optarg, &c.node_cpu) < 0)
				BAD(0);
			break;
		case ARG_NODE_MEMORY:
			if (parse_size(optarg, &u) < 0 || u == 0)
				BAD(0);
			c.node_memory = (double)u;
			break;
		case ARG_NODE_BANDWIDTH:
			if (parse_positive(optarg, &c.node_bandwidth) < 0)
				BAD(0);
			break;
		case ARG_CONTAINER_CPU:
			if (parse_positive(optarg, &c.container_cpu) < 0)
				BAD(0);
			break;
		case ARG_CONTAINER_MEMORY:
			if (parse_size(optarg, &u) < 0 || u == 0)
				BAD(0);
			c.container_memory = (double)u;
			break;
		case ARG_MEMORY_PERCENT:
			if (safe_atod(optarg, &mem_percent) < 0 || !(mem_percent >= 0) ||
			    mem_percent > SIM_PERCENT_MAX)
				BAD(0);
			break;
		case ARG_TRACE_STEP:
			if (parse_seconds(optarg, &trace_step) < 0)
				BAD(0);
			break;
		case ARG_STEP:
			if (parse_seconds(optarg, &step) < 0)
				BAD(0);
			break;
		case ARG_HOURS:
			if (parse_positive(optarg, &hours) < 0 || hours > 1e5)
				BAD(0);
			break;
		case ARG_SEED:
			if (safe_atou64(optarg, &seed) < 0)
				BAD(0);
			break;
		case ARG_POLICIES:
			if (parse_policies(optarg, want) < 0)
				BAD(0);
			break;
		case ARG_POLICY:
			assignments[n_assignments++] = optarg;
			break;
		case ARG_PREDICT:
			if (safe_atou64(optarg, &u) < 0 || u < 1 || u > SCHED_SAMPLES_MAX)
				BAD(0);
			c.predict_samples = (unsigned)u;
			break;
		case ARG_TIMING: {
			const char *eq = strchr(optarg, '=');
			_cleanup_free_ char *mode =
			        eq ? strndup(optarg, (size_t)(eq - optarg)) : NULL;
			int m = mode ? sim_mode_from_string(mode) : -EINVAL;

			if (m < 0)
				BAD(0);
			timing[m] = eq + 1;
			break;
		}
		case ARG_RESTART:
			if (safe_atod(optarg, &x) < 0 || !(x >= 0) || !isfinite(x))
				BAD(0);
			c.restart_sec = x;
			break;
		case ARG_INCUS_INTERVAL:
			if (parse_seconds(optarg, &c.incus_interval_usec) < 0)
				BAD(0);
			break;
		case ARG_INCUS_THRESHOLD:
			if (safe_atod(optarg, &x) < 0 || !(x >= 0) || x > 100)
				BAD(0);
			c.incus_threshold = x;
			break;
		case ARG_DS_INTERVAL:
			if (parse_seconds(optarg, &c.descheduler_interval_usec) < 0)
				BAD(0);
			break;
		case ARG_DS_LOW:
			if (parse_pair(optarg, ds_low) < 0)
				BAD(0);
			break;
		case ARG_DS_TARGET:
			if (parse_pair(optarg, ds_target) < 0)
				BAD(0);
			break;
		case ARG_OUT:
			out = optarg;
			break;
		case ARG_AGENT_INTERVAL:
			if (parse_seconds(optarg, &agent_interval) < 0)
				BAD(0);
			break;
		default:
			return EXIT_FAILURE;
		}
	}
	if (optind < argc) {
		log_error("unexpected argument '%s' (see --help)", argv[optind]);
		return EXIT_FAILURE;
	}
	if (!traces_dir) {
		log_error("--traces DIR is required (see --help)");
		return EXIT_FAILURE;
	}

	/* The scheduler policy: the simulator's defaults for concurrency and the window (a window
	 * of agent samples lasts window × agent interval; the simulator samples every step), then
	 * the user's settings. */
	{
		_cleanup_free_ char *conc = NULL, *win = NULL, *msg = NULL;
		uint64_t w = (policy.window * agent_interval + step - 1) / step;

		if (asprintf(&conc, "concurrency.cluster=%zu", MAX((size_t)2, n_nodes / 10)) < 0 ||
		    asprintf(&win, "window=%" PRIu64,
		             MIN(MAX(w, (uint64_t)1), (uint64_t)SCHED_SAMPLES_MAX)) < 0)
			return log_error_errno(-ENOMEM, "out of memory"), EXIT_FAILURE;
		r = sched_policy_set(&policy, conc, &msg);
		if (r >= 0) {
			free(msg);
			msg = NULL;
			r = sched_policy_set(&policy, win, &msg);
		}
		if (r < 0)
			return log_error("%s", msg ?: "bad default policy"), EXIT_FAILURE;
		for (size_t k = 0; k < n_assignments; k++) {
			free(msg);
			msg = NULL;
			r = sched_policy_set(&policy, assignments[k], &msg);
			if (r < 0) {
				log_error("--policy %s: %s", assignments[k],
				          msg ?: error_to_string(r));
				return EXIT_FAILURE;
			}
		}
	}

	/* sim_config_init() set defaults; keep what the options changed. */
	{
		SimConfig d;

		sim_config_init(&d, &policy, n_nodes);
		d.node_cpu = c.node_cpu;
		d.node_memory = c.node_memory;
		d.node_bandwidth = c.node_bandwidth;
		d.container_cpu = c.container_cpu;
		d.container_memory = c.container_memory;
		d.restart_sec = c.restart_sec;
		d.predict_samples = c.predict_samples;
		d.incus_interval_usec = c.incus_interval_usec;
		d.incus_threshold = c.incus_threshold;
		d.descheduler_interval_usec = c.descheduler_interval_usec;
		c = d;
	}
	c.n_containers = n_containers >= 0 ? (size_t)n_containers : n_nodes * 10;
	c.trace_step_usec = trace_step;
	c.step_usec = step;
	c.duration_usec = (uint64_t)(hours * 3.6e9 + 0.5);
	c.seed = seed;
	if (!isnan(ds_target[0]))
		memcpy(c.descheduler_target, ds_target, sizeof(ds_target));
	if (!isnan(ds_low[0]))
		memcpy(c.descheduler_low, ds_low, sizeof(ds_low));
	else /* 50 %, or the target where that is lower */
		for (size_t k = 0; k < 2; k++)
			c.descheduler_low[k] = MIN(50.0, c.descheduler_target[k]);
	for (SimMode m = 0; m < _SIM_MODE_MAX; m++)
		if (timing[m] && sim_timing_parse(timing[m], &c.timing[m], &err) < 0) {
			log_error("--timing: %s", err.message);
			return EXIT_FAILURE;
		}

	r = sim_traces_load(traces_dir, mem_percent, &traces, &err);
	if (r < 0) {
		log_error("%s", error_detail_or(&err, r));
		return EXIT_FAILURE;
	}

	printf("# podmig-sim: %zu traces, %zu nodes (%.3g cores, %.3g GiB), %zu containers "
	       "(%.3g cores, %.3g GiB at 100%%), %.3g h, step %.0f s, seed %" PRIu64 "\n",
	       traces->n, c.n_nodes, c.node_cpu, c.node_memory / (1 << 30), c.n_containers,
	       c.container_cpu, c.container_memory / (1 << 30), hours, (double)c.step_usec / 1e6,
	       c.seed);
	printf("# scheduler policy: thresholds cpu %g memory %g, window %u, predict %u (%u for "
	       "podmig-predictive), margin %g, concurrency %u/%u per node\n",
	       policy.threshold[PLACEMENT_CPU], policy.threshold[PLACEMENT_MEMORY], policy.window,
	       policy.predict_samples, c.predict_samples, policy.margin, policy.max_concurrent,
	       policy.max_concurrent_per_node);
	printf("%-18s %10s %10s %6s %9s %9s %8s %9s %7s %7s %9s %9s %8s\n", "policy", "overload",
	       "over-thr", "migr", "GiB", "downtime", "restarts", "lost", "spread", "spread",
	       "decide", "decide", "run");
	printf("%-18s %10s %10s %6s %9s %9s %8s %9s %7s %7s %9s %9s %8s\n", "", "node-h", "node-h",
	       "", "moved", "s", "", "core-h", "cpu %", "mem %", "ms/step", "max ms", "s");
	for (SimPolicyKind k = 0; k < _SIM_POLICY_MAX; k++) {
		SimResult *x_res = &res[n_res];
		double t0 = mono_sec();

		if (!want[k])
			continue;
		r = sim_run(&c, traces, k, x_res, &err);
		if (r < 0) {
			log_error("%s: %s", sim_policy_to_string(k), error_detail_or(&err, r));
			for (size_t i = 0; i < n_res; i++)
				sim_result_done(&res[i]);
			return EXIT_FAILURE;
		}
		n_res++;
		printf("%-18s %10.3f %10.3f %6u %9.1f %9.1f %8u %9.1f %7.2f %7.2f %9.3f %9.2f "
		       "%8.1f\n",
		       sim_policy_to_string(k), x_res->overload_node_sec / 3600,
		       x_res->over_threshold_node_sec / 3600, x_res->migrations, x_res->gib_moved,
		       x_res->downtime_sec, x_res->restarts, x_res->lost_core_sec / 3600,
		       x_res->spread_cpu, x_res->spread_mem,
		       x_res->decide_ms_total / (double)MAX(x_res->n_steps, (size_t)1),
		       x_res->decide_ms_max, mono_sec() - t0);
		fflush(stdout);
	}
	{
		struct rusage ru;

		if (getrusage(RUSAGE_SELF, &ru) == 0)
			printf("# peak memory (max RSS): %.1f MiB\n", (double)ru.ru_maxrss / 1024);
	}
	r = out ? write_outputs(out, &c, res, n_res) : 0;
	for (size_t i = 0; i < n_res; i++)
		sim_result_done(&res[i]);
	return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
