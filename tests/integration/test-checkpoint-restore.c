/* The ground holds: on a 2-node local cluster, a running container is
 * checkpointed through node1's Podman API and restored through node2's, and
 * it continues from its state — a counter keeps counting, a server keeps
 * its listening socket and answers on node2. Real Podman, runc and CRIU;
 * plain HTTP to Podman (the project's Podman client is not used here). */
#include <errno.h>
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

#include "cluster-fixture.h"
#include "macro.h"
#include "migrate-fixture.h"
#include "strutil.h"

#define API "/v5.0.0/libpod"

static ClusterFixture *cluster;
static char archive_dir[] = "/var/tmp/podmig-test-ckpt.XXXXXX";

static int setup(void **state)
{
	if (!mkdtemp(archive_dir))
		return -1;
	return cluster_fixture_up(2, &cluster) < 0 ? -1 : 0;
}

static int teardown(void **state)
{
	cluster_fixture_down(cluster);
	cluster = NULL;
	char path[256];
	snprintf(path, sizeof path, "%s/counter.tar", archive_dir);
	unlink(path);
	snprintf(path, sizeof path, "%s/web.tar", archive_dir);
	unlink(path);
	rmdir(archive_dir);
	return 0;
}

static void podman_create_start(const char *node, const char *name, const char *spec_json)
{
	assert_int_equal(cluster_fixture_container_start(cluster, node, name, spec_json), 0);
}

static void podman_checkpoint_export(const char *node, const char *name, const char *archive)
{
	char path[256];
	long status = 0;
	snprintf(path, sizeof path, API "/containers/%s/checkpoint?export=true", name);
	PodmanRequest req = { .method = "POST", .path = path, .download_path = archive };
	assert_int_equal(cluster_fixture_podman(cluster, node, &req, &status, NULL, NULL), 0);
	struct stat st;
	assert_int_equal(stat(archive, &st), 0);
	if (status != 200)
		fail_msg("checkpoint of %s on %s: HTTP %ld", name, node, status);
	assert_true(st.st_size > 4096);
}

static void podman_restore_import(const char *node, const char *name, const char *archive)
{
	char path[256];
	char *resp = NULL;
	long status = 0;
	snprintf(path, sizeof path, API "/containers/%s/restore?import=true", name);
	PodmanRequest req = { .method = "POST", .path = path, .upload_path = archive };
	assert_int_equal(cluster_fixture_podman(cluster, node, &req, &status, &resp, NULL), 0);
	if (status != 200)
		fail_msg("restore of %s on %s: HTTP %ld: %s", name, node, status, resp);
	free(resp);
}

static void podman_remove(const char *node, const char *name)
{
	assert_int_equal(cluster_fixture_container_remove(cluster, node, name), 0);
}

/* Whether `name` exists on `node` and, if so, is running. */
/* Whether `name` exists on `node` and, if so, is running. */
static bool container_running(const char *node, const char *name, bool *exists)
{
	int state = migrate_fixture_container_state(cluster, node, name);
	assert_true(state >= 0 || state == -ENOENT);
	*exists = state >= 0;
	return state == 1;
}

static void counter_log(const char *node, const char *name, CounterSample **ret, size_t *ret_n)
{
	assert_int_equal(migrate_fixture_counter_samples(cluster, node, name, ret, ret_n), 0);
}

