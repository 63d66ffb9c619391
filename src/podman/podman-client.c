/* podman-client.c — HTTP to Podman's API socket with libcurl: one easy handle
 * per request (so threads never share one), replies either collected for the
 * JSON decoders or streamed to a caller's callback, request bodies either
 * fixed or streamed from a callback, and every failure turned into a negative
 * errno plus a message naming what it was about. */
#include <curl/curl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "error-util.h"
#include "json-util.h"
#include "log.h"
#include "podman.h"
#include "strutil.h"

/* Replies we decode are JSON documents; anything bigger is not one. */
#define REPLY_MAX (64u << 20)

struct PodmanClient {
	char *socket_path;
	uint64_t timeout_msec;
	const atomic_bool *cancel;
};

DEFINE_TRIVIAL_CLEANUP_FUNC(CURL *, curl_easy_cleanup);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct curl_slist *, curl_slist_free_all);
static inline void curl_freep(char **p)
{
	if (*p)
		curl_free(*p);
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_result;

static void curl_init_once(void)
{
	curl_init_result = curl_global_init(CURL_GLOBAL_NOTHING);
}

int podman_client_new(const char *socket_path, const PodmanClientOptions *options,
                      PodmanClient **ret)
{
	if (!socket_path || !*socket_path)
		return -EINVAL;
	pthread_once(&curl_once, curl_init_once);
	if (curl_init_result != CURLE_OK)
		return -EIO;
	PodmanClient *c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->socket_path = strdup(socket_path);
	if (!c->socket_path) {
		free(c);
		return -ENOMEM;
	}
	c->timeout_msec = options && options->timeout_msec ? options->timeout_msec : 60000;
	c->cancel = options ? options->cancel : NULL;
	*ret = c;
	return 0;
}

PodmanClient *podman_client_free(PodmanClient *c)
{
	if (!c)
		return NULL;
	free(c->socket_path);
	free(c);
	return NULL;
}

const char *podman_client_get_socket_path(const PodmanClient *c)
{
	return c->socket_path;
}

static int set_error(PodmanError *error, long status, int r, const char *fmt, ...) _printf_(4, 5);
static int set_error(PodmanError *error, long status, int r, const char *fmt, ...)
{
	if (error) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(error->message, sizeof(error->message), fmt, ap);
		va_end(ap);
		error->http_status = (int)status;
	}
	return r;
}

typedef struct Request {
	const char *method; /* GET, POST, DELETE */
	const char *path;   /* after PODMAN_API_PREFIX, escaped */
	const char *what;   /* "container 'x'": what messages are about */
	const char *content_type;
	const char *body; /* a fixed body ... */
	size_t body_size;
	PodmanReadFn read; /* ... or one streamed from here */
	void *read_userdata;
	PodmanWriteFn write; /* a 2xx reply goes here instead of being collected */
	void *write_userdata;
	bool streamed; /* no overall deadline */
} Request;

typedef struct Transfer {
	const Request *rq;
	CURL *curl;
	char *buf; /* collected reply (or error reply) */
	size_t size, cap;
	int callback_error; /* a callback's negative return */
	bool too_big;
} Transfer;

static size_t on_write(char *data, size_t size, size_t nmemb, void *userdata)
{
	Transfer *t = userdata;
	size_t n = size * nmemb;
	long status = 0;

	curl_easy_getinfo(t->curl, CURLINFO_RESPONSE_CODE, &status);
	if (t->rq->write && status >= 200 && status < 300) {
		int r = t->rq->write(data, n, t->rq->write_userdata);
		if (r < 0) {
			t->callback_error = r;
			return 0;
		}
		return n;
	}
	if (t->size + n > REPLY_MAX) {
		t->too_big = true;
		return 0;
	}
	if (t->size + n + 1 > t->cap) {
		size_t cap = MAX(t->cap * 2, t->size + n + 1);
		cap = MAX(cap, (size_t)4096);
		char *b = realloc(t->buf, cap);
		if (!b) {
			t->callback_error = -ENOMEM;
			return 0;
		}
		t->buf = b;
		t->cap = cap;
	}
	memcpy(t->buf + t->size, data, n);
	t->size += n;
	t->buf[t->size] = 0;
	return n;
}

