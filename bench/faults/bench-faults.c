/* bench-faults — randomized fault run: on a 2-node local cluster
 * (cluster id 5), a `memhog 32` container migrates back and forth between
 * node1 and node2, each migration with a random fault at a random point:
 *
 *   none; a corrupted archive chunk; `fail` at a fault point; SIGKILL of the
 *   source's or the target's agent while paused at a point (then
 *   `local-cluster up 2` restarts it); SIGKILL of the target's Podman service
 *   while paused at target-restoring (then restarted); with --mode
 *   page-server also SIGKILL of the target's CRIU page server and the
 *   target's link cut for 5 s, both while the pages stream; with --mode
 *   post-copy the same two on the target's lazy-pages daemon once the copy
 *   runs there and its pages come.
 *
 * After each trial it waits for the record to be final and the container to
 * run where the record says, and counts: completed (done), rolled back
 * (rolled-back, or failed before anything was stopped), lost (running
 * nowhere), duplicated (running on both, at any moment it looked), state
 * breaks (the memhog's counter reset or not consecutive), refused (the
 * agent turned the migration down before it began), unsettled (record
 * not final, or a leftover copy, after the deadline). Each trial also says
 * the longest the memhog stopped counting in it (the widest gap in its
 * log), and the end the longest of a completed and of a rolled-back trial:
 * a rollback should stop the container no longer than a migration does.
 * Exits 1 if lost, duplicated, breaks or unsettled are not all 0.
 *
 *   bench-faults [--trials N] [--seed S] [--mode MODE] [--mib N]   (needs root)
 *
 * --mode asks every migration for that mode (default auto); page-server
 * and post-copy create the memhog with the annotation that allows them and
 * check that every record used the mode asked for. In post-copy mode a
 * moment where both nodes' Podman say "running" while the migration is
 * under way is not a duplicate (the source is frozen, serving pages); the
 * state is judged once the migration ended. --mib sizes the memhog (default 32; the page
 * server's faults need a dump long enough to hit, e.g. 256). */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "migrate-fixture.h"
#include "process-util.h"
#include "strutil.h"
#include "time-util.h"

#ifndef PODMIG_CLI
#error "PODMIG_CLI must be defined by the build"
#endif

#define NAME              "hog"
#define MEMHOG_MIB        32
#define LINK_CUT_SEC      5
#define PAUSE_TIMEOUT_MS  60000
#define SETTLE_TIMEOUT_MS 180000

static ClusterFixture *cluster;
static const char *cli = PODMIG_CLI;
static uint64_t rng;
static const char *mode = "auto";
static unsigned memhog_mib = MEMHOG_MIB;
static bool page_server; /* the memhog carries the annotation (page-server, post-copy) */
static bool post_copy;

static unsigned pick(unsigned n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (unsigned)(rng % n);
}

typedef enum Fault {
	F_NONE,
	F_CORRUPT,
	F_FAIL,
	F_KILL_SOURCE,
	F_KILL_TARGET,
	F_KILL_TARGET_PODMAN,
	F_KILL_PAGE_SERVER, /* page-server and post-copy modes only (the lazy-pages daemon) */
	F_CUT_LINK,         /* page-server and post-copy modes only */
	_F_MAX,
} Fault;

static const char *const fault_names[_F_MAX] = {
	"none",
	"corrupt-chunk",
	"fail",
	"kill-source-agent",
	"kill-target-agent",
	"kill-target-podman",
	"kill-page-server",
	"cut-link",
};

static const char *const points[] = {
	"source-checkpointing",
	"source-transferring",
	"target-transferring",
	"target-restoring",
};

typedef struct Totals {
	unsigned trials, completed, rolled_back, refused, lost, duplicated, breaks, unsettled;
	unsigned wrong_mode; /* page-server asked for, another used */
	unsigned by_fault[_F_MAX];
	/* the longest the memhog stopped counting in one trial, by outcome */
	double stop_done, stop_rolled_back;
	char stop_done_why[160], stop_rolled_back_why[160];
} Totals;

static const char *point_node(const char *point, const char *src, const char *dst)
{
	return startswith(point, "source-") ? src : dst;
}

/* The longest the container on node stopped counting since its counter
 * was `after` (the trial's start): the widest gap between consecutive
 * lines of its log, in seconds; -1 when the log cannot be read. */
static double longest_stop(const char *node, uint64_t after)
{
	_cleanup_free_ CounterSample *v = NULL;
	size_t n = 0;
	if (migrate_fixture_counter_samples(cluster, node, NAME, &v, &n) < 0)
		return -1;
	uint64_t widest = 0;
	for (size_t i = 1; i < n; i++)
		if (v[i - 1].counter >= after && v[i].timestamp_ms > v[i - 1].timestamp_ms)
			widest = MAX(widest, v[i].timestamp_ms - v[i - 1].timestamp_ms);
	return (double)widest / 1000;
}

