/* etcd-fixture.c — see etcd-fixture.h. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>

#include "error-util.h"
#include "etcd-fixture.h"
#include "rpc-testutil.h"
#include "time-util.h"

#define ETCD_BINARY    "/usr/bin/etcd"
#define ETCDCTL_BINARY "/usr/bin/etcdctl"

/* A port the kernel considers free right now (port 0, then released). */
static int free_port(void)
{
	_cleanup_close_ int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	struct sockaddr_in sa = { .sin_family = AF_INET,
		                  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sa);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &len) < 0)
		return -errno;
	return ntohs(sa.sin_port);
}

/* n distinct free ports, none of etcd's well-known 2379/2380. */
static int free_ports(int *ports, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		for (;;) {
			int p = free_port();
			if (p < 0)
				return p;
			bool taken = p == 2379 || p == 2380;
			for (size_t j = 0; j < i; j++)
				taken = taken || ports[j] == p;
			if (!taken) {
				ports[i] = p;
				break;
			}
		}
	}
	return 0;
}

static void cert_path(const EtcdFixture *f, const char *name, char *buf, size_t size)
{
	snprintf(buf, size, "%s/%s", f->cert_dir, name);
}

EtcdOptions etcd_fixture_options(const EtcdFixture *f)
{
	EtcdOptions o = { .rpc.plaintext = !f->cert_dir };
	o.rpc.max_reconnect_backoff_msec = 100;
	o.rpc.ca_file = f->ca_file;
	o.rpc.cert_file = f->cert_file;
	o.rpc.key_file = f->key_file;
	return o;
}

static int fixture_wait_ready(EtcdFixture *f)
{
	_cleanup_(etcd_client_freep) EtcdClient *c = NULL;
	EtcdOptions o = etcd_fixture_options(f);
	o.request_timeout_usec = RPC_USEC_PER_SEC;
	int r = etcd_client_new(f->endpoint, &o, &c);
	if (r < 0)
		return r;
	for (int i = 0; i < 300; i++) {
		int status;
		if (waitpid(f->pid, &status, WNOHANG) == f->pid) {
			f->pid = 0;
			fprintf(stderr, "etcd exited early, see %s\n", f->log_path);
			return -ECHILD;
		}
		EtcdKeyValue kv;
		r = etcd_get(c, "/fixture-ready", &kv);
		if (r == ETCD_NOT_FOUND || r >= 0) {
			if (r >= 0)
				etcd_key_value_done(&kv);
			return 0;
		}
		sleep_usec(50 * USEC_PER_MSEC);
	}
	fprintf(stderr, "etcd did not become ready (%s: %s), see %s\n", error_to_string(r),
	        etcd_last_error()->message, f->log_path);
	return -ETIMEDOUT;
}

int etcd_fixture_setup_client(EtcdFixture **ret, EtcdClient **ret_client)
{
	int r;

	rpc_global_init();
	if ((r = etcd_fixture_start(ret)) < 0)
		return r;
	EtcdOptions o = etcd_fixture_options(*ret);
	return etcd_client_new((*ret)->endpoint, &o, ret_client);
}

void etcd_fixture_teardown_client(EtcdFixture **f, EtcdClient **client)
{
	*client = etcd_client_free(*client);
	*f = etcd_fixture_free(*f);
	rpc_global_shutdown();
}

void etcd_fixture_require(void)
{
	if (access(ETCD_BINARY, X_OK) < 0) {
		printf("SKIP: %s is not installed (Debian package etcd-server)\n", ETCD_BINARY);
		fflush(stdout);
		exit(77);
	}
}

