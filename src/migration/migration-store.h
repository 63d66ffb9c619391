/* migration-store.h — migration records in etcd. A record lives at
 * <prefix>migrations/<id>; while it is not final, <prefix>locks/containers/
 * <container> names it, so a second migration of the same container is
 * refused. Creating the record takes the lock and entering a final phase
 * releases it, each in the same transaction; every change is a
 * compare-and-swap on the record's mod_revision, so two parties can never
 * both move it. The keys are described in docs/etcd-keys.md. */
#pragma once

#include "etcd.h"
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
