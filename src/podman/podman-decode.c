/* podman-decode.c — Podman's JSON replies into podmig's structs. Pure
 * functions over outside bytes: anything that is not the documented shape is
 * -EBADMSG, never a crash (tests/fuzz/fuzz-podman-decode). */
#include <stdlib.h>
#include <string.h>

#include "json-util.h"
#include "podman.h"
#include "strutil.h"

static json_t *parse(const char *text, size_t size)
{
	/* JSON_ALLOW_NUL: a stray NUL is then a parse error of a string, not a
	 * truncation that could make a malformed reply look valid. */
	return json_loadb(text, size, JSON_ALLOW_NUL, NULL);
}

/* strdup of a member that must be a non-empty string. */
static int dup_required(const json_t *o, const char *key, char **ret)
{
	const char *s = json_get_string(o, key);
	if (!s || !*s)
		return -EBADMSG;
	char *d = strdup(s);
	if (!d)
		return -ENOMEM;
	*ret = d;
	return 0;
}

/* strdup of an optional string member: NULL when missing. */
static int dup_optional(const json_t *o, const char *key, char **ret)
{
	const char *s = json_get_string(o, key);
	if (!s) {
		*ret = NULL;
		return 0;
	}
	char *d = strdup(s);
	if (!d)
		return -ENOMEM;
	*ret = d;
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A {"k": "v"} object (or null) into a sorted "k=v" list. */
static int labels_decode(const json_t *o, char ***ret)
{
	if (o && !json_is_null(o) && !json_is_object(o))
		return -EBADMSG;
	size_t n = json_is_object(o) ? json_object_size(o) : 0;
	_cleanup_strv_free_ char **l = calloc(n + 1, sizeof(char *));
	if (!l)
		return -ENOMEM;
	size_t i = 0;
	const char *k;
	json_t *v;
	if (json_is_object(o))
		json_object_foreach ((json_t *)o, k, v) {
			if (!json_is_string(v))
				return -EBADMSG;
			if (asprintf(&l[i], "%s=%s", k, json_string_value(v)) < 0) {
				l[i] = NULL;
				return -ENOMEM;
			}
			i++;
		}
	qsort(l, i, sizeof(char *), cmp_str);
	*ret = TAKE_PTR(l);
	return 0;
}

void podman_container_done(PodmanContainer *ct)
{
	if (!ct)
		return;
	free(ct->id);
	free(ct->name);
	free(ct->image);
	free(ct->image_id);
	free(ct->state);
	strv_free(ct->labels);
	memset(ct, 0, sizeof(*ct));
}

void podman_containers_free(PodmanContainer *cts, size_t n)
{
	if (!cts)
		return;
	for (size_t i = 0; i < n; i++)
		podman_container_done(&cts[i]);
	free(cts);
}

static int container_decode(const json_t *o, PodmanContainer *ret)
{
	PodmanContainer ct = {};
	int r;

	if (!json_is_object(o))
		return -EBADMSG;
	const json_t *names = json_object_get(o, "Names");
	if (!json_is_array(names) || json_array_size(names) < 1 ||
	    !json_is_string(json_array_get(names, 0)))
		return -EBADMSG;
	ct.name = strdup(json_string_value(json_array_get(names, 0)));
	if (!ct.name)
		return -ENOMEM;
	if ((r = dup_required(o, "Id", &ct.id)) < 0 ||
	    (r = dup_optional(o, "Image", &ct.image)) < 0 ||
	    (r = dup_optional(o, "ImageID", &ct.image_id)) < 0 ||
	    (r = dup_required(o, "State", &ct.state)) < 0 ||
	    (r = labels_decode(json_object_get(o, "Labels"), &ct.labels)) < 0)
		goto fail;
	if (!ct.image && !(ct.image = strdup(""))) {
		r = -ENOMEM;
		goto fail;
	}
	ct.started_at = json_get_i64(o, "StartedAt", 0);
	if (ct.started_at < 0)
		ct.started_at = 0;
	ct.pid = (int)json_get_i64(o, "Pid", 0);
	if (ct.pid < 0)
		ct.pid = 0;
	/* "Created" is RFC 3339 text in libpod's list; "CreatedAt" is unused. */
	ct.created = 0;
	*ret = ct;
	return 0;
fail:
	podman_container_done(&ct);
	return r;
}

int podman_decode_containers(const char *text, size_t size, PodmanContainer **ret, size_t *ret_n)
{
	_cleanup_json_ json_t *root = parse(text, size);
	if (!json_is_array(root))
		return -EBADMSG;
	size_t n = json_array_size(root);
	PodmanContainer *cts = calloc(MAX(n, 1u), sizeof(PodmanContainer));
	if (!cts)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		int r = container_decode(json_array_get(root, i), &cts[i]);
		if (r < 0) {
			podman_containers_free(cts, i);
			return r;
		}
	}
	*ret = cts;
	*ret_n = n;
	return 0;
}

