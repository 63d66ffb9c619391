/* Migrations under failure on a 2-node local cluster
 * (cluster id 8): an archive chunk corrupted on the wire, the target or the
 * source agent killed with SIGKILL while the migration is transferring or
 * restoring (then restarted), the link between the nodes cut during the
 * transfer (then restored), etcd restarted mid-migration, etcd down (and
 * the target dead) long enough that the source resumes the container alone,
 * the target's disk full; in page-server mode (a memhog, which verifies its
 * memory), the target's page server killed mid-stream, the link cut
 * mid-stream, the target agent killed while restoring and the source agent
 * killed after its dump sent every page away; in post-copy mode (memhog,
 * once its copy runs on the target and its pages are on their way) the
 * link cut, the target agent killed (its lazy-pages daemon dies with it;
 * the restarted agent removes its copy and the source resumes) and the
 * source agent killed (its dump fails, the source resumes, the target
 * removes its copy). After each, the container runs on exactly one
 * node — never on both at any moment we look — with its counter continuing
 * from its state, and its record is final (done, or rolled-back with a
 * reason).
 *
 * argv[1]: the podmig CLI. PODMIG_TEST_FILTER (a cmocka pattern such as
 * "test_ps_*") runs only the matching cases. */
#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "migrate-fixture.h"
#include "process-util.h"
#include "strutil.h"
#include "time-util.h"

/* Liveness bounds, not performance: generous on a shared 2-core machine. */
#define PAUSE_TIMEOUT_MS  60000
#define SETTLE_TIMEOUT_MS 240000

static ClusterFixture *cluster;
static const char *podmig;
static char veth2[32];    /* host side of node2's veth */
static double case_start; /* mono_sec() when the case began */

static int setup(void **state)
{
	setenv("PODMIG_TEST_CLUSTER_ID", "8", 0);
	if (cluster_fixture_up(2, &cluster) < 0)
		return -1;
	setenv("PODMIG_ETCD_ENDPOINTS", cluster_fixture_env(cluster, "PODMIG_ETCD_ENDPOINTS"), 1);
	snprintf(veth2, sizeof veth2, "pmv%s-node2", getenv("PODMIG_TEST_CLUSTER_ID"));
	return migrate_fixture_wait_nodes(podmig, 2, 30000);
}

static int teardown(void **state)
{
	cluster_fixture_down(cluster);
	cluster = NULL;
	return 0;
}

static double elapsed_s(void)
{
	return mono_sec() - case_start;
}

static int case_setup(void **state)
{
	case_start = mono_sec();
	return 0;
}

/* Whatever a failed case left: faults armed, the link down, dead agents. */
static int case_teardown(void **state)
{
	migrate_fixture_fault_clear(cluster, "node1");
	migrate_fixture_fault_clear(cluster, "node2");
	char *const up[] = { "ip", "link", "set", veth2, "up", NULL };
	int status;
	(void)spawn_wait(up, NULL, &status);
	(void)cluster_fixture_repair(cluster, 2);
	(void)migrate_fixture_wait_nodes(podmig, 2, 30000);
	printf("case took %.1f s\n", elapsed_s());
	return 0;
}

static void repair(void)
{
	assert_int_equal(cluster_fixture_repair(cluster, 2), 0);
	assert_int_equal(migrate_fixture_wait_nodes(podmig, 2, 30000), 0);
}

static void run(char *const argv[])
{
	int status = -1;
	assert_int_equal(spawn_wait(argv, NULL, &status), 0);
	assert_int_equal(status, 0);
}

static void node_run(const char *node, char *const argv[])
{
	char *out = NULL;
	int status = -1;
	assert_int_equal(cluster_fixture_exec(cluster, node, argv, &out, &status), 0);
	if (status != 0)
		fail_msg("%s: %s failed (%d): %s", node, argv[0], status, out);
	free(out);
}

/* Starts `name` (a counter, or a memhog of `memhog_mib`) on node1 and
 * returns its counter once it counts; `page_server`: with the annotation
 * that lets it move in page-server mode (the agents' default directory). */
