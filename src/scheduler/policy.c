/* policy.c — the scheduling policy: defaults, per-node thresholds, and its
 * document in etcd (strict parsing, `podmig policy set KEY=VALUE`). */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "migration-record.h"
#include "scheduler.h"
#include "string-table.h"
#include "strutil.h"

static const char *const sched_mode_table[_SCHED_MODE_MAX] = {
	[SCHED_MODE_ACT] = "act",
	[SCHED_MODE_OBSERVE] = "observe",
};

DEFINE_STRING_TABLE_LOOKUP(sched_mode, SchedMode);

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

/* ---- the document ---- */

static const char *const resource_keys[SCHED_RESOURCES] = {
	[PLACEMENT_CPU] = "cpu",
	[PLACEMENT_MEMORY] = "memory",
	[PLACEMENT_NETWORK] = "network",
};

_printf_(2, 3) static int fail(char **ret_error, const char *fmt, ...)
{
	va_list ap;
	if (ret_error) {
		char *m = NULL;
		va_start(ap, fmt);
		if (vasprintf(&m, fmt, ap) < 0)
			m = NULL;
		va_end(ap);
		*ret_error = m;
	}
	return -EINVAL;
}

/* A value as it reads in the document, for messages. */
static char *value_text(const json_t *v)
{
	return json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT | JSON_REAL_PRECISION(9));
}

/* "thresholds" + "cpu" → "thresholds.cpu"; the document's root has path "". */
static char *join_path(const char *path, const char *key)
{
	char *r;
	if (asprintf(&r, "%s%s%s", path, *path ? "." : "", key) < 0)
		return NULL;
	return r;
}

static int check_object(const json_t *o, const char *path, const char *const *allowed,
                        char **ret_error)
{
	const char *key;
	json_t *v;

	if (!json_is_object(o)) {
		_cleanup_free_ char *t = value_text(o);
		return fail(ret_error, "%s: %s is not an object", *path ? path : "policy",
		            t ?: "?");
	}
	json_object_foreach ((json_t *)o, key, v) {
		bool known = false;
		for (const char *const *a = allowed; a && *a && !known; a++)
			known = streq(*a, key);
		if (!known) {
			_cleanup_free_ char *full = join_path(path, key);
			return fail(ret_error, "%s: unknown key", full ?: key);
		}
	}
	return 0;
}

/* A finite number >= 0 at o.key (absent: *ret untouched, 0). */
static int get_number(const json_t *o, const char *path, const char *key, double *ret,
                      char **ret_error)
{
	const json_t *v = json_object_get(o, key);
	_cleanup_free_ char *full = NULL, *t = NULL;

	if (!v)
		return 0;
	full = join_path(path, key);
	t = value_text(v);
	if (!json_is_number(v) || !isfinite(json_number_value(v)))
		return fail(ret_error, "%s: %s is not a number", full ?: key, t ?: "?");
	if (json_number_value(v) < 0)
		return fail(ret_error, "%s: %s is negative", full ?: key, t ?: "?");
	*ret = json_number_value(v);
	return 1;
}

static int get_percent(const json_t *o, const char *path, const char *key, double *ret,
                       char **ret_error)
{
	double d;
	int r = get_number(o, path, key, &d, ret_error);
	if (r <= 0)
		return r;
	if (!(d > 0 && d <= 100)) {
		_cleanup_free_ char *full = join_path(path, key);
		_cleanup_free_ char *t = value_text(json_object_get(o, key));
		return fail(ret_error, "%s: %s is not in (0, 100]", full ?: key, t ?: "?");
	}
	*ret = d;
	return 1;
}

