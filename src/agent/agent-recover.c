/* agent-recover.c — finishing this node's side of migrations nobody is
 * driving any more: the agent restarted (kill -9, crash, reboot) or a
 * handler gave up waiting. The record in etcd decides, under the same rules
 * as agent-migrate.c:
 *
 *   source, planned                 → failed (nothing was stopped)
 *   source, checkpointing/transferring → rolled-back, restore the kept
 *                                       checkpoint here
 *   source, restoring               → wait: the target decides
 *   source, done                    → remove the stopped copy here
 *   source, rolled-back/failed      → make sure it runs here again
 *   target, restoring               → done if our copy runs, else remove
 *                                     what is there and roll back
 *   target, rolled-back/failed      → make sure no copy is left here
 *
 * Every change of phase is a compare-and-swap; a lost race means the other
 * party acted first, and the next round looks again. Without etcd nothing
 * is decided (a stopped container stays stopped). Only the newest record of
 * each container counts, so an old record never undoes a later migration. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent-internal.h"
#include "log.h"
#include "migration-record.h"
#include "strutil.h"

#define RECOVERY_INTERVAL_USEC (5 * RPC_USEC_PER_SEC)
/* Final records older than this are history: at start, only newer ones are
 * checked for a side effect (remove / restore) a crash may have cut short. */
#define RECOVERY_HORIZON_MS (24 * 3600 * 1000ULL)

static uint64_t wall_ms(void)
{
	return now_usec(CLOCK_REALTIME) / 1000;
}

/* 1 running, 0 exists stopped, -ENOENT absent, other negative: unknown. */
static int local_state(Agent *a, const char *name)
{
	PodmanContainerInspect ins = {};
	int r = podman_container_inspect(a->podman, name, &ins, NULL);
	if (r >= 0)
		r = ins.running ? 1 : 0;
	podman_container_inspect_done(&ins);
	return r == PODMAN_NOT_FOUND ? -ENOENT : r;
}

static void ensure_running_here(Agent *a, const MigrationRecord *rec)
{
	PodmanError e = {};
	int s = local_state(a, rec->container);
	if (s != 0)
		return; /* running, gone, or Podman unreachable (next round) */
	/* Only a container this migration stopped is brought back. */
	if (!rec->phase_time_ms[MIGRATION_CHECKPOINTING])
		return;
	if (podman_container_restore_local(a->podman, rec->container, NULL, &e) < 0)
		log_error("recovery of %s: %s could not be restored on %s: %s", rec->id,
		          rec->container, a->config->node_name, e.message);
	else
		log_notice("recovery of %s: %s runs on %s again", rec->id, rec->container,
		           a->config->node_name);
}

static void ensure_absent_here(Agent *a, const MigrationRecord *rec, const char *why)
{
	PodmanError e = {};
	int s = local_state(a, rec->container);
	if (s < 0)
		return;
	if (s == 1)
		log_error("recovery of %s: %s is running on %s although %s; removing this copy",
		          rec->id, rec->container, a->config->node_name, why);
	if (podman_container_remove(a->podman, rec->container, true, &e) < 0)
		log_error("recovery of %s: cannot remove %s from %s: %s", rec->id, rec->container,
		          a->config->node_name, e.message);
	else
		log_notice("recovery of %s: removed the copy of %s on %s (%s)", rec->id,
		           rec->container, a->config->node_name, why);
}

static int advance(Agent *a, MigrationRecord *rec, MigrationPhase to, const char *why)
{
	int r = migration_record_advance(a->etcd, a->config->prefix, rec, to, why, wall_ms());
	if (r >= 0)
		log_notice("recovery of %s (%s %s → %s): %s: %s", rec->id, rec->container,
		           rec->source, rec->target, migration_phase_to_string(to), why);
	else if (r != ETCD_CAS_FAILED)
		log_warning_errno(r, "recovery of %s: cannot record %s", rec->id,
		                  migration_phase_to_string(to));
	return r;
}