static size_t on_read(char *buf, size_t size, size_t nitems, void *userdata)
{
	Transfer *t = userdata;
	ssize_t n = t->rq->read(buf, size * nitems, t->rq->read_userdata);
	if (n < 0) {
		t->callback_error = (int)n;
		return CURL_READFUNC_ABORT;
	}
	return (size_t)n;
}

/* libcurl calls it about once a second even while nothing moves. */
static int on_progress(void *userdata, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
	const PodmanClient *c = userdata;
	return atomic_load(c->cancel) ? 1 : 0;
}

static int errno_from_status(long status)
{
	switch (status) {
	case 400:
		return -EINVAL;
	case 404:
		return PODMAN_NOT_FOUND;
	case 409:
		return -EBUSY;
	default:
		return -EIO;
	}
}

/* Runs the request. On success (2xx, or 304 "nothing to do"), returns the
 * status; *ret_body (optional) gets the collected reply, NUL-terminated. */
static int request(PodmanClient *c, const Request *rq, char **ret_body, size_t *ret_size,
                   PodmanError *error)
{
	_cleanup_(curl_easy_cleanupp) CURL *curl = curl_easy_init();
	_cleanup_(curl_slist_free_allp) struct curl_slist *headers = NULL;
	_cleanup_free_ char *url = NULL;
	Transfer t = { .rq = rq };
	const char *what = rq->what ?: "Podman";
	long status = 0;
	int r;

	if (!curl)
		return -ENOMEM;
	t.curl = curl;
	if (asprintf(&url, "http://d%s%s", PODMAN_API_PREFIX, rq->path) < 0) {
		url = NULL;
		return -ENOMEM;
	}
	if (rq->content_type) {
		char h[128];
		snprintf(h, sizeof h, "Content-Type: %s", rq->content_type);
		struct curl_slist *l = curl_slist_append(headers, h);
		if (!l)
			return -ENOMEM;
		headers = l;
	}
	if (rq->read) {
		/* A body of unknown length; and no "Expect: 100-continue" pause. */
		struct curl_slist *l = curl_slist_append(headers, "Transfer-Encoding: chunked");
		if (!l)
			return -ENOMEM;
		headers = l;
		l = curl_slist_append(headers, "Expect:");
		if (!l)
			return -ENOMEM;
		headers = l;
	}

	if (c->cancel) {
		if (atomic_load(c->cancel))
			return set_error(error, 0, -ECANCELED, "%s: cancelled", what);
		curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, on_progress);
		curl_easy_setopt(curl, CURLOPT_XFERINFODATA, (void *)c);
		curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
	}
	curl_easy_setopt(curl, CURLOPT_UNIX_SOCKET_PATH, c->socket_path);
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http");
	curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
	if (!rq->streamed)
		curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, (long)c->timeout_msec);
	/* Checkpoint archives are hundreds of MiB: fewer, larger reads and
	 * writes on the socket than curl's 16 KiB / 64 KiB defaults. */
	curl_easy_setopt(curl, CURLOPT_BUFFERSIZE, 512L * 1024);
	curl_easy_setopt(curl, CURLOPT_UPLOAD_BUFFERSIZE, 1024L * 1024);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_write);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, &t);
	if (streq(rq->method, "POST")) {
		curl_easy_setopt(curl, CURLOPT_POST, 1L);
		if (rq->read) {
			curl_easy_setopt(curl, CURLOPT_READFUNCTION, on_read);
			curl_easy_setopt(curl, CURLOPT_READDATA, &t);
		} else {
			curl_easy_setopt(curl, CURLOPT_POSTFIELDS, rq->body ?: "");
			curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE,
			                 (curl_off_t)(rq->body ? rq->body_size : 0));
		}
	} else if (!streq(rq->method, "GET"))
		curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, rq->method);
	if (headers)
		curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);

	log_debug("podman: %s %s", rq->method, url);
	CURLcode cc = curl_easy_perform(curl);
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
	_cleanup_free_ char *body = TAKE_PTR(t.buf);
	size_t body_size = t.size;

	if (t.callback_error < 0) {
		r = t.callback_error;
		return set_error(error, status, r, "%s: transfer aborted: %s", what,
		                 error_to_string(r));
	}
	if (t.too_big)
		return set_error(error, status, -EBADMSG,
		                 "%s: Podman's reply is larger than %u MiB", what, REPLY_MAX >> 20);
	if (cc != CURLE_OK) {
		if (cc == CURLE_COULDNT_CONNECT || cc == CURLE_COULDNT_RESOLVE_HOST) {
			struct stat st;
			const char *why = stat(c->socket_path, &st) < 0 ? strerror(errno)
			                  : !S_ISSOCK(st.st_mode)       ? "not a socket"
			                                                : "connection refused";
			return set_error(error, 0, -ECONNREFUSED,
			                 "cannot connect to the Podman API socket %s: %s",
			                 c->socket_path, why);
		}
		r = cc == CURLE_OPERATION_TIMEDOUT    ? -ETIMEDOUT
		    : cc == CURLE_ABORTED_BY_CALLBACK ? -ECANCELED
		                                      : -EIO;
		return set_error(error, status, r, "%s: request to the Podman API at %s failed: %s",
		                 what, c->socket_path, curl_easy_strerror(cc));
	}
	if (status < 200 || (status >= 300 && status != 304)) {
		_cleanup_free_ char *m = podman_decode_error_message(body, body_size);
		return set_error(error, status, errno_from_status(status), "%s: %s (HTTP %ld)",
		                 what, m ?: "Podman gave no reason", status);
	}
	if (ret_body) {
		if (!body && !(body = strdup("")))
			return -ENOMEM;
		*ret_body = TAKE_PTR(body);
	}
	if (ret_size)
		*ret_size = body_size;
	return (int)status;
}

