/* Running podmig as docs/deploy.md says, on a 3-node local cluster with real
 * Podman, CRIU, etcd (mutual TLS, etcd users) and agents, one scheduler:
 *
 *  - upgrading one node at a time: node1's agent speaks agent protocol 1,
 *    node2's the next and node3's the one after ($PODMIG_TEST_PROTOCOL, as
 *    builds of three releases would); each publishes its protocol in its info.
 *    A counter moves node1 → node2 → node3 (protocols 1 → 2 → 3, adjacent)
 *    and keeps counting; node3 → node1 (3 → 1) is refused by the source with
 *    a reason naming both protocols, before anything is recorded or stopped;
 *    and with node1's info forged to claim protocol 2, node1's agent itself
 *    refuses node3's transfer and the container stays on node3.
 *  - etcd is readable with stock tools: `etcdctl get --prefix` with the
 *    operator's certificate reads every key under the prefix, and each is
 *    the documented JSON of docs/etcd-keys.md with the documented fields:
 *    node info and status, migration records, a decision, the policy, a
 *    drain mark, the scheduler's leader key (and the migration orders still
 *    under their lease). A key docs/etcd-keys.md does not describe fails
 *    the test.
 *
 * argv[1]: the podmig CLI. */
#include <errno.h>
#include <openssl/evp.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "migrate-fixture.h"
#include "process-util.h"
#include "strutil.h"

#define PREFIX "/podmig/"

static ClusterFixture *cluster;
static const char *podmig;

static int setup(void **state)
{
	/* one scheduler: its leader key and decisions are read back below */
	setenv("PODMIG_TEST_SCHEDULERS", "1", 1);
	if (cluster_fixture_up(3, &cluster) < 0)
		return -1;
	return 0;
}

static int teardown(void **state)
{
	cluster_fixture_down(cluster);
	cluster = NULL;
	return 0;
}

/* ---- etcdctl ---- */

static char *base64_decode(const char *in, size_t *ret_len)
{
	size_t n = strlen(in);
	unsigned char *out = malloc(n / 4 * 3 + 4);
	assert_non_null(out);
	int len = EVP_DecodeBlock(out, (const unsigned char *)in, (int)n);
	assert_true(len >= 0);
	/* EVP_DecodeBlock counts the padding as zero bytes */
	while (n > 0 && in[n - 1] == '=') {
		n--;
		len--;
	}
	out[len] = 0;
	*ret_len = (size_t)len;
	return (char *)out;
}

/* Runs etcdctl with the operator's TLS files and ARGS; its stdout. */
static char *etcdctl(const char *const *args)
{
	const char *ca = cluster_fixture_env(cluster, "PODMIG_TLS_CA");
	const char *cert = cluster_fixture_env(cluster, "PODMIG_TLS_CERT");
	const char *key = cluster_fixture_env(cluster, "PODMIG_TLS_KEY");
	char a_endpoints[512], a_ca[512], a_cert[512], a_key[512];
	const char *argv[16] = { "etcdctl", a_endpoints };
	size_t n = 2;
	snprintf(a_endpoints, sizeof a_endpoints, "--endpoints=%s",
	         cluster_fixture_env(cluster, "PODMIG_ETCD_ENDPOINTS"));
	if (ca && cert && key) {
		snprintf(a_ca, sizeof a_ca, "--cacert=%s", ca);
		snprintf(a_cert, sizeof a_cert, "--cert=%s", cert);
		snprintf(a_key, sizeof a_key, "--key=%s", key);
		argv[n++] = a_ca;
		argv[n++] = a_cert;
		argv[n++] = a_key;
	}
	for (size_t i = 0; args[i] && n + 1 < sizeof argv / sizeof *argv; i++)
		argv[n++] = args[i];
	char *env[] = { "ETCDCTL_API=3", "PATH=/usr/sbin:/usr/bin:/sbin:/bin", NULL };
	SpawnOptions o = { .envp = env };
	char *out = NULL;
	int status;
	assert_int_equal(spawn_capture((char *const *)argv, &o, 64 << 20, &out, &status), 0);
	if (status != 0)
		fail_msg("etcdctl %s failed (%d): %s", args[0], status, out);
	return out;
}

