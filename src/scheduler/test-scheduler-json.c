/* Tests of the scheduler's view from etcd documents shaped as docs/etcd-keys.md shows them:
 * nodes from info + status (with and without `recent`), migration records in each phase,
 * drain marks, and malformed documents skipped and counted. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "scheduler-json.h"
#include "strutil.h"

#define PREFIX "/podmig/"

static const char info_node1[] =
        "{\"name\": \"node1\", \"grpc_address\": \"10.77.0.11:7401\", \"version\": \"0.1.0\","
        " \"podman_version\": \"5.4.2\", \"accounting\": \"containers\","
        " \"capacity\": { \"cpus\": 2.0, \"memory_bytes\": 2147483648 },"
        " \"link_bandwidth_bytes_per_sec\": 125000000,"
        " \"criu\": { \"probed\": true, \"version\": \"4.2.1\", \"pre_copy\": false,"
        " \"lazy_pages\": true }, \"labels\": { \"zone\": \"a\" }, \"started_at\": 1795731783}";

static const char status_node1[] =
        "{\"timestamp_usec\": 1795731785747557, \"time\": \"2026-11-26T22:23:05.747Z\","
        " \"interval_usec\": 1000000, \"accounting\": \"containers\","
        " \"cpu\": { \"used_cores\": 1.5, \"percent\": 75.0, \"capacity_cores\": 2.0,"
        " \"load\": [0.76, 0.47, 0.31] },"
        " \"memory\": { \"used_bytes\": 1073741824, \"available_bytes\": 1073741824,"
        " \"capacity_bytes\": 2147483648, \"percent\": 50.0 },"
        " \"network\": { \"rx_bytes_per_sec\": 1000.0, \"tx_bytes_per_sec\": 25000000.0,"
        " \"link_bandwidth_bytes_per_sec\": 125000000,"
        " \"interfaces\": [ { \"name\": \"eth0\", \"rx_bytes\": 1330, \"tx_bytes\": 558,"
        " \"rx_bytes_per_sec\": 1000.0, \"tx_bytes_per_sec\": 25000000.0 } ] },"
        " \"recent\": [ {\"t\": 1795731783747557, \"cpu\": 60.0, \"memory\": 50.0,"
        " \"network\": 10.0},"
        " {\"t\": 1795731784747557, \"cpu\": 70.0, \"memory\": 50.0, \"network\": 15.0},"
        " {\"t\": 1795731785747557, \"cpu\": 75.0, \"memory\": 50.0, \"network\": 20.0} ],"
        " \"podman\": { \"ok\": true, \"error\": null },"
        " \"containers\": ["
        " { \"id\": \"f8cb\", \"name\": \"web\", \"image\": \"localhost/podmig/counter:latest\","
        " \"state\": \"running\", \"labels\": { \"podmig.migrate\": \"false\" },"
        " \"started_at\": 1795731337, \"cpu_percent\": 40.0, \"memory_bytes\": 53248,"
        " \"memory_limit_bytes\": 25276510208, \"pids\": 1, \"net_rx_bytes\": 1330,"
        " \"net_tx_bytes\": 558, \"net_rx_bytes_per_sec\": 100.0,"
        " \"net_tx_bytes_per_sec\": 2000.0 },"
        " { \"id\": \"a1b2\", \"name\": \"db\", \"image\": \"localhost/podmig/memhog:latest\","
        " \"state\": \"running\", \"labels\": {}, \"started_at\": 1795731337,"
        " \"cpu_percent\": 110.0, \"memory_bytes\": 1073688576,"
        " \"memory_limit_bytes\": 25276510208, \"pids\": 2, \"net_rx_bytes\": 0,"
        " \"net_tx_bytes\": 0 },"
        " { \"id\": \"c3d4\", \"name\": \"old\", \"image\": \"localhost/podmig/counter:latest\","
        " \"state\": \"exited\", \"labels\": {}, \"started_at\": 0 } ] }";

/* an agent from before `recent` and `interval_usec` */
static const char info_node2[] = "{\"name\": \"node2\", \"capacity\": { \"cpus\": 1.0,"
                                 " \"memory_bytes\": 1073741824 },"
                                 " \"link_bandwidth_bytes_per_sec\": 1000000}";
