/* A real Prometheus scraping a local cluster (2 nodes, one scheduler, mutual
 * TLS unless PODMIG_TEST_CLUSTER_TLS=0):
 *
 *  - every daemon's /metrics passes `promtool check metrics`, and with TLS
 *    answers only a client certificate of the cluster CA;
 *  - a private Prometheus (1 s scrapes, its own data directory, killed at the
 *    end) scrapes both agents and the scheduler with the monitor certificate
 *    and loads deploy/prometheus/podmig-rules.yml;
 *  - after `podmig migrate`, PromQL through Prometheus' HTTP API gives
 *    exactly one done manual migration from node1, none failed, and a
 *    downtime histogram whose count is 1 and whose sum is the record's
 *    downtime (the bytes histogram's sum the record's bytes); the scheduler
 *    leads and its rules are loaded and healthy.
 *
 * Skipped (77) without the Debian package prometheus (prometheus, promtool).
 * argv[1]: the podmig CLI. */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "metrics-scrape.h"
#include "migrate-fixture.h"
#include "process-util.h"
#include "strutil.h"
#include "time-util.h"

#define PROMETHEUS "/usr/bin/prometheus"
#define PROMTOOL   "/usr/bin/promtool"

static ClusterFixture *cluster;
static const char *podmig;
static char tmpdir[] = "/tmp/podmig-test-prometheus-XXXXXX";
static pid_t prometheus_pid;
static int prometheus_port;
static bool tls;
static char ca[512], cert[512], key[512];

/* GET url; the status (0: no answer) and the body (caller frees). With
 * `client_cert`, the monitor certificate is presented. */
static long http_get(const char *url, bool client_cert, char **ret_body)
{
	return metrics_http_get(url, tls ? ca : NULL, tls && client_cert ? cert : NULL,
	                        tls && client_cert ? key : NULL, ret_body);
}

/* A PromQL instant query: the number of series, their values summed in *ret_sum. */
static int query(const char *promql, double *ret_sum)
{
	CURL *h = curl_easy_init();
	char *q = curl_easy_escape(h, promql, 0);
	char url[2048], *body = NULL;
	snprintf(url, sizeof url, "http://127.0.0.1:%d/api/v1/query?query=%s", prometheus_port, q);
	curl_free(q);
	curl_easy_cleanup(h);
	bool was_tls = tls;
	tls = false; /* Prometheus' own API is plain HTTP on loopback */
	long code = http_get(url, false, &body);
	tls = was_tls;
	if (code != 200) {
		printf("query %s: HTTP %ld: %s\n", promql, code, body);
		free(body);
		return -EIO;
	}
	json_t *doc = json_loads(body, 0, NULL);
	free(body);
	json_t *result = json_object_get(json_object_get(doc, "data"), "result");
	assert_true(json_is_array(result));
	double sum = 0;
	size_t i;
	json_t *series;
	json_array_foreach (result, i, series) {
		const char *v =
		        json_string_value(json_array_get(json_object_get(series, "value"), 1));
		assert_non_null(v);
		sum += strtod(v, NULL);
	}
	int n = (int)json_array_size(result);
	json_decref(doc);
	*ret_sum = sum;
	return n;
}

/* Polls a query until it has `series` series summing to `want` (±eps). */
static bool query_until(const char *promql, int series, double want, double eps,
                        unsigned timeout_sec)
{
	uint64_t end = now_usec(CLOCK_MONOTONIC) + timeout_sec * USEC_PER_SEC;
	double v = NAN;
	int n = -1;
	do {
		n = query(promql, &v);
		if (n == series && fabs(v - want) <= eps)
			return true;
		sleep_usec(500 * USEC_PER_MSEC);
	} while (now_usec(CLOCK_MONOTONIC) < end);
	printf("%s: %d series summing to %g, want %d summing to %g\n", promql, n, v, series, want);
	return false;
}

static int free_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t len = sizeof sa;
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	close(fd);
	return ntohs(sa.sin_port);
}

