/* Tests of the etcd client against a real etcd started by the fixture: KV,
 * prefix ranges, transactions, leases (keepalive, loss), and a prefix watch
 * that survives an etcd restart without losing or repeating an event. */
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

#define WAIT (10 * RPC_USEC_PER_SEC)

static EtcdFixture *etcd;
static EtcdClient *client;

static int setup(void **state)
{
	return etcd_fixture_setup_client(&etcd, &client) < 0 ? -1 : 0;
}

static int teardown(void **state)
{
	etcd_fixture_teardown_client(&etcd, &client);
	return 0;
}

static int64_t put(const char *key, const char *value)
{
	int64_t rev = 0;
	assert_int_equal(etcd_put(client, key, value, strlen(value), 0, &rev), 0);
	assert_true(rev > 0);
	return rev;
}

static void test_prefix_range_end(void **state)
{
	uint8_t out[8];
	assert_int_equal(etcd_prefix_range_end("/a/", out), 3);
	assert_memory_equal(out, "/a0", 3);
	assert_int_equal(etcd_prefix_range_end("a\xff\xff", out), 1);
	assert_memory_equal(out, "b", 1);
	assert_int_equal(etcd_prefix_range_end("\xff", out), 1);
	assert_int_equal(out[0], 0);
}

static void test_kv(void **state)
{
	int64_t rev = put("/t/kv/a", "{\"x\":1}");
	EtcdKeyValue kv;
	assert_int_equal(etcd_get(client, "/t/kv/a", &kv), 0);
	assert_string_equal(kv.key, "/t/kv/a");
	assert_string_equal(kv.value, "{\"x\":1}");
	assert_int_equal(kv.value_size, 7);
	assert_int_equal(kv.mod_revision, rev);
	assert_int_equal(kv.version, 1);
	etcd_key_value_done(&kv);

	assert_int_equal(etcd_get(client, "/t/kv/missing", &kv), ETCD_NOT_FOUND);
	int64_t deleted = -1;
	assert_int_equal(etcd_delete(client, "/t/kv/a", &deleted), 0);
	assert_int_equal(deleted, 1);
	assert_int_equal(etcd_delete(client, "/t/kv/a", &deleted), 0);
	assert_int_equal(deleted, 0);
	assert_int_equal(etcd_get(client, "/t/kv/a", &kv), ETCD_NOT_FOUND);
	/* etcd's own errors come back as errnos: an empty key is invalid */
	assert_int_equal(etcd_put(client, "", "v", 1, 0, NULL), -EINVAL);
}

static void test_prefix(void **state)
{
	put("/t/p/b", "2");
	put("/t/p/a", "1");
	put("/t/p/c/d", "3");
	put("/t/p0", "not in the prefix");
	put("/t/q", "nor this");
	EtcdKeyValue *kvs;
	size_t n;
	int64_t rev;
	assert_int_equal(etcd_get_prefix(client, "/t/p/", &kvs, &n, &rev), 0);
	assert_int_equal(n, 3);
	assert_string_equal(kvs[0].key, "/t/p/a");
	assert_string_equal(kvs[1].key, "/t/p/b");
	assert_string_equal(kvs[2].key, "/t/p/c/d");
	assert_true(rev >= kvs[2].mod_revision);
	etcd_key_values_free(kvs, n);

	int64_t deleted;
	assert_int_equal(etcd_delete_prefix(client, "/t/p/", &deleted), 0);
	assert_int_equal(deleted, 3);
	assert_int_equal(etcd_get_prefix(client, "/t/p/", &kvs, &n, NULL), 0);
	assert_int_equal(n, 0);
	etcd_key_values_free(kvs, n);
}

