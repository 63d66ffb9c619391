/* model.c — the solvers' shared machinery: the precomputed Model, the incremental Load with
 * O(1) objective deltas, container ordering, cheap infeasibility proofs, local search, PRNG. */
#include <errno.h>
#include <float.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "placement-internal.h"

int model_init(Model *mo, const PlacementInstance *p, Deadline *deadline)
{
	size_t n = p->n_nodes, m = p->n_containers;
	double wsum = 0;

	*mo = (Model){
		.instance = p,
		.n = n,
		.m = m,
		.source = p->source,
		.alpha = p->weights.imbalance,
		.beta = p->weights.migration,
		.n_targets = p->source >= 0 ? n - 1 : n,
		.deadline = deadline,
	};
	/* One block for the per-node arrays, every entry written below: setting up is O(nodes)
	 * and fresh memory costs its page faults whether or not the deadline cuts it short, so
	 * it touches as little as it can. */
	mo->inv_cap = malloc(n * (3 * NR + 1) * sizeof(double));
	if (mo->inv_cap) {
		mo->limit = mo->inv_cap + n * NR;
		mo->base_load = mo->limit + n * NR;
		mo->inv_bw = mo->base_load + n * NR;
	}
	mo->demand = malloc(MAX(m, 1u) * NR * sizeof(double));
	mo->bytes = malloc(MAX(m, 1u) * sizeof(double));
	if (!mo->inv_cap || !mo->demand || !mo->bytes) {
		model_done(mo);
		return -ENOMEM;
	}

	for (size_t r = 0; r < NR; r++)
		wsum += p->weights.resource[r];
	for (size_t r = 0; r < NR; r++)
		mo->w[r] = p->weights.resource[r] / wsum;

	for (size_t c = 0; c < m; c++) {
		for (size_t r = 0; r < NR; r++)
			mo->demand[c * NR + r] = p->containers[c].demand[r];
		mo->bytes[c] = p->containers[c].transfer_bytes;
	}

	for (size_t j = 0; j < n; j++) {
		const PlacementNode *nd = &p->nodes[j];
		for (size_t r = 0; r < NR; r++) {
			mo->inv_cap[j * NR + r] = 1.0 / nd->capacity[r];
			mo->limit[j * NR + r] = nd->threshold[r] * nd->capacity[r] +
			                        PLACEMENT_FEASIBILITY_TOLERANCE * nd->capacity[r];
			mo->base_load[j * NR + r] = nd->used[r];
		}
		mo->inv_bw[j] = (ssize_t)j == p->source ? 0 : 1.0 / nd->bandwidth;
		if (model_expired(mo, NR))
			goto expired;
	}

	/* Everything being placed leaves the source. Metrics are sampled at different moments,
	 * so the containers' sum may exceed the node's use a little: clamp at zero. */
	if (p->source >= 0)
		for (size_t r = 0; r < NR; r++) {
			double *ld = &mo->base_load[p->source * NR + r];
			for (size_t c = 0; c < m; c++)
				*ld -= mo->demand[c * NR + r];
			if (*ld < 0)
				*ld = 0;
		}

	for (size_t r = 0; r < NR; r++) {
		double sum = 0;
		for (size_t j = 0; j < n; j++) {
			sum += mo->base_load[j * NR + r] * mo->inv_cap[j * NR + r];
			if (model_expired(mo, 1))
				goto expired;
		}
		mo->center[r] = sum / (double)n;
		mo->base_s1[r] = mo->base_s2[r] = 0;
		for (size_t j = 0; j < n; j++) {
			double u = model_u(mo, j, r, mo->base_load[j * NR + r]);
			mo->base_s1[r] += u;
			mo->base_s2[r] += u * u;
			if (model_expired(mo, 1))
				goto expired;
		}
	}
	return 0;

expired:
	model_done(mo);
	return -ETIME;
}

