/* daemon.h — podmig-scheduler's run loop around the decision library: a live view of the
 * cluster from one etcd watch on the prefix (nodes, migration records, drain marks, the
 * policy), leader election, and migrations driven through the source agents' Migrate.
 *
 * Every scheduler keeps the view and campaigns; only the leader decides and acts. A leader
 * that dies stops renewing its lease, and another leads within the TTL and carries on from
 * etcd: migrations under way are in their records (with the container lock), so nothing is
 * started twice. */
#pragma once

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct SchedulerConfig {
	const char *name;   /* this scheduler, in the leader key and the logs */
	const char *etcd;   /* comma-separated endpoints; https:// for TLS */
	const char *prefix; /* ends in '/' */
	/* mutual TLS to etcd (https:// endpoints) and to the agents: all three or none */
	const char *tls_ca;
	const char *tls_cert;
	const char *tls_key;
	bool insecure;      /* plaintext to etcd (unless https://) and the agents, no certificate */
	uint64_t tick_usec; /* how often the leader decides; 1 s */
	int64_t lease_ttl_sec;       /* of the leader key; 5 */
	const char *metrics_address; /* HOST:PORT of /metrics (HTTPS unless insecure); NULL: none */
} SchedulerConfig;

#define SCHEDULER_DEFAULT_ETCD         "127.0.0.1:2379"
#define SCHEDULER_DEFAULT_PREFIX       "/podmig/"
#define SCHEDULER_DEFAULT_METRICS_PORT 7403 /* the conventional /metrics port; off by default */

/* Runs until one of the signals in `stop` arrives (they must be blocked in every thread).
 * Negative errno if it could not start. */
int scheduler_run(const SchedulerConfig *config, const sigset_t *stop);
