/* verb-schedule.c — the operator's side of the scheduler: `podmig plan` (what the scheduler
 * would do now and why, computed by the same library from what etcd holds), `podmig
 * decisions` (what it decided), `podmig drain NODE` / `podmig undrain NODE`, and the leader
 * line of `podmig nodes`. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli-common.h"
#include "etcd.h"
#include "json-util.h"
#include "log.h"
#include "migration-record.h"
#include "scheduler-json.h"
#include "scheduler.h"
#include "strutil.h"
#include "time-util.h"
#include "verbs.h"

static char *prefixed(const ClusterOptions *o, const char *fmt, const char *name)
{
	char *k;
	return asprintf(&k, "%s%s%s", o->prefix, fmt, name ?: "") < 0 ? NULL : k;
}

int cli_scheduler_leader(const ClusterOptions *o, EtcdClient *etcd, char *buf, size_t size)
{
	_cleanup_free_ char *key = prefixed(o, "scheduler/leader/", NULL);
	EtcdKeyValue kv = {};
	buf[0] = 0;
	if (!key)
		return -ENOMEM;
	int r = etcd_election_get_leader(etcd, key, &kv);
	if (r == ETCD_NOT_FOUND)
		return 0;
	if (r < 0)
		return r;
	_cleanup_json_ json_t *v = json_loadb(kv.value, kv.value_size, 0, NULL);
	snprintf(buf, size, "%s", json_get_string(v, "name") ?: "(unnamed)");
	cli_sanitize(buf);
	etcd_key_value_done(&kv);
	return 1;
}

/* The policy in etcd, or the defaults; a document that does not parse is reported and the
 * defaults are used (the scheduler itself keeps its last good policy). */
static int policy_load(const ClusterOptions *o, EtcdClient *etcd, SchedPolicy *ret,
                       int64_t *ret_revision)
{
	_cleanup_free_ char *key = prefixed(o, "policy", NULL), *error = NULL;
	EtcdKeyValue kv = {};
	sched_policy_init(ret);
	*ret_revision = 0;
	if (!key)
		return -ENOMEM;
	int r = etcd_get(etcd, key, &kv);
	if (r == ETCD_NOT_FOUND)
		return 0;
	if (r < 0)
		return r;
	_cleanup_json_ json_t *doc = json_loadb(kv.value, kv.value_size, 0, NULL);
	SchedPolicy p;
	sched_policy_init(&p);
	r = doc ? sched_policy_from_json(doc, &p, &error) : -EINVAL;
	if (r < 0)
		log_warning("the policy at %s is invalid (%s); planning with the defaults", key,
		            error ? cli_sanitize(error) : "not JSON");
	else {
		sched_policy_done(ret);
		*ret = p;
		*ret_revision = kv.mod_revision;
	}
	etcd_key_value_done(&kv);
	return 0;
}

static int view_load(const ClusterOptions *o, EtcdClient *etcd, SchedView *ret)
{
	EtcdKeyValue *kvs = NULL;
	size_t n = 0;
	int r = etcd_get_prefix(etcd, o->prefix, &kvs, &n, NULL);
	if (r < 0) {
		log_error("cannot read %s from etcd at %s: %s", o->prefix, o->etcd,
		          cli_etcd_error(o, r));
		return r;
	}
	_cleanup_free_ SchedDocument *docs = calloc(MAX(n, (size_t)1), sizeof *docs);
	if (!docs) {
		etcd_key_values_free(kvs, n);
		log_error("out of memory");
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++)
		docs[i] = (SchedDocument){ kvs[i].key, kvs[i].value, kvs[i].value_size };
	r = sched_view_from_documents(o->prefix, docs, n, ret);
	etcd_key_values_free(kvs, n);
	if (r > 0)
		log_warning("%d malformed document(s) under %s left out", r, o->prefix);
	return r < 0 ? r : 0;
}

static void verdict_print(const SchedVerdict *v)
{
	static const char *const names[SCHED_RESOURCES] = { "CPU", "MEM", "NET" };
	printf("%-12s %-11s", v->node, sched_node_state_to_string(v->state));
	for (size_t r = 0; r < SCHED_RESOURCES; r++) {
		char cell[32] = "-";
		if (v->n_window > 0)
			snprintf(cell, sizeof cell, "%s %5.1f%%/%.0f%s", names[r],
			         v->window[r][v->n_window - 1], v->threshold[r],
			         v->overloaded[r] ? " !" : "");
		printf(" %-20s", cell);
	}
	putchar('\n');
}

