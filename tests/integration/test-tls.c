/* Mutual TLS across a 2-node local cluster (`local-cluster up --tls`): the
 * CLI with its certificate lists the nodes and moves a counter from node1 to
 * node2 (agent to agent over mutual TLS, the counter continuing); etcd
 * refuses the CLI without a certificate or with one from another CA; an
 * agent refuses calls without a certificate, with one from another CA and
 * in plaintext, and nothing changes (the container still runs on node1, no
 * migration record).
 *
 * argv[1]: the podmig CLI. */
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
#include <jansson.h>

#include "agent.pb-c.h"
#include "cluster-fixture.h"
#include "macro.h"
#include "migrate-fixture.h"
#include "process-util.h"
#include "rpc.h"
#include "strutil.h"

#define API "/v5.0.0/libpod"

static ClusterFixture *cluster;
static const char *podmig;
static char other_dir[] = "/tmp/podmig-test-tls-XXXXXX";
static char other_cert[256], other_key[256];

static int setup(void **state)
{
	setenv("PODMIG_TEST_CLUSTER_ID", "7", 0);
	setenv("PODMIG_TEST_CLUSTER_TLS", "1", 1);
	if (cluster_fixture_up(2, &cluster) < 0)
		return -1;
	static const char *const keys[] = { "PODMIG_ETCD_ENDPOINTS", "PODMIG_TLS_CA",
		                            "PODMIG_TLS_CERT", "PODMIG_TLS_KEY" };
	for (size_t i = 0; i < ELEMENTSOF(keys); i++) {
		const char *v = cluster_fixture_env(cluster, keys[i]);
		if (!v) {
			fprintf(stderr, "local-cluster env gives no %s\n", keys[i]);
			return -1;
		}
		setenv(keys[i], v, 1);
	}
	if (!startswith(getenv("PODMIG_ETCD_ENDPOINTS"), "https://"))
		return -1;

	/* A certificate of the right role, from a CA the cluster does not know. */
	if (!mkdtemp(other_dir))
		return -1;
	char *const certs[] = { (char *)PODMIG_SOURCE_ROOT "/scripts/make-certs", other_dir,
		                (char *)"cli:intruder", NULL };
	int status = -1;
	if (spawn_wait(certs, &(SpawnOptions){ .quiet = true }, &status) < 0 || status != 0)
		return -1;
	snprintf(other_cert, sizeof other_cert, "%s/cli-intruder.pem", other_dir);
	snprintf(other_key, sizeof other_key, "%s/cli-intruder.key", other_dir);
	rpc_global_init();
	return 0;
}

static int teardown(void **state)
{
	rpc_global_shutdown();
	cluster_fixture_down(cluster);
	cluster = NULL;
	char *const rm[] = { (char *)"rm", (char *)"-rf", other_dir, NULL };
	int status;
	spawn_wait(rm, NULL, &status);
	return 0;
}

/* The shared helpers (fixture/migrate-fixture.h), with this test's CLI. */
#define run_podmig(out, ...) migrate_fixture_cli(podmig, out, __VA_ARGS__)

/* Container state on a node: 1 running, 0 exists but not running, -1 absent. */
static int container_state(const char *node, const char *name)
{
	int state = migrate_fixture_container_state(cluster, node, name);
	assert_true(state >= 0 || state == -ENOENT);
	return state == -ENOENT ? -1 : state;
}

static void counter_samples(const char *node, const char *name, CounterSample **v, size_t *n)
{
	assert_int_equal(migrate_fixture_counter_samples(cluster, node, name, v, n), 0);
}

static void start_counter(const char *node, const char *name)
{
	assert_int_equal(migrate_fixture_start_container(cluster, podmig, node, name,
	                                                 "localhost/podmig/counter", NULL),
	                 0);
}

/* The number of migration records for container in `podmig history`. */
static size_t records_of(const char *container)
{
	char *out = NULL;
	assert_int_equal(run_podmig(&out, "history", "--json", NULL), 0);
	json_t *all = json_loads(out, 0, NULL);
	free(out);
	assert_non_null(all);
	size_t k, n = 0;
	json_t *rec;
	json_array_foreach (all, k, rec)
		n += streq_ptr(json_string_value(json_object_get(rec, "container")), container);
	json_decref(all);
	return n;
}

