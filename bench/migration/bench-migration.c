/* bench-migration — what a podmig migration costs, per mode, against the
 * manual procedure, on the same two nodes in the same run.
 *
 * On a 2-node local cluster (cluster id 2, with its agents), a memhog
 * container holding N MiB of random memory is moved node1 → node2 once per
 * mode per run, with the manual procedure first in even runs and last in
 * odd ones:
 *   - manual: `podman container checkpoint --export` on node1, a copy of the
 *     archive over TCP across the nodes' veth link into node2's disk (fsynced),
 *     `podman container restore --import` on node2;
 *   - podmig, each of --modes (default stop-and-copy,page-server):
 *     `podmig migrate memhog --to node2 --mode MODE --json`; the record must
 *     say that mode was used.
 * Two workloads (--workloads): memhog rewriting all of its memory, and a
 * small hot set (memhog rewriting only its first --hot MiB, default 32, and
 * reading the rest back). Downtime is the longest gap the container itself
 * saw between its timestamped lines (the same method for all; podmig's own
 * record's downtime_ms is printed beside it); total is checkpoint start to
 * restored for the manual procedure and the wall time of `podmig migrate`
 * for podmig. Every migration must keep memhog's counter going (no restart,
 * no lost line; memhog checks its pages) or the benchmark fails. After each
 * run, raw TCP moves the same number of bytes memory → socket → memory over
 * the same veth link (median of several), against the agents' archive rate
 * and the page-server relay's rate (from node1's agent log).
 *
 *   bench-migration [--runs N] [--sizes 64,512,1024] [--tcp-reps N]
 *                   [--modes LIST] [--workloads memhog,hotset] [--hot MIB]
 *                   [--plot PNG]
 *
 * The targets (page-server downtime ≤ 0.3× manual from 512 MiB;
 * post-copy downtime ≤ 0.5 s at every size for the hot set) are printed per
 * size; in post-copy mode (--modes ...,post-copy) the memhog runs on node2
 * before its pages came, so its total includes the background transfer; the benchmark reports it,
 * it asserts only the counters.
 * --plot draws downtime against memory, one line per mode and workload. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cluster-fixture.h"
#include "json-util.h"
#include "log.h"
#include "macro.h"
#include "process-util.h"
#include "strutil.h"
#include "time-util.h"

#define MAX_RUNS     15
#define MAX_SIZES    8
#define MAX_TCP_REPS 15
#define COPY_PORT    47001
#define NAME         "memhog"

static ClusterFixture *cluster;

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* Median of v[0..n) (sorts a copy; v keeps its order). */
static double median(const double *v, size_t n)
{
	double c[MAX_RUNS * MAX_TCP_REPS];
	memcpy(c, v, n * sizeof *v);
	qsort(c, n, sizeof *c, cmp_double);
	return n % 2 ? c[n / 2] : (c[n / 2 - 1] + c[n / 2]) / 2;
}

/* Runs argv in node; out (may be NULL) gets its output. With `quiet`, a
 * non-zero exit is returned as -EIO without a message. */
static int node_run_full(const char *node, char *const argv[], bool quiet)
{
	_cleanup_free_ char *out = NULL;
	int status = -1;
	int r = cluster_fixture_exec(cluster, node, argv, &out, &status);
	if (r < 0)
		return log_error_errno(r, "%s: cannot run %s", node, argv[0]);
	if (status != 0) {
		if (quiet)
			return -EIO;
		return log_error_errno(-EIO, "%s: %s %s %s failed (%d): %s", node, argv[0],
		                       argv[1] ?: "", argv[1] && argv[2] ? argv[2] : "", status,
		                       out);
	}
	return 0;
}

static int node_run(const char *node, char *const argv[])
{
	return node_run_full(node, argv, false);
}

static int enter_netns(const char *path)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	return setns(fd, CLONE_NEWNET) < 0 ? -errno : 0;
}

/* A receiver in node2's network namespace (a child process) and a sender in
 * node1's (this process, which returns to its own namespace afterwards).
 * With `src` set, the sender sends that file and the receiver writes `dst`
 * and fsyncs it (a real copy); otherwise the sender sends `bytes` from
 * memory and the receiver reads them into memory and drops them (the link
 * alone). The time runs from connect to the receiver's acknowledgement of
 * the last byte. */
