/* recovery.c — the recovery rules (see recovery.h). */
#include "recovery.h"

#include "macro.h"
#include "string-table.h"

static RecoveryAction decide_source(MigrationPhase phase, LocalState local, bool stopped)
{
	switch (phase) {
	case MIGRATION_PLANNED:
		/* The container was never stopped. */
		return RECOVERY_MARK_FAILED;
	case MIGRATION_CHECKPOINTING:
	case MIGRATION_TRANSFERRING:
		/* Ours to decide, and nothing runs on the target yet. */
		return RECOVERY_ROLL_BACK;
	case MIGRATION_RESTORING:
		return RECOVERY_WAIT;
	case MIGRATION_DONE:
		/* The migration left our copy stopped: a running container is
		 * never removed on a record's word. */
		return local == LOCAL_STOPPED ? RECOVERY_REMOVE_LOCAL : RECOVERY_NOTHING;
	case MIGRATION_ROLLED_BACK:
	case MIGRATION_FAILED:
		/* Bring back only a container this migration stopped: one that
		 * stopped by itself stays stopped. */
		return local == LOCAL_STOPPED && stopped ? RECOVERY_RESTORE_LOCAL
		                                         : RECOVERY_NOTHING;
	default:
		return RECOVERY_NOTHING;
	}
}

static RecoveryAction decide_target(MigrationPhase phase, LocalState local, bool restore_began)
{
	switch (phase) {
	case MIGRATION_RESTORING:
		return local == LOCAL_RUNNING ? RECOVERY_COMMIT : RECOVERY_DISCARD;
	case MIGRATION_ROLLED_BACK:
	case MIGRATION_FAILED:
		/* Only a copy this migration may have made is ours to remove. */
		return restore_began && local != LOCAL_ABSENT ? RECOVERY_REMOVE_LOCAL
		                                              : RECOVERY_NOTHING;
	case MIGRATION_DONE:
		return RECOVERY_NOTHING;
	default:
		/* planned..transferring: the source decides */
		return RECOVERY_WAIT;
	}
}

RecoveryAction recovery_decide(RecoveryRole role, MigrationPhase phase, LocalState local,
                               bool stopped_by_migration, bool restore_began)
{
	return role == RECOVERY_SOURCE ? decide_source(phase, local, stopped_by_migration)
	                               : decide_target(phase, local, restore_began);
}

RecoveryAction recovery_decide_mode(RecoveryRole role, MigrationMode mode, MigrationPhase phase,
                                    LocalState local, bool stopped_by_migration, bool restore_began)
{
	RecoveryAction a = recovery_decide(role, phase, local, stopped_by_migration, restore_began);
	return mode == MIGRATION_MODE_POST_COPY && a == RECOVERY_COMMIT ? RECOVERY_DISCARD : a;
}

bool recovery_keep_pages(MigrationPhase phase, LocalState local, bool restore_tried)
{
	if (!migration_phase_is_final(phase))
		return true;
	return (phase == MIGRATION_ROLLED_BACK || phase == MIGRATION_FAILED) &&
	       local == LOCAL_STOPPED && !restore_tried;
}

static const char *const recovery_action_table[_RECOVERY_ACTION_MAX] = {
	[RECOVERY_WAIT] = "wait",
	[RECOVERY_NOTHING] = "nothing",
	[RECOVERY_MARK_FAILED] = "mark-failed",
	[RECOVERY_ROLL_BACK] = "roll-back",
	[RECOVERY_RESTORE_LOCAL] = "restore-local",
	[RECOVERY_REMOVE_LOCAL] = "remove-local",
	[RECOVERY_COMMIT] = "commit",
	[RECOVERY_DISCARD] = "discard",
};
DEFINE_STRING_TABLE_LOOKUP_TO_STRING(recovery_action, RecoveryAction);

OutageAction recovery_decide_outage(const SourceOutage *o)
{
	if (!o->stopped)
		return OUTAGE_NOTHING;
	if (o->last_phase != MIGRATION_CHECKPOINTING && o->last_phase != MIGRATION_TRANSFERRING)
		return OUTAGE_WAIT;
	/* Once the trailer may have reached the target, it may commit: only
	 * the record can say whether it did. */
	if (o->final_trailer_sent)
		return OUTAGE_WAIT;
	return o->waited_usec >= o->bound_usec ? OUTAGE_RESUME_HERE : OUTAGE_WAIT;
}

static const char *const outage_action_table[_OUTAGE_ACTION_MAX] = {
	[OUTAGE_WAIT] = "wait",
	[OUTAGE_RESUME_HERE] = "resume-here",
	[OUTAGE_NOTHING] = "nothing",
};
DEFINE_STRING_TABLE_LOOKUP_TO_STRING(outage_action, OutageAction);
