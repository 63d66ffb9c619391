/* aco.c — the scheduler's placement solver: an optimized ant colony (MAX-MIN ant system).
 *
 * - Solution components are (container, node) pairs; containers are assigned largest first.
 * - Candidate lists: each container only considers its `candidates` best nodes by the objective
 *   delta on the unloaded cluster (O(n) selection per container), so an iteration costs
 *   O(ants × containers × candidates) whatever the cluster size. If none of its candidates
 *   fits any more, the container falls back to the best feasible node of the whole cluster.
 * - Heuristic η: the objective delta of the move given the ant's partial placement, which
 *   combines headroom (a node with room lowers the utilisation spread) and transfer cost,
 *   rescaled among the feasible candidates: η = 1 / (ε + (Δ − Δmin) / (Δmax − Δmin)).
 * - Pheromone: τ in [τmin, τmax], τmax = 1/ρ (the fixed point of a deposit of 1), τmin from
 *   p_best (Stützle & Hoos); evaporation ρ; only one ant deposits: the iteration best, and
 *   every fifth iteration the best so far (elitism). Stagnation resets τ to τmax.
 * - Local search (relocate + swap descent) on each iteration's best ant before it deposits.
 * - Starts from the best greedy placement (least-loaded, best-fit) after local search, so it
 *   is never worse than those baselines.
 * Budget: iterations, iterations without improvement, wall-clock limit; all randomness from
 * the seed. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "placement-internal.h"

#define HEURISTIC_EPSILON 1.0
#define ELITIST_PERIOD    5

typedef struct Colony {
	const Model *mo;
	const PlacementOptions *o;
	size_t K;      /* candidate list stride */
	size_t *cand;  /* m × K node indices, SIZE_MAX-terminated when shorter */
	double *tau;   /* m × K */
	size_t *order; /* construction order */
	double tau_min, tau_max;
	Rng rng;
	Load l;
	double *score;  /* K scratch */
	double *weight; /* K scratch */
} Colony;

typedef struct Ant {
	ssize_t *a; /* node per container */
	ssize_t *k; /* candidate index per container, -1 if it came from the fallback */
	double f;
} Ant;

typedef struct Scored {
	double score;
	size_t node;
} Scored;

static int cmp_scored(const void *x, const void *y)
{
	const Scored *a = x, *b = y;
	if (a->score != b->score)
		return a->score < b->score ? -1 : 1;
	return (a->node > b->node) - (a->node < b->node);
}

/* Move the k smallest of v[0..n) to the front (quickselect), then sort those. */
static void select_smallest(Scored *v, size_t n, size_t k)
{
	size_t lo = 0, hi = n;
	if (k < n)
		while (hi - lo > 1) {
			Scored pivot = v[lo + (hi - lo) / 2];
			size_t i = lo, j = hi - 1;
			while (i <= j) {
				while (cmp_scored(&v[i], &pivot) < 0)
					i++;
				while (cmp_scored(&v[j], &pivot) > 0)
					j--;
				if (i <= j) {
					Scored t = v[i];
					v[i] = v[j];
					v[j] = t;
					i++;
					if (j == 0)
						break;
					j--;
				}
			}
			if (k <= j)
				hi = j + 1;
			else if (k >= i)
				lo = i;
			else
				break;
		}
	qsort(v, MIN(k, n), sizeof(Scored), cmp_scored);
}

static int colony_candidates(Colony *co)
{
	const Model *mo = co->mo;
	_cleanup_free_ Scored *v = malloc(mo->n * sizeof(Scored));
	if (!v)
		return -ENOMEM;

	for (size_t c = 0; c < mo->m; c++) {
		size_t nv = 0;
		for (size_t j = 0; j < mo->n; j++) {
			if (model_expired(mo, 1))
				return 0; /* the caller sees the deadline and stops */
			if (model_fits(mo, &co->l, c, j))
				v[nv++] = (Scored){
					.score = mo->alpha *
					                 model_imbalance_after(mo, &co->l, j,
					                                       model_demand(mo, c),
					                                       (size_t)-1, NULL) +
					         mo->beta * model_cost(mo, c, j),
					.node = j,
				};
		}
		select_smallest(v, nv, co->K);
		for (size_t k = 0; k < co->K; k++)
			co->cand[c * co->K + k] = k < nv ? v[k].node : SIZE_MAX;
	}
	return 0;
}

static double power(double x, double e)
{
	if (e == 1)
		return x;
	if (e == 2)
		return x * x;
	if (e == 0)
		return 1;
	return pow(x, e);
}

static ssize_t candidate_index(const Colony *co, size_t c, size_t j)
{
	for (size_t k = 0; k < co->K; k++) {
		size_t cj = co->cand[c * co->K + k];
		if (cj == SIZE_MAX)
			break;
		if (cj == j)
			return (ssize_t)k;
	}
	return -1;
}