static int tcp_transfer(const char *src, const char *dst, uint64_t bytes, double *ret_seconds)
{
	const char *ns1 = cluster_fixture_env(cluster, "PODMIG_NODE1_NETNS");
	const char *ns2 = cluster_fixture_env(cluster, "PODMIG_NODE2_NETNS");
	const char *addr2 = cluster_fixture_node_addr(cluster, "node2");
	_cleanup_close_ int home = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	static uint8_t mem[1 << 20];
	int ready[2];

	if (!ns1 || !ns2 || !addr2 || home < 0 || pipe2(ready, O_CLOEXEC) < 0)
		return -EINVAL;
	if (!src && mem[0] == 0)
		for (size_t i = 0; i < sizeof mem; i++)
			mem[i] = (uint8_t)(random() | 1);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(COPY_PORT) };
	inet_pton(AF_INET, addr2, &sa.sin_addr);

	pid_t pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		close(ready[0]);
		int one = 1, ls = -1, c = -1, out = -1;
		static char buf[1 << 20];
		if (enter_netns(ns2) < 0 || (ls = socket(AF_INET, SOCK_STREAM, 0)) < 0 ||
		    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
		    bind(ls, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(ls, 1) < 0)
			_exit(1);
		(void)!write(ready[1], "x", 1);
		if ((c = accept(ls, NULL, NULL)) < 0)
			_exit(1);
		if (dst && (out = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) < 0)
			_exit(1);
		for (;;) {
			ssize_t n = read(c, buf, sizeof buf);
			if (n == 0)
				break;
			if (n < 0 || (out >= 0 && write(out, buf, (size_t)n) != n))
				_exit(1);
		}
		if (out >= 0 && fsync(out) < 0)
			_exit(1);
		_exit(write(c, "k", 1) == 1 ? 0 : 1);
	}
	close(ready[1]);
	char x;
	int r = read(ready[0], &x, 1) == 1 ? 0 : -EIO;
	close(ready[0]);

	double t0 = mono_sec();
	_cleanup_close_ int in = src ? open(src, O_RDONLY | O_CLOEXEC) : -EBADF;
	int s = -EBADF;
	if (r == 0 && src && in < 0)
		r = -errno;
	if (r == 0 && (r = enter_netns(ns1)) == 0) {
		s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (s < 0 || connect(s, (struct sockaddr *)&sa, sizeof sa) < 0)
			r = -errno;
		struct stat st;
		if (r == 0 && src && fstat(in, &st) == 0) {
			off_t off = 0;
			while (off < st.st_size) {
				ssize_t n = sendfile(s, in, &off, (size_t)(st.st_size - off));
				if (n <= 0) {
					r = n < 0 ? -errno : -EIO;
					break;
				}
			}
		} else if (r == 0)
			for (uint64_t done = 0; done < bytes;) {
				size_t want = (size_t)MIN(bytes - done, (uint64_t)sizeof mem);
				ssize_t n = write(s, mem, want);
				if (n <= 0) {
					r = n < 0 ? -errno : -EIO;
					break;
				}
				done += (uint64_t)n;
			}
		if (r == 0 && (shutdown(s, SHUT_WR) < 0 || read(s, &x, 1) != 1))
			r = -EIO;
		if (s >= 0)
			close(s);
	}
	double t1 = mono_sec();
	if (setns(home, CLONE_NEWNET) < 0 && r == 0)
		r = -errno;
	int status = -1;
	if (r < 0)
		kill(pid, SIGKILL);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (r == 0 && (!WIFEXITED(status) || WEXITSTATUS(status) != 0))
		r = -EIO;
	*ret_seconds = t1 - t0;
	return r;
}

static int memhog_samples(const char *node, CounterSample **ret, size_t *ret_n)
{
	_cleanup_free_ char *raw = NULL, *text = NULL;
	size_t len = 0;
	long status = 0;
	PodmanRequest req = { .method = "GET",
		              .path = "/v5.0.0/libpod/containers/" NAME "/logs?stdout=true" };
	int r = cluster_fixture_podman(cluster, node, &req, &status, &raw, &len);
	if (r < 0 || status != 200)
		return r < 0 ? r : -ENOENT;
	if ((r = podman_logs_demux(raw, len, &text)) < 0 ||
	    (r = counter_samples_parse(text, ret, ret_n)) < 0)
		return r;
	return *ret_n >= 1 ? 0 : -ENODATA;
}

/* The counter memhog printed last on node. */
static int memhog_last(const char *node, uint64_t *ret)
{
	_cleanup_free_ CounterSample *v = NULL;
	size_t n = 0;
	int r = memhog_samples(node, &v, &n);
	if (r >= 0)
		*ret = v[n - 1].counter;
	return r;
}

/* After a migration: memhog on node2 counted on from `before` (its value on
 * node1 just before) without restarting or skipping a line, and kept counting
 * after it. *ret is the longest gap between consecutive lines. */
