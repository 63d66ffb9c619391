/* podmig's own live migration on a 2-node local cluster with real Podman,
 * CRIU, etcd and agents, driven by `podmig migrate`: a counter keeps
 * counting on the target and is gone from the source, a TCP server answers
 * on the target, an image the target lacks travels too, a target whose
 * Podman dies before the restore rolls back (the counter continues on the
 * source), and bad requests change nothing.
 *
 * argv[1]: the podmig CLI. */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "macro.h"
#include "migrate-fixture.h"
#include "process-util.h"
#include "strutil.h"

#define API "/v5.0.0/libpod"

static ClusterFixture *cluster;
static const char *podmig;

static int setup(void **state)
{
	setenv("PODMIG_TEST_CLUSTER_ID", "6", 0);
	if (cluster_fixture_up(2, &cluster) < 0)
		return -1;
	setenv("PODMIG_ETCD_ENDPOINTS", cluster_fixture_env(cluster, "PODMIG_ETCD_ENDPOINTS"), 1);
	return 0;
}

static int teardown(void **state)
{
	cluster_fixture_down(cluster);
	cluster = NULL;
	return 0;
}

static void node_podman(const char *node, const char *arg, ...)
{
	const char *argv[16] = { "podman", arg };
	size_t n = 2;
	va_list ap;
	va_start(ap, arg);
	while (n < ELEMENTSOF(argv) - 1 && (argv[n] = va_arg(ap, const char *)))
		n++;
	va_end(ap);
	argv[n] = NULL;
	char *out = NULL;
	int status = -1;
	assert_int_equal(cluster_fixture_exec(cluster, node, (char *const *)argv, &out, &status),
	                 0);
	if (status != 0)
		fail_msg("%s: podman %s failed (%d): %s", node, arg, status, out);
	free(out);
}

/* Container state on a node: 1 running, 0 exists but not running, -1 absent. */
static int container_state(const char *node, const char *name)
{
	int state = migrate_fixture_container_state(cluster, node, name);
	assert_true(state >= 0 || state == -ENOENT);
	return state == -ENOENT ? -1 : state;
}

static void counter_samples(const char *node, const char *name, CounterSample **v, size_t *n)
{
	assert_int_equal(migrate_fixture_counter_samples(cluster, node, name, v, n), 0);
}

/* The counter's last value on node, after waiting for it to advance. */
static uint64_t counter_last(const char *node, const char *name)
{
	CounterSample *v = NULL;
	size_t n = 0;
	counter_samples(node, name, &v, &n);
	assert_true(n > 0);
	uint64_t last = v[n - 1].counter;
	free(v);
	return last;
}

/* The newest record in `podmig history --json` for container. */
static json_t *last_record(const char *container)
{
	json_t *found = migrate_fixture_last_record(podmig, container);
	assert_non_null(found);
	return found;
}

static void start_container(const char *node, const char *name, const char *image,
                            const char *extra)
{
	assert_int_equal(migrate_fixture_start_container(cluster, podmig, node, name, image, extra),
	                 0);
}

static void test_counter_moves(void **state)
{
	start_container("node1", "count", "localhost/podmig/counter", NULL);
	sleep(1);
	uint64_t before = counter_last("node1", "count");

	assert_int_equal(
	        migrate_fixture_cli(podmig, NULL, "migrate", "count", "--to", "node2", NULL), 0);
	assert_int_equal(container_state("node2", "count"), 1);
	assert_int_equal(container_state("node1", "count"), -1); /* exactly one copy */
	sleep(1);
	CounterSample *v = NULL;
	size_t n = 0;
	counter_samples("node2", "count", &v, &n);
	assert_true(n > 0);
	/* It continued: well past where it was, and never reset to 0 on the way. */
	assert_true(v[n - 1].counter > before);
	for (size_t i = 1; i < n; i++)
		assert_int_equal(v[i].counter, v[i - 1].counter + 1);
	free(v);

	json_t *rec = last_record("count");
	assert_string_equal(json_string_value(json_object_get(rec, "phase")), "done");
	assert_string_equal(json_string_value(json_object_get(rec, "source")), "node1");
	assert_string_equal(json_string_value(json_object_get(rec, "target")), "node2");
	assert_string_equal(json_string_value(json_object_get(rec, "mode")), "stop-and-copy");
	json_t *t = json_object_get(rec, "phase_times_ms");
	json_int_t planned = json_integer_value(json_object_get(t, "planned"));
	json_int_t ck = json_integer_value(json_object_get(t, "checkpointing"));
	json_int_t tr = json_integer_value(json_object_get(t, "transferring"));
	json_int_t rs = json_integer_value(json_object_get(t, "restoring"));
	json_int_t done = json_integer_value(json_object_get(t, "done"));
	/* Sane: every phase stamped, in order, the whole within a minute. */
	assert_true(planned > 0 && planned <= ck && ck <= tr && tr <= rs && rs <= done);
	assert_true(done - planned < 60000);
	json_int_t down = json_integer_value(json_object_get(rec, "downtime_ms"));
	assert_true(down > 0 && down <= done - planned + 1000);
	assert_true(json_integer_value(json_object_get(rec, "bytes")) > 4096);
	json_decref(rec);
}

