/* test-metrics.c — the registry against the text exposition format's rules:
 * names, bounded label sets, escaping, histogram buckets, number forms, and
 * (when promtool is installed) `promtool check metrics` on the output. */
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <cmocka.h>

#include "metrics.h"

static const char *const results[] = { "done", "rolled-back", "failed", NULL };
static const char *const modes[] = { "stop-and-copy", "pre-copy", NULL };

static char *render(MetricsRegistry *r)
{
	char *text = NULL;
	size_t size = 0;
	assert_int_equal(metrics_render(r, &text, &size), 0);
	assert_int_equal(strlen(text), size);
	return text;
}

static void test_names_and_bounds(void **state)
{
	_cleanup_(metrics_registry_freep) MetricsRegistry *r = NULL;
	assert_int_equal(metrics_registry_new(&r), 0);

	/* a counter's name ends in _total */
	assert_int_equal(
	        metrics_register(r, &(MetricDesc){ METRIC_COUNTER, "podmig_x", "x" }, NULL),
	        -EINVAL);
	assert_int_equal(
	        metrics_register(r, &(MetricDesc){ METRIC_GAUGE, "9lives", "starts with a digit" },
	                         NULL),
	        -EINVAL);
	assert_int_equal(metrics_register(r, &(MetricDesc){ METRIC_GAUGE, "a-b", "dash" }, NULL),
	                 -EINVAL);
	assert_int_equal(metrics_register(r, &(MetricDesc){ METRIC_GAUGE, "no_help", "" }, NULL),
	                 -EINVAL);
	assert_int_equal(
	        metrics_register(r, &(MetricDesc){ METRIC_GAUGE, "two_lines", "a\nb" }, NULL),
	        -EINVAL);
	/* labels: valid names, not reserved, not repeated, a value set each */
	assert_int_equal(
	        metrics_register(
	                r, &(MetricDesc){ METRIC_GAUGE, "g1", "h", { { "__reserved", results } } },
	                NULL),
	        -EINVAL);
	assert_int_equal(metrics_register(r,
	                                  &(MetricDesc){ METRIC_GAUGE,
	                                                 "g2",
	                                                 "h",
	                                                 { { "a", results }, { "a", modes } } },
	                                  NULL),
	                 -EINVAL);
	static const char *const none[] = { NULL };
	assert_int_equal(
	        metrics_register(r, &(MetricDesc){ METRIC_GAUGE, "g3", "h", { { "a", none } } },
	                         NULL),
	        -EINVAL);
	static const char *const twice[] = { "x", "x", NULL };
	assert_int_equal(
	        metrics_register(r, &(MetricDesc){ METRIC_GAUGE, "g4", "h", { { "a", twice } } },
	                         NULL),
	        -EINVAL);
	/* histograms: no "le" label, finite increasing buckets */
	static const double good[] = { 0.1, 1 }, bad[] = { 1, 1 }, inf[] = { 1, INFINITY };
	assert_int_equal(
	        metrics_register(
	                r,
	                &(MetricDesc){
	                        METRIC_HISTOGRAM, "h1", "h", { { "le", results } }, good, 2 },
	                NULL),
	        -EINVAL);
	assert_int_equal(
	        metrics_register(r, &(MetricDesc){ METRIC_HISTOGRAM, "h2", "h", {}, bad, 2 }, NULL),
	        -EINVAL);
	assert_int_equal(
	        metrics_register(r, &(MetricDesc){ METRIC_HISTOGRAM, "h3", "h", {}, inf, 2 }, NULL),
	        -EINVAL);
	assert_int_equal(metrics_register(r,
	                                  &(MetricDesc){ METRIC_HISTOGRAM, "h4", "h", {}, NULL, 0 },
	                                  NULL),
	                 -EINVAL);
	/* the product of the value sets is bounded */
	static const char *v11[12];
	char names[11][4];
	for (int i = 0; i < 11; i++) {
		snprintf(names[i], sizeof names[i], "v%d", i);
		v11[i] = names[i];
	}
	assert_int_equal(
	        metrics_register(r,
	                         &(MetricDesc){ METRIC_GAUGE,
	                                        "too_many",
	                                        "h",
	                                        { { "a", v11 }, { "b", v11 }, { "c", v11 } } },
	                         NULL),
	        -EINVAL);
	/* one name once */
	assert_int_equal(metrics_register(r, &(MetricDesc){ METRIC_GAUGE, "podmig_up", "h" }, NULL),
	                 0);
	assert_int_equal(metrics_register(r, &(MetricDesc){ METRIC_GAUGE, "podmig_up", "h" }, NULL),
	                 -EEXIST);
	_cleanup_free_ char *text = render(r);
	assert_string_equal(text, "# HELP podmig_up h\n# TYPE podmig_up gauge\npodmig_up 0\n");
}

