/* exact.c — branch and bound for small instances: the yardstick the heuristics are measured
 * against, and the proof of infeasibility when nothing fits.
 *
 * Depth-first over containers (largest first), children ordered by their lower bound. The
 * bound at a partial placement is
 *   imbalance_weight × Σ_r w_r × σ_r^lb + migration_weight × (migration so far + Σ_c min cost)
 * where the cost minimum runs over the nodes each unplaced container still fits on, and σ_r^lb
 * is the smallest standard deviation reachable if the remaining demand could be split freely
 * (a continuous relaxation): nodes that can still take a container may only go up, the others
 * stay, and the total utilisation added lies between what the remaining demand adds on the
 * largest and on the smallest eligible capacity. For a fixed total the minimum is water-filling
 * (raise the lowest eligible nodes to a common level L); the variance is then a convex quadratic
 * in L on each interval between sorted utilisations, minimised in closed form. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "placement-internal.h"

typedef struct Search {
	const Model *mo;
	const PlacementOptions *o;
	Load l;
	size_t *order;
	ssize_t *cur;  /* partial assignment */
	ssize_t *best; /* incumbent */
	double best_f;
	bool have_best;
	uint64_t nodes;
	uint64_t work, work_max; /* container × node evaluations in bounds; max 0 = none */
	bool out_of_budget;
	bool out_of_memory;
	/* scratch for the bound */
	double *elig;   /* n */
	bool *can;      /* n: some unplaced container fits */
	double **child; /* per depth, allocated on first use: n (bound, node) pairs */
} Search;

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* The smallest variance of v over v_j >= e_j (eligible, e sorted ascending), v = fixed values
 * elsewhere (given as their count, sum and sum of squares), with Σ v in [s_lo, s_hi]. */
static double min_variance(const double *e, size_t m, double fsum, double fsq, size_t nf,
                           double s_lo, double s_hi)
{
	double total = (double)(m + nf), best = HUGE_VAL;
	double sum_e = 0, sum_e2 = 0, above, above_sq;
	double l_lo, l_hi;

	if (m == 0)
		return MAX(0.0, fsq / total - (fsum / total) * (fsum / total));
	for (size_t i = 0; i < m; i++) {
		sum_e += e[i];
		sum_e2 += e[i] * e[i];
	}

	/* On segment k = 1..m, L in [e[k-1], e[k]] (e[m] = ∞): the k lowest sit at L and
	 * S(L) = fsum + Σ_{i>=k} e_i + k L. Invert S at s_lo and s_hi. */
	l_lo = l_hi = e[0];
	above = sum_e;
	for (size_t k = 1; k <= m; k++) {
		double lo = e[k - 1], hi = k < m ? e[k] : HUGE_VAL;
		above -= e[k - 1];
		double s_at_lo = fsum + above + (double)k * lo;
		double s_at_hi = k < m ? fsum + above + (double)k * hi : HUGE_VAL;
		if (s_lo > s_at_lo && s_lo <= s_at_hi)
			l_lo = lo + (s_lo - s_at_lo) / (double)k;
		if (s_hi > s_at_lo && s_hi <= s_at_hi)
			l_hi = lo + (s_hi - s_at_lo) / (double)k;
	}
	if (l_hi < l_lo)
		l_hi = l_lo;

	/* With A = fsum + Σ_{i>=k} e_i and B = fsq + Σ_{i>=k} e_i²,
	 * var(L) = (B + k L²)/N − ((A + k L)/N)²: convex, stationary at L = A / (N − k). */
	above = sum_e;
	above_sq = sum_e2;
	for (size_t k = 1; k <= m; k++) {
		double lo = e[k - 1], hi = k < m ? e[k] : HUGE_VAL;
		above -= e[k - 1];
		above_sq -= e[k - 1] * e[k - 1];
		double a = MAX(lo, l_lo), b = MIN(hi, l_hi);
		if (a > b)
			continue;
		double A = fsum + above, B = fsq + above_sq, L = a;
		if ((double)k < total)
			L = MIN(MAX(A / (total - (double)k), a), b);
		double s = A + (double)k * L, q = B + (double)k * L * L;
		best = MIN(best, q / total - (s / total) * (s / total));
	}
	return best == HUGE_VAL ? 0 : MAX(0.0, best);
}

