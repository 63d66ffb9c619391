/* scheduler-json.c — the scheduler's view from the documents in etcd: a node from its `info`
 * and `status` (docs/etcd-keys.md), migration records, drain marks. Pure: text in, structs out.
 * A document that does not parse leaves out what it describes and is counted. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "migration-record.h"
#include "scheduler-json.h"
#include "strutil.h"

/* Agents that publish no `interval_usec` sample every second (the agent's default). */
#define DEFAULT_INTERVAL_USEC 1000000ULL

/* ---- numbers ---- */

/* A finite number >= 0 (integer or real). */
static bool get_nonneg(const json_t *o, const char *key, double *ret)
{
	const json_t *v = json_object_get(o, key);
	if (!json_is_number(v))
		return false;
	double d = json_number_value(v);
	if (!isfinite(d) || d < 0)
		return false;
	*ret = d;
	return true;
}

/* Like get_nonneg, 0 when the member is absent. */
static bool get_nonneg_opt(const json_t *o, const char *key, double *ret)
{
	if (!json_object_get(o, key)) {
		*ret = 0;
		return true;
	}
	return get_nonneg(o, key, ret);
}

static bool get_positive_int(const json_t *o, const char *key, uint64_t *ret)
{
	const json_t *v = json_object_get(o, key);
	if (!json_is_integer(v) || json_integer_value(v) <= 0)
		return false;
	*ret = (uint64_t)json_integer_value(v);
	return true;
}

static double percent_of(double used, double capacity)
{
	return capacity > 0 ? 100.0 * used / capacity : 0;
}

/* ---- nodes ---- */

static int parse_container(const json_t *o, SchedContainer *ret)
{
	const char *name = json_string_value(json_object_get(o, "name"));
	const char *state = json_string_value(json_object_get(o, "state"));
	const json_t *labels = json_object_get(o, "labels");
	double cpu_percent, memory, rx, tx;

	if (!json_is_object(o) || !name || !*name || !state ||
	    (labels && !json_is_object(labels)) ||
	    !get_nonneg_opt(o, "cpu_percent", &cpu_percent) ||
	    !get_nonneg_opt(o, "memory_bytes", &memory) ||
	    !get_nonneg_opt(o, "net_rx_bytes_per_sec", &rx) ||
	    !get_nonneg_opt(o, "net_tx_bytes_per_sec", &tx))
		return -EBADMSG;

	SchedContainer c = {
		.running = streq(state, "running"),
		.opt_out = streq_ptr(json_string_value(json_object_get(labels, "podmig.migrate")),
		                     "false"),
		.demand = { [PLACEMENT_CPU] = cpu_percent / 100.0,
		            [PLACEMENT_MEMORY] = memory,
		            /* the busier direction, as the node's own network use */
		            [PLACEMENT_NETWORK] = MAX(rx, tx) },
		.memory_bytes = memory,
	};
	if (!(c.name = strdup(name)))
		return -ENOMEM;
	*ret = c;
	return 0;
}

static int parse_recent(const json_t *recent, SchedNode *n)
{
	size_t total = json_array_size(recent);
	/* the newest SCHED_SAMPLES_MAX, should an agent publish more */
	size_t first = total > SCHED_SAMPLES_MAX ? total - SCHED_SAMPLES_MAX : 0;

	if (total == 0)
		return -EBADMSG;
	if (!(n->samples = calloc(total - first, sizeof(SchedSample))))
		return -ENOMEM;
	for (size_t i = first; i < total; i++) {
		const json_t *s = json_array_get(recent, i);
		SchedSample *out = &n->samples[n->n_samples];
		if (!json_is_object(s) || !get_positive_int(s, "t", &out->timestamp_usec) ||
		    !get_nonneg(s, "cpu", &out->percent[PLACEMENT_CPU]) ||
		    !get_nonneg(s, "memory", &out->percent[PLACEMENT_MEMORY]) ||
		    !get_nonneg(s, "network", &out->percent[PLACEMENT_NETWORK]))
			return -EBADMSG;
		n->n_samples++;
	}
	return 0;
}