static const char status_node2[] =
        "{\"timestamp_usec\": 1795731785000000, \"cpu\": { \"used_cores\": 0.25 },"
        " \"memory\": { \"used_bytes\": 268435456 },"
        " \"network\": { \"rx_bytes_per_sec\": 500000, \"tx_bytes_per_sec\": 100 },"
        " \"containers\": [] }";

static const char record_done[] =
        "{\"id\": \"m-1795732354349-fa62073b\", \"container\": \"c1\", \"source\": \"node1\","
        " \"target\": \"node2\", \"image\": \"localhost/podmig/counter:latest\","
        " \"reason\": \"automatic\", \"mode\": \"stop-and-copy\", \"phase\": \"done\","
        " \"phase_times_ms\": { \"planned\": 1795732354349, \"checkpointing\": 1795732354354,"
        " \"transferring\": 1795732354607, \"restoring\": 1795732354613,"
        " \"done\": 1795732354821 }, \"bytes\": 179712, \"downtime_ms\": 466,"
        " \"error\": null, \"decision\": \"d-1795732354100-0a1b2c3d\"}";
static const char record_active[] =
        "{\"id\": \"m-1795732360000-00000001\", \"container\": \"c2\", \"source\": \"node2\","
        " \"target\": \"node1\", \"reason\": \"manual\", \"mode\": \"stop-and-copy\","
        " \"phase\": \"transferring\", \"phase_times_ms\": { \"planned\": 1795732360000,"
        " \"checkpointing\": 1795732360010, \"transferring\": 1795732360100 },"
        " \"bytes\": 0, \"downtime_ms\": 0, \"error\": null}";
static const char record_rolled_back[] =
        "{\"id\": \"m-1795732370000-00000002\", \"container\": \"c3\", \"source\": \"node1\","
        " \"target\": \"node2\", \"reason\": \"drain\", \"mode\": \"pre-copy\","
        " \"phase\": \"rolled-back\", \"phase_times_ms\": { \"planned\": 1795732370000,"
        " \"checkpointing\": 1795732370010, \"rolled-back\": 1795732371000 },"
        " \"bytes\": 10, \"downtime_ms\": 700, \"error\": \"target's Podman died\"}";
static const char record_failed[] =
        "{\"id\": \"m-1795732380000-00000003\", \"container\": \"c4\", \"source\": \"node1\","
        " \"target\": \"node2\", \"reason\": \"manual\", \"mode\": \"stop-and-copy\","
        " \"phase\": \"failed\", \"phase_times_ms\": { \"planned\": 1795732380000,"
        " \"failed\": 1795732380500 }, \"bytes\": 0, \"downtime_ms\": 0,"
        " \"error\": \"no such container\"}";

#define DOC(k, v)                                               \
	{                                                       \
		.key = (k), .value = (v), .size = sizeof(v) - 1 \
	}

static const SchedNode *find_node(const SchedView *v, const char *name)
{
	for (size_t i = 0; i < v->n_nodes; i++)
		if (streq(v->nodes[i].name, name))
			return &v->nodes[i];
	return NULL;
}

static const SchedMigration *find_migration(const SchedView *v, const char *container)
{
	for (size_t i = 0; i < v->n_migrations; i++)
		if (streq(v->migrations[i].container, container))
			return &v->migrations[i];
	return NULL;
}

