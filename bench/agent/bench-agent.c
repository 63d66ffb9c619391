/* bench-agent — what podmig-agent costs its node.
 *
 * On a 1-node local cluster (cluster id 4) with 20 running containers, the
 * node's agent samples at its default 1 s interval. Over a window (60 s by
 * default) this measures the agent's CPU time (utime + stime, and its
 * waited-for children's, from /proc/PID/stat) and peak RSS (VmHWM of
 * /proc/PID/status), and the CPU time of the node's Podman API service
 * (likewise, so the runc runs it makes count) — first with the agent running, then
 * with the agent stopped and the same 20 containers, in the same run — so
 * the difference is what Podman spends answering the agent.
 *
 *   bench-agent [--seconds N] [--containers N]
 *
 * Targets: the agent below 1% of one core and 32 MiB RSS. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "cluster-fixture.h"
#include "json-util.h"
#include "log.h"
#include "macro.h"
#include "process-util.h"
#include "strutil.h"
#include "time-util.h"

#ifndef PODMIG_CLI
#error "PODMIG_CLI must be defined by the build"
#endif

#define API    "/v5.0.0/libpod"
#define NODE   "node1"
#define PREFIX "bench-agent-"

static ClusterFixture *cluster;

static int node_pidfile(const char *file, pid_t *ret)
{
	char path[512];
	long pid = 0;
	snprintf(path, sizeof path, "%s/nodes/" NODE "/%s",
	         cluster_fixture_env(cluster, "PODMIG_CLUSTER_DIR"), file);
	_cleanup_fclose_ FILE *f = fopen(path, "re");
	if (!f)
		return log_error_errno(-errno, "cannot open %s", path);
	if (fscanf(f, "%ld", &pid) != 1 || pid <= 1)
		return log_error_errno(-EBADMSG, "%s holds no pid", path);
	*ret = (pid_t)pid;
	return 0;
}

/* CPU time of a process in seconds: utime + stime (all its threads) plus
 * cutime + cstime (its children it has waited for: the runc and other helper
 * runs a Podman service makes count as its work); and its state. */
static int proc_cpu(pid_t pid, double *ret_seconds, char *ret_state)
{
	char path[64], buf[2048];
	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	_cleanup_fclose_ FILE *f = fopen(path, "re");
	if (!f)
		return -errno;
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	buf[n] = '\0';
	/* the command name may hold spaces and parentheses: fields start
	 * after the last ')' */
	const char *p = strrchr(buf, ')');
	char state;
	unsigned long long utime, stime, cutime, cstime;
	if (!p || sscanf(p + 2, "%c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %llu %llu",
	                 &state, &utime, &stime, &cutime, &cstime) != 5)
		return -EBADMSG;
	if (ret_state)
		*ret_state = state;
	*ret_seconds = (double)(utime + stime + cutime + cstime) / (double)sysconf(_SC_CLK_TCK);
	return 0;
}

/* A field of /proc/PID/status in KiB (VmHWM, VmRSS). */
static int proc_status_kib(pid_t pid, const char *field, uint64_t *ret)
{
	char path[64], line[256];
	size_t flen = strlen(field);
	snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
	_cleanup_fclose_ FILE *f = fopen(path, "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof line, f)) {
		unsigned long long v;
		if (strncmp(line, field, flen) == 0 && line[flen] == ':' &&
		    sscanf(line + flen + 1, "%llu", &v) == 1) {
			*ret = v;
			return 0;
		}
	}
	return -ENOENT;
}

/* The pid files name the programs themselves, not a wrapper. */
static int proc_expect_comm(pid_t pid, const char *comm)
{
	char path[64], buf[64] = "";
	snprintf(path, sizeof path, "/proc/%d/comm", (int)pid);
	_cleanup_fclose_ FILE *f = fopen(path, "re");
	if (!f || !fgets(buf, sizeof buf, f))
		return log_error_errno(-ESRCH, "process %d is gone", (int)pid);
	buf[strcspn(buf, "\n")] = '\0';
	if (!streq(buf, comm))
		return log_error_errno(-ESRCH, "process %d is %s, not %s", (int)pid, buf, comm);
	return 0;
}

