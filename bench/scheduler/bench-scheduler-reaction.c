/* bench-scheduler-reaction — how fast podmig reacts to an overload on a local cluster, split
 * into its parts, against a manual `podmig migrate` of the same container in the same run.
 *
 * On a 3-node cluster (cluster id 4, one scheduler, 1 CPU declared per node) a cpuhog runs on
 * node1; the CPU threshold is set from what the collector reports for it (one hog under the
 * threshold, two over, one again under threshold − margin). Each run starts a second hog at
 * T0 and follows, from etcd:
 *   detect   T0 → the newest sample of the first full window over the threshold (the
 *            agent's sampling, the hog's ramp and the window itself);
 *   decide   → the scheduler's decision (its tick, the rules, the placement);
 *   start    → the migration record (Migrate reached the source agent);
 *   migrate  → the record is done;
 *   settle   → node1's published samples are back under the threshold.
 * The baseline is `podmig migrate` by hand of the hog that moved, on to the third node (its
 * wall time), measured in each run.
 *
 *   bench-scheduler-reaction [--runs N]   (default 3; medians are printed) */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "json-util.h"
#include "log.h"
#include "macro.h"
#include "migrate-fixture.h"
#include "process-util.h"
#include "strutil.h"
#include "time-util.h"

#define MAX_RUNS 15

static ClusterFixture *cluster;

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double median(const double *v, size_t n)
{
	double c[MAX_RUNS];
	memcpy(c, v, n * sizeof *v);
	qsort(c, n, sizeof *c, cmp_double);
	return n % 2 ? c[n / 2] : (c[n / 2 - 1] + c[n / 2]) / 2;
}

#define cli_json(...) migrate_fixture_cli_json(PODMIG_CLI, __VA_ARGS__, "--json", NULL)
/* The CLI's exit status as a negative errno: 0 or -EIO. */
#define cli(...) (migrate_fixture_cli(PODMIG_CLI, NULL, __VA_ARGS__, NULL) == 0 ? 0 : -EIO)

static int hog_start(const char *node, const char *name, const char *cores)
{
	char spec[256];
	snprintf(spec, sizeof spec,
	         "{\"name\":\"%s\",\"image\":\"localhost/podmig/cpuhog\",\"command\":[\"%s\"]}",
	         name, cores);
	return cluster_fixture_container_start(cluster, node, name, spec);
}

static void hog_remove(const char *name)
{
	for (int i = 1; i <= 3; i++) {
		char node[8];
		snprintf(node, sizeof node, "node%d", i);
		(void)cluster_fixture_container_remove(cluster, node, name);
	}
}

/* node1's status document from `podmig nodes --json`. */
static json_t *node1_status(void)
{
	_cleanup_json_ json_t *nodes = cli_json("nodes");
	size_t i;
	json_t *n;
	json_array_foreach (nodes, i, n) {
		if (streq_ptr(json_get_string(n, "name"), "node1"))
			return json_incref(json_object_get(n, "status"));
	}
	return NULL;
}

static double node1_cpu_avg(unsigned seconds)
{
	double sum = 0;
	unsigned n = 0;
	for (unsigned i = 0; i < seconds; i++) {
		sleep(1);
		_cleanup_json_ json_t *st = node1_status();
		if (st) {
			sum += json_get_number(json_object_get(st, "cpu"), "percent", 0);
			n++;
		}
	}
	return n ? sum / n : 0;
}

/* The time of the newest sample of the first window of `window` samples all over
 * `threshold` after t0, from node1's published `recent` samples; 0 if none yet. */
static double window_full_at(const json_t *status, double t0, double threshold, unsigned window)
{
	const json_t *recent = json_object_get(status, "recent");
	size_t n = json_array_size(recent), run = 0;
	for (size_t i = 0; i < n; i++) {
		const json_t *s = json_array_get(recent, i);
		double t = (double)json_get_u64(s, "t", 0) / 1e6;
		if (t < t0) {
			run = 0;
			continue;
		}
		run = json_get_number(s, "cpu", 0) > threshold ? run + 1 : 0;
		if (run >= window)
			return t;
	}
	return 0;
}

