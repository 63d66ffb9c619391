/* The agent under hostile load, at a scale that fits `make test`, on a
 * 2-node local cluster (cluster id 1), plaintext (`--insecure`) or with
 * mutual TLS. node2's agent gets gzip-compressed calls (refused from their
 * header, nothing inflated), hundreds of calls that send headers and then
 * nothing (threads stay within --max-calls, the calls end after the
 * first-message timeout, and a migration started while they are held
 * succeeds), hundreds of idle TCP connections (closed after the handshake
 * timeout, their descriptors freed), and a descriptor limit so low that
 * gRPC stops listening (the agent withdraws its status while its port does
 * not serve, restarts its server and serves again); in plaintext also a
 * transfer larger than its record declares (refused once past that size).
 * With TLS the hostile clients present no certificate: their calls are
 * refused at once (no worker waits for them), and plaintext clients are
 * refused at the handshake. After each, Info answers within 1 s.
 *
 * argv[1]: the podmig CLI; argv[2]: "tls" for a TLS cluster. */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
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
#include "etcd.h"
#include "migrate-fixture.h"
#include "migration-store.h"
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
static bool tls;
static char target[64];   /* node2's agent */
static char ca[PATH_MAX]; /* with TLS: the cluster's CA */

static int setup(void **state)
{
	setenv("PODMIG_TEST_CLUSTER_TLS", tls ? "1" : "0", 1);
	if (cluster_fixture_up(2, &cluster) < 0)
		return -1;
	setenv("PODMIG_ETCD_ENDPOINTS", cluster_fixture_env(cluster, "PODMIG_ETCD_ENDPOINTS"), 1);
	snprintf(target, sizeof target, "%s:%d", cluster_fixture_node_addr(cluster, "node2"),
	         AGENT_PORT);
	rpc_global_init();
	if (tls) {
		/* the hostile clients trust the agent's CA but present no
		 * certificate: whoever reaches the port can do as much */
		snprintf(ca, sizeof ca, "%s", getenv("PODMIG_TLS_CA") ?: "");
		test_hostile_set_tls(ca);
	}
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
	/* with TLS, as the operator (the fixture's certificate) */
	RpcOptions o = { .plaintext = !tls,
		         .ca_file = tls ? ca : NULL,
		         .cert_file = tls ? getenv("PODMIG_TLS_CERT") : NULL,
		         .key_file = tls ? getenv("PODMIG_TLS_KEY") : NULL };
	return test_info_seconds(target, &o, 1.0);
}

static void assert_info_answers(const char *after)
{
	double t = info_seconds();
	printf("Info after %s: %.3f s\n", after, t);
	assert_true(t >= 0 && t <= 1.0);
}

/* A compressed call is refused from its grpc-encoding header
 * (UNIMPLEMENTED), before anything inflates its 16 MiB of zeros; with TLS,
 * a caller without a certificate may be refused for that first
 * (PERMISSION_DENIED). */
static void test_compressed_refused(void **state)
{
	pid_t pid = agent_pid();
	unsigned long before = proc_status(pid, "VmHWM");
	for (int i = 0; i < 10; i++) {
		int st = test_call_gzip(target, "/podmig.v1.Agent/Receive", 16 << 20);
		if (i == 0)
			printf("gzip call: %s\n", st >= 0 ? rpc_code_to_string(st) : "no status");
		assert_true(st == RPC_UNIMPLEMENTED || (tls && st == RPC_PERMISSION_DENIED));
	}
	unsigned long after = proc_status(pid, "VmHWM");
	printf("agent peak RSS %lu KiB before, %lu KiB after\n", before, after);
	assert_true(after < before + 16 * 1024); /* nothing the size of a message */
	assert_info_answers("10 gzip calls");
}

/* 300 calls holding their headers: at most MAX_CALLS workers, the rest
 * refused at once (RESOURCE_EXHAUSTED), the held ones ended by the
 * first-message timeout (DEADLINE_EXCEEDED); a migration started meanwhile
 * waits for a free worker and succeeds. With TLS, callers without a
 * certificate are refused at once: by a worker (PERMISSION_DENIED), or as
 * busy while every worker is refusing others. */
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
	double took = mono_sec() - t0;
	unsigned busy = test_calls_ended_with(t, RPC_RESOURCE_EXHAUSTED),
	         timed_out = test_calls_ended_with(t, RPC_DEADLINE_EXCEEDED),
	         denied = test_calls_ended_with(t, RPC_PERMISSION_DENIED);
	printf("held calls: %u of 300 ended in %.1f s (%u busy, %u timed out, %u denied); agent "
	       "threads %lu before, %lu at most\n",
	       ended, took, busy, timed_out, denied, base, peak);
	test_calls_free(t);
	assert_int_equal(ended, 300);
	if (tls) {
		assert_int_equal(denied + busy, 300);
		assert_true(took < 5); /* none waited for the first-message timeout */
	} else
		assert_int_equal(busy + timed_out, 300);
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

