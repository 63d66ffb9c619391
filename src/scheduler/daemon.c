/* daemon.c — podmig-scheduler: etcd watch → view → sched_decide() → Migrate calls.
 *
 * One thread owns the view: it applies watch events to a sorted copy of every document under
 * the prefix and, each tick, builds the view, decides (when leading) and starts migrations.
 * The election runs on its own thread (a campaign blocks), and each migration the leader
 * starts is driven by a worker thread that follows the source agent's progress stream. The
 * agent carries a migration through whatever happens to its driver, so a worker only
 * reports. */
#include "daemon.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "agent.pb-c.h"
#include "daemon-metrics.h"
#include "etcd.h"
#include "json-util.h"
#include "log.h"
#include "macro.h"
#include "migration-record.h"
#include "migration-store.h"
#include "mode-choice.h"
#include "rpc.h"
#include "scheduler-json.h"
#include "scheduler.h"
#include "service-notify.h"
#include "strutil.h"
#include "time-util.h"

/* Decisions that change nothing (deferred, nothing fits, no candidate, or any decision in
 * observe mode) are logged and stored when they differ from the node's previous one, and
 * again at most this often while they stay the same. */
#define REPEAT_USEC          (60 * RPC_USEC_PER_SEC)
#define RETENTION_EVERY_USEC (30 * RPC_USEC_PER_SEC)
/* Finished workers' moves stay in the view this long, covering the time until their final
 * record arrives through the watch. */
#define WORKER_LINGER_USEC (30 * RPC_USEC_PER_SEC)

/* ---- the documents under the prefix, sorted by key ---- */

typedef struct Doc {
	char *key;
	char *value;
	size_t size;
	int64_t mod_revision;
	int64_t lease; /* 0: none */
} Doc;

typedef struct DocStore {
	Doc *docs;
	size_t n, allocated;
} DocStore;

