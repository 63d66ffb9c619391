/* Tests for src/rpc's TLS: server certificate, mutual TLS, wrong CAs,
 * plaintext refused by a TLS server, and connections that never start their
 * handshake closed after its timeout. Certificates come from a throwaway CA
 * made with the openssl CLI (spawned before grpc_init(), never via a shell). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "rpc-testutil.h"

#define TIMEOUT (5 * RPC_USEC_PER_SEC)

static char *dir;

static char *path(const char *name)
{
	static char buf[8][512];
	static unsigned i;
	char *p = buf[i++ % ELEMENTSOF(buf)];
	snprintf(p, sizeof(buf[0]), "%s/%s", dir, name);
	return p;
}

static int setup(void **state)
{
	if (test_tmpdir_new("podmig-test-tls", &dir) < 0)
		return -1;
	if (test_make_certs(dir) < 0) {
		fprintf(stderr, "cannot make certificates with /usr/bin/openssl\n");
		return -1;
	}
	rpc_global_init();
	return 0;
}

static int teardown(void **state)
{
	rpc_global_shutdown();
	test_tmpdir_remove(dir);
	free(dir);
	return 0;
}

/* Echo once against `server`, reached as `host`, with client options `o`. */
static int echo_at(RpcServer *server, const char *host, const RpcOptions *o, RpcStatus *st)
{
	char target[64];
	snprintf(target, sizeof(target), "%s:%d", host, rpc_server_get_port(server));
	_cleanup_(rpc_channel_freep) RpcChannel *ch = NULL;
	int r = rpc_channel_new(target, o, &ch);
	if (r < 0)
		return r;
	Podmig__V1__EchoRequest req = PODMIG__V1__ECHO_REQUEST__INIT;
	req.text = (char *)"secret";
	_cleanup_message_ ProtobufCMessage *rep = NULL;
	return rpc_call_unary(ch, &podmig__v1__testing__descriptor, "Echo", &req.base, TIMEOUT,
	                      &rep, st);
}

static int echo_with(RpcServer *server, const RpcOptions *o, RpcStatus *st)
{
	return echo_at(server, "localhost", o, st);
}

static void test_tls(void **state)
{
	_cleanup_(rpc_server_freep) RpcServer *s = NULL;
	assert_int_equal(test_server_start(&(RpcOptions){ .cert_file = path("server.pem"),
	                                                  .key_file = path("server.key") },
	                                   &s),
	                 0);
	RpcStatus st;
	assert_int_equal(echo_with(s, &(RpcOptions){ .ca_file = path("ca.pem") }, &st), 0);
	/* a name the certificate does not carry */
	assert_true(echo_with(s,
	                      &(RpcOptions){ .ca_file = path("ca.pem"),
	                                     .tls_server_name = "elsewhere.example" },
	                      &st) < 0);
	assert_int_equal(st.code, RPC_UNAVAILABLE);
	/* a server certificate from a CA we do not trust */
	assert_true(echo_with(s, &(RpcOptions){ .ca_file = path("other-ca.pem") }, &st) < 0);
	assert_int_equal(st.code, RPC_UNAVAILABLE);
	/* plaintext to a TLS port */
	assert_true(echo_with(s, &(RpcOptions){ .plaintext = true }, &st) < 0);
	assert_int_equal(st.code, RPC_UNAVAILABLE);
	/* and it still serves */
	assert_int_equal(echo_with(s, &(RpcOptions){ .ca_file = path("ca.pem") }, &st), 0);
}

