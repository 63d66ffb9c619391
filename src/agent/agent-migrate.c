/* agent-migrate.c — what both sides of a migration share: the node's
 * migration slots, channels to peer agents, fault points, and record
 * changes that wait out etcd outages. The sides themselves are in
 * agent-migrate-source.c (Migrate), agent-migrate-target.c (Receive) and
 * agent-migrate-image.c (FetchImage, both ends). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "agent-migrate.h"
#include "fault.h"
#include "json-util.h"
#include "log.h"
#include "process-util.h"
#include "strutil.h"

int migration_slot_take(Agent *a, const char *id, const char *container)
{
	_cleanup_free_ char *name = strdup(container);
	int r = -EBUSY;
	if (!name)
		return -ENOMEM;
	pthread_mutex_lock(&a->migrations_lock);
	for (unsigned i = 0; i < a->config->max_migrations; i++)
		if (!a->active[i][0]) {
			snprintf(a->active[i], sizeof a->active[i], "%s", id);
			a->active_container[i] = TAKE_PTR(name);
			a->migrations++;
			r = 0;
			break;
		}
	pthread_mutex_unlock(&a->migrations_lock);
	return r;
}

int agent_busy_containers(Agent *a, char ***ret)
{
	unsigned n = a->config->max_migrations;
	char **l = calloc(n + 1, sizeof(char *));
	size_t k = 0;
	int r = 0;
	if (!l)
		return -ENOMEM;
	pthread_mutex_lock(&a->migrations_lock);
	for (unsigned i = 0; i < n && r >= 0; i++)
		if (a->active[i][0] && a->active_container[i] &&
		    !(l[k++] = strdup(a->active_container[i])))
			r = -ENOMEM;
	pthread_mutex_unlock(&a->migrations_lock);
	if (r < 0) {
		strv_free(l);
		return r;
	}
	*ret = l;
	return 0;
}

void migration_slot_release(Agent *a, const char *id)
{
	pthread_mutex_lock(&a->migrations_lock);
	for (unsigned i = 0; i < a->config->max_migrations; i++)
		if (streq(a->active[i], id)) {
			a->active[i][0] = 0;
			free(a->active_container[i]);
			a->active_container[i] = NULL;
			a->migrations--;
			break;
		}
	pthread_mutex_unlock(&a->migrations_lock);
}

bool agent_migration_active(Agent *a, const char *id)
{
	bool found = false;
	pthread_mutex_lock(&a->migrations_lock);
	for (unsigned i = 0; i < a->config->max_migrations && !found; i++)
		found = streq(a->active[i], id);
	pthread_mutex_unlock(&a->migrations_lock);
	return found;
}

RpcOptions agent_peer_options(const Agent *a)
{
	const AgentConfig *c = a->config;
	return (RpcOptions){
		.plaintext = c->insecure,
		.ca_file = c->tls_ca,
		.cert_file = c->tls_cert,
		.key_file = c->tls_key,
		.max_reconnect_backoff_msec = 1000,
	};
}

/* A migration's note of one kind: <work-dir>/<kind>/<id>. */
static int note_path(const Agent *a, const char *kind, const char *id, char **ret)
{
	if (!migration_id_valid(id))
		return -EINVAL;
	return asprintf(ret, "%s/%s/%s", a->config->work_dir, kind, id) < 0 ? -ENOMEM : 0;
}

/* Writes the note (text may be empty) and syncs it. */
static int note_write(const Agent *a, const char *kind, const char *id, const char *text)
{
	_cleanup_free_ char *dir = NULL, *path = NULL;
	int r;

	if (asprintf(&dir, "%s/%s", a->config->work_dir, kind) < 0)
		return -ENOMEM;
	if ((mkdir(a->config->work_dir, 0700) < 0 && errno != EEXIST) ||
	    (mkdir(dir, 0700) < 0 && errno != EEXIST))
		return -errno;
	if ((r = note_path(a, kind, id, &path)) < 0)
		return r;
	_cleanup_close_ int fd =
	        open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return -errno;
	size_t len = strlen(text);
	if ((len > 0 && write(fd, text, len) != (ssize_t)len) || fsync(fd) < 0)
		return errno ? -errno : -EIO;
	return 0;
}

