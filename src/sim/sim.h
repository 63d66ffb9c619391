/* sim.h — the simulator room: a discrete-time cluster fed by per-container traces, under one
 * of several rebalancing policies, measured the same way for each.
 *
 * The model, step by step (one step = `step_usec`, the agents' sampling interval):
 *
 * 1. Migrations whose end has come finish: the container runs on the target from then on.
 *    A migration of M MiB started at t keeps the container running on the source until
 *    t + total(M) − downtime(M), down (no load anywhere) until t + total(M), then on the
 *    target. total() and downtime() interpolate measured points per mode (SimTiming).
 *    An eviction (descheduler) puts the container on its new node at once, down for
 *    `restart_sec`; the work it did since its last start is lost.
 * 2. Every container's demand is its trace's sample at (its random time offset + t) ÷ trace
 *    step, wrapping around (the offsets are not whole trace steps, so containers change load
 *    at different instants): CPU% × container_cpu cores, MEM% × container_memory bytes.
 * 3. Node loads are the sums over the containers running there; each node gets a sample
 *    (percent of capacity) as an agent would publish it.
 * 4. Metrics (SimResult) are taken on those loads.
 * 5. The policy acts on what it sees: podmig's variants call sched_decide() of the scheduler
 *    library with a view built from the simulated cluster and start the moves it plans;
 *    the baselines are written here.
 *
 * Everything random derives from `seed`: the same configuration gives the same result.
 * With an explicit placement (SimConfig.placement) nothing is random. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error-util.h"
#include "scheduler.h"

/* ---- traces ---- */

typedef struct SimTrace {
	char *name; /* file name */
	size_t n;
	float *cpu; /* percent of the container's CPU size, per sample */
	float *mem; /* percent of its memory size */
} SimTrace;

typedef struct SimTraceSet {
	SimTrace *traces;
	size_t n;
} SimTraceSet;

/* Limits on what a trace directory may hold. */
#define SIM_TRACE_FILES_MAX   1000000u
#define SIM_TRACE_SAMPLES_MAX 10000000u
#define SIM_PERCENT_MAX       10000.0

/* One trace from text: one sample per line, "CPU% MEM%" or "CPU%" alone (then MEM% is
 * `mem_percent`; NAN: two columns are required). Blank lines and lines starting with '#' are
 * skipped. 0, or -EINVAL with the line named in *err. */
int sim_trace_parse(const char *text, const char *name, double mem_percent, SimTrace *ret,
                    ErrorDetail *err);
void sim_trace_done(SimTrace *t);
/* Every regular file of `dir` not starting with '.', in name order. */
int sim_traces_load(const char *dir, double mem_percent, SimTraceSet **ret, ErrorDetail *err);
SimTraceSet *sim_trace_set_free(SimTraceSet *s);
static inline void sim_trace_set_freep(SimTraceSet **s)
{
	sim_trace_set_free(*s);
}
#define _cleanup_sim_trace_set_ __attribute__((cleanup(sim_trace_set_freep)))

/* ---- migration timing ---- */

typedef enum SimMode {
	SIM_MODE_PODMIG, /* podmig migrate: agents stream the checkpoint */
	SIM_MODE_MANUAL, /* checkpoint --export, copy, restore --import */
	_SIM_MODE_MAX,
} SimMode;

#define SIM_TIMING_POINTS_MAX 16

typedef struct SimTimingPoint {
	double mib;          /* memory of the container */
	double downtime_sec; /* it does not run */
	double total_sec;    /* start to running on the target */
} SimTimingPoint;

/* Piecewise linear through the points (by memory), extended by the first and the last
 * segment; one point: proportional to memory. */
typedef struct SimTiming {
	SimTimingPoint p[SIM_TIMING_POINTS_MAX];
	size_t n;
} SimTiming;

const char *sim_mode_to_string(SimMode m);
int sim_mode_from_string(const char *s);
/* bench/README.md, "Migration": medians of 3 runs at 64, 512 and 1024 MiB. */
void sim_timing_default(SimMode m, SimTiming *ret);
/* "MiB:downtime:total,..." (seconds), memory strictly increasing, downtime ≤ total. */
int sim_timing_parse(const char *s, SimTiming *ret, ErrorDetail *err);
void sim_timing_eval(const SimTiming *t, double mib, double *ret_downtime, double *ret_total);