/* Every key under PREFIX as etcdctl reads it (with the operator's TLS
 * files): an object key → {"value": the text, "lease": whether it has one}. */
static json_t *etcdctl_get_prefix(void)
{
	char *out = etcdctl((const char *const[]){ "get", "--prefix", PREFIX, "-w", "json", NULL });
	json_error_t err;
	/* its header's cluster and member ids are unsigned 64-bit: past jansson's
	 * integers, so numbers are read as reals (keys and values are base64) */
	json_t *doc = json_loads(out, JSON_DECODE_INT_AS_REAL, &err);
	if (!doc)
		fail_msg("etcdctl -w json printed no JSON (%s): %.300s", err.text, out);
	free(out);

	json_t *all = json_object(), *kv;
	size_t i;
	json_array_foreach (json_object_get(doc, "kvs"), i, kv) {
		size_t klen, vlen;
		char *k = base64_decode(json_string_value(json_object_get(kv, "key")), &klen);
		const char *v64 = json_string_value(json_object_get(kv, "value"));
		char *v = base64_decode(v64 ? v64 : "", &vlen);
		json_object_set_new(
		        all, k,
		        json_pack("{s:s#, s:b}", "value", v, vlen, "lease",
		                  json_number_value(json_object_get(kv, "lease")) != 0));
		free(k);
		free(v);
	}
	json_decref(doc);
	return all;
}

/* The value of `key` parsed as JSON, or NULL if there is no such key. */
static json_t *etcd_json(json_t *all, const char *key)
{
	json_t *e = json_object_get(all, key);
	if (!e)
		return NULL;
	json_error_t err;
	json_t *doc = json_loads(json_string_value(json_object_get(e, "value")), 0, &err);
	if (!doc || !json_is_object(doc))
		fail_msg("%s: not a JSON object (%s)", key, err.text);
	return doc;
}

/* ---- upgrading one node at a time ---- */

static void set_agent_env(const char *node, const char *text)
{
	char path[512];
	snprintf(path, sizeof path, "%s/nodes/%s/agent.env",
	         cluster_fixture_env(cluster, "PODMIG_CLUSTER_DIR"), node);
	FILE *f = fopen(path, "we");
	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
}

/* Waits until each node's info says protocol want[k] (nodes 1..3). */
static void wait_protocols(const int want[3])
{
	for (int tries = 0;; tries++) {
		_cleanup_(json_decrefp) json_t *all = etcdctl_get_prefix();
		bool ok = true;
		for (int k = 0; k < 3; k++) {
			char key[128];
			snprintf(key, sizeof key, PREFIX "nodes/node%d/info", k + 1);
			json_t *info = etcd_json(all, key);
			json_t *p = json_object_get(info, "protocol");
			ok = ok && json_is_integer(p) && json_integer_value(p) == want[k];
			json_decref(info);
		}
		if (ok)
			return;
		if (tries == 60)
			fail_msg("the nodes do not publish protocols %d, %d, %d", want[0], want[1],
			         want[2]);
		sleep(1);
	}
}

/* Rewrites node's info in etcd, under the lease it lives under, with
 * "protocol": protocol (the agent republishes it only with a new lease). */
