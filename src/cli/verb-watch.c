/* verb-watch.c — the live views: `podmig events` (migrations, decisions, nodes
 * coming and going, drains and policy changes as they happen, one line each)
 * and the --watch loop of `podmig nodes` and `podmig ps`. Both read etcd
 * through one watch on the prefix and stop after --timeout. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli-common.h"
#include "etcd.h"
#include "json-util.h"
#include "log.h"
#include "strutil.h"
#include "time-util.h"
#include "verbs.h"

/* Events closer together than this are drawn once. */
#define WATCH_COALESCE_USEC (200 * 1000ULL)

/* Absolute CLOCK_MONOTONIC deadline of --timeout, UINT64_MAX without one. */
static uint64_t watch_deadline(const ClusterOptions *o)
{
	return o->timeout_sec > 0 ? now_usec(CLOCK_MONOTONIC) + (uint64_t)(o->timeout_sec * 1e6)
	                          : UINT64_MAX;
}

/* A watch on the whole prefix from revision `from` (0: now); logs why not. */
static int watch_open(const ClusterOptions *o, EtcdClient *etcd, int64_t from, EtcdWatch **ret)
{
	int r = etcd_watch_prefix(etcd, o->prefix, from, ret);
	if (r < 0)
		log_error("cannot watch %s in etcd at %s: %s", o->prefix, o->etcd,
		          cli_etcd_error(o, r));
	return r;
}

/* Waits for the next events until `until` (CLOCK_MONOTONIC): their number, 0 once it has
 * come, or a negative errno (logged). A compacted watch is reopened from now on. */
static int watch_wait(const ClusterOptions *o, EtcdClient *etcd, EtcdWatch **w, uint64_t until,
                      EtcdEvent **ret)
{
	for (;;) {
		uint64_t now = now_usec(CLOCK_MONOTONIC);
		if (now >= until)
			return 0;
		int r = etcd_watch_next(*w, MIN(until - now, USEC_PER_SEC), ret);
		if (r == -ETIMEDOUT)
			continue;
		if (r == ETCD_COMPACTED) {
			*w = etcd_watch_free(*w);
			if ((r = watch_open(o, etcd, 0, w)) < 0)
				return r;
			continue;
		}
		if (r < 0)
			log_error("watching %s in etcd at %s failed: %s", o->prefix, o->etcd,
			          cli_etcd_error(o, r));
		return r;
	}
}

int cli_watch(const ClusterOptions *o, const char *title, CliRender render)
{
	_cleanup_(etcd_client_freep) EtcdClient *etcd = NULL;
	_cleanup_(etcd_watch_freep) EtcdWatch *w = NULL;
	_cleanup_free_ char *last = NULL;
	bool tty = isatty(STDOUT_FILENO);
	uint64_t deadline = watch_deadline(o);

	if (cli_etcd_connect(o, &etcd) < 0 || watch_open(o, etcd, 0, &w) < 0)
		return EXIT_FAILURE;
	for (;;) {
		_cleanup_free_ char *text = NULL;
		size_t size = 0;
		FILE *f = open_memstream(&text, &size);
		if (!f)
			return log_error_errno(-errno, "cannot draw"), EXIT_FAILURE;
		int r = render(o, f);
		if (fclose(f) != 0 || !text)
			r = -ENOMEM;
		if (r < 0)
			return EXIT_FAILURE;
		if (tty) {
			char when[32];
			time_t t = time(NULL);
			struct tm tm;
			strftime(when, sizeof when, "%H:%M:%S", localtime_r(&t, &tm));
			/* Home, clear the screen, then the view under a title line. */
			printf("\033[H\033[2J%s — %s (Ctrl-C to stop)\n\n%s", title, when, text);
		} else if (!streq_ptr(text, last)) {
			printf("%s%s", last ? "\n" : "", text);
		}
		if (fflush(stdout) != 0)
			return EXIT_FAILURE;
		free(last);
		last = TAKE_PTR(text);

		/* On a terminal the ages tick: redraw each second even without events. */
		EtcdEvent *events = NULL;
		r = watch_wait(o, etcd, &w,
		               tty ? MIN(deadline, now_usec(CLOCK_MONOTONIC) + USEC_PER_SEC)
		                   : deadline,
		               &events);
		if (r < 0)
			return EXIT_FAILURE;
		if (r > 0)
			etcd_events_free(events, (size_t)r);
		if (now_usec(CLOCK_MONOTONIC) >= deadline)
			return EXIT_SUCCESS;
		/* Let a burst (every agent's status each second) settle into one drawing. */
		uint64_t settle = MIN(deadline, now_usec(CLOCK_MONOTONIC) + WATCH_COALESCE_USEC);
		while ((r = watch_wait(o, etcd, &w, settle, &events)) > 0)
			etcd_events_free(events, (size_t)r);
		if (r < 0)
			return EXIT_FAILURE;
	}
}

