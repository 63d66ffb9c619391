/* placement-internal.h — what the solvers share: a precomputed view of an instance (Model),
 * an incrementally updated load state with O(1) objective deltas (Load), a seeded PRNG, and
 * the local search. Not installed, not used outside src/placement. */
#pragma once

#include <math.h>
#include <stdint.h>
#include <time.h>

#include "placement.h"
#include "time-util.h"

#define NR _PLACEMENT_RESOURCE_MAX

typedef struct Model {
	const PlacementInstance *instance;
	size_t n; /* nodes */
	size_t m; /* containers */
	ssize_t source;
	double alpha;      /* imbalance weight */
	double beta;       /* migration weight */
	double w[NR];      /* resource weights normalised to sum 1 */
	double *inv_cap;   /* n × NR */
	double *limit;     /* n × NR: threshold × capacity + tolerance */
	double *base_load; /* n × NR: used, minus the moved containers on the source */
	double *inv_bw;    /* n: 1 / bandwidth, 0 on the source */
	double *demand;    /* m × NR */
	double *bytes;     /* m */
	double base_s1[NR], base_s2[NR]; /* Σ u and Σ u² over nodes, before placing */
	size_t n_targets;                /* nodes other than the source */
} Model;

/* A partial or complete placement's loads. s1/s2 are kept in step with `load`. */
typedef struct Load {
	double *load; /* n × NR */
	double s1[NR], s2[NR];
	double migration;    /* seconds */
	unsigned *receiving; /* n: containers placed on each node */
} Load;

int model_init(Model *mo, const PlacementInstance *p);
void model_done(Model *mo);

int load_init(Load *l, const Model *mo);
void load_done(Load *l);
/* Back to the model's base state; only the listed nodes can differ from base. */
void load_reset_nodes(Load *l, const Model *mo, const ssize_t *nodes, size_t n_nodes);
void load_reset(Load *l, const Model *mo);

static inline const double *model_demand(const Model *mo, size_t c)
{
	return mo->demand + c * NR;
}

static inline bool model_fits_delta(const Model *mo, const Load *l, size_t j, const double *d)
{
	const double *ld = l->load + j * NR, *lim = mo->limit + j * NR;
	for (size_t r = 0; r < NR; r++)
		if (ld[r] + d[r] > lim[r])
			return false;
	return true;
}

static inline bool model_fits(const Model *mo, const Load *l, size_t c, size_t j)
{
	if ((ssize_t)j == mo->source)
		return false;
	return model_fits_delta(mo, l, j, model_demand(mo, c));
}

static inline double model_sigma(const Model *mo, double s1, double s2)
{
	double mean = s1 / (double)mo->n;
	double var = s2 / (double)mo->n - mean * mean;
	return var > 0 ? sqrt(var) : 0;
}

static inline double model_imbalance(const Model *mo, const double *s1, const double *s2)
{
	double v = 0;
	for (size_t r = 0; r < NR; r++)
		if (mo->w[r] > 0)
			v += mo->w[r] * model_sigma(mo, s1[r], s2[r]);
	return v;
}

static inline double model_objective(const Model *mo, const Load *l)
{
	return mo->alpha * model_imbalance(mo, l->s1, l->s2) + mo->beta * l->migration;
}

static inline double model_cost(const Model *mo, size_t c, size_t j)
{
	return mo->bytes[c] * mo->inv_bw[j];
}

/* Imbalance after adding `da` to node a and `db` to node b (b may be (size_t)-1 for none). */
double model_imbalance_after(const Model *mo, const Load *l, size_t a, const double *da, size_t b,
                             const double *db);

/* Objective change if container c is added on node j (no feasibility check). */
double model_delta_add(const Model *mo, const Load *l, size_t c, size_t j);

void load_add(Load *l, const Model *mo, size_t c, size_t j);
void load_remove(Load *l, const Model *mo, size_t c, size_t j);

/* Containers sorted by decreasing size (Σ_r w_r × demand_r / mean capacity_r). */
int model_order_by_size(const Model *mo, size_t **ret);

/* Proven infeasible by a cheap argument: a container fits on no target, or a resource's total
 * demand exceeds the total headroom of the targets. */
bool model_trivially_infeasible(const Model *mo);

/* First-improvement descent with relocate and swap moves from a complete feasible placement
 * (applied in `l`). candidates[c] lists the nodes tried for c (n_cand each), or NULL for all
 * nodes. Returns the number of improving moves. */
unsigned local_search(const Model *mo, Load *l, ssize_t *assignment, const size_t *candidates,
                      size_t n_cand);

/* Greedy solvers; fill `assignment` and return 1 if every container was placed, 0 if one fit
 * nowhere, negative errno on failure. */
int greedy_least_loaded(const Model *mo, Load *l, ssize_t *assignment);
int greedy_best_fit(const Model *mo, Load *l, ssize_t *assignment);

int solve_greedy(const Model *mo, PlacementSolver solver, const PlacementOptions *o,
                 PlacementResult *r);
int solve_aco(const Model *mo, const PlacementOptions *o, PlacementResult *r);
int solve_exact(const Model *mo, const PlacementOptions *o, PlacementResult *r);

/* xoshiro256** seeded through splitmix64: reproducible on every platform. */
typedef struct Rng {
	uint64_t s[4];
} Rng;

void rng_seed(Rng *g, uint64_t seed);
uint64_t rng_next(Rng *g);
/* Uniform in [0, 1). */
static inline double rng_double(Rng *g)
{
	return (double)(rng_next(g) >> 11) * 0x1.0p-53;
}
/* Uniform in [0, n), n > 0. */
static inline size_t rng_below(Rng *g, size_t n)
{
	return (size_t)(rng_double(g) * (double)n) % n;
}

static inline double now_ms(void)
{
	return mono_sec() * 1e3;
}
