/* etcd-lease.c — leases: grant, revoke, and a keepalive thread per lease that
 * refreshes it every TTL/3 over a LeaseKeepAlive stream, reopening the stream
 * after errors, and reports the lease lost when etcd says it is gone or could
 * not be reached for a whole TTL. */
#include <pthread.h>
#include <string.h>
#include <time.h>

#include "etcd-internal.h"
#include "log.h"

struct EtcdLease {
	EtcdClient *client;
	int64_t id;
	int64_t ttl_sec;
	EtcdLeaseLostHandler on_lost;
	void *userdata;

	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	bool stop;
	RpcStream *stream;   /* under lock, so stop can cancel it */
	size_t stream_index; /* the endpoint it was opened on */
};

/* Sleeps until `until` (monotonic µs) or stop; returns true if stopping. */
static bool lease_sleep_until(EtcdLease *l, uint64_t until)
{
	pthread_mutex_lock(&l->lock);
	while (!l->stop) {
		uint64_t now = now_usec(CLOCK_MONOTONIC);
		if (now >= until)
			break;
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		uint64_t wait = until - now;
		ts.tv_sec += (time_t)(wait / RPC_USEC_PER_SEC);
		ts.tv_nsec += (long)(wait % RPC_USEC_PER_SEC) * 1000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&l->wake, &l->lock, &ts);
	}
	bool stop = l->stop;
	pthread_mutex_unlock(&l->lock);
	return stop;
}

static bool lease_stopping(EtcdLease *l)
{
	pthread_mutex_lock(&l->lock);
	bool stop = l->stop;
	pthread_mutex_unlock(&l->lock);
	return stop;
}

static void lease_drop_stream(EtcdLease *l)
{
	pthread_mutex_lock(&l->lock);
	RpcStream *s = TAKE_PTR(l->stream);
	pthread_mutex_unlock(&l->lock);
	rpc_stream_free(s);
}

/* One keepalive round trip. Returns the TTL etcd reports (<= 0: lease gone),
 * or a negative errno for a transport failure. */
static int64_t lease_refresh(EtcdLease *l, uint64_t timeout_usec)
{
	int r;
	if (!l->stream) {
		RpcStream *s;
		r = etcd_stream_open(l->client, &etcdserverpb__lease__descriptor, "LeaseKeepAlive",
		                     &s, &l->stream_index);
		if (r < 0)
			return r;
		pthread_mutex_lock(&l->lock);
		l->stream = s;
		if (l->stop)
			rpc_stream_cancel(s);
		pthread_mutex_unlock(&l->lock);
	}

	Etcdserverpb__LeaseKeepAliveRequest req = ETCDSERVERPB__LEASE_KEEP_ALIVE_REQUEST__INIT;
	req.id = l->id;
	r = rpc_stream_send_timeout(l->stream, &req.base, timeout_usec);
	if (r < 0)
		return r;
	_cleanup_message_ Etcdserverpb__LeaseKeepAliveResponse *resp = NULL;
	r = rpc_stream_recv(l->stream, timeout_usec, (ProtobufCMessage **)&resp);
	if (r < 0)
		return r;
	if (r == 0)
		return -ECONNRESET;
	return resp->ttl;
}

static void *lease_thread(void *arg)
{
	EtcdLease *l = arg;
	uint64_t ttl = (uint64_t)l->ttl_sec * RPC_USEC_PER_SEC;
	uint64_t interval = ttl / 3;
	uint64_t last_ok = now_usec(CLOCK_MONOTONIC);
	int lost = 0;

	for (;;) {
		uint64_t round = now_usec(CLOCK_MONOTONIC);
		if (round >= last_ok + ttl) {
			lost = -ETIMEDOUT;
			break;
		}
		int64_t k = lease_refresh(l, MIN(interval, last_ok + ttl - round));
		if (lease_stopping(l))
			break;
		if (k > 0) {
			last_ok = now_usec(CLOCK_MONOTONIC);
			if (lease_sleep_until(l, round + interval))
				break;
			continue;
		}
		if (k == 0 || k == -ENOENT) {
			lost = ETCD_LEASE_GONE;
			break;
		}
		/* the stream failed or timed out: reopen it soon, on the next
		 * member if this one is the problem */
		log_debug_errno((int)k, "etcd: keepalive of lease %llx failed",
		                (unsigned long long)l->id);
		if (l->stream)
			etcd_stream_failed(l->client, l->stream_index, l->stream, false);
		else
			etcd_client_failover(l->client, l->stream_index);
		lease_drop_stream(l);
		if (lease_sleep_until(l, MIN(now_usec(CLOCK_MONOTONIC) + 200 * RPC_USEC_PER_MSEC,
		                             last_ok + ttl)))
			break;
	}
	lease_drop_stream(l);

	if (lost < 0 && l->on_lost) {
		log_debug_errno(lost, "etcd: lease %llx lost", (unsigned long long)l->id);
		l->on_lost(l, lost, l->userdata);
	}
	return NULL;
}

