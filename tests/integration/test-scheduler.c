/* The scheduler on a 3-node local cluster (1 CPU and 2 GiB declared per node) with two
 * podmig-scheduler processes, real containers and real load: nobody types `podmig migrate`.
 *
 *   cpu        two cpuhogs and a counter push node1 over its CPU threshold: one hog moves
 *              off, node1 falls back under, no node ends over, nothing moves back and forth
 *              in the following minute; the record links to its decision
 *   memory     memhogs push node1 over its memory threshold: one moves, the one labelled
 *              podmig.migrate=false never does
 *   drain      `podmig drain node2` empties node2 onto the others; `undrain` lifts it
 *   observe    observe mode decides and stores decisions but moves nothing; a bad policy
 *              written past the CLI is refused and the last good one stays; the policy
 *              changes without a restart
 *   ha         the leader is SIGKILLed during an automatic migration: the other scheduler
 *              leads, the container ends on exactly one node, a new overload is handled
 *   retention  history and decisions are cut to the policy's counts, the newest kept
 *
 * Load measured on a shared 2-core machine is below a hog's nominal share, so thresholds
 * are set from what the collector reports once the hogs run (observe mode meanwhile).
 *
 * argv[1]: the podmig CLI. */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "json-util.h"
#include "macro.h"
#include "migrate-fixture.h"
#include "process-util.h"
#include "strutil.h"
#include "time-util.h"

#define API "/v5.0.0/libpod"

static ClusterFixture *cluster;
static const char *podmig;
static const char *const nodes[] = { "node1", "node2", "node3" };

static int setup(void **state)
{
	setenv("PODMIG_TEST_SCHEDULERS", "2", 1);
	if (cluster_fixture_up(3, &cluster) < 0)
		return -1;
	setenv("PODMIG_ETCD_ENDPOINTS", cluster_fixture_env(cluster, "PODMIG_ETCD_ENDPOINTS"), 1);
	return migrate_fixture_wait_nodes(podmig, 3, 30000) < 0 ? -1 : 0;
}

/* The schedulers' logs, the history and the decisions, for whoever reads a failure. */
static void dump_state(void)
{
	for (int k = 1; k <= 2; k++) {
		char key[64];
		snprintf(key, sizeof key, "PODMIG_SCHEDULER%d_LOG", k);
		const char *path = cluster_fixture_env(cluster, key);
		char *const tail[] = { (char *)"tail", (char *)"-n", (char *)"60", (char *)path,
			               NULL };
		printf("--- %s\n", path ?: key);
		fflush(stdout);
		int status;
		if (path)
			(void)spawn_wait(tail, NULL, &status);
	}
	static const char *const verbs[] = { "history", "decisions" };
	for (size_t i = 0; i < ELEMENTSOF(verbs); i++) {
		char *const argv[] = { (char *)podmig, (char *)verbs[i], NULL };
		int status;
		printf("--- podmig %s\n", verbs[i]);
		fflush(stdout);
		(void)spawn_wait(argv, NULL, &status);
	}
}

static int teardown(void **state)
{
	if (cluster)
		dump_state();
	cluster_fixture_down(cluster);
	cluster = NULL;
	return 0;
}

/* `podmig ARGS... --json` parsed; NULL if it failed. */
#define query(...) migrate_fixture_query(podmig, __VA_ARGS__)
/* `podmig policy set ASSIGNMENTS...`, which must succeed. */
#define policy_set(...) assert_int_equal(migrate_fixture_policy_set(podmig, __VA_ARGS__), 0)

/* The one node `name` runs on (NULL if none); fails if it runs on two. Podman may answer
 * an inspection with an error while the container is being removed (a source cleaning up
 * after a migration): that is asked again. */
static const char *running_on(const char *name)
{
	const char *where = NULL;
	for (size_t i = 0; i < ELEMENTSOF(nodes); i++) {
		int s = migrate_fixture_container_state(cluster, nodes[i], name);
		for (int tries = 0; s < 0 && s != -ENOENT && tries < 20; tries++) {
			sleep_usec(250 * USEC_PER_MSEC);
			s = migrate_fixture_container_state(cluster, nodes[i], name);
		}
		if (s < 0 && s != -ENOENT)
			fail_msg("cannot inspect %s on %s: %s", name, nodes[i], strerror(-s));
		if (s == 1) {
			if (where)
				fail_msg("%s runs on both %s and %s", name, where, nodes[i]);
			where = nodes[i];
		}
	}
	return where;
}

