/* placement.c — the placement room's public face: instances, validation, scoring from scratch,
 * and the solver dispatch that turns every solver's answer into a checked PlacementResult. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "macro.h"
#include "placement-internal.h"
#include "string-table.h"
#include "strutil.h"

static const char *const placement_solver_table[_PLACEMENT_SOLVER_MAX] = {
	[PLACEMENT_SOLVER_ACO] = "aco",
	[PLACEMENT_SOLVER_EXACT] = "exact",
	[PLACEMENT_SOLVER_LEAST_LOADED] = "least-loaded",
	[PLACEMENT_SOLVER_BEST_FIT] = "best-fit",
	[PLACEMENT_SOLVER_RANDOM] = "random",
};
DEFINE_STRING_TABLE_LOOKUP(placement_solver, PlacementSolver);

static const char *const placement_status_table[_PLACEMENT_STATUS_MAX] = {
	[PLACEMENT_STATUS_OPTIMAL] = "optimal",
	[PLACEMENT_STATUS_FEASIBLE] = "feasible",
	[PLACEMENT_STATUS_INFEASIBLE] = "infeasible",
	[PLACEMENT_STATUS_NOT_FOUND] = "not-found",
};
DEFINE_STRING_TABLE_LOOKUP_TO_STRING(placement_status, PlacementStatus);

static const char *const placement_resource_table[_PLACEMENT_RESOURCE_MAX] = {
	[PLACEMENT_CPU] = "cpu",
	[PLACEMENT_MEMORY] = "memory",
	[PLACEMENT_NETWORK] = "network",
};
DEFINE_STRING_TABLE_LOOKUP_TO_STRING(placement_resource, PlacementResource);

void placement_weights_init(PlacementWeights *w)
{
	*w = (PlacementWeights){
		.imbalance = 1.0,
		.migration = 0.01,
		.resource = { 1.0, 1.0, 1.0 },
	};
}

int placement_instance_new(size_t n_nodes, size_t n_containers, PlacementInstance **ret)
{
	if (n_nodes > PLACEMENT_NODES_MAX || n_containers > PLACEMENT_CONTAINERS_MAX)
		return -E2BIG;

	_cleanup_free_ PlacementInstance *p = calloc(1, sizeof(PlacementInstance));
	if (!p)
		return -ENOMEM;
	p->nodes = calloc(MAX(n_nodes, 1u), sizeof(PlacementNode));
	p->containers = calloc(MAX(n_containers, 1u), sizeof(PlacementContainer));
	if (!p->nodes || !p->containers) {
		free(p->nodes);
		free(p->containers);
		return -ENOMEM;
	}
	p->n_nodes = n_nodes;
	p->n_containers = n_containers;
	p->source = -1;
	placement_weights_init(&p->weights);
	*ret = TAKE_PTR(p);
	return 0;
}

PlacementInstance *placement_instance_free(PlacementInstance *p)
{
	if (!p)
		return NULL;
	for (size_t j = 0; j < p->n_nodes; j++)
		free(p->nodes[j].name);
	for (size_t c = 0; c < p->n_containers; c++)
		free(p->containers[c].name);
	free(p->nodes);
	free(p->containers);
	free(p);
	return NULL;
}

static bool nonneg(double v)
{
	return isfinite(v) && v >= 0 && v <= PLACEMENT_VALUE_MAX;
}

static bool positive(double v)
{
	return isfinite(v) && v >= PLACEMENT_VALUE_MIN && v <= PLACEMENT_VALUE_MAX;
}

/* Validation reads every node: O(nodes), so a call's deadline is checked as it goes
 * (-ETIME when it passes; the instance is then neither accepted nor refused). */