static void migrate(const char *dst)
{
	(void)migrate_fixture_cli(cli, NULL, "migrate", NAME, "--to", dst, "--mode", mode, NULL);
}

/* Page-server faults: once dst's page server receives, kill it or cut
 * dst's link for LINK_CUT_SEC. */
static int inject_stream(Fault fault, const char *dst, char *what, size_t what_size)
{
	pid_t pid, ps = 0;
	int r, status;
	snprintf(what, what_size, "%s on %s", fault_names[fault], dst);
	if ((r = migrate_fixture_cli_start_mode(cli, NAME, dst, mode, &pid)) < 0)
		return r;
	for (unsigned waited = 0; !ps && waited < PAUSE_TIMEOUT_MS; waited += 10) {
		usleep(10 * 1000);
		if (!post_copy)
			ps = migrate_fixture_find_page_server(cluster, dst);
		else if (migrate_fixture_container_state(cluster, dst, NAME) == 1)
			ps = migrate_fixture_find_lazy_daemon(cluster, dst);
	}
	if (!ps)
		printf("  (no page server on %s)\n", dst);
	else {
		usleep(pick(300) * 1000);
		if (fault == F_KILL_PAGE_SERVER)
			(void)kill(ps, SIGKILL);
		else {
			char veth[32];
			snprintf(veth, sizeof veth, "pmv%s-%s", getenv("PODMIG_TEST_CLUSTER_ID"),
			         dst);
			char *const down[] = { "ip", "link", "set", veth, "down", NULL };
			char *const up[] = { "ip", "link", "set", veth, "up", NULL };
			(void)spawn_wait(down, NULL, &status);
			sleep(LINK_CUT_SEC);
			(void)spawn_wait(up, NULL, &status);
		}
	}
	(void)spawn_reap(pid, &status);
	return 0;
}

/* Runs one migration src → dst with `fault`, described in `what`. */
static int inject(Fault fault, const char *src, const char *dst, char *what, size_t what_size)
{
	char arg[32];
	const char *point = points[pick(ELEMENTSOF(points))];
	const char *node;
	pid_t pid;
	int r;

	switch (fault) {
	case F_NONE:
		snprintf(what, what_size, "none");
		migrate(dst);
		return 0;
	case F_KILL_PAGE_SERVER:
	case F_CUT_LINK:
		return inject_stream(fault, dst, what, what_size);
	case F_CORRUPT:
		/* in page-server and post-copy modes the archive has one chunk or so */
		snprintf(arg, sizeof arg, "corrupt %u", page_server ? 0 : pick(memhog_mib));
		snprintf(what, what_size, "%s", arg);
		if ((r = migrate_fixture_fault_arm(cluster, src, "source-chunk", arg)) < 0)
			return r;
		migrate(dst);
		return 0;
	case F_FAIL:
		/* source-chunk has no "fail": any of the other points. */
		snprintf(what, what_size, "fail@%s", point);
		if ((r = migrate_fixture_fault_arm(cluster, point_node(point, src, dst), point,
		                                   "fail")) < 0)
			return r;
		migrate(dst);
		return 0;
	case F_KILL_TARGET_PODMAN:
		point = "target-restoring";
		break;
	default:
		break;
	}

	node = point_node(point, src, dst);
	const char *victim = fault == F_KILL_SOURCE ? src : dst;
	const char *process = fault == F_KILL_TARGET_PODMAN ? "podman" : "agent";
	snprintf(what, what_size, "kill %s %s@%s", victim, process, point);
	if ((r = migrate_fixture_fault_arm(cluster, node, point, "pause")) < 0)
		return r;
	if ((r = migrate_fixture_cli_start_mode(cli, NAME, dst, mode, &pid)) < 0)
		return r;
	r = migrate_fixture_wait_paused(cluster, node, point, PAUSE_TIMEOUT_MS);
	if (r < 0)
		printf("  (never paused at %s on %s)\n", point, node);
	else if ((r = migrate_fixture_kill(cluster, victim, process)) < 0)
		printf("  (killing %s's %s failed: %s)\n", victim, process, strerror(-r));
	migrate_fixture_fault_clear(cluster, node);
	if ((r = cluster_fixture_repair(cluster, 2)) < 0 ||
	    (r = migrate_fixture_wait_nodes(cli, 2, 30000)) < 0)
		printf("  (local-cluster up 2 failed: %s)\n", strerror(-r));
	int status;
	(void)spawn_reap(pid, &status);
	return 0;
}

