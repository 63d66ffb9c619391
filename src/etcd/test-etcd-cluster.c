/* Tests of the client against a real 3-member etcd cluster: the member the
 * client and its watch are talking to is killed (SIGKILL) in the middle of a
 * watch; the watch carries on from another member without losing or repeating
 * an event, writes go to the members left, and a lease is kept alive; then a
 * member left without quorum refuses requests with "no leader" at once, and
 * the watch carries on once quorum is back. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "etcd-fixture.h"
#include "etcd-internal.h"
#include "time-util.h"

#define WAIT     (10 * RPC_USEC_PER_SEC)
#define N_EVENTS 10

static EtcdCluster *cluster;

static int setup(void **state)
{
	rpc_global_init();
	return etcd_cluster_start(3, &cluster) < 0 ? -1 : 0;
}

static int teardown(void **state)
{
	cluster = etcd_cluster_free(cluster);
	rpc_global_shutdown();
	return 0;
}

static EtcdClient *client_new(void)
{
	EtcdOptions o = { .rpc.plaintext = true };
	o.rpc.max_reconnect_backoff_msec = 200;
	EtcdClient *c;
	assert_int_equal(etcd_client_new(cluster->endpoints, &o, &c), 0);
	return c;
}

/* A write whose reply may be lost with the member is not retried by the
 * client (it may have been applied); this test's writes are idempotent. */
static int64_t put_retrying(EtcdClient *c, const char *key, const char *value)
{
	for (int i = 0; i < 100; i++) {
		int64_t rev;
		if (etcd_put(c, key, value, strlen(value), 0, &rev) == 0)
			return rev;
		sleep_usec(100 * USEC_PER_MSEC);
	}
	fail_msg("cannot put %s: %s", key, etcd_last_error()->message);
	return 0;
}

typedef struct Lost {
	int error;
	unsigned calls;
} Lost;

static void on_lost(EtcdLease *l, int error, void *userdata)
{
	Lost *lost = userdata;
	__atomic_store_n(&lost->error, error, __ATOMIC_SEQ_CST);
	__atomic_add_fetch(&lost->calls, 1, __ATOMIC_SEQ_CST);
}

/* Reads events until `count` have come; checks keys and revisions. */
static void expect_events(EtcdWatch *w, size_t *seen, size_t count, const int64_t *want_rev)
{
	while (*seen < count) {
		EtcdEvent *ev;
		int n = etcd_watch_next(w, WAIT, &ev);
		if (n < 0)
			fail_msg("watch: %s after %zu events", strerror(-n), *seen);
		for (int i = 0; i < n; i++, (*seen)++) {
			char key[32];
			assert_true(*seen < count);
			snprintf(key, sizeof(key), "/t/fo/e%02zu", *seen);
			assert_string_equal(ev[i].kv.key, key);
			assert_int_equal(ev[i].type, ETCD_EVENT_PUT);
			assert_int_equal(ev[i].kv.mod_revision, want_rev[*seen]);
		}
		etcd_events_free(ev, (size_t)n);
	}
}