static int instance_validate(const PlacementInstance *p, Deadline *deadline)
{
	double wsum = 0;

	if (!p)
		return -EINVAL;
	if (p->n_nodes > PLACEMENT_NODES_MAX || p->n_containers > PLACEMENT_CONTAINERS_MAX)
		return -E2BIG;
	if (p->n_nodes == 0 || !p->nodes || (p->n_containers > 0 && !p->containers))
		return -EINVAL;
	if (p->source < -1 || p->source >= (ssize_t)p->n_nodes)
		return -EINVAL;

	for (size_t j = 0; j < p->n_nodes; j++) {
		const PlacementNode *nd = &p->nodes[j];
		for (size_t r = 0; r < NR; r++)
			if (!positive(nd->capacity[r]) || !nonneg(nd->used[r]) ||
			    !positive(nd->threshold[r]) || nd->threshold[r] > 1)
				return -EINVAL;
		if ((ssize_t)j != p->source && !positive(nd->bandwidth))
			return -EINVAL;
		if (deadline_passed(deadline, NR))
			return -ETIME;
	}
	for (size_t c = 0; c < p->n_containers; c++) {
		const PlacementContainer *ct = &p->containers[c];
		for (size_t r = 0; r < NR; r++)
			if (!nonneg(ct->demand[r]))
				return -EINVAL;
		if (!nonneg(ct->transfer_bytes))
			return -EINVAL;
	}

	if (!nonneg(p->weights.imbalance) || !nonneg(p->weights.migration))
		return -EINVAL;
	for (size_t r = 0; r < NR; r++) {
		if (!nonneg(p->weights.resource[r]))
			return -EINVAL;
		wsum += p->weights.resource[r];
	}
	if (!positive(wsum))
		return -EINVAL;
	return 0;
}

int placement_instance_validate(const PlacementInstance *p)
{
	return instance_validate(p, NULL);
}

void placement_options_init(PlacementOptions *o)
{
	*o = (PlacementOptions){
		.seed = 1,
		.iterations = 300,
		.stall_limit = 120,
		.time_limit_ms = 0,
		.ants = 10,
		.candidates = 32,
		.alpha = 1,
		.beta = 2,
		.evaporation = 0.1,
		.p_best = 0.05,
		.restart_after = 40,
		.local_search = true,
		.greedy_start = true,
		.max_nodes = 50000000,
	};
}

static int options_validate(const PlacementOptions *o)
{
	if (o->ants == 0 || o->candidates == 0)
		return -EINVAL;
	if (!nonneg(o->alpha) || !nonneg(o->beta) ||
	    !(isfinite(o->time_limit_ms) && o->time_limit_ms >= 0))
		return -EINVAL;
	if (!(o->evaporation > 0 && o->evaporation < 1))
		return -EINVAL;
	if (!(o->p_best > 0 && o->p_best < 1))
		return -EINVAL;
	return 0;
}

static int cmp_by_node(const void *x, const void *y, void *userdata)
{
	const ssize_t *a = userdata;
	size_t i = *(const size_t *)x, k = *(const size_t *)y;
	if (a[i] != a[k])
		return a[i] < a[k] ? -1 : 1;
	return i < k ? -1 : i > k;
}

/* Node j's load under the placement: a receiving node's from the list sorted by node (walked
 * in step with j through *next), any other node's base load. */
static const double *placed_load(const Model *mo, size_t j, const size_t *nodes, const double *load,
                                 size_t n_nodes, size_t *next)
{
	if (*next < n_nodes && nodes[*next] == j)
		return load + (*next)++ * NR;
	return mo->base_load + j * NR;
}

/* Scores a complete placement from scratch, in O(nodes) time and O(containers) memory: only
 * the receiving nodes' loads are built (containers are added in their order, as a fresh sum
 * would), every other node keeps its base load. */