static void write_config(const char *path)
{
	const char *n1 = cluster_fixture_env(cluster, "PODMIG_NODE1_METRICS");
	const char *n2 = cluster_fixture_env(cluster, "PODMIG_NODE2_METRICS");
	const char *s1 = cluster_fixture_env(cluster, "PODMIG_SCHEDULER1_METRICS");
	char tls_config[2048] = "";
	assert_non_null(n1);
	assert_non_null(n2);
	assert_non_null(s1);
	if (tls)
		snprintf(tls_config, sizeof tls_config,
		         "    scheme: https\n"
		         "    tls_config:\n"
		         "      ca_file: %s\n"
		         "      cert_file: %s\n"
		         "      key_file: %s\n",
		         ca, cert, key);
	FILE *f = fopen(path, "we");
	assert_non_null(f);
	fprintf(f,
	        "global:\n"
	        "  scrape_interval: 1s\n"
	        "  scrape_timeout: 1s\n"
	        "  evaluation_interval: 1s\n"
	        "rule_files:\n"
	        "  - %s/deploy/prometheus/podmig-rules.yml\n"
	        "scrape_configs:\n"
	        "  - job_name: podmig-agent\n"
	        "%s"
	        "    static_configs:\n"
	        "      - targets: ['%s', '%s']\n"
	        "  - job_name: podmig-scheduler\n"
	        "%s"
	        "    static_configs:\n"
	        "      - targets: ['%s']\n",
	        PODMIG_SOURCE_ROOT, tls_config, n1, n2, tls_config, s1);
	assert_int_equal(fclose(f), 0);
}

/* Prometheus dies with this process, however it ends (PR_SET_PDEATHSIG). */
static void prometheus_start(void)
{
	char config[600], data[600], log[600], listen[64], cfg_arg[700], data_arg[700];
	snprintf(config, sizeof config, "%s/prometheus.yml", tmpdir);
	snprintf(data, sizeof data, "%s/data", tmpdir);
	snprintf(log, sizeof log, "%s/prometheus.log", tmpdir);
	write_config(config);
	prometheus_port = free_port();
	snprintf(listen, sizeof listen, "--web.listen-address=127.0.0.1:%d", prometheus_port);
	snprintf(cfg_arg, sizeof cfg_arg, "--config.file=%s", config);
	snprintf(data_arg, sizeof data_arg, "--storage.tsdb.path=%s", data);
	char *const argv[] = { (char *)PROMETHEUS,         cfg_arg, data_arg, listen,
		               (char *)"--log.level=warn", NULL };
	pid_t parent = getpid();
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
			_exit(127);
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
		if (fd >= 0) {
			dup2(fd, STDOUT_FILENO);
			dup2(fd, STDERR_FILENO);
		}
		execv(PROMETHEUS, argv);
		_exit(127);
	}
	prometheus_pid = pid;

	char url[128];
	snprintf(url, sizeof url, "http://127.0.0.1:%d/-/ready", prometheus_port);
	bool was_tls = tls;
	tls = false;
	for (int i = 0; i < 300; i++) {
		if (http_get(url, false, NULL) == 200)
			break;
		assert_int_equal(waitpid(pid, NULL, WNOHANG), 0); /* still running */
		sleep_usec(100 * USEC_PER_MSEC);
	}
	tls = was_tls;
	printf("prometheus on 127.0.0.1:%d, data in %s\n", prometheus_port, data);
}

static void prometheus_stop(void)
{
	if (prometheus_pid <= 0)
		return;
	kill(prometheus_pid, SIGTERM);
	for (int i = 0; i < 100 && waitpid(prometheus_pid, NULL, WNOHANG) == 0; i++)
		sleep_usec(100 * USEC_PER_MSEC);
	if (waitpid(prometheus_pid, NULL, WNOHANG) == 0) {
		kill(prometheus_pid, SIGKILL);
		waitpid(prometheus_pid, NULL, 0);
	}
	prometheus_pid = 0;
}

