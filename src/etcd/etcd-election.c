/* etcd-election.c — leader election on a lease and transactions, the way
 * etcd's Go concurrency.Election does it: candidates' keys under a prefix, the
 * lowest create revision leads, each other candidate waits for the deletion
 * of its predecessor's key; plus observing who leads. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "etcd-internal.h"
#include "log.h"

#define POLL_USEC (200 * RPC_USEC_PER_MSEC)

struct EtcdElection {
	EtcdClient *client;
	char *prefix;
	char *key; /* prefix + lease id */
	EtcdLease *lease;
	EtcdElectionLostHandler on_lost;
	void *userdata;

	pthread_mutex_t lock;
	int64_t create_revision; /* of our key while campaigning or leading */
	bool leader;
	bool cancelled;
	int lost; /* the lease's loss, once it happened */
};

struct EtcdElectionObserver {
	EtcdClient *client;
	char *prefix;
	EtcdWatch *watch;
	bool reported;
	char *leader_key; /* NULL: no leader */
	int64_t leader_mod_revision;
};

static void election_lease_lost(EtcdLease *l, int error, void *userdata)
{
	EtcdElection *e = userdata;
	pthread_mutex_lock(&e->lock);
	bool was_leader = e->leader;
	e->leader = false;
	e->lost = error;
	pthread_mutex_unlock(&e->lock);
	log_debug_errno(error, "etcd: election %s: lease lost%s", e->prefix,
	                was_leader ? ", no longer the leader" : "");
	if (was_leader && e->on_lost)
		e->on_lost(e, error, e->userdata);
}

int etcd_election_new(EtcdClient *c, const char *prefix, int64_t ttl_sec,
                      EtcdElectionLostHandler on_lost, void *userdata, EtcdElection **ret)
{
	if (!prefix || !prefix[0])
		return -EINVAL;
	_cleanup_(etcd_election_freep) EtcdElection *e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	pthread_mutex_init(&e->lock, NULL);
	e->client = c;
	e->on_lost = on_lost;
	e->userdata = userdata;
	if (!(e->prefix = strdup(prefix)))
		return -ENOMEM;
	int r = etcd_lease_grant(c, ttl_sec, election_lease_lost, e, &e->lease);
	if (r < 0)
		return r;
	if (asprintf(&e->key, "%s%llx", prefix, (unsigned long long)etcd_lease_get_id(e->lease)) <
	    0)
		return -ENOMEM;
	*ret = TAKE_PTR(e);
	return 0;
}

/* The candidate under `prefix` with the highest create revision below
 * `below` (0: the lowest create revision overall, i.e. the leader). */
static int find_candidate(EtcdClient *c, const char *prefix, int64_t below, EtcdKeyValue *ret,
                          int64_t *ret_revision)
{
	_cleanup_free_ uint8_t *end = malloc(strlen(prefix) + 1);
	if (!end)
		return -ENOMEM;
	Etcdserverpb__RangeRequest req = ETCDSERVERPB__RANGE_REQUEST__INIT;
	req.key = etcd_bytes(prefix);
	req.range_end.len = etcd_prefix_range_end(prefix, end);
	req.range_end.data = end;
	req.limit = 1;
	req.sort_target = ETCDSERVERPB__RANGE_REQUEST__SORT_TARGET__CREATE;
	if (below > 0) {
		req.max_create_revision = below - 1;
		req.sort_order = ETCDSERVERPB__RANGE_REQUEST__SORT_ORDER__DESCEND;
	} else
		req.sort_order = ETCDSERVERPB__RANGE_REQUEST__SORT_ORDER__ASCEND;
	_cleanup_message_ Etcdserverpb__RangeResponse *resp = NULL;
	int r = etcd_call(c, &etcdserverpb__kv__descriptor, "Range", &req.base,
	                  (ProtobufCMessage **)&resp);
	if (r < 0)
		return r;
	if (ret_revision)
		*ret_revision = etcd_header_revision(resp->header);
	if (resp->n_kvs == 0)
		return ETCD_NOT_FOUND;
	return etcd_key_value_from_pb(resp->kvs[0], ret);
}

