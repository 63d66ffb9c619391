/* The agent under hostile load, at a scale that fits `make test`, on a
 * 2-node local cluster (cluster id 1): node2's agent gets gzip-compressed
 * calls (refused from their header, nothing inflated), hundreds of calls
 * that send headers and then nothing (threads stay within --max-calls, the
 * calls end after the first-message timeout, and a migration started while
 * they are held succeeds). After each, Info answers within 1 s. (Idle TCP
 * connections that never send a byte are not yet closed by the handshake
 * timeout, and recovery from an exhausted descriptor limit does not yet
 * pass here: both cases wait for their fixes.)
 *
 * argv[1]: the podmig CLI. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent.pb-c.h"
#include "migrate-fixture.h"
#include "process-util.h"
#include "rpc-testutil.h"
#include "strutil.h"
#include "time-util.h"

#define AGENT_PORT 7401
#define MAX_CALLS  64 /* the agent's default --max-calls */
/* gRPC's own threads beside the workers (pollers, executor, timers) */
#define THREADS_SLACK 24

static ClusterFixture *cluster;
static const char *podmig;
static char target[64]; /* node2's agent */

static int setup(void **state)
{
	/* The attacks speak plaintext gRPC: the agents' bounds are the same with TLS, and
	 * without it a raw client needs no certificate to reach them. */
	setenv("PODMIG_TEST_CLUSTER_TLS", "0", 1);
	if (cluster_fixture_up(2, &cluster) < 0)
		return -1;
	setenv("PODMIG_ETCD_ENDPOINTS", cluster_fixture_env(cluster, "PODMIG_ETCD_ENDPOINTS"), 1);
	snprintf(target, sizeof target, "%s:%d", cluster_fixture_node_addr(cluster, "node2"),
	         AGENT_PORT);
	rpc_global_init();
	return migrate_fixture_wait_nodes(podmig, 2, 30000);
}

static int teardown(void **state)
{
	rpc_global_shutdown();
	cluster_fixture_down(cluster);
	cluster = NULL;
	return 0;
}

static pid_t agent_pid(void)
{
	pid_t pid = 0;
	assert_int_equal(migrate_fixture_pid(cluster, "node2", "agent", &pid), 0);
	return pid;
}

static unsigned long proc_status(pid_t pid, const char *key)
{
	char path[64], line[256];
	unsigned long v = 0;
	size_t n = strlen(key);
	snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
	FILE *f = fopen(path, "re");
	while (f && fgets(line, sizeof line, f))
		if (strncmp(line, key, n) == 0 && line[n] == ':')
			v = strtoul(line + n + 1, NULL, 10);
	if (f)
		fclose(f);
	return v;
}

/* Info from node2's agent on a fresh connection; its latency in seconds,
 * or -1 if it did not answer within 1 s. */
static double info_seconds(void)
{
	RpcChannel *ch = NULL;
	double t0 = mono_sec();
	RpcOptions o = { .plaintext = true, .private_connection = true };
	if (rpc_channel_new(target, &o, &ch) < 0)
		return -1;
	Podmig__V1__InfoRequest req = PODMIG__V1__INFO_REQUEST__INIT;
	ProtobufCMessage *rep = NULL;
	int r = rpc_call_unary(ch, &podmig__v1__agent__descriptor, "Info", &req.base,
	                       RPC_USEC_PER_SEC, &rep, NULL);
	double t = mono_sec() - t0;
	rpc_message_free(rep);
	rpc_channel_free(ch);
	return r < 0 ? -1 : t;
}

static void assert_info_answers(const char *after)
{
	double t = info_seconds();
	printf("Info after %s: %.3f s\n", after, t);
	assert_true(t >= 0 && t <= 1.0);
}

/* A compressed call is refused from its grpc-encoding header
 * (UNIMPLEMENTED), before anything inflates its 16 MiB of zeros. */
static void test_compressed_refused(void **state)
{
	pid_t pid = agent_pid();
	unsigned long before = proc_status(pid, "VmHWM");
	for (int i = 0; i < 10; i++)
		assert_int_equal(test_call_gzip(target, "/podmig.v1.Agent/Receive", 16 << 20),
		                 RPC_UNIMPLEMENTED);
	printf("agent peak RSS %lu KiB before, %lu KiB after\n", before, proc_status(pid, "VmHWM"));
	assert_info_answers("10 gzip calls");
}

/* 300 calls holding their headers: at most MAX_CALLS workers, the rest
 * refused at once, the held ones ended by the first-message timeout; a
 * migration started meanwhile waits for a free worker and succeeds. */
static void test_held_calls(void **state)
{
	pid_t pid = agent_pid();
	unsigned long base = proc_status(pid, "Threads"), peak = base;
	assert_int_equal(migrate_fixture_start_container(cluster, podmig, "node1", "held",
	                                                 "localhost/podmig/counter", ""),
	                 0);
	assert_int_equal(migrate_fixture_wait_published(podmig, "node1", "held", 30000), 0);

	TestCalls *t = NULL;
	assert_int_equal(test_calls_hold(target, "/podmig.v1.Agent/Receive", 300, 16, &t), 0);
	pid_t mig;
	assert_int_equal(migrate_fixture_cli_start(podmig, "held", "node2", &mig), 0);
	unsigned ended = 0;
	double t0 = mono_sec();
	while (ended < 300 && mono_sec() - t0 < 30) {
		ended = test_calls_ended(t);
		unsigned long n = proc_status(pid, "Threads");
		if (n > peak)
			peak = n;
		usleep(100 * 1000);
	}
	printf("held calls: %u of 300 ended in %.1f s; agent threads %lu before, %lu at most\n",
	       ended, mono_sec() - t0, base, peak);
	test_calls_free(t);
	assert_int_equal(ended, 300);
	assert_true(peak <= base + MAX_CALLS + THREADS_SLACK);
	assert_info_answers("300 held calls");

	int status = -1;
	assert_int_equal(spawn_reap(mig, &status), 0);
	json_t *rec = migrate_fixture_last_record(podmig, "held");
	printf("migration during the held calls: exit %d, %s\n", status,
	       migrate_fixture_record_phase(rec));
	assert_string_equal(migrate_fixture_record_phase(rec), "done");
	json_decref(rec);
	assert_int_equal(status, 0);
}

int main(int argc, char *argv[])
{
	if (argc < 2) {
		fprintf(stderr, "usage: %s PODMIG_CLI\n", argv[0]);
		return 2;
	}
	podmig = argv[1];
	setvbuf(stdout, NULL, _IOLBF, 0);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_compressed_refused),
		cmocka_unit_test(test_held_calls),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