static void decision_print(const SchedDecision *d)
{
	printf("\n%s: %s%s\n  %s\n", d->node, sched_outcome_to_string(d->outcome),
	       d->drain ? " (drain)" : "", d->why ?: "");
	for (size_t i = 0; i < d->n_candidates; i++) {
		const SchedCandidate *c = &d->candidates[i];
		char mem[16];
		cli_format_bytes(c->demand[PLACEMENT_MEMORY], mem, sizeof mem);
		printf("  %s %-24s %5.2f cores %8s  cost %.2fs%s%s\n", c->selected ? "*" : " ",
		       c->container, c->demand[PLACEMENT_CPU], mem, c->cost_sec,
		       c->skipped ? "  skipped: " : "", c->skipped ?: "");
	}
	for (size_t i = 0; i < d->n_moves; i++)
		printf("  → %s to %s (transfer ≈ %.2fs)\n", d->moves[i].container,
		       d->moves[i].target, d->moves[i].transfer_sec);
	if (d->placed)
		printf("  placement: %s, %s, objective %.6g (imbalance %.4g, migration %.3gs), "
		       "%.1f ms\n",
		       placement_solver_to_string(d->solver), placement_status_to_string(d->status),
		       d->score.objective, d->score.imbalance, d->score.migration_seconds,
		       d->solve_ms);
}

int verb_plan(int argc, char *argv[])
{
	_cleanup_(etcd_client_freep) EtcdClient *etcd = NULL;
	_cleanup_sched_plan_ SchedPlan *plan = NULL;
	SchedView view = {};
	SchedPolicy policy;
	int64_t revision = 0;
	char leader[256] = "";
	ClusterOptions o;
	int ret = EXIT_FAILURE;
	int r = cli_parse(argc, argv, "plan",
	                  "Shows what the scheduler would do now and why: each node's state\n"
	                  "against the policy's thresholds, and for each overloaded or drained\n"
	                  "node the containers considered, those chosen and their targets. It\n"
	                  "runs the scheduler's own rules on what etcd holds and moves nothing.",
	                  &o);
	if (r <= 0)
		return r < 0 ? 2 : EXIT_SUCCESS;
	sched_policy_init(&policy);
	if (cli_etcd_connect(&o, &etcd) < 0)
		goto out;
	if ((r = policy_load(&o, etcd, &policy, &revision)) < 0) {
		log_error("cannot read the policy from etcd at %s: %s", o.etcd,
		          cli_etcd_error(&o, r));
		goto out;
	}
	if (view_load(&o, etcd, &view) < 0)
		goto out;
	(void)cli_scheduler_leader(&o, etcd, leader, sizeof leader);
	uint64_t now = now_usec(CLOCK_REALTIME);
	if ((r = sched_decide(&view, &policy, now, &plan)) < 0) {
		log_error_errno(r, "cannot plan");
		goto out;
	}

	if (o.json) {
		_cleanup_json_ json_t *doc = json_object(), *nodes = json_array(),
		                      *decisions = json_array();
		if (!doc || !nodes || !decisions)
			goto out;
		for (size_t i = 0; i < plan->n_verdicts; i++) {
			const SchedVerdict *v = &plan->verdicts[i];
			json_t *n = json_pack("{s:s, s:s}", "node", v->node, "state",
			                      sched_node_state_to_string(v->state));
			json_t *res = json_object();
			for (size_t k = 0; n && res && k < SCHED_RESOURCES; k++)
				json_object_set_new(
				        res, placement_resource_to_string(k),
				        json_pack("{s:f, s:b, s:f}", "percent",
				                  v->n_window ? v->window[k][v->n_window - 1] : 0.0,
				                  "overloaded", v->overloaded[k], "threshold",
				                  v->threshold[k]));
			json_object_set_new(n, "resources", res);
			json_array_append_new(nodes, n);
		}
		for (size_t i = 0; i < plan->n_decisions; i++) {
			json_t *d = NULL;
			if (sched_decision_to_json(&plan->decisions[i], NULL, now, &d) >= 0)
				json_array_append_new(decisions, d);
		}
		json_object_set_new(doc, "leader", leader[0] ? json_string(leader) : json_null());
		json_object_set_new(doc, "policy_revision", json_integer(revision));
		json_object_set_new(doc, "mode", json_string(sched_mode_to_string(policy.mode)));
		json_object_set_new(doc, "active_migrations",
		                    json_integer(plan->active_migrations));
		json_object_set(doc, "nodes", nodes);
		json_object_set(doc, "decisions", decisions);
		ret = cli_print_json(doc);
		goto out;
	}

	printf("scheduler leader: %s; policy: %s (mode %s); migrations under way: %u\n\n",
	       leader[0] ? leader : "none", revision ? "from etcd" : "defaults",
	       sched_mode_to_string(policy.mode), plan->active_migrations);
	printf("%-12s %-11s %-20s %-20s %-20s\n", "NODE", "STATE", "CPU now/thr", "MEMORY",
	       "NETWORK");
	for (size_t i = 0; i < plan->n_verdicts; i++)
		verdict_print(&plan->verdicts[i]);
	if (plan->n_decisions == 0)
		printf("\nNothing to do: no node is overloaded or drained.\n");
	for (size_t i = 0; i < plan->n_decisions; i++)
		decision_print(&plan->decisions[i]);
	ret = EXIT_SUCCESS;
out:
	plan = sched_plan_free(plan);
	sched_view_done(&view);
	sched_policy_done(&policy);
	return ret;
}

