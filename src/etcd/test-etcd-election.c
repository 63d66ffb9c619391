/* Tests of the leader election against a real etcd: campaign, resign,
 * observe, cancel, the callback when a leader's lease is lost, and a leader
 * in another process killed with SIGKILL, after which the other contender
 * leads within the lease's TTL (plus slack). argv[1]: test-etcd-contender. */
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include <cmocka.h>

#include "etcd-fixture.h"
#include "etcd-internal.h"
#include "rpc-testutil.h"
#include "time-util.h"

#define WAIT (10 * RPC_USEC_PER_SEC)
#define TTL  2

static const char *contender_path;
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

static void expect_leader(EtcdElectionObserver *o, const char *value)
{
	EtcdKeyValue kv;
	int r = etcd_election_observer_next(o, WAIT, &kv);
	if (r != 1)
		fail_msg("expected leader %s, got %d", value, r);
	assert_string_equal(kv.value, value);
	etcd_key_value_done(&kv);
}

static void test_campaign_resign_observe(void **state)
{
	const char *prefix = "/t/e1/";
	_cleanup_(etcd_election_observer_freep) EtcdElectionObserver *o = NULL;
	assert_int_equal(etcd_election_observe(client, prefix, &o), 0);
	EtcdKeyValue kv;
	assert_int_equal(etcd_election_observer_next(o, WAIT, &kv), 0); /* nobody yet */

	_cleanup_(etcd_election_freep) EtcdElection *one = NULL, *two = NULL;
	assert_int_equal(etcd_election_new(client, prefix, TTL, NULL, NULL, &one), 0);
	assert_int_equal(etcd_election_new(client, prefix, TTL, NULL, NULL, &two), 0);
	assert_int_equal(etcd_election_campaign(one, "one", WAIT), 0);
	assert_true(etcd_election_is_leader(one));
	expect_leader(o, "one");
	assert_int_equal(etcd_election_get_leader(client, prefix, &kv), 0);
	assert_string_equal(kv.value, "one");
	etcd_key_value_done(&kv);

	/* a second candidate waits, and leaves no key behind when it gives up */
	assert_int_equal(etcd_election_campaign(two, "two", 500 * RPC_USEC_PER_MSEC), -ETIMEDOUT);
	assert_false(etcd_election_is_leader(two));
	EtcdKeyValue *kvs;
	size_t n;
	assert_int_equal(etcd_get_prefix(client, prefix, &kvs, &n, NULL), 0);
	assert_int_equal(n, 1);
	etcd_key_values_free(kvs, n);

	/* campaigning again while leading: a new value, same leader */
	assert_int_equal(etcd_election_campaign(one, "one'", WAIT), 0);
	expect_leader(o, "one'");

	assert_int_equal(etcd_election_resign(one), 0);
	assert_false(etcd_election_is_leader(one));
	assert_int_equal(etcd_election_observer_next(o, WAIT, &kv), 0);
	assert_int_equal(etcd_election_campaign(two, "two", WAIT), 0);
	expect_leader(o, "two");
	assert_int_equal(etcd_election_observer_next(o, 200 * RPC_USEC_PER_MSEC, &kv), -ETIMEDOUT);
}

typedef struct Campaign {
	EtcdElection *e;
	const char *value;
	uint64_t timeout;
	int result;
	uint64_t done_usec;
	bool done;
} Campaign;

static void *campaign_thread(void *arg)
{
	Campaign *c = arg;
	int r = etcd_election_campaign(c->e, c->value, c->timeout);
	c->done_usec = now_usec(CLOCK_MONOTONIC);
	c->result = r;
	__atomic_store_n(&c->done, true, __ATOMIC_SEQ_CST);
	return NULL;
}

static void test_cancel(void **state)
{
	const char *prefix = "/t/e2/";
	_cleanup_(etcd_election_freep) EtcdElection *one = NULL, *two = NULL;
	assert_int_equal(etcd_election_new(client, prefix, TTL, NULL, NULL, &one), 0);
	assert_int_equal(etcd_election_new(client, prefix, TTL, NULL, NULL, &two), 0);
	assert_int_equal(etcd_election_campaign(one, "one", WAIT), 0);

	Campaign c = { .e = two, .value = "two", .timeout = RPC_USEC_INFINITY };
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, campaign_thread, &c), 0);
	sleep_usec(300 * USEC_PER_MSEC);
	assert_false(__atomic_load_n(&c.done, __ATOMIC_SEQ_CST));
	etcd_election_cancel(two);
	pthread_join(t, NULL);
	assert_int_equal(c.result, -ECANCELED);
	EtcdKeyValue kv;
	assert_int_equal(etcd_election_get_leader(client, prefix, &kv), 0);
	assert_string_equal(kv.value, "one");
	etcd_key_value_done(&kv);
}