/* An integer in [min, max] at o.key (a real with no fraction counts). */
static int get_integer(const json_t *o, const char *path, const char *key, uint64_t min,
                       uint64_t max, uint64_t *ret, char **ret_error)
{
	const json_t *v = json_object_get(o, key);
	double d;
	int r = get_number(o, path, key, &d, ret_error);
	if (r <= 0)
		return r;

	_cleanup_free_ char *full = join_path(path, key);
	_cleanup_free_ char *t = value_text(v);
	uint64_t u;
	if (json_is_integer(v))
		u = (uint64_t)json_integer_value(v);
	else if (d == floor(d) && d < 0x1p63)
		u = (uint64_t)d;
	else
		return fail(ret_error, "%s: %s is not an integer", full ?: key, t ?: "?");
	if (u < min || u > max) {
		if (max == UINT64_MAX || max == (uint64_t)INT64_MAX)
			return fail(ret_error, "%s: %s is below %llu", full ?: key, t ?: "?",
			            (unsigned long long)min);
		return fail(ret_error, "%s: %s is not in [%llu, %llu]", full ?: key, t ?: "?",
		            (unsigned long long)min, (unsigned long long)max);
	}
	*ret = u;
	return 1;
}

static int get_unsigned(const json_t *o, const char *path, const char *key, unsigned min,
                        unsigned max, unsigned *ret, char **ret_error)
{
	uint64_t u;
	int r = get_integer(o, path, key, min, max, &u, ret_error);
	if (r > 0)
		*ret = (unsigned)u;
	return r;
}

static int get_enum(const json_t *o, const char *key, int (*from_string)(const char *),
                    const char *choices, int *ret, char **ret_error)
{
	const json_t *v = json_object_get(o, key);
	if (!v)
		return 0;
	int x = from_string(json_string_value(v));
	if (!json_is_string(v) || x < 0) {
		_cleanup_free_ char *t = value_text(v);
		return fail(ret_error, "%s: %s is not one of %s", key, t ?: "?", choices);
	}
	*ret = x;
	return 1;
}

static int parse_thresholds(const json_t *o, const char *path, double threshold[SCHED_RESOURCES],
                            char **ret_error)
{
	static const char *const keys[] = { "cpu", "memory", "network", NULL };
	int r;

	if ((r = check_object(o, path, keys, ret_error)) < 0)
		return r;
	for (size_t i = 0; i < SCHED_RESOURCES; i++)
		if ((r = get_percent(o, path, resource_keys[i], &threshold[i], ret_error)) < 0)
			return r;
	return 0;
}

static int parse_nodes(const json_t *o, SchedPolicy *p, char **ret_error)
{
	static const char *const node_keys[] = { "thresholds", NULL };
	const char *name;
	json_t *v;
	int r;

	if (!json_is_object(o))
		return check_object(o, "nodes", NULL, ret_error);
	if (!(p->overrides = calloc(MAX(json_object_size(o), 1u), sizeof(SchedNodeOverride))))
		return -ENOMEM;
	json_object_foreach ((json_t *)o, name, v) {
		_cleanup_free_ char *path = NULL, *tpath = NULL;
		SchedNodeOverride ov = { .threshold = { NAN, NAN, NAN } };

		if (!migration_name_valid(name))
			return fail(
			        ret_error,
			        "nodes: '%s' is not a node name (1 to 253 of A-Z a-z 0-9 _ . -, "
			        "starting with a letter or digit)",
			        name);
		if (asprintf(&path, "nodes.%s", name) < 0)
			return -ENOMEM;
		if ((r = check_object(v, path, node_keys, ret_error)) < 0)
			return r;
		const json_t *t = json_object_get(v, "thresholds");
		if (t) {
			if (!(tpath = join_path(path, "thresholds")))
				return -ENOMEM;
			if ((r = parse_thresholds(t, tpath, ov.threshold, ret_error)) < 0)
				return r;
		}
		/* a node without thresholds of its own is no override */
		if (isnan(ov.threshold[0]) && isnan(ov.threshold[1]) && isnan(ov.threshold[2]))
			continue;
		if (!(ov.node = strdup(name)))
			return -ENOMEM;
		p->overrides[p->n_overrides++] = ov;
	}
	return 0;
}

