/* verb-policy.c — `podmig policy get|set|edit|reset`: the scheduling policy document at
 * <prefix>policy (docs/etcd-keys.md). Every change is checked by the scheduler library's own
 * parser before anything is written, and written with a compare-and-swap on the key's
 * mod_revision, so a concurrent change is never silently overwritten. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli-common.h"
#include "etcd.h"
#include "json-util.h"
#include "log.h"
#include "process-util.h"
#include "scheduler.h"
#include "strutil.h"
#include "verbs.h"

/* A document larger than this is no policy. */
#define POLICY_SIZE_MAX (1024 * 1024)

static void policy_help(const char *name)
{
	printf("Usage: podmig policy get [--json] [OPTIONS]\n"
	       "       podmig policy set KEY=VALUE... [OPTIONS]\n"
	       "       podmig policy edit [OPTIONS]\n"
	       "       podmig policy reset [OPTIONS]\n"
	       "\n"
	       "Shows or changes the scheduling policy stored in etcd at <prefix>policy; without\n"
	       "one, the defaults are in force.\n"
	       "\n"
	       "  get     The policy in force, as KEY=VALUE lines (--json: the document)\n"
	       "  set     Changes keys of the document, e.g. thresholds.cpu=70, mode=observe,\n"
	       "          migration_mode=page-server, cooldown.container_sec=60,\n"
	       "          nodes.node1.thresholds.memory=60; an empty\n"
	       "          value goes back to the default (for a node: the cluster-wide value).\n"
	       "          Every assignment is checked first; if one is wrong, nothing is written\n"
	       "  edit    Opens the document in $VISUAL, $EDITOR or vi; writes it if it is valid\n"
	       "  reset   Deletes the stored policy: the defaults are in force again\n"
	       "\n"
	       "Options:\n" CLI_CONNECT_HELP
	       "     --json             get: print the JSON document\n" CLI_TLS_HELP
	       "  -h --help             Show this help\n",
	       DEFAULT_ETCD, DEFAULT_PREFIX);
}

/* The policy as stored: the document's revision (0 if there is none) and its policy. */
typedef struct StoredPolicy {
	SchedPolicy policy;
	int64_t mod_revision;
	bool exists;
} StoredPolicy;

static int policy_key(const ClusterOptions *o, char **ret)
{
	if (asprintf(ret, "%spolicy", o->prefix) < 0) {
		*ret = NULL;
		return log_error_errno(-ENOMEM, "out of memory");
	}
	return 0;
}

/* Reads and checks the stored policy (the defaults if there is none); logs why not. */
static int policy_load(EtcdClient *etcd, const ClusterOptions *o, const char *key,
                       StoredPolicy *ret)
{
	_cleanup_free_ char *error = NULL;
	EtcdKeyValue kv = {};
	int r;

	r = etcd_get(etcd, key, &kv);
	if (r == ETCD_NOT_FOUND) {
		*ret = (StoredPolicy){};
		sched_policy_init(&ret->policy);
		return 0;
	}
	if (r < 0) {
		log_error("cannot read %s from etcd at %s: %s", key, o->etcd, cli_etcd_error(o, r));
		return r;
	}
	json_error_t je;
	_cleanup_json_ json_t *doc =
	        json_loadb(kv.value, kv.value_size, JSON_REJECT_DUPLICATES, &je);
	int64_t revision = kv.mod_revision;
	etcd_key_value_done(&kv);
	if (!doc) {
		log_error("%s in etcd is not JSON (line %d: %s); 'podmig policy reset' deletes it",
		          key, je.line, cli_sanitize(je.text));
		return -EBADMSG;
	}
	SchedPolicy p;
	if ((r = sched_policy_from_json(doc, &p, &error)) < 0) {
		log_error("%s in etcd is not a valid policy: %s; 'podmig policy edit' or 'reset' "
		          "fixes it",
		          key, error ? cli_sanitize(error) : strerror(-r));
		return r;
	}
	*ret = (StoredPolicy){ .policy = p, .mod_revision = revision, .exists = true };
	return 0;
}

