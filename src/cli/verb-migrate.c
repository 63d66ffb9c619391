/* verb-migrate.c — `podmig migrate CONTAINER --to NODE` (drives a migration
 * through the source node's agent, with progress and a per-phase summary)
 * and `podmig history` (the migration records in etcd, newest first). */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agent.pb-c.h"
#include "cli-common.h"
#include "json-util.h"
#include "log.h"
#include "migration-store.h"
#include "mode-choice.h"
#include "rpc.h"
#include "strutil.h"
#include "time-util.h"
#include "verbs.h"

static void migrate_help(void)
{
	printf("Usage: podmig migrate CONTAINER --to NODE [OPTIONS]\n"
	       "\n"
	       "Live-migrates a running container to another node: its node's agent\n"
	       "checkpoints it and streams it to NODE's agent, which restores it. On a\n"
	       "terminal it shows the progress, then how long each phase took. Exits\n"
	       "non-zero, saying why, if the container did not move (it then still runs\n"
	       "where it was).\n"
	       "\n"
	       "It first writes the migration's order to etcd (<prefix>orders/ID, living\n"
	       "120 s), without which no agent migrates: its etcd user must be one that may\n"
	       "write it (an operator's; never a node's).\n"
	       "\n"
	       "Options:\n"
	       "  -t --to NODE          Target node (required)\n"
	       "     --reason REASON    manual (default), automatic or drain\n"
	       "     --mode MODE        stop-and-copy, pre-copy, page-server, post-copy or\n"
	       "                        auto (default): page-server streams the memory\n"
	       "                        straight to a CRIU page server on NODE (the container\n"
	       "                        must have been created with --annotation\n"
	       "                        org.criu.config=/run/podmig/criu/NAME.conf);\n"
	       "                        post-copy (same annotation) starts the container on\n"
	       "                        NODE at once and moves its memory as it touches it\n"
	       "                        (auto picks it only for containers labelled\n"
	       "                        podmig.post-copy=allowed); a mode that cannot be used\n"
	       "                        falls back (post-copy to page-server, others to\n"
	       "                        stop-and-copy) and the record says why\n"
	       "     --force            Move it even if it is labelled podmig.migrate=false\n"
	       "                        (recorded as forced)\n" CLI_CONNECT_HELP
	       "     --json             Print the final migration record as JSON\n" CLI_TLS_HELP
	       "  -h --help             Show this help\n",
	       DEFAULT_ETCD, DEFAULT_PREFIX);
}

/* Where the container runs and where the target's agent is, from etcd. */
typedef struct ContainerLocation {
	char *source;
	char *source_address;
	uint64_t memory_bytes; /* the container's, to size the progress bar */
	bool target_known;
} ContainerLocation;

static int locate(const ClusterOptions *o, const char *container, const char *target,
                  ContainerLocation *ret)
{
	_cleanup_json_ json_t *nodes = NULL;
	size_t i, k;
	json_t *node, *ct;
	int r;

	if ((r = cli_nodes_load(o, &nodes)) < 0)
		return r;
	json_array_foreach (nodes, i, node) {
		const char *name = json_get_string(node, "name");
		if (streq_ptr(name, target))
			ret->target_known = true;
		json_t *cts = json_object_get(json_object_get(node, "status"), "containers");
		json_array_foreach (cts, k, ct) {
			if (!streq_ptr(json_get_string(ct, "name"), container))
				continue;
			if (ret->source) {
				log_error("container %s appears on both %s and %s", container,
				          ret->source, name);
				return -ENOTUNIQ;
			}
			const char *addr =
			        json_get_string(json_object_get(node, "info"), "grpc_address");
			if (!addr) {
				log_error("node %s publishes no agent address", name);
				return -EBADMSG;
			}
			ret->source = strdup(name);
			ret->source_address = strdup(addr);
			ret->memory_bytes = json_get_u64(ct, "memory_bytes", 0);
			if (!ret->source || !ret->source_address)
				return -ENOMEM;
		}
	}
	return 0;
}