static void test_server_moves(void **state)
{
	const char *addr2 = cluster_fixture_node_addr(cluster, "node2");
	char url[64];
	snprintf(url, sizeof url, "http://%s:8080/", addr2);
	start_container("node1", "web", "localhost/podmig/busybox",
	                ",\"command\":[\"httpd\",\"-f\",\"-p\",\"80\",\"-h\",\"/www\"],"
	                "\"portmappings\":[{\"container_port\":80,\"host_port\":8080}]");
	assert_int_equal(migrate_fixture_cli(podmig, NULL, "migrate", "web", "--to", "node2", NULL),
	                 0);
	char *page = NULL;
	int status = -1;
	char *const curl[] = { "curl", "-s", "-m", "5", url, NULL };
	assert_int_equal(cluster_fixture_exec(cluster, "node2", curl, &page, &status), 0);
	assert_int_equal(status, 0);
	assert_string_equal(page, "podmig test page\n");
	free(page);
	assert_int_equal(container_state("node1", "web"), -1);
}

static void test_image_travels(void **state)
{
	/* An image only node1 has. */
	node_podman("node1", "tag", "localhost/podmig/counter", "localhost/podmig/only-node1",
	            NULL);
	start_container("node1", "lonely", "localhost/podmig/only-node1", NULL);
	char *out = NULL;
	assert_int_equal(
	        migrate_fixture_cli(podmig, &out, "migrate", "lonely", "--to", "node2", NULL), 0);
	free(out);
	assert_int_equal(container_state("node2", "lonely"), 1);
	long status = 0;
	PodmanRequest req = { .method = "GET",
		              .path = API "/images/localhost/podmig/only-node1/exists" };
	assert_int_equal(cluster_fixture_podman(cluster, "node2", &req, &status, NULL, NULL), 0);
	assert_int_equal(status, 204);
}

static void arm(const char *node, const char *point, const char *what)
{
	assert_int_equal(migrate_fixture_fault_arm(cluster, node, point, what), 0);
}

static void disarm(const char *node, const char *point)
{
	migrate_fixture_fault_disarm(cluster, node, point);
}

static void wait_paused(const char *node, const char *point)
{
	assert_int_equal(migrate_fixture_wait_paused(cluster, node, point, 60000), 0);
}

static pid_t start_podmig(const char *container, const char *target)
{
	pid_t pid;
	assert_int_equal(migrate_fixture_cli_start(podmig, container, target, &pid), 0);
	return pid;
}

static void test_target_podman_dies_before_restore(void **state)
{
	start_container("node1", "survivor", "localhost/podmig/counter", NULL);
	arm("node2", "target-restoring", "pause");
	pid_t pid = start_podmig("survivor", "node2");
	wait_paused("node2", "target-restoring");
	/* The record says restoring; now the target's Podman goes away. */
	json_t *rec = last_record("survivor");
	assert_string_equal(json_string_value(json_object_get(rec, "phase")), "restoring");
	json_decref(rec);
	char pidfile[512];
	snprintf(pidfile, sizeof pidfile, "%s/nodes/node2/podman.pid",
	         cluster_fixture_env(cluster, "PODMIG_CLUSTER_DIR"));
	FILE *f = fopen(pidfile, "re");
	assert_non_null(f);
	int service = 0;
	assert_int_equal(fscanf(f, "%d", &service), 1);
	fclose(f);
	assert_int_equal(kill(service, SIGKILL), 0);
	disarm("node2", "target-restoring");

	int status = -1;
	assert_int_equal(spawn_reap(pid, &status), 0);
	assert_int_not_equal(status, 0);
	rec = last_record("survivor");
	assert_string_equal(json_string_value(json_object_get(rec, "phase")), "rolled-back");
	assert_non_null(strstr(json_string_value(json_object_get(rec, "error")), "restoring"));
	json_decref(rec);

	/* Back on node1, counting on from its state. */
	assert_int_equal(container_state("node1", "survivor"), 1);
	uint64_t a = counter_last("node1", "survivor");
	sleep(1);
	assert_true(counter_last("node1", "survivor") > a);
	CounterSample *v = NULL;
	size_t n = 0;
	counter_samples("node1", "survivor", &v, &n);
	for (size_t i = 1; i < n; i++)
		assert_int_equal(v[i].counter, v[i - 1].counter + 1);
	free(v);

	/* node2 comes back (its service restarted) without a copy; the repair
	 * keeps the cluster as the fixture made it (no scheduler, which would
	 * move the later tests' containers by itself). */
	assert_int_equal(cluster_fixture_repair(cluster, 2), 0);
	assert_int_equal(container_state("node2", "survivor"), -1);
}

