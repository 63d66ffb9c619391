/* Tests of migration records: phase rules, strict JSON, and compare-and-swap
 * storage in a real etcd (two parties racing on one record, the
 * one-migration-per-container lock). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "etcd-fixture.h"
#include "migration-record.h"

#define PREFIX "/t/podmig/"
#define NOW    1795730000000ULL

static EtcdFixture *etcd;
static EtcdClient *client;

static int setup(void **state)
{
	rpc_global_init();
	if (etcd_fixture_start(&etcd) < 0)
		return -1;
	EtcdOptions o = { .rpc.plaintext = true };
	return etcd_client_new(etcd->endpoint, &o, &client) < 0 ? -1 : 0;
}

static int teardown(void **state)
{
	client = etcd_client_free(client);
	etcd = etcd_fixture_free(etcd);
	rpc_global_shutdown();
	return 0;
}

static void test_phase_rules(void **state)
{
	assert_true(migration_phase_can_advance(MIGRATION_PLANNED, MIGRATION_CHECKPOINTING));
	assert_true(migration_phase_can_advance(MIGRATION_CHECKPOINTING, MIGRATION_TRANSFERRING));
	assert_true(migration_phase_can_advance(MIGRATION_TRANSFERRING, MIGRATION_RESTORING));
	assert_true(migration_phase_can_advance(MIGRATION_RESTORING, MIGRATION_DONE));
	/* no skipping, no going back */
	assert_false(migration_phase_can_advance(MIGRATION_PLANNED, MIGRATION_TRANSFERRING));
	assert_false(migration_phase_can_advance(MIGRATION_CHECKPOINTING, MIGRATION_DONE));
	assert_false(migration_phase_can_advance(MIGRATION_RESTORING, MIGRATION_TRANSFERRING));
	/* rollback only once the container was stopped; failure from anywhere */
	assert_false(migration_phase_can_advance(MIGRATION_PLANNED, MIGRATION_ROLLED_BACK));
	assert_true(migration_phase_can_advance(MIGRATION_RESTORING, MIGRATION_ROLLED_BACK));
	assert_true(migration_phase_can_advance(MIGRATION_PLANNED, MIGRATION_FAILED));
	/* final is final */
	for (int to = 0; to < _MIGRATION_PHASE_MAX; to++) {
		assert_false(migration_phase_can_advance(MIGRATION_DONE, to));
		assert_false(migration_phase_can_advance(MIGRATION_ROLLED_BACK, to));
		assert_false(migration_phase_can_advance(MIGRATION_FAILED, to));
	}
	assert_false(migration_phase_can_advance(MIGRATION_PLANNED, 99));
	assert_int_equal(migration_phase_from_string("rolled-back"), MIGRATION_ROLLED_BACK);
	assert_int_equal(migration_phase_from_string("Done"), -EINVAL);
}

static void test_names(void **state)
{
	assert_true(migration_name_valid("node1"));
	assert_true(migration_name_valid("my_app.v2-x"));
	assert_false(migration_name_valid(""));
	assert_false(migration_name_valid(NULL));
	assert_false(migration_name_valid("-x"));
	assert_false(migration_name_valid("a/b"));
	assert_false(migration_name_valid("../etc"));
	assert_false(migration_name_valid("a b"));
	char long_name[300];
	memset(long_name, 'a', sizeof long_name - 1);
	long_name[sizeof long_name - 1] = '\0';
	assert_false(migration_name_valid(long_name));

	MigrationRecord rec;
	assert_int_equal(
	        migration_record_init(&rec, "a/b", "node1", "node2", MIGRATION_REASON_MANUAL, NOW),
	        -EINVAL);
	assert_int_equal(migration_record_init(&rec, "c", "node1", "node2", 7, NOW), -EINVAL);
}