static void test_member_killed_mid_watch(void **state)
{
	_cleanup_(etcd_client_freep) EtcdClient *c = client_new();
	_cleanup_(etcd_client_freep) EtcdClient *writer = client_new();
	_cleanup_(etcd_watch_freep) EtcdWatch *w = NULL;
	assert_int_equal(etcd_watch_prefix(c, "/t/fo/", 0, &w), 0);
	Lost lost = {};
	_cleanup_(etcd_lease_freep) EtcdLease *l = NULL;
	assert_int_equal(etcd_lease_grant(c, 2, on_lost, &lost, &l), 0);
	assert_int_equal(etcd_put(c, "/t/fo-lease", "alive", 5, etcd_lease_get_id(l), NULL), 0);

	int64_t rev[N_EVENTS];
	size_t seen = 0, i = 0;
	char key[32];
	for (; i < 2; i++) {
		snprintf(key, sizeof(key), "/t/fo/e%02zu", i);
		rev[i] = put_retrying(writer, key, "before");
	}
	expect_events(w, &seen, 2, rev);

	/* written, not yet read, when the member goes */
	for (; i < 4; i++) {
		snprintf(key, sizeof(key), "/t/fo/e%02zu", i);
		rev[i] = put_retrying(writer, key, "in flight");
	}
	char killed[64];
	snprintf(killed, sizeof(killed), "%s", etcd_watch_get_endpoint(w));
	assert_string_equal(killed, etcd_client_get_endpoint(c));
	EtcdFixture *m = etcd_cluster_find(cluster, killed);
	assert_non_null(m);
	assert_int_equal(etcd_fixture_kill(m), 0);

	/* written while the client finds another member */
	for (; i < N_EVENTS; i++) {
		snprintf(key, sizeof(key), "/t/fo/e%02zu", i);
		rev[i] = put_retrying(writer, key, "after");
	}
	expect_events(w, &seen, N_EVENTS, rev);
	assert_true(etcd_watch_get_reconnects(w) >= 1);
	assert_string_not_equal(etcd_watch_get_endpoint(w), killed);

	/* nothing more, nothing repeated */
	EtcdEvent *ev;
	assert_int_equal(etcd_watch_next(w, 300 * RPC_USEC_PER_MSEC, &ev), -ETIMEDOUT);

	/* reads fail over too, and the lease outlived its TTL twice over */
	sleep_usec(4500 * USEC_PER_MSEC);
	EtcdKeyValue kv;
	assert_int_equal(etcd_get(c, "/t/fo-lease", &kv), 0);
	assert_int_equal(kv.lease, etcd_lease_get_id(l));
	etcd_key_value_done(&kv);
	assert_string_not_equal(etcd_client_get_endpoint(c), killed);
	assert_int_equal(__atomic_load_n(&lost.calls, __ATOMIC_SEQ_CST), 0);
}

/* Runs after test_member_killed_mid_watch (one member is down): a second
 * member goes, so the last one has no quorum. It refuses requests at once
 * with "no leader" (the client's hasleader metadata) instead of letting them
 * hang, and once the others are back the watch carries on. */
static void test_quorum_lost(void **state)
{
	_cleanup_(etcd_client_freep) EtcdClient *c = client_new();
	_cleanup_(etcd_watch_freep) EtcdWatch *w = NULL;
	assert_int_equal(etcd_watch_prefix(c, "/t/q/", 0, &w), 0);
	int64_t r1 = put_retrying(c, "/t/q/1", "1");

	EtcdFixture *alone = NULL;
	for (size_t i = 0; i < cluster->n; i++)
		if (cluster->members[i]->pid > 0) {
			if (!alone)
				alone = cluster->members[i];
			else
				assert_int_equal(etcd_fixture_kill(cluster->members[i]), 0);
		}
	assert_non_null(alone);

	EtcdOptions o = { .rpc.plaintext = true, .request_timeout_usec = RPC_USEC_PER_SEC };
	_cleanup_(etcd_client_freep) EtcdClient *lonely = NULL;
	assert_int_equal(etcd_client_new(alone->endpoint, &o, &lonely), 0);
	bool refused = false;
	for (int i = 0; i < 50 && !refused; i++) {
		EtcdKeyValue kv;
		int r = etcd_get(lonely, "/t/q/1", &kv);
		if (r >= 0)
			etcd_key_value_done(&kv);
		else
			refused = strstr(etcd_last_error()->message, "no leader") != NULL;
		if (!refused)
			sleep_usec(100 * USEC_PER_MSEC);
	}
	assert_true(refused);

	for (size_t i = 0; i < cluster->n; i++)
		if (cluster->members[i]->pid == 0)
			assert_int_equal(etcd_fixture_restart(cluster->members[i]), 0);
	int64_t r2 = put_retrying(c, "/t/q/2", "2");
	int64_t want[] = { r1, r2 };
	size_t seen = 0;
	while (seen < 2) {
		EtcdEvent *ev;
		int n = etcd_watch_next(w, WAIT, &ev);
		if (n < 0)
			fail_msg("watch: %s after %zu events", strerror(-n), seen);
		for (int i = 0; i < n; i++, seen++) {
			assert_true(seen < 2);
			assert_int_equal(ev[i].kv.mod_revision, want[seen]);
		}
		etcd_events_free(ev, (size_t)n);
	}
}

int main(void)
{
	etcd_fixture_require();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_member_killed_mid_watch),
		cmocka_unit_test(test_quorum_lost),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