/* One ant builds a complete placement into `ant` (and co->l). False if it got stuck. */
static bool colony_construct(Colony *co, Ant *ant)
{
	const Model *mo = co->mo;
	Load *l = &co->l;

	for (size_t i = 0; i < mo->m; i++) {
		size_t c = co->order[i], nk = 0, *cand = co->cand + c * co->K;
		double smin = HUGE_VAL, smax = -HUGE_VAL, total = 0;
		ssize_t pick = -1, pick_k = -1;

		for (size_t k = 0; k < co->K && cand[k] != SIZE_MAX; k++) {
			co->score[k] = HUGE_VAL;
			if (!model_fits(mo, l, c, cand[k]))
				continue;
			co->score[k] = mo->alpha * model_imbalance_after(mo, l, cand[k],
			                                                 model_demand(mo, c),
			                                                 (size_t)-1, NULL) +
			               mo->beta * model_cost(mo, c, cand[k]);
			smin = MIN(smin, co->score[k]);
			smax = MAX(smax, co->score[k]);
			nk = k + 1;
		}

		if (smin < HUGE_VAL) {
			double range = smax - smin;
			for (size_t k = 0; k < nk; k++) {
				co->weight[k] = 0;
				if (co->score[k] == HUGE_VAL)
					continue;
				double eta = range > 0 ? 1 / (HEURISTIC_EPSILON +
				                              (co->score[k] - smin) / range)
				                       : 1;
				co->weight[k] = power(co->tau[c * co->K + k], co->o->alpha) *
				                power(eta, co->o->beta);
				total += co->weight[k];
			}
			double x = rng_double(&co->rng) * total;
			for (size_t k = 0; k < nk; k++) {
				if (co->weight[k] <= 0)
					continue;
				pick_k = (ssize_t)k;
				x -= co->weight[k];
				if (x < 0)
					break;
			}
			pick = (ssize_t)cand[pick_k];
		} else {
			/* Every candidate is full: best feasible node anywhere. */
			double best = HUGE_VAL;
			for (size_t j = 0; j < mo->n; j++) {
				if (model_expired(mo, 1))
					return false;
				if (!model_fits(mo, l, c, j))
					continue;
				double s = mo->alpha * model_imbalance_after(mo, l, j,
				                                             model_demand(mo, c),
				                                             (size_t)-1, NULL) +
				           mo->beta * model_cost(mo, c, j);
				if (s < best) {
					best = s;
					pick = (ssize_t)j;
				}
			}
			if (pick < 0)
				return false;
		}
		load_add(l, mo, c, (size_t)pick);
		ant->a[c] = pick;
		ant->k[c] = pick_k;
	}
	ant->f = model_objective(mo, l);
	return true;
}

static void colony_reset_load(Colony *co, const Ant *ant)
{
	load_reset_nodes(&co->l, co->mo, ant->a, co->mo->m);
	for (size_t c = 0; c < co->mo->m; c++)
		ant->a[c] = -1;
}

/* Apply a complete placement to the load, run local search, update the ant. */
static void colony_improve(Colony *co, Ant *ant)
{
	const Model *mo = co->mo;

	load_reset(&co->l, mo);
	for (size_t c = 0; c < mo->m; c++)
		load_add(&co->l, mo, c, (size_t)ant->a[c]);
	if (co->o->local_search)
		local_search(mo, &co->l, ant->a, co->cand, co->K);
	for (size_t c = 0; c < mo->m; c++)
		ant->k[c] = candidate_index(co, c, (size_t)ant->a[c]);
	ant->f = model_objective(mo, &co->l);
	load_reset(&co->l, mo);
}

static void ant_copy(const Model *mo, Ant *dst, const Ant *src)
{
	memcpy(dst->a, src->a, mo->m * sizeof(ssize_t));
	memcpy(dst->k, src->k, mo->m * sizeof(ssize_t));
	dst->f = src->f;
}

static void colony_deposit(Colony *co, const Ant *ant)
{
	size_t cells = co->mo->m * co->K;
	double keep = 1 - co->o->evaporation;

	for (size_t i = 0; i < cells; i++)
		co->tau[i] = MAX(co->tau[i] * keep, co->tau_min);
	if (!ant)
		return;
	for (size_t c = 0; c < co->mo->m; c++)
		if (ant->k[c] >= 0) {
			double *t = &co->tau[c * co->K + (size_t)ant->k[c]];
			*t = MIN(*t + 1, co->tau_max);
		}
}

static void colony_reset_pheromone(Colony *co)
{
	for (size_t i = 0; i < co->mo->m * co->K; i++)
		co->tau[i] = co->tau_max;
}

