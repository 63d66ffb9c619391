/* Post-copy migration on a 2-node local cluster (cluster id 1, shared):
 * a memhog created with the org.criu.config annotation moves with
 * `--mode post-copy` (it runs on the target before its pages came; memhog
 * verifies every page it touches) and back with `--mode auto`, which picks
 * post-copy for it because it is labelled podmig.post-copy=allowed; a
 * lazy-pages daemon that fails, or is killed after the restore, leaves the
 * memhog running on the source only, its memory intact (the target's copy
 * removed before anything is reported), and so does a source failing once
 * its dump serves pages, at once; without the label, auto does not pick
 * post-copy; while the source's frozen copy serves its pages (Podman holds
 * that container's lock all along), the source node's status in etcd keeps
 * coming every interval, the container shown as its last reading. The root
 * filesystem's changes travel with the container. Exits 77 when this host
 * cannot do post-copy.
 *
 * argv[1]: the podmig CLI. PODMIG_TEST_FILTER (a cmocka pattern such as
 * "test_status_*") runs only the matching cases. */
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "migrate-fixture.h"
#include "podman.h"
#include "process-util.h"
#include "strutil.h"
#include "time-util.h"

/* The agents' default --criu-config-dir. */
#define CRIU_CONFIG_DIR "/run/podmig/criu"

static ClusterFixture *cluster;
static const char *podmig;

static int setup(void **state)
{
	setenv("PODMIG_TEST_CLUSTER_ID", "1", 0);
	if (cluster_fixture_up(2, &cluster) < 0)
		return -1;
	setenv("PODMIG_ETCD_ENDPOINTS", cluster_fixture_env(cluster, "PODMIG_ETCD_ENDPOINTS"), 1);
	return migrate_fixture_wait_nodes(podmig, 2, 30000);
}

static int teardown(void **state)
{
	cluster_fixture_down(cluster);
	cluster = NULL;
	return 0;
}

static int case_teardown(void **state)
{
	migrate_fixture_fault_clear(cluster, "node1");
	migrate_fixture_fault_clear(cluster, "node2");
	return 0;
}

/* A memhog of `mib` on node1 with the annotation, labelled
 * podmig.post-copy=allowed when `allowed`; its counter once it counts. */
static uint64_t start_memhog(const char *name, unsigned mib, bool allowed)
{
	char extra[512];
	uint64_t last = 0;
	snprintf(extra, sizeof extra,
	         ",\"command\":[\"%u\"],\"annotations\":{\"org.criu.config\":\"" CRIU_CONFIG_DIR
	         "/%s.conf\"}%s",
	         mib, name, allowed ? ",\"labels\":{\"podmig.post-copy\":\"allowed\"}" : "");
	assert_int_equal(migrate_fixture_start_container(cluster, podmig, "node1", name,
	                                                 "localhost/podmig/memhog", extra),
	                 0);
	for (int i = 0; i < 100 && last == 0; i++) {
		usleep(100 * 1000);
		(void)migrate_fixture_counter_check(cluster, "node1", name, 0, &last);
	}
	assert_true(last > 0);
	return last;
}

/* name runs on `owner` only, still counting on from `before` (memhog stops
 * counting and exits 3 when a page's checksum fails). */
static uint64_t check_runs_on(const char *name, const char *owner, const char *other,
                              uint64_t before)
{
	uint64_t last = 0, later = 0;
	assert_int_equal(migrate_fixture_container_state(cluster, owner, name), 1);
	assert_int_equal(migrate_fixture_container_state(cluster, other, name), -ENOENT);
	assert_int_equal(migrate_fixture_counter_check(cluster, owner, name, before, &last), 0);
	usleep(1000 * 1000);
	assert_int_equal(migrate_fixture_counter_check(cluster, owner, name, last, &later), 0);
	assert_true(later > last);
	assert_int_equal(migrate_fixture_container_state(cluster, owner, name), 1);
	return later;
}

static json_t *record_of(const char *name)
{
	json_t *rec = migrate_fixture_last_record(podmig, name);
	assert_non_null(rec);
	return rec;
}

static const char *field(const json_t *rec, const char *key)
{
	return json_string_value(json_object_get(rec, key)) ?: "";
}

static pid_t find_lazy_daemon(const char *node)
{
	return migrate_fixture_find_lazy_daemon(cluster, node);
}

/* Runs a shell line in the container on node; its output (the caller
 * frees it) and exit status. */