/* Lower bound on the objective of any completion of the placement of order[0..depth). */
static double search_bound(Search *s, size_t depth)
{
	const Model *mo = s->mo;
	const Load *l = &s->l;
	double mig = l->migration, imb = 0;
	double add_lo[NR] = {}, add_hi[NR] = {};

	s->work += (mo->m - depth + 1) * mo->n;
	if ((s->work_max > 0 && s->work > s->work_max) ||
	    model_expired(mo, (mo->m - depth + 1) * mo->n)) {
		s->out_of_budget = true;
		return HUGE_VAL;
	}
	for (size_t j = 0; j < mo->n; j++)
		s->can[j] = false;

	for (size_t k = depth; k < mo->m; k++) {
		size_t c = s->order[k];
		const double *d = model_demand(mo, c);
		double cmin = HUGE_VAL, ic_min[NR], ic_max[NR];
		for (size_t r = 0; r < NR; r++) {
			ic_min[r] = HUGE_VAL;
			ic_max[r] = 0;
		}
		for (size_t j = 0; j < mo->n; j++) {
			if (!model_fits(mo, l, c, j))
				continue;
			s->can[j] = true;
			cmin = MIN(cmin, model_cost(mo, c, j));
			for (size_t r = 0; r < NR; r++) {
				ic_min[r] = MIN(ic_min[r], mo->inv_cap[j * NR + r]);
				ic_max[r] = MAX(ic_max[r], mo->inv_cap[j * NR + r]);
			}
		}
		if (cmin == HUGE_VAL)
			return HUGE_VAL; /* this container fits nowhere any more */
		mig += cmin;
		for (size_t r = 0; r < NR; r++) {
			add_lo[r] += d[r] * ic_min[r];
			add_hi[r] += d[r] * ic_max[r];
		}
	}

	for (size_t r = 0; r < NR; r++) {
		double fsum = 0, fsq = 0, s_now = 0;
		size_t ne = 0, nf = 0;
		if (mo->w[r] <= 0)
			continue;
		for (size_t j = 0; j < mo->n; j++) {
			double u = model_u(mo, j, r, l->load[j * NR + r]);
			s_now += u;
			if (s->can[j])
				s->elig[ne++] = u;
			else {
				fsum += u;
				fsq += u * u;
				nf++;
			}
		}
		qsort(s->elig, ne, sizeof(double), cmp_double);
		double var = min_variance(s->elig, ne, fsum, fsq, nf, s_now + add_lo[r],
		                          s_now + add_hi[r]);
		imb += mo->w[r] * sqrt(var);
	}
	return mo->alpha * imb + mo->beta * mig;
}

/* A subtree is cut only if its bound is not below the incumbent, up to rounding relative to
 * the incumbent itself: an absolute slack would swallow the whole objective when it is tiny. */
static bool prunable(const Search *s, double bound)
{
	return s->have_best && bound >= s->best_f * (1 - 1e-12);
}

typedef struct Saved {
	double load[NR], s1[NR], s2[NR], migration;
} Saved;

static void save(const Search *s, size_t j, Saved *sv)
{
	memcpy(sv->load, s->l.load + j * NR, sizeof sv->load);
	memcpy(sv->s1, s->l.s1, sizeof sv->s1);
	memcpy(sv->s2, s->l.s2, sizeof sv->s2);
	sv->migration = s->l.migration;
}

/* Restore exactly (no floating-point drift from subtracting what was added). */
static void restore(Search *s, size_t j, const Saved *sv)
{
	memcpy(s->l.load + j * NR, sv->load, sizeof sv->load);
	memcpy(s->l.s1, sv->s1, sizeof sv->s1);
	memcpy(s->l.s2, sv->s2, sizeof sv->s2);
	s->l.migration = sv->migration;
	s->l.receiving[j]--;
}

static int cmp_pair(const void *a, const void *b)
{
	return cmp_double(a, b);
}

