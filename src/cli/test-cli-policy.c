/* Tests of `podmig policy`: the real podmig binary (argv[1]) against a real etcd (the
 * fixture). Valid changes are stored and shown; wrong ones exit non-zero, name the key and
 * leave etcd as it was; edit goes through an editor program; reset brings the defaults back. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "json-util.h"
#include "process-util.h"
#include "strutil.h"
#include "test-cli-fixture.h"

/* Runs podmig policy --prefix PREFIX ARGS...; its exit status, its stdout and stderr. */
static int run(const char *prefix, char **ret_output, ...)
{
	const char *const head[] = { "policy", "--prefix", prefix, NULL };
	va_list ap;
	va_start(ap, ret_output);
	int status = cli_test_vrun(ret_output, head, ap);
	va_end(ap);
	return status;
}

/* The stored document at PREFIX "policy", and its mod_revision; NULL if there is none. */
static json_t *stored(const char *prefix, int64_t *ret_revision)
{
	char key[256];
	EtcdKeyValue kv;
	snprintf(key, sizeof key, "%spolicy", prefix);
	int r = etcd_get(cli_test_client, key, &kv);
	if (r == ETCD_NOT_FOUND) {
		*ret_revision = 0;
		return NULL;
	}
	assert_int_equal(r, 0);
	json_t *doc = json_loadb(kv.value, kv.value_size, 0, NULL);
	assert_non_null(doc);
	*ret_revision = kv.mod_revision;
	etcd_key_value_done(&kv);
	return doc;
}

static json_t *get_json(const char *prefix)
{
	char *out = NULL;
	assert_int_equal(run(prefix, &out, "get", "--json", NULL), 0);
	json_t *doc = json_loads(out, 0, NULL);
	if (!doc)
		fail_msg("policy get --json printed: %s", out);
	free(out);
	return doc;
}

static double threshold(const json_t *doc, const char *resource)
{
	return json_get_number(json_object_get(doc, "thresholds"), resource, -1);
}

static void test_get_defaults(void **state)
{
	int64_t rev;
	assert_null(stored("/t1/", &rev));
	_cleanup_json_ json_t *doc = get_json("/t1/");
	assert_string_equal(json_get_string(doc, "mode"), "act");
	assert_float_equal(threshold(doc, "cpu"), 80, 0);
	assert_int_equal(json_get_i64(doc, "window", 0), 3);
	assert_string_equal(json_get_string(doc, "solver"), "aco");

	char *out = NULL;
	assert_int_equal(run("/t1/", &out, "get", NULL), 0);
	assert_non_null(strstr(out, "thresholds.cpu=80\n"));
	assert_non_null(strstr(out, "mode=act\n"));
	free(out);
	assert_null(stored("/t1/", &rev)); /* get writes nothing */
}

static void test_set(void **state)
{
	int64_t rev;
	assert_int_equal(run("/t2/", NULL, "set", "thresholds.cpu=70", "mode=observe",
	                     "nodes.node1.thresholds.memory=60", "cooldown.container_sec=60",
	                     "weights.migration=0.5", NULL),
	                 0);
	_cleanup_json_ json_t *doc = get_json("/t2/");
	assert_float_equal(threshold(doc, "cpu"), 70, 0);
	assert_string_equal(json_get_string(doc, "mode"), "observe");
	json_t *node1 = json_object_get(json_object_get(doc, "nodes"), "node1");
	assert_float_equal(threshold(node1, "memory"), 60, 0);
	assert_int_equal(json_get_i64(json_object_get(doc, "cooldown"), "container_sec", 0), 60);
	assert_float_equal(json_get_number(json_object_get(doc, "weights"), "migration", 0), 0.5,
	                   0);

	/* what etcd holds is the document */
	_cleanup_json_ json_t *in_etcd = stored("/t2/", &rev);
	assert_non_null(in_etcd);
	assert_true(json_equal(in_etcd, doc));

	/* a second set keeps the first one's changes */
	assert_int_equal(run("/t2/", NULL, "set", "window=5", NULL), 0);
	_cleanup_json_ json_t *again = get_json("/t2/");
	assert_int_equal(json_get_i64(again, "window", 0), 5);
	assert_float_equal(threshold(again, "cpu"), 70, 0);

	/* an empty value removes a node's threshold */
	assert_int_equal(run("/t2/", NULL, "set", "nodes.node1.thresholds.memory=", NULL), 0);
	_cleanup_json_ json_t *removed = get_json("/t2/");
	assert_null(json_object_get(json_object_get(removed, "nodes"), "node1"));
}

