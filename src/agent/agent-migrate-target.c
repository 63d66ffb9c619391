/* agent-migrate-target.c — the target side of a migration (Receive, called
 * by the source): check that the record names this transfer and that this
 * node can take the container (fetching its image if need be), answer
 * ready, store the archive(s) with their checksums, check every tar header,
 * take the record to restoring, restore through Podman, and commit done
 * (or roll back). The phase rules are in docs/etcd-keys.md. */
#include <fcntl.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent-migrate.h"
#include "agent.pb-c.h"
#include "archive-check.h"
#include "json-util.h"
#include "lazy-pages.h"
#include "log.h"
#include "precopy.h"
#include "process-util.h"
#include "restore-policy.h"
#include "strutil.h"

/* spec.dump and config.dump are a few tens of KiB. */
#define TARGET_MAX_DUMP (16u << 20)

static int target_error(RpcServerCall *call, RpcCode code, const char *fmt, ...) _printf_(3, 4);
static int target_error(RpcServerCall *call, RpcCode code, const char *fmt, ...)
{
	char msg[768];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	log_warning("%s", msg);
	return rpc_server_call_error(call, code, "%s", msg);
}

/* One archive arriving: where it goes and what it must add up to. */
typedef struct Incoming {
	int fd;
	char *path; /* named (for the podman binary) or NULL (an unnamed file) */
	EVP_MD_CTX *sha;
	uint64_t size;
	bool complete;
} Incoming;

static void incoming_done(Incoming *in)
{
	if (in->fd >= 0)
		close(in->fd);
	if (in->path) {
		unlink(in->path);
		free(in->path);
	}
	EVP_MD_CTX_free(in->sha);
	*in = (Incoming){ .fd = -EBADF };
}

/* named: a file the podman binary can be given (pre-copy), else unnamed;
 * either way one of this call's own. */
static int incoming_open(const Agent *a, const char *id, const char *suffix, bool named,
                         Incoming *in)
{
	*in = (Incoming){ .fd = -EBADF };
	if (!(in->sha = EVP_MD_CTX_new()) || EVP_DigestInit_ex(in->sha, EVP_sha256(), NULL) != 1)
		return -ENOMEM;
	if (!named) {
		in->fd = agent_work_file(a);
		return in->fd < 0 ? in->fd : 0;
	}
	if (mkdir(a->config->work_dir, 0700) < 0 && errno != EEXIST)
		return -errno;
	return precopy_file_create(a->config->work_dir, id, suffix, &in->fd, &in->path);
}

static int incoming_write(Incoming *in, const uint8_t *p, size_t len)
{
	if (EVP_DigestUpdate(in->sha, p, len) != 1)
		return -EIO;
	in->size += len;
	return loop_write(in->fd, p, len);
}

/* Checks the trailer against what arrived; the reason in why if it fails. */
static int incoming_verify(Incoming *in, const Podmig__V1__TransferTrailer *t, const char *id,
                           ErrorDetail *why)
{
	uint8_t digest[SHA256_BYTES];
	unsigned len = 0;
	char want[2 * SHA256_BYTES + 1] = "", got[2 * SHA256_BYTES + 1] = "";

	if (t->size != in->size) {
		error_detail_set(why,
		                 "migration %s: archive truncated: %" PRIu64 " of %" PRIu64
		                 " bytes arrived",
		                 id, in->size, t->size);
		return -EBADMSG;
	}
	EVP_DigestFinal_ex(in->sha, digest, &len);
	agent_hex(digest, len, got);
	if (t->sha256.len == SHA256_BYTES)
		agent_hex(t->sha256.data, SHA256_BYTES, want);
	if (!streq(want, got)) {
		error_detail_set(why,
		                 "migration %s: archive checksum mismatch (sent %s, received %s)",
		                 id, want[0] ? want : "none", got);
		return -EBADMSG;
	}
	/* No fsync: an unnamed file is gone after a crash whether or not its
	 * pages reached the disk (a named pre-copy file is useless then too),
	 * and the checksum covers the bytes as received. Flushing would only
	 * put the disk's write speed into the container's downtime
	 * (bench/README.md). */
	in->complete = true;
	return 0;
}

/* The image's root, mounted by the podman binary (the REST API mounts no
 * image), so that rootfs-diff.tar is checked against the image's own links
 * (archive-check.h); *ret_fd: a descriptor of it, -EBADF if it could not be
 * mounted (the reason logged: an archive that needs the check is then
 * refused). The image is mounted, noted and later unmounted by its ID
 * (*ret_id), never its name: a name may move to another image meanwhile (a
 * pull or load of the same name), and `podman image unmount NAME` would then
 * succeed on that image, which is not mounted, and leave this one mounted for
 * good. It stays mounted until image_root_release(). */
