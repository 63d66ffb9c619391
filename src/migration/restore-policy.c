/* restore-policy.c — the restore policy's rules over a checkpoint's
 * spec.dump and config.dump (see restore-policy.h). */
#include "restore-policy.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "strutil.h"

#define refuse(why, ...) error_detail_set_errno(why, -EPERM, __VA_ARGS__)

static const char *const default_caps[] = {
	"CAP_CHOWN",   "CAP_DAC_OVERRIDE",     "CAP_FOWNER",     "CAP_FSETID",
	"CAP_KILL",    "CAP_NET_BIND_SERVICE", "CAP_SETFCAP",    "CAP_SETGID",
	"CAP_SETPCAP", "CAP_SETUID",           "CAP_SYS_CHROOT",
};

/* Podman's storage: a container's own files live under
 * <root>/overlay-containers/<id>/userdata. */
static const char *const storage_roots[] = { "/var/lib/containers/storage",
	                                     "/run/containers/storage" };
#define VOLUMES_DIR "/var/lib/containers/storage/volumes/"

static const char *const kernel_fs[] = { "proc",   "sysfs",  "tmpfs",  "devpts",
	                                 "mqueue", "cgroup", "cgroup2" };

void restore_policy_done(RestorePolicy *p)
{
	strv_free(p->bind_allow);
	strv_free(p->caps_allow);
	*p = (RestorePolicy){};
}

static bool in_list(const char *s, const char *const *l, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (streq(s, l[i]))
			return true;
	return false;
}

/* An absolute path with no empty, "." or ".." component (a trailing '/'
 * aside). */
