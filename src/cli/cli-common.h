/* cli-common.h — shared by the podmig commands that talk to the cluster. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "etcd.h"
#include "getopt-util.h"

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
	/* plaintext to etcd and agents allowed (--insecure, $PODMIG_INSECURE=1);
	 * without it every etcd endpoint must be https:// and agents are
	 * called over TLS */
	bool insecure;
	/* etcd password authentication: the user, and the password's file (or
	 * $PODMIG_ETCD_PASSWORD, else asked for on a terminal) */
	const char *etcd_user;
	const char *etcd_password_file;
	/* --watch: redraw on every change (verbs parsed with CLI_PARSE_WATCH) */
	bool watch;
	/* --timeout: stop (or stop waiting) after this many seconds; 0: not given */
	double timeout_sec;
	/* --no-wait (verbs parsed with CLI_PARSE_NO_WAIT) */
	bool no_wait;
} ClusterOptions;

/* What cli_parse_full() accepts beyond the common options. */
typedef enum CliParseFlags {
	CLI_PARSE_WATCH = 1 << 0,   /* --watch and --timeout */
	CLI_PARSE_TIMEOUT = 1 << 1, /* --timeout alone */
	CLI_PARSE_NO_WAIT = 1 << 2, /* --no-wait */
	CLI_PARSE_NO_JSON = 1 << 3, /* refuse --json */
} CliParseFlags;

/* A verb as cli_parse_full() parses it. */
typedef struct CliVerb {
	const char *name;
	const char *what; /* the description in the shared --help */
	/* the verb's own --help instead of the shared one (given the name) */
	void (*help)(const char *name);
	CliParseFlags flags;
	/* positional arguments it takes, kept in order (options may come
	 * between them); more is bad usage */
	size_t max_operands;
} CliVerb;

/* getopt_long codes and entries of the options of every verb that talks to the cluster:
 * CLI_CONNECT_LONG_OPTIONS (--etcd, --prefix, the TLS files, --insecure, the etcd
 * user and the refused --etcd-password) and, for verbs that print
 * JSON, CLI_JSON_LONG_OPTION; cli_cluster_option() takes them. */
enum {
	CLI_ARG_ETCD = 0x200,
	CLI_ARG_PREFIX,
	CLI_ARG_JSON,
	CLI_ARG_TLS_CA,
	CLI_ARG_TLS_CERT,
	CLI_ARG_TLS_KEY,
	CLI_ARG_INSECURE,
	CLI_ARG_ETCD_USER,
	CLI_ARG_ETCD_PASSWORD_FILE,
};
#define CLI_JSON_LONG_OPTION                            \
	{                                               \
		"json", no_argument, NULL, CLI_ARG_JSON \
	}
#define CLI_CONNECT_LONG_OPTIONS                                                             \
	{ "etcd", required_argument, NULL, CLI_ARG_ETCD },                                   \
	        { "prefix", required_argument, NULL, CLI_ARG_PREFIX }, CLI_TLS_LONG_OPTIONS, \
	        CLI_AUTH_LONG_OPTIONS
#define CLI_AUTH_LONG_OPTIONS                                                                  \
	{ "insecure", no_argument, NULL, CLI_ARG_INSECURE },                                   \
	        { "etcd-user", required_argument, NULL, CLI_ARG_ETCD_USER },                   \
	        { "etcd-password-file", required_argument, NULL, CLI_ARG_ETCD_PASSWORD_FILE }, \
	        GETOPT_REFUSED_OPTIONS
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
#define CLI_TLS_HELP                                                                     \
	"     --tls-ca FILE      CA verifying etcd (https://) and agents (default\n"     \
	"                        $PODMIG_TLS_CA or the config file's tls-ca)\n"          \
	"     --tls-cert FILE    Client certificate for etcd and agents (default\n"      \
	"                        $PODMIG_TLS_CERT or tls-cert)\n"                        \
	"     --tls-key FILE     Its key (default $PODMIG_TLS_KEY or tls-key)\n"         \
	"     --etcd-user NAME   etcd user, for password authentication (default\n"      \
	"                        $PODMIG_ETCD_USER or etcd-user)\n"                      \
	"     --etcd-password-file FILE  Its password, the file's first line (default\n" \
	"                        etcd-password-file, else $PODMIG_ETCD_PASSWORD, else\n" \
	"                        asked on a terminal)\n"                                 \
	"     --insecure         Allow plaintext: http:// etcd endpoints, agents\n"      \
	"                        without TLS (default: $PODMIG_INSECURE=1 or the\n"      \
	"                        config file's 'insecure = true' allows it)\n"

/* Defaults from the environment and the config files (cli-config.h): the
 * endpoints, prefix, TLS files, the etcd user and its password file, and
 * whether plaintext is allowed. A bad file is reported by
 * cli_options_check(), so --help still works. */
void cli_options_init(ClusterOptions *o);
/* Takes getopt code `c` if it is one of the connection options or --json: true if it
 * was. False for any other code, and for --etcd-password (GETOPT_REFUSED_OPTIONS, among
 * the connection options), which it logs as refused. */
bool cli_cluster_option(int c, const char *arg, ClusterOptions *o);
/* After parsing: -EINVAL (logged) if a certificate comes without its key. */
int cli_tls_check(const ClusterOptions *o);
/* After parsing: the TLS options, --insecure (without it, only https://
 * endpoints; with it, a warning on a terminal) and --prefix; -EINVAL
 * (logged) if bad. */
int cli_options_check(const ClusterOptions *o);
/* Transport to an agent: TLS with o's files, or plaintext with --insecure. */
RpcOptions cli_agent_rpc_options(const ClusterOptions *o);

/* --etcd, --prefix, --json, the TLS options, --help and no positional
 * arguments. 1: go on; 0: help shown; negative: bad usage. */
int cli_parse(int argc, char *argv[], const char *verb, const char *what, ClusterOptions *o);
/* The same for `verb`: also the options its flags name, and up to its
 * max_operands positional arguments, in order, into ret_operands (pointers
 * into argv; room for max_operands) with their number in *ret_n_operands. */
int cli_parse_full(int argc, char *argv[], const CliVerb *verb, char **ret_operands,
                   size_t *ret_n_operands, ClusterOptions *o);
/* A client for o->etcd (TLS with o's files for https:// endpoints, the
 * etcd user and password if given); logs why not, never the password. */
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
