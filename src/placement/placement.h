/* placement.h — the placement room: where should the containers leaving a node go?
 *
 * A pure library (no I/O, no etcd, no gRPC) that the scheduler calls with a snapshot of the
 * cluster. An instance lists the nodes (capacity, current use and per-resource thresholds for
 * CPU, memory and network, plus the transfer bandwidth from the source node) and the containers
 * to place (their demand and the bytes a migration has to copy). A solver assigns every
 * container to a node other than the source so that no receiving node ends above any of its
 * thresholds, minimising
 *
 *     objective = imbalance_weight × imbalance + migration_weight × migration_seconds
 *
 * where imbalance is the resource-weighted mean, over CPU/memory/network, of the population
 * standard deviation of per-node utilisation (load / capacity) after the move, and
 * migration_seconds is Σ transfer_bytes(c) / bandwidth(node of c). docs/placement.md has the
 * exact definition and the JSON format of placement-json.h.
 *
 * Solvers: an optimized ant colony (MAX-MIN ant system with candidate lists and local search;
 * the one the scheduler uses), greedy baselines (least-loaded, best-fit-decreasing, random
 * feasible) and an exact branch and bound for small instances. "No feasible placement" is a
 * result (a status), never an error; malformed instances are rejected with -EINVAL. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef enum PlacementResource {
	PLACEMENT_CPU,
	PLACEMENT_MEMORY,
	PLACEMENT_NETWORK,
	_PLACEMENT_RESOURCE_MAX,
} PlacementResource;

/* Refuse instances beyond these sizes with -E2BIG (the solvers keep per-container × node
 * state in places). */
#define PLACEMENT_NODES_MAX      1000000u
#define PLACEMENT_CONTAINERS_MAX 10000u
/* The exact solver refuses (-E2BIG) more than this many containers × nodes. */
#define PLACEMENT_EXACT_CELLS_MAX (4u << 20)

/* Every number in an instance (capacities, loads, demands, bytes, bandwidths, weights) is at
 * most PLACEMENT_VALUE_MAX, and capacities and bandwidths are at least PLACEMENT_VALUE_MIN:
 * then no ratio, square or sum the objective needs can overflow a double. */
#define PLACEMENT_VALUE_MAX 1e30
#define PLACEMENT_VALUE_MIN 1e-30

/* Loads may exceed threshold × capacity by this fraction of capacity (rounding slack). */
#define PLACEMENT_FEASIBILITY_TOLERANCE 1e-9

typedef struct PlacementNode {
	char *name; /* optional, owned */
	/* Per resource, same unit for capacity and used: cores, bytes, bytes/s. */
	double capacity[_PLACEMENT_RESOURCE_MAX];  /* > 0 */
	double used[_PLACEMENT_RESOURCE_MAX];      /* >= 0, includes the containers it runs now */
	double threshold[_PLACEMENT_RESOURCE_MAX]; /* fraction of capacity, in (0, 1] */
	double bandwidth; /* bytes/s from the source to this node, > 0 (ignored on the source) */
} PlacementNode;

typedef struct PlacementContainer {
	char *name;                             /* optional, owned */
	double demand[_PLACEMENT_RESOURCE_MAX]; /* >= 0 */
	double transfer_bytes;                  /* memory to copy on migration, >= 0 */
} PlacementContainer;

typedef struct PlacementWeights {
	double imbalance;                         /* >= 0, default 1 */
	double migration;                         /* >= 0, per second of transfer, default 0.01 */
	double resource[_PLACEMENT_RESOURCE_MAX]; /* >= 0, not all 0, default 1 each */
} PlacementWeights;

typedef struct PlacementInstance {
	size_t n_nodes;
	PlacementNode *nodes;
	size_t n_containers;
	PlacementContainer *containers;
	/* Index of the node the containers leave (its load drops by their demand, and it is not
	 * a target), or -1 if they come from outside the cluster. */
	ssize_t source;
	PlacementWeights weights;
} PlacementInstance;

typedef enum PlacementSolver {
	PLACEMENT_SOLVER_ACO,
	PLACEMENT_SOLVER_EXACT,
	PLACEMENT_SOLVER_LEAST_LOADED,
	PLACEMENT_SOLVER_BEST_FIT,
	PLACEMENT_SOLVER_RANDOM,
	_PLACEMENT_SOLVER_MAX,
} PlacementSolver;

