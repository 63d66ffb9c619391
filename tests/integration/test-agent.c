/* test-agent.c — podmig-agent against a real etcd (etcd-fixture) and a real,
 * private Podman API service (podman-fixture): it publishes the node's info
 * and status, `podmig nodes --json` and `podmig ps --json` show them, gRPC
 * Info and ListContainers answer, SIGTERM removes the node at once (lease
 * revoked) and kill -9 removes it after the lease TTL.
 * argv: AGENT CLI COUNTER-BINARY. */
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent.pb-c.h"
#include "etcd-fixture.h"
#include "etcd.h"
#include "json-util.h"
#include "podman-fixture.h"
#include "podman.h"
#include "strutil.h"
#include "time-util.h"

#define IMAGE "localhost/podmig/counter:latest"
#define CTR   "agent-test-counter"
#define NODE  "testnode"

extern char **environ;

static const char *agent_path, *cli_path, *counter_path;
static EtcdFixture *etcd_fx;
static PodmanFixture *podman_fx;
static EtcdClient *etcd;
static pid_t agent_pid;

static int setup(void **state)
{
	_cleanup_(podman_client_freep) PodmanClient *pc = NULL;
	PodmanError e = {};
	if (etcd_fixture_start(&etcd_fx) < 0 || podman_fixture_start(&podman_fx) < 0)
		return -1;
	if (podman_fixture_import_image(podman_fx, IMAGE,
	                                (const char *const[]){ counter_path, NULL },
	                                "/bin/counter") < 0)
		return -1;
	PodmanCreateSpec spec = { .name = CTR, .image = IMAGE, .network_mode = "none" };
	if (podman_client_new(podman_fx->socket_path, NULL, &pc) < 0 ||
	    podman_container_create(pc, &spec, NULL, &e) < 0 ||
	    podman_container_start(pc, CTR, &e) < 0) {
		fprintf(stderr, "container: %s\n", e.message);
		return -1;
	}
	EtcdOptions o = { .rpc.plaintext = true, .request_timeout_usec = 3 * RPC_USEC_PER_SEC };
	return etcd_client_new(etcd_fx->endpoint, &o, &etcd) < 0 ? -1 : 0;
}

static void agent_kill(int sig)
{
	if (agent_pid > 0) {
		kill(agent_pid, sig);
		waitpid(agent_pid, NULL, 0);
		agent_pid = 0;
	}
}

static int teardown(void **state)
{
	agent_kill(SIGKILL);
	etcd = etcd_client_free(etcd);
	podman_fx = podman_fixture_free(podman_fx);
	etcd_fx = etcd_fixture_free(etcd_fx);
	return 0;
}

static void agent_start(void)
{
	agent_kill(SIGKILL); /* one a failed test left running */
	char log[4096];
	snprintf(log, sizeof log, "%s/agent.log", podman_fx->dir);
	/* --config /dev/null: not the host's /etc/podmig/agent.conf */
	char *argv[] = { (char *)agent_path,
		         "--config",
		         "/dev/null",
		         "--node-name",
		         NODE,
		         "--listen",
		         "127.0.0.1:0",
		         "--podman-socket",
		         podman_fx->socket_path,
		         "--etcd",
		         etcd_fx->endpoint,
		         "--prefix",
		         "/podmig-test/",
		         "--lease-ttl",
		         "3",
		         "--accounting",
		         "containers",
		         "--capacity-cpus",
		         "1",
		         "--capacity-memory",
		         "2G",
		         "--label",
		         "zone=test",
		         "--insecure",
		         NULL };
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, log, O_WRONLY | O_CREAT | O_APPEND, 0644);
	posix_spawn_file_actions_adddup2(&fa, 1, 2);
	assert_int_equal(posix_spawn(&agent_pid, agent_path, &fa, NULL, argv, environ), 0);
	posix_spawn_file_actions_destroy(&fa);
}

/* The node's status once it lists the container with stats; NULL after 20 s. */
static json_t *wait_status(void)
{
	uint64_t deadline = mono_msec() + 20000;
	while (mono_msec() < deadline) {
		EtcdKeyValue kv;
		if (etcd_get(etcd, "/podmig-test/nodes/" NODE "/status", &kv) >= 0) {
			json_t *st = json_loads(kv.value, 0, NULL);
			etcd_key_value_done(&kv);
			json_t *cts = json_object_get(st, "containers");
			if (json_array_size(cts) == 1 &&
			    json_object_get(json_array_get(cts, 0), "cpu_percent"))
				return st;
			json_decref(st);
		}
		sleep_usec(200 * USEC_PER_MSEC);
	}
	return NULL;
}

static bool node_keys_gone(void)
{
	EtcdKeyValue *kvs;
	size_t n;
	int64_t rev;
	assert_int_equal(etcd_get_prefix(etcd, "/podmig-test/nodes/" NODE "/", &kvs, &n, &rev), 0);
	etcd_key_values_free(kvs, n);
	return n == 0;
}

/* Runs the CLI with args; returns its stdout parsed as JSON. */
static json_t *cli_json(const char *verb)
{
	char out[4096];
	snprintf(out, sizeof out, "%s/cli-%s.json", podman_fx->dir, verb);
	unlink(out);
	/* the fixture's etcd is plaintext */
	char *argv[] = { (char *)cli_path,  (char *)verb, "--json",        "--insecure", "--etcd",
		         etcd_fx->endpoint, "--prefix",   "/podmig-test/", NULL };
	assert_int_equal(fixture_run(argv, NULL, out, 30), 0);
	json_t *doc = json_load_file(out, 0, NULL);
	assert_non_null(doc);
	return doc;
}