static int memhog_check(const char *how, unsigned mib, uint64_t before, uint64_t *ret)
{
	_cleanup_free_ CounterSample *v = NULL;
	size_t n = 0;
	int r = memhog_samples("node2", &v, &n);
	if (r < 0)
		return log_error_errno(r, "%s, %u MiB: cannot read memhog's log on node2", how,
		                       mib);
	if (v[0].counter > before || v[n - 1].counter <= before)
		return log_error_errno(-EPROTO,
		                       "%s, %u MiB: memhog's counter restarted: node2's log runs "
		                       "%llu..%llu, it was at %llu on node1 before the migration",
		                       how, mib, (unsigned long long)v[0].counter,
		                       (unsigned long long)v[n - 1].counter,
		                       (unsigned long long)before);
	uint64_t gap = 0;
	for (size_t i = 1; i < n; i++) {
		if (v[i].counter != v[i - 1].counter + 1)
			return log_error_errno(-EPROTO,
			                       "%s, %u MiB: memhog's counter restarted or lost "
			                       "state (%llu after %llu)",
			                       how, mib, (unsigned long long)v[i].counter,
			                       (unsigned long long)v[i - 1].counter);
		gap = MAX(gap, v[i].timestamp_ms - v[i - 1].timestamp_ms);
	}
	*ret = gap;
	return 0;
}

static int podmig_capture(char *const argv[], char **ret_out, int *ret_status)
{
	/* stdout captured; stderr (progress, errors) passes through. */
	return spawn_capture(argv, NULL, 1 << 20, ret_out, ret_status);
}

/* Which nodes' agents publish memhog right now: bit 0 node1, bit 1 node2. */
static int published_on(unsigned *ret)
{
	_cleanup_free_ char *out = NULL;
	int status = -1;
	char *const argv[] = { PODMIG_CLI, "ps", "--json", NULL };
	int r = podmig_capture(argv, &out, &status);
	if (r < 0 || status != 0)
		return r < 0 ? r : -EIO;
	_cleanup_json_ json_t *all = json_loads(out, 0, NULL);
	if (!json_is_array(all))
		return -EBADMSG;
	size_t i;
	json_t *ct;
	unsigned on = 0;
	json_array_foreach (all, i, ct) {
		if (!streq_ptr(json_get_string(ct, "name"), NAME))
			continue;
		const char *node = json_get_string(ct, "node");
		on |= streq_ptr(node, "node1") ? 1 : streq_ptr(node, "node2") ? 2 : 4;
	}
	*ret = on;
	return 0;
}

static int wait_published(unsigned want)
{
	unsigned on = 0;
	for (int i = 0; i < 150; i++) {
		if (published_on(&on) >= 0 && on == want)
			return 0;
		usleep(200 * 1000);
	}
	return log_error_errno(-ETIMEDOUT,
	                       "the agents publish memhog on nodes %#x, not %#x, after 30 s", on,
	                       want);
}

/* Podman's view: is there a container called memhog on node? */
static int exists_on(const char *node)
{
	long status = 0;
	PodmanRequest req = { .method = "GET",
		              .path = "/v5.0.0/libpod/containers/" NAME "/exists" };
	int r = cluster_fixture_podman(cluster, node, &req, &status, NULL, NULL);
	if (r < 0)
		return r;
	return status == 204 ? 1 : status == 404 ? 0 : -EIO;
}

/* No memhog anywhere: removed through Podman on both nodes, checked there
 * and in what the agents publish. */
static int memhog_gone(void)
{
	char *const rm[] = { "podman", "rm", "-f", "-t", "0", NAME, NULL };
	const char *nodes[] = { "node1", "node2" };
	for (size_t i = 0; i < ELEMENTSOF(nodes); i++) {
		(void)node_run_full(nodes[i], rm, true);
		int r = exists_on(nodes[i]);
		if (r != 0)
			return log_error_errno(r < 0 ? r : -EEXIST,
			                       "memhog is still on %s after podman rm -f",
			                       nodes[i]);
	}
	return wait_published(0);
}

/* memhog with `mib` MiB on node1 (a hot set of `hot` MiB, 0: it sweeps
 * all), filled and printing, published by the agent (podmig finds it
 * there), counting for a moment. Its CRIU configuration annotation lets it
 * move in page-server mode; the file it names exists only while an agent
 * dumps or restores it, so the manual procedure runs as without it. */
static int memhog_start(unsigned mib, unsigned hot)
{
	char size[16], hot_size[16];
	snprintf(size, sizeof size, "%u", mib);
	snprintf(hot_size, sizeof hot_size, "%u", hot);
	char *const run[] = { "podman",
		              "run",
		              "-d",
		              "--name",
		              NAME,
		              "--annotation",
		              "org.criu.config=/run/podmig/criu/" NAME ".conf",
		              "localhost/podmig/memhog",
		              size,
		              hot ? hot_size : NULL,
		              NULL };
	int r;
	if ((r = memhog_gone()) < 0 || (r = node_run("node1", run)) < 0)
		return r;
	/* memhog prints only once its memory is filled. */
	for (int i = 0;; i++) {
		uint64_t last;
		if (memhog_last("node1", &last) == 0)
			break;
		if (i > 600)
			return log_error_errno(-ETIMEDOUT, "memhog %u MiB did not start", mib);
		usleep(100 * 1000);
	}
	if ((r = wait_published(1)) < 0)
		return r;
	sleep(2);
	return 0;
}