static void forge_protocol(const char *node, int protocol)
{
	char key[128], lease_hex[32] = "", lease_arg[48];
	snprintf(key, sizeof key, PREFIX "nodes/%s/info", node);
	_cleanup_free_ char *fields =
	        etcdctl((const char *const[]){ "get", key, "-w", "fields", NULL });
	const char *p = strstr(fields, "\"Lease\" : ");
	assert_non_null(p);
	unsigned long long lease = strtoull(p + strlen("\"Lease\" : "), NULL, 10);
	assert_true(lease != 0);
	snprintf(lease_hex, sizeof lease_hex, "%llx", lease);
	_cleanup_free_ char *value =
	        etcdctl((const char *const[]){ "get", key, "--print-value-only", NULL });
	json_error_t err;
	_cleanup_(json_decrefp) json_t *info = json_loads(value, JSON_DISABLE_EOF_CHECK, &err);
	assert_non_null(info);
	json_object_set_new(info, "protocol", json_integer(protocol));
	_cleanup_free_ char *text = json_dumps(info, JSON_COMPACT);
	snprintf(lease_arg, sizeof lease_arg, "--lease=%s", lease_hex);
	free(etcdctl((const char *const[]){ "put", lease_arg, key, text, NULL }));
}

static int container_state(const char *node, const char *name)
{
	int state = migrate_fixture_container_state(cluster, node, name);
	assert_true(state >= 0 || state == -ENOENT);
	return state == -ENOENT ? -1 : state;
}

static void migrate_ok(const char *name, const char *from, const char *to, uint64_t *counter)
{
	char *out = NULL;
	int r = migrate_fixture_cli(podmig, &out, "migrate", name, "--to", to, NULL);
	if (r != 0)
		fail_msg("migrating %s %s → %s failed: %s", name, from, to, out);
	free(out);
	assert_int_equal(container_state(to, name), 1);
	assert_int_equal(container_state(from, name), -1);
	json_t *rec = migrate_fixture_last_record(podmig, name);
	assert_non_null(rec);
	assert_string_equal(migrate_fixture_record_phase(rec), "done");
	json_decref(rec);
	sleep(1);
	uint64_t after = 0;
	assert_int_equal(migrate_fixture_counter_check(cluster, to, name, *counter, &after), 0);
	*counter = after;
	assert_int_equal(migrate_fixture_wait_published(podmig, to, name, 30000), 0);
}

static void test_upgrade_one_node_at_a_time(void **state)
{
	static const int upgraded[3] = { 1, 2, 3 };
	set_agent_env("node1", "PODMIG_TEST_PROTOCOL=1\n");
	set_agent_env("node2", "PODMIG_TEST_PROTOCOL=2\n");
	set_agent_env("node3", "PODMIG_TEST_PROTOCOL=3\n");
	assert_int_equal(cluster_fixture_repair(cluster, 3), 0);
	wait_protocols(upgraded);
	assert_int_equal(migrate_fixture_wait_nodes(podmig, 3, 60000), 0);

	assert_int_equal(migrate_fixture_start_container(cluster, podmig, "node1", "upgrade-c",
	                                                 "localhost/podmig/counter", ""),
	                 0);
	sleep(1);
	uint64_t counter = 0;
	assert_int_equal(migrate_fixture_counter_check(cluster, "node1", "upgrade-c", 0, &counter),
	                 0);

	/* adjacent protocols migrate, both ways of the rule */
	migrate_ok("upgrade-c", "node1", "node2", &counter);
	migrate_ok("upgrade-c", "node2", "node3", &counter);
	json_t *rec = migrate_fixture_last_record(podmig, "upgrade-c");
	assert_non_null(rec);
	const char *last_id = json_string_value(json_object_get(rec, "id"));
	char id[64];
	snprintf(id, sizeof id, "%s", last_id ? last_id : "");
	json_decref(rec);

	/* A target checks too: node1's info, rewritten under its own lease by
	 * the operator, claims protocol 2, so node3's agent (protocol 3) goes
	 * ahead; node1's agent (protocol 1) refuses the transfer from the header,
	 * and the container runs on node3 as before. */
	forge_protocol("node1", 2);
	char *out = NULL;
	assert_int_not_equal(
	        migrate_fixture_cli(podmig, &out, "migrate", "upgrade-c", "--to", "node1", NULL),
	        0);
	if (!strstr(out, "node1 speaks agent protocol 1") || !strstr(out, "not 3 from node node3"))
		fail_msg("the target's refusal does not say why: %s", out);
	free(out);
	rec = migrate_fixture_last_record(podmig, "upgrade-c");
	assert_non_null(rec);
	const char *phase = migrate_fixture_record_phase(rec);
	if (!streq(phase, "failed") && !streq(phase, "rolled-back"))
		fail_msg("the refused migration ended %s", phase);
	snprintf(id, sizeof id, "%s", json_string_value(json_object_get(rec, "id")));
	json_decref(rec);
	assert_int_equal(container_state("node3", "upgrade-c"), 1);
	assert_int_equal(container_state("node1", "upgrade-c"), -1);
	forge_protocol("node1", 1);

	/* two apart: refused by the source before anything begins */
	assert_int_not_equal(
	        migrate_fixture_cli(podmig, &out, "migrate", "upgrade-c", "--to", "node1", NULL),
	        0);
	if (!strstr(out, "protocol 1") || !strstr(out, "protocol 3") ||
	    !strstr(out, "at most one apart"))
		fail_msg("the refusal does not say why: %s", out);
	free(out);
	rec = migrate_fixture_last_record(podmig, "upgrade-c");
	assert_non_null(rec);
	assert_string_equal(json_string_value(json_object_get(rec, "id")), id); /* no new record */
	json_decref(rec);
	assert_int_equal(container_state("node3", "upgrade-c"), 1);
	assert_int_equal(container_state("node1", "upgrade-c"), -1);
	sleep(1);
	uint64_t after = 0;
	assert_int_equal(
	        migrate_fixture_counter_check(cluster, "node3", "upgrade-c", counter, &after), 0);
	assert_true(after > counter);
}