/* -EBADMSG if either document is not what an agent writes. */
static int parse_node(const char *name, const char *info_text, size_t info_size,
                      const char *status_text, size_t status_size, SchedNode *ret)
{
	_cleanup_(json_decrefp) json_t *info = json_loadb(info_text, info_size, 0, NULL);
	_cleanup_(json_decrefp) json_t *status = json_loadb(status_text, status_size, 0, NULL);
	_cleanup_(sched_node_done) SchedNode n = {};
	uint64_t timestamp;
	double memory, rx, tx;
	int r;

	if (!json_is_object(info) || !json_is_object(status))
		return -EBADMSG;

	const json_t *capacity = json_object_get(info, "capacity");
	if (!get_nonneg(capacity, "cpus", &n.capacity[PLACEMENT_CPU]) ||
	    !get_nonneg(capacity, "memory_bytes", &n.capacity[PLACEMENT_MEMORY]) ||
	    !get_nonneg(info, "link_bandwidth_bytes_per_sec", &n.capacity[PLACEMENT_NETWORK]) ||
	    n.capacity[PLACEMENT_CPU] <= 0 || n.capacity[PLACEMENT_MEMORY] <= 0)
		return -EBADMSG;

	const json_t *cpu = json_object_get(status, "cpu");
	const json_t *mem = json_object_get(status, "memory");
	const json_t *net = json_object_get(status, "network");
	const json_t *containers = json_object_get(status, "containers");
	const json_t *recent = json_object_get(status, "recent");
	if (!get_positive_int(status, "timestamp_usec", &timestamp) ||
	    !get_nonneg(cpu, "used_cores", &n.used[PLACEMENT_CPU]) ||
	    !get_nonneg(mem, "used_bytes", &memory) || !get_nonneg(net, "rx_bytes_per_sec", &rx) ||
	    !get_nonneg(net, "tx_bytes_per_sec", &tx) || !json_is_array(containers) ||
	    (recent && !json_is_array(recent)))
		return -EBADMSG;
	n.used[PLACEMENT_MEMORY] = memory;
	n.used[PLACEMENT_NETWORK] = MAX(rx, tx);

	if (!json_object_get(status, "interval_usec"))
		n.interval_usec = DEFAULT_INTERVAL_USEC;
	else if (!get_positive_int(status, "interval_usec", &n.interval_usec))
		return -EBADMSG;

	if (recent) {
		if ((r = parse_recent(recent, &n)) < 0)
			return r;
	} else {
		/* an agent without `recent`: its current sample alone */
		if (!(n.samples = calloc(1, sizeof(SchedSample))))
			return -ENOMEM;
		n.samples[0] = (SchedSample){
			.timestamp_usec = timestamp,
			.percent = { [PLACEMENT_CPU] = percent_of(n.used[PLACEMENT_CPU],
			                                          n.capacity[PLACEMENT_CPU]),
			             [PLACEMENT_MEMORY] =
			                     percent_of(memory, n.capacity[PLACEMENT_MEMORY]),
			             [PLACEMENT_NETWORK] =
			                     percent_of(n.used[PLACEMENT_NETWORK],
			                                n.capacity[PLACEMENT_NETWORK]) },
		};
		n.n_samples = 1;
	}

	size_t total = json_array_size(containers);
	if (!(n.containers = calloc(MAX(total, 1u), sizeof(SchedContainer))))
		return -ENOMEM;
	for (size_t i = 0; i < total; i++) {
		if ((r = parse_container(json_array_get(containers, i),
		                         &n.containers[n.n_containers])) < 0)
			return r;
		n.n_containers++;
	}
	if (!(n.name = strdup(name)))
		return -ENOMEM;
	*ret = n;
	n = (SchedNode){};
	return 0;
}

/* ---- migrations ---- */

static int parse_migration(const SchedDocument *d, SchedMigration *ret)
{
	MigrationRecord rec = {};
	int r = migration_record_from_json(d->value, d->size, &rec);
	if (r < 0)
		return r == -ENOMEM ? r : -EBADMSG;

	SchedMigration m = {
		.automatic = rec.reason == MIGRATION_REASON_AUTOMATIC ||
		             rec.reason == MIGRATION_REASON_DRAIN,
		.started_usec = rec.phase_time_ms[MIGRATION_PLANNED] * 1000,
	};
	if (!migration_phase_is_final(rec.phase))
		m.state = SCHED_MIGRATION_ACTIVE;
	else {
		m.state =
		        rec.phase == MIGRATION_DONE ? SCHED_MIGRATION_DONE : SCHED_MIGRATION_UNDONE;
		m.ended_usec = rec.phase_time_ms[rec.phase] * 1000;
	}
	if (rec.phase == MIGRATION_DONE)
		m.downtime_sec = (double)rec.downtime_ms / 1000.0;
	m.container = TAKE_PTR(rec.container);
	m.source = TAKE_PTR(rec.source);
	m.target = TAKE_PTR(rec.target);
	migration_record_clear(&rec);
	*ret = m;
	return 0;
}

/* ---- the view ---- */

typedef enum NodeDocKind {
	NODE_DOC_INFO,
	NODE_DOC_STATUS,
} NodeDocKind;

