/* Page-server migration on a 2-node local cluster (cluster id 1, shared):
 * a memhog created with the org.criu.config annotation moves with
 * `--mode page-server` (its pages through the target's CRIU page server, its
 * memory verified by memhog itself) and back with `--mode auto`; a container
 * without the annotation falls back to stop-and-copy and the record says
 * why; a restore that fails on the target after every page went there rolls
 * back, with the recorded pages replayed on the source, and the memhog goes
 * on there with its memory intact; the source's recording of the pages is
 * gone once the rollback is settled, also when its restore failed; an
 * unknown mode changes nothing.
 *
 * argv[1]: the podmig CLI. PODMIG_TEST_FILTER (a cmocka pattern) runs only
 * the matching cases. */
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
#include <jansson.h>

#include "migrate-fixture.h"
#include "process-util.h"
#include "strutil.h"

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

/* A memhog of `mib` on node1, able to move in page-server mode when
 * `annotated`; its counter once it counts. */
static uint64_t start_memhog(const char *name, unsigned mib, bool annotated)
{
	char extra[256];
	uint64_t last = 0;
	snprintf(extra, sizeof extra, ",\"command\":[\"%u\"]%s%s%s%s", mib,
	         annotated ? ",\"annotations\":{\"org.criu.config\":\"" : "",
	         annotated ? CRIU_CONFIG_DIR "/" : "", annotated ? name : "",
	         annotated ? ".conf\"}" : "");
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
	usleep(500 * 1000);
	assert_int_equal(migrate_fixture_counter_check(cluster, owner, name, last, &later), 0);
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

static void test_moves_and_back(void **state)
{
	uint64_t before = start_memhog("ps-hog", 64, true);
	assert_int_equal(migrate_fixture_cli(podmig, NULL, "migrate", "ps-hog", "--to", "node2",
	                                     "--mode", "page-server", NULL),
	                 0);
	json_t *rec = record_of("ps-hog");
	assert_string_equal(field(rec, "phase"), "done");
	assert_string_equal(field(rec, "mode"), "page-server");
	/* the pages count: well over the 64 MiB */
	assert_true(json_integer_value(json_object_get(rec, "bytes")) > 64ll << 20);
	json_decref(rec);
	before = check_runs_on("ps-hog", "node2", "node1", before);

	/* back with auto: the annotation makes it page-server, and says so */
	assert_int_equal(migrate_fixture_wait_published(podmig, "node2", "ps-hog", 20000), 0);
	assert_int_equal(migrate_fixture_cli(podmig, NULL, "migrate", "ps-hog", "--to", "node1",
	                                     "--mode", "auto", NULL),
	                 0);
	rec = record_of("ps-hog");
	assert_string_equal(field(rec, "phase"), "done");
	assert_string_equal(field(rec, "mode"), "page-server");
	assert_true(startswith(field(rec, "mode_reason"), "auto: page-server"));
	json_decref(rec);
	check_runs_on("ps-hog", "node1", "node2", before);

	/* history shows the mode */
	char *out = NULL;
	assert_int_equal(migrate_fixture_cli(podmig, &out, "history", NULL), 0);
	assert_non_null(strstr(out, "page-server"));
	free(out);
}

static void test_fallback_without_annotation(void **state)
{
	uint64_t before = start_memhog("ps-plain", 16, false);
	assert_int_equal(migrate_fixture_cli(podmig, NULL, "migrate", "ps-plain", "--to", "node2",
	                                     "--mode", "page-server", NULL),
	                 0);
	json_t *rec = record_of("ps-plain");
	assert_string_equal(field(rec, "phase"), "done");
	assert_string_equal(field(rec, "mode"), "stop-and-copy");
	assert_non_null(strstr(field(rec, "mode_reason"), "org.criu.config"));
	json_decref(rec);
	check_runs_on("ps-plain", "node2", "node1", before);
}

/* Whether node's pages directory holds the recording of migration id. */
static bool recording_exists(const char *node, const char *id)
{
	char path[4096];
	struct stat st;
	snprintf(path, sizeof path, "%s/%s.stream", cluster_fixture_pages_dir(cluster, node), id);
	return lstat(path, &st) == 0;
}

/* Every page went to the target, then its restore fails: the source gets
 * its pages back from what its relay recorded and restores them. */
static void test_rollback_replays_pages(void **state)
{
	uint64_t before = start_memhog("ps-back", 64, true);
	assert_int_equal(migrate_fixture_fault_arm(cluster, "node2", "target-restoring", "fail"),
	                 0);
	char *out = NULL;
	assert_int_not_equal(migrate_fixture_cli(podmig, &out, "migrate", "ps-back", "--to",
	                                         "node2", "--mode", "page-server", NULL),
	                     0);
	free(out);
	migrate_fixture_fault_disarm(cluster, "node2", "target-restoring");
	json_t *rec = record_of("ps-back");
	assert_string_equal(field(rec, "phase"), "rolled-back");
	assert_string_equal(field(rec, "mode"), "page-server");
	assert_non_null(strstr(field(rec, "error"), "target-restoring"));
	assert_false(recording_exists("node1", field(rec, "id")));
	json_decref(rec);
	check_runs_on("ps-back", "node1", "node2", before);
}

/* The same, but the source's restore fails too ("rollback failed"): the
 * migration is settled all the same, and the recording (the container's
 * memory, on a tmpfs) does not stay behind. */
static void test_rollback_fails_drops_pages(void **state)
{
	(void)start_memhog("ps-lost", 64, true);
	assert_int_equal(migrate_fixture_fault_arm(cluster, "node2", "target-restoring", "fail"),
	                 0);
	assert_int_equal(migrate_fixture_fault_arm(cluster, "node1", "source-restore", "fail"), 0);
	char *out = NULL;
	assert_int_not_equal(migrate_fixture_cli(podmig, &out, "migrate", "ps-lost", "--to",
	                                         "node2", "--mode", "page-server", NULL),
	                     0);
	free(out);
	json_t *rec = record_of("ps-lost");
	assert_string_equal(field(rec, "phase"), "rolled-back");
	assert_string_equal(field(rec, "mode"), "page-server");
	assert_false(recording_exists("node1", field(rec, "id")));
	json_decref(rec);
	/* nothing runs it: its restore was the one that failed */
	assert_int_not_equal(migrate_fixture_container_state(cluster, "node1", "ps-lost"), 1);
	assert_int_equal(migrate_fixture_container_state(cluster, "node2", "ps-lost"), -ENOENT);
}

static void test_bad_mode(void **state)
{
	char *out = NULL;
	assert_int_equal(migrate_fixture_cli(podmig, &out, "migrate", "ps-hog", "--to", "node2",
	                                     "--mode", "lazy", NULL),
	                 2);
	assert_non_null(strstr(out, "unknown mode"));
	free(out);
	assert_int_equal(migrate_fixture_container_state(cluster, "node1", "ps-hog"), 1);
}

int main(int argc, char *argv[])
{
	if (argc != 2) {
		fprintf(stderr, "usage: test-page-server PODMIG\n");
		return 2;
	}
	podmig = argv[1];
	setvbuf(stdout, NULL, _IOLBF, 0);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_moves_and_back, case_teardown),
		cmocka_unit_test_teardown(test_fallback_without_annotation, case_teardown),
		cmocka_unit_test_teardown(test_rollback_replays_pages, case_teardown),
		cmocka_unit_test_teardown(test_rollback_fails_drops_pages, case_teardown),
		cmocka_unit_test_teardown(test_bad_mode, case_teardown),
	};
	if (getenv("PODMIG_TEST_FILTER"))
		cmocka_set_test_filter(getenv("PODMIG_TEST_FILTER"));
	return cmocka_run_group_tests(tests, setup, teardown);
}