/* ---- etcd with stock tools ---- */

static void expect_type(const char *key, const json_t *doc, const char *field, const char *type)
{
	json_t *v = json_object_get(doc, field);
	bool ok = streq(type, "string")        ? json_is_string(v)
	          : streq(type, "integer")     ? json_is_integer(v)
	          : streq(type, "number")      ? json_is_number(v)
	          : streq(type, "boolean")     ? json_is_boolean(v)
	          : streq(type, "object")      ? json_is_object(v)
	          : streq(type, "array")       ? json_is_array(v)
	          : streq(type, "null|string") ? (json_is_null(v) || json_is_string(v))
	                                       : false;
	if (!ok)
		fail_msg("%s: \"%s\" is not a %s as docs/etcd-keys.md says", key, field, type);
}

static void expect_fields(const char *key, const json_t *doc, const char *const spec[][2])
{
	for (size_t i = 0; spec[i][0]; i++)
		expect_type(key, doc, spec[i][0], spec[i][1]);
}

static void expect_one_of(const char *key, const json_t *doc, const char *field,
                          const char *const values[])
{
	const char *v = json_string_value(json_object_get(doc, field));
	for (size_t i = 0; v && values[i]; i++)
		if (streq(v, values[i]))
			return;
	fail_msg("%s: \"%s\" is '%s', none of the documented values", key, field, v ? v : "?");
}

static void check_info(const char *key, const char *node, const json_t *d)
{
	static const char *const spec[][2] = {
		{ "name", "string" },
		{ "grpc_address", "string" },
		{ "version", "string" },
		{ "protocol", "integer" },
		{ "podman_version", "null|string" },
		{ "accounting", "string" },
		{ "capacity", "object" },
		{ "link_bandwidth_bytes_per_sec", "integer" },
		{ "criu", "object" },
		{ "labels", "object" },
		{ "started_at", "integer" },
		{},
	};
	static const char *const criu[][2] = {
		{ "probed", "boolean" },
		{ "version", "string" },
		{ "pre_copy", "boolean" },
		{ "lazy_pages", "boolean" },
		{},
	};
	static const char *const capacity[][2] = { { "cpus", "number" },
		                                   { "memory_bytes", "integer" },
		                                   {} };
	expect_fields(key, d, spec);
	expect_fields(key, json_object_get(d, "criu"), criu);
	expect_fields(key, json_object_get(d, "capacity"), capacity);
	assert_string_equal(json_string_value(json_object_get(d, "name")), node);
	expect_one_of(key, d, "accounting", (const char *const[]){ "host", "containers", NULL });
}