static void progress_draw(const Podmig__V1__MigrateProgress *p, double started, double *last,
                          uint64_t expect)
{
	double now = mono_sec(), elapsed = now - started;
	char done[16], rate[16], bar[26];
	if (now - *last < 0.1)
		return;
	*last = now;
	cli_format_bytes((double)p->bytes, done, sizeof done);
	cli_format_bytes(elapsed > 0 ? (double)p->bytes / elapsed : 0, rate, sizeof rate);
	size_t fill = expect ? (size_t)MIN(24.0, 24.0 * (double)p->bytes / (double)expect) : 0;
	if (streq(p->phase, "done"))
		fill = 24;
	memset(bar, '#', fill);
	memset(bar + fill, '.', 24 - fill);
	bar[24] = 0;
	fprintf(stderr, "\r  %-13s [%s] %8s %8s/s %6.1fs", p->phase, bar, done, rate, elapsed);
	fflush(stderr);
}

/* A record's free-text fields come from etcd (the names are checked when
 * it is parsed). */
static void record_sanitize(MigrationRecord *rec)
{
	cli_sanitize(rec->image);
	cli_sanitize(rec->error);
	cli_sanitize(rec->mode_reason);
}

static void summary_print(const MigrationRecord *rec)
{
	static const struct {
		const char *what;
		MigrationPhase from, to;
	} steps[] = {
		{ "prepare (target, image)", MIGRATION_PLANNED, MIGRATION_CHECKPOINTING },
		{ "checkpoint", MIGRATION_CHECKPOINTING, MIGRATION_TRANSFERRING },
		{ "transfer", MIGRATION_TRANSFERRING, MIGRATION_RESTORING },
		{ "restore", MIGRATION_RESTORING, MIGRATION_DONE },
	};
	char bytes[16];
	printf("migration %s: %s %s → %s: %s\n", rec->id, rec->container, rec->source, rec->target,
	       migration_phase_to_string(rec->phase));
	for (size_t i = 0; i < ELEMENTSOF(steps); i++) {
		uint64_t a = rec->phase_time_ms[steps[i].from], b = rec->phase_time_ms[steps[i].to];
		if (a && b && b >= a)
			printf("  %-24s %8.3f s\n", steps[i].what, (double)(b - a) / 1000);
	}
	uint64_t end = rec->phase_time_ms[rec->phase],
	         start = rec->phase_time_ms[MIGRATION_PLANNED];
	if (end && start && end >= start)
		printf("  %-24s %8.3f s\n", "total", (double)(end - start) / 1000);
	printf("  %-24s %8.3f s\n", "downtime", (double)rec->downtime_ms / 1000);
	cli_format_bytes((double)rec->bytes, bytes, sizeof bytes);
	printf("  %-24s %8s (%s)\n", "moved", bytes, migration_mode_to_string(rec->mode));
	if (rec->mode_reason)
		printf("  %-24s %s\n", "mode", rec->mode_reason);
	if (rec->forced)
		printf("  %-24s %s\n", "forced", "yes (podmig.migrate=false overridden)");
	if (rec->error)
		printf("  %-24s %s\n", "reason", rec->error);
}

static int record_print_json(const MigrationRecord *rec)
{
	_cleanup_free_ char *text = NULL;
	if (migration_record_to_json(rec, &text) < 0)
		return EXIT_FAILURE;
	_cleanup_json_ json_t *doc = json_loads(text, 0, NULL);
	return doc ? cli_print_json(doc) : EXIT_FAILURE;
}