static int parse_document(const json_t *doc, SchedPolicy *p, char **ret_error)
{
	static const char *const root_keys[] = { "mode",           "thresholds",  "nodes",
		                                 "window",         "predict",     "margin",
		                                 "cooldown",       "solver",      "seed",
		                                 "weights",        "concurrency", "retention",
		                                 "migration_mode", NULL };
	static const char *const cooldown_keys[] = { "container_sec", "node_sec", "return_sec",
		                                     NULL };
	static const char *const concurrency_keys[] = { "cluster", "per_node", NULL };
	static const char *const weights_keys[] = { "imbalance", "migration", "cpu",
		                                    "memory",    "network",   NULL };
	static const char *const retention_keys[] = { "migrations", "decisions", "max_age_sec",
		                                      NULL };
	const json_t *o;
	int r, x;

	if ((r = check_object(doc, "", root_keys, ret_error)) < 0)
		return r;
	if ((r = get_enum(doc, "mode", sched_mode_from_string, "act, observe", &x, ret_error)) < 0)
		return r;
	if (r > 0)
		p->mode = x;
	if ((r = get_enum(doc, "migration_mode", mode_request_from_string,
	                  "stop-and-copy, pre-copy, page-server, post-copy, auto", &x, ret_error)) <
	    0)
		return r;
	if (r > 0)
		p->migration_mode = x;
	if ((o = json_object_get(doc, "thresholds")) &&
	    (r = parse_thresholds(o, "thresholds", p->threshold, ret_error)) < 0)
		return r;
	if ((o = json_object_get(doc, "nodes")) && (r = parse_nodes(o, p, ret_error)) < 0)
		return r;
	if ((r = get_unsigned(doc, "", "window", 1, SCHED_SAMPLES_MAX, &p->window, ret_error)) <
	            0 ||
	    (r = get_unsigned(doc, "", "predict", 0, SCHED_SAMPLES_MAX, &p->predict_samples,
	                      ret_error)) < 0 ||
	    (r = get_number(doc, "", "margin", &p->margin, ret_error)) < 0)
		return r;
	if ((o = json_object_get(doc, "cooldown")) &&
	    ((r = check_object(o, "cooldown", cooldown_keys, ret_error)) < 0 ||
	     (r = get_integer(o, "cooldown", "container_sec", 0, INT64_MAX,
	                      &p->container_cooldown_sec, ret_error)) < 0 ||
	     (r = get_integer(o, "cooldown", "node_sec", 0, INT64_MAX, &p->node_cooldown_sec,
	                      ret_error)) < 0 ||
	     (r = get_integer(o, "cooldown", "return_sec", 0, INT64_MAX, &p->return_cooldown_sec,
	                      ret_error)) < 0))
		return r;
	if ((o = json_object_get(doc, "concurrency")) &&
	    ((r = check_object(o, "concurrency", concurrency_keys, ret_error)) < 0 ||
	     (r = get_unsigned(o, "concurrency", "cluster", 1, UINT_MAX, &p->max_concurrent,
	                       ret_error)) < 0 ||
	     (r = get_unsigned(o, "concurrency", "per_node", 1, UINT_MAX,
	                       &p->max_concurrent_per_node, ret_error)) < 0))
		return r;
	if ((r = get_enum(doc, "solver", placement_solver_from_string,
	                  "aco, exact, least-loaded, best-fit, random", &x, ret_error)) < 0)
		return r;
	if (r > 0)
		p->solver = x;
	if ((r = get_integer(doc, "", "seed", 0, INT64_MAX, &p->seed, ret_error)) < 0)
		return r;
	if ((o = json_object_get(doc, "weights"))) {
		if ((r = check_object(o, "weights", weights_keys, ret_error)) < 0 ||
		    (r = get_number(o, "weights", "imbalance", &p->weights.imbalance, ret_error)) <
		            0 ||
		    (r = get_number(o, "weights", "migration", &p->weights.migration, ret_error)) <
		            0)
			return r;
		for (size_t i = 0; i < SCHED_RESOURCES; i++)
			if ((r = get_number(o, "weights", resource_keys[i], &p->weights.resource[i],
			                    ret_error)) < 0)
				return r;
	}
	if ((o = json_object_get(doc, "retention")) &&
	    ((r = check_object(o, "retention", retention_keys, ret_error)) < 0 ||
	     (r = get_unsigned(o, "retention", "migrations", 0, UINT_MAX, &p->keep_migrations,
	                       ret_error)) < 0 ||
	     (r = get_unsigned(o, "retention", "decisions", 0, UINT_MAX, &p->keep_decisions,
	                       ret_error)) < 0 ||
	     (r = get_integer(o, "retention", "max_age_sec", 0, INT64_MAX, &p->history_max_age_sec,
	                      ret_error)) < 0))
		return r;

	/* rules between keys */
	double lowest = INFINITY;
	_cleanup_free_ char *where = NULL;
	for (size_t i = 0; i < SCHED_RESOURCES; i++)
		if (p->threshold[i] < lowest) {
			lowest = p->threshold[i];
			free(where);
			if (asprintf(&where, "thresholds.%s", resource_keys[i]) < 0)
				return -ENOMEM;
		}
	for (size_t k = 0; k < p->n_overrides; k++)
		for (size_t i = 0; i < SCHED_RESOURCES; i++)
			if (p->overrides[k].threshold[i] < lowest) {
				lowest = p->overrides[k].threshold[i];
				free(where);
				if (asprintf(&where, "nodes.%s.thresholds.%s", p->overrides[k].node,
				             resource_keys[i]) < 0)
					return -ENOMEM;
			}
	if (p->margin >= lowest)
		return fail(ret_error, "margin: %g is not below the lowest threshold (%g, %s)",
		            p->margin, lowest, where ?: "?");
	bool any = false;
	for (size_t i = 0; i < SCHED_RESOURCES; i++) {
		any = any || p->weights.resource[i] > 0;
		if (p->weights.resource[i] > PLACEMENT_VALUE_MAX)
			return fail(ret_error, "weights.%s: %g is above %g", resource_keys[i],
			            p->weights.resource[i], PLACEMENT_VALUE_MAX);
	}
	if (p->weights.imbalance > PLACEMENT_VALUE_MAX ||
	    p->weights.migration > PLACEMENT_VALUE_MAX)
		return fail(ret_error, "weights.%s: %g is above %g",
		            p->weights.imbalance > PLACEMENT_VALUE_MAX ? "imbalance" : "migration",
		            MAX(p->weights.imbalance, p->weights.migration), PLACEMENT_VALUE_MAX);
	if (!any)
		return fail(ret_error, "weights: cpu, memory and network cannot all be 0");
	return 0;
}

