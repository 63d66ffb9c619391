/* agent-migrate-image.c — a target that lacks a migrating container's image
 * fetches it from the source (FetchImage): the source exports it from its
 * Podman and streams it; the target stores it, checks it and only then
 * loads it into its own.
 * The source serves only the image of a migration under way from it. */
#include <errno.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent-migrate.h"
#include "agent.pb-c.h"
#include "archive-check.h"
#include "log.h"
#include "strutil.h"

/* The source side: FetchImage streams the image in CHUNK_BYTES chunks. */
typedef struct ImageSender {
	RpcServerCall *call;
	uint8_t *buf;
	size_t len;
	uint64_t offset;
} ImageSender;

static int image_sender_flush(ImageSender *is)
{
	if (is->len == 0)
		return 0;
	Podmig__V1__ImageChunk c = PODMIG__V1__IMAGE_CHUNK__INIT;
	c.data.data = is->buf;
	c.data.len = is->len;
	c.offset = is->offset;
	int r = rpc_server_call_send(is->call, &c.base);
	if (r < 0)
		return r;
	is->offset += is->len;
	is->len = 0;
	return 0;
}

static int image_sender_write(const void *data, size_t size, void *userdata)
{
	ImageSender *is = userdata;
	const uint8_t *p = data;
	while (size > 0) {
		size_t n = MIN(size, (size_t)CHUNK_BYTES - is->len);
		memcpy(is->buf + is->len, p, n);
		is->len += n;
		p += n;
		size -= n;
		if (is->len == CHUNK_BYTES) {
			int r = image_sender_flush(is);
			if (r < 0)
				return r;
		}
	}
	return 0;
}

int agent_handle_fetch_image(RpcServerCall *call, void *userdata)
{
	Agent *a = userdata;
	_cleanup_message_ ProtobufCMessage *msg = NULL;
	_cleanup_free_ uint8_t *buf = NULL;
	_cleanup_(migration_record_clear) MigrationRecord rec = {};
	PodmanError e = {};
	int r;

	if ((r = agent_authorize(a, call, AGENT_METHOD_FETCH_IMAGE, NULL)) < 0)
		return r;
	if ((r = rpc_server_call_recv(call, &msg)) <= 0)
		return r < 0 ? r : -EBADMSG;
	Podmig__V1__FetchImageRequest *req = (Podmig__V1__FetchImageRequest *)msg;
	/* Only the image of a migration under way from this node is served. */
	r = migration_record_load(a->etcd, a->config->prefix, req->migration_id, &rec);
	if (r < 0)
		return rpc_server_call_error(call, RPC_NOT_FOUND, "no migration %s",
		                             req->migration_id);
	if ((r = agent_authorize(a, call, AGENT_METHOD_FETCH_IMAGE, &rec)) < 0 ||
	    (r = agent_authorize_order(a, call, AGENT_METHOD_FETCH_IMAGE, &rec)) < 0)
		return r;
	bool ok = streq(rec.source, a->config->node_name) && rec.image &&
	          streq(rec.image, req->image) && !migration_phase_is_final(rec.phase);
	if (!ok)
		return rpc_server_call_error(call, RPC_PERMISSION_DENIED,
		                             "image %s is not part of migration %s from node %s",
		                             req->image, req->migration_id, a->config->node_name);
	if (!(buf = malloc(CHUNK_BYTES)))
		return -ENOMEM;
	ImageSender is = { .call = call, .buf = buf };
	r = podman_image_export(a->podman, req->image, image_sender_write, &is, &e);
	if (r >= 0)
		r = image_sender_flush(&is);
	if (r < 0)
		return rpc_server_call_error(call, RPC_INTERNAL, "exporting image %s on %s: %s",
		                             req->image, a->config->node_name,
		                             e.message[0] ? e.message : error_to_string(r));
	log_info("sent image %s (%" PRIu64 " bytes) for migration %s", req->image, is.offset,
	         req->migration_id);
	return 0;
}

/* The target side: the archive arrives into an unnamed file; it is checked
 * before Podman sees it (Podman applies an archive's tags while loading),
 * then loaded from the file. */