static void test_json_roundtrip(void **state)
{
	MigrationRecord rec, back;
	char *json = NULL;

	assert_int_equal(migration_record_init(&rec, "counter", "node1", "node2",
	                                       MIGRATION_REASON_DRAIN, NOW),
	                 0);
	assert_int_equal(strncmp(rec.id, "m-1795730000000-", 16), 0);
	rec.phase = MIGRATION_ROLLED_BACK;
	rec.phase_time_ms[MIGRATION_CHECKPOINTING] = NOW + 5;
	rec.phase_time_ms[MIGRATION_ROLLED_BACK] = NOW + 900;
	rec.bytes = 123456789012ULL;
	rec.downtime_ms = 740;
	rec.error = strdup("checksum mismatch: \"quoted\"");
	assert_int_equal(migration_record_to_json(&rec, &json), 0);
	assert_non_null(strstr(json, "\"phase\":\"rolled-back\""));
	assert_non_null(strstr(json, "\"reason\":\"drain\""));
	/* no decision: the key is absent, not null */
	assert_null(strstr(json, "decision"));
	free(json);
	snprintf(rec.decision, sizeof rec.decision, "d-1795730000000-0a1b2c3d");
	assert_int_equal(migration_record_to_json(&rec, &json), 0);

	assert_int_equal(migration_record_from_json(json, strlen(json), &back), 0);
	assert_string_equal(back.decision, "d-1795730000000-0a1b2c3d");
	assert_string_equal(back.id, rec.id);
	assert_string_equal(back.container, "counter");
	assert_string_equal(back.target, "node2");
	assert_null(back.image);
	assert_string_equal(back.error, rec.error);
	assert_int_equal(back.phase, MIGRATION_ROLLED_BACK);
	assert_int_equal(back.reason, MIGRATION_REASON_DRAIN);
	assert_int_equal(back.bytes, rec.bytes);
	assert_int_equal(back.downtime_ms, 740);
	assert_int_equal(back.phase_time_ms[MIGRATION_CHECKPOINTING], NOW + 5);
	assert_int_equal(back.phase_time_ms[MIGRATION_TRANSFERRING], 0);
	free(json);
	migration_record_done(&rec);
	migration_record_done(&back);
}

static void test_json_rejects(void **state)
{
	static const char *const bad[] = {
		"",
		"not json",
		"[]",
		"{}",
		/* unknown phase */
		"{\"id\":\"m-1\",\"container\":\"c\",\"source\":\"a\",\"target\":\"b\","
		"\"reason\":\"manual\",\"mode\":\"stop-and-copy\",\"phase\":\"flying\","
		"\"phase_times_ms\":{},\"bytes\":0,\"downtime_ms\":0}",
		/* path in a name */
		"{\"id\":\"m-1\",\"container\":\"../c\",\"source\":\"a\",\"target\":\"b\","
		"\"reason\":\"manual\",\"mode\":\"stop-and-copy\",\"phase\":\"done\","
		"\"phase_times_ms\":{},\"bytes\":0,\"downtime_ms\":0}",
		/* negative bytes */
		"{\"id\":\"m-1\",\"container\":\"c\",\"source\":\"a\",\"target\":\"b\","
		"\"reason\":\"manual\",\"mode\":\"stop-and-copy\",\"phase\":\"done\","
		"\"phase_times_ms\":{},\"bytes\":-1,\"downtime_ms\":0}",
		/* wrong type of a phase time */
		"{\"id\":\"m-1\",\"container\":\"c\",\"source\":\"a\",\"target\":\"b\","
		"\"reason\":\"manual\",\"mode\":\"stop-and-copy\",\"phase\":\"done\","
		"\"phase_times_ms\":{\"done\":\"soon\"},\"bytes\":0,\"downtime_ms\":0}",
		/* error of the wrong type */
		"{\"id\":\"m-1\",\"container\":\"c\",\"source\":\"a\",\"target\":\"b\","
		"\"reason\":\"manual\",\"mode\":\"stop-and-copy\",\"phase\":\"done\","
		"\"phase_times_ms\":{},\"bytes\":0,\"downtime_ms\":0,\"error\":5}",
		/* a decision id that is a path */
		"{\"id\":\"m-1\",\"container\":\"c\",\"source\":\"a\",\"target\":\"b\","
		"\"reason\":\"manual\",\"mode\":\"stop-and-copy\",\"phase\":\"done\","
		"\"phase_times_ms\":{},\"bytes\":0,\"downtime_ms\":0,\"decision\":\"../d\"}",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		MigrationRecord rec = { .bytes = 42 };
		assert_int_equal(migration_record_from_json(bad[i], strlen(bad[i]), &rec),
		                 -EBADMSG);
		assert_int_equal(rec.bytes, 42); /* untouched */
	}
}