int sched_policy_from_json(const json_t *doc, SchedPolicy *ret, char **ret_error)
{
	SchedPolicy p;
	sched_policy_init(&p);
	int r = parse_document(doc, &p, ret_error);
	if (r < 0) {
		sched_policy_done(&p);
		return r;
	}
	*ret = p;
	return 0;
}

static json_t *thresholds_to_json(const double threshold[SCHED_RESOURCES])
{
	json_t *o = json_object();
	for (size_t i = 0; o && i < SCHED_RESOURCES; i++)
		if (!isnan(threshold[i]) &&
		    json_object_set_new(o, resource_keys[i], json_real(threshold[i])) < 0) {
			json_decref(o);
			return NULL;
		}
	return o;
}

int sched_policy_to_json(const SchedPolicy *p, json_t **ret)
{
	_cleanup_(json_decrefp) json_t *nodes = json_object();
	if (!nodes)
		return -ENOMEM;
	for (size_t i = 0; i < p->n_overrides; i++) {
		json_t *t = thresholds_to_json(p->overrides[i].threshold);
		if (json_object_set_new(nodes, p->overrides[i].node,
		                        json_pack("{s:o}", "thresholds", t)) < 0)
			return -ENOMEM;
	}
	json_t *doc = json_pack(
	        "{s:s, s:o, s:O, s:I, s:I, s:f, s:{s:I, s:I, s:I}, s:{s:I, s:I}, s:s, s:I, "
	        "s:{s:f, s:f, s:f, s:f, s:f}, s:{s:I, s:I, s:I}, s:s}",
	        "mode", sched_mode_to_string(p->mode), "thresholds",
	        thresholds_to_json(p->threshold), "nodes", nodes, "window", (json_int_t)p->window,
	        "predict", (json_int_t)p->predict_samples, "margin", p->margin, "cooldown",
	        "container_sec", (json_int_t)p->container_cooldown_sec, "node_sec",
	        (json_int_t)p->node_cooldown_sec, "return_sec", (json_int_t)p->return_cooldown_sec,
	        "concurrency", "cluster", (json_int_t)p->max_concurrent, "per_node",
	        (json_int_t)p->max_concurrent_per_node, "solver",
	        placement_solver_to_string(p->solver), "seed", (json_int_t)p->seed, "weights",
	        "imbalance", p->weights.imbalance, "migration", p->weights.migration, "cpu",
	        p->weights.resource[PLACEMENT_CPU], "memory", p->weights.resource[PLACEMENT_MEMORY],
	        "network", p->weights.resource[PLACEMENT_NETWORK], "retention", "migrations",
	        (json_int_t)p->keep_migrations, "decisions", (json_int_t)p->keep_decisions,
	        "max_age_sec", (json_int_t)p->history_max_age_sec, "migration_mode",
	        mode_request_to_string(p->migration_mode));
	if (!doc)
		return -ENOMEM;
	*ret = doc;
	return 0;
}

