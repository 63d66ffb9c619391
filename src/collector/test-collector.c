/* test-collector.c — the /proc parsers on copies of real files
 * (tests/data/proc), rates between two readings, both accounting sources over
 * a fake proc root, container CPU rates from real Podman stats replies
 * (tests/data/podman), the Podman poller against a fake Podman that answers
 * or hangs (a sample never waits longer than its bound, one request at a
 * time, busy containers left alone), and the CRIU probe against a stand-in
 * criu. */
#include <errno.h>
#include <jansson.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "collector.h"
#include "strutil.h"
#include "time-util.h"

static const char *data_dir;

static char *load(const char *name)
{
	char path[4096];
	char *text = NULL;
	snprintf(path, sizeof path, "%s/%s", data_dir, name);
	assert_int_equal(read_text_file(path, &text), 0);
	return text;
}

static void test_proc_stat(void **state)
{
	_cleanup_free_ char *a = load("proc/stat-1"), *b = load("proc/stat-2");
	ProcStatCpu p, c;
	assert_int_equal(proc_stat_parse(a, &p), 0);
	assert_int_equal(proc_stat_parse(b, &c), 0);
	assert_int_equal(p.cpus, 2);
	assert_int_equal(p.total, 390774);
	assert_int_equal(p.idle, 350594 + 610);
	/* 199 jiffies passed, 197 of them idle */
	assert_float_equal(cpu_busy_fraction(&p, &c), 2.0 / 199.0, 1e-9);
	assert_float_equal(cpu_busy_fraction(&c, &p), 0, 0);
	assert_float_equal(cpu_busy_fraction(&c, &c), 0, 0);

	static const char *const bad[] = { "",
		                           "cpu",
		                           "cpu  1 2 3\ncpu0 1 2 3 4\n",
		                           "cpu  1 2 3 4\n",
		                           "intr 5\n",
		                           "cpu  99999999999999999999 1 1 1\ncpu0 1 1 1 1\n" };
	for (size_t i = 0; i < ELEMENTSOF(bad); i++)
		assert_int_equal(proc_stat_parse(bad[i], &p), -EBADMSG);
}

static void test_proc_loadavg_meminfo(void **state)
{
	_cleanup_free_ char *l = load("proc/loadavg"), *m = load("proc/meminfo");
	double load3[3];
	uint64_t total, avail;
	assert_int_equal(proc_loadavg_parse(l, load3), 0);
	assert_float_equal(load3[0], 0.63, 1e-9);
	assert_float_equal(load3[2], 0.29, 1e-9);
	assert_int_equal(proc_meminfo_parse(m, &total, &avail), 0);
	assert_int_equal(total, 24684092ULL * 1024);
	assert_int_equal(avail, 24189856ULL * 1024);

	assert_int_equal(proc_loadavg_parse("", load3), -EBADMSG);
	assert_int_equal(proc_loadavg_parse("1.0 2.0", load3), -EBADMSG);
	assert_int_equal(proc_loadavg_parse("-1 2 3", load3), -EBADMSG);
	assert_int_equal(proc_meminfo_parse("MemTotal: 10 kB\n", &total, &avail), -EBADMSG);
	assert_int_equal(
	        proc_meminfo_parse("MemTotal: 10 kB\nMemAvailable: 20 kB\n", &total, &avail),
	        -EBADMSG);
	assert_int_equal(proc_meminfo_parse("MemTotal: x kB\nMemAvailable: 2 kB\n", &total, &avail),
	                 -EBADMSG);
}

