/* migration-record.h — the migration record: the single source of truth for
 * one migration, stored as JSON at <prefix>migrations/<id> in etcd
 * (migration-store.h). This part is pure: names, phase rules, JSON.
 *
 * A record moves through phases
 *
 *     planned → checkpointing → transferring → restoring → done
 *                    ↘              ↘              ↘
 *                      rolled-back (the container runs on the source again)
 *     any non-final phase → failed (nothing could be done, or a rollback
 *                                   itself failed; `error` says what)
 *
 * Who may move a record to which phase: docs/etcd-keys.md ("Who may move a
 * record"). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "macro.h"

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
	MIGRATION_MODE_PAGE_SERVER, /* CRIU streams pages to a page server on the target */
	MIGRATION_MODE_POST_COPY,   /* the target runs first; its faults fetch pages (lazy) */
	_MIGRATION_MODE_MAX,
} MigrationMode;

#define MIGRATION_ID_MAX 64
/* An image ID: the SHA-256 of its configuration, in hex. */
#define MIGRATION_IMAGE_ID_LEN 64
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
	/* the image's ID as the source's Podman has it (hex, no "sha256:");
	 * empty until the source knows it. A target loads only an image with
	 * this ID. */
	char image_id[MIGRATION_IMAGE_ID_LEN + 1];
	char *error; /* NULL unless rolled back or failed */
	/* why `mode` is what it is when it is not what was asked for (a
	 * fallback) or was chosen by `auto`; NULL otherwise */
	char *mode_reason;
	MigrationReason reason;
	MigrationMode mode;
	MigrationPhase phase;
	bool forced; /* an operator overrode the container's podmig.migrate=false */
	uint64_t phase_time_ms[_MIGRATION_PHASE_MAX]; /* wall clock when entered; 0: never */
	uint64_t bytes;                               /* archive bytes moved */
	uint64_t downtime_ms;                         /* container stopped → running again */
	/* what the source declared its archives may take on the target
	 * (migration_archive_limit()); 0: nothing declared */
	uint64_t archive_limit;
	int64_t mod_revision; /* etcd's, for the next CAS; not stored */
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
/* An image ID as records hold it: MIGRATION_IMAGE_ID_LEN lowercase hex
 * digits. */
bool migration_image_id_valid(const char *s);
/* `id` with any "sha256:" prefix removed, into ret if it is then a valid
 * image ID; -EINVAL otherwise (ret untouched). */
int migration_image_id_parse(const char *id, char ret[static MIGRATION_IMAGE_ID_LEN + 1]);

/* What a source declares its archives may take, from what Podman will put
 * in them: the container's memory (twice with pre-copy: a pre-dump, then the
 * final dump), the changes to its root filesystem and its log, with half as
 * much again and 64 MiB to spare. The target refuses an archive beyond it.
 * Saturates at UINT64_MAX. */
uint64_t migration_archive_limit(MigrationMode mode, uint64_t memory_bytes,
                                 uint64_t rootfs_diff_bytes, uint64_t log_bytes);

/* A fresh migration id: m-<now_ms>-<random hex>, so ids sort by time. */
int migration_id_new(uint64_t now_ms, char ret[static MIGRATION_ID_MAX]);
/* Fills a new record in phase `planned` with a fresh id (time-ordered, so
 * keys sort oldest first). Copies the strings. */
int migration_record_init(MigrationRecord *rec, const char *container, const char *source,
                          const char *target, MigrationReason reason, uint64_t now_ms);
/* Frees the record's strings and NULLs them; NULL is fine. */
void migration_record_clear(MigrationRecord *rec);

/* The record after a move to phase `to`, stamped at now_ms (`error`
 * replaces the error text if given); -EINVAL if the rules forbid the move.
 * rec is not changed. */
int migration_record_step(const MigrationRecord *rec, MigrationPhase to, const char *error,
                          uint64_t now_ms, MigrationRecord *ret);

int migration_record_to_json(const MigrationRecord *rec, char **ret);
/* Strict: every required field present with the right type and a known
 * value; -EBADMSG otherwise. *ret is untouched on failure. */
int migration_record_from_json(const char *text, size_t size, MigrationRecord *ret);

void migration_records_free(MigrationRecord *recs, size_t n);