static int in_container(const char *node, const char *name, const char *line, char **ret_out)
{
	char *const argv[] = { (char *)"podman", (char *)"exec", (char *)name, (char *)"sh",
		               (char *)"-c",     (char *)line,   NULL };
	int status = -1;
	assert_int_equal(cluster_fixture_exec(cluster, node, argv, ret_out, &status), 0);
	return status;
}

static void test_moves_and_back(void **state)
{
	uint64_t before = start_memhog("pc-hog", 256, true);
	/* the root filesystem's changes travel too: a file added, one of the
	 * image's deleted */
	char *out = NULL;
	assert_int_equal(in_container("node1", "pc-hog",
	                              "mkdir -p /var/pc && echo kept >/var/pc/f && rm /etc/group",
	                              &out),
	                 0);
	free(out);
	assert_int_equal(migrate_fixture_cli(podmig, NULL, "migrate", "pc-hog", "--to", "node2",
	                                     "--mode", "post-copy", NULL),
	                 0);
	json_t *rec = record_of("pc-hog");
	assert_string_equal(field(rec, "phase"), "done");
	assert_string_equal(field(rec, "mode"), "post-copy");
	/* the pages count: well over the 256 MiB */
	assert_true(json_integer_value(json_object_get(rec, "bytes")) > 256ll << 20);
	printf("post-copy of 256 MiB: downtime %lld ms\n",
	       json_integer_value(json_object_get(rec, "downtime_ms")));
	json_decref(rec);
	before = check_runs_on("pc-hog", "node2", "node1", before);
	/* no daemon is left behind */
	assert_int_equal(find_lazy_daemon("node2"), 0);
	out = NULL;
	assert_int_equal(
	        in_container("node2", "pc-hog", "cat /var/pc/f; test ! -e /etc/group", &out), 0);
	assert_string_equal(out, "kept\n");
	free(out);

	/* back with auto: the label lets it pick post-copy, and it says so */
	assert_int_equal(migrate_fixture_wait_published(podmig, "node2", "pc-hog", 20000), 0);
	assert_int_equal(migrate_fixture_cli(podmig, NULL, "migrate", "pc-hog", "--to", "node1",
	                                     "--mode", "auto", NULL),
	                 0);
	rec = record_of("pc-hog");
	assert_string_equal(field(rec, "phase"), "done");
	assert_string_equal(field(rec, "mode"), "post-copy");
	assert_true(startswith(field(rec, "mode_reason"), "auto: post-copy"));
	json_decref(rec);
	check_runs_on("pc-hog", "node1", "node2", before);

	out = NULL;
	assert_int_equal(migrate_fixture_cli(podmig, &out, "history", NULL), 0);
	assert_non_null(strstr(out, "post-copy"));
	free(out);
}

/* Without the label, auto keeps to page-server; "postcopy" is post-copy. */
static void test_auto_needs_label(void **state)
{
	uint64_t before = start_memhog("pc-plain", 16, false);
	assert_int_equal(migrate_fixture_cli(podmig, NULL, "migrate", "pc-plain", "--to", "node2",
	                                     "--mode", "auto", NULL),
	                 0);
	json_t *rec = record_of("pc-plain");
	assert_string_equal(field(rec, "mode"), "page-server");
	json_decref(rec);
	before = check_runs_on("pc-plain", "node2", "node1", before);
	assert_int_equal(migrate_fixture_wait_published(podmig, "node2", "pc-plain", 20000), 0);
	assert_int_equal(migrate_fixture_cli(podmig, NULL, "migrate", "pc-plain", "--to", "node1",
	                                     "--mode", "postcopy", NULL),
	                 0);
	rec = record_of("pc-plain");
	assert_string_equal(field(rec, "phase"), "done");
	assert_string_equal(field(rec, "mode"), "post-copy");
	json_decref(rec);
	check_runs_on("pc-plain", "node1", "node2", before);
}

/* The source fails once its dump serves pages, before the archive left:
 * the rollback ends the lazy dump at once (Podman holds the frozen
 * container's lock until the dump ends, so asking Podman about it first
 * waited out the client's 60 s timeout with the container frozen). */
static void test_source_fails_early(void **state)
{
	uint64_t before = start_memhog("pc-early", 64, true);
	assert_int_equal(migrate_fixture_fault_arm(cluster, "node1", "source-transferring", "fail"),
	                 0);
	char *out = NULL;
	uint64_t t0 = now_usec(CLOCK_MONOTONIC);
	assert_int_not_equal(migrate_fixture_cli(podmig, &out, "migrate", "pc-early", "--to",
	                                         "node2", "--mode", "post-copy", NULL),
	                     0);
	uint64_t took = now_usec(CLOCK_MONOTONIC) - t0;
	free(out);
	migrate_fixture_fault_disarm(cluster, "node1", "source-transferring");
	printf("a post-copy failing at source-transferring settled in %" PRIu64 " ms\n",
	       took / 1000);
	assert_true(took < 20 * USEC_PER_SEC);
	json_t *rec = record_of("pc-early");
	assert_string_equal(field(rec, "phase"), "rolled-back");
	assert_non_null(strstr(field(rec, "error"), "source-transferring"));
	json_decref(rec);
	check_runs_on("pc-early", "node1", "node2", before);
}