/* "container 'NAME'" and the escaped name for a path. */
static int name_escape(const char *name, char **ret)
{
	if (!name || !*name)
		return -EINVAL;
	char *e = curl_easy_escape(NULL, name, 0);
	if (!e)
		return -ENOMEM;
	char *d = strdup(e);
	curl_free(e);
	if (!d)
		return -ENOMEM;
	*ret = d;
	return 0;
}

static int decode_failed(PodmanError *error, const char *what, const char *endpoint, int r)
{
	return set_error(error, 200, r, "%s: unexpected reply from Podman's %s: %s", what, endpoint,
	                 r == -EBADMSG ? "not the documented JSON" : error_to_string(r));
}

/* ---- system ---- */

/* `method` on /containers/NAME[/action][query]; *ret_what (optional):
 * "[verb ]container 'NAME'", as the errors name it; *ret_body (optional):
 * the reply. */
static int container_request(PodmanClient *c, const char *method, const char *name,
                             const char *action, const char *query, const char *verb,
                             char **ret_what, char **ret_body, size_t *ret_size, PodmanError *error)
{
	_cleanup_free_ char *e = NULL, *path = NULL, *what = NULL;
	int r;

	if ((r = name_escape(name, &e)) < 0)
		return r;
	if (asprintf(&path, "/containers/%s%s%s%s", e, action ? "/" : "", action ?: "",
	             query ?: "") < 0 ||
	    asprintf(&what, "%s%scontainer '%s'", verb ?: "", verb ? " " : "", name) < 0)
		return -ENOMEM;
	Request rq = { .method = method, .path = path, .what = what };
	if ((r = request(c, &rq, ret_body, ret_size, error)) < 0)
		return r;
	if (ret_what)
		*ret_what = TAKE_PTR(what);
	return 0;
}

