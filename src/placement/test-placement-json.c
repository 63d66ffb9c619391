/* Unit tests for the placement JSON reader/writer: a documented instance parses as described,
 * instances round-trip, and every kind of malformed input is refused with a message naming the
 * field. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "placement-json.h"
#include "time-util.h"

static const char *const good =
        "{\"weights\": {\"imbalance\": 2, \"migration\": 0.5, \"network\": 0},"
        " \"thresholds\": {\"cpu\": 0.8},"
        " \"source\": \"a\","
        " \"nodes\": ["
        "  {\"name\": \"a\", \"capacity\": {\"cpu\": 8, \"memory\": 32e9, \"network\": 1.25e9},"
        "   \"used\": {\"cpu\": 7, \"memory\": 20e9, \"network\": 1e8}},"
        "  {\"name\": \"b\", \"capacity\": {\"cpu\": 16, \"memory\": 64e9, \"network\": 1.25e9},"
        "   \"used\": {\"cpu\": 2, \"memory\": 8e9, \"network\": 1e8},"
        "   \"threshold\": {\"memory\": 0.5}, \"bandwidth\": 1e9}],"
        " \"containers\": ["
        "  {\"name\": \"web\", \"demand\": {\"cpu\": 1.5, \"memory\": 2e9, \"network\": 1e7}},"
        "  {\"demand\": {\"cpu\": 1, \"memory\": 1e9, \"network\": 0}, \"transfer_bytes\": 5e8}]}";

static PlacementInstance *parse(const char *text, int expect, const char *message_part)
{
	_cleanup_placement_json_ json_t *root = NULL;
	PlacementInstance *p = NULL;
	char *error = NULL;
	json_error_t jerr;
	int r;

	root = json_loads(text, 0, &jerr);
	if (!root)
		fail_msg("test JSON does not parse: %s", jerr.text);
	r = placement_instance_from_json(root, &p, &error);
	if (r != expect)
		fail_msg("'%s': got %d (%s), expected %d", text, r, error ?: "", expect);
	if (message_part) {
		assert_non_null(error);
		if (!strstr(error, message_part))
			fail_msg("message '%s' lacks '%s'", error, message_part);
	}
	if (r < 0) {
		assert_null(p);
		assert_non_null(error);
	}
	free(error);
	return p;
}

static void test_parse_good(void **state)
{
	_cleanup_placement_instance_ PlacementInstance *p = parse(good, 0, NULL);

	assert_int_equal(p->n_nodes, 2);
	assert_int_equal(p->n_containers, 2);
	assert_int_equal(p->source, 0);
	assert_string_equal(p->nodes[1].name, "b");
	assert_true(p->nodes[1].capacity[PLACEMENT_MEMORY] == 64e9);
	assert_true(p->nodes[0].bandwidth == 0);
	/* Instance-wide threshold for cpu, default 1 elsewhere, per-node override for memory. */
	assert_true(p->nodes[0].threshold[PLACEMENT_CPU] == 0.8);
	assert_true(p->nodes[0].threshold[PLACEMENT_MEMORY] == 1);
	assert_true(p->nodes[1].threshold[PLACEMENT_MEMORY] == 0.5);
	assert_true(p->nodes[1].threshold[PLACEMENT_CPU] == 0.8);
	assert_true(p->weights.imbalance == 2);
	assert_true(p->weights.migration == 0.5);
	assert_true(p->weights.resource[PLACEMENT_CPU] == 1);
	assert_true(p->weights.resource[PLACEMENT_NETWORK] == 0);
	/* transfer_bytes defaults to the memory demand. */
	assert_true(p->containers[0].transfer_bytes == 2e9);
	assert_true(p->containers[1].transfer_bytes == 5e8);
	assert_null(p->containers[1].name);
	assert_int_equal(placement_instance_validate(p), 0);

	/* Source by index and absent source. */
	{
		_cleanup_placement_instance_ PlacementInstance *q = parse(
		        "{\"source\": 1, \"nodes\": [{\"capacity\": {\"cpu\": 1, \"memory\": 1, "
		        "\"network\": 1}, \"used\": {\"cpu\": 0, \"memory\": 0, \"network\": 0}, "
		        "\"bandwidth\": 5}, {\"capacity\": {\"cpu\": 1, \"memory\": 1, "
		        "\"network\": 1}, "
		        "\"used\": {\"cpu\": 0, \"memory\": 0, \"network\": 0}}], \"containers\": "
		        "[]}",
		        0, NULL);
		assert_int_equal(q->source, 1);
		assert_int_equal(q->n_containers, 0);
	}
}