static void test_create_lock_and_cas(void **state)
{
	MigrationRecord a, b, a2;
	char *holder = NULL;

	assert_int_equal(
	        migration_record_init(&a, "web", "node1", "node2", MIGRATION_REASON_MANUAL, NOW),
	        0);
	assert_int_equal(migration_record_create(client, PREFIX, &a, NULL), 0);
	assert_true(a.mod_revision > 0);

	/* A second migration of the same container is refused, naming the first. */
	assert_int_equal(migration_record_init(&b, "web", "node1", "node3", MIGRATION_REASON_MANUAL,
	                                       NOW + 1),
	                 0);
	assert_int_equal(migration_record_create(client, PREFIX, &b, &holder), -EBUSY);
	assert_string_equal(holder, a.id);
	free(holder);

	/* Two parties read the same record; only the first to write wins. */
	assert_int_equal(migration_record_load(client, PREFIX, a.id, &a2), 0);
	assert_int_equal(a2.mod_revision, a.mod_revision);
	assert_int_equal(migration_record_advance(client, PREFIX, &a, MIGRATION_CHECKPOINTING, NULL,
	                                          NOW + 2),
	                 0);
	assert_int_equal(migration_record_advance(client, PREFIX, &a2, MIGRATION_FAILED, "too late",
	                                          NOW + 3),
	                 ETCD_CAS_FAILED);
	assert_int_equal(a2.phase, MIGRATION_PLANNED); /* untouched */
	migration_record_done(&a2);

	/* The rules hold in etcd too. */
	assert_int_equal(
	        migration_record_advance(client, PREFIX, &a, MIGRATION_DONE, NULL, NOW + 4),
	        -EINVAL);
	a.bytes = 4096;
	assert_int_equal(migration_record_update(client, PREFIX, &a), 0);
	assert_int_equal(migration_record_advance(client, PREFIX, &a, MIGRATION_ROLLED_BACK,
	                                          "target refused", NOW + 5),
	                 0);

	/* Final: the lock is gone and the container may move again. */
	assert_int_equal(migration_record_create(client, PREFIX, &b, NULL), 0);
	MigrationRecord *all = NULL;
	size_t n = 0;
	assert_int_equal(migration_record_list(client, PREFIX, &all, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(all[0].id, a.id); /* oldest first */
	assert_int_equal(all[0].phase, MIGRATION_ROLLED_BACK);
	assert_string_equal(all[0].error, "target refused");
	assert_int_equal(all[0].bytes, 4096);
	assert_int_equal(all[0].phase_time_ms[MIGRATION_CHECKPOINTING], NOW + 2);
	assert_string_equal(all[1].id, b.id);
	migration_records_free(all, n);

	assert_int_equal(migration_record_load(client, PREFIX, "m-0-none", &a2), ETCD_NOT_FOUND);
	assert_int_equal(migration_record_load(client, PREFIX, "../x", &a2), -EINVAL);
	migration_record_done(&a);
	migration_record_done(&b);
}

int main(void)
{
	etcd_fixture_require();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_phase_rules),         cmocka_unit_test(test_names),
		cmocka_unit_test(test_json_roundtrip),      cmocka_unit_test(test_json_rejects),
		cmocka_unit_test(test_create_lock_and_cas),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