static void test_nodes_with_cli_certificate(void **state)
{
	/* Both agents publish within a few seconds of coming up. */
	size_t n = 0;
	for (int i = 0; i < 50 && n < 2; i++) {
		char *out = NULL;
		assert_int_equal(run_podmig(&out, "nodes", "--json", NULL), 0);
		json_t *nodes = json_loads(out, 0, NULL);
		free(out);
		assert_true(json_is_array(nodes));
		n = json_array_size(nodes);
		json_decref(nodes);
		if (n < 2)
			usleep(200 * 1000);
	}
	assert_int_equal(n, 2);
}

/* Runs `podmig nodes` with PODMIG_TLS_CERT/KEY unset (and the given extra
 * arguments); it must fail, saying something about TLS. */
static void nodes_refused(const char *arg, const char *arg2, const char *arg3, const char *arg4)
{
	_cleanup_free_ char *cert = strdup(getenv("PODMIG_TLS_CERT"));
	_cleanup_free_ char *key = strdup(getenv("PODMIG_TLS_KEY"));
	unsetenv("PODMIG_TLS_CERT");
	unsetenv("PODMIG_TLS_KEY");
	char *out = NULL;
	int status = run_podmig(&out, "nodes", arg, arg2, arg3, arg4, NULL);
	setenv("PODMIG_TLS_CERT", cert, 1);
	setenv("PODMIG_TLS_KEY", key, 1);
	assert_int_not_equal(status, 0);
	assert_non_null(strstr(out, "cannot read the cluster from etcd"));
	assert_non_null(strstr(out, "over TLS"));
	free(out);
}

static void test_etcd_refuses_client_without_valid_certificate(void **state)
{
	/* no certificate at all */
	nodes_refused(NULL, NULL, NULL, NULL);
	/* a certificate from another CA */
	nodes_refused("--tls-cert", other_cert, "--tls-key", other_key);
	/* plaintext to etcd's TLS port */
	char endpoint[128];
	snprintf(endpoint, sizeof endpoint, "http://%s",
	         getenv("PODMIG_ETCD_ENDPOINTS") + strlen("https://"));
	assert_int_not_equal(run_podmig(NULL, "nodes", "--etcd", endpoint, NULL), 0);
}

static void test_counter_moves_over_tls(void **state)
{
	start_counter("node1", "count");
	sleep(1);
	CounterSample *v = NULL;
	size_t n = 0;
	counter_samples("node1", "count", &v, &n);
	assert_true(n > 0);
	uint64_t before = v[n - 1].counter;
	free(v);

	assert_int_equal(run_podmig(NULL, "migrate", "count", "--to", "node2", NULL), 0);
	assert_int_equal(container_state("node2", "count"), 1);
	assert_int_equal(container_state("node1", "count"), -1);
	sleep(1);
	counter_samples("node2", "count", &v, &n);
	assert_true(n > 0);
	assert_true(v[n - 1].counter > before);
	for (size_t i = 1; i < n; i++)
		assert_int_equal(v[i].counter, v[i - 1].counter + 1);
	free(v);
	assert_int_equal(records_of("count"), 1);
}

/* Calls node1's agent directly with client options `o`: Migrate `container`
 * to node2 (streaming), then Info (unary), each on a channel of its own.
 * Both must fail with UNAVAILABLE (the connection is refused). */
