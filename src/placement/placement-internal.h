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

/* A wall-clock budget checked inside every loop whose cost grows with the instance. Callers
 * report the work they did (roughly: node × resource evaluations); the clock is read once per
 * DEADLINE_WORK_STRIDE units (tens of microseconds), so a check is cheap at any size. */
typedef struct Deadline {
	double at_ms; /* monotonic ms, 0 = none */
	uint64_t work;
	bool expired;
} Deadline;

#define DEADLINE_WORK_STRIDE 4096u

static inline double now_ms(void)
{
	return mono_sec() * 1e3;
}

static inline bool deadline_passed(Deadline *d, uint64_t work)
{
	if (!d || d->at_ms <= 0)
		return false;
	if (d->expired)
		return true;
	d->work += work;
	if (d->work < DEADLINE_WORK_STRIDE)
		return false;
	d->work = 0;
	d->expired = now_ms() >= d->at_ms;
	return d->expired;
}

/* Reads the clock now, whatever work was reported. */
static inline bool deadline_passed_now(Deadline *d)
{
	if (!d || d->at_ms <= 0)
		return false;
	if (!d->expired)
		d->expired = now_ms() >= d->at_ms;
	return d->expired;
}

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
	/* Utilisation enters the running sums centred on the base mean, u − center[r]: the
	 * variance Σ(u−c)²/n − (Σ(u−c)/n)² does not depend on c, and with c near the mean the
	 * two terms no longer cancel when utilisations differ by 1e-8 (tiny containers on a
	 * balanced cluster). */
	double center[NR];
	double base_s1[NR], base_s2[NR]; /* Σ (u − c) and Σ (u − c)² over nodes, before placing */
	size_t n_targets;                /* nodes other than the source */
	Deadline *deadline;              /* the call's wall-clock budget; may be NULL */
} Model;

/* A partial or complete placement's loads. s1/s2 (centred, see Model) are kept in step with
 * `load`. */
typedef struct Load {
	double *load; /* n × NR */
	double s1[NR], s2[NR];
	double migration;    /* seconds */
	unsigned *receiving; /* n: containers placed on each node */
	/* The nodes whose load changed since the last reset, so that a reset costs what was
	 * placed, not O(nodes): a flag per node and their list (room for every node; the
	 * allocation is lazy, only the entries used are touched). */
	bool *dirty;
	size_t *touched;
	size_t n_touched;
} Load;

/* Precomputes the view of a valid instance. O(nodes), checking `deadline` (may be NULL) as it
 * goes: -ETIME when it passes, with nothing left to free. */
int model_init(Model *mo, const PlacementInstance *p, Deadline *deadline);
void model_done(Model *mo);

int load_init(Load *l, const Model *mo);
void load_done(Load *l);
/* Back to the model's base state; only the listed nodes can differ from base. */
void load_reset_nodes(Load *l, const Model *mo, const ssize_t *nodes, size_t n_nodes);
/* Back to the model's base state: O(nodes changed since the last reset). */
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

/* Utilisation of node j on resource r relative to the model's centre. */
static inline double model_u(const Model *mo, size_t j, size_t r, double load)
{
	return load * mo->inv_cap[j * NR + r] - mo->center[r];
}

static inline bool model_expired(const Model *mo, uint64_t work)
{
	return deadline_passed(mo->deadline, work);
}

static inline bool model_expired_now(const Model *mo)
{
	return deadline_passed_now(mo->deadline);
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

/* The objective of loads `load` and migration `migration` with a two-pass variance: the
 * incremental sums are for deltas, this is what an answer is compared with. */
double model_objective_two_pass(const Model *mo, const double *load, double migration);

/* Objective change if container c is added on node j (no feasibility check). */
double model_delta_add(const Model *mo, const Load *l, size_t c, size_t j);

void load_add(Load *l, const Model *mo, size_t c, size_t j);
void load_remove(Load *l, const Model *mo, size_t c, size_t j);

/* Containers sorted by decreasing size (Σ_r w_r × demand_r / mean capacity_r). */
int model_order_by_size(const Model *mo, size_t **ret);

/* Proven infeasible by a cheap argument: a container fits on no target, or a resource's total
 * demand exceeds the total headroom of the targets. False when the deadline passed first. */
bool model_trivially_infeasible(const Model *mo);

/* First-improvement descent with relocate and swap moves from a complete feasible placement
 * (applied in `l`). candidates[c] lists the nodes tried for c (n_cand each), or NULL for all
 * nodes. Returns the number of improving moves. */
unsigned local_search(const Model *mo, Load *l, ssize_t *assignment, const size_t *candidates,
                      size_t n_cand);

/* Greedy solvers; fill `assignment` and return 1 if every container was placed, 0 if one fit
 * nowhere or the deadline passed, negative errno on failure. */
int greedy_least_loaded(const Model *mo, Load *l, ssize_t *assignment);
int greedy_best_fit(const Model *mo, Load *l, ssize_t *assignment);

int solve_greedy(const Model *mo, PlacementSolver solver, const PlacementOptions *o,
                 PlacementResult *r);
int solve_aco(const Model *mo, const PlacementOptions *o, PlacementResult *r);
/* work_max: stop after this many node × container bound evaluations (0 = no limit). */
int solve_exact(const Model *mo, const PlacementOptions *o, uint64_t work_max, PlacementResult *r);

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
