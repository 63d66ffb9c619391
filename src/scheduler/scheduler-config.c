/* scheduler-config.c — podmig-scheduler's settings: one table of keys that
 * are both long options and config file keys (/etc/podmig/scheduler.conf),
 * each with its kind, range and help. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf-file.h"
#include "daemon.h"
#include "log.h"
#include "macro.h"
#include "metrics-http.h"
#include "strutil.h"
#include "time-util.h"

#define FIELD(name) offsetof(SchedulerConfig, name)

const SchedulerSetting scheduler_settings[] = {
	{ "name", 'n', SETTING_STRING, FIELD(name), 0, 0, "NAME",
	  "This scheduler's name (default: host name and pid)" },
	{ "etcd", 0, SETTING_STRING, FIELD(etcd), 0, 0, "ENDPOINTS",
	  "etcd endpoints, comma-separated (default\n$PODMIG_ETCD_ENDPOINTS "
	  "or " SCHEDULER_DEFAULT_ETCD ")" },
	{ "prefix", 0, SETTING_PREFIX, FIELD(prefix), 0, 0, "PREFIX",
	  "etcd key prefix (default " SCHEDULER_DEFAULT_PREFIX ")" },
	{ "interval", 0, SETTING_SECONDS, FIELD(tick_usec), 0.05, 3600, "SECONDS",
	  "How often the leader decides (default 1)" },
	{ "lease-ttl", 0, SETTING_UINT, FIELD(lease_ttl_sec), 1, 3600, "SECONDS",
	  "TTL of the leader's lease (default 5)" },
	{ "tls-ca", 0, SETTING_STRING, FIELD(tls_ca), 0, 0, "FILE",
	  "The cluster CA: mutual TLS to etcd and the agents\n(required)" },
	{ "tls-cert", 0, SETTING_STRING, FIELD(tls_cert), 0, 0, "FILE",
	  "This scheduler's certificate (OU scheduler)" },
	{ "tls-key", 0, SETTING_STRING, FIELD(tls_key), 0, 0, "FILE", "Its key" },
	{ "etcd-user", 0, SETTING_STRING, FIELD(etcd_user), 0, 0, "NAME",
	  "etcd user (password authentication; without it,\netcd takes the certificate's CN "
	  "as the user)" },
	{ "etcd-password-file", 0, SETTING_STRING, FIELD(etcd_password_file), 0, 0, "FILE",
	  "The etcd user's password: the file's first line\n(no option takes the password "
	  "itself)" },
	{ "insecure", 0, SETTING_BOOL, FIELD(insecure), 0, 0, NULL,
	  "Plaintext to etcd and the agents instead of mutual\nTLS (logged as a warning at every "
	  "start)" },
	{ "metrics-address", 0, SETTING_ADDRESS, FIELD(metrics_address), 0, 0, "HOST:PORT",
	  "Serve Prometheus metrics on GET /metrics (default\noff; podmig's port is "
	  "7403): HTTPS with the TLS\nfiles, answering client certificates of the CA only" },
	{ "log-level", 0, SETTING_LOG_LEVEL, FIELD(log_level), 0, 0, "LEVEL",
	  "debug, info (default), notice, warning, err" },
};
const size_t scheduler_n_settings = ELEMENTSOF(scheduler_settings);

void scheduler_config_init(SchedulerConfig *c)
{
	*c = (SchedulerConfig){
		.tick_usec = USEC_PER_SEC,
		.lease_ttl_sec = 5,
		.log_level = -1,
	};
}

void scheduler_config_done(SchedulerConfig *c)
{
	for (size_t i = 0; i < scheduler_n_settings; i++) {
		const SchedulerSetting *s = &scheduler_settings[i];
		if (s->kind == SETTING_STRING || s->kind == SETTING_PREFIX ||
		    s->kind == SETTING_ADDRESS)
			free(*(char **)((char *)c + s->offset));
	}
	scheduler_config_init(c);
}

#define fail(error, ...) error_detail_set_errno(error, -EINVAL, __VA_ARGS__)

int scheduler_config_set(SchedulerConfig *c, const char *key, const char *value, ErrorDetail *error)
{
	const SchedulerSetting *s = NULL;
	for (size_t i = 0; i < scheduler_n_settings && !s; i++)
		if (streq(scheduler_settings[i].key, key))
			s = &scheduler_settings[i];
	if (!s)
		return -ENOENT;

	void *field = (char *)c + s->offset;
	double d;
	uint64_t u;
	int r;
	if (s->kind == SETTING_PREFIX && key_prefix_problem(value))
		return fail(error, "--%s: '%s' is not a key prefix: %s", key, value,
		            key_prefix_problem(value));
	switch (s->kind) {
	case SETTING_PREFIX:
	case SETTING_STRING: {
		if (!*value)
			return fail(error, "--%s: empty value", key);
		char *copy = strdup(value);
		if (!copy)
			return -ENOMEM;
		free(*(char **)field);
		*(char **)field = copy;
		return 0;
	}
	case SETTING_ADDRESS: {
		if (streq(value, "off")) {
			free(*(char **)field);
			*(char **)field = NULL;
			return 0;
		}
		if (!metrics_http_address_valid(value))
			return fail(error,
			            "--%s: '%s' is neither HOST:PORT with a numeric address (e.g. "
			            "0.0.0.0:%d) nor 'off'",
			            key, value, SCHEDULER_DEFAULT_METRICS_PORT);
		char *copy = strdup(value);
		if (!copy)
			return -ENOMEM;
		free(*(char **)field);
		*(char **)field = copy;
		return 0;
	}
	case SETTING_BOOL:
		if (!streq(value, "true") && !streq(value, "false"))
			return fail(error, "--%s: '%s' is neither 'true' nor 'false'", key, value);
		*(bool *)field = streq(value, "true");
		return 0;
	case SETTING_SECONDS:
		if (safe_atod(value, &d) < 0 || !(d >= s->min && d <= s->max))
			return fail(error, "--%s: '%s' is not a number of seconds in [%g, %g]", key,
			            value, s->min, s->max);
		*(uint64_t *)field = (uint64_t)llround(d * 1e6);
		return 0;
	case SETTING_UINT:
		if (safe_atou64(value, &u) < 0 || u < s->min || u > s->max)
			return fail(error, "--%s: '%s' is not an integer in [%g, %g]", key, value,
			            s->min, s->max);
		*(int64_t *)field = (int64_t)u;
		return 0;
	case SETTING_LOG_LEVEL:
		r = log_level_from_string(value);
		if (r < 0)
			return fail(error,
			            "--%s: '%s' is none of debug, info, notice, warning, err", key,
			            value);
		*(int *)field = r;
		return 0;
	}
	return -EINVAL;
}

static int set_from_file(const char *key, const char *value, void *userdata, ErrorDetail *error)
{
	return scheduler_config_set(userdata, key, value, error);
}

int scheduler_config_load_file(SchedulerConfig *c, const char *path, ErrorDetail *error)
{
	int r = conf_file_load(path, set_from_file, c, error);
	if (r == -ENOENT)
		return error_detail_set_errno(error, r, "%s: %s", path, error_to_string(r));
	return r;
}

static int set_default(char **field, const char *value)
{
	if (*field)
		return 0;
	*field = strdup(value);
	return *field ? 0 : -ENOMEM;
}

int scheduler_config_finish(SchedulerConfig *c, ErrorDetail *error)
{
	const char *env = getenv("PODMIG_ETCD_ENDPOINTS");
	int r;

	if ((r = set_default(&c->etcd, env && *env ? env : SCHEDULER_DEFAULT_ETCD)) < 0 ||
	    (r = set_default(&c->prefix, SCHEDULER_DEFAULT_PREFIX)) < 0)
		return r;
	if (!!c->tls_cert != !!c->tls_key || (c->tls_cert && !c->tls_ca))
		return fail(error, "--tls-ca, --tls-cert and --tls-key go together");
	if (!!c->etcd_user != !!c->etcd_password_file)
		return fail(error, "--etcd-user and --etcd-password-file go together");
	if (!c->insecure && !c->tls_cert)
		return fail(error, "mutual TLS needs --tls-ca, --tls-cert and --tls-key "
		                   "(--insecure runs in plaintext, open to anyone on the network)");
	if (!c->insecure && strstr(c->etcd, "http://"))
		return fail(error, "--etcd: '%s' is plaintext; use https:// (or --insecure)",
		            c->etcd);
	if (!c->name) {
		char host[256] = "scheduler";
		(void)gethostname(host, sizeof host - 1);
		host[sizeof host - 1] = 0;
		if (asprintf(&c->name, "%s-%d", host, (int)getpid()) < 0) {
			c->name = NULL;
			return -ENOMEM;
		}
	}
	/* it goes into the leader key's JSON and the logs as it is */
	if (strlen(c->name) > 253 ||
	    strspn(c->name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	                    "0123456789-_.") != strlen(c->name))
		return fail(error, "--name: '%s' is not 1..253 letters, digits, '-', '_' or '.'",
		            c->name);
	return 0;
}