static uint64_t start_on_node1_as(const char *name, unsigned memhog_mib, bool page_server)
{
	char extra[256] = "";
	if (memhog_mib)
		snprintf(extra, sizeof extra, ",\"command\":[\"%u\"]", memhog_mib);
	if (page_server)
		snprintf(extra + strlen(extra), sizeof extra - strlen(extra),
		         ",\"annotations\":{\"org.criu.config\":\"/run/podmig/criu/%s.conf\"}",
		         name);
	assert_int_equal(migrate_fixture_start_container(cluster, podmig, "node1", name,
	                                                 memhog_mib ? "localhost/podmig/memhog"
	                                                            : "localhost/podmig/counter",
	                                                 extra),
	                 0);
	uint64_t last = 0;
	for (int i = 0; i < 100; i++) {
		usleep(100 * 1000);
		if (migrate_fixture_counter_check(cluster, "node1", name, 0, &last) == 0)
			break;
	}
	assert_true(last > 0);
	return last;
}

static uint64_t start_on_node1(const char *name, unsigned memhog_mib)
{
	return start_on_node1_as(name, memhog_mib, false);
}

static pid_t start_migrate_mode(const char *name, const char *mode)
{
	pid_t pid;
	if (mode)
		assert_int_equal(migrate_fixture_cli_start_mode(podmig, name, "node2", mode, &pid),
		                 0);
	else
		assert_int_equal(migrate_fixture_cli_start(podmig, name, "node2", &pid), 0);
	return pid;
}

static pid_t start_migrate(const char *name)
{
	return start_migrate_mode(name, NULL);
}

/* The CLI's exit status (it may fail: its source agent may have died). */
static int reap(pid_t pid)
{
	int status = -1;
	assert_int_equal(spawn_reap(pid, &status), 0);
	printf("podmig migrate: exit %d (%.1f s into the case)\n", status, elapsed_s());
	return status;
}

static void arm_pause(const char *node, const char *point)
{
	assert_int_equal(migrate_fixture_fault_arm(cluster, node, point, "pause"), 0);
}

static void wait_paused(const char *node, const char *point)
{
	assert_int_equal(migrate_fixture_wait_paused(cluster, node, point, PAUSE_TIMEOUT_MS), 0);
	printf("paused at %s on %s (%.1f s)\n", point, node, elapsed_s());
}

/* Waits until `name`'s newest record is final and the container runs on
 * the node that owns it (target if done, else source) and is gone from the
 * other; fails at once if it ever runs on both. Then checks the phase
 * (want_phase NULL: either done or rolled-back), the reason of a rollback
 * (reason_part: a substring, or NULL) and that the counter continued from
 * `before`, consecutively. */
static void check_one_copy(const char *name, const char *want_phase, const char *reason_part,
                           uint64_t before)
{
	json_t *rec = NULL;
	const char *owner = NULL, *other = NULL;
	for (unsigned waited = 0;; waited += 500) {
		int s1 = migrate_fixture_container_state(cluster, "node1", name);
		int s2 = migrate_fixture_container_state(cluster, "node2", name);
		if (s1 == 1 && s2 == 1)
			fail_msg("%s runs on node1 and node2 at once", name);
		json_decref(rec);
		rec = migrate_fixture_last_record(podmig, name);
		const char *phase = migrate_fixture_record_phase(rec);
		bool done = streq(phase, "done");
		if (done || streq(phase, "rolled-back") || streq(phase, "failed")) {
			owner = done ? "node2" : "node1";
			other = done ? "node1" : "node2";
			if ((done ? s2 : s1) == 1 && (done ? s1 : s2) == -ENOENT)
				break;
		}
		if (waited >= SETTLE_TIMEOUT_MS)
			fail_msg("%s not settled after %u s: record %s, node1 %d, node2 %d", name,
			         waited / 1000, phase[0] ? phase : "unreadable", s1, s2);
		usleep(500 * 1000);
	}
	const char *phase = migrate_fixture_record_phase(rec);
	printf("%s: %s on %s (%.1f s into the case); error: %s\n", name, phase, owner, elapsed_s(),
	       migrate_fixture_record_error(rec));
	if (want_phase)
		assert_string_equal(phase, want_phase);
	else
		assert_true(streq(phase, "done") || streq(phase, "rolled-back"));
	if (!streq(phase, "done")) {
		const char *why = migrate_fixture_record_error(rec);
		assert_true(why[0] != 0);
		if (reason_part && !strstr(why, reason_part))
			fail_msg("reason '%s' does not mention '%s'", why, reason_part);
	}
	json_decref(rec);
	(void)other;

	/* Its state continued: consecutive from before, and still counting. */
	uint64_t last = 0, later = 0;
	assert_int_equal(migrate_fixture_counter_check(cluster, owner, name, before, &last), 0);
	usleep(500 * 1000);
	assert_int_equal(migrate_fixture_counter_check(cluster, owner, name, last, &later), 0);
}

