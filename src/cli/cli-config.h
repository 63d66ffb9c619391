/* cli-config.h — where podmig finds its etcd endpoints, key prefix and TLS
 * files when no flag names them, as etcdctl and kubectl do: a flag, else the
 * environment, else the user's config file, else the system's.
 *
 *   environment            PODMIG_ETCD_ENDPOINTS, PODMIG_PREFIX, PODMIG_TLS_CA,
 *                          PODMIG_TLS_CERT, PODMIG_TLS_KEY, PODMIG_ETCD_USER,
 *                          PODMIG_INSECURE (1: true, anything else: false)
 *   the user's file        $PODMIG_CONFIG (it must exist), else
 *                          $XDG_CONFIG_HOME/podmig/config or ~/.config/podmig/config
 *   the system's file      /etc/podmig/podmig.conf
 *
 * The files are "key = value" lines (conf-file.h) with the flags' names as
 * keys: etcd, prefix, tls-ca, tls-cert, tls-key, etcd-user, etcd-password-file,
 * insecure (true or false); files by absolute path. The password itself
 * ($PODMIG_ETCD_PASSWORD) is never read from a config file. */
#pragma once

#include <stdbool.h>

#include "error-util.h"

#define CLI_SYSTEM_CONFIG "/etc/podmig/podmig.conf"

typedef struct CliConfig {
	char *etcd;
	char *prefix;
	char *tls_ca;
	char *tls_cert;
	char *tls_key;
	char *etcd_user;
	char *etcd_password_file;
	bool insecure;
} CliConfig;

void cli_config_done(CliConfig *c);
/* One key of a file: -ENOENT if unknown, -EINVAL with the reason if bad. */
int cli_config_set(CliConfig *c, const char *key, const char *value, ErrorDetail *error);
/* The system's file at `system_path` (when it exists), the user's over it, the
 * environment over both. Errors name the file and line (or the variable). */
int cli_config_load(CliConfig *c, const char *system_path, ErrorDetail *error);