int verb_migrate(int argc, char *argv[])
{
	enum { ARG_REASON = 0x100, ARG_FORCE, ARG_MODE };
	static const struct option options[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "to", required_argument, NULL, 't' },
		{ "reason", required_argument, NULL, ARG_REASON },
		{ "force", no_argument, NULL, ARG_FORCE },
		{ "mode", required_argument, NULL, ARG_MODE },
		CLI_CONNECT_LONG_OPTIONS,
		CLI_JSON_LONG_OPTION,
		{},
	};
	ClusterOptions o;
	const char *target = NULL, *reason = "manual", *mode = "auto";
	bool force = false;
	_cleanup_(rpc_channel_freep) RpcChannel *ch = NULL;
	_cleanup_(rpc_stream_freep) RpcStream *st = NULL;
	_cleanup_(etcd_client_freep) EtcdClient *etcd = NULL;
	ContainerLocation where = {};
	char id[MIGRATION_ID_MAX] = "";
	int c, r;

	cli_options_init(&o);
	optind = 0;
	while ((c = getopt_long(argc, argv, "ht:", options, NULL)) >= 0)
		switch (c) {
		case 'h':
			migrate_help();
			return EXIT_SUCCESS;
		case 't':
			target = optarg;
			break;
		case ARG_REASON:
			reason = optarg;
			break;
		case ARG_FORCE:
			force = true;
			break;
		case ARG_MODE:
			mode = optarg;
			break;
		default:
			if (cli_cluster_option(c, optarg, &o))
				break;
			return 2;
		}
	if (cli_options_check(&o) < 0)
		return 2;
	if (optind + 1 != argc || !target) {
		log_error("usage: podmig migrate CONTAINER --to NODE (see --help)");
		return 2;
	}
	const char *container = argv[optind];
	if (!migration_name_valid(container)) {
		log_error("'%s' is not a valid container name", container);
		return 2;
	}
	if (!migration_name_valid(target)) {
		log_error("'%s' is not a valid node name", target);
		return 2;
	}
	if (migration_reason_from_string(reason) < 0) {
		log_error("unknown reason '%s' (manual, automatic, drain)", reason);
		return 2;
	}
	if (mode_request_from_string(mode) < 0) {
		log_error("unknown mode '%s' (stop-and-copy, pre-copy, page-server, post-copy, "
		          "auto)",
		          mode);
		return 2;
	}

	if (locate(&o, container, target, &where) < 0)
		goto fail;
	if (!where.source) {
		log_error("no container %s in the cluster", container);
		goto fail;
	}
	if (!where.target_known) {
		log_error("no node %s in the cluster", target);
		goto fail;
	}
	if (streq(where.source, target)) {
		log_error("container %s is already on node %s", container, target);
		goto fail;
	}

	/* The order authorizes the migration: the source agent migrates only
	 * what it says, the target receives only what it names. */
	MigrationOrder order;
	r = migration_order_init(&order, container, where.source, target,
	                         migration_reason_from_string(reason), NULL, force,
	                         mode_request_from_string(mode), "podmig migrate", wall_ms());
	if (r < 0) {
		log_error("cannot make a migration order: %s", error_to_string(r));
		goto fail;
	}
	if (cli_etcd_connect(&o, &etcd) < 0)
		goto fail;
	if ((r = migration_order_issue(etcd, o.prefix, &order, MIGRATION_ORDER_TTL_SEC)) < 0) {
		log_error("cannot write migration order %s to etcd at %s: %s", order.id, o.etcd,
		          cli_etcd_error(&o, r));
		goto fail;
	}

	RpcOptions ro = cli_agent_rpc_options(&o);
	Podmig__V1__MigrateRequest req = PODMIG__V1__MIGRATE_REQUEST__INIT;
	req.order_id = order.id;
	req.container = (char *)container;
	req.target_node = (char *)target;
	req.reason = (char *)reason;
	req.force = force;
	req.mode = (char *)mode;
	if ((r = rpc_channel_new(where.source_address, &ro, &ch)) < 0 ||
	    (r = rpc_stream_open(ch, &podmig__v1__agent__descriptor, "Migrate", &st)) < 0 ||
	    (r = rpc_stream_send(st, &req.base)) < 0 || (r = rpc_stream_close_send(st)) < 0) {
		log_error_errno(r, "cannot reach the agent of %s at %s", where.source,
		                where.source_address);
		goto fail;
	}

	bool tty = isatty(STDERR_FILENO) && !o.json;
	double started = mono_sec(), last = 0;
	for (;;) {
		_cleanup_message_ ProtobufCMessage *m = NULL;
		r = rpc_stream_recv(st, RPC_USEC_PER_SEC, &m);
		if (r == -ETIMEDOUT)
			continue;
		if (r <= 0)
			break;
		Podmig__V1__MigrateProgress *p = (Podmig__V1__MigrateProgress *)m;
		snprintf(id, sizeof id, "%s", p->migration_id);
		if (tty)
			progress_draw(p, started, &last, where.memory_bytes);
	}
	if (tty)
		fputc('\n', stderr);
	RpcStatus status = {};
	int result = rpc_stream_finish(st, &status);

	/* The record in etcd says how it went, whatever the stream did. */
	MigrationRecord rec = {};
	if (id[0] && migration_record_load(etcd, o.prefix, id, &rec) >= 0) {
		record_sanitize(&rec);
		if (o.json)
			record_print_json(&rec);
		else
			summary_print(&rec);
		migration_record_clear(&rec);
	}
	if (result < 0) {
		cli_sanitize(status.message); /* it may quote etcd's data */
		const char *msg =
		        status.message[0] ? status.message : rpc_code_to_string(status.code);
		if (id[0] && (status.code == RPC_UNAVAILABLE || status.code == RPC_CANCELLED ||
		              status.code == RPC_UNKNOWN))
			/* The agent went away mid-way; its recovery finishes the job. */
			log_error("lost the agent of %s during migration %s (%s); it settles the "
			          "migration when it is back: see 'podmig history'",
			          where.source, id, msg);
		else
			log_error("%s%s", msg, id[0] ? "" : cli_tls_hint(&ro, &status));
		goto fail;
	}
	free(where.source);
	free(where.source_address);
	return EXIT_SUCCESS;
