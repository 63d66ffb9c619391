/* placement-json.c — strict reader and writer for placement instances and results in JSON
 * (format in docs/placement.md). Unknown keys are errors, so a typo never silently becomes a
 * default. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "macro.h"
#include "placement-json.h"
#include "strutil.h"

_printf_(2, 3) static int fail(char **ret_error, const char *fmt, ...)
{
	va_list ap;
	char *msg = NULL;

	if (!ret_error)
		return -EINVAL;
	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	va_end(ap);
	free(*ret_error);
	*ret_error = msg;
	return -EINVAL;
}

/* Error if `obj` has a key outside the NULL-terminated `allowed`. */
static int check_keys(const json_t *obj, const char *where, const char *const *allowed,
                      char **ret_error)
{
	const char *key;
	json_t *value;

	json_object_foreach ((json_t *)obj, key, value) {
		bool ok = false;
		for (const char *const *a = allowed; *a && !ok; a++)
			ok = streq(key, *a);
		if (!ok)
			return fail(ret_error, "%s: unknown key '%s'", where, key);
	}
	return 0;
}

typedef enum Range {
	RANGE_POSITIVE,    /* > 0 */
	RANGE_NONNEGATIVE, /* >= 0 */
	RANGE_FRACTION,    /* (0, 1] */
} Range;

static int get_number(const json_t *v, const char *where, Range range, double *ret,
                      char **ret_error)
{
	static const char *const what[] = {
		[RANGE_POSITIVE] = "a positive number",
		[RANGE_NONNEGATIVE] = "a non-negative number",
		[RANGE_FRACTION] = "a number in (0, 1]",
	};
	double d;

	if (!json_is_number(v))
		return fail(ret_error, "%s: must be %s", where, what[range]);
	d = json_number_value(v);
	if (!isfinite(d) || (range == RANGE_POSITIVE && !(d > 0)) ||
	    (range == RANGE_NONNEGATIVE && !(d >= 0)) ||
	    (range == RANGE_FRACTION && !(d > 0 && d <= 1)))
		return fail(ret_error, "%s: must be %s, not %g", where, what[range], d);
	if (d > PLACEMENT_VALUE_MAX)
		return fail(ret_error, "%s: must be at most %g, not %g", where, PLACEMENT_VALUE_MAX,
		            d);
	if (range == RANGE_POSITIVE && d < PLACEMENT_VALUE_MIN)
		return fail(ret_error, "%s: must be at least %g, not %g", where,
		            PLACEMENT_VALUE_MIN, d);
	*ret = d;
	return 0;
}

/* {"cpu": x, "memory": y, "network": z}; all three required unless `partial`. */
static int get_resources(const json_t *obj, const char *where, Range range, bool partial,
                         double ret[_PLACEMENT_RESOURCE_MAX], char **ret_error)
{
	static const char *const keys[] = { "cpu", "memory", "network", NULL };
	double v[_PLACEMENT_RESOURCE_MAX];
	char sub[256];
	int r;

	if (!json_is_object(obj))
		return fail(ret_error, "%s: must be an object with cpu, memory and network", where);
	r = check_keys(obj, where, keys, ret_error);
	if (r < 0)
		return r;
	for (size_t i = 0; i < _PLACEMENT_RESOURCE_MAX; i++) {
		const json_t *x = json_object_get(obj, keys[i]);
		v[i] = ret[i];
		snprintf(sub, sizeof sub, "%s.%s", where, keys[i]);
		if (!x) {
			if (partial)
				continue;
			return fail(ret_error, "%s: missing", sub);
		}
		r = get_number(x, sub, range, &v[i], ret_error);
		if (r < 0)
			return r;
	}
	memcpy(ret, v, sizeof v);
	return 0;
}

static int get_name(const json_t *obj, const char *where, char **ret, char **ret_error)
{
	const json_t *v = json_object_get(obj, "name");
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_string(v) || json_string_length(v) == 0)
		return fail(ret_error, "%s.name: must be a non-empty string", where);
	*ret = strdup(json_string_value(v));
	return *ret ? 0 : -ENOMEM;
}

