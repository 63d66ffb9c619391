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
#include "metrics-scrape.h"

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

	char *body = metrics_scrape(port);
	metrics_assert_line(
	        body,
	        "podmig_scheduler_info{scheduler=\"scheduler1\",version=\"" PODMIG_VERSION "\"} 1");
	metrics_assert_line(body, "podmig_scheduler_leader 1");
	metrics_assert_line(body, "podmig_scheduler_policy_revision 42");
	metrics_assert_line(body, "podmig_scheduler_nodes{state=\"ok\"} 1");
	metrics_assert_line(body, "podmig_scheduler_nodes{state=\"overloaded\"} 2");
	metrics_assert_line(body, "podmig_scheduler_nodes{state=\"stale\"} 1");
	metrics_assert_line(body, "podmig_scheduler_nodes{state=\"drained\"} 0");
	metrics_assert_line(body,
	                    "podmig_scheduler_decision_duration_seconds_bucket{le=\"0.0025\"} 0");
	metrics_assert_line(body,
	                    "podmig_scheduler_decision_duration_seconds_bucket{le=\"0.005\"} 1");
	metrics_assert_line(body, "podmig_scheduler_decision_duration_seconds_count 1");
	metrics_assert_line(body,
	                    "podmig_scheduler_decisions_total{outcome=\"migrate\",mode=\"act\"} 1");
	metrics_assert_line(
	        body,
	        "podmig_scheduler_decisions_total{outcome=\"no-candidate\",mode=\"observe\"} 1");
	metrics_assert_line(
	        body, "podmig_scheduler_decisions_total{outcome=\"migrate\",mode=\"observe\"} 0");
	metrics_assert_line(body,
	                    "podmig_scheduler_migrations_started_total{reason=\"automatic\"} 1");
	metrics_assert_line(body, "podmig_scheduler_migrations_started_total{reason=\"drain\"} 1");
	metrics_assert_line(body, "podmig_scheduler_migrations_ended_total{result=\"done\"} 1");
	metrics_assert_line(body, "podmig_scheduler_migrations_ended_total{result=\"refused\"} 1");
	metrics_assert_line(body,
	                    "podmig_scheduler_migrations_ended_total{result=\"unsettled\"} 1");
	metrics_assert_line(body, "podmig_grpc_server_errors_total{code=\"INTERNAL\"} 0");
	free(body);

	/* standing by: no verdicts, the policy still tracked */
	atomic_store(&leading, false);
	scheduler_metrics_tick(m, 43, NULL, 0);
	body = metrics_scrape(port);
	metrics_assert_line(body, "podmig_scheduler_leader 0");
	metrics_assert_line(body, "podmig_scheduler_policy_revision 43");
	metrics_assert_line(body, "podmig_scheduler_nodes{state=\"overloaded\"} 0");
	metrics_assert_line(body, "podmig_scheduler_decision_duration_seconds_count 1");
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