/* ---- events ---- */

typedef struct EventsState {
	const ClusterOptions *o;
	bool samples;
	/* the last phase and byte count shown per migration id: {"id": "phase/bytes"} */
	json_t *shown;
} EventsState;

static void event_time(uint64_t usec, char *buf, size_t size)
{
	time_t t = (time_t)(usec / USEC_PER_SEC);
	struct tm tm;
	size_t n = strftime(buf, size, "%Y-%m-%dT%H:%M:%S", gmtime_r(&t, &tm));
	snprintf(buf + n, size - n, ".%03uZ", (unsigned)(usec / 1000 % 1000));
}

/* Prints one event: a JSON line with "time" and "type", or a line of text. */
static int event_emit(const EventsState *s, json_t *ev, const char *text)
{
	char when[40];
	event_time(now_usec(CLOCK_REALTIME), when, sizeof when);
	if (s->o->json) {
		json_object_set_new(ev, "time", json_string(when));
		if (json_dumpf(ev, stdout, JSON_COMPACT | JSON_REAL_PRECISION(6)) < 0)
			return -EIO;
		putchar('\n');
	} else
		printf("%s %-9s %s\n", when, json_get_string(ev, "type"), text);
	return fflush(stdout) == 0 ? 0 : -EIO;
}

static int event_migration(EventsState *s, json_t *rec)
{
	const char *id = json_get_string(rec, "id"), *phase = json_get_string(rec, "phase");
	if (!id || !phase)
		return 0;
	char key[96], text[512];
	snprintf(key, sizeof key, "%s/%lld", phase, (long long)json_get_i64(rec, "bytes", 0));
	if (streq_ptr(json_get_string(s->shown, id), key))
		return 0; /* nothing new to say: the same phase and byte count */
	json_object_set_new(s->shown, id, json_string(key));

	/* Bytes and downtime are known once the transfer and the restore are over. */
	char bytes[32] = "", down[32] = "";
	if (json_get_i64(rec, "bytes", 0) > 0) {
		char b[16];
		cli_format_bytes((double)json_get_i64(rec, "bytes", 0), b, sizeof b);
		snprintf(bytes, sizeof bytes, ", %s sent", b);
	}
	if (json_get_i64(rec, "downtime_ms", 0) > 0)
		snprintf(down, sizeof down, ", downtime %.2fs",
		         (double)json_get_i64(rec, "downtime_ms", 0) / 1000);
	const char *err = json_get_string(rec, "error");
	snprintf(text, sizeof text, "%s %s → %s: %s (%s%s%s)%s%s%s%s",
	         json_get_string(rec, "container") ?: "?", json_get_string(rec, "source") ?: "?",
	         json_get_string(rec, "target") ?: "?", phase,
	         json_get_string(rec, "reason") ?: "?", bytes, down,
	         json_get_string(rec, "decision") ? " decision " : "",
	         json_get_string(rec, "decision") ?: "", err ? ": " : "", err ?: "");
	_cleanup_json_ json_t *ev = json_pack("{s:s, s:O}", "type", "migration", "record", rec);
	return ev ? event_emit(s, ev, text) : -ENOMEM;
}