static int container_action(PodmanClient *c, const char *method, const char *name,
                            const char *action, const char *query, const char *verb,
                            PodmanError *error)
{
	return container_request(c, method, name, action, query, verb, NULL, NULL, NULL, error);
}

int podman_ping(PodmanClient *c, PodmanError *error)
{
	Request rq = { .method = "GET", .path = "/_ping", .what = "Podman ping" };
	int r = request(c, &rq, NULL, NULL, error);
	return r < 0 ? r : 0;
}

int podman_version(PodmanClient *c, PodmanVersion *ret, PodmanError *error)
{
	Request rq = { .method = "GET", .path = "/version", .what = "Podman version" };
	_cleanup_free_ char *body = NULL;
	size_t size;
	int r = request(c, &rq, &body, &size, error);
	if (r < 0)
		return r;
	r = podman_decode_version(body, size, ret);
	return r < 0 ? decode_failed(error, rq.what, "/version", r) : 0;
}

int podman_info(PodmanClient *c, PodmanInfo *ret, PodmanError *error)
{
	Request rq = { .method = "GET", .path = "/info", .what = "Podman info" };
	_cleanup_free_ char *body = NULL;
	size_t size;
	int r = request(c, &rq, &body, &size, error);
	if (r < 0)
		return r;
	r = podman_decode_info(body, size, ret);
	return r < 0 ? decode_failed(error, rq.what, "/info", r) : 0;
}

/* ---- containers ---- */

/* GET path, a list of containers. */
static int containers_list_at(PodmanClient *c, const char *path, PodmanContainer **ret,
                              size_t *ret_n, PodmanError *error)
{
	Request rq = { .method = "GET", .path = path, .what = "listing containers" };
	_cleanup_free_ char *body = NULL;
	size_t size;
	int r = request(c, &rq, &body, &size, error);
	if (r < 0)
		return r;
	r = podman_decode_containers(body, size, ret, ret_n);
	return r < 0 ? decode_failed(error, rq.what, "/containers/json", r) : 0;
}

int podman_containers_list(PodmanClient *c, bool all, PodmanContainer **ret, size_t *ret_n,
                           PodmanError *error)
{
	return containers_list_at(c, all ? "/containers/json?all=true" : "/containers/json", ret,
	                          ret_n, error);
}

int podman_container_inspect(PodmanClient *c, const char *name, PodmanContainerInspect *ret,
                             PodmanError *error)
{
	_cleanup_free_ char *what = NULL, *body = NULL;
	size_t size;
	int r = container_request(c, "GET", name, "json", NULL, NULL, &what, &body, &size, error);
	if (r < 0)
		return r;
	PodmanContainerInspect in;
	r = podman_decode_inspect(body, size, &in);
	if (r < 0)
		return decode_failed(error, what, "inspect", r);
	/* Podman also finds a container by a prefix of its ID: "b2" may be
	 * another container whose ID begins with b2. */
	if (!podman_inspect_is_named(&in, name)) {
		if (error)
			snprintf(error->message, sizeof error->message,
			         "no container named '%s' (Podman found container %.64s, %.253s, "
			         "by its ID)",
			         name, in.id, in.name);
		podman_container_inspect_done(&in);
		return PODMAN_NOT_FOUND;
	}
	*ret = in;
	return 0;
}

int podman_container_size_rw(PodmanClient *c, const char *name, uint64_t *ret, PodmanError *error)
{
	_cleanup_free_ char *what = NULL, *body = NULL;
	_cleanup_(podman_container_inspect_done) PodmanContainerInspect ins = {};
	size_t size;
	int r = container_request(c, "GET", name, "json", "?size=true", NULL, &what, &body, &size,
	                          error);
	if (r < 0)
		return r;
	if ((r = podman_decode_inspect(body, size, &ins)) < 0)
		return decode_failed(error, what, "inspect", r);
	json_t *v = json_object_get(ins.raw, "SizeRw");
	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return decode_failed(error, what, "inspect", -EBADMSG);
	*ret = (uint64_t)json_integer_value(v);
	return 0;
}

