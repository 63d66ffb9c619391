/* Tests of migration orders without etcd: the strict JSON, and how a source
 * compares a Migrate request and a target a record with the order. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "migration-order.h"

#define NOW 1795730000000ULL

static MigrationOrder order_new(void)
{
	MigrationOrder o;
	assert_int_equal(
	        migration_order_init(&o, "web", "node1", "node2", MIGRATION_REASON_AUTOMATIC,
	                             "d-1795730000000-0a1b2c3d", false, MODE_REQUEST_PAGE_SERVER,
	                             "podmig-scheduler scheduler1", NOW),
	        0);
	return o;
}

static void test_init_and_json(void **state)
{
	MigrationOrder o = order_new(), back;
	char *json = NULL;

	assert_true(migration_id_valid(o.id));
	assert_non_null(strstr(o.id, "m-1795730000000-"));
	assert_int_equal(migration_order_to_json(&o, &json), 0);
	assert_int_equal(migration_order_from_json(json, strlen(json), &back), 0);
	assert_string_equal(back.id, o.id);
	assert_string_equal(back.container, "web");
	assert_string_equal(back.source, "node1");
	assert_string_equal(back.target, "node2");
	assert_int_equal(back.reason, MIGRATION_REASON_AUTOMATIC);
	assert_string_equal(back.decision, "d-1795730000000-0a1b2c3d");
	assert_false(back.force);
	assert_int_equal(back.mode, MODE_REQUEST_PAGE_SERVER);
	assert_string_equal(back.by, "podmig-scheduler scheduler1");
	assert_int_equal(back.created_ms, NOW);
	assert_int_equal(back.lease, 0);
	free(json);

	/* a manual one: no decision (null), forced */
	assert_int_equal(migration_order_init(&o, "web", "node1", "node2", MIGRATION_REASON_MANUAL,
	                                      NULL, true, MODE_REQUEST_AUTO, "podmig migrate", NOW),
	                 0);
	assert_int_equal(migration_order_to_json(&o, &json), 0);
	assert_non_null(strstr(json, "\"decision\":null"));
	assert_int_equal(migration_order_from_json(json, strlen(json), &back), 0);
	assert_string_equal(back.decision, "");
	assert_true(back.force);
	assert_int_equal(back.mode, MODE_REQUEST_AUTO);
	free(json);

	/* what init refuses */
	const char *by = "podmig migrate";
	assert_int_equal(migration_order_init(&o, "../web", "node1", "node2",
	                                      MIGRATION_REASON_MANUAL, NULL, false,
	                                      MODE_REQUEST_AUTO, by, NOW),
	                 -EINVAL);
	assert_int_equal(migration_order_init(&o, "web", "node1", "node1", MIGRATION_REASON_MANUAL,
	                                      NULL, false, MODE_REQUEST_AUTO, by, NOW),
	                 -EINVAL);
	assert_int_equal(migration_order_init(&o, "web", "node1", "node2", MIGRATION_REASON_MANUAL,
	                                      "d/1", false, MODE_REQUEST_AUTO, by, NOW),
	                 -EINVAL);
	assert_int_equal(migration_order_init(&o, "web", "node1", "node2", MIGRATION_REASON_MANUAL,
	                                      NULL, false, MODE_REQUEST_AUTO, "a\033[2Jb", NOW),
	                 -EINVAL);
	assert_int_equal(migration_order_init(&o, "web", "node1", "node2", MIGRATION_REASON_MANUAL,
	                                      NULL, false, MODE_REQUEST_AUTO, "", NOW),
	                 -EINVAL);
	assert_int_equal(migration_order_init(&o, "web", "node1", "node2", MIGRATION_REASON_MANUAL,
	                                      NULL, false, _MODE_REQUEST_MAX, by, NOW),
	                 -EINVAL);
}