static int image_root_open(const Agent *a, const char *migration_id, const char *image,
                           char **ret_id)
{
	_cleanup_free_ char *id = NULL, *out = NULL;
	PodmanError e = {};
	int status = -1;
	int r = podman_image_id(a->podman, image, &id, &e);
	if (r < 0) {
		log_warning("migration %s: cannot find the ID of image %s to check the archive "
		            "against it: %.300s",
		            migration_id, image, e.message[0] ? e.message : error_to_string(r));
		return -EBADF;
	}
	char *const mount[] = { (char *)"timeout",
		                (char *)PODMAN_CLI_TIMEOUT,
		                (char *)"podman",
		                (char *)"image",
		                (char *)"mount",
		                (char *)"--",
		                id,
		                NULL };
	/* noted first: a mount this run does not release, the next unmounts */
	r = agent_image_mount_note(a, migration_id, id);
	if (r < 0)
		log_warning_errno(r, "migration %s: cannot note the mount of image %s (%s)",
		                  migration_id, image, id);
	r = spawn_capture(mount, &(SpawnOptions){ .stderr_to_stdout = true }, 4096, &out, &status);
	if (r < 0 || status != 0) {
		/* a mount that timed out may have mounted all the same: unmounted
		 * here (Podman's unmount of an image not mounted succeeds), else
		 * the note stays for the next start's sweep */
		if (agent_image_unmount(id) >= 0)
			agent_image_mount_forget(a, migration_id);
		log_warning("migration %s: cannot mount image %s to check the archive against it: "
		            "%.300s",
		            migration_id, image, r < 0 ? error_to_string(r) : out);
		return -EBADF;
	}
	out[strcspn(out, "\n")] = 0;
	int fd = open(out, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		log_warning("migration %s: cannot open image %s mounted at %s: %s", migration_id,
		            image, out, error_to_string(-errno));
		if (agent_image_unmount(id) >= 0)
			agent_image_mount_forget(a, migration_id);
		return -EBADF;
	}
	*ret_id = TAKE_PTR(id);
	return fd;
}

/* Unmounts what image_root_open() mounted: the image `id`. */
static void image_root_release(const Agent *a, int fd, const char *migration_id, const char *id)
{
	if (fd < 0)
		return;
	close(fd);
	if (agent_image_unmount(id) >= 0)
		agent_image_mount_forget(a, migration_id);
}

/* One Receive call: the record it serves and the archives arriving. */
typedef struct Target {
	Agent *a;
	RpcServerCall *call;
	MigrationRecord *rec;
	const Podmig__V1__TransferHeader *h;
	bool precopy;        /* a pre-dump may come first; both go to the podman binary */
	uint64_t limit;      /* bytes all archives together may take in the work directory */
	bool limit_declared; /* the limit is the one the source declared in the record */
	int image_root;      /* the image, mounted (image_root_open()) */
	char *image_root_id; /* its ID, by which it is unmounted */
	Incoming pre, final;
	/* page-server mode: CRIU's page server writes the pages into
	 * <pages_dir>/img, where the archive's images join them */
	bool pages;
	PageServer *ps;
	char *pages_dir, *images_dir, *criu_config;
	/* post-copy: the lazy-pages daemon this handler owns, fetching from the
	 * source's relay at lazy_port; how long the restored copy waited for
	 * its last page */
	bool lazy;
	uint16_t lazy_port;
	LazyDaemon *daemon;
	uint64_t lazy_pages_usec;
	ErrorDetail why;
} Target;

/* Page-server and post-copy modes: <pages_dir>/img for the checkpoint's
 * images, a directory of this call's own, and the container's CRIU
 * configuration file's path. */
static int target_images_dir(Target *t)
{
	Agent *a = t->a;
	const char *pages;
	int r;
	if ((r = agent_pages_dir(a, &pages)) < 0 ||
	    (r = precopy_dir_create(pages, t->rec->id, &t->pages_dir)) < 0 ||
	    asprintf(&t->images_dir, "%s/img", t->pages_dir) < 0 ||
	    (r = criu_config_path(a->config->criu_config_dir, t->rec->container, &t->criu_config)) <
	            0) {
		error_detail_set(&t->why, "cannot prepare a directory in %s: %s",
		                 a->config->pages_dir, error_to_string(r < 0 ? r : -ENOMEM));
		return r < 0 ? r : -ENOMEM;
	}
	if (mkdir(t->images_dir, 0700) < 0) {
		r = -errno;
		error_detail_set(&t->why, "cannot create %s: %s", t->images_dir,
		                 error_to_string(r));
		return r;
	}
	return 0;
}

/* Page-server and post-copy modes: this node's host and the source's, the
 * source's from its node's trusted info, never the header. */
static int target_hosts(Target *t, char **ret_self, char **ret_source)
{
	Agent *a = t->a;
	_cleanup_free_ char *source_addr = NULL;
	int r;
	if ((r = agent_node_address(a, t->rec->source, &source_addr, NULL)) < 0 ||
	    (r = address_host(source_addr, ret_source)) < 0 ||
	    (r = address_host(a->advertise, ret_self)) < 0) {
		error_detail_set(&t->why, "cannot find the address of node %s: %s", t->rec->source,
		                 error_to_string(r));
		return r;
	}
	return 0;
}

