/* test-metrics-http.c — the /metrics endpoint with a real client (libcurl):
 * only GET /metrics is served, its body is the registry; with TLS only a
 * client certificate of the cluster CA is answered; connections are bounded
 * per address and idle ones closed. */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "metrics-http.h"
#include "strutil.h"
#include "time-util.h"

typedef struct Body {
	char data[65536];
	size_t n;
} Body;

static size_t on_data(char *p, size_t size, size_t n, void *userdata)
{
	Body *b = userdata;
	size_t len = size * n;
	size_t take = MIN(len, sizeof b->data - 1 - b->n);
	memcpy(b->data + b->n, p, take);
	b->n += take;
	b->data[b->n] = 0;
	return len;
}

typedef struct Client {
	const char *ca, *cert, *key;
} Client;

/* The status of METHOD url (0 if no answer came), the body in *body. */
static long request(const char *method, const char *url, const Client *c, Body *body,
                    char **ret_content_type)
{
	CURL *h = curl_easy_init();
	long code = 0;
	assert_non_null(h);
	memset(body, 0, sizeof *body);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	if (streq(method, "HEAD"))
		curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, body);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, 10L);
	if (c) {
		curl_easy_setopt(h, CURLOPT_CAINFO, c->ca);
		if (c->cert) {
			curl_easy_setopt(h, CURLOPT_SSLCERT, c->cert);
			curl_easy_setopt(h, CURLOPT_SSLKEY, c->key);
		}
	}
	if (curl_easy_perform(h) == CURLE_OK) {
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
		char *ct = NULL;
		curl_easy_getinfo(h, CURLINFO_CONTENT_TYPE, &ct);
		if (ret_content_type)
			*ret_content_type = ct ? strdup(ct) : NULL;
	}
	curl_easy_cleanup(h);
	return code;
}

static MetricsRegistry *registry_new(void)
{
	MetricsRegistry *r = NULL;
	Metric *c;
	static const char *const results[] = { "done", "failed", NULL };
	assert_int_equal(metrics_registry_new(&r), 0);
	assert_int_equal(metrics_register(r,
	                                  &(MetricDesc){ METRIC_COUNTER,
	                                                 "podmig_migrations_total",
	                                                 "Migrations.",
	                                                 { { "result", results } } },
	                                  &c),
	                 0);
	assert_int_equal(metric_add(c, 2, "done"), 0);
	return r;
}

static void test_addresses(void **state)
{
	_cleanup_(metrics_registry_freep) MetricsRegistry *r = registry_new();
	MetricsHttp *h = NULL;
	ErrorDetail e = {};

	assert_true(metrics_http_address_valid("0.0.0.0:7402"));
	assert_true(metrics_http_address_valid("[::1]:0"));
	assert_false(metrics_http_address_valid("localhost:7402"));
	assert_false(metrics_http_address_valid("1.2.3.4"));
	assert_false(metrics_http_address_valid("1.2.3.4:65536"));
	assert_false(metrics_http_address_valid(":7402"));
	assert_false(metrics_http_address_valid("[::1:80"));
	assert_int_equal(
	        metrics_http_start(r, &(MetricsHttpOptions){ .address = "nowhere:1" }, &h, &e),
	        -EINVAL);
	assert_non_null(strstr(e.message, "nowhere:1"));
	assert_null(h);
	/* TLS needs all three files */
	error_detail_clear(&e);
	assert_int_equal(metrics_http_start(r,
	                                    &(MetricsHttpOptions){ .address = "127.0.0.1:0",
	                                                           .cert_file = "/nonexistent" },
	                                    &h, &e),
	                 -EINVAL);
	error_detail_clear(&e);
	assert_int_equal(metrics_http_start(r,
	                                    &(MetricsHttpOptions){ .address = "127.0.0.1:0",
	                                                           .cert_file = "/nonexistent",
	                                                           .key_file = "/nonexistent",
	                                                           .ca_file = "/nonexistent" },
	                                    &h, &e),
	                 -ENOENT);
	assert_non_null(strstr(e.message, "/nonexistent"));
}