static void test_compare_and_swap(void **state)
{
	int64_t rev1, rev2;
	assert_int_equal(etcd_compare_and_swap(client, "/t/cas", 0, "one", 0, &rev1), 0);
	/* create-only fails once it exists */
	assert_int_equal(etcd_compare_and_swap(client, "/t/cas", 0, "two", 0, NULL),
	                 ETCD_CAS_FAILED);
	assert_int_equal(etcd_compare_and_swap(client, "/t/cas", rev1, "two", 0, &rev2), 0);
	assert_true(rev2 > rev1);
	/* a stale revision loses */
	assert_int_equal(etcd_compare_and_swap(client, "/t/cas", rev1, "three", 0, NULL),
	                 ETCD_CAS_FAILED);
	EtcdKeyValue kv;
	assert_int_equal(etcd_get(client, "/t/cas", &kv), 0);
	assert_string_equal(kv.value, "two");
	etcd_key_value_done(&kv);

	/* the else branch of a general transaction */
	EtcdCompare cmp = {
		.key = "/t/cas", .target = ETCD_COMPARE_VALUE, .op = ETCD_EQUAL, .value = "nope"
	};
	EtcdOp then = { .type = ETCD_OP_PUT, .key = "/t/cas-then", .value = "x" };
	EtcdOp otherwise[] = {
		{ .type = ETCD_OP_PUT, .key = "/t/cas-else", .value = "y" },
		{ .type = ETCD_OP_DELETE, .key = "/t/cas" },
	};
	assert_int_equal(etcd_txn(client, &cmp, 1, &then, 1, otherwise, 2, NULL), 0);
	assert_int_equal(etcd_get(client, "/t/cas-then", &kv), ETCD_NOT_FOUND);
	assert_int_equal(etcd_get(client, "/t/cas", &kv), ETCD_NOT_FOUND);
	assert_int_equal(etcd_get(client, "/t/cas-else", &kv), 0);
	etcd_key_value_done(&kv);
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

static int wait_lost(Lost *lost, unsigned ms)
{
	for (unsigned i = 0; i < ms / 50 && __atomic_load_n(&lost->calls, __ATOMIC_SEQ_CST) == 0;
	     i++)
		sleep_usec(50 * USEC_PER_MSEC);
	return __atomic_load_n(&lost->error, __ATOMIC_SEQ_CST);
}

static void test_lease_keepalive(void **state)
{
	Lost lost = {};
	_cleanup_(etcd_lease_freep) EtcdLease *l = NULL;
	assert_int_equal(etcd_lease_grant(client, 2, on_lost, &lost, &l), 0);
	assert_true(etcd_lease_get_ttl(l) >= 2);
	int64_t ttl = etcd_lease_get_ttl(l);
	assert_int_equal(etcd_put(client, "/t/lease/a", "v", 1, etcd_lease_get_id(l), NULL), 0);

	/* well past the TTL: kept alive */
	sleep_usec((uint64_t)ttl * USEC_PER_SEC + 1500 * USEC_PER_MSEC);
	EtcdKeyValue kv;
	assert_int_equal(etcd_get(client, "/t/lease/a", &kv), 0);
	assert_int_equal(kv.lease, etcd_lease_get_id(l));
	etcd_key_value_done(&kv);
	assert_int_equal(lost.calls, 0);

	assert_int_equal(etcd_lease_revoke(l), 0);
	assert_int_equal(etcd_get(client, "/t/lease/a", &kv), ETCD_NOT_FOUND);
	assert_int_equal(lost.calls, 0); /* our own revoke is not a loss */
}

static void test_lease_lost(void **state)
{
	Lost lost = {};
	_cleanup_(etcd_lease_freep) EtcdLease *l = NULL;
	assert_int_equal(etcd_lease_grant(client, 3, on_lost, &lost, &l), 0);
	/* someone else revokes it: the next keepalive learns it is gone */
	assert_int_equal(etcd_lease_revoke_id(client, etcd_lease_get_id(l)), 0);
	assert_int_equal(wait_lost(&lost, 5000), ETCD_LEASE_GONE);
	assert_int_equal(lost.calls, 1);
}

static void test_watch(void **state)
{
	_cleanup_(etcd_watch_freep) EtcdWatch *w = NULL;
	assert_int_equal(etcd_watch_prefix(client, "/t/w1/", 0, &w), 0);
	EtcdEvent *ev;
	assert_int_equal(etcd_watch_next(w, 100 * RPC_USEC_PER_MSEC, &ev), -ETIMEDOUT);

	int64_t r1 = put("/t/w1/a", "1");
	put("/t/other", "ignored");
	EtcdOp ops[] = {
		{ .type = ETCD_OP_PUT, .key = "/t/w1/b", .value = "2" },
		{ .type = ETCD_OP_DELETE, .key = "/t/w1/a" },
	};
	int64_t r2;
	assert_int_equal(etcd_txn(client, NULL, 0, ops, 2, NULL, 0, &r2), 1);

	const char *want_key[] = { "/t/w1/a", "/t/w1/b", "/t/w1/a" };
	EtcdEventType want_type[] = { ETCD_EVENT_PUT, ETCD_EVENT_PUT, ETCD_EVENT_DELETE };
	int64_t want_rev[] = { r1, r2, r2 };
	size_t seen = 0;
	while (seen < 3) {
		int n = etcd_watch_next(w, WAIT, &ev);
		assert_true(n > 0);
		for (int i = 0; i < n; i++, seen++) {
			assert_true(seen < 3);
			assert_string_equal(ev[i].kv.key, want_key[seen]);
			assert_int_equal(ev[i].type, want_type[seen]);
			assert_int_equal(ev[i].kv.mod_revision, want_rev[seen]);
		}
		etcd_events_free(ev, (size_t)n);
	}
	assert_int_equal(etcd_watch_get_revision(w), r2);

	/* from a past revision: history replays */
	_cleanup_(etcd_watch_freep) EtcdWatch *w2 = NULL;
	assert_int_equal(etcd_watch_prefix(client, "/t/w1/", r1, &w2), 0);
	int n = etcd_watch_next(w2, WAIT, &ev);
	assert_true(n >= 1);
	assert_string_equal(ev[0].kv.key, "/t/w1/a");
	assert_string_equal(ev[0].kv.value, "1");
	etcd_events_free(ev, (size_t)n);
}

/* Collects events from w until `key` arrives; appends keys and revisions. */
static void collect_until(EtcdWatch *w, const char *key, char **keys, int64_t *revs, size_t *n)
{
	for (;;) {
		EtcdEvent *ev;
		int k = etcd_watch_next(w, WAIT, &ev);
		assert_true(k > 0);
		bool done = false;
		for (int i = 0; i < k; i++) {
			assert_true(*n < 16);
			keys[*n] = strdup(ev[i].kv.key);
			revs[*n] = ev[i].kv.mod_revision;
			(*n)++;
			done = done || strcmp(ev[i].kv.key, key) == 0;
		}
		etcd_events_free(ev, (size_t)k);
		if (done)
			return;
	}
}

static int64_t put_retrying(const char *key, const char *value)
{
	for (int i = 0; i < 100; i++) {
		int64_t rev;
		if (etcd_put(client, key, value, strlen(value), 0, &rev) == 0)
			return rev;
		sleep_usec(100 * USEC_PER_MSEC);
	}
	fail_msg("cannot put %s after the restart", key);
	return 0;
}

static void test_watch_survives_restart(void **state)
{
	_cleanup_(etcd_watch_freep) EtcdWatch *w = NULL;
	assert_int_equal(etcd_watch_prefix(client, "/t/w2/", 0, &w), 0);
	Lost lost = {};
	_cleanup_(etcd_lease_freep) EtcdLease *l = NULL;
	assert_int_equal(etcd_lease_grant(client, 2, on_lost, &lost, &l), 0);

	char *keys[16];
	int64_t revs[16], want[6];
	size_t n = 0;
	want[0] = put("/t/w2/e1", "1");
	want[1] = put("/t/w2/e2", "2");
	collect_until(w, "/t/w2/e2", keys, revs, &n);

	/* written and never read before etcd goes away */
	want[2] = put("/t/w2/e3", "3");
	want[3] = put("/t/w2/e4", "4");
	assert_int_equal(etcd_fixture_stop(etcd), 0);

	/* etcd unreachable for longer than the lease's TTL: reported lost */
	assert_int_equal(wait_lost(&lost, 6000), -ETIMEDOUT);

	assert_int_equal(etcd_fixture_restart(etcd), 0);
	/* written after the restart, before the watch reconnects */
	want[4] = put_retrying("/t/w2/e5", "5");
	collect_until(w, "/t/w2/e5", keys, revs, &n);
	/* and written after the watch is back */
	want[5] = put("/t/w2/e6", "6");
	collect_until(w, "/t/w2/e6", keys, revs, &n);

	assert_int_equal(n, 6);
	for (size_t i = 0; i < n; i++) {
		char k[32];
		snprintf(k, sizeof(k), "/t/w2/e%zu", i + 1);
		assert_string_equal(keys[i], k);
		assert_int_equal(revs[i], want[i]);
		free(keys[i]);
	}
	assert_true(etcd_watch_get_reconnects(w) >= 1);
	assert_int_equal(lost.calls, 1);
}

int main(void)
{
	etcd_fixture_require();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_prefix_range_end),
		cmocka_unit_test(test_kv),
		cmocka_unit_test(test_prefix),
		cmocka_unit_test(test_compare_and_swap),
		cmocka_unit_test(test_lease_keepalive),
		cmocka_unit_test(test_lease_lost),
		cmocka_unit_test(test_watch),
		cmocka_unit_test(test_watch_survives_restart),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