static int parse_weights(const json_t *obj, PlacementWeights *w, char **ret_error)
{
	static const char *const keys[] = { "imbalance", "migration", "cpu",
		                            "memory",    "network",   NULL };
	double *dst[] = { &w->imbalance, &w->migration, &w->resource[PLACEMENT_CPU],
		          &w->resource[PLACEMENT_MEMORY], &w->resource[PLACEMENT_NETWORK] };
	char sub[64];
	int r;

	if (!json_is_object(obj))
		return fail(ret_error, "weights: must be an object");
	r = check_keys(obj, "weights", keys, ret_error);
	if (r < 0)
		return r;
	for (size_t i = 0; keys[i]; i++) {
		const json_t *x = json_object_get(obj, keys[i]);
		if (!x)
			continue;
		snprintf(sub, sizeof sub, "weights.%s", keys[i]);
		r = get_number(x, sub, RANGE_NONNEGATIVE, dst[i], ret_error);
		if (r < 0)
			return r;
	}
	if (w->resource[0] + w->resource[1] + w->resource[2] <= 0)
		return fail(ret_error, "weights: cpu, memory and network cannot all be 0");
	return 0;
}

static int parse_node(const json_t *obj, size_t i, const double default_threshold[],
                      PlacementNode *nd, char **ret_error)
{
	static const char *const keys[] = { "name",      "capacity",  "used",
		                            "threshold", "bandwidth", NULL };
	char where[64], sub[96];
	const json_t *v;
	int r;

	snprintf(where, sizeof where, "nodes[%zu]", i);
	if (!json_is_object(obj))
		return fail(ret_error, "%s: must be an object", where);
	r = check_keys(obj, where, keys, ret_error);
	if (r < 0)
		return r;
	r = get_name(obj, where, &nd->name, ret_error);
	if (r < 0)
		return r;

	snprintf(sub, sizeof sub, "%s.capacity", where);
	r = get_resources(json_object_get(obj, "capacity"), sub, RANGE_POSITIVE, false,
	                  nd->capacity, ret_error);
	if (r < 0)
		return r;
	snprintf(sub, sizeof sub, "%s.used", where);
	r = get_resources(json_object_get(obj, "used"), sub, RANGE_NONNEGATIVE, false, nd->used,
	                  ret_error);
	if (r < 0)
		return r;
	memcpy(nd->threshold, default_threshold, sizeof nd->threshold);
	v = json_object_get(obj, "threshold");
	if (v) {
		snprintf(sub, sizeof sub, "%s.threshold", where);
		r = get_resources(v, sub, RANGE_FRACTION, true, nd->threshold, ret_error);
		if (r < 0)
			return r;
	}
	v = json_object_get(obj, "bandwidth");
	nd->bandwidth = 0; /* checked against the source later */
	if (v) {
		snprintf(sub, sizeof sub, "%s.bandwidth", where);
		r = get_number(v, sub, RANGE_POSITIVE, &nd->bandwidth, ret_error);
		if (r < 0)
			return r;
	}
	return 0;
}

static int parse_container(const json_t *obj, size_t i, PlacementContainer *ct, char **ret_error)
{
	static const char *const keys[] = { "name", "demand", "transfer_bytes", NULL };
	char where[64], sub[96];
	const json_t *v;
	int r;

	snprintf(where, sizeof where, "containers[%zu]", i);
	if (!json_is_object(obj))
		return fail(ret_error, "%s: must be an object", where);
	r = check_keys(obj, where, keys, ret_error);
	if (r < 0)
		return r;
	r = get_name(obj, where, &ct->name, ret_error);
	if (r < 0)
		return r;
	snprintf(sub, sizeof sub, "%s.demand", where);
	r = get_resources(json_object_get(obj, "demand"), sub, RANGE_NONNEGATIVE, false, ct->demand,
	                  ret_error);
	if (r < 0)
		return r;
	ct->transfer_bytes = ct->demand[PLACEMENT_MEMORY];
	v = json_object_get(obj, "transfer_bytes");
	if (v) {
		snprintf(sub, sizeof sub, "%s.transfer_bytes", where);
		r = get_number(v, sub, RANGE_NONNEGATIVE, &ct->transfer_bytes, ret_error);
		if (r < 0)
			return r;
	}
	return 0;
}