/* Page-server mode: a page server for this migration's pages, on a port of
 * its own that only the source node may use (page-server.h). */
static int target_page_server(Target *t, uint16_t *ret_port)
{
	Agent *a = t->a;
	_cleanup_free_ char *self = NULL, *source = NULL, *log = NULL;
	PageTls tls = agent_page_tls(a);
	int r;

	if ((r = target_hosts(t, &self, &source)) < 0)
		return r;
	if ((r = target_images_dir(t)) < 0)
		return r;
	if (asprintf(&log, "%s/page-server.log", t->pages_dir) < 0)
		return -ENOMEM;
	r = page_server_start(self, source, t->images_dir, log, &tls, READY_TIMEOUT_USEC, &t->ps,
	                      ret_port);
	if (r < 0) {
		error_detail_set(&t->why, "cannot start a page server on %s: %s", self,
		                 error_to_string(r));
		return r;
	}
	log_info("migration %s: page server on %s:%u for %s", t->rec->id, self, *ret_port, source);
	return 0;
}

/* Page-server mode: every page arrived (the page server took the dump's
 * close and exited 0), the archive's checkpoint images join them, and the
 * CRIU configuration file points the restore there. */
static int target_unpack_images(Target *t);
static int target_prepare_pages(Target *t)
{
	_cleanup_free_ char *text = NULL;
	int r;

	if ((r = page_server_wait(t->ps, SEND_TIMEOUT_USEC, &t->why)) < 0 ||
	    (r = target_unpack_images(t)) < 0)
		return r;
	if (asprintf(&text, "images-dir %s\n", t->images_dir) < 0)
		return -ENOMEM;
	if ((r = criu_config_write(t->criu_config, text)) < 0) {
		error_detail_set(&t->why, "cannot write the CRIU configuration %s: %s",
		                 t->criu_config, error_to_string(r));
		return r;
	}
	log_debug("migration %s: images in %s", t->rec->id, t->images_dir);
	return 0;
}

/* The archive's checkpoint images into images_dir. */
static int target_unpack_images(Target *t)
{
	char fd_path[64];
	_cleanup_free_ char *out = NULL;
	int status = -1, r;

	/* the archive was checked (archive-check.c): only Podman's names, no
	 * links out of it */
	snprintf(fd_path, sizeof fd_path, "/proc/%d/fd/%d", (int)getpid(), t->final.fd);
	const char *argv[] = {
		"tar",   "-x", "--no-same-owner", "--no-same-permissions", "-f",
		fd_path, "-C", t->images_dir,     "--strip-components=1",  "checkpoint",
		NULL
	};
	SpawnOptions o = { .stderr_to_stdout = true };
	r = spawn_capture((char *const *)argv, &o, 4096, &out, &status);
	if (r < 0 || status != 0) {
		error_detail_set(&t->why, "cannot unpack the checkpoint's images: %.300s",
		                 r < 0 ? error_to_string(r) : out);
		return r < 0 ? r : -EIO;
	}
	return 0;
}

/* Post-copy: the images unpacked, the lazy-pages daemon (ours) running
 * on them with its relay to the source, the CRIU configuration pointing
 * the restore at both. */
static int target_prepare_lazy(Target *t)
{
	Agent *a = t->a;
	_cleanup_free_ char *self = NULL, *source = NULL, *log = NULL, *text = NULL;
	PageTls tls = agent_page_tls(a);
	int r;

	if ((r = target_hosts(t, &self, &source)) < 0)
		return r;
	if ((r = target_images_dir(t)) < 0 || (r = target_unpack_images(t)) < 0)
		return r;
	if (asprintf(&log, "%s/lazy-pages.log", t->pages_dir) < 0 ||
	    asprintf(&text, "lazy-pages\nimages-dir %s\nwork-dir %s\n", t->images_dir,
	             t->pages_dir) < 0)
		return -ENOMEM;
	if ((r = lazy_daemon_start(self, source, t->lazy_port, &tls, t->images_dir, t->pages_dir,
	                           log, &t->daemon, &t->why)) < 0)
		return r;
	if ((r = criu_config_write(t->criu_config, text)) < 0) {
		error_detail_set(&t->why, "cannot write the CRIU configuration %s: %s",
		                 t->criu_config, error_to_string(r));
		return r;
	}
	log_info("migration %s: lazy-pages daemon on %s fetching from %s:%u", t->rec->id,
	         t->images_dir, source, t->lazy_port);
	return 0;
}

/* Before the source stops anything: no container of that name here, the
 * image here (fetched from the source if need be), files for the archives;
 * then answer ready. */
