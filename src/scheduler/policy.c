/* policy.c — the scheduling policy: defaults, per-node thresholds, and its
 * document in etcd (strict parsing, `podmig policy set KEY=VALUE`). */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "scheduler.h"
#include "strutil.h"

static const char *const mode_names[_SCHED_MODE_MAX] = {
	[SCHED_MODE_ACT] = "act",
	[SCHED_MODE_OBSERVE] = "observe",
};

const char *sched_mode_to_string(SchedMode m)
{
	return (unsigned)m < _SCHED_MODE_MAX ? mode_names[m] : NULL;
}

int sched_mode_from_string(const char *s)
{
	for (size_t i = 0; s && i < ELEMENTSOF(mode_names); i++)
		if (streq(mode_names[i], s))
			return (int)i;
	return -EINVAL;
}

void sched_policy_init(SchedPolicy *p)
{
	*p = (SchedPolicy){
		.mode = SCHED_MODE_ACT,
		.threshold = { [PLACEMENT_CPU] = 80,
		               [PLACEMENT_MEMORY] = 85,
		               [PLACEMENT_NETWORK] = 80 },
		.window = 3,
		.margin = 10,
		.container_cooldown_sec = 120,
		.node_cooldown_sec = 30,
		.return_cooldown_sec = 600,
		.max_concurrent = 2,
		.max_concurrent_per_node = 1,
		.solver = PLACEMENT_SOLVER_ACO,
		.seed = 1,
		.keep_migrations = 1000,
		.keep_decisions = 200,
	};
	placement_weights_init(&p->weights);
}

void sched_policy_done(SchedPolicy *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->n_overrides; i++)
		free(p->overrides[i].node);
	free(p->overrides);
	p->overrides = NULL;
	p->n_overrides = 0;
}

double sched_policy_threshold(const SchedPolicy *p, const char *node, PlacementResource resource)
{
	for (size_t i = 0; node && i < p->n_overrides; i++)
		if (streq(p->overrides[i].node, node) &&
		    !isnan(p->overrides[i].threshold[resource]))
			return p->overrides[i].threshold[resource];
	return p->threshold[resource];
}

bool sched_name_valid(const char *s)
{
	if (!s || !*s || strlen(s) > 253)
		return false;
	for (const char *p = s; *p; p++) {
		bool alnum = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		             (*p >= '0' && *p <= '9');
		if (p == s ? !alnum : !(alnum || *p == '_' || *p == '.' || *p == '-'))
			return false;
	}
	return true;
}
