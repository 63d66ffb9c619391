/* agent-config.c — podmig-agent's settings: one setter per long option name,
 * used by the command line and the config file alike. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent.h"
#include "conf-file.h"
#include "log.h"
#include "metrics-http.h"
#include "strutil.h"

void agent_config_init(AgentConfig *c)
{
	*c = (AgentConfig){
		.interval_usec = 1000000,
		.lease_ttl_sec = 5,
		.source = ACCOUNTING_HOST,
		.link_bandwidth = 125000000, /* 1 Gbit/s */
		.max_migrations = AGENT_DEFAULT_MAX_MIGRATIONS,
		.max_calls = AGENT_DEFAULT_MAX_CALLS,
		.stall_timeout_usec = AGENT_DEFAULT_STALL_TIMEOUT_SEC * 1000000ULL,
		.log_level = -1,
		.protocol = AGENT_PROTOCOL,
	};
}

void agent_config_done(AgentConfig *c)
{
	free(c->node_name);
	free(c->listen_address);
	free(c->advertise_address);
	free(c->podman_socket);
	free(c->etcd_endpoint);
	free(c->prefix);
	strv_free(c->labels);
	free(c->tls_ca);
	free(c->tls_cert);
	free(c->tls_key);
	free(c->etcd_user);
	free(c->etcd_password_file);
	free(c->criu_path);
	free(c->proc_root);
	free(c->work_dir);
	free(c->pages_dir);
	free(c->criu_config_dir);
	free(c->fault_dir);
	free(c->metrics_address);
	restore_policy_done(&c->restore);
	agent_config_init(c);
}

/* A bad setting: -EINVAL with the reason. */
#define fail(error, ...) error_detail_set_errno(error, -EINVAL, __VA_ARGS__)

static int set_string(char **dst, const char *value)
{
	char *s = strdup(value);
	if (!s)
		return -ENOMEM;
	free(*dst);
	*dst = s;
	return 0;
}

/* Seconds as a decimal ("1", "0.5") into microseconds. */
static int parse_seconds(const char *s, uint64_t *ret)
{
	double d;
	if (safe_atod(s, &d) < 0 || !(d > 0) || d > 86400)
		return -EINVAL;
	*ret = (uint64_t)(d * 1e6);
	return 0;
}

