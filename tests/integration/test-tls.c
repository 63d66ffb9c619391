/* Mutual TLS across a 2-node local cluster (`local-cluster up`, TLS by
 * default): the
 * CLI with its certificate lists the nodes and moves a counter from node1 to
 * node2 (agent to agent over mutual TLS, the counter continuing); etcd
 * refuses the CLI without a certificate or with one from another CA; an
 * agent refuses calls without a certificate (with a reason), with one from
 * another CA and in plaintext, and nothing changes (the container still runs
 * on node1, no migration record); an agent authorizes each method by the
 * caller's role (agent-authz.c), and the CLI shows why it was refused; a
 * migration needs an order that only an operator or a scheduler may write
 * (migration-order.h), which a node's forged record cannot replace.
 *
 * argv[1]: the podmig CLI. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "agent.pb-c.h"
#include "cluster-fixture.h"
#include "etcd.h"
#include "json-util.h"
#include "macro.h"
#include "migrate-fixture.h"
#include "migration-store.h"
#include "process-util.h"
#include "rpc.h"
#include "strutil.h"

#define API "/v5.0.0/libpod"

static ClusterFixture *cluster;
static const char *podmig;
static char other_dir[] = "/tmp/podmig-test-tls-XXXXXX";
static char other_cert[256], other_key[256];

static int setup(void **state)
{
	setenv("PODMIG_TEST_CLUSTER_ID", "7", 0);
	unsetenv("PODMIG_TEST_CLUSTER_TLS"); /* the default: mutual TLS */
	if (cluster_fixture_up(2, &cluster) < 0)
		return -1;
	static const char *const keys[] = { "PODMIG_ETCD_ENDPOINTS", "PODMIG_TLS_CA",
		                            "PODMIG_TLS_CERT", "PODMIG_TLS_KEY" };
	for (size_t i = 0; i < ELEMENTSOF(keys); i++) {
		const char *v = cluster_fixture_env(cluster, keys[i]);
		if (!v) {
			fprintf(stderr, "local-cluster env gives no %s\n", keys[i]);
			return -1;
		}
		setenv(keys[i], v, 1);
	}
	if (!startswith(getenv("PODMIG_ETCD_ENDPOINTS"), "https://"))
		return -1;

	/* A certificate of the right role, from a CA the cluster does not know. */
	if (!mkdtemp(other_dir))
		return -1;
	char *const certs[] = { (char *)PODMIG_SOURCE_ROOT "/scripts/make-certs", other_dir,
		                (char *)"cli:intruder", NULL };
	int status = -1;
	if (spawn_wait(certs, &(SpawnOptions){ .quiet = true }, &status) < 0 || status != 0)
		return -1;
	snprintf(other_cert, sizeof other_cert, "%s/cli-intruder.pem", other_dir);
	snprintf(other_key, sizeof other_key, "%s/cli-intruder.key", other_dir);
	rpc_global_init();
	return 0;
}

static int teardown(void **state)
{
	rpc_global_shutdown();
	cluster_fixture_down(cluster);
	cluster = NULL;
	char *const rm[] = { (char *)"rm", (char *)"-rf", other_dir, NULL };
	int status;
	spawn_wait(rm, NULL, &status);
	return 0;
}

/* The shared helpers (fixture/migrate-fixture.h), with this test's CLI. */
#define run_podmig(out, ...) migrate_fixture_cli(podmig, out, __VA_ARGS__)

/* Container state on a node: 1 running, 0 exists but not running, -1 absent. */
static int container_state(const char *node, const char *name)
{
	int state = migrate_fixture_container_state(cluster, node, name);
	assert_true(state >= 0 || state == -ENOENT);
	return state == -ENOENT ? -1 : state;
}

static void counter_samples(const char *node, const char *name, CounterSample **v, size_t *n)
{
	assert_int_equal(migrate_fixture_counter_samples(cluster, node, name, v, n), 0);
}

static void start_counter(const char *node, const char *name)
{
	assert_int_equal(migrate_fixture_start_container(cluster, podmig, node, name,
	                                                 "localhost/podmig/counter", NULL),
	                 0);
}

/* The number of migration records for container in `podmig history`. */
static size_t records_of(const char *container)
{
	char *out = NULL;
	assert_int_equal(run_podmig(&out, "history", "--json", NULL), 0);
	json_t *all = json_loads(out, 0, NULL);
	free(out);
	assert_non_null(all);
	size_t k, n = 0;
	json_t *rec;
	json_array_foreach (all, k, rec)
		n += streq_ptr(json_string_value(json_object_get(rec, "container")), container);
	json_decref(all);
	return n;
}

static void test_nodes_with_cli_certificate(void **state)
{
	/* Both agents publish within a few seconds of coming up. */
	size_t n = 0;
	for (int i = 0; i < 50 && n < 2; i++) {
		char *out = NULL;
		assert_int_equal(run_podmig(&out, "nodes", "--json", NULL), 0);
		json_t *nodes = json_loads(out, 0, NULL);
		free(out);
		assert_true(json_is_array(nodes));
		n = json_array_size(nodes);
		json_decref(nodes);
		if (n < 2)
			usleep(200 * 1000);
	}
	assert_int_equal(n, 2);
}

/* Runs `podmig nodes` with PODMIG_TLS_CERT/KEY unset (and the given extra
 * arguments); it must fail, saying something about TLS. */
static void nodes_refused(const char *arg, const char *arg2, const char *arg3, const char *arg4)
{
	_cleanup_free_ char *cert = strdup(getenv("PODMIG_TLS_CERT"));
	_cleanup_free_ char *key = strdup(getenv("PODMIG_TLS_KEY"));
	unsetenv("PODMIG_TLS_CERT");
	unsetenv("PODMIG_TLS_KEY");
	char *out = NULL;
	int status = run_podmig(&out, "nodes", arg, arg2, arg3, arg4, NULL);
	setenv("PODMIG_TLS_CERT", cert, 1);
	setenv("PODMIG_TLS_KEY", key, 1);
	assert_int_not_equal(status, 0);
	assert_non_null(strstr(out, "cannot read the cluster from etcd"));
	assert_non_null(strstr(out, "over TLS"));
	free(out);
}

static void test_etcd_refuses_client_without_valid_certificate(void **state)
{
	/* no certificate at all */
	nodes_refused(NULL, NULL, NULL, NULL);
	/* a certificate from another CA */
	nodes_refused("--tls-cert", other_cert, "--tls-key", other_key);
	/* plaintext to etcd's TLS port */
	char endpoint[128];
	snprintf(endpoint, sizeof endpoint, "http://%s",
	         getenv("PODMIG_ETCD_ENDPOINTS") + strlen("https://"));
	assert_int_not_equal(run_podmig(NULL, "nodes", "--etcd", endpoint, NULL), 0);
}