typedef enum PlacementStatus {
	PLACEMENT_STATUS_OPTIMAL,    /* feasible and proven optimal (exact solver) */
	PLACEMENT_STATUS_FEASIBLE,   /* feasible, optimality not proven */
	PLACEMENT_STATUS_INFEASIBLE, /* proven: no feasible placement exists */
	PLACEMENT_STATUS_NOT_FOUND,  /* the solver gave up without finding one */
	_PLACEMENT_STATUS_MAX,
} PlacementStatus;

typedef struct PlacementOptions {
	uint64_t seed;        /* all randomness derives from it; default 1 */
	unsigned iterations;  /* ACO iterations; default 300; 0 = the polished greedy start only */
	unsigned stall_limit; /* ACO: stop after this many iterations without improvement; 120 */
	double time_limit_ms; /* wall-clock budget of the whole placement_solve() call, 0 = none */
	unsigned ants;        /* default 10 */
	unsigned candidates;  /* candidate list length per container; default 32 */
	double alpha;         /* pheromone exponent; default 1 */
	double beta;          /* heuristic exponent; default 2 */
	double evaporation;   /* rho in (0, 1); default 0.1 */
	double p_best;        /* MMAS tau_min from p_best; default 0.05 */
	unsigned restart_after; /* reset pheromone after this many stalled iterations; 40 */
	bool local_search;      /* relocate/swap descent on the best ants; default true */
	bool greedy_start;      /* start from the best greedy placement; default true */
	uint64_t max_nodes;     /* exact: branch-and-bound node budget; default 50,000,000 */
} PlacementOptions;

typedef struct PlacementScore {
	bool feasible;
	double objective;
	double imbalance;
	double imbalance_per_resource[_PLACEMENT_RESOURCE_MAX]; /* std dev of utilisation */
	double migration_seconds;
	unsigned violations; /* receiving nodes above a threshold, or containers on the source */
} PlacementScore;

typedef struct PlacementResult {
	PlacementSolver solver;
	PlacementStatus status;
	size_t n_containers;
	ssize_t *assignment;  /* node index per container; all -1 unless status is feasible */
	PlacementScore score; /* of assignment; meaningful when status is OPTIMAL/FEASIBLE */
	double elapsed_ms;
	uint64_t iterations; /* ACO iterations, or branch-and-bound nodes */
	uint64_t seed;
} PlacementResult;

const char *placement_solver_to_string(PlacementSolver s);
/* Returns the solver, or -EINVAL. */
int placement_solver_from_string(const char *s);
const char *placement_status_to_string(PlacementStatus s);
const char *placement_resource_to_string(PlacementResource r);

static inline bool placement_status_is_feasible(PlacementStatus s)
{
	return s == PLACEMENT_STATUS_OPTIMAL || s == PLACEMENT_STATUS_FEASIBLE;
}

/* An instance with zeroed nodes and containers, default weights and source -1. */
int placement_instance_new(size_t n_nodes, size_t n_containers, PlacementInstance **ret);
PlacementInstance *placement_instance_free(PlacementInstance *p);
/* 0, or -EINVAL (non-finite or out-of-range values, bad source), -E2BIG (too large). */
int placement_instance_validate(const PlacementInstance *p);
void placement_weights_init(PlacementWeights *w);

void placement_options_init(PlacementOptions *o);

/* Score an assignment from scratch (feasibility and objective parts). An assignment to the
 * source is a violation, not an error; indices outside [0, n_nodes) are -EINVAL. */
int placement_evaluate(const PlacementInstance *p, const ssize_t *assignment, PlacementScore *ret);
/* 1 if feasible, 0 if not, negative errno on bad input. */
int placement_check(const PlacementInstance *p, const ssize_t *assignment);

/* Run a solver. Returns 0 with a result (whatever its status) or a negative errno for bad
 * input (-EINVAL, -E2BIG) or -ENOMEM. With a time limit the call returns within it (plus the
 * clock's stride of a few tens of microseconds) with the best placement found so far, or
 * not-found; reading the instance counts against the limit,
 * and input whose validation the limit cut short is answered not-found, not refused. When a
 * heuristic finds nothing on a small instance, a bounded exact search runs to prove infeasibility
 * (the ant colony also adopts a placement that search finds). */
int placement_solve(const PlacementInstance *p, PlacementSolver solver,
                    const PlacementOptions *options, PlacementResult **ret);
PlacementResult *placement_result_free(PlacementResult *r);

static inline void placement_instance_freep(PlacementInstance **p)
{
	placement_instance_free(*p);
}
static inline void placement_result_freep(PlacementResult **r)
{
	placement_result_free(*r);
}
#define _cleanup_placement_instance_ __attribute__((cleanup(placement_instance_freep)))
#define _cleanup_placement_result_   __attribute__((cleanup(placement_result_freep)))