/* Writes p if the key's mod_revision is still `expected` (0: the key must not exist).
 * ETCD_CAS_FAILED if it changed; other failures are logged. */
static int policy_store(EtcdClient *etcd, const ClusterOptions *o, const char *key,
                        const SchedPolicy *p, int64_t expected)
{
	_cleanup_json_ json_t *doc = NULL;
	_cleanup_free_ char *text = NULL;
	int r;

	if ((r = sched_policy_to_json(p, &doc)) < 0 || !(text = json_dumps(doc, JSON_INDENT(2))))
		return log_error_errno(r < 0 ? r : -ENOMEM, "cannot encode the policy");
	r = etcd_compare_and_swap(etcd, key, expected, text, 0, NULL);
	if (r < 0 && r != ETCD_CAS_FAILED)
		log_error("cannot write %s to etcd at %s: %s", key, o->etcd, cli_etcd_error(o, r));
	return r;
}

/* One line per value: the document flattened to dotted keys. */
static void print_flat(const json_t *v, const char *path)
{
	if (json_is_object(v)) {
		const char *k;
		json_t *m;
		json_object_foreach ((json_t *)v, k, m) {
			_cleanup_free_ char *sub = NULL;
			if (asprintf(&sub, "%s%s%s", path, *path ? "." : "", k) < 0)
				return;
			print_flat(m, sub);
		}
		return;
	}
	if (json_is_string(v))
		printf("%s=%s\n", path, json_string_value(v));
	else if (json_is_integer(v))
		printf("%s=%lld\n", path, (long long)json_integer_value(v));
	else if (json_is_real(v))
		printf("%s=%.9g\n", path, json_real_value(v));
}