static void test_proc_net_dev(void **state)
{
	_cleanup_free_ char *t = load("proc/net-dev-1");
	_cleanup_free_ NetDevCounters *d = NULL;
	size_t n;
	assert_int_equal(proc_net_dev_parse(t, &d, &n), 0);
	assert_int_equal(n, 8);
	assert_string_equal(d[0].name, "lo");
	assert_string_equal(d[3].name, "eth0");
	assert_int_equal(d[3].rx_bytes, 276733751);
	assert_int_equal(d[3].tx_bytes, 340039);
	assert_string_equal(d[5].name, "pmv0-node1");
	assert_int_equal(d[5].rx_bytes, 656);
	assert_int_equal(d[5].tx_bytes, 2108);

	NetDevCounters *x = (NetDevCounters *)0x1;
	static const char *const bad[] = {
		"",
		"a\nb\neth0 1 2 3\n",
		"a\nb\neth0: 1 2 3\n",
		"a\nb\n: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16\n",
		"a\nb\nabcdefghijabcdefghijabcdefghijabcdefghij: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 "
		"15 16\n",
	};
	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		assert_int_equal(proc_net_dev_parse(bad[i], &x, &n), -EBADMSG);
		assert_ptr_equal(x, (NetDevCounters *)0x1);
	}
}

static void test_stats_rates(void **state)
{
	_cleanup_free_ char *a = load("podman/containers-stats-network-1.json");
	_cleanup_free_ char *b = load("podman/containers-stats-network-2.json");
	PodmanStats *s1, *s2;
	size_t n1, n2;
	assert_int_equal(podman_decode_stats(a, strlen(a), &s1, &n1), 0);
	assert_int_equal(podman_decode_stats(b, strlen(b), &s2, &n2), 0);
	assert_string_equal(s1[0].id, s2[0].id);
	double p = stats_cpu_percent(s1[0].cpu_nano, s1[0].system_nano, s2[0].cpu_nano,
	                             s2[0].system_nano);
	/* 2,919,004 ns of CPU over 1,010,942,080 ns */
	assert_float_equal(p, 100.0 * 2919004.0 / 1010942080.0, 1e-9);
	assert_true(stats_cpu_percent(s2[0].cpu_nano, s2[0].system_nano, s1[0].cpu_nano,
	                              s1[0].system_nano) < 0);
	/* network: bytes between the two readings over the same SystemNano clock */
	double rx = stats_net_rate(s1[0].net_rx_bytes, s1[0].system_nano, s2[0].net_rx_bytes,
	                           s2[0].system_nano);
	double tx = stats_net_rate(s1[0].net_tx_bytes, s1[0].system_nano, s2[0].net_tx_bytes,
	                           s2[0].system_nano);
	assert_float_equal(rx,
	                   (double)(s2[0].net_rx_bytes - s1[0].net_rx_bytes) * 1e9 /
	                           (double)(s2[0].system_nano - s1[0].system_nano),
	                   1e-6);
	assert_true(rx >= 0);
	assert_true(tx >= 0);
	/* a counter that went back (restarted container), or no time passed: no rate */
	assert_true(stats_net_rate(2000, 1000, 1000, 2000) < 0);
	assert_true(stats_net_rate(1000, 2000, 2000, 2000) < 0);
	assert_float_equal(stats_net_rate(1000, 1000000000, 3000, 3000000000), 1000, 1e-9);
	podman_stats_free(s1, n1);
	podman_stats_free(s2, n2);
}

static void test_sample_ring(void **state)
{
	SampleRing r = {};
	RecentSample out[COLLECTOR_RECENT_MAX];

	assert_int_equal(sample_ring_get(&r, out), 0);
	sample_ring_push(&r, &(RecentSample){ .timestamp_usec = 1, .cpu_percent = 10 });
	assert_int_equal(sample_ring_get(&r, out), 1);
	assert_int_equal(out[0].timestamp_usec, 1);
	/* 20 pushes: the last 16 remain, oldest first */
	for (int i = 2; i <= 20; i++)
		sample_ring_push(&r, &(RecentSample){ .timestamp_usec = i,
		                                      .cpu_percent = 10.0 * i,
		                                      .mem_percent = i,
		                                      .net_percent = -i });
	assert_int_equal(sample_ring_get(&r, out), COLLECTOR_RECENT_MAX);
	for (size_t i = 0; i < COLLECTOR_RECENT_MAX; i++) {
		assert_int_equal(out[i].timestamp_usec, (int64_t)(5 + i));
		assert_float_equal(out[i].cpu_percent, 10.0 * (double)(5 + i), 0);
		assert_float_equal(out[i].mem_percent, (double)(5 + i), 0);
		assert_float_equal(out[i].net_percent, -(double)(5 + i), 0);
	}

	/* the busier direction, of the link */
	assert_float_equal(network_percent(1000, 250, 10000), 10, 1e-12);
	assert_float_equal(network_percent(250, 5000, 10000), 50, 1e-12);
	assert_float_equal(network_percent(250, 5000, 0), 0, 0);
}