/* With TLS: plaintext gRPC clients fail at the handshake (UNAVAILABLE),
 * none of their calls reaches a worker, and their connections are closed. */
static void test_plaintext_refused(void **state)
{
	if (!tls)
		skip();
	pid_t pid = agent_pid();
	unsigned long base = proc_status(pid, "Threads"), peak = base;
	test_hostile_set_tls(NULL);
	int st = test_call_gzip(target, "/podmig.v1.Agent/Receive", 1 << 20);
	TestCalls *t = NULL;
	assert_int_equal(test_calls_hold(target, "/podmig.v1.Agent/Receive", 300, 16, &t), 0);
	unsigned ended = 0;
	double t0 = mono_sec();
	while (ended < 300 && mono_sec() - t0 < 30) {
		ended = test_calls_ended(t);
		unsigned long n = proc_status(pid, "Threads");
		if (n > peak)
			peak = n;
		usleep(100 * 1000);
	}
	double took = mono_sec() - t0;
	unsigned unavailable = test_calls_ended_with(t, RPC_UNAVAILABLE);
	test_calls_free(t);
	test_hostile_set_tls(ca);
	printf("plaintext gzip call: %s; plaintext held calls: %u of 300 ended in %.1f s, %u "
	       "UNAVAILABLE; agent threads %lu before, %lu at most\n",
	       st >= 0 ? rpc_code_to_string(st) : "no status", ended, took, unavailable, base,
	       peak);
	assert_int_equal(st, RPC_UNAVAILABLE);
	assert_int_equal(unavailable, 300);
	assert_true(took < 5);
	assert_true(peak <= base + THREADS_SLACK);
	assert_info_answers("plaintext clients");
}