static void test_counter_moves_over_tls(void **state)
{
	start_counter("node1", "count");
	sleep(1);
	CounterSample *v = NULL;
	size_t n = 0;
	counter_samples("node1", "count", &v, &n);
	assert_true(n > 0);
	uint64_t before = v[n - 1].counter;
	free(v);

	assert_int_equal(run_podmig(NULL, "migrate", "count", "--to", "node2", NULL), 0);
	assert_int_equal(container_state("node2", "count"), 1);
	assert_int_equal(container_state("node1", "count"), -1);
	sleep(1);
	counter_samples("node2", "count", &v, &n);
	assert_true(n > 0);
	assert_true(v[n - 1].counter > before);
	for (size_t i = 1; i < n; i++)
		assert_int_equal(v[i].counter, v[i - 1].counter + 1);
	free(v);
	assert_int_equal(records_of("count"), 1);
}

static EtcdClient *etcd_connect(void);

/* Issues, as the operator, the order to migrate `container` from `source`
 * to `target` (manual, mode auto unless the caller changes the request);
 * its id in ret (MIGRATION_ID_MAX). */
static void order_issue(const char *container, const char *source, const char *target, char *ret)
{
	_cleanup_(etcd_client_freep) EtcdClient *etcd = etcd_connect();
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	MigrationOrder o;
	assert_int_equal(migration_order_init(
	                         &o, container, source, target, MIGRATION_REASON_MANUAL, NULL,
	                         false, MODE_REQUEST_AUTO, "test-tls", (uint64_t)ts.tv_sec * 1000),
	                 0);
	assert_int_equal(migration_order_issue(etcd, "/podmig/", &o, MIGRATION_ORDER_TTL_SEC), 0);
	snprintf(ret, MIGRATION_ID_MAX, "%s", o.id);
}

/* Calls node1's agent directly with client options `o`: Migrate `container`
 * to node2 (streaming), then Info (unary), each on a channel of its own.
 * Both must fail with `code`: UNAVAILABLE when the connection is refused,
 * PERMISSION_DENIED (with a reason) when the call is. */
static void agent_refuses(const RpcOptions *o, const char *container, RpcCode code)
{
	const char *target = cluster_fixture_env(cluster, "PODMIG_NODE1_AGENT");
	assert_non_null(target);
	RpcStatus st = {};

	_cleanup_(rpc_channel_freep) RpcChannel *ch = NULL;
	_cleanup_(rpc_stream_freep) RpcStream *s = NULL;
	assert_int_equal(rpc_channel_new(target, o, &ch), 0);
	char order[MIGRATION_ID_MAX];
	order_issue(container, "node1", "node2", order);
	Podmig__V1__MigrateRequest req = PODMIG__V1__MIGRATE_REQUEST__INIT;
	req.container = (char *)container;
	req.target_node = (char *)"node2";
	req.reason = (char *)"manual";
	req.order_id = order;
	assert_int_equal(rpc_stream_open(ch, &podmig__v1__agent__descriptor, "Migrate", &s), 0);
	if (rpc_stream_send(s, &req.base) >= 0 && rpc_stream_close_send(s) >= 0)
		for (;;) {
			_cleanup_message_ ProtobufCMessage *m = NULL;
			if (rpc_stream_recv(s, 60 * RPC_USEC_PER_SEC, &m) <= 0)
				break;
		}
	assert_true(rpc_stream_finish(s, &st) < 0);
	printf("Migrate: %s: %s\n", rpc_code_to_string(st.code), st.message);
	assert_int_equal(st.code, code);
	if (code == RPC_PERMISSION_DENIED)
		assert_non_null(strstr(st.message, "client certificate"));

	_cleanup_(rpc_channel_freep) RpcChannel *ch2 = NULL;
	assert_int_equal(rpc_channel_new(target, o, &ch2), 0);
	Podmig__V1__InfoRequest info = PODMIG__V1__INFO_REQUEST__INIT;
	_cleanup_message_ ProtobufCMessage *reply = NULL;
	assert_true(rpc_call_unary(ch2, &podmig__v1__agent__descriptor, "Info", &info.base,
	                           10 * RPC_USEC_PER_SEC, &reply, &st) < 0);
	printf("Info: %s: %s\n", rpc_code_to_string(st.code), st.message);
	assert_int_equal(st.code, code);
}

static void test_agent_refuses_client_without_valid_certificate(void **state)
{
	start_counter("node1", "guarded");
	const char *ca = getenv("PODMIG_TLS_CA");
	RpcStatus st;

	/* Positive control: with the CLI's certificate, Info answers. */
	_cleanup_(rpc_channel_freep) RpcChannel *ch = NULL;
	RpcOptions good = { .ca_file = ca,
		            .cert_file = getenv("PODMIG_TLS_CERT"),
		            .key_file = getenv("PODMIG_TLS_KEY") };
	assert_int_equal(
	        rpc_channel_new(cluster_fixture_env(cluster, "PODMIG_NODE1_AGENT"), &good, &ch), 0);
	Podmig__V1__InfoRequest info = PODMIG__V1__INFO_REQUEST__INIT;
	_cleanup_message_ ProtobufCMessage *reply = NULL;
	assert_int_equal(rpc_call_unary(ch, &podmig__v1__agent__descriptor, "Info", &info.base,
	                                10 * RPC_USEC_PER_SEC, &reply, &st),
	                 0);

	/* No client certificate (the server is verified all the same): the
	 * call is refused, with a reason. */
	agent_refuses(&(RpcOptions){ .ca_file = ca }, "guarded", RPC_PERMISSION_DENIED);
	/* A client certificate from another CA: the handshake fails. */
	agent_refuses(
	        &(RpcOptions){ .ca_file = ca, .cert_file = other_cert, .key_file = other_key },
	        "guarded", RPC_UNAVAILABLE);
	/* Plaintext. */
	agent_refuses(&(RpcOptions){ .plaintext = true }, "guarded", RPC_UNAVAILABLE);

	/* podmig itself with the foreign certificate gets nowhere either. */
	char *out = NULL;
	assert_int_not_equal(run_podmig(&out, "migrate", "guarded", "--to", "node2", "--tls-cert",
	                                other_cert, "--tls-key", other_key, NULL),
	                     0);
	assert_non_null(strstr(out, "over TLS"));
	free(out);

	/* Nothing changed. */
	assert_int_equal(container_state("node1", "guarded"), 1);
	assert_int_equal(container_state("node2", "guarded"), -1);
	assert_int_equal(records_of("guarded"), 0);
}

/* The certificate files of `role-name` in the cluster's certificate directory. */
static void cluster_cert(const char *role_name, char *cert, char *key, size_t size)
{
	const char *dir = cluster_fixture_env(cluster, "PODMIG_CLUSTER_DIR");
	assert_non_null(dir);
	snprintf(cert, size, "%s/certs/%s.pem", dir, role_name);
	snprintf(key, size, "%s/certs/%s.key", dir, role_name);
	assert_int_equal(access(cert, R_OK), 0);
}