static void copy(const char *from, const char *dir, const char *to)
{
	_cleanup_free_ char *t = load(from);
	char path[4096];
	snprintf(path, sizeof path, "%s/%s", dir, to);
	_cleanup_fclose_ FILE *f = fopen(path, "we");
	assert_non_null(f);
	assert_int_equal(fputs(t, f) >= 0, 1);
}

static void test_sample_host_and_containers(void **state)
{
	char dir[] = "/tmp/podmig-collector-XXXXXX", sub[4200];
	assert_non_null(mkdtemp(dir));
	snprintf(sub, sizeof sub, "%s/net", dir);
	assert_int_equal(mkdir(sub, 0755), 0);
	copy("proc/stat-1", dir, "stat");
	copy("proc/loadavg", dir, "loadavg");
	copy("proc/meminfo", dir, "meminfo");
	copy("proc/net-dev-1", dir, "net/dev");

	CollectorOptions o = { .source = ACCOUNTING_HOST,
		               .proc_root = dir,
		               .link_bandwidth = 125000000 };
	_cleanup_(collector_freep) Collector *c = NULL;
	assert_int_equal(collector_new(&o, &c), 0);
	copy("proc/stat-2", dir, "stat");
	copy("proc/net-dev-2", dir, "net/dev");
	_cleanup_(node_sample_freep) NodeSample *s = NULL;
	assert_int_equal(collector_sample(c, true, &s), 0);
	assert_float_equal(s->capacity_cpus, 2, 0);
	assert_float_equal(s->cpu_used, 2 * 2.0 / 199.0, 1e-9);
	assert_float_equal(s->cpu_percent, 100.0 * 2.0 / 199.0, 1e-9);
	assert_int_equal(s->capacity_memory, 24684092ULL * 1024);
	assert_int_equal(s->mem_used, (24684092ULL - 24189856ULL) * 1024);
	assert_int_equal(s->n_interfaces, 7); /* lo left out */
	assert_true(s->net_rx_rate >= 0);
	assert_int_equal(s->link_bandwidth, 125000000);
	assert_false(s->podman_ok);
	assert_int_equal(s->n_containers, 0);
	assert_float_equal(s->net_percent,
	                   network_percent(s->net_rx_rate, s->net_tx_rate, 125000000), 1e-12);
	/* the recent samples: this one is the newest */
	assert_int_equal(s->n_recent, 1);
	assert_int_equal(s->recent[0].timestamp_usec, s->timestamp_usec);
	assert_float_equal(s->recent[0].cpu_percent, s->cpu_percent, 0);
	assert_float_equal(s->recent[0].mem_percent, s->mem_percent, 0);
	assert_float_equal(s->recent[0].net_percent, s->net_percent, 0);
	_cleanup_(node_sample_freep) NodeSample *again = NULL;
	assert_int_equal(collector_sample(c, true, &again), 0);
	assert_int_equal(again->n_recent, 2);
	assert_int_equal(again->recent[0].timestamp_usec, s->timestamp_usec);
	assert_int_equal(again->recent[1].timestamp_usec, again->timestamp_usec);
	assert_float_equal(again->recent[1].cpu_percent, again->cpu_percent, 0);

	/* containers accounting: declared capacity, no Podman → no use */
	CollectorOptions oc = { .source = ACCOUNTING_CONTAINERS, .proc_root = dir };
	_cleanup_(collector_freep) Collector *cc = NULL;
	assert_int_equal(collector_new(&oc, &cc), -EINVAL); /* capacity required */
	oc.capacity_cpus = 1;
	oc.capacity_memory = 2ULL << 30;
	assert_int_equal(collector_new(&oc, &cc), 0);
	_cleanup_(node_sample_freep) NodeSample *s2 = NULL;
	assert_int_equal(collector_sample(cc, true, &s2), 0);
	assert_float_equal(s2->capacity_cpus, 1, 0);
	assert_int_equal(s2->capacity_memory, 2ULL << 30);
	assert_float_equal(s2->cpu_used, 0, 0);
	assert_int_equal(s2->mem_available, 2ULL << 30);

	/* an unreadable /proc file fails the sample */
	copy("proc/loadavg", dir, "stat");
	NodeSample *s3 = NULL;
	assert_int_equal(collector_sample(c, true, &s3), -EBADMSG);
	assert_null(s3);

	for (const char *const *f =
	             (const char *const[]){ "stat", "loadavg", "meminfo", "net/dev", "net", NULL };
	     *f; f++) {
		char p[4200];
		snprintf(p, sizeof p, "%s/%s", dir, *f);
		assert_int_equal(remove(p), 0);
	}
	assert_int_equal(rmdir(dir), 0);
}