fail:
	free(where.source);
	free(where.source_address);
	return EXIT_FAILURE;
}

int verb_history(int argc, char *argv[])
{
	_cleanup_(etcd_client_freep) EtcdClient *etcd = NULL;
	MigrationRecord *recs = NULL;
	size_t n = 0;
	ClusterOptions o;
	int r = cli_parse(argc, argv, "history",
	                  "Lists the migrations recorded in etcd, newest first.", &o);
	if (r <= 0)
		return r < 0 ? 2 : EXIT_SUCCESS;
	if (cli_etcd_connect(&o, &etcd) < 0)
		return EXIT_FAILURE;
	if ((r = migration_record_list(etcd, o.prefix, &recs, &n)) < 0) {
		log_error("cannot read the migrations from etcd at %s: %s", o.etcd,
		          cli_etcd_error(&o, r));
		return EXIT_FAILURE;
	}
	for (size_t i = 0; i < n; i++)
		record_sanitize(&recs[i]);
	int ret = EXIT_SUCCESS;
	if (o.json) {
		_cleanup_json_ json_t *all = json_array();
		for (size_t i = n; all && i-- > 0;) {
			_cleanup_free_ char *text = NULL;
			if (migration_record_to_json(&recs[i], &text) >= 0)
				json_array_append_new(all, json_loads(text, 0, NULL));
		}
		ret = all ? cli_print_json(all) : EXIT_FAILURE;
	} else {
		printf("%-28s %-20s %-8s %-8s %-9s %-13s %-12s %-20s %9s %9s %8s %-26s %s\n", "ID",
		       "CONTAINER", "FROM", "TO", "REASON", "MODE", "PHASE", "STARTED", "DURATION",
		       "DOWNTIME", "BYTES", "DECISION", "ERROR / MODE'S REASON");
		for (size_t i = n; i-- > 0;) {
			const MigrationRecord *m = &recs[i];
			char when[32] = "-", dur[16] = "-", down[16] = "-", bytes[16];
			uint64_t start = m->phase_time_ms[MIGRATION_PLANNED];
			uint64_t end = m->phase_time_ms[m->phase];
			time_t t = (time_t)(start / 1000);
			struct tm tm;
			if (start && gmtime_r(&t, &tm))
				strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
			if (migration_phase_is_final(m->phase) && end >= start)
				snprintf(dur, sizeof dur, "%.2fs", (double)(end - start) / 1000);
			if (m->downtime_ms)
				snprintf(down, sizeof down, "%.2fs", (double)m->downtime_ms / 1000);
			cli_format_bytes((double)m->bytes, bytes, sizeof bytes);
			printf("%-28s %-20.20s %-8s %-8s %-9s %-13s %-12s %-20s %9s %9s %8s %-26s "
			       "%s%s%s%s\n",
			       m->id, m->container, m->source, m->target,
			       migration_reason_to_string(m->reason),
			       migration_mode_to_string(m->mode),
			       migration_phase_to_string(m->phase), when, dur, down, bytes,
			       m->decision[0] ? m->decision : "-", m->error ?: "",
			       m->error && m->mode_reason ? " / " : "",
			       m->mode_reason ? "mode: " : "", m->mode_reason ?: "");
		}
	}
	migration_records_free(recs, n);
	return ret;
}