static int cmp_node_name(const void *a, const void *b, void *userdata)
{
	const PlacementNode *nodes = userdata;
	size_t x = *(const size_t *)a, y = *(const size_t *)b;
	int k = strcmp(nodes[x].name, nodes[y].name);
	if (k != 0)
		return k;
	return (x > y) - (x < y);
}

/* Duplicate node names, found by sorting (a pairwise check is quadratic in the nodes). */
static int check_node_names(const PlacementInstance *p, char **ret_error)
{
	_cleanup_free_ size_t *idx = malloc(MAX(p->n_nodes, 1u) * sizeof(size_t));
	size_t n = 0;

	if (!idx)
		return -ENOMEM;
	for (size_t j = 0; j < p->n_nodes; j++)
		if (p->nodes[j].name)
			idx[n++] = j;
	qsort_r(idx, n, sizeof(size_t), cmp_node_name, p->nodes);
	/* Report the later of the first two nodes that share a name, as a reader going down
	 * the array would meet it. */
	size_t dup = SIZE_MAX, first = SIZE_MAX;
	for (size_t i = 1; i < n; i++)
		if (streq(p->nodes[idx[i - 1]].name, p->nodes[idx[i]].name) && idx[i] < dup) {
			dup = idx[i];
			/* the earliest node with this name */
			size_t k = i - 1;
			while (k > 0 && streq(p->nodes[idx[k - 1]].name, p->nodes[idx[i]].name))
				k--;
			first = idx[k];
		}
	if (dup != SIZE_MAX)
		return fail(ret_error, "nodes[%zu].name: '%s' is also nodes[%zu]", dup,
		            p->nodes[dup].name, first);
	return 0;
}

int placement_instance_from_json(const json_t *root, PlacementInstance **ret, char **ret_error)
{
	static const char *const keys[] = { "nodes",   "containers", "source",
		                            "weights", "thresholds", NULL };
	_cleanup_placement_instance_ PlacementInstance *p = NULL;
	double threshold[_PLACEMENT_RESOURCE_MAX] = { 1, 1, 1 };
	const json_t *nodes, *containers, *v;
	PlacementWeights weights;
	int r;

	if (!json_is_object(root))
		return fail(ret_error, "instance: must be a JSON object");
	r = check_keys(root, "instance", keys, ret_error);
	if (r < 0)
		return r;
	placement_weights_init(&weights);
	v = json_object_get(root, "weights");
	if (v) {
		r = parse_weights(v, &weights, ret_error);
		if (r < 0)
			return r;
	}
	v = json_object_get(root, "thresholds");
	if (v) {
		r = get_resources(v, "thresholds", RANGE_FRACTION, true, threshold, ret_error);
		if (r < 0)
			return r;
	}

	nodes = json_object_get(root, "nodes");
	containers = json_object_get(root, "containers");
	if (!json_is_array(nodes) || json_array_size(nodes) == 0)
		return fail(ret_error, "nodes: must be a non-empty array");
	if (!json_is_array(containers))
		return fail(ret_error, "containers: must be an array");
	if (json_array_size(nodes) > PLACEMENT_NODES_MAX)
		return fail(ret_error, "nodes: more than %u", PLACEMENT_NODES_MAX);
	if (json_array_size(containers) > PLACEMENT_CONTAINERS_MAX)
		return fail(ret_error, "containers: more than %u", PLACEMENT_CONTAINERS_MAX);

	r = placement_instance_new(json_array_size(nodes), json_array_size(containers), &p);
	if (r < 0)
		return r;

	p->weights = weights;

	for (size_t j = 0; j < p->n_nodes; j++) {
		r = parse_node(json_array_get(nodes, j), j, threshold, &p->nodes[j], ret_error);
		if (r < 0)
			return r;
	}
	r = check_node_names(p, ret_error);
	if (r < 0)
		return r;
	for (size_t c = 0; c < p->n_containers; c++) {
		r = parse_container(json_array_get(containers, c), c, &p->containers[c], ret_error);
		if (r < 0)
			return r;
	}

	v = json_object_get(root, "source");
	if (json_is_string(v)) {
		for (size_t j = 0; j < p->n_nodes && p->source < 0; j++)
			if (streq_ptr(p->nodes[j].name, json_string_value(v)))
				p->source = (ssize_t)j;
		if (p->source < 0)
			return fail(ret_error, "source: no node is named '%s'",
			            json_string_value(v));
	} else if (json_is_integer(v)) {
		json_int_t i = json_integer_value(v);
		if (i < 0 || (size_t)i >= p->n_nodes)
			return fail(ret_error, "source: index %lld is not a node", (long long)i);
		p->source = (ssize_t)i;
	} else if (v && !json_is_null(v))
		return fail(ret_error, "source: must be a node name, a node index or null");

	for (size_t j = 0; j < p->n_nodes; j++)
		if ((ssize_t)j != p->source && p->nodes[j].bandwidth <= 0)
			return fail(ret_error,
			            "nodes[%zu].bandwidth: missing (required on targets)", j);

	r = placement_instance_validate(p);
	if (r < 0)
		return fail(ret_error, "instance: invalid (%s)", strerror(-r));
	*ret = TAKE_PTR(p);
	return 0;
}