static int setup(void **state)
{
	if (access(PROMETHEUS, X_OK) < 0 || access(PROMTOOL, X_OK) < 0) {
		printf("SKIP: prometheus and promtool are not installed (Debian package "
		       "prometheus)\n");
		exit(77);
	}
	setenv("PODMIG_TEST_SCHEDULERS", "1", 1);
	if (!mkdtemp(tmpdir) || cluster_fixture_up(2, &cluster) < 0)
		return -1;
	setenv("PODMIG_ETCD_ENDPOINTS", cluster_fixture_env(cluster, "PODMIG_ETCD_ENDPOINTS"), 1);
	const char *dir = cluster_fixture_env(cluster, "PODMIG_CLUSTER_DIR");
	const char *tls_ca = cluster_fixture_env(cluster, "PODMIG_TLS_CA");
	tls = tls_ca && *tls_ca;
	if (!dir)
		return -1;
	snprintf(ca, sizeof ca, "%s", tls ? tls_ca : "");
	snprintf(cert, sizeof cert, "%s/certs/monitor-prometheus.pem", dir);
	snprintf(key, sizeof key, "%s/certs/monitor-prometheus.key", dir);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	return 0;
}

static int teardown(void **state)
{
	prometheus_stop();
	cluster_fixture_down(cluster);
	cluster = NULL;
	char *const rm[] = { (char *)"rm", (char *)"-rf", tmpdir, NULL };
	int status;
	(void)spawn_wait(rm, NULL, &status);
	curl_global_cleanup();
	return 0;
}

/* Every endpoint's output passes promtool; with TLS, a scraper without a
 * certificate of the cluster CA is refused. */
static void test_endpoints(void **state)
{
	const char *keys[] = { "PODMIG_NODE1_METRICS", "PODMIG_NODE2_METRICS",
		               "PODMIG_SCHEDULER1_METRICS" };
	for (size_t i = 0; i < ELEMENTSOF(keys); i++) {
		const char *addr = cluster_fixture_env(cluster, keys[i]);
		char url[256], path[600];
		char *body = NULL;
		assert_non_null(addr);
		snprintf(url, sizeof url, "%s://%s/metrics", tls ? "https" : "http", addr);
		long code = 0;
		/* the agents and the scheduler may still be starting */
		for (int k = 0; k < 100 && code != 200; k++) {
			free(body);
			body = NULL;
			if ((code = http_get(url, true, &body)) != 200)
				sleep_usec(200 * USEC_PER_MSEC);
		}
		assert_int_equal(code, 200);
		assert_non_null(strstr(body, "# TYPE podmig_grpc_client_errors_total counter"));
		snprintf(path, sizeof path, "%s/metrics-%zu.txt", tmpdir, i);
		FILE *f = fopen(path, "we");
		assert_non_null(f);
		fputs(body, f);
		fclose(f);
		free(body);
		char cmd[800];
		snprintf(cmd, sizeof cmd, PROMTOOL " check metrics <'%s'", path);
		int status = system(cmd);
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
			fail_msg("promtool check metrics fails on %s", url);
		if (tls) {
			body = NULL;
			assert_int_equal(http_get(url, false, &body), 403);
			free(body);
		}
		printf("%s: promtool check metrics passes\n", url);
	}
}

