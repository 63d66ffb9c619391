/* Unit tests for the placement solvers: no solver ever returns an infeasible placement, the
 * exact solver agrees with brute-force enumeration, the ant colony finds optima that greedy
 * placement misses, and runs are reproducible from their seed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "placement.h"

#define assert_close(a, b, eps)                                             \
	do {                                                                \
		double _a = (a), _b = (b);                                  \
		if (!(fabs(_a - _b) <= (eps)))                              \
			fail_msg("%s = %.17g, expected %.17g", #a, _a, _b); \
	} while (0)

static uint64_t rng_state;

static double uniform(double lo, double hi)
{
	rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
	return lo + (hi - lo) * (double)(rng_state >> 11) * 0x1.0p-53;
}

/* A random instance: heterogeneous capacities, random loads and thresholds, some of them
 * infeasible when `tight`. */
static PlacementInstance *random_instance(size_t n, size_t m, bool tight)
{
	PlacementInstance *p = NULL;

	assert_int_equal(placement_instance_new(n, m, &p), 0);
	for (size_t j = 0; j < n; j++) {
		PlacementNode *nd = &p->nodes[j];
		double scale = uniform(0.5, 2);
		nd->capacity[PLACEMENT_CPU] = 8 * scale;
		nd->capacity[PLACEMENT_MEMORY] = 32 * scale;
		nd->capacity[PLACEMENT_NETWORK] = 10 * uniform(0.5, 2);
		for (size_t r = 0; r < _PLACEMENT_RESOURCE_MAX; r++) {
			nd->used[r] = nd->capacity[r] * uniform(0.05, tight ? 0.8 : 0.6);
			nd->threshold[r] = uniform(0.7, 1.0);
		}
		nd->bandwidth = uniform(0.1, 2);
	}
	for (size_t c = 0; c < m; c++) {
		PlacementContainer *ct = &p->containers[c];
		ct->demand[PLACEMENT_CPU] = uniform(0.1, tight ? 3 : 2);
		ct->demand[PLACEMENT_MEMORY] = uniform(0.2, tight ? 10 : 6);
		ct->demand[PLACEMENT_NETWORK] = uniform(0, 1.5);
		ct->transfer_bytes = ct->demand[PLACEMENT_MEMORY] * uniform(0.5, 1);
	}
	p->source = uniform(0, 1) < 0.8 ? (ssize_t)(uniform(0, 1) * (double)n) : -1;
	p->weights.migration = uniform(0, 0.05);
	return p;
}

/* Enumerate every assignment (n^m) and return the best feasible objective, or HUGE_VAL. */
static double brute_force(const PlacementInstance *p)
{
	size_t m = p->n_containers, n = p->n_nodes;
	ssize_t a[8] = {};
	double best = HUGE_VAL;

	assert_true(m <= ELEMENTSOF(a));
	for (;;) {
		PlacementScore s;
		assert_int_equal(placement_evaluate(p, a, &s), 0);
		if (s.feasible && s.objective < best)
			best = s.objective;
		size_t c = 0;
		while (c < m && (size_t)++a[c] == n)
			a[c++] = 0;
		if (c == m)
			break;
	}
	return best;
}

static PlacementResult *solve(const PlacementInstance *p, PlacementSolver solver,
                              const PlacementOptions *o)
{
	PlacementResult *res = NULL;
	assert_int_equal(placement_solve(p, solver, o, &res), 0);
	assert_non_null(res);
	assert_int_equal(res->solver, solver);
	assert_true(res->elapsed_ms >= 0);
	if (placement_status_is_feasible(res->status)) {
		PlacementScore s;
		/* The central promise: whatever a solver returns as feasible is feasible. */
		assert_int_equal(placement_check(p, res->assignment), 1);
		assert_int_equal(placement_evaluate(p, res->assignment, &s), 0);
		assert_close(s.objective, res->score.objective, 1e-12);
	} else
		for (size_t c = 0; c < p->n_containers; c++)
			assert_int_equal(res->assignment[c], -1);
	return res;
}