static int event_decision(EventsState *s, json_t *d)
{
	_cleanup_free_ char *moves = NULL;
	size_t i;
	json_t *m;
	json_array_foreach (json_object_get(d, "moves"), i, m) {
		char *more = NULL;
		if (asprintf(&more, "%s%s%s → %s", moves ?: "", moves ? ", " : "",
		             json_get_string(m, "container") ?: "?",
		             json_get_string(m, "target") ?: "?") < 0)
			return -ENOMEM;
		free(moves);
		moves = more;
	}
	char text[2048];
	snprintf(text, sizeof text, "%s: %s%s%s%s — %s", json_get_string(d, "node") ?: "?",
	         json_get_string(d, "outcome") ?: "?", moves ? " (" : "", moves ?: "",
	         moves ? ")" : "", json_get_string(d, "why") ?: "");
	_cleanup_json_ json_t *ev = json_pack("{s:s, s:O}", "type", "decision", "decision", d);
	return ev ? event_emit(s, ev, text) : -ENOMEM;
}

static int event_sample(EventsState *s, const char *node, json_t *st)
{
	const json_t *cpu = json_object_get(st, "cpu"), *mem = json_object_get(st, "memory");
	const json_t *cts = json_object_get(st, "containers");
	_cleanup_json_ json_t *names = json_array();
	size_t i;
	json_t *c;
	json_array_foreach (cts, i, c)
		if (json_get_string(c, "name"))
			json_array_append_new(names, json_string(json_get_string(c, "name")));
	char text[256];
	snprintf(text, sizeof text, "%s: cpu %.1f%%, memory %.1f%%, %zu container(s)", node,
	         json_get_number(cpu, "percent", 0), json_get_number(mem, "percent", 0),
	         json_array_size(names));
	_cleanup_json_ json_t *ev =
	        json_pack("{s:s, s:s, s:I, s:f, s:f, s:O}", "type", "sample", "node", node,
	                  "timestamp_usec", (json_int_t)json_get_i64(st, "timestamp_usec", 0),
	                  "cpu_percent", json_get_number(cpu, "percent", 0), "memory_percent",
	                  json_get_number(mem, "percent", 0), "containers", names);
	return ev ? event_emit(s, ev, text) : -ENOMEM;
}

/* One etcd event under the prefix: printed if it is one of ours. */
static int event_handle(EventsState *s, const EtcdEvent *e)
{
	const char *key = e->kv.key + strlen(s->o->prefix);
	bool put = e->type == ETCD_EVENT_PUT;
	char text[512];

	if (startswith(key, "migrations/") || startswith(key, "decisions/")) {
		if (!put)
			return 0; /* retention deletes old ones: not news */
		_cleanup_json_ json_t *doc = json_loadb(e->kv.value, e->kv.value_size, 0, NULL);
		if (!json_is_object(doc))
			return 0;
		return startswith(key, "migrations/") ? event_migration(s, doc)
		                                      : event_decision(s, doc);
	}
	if (startswith(key, "nodes/")) {
		const char *rest = key + strlen("nodes/"), *slash = strchr(rest, '/');
		if (!slash)
			return 0;
		_cleanup_free_ char *node = strndup(rest, (size_t)(slash - rest));
		if (!node)
			return -ENOMEM;
		if (streq(slash + 1, "status") && put && s->samples) {
			_cleanup_json_ json_t *st =
			        json_loadb(e->kv.value, e->kv.value_size, 0, NULL);
			return json_is_object(st) ? event_sample(s, node, st) : 0;
		}
		if (!streq(slash + 1, "info"))
			return 0;
		snprintf(text, sizeof text, "%s %s", node,
		         put ? "is up (agent published)" : "left");
		_cleanup_json_ json_t *ev =
		        json_pack("{s:s, s:s, s:b}", "type", "node", "node", node, "up", put);
		return ev ? event_emit(s, ev, text) : -ENOMEM;
	}
	if (startswith(key, "drain/")) {
		const char *node = key + strlen("drain/");
		snprintf(text, sizeof text, "%s %s", node, put ? "drained" : "undrained");
		_cleanup_json_ json_t *ev =
		        json_pack("{s:s, s:s, s:b}", "type", "drain", "node", node, "drained", put);
		return ev ? event_emit(s, ev, text) : -ENOMEM;
	}
	if (streq(key, "policy")) {
		snprintf(text, sizeof text, "%s", put ? "changed" : "deleted (defaults apply)");
		_cleanup_json_ json_t *ev = json_pack("{s:s, s:b}", "type", "policy", "set", put);
		if (ev && put) {
			json_t *doc = json_loadb(e->kv.value, e->kv.value_size, 0, NULL);
			json_object_set_new(ev, "policy", doc ?: json_null());
		}
		return ev ? event_emit(s, ev, text) : -ENOMEM;
	}
	return 0;
}