static const char *record_id(const json_t *rec)
{
	return json_string_value(json_object_get(rec, "id"));
}

/* Waits until the record is final and the container runs only where it
 * says; counts what it found. *where: the node it runs on now. */
static void settle(Totals *t, const char *src, const char *dst, const char *before_id,
                   const char **where, uint64_t *counter, const char **ret_outcome)
{
	double t0 = mono_sec();
	bool duplicated = false;
	int s_src = 0, s_dst = 0;
	const char *phase = "";
	json_t *rec = NULL;

	for (;;) {
		s_src = migrate_fixture_container_state(cluster, src, NAME);
		s_dst = migrate_fixture_container_state(cluster, dst, NAME);
		json_decref(rec);
		rec = migrate_fixture_last_record(cli, NAME);
		phase = migrate_fixture_record_phase(rec);
		/* No new record: the migration was refused before it began. */
		if (streq_ptr(record_id(rec), before_id))
			phase = "refused";
		bool done = streq(phase, "done");
		bool final = done || streq(phase, "rolled-back") || streq(phase, "failed") ||
		             streq(phase, "refused");
		/* post-copy: until the record is final the source is frozen
		 * (Podman still says running) while the target's copy runs */
		duplicated |= s_src == 1 && s_dst == 1 && (!post_copy || final);
		if (final && (done ? s_dst : s_src) == 1 && (done ? s_src : s_dst) == -ENOENT)
			break;
		if (mono_sec() - t0 > SETTLE_TIMEOUT_MS / 1000.0)
			break;
		usleep(300 * 1000);
	}
	if (duplicated || (s_src == 1 && s_dst == 1)) {
		t->duplicated++;
		*ret_outcome = "DUPLICATED";
	} else if (s_src != 1 && s_dst != 1) {
		t->lost++;
		*ret_outcome = "LOST";
	} else {
		*where = s_dst == 1 ? dst : src;
		bool done = streq(phase, "done");
		bool final = done || streq(phase, "rolled-back") || streq(phase, "failed") ||
		             streq(phase, "refused");
		bool tidy =
		        (s_dst == 1 ? s_src : s_dst) == -ENOENT && streq(*where, done ? dst : src);
		if (!final || !tidy) {
			t->unsettled++;
			*ret_outcome = "UNSETTLED";
			printf("  (record %s, %s %d, %s %d)\n", phase[0] ? phase : "unreadable",
			       src, s_src, dst, s_dst);
		} else if (done) {
			t->completed++;
			*ret_outcome = "done";
			const char *used = json_string_value(json_object_get(rec, "mode"));
			if (page_server && !streq_ptr(used, mode)) {
				t->wrong_mode++;
				printf("  (moved in %s: %s)\n", used ?: "?",
				       json_string_value(json_object_get(rec, "mode_reason"))
				               ?: "");
			}
		} else if (streq(phase, "refused")) {
			t->refused++;
			*ret_outcome = "refused";
		} else {
			t->rolled_back++;
			*ret_outcome = streq(phase, "failed") ? "failed" : "rolled-back";
			printf("  reason: %s\n", migrate_fixture_record_error(rec));
		}
		uint64_t last = 0;
		usleep(300 * 1000);
		int r = migrate_fixture_counter_check(cluster, *where, NAME, *counter, &last);
		if (r == -EBADMSG) {
			t->breaks++;
			*ret_outcome = "STATE BREAK";
		} else if (r < 0)
			printf("  (reading the counter on %s failed: %s)\n", *where, strerror(-r));
		else
			*counter = last;
	}
	json_decref(rec);
}

static void usage(FILE *f)
{
	fprintf(f, "usage: bench-faults [--trials N] [--seed S] [--mode MODE] [--mib N]\n");
}