typedef struct Run {
	double downtime_s, total_s;
	char mode[16];                       /* the mode the record says was used */
	double pages_mib, pages_s;           /* page-server: what the relay carried, how long */
	double pages_record_s, pages_send_s; /* of which recording, sending on */
	/* manual */
	double checkpoint_s, copy_s, restore_s, archive_mib;
	/* podmig: the record's own downtime and phases */
	double rec_downtime_s, prepare_s, dump_s, transfer_s, restore_rec_s;
	uint64_t bytes;
} Run;

static int manual_run(unsigned mib, unsigned hot, const char *work, Run *ret)
{
	char out[256], in[256];
	snprintf(out, sizeof out, "%s/out.tar", work);
	snprintf(in, sizeof in, "%s/in.tar", work);
	char *const rm[] = { "podman", "rm", "-f", "-t", "0", NAME, NULL };
	char *const ckpt[] = { "podman", "container", "checkpoint", "--export", out, NAME, NULL };
	char *const restore[] = { "podman", "container", "restore", "--import", in, NULL };
	uint64_t before, gap_ms;
	int r;

	if ((r = memhog_start(mib, hot)) < 0)
		return r;
	if ((r = memhog_last("node1", &before)) < 0)
		return log_error_errno(r, "reading memhog's log on node1");
	double t0 = mono_sec();
	if ((r = node_run("node1", ckpt)) < 0)
		return r;
	double t1 = mono_sec(), copy_s;
	if ((r = tcp_transfer(out, in, 0, &copy_s)) < 0)
		return log_error_errno(r, "copying the archive node1 → node2");
	double t2 = mono_sec();
	if ((r = node_run("node2", restore)) < 0)
		return r;
	double t3 = mono_sec();
	(void)node_run("node1", rm);

	sleep(1);
	if ((r = memhog_check("manual procedure", mib, before, &gap_ms)) < 0)
		return r;
	struct stat st;
	ret->archive_mib = stat(in, &st) == 0 ? (double)st.st_size / (1 << 20) : 0;
	ret->downtime_s = (double)gap_ms / 1000;
	ret->checkpoint_s = t1 - t0;
	ret->copy_s = copy_s;
	ret->restore_s = t3 - t2;
	ret->total_s = t3 - t0;
	unlink(out);
	unlink(in);
	return memhog_gone();
}

static double phase_s(json_t *times, const char *from, const char *to)
{
	uint64_t a = json_get_u64(times, from, 0), b = json_get_u64(times, to, 0);
	return a && b && b >= a ? (double)(b - a) / 1000 : 0;
}

/* What node1's agent logged of the page relay of migration `id`: "<id>: N
 * bytes of pages relayed to ... in M ms (... R ms recording them, S ms
 * sending them)". */
static int relay_logged(const char *id, Run *ret)
{
	char path[512], line[1024], want[128];
	snprintf(path, sizeof path, "%s/nodes/node1/agent.log",
	         cluster_fixture_env(cluster, "PODMIG_CLUSTER_DIR"));
	snprintf(want, sizeof want, "migration %s: ", id);
	_cleanup_fclose_ FILE *f = fopen(path, "re");
	int r = -ENOENT;
	while (f && fgets(line, sizeof line, f)) {
		const char *at = strstr(line, want);
		unsigned long long bytes, ms, record_ms = 0, send_ms = 0;
		if (at && sscanf(at + strlen(want),
		                 "%llu bytes of pages relayed to %*s in %llu ms (%*s MB/s; %llu ms "
		                 "recording them, %llu ms sending them)",
		                 &bytes, &ms, &record_ms, &send_ms) >= 2) {
			ret->pages_mib = (double)bytes / (1 << 20);
			ret->pages_s = (double)ms / 1000;
			ret->pages_record_s = (double)record_ms / 1000;
			ret->pages_send_s = (double)send_ms / 1000;
			r = 0;
		}
	}
	return r;
}