static void test_render(void **state)
{
	_cleanup_(metrics_registry_freep) MetricsRegistry *r = NULL;
	Metric *c, *g, *h;
	static const double buckets[] = { 0.5, 1, 2.5 };

	assert_int_equal(metrics_registry_new(&r), 0);
	assert_int_equal(
	        metrics_register(r,
	                         &(MetricDesc){ METRIC_COUNTER,
	                                        "podmig_migrations_total",
	                                        "Migrations by result and mode.",
	                                        { { "result", results }, { "mode", modes } } },
	                         &c),
	        0);
	assert_int_equal(metrics_register(r,
	                                  &(MetricDesc){ METRIC_GAUGE, "podmig_temp_celsius",
	                                                 "A back\\slash and\ttab." },
	                                  &g),
	                 0);
	assert_int_equal(metrics_register(r,
	                                  &(MetricDesc){ METRIC_HISTOGRAM,
	                                                 "podmig_downtime_seconds",
	                                                 "Downtime.",
	                                                 { { "mode", modes } },
	                                                 buckets,
	                                                 3 },
	                                  &h),
	                 0);

	assert_int_equal(metric_add(c, 1, "done", "pre-copy"), 0);
	assert_int_equal(metric_add(c, 2, "done", "pre-copy"), 0);
	assert_int_equal(metric_add(c, 1, "failed", "stop-and-copy"), 0);
	/* outside the sets, negative, NaN: refused, nothing changes */
	assert_int_equal(metric_add(c, 1, "m-123", "pre-copy"), -EINVAL);
	assert_int_equal(metric_add(c, 1, "done", NULL), -EINVAL);
	assert_int_equal(metric_add(c, -1, "done", "pre-copy"), -EINVAL);
	assert_int_equal(metric_add(c, NAN, "done", "pre-copy"), -EINVAL);
	assert_int_equal(metric_observe(c, 1, "done", "pre-copy"), -EINVAL);
	/* a counter set from elsewhere only grows */
	assert_int_equal(metric_set(c, 2, "done", "pre-copy"), -EINVAL);
	assert_int_equal(metric_set(c, 4, "done", "pre-copy"), 0);
	assert_true(metric_get(c, "done", "pre-copy") == 4);
	assert_true(isnan(metric_get(c, "nope", "pre-copy")));

	assert_int_equal(metric_set(g, -0.25), 0);
	assert_int_equal(metric_add(g, 0.125), 0);

	/* le is inclusive: 1 goes into le="1" */
	assert_int_equal(metric_observe(h, 0.5, "pre-copy"), 0);
	assert_int_equal(metric_observe(h, 1, "pre-copy"), 0);
	assert_int_equal(metric_observe(h, 3, "pre-copy"), 0);
	assert_int_equal(metric_observe(h, 0.1, "stop-and-copy"), 0);
	assert_int_equal(metric_add(h, 1, "pre-copy"), -EINVAL);

	_cleanup_free_ char *text = render(r);
	assert_string_equal(
	        text, "# HELP podmig_migrations_total Migrations by result and mode.\n"
	              "# TYPE podmig_migrations_total counter\n"
	              "podmig_migrations_total{result=\"done\",mode=\"stop-and-copy\"} 0\n"
	              "podmig_migrations_total{result=\"done\",mode=\"pre-copy\"} 4\n"
	              "podmig_migrations_total{result=\"rolled-back\",mode=\"stop-and-copy\"} 0\n"
	              "podmig_migrations_total{result=\"rolled-back\",mode=\"pre-copy\"} 0\n"
	              "podmig_migrations_total{result=\"failed\",mode=\"stop-and-copy\"} 1\n"
	              "podmig_migrations_total{result=\"failed\",mode=\"pre-copy\"} 0\n"
	              "# HELP podmig_temp_celsius A back\\\\slash and\ttab.\n"
	              "# TYPE podmig_temp_celsius gauge\n"
	              "podmig_temp_celsius -0.125\n"
	              "# HELP podmig_downtime_seconds Downtime.\n"
	              "# TYPE podmig_downtime_seconds histogram\n"
	              "podmig_downtime_seconds_bucket{mode=\"stop-and-copy\",le=\"0.5\"} 1\n"
	              "podmig_downtime_seconds_bucket{mode=\"stop-and-copy\",le=\"1\"} 1\n"
	              "podmig_downtime_seconds_bucket{mode=\"stop-and-copy\",le=\"2.5\"} 1\n"
	              "podmig_downtime_seconds_bucket{mode=\"stop-and-copy\",le=\"+Inf\"} 1\n"
	              "podmig_downtime_seconds_sum{mode=\"stop-and-copy\"} 0.1\n"
	              "podmig_downtime_seconds_count{mode=\"stop-and-copy\"} 1\n"
	              "podmig_downtime_seconds_bucket{mode=\"pre-copy\",le=\"0.5\"} 1\n"
	              "podmig_downtime_seconds_bucket{mode=\"pre-copy\",le=\"1\"} 2\n"
	              "podmig_downtime_seconds_bucket{mode=\"pre-copy\",le=\"2.5\"} 2\n"
	              "podmig_downtime_seconds_bucket{mode=\"pre-copy\",le=\"+Inf\"} 3\n"
	              "podmig_downtime_seconds_sum{mode=\"pre-copy\"} 4.5\n"
	              "podmig_downtime_seconds_count{mode=\"pre-copy\"} 3\n");
	assert_true(metric_get(h, "pre-copy") == 3);
}

