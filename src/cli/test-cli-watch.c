/* Tests of the live views: the real podmig binary (argv[1]) against a real etcd (the fixture).
 * `podmig events` prints each migration phase once, decisions, nodes, drains and policy
 * changes as they are written, as text or JSON lines, and stops at --timeout; `nodes --watch`
 * and `ps --watch` without a terminal print the view again on each change only; bad options
 * exit 2. */
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

#include "json-util.h"
#include "macro.h"
#include "process-util.h"
#include "strutil.h"
#include "test-cli-fixture.h"

/* Starts podmig ARGS... with its output going to `log`; gives it time to open its watch. */
static pid_t start(const char *log, ...)
{
	char *argv[32] = { (char *)cli_test_podmig };
	size_t n = 1;
	va_list ap;
	va_start(ap, log);
	for (const char *a; (a = va_arg(ap, const char *)) && n + 1 < ELEMENTSOF(argv);)
		argv[n++] = (char *)a;
	va_end(ap);
	argv[n] = NULL;
	unlink(log);
	pid_t pid;
	assert_int_equal(spawn_start(argv, &(SpawnOptions){ .log_path = log }, &pid), 0);
	usleep(1500 * 1000);
	return pid;
}

/* Waits for pid: its exit status must be 0; returns what it wrote. */
static char *finish(pid_t pid, const char *log)
{
	int status = -1;
	assert_int_equal(spawn_reap(pid, &status), 0);
	FILE *f = fopen(log, "re");
	assert_non_null(f);
	char *text = calloc(1, 1 << 20);
	assert_non_null(text);
	size_t n = fread(text, 1, (1 << 20) - 1, f);
	fclose(f);
	text[n] = 0;
	if (status != 0)
		fail_msg("podmig exited %d:\n%s", status, text);
	return text;
}