int podman_container_changes(PodmanClient *c, const char *name, PodmanChange **ret, size_t *ret_n,
                             PodmanError *error)
{
	_cleanup_free_ char *what = NULL, *body = NULL;
	size_t size;
	int r = container_request(c, "GET", name, "changes", "?diffType=container", "changes of",
	                          &what, &body, &size, error);
	if (r < 0)
		return r;
	r = podman_decode_changes(body, size, ret, ret_n);
	return r < 0 ? decode_failed(error, what, "changes", r) : 0;
}

/* GET path, the stats of containers. */
static int containers_stats_at(PodmanClient *c, const char *path, PodmanStats **ret, size_t *ret_n,
                               PodmanError *error)
{
	Request rq = { .method = "GET", .path = path, .what = "container stats" };
	_cleanup_free_ char *body = NULL;
	size_t size;
	int r = request(c, &rq, &body, &size, error);
	if (r < 0)
		return r;
	r = podman_decode_stats(body, size, ret, ret_n);
	if (r == -EIO) {
		_cleanup_free_ char *m = podman_decode_error_message(body, size);
		return set_error(error, 200, r, "container stats: Podman reported an error: %s",
		                 m ?: "(no message)");
	}
	return r < 0 ? decode_failed(error, rq.what, "/containers/stats", r) : 0;
}

int podman_containers_stats(PodmanClient *c, PodmanStats **ret, size_t *ret_n, PodmanError *error)
{
	return containers_stats_at(c, "/containers/stats?stream=false", ret, ret_n, error);
}

/* "<key>=<v1>&<key>=<v2>..." with each value escaped. */
static int query_repeat(const char *key, char *const *values, char **ret)
{
	_cleanup_free_ char *q = NULL;
	size_t len = 0;
	if (!values || !values[0])
		return -EINVAL;
	for (size_t i = 0; values[i]; i++) {
		_cleanup_free_ char *e = NULL;
		int r = name_escape(values[i], &e);
		if (r < 0)
			return r;
		size_t add = strlen(key) + strlen(e) + 2;
		char *n = realloc(q, len + add + 1);
		if (!n)
			return -ENOMEM;
		q = n;
		len += (size_t)sprintf(q + len, "%s%s=%s", i ? "&" : "", key, e);
	}
	*ret = TAKE_PTR(q);
	return 0;
}

static json_t *strv_to_json_array(char *const *l)
{
	json_t *a = json_array();
	if (!a)
		return NULL;
	for (size_t i = 0; l && l[i]; i++)
		if (json_array_append_new(a, json_string(l[i])) < 0) {
			json_decref(a);
			return NULL;
		}
	return a;
}

int podman_containers_list_ids(PodmanClient *c, char *const *ids, PodmanContainer **ret,
                               size_t *ret_n, PodmanError *error)
{
	_cleanup_json_ json_t *filters = NULL, *list = NULL;
	_cleanup_free_ char *text = NULL, *e = NULL, *path = NULL;
	int r;

	if (!ids || !ids[0])
		return -EINVAL;
	if (!(list = strv_to_json_array(ids)) || !(filters = json_pack("{s:O}", "id", list)) ||
	    !(text = json_dumps(filters, JSON_COMPACT)))
		return -ENOMEM;
	if ((r = name_escape(text, &e)) < 0)
		return r;
	if (asprintf(&path, "/containers/json?all=true&filters=%s", e) < 0) {
		path = NULL;
		return -ENOMEM;
	}
	return containers_list_at(c, path, ret, ret_n, error);
}

int podman_containers_stats_of(PodmanClient *c, char *const *names, PodmanStats **ret,
                               size_t *ret_n, PodmanError *error)
{
	_cleanup_free_ char *q = NULL, *path = NULL;
	int r;

	if ((r = query_repeat("containers", names, &q)) < 0)
		return r;
	if (asprintf(&path, "/containers/stats?stream=false&%s", q) < 0) {
		path = NULL;
		return -ENOMEM;
	}
	return containers_stats_at(c, path, ret, ret_n, error);
}