static int fixture_spawn(EtcdFixture *f)
{
	char data[512], client_url[64], peer_url[64], token[64], ttl[32];
	char cert[512], key[512], ca[512];
	const char *scheme = f->cert_dir ? "https" : "http";
	snprintf(data, sizeof(data), "%s/data", f->dir);
	snprintf(client_url, sizeof(client_url), "%s://127.0.0.1:%d", scheme, f->client_port);
	snprintf(peer_url, sizeof(peer_url), "http://127.0.0.1:%d", f->peer_port);
	/* unique per test process: members of two tests never join up */
	snprintf(token, sizeof(token), "podmig-test-%d", (int)getpid());
	char *argv[40] = {
		(char *)ETCD_BINARY,
		(char *)"--name",
		f->name,
		(char *)"--data-dir",
		data,
		(char *)"--listen-client-urls",
		client_url,
		(char *)"--advertise-client-urls",
		client_url,
		(char *)"--listen-peer-urls",
		peer_url,
		(char *)"--initial-advertise-peer-urls",
		peer_url,
		(char *)"--initial-cluster",
		f->initial_cluster,
		(char *)"--initial-cluster-token",
		token,
		(char *)"--logger=zap",
		(char *)"--log-outputs=stderr",
	};
	size_t n = 0;
	while (argv[n])
		n++;
	if (strchr(f->initial_cluster, ',')) {
		/* a cluster: notice a dead member (and elect anew) quickly */
		argv[n++] = (char *)"--heartbeat-interval=50";
		argv[n++] = (char *)"--election-timeout=500";
	}
	if (f->cert_dir) {
		cert_path(f, "etcd-fixture.pem", cert, sizeof(cert));
		cert_path(f, "etcd-fixture.key", key, sizeof(key));
		cert_path(f, "ca.pem", ca, sizeof(ca));
		argv[n++] = (char *)"--cert-file";
		argv[n++] = cert;
		argv[n++] = (char *)"--key-file";
		argv[n++] = key;
		argv[n++] = (char *)"--trusted-ca-file";
		argv[n++] = ca;
		argv[n++] = (char *)"--client-cert-auth";
	}
	if (f->auth_token_ttl_sec > 0) {
		snprintf(ttl, sizeof(ttl), "--auth-token-ttl=%u", f->auth_token_ttl_sec);
		argv[n++] = ttl;
	}
	argv[n] = NULL;
	return test_spawn(argv, f->log_path, &f->pid);
}

/* A stopped member with its directory and ports; `peer_port` < 0: pick. */
static int fixture_new(const char *name, int client_port, int peer_port, EtcdFixture **ret)
{
	EtcdFixture *f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	int r = test_tmpdir_new("podmig-test-etcd", &f->dir);
	if (r < 0) {
		free(f);
		return r;
	}
	f->client_port = client_port;
	f->peer_port = peer_port;
	if (!(f->name = strdup(name)) ||
	    asprintf(&f->endpoint, "127.0.0.1:%d", f->client_port) < 0 ||
	    asprintf(&f->log_path, "%s/etcd.log", f->dir) < 0) {
		etcd_fixture_free(f);
		return -ENOMEM;
	}
	*ret = f;
	return 0;
}

static int single_start(const char *cert_dir, unsigned auth_token_ttl_sec, EtcdFixture **ret)
{
	int ports[2];
	int r = free_ports(ports, 2);
	if (r < 0)
		return r;
	EtcdFixture *f;
	r = fixture_new("fixture", ports[0], ports[1], &f);
	if (r < 0)
		return r;
	f->auth_token_ttl_sec = auth_token_ttl_sec;
	if (asprintf(&f->initial_cluster, "fixture=http://127.0.0.1:%d", f->peer_port) < 0 ||
	    (cert_dir && (!(f->cert_dir = strdup(cert_dir)) ||
	                  asprintf(&f->ca_file, "%s/ca.pem", cert_dir) < 0 ||
	                  asprintf(&f->cert_file, "%s/cli-root.pem", cert_dir) < 0 ||
	                  asprintf(&f->key_file, "%s/cli-root.key", cert_dir) < 0))) {
		etcd_fixture_free(f);
		return -ENOMEM;
	}
	r = fixture_spawn(f);
	if (r >= 0)
		r = fixture_wait_ready(f);
	if (r < 0) {
		etcd_fixture_free(f);
		return r;
	}
	*ret = f;
	return 0;
}

int etcd_fixture_start(EtcdFixture **ret)
{
	return single_start(NULL, 0, ret);
}

int etcd_fixture_make_certs(const char *dir, const char *const *specs, size_t n_specs)
{
	char **argv = calloc(n_specs + 3, sizeof(char *));
	if (!argv)
		return -ENOMEM;
	argv[0] = (char *)PODMIG_SOURCE_ROOT "/scripts/make-certs";
	argv[1] = (char *)dir;
	for (size_t i = 0; i < n_specs; i++)
		argv[2 + i] = (char *)specs[i];
	int r = test_spawn_wait(argv);
	free(argv);
	if (r < 0)
		return r;
	return r == 0 ? 0 : -EIO;
}