void podman_container_inspect_done(PodmanContainerInspect *i)
{
	if (!i)
		return;
	free(i->id);
	free(i->name);
	free(i->image);
	free(i->image_id);
	free(i->state);
	if (i->raw)
		json_decref(i->raw);
	memset(i, 0, sizeof(*i));
}

int podman_decode_inspect(const char *text, size_t size, PodmanContainerInspect *ret)
{
	_cleanup_json_ json_t *root = parse(text, size);
	PodmanContainerInspect in = {};
	int r;

	if (!json_is_object(root))
		return -EBADMSG;
	const json_t *state = json_object_get(root, "State");
	if (!json_is_object(state))
		return -EBADMSG;
	if ((r = dup_required(root, "Id", &in.id)) < 0 ||
	    (r = dup_required(root, "Name", &in.name)) < 0 ||
	    (r = dup_optional(root, "ImageName", &in.image)) < 0 ||
	    (r = dup_optional(root, "Image", &in.image_id)) < 0 ||
	    (r = dup_required(state, "Status", &in.state)) < 0)
		goto fail;
	if (!in.image && !(in.image = strdup(""))) {
		r = -ENOMEM;
		goto fail;
	}
	in.running = json_get_bool(state, "Running", false);
	in.checkpointed = json_get_bool(state, "Checkpointed", false);
	in.pid = (int)json_get_i64(state, "Pid", 0);
	in.exit_code = (int)json_get_i64(state, "ExitCode", 0);
	in.raw = TAKE_PTR(root);
	*ret = in;
	return 0;
fail:
	podman_container_inspect_done(&in);
	return r;
}

bool podman_inspect_is_named(const PodmanContainerInspect *ins, const char *name)
{
	const char *n = ins->name ?: "";
	return streq(n[0] == '/' ? n + 1 : n, name);
}

void podman_stats_free(PodmanStats *st, size_t n)
{
	if (!st)
		return;
	for (size_t i = 0; i < n; i++) {
		free(st[i].id);
		free(st[i].name);
	}
	free(st);
}

static int stats_decode(const json_t *o, PodmanStats *ret)
{
	PodmanStats s = {};
	int r;

	if (!json_is_object(o))
		return -EBADMSG;
	const json_t *cpu_nano = json_object_get(o, "CPUNano");
	if (!json_is_integer(cpu_nano) || !json_is_number(json_object_get(o, "MemUsage")))
		return -EBADMSG;
	if ((r = dup_required(o, "ContainerID", &s.id)) < 0 ||
	    (r = dup_optional(o, "Name", &s.name)) < 0) {
		free(s.id);
		return r;
	}
	s.cpu_percent = json_get_number(o, "CPU", 0);
	s.cpu_nano = json_get_u64(o, "CPUNano", 0);
	s.system_nano = json_get_u64(o, "SystemNano", 0);
	s.mem_usage = json_get_u64(o, "MemUsage", 0);
	s.mem_limit = json_get_u64(o, "MemLimit", 0);
	s.pids = json_get_u64(o, "PIDs", 0);
	s.block_read = json_get_u64(o, "BlockInput", 0);
	s.block_written = json_get_u64(o, "BlockOutput", 0);
	/* Network: null, or {"eth0": {"RxBytes": N, "TxBytes": N, ...}, ...} */
	const json_t *net = json_object_get(o, "Network");
	if (json_is_object(net)) {
		const char *k;
		json_t *v;
		json_object_foreach ((json_t *)net, k, v) {
			s.net_rx_bytes += json_get_u64(v, "RxBytes", 0);
			s.net_tx_bytes += json_get_u64(v, "TxBytes", 0);
		}
	}
	*ret = s;
	return 0;
}

