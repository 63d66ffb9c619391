/* bench-migration — what a migration costs, against the manual procedure.
 *
 * On a 2-node local cluster (cluster id 2), a memhog container holding N MiB
 * of random memory is moved node1 → node2 by the manual procedure a person
 * uses today: `podman container checkpoint --export` on node1, a copy of the
 * archive over TCP across the nodes' veth link, `podman container restore
 * --import` on node2. Downtime is the longest gap the container itself saw
 * between its timestamped lines; total is checkpoint start to restored.
 * Several runs per size, medians. The raw TCP rate of the link, measured by
 * the same copy, is printed beside it.
 *
 *   bench-migration [--runs N] [--sizes 64,512,1024]
 *
 * podmig's own path (agent to agent) joins this table with the migration
 * issue; this program is its baseline. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
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
#include "log.h"
#include "macro.h"
#include "strutil.h"

#define MAX_RUNS  15
#define MAX_SIZES 8
#define COPY_PORT 47001

static ClusterFixture *cluster;

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double median(double *v, size_t n)
{
	qsort(v, n, sizeof *v, cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Runs argv in node; fails the benchmark on a non-zero exit. */
static int node_run(const char *node, char *const argv[])
{
	_cleanup_free_ char *out = NULL;
	int status = -1;
	int r = cluster_fixture_exec(cluster, node, argv, &out, &status);
	if (r < 0)
		return log_error_errno(r, "%s: cannot run %s", node, argv[0]);
	if (status != 0)
		return log_error_errno(-EIO, "%s: %s %s failed (%d): %s", node, argv[0],
		                       argv[1] ?: "", status, out);
	return 0;
}

static int enter_netns(const char *path)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	return setns(fd, CLONE_NEWNET) < 0 ? -errno : 0;
}

/* Copies src (in node1) to dst (in node2) over TCP across the veth link:
 * a child in node2's namespace receives, this process sends from node1's.
 * Returns the seconds the transfer took. */
static int tcp_copy(const char *src, const char *dst, double *ret_seconds)
{
	const char *ns1 = cluster_fixture_env(cluster, "PODMIG_NODE1_NETNS");
	const char *ns2 = cluster_fixture_env(cluster, "PODMIG_NODE2_NETNS");
	const char *addr2 = cluster_fixture_node_addr(cluster, "node2");
	_cleanup_close_ int home = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	int ready[2];

	if (!ns1 || !ns2 || !addr2 || home < 0 || pipe2(ready, O_CLOEXEC) < 0)
		return -EINVAL;
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(COPY_PORT) };
	inet_pton(AF_INET, addr2, &sa.sin_addr);

	pid_t pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		close(ready[0]);
		int one = 1, ls = -1, c = -1, out = -1;
		char buf[1 << 16];
		if (enter_netns(ns2) < 0 || (ls = socket(AF_INET, SOCK_STREAM, 0)) < 0 ||
		    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
		    bind(ls, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(ls, 1) < 0)
			_exit(1);
		(void)!write(ready[1], "x", 1);
		if ((c = accept(ls, NULL, NULL)) < 0 ||
		    (out = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) < 0)
			_exit(1);
		for (;;) {
			ssize_t n = read(c, buf, sizeof buf);
			if (n == 0)
				break;
			if (n < 0 || write(out, buf, (size_t)n) != n)
				_exit(1);
		}
		_exit(fsync(out) < 0 ? 1 : 0);
	}
	close(ready[1]);
	char x;
	int r = read(ready[0], &x, 1) == 1 ? 0 : -EIO;
	close(ready[0]);

	double t0 = now_s();
	_cleanup_close_ int in = open(src, O_RDONLY | O_CLOEXEC);
	_cleanup_close_ int s = -EBADF;
	if (r == 0 && in >= 0 && (r = enter_netns(ns1)) == 0) {
		s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (s < 0 || connect(s, (struct sockaddr *)&sa, sizeof sa) < 0)
			r = -errno;
		struct stat st;
		off_t off = 0;
		if (r == 0 && fstat(in, &st) == 0)
			while (off < st.st_size) {
				ssize_t n = sendfile(s, in, &off, (size_t)(st.st_size - off));
				if (n <= 0) {
					r = n < 0 ? -errno : -EIO;
					break;
				}
			}
		closep(&s);
		s = -EBADF;
	}
	if (setns(home, CLONE_NEWNET) < 0 && r == 0)
		r = -errno;
	int status = -1;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (r == 0 && (in < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0))
		r = -EIO;
	*ret_seconds = now_s() - t0;
	return r;
}

/* Longest gap between consecutive timestamps in the container's log on node. */
static int longest_gap_ms(const char *node, const char *name, uint64_t *ret)
{
	char path[256];
	_cleanup_free_ char *raw = NULL, *text = NULL;
	_cleanup_free_ CounterSample *v = NULL;
	size_t len = 0, n = 0;
	long status = 0;

	snprintf(path, sizeof path, "/v5.0.0/libpod/containers/%s/logs?stdout=true", name);
	PodmanRequest req = { .method = "GET", .path = path };
	int r = cluster_fixture_podman(cluster, node, &req, &status, &raw, &len);
	if (r < 0 || status != 200)
		return r < 0 ? r : -EIO;
	if ((r = podman_logs_demux(raw, len, &text)) < 0 ||
	    (r = counter_samples_parse(text, &v, &n)) < 0)
		return r;
	if (n < 2)
		return -ENODATA;
	uint64_t gap = 0;
	for (size_t i = 1; i < n; i++) {
		if (v[i].counter != v[i - 1].counter + 1)
			return log_error_errno(-EPROTO,
			                       "memhog restarted or lost state (%llu after %llu)",
			                       (unsigned long long)v[i].counter,
			                       (unsigned long long)v[i - 1].counter);
		gap = MAX(gap, v[i].timestamp_ms - v[i - 1].timestamp_ms);
	}
	*ret = gap;
	return 0;
}

