/* migration-store.c — migration records in etcd: create with the lock,
 * load, compare-and-swap, list; migration orders: issue, load, verify (see
 * migration-store.h). */
#include "migration-store.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "strutil.h"

static char *record_key(const char *prefix, const char *id)
{
	char *k;
	return asprintf(&k, "%smigrations/%s", prefix, id) < 0 ? NULL : k;
}

static char *lock_key(const char *prefix, const char *container)
{
	char *k;
	return asprintf(&k, "%slocks/containers/%s", prefix, container) < 0 ? NULL : k;
}

/* What a write of a record needs: its key, its container's lock key and
 * the document to store. */
typedef struct RecordWrite {
	char *key, *lock, *json;
} RecordWrite;

static void record_write_done(RecordWrite *w)
{
	free(w->key);
	free(w->lock);
	free(w->json);
}

/* Keys from `rec`, the document from `doc` (rec itself, or its next state). */
static int record_write_prepare(const char *prefix, const MigrationRecord *rec,
                                const MigrationRecord *doc, RecordWrite *w)
{
	if (!(w->key = record_key(prefix, rec->id)) ||
	    !(w->lock = lock_key(prefix, rec->container)))
		return -ENOMEM;
	return migration_record_to_json(doc, &w->json);
}

int migration_record_create(EtcdClient *c, const char *prefix, MigrationRecord *rec,
                            char **ret_holder)
{
	_cleanup_(record_write_done) RecordWrite w = {};
	int64_t revision = 0;
	int r;

	if ((r = record_write_prepare(prefix, rec, rec, &w)) < 0)
		return r;
	const char *key = w.key, *lock = w.lock, *json = w.json;
	const EtcdCompare cmp[] = {
		{ .key = key, .target = ETCD_COMPARE_CREATE_REVISION, .op = ETCD_EQUAL },
		{ .key = lock, .target = ETCD_COMPARE_CREATE_REVISION, .op = ETCD_EQUAL },
	};
	const EtcdOp ops[] = {
		{ .type = ETCD_OP_PUT, .key = key, .value = json },
		{ .type = ETCD_OP_PUT, .key = lock, .value = rec->id },
	};
	r = etcd_txn(c, cmp, ELEMENTSOF(cmp), ops, ELEMENTSOF(ops), NULL, 0, &revision);
	if (r < 0)
		return r;
	if (r == 0) {
		/* Which compare failed: a lock held by another migration, or
		 * (vanishingly unlikely) our id taken. */
		EtcdKeyValue kv;
		r = etcd_get(c, lock, &kv);
		if (r == ETCD_NOT_FOUND)
			return -EEXIST;
		if (r < 0)
			return r;
		if (ret_holder)
			*ret_holder = TAKE_PTR(kv.value);
		etcd_key_value_done(&kv);
		return -EBUSY;
	}
	rec->mod_revision = revision;
	return 0;
}

static int record_from_kv(const EtcdKeyValue *kv, MigrationRecord *ret)
{
	MigrationRecord r;
	int x = migration_record_from_json(kv->value, kv->value_size, &r);
	if (x < 0)
		return x;
	r.mod_revision = kv->mod_revision;
	*ret = r;
	return 0;
}

int migration_record_load(EtcdClient *c, const char *prefix, const char *id, MigrationRecord *ret)
{
	_cleanup_free_ char *key = NULL;
	EtcdKeyValue kv;
	int r;

	if (!migration_id_valid(id))
		return -EINVAL;
	if (!(key = record_key(prefix, id)))
		return -ENOMEM;
	if ((r = etcd_get(c, key, &kv)) < 0)
		return r;
	r = record_from_kv(&kv, ret);
	etcd_key_value_done(&kv);
	return r;
}

/* Stores `next` over rec (CAS on rec->mod_revision), releasing the lock too
 * when next is final. */
static int record_swap(EtcdClient *c, const char *prefix, const MigrationRecord *rec,
                       MigrationRecord *next)
{
	_cleanup_(record_write_done) RecordWrite w = {};
	int64_t revision = 0;
	int r;

	if ((r = record_write_prepare(prefix, rec, next, &w)) < 0)
		return r;
	const char *key = w.key, *lock = w.lock, *json = w.json;
	const EtcdCompare cmp[] = {
		{ .key = key,
		  .target = ETCD_COMPARE_MOD_REVISION,
		  .op = ETCD_EQUAL,
		  .number = rec->mod_revision },
		/* The lock is ours to release only if it still names us. */
		{ .key = lock, .target = ETCD_COMPARE_VALUE, .op = ETCD_EQUAL, .value = rec->id },
	};
	const EtcdOp ops[] = {
		{ .type = ETCD_OP_PUT, .key = key, .value = json },
		{ .type = ETCD_OP_DELETE, .key = lock },
	};
	bool release =
	        !migration_phase_is_final(rec->phase) && migration_phase_is_final(next->phase);
	r = etcd_txn(c, cmp, release ? 2 : 1, ops, release ? 2 : 1, NULL, 0, &revision);
	if (r < 0)
		return r;
	if (r == 0)
		return ETCD_CAS_FAILED;
	next->mod_revision = revision;
	return 0;
}

