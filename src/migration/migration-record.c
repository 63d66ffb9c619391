/* migration-record.c — names, phase rules and the JSON encoding of
 * migration records (pure: no I/O). */
#include "migration-record.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "json-util.h"
#include "macro.h"
#include "string-table.h"
#include "strutil.h"

static const char *const migration_phase_table[_MIGRATION_PHASE_MAX] = {
	[MIGRATION_PLANNED] = "planned",
	[MIGRATION_CHECKPOINTING] = "checkpointing",
	[MIGRATION_TRANSFERRING] = "transferring",
	[MIGRATION_RESTORING] = "restoring",
	[MIGRATION_DONE] = "done",
	[MIGRATION_ROLLED_BACK] = "rolled-back",
	[MIGRATION_FAILED] = "failed",
};
DEFINE_STRING_TABLE_LOOKUP(migration_phase, MigrationPhase);

static const char *const migration_reason_table[_MIGRATION_REASON_MAX] = {
	[MIGRATION_REASON_MANUAL] = "manual",
	[MIGRATION_REASON_AUTOMATIC] = "automatic",
	[MIGRATION_REASON_DRAIN] = "drain",
};
DEFINE_STRING_TABLE_LOOKUP(migration_reason, MigrationReason);

static const char *const migration_mode_table[_MIGRATION_MODE_MAX] = {
	[MIGRATION_MODE_STOP_AND_COPY] = "stop-and-copy",
	[MIGRATION_MODE_PRE_COPY] = "pre-copy",
	[MIGRATION_MODE_PAGE_SERVER] = "page-server",
	[MIGRATION_MODE_POST_COPY] = "post-copy",
};
DEFINE_STRING_TABLE_LOOKUP(migration_mode, MigrationMode);

bool migration_phase_is_final(MigrationPhase p)
{
	return p == MIGRATION_DONE || p == MIGRATION_ROLLED_BACK || p == MIGRATION_FAILED;
}

bool migration_phase_can_advance(MigrationPhase from, MigrationPhase to)
{
	if ((unsigned)from >= _MIGRATION_PHASE_MAX || (unsigned)to >= _MIGRATION_PHASE_MAX)
		return false;
	if (migration_phase_is_final(from))
		return false;
	switch (to) {
	case MIGRATION_CHECKPOINTING:
	case MIGRATION_TRANSFERRING:
	case MIGRATION_RESTORING:
	case MIGRATION_DONE:
		/* forward one step at a time */
		return to == from + 1;
	case MIGRATION_ROLLED_BACK:
		/* only once the source has stopped the container */
		return from >= MIGRATION_CHECKPOINTING;
	case MIGRATION_FAILED:
		return true;
	default:
		return false;
	}
}

bool migration_name_valid(const char *s)
{
	if (!s || !*s || strlen(s) > MIGRATION_NAME_MAX)
		return false;
	for (const char *p = s; *p; p++) {
		bool alnum = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		             (*p >= '0' && *p <= '9');
		if (p == s ? !alnum : !(alnum || *p == '_' || *p == '.' || *p == '-'))
			return false;
	}
	return true;
}

bool migration_id_valid(const char *s)
{
	return s && *s && strlen(s) < MIGRATION_ID_MAX && migration_name_valid(s);
}

bool migration_image_id_valid(const char *s)
{
	if (!s || strlen(s) != MIGRATION_IMAGE_ID_LEN)
		return false;
	for (; *s; s++)
		if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
			return false;
	return true;
}

int migration_image_id_parse(const char *id, char ret[static MIGRATION_IMAGE_ID_LEN + 1])
{
	const char *hex = id ? startswith(id, "sha256:") ?: id : NULL;
	if (!migration_image_id_valid(hex))
		return -EINVAL;
	memcpy(ret, hex, MIGRATION_IMAGE_ID_LEN + 1);
	return 0;
}

int migration_id_new(uint64_t now_ms, char ret[static MIGRATION_ID_MAX])
{
	uint32_t nonce;

	if (getrandom(&nonce, sizeof nonce, 0) != sizeof nonce)
		return -EIO;
	snprintf(ret, MIGRATION_ID_MAX, "m-%013llu-%08x", (unsigned long long)now_ms, nonce);
	return 0;
}

