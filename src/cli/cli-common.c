/* cli-common.c — what the podmig commands share: etcd options and the
 * connection, the nodes as the agents publish them, output helpers. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "cli-common.h"
#include "cli-config.h"
#include "error-util.h"
#include "json-util.h"
#include "log.h"
#include "strutil.h"

static void cli_help(const char *verb, const char *what, CliParseFlags flags)
{
	printf("Usage: podmig %s [OPTIONS]\n"
	       "\n"
	       "%s\n"
	       "\n"
	       "Options:\n" CLI_CONNECT_HELP
	       "     --json             Print JSON instead of a table\n",
	       verb, what, DEFAULT_ETCD, DEFAULT_PREFIX);
	if (flags & CLI_PARSE_WATCH)
		printf("  -w --watch            Redraw on every change (on a terminal), or print\n"
		       "                        a new table per change\n");
	if (flags & CLI_PARSE_WATCH)
		printf("     --timeout SECONDS  With --watch, stop after this long (default: "
		       "until\n"
		       "                        Ctrl-C)\n");
	else if (flags & CLI_PARSE_TIMEOUT)
		printf("     --timeout SECONDS  Stop after this long (default: until Ctrl-C)\n");
	printf("%s  -h --help             Show this help\n", CLI_TLS_HELP);
}

static const char *env_or_null(const char *name)
{
	const char *v = getenv(name);
	return v && *v ? v : NULL;
}

/* The environment's and the files' settings, read once; they live as long
 * as the program. */
static CliConfig config;
static ErrorDetail config_error;
static int config_result = 1; /* 1: not read yet */

void cli_options_init(ClusterOptions *o)
{
	if (config_result > 0)
		config_result = cli_config_load(&config, CLI_SYSTEM_CONFIG, &config_error);
	*o = (ClusterOptions){
		.etcd = config.etcd ?: DEFAULT_ETCD,
		.prefix = config.prefix ?: DEFAULT_PREFIX,
		.tls_ca = config.tls_ca,
		.tls_cert = config.tls_cert,
		.tls_key = config.tls_key,
		.insecure = config.insecure,
		.etcd_user = config.etcd_user,
		.etcd_password_file = config.etcd_password_file,
	};
}

bool cli_cluster_option(int c, const char *arg, ClusterOptions *o)
{
	switch (c) {
	case CLI_ARG_ETCD:
		o->etcd = arg;
		return true;
	case CLI_ARG_PREFIX:
		o->prefix = arg;
		return true;
	case CLI_ARG_JSON:
		o->json = true;
		return true;
	case CLI_ARG_TLS_CA:
		o->tls_ca = arg;
		return true;
	case CLI_ARG_TLS_CERT:
		o->tls_cert = arg;
		return true;
	case CLI_ARG_TLS_KEY:
		o->tls_key = arg;
		return true;
	case CLI_ARG_INSECURE:
		o->insecure = true;
		return true;
	case CLI_ARG_ETCD_USER:
		o->etcd_user = arg;
		return true;
	case CLI_ARG_ETCD_PASSWORD_FILE:
		o->etcd_password_file = arg;
		return true;
	default:
		(void)getopt_refused(c, "(or set $PODMIG_ETCD_PASSWORD, or type it when asked)");
		return false;
	}
}

int cli_tls_check(const ClusterOptions *o)
{
	if (!!o->tls_cert != !!o->tls_key) {
		log_error("--tls-cert and --tls-key (or $PODMIG_TLS_CERT and $PODMIG_TLS_KEY) "
		          "go together");
		return -EINVAL;
	}
	const char *const files[] = { o->tls_ca, o->tls_cert, o->tls_key, o->etcd_password_file };
	for (size_t i = 0; i < ELEMENTSOF(files); i++)
		if (files[i] && access(files[i], R_OK) < 0)
			return log_error_errno(errno, "cannot read %s", files[i]);
	return 0;
}

/* Plaintext only where asked for: every endpoint https:// unless
 * --insecure, which a person at a terminal is reminded of. */
static int cli_insecure_check(const ClusterOptions *o)
{
	if (o->insecure) {
		if (isatty(STDERR_FILENO))
			log_warning("--insecure: etcd (over http://) and the agents may be reached "
			            "in plaintext; anyone on the network can read and forge what "
			            "is said");
		return 0;
	}
	for (const char *e = o->etcd; *e;) {
		size_t n = strcspn(e, ",");
		if (!startswith(e, "https://")) {
			log_error("--etcd: '%.*s' is plaintext; use https:// with --tls-ca (or "
			          "--insecure, or $PODMIG_INSECURE=1)",
			          (int)MIN(n, (size_t)200), e);
			return -EINVAL;
		}
		e += n + (e[n] == ',');
	}
	return 0;
}