static size_t count(const char *text, const char *needle)
{
	size_t n = 0;
	for (const char *p = text; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

#define RECORD                                                                            \
	"{\"id\":\"m1\",\"container\":\"job\",\"source\":\"node1\",\"target\":\"node2\"," \
	"\"reason\":\"automatic\",\"phase\":\"%s\",\"bytes\":%d,\"downtime_ms\":%d,"      \
	"\"decision\":\"d1\",\"phase_times_ms\":{}}"

static void put_record(const char *prefix, const char *phase, int bytes, int downtime)
{
	char doc[512];
	snprintf(doc, sizeof doc, RECORD, phase, bytes, downtime);
	cli_test_put(prefix, "migrations/m1", doc);
}

static void test_events_json(void **state)
{
	const char *p = "/ev-json/";
	char log[256];
	snprintf(log, sizeof log, "%s/events.jsonl", cli_test_tmpdir);
	pid_t pid =
	        start(log, "events", "--json", "--samples", "--timeout", "4", "--prefix", p, NULL);

	cli_test_put(p, "nodes/node1/info", "{\"name\":\"node1\"}");
	cli_test_put(p, "nodes/node1/status",
	             "{\"timestamp_usec\":5,\"cpu\":{\"percent\":42.5},\"memory\":{\"percent\":7},"
	             "\"containers\":[{\"name\":\"job\"}]}");
	put_record(p, "checkpointing", 0, 0);
	put_record(p, "checkpointing", 0, 0); /* nothing new: not shown again */
	put_record(p, "done", 4096, 250);
	cli_test_put(
	        p, "decisions/d1",
	        "{\"id\":\"d1\",\"node\":\"node1\",\"outcome\":\"migrate\",\"why\":\"cpu over\","
	        "\"moves\":[{\"container\":\"job\",\"target\":\"node2\"}]}");
	cli_test_put(p, "drain/node3", "{}");
	cli_test_del(p, "drain/node3");
	cli_test_put(p, "policy", "{\"mode\":\"observe\"}");
	cli_test_put(p, "unrelated", "x");
	cli_test_del(p, "nodes/node1/info");

	_cleanup_free_ char *out = finish(pid, log);
	printf("%s", out);
	static const char *const want[] = { "node",  "sample", "migration", "migration", "decision",
		                            "drain", "drain",  "policy",    "node" };
	size_t i = 0;
	for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n"), i++) {
		_cleanup_json_ json_t *ev = json_loads(line, 0, NULL);
		if (!ev)
			fail_msg("not a JSON line: %s", line);
		assert_true(i < ELEMENTSOF(want));
		assert_string_equal(json_get_string(ev, "type"), want[i]);
		assert_non_null(json_get_string(ev, "time"));
		if (i == 1) {
			assert_string_equal(json_get_string(ev, "node"), "node1");
			assert_true(json_get_number(ev, "cpu_percent", 0) == 42.5);
			assert_int_equal(json_get_i64(ev, "timestamp_usec", 0), 5);
		}
		if (i == 2 || i == 3)
			assert_string_equal(json_get_string(json_object_get(ev, "record"), "phase"),
			                    i == 2 ? "checkpointing" : "done");
		if (i == 8)
			assert_false(json_is_true(json_object_get(ev, "up")));
	}
	assert_int_equal(i, ELEMENTSOF(want));
}

static void test_events_text(void **state)
{
	const char *p = "/ev-text/";
	char log[256];
	snprintf(log, sizeof log, "%s/events.txt", cli_test_tmpdir);
	pid_t pid = start(log, "events", "--timeout", "3", "--prefix", p, NULL);
	cli_test_put(p, "nodes/node1/status",
	             "{\"cpu\":{\"percent\":1}}"); /* a sample: not without --samples */
	put_record(p, "done", 2048, 1500);
	cli_test_put(
	        p, "decisions/d1",
	        "{\"id\":\"d1\",\"node\":\"node1\",\"outcome\":\"migrate\",\"why\":\"cpu 90% over "
	        "80%\","
	        "\"moves\":[{\"container\":\"job\",\"target\":\"node2\"}]}");
	_cleanup_free_ char *out = finish(pid, log);
	printf("%s", out);
	assert_int_equal(count(out, "\n"), 2);
	assert_non_null(
	        strstr(out, "job node1 → node2: done (automatic, 2.0K sent, downtime 1.50s)"));
	assert_non_null(strstr(out, "node1: migrate (job → node2) — cpu 90% over 80%"));
}

static void test_nodes_watch(void **state)
{
	const char *p = "/nodes-watch/";
	char log[256];
	snprintf(log, sizeof log, "%s/nodes.json", cli_test_tmpdir);
	cli_test_put(p, "nodes/node1/info",
	             "{\"name\":\"node1\",\"grpc_address\":\"10.0.0.1:7401\"}");
	cli_test_put(p, "nodes/node1/status",
	             "{\"cpu\":{\"percent\":10},\"memory\":{\"percent\":1}}");
	pid_t pid = start(log, "nodes", "--watch", "--json", "--timeout", "4", "--prefix", p, NULL);
	cli_test_put(p, "nodes/node1/status",
	             "{\"cpu\":{\"percent\":20},\"memory\":{\"percent\":1}}");
	usleep(500 * 1000);
	cli_test_put(p, "nodes/node2/info",
	             "{\"name\":\"node2\",\"grpc_address\":\"10.0.0.2:7401\"}");
	_cleanup_free_ char *out = finish(pid, log);
	printf("%s", out);

	/* One document per change: the first view, node1 at 20 %, node2 joined. */
	double cpu[3] = {};
	size_t nodes[3] = {}, docs = 0;
	const char *at = out;
	for (;;) {
		while (*at == '\n' || *at == ' ')
			at++;
		if (!*at)
			break;
		json_error_t err;
		_cleanup_json_ json_t *doc = json_loads(at, JSON_DISABLE_EOF_CHECK, &err);
		if (!json_is_array(doc))
			fail_msg("not a JSON array at: %s", at);
		assert_true(docs < 3);
		nodes[docs] = json_array_size(doc);
		cpu[docs] = json_get_number(
		        json_object_get(json_object_get(json_array_get(doc, 0), "status"), "cpu"),
		        "percent", -1);
		docs++;
		at += err.position;
	}
	assert_int_equal(docs, 3);
	assert_true(cpu[0] == 10 && cpu[1] == 20 && cpu[2] == 20);
	assert_int_equal(nodes[0], 1);
	assert_int_equal(nodes[1], 1);
	assert_int_equal(nodes[2], 2);
}

static void test_ps_watch_quiet(void **state)
{
	const char *p = "/ps-watch/";
	char log[256];
	snprintf(log, sizeof log, "%s/ps.txt", cli_test_tmpdir);
	cli_test_put(p, "nodes/node1/status",
	             "{\"containers\":[{\"name\":\"job\",\"state\":\"running\",\"image\":\"i\"}]}");
	pid_t pid = start(log, "ps", "--watch", "--timeout", "2", "--prefix", p, NULL);
	cli_test_put(p, "unrelated", "x"); /* an event that changes nothing in the view */
	_cleanup_free_ char *out = finish(pid, log);
	printf("%s", out);
	assert_int_equal(count(out, "NODE "), 1);
	assert_non_null(strstr(out, "job"));
}

static void test_bad_usage(void **state)
{
	static const char *const cases[][4] = {
		{ "events", "--timeout", "0" }, { "events", "--timeout", "soon" },
		{ "nodes", "--timeout", "-1" }, { "history", "--watch", NULL },
		{ "ps", "--timeout", "5" },     { "decisions", "--timeout", "5" },
		{ "events", "extra", NULL },
	};
	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		char *argv[] = { (char *)cli_test_podmig, (char *)cases[i][0], (char *)cases[i][1],
			         (char *)cases[i][2], NULL };
		int status = -1;
		assert_int_equal(spawn_wait(argv, &(SpawnOptions){ .quiet = true }, &status), 0);
		if (status != 2)
			fail_msg("podmig %s %s %s exited %d, not 2", cases[i][0], cases[i][1],
			         cases[i][2] ?: "", status);
	}
}

int main(int argc, char *argv[])
{
	if (!cli_test_args(argc, argv))
		return 2;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_events_json), cmocka_unit_test(test_events_text),
		cmocka_unit_test(test_nodes_watch), cmocka_unit_test(test_ps_watch_quiet),
		cmocka_unit_test(test_bad_usage),
	};
	return cmocka_run_group_tests(tests, cli_test_setup, cli_test_teardown);
}
