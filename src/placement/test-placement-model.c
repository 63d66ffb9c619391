/* Unit tests for the placement model: validation of bad input, the objective computed by hand,
 * the feasibility checker, names, and the trivial/infeasible edge cases. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <math.h>

#include "macro.h"
#include "placement.h"

#define assert_close(a, b, eps)                                             \
	do {                                                                \
		double _a = (a), _b = (b);                                  \
		if (!(fabs(_a - _b) <= (eps)))                              \
			fail_msg("%s = %.17g, expected %.17g", #a, _a, _b); \
	} while (0)

/* Three nodes, node 0 the source running one container; capacities 1 everywhere. */
static PlacementInstance *make_small(void)
{
	PlacementInstance *p = NULL;
	static const double used[] = { 0.8, 0.2, 0.4 };
	static const double bw[] = { 0, 1e9, 2e9 };

	assert_int_equal(placement_instance_new(3, 1, &p), 0);
	for (size_t j = 0; j < 3; j++)
		for (size_t r = 0; r < _PLACEMENT_RESOURCE_MAX; r++) {
			p->nodes[j].capacity[r] = 1;
			p->nodes[j].used[r] = used[j];
			p->nodes[j].threshold[r] = 0.9;
			p->nodes[j].bandwidth = bw[j];
		}
	for (size_t r = 0; r < _PLACEMENT_RESOURCE_MAX; r++)
		p->containers[0].demand[r] = 0.2;
	p->containers[0].transfer_bytes = 1e9;
	p->source = 0;
	return p;
}

static double stddev3(double a, double b, double c)
{
	double mean = (a + b + c) / 3;
	return sqrt(((a - mean) * (a - mean) + (b - mean) * (b - mean) + (c - mean) * (c - mean)) /
	            3);
}

static void test_objective_by_hand(void **state)
{
	_cleanup_placement_instance_ PlacementInstance *p = make_small();
	PlacementScore s;
	ssize_t a;

	a = 1;
	assert_int_equal(placement_evaluate(p, &a, &s), 0);
	assert_true(s.feasible);
	assert_int_equal(s.violations, 0);
	assert_close(s.imbalance_per_resource[PLACEMENT_CPU], stddev3(0.6, 0.4, 0.4), 1e-12);
	assert_close(s.imbalance, stddev3(0.6, 0.4, 0.4), 1e-12);
	assert_close(s.migration_seconds, 1.0, 1e-12);
	assert_close(s.objective, stddev3(0.6, 0.4, 0.4) + 0.01 * 1.0, 1e-12);

	a = 2;
	assert_int_equal(placement_evaluate(p, &a, &s), 0);
	assert_true(s.feasible);
	assert_close(s.migration_seconds, 0.5, 1e-12);
	assert_close(s.objective, stddev3(0.6, 0.2, 0.6) + 0.01 * 0.5, 1e-12);

	/* Resource weights: only memory counts, and its spread differs from the others. */
	p->nodes[1].used[PLACEMENT_MEMORY] = 0.5;
	p->weights.resource[PLACEMENT_CPU] = 0;
	p->weights.resource[PLACEMENT_NETWORK] = 0;
	p->weights.migration = 0;
	a = 1;
	assert_int_equal(placement_evaluate(p, &a, &s), 0);
	assert_close(s.objective, stddev3(0.6, 0.7, 0.4), 1e-12);
	assert_close(s.imbalance_per_resource[PLACEMENT_CPU], stddev3(0.6, 0.4, 0.4), 1e-12);
}

