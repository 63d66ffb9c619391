/* agent-json.c — the documents a node publishes to etcd, as readable JSON
 * (docs/etcd-keys.md is their reference). */
#include <string.h>
#include <time.h>

#include "agent.h"
#include "json-util.h"
#include "strutil.h"

static json_t *labels_to_json(char *const *labels)
{
	json_t *o = json_object();
	if (!o)
		return NULL;
	for (size_t i = 0; labels && labels[i]; i++) {
		const char *eq = strchr(labels[i], '=');
		if (!eq)
			continue;
		_cleanup_free_ char *k = strndup(labels[i], (size_t)(eq - labels[i]));
		if (!k || json_object_set_new(o, k, json_string(eq + 1)) < 0) {
			json_decref(o);
			return NULL;
		}
	}
	return o;
}

static void rfc3339(int64_t usec, char buf[40])
{
	time_t t = (time_t)(usec / 1000000);
	struct tm tm;
	gmtime_r(&t, &tm);
	size_t n = strftime(buf, 40, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + n, 40 - n, ".%03dZ", (int)((usec % 1000000) / 1000));
}

json_t *node_info_to_json(const NodeInfo *in)
{
	json_t *labels = labels_to_json(in->labels);
	if (!labels)
		return NULL;
	return json_pack("{s:s, s:s, s:s, s:I, s:s?, s:s, s:{s:f, s:I}, s:I, "
	                 "s:{s:b, s:s, s:b, s:b, s:b, s:I}, s:o, s:I}",
	                 "name", in->name, "grpc_address", in->grpc_address, "version", in->version,
	                 "protocol", (json_int_t)in->protocol, "podman_version", in->podman_version,
	                 "accounting", accounting_source_to_string(in->source), "capacity", "cpus",
	                 in->capacity_cpus, "memory_bytes", (json_int_t)in->capacity_memory,
	                 "link_bandwidth_bytes_per_sec", (json_int_t)in->link_bandwidth, "criu",
	                 "probed", in->criu.probed, "version", in->criu.version, "pre_copy",
	                 criu_features_pre_copy(&in->criu), "lazy_pages",
	                 criu_features_lazy_pages(&in->criu), "post_copy",
	                 criu_features_post_copy(&in->criu), "pipe_max_size",
	                 (json_int_t)in->criu.pipe_max_size, "labels", labels, "started_at",
	                 (json_int_t)in->started_at);
}

static json_t *container_to_json(const ContainerSample *c)
{
	json_t *labels = labels_to_json(c->labels);
	if (!labels)
		return NULL;
	json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:o, s:I}", "id", c->id, "name", c->name,
	                      "image", c->image ?: "", "state", c->state, "labels", labels,
	                      "started_at", (json_int_t)c->started_at);
	if (o && c->stale && json_object_set_new(o, "stale", json_true()) < 0) {
		json_decref(o);
		return NULL;
	}
	if (!o || !c->has_stats)
		return o;
	json_t *st = json_pack("{s:f, s:I, s:I, s:I, s:I, s:I, s:f, s:f}", "cpu_percent",
	                       c->cpu_percent, "memory_bytes", (json_int_t)c->mem_usage,
	                       "memory_limit_bytes", (json_int_t)c->mem_limit, "pids",
	                       (json_int_t)c->pids, "net_rx_bytes", (json_int_t)c->net_rx_bytes,
	                       "net_tx_bytes", (json_int_t)c->net_tx_bytes, "net_rx_bytes_per_sec",
	                       c->net_rx_rate, "net_tx_bytes_per_sec", c->net_tx_rate);
	if (!st || json_object_update(o, st) < 0) {
		json_decref(st);
		json_decref(o);
		return NULL;
	}
	json_decref(st);
	return o;
}

json_t *node_status_to_json(const NodeSample *s)
{
	_cleanup_json_ json_t *ifaces = json_array(), *containers = json_array(),
	                      *recent = json_array();
	char when[40];

	if (!ifaces || !containers || !recent)
		return NULL;
	for (size_t i = 0; i < MIN(s->n_recent, (size_t)COLLECTOR_RECENT_MAX); i++) {
		const RecentSample *r = &s->recent[i];
		if (json_array_append_new(recent,
		                          json_pack("{s:I, s:f, s:f, s:f}", "t",
		                                    (json_int_t)r->timestamp_usec, "cpu",
		                                    r->cpu_percent, "memory", r->mem_percent,
		                                    "network", r->net_percent)) < 0)
			return NULL;
	}
	for (size_t i = 0; i < s->n_interfaces; i++) {
		const InterfaceSample *is = &s->interfaces[i];
		if (json_array_append_new(
		            ifaces, json_pack("{s:s, s:I, s:I, s:f, s:f}", "name", is->name,
		                              "rx_bytes", (json_int_t)is->rx_bytes, "tx_bytes",
		                              (json_int_t)is->tx_bytes, "rx_bytes_per_sec",
		                              is->rx_rate, "tx_bytes_per_sec", is->tx_rate)) < 0)
			return NULL;
	}
	for (size_t i = 0; i < s->n_containers; i++)
		if (json_array_append_new(containers, container_to_json(&s->containers[i])) < 0)
			return NULL;
	rfc3339(s->timestamp_usec, when);
	return json_pack(
	        "{s:I, s:s, s:I, s:s, s:{s:f, s:f, s:f, s:[f,f,f]}, s:{s:I, s:I, s:I, s:f}, "
	        "s:{s:f, s:f, s:I, s:O}, s:{s:b, s:s?, s:b, s:I}, s:O, s:O}",
	        "timestamp_usec", (json_int_t)s->timestamp_usec, "time", when, "interval_usec",
	        (json_int_t)s->interval_usec, "accounting", accounting_source_to_string(s->source),
	        "cpu", "used_cores", s->cpu_used, "percent", s->cpu_percent, "capacity_cores",
	        s->capacity_cpus, "load", s->load[0], s->load[1], s->load[2], "memory",
	        "used_bytes", (json_int_t)s->mem_used, "available_bytes",
	        (json_int_t)s->mem_available, "capacity_bytes", (json_int_t)s->capacity_memory,
	        "percent", s->mem_percent, "network", "rx_bytes_per_sec", s->net_rx_rate,
	        "tx_bytes_per_sec", s->net_tx_rate, "link_bandwidth_bytes_per_sec",
	        (json_int_t)s->link_bandwidth, "interfaces", ifaces, "podman", "ok", s->podman_ok,
	        "error", s->podman_ok && !s->containers_stale ? NULL : s->podman_error, "stale",
	        s->containers_stale, "answered_usec", (json_int_t)s->containers_usec, "containers",
	        containers, "recent", recent);
}
