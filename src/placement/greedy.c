/* greedy.c — the baselines people actually deploy: least-loaded (Kubernetes LeastAllocated,
 * Incus), best-fit-decreasing bin packing, and a uniformly random feasible placement. They
 * ignore the objective on purpose; the ant colony and the benchmark are measured against them. */
#include <errno.h>
#include <stdlib.h>

#include "macro.h"
#include "placement-internal.h"

/* Each container in input order (one at a time, like a scheduler queue) goes to the node
 * whose resource-weighted mean utilisation after placing it is lowest. */
int greedy_least_loaded(const Model *mo, Load *l, ssize_t *a)
{
	for (size_t c = 0; c < mo->m; c++) {
		const double *d = model_demand(mo, c);
		ssize_t best = -1;
		double best_score = 0;

		for (size_t j = 0; j < mo->n; j++) {
			if (model_expired(mo, 1))
				return 0;
			if (!model_fits(mo, l, c, j))
				continue;
			double score = 0;
			for (size_t r = 0; r < NR; r++)
				score += mo->w[r] * (l->load[j * NR + r] + d[r]) *
				         mo->inv_cap[j * NR + r];
			if (best < 0 || score < best_score) {
				best = (ssize_t)j;
				best_score = score;
			}
		}
		if (best < 0)
			return 0;
		load_add(l, mo, c, (size_t)best);
		a[c] = best;
	}
	return 1;
}

/* Largest container first, each onto the node it leaves with the least headroom (the smallest
 * remaining fraction of capacity below threshold on its tightest resource). */
int greedy_best_fit(const Model *mo, Load *l, ssize_t *a)
{
	_cleanup_free_ size_t *order = NULL;
	int err = model_order_by_size(mo, &order);

	if (err < 0)
		return err;
	for (size_t k = 0; k < mo->m; k++) {
		size_t c = order[k];
		const double *d = model_demand(mo, c);
		ssize_t best = -1;
		double best_slack = 0;

		for (size_t j = 0; j < mo->n; j++) {
			if (model_expired(mo, 1))
				return 0;
			if (!model_fits(mo, l, c, j))
				continue;
			double slack = HUGE_VAL;
			for (size_t r = 0; r < NR; r++)
				slack = MIN(slack, (mo->limit[j * NR + r] - l->load[j * NR + r] -
				                    d[r]) * mo->inv_cap[j * NR + r]);
			if (best < 0 || slack < best_slack) {
				best = (ssize_t)j;
				best_slack = slack;
			}
		}
		if (best < 0)
			return 0;
		load_add(l, mo, c, (size_t)best);
		a[c] = best;
	}
	return 1;
}

#define RANDOM_ATTEMPTS 64

/* Containers in random order, each on a node drawn uniformly among those it fits on; start
 * over (up to RANDOM_ATTEMPTS times) when one fits nowhere. */
static int random_feasible(const Model *mo, Load *l, ssize_t *a, Rng *g, uint64_t *attempts)
{
	_cleanup_free_ size_t *order = malloc(mo->m * sizeof(size_t));
	if (!order)
		return -ENOMEM;

	for (unsigned attempt = 0; attempt < RANDOM_ATTEMPTS; attempt++) {
		bool ok = true;

		(*attempts)++;
		load_reset(l, mo);
		for (size_t c = 0; c < mo->m; c++)
			order[c] = c;
		for (size_t c = mo->m; c > 1; c--) {
			size_t k = rng_below(g, c), t = order[c - 1];
			order[c - 1] = order[k];
			order[k] = t;
		}
		for (size_t k = 0; k < mo->m && ok; k++) {
			size_t c = order[k], seen = 0;
			ssize_t pick = -1;
			for (size_t j = 0; j < mo->n; j++) {
				if (model_expired(mo, 1))
					return 0;
				if (model_fits(mo, l, c, j) && rng_below(g, ++seen) == 0)
					pick = (ssize_t)j; /* reservoir sampling */
			}
			if (pick < 0)
				ok = false;
			else {
				load_add(l, mo, c, (size_t)pick);
				a[c] = pick;
			}
		}
		if (ok)
			return 1;
	}
	return 0;
}

int solve_greedy(const Model *mo, PlacementSolver solver, const PlacementOptions *o,
                 PlacementResult *res)
{
	Load l;
	Rng g;
	int r;

	r = load_init(&l, mo);
	if (r < 0)
		return r;
	switch (solver) {
	case PLACEMENT_SOLVER_LEAST_LOADED:
		r = greedy_least_loaded(mo, &l, res->assignment);
		res->iterations = 1;
		break;
	case PLACEMENT_SOLVER_BEST_FIT:
		r = greedy_best_fit(mo, &l, res->assignment);
		res->iterations = 1;
		break;
	case PLACEMENT_SOLVER_RANDOM:
		rng_seed(&g, o->seed);
		r = random_feasible(mo, &l, res->assignment, &g, &res->iterations);
		break;
	default:
		load_done(&l);
		return -EINVAL;
	}
	load_done(&l);
	if (r < 0)
		return r;
	res->status = r > 0 ? PLACEMENT_STATUS_FEASIBLE : PLACEMENT_STATUS_NOT_FOUND;
	return 0;
}