/* How many descriptors `pid` holds. */
static unsigned long open_fds(pid_t pid)
{
	char p[64];
	snprintf(p, sizeof p, "/proc/%d/fd", (int)pid);
	DIR *d = opendir(p);
	assert_non_null(d);
	unsigned long n = 0;
	struct dirent *e;
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

/* What node2's agent logged about its port's health, for the test's output. */
static void print_agent_log(void)
{
	char path[512];
	snprintf(path, sizeof path, "%s/nodes/node2/agent.log",
	         cluster_fixture_env(cluster, "PODMIG_CLUSTER_DIR") ?: "");
	char *const argv[] = { "grep",  "-a", "-e",         "accept", "-e",   "gRPC", "-e",
		               "serve", "-e", "descriptor", "-e",     "etcd", path,   NULL };
	(void)spawn_wait(argv, NULL, NULL);
}

/* 300 connections that never send a byte are closed by the agent once its
 * handshake timeout (10 s) passes, and their descriptors are its again. */
static void test_idle_connections(void **state)
{
	enum { N = 300 };
	int fds[N];
	bool closed[N] = {};
	pid_t pid = agent_pid();
	const char *addr = cluster_fixture_node_addr(cluster, "node2");
	unsigned long base = open_fds(pid), peak = base;
	for (int i = 0; i < N; i++)
		assert_true((fds[i] = test_connect_idle(addr, AGENT_PORT)) >= 0);
	unsigned n_closed = 0;
	double t0 = mono_sec(), t_all = -1;
	while (n_closed < N && mono_sec() - t0 < 30) {
		usleep(500 * 1000);
		unsigned long n = open_fds(pid);
		if (n > peak)
			peak = n;
		for (int i = 0; i < N; i++)
			if (!closed[i] && test_peer_closed(fds[i])) {
				closed[i] = true;
				n_closed++;
			}
		if (n_closed == N)
			t_all = mono_sec() - t0;
	}
	/* The peer sees the end of a connection at gRPC's shutdown(); the
	 * descriptor itself is closed a moment later, off that path. */
	unsigned long after = open_fds(pid);
	for (int i = 0; i < 50 && after > base + 16; i++) {
		usleep(100 * 1000);
		after = open_fds(pid);
	}
	printf("idle connections: %u of %d closed by the agent, all after %.1f s; agent "
	       "descriptors %lu before, %lu at most, %lu after\n",
	       n_closed, N, t_all, base, peak, after);
	for (int i = 0; i < N; i++)
		close(fds[i]);
	assert_int_equal(n_closed, N);
	assert_true(t_all >= 9 && t_all <= 20); /* the handshake timeout, not before */
	assert_true(peak >= base + N / 2);      /* they were accepted */
	assert_true(after <= base + 16);
	assert_info_answers("300 idle connections");
}

/* Whether `podmig nodes` shows node2 with a status document. */
static bool status_published(void)
{
	char *out = NULL;
	bool seen = false;
	(void)migrate_fixture_cli(podmig, &out, "nodes", "--json", NULL);
	json_t *nodes =
	        out ? json_loads(strchr(out, '[') ?: out, JSON_DISABLE_EOF_CHECK, NULL) : NULL;
	size_t i;
	json_t *node;
	json_array_foreach (nodes, i, node)
		if (streq(json_string_value(json_object_get(node, "name")) ?: "", "node2"))
			seen = json_is_object(json_object_get(node, "status"));
	json_decref(nodes);
	free(out);
	return seen;
}

/* The soft descriptor limit of `pid`. */
static unsigned long nofile_soft(pid_t pid)
{
	char path[64], line[256];
	unsigned long v = 0;
	snprintf(path, sizeof path, "/proc/%d/limits", (int)pid);
	FILE *f = fopen(path, "re");
	assert_non_null(f);
	while (fgets(line, sizeof line, f))
		if (startswith(line, "Max open files"))
			v = strtoul(line + strlen("Max open files"), NULL, 10);
	fclose(f);
	assert_true(v > 0);
	return v;
}

/* Sets the soft descriptor limit of `pid` only: raising a hard limit needs
 * CAP_SYS_RESOURCE, which a test may lack, and it is the soft limit that
 * makes accept() fail. */
static void set_nofile_soft(pid_t pid, unsigned long n)
{
	char arg[64], p[32];
	snprintf(arg, sizeof arg, "--nofile=%lu:", n);
	snprintf(p, sizeof p, "%d", (int)pid);
	char *const argv[] = { "prlimit", "--pid", p, arg, NULL };
	int status = -1;
	assert_int_equal(spawn_wait(argv, NULL, &status), 0);
	assert_int_equal(status, 0);
}

/* Descriptors run out (a limit just above what the agent holds, then
 * connections beyond it): gRPC stops listening for good. Once descriptors
 * are back, the agent's self-probe notices, it withdraws its status while
 * its port does not serve, restarts its server, and serves and publishes
 * again. */
static void test_descriptors_exhausted(void **state)
{
	enum { N = 100 };
	int fds[N];
	pid_t pid = agent_pid();
	unsigned long soft = nofile_soft(pid), limit = open_fds(pid) + 16;
	const char *addr = cluster_fixture_node_addr(cluster, "node2");

	set_nofile_soft(pid, limit);
	for (int i = 0; i < N; i++)
		fds[i] = test_connect_idle(addr, AGENT_PORT);
	sleep(2); /* the agent's accepts fail meanwhile */
	for (int i = 0; i < N; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	set_nofile_soft(pid, soft);
	printf("agent limited to %lu descriptors with %d connections, then %lu again\n", limit, N,
	       soft);

	bool withdrawn = false;
	double t0 = mono_sec(), served = -1;
	while (mono_sec() - t0 < 60) {
		if (!status_published())
			withdrawn = true;
		if (info_seconds() >= 0 && status_published()) {
			served = mono_sec() - t0;
			break;
		}
		sleep(1);
	}
	printf("node2 withdrawn meanwhile: %s; serving and published again after %.1f s\n",
	       withdrawn ? "yes" : "no", served);
	print_agent_log();
	assert_true(withdrawn); /* its port stopped serving, and it said so */
	assert_true(served >= 0);
	assert_info_answers("descriptor exhaustion");
}

/* A transfer beyond what its record declares (archive_limit_bytes, which
 * the source writes) is refused by the target once it passes that size,
 * whatever its free space. The test plays node1's agent: a record from
 * node1 declaring 1 MiB (with the order that started it), then 3 MiB of
 * archive. Plaintext only: with TLS
 * the target wants node1's own certificate. */
static void test_archive_over_declared(void **state)
{
	if (tls)
		skip();
	const char *image = "localhost/podmig/counter:latest";
	_cleanup_(etcd_client_freep) EtcdClient *etcd = NULL;
	EtcdOptions eo = { .rpc = { .plaintext = true } };
	assert_int_equal(etcd_client_new(getenv("PODMIG_ETCD_ENDPOINTS"), &eo, &etcd), 0);
	_cleanup_(migration_record_clear) MigrationRecord rec = {};
	assert_int_equal(migration_record_init(&rec, "declared", "node1", "node2",
	                                       MIGRATION_REASON_MANUAL, wall_ms()),
	                 0);
	assert_non_null(rec.image = strdup(image));
	rec.archive_limit = 1 << 20;
	/* the order an operator gives, whose id the record takes */
	MigrationOrder order;
	assert_int_equal(migration_order_init(&order, "declared", "node1", "node2",
	                                      MIGRATION_REASON_MANUAL, NULL, false,
	                                      MODE_REQUEST_STOP_AND_COPY, "test-hostile",
	                                      wall_ms()),
	                 0);
	assert_int_equal(migration_order_issue(etcd, "/podmig/", &order, MIGRATION_ORDER_TTL_SEC),
	                 0);
	snprintf(rec.id, sizeof rec.id, "%s", order.id);
	assert_int_equal(migration_record_create(etcd, "/podmig/", &rec, NULL), 0);

	_cleanup_(rpc_channel_freep) RpcChannel *ch = NULL;
	_cleanup_(rpc_stream_freep) RpcStream *st = NULL;
	assert_int_equal(rpc_channel_new(target, &(RpcOptions){ .plaintext = true }, &ch), 0);
	assert_int_equal(rpc_stream_open(ch, &podmig__v1__agent__descriptor, "Receive", &st), 0);
	Podmig__V1__TransferHeader h = PODMIG__V1__TRANSFER_HEADER__INIT;
	h.migration_id = rec.id;
	h.container = rec.container;
	h.image = (char *)image;
	h.source_node = rec.source;
	h.mode = (char *)"stop-and-copy";
	h.protocol = migrate_fixture_node_protocol(podmig, rec.source);
	Podmig__V1__TransferMessage m = PODMIG__V1__TRANSFER_MESSAGE__INIT;
	m.kind_case = PODMIG__V1__TRANSFER_MESSAGE__KIND_HEADER;
	m.header = &h;
	assert_int_equal(rpc_stream_send(st, &m.base), 0);
	Podmig__V1__TransferReply *ready = NULL;
	assert_int_equal(rpc_stream_recv(st, 30 * RPC_USEC_PER_SEC, (ProtobufCMessage **)&ready),
	                 1);
	assert_int_equal(ready->kind_case, PODMIG__V1__TRANSFER_REPLY__KIND_READY);
	rpc_message_free(&ready->base);

	static uint8_t chunk[512 * 1024];
	unsigned sent = 0;
	for (unsigned i = 0; i < 6; i++) {
		Podmig__V1__TransferMessage d = PODMIG__V1__TRANSFER_MESSAGE__INIT;
		d.kind_case = PODMIG__V1__TRANSFER_MESSAGE__KIND_DATA;
		d.data = (ProtobufCBinaryData){ .len = sizeof chunk, .data = chunk };
		d.offset = (uint64_t)i * sizeof chunk;
		if (rpc_stream_send_timeout(st, &d.base, 10 * RPC_USEC_PER_SEC) < 0)
			break;
		sent++;
	}
	(void)rpc_stream_close_send(st);
	RpcStatus status = {};
	(void)rpc_stream_finish(st, &status);
	printf("archive over its declared 1 MiB: %u chunks of 512 KiB sent; %s: %s\n", sent,
	       rpc_code_to_string(status.code), status.message);
	assert_int_equal(status.code, RPC_RESOURCE_EXHAUSTED);
	assert_non_null(strstr(status.message, "its source declared"));

	/* the test's source settles its record */
	_cleanup_(migration_record_clear) MigrationRecord now = {};
	if (migration_record_load(etcd, "/podmig/", rec.id, &now) >= 0 &&
	    !migration_phase_is_final(now.phase))
		(void)migration_record_advance(etcd, "/podmig/", &now, MIGRATION_ROLLED_BACK,
		                               "test over", wall_ms());
	assert_info_answers("an archive over its declared size");
}

int main(int argc, char *argv[])
{
	if (argc < 2) {
		fprintf(stderr, "usage: %s PODMIG_CLI [tls]\n", argv[0]);
		return 2;
	}
	podmig = argv[1];
	tls = argc > 2 && streq(argv[2], "tls");
	setvbuf(stdout, NULL, _IOLBF, 0);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_compressed_refused),
		cmocka_unit_test(test_held_calls),
		cmocka_unit_test(test_plaintext_refused),
		cmocka_unit_test(test_archive_over_declared),
		cmocka_unit_test(test_idle_connections),
		cmocka_unit_test(test_descriptors_exhausted),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
