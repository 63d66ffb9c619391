/* agent-recover.c — finishing this node's side of migrations nobody is
 * driving any more: the agent restarted (kill -9, crash, reboot) or a
 * handler gave up waiting. The record in etcd decides, under the rules of
 * docs/etcd-keys.md ("Who may move a record"), as recovery_decide()
 * (src/migration/recovery.h, unit-tested there) says:
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
 * is decided (a stopped container stays stopped, but for the source's
 * bounded wait of docs/etcd-keys.md, "etcd outage"). Only the newest record of
 * each container counts, so an old record never undoes a later migration.
 *
 * A record is a claim (anyone who may write etcd may write one), so
 * recovery acts only on migrations this node took part in, by its own
 * evidence (agent_evidence_has(): written before the source stops the
 * container or the target receives it, removed once the migration is
 * settled here), and never removes a running source copy. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent-internal.h"
#include "agent-migrate.h"
#include "log.h"
#include "migration-store.h"
#include "recovery.h"
#include "strutil.h"

#define RECOVERY_INTERVAL_USEC (5 * USEC_PER_SEC)
/* Final records older than this are history: at start, only newer ones are
 * checked for a side effect (remove / restore) a crash may have cut short. */
#define RECOVERY_HORIZON_MS (24 * 3600 * 1000ULL)

/* The container's state here; negative if Podman cannot say (then nothing
 * is decided this round). */