static int evaluate_model(const Model *mo, const ssize_t *a, PlacementScore *ret)
{
	_cleanup_free_ size_t *order = NULL, *nodes = NULL;
	_cleanup_free_ double *load = NULL;
	PlacementScore s = { .feasible = true };
	size_t n_nodes = 0;

	for (size_t c = 0; c < mo->m; c++)
		if (a[c] < 0 || a[c] >= (ssize_t)mo->n)
			return -EINVAL;

	order = malloc(MAX(mo->m, 1u) * sizeof(size_t));
	nodes = malloc(MAX(mo->m, 1u) * sizeof(size_t));
	load = malloc(MAX(mo->m, 1u) * NR * sizeof(double));
	if (!order || !nodes || !load)
		return -ENOMEM;
	for (size_t c = 0; c < mo->m; c++)
		order[c] = c;
	qsort_r(order, mo->m, sizeof(size_t), cmp_by_node, (void *)a);

	for (size_t i = 0; i < mo->m; i++) {
		size_t c = order[i], j = (size_t)a[c];
		if (n_nodes == 0 || nodes[n_nodes - 1] != j) {
			nodes[n_nodes] = j;
			memcpy(load + n_nodes * NR, mo->base_load + j * NR, NR * sizeof(double));
			n_nodes++;
		}
		for (size_t r = 0; r < NR; r++)
			load[(n_nodes - 1) * NR + r] += mo->demand[c * NR + r];
	}
	for (size_t c = 0; c < mo->m; c++) {
		s.migration_seconds += model_cost(mo, c, (size_t)a[c]);
		if (a[c] == mo->source)
			s.violations++;
	}
	for (size_t k = 0; k < n_nodes; k++) {
		if ((ssize_t)nodes[k] == mo->source)
			continue;
		for (size_t r = 0; r < NR; r++)
			if (load[k * NR + r] > mo->limit[nodes[k] * NR + r]) {
				s.violations++;
				break;
			}
	}

	/* Two-pass standard deviation: the incremental sums are for deltas, this is the truth. */
	for (size_t r = 0; r < NR; r++) {
		double mean = 0, var = 0;
		size_t next = 0;
		for (size_t j = 0; j < mo->n; j++)
			mean += placed_load(mo, j, nodes, load, n_nodes, &next)[r] *
			        mo->inv_cap[j * NR + r];
		mean /= (double)mo->n;
		next = 0;
		for (size_t j = 0; j < mo->n; j++) {
			double dev = placed_load(mo, j, nodes, load, n_nodes, &next)[r] *
			                     mo->inv_cap[j * NR + r] -
			             mean;
			var += dev * dev;
		}
		s.imbalance_per_resource[r] = sqrt(var / (double)mo->n);
		s.imbalance += mo->w[r] * s.imbalance_per_resource[r];
	}
	s.objective = mo->alpha * s.imbalance + mo->beta * s.migration_seconds;
	s.feasible = s.violations == 0;
	*ret = s;
	return 0;
}

int placement_evaluate(const PlacementInstance *p, const ssize_t *assignment, PlacementScore *ret)
{
	Model mo;
	int r;

	r = placement_instance_validate(p);
	if (r < 0)
		return r;
	if (!assignment && p->n_containers > 0)
		return -EINVAL;
	r = model_init(&mo, p, NULL);
	if (r < 0)
		return r;
	r = evaluate_model(&mo, assignment, ret);
	model_done(&mo);
	return r;
}

int placement_check(const PlacementInstance *p, const ssize_t *assignment)
{
	PlacementScore s;
	int r = placement_evaluate(p, assignment, &s);
	if (r < 0)
		return r;
	return s.feasible;
}

PlacementResult *placement_result_free(PlacementResult *r)
{
	if (!r)
		return NULL;
	free(r->assignment);
	free(r);
	return NULL;
}

static void model_donep(Model *mo)
{
	model_done(mo);
}

/* A proof (or a placement) is cheap on small instances: at most this many container × node
 * evaluations of the exact search's bound (a few tens of milliseconds). */
#define PROOF_WORK_MAX (4u << 20)

/* A heuristic found nothing: let a bounded exact search decide. Infeasibility it proves is
 * reported as such by every solver; the ant colony, which promises its best effort, also takes
 * a placement the search finds (the baselines stay what they are). */
static int solve_prove(const Model *mo, PlacementSolver solver, const PlacementOptions *o,
                       PlacementResult *res)
{
	_cleanup_free_ ssize_t *assignment = NULL;
	PlacementResult ex = {};
	int r;

	if (mo->m * mo->n > PROOF_WORK_MAX || (mo->deadline && mo->deadline->expired))
		return 0;
	assignment = malloc(mo->m * sizeof(ssize_t));
	if (!assignment)
		return -ENOMEM;
	ex.assignment = assignment;
	r = solve_exact(mo, o, PROOF_WORK_MAX, &ex);
	if (r < 0)
		return r;
	if (ex.status == PLACEMENT_STATUS_INFEASIBLE)
		res->status = PLACEMENT_STATUS_INFEASIBLE;
	else if (solver == PLACEMENT_SOLVER_ACO && placement_status_is_feasible(ex.status)) {
		memcpy(res->assignment, assignment, mo->m * sizeof(ssize_t));
		res->status = ex.status;
	}
	return 0;
}

