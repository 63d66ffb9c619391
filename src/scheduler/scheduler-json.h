/* scheduler-json.h — the scheduler's view from the documents in etcd: node info and status
 * (written by the agents), migration records, drain marks. Pure (text in, structs out): the
 * daemon feeds it what its watch holds, `podmig plan` what one range read returned.
 *
 * A document that does not parse is skipped, never fatal: a node whose status is malformed
 * is left out of the view (as if stale), a malformed record is ignored; the count of skipped
 * documents is returned so callers can log it. */
#pragma once

#include <stddef.h>

#include "scheduler.h"

typedef struct SchedDocument {
	const char *key; /* full key, under the prefix */
	const char *value;
	size_t size;
} SchedDocument;

/* Recognised keys (everything else under the prefix is ignored):
 *   <prefix>nodes/<name>/info, <prefix>nodes/<name>/status  (a node needs both)
 *   <prefix>migrations/<id>                                  (migration records)
 *   <prefix>drain/<name>                                     (a drained node)
 * Returns the number of documents skipped as malformed (>= 0), or -ENOMEM. *ret is
 * initialised by the call; free it with sched_view_done(). */
int sched_view_from_documents(const char *prefix, const SchedDocument *docs, size_t n,
                              SchedView *ret);
