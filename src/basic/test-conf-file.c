/* test-conf-file.c — the configuration file reader: the line syntax, and
 * every error naming the file and the line. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "conf-file.h"
#include "strutil.h"

typedef struct Seen {
	char text[1024];
} Seen;

/* Records "key=value;" and knows the keys a, b-c and bad (always refused). */
static int record(const char *key, const char *value, void *userdata, ErrorDetail *error)
{
	Seen *s = userdata;
	if (streq(key, "bad"))
		return error_detail_set_errno(error, -EINVAL, "--bad: '%s' is never right", value);
	if (!streq(key, "a") && !streq(key, "b-c"))
		return -ENOENT;
	size_t l = strlen(s->text);
	snprintf(s->text + l, sizeof s->text - l, "%s=%s;", key, value);
	return 0;
}

static void write_file(char *path, const char *text)
{
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

static int load(const char *text, Seen *seen, ErrorDetail *err, char path[64])
{
	strcpy(path, "/tmp/podmig-conf-XXXXXX");
	write_file(path, text);
	*seen = (Seen){};
	*err = (ErrorDetail){};
	int r = conf_file_load(path, record, seen, err);
	unlink(path);
	return r;
}

static void test_syntax(void **state)
{
	Seen s;
	ErrorDetail err;
	char path[64];
	assert_int_equal(load("# comment\n\n  a = 1\nb-c=two words \n\ta\t3\n  # another\na =\n"
	                      "a = x=y\r\n",
	                      &s, &err, path),
	                 0);
	assert_string_equal(s.text, "a=1;b-c=two words;a=3;a=;a=x=y;");
	/* no newline at the end */
	assert_int_equal(load("a = last", &s, &err, path), 0);
	assert_string_equal(s.text, "a=last;");
	assert_int_equal(load("", &s, &err, path), 0);
	assert_string_equal(s.text, "");
}

static void assert_error(const char *text, int code, const char *want)
{
	Seen s;
	ErrorDetail err;
	char path[64], expect[256];
	assert_int_equal(load(text, &s, &err, path), code);
	snprintf(expect, sizeof expect, "%s%s", path, want);
	assert_string_equal(err.message, expect);
}

static void test_errors(void **state)
{
	assert_error("a = 1\nnope = 2\n", -EINVAL, ":2: unknown setting 'nope'");
	assert_error("a = 1\n\n# x\nbad = 7\n", -EINVAL, ":4: --bad: '7' is never right");
	assert_error("justakey\n", -EINVAL, ":1: expected 'key = value'");
	assert_error("= value\n", -EINVAL, ":1: expected 'key = value'");
	char big[CONF_LINE_MAX + 16];
	memset(big, 'x', sizeof big - 1);
	memcpy(big, "a = ", 4);
	big[sizeof big - 1] = 0;
	assert_error(big, -E2BIG, ":1: line longer than 4096 bytes");
	/* a NUL byte inside a line */
	char path[] = "/tmp/podmig-conf-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "a = 1\na\0b = 2\n", 14), 14);
	close(fd);
	Seen s = {};
	ErrorDetail err = {};
	assert_int_equal(conf_file_load(path, record, &s, &err), -EINVAL);
	assert_non_null(strstr(err.message, ":2: a NUL byte"));
	unlink(path);
	/* missing: -ENOENT and nothing said; unreadable: the path and why */
	err = (ErrorDetail){};
	assert_int_equal(conf_file_load("/nonexistent/podmig.conf", record, &s, &err), -ENOENT);
	assert_false(error_detail_is_set(&err));
	assert_int_equal(conf_file_load("/", record, &s, &err), -EISDIR);
	assert_non_null(strstr(err.message, "/: "));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_syntax),
		cmocka_unit_test(test_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
