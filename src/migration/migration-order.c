/* migration-order.c — the migration order's document and the comparisons
 * that source and target make against it (pure: no I/O;
 * migration-order.h). */
#include "migration-order.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "json-util.h"
#include "macro.h"
#include "strutil.h"

static bool by_valid(const char *s)
{
	if (!s || !*s || strlen(s) > MIGRATION_ORDER_BY_MAX)
		return false;
	for (; *s; s++)
		if (*s < 0x20 || *s > 0x7e)
			return false;
	return true;
}

static bool order_fields_valid(const char *container, const char *source, const char *target,
                               MigrationReason reason, const char *decision, ModeRequest mode,
                               const char *by)
{
	return migration_name_valid(container) && migration_name_valid(source) &&
	       migration_name_valid(target) && !streq(source, target) &&
	       (unsigned)reason < _MIGRATION_REASON_MAX &&
	       (!decision || !*decision || migration_id_valid(decision)) &&
	       (unsigned)mode < _MODE_REQUEST_MAX && by_valid(by);
}

/* An order of checked fields. */
static MigrationOrder order_make(const char *id, const char *container, const char *source,
                                 const char *target, MigrationReason reason, const char *decision,
                                 bool force, ModeRequest mode, const char *by, uint64_t created_ms)
{
	MigrationOrder o = {
		.reason = reason,
		.force = force,
		.mode = mode,
		.created_ms = created_ms,
	};
	snprintf(o.id, sizeof o.id, "%s", id);
	snprintf(o.container, sizeof o.container, "%s", container);
	snprintf(o.source, sizeof o.source, "%s", source);
	snprintf(o.target, sizeof o.target, "%s", target);
	snprintf(o.decision, sizeof o.decision, "%s", decision ?: "");
	snprintf(o.by, sizeof o.by, "%s", by);
	return o;
}

int migration_order_init(MigrationOrder *ret, const char *container, const char *source,
                         const char *target, MigrationReason reason, const char *decision,
                         bool force, ModeRequest mode, const char *by, uint64_t now_ms)
{
	char id[sizeof ret->id];

	if (!order_fields_valid(container, source, target, reason, decision, mode, by))
		return -EINVAL;
	if (migration_id_new(now_ms, id) < 0)
		return -EIO;
	*ret = order_make(id, container, source, target, reason, decision, force, mode, by, now_ms);
	return 0;
}

int migration_order_to_json(const MigrationOrder *o, char **ret)
{
	if (o->created_ms > (uint64_t)INT64_MAX)
		return -EINVAL;
	_cleanup_json_ json_t *root =
	        json_pack("{s:s, s:s, s:s, s:s, s:s, s:s?, s:b, s:s, s:s, s:I}", "id", o->id,
	                  "container", o->container, "source", o->source, "target", o->target,
	                  "reason", migration_reason_to_string(o->reason), "decision",
	                  o->decision[0] ? o->decision : NULL, "force", (int)o->force, "mode",
	                  mode_request_to_string(o->mode), "by", o->by, "created_ms",
	                  (json_int_t)o->created_ms);
	if (!root)
		return -EINVAL;
	char *s = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
	if (!s)
		return -ENOMEM;
	*ret = s;
	return 0;
}

int migration_order_from_json(const char *text, size_t size, MigrationOrder *ret)
{
	_cleanup_json_ json_t *root = json_loadb(text, size, JSON_REJECT_DUPLICATES, NULL);
	const char *id, *container, *source, *target, *reason, *mode, *by;
	json_t *decision;
	json_int_t created;
	int force;

	if (!root || json_unpack(root, "{s:s, s:s, s:s, s:s, s:s, s:o, s:b, s:s, s:s, s:I !}", "id",
	                         &id, "container", &container, "source", &source, "target", &target,
	                         "reason", &reason, "decision", &decision, "force", &force, "mode",
	                         &mode, "by", &by, "created_ms", &created) < 0)
		return -EBADMSG;
	if (!json_is_null(decision) && !json_is_string(decision))
		return -EBADMSG;
	const char *d = json_string_value(decision);
	int r = migration_reason_from_string(reason);
	/* "" would read as auto: an order names its mode */
	int m = *mode ? mode_request_from_string(mode) : -EINVAL;
	if (!migration_id_valid(id) || r < 0 || m < 0 || created <= 0 || (d && !*d) ||
	    !order_fields_valid(container, source, target, r, d, m, by))
		return -EBADMSG;

	*ret = order_make(id, container, source, target, r, d, force, m, by, (uint64_t)created);
	return 0;
}

static bool differs(const char *what, const char *ordered, const char *asked, const char *whose,
                    char *why, size_t size)
{
	if (streq(ordered, asked))
		return false;
	snprintf(why, size, "it names %s %s, %s %s", what, *ordered ? ordered : "(none)", whose,
	         *asked ? asked : "(none)");
	return true;
}

bool migration_order_matches_request(const MigrationOrder *o, const char *source,
                                     const char *container, const char *target,
                                     MigrationReason reason, const char *decision, bool force,
                                     ModeRequest mode, char *why, size_t size)
{
	const char *req = "the request";
	if (differs("source node", o->source, source, "this is node", why, size) ||
	    differs("container", o->container, container, req, why, size) ||
	    differs("target node", o->target, target, req, why, size) ||
	    differs("reason", migration_reason_to_string(o->reason),
	            migration_reason_to_string(reason), req, why, size) ||
	    differs("decision", o->decision, decision ?: "", req, why, size) ||
	    differs("mode", mode_request_to_string(o->mode), mode_request_to_string(mode), req, why,
	            size) ||
	    differs("force", o->force ? "yes" : "no", force ? "yes" : "no", req, why, size))
		return false;
	return true;
}

bool migration_order_matches_record(const MigrationOrder *o, const MigrationRecord *rec, char *why,
                                    size_t size)
{
	const char *r = "the record";
	return !(differs("migration", o->id, rec->id, r, why, size) ||
	         differs("container", o->container, rec->container, r, why, size) ||
	         differs("source node", o->source, rec->source, r, why, size) ||
	         differs("target node", o->target, rec->target, r, why, size));
}