/* Opens `method` on the agent at `target` with options `o`, sends `m`, and
 * returns the status the call ends with. */
static RpcStatus call_stream(const char *target, const RpcOptions *o, const char *method,
                             const ProtobufCMessage *m)
{
	_cleanup_(rpc_channel_freep) RpcChannel *ch = NULL;
	_cleanup_(rpc_stream_freep) RpcStream *s = NULL;
	RpcStatus st = {};
	assert_int_equal(rpc_channel_new(target, o, &ch), 0);
	assert_int_equal(rpc_stream_open(ch, &podmig__v1__agent__descriptor, method, &s), 0);
	if (rpc_stream_send(s, m) >= 0 && rpc_stream_close_send(s) >= 0)
		for (;;) {
			_cleanup_message_ ProtobufCMessage *reply = NULL;
			if (rpc_stream_recv(s, 60 * RPC_USEC_PER_SEC, &reply) <= 0)
				break;
		}
	assert_true(rpc_stream_finish(s, &st) < 0);
	printf("%s: %s: %s\n", method, rpc_code_to_string(st.code), st.message);
	return st;
}

/* Authorization by role: a certificate of the cluster CA is not enough.
 * node2's agent may not start a migration on node1, neither directly nor
 * through the CLI, and the CLI prints the agent's reason; Receive and
 * FetchImage come only from an agent (and, once a record names the
 * migration, only from its other party); an operator may migrate. */
static void test_agent_authorizes_by_role(void **state)
{
	start_counter("node1", "roles");
	const char *ca = getenv("PODMIG_TLS_CA");
	const char *node1 = cluster_fixture_env(cluster, "PODMIG_NODE1_AGENT");
	const char *node2 = cluster_fixture_env(cluster, "PODMIG_NODE2_AGENT");
	char agent2_cert[512], agent2_key[512];
	cluster_cert("agent-node2", agent2_cert, agent2_key, sizeof agent2_cert);
	RpcOptions as_node2 = { .ca_file = ca, .cert_file = agent2_cert, .key_file = agent2_key };
	RpcOptions as_operator = { .ca_file = ca,
		                   .cert_file = getenv("PODMIG_TLS_CERT"),
		                   .key_file = getenv("PODMIG_TLS_KEY") };

	/* Migrate with node2's agent certificate, even with an order */
	char order[MIGRATION_ID_MAX];
	order_issue("roles", "node1", "node2", order);
	Podmig__V1__MigrateRequest mreq = PODMIG__V1__MIGRATE_REQUEST__INIT;
	mreq.container = (char *)"roles";
	mreq.target_node = (char *)"node2";
	mreq.reason = (char *)"manual";
	mreq.order_id = order;
	RpcStatus st = call_stream(node1, &as_node2, "Migrate", &mreq.base);
	assert_int_equal(st.code, RPC_PERMISSION_DENIED);
	assert_non_null(strstr(st.message, "only an operator or a scheduler"));

	/* the operator without an order, and with one for another target */
	mreq.order_id = (char *)"";
	st = call_stream(node1, &as_operator, "Migrate", &mreq.base);
	assert_int_equal(st.code, RPC_FAILED_PRECONDITION);
	assert_non_null(strstr(st.message, "needs a migration order"));
	mreq.order_id = order;
	mreq.target_node = (char *)"node3";
	st = call_stream(node1, &as_operator, "Migrate", &mreq.base);
	assert_int_equal(st.code, RPC_PERMISSION_DENIED);
	assert_non_null(strstr(st.message, "it names target node node2, the request node3"));
	mreq.target_node = (char *)"node2";

	/* the CLI with that certificate cannot even write the order (etcd
	 * user node2)... */
	char *out = NULL;
	assert_int_not_equal(run_podmig(&out, "migrate", "roles", "--to", "node2", "--tls-cert",
	                                agent2_cert, "--tls-key", agent2_key, NULL),
	                     0);
	printf("podmig migrate as node2: %s\n", out);
	assert_non_null(strstr(out, "cannot write migration order"));
	assert_non_null(strstr(out, "permission denied"));
	free(out);
	/* ...and when etcd lets it (as root, by password), the agent shows the
	 * reason */
	char password[512];
	snprintf(password, sizeof password, "%s/etcd/root-password",
	         cluster_fixture_env(cluster, "PODMIG_CLUSTER_DIR"));
	assert_int_not_equal(run_podmig(&out, "migrate", "roles", "--to", "node2", "--tls-cert",
	                                agent2_cert, "--tls-key", agent2_key, "--etcd-user", "root",
	                                "--etcd-password-file", password, NULL),
	                     0);
	printf("podmig migrate as node2, etcd user root: %s\n", out);
	assert_non_null(strstr(out, "only an operator or a scheduler"));
	free(out);

	/* Receive without a certificate, and from the operator: refused before
	 * anything is read from etcd or the stream */
	Podmig__V1__TransferHeader h = PODMIG__V1__TRANSFER_HEADER__INIT;
	h.migration_id = (char *)"m-1-00000000";
	h.container = (char *)"roles";
	h.source_node = (char *)"node1";
	h.image = (char *)"localhost/podmig/counter:latest";
	h.source_address = (char *)node1;
	h.mode = (char *)"stop-and-copy";
	h.protocol = migrate_fixture_node_protocol(podmig, "node1");
	Podmig__V1__TransferMessage tm = PODMIG__V1__TRANSFER_MESSAGE__INIT;
	tm.kind_case = PODMIG__V1__TRANSFER_MESSAGE__KIND_HEADER;
	tm.header = &h;
	st = call_stream(node2, &(RpcOptions){ .ca_file = ca }, "Receive", &tm.base);
	assert_int_equal(st.code, RPC_PERMISSION_DENIED);
	assert_non_null(strstr(st.message, "client certificate"));
	st = call_stream(node2, &as_operator, "Receive", &tm.base);
	assert_int_equal(st.code, RPC_PERMISSION_DENIED);
	assert_non_null(strstr(st.message, "only the agent"));

	/* FetchImage from the operator */
	Podmig__V1__FetchImageRequest freq = PODMIG__V1__FETCH_IMAGE_REQUEST__INIT;
	freq.migration_id = (char *)"m-1-00000000";
	freq.image = (char *)"localhost/podmig/counter:latest";
	st = call_stream(node1, &as_operator, "FetchImage", &freq.base);
	assert_int_equal(st.code, RPC_PERMISSION_DENIED);

	/* Nothing changed... */
	assert_int_equal(container_state("node1", "roles"), 1);
	assert_int_equal(container_state("node2", "roles"), -1);
	assert_int_equal(records_of("roles"), 0);

	/* ...and the operator may migrate (the agents' calls to each other
	 * pass their checks). */
	out = NULL;
	assert_int_equal(run_podmig(&out, "migrate", "roles", "--to", "node2", NULL), 0);
	free(out);
	assert_int_equal(container_state("node2", "roles"), 1);
	assert_int_equal(container_state("node1", "roles"), -1);
}