static void test_json_strict(void **state)
{
	static const char *const bad[] = {
		"",
		"[]",
		/* a field missing */
		"{\"id\":\"m-1-a\",\"container\":\"web\",\"source\":\"node1\",\"target\":\"node2\","
		"\"reason\":\"manual\",\"decision\":null,\"force\":false,\"mode\":\"auto\","
		"\"by\":\"x\"}",
		/* an unknown field */
		"{\"id\":\"m-1-a\",\"container\":\"web\",\"source\":\"node1\",\"target\":\"node2\","
		"\"reason\":\"manual\",\"decision\":null,\"force\":false,\"mode\":\"auto\","
		"\"by\":\"x\",\"created_ms\":1,\"image\":\"evil\"}",
		/* a path for a container */
		"{\"id\":\"m-1-a\",\"container\":\"../"
		"web\",\"source\":\"node1\",\"target\":\"node2\","
		"\"reason\":\"manual\",\"decision\":null,\"force\":false,\"mode\":\"auto\","
		"\"by\":\"x\",\"created_ms\":1}",
		/* an unknown reason, mode; an empty mode */
		"{\"id\":\"m-1-a\",\"container\":\"web\",\"source\":\"node1\",\"target\":\"node2\","
		"\"reason\":\"whim\",\"decision\":null,\"force\":false,\"mode\":\"auto\","
		"\"by\":\"x\",\"created_ms\":1}",
		"{\"id\":\"m-1-a\",\"container\":\"web\",\"source\":\"node1\",\"target\":\"node2\","
		"\"reason\":\"manual\",\"decision\":null,\"force\":false,\"mode\":\"teleport\","
		"\"by\":\"x\",\"created_ms\":1}",
		"{\"id\":\"m-1-a\",\"container\":\"web\",\"source\":\"node1\",\"target\":\"node2\","
		"\"reason\":\"manual\",\"decision\":null,\"force\":false,\"mode\":\"\","
		"\"by\":\"x\",\"created_ms\":1}",
		/* force as a string, an empty decision, a decision of another type */
		"{\"id\":\"m-1-a\",\"container\":\"web\",\"source\":\"node1\",\"target\":\"node2\","
		"\"reason\":\"manual\",\"decision\":null,\"force\":\"yes\",\"mode\":\"auto\","
		"\"by\":\"x\",\"created_ms\":1}",
		"{\"id\":\"m-1-a\",\"container\":\"web\",\"source\":\"node1\",\"target\":\"node2\","
		"\"reason\":\"manual\",\"decision\":\"\",\"force\":false,\"mode\":\"auto\","
		"\"by\":\"x\",\"created_ms\":1}",
		"{\"id\":\"m-1-a\",\"container\":\"web\",\"source\":\"node1\",\"target\":\"node2\","
		"\"reason\":\"manual\",\"decision\":7,\"force\":false,\"mode\":\"auto\","
		"\"by\":\"x\",\"created_ms\":1}",
		/* the same node on both ends, a time of 0, a duplicate key */
		"{\"id\":\"m-1-a\",\"container\":\"web\",\"source\":\"node1\",\"target\":\"node1\","
		"\"reason\":\"manual\",\"decision\":null,\"force\":false,\"mode\":\"auto\","
		"\"by\":\"x\",\"created_ms\":1}",
		"{\"id\":\"m-1-a\",\"container\":\"web\",\"source\":\"node1\",\"target\":\"node2\","
		"\"reason\":\"manual\",\"decision\":null,\"force\":false,\"mode\":\"auto\","
		"\"by\":\"x\",\"created_ms\":0}",
		"{\"id\":\"m-1-a\",\"container\":\"web\",\"source\":\"node1\",\"target\":\"node2\","
		"\"reason\":\"manual\",\"decision\":null,\"force\":false,\"mode\":\"auto\","
		"\"by\":\"x\",\"created_ms\":1,\"target\":\"node3\"}",
	};
	MigrationOrder o = order_new(), before = o;
	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		print_message("bad[%zu]\n", i);
		assert_int_equal(migration_order_from_json(bad[i], strlen(bad[i]), &o), -EBADMSG);
		assert_memory_equal(&o, &before, sizeof o); /* untouched */
	}
	const char *good =
	        "{\"id\":\"m-1-a\",\"container\":\"web\",\"source\":\"node1\",\"target\":\"node2\","
	        "\"reason\":\"drain\",\"decision\":null,\"force\":false,\"mode\":\"pre-copy\","
	        "\"by\":\"x\",\"created_ms\":1}";
	assert_int_equal(migration_order_from_json(good, strlen(good), &o), 0);
	assert_int_equal(o.reason, MIGRATION_REASON_DRAIN);
	assert_int_equal(o.mode, MODE_REQUEST_PRE_COPY);
}