static void test_never_infeasible(void **state)
{
	PlacementOptions o;
	unsigned feasible = 0, proven_infeasible = 0;

	placement_options_init(&o);
	o.iterations = 60;
	rng_state = 1;
	for (unsigned i = 0; i < 400; i++) {
		size_t n = 2 + (size_t)uniform(0, i < 300 ? 8 : 40);
		size_t m = 1 + (size_t)uniform(0, i < 300 ? 5 : 12);
		bool small = i < 300;
		_cleanup_placement_instance_ PlacementInstance *p = random_instance(n, m, i % 2);
		_cleanup_placement_result_ PlacementResult *exact = NULL;

		o.seed = i;
		if (small) {
			exact = solve(p, PLACEMENT_SOLVER_EXACT, &o);
			assert_true(exact->status == PLACEMENT_STATUS_OPTIMAL ||
			            exact->status == PLACEMENT_STATUS_INFEASIBLE);
			feasible += exact->status == PLACEMENT_STATUS_OPTIMAL;
			proven_infeasible += exact->status == PLACEMENT_STATUS_INFEASIBLE;
		}
		for (int solver = 0; solver < _PLACEMENT_SOLVER_MAX; solver++) {
			if (solver == PLACEMENT_SOLVER_EXACT)
				continue;
			_cleanup_placement_result_ PlacementResult *res = solve(p, solver, &o);
			if (!exact)
				continue;
			if (exact->status == PLACEMENT_STATUS_INFEASIBLE)
				assert_false(placement_status_is_feasible(res->status));
			else if (placement_status_is_feasible(res->status))
				/* Nothing beats the optimum. */
				assert_true(res->score.objective >= exact->score.objective - 1e-9);
			if (solver == PLACEMENT_SOLVER_ACO &&
			    exact->status == PLACEMENT_STATUS_OPTIMAL)
				assert_true(placement_status_is_feasible(res->status));
		}
	}
	/* The generator must exercise both outcomes. */
	assert_true(feasible > 100);
	assert_true(proven_infeasible > 10);
}

static void test_exact_equals_brute_force(void **state)
{
	unsigned agreed = 0;

	rng_state = 42;
	for (unsigned i = 0; i < 250; i++) {
		size_t n = 2 + (size_t)uniform(0, 4), m = 1 + (size_t)uniform(0, 4);
		_cleanup_placement_instance_ PlacementInstance *p =
		        random_instance(n, m, i % 3 == 0);
		_cleanup_placement_result_ PlacementResult *res =
		        solve(p, PLACEMENT_SOLVER_EXACT, NULL);
		double best = brute_force(p);

		if (best == HUGE_VAL)
			assert_int_equal(res->status, PLACEMENT_STATUS_INFEASIBLE);
		else {
			assert_int_equal(res->status, PLACEMENT_STATUS_OPTIMAL);
			assert_close(res->score.objective, best, 1e-9 * (1 + best));
			agreed++;
		}
	}
	assert_true(agreed > 100);
}

static void set_node(PlacementInstance *p, size_t j, double cpu_used, double threshold,
                     double bandwidth)
{
	PlacementNode *nd = &p->nodes[j];
	for (size_t r = 0; r < _PLACEMENT_RESOURCE_MAX; r++) {
		nd->capacity[r] = 1;
		nd->threshold[r] = 1;
		nd->used[r] = 0.3;
	}
	nd->used[PLACEMENT_CPU] = cpu_used;
	nd->threshold[PLACEMENT_CPU] = threshold;
	nd->bandwidth = bandwidth;
}

/* Assert that the colony (default options, and the bare ant system without local search or
 * greedy start) reaches the proven optimum while `greedy` does not. */
static void assert_aco_beats(const PlacementInstance *p, PlacementSolver greedy)
{
	_cleanup_placement_result_ PlacementResult *exact = solve(p, PLACEMENT_SOLVER_EXACT, NULL);
	_cleanup_placement_result_ PlacementResult *g = solve(p, greedy, NULL);
	_cleanup_placement_result_ PlacementResult *aco = solve(p, PLACEMENT_SOLVER_ACO, NULL);
	_cleanup_placement_result_ PlacementResult *bare = NULL;
	PlacementOptions o;

	placement_options_init(&o);
	o.local_search = false;
	o.greedy_start = false;
	bare = solve(p, PLACEMENT_SOLVER_ACO, &o);

	assert_int_equal(exact->status, PLACEMENT_STATUS_OPTIMAL);
	/* Greedy either finds nothing or something more than 1% off. */
	if (g->status == PLACEMENT_STATUS_FEASIBLE)
		assert_true(g->score.objective > exact->score.objective * 1.01 + 1e-6);
	else
		assert_int_equal(g->status, PLACEMENT_STATUS_NOT_FOUND);
	assert_close(aco->score.objective, exact->score.objective, 1e-9);
	assert_close(bare->score.objective, exact->score.objective, 1e-9);
}