/* ---- trusted addresses ---- */

/* A TCP listener on the host's bridge address that no part of the cluster
 * may dial: it stands for a fake agent. Returns its fd; `addr` gets
 * "IP:PORT". */
static int fake_agent_listen(char *addr, size_t size)
{
	const char *etcd = getenv("PODMIG_ETCD_ENDPOINTS");
	const char *host = startswith(etcd, "https://");
	assert_non_null(host);
	char ip[INET_ADDRSTRLEN];
	snprintf(ip, sizeof ip, "%.*s", (int)MIN(strcspn(host, ":"), sizeof ip - 1), host);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	struct sockaddr_in sa = { .sin_family = AF_INET };
	assert_int_equal(inet_pton(AF_INET, ip, &sa.sin_addr), 1);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
	assert_int_equal(listen(fd, 8), 0);
	socklen_t len = sizeof sa;
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	snprintf(addr, size, "%s:%u", ip, ntohs(sa.sin_port));
	return fd;
}

/* Whether anybody connected to the fake agent. */
static bool fake_agent_contacted(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	return poll(&p, 1, 500) > 0;
}

/* etcd with the operator's certificate (etcd user admin, who may write
 * everything: what a node may write is tested with the node's own). */
static EtcdClient *etcd_connect(void)
{
	EtcdOptions eo = { .rpc = { .ca_file = getenv("PODMIG_TLS_CA"),
		                    .cert_file = getenv("PODMIG_TLS_CERT"),
		                    .key_file = getenv("PODMIG_TLS_KEY") },
		           .request_timeout_usec = 5 * RPC_USEC_PER_SEC };
	EtcdClient *c = NULL;
	assert_int_equal(etcd_client_new(getenv("PODMIG_ETCD_ENDPOINTS"), &eo, &c), 0);
	return c;
}

/* Writes a record in planned of `container` from node1 to node2, of `image`
 * with `image_id` (NULL: none), with the operator's order for it; its key in
 * *ret_key. */
static void record_planned(EtcdClient *etcd, const char *container, const char *image,
                           const char *image_id, MigrationRecord *rec, char **ret_key)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	assert_int_equal(migration_record_init(rec, container, "node1", "node2",
	                                       MIGRATION_REASON_MANUAL,
	                                       (uint64_t)ts.tv_sec * 1000 + 1),
	                 0);
	rec->image = strdup(image);
	if (image_id)
		assert_int_equal(migration_image_id_parse(image_id, rec->image_id), 0);
	/* as for a migration an operator ordered */
	order_issue(container, "node1", "node2", rec->id);
	_cleanup_free_ char *json = NULL;
	assert_int_equal(migration_record_to_json(rec, &json), 0);
	assert_true(asprintf(ret_key, "/podmig/migrations/%s", rec->id) > 0);
	assert_int_equal(etcd_put(etcd, *ret_key, json, strlen(json), 0, NULL), 0);
}

/* The first message of a Receive for `rec` (h and tm point into rec). */
static void transfer_header(MigrationRecord *rec, Podmig__V1__TransferHeader *h,
                            Podmig__V1__TransferMessage *tm)
{
	*h = (Podmig__V1__TransferHeader)PODMIG__V1__TRANSFER_HEADER__INIT;
	h->migration_id = rec->id;
	h->container = rec->container;
	h->source_node = rec->source;
	h->image = rec->image;
	h->image_id = rec->image_id;
	h->source_address = (char *)"";
	h->mode = (char *)"stop-and-copy";
	h->protocol = migrate_fixture_node_protocol(podmig, rec->source);
	*tm = (Podmig__V1__TransferMessage)PODMIG__V1__TRANSFER_MESSAGE__INIT;
	tm->kind_case = PODMIG__V1__TRANSFER_MESSAGE__KIND_HEADER;
	tm->header = h;
}

/* A target fetches a missing image from the source node's agent at the
 * address of its info in etcd, never from the address a transfer header
 * names; and the header's image must be the record's. */
static void test_fetch_image_only_from_trusted_address(void **state)
{
	_cleanup_(etcd_client_freep) EtcdClient *etcd = etcd_connect();
	char fake[128];
	int fake_fd = fake_agent_listen(fake, sizeof fake);
	const char *ca = getenv("PODMIG_TLS_CA");
	char agent1_cert[512], agent1_key[512];
	cluster_cert("agent-node1", agent1_cert, agent1_key, sizeof agent1_cert);
	RpcOptions as_node1 = { .ca_file = ca, .cert_file = agent1_cert, .key_file = agent1_key };

	/* a record in planned from node1 to node2, of an image node2 lacks */
	MigrationRecord rec = {};
	_cleanup_free_ char *key = NULL;
	const char *image_id = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
	record_planned(etcd, "fetched", "localhost/podmig/absent:latest", image_id, &rec, &key);

	Podmig__V1__TransferHeader h;
	Podmig__V1__TransferMessage tm;
	transfer_header(&rec, &h, &tm);
	h.source_address = fake;
	const char *node2 = cluster_fixture_env(cluster, "PODMIG_NODE2_AGENT");

	/* node2 asks node1's real agent, which has no such image either */
	RpcStatus st = call_stream(node2, &as_node1, "Receive", &tm.base);
	assert_int_equal(st.code, RPC_FAILED_PRECONDITION);
	assert_non_null(strstr(st.message, "fetching image"));
	assert_false(fake_agent_contacted(fake_fd));

	/* an image ID other than the record's is refused before anything */
	h.image_id = (char *)"1123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
	st = call_stream(node2, &as_node1, "Receive", &tm.base);
	assert_int_equal(st.code, RPC_FAILED_PRECONDITION);
	assert_non_null(strstr(st.message, "does not match"));
	h.image_id = (char *)image_id;

	/* an image other than the record's is refused before anything */
	h.image = (char *)"localhost/podmig/other:latest";
	st = call_stream(node2, &as_node1, "Receive", &tm.base);
	assert_int_equal(st.code, RPC_FAILED_PRECONDITION);
	assert_non_null(strstr(st.message, "does not match"));
	assert_false(fake_agent_contacted(fake_fd));

	assert_int_equal(etcd_delete(etcd, key, NULL), 0);
	migration_record_clear(&rec);
	close(fake_fd);
}

/* The info of node `node` in etcd, with its lease. */
static void node_info_get(EtcdClient *etcd, const char *node, EtcdKeyValue *ret)
{
	char key[128];
	snprintf(key, sizeof key, "/podmig/nodes/%s/info", node);
	assert_int_equal(etcd_get(etcd, key, ret), 0);
	assert_true(ret->lease != 0);
}