typedef struct Run {
	double downtime_s, total_s, checkpoint_s, copy_s, restore_s, archive_mib;
} Run;

static int manual_run(unsigned mib, const char *work, Run *ret)
{
	char size[16], out[256], in[256];
	const char *name = "bench-memhog";
	snprintf(size, sizeof size, "%u", mib);
	snprintf(out, sizeof out, "%s/out.tar", work);
	snprintf(in, sizeof in, "%s/in.tar", work);

	char *const run[] = { "podman", "run",        "-d",
		              "--name", (char *)name, "localhost/podmig/memhog",
		              size,     NULL };
	char *const rm1[] = { "podman", "rm", "-f", "-t", "0", (char *)name, NULL };
	char *const ckpt[] = { "podman", "container",  "checkpoint", "--export",
		               out,      (char *)name, NULL };
	char *const restore[] = { "podman", "container", "restore", "--import", in, NULL };
	int r;

	node_run("node1", rm1);
	node_run("node2", rm1);
	if ((r = node_run("node1", run)) < 0)
		return r;
	/* memhog prints only once its memory is filled; then let it settle. */
	for (int i = 0;; i++) {
		uint64_t gap;
		if (longest_gap_ms("node1", name, &gap) == 0)
			break;
		if (i > 600)
			return log_error_errno(-ETIMEDOUT, "memhog %u MiB did not start", mib);
		usleep(100 * 1000);
	}
	sleep(2);

	double t0 = now_s();
	if ((r = node_run("node1", ckpt)) < 0)
		return r;
	double t1 = now_s(), copy_s;
	if ((r = tcp_copy(out, in, &copy_s)) < 0)
		return log_error_errno(r, "copying the archive node1 → node2");
	double t2 = now_s();
	if ((r = node_run("node2", restore)) < 0)
		return r;
	double t3 = now_s();
	node_run("node1", rm1);

	sleep(1);
	uint64_t gap_ms;
	if ((r = longest_gap_ms("node2", name, &gap_ms)) < 0)
		return log_error_errno(r, "reading memhog's log on node2");
	struct stat st;
	ret->archive_mib = stat(in, &st) == 0 ? (double)st.st_size / (1 << 20) : 0;
	ret->downtime_s = (double)gap_ms / 1000;
	ret->checkpoint_s = t1 - t0;
	ret->copy_s = copy_s;
	ret->restore_s = t3 - t2;
	ret->total_s = t3 - t0;
	node_run("node2", rm1);
	unlink(out);
	unlink(in);
	return 0;
}

int main(int argc, char *argv[])
{
	static const struct option options[] = {
		{ "runs", required_argument, NULL, 'r' },
		{ "sizes", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	unsigned runs = 3, sizes[MAX_SIZES] = { 64, 512, 1024 }, n_sizes = 3;
	int c, r;

	log_set_program("bench-migration");
	while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0) {
		switch (c) {
		case 'r':
			if (safe_atou(optarg, &runs) < 0 || runs < 1 || runs > MAX_RUNS)
				return log_error("--runs takes 1..%d", MAX_RUNS), 2;
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
			printf("bench-migration [--runs N] [--sizes MIB,MIB,...]\n");
			return 0;
		default:
			return 2;
		}
	}

	setenv("PODMIG_TEST_CLUSTER_ID", "2", 0);
	if ((r = cluster_fixture_up(2, &cluster)) < 0)
		return 1;
	char work[] = "/var/tmp/podmig-bench-migration.XXXXXX";
	if (!mkdtemp(work))
		return log_error_errno(-errno, "mkdtemp"), 1;

	printf("\nmanual procedure (podman checkpoint --export, TCP copy over the veth, "
	       "podman restore --import), %u run(s) each, medians\n\n",
	       runs);
	printf("%8s %10s %10s %8s %12s %8s %10s %10s\n", "MiB", "downtime", "total", "ckpt", "copy",
	       "restore", "archive", "link");
	int failed = 0;
	for (unsigned s = 0; s < n_sizes; s++) {
		double down[MAX_RUNS], total[MAX_RUNS], ck[MAX_RUNS], cp[MAX_RUNS], rs[MAX_RUNS],
		        rate[MAX_RUNS], arch = 0;
		for (unsigned k = 0; k < runs; k++) {
			Run run = {};
			if ((r = manual_run(sizes[s], work, &run)) < 0) {
				failed = 1;
				goto out;
			}
			down[k] = run.downtime_s;
			total[k] = run.total_s;
			ck[k] = run.checkpoint_s;
			cp[k] = run.copy_s;
			rs[k] = run.restore_s;
			rate[k] = run.archive_mib / run.copy_s;
			arch = run.archive_mib;
		}
		printf("%8u %9.2fs %9.2fs %7.2fs %11.2fs %7.2fs %7.0f MiB %6.0f MiB/s\n", sizes[s],
		       median(down, runs), median(total, runs), median(ck, runs), median(cp, runs),
		       median(rs, runs), arch, median(rate, runs));
		fflush(stdout);
	}
out:
	rmdir(work);
	cluster_fixture_down(cluster);
	return failed;
}