static size_t store_lower_bound(const DocStore *s, const char *key)
{
	size_t lo = 0, hi = s->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (strcmp(s->docs[mid].key, key) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static const Doc *store_get(const DocStore *s, const char *key)
{
	size_t i = store_lower_bound(s, key);
	return i < s->n && streq(s->docs[i].key, key) ? &s->docs[i] : NULL;
}

/* Takes the key's and value's strings. */
static int store_put(DocStore *s, EtcdKeyValue *kv)
{
	size_t i = store_lower_bound(s, kv->key);
	if (i < s->n && streq(s->docs[i].key, kv->key)) {
		free(s->docs[i].value);
		s->docs[i].value = TAKE_PTR(kv->value);
		s->docs[i].size = kv->value_size;
		s->docs[i].mod_revision = kv->mod_revision;
		s->docs[i].lease = kv->lease;
		return 0;
	}
	if (s->n == s->allocated) {
		size_t a = MAX((size_t)64, s->allocated * 2);
		Doc *d = reallocarray(s->docs, a, sizeof *d);
		if (!d)
			return -ENOMEM;
		s->docs = d;
		s->allocated = a;
	}
	memmove(s->docs + i + 1, s->docs + i, (s->n - i) * sizeof *s->docs);
	s->docs[i] = (Doc){ .key = TAKE_PTR(kv->key),
		            .value = TAKE_PTR(kv->value),
		            .size = kv->value_size,
		            .mod_revision = kv->mod_revision,
		            .lease = kv->lease };
	s->n++;
	return 0;
}

static void store_delete(DocStore *s, const char *key)
{
	size_t i = store_lower_bound(s, key);
	if (i >= s->n || !streq(s->docs[i].key, key))
		return;
	free(s->docs[i].key);
	free(s->docs[i].value);
	memmove(s->docs + i, s->docs + i + 1, (s->n - i - 1) * sizeof *s->docs);
	s->n--;
}

static void store_clear(DocStore *s)
{
	for (size_t i = 0; i < s->n; i++) {
		free(s->docs[i].key);
		free(s->docs[i].value);
	}
	s->n = 0;
}

/* ---- migrations this scheduler drives ---- */

typedef struct Worker {
	struct Scheduler *sched;
	pthread_t thread;
	bool started;
	atomic_bool finished;
	uint64_t finished_at;      /* monotonic */
	uint64_t finished_at_wall; /* wall clock, as records keep time */
	char *container, *source, *source_address, *target;
	char decision[MIGRATION_ID_MAX];
	char mode[16]; /* the policy's migration_mode when it started */
	char migration_id[MIGRATION_ID_MAX];
	bool drain;
	bool done; /* the agent reported done */
	uint64_t started_usec;
	pthread_mutex_t lock; /* stream, for cancelling from the main thread */
	RpcStream *stream;
} Worker;

typedef struct NodeMemo {
	char *node;
	char *text; /* outcome and why of the last quiet decision */
	uint64_t at;
} NodeMemo;

typedef struct Scheduler {
	const SchedulerConfig *config;
	EtcdClient *etcd;
	RpcOptions agent_rpc;
	DocStore store;
	SchedPolicy policy;
	int64_t policy_revision; /* of the document in force; 0: defaults */
	int64_t policy_refused;  /* revision of a refused document, logged once */

	pthread_t election_thread;
	bool election_started;
	pthread_mutex_t election_lock;
	EtcdElection *election; /* while campaigning or leading */
	atomic_bool leading;
	atomic_bool stopping;
	atomic_bool lost; /* the leader's lease was lost */

	Worker **workers;
	size_t n_workers;
	NodeMemo *memos;
	size_t n_memos;
	uint64_t last_retention;
	unsigned decisions_made;
	char last_decision[160]; /* "<id> <node>: <outcome>", for systemd's STATUS= */
	ServiceNotify notify;
	SchedulerMetrics *metrics; /* NULL without --metrics-address */
} Scheduler;

static void worker_free(Worker *w)
{
	if (!w)
		return;
	if (w->started)
		pthread_join(w->thread, NULL);
	rpc_stream_free(w->stream);
	pthread_mutex_destroy(&w->lock);
	free(w->container);
	free(w->source);
	free(w->source_address);
	free(w->target);
	free(w);
}

static void *worker_main(void *userdata)
{
	Worker *w = userdata;
	Scheduler *s = w->sched;
	_cleanup_(rpc_channel_freep) RpcChannel *ch = NULL;
	RpcStream *st = NULL;
	char phase[32] = "", error[512] = "";
	int r;

	/* The order authorizes the migration (agents cannot write one). */
	MigrationOrder order;
	char by[MIGRATION_ORDER_BY_MAX + 1];
	snprintf(by, sizeof by, "podmig-scheduler %s", s->config->name);
	r = migration_order_init(&order, w->container, w->source, w->target,
	                         w->drain ? MIGRATION_REASON_DRAIN : MIGRATION_REASON_AUTOMATIC,
	                         w->decision, false, mode_request_from_string(w->mode), by,
	                         wall_ms());
	if (r >= 0)
		r = migration_order_issue(s->etcd, s->config->prefix, &order,
		                          MIGRATION_ORDER_TTL_SEC);
	if (r < 0) {
		log_error_errno(r, "decision %s: cannot write the order to migrate %s: %s",
		                w->decision, w->container, error_to_string(r));
		goto out;
	}

	Podmig__V1__MigrateRequest req = PODMIG__V1__MIGRATE_REQUEST__INIT;
	req.order_id = order.id;
	req.container = w->container;
	req.target_node = w->target;
	req.reason = (char *)(w->drain ? "drain" : "automatic");
	req.decision_id = w->decision;
	req.mode = w->mode;
	if ((r = rpc_channel_new(w->source_address, &s->agent_rpc, &ch)) < 0 ||
	    (r = rpc_stream_open(ch, &podmig__v1__agent__descriptor, "Migrate", &st)) < 0) {
		log_error_errno(r, "decision %s: cannot reach the agent of %s at %s", w->decision,
		                w->source, w->source_address);
		goto out;
	}
	pthread_mutex_lock(&w->lock);
	w->stream = st;
	pthread_mutex_unlock(&w->lock);
	if ((r = rpc_stream_send(st, &req.base)) < 0 || (r = rpc_stream_close_send(st)) < 0) {
		log_error_errno(r, "decision %s: cannot ask %s to migrate %s", w->decision,
		                w->source, w->container);
		goto out;
	}
	for (;;) {
		_cleanup_message_ ProtobufCMessage *m = NULL;
		r = rpc_stream_recv(st, RPC_USEC_PER_SEC, &m);
		if (r == -ETIMEDOUT) {
			if (atomic_load(&s->stopping))
				break;
			continue;
		}
		if (r <= 0)
			break;
		Podmig__V1__MigrateProgress *p = (Podmig__V1__MigrateProgress *)m;
		if (!w->migration_id[0] && *p->migration_id) {
			snprintf(w->migration_id, sizeof w->migration_id, "%s", p->migration_id);
			log_info("decision %s: migration %s of %s %s → %s started", w->decision,
			         w->migration_id, w->container, w->source, w->target);
		}
		snprintf(phase, sizeof phase, "%s", p->phase);
		if (*p->error)
			snprintf(error, sizeof error, "%s", p->error);
	}
	RpcStatus status = {};
	r = rpc_stream_finish(st, &status);
	w->done = streq(phase, "done");
	scheduler_metrics_migration_ended(s->metrics, w->migration_id[0] ? phase : "");
	if (w->done)
		log_info("migration %s: %s is now on %s", w->migration_id, w->container, w->target);
	else if (r < 0 && !w->migration_id[0])
		log_warning("decision %s: %s refused to migrate %s to %s: %s", w->decision,
		            w->source, w->container, w->target,
		            status.message[0] ? status.message : rpc_code_to_string(status.code));
	else
		log_warning("migration %s of %s ended %s%s%s", w->migration_id, w->container,
		            phase[0] ? phase : "without an outcome", error[0] ? ": " : "", error);
out:
	w->finished_at = now_usec(CLOCK_MONOTONIC);
	w->finished_at_wall = now_usec(CLOCK_REALTIME);
	atomic_store(&w->finished, true);
	return NULL;
}

/* ---- the election ---- */

static void on_leader_lost(EtcdElection *e, int error, void *userdata)
{
	Scheduler *s = userdata;
	atomic_store(&s->lost, true);
}

static void *election_main(void *userdata)
{
	Scheduler *s = userdata;
	_cleanup_free_ char *key = NULL, *value = NULL;
	int r;

	if (asprintf(&key, "%sscheduler/leader/", s->config->prefix) < 0 ||
	    asprintf(&value, "{\"name\":\"%s\",\"pid\":%d}", s->config->name, (int)getpid()) < 0)
		return NULL;
	while (!atomic_load(&s->stopping)) {
		EtcdElection *e = NULL;
		atomic_store(&s->lost, false);
		r = etcd_election_new(s->etcd, key, s->config->lease_ttl_sec, on_leader_lost, s,
		                      &e);
		if (r < 0) {
			log_debug_errno(r, "cannot campaign");
			usleep(1000 * 1000);
			continue;
		}
		pthread_mutex_lock(&s->election_lock);
		s->election = e;
		pthread_mutex_unlock(&s->election_lock);
		if (atomic_load(&s->stopping))
			etcd_election_cancel(e);
		r = etcd_election_campaign(e, value, RPC_USEC_INFINITY);
		if (r >= 0) {
			log_notice("scheduler %s leads", s->config->name);
			atomic_store(&s->leading, true);
			while (!atomic_load(&s->stopping) && !atomic_load(&s->lost))
				usleep(100 * 1000);
			atomic_store(&s->leading, false);
			if (atomic_load(&s->lost))
				log_warning("scheduler %s lost its lease: no longer leading",
				            s->config->name);
		} else if (r != -ECANCELED)
			log_debug_errno(r, "campaign ended");
		pthread_mutex_lock(&s->election_lock);
		s->election = NULL;
		pthread_mutex_unlock(&s->election_lock);
		/* Revokes the lease: a follower takes over at once. */
		etcd_election_free(e);
		if (r < 0 && r != -ECANCELED && !atomic_load(&s->stopping))
			usleep(1000 * 1000);
	}
	return NULL;
}

/* ---- the view ---- */

static int store_load(Scheduler *s, int64_t *ret_revision)
{
	EtcdKeyValue *kvs = NULL;
	size_t n = 0;
	int r = etcd_get_prefix(s->etcd, s->config->prefix, &kvs, &n, ret_revision);
	if (r < 0)
		return r;
	store_clear(&s->store);
	for (size_t i = 0; i < n && r >= 0; i++)
		r = store_put(&s->store, &kvs[i]);
	etcd_key_values_free(kvs, n);
	return r;
}

static void store_apply(Scheduler *s, EtcdEvent *events, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (events[i].type == ETCD_EVENT_DELETE)
			store_delete(&s->store, events[i].kv.key);
		else if (store_put(&s->store, &events[i].kv) < 0)
			log_error("out of memory keeping %s", events[i].kv.key);
	}
}

static void policy_refresh(Scheduler *s)
{
	_cleanup_free_ char *key = NULL, *error = NULL;
	if (asprintf(&key, "%spolicy", s->config->prefix) < 0)
		return;
	const Doc *d = store_get(&s->store, key);
	int64_t revision = d ? d->mod_revision : 0;
	if (revision == s->policy_revision || revision == s->policy_refused)
		return;
	SchedPolicy p;
	sched_policy_init(&p);
	if (d) {
		json_error_t je;
		_cleanup_json_ json_t *doc =
		        json_loadb(d->value, d->size, JSON_REJECT_DUPLICATES, &je);
		int r = doc ? sched_policy_from_json(doc, &p, &error) : -EINVAL;
		if (r < 0) {
			log_error("policy at %s (revision %" PRId64 ") refused: %s; the policy of "
			          "revision %" PRId64 " stays in force",
			          key, revision, error ?: je.text, s->policy_revision);
			s->policy_refused = revision;
			sched_policy_done(&p);
			return;
		}
	}
	sched_policy_done(&s->policy);
	s->policy = p;
	s->policy_revision = revision;
	s->policy_refused = 0;
	log_notice("policy %s: mode %s, thresholds CPU %.0f%% memory %.0f%% network %.0f%%, "
	           "window %u, margin %.0f, solver %s",
	           revision ? "applied" : "defaults", sched_mode_to_string(p.mode),
	           p.threshold[PLACEMENT_CPU], p.threshold[PLACEMENT_MEMORY],
	           p.threshold[PLACEMENT_NETWORK], p.window, p.margin,
	           placement_solver_to_string(p.solver));
}

/* Moves this scheduler started and whose records may not have reached the view yet. */
static int view_add_workers(Scheduler *s, SchedView *v)
{
	if (s->n_workers == 0)
		return 0;
	SchedMigration *m = reallocarray(v->migrations, v->n_migrations + s->n_workers, sizeof *m);
	if (!m)
		return -ENOMEM;
	v->migrations = m;
	for (size_t i = 0; i < s->n_workers; i++) {
		Worker *w = s->workers[i];
		bool finished = atomic_load(&w->finished);
		SchedMigration x = {
			.container = strdup(w->container),
			.source = strdup(w->source),
			.target = strdup(w->target),
			.state = !finished ? SCHED_MIGRATION_ACTIVE
			         : w->done ? SCHED_MIGRATION_DONE
			                   : SCHED_MIGRATION_UNDONE,
			.automatic = true,
			.started_usec = w->started_usec,
			.ended_usec = finished ? w->finished_at_wall : 0,
		};
		if (!x.container || !x.source || !x.target) {
			free(x.container);
			free(x.source);
			free(x.target);
			return -ENOMEM;
		}
		v->migrations[v->n_migrations++] = x;
	}
	return 0;
}

static int view_build(Scheduler *s, SchedView *ret)
{
	_cleanup_free_ SchedDocument *docs = calloc(MAX(s->store.n, (size_t)1), sizeof *docs);
	if (!docs)
		return -ENOMEM;
	for (size_t i = 0; i < s->store.n; i++)
		docs[i] = (SchedDocument){ .key = s->store.docs[i].key,
			                   .value = s->store.docs[i].value,
			                   .size = s->store.docs[i].size };
	int r = sched_view_from_documents(s->config->prefix, docs, s->store.n, ret);
	if (r < 0)
		return r;
	if (r > 0)
		log_debug("%d malformed document(s) left out of the view", r);
	return view_add_workers(s, ret);
}

/* ---- acting ---- */

static void decision_id_new(char ret[static MIGRATION_ID_MAX])
{
	uint32_t nonce = 0;
	(void)getrandom(&nonce, sizeof nonce, 0);
	snprintf(ret, MIGRATION_ID_MAX, "d-%013" PRIu64 "-%08x", now_usec(CLOCK_REALTIME) / 1000,
	         nonce);
}

static int decision_store(Scheduler *s, const SchedDecision *d, const char *id)
{
	_cleanup_json_ json_t *doc = NULL;
	_cleanup_free_ char *key = NULL, *text = NULL;
	int r = sched_decision_to_json(d, id, now_usec(CLOCK_REALTIME), &doc);
	if (r < 0)
		return r;
	json_object_set_new(doc, "scheduler", json_string(s->config->name));
	json_object_set_new(doc, "mode", json_string(sched_mode_to_string(s->policy.mode)));
	if (asprintf(&key, "%sdecisions/%s", s->config->prefix, id) < 0 ||
	    !(text = json_dumps(doc, JSON_COMPACT)))
		return -ENOMEM;
	return etcd_put(s->etcd, key, text, strlen(text), 0, NULL);
}

/* The address of node's agent, from its info; NULL unless that info lives
 * under the lease the agent keeps alive, the one of its status (a key
 * written without a lease, or under another, is not the agent's). */
static const char *node_address(Scheduler *s, const char *node)
{
	_cleanup_free_ char *key = NULL, *status_key = NULL;
	if (asprintf(&key, "%snodes/%s/info", s->config->prefix, node) < 0 ||
	    asprintf(&status_key, "%snodes/%s/status", s->config->prefix, node) < 0)
		return NULL;
	const Doc *d = store_get(&s->store, key), *st = store_get(&s->store, status_key);
	if (!d || !st || d->lease == 0 || d->lease != st->lease)
		return NULL;
	_cleanup_json_ json_t *info = json_loadb(d->value, d->size, 0, NULL);
	const char *a = json_get_string(info, "grpc_address");
	static _Thread_local char buf[256];
	if (!a || strlen(a) >= sizeof buf)
		return NULL;
	snprintf(buf, sizeof buf, "%s", a);
	return buf;
}

static int worker_start(Scheduler *s, const SchedDecision *d, const SchedMove *m,
                        const char *decision)
{
	const char *address = node_address(s, d->node);
	if (!address) {
		log_warning("decision %s: node %s publishes no agent address under its lease",
		            decision, d->node);
		return -ENXIO;
	}
	Worker **ws = reallocarray(s->workers, s->n_workers + 1, sizeof *ws);
	if (!ws)
		return -ENOMEM;
	s->workers = ws;
	Worker *w = calloc(1, sizeof *w);
	if (!w)
		return -ENOMEM;
	pthread_mutex_init(&w->lock, NULL);
	w->sched = s;
	w->drain = d->drain;
	snprintf(w->mode, sizeof w->mode, "%s", mode_request_to_string(s->policy.migration_mode));
	w->started_usec = now_usec(CLOCK_REALTIME);
	snprintf(w->decision, sizeof w->decision, "%s", decision);
	w->container = strdup(m->container);
	w->source = strdup(d->node);
	w->source_address = strdup(address);
	w->target = strdup(m->target);
	if (!w->container || !w->source || !w->source_address || !w->target) {
		worker_free(w);
		return -ENOMEM;
	}
	int r = -pthread_create(&w->thread, NULL, worker_main, w);
	if (r < 0) {
		worker_free(w);
		return r;
	}
	w->started = true;
	s->workers[s->n_workers++] = w;
	return 0;
}

static void workers_reap(Scheduler *s, bool all)
{
	uint64_t now = now_usec(CLOCK_MONOTONIC);
	size_t k = 0;
	for (size_t i = 0; i < s->n_workers; i++) {
		Worker *w = s->workers[i];
		if (all || (atomic_load(&w->finished) && now - w->finished_at > WORKER_LINGER_USEC))
			worker_free(w);
		else
			s->workers[k++] = w;
	}
	s->n_workers = k;
}

static void workers_cancel(Scheduler *s)
{
	for (size_t i = 0; i < s->n_workers; i++) {
		pthread_mutex_lock(&s->workers[i]->lock);
		if (s->workers[i]->stream)
			rpc_stream_cancel(s->workers[i]->stream);
		pthread_mutex_unlock(&s->workers[i]->lock);
	}
}

/* What makes a decision that moves nothing the same as the node's previous one: its
 * outcome, the trigger's resource, and the containers it would move (loads and targets
 * drift from sample to sample without changing what an operator needs to know). */
static char *memo_key(const SchedDecision *d)
{
	_cleanup_free_ char *key = NULL;
	if (asprintf(&key, "%s %s %d", sched_outcome_to_string(d->outcome),
	             d->drain ? "drain" : placement_resource_to_string(d->resource),
	             (int)d->n_moves) < 0)
		return NULL;
	for (size_t i = 0; i < d->n_moves; i++) {
		char *k;
		if (asprintf(&k, "%s %s", key, d->moves[i].container) < 0)
			return NULL;
		free(key);
		key = k;
	}
	return TAKE_PTR(key);
}

/* Whether a decision that moves nothing is new for its node (else it is not repeated). */
static bool memo_is_new(Scheduler *s, const SchedDecision *d)
{
	_cleanup_free_ char *text = memo_key(d);
	uint64_t now = now_usec(CLOCK_MONOTONIC);
	if (!text)
		return true;
	for (size_t i = 0; i < s->n_memos; i++) {
		NodeMemo *m = &s->memos[i];
		if (!streq(m->node, d->node))
			continue;
		if (streq(m->text, text) && now - m->at < REPEAT_USEC)
			return false;
		free(m->text);
		m->text = TAKE_PTR(text);
		m->at = now;
		return true;
	}
	NodeMemo *m = reallocarray(s->memos, s->n_memos + 1, sizeof *m);
	if (!m)
		return true;
	s->memos = m;
	char *node = strdup(d->node);
	if (!node)
		return true;
	s->memos[s->n_memos++] = (NodeMemo){ .node = node, .text = TAKE_PTR(text), .at = now };
	return true;
}

/* A node that has nothing to report any more forgets its memo, so the same decision
 * later is news again. */
static void memos_prune(Scheduler *s, const SchedPlan *plan)
{
	size_t k = 0;
	for (size_t i = 0; i < s->n_memos; i++) {
		bool still = false;
		for (size_t j = 0; j < plan->n_decisions && !still; j++)
			still = streq(plan->decisions[j].node, s->memos[i].node);
		if (still)
			s->memos[k++] = s->memos[i];
		else {
			free(s->memos[i].node);
			free(s->memos[i].text);
		}
	}
	s->n_memos = k;
}

static void act(Scheduler *s, const SchedPlan *plan)
{
	bool observe = s->policy.mode == SCHED_MODE_OBSERVE;
	for (size_t i = 0; i < plan->n_decisions; i++) {
		const SchedDecision *d = &plan->decisions[i];
		bool moves = d->outcome == SCHED_OUTCOME_MIGRATE && d->n_moves > 0 && !observe;
		if (!moves && !memo_is_new(s, d))
			continue;
		char id[MIGRATION_ID_MAX];
		decision_id_new(id);
		int r = decision_store(s, d, id);
		if (r < 0)
			log_warning_errno(r, "decision %s: cannot store it in etcd", id);
		s->decisions_made++;
		snprintf(s->last_decision, sizeof s->last_decision, "%s %s: %s", id, d->node,
		         sched_outcome_to_string(d->outcome));
		scheduler_metrics_decision(s->metrics, d, observe);
		log_full_errno(moves ? LOG_NOTICE : LOG_INFO, 0, "decision %s%s: %s", id,
		               observe ? " (observe mode: nothing moves)" : "", d->why ?: "");
		for (size_t k = 0; moves && k < d->n_moves; k++) {
			r = worker_start(s, d, &d->moves[k], id);
			if (r >= 0)
				scheduler_metrics_migration_started(s->metrics, d->drain);
			if (r < 0)
				log_error_errno(r, "decision %s: cannot start moving %s", id,
				                d->moves[k].container);
		}
	}
	memos_prune(s, plan);
}

/* ---- retention ---- */

static int key_cmp_desc(const void *a, const void *b)
{
	return -strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Deletes the final records and the decisions beyond the policy's counts and age. Ids sort
 * by time, so the newest come first in descending key order. */
static void retention_enforce(Scheduler *s)
{
	_cleanup_free_ char *mig = NULL, *dec = NULL;
	if (asprintf(&mig, "%smigrations/", s->config->prefix) < 0 ||
	    asprintf(&dec, "%sdecisions/", s->config->prefix) < 0)
		return;
	uint64_t now_ms = now_usec(CLOCK_REALTIME) / 1000;
	uint64_t max_age_ms = s->policy.history_max_age_sec * 1000;
	const struct {
		const char *prefix;
		unsigned keep;
		bool records;
	} kinds[] = {
		{ mig, s->policy.keep_migrations, true },
		{ dec, s->policy.keep_decisions, false },
	};
	for (size_t k = 0; k < ELEMENTSOF(kinds); k++) {
		size_t plen = strlen(kinds[k].prefix), n = 0;
		_cleanup_free_ const char **keys = calloc(MAX(s->store.n, (size_t)1), sizeof *keys);
		if (!keys)
			return;
		for (size_t i = store_lower_bound(&s->store, kinds[k].prefix);
		     i < s->store.n && strncmp(s->store.docs[i].key, kinds[k].prefix, plen) == 0;
		     i++)
			keys[n++] = s->store.docs[i].key;
		qsort(keys, n, sizeof *keys, key_cmp_desc);
		unsigned kept = 0;
		for (size_t i = 0; i < n; i++) {
			const Doc *d = store_get(&s->store, keys[i]);
			uint64_t at_ms = 0;
			if (kinds[k].records) {
				MigrationRecord rec = {};
				if (migration_record_from_json(d->value, d->size, &rec) < 0)
					continue; /* not ours to judge */
				bool final = migration_phase_is_final(rec.phase);
				at_ms = rec.phase_time_ms[MIGRATION_PLANNED];
				migration_record_clear(&rec);
				if (!final)
					continue; /* a migration under way is never deleted */
			} else {
				/* d-<ms>-<nonce> */
				at_ms = strtoull(keys[i] + plen + 2, NULL, 10);
			}
			bool old = max_age_ms && at_ms && now_ms > at_ms &&
			           now_ms - at_ms > max_age_ms;
			if (kept < kinds[k].keep && !old) {
				kept++;
				continue;
			}
			int r = etcd_delete(s->etcd, keys[i], NULL);
			if (r < 0) {
				log_debug_errno(r, "retention: cannot delete %s", keys[i]);
				return;
			}
			log_debug("retention: deleted %s", keys[i]);
		}
	}
}

/* ---- the loop ---- */

/* What the scheduler is doing, for systemd's STATUS=. */
static void notify_progress(Scheduler *s)
{
	size_t nodes = 0, running = 0;
	_cleanup_free_ char *nodes_prefix = NULL;
	if (asprintf(&nodes_prefix, "%snodes/", s->config->prefix) < 0)
		return;
	size_t plen = strlen(nodes_prefix);
	for (size_t i = store_lower_bound(&s->store, nodes_prefix);
	     i < s->store.n && strncmp(s->store.docs[i].key, nodes_prefix, plen) == 0; i++) {
		const char *rest = s->store.docs[i].key + plen, *slash = strchr(rest, '/');
		nodes += slash && streq(slash, "/status");
	}
	for (size_t i = 0; i < s->n_workers; i++)
		running += !atomic_load(&s->workers[i]->finished);
	service_notify_status(&s->notify, "%s, %zu nodes, %zu migrations in flight, %s%s",
	                      atomic_load(&s->leading) ? "leading" : "standing by", nodes, running,
	                      s->last_decision[0] ? "last decision " : "no decision yet",
	                      s->last_decision);
}

static void tick(Scheduler *s)
{
	policy_refresh(s);
	workers_reap(s, false);
	if (!atomic_load(&s->leading)) {
		scheduler_metrics_tick(s->metrics, s->policy_revision, NULL, 0);
		return;
	}

	SchedView view = {};
	_cleanup_sched_plan_ SchedPlan *plan = NULL;
	uint64_t t0 = now_usec(CLOCK_MONOTONIC);
	int r = view_build(s, &view);
	if (r >= 0)
		r = sched_decide(&view, &s->policy, now_usec(CLOCK_REALTIME), &plan);
	scheduler_metrics_tick(s->metrics, s->policy_revision, r >= 0 ? plan : NULL,
	                       (double)(now_usec(CLOCK_MONOTONIC) - t0) / USEC_PER_SEC);
	if (r < 0)
		log_error_errno(r, "cannot decide");
	else
		act(s, plan);
	sched_plan_free(TAKE_PTR(plan));
	sched_view_done(&view);

	uint64_t now = now_usec(CLOCK_MONOTONIC);
	if (now - s->last_retention >= RETENTION_EVERY_USEC) {
		s->last_retention = now;
		retention_enforce(s);
	}
}

static int scheduler_connect(Scheduler *s)
{
	const SchedulerConfig *c = s->config;
	_cleanup_free_ char *password = NULL;
	int r;

	if (c->etcd_password_file && (r = read_first_line(c->etcd_password_file, &password)) < 0)
		return log_error_errno(r, "cannot read the etcd password from %s",
		                       c->etcd_password_file);
	bool etcd_tls = !c->insecure || startswith(c->etcd, "https://");
	EtcdOptions eo = { .rpc = { .plaintext = !etcd_tls,
		                    .ca_file = etcd_tls ? c->tls_ca : NULL,
		                    .cert_file = etcd_tls ? c->tls_cert : NULL,
		                    .key_file = etcd_tls ? c->tls_key : NULL,
		                    .max_reconnect_backoff_msec = 2000 },
		           .username = c->etcd_user,
		           .password = password,
		           .request_timeout_usec = 3 * RPC_USEC_PER_SEC };
	s->agent_rpc = (RpcOptions){ .plaintext = c->insecure,
		                     .ca_file = c->tls_ca,
		                     .cert_file = c->tls_cert,
		                     .key_file = c->tls_key,
		                     .max_reconnect_backoff_msec = 2000 };
	r = etcd_client_new(c->etcd, &eo, &s->etcd);
	if (password)
		explicit_bzero(password, strlen(password));
	if (r == ETCD_AUTH_FAILED)
		return log_error_errno(r, "etcd at %s refused user %s or its password", c->etcd,
		                       c->etcd_user);
	if (r < 0)
		return log_error_errno(r, "cannot set up the etcd client for %s", c->etcd);
	return 0;
}

static void scheduler_stop(Scheduler *s)
{
	atomic_store(&s->stopping, true);
	pthread_mutex_lock(&s->election_lock);
	if (s->election)
		etcd_election_cancel(s->election);
	pthread_mutex_unlock(&s->election_lock);
	if (s->election_started)
		pthread_join(s->election_thread, NULL);
	workers_cancel(s);
	workers_reap(s, true);
	s->metrics = scheduler_metrics_free(s->metrics);
	free(s->workers);
	for (size_t i = 0; i < s->n_memos; i++) {
		free(s->memos[i].node);
		free(s->memos[i].text);
	}
	free(s->memos);
	store_clear(&s->store);
	free(s->store.docs);
	sched_policy_done(&s->policy);
	etcd_client_free(s->etcd);
	pthread_mutex_destroy(&s->election_lock);
}

int scheduler_run(const SchedulerConfig *config, const sigset_t *stop)
{
	Scheduler s = { .config = config };
	_cleanup_(etcd_watch_freep) EtcdWatch *watch = NULL;
	int64_t revision = 0;
	int r;

	pthread_mutex_init(&s.election_lock, NULL);
	sched_policy_init(&s.policy);
	service_notify_init(&s.notify);
	if ((r = scheduler_connect(&s)) < 0)
		goto out;
	if ((r = scheduler_metrics_new(config, &s.leading, &s.metrics)) < 0)
		goto out;
	log_info("scheduler %s: etcd %s, prefix %s", config->name, config->etcd, config->prefix);

	r = -pthread_create(&s.election_thread, NULL, election_main, &s);
	if (r < 0) {
		log_error_errno(r, "cannot start the election thread");
		goto out;
	}
	s.election_started = true;

	uint64_t next_tick = 0;
	bool logged_down = false;
	for (;;) {
		struct timespec zero = {};
		int sig = sigtimedwait(stop, NULL, &zero);
		if (sig > 0) {
			log_info("scheduler %s: signal %d, stopping", config->name, sig);
			service_notify_stopping(&s.notify, "stopping");
			r = 0;
			break;
		}
		/* this loop alone pets the watchdog: it also turns while etcd is
		 * down (every 0.5 s), but not when a call in it hangs */
		service_notify_watchdog(&s.notify);
		if (!watch) {
			/* (Re)load everything, then follow changes from the next revision. */
			r = store_load(&s, &revision);
			if (r >= 0)
				r = etcd_watch_prefix(s.etcd, config->prefix, revision + 1, &watch);
			if (r < 0) {
				if (!logged_down)
					log_warning_errno(r, "cannot read %s from etcd (retrying)",
					                  config->prefix);
				logged_down = true;
				usleep(500 * 1000);
				continue;
			}
			if (logged_down)
				log_notice("etcd reachable again");
			logged_down = false;
			/* READY once the view is loaded and the watch follows it */
			service_notify_ready(&s.notify, "watching %s: %s", config->prefix,
			                     atomic_load(&s.leading) ? "leading" : "standing by");
		}
		uint64_t now = now_usec(CLOCK_MONOTONIC);
		if (now >= next_tick) {
			tick(&s);
			notify_progress(&s);
			next_tick = now + config->tick_usec;
			continue;
		}
		EtcdEvent *events = NULL;
		r = etcd_watch_next(watch, MIN(next_tick - now, 200 * 1000), &events);
		if (r > 0) {
			store_apply(&s, events, (size_t)r);
			etcd_events_free(events, (size_t)r);
		} else if (r == ETCD_COMPACTED) {
			log_notice("watch on %s fell behind a compaction; reloading",
			           config->prefix);
			watch = etcd_watch_free(watch);
		} else if (r < 0 && r != -ETIMEDOUT) {
			log_warning_errno(r, "watch on %s failed (reloading)", config->prefix);
			watch = etcd_watch_free(watch);
		}
	}
out:
	watch = etcd_watch_free(watch);
	scheduler_stop(&s);
	return r;
}