static void test_nodes(void **state)
{
	/* any order: the daemon's cache is not sorted */
	const SchedDocument docs[] = {
		DOC(PREFIX "nodes/node2/status", status_node2),
		DOC(PREFIX "nodes/node1/status", status_node1),
		DOC(PREFIX "nodes/node1/info", info_node1),
		DOC(PREFIX "nodes/node2/info", info_node2),
		/* info without status: not a node yet, not malformed either */
		DOC(PREFIX "nodes/node3/info", info_node2),
		/* ignored: other keys, other prefixes */
		DOC(PREFIX "locks/containers/c2", "m-1795732360000-00000001"),
		DOC(PREFIX "nodes/node1/other", "x"),
		DOC("/other/nodes/node4/info", info_node1),
		DOC("/other/nodes/node4/status", status_node1),
	};
	SchedView v;
	assert_int_equal(sched_view_from_documents(PREFIX, docs, ELEMENTSOF(docs), &v), 0);
	assert_int_equal(v.n_nodes, 2);
	assert_int_equal(v.n_migrations, 0);

	const SchedNode *n1 = find_node(&v, "node1");
	assert_non_null(n1);
	assert_float_equal(n1->capacity[PLACEMENT_CPU], 2.0, 0);
	assert_float_equal(n1->capacity[PLACEMENT_MEMORY], 2147483648.0, 0);
	assert_float_equal(n1->capacity[PLACEMENT_NETWORK], 125000000.0, 0);
	assert_float_equal(n1->used[PLACEMENT_CPU], 1.5, 0);
	assert_float_equal(n1->used[PLACEMENT_MEMORY], 1073741824.0, 0);
	assert_float_equal(n1->used[PLACEMENT_NETWORK], 25000000.0, 0); /* the busier way */
	assert_int_equal(n1->interval_usec, 1000000);
	assert_false(n1->drained);
	assert_int_equal(n1->n_samples, 3);
	assert_int_equal(n1->samples[0].timestamp_usec, 1795731783747557ULL);
	assert_float_equal(n1->samples[0].percent[PLACEMENT_CPU], 60, 0);
	assert_int_equal(n1->samples[2].timestamp_usec, 1795731785747557ULL);
	assert_float_equal(n1->samples[2].percent[PLACEMENT_CPU], 75, 0);
	assert_float_equal(n1->samples[2].percent[PLACEMENT_MEMORY], 50, 0);
	assert_float_equal(n1->samples[2].percent[PLACEMENT_NETWORK], 20, 0);

	assert_int_equal(n1->n_containers, 3);
	const SchedContainer *web = &n1->containers[0], *db = &n1->containers[1],
	                     *old = &n1->containers[2];
	assert_string_equal(web->name, "web");
	assert_true(web->running);
	assert_true(web->opt_out);
	assert_float_equal(web->demand[PLACEMENT_CPU], 0.4, 1e-12);
	assert_float_equal(web->demand[PLACEMENT_MEMORY], 53248, 0);
	assert_float_equal(web->demand[PLACEMENT_NETWORK], 2000, 0);
	assert_float_equal(web->memory_bytes, 53248, 0);
	assert_string_equal(db->name, "db");
	assert_true(db->running);
	assert_false(db->opt_out);
	assert_float_equal(db->demand[PLACEMENT_CPU], 1.1, 1e-12);
	assert_float_equal(db->demand[PLACEMENT_NETWORK], 0, 0); /* no rates published */
	assert_string_equal(old->name, "old");
	assert_false(old->running);
	assert_float_equal(old->demand[PLACEMENT_CPU], 0, 0);

	/* without `recent`: the current sample alone, in percent of info's capacity */
	const SchedNode *n2 = find_node(&v, "node2");
	assert_non_null(n2);
	assert_int_equal(n2->interval_usec, 1000000);
	assert_int_equal(n2->n_samples, 1);
	assert_int_equal(n2->samples[0].timestamp_usec, 1795731785000000ULL);
	assert_float_equal(n2->samples[0].percent[PLACEMENT_CPU], 25, 1e-9);
	assert_float_equal(n2->samples[0].percent[PLACEMENT_MEMORY], 25, 1e-9);
	assert_float_equal(n2->samples[0].percent[PLACEMENT_NETWORK], 50, 1e-9);
	assert_int_equal(n2->n_containers, 0);

	sched_view_done(&v);
	assert_int_equal(v.n_nodes, 0);
	assert_null(v.nodes);
	sched_view_done(&v); /* twice is fine */
	sched_view_done(NULL);
}