static void note_remove(const Agent *a, const char *kind, const char *id)
{
	_cleanup_free_ char *path = NULL;
	if (note_path(a, kind, id, &path) >= 0 && unlink(path) < 0 && errno != ENOENT)
		log_warning_errno(-errno, "migration %s: cannot remove %s", id, path);
}

int agent_evidence_write(Agent *a, const char *id)
{
	return note_write(a, "evidence", id, "");
}

bool agent_evidence_has(Agent *a, const char *id)
{
	_cleanup_free_ char *path = NULL;
	struct stat st;
	return note_path(a, "evidence", id, &path) >= 0 && lstat(path, &st) == 0 &&
	       S_ISREG(st.st_mode);
}

void agent_evidence_remove(Agent *a, const char *id)
{
	note_remove(a, "evidence", id);
}

int agent_fault(const Agent *a, const char *point)
{
	return fault_point(a->config->fault_dir, point, FAULT_TIMEOUT_USEC);
}

int agent_record_advance_within(Agent *a, MigrationRecord *rec, MigrationPhase to,
                                const char *error, uint64_t timeout_usec)
{
	uint64_t deadline = now_usec(CLOCK_MONOTONIC) + timeout_usec;
	int r;
	for (;;) {
		r = migration_record_advance(a->etcd, a->config->prefix, rec, to, error, wall_ms());
		if (r >= 0 || r == ETCD_CAS_FAILED || r == -EINVAL || r == -ENOMEM)
			return r;
		if (now_usec(CLOCK_MONOTONIC) >= deadline)
			return r;
		log_warning_errno(r, "migration %s: cannot record phase %s in etcd; retrying",
		                  rec->id, migration_phase_to_string(to));
		sleep_usec(500 * USEC_PER_MSEC);
	}
}

int agent_record_advance(Agent *a, MigrationRecord *rec, MigrationPhase to, const char *error)
{
	return agent_record_advance_within(a, rec, to, error, RECORD_RETRY_USEC);
}

int agent_record_reload_within(Agent *a, MigrationRecord *rec, uint64_t timeout_usec)
{
	uint64_t deadline = now_usec(CLOCK_MONOTONIC) + timeout_usec;
	MigrationRecord fresh;
	int r;
	for (;;) {
		r = migration_record_load(a->etcd, a->config->prefix, rec->id, &fresh);
		if (r >= 0) {
			migration_record_clear(rec);
			*rec = fresh;
			return 0;
		}
		if (r == ETCD_NOT_FOUND || r == -ENOMEM || now_usec(CLOCK_MONOTONIC) >= deadline)
			return r;
		sleep_usec(500 * USEC_PER_MSEC);
	}
}

int agent_record_reload(Agent *a, MigrationRecord *rec)
{
	return agent_record_reload_within(a, rec, 2 * RECORD_RETRY_USEC);
}

int agent_node_address(Agent *a, const char *node, char **ret, AgentPeerVersion *ret_version)
{
	_cleanup_free_ char *info_key = NULL, *status_key = NULL;
	_cleanup_(etcd_key_value_done) EtcdKeyValue info = {}, status = {};
	int r;

	if (asprintf(&info_key, "%snodes/%s/info", a->config->prefix, node) < 0 ||
	    asprintf(&status_key, "%snodes/%s/status", a->config->prefix, node) < 0)
		return -ENOMEM;
	if ((r = etcd_get(a->etcd, info_key, &info)) < 0 ||
	    (r = etcd_get(a->etcd, status_key, &status)) < 0)
		return r;
	/* A node's info is trusted only while it lives under the lease that
	 * the node keeps alive, the one of its status: a key written without
	 * a lease (it would outlive the agent) or under another is not the
	 * agent's. */
	if (info.lease == 0 || info.lease != status.lease)
		return -EPERM;
	_cleanup_json_ json_t *doc = json_loadb(info.value, info.value_size, 0, NULL);
	const char *addr = json_get_string(doc, "grpc_address");
	if (!addr || !*addr)
		return -EBADMSG;
	if (ret_version) {
		/* an info without "protocol" is from an agent before it was
		 * published: protocol 1 */
		json_t *p = json_object_get(doc, "protocol");
		json_int_t protocol = p ? (json_is_integer(p) ? json_integer_value(p) : -1) : 1;
		if (protocol < 1 || protocol > UINT32_MAX)
			return -EBADMSG;
		const char *version = json_get_string(doc, "version");
		*ret_version = (AgentPeerVersion){
			.protocol = (unsigned)protocol,
			.post_copy = json_is_true(
			        json_object_get(json_object_get(doc, "criu"), "post_copy")),
		};
		snprintf(ret_version->version, sizeof ret_version->version, "%s",
		         version && *version ? version : "unknown");
	}
	*ret = strdup(addr);
	return *ret ? 0 : -ENOMEM;
}

