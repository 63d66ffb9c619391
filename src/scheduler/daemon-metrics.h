/* daemon-metrics.h — what podmig-scheduler tells Prometheus (docs/metrics.md):
 * whether it leads, the policy in force, each tick's node states and decision
 * time, its decisions by outcome, the migrations it started and how they
 * ended, and its etcd and gRPC errors; served on --metrics-address by
 * src/metrics. Without an address every call does nothing. */
#pragma once

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "daemon.h"
#include "scheduler.h"

typedef struct SchedulerMetrics SchedulerMetrics;

/* `leading` is read at every scrape. */
int scheduler_metrics_new(const SchedulerConfig *c, const atomic_bool *leading,
                          SchedulerMetrics **ret);
SchedulerMetrics *scheduler_metrics_free(SchedulerMetrics *m);
/* The port of its /metrics endpoint; 0 without one. */
int scheduler_metrics_get_port(const SchedulerMetrics *m);
/* A tick: the policy's revision (0: defaults); while leading, the plan (NULL
 * if deciding failed) and how long building the view and deciding took. */
void scheduler_metrics_tick(SchedulerMetrics *m, int64_t policy_revision, const SchedPlan *plan,
                            double decide_sec);
/* A decision stored (and acted on unless observing). */
void scheduler_metrics_decision(SchedulerMetrics *m, const SchedDecision *d, bool observe);
void scheduler_metrics_migration_started(SchedulerMetrics *m, bool drain);
/* How a started migration ended for its driver: the last phase the source
 * reported ("" if none: the source refused it). */
void scheduler_metrics_migration_ended(SchedulerMetrics *m, const char *phase);