static void test_bad_requests(void **state)
{
	char *out = NULL;
	start_container("node1", "stay", "localhost/podmig/counter", NULL);

	assert_int_equal(migrate_fixture_cli(podmig, &out, "migrate", "no-such-container", "--to",
	                                     "node2", NULL),
	                 1);
	assert_non_null(strstr(out, "no container no-such-container"));
	free(out);
	assert_int_equal(
	        migrate_fixture_cli(podmig, &out, "migrate", "stay", "--to", "node9", NULL), 1);
	assert_non_null(strstr(out, "no node node9"));
	free(out);
	assert_int_equal(
	        migrate_fixture_cli(podmig, &out, "migrate", "stay", "--to", "node1", NULL), 1);
	assert_non_null(strstr(out, "already on node node1"));
	free(out);
	assert_int_equal(
	        migrate_fixture_cli(podmig, &out, "migrate", "../x", "--to", "node2", NULL), 2);
	free(out);
	assert_int_equal(migrate_fixture_cli(podmig, &out, "migrate", "stay", NULL), 2);
	free(out);

	/* Two at once: the second is refused while the first is under way. */
	arm("node1", "source-checkpointing", "pause");
	pid_t pid = start_podmig("stay", "node2");
	wait_paused("node1", "source-checkpointing");
	assert_int_equal(
	        migrate_fixture_cli(podmig, &out, "migrate", "stay", "--to", "node2", NULL), 1);
	assert_non_null(strstr(out, "already being migrated"));
	free(out);
	disarm("node1", "source-checkpointing");
	int status = -1;
	assert_int_equal(spawn_reap(pid, &status), 0);
	assert_int_equal(status, 0);
	/* Nothing changed by the refused ones: one copy, on node2, counting. */
	assert_int_equal(container_state("node2", "stay"), 1);
	assert_int_equal(container_state("node1", "stay"), -1);
}

static void test_node_bound(void **state)
{
	/* Agents take part in at most 2 migrations at once (the default). */
	start_container("node1", "b1", "localhost/podmig/counter", NULL);
	start_container("node1", "b2", "localhost/podmig/counter", NULL);
	start_container("node1", "b3", "localhost/podmig/counter", NULL);
	arm("node1", "source-checkpointing", "pause");
	pid_t p1 = start_podmig("b1", "node2");
	pid_t p2 = start_podmig("b2", "node2");
	char *out = NULL;
	/* Both held at the pause (the file is shared; wait until two records exist). */
	for (int i = 0; i < 300; i++) {
		char *h = NULL;
		if (migrate_fixture_cli(podmig, &h, "history", "--json", NULL) == 0 &&
		    strstr(h, "\"b1\"") && strstr(h, "\"b2\"")) {
			free(h);
			break;
		}
		free(h);
		usleep(100 * 1000);
	}
	assert_int_equal(migrate_fixture_cli(podmig, &out, "migrate", "b3", "--to", "node2", NULL),
	                 1);
	assert_non_null(strstr(out, "its limit"));
	free(out);
	disarm("node1", "source-checkpointing");
	int status = -1;
	assert_int_equal(spawn_reap(p1, &status), 0);
	assert_int_equal(status, 0);
	assert_int_equal(spawn_reap(p2, &status), 0);
	assert_int_equal(status, 0);
	/* b3 was refused and stays where it was. */
	assert_int_equal(container_state("node1", "b3"), 1);
	assert_int_equal(container_state("node2", "b3"), -1);
}

int main(int argc, char *argv[])
{
	if (argc != 2) {
		fprintf(stderr, "usage: test-migrate PODMIG\n");
		return 2;
	}
	podmig = argv[1];
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_counter_moves),
		cmocka_unit_test(test_server_moves),
		cmocka_unit_test(test_image_travels),
		cmocka_unit_test(test_target_podman_dies_before_restore),
		cmocka_unit_test(test_bad_requests),
		cmocka_unit_test(test_node_bound),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
