/* Tests of the etcd client against a real etcd with TLS, client-certificate
 * authentication and user authentication: what works with the right
 * certificates and password, and the errors a wrong CA, a missing client
 * certificate and a wrong password give; the token is renewed once etcd lets
 * it expire. Certificates come from scripts/make-certs. */
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
#include "rpc-testutil.h"
#include "time-util.h"

#define PASSWORD  "s3cret-pw"
#define TOKEN_TTL 1 /* seconds, etcd's --auth-token-ttl */

static char *certs, *other_certs;
static EtcdFixture *etcd;
static char cert[600], key[600];

static int setup(void **state)
{
	rpc_global_init();
	if (test_tmpdir_new("podmig-test-certs", &certs) < 0 ||
	    test_tmpdir_new("podmig-test-other-certs", &other_certs) < 0)
		return -1;
	if (etcd_fixture_start_tls(certs, TOKEN_TTL, &etcd) < 0)
		return -1;
	/* a client whose certificate's CN is no etcd user: only a token
	 * lets it in once authentication is on */
	static const char *const mine[] = { "cli:podmig" };
	static const char *const other[] = { "cli:root" };
	if (etcd_fixture_make_certs(certs, mine, 1) < 0 ||
	    etcd_fixture_make_certs(other_certs, other, 1) < 0)
		return -1;
	snprintf(cert, sizeof(cert), "%s/cli-podmig.pem", certs);
	snprintf(key, sizeof(key), "%s/cli-podmig.key", certs);
	return 0;
}

static int teardown(void **state)
{
	etcd = etcd_fixture_free(etcd);
	test_tmpdir_remove(certs);
	test_tmpdir_remove(other_certs);
	free(certs);
	free(other_certs);
	rpc_global_shutdown();
	return 0;
}

static EtcdOptions podmig_options(const char *user, const char *password)
{
	EtcdOptions o = etcd_fixture_options(etcd);
	o.rpc.cert_file = cert;
	o.rpc.key_file = key;
	o.request_timeout_usec = 2 * RPC_USEC_PER_SEC;
	o.username = user;
	o.password = password;
	return o;
}

static void test_tls(void **state)
{
	EtcdOptions o = etcd_fixture_options(etcd);
	_cleanup_(etcd_client_freep) EtcdClient *c = NULL;
	/* an https:// endpoint, as etcdctl takes it */
	char endpoint[64];
	snprintf(endpoint, sizeof(endpoint), "https://%s", etcd->endpoint);
	assert_int_equal(etcd_client_new(endpoint, &o, &c), 0);
	assert_int_equal(etcd_put(c, "/t/tls", "v", 1, 0, NULL), 0);
	EtcdKeyValue kv;
	assert_int_equal(etcd_get(c, "/t/tls", &kv), 0);
	assert_string_equal(kv.value, "v");
	etcd_key_value_done(&kv);
}

static void test_wrong_ca(void **state)
{
	/* etcd's certificate is not from the CA the client trusts */
	EtcdOptions o = etcd_fixture_options(etcd);
	char ca[600];
	snprintf(ca, sizeof(ca), "%s/ca.pem", other_certs);
	o.rpc.ca_file = ca;
	o.request_timeout_usec = RPC_USEC_PER_SEC;
	_cleanup_(etcd_client_freep) EtcdClient *c = NULL;
	assert_int_equal(etcd_client_new(etcd->endpoint, &o, &c), 0);
	EtcdKeyValue kv;
	assert_int_equal(etcd_get(c, "/t/tls", &kv), -ENOTCONN);
	const RpcStatus *st = etcd_last_error();
	assert_int_equal(st->code, RPC_UNAVAILABLE);
	if (!strstr(st->message, "CERTIFICATE_VERIFY_FAILED") &&
	    !strstr(st->message, "certificate verify failed"))
		fail_msg("unclear error for a wrong CA: %s", st->message);
}