static void test_mutual_tls(void **state)
{
	_cleanup_(rpc_server_freep) RpcServer *s = NULL;
	assert_int_equal(test_server_start(&(RpcOptions){ .cert_file = path("server.pem"),
	                                                  .key_file = path("server.key"),
	                                                  .ca_file = path("ca.pem") },
	                                   &s),
	                 0);
	RpcStatus st;
	assert_int_equal(echo_with(s,
	                           &(RpcOptions){ .ca_file = path("ca.pem"),
	                                          .cert_file = path("client.pem"),
	                                          .key_file = path("client.key") },
	                           &st),
	                 0);
	/* no client certificate */
	assert_true(echo_with(s, &(RpcOptions){ .ca_file = path("ca.pem") }, &st) < 0);
	assert_int_equal(st.code, RPC_UNAVAILABLE);
	/* a client certificate from another CA */
	assert_true(echo_with(s,
	                      &(RpcOptions){ .ca_file = path("ca.pem"),
	                                     .cert_file = path("other-client.pem"),
	                                     .key_file = path("other-client.key") },
	                      &st) < 0);
	assert_int_equal(st.code, RPC_UNAVAILABLE);
	assert_int_equal(echo_with(s,
	                           &(RpcOptions){ .ca_file = path("ca.pem"),
	                                          .cert_file = path("client.pem"),
	                                          .key_file = path("client.key") },
	                           &st),
	                 0);
}

/* A connection that never starts its TLS handshake is closed once the
 * handshake timeout passes, without a byte from the server, and the server
 * serves on. */
static void test_idle_connections_closed(void **state)
{
	enum { N = 10 };
	_cleanup_(rpc_server_freep) RpcServer *s = NULL;
	int fds[N];
	assert_int_equal(test_server_start(&(RpcOptions){ .cert_file = path("server.pem"),
	                                                  .key_file = path("server.key"),
	                                                  .ca_file = path("ca.pem"),
	                                                  .handshake_timeout_msec = 500 },
	                                   &s),
	                 0);
	for (int i = 0; i < N; i++)
		assert_true((fds[i] = test_connect_idle("127.0.0.1", rpc_server_get_port(s))) >= 0);
	usleep(200 * 1000);
	unsigned early = 0, n = 0;
	for (int i = 0; i < N; i++)
		early += test_peer_closed(fds[i]);
	for (int t = 0; t < 100 && n < N; t++) {
		usleep(50 * 1000);
		n = 0;
		for (int i = 0; i < N; i++)
			n += test_peer_closed(fds[i]);
	}
	for (int i = 0; i < N; i++)
		close(fds[i]);
	assert_int_equal(early, 0);
	assert_int_equal(n, N);
	RpcStatus st;
	assert_int_equal(echo_with(s,
	                           &(RpcOptions){ .ca_file = path("ca.pem"),
	                                          .cert_file = path("client.pem"),
	                                          .key_file = path("client.key") },
	                           &st),
	                 0);
}

/* A target given as an IP address is checked against the certificate's IP
 * SANs (exact match; the CN is not consulted for an IP), which is how agents
 * verify each other: certificates carry the node's address, peers are dialled
 * by address, and no tls_server_name is needed. */
static void test_ip_san(void **state)
{
	RpcStatus st;
	RpcOptions client = { .ca_file = path("ca.pem") };
	_cleanup_(rpc_server_freep) RpcServer *ip = NULL;
	assert_int_equal(test_server_start(&(RpcOptions){ .cert_file = path("ip-server.pem"),
	                                                  .key_file = path("ip-server.key") },
	                                   &ip),
	                 0);
	assert_int_equal(echo_at(ip, "127.0.0.1", &client, &st), 0);
	/* the certificate names no DNS name */
	assert_true(echo_at(ip, "localhost", &client, &st) < 0);
	assert_int_equal(st.code, RPC_UNAVAILABLE);

	/* IP SAN 127.0.0.2 (and CN "127.0.0.1", which must not count) */
	_cleanup_(rpc_server_freep) RpcServer *other = NULL;
	assert_int_equal(test_server_start(&(RpcOptions){ .cert_file = path("other-ip-server.pem"),
	                                                  .key_file = path("other-ip-server.key") },
	                                   &other),
	                 0);
	assert_true(echo_at(other, "127.0.0.1", &client, &st) < 0);
	assert_int_equal(st.code, RPC_UNAVAILABLE);
	/* unless the caller names what to expect */
	assert_int_equal(
	        echo_at(other, "127.0.0.1",
	                &(RpcOptions){ .ca_file = path("ca.pem"), .tls_server_name = "127.0.0.2" },
	                &st),
	        0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tls),
		cmocka_unit_test(test_mutual_tls),
		cmocka_unit_test(test_ip_san),
		cmocka_unit_test(test_idle_connections_closed),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