static void test_escaping_and_numbers(void **state)
{
	_cleanup_(metrics_registry_freep) MetricsRegistry *r = NULL;
	static const char *const odd[] = { "a\"b\\c\nd", NULL };
	Metric *g;

	assert_int_equal(metrics_registry_new(&r), 0);
	assert_int_equal(metrics_register(r,
	                                  &(MetricDesc){ METRIC_GAUGE,
	                                                 "podmig_info",
	                                                 "Info.",
	                                                 { { "version", odd } } },
	                                  &g),
	                 0);
	const struct {
		double v;
		const char *text;
	} cases[] = {
		{ 1, "1" },           { 0.1, "0.1" },
		{ 1e-9, "1e-09" },    { 123456789012, "123456789012" },
		{ 1e20, "1e+20" },    { 1.0 / 3, "0.3333333333333333" },
		{ INFINITY, "+Inf" }, { -INFINITY, "-Inf" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char want[256];
		assert_int_equal(metric_set(g, cases[i].v, "a\"b\\c\nd"), 0);
		_cleanup_free_ char *text = render(r);
		snprintf(want, sizeof want,
		         "# HELP podmig_info Info.\n# TYPE podmig_info gauge\n"
		         "podmig_info{version=\"a\\\"b\\\\c\\nd\"} %s\n",
		         cases[i].text);
		assert_string_equal(text, want);
		/* what is printed reads back as the same number */
		if (isfinite(cases[i].v))
			assert_true(strtod(cases[i].text, NULL) == cases[i].v);
	}
}

#define THREADS 4
#define ADDS    20000

static void *adder(void *userdata)
{
	Metric *c = userdata;
	for (int i = 0; i < ADDS; i++)
		assert_int_equal(metric_add(c, 1, "done", "pre-copy"), 0);
	return NULL;
}

static void *renderer(void *userdata)
{
	MetricsRegistry *r = userdata;
	for (int i = 0; i < 200; i++)
		free(render(r));
	return NULL;
}

static void test_threads(void **state)
{
	_cleanup_(metrics_registry_freep) MetricsRegistry *r = NULL;
	pthread_t t[THREADS + 1];
	Metric *c;

	assert_int_equal(metrics_registry_new(&r), 0);
	assert_int_equal(
	        metrics_register(r,
	                         &(MetricDesc){ METRIC_COUNTER,
	                                        "podmig_migrations_total",
	                                        "h",
	                                        { { "result", results }, { "mode", modes } } },
	                         &c),
	        0);
	for (int i = 0; i < THREADS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, adder, c), 0);
	assert_int_equal(pthread_create(&t[THREADS], NULL, renderer, r), 0);
	for (int i = 0; i <= THREADS; i++)
		pthread_join(t[i], NULL);
	assert_true(metric_get(c, "done", "pre-copy") == THREADS * ADDS);
}

