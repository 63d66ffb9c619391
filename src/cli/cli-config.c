/* cli-config.c — podmig's connection settings from the environment and its
 * config files (cli-config.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli-config.h"
#include "conf-file.h"
#include "macro.h"
#include "strutil.h"

void cli_config_done(CliConfig *c)
{
	free(c->etcd);
	free(c->prefix);
	free(c->tls_ca);
	free(c->tls_cert);
	free(c->tls_key);
	free(c->etcd_user);
	free(c->etcd_password_file);
	*c = (CliConfig){};
}

#define fail(error, ...) error_detail_set_errno(error, -EINVAL, __VA_ARGS__)

static char **field(CliConfig *c, const char *key)
{
	return streq(key, "etcd")                 ? &c->etcd
	       : streq(key, "prefix")             ? &c->prefix
	       : streq(key, "tls-ca")             ? &c->tls_ca
	       : streq(key, "tls-cert")           ? &c->tls_cert
	       : streq(key, "tls-key")            ? &c->tls_key
	       : streq(key, "etcd-user")          ? &c->etcd_user
	       : streq(key, "etcd-password-file") ? &c->etcd_password_file
	                                          : NULL;
}

int cli_config_set(CliConfig *c, const char *key, const char *value, ErrorDetail *error)
{
	if (streq(key, "insecure")) {
		if (!streq(value, "true") && !streq(value, "false"))
			return fail(error, "insecure: '%s' is neither 'true' nor 'false'", value);
		c->insecure = streq(value, "true");
		return 0;
	}
	char **f = field(c, key);
	if (!f)
		return -ENOENT;
	if (!*value)
		return fail(error, "%s: empty value", key);
	if (streq(key, "prefix") && key_prefix_problem(value))
		return fail(error, "prefix: '%s' is not a key prefix: %s", value,
		            key_prefix_problem(value));
	if ((startswith(key, "tls-") || streq(key, "etcd-password-file")) && value[0] != '/')
		return fail(error, "%s: '%s' is not an absolute path", key, value);
	char *copy = strdup(value);
	if (!copy)
		return -ENOMEM;
	free(*f);
	*f = copy;
	return 0;
}

static int set_from_file(const char *key, const char *value, void *userdata, ErrorDetail *error)
{
	return cli_config_set(userdata, key, value, error);
}

static const char *env_or_null(const char *name)
{
	const char *v = getenv(name);
	return v && *v ? v : NULL;
}

int cli_config_load(CliConfig *c, const char *system_path, ErrorDetail *error)
{
	static const struct {
		const char *variable, *key;
	} environment[] = {
		{ "PODMIG_ETCD_ENDPOINTS", "etcd" }, { "PODMIG_PREFIX", "prefix" },
		{ "PODMIG_TLS_CA", "tls-ca" },       { "PODMIG_TLS_CERT", "tls-cert" },
		{ "PODMIG_TLS_KEY", "tls-key" },     { "PODMIG_ETCD_USER", "etcd-user" },
	};
	_cleanup_free_ char *user_path = NULL;
	const char *explicit_path = env_or_null("PODMIG_CONFIG");
	int r;

	if (system_path) {
		r = conf_file_load(system_path, set_from_file, c, error);
		if (r < 0 && r != -ENOENT)
			return r;
	}
	if (explicit_path) {
		r = conf_file_load(explicit_path, set_from_file, c, error);
		if (r == -ENOENT)
			return error_detail_set_errno(error, r, "%s (from $PODMIG_CONFIG): %s",
			                              explicit_path, error_to_string(r));
		if (r < 0)
			return r;
	} else {
		const char *xdg = env_or_null("XDG_CONFIG_HOME"), *home = env_or_null("HOME");
		if (xdg)
			r = asprintf(&user_path, "%s/podmig/config", xdg);
		else if (home)
			r = asprintf(&user_path, "%s/.config/podmig/config", home);
		else
			r = 0;
		if (r < 0) {
			user_path = NULL;
			return -ENOMEM;
		}
		if (user_path) {
			r = conf_file_load(user_path, set_from_file, c, error);
			if (r < 0 && r != -ENOENT)
				return r;
		}
	}
	for (size_t i = 0; i < ELEMENTSOF(environment); i++) {
		const char *v = env_or_null(environment[i].variable);
		if (!v)
			continue;
		ErrorDetail why = {};
		r = cli_config_set(c, environment[i].key, v, &why);
		if (r == -ENOMEM)
			return r;
		/* a relative path in the environment is the user's own: as given */
		if (r < 0 && startswith(environment[i].key, "tls-")) {
			char **f = field(c, environment[i].key);
			free(*f);
			if (!(*f = strdup(v)))
				return -ENOMEM;
		} else if (r < 0)
			return error_detail_set_errno(error, r, "$%s: %s", environment[i].variable,
			                              error_detail_or(&why, r));
	}
	/* set, $PODMIG_INSECURE allows plaintext when it is 1 and forbids it
	 * otherwise, whatever the files say */
	const char *insecure = env_or_null("PODMIG_INSECURE");
	if (insecure)
		c->insecure = streq(insecure, "1");
	return 0;
}