int migration_record_init(MigrationRecord *rec, const char *container, const char *source,
                          const char *target, MigrationReason reason, uint64_t now_ms)
{
	if (!migration_name_valid(container) || !migration_name_valid(source) ||
	    !migration_name_valid(target) || (unsigned)reason >= _MIGRATION_REASON_MAX)
		return -EINVAL;
	MigrationRecord r = {
		.reason = reason,
		.mode = MIGRATION_MODE_STOP_AND_COPY,
		.phase = MIGRATION_PLANNED,
	};
	if (migration_id_new(now_ms, r.id) < 0)
		return -EIO;
	r.phase_time_ms[MIGRATION_PLANNED] = now_ms;
	r.container = strdup(container);
	r.source = strdup(source);
	r.target = strdup(target);
	if (!r.container || !r.source || !r.target) {
		migration_record_clear(&r);
		return -ENOMEM;
	}
	*rec = r;
	return 0;
}

void migration_record_clear(MigrationRecord *rec)
{
	if (!rec)
		return;
	free(rec->container);
	free(rec->source);
	free(rec->target);
	free(rec->image);
	free(rec->error);
	free(rec->mode_reason);
	rec->container = rec->source = rec->target = rec->image = rec->error = rec->mode_reason =
	        NULL;
}

#define ARCHIVE_SPARE_BYTES (UINT64_C(64) << 20)

