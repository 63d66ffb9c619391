/* scheduler-internal.h — the pieces of sched_decide() that are worth testing and reading on
 * their own: the trigger walk (trigger.c) and the least-cost set selection (select.c). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "scheduler.h"

/* Microseconds after which a node's newest sample is stale, and beyond which two samples are
 * not consecutive. */
static inline uint64_t sched_stale_usec(const SchedNode *n)
{
	return SCHED_STALE_INTERVALS * n->interval_usec;
}

/* The verdict of one node at `now_usec` (rule 1): thresholds from the policy, the hysteresis
 * walk per resource, the newest samples, the severity. Inputs are valid (checked by
 * sched_decide). */
void sched_verdict_compute(const SchedNode *n, const SchedPolicy *p, uint64_t now_usec,
                           SchedVerdict *ret);

typedef struct SchedSelection {
	bool full;       /* every overloaded resource relieved */
	double fraction; /* min over the resources of relief ÷ excess, capped at 1 */
	double total;    /* sum over the resources of the same */
	double cost;
	size_t size;
} SchedSelection;

/* The set of candidates (demand per resource, cost) of at most `max_size` members, non-empty,
 * that relieves excess[r] for every r with need[r] at the least cost; if none does, the one
 * with the highest relief fraction (ties: the highest total, then the least cost). chosen[] (n
 * entries) is set. Exact for small inputs (SCHED_EXACT_CANDIDATES_MAX, SCHED_SUBSETS_MAX), greedy
 * otherwise. Returns 0 (also with an empty set when n or max_size is 0), -ENOMEM. */
int sched_select_set(const double (*demand)[SCHED_RESOURCES], const double *cost, size_t n,
                     const double excess[SCHED_RESOURCES], const bool need[SCHED_RESOURCES],
                     size_t max_size, bool *chosen, SchedSelection *ret);

/* Relief fraction of total demand `sum` against excess (min over needed resources, capped at
 * 1; 1 when nothing is needed). */
double sched_relief_fraction(const double sum[SCHED_RESOURCES],
                             const double excess[SCHED_RESOURCES],
                             const bool need[SCHED_RESOURCES]);