int cli_options_check(const ClusterOptions *o)
{
	if (config_result < 0) {
		log_error("%s", error_detail_or(&config_error, config_result));
		return config_result;
	}
	const char *problem = key_prefix_problem(o->prefix);
	if (problem) {
		log_error("--prefix: '%s' is not a key prefix: %s",
		          cli_sanitize(strdupa(o->prefix)), problem);
		return -EINVAL;
	}
	if (!o->etcd_user && o->etcd_password_file) {
		log_error("--etcd-password-file needs --etcd-user (or $PODMIG_ETCD_USER)");
		return -EINVAL;
	}
	if (cli_insecure_check(o) < 0)
		return -EINVAL;
	return cli_tls_check(o);
}

RpcOptions cli_agent_rpc_options(const ClusterOptions *o)
{
	return (RpcOptions){
		.plaintext = o->insecure,
		.ca_file = o->tls_ca,
		.cert_file = o->tls_cert,
		.key_file = o->tls_key,
	};
}

const char *cli_tls_hint(const RpcOptions *ro, const RpcStatus *status)
{
	if (ro->plaintext || status->code != RPC_UNAVAILABLE)
		return "";
	return " (over TLS; if the server is up, it refused this client's certificate or "
	       "could not be verified with the CA: check --tls-ca, --tls-cert, --tls-key)";
}

const char *cli_etcd_error(const ClusterOptions *o, int error)
{
	static char buf[sizeof(((RpcStatus *)NULL)->message) + 256];
	const RpcStatus *st = etcd_last_error();
	if (!st || st->code == RPC_OK || !st->message[0])
		return error_to_string(error);
	RpcOptions ro = { .plaintext = !startswith(o->etcd, "https://") };
	snprintf(buf, sizeof buf, "%s%s", st->message, cli_tls_hint(&ro, st));
	return buf;
}

int cli_parse(int argc, char *argv[], const char *verb, const char *what, ClusterOptions *o)
{
	return cli_parse_full(argc, argv, &(CliVerb){ .name = verb, .what = what }, NULL, NULL, o);
}

/* Whether option `what` is one of verb's (its flags include `flag`). */
static bool verb_takes(const CliVerb *verb, CliParseFlags flag, const char *what)
{
	if (verb->flags & flag)
		return true;
	log_error("%s: %s is not an option of this command", verb->name, what);
	return false;
}

int cli_parse_full(int argc, char *argv[], const CliVerb *verb, char **ret_operands,
                   size_t *ret_n_operands, ClusterOptions *o)
{
	enum { ARG_TIMEOUT = 0x100, ARG_NO_WAIT };
	static const struct option options[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "watch", no_argument, NULL, 'w' },
		{ "timeout", required_argument, NULL, ARG_TIMEOUT },
		{ "no-wait", no_argument, NULL, ARG_NO_WAIT },
		CLI_CONNECT_LONG_OPTIONS,
		CLI_JSON_LONG_OPTION,
		{},
	};
	size_t n = 0;
	int c;

	cli_options_init(o);
	optind = 0;
	/* '-' in front: operands come in order, as code 1 */
	while ((c = getopt_long(argc, argv, "-hw", options, NULL)) >= 0) {
		const char *operand = c == 1 ? optarg : NULL;
		switch (c) {
		case 1:
			break;
		case 'h':
			if (verb->help)
				verb->help(verb->name);
			else
				cli_help(verb->name, verb->what, verb->flags);
			return 0;
		case 'w':
			if (!verb_takes(verb, CLI_PARSE_WATCH, "--watch"))
				return -EINVAL;
			o->watch = true;
			break;
		case ARG_TIMEOUT:
			if (!verb_takes(verb, CLI_PARSE_WATCH | CLI_PARSE_TIMEOUT, "--timeout"))
				return -EINVAL;
			if (safe_atod(optarg, &o->timeout_sec) < 0 || !(o->timeout_sec > 0) ||
			    o->timeout_sec > 31536000) {
				log_error("--timeout: '%s' is not a number of seconds in (0, "
				          "31536000]",
				          optarg);
				return -EINVAL;
			}
			break;
		case ARG_NO_WAIT:
			if (!verb_takes(verb, CLI_PARSE_NO_WAIT, "--no-wait"))
				return -EINVAL;
			o->no_wait = true;
			break;
		case CLI_ARG_JSON:
			if (verb->flags & CLI_PARSE_NO_JSON) {
				log_error("%s: --json is not an option of this command",
				          verb->name);
				return -EINVAL;
			}
			o->json = true;
			break;
		default:
			if (cli_cluster_option(c, optarg, o))
				break;
			return -EINVAL;
		}
		if (!operand)
			continue;
		if (n >= verb->max_operands) {
			log_error("%s: unexpected argument '%s'", verb->name, operand);
			return -EINVAL;
		}
		ret_operands[n++] = (char *)operand;
	}
	for (; optind < argc; optind++) { /* after "--" */
		if (n >= verb->max_operands) {
			log_error("%s: unexpected argument '%s'", verb->name, argv[optind]);
			return -EINVAL;
		}
		ret_operands[n++] = argv[optind];
	}
	if (ret_n_operands)
		*ret_n_operands = n;
	/* A one-shot table does not wait for anything: a limit on it would be silently ignored. */
	if ((verb->flags & CLI_PARSE_WATCH) && !o->watch && o->timeout_sec > 0) {
		log_error("%s: --timeout needs --watch", verb->name);
		return -EINVAL;
	}
	if (cli_options_check(o) < 0)
		return -EINVAL;
	return 1;
}