static void test_round_trip(void **state)
{
	_cleanup_placement_instance_ PlacementInstance *p = parse(good, 0, NULL), *q = NULL;
	_cleanup_placement_json_ json_t *j = placement_instance_to_json(p);
	_cleanup_placement_result_ PlacementResult *a = NULL, *b = NULL;
	char *error = NULL;

	assert_non_null(j);
	assert_int_equal(placement_instance_from_json(j, &q, &error), 0);
	assert_null(error);
	assert_int_equal(q->n_nodes, p->n_nodes);
	assert_int_equal(q->source, p->source);
	for (size_t i = 0; i < p->n_nodes; i++)
		assert_memory_equal(p->nodes[i].capacity, q->nodes[i].capacity,
		                    sizeof p->nodes[i].capacity);
	assert_int_equal(placement_solve(p, PLACEMENT_SOLVER_EXACT, NULL, &a), 0);
	assert_int_equal(placement_solve(q, PLACEMENT_SOLVER_EXACT, NULL, &b), 0);
	assert_true(a->score.objective == b->score.objective);
}

static void test_result_json(void **state)
{
	_cleanup_placement_instance_ PlacementInstance *p = parse(good, 0, NULL);
	_cleanup_placement_result_ PlacementResult *r = NULL;
	_cleanup_placement_json_ json_t *j = NULL;

	assert_int_equal(placement_solve(p, PLACEMENT_SOLVER_ACO, NULL, &r), 0);
	assert_int_equal(r->status, PLACEMENT_STATUS_FEASIBLE);
	j = placement_result_to_json(p, r);
	assert_non_null(j);
	assert_string_equal(json_string_value(json_object_get(j, "solver")), "aco");
	assert_string_equal(json_string_value(json_object_get(j, "status")), "feasible");
	assert_true(json_is_true(json_object_get(j, "feasible")));
	json_t *pl = json_object_get(j, "placement");
	assert_int_equal(json_array_size(pl), 2);
	/* b is the only target. */
	assert_string_equal(json_string_value(json_object_get(json_array_get(pl, 0), "node")), "b");
	assert_string_equal(json_string_value(json_object_get(json_array_get(pl, 0), "container")),
	                    "web");
	assert_true(json_is_null(json_object_get(json_array_get(pl, 1), "container")));
	assert_true(json_real_value(json_object_get(j, "objective")) == r->score.objective);
	assert_non_null(json_object_get(json_object_get(j, "imbalance_per_resource"), "network"));
	assert_non_null(json_object_get(j, "migration_seconds"));
}