/* Writes a node's info naming `address`, without a lease. */
static void node_info_forge(EtcdClient *etcd, const EtcdKeyValue *real, const char *address)
{
	_cleanup_json_ json_t *doc = json_loadb(real->value, real->value_size, 0, NULL);
	assert_non_null(doc);
	json_object_set_new(doc, "grpc_address", json_string(address));
	_cleanup_free_ char *text = json_dumps(doc, JSON_COMPACT);
	assert_int_equal(etcd_put(etcd, real->key, text, strlen(text), 0, NULL), 0);
}

/* ---- a compromised source serving images ---- */

/* What the fake source's FetchImage streams. */
static const char *fake_image_path;
static int fake_image_calls;

static int fake_fetch_image(RpcServerCall *call, void *userdata)
{
	_cleanup_message_ ProtobufCMessage *req = NULL;
	if (rpc_server_call_recv(call, &req) <= 0)
		return -EBADMSG;
	fake_image_calls++;
	FILE *f = fopen(fake_image_path, "re");
	if (!f)
		return -errno;
	static uint8_t buf[1 << 20];
	uint64_t offset = 0;
	int r = 0;
	for (size_t n; r >= 0 && (n = fread(buf, 1, sizeof buf, f)) > 0; offset += n) {
		Podmig__V1__ImageChunk c = PODMIG__V1__IMAGE_CHUNK__INIT;
		c.data.data = buf;
		c.data.len = n;
		c.offset = offset;
		r = rpc_server_call_send(call, &c.base);
	}
	fclose(f);
	return r;
}

/* Runs a shell command line (the test's own, with no outside data). */
static void sh(const char *fmt, ...) _printf_(1, 2);
static void sh(const char *fmt, ...)
{
	char cmd[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof cmd, fmt, ap);
	va_end(ap);
	char *const argv[] = { (char *)"sh", (char *)"-ec", cmd, NULL };
	int status = -1;
	assert_int_equal(spawn_wait(argv, NULL, &status), 0);
	if (status != 0)
		fail_msg("'%s' exited %d", cmd, status);
}

/* The ID of image `name` on `node` (hex), or NULL if it has none. */
static char *node_image_id(const char *node, const char *name)
{
	char path[256];
	snprintf(path, sizeof path, API "/images/%s/json", name);
	long status = 0;
	char *body = NULL;
	assert_int_equal(cluster_fixture_podman(cluster, node,
	                                        &(PodmanRequest){ .method = "GET", .path = path },
	                                        &status, &body, NULL),
	                 0);
	_cleanup_json_ json_t *doc = status == 200 ? json_loads(body, 0, NULL) : NULL;
	free(body);
	const char *id = json_string_value(json_object_get(doc, "Id"));
	return id ? strdup(startswith(id, "sha256:") ?: id) : NULL;
}

/* Asks node2, as node1's agent, to receive a migration of an image it
 * lacks, whose record names `image_id`; node2 fetches it from the fake
 * source. Returns the status Receive ends with. */
static RpcStatus receive_fetching(EtcdClient *etcd, const char *image_id)
{
	const char *ca = getenv("PODMIG_TLS_CA");
	char cert[512], key[512];
	cluster_cert("agent-node1", cert, key, sizeof cert);
	RpcOptions as_node1 = { .ca_file = ca, .cert_file = cert, .key_file = key };
	MigrationRecord rec = {};
	_cleanup_free_ char *k = NULL;
	record_planned(etcd, "poisoned", "localhost/podmig/absent:latest", image_id, &rec, &k);

	Podmig__V1__TransferHeader h;
	Podmig__V1__TransferMessage tm;
	transfer_header(&rec, &h, &tm);
	RpcStatus st = call_stream(cluster_fixture_env(cluster, "PODMIG_NODE2_AGENT"), &as_node1,
	                           "Receive", &tm.base);
	assert_int_equal(etcd_delete(etcd, k, NULL), 0);
	migration_record_clear(&rec);
	return st;
}

/* A compromised node1, the legitimate source of a migration, serves the
 * image the target lacks: an archive that also tags another image is
 * refused before Podman loads it (Podman applies every tag while loading:
 * it used to retag node2's localhost/podmig/counter), and so is one whose
 * image ID is not the record's; node2's images are as they were. */