static bool proc_running(pid_t pid)
{
	double s;
	char state = 0;
	return proc_cpu(pid, &s, &state) >= 0 && state != 'Z';
}

static int podman_expect(const char *method, const char *path, const char *body, long want)
{
	PodmanRequest req = { .method = method, .path = path, .body = body };
	_cleanup_free_ char *resp = NULL;
	long status = 0;
	int r = cluster_fixture_podman(cluster, NODE, &req, &status, &resp, NULL);
	if (r < 0)
		return r;
	if (status != want)
		return log_error_errno(-EIO, "%s %s: HTTP %ld: %s", method, path, status, resp);
	return 0;
}

static int containers_start(unsigned n)
{
	char spec[256], path[256];
	int r;
	for (unsigned i = 0; i < n; i++) {
		snprintf(spec, sizeof spec,
		         "{\"name\":\"" PREFIX "%02u\",\"image\":\"localhost/podmig/busybox\","
		         "\"command\":[\"sleep\",\"86400\"]}",
		         i);
		snprintf(path, sizeof path, API "/containers/" PREFIX "%02u/start", i);
		if ((r = podman_expect("POST", API "/containers/create", spec, 201)) < 0 ||
		    (r = podman_expect("POST", path, NULL, 204)) < 0)
			return r;
	}
	return 0;
}

/* How many containers with stats the agent publishes for the node (via
 * `podmig nodes --json`), or negative. */
static int published_containers_with_stats(void)
{
	_cleanup_free_ char *out = NULL;
	int status = -1;
	char *const argv[] = { (char *)PODMIG_CLI, "nodes", "--json", NULL };
	int r = spawn_capture(argv, &(SpawnOptions){ .quiet = true }, 4 << 20, &out, &status);
	if (r < 0 || status != 0)
		return -EIO;
	_cleanup_json_ json_t *nodes = json_loads(out, 0, NULL);
	json_t *cts =
	        json_object_get(json_object_get(json_array_get(nodes, 0), "status"), "containers");
	size_t i;
	json_t *c;
	int n = 0;
	json_array_foreach (cts, i, c)
		if (json_object_get(c, "cpu_percent"))
			n++;
	return n;
}

typedef struct Window {
	double seconds;
	double agent_cpu_s; /* -1: agent not running */
	double service_cpu_s;
	uint64_t agent_hwm_kib;
} Window;

/* Samples the agent (if `agent` > 0) and the service every second for
 * `seconds`; CPU time is the difference between the ends. */
static int measure(pid_t agent, pid_t service, unsigned seconds, Window *ret)
{
	double a0 = 0, a1 = 0, s0, s1;
	int r;

	*ret = (Window){ .agent_cpu_s = -1 };
	if ((agent > 0 && (r = proc_cpu(agent, &a0, NULL)) < 0) ||
	    (r = proc_cpu(service, &s0, NULL)) < 0)
		return log_error_errno(r, "cannot read /proc of the agent or the service");
	double t0 = mono_sec();
	for (unsigned i = 1; i <= seconds; i++) {
		double wait = t0 + i - mono_sec();
		if (wait > 0)
			sleep_usec((uint64_t)(wait * USEC_PER_SEC));
		if ((agent > 0 && !proc_running(agent)) || !proc_running(service))
			return log_error_errno(-ESRCH, "the agent or the Podman service died "
			                               "during the measurement");
		fprintf(stderr, "\r%u/%u s", i, seconds);
	}
	fprintf(stderr, "\r");
	if ((agent > 0 && (r = proc_cpu(agent, &a1, NULL)) < 0) ||
	    (r = proc_cpu(service, &s1, NULL)) < 0)
		return log_error_errno(r, "cannot read /proc of the agent or the service");
	ret->seconds = mono_sec() - t0;
	ret->service_cpu_s = s1 - s0;
	if (agent > 0) {
		ret->agent_cpu_s = a1 - a0;
		if ((r = proc_status_kib(agent, "VmHWM", &ret->agent_hwm_kib)) < 0)
			return log_error_errno(r, "cannot read the agent's VmHWM");
	}
	return 0;
}