static int target_preconditions(Target *t)
{
	Agent *a = t->a;
	const char *self = a->config->node_name;
	const Podmig__V1__TransferHeader *h = t->h;
	_cleanup_(podman_container_inspect_done) PodmanContainerInspect ins = {};
	PodmanError e = {};
	int r;

	r = podman_container_inspect(a->podman, h->container, &ins, &e);
	if (r >= 0)
		return target_error(t->call, RPC_ALREADY_EXISTS,
		                    "node %s already has a container named %s", self, h->container);
	if (r != PODMAN_NOT_FOUND)
		return target_error(t->call, RPC_UNAVAILABLE, "node %s: Podman: %s", self,
		                    e.message);

	bool fetched = false;
	r = podman_image_exists(a->podman, h->image, &e);
	if (r < 0)
		return target_error(t->call, RPC_UNAVAILABLE, "node %s: Podman: %s", self,
		                    e.message);
	if (r == 0) {
		log_info("migration %s: image %s is missing here; fetching it from %s", t->rec->id,
		         h->image, h->source_node);
		if (target_fetch_image(a, t->rec->source, t->rec->id, h->image, t->rec->image_id,
		                       &t->why) < 0)
			return target_error(t->call, RPC_FAILED_PRECONDITION, "node %s: %s", self,
			                    t->why.message);
		fetched = true;
	}
	t->image_root = image_root_open(a, t->rec->id, h->image, &t->image_root_id);
	if ((r = agent_work_space(a, &t->limit)) < 0)
		return target_error(t->call, RPC_INTERNAL,
		                    "node %s: cannot see the free space in %s: %s", self,
		                    a->config->work_dir, error_to_string(r));
	/* what the source declared in the record bounds it too */
	if (t->rec->archive_limit && t->rec->archive_limit < t->limit) {
		t->limit = t->rec->archive_limit;
		t->limit_declared = true;
	}
	if ((r = incoming_open(a, t->rec->id, ".tar", t->precopy, &t->final)) < 0 ||
	    (t->precopy && (r = incoming_open(a, t->rec->id, ".pre.tar", true, &t->pre)) < 0))
		return target_error(t->call, RPC_INTERNAL,
		                    "node %s: cannot create a file in %s: %s", self,
		                    a->config->work_dir, error_to_string(r));

	uint16_t port = 0;
	if (t->pages && (r = target_page_server(t, &port)) < 0)
		return target_error(t->call, RPC_INTERNAL, "node %s: %s", self, t->why.message);

	Podmig__V1__TransferReply ready = PODMIG__V1__TRANSFER_REPLY__INIT;
	ready.kind_case = PODMIG__V1__TRANSFER_REPLY__KIND_READY;
	ready.ready = true;
	ready.image_fetched = fetched;
	ready.page_server_port = port;
	return rpc_server_call_send(t->call, &ready.base);
}

/* The archives, chunk by chunk, each closed by its trailer, until the
 * final one is complete and verified. */
static int target_receive_loop(Target *t)
{
	const char *id = t->rec->id;
	uint64_t first = 0, recv_usec = 0, store_usec = 0, t0;
	int r;

	while (!t->final.complete) {
		_cleanup_message_ ProtobufCMessage *m = NULL;
		t0 = now_usec(CLOCK_MONOTONIC);
		/* a source that sends nothing for so long has stalled: the call
		 * ends and the slot goes back */
		r = rpc_server_call_recv_timeout(t->call, t->a->config->stall_timeout_usec, &m);
		if (first)
			recv_usec += now_usec(CLOCK_MONOTONIC) - t0;
		else
			first = now_usec(CLOCK_MONOTONIC);
		if (r == -ETIMEDOUT) {
			log_warning("migration %s: nothing from the source for %" PRIu64
			            " s; giving the transfer up",
			            id,
			            (uint64_t)(t->a->config->stall_timeout_usec / USEC_PER_SEC));
			return r;
		}
		if (r < 0)
			return r; /* the source went away: it settles the record */
		if (r == 0)
			return target_error(t->call, RPC_ABORTED,
			                    "migration %s: the archive ended without its trailer",
			                    id);
		Podmig__V1__TransferMessage *tm = (Podmig__V1__TransferMessage *)m;
		if (tm->previous && !t->precopy)
			return target_error(t->call, RPC_INVALID_ARGUMENT,
			                    "migration %s: a pre-dump in a stop-and-copy migration",
			                    id);
		Incoming *in = tm->previous ? &t->pre : &t->final;
		if (in->complete || tm->offset != in->size)
			return target_error(t->call, RPC_INVALID_ARGUMENT,
			                    "migration %s: data at offset %" PRIu64
			                    ", expected %" PRIu64,
			                    id, tm->offset, in->size);
		if (tm->kind_case == PODMIG__V1__TRANSFER_MESSAGE__KIND_TRAILER) {
			if (incoming_verify(in, tm->trailer, id, &t->why) < 0)
				return target_error(t->call, RPC_DATA_LOSS, "%s", t->why.message);
			continue;
		}
		if (tm->kind_case != PODMIG__V1__TRANSFER_MESSAGE__KIND_DATA)
			return target_error(t->call, RPC_INVALID_ARGUMENT,
			                    "migration %s: unexpected message in the archive", id);
		if (in == &t->final && t->final.size == 0 &&
		    (r = agent_fault(t->a, "target-transferring")) < 0)
			return target_error(t->call, RPC_INTERNAL,
			                    "migration %s: fault injected at target-transferring",
			                    id);
		if (t->pre.size + t->final.size + tm->data.len > t->limit && t->limit_declared)
			return target_error(t->call, RPC_RESOURCE_EXHAUSTED,
			                    "migration %s: the archive is larger than the %" PRIu64
			                    " bytes its source declared",
			                    id, t->limit);
		if (t->pre.size + t->final.size + tm->data.len > t->limit)
			return target_error(
			        t->call, RPC_RESOURCE_EXHAUSTED,
			        "node %s: cannot store the archive in %s: %s: more than "
			        "the %" PRIu64 " bytes it may take there",
			        t->a->config->node_name, t->a->config->work_dir,
			        error_to_string(-ENOSPC), t->limit);
		t0 = now_usec(CLOCK_MONOTONIC);
		if ((r = incoming_write(in, tm->data.data, tm->data.len)) < 0)
			return target_error(t->call,
			                    r == -ENOSPC || r == -EDQUOT ? RPC_RESOURCE_EXHAUSTED
			                                                 : RPC_INTERNAL,
			                    "node %s: cannot store the archive in %s: %s",
			                    t->a->config->node_name, t->a->config->work_dir,
			                    error_to_string(r));
		store_usec += now_usec(CLOCK_MONOTONIC) - t0;
	}
	log_info("migration %s: archive received, %" PRIu64 " bytes in %" PRIu64
	         " ms from the first chunk: %" PRIu64 " ms waiting for chunks, %" PRIu64
	         " ms hashing and writing",
	         id, t->final.size + t->pre.size, (now_usec(CLOCK_MONOTONIC) - first) / 1000,
	         recv_usec / 1000, store_usec / 1000);
	return 0;
}