static int podmig_run(unsigned mib, unsigned hot, const char *mode, Run *ret)
{
	char *const migrate[] = { PODMIG_CLI, "migrate",    NAME,     "--to", "node2",
		                  "--mode",   (char *)mode, "--json", NULL };
	_cleanup_free_ char *out = NULL;
	uint64_t before, gap_ms;
	int status = -1, r;

	if ((r = memhog_start(mib, hot)) < 0)
		return r;
	if ((r = memhog_last("node1", &before)) < 0)
		return log_error_errno(r, "reading memhog's log on node1");
	double t0 = mono_sec();
	r = podmig_capture(migrate, &out, &status);
	double t1 = mono_sec();
	if (r < 0 || status != 0)
		return log_error_errno(r < 0 ? r : -EIO,
		                       "podmig migrate %s --to node2 (%u MiB) failed (exit %d): %s",
		                       NAME, mib, status, out ?: "");
	_cleanup_json_ json_t *rec = json_loads(out, 0, NULL);
	if (!rec || !streq_ptr(json_get_string(rec, "phase"), "done"))
		return log_error_errno(-EBADMSG, "podmig migrate printed no `done` record: %s",
		                       out);
	if (exists_on("node1") != 0)
		return log_error_errno(-EEXIST, "podmig left memhog on node1 after `done`");

	sleep(1);
	if ((r = memhog_check("podmig", mib, before, &gap_ms)) < 0)
		return r;
	json_t *times = json_object_get(rec, "phase_times_ms");
	ret->downtime_s = (double)gap_ms / 1000;
	ret->total_s = t1 - t0;
	ret->rec_downtime_s = (double)json_get_u64(rec, "downtime_ms", 0) / 1000;
	ret->prepare_s = phase_s(times, "planned", "checkpointing");
	ret->dump_s = phase_s(times, "checkpointing", "transferring");
	ret->transfer_s = phase_s(times, "transferring", "restoring");
	ret->restore_rec_s = phase_s(times, "restoring", "done");
	ret->bytes = json_get_u64(rec, "bytes", 0);
	snprintf(ret->mode, sizeof ret->mode, "%s", json_get_string(rec, "mode") ?: "?");
	if (!streq(ret->mode, mode))
		return log_error_errno(-EPROTO, "asked for %s, the record says %s: %s", mode,
		                       ret->mode, json_get_string(rec, "mode_reason") ?: "");
	if (streq(mode, "page-server") && relay_logged(json_get_string(rec, "id") ?: "", ret) < 0)
		return log_error_errno(-ENOENT, "node1's agent logged no page relay");
	return memhog_gone();
}

#define MAX_MODES     3
#define MAX_WORKLOADS 2
#define PS_TARGET     0.3 /* page-server downtime ≤ PS_TARGET × manual, from 512 MiB */
#define PC_TARGET_S   0.5 /* post-copy downtime ≤ PC_TARGET_S, every size, hot set */

typedef struct SizeResult {
	unsigned mib, hot; /* hot 0: memhog sweeps all its memory */
	Run manual[MAX_RUNS], podmig[MAX_MODES][MAX_RUNS];
	double tcp[MAX_RUNS * MAX_TCP_REPS]; /* seconds for the first mode's bytes */
	size_t n_tcp;
} SizeResult;

static const char *modes[MAX_MODES];
static unsigned n_modes;

static double med_run(const Run *v, unsigned n, size_t offset)
{
	double d[MAX_RUNS];
	for (unsigned k = 0; k < n; k++)
		d[k] = *(const double *)((const char *)&v[k] + offset);
	return median(d, n);
}
#define MED(runs, n, field) med_run((runs), (n), offsetof(Run, field))

static const char *workload_name(const SizeResult *r)
{
	return r->hot ? "hot set" : "memhog";
}