static int policy_get(EtcdClient *etcd, const ClusterOptions *o, const char *key)
{
	_cleanup_json_ json_t *doc = NULL;
	StoredPolicy s;
	int r;

	if (policy_load(etcd, o, key, &s) < 0)
		return EXIT_FAILURE;
	r = sched_policy_to_json(&s.policy, &doc);
	sched_policy_done(&s.policy);
	if (r < 0) {
		log_error_errno(r, "cannot encode the policy");
		return EXIT_FAILURE;
	}
	if (o->json)
		return cli_print_json(doc);
	if (s.exists)
		printf("# %s (etcd revision %lld)\n", key, (long long)s.mod_revision);
	else
		printf("# the defaults: there is no %s in etcd\n", key);
	print_flat(doc, "");
	return fflush(stdout) == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

/* Applies every assignment to p; logs each that is wrong. -EINVAL if any was. */
static int apply_assignments(SchedPolicy *p, char *const *assignments, size_t n)
{
	int ret = 0;
	for (size_t i = 0; i < n; i++) {
		_cleanup_free_ char *error = NULL;
		int r = sched_policy_set(p, assignments[i], &error);
		if (r == -ENOMEM)
			return log_error_errno(r, "out of memory");
		if (r < 0) {
			log_error("%s", error ?: assignments[i]);
			ret = -EINVAL;
		}
	}
	return ret;
}

static int policy_set(EtcdClient *etcd, const ClusterOptions *o, const char *key,
                      char *const *assignments, size_t n)
{
	/* Once more after a lost compare-and-swap: someone else changed the policy between
	 * our read and our write; their change is kept and ours applied on top. */
	for (unsigned attempt = 0; attempt < 2; attempt++) {
		StoredPolicy s;
		if (policy_load(etcd, o, key, &s) < 0)
			return EXIT_FAILURE;
		int r = apply_assignments(&s.policy, assignments, n);
		if (r < 0) {
			sched_policy_done(&s.policy);
			log_error("nothing was written");
			return EXIT_FAILURE;
		}
		r = policy_store(etcd, o, key, &s.policy, s.exists ? s.mod_revision : 0);
		sched_policy_done(&s.policy);
		if (r >= 0)
			return EXIT_SUCCESS;
		if (r != ETCD_CAS_FAILED)
			return EXIT_FAILURE;
	}
	log_error("%s kept changing while it was being written; nothing was written, try again",
	          key);
	return EXIT_FAILURE;
}

static int read_file(const char *path, char **ret, size_t *ret_size)
{
	_cleanup_fclose_ FILE *f = fopen(path, "re");
	if (!f)
		return -errno;
	_cleanup_free_ char *buf = malloc(POLICY_SIZE_MAX + 1);
	if (!buf)
		return -ENOMEM;
	size_t n = fread(buf, 1, POLICY_SIZE_MAX + 1, f);
	if (ferror(f))
		return -EIO;
	if (n > POLICY_SIZE_MAX)
		return -EFBIG;
	buf[n] = 0;
	*ret = TAKE_PTR(buf);
	*ret_size = n;
	return 0;
}

/* The editor's command line: $VISUAL, $EDITOR or vi, split at blanks (no shell), then the
 * file. */
static char **editor_argv(const char *path)
{
	const char *e = getenv("VISUAL");
	if (!e || !*e)
		e = getenv("EDITOR");
	if (!e || !*e)
		e = "vi";
	_cleanup_free_ char *copy = strdup(e);
	if (!copy)
		return NULL;
	size_t n = 0;
	char **argv = calloc(strlen(e) / 2 + 3, sizeof(char *));
	if (!argv)
		return NULL;
	char *save = NULL;
	for (char *w = strtok_r(copy, " \t", &save); w; w = strtok_r(NULL, " \t", &save))
		if (!(argv[n++] = strdup(w))) {
			strv_free(argv);
			return NULL;
		}
	if (n == 0 && !(argv[n++] = strdup("vi"))) {
		strv_free(argv);
		return NULL;
	}
	if (!(argv[n++] = strdup(path))) {
		strv_free(argv);
		return NULL;
	}
	return argv;
}

static int policy_edit(EtcdClient *etcd, const ClusterOptions *o, const char *key)
{
	_cleanup_json_ json_t *before = NULL, *after = NULL;
	_cleanup_free_ char *error = NULL, *text = NULL, *path = NULL;
	_cleanup_strv_free_ char **argv = NULL;
	StoredPolicy s;
	size_t size = 0;
	int r, status;

	if (policy_load(etcd, o, key, &s) < 0)
		return EXIT_FAILURE;
	r = sched_policy_to_json(&s.policy, &before);
	sched_policy_done(&s.policy);
	if (r < 0) {
		log_error_errno(r, "cannot encode the policy");
		return EXIT_FAILURE;
	}

	const char *tmp = getenv("TMPDIR");
	if (asprintf(&path, "%s/podmig-policy-XXXXXX.json", tmp && *tmp ? tmp : "/tmp") < 0) {
		path = NULL;
		log_error_errno(-ENOMEM, "out of memory");
		return EXIT_FAILURE;
	}
	_cleanup_close_ int fd = mkostemps(path, strlen(".json"), O_CLOEXEC);
	if (fd < 0) {
		log_error_errno(errno, "cannot create a temporary file for the policy");
		return EXIT_FAILURE;
	}
	if (json_dumpfd(before, fd, JSON_INDENT(2)) < 0 || write(fd, "\n", 1) != 1 ||
	    close(TAKE_FD(fd)) < 0) {
		log_error_errno(errno ? errno : EIO, "cannot write %s", path);
		unlink(path);
		return EXIT_FAILURE;
	}

	if (!(argv = editor_argv(path))) {
		unlink(path);
		log_error_errno(-ENOMEM, "out of memory");
		return EXIT_FAILURE;
	}
	SpawnOptions so = { .inherit_stdin = true };
	r = spawn_wait(argv, &so, &status);
	if (r < 0 || status != 0) {
		if (r < 0)
			log_error_errno(r, "cannot run the editor %s", argv[0]);
		else
			log_error("the editor %s exited with status %d; nothing was written",
			          argv[0], status);
		unlink(path);
		return EXIT_FAILURE;
	}
	r = read_file(path, &text, &size);
	if (r < 0) {
		log_error_errno(r, "cannot read %s back", path);
		unlink(path);
		return EXIT_FAILURE;
	}
	json_error_t je;
	after = json_loadb(text, size, JSON_REJECT_DUPLICATES, &je);
	SchedPolicy p;
	if (!after) {
		log_error("the edited policy is not JSON (line %d: %s); nothing was written; "
		          "your text is in %s",
		          je.line, je.text, path);
		return EXIT_FAILURE;
	}
	if ((r = sched_policy_from_json(after, &p, &error)) < 0) {
		log_error("the edited policy is not valid: %s; nothing was written; your text is "
		          "in %s",
		          error ?: strerror(-r), path);
		return EXIT_FAILURE;
	}
	if (json_equal(before, after)) {
		sched_policy_done(&p);
		unlink(path);
		printf("no change\n");
		return EXIT_SUCCESS;
	}
	/* No retry here: writing this whole document over a concurrent change would undo it. */
	r = policy_store(etcd, o, key, &p, s.exists ? s.mod_revision : 0);
	sched_policy_done(&p);
	if (r == ETCD_CAS_FAILED) {
		log_error("%s changed in etcd while it was being edited; nothing was written; your "
		          "text is in %s",
		          key, path);
		return EXIT_FAILURE;
	}
	if (r < 0)
		return EXIT_FAILURE;
	unlink(path);
	return EXIT_SUCCESS;
}

static int policy_reset(EtcdClient *etcd, const ClusterOptions *o, const char *key)
{
	int64_t deleted = 0;
	int r = etcd_delete(etcd, key, &deleted);
	if (r < 0) {
		log_error("cannot delete %s in etcd at %s: %s", key, o->etcd, cli_etcd_error(o, r));
		return EXIT_FAILURE;
	}
	printf(deleted > 0 ? "%s deleted: the defaults are in force\n"
	                   : "there was no %s: the defaults are in force\n",
	       key);
	return EXIT_SUCCESS;
}

int verb_policy(int argc, char *argv[])
{
	const CliVerb verb = { .name = "policy",
		               .help = policy_help,
		               .max_operands = (size_t)argc };
	_cleanup_(etcd_client_freep) EtcdClient *etcd = NULL;
	_cleanup_free_ char *key = NULL;
	ClusterOptions o;

	/* the command, then set's KEY=VALUEs, in order */
	_cleanup_free_ char **operands = calloc((size_t)argc + 1, sizeof(char *));
	size_t n_operands = 0;
	if (!operands) {
		log_error_errno(-ENOMEM, "out of memory");
		return EXIT_FAILURE;
	}
	int r = cli_parse_full(argc, argv, &verb, operands, &n_operands, &o);
	if (r <= 0)
		return r < 0 ? 2 : EXIT_SUCCESS;
	if (n_operands == 0) {
		log_error("policy: get, set, edit or reset? (see 'podmig policy --help')");
		return 2;
	}
	const char *sub = operands[0];
	bool is_set = streq(sub, "set");
	if (!is_set && !streq(sub, "get") && !streq(sub, "edit") && !streq(sub, "reset")) {
		log_error("policy: unknown command '%s' (get, set, edit, reset)", sub);
		return 2;
	}
	if (!is_set && n_operands > 1) {
		log_error("policy %s: unexpected argument '%s'", sub, operands[1]);
		return 2;
	}
	if (o.json && !streq(sub, "get")) {
		log_error("policy %s: --json is for 'get'", sub);
		return 2;
	}
	if (is_set && n_operands == 1) {
		log_error("policy set: give at least one KEY=VALUE (see 'podmig policy --help')");
		return 2;
	}
	if (policy_key(&o, &key) < 0 || cli_etcd_connect(&o, &etcd) < 0)
		return EXIT_FAILURE;

	if (streq(sub, "get"))
		return policy_get(etcd, &o, key);
	if (is_set)
		return policy_set(etcd, &o, key, operands + 1, n_operands - 1);
	if (streq(sub, "edit"))
		return policy_edit(etcd, &o, key);
	return policy_reset(etcd, &o, key);
}