int verb_decisions(int argc, char *argv[])
{
	_cleanup_(etcd_client_freep) EtcdClient *etcd = NULL;
	_cleanup_free_ char *key = NULL;
	EtcdKeyValue *kvs = NULL;
	size_t n = 0;
	ClusterOptions o;
	int r = cli_parse(argc, argv, "decisions",
	                  "Lists the scheduler's decisions kept in etcd, newest first: the node,\n"
	                  "what triggered it, the outcome and why.",
	                  &o);
	if (r <= 0)
		return r < 0 ? 2 : EXIT_SUCCESS;
	if (cli_etcd_connect(&o, &etcd) < 0 || !(key = prefixed(&o, "decisions/", NULL)))
		return EXIT_FAILURE;
	if ((r = etcd_get_prefix(etcd, key, &kvs, &n, NULL)) < 0) {
		log_error("cannot read the decisions from etcd at %s: %s", o.etcd,
		          cli_etcd_error(&o, r));
		return EXIT_FAILURE;
	}
	_cleanup_json_ json_t *all = json_array();
	for (size_t i = n; all && i-- > 0;) {
		json_t *d = json_loadb(kvs[i].value, kvs[i].value_size, 0, NULL);
		if (json_is_object(d) && cli_json_sanitize(d) >= 0)
			json_array_append_new(all, d);
		else
			json_decref(d);
	}
	etcd_key_values_free(kvs, n);
	if (!all)
		return EXIT_FAILURE;
	if (o.json)
		return cli_print_json(all);
	printf("%-26s %-20s %-10s %-13s %s\n", "ID", "TIME", "NODE", "OUTCOME", "WHY");
	size_t i;
	json_t *d;
	json_array_foreach (all, i, d) {
		char when[32] = "-";
		time_t t = (time_t)(json_get_u64(d, "time_usec", 0) / 1000000);
		struct tm tm;
		if (t && gmtime_r(&t, &tm))
			strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
		printf("%-26s %-20s %-10s %-13s %s\n", json_get_string(d, "id") ?: "?", when,
		       json_get_string(d, "node") ?: "?", json_get_string(d, "outcome") ?: "?",
		       json_get_string(d, "why") ?: "");
	}
	return EXIT_SUCCESS;
}

/* ---- drain ---- */

/* Containers on `node` that a drain moves (running, not opted out), and those it leaves. */
static int drain_count(const ClusterOptions *o, const char *node, unsigned *ret_left,
                       unsigned *ret_staying, bool *ret_live)
{
	_cleanup_json_ json_t *nodes = NULL;
	size_t i, k;
	json_t *n, *ct;
	int r = cli_nodes_load(o, &nodes);
	if (r < 0)
		return r;
	*ret_left = *ret_staying = 0;
	*ret_live = false;
	json_array_foreach (nodes, i, n) {
		if (!streq_ptr(json_get_string(n, "name"), node))
			continue;
		*ret_live = true;
		json_array_foreach (json_object_get(json_object_get(n, "status"), "containers"), k,
		                    ct) {
			if (!streq_ptr(json_get_string(ct, "state"), "running"))
				continue;
			const char *label =
			        json_get_string(json_object_get(ct, "labels"), "podmig.migrate");
			if (streq_ptr(label, "false"))
				(*ret_staying)++;
			else
				(*ret_left)++;
		}
	}
	return 0;
}

static void drain_help(const char *name)
{
	if (streq(name, "drain"))
		printf("Usage: podmig drain NODE [OPTIONS]\n"
		       "\n"
		       "Marks NODE drained: the scheduler moves every migratable container off it\n"
		       "(placed by the same engine as automatic moves, a few at a time) and "
		       "places\n"
		       "nothing new on it until 'podmig undrain NODE'. Containers labelled\n"
		       "podmig.migrate=false stay. Waits until NODE has nothing left to move,\n"
		       "showing what remains; exits non-zero if that did not happen in time (the\n"
		       "node stays drained).\n"
		       "\n"
		       "Options:\n"
		       "     --no-wait          Mark the node and return at once\n"
		       "     --timeout SECONDS  How long to wait (default 600)\n");
	else
		printf("Usage: podmig undrain NODE [OPTIONS]\n"
		       "\n"
		       "Lifts a drain: the scheduler may place containers on NODE again.\n"
		       "\n"
		       "Options:\n");
	printf(CLI_CONNECT_HELP CLI_TLS_HELP "  -h --help             Show this help\n",
	       DEFAULT_ETCD, DEFAULT_PREFIX);
}