/* ---- KEY=VALUE ---- */

typedef enum ValueKind {
	VALUE_STRING,
	VALUE_NUMBER,
	VALUE_INTEGER,
} ValueKind;

static const struct {
	const char *key;
	ValueKind kind;
} settable[] = {
	{ "mode", VALUE_STRING },
	{ "thresholds.cpu", VALUE_NUMBER },
	{ "thresholds.memory", VALUE_NUMBER },
	{ "thresholds.network", VALUE_NUMBER },
	{ "window", VALUE_INTEGER },
	{ "predict", VALUE_INTEGER },
	{ "margin", VALUE_NUMBER },
	{ "cooldown.container_sec", VALUE_INTEGER },
	{ "cooldown.node_sec", VALUE_INTEGER },
	{ "cooldown.return_sec", VALUE_INTEGER },
	{ "concurrency.cluster", VALUE_INTEGER },
	{ "concurrency.per_node", VALUE_INTEGER },
	{ "solver", VALUE_STRING },
	{ "seed", VALUE_INTEGER },
	{ "weights.imbalance", VALUE_NUMBER },
	{ "weights.migration", VALUE_NUMBER },
	{ "weights.cpu", VALUE_NUMBER },
	{ "weights.memory", VALUE_NUMBER },
	{ "weights.network", VALUE_NUMBER },
	{ "retention.migrations", VALUE_INTEGER },
	{ "retention.decisions", VALUE_INTEGER },
	{ "retention.max_age_sec", VALUE_INTEGER },
	{ "migration_mode", VALUE_STRING },
};

/* The value as JSON: numbers as numbers, written as JSON writes them (whatever their range:
 * parsing checks it), strings as strings. */
static int value_to_json(const char *key, const char *value, ValueKind kind, json_t **ret,
                         char **ret_error)
{
	if (kind == VALUE_STRING) {
		*ret = json_string(value);
		return *ret ? 0 : fail(ret_error, "%s: '%s' is not valid UTF-8", key, value);
	}
	json_t *v = json_loads(value, JSON_DECODE_ANY, NULL);
	if (!json_is_number(v)) {
		json_decref(v);
		return fail(ret_error, "%s: '%s' is not a number", key, value);
	}
	*ret = v;
	return 0;
}