static void check_status(const char *key, const json_t *d)
{
	static const char *const spec[][2] = {
		{ "timestamp_usec", "integer" },
		{ "time", "string" },
		{ "interval_usec", "integer" },
		{ "accounting", "string" },
		{ "cpu", "object" },
		{ "memory", "object" },
		{ "network", "object" },
		{ "podman", "object" },
		{ "containers", "array" },
		{ "recent", "array" },
		{},
	};
	static const char *const cpu[][2] = { { "used_cores", "number" },
		                              { "percent", "number" },
		                              { "capacity_cores", "number" },
		                              { "load", "array" },
		                              {} };
	static const char *const memory[][2] = { { "used_bytes", "integer" },
		                                 { "available_bytes", "integer" },
		                                 { "capacity_bytes", "integer" },
		                                 { "percent", "number" },
		                                 {} };
	static const char *const network[][2] = { { "rx_bytes_per_sec", "number" },
		                                  { "tx_bytes_per_sec", "number" },
		                                  { "link_bandwidth_bytes_per_sec", "integer" },
		                                  { "interfaces", "array" },
		                                  {} };
	static const char *const podman[][2] = { { "ok", "boolean" },
		                                 { "error", "null|string" },
		                                 { "stale", "boolean" },
		                                 { "answered_usec", "integer" },
		                                 {} };
	static const char *const container[][2] = {
		{ "id", "string" },
		{ "name", "string" },
		{ "image", "string" },
		{ "state", "string" },
		{ "labels", "object" },
		{ "started_at", "integer" },
		{},
	};
	static const char *const sample[][2] = {
		{ "t", "integer" },
		{ "cpu", "number" },
		{ "memory", "number" },
		{ "network", "number" },
		{},
	};
	expect_fields(key, d, spec);
	expect_fields(key, json_object_get(d, "cpu"), cpu);
	expect_fields(key, json_object_get(d, "memory"), memory);
	expect_fields(key, json_object_get(d, "network"), network);
	expect_fields(key, json_object_get(d, "podman"), podman);
	assert_true(json_is_true(json_object_get(json_object_get(d, "podman"), "ok")));
	size_t i;
	json_t *e;
	json_array_foreach (json_object_get(d, "containers"), i, e)
		expect_fields(key, e, container);
	assert_true(json_array_size(json_object_get(d, "recent")) >= 1);
	assert_true(json_array_size(json_object_get(d, "recent")) <= 16);
	json_array_foreach (json_object_get(d, "recent"), i, e)
		expect_fields(key, e, sample);
}

static void check_migration(const char *key, const char *id, const json_t *d)
{
	static const char *const spec[][2] = {
		{ "id", "string" },
		{ "container", "string" },
		{ "source", "string" },
		{ "target", "string" },
		{ "image", "string" },
		{ "reason", "string" },
		{ "mode", "string" },
		{ "phase", "string" },
		{ "phase_times_ms", "object" },
		{ "bytes", "integer" },
		{ "downtime_ms", "integer" },
		{ "error", "null|string" },
		{},
	};
	expect_fields(key, d, spec);
	assert_string_equal(json_string_value(json_object_get(d, "id")), id);
	expect_one_of(key, d, "reason",
	              (const char *const[]){ "manual", "automatic", "drain", NULL });
	expect_one_of(key, d, "mode", (const char *const[]){ "stop-and-copy", "pre-copy", NULL });
	expect_one_of(key, d, "phase",
	              (const char *const[]){ "planned", "checkpointing", "transferring",
	                                     "restoring", "done", "rolled-back", "failed", NULL });
	json_t *times = json_object_get(d, "phase_times_ms");
	assert_true(json_is_integer(json_object_get(times, "planned")));
	if (streq(json_string_value(json_object_get(d, "phase")), "done")) {
		assert_true(json_is_integer(json_object_get(times, "done")));
		assert_true(json_integer_value(json_object_get(d, "bytes")) > 0);
	}
}