/* Removes name wherever it is (a node without it answers 404, which is fine). */
static void remove_everywhere(const char *name)
{
	for (size_t i = 0; i < ELEMENTSOF(nodes); i++)
		(void)cluster_fixture_container_remove(cluster, nodes[i], name);
	assert_null(running_on(name));
}

static void start(const char *node, const char *name, const char *image, const char *extra)
{
	assert_int_equal(migrate_fixture_start_container(cluster, podmig, node, name, image, extra),
	                 0);
}

/* Records of automatic (or drain) migrations in `podmig history`. */
static size_t automatic_count(const char *container)
{
	_cleanup_json_ json_t *all = query("history");
	size_t i, n = 0;
	json_t *r;
	json_array_foreach (all, i, r) {
		const char *reason = json_string_value(json_object_get(r, "reason"));
		if (!streq_ptr(reason, "manual") &&
		    (!container ||
		     streq_ptr(json_string_value(json_object_get(r, "container")), container)))
			n++;
	}
	return n;
}

/* The newest record whose container is one of `names`, waiting up to timeout_ms for one
 * in phase `phase` (NULL: any phase). */
static json_t *wait_record(const char *const *names, size_t n_names, const char *phase,
                           unsigned timeout_ms)
{
	uint64_t deadline = mono_msec() + timeout_ms;
	do {
		_cleanup_json_ json_t *all = query("history");
		size_t i;
		json_t *r;
		json_array_foreach (all, i, r) {
			const char *c = json_string_value(json_object_get(r, "container"));
			const char *p = json_string_value(json_object_get(r, "phase"));
			for (size_t k = 0; k < n_names; k++)
				if (streq_ptr(c, names[k]) && (!phase || streq_ptr(p, phase)))
					return json_incref(r);
		}
		usleep(200 * 1000);
	} while (mono_msec() < deadline);
	return NULL;
}

/* The plan's verdict for node: its state, and a resource's current percent. */
static char *verdict(const char *node, const char *resource, double *ret_percent)
{
	_cleanup_json_ json_t *plan = query("plan");
	size_t i;
	json_t *v;
	json_array_foreach (json_object_get(plan, "nodes"), i, v) {
		if (!streq_ptr(json_string_value(json_object_get(v, "node")), node))
			continue;
		json_t *res = json_object_get(json_object_get(v, "resources"), resource);
		if (ret_percent)
			*ret_percent = json_number_value(json_object_get(res, "percent"));
		return strdup(json_string_value(json_object_get(v, "state")) ?: "?");
	}
	return NULL;
}

/* A node's resource use in percent as the collector reports it, averaged over a few
 * seconds. */
static double node_percent(const char *node, const char *resource)
{
	double sum = 0;
	for (int i = 0; i < 5; i++) {
		double p = 0;
		free(verdict(node, resource, &p));
		sum += p;
		sleep(1);
	}
	return sum / 5;
}

static char *leader(void)
{
	_cleanup_json_ json_t *plan = query("plan");
	const char *l = json_string_value(json_object_get(plan, "leader"));
	return l ? strdup(l) : NULL;
}