static void test_corrupt_chunk(void **state)
{
	uint64_t before = start_on_node1("corrupt", 0);
	assert_int_equal(migrate_fixture_fault_arm(cluster, "node1", "source-chunk", "corrupt 0"),
	                 0);
	assert_int_not_equal(
	        migrate_fixture_cli(podmig, NULL, "migrate", "corrupt", "--to", "node2", NULL), 0);
	migrate_fixture_fault_disarm(cluster, "node1", "source-chunk");
	check_one_copy("corrupt", "rolled-back", "checksum", before);
}

/* SIGKILL of node's agent while paused at point; the other agent settles
 * what it can (and while_down, unless NULL, runs), then the killed one
 * restarts and recovers its side. */
static void kill_agent_while_paused_mode(const char *name, const char *mode, const char *kill_node,
                                         const char *pause_node, const char *point,
                                         const char *want_phase, const char *reason_part,
                                         void (*while_down)(void))
{
	bool ps = mode && streq(mode, "page-server");
	uint64_t before = start_on_node1_as(name, ps ? 64 : 0, ps);
	arm_pause(pause_node, point);
	pid_t pid = start_migrate_mode(name, mode);
	wait_paused(pause_node, point);
	assert_int_equal(migrate_fixture_kill(cluster, kill_node, "agent"), 0);
	printf("killed %s's agent (%.1f s)\n", kill_node, elapsed_s());
	migrate_fixture_fault_clear(cluster, pause_node);
	if (streq(kill_node, "node1"))
		(void)reap(pid); /* the driver's agent is gone: it fails at once */
	if (while_down)
		while_down();
	repair();
	printf("%s's agent restarted (%.1f s)\n", kill_node, elapsed_s());
	if (!streq(kill_node, "node1"))
		(void)reap(pid); /* the source settles once the target recovered */
	check_one_copy(name, want_phase, reason_part, before);
}

static void kill_agent_while_paused(const char *name, const char *kill_node, const char *pause_node,
                                    const char *point, const char *want_phase,
                                    const char *reason_part)
{
	kill_agent_while_paused_mode(name, NULL, kill_node, pause_node, point, want_phase,
	                             reason_part, NULL);
}

/* podman ARGS... on node2: its output (trailing newline cut), exit 0 asserted. */
static char *node2_podman(const char *a1, const char *a2, const char *a3, const char *a4,
                          const char *a5)
{
	char *const argv[] = { (char *)"podman", (char *)a1, (char *)a2, (char *)a3,
		               (char *)a4,       (char *)a5, NULL };
	char *out = NULL;
	int status = -1;
	assert_int_equal(cluster_fixture_exec(cluster, "node2", argv, &out, &status), 0);
	if (status != 0)
		fail_msg("podman %s %s on node2 exited %d: %s", a1, a2 ?: "", status, out);
	out[strcspn(out, "\n")] = 0;
	return out;
}

