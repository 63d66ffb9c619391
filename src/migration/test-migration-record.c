/* Tests of migration records without etcd: phase rules, names, strict
 * JSON, and the step to the next phase. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "migration-record.h"

#define NOW 1795730000000ULL

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
	/* not forced: the key is absent */
	assert_null(strstr(json, "forced"));
	/* no image ID yet: absent too */
	assert_null(strstr(json, "image_id"));
	free(json);
	snprintf(rec.decision, sizeof rec.decision, "d-1795730000000-0a1b2c3d");
	rec.forced = true;
	assert_int_equal(migration_image_id_parse("sha256:104ddd3ba3a10bb4e28542c99fd9dc4b7941fb4"
	                                          "19a9fd27b175d1eaa3485e161",
	                                          rec.image_id),
	                 0);
	assert_int_equal(migration_record_to_json(&rec, &json), 0);

	assert_int_equal(migration_record_from_json(json, strlen(json), &back), 0);
	assert_string_equal(back.decision, "d-1795730000000-0a1b2c3d");
	assert_true(back.forced);
	assert_string_equal(back.image_id,
	                    "104ddd3ba3a10bb4e28542c99fd9dc4b7941fb419a9fd27b175d1eaa3485e161");
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
	migration_record_clear(&rec);
	migration_record_clear(&back);
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
		/* an image ID that is not 64 lowercase hex digits */
		"{\"id\":\"m-1\",\"container\":\"c\",\"source\":\"a\",\"target\":\"b\","
		"\"reason\":\"manual\",\"mode\":\"stop-and-copy\",\"phase\":\"done\","
		"\"phase_times_ms\":{},\"bytes\":0,\"downtime_ms\":0,\"image_id\":\"sha256:"
		"104ddd3ba3a10bb4e28542c99fd9dc4b7941fb419a9fd27b175d1eaa3485e161\"}",
		"{\"id\":\"m-1\",\"container\":\"c\",\"source\":\"a\",\"target\":\"b\","
		"\"reason\":\"manual\",\"mode\":\"stop-and-copy\",\"phase\":\"done\","
		"\"phase_times_ms\":{},\"bytes\":0,\"downtime_ms\":0,\"image_id\":\"104DDD\"}",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		MigrationRecord rec = { .bytes = 42 };
		assert_int_equal(migration_record_from_json(bad[i], strlen(bad[i]), &rec),
		                 -EBADMSG);
		assert_int_equal(rec.bytes, 42); /* untouched */
	}
}

static void test_image_id(void **state)
{
	char id[MIGRATION_IMAGE_ID_LEN + 1] = "untouched";
	const char *hex = "104ddd3ba3a10bb4e28542c99fd9dc4b7941fb419a9fd27b175d1eaa3485e161";
	assert_true(migration_image_id_valid(hex));
	assert_int_equal(migration_image_id_parse(hex, id), 0);
	assert_string_equal(id, hex);
	static const char *const bad[] = {
		"",
		"104ddd",
		"104DDD3BA3A10BB4E28542C99FD9DC4B7941FB419A9FD27B175D1EAA3485E161",
		"104ddd3ba3a10bb4e28542c99fd9dc4b7941fb419a9fd27b175d1eaa3485e1610",
		"sha512:104ddd3ba3a10bb4e28542c99fd9dc4b7941fb419a9fd27b175d1eaa3485e161",
		"localhost/podmig/counter:latest",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		strcpy(id, "untouched");
		assert_int_equal(migration_image_id_parse(bad[i], id), -EINVAL);
		assert_string_equal(id, "untouched");
	}
	assert_int_equal(migration_image_id_parse(NULL, id), -EINVAL);
}

static void test_step(void **state)
{
	MigrationRecord rec, next;
	assert_int_equal(
	        migration_record_init(&rec, "web", "node1", "node2", MIGRATION_REASON_MANUAL, NOW),
	        0);
	assert_int_equal(migration_record_step(&rec, MIGRATION_DONE, NULL, NOW + 1, &next),
	                 -EINVAL);
	assert_int_equal(migration_record_step(&rec, MIGRATION_FAILED, "no target", NOW + 2, &next),
	                 0);
	assert_int_equal(next.phase, MIGRATION_FAILED);
	assert_int_equal(next.phase_time_ms[MIGRATION_FAILED], NOW + 2);
	assert_string_equal(next.error, "no target");
	assert_string_equal(next.id, rec.id);
	assert_int_equal(rec.phase, MIGRATION_PLANNED); /* untouched */
	assert_null(rec.error);
	migration_record_clear(&next);
	migration_record_clear(&rec);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_phase_rules),    cmocka_unit_test(test_names),
		cmocka_unit_test(test_json_roundtrip), cmocka_unit_test(test_json_rejects),
		cmocka_unit_test(test_step),           cmocka_unit_test(test_image_id),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