static bool path_clean(const char *p)
{
	if (*p != '/')
		return false;
	for (const char *c = p + 1; *c;) {
		size_t n = strcspn(c, "/");
		if (n == 0 && c[0] == '/')
			return false;
		if ((n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.'))
			return false;
		c += n;
		if (*c == '/')
			c++;
	}
	return true;
}

int restore_policy_allow(RestorePolicy *p, const char *what)
{
	if (streq(what, "privileged"))
		p->allow_privileged = true;
	else if (streq(what, "devices"))
		p->allow_devices = true;
	else if (streq(what, "host-namespaces"))
		p->allow_host_namespaces = true;
	else if (streq(what, "setuid"))
		p->allow_setuid = true;
	else if (startswith(what, "CAP_") && what[4]) {
		for (const char *c = what + 4; *c; c++)
			if (!((*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') || *c == '_'))
				return -EINVAL;
		return strv_push(&p->caps_allow, what);
	} else
		return -EINVAL;
	return 0;
}

int restore_policy_allow_bind(RestorePolicy *p, const char *dir)
{
	if (!path_clean(dir) || streq(dir, "/"))
		return -EINVAL;
	_cleanup_free_ char *d = strdup(dir);
	if (!d)
		return -ENOMEM;
	size_t n = strlen(d);
	if (d[n - 1] == '/')
		d[n - 1] = 0;
	return strv_push(&p->bind_allow, d);
}

/* `path` is `dir` or below it. */
static bool under(const char *path, const char *dir)
{
	const char *rest = startswith(path, dir);
	return rest && (!*rest || *rest == '/');
}

/* A file or directory of Podman's own for container `id`. */
static bool podman_own(const char *path, const char *id)
{
	if (!id || !path_clean(path))
		return false;
	for (size_t i = 0; i < ELEMENTSOF(storage_roots); i++) {
		char dir[256];
		snprintf(dir, sizeof dir, "%s/overlay-containers/%s/userdata", storage_roots[i],
		         id);
		if (under(path, dir))
			return true;
	}
	return false;
}

static bool named_volume(const char *path)
{
	const char *rest = startswith(path, VOLUMES_DIR);
	if (!rest || !path_clean(path))
		return false;
	const char *slash = strchr(rest, '/');
	return slash && slash > rest && streq(slash, "/_data");
}

static bool bind_allowed(const RestorePolicy *p, const char *source, const char *id)
{
	if (podman_own(source, id) || named_volume(source))
		return true;
	if (!path_clean(source))
		return false;
	for (char **d = p->bind_allow; d && *d; d++)
		if (under(source, *d))
			return true;
	return false;
}

static bool has_option(const json_t *options, const char *o)
{
	size_t i;
	json_t *v;
	json_array_foreach (options, i, v)
		if (streq_ptr(json_string_value(v), o))
			return true;
	return false;
}

static int check_mounts(const RestorePolicy *p, const json_t *mounts, const char *id,
                        const char *what, ErrorDetail *why)
{
	size_t i;
	json_t *m;

	if (mounts && !json_is_array(mounts))
		return refuse(why, "%s: mounts is not a list", what);
	json_array_foreach (mounts, i, m) {
		const char *type = json_string_value(json_object_get(m, "type"));
		const char *source = json_string_value(json_object_get(m, "source"));
		const char *dest = json_string_value(json_object_get(m, "destination"));
		const json_t *options = json_object_get(m, "options");
		if (!dest)
			dest = "?";
		bool bind = streq_ptr(type, "bind") || has_option(options, "bind") ||
		            has_option(options, "rbind");
		if (bind) {
			if (!source || !bind_allowed(p, source, id))
				return refuse(why,
				              "%s: host bind mount %.200s -> %.200s is outside the "
				              "allowed directories (--restore-allow-bind)",
				              what, source ?: "(none)", dest);
			continue;
		}
		if (!type || !in_list(type, kernel_fs, ELEMENTSOF(kernel_fs)))
			return refuse(why, "%s: a mount of type '%.40s' on %.200s", what,
			              type ?: "(none)", dest);
	}
	return 0;
}

static int check_caps(const RestorePolicy *p, const json_t *caps, const char *what,
                      ErrorDetail *why)
{
	const char *set;
	json_t *list;

	if (!caps)
		return 0;
	if (!json_is_object(caps))
		return refuse(why, "%s: capabilities is not an object", what);
	json_object_foreach ((json_t *)caps, set, list) {
		size_t i;
		json_t *v;
		if (!json_is_array(list))
			return refuse(why, "%s: capabilities.%s is not a list", what, set);
		json_array_foreach (list, i, v) {
			const char *cap = json_string_value(v);
			if (!cap)
				return refuse(why, "%s: capabilities.%s holds a non-string", what,
				              set);
			if (in_list(cap, default_caps, ELEMENTSOF(default_caps)) ||
			    in_list(cap, (const char *const *)p->caps_allow,
			            strv_length(p->caps_allow)))
				continue;
			return refuse(why,
			              "%s: capability %.40s (%s set) is beyond the default set and "
			              "not allowed by the restore policy",
			              what, cap, set);
		}
	}
	return 0;
}

static int check_namespaces(const json_t *nss, const char *what, ErrorDetail *why)
{
	static const char *const required[] = { "pid", "ipc", "uts", "mount", "network" };
	size_t i;
	json_t *ns;

	if (!json_is_array(nss))
		return refuse(why, "%s: no namespace list (the host's namespaces)", what);
	for (size_t k = 0; k < ELEMENTSOF(required); k++) {
		bool found = false;
		json_array_foreach (nss, i, ns) {
			const char *type = json_string_value(json_object_get(ns, "type"));
			const char *path = json_string_value(json_object_get(ns, "path"));
			if (!streq_ptr(type, required[k]))
				continue;
			found = true;
			if (!path || !*path)
				continue;
			/* A path joins an existing namespace: only Podman's
			 * network namespaces. */
			const char *name = startswith(path, "/run/netns/");
			if (!streq(type, "network") || !name || !*name || strchr(name, '/') ||
			    streq(name, ".") || streq(name, ".."))
				return refuse(why,
				              "%s: joins the %s namespace at %.200s; the restore "
				              "policy does not allow host namespaces",
				              what, type, path);
		}
		if (!found)
			return refuse(why,
			              "%s: shares the host's %s namespace; the restore policy does "
			              "not allow host namespaces",
			              what, required[k]);
	}
	return 0;
}

static int check_devices(const json_t *linux_, const char *what, ErrorDetail *why)
{
	const json_t *devices = json_object_get(linux_, "devices");
	if (json_is_array(devices) && json_array_size(devices) > 0) {
		const char *path =
		        json_string_value(json_object_get(json_array_get(devices, 0), "path"));
		return refuse(why, "%s: device %.200s; the restore policy does not allow devices",
		              what, path ?: "?");
	}
	size_t i;
	json_t *rule;
	json_array_foreach (json_object_get(json_object_get(linux_, "resources"), "devices"), i,
	                    rule)
		if (json_is_true(json_object_get(rule, "allow")))
			return refuse(why,
			              "%s: a device cgroup rule allows access to devices; the "
			              "restore policy does not allow devices",
			              what);
	return 0;
}

static int check_spec(const RestorePolicy *p, const json_t *spec, const char *id, const char *what,
                      ErrorDetail *why)
{
	int r;

	if (!json_is_object(spec))
		return refuse(why, "%s: not an OCI runtime spec", what);
	const json_t *hooks = json_object_get(spec, "hooks");
	if (hooks && !(json_is_object(hooks) && json_object_size(hooks) == 0) &&
	    !json_is_null(hooks))
		return refuse(why, "%s: OCI hooks (they would run on the host)", what);
	if ((r = check_mounts(p, json_object_get(spec, "mounts"), id, what, why)) < 0)
		return r;
	/* A privileged container has every capability and device. */
	const json_t *process = json_object_get(spec, "process");
	if (!p->allow_privileged &&
	    (r = check_caps(p, json_object_get(process, "capabilities"), what, why)) < 0)
		return r;
	const json_t *linux_ = json_object_get(spec, "linux");
	if (!p->allow_privileged && !p->allow_devices && (r = check_devices(linux_, what, why)) < 0)
		return r;
	if (!p->allow_host_namespaces &&
	    (r = check_namespaces(json_object_get(linux_, "namespaces"), what, why)) < 0)
		return r;
	return 0;
}

int restore_policy_check(const RestorePolicy *p, const json_t *spec, const json_t *config,
                         const char *image, ErrorDetail *why)
{
	int r;

	if (!json_is_object(config))
		return refuse(why, "config.dump is not Podman's container config");
	/* Podman's storage names a container's directories by its 64-hex id. */
	const char *id = json_string_value(json_object_get(config, "id"));
	if (!id || strlen(id) != 64 || strspn(id, "0123456789abcdef") != 64)
		return refuse(why, "config.dump: the container id is not 64 hex digits");
	const char *img = json_string_value(json_object_get(config, "rootfsImageName"));
	if (image && !streq_ptr(img, image))
		return refuse(why,
		              "config.dump: image %.200s, but the migration record names %.200s",
		              img ?: "(none)", image);
	if (json_is_true(json_object_get(config, "privileged")) && !p->allow_privileged)
		return refuse(why,
		              "config.dump: a privileged container; the restore policy does not "
		              "allow it");
	static const char *const own_paths[] = { "logPath",   "conmonPidFile", "pid_file",
		                                 "staticDir", "ShmDir",        "secretsPath" };
	for (size_t i = 0; i < ELEMENTSOF(own_paths); i++) {
		const json_t *v = json_object_get(config, own_paths[i]);
		const char *s = json_string_value(v);
		if (!v || json_is_null(v) || (s && !*s))
			continue;
		if (!s || !podman_own(s, id))
			return refuse(why,
			              "config.dump: %s %.200s is not one of the container's own "
			              "files",
			              own_paths[i], s ?: "(not a string)");
	}
	const char *runtime = json_string_value(json_object_get(config, "runtime"));
	if (runtime && strchr(runtime, '/'))
		return refuse(why, "config.dump: runtime %.200s is a path, not a runtime's name",
		              runtime);
	if ((r = check_spec(p, spec, id, "spec.dump", why)) < 0)
		return r;
	const json_t *inner = json_object_get(config, "spec");
	if (inner && (r = check_spec(p, inner, id, "config.dump", why)) < 0)
		return r;
	return 0;
}
