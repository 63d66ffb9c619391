/* migration-record.h — the migration record: the single source of truth for
 * one migration, stored as JSON at <prefix>migrations/<id> in etcd.
 *
 * A record moves through phases
 *
 *     planned → checkpointing → transferring → restoring → done
 *                    ↘              ↘              ↘
 *                      rolled-back (the container runs on the source again)
 *     any non-final phase → failed (nothing could be done, or a rollback
 *                                   itself failed; `error` says what)
 *
 * and every change is a compare-and-swap on the record's etcd mod_revision,
 * so two parties (say, the target committing and the source rolling back)
 * can never both succeed. While a migration is not final, a lock key
 * <prefix>locks/containers/<container> names it: a second migration of the
 * same container is refused. Creating the record takes the lock and entering
 * a final phase releases it, each in the same transaction.
 *
 * Encoding and the transition rules are pure; the etcd functions use
 * src/etcd. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "etcd.h"

typedef enum MigrationPhase {
	MIGRATION_PLANNED,
	MIGRATION_CHECKPOINTING,
	MIGRATION_TRANSFERRING,
	MIGRATION_RESTORING,
	MIGRATION_DONE,
	MIGRATION_ROLLED_BACK,
	MIGRATION_FAILED,
	_MIGRATION_PHASE_MAX,
} MigrationPhase;

typedef enum MigrationReason {
	MIGRATION_REASON_MANUAL,
	MIGRATION_REASON_AUTOMATIC,
	MIGRATION_REASON_DRAIN,
	_MIGRATION_REASON_MAX,
} MigrationReason;

typedef enum MigrationMode {
	MIGRATION_MODE_STOP_AND_COPY,
	MIGRATION_MODE_PRE_COPY,
	_MIGRATION_MODE_MAX,
} MigrationMode;

#define MIGRATION_ID_MAX 64
/* Upper bounds for names that reach etcd keys and logs. */
#define MIGRATION_NAME_MAX 253

typedef struct MigrationRecord {
	char id[MIGRATION_ID_MAX];
	/* the scheduler's decision that started it (<prefix>decisions/<id>);
	 * empty for a manual migration */
	char decision[MIGRATION_ID_MAX];
	char *container;
	char *source;
	char *target;
	char *image; /* may be NULL until the source knows it */
	char *error; /* NULL unless rolled back or failed */
	MigrationReason reason;
	MigrationMode mode;
	MigrationPhase phase;
	uint64_t phase_time_ms[_MIGRATION_PHASE_MAX]; /* wall clock when entered; 0: never */
	uint64_t bytes;                               /* archive bytes moved */
	uint64_t downtime_ms;                         /* container stopped → running again */
	int64_t mod_revision;                         /* etcd's, for the next CAS; not stored */
} MigrationRecord;

const char *migration_phase_to_string(MigrationPhase p);
int migration_phase_from_string(const char *s); /* phase or -EINVAL */
const char *migration_reason_to_string(MigrationReason r);
int migration_reason_from_string(const char *s);
const char *migration_mode_to_string(MigrationMode m);
int migration_mode_from_string(const char *s);

bool migration_phase_is_final(MigrationPhase p);
/* Whether a record in `from` may move to `to` (see the diagram above). */
bool migration_phase_can_advance(MigrationPhase from, MigrationPhase to);

/* Names podmig accepts for containers and nodes: 1..253 bytes of
 * [A-Za-z0-9_.-], starting with an alphanumeric (Podman's own rule). */
bool migration_name_valid(const char *s);
/* Ids of records and decisions: a valid name shorter than MIGRATION_ID_MAX. */
bool migration_id_valid(const char *s);

/* Fills a new record in phase `planned` with a fresh id (time-ordered, so
 * keys sort oldest first). Copies the strings. */
int migration_record_init(MigrationRecord *rec, const char *container, const char *source,
                          const char *target, MigrationReason reason, uint64_t now_ms);
void migration_record_done(MigrationRecord *rec); /* frees the strings */

int migration_record_to_json(const MigrationRecord *rec, char **ret);
/* Strict: every required field present with the right type and a known
 * value; -EBADMSG otherwise. *ret is untouched on failure. */
int migration_record_from_json(const char *text, size_t size, MigrationRecord *ret);

/* ---- in etcd ---- */

/* Stores a new record and takes the container's lock, both or neither:
 * -EBUSY if another migration of the container is under way (its id in
 * *ret_holder if given, caller frees), -EEXIST if the id exists. Sets
 * rec->mod_revision. */
int migration_record_create(EtcdClient *c, const char *prefix, MigrationRecord *rec,
                            char **ret_holder);
/* ETCD_NOT_FOUND if there is no such record. */
int migration_record_load(EtcdClient *c, const char *prefix, const char *id, MigrationRecord *ret);
/* Moves rec to phase `to` (stamping its time; `error` replaces the error
 * text if given) with a compare-and-swap on rec->mod_revision; a final phase
 * also releases the container's lock. -EINVAL if the rules forbid the move;
 * ETCD_CAS_FAILED if the record changed since it was read (reload and
 * decide again). On success rec is updated, else untouched. */
int migration_record_advance(EtcdClient *c, const char *prefix, MigrationRecord *rec,
                             MigrationPhase to, const char *error, uint64_t now_ms);
/* Writes rec's counters (bytes, downtime, image, mode) without changing its
 * phase, with the same compare-and-swap. */
int migration_record_update(EtcdClient *c, const char *prefix, MigrationRecord *rec);
/* Every record, oldest first. */
int migration_record_list(EtcdClient *c, const char *prefix, MigrationRecord **ret, size_t *ret_n);
void migration_records_free(MigrationRecord *recs, size_t n);
