/* Fuzz target: the policy document at <prefix>policy (anyone with write access to etcd can
 * put bytes there). Whatever parses must write out a document that parses to the same
 * document again. */
#include <stdint.h>
#include <stdlib.h>

#include "scheduler.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *doc = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
	json_t *out = NULL, *again = NULL;
	SchedPolicy p, q;
	char *error = NULL;

	if (!doc)
		return 0;
	if (sched_policy_from_json(doc, &p, &error) < 0) {
		if (!error)
			abort(); /* a refusal always says why */
		free(error);
		json_decref(doc);
		return 0;
	}
	if (sched_policy_to_json(&p, &out) < 0 || sched_policy_from_json(out, &q, NULL) < 0 ||
	    sched_policy_to_json(&q, &again) < 0 || !json_equal(out, again))
		abort();
	sched_policy_done(&p);
	sched_policy_done(&q);
	json_decref(doc);
	json_decref(out);
	json_decref(again);
	return 0;
}