/* Writes the chunks of `st` into fd, at most `limit` bytes; *ret_size: how
 * many arrived. */
static int image_receive(RpcStream *st, int fd, uint64_t limit, uint64_t *ret_size,
                         ErrorDetail *why)
{
	uint64_t offset = 0;
	int r;

	for (;;) {
		_cleanup_message_ ProtobufCMessage *m = NULL;
		if ((r = rpc_stream_recv(st, SEND_TIMEOUT_USEC, &m)) <= 0) {
			if (r < 0)
				error_detail_set(why, "receiving it failed: %s",
				                 error_to_string(r));
			*ret_size = offset;
			return r;
		}
		Podmig__V1__ImageChunk *c = (Podmig__V1__ImageChunk *)m;
		if (c->offset != offset) {
			error_detail_set(why, "data at offset %" PRIu64 ", expected %" PRIu64,
			                 c->offset, offset);
			return -EPROTO;
		}
		if (c->data.len > limit - offset) {
			error_detail_set(why, "more than the %" PRIu64 " bytes it may take here",
			                 limit);
			return -EFBIG;
		}
		if ((r = loop_write(fd, c->data.data, c->data.len)) < 0) {
			error_detail_set(why, "storing it failed: %s", error_to_string(r));
			return r;
		}
		offset += c->data.len;
	}
}

/* The SHA-256 of `m` in fd, in hex: the image ID of a configuration. */
static int member_sha256(int fd, const ArchiveMember *m, char out[static 2 * SHA256_BYTES + 1])
{
	_cleanup_free_ uint8_t *buf = malloc(CHUNK_BYTES);
	EVP_MD_CTX *sha = EVP_MD_CTX_new();
	uint8_t digest[SHA256_BYTES];
	unsigned len = 0;
	int r = 0;

	if (!buf || !sha || EVP_DigestInit_ex(sha, EVP_sha256(), NULL) != 1)
		r = -ENOMEM;
	for (uint64_t off = 0; r >= 0 && off < m->size;) {
		ssize_t n = pread(fd, buf, (size_t)MIN((uint64_t)CHUNK_BYTES, m->size - off),
		                  (off_t)(m->offset + off));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			r = n < 0 ? -errno : -EIO;
		else if (EVP_DigestUpdate(sha, buf, (size_t)n) != 1)
			r = -EIO;
		else
			off += (uint64_t)n;
	}
	if (r >= 0 && EVP_DigestFinal_ex(sha, digest, &len) != 1)
		r = -EIO;
	EVP_MD_CTX_free(sha);
	if (r < 0)
		return r;
	agent_hex(digest, len, out);
	return 0;
}

/* After loading: Podman named exactly `image` (no other name) and gave it
 * the record's ID — what the archive check already made sure of, asked of
 * Podman itself. */
static int fetched_image_check(Agent *a, const char *image, const char *image_id,
                               char *const *names, ErrorDetail *why)
{
	_cleanup_free_ char *want = NULL, *got = NULL, *id = NULL;
	PodmanError e = {};
	int r;

	if ((r = image_reference_normalize(image, &want)) < 0)
		return r;
	size_t n = strv_length(names);
	for (size_t i = 0; i < n; i++) {
		free(got);
		got = NULL;
		if ((r = image_reference_normalize(names[i], &got)) < 0)
			return r;
		if (!streq(got, want)) {
			error_detail_set(why, "the source's archive of %s also named %.100s", image,
			                 names[i]);
			return -EPERM;
		}
	}
	if (n == 0) {
		error_detail_set(why, "the source's archive of %s named no image", image);
		return -EPERM;
	}
	if ((r = podman_image_id(a->podman, image, &id, &e)) < 0) {
		error_detail_set(why, "image %s missing after loading it from the source: %s",
		                 image, e.message[0] ? e.message : error_to_string(r));
		return r;
	}
	if (!streq(startswith(id, "sha256:") ?: id, image_id)) {
		error_detail_set(why, "the source's archive of %s has ID %.64s, not %.64s", image,
		                 id, image_id);
		return -EPERM;
	}
	return 0;
}