static void test_matches_request(void **state)
{
	MigrationOrder o = order_new();
	const char *d = "d-1795730000000-0a1b2c3d";
	char why[256] = "";

	assert_true(migration_order_matches_request(&o, "node1", "web", "node2",
	                                            MIGRATION_REASON_AUTOMATIC, d, false,
	                                            MODE_REQUEST_PAGE_SERVER, why, sizeof why));
	/* asked of another node than the order's source */
	assert_false(migration_order_matches_request(&o, "node3", "web", "node2",
	                                             MIGRATION_REASON_AUTOMATIC, d, false,
	                                             MODE_REQUEST_PAGE_SERVER, why, sizeof why));
	assert_string_equal(why, "it names source node node1, this is node node3");
	assert_false(migration_order_matches_request(&o, "node1", "db", "node2",
	                                             MIGRATION_REASON_AUTOMATIC, d, false,
	                                             MODE_REQUEST_PAGE_SERVER, why, sizeof why));
	assert_string_equal(why, "it names container web, the request db");
	assert_false(migration_order_matches_request(&o, "node1", "web", "node3",
	                                             MIGRATION_REASON_AUTOMATIC, d, false,
	                                             MODE_REQUEST_PAGE_SERVER, why, sizeof why));
	assert_string_equal(why, "it names target node node2, the request node3");
	assert_false(migration_order_matches_request(&o, "node1", "web", "node2",
	                                             MIGRATION_REASON_MANUAL, d, false,
	                                             MODE_REQUEST_PAGE_SERVER, why, sizeof why));
	assert_false(migration_order_matches_request(&o, "node1", "web", "node2",
	                                             MIGRATION_REASON_AUTOMATIC, "", false,
	                                             MODE_REQUEST_PAGE_SERVER, why, sizeof why));
	assert_string_equal(why, "it names decision d-1795730000000-0a1b2c3d, the request (none)");
	assert_false(migration_order_matches_request(&o, "node1", "web", "node2",
	                                             MIGRATION_REASON_AUTOMATIC, d, false,
	                                             MODE_REQUEST_AUTO, why, sizeof why));
	/* force is an operator's word: an order without it does not grant it */
	assert_false(migration_order_matches_request(&o, "node1", "web", "node2",
	                                             MIGRATION_REASON_AUTOMATIC, d, true,
	                                             MODE_REQUEST_PAGE_SERVER, why, sizeof why));
	assert_string_equal(why, "it names force no, the request yes");
}

static void test_matches_record(void **state)
{
	MigrationOrder o = order_new();
	MigrationRecord rec = {};
	char why[256] = "";

	assert_int_equal(migration_record_init(&rec, "web", "node1", "node2",
	                                       MIGRATION_REASON_AUTOMATIC, NOW),
	                 0);
	/* a record of another id: not this order's */
	assert_false(migration_order_matches_record(&o, &rec, why, sizeof why));
	assert_non_null(strstr(why, "it names migration m-"));
	snprintf(rec.id, sizeof rec.id, "%s", o.id);
	assert_true(migration_order_matches_record(&o, &rec, why, sizeof why));

	/* a record that names the order's id but another source: a node that
	 * made the record up naming itself */
	free(rec.source);
	rec.source = strdup("node3");
	assert_false(migration_order_matches_record(&o, &rec, why, sizeof why));
	assert_string_equal(why, "it names source node node1, the record node3");
	free(rec.source);
	rec.source = strdup("node1");
	free(rec.target);
	rec.target = strdup("node3");
	assert_false(migration_order_matches_record(&o, &rec, why, sizeof why));
	assert_string_equal(why, "it names target node node2, the record node3");
	free(rec.target);
	rec.target = strdup("node2");
	free(rec.container);
	rec.container = strdup("db");
	assert_false(migration_order_matches_record(&o, &rec, why, sizeof why));
	assert_string_equal(why, "it names container web, the record db");
	migration_record_clear(&rec);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_init_and_json),
		cmocka_unit_test(test_json_strict),
		cmocka_unit_test(test_matches_request),
		cmocka_unit_test(test_matches_record),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
