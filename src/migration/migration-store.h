/* migration-store.h — migration records in etcd. A record lives at
 * <prefix>migrations/<id>; while it is not final, <prefix>locks/containers/
 * <container> names it, so a second migration of the same container is
 * refused. Creating the record takes the lock and entering a final phase
 * releases it, each in the same transaction; every change is a
 * compare-and-swap on the record's mod_revision, so two parties can never
 * both move it. The order that authorizes a migration (migration-order.h)
 * lives at <prefix>orders/<id> under a lease of its own. The keys are
 * described in docs/etcd-keys.md. */
#pragma once

#include "etcd.h"
#include "migration-order.h"
#include "migration-record.h"

/* Stores a new record and takes the container's lock, both or neither:
 * -EBUSY if another migration of the container is under way (its id in
 * *ret_holder if given, caller frees), -EEXIST if the id exists. Sets
 * rec->mod_revision. */
int migration_record_create(EtcdClient *c, const char *prefix, MigrationRecord *rec,
                            char **ret_holder);
/* ETCD_NOT_FOUND if there is no such record. */
int migration_record_load(EtcdClient *c, const char *prefix, const char *id, MigrationRecord *ret);
/* Moves rec to phase `to` (migration_record_step()) with a compare-and-swap
 * on rec->mod_revision; a final phase
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

/* Writes order `o` at <prefix>orders/<id>, under a new lease of ttl_sec
 * (MIGRATION_ORDER_TTL_SEC) that nobody renews; only if the key is new
 * (-EEXIST otherwise). Sets o->lease. Everything that calls an agent's
 * Migrate (the CLI, the scheduler, tests, benches) issues its order with
 * this first, and passes o->id as the request's order_id. */
int migration_order_issue(EtcdClient *c, const char *prefix, MigrationOrder *o, int64_t ttl_sec);
/* The live order `id`: -EPERM with the reason in why (size bytes) if there
 * is none, it does not parse, or its key holds no lease (an order outlives
 * nobody); another negative errno if etcd cannot be read. */
int migration_order_load(EtcdClient *c, const char *prefix, const char *id, MigrationOrder *ret,
                         char *why, size_t size);
/* What a target (Receive) and a source serving an image (FetchImage) check
 * before they act on record `rec`: a live order of the record's id names
 * its container, source and target. -EPERM with the reason in why
 * otherwise. */
int migration_order_verify(EtcdClient *c, const char *prefix, const MigrationRecord *rec, char *why,
                           size_t size);