static void test_plain(void **state)
{
	_cleanup_(metrics_registry_freep) MetricsRegistry *r = registry_new();
	_cleanup_(metrics_http_freep) MetricsHttp *h = NULL;
	ErrorDetail e = {};
	char url[128];
	Body b;

	assert_int_equal(
	        metrics_http_start(r, &(MetricsHttpOptions){ .address = "127.0.0.1:0" }, &h, &e),
	        0);
	int port = metrics_http_get_port(h);
	assert_true(port > 0);

	/* the port is taken now */
	MetricsHttp *h2 = NULL;
	snprintf(url, sizeof url, "127.0.0.1:%d", port);
	assert_int_equal(metrics_http_start(r, &(MetricsHttpOptions){ .address = url }, &h2, &e),
	                 -EADDRINUSE);

	snprintf(url, sizeof url, "http://127.0.0.1:%d/metrics", port);
	_cleanup_free_ char *ct = NULL;
	assert_int_equal(request("GET", url, NULL, &b, &ct), 200);
	assert_string_equal(ct, METRICS_CONTENT_TYPE);
	assert_non_null(strstr(b.data, "podmig_migrations_total{result=\"done\"} 2\n"));
	assert_int_equal(request("HEAD", url, NULL, &b, NULL), 200);
	assert_int_equal(b.n, 0);
	assert_int_equal(request("POST", url, NULL, &b, NULL), 405);
	assert_int_equal(request("DELETE", url, NULL, &b, NULL), 405);
	snprintf(url, sizeof url, "http://127.0.0.1:%d/", port);
	assert_int_equal(request("GET", url, NULL, &b, NULL), 404);
	snprintf(url, sizeof url, "http://127.0.0.1:%d/metrics/../etc/passwd", port);
	assert_int_equal(request("GET", url, NULL, &b, NULL), 404);
	/* a query string does not change what is served */
	snprintf(url, sizeof url, "http://127.0.0.1:%d/metrics?x=1", port);
	assert_int_equal(request("GET", url, NULL, &b, NULL), 200);
}