/* A line typed on the terminal without echo; -ENOTTY without one. */
static int password_prompt(const char *user, char **ret)
{
	_cleanup_fclose_ FILE *tty = fopen("/dev/tty", "r+e");
	_cleanup_free_ char *line = NULL;
	struct termios old, quiet;
	size_t cap = 0;

	if (!tty || tcgetattr(fileno(tty), &old) < 0)
		return -ENOTTY;
	quiet = old;
	quiet.c_lflag &= ~(tcflag_t)ECHO;
	fprintf(tty, "Password of etcd user %s: ", user);
	fflush(tty);
	if (tcsetattr(fileno(tty), TCSAFLUSH, &quiet) < 0)
		return -errno;
	ssize_t n = getline(&line, &cap, tty);
	(void)tcsetattr(fileno(tty), TCSAFLUSH, &old);
	fputc('\n', tty);
	if (n < 0)
		return -ENODATA;
	line[strcspn(line, "\n")] = 0;
	*ret = TAKE_PTR(line);
	return 0;
}

/* The etcd user's password: its file, $PODMIG_ETCD_PASSWORD, or the
 * terminal. */
static int cli_etcd_password(const ClusterOptions *o, char **ret)
{
	const char *env = env_or_null("PODMIG_ETCD_PASSWORD");
	int r;

	if (o->etcd_password_file) {
		if ((r = read_first_line(o->etcd_password_file, ret)) < 0)
			return log_error_errno(r, "cannot read the etcd password from %s",
			                       o->etcd_password_file);
		return 0;
	}
	if (env)
		return (*ret = strdup(env)) ? 0 : log_error_errno(-ENOMEM, "out of memory");
	if ((r = password_prompt(o->etcd_user, ret)) < 0)
		return log_error_errno(r,
		                       "etcd user %s: no password (--etcd-password-file, "
		                       "$PODMIG_ETCD_PASSWORD, or a terminal to ask on)",
		                       o->etcd_user);
	return 0;
}

static void password_erase(char **p)
{
	if (*p)
		explicit_bzero(*p, strlen(*p));
	free(*p);
}

int cli_etcd_connect(const ClusterOptions *o, EtcdClient **ret)
{
	_cleanup_(password_erase) char *password = NULL;
	int r;

	if (o->etcd_user && cli_etcd_password(o, &password) < 0)
		return -EACCES;
	rpc_global_init();
	/* The client takes a comma-separated list; the scheme says TLS or not. */
	bool tls = startswith(o->etcd, "https://");
	EtcdOptions eo = { .rpc = { .plaintext = !tls,
		                    .ca_file = tls ? o->tls_ca : NULL,
		                    .cert_file = tls ? o->tls_cert : NULL,
		                    .key_file = tls ? o->tls_key : NULL },
		           .username = o->etcd_user,
		           .password = password,
		           .request_timeout_usec = 3 * RPC_USEC_PER_SEC };
	r = etcd_client_new(o->etcd, &eo, ret);
	if (r == ETCD_AUTH_FAILED)
		return log_error_errno(r, "etcd at %s refused user %s or its password", o->etcd,
		                       o->etcd_user);
	if (r < 0)
		return log_error_errno(r, "cannot set up a client for etcd at %s", o->etcd);
	return 0;
}