static void test_malformed(void **state)
{
	static const struct {
		const char *text, *message;
	} cases[] = {
		{ "[]", "must be a JSON object" },
		{ "{\"nodes\": []}", "nodes: must be a non-empty array" },
		{ "{\"nodes\": [1], \"containers\": []}", "nodes[0]: must be an object" },
		{ "{\"nodes\": [{}], \"containers\": {}}", "containers: must be an array" },
		{ "{\"nodes\": [{}], \"containers\": [], \"extra\": 1}", "unknown key 'extra'" },
		{ "{\"nodes\": [{\"capacity\": {\"cpu\": 0, \"memory\": 1, \"network\": 1}}], "
		  "\"containers\": []}",
		  "nodes[0].capacity.cpu: must be a positive number" },
		{ "{\"nodes\": [{\"capacity\": {\"cpu\": -4, \"memory\": 1, \"network\": 1}}], "
		  "\"containers\": []}",
		  "nodes[0].capacity.cpu" },
		{ "{\"nodes\": [{\"capacity\": {\"cpu\": \"8\", \"memory\": 1, \"network\": 1}}], "
		  "\"containers\": []}",
		  "nodes[0].capacity.cpu" },
		{ "{\"nodes\": [{\"capacity\": {\"cpu\": 8, \"memory\": 1}}], \"containers\": []}",
		  "nodes[0].capacity.network: missing" },
		{ "{\"nodes\": [{\"capacity\": {\"cpu\": 8, \"memory\": 1, \"network\": 1, "
		  "\"gpu\": 1}}], "
		  "\"containers\": []}",
		  "unknown key 'gpu'" },
		{ "{\"nodes\": [{\"capacity\": {\"cpu\": 8, \"memory\": 1, \"network\": 1}, "
		  "\"used\": {\"cpu\": -1, \"memory\": 0, \"network\": 0}}], \"containers\": []}",
		  "nodes[0].used.cpu: must be a non-negative number" },
		{ "{\"nodes\": [{\"capacity\": {\"cpu\": 8, \"memory\": 1, \"network\": 1}, "
		  "\"used\": {\"cpu\": 1, \"memory\": 0, \"network\": 0}, \"threshold\": {\"cpu\": "
		  "1.5}}],"
		  " \"containers\": []}",
		  "nodes[0].threshold.cpu: must be a number in (0, 1]" },
		{ "{\"nodes\": [{\"capacity\": {\"cpu\": 8, \"memory\": 1, \"network\": 1}, "
		  "\"used\": {\"cpu\": 1, \"memory\": 0, \"network\": 0}}], \"containers\": []}",
		  "nodes[0].bandwidth: missing" },
		{ "{\"nodes\": [{\"name\": \"x\", \"capacity\": {\"cpu\": 8, \"memory\": 1, "
		  "\"network\": 1},"
		  " \"used\": {\"cpu\": 1, \"memory\": 0, \"network\": 0}, \"bandwidth\": 1}, "
		  "{\"name\": \"x\", \"capacity\": {\"cpu\": 8, \"memory\": 1, \"network\": 1},"
		  " \"used\": {\"cpu\": 1, \"memory\": 0, \"network\": 0}, \"bandwidth\": 1}], "
		  "\"containers\": []}",
		  "nodes[1].name: 'x' is also nodes[0]" },
		{ "{\"source\": \"nope\", \"nodes\": [{\"capacity\": {\"cpu\": 8, \"memory\": 1, "
		  "\"network\": 1}, \"used\": {\"cpu\": 1, \"memory\": 0, \"network\": 0}, "
		  "\"bandwidth\": 1}], \"containers\": []}",
		  "source: no node is named 'nope'" },
		{ "{\"source\": 3, \"nodes\": [{\"capacity\": {\"cpu\": 8, \"memory\": 1, "
		  "\"network\": 1}, \"used\": {\"cpu\": 1, \"memory\": 0, \"network\": 0}, "
		  "\"bandwidth\": 1}], \"containers\": []}",
		  "source: index 3" },
		{ "{\"source\": true, \"nodes\": [{\"capacity\": {\"cpu\": 8, \"memory\": 1, "
		  "\"network\": 1}, \"used\": {\"cpu\": 1, \"memory\": 0, \"network\": 0}, "
		  "\"bandwidth\": 1}], \"containers\": []}",
		  "source: must be" },
		{ "{\"nodes\": [{\"capacity\": {\"cpu\": 8, \"memory\": 1, \"network\": 1}, "
		  "\"used\": {\"cpu\": 1, \"memory\": 0, \"network\": 0}, \"bandwidth\": 1}], "
		  "\"containers\": [{\"demand\": {\"cpu\": 1, \"memory\": -2, \"network\": 0}}]}",
		  "containers[0].demand.memory" },
		{ "{\"nodes\": [{\"capacity\": {\"cpu\": 8, \"memory\": 1, \"network\": 1}, "
		  "\"used\": {\"cpu\": 1, \"memory\": 0, \"network\": 0}, \"bandwidth\": 1}], "
		  "\"containers\": [{\"demand\": {\"cpu\": 1, \"memory\": 0, \"network\": 0}, "
		  "\"transfer_bytes\": null}]}",
		  "containers[0].transfer_bytes" },
		{ "{\"weights\": {\"cpu\": 0, \"memory\": 0, \"network\": 0}, \"nodes\": "
		  "[{\"capacity\":"
		  " {\"cpu\": 8, \"memory\": 1, \"network\": 1}, \"used\": {\"cpu\": 1, "
		  "\"memory\": 0, "
		  "\"network\": 0}, \"bandwidth\": 1}], \"containers\": []}",
		  "cannot all be 0" },
		{ "{\"weights\": {\"migration\": -1}, \"nodes\": [], \"containers\": []}",
		  "weights.migration" },
		/* Values that would overflow the objective are refused by name. */
		{ "{\"nodes\": [{\"capacity\": {\"cpu\": 8, \"memory\": 1, \"network\": 1}, "
		  "\"used\": {\"cpu\": 1, \"memory\": 0, \"network\": 0}, \"bandwidth\": 1}], "
		  "\"containers\": [{\"demand\": {\"cpu\": 1, \"memory\": 0, \"network\": 0}, "
		  "\"transfer_bytes\": 1e300}]}",
		  "containers[0].transfer_bytes: must be at most 1e+30, not 1e+300" },
		{ "{\"nodes\": [{\"capacity\": {\"cpu\": 8, \"memory\": 1, \"network\": 1}, "
		  "\"used\": {\"cpu\": 1, \"memory\": 0, \"network\": 0}, \"bandwidth\": 1e-300}], "
		  "\"containers\": []}",
		  "nodes[0].bandwidth: must be at least 1e-30" },
		{ "{\"nodes\": [{\"capacity\": {\"cpu\": 8, \"memory\": 1, \"network\": 1}, "
		  "\"used\": {\"cpu\": 1e40, \"memory\": 0, \"network\": 0}, \"bandwidth\": 1}], "
		  "\"containers\": []}",
		  "nodes[0].used.cpu: must be at most" },
		{ "{\"weights\": {\"imbalance\": 1e300}, \"nodes\": [], \"containers\": []}",
		  "weights.imbalance: must be at most" },
		/* Duplicates far apart are found, and named as a reader meets them. */
		{ "{\"nodes\": [{\"name\": \"b\", \"capacity\": {\"cpu\": 8, \"memory\": 1, "
		  "\"network\": 1}, \"used\": {\"cpu\": 1, \"memory\": 0, \"network\": 0}, "
		  "\"bandwidth\": 1}, {\"name\": \"a\", \"capacity\": {\"cpu\": 8, \"memory\": 1, "
		  "\"network\": 1}, \"used\": {\"cpu\": 1, \"memory\": 0, \"network\": 0}, "
		  "\"bandwidth\": 1}, "
		  "{\"name\": \"c\", \"capacity\": {\"cpu\": 8, \"memory\": 1, \"network\": 1}, "
		  "\"used\": {\"cpu\": 1, \"memory\": 0, \"network\": 0}, \"bandwidth\": 1}, "
		  "{\"name\": \"a\", \"capacity\": {\"cpu\": 8, \"memory\": 1, \"network\": 1}, "
		  "\"used\": {\"cpu\": 1, \"memory\": 0, \"network\": 0}, \"bandwidth\": 1}, "
		  "{\"name\": \"b\", \"capacity\": {\"cpu\": 8, \"memory\": 1, \"network\": 1}, "
		  "\"used\": {\"cpu\": 1, \"memory\": 0, \"network\": 0}, \"bandwidth\": 1}], "
		  "\"containers\": []}",
		  "nodes[3].name: 'a' is also nodes[1]" },
	};

	for (size_t i = 0; i < ELEMENTSOF(cases); i++)
		assert_null(parse(cases[i].text, -EINVAL, cases[i].message));
}