static int connect_to(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	assert_true(fd >= 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
	return fd;
}

/* Whether the server closes fd within timeout_msec (whatever it sends
 * first, e.g. a TLS alert). */
static bool closed_within(int fd, int timeout_msec)
{
	uint64_t end = now_usec(CLOCK_MONOTONIC) + (uint64_t)timeout_msec * USEC_PER_MSEC;
	for (;;) {
		uint64_t now = now_usec(CLOCK_MONOTONIC);
		struct pollfd p = { .fd = fd, .events = POLLIN };
		char buf[256];
		if (now >= end || poll(&p, 1, (int)((end - now) / USEC_PER_MSEC) + 1) <= 0)
			return false;
		if (read(fd, buf, sizeof buf) <= 0)
			return true;
	}
}

static void test_bounds(void **state)
{
	_cleanup_(metrics_registry_freep) MetricsRegistry *r = registry_new();
	_cleanup_(metrics_http_freep) MetricsHttp *h = NULL;
	ErrorDetail e = {};
	int fds[METRICS_HTTP_PER_IP_CONNECTIONS];
	char url[128];
	Body b;

	assert_int_equal(
	        metrics_http_start(r, &(MetricsHttpOptions){ .address = "127.0.0.1:0" }, &h, &e),
	        0);
	int port = metrics_http_get_port(h);
	snprintf(url, sizeof url, "http://127.0.0.1:%d/metrics", port);

	/* idle connections up to the per-address limit: one more is refused */
	for (size_t i = 0; i < ELEMENTSOF(fds); i++)
		fds[i] = connect_to(port);
	int extra = connect_to(port);
	assert_true(closed_within(extra, 2000));
	close(extra);
	assert_int_equal(request("GET", url, NULL, &b, NULL), 0);

	/* idle ones are closed after the timeout, and then it serves again */
	uint64_t t0 = now_usec(CLOCK_MONOTONIC);
	for (size_t i = 0; i < ELEMENTSOF(fds); i++) {
		assert_true(closed_within(fds[i], (METRICS_HTTP_TIMEOUT_SEC + 5) * 1000));
		close(fds[i]);
	}
	uint64_t waited = now_usec(CLOCK_MONOTONIC) - t0;
	assert_true(waited >= (METRICS_HTTP_TIMEOUT_SEC - 2) * USEC_PER_SEC);
	assert_int_equal(request("GET", url, NULL, &b, NULL), 200);
}

static void run(const char *fmt, ...) _printf_(1, 2);
static void run(const char *fmt, ...)
{
	char cmd[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof cmd, fmt, ap);
	va_end(ap);
	int status = system(cmd);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static void test_tls(void **state)
{
	const char *make_certs = getenv("PODMIG_MAKE_CERTS");
	char dir[] = "/tmp/test-metrics-http.XXXXXX";
	char f[9][256], url[128];
	Body b;

	if (!make_certs || access(make_certs, X_OK) < 0) {
		printf("SKIP: scripts/make-certs not found\n");
		skip();
	}
	assert_non_null(mkdtemp(dir));
	run("'%s' '%s/ca' agent:node1:127.0.0.1 operator:admin monitor:prometheus >/dev/null",
	    make_certs, dir);
	run("'%s' '%s/other' operator:admin >/dev/null", make_certs, dir);
	const char *names[] = { "ca/ca.pem",
		                "ca/agent-node1.pem",
		                "ca/agent-node1.key",
		                "ca/monitor-prometheus.pem",
		                "ca/monitor-prometheus.key",
		                "other/operator-admin.pem",
		                "other/operator-admin.key",
		                "ca/operator-admin.pem",
		                "ca/operator-admin.key" };
	for (size_t i = 0; i < ELEMENTSOF(names); i++)
		snprintf(f[i], sizeof f[i], "%s/%s", dir, names[i]);

	_cleanup_(metrics_registry_freep) MetricsRegistry *r = registry_new();
	_cleanup_(metrics_http_freep) MetricsHttp *h = NULL;
	ErrorDetail e = {};
	assert_int_equal(metrics_http_start(r,
	                                    &(MetricsHttpOptions){ .address = "127.0.0.1:0",
	                                                           .cert_file = f[1],
	                                                           .key_file = f[2],
	                                                           .ca_file = f[0] },
	                                    &h, &e),
	                 0);
	snprintf(url, sizeof url, "https://127.0.0.1:%d/metrics", metrics_http_get_port(h));

	/* a monitor's certificate (and an operator's) of the cluster CA */
	assert_int_equal(request("GET", url, &(Client){ f[0], f[3], f[4] }, &b, NULL), 200);
	assert_non_null(strstr(b.data, "podmig_migrations_total{result=\"done\"} 2\n"));
	assert_int_equal(request("GET", url, &(Client){ f[0], f[7], f[8] }, &b, NULL), 200);
	/* no certificate, or one of another CA: refused */
	assert_int_equal(request("GET", url, &(Client){ f[0], NULL, NULL }, &b, NULL), 403);
	assert_non_null(strstr(b.data, "client certificate"));
	assert_int_equal(request("GET", url, &(Client){ f[0], f[5], f[6] }, &b, NULL), 403);
	/* a client that never starts the TLS handshake is closed after the timeout */
	int idle = connect_to(metrics_http_get_port(h));
	uint64_t t0 = now_usec(CLOCK_MONOTONIC);
	assert_true(closed_within(idle, (METRICS_HTTP_TIMEOUT_SEC + 5) * 1000));
	assert_true(now_usec(CLOCK_MONOTONIC) - t0 >=
	            (METRICS_HTTP_TIMEOUT_SEC - 2) * USEC_PER_SEC);
	close(idle);
	/* plain HTTP on the TLS port gets nothing */
	snprintf(url, sizeof url, "http://127.0.0.1:%d/metrics", metrics_http_get_port(h));
	assert_int_equal(request("GET", url, NULL, &b, NULL), 0);

	run("rm -rf '%s'", dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_addresses),
		cmocka_unit_test(test_plain),
		cmocka_unit_test(test_bounds),
		cmocka_unit_test(test_tls),
	};
	curl_global_init(CURL_GLOBAL_DEFAULT);
	int r = cmocka_run_group_tests(tests, NULL, NULL);
	curl_global_cleanup();
	return r;
}