/* ---- policies ---- */

typedef enum SimPolicyKind {
	SIM_POLICY_NONE,         /* nothing moves */
	SIM_POLICY_INCUS,        /* busiest → least busy, one instance per interval */
	SIM_POLICY_DESCHEDULER,  /* LowNodeUtilization: evictions, restarts */
	SIM_POLICY_LEAST_LOADED, /* the scheduler library, solver least-loaded */
	SIM_POLICY_PODMIG,       /* the scheduler library, the policy as given (ant colony) */
	SIM_POLICY_PREDICTIVE,   /* the same with the predictive trigger */
	_SIM_POLICY_MAX,
} SimPolicyKind;

const char *sim_policy_to_string(SimPolicyKind k);
int sim_policy_from_string(const char *s);

/* An explicit initial placement: container i follows trace `trace` from its first sample
 * and starts on node `node`. */
typedef struct SimPlacement {
	uint32_t trace, node;
} SimPlacement;

typedef struct SimConfig {
	size_t n_nodes, n_containers;
	double node_cpu, node_memory, node_bandwidth; /* cores, bytes, bytes/s */
	double container_cpu, container_memory;       /* what 100 % of a trace means */
	uint64_t trace_step_usec;                     /* time between two trace samples */
	uint64_t step_usec;                           /* simulation step = sampling interval */
	uint64_t duration_usec;
	uint64_t seed;
	/* NULL: containers draw their trace and time offset, and are spread evenly (sim_run());
	 * else n_containers entries, offsets 0 */
	const SimPlacement *placement;
	bool hold_last; /* after its last sample a trace holds it (tracehog), else wraps around */
	SimTiming timing[_SIM_MODE_MAX];
	double restart_sec; /* an evicted container's downtime */
	/* podmig's policy (the simulator does not own its overrides) */
	const SchedPolicy *policy;
	unsigned predict_samples; /* the predictive variant's horizon */
	/* Incus: cluster.rebalance.interval and .threshold (percentage points between the
	 * busiest and the least busy node) */
	uint64_t incus_interval_usec;
	double incus_threshold;
	/* descheduler LowNodeUtilization: run interval, thresholds and targetThresholds
	 * (percent, CPU then memory) */
	uint64_t descheduler_interval_usec;
	double descheduler_low[2], descheduler_target[2];
} SimConfig;

/* Bounds on the time axis: a step (and a trace step) at most a day, at most this many steps. */
#define SIM_STEP_USEC_MAX (86400ull * 1000000ull)
#define SIM_STEPS_MAX     10000000u

/* Defaults for a cluster of n_nodes (documented in podmig-sim --help). */
void sim_config_init(SimConfig *c, const SchedPolicy *policy, size_t n_nodes);

/* A move a policy started: a migration, or an eviction (the container restarts there). */
typedef struct SimMove {
	double t_sec; /* since the start */
	uint32_t container, source, target;
	bool eviction;
} SimMove;

typedef struct SimResult {
	SimPolicyKind kind;
	size_t n_steps;
	double overload_node_sec;       /* a resource above 100 % of capacity */
	double over_threshold_node_sec; /* a resource above the policy's threshold */
	unsigned migrations;
	double gib_moved;
	double downtime_sec; /* of migrations */
	unsigned restarts;
	double lost_core_sec;          /* CPU work evicted containers had done since their start */
	double spread_cpu, spread_mem; /* mean over steps of the std dev of node utilisation, % */
	double decide_ms_total, decide_ms_max; /* the policy's time per step */
	unsigned *overloaded;                  /* per step: nodes above 100 % */
	unsigned *over_threshold;
	SimMove *moves; /* in the order they started */
	size_t n_moves;
} SimResult;

void sim_result_done(SimResult *r);

/* One policy over the whole duration. 0, -EINVAL (bad configuration, message in err), or
 * -ENOMEM. */
int sim_run(const SimConfig *c, const SimTraceSet *traces, SimPolicyKind kind, SimResult *ret,
            ErrorDetail *err);
