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

#include "etcd-fixture.h"
#include "etcd.h"
#include "rpc-testutil.h"

#define ETCD_BINARY "/usr/bin/etcd"

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

static int fixture_wait_ready(EtcdFixture *f)
{
	_cleanup_(etcd_client_freep) EtcdClient *c = NULL;
	EtcdOptions o = { .rpc.plaintext = true, .request_timeout_usec = RPC_USEC_PER_SEC };
	o.rpc.max_reconnect_backoff_msec = 100;
	int r = etcd_client_new(f->endpoint, &o, &c);
	if (r < 0)
		return r;
	for (int i = 0; i < 200; i++) {
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
		nanosleep(&(struct timespec){ .tv_nsec = 50 * 1000 * 1000 }, NULL);
	}
	fprintf(stderr, "etcd did not become ready (%s), see %s\n", strerror(-r), f->log_path);
	return -ETIMEDOUT;
}

static int fixture_spawn(EtcdFixture *f)
{
	char data[512], client_url[64], peer_url[64], cluster[96];
	snprintf(data, sizeof(data), "%s/data", f->dir);
	snprintf(client_url, sizeof(client_url), "http://127.0.0.1:%d", f->client_port);
	snprintf(peer_url, sizeof(peer_url), "http://127.0.0.1:%d", f->peer_port);
	snprintf(cluster, sizeof(cluster), "fixture=%s", peer_url);
	char *argv[] = {
		(char *)ETCD_BINARY,
		(char *)"--name=fixture",
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
		cluster,
		(char *)"--logger=zap",
		(char *)"--log-outputs=stderr",
		NULL,
	};
	int r = test_spawn(argv, f->log_path, &f->pid);
	if (r < 0)
		return r;
	return fixture_wait_ready(f);
}

int etcd_fixture_start(EtcdFixture **ret)
{
	EtcdFixture *f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	int r = test_tmpdir_new("podmig-test-etcd", &f->dir);
	if (r < 0) {
		free(f);
		return r;
	}
	do {
		f->client_port = free_port();
		f->peer_port = free_port();
	} while (f->client_port == f->peer_port || f->client_port == 2379 || f->peer_port == 2379);
	if (f->client_port < 0 || f->peer_port < 0 ||
	    asprintf(&f->endpoint, "127.0.0.1:%d", f->client_port) < 0 ||
	    asprintf(&f->log_path, "%s/etcd.log", f->dir) < 0) {
		etcd_fixture_free(f);
		return -ENOMEM;
	}
	r = fixture_spawn(f);
	if (r < 0) {
		etcd_fixture_free(f);
		return r;
	}
	*ret = f;
	return 0;
}

int etcd_fixture_stop(EtcdFixture *f)
{
	if (f->pid <= 0)
		return 0;
	if (kill(f->pid, SIGTERM) < 0)
		return -errno;
	int status;
	while (waitpid(f->pid, &status, 0) < 0)
		if (errno != EINTR)
			return -errno;
	f->pid = 0;
	return 0;
}

int etcd_fixture_restart(EtcdFixture *f)
{
	int r = etcd_fixture_stop(f);
	if (r < 0)
		return r;
	return fixture_spawn(f);
}

EtcdFixture *etcd_fixture_free(EtcdFixture *f)
{
	if (!f)
		return NULL;
	if (f->pid > 0) {
		kill(f->pid, SIGKILL);
		waitpid(f->pid, NULL, 0);
	}
	if (f->dir) {
		/* keep the log of a failed run around */
		if (getenv("PODMIG_KEEP_ETCD"))
			fprintf(stderr, "etcd data and log kept in %s\n", f->dir);
		else
			test_tmpdir_remove(f->dir);
	}
	free(f->dir);
	free(f->endpoint);
	free(f->log_path);
	free(f);
	return NULL;
}
