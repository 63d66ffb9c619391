/* podmig prints what etcd holds; a writer of etcd must not reach the
 * operator's terminal. Documents with escape sequences (ESC, BEL, CSI as
 * UTF-8 C1, a CR) in node names, addresses, labels, container names,
 * records, decisions and drain marks are shown by `nodes`, `ps`, `history`
 * and `decisions`, in tables and as JSON: no control character gets out.
 * --prefix is checked by every verb. Runs the podmig binary against a real
 * etcd (the fixture). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "strutil.h"
#include "test-cli-fixture.h"

static void assert_clean(const char *what, const char *out)
{
	for (const unsigned char *p = (const unsigned char *)out; *p; p++) {
		bool bad = (*p < 0x20 && *p != '\n') || *p == 0x7f ||
		           (*p == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f);
		if (bad)
			fail_msg("%s printed control byte 0x%02x at %td: %s", what, *p,
			         (const char *)p - out, out);
	}
}

static void test_escapes_stripped(void **state)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	char status[512];
	snprintf(status, sizeof status,
	         "{\"timestamp_usec\":%lld,\"cpu_percent\":1,\"memory_percent\":1,"
	         "\"containers\":[{\"name\":\"web\\u001b[2J\",\"image\":\"img\\u00c2\\u009b31m\","
	         "\"state\":\"running\\r\"}]}",
	         (long long)ts.tv_sec * 1000000);
	cli_test_put("/o1/", "nodes/node\x1b[31mA/info",
	             "{\"grpc_address\":\"10.0.0.1:7401\\u001b]0;pwned\\u0007\","
	             "\"labels\":{\"zone\\u001b[1m\":\"a\\u009b1m\"}}");
	cli_test_put("/o1/", "nodes/node\x1b[31mA/status", status);
	cli_test_put(
	        "/o1/", "migrations/m-1795730000000-0a1b2c3d",
	        "{\"id\":\"m-1795730000000-0a1b2c3d\",\"container\":\"web\",\"source\":\"node1\","
	        "\"target\":\"node2\",\"image\":\"img\\u001b[8m\",\"reason\":\"manual\","
	        "\"mode\":\"stop-and-copy\",\"phase\":\"rolled-back\","
	        "\"phase_times_ms\":{\"planned\":1795730000000},\"bytes\":0,\"downtime_ms\":0,"
	        "\"error\":\"boom\\u001b[31m\\r\\u0008hidden\"}");
	cli_test_put("/o1/", "decisions/d-1795730000000-0a1b2c3d",
	             "{\"id\":\"d-1795730000000-0a1b2c3d\",\"time_usec\":1795730000000000,"
	             "\"node\":\"node\\u001b[5m1\",\"outcome\":\"moved\\u001b[0m\",\"why\":"
	             "\"w\\u001bc\"}");
	cli_test_put("/o1/", "drain/evil\x1b[41m", "{}");

	static const char *const verbs[][2] = {
		{ "nodes", NULL },     { "nodes", "--json" },     { "ps", NULL },
		{ "ps", "--json" },    { "history", NULL },       { "history", "--json" },
		{ "decisions", NULL }, { "decisions", "--json" },
	};
	for (size_t i = 0; i < ELEMENTSOF(verbs); i++) {
		char *out = NULL;
		(void)cli_test_run(&out, verbs[i][0], "--prefix", "/o1/", verbs[i][1], NULL);
		char what[64];
		snprintf(what, sizeof what, "%s %s", verbs[i][0], verbs[i][1] ?: "");
		assert_clean(what, out);
		/* what was there is still shown, its control characters replaced */
		if (streq(verbs[i][0], "history") && !verbs[i][1])
			assert_non_null(strstr(out, "boom?[31m??hidden"));
		free(out);
	}
}

static void test_prefix_checked(void **state)
{
	static const char *const bad[] = { "podmig/", "/podmig", "/../",
		                           "/a//b/",  "/a b/",   "/\x1b[31m/" };
	static const char *const verbs[] = { "nodes", "ps", "history", "decisions", "plan" };
	for (size_t i = 0; i < ELEMENTSOF(bad); i++)
		for (size_t k = 0; k < ELEMENTSOF(verbs); k++) {
			char *out = NULL;
			assert_int_equal(cli_test_run(&out, verbs[k], "--prefix", bad[i], NULL), 2);
			assert_non_null(strstr(out, "--prefix"));
			assert_clean("a bad --prefix", out);
			free(out);
		}
	char *out = NULL;
	assert_int_equal(cli_test_run(&out, "migrate", "c", "--to", "n", "--prefix", "/../", NULL),
	                 2);
	free(out);
	assert_int_equal(cli_test_run(&out, "policy", "get", "--prefix", "/../", NULL), 2);
	free(out);
	assert_int_equal(cli_test_run(&out, "drain", "n", "--prefix", "/../", NULL), 2);
	free(out);
}

int main(int argc, char *argv[])
{
	if (!cli_test_args(argc, argv))
		return 2;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_escapes_stripped),
		cmocka_unit_test(test_prefix_checked),
	};
	return cmocka_run_group_tests(tests, cli_test_setup, cli_test_teardown);
}