int podman_decode_stats(const char *text, size_t size, PodmanStats **ret, size_t *ret_n)
{
	_cleanup_json_ json_t *root = parse(text, size);
	if (!json_is_object(root))
		return -EBADMSG;
	/* {"Error": null | {...}, "Stats": [...] | null} */
	const json_t *err = json_object_get(root, "Error");
	if (err && !json_is_null(err))
		return -EIO;
	const json_t *stats = json_object_get(root, "Stats");
	if (stats && !json_is_null(stats) && !json_is_array(stats))
		return -EBADMSG;
	if (!stats && !err)
		return -EBADMSG;
	size_t n = json_is_array(stats) ? json_array_size(stats) : 0;
	PodmanStats *st = calloc(MAX(n, 1u), sizeof(PodmanStats));
	if (!st)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		int r = stats_decode(json_array_get(stats, i), &st[i]);
		if (r < 0) {
			podman_stats_free(st, i);
			return r;
		}
	}
	*ret = st;
	*ret_n = n;
	return 0;
}

void podman_changes_free(PodmanChange *ch, size_t n)
{
	if (!ch)
		return;
	for (size_t i = 0; i < n; i++)
		free(ch[i].path);
	free(ch);
}

int podman_decode_changes(const char *text, size_t size, PodmanChange **ret, size_t *ret_n)
{
	/* [{"Path": "/etc", "Kind": 0}, ...] or null when nothing changed */
	_cleanup_json_ json_t *root =
	        json_loadb(text, size, JSON_ALLOW_NUL | JSON_DECODE_ANY, NULL);
	if (json_is_null(root)) {
		*ret = NULL;
		*ret_n = 0;
		return 0;
	}
	if (!json_is_array(root))
		return -EBADMSG;
	size_t n = json_array_size(root);
	PodmanChange *ch = calloc(MAX(n, 1u), sizeof(PodmanChange));
	if (!ch)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		const json_t *e = json_array_get(root, i);
		const char *path = json_string_value(json_object_get(e, "Path"));
		const json_t *kind = json_object_get(e, "Kind");
		json_int_t k = json_is_integer(kind) ? json_integer_value(kind) : -1;
		if (!path || path[0] != '/' || k < PODMAN_CHANGE_MODIFIED ||
		    k > PODMAN_CHANGE_DELETED) {
			podman_changes_free(ch, i);
			return -EBADMSG;
		}
		if (!(ch[i].path = strdup(path))) {
			podman_changes_free(ch, i);
			return -ENOMEM;
		}
		ch[i].kind = (PodmanChangeKind)k;
	}
	*ret = ch;
	*ret_n = n;
	return 0;
}

void podman_version_done(PodmanVersion *v)
{
	if (!v)
		return;
	free(v->version);
	free(v->api_version);
	free(v->os_arch);
	free(v->kernel);
	memset(v, 0, sizeof(*v));
}

int podman_decode_version(const char *text, size_t size, PodmanVersion *ret)
{
	_cleanup_json_ json_t *root = parse(text, size);
	PodmanVersion v = {};
	int r;

	if (!json_is_object(root))
		return -EBADMSG;
	/* The API version of libpod is in the "Podman Engine" component. */
	const char *api = NULL;
	const json_t *components = json_object_get(root, "Components");
	size_t i;
	json_t *comp;
	if (json_is_array(components))
		json_array_foreach (components, i, comp)
			if (streq_ptr(json_get_string(comp, "Name"), "Podman Engine"))
				api = json_get_string(json_object_get(comp, "Details"),
				                      "APIVersion");
	if ((r = dup_required(root, "Version", &v.version)) < 0 ||
	    (r = dup_optional(root, "KernelVersion", &v.kernel)) < 0)
		goto fail;
	v.api_version = strdup(api ?: v.version);
	const char *os = json_get_string(root, "Os"), *arch = json_get_string(root, "Arch");
	if (!v.api_version ||
	    asprintf(&v.os_arch, "%s/%s", os ?: "unknown", arch ?: "unknown") < 0) {
		v.os_arch = NULL;
		r = -ENOMEM;
		goto fail;
	}
	*ret = v;
	return 0;
fail:
	podman_version_done(&v);
	return r;
}