static void test_set_invalid(void **state)
{
	static const struct {
		const char *assignment;
		const char *message;
	} bad[] = {
		{ "thresholds.cpu=-5", "thresholds.cpu: -5 is negative" },
		{ "thresholds.cpu=120", "thresholds.cpu: 120 is not in (0, 100]" },
		{ "thresholds.disk=50", "thresholds.disk: unknown key" },
		{ "colour=blue", "colour: unknown key" },
		{ "thresholds.cpu=high", "thresholds.cpu: 'high' is not a number" },
		{ "window=2.5", "window: 2.5 is not an integer" },
		{ "mode=fast", "mode: \"fast\" is not one of" },
		{ "concurrency.cluster=0", "concurrency.cluster: 0 is not in [1, " },
		{ "nodes.node1.thresholds.cpu=0",
		  "nodes.node1.thresholds.cpu: 0 is not in (0, 100]" },
		{ "window", "'window' is not KEY=VALUE" },
	};
	int64_t rev, rev_after;

	assert_int_equal(run("/t3/", NULL, "set", "thresholds.cpu=70", NULL), 0);
	_cleanup_json_ json_t *before = stored("/t3/", &rev);
	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		char *out = NULL;
		assert_int_not_equal(run("/t3/", &out, "set", bad[i].assignment, NULL), 0);
		if (!strstr(out, bad[i].message))
			fail_msg("%s: printed \"%s\", expected \"%s\"", bad[i].assignment, out,
			         bad[i].message);
		free(out);
		_cleanup_json_ json_t *after = stored("/t3/", &rev_after);
		assert_int_equal(rev_after, rev);
		assert_true(json_equal(before, after));
	}

	/* one wrong assignment among good ones: nothing at all is written, each error shown */
	char *out = NULL;
	assert_int_not_equal(
	        run("/t3/", &out, "set", "window=5", "thresholds.memory=200", "margin=-1", NULL),
	        0);
	assert_non_null(strstr(out, "thresholds.memory: 200"));
	assert_non_null(strstr(out, "margin: -1 is negative"));
	assert_non_null(strstr(out, "nothing was written"));
	free(out);
	_cleanup_json_ json_t *after = stored("/t3/", &rev_after);
	assert_int_equal(rev_after, rev);
	assert_int_equal(json_get_i64(after, "window", 0), 3);

	/* nothing stored yet, and a wrong value: the key stays absent */
	assert_int_not_equal(run("/t3-empty/", NULL, "set", "thresholds.cpu=-5", NULL), 0);
	assert_null(stored("/t3-empty/", &rev_after));

	/* usage errors */
	assert_int_equal(run("/t3/", NULL, "set", NULL), 2);
	assert_int_equal(run("/t3/", NULL, "frobnicate", NULL), 2);
	assert_int_equal(run("/t3/", NULL, NULL), 2);
}

static void test_invalid_stored(void **state)
{
	int64_t rev;
	const char *garbage = "{\"window\": 99}";
	assert_int_equal(etcd_put(cli_test_client, "/t4/policy", garbage, strlen(garbage), 0, NULL),
	                 0);
	char *out = NULL;
	assert_int_not_equal(run("/t4/", &out, "get", NULL), 0);
	assert_non_null(strstr(out, "window: 99 is not in [1, 16]"));
	free(out);
	assert_int_not_equal(run("/t4/", NULL, "set", "thresholds.cpu=70", NULL), 0);
	_cleanup_json_ json_t *doc = stored("/t4/", &rev);
	assert_int_equal(json_get_i64(doc, "window", 0), 99);
	/* reset repairs it */
	assert_int_equal(run("/t4/", NULL, "reset", NULL), 0);
	assert_null(stored("/t4/", &rev));
	assert_int_equal(run("/t4/", NULL, "set", "thresholds.cpu=70", NULL), 0);
}

/* An editor: a script that rewrites "window": 3 as "window": N, or exits with a status. */
static void make_editor(const char *name, const char *body)
{
	char path[512];
	snprintf(path, sizeof path, "%s/%s", cli_test_tmpdir, name);
	FILE *f = fopen(path, "we");
	assert_non_null(f);
	fprintf(f, "#!/bin/sh\n%s\n", body);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(chmod(path, 0755), 0);
	setenv("EDITOR", path, 1);
}

static void test_edit(void **state)
{
	int64_t rev, rev_after;

	make_editor("window-5", "sed -i 's/\"window\": 3,/\"window\": 5,/' \"$1\"");
	assert_int_equal(run("/t5/", NULL, "edit", NULL), 0);
	_cleanup_json_ json_t *doc = stored("/t5/", &rev);
	assert_non_null(doc);
	assert_int_equal(json_get_i64(doc, "window", 0), 5);

	/* invalid: nothing written, the text kept for the user */
	make_editor("window-50", "sed -i 's/\"window\": 5,/\"window\": 50,/' \"$1\"");
	char *out = NULL;
	assert_int_not_equal(run("/t5/", &out, "edit", NULL), 0);
	assert_non_null(strstr(out, "window: 50 is not in [1, 16]"));
	assert_non_null(strstr(out, "nothing was written"));
	free(out);
	_cleanup_json_ json_t *after = stored("/t5/", &rev_after);
	assert_int_equal(rev_after, rev);

	/* not JSON */
	make_editor("garbage", "echo '{ nope' > \"$1\"");
	assert_int_not_equal(run("/t5/", NULL, "edit", NULL), 0);
	_cleanup_json_ json_t *after2 = stored("/t5/", &rev_after);
	assert_int_equal(rev_after, rev);

	/* an editor that fails, or changes nothing */
	make_editor("fails", "exit 3");
	assert_int_not_equal(run("/t5/", NULL, "edit", NULL), 0);
	make_editor("nothing", "exit 0");
	assert_int_equal(run("/t5/", NULL, "edit", NULL), 0);
	_cleanup_json_ json_t *after3 = stored("/t5/", &rev_after);
	assert_int_equal(rev_after, rev);

	/* $VISUAL comes first */
	setenv("VISUAL", "true", 1);
	make_editor("fails", "exit 3");
	assert_int_equal(run("/t5/", NULL, "edit", NULL), 0);
	unsetenv("VISUAL");
}

