/* Fuzz target: the scheduler's view from etcd documents (agents, the CLI and anyone with
 * write access to etcd put them there). The input is every kind of document at once — a
 * node's status beside a valid info, a node's info beside a valid status, a migration
 * record, a drain mark — and the view must hold only what its rules allow. */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "scheduler-json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char info[] = "{\"capacity\": {\"cpus\": 1, \"memory_bytes\": 1073741824}, "
                           "\"link_bandwidth_bytes_per_sec\": 1000000}";
static const char status[] = "{\"timestamp_usec\": 5, \"cpu\": {\"used_cores\": 0}, "
                             "\"memory\": {\"used_bytes\": 0}, \"network\": "
                             "{\"rx_bytes_per_sec\": 0, \"tx_bytes_per_sec\": 0}, "
                             "\"containers\": []}";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	const SchedDocument docs[] = {
		{ "/p/nodes/a/info", info, sizeof info - 1 },
		{ "/p/nodes/a/status", text, size },
		{ "/p/nodes/b/info", text, size },
		{ "/p/nodes/b/status", status, sizeof status - 1 },
		{ "/p/migrations/m-1", text, size },
		{ "/p/drain/a", text, size },
	};
	SchedView v;
	int r = sched_view_from_documents("/p/", docs, sizeof docs / sizeof docs[0], &v);
	if (r == -ENOMEM)
		return 0;
	if (r < 0 || r > 3 || v.n_nodes + (size_t)r < 2 || v.n_migrations > 1)
		abort();
	for (size_t i = 0; i < v.n_nodes; i++) {
		const SchedNode *n = &v.nodes[i];
		if (strcmp(n->name, "a") == 0 && !n->drained)
			abort(); /* the drain mark counts whatever its value */
		if (n->n_samples < 1 || n->n_samples > SCHED_SAMPLES_MAX || n->interval_usec == 0)
			abort();
		for (size_t k = 0; k < SCHED_RESOURCES; k++)
			if (!(n->capacity[k] >= 0) || !(n->used[k] >= 0) || !isfinite(n->used[k]))
				abort();
		for (size_t c = 0; c < n->n_containers; c++)
			if (!n->containers[c].name || !(n->containers[c].demand[0] >= 0))
				abort();
	}
	sched_view_done(&v);
	return 0;
}
