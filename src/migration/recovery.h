/* recovery.h — what a party does with a migration nobody drives any more
 * (its agent restarted), as a pure decision so the rules are tested on
 * their own. The agent (src/agent/agent-recover.c) carries it out.
 *
 * The record's phase decides who may act, under the rules of
 * docs/etcd-keys.md ("Who may move a record"). */
#pragma once

#include <stdbool.h>

#include "migration-record.h"

typedef enum RecoveryRole {
	RECOVERY_SOURCE,
	RECOVERY_TARGET,
} RecoveryRole;

/* The container on this node: running, there but stopped, or not there. */
typedef enum LocalState {
	LOCAL_RUNNING,
	LOCAL_STOPPED,
	LOCAL_ABSENT,
} LocalState;

typedef enum RecoveryAction {
	RECOVERY_WAIT,          /* the other party decides; look again later */
	RECOVERY_NOTHING,       /* all is as the record says */
	RECOVERY_MARK_FAILED,   /* record → failed (nothing was stopped) */
	RECOVERY_ROLL_BACK,     /* record → rolled-back, then restore the local copy */
	RECOVERY_RESTORE_LOCAL, /* the record gives it to us: restore our stopped copy */
	RECOVERY_REMOVE_LOCAL,  /* the record gives it away: remove our copy */
	RECOVERY_COMMIT,        /* record → done: our restored copy runs */
	RECOVERY_DISCARD,       /* remove our partial copy (if any), record → rolled-back */
	_RECOVERY_ACTION_MAX,
} RecoveryAction;

/* `stopped_by_migration`: the record shows the source's container was
 * checkpointed (a checkpointing time); `restore_began`: it shows a restoring
 * time. */
RecoveryAction recovery_decide(RecoveryRole role, MigrationPhase phase, LocalState local,
                               bool stopped_by_migration, bool restore_began);

const char *recovery_action_to_string(RecoveryAction a);
