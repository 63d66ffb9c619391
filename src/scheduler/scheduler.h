/* scheduler.h — the scheduler's rules as a pure library: a snapshot of the cluster and a
 * policy in, decisions out. No I/O, no etcd, no gRPC, no clock: the caller passes `now`.
 * podmig-scheduler (the daemon), `podmig plan` and the simulator all call this one
 * implementation, so what `plan` shows is what the daemon would do.
 *
 * The rules, in the order sched_decide() applies them:
 *
 * 1. Trigger. Each node publishes its recent samples (utilisation in percent of capacity
 *    per resource, oldest first). A resource of a node is overloaded once it has been above
 *    its threshold for `window` consecutive samples, and stays overloaded until a sample is
 *    below threshold − margin (hysteresis). The state is derived by walking the published
 *    samples oldest to newest, so the daemon and `plan` agree. A node whose newest sample is
 *    older than SCHED_STALE_INTERVALS sampling intervals is stale: it triggers nothing and
 *    receives nothing (even when drained: nobody is there to send its containers). Samples
 *    separated by more than that gap, or out of order, break the window (the agent restarted).
 *    With the predictive trigger (`predict_samples` P > 0), a resource not overloaded by that
 *    rule is overloaded also when its newest sample is at least threshold − margin and the
 *    least-squares line through its newest max(window, 3) consecutive samples, rising, is
 *    above the threshold P samples after the newest.
 * 2. Which nodes act. A drained node sheds every migratable container. An overloaded node
 *    acts unless it is in its node cooldown (it took part in a migration that started or
 *    ended less than `node_cooldown_sec` ago), or the concurrency limits (cluster, per node)
 *    leave no slot. Active migrations hold a slot of the cluster and one of each node they
 *    join (source and target); so do the moves decided earlier in the same plan, so a plan
 *    never exceeds the limits. Drained nodes act first, then by severity (the largest
 *    newest percent − threshold over the resources).
 * 3. Selection. Candidates are the node's running containers that are not labelled
 *    podmig.migrate=false, not migrating now, not in their container cooldown (a migration
 *    of theirs ended less than `container_cooldown_sec` ago), and that fit on at least one
 *    eligible target open to them (rule 4's return cooldown) alone. Of these, the set that brings
 * every overloaded resource below threshold − margin at the least migration cost (memory to copy ÷
 * bandwidth to the targets, plus the container's mean past downtime) is chosen, within the free
 * slots. If no set relieves the node fully, the set that relieves it most (the least relieved
 *    resource first, then the sum over resources, then the cost). A resource no candidate
 *    reports a demand of (network demand may be unknown: 0) does not steer the choice; when
 *    no overloaded resource is left to steer it, nothing moves (NO_CANDIDATE). A drained node's
 *    candidates ignore the container cooldown and are all chosen, up to the free slots.
 * 4. Placement. The chosen containers are placed by the policy's solver (the ant colony by
 *    default) over the eligible targets: live, neither drained nor overloaded, not the
 *    source, with a free slot; their load counts the containers already migrating to them
 *    and those moved to them earlier in the plan. On large clusters the solver sees the
 *    SCHED_TARGETS_MAX least-full eligible targets (fullness: the largest load ÷ threshold
 *    over the resources), plus, for a container that fits on none of them, the first node it
 *    fits on. No target ever ends above any of its thresholds, nor takes more migrations than
 *    its free slots. A container never goes back to a node it left (nor to a target its
 *    automatic migration rolled back from) within `return_cooldown_sec`. When the chosen set
 *    cannot be placed together, the containers are placed one at a time (most relief first)
 *    and those that fit move. When nothing fits, nothing moves and the decision says why.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mode-choice.h"
#include "placement.h"

/* Resources are the placement engine's: PLACEMENT_CPU, PLACEMENT_MEMORY, PLACEMENT_NETWORK. */
#define SCHED_RESOURCES _PLACEMENT_RESOURCE_MAX

/* Samples an agent publishes in its status (`recent`), hence the longest window. */
#define SCHED_SAMPLES_MAX 16
/* A sample older than this many sampling intervals is stale. */
#define SCHED_STALE_INTERVALS 3
/* Eligible targets handed to the solver for one decision: the least full (rule 4). */
#define SCHED_TARGETS_MAX 64
/* Candidates up to which the least-cost set is found by exact enumeration (also beyond, when
 * the subsets within the free slots number at most SCHED_SUBSETS_MAX); else greedily by cost
 * per unit of relief, then pruned. */
#define SCHED_EXACT_CANDIDATES_MAX 16
#define SCHED_SUBSETS_MAX          65536

/* ---- policy ---- */

typedef enum SchedMode {
	SCHED_MODE_ACT,     /* decide and migrate */
	SCHED_MODE_OBSERVE, /* decide and log, never move */
	_SCHED_MODE_MAX,
} SchedMode;