static int greedy_start(Colony *co, Ant *best, Ant *tmp)
{
	const Model *mo = co->mo;
	int (*const greedy[])(const Model *, Load *, ssize_t *) = {
		greedy_least_loaded,
		greedy_best_fit,
	};

	for (size_t i = 0; i < ELEMENTSOF(greedy); i++) {
		load_reset(&co->l, mo);
		int r = greedy[i](mo, &co->l, tmp->a);
		if (r < 0)
			return r;
		if (r == 0)
			continue;
		colony_improve(co, tmp);
		if (tmp->f < best->f)
			ant_copy(mo, best, tmp);
	}
	load_reset(&co->l, mo);
	return 0;
}

static void ant_done(Ant *a)
{
	free(a->a);
	free(a->k);
}

static int ant_init(Ant *a, size_t m)
{
	*a = (Ant){ .f = HUGE_VAL };
	a->a = malloc(MAX(m, 1u) * sizeof(ssize_t));
	a->k = malloc(MAX(m, 1u) * sizeof(ssize_t));
	if (!a->a || !a->k)
		return -ENOMEM;
	for (size_t c = 0; c < m; c++)
		a->a[c] = a->k[c] = -1;
	return 0;
}

int solve_aco(const Model *mo, const PlacementOptions *o, PlacementResult *res)
{
	Colony co = { .mo = mo, .o = o };
	Ant best = {}, iter_best = {}, ant = {};
	unsigned stall = 0, it = 0;
	int r;

	co.K = MIN((size_t)o->candidates, mo->n_targets);
	rng_seed(&co.rng, o->seed);
	r = load_init(&co.l, mo);
	if (r < 0)
		return r;
	r = ant_init(&best, mo->m);
	if (r >= 0)
		r = ant_init(&iter_best, mo->m);
	if (r >= 0)
		r = ant_init(&ant, mo->m);
	if (r >= 0)
		r = model_order_by_size(mo, &co.order);
	if (r < 0)
		goto finish;
	co.cand = malloc(mo->m * co.K * sizeof(size_t));
	co.tau = malloc(mo->m * co.K * sizeof(double));
	co.score = malloc(co.K * sizeof(double));
	co.weight = malloc(co.K * sizeof(double));
	if (!co.cand || !co.tau || !co.score || !co.weight) {
		r = -ENOMEM;
		goto finish;
	}
	r = colony_candidates(&co);
	if (r < 0)
		goto finish;
	if (model_expired_now(mo))
		goto answer;

	/* τmin such that, at convergence, an ant rebuilds the best placement with probability
	 * p_best: each of m decisions picks the τmax component among ~K/2 others. */
	co.tau_max = 1 / o->evaporation;
	{
		double root = pow(o->p_best, 1.0 / (double)mo->m);
		double avg = MAX((double)co.K / 2, 2.0);
		co.tau_min = MIN(co.tau_max * (1 - root) / ((avg - 1) * root), co.tau_max / 2);
	}
	colony_reset_pheromone(&co);

	if (o->greedy_start) {
		r = greedy_start(&co, &best, &ant);
		if (r < 0)
			goto finish;
	}

	for (it = 0; it < o->iterations; it++) {
		bool improved = false;

		iter_best.f = HUGE_VAL;
		for (unsigned i = 0; i < o->ants; i++) {
			if (model_expired(mo, mo->m * co.K))
				break;
			bool ok = colony_construct(&co, &ant);
			if (ok && ant.f < iter_best.f)
				ant_copy(mo, &iter_best, &ant);
			colony_reset_load(&co, &ant);
		}
		if (iter_best.f < HUGE_VAL) {
			colony_improve(&co, &iter_best);
			if (best.f == HUGE_VAL ||
			    iter_best.f < best.f - 1e-12 * (1 + fabs(best.f))) {
				ant_copy(mo, &best, &iter_best);
				improved = true;
			}
		}

		const Ant *depositor = iter_best.f < HUGE_VAL ? &iter_best : NULL;
		if (best.f < HUGE_VAL && (it % ELITIST_PERIOD == ELITIST_PERIOD - 1 || !depositor))
			depositor = &best;
		colony_deposit(&co, depositor);

		stall = improved ? 0 : stall + 1;
		if (o->restart_after > 0 && stall > 0 && stall % o->restart_after == 0)
			colony_reset_pheromone(&co);
		if (stall >= o->stall_limit)
			break;
		if (model_expired_now(mo))
			break;
	}
	res->iterations = MIN(it + 1, o->iterations);

answer:
	if (best.f < HUGE_VAL) {
		memcpy(res->assignment, best.a, mo->m * sizeof(ssize_t));
		res->status = PLACEMENT_STATUS_FEASIBLE;
	} else
		res->status = PLACEMENT_STATUS_NOT_FOUND;
	r = 0;
finish:
	load_done(&co.l);
	ant_done(&best);
	ant_done(&iter_best);
	ant_done(&ant);
	free(co.order);
	free(co.cand);
	free(co.tau);
	free(co.score);
	free(co.weight);
	return r;
}