int main(int argc, char *argv[])
{
	static const struct option options[] = {
		{ "seconds", required_argument, NULL, 's' },
		{ "containers", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	unsigned seconds = 60, n_containers = 20;
	int c, r;

	while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
		switch (c) {
		case 's':
			if (safe_atou(optarg, &seconds) < 0 || seconds == 0)
				return log_error("--seconds takes a positive number"), 2;
			break;
		case 'c':
			if (safe_atou(optarg, &n_containers) < 0 || n_containers > 99)
				return log_error("--containers takes 0..99"), 2;
			break;
		case 'h':
			printf("bench-agent [--seconds N] [--containers N]\n");
			return 0;
		default:
			return 2;
		}

	setenv("PODMIG_TEST_CLUSTER_ID", "4", 0);
	if (cluster_fixture_up(1, &cluster) < 0)
		return 1;
	setenv("PODMIG_ETCD_ENDPOINTS", cluster_fixture_env(cluster, "PODMIG_ETCD_ENDPOINTS"), 1);
	int failed = 1;
	pid_t agent, service;
	if (node_pidfile("agent.pid", &agent) < 0 || node_pidfile("podman.pid", &service) < 0 ||
	    proc_expect_comm(agent, "podmig-agent") < 0 || proc_expect_comm(service, "podman") < 0)
		goto out;
	fprintf(stderr, "starting %u containers on " NODE "\n", n_containers);
	if (containers_start(n_containers) < 0)
		goto out;
	/* The agent publishes all of them with stats before the window opens,
	 * then a few more samples pass so start-up work is behind it. */
	double deadline = mono_sec() + 120;
	while ((r = published_containers_with_stats()) != (int)n_containers) {
		if (mono_sec() > deadline) {
			log_error("the agent publishes %d of %u containers after 120 s", r,
			          n_containers);
			goto out;
		}
		sleep_usec((uint64_t)(0.5 * USEC_PER_SEC));
	}
	sleep_usec(5 * USEC_PER_SEC);

	Window with, without;
	fprintf(stderr, "measuring %u s with the agent running\n", seconds);
	if (measure(agent, service, seconds, &with) < 0)
		goto out;
	kill(agent, SIGTERM);
	for (int i = 0; i < 100 && proc_running(agent); i++)
		sleep_usec((uint64_t)(0.1 * USEC_PER_SEC));
	if (proc_running(agent)) {
		log_error("the agent (pid %d) did not stop on SIGTERM", (int)agent);
		goto out;
	}
	sleep_usec(2 * USEC_PER_SEC);
	fprintf(stderr, "measuring %u s with the agent stopped\n", seconds);
	if (measure(0, service, seconds, &without) < 0)
		goto out;

	double agent_pct = 100 * with.agent_cpu_s / with.seconds;
	double svc_with = 100 * with.service_cpu_s / with.seconds;
	double svc_without = 100 * without.service_cpu_s / without.seconds;
	double hwm_mib = (double)with.agent_hwm_kib / 1024;
	printf("\npodmig-agent on a node with %u running containers, 1 s interval, %u s windows "
	       "(CPU %% of one core)\n\n",
	       n_containers, seconds);
	printf("| measure | value | target |\n|---|---:|---:|\n");
	printf("| agent CPU | %.2f%% (%.2f s) | < 1%% |\n", agent_pct, with.agent_cpu_s);
	printf("| agent peak RSS (VmHWM) | %.1f MiB | < 32 MiB |\n", hwm_mib);
	printf("| Podman service CPU, agent running | %.2f%% (%.2f s) | |\n", svc_with,
	       with.service_cpu_s);
	printf("| Podman service CPU, agent stopped | %.2f%% (%.2f s) | |\n", svc_without,
	       without.service_cpu_s);
	printf("| Podman's extra CPU for the agent | %.2f%% | |\n", svc_with - svc_without);
	printf("\nagent: %s; RSS: %s\n", agent_pct < 1 ? "within target" : "OVER target",
	       hwm_mib < 32 ? "within target" : "OVER target");
	failed = 0;
out:
	cluster_fixture_down(cluster);
	return failed;
}