/* The container id `podman container restore` prints last, if it did. */
static char *restore_output_id(char *out)
{
	size_t len = strlen(out);
	while (len > 0 && out[len - 1] == '\n')
		out[--len] = '\0';
	char *line = strrchr(out, '\n');
	line = line ? line + 1 : out;
	if (strlen(line) != 64 || line[strspn(line, "0123456789abcdef")])
		return NULL;
	return strdup(line);
}

/* Page-server and post-copy archives hold only the small images (the
 * pages came another way): the node's Podman service restores them from
 * a request body, without a podman process to start inside the downtime.
 * *ret_id: the restored container's id. */
static int target_restore_small(Target *t, char **ret_id)
{
	const PodmanRestoreOptions o = { .ignore_static_ip = true, .ignore_static_mac = true };
	int fd = t->final.fd;
	PodmanError e = {};
	/* from its start: the archive was written through this descriptor */
	int r = lseek(fd, 0, SEEK_SET) < 0 ? -errno : 0;
	if (r >= 0)
		r = podman_container_restore(t->a->podman, &o, agent_fd_read, &fd, ret_id, &e);
	if (r < 0)
		error_detail_set(&t->why, "restoring %s on %s failed: %s", t->rec->container,
		                 t->a->config->node_name,
		                 e.message[0] ? e.message : error_to_string(r));
	return r;
}

/* Runs the podman binary on the archive(s) where they lie: the REST API
 * would take the archive as a request body and write a second copy of it
 * before extracting it, a GiB of new memory per GiB of container that is
 * slow to get on a guest whose free memory the host has taken back
 * (bench/README.md), and it cannot import a pre-dump at all. *ret_id:
 * the restored container's id, or NULL when Podman printed none. */
static int target_restore_import(Target *t, char **ret_id)
{
	const char *argv[16];
	_cleanup_free_ char *storage = NULL, *out = NULL, *fd_path = NULL;
	SpawnOptions o = { .stderr_to_stdout = true };
	PodmanError e = {};
	int status = -1, r;

	/* The node's Podman service must be there: it answers for the
	 * container from here on (and removes it on a rollback). */
	if ((r = podman_ping(t->a->podman, &e)) < 0) {
		error_detail_set(&t->why, "restoring %s on %s failed: Podman does not answer: %s",
		                 t->rec->container, t->a->config->node_name,
		                 e.message[0] ? e.message : error_to_string(r));
		return r;
	}
	if ((t->pages || t->lazy) && !t->pre.complete && t->final.fd >= 0)
		return target_restore_small(t, ret_id);
	if (t->pre.complete)
		r = precopy_restore_argv("podman", t->final.path, t->pre.path, argv,
		                         ELEMENTSOF(argv), &storage);
	else if (t->final.path)
		r = import_restore_argv("podman", t->final.path, argv, ELEMENTSOF(argv), &storage);
	else if (asprintf(&fd_path, "/proc/%d/fd/%d", (int)getpid(), t->final.fd) < 0)
		r = -ENOMEM;
	else /* an unnamed file, reached through this process's descriptor */
		r = import_restore_argv("podman", fd_path, argv, ELEMENTSOF(argv), &storage);
	if (r < 0)
		return r;
	r = spawn_capture((char *const *)argv, &o, 64 * 1024, &out, &status);
	if (r < 0 || status != 0) {
		error_detail_set(&t->why,
		                 "restoring %s on %s failed: podman container restore: %.300s",
		                 t->rec->container, t->a->config->node_name,
		                 r < 0 ? error_to_string(r) : out);
		return r < 0 ? r : -EIO;
	}
	*ret_id = restore_output_id(out);
	return 0;
}