static void test_compromised_source_cannot_retag_images(void **state)
{
	_cleanup_(etcd_client_freep) EtcdClient *etcd = etcd_connect();
	const char *dir = cluster_fixture_env(cluster, "PODMIG_CLUSTER_DIR");
	char work[] = "/tmp/podmig-test-poison-XXXXXX";
	assert_non_null(mkdtemp(work));

	/* node1's certificate, for the address the fake source listens on */
	char fake[128];
	int probe = fake_agent_listen(fake, sizeof fake);
	close(probe);
	char host[64];
	snprintf(host, sizeof host, "%.*s", (int)strcspn(fake, ":"), fake);
	sh("cp '%s/certs/ca.pem' '%s/certs/ca.key' '%s/' && '%s/scripts/make-certs' '%s' "
	   "agent:node1:%s >/dev/null",
	   dir, dir, work, PODMIG_SOURCE_ROOT, work, host);
	char cert[512], key[512];
	snprintf(cert, sizeof cert, "%s/agent-node1.pem", work);
	snprintf(key, sizeof key, "%s/agent-node1.key", work);
	RpcOptions so = { .ca_file = getenv("PODMIG_TLS_CA"),
		          .cert_file = cert,
		          .key_file = key,
		          .client_certificate_optional = true };
	char listen[128];
	snprintf(listen, sizeof listen, "%s:0", host);
	_cleanup_(rpc_server_freep) RpcServer *server = NULL;
	static const RpcHandler handlers[] = { NULL, NULL, NULL, NULL, fake_fetch_image };
	assert_int_equal(rpc_server_new(listen, &so, &server), 0);
	assert_int_equal(rpc_server_add_service(server, &podmig__v1__agent__descriptor, handlers,
	                                        ELEMENTSOF(handlers), NULL),
	                 0);
	assert_int_equal(rpc_server_start(server), 0);
	snprintf(fake, sizeof fake, "%s:%d", host, rpc_server_get_port(server));

	/* the archives: node2's busybox as `podman save` writes it, retagged */
	sh("podman() { '%s/scripts/local-cluster' exec node2 podman \"$@\"; }; "
	   "podman save -o '%s/busybox.tar' localhost/podmig/busybox:latest && "
	   "mkdir '%s/x' && tar -C '%s/x' -xf '%s/busybox.tar'",
	   PODMIG_SOURCE_ROOT, work, work, work, work);
	_cleanup_free_ char *busybox_id = node_image_id("node2", "localhost/podmig/busybox:latest");
	_cleanup_free_ char *counter_before =
	        node_image_id("node2", "localhost/podmig/counter:latest");
	assert_non_null(busybox_id);
	assert_non_null(counter_before);
	char retagged[512], renamed[512];
	snprintf(retagged, sizeof retagged, "%s/retagged.tar", work);
	snprintf(renamed, sizeof renamed, "%s/renamed.tar", work);
	sh("cd '%s/x' && sed -i "
	   "'s|\"RepoTags\":\\[[^]]*\\]|\"RepoTags\":[\"localhost/podmig/absent:"
	   "latest\",\"localhost/podmig/counter:latest\"]|' manifest.json && rm -f repositories && "
	   "tar -cf '%s' . && "
	   "sed -i 's|\"RepoTags\":\\[[^]]*\\]|\"RepoTags\":[\"localhost/podmig/absent:latest\"]|' "
	   "manifest.json && tar -cf '%s' .",
	   work, retagged, renamed);

	/* node1 compromised: its agent stopped, its info and status (with the
	 * fake source's address) written under a lease of its own */
	_cleanup_(etcd_key_value_done) EtcdKeyValue info = {}, status = {};
	node_info_get(etcd, "node1", &info);
	assert_int_equal(etcd_get(etcd, "/podmig/nodes/node1/status", &status), 0);
	pid_t agent1;
	assert_int_equal(migrate_fixture_pid(cluster, "node1", "agent", &agent1), 0);
	assert_int_equal(kill(agent1, SIGSTOP), 0);
	for (int i = 0; i < 100; i++) {
		EtcdKeyValue kv;
		if (etcd_get(etcd, info.key, &kv) == ETCD_NOT_FOUND)
			break;
		etcd_key_value_done(&kv);
		usleep(200 * 1000);
	}
	_cleanup_(etcd_lease_freep) EtcdLease *lease = NULL;
	assert_int_equal(etcd_lease_grant(etcd, 60, NULL, NULL, &lease), 0);
	_cleanup_json_ json_t *doc = json_loadb(info.value, info.value_size, 0, NULL);
	json_object_set_new(doc, "grpc_address", json_string(fake));
	_cleanup_free_ char *text = json_dumps(doc, JSON_COMPACT);
	int64_t id = etcd_lease_get_id(lease);
	assert_int_equal(etcd_put(etcd, info.key, text, strlen(text), id, NULL), 0);
	assert_int_equal(etcd_put(etcd, status.key, status.value, status.value_size, id, NULL), 0);

	/* an archive that also tags counter */
	fake_image_path = retagged;
	RpcStatus st = receive_fetching(etcd, busybox_id);
	assert_int_equal(st.code, RPC_FAILED_PRECONDITION);
	assert_non_null(strstr(st.message, "and more"));
	assert_int_equal(fake_image_calls, 1);
	/* the right name, but not the record's image ID */
	fake_image_path = renamed;
	st = receive_fetching(etcd, counter_before);
	assert_int_equal(st.code, RPC_FAILED_PRECONDITION);
	assert_non_null(strstr(st.message, "as the migration record says"));
	assert_int_equal(fake_image_calls, 2);

	/* node2's images are as they were */
	_cleanup_free_ char *counter_after =
	        node_image_id("node2", "localhost/podmig/counter:latest");
	assert_string_equal(counter_after, counter_before);
	_cleanup_free_ char *absent = node_image_id("node2", "localhost/podmig/absent:latest");
	assert_null(absent);

	/* node1 back: its agent publishes under its own lease again */
	assert_int_equal(etcd_lease_revoke(lease), 0);
	assert_int_equal(kill(agent1, SIGCONT), 0);
	assert_int_equal(migrate_fixture_wait_nodes(podmig, 2, 30000), 0);
	sh("rm -rf '%s'", work);
}

/* A checkpoint whose rootfs-diff.tar writes under a symbolic link of the
 * image (bin/sh -> busybox in the test images; an absolute one would name a
 * host path, as Podman extracts on the host following the image's links):
 * node2 mounts the image and refuses the archive after it arrived. */
static void test_rootfs_diff_under_image_link_refused(void **state)
{
	_cleanup_(etcd_client_freep) EtcdClient *etcd = etcd_connect();
	char work[] = "/tmp/podmig-test-diff-XXXXXX";
	assert_non_null(mkdtemp(work));
	sh("cd '%s' && echo evil >evil && tar --transform 's|^evil$|bin/sh/evil|' "
	   "-cf rootfs-diff.tar evil && tar -cf checkpoint.tar rootfs-diff.tar && "
	   "sha256sum checkpoint.tar | cut -c1-64 >sha256",
	   work);
	char path[512];
	snprintf(path, sizeof path, "%s/checkpoint.tar", work);
	FILE *f = fopen(path, "re");
	assert_non_null(f);
	static uint8_t archive[1 << 16];
	size_t size = fread(archive, 1, sizeof archive, f);
	fclose(f);
	snprintf(path, sizeof path, "%s/sha256", work);
	f = fopen(path, "re");
	assert_non_null(f);
	uint8_t sha[32];
	for (size_t i = 0; i < sizeof sha; i++)
		assert_int_equal(fscanf(f, "%2hhx", &sha[i]), 1);
	fclose(f);

	/* a record in planned from node1 to node2 of an image node2 has */
	MigrationRecord rec = {};
	_cleanup_free_ char *key = NULL;
	record_planned(etcd, "linked", "localhost/podmig/counter:latest", NULL, &rec, &key);

	char cert[512], ckey[512];
	cluster_cert("agent-node1", cert, ckey, sizeof cert);
	RpcOptions as_node1 = { .ca_file = getenv("PODMIG_TLS_CA"),
		                .cert_file = cert,
		                .key_file = ckey };
	_cleanup_(rpc_channel_freep) RpcChannel *ch = NULL;
	_cleanup_(rpc_stream_freep) RpcStream *st = NULL;
	assert_int_equal(
	        rpc_channel_new(cluster_fixture_env(cluster, "PODMIG_NODE2_AGENT"), &as_node1, &ch),
	        0);
	assert_int_equal(rpc_stream_open(ch, &podmig__v1__agent__descriptor, "Receive", &st), 0);
	Podmig__V1__TransferHeader h;
	Podmig__V1__TransferMessage tm;
	transfer_header(&rec, &h, &tm);
	assert_int_equal(rpc_stream_send(st, &tm.base), 0);
	_cleanup_message_ ProtobufCMessage *ready = NULL;
	assert_int_equal(rpc_stream_recv(st, 60 * RPC_USEC_PER_SEC, &ready), 1);
	assert_int_equal(((Podmig__V1__TransferReply *)ready)->kind_case,
	                 PODMIG__V1__TRANSFER_REPLY__KIND_READY);

	Podmig__V1__TransferMessage data = PODMIG__V1__TRANSFER_MESSAGE__INIT;
	data.kind_case = PODMIG__V1__TRANSFER_MESSAGE__KIND_DATA;
	data.data.data = archive;
	data.data.len = size;
	assert_int_equal(rpc_stream_send(st, &data.base), 0);
	Podmig__V1__TransferTrailer trailer = PODMIG__V1__TRANSFER_TRAILER__INIT;
	trailer.size = size;
	trailer.sha256.data = sha;
	trailer.sha256.len = sizeof sha;
	Podmig__V1__TransferMessage end = PODMIG__V1__TRANSFER_MESSAGE__INIT;
	end.kind_case = PODMIG__V1__TRANSFER_MESSAGE__KIND_TRAILER;
	end.offset = size;
	end.trailer = &trailer;
	assert_int_equal(rpc_stream_send(st, &end.base), 0);
	assert_int_equal(rpc_stream_close_send(st), 0);
	for (;;) {
		_cleanup_message_ ProtobufCMessage *reply = NULL;
		if (rpc_stream_recv(st, 60 * RPC_USEC_PER_SEC, &reply) <= 0)
			break;
	}
	RpcStatus status = {};
	assert_true(rpc_stream_finish(st, &status) < 0);
	printf("Receive: %s: %s\n", rpc_code_to_string(status.code), status.message);
	assert_int_equal(status.code, RPC_INVALID_ARGUMENT);
	assert_non_null(strstr(status.message, "'bin/sh/evil' lies under a symbolic link of the "
	                                       "container's image"));
	assert_int_equal(container_state("node2", "linked"), -1);

	assert_int_equal(etcd_delete(etcd, key, NULL), 0);
	migration_record_clear(&rec);
	sh("rm -rf '%s'", work);
}