static void check_decision(const char *key, const char *id, const json_t *d)
{
	static const char *const spec[][2] = {
		{ "id", "string" },        { "time_usec", "integer" }, { "node", "string" },
		{ "trigger", "object" },   { "outcome", "string" },    { "why", "string" },
		{ "candidates", "array" }, { "moves", "array" },       {},
	};
	expect_fields(key, d, spec);
	assert_string_equal(json_string_value(json_object_get(d, "id")), id);
	expect_one_of(key, json_object_get(d, "trigger"), "kind",
	              (const char *const[]){ "overload", "drain", NULL });
	expect_one_of(key, d, "outcome",
	              (const char *const[]){ "migrate", "nothing-fits", "no-candidate", "deferred",
	                                     NULL });
}

static void check_policy(const char *key, const json_t *d)
{
	static const char *const spec[][2] = {
		{ "mode", "string" },     { "thresholds", "object" },
		{ "window", "integer" },  { "margin", "number" },
		{ "cooldown", "object" }, { "concurrency", "object" },
		{ "solver", "string" },   {},
	};
	expect_fields(key, d, spec);
	/* what this test set */
	json_t *cpu = json_object_get(json_object_get(d, "thresholds"), "cpu");
	assert_true(json_is_number(cpu));
	assert_true(json_number_value(cpu) == 95);
}

/* A migration order: present for its lease's 120 s after a migration was
 * started. */
static void check_order(const char *key, const char *id, const json_t *d, bool lease)
{
	static const char *const spec[][2] = {
		{ "id", "string" },
		{ "container", "string" },
		{ "source", "string" },
		{ "target", "string" },
		{ "reason", "string" },
		{ "decision", "null|string" },
		{ "force", "boolean" },
		{ "mode", "string" },
		{ "by", "string" },
		{ "created_ms", "integer" },
		{},
	};
	expect_fields(key, d, spec);
	assert_string_equal(json_string_value(json_object_get(d, "id")), id);
	expect_one_of(key, d, "reason",
	              (const char *const[]){ "manual", "automatic", "drain", NULL });
	expect_one_of(
	        key, d, "mode",
	        (const char *const[]){ "auto", "stop-and-copy", "pre-copy", "page-server", NULL });
	if (!lease)
		fail_msg("%s: a migration order without a lease", key);
}