#define COUNTER_IMAGE "localhost/podmig/counter:latest"

/* While node2's agent is dead with the counter image mounted, the image's
 * name moves to another image, as a pull or load of the same name would do. */
static void move_counter_name(void)
{
	free(node2_podman("tag", "localhost/podmig/memhog:latest", COUNTER_IMAGE, NULL, NULL));
}

/* The target mounted the container's image for the archive check before
 * it answered ready; killed with it mounted, it unmounts it when it starts
 * again (Podman would keep it mounted for good) — the image it mounted, by
 * its ID, even though the name it was mounted for names another image by
 * then. */
static void test_target_killed_transferring(void **state)
{
	char *id = node2_podman("image", "inspect", "--format", "{{.Id}}", COUNTER_IMAGE);
	assert_int_equal(strlen(id), 64);
	kill_agent_while_paused_mode("tgt-xfer", NULL, "node2", "node2", "target-transferring",
	                             "rolled-back", NULL, move_counter_name);
	char *mounted = node2_podman("image", "mount", NULL, NULL, NULL);
	/* the name back on its image (before any assertion: later cases use it) */
	free(node2_podman("tag", id, COUNTER_IMAGE, NULL, NULL));
	printf("node2's mounted images after its agent restarted: %s\n", mounted);
	/* listed by name, or by ID once nameless */
	char short_id[13];
	snprintf(short_id, sizeof short_id, "%s", id);
	assert_null(strstr(mounted, "podmig/counter"));
	assert_null(strstr(mounted, short_id));
	free(mounted);
	/* because the restarted agent unmounted it, not because nothing was */
	char log[512], want[128];
	snprintf(log, sizeof log, "%s/nodes/node2/agent.log",
	         cluster_fixture_env(cluster, "PODMIG_CLUSTER_DIR"));
	snprintf(want, sizeof want, "unmounted image %s", id);
	FILE *f = fopen(log, "re");
	assert_non_null(f);
	char line[1024];
	bool unmounted = false;
	while (fgets(line, sizeof line, f))
		unmounted |= strstr(line, want) != NULL;
	fclose(f);
	free(id);
	assert_true(unmounted);
}

static void test_target_killed_restoring(void **state)
{
	kill_agent_while_paused("tgt-rest", "node2", "node2", "target-restoring", "rolled-back",
	                        "target agent stopped");
}

static void test_source_killed_transferring(void **state)
{
	kill_agent_while_paused("src-xfer", "node1", "node1", "source-transferring", "rolled-back",
	                        "source agent stopped");
}

/* The record is restoring (the target's to decide) when the source dies:
 * the target finishes, and the restarted source removes its stopped copy. */
static void test_source_killed_restoring(void **state)
{
	kill_agent_while_paused("src-rest", "node1", "node2", "target-restoring", "done", NULL);
}

static void test_link_cut(void **state)
{
	char *const down[] = { "ip", "link", "set", veth2, "down", NULL };
	char *const up[] = { "ip", "link", "set", veth2, "up", NULL };
	uint64_t before = start_on_node1("cut", 0);
	arm_pause("node2", "target-transferring");
	pid_t pid = start_migrate("cut");
	wait_paused("node2", "target-transferring");
	run(down);
	printf("link of node2 cut (%.1f s)\n", elapsed_s());
	migrate_fixture_fault_disarm(cluster, "node2", "target-transferring");
	sleep(10);
	run(up);
	printf("link of node2 restored (%.1f s)\n", elapsed_s());
	(void)reap(pid);
	check_one_copy("cut", NULL, NULL, before);
}

static void test_etcd_restart(void **state)
{
	uint64_t before = start_on_node1("etcd", 0);
	arm_pause("node2", "target-transferring");
	pid_t pid = start_migrate("etcd");
	wait_paused("node2", "target-transferring");
	assert_int_equal(migrate_fixture_kill(cluster, NULL, "etcd"), 0);
	printf("etcd killed (%.1f s)\n", elapsed_s());
	repair();
	printf("etcd restarted (%.1f s)\n", elapsed_s());
	migrate_fixture_fault_disarm(cluster, "node2", "target-transferring");
	(void)reap(pid);
	check_one_copy("etcd", NULL, NULL, before);
}

