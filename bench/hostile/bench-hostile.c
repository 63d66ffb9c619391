/* bench-hostile — an agent under hostile load: on a 2-node local cluster
 * (cluster id 5, shared with bench-faults), node2's agent is attacked while a
 * real migration of a memhog runs from node1 to node2, one attack at a time:
 *
 *   gzip      gzip-compressed Receive calls of 64 MiB of zeros (about 64 KiB
 *             each on the wire), one after another for the attack's length
 *   idle      raw TCP connections to the agent's port that never send a byte
 *   held      Receive calls that send their headers and then nothing, over
 *             HTTP/2 connections of 16 calls each (a slow sender that stops
 *             mid-transfer is held the same way)
 *   oversize  the migration itself into a work directory with less free space
 *             than the archive needs (a tmpfs of 8 MiB): refused, rolled back
 *
 * While an attack runs it samples the agent's RSS, threads and descriptors
 * every 100 ms (/proc/<pid>); when it ends it times an Info call (1 s
 * deadline) and waits for the migration's outcome. Traffic goes only to the
 * cluster's own namespace addresses, bounded in count and time; the program
 * stops by itself and takes the cluster down.
 *
 *   bench-hostile [--scale F] [--seconds S] [--tls]  (needs root; not in make test)
 *
 * --scale multiplies the attack sizes (1: 10,000 idle connections, 5,000
 * held calls); --seconds is each attack's length (default 20). The cluster
 * is plaintext, where raw clients reach the handlers, unless --tls: then
 * the attackers trust the cluster's CA but present no certificate. */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "agent.pb-c.h"
#include "migrate-fixture.h"
#include "process-util.h"
#include "rpc-testutil.h"
#include "rpc.h"
#include "strutil.h"
#include "time-util.h"

#ifndef PODMIG_CLI
#error "PODMIG_CLI must be defined by the build"
#endif

#define NAME            "hog"
#define MEMHOG_MIB      64
#define AGENT_PORT      7401
#define GZIP_ZEROS      (64u * 1024 * 1024)
#define SETTLE_MS       180000
#define RSS_TARGET_MIB  256
#define INFO_TARGET_SEC 1.0

static ClusterFixture *cluster;
static const char *cli = PODMIG_CLI;
static char target[64]; /* node2's agent */
static bool tls;
static char ca[4096]; /* with --tls: the cluster's CA */

/* ---- sampling the agent ---- */

typedef struct Peak {
	pid_t pid;
	atomic_bool stop;
	unsigned long rss_kib, threads, fds;
} Peak;

static void sample_once(Peak *p)
{
	char path[64], line[256];
	snprintf(path, sizeof path, "/proc/%d/status", (int)p->pid);
	FILE *f = fopen(path, "re");
	unsigned long v;
	while (f && fgets(line, sizeof line, f)) {
		if (sscanf(line, "VmRSS: %lu", &v) == 1 && v > p->rss_kib)
			p->rss_kib = v;
		if (sscanf(line, "Threads: %lu", &v) == 1 && v > p->threads)
			p->threads = v;
	}
	if (f)
		fclose(f);
	snprintf(path, sizeof path, "/proc/%d/fd", (int)p->pid);
	DIR *d = opendir(path);
	unsigned long n = 0;
	while (d && readdir(d))
		n++;
	if (d)
		closedir(d);
	if (n > 2 && n - 2 > p->fds)
		p->fds = n - 2;
}

static void *sampler(void *arg)
{
	Peak *p = arg;
	while (!atomic_load(&p->stop)) {
		sample_once(p);
		usleep(100 * 1000);
	}
	return NULL;
}

/* ---- after an attack ---- */

static double info_seconds(void)
{
	/* with TLS, as the operator (the fixture's certificate) */
	RpcOptions o = { .plaintext = !tls,
		         .ca_file = tls ? ca : NULL,
		         .cert_file = tls ? getenv("PODMIG_TLS_CERT") : NULL,
		         .key_file = tls ? getenv("PODMIG_TLS_KEY") : NULL };
	return test_info_seconds(target, &o, INFO_TARGET_SEC);
}

/* The newest record's phase once final, after the CLI `pid` ended. */
static const char *migration_outcome(pid_t pid)
{
	static char phase[32];
	int status = -1;
	(void)spawn_reap(pid, &status);
	snprintf(phase, sizeof phase, "unsettled");
	for (unsigned waited = 0; waited < SETTLE_MS; waited += 500) {
		json_t *rec = migrate_fixture_last_record(cli, NAME);
		const char *p = migrate_fixture_record_phase(rec);
		bool final = streq(p, "done") || streq(p, "rolled-back") || streq(p, "failed");
		if (final)
			snprintf(phase, sizeof phase, "%s", p);
		json_decref(rec);
		if (final)
			break;
		usleep(500 * 1000);
	}
	return phase;
}