/* A node info written without the agent's lease (it would outlive the
 * agent, and anyone may write one) redirects no migration: neither the
 * target's address the source dials nor the source's the CLI dials. */
static void test_leaseless_info_redirects_nothing(void **state)
{
	_cleanup_(etcd_client_freep) EtcdClient *etcd = etcd_connect();
	char fake[128];
	int fake_fd = fake_agent_listen(fake, sizeof fake);
	start_counter("node1", "victim");
	_cleanup_(etcd_key_value_done) EtcdKeyValue info1 = {}, info2 = {};
	node_info_get(etcd, "node1", &info1);
	node_info_get(etcd, "node2", &info2);

	/* the target's info forged: the source refuses to dial it */
	node_info_forge(etcd, &info2, fake);
	char *out = NULL;
	assert_int_not_equal(run_podmig(&out, "migrate", "victim", "--to", "node2", NULL), 0);
	printf("podmig migrate, node2's info forged: %s\n", out);
	assert_non_null(strstr(out, "lease"));
	free(out);
	assert_false(fake_agent_contacted(fake_fd));
	assert_int_equal(
	        etcd_put(etcd, info2.key, info2.value, info2.value_size, info2.lease, NULL), 0);

	/* the source's info forged: the CLI does not dial it */
	node_info_forge(etcd, &info1, fake);
	out = NULL;
	assert_int_not_equal(run_podmig(&out, "migrate", "victim", "--to", "node2", NULL), 0);
	printf("podmig migrate, node1's info forged: %s\n", out);
	free(out);
	assert_false(fake_agent_contacted(fake_fd));
	assert_int_equal(
	        etcd_put(etcd, info1.key, info1.value, info1.value_size, info1.lease, NULL), 0);

	assert_int_equal(container_state("node1", "victim"), 1);
	assert_int_equal(container_state("node2", "victim"), -1);
	close(fake_fd);
}

/* A record is a claim anyone with etcd access may write: a forged `done`
 * record, with its container lock, naming node1 as the source of its
 * running counter makes no agent remove or move anything. */
static void test_forged_done_record_removes_nothing(void **state)
{
	_cleanup_(etcd_client_freep) EtcdClient *etcd = etcd_connect();
	start_counter("node1", "forged");

	MigrationRecord rec = {}, next = {};
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	uint64_t now_ms = (uint64_t)ts.tv_sec * 1000;
	assert_int_equal(migration_record_init(&rec, "forged", "node1", "node2",
	                                       MIGRATION_REASON_MANUAL, now_ms),
	                 0);
	rec.image = strdup("localhost/podmig/counter:latest");
	const MigrationPhase path[] = { MIGRATION_CHECKPOINTING, MIGRATION_TRANSFERRING,
		                        MIGRATION_RESTORING, MIGRATION_DONE };
	for (size_t i = 0; i < ELEMENTSOF(path); i++) {
		assert_int_equal(migration_record_step(&rec, path[i], NULL, now_ms + i + 1, &next),
		                 0);
		migration_record_clear(&rec);
		rec = next;
	}
	_cleanup_free_ char *json = NULL, *key = NULL;
	assert_int_equal(migration_record_to_json(&rec, &json), 0);
	assert_true(asprintf(&key, "/podmig/migrations/%s", rec.id) > 0);
	const char *lock = "/podmig/locks/containers/forged";
	assert_int_equal(etcd_put(etcd, key, json, strlen(json), 0, NULL), 0);
	assert_int_equal(etcd_put(etcd, lock, rec.id, strlen(rec.id), 0, NULL), 0);

	/* recovery looks at locked records every 5 s */
	sleep(12);
	assert_int_equal(container_state("node1", "forged"), 1);
	assert_int_equal(container_state("node2", "forged"), -1);

	assert_int_equal(etcd_delete(etcd, lock, NULL), 0);
	assert_int_equal(etcd_delete(etcd, key, NULL), 0);
	migration_record_clear(&rec);
}

/* A compromised node1 forges, with its own etcd user and certificate, a
 * record and lock of a migration naming itself as the source and pushes a
 * checkpoint into node2: node2 refuses before it reads anything more, since
 * no order (which nodes cannot write) names that migration; nor does an
 * order of another migration, whose id the forged record takes, vouch for
 * it. Nothing arrives on node2. */
