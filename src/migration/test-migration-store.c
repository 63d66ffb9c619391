/* Tests of migration records in a real etcd: compare-and-swap (two parties
 * racing on one record), the one-migration-per-container lock, listing; and
 * of migration orders: issued under a lease, once, and what a target's
 * verification refuses. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
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

static void test_orders(void **state)
{
	MigrationOrder o, back;
	MigrationRecord rec;
	char why[640] = "";

	assert_int_equal(migration_order_init(&o, "web", "node1", "node2", MIGRATION_REASON_MANUAL,
	                                      NULL, false, MODE_REQUEST_AUTO, "podmig migrate",
	                                      NOW),
	                 0);
	assert_int_equal(migration_order_issue(client, PREFIX, &o, 60), 0);
	assert_true(o.lease != 0);
	/* an order is issued once */
	assert_int_equal(migration_order_issue(client, PREFIX, &o, 60), -EEXIST);
	assert_int_equal(migration_order_load(client, PREFIX, o.id, &back, why, sizeof why), 0);
	assert_string_equal(back.container, "web");
	assert_int_equal(back.lease, o.lease);

	/* the record it started passes; one it did not start does not */
	assert_int_equal(
	        migration_record_init(&rec, "web", "node1", "node2", MIGRATION_REASON_MANUAL, NOW),
	        0);
	assert_int_equal(migration_order_verify(client, PREFIX, &rec, why, sizeof why), -EPERM);
	printf("a record without an order: %s\n", why);
	assert_non_null(strstr(why, "no migration order m-"));
	assert_non_null(strstr(why, PREFIX "orders/m-"));
	snprintf(rec.id, sizeof rec.id, "%s", o.id);
	assert_int_equal(migration_order_verify(client, PREFIX, &rec, why, sizeof why), 0);
	free(rec.source);
	rec.source = strdup("node3");
	assert_int_equal(migration_order_verify(client, PREFIX, &rec, why, sizeof why), -EPERM);
	assert_non_null(strstr(why, "it names source node node1, the record node3"));
	migration_record_clear(&rec);

	/* an order without a lease (it would outlive its use) and a malformed
	 * one are no orders */
	char key[128];
	MigrationOrder bare;
	assert_int_equal(migration_order_init(&bare, "web", "node1", "node2",
	                                      MIGRATION_REASON_MANUAL, NULL, false,
	                                      MODE_REQUEST_AUTO, "podmig migrate", NOW),
	                 0);
	char *json = NULL;
	assert_int_equal(migration_order_to_json(&bare, &json), 0);
	snprintf(key, sizeof key, PREFIX "orders/%s", bare.id);
	assert_int_equal(etcd_put(client, key, json, strlen(json), 0, NULL), 0);
	free(json);
	assert_int_equal(migration_order_load(client, PREFIX, bare.id, &back, why, sizeof why),
	                 -EPERM);
	assert_non_null(strstr(why, "holds no lease"));
	assert_int_equal(etcd_put(client, key, "{}", 2, 0, NULL), 0);
	assert_int_equal(migration_order_load(client, PREFIX, bare.id, &back, why, sizeof why),
	                 -EPERM);
	assert_non_null(strstr(why, "malformed"));
	assert_int_equal(migration_order_load(client, PREFIX, "../x", &back, why, sizeof why),
	                 -EPERM);

	/* the lease ends the order */
	assert_int_equal(etcd_lease_revoke_id(client, o.lease), 0);
	assert_int_equal(migration_order_load(client, PREFIX, o.id, &back, why, sizeof why),
	                 -EPERM);
	assert_non_null(strstr(why, "no migration order"));
}

int main(void)
{
	etcd_fixture_require();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_create_lock_and_cas),
		cmocka_unit_test(test_orders),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