int etcd_fixture_start_tls(const char *cert_dir, unsigned auth_token_ttl_sec, EtcdFixture **ret)
{
	static const char *const specs[] = { "etcd:fixture:127.0.0.1,localhost", "cli:root" };
	int r = etcd_fixture_make_certs(cert_dir, specs, ELEMENTSOF(specs));
	if (r < 0)
		return r;
	return single_start(cert_dir, auth_token_ttl_sec, ret);
}

int etcd_password_fixture_start(const char *name, const char *client_spec, const char *password,
                                bool enable_auth, EtcdPasswordFixture *ret)
{
	/* scripts/make-certs names ROLE:NAME[:...]'s files ROLE-NAME.pem and .key */
	const char *colon = strchr(client_spec, ':');
	size_t role_len = colon ? (size_t)(colon - client_spec) : 0;
	size_t name_len = colon ? strcspn(colon + 1, ":") : 0;
	int r;

	*ret = (EtcdPasswordFixture){};
	rpc_global_init();
	if (!colon || role_len == 0 || name_len == 0)
		return -EINVAL;
	if ((r = test_tmpdir_new(name, &ret->dir)) < 0 ||
	    (r = etcd_fixture_start_tls(ret->dir, 0, &ret->etcd)) < 0 ||
	    (r = etcd_fixture_make_certs(ret->dir, &client_spec, 1)) < 0)
		return r;
	snprintf(ret->cert, sizeof ret->cert, "%s/%.*s-%.*s.pem", ret->dir, (int)role_len,
	         client_spec, (int)name_len, colon + 1);
	snprintf(ret->key, sizeof ret->key, "%s/%.*s-%.*s.key", ret->dir, (int)role_len,
	         client_spec, (int)name_len, colon + 1);
	snprintf(ret->password_file, sizeof ret->password_file, "%s/password", ret->dir);
	snprintf(ret->https, sizeof ret->https, "https://%s", ret->etcd->endpoint);
	FILE *f = fopen(ret->password_file, "we");
	if (!f)
		return -errno;
	bool written = fprintf(f, "%s\n", password) >= 0;
	if (fclose(f) != 0 || !written)
		return -EIO;
	return enable_auth ? etcd_fixture_enable_auth(ret->etcd, password) : 0;
}

void etcd_password_fixture_stop(EtcdPasswordFixture *f)
{
	f->etcd = etcd_fixture_free(f->etcd);
	if (f->dir)
		test_tmpdir_remove(f->dir);
	free(f->dir);
	f->dir = NULL;
	rpc_global_shutdown();
}

static int etcdctl(EtcdFixture *f, const char *a1, const char *a2, const char *a3, const char *a4)
{
	char endpoint[64], cacert[540], cert[540], key[540];
	snprintf(endpoint, sizeof(endpoint), "--endpoints=%s://%s", f->cert_dir ? "https" : "http",
	         f->endpoint);
	char *argv[12] = { (char *)ETCDCTL_BINARY, endpoint };
	size_t n = 2;
	if (f->cert_dir) {
		snprintf(cacert, sizeof(cacert), "--cacert=%s/ca.pem", f->cert_dir);
		snprintf(cert, sizeof(cert), "--cert=%s/cli-root.pem", f->cert_dir);
		snprintf(key, sizeof(key), "--key=%s/cli-root.key", f->cert_dir);
		argv[n++] = cacert;
		argv[n++] = cert;
		argv[n++] = key;
	}
	argv[n++] = (char *)a1;
	argv[n++] = (char *)a2;
	if (a3)
		argv[n++] = (char *)a3;
	if (a4)
		argv[n++] = (char *)a4;
	argv[n] = NULL;
	pid_t pid;
	int r = test_spawn(argv, f->log_path, &pid);
	if (r < 0)
		return r;
	int status;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -errno;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "etcdctl %s %s failed, see %s\n", a1, a2, f->log_path);
		return -EIO;
	}
	return 0;
}