int target_fetch_image(Agent *a, const char *source, const char *migration_id, const char *image,
                       const char *image_id, ErrorDetail *why)
{
	_cleanup_(rpc_channel_freep) RpcChannel *ch = NULL;
	_cleanup_(rpc_stream_freep) RpcStream *st = NULL;
	_cleanup_free_ char *source_address = NULL;
	_cleanup_strv_free_ char **names = NULL;
	_cleanup_close_ int fd = -EBADF;
	char config_id[2 * SHA256_BYTES + 1];
	ErrorDetail problem = {};
	PodmanError e = {};
	RpcStatus status = {};
	uint64_t limit, size = 0;
	int r;

	if (!migration_image_id_valid(image_id)) {
		error_detail_set(why, "the migration record names no ID for image %s", image);
		return -EINVAL;
	}
	if ((r = agent_node_address(a, source, &source_address, NULL)) < 0) {
		error_detail_set(why, "no trusted address of node %s in etcd: %s", source,
		                 r == -EPERM ? "its info is not under its lease"
		                             : error_to_string(r));
		return r;
	}
	if ((fd = agent_work_file(a)) < 0 || (r = agent_work_space(a, &limit)) < 0) {
		r = fd < 0 ? fd : r;
		error_detail_set(why, "no room for image %s in %s: %s", image, a->config->work_dir,
		                 error_to_string(r));
		return r;
	}
	RpcOptions o = agent_peer_options(a);
	Podmig__V1__FetchImageRequest req = PODMIG__V1__FETCH_IMAGE_REQUEST__INIT;
	req.migration_id = (char *)migration_id;
	req.image = (char *)image;
	if ((r = rpc_channel_new(source_address, &o, &ch)) < 0 ||
	    (r = rpc_stream_open(ch, &podmig__v1__agent__descriptor, "FetchImage", &st)) < 0 ||
	    (r = rpc_stream_send_timeout(st, &req.base, SEND_TIMEOUT_USEC)) < 0 ||
	    (r = rpc_stream_close_send(st)) < 0) {
		error_detail_set(why, "cannot ask %s for image %s: %s", source_address, image,
		                 error_to_string(r));
		return r;
	}
	r = image_receive(st, fd, limit, &size, &problem);
	int f = rpc_stream_finish(st, &status);
	if (r < 0 || f < 0) {
		error_detail_set(why, "fetching image %s from the source failed: %.300s", image,
		                 r < 0 ? problem.message : status.message);
		return r < 0 ? r : f;
	}

	/* Nothing reaches Podman unless it is exactly the record's image. */
	ArchiveMember config = {};
	r = image_archive_check_fd(fd, size, image, &config, &problem);
	if (r < 0) {
		error_detail_set(why, "the source's archive of %s is refused: %.300s", image,
		                 r == -EBADMSG ? problem.message : error_to_string(r));
		return r == -EBADMSG ? -EPERM : r;
	}
	if ((r = member_sha256(fd, &config, config_id)) < 0) {
		error_detail_set(why, "cannot read the source's archive of %s: %s", image,
		                 error_to_string(r));
		return r;
	}
	if (!streq(config_id, image_id)) {
		error_detail_set(why,
		                 "the source's archive of %s has ID %s, not %s as the migration "
		                 "record says",
		                 image, config_id, image_id);
		return -EPERM;
	}
	if (lseek(fd, 0, SEEK_SET) < 0)
		return -errno;
	r = podman_image_load(a->podman, agent_fd_read, &fd, &names, &e);
	if (r < 0) {
		error_detail_set(why, "loading image %s failed: %.300s", image,
		                 e.message[0] ? e.message : error_to_string(r));
		return r;
	}
	if ((r = fetched_image_check(a, image, image_id, names, why)) < 0)
		return r;
	log_info("migration %s: loaded image %s (%" PRIu64 " bytes) from %s at %s", migration_id,
	         image, size, source, source_address);
	return 0;
}