static void events_help(void)
{
	printf("Usage: podmig events [OPTIONS]\n"
	       "\n"
	       "Prints what happens in the cluster as it happens, one line each: migrations\n"
	       "(each phase, with bytes sent and downtime), the scheduler's decisions (node,\n"
	       "outcome, moves, why), nodes coming and going, drains and policy changes.\n"
	       "Read from an etcd watch; runs until Ctrl-C or --timeout.\n"
	       "\n"
	       "Options:\n" CLI_CONNECT_HELP
	       "     --json             One JSON object per line: \"time\", \"type\" (migration,\n"
	       "                        decision, node, drain, policy, sample) and the document\n"
	       "     --samples          Also each node status sample (CPU and memory percent)\n"
	       "     --timeout SECONDS  Stop after this long (default: until Ctrl-C)\n" CLI_TLS_HELP
	       "  -h --help             Show this help\n",
	       DEFAULT_ETCD, DEFAULT_PREFIX);
}

int verb_events(int argc, char *argv[])
{
	_cleanup_(etcd_client_freep) EtcdClient *etcd = NULL;
	_cleanup_(etcd_watch_freep) EtcdWatch *w = NULL;
	_cleanup_json_ json_t *shown = json_object();
	EventsState s = { .shown = shown };
	ClusterOptions o;
	int r;

	/* --samples is ours; the rest are the common options with --timeout. */
	char *args[64];
	int n = 0;
	for (int i = 0; i < argc; i++) {
		if (streq(argv[i], "--samples"))
			s.samples = true;
		else if (streq(argv[i], "--help") || streq(argv[i], "-h")) {
			events_help();
			return EXIT_SUCCESS;
		} else if (n < (int)ELEMENTSOF(args) - 1)
			args[n++] = argv[i];
		else {
			log_error("events: too many arguments");
			return 2;
		}
	}
	args[n] = NULL;
	static const CliVerb verb = { .name = "events", .flags = CLI_PARSE_TIMEOUT };
	r = cli_parse_full(n, args, &verb, NULL, NULL, &o);
	if (r <= 0)
		return r < 0 ? 2 : EXIT_SUCCESS;
	s.o = &o;
	if (!shown)
		return EXIT_FAILURE;
	if (cli_etcd_connect(&o, &etcd) < 0 || watch_open(&o, etcd, 0, &w) < 0)
		return EXIT_FAILURE;
	uint64_t deadline = watch_deadline(&o);
	for (;;) {
		EtcdEvent *events = NULL;
		r = watch_wait(&o, etcd, &w, deadline, &events);
		if (r <= 0)
			return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
		int k = 0;
		for (int i = 0; i < r && k >= 0; i++)
			k = event_handle(&s, &events[i]);
		etcd_events_free(events, (size_t)r);
		if (k < 0) {
			log_error_errno(k, "cannot write the events");
			return EXIT_FAILURE;
		}
	}
}