/* Restores this node's copy from what arrived; *ret_id: Podman's id of it. */
static int target_restore(Target *t, char **ret_id)
{
	Agent *a = t->a;
	int r;

	if ((r = agent_fault(a, "target-restoring")) < 0) {
		error_detail_set(&t->why, "fault injected at target-restoring");
		return r;
	}
	if (t->pages && (r = target_prepare_pages(t)) < 0)
		return r;
	if (t->lazy && (r = target_prepare_lazy(t)) < 0)
		return r;
	/* A fresh address on this node's network; the name and id stay. */
	r = target_restore_import(t, ret_id);
	if (t->criu_config)
		criu_config_remove(t->criu_config); /* for this restore only */
	if (r < 0 || !t->lazy)
		return r;
	/* Post-copy: the copy runs, but only a daemon that exited 0 fetched
	 * every page; anything else leaves zeros where pages were, and the
	 * caller removes the copy before anyone hears of it. */
	uint64_t t0 = now_usec(CLOCK_MONOTONIC);
	if ((r = agent_fault(a, "target-lazy-pages")) < 0) {
		error_detail_set(&t->why, "fault injected at target-lazy-pages");
		return r;
	}
	r = lazy_daemon_wait(t->daemon, DONE_TIMEOUT_USEC - 60 * USEC_PER_SEC, &t->why);
	t->lazy_pages_usec = now_usec(CLOCK_MONOTONIC) - t0;
	if (r < 0)
		return r;
	log_info("migration %s: every page of %s arrived in %" PRIu64 " ms", t->rec->id,
	         t->rec->container, t->lazy_pages_usec / 1000);
	return 0;
}

/* The image's links, as archive_base_link_at() sees them in its mounted
 * root; without one, nothing can be vouched for. */
static int target_image_link(const char *path, void *userdata)
{
	return *(const int *)userdata >= 0 ? archive_base_link_at(path, userdata) : -ENOMEDIUM;
}

/* Outside input: every tar header (archive-check.h), then what the
 * checkpoint asks of this node (restore-policy.h); a refusal's reason goes
 * to the source, which records it. */
static int target_check_archives(Target *t)
{
	const RestorePolicy *policy = &t->a->config->restore;
	const ArchiveCheckOptions o = { .allow_setuid = policy->allow_setuid,
		                        .base_link = target_image_link,
		                        .base_userdata = &t->image_root };
	const char *id = t->rec->id;
	ArchiveIndex index = {};
	int r;

	r = archive_check_fd(t->final.fd, t->final.size, &o, &index, &t->why);
	if (r >= 0 && t->pre.complete)
		r = archive_check_fd(t->pre.fd, t->pre.size, &o, NULL, &t->why);
	if (r < 0)
		return target_error(t->call, r == -EBADMSG ? RPC_INVALID_ARGUMENT : RPC_INTERNAL,
		                    "migration %s: archive refused: %s", id,
		                    r == -EBADMSG ? t->why.message : error_to_string(r));

	_cleanup_free_ char *spec_text = NULL, *config_text = NULL;
	if ((r = archive_read_member_fd(t->final.fd, &index.spec_dump, TARGET_MAX_DUMP,
	                                &spec_text)) < 0 ||
	    (r = archive_read_member_fd(t->final.fd, &index.config_dump, TARGET_MAX_DUMP,
	                                &config_text)) < 0)
		return target_error(t->call, r == -EIO ? RPC_INTERNAL : RPC_INVALID_ARGUMENT,
		                    "migration %s: archive refused: spec.dump and config.dump: %s",
		                    id,
		                    r == -ENOENT  ? "missing"
		                    : r == -EFBIG ? "larger than 16 MiB"
		                                  : error_to_string(r));
	_cleanup_json_ json_t *spec = json_loads(spec_text, JSON_REJECT_DUPLICATES, NULL);
	_cleanup_json_ json_t *config = json_loads(config_text, JSON_REJECT_DUPLICATES, NULL);
	if (!spec || !config)
		return target_error(t->call, RPC_INVALID_ARGUMENT,
		                    "migration %s: archive refused: %s is not JSON", id,
		                    spec ? "config.dump" : "spec.dump");
	if (restore_policy_check(policy, spec, config, t->rec->image ?: t->h->image, &t->why) < 0)
		return target_error(t->call, RPC_PERMISSION_DENIED,
		                    "migration %s: node %s's restore policy: %s", id,
		                    t->a->config->node_name, t->why.message);
	return 0;
}