int agent_work_file(const Agent *a)
{
	const char *dir = a->config->work_dir;
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return -errno;
	int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd >= 0 || (errno != EOPNOTSUPP && errno != EISDIR))
		return fd >= 0 ? fd : -errno;
	char path[4096];
	snprintf(path, sizeof path, "%s/incoming.XXXXXX", dir);
	fd = mkostemp(path, O_CLOEXEC);
	if (fd < 0)
		return -errno;
	unlink(path);
	return fd;
}

int agent_remove_tree(const char *path)
{
	const char *argv[] = { "rm", "-rf", "--one-file-system", path, NULL };
	int status = -1;
	int r = spawn_wait((char *const *)argv, &(SpawnOptions){ .quiet = true }, &status);
	return r < 0 ? r : status == 0 ? 0 : -EIO;
}

int agent_image_mount_note(const Agent *a, const char *id, const char *image)
{
	return note_write(a, "mounts", id, image);
}

void agent_image_mount_forget(const Agent *a, const char *id)
{
	note_remove(a, "mounts", id);
}

int agent_image_unmount(const char *image)
{
	char *const argv[] = { (char *)"timeout", (char *)PODMAN_CLI_TIMEOUT,
		               (char *)"podman",  (char *)"image",
		               (char *)"unmount", (char *)"--",
		               (char *)image,     NULL };
	int status = -1;
	int r = spawn_wait(argv, &(SpawnOptions){ .quiet = true }, &status);
	return r < 0 ? r : status == 0 ? 0 : -EIO;
}

/* The image mounts that calls of an earlier run noted and did not
 * release. */
static void mounts_sweep(const Agent *a)
{
	_cleanup_free_ char *dir = NULL;
	if (asprintf(&dir, "%s/mounts", a->config->work_dir) < 0)
		return;
	DIR *d = opendir(dir);
	struct dirent *de;
	if (!d)
		return;
	while ((de = readdir(d))) {
		struct stat st;
		char image[512];
		if (!migration_id_valid(de->d_name) ||
		    fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    !S_ISREG(st.st_mode) || st.st_mtime >= a->started_at)
			continue;
		_cleanup_close_ int fd =
		        openat(dirfd(d), de->d_name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		ssize_t n = fd < 0 ? -1 : read(fd, image, sizeof image - 1);
		image[n > 0 ? n : 0] = 0;
		/* the agent wrote it: an image reference, one line */
		bool named = n > 0 && strcspn(image, "\n\r\t ") == (size_t)n;
		if (named && agent_image_unmount(image) < 0)
			log_warning(
			        "migration %s: cannot unmount image %s, left mounted by an earlier "
			        "run of this agent",
			        de->d_name, image);
		else if (named)
			log_info("migration %s: unmounted image %s, left mounted by an earlier run "
			         "of "
			         "this agent",
			         de->d_name, image);
		if (unlinkat(dirfd(d), de->d_name, 0) < 0)
			log_warning_errno(-errno, "cannot remove %s/%s", dir, de->d_name);
	}
	closedir(d);
}

static void sweep_dir(const Agent *a, const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;

	if (!d) {
		if (errno != ENOENT)
			log_warning_errno(-errno, "cannot read the work directory %s", dir);
		return;
	}
	while ((de = readdir(d))) {
		const char *dot = strrchr(de->d_name, '.');
		struct stat st;
		if (!dot || strlen(dot + 1) != 6)
			continue;
		_cleanup_free_ char *id = strndup(de->d_name, (size_t)(dot - de->d_name));
		if (!id || !migration_id_valid(id))
			continue;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    !S_ISDIR(st.st_mode) || st.st_mtime >= a->started_at)
			continue;
		_cleanup_free_ char *path = NULL;
		if (asprintf(&path, "%s/%s", dir, de->d_name) < 0)
			break;
		if (agent_remove_tree(path) < 0)
			log_warning("cannot remove %s, left by an earlier run", path);
		else
			log_info("removed %s, left by an earlier run of this agent", path);
	}
	closedir(d);
}

