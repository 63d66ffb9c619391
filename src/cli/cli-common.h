/* cli-common.h — shared by the podmig commands that talk to the cluster. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "etcd.h"

#define DEFAULT_ETCD   "127.0.0.1:2379"
#define DEFAULT_PREFIX "/podmig/"

typedef struct ClusterOptions {
	const char *etcd;   /* comma-separated endpoints */
	const char *prefix; /* etcd key prefix, ends in '/' */
	bool json;
	/* mutual TLS: CA that verifies etcd and agents, and this client's
	 * certificate and key; all NULL: plaintext to agents */
	const char *tls_ca;
	const char *tls_cert;
	const char *tls_key;
	/* --watch: redraw on every change (verbs parsed with CLI_PARSE_WATCH) */
	bool watch;
	/* --timeout for watching verbs: stop after this many seconds; 0: never */
	double timeout_sec;
} ClusterOptions;

/* What cli_parse_full() accepts beyond the common options. */
typedef enum CliParseFlags {
	CLI_PARSE_WATCH = 1 << 0,   /* --watch and --timeout */
	CLI_PARSE_TIMEOUT = 1 << 1, /* --timeout alone */
} CliParseFlags;

/* getopt_long codes and entries of the options of every verb that talks to the cluster:
 * CLI_CONNECT_LONG_OPTIONS (--etcd, --prefix and the TLS files) and, for verbs that print
 * JSON, CLI_JSON_LONG_OPTION; cli_cluster_option() takes them. */
enum {
	CLI_ARG_ETCD = 0x200,
	CLI_ARG_PREFIX,
	CLI_ARG_JSON,
	CLI_ARG_TLS_CA,
	CLI_ARG_TLS_CERT,
	CLI_ARG_TLS_KEY,
};
#define CLI_JSON_LONG_OPTION                            \
	{                                               \
		"json", no_argument, NULL, CLI_ARG_JSON \
	}
#define CLI_CONNECT_LONG_OPTIONS                           \
	{ "etcd", required_argument, NULL, CLI_ARG_ETCD }, \
	        { "prefix", required_argument, NULL, CLI_ARG_PREFIX }, CLI_TLS_LONG_OPTIONS
#define CLI_TLS_LONG_OPTIONS                                               \
	{ "tls-ca", required_argument, NULL, CLI_ARG_TLS_CA },             \
	        { "tls-cert", required_argument, NULL, CLI_ARG_TLS_CERT }, \
	{                                                                  \
		"tls-key", required_argument, NULL, CLI_ARG_TLS_KEY        \
	}
/* --etcd and --prefix in a verb's --help; printf arguments: DEFAULT_ETCD,
 * DEFAULT_PREFIX. */
#define CLI_CONNECT_HELP                                                                \
	"     --etcd ENDPOINTS   etcd endpoints (default $PODMIG_ETCD_ENDPOINTS, the\n" \
	"                        config file's etcd, or %s)\n"                          \
	"     --prefix PREFIX    etcd key prefix (default $PODMIG_PREFIX, the config\n" \
	"                        file's prefix, or %s)\n"
#define CLI_TLS_HELP                                                                  \
	"     --tls-ca FILE      CA verifying etcd (https://) and agents (default\n"  \
	"                        $PODMIG_TLS_CA or the config file's tls-ca)\n"       \
	"     --tls-cert FILE    Client certificate for etcd and agents (default\n"   \
	"                        $PODMIG_TLS_CERT or tls-cert); with any TLS file,\n" \
	"                        agents are called over TLS, else in plaintext\n"     \
	"     --tls-key FILE     Its key (default $PODMIG_TLS_KEY or tls-key)\n"

/* Defaults from the environment and the config files (cli-config.h); a bad
 * file is reported by cli_options_check(), so --help still works. */
void cli_options_init(ClusterOptions *o);
/* Takes getopt code `c` if it is one of the connection options or --json: true if it
 * was. */
bool cli_cluster_option(int c, const char *arg, ClusterOptions *o);
/* After parsing: -EINVAL (logged) if a certificate comes without its key. */
int cli_tls_check(const ClusterOptions *o);
/* After parsing: the TLS options and --prefix; -EINVAL (logged) if bad. */
int cli_options_check(const ClusterOptions *o);
/* Transport to an agent: TLS with o's files if any is set, else plaintext. */
RpcOptions cli_agent_rpc_options(const ClusterOptions *o);

/* --etcd, --prefix, --json, the TLS options, --help and no positional
 * arguments. 1: go on; 0: help shown; negative: bad usage. */
int cli_parse(int argc, char *argv[], const char *verb, const char *what, ClusterOptions *o);
/* The same, also taking the options `flags` names. */
int cli_parse_full(int argc, char *argv[], const char *verb, const char *what, CliParseFlags flags,
                   ClusterOptions *o);
/* A client for o->etcd (TLS with o's files for https:// endpoints); logs
 * why not. */
int cli_etcd_connect(const ClusterOptions *o, EtcdClient **ret);
/* For a message about a failed etcd request: what etcd or gRPC said, or
 * strerror(-error); over https://, a word on certificates when the server
 * could not be reached (a refused handshake looks like that). */
const char *cli_etcd_error(const ClusterOptions *o, int error);
/* The same word for a call to an agent that ended with `status`. */
const char *cli_tls_hint(const RpcOptions *ro, const RpcStatus *status);
/* Every node under <prefix>nodes/ as {"name", "info", "status"}, by name. */
int cli_nodes_load(const ClusterOptions *o, json_t **ret);
/* Seconds since the status document's timestamp, -1 if it has none. */
double cli_age_seconds(const json_t *status);
/* 1536 -> "1.5K" */
void cli_format_bytes(double v, char *buf, size_t size);
/* Anything from etcd (or an agent's message quoting it) may carry terminal
 * escape sequences. Replaces control characters — C0 (tab included), DEL
 * and C1 (U+0080..U+009F, as UTF-8) — with '?', in place; returns s. */
char *cli_sanitize(char *s);
/* The same for every string and key of a JSON document, in place; -ENOMEM
 * if a key could not be replaced. */
int cli_json_sanitize(json_t *doc);

/* Pretty JSON on stdout; the exit status to return. */
int cli_print_json(json_t *doc);