/* From a complete archive to a running container: check it, take the
 * record to restoring (from here the target decides), restore, and record
 * done — or remove what is there and roll back. */
static int target_commit(Target *t)
{
	Agent *a = t->a;
	MigrationRecord *rec = t->rec;
	int r;

	if ((r = target_check_archives(t)) < 0)
		return r;

	if ((r = agent_record_reload(a, rec)) < 0)
		return target_error(t->call, RPC_UNAVAILABLE,
		                    "migration %s: cannot read its record", rec->id);
	if (rec->phase != MIGRATION_TRANSFERRING)
		return target_error(t->call, RPC_ABORTED, "migration %s is %s, not transferring",
		                    rec->id, migration_phase_to_string(rec->phase));
	r = agent_record_advance(a, rec, MIGRATION_RESTORING, NULL);
	if (r == ETCD_CAS_FAILED)
		return target_error(t->call, RPC_ABORTED,
		                    "migration %s was settled by the source meanwhile", rec->id);
	if (r < 0)
		return target_error(t->call, RPC_UNAVAILABLE, "migration %s: cannot record it: %s",
		                    rec->id, error_to_string(r));

	uint64_t t0 = now_usec(CLOCK_MONOTONIC);
	_cleanup_free_ char *restored_id = NULL;
	if (target_restore(t, &restored_id) < 0) {
		/* Leave nothing behind, then hand the container back. */
		PodmanError e = {};
		(void)podman_container_remove(a->podman, rec->container, true, &e);
		int x = agent_record_advance(a, rec, MIGRATION_ROLLED_BACK, t->why.message);
		if (x < 0)
			log_error("migration %s: cannot record the rollback: %s", rec->id,
			          error_to_string(x));
		return target_error(t->call, RPC_INTERNAL, "%s", t->why.message);
	}

	/* Our copy runs: commit. */
	r = agent_record_advance(a, rec, MIGRATION_DONE, NULL);
	if (r < 0) {
		log_error("migration %s: %s runs here but etcd did not take `done`: %s", rec->id,
		          rec->container, error_to_string(r));
		return target_error(t->call, RPC_UNAVAILABLE,
		                    "migration %s: restored but not recorded as done", rec->id);
	}
	Podmig__V1__TransferDone d = PODMIG__V1__TRANSFER_DONE__INIT;
	d.container_id = restored_id ?: (char *)"";
	d.received_bytes = t->final.size + t->pre.size;
	d.restore_usec = now_usec(CLOCK_MONOTONIC) - t0 - t->lazy_pages_usec;
	d.lazy_pages_usec = t->lazy_pages_usec;
	Podmig__V1__TransferReply rep = PODMIG__V1__TRANSFER_REPLY__INIT;
	rep.kind_case = PODMIG__V1__TRANSFER_REPLY__KIND_DONE;
	rep.done = &d;
	r = rpc_server_call_send(t->call, &rep.base);
	log_info("migration %s: %s restored on %s (%" PRIu64 " bytes, restore %" PRIu64 " ms)",
	         rec->id, rec->container, a->config->node_name, d.received_bytes,
	         d.restore_usec / 1000);
	return r < 0 ? r : 0;
}

static void target_done(Target *t)
{
	incoming_done(&t->pre);
	incoming_done(&t->final);
	image_root_release(t->a, t->image_root, t->rec->id, t->image_root_id);
	free(t->image_root_id);
	t->ps = page_server_free(t->ps);
	t->daemon = lazy_daemon_free(t->daemon);
	if (t->criu_config)
		criu_config_remove(t->criu_config);
	if (t->pages_dir && agent_remove_tree(t->pages_dir) < 0)
		log_warning("migration %s: cannot remove %s", t->rec->id, t->pages_dir);
	free(t->pages_dir);
	free(t->images_dir);
	free(t->criu_config);
}

static int target_receive(Agent *a, RpcServerCall *call, MigrationRecord *rec,
                          const Podmig__V1__TransferHeader *h)
{
	_cleanup_(target_done) Target t = {
		.a = a,
		.call = call,
		.rec = rec,
		.h = h,
		.precopy = streq(h->mode, migration_mode_to_string(MIGRATION_MODE_PRE_COPY)),
		.image_root = -EBADF,
		.pages = streq(h->mode, migration_mode_to_string(MIGRATION_MODE_PAGE_SERVER)),
		.lazy = streq(h->mode, migration_mode_to_string(MIGRATION_MODE_POST_COPY)),
		.pre = { .fd = -EBADF },
		.final = { .fd = -EBADF },
	};
	int r;

	if ((t.pages || t.precopy || t.lazy) &&
	    !streq(h->mode, migration_mode_to_string(rec->mode)))
		return rpc_server_call_error(call, RPC_FAILED_PRECONDITION,
		                             "migration %s is %s, not %s", rec->id,
		                             migration_mode_to_string(rec->mode), h->mode);
	if (t.lazy && !criu_features_post_copy(&a->criu))
		return target_error(call, RPC_FAILED_PRECONDITION,
		                    "node %s cannot do post-copy (see its agent's log at start)",
		                    a->config->node_name);
	if (t.lazy && (h->lazy_pages_port == 0 || h->lazy_pages_port > UINT16_MAX))
		return target_error(call, RPC_INVALID_ARGUMENT,
		                    "migration %s: post-copy without the source's lazy-pages port",
		                    rec->id);
	t.lazy_port = (uint16_t)h->lazy_pages_port;
	if ((r = target_preconditions(&t)) < 0 || (r = target_receive_loop(&t)) < 0)
		return r;
	return target_commit(&t);
}

