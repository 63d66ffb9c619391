/* test-agent-metrics.c — the agent's metrics as a scraper reads them: a
 * node sample becomes the node gauges and container counts, a migration is
 * counted once by result, reason and mode, with its downtime (done only),
 * duration and bytes in the histograms; nothing is served without an
 * address. */
#include <curl/curl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "agent-internal.h"
#include "config.h"
#include "metrics-scrape.h"

static void test_metrics(void **state)
{
	AgentConfig c;
	agent_config_init(&c);
	c.node_name = strdup("node7");
	c.metrics_address = strdup("127.0.0.1:0");
	c.insecure = true;
	Agent a = { .config = &c };
	pthread_mutex_init(&a.migrations_lock, NULL);
	AgentMetrics *m = NULL;
	assert_int_equal(agent_metrics_new(&a, &m), 0);
	assert_non_null(m);
	int port = agent_metrics_get_port(m);
	assert_true(port > 0);

	ContainerSample cs[] = {
		{ .state = (char *)"running" },
		{ .state = (char *)"exited" },
		{ .state = (char *)"stopping" },
		{ .state = NULL },
	};
	NodeSample s = {
		.capacity_cpus = 2,
		.capacity_memory = 1 << 30,
		.cpu_used = 0.5,
		.cpu_percent = 25,
		.mem_used = 256 << 20,
		.mem_percent = 25,
		.net_rx_rate = 1000,
		.net_tx_rate = 2000,
		.net_percent = 1.5,
		.podman_ok = true,
		.containers = cs,
		.n_containers = ELEMENTSOF(cs),
	};
	agent_metrics_sample(m, &s, true);

	MigrationRecord rec = {};
	assert_int_equal(migration_record_init(&rec, "c1", "node7", "node8",
	                                       MIGRATION_REASON_AUTOMATIC, wall_ms() - 2000),
	                 0);
	agent_metrics_migration(m, &rec, MIGRATION_DONE, 750, 3 << 20);
	rec.mode = MIGRATION_MODE_PRE_COPY;
	agent_metrics_migration(m, &rec, MIGRATION_RESTORING, 900, 100);
	rec.reason = MIGRATION_REASON_MANUAL;
	agent_metrics_migration(m, &rec, MIGRATION_ROLLED_BACK, 900, 100);
	migration_record_clear(&rec);
	a.migrations = 1;

	char *body = metrics_scrape(port);
	metrics_assert_line(body,
	                    "podmig_agent_info{node=\"node7\",version=\"" PODMIG_VERSION "\"} 1");
	metrics_assert_line(body, "podmig_node_published 1");
	metrics_assert_line(body, "podmig_node_podman_up 1");
	metrics_assert_line(body, "podmig_node_cpu_usage_cores 0.5");
	metrics_assert_line(body, "podmig_node_cpu_capacity_cores 2");
	metrics_assert_line(body, "podmig_node_cpu_utilization_ratio 0.25");
	metrics_assert_line(body, "podmig_node_memory_usage_bytes 268435456");
	metrics_assert_line(body, "podmig_node_memory_capacity_bytes 1073741824");
	metrics_assert_line(body, "podmig_node_network_transmit_bytes_per_second 2000");
	metrics_assert_line(body, "podmig_node_network_utilization_ratio 0.015");
	metrics_assert_line(body, "podmig_node_containers{state=\"running\"} 1");
	metrics_assert_line(body, "podmig_node_containers{state=\"exited\"} 1");
	metrics_assert_line(body, "podmig_node_containers{state=\"paused\"} 0");
	metrics_assert_line(body, "podmig_node_containers{state=\"other\"} 2");
	metrics_assert_line(body, "podmig_migrations_total{result=\"done\",reason=\"automatic\","
	                          "mode=\"stop-and-copy\"} 1");
	metrics_assert_line(body,
	                    "podmig_migrations_total{result=\"unsettled\",reason=\"automatic\","
	                    "mode=\"pre-copy\"} 1");
	metrics_assert_line(body,
	                    "podmig_migrations_total{result=\"rolled-back\",reason=\"manual\","
	                    "mode=\"pre-copy\"} 1");
	metrics_assert_line(body, "podmig_migrations_total{result=\"done\",reason=\"manual\","
	                          "mode=\"pre-copy\"} 0");
	/* downtime only of migrations done */
	metrics_assert_line(body,
	                    "podmig_migration_downtime_seconds_sum{mode=\"stop-and-copy\"} 0.75");
	metrics_assert_line(body,
	                    "podmig_migration_downtime_seconds_count{mode=\"stop-and-copy\"} 1");
	metrics_assert_line(
	        body,
	        "podmig_migration_downtime_seconds_bucket{mode=\"stop-and-copy\",le=\"0.5\"} 0");
	metrics_assert_line(
	        body,
	        "podmig_migration_downtime_seconds_bucket{mode=\"stop-and-copy\",le=\"1\"} 1");
	metrics_assert_line(body, "podmig_migration_downtime_seconds_count{mode=\"pre-copy\"} 0");
	/* bytes: 3 MiB is over 1 MiB and within 4 MiB */
	metrics_assert_line(
	        body,
	        "podmig_migration_sent_bytes_bucket{mode=\"stop-and-copy\",le=\"1048576\"} 0");
	metrics_assert_line(
	        body,
	        "podmig_migration_sent_bytes_bucket{mode=\"stop-and-copy\",le=\"4194304\"} 1");
	metrics_assert_line(body, "podmig_migration_sent_bytes_sum{mode=\"pre-copy\"} 200");
	/* duration: about 2 s since the record was made */
	metrics_assert_line(body, "podmig_migration_duration_seconds_count{result=\"done\"} 1");
	metrics_assert_line(body,
	                    "podmig_migration_duration_seconds_bucket{result=\"done\",le=\"1\"} 0");
	metrics_assert_line(body,
	                    "podmig_migration_duration_seconds_bucket{result=\"done\",le=\"5\"} 1");
	metrics_assert_line(body, "podmig_migrations_in_progress 1");
	assert_non_null(strstr(body, "\npodmig_grpc_client_errors_total{code=\"UNAVAILABLE\"} "));
	assert_non_null(strstr(body, "\npodmig_etcd_request_errors_total{code=\"UNAVAILABLE\"} "));
	free(body);

	/* Podman unreachable: the counts stay, the rest follows the sample */
	s.podman_ok = false;
	s.n_containers = 0;
	agent_metrics_sample(m, &s, false);
	body = metrics_scrape(port);
	metrics_assert_line(body, "podmig_node_published 0");
	metrics_assert_line(body, "podmig_node_podman_up 0");
	metrics_assert_line(body, "podmig_node_containers{state=\"running\"} 1");
	free(body);

	agent_metrics_free(m);
	pthread_mutex_destroy(&a.migrations_lock);
	agent_config_done(&c);
}

static void test_off(void **state)
{
	AgentConfig c;
	agent_config_init(&c);
	c.node_name = strdup("node7");
	c.insecure = true;
	Agent a = { .config = &c };
	AgentMetrics *m = (AgentMetrics *)&a; /* overwritten */
	assert_int_equal(agent_metrics_new(&a, &m), 0);
	assert_null(m);
	/* every call does nothing */
	agent_metrics_sample(NULL, NULL, true);
	agent_metrics_migration(NULL, NULL, MIGRATION_DONE, 0, 0);
	assert_int_equal(agent_metrics_get_port(NULL), 0);
	assert_null(agent_metrics_free(NULL));
	agent_config_done(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_metrics),
		cmocka_unit_test(test_off),
	};
	curl_global_init(CURL_GLOBAL_DEFAULT);
	int r = cmocka_run_group_tests(tests, NULL, NULL);
	curl_global_cleanup();
	return r;
}
