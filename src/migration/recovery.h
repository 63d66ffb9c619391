/* recovery.h — what a party does with a migration nobody drives any more
 * (its agent restarted), as a pure decision so the rules are tested on
 * their own. The agent (src/agent/agent-recover.c) carries it out.
 *
 * The record's phase decides who may act, under the rules of
 * docs/etcd-keys.md ("Who may move a record"). */
#pragma once

#include <stdbool.h>
#include <stdint.h>

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

/* recovery_decide() for a record of `mode`. A post-copy target never
 * commits on recovery: its lazy-pages daemon died with its agent, so a
 * running copy may lack pages (zeros where they were); it is discarded, and
 * the source, whose dump still holds every page of the frozen container,
 * resumes. */
RecoveryAction recovery_decide_mode(RecoveryRole role, MigrationMode mode, MigrationPhase phase,
                                    LocalState local, bool stopped_by_migration,
                                    bool restore_began);

const char *recovery_action_to_string(RecoveryAction a);

/* Whether the source keeps what its relay recorded of a page-server dump
 * (once the dump sent the pages away, the only copy of the container's
 * memory here). It stays while a restore from it may still be tried: the
 * record is not final (the handler or recovery may still roll back), or it
 * is a rollback whose restore here was not tried yet (the agent died in
 * between; recovery restores at its start). Everything else settles it:
 * done, the container running here or gone, and a restore that was tried,
 * whether it worked or failed (a failed rollback is final: nothing tries it
 * again, and on a tmpfs the recording would hold the container's memory
 * for good). */
bool recovery_keep_pages(MigrationPhase phase, LocalState local, bool restore_tried);

/* What the source's migration handler knows when etcd stops answering after
 * it stopped the container. */
typedef struct SourceOutage {
	MigrationPhase last_phase; /* the last phase it read or wrote */
	bool stopped;              /* it checkpointed (stopped) the container */
	bool final_trailer_sent;   /* the final archive's trailer went to gRPC */
	uint64_t waited_usec;      /* how long etcd has not answered */
	uint64_t bound_usec;       /* how long it waits before acting alone */
} SourceOutage;

typedef enum OutageAction {
	OUTAGE_WAIT,        /* keep the container stopped; ask etcd again */
	OUTAGE_RESUME_HERE, /* cancel the transfer, restore the container here, and
	                       record rolled-back when etcd answers again */
	OUTAGE_NOTHING,     /* nothing stopped here: nothing to bring back */
	_OUTAGE_ACTION_MAX,
} OutageAction;

/* The source may bring its container back without etcd only where the
 * target provably cannot commit. The target enters restoring only after it
 * verified a complete final archive, which ends with the trailer only the
 * source sends: a source that never handed that trailer to gRPC, and
 * cancels its stream, leaves the target nothing to restore, whatever the
 * record says (even a `transferring` write that reached etcd unanswered).
 * A record the source last saw restoring or later is not its to act on.
 * So: resume after bound_usec when the container was stopped here, the last
 * phase seen is checkpointing or transferring and no final trailer was
 * sent; otherwise wait for etcd. Recovery (recovery_decide(), source,
 * checkpointing/transferring, the copy running) then records rolled-back. */
OutageAction recovery_decide_outage(const SourceOutage *o);

const char *outage_action_to_string(OutageAction a);