int agent_handle_receive(RpcServerCall *call, void *userdata)
{
	Agent *a = userdata;
	const char *self = a->config->node_name;
	_cleanup_message_ ProtobufCMessage *msg = NULL;
	_cleanup_(migration_record_clear) MigrationRecord rec = {};
	int r;

	/* Order matters: the caller's authorization first (before anything is
	 * read or reserved for it), then the header (within the server's
	 * first-message timeout), the record check, and only then a migration
	 * slot. */
	if ((r = agent_authorize(a, call, AGENT_METHOD_RECEIVE, NULL)) < 0)
		return r;
	if ((r = rpc_server_call_recv(call, &msg)) <= 0)
		return r < 0 ? r : -EBADMSG;
	Podmig__V1__TransferMessage *tm = (Podmig__V1__TransferMessage *)msg;
	if (tm->kind_case != PODMIG__V1__TRANSFER_MESSAGE__KIND_HEADER)
		return rpc_server_call_error(call, RPC_INVALID_ARGUMENT,
		                             "a transfer must begin with its header");
	const Podmig__V1__TransferHeader *h = tm->header;
	/* source_address is not read: the source is dialled at the address of
	 * its node's trusted info */
	if (!migration_name_valid(h->container) || !migration_name_valid(h->source_node) ||
	    !*h->image)
		return rpc_server_call_error(call, RPC_INVALID_ARGUMENT,
		                             "malformed transfer header");
	unsigned source_protocol = h->protocol ? h->protocol : 1;
	if (!agent_protocol_compatible(source_protocol, a->config->protocol))
		return rpc_server_call_error(
		        call, RPC_FAILED_PRECONDITION,
		        "node %s speaks agent protocol %u and takes migrations only from protocols "
		        "at most one apart, not %u from node %s",
		        self, a->config->protocol, source_protocol, h->source_node);

	/* The record is the authority: it must name this transfer. */
	r = migration_record_load(a->etcd, a->config->prefix, h->migration_id, &rec);
	if (r == ETCD_NOT_FOUND || r == -EINVAL)
		return rpc_server_call_error(call, RPC_NOT_FOUND, "no migration %s",
		                             h->migration_id);
	if (r < 0)
		return rpc_server_call_error(call, RPC_UNAVAILABLE,
		                             "cannot read migration %s from etcd: %s",
		                             h->migration_id, error_to_string(r));
	if ((r = agent_authorize(a, call, AGENT_METHOD_RECEIVE, &rec)) < 0 ||
	    (r = agent_authorize_order(a, call, AGENT_METHOD_RECEIVE, &rec)) < 0)
		return r;
	/* An ID the header names must be the record's (which the target
	 * holds a fetched image to). */
	char header_image_id[MIGRATION_IMAGE_ID_LEN + 1] = "";
	(void)migration_image_id_parse(h->image_id, header_image_id);
	if (!streq(rec.target, self) || !streq(rec.source, h->source_node) ||
	    !streq(rec.container, h->container) || !streq_ptr(rec.image, h->image) ||
	    (*h->image_id && !streq(header_image_id, rec.image_id)) ||
	    rec.phase != MIGRATION_PLANNED)
		return rpc_server_call_error(call, RPC_FAILED_PRECONDITION,
		                             "migration %s (%s of %s, ID %s, from %s to %s, %s) "
		                             "does not match this transfer to %s",
		                             rec.id, rec.container, rec.image ?: "no image",
		                             rec.image_id[0] ? rec.image_id : "none", rec.source,
		                             rec.target, migration_phase_to_string(rec.phase),
		                             self);
	if (migration_slot_take(a, rec.id, rec.container) < 0)
		return rpc_server_call_error(call, RPC_RESOURCE_EXHAUSTED,
		                             "node %s is already in %u migration(s), its limit",
		                             self, a->config->max_migrations);
	if ((r = agent_evidence_write(a, rec.id)) < 0) {
		migration_slot_release(a, rec.id);
		return rpc_server_call_error(call, RPC_INTERNAL, "node %s: cannot write in %s: %s",
		                             self, a->config->work_dir, error_to_string(r));
	}
	r = target_receive(a, call, &rec, h);
	/* Evidence stays only while this node may hold a copy nobody settled:
	 * it entered restoring and did not record the end. */
	if (rec.phase != MIGRATION_RESTORING)
		agent_evidence_remove(a, rec.id);
	migration_slot_release(a, h->migration_id);
	return r;
}
