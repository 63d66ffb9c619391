/* Unit tests for getopt-util: with GETOPT_REFUSED_OPTIONS declared,
 * --etcd-password is refused in every spelling instead of being taken as an
 * abbreviation of --etcd-password-file, which keeps working. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "getopt-util.h"
#include "macro.h"

enum { ARG_FILE = 0x100, ARG_USER };

/* The first code getopt_long returns for `arg` (after the program name),
 * and in `ret_optarg` its argument. */
static int first_code(const char *arg, const char *next, char **ret_optarg)
{
	static const struct option options[] = {
		{ "etcd-user", required_argument, NULL, ARG_USER },
		{ "etcd-password-file", required_argument, NULL, ARG_FILE },
		GETOPT_REFUSED_OPTIONS,
		{},
	};
	char *argv[] = { (char *)"prog", (char *)arg, (char *)next, NULL };
	optind = 0;
	opterr = 0;
	int c = getopt_long(next ? 3 : 2, argv, "h", options, NULL);
	*ret_optarg = optarg;
	return c;
}

static void test_refused_in_every_spelling(void **state)
{
	char *arg;
	assert_int_equal(first_code("--etcd-password", "s3cret", &arg), GETOPT_ARG_ETCD_PASSWORD);
	assert_int_equal(first_code("--etcd-password=s3cret", NULL, &arg),
	                 GETOPT_ARG_ETCD_PASSWORD);
	assert_int_equal(first_code("--etcd-password", NULL, &arg), GETOPT_ARG_ETCD_PASSWORD);
	assert_true(getopt_refused(GETOPT_ARG_ETCD_PASSWORD, NULL));
	assert_true(getopt_refused(GETOPT_ARG_ETCD_PASSWORD, "(or $PODMIG_ETCD_PASSWORD)"));
	/* a shorter prefix fits both: ambiguous, refused by getopt_long */
	assert_int_equal(first_code("--etcd-pass", "s3cret", &arg), '?');
	assert_int_equal(first_code("--etcd-p", "s3cret", &arg), '?');
}

static void test_file_option_still_works(void **state)
{
	char *arg;
	assert_int_equal(first_code("--etcd-password-file", "/etc/pw", &arg), ARG_FILE);
	assert_string_equal(arg, "/etc/pw");
	assert_int_equal(first_code("--etcd-password-file=/etc/pw", NULL, &arg), ARG_FILE);
	assert_string_equal(arg, "/etc/pw");
	/* a longer prefix names only the file option */
	assert_int_equal(first_code("--etcd-password-f", "/etc/pw", &arg), ARG_FILE);
	assert_string_equal(arg, "/etc/pw");
	assert_int_equal(first_code("--etcd-u", "alice", &arg), ARG_USER);
	assert_false(getopt_refused(ARG_FILE, NULL));
	assert_false(getopt_refused('?', NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_refused_in_every_spelling),
		cmocka_unit_test(test_file_option_still_works),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
