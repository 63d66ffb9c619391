/* verb-cluster.c — `podmig nodes` and `podmig ps`: the cluster as the agents
 * publish it in etcd (docs/etcd-keys.md), as a table or as JSON. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "etcd.h"
#include "json-util.h"
#include "log.h"
#include "strutil.h"
#include "verbs.h"

#define DEFAULT_ETCD   "127.0.0.1:2379"
#define DEFAULT_PREFIX "/podmig/"

typedef struct ClusterOptions {
	const char *etcd;
	const char *prefix;
	bool json;
} ClusterOptions;

static void cluster_help(const char *verb, const char *what)
{
	printf("Usage: podmig %s [OPTIONS]\n"
	       "\n"
	       "%s\n"
	       "\n"
	       "Options:\n"
	       "     --etcd ENDPOINT  etcd endpoint (default $PODMIG_ETCD_ENDPOINTS or %s)\n"
	       "     --prefix PREFIX  etcd key prefix (default %s)\n"
	       "     --json           Print JSON instead of a table\n"
	       "  -h --help           Show this help\n",
	       verb, what, DEFAULT_ETCD, DEFAULT_PREFIX);
}

/* 1: go on; 0: help shown; negative: bad usage. */
static int cluster_parse(int argc, char *argv[], const char *verb, const char *what,
                         ClusterOptions *o)
{
	enum { ARG_ETCD = 0x100, ARG_PREFIX, ARG_JSON };
	static const struct option options[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "etcd", required_argument, NULL, ARG_ETCD },
		{ "prefix", required_argument, NULL, ARG_PREFIX },
		{ "json", no_argument, NULL, ARG_JSON },
		{},
	};
	int c;

	const char *env = getenv("PODMIG_ETCD_ENDPOINTS");
	*o = (ClusterOptions){ .etcd = env && *env ? env : DEFAULT_ETCD, .prefix = DEFAULT_PREFIX };
	optind = 0;
	while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
		switch (c) {
		case 'h':
			cluster_help(verb, what);
			return 0;
		case ARG_ETCD:
			o->etcd = optarg;
			break;
		case ARG_PREFIX:
			o->prefix = optarg;
			break;
		case ARG_JSON:
			o->json = true;
			break;
		default:
			return -EINVAL;
		}
	if (optind < argc) {
		log_error("%s: unexpected argument '%s'", verb, argv[optind]);
		return -EINVAL;
	}
	return 1;
}

/* Every node under <prefix>nodes/ as {"name", "info", "status"}, by name. */
static int nodes_load(const ClusterOptions *o, json_t **ret)
{
	_cleanup_(etcd_client_freep) EtcdClient *etcd = NULL;
	_cleanup_free_ char *first = strndup(o->etcd, strcspn(o->etcd, ","));
	_cleanup_free_ char *prefix = NULL;
	EtcdKeyValue *kvs = NULL;
	size_t n = 0;
	int64_t rev;
	int r;

	rpc_global_init();
	if (!first || asprintf(&prefix, "%snodes/", o->prefix) < 0)
		return log_error_errno(-ENOMEM, "out of memory");
	const char *endpoint = first, *p;
	if ((p = startswith(first, "http://")))
		endpoint = p;
	EtcdOptions eo = { .rpc.plaintext = true, .request_timeout_usec = 3 * RPC_USEC_PER_SEC };
	if ((r = etcd_client_new(endpoint, &eo, &etcd)) < 0)
		return log_error_errno(r, "cannot set up a client for etcd at %s", o->etcd);
	r = etcd_get_prefix(etcd, prefix, &kvs, &n, &rev);
	if (r < 0)
		return log_error_errno(r, "cannot read the cluster from etcd at %s", o->etcd);

	_cleanup_json_ json_t *nodes = json_array();
	json_t *cur = NULL;
	for (size_t i = 0; nodes && i < n; i++) {
		const char *rest = kvs[i].key + strlen(prefix);
		const char *slash = strchr(rest, '/');
		if (!slash)
			continue;
		_cleanup_free_ char *name = strndup(rest, (size_t)(slash - rest));
		const char *what = slash + 1;
		if (!name || (!streq(what, "info") && !streq(what, "status")))
			continue;
		if (!cur || !streq(json_get_string(cur, "name"), name)) {
			cur = json_pack("{s:s, s:n, s:n}", "name", name, "info", "status");
			if (json_array_append_new(nodes, cur) < 0)
				break;
		}
		json_t *doc = json_loadb(kvs[i].value, kvs[i].value_size, 0, NULL);
		if (!json_is_object(doc)) {
			log_warning("%s: not a JSON object; ignoring it", kvs[i].key);
			json_decref(doc);
			continue;
		}
		json_object_set_new(cur, what, doc);
	}
	etcd_key_values_free(kvs, n);
	if (!nodes)
		return log_error_errno(-ENOMEM, "out of memory");
	*ret = TAKE_PTR(nodes);
	return 0;
}

static double age_seconds(const json_t *status)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	int64_t now = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
	int64_t t = json_get_i64(status, "timestamp_usec", 0);
	return t > 0 ? (double)(now - t) / 1e6 : -1;
}

static void format_bytes(double v, char *buf, size_t size)
{
	static const char *const units[] = { "B", "K", "M", "G", "T" };
	unsigned u = 0;
	while (v >= 1024 && u + 1 < ELEMENTSOF(units)) {
		v /= 1024;
		u++;
	}
	snprintf(buf, size, u == 0 ? "%.0f%s" : "%.1f%s", v, units[u]);
}