static void agent_refuses(const RpcOptions *o, const char *container)
{
	const char *target = cluster_fixture_env(cluster, "PODMIG_NODE1_AGENT");
	assert_non_null(target);
	RpcStatus st = {};

	_cleanup_(rpc_channel_freep) RpcChannel *ch = NULL;
	_cleanup_(rpc_stream_freep) RpcStream *s = NULL;
	assert_int_equal(rpc_channel_new(target, o, &ch), 0);
	Podmig__V1__MigrateRequest req = PODMIG__V1__MIGRATE_REQUEST__INIT;
	req.container = (char *)container;
	req.target_node = (char *)"node2";
	req.reason = (char *)"manual";
	assert_int_equal(rpc_stream_open(ch, &podmig__v1__agent__descriptor, "Migrate", &s), 0);
	if (rpc_stream_send(s, &req.base) >= 0 && rpc_stream_close_send(s) >= 0)
		for (;;) {
			_cleanup_message_ ProtobufCMessage *m = NULL;
			if (rpc_stream_recv(s, 60 * RPC_USEC_PER_SEC, &m) <= 0)
				break;
		}
	assert_true(rpc_stream_finish(s, &st) < 0);
	printf("Migrate: %s: %s\n", rpc_code_to_string(st.code), st.message);
	assert_int_equal(st.code, RPC_UNAVAILABLE);

	_cleanup_(rpc_channel_freep) RpcChannel *ch2 = NULL;
	assert_int_equal(rpc_channel_new(target, o, &ch2), 0);
	Podmig__V1__InfoRequest info = PODMIG__V1__INFO_REQUEST__INIT;
	_cleanup_message_ ProtobufCMessage *reply = NULL;
	assert_true(rpc_call_unary(ch2, &podmig__v1__agent__descriptor, "Info", &info.base,
	                           10 * RPC_USEC_PER_SEC, &reply, &st) < 0);
	printf("Info: %s: %s\n", rpc_code_to_string(st.code), st.message);
	assert_int_equal(st.code, RPC_UNAVAILABLE);
}

static void test_agent_refuses_client_without_valid_certificate(void **state)
{
	start_counter("node1", "guarded");
	const char *ca = getenv("PODMIG_TLS_CA");
	RpcStatus st;

	/* Positive control: with the CLI's certificate, Info answers. */
	_cleanup_(rpc_channel_freep) RpcChannel *ch = NULL;
	RpcOptions good = { .ca_file = ca,
		            .cert_file = getenv("PODMIG_TLS_CERT"),
		            .key_file = getenv("PODMIG_TLS_KEY") };
	assert_int_equal(
	        rpc_channel_new(cluster_fixture_env(cluster, "PODMIG_NODE1_AGENT"), &good, &ch), 0);
	Podmig__V1__InfoRequest info = PODMIG__V1__INFO_REQUEST__INIT;
	_cleanup_message_ ProtobufCMessage *reply = NULL;
	assert_int_equal(rpc_call_unary(ch, &podmig__v1__agent__descriptor, "Info", &info.base,
	                                10 * RPC_USEC_PER_SEC, &reply, &st),
	                 0);

	/* No client certificate (the server is verified all the same). */
	agent_refuses(&(RpcOptions){ .ca_file = ca }, "guarded");
	/* A client certificate from another CA. */
	agent_refuses(
	        &(RpcOptions){ .ca_file = ca, .cert_file = other_cert, .key_file = other_key },
	        "guarded");
	/* Plaintext. */
	agent_refuses(&(RpcOptions){ .plaintext = true }, "guarded");

	/* podmig itself with the foreign certificate gets nowhere either. */
	char *out = NULL;
	assert_int_not_equal(run_podmig(&out, "migrate", "guarded", "--to", "node2", "--tls-cert",
	                                other_cert, "--tls-key", other_key, NULL),
	                     0);
	assert_non_null(strstr(out, "over TLS"));
	free(out);

	/* Nothing changed. */
	assert_int_equal(container_state("node1", "guarded"), 1);
	assert_int_equal(container_state("node2", "guarded"), -1);
	assert_int_equal(records_of("guarded"), 0);
}

int main(int argc, char *argv[])
{
	if (argc < 2) {
		fprintf(stderr, "usage: %s PODMIG\n", argv[0]);
		return 2;
	}
	podmig = argv[1];
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_nodes_with_cli_certificate),
		cmocka_unit_test(test_etcd_refuses_client_without_valid_certificate),
		cmocka_unit_test(test_counter_moves_over_tls),
		cmocka_unit_test(test_agent_refuses_client_without_valid_certificate),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