static void test_cpu_overload(void **state)
{
	static const char *const hogs[] = { "hog-a", "hog-b" };
	char thr[64];

	policy_set("mode=observe", "window=3", "margin=10", "cooldown.node_sec=10",
	           "cooldown.container_sec=120", NULL);
	start("node1", "ctr", "localhost/podmig/counter", NULL);
	start("node1", "hog-a", "localhost/podmig/cpuhog", ",\"command\":[\"0.45\"]");
	start("node1", "hog-b", "localhost/podmig/cpuhog", ",\"command\":[\"0.45\"]");
	sleep(3);
	double load = node_percent("node1", "cpu");
	printf("node1 CPU with two hogs: %.1f%%\n", load);
	if (load < 50)
		fail_msg("two cpuhogs of 0.45 show as only %.1f%% of node1's CPU", load);
	/* Over with both hogs, and under threshold − margin (5) with one, each with room for
	 * the noise of a shared machine: at 60 % for two hogs, threshold 47, 13 points either
	 * way. */
	double threshold = load / 2 + 17;
	snprintf(thr, sizeof thr, "thresholds.cpu=%.0f", threshold);
	size_t before = automatic_count(NULL);
	policy_set("margin=5", thr, "mode=act", NULL);

	_cleanup_json_ json_t *rec = wait_record(hogs, 2, "done", 90000);
	if (!rec)
		fail_msg("no hog moved off node1 within 90 s (threshold %.0f%%)", threshold);
	const char *moved = json_string_value(json_object_get(rec, "container"));
	const char *target = json_string_value(json_object_get(rec, "target"));
	printf("%s moved to %s\n", moved, target);
	assert_string_equal(json_string_value(json_object_get(rec, "source")), "node1");
	assert_string_equal(json_string_value(json_object_get(rec, "reason")), "automatic");
	const char *decision = json_string_value(json_object_get(rec, "decision"));
	assert_non_null(decision);
	assert_string_equal(running_on(moved), target);
	assert_string_equal(running_on(streq(moved, "hog-a") ? "hog-b" : "hog-a"), "node1");
	assert_string_equal(running_on("ctr"), "node1");

	/* The decision is kept and says why. */
	_cleanup_json_ json_t *decisions = query("decisions");
	bool found = false;
	size_t i;
	json_t *d;
	json_array_foreach (decisions, i, d) {
		if (!streq_ptr(json_string_value(json_object_get(d, "id")), decision))
			continue;
		found = true;
		assert_string_equal(json_string_value(json_object_get(d, "node")), "node1");
		assert_string_equal(json_string_value(json_object_get(d, "outcome")), "migrate");
		assert_non_null(strstr(json_string_value(json_object_get(d, "why")) ?: "", moved));
	}
	assert_true(found);

	/* node1 falls back under its threshold, and the target is not over. */
	uint64_t deadline = mono_msec() + 30000;
	for (;;) {
		_cleanup_free_ char *s1 = verdict("node1", "cpu", NULL);
		if (streq_ptr(s1, "ok"))
			break;
		if (mono_msec() > deadline)
			fail_msg("node1 still %s 30 s after the move", s1);
		sleep(1);
	}
	double after = node_percent("node1", "cpu"), there = node_percent(target, "cpu");
	printf("after the move: node1 %.1f%%, %s %.1f%% (threshold %.0f%%)\n", after, target, there,
	       threshold);
	assert_true(after < threshold);
	assert_true(there < threshold);

	/* Nothing moves back and forth in the following minute. */
	size_t moves = automatic_count(NULL);
	assert_int_equal(moves, before + 1);
	sleep(60);
	assert_int_equal(automatic_count(NULL), moves);
	assert_string_equal(running_on(moved), target);

	remove_everywhere("hog-a");
	remove_everywhere("hog-b");
	remove_everywhere("ctr");
	policy_set("thresholds.cpu=80", "margin=10", NULL);
}