int agent_config_set(AgentConfig *c, const char *key, const char *value, ErrorDetail *error)
{
	static const struct {
		const char *key;
		size_t offset;
	} strings[] = {
		{ "node-name", offsetof(AgentConfig, node_name) },
		{ "listen", offsetof(AgentConfig, listen_address) },
		{ "advertise", offsetof(AgentConfig, advertise_address) },
		{ "podman-socket", offsetof(AgentConfig, podman_socket) },
		{ "etcd", offsetof(AgentConfig, etcd_endpoint) },
		{ "prefix", offsetof(AgentConfig, prefix) },
		{ "tls-ca", offsetof(AgentConfig, tls_ca) },
		{ "tls-cert", offsetof(AgentConfig, tls_cert) },
		{ "tls-key", offsetof(AgentConfig, tls_key) },
		{ "etcd-user", offsetof(AgentConfig, etcd_user) },
		{ "etcd-password-file", offsetof(AgentConfig, etcd_password_file) },
		{ "criu", offsetof(AgentConfig, criu_path) },
		{ "proc-root", offsetof(AgentConfig, proc_root) },
		{ "work-dir", offsetof(AgentConfig, work_dir) },
		{ "criu-config-dir", offsetof(AgentConfig, criu_config_dir) },
		{ "pages-dir", offsetof(AgentConfig, pages_dir) },
		{ "fault-dir", offsetof(AgentConfig, fault_dir) },
	};
	for (size_t i = 0; i < ELEMENTSOF(strings); i++)
		if (streq(key, strings[i].key)) {
			if (!*value)
				return fail(error, "--%s: empty value", key);
			return set_string((char **)((char *)c + strings[i].offset), value);
		}

	if (streq(key, "interval")) {
		if (parse_seconds(value, &c->interval_usec) < 0 || c->interval_usec < 10000)
			return fail(error, "--interval: '%s' is not a number of seconds >= 0.01",
			            value);
	} else if (streq(key, "lease-ttl")) {
		uint64_t v;
		if (safe_atou64(value, &v) < 0 || v < 2 || v > 3600)
			return fail(error, "--lease-ttl: '%s' is not 2..3600 seconds", value);
		c->lease_ttl_sec = (int64_t)v;
	} else if (streq(key, "accounting")) {
		int r = accounting_source_from_string(value);
		if (r < 0)
			return fail(error, "--accounting: '%s' is neither 'host' nor 'containers'",
			            value);
		c->source = r;
	} else if (streq(key, "capacity-cpus")) {
		if (safe_atod(value, &c->capacity_cpus) < 0 || !(c->capacity_cpus > 0) ||
		    c->capacity_cpus > 100000)
			return fail(error, "--capacity-cpus: '%s' is not a positive number", value);
	} else if (streq(key, "capacity-memory")) {
		if (parse_size(value, &c->capacity_memory) < 0 || c->capacity_memory == 0)
			return fail(error, "--capacity-memory: '%s' is not a size (e.g. 2G, 512M)",
			            value);
	} else if (streq(key, "link-bandwidth")) {
		if (parse_size(value, &c->link_bandwidth) < 0 || c->link_bandwidth == 0)
			return fail(error,
			            "--link-bandwidth: '%s' is not bytes per second (e.g. 125M)",
			            value);
	} else if (streq(key, "max-migrations")) {
		unsigned v;
		if (safe_atou(value, &v) < 0 || v < 1 || v > 64)
			return fail(error, "--max-migrations: '%s' is not 1..64", value);
		c->max_migrations = v;
	} else if (streq(key, "max-calls")) {
		unsigned v;
		if (safe_atou(value, &v) < 0 || v < 4 || v > 4096)
			return fail(error, "--max-calls: '%s' is not 4..4096", value);
		c->max_calls = v;
	} else if (streq(key, "stall-timeout")) {
		if (parse_seconds(value, &c->stall_timeout_usec) < 0 ||
		    c->stall_timeout_usec < 1000000 || c->stall_timeout_usec > 3600000000ULL)
			return fail(error, "--stall-timeout: '%s' is not 1..3600 seconds", value);
	} else if (streq(key, "pre-copy")) {
		if (!streq(value, "auto") && !streq(value, "never"))
			return fail(error, "--pre-copy: '%s' is neither 'auto' nor 'never'", value);
		c->pre_copy_never = streq(value, "never");
	} else if (streq(key, "restore-allow")) {
		int r = restore_policy_allow(&c->restore, value);
		if (r == -EINVAL)
			return fail(error,
			            "--restore-allow: '%s' is none of privileged, devices, "
			            "host-namespaces, setuid, CAP_NAME",
			            value);
		return r;
	} else if (streq(key, "restore-allow-bind")) {
		int r = restore_policy_allow_bind(&c->restore, value);
		if (r == -EINVAL)
			return fail(error,
			            "--restore-allow-bind: '%s' is not an absolute directory other "
			            "than "
			            "/ without '.' or '..' components",
			            value);
		return r;
	} else if (streq(key, "log-level")) {
		int r = log_level_from_string(value);
		if (r < 0)
			return fail(
			        error,
			        "--log-level: '%s' is none of debug, info, notice, warning, err",
			        value);
		c->log_level = r;
	} else if (streq(key, "metrics-address")) {
		if (streq(value, "off")) {
			free(c->metrics_address);
			c->metrics_address = NULL;
			return 0;
		}
		if (!metrics_http_address_valid(value))
			return fail(error,
			            "--metrics-address: '%s' is neither HOST:PORT with a numeric "
			            "address (e.g. 0.0.0.0:%d) nor 'off'",
			            value, AGENT_DEFAULT_METRICS_PORT);
		return set_string(&c->metrics_address, value);
	} else if (streq(key, "insecure")) {
		if (!streq(value, "true") && !streq(value, "false"))
			return fail(error, "--insecure: '%s' is neither 'true' nor 'false'", value);
		c->insecure = streq(value, "true");
	} else if (streq(key, "label")) {
		const char *eq = strchr(value, '=');
		if (!eq || eq == value)
			return fail(error, "--label: '%s' is not KEY=VALUE", value);
		size_t n = strv_length(c->labels);
		char **l = realloc(c->labels, (n + 2) * sizeof(char *));
		if (!l)
			return -ENOMEM;
		c->labels = l;
		if (!(l[n] = strdup(value)))
			return -ENOMEM;
		l[n + 1] = NULL;
	} else
		return -ENOENT;
	return 0;
}

static int set_from_file(const char *key, const char *value, void *userdata, ErrorDetail *error)
{
	return agent_config_set(userdata, key, value, error);
}

int agent_config_load_file(AgentConfig *c, const char *path, ErrorDetail *error)
{
	int r = conf_file_load(path, set_from_file, c, error);
	if (r == -ENOENT)
		return error_detail_set_errno(error, r, "%s: %s", path, error_to_string(r));
	return r;
}

