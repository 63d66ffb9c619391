/* placement-json.h — JSON form of placement instances and results (docs/placement.md), for the
 * `podmig place` command and for instances made elsewhere. The only file in the placement room
 * that touches files or jansson; the solvers never do. */
#pragma once

#include <jansson.h>

#include "placement.h"

/* Parse an instance. Returns 0, or -EINVAL with a message naming the offending field in
 * *ret_error (allocated; may be NULL to skip), or -ENOMEM. *ret is untouched on failure. */
int placement_instance_from_json(const json_t *root, PlacementInstance **ret, char **ret_error);
/* Read and parse an instance file ("-" is stdin). Like the above; I/O errors are negative
 * errno with a message. */
int placement_instance_load(const char *path, PlacementInstance **ret, char **ret_error);

/* NULL on out of memory. */
json_t *placement_instance_to_json(const PlacementInstance *p);
json_t *placement_result_to_json(const PlacementInstance *p, const PlacementResult *r);

static inline void placement_json_decrefp(json_t **j)
{
	if (*j)
		json_decref(*j);
}
#define _cleanup_placement_json_ __attribute__((cleanup(placement_json_decrefp)))