static uint64_t add_sat(uint64_t a, uint64_t b)
{
	return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

uint64_t migration_archive_limit(MigrationMode mode, uint64_t memory_bytes,
                                 uint64_t rootfs_diff_bytes, uint64_t log_bytes)
{
	uint64_t n = memory_bytes;
	if (mode == MIGRATION_MODE_PRE_COPY)
		n = add_sat(n, memory_bytes);
	n = add_sat(add_sat(n, rootfs_diff_bytes), log_bytes);
	return add_sat(add_sat(n, n / 2), ARCHIVE_SPARE_BYTES);
}

int migration_record_to_json(const MigrationRecord *rec, char **ret)
{
	_cleanup_json_ json_t *times = json_object(), *root = NULL;

	if (!times)
		return -ENOMEM;
	for (size_t p = 0; p < _MIGRATION_PHASE_MAX; p++)
		if (rec->phase_time_ms[p] &&
		    json_object_set_new(times, migration_phase_table[p],
		                        json_integer((json_int_t)rec->phase_time_ms[p])) < 0)
			return -ENOMEM;
	root = json_pack("{s:s, s:s, s:s, s:s, s:s?, s:s, s:s, s:s, s:O, s:I, s:I, s:s?, s:s*}",
	                 "id", rec->id, "container", rec->container, "source", rec->source,
	                 "target", rec->target, "image", rec->image, "reason",
	                 migration_reason_to_string(rec->reason), "mode",
	                 migration_mode_to_string(rec->mode), "phase",
	                 migration_phase_to_string(rec->phase), "phase_times_ms", times, "bytes",
	                 (json_int_t)rec->bytes, "downtime_ms", (json_int_t)rec->downtime_ms,
	                 "error", rec->error, "decision", rec->decision[0] ? rec->decision : NULL);
	if (!root)
		return -EINVAL;
	if (rec->forced && json_object_set_new(root, "forced", json_true()) < 0)
		return -ENOMEM;
	if (rec->image_id[0] &&
	    json_object_set_new(root, "image_id", json_string(rec->image_id)) < 0)
		return -ENOMEM;
	if (rec->archive_limit > (uint64_t)INT64_MAX)
		return -EINVAL;
	if (rec->archive_limit &&
	    json_object_set_new(root, "archive_limit_bytes",
	                        json_integer((json_int_t)rec->archive_limit)) < 0)
		return -ENOMEM;
	if (rec->mode_reason &&
	    json_object_set_new(root, "mode_reason", json_string(rec->mode_reason)) < 0)
		return -ENOMEM;
	char *s = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
	if (!s)
		return -ENOMEM;
	*ret = s;
	return 0;
}

static int dup_optional(json_t *v, char **ret)
{
	if (!v || json_is_null(v)) {
		*ret = NULL;
		return 0;
	}
	if (!json_is_string(v))
		return -EBADMSG;
	*ret = strdup(json_string_value(v));
	return *ret ? 0 : -ENOMEM;
}

int migration_record_from_json(const char *text, size_t size, MigrationRecord *ret)
{
	_cleanup_json_ json_t *root = json_loadb(text, size, JSON_REJECT_DUPLICATES, NULL);
	const char *id, *container, *source, *target, *reason, *mode, *phase, *decision = NULL,
	                                                                      *image_id = NULL;
	json_t *times, *image = NULL, *error = NULL, *mode_reason = NULL;
	json_int_t bytes = 0, downtime = 0, archive_limit = 0;
	int forced = 0;
	MigrationRecord r = {};
	int x;

	if (!root ||
	    json_unpack(root,
	                "{s:s, s:s, s:s, s:s, s?o, s:s, s:s, s:s, s:o, s:I, s:I, s?o, s?s, s?b, "
	                "s?s, s?I, s?o}",
	                "id", &id, "container", &container, "source", &source, "target", &target,
	                "image", &image, "reason", &reason, "mode", &mode, "phase", &phase,
	                "phase_times_ms", &times, "bytes", &bytes, "downtime_ms", &downtime,
	                "error", &error, "decision", &decision, "forced", &forced, "image_id",
	                &image_id, "archive_limit_bytes", &archive_limit, "mode_reason",
	                &mode_reason) < 0)
		return -EBADMSG;
	if (!migration_id_valid(id) || !migration_name_valid(container) ||
	    !migration_name_valid(source) || !migration_name_valid(target) || bytes < 0 ||
	    downtime < 0 || archive_limit < 0 || !json_is_object(times) ||
	    (decision && !migration_id_valid(decision)) ||
	    (image_id && !migration_image_id_valid(image_id)))
		return -EBADMSG;
	if ((x = migration_reason_from_string(reason)) < 0)
		return -EBADMSG;
	r.reason = x;
	if ((x = migration_mode_from_string(mode)) < 0)
		return -EBADMSG;
	r.mode = x;
	if ((x = migration_phase_from_string(phase)) < 0)
		return -EBADMSG;
	r.phase = x;

	const char *k;
	json_t *v;
	json_object_foreach (times, k, v) {
		int p = migration_phase_from_string(k);
		if (p < 0 || !json_is_integer(v) || json_integer_value(v) <= 0)
			return -EBADMSG;
		r.phase_time_ms[p] = (uint64_t)json_integer_value(v);
	}
	snprintf(r.id, sizeof r.id, "%s", id);
	if (decision)
		snprintf(r.decision, sizeof r.decision, "%s", decision);
	if (image_id)
		snprintf(r.image_id, sizeof r.image_id, "%s", image_id);
	r.bytes = (uint64_t)bytes;
	r.downtime_ms = (uint64_t)downtime;
	r.archive_limit = (uint64_t)archive_limit;
	r.forced = forced;
	r.container = strdup(container);
	r.source = strdup(source);
	r.target = strdup(target);
	int e1 = dup_optional(image, &r.image), e2 = dup_optional(error, &r.error),
	    e3 = dup_optional(mode_reason, &r.mode_reason);
	if (!r.container || !r.source || !r.target || e1 < 0 || e2 < 0 || e3 < 0) {
		migration_record_clear(&r);
		return e1 == -EBADMSG || e2 == -EBADMSG || e3 == -EBADMSG ? -EBADMSG : -ENOMEM;
	}
	*ret = r;
	return 0;
}

static int record_copy(const MigrationRecord *rec, MigrationRecord *ret)
{
	MigrationRecord r = *rec;
	r.container = strdup(rec->container);
	r.source = strdup(rec->source);
	r.target = strdup(rec->target);
	r.image = rec->image ? strdup(rec->image) : NULL;
	r.error = rec->error ? strdup(rec->error) : NULL;
	r.mode_reason = rec->mode_reason ? strdup(rec->mode_reason) : NULL;
	if (!r.container || !r.source || !r.target || (rec->image && !r.image) ||
	    (rec->error && !r.error) || (rec->mode_reason && !r.mode_reason)) {
		migration_record_clear(&r);
		return -ENOMEM;
	}
	*ret = r;
	return 0;
}

int migration_record_step(const MigrationRecord *rec, MigrationPhase to, const char *error,
                          uint64_t now_ms, MigrationRecord *ret)
{
	MigrationRecord next;
	int r;

	if (!migration_phase_can_advance(rec->phase, to))
		return -EINVAL;
	if ((r = record_copy(rec, &next)) < 0)
		return r;
	next.phase = to;
	next.phase_time_ms[to] = now_ms ?: 1;
	if (error) {
		free(next.error);
		if (!(next.error = strdup(error))) {
			migration_record_clear(&next);
			return -ENOMEM;
		}
	}
	*ret = next;
	return 0;
}

void migration_records_free(MigrationRecord *recs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		migration_record_clear(&recs[i]);
	free(recs);
}
