/* select.c — rule 3: which of a node's candidates to move. The least-cost set whose demand
 * covers the excess of every overloaded resource, within the free slots; if none covers it,
 * the set that relieves the node most. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "scheduler-internal.h"

/* Relief within rounding of the excess counts as full. */
#define RELIEF_EPSILON 1e-9

double sched_relief_fraction(const double sum[SCHED_RESOURCES],
                             const double excess[SCHED_RESOURCES], const bool need[SCHED_RESOURCES])
{
	double f = 1;

	for (PlacementResource r = 0; r < SCHED_RESOURCES; r++)
		if (need[r] && excess[r] > 0)
			f = MIN(f, sum[r] / excess[r]);
	return f >= 1 - RELIEF_EPSILON ? 1 : MAX(f, 0);
}

static SchedSelection selection(const double sum[SCHED_RESOURCES], double cost, size_t size,
                                const double excess[SCHED_RESOURCES],
                                const bool need[SCHED_RESOURCES])
{
	double f = sched_relief_fraction(sum, excess, need), total = 0;

	for (PlacementResource r = 0; r < SCHED_RESOURCES; r++)
		if (need[r] && excess[r] > 0)
			total += MIN(MAX(sum[r], 0) / excess[r], 1);
	return (SchedSelection){
		.full = f >= 1, .fraction = f, .total = total, .cost = cost, .size = size
	};
}

/* Is a better than b? Full relief first, then the least cost (fewer containers on a tie);
 * otherwise the most relief (the least relieved resource, then all of them), then the least
 * cost. */
static bool better(const SchedSelection *a, const SchedSelection *b)
{
	if (b->size == 0)
		return a->size > 0;
	if (a->full != b->full)
		return a->full;
	if (!a->full && fabs(a->fraction - b->fraction) > RELIEF_EPSILON)
		return a->fraction > b->fraction;
	if (!a->full && fabs(a->total - b->total) > RELIEF_EPSILON)
		return a->total > b->total;
	if (fabs(a->cost - b->cost) > 1e-12 * MAX(1, fabs(b->cost)))
		return a->cost < b->cost;
	return a->size < b->size;
}

typedef struct Search {
	const double (*demand)[SCHED_RESOURCES];
	const double *cost;
	size_t n, max_size;
	const double *excess;
	const bool *need;
	bool *current, *best_chosen;
	SchedSelection best;
} Search;

static void search(Search *s, size_t i, double sum[SCHED_RESOURCES], double cost, size_t size)
{
	if (size > 0) {
		SchedSelection here = selection(sum, cost, size, s->excess, s->need);

		if (better(&here, &s->best)) {
			s->best = here;
			memcpy(s->best_chosen, s->current, s->n * sizeof(bool));
		}
		/* Adding to a set that already suffices only costs more. */
		if (here.full)
			return;
	}
	if (size == s->max_size)
		return;
	/* Costs are non-negative: once a sufficient set is known, dearer branches lose. */
	if (s->best.full && cost >= s->best.cost)
		return;

	for (size_t j = i; j < s->n; j++) {
		double next[SCHED_RESOURCES];

		for (PlacementResource r = 0; r < SCHED_RESOURCES; r++)
			next[r] = sum[r] + s->demand[j][r];
		s->current[j] = true;
		search(s, j + 1, next, cost + s->cost[j], size + 1);
		s->current[j] = false;
	}
}

/* Σ_{k=1..max} C(n, k), stopping once above `limit`. */
static bool subsets_at_most(size_t n, size_t max, double limit)
{
	double total = 0, c = 1;

	for (size_t k = 1; k <= max && k <= n; k++) {
		c = c * (double)(n - k + 1) / (double)k;
		total += c;
		if (total > limit)
			return false;
	}
	return true;
}

static void greedy(Search *s)
{
	double sum[SCHED_RESOURCES] = {}, cost = 0;
	size_t size = 0;

	/* Add the container with the least cost per unit of relief still wanted, until the
	 * set suffices or the slots run out. */
	while (size < s->max_size) {
		double best_ratio = INFINITY, f;
		size_t pick = s->n;

		for (size_t j = 0; j < s->n; j++) {
			double gain = 0, ratio;
			unsigned counted = 0;

			if (s->current[j])
				continue;
			for (PlacementResource r = 0; r < SCHED_RESOURCES; r++) {
				double left;

				if (!s->need[r] || s->excess[r] <= 0)
					continue;
				counted++;
				left = MAX(s->excess[r] - sum[r], 0);
				gain += MIN(s->demand[j][r], left) / s->excess[r];
			}
			if (counted == 0)
				gain = 1; /* nothing wanted: any container will do */
			if (gain <= 0)
				continue;
			ratio = s->cost[j] / gain;
			if (ratio < best_ratio || pick == s->n) {
				best_ratio = ratio;
				pick = j;
			}
		}
		if (pick == s->n)
			break;
		s->current[pick] = true;
		for (PlacementResource r = 0; r < SCHED_RESOURCES; r++)
			sum[r] += s->demand[pick][r];
		cost += s->cost[pick];
		size++;
		f = sched_relief_fraction(sum, s->excess, s->need);
		if (f >= 1)
			break;
	}

	/* Prune: drop the dearest members the set does not need. */
	for (bool dropped = true; dropped;) {
		size_t drop = s->n;

		dropped = false;
		for (size_t j = 0; j < s->n; j++) {
			double without[SCHED_RESOURCES];
			SchedSelection with, less;

			if (!s->current[j] || size <= 1)
				continue;
			for (PlacementResource r = 0; r < SCHED_RESOURCES; r++)
				without[r] = sum[r] - s->demand[j][r];
			with = selection(sum, cost, size, s->excess, s->need);
			less = selection(without, cost - s->cost[j], size - 1, s->excess, s->need);
			/* it may go if the set relieves as much without it */
			if (less.full == with.full &&
			    less.fraction >= with.fraction - RELIEF_EPSILON &&
			    less.total >= with.total - RELIEF_EPSILON &&
			    (drop == s->n || s->cost[j] > s->cost[drop]))
				drop = j;
		}
		if (drop < s->n) {
			s->current[drop] = false;
			for (PlacementResource r = 0; r < SCHED_RESOURCES; r++)
				sum[r] -= s->demand[drop][r];
			cost -= s->cost[drop];
			size--;
			dropped = true;
		}
	}

	if (size > 0) {
		s->best = selection(sum, cost, size, s->excess, s->need);
		memcpy(s->best_chosen, s->current, s->n * sizeof(bool));
	}
}

int sched_select_set(const double (*demand)[SCHED_RESOURCES], const double *cost, size_t n,
                     const double excess[SCHED_RESOURCES], const bool need[SCHED_RESOURCES],
                     size_t max_size, bool *chosen, SchedSelection *ret)
{
	_cleanup_free_ bool *current = NULL;
	double zero[SCHED_RESOURCES] = {};
	Search s = {
		.demand = demand,
		.cost = cost,
		.n = n,
		.max_size = MIN(max_size, n),
		.excess = excess,
		.need = need,
		.best_chosen = chosen,
	};

	memset(chosen, 0, n * sizeof(bool));
	if (s.max_size == 0) {
		*ret = (SchedSelection){};
		return 0;
	}
	current = calloc(n, sizeof(bool));
	if (!current)
		return -ENOMEM;
	s.current = current;

	if (n <= SCHED_EXACT_CANDIDATES_MAX || subsets_at_most(n, s.max_size, SCHED_SUBSETS_MAX))
		search(&s, 0, zero, 0, 0);
	else
		greedy(&s);
	*ret = s.best;
	return 0;
}