int etcd_election_get_leader(EtcdClient *c, const char *prefix, EtcdKeyValue *ret)
{
	return find_candidate(c, prefix, 0, ret, NULL);
}

static int election_check(EtcdElection *e, uint64_t deadline)
{
	pthread_mutex_lock(&e->lock);
	int r = e->lost ? ETCD_LEASE_GONE : e->cancelled ? -ECANCELED : 0;
	e->cancelled = false;
	pthread_mutex_unlock(&e->lock);
	if (r == 0 && deadline != RPC_USEC_INFINITY && now_usec(CLOCK_MONOTONIC) >= deadline)
		r = -ETIMEDOUT;
	return r;
}

/* Waits until `key` is deleted (after `revision`), or the campaign ends. */
static int wait_deleted(EtcdElection *e, const char *key, int64_t revision, uint64_t deadline)
{
	_cleanup_(etcd_watch_freep) EtcdWatch *w = NULL;
	int r = etcd_watch_prefix(e->client, key, revision + 1, &w);
	if (r < 0)
		return r;
	for (;;) {
		r = election_check(e, deadline);
		if (r < 0)
			return r;
		EtcdEvent *ev;
		int n = etcd_watch_next(w, POLL_USEC, &ev);
		if (n == -ETIMEDOUT)
			continue;
		if (n < 0)
			return n;
		bool deleted = false;
		for (int i = 0; i < n; i++)
			/* a watch of a prefix: other keys may extend this one */
			deleted = deleted || (ev[i].type == ETCD_EVENT_DELETE &&
			                      strcmp(ev[i].kv.key, key) == 0);
		etcd_events_free(ev, (size_t)n);
		if (deleted)
			return 0;
	}
}

int etcd_election_campaign(EtcdElection *e, const char *value, uint64_t timeout_usec)
{
	uint64_t deadline = timeout_usec == RPC_USEC_INFINITY
	                            ? RPC_USEC_INFINITY
	                            : now_usec(CLOCK_MONOTONIC) + timeout_usec;
	int r = election_check(e, RPC_USEC_INFINITY);
	if (r < 0)
		return r;

	/* a put keeps the create revision of a key we already have */
	int64_t lease = etcd_lease_get_id(e->lease);
	r = etcd_put(e->client, e->key, value, strlen(value), lease, NULL);
	if (r < 0)
		return r;
	EtcdKeyValue mine;
	r = etcd_get(e->client, e->key, &mine);
	if (r == ETCD_NOT_FOUND)
		return ETCD_LEASE_GONE; /* expired in between */
	if (r < 0)
		return r;
	int64_t rev = mine.create_revision;
	etcd_key_value_done(&mine);
	pthread_mutex_lock(&e->lock);
	e->create_revision = rev;
	pthread_mutex_unlock(&e->lock);

	for (;;) {
		EtcdKeyValue pred;
		int64_t at;
		r = find_candidate(e->client, e->prefix, rev, &pred, &at);
		if (r == ETCD_NOT_FOUND) {
			pthread_mutex_lock(&e->lock);
			e->leader = !e->lost;
			r = e->lost ? ETCD_LEASE_GONE : 0;
			pthread_mutex_unlock(&e->lock);
			if (r == 0) {
				log_debug("etcd: election %s: %s leads", e->prefix, e->key);
				return 0;
			}
			break;
		}
		if (r < 0)
			break;
		log_debug("etcd: election %s: %s waits for %s", e->prefix, e->key, pred.key);
		r = wait_deleted(e, pred.key, at, deadline);
		etcd_key_value_done(&pred);
		if (r < 0)
			break;
	}
	/* not the leader: leave no key that would make us one later */
	if (r != ETCD_LEASE_GONE)
		(void)etcd_election_resign(e);
	return r;
}

void etcd_election_cancel(EtcdElection *e)
{
	pthread_mutex_lock(&e->lock);
	e->cancelled = true;
	pthread_mutex_unlock(&e->lock);
}

