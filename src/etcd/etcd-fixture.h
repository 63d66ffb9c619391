/* etcd-fixture.h — real etcd servers (/usr/bin/etcd) for tests: single
 * members or 3-member clusters on free loopback ports, each with its own
 * temporary data directory, started with posix_spawn, stoppable, killable and
 * restartable on the same ports and data, killed and removed at the end.
 * Optionally TLS with client-certificate authentication (certificates from
 * scripts/make-certs) and etcd's user authentication. Never port 2379/2380. */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

#include "etcd.h"

typedef struct EtcdFixture {
	pid_t pid; /* 0 while stopped */
	int client_port;
	int peer_port;
	char *name;
	char *dir;
	char *endpoint; /* 127.0.0.1:PORT */
	char *log_path;
	char *initial_cluster;                /* NAME=URL,... (all members) */
	char *cert_dir;                       /* TLS: certificates made by scripts/make-certs */
	char *ca_file, *cert_file, *key_file; /* in cert_dir, for clients */
	unsigned auth_token_ttl_sec;
} EtcdFixture;

/* Tests that need a real etcd call this first: without an executable
 * /usr/bin/etcd it prints "SKIP: <reason>" and exits 77, which meson reports
 * as skipped rather than failed. */
void etcd_fixture_require(void);

/* Starts a plaintext etcd and waits until it answers. */
int etcd_fixture_start(EtcdFixture **ret);
/* For a group of tests: rpc_global_init(), a plaintext etcd and a client of
 * it (etcd_fixture_options()). */
int etcd_fixture_setup_client(EtcdFixture **ret, EtcdClient **ret_client);
/* Frees what etcd_fixture_setup_client() made (and NULLs both), then
 * rpc_global_shutdown(). */
void etcd_fixture_teardown_client(EtcdFixture **f, EtcdClient **client);
/* The same with TLS: `cert_dir` gets a CA, etcd-fixture.pem (127.0.0.1,
 * localhost) and cli-root.pem from scripts/make-certs; clients must present
 * a certificate of that CA. auth_token_ttl_sec: etcd's --auth-token-ttl (0:
 * its default). */
int etcd_fixture_start_tls(const char *cert_dir, unsigned auth_token_ttl_sec, EtcdFixture **ret);
/* Client options that reach the fixture (TLS with cli-root's certificate, or
 * plaintext); the strings point into the fixture. */
EtcdOptions etcd_fixture_options(const EtcdFixture *f);
/* With etcdctl: user root with `password` and the root role, then turns
 * authentication on. */
int etcd_fixture_enable_auth(EtcdFixture *f, const char *password);
/* SIGTERM and wait; data stays. */
int etcd_fixture_stop(EtcdFixture *f);
/* SIGKILL and wait. */
int etcd_fixture_kill(EtcdFixture *f);
/* Starts it again on the same ports and data; waits until it answers. */
int etcd_fixture_restart(EtcdFixture *f);
EtcdFixture *etcd_fixture_free(EtcdFixture *f);
DEFINE_TRIVIAL_CLEANUP_FUNC(EtcdFixture *, etcd_fixture_free);

/* Runs scripts/make-certs DIR SPEC... (see its header). */
int etcd_fixture_make_certs(const char *dir, const char *const *specs, size_t n_specs);

/* A TLS etcd for tests of password authentication (of programs run as
 * users do): rpc_global_init(), a new temporary directory `dir`, a TLS etcd
 * (etcd_fixture_start_tls()) with its certificates there, a client
 * certificate for `client_spec` (scripts/make-certs ROLE:NAME[:ADDRESSES];
 * its CN names no etcd user, so with authentication on only the password
 * lets it in) and `password` in password_file, its first line. */
typedef struct EtcdPasswordFixture {
	EtcdFixture *etcd;
	char *dir;
	char https[128]; /* https://127.0.0.1:PORT */
	char cert[600];  /* the client's certificate, */
	char key[600];   /* its key */
	char password_file[600];
} EtcdPasswordFixture;
/* `enable_auth`: also user root with `password` and authentication on
 * (etcd_fixture_enable_auth(), which a test may instead call later). */
int etcd_password_fixture_start(const char *name, const char *client_spec, const char *password,
                                bool enable_auth, EtcdPasswordFixture *ret);
/* Stops etcd, removes the directory, rpc_global_shutdown(). */
void etcd_password_fixture_stop(EtcdPasswordFixture *f);

typedef struct EtcdCluster {
	size_t n;
	EtcdFixture **members;
	char *endpoints; /* comma-separated, for etcd_client_new() */
} EtcdCluster;

/* n plaintext members forming one new cluster (short raft heartbeat and
 * election timeouts: tests of fail-over need not wait long); waits until
 * every member answers. */
int etcd_cluster_start(size_t n, EtcdCluster **ret);
/* The member serving `endpoint` (host:port), or NULL. */
EtcdFixture *etcd_cluster_find(EtcdCluster *cl, const char *endpoint);
EtcdCluster *etcd_cluster_free(EtcdCluster *cl);
DEFINE_TRIVIAL_CLEANUP_FUNC(EtcdCluster *, etcd_cluster_free);