static void test_migrations_and_drain(void **state)
{
	const SchedDocument docs[] = {
		DOC(PREFIX "nodes/node1/info", info_node1),
		DOC(PREFIX "nodes/node1/status", status_node1),
		DOC(PREFIX "nodes/node2/info", info_node2),
		DOC(PREFIX "nodes/node2/status", status_node2),
		DOC(PREFIX "migrations/m-1795732354349-fa62073b", record_done),
		DOC(PREFIX "migrations/m-1795732360000-00000001", record_active),
		DOC(PREFIX "migrations/m-1795732370000-00000002", record_rolled_back),
		DOC(PREFIX "migrations/m-1795732380000-00000003", record_failed),
		DOC(PREFIX "drain/node2", "{\"since_usec\": 1795732354349000, \"by\": \"alice\"}"),
		/* any value counts; a node not in the view is no error */
		DOC(PREFIX "drain/node9", ""),
	};
	SchedView v;
	assert_int_equal(sched_view_from_documents(PREFIX, docs, ELEMENTSOF(docs), &v), 0);
	assert_int_equal(v.n_nodes, 2);
	assert_false(find_node(&v, "node1")->drained);
	assert_true(find_node(&v, "node2")->drained);
	assert_int_equal(v.n_migrations, 4);

	const SchedMigration *m = find_migration(&v, "c1");
	assert_string_equal(m->source, "node1");
	assert_string_equal(m->target, "node2");
	assert_int_equal(m->state, SCHED_MIGRATION_DONE);
	assert_true(m->automatic);
	assert_int_equal(m->started_usec, 1795732354349000ULL);
	assert_int_equal(m->ended_usec, 1795732354821000ULL);
	assert_float_equal(m->downtime_sec, 0.466, 1e-12);

	m = find_migration(&v, "c2");
	assert_int_equal(m->state, SCHED_MIGRATION_ACTIVE);
	assert_false(m->automatic);
	assert_int_equal(m->started_usec, 1795732360000000ULL);
	assert_int_equal(m->ended_usec, 0);
	assert_float_equal(m->downtime_sec, 0, 0);

	m = find_migration(&v, "c3");
	assert_int_equal(m->state, SCHED_MIGRATION_UNDONE);
	assert_true(m->automatic); /* drain */
	assert_int_equal(m->ended_usec, 1795732371000000ULL);
	assert_float_equal(m->downtime_sec, 0, 0);

	m = find_migration(&v, "c4");
	assert_int_equal(m->state, SCHED_MIGRATION_UNDONE);
	assert_int_equal(m->ended_usec, 1795732380500000ULL);
	sched_view_done(&v);
}

