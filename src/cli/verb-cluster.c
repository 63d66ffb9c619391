/* verb-cluster.c — `podmig nodes` and `podmig ps`: the cluster as the agents
 * publish it in etcd (docs/etcd-keys.md), as a table or as JSON, once or
 * redrawn on every change (--watch). */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli-common.h"
#include "etcd.h"
#include "json-util.h"
#include "log.h"
#include "strutil.h"
#include "verbs.h"

/* Who leads the schedulers, and which nodes are drained. */
static void nodes_footer(const ClusterOptions *o, FILE *f)
{
	_cleanup_(etcd_client_freep) EtcdClient *etcd = NULL;
	_cleanup_free_ char *drain = NULL;
	EtcdKeyValue *kvs = NULL;
	size_t n = 0;
	char leader[256];
	if (cli_etcd_connect(o, &etcd) < 0)
		return;
	int r = cli_scheduler_leader(o, etcd, leader, sizeof leader);
	if (r >= 0)
		fprintf(f, "\nscheduler leader: %s\n", r > 0 ? leader : "none");
	if (asprintf(&drain, "%sdrain/", o->prefix) < 0 ||
	    etcd_get_prefix(etcd, drain, &kvs, &n, NULL) < 0)
		return;
	for (size_t i = 0; i < n; i++)
		fprintf(f, "%s%s",
		        i ? ", " : "drained: ", cli_sanitize(kvs[i].key + strlen(drain)));
	if (n)
		fputc('\n', f);
	etcd_key_values_free(kvs, n);
}

/* Prints JSON (pretty, then a newline) into f. */
static int json_render(json_t *doc, FILE *f)
{
	if (json_dumpf(doc, f, JSON_INDENT(2) | JSON_REAL_PRECISION(9)) < 0 || fputc('\n', f) < 0)
		return log_error_errno(-EIO, "cannot write the output");
	return 0;
}

static int nodes_render(const ClusterOptions *o, FILE *f)
{
	_cleanup_json_ json_t *nodes = NULL;
	int r = cli_nodes_load(o, &nodes);
	if (r < 0)
		return r;

	size_t i;
	json_t *node;
	json_array_foreach (nodes, i, node) {
		const json_t *info = json_object_get(node, "info");
		const json_t *status = json_object_get(node, "status");
		json_t *cts = json_object_get(status, "containers");
		json_object_set_new(node, "address",
		                    json_string(json_get_string(info, "grpc_address") ?: ""));
		json_object_set_new(
		        node, "containers",
		        json_integer(json_is_array(cts) ? (json_int_t)json_array_size(cts) : 0));
		double age = cli_age_seconds(status);
		json_object_set_new(node, "age_seconds", age >= 0 ? json_real(age) : json_null());
	}
	if (o->json)
		return json_render(nodes, f);

	fprintf(f, "%-12s %-21s %6s %6s %9s %9s %10s %6s\n", "NODE", "ADDRESS", "CPU%", "MEM%",
	        "NET-RX/s", "NET-TX/s", "CONTAINERS", "AGE");
	json_array_foreach (nodes, i, node) {
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
			cli_format_bytes(json_get_number(net, "rx_bytes_per_sec", 0), rx,
			                 sizeof rx);
			cli_format_bytes(json_get_number(net, "tx_bytes_per_sec", 0), tx,
			                 sizeof tx);
		}
		const json_t *a = json_object_get(node, "age_seconds");
		if (json_is_number(a))
			snprintf(age, sizeof age, "%.1fs", json_number_value(a));
		fprintf(f, "%-12s %-21s %6s %6s %9s %9s %10lld %6s\n",
		        json_get_string(node, "name"), json_get_string(node, "address"), cpup, memp,
		        rx, tx, (long long)json_get_i64(node, "containers", 0), age);
	}
	nodes_footer(o, f);
	return 0;
}

/* Draws once on stdout, or watches. */
static int render_or_watch(const ClusterOptions *o, const char *title, CliRender render)
{
	if (o->watch)
		return cli_watch(o, title, render);
	if (render(o, stdout) < 0)
		return EXIT_FAILURE;
	return fflush(stdout) == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

int verb_nodes(int argc, char *argv[])
{
	ClusterOptions o;
	static const CliVerb verb = {
		.name = "nodes",
		.what = "Shows the nodes the agents publish in etcd and their load, the\n"
		        "scheduler's leader and the drained nodes.",
		.flags = CLI_PARSE_WATCH,
	};
	int r = cli_parse_full(argc, argv, &verb, NULL, NULL, &o);
	if (r <= 0)
		return r < 0 ? 2 : EXIT_SUCCESS;
	return render_or_watch(&o, "podmig nodes", nodes_render);
}

static int ps_render(const ClusterOptions *o, FILE *f)
{
	_cleanup_json_ json_t *nodes = NULL, *all = json_array();
	if (!all)
		return log_error_errno(-ENOMEM, "out of memory");
	int r = cli_nodes_load(o, &nodes);
	if (r < 0)
		return r;

	size_t i, k;
	json_t *node, *ct;
	json_array_foreach (nodes, i, node) {
		json_t *cts = json_object_get(json_object_get(node, "status"), "containers");
		if (!json_is_array(cts))
			continue;
		json_array_foreach (cts, k, ct) {
			if (!json_is_object(ct))
				continue;
			json_t *c = json_deep_copy(ct);
			if (!c || json_object_set(c, "node", json_object_get(node, "name")) < 0 ||
			    json_array_append_new(all, c) < 0)
				return log_error_errno(-ENOMEM, "out of memory");
		}
	}
	if (o->json)
		return json_render(all, f);

	fprintf(f, "%-12s %-24s %-10s %-36s %6s %9s %-12s\n", "NODE", "NAME", "STATE", "IMAGE",
	        "CPU%", "MEMORY", "ID");
	json_array_foreach (all, i, ct) {
		char cpu[16] = "-", mem[16] = "-";
		if (json_object_get(ct, "cpu_percent")) {
			snprintf(cpu, sizeof cpu, "%.1f", json_get_number(ct, "cpu_percent", 0));
			cli_format_bytes(json_get_number(ct, "memory_bytes", 0), mem, sizeof mem);
		}
		const char *id = json_get_string(ct, "id") ?: "";
		fprintf(f, "%-12s %-24s %-10s %-36s %6s %9s %-12.12s\n",
		        json_get_string(ct, "node"), json_get_string(ct, "name") ?: "?",
		        json_get_string(ct, "state") ?: "?", json_get_string(ct, "image") ?: "",
		        cpu, mem, id);
	}
	return 0;
}

int verb_ps(int argc, char *argv[])
{
	ClusterOptions o;
	static const CliVerb verb = {
		.name = "ps",
		.what = "Shows every container in the cluster, as the agents publish them\n"
		        "in etcd.",
		.flags = CLI_PARSE_WATCH,
	};
	int r = cli_parse_full(argc, argv, &verb, NULL, NULL, &o);
	if (r <= 0)
		return r < 0 ? 2 : EXIT_SUCCESS;
	return render_or_watch(&o, "podmig ps", ps_render);
}
