/* decision-json.c — a decision as the document kept at <prefix>decisions/<id>
 * (docs/etcd-keys.md, "Decisions"). */
#include <errno.h>

#include "json-util.h"
#include "macro.h"
#include "scheduler.h"

static const char *const resource_keys[SCHED_RESOURCES] = {
	[PLACEMENT_CPU] = "cpu",
	[PLACEMENT_MEMORY] = "memory",
	[PLACEMENT_NETWORK] = "network",
};

/* Set o[key] = v, taking v; -ENOMEM when either is missing. */
static int set_new(json_t *o, const char *key, json_t *v)
{
	if (!v)
		return -ENOMEM;
	return json_object_set_new(o, key, v) < 0 ? -ENOMEM : 0;
}

static int append_new(json_t *a, json_t *v)
{
	if (!v)
		return -ENOMEM;
	return json_array_append_new(a, v) < 0 ? -ENOMEM : 0;
}

static json_t *window_json(const SchedVerdict *v, PlacementResource r)
{
	json_t *a = json_array();

	for (size_t k = 0; a && k < v->n_window; k++)
		if (append_new(a, json_real(v->window[r][k])) < 0) {
			json_decref(a);
			return NULL;
		}
	return a;
}

static json_t *trigger_json(const SchedDecision *d)
{
	const SchedVerdict *v = d->verdict;
	_cleanup_json_ json_t *t = json_object(), *res = json_object();

	if (!t || !res)
		return NULL;
	if (set_new(t, "kind", json_string(d->drain ? "drain" : "overload")) < 0 ||
	    set_new(t, "state", json_string(sched_node_state_to_string(v->state))) < 0)
		return NULL;
	if (!d->drain && (set_new(t, "resource", json_string(resource_keys[d->resource])) < 0 ||
	                  set_new(t, "threshold", json_real(v->threshold[d->resource])) < 0 ||
	                  set_new(t, "window", window_json(v, d->resource)) < 0))
		return NULL;
	for (PlacementResource r = 0; r < SCHED_RESOURCES; r++) {
		_cleanup_json_ json_t *one = json_object();

		if (!one || set_new(one, "overloaded", json_boolean(v->overloaded[r])) < 0 ||
		    set_new(one, "threshold", json_real(v->threshold[r])) < 0 ||
		    set_new(one, "run", json_integer(v->run[r])) < 0 ||
		    set_new(one, "window", window_json(v, r)) < 0 ||
		    json_object_set(res, resource_keys[r], one) < 0)
			return NULL;
	}
	if (json_object_set(t, "resources", res) < 0)
		return NULL;
	return json_incref(t);
}

static json_t *demand_json(const double demand[SCHED_RESOURCES])
{
	return json_pack("{s:f, s:f, s:f}", "cpu_cores", demand[PLACEMENT_CPU], "memory_bytes",
	                 demand[PLACEMENT_MEMORY], "network_bytes_per_sec",
	                 demand[PLACEMENT_NETWORK]);
}

static json_t *candidates_json(const SchedDecision *d)
{
	_cleanup_json_ json_t *a = json_array();

	if (!a)
		return NULL;
	for (size_t i = 0; i < d->n_candidates; i++) {
		const SchedCandidate *c = &d->candidates[i];

		if (append_new(a,
		               json_pack("{s:s, s:o, s:f, s:b, s:s?}", "container", c->container,
		                         "demand", demand_json(c->demand), "cost_sec", c->cost_sec,
		                         "selected", c->selected, "skipped", c->skipped)) < 0)
			return NULL;
	}
	return json_incref(a);
}

static json_t *moves_json(const SchedDecision *d)
{
	_cleanup_json_ json_t *a = json_array();

	if (!a)
		return NULL;
	for (size_t i = 0; i < d->n_moves; i++)
		if (append_new(a, json_pack("{s:s, s:s, s:f}", "container", d->moves[i].container,
		                            "target", d->moves[i].target, "transfer_sec",
		                            d->moves[i].transfer_sec)) < 0)
			return NULL;
	return json_incref(a);
}

static json_t *placement_json(const SchedDecision *d)
{
	return json_pack("{s:s, s:s, s:f, s:f, s:{s:f, s:f, s:f}, s:f, s:f}", "solver",
	                 placement_solver_to_string(d->solver), "status",
	                 placement_status_to_string(d->status), "objective", d->score.objective,
	                 "imbalance", d->score.imbalance, "imbalance_per_resource", "cpu",
	                 d->score.imbalance_per_resource[PLACEMENT_CPU], "memory",
	                 d->score.imbalance_per_resource[PLACEMENT_MEMORY], "network",
	                 d->score.imbalance_per_resource[PLACEMENT_NETWORK], "migration_seconds",
	                 d->score.migration_seconds, "solve_ms", d->solve_ms);
}

int sched_decision_to_json(const SchedDecision *d, const char *id, uint64_t now_usec, json_t **ret)
{
	_cleanup_json_ json_t *o = NULL;

	if (!d || !id || !ret || !d->node || !d->verdict || !d->why ||
	    (unsigned)d->outcome >= _SCHED_OUTCOME_MAX ||
	    (unsigned)d->resource >= _PLACEMENT_RESOURCE_MAX)
		return -EINVAL;

	o = json_object();
	if (!o)
		return -ENOMEM;
	if (set_new(o, "id", json_string(id)) < 0 ||
	    set_new(o, "time_usec", json_integer((json_int_t)now_usec)) < 0 ||
	    set_new(o, "node", json_string(d->node)) < 0 ||
	    set_new(o, "trigger", trigger_json(d)) < 0 ||
	    set_new(o, "outcome", json_string(sched_outcome_to_string(d->outcome))) < 0 ||
	    set_new(o, "why", json_string(d->why)) < 0 ||
	    set_new(o, "candidates", candidates_json(d)) < 0 ||
	    set_new(o, "moves", moves_json(d)) < 0)
		return -ENOMEM;
	if (!d->drain && set_new(o, "relief", json_real(d->relief)) < 0)
		return -ENOMEM;
	if (d->drain && set_new(o, "remaining", json_integer((json_int_t)d->n_remaining)) < 0)
		return -ENOMEM;
	if (d->placed && set_new(o, "placement", placement_json(d)) < 0)
		return -ENOMEM;

	*ret = TAKE_PTR(o);
	return 0;
}