static void test_load_file(void **state)
{
	PlacementInstance *p = NULL;
	char *error = NULL;
	char path[] = "/tmp/test-placement-json-XXXXXX";
	int fd;

	assert_int_equal(placement_instance_load("/nonexistent/instance.json", &p, &error),
	                 -ENOENT);
	assert_non_null(strstr(error, "unable to open"));
	assert_null(p);
	free(error);
	error = NULL;

	/* A directory is not mistaken for a file with a syntax error. */
	assert_int_equal(placement_instance_load("/tmp", &p, &error), -EISDIR);
	assert_non_null(strstr(error, "is a directory"));
	assert_null(p);
	free(error);
	error = NULL;

	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "{\"nodes\": [1e999]}", 18), 18);
	close(fd);
	assert_int_equal(placement_instance_load(path, &p, &error), -EINVAL);
	assert_non_null(error);
	free(error);
	error = NULL;

	fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, good, strlen(good)), (ssize_t)strlen(good));
	close(fd);
	assert_int_equal(placement_instance_load(path, &p, &error), 0);
	assert_null(error);
	assert_int_equal(p->n_nodes, 2);
	placement_instance_free(p);
	unlink(path);
}

/* Duplicate-name checking must not be quadratic: the format allows 1,000,000 nodes. */
static void test_many_named_nodes(void **state)
{
	_cleanup_placement_json_ json_t *root = json_object(), *nodes = json_array();
	_cleanup_placement_instance_ PlacementInstance *p = NULL;
	_cleanup_free_ char *error = NULL;
	const size_t n = 100000;

	assert_non_null(root);
	for (size_t j = 0; j < n; j++) {
		char name[32];
		snprintf(name, sizeof name, "node-%zu", (j * 7919) % n);
		json_t *o =
		        json_pack("{s:s, s:{s:f, s:f, s:f}, s:{s:f, s:f, s:f}, s:f}", "name", name,
		                  "capacity", "cpu", 8.0, "memory", 1.0, "network", 1.0, "used",
		                  "cpu", 1.0, "memory", 0.0, "network", 0.0, "bandwidth", 1.0);
		assert_non_null(o);
		assert_int_equal(json_array_append_new(nodes, o), 0);
	}
	assert_int_equal(json_object_set(root, "nodes", nodes), 0);
	assert_int_equal(json_object_set_new(root, "containers", json_array()), 0);

	double t0 = mono_sec();
	assert_int_equal(placement_instance_from_json(root, &p, &error), 0);
	double seconds = mono_sec() - t0;
	/* Pairwise comparison took tens of seconds here; sorting takes a fraction of one. */
	if (seconds > 3)
		fail_msg("parsing %zu named nodes took %.1f s", n, seconds);
	assert_int_equal(p->n_nodes, n);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_good),  cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_result_json), cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_load_file),   cmocka_unit_test(test_many_named_nodes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