int migration_record_advance(EtcdClient *c, const char *prefix, MigrationRecord *rec,
                             MigrationPhase to, const char *error, uint64_t now_ms)
{
	_cleanup_(migration_record_clear) MigrationRecord next = {};
	int r;

	if ((r = migration_record_step(rec, to, error, now_ms, &next)) < 0)
		return r;
	if ((r = record_swap(c, prefix, rec, &next)) < 0)
		return r;
	migration_record_clear(rec);
	*rec = next;
	next = (MigrationRecord){};
	return 0;
}

int migration_record_update(EtcdClient *c, const char *prefix, MigrationRecord *rec)
{
	return record_swap(c, prefix, rec, rec);
}

int migration_record_list(EtcdClient *c, const char *prefix, MigrationRecord **ret, size_t *ret_n)
{
	_cleanup_free_ char *p = NULL;
	EtcdKeyValue *kvs = NULL;
	size_t n = 0, m = 0;
	int r;

	if (asprintf(&p, "%smigrations/", prefix) < 0)
		return -ENOMEM;
	if ((r = etcd_get_prefix(c, p, &kvs, &n, NULL)) < 0)
		return r;
	MigrationRecord *recs = calloc(n ?: 1, sizeof *recs);
	if (!recs) {
		etcd_key_values_free(kvs, n);
		return -ENOMEM;
	}
	/* A record that does not parse is skipped rather than hiding the rest. */
	for (size_t i = 0; i < n; i++)
		if (record_from_kv(&kvs[i], &recs[m]) >= 0)
			m++;
	etcd_key_values_free(kvs, n);
	*ret = recs;
	*ret_n = m;
	return 0;
}

static char *order_key(const char *prefix, const char *id)
{
	char *k;
	return asprintf(&k, "%sorders/%s", prefix, id) < 0 ? NULL : k;
}

int migration_order_issue(EtcdClient *c, const char *prefix, MigrationOrder *o, int64_t ttl_sec)
{
	_cleanup_free_ char *key = NULL, *json = NULL;
	int64_t lease = 0;
	int r;

	if (!(key = order_key(prefix, o->id)))
		return -ENOMEM;
	if ((r = migration_order_to_json(o, &json)) < 0)
		return r;
	if ((r = etcd_lease_grant_expiring(c, ttl_sec, &lease)) < 0)
		return r;
	r = etcd_compare_and_swap(c, key, 0, json, lease, NULL);
	if (r < 0) {
		(void)etcd_lease_revoke_id(c, lease);
		return r == ETCD_CAS_FAILED ? -EEXIST : r;
	}
	o->lease = lease;
	return 0;
}

int migration_order_load(EtcdClient *c, const char *prefix, const char *id, MigrationOrder *ret,
                         char *why, size_t size)
{
	_cleanup_free_ char *key = NULL;
	_cleanup_(etcd_key_value_done) EtcdKeyValue kv = {};
	MigrationOrder o;
	int r;

	if (!migration_id_valid(id)) {
		snprintf(why, size, "'%.80s' is no migration order id", id);
		return -EPERM;
	}
	if (!(key = order_key(prefix, id)))
		return -ENOMEM;
	r = etcd_get(c, key, &kv);
	if (r == ETCD_NOT_FOUND) {
		snprintf(why, size,
		         "no migration order %s (%s): only an operator's `podmig migrate` or the "
		         "scheduler may start a migration, and its order lives %d s",
		         id, key, MIGRATION_ORDER_TTL_SEC);
		return -EPERM;
	}
	if (r < 0)
		return r;
	if (migration_order_from_json(kv.value, kv.value_size, &o) < 0 || !streq(o.id, id)) {
		snprintf(why, size, "migration order %s is malformed", id);
		return -EPERM;
	}
	if (kv.lease == 0) {
		snprintf(why, size, "migration order %s holds no lease (an order is short-lived)",
		         id);
		return -EPERM;
	}
	o.lease = kv.lease;
	*ret = o;
	return 0;
}

int migration_order_verify(EtcdClient *c, const char *prefix, const MigrationRecord *rec, char *why,
                           size_t size)
{
	MigrationOrder o;
	char diff[512];
	int r;

	if ((r = migration_order_load(c, prefix, rec->id, &o, why, size)) < 0)
		return r;
	if (!migration_order_matches_record(&o, rec, diff, sizeof diff)) {
		snprintf(why, size, "migration order %s does not match migration %s: %s", o.id,
		         rec->id, diff);
		return -EPERM;
	}
	return 0;
}