/* drain or undrain NODE [OPTIONS]: the node in *ret_node. */
static int drain_parse(int argc, char *argv[], bool drain, ClusterOptions *o, const char **ret_node)
{
	const CliVerb verb = {
		.name = drain ? "drain" : "undrain",
		.help = drain_help,
		.flags = CLI_PARSE_NO_JSON | (drain ? CLI_PARSE_NO_WAIT | CLI_PARSE_TIMEOUT : 0),
		.max_operands = 1,
	};
	char *node = NULL;
	size_t n = 0;
	int r = cli_parse_full(argc, argv, &verb, &node, &n, o);
	if (r <= 0)
		return r;
	if (n != 1) {
		log_error("usage: podmig %s NODE (see --help)", verb.name);
		return -EINVAL;
	}
	if (!migration_name_valid(node)) {
		log_error("'%s' is not a valid node name", node);
		return -EINVAL;
	}
	*ret_node = node;
	return 1;
}

int verb_drain(int argc, char *argv[])
{
	_cleanup_(etcd_client_freep) EtcdClient *etcd = NULL;
	_cleanup_free_ char *key = NULL, *value = NULL;
	ClusterOptions o;
	const char *node;
	bool live;
	unsigned left, staying;
	char leader[256];
	int r = drain_parse(argc, argv, true, &o, &node);
	if (r <= 0)
		return r < 0 ? 2 : EXIT_SUCCESS;
	double timeout = o.timeout_sec ?: 600;
	if (cli_etcd_connect(&o, &etcd) < 0)
		return EXIT_FAILURE;
	if (drain_count(&o, node, &left, &staying, &live) < 0)
		return EXIT_FAILURE;
	if (!live) {
		log_error("no node %s in the cluster (no live agent publishes it)", node);
		return EXIT_FAILURE;
	}
	if (!(key = prefixed(&o, "drain/", node)) ||
	    asprintf(&value, "{\"since_usec\":%" PRIu64 ",\"by\":\"podmig drain\"}",
	             now_usec(CLOCK_REALTIME)) < 0)
		return EXIT_FAILURE;
	if ((r = etcd_put(etcd, key, value, strlen(value), 0, NULL)) < 0) {
		log_error("cannot mark %s drained in etcd at %s: %s", node, o.etcd,
		          cli_etcd_error(&o, r));
		return EXIT_FAILURE;
	}
	printf("node %s drained: nothing new is placed on it\n", node);
	if (cli_scheduler_leader(&o, etcd, leader, sizeof leader) == 0)
		log_warning("no scheduler leads: nothing moves until one runs");
	if (o.no_wait)
		return EXIT_SUCCESS;

	uint64_t deadline = now_usec(CLOCK_REALTIME) + (uint64_t)(timeout * 1e6);
	unsigned shown = UINT32_MAX;
	for (;;) {
		r = drain_count(&o, node, &left, &staying, &live);
		if (r >= 0 && left != shown) {
			printf("node %s: %u container(s) to move\n", node, left);
			shown = left;
		}
		if (r >= 0 && left == 0) {
			if (staying)
				printf("node %s: %u container(s) labelled podmig.migrate=false "
				       "stay\n",
				       node, staying);
			printf("node %s is drained\n", node);
			return EXIT_SUCCESS;
		}
		if (now_usec(CLOCK_REALTIME) >= deadline) {
			log_error(
			        "node %s still runs %u container(s) to move after %.0f s; it stays "
			        "drained (see 'podmig plan' and 'podmig decisions')",
			        node, left, timeout);
			return EXIT_FAILURE;
		}
		usleep(1000 * 1000);
	}
}

int verb_undrain(int argc, char *argv[])
{
	_cleanup_(etcd_client_freep) EtcdClient *etcd = NULL;
	_cleanup_free_ char *key = NULL;
	ClusterOptions o;
	const char *node;
	int64_t deleted = 0;
	int r = drain_parse(argc, argv, false, &o, &node);
	if (r <= 0)
		return r < 0 ? 2 : EXIT_SUCCESS;
	if (cli_etcd_connect(&o, &etcd) < 0 || !(key = prefixed(&o, "drain/", node)))
		return EXIT_FAILURE;
	if ((r = etcd_delete(etcd, key, &deleted)) < 0) {
		log_error("cannot lift the drain of %s in etcd at %s: %s", node, o.etcd,
		          cli_etcd_error(&o, r));
		return EXIT_FAILURE;
	}
	printf(deleted ? "node %s undrained: the scheduler may place containers on it again\n"
	               : "node %s was not drained\n",
	       node);
	return EXIT_SUCCESS;
}