static void test_forged_record_without_order_refused(void **state)
{
	const char *ca = getenv("PODMIG_TLS_CA");
	char cert[512], key[512];
	cluster_cert("agent-node1", cert, key, sizeof cert);
	RpcOptions as_node1 = { .ca_file = ca, .cert_file = cert, .key_file = key };
	EtcdOptions eo = { .rpc = as_node1, .request_timeout_usec = 5 * RPC_USEC_PER_SEC };
	_cleanup_(etcd_client_freep) EtcdClient *node1 = NULL;
	assert_int_equal(etcd_client_new(getenv("PODMIG_ETCD_ENDPOINTS"), &eo, &node1), 0);

	/* the record and lock, as node1's agent creates them */
	_cleanup_(migration_record_clear) MigrationRecord rec = {};
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	assert_int_equal(migration_record_init(&rec, "pushed", "node1", "node2",
	                                       MIGRATION_REASON_MANUAL, (uint64_t)ts.tv_sec * 1000),
	                 0);
	rec.image = strdup("localhost/podmig/counter:latest");
	assert_int_equal(migration_record_create(node1, "/podmig/", &rec, NULL), 0);

	Podmig__V1__TransferHeader h;
	Podmig__V1__TransferMessage tm;
	transfer_header(&rec, &h, &tm);
	const char *node2 = cluster_fixture_env(cluster, "PODMIG_NODE2_AGENT");
	RpcStatus st = call_stream(node2, &as_node1, "Receive", &tm.base);
	assert_int_equal(st.code, RPC_PERMISSION_DENIED);
	assert_non_null(strstr(st.message, "no migration order"));
	assert_non_null(strstr(st.message, rec.id));

	/* the live order of another migration (node2 to node1), its id taken */
	char other[MIGRATION_ID_MAX];
	order_issue("pushed", "node2", "node1", other);
	_cleanup_(migration_record_clear) MigrationRecord rec2 = {};
	assert_int_equal(migration_record_init(&rec2, "pushed2", "node1", "node2",
	                                       MIGRATION_REASON_MANUAL, (uint64_t)ts.tv_sec * 1000),
	                 0);
	snprintf(rec2.id, sizeof rec2.id, "%s", other);
	rec2.image = strdup("localhost/podmig/counter:latest");
	assert_int_equal(migration_record_create(node1, "/podmig/", &rec2, NULL), 0);
	transfer_header(&rec2, &h, &tm);
	st = call_stream(node2, &as_node1, "Receive", &tm.base);
	assert_int_equal(st.code, RPC_PERMISSION_DENIED);
	assert_non_null(strstr(st.message, "does not match"));

	/* nor may the forged record's target fetch node1's image with it
	 * (node2's certificate, as a compromised target would) */
	char cert2[512], key2[512];
	cluster_cert("agent-node2", cert2, key2, sizeof cert2);
	RpcOptions as_node2 = { .ca_file = ca, .cert_file = cert2, .key_file = key2 };
	Podmig__V1__FetchImageRequest freq = PODMIG__V1__FETCH_IMAGE_REQUEST__INIT;
	freq.migration_id = rec.id;
	freq.image = rec.image;
	st = call_stream(cluster_fixture_env(cluster, "PODMIG_NODE1_AGENT"), &as_node2,
	                 "FetchImage", &freq.base);
	assert_int_equal(st.code, RPC_PERMISSION_DENIED);
	assert_non_null(strstr(st.message, "no migration order"));

	assert_int_equal(container_state("node2", "pushed"), -1);
	assert_int_equal(container_state("node2", "pushed2"), -1);
	/* the forger settles its records (a record it may write) */
	assert_int_equal(migration_record_advance(node1, "/podmig/", &rec, MIGRATION_FAILED,
	                                          "test over", (uint64_t)ts.tv_sec * 1000 + 1),
	                 0);
	assert_int_equal(migration_record_advance(node1, "/podmig/", &rec2, MIGRATION_FAILED,
	                                          "test over", (uint64_t)ts.tv_sec * 1000 + 1),
	                 0);
}

/* etcd enforces what it can: node2's agent certificate (etcd user node2)
 * reads the cluster and writes its own node's keys, but cannot rewrite or
 * remove node1's, nor write a migration order. */
static void test_etcd_node_writes_only_its_own_keys(void **state)
{
	char cert[512], key[512];
	cluster_cert("agent-node2", cert, key, sizeof cert);
	EtcdOptions eo = {
		.rpc = { .ca_file = getenv("PODMIG_TLS_CA"), .cert_file = cert, .key_file = key },
		.request_timeout_usec = 5 * RPC_USEC_PER_SEC
	};
	_cleanup_(etcd_client_freep) EtcdClient *node2 = NULL;
	assert_int_equal(etcd_client_new(getenv("PODMIG_ETCD_ENDPOINTS"), &eo, &node2), 0);

	_cleanup_(etcd_key_value_done) EtcdKeyValue info = {};
	assert_int_equal(etcd_get(node2, "/podmig/nodes/node1/info", &info), 0);
	int r = etcd_put(node2, "/podmig/nodes/node1/info", "{}", 2, 0, NULL);
	printf("node2 writing node1's info: %d\n", r);
	assert_true(r < 0);
	assert_true(etcd_delete(node2, "/podmig/nodes/node1/info", NULL) < 0);
	assert_true(etcd_put(node2, "/podmig/policy", "{}", 2, 0, NULL) < 0);
	assert_true(etcd_put(node2, "/podmig/decisions/d-1-00000000", "{}", 2, 0, NULL) < 0);
	/* nor issue a migration order, with or without a lease */
	MigrationOrder o;
	assert_int_equal(migration_order_init(&o, "any", "node2", "node1", MIGRATION_REASON_MANUAL,
	                                      NULL, false, MODE_REQUEST_AUTO, "node2", 1),
	                 0);
	r = migration_order_issue(node2, "/podmig/", &o, MIGRATION_ORDER_TTL_SEC);
	printf("node2 issuing a migration order: %d\n", r);
	assert_true(r < 0);
	assert_true(etcd_put(node2, "/podmig/orders/m-1-00000000", "{}", 2, 0, NULL) < 0);
	assert_int_equal(etcd_put(node2, "/podmig/nodes/node2/probe", "x", 1, 0, NULL), 0);
	assert_int_equal(etcd_delete(node2, "/podmig/nodes/node2/probe", NULL), 0);

	/* node1's info is intact */
	_cleanup_(etcd_client_freep) EtcdClient *op = etcd_connect();
	_cleanup_(etcd_key_value_done) EtcdKeyValue after = {};
	assert_int_equal(etcd_get(op, "/podmig/nodes/node1/info", &after), 0);
	assert_int_equal(after.mod_revision, info.mod_revision);
}

int main(int argc, char *argv[])
{
	if (argc < 2) {
		fprintf(stderr, "usage: %s PODMIG\n", argv[0]);
		return 2;
	}
	podmig = argv[1];
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_nodes_with_cli_certificate),
		cmocka_unit_test(test_etcd_refuses_client_without_valid_certificate),
		cmocka_unit_test(test_counter_moves_over_tls),
		cmocka_unit_test(test_agent_refuses_client_without_valid_certificate),
		cmocka_unit_test(test_agent_authorizes_by_role),
		cmocka_unit_test(test_fetch_image_only_from_trusted_address),
		cmocka_unit_test(test_compromised_source_cannot_retag_images),
		cmocka_unit_test(test_rootfs_diff_under_image_link_refused),
		cmocka_unit_test(test_leaseless_info_redirects_nothing),
		cmocka_unit_test(test_forged_done_record_removes_nothing),
		cmocka_unit_test(test_forged_record_without_order_refused),
		cmocka_unit_test(test_etcd_node_writes_only_its_own_keys),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