static void test_malformed(void **state)
{
	const SchedDocument docs[] = {
		/* 1: status is not JSON */
		DOC(PREFIX "nodes/a/info", info_node2),
		DOC(PREFIX "nodes/a/status", "{\"timestamp_usec\": "),
		/* 2: info without capacity */
		DOC(PREFIX "nodes/b/info", "{\"name\": \"b\"}"),
		DOC(PREFIX "nodes/b/status", status_node2),
		/* 3: a sample with a negative percent */
		DOC(PREFIX "nodes/c/info", info_node2),
		DOC(PREFIX "nodes/c/status",
		    "{\"timestamp_usec\": 5, \"cpu\": {\"used_cores\": 0}, \"memory\": "
		    "{\"used_bytes\": 0}, \"network\": {\"rx_bytes_per_sec\": 0, "
		    "\"tx_bytes_per_sec\": 0}, \"recent\": [{\"t\": 5, \"cpu\": -1, \"memory\": "
		    "0, \"network\": 0}], \"containers\": []}"),
		/* 4: a container without a name */
		DOC(PREFIX "nodes/d/info", info_node2),
		DOC(PREFIX "nodes/d/status",
		    "{\"timestamp_usec\": 5, \"cpu\": {\"used_cores\": 0}, \"memory\": "
		    "{\"used_bytes\": 0}, \"network\": {\"rx_bytes_per_sec\": 0, "
		    "\"tx_bytes_per_sec\": 0}, \"containers\": [{\"state\": \"running\"}]}"),
		/* 5: zero interval */
		DOC(PREFIX "nodes/e/info", info_node2),
		DOC(PREFIX "nodes/e/status",
		    "{\"timestamp_usec\": 5, \"interval_usec\": 0, \"cpu\": {\"used_cores\": 0}, "
		    "\"memory\": {\"used_bytes\": 0}, \"network\": {\"rx_bytes_per_sec\": 0, "
		    "\"tx_bytes_per_sec\": 0}, \"containers\": []}"),
		/* 6: a node name podmig refuses */
		DOC(PREFIX "nodes/-bad/info", info_node2),
		DOC(PREFIX "nodes/-bad/status", status_node2),
		/* 7, 8: records that do not parse */
		DOC(PREFIX "migrations/m-1", "{\"id\": \"m-1\"}"),
		DOC(PREFIX "migrations/m-2", "not json"),
		/* 9: a drain mark with a bad name */
		DOC(PREFIX "drain/.x", "{}"),
		/* the good ones survive */
		DOC(PREFIX "nodes/node2/info", info_node2),
		DOC(PREFIX "nodes/node2/status", status_node2),
		DOC(PREFIX "migrations/m-1795732360000-00000001", record_active),
	};
	SchedView v;
	assert_int_equal(sched_view_from_documents(PREFIX, docs, ELEMENTSOF(docs), &v), 9);
	assert_int_equal(v.n_nodes, 1);
	assert_string_equal(v.nodes[0].name, "node2");
	assert_int_equal(v.n_migrations, 1);
	sched_view_done(&v);

	/* nothing at all */
	assert_int_equal(sched_view_from_documents(PREFIX, NULL, 0, &v), 0);
	assert_int_equal(v.n_nodes, 0);
	assert_int_equal(v.n_migrations, 0);
	sched_view_done(&v);
}

/* An agent publishing more than SCHED_SAMPLES_MAX samples: the newest are kept. */
static void test_long_recent(void **state)
{
	char status[8192];
	size_t n = 0;
	n += (size_t)snprintf(status + n, sizeof status - n,
	                      "{\"timestamp_usec\": 1020, \"cpu\": {\"used_cores\": 0}, "
	                      "\"memory\": {\"used_bytes\": 0}, \"network\": "
	                      "{\"rx_bytes_per_sec\": 0, \"tx_bytes_per_sec\": 0}, "
	                      "\"containers\": [], \"recent\": [");
	for (int i = 1; i <= 20; i++)
		n += (size_t)snprintf(status + n, sizeof status - n,
		                      "%s{\"t\": %d, \"cpu\": %d, \"memory\": 1, \"network\": 2}",
		                      i > 1 ? ", " : "", 1000 + i, i);
	n += (size_t)snprintf(status + n, sizeof status - n, "]}");
	const SchedDocument docs[] = {
		DOC(PREFIX "nodes/node2/info", info_node2),
		{ .key = PREFIX "nodes/node2/status", .value = status, .size = n },
	};
	SchedView v;
	assert_int_equal(sched_view_from_documents(PREFIX, docs, ELEMENTSOF(docs), &v), 0);
	assert_int_equal(v.n_nodes, 1);
	assert_int_equal(v.nodes[0].n_samples, SCHED_SAMPLES_MAX);
	assert_float_equal(v.nodes[0].samples[0].percent[PLACEMENT_CPU], 5, 0);
	assert_int_equal(v.nodes[0].samples[SCHED_SAMPLES_MAX - 1].timestamp_usec, 1020);
	sched_view_done(&v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_nodes),
		cmocka_unit_test(test_migrations_and_drain),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_long_recent),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