/* etcd stops while the archive is on its way, then the target agent dies:
 * without the final trailer the target cannot commit, so the source brings
 * the container back after its bounded wait while etcd is still down; once
 * etcd is back, recovery records the rollback. The archive (a 64 MiB
 * memhog) is larger than what gRPC buffers, so the trailer cannot have left
 * while the target was paused. */
#define OUTAGE_RESUME_MS 60000
static void test_etcd_outage_resumes(void **state)
{
	uint64_t before = start_on_node1("outage", 64);
	arm_pause("node2", "target-transferring");
	pid_t pid = start_migrate("outage");
	wait_paused("node2", "target-transferring");
	assert_int_equal(migrate_fixture_kill(cluster, NULL, "etcd"), 0);
	double down = elapsed_s();
	printf("etcd killed (%.1f s)\n", down);
	assert_int_equal(migrate_fixture_kill(cluster, "node2", "agent"), 0);
	migrate_fixture_fault_clear(cluster, "node2");

	int s1 = 0;
	for (unsigned waited = 0; waited < OUTAGE_RESUME_MS && s1 != 1; waited += 500) {
		usleep(500 * 1000);
		s1 = migrate_fixture_container_state(cluster, "node1", "outage");
	}
	printf("outage: node1 state %d %.1f s after etcd stopped, etcd still down\n", s1,
	       elapsed_s() - down);
	assert_int_equal(s1, 1);
	assert_int_not_equal(migrate_fixture_container_state(cluster, "node2", "outage"), 1);
	assert_int_not_equal(reap(pid), 0);

	repair();
	printf("etcd and node2's agent back (%.1f s)\n", elapsed_s());
	check_one_copy("outage", "rolled-back", "runs on the source", before);
}

static void test_disk_full(void **state)
{
	char work[512];
	snprintf(work, sizeof work, "%s/nodes/node2/work",
	         cluster_fixture_env(cluster, "PODMIG_CLUSTER_DIR"));
	/* In node2's mount namespace, where its agent lives. */
	char *const mount[] = {
		"mount", "-t", "tmpfs", "-o", "size=1m", "podmig-full", work, NULL
	};
	char *const umount[] = { "umount", work, NULL };
	uint64_t before = start_on_node1("full", 16);
	node_run("node2", mount);
	char *out = NULL;
	int status = migrate_fixture_cli(podmig, &out, "migrate", "full", "--to", "node2", NULL);
	node_run("node2", umount);
	assert_int_not_equal(status, 0);
	free(out);
	check_one_copy("full", "rolled-back", "No space left", before);
}

/* Page-server mode. */

/* Waits until node2 runs the page server of a migration (its dump is
 * streaming), then lets it stream for a moment. */
static pid_t wait_page_server(void)
{
	pid_t ps = 0;
	for (unsigned waited = 0; !ps; waited += 20) {
		if (waited > PAUSE_TIMEOUT_MS)
			fail_msg("no page server on node2 after %u s", waited / 1000);
		usleep(20 * 1000);
		ps = migrate_fixture_find_page_server(cluster, "node2");
	}
	usleep(300 * 1000);
	printf("page server %d on node2 is receiving (%.1f s)\n", (int)ps, elapsed_s());
	return ps;
}

/* The dump fails when its page server dies; CRIU resumes the container on
 * the source. */
static void test_ps_page_server_killed(void **state)
{
	uint64_t before = start_on_node1_as("ps-kill", 512, true);
	pid_t pid = start_migrate_mode("ps-kill", "page-server");
	pid_t ps = wait_page_server();
	assert_int_equal(kill(ps, SIGKILL), 0);
	printf("page server killed (%.1f s)\n", elapsed_s());
	assert_int_not_equal(reap(pid), 0);
	check_one_copy("ps-kill", "rolled-back", NULL, before);
}

