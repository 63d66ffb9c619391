/* Tests of migration records in a real etcd: compare-and-swap (two parties
 * racing on one record), the one-migration-per-container lock, listing. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "etcd-fixture.h"
#include "migration-store.h"

#define PREFIX "/t/podmig/"
#define NOW    1795730000000ULL

static EtcdFixture *etcd;
static EtcdClient *client;

static int setup(void **state)
{
	return etcd_fixture_setup_client(&etcd, &client) < 0 ? -1 : 0;
}

static int teardown(void **state)
{
	etcd_fixture_teardown_client(&etcd, &client);
	return 0;
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
	migration_record_clear(&a2);

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
	migration_record_clear(&a);
	migration_record_clear(&b);
}

int main(void)
{
	etcd_fixture_require();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_create_lock_and_cas),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