/* Moves the memhog back to node1 for the next attack. */
static int move_back(void)
{
	if (migrate_fixture_container_state(cluster, "node1", NAME) == 1)
		return 0;
	if (migrate_fixture_wait_published(cli, "node2", NAME, 30000) < 0)
		return -EIO;
	return migrate_fixture_cli(cli, NULL, "migrate", NAME, "--to", "node1", NULL) == 0 ? 0
	                                                                                   : -EIO;
}

/* ---- attacks ---- */

typedef struct Attack {
	const char *name;
	unsigned count; /* what was sent or held */
	char detail[128];
} Attack;

static void attack_gzip(Attack *a, double seconds)
{
	unsigned refused = 0;
	double end = mono_sec() + seconds;
	while (mono_sec() < end) {
		int st = test_call_gzip(target, "/podmig.v1.Agent/Receive", GZIP_ZEROS);
		a->count++;
		if (st != RPC_OK)
			refused++;
	}
	snprintf(a->detail, sizeof a->detail, "%u of %u refused", refused, a->count);
}

static void attack_idle(Attack *a, unsigned n, double seconds)
{
	int *fds = calloc(n, sizeof(int));
	const char *addr = cluster_fixture_node_addr(cluster, "node2");
	unsigned failed = 0;
	if (!fds)
		return;
	for (unsigned i = 0; i < n; i++) {
		fds[i] = test_connect_idle(addr, AGENT_PORT);
		if (fds[i] < 0)
			failed++;
		else
			a->count++;
	}
	usleep((useconds_t)(seconds * 1e6));
	/* the agent closes what never finishes its handshake */
	unsigned closed = 0;
	for (unsigned i = 0; i < n; i++) {
		if (fds[i] < 0)
			continue;
		closed += test_peer_closed(fds[i]);
		close(fds[i]);
	}
	free(fds);
	snprintf(a->detail, sizeof a->detail, "%u connected, %u failed, %u closed by the agent",
	         a->count, failed, closed);
}

static void attack_held(Attack *a, unsigned n, double seconds)
{
	TestCalls *t = NULL;
	if (test_calls_hold(target, "/podmig.v1.Agent/Receive", n, 16, &t) < 0)
		return;
	a->count = n;
	double end = mono_sec() + seconds;
	while (mono_sec() < end)
		(void)test_calls_ended(t);
	unsigned ended = test_calls_ended(t);
	test_calls_free(t);
	snprintf(a->detail, sizeof a->detail, "%u of %u ended by the agent", ended, n);
}

static int node2_run(char *const argv[])
{
	int status = -1;
	int r = cluster_fixture_exec(cluster, "node2", argv, NULL, &status);
	return r < 0 ? r : status == 0 ? 0 : -EIO;
}

/* ---- one round: attack while a migration runs ---- */

static bool run_round(const char *kind, unsigned n, double seconds, pid_t agent)
{
	Attack a = { .name = kind };
	Peak peak = { .pid = agent };
	char work[512];
	pthread_t t;
	pid_t mig;
	bool oversize = streq(kind, "oversize");

	if (move_back() < 0 || migrate_fixture_wait_published(cli, "node1", NAME, 30000) < 0) {
		printf("%-9s cannot put the memhog back on node1\n", kind);
		return false;
	}
	snprintf(work, sizeof work, "%s/nodes/node2/work",
	         cluster_fixture_env(cluster, "PODMIG_CLUSTER_DIR"));
	char *const mount[] = { "mount",          "-t", "tmpfs", "-o", "size=8m",
		                "podmig-hostile", work, NULL };
	char *const umount[] = { "umount", work, NULL };
	if (oversize && node2_run(mount) < 0)
		return false;

	sample_once(&peak);
	unsigned long base_threads = peak.threads, base_fds = peak.fds;
	pthread_create(&t, NULL, sampler, &peak);
	double t0 = mono_sec();
	if (migrate_fixture_cli_start(cli, NAME, "node2", &mig) < 0)
		return false;
	if (streq(kind, "gzip"))
		attack_gzip(&a, seconds);
	else if (streq(kind, "idle"))
		attack_idle(&a, n, seconds);
	else if (streq(kind, "held"))
		attack_held(&a, n, seconds);
	double info = info_seconds();
	const char *outcome = migration_outcome(mig);
	atomic_store(&peak.stop, true);
	pthread_join(t, NULL);
	if (oversize) {
		(void)node2_run(umount);
		snprintf(a.detail, sizeof a.detail, "archive of a %u MiB memhog into 8 MiB",
		         MEMHOG_MIB);
	}

	bool want_done = !oversize;
	bool ok = peak.rss_kib / 1024 <= RSS_TARGET_MIB && info >= 0 && info <= INFO_TARGET_SEC &&
	          streq(outcome, want_done ? "done" : "rolled-back");
	char info_text[16] = "none";
	if (info >= 0)
		snprintf(info_text, sizeof info_text, "%.3f", info);
	printf("%-9s %6u  %7.1f  %4lu → %-5lu  %5lu → %-6lu  %6s  %-11s  %-4s  %s (%.0f s)\n", kind,
	       a.count, peak.rss_kib / 1024.0, base_threads, peak.threads, base_fds, peak.fds,
	       info_text, outcome, ok ? "ok" : "MISS", a.detail, mono_sec() - t0);
	return ok;
}