static void test_migration_in_prometheus(void **state)
{
	char q[512];
	double v;

	prometheus_start();
	/* both agents and the scheduler scraped */
	assert_true(query_until("up{job=\"podmig-agent\"}", 2, 2, 0, 60));
	assert_true(query_until("up{job=\"podmig-scheduler\"}", 1, 1, 0, 60));
	assert_true(query_until("sum(podmig_scheduler_leader)", 1, 1, 0, 60));
	assert_true(query_until("sum(podmig_node_published)", 1, 2, 0, 60));
	/* nothing migrated yet: every series exists at 0 */
	assert_true(query_until("sum(podmig_migrations_total)", 1, 0, 0, 10));
	assert_true(query_until("sum(podmig_migration_downtime_seconds_count)", 1, 0, 0, 10));

	assert_int_equal(migrate_fixture_start_container(cluster, podmig, "node1", "promc",
	                                                 "localhost/podmig/counter", ""),
	                 0);
	sleep(1);
	char *out = NULL;
	assert_int_equal(
	        migrate_fixture_cli(podmig, &out, "migrate", "promc", "--to", "node2", NULL), 0);
	free(out);
	json_t *rec = migrate_fixture_last_record(podmig, "promc");
	assert_non_null(rec);
	assert_string_equal(migrate_fixture_record_phase(rec), "done");
	double downtime = (double)json_integer_value(json_object_get(rec, "downtime_ms")) / 1000;
	double bytes = (double)json_integer_value(json_object_get(rec, "bytes"));
	const char *mode = json_string_value(json_object_get(rec, "mode"));
	assert_non_null(mode);
	assert_true(downtime > 0 && bytes > 0);
	printf("record: downtime %.3f s, %.0f bytes, %s\n", downtime, bytes, mode);

	/* the migration counter: one done manual migration of this mode, from
	 * node1's agent, and nothing else */
	snprintf(q, sizeof q,
	         "podmig_migrations_total{job=\"podmig-agent\",instance=\"%s\",result=\"done\","
	         "reason=\"manual\",mode=\"%s\"}",
	         cluster_fixture_env(cluster, "PODMIG_NODE1_METRICS"), mode);
	assert_true(query_until(q, 1, 1, 0, 30));
	assert_true(query_until("sum(podmig_migrations_total)", 1, 1, 0, 5));
	assert_true(query_until("sum(podmig_migrations_total{result!=\"done\"})", 1, 0, 0, 5));
	assert_true(query_until("sum(increase(podmig_migrations_total{result=\"done\"}[5m]))", 1, 1,
	                        0.5, 5));
	/* the downtime histogram: one observation, the record's downtime */
	snprintf(q, sizeof q, "podmig_migration_downtime_seconds_count{mode=\"%s\"}", mode);
	assert_true(query_until(q, 2, 1, 0, 5)); /* a series per agent, node1's is 1 */
	assert_true(
	        query_until("sum(podmig_migration_downtime_seconds_sum)", 1, downtime, 1e-6, 5));
	snprintf(q, sizeof q,
	         "sum(podmig_migration_downtime_seconds_bucket{le=\"+Inf\",mode=\"%s\"})", mode);
	assert_true(query_until(q, 1, 1, 0, 5));
	assert_true(query_until("sum(podmig_migration_sent_bytes_sum)", 1, bytes, 0.5, 5));
	assert_true(query_until("sum(podmig_migration_duration_seconds_count{result=\"done\"})", 1,
	                        1, 0, 5));
	json_decref(rec);

	/* node2 runs the container now */
	snprintf(q, sizeof q, "podmig_node_containers{state=\"running\",instance=\"%s\"}",
	         cluster_fixture_env(cluster, "PODMIG_NODE2_METRICS"));
	assert_true(query_until(q, 1, 1, 0, 15));
	/* the scheduler decides each second; nothing was overloaded */
	assert_true(query("sum(podmig_scheduler_decision_duration_seconds_count{job=\"podmig-"
	                  "scheduler\"})",
	                  &v) == 1 &&
	            v > 0);
	assert_true(query_until("sum(podmig_scheduler_nodes{state=\"ok\"})", 1, 2, 0, 10));

	/* the alert rules are loaded and evaluate cleanly; none fires */
	char url[128], *body = NULL;
	snprintf(url, sizeof url, "http://127.0.0.1:%d/api/v1/rules", prometheus_port);
	bool was_tls = tls;
	tls = false;
	assert_int_equal(http_get(url, false, &body), 200);
	tls = was_tls;
	json_t *doc = json_loads(body, 0, NULL);
	free(body);
	json_t *groups = json_object_get(json_object_get(doc, "data"), "groups");
	size_t i, k, n_rules = 0;
	json_t *g, *rule;
	json_array_foreach (groups, i, g) {
		json_array_foreach (json_object_get(g, "rules"), k, rule) {
			const char *health = json_string_value(json_object_get(rule, "health"));
			const char *name = json_string_value(json_object_get(rule, "name"));
			const char *st = json_string_value(json_object_get(rule, "state"));
			printf("rule %s: health %s, state %s\n", name, health, st);
			assert_string_equal(health, "ok");
			assert_string_equal(st, "inactive");
			n_rules++;
		}
	}
	assert_int_equal(n_rules, 5);
	json_decref(doc);
}

int main(int argc, char *argv[])
{
	if (argc < 2) {
		fprintf(stderr, "usage: %s PODMIG_CLI\n", argv[0]);
		return 2;
	}
	podmig = argv[1];
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_endpoints),
		cmocka_unit_test(test_migration_in_prometheus),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