static void test_no_client_certificate(void **state)
{
	/* etcd runs with --client-cert-auth: no certificate, no connection */
	EtcdOptions o = etcd_fixture_options(etcd);
	o.rpc.cert_file = o.rpc.key_file = NULL;
	o.request_timeout_usec = RPC_USEC_PER_SEC;
	_cleanup_(etcd_client_freep) EtcdClient *c = NULL;
	assert_int_equal(etcd_client_new(etcd->endpoint, &o, &c), 0);
	EtcdKeyValue kv;
	int r = etcd_get(c, "/t/tls", &kv);
	assert_true(r == -ENOTCONN || r == -ETIMEDOUT);
	assert_true(etcd_last_error()->code != RPC_OK);
}

static void test_auth(void **state)
{
	assert_int_equal(etcd_fixture_enable_auth(etcd, PASSWORD), 0);

	/* without credentials (and a certificate that names no user) */
	{
		EtcdOptions o = podmig_options(NULL, NULL);
		_cleanup_(etcd_client_freep) EtcdClient *c = NULL;
		assert_int_equal(etcd_client_new(etcd->endpoint, &o, &c), 0);
		EtcdKeyValue kv;
		assert_true(etcd_get(c, "/t/tls", &kv) < 0);
		assert_int_not_equal(etcd_last_error()->code, RPC_OK);
		if (!strstr(etcd_last_error()->message, "etcdserver:"))
			fail_msg("unclear error without credentials: %s",
			         etcd_last_error()->message);
	}

	/* a wrong password: refused when the client is made, with etcd's
	 * words */
	{
		EtcdOptions o = podmig_options("root", "wrong");
		EtcdClient *c = NULL;
		assert_int_equal(etcd_client_new(etcd->endpoint, &o, &c), ETCD_AUTH_FAILED);
		assert_null(c);
		const RpcStatus *st = etcd_last_error();
		assert_int_equal(st->code, RPC_INVALID_ARGUMENT);
		if (!strstr(st->message, "authentication failed"))
			fail_msg("unclear error for a wrong password: %s", st->message);
	}

	/* the right one */
	EtcdOptions o = podmig_options("root", PASSWORD);
	_cleanup_(etcd_client_freep) EtcdClient *c = NULL;
	assert_int_equal(etcd_client_new(etcd->endpoint, &o, &c), 0);
	assert_int_equal(c->n_authentications, 1);
	assert_int_equal(etcd_put(c, "/t/auth", "1", 1, 0, NULL), 0);
	EtcdKeyValue kv;
	assert_int_equal(etcd_get(c, "/t/auth", &kv), 0);
	etcd_key_value_done(&kv);

	/* idle past the token's TTL: etcd forgets it, the client gets another */
	sleep_usec(TOKEN_TTL * USEC_PER_SEC + 1500 * USEC_PER_MSEC);
	assert_int_equal(etcd_get(c, "/t/auth", &kv), 0);
	etcd_key_value_done(&kv);
	assert_true(c->n_authentications >= 2);

	/* a watch is refused with an expired token, and then made with a
	 * new one */
	sleep_usec(TOKEN_TTL * USEC_PER_SEC + 1500 * USEC_PER_MSEC);
	unsigned before = c->n_authentications;
	_cleanup_(etcd_watch_freep) EtcdWatch *w = NULL;
	assert_int_equal(etcd_watch_prefix(c, "/t/auth", 0, &w), 0);
	assert_true(c->n_authentications > before);
	int64_t rev;
	assert_int_equal(etcd_put(c, "/t/auth", "2", 1, 0, &rev), 0);
	EtcdEvent *ev;
	int n = etcd_watch_next(w, 5 * RPC_USEC_PER_SEC, &ev);
	assert_int_equal(n, 1);
	assert_int_equal(ev[0].kv.mod_revision, rev);
	etcd_events_free(ev, (size_t)n);
}

int main(void)
{
	etcd_fixture_require();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tls),
		cmocka_unit_test(test_wrong_ca),
		cmocka_unit_test(test_no_client_certificate),
		cmocka_unit_test(test_auth),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