static void test_aco_beats_greedy_by_hand(void **state)
{
	/* Least-loaded ignores the network: the emptiest node is behind a slow link. */
	{
		_cleanup_placement_instance_ PlacementInstance *p = NULL;
		assert_int_equal(placement_instance_new(3, 1, &p), 0);
		set_node(p, 0, 0.9, 0.8, 1);
		set_node(p, 1, 0.30, 0.8, 0.1e9);
		set_node(p, 2, 0.35, 0.8, 10e9);
		p->source = 0;
		p->containers[0].demand[PLACEMENT_CPU] = 0.1;
		p->containers[0].transfer_bytes = 4e9;
		assert_aco_beats(p, PLACEMENT_SOLVER_LEAST_LOADED);
	}
	/* Order matters: least-loaded places the small container (first in the queue) on the
	 * emptiest node, which leaves the big one only the fullest; best-fit packs the big one
	 * tight. Both end far apart; big on B and small on C is balanced. */
	{
		_cleanup_placement_instance_ PlacementInstance *p = NULL;
		assert_int_equal(placement_instance_new(3, 2, &p), 0);
		set_node(p, 0, 0.95, 0.9, 1);
		set_node(p, 1, 0.50, 0.9, 1e9);
		set_node(p, 2, 0.55, 0.9, 1e9);
		p->source = 0;
		p->containers[0].demand[PLACEMENT_CPU] = 0.1;
		p->containers[1].demand[PLACEMENT_CPU] = 0.35;
		p->weights.migration = 0;
		assert_aco_beats(p, PLACEMENT_SOLVER_LEAST_LOADED);
		assert_aco_beats(p, PLACEMENT_SOLVER_BEST_FIT);
	}
	/* Draining a node onto four (found by searching small instances): a perfectly balanced
	 * placement exists, least-loaded and best-fit miss it, and so does one round of local
	 * search from them. */
	{
		static const double used[] = { 0.9, 0.0, 0.05, 0.20, 0.10 };
		static const double demand[] = { 0.15, 0.15, 0.10, 0.20, 0.05 };
		_cleanup_placement_instance_ PlacementInstance *p = NULL;
		assert_int_equal(placement_instance_new(5, 5, &p), 0);
		for (size_t j = 0; j < 5; j++)
			set_node(p, j, used[j], 0.8, 1e9);
		for (size_t c = 0; c < 5; c++)
			p->containers[c].demand[PLACEMENT_CPU] = demand[c];
		p->source = 0;
		p->weights.migration = 0;
		assert_aco_beats(p, PLACEMENT_SOLVER_LEAST_LOADED);
		assert_aco_beats(p, PLACEMENT_SOLVER_BEST_FIT);
	}
	/* Tight: both greedy orders paint themselves into a corner and find nothing. */
	{
		static const double used[] = { 0.9, 0.60, 0.10, 0.65, 0.30 };
		static const double demand[] = { 0.30, 0.20, 0.25, 0.25, 0.30 };
		_cleanup_placement_instance_ PlacementInstance *p = NULL;
		assert_int_equal(placement_instance_new(5, 5, &p), 0);
		for (size_t j = 0; j < 5; j++)
			set_node(p, j, used[j], 0.8, 1e9);
		for (size_t c = 0; c < 5; c++)
			p->containers[c].demand[PLACEMENT_CPU] = demand[c];
		p->source = 0;
		p->weights.migration = 0;
		assert_aco_beats(p, PLACEMENT_SOLVER_LEAST_LOADED);
		assert_aco_beats(p, PLACEMENT_SOLVER_BEST_FIT);
	}
}

/* On random small instances where least-loaded misses the optimum by more than 1%, the colony
 * finds the optimum on nearly all of them. */