static void test_memory_overload(void **state)
{
	static const char *const movable[] = { "mem-a", "mem-b" };
	static const char *const pinned[] = { "mem-pinned" };
	char thr[64];

	policy_set("mode=observe", NULL);
	start("node1", "mem-pinned", "localhost/podmig/memhog",
	      ",\"command\":[\"400\"],\"labels\":{\"podmig.migrate\":\"false\"}");
	start("node1", "mem-a", "localhost/podmig/memhog", ",\"command\":[\"300\"]");
	start("node1", "mem-b", "localhost/podmig/memhog", ",\"command\":[\"200\"]");
	sleep(3);
	double load = node_percent("node1", "memory");
	printf("node1 memory with the memhogs: %.1f%%\n", load);
	assert_true(load > 30);
	/* Over now; shedding mem-a (about 15 % of 2 GiB) brings it under threshold − margin. */
	double threshold = load - 4;
	snprintf(thr, sizeof thr, "thresholds.memory=%.0f", threshold);
	policy_set(thr, "margin=5", "mode=act", NULL);

	_cleanup_json_ json_t *rec = wait_record(movable, 2, "done", 90000);
	if (!rec)
		fail_msg("no memhog moved off node1 within 90 s");
	const char *moved = json_string_value(json_object_get(rec, "container"));
	printf("%s moved to %s\n", moved, json_string_value(json_object_get(rec, "target")));
	assert_string_equal(running_on(moved), json_string_value(json_object_get(rec, "target")));
	sleep(10);
	/* The opted-out hog never moved, though it is the largest. */
	_cleanup_json_ json_t *never = wait_record(pinned, 1, NULL, 1);
	assert_null(never);
	assert_string_equal(running_on("mem-pinned"), "node1");

	policy_set("thresholds.memory=85", "margin=10", NULL);
	remove_everywhere("mem-a");
	remove_everywhere("mem-b");
}

static void test_drain(void **state)
{
	_cleanup_free_ char *out = NULL;
	start("node2", "drain-1", "localhost/podmig/counter", NULL);
	start("node2", "drain-2", "localhost/podmig/counter", NULL);

	int status = migrate_fixture_cli(podmig, &out, "drain", "node2", "--timeout", "180", NULL);
	assert_int_equal(status, 0);
	const char *w1 = running_on("drain-1"), *w2 = running_on("drain-2");
	assert_non_null(w1);
	assert_non_null(w2);
	assert_string_not_equal(w1, "node2");
	assert_string_not_equal(w2, "node2");
	_cleanup_free_ char *st = verdict("node2", "cpu", NULL);
	assert_string_equal(st, "drained");

	/* A drained node receives nothing: the plan never names it as a target. */
	free(out);
	out = NULL;
	assert_int_equal(migrate_fixture_cli(podmig, &out, "nodes", NULL), 0);
	assert_non_null(strstr(out, "drained: node2"));

	free(out);
	out = NULL;
	assert_int_equal(migrate_fixture_cli(podmig, &out, "undrain", "node2", NULL), 0);
	free(st);
	st = verdict("node2", "cpu", NULL);
	assert_string_not_equal(st, "drained");
	free(out);
	out = NULL;
	assert_int_equal(migrate_fixture_cli(podmig, &out, "nodes", NULL), 0);
	assert_null(strstr(out, "drained:"));

	/* Bad input changes nothing. */
	free(out);
	out = NULL;
	assert_int_not_equal(migrate_fixture_cli(podmig, &out, "drain", "nosuchnode", NULL), 0);
	assert_int_not_equal(migrate_fixture_cli(podmig, NULL, "drain", "../x", NULL), 0);

	remove_everywhere("drain-1");
	remove_everywhere("drain-2");
}

/* Writes key=value into the cluster's etcd with etcdctl, past the CLI's checks (with the
 * CLI's certificate when the cluster uses TLS). */
static void etcd_put_raw(const char *key, const char *value)
{
	const char *endpoints = cluster_fixture_env(cluster, "PODMIG_ETCD_ENDPOINTS");
	const char *ca = cluster_fixture_env(cluster, "PODMIG_TLS_CA");
	const char *cert = cluster_fixture_env(cluster, "PODMIG_TLS_CERT");
	const char *tls_key = cluster_fixture_env(cluster, "PODMIG_TLS_KEY");
	_cleanup_free_ char *e = NULL, *c1 = NULL, *c2 = NULL, *c3 = NULL;
	assert_true(asprintf(&e, "--endpoints=%s", endpoints) > 0);
	const char *argv[10] = { "etcdctl", e };
	size_t n = 2;
	if (ca && *ca && cert && *cert && tls_key && *tls_key) {
		assert_true(asprintf(&c1, "--cacert=%s", ca) > 0);
		assert_true(asprintf(&c2, "--cert=%s", cert) > 0);
		assert_true(asprintf(&c3, "--key=%s", tls_key) > 0);
		argv[n++] = c1;
		argv[n++] = c2;
		argv[n++] = c3;
	}
	argv[n++] = "put";
	argv[n++] = key;
	argv[n++] = value;
	argv[n] = NULL;
	char *const envp[] = { (char *)"ETCDCTL_API=3", (char *)"PATH=/usr/bin:/bin", NULL };
	SpawnOptions o = { .envp = envp, .quiet = true };
	int status = -1;
	assert_int_equal(spawn_wait((char *const *)argv, &o, &status), 0);
	assert_int_equal(status, 0);
}