void agent_work_dir_sweep(const Agent *a)
{
	mounts_sweep(a);
	sweep_dir(a, a->config->work_dir);
	sweep_dir(a, a->config->pages_dir);
}

int agent_work_space(const Agent *a, uint64_t *ret)
{
	struct statvfs st;
	if (mkdir(a->config->work_dir, 0700) < 0 && errno != EEXIST)
		return -errno;
	if (statvfs(a->config->work_dir, &st) < 0)
		return -errno;
	uint64_t avail = (uint64_t)st.f_bavail * st.f_frsize;
	*ret = avail - avail / 100 * WORK_DIR_RESERVE_PERCENT;
	return 0;
}

ssize_t agent_fd_read(void *buf, size_t size, void *userdata)
{
	int fd = *(const int *)userdata;
	for (;;) {
		ssize_t n = read(fd, buf, size);
		if (n < 0 && errno == EINTR)
			continue;
		return n < 0 ? -errno : n;
	}
}

void agent_hex(const uint8_t *d, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", d[i]);
}

PageTls agent_page_tls(const Agent *a)
{
	const AgentConfig *c = a->config;
	if (c->insecure || !c->tls_ca)
		return (PageTls){};
	return (PageTls){ .ca = c->tls_ca, .cert = c->tls_cert, .key = c->tls_key };
}

int agent_pages_dir(const Agent *a, const char **ret)
{
	const char *dir = a->config->pages_dir;
	struct stat st;
	if ((mkdir(a->config->work_dir, 0700) < 0 && errno != EEXIST) ||
	    (mkdir(dir, 0700) < 0 && errno != EEXIST) || lstat(dir, &st) < 0)
		return -errno;
	if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 077))
		return -EPERM;
	*ret = dir;
	return 0;
}

int agent_pages_path(Agent *a, const char *id, const char *suffix, char **ret)
{
	const char *dir;
	int r;
	if (!migration_id_valid(id))
		return -EINVAL;
	if ((r = agent_pages_dir(a, &dir)) < 0)
		return r;
	return asprintf(ret, "%s/%s%s", dir, id, suffix) < 0 ? -ENOMEM : 0;
}

int agent_pages_replay(Agent *a, const char *id, const char *container, ErrorDetail *why)
{
	_cleanup_free_ char *stream = NULL, *log = NULL, *images = NULL;
	_cleanup_(podman_container_inspect_done) PodmanContainerInspect ins = {};
	PodmanError e = {};
	struct stat st;
	int r;

	/* a dump's options (a page server) must not reach the restore */
	_cleanup_free_ char *config = NULL;
	if (criu_config_path(a->config->criu_config_dir, container, &config) >= 0)
		criu_config_remove(config);
	if ((r = agent_pages_path(a, id, ".stream", &stream)) < 0 ||
	    (r = agent_pages_path(a, id, ".replay.log", &log)) < 0)
		return r;
	if (lstat(stream, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	/* Podman keeps the checkpoint in the container's static directory. */
	if ((r = podman_container_inspect(a->podman, container, &ins, &e)) < 0) {
		error_detail_set(why, "cannot inspect %s: %s", container, e.message);
		return r;
	}
	const char *dir = json_get_string(ins.raw, "StaticDir");
	if (!dir || !*dir) {
		error_detail_set(why, "Podman names no directory for %s's checkpoint", container);
		return -ENOENT;
	}
	if (asprintf(&images, "%s/checkpoint", dir) < 0)
		return -ENOMEM;
	if ((r = page_stream_replay(stream, images, log, why)) < 0)
		return r;
	log_info("migration %s: the pages the dump sent away are back in %s", id, images);
	return 0;
}

void agent_pages_forget(Agent *a, const char *id)
{
	static const char *const suffixes[] = { ".stream", ".replay.log" };
	for (size_t i = 0; i < ELEMENTSOF(suffixes); i++) {
		_cleanup_free_ char *path = NULL;
		if (agent_pages_path(a, id, suffixes[i], &path) >= 0 && unlink(path) < 0 &&
		    errno != ENOENT)
			log_warning_errno(-errno, "migration %s: cannot remove %s", id, path);
	}
}