static void test_aco_optimal_where_greedy_is_not(void **state)
{
	unsigned cases = 0, optimal = 0;

	rng_state = 7;
	for (unsigned i = 0; i < 400 && cases < 60; i++) {
		_cleanup_placement_instance_ PlacementInstance *p = random_instance(8, 5, false);
		_cleanup_placement_result_ PlacementResult *exact =
		        solve(p, PLACEMENT_SOLVER_EXACT, NULL);
		_cleanup_placement_result_ PlacementResult *ll =
		        solve(p, PLACEMENT_SOLVER_LEAST_LOADED, NULL);
		if (exact->status != PLACEMENT_STATUS_OPTIMAL ||
		    !placement_status_is_feasible(ll->status) ||
		    ll->score.objective <= exact->score.objective * 1.01)
			continue;
		_cleanup_placement_result_ PlacementResult *aco =
		        solve(p, PLACEMENT_SOLVER_ACO, NULL);
		cases++;
		optimal += aco->score.objective <= exact->score.objective * (1 + 1e-9);
		assert_true(aco->score.objective <= ll->score.objective);
	}
	assert_true(cases >= 30);
	assert_true(optimal >= cases - cases / 20);
}

static void test_reproducible(void **state)
{
	_cleanup_placement_instance_ PlacementInstance *p = NULL;
	PlacementOptions o;

	rng_state = 99;
	p = random_instance(200, 15, false);
	placement_options_init(&o);
	o.seed = 12345;
	o.iterations = 40;
	for (int solver = 0; solver < _PLACEMENT_SOLVER_MAX; solver++) {
		if (solver == PLACEMENT_SOLVER_EXACT)
			continue;
		_cleanup_placement_result_ PlacementResult *a = solve(p, solver, &o);
		_cleanup_placement_result_ PlacementResult *b = solve(p, solver, &o);
		assert_int_equal(a->status, b->status);
		assert_int_equal(a->seed, 12345);
		assert_memory_equal(a->assignment, b->assignment,
		                    p->n_containers * sizeof(ssize_t));
	}
}

static void test_budgets(void **state)
{
	_cleanup_placement_instance_ PlacementInstance *p = NULL;
	PlacementOptions o;

	rng_state = 5;
	p = random_instance(30, 6, false);
	placement_options_init(&o);
	o.iterations = 1;
	{
		_cleanup_placement_result_ PlacementResult *r = solve(p, PLACEMENT_SOLVER_ACO, &o);
		assert_int_equal(r->iterations, 1);
	}
	/* An exhausted node budget still returns the incumbent, without claiming optimality. */
	o.max_nodes = 3;
	{
		_cleanup_placement_result_ PlacementResult *r =
		        solve(p, PLACEMENT_SOLVER_EXACT, &o);
		assert_int_equal(r->status, PLACEMENT_STATUS_FEASIBLE);
	}
	/* Too large for the exact solver is an error, not a hang. */
	{
		_cleanup_placement_instance_ PlacementInstance *big =
		        random_instance(200000, 30, false);
		PlacementResult *r = NULL;
		assert_int_equal(placement_solve(big, PLACEMENT_SOLVER_EXACT, NULL, &r), -E2BIG);
		assert_null(r);
	}
}

/* A large instance exercises candidate lists and the fallback past them. */
static void test_large(void **state)
{
	PlacementOptions o;

	placement_options_init(&o);
	o.iterations = 30;
	rng_state = 11;
	for (int tight = 0; tight < 2; tight++) {
		_cleanup_placement_instance_ PlacementInstance *p =
		        random_instance(1000, 40, tight);
		_cleanup_placement_result_ PlacementResult *aco =
		        solve(p, PLACEMENT_SOLVER_ACO, &o);
		_cleanup_placement_result_ PlacementResult *ll =
		        solve(p, PLACEMENT_SOLVER_LEAST_LOADED, &o);
		_cleanup_placement_result_ PlacementResult *bf =
		        solve(p, PLACEMENT_SOLVER_BEST_FIT, &o);
		assert_true(placement_status_is_feasible(aco->status));
		if (placement_status_is_feasible(ll->status))
			assert_true(aco->score.objective <= ll->score.objective);
		if (placement_status_is_feasible(bf->status))
			assert_true(aco->score.objective <= bf->score.objective);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_never_infeasible),
		cmocka_unit_test(test_exact_equals_brute_force),
		cmocka_unit_test(test_aco_beats_greedy_by_hand),
		cmocka_unit_test(test_aco_optimal_where_greedy_is_not),
		cmocka_unit_test(test_reproducible),
		cmocka_unit_test(test_budgets),
		cmocka_unit_test(test_large),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