static void test_counter_continues(void **state)
{
	char archive[256];
	CounterSample *before = NULL, *after = NULL;
	size_t n_before = 0, n_after = 0;
	bool exists;

	snprintf(archive, sizeof archive, "%s/counter.tar", archive_dir);
	podman_create_start("node1", "counter",
	                    "{\"name\":\"counter\",\"image\":\"localhost/podmig/counter\"}");
	sleep(2);
	assert_true(container_running("node1", "counter", &exists));

	podman_checkpoint_export("node1", "counter", archive);
	assert_false(container_running("node1", "counter", &exists));
	counter_log("node1", "counter", &before, &n_before);
	/* ~200 lines in 2 s; a loaded machine may manage fewer. */
	assert_true(n_before >= 20);
	CounterSample last = before[n_before - 1];
	assert_int_equal(last.counter, n_before - 1); /* counted from 0, none lost */

	podman_restore_import("node2", "counter", archive);
	podman_remove("node1", "counter");
	sleep(2);
	assert_true(container_running("node2", "counter", &exists));
	container_running("node1", "counter", &exists);
	assert_false(exists);

	counter_log("node2", "counter", &after, &n_after);
	/* The first sample produced after the checkpoint continues the count:
	 * a restarted container would begin at 0 again. */
	size_t i = 0;
	while (i < n_after && after[i].timestamp_ms <= last.timestamp_ms)
		i++;
	if (i >= n_after)
		fail_msg("no output on node2 after the restore (%zu lines)", n_after);
	CounterSample first = after[i];
	printf("counter: last on node1 %llu, first on node2 %llu, gap %llu ms, %zu samples after\n",
	       (unsigned long long)last.counter, (unsigned long long)first.counter,
	       (unsigned long long)(first.timestamp_ms - last.timestamp_ms), n_after - i);
	assert_true(first.counter > last.counter);
	assert_true(first.counter <= last.counter + 2);
	/* And it keeps counting one by one: no restart later either. */
	uint64_t longest_gap = first.timestamp_ms - last.timestamp_ms;
	for (size_t k = i + 1; k < n_after; k++) {
		assert_int_equal(after[k].counter, after[k - 1].counter + 1);
		longest_gap = MAX(longest_gap, after[k].timestamp_ms - after[k - 1].timestamp_ms);
	}
	assert_true(n_after - i >= 20);
	printf("counter: longest gap between timestamps across the move: %llu ms\n",
	       (unsigned long long)longest_gap);
	podman_remove("node2", "counter");
	free(before);
	free(after);
}

/* GET / from inside `node` to addr:8080; returns the body or NULL. */
static char *http_get_from(const char *node, const char *addr)
{
	char url[128];
	char *out = NULL;
	int status = -1;
	snprintf(url, sizeof url, "http://%s:8080/", addr);
	char *const argv[] = { "curl", "-s", "-m", "5", url, NULL };
	assert_int_equal(cluster_fixture_exec(cluster, node, argv, &out, &status), 0);
	if (status != 0) {
		free(out);
		return NULL;
	}
	return out;
}

static void test_listening_socket_moves(void **state)
{
	const char *addr1 = cluster_fixture_node_addr(cluster, "node1");
	const char *addr2 = cluster_fixture_node_addr(cluster, "node2");
	char archive[256];
	char *page;

	assert_non_null(addr1);
	assert_non_null(addr2);
	snprintf(archive, sizeof archive, "%s/web.tar", archive_dir);
	podman_create_start("node1", "web",
	                    "{\"name\":\"web\",\"image\":\"localhost/podmig/busybox\","
	                    "\"command\":[\"httpd\",\"-f\",\"-p\",\"80\",\"-h\",\"/www\"],"
	                    "\"portmappings\":[{\"container_port\":80,\"host_port\":8080}]}");
	/* httpd binds right after start; give it a moment under load. */
	for (int i = 0; i < 50 && !(page = http_get_from("node1", addr1)); i++)
		usleep(100 * 1000);
	assert_non_null(page);
	assert_string_equal(page, "podmig test page\n");
	free(page);

	podman_checkpoint_export("node1", "web", archive);
	podman_restore_import("node2", "web", archive);
	podman_remove("node1", "web");

	page = http_get_from("node2", addr2);
	assert_non_null(page);
	assert_string_equal(page, "podmig test page\n");
	free(page);
	/* Exactly one copy: node1 no longer answers. */
	page = http_get_from("node1", addr1);
	assert_null(page);
	podman_remove("node2", "web");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_counter_continues),
		cmocka_unit_test(test_listening_socket_moves),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