/* Whether the leading scheduler's log has a line containing `text`. */
static bool leader_log_has(const char *text)
{
	_cleanup_free_ char *name = leader(), *data = NULL;
	char key[64];
	if (!name)
		return false;
	snprintf(key, sizeof key, "PODMIG_%s_LOG", name);
	for (char *p = key; *p; p++)
		*p = (char)(*p >= 'a' && *p <= 'z' ? *p - 'a' + 'A' : *p);
	const char *path = cluster_fixture_env(cluster, key);
	FILE *f = path ? fopen(path, "re") : NULL;
	if (!f)
		return false;
	size_t size = 0;
	FILE *m = open_memstream(&data, &size);
	char buf[4096];
	size_t k;
	while (m && (k = fread(buf, 1, sizeof buf, f)) > 0)
		fwrite(buf, 1, k, m);
	fclose(f);
	if (m)
		fclose(m);
	return data && strstr(data, text);
}

static void test_observe_mode(void **state)
{
	policy_set("mode=observe", "margin=1", "nodes.node3.thresholds.cpu=3", NULL);
	start("node3", "obs-hog", "localhost/podmig/cpuhog", ",\"command\":[\"0.3\"]");
	size_t before = automatic_count(NULL);

	/* A decision about node3, stored, in observe mode. */
	uint64_t deadline = mono_msec() + 60000;
	bool seen = false;
	while (!seen && mono_msec() < deadline) {
		_cleanup_json_ json_t *decisions = query("decisions");
		size_t i;
		json_t *d;
		json_array_foreach (decisions, i, d) {
			if (streq_ptr(json_string_value(json_object_get(d, "node")), "node3") &&
			    streq_ptr(json_string_value(json_object_get(d, "mode")), "observe"))
				seen = true;
		}
		if (!seen)
			sleep(1);
	}
	assert_true(seen);
	sleep(10);
	assert_int_equal(automatic_count(NULL), before);
	assert_string_equal(running_on("obs-hog"), "node3");

	/* A bad document written past the CLI is refused by the scheduler, and the last good
	 * policy (observe) stays in force. */
	etcd_put_raw("/podmig/policy", "{\"mode\":\"act\",\"thresholds\":{\"cpu\":500}}");
	deadline = mono_msec() + 20000;
	while (!leader_log_has("refused") && mono_msec() < deadline)
		sleep(1);
	assert_true(leader_log_has("refused"));
	sleep(5);
	assert_int_equal(automatic_count(NULL), before);
	_cleanup_free_ char *out = NULL;
	assert_int_equal(migrate_fixture_cli(podmig, &out, "policy", "reset", NULL), 0);

	/* Back to acting, without a restart: now it moves. */
	static const char *const names[] = { "obs-hog" };
	policy_set("margin=1", "nodes.node3.thresholds.cpu=3", "mode=act", NULL);
	_cleanup_json_ json_t *rec = wait_record(names, 1, "done", 60000);
	assert_non_null(rec);
	policy_set("nodes.node3.thresholds.cpu=", "margin=10", NULL);
	remove_everywhere("obs-hog");
}