/* The newest record of hog-a or hog-b started after t0 (NULL if none). */
static json_t *record_after(double t0)
{
	_cleanup_json_ json_t *all = cli_json("history");
	size_t i;
	json_t *r;
	json_array_foreach (all, i, r) {
		double planned =
		        (double)json_get_u64(json_object_get(r, "phase_times_ms"), "planned", 0) /
		        1e3;
		if (planned >= t0 && !streq_ptr(json_get_string(r, "reason"), "manual"))
			return json_incref(r);
	}
	return NULL;
}

static double decision_time(const char *id)
{
	_cleanup_json_ json_t *all = id ? cli_json("decisions") : NULL;
	size_t i;
	json_t *d;
	json_array_foreach (all, i, d) {
		if (streq_ptr(json_get_string(d, "id"), id))
			return (double)json_get_u64(d, "time_usec", 0) / 1e6;
	}
	return 0;
}

typedef struct Run {
	double detect, decide, start, migrate, settle, total, manual;
} Run;

static int one_run(double threshold, Run *ret)
{
	_cleanup_json_ json_t *rec = NULL;
	double t0 = ((double)now_usec(CLOCK_REALTIME) / 1e6), window_at = 0, done_at = 0,
	       under_at = 0;
	int r;

	if ((r = hog_start("node1", "hog-b", "0.45")) < 0)
		return log_error_errno(r, "cannot start hog-b");
	for (double deadline = t0 + 120; ((double)now_usec(CLOCK_REALTIME) / 1e6) < deadline;) {
		_cleanup_json_ json_t *st = node1_status();
		if (!window_at)
			window_at = window_full_at(st, t0, threshold, 3);
		if (!done_at) {
			json_decref(rec);
			rec = record_after(t0);
			if (rec && streq_ptr(json_get_string(rec, "phase"), "done"))
				done_at = ((double)now_usec(CLOCK_REALTIME) / 1e6);
			else if (rec && !streq_ptr(json_get_string(rec, "phase"), "planned") &&
			         strstr("rolled-back failed", json_get_string(rec, "phase") ?: "x"))
				return log_error_errno(-EIO, "the automatic migration ended %s",
				                       json_get_string(rec, "phase"));
		} else if (json_get_number(json_object_get(st, "cpu"), "percent", 100) <
		           threshold) {
			under_at = (double)json_get_u64(st, "timestamp_usec", 0) / 1e6;
			break;
		}
		usleep(100 * 1000);
	}
	if (!rec || !done_at || !under_at || !window_at)
		return log_error_errno(-ETIMEDOUT, "no complete reaction within 120 s");
	const json_t *times = json_object_get(rec, "phase_times_ms");
	double planned = (double)json_get_u64(times, "planned", 0) / 1e3;
	double done = (double)json_get_u64(times, "done", 0) / 1e3;
	double decided = decision_time(json_get_string(rec, "decision"));
	*ret = (Run){
		.detect = window_at - t0,
		.decide = decided ? decided - window_at : 0,
		.start = decided ? planned - decided : planned - window_at,
		.migrate = done - planned,
		.settle = under_at - done,
		.total = under_at - t0,
	};

	/* The baseline: the hog that moved goes on by hand to the third node (not back to
	 * node1, which it would overload again). */
	const char *moved = json_get_string(rec, "container");
	const char *third = streq_ptr(json_get_string(rec, "target"), "node2") ? "node3" : "node2";
	if ((r = migrate_fixture_wait_published(PODMIG_CLI, json_get_string(rec, "target"), moved,
	                                        20000)) < 0)
		return log_error_errno(r, "%s never showed on its target alone", moved);
	double m0 = ((double)now_usec(CLOCK_REALTIME) / 1e6);
	if ((r = cli("migrate", moved, "--to", third)) < 0)
		return log_error_errno(r, "manual migration of %s failed", moved);
	ret->manual = ((double)now_usec(CLOCK_REALTIME) / 1e6) - m0;
	hog_remove("hog-b");
	hog_remove("hog-a");
	return 0;
}