/* The daemon fails (a fault right after the restore, before the daemon's
 * status is read): the target removes its copy, the dump fails, the
 * source resumes with every page of its own. */
static void test_daemon_fails(void **state)
{
	uint64_t before = start_memhog("pc-fail", 64, true);
	assert_int_equal(migrate_fixture_fault_arm(cluster, "node2", "target-lazy-pages", "fail"),
	                 0);
	char *out = NULL;
	assert_int_not_equal(migrate_fixture_cli(podmig, &out, "migrate", "pc-fail", "--to",
	                                         "node2", "--mode", "post-copy", NULL),
	                     0);
	free(out);
	migrate_fixture_fault_disarm(cluster, "node2", "target-lazy-pages");
	json_t *rec = record_of("pc-fail");
	assert_string_equal(field(rec, "phase"), "rolled-back");
	assert_string_equal(field(rec, "mode"), "post-copy");
	assert_non_null(strstr(field(rec, "error"), "target-lazy-pages"));
	json_decref(rec);
	check_runs_on("pc-fail", "node1", "node2", before);
	assert_int_equal(find_lazy_daemon("node2"), 0);
}

/* The daemon is killed after the restore, its pages half fetched: exactly
 * one copy runs, on the source, its memory intact. */
static void test_daemon_killed(void **state)
{
	uint64_t before = start_memhog("pc-kill", 512, true);
	pid_t cli;
	assert_int_equal(
	        migrate_fixture_cli_start_mode(podmig, "pc-kill", "node2", "post-copy", &cli), 0);
	bool killed = false;
	for (int i = 0; i < 3000 && !killed; i++) {
		pid_t daemon = find_lazy_daemon("node2");
		if (daemon > 0 &&
		    migrate_fixture_container_state(cluster, "node2", "pc-kill") == 1) {
			usleep(200 * 1000);
			killed = kill(daemon, SIGKILL) == 0;
		}
		usleep(20 * 1000);
	}
	int status = -1;
	assert_int_equal(spawn_reap(cli, &status), 0);
	if (!killed)
		skip(); /* every page came before the test could act */
	assert_int_not_equal(status, 0);
	json_t *rec = record_of("pc-kill");
	assert_string_equal(field(rec, "phase"), "rolled-back");
	assert_non_null(strstr(field(rec, "error"), "lazy-pages daemon"));
	json_decref(rec);
	check_runs_on("pc-kill", "node1", "node2", before);
}

/* node's status as `podmig nodes` reads it from etcd: its timestamp (0: none)
 * and whether container `name` in it is stale (-1: not listed). */
static int64_t status_of(const char *node, const char *name, int *ret_stale)
{
	json_t *nodes = migrate_fixture_cli_json(podmig, "nodes", "--json", NULL);
	int64_t t = 0;
	size_t i, k;
	json_t *n, *ct;
	*ret_stale = -1;
	json_array_foreach (nodes, i, n) {
		if (!streq_ptr(json_string_value(json_object_get(n, "name")), node))
			continue;
		json_t *status = json_object_get(n, "status");
		t = json_integer_value(json_object_get(status, "timestamp_usec"));
		json_array_foreach (json_object_get(status, "containers"), k, ct)
			if (streq_ptr(json_string_value(json_object_get(ct, "name")), name))
				*ret_stale = json_is_true(json_object_get(ct, "stale"));
	}
	json_decref(nodes);
	return t;
}

/* While the target is paused right after its restore, the source's copy
 * stays frozen in its lazy dump, and Podman's checkpoint call holds the
 * container's lock: a plain container list on node1 waits for it. node1's
 * agent still publishes its status every interval, the migrating container
 * as its last reading (stale). */