static void test_feasibility_checker(void **state)
{
	_cleanup_placement_instance_ PlacementInstance *p = make_small();
	PlacementScore s;
	ssize_t a;

	a = 0; /* the source is not a target */
	assert_int_equal(placement_check(p, &a), 0);
	assert_int_equal(placement_evaluate(p, &a, &s), 0);
	assert_false(s.feasible);
	assert_int_equal(s.violations, 1);

	a = 3; /* not a node */
	assert_int_equal(placement_check(p, &a), -EINVAL);
	a = -1;
	assert_int_equal(placement_check(p, &a), -EINVAL);
	assert_int_equal(placement_check(p, NULL), -EINVAL);

	/* Exactly at the threshold is allowed; just above is not. */
	p->nodes[1].used[PLACEMENT_CPU] = 0.7;
	a = 1;
	assert_int_equal(placement_check(p, &a), 1);
	p->nodes[1].used[PLACEMENT_CPU] = 0.7001;
	assert_int_equal(placement_check(p, &a), 0);

	/* A node already above its threshold may stay so if it receives nothing. */
	p->nodes[1].used[PLACEMENT_CPU] = 0.95;
	a = 2;
	assert_int_equal(placement_check(p, &a), 1);
}

static void expect_einval(PlacementInstance *p)
{
	PlacementResult *res = (PlacementResult *)0x1;
	PlacementScore s = { .objective = 42 };
	ssize_t a = 1;

	assert_int_equal(placement_instance_validate(p), -EINVAL);
	for (int solver = 0; solver < _PLACEMENT_SOLVER_MAX; solver++)
		assert_int_equal(placement_solve(p, solver, NULL, &res), -EINVAL);
	assert_ptr_equal(res, (PlacementResult *)0x1); /* untouched */
	assert_int_equal(placement_evaluate(p, &a, &s), -EINVAL);
	assert_close(s.objective, 42, 0);
}

static void test_bad_input(void **state)
{
	static const double bad_capacity[] = { 0, -1, NAN, INFINITY };
	static const double bad_used[] = { -0.1, NAN, INFINITY };
	static const double bad_threshold[] = { 0, -0.5, 1.01, NAN };
	static const double bad_nonneg[] = { -1, NAN, -INFINITY, INFINITY };

	for (size_t i = 0; i < ELEMENTSOF(bad_capacity); i++)
		for (size_t r = 0; r < _PLACEMENT_RESOURCE_MAX; r++) {
			_cleanup_placement_instance_ PlacementInstance *p = make_small();
			p->nodes[2].capacity[r] = bad_capacity[i];
			expect_einval(p);
		}
	for (size_t i = 0; i < ELEMENTSOF(bad_used); i++) {
		_cleanup_placement_instance_ PlacementInstance *p = make_small();
		p->nodes[1].used[PLACEMENT_MEMORY] = bad_used[i];
		expect_einval(p);
	}
	for (size_t i = 0; i < ELEMENTSOF(bad_threshold); i++) {
		_cleanup_placement_instance_ PlacementInstance *p = make_small();
		p->nodes[1].threshold[PLACEMENT_NETWORK] = bad_threshold[i];
		expect_einval(p);
	}
	for (size_t i = 0; i < ELEMENTSOF(bad_nonneg); i++) {
		_cleanup_placement_instance_ PlacementInstance *p1 = make_small(),
		                                               *p2 = make_small(),
		                                               *p3 = make_small(),
		                                               *p4 = make_small(),
		                                               *p5 = make_small();
		p1->containers[0].demand[PLACEMENT_CPU] = bad_nonneg[i];
		expect_einval(p1);
		p2->containers[0].transfer_bytes = bad_nonneg[i];
		expect_einval(p2);
		p3->weights.imbalance = bad_nonneg[i];
		expect_einval(p3);
		p4->weights.resource[PLACEMENT_MEMORY] = bad_nonneg[i];
		expect_einval(p4);
		p5->nodes[2].bandwidth = bad_nonneg[i] < 0 ? bad_nonneg[i] : NAN;
		expect_einval(p5);
	}

	{
		_cleanup_placement_instance_ PlacementInstance *p = make_small();
		p->nodes[1].bandwidth = 0; /* a target needs a bandwidth */
		expect_einval(p);
	}
	{
		_cleanup_placement_instance_ PlacementInstance *p = make_small();
		p->source = 3;
		expect_einval(p);
		p->source = -2;
		expect_einval(p);
	}
	{
		_cleanup_placement_instance_ PlacementInstance *p = make_small();
		for (size_t r = 0; r < _PLACEMENT_RESOURCE_MAX; r++)
			p->weights.resource[r] = 0;
		expect_einval(p);
	}
	{
		_cleanup_placement_instance_ PlacementInstance *p = make_small();
		p->n_nodes = 0;
		expect_einval(p);
		p->n_nodes = 3;
	}
	assert_int_equal(placement_instance_validate(NULL), -EINVAL);

	/* The source needs no bandwidth. */
	{
		_cleanup_placement_instance_ PlacementInstance *p = make_small();
		assert_int_equal(p->nodes[0].bandwidth, 0);
		assert_int_equal(placement_instance_validate(p), 0);
	}

	PlacementInstance *p = NULL;
	assert_int_equal(placement_instance_new(PLACEMENT_NODES_MAX + 1, 1, &p), -E2BIG);
	assert_null(p);
}