int podman_container_create(PodmanClient *c, const PodmanCreateSpec *spec, char **ret_id,
                            PodmanError *error)
{
	_cleanup_json_ json_t *o = NULL, *reply = NULL;
	_cleanup_free_ char *body = NULL, *what = NULL, *out = NULL;
	size_t size;
	int r;

	if (!spec || !spec->image || !*spec->image)
		return -EINVAL;
	if (asprintf(&what, "creating container '%s' from image '%s'", spec->name ?: "(unnamed)",
	             spec->image) < 0)
		return -ENOMEM;
	/* The libpod SpecGenerator: only the fields podmig sets. */
	o = json_pack("{s:s}", "image", spec->image);
	if (!o)
		return -ENOMEM;
	if (spec->name && json_object_set_new(o, "name", json_string(spec->name)) < 0)
		return -ENOMEM;
	if (spec->command &&
	    json_object_set_new(o, "command", strv_to_json_array(spec->command)) < 0)
		return -ENOMEM;
	if (spec->labels) {
		json_t *l = json_object();
		if (!l || json_object_set_new(o, "labels", l) < 0)
			return -ENOMEM;
		for (size_t i = 0; spec->labels[i]; i++) {
			_cleanup_free_ char *k = strdup(spec->labels[i]);
			if (!k)
				return -ENOMEM;
			char *eq = strchr(k, '=');
			if (!eq)
				return -EINVAL;
			*eq = 0;
			if (json_object_set_new(l, k, json_string(eq + 1)) < 0)
				return -ENOMEM;
		}
	}
	if (spec->network_mode &&
	    json_object_set_new(o, "netns", json_pack("{s:s}", "nsmode", spec->network_mode)) < 0)
		return -ENOMEM;
	body = json_dumps(o, JSON_COMPACT);
	if (!body)
		return -ENOMEM;

	Request rq = { .method = "POST",
		       .path = "/containers/create",
		       .what = what,
		       .content_type = "application/json",
		       .body = body,
		       .body_size = strlen(body) };
	r = request(c, &rq, &out, &size, error);
	if (r < 0)
		return r;
	reply = json_loadb(out, size, 0, NULL);
	const char *id = json_get_string(reply, "Id");
	if (!id || !*id)
		return decode_failed(error, what, "create", -EBADMSG);
	if (ret_id && !(*ret_id = strdup(id)))
		return -ENOMEM;
	return 0;
}

/* POST/DELETE on /containers/NAME/ACTION?QUERY, reply ignored. */
int podman_container_start(PodmanClient *c, const char *name, PodmanError *error)
{
	return container_action(c, "POST", name, "start", NULL, "starting", error);
}

int podman_container_stop(PodmanClient *c, const char *name, unsigned timeout_sec,
                          PodmanError *error)
{
	char q[32];
	snprintf(q, sizeof q, "?timeout=%u", timeout_sec);
	return container_action(c, "POST", name, "stop", q, "stopping", error);
}

int podman_container_remove(PodmanClient *c, const char *name, bool force, PodmanError *error)
{
	return container_action(c, "DELETE", name, NULL, force ? "?force=true&timeout=0" : NULL,
	                        "removing", error);
}

int podman_container_logs(PodmanClient *c, const char *name, unsigned tail, char **ret,
                          PodmanError *error)
{
	_cleanup_free_ char *e = NULL, *path = NULL, *what = NULL, *body = NULL;
	size_t size;
	int r;

	if ((r = name_escape(name, &e)) < 0)
		return r;
	if (asprintf(&path, "/containers/%s/logs?stdout=true&stderr=true&tail=%u", e, tail) < 0 ||
	    asprintf(&what, "logs of container '%s'", name) < 0)
		return -ENOMEM;
	Request rq = { .method = "GET", .path = path, .what = what };
	r = request(c, &rq, &body, &size, error);
	if (r < 0)
		return r;
	r = podman_decode_log_stream(body, size, ret);
	return r < 0 ? decode_failed(error, what, "logs", r) : 0;
}