static bool scan(json_t *all, unsigned seen[9], bool final)
{
	enum { INFO, STATUS, MIGRATION, DECISION, POLICY, DRAIN, LEADER, LOCK, ORDER };
	const char *key;
	json_t *e;
	memset(seen, 0, 9 * sizeof *seen);
	json_object_foreach (all, key, e) {
		const char *rest = startswith(key, PREFIX), *p;
		const char *value = json_string_value(json_object_get(e, "value"));
		bool lease = json_is_true(json_object_get(e, "lease"));
		assert_non_null(rest);
		if ((p = startswith(rest, "nodes/"))) {
			char node[128];
			const char *slash = strchr(p, '/');
			assert_non_null(slash);
			snprintf(node, sizeof node, "%.*s", (int)(slash - p), p);
			/* a node's keys live under its lease (docs/etcd-keys.md) */
			assert_true(lease);
			json_t *d = etcd_json(all, key);
			if (streq(slash, "/info")) {
				check_info(key, node, d);
				seen[INFO]++;
			} else if (streq(slash, "/status")) {
				check_status(key, d);
				seen[STATUS]++;
			} else
				fail_msg("%s: a key docs/etcd-keys.md does not describe", key);
			json_decref(d);
		} else if ((p = startswith(rest, "migrations/"))) {
			json_t *d = etcd_json(all, key);
			check_migration(key, p, d);
			json_decref(d);
			seen[MIGRATION]++;
		} else if ((p = startswith(rest, "decisions/"))) {
			json_t *d = etcd_json(all, key);
			check_decision(key, p, d);
			json_decref(d);
			seen[DECISION]++;
		} else if (streq(rest, "policy")) {
			json_t *d = etcd_json(all, key);
			check_policy(key, d);
			json_decref(d);
			seen[POLICY]++;
		} else if ((p = startswith(rest, "drain/"))) {
			json_t *d = etcd_json(all, key);
			assert_true(json_is_integer(json_object_get(d, "since_usec")));
			assert_true(json_is_string(json_object_get(d, "by")));
			json_decref(d);
			seen[DRAIN]++;
		} else if ((p = startswith(rest, "scheduler/leader/"))) {
			json_t *d = etcd_json(all, key);
			assert_true(json_is_string(json_object_get(d, "name")));
			assert_true(json_is_integer(json_object_get(d, "pid")));
			assert_true(lease);
			json_decref(d);
			seen[LEADER]++;
		} else if ((p = startswith(rest, "orders/"))) {
			json_t *d = etcd_json(all, key);
			check_order(key, p, d, lease);
			json_decref(d);
			seen[ORDER]++;
		} else if ((p = startswith(rest, "locks/containers/"))) {
			/* the record's id, as text */
			assert_non_null(startswith(value, "m-"));
			seen[LOCK]++;
		} else
			fail_msg("%s: a key docs/etcd-keys.md does not describe", key);
	}
	bool all_kinds = seen[INFO] == 3 && seen[STATUS] == 3 && seen[MIGRATION] >= 2 &&
	                 seen[DECISION] >= 1 && seen[POLICY] == 1 && seen[DRAIN] == 1 &&
	                 seen[LEADER] == 1;
	if (final && !all_kinds)
		fail_msg("not every kind of key is there: %u info, %u status, %u migrations, %u "
		         "decisions, %u policy, %u drain marks, %u leader keys",
		         seen[INFO], seen[STATUS], seen[MIGRATION], seen[DECISION], seen[POLICY],
		         seen[DRAIN], seen[LEADER]);
	return all_kinds;
}

static void test_etcd_with_stock_tools(void **state)
{
	char *out = NULL;
	/* a policy, and a drain of the node left empty (node2): the scheduler
	 * decides about it, so a decision is stored */
	assert_int_equal(
	        migrate_fixture_cli(podmig, &out, "policy", "set", "thresholds.cpu=95", NULL), 0);
	free(out);
	assert_int_equal(container_state("node2", "upgrade-c"), -1);
	assert_int_equal(migrate_fixture_cli(podmig, &out, "drain", "node2", "--no-wait", NULL), 0);
	free(out);

	unsigned seen[9];
	for (int tries = 0;; tries++) {
		_cleanup_(json_decrefp) json_t *all = etcdctl_get_prefix();
		if (scan(all, seen, tries == 30))
			break;
		sleep(1);
	}
	print_message("etcdctl read %u node infos, %u statuses, %u migration records, %u "
	              "decisions, %u migration orders, the policy, a drain mark and the leader "
	              "key: all as documented\n",
	              seen[0], seen[1], seen[2], seen[3], seen[8]);
	assert_int_equal(migrate_fixture_cli(podmig, &out, "undrain", "node2", NULL), 0);
	free(out);
}

int main(int argc, char *argv[])
{
	if (argc != 2) {
		fprintf(stderr, "usage: test-deploy PODMIG\n");
		return 2;
	}
	podmig = argv[1];
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_upgrade_one_node_at_a_time),
		cmocka_unit_test(test_etcd_with_stock_tools),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