static void test_bad_options(void **state)
{
	_cleanup_placement_instance_ PlacementInstance *p = make_small();
	PlacementResult *res = NULL;
	PlacementOptions o;

	placement_options_init(&o);
	o.ants = 0;
	assert_int_equal(placement_solve(p, PLACEMENT_SOLVER_ACO, &o, &res), -EINVAL);
	placement_options_init(&o);
	o.evaporation = 1;
	assert_int_equal(placement_solve(p, PLACEMENT_SOLVER_ACO, &o, &res), -EINVAL);
	placement_options_init(&o);
	o.time_limit_ms = NAN;
	assert_int_equal(placement_solve(p, PLACEMENT_SOLVER_ACO, &o, &res), -EINVAL);
	assert_int_equal(placement_solve(p, _PLACEMENT_SOLVER_MAX, NULL, &res), -EINVAL);
	assert_int_equal(placement_solve(p, PLACEMENT_SOLVER_ACO, NULL, NULL), -EINVAL);
	assert_null(res);
}

static void test_names(void **state)
{
	for (int s = 0; s < _PLACEMENT_SOLVER_MAX; s++)
		assert_int_equal(placement_solver_from_string(placement_solver_to_string(s)), s);
	assert_int_equal(placement_solver_from_string("aco"), PLACEMENT_SOLVER_ACO);
	assert_int_equal(placement_solver_from_string("least-loaded"),
	                 PLACEMENT_SOLVER_LEAST_LOADED);
	assert_int_equal(placement_solver_from_string("ACO"), -EINVAL);
	assert_int_equal(placement_solver_from_string(""), -EINVAL);
	assert_int_equal(placement_solver_from_string(NULL), -EINVAL);
	assert_null(placement_solver_to_string(_PLACEMENT_SOLVER_MAX));
	assert_string_equal(placement_status_to_string(PLACEMENT_STATUS_INFEASIBLE), "infeasible");
	assert_string_equal(placement_resource_to_string(PLACEMENT_NETWORK), "network");
}

static void test_no_containers(void **state)
{
	_cleanup_placement_instance_ PlacementInstance *p = NULL;

	assert_int_equal(placement_instance_new(2, 0, &p), 0);
	for (size_t j = 0; j < 2; j++)
		for (size_t r = 0; r < _PLACEMENT_RESOURCE_MAX; r++) {
			p->nodes[j].capacity[r] = 4;
			p->nodes[j].used[r] = j == 0 ? 1 : 3;
			p->nodes[j].threshold[r] = 1;
			p->nodes[j].bandwidth = 1;
		}
	for (int solver = 0; solver < _PLACEMENT_SOLVER_MAX; solver++) {
		_cleanup_placement_result_ PlacementResult *res = NULL;
		assert_int_equal(placement_solve(p, solver, NULL, &res), 0);
		assert_int_equal(res->status, PLACEMENT_STATUS_OPTIMAL);
		assert_close(res->score.imbalance, 0.25, 1e-12);
	}
}