static void test_publish_and_cli(void **state)
{
	agent_start();
	_cleanup_json_ json_t *status = wait_status();
	assert_non_null(status);
	json_t *ct = json_array_get(json_object_get(status, "containers"), 0);
	assert_string_equal(json_get_string(ct, "name"), CTR);
	assert_string_equal(json_get_string(ct, "state"), "running");
	assert_true(json_get_bool(json_object_get(status, "podman"), "ok", false));
	assert_float_equal(json_get_number(json_object_get(status, "cpu"), "capacity_cores", 0), 1,
	                   0);

	EtcdKeyValue kv;
	assert_int_equal(etcd_get(etcd, "/podmig-test/nodes/" NODE "/info", &kv), 0);
	_cleanup_json_ json_t *info = json_loads(kv.value, 0, NULL);
	etcd_key_value_done(&kv);
	assert_string_equal(json_get_string(info, "name"), NODE);
	assert_string_equal(json_get_string(info, "accounting"), "containers");
	assert_string_equal(json_get_string(json_object_get(info, "labels"), "zone"), "test");
	assert_non_null(json_object_get(info, "criu"));
	const char *address = json_get_string(info, "grpc_address");
	assert_non_null(address);
	assert_true(startswith(address, "127.0.0.1:") && !streq(address, "127.0.0.1:0"));

	_cleanup_json_ json_t *nodes = cli_json("nodes");
	assert_int_equal(json_array_size(nodes), 1);
	json_t *n0 = json_array_get(nodes, 0);
	assert_string_equal(json_get_string(n0, "name"), NODE);
	assert_string_equal(json_get_string(n0, "address"), address);
	assert_int_equal(json_get_i64(n0, "containers", -1), 1);
	assert_true(json_get_number(n0, "age_seconds", 99) < 10);

	_cleanup_json_ json_t *ps = cli_json("ps");
	assert_int_equal(json_array_size(ps), 1);
	assert_string_equal(json_get_string(json_array_get(ps, 0), "node"), NODE);
	assert_string_equal(json_get_string(json_array_get(ps, 0), "name"), CTR);
	assert_string_equal(json_get_string(json_array_get(ps, 0), "image"), IMAGE);

	/* gRPC: Info and ListContainers */
	_cleanup_(rpc_channel_freep) RpcChannel *ch = NULL;
	assert_int_equal(rpc_channel_new(address, &(RpcOptions){ .plaintext = true }, &ch), 0);
	Podmig__V1__InfoRequest ireq = PODMIG__V1__INFO_REQUEST__INIT;
	_cleanup_message_ ProtobufCMessage *irep = NULL;
	assert_int_equal(rpc_call_unary(ch, &podmig__v1__agent__descriptor, "Info", &ireq.base,
	                                5 * RPC_USEC_PER_SEC, &irep, NULL),
	                 0);
	Podmig__V1__InfoResponse *ir = (Podmig__V1__InfoResponse *)irep;
	assert_string_equal(ir->node_name, NODE);
	assert_string_equal(ir->grpc_address, address);
	assert_float_equal(ir->capacity_cpus, 1, 0);
	assert_true(startswith(ir->podman_version, "5."));
	Podmig__V1__ListContainersRequest lreq = PODMIG__V1__LIST_CONTAINERS_REQUEST__INIT;
	_cleanup_message_ ProtobufCMessage *lrep = NULL;
	assert_int_equal(rpc_call_unary(ch, &podmig__v1__agent__descriptor, "ListContainers",
	                                &lreq.base, 5 * RPC_USEC_PER_SEC, &lrep, NULL),
	                 0);
	Podmig__V1__ListContainersResponse *lr = (Podmig__V1__ListContainersResponse *)lrep;
	assert_int_equal(lr->n_containers, 1);
	assert_string_equal(lr->containers[0]->name, CTR);
	assert_true(lr->containers[0]->has_stats);

	/* SIGTERM: the lease is revoked, the keys go at once */
	kill(agent_pid, SIGTERM);
	int status_code;
	assert_int_equal(waitpid(agent_pid, &status_code, 0), agent_pid);
	agent_pid = 0;
	assert_true(WIFEXITED(status_code) && WEXITSTATUS(status_code) == 0);
	assert_true(node_keys_gone());
}

static void test_kill9_expires(void **state)
{
	agent_start();
	_cleanup_json_ json_t *status = wait_status();
	assert_non_null(status);
	uint64_t t0 = mono_msec();
	agent_kill(SIGKILL);
	assert_false(node_keys_gone());
	/* gone after the 3 s TTL; generous deadline */
	while (!node_keys_gone() && mono_msec() - t0 < 20000)
		sleep_usec(200 * USEC_PER_MSEC);
	assert_true(node_keys_gone());
	printf("keys expired %.1f s after kill -9 (TTL 3 s)\n", (double)(mono_msec() - t0) / 1000);
}

int main(int argc, char *argv[])
{
	if (argc < 4) {
		fprintf(stderr, "usage: %s AGENT CLI COUNTER\n", argv[0]);
		return 2;
	}
	if (geteuid() != 0 || access("/usr/bin/podman", X_OK) < 0) {
		fprintf(stderr, "needs root and podman; skipping\n");
		return 77;
	}
	etcd_fixture_require();
	agent_path = argv[1];
	cli_path = argv[2];
	counter_path = argv[3];
	rpc_global_init();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_publish_and_cli),
		cmocka_unit_test(test_kill9_expires),
	};
	int r = cmocka_run_group_tests(tests, setup, teardown);
	rpc_global_shutdown();
	return r;
}