int main(int argc, char *argv[])
{
	static const struct option options[] = {
		{ "trials", required_argument, NULL, 't' },
		{ "seed", required_argument, NULL, 's' },
		{ "mode", required_argument, NULL, 'm' },
		{ "mib", required_argument, NULL, 'M' },
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	unsigned trials = 50;
	uint64_t seed = (uint64_t)time(NULL);
	int c;

	while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
		switch (c) {
		case 't':
			trials = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 's':
			seed = strtoull(optarg, NULL, 10);
			break;
		case 'm':
			mode = optarg;
			post_copy = streq(mode, "post-copy");
			page_server = streq(mode, "page-server") || post_copy;
			break;
		case 'M':
			memhog_mib = (unsigned)strtoul(optarg, NULL, 10);
			if (memhog_mib == 0) {
				usage(stderr);
				return 2;
			}
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	if (trials == 0) {
		usage(stderr);
		return 2;
	}
	rng = seed ? seed : 1;
	setvbuf(stdout, NULL, _IOLBF, 0);

	setenv("PODMIG_TEST_CLUSTER_ID", "5", 0);
	if (cluster_fixture_up(2, &cluster) < 0)
		return 1;
	setenv("PODMIG_ETCD_ENDPOINTS", cluster_fixture_env(cluster, "PODMIG_ETCD_ENDPOINTS"), 1);
	char extra[256];
	snprintf(extra, sizeof extra, ",\"command\":[\"%u\"]%s", memhog_mib,
	         page_server ? ",\"annotations\":{\"org.criu.config\":"
	                       "\"/run/podmig/criu/" NAME ".conf\"}"
	                     : "");
	if (migrate_fixture_wait_nodes(cli, 2, 30000) < 0 ||
	    migrate_fixture_start_container(cluster, cli, "node1", NAME, "localhost/podmig/memhog",
	                                    extra) < 0) {
		fprintf(stderr, "bench-faults: cannot start the memhog on node1\n");
		return 1;
	}
	sleep(1);
	uint64_t counter = 0;
	if (migrate_fixture_counter_check(cluster, "node1", NAME, 0, &counter) < 0) {
		fprintf(stderr, "bench-faults: the memhog does not count\n");
		return 1;
	}

	printf("bench-faults: %u trials, seed %llu, memhog %u MiB, mode %s, cluster "
	       "id %s\n",
	       trials, (unsigned long long)seed, memhog_mib, mode,
	       getenv("PODMIG_TEST_CLUSTER_ID"));
	Totals t = {};
	const char *where = "node1";
	double start = mono_sec();
	for (unsigned i = 0; i < trials; i++) {
		const char *src = where, *dst = streq(where, "node1") ? "node2" : "node1";
		/* the page server's own faults only where there is one */
		Fault fault = (Fault)pick(page_server ? _F_MAX : F_KILL_PAGE_SERVER);
		char what[128];
		const char *outcome = "?";
		double t0 = mono_sec();
		/* The CLI finds the container through what its agent publishes. */
		if (migrate_fixture_wait_published(cli, src, NAME, 30000) < 0)
			printf("  (%s never showed %s in podmig ps)\n", src, NAME);
		json_t *prev = migrate_fixture_last_record(cli, NAME);
		char before_id[128];
		snprintf(before_id, sizeof before_id, "%s", record_id(prev) ?: "");
		json_decref(prev);
		t.trials++;
		t.by_fault[fault]++;
		if (inject(fault, src, dst, what, sizeof what) < 0)
			printf("  (injecting %s failed)\n", fault_names[fault]);
		migrate_fixture_fault_clear(cluster, "node1");
		migrate_fixture_fault_clear(cluster, "node2");
		uint64_t counter_before = counter;
		settle(&t, src, dst, before_id, &where, &counter, &outcome);
		bool done = streq(outcome, "done");
		double stop = done || streq(outcome, "rolled-back") || streq(outcome, "failed")
		                      ? longest_stop(where, counter_before)
		                      : -1;
		printf("trial %u: %s → %s, %s: %s (%.1f s", i + 1, src, dst, what, outcome,
		       mono_sec() - t0);
		if (stop >= 0)
			printf(", stopped %.2f s at most", stop);
		printf(")\n");
		double *widest = done ? &t.stop_done : &t.stop_rolled_back;
		if (stop > *widest) {
			*widest = stop;
			snprintf(done ? t.stop_done_why : t.stop_rolled_back_why,
			         sizeof t.stop_done_why, "trial %u, %s", i + 1, what);
		}
		if (streq(outcome, "LOST") || streq(outcome, "DUPLICATED"))
			break; /* nothing sensible to migrate next */
	}

	printf("\nfault kinds:");
	for (int f = 0; f < _F_MAX; f++)
		printf(" %s %u%s", fault_names[f], t.by_fault[f], f + 1 < _F_MAX ? "," : "\n");
	printf("trials %u, completed %u, rolled back %u, refused %u, lost %u, "
	       "duplicated %u, "
	       "state breaks %u, unsettled %u, not in the mode asked for %u (%.0f s)\n",
	       t.trials, t.completed, t.rolled_back, t.refused, t.lost, t.duplicated, t.breaks,
	       t.unsettled, t.wrong_mode, mono_sec() - start);
	printf("longest stop: completed %.2f s (%s), rolled back %.2f s (%s)\n", t.stop_done,
	       t.stop_done_why[0] ? t.stop_done_why : "none", t.stop_rolled_back,
	       t.stop_rolled_back_why[0] ? t.stop_rolled_back_why : "none");
	cluster_fixture_down(cluster);
	return t.lost || t.duplicated || t.breaks || t.unsettled || t.wrong_mode ? 1 : 0;
}