static void test_ps_link_cut(void **state)
{
	char *const down[] = { "ip", "link", "set", veth2, "down", NULL };
	char *const up[] = { "ip", "link", "set", veth2, "up", NULL };
	uint64_t before = start_on_node1_as("ps-cut", 512, true);
	pid_t pid = start_migrate_mode("ps-cut", "page-server");
	(void)wait_page_server();
	run(down);
	printf("link of node2 cut mid-stream (%.1f s)\n", elapsed_s());
	sleep(10);
	run(up);
	printf("link of node2 restored (%.1f s)\n", elapsed_s());
	(void)reap(pid);
	check_one_copy("ps-cut", NULL, NULL, before);
}

/* The per-call directories (`<migration id>.XXXXXX`) in a node's work
 * directory. */
static unsigned call_dirs(const char *node)
{
	char path[512];
	unsigned n = 0;
	snprintf(path, sizeof path, "%s/nodes/%s/work",
	         cluster_fixture_env(cluster, "PODMIG_CLUSTER_DIR"), node);
	DIR *d = opendir(path);
	if (!d)
		return 0;
	for (struct dirent *de; (de = readdir(d));)
		if (de->d_type == DT_DIR && startswith(de->d_name, "m-"))
			n++;
	closedir(d);
	return n;
}

/* Every page is on the target, which dies before its restore finished; the
 * restarted agent removes the page server's images the dead call left. */
static void test_ps_target_killed_restoring(void **state)
{
	kill_agent_while_paused_mode("ps-tgt", "page-server", "node2", "node2", "target-restoring",
	                             "rolled-back", "target agent stopped", NULL);
	assert_int_equal(call_dirs("node2"), 0);
}

/* The source's dump sent every page away, then its agent dies: restarted,
 * it replays the pages its relay recorded and restores the container. */
static void test_ps_source_killed_transferring(void **state)
{
	kill_agent_while_paused_mode("ps-src", "page-server", "node1", "node1",
	                             "source-transferring", "rolled-back", "source agent stopped",
	                             NULL);
}

/* Post-copy mode. */

/* Starts a post-copy migration of a 512 MiB memhog (with the annotation)
 * and waits until its copy runs on node2 while its pages come. */
static pid_t start_post_copy(const char *name, uint64_t *ret_before)
{
	*ret_before = start_on_node1_as(name, 512, true);
	pid_t pid = start_migrate_mode(name, "post-copy");
	for (unsigned waited = 0;; waited += 20) {
		if (waited > PAUSE_TIMEOUT_MS)
			fail_msg("%s never ran on node2 with a lazy-pages daemon", name);
		if (migrate_fixture_find_lazy_daemon(cluster, "node2") > 0 &&
		    migrate_fixture_container_state(cluster, "node2", name) == 1)
			break;
		usleep(20 * 1000);
	}
	usleep(300 * 1000);
	printf("%s runs on node2, its pages coming (%.1f s)\n", name, elapsed_s());
	return pid;
}

static void test_pc_link_cut(void **state)
{
	char *const down[] = { "ip", "link", "set", veth2, "down", NULL };
	char *const up[] = { "ip", "link", "set", veth2, "up", NULL };
	uint64_t before;
	pid_t pid = start_post_copy("pc-cut", &before);
	run(down);
	printf("link of node2 cut mid-stream (%.1f s)\n", elapsed_s());
	sleep(10);
	run(up);
	printf("link of node2 restored (%.1f s)\n", elapsed_s());
	(void)reap(pid);
	check_one_copy("pc-cut", NULL, NULL, before);
}

/* The target agent dies with its copy running and pages missing: its
 * daemon dies with it; restarted, it removes the copy (never commits it),
 * and the source, frozen meanwhile, resumes. */