static void print_results(const SizeResult *res, unsigned n_res, unsigned runs)
{
	printf("\nDowntime (longest gap memhog saw) and total, medians of %u run(s); "
	       "hot set: memhog rewrites only its first %u MiB and reads the rest\n\n",
	       runs, res[0].hot ? res[0].hot : (n_res > 1 ? res[n_res - 1].hot : 0));
	printf("| workload | MiB | manual downtime |");
	for (unsigned m = 0; m < n_modes; m++)
		printf(" %s downtime | × manual |", modes[m]);
	printf(" manual total |");
	for (unsigned m = 0; m < n_modes; m++)
		printf(" %s total |", modes[m]);
	printf("\n|---|---:|---:|");
	for (unsigned m = 0; m < n_modes; m++)
		printf("---:|---:|");
	printf("---:|");
	for (unsigned m = 0; m < n_modes; m++)
		printf("---:|");
	printf("\n");
	for (unsigned i = 0; i < n_res; i++) {
		const SizeResult *r = &res[i];
		double md = MED(r->manual, runs, downtime_s);
		printf("| %s | %u | %.2f s |", workload_name(r), r->mib, md);
		for (unsigned m = 0; m < n_modes; m++) {
			double d = MED(r->podmig[m], runs, downtime_s);
			bool ps = streq(modes[m], "page-server") && r->mib >= 512;
			bool pc = streq(modes[m], "post-copy") && r->hot;
			printf(" %.2f s%s | %.2f%s |", d,
			       pc ? (d <= PC_TARGET_S ? " (≤ 0.5 s: PASS)" : " (> 0.5 s: FAIL)")
			          : "",
			       d / md,
			       ps ? (d <= PS_TARGET * md ? " (≤ 0.3: PASS)" : " (> 0.3: FAIL)")
			          : "");
		}
		printf(" %.2f s |", MED(r->manual, runs, total_s));
		for (unsigned m = 0; m < n_modes; m++)
			printf(" %.2f s |", MED(r->podmig[m], runs, total_s));
		printf("\n");
	}

	printf("\nPhases, medians: manual = checkpoint --export / TCP copy to node2's disk "
	       "(fsync) / restore --import; podmig = the record's checkpointing→transferring "
	       "(Podman dumps; in page-server mode the pages stream to the target meanwhile) "
	       "/ transferring→restoring (archive streamed, verified, stored) / "
	       "restoring→done\n\n");
	printf("| workload | MiB | manual ckpt | copy | restore |");
	for (unsigned m = 0; m < n_modes; m++)
		printf(" %s dump | transfer | restore |", modes[m]);
	printf("\n|---|---:|---:|---:|---:|");
	for (unsigned m = 0; m < n_modes; m++)
		printf("---:|---:|---:|");
	printf("\n");
	for (unsigned i = 0; i < n_res; i++) {
		const SizeResult *r = &res[i];
		printf("| %s | %u | %.2f s | %.2f s | %.2f s |", workload_name(r), r->mib,
		       MED(r->manual, runs, checkpoint_s), MED(r->manual, runs, copy_s),
		       MED(r->manual, runs, restore_s));
		for (unsigned m = 0; m < n_modes; m++)
			printf(" %.2f s | %.2f s | %.2f s |", MED(r->podmig[m], runs, dump_s),
			       MED(r->podmig[m], runs, transfer_s),
			       MED(r->podmig[m], runs, restore_rec_s));
		printf("\n");
	}

	printf("\nTransfer rate against raw TCP moving the same bytes memory→socket→memory "
	       "over the same veth link (median of %zu per size): page-server = the pages the "
	       "source's relay carried / its first-to-last-byte time (the dump's own pace "
	       "included); post-copy = bytes / restoring→done (the restore and the "
	       "background fetch of every page); stop-and-copy = archive bytes / "
	       "transferring→restoring\n\n",
	       res[0].n_tcp);
	printf("| workload | MiB | raw TCP |");
	for (unsigned m = 0; m < n_modes; m++)
		printf(" %s | / raw TCP |", modes[m]);
	printf("\n|---|---:|---:|");
	for (unsigned m = 0; m < n_modes; m++)
		printf("---:|---:|");
	printf("\n");
	for (unsigned i = 0; i < n_res; i++) {
		const SizeResult *r = &res[i];
		double tcp = (double)r->podmig[0][0].bytes / (1 << 20) / median(r->tcp, r->n_tcp);
		printf("| %s | %u | %.0f MiB/s |", workload_name(r), r->mib, tcp);
		for (unsigned m = 0; m < n_modes; m++) {
			double rate[MAX_RUNS];
			for (unsigned k = 0; k < runs; k++) {
				const Run *x = &r->podmig[m][k];
				/* post-copy: its pages come while it runs on the
				 * target (restoring → done, the restore included) */
				bool pc = streq(modes[m], "post-copy");
				double pc_s = x->restore_rec_s;
				rate[k] =
				        streq(modes[m], "page-server")
				                ? (x->pages_s > 0 ? x->pages_mib / x->pages_s : 0)
				        : pc ? (pc_s > 0 ? (double)x->bytes / (1 << 20) / pc_s : 0)
				        : x->transfer_s > 0
				                ? (double)x->bytes / (1 << 20) / x->transfer_s
				                : 0;
			}
			double a = median(rate, runs);
			printf(" %.0f MiB/s | %.2f |", a, a / tcp);
		}
		printf("\n");
	}
	fflush(stdout);
}