int placement_solve(const PlacementInstance *p, PlacementSolver solver,
                    const PlacementOptions *options, PlacementResult **ret)
{
	_cleanup_placement_result_ PlacementResult *res = NULL;
	_cleanup_(model_donep) Model mo = {};
	PlacementOptions defaults;
	Deadline deadline = {};
	double start = now_ms();
	int r;

	if (!p || (unsigned)solver >= _PLACEMENT_SOLVER_MAX || !ret)
		return -EINVAL;
	if (!options) {
		placement_options_init(&defaults);
		options = &defaults;
	}
	r = options_validate(options);
	if (r < 0)
		return r;
	/* The exact search keeps containers × nodes of scratch; refuse before reading more. */
	if (solver == PLACEMENT_SOLVER_EXACT &&
	    p->n_nodes * p->n_containers > PLACEMENT_EXACT_CELLS_MAX)
		return -E2BIG;
	/* Some steps cannot be interrupted: a solver's first copy of the base loads, the final
	 * re-score's pass over the nodes and releasing the memory, within 20 ns per node together
	 * (measured at 1,000,000 nodes on a busy machine), so everything else stops that much
	 * before the limit. */
	if (options->time_limit_ms > 0)
		deadline.at_ms = start + options->time_limit_ms - (double)p->n_nodes * 20e-6;
	r = instance_validate(p, &deadline);
	if (r < 0 && r != -ETIME)
		return r;

	res = calloc(1, sizeof(PlacementResult));
	if (!res)
		return -ENOMEM;
	res->solver = solver;
	res->seed = options->seed;
	res->n_containers = p->n_containers;
	res->assignment = malloc(MAX(p->n_containers, 1u) * sizeof(ssize_t));
	if (!res->assignment)
		return -ENOMEM;
	for (size_t c = 0; c < p->n_containers; c++)
		res->assignment[c] = -1;

	/* Reading the instance is O(nodes) and counts against the time limit like the search:
	 * when the deadline passes first, the answer is "not found" within the limit. */
	if (r == 0) {
		r = model_init(&mo, p, &deadline);
		if (r < 0 && r != -ETIME)
			return r;
	}

	if (r == -ETIME)
		res->status = PLACEMENT_STATUS_NOT_FOUND;
	else if (p->n_containers == 0)
		res->status = PLACEMENT_STATUS_OPTIMAL;
	else if (model_trivially_infeasible(&mo))
		res->status = PLACEMENT_STATUS_INFEASIBLE;
	else {
		switch (solver) {
		case PLACEMENT_SOLVER_ACO:
			r = solve_aco(&mo, options, res);
			break;
		case PLACEMENT_SOLVER_EXACT:
			r = solve_exact(&mo, options, 0, res);
			break;
		default:
			r = solve_greedy(&mo, solver, options, res);
			break;
		}
		if (r < 0)
			return r;
		if (res->status == PLACEMENT_STATUS_NOT_FOUND && solver != PLACEMENT_SOLVER_EXACT) {
			r = solve_prove(&mo, solver, options, res);
			if (r < 0)
				return r;
		}
	}
	res->elapsed_ms = now_ms() - start;

	if (placement_status_is_feasible(res->status)) {
		r = evaluate_model(&mo, res->assignment, &res->score);
		if (r < 0)
			return r;
		/* A solver handing back an infeasible placement is a bug; never let it out. */
		if (!res->score.feasible)
			return log_debug_errno(ENOTRECOVERABLE,
			                       "placement: %s returned an infeasible placement",
			                       placement_solver_to_string(solver));
	} else
		for (size_t c = 0; c < p->n_containers; c++)
			res->assignment[c] = -1;

	*ret = TAKE_PTR(res);
	return 0;
}