static void search_dfs(Search *s, size_t depth)
{
	const Model *mo = s->mo;

	if (s->out_of_budget || s->out_of_memory)
		return;
	s->nodes++;
	if (s->nodes >= s->o->max_nodes || model_expired(mo, mo->n)) {
		s->out_of_budget = true;
		return;
	}

	if (depth == mo->m) {
		double f = model_objective_two_pass(mo, s->l.load, s->l.migration);
		if (!s->have_best || f < s->best_f) {
			s->best_f = f;
			s->have_best = true;
			memcpy(s->best, s->cur, mo->m * sizeof(ssize_t));
		}
		return;
	}

	size_t c = s->order[depth], n_children = 0;
	Saved sv;

	if (!s->child[depth]) {
		s->child[depth] = malloc(mo->n * 2 * sizeof(double));
		if (!s->child[depth]) {
			s->out_of_memory = true;
			return;
		}
	}
	double *child = s->child[depth];

	for (size_t j = 0; j < mo->n; j++) {
		if (!model_fits(mo, &s->l, c, j))
			continue;
		save(s, j, &sv);
		load_add(&s->l, mo, c, j);
		double b = search_bound(s, depth + 1);
		restore(s, j, &sv);
		if (s->out_of_budget)
			return;
		if (b == HUGE_VAL || prunable(s, b))
			continue;
		child[2 * n_children] = b;
		child[2 * n_children + 1] = (double)j;
		n_children++;
	}
	qsort(child, n_children, 2 * sizeof(double), cmp_pair);

	for (size_t k = 0; k < n_children; k++) {
		size_t j = (size_t)child[2 * k + 1];
		if (prunable(s, child[2 * k]))
			break;
		save(s, j, &sv);
		load_add(&s->l, mo, c, j);
		s->cur[c] = (ssize_t)j;
		search_dfs(s, depth + 1);
		restore(s, j, &sv);
		s->cur[c] = -1;
		if (s->out_of_budget || s->out_of_memory)
			return;
	}
}

/* Greedy placements polished by local search give the first incumbent. */
static int search_seed(Search *s)
{
	const Model *mo = s->mo;
	_cleanup_free_ ssize_t *a = malloc(mo->m * sizeof(ssize_t));
	int (*const greedy[])(const Model *, Load *, ssize_t *) = {
		greedy_least_loaded,
		greedy_best_fit,
	};

	if (!a)
		return -ENOMEM;
	for (size_t i = 0; i < ELEMENTSOF(greedy); i++) {
		load_reset(&s->l, mo);
		int r = greedy[i](mo, &s->l, a);
		if (r < 0)
			return r;
		if (r == 0)
			continue;
		local_search(mo, &s->l, a, NULL, 0);
		double f = model_objective_two_pass(mo, s->l.load, s->l.migration);
		if (!s->have_best || f < s->best_f) {
			s->best_f = f;
			s->have_best = true;
			memcpy(s->best, a, mo->m * sizeof(ssize_t));
		}
	}
	load_reset(&s->l, mo);
	return 0;
}

int solve_exact(const Model *mo, const PlacementOptions *o, uint64_t work_max, PlacementResult *res)
{
	Search s = {
		.mo = mo,
		.o = o,
		.work_max = work_max,
	};
	int r;

	/* The search keeps containers × nodes of scratch; this is a solver for small instances. */
	if (mo->m * mo->n > PLACEMENT_EXACT_CELLS_MAX)
		return -E2BIG;
	r = load_init(&s.l, mo);
	if (r < 0)
		return r;
	r = model_order_by_size(mo, &s.order);
	if (r < 0)
		goto finish;
	s.cur = malloc(mo->m * sizeof(ssize_t));
	s.best = malloc(mo->m * sizeof(ssize_t));
	s.elig = malloc(mo->n * sizeof(double));
	s.can = malloc(mo->n * sizeof(bool));
	s.child = calloc(mo->m, sizeof(double *));
	if (!s.cur || !s.best || !s.elig || !s.can || !s.child) {
		r = -ENOMEM;
		goto finish;
	}
	for (size_t c = 0; c < mo->m; c++)
		s.cur[c] = -1;

	r = search_seed(&s);
	if (r < 0)
		goto finish;
	if (mo->deadline && mo->deadline->expired)
		s.out_of_budget = true;
	else
		search_dfs(&s, 0);

	if (s.out_of_memory) {
		r = -ENOMEM;
		goto finish;
	}
	res->iterations = s.nodes;
	if (s.have_best) {
		memcpy(res->assignment, s.best, mo->m * sizeof(ssize_t));
		res->status =
		        s.out_of_budget ? PLACEMENT_STATUS_FEASIBLE : PLACEMENT_STATUS_OPTIMAL;
	} else
		res->status =
		        s.out_of_budget ? PLACEMENT_STATUS_NOT_FOUND : PLACEMENT_STATUS_INFEASIBLE;
	r = 0;
finish:
	load_done(&s.l);
	free(s.order);
	free(s.cur);
	free(s.best);
	free(s.elig);
	free(s.can);
	for (size_t d = 0; s.child && d < mo->m; d++)
		free(s.child[d]);
	free(s.child);
	return r;
}