/* LeaseGrant: the lease's id and the TTL etcd granted (0 if it named none). */
static int lease_grant_call(EtcdClient *c, int64_t ttl_sec, int64_t *ret_id, int64_t *ret_ttl)
{
	if (ttl_sec <= 0)
		return -EINVAL;
	Etcdserverpb__LeaseGrantRequest req = ETCDSERVERPB__LEASE_GRANT_REQUEST__INIT;
	req.ttl = ttl_sec;
	_cleanup_message_ Etcdserverpb__LeaseGrantResponse *resp = NULL;
	int r = etcd_call(c, &etcdserverpb__lease__descriptor, "LeaseGrant", &req.base,
	                  (ProtobufCMessage **)&resp);
	if (r < 0)
		return r;
	if (resp->error && resp->error[0])
		return -EIO;
	*ret_id = resp->id;
	*ret_ttl = resp->ttl;
	return 0;
}

int etcd_lease_grant_expiring(EtcdClient *c, int64_t ttl_sec, int64_t *ret_id)
{
	int64_t id, granted;
	int r = lease_grant_call(c, ttl_sec, &id, &granted);
	if (r < 0)
		return r;
	if (id == 0)
		return -EIO;
	*ret_id = id;
	return 0;
}

int etcd_lease_grant(EtcdClient *c, int64_t ttl_sec, EtcdLeaseLostHandler on_lost, void *userdata,
                     EtcdLease **ret)
{
	int64_t id, granted;
	int r = lease_grant_call(c, ttl_sec, &id, &granted);
	if (r < 0)
		return r;

	EtcdLease *l = calloc(1, sizeof(*l));
	if (!l) {
		(void)etcd_lease_revoke_id(c, id);
		return -ENOMEM;
	}
	*l = (EtcdLease){
		.client = c,
		.id = id,
		.ttl_sec = granted > 0 ? granted : ttl_sec,
		.on_lost = on_lost,
		.userdata = userdata,
	};
	pthread_mutex_init(&l->lock, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&l->wake, &ca);
	pthread_condattr_destroy(&ca);

	r = pthread_create(&l->thread, NULL, lease_thread, l);
	if (r != 0) {
		(void)etcd_lease_revoke_id(c, l->id);
		pthread_cond_destroy(&l->wake);
		pthread_mutex_destroy(&l->lock);
		free(l);
		return -r;
	}
	*ret = l;
	return 0;
}

int64_t etcd_lease_get_id(const EtcdLease *l)
{
	return l->id;
}

int64_t etcd_lease_get_ttl(const EtcdLease *l)
{
	return l->ttl_sec;
}

int etcd_lease_revoke_id(EtcdClient *c, int64_t id)
{
	Etcdserverpb__LeaseRevokeRequest req = ETCDSERVERPB__LEASE_REVOKE_REQUEST__INIT;
	req.id = id;
	_cleanup_message_ ProtobufCMessage *resp = NULL;
	return etcd_call(c, &etcdserverpb__lease__descriptor, "LeaseRevoke", &req.base, &resp);
}

static void lease_stop(EtcdLease *l)
{
	pthread_mutex_lock(&l->lock);
	bool joined = l->stop;
	l->stop = true;
	if (l->stream)
		rpc_stream_cancel(l->stream);
	pthread_cond_broadcast(&l->wake);
	pthread_mutex_unlock(&l->lock);
	if (!joined)
		pthread_join(l->thread, NULL);
}

int etcd_lease_revoke(EtcdLease *l)
{
	lease_stop(l);
	return etcd_lease_revoke_id(l->client, l->id);
}

EtcdLease *etcd_lease_free(EtcdLease *l)
{
	if (!l)
		return NULL;
	lease_stop(l);
	pthread_cond_destroy(&l->wake);
	pthread_mutex_destroy(&l->lock);
	free(l);
	return NULL;
}