static void recover_source(Agent *a, MigrationRecord *rec)
{
	char why[256];
	switch (rec->phase) {
	case MIGRATION_PLANNED:
		(void)advance(a, rec, MIGRATION_FAILED,
		              "the source agent stopped before the checkpoint");
		return;
	case MIGRATION_CHECKPOINTING:
	case MIGRATION_TRANSFERRING:
		snprintf(why, sizeof why, "the source agent stopped while %s",
		         migration_phase_to_string(rec->phase));
		if (advance(a, rec, MIGRATION_ROLLED_BACK, why) >= 0)
			ensure_running_here(a, rec);
		return;
	case MIGRATION_RESTORING:
		return; /* the target's to decide */
	case MIGRATION_DONE:
		ensure_absent_here(a, rec, "it moved to its target");
		return;
	case MIGRATION_ROLLED_BACK:
	case MIGRATION_FAILED:
		ensure_running_here(a, rec);
		return;
	default:
		return;
	}
}

static void recover_target(Agent *a, MigrationRecord *rec)
{
	switch (rec->phase) {
	case MIGRATION_RESTORING: {
		int s = local_state(a, rec->container);
		if (s == 1) {
			(void)advance(a, rec, MIGRATION_DONE,
			              "the target agent stopped after the restore; the copy runs");
			return;
		}
		if (s == 0 || s == -ENOENT) {
			if (s == 0)
				ensure_absent_here(a, rec, "its restore did not finish");
			(void)advance(a, rec, MIGRATION_ROLLED_BACK,
			              "the target agent stopped before the restore finished");
		}
		return;
	}
	case MIGRATION_ROLLED_BACK:
	case MIGRATION_FAILED:
		if (rec->phase_time_ms[MIGRATION_RESTORING])
			ensure_absent_here(a, rec, "the migration was rolled back");
		return;
	default:
		return; /* before restoring the source decides; done needs nothing */
	}
}

static void recover_one(Agent *a, MigrationRecord *rec)
{
	if (agent_migration_active(a, rec->id))
		return;
	if (streq(rec->source, a->config->node_name))
		recover_source(a, rec);
	else if (streq(rec->target, a->config->node_name))
		recover_target(a, rec);
}

/* Migrations under way: one per container lock. */
static void recover_locked(Agent *a)
{
	_cleanup_free_ char *prefix = NULL;
	EtcdKeyValue *kvs = NULL;
	size_t n = 0;

	if (asprintf(&prefix, "%slocks/containers/", a->config->prefix) < 0)
		return;
	if (etcd_get_prefix(a->etcd, prefix, &kvs, &n, NULL) < 0)
		return; /* etcd unreachable: decide nothing */
	for (size_t i = 0; i < n; i++) {
		MigrationRecord rec;
		if (migration_record_load(a->etcd, a->config->prefix, kvs[i].value, &rec) < 0)
			continue;
		recover_one(a, &rec);
		migration_record_done(&rec);
	}
	etcd_key_values_free(kvs, n);
}

/* At start: also the newest final record of every container this node took
 * part in, for a side effect the crash may have cut short. */
static void recover_all(Agent *a)
{
	MigrationRecord *recs = NULL;
	size_t n = 0;
	uint64_t horizon = wall_ms() - RECOVERY_HORIZON_MS;

	if (migration_record_list(a->etcd, a->config->prefix, &recs, &n) < 0)
		return;
	/* Oldest first: a record counts only if no later one names its container. */
	for (size_t i = 0; i < n; i++) {
		MigrationRecord *rec = &recs[i];
		bool newest = true;
		for (size_t k = i + 1; k < n && newest; k++)
			newest = !streq(recs[k].container, rec->container);
		if (newest && rec->phase_time_ms[MIGRATION_PLANNED] >= horizon)
			recover_one(a, rec);
	}
	migration_records_free(recs, n);
}

void agent_recover(Agent *a, bool all)
{
	a->next_recovery = now_usec(CLOCK_MONOTONIC) + RECOVERY_INTERVAL_USEC;
	if (all)
		recover_all(a);
	else
		recover_locked(a);
}