/* Nowhere to go, or more than fits: a result, never an error. */
static void test_infeasible_is_a_result(void **state)
{
	/* Only the source exists. */
	{
		_cleanup_placement_instance_ PlacementInstance *p = make_small();
		p->n_nodes = 1;
		for (int solver = 0; solver < _PLACEMENT_SOLVER_MAX; solver++) {
			_cleanup_placement_result_ PlacementResult *res = NULL;
			assert_int_equal(placement_solve(p, solver, NULL, &res), 0);
			assert_int_equal(res->status, PLACEMENT_STATUS_INFEASIBLE);
			assert_int_equal(res->assignment[0], -1);
		}
		p->n_nodes = 3;
	}
	/* A container bigger than any node. */
	{
		_cleanup_placement_instance_ PlacementInstance *p = make_small();
		p->containers[0].demand[PLACEMENT_MEMORY] = 5;
		for (int solver = 0; solver < _PLACEMENT_SOLVER_MAX; solver++) {
			_cleanup_placement_result_ PlacementResult *res = NULL;
			assert_int_equal(placement_solve(p, solver, NULL, &res), 0);
			assert_int_equal(res->status, PLACEMENT_STATUS_INFEASIBLE);
			assert_false(placement_status_is_feasible(res->status));
		}
	}
	/* More containers than fit: 2 targets with room 1.0 each, three containers of 0.6. Each
	 * fits alone and the total (1.8) is below the total room (2.0): only search can tell. */
	{
		_cleanup_placement_instance_ PlacementInstance *p = NULL;
		assert_int_equal(placement_instance_new(3, 3, &p), 0);
		for (size_t j = 0; j < 3; j++)
			for (size_t r = 0; r < _PLACEMENT_RESOURCE_MAX; r++) {
				p->nodes[j].capacity[r] = 1;
				p->nodes[j].threshold[r] = 1;
				p->nodes[j].bandwidth = 1e9;
				p->nodes[j].used[r] = j == 0 ? 1 : 0;
			}
		p->source = 0;
		for (size_t c = 0; c < 3; c++)
			p->containers[c].demand[PLACEMENT_CPU] = 0.6;
		for (int solver = 0; solver < _PLACEMENT_SOLVER_MAX; solver++) {
			_cleanup_placement_result_ PlacementResult *res = NULL;
			assert_int_equal(placement_solve(p, solver, NULL, &res), 0);
			assert_false(placement_status_is_feasible(res->status));
			for (size_t c = 0; c < 3; c++)
				assert_int_equal(res->assignment[c], -1);
			if (solver == PLACEMENT_SOLVER_EXACT)
				assert_int_equal(res->status, PLACEMENT_STATUS_INFEASIBLE);
		}
	}
}

static void test_source_clamped(void **state)
{
	_cleanup_placement_instance_ PlacementInstance *p = make_small();
	PlacementScore s;
	ssize_t a = 1;

	/* The container claims more than its node uses (metrics sampled apart): load 0, not < 0. */
	p->containers[0].demand[PLACEMENT_CPU] = 0.9;
	assert_int_equal(placement_evaluate(p, &a, &s), 0);
	assert_false(s.feasible); /* 0.2 + 0.9 > 0.9 on node 1 */
	p->nodes[1].threshold[PLACEMENT_CPU] = 1;
	p->nodes[1].capacity[PLACEMENT_CPU] = 2;
	assert_int_equal(placement_evaluate(p, &a, &s), 0);
	assert_true(s.feasible);
	assert_close(s.imbalance_per_resource[PLACEMENT_CPU], stddev3(0, 1.1 / 2, 0.4), 1e-12);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_objective_by_hand),
		cmocka_unit_test(test_feasibility_checker),
		cmocka_unit_test(test_bad_input),
		cmocka_unit_test(test_bad_options),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_no_containers),
		cmocka_unit_test(test_infeasible_is_a_result),
		cmocka_unit_test(test_source_clamped),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
