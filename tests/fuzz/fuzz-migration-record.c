/* Fuzz target: a migration record, and a migration order, as read back
 * from etcd (anyone with write access to etcd can put bytes there).
 * Whatever decodes must encode again and decode to the same document. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "migration-order.h"
#include "migration-record.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void order_round_trip(const uint8_t *data, size_t size)
{
	MigrationOrder o, again;
	char *json = NULL;

	if (migration_order_from_json((const char *)data, size, &o) < 0)
		return;
	if (migration_order_to_json(&o, &json) < 0)
		abort();
	if (migration_order_from_json(json, strlen(json), &again) < 0)
		abort();
	if (strcmp(o.id, again.id) != 0 || strcmp(o.container, again.container) != 0 ||
	    strcmp(o.source, again.source) != 0 || strcmp(o.target, again.target) != 0 ||
	    strcmp(o.decision, again.decision) != 0 || strcmp(o.by, again.by) != 0 ||
	    o.reason != again.reason || o.mode != again.mode || o.force != again.force ||
	    o.created_ms != again.created_ms)
		abort();
	free(json);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	MigrationRecord rec, again;
	char *json = NULL;

	order_round_trip(data, size);
	if (migration_record_from_json((const char *)data, size, &rec) < 0)
		return 0;
	if (migration_record_to_json(&rec, &json) < 0)
		abort();
	if (migration_record_from_json(json, strlen(json), &again) < 0)
		abort();
	if (strcmp(rec.id, again.id) != 0 || strcmp(rec.container, again.container) != 0 ||
	    rec.phase != again.phase || rec.bytes != again.bytes ||
	    memcmp(rec.phase_time_ms, again.phase_time_ms, sizeof rec.phase_time_ms) != 0)
		abort();
	free(json);
	migration_record_clear(&rec);
	migration_record_clear(&again);
	return 0;
}