static void usage(FILE *f)
{
	fprintf(f, "Usage: bench-hostile [--scale F] [--seconds S] [--tls]\n"
	           "Attacks node2's agent of a 2-node local cluster (id 5) while a memhog\n"
	           "migrates to it; prints the agent's peak RSS, threads and descriptors,\n"
	           "Info's latency after each attack and the migration's outcome.\n");
}

int main(int argc, char *argv[])
{
	static const struct option options[] = {
		{ "scale", required_argument, NULL, 'x' },
		{ "seconds", required_argument, NULL, 's' },
		{ "tls", no_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	double scale = 1, seconds = 20;
	int c;

	while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
		switch (c) {
		case 'x':
			scale = strtod(optarg, NULL);
			break;
		case 's':
			seconds = strtod(optarg, NULL);
			break;
		case 't':
			tls = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	if (!(scale > 0 && scale <= 4) || !(seconds >= 1 && seconds <= 300)) {
		usage(stderr);
		return 2;
	}
	unsigned idle = (unsigned)(10000 * scale), held = (unsigned)(5000 * scale);
	setvbuf(stdout, NULL, _IOLBF, 0);
	/* this process holds the idle connections */
	struct rlimit rl = { idle + 4096, idle + 4096 };
	(void)setrlimit(RLIMIT_NOFILE, &rl);

	setenv("PODMIG_TEST_CLUSTER_ID", "5", 0);
	setenv("PODMIG_TEST_CLUSTER_TLS", tls ? "1" : "0", 1);
	if (cluster_fixture_up(2, &cluster) < 0)
		return 1;
	setenv("PODMIG_ETCD_ENDPOINTS", cluster_fixture_env(cluster, "PODMIG_ETCD_ENDPOINTS"), 1);
	snprintf(target, sizeof target, "%s:%d", cluster_fixture_node_addr(cluster, "node2"),
	         AGENT_PORT);
	char extra[64];
	snprintf(extra, sizeof extra, ",\"command\":[\"%u\"]", MEMHOG_MIB);
	pid_t agent;
	if (migrate_fixture_wait_nodes(cli, 2, 30000) < 0 ||
	    migrate_fixture_start_container(cluster, cli, "node1", NAME, "localhost/podmig/memhog",
	                                    extra) < 0 ||
	    migrate_fixture_pid(cluster, "node2", "agent", &agent) < 0) {
		fprintf(stderr, "bench-hostile: cannot start the memhog on node1\n");
		cluster_fixture_down(cluster);
		return 1;
	}
	rpc_global_init();
	if (tls) {
		/* the attackers trust the CA and present no certificate */
		snprintf(ca, sizeof ca, "%s", getenv("PODMIG_TLS_CA") ?: "");
		test_hostile_set_tls(ca);
	}

	printf("bench-hostile: node2's agent at %s (%s), memhog %u MiB, %.0f s per attack\n",
	       target, tls ? "TLS, attackers without a certificate" : "plaintext", MEMHOG_MIB,
	       seconds);
	printf("attack     count  RSS MiB  threads       fds           Info s  migration    "
	       "      details\n");
	bool ok = run_round("none", 0, 0, agent);
	ok &= run_round("gzip", 0, seconds, agent);
	ok &= run_round("idle", idle, seconds, agent);
	ok &= run_round("held", held, seconds, agent);
	ok &= run_round("oversize", 0, 0, agent);
	printf("targets: RSS <= %d MiB, Info <= %.0f s after each attack, the migration done "
	       "(rolled back for oversize): %s\n",
	       RSS_TARGET_MIB, INFO_TARGET_SEC, ok ? "all met" : "MISSED");
	rpc_global_shutdown();
	cluster_fixture_down(cluster);
	return ok ? 0 : 1;
}