static void test_pc_target_killed(void **state)
{
	uint64_t before;
	pid_t pid = start_post_copy("pc-tgt", &before);
	assert_int_equal(migrate_fixture_kill(cluster, "node2", "agent"), 0);
	printf("killed node2's agent (%.1f s)\n", elapsed_s());
	usleep(500 * 1000);
	assert_int_equal(migrate_fixture_find_lazy_daemon(cluster, "node2"), 0);
	/* the source waits for the record: still frozen, not resumed */
	json_t *rec = migrate_fixture_last_record(podmig, "pc-tgt");
	assert_string_equal(migrate_fixture_record_phase(rec), "restoring");
	json_decref(rec);
	assert_int_equal(cluster_fixture_repair(cluster, 2), 0);
	if (migrate_fixture_wait_nodes(podmig, 2, 120000) < 0) {
		char *out = NULL;
		(void)migrate_fixture_cli(podmig, &out, "nodes", NULL);
		fail_msg("the nodes are not back: %s", out ?: "");
	}
	printf("node2's agent restarted (%.1f s)\n", elapsed_s());
	(void)reap(pid);
	check_one_copy("pc-tgt", "rolled-back", "every page", before);
}

/* The source agent dies while its dump serves pages: the dump's stream
 * resets, so the dump fails and the source resumes; the target's daemon
 * loses the source and the target removes its copy. */
static void test_pc_source_killed(void **state)
{
	uint64_t before;
	pid_t pid = start_post_copy("pc-src", &before);
	assert_int_equal(migrate_fixture_kill(cluster, "node1", "agent"), 0);
	printf("killed node1's agent (%.1f s)\n", elapsed_s());
	(void)reap(pid); /* the driver's agent is gone: it fails at once */
	repair();
	printf("node1's agent restarted (%.1f s)\n", elapsed_s());
	check_one_copy("pc-src", "rolled-back", NULL, before);
}

int main(int argc, char *argv[])
{
	if (argc != 2) {
		fprintf(stderr, "usage: test-failures PODMIG\n");
		return 2;
	}
	podmig = argv[1];
	setvbuf(stdout, NULL, _IOLBF, 0);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_corrupt_chunk, case_setup, case_teardown),
		cmocka_unit_test_setup_teardown(test_target_killed_transferring, case_setup,
		                                case_teardown),
		cmocka_unit_test_setup_teardown(test_target_killed_restoring, case_setup,
		                                case_teardown),
		cmocka_unit_test_setup_teardown(test_source_killed_transferring, case_setup,
		                                case_teardown),
		cmocka_unit_test_setup_teardown(test_source_killed_restoring, case_setup,
		                                case_teardown),
		cmocka_unit_test_setup_teardown(test_link_cut, case_setup, case_teardown),
		cmocka_unit_test_setup_teardown(test_etcd_restart, case_setup, case_teardown),
		cmocka_unit_test_setup_teardown(test_etcd_outage_resumes, case_setup,
		                                case_teardown),
		cmocka_unit_test_setup_teardown(test_disk_full, case_setup, case_teardown),
		cmocka_unit_test_setup_teardown(test_ps_page_server_killed, case_setup,
		                                case_teardown),
		cmocka_unit_test_setup_teardown(test_ps_link_cut, case_setup, case_teardown),
		cmocka_unit_test_setup_teardown(test_ps_target_killed_restoring, case_setup,
		                                case_teardown),
		cmocka_unit_test_setup_teardown(test_ps_source_killed_transferring, case_setup,
		                                case_teardown),
		cmocka_unit_test_setup_teardown(test_pc_link_cut, case_setup, case_teardown),
		cmocka_unit_test_setup_teardown(test_pc_target_killed, case_setup, case_teardown),
		cmocka_unit_test_setup_teardown(test_pc_source_killed, case_setup, case_teardown),
	};
	if (getenv("PODMIG_TEST_FILTER"))
		cmocka_set_test_filter(getenv("PODMIG_TEST_FILTER"));
	return cmocka_run_group_tests(tests, setup, teardown);
}