static const char *truth(bool b)
{
	return b ? "true" : "false";
}

int podman_container_checkpoint(PodmanClient *c, const char *name,
                                const PodmanCheckpointOptions *options, PodmanWriteFn write,
                                void *userdata, PodmanError *error)
{
	static const PodmanCheckpointOptions defaults = {};
	const PodmanCheckpointOptions *o = options ?: &defaults;
	_cleanup_free_ char *e = NULL, *path = NULL, *what = NULL;
	int r;

	if (!write)
		return -EINVAL;
	if ((r = name_escape(name, &e)) < 0)
		return r;
	if (asprintf(&path,
	             "/containers/%s/checkpoint?export=true&leaveRunning=%s&tcpEstablished=%s"
	             "&fileLocks=%s&ignoreRootFS=%s&keep=%s",
	             e, truth(o->leave_running), truth(o->tcp_established), truth(o->file_locks),
	             truth(o->ignore_rootfs), truth(o->keep)) < 0 ||
	    asprintf(&what, "checkpointing container '%s'", name) < 0)
		return -ENOMEM;
	Request rq = { .method = "POST",
		       .path = path,
		       .what = what,
		       .write = write,
		       .write_userdata = userdata,
		       .streamed = true };
	r = request(c, &rq, NULL, NULL, error);
	return r < 0 ? r : 0;
}

int podman_container_restore(PodmanClient *c, const PodmanRestoreOptions *options,
                             PodmanReadFn read, void *userdata, char **ret_id, PodmanError *error)
{
	static const PodmanRestoreOptions defaults = {};
	const PodmanRestoreOptions *o = options ?: &defaults;
	_cleanup_(curl_freep) char *ename = NULL;
	_cleanup_free_ char *path = NULL, *what = NULL, *body = NULL;
	_cleanup_json_ json_t *reply = NULL;
	size_t size;
	int r;

	if (!read)
		return -EINVAL;
	if (o->name && !(ename = curl_easy_escape(NULL, o->name, 0)))
		return -ENOMEM;
	/* With import=true the path's name is not looked up; the archive says
	 * which container it is, and `name` renames it. */
	if (asprintf(&path,
	             "/containers/import/restore?import=true&tcpEstablished=%s&fileLocks=%s"
	             "&ignoreRootFS=%s&ignoreStaticIP=%s&ignoreStaticMAC=%s&keep=%s%s%s",
	             truth(o->tcp_established), truth(o->file_locks), truth(o->ignore_rootfs),
	             truth(o->ignore_static_ip), truth(o->ignore_static_mac), truth(o->keep),
	             ename ? "&name=" : "", ename ?: "") < 0 ||
	    asprintf(&what, "restoring container%s%s%s from a checkpoint archive",
	             o->name ? " '" : "", o->name ?: "", o->name ? "'" : "") < 0)
		return -ENOMEM;
	Request rq = { .method = "POST",
		       .path = path,
		       .what = what,
		       .content_type = "application/x-tar",
		       .read = read,
		       .read_userdata = userdata,
		       .streamed = true };
	r = request(c, &rq, &body, &size, error);
	if (r < 0)
		return r;
	reply = json_loadb(body, size, 0, NULL);
	const char *id = json_get_string(reply, "Id");
	if (!id || !*id)
		return decode_failed(error, what, "restore", -EBADMSG);
	if (ret_id && !(*ret_id = strdup(id)))
		return -ENOMEM;
	return 0;
}

int podman_container_restore_local(PodmanClient *c, const char *name,
                                   const PodmanRestoreOptions *options, PodmanError *error)
{
	static const PodmanRestoreOptions defaults = {};
	const PodmanRestoreOptions *o = options ?: &defaults;
	char q[160];

	snprintf(q, sizeof q, "?tcpEstablished=%s&fileLocks=%s&ignoreRootFS=%s&keep=%s",
	         truth(o->tcp_established), truth(o->file_locks), truth(o->ignore_rootfs),
	         truth(o->keep));
	return container_action(c, "POST", name, "restore", q, "restoring", error);
}