typedef struct SchedNodeOverride {
	char *node;
	double threshold[SCHED_RESOURCES]; /* percent; NAN: the cluster-wide one */
} SchedNodeOverride;

typedef struct SchedPolicy {
	SchedMode mode;
	double threshold[SCHED_RESOURCES]; /* percent of capacity, (0, 100]; 80, 85, 80 */
	SchedNodeOverride *overrides;      /* per node, owned */
	size_t n_overrides;
	unsigned window;          /* consecutive samples over threshold; 3, 1..16 */
	unsigned predict_samples; /* predictive trigger: samples ahead, 0 (off)..16 (rule 1) */
	double margin;            /* percentage points below threshold to recover; 10 */
	uint64_t container_cooldown_sec;  /* after a container's migration ends; 120 */
	uint64_t node_cooldown_sec;       /* after a node's migration starts or ends; 30 */
	uint64_t return_cooldown_sec;     /* no way back to a node left, or rolled back from; 600 */
	unsigned max_concurrent;          /* migrations under way in the cluster; 2 */
	unsigned max_concurrent_per_node; /* as source or target; 1 */
	PlacementSolver solver;           /* aco */
	PlacementWeights weights;         /* placement's defaults */
	uint64_t seed;                    /* for the randomised solvers; 1 */
	/* retention, enforced by the leader: final migration records and decisions beyond the
	 * newest N, or older than max_age_sec (0: no age limit), are deleted */
	unsigned keep_migrations;     /* 1000 */
	unsigned keep_decisions;      /* 200 */
	uint64_t history_max_age_sec; /* 0 */
	/* the mode the scheduler's migrations ask for (the source agent falls
	 * back where it cannot, and records why); auto */
	ModeRequest migration_mode;
} SchedPolicy;

const char *sched_mode_to_string(SchedMode m);
int sched_mode_from_string(const char *s); /* mode or -EINVAL */

/* Defaults above; no overrides. */
void sched_policy_init(SchedPolicy *p);
void sched_policy_done(SchedPolicy *p); /* frees overrides; p may be reused after init */
/* Effective threshold (percent) of `resource` on `node`. */
double sched_policy_threshold(const SchedPolicy *p, const char *node, PlacementResource resource);

/* The policy document at <prefix>policy (docs/etcd-keys.md). Parsing is strict: unknown
 * keys, wrong types and out-of-range values are refused with -EINVAL and a message in
 * *ret_error (caller frees; may be NULL); *ret is untouched on failure. Keys that are absent
 * keep their defaults. */
int sched_policy_from_json(const json_t *doc, SchedPolicy *ret, char **ret_error);
int sched_policy_to_json(const SchedPolicy *p, json_t **ret);
/* `podmig policy set KEY=VALUE`: applies one assignment (dotted keys of the document, e.g.
 * thresholds.cpu=70, nodes.node1.thresholds.memory=60, mode=observe) with the same checks;
 * -EINVAL and a message if the key is unknown or the value wrong, p unchanged then. */
int sched_policy_set(SchedPolicy *p, const char *assignment, char **ret_error);

/* ---- the cluster view ---- */

typedef struct SchedSample {
	uint64_t timestamp_usec;         /* wall clock */
	double percent[SCHED_RESOURCES]; /* use as percent of capacity (may exceed 100) */
} SchedSample;

typedef struct SchedContainer {
	char *name;
	bool running;
	bool opt_out;                   /* label podmig.migrate=false */
	double demand[SCHED_RESOURCES]; /* cores, bytes, bytes/s */
	double memory_bytes;            /* what a migration copies */
} SchedContainer;

typedef struct SchedNode {
	char *name;
	double capacity[SCHED_RESOURCES]; /* cores, bytes, bytes/s (link bandwidth) */
	double used[SCHED_RESOURCES];     /* from the newest sample */
	uint64_t interval_usec;           /* the agent's sampling interval, > 0 */
	SchedSample *samples;             /* oldest first; the newest is the current load */
	size_t n_samples;
	SchedContainer *containers;
	size_t n_containers;
	bool drained; /* `podmig drain`: shed everything, receive nothing */
} SchedNode;

typedef enum SchedMigrationState {
	SCHED_MIGRATION_ACTIVE, /* not final: holds slots on source and target */
	SCHED_MIGRATION_DONE,   /* the container runs on the target */
	SCHED_MIGRATION_UNDONE, /* rolled back or failed: it runs on the source */
	_SCHED_MIGRATION_STATE_MAX,
} SchedMigrationState;

/* What the scheduler needs of a migration record. */
typedef struct SchedMigration {
	char *container;
	char *source;
	char *target;
	SchedMigrationState state;
	bool automatic;        /* reason automatic or drain */
	uint64_t started_usec; /* wall clock: planned */
	uint64_t ended_usec;   /* wall clock: final phase entered; 0 while active */
	double downtime_sec;   /* when done */
} SchedMigration;