static void test_status_fresh_while_frozen(void **state)
{
	uint64_t before = start_memhog("pc-status", 64, true);
	assert_int_equal(migrate_fixture_wait_published(podmig, "node1", "pc-status", 20000), 0);
	assert_int_equal(migrate_fixture_fault_arm(cluster, "node2", "target-lazy-pages", "pause"),
	                 0);
	pid_t cli;
	assert_int_equal(
	        migrate_fixture_cli_start_mode(podmig, "pc-status", "node2", "post-copy", &cli), 0);
	assert_int_equal(migrate_fixture_wait_paused(cluster, "node2", "target-lazy-pages", 120000),
	                 0);

	/* What the agent no longer asks Podman: every container (shown, not
	 * asserted: it is Podman's behaviour) */
	_cleanup_(podman_client_freep) PodmanClient *pc = NULL;
	assert_int_equal(podman_client_new(cluster_fixture_podman_socket(cluster, "node1"),
	                                   &(PodmanClientOptions){ .timeout_msec = 3000 }, &pc),
	                 0);
	PodmanContainer *cts = NULL;
	size_t n = 0;
	PodmanError e = {};
	uint64_t t0 = now_usec(CLOCK_MONOTONIC);
	int r = podman_containers_list(pc, true, &cts, &n, &e);
	printf("node1's Podman, list of every container while pc-status is frozen: %s after "
	       "%.2f s\n",
	       r < 0 ? e.message : "answered", (double)(now_usec(CLOCK_MONOTONIC) - t0) / 1e6);
	podman_containers_free(cts, n);

	/* 10 s of polls: every status is at most a few intervals old (1 s;
	 * generous slack for a shared machine), and new ones keep coming */
	int64_t last = 0;
	unsigned newer = 0;
	bool stale_seen = false;
	for (int i = 0; i < 20; i++) {
		int stale;
		int64_t t = status_of("node1", "pc-status", &stale);
		int64_t now = (int64_t)now_usec(CLOCK_REALTIME);
		printf("node1's status: %.1f s old, pc-status %s\n", (double)(now - t) / 1e6,
		       stale < 0 ? "not listed"
		       : stale   ? "stale"
		                 : "fresh");
		assert_true(t > 0);
		assert_true(now - t < 5 * (int64_t)USEC_PER_SEC);
		newer += t > last;
		last = t;
		stale_seen |= stale == 1;
		usleep(500 * 1000);
	}
	assert_true(newer >= 5);
	assert_true(stale_seen);
	/* and all that time the source was frozen, its target not done */
	json_t *rec = record_of("pc-status");
	assert_string_equal(field(rec, "phase"), "restoring");
	json_decref(rec);

	migrate_fixture_fault_disarm(cluster, "node2", "target-lazy-pages");
	int status = -1;
	assert_int_equal(spawn_reap(cli, &status), 0);
	assert_int_equal(status, 0);
	rec = record_of("pc-status");
	assert_string_equal(field(rec, "phase"), "done");
	json_decref(rec);
	check_runs_on("pc-status", "node2", "node1", before);
	/* once settled, node2 (whose restore had it busy) lists it afresh */
	int stale = -1;
	for (int i = 0; i < 50; i++) {
		(void)status_of("node2", "pc-status", &stale);
		if (stale == 0)
			break;
		usleep(200 * 1000);
	}
	assert_int_equal(stale, 0);
}

/* Post-copy needs userfaultfd (CRIU's uffd-noncoop) and fs.pipe-max-size of
 * 4 MiB (scripts/local-cluster raises it); the reason when missing. */
static const char *host_lacks(void)
{
	int status = -1;
	char *const check[] = { (char *)"criu", (char *)"check", (char *)"--feature",
		                (char *)"uffd-noncoop", NULL };
	if (spawn_wait(check, &(SpawnOptions){ .quiet = true }, &status) < 0 || status != 0)
		return "criu check --feature uffd-noncoop fails on this host";
	return NULL;
}

int main(int argc, char *argv[])
{
	if (argc != 2) {
		fprintf(stderr, "usage: test-post-copy PODMIG\n");
		return 2;
	}
	podmig = argv[1];
	setvbuf(stdout, NULL, _IOLBF, 0);
	const char *lacks = host_lacks();
	if (lacks) {
		printf("SKIP: %s\n", lacks);
		return 77;
	}
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_moves_and_back, case_teardown),
		cmocka_unit_test_teardown(test_auto_needs_label, case_teardown),
		cmocka_unit_test_teardown(test_source_fails_early, case_teardown),
		cmocka_unit_test_teardown(test_daemon_fails, case_teardown),
		cmocka_unit_test_teardown(test_daemon_killed, case_teardown),
		cmocka_unit_test_teardown(test_status_fresh_while_frozen, case_teardown),
	};
	if (getenv("PODMIG_TEST_FILTER"))
		cmocka_set_test_filter(getenv("PODMIG_TEST_FILTER"));
	return cmocka_run_group_tests(tests, setup, teardown);
}