/* ---- images ---- */

int podman_image_exists(PodmanClient *c, const char *name, PodmanError *error)
{
	_cleanup_free_ char *e = NULL, *path = NULL, *what = NULL;
	int r;

	if ((r = name_escape(name, &e)) < 0)
		return r;
	if (asprintf(&path, "/images/%s/exists", e) < 0 || asprintf(&what, "image '%s'", name) < 0)
		return -ENOMEM;
	Request rq = { .method = "GET", .path = path, .what = what };
	r = request(c, &rq, NULL, NULL, error);
	if (r == PODMAN_NOT_FOUND)
		return 0;
	return r < 0 ? r : 1;
}

int podman_image_id(PodmanClient *c, const char *name, char **ret, PodmanError *error)
{
	_cleanup_free_ char *e = NULL, *path = NULL, *what = NULL, *body = NULL;
	size_t size;
	int r;

	if ((r = name_escape(name, &e)) < 0)
		return r;
	if (asprintf(&path, "/images/%s/json", e) < 0 || asprintf(&what, "image '%s'", name) < 0)
		return -ENOMEM;
	Request rq = { .method = "GET", .path = path, .what = what };
	if ((r = request(c, &rq, &body, &size, error)) < 0)
		return r;
	_cleanup_json_ json_t *reply = json_loadb(body, size, 0, NULL);
	const char *id = json_string_value(json_object_get(reply, "Id"));
	if (!id || !*id)
		return decode_failed(error, what, "image inspect", -EBADMSG);
	const char *hex = startswith(id, "sha256:");
	*ret = strdup(hex ?: id);
	return *ret ? 0 : -ENOMEM;
}

int podman_image_export(PodmanClient *c, const char *name, PodmanWriteFn write, void *userdata,
                        PodmanError *error)
{
	_cleanup_free_ char *e = NULL, *path = NULL, *what = NULL;
	int r;

	if (!write)
		return -EINVAL;
	if ((r = name_escape(name, &e)) < 0)
		return r;
	if (asprintf(&path, "/images/%s/get?format=docker-archive&compress=false", e) < 0 ||
	    asprintf(&what, "exporting image '%s'", name) < 0)
		return -ENOMEM;
	Request rq = { .method = "GET",
		       .path = path,
		       .what = what,
		       .write = write,
		       .write_userdata = userdata,
		       .streamed = true };
	r = request(c, &rq, NULL, NULL, error);
	return r < 0 ? r : 0;
}

int podman_image_load(PodmanClient *c, PodmanReadFn read, void *userdata, char ***ret_names,
                      PodmanError *error)
{
	_cleanup_free_ char *body = NULL;
	_cleanup_json_ json_t *reply = NULL;
	size_t size;
	int r;

	if (!read)
		return -EINVAL;
	Request rq = { .method = "POST",
		       .path = "/images/load",
		       .what = "loading an image archive",
		       .content_type = "application/x-tar",
		       .read = read,
		       .read_userdata = userdata,
		       .streamed = true };
	r = request(c, &rq, &body, &size, error);
	if (r < 0)
		return r;
	/* {"Names": ["localhost/x:latest", ...]} */
	reply = json_loadb(body, size, 0, NULL);
	const json_t *names = json_object_get(reply, "Names");
	if (!json_is_array(names))
		return decode_failed(error, rq.what, "/images/load", -EBADMSG);
	if (!ret_names)
		return 0;
	size_t n = json_array_size(names);
	_cleanup_strv_free_ char **l = calloc(n + 1, sizeof(char *));
	if (!l)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		const char *s = json_string_value(json_array_get(names, i));
		if (!s)
			return decode_failed(error, rq.what, "/images/load", -EBADMSG);
		if (!(l[i] = strdup(s)))
			return -ENOMEM;
	}
	*ret_names = TAKE_PTR(l);
	return 0;
}