void podman_info_done(PodmanInfo *i)
{
	if (!i)
		return;
	free(i->hostname);
	free(i->kernel);
	free(i->oci_runtime);
	free(i->cgroup_version);
	free(i->graph_root);
	memset(i, 0, sizeof(*i));
}

int podman_decode_info(const char *text, size_t size, PodmanInfo *ret)
{
	_cleanup_json_ json_t *root = parse(text, size);
	PodmanInfo in = {};
	int r;

	if (!json_is_object(root))
		return -EBADMSG;
	const json_t *host = json_object_get(root, "host");
	if (!json_is_object(host) || !json_is_integer(json_object_get(host, "cpus")))
		return -EBADMSG;
	if ((r = dup_optional(host, "hostname", &in.hostname)) < 0 ||
	    (r = dup_optional(host, "kernel", &in.kernel)) < 0 ||
	    (r = dup_optional(json_object_get(host, "ociRuntime"), "name", &in.oci_runtime)) < 0 ||
	    (r = dup_optional(host, "cgroupVersion", &in.cgroup_version)) < 0 ||
	    (r = dup_optional(json_object_get(root, "store"), "graphRoot", &in.graph_root)) < 0)
		goto fail;
	uint64_t cpus = json_get_u64(host, "cpus", 0);
	in.cpus = cpus > 1u << 20 ? 0 : (unsigned)cpus;
	in.memory_total = json_get_u64(host, "memTotal", 0);
	in.memory_free = json_get_u64(host, "memFree", 0);
	*ret = in;
	return 0;
fail:
	podman_info_done(&in);
	return r;
}

char *podman_decode_error_message(const char *text, size_t size)
{
	_cleanup_json_ json_t *root = parse(text, size);
	const char *m = json_get_string(root, "message");
	if (!m)
		m = json_get_string(root, "cause");
	if (m && *m)
		return strdup(m);
	if (root || size == 0)
		return NULL;
	/* Not JSON: the text itself, if it is short printable text. */
	size_t n = MIN(size, (size_t)400);
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)text[i] < 0x20 && text[i] != '\n' && text[i] != '\t')
			return NULL;
	char *s = strndup(text, n);
	if (s) {
		size_t l = strlen(s);
		while (l > 0 && (s[l - 1] == '\n' || s[l - 1] == ' '))
			s[--l] = 0;
	}
	return s;
}

int podman_decode_log_stream(const char *data, size_t size, char **ret)
{
	return podman_decode_log_frames(data, size, ~0u, ret);
}

int podman_decode_log_frames(const char *data, size_t size, unsigned streams, char **ret)
{
	/* Frames: 1 byte stream (0-2, 3 = system error), 3 zero bytes, 4 bytes
	 * big-endian payload length, payload. */
	char *out = malloc(size + 1);
	if (!out)
		return -ENOMEM;
	size_t o = 0, p = 0;
	while (p < size) {
		if (size - p < 8) {
			free(out);
			return -EBADMSG;
		}
		const unsigned char *h = (const unsigned char *)data + p;
		size_t len =
		        ((size_t)h[4] << 24) | ((size_t)h[5] << 16) | ((size_t)h[6] << 8) | h[7];
		if (h[0] > 3 || len > size - p - 8) {
			free(out);
			return -EBADMSG;
		}
		if (streams & (1u << h[0])) {
			memcpy(out + o, data + p + 8, len);
			o += len;
		}
		p += 8 + len;
	}
	out[o] = 0;
	*ret = out;
	return 0;
}
