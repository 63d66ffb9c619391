/* etcd-fixture.h — a real etcd (/usr/bin/etcd) for tests: a single member on
 * free loopback ports with its own temporary data directory, started with
 * posix_spawn, stoppable and restartable on the same ports and data, killed
 * and removed at the end. Never port 2379. */
#pragma once

#include <sys/types.h>

typedef struct EtcdFixture {
	pid_t pid; /* 0 while stopped */
	int client_port;
	int peer_port;
	char *dir;
	char *endpoint; /* 127.0.0.1:PORT */
	char *log_path;
} EtcdFixture;

/* Starts etcd and waits until it answers. */
int etcd_fixture_start(EtcdFixture **ret);
/* SIGTERM and wait; data stays. */
int etcd_fixture_stop(EtcdFixture *f);
/* Starts it again on the same ports and data; waits until it answers. */
int etcd_fixture_restart(EtcdFixture *f);
EtcdFixture *etcd_fixture_free(EtcdFixture *f);