/* downtime against memory, one line per mode and workload (gnuplot). */
static int plot(const SizeResult *res, unsigned n_res, unsigned runs, const char *png)
{
	char data[] = "/tmp/bench-migration-plot.XXXXXX";
	_cleanup_close_ int fd = mkstemp(data);
	if (fd < 0)
		return -errno;
	_cleanup_fclose_ FILE *f = fdopen(TAKE_FD(fd), "w");
	if (!f)
		return -errno;
	/* one block per workload: MiB manual mode... */
	for (unsigned hot_pass = 0; hot_pass < 2; hot_pass++) {
		bool any = false;
		for (unsigned i = 0; i < n_res; i++) {
			const SizeResult *r = &res[i];
			if ((r->hot != 0) != hot_pass)
				continue;
			any = true;
			fprintf(f, "%u %.3f", r->mib, MED(r->manual, runs, downtime_s));
			for (unsigned m = 0; m < n_modes; m++)
				fprintf(f, " %.3f", MED(r->podmig[m], runs, downtime_s));
			fprintf(f, "\n");
		}
		fprintf(f, any ? "\n\n" : "0 0\n\n\n");
	}
	if (fflush(f) != 0)
		return -EIO;
	_cleanup_free_ char *script = NULL;
	size_t len = 0;
	_cleanup_fclose_ FILE *g = open_memstream(&script, &len);
	if (!g)
		return -ENOMEM;
	fprintf(g,
	        "set terminal pngcairo size 900,560; set output '%s';"
	        "set title 'Migration downtime against memory (medians of %u run(s))';"
	        "set xlabel 'container memory (MiB)'; set ylabel 'downtime (s)';"
	        "set key top left; set grid; plot ",
	        png, runs);
	static const char *const names[] = { "memhog", "hot set" };
	for (unsigned w = 0; w < 2; w++) {
		fprintf(g, "%s'%s' index %u using 1:2 with linespoints dt %u title 'manual (%s)'",
		        w ? ", " : "", data, w, w + 1, names[w]);
		for (unsigned m = 0; m < n_modes; m++)
			fprintf(g,
			        ", '%s' index %u using 1:%u with linespoints dt %u title '%s (%s)'",
			        data, w, m + 3, w + 1, modes[m], names[w]);
	}
	fclose(TAKE_PTR(g));
	char *const argv[] = { "gnuplot", "-e", script, NULL };
	int status = -1;
	int r = spawn_wait(argv, NULL, &status);
	unlink(data);
	return r < 0 ? r : status == 0 ? 0 : -EIO;
}

/* Splits arg (an argv string, cut in place: items point into it, so each
 * list keeps its own) at commas. */