int main(int argc, char *argv[])
{
	static const struct option options[] = {
		{ "runs", required_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	unsigned runs = 3;
	Run v[MAX_RUNS];
	int c, r;

	while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
		switch (c) {
		case 'r':
			if (safe_atou(optarg, &runs) < 0 || runs < 1 || runs > MAX_RUNS) {
				log_error("--runs: 1..%d", MAX_RUNS);
				return 2;
			}
			break;
		case 'h':
			printf("Usage: bench-scheduler-reaction [--runs N]\n");
			return 0;
		default:
			return 2;
		}

	setenv("PODMIG_TEST_CLUSTER_ID", "4", 0);
	setenv("PODMIG_TEST_SCHEDULERS", "1", 1);
	if ((r = cluster_fixture_up(3, &cluster)) < 0)
		return log_error_errno(r, "cannot bring the local cluster up"), EXIT_FAILURE;
	setenv("PODMIG_ETCD_ENDPOINTS", cluster_fixture_env(cluster, "PODMIG_ETCD_ENDPOINTS"), 1);
	sleep(3);

	/* Calibrate: one hog's load as the collector reports it. */
	if (cli("policy", "set", "mode=observe", "window=3", "margin=10",
	        "cooldown.container_sec=1", "cooldown.node_sec=1", "cooldown.return_sec=1") < 0 ||
	    hog_start("node1", "hog-a", "0.45") < 0) {
		log_error("cannot set the policy or start the first hog");
		goto fail;
	}
	double one = node1_cpu_avg(6);
	double threshold = MIN(95.0, one * 1.5);
	printf("one cpuhog 0.45 shows as %.1f%% of node1's CPU; threshold %.0f%%, margin 10\n", one,
	       threshold);
	if (one < 25) {
		log_error("the hog shows too little load (%.1f%%) for the margin", one);
		goto fail;
	}
	char thr[64];
	snprintf(thr, sizeof thr, "thresholds.cpu=%.0f", threshold);
	if (cli("policy", "set", thr, "mode=act") < 0)
		goto fail;

	printf("\n%4s %8s %8s %8s %8s %8s %8s %10s\n", "run", "detect", "decide", "start",
	       "migrate", "settle", "total", "manual-mig");
	for (unsigned i = 0; i < runs; i++) {
		if (i > 0 && hog_start("node1", "hog-a", "0.45") < 0)
			goto fail;
		sleep(4); /* one hog's samples fill the window under the threshold */
		if (one_run(threshold, &v[i]) < 0)
			goto fail;
		printf("%4u %7.2fs %7.2fs %7.2fs %7.2fs %7.2fs %7.2fs %9.2fs\n", i + 1, v[i].detect,
		       v[i].decide, v[i].start, v[i].migrate, v[i].settle, v[i].total, v[i].manual);
		sleep(2);
	}
	double m[7][MAX_RUNS];
	for (unsigned i = 0; i < runs; i++) {
		m[0][i] = v[i].detect;
		m[1][i] = v[i].decide;
		m[2][i] = v[i].start;
		m[3][i] = v[i].migrate;
		m[4][i] = v[i].settle;
		m[5][i] = v[i].total;
		m[6][i] = v[i].manual;
	}
	printf("%4s %7.2fs %7.2fs %7.2fs %7.2fs %7.2fs %7.2fs %9.2fs\n", "med", median(m[0], runs),
	       median(m[1], runs), median(m[2], runs), median(m[3], runs), median(m[4], runs),
	       median(m[5], runs), median(m[6], runs));
	printf("\nautomatic migration / manual podmig migrate (medians): %.2f\n",
	       median(m[3], runs) / median(m[6], runs));
	cluster_fixture_down(cluster);
	return EXIT_SUCCESS;
fail:
	cluster_fixture_down(cluster);
	return EXIT_FAILURE;
}