/* ---- a fake Podman: answers list and stats from canned replies, or hangs ---- */

typedef struct FakePodman {
	char dir[64], path[96];
	int listen_fd;
	pthread_t thread;
	pthread_mutex_t lock;
	bool hang, quit;
	char *list_body, *stats_body;
	char *requests[64]; /* request targets, in order */
	size_t n_requests;
	int held[64]; /* connections left unanswered */
	size_t n_held;
} FakePodman;

static void fake_reply(int fd, const char *body)
{
	char head[256];
	int n = snprintf(head, sizeof head,
	                 "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
	                 "Content-Length: %zu\r\nConnection: close\r\n\r\n",
	                 strlen(body));
	assert_int_equal(write(fd, head, (size_t)n), n);
	assert_int_equal(write(fd, body, strlen(body)), (ssize_t)strlen(body));
}

static void *fake_main(void *userdata)
{
	FakePodman *f = userdata;
	for (;;) {
		struct pollfd pfd = { .fd = f->listen_fd, .events = POLLIN };
		pthread_mutex_lock(&f->lock);
		bool quit = f->quit;
		pthread_mutex_unlock(&f->lock);
		if (quit)
			break;
		if (poll(&pfd, 1, 50) <= 0)
			continue;
		int fd = accept4(f->listen_fd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			continue;
		char req[8192];
		size_t n = 0;
		while (n < sizeof req - 1 && !memmem(req, n, "\r\n\r\n", 4)) {
			ssize_t k = read(fd, req + n, sizeof req - 1 - n);
			if (k <= 0)
				break;
			n += (size_t)k;
		}
		req[n] = 0;
		char *sp = strchr(req, ' '), *end = sp ? strchr(sp + 1, ' ') : NULL;
		pthread_mutex_lock(&f->lock);
		if (sp && end && f->n_requests < ELEMENTSOF(f->requests))
			f->requests[f->n_requests++] = strndup(sp + 1, (size_t)(end - sp - 1));
		bool hang = f->hang && f->n_held < ELEMENTSOF(f->held);
		if (hang)
			f->held[f->n_held++] = fd;
		pthread_mutex_unlock(&f->lock);
		if (hang)
			continue;
		fake_reply(fd,
		           sp && strstr(sp, "/containers/stats") ? f->stats_body : f->list_body);
		close(fd);
	}
	return NULL;
}

/* Two containers: c1 (the canned reply's) and c2, a copy under another ID. */
static void fake_start(FakePodman *f)
{
	*f = (FakePodman){ .listen_fd = -1 };
	snprintf(f->dir, sizeof f->dir, "/tmp/podmig-fake-podman-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof f->path, "%s/podman.sock", f->dir);
	_cleanup_free_ char *list = load("podman/containers-list.json");
	json_t *l = json_loads(list, 0, NULL);
	assert_non_null(l);
	json_t *c2 = json_deep_copy(json_array_get(l, 0));
	json_object_set_new(c2, "Id",
	                    json_string("c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2"
	                                "c2c2c2c2c2c2c2c2"));
	json_object_set_new(c2, "Names", json_pack("[s]", "c2"));
	json_array_append_new(l, c2);
	f->list_body = json_dumps(l, JSON_COMPACT);
	json_decref(l);
	f->stats_body = load("podman/containers-stats.json");
	pthread_mutex_init(&f->lock, NULL);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof sa.sun_path, "%s", f->path);
	f->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(f->listen_fd >= 0);
	assert_int_equal(bind(f->listen_fd, (struct sockaddr *)&sa, sizeof sa), 0);
	assert_int_equal(listen(f->listen_fd, 16), 0);
	assert_int_equal(pthread_create(&f->thread, NULL, fake_main, f), 0);
}

static void fake_set_hang(FakePodman *f, bool hang)
{
	pthread_mutex_lock(&f->lock);
	f->hang = hang;
	pthread_mutex_unlock(&f->lock);
}

static size_t fake_requests(FakePodman *f)
{
	pthread_mutex_lock(&f->lock);
	size_t n = f->n_requests;
	pthread_mutex_unlock(&f->lock);
	return n;
}

static void fake_stop(FakePodman *f)
{
	pthread_mutex_lock(&f->lock);
	f->quit = true;
	pthread_mutex_unlock(&f->lock);
	pthread_join(f->thread, NULL);
	for (size_t i = 0; i < f->n_held; i++)
		close(f->held[i]);
	for (size_t i = 0; i < f->n_requests; i++)
		free(f->requests[i]);
	close(f->listen_fd);
	unlink(f->path);
	rmdir(f->dir);
	free(f->list_body);
	free(f->stats_body);
	pthread_mutex_destroy(&f->lock);
}

static const ContainerSample *find_container(const NodeSample *s, const char *name)
{
	for (size_t i = 0; i < s->n_containers; i++)
		if (streq(s->containers[i].name, name))
			return &s->containers[i];
	return NULL;
}

static void test_podman_poller(void **state)
{
	FakePodman f;
	fake_start(&f);
	CollectorOptions o = { .source = ACCOUNTING_HOST,
		               .proc_root = "/proc",
		               .podman_socket = f.path,
		               .podman_wait_usec = 300 * USEC_PER_MSEC };
	Collector *c = NULL;
	assert_int_equal(collector_new(&o, &c), 0);

	/* Podman answers: both containers, fresh, with c1's stats */
	NodeSample *s = NULL;
	assert_int_equal(collector_sample(c, true, &s), 0);
	assert_true(s->podman_ok);
	assert_false(s->containers_stale);
	assert_true(s->containers_usec > 0);
	assert_int_equal(s->n_containers, 2);
	assert_true(find_container(s, "c1")->has_stats);
	assert_false(find_container(s, "c1")->stale);
	assert_int_equal(fake_requests(&f), 2);
	assert_non_null(strstr(f.requests[0], "/containers/json?all=true"));
	assert_non_null(strstr(f.requests[1], "/containers/stats?stream=false"));
	node_sample_free(s);

	/* c1 is busy: only c2 is asked about (list by ID, its stats by name);
	 * c1 is its last reading, stale */
	assert_int_equal(collector_set_busy(c, (char *[]){ (char *)"c1", NULL }), 0);
	assert_int_equal(collector_sample(c, true, &s), 0);
	assert_true(s->podman_ok);
	assert_false(s->containers_stale);
	assert_int_equal(s->n_containers, 2);
	assert_true(find_container(s, "c1")->stale);
	assert_true(find_container(s, "c1")->has_stats);
	assert_false(find_container(s, "c2")->stale);
	assert_int_equal(fake_requests(&f), 4);
	assert_non_null(strstr(f.requests[2], "filters="));
	assert_non_null(strstr(f.requests[2], "c2c2c2c2"));
	assert_null(strstr(f.requests[2], "f8cb28e8"));
	assert_non_null(strstr(f.requests[3], "containers=c2c2c2c2"));
	assert_null(strstr(f.requests[3], "f8cb28e8"));
	node_sample_free(s);
	assert_int_equal(collector_set_busy(c, NULL), 0);

	/* Podman hangs: each sample comes within its bound with the last
	 * answer, stale, and the one question under way is never repeated */
	fake_set_hang(&f, true);
	for (int i = 0; i < 3; i++) {
		uint64_t t0 = now_usec(CLOCK_MONOTONIC);
		assert_int_equal(collector_sample(c, true, &s), 0);
		assert_true(now_usec(CLOCK_MONOTONIC) - t0 < 2 * USEC_PER_SEC);
		assert_true(s->podman_ok);
		assert_true(s->containers_stale);
		assert_int_equal(s->n_containers, 2);
		assert_true(find_container(s, "c2")->stale);
		assert_non_null(strstr(s->podman_error, "has not answered"));
		node_sample_free(s);
	}
	assert_int_equal(fake_requests(&f), 5);

	/* freeing stops the request under way */
	uint64_t t0 = now_usec(CLOCK_MONOTONIC);
	collector_free(c);
	assert_true(now_usec(CLOCK_MONOTONIC) - t0 < 5 * USEC_PER_SEC);

	/* busy before any answer: nothing to go by but every container, and
	 * all of it is fresh */
	fake_set_hang(&f, false);
	assert_int_equal(collector_new(&o, &c), 0);
	assert_int_equal(collector_set_busy(c, (char *[]){ (char *)"c1", NULL }), 0);
	assert_int_equal(collector_sample(c, true, &s), 0);
	assert_true(s->podman_ok);
	assert_int_equal(fake_requests(&f), 7);
	assert_non_null(strstr(f.requests[5], "/containers/json?all=true"));
	assert_null(strstr(f.requests[5], "filters="));
	assert_int_equal(s->n_containers, 2);
	assert_false(find_container(s, "c1")->stale);
	node_sample_free(s);
	collector_free(c);
	fake_stop(&f);
}

/* A stand-in criu: version 9.8.7, uffd-noncoop supported, dirty tracking not. */
static void test_criu_probe(void **state)
{
	char dir[] = "/tmp/podmig-criu-XXXXXX", path[4200];
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof path, "%s/criu", dir);
	_cleanup_fclose_ FILE *f = fopen(path, "we");
	assert_non_null(f);
	fputs("#!/bin/sh\n"
	      "case \"$1\" in --version) echo 'Version: 9.8.7'; exit 0;; esac\n"
	      "[ \"$1 $2 $3\" = 'check --feature uffd-noncoop' ]\n",
	      f);
	fclose(TAKE_PTR(f));
	assert_int_equal(chmod(path, 0755), 0);

	CriuFeatures cf;
	assert_int_equal(criu_probe(path, &cf), 0);
	assert_true(cf.probed);
	assert_string_equal(cf.version, "9.8.7");
	assert_true(cf.uffd_noncoop);
	assert_false(cf.mem_dirty_track);
	assert_false(criu_features_pre_copy(&cf));
	assert_true(criu_features_lazy_pages(&cf));
	unlink(path);
	rmdir(dir);

	assert_int_equal(criu_probe("/nonexistent/criu", &cf), 0);
	assert_false(cf.probed);
	assert_false(criu_features_lazy_pages(&cf));
}

int main(int argc, char *argv[])
{
	data_dir = argc > 1 ? argv[1] : "tests/data";
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_proc_stat),
		cmocka_unit_test(test_proc_loadavg_meminfo),
		cmocka_unit_test(test_proc_net_dev),
		cmocka_unit_test(test_stats_rates),
		cmocka_unit_test(test_sample_ring),
		cmocka_unit_test(test_sample_host_and_containers),
		cmocka_unit_test(test_podman_poller),
		cmocka_unit_test(test_criu_probe),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