void model_done(Model *mo)
{
	free(mo->inv_cap); /* with limit, base_load and inv_bw */
	free(mo->demand);
	free(mo->bytes);
	*mo = (Model){};
}

int load_init(Load *l, const Model *mo)
{
	*l = (Load){};
	l->load = malloc(mo->n * NR * sizeof(double));
	l->receiving = calloc(mo->n, sizeof(unsigned));
	l->dirty = calloc(mo->n, sizeof(bool));
	l->touched = malloc(mo->n * sizeof(size_t));
	if (!l->load || !l->receiving || !l->dirty || !l->touched) {
		load_done(l);
		return -ENOMEM;
	}
	memcpy(l->load, mo->base_load, mo->n * NR * sizeof(double));
	load_reset(l, mo);
	return 0;
}

void load_done(Load *l)
{
	free(l->load);
	free(l->receiving);
	free(l->dirty);
	free(l->touched);
	*l = (Load){};
}

void load_reset(Load *l, const Model *mo)
{
	if (l->n_touched > mo->n / 8) {
		memcpy(l->load, mo->base_load, mo->n * NR * sizeof(double));
		memset(l->receiving, 0, mo->n * sizeof(unsigned));
		memset(l->dirty, 0, mo->n * sizeof(bool));
	} else
		for (size_t i = 0; i < l->n_touched; i++) {
			size_t j = l->touched[i];
			memcpy(l->load + j * NR, mo->base_load + j * NR, NR * sizeof(double));
			l->receiving[j] = 0;
			l->dirty[j] = false;
		}
	l->n_touched = 0;
	memcpy(l->s1, mo->base_s1, sizeof l->s1);
	memcpy(l->s2, mo->base_s2, sizeof l->s2);
	l->migration = 0;
}

void load_reset_nodes(Load *l, const Model *mo, const ssize_t *nodes, size_t n_nodes)
{
	for (size_t i = 0; i < n_nodes; i++) {
		if (nodes[i] < 0)
			continue;
		size_t j = (size_t)nodes[i];
		memcpy(l->load + j * NR, mo->base_load + j * NR, NR * sizeof(double));
		l->receiving[j] = 0;
	}
	memcpy(l->s1, mo->base_s1, sizeof l->s1);
	memcpy(l->s2, mo->base_s2, sizeof l->s2);
	l->migration = 0;
}

static void load_shift(Load *l, const Model *mo, size_t j, const double *d, double sign)
{
	double *ld = l->load + j * NR;
	if (!l->dirty[j]) {
		l->dirty[j] = true;
		l->touched[l->n_touched++] = j;
	}
	for (size_t r = 0; r < NR; r++) {
		double u0 = model_u(mo, j, r, ld[r]);
		ld[r] += sign * d[r];
		double u1 = model_u(mo, j, r, ld[r]);
		l->s1[r] += u1 - u0;
		l->s2[r] += u1 * u1 - u0 * u0;
	}
}

void load_add(Load *l, const Model *mo, size_t c, size_t j)
{
	load_shift(l, mo, j, model_demand(mo, c), +1);
	l->migration += model_cost(mo, c, j);
	l->receiving[j]++;
}

void load_remove(Load *l, const Model *mo, size_t c, size_t j)
{
	load_shift(l, mo, j, model_demand(mo, c), -1);
	l->migration -= model_cost(mo, c, j);
	l->receiving[j]--;
}

double model_imbalance_after(const Model *mo, const Load *l, size_t a, const double *da, size_t b,
                             const double *db)
{
	double s1[NR], s2[NR];
	memcpy(s1, l->s1, sizeof s1);
	memcpy(s2, l->s2, sizeof s2);
	for (size_t r = 0; r < NR; r++) {
		double u0 = model_u(mo, a, r, l->load[a * NR + r]);
		double u1 = model_u(mo, a, r, l->load[a * NR + r] + da[r]);
		s1[r] += u1 - u0;
		s2[r] += u1 * u1 - u0 * u0;
		if (b != (size_t)-1) {
			u0 = model_u(mo, b, r, l->load[b * NR + r]);
			u1 = model_u(mo, b, r, l->load[b * NR + r] + db[r]);
			s1[r] += u1 - u0;
			s2[r] += u1 * u1 - u0 * u0;
		}
	}
	return model_imbalance(mo, s1, s2);
}

