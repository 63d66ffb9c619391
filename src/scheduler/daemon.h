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
#include <stddef.h>
#include <stdint.h>

#include "error-util.h"

typedef struct SchedulerConfig {
	char *name;   /* this scheduler, in the leader key and the logs */
	char *etcd;   /* comma-separated endpoints; https:// for TLS */
	char *prefix; /* ends in '/' */
	/* mutual TLS to etcd (https:// endpoints) and to the agents: all three or none */
	char *tls_ca;
	char *tls_cert;
	char *tls_key;
	/* etcd password authentication (both or neither): the user, and a file
	 * whose first line is its password (never the password itself, which
	 * would show in the process list); without them etcd takes the CN of
	 * tls_cert as the user */
	char *etcd_user;
	char *etcd_password_file;
	bool insecure;      /* plaintext to etcd (unless https://) and the agents, no certificate */
	uint64_t tick_usec; /* how often the leader decides; 1 s */
	int64_t lease_ttl_sec; /* of the leader key; 5 */
	int log_level;         /* a syslog level; -1: not set */
	char *metrics_address; /* HOST:PORT of /metrics (HTTPS unless insecure); NULL: none */
} SchedulerConfig;

#define SCHEDULER_DEFAULT_ETCD   "127.0.0.1:2379"
#define SCHEDULER_DEFAULT_PREFIX "/podmig/"
/* The conventional /metrics port; off by default. */
#define SCHEDULER_DEFAULT_METRICS_PORT 7403
/* Read at start when it exists and no --config names another file. */
#define SCHEDULER_DEFAULT_CONFIG "/etc/podmig/scheduler.conf"

/* The settings, each a long option and a key of the config file, in the
 * order --help lists them (scheduler-config.c). */
typedef enum SchedulerSettingKind {
	SETTING_STRING,    /* a non-empty string */
	SETTING_PREFIX,    /* an etcd key prefix (key_prefix_problem()) */
	SETTING_BOOL,      /* true or false; on the command line a flag meaning true */
	SETTING_SECONDS,   /* a decimal number of seconds in [min, max], stored in usec */
	SETTING_UINT,      /* an integer in [min, max] (int64_t) */
	SETTING_LOG_LEVEL, /* a syslog level by name (int) */
	SETTING_ADDRESS,   /* HOST:PORT with a numeric host, or "off" for NULL */
} SchedulerSettingKind;
typedef struct SchedulerSetting {
	const char *key;   /* the long option without "--" */
	char short_option; /* 0: none */
	SchedulerSettingKind kind;
	size_t offset; /* of the field in SchedulerConfig */
	double min, max;
	const char *arg;  /* the argument's name in --help; NULL for a flag */
	const char *help; /* --help's text; '\n' continues on the next line */
} SchedulerSetting;
extern const SchedulerSetting scheduler_settings[];
extern const size_t scheduler_n_settings;

void scheduler_config_init(SchedulerConfig *c);
void scheduler_config_done(SchedulerConfig *c);
/* One setting by its key: -EINVAL with the reason in `error` if the value
 * is bad, -ENOENT if the key is unknown. */
int scheduler_config_set(SchedulerConfig *c, const char *key, const char *value,
                         ErrorDetail *error);
/* Every line of a config file (conf-file.h); -ENOENT if it does not exist;
 * errors name the file and line. */
int scheduler_config_load_file(SchedulerConfig *c, const char *path, ErrorDetail *error);
/* Defaults that depend on the environment (the name, $PODMIG_ETCD_ENDPOINTS)
 * and the checks across settings. */
int scheduler_config_finish(SchedulerConfig *c, ErrorDetail *error);

/* Runs until one of the signals in `stop` arrives (they must be blocked in every thread).
 * Negative errno if it could not start. */
int scheduler_run(const SchedulerConfig *config, const sigset_t *stop);