int agent_config_finish(AgentConfig *c, ErrorDetail *error)
{
	char host[256];
	int r;

	if (c->source == ACCOUNTING_CONTAINERS && (!(c->capacity_cpus > 0) || !c->capacity_memory))
		return fail(error,
		            "--accounting=containers needs --capacity-cpus and --capacity-memory");
	if (!!c->tls_cert != !!c->tls_key)
		return fail(error, "--tls-cert and --tls-key go together");
	if (!!c->etcd_user != !!c->etcd_password_file)
		return fail(error, "--etcd-user and --etcd-password-file go together");
	if (!c->insecure && (!c->tls_ca || !c->tls_cert))
		return fail(error, "mutual TLS needs --tls-ca, --tls-cert and --tls-key "
		                   "(--insecure runs in plaintext, open to anyone on the network)");
	if ((uint64_t)c->lease_ttl_sec * 1000000 < 2 * c->interval_usec)
		return fail(error, "--lease-ttl must be at least two intervals");
	if (gethostname(host, sizeof host) < 0)
		snprintf(host, sizeof host, "localhost");
	host[sizeof host - 1] = 0;
	if (!c->work_dir && (r = set_string(&c->work_dir, AGENT_DEFAULT_WORK_DIR)) < 0)
		return r;
	if (!c->criu_config_dir &&
	    (r = set_string(&c->criu_config_dir, AGENT_DEFAULT_CRIU_CONFIG_DIR)) < 0)
		return r;
	if (c->criu_config_dir[0] != '/')
		return fail(error, "--criu-config-dir: '%s' is not an absolute path",
		            c->criu_config_dir);
	if (!c->pages_dir && asprintf(&c->pages_dir, "%s/pages", c->work_dir) < 0) {
		c->pages_dir = NULL;
		return -ENOMEM;
	}
	if (c->pages_dir[0] != '/')
		return fail(error, "--pages-dir: '%s' is not an absolute path", c->pages_dir);
	if (!c->node_name && (r = set_string(&c->node_name, host)) < 0)
		return r;
	for (const char *p = c->node_name; *p; p++)
		if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.",
		            *p))
			return fail(error, "node name '%s': only letters, digits, '-', '_' and '.'",
			            c->node_name);
	if (!c->listen_address &&
	    asprintf(&c->listen_address, "0.0.0.0:%d", AGENT_DEFAULT_PORT) < 0) {
		c->listen_address = NULL;
		return -ENOMEM;
	}
	if (!c->advertise_address) {
		const char *port = strrchr(c->listen_address, ':');
		if (!port)
			return fail(error, "--listen: '%s' is not HOST:PORT", c->listen_address);
		if (startswith(c->listen_address, "0.0.0.0:") ||
		    startswith(c->listen_address, "[::]:"))
			r = asprintf(&c->advertise_address, "%s%s", host, port);
		else
			r = asprintf(&c->advertise_address, "%s", c->listen_address);
		if (r < 0) {
			c->advertise_address = NULL;
			return -ENOMEM;
		}
	}
	if (!c->podman_socket &&
	    (r = set_string(&c->podman_socket, AGENT_DEFAULT_PODMAN_SOCKET)) < 0)
		return r;
	if (!c->etcd_endpoint) {
		const char *env = getenv("PODMIG_ETCD_ENDPOINTS");
		if ((r = set_string(&c->etcd_endpoint, env && *env ? env : AGENT_DEFAULT_ETCD)) < 0)
			return r;
	}
	if (!c->insecure && strstr(c->etcd_endpoint, "http://"))
		return fail(error, "--etcd: '%s' is plaintext; use https:// (or --insecure)",
		            c->etcd_endpoint);
	const char *test_protocol = getenv(AGENT_TEST_PROTOCOL_ENV);
	if (test_protocol && *test_protocol) {
		unsigned v;
		if (safe_atou(test_protocol, &v) < 0 || v < 1 || v > 1000)
			return fail(error, "$%s: '%s' is not a protocol version 1..1000",
			            AGENT_TEST_PROTOCOL_ENV, test_protocol);
		c->protocol = v;
		log_warning("$%s: speaking protocol %u instead of %u (tests only)",
		            AGENT_TEST_PROTOCOL_ENV, v, AGENT_PROTOCOL);
	}
	if (!c->prefix && (r = set_string(&c->prefix, AGENT_DEFAULT_PREFIX)) < 0)
		return r;
	if (key_prefix_problem(c->prefix))
		return fail(error, "--prefix: '%s' is not a key prefix: %s", c->prefix,
		            key_prefix_problem(c->prefix));
	return 0;
}