double model_objective_two_pass(const Model *mo, const double *load, double migration)
{
	double imbalance = 0;

	for (size_t r = 0; r < NR; r++) {
		double mean = 0, var = 0;
		if (mo->w[r] <= 0)
			continue;
		for (size_t j = 0; j < mo->n; j++)
			mean += model_u(mo, j, r, load[j * NR + r]);
		mean /= (double)mo->n;
		for (size_t j = 0; j < mo->n; j++) {
			double dev = model_u(mo, j, r, load[j * NR + r]) - mean;
			var += dev * dev;
		}
		imbalance += mo->w[r] * sqrt(var / (double)mo->n);
	}
	return mo->alpha * imbalance + mo->beta * migration;
}

double model_delta_add(const Model *mo, const Load *l, size_t c, size_t j)
{
	double before = model_imbalance(mo, l->s1, l->s2);
	double after = model_imbalance_after(mo, l, j, model_demand(mo, c), (size_t)-1, NULL);
	return mo->alpha * (after - before) + mo->beta * model_cost(mo, c, j);
}

static int cmp_key_desc(const void *a, const void *b, void *userdata)
{
	const double *key = userdata;
	size_t x = *(const size_t *)a, y = *(const size_t *)b;
	if (key[x] != key[y])
		return key[x] > key[y] ? -1 : 1;
	return x < y ? -1 : x > y;
}

int model_order_by_size(const Model *mo, size_t **ret)
{
	_cleanup_free_ size_t *order = malloc(MAX(mo->m, 1u) * sizeof(size_t));
	_cleanup_free_ double *key = calloc(MAX(mo->m, 1u), sizeof(double));
	double mean_cap[NR] = {};

	if (!order || !key)
		return -ENOMEM;
	for (size_t j = 0; j < mo->n; j++)
		for (size_t r = 0; r < NR; r++)
			mean_cap[r] += 1.0 / mo->inv_cap[j * NR + r] / (double)mo->n;
	for (size_t c = 0; c < mo->m; c++) {
		order[c] = c;
		for (size_t r = 0; r < NR; r++)
			key[c] += mo->w[r] * mo->demand[c * NR + r] / mean_cap[r];
	}
	qsort_r(order, mo->m, sizeof(size_t), cmp_key_desc, key);
	*ret = TAKE_PTR(order);
	return 0;
}

bool model_trivially_infeasible(const Model *mo)
{
	if (mo->m == 0)
		return false;
	if (mo->n_targets == 0)
		return true;

	for (size_t c = 0; c < mo->m; c++) {
		bool fits = false;
		for (size_t j = 0; j < mo->n && !fits; j++) {
			if (model_expired(mo, 1))
				return false;
			if ((ssize_t)j == mo->source)
				continue;
			fits = true;
			for (size_t r = 0; r < NR; r++)
				if (mo->base_load[j * NR + r] + mo->demand[c * NR + r] >
				    mo->limit[j * NR + r])
					fits = false;
		}
		if (!fits)
			return true;
	}

	for (size_t r = 0; r < NR; r++) {
		double need = 0, room = 0;
		for (size_t c = 0; c < mo->m; c++)
			need += mo->demand[c * NR + r];
		for (size_t j = 0; j < mo->n; j++) {
			if (model_expired(mo, 1))
				return false;
			if ((ssize_t)j != mo->source)
				room += MAX(0.0, mo->limit[j * NR + r] - mo->base_load[j * NR + r]);
		}
		if (need > room)
			return true;
	}
	return false;
}

static bool improves(double candidate, double current)
{
	return candidate < current - 1e-12 * (1 + fabs(current));
}

