/* Fuzz target: a migration record as read back from etcd (anyone with
 * write access to etcd can put bytes there). Whatever decodes must encode
 * again and decode to the same record. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "migration-record.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	MigrationRecord rec, again;
	char *json = NULL;

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