static void collect(MetricsRegistry *r, void *userdata)
{
	Metric *g = userdata;
	metric_add(g, 1);
}

static void test_collector(void **state)
{
	_cleanup_(metrics_registry_freep) MetricsRegistry *r = NULL;
	Metric *g;
	assert_int_equal(metrics_registry_new(&r), 0);
	assert_int_equal(
	        metrics_register(r, &(MetricDesc){ METRIC_GAUGE, "podmig_scrapes", "Scrapes." },
	                         &g),
	        0);
	assert_int_equal(metrics_add_collector(r, collect, g), 0);
	free(render(r));
	_cleanup_free_ char *text = render(r);
	assert_non_null(strstr(text, "\npodmig_scrapes 2\n"));
}

/* The output as Prometheus' own linter judges it. */
static void test_promtool(void **state)
{
	const char *promtool = getenv("PROMTOOL");
	if (!promtool || !*promtool) {
		printf("SKIP: promtool is not installed\n");
		skip();
	}
	_cleanup_(metrics_registry_freep) MetricsRegistry *r = NULL;
	static const double buckets[] = { 0.1, 1, 10 };
	Metric *c, *h;
	assert_int_equal(metrics_registry_new(&r), 0);
	assert_int_equal(
	        metrics_register(r,
	                         &(MetricDesc){ METRIC_COUNTER,
	                                        "podmig_migrations_total",
	                                        "Migrations by result and mode.",
	                                        { { "result", results }, { "mode", modes } } },
	                         &c),
	        0);
	assert_int_equal(metrics_register(r,
	                                  &(MetricDesc){ METRIC_HISTOGRAM,
	                                                 "podmig_migration_downtime_seconds",
	                                                 "Downtime \"quoted\" \\ of migrations.",
	                                                 { { "mode", modes } },
	                                                 buckets,
	                                                 3 },
	                                  &h),
	                 0);
	assert_int_equal(metrics_register(r,
	                                  &(MetricDesc){ METRIC_GAUGE, "podmig_node_memory_bytes",
	                                                 "Memory in use." },
	                                  NULL),
	                 0);
	metric_add(c, 3, "done", "pre-copy");
	metric_observe(h, 0.75, "pre-copy");
	_cleanup_free_ char *text = render(r);
	char cmd[512];
	snprintf(cmd, sizeof cmd, "'%s' check metrics", promtool);
	FILE *p = popen(cmd, "w");
	assert_non_null(p);
	fputs(text, p);
	int status = pclose(p);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names_and_bounds),
		cmocka_unit_test(test_render),
		cmocka_unit_test(test_escaping_and_numbers),
		cmocka_unit_test(test_threads),
		cmocka_unit_test(test_collector),
		cmocka_unit_test(test_promtool),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
