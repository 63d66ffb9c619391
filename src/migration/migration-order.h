/* migration-order.h — the order that authorizes one migration. Only those
 * who may start a migration (an operator's `podmig migrate`, the scheduler)
 * write <prefix>orders/<id>, under a short lease, before they call the
 * source agent's Migrate with its id; etcd's role permissions keep agents
 * from writing it. The source uses the order's id as the migration's id
 * (a record is created only once, so an order starts at most one
 * migration) and migrates only what the order says; the target receives
 * (and the source serves an image) only for a record that a live order
 * names with the same container, source and target. A compromised node,
 * which may write records, therefore cannot push a checkpoint into another
 * node on a record it made up. This part is pure: the document, its JSON
 * and the comparisons; migration-store.h keeps it in etcd. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "migration-record.h"
#include "mode-choice.h"

/* An order only has to live until the target has accepted the transfer
 * (a source asks a busy target again for at most 30 s). */
#define MIGRATION_ORDER_TTL_SEC 120
/* Upper bound of `by`: printable ASCII. */
#define MIGRATION_ORDER_BY_MAX 128

typedef struct MigrationOrder {
	char id[MIGRATION_ID_MAX]; /* the migration's id too */
	char container[MIGRATION_NAME_MAX + 1];
	char source[MIGRATION_NAME_MAX + 1];
	char target[MIGRATION_NAME_MAX + 1];
	MigrationReason reason;
	char decision[MIGRATION_ID_MAX]; /* the scheduler's decision; "" for none */
	bool force;                      /* an operator overrides podmig.migrate=false */
	ModeRequest mode;
	char by[MIGRATION_ORDER_BY_MAX + 1]; /* who issued it, e.g. "podmig migrate" */
	uint64_t created_ms;                 /* wall clock */
	int64_t lease;                       /* etcd's lease of the key; not stored */
} MigrationOrder;

/* A new order with a fresh migration id (time-ordered, as records' are):
 * -EINVAL for a name podmig refuses, a decision that is no id, a `by`
 * that is empty, too long or not printable ASCII. */
int migration_order_init(MigrationOrder *ret, const char *container, const char *source,
                         const char *target, MigrationReason reason, const char *decision,
                         bool force, ModeRequest mode, const char *by, uint64_t now_ms);

int migration_order_to_json(const MigrationOrder *o, char **ret);
/* Strict: every field present with the right type and a valid value, no
 * other field; -EBADMSG otherwise (ret untouched). */
int migration_order_from_json(const char *text, size_t size, MigrationOrder *ret);

/* Whether a Migrate request to `source` is what order `o` says; if not,
 * false and the first difference in why (e.g. "it names target node3, the
 * request node2"). */
bool migration_order_matches_request(const MigrationOrder *o, const char *source,
                                     const char *container, const char *target,
                                     MigrationReason reason, const char *decision, bool force,
                                     ModeRequest mode, char *why, size_t size);
/* Whether record `rec` is the migration order `o` started: the same id,
 * container, source and target; why as above. */
bool migration_order_matches_record(const MigrationOrder *o, const MigrationRecord *rec, char *why,
                                    size_t size);