/* The whole stream in memory: jansson reads a FILE one getc() at a time, several times slower
 * than parsing a buffer. Bounded by what a valid instance can need. */
#define INSTANCE_FILE_MAX (1ULL << 31)

static int read_all(FILE *f, char **ret, size_t *ret_size)
{
	_cleanup_free_ char *buf = NULL;
	size_t size = 0, allocated = 0;

	for (;;) {
		if (allocated - size < 65536) {
			allocated = MAX(allocated * 2, (size_t)1 << 20);
			if (allocated > INSTANCE_FILE_MAX)
				return -EFBIG;
			char *b = realloc(buf, allocated);
			if (!b)
				return -ENOMEM;
			buf = b;
		}
		size_t k = fread(buf + size, 1, allocated - size, f);
		size += k;
		if (k == 0) {
			if (ferror(f))
				return -EIO;
			break;
		}
	}
	*ret = TAKE_PTR(buf);
	*ret_size = size;
	return 0;
}

static int load_error(char **ret_error, int r, const char *fmt, ...) _printf_(3, 4);
static int load_error(char **ret_error, int r, const char *fmt, ...)
{
	va_list ap;

	if (!ret_error)
		return r;
	free(*ret_error);
	va_start(ap, fmt);
	if (vasprintf(ret_error, fmt, ap) < 0)
		*ret_error = NULL;
	va_end(ap);
	return r;
}

int placement_instance_load(const char *path, PlacementInstance **ret, char **ret_error)
{
	_cleanup_placement_json_ json_t *root = NULL;
	_cleanup_fclose_ FILE *opened = NULL;
	_cleanup_free_ char *text = NULL;
	size_t size;
	json_error_t err;
	FILE *f = stdin;
	int r;

	if (!streq(path, "-")) {
		struct stat st;

		opened = f = fopen(path, "re");
		if (!f || fstat(fileno(f), &st) < 0) {
			r = negative_errno();
			return load_error(ret_error, r, "unable to open: %s", strerror(-r));
		}
		if (S_ISDIR(st.st_mode))
			return load_error(ret_error, -EISDIR,
			                  "is a directory, not an instance file");
		if (!S_ISREG(st.st_mode) && !S_ISFIFO(st.st_mode) && !S_ISCHR(st.st_mode))
			return load_error(ret_error, -EINVAL, "not a regular file");
	}
	r = read_all(f, &text, &size);
	if (r == -EFBIG)
		return load_error(ret_error, r, "larger than %llu bytes", INSTANCE_FILE_MAX);
	if (r < 0)
		return load_error(ret_error, r, "cannot read: %s", strerror(-r));
	root = json_loadb(text, size, JSON_REJECT_DUPLICATES, &err);
	if (!root)
		return load_error(ret_error, -EINVAL, "line %d, column %d: %s", err.line,
		                  err.column, err.text);
	free(TAKE_PTR(text));
	return placement_instance_from_json(root, ret, ret_error);
}

