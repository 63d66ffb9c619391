/* Unit tests for strutil: strict number and size parsing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "error-util.h"
#include "log.h"
#include "string-table.h"
#include "strutil.h"
#include "time-util.h"

static void test_safe_atou(void **state)
{
	unsigned u = 7;
	assert_int_equal(safe_atou("42", &u), 0);
	assert_int_equal(u, 42);
	assert_int_equal(safe_atou("", &u), -EINVAL);
	assert_int_equal(safe_atou("-1", &u), -EINVAL);
	assert_int_equal(safe_atou(" 1", &u), -EINVAL);
	assert_int_equal(safe_atou("1x", &u), -EINVAL);
	assert_int_equal(safe_atou("4294967296", &u), -ERANGE);
	assert_int_equal(u, 42); /* untouched on failure */
}

static void test_safe_atoi(void **state)
{
	int i = 0;
	assert_int_equal(safe_atoi("-17", &i), 0);
	assert_int_equal(i, -17);
	assert_int_equal(safe_atoi("--1", &i), -EINVAL);
	assert_int_equal(safe_atoi("99999999999", &i), -ERANGE);
	assert_int_equal(i, -17);
}

static void test_safe_atod(void **state)
{
	double d = 0;
	assert_int_equal(safe_atod("0.4", &d), 0);
	assert_true(d > 0.39 && d < 0.41);
	assert_int_equal(safe_atod("nan", &d), -EINVAL);
	assert_int_equal(safe_atod("1.5x", &d), -EINVAL);
	assert_int_equal(safe_atod("", &d), -EINVAL);
}

static void test_parse_size(void **state)
{
	uint64_t v = 0;
	assert_int_equal(parse_size("512", &v), 0);
	assert_int_equal(v, 512);
	assert_int_equal(parse_size("64M", &v), 0);
	assert_int_equal(v, 64ULL << 20);
	assert_int_equal(parse_size("2GiB", &v), 0);
	assert_int_equal(v, 2ULL << 30);
	assert_int_equal(parse_size("2Q", &v), -EINVAL);
	assert_int_equal(parse_size("M", &v), -EINVAL);
	assert_int_equal(parse_size("99999999999999999999", &v), -ERANGE);
	assert_int_equal(parse_size("17179869184T", &v), -ERANGE);
}

static void test_startswith(void **state)
{
	assert_string_equal(startswith("podmig.migrate=false", "podmig."), "migrate=false");
	assert_null(startswith("pod", "podmig"));
}

static void test_log_level(void **state)
{
	assert_int_equal(log_level_from_string("debug"), LOG_DEBUG);
	assert_int_equal(log_level_from_string("ERROR"), LOG_ERR);
	assert_int_equal(log_level_from_string("3"), 3);
	assert_int_equal(log_level_from_string("loud"), -EINVAL);
	assert_int_equal(log_error_errno(-ENOENT, "expected test message"), -ENOENT);
}

typedef enum Color { COLOR_RED, COLOR_GREEN, COLOR_UNNAMED, COLOR_BLUE, _COLOR_MAX } Color;
static const char *const color_table[_COLOR_MAX] = {
	[COLOR_RED] = "red",
	[COLOR_GREEN] = "green",
	[COLOR_BLUE] = "blue",
};
const char *color_to_string(Color c);
int color_from_string(const char *s);
DEFINE_STRING_TABLE_LOOKUP(color, Color);

static void test_string_table(void **state)
{
	assert_string_equal(color_to_string(COLOR_RED), "red");
	assert_string_equal(color_to_string(COLOR_BLUE), "blue");
	assert_null(color_to_string(COLOR_UNNAMED));
	assert_null(color_to_string(_COLOR_MAX));
	assert_null(color_to_string((Color)-1));
	assert_int_equal(color_from_string("green"), COLOR_GREEN);
	assert_int_equal(color_from_string("blue"), COLOR_BLUE);
	assert_int_equal(color_from_string("Blue"), -EINVAL);
	assert_int_equal(color_from_string(""), -EINVAL);
	assert_int_equal(color_from_string(NULL), -EINVAL);
}