int etcd_fixture_enable_auth(EtcdFixture *f, const char *password)
{
	_cleanup_free_ char *user = NULL;
	if (asprintf(&user, "root:%s", password) < 0)
		return -ENOMEM;
	int r;
	if ((r = etcdctl(f, "user", "add", user, NULL)) < 0 ||
	    (r = etcdctl(f, "role", "add", "root", NULL)) < 0 ||
	    (r = etcdctl(f, "user", "grant-role", "root", "root")) < 0 ||
	    (r = etcdctl(f, "auth", "enable", NULL, NULL)) < 0)
		return r;
	return 0;
}

static int fixture_signal(EtcdFixture *f, int sig)
{
	if (f->pid <= 0)
		return 0;
	if (kill(f->pid, sig) < 0)
		return -errno;
	int status;
	while (waitpid(f->pid, &status, 0) < 0)
		if (errno != EINTR)
			return -errno;
	f->pid = 0;
	return 0;
}

int etcd_fixture_stop(EtcdFixture *f)
{
	return fixture_signal(f, SIGTERM);
}

int etcd_fixture_kill(EtcdFixture *f)
{
	return fixture_signal(f, SIGKILL);
}

int etcd_fixture_restart(EtcdFixture *f)
{
	int r = etcd_fixture_stop(f);
	if (r < 0)
		return r;
	r = fixture_spawn(f);
	if (r < 0)
		return r;
	return fixture_wait_ready(f);
}

EtcdFixture *etcd_fixture_free(EtcdFixture *f)
{
	if (!f)
		return NULL;
	(void)etcd_fixture_kill(f);
	if (f->dir) {
		/* keep the log of a failed run around */
		if (getenv("PODMIG_KEEP_ETCD"))
			fprintf(stderr, "etcd data and log kept in %s\n", f->dir);
		else
			test_tmpdir_remove(f->dir);
	}
	free(f->name);
	free(f->dir);
	free(f->endpoint);
	free(f->log_path);
	free(f->initial_cluster);
	free(f->cert_dir);
	free(f->ca_file);
	free(f->cert_file);
	free(f->key_file);
	free(f);
	return NULL;
}

int etcd_cluster_start(size_t n, EtcdCluster **ret)
{
	if (n == 0 || n > 9)
		return -EINVAL;
	_cleanup_(etcd_cluster_freep) EtcdCluster *cl = calloc(1, sizeof(*cl));
	if (!cl || !(cl->members = calloc(n, sizeof(*cl->members))))
		return -ENOMEM;
	int ports[18];
	int r = free_ports(ports, 2 * n);
	if (r < 0)
		return r;

	char initial[512] = "", endpoints[256] = "";
	for (size_t i = 0; i < n; i++) {
		char name[8];
		snprintf(name, sizeof(name), "m%zu", i);
		r = fixture_new(name, ports[2 * i], ports[2 * i + 1], &cl->members[i]);
		if (r < 0)
			return r;
		cl->n++;
		snprintf(initial + strlen(initial), sizeof(initial) - strlen(initial),
		         "%s%s=http://127.0.0.1:%d", i ? "," : "", name, ports[2 * i + 1]);
		snprintf(endpoints + strlen(endpoints), sizeof(endpoints) - strlen(endpoints),
		         "%s%s", i ? "," : "", cl->members[i]->endpoint);
	}
	if (!(cl->endpoints = strdup(endpoints)))
		return -ENOMEM;
	/* all at once: a member waits for the others to form a quorum */
	for (size_t i = 0; i < n; i++) {
		if (!(cl->members[i]->initial_cluster = strdup(initial)))
			return -ENOMEM;
		r = fixture_spawn(cl->members[i]);
		if (r < 0)
			return r;
	}
	for (size_t i = 0; i < n; i++) {
		r = fixture_wait_ready(cl->members[i]);
		if (r < 0)
			return r;
	}
	*ret = TAKE_PTR(cl);
	return 0;
}

EtcdFixture *etcd_cluster_find(EtcdCluster *cl, const char *endpoint)
{
	for (size_t i = 0; i < cl->n; i++)
		if (strcmp(cl->members[i]->endpoint, endpoint) == 0)
			return cl->members[i];
	return NULL;
}

EtcdCluster *etcd_cluster_free(EtcdCluster *cl)
{
	if (!cl)
		return NULL;
	for (size_t i = 0; i < cl->n; i++)
		etcd_fixture_free(cl->members[i]);
	free(cl->members);
	free(cl->endpoints);
	free(cl);
	return NULL;
}