/* The object at `path` (dotted, NUL-separated parts in parts[0..n)), created if asked. */
static json_t *walk(json_t *doc, char *const *parts, size_t n, bool create)
{
	json_t *o = doc;
	for (size_t i = 0; i < n; i++) {
		json_t *next = json_object_get(o, parts[i]);
		if (!next) {
			if (!create || json_object_set_new(o, parts[i], json_object()) < 0)
				return NULL;
			next = json_object_get(o, parts[i]);
		}
		if (!json_is_object(next))
			return NULL;
		o = next;
	}
	return o;
}

int sched_policy_set(SchedPolicy *p, const char *assignment, char **ret_error)
{
	_cleanup_free_ char *key = NULL, *node = NULL, *resource = NULL;
	_cleanup_(json_decrefp) json_t *doc = NULL;
	const char *eq = strchr(assignment, '='), *rest;
	ValueKind kind = VALUE_STRING;
	bool found = false;
	int r;

	if (!eq || eq == assignment)
		return fail(ret_error, "'%s' is not KEY=VALUE", assignment);
	if (!(key = strndup(assignment, (size_t)(eq - assignment))))
		return -ENOMEM;
	const char *value = eq + 1;

	/* nodes.<name>.thresholds.<resource> and nodes.<name> (a name may hold dots) */
	if ((rest = startswith(key, "nodes."))) {
		const char *t = strstr(rest, ".thresholds.");
		if (t && t > rest) {
			for (size_t i = 0; i < SCHED_RESOURCES; i++)
				if (streq(t + strlen(".thresholds."), resource_keys[i]))
					found = true;
			node = strndup(rest, (size_t)(t - rest));
			resource = strdup(t + strlen(".thresholds."));
			if (!node || !resource)
				return -ENOMEM;
			kind = VALUE_NUMBER;
		} else if (!strstr(rest, ".thresholds") && *rest) {
			if (*value)
				return fail(
				        ret_error,
				        "%s: only an empty value (remove the node's thresholds) "
				        "can be set here",
				        key);
			if (!(node = strdup(rest)))
				return -ENOMEM;
			found = true;
		}
		if (node && !migration_name_valid(node))
			return fail(ret_error,
			            "%s: '%s' is not a node name (1 to 253 of A-Z a-z 0-9 _ . -, "
			            "starting with a letter or digit)",
			            key, node);
	} else
		for (size_t i = 0; i < ELEMENTSOF(settable); i++)
			if (streq(settable[i].key, key)) {
				kind = settable[i].kind;
				found = true;
			}
	if (!found)
		return fail(ret_error, "%s: unknown key", key);

	if ((r = sched_policy_to_json(p, &doc)) < 0)
		return r;

	/* the parent object and the member to set or remove */
	char *parts[4];
	size_t n_parts = 0;
	_cleanup_free_ char *copy = NULL;
	const char *member;
	if (node && resource) {
		parts[0] = (char *)"nodes";
		parts[1] = node;
		parts[2] = (char *)"thresholds";
		n_parts = 3;
		member = resource;
	} else if (node) {
		parts[0] = (char *)"nodes";
		n_parts = 1;
		member = node;
	} else {
		if (!(copy = strdup(key)))
			return -ENOMEM;
		char *dot = strchr(copy, '.');
		if (dot) {
			*dot = 0;
			parts[n_parts++] = copy;
			member = dot + 1;
		} else
			member = copy;
	}

	if (!*value) {
		/* empty: back to the default (or, for a node, to the cluster-wide value) */
		json_t *parent = walk(doc, parts, n_parts, false);
		if (parent)
			json_object_del(parent, member);
	} else {
		json_t *v = NULL, *parent;
		if ((r = value_to_json(key, value, kind, &v, ret_error)) < 0)
			return r;
		if (!(parent = walk(doc, parts, n_parts, true)) ||
		    json_object_set_new(parent, member, v) < 0)
			return -ENOMEM;
	}

	SchedPolicy n;
	if ((r = sched_policy_from_json(doc, &n, ret_error)) < 0)
		return r;
	sched_policy_done(p);
	*p = n;
	return 0;
}