static void test_time(void **state)
{
	uint64_t t0 = now_usec(CLOCK_MONOTONIC);
	sleep_usec(2 * USEC_PER_MSEC);
	assert_true(now_usec(CLOCK_MONOTONIC) - t0 >= 2 * USEC_PER_MSEC);
	/* wall clock: after 2020-01-01 */
	assert_true(wall_ms() > 1577836800ULL * MSEC_PER_SEC);
}

static void test_error_util(void **state)
{
	/* Outcomes are neither errnos nor each other. */
	assert_true(error_is_outcome(OUTCOME_ETCD_NOT_FOUND));
	assert_true(error_is_outcome(OUTCOME_PODMAN_NOT_FOUND));
	assert_int_not_equal(OUTCOME_ETCD_NOT_FOUND, OUTCOME_PODMAN_NOT_FOUND);
	assert_false(error_is_outcome(-ENOENT));
	assert_false(error_is_outcome(0));
	assert_string_equal(error_to_string(OUTCOME_ETCD_NOT_FOUND), "no such key in etcd");
	assert_string_equal(error_to_string(-ENOENT), strerror(ENOENT));

	ErrorDetail e = {};
	assert_false(error_detail_is_set(&e));
	assert_string_equal(error_detail_or(&e, -EIO), strerror(EIO));
	assert_int_equal(error_detail_set_errno(&e, -EPIPE, "first %d", 1), -EPIPE);
	error_detail_set(&e, "second");
	assert_string_equal(e.message, "first 1");
	assert_string_equal(error_detail_or(&e, -EIO), "first 1");
	error_detail_clear(&e);
	error_detail_set(&e, "third");
	assert_string_equal(e.message, "third");
	error_detail_set(NULL, "ignored");
}

static void test_strv(void **state)
{
	_cleanup_strv_free_ char **l = NULL;
	assert_false(strv_contains(l, "a"));
	assert_int_equal(strv_length(l), 0);
	assert_int_equal(strv_push(&l, "a"), 0);
	assert_int_equal(strv_push(&l, "b"), 0);
	assert_int_equal(strv_length(l), 2);
	assert_string_equal(l[1], "b");
	assert_null(l[2]);
	assert_true(strv_contains(l, "a"));
	assert_false(strv_contains(l, "c"));
}

static void test_key_prefix(void **state)
{
	assert_null(key_prefix_problem("/"));
	assert_null(key_prefix_problem("/podmig/"));
	assert_null(key_prefix_problem("/a/b-c_d.e/"));
	const char *bad[] = { "",       "podmig/", "/podmig", "/a//b/",      "/../",
		              "/a/../", "/./",     "/a b/",   "/a\x1b[31m/", "/\xc3\xa9/" };
	for (size_t i = 0; i < ELEMENTSOF(bad); i++)
		assert_non_null(key_prefix_problem(bad[i]));
	char longp[200];
	memset(longp, 'a', sizeof longp);
	longp[0] = '/';
	longp[KEY_PREFIX_MAX] = '/';
	longp[KEY_PREFIX_MAX + 1] = 0;
	assert_non_null(key_prefix_problem(longp));
	longp[KEY_PREFIX_MAX - 1] = '/';
	longp[KEY_PREFIX_MAX] = 0;
	assert_null(key_prefix_problem(longp));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_safe_atou),    cmocka_unit_test(test_safe_atoi),
		cmocka_unit_test(test_safe_atod),    cmocka_unit_test(test_parse_size),
		cmocka_unit_test(test_startswith),   cmocka_unit_test(test_log_level),
		cmocka_unit_test(test_string_table), cmocka_unit_test(test_time),
		cmocka_unit_test(test_error_util),   cmocka_unit_test(test_key_prefix),
		cmocka_unit_test(test_strv),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
