/* agent-migrate-image.c — a target that lacks a migrating container's image
 * fetches it from the source (FetchImage): the source exports it from its
 * Podman and streams it; the target loads it into its own as it arrives.
 * The source serves only the image of a migration under way from it. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "agent-migrate.h"
#include "agent.pb-c.h"
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
	if ((r = agent_authorize(a, call, AGENT_METHOD_FETCH_IMAGE, &rec)) < 0)
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

/* The target side: Podman loads the image as the chunks arrive. */
typedef struct ImageReceiver {
	RpcStream *stream;
	ProtobufCMessage *chunk; /* the message being read from */
	size_t pos;
	uint64_t offset;
	int error;
} ImageReceiver;

static ssize_t image_receiver_read(void *buf, size_t size, void *userdata)
{
	ImageReceiver *ir = userdata;
	for (;;) {
		Podmig__V1__ImageChunk *c = (Podmig__V1__ImageChunk *)ir->chunk;
		if (c && ir->pos < c->data.len) {
			size_t n = MIN(size, c->data.len - ir->pos);
			memcpy(buf, c->data.data + ir->pos, n);
			ir->pos += n;
			ir->offset += n;
			return (ssize_t)n;
		}
		rpc_message_free(ir->chunk);
		ir->chunk = NULL;
		ir->pos = 0;
		int r = rpc_stream_recv(ir->stream, SEND_TIMEOUT_USEC, &ir->chunk);
		if (r == 0)
			return 0;
		if (r < 0)
			return ir->error = r;
		c = (Podmig__V1__ImageChunk *)ir->chunk;
		if (c->offset != ir->offset)
			return ir->error = -EPROTO;
	}
}

/* `name` with the tag Podman gives an untagged reference. */
static int image_name_normalize(const char *name, char **ret)
{
	const char *last = strrchr(name, '/');
	bool tagged = strchr(last ? last : name, ':') || strchr(name, '@');
	return asprintf(ret, "%s%s", name, tagged ? "" : ":latest") < 0 ? -ENOMEM : 0;
}

static const char *image_id_hex(const char *id)
{
	return startswith(id, "sha256:") ?: id;
}

/* The archive loaded exactly `image` (no other name: an archive may carry
 * any tags) and its ID is the one the source reported. */
static int fetched_image_check(Agent *a, const char *image, const char *image_id,
                               char *const *names, ErrorDetail *why)
{
	_cleanup_free_ char *want = NULL, *got = NULL, *id = NULL;
	PodmanError e = {};
	int r;

	if ((r = image_name_normalize(image, &want)) < 0)
		return r;
	size_t n = strv_length(names);
	for (size_t i = 0; i < n; i++) {
		free(got);
		got = NULL;
		if ((r = image_name_normalize(names[i], &got)) < 0)
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
	if (!streq(image_id_hex(id), image_id_hex(image_id))) {
		error_detail_set(why, "the source's archive of %s has ID %.64s, not %.64s", image,
		                 id, image_id_hex(image_id));
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
	PodmanError e = {};
	RpcStatus status = {};
	int r;

	if (!*image_id) {
		error_detail_set(why, "the source reported no ID for image %s", image);
		return -EINVAL;
	}
	if ((r = agent_node_address(a, source, &source_address, NULL)) < 0) {
		error_detail_set(why, "no trusted address of node %s in etcd: %s", source,
		                 r == -EPERM ? "its info is not under its lease"
		                             : error_to_string(r));
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
	ImageReceiver ir = { .stream = st };
	r = podman_image_load(a->podman, image_receiver_read, &ir, &names, &e);
	rpc_message_free(ir.chunk);
	int f = rpc_stream_finish(st, &status);
	if (r < 0 || f < 0 || ir.error < 0) {
		error_detail_set(why, "fetching image %s from the source failed: %.300s", image,
		                 f < 0          ? status.message
		                 : e.message[0] ? e.message
		                                : error_to_string(r));
		return r < 0 ? r : f < 0 ? f : ir.error;
	}
	if ((r = fetched_image_check(a, image, image_id, names, why)) < 0)
		return r;
	log_info("migration %s: loaded image %s (%" PRIu64 " bytes) from %s at %s", migration_id,
	         image, ir.offset, source, source_address);
	return 0;
}