/* Concurrent sets of different keys: every one that succeeds is in the final document (a
 * lost compare-and-swap re-reads and applies again, never overwrites). */
static void test_concurrent_sets(void **state)
{
	static const struct {
		const char *assignment;
		const char *section, *key;
		int64_t value;
	} sets[] = {
		{ "cooldown.container_sec=11", "cooldown", "container_sec", 11 },
		{ "cooldown.node_sec=12", "cooldown", "node_sec", 12 },
		{ "cooldown.return_sec=13", "cooldown", "return_sec", 13 },
		{ "retention.migrations=14", "retention", "migrations", 14 },
		{ "retention.decisions=15", "retention", "decisions", 15 },
		{ "retention.max_age_sec=16", "retention", "max_age_sec", 16 },
		{ "seed=17", NULL, "seed", 17 },
		{ "concurrency.cluster=18", "concurrency", "cluster", 18 },
	};
	pid_t pids[ELEMENTSOF(sets)];
	int status[ELEMENTSOF(sets)];
	size_t ok = 0;
	int64_t rev;

	for (size_t i = 0; i < ELEMENTSOF(sets); i++) {
		char *argv[] = { (char *)cli_test_podmig,    "policy", "--prefix", "/t8/", "set",
			         (char *)sets[i].assignment, NULL };
		assert_int_equal(spawn_start(argv, &(SpawnOptions){ .quiet = true }, &pids[i]), 0);
	}
	for (size_t i = 0; i < ELEMENTSOF(sets); i++)
		assert_int_equal(spawn_reap(pids[i], &status[i]), 0);
	_cleanup_json_ json_t *doc = stored("/t8/", &rev);
	assert_non_null(doc);
	for (size_t i = 0; i < ELEMENTSOF(sets); i++) {
		const json_t *o = sets[i].section ? json_object_get(doc, sets[i].section) : doc;
		if (status[i] != 0)
			continue; /* it may give up after losing twice; it then wrote nothing */
		ok++;
		if (json_get_i64(o, sets[i].key, -1) != sets[i].value)
			fail_msg("%s succeeded but is lost: %s", sets[i].assignment,
			         json_dumps(doc, JSON_COMPACT));
	}
	printf("%zu of %zu concurrent sets went through\n", ok, ELEMENTSOF(sets));
	assert_true(ok >= 1);
}

/* Someone changes the policy while it is being edited: the edit is refused, theirs stays. */
static void test_edit_race(void **state)
{
	char body[1024];
	int64_t rev;

	snprintf(body, sizeof body,
	         "'%s' policy --prefix /t7/ set seed=7 || exit 9\n"
	         "sed -i 's/\"window\": 3,/\"window\": 5,/' \"$1\"",
	         cli_test_podmig);
	make_editor("racing", body);
	char *out = NULL;
	assert_int_not_equal(run("/t7/", &out, "edit", NULL), 0);
	assert_non_null(strstr(out, "changed in etcd while it was being edited"));
	free(out);
	_cleanup_json_ json_t *doc = stored("/t7/", &rev);
	assert_int_equal(json_get_i64(doc, "seed", 0), 7);
	assert_int_equal(json_get_i64(doc, "window", 0), 3);
}

static void test_reset(void **state)
{
	int64_t rev;
	assert_int_equal(run("/t6/", NULL, "set", "thresholds.cpu=70", NULL), 0);
	_cleanup_json_ json_t *doc = stored("/t6/", &rev);
	assert_non_null(doc);
	char *out = NULL;
	assert_int_equal(run("/t6/", &out, "reset", NULL), 0);
	assert_non_null(strstr(out, "defaults"));
	free(out);
	assert_null(stored("/t6/", &rev));
	_cleanup_json_ json_t *now = get_json("/t6/");
	assert_float_equal(threshold(now, "cpu"), 80, 0);
	assert_int_equal(run("/t6/", NULL, "reset", NULL), 0); /* nothing to delete: fine */
}

int main(int argc, char *argv[])
{
	if (!cli_test_args(argc, argv))
		return 2;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_get_defaults), cmocka_unit_test(test_set),
		cmocka_unit_test(test_set_invalid),  cmocka_unit_test(test_invalid_stored),
		cmocka_unit_test(test_edit),         cmocka_unit_test(test_concurrent_sets),
		cmocka_unit_test(test_edit_race),    cmocka_unit_test(test_reset),
	};
	return cmocka_run_group_tests(tests, cli_test_setup, cli_test_teardown);
}
