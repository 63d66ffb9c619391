/* What a migration may carry to another node, on a 2-node local cluster
 * with real Podman, CRIU, etcd and agents, driven by `podmig migrate`:
 *
 *  - a container started with a host bind mount (-v HOSTDIR:/host) outside
 *    the target's restore policy is refused by the target with a readable
 *    reason, which reaches the CLI and the record (rolled-back), and keeps
 *    running on the source, its counter continuing;
 *  - a container labelled podmig.migrate=false is refused by its agent
 *    (nothing stops, no record) unless the operator says --force, which
 *    moves it and is recorded as forced.
 *
 * argv[1]: the podmig CLI. */
#include <errno.h>
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

#include "migrate-fixture.h"
#include "strutil.h"

static ClusterFixture *cluster;
static const char *podmig;
static char hostdir[] = "/tmp/podmig-test-hostdir-XXXXXX";

static int setup(void **state)
{
	if (!mkdtemp(hostdir) || cluster_fixture_up(2, &cluster) < 0)
		return -1;
	setenv("PODMIG_ETCD_ENDPOINTS", cluster_fixture_env(cluster, "PODMIG_ETCD_ENDPOINTS"), 1);
	return 0;
}

static int teardown(void **state)
{
	cluster_fixture_down(cluster);
	cluster = NULL;
	rmdir(hostdir);
	return 0;
}

/* 1 running, 0 stopped, -1 absent. */
static int container_state(const char *node, const char *name)
{
	int state = migrate_fixture_container_state(cluster, node, name);
	assert_true(state >= 0 || state == -ENOENT);
	return state == -ENOENT ? -1 : state;
}

static uint64_t counter_last(const char *node, const char *name)
{
	uint64_t last = 0;
	assert_int_equal(migrate_fixture_counter_check(cluster, node, name, 0, &last), 0);
	return last;
}

static void test_host_bind_mount_refused(void **state)
{
	char extra[256];
	snprintf(extra, sizeof extra,
	         ",\"mounts\":[{\"destination\":\"/host\",\"source\":\"%s\",\"type\":\"bind\","
	         "\"options\":[\"rbind\"]}]",
	         hostdir);
	assert_int_equal(migrate_fixture_start_container(cluster, podmig, "node1", "hostbind",
	                                                 "localhost/podmig/counter", extra),
	                 0);
	sleep(1);
	uint64_t before = counter_last("node1", "hostbind");

	char *out = NULL;
	assert_int_not_equal(
	        migrate_fixture_cli(podmig, &out, "migrate", "hostbind", "--to", "node2", NULL), 0);
	/* The CLI says who refused and why. */
	if (!strstr(out, "restore policy") || !strstr(out, hostdir))
		fail_msg("the refusal does not say why: %s", out);
	free(out);

	json_t *rec = migrate_fixture_last_record(podmig, "hostbind");
	assert_non_null(rec);
	assert_string_equal(migrate_fixture_record_phase(rec), "rolled-back");
	const char *error = migrate_fixture_record_error(rec);
	if (!error || !strstr(error, "host bind mount") || !strstr(error, "/host"))
		fail_msg("the record's reason: %s", error ?: "(none)");
	json_decref(rec);

	/* Still on node1 (and only there), counting on from its state. */
	assert_int_equal(container_state("node1", "hostbind"), 1);
	assert_int_equal(container_state("node2", "hostbind"), -1);
	sleep(1);
	uint64_t after = 0;
	assert_int_equal(
	        migrate_fixture_counter_check(cluster, "node1", "hostbind", before, &after), 0);
	assert_true(after > before);
}

static void test_opt_out_label(void **state)
{
	assert_int_equal(migrate_fixture_start_container(
	                         cluster, podmig, "node1", "pinned", "localhost/podmig/counter",
	                         ",\"labels\":{\"podmig.migrate\":\"false\"}"),
	                 0);
	char *out = NULL;
	assert_int_not_equal(
	        migrate_fixture_cli(podmig, &out, "migrate", "pinned", "--to", "node2", NULL), 0);
	if (!strstr(out, "podmig.migrate=false") || !strstr(out, "--force"))
		fail_msg("the refusal does not say why: %s", out);
	free(out);
	/* Refused before anything began: no record, still running where it was. */
	json_t *rec = migrate_fixture_last_record(podmig, "pinned");
	assert_null(rec);
	assert_int_equal(container_state("node1", "pinned"), 1);
	assert_int_equal(container_state("node2", "pinned"), -1);

	/* An operator's --force moves it, and the record says so. */
	uint64_t before = counter_last("node1", "pinned");
	assert_int_equal(migrate_fixture_cli(podmig, &out, "migrate", "pinned", "--to", "node2",
	                                     "--force", NULL),
	                 0);
	assert_non_null(strstr(out, "forced"));
	free(out);
	assert_int_equal(container_state("node2", "pinned"), 1);
	assert_int_equal(container_state("node1", "pinned"), -1);
	rec = migrate_fixture_last_record(podmig, "pinned");
	assert_non_null(rec);
	assert_string_equal(migrate_fixture_record_phase(rec), "done");
	assert_true(json_is_true(json_object_get(rec, "forced")));
	json_decref(rec);
	sleep(1);
	uint64_t after = 0;
	assert_int_equal(migrate_fixture_counter_check(cluster, "node2", "pinned", before, &after),
	                 0);
}

int main(int argc, char *argv[])
{
	if (argc != 2) {
		fprintf(stderr, "usage: test-untrusted PODMIG\n");
		return 2;
	}
	podmig = argv[1];
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_host_bind_mount_refused),
		cmocka_unit_test(test_opt_out_label),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