static void test_leader_killed(void **state)
{
	static const char *const names[] = { "ha-mem" };
	static const char *const next[] = { "ha-next" };
	char key[64];

	_cleanup_free_ char *was = leader();
	assert_non_null(was);
	snprintf(key, sizeof key, "PODMIG_%s_PIDFILE", was);
	for (char *p = key; *p; p++)
		*p = (char)(*p >= 'a' && *p <= 'z' ? *p - 'a' + 'A' : *p);
	const char *pidfile = cluster_fixture_env(cluster, key);
	assert_non_null(pidfile);
	FILE *f = fopen(pidfile, "re");
	assert_non_null(f);
	int pid = 0;
	assert_int_equal(fscanf(f, "%d", &pid), 1);
	fclose(f);

	policy_set("mode=act", "cooldown.node_sec=5", NULL);
	start("node3", "ha-mem", "localhost/podmig/memhog", ",\"command\":[\"500\"]");
	sleep(3);
	policy_set("margin=5", "nodes.node3.thresholds.memory=10", NULL);
	_cleanup_json_ json_t *rec = wait_record(names, 1, NULL, 60000);
	assert_non_null(rec);
	assert_int_equal(kill(pid, SIGKILL), 0);
	printf("killed leader %s (pid %d) during migration %s (%s)\n", was, pid,
	       json_string_value(json_object_get(rec, "id")),
	       json_string_value(json_object_get(rec, "phase")));

	/* Another leads within the lease's TTL (5 s), with slack. */
	uint64_t deadline = mono_msec() + 30000;
	_cleanup_free_ char *now = NULL;
	for (;;) {
		free(now);
		now = leader();
		if (now && !streq(now, was))
			break;
		if (mono_msec() > deadline)
			fail_msg("no other scheduler leads 30 s after %s was killed", was);
		usleep(500 * 1000);
	}
	printf("%s leads now\n", now);

	/* The migration ends, and the container runs on exactly one node. */
	deadline = mono_msec() + 60000;
	for (;;) {
		_cleanup_json_ json_t *r = wait_record(names, 1, NULL, 1);
		const char *phase = json_string_value(json_object_get(r, "phase"));
		if (streq_ptr(phase, "done") || streq_ptr(phase, "rolled-back") ||
		    streq_ptr(phase, "failed"))
			break;
		if (mono_msec() > deadline)
			fail_msg("ha-mem's migration is still %s", phase);
		sleep(1);
	}
	assert_non_null(running_on("ha-mem"));
	/* Not started twice. */
	assert_int_equal(automatic_count("ha-mem"), 1);

	/* A new overload is handled by the new leader. */
	policy_set("nodes.node3.thresholds.memory=", "margin=10", NULL);
	start("node2", "ha-next", "localhost/podmig/memhog", ",\"command\":[\"300\"]");
	sleep(3);
	policy_set("margin=5", "nodes.node2.thresholds.memory=10", NULL);
	_cleanup_json_ json_t *moved = wait_record(next, 1, "done", 90000);
	if (!moved)
		fail_msg("the new leader did not relieve node2");
	policy_set("nodes.node2.thresholds.memory=", "margin=10", NULL);
}

/* History does not grow forever: the leader deletes final records and decisions beyond the
 * policy's counts (it checks every 30 s). */
static void test_retention(void **state)
{
	_cleanup_json_ json_t *before = query("history");
	assert_true(json_array_size(before) > 2);
	policy_set("retention.migrations=2", "retention.decisions=3", NULL);
	uint64_t deadline = mono_msec() + 90000;
	for (;;) {
		_cleanup_json_ json_t *h = query("history"), *d = query("decisions");
		if (h && d && json_array_size(h) <= 2 && json_array_size(d) <= 3)
			break;
		if (mono_msec() > deadline)
			fail_msg("history %zu, decisions %zu after 90 s (kept: 2, 3)",
			         json_array_size(h), json_array_size(d));
		sleep(2);
	}
	/* The newest are the ones kept. */
	_cleanup_json_ json_t *after = query("history");
	assert_string_equal(json_string_value(json_object_get(json_array_get(after, 0), "id")),
	                    json_string_value(json_object_get(json_array_get(before, 0), "id")));
}

int main(int argc, char *argv[])
{
	if (argc < 2) {
		fprintf(stderr, "usage: %s PODMIG_CLI\n", argv[0]);
		return 2;
	}
	podmig = argv[1];
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cpu_overload),  cmocka_unit_test(test_memory_overload),
		cmocka_unit_test(test_drain),         cmocka_unit_test(test_observe_mode),
		cmocka_unit_test(test_leader_killed), cmocka_unit_test(test_retention),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
