/* test-collector.c — the /proc parsers on copies of real files
 * (tests/data/proc), rates between two readings, both accounting sources over
 * a fake proc root, container CPU rates from real Podman stats replies
 * (tests/data/podman), and the CRIU probe against a stand-in criu. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "collector.h"
#include "strutil.h"

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
	assert_int_equal(collector_new(&o, NULL, &c), 0);
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
	assert_int_equal(collector_new(&oc, NULL, &cc), -EINVAL); /* capacity required */
	oc.capacity_cpus = 1;
	oc.capacity_memory = 2ULL << 30;
	assert_int_equal(collector_new(&oc, NULL, &cc), 0);
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
		cmocka_unit_test(test_criu_probe),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