static int print_json(json_t *doc)
{
	if (json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_REAL_PRECISION(9)) < 0 || puts("") < 0 ||
	    fflush(stdout) != 0) {
		log_error("cannot write the output");
		return EXIT_FAILURE;
	}
	return EXIT_SUCCESS;
}

int verb_nodes(int argc, char *argv[])
{
	_cleanup_json_ json_t *nodes = NULL;
	ClusterOptions o;
	int r = cluster_parse(argc, argv, "nodes",
	                      "Shows the nodes the agents publish in etcd and "
	                      "their load.",
	                      &o);
	if (r <= 0)
		return r < 0 ? 2 : EXIT_SUCCESS;
	if (nodes_load(&o, &nodes) < 0)
		return EXIT_FAILURE;

	size_t i;
	json_t *node;
	json_array_foreach(nodes, i, node)
	{
		const json_t *info = json_object_get(node, "info");
		const json_t *status = json_object_get(node, "status");
		json_t *cts = json_object_get(status, "containers");
		json_object_set_new(node, "address",
		                    json_string(json_get_string(info, "grpc_address") ?: ""));
		json_object_set_new(
		        node, "containers",
		        json_integer(json_is_array(cts) ? (json_int_t)json_array_size(cts) : 0));
		double age = age_seconds(status);
		json_object_set_new(node, "age_seconds", age >= 0 ? json_real(age) : json_null());
	}
	if (o.json)
		return print_json(nodes);

	printf("%-12s %-21s %6s %6s %9s %9s %10s %6s\n", "NODE", "ADDRESS", "CPU%", "MEM%",
	       "NET-RX/s", "NET-TX/s", "CONTAINERS", "AGE");
	json_array_foreach(nodes, i, node)
	{
		const json_t *status = json_object_get(node, "status");
		const json_t *cpu = json_object_get(status, "cpu");
		const json_t *mem = json_object_get(status, "memory");
		const json_t *net = json_object_get(status, "network");
		char rx[16] = "-", tx[16] = "-", cpup[16] = "-", memp[16] = "-", age[16] = "-";
		if (json_is_object(cpu))
			snprintf(cpup, sizeof cpup, "%.1f", json_get_number(cpu, "percent", 0));
		if (json_is_object(mem))
			snprintf(memp, sizeof memp, "%.1f", json_get_number(mem, "percent", 0));
		if (json_is_object(net)) {
			format_bytes(json_get_number(net, "rx_bytes_per_sec", 0), rx, sizeof rx);
			format_bytes(json_get_number(net, "tx_bytes_per_sec", 0), tx, sizeof tx);
		}
		const json_t *a = json_object_get(node, "age_seconds");
		if (json_is_number(a))
			snprintf(age, sizeof age, "%.1fs", json_number_value(a));
		printf("%-12s %-21s %6s %6s %9s %9s %10lld %6s\n", json_get_string(node, "name"),
		       json_get_string(node, "address"), cpup, memp, rx, tx,
		       (long long)json_get_i64(node, "containers", 0), age);
	}
	return EXIT_SUCCESS;
}

int verb_ps(int argc, char *argv[])
{
	_cleanup_json_ json_t *nodes = NULL, *all = json_array();
	ClusterOptions o;
	int r = cluster_parse(argc, argv, "ps",
	                      "Shows every container in the cluster, as the agents "
	                      "publish them in etcd.",
	                      &o);
	if (r <= 0)
		return r < 0 ? 2 : EXIT_SUCCESS;
	if (!all || nodes_load(&o, &nodes) < 0)
		return EXIT_FAILURE;

	size_t i, k;
	json_t *node, *ct;
	json_array_foreach(nodes, i, node)
	{
		json_t *cts = json_object_get(json_object_get(node, "status"), "containers");
		if (!json_is_array(cts))
			continue;
		json_array_foreach(cts, k, ct)
		{
			if (!json_is_object(ct))
				continue;
			json_t *c = json_deep_copy(ct);
			if (!c || json_object_set(c, "node", json_object_get(node, "name")) < 0 ||
			    json_array_append_new(all, c) < 0)
				return EXIT_FAILURE;
		}
	}
	if (o.json)
		return print_json(all);

	printf("%-12s %-24s %-10s %-36s %6s %9s %-12s\n", "NODE", "NAME", "STATE", "IMAGE", "CPU%",
	       "MEMORY", "ID");
	json_array_foreach(all, i, ct)
	{
		char cpu[16] = "-", mem[16] = "-";
		if (json_object_get(ct, "cpu_percent")) {
			snprintf(cpu, sizeof cpu, "%.1f", json_get_number(ct, "cpu_percent", 0));
			format_bytes(json_get_number(ct, "memory_bytes", 0), mem, sizeof mem);
		}
		const char *id = json_get_string(ct, "id") ?: "";
		printf("%-12s %-24s %-10s %-36s %6s %9s %-12.12s\n", json_get_string(ct, "node"),
		       json_get_string(ct, "name") ?: "?", json_get_string(ct, "state") ?: "?",
		       json_get_string(ct, "image") ?: "", cpu, mem, id);
	}
	return EXIT_SUCCESS;
}