static int local_state(Agent *a, const char *name, LocalState *ret)
{
	PodmanContainerInspect ins = {};
	int r = podman_container_inspect(a->podman, name, &ins, NULL);
	if (r >= 0)
		*ret = ins.running ? LOCAL_RUNNING : LOCAL_STOPPED;
	else if (r == PODMAN_NOT_FOUND) {
		*ret = LOCAL_ABSENT;
		r = 0;
	}
	podman_container_inspect_done(&ins);
	return r;
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

static void restore_try(Agent *a, const MigrationRecord *rec)
{
	PodmanError e = {};
	ErrorDetail pages = {};
	if (rec->mode == MIGRATION_MODE_POST_COPY) {
		/* its pages stayed in the dump, which resumes the container when
		 * it fails; the checkpoint alone would restore zeros */
		log_error("recovery of %s: %s is stopped on %s and cannot be restored: a post-copy "
		          "checkpoint holds no memory pages",
		          rec->id, rec->container, a->config->node_name);
		return;
	}
	/* a page-server dump sent the pages away: what the relay recorded of
	 * them goes back into the kept checkpoint first */
	if (agent_pages_replay(a, rec->id, rec->container, &pages) < 0)
		log_error("recovery of %s: %s could not be restored on %s: %s", rec->id,
		          rec->container, a->config->node_name, pages.message);
	else if (podman_container_restore_local(a->podman, rec->container, NULL, &e) < 0)
		log_error("recovery of %s: %s could not be restored on %s: %s", rec->id,
		          rec->container, a->config->node_name, e.message);
	else
		log_notice("recovery of %s: %s runs on %s again", rec->id, rec->container,
		           a->config->node_name);
}

/* Tries once to restore the container stopped here for the rolled-back
 * `rec`; either way the rollback is settled here then: its recorded pages
 * and the evidence go (recovery_keep_pages()), so a restore that failed is
 * not retried (its log says why). */
static void restore_here(Agent *a, const MigrationRecord *rec)
{
	restore_try(a, rec);
	if (!recovery_keep_pages(MIGRATION_ROLLED_BACK, LOCAL_STOPPED, true))
		agent_pages_forget(a, rec->id);
	agent_evidence_remove(a, rec->id);
}

static void remove_here(Agent *a, const MigrationRecord *rec, LocalState local, const char *why)
{
	PodmanError e = {};
	if (local == LOCAL_ABSENT)
		return;
	if (local == LOCAL_RUNNING)
		log_error("recovery of %s: %s is running on %s although %s; removing this copy",
		          rec->id, rec->container, a->config->node_name, why);
	if (podman_container_remove(a->podman, rec->container, true, &e) < 0)
		log_error("recovery of %s: cannot remove %s from %s: %s", rec->id, rec->container,
		          a->config->node_name, e.message);
	else
		log_notice("recovery of %s: removed the copy of %s on %s (%s)", rec->id,
		           rec->container, a->config->node_name, why);
}

/* Carries out recovery_decide() for this node's part in `rec`. */
static void recover_one(Agent *a, MigrationRecord *rec)
{
	bool source = streq(rec->source, a->config->node_name);
	LocalState local;
	char why[256];

	if (agent_migration_active(a, rec->id))
		return;
	if (!source && !streq(rec->target, a->config->node_name))
		return;
	/* Only a migration this node took part in, by its own evidence: a
	 * record anyone may have written is no reason to touch a container. */
	if (!agent_evidence_has(a, rec->id)) {
		log_debug("recovery: ignoring %s (%s %s → %s): no evidence here that %s took part",
		          rec->id, rec->container, rec->source, rec->target, a->config->node_name);
		return;
	}
	if (local_state(a, rec->container, &local) < 0)
		return; /* Podman unreachable: next round */
	RecoveryAction act = recovery_decide_mode(source ? RECOVERY_SOURCE : RECOVERY_TARGET,
	                                          rec->mode, rec->phase, local,
	                                          rec->phase_time_ms[MIGRATION_CHECKPOINTING] != 0,
	                                          rec->phase_time_ms[MIGRATION_RESTORING] != 0);
	if (act == RECOVERY_NOTHING && migration_phase_is_final(rec->phase)) {
		/* settled here: no restore will be tried (recovery_keep_pages()) */
		agent_pages_forget(a, rec->id);
		agent_evidence_remove(a, rec->id);
		return;
	}
	switch (act) {
	case RECOVERY_MARK_FAILED:
		(void)advance(a, rec, MIGRATION_FAILED,
		              "the source agent stopped before the checkpoint");
		break;
	case RECOVERY_ROLL_BACK:
		/* running here: the source resumed it through an etcd outage
		 * (or stopped before the checkpoint stopped it) */
		snprintf(why, sizeof why,
		         local == LOCAL_RUNNING ? "the source's handler ended while %s; the "
		                                  "container runs on the source"
		                                : "the source agent stopped while %s",
		         migration_phase_to_string(rec->phase));
		if (advance(a, rec, MIGRATION_ROLLED_BACK, why) < 0)
			break;
		if (local == LOCAL_STOPPED)
			restore_here(a, rec);
		else if (!recovery_keep_pages(MIGRATION_ROLLED_BACK, local, false)) {
			/* settled here: it runs (or is gone), nothing to restore */
			agent_pages_forget(a, rec->id);
			agent_evidence_remove(a, rec->id);
		}
		break;
	case RECOVERY_RESTORE_LOCAL:
		restore_here(a, rec);
		break;
	case RECOVERY_REMOVE_LOCAL:
		remove_here(a, rec, local,
		            rec->phase == MIGRATION_DONE ? "it moved to its target"
		                                         : "the migration was rolled back");
		break;
	case RECOVERY_COMMIT:
		(void)advance(a, rec, MIGRATION_DONE,
		              "the target agent stopped after the restore; the copy runs");
		break;
	case RECOVERY_DISCARD:
		remove_here(a, rec, local,
		            rec->mode == MIGRATION_MODE_POST_COPY
		                    ? "its lazy-pages daemon died with the target agent"
		                    : "its restore did not finish");
		(void)advance(a, rec, MIGRATION_ROLLED_BACK,
		              rec->mode == MIGRATION_MODE_POST_COPY
		                      ? "the target agent stopped before every page arrived"
		                      : "the target agent stopped before the restore finished");
		break;
	default:
		break;
	}
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
		migration_record_clear(&rec);
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