static json_t *resources_to_json(const double v[_PLACEMENT_RESOURCE_MAX])
{
	return json_pack("{s:f, s:f, s:f}", "cpu", v[PLACEMENT_CPU], "memory", v[PLACEMENT_MEMORY],
	                 "network", v[PLACEMENT_NETWORK]);
}

static json_t *name_or_null(const char *name)
{
	return name ? json_string(name) : json_null();
}

json_t *placement_instance_to_json(const PlacementInstance *p)
{
	_cleanup_placement_json_ json_t *root = NULL, *nodes = json_array(),
	                                *containers = json_array();
	if (!nodes || !containers)
		return NULL;

	for (size_t j = 0; j < p->n_nodes; j++) {
		const PlacementNode *nd = &p->nodes[j];
		json_t *o = json_pack(
		        "{s:o?, s:o, s:o, s:o}", "name", nd->name ? json_string(nd->name) : NULL,
		        "capacity", resources_to_json(nd->capacity), "used",
		        resources_to_json(nd->used), "threshold", resources_to_json(nd->threshold));
		if (!o)
			return NULL;
		if ((ssize_t)j != p->source || nd->bandwidth > 0)
			json_object_set_new(o, "bandwidth", json_real(nd->bandwidth));
		if (json_array_append_new(nodes, o) < 0)
			return NULL;
	}
	for (size_t c = 0; c < p->n_containers; c++) {
		const PlacementContainer *ct = &p->containers[c];
		json_t *o = json_pack("{s:o?, s:o, s:f}", "name",
		                      ct->name ? json_string(ct->name) : NULL, "demand",
		                      resources_to_json(ct->demand), "transfer_bytes",
		                      ct->transfer_bytes);
		if (!o || json_array_append_new(containers, o) < 0)
			return NULL;
	}
	root = json_pack("{s:{s:f, s:f, s:f, s:f, s:f}, s:O, s:O}", "weights", "imbalance",
	                 p->weights.imbalance, "migration", p->weights.migration, "cpu",
	                 p->weights.resource[PLACEMENT_CPU], "memory",
	                 p->weights.resource[PLACEMENT_MEMORY], "network",
	                 p->weights.resource[PLACEMENT_NETWORK], "nodes", nodes, "containers",
	                 containers);
	if (!root)
		return NULL;
	if (p->source >= 0 &&
	    json_object_set_new(root, "source", json_integer((json_int_t)p->source)) < 0)
		return NULL;
	return TAKE_PTR(root);
}

json_t *placement_result_to_json(const PlacementInstance *p, const PlacementResult *r)
{
	_cleanup_placement_json_ json_t *root = NULL, *placement = json_array();
	bool feasible = placement_status_is_feasible(r->status);

	if (!placement)
		return NULL;
	for (size_t c = 0; feasible && c < r->n_containers; c++) {
		size_t j = (size_t)r->assignment[c];
		json_t *o = json_pack("{s:o, s:I, s:o, s:I}", "container",
		                      name_or_null(p->containers[c].name), "container_index",
		                      (json_int_t)c, "node", name_or_null(p->nodes[j].name),
		                      "node_index", (json_int_t)j);
		if (!o || json_array_append_new(placement, o) < 0)
			return NULL;
	}
	root = json_pack("{s:s, s:s, s:b, s:O, s:f, s:I, s:I}", "solver",
	                 placement_solver_to_string(r->solver), "status",
	                 placement_status_to_string(r->status), "feasible", feasible, "placement",
	                 placement, "elapsed_ms", r->elapsed_ms, "iterations",
	                 (json_int_t)r->iterations, "seed", (json_int_t)r->seed);
	if (!root)
		return NULL;
	if (feasible) {
		json_t *parts = json_pack("{s:f, s:f, s:o, s:f}", "objective", r->score.objective,
		                          "imbalance", r->score.imbalance, "imbalance_per_resource",
		                          resources_to_json(r->score.imbalance_per_resource),
		                          "migration_seconds", r->score.migration_seconds);
		if (!parts || json_object_update(root, parts) < 0) {
			json_decref(parts);
			return NULL;
		}
		json_decref(parts);
	}
	return TAKE_PTR(root);
}