static int parse_list(char *arg, const char *what, char *items[], unsigned max, unsigned *ret_n)
{
	char *save = NULL;
	unsigned n = 0;
	for (char *t = strtok_r(arg, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		if (n >= max)
			return log_error_errno(-E2BIG, "%s: at most %u", what, max);
		items[n++] = t;
	}
	*ret_n = n;
	return n ? 0 : -EINVAL;
}

int main(int argc, char *argv[])
{
	static const struct option options[] = {
		{ "runs", required_argument, NULL, 'r' },
		{ "sizes", required_argument, NULL, 's' },
		{ "tcp-reps", required_argument, NULL, 't' },
		{ "modes", required_argument, NULL, 'm' },
		{ "workloads", required_argument, NULL, 'w' },
		{ "hot", required_argument, NULL, 'H' },
		{ "plot", required_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	unsigned runs = 3, sizes[MAX_SIZES] = { 64, 512, 1024 }, n_sizes = 3, tcp_reps = 5;
	unsigned hot_mib = 32, n_workloads = 2;
	char *workloads[MAX_WORKLOADS] = { "memhog", "hotset" };
	const char *png = NULL;
	int c, r;

	modes[0] = "stop-and-copy";
	modes[1] = "page-server";
	n_modes = 2;
	log_set_program("bench-migration");
	while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0) {
		switch (c) {
		case 'r':
			if (safe_atou(optarg, &runs) < 0 || runs < 1 || runs > MAX_RUNS)
				return log_error("--runs takes 1..%d", MAX_RUNS), 2;
			break;
		case 't':
			if (safe_atou(optarg, &tcp_reps) < 0 || tcp_reps < 1 ||
			    tcp_reps > MAX_TCP_REPS)
				return log_error("--tcp-reps takes 1..%d", MAX_TCP_REPS), 2;
			break;
		case 'H':
			if (safe_atou(optarg, &hot_mib) < 0 || hot_mib < 1)
				return log_error("--hot takes a size in MiB"), 2;
			break;
		case 'p':
			png = optarg;
			break;
		case 'm': {
			static char *m[MAX_MODES];
			if (parse_list(optarg, "--modes", m, MAX_MODES, &n_modes) < 0)
				return 2;
			for (unsigned i = 0; i < n_modes; i++) {
				if (!streq(m[i], "stop-and-copy") && !streq(m[i], "page-server") &&
				    !streq(m[i], "pre-copy") && !streq(m[i], "post-copy"))
					return log_error("--modes: unknown mode '%s'", m[i]), 2;
				modes[i] = m[i];
			}
			break;
		}
		case 'w':
			if (parse_list(optarg, "--workloads", workloads, MAX_WORKLOADS,
			               &n_workloads) < 0)
				return 2;
			for (unsigned i = 0; i < n_workloads; i++)
				if (!streq(workloads[i], "memhog") &&
				    !streq(workloads[i], "hotset"))
					return log_error("--workloads: memhog or hotset, not '%s'",
					                 workloads[i]),
					       2;
			break;
		case 's': {
			n_sizes = 0;
			_cleanup_free_ char *copy = strdup(optarg);
			char *save = NULL;
			for (char *t = strtok_r(copy, ",", &save); t;
			     t = strtok_r(NULL, ",", &save))
				if (n_sizes >= MAX_SIZES || safe_atou(t, &sizes[n_sizes++]) < 0 ||
				    sizes[n_sizes - 1] == 0)
					return log_error("--sizes takes up to %d MiB values, e.g. "
					                 "64,512",
					                 MAX_SIZES),
					       2;
			break;
		}
		case 'h':
			printf("bench-migration [--runs N] [--sizes MIB,MIB,...] [--tcp-reps N]\n"
			       "                [--modes "
			       "stop-and-copy,page-server,pre-copy,post-copy]\n"
			       "                [--workloads memhog,hotset] [--hot MIB] [--plot "
			       "PNG]\n");
			return 0;
		default:
			return 2;
		}
	}

	static SizeResult res[MAX_SIZES * MAX_WORKLOADS];
	unsigned n_res = 0;
	setenv("PODMIG_TEST_CLUSTER_ID", "2", 0);
	if ((r = cluster_fixture_up(2, &cluster)) < 0)
		return 1;
	setenv("PODMIG_ETCD_ENDPOINTS", cluster_fixture_env(cluster, "PODMIG_ETCD_ENDPOINTS"), 1);
	char work[] = "/var/tmp/podmig-bench-migration.XXXXXX";
	if (!mkdtemp(work))
		return log_error_errno(-errno, "mkdtemp"), 1;

	double started = mono_sec();
	int failed = 0;
	for (unsigned w = 0; w < n_workloads && !failed; w++)
		for (unsigned s = 0; s < n_sizes && !failed; s++) {
			SizeResult *sr = &res[n_res++];
			sr->mib = sizes[s];
			sr->hot = streq(workloads[w], "hotset") ? MIN(hot_mib, sizes[s]) : 0;
			for (unsigned k = 0; k < runs && !failed; k++) {
				Run *m = &sr->manual[k];
				/* Alternate which goes first, so neither always gets the
				 * warmer caches or the calmer machine. */
				if (k % 2 == 0 && manual_run(sr->mib, sr->hot, work, m) < 0)
					failed = 1;
				for (unsigned i = 0; i < n_modes && !failed; i++)
					if (podmig_run(sr->mib, sr->hot, modes[i],
					               &sr->podmig[i][k]) < 0)
						failed = 1;
				if (!failed && k % 2 == 1 &&
				    manual_run(sr->mib, sr->hot, work, m) < 0)
					failed = 1;
				for (unsigned t = 0; t < tcp_reps && !failed; t++) {
					double sec;
					if ((r = tcp_transfer(NULL, NULL, sr->podmig[0][k].bytes,
					                      &sec)) < 0) {
						log_error_errno(
						        r, "raw TCP over the veth link failed");
						failed = 1;
						break;
					}
					sr->tcp[sr->n_tcp++] = sec;
				}
				if (failed)
					break;
				fprintf(stderr,
				        "bench-migration: %s %u MiB run %u: downtime manual %.2f s",
				        workload_name(sr), sr->mib, k + 1, m->downtime_s);
				for (unsigned i = 0; i < n_modes; i++) {
					const Run *x = &sr->podmig[i][k];
					fprintf(stderr, ", %s %.2f s (record %.2f s", modes[i],
					        x->downtime_s, x->rec_downtime_s);
					if (x->pages_s > 0)
						fprintf(stderr,
						        "; pages relayed in %.2f s: %.2f s "
						        "recording, %.2f s sending",
						        x->pages_s, x->pages_record_s,
						        x->pages_send_s);
					fprintf(stderr, ")");
				}
				fprintf(stderr, "\n");
			}
		}
	if (!failed) {
		print_results(res, n_res, runs);
		if (png && (r = plot(res, n_res, runs, png)) < 0)
			log_error_errno(r, "gnuplot could not draw %s", png);
		else if (png)
			printf("\nplot: %s\n", png);
	}
	printf("\n(%s; %.0f s)\n", failed ? "FAILED" : "done", mono_sec() - started);
	rmdir(work);
	cluster_fixture_down(cluster);
	return failed;
}