typedef struct NodeDoc {
	const char *name; /* into the key, name_len bytes */
	size_t name_len;
	NodeDocKind kind;
	const SchedDocument *doc;
} NodeDoc;

static int node_doc_compare(const void *a, const void *b)
{
	const NodeDoc *x = a, *y = b;
	int c = strncmp(x->name, y->name, MIN(x->name_len, y->name_len));
	if (c != 0)
		return c;
	if (x->name_len != y->name_len)
		return x->name_len < y->name_len ? -1 : 1;
	return (int)x->kind - (int)y->kind;
}

static bool same_name(const NodeDoc *a, const NodeDoc *b)
{
	return a->name_len == b->name_len && strncmp(a->name, b->name, a->name_len) == 0;
}

/* `rest` (after "<prefix>nodes/") is "<name>/info" or "<name>/status". */
static bool node_key_split(const char *rest, NodeDoc *ret)
{
	const char *slash = strchr(rest, '/');
	if (!slash || slash == rest)
		return false;
	if (streq(slash + 1, "info"))
		ret->kind = NODE_DOC_INFO;
	else if (streq(slash + 1, "status"))
		ret->kind = NODE_DOC_STATUS;
	else
		return false;
	ret->name = rest;
	ret->name_len = (size_t)(slash - rest);
	return true;
}

static SchedNode *view_find_node(SchedView *v, const char *name)
{
	for (size_t i = 0; i < v->n_nodes; i++)
		if (streq(v->nodes[i].name, name))
			return &v->nodes[i];
	return NULL;
}

static int view_build(const char *prefix, const SchedDocument *docs, size_t n, SchedView *v)
{
	_cleanup_free_ NodeDoc *nd = calloc(MAX(n, 1u), sizeof(NodeDoc));
	size_t n_nd = 0, n_migrations = 0;
	int skipped = 0, r;

	if (!nd)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		const char *rest = startswith(docs[i].key, prefix);
		const char *sub;
		if (!rest)
			continue;
		if ((sub = startswith(rest, "nodes/")) && node_key_split(sub, &nd[n_nd])) {
			nd[n_nd++].doc = &docs[i];
		} else if ((sub = startswith(rest, "migrations/")) && *sub && !strchr(sub, '/'))
			n_migrations++;
	}

	/* nodes: pair each info with its status */
	qsort(nd, n_nd, sizeof(NodeDoc), node_doc_compare);
	if (!(v->nodes = calloc(MAX(n_nd, 1u), sizeof(SchedNode))))
		return -ENOMEM;
	for (size_t i = 0; i < n_nd; i++) {
		/* a node needs both documents, once each */
		if (nd[i].kind != NODE_DOC_INFO || i + 1 >= n_nd ||
		    !same_name(&nd[i], &nd[i + 1]) || nd[i + 1].kind != NODE_DOC_STATUS)
			continue;
		const NodeDoc *info = &nd[i], *status = &nd[++i];
		_cleanup_free_ char *name = strndup(info->name, info->name_len);
		if (!name)
			return -ENOMEM;
		if (!migration_name_valid(name)) {
			skipped++;
			continue;
		}
		r = parse_node(name, info->doc->value, info->doc->size, status->doc->value,
		               status->doc->size, &v->nodes[v->n_nodes]);
		if (r == -ENOMEM)
			return r;
		if (r < 0)
			skipped++;
		else
			v->n_nodes++;
	}

	if (!(v->migrations = calloc(MAX(n_migrations, 1u), sizeof(SchedMigration))))
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		const char *rest = startswith(docs[i].key, prefix);
		const char *sub;
		if (!rest)
			continue;
		if ((sub = startswith(rest, "migrations/")) && *sub && !strchr(sub, '/')) {
			r = parse_migration(&docs[i], &v->migrations[v->n_migrations]);
			if (r == -ENOMEM)
				return r;
			if (r < 0)
				skipped++;
			else
				v->n_migrations++;
		} else if ((sub = startswith(rest, "drain/")) && *sub) {
			/* any value marks the node; a node not in the view has nothing to shed */
			SchedNode *node;
			if (!migration_name_valid(sub))
				skipped++;
			else if ((node = view_find_node(v, sub)))
				node->drained = true;
		}
	}
	return skipped;
}

int sched_view_from_documents(const char *prefix, const SchedDocument *docs, size_t n,
                              SchedView *ret)
{
	SchedView v = {};
	int r = view_build(prefix, docs, n, &v);
	if (r < 0) {
		sched_view_done(&v);
		*ret = (SchedView){};
		return r;
	}
	*ret = v;
	return r;
}