int etcd_election_resign(EtcdElection *e)
{
	pthread_mutex_lock(&e->lock);
	int64_t rev = e->create_revision;
	e->leader = false;
	e->create_revision = 0;
	pthread_mutex_unlock(&e->lock);
	if (rev == 0)
		return 0;
	/* only the key we created: never a successor's */
	EtcdCompare cmp = { .key = e->key,
		            .target = ETCD_COMPARE_CREATE_REVISION,
		            .op = ETCD_EQUAL,
		            .number = rev };
	EtcdOp del = { .type = ETCD_OP_DELETE, .key = e->key };
	int r = etcd_txn(e->client, &cmp, 1, &del, 1, NULL, 0, NULL);
	return r < 0 ? r : 0;
}

bool etcd_election_is_leader(EtcdElection *e)
{
	pthread_mutex_lock(&e->lock);
	bool leader = e->leader;
	pthread_mutex_unlock(&e->lock);
	return leader;
}

int64_t etcd_election_get_lease_id(const EtcdElection *e)
{
	return etcd_lease_get_id(e->lease);
}

EtcdElection *etcd_election_free(EtcdElection *e)
{
	if (!e)
		return NULL;
	if (e->lease) {
		pthread_mutex_lock(&e->lock);
		bool lost = e->lost;
		pthread_mutex_unlock(&e->lock);
		if (!lost)
			(void)etcd_lease_revoke(e->lease);
		etcd_lease_free(e->lease);
	}
	pthread_mutex_destroy(&e->lock);
	free(e->prefix);
	free(e->key);
	free(e);
	return NULL;
}

int etcd_election_observe(EtcdClient *c, const char *prefix, EtcdElectionObserver **ret)
{
	EtcdElectionObserver *o = calloc(1, sizeof(*o));
	if (!o)
		return -ENOMEM;
	o->client = c;
	if (!(o->prefix = strdup(prefix))) {
		free(o);
		return -ENOMEM;
	}
	int r = etcd_watch_prefix(c, prefix, 0, &o->watch);
	if (r < 0) {
		etcd_election_observer_free(o);
		return r;
	}
	*ret = o;
	return 0;
}

/* Reports the leader now if it differs from the last one reported. */
static int observer_check(EtcdElectionObserver *o, EtcdKeyValue *ret)
{
	EtcdKeyValue kv;
	int r = etcd_election_get_leader(o->client, o->prefix, &kv);
	if (r == ETCD_NOT_FOUND) {
		bool changed = !o->reported || o->leader_key;
		o->reported = true;
		free(o->leader_key);
		o->leader_key = NULL;
		return changed ? 0 : -EAGAIN;
	}
	if (r < 0)
		return r;
	if (o->reported && o->leader_key && strcmp(o->leader_key, kv.key) == 0 &&
	    o->leader_mod_revision == kv.mod_revision) {
		etcd_key_value_done(&kv);
		return -EAGAIN;
	}
	char *k = strdup(kv.key);
	if (!k) {
		etcd_key_value_done(&kv);
		return -ENOMEM;
	}
	free(o->leader_key);
	o->leader_key = k;
	o->leader_mod_revision = kv.mod_revision;
	o->reported = true;
	*ret = kv;
	return 1;
}

int etcd_election_observer_next(EtcdElectionObserver *o, uint64_t timeout_usec, EtcdKeyValue *ret)
{
	uint64_t deadline = timeout_usec == RPC_USEC_INFINITY
	                            ? RPC_USEC_INFINITY
	                            : now_usec(CLOCK_MONOTONIC) + timeout_usec;
	if (!o->reported)
		return observer_check(o, ret);
	for (;;) {
		uint64_t now = now_usec(CLOCK_MONOTONIC);
		if (deadline != RPC_USEC_INFINITY && now >= deadline)
			return -ETIMEDOUT;
		EtcdEvent *ev;
		int n = etcd_watch_next(
		        o->watch,
		        deadline == RPC_USEC_INFINITY ? RPC_USEC_INFINITY : deadline - now, &ev);
		if (n < 0)
			return n;
		etcd_events_free(ev, (size_t)n);
		int r = observer_check(o, ret);
		if (r != -EAGAIN)
			return r;
	}
}

EtcdElectionObserver *etcd_election_observer_free(EtcdElectionObserver *o)
{
	if (!o)
		return NULL;
	etcd_watch_free(o->watch);
	free(o->prefix);
	free(o->leader_key);
	free(o);
	return NULL;
}