static bool try_relocate(const Model *mo, Load *l, ssize_t *a, size_t c, size_t j, double *cur)
{
	size_t from = (size_t)a[c];
	const double *d = model_demand(mo, c);
	double neg[NR];

	if (j == from || (ssize_t)j == mo->source || !model_fits_delta(mo, l, j, d))
		return false;
	for (size_t r = 0; r < NR; r++)
		neg[r] = -d[r];
	double f = mo->alpha * model_imbalance_after(mo, l, from, neg, j, d) +
	           mo->beta * (l->migration - model_cost(mo, c, from) + model_cost(mo, c, j));
	if (!improves(f, *cur))
		return false;
	load_remove(l, mo, c, from);
	load_add(l, mo, c, j);
	a[c] = (ssize_t)j;
	*cur = model_objective(mo, l);
	return true;
}

static bool try_swap(const Model *mo, Load *l, ssize_t *a, size_t c1, size_t c2, double *cur)
{
	size_t n1 = (size_t)a[c1], n2 = (size_t)a[c2];
	const double *d1 = model_demand(mo, c1), *d2 = model_demand(mo, c2);
	double to1[NR], to2[NR];

	if (n1 == n2)
		return false;
	for (size_t r = 0; r < NR; r++) {
		to1[r] = d2[r] - d1[r];
		to2[r] = d1[r] - d2[r];
	}
	if (!model_fits_delta(mo, l, n1, to1) || !model_fits_delta(mo, l, n2, to2))
		return false;
	double f = mo->alpha * model_imbalance_after(mo, l, n1, to1, n2, to2) +
	           mo->beta * (l->migration - model_cost(mo, c1, n1) - model_cost(mo, c2, n2) +
	                       model_cost(mo, c1, n2) + model_cost(mo, c2, n1));
	if (!improves(f, *cur))
		return false;
	load_remove(l, mo, c1, n1);
	load_remove(l, mo, c2, n2);
	load_add(l, mo, c1, n2);
	load_add(l, mo, c2, n1);
	a[c1] = (ssize_t)n2;
	a[c2] = (ssize_t)n1;
	*cur = model_objective(mo, l);
	return true;
}

/* Swaps are quadratic in the containers; past this many only relocations are tried. */
#define LOCAL_SEARCH_SWAP_MAX 400
#define LOCAL_SEARCH_PASSES   100

unsigned local_search(const Model *mo, Load *l, ssize_t *a, const size_t *candidates, size_t n_cand)
{
	double cur = model_objective(mo, l);
	unsigned moves = 0;

	for (unsigned pass = 0; pass < LOCAL_SEARCH_PASSES; pass++) {
		unsigned before = moves;

		for (size_t c = 0; c < mo->m; c++) {
			if (model_expired(mo, candidates ? n_cand : mo->n))
				return moves;
			if (candidates) {
				for (size_t k = 0; k < n_cand; k++) {
					size_t j = candidates[c * n_cand + k];
					if (j == SIZE_MAX)
						break;
					moves += try_relocate(mo, l, a, c, j, &cur);
				}
			} else
				for (size_t j = 0; j < mo->n; j++)
					moves += try_relocate(mo, l, a, c, j, &cur);
		}
		if (mo->m <= LOCAL_SEARCH_SWAP_MAX)
			for (size_t c1 = 0; c1 < mo->m; c1++) {
				if (model_expired(mo, mo->m))
					return moves;
				for (size_t c2 = c1 + 1; c2 < mo->m; c2++)
					moves += try_swap(mo, l, a, c1, c2, &cur);
			}
		if (moves == before)
			break;
	}
	return moves;
}

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

void rng_seed(Rng *g, uint64_t seed)
{
	for (size_t i = 0; i < 4; i++)
		g->s[i] = splitmix64(&seed);
}

static inline uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

uint64_t rng_next(Rng *g)
{
	uint64_t *s = g->s;
	uint64_t result = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return result;
}