typedef struct SchedView {
	SchedNode *nodes;
	size_t n_nodes;
	SchedMigration *migrations; /* any order */
	size_t n_migrations;
} SchedView;

void sched_view_done(SchedView *v); /* frees everything it holds */
void sched_node_done(SchedNode *n); /* frees what one node holds */

/* ---- decisions ---- */

typedef enum SchedNodeState {
	SCHED_NODE_OK,
	SCHED_NODE_STALE,      /* no fresh sample: ignored */
	SCHED_NODE_OVERLOADED, /* at least one resource */
	SCHED_NODE_DRAINED,
	_SCHED_NODE_STATE_MAX,
} SchedNodeState;

typedef struct SchedVerdict {
	const char *node; /* points into the view */
	SchedNodeState state;
	bool overloaded[SCHED_RESOURCES];
	bool predicted[SCHED_RESOURCES];   /* overloaded by the predictive trigger alone */
	double threshold[SCHED_RESOURCES]; /* effective, percent */
	/* the newest samples, up to the window, oldest first */
	double window[SCHED_RESOURCES][SCHED_SAMPLES_MAX];
	size_t n_window;
	/* newest samples in a row above the threshold (within the consecutive walk) */
	unsigned run[SCHED_RESOURCES];
	/* max over resources of newest percent − threshold (ordering of decisions) */
	double severity;
} SchedVerdict;

typedef enum SchedOutcome {
	SCHED_OUTCOME_MIGRATE,      /* moves below */
	SCHED_OUTCOME_NOTHING_FITS, /* candidates, but no target can take them */
	SCHED_OUTCOME_NO_CANDIDATE, /* nothing on the node may move */
	SCHED_OUTCOME_DEFERRED,     /* cooldown or concurrency: later */
	_SCHED_OUTCOME_MAX,
} SchedOutcome;

typedef struct SchedCandidate {
	const char *container; /* points into the view */
	double demand[SCHED_RESOURCES];
	double cost_sec;     /* estimated transfer + downtime */
	const char *skipped; /* why it is not a candidate (static text); NULL if it is */
	bool selected;
} SchedCandidate;

typedef struct SchedMove {
	const char *container; /* points into the view */
	const char *target;
	double transfer_sec; /* memory ÷ bandwidth estimate */
} SchedMove;

typedef struct SchedDecision {
	const char *node; /* the node acted on; points into the view */
	bool drain;       /* triggered by a drain, not by load */
	/* trigger: the first overloaded resource (by severity), its threshold and window;
	 * the verdict has all of them */
	PlacementResource resource;
	const SchedVerdict *verdict;
	SchedOutcome outcome;
	char *why; /* one readable sentence: what triggered, what was chosen or why nothing */
	SchedCandidate *candidates; /* every container of the node; none when DEFERRED */
	size_t n_candidates;
	SchedMove *moves;
	size_t n_moves;
	/* share of the excess over threshold − margin that the moves remove: the minimum over
	 * the overloaded resources, 1 when fully relieved (drains: 0) */
	double relief;
	/* drains: migratable containers left for later plans (no free slot, or did not fit) */
	size_t n_remaining;
	/* placement of the moves (when a solver ran) */
	bool placed;
	PlacementSolver solver;
	PlacementStatus status;
	PlacementScore score;
	double solve_ms;
} SchedDecision;

typedef struct SchedPlan {
	SchedVerdict *verdicts; /* one per node of the view, same order */
	size_t n_verdicts;
	SchedDecision *decisions; /* nodes that are overloaded or drained: drained first, then
	                           * the most severe first (the order they were decided in) */
	size_t n_decisions;
	unsigned active_migrations; /* under way in the cluster */
} SchedPlan;

const char *sched_outcome_to_string(SchedOutcome o);
const char *sched_node_state_to_string(SchedNodeState s);

/* The plan for `view` under `policy` at wall-clock `now_usec`. The plan points into the
 * view: free the plan first. 0, -EINVAL on an invalid policy or view (NULL names, non-finite
 * or negative numbers, capacity ≤ 0, interval 0, thresholds outside (0, 100], window outside
 * 1..SCHED_SAMPLES_MAX, duplicate node names), -ENOMEM. */
int sched_decide(const SchedView *view, const SchedPolicy *policy, uint64_t now_usec,
                 SchedPlan **ret);
SchedPlan *sched_plan_free(SchedPlan *p);
static inline void sched_plan_freep(SchedPlan **p)
{
	sched_plan_free(*p);
}
#define _cleanup_sched_plan_ __attribute__((cleanup(sched_plan_freep)))

/* A decision as the JSON document stored at <prefix>decisions/<id> (docs/etcd-keys.md):
 * id, time, node, trigger (resource, threshold, window samples, or drain), outcome, why,
 * candidates (with why skipped), moves, solver, status, objective and its parts. */
int sched_decision_to_json(const SchedDecision *d, const char *id, uint64_t now_usec, json_t **ret);