int cli_nodes_load(const ClusterOptions *o, json_t **ret)
{
	_cleanup_(etcd_client_freep) EtcdClient *etcd = NULL;
	_cleanup_free_ char *prefix = NULL;
	EtcdKeyValue *kvs = NULL;
	size_t n = 0;
	int64_t rev;
	int r;

	if (asprintf(&prefix, "%snodes/", o->prefix) < 0)
		return log_error_errno(-ENOMEM, "out of memory");
	if ((r = cli_etcd_connect(o, &etcd)) < 0)
		return r;
	r = etcd_get_prefix(etcd, prefix, &kvs, &n, &rev);
	if (r < 0) {
		log_error("cannot read the cluster from etcd at %s: %s", o->etcd,
		          cli_etcd_error(o, r));
		return r;
	}

	_cleanup_json_ json_t *nodes = json_array();
	json_t *cur = NULL;
	for (size_t i = 0; nodes && i < n; i++) {
		const char *rest = kvs[i].key + strlen(prefix);
		const char *slash = strchr(rest, '/');
		if (!slash)
			continue;
		_cleanup_free_ char *name = strndup(rest, (size_t)(slash - rest));
		const char *what = slash + 1;
		if (!name || (!streq(what, "info") && !streq(what, "status")))
			continue;
		if (!cur || !streq(json_get_string(cur, "name"), name)) {
			cur = json_pack("{s:s, s:n, s:n}", "name", name, "info", "status");
			if (json_array_append_new(nodes, cur) < 0)
				break;
		}
		json_t *doc = json_loadb(kvs[i].value, kvs[i].value_size, 0, NULL);
		if (!json_is_object(doc)) {
			log_warning("%s: not a JSON object; ignoring it", kvs[i].key);
			json_decref(doc);
			continue;
		}
		json_object_set_new(cur, what, doc);
		json_object_set_new(cur, streq(what, "info") ? "_info_lease" : "_status_lease",
		                    json_integer(kvs[i].lease));
	}
	etcd_key_values_free(kvs, n);
	if (!nodes || cli_json_sanitize(nodes) < 0)
		return log_error_errno(-ENOMEM, "out of memory");
	/* A node's info (its agent's address above all) is trusted only while
	 * it lives under the lease the agent keeps alive, the one of its
	 * status: one written without a lease, or under another than its
	 * status's, is not the agent's and is dropped. */
	size_t k;
	json_array_foreach (nodes, k, cur) {
		int64_t info_lease = json_get_i64(cur, "_info_lease", 0);
		int64_t status_lease = json_get_i64(cur, "_status_lease", 0);
		if (!json_is_null(json_object_get(cur, "info")) &&
		    (info_lease == 0 || (status_lease != 0 && info_lease != status_lease))) {
			log_warning("node %s: its info is not under its lease; ignoring it",
			            json_get_string(cur, "name"));
			json_object_set_new(cur, "info", json_null());
		}
		json_object_del(cur, "_info_lease");
		json_object_del(cur, "_status_lease");
	}
	*ret = TAKE_PTR(nodes);
	return 0;
}

double cli_age_seconds(const json_t *status)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	int64_t now = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
	int64_t t = json_get_i64(status, "timestamp_usec", 0);
	return t > 0 ? (double)(now - t) / 1e6 : -1;
}

void cli_format_bytes(double v, char *buf, size_t size)
{
	static const char *const units[] = { "B", "K", "M", "G", "T" };
	unsigned u = 0;
	while (v >= 1024 && u + 1 < ELEMENTSOF(units)) {
		v /= 1024;
		u++;
	}
	snprintf(buf, size, u == 0 ? "%.0f%s" : "%.1f%s", v, units[u]);
}

char *cli_sanitize(char *s)
{
	for (unsigned char *p = (unsigned char *)s; p && *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			*p = '?';
		else if (*p == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f) {
			p[0] = p[1] = '?';
			p++;
		}
	return s;
}

static bool needs_sanitizing(const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p < 0x20 || *p == 0x7f || (*p == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f))
			return true;
	return false;
}

int cli_json_sanitize(json_t *doc)
{
	size_t i;
	const char *key;
	json_t *v;
	void *tmp;
	int r;

	if (json_is_string(doc)) {
		if (!needs_sanitizing(json_string_value(doc)))
			return 0;
		/* A string with an embedded NUL ends there. */
		_cleanup_free_ char *copy = strdup(json_string_value(doc));
		return copy && json_string_set(doc, cli_sanitize(copy)) == 0 ? 0 : -ENOMEM;
	}
	if (json_is_array(doc))
		json_array_foreach (doc, i, v)
			if ((r = cli_json_sanitize(v)) < 0)
				return r;
	if (json_is_object(doc))
		json_object_foreach_safe(doc, tmp, key, v)
		{
			if ((r = cli_json_sanitize(v)) < 0)
				return r;
			if (!needs_sanitizing(key))
				continue;
			_cleanup_free_ char *k = strdup(key);
			if (!k || json_object_set(doc, cli_sanitize(k), v) < 0 ||
			    json_object_del(doc, key) < 0)
				return -ENOMEM;
		}
	return 0;
}

int cli_print_json(json_t *doc)
{
	if (json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_REAL_PRECISION(9) | JSON_ENSURE_ASCII) <
	            0 ||
	    puts("") < 0 || fflush(stdout) != 0) {
		log_error("cannot write the output");
		return EXIT_FAILURE;
	}
	return EXIT_SUCCESS;
}