typedef struct Lost {
	int error;
	unsigned calls;
} Lost;

static void on_lost(EtcdElection *e, int error, void *userdata)
{
	Lost *lost = userdata;
	__atomic_store_n(&lost->error, error, __ATOMIC_SEQ_CST);
	__atomic_add_fetch(&lost->calls, 1, __ATOMIC_SEQ_CST);
}

static void test_leadership_lost(void **state)
{
	Lost lost = {};
	_cleanup_(etcd_election_freep) EtcdElection *e = NULL;
	assert_int_equal(etcd_election_new(client, "/t/e3/", TTL, on_lost, &lost, &e), 0);
	assert_int_equal(etcd_election_campaign(e, "me", WAIT), 0);
	/* someone revokes the leader's lease */
	assert_int_equal(etcd_lease_revoke_id(client, etcd_election_get_lease_id(e)), 0);
	for (int i = 0; i < 100 && __atomic_load_n(&lost.calls, __ATOMIC_SEQ_CST) == 0; i++)
		sleep_usec(50 * USEC_PER_MSEC);
	assert_int_equal(__atomic_load_n(&lost.calls, __ATOMIC_SEQ_CST), 1);
	assert_int_equal(__atomic_load_n(&lost.error, __ATOMIC_SEQ_CST), ETCD_LEASE_GONE);
	assert_false(etcd_election_is_leader(e));
	assert_int_equal(etcd_election_campaign(e, "me", WAIT), ETCD_LEASE_GONE);
}

static void test_leader_process_killed(void **state)
{
	const char *prefix = "/t/e4/";
	_cleanup_(etcd_election_observer_freep) EtcdElectionObserver *o = NULL;
	assert_int_equal(etcd_election_observe(client, prefix, &o), 0);
	EtcdKeyValue kv;
	assert_int_equal(etcd_election_observer_next(o, WAIT, &kv), 0);

	char ttl[8];
	snprintf(ttl, sizeof(ttl), "%d", TTL);
	char *argv[] = {
		(char *)contender_path, etcd->endpoint, (char *)prefix, (char *)"A", ttl, NULL
	};
	pid_t pid;
	assert_int_equal(test_spawn(argv, etcd->log_path, &pid), 0);
	expect_leader(o, "A");

	_cleanup_(etcd_election_freep) EtcdElection *b = NULL;
	assert_int_equal(etcd_election_new(client, prefix, TTL, NULL, NULL, &b), 0);
	Campaign c = { .e = b, .value = "B", .timeout = 30 * RPC_USEC_PER_SEC };
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, campaign_thread, &c), 0);
	sleep_usec(500 * USEC_PER_MSEC);
	assert_false(__atomic_load_n(&c.done, __ATOMIC_SEQ_CST)); /* A still leads */

	uint64_t killed = now_usec(CLOCK_MONOTONIC);
	assert_int_equal(kill(pid, SIGKILL), 0);
	assert_int_equal(waitpid(pid, NULL, 0), pid);
	pthread_join(t, NULL);
	assert_int_equal(c.result, 0);
	uint64_t took = c.done_usec - killed;
	printf("B leads %.2f s after A was killed (TTL %d s)\n", (double)took / 1e6, TTL);
	/* A's lease lasts at most TTL after its last keepalive; slack for etcd's
	 * expiry check and our watch */
	assert_true(took <= (uint64_t)(TTL + 3) * RPC_USEC_PER_SEC);
	assert_true(etcd_election_is_leader(b));
	expect_leader(o, "B");
}

int main(int argc, char *argv[])
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s PATH-TO-test-etcd-contender\n", argv[0]);
		return 2;
	}
	contender_path = argv[1];
	etcd_fixture_require();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_campaign_resign_observe),
		cmocka_unit_test(test_cancel),
		cmocka_unit_test(test_leadership_lost),
		cmocka_unit_test(test_leader_process_killed),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
