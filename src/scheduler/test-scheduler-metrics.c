/* test-scheduler-metrics.c — the scheduler's metrics as a scraper reads
 * them: leader state, policy revision, node verdicts and decision time per
 * tick (zeroed while standing by), decisions by outcome and mode, migrations
 * started and how they ended; nothing is served without an address. */
#include <curl/curl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config.h"
#include "daemon-metrics.h"
#include "macro.h"

static size_t on_data(char *p, size_t size, size_t n, void *userdata)
{
	char **body = userdata;
	size_t old = *body ? strlen(*body) : 0, len = size * n;
	char *b = realloc(*body, old + len + 1);
	if (!b)
		return 0;
	memcpy(b + old, p, len);
	b[old + len] = 0;
	*body = b;
	return len;
}

static char *scrape(int port)
{
	char url[64], *body = NULL;
	long code = 0;
	CURL *h = curl_easy_init();
	snprintf(url, sizeof url, "http://127.0.0.1:%d/metrics", port);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &body);
	assert_int_equal(curl_easy_perform(h), CURLE_OK);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
	curl_easy_cleanup(h);
	assert_int_equal(code, 200);
	assert_non_null(body);
	return body;
}

static void assert_line(const char *body, const char *line)
{
	char want[512];
	snprintf(want, sizeof want, "\n%s\n", line);
	if (!strstr(body, want))
		fail_msg("no line '%s' in:\n%s", line, body);
}

static void test_metrics(void **state)
{
	SchedulerConfig c = { .name = "scheduler1",
		              .insecure = true,
		              .metrics_address = "127.0.0.1:0" };
	atomic_bool leading = false;
	SchedulerMetrics *m = NULL;
	assert_int_equal(scheduler_metrics_new(&c, &leading, &m), 0);
	int port = scheduler_metrics_get_port(m);
	assert_true(port > 0);

	SchedVerdict verdicts[] = {
		{ .node = "node1", .state = SCHED_NODE_OVERLOADED },
		{ .node = "node2", .state = SCHED_NODE_OK },
		{ .node = "node3", .state = SCHED_NODE_OVERLOADED },
		{ .node = "node4", .state = SCHED_NODE_STALE },
	};
	SchedPlan plan = { .verdicts = verdicts, .n_verdicts = ELEMENTSOF(verdicts) };

	/* leading: the plan's verdicts and the decision time */
	atomic_store(&leading, true);
	scheduler_metrics_tick(m, 42, &plan, 0.003);
	scheduler_metrics_decision(m, &(SchedDecision){ .outcome = SCHED_OUTCOME_MIGRATE }, false);
	scheduler_metrics_decision(m, &(SchedDecision){ .outcome = SCHED_OUTCOME_NO_CANDIDATE },
	                           true);
	scheduler_metrics_migration_started(m, false);
	scheduler_metrics_migration_started(m, true);
	scheduler_metrics_migration_ended(m, "done");
	scheduler_metrics_migration_ended(m, "");
	scheduler_metrics_migration_ended(m, "restoring");

	char *body = scrape(port);
	assert_line(body, "podmig_scheduler_info{scheduler=\"scheduler1\",version=\"" PODMIG_VERSION
	                  "\"} 1");
	assert_line(body, "podmig_scheduler_leader 1");
	assert_line(body, "podmig_scheduler_policy_revision 42");
	assert_line(body, "podmig_scheduler_nodes{state=\"ok\"} 1");
	assert_line(body, "podmig_scheduler_nodes{state=\"overloaded\"} 2");
	assert_line(body, "podmig_scheduler_nodes{state=\"stale\"} 1");
	assert_line(body, "podmig_scheduler_nodes{state=\"drained\"} 0");
	assert_line(body, "podmig_scheduler_decision_duration_seconds_bucket{le=\"0.0025\"} 0");
	assert_line(body, "podmig_scheduler_decision_duration_seconds_bucket{le=\"0.005\"} 1");
	assert_line(body, "podmig_scheduler_decision_duration_seconds_count 1");
	assert_line(body, "podmig_scheduler_decisions_total{outcome=\"migrate\",mode=\"act\"} 1");
	assert_line(
	        body,
	        "podmig_scheduler_decisions_total{outcome=\"no-candidate\",mode=\"observe\"} 1");
	assert_line(body,
	            "podmig_scheduler_decisions_total{outcome=\"migrate\",mode=\"observe\"} 0");
	assert_line(body, "podmig_scheduler_migrations_started_total{reason=\"automatic\"} 1");
	assert_line(body, "podmig_scheduler_migrations_started_total{reason=\"drain\"} 1");
	assert_line(body, "podmig_scheduler_migrations_ended_total{result=\"done\"} 1");
	assert_line(body, "podmig_scheduler_migrations_ended_total{result=\"refused\"} 1");
	assert_line(body, "podmig_scheduler_migrations_ended_total{result=\"unsettled\"} 1");
	assert_line(body, "podmig_grpc_server_errors_total{code=\"INTERNAL\"} 0");
	free(body);

	/* standing by: no verdicts, the policy still tracked */
	atomic_store(&leading, false);
	scheduler_metrics_tick(m, 43, NULL, 0);
	body = scrape(port);
	assert_line(body, "podmig_scheduler_leader 0");
	assert_line(body, "podmig_scheduler_policy_revision 43");
	assert_line(body, "podmig_scheduler_nodes{state=\"overloaded\"} 0");
	assert_line(body, "podmig_scheduler_decision_duration_seconds_count 1");
	free(body);
	scheduler_metrics_free(m);

	/* without an address: nothing, and every call does nothing */
	c.metrics_address = NULL;
	assert_int_equal(scheduler_metrics_new(&c, &leading, &m), 0);
	assert_null(m);
	scheduler_metrics_tick(NULL, 1, &plan, 1);
	scheduler_metrics_migration_ended(NULL, "done");
	assert_int_equal(scheduler_metrics_get_port(NULL), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_metrics),
	};
	curl_global_init(CURL_GLOBAL_DEFAULT);
	int r = cmocka_run_group_tests(tests, NULL, NULL);
	curl_global_cleanup();
	return r;
}
