/* agent-migrate.c — both sides of a live migration, as the Agent service's
 * Migrate (source, called by the driver), Receive (target, called by the
 * source) and FetchImage (source, called by a target that lacks the image).
 *
 * Who decides what (so a container never runs on two nodes):
 *   - planned, checkpointing, transferring belong to the source: it may roll
 *     back (compare-and-swap to rolled-back, then restore its own copy from
 *     the checkpoint it kept);
 *   - restoring belongs to the target: it enters restoring by a
 *     compare-and-swap from transferring *before* it restores, and ends it
 *     with done (its copy runs) or rolled-back (its copy is gone);
 *   - the final phase decides who owns the container: done → the target,
 *     rolled-back or failed → the source. The source removes its copy only
 *     once it has read `done`, and restores it only once it has read (or
 *     written) rolled-back. A party that cannot reach etcd waits.
 * The archive travels source → target directly, in 1 MiB chunks with
 * offsets, and a SHA-256 over all of it that the target checks before it
 * restores. */
#include <fcntl.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent-internal.h"
#include "agent.pb-c.h"
#include "archive-check.h"
#include "fault.h"
#include "json-util.h"
#include "log.h"
#include "migration-record.h"
#include "precopy.h"
#include "process-util.h"
#include "strutil.h"

#define CHUNK_BYTES         (1024 * 1024)
#define READY_TIMEOUT_USEC  (300 * RPC_USEC_PER_SEC) /* includes fetching an image */
#define SEND_TIMEOUT_USEC   (60 * RPC_USEC_PER_SEC)
#define DONE_TIMEOUT_USEC   (600 * RPC_USEC_PER_SEC)
#define SETTLE_TIMEOUT_USEC (900 * RPC_USEC_PER_SEC)
#define FAULT_TIMEOUT_USEC  (600 * RPC_USEC_PER_SEC)
#define PROGRESS_USEC       (200 * 1000)
#define SHA256_BYTES        32

DEFINE_TRIVIAL_CLEANUP_FUNC(EVP_MD_CTX *, EVP_MD_CTX_free);

static void sleep_usec(uint64_t usec)
{
	struct timespec ts = { .tv_sec = (time_t)(usec / 1000000),
		               .tv_nsec = (long)(usec % 1000000) * 1000 };
	nanosleep(&ts, NULL);
}

static void hex(const uint8_t *d, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", d[i]);
}

/* ---- shared ---- */

/* Takes one of the node's migration slots for `id`; -EBUSY when all are in
 * use. While it is held, recovery leaves the migration alone. */
static int slot_take(Agent *a, const char *id)
{
	int r = -EBUSY;
	pthread_mutex_lock(&a->migrations_lock);
	for (unsigned i = 0; i < a->config->max_migrations; i++)
		if (!a->active[i][0]) {
			snprintf(a->active[i], sizeof a->active[i], "%s", id);
			a->migrations++;
			r = 0;
			break;
		}
	pthread_mutex_unlock(&a->migrations_lock);
	return r;
}

static void slot_release(Agent *a, const char *id)
{
	pthread_mutex_lock(&a->migrations_lock);
	for (unsigned i = 0; i < a->config->max_migrations; i++)
		if (streq(a->active[i], id)) {
			a->active[i][0] = 0;
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

static RpcOptions peer_options(const Agent *a)
{
	const AgentConfig *c = a->config;
	return (RpcOptions){
		.plaintext = !c->tls_cert,
		.ca_file = c->tls_ca,
		.cert_file = c->tls_cert,
		.key_file = c->tls_key,
		.max_reconnect_backoff_msec = 1000,
	};
}

static int fault(const Agent *a, const char *point)
{
	return fault_point(a->config->fault_dir, point, FAULT_TIMEOUT_USEC);
}

/* Advances a record, retrying for a while when etcd cannot be reached;
 * ETCD_CAS_FAILED and -EINVAL are answers, not outages, and return at once. */
static int record_advance(Agent *a, MigrationRecord *rec, MigrationPhase to, const char *error)
{
	int r;
	for (int i = 0; i < 60; i++) {
		r = migration_record_advance(a->etcd, a->config->prefix, rec, to, error, wall_ms());
		if (r >= 0 || r == ETCD_CAS_FAILED || r == -EINVAL || r == -ENOMEM)
			return r;
		log_warning_errno(r, "migration %s: cannot record phase %s in etcd; retrying",
		                  rec->id, migration_phase_to_string(to));
		sleep_usec(500 * 1000);
	}
	return r;
}

/* Reloads `rec` from etcd, waiting while etcd cannot be reached. */
static int record_reload(Agent *a, MigrationRecord *rec)
{
	MigrationRecord fresh;
	int r;
	for (int i = 0; i < 120; i++) {
		r = migration_record_load(a->etcd, a->config->prefix, rec->id, &fresh);
		if (r >= 0) {
			migration_record_done(rec);
			*rec = fresh;
			return 0;
		}
		if (r == ETCD_NOT_FOUND || r == -ENOMEM)
			return r;
		sleep_usec(500 * 1000);
	}
	return r;
}

/* The gRPC address of `node`'s agent, from its info key in etcd. */
static int node_address(Agent *a, const char *node, char **ret)
{
	_cleanup_free_ char *key = NULL;
	EtcdKeyValue kv;
	int r;

	if (asprintf(&key, "%snodes/%s/info", a->config->prefix, node) < 0)
		return -ENOMEM;
	if ((r = etcd_get(a->etcd, key, &kv)) < 0)
		return r;
	_cleanup_json_ json_t *info = json_loadb(kv.value, kv.value_size, 0, NULL);
	etcd_key_value_done(&kv);
	const char *addr = json_get_string(info, "grpc_address");
	if (!addr || !*addr)
		return -EBADMSG;
	*ret = strdup(addr);
	return *ret ? 0 : -ENOMEM;
}

/* ---- source: Migrate ---- */

#define SEND_SLOTS 4 /* chunks in flight between Podman's stream and gRPC */

typedef struct Source {
	Agent *a;
	RpcServerCall *driver;
	RpcStream *target;
	MigrationRecord rec;
	EVP_MD_CTX *sha;
	uint64_t offset; /* of the archive being sent */
	uint64_t chunks;
	uint64_t last_progress;
	uint64_t down_since;                       /* monotonic: the checkpoint began */
	uint64_t first_byte, send_usec, hash_usec; /* where the transfer's time goes */
	uint64_t sent; /* bytes of every archive sent, pre-dump included */
	bool previous; /* sending the pre-dump archive (pre-copy) */
	bool transferring;
	bool image_sent;
	char why[512]; /* the first failure, for the record and the driver */

	/* The sender thread hashes and sends filled chunks in order while
	 * Podman's stream fills the next ones: reading, hashing and sending
	 * overlap instead of taking turns (bench/README.md). A ring of
	 * SEND_SLOTS chunks: q_count queued from q_head on, the one after them
	 * being filled. Between archives (queue drained) only one thread runs. */
	pthread_t sender;
	bool sender_running;
	pthread_mutex_t q_lock;
	pthread_cond_t q_cond;
	uint8_t *slots[SEND_SLOTS];
	size_t slot_len[SEND_SLOTS];
	unsigned q_head, q_count;
	bool q_stop;
	int send_error;
} Source;

static void source_fail_reason(Source *s, const char *fmt, ...) _printf_(2, 3);
static void source_fail_reason(Source *s, const char *fmt, ...)
{
	if (s->why[0])
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(s->why, sizeof s->why, fmt, ap);
	va_end(ap);
}

/* Tells the driver how far we are; a driver that went away does not stop
 * the migration. */
static void source_progress(Source *s, bool force)
{
	uint64_t now = now_usec(CLOCK_MONOTONIC);
	if (!force && now - s->last_progress < PROGRESS_USEC)
		return;
	s->last_progress = now;
	Podmig__V1__MigrateProgress p = PODMIG__V1__MIGRATE_PROGRESS__INIT;
	p.migration_id = s->rec.id;
	p.phase = (char *)migration_phase_to_string(s->rec.phase);
	p.bytes = s->sent;
	p.mode = (char *)migration_mode_to_string(s->rec.mode);
	p.downtime_ms = s->rec.downtime_ms;
	p.error = s->rec.error ?: (char *)"";
	p.image_sent = s->image_sent;
	(void)rpc_server_call_send(s->driver, &p.base);
}

/* Sender thread: one filled chunk, hashed then sent. */
static int source_send_chunk(Source *s, uint8_t *buf, size_t len)
{
	uint64_t n, t0 = now_usec(CLOCK_MONOTONIC);
	if (EVP_DigestUpdate(s->sha, buf, len) != 1)
		return -EIO;
	s->hash_usec += now_usec(CLOCK_MONOTONIC) - t0;
	/* A corrupted chunk (test fault) is sent after the checksum saw the
	 * true bytes, as a bit flip on the wire would be. */
	if (fault_lookup(s->a->config->fault_dir, "source-chunk", &n) == FAULT_CORRUPT &&
	    n == s->chunks) {
		log_notice("migration %s: corrupting chunk %" PRIu64 " as the test asked",
		           s->rec.id, n);
		buf[len / 2] ^= 0x5a;
	}
	Podmig__V1__TransferMessage m = PODMIG__V1__TRANSFER_MESSAGE__INIT;
	m.kind_case = PODMIG__V1__TRANSFER_MESSAGE__KIND_DATA;
	m.data.data = buf;
	m.data.len = len;
	m.offset = s->offset;
	m.previous = s->previous;
	t0 = now_usec(CLOCK_MONOTONIC);
	int r = rpc_stream_send_timeout(s->target, &m.base, SEND_TIMEOUT_USEC);
	s->send_usec += now_usec(CLOCK_MONOTONIC) - t0;
	if (r < 0)
		return r;
	s->offset += len;
	s->sent += len;
	s->chunks++;
	source_progress(s, false);
	return 0;
}

static void *source_sender(void *userdata)
{
	Source *s = userdata;
	pthread_mutex_lock(&s->q_lock);
	for (;;) {
		while (s->q_count == 0 && !s->q_stop)
			pthread_cond_wait(&s->q_cond, &s->q_lock);
		if (s->q_count == 0)
			break;
		unsigned i = s->q_head;
		int error = s->send_error;
		pthread_mutex_unlock(&s->q_lock);
		/* After a failure the rest is dropped, so the producer never waits. */
		int r = error ? 0 : source_send_chunk(s, s->slots[i], s->slot_len[i]);
		pthread_mutex_lock(&s->q_lock);
		if (r < 0 && !s->send_error)
			s->send_error = r;
		s->q_head = (s->q_head + 1) % SEND_SLOTS;
		s->q_count--;
		pthread_cond_broadcast(&s->q_cond);
	}
	pthread_mutex_unlock(&s->q_lock);
	return NULL;
}

static int source_sender_start(Source *s)
{
	for (unsigned i = 0; i < SEND_SLOTS; i++)
		if (!(s->slots[i] = malloc(CHUNK_BYTES)))
			return -ENOMEM;
	pthread_mutex_init(&s->q_lock, NULL);
	pthread_cond_init(&s->q_cond, NULL);
	int r = pthread_create(&s->sender, NULL, source_sender, s);
	if (r != 0)
		return -r;
	s->sender_running = true;
	return 0;
}

/* Stops the sender (cancel: give up on what is queued and on a send in
 * progress) and frees its chunks. */
static void source_sender_stop(Source *s, bool cancel)
{
	if (s->sender_running) {
		pthread_mutex_lock(&s->q_lock);
		s->q_stop = true;
		if (cancel && !s->send_error)
			s->send_error = -ECANCELED;
		pthread_cond_broadcast(&s->q_cond);
		pthread_mutex_unlock(&s->q_lock);
		if (cancel && s->target)
			rpc_stream_cancel(s->target);
		pthread_join(s->sender, NULL);
		pthread_cond_destroy(&s->q_cond);
		pthread_mutex_destroy(&s->q_lock);
		s->sender_running = false;
	}
	for (unsigned i = 0; i < SEND_SLOTS; i++) {
		free(s->slots[i]);
		s->slots[i] = NULL;
	}
}

/* A send to the target failed. When the call has ended (-ECONNRESET), the
 * target's status says why (e.g. RESOURCE_EXHAUSTED: its disk is full),
 * which is the reason worth recording rather than the broken send. Called
 * on the handler's thread once the sender has stopped sending. */
static int source_send_failed(Source *s, int r)
{
	RpcStatus st = {};
	if (r == -ECONNRESET && rpc_stream_finish(s->target, &st) < 0 && st.message[0])
		source_fail_reason(s, "target %s: %s", s->rec.target, st.message);
	else
		source_fail_reason(s, "sending the archive to %s failed: %s", s->rec.target,
		                   strerror(-r));
	return r;
}

/* Hands the chunk being filled to the sender and waits for a free one. */
static int source_enqueue(Source *s)
{
	int r;
	pthread_mutex_lock(&s->q_lock);
	s->q_count++;
	pthread_cond_broadcast(&s->q_cond);
	while (s->q_count == SEND_SLOTS && !s->send_error)
		pthread_cond_wait(&s->q_cond, &s->q_lock);
	r = s->send_error;
	pthread_mutex_unlock(&s->q_lock);
	s->slot_len[(s->q_head + s->q_count) % SEND_SLOTS] = 0;
	return r < 0 ? source_send_failed(s, r) : 0;
}

/* The next bytes of the archive, in order. */
static int source_push(Source *s, const void *data, size_t size)
{
	const uint8_t *p = data;
	while (size > 0) {
		pthread_mutex_lock(&s->q_lock);
		unsigned fill = (s->q_head + s->q_count) % SEND_SLOTS;
		int error = s->send_error;
		pthread_mutex_unlock(&s->q_lock);
		if (error < 0)
			return source_send_failed(s, error);
		size_t n = MIN(size, (size_t)CHUNK_BYTES - s->slot_len[fill]);
		memcpy(s->slots[fill] + s->slot_len[fill], p, n);
		s->slot_len[fill] += n;
		p += n;
		size -= n;
		if (s->slot_len[fill] == CHUNK_BYTES) {
			int r = source_enqueue(s);
			if (r < 0)
				return r;
		}
	}
	return 0;
}

/* Sends what is left of the archive and waits until all of it is sent. */
static int source_drain(Source *s)
{
	pthread_mutex_lock(&s->q_lock);
	unsigned fill = (s->q_head + s->q_count) % SEND_SLOTS;
	pthread_mutex_unlock(&s->q_lock);
	if (s->slot_len[fill] > 0) {
		int r = source_enqueue(s);
		if (r < 0)
			return r;
	}
	pthread_mutex_lock(&s->q_lock);
	while (s->q_count > 0 && !s->send_error)
		pthread_cond_wait(&s->q_cond, &s->q_lock);
	int r = s->send_error;
	pthread_mutex_unlock(&s->q_lock);
	return r < 0 ? source_send_failed(s, r) : 0;
}

/* Podman's checkpoint export arrives here, once the container is dumped. */
static int source_on_archive(const void *data, size_t size, void *userdata)
{
	Source *s = userdata;
	int r;

	if (!s->transferring && !s->previous) {
		s->transferring = true;
		s->first_byte = now_usec(CLOCK_MONOTONIC);
		r = record_advance(s->a, &s->rec, MIGRATION_TRANSFERRING, NULL);
		if (r < 0) {
			source_fail_reason(s, "cannot record the transfer in etcd: %s",
			                   strerror(-r));
			return r;
		}
		source_progress(s, true);
		if ((r = fault(s->a, "source-transferring")) < 0) {
			source_fail_reason(s, "fault injected at source-transferring");
			return r;
		}
	}
	return source_push(s, data, size);
}

/* Whatever happened, bring the migration to a final phase and the
 * container to exactly one node: see the rules at the top of the file.
 * Returns the final phase. */
static MigrationPhase source_settle(Source *s)
{
	Agent *a = s->a;
	uint64_t deadline = now_usec(CLOCK_MONOTONIC) + SETTLE_TIMEOUT_USEC;
	PodmanError e = {};
	int r;

	for (;;) {
		if (record_reload(a, &s->rec) < 0) {
			log_error("migration %s: cannot read its record from etcd; keeping "
			          "container %s stopped until it can be read",
			          s->rec.id, s->rec.container);
			return s->rec.phase;
		}
		MigrationPhase p = s->rec.phase;
		if (p == MIGRATION_DONE) {
			r = podman_container_remove(a->podman, s->rec.container, true, &e);
			if (r < 0 && r != PODMAN_NOT_FOUND)
				log_error("migration %s: %s moved to %s but its stopped copy here "
				          "could not be removed: %s",
				          s->rec.id, s->rec.container, s->rec.target, e.message);
			return p;
		}
		if (p == MIGRATION_ROLLED_BACK || p == MIGRATION_FAILED) {
			PodmanContainerInspect ins = {};
			bool running = podman_container_inspect(a->podman, s->rec.container, &ins,
			                                        NULL) >= 0 &&
			               ins.running;
			podman_container_inspect_done(&ins);
			if (!running && podman_container_restore_local(a->podman, s->rec.container,
			                                               NULL, &e) < 0) {
				log_error("migration %s: rolled back, but %s could not be restored "
				          "on %s: %s",
				          s->rec.id, s->rec.container, a->config->node_name,
				          e.message);
				source_fail_reason(s, "restoring %s on %s failed: %s",
				                   s->rec.container, a->config->node_name,
				                   e.message);
			} else
				log_info("migration %s: rolled back, %s runs on %s again",
				         s->rec.id, s->rec.container, a->config->node_name);
			return p;
		}
		if (p == MIGRATION_RESTORING) {
			/* The target decides; wait for it. */
			if (now_usec(CLOCK_MONOTONIC) > deadline) {
				log_error("migration %s: the target %s has not finished restoring; "
				          "keeping %s stopped here",
				          s->rec.id, s->rec.target, s->rec.container);
				return p;
			}
			sleep_usec(500 * 1000);
			continue;
		}
		/* planned: nothing was stopped; otherwise the source owns it. */
		MigrationPhase to =
		        p == MIGRATION_PLANNED ? MIGRATION_FAILED : MIGRATION_ROLLED_BACK;
		r = record_advance(a, &s->rec, to, s->why[0] ? s->why : "interrupted");
		if (r == ETCD_CAS_FAILED)
			continue; /* the target moved first: look again */
		if (r < 0)
			return s->rec.phase;
		if (to == MIGRATION_FAILED)
			return to;
		/* loop: restore the local copy as for any rolled-back record */
	}
}

/* Ends the archive being sent with its size and SHA-256, and gets ready for
 * the next one. */
static int source_send_trailer(Source *s)
{
	uint8_t digest[SHA256_BYTES];
	unsigned len = 0;
	int r;

	if ((r = source_drain(s)) < 0)
		return r;
	if (EVP_DigestFinal_ex(s->sha, digest, &len) != 1 ||
	    EVP_DigestInit_ex(s->sha, EVP_sha256(), NULL) != 1)
		return -EIO;
	Podmig__V1__TransferTrailer t = PODMIG__V1__TRANSFER_TRAILER__INIT;
	t.size = s->offset;
	t.sha256.data = digest;
	t.sha256.len = len;
	Podmig__V1__TransferMessage m = PODMIG__V1__TRANSFER_MESSAGE__INIT;
	m.kind_case = PODMIG__V1__TRANSFER_MESSAGE__KIND_TRAILER;
	m.trailer = &t;
	m.offset = s->offset;
	m.previous = s->previous;
	if ((r = rpc_stream_send_timeout(s->target, &m.base, SEND_TIMEOUT_USEC)) < 0)
		return source_send_failed(s, r);
	s->offset = 0;
	return 0;
}

/* ---- source: pre-copy through the podman binary (precopy.h) ---- */

static int precopy_run(const char *const argv[], char *err, size_t err_size, void *userdata)
{
	_cleanup_free_ char *out = NULL;
	SpawnOptions o = { .stderr_to_stdout = true };
	int status = -1;
	int r = spawn_capture((char *const *)argv, &o, 64 * 1024, &out, &status);
	if (r < 0)
		return r;
	if (status != 0) {
		/* Podman's last line says why. */
		size_t n = strlen(out);
		while (n > 0 && out[n - 1] == '\n')
			out[--n] = 0;
		const char *last = strrchr(out, '\n');
		snprintf(err, err_size, "%s", last ? last + 1 : out);
	}
	return status;
}

static int precopy_send(const char *path, bool previous, void *userdata)
{
	Source *s = userdata;
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	int r;

	if (fd < 0)
		return -errno;
	s->previous = previous;
	_cleanup_free_ uint8_t *buf = malloc(CHUNK_BYTES);
	if (!buf)
		return -ENOMEM;
	for (;;) {
		ssize_t n = read(fd, buf, CHUNK_BYTES);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		/* Through the same path as a streamed export: checksum, chunks,
		 * and (for the final archive) the move to transferring. */
		if ((r = source_on_archive(buf, (size_t)n, s)) < 0)
			return r;
	}
	r = source_send_trailer(s);
	s->previous = false;
	return r;
}

static int precopy_stopping(void *userdata)
{
	Source *s = userdata;
	int r = record_advance(s->a, &s->rec, MIGRATION_CHECKPOINTING, NULL);
	if (r < 0)
		return r;
	s->down_since = now_usec(CLOCK_MONOTONIC);
	source_progress(s, true);
	return 0;
}

static int source_send_header(Source *s, const PodmanContainerInspect *ins)
{
	Podmig__V1__TransferHeader h = PODMIG__V1__TRANSFER_HEADER__INIT;
	h.migration_id = s->rec.id;
	h.container = s->rec.container;
	h.image = ins->image ?: (char *)"";
	h.image_id = ins->image_id ?: (char *)"";
	h.source_node = s->a->config->node_name;
	h.source_address = s->a->advertise;
	h.mode = (char *)migration_mode_to_string(s->rec.mode);
	Podmig__V1__TransferMessage m = PODMIG__V1__TRANSFER_MESSAGE__INIT;
	m.kind_case = PODMIG__V1__TRANSFER_MESSAGE__KIND_HEADER;
	m.header = &h;
	return rpc_stream_send_timeout(s->target, &m.base, SEND_TIMEOUT_USEC);
}

/* Waits for the target's reply of kind `want`; on failure, its status
 * message becomes the reason. */
static int source_wait_reply(Source *s, Podmig__V1__TransferReply__KindCase want,
                             uint64_t timeout_usec, Podmig__V1__TransferReply **ret)
{
	_cleanup_message_ ProtobufCMessage *m = NULL;
	int r = rpc_stream_recv(s->target, timeout_usec, &m);
	if (r > 0) {
		Podmig__V1__TransferReply *rep = (Podmig__V1__TransferReply *)m;
		if (rep->kind_case == want) {
			*ret = (Podmig__V1__TransferReply *)TAKE_PTR(m);
			return 0;
		}
		source_fail_reason(s, "target %s answered out of turn", s->rec.target);
		return -EPROTO;
	}
	RpcStatus st = {};
	if (r == -ETIMEDOUT) {
		rpc_stream_cancel(s->target);
		source_fail_reason(s, "target %s did not answer in time", s->rec.target);
		return r;
	}
	r = rpc_stream_finish(s->target, &st);
	source_fail_reason(s, "target %s: %s", s->rec.target,
	                   st.message[0] ? st.message : rpc_code_to_string(st.code));
	return r < 0 ? r : -EPROTO;
}

int agent_handle_migrate(RpcServerCall *call, void *userdata)
{
	Agent *a = userdata;
	const char *self = a->config->node_name;
	_cleanup_message_ ProtobufCMessage *msg = NULL;
	_cleanup_(rpc_channel_freep) RpcChannel *channel = NULL;
	_cleanup_free_ char *target_addr = NULL, *holder = NULL;
	_cleanup_(EVP_MD_CTX_freep) EVP_MD_CTX *sha = NULL;
	PodmanContainerInspect ins = {};
	PodmanError e = {};
	int r;

	if ((r = rpc_server_call_recv(call, &msg)) <= 0)
		return r < 0 ? r : -EBADMSG;
	Podmig__V1__MigrateRequest *req = (Podmig__V1__MigrateRequest *)msg;

	if (!migration_name_valid(req->container))
		return rpc_server_call_error(call, RPC_INVALID_ARGUMENT,
		                             "'%s' is not a valid container name", req->container);
	if (!migration_name_valid(req->target_node))
		return rpc_server_call_error(call, RPC_INVALID_ARGUMENT,
		                             "'%s' is not a valid node name", req->target_node);
	int reason =
	        *req->reason ? migration_reason_from_string(req->reason) : MIGRATION_REASON_MANUAL;
	if (reason < 0)
		return rpc_server_call_error(call, RPC_INVALID_ARGUMENT,
		                             "unknown reason '%s' (manual, automatic, drain)",
		                             req->reason);
	if (streq(req->target_node, self))
		return rpc_server_call_error(call, RPC_INVALID_ARGUMENT,
		                             "container %s is already on node %s", req->container,
		                             self);
	if (*req->decision_id && !migration_id_valid(req->decision_id))
		return rpc_server_call_error(call, RPC_INVALID_ARGUMENT,
		                             "'%s' is not a valid decision id", req->decision_id);

	r = podman_container_inspect(a->podman, req->container, &ins, &e);
	if (r == PODMAN_NOT_FOUND)
		return rpc_server_call_error(call, RPC_NOT_FOUND, "no container %s on node %s",
		                             req->container, self);
	if (r < 0)
		return rpc_server_call_error(call, RPC_UNAVAILABLE, "node %s: %s", self, e.message);
	if (!ins.running) {
		rpc_server_call_error(call, RPC_FAILED_PRECONDITION,
		                      "container %s on node %s is %s, not running", req->container,
		                      self, ins.state ?: "not running");
		podman_container_inspect_done(&ins);
		return -EINVAL;
	}

	r = node_address(a, req->target_node, &target_addr);
	if (r == ETCD_NOT_FOUND) {
		podman_container_inspect_done(&ins);
		return rpc_server_call_error(
		        call, RPC_NOT_FOUND,
		        "no node %s in the cluster (no live agent publishes it)", req->target_node);
	}
	if (r < 0) {
		podman_container_inspect_done(&ins);
		return rpc_server_call_error(call, RPC_UNAVAILABLE,
		                             "cannot look up node %s in etcd: %s", req->target_node,
		                             strerror(-r));
	}

	Source s = { .a = a, .driver = call };
	r = migration_record_init(&s.rec, req->container, self, req->target_node, reason,
	                          wall_ms());
	if (r < 0) {
		podman_container_inspect_done(&ins);
		return rpc_server_call_error(call, RPC_INVALID_ARGUMENT, "%s", strerror(-r));
	}
	if (slot_take(a, s.rec.id) < 0) {
		migration_record_done(&s.rec);
		podman_container_inspect_done(&ins);
		return rpc_server_call_error(call, RPC_RESOURCE_EXHAUSTED,
		                             "node %s is already in %u migration(s), its limit",
		                             self, a->config->max_migrations);
	}
	snprintf(s.rec.decision, sizeof s.rec.decision, "%s", req->decision_id);
	if (ins.image && !(s.rec.image = strdup(ins.image)))
		r = -ENOMEM;
	s.rec.mode =
	        precopy_choose_mode(criu_features_pre_copy(&a->criu),
	                            a->config->pre_copy_never ? PRE_COPY_NEVER : PRE_COPY_AUTO);
	if (r >= 0)
		r = migration_record_create(a->etcd, a->config->prefix, &s.rec, &holder);
	if (r == -EBUSY) {
		rpc_server_call_error(call, RPC_FAILED_PRECONDITION,
		                      "container %s is already being migrated (%s)", req->container,
		                      holder ?: "?");
		goto out_early;
	}
	if (r < 0) {
		rpc_server_call_error(call, RPC_UNAVAILABLE,
		                      "cannot create the migration record in etcd: %s",
		                      strerror(-r));
		goto out_early;
	}
	log_info("migration %s: %s from %s to %s (%s) begins", s.rec.id, s.rec.container, self,
	         s.rec.target, migration_reason_to_string(s.rec.reason));
	source_progress(&s, true);

	/* Target first: it must say it can take the container (and have the
	 * image) before the container is stopped. */
	RpcOptions o = peer_options(a);
	if ((r = rpc_channel_new(target_addr, &o, &channel)) < 0 ||
	    (r = rpc_stream_open(channel, &podmig__v1__agent__descriptor, "Receive", &s.target)) <
	            0) {
		source_fail_reason(&s, "cannot reach the agent of %s at %s", s.rec.target,
		                   target_addr);
		goto settle;
	}
	if ((r = source_send_header(&s, &ins)) < 0) {
		source_fail_reason(&s, "cannot reach the agent of %s at %s: %s", s.rec.target,
		                   target_addr, strerror(-r));
		goto settle;
	}
	{
		Podmig__V1__TransferReply *ready = NULL;
		if ((r = source_wait_reply(&s, PODMIG__V1__TRANSFER_REPLY__KIND_READY,
		                           READY_TIMEOUT_USEC, &ready)) < 0)
			goto settle;
		s.image_sent = ready->image_fetched;
		rpc_message_free(&ready->base);
	}

	if ((r = fault(a, "source-checkpointing")) < 0) {
		source_fail_reason(&s, "fault injected at source-checkpointing");
		goto settle;
	}
	if (!(sha = EVP_MD_CTX_new()) || EVP_DigestInit_ex(sha, EVP_sha256(), NULL) != 1) {
		r = -ENOMEM;
		source_fail_reason(&s, "out of memory");
		goto settle;
	}
	s.sha = sha;
	if ((r = source_sender_start(&s)) < 0) {
		source_fail_reason(&s, "cannot start sending: %s", strerror(-r));
		goto settle;
	}

	if (s.rec.mode == MIGRATION_MODE_PRE_COPY) {
		_cleanup_free_ char *pre = NULL, *final = NULL;
		char why[512] = "";
		MigrationMode used = MIGRATION_MODE_STOP_AND_COPY;
		if (asprintf(&pre, "%s/%s.pre.tar", a->config->work_dir, s.rec.id) < 0 ||
		    asprintf(&final, "%s/%s.tar", a->config->work_dir, s.rec.id) < 0) {
			r = -ENOMEM;
			goto settle;
		}
		PreCopyOps ops = { precopy_run, precopy_send, precopy_stopping, &s };
		(void)mkdir(a->config->work_dir, 0700);
		r = precopy_source_run(&ops, "podman", s.rec.container, pre, final, &used, why,
		                       sizeof why);
		unlink(pre);
		unlink(final);
		if (r < 0) {
			source_fail_reason(&s, "%s", why);
			goto settle;
		}
		if (used == MIGRATION_MODE_PRE_COPY)
			goto sent;
		log_notice("migration %s: %s", s.rec.id, why);
		s.rec.mode = MIGRATION_MODE_STOP_AND_COPY;
	}

	if ((r = record_advance(a, &s.rec, MIGRATION_CHECKPOINTING, NULL)) < 0) {
		source_fail_reason(&s, "cannot record the checkpoint in etcd: %s", strerror(-r));
		goto settle;
	}
	source_progress(&s, true);
	s.down_since = now_usec(CLOCK_MONOTONIC);
	/* keep: the checkpoint stays here so a rollback can restore from it. */
	PodmanCheckpointOptions co = { .keep = true };
	r = podman_container_checkpoint(a->podman, s.rec.container, &co, source_on_archive, &s, &e);
	if (r < 0) {
		source_fail_reason(&s, "checkpointing %s on %s failed: %s", s.rec.container, self,
		                   e.message[0] ? e.message : strerror(-r));
		goto settle;
	}
	if (!s.transferring) {
		r = -EIO;
		source_fail_reason(&s, "Podman sent an empty checkpoint archive");
		goto settle;
	}
	if ((r = source_send_trailer(&s)) < 0)
		goto settle;
sent:
	if ((r = rpc_stream_close_send(s.target)) < 0) {
		source_fail_reason(&s, "sending the archive to %s failed: %s", s.rec.target,
		                   strerror(-r));
		goto settle;
	}
	log_info("migration %s: archive sent, %" PRIu64 " bytes in %" PRIu64
	         " ms from Podman's first byte; the sender thread spent %" PRIu64
	         " ms in gRPC sends and %" PRIu64 " ms hashing, alongside Podman's stream",
	         s.rec.id, s.sent, (now_usec(CLOCK_MONOTONIC) - s.first_byte) / 1000,
	         s.send_usec / 1000, s.hash_usec / 1000);
	source_progress(&s, true);
	{
		Podmig__V1__TransferReply *done = NULL;
		if ((r = source_wait_reply(&s, PODMIG__V1__TRANSFER_REPLY__KIND_DONE,
		                           DONE_TIMEOUT_USEC, &done)) >= 0)
			rpc_message_free(&done->base);
	}

settle:;
	/* Whatever is still queued is moot now (the target answered or the
	 * migration failed). */
	source_sender_stop(&s, true);
	uint64_t downtime_ms = s.down_since ? (now_usec(CLOCK_MONOTONIC) - s.down_since) / 1000 : 0;
	MigrationPhase final = source_settle(&s);
	if (migration_phase_is_final(final)) {
		/* Bookkeeping on the final record; a lost race here changes nothing. */
		s.rec.bytes = s.sent;
		s.rec.downtime_ms = downtime_ms;
		if (s.why[0] && final != MIGRATION_DONE && !s.rec.error)
			s.rec.error = strdup(s.why);
		(void)migration_record_update(a->etcd, a->config->prefix, &s.rec);
	}
	source_progress(&s, true);
	if (final == MIGRATION_DONE) {
		log_info("migration %s: %s now runs on %s (%" PRIu64 " bytes, down %" PRIu64 " ms)",
		         s.rec.id, s.rec.container, s.rec.target, s.sent, downtime_ms);
		r = 0;
	} else {
		log_warning("migration %s: %s: %s", s.rec.id, migration_phase_to_string(final),
		            s.rec.error ?: s.why);
		r = rpc_server_call_error(
		        call, final == MIGRATION_RESTORING ? RPC_UNAVAILABLE : RPC_ABORTED,
		        "migration %s %s: %s", s.rec.id,
		        final == MIGRATION_RESTORING ? "is still restoring on the target"
		                                     : migration_phase_to_string(final),
		        s.rec.error ?: s.why);
	}
	s.target = rpc_stream_free(s.target);
	slot_release(a, s.rec.id);
	migration_record_done(&s.rec);
	podman_container_inspect_done(&ins);
	return r;

out_early:
	slot_release(a, s.rec.id);
	migration_record_done(&s.rec);
	podman_container_inspect_done(&ins);
	return -EINVAL;
}

/* ---- source: FetchImage ---- */

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
	MigrationRecord rec = {};
	PodmanError e = {};
	int r;

	if ((r = rpc_server_call_recv(call, &msg)) <= 0)
		return r < 0 ? r : -EBADMSG;
	Podmig__V1__FetchImageRequest *req = (Podmig__V1__FetchImageRequest *)msg;
	/* Only the image of a migration under way from this node is served. */
	r = migration_record_load(a->etcd, a->config->prefix, req->migration_id, &rec);
	if (r < 0)
		return rpc_server_call_error(call, RPC_NOT_FOUND, "no migration %s",
		                             req->migration_id);
	bool ok = streq(rec.source, a->config->node_name) && rec.image &&
	          streq(rec.image, req->image) && !migration_phase_is_final(rec.phase);
	migration_record_done(&rec);
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
		                             e.message[0] ? e.message : strerror(-r));
	log_info("sent image %s (%" PRIu64 " bytes) for migration %s", req->image, is.offset,
	         req->migration_id);
	return 0;
}

/* ---- target: Receive ---- */

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

/* Gets `image` from the source agent and loads it into this node's Podman. */
static int target_fetch_image(Agent *a, const char *source_address, const char *migration_id,
                              const char *image, char *why, size_t why_size)
{
	_cleanup_(rpc_channel_freep) RpcChannel *ch = NULL;
	_cleanup_(rpc_stream_freep) RpcStream *st = NULL;
	PodmanError e = {};
	RpcStatus status = {};
	int r;

	RpcOptions o = peer_options(a);
	Podmig__V1__FetchImageRequest req = PODMIG__V1__FETCH_IMAGE_REQUEST__INIT;
	req.migration_id = (char *)migration_id;
	req.image = (char *)image;
	if ((r = rpc_channel_new(source_address, &o, &ch)) < 0 ||
	    (r = rpc_stream_open(ch, &podmig__v1__agent__descriptor, "FetchImage", &st)) < 0 ||
	    (r = rpc_stream_send_timeout(st, &req.base, SEND_TIMEOUT_USEC)) < 0 ||
	    (r = rpc_stream_close_send(st)) < 0) {
		snprintf(why, why_size, "cannot ask %s for image %s: %s", source_address, image,
		         strerror(-r));
		return r;
	}
	ImageReceiver ir = { .stream = st };
	r = podman_image_load(a->podman, image_receiver_read, &ir, NULL, &e);
	rpc_message_free(ir.chunk);
	int f = rpc_stream_finish(st, &status);
	if (r < 0 || f < 0 || ir.error < 0) {
		snprintf(why, why_size, "fetching image %s from the source failed: %.300s", image,
		         f < 0          ? status.message
		         : e.message[0] ? e.message
		                        : strerror(-r));
		return r < 0 ? r : f < 0 ? f : ir.error;
	}
	if (podman_image_exists(a->podman, image, NULL) != 1) {
		snprintf(why, why_size, "image %s still missing after loading it from the source",
		         image);
		return -ENOENT;
	}
	log_info("migration %s: loaded image %s (%" PRIu64 " bytes) from %s", migration_id, image,
	         ir.offset, source_address);
	return 0;
}

typedef struct ArchiveReader {
	int fd;
} ArchiveReader;

static ssize_t archive_read(void *buf, size_t size, void *userdata)
{
	ArchiveReader *ar = userdata;
	for (;;) {
		ssize_t n = read(ar->fd, buf, size);
		if (n < 0 && errno == EINTR)
			continue;
		return n < 0 ? -errno : n;
	}
}

/* An unnamed file for the archive in the work directory: it vanishes with
 * its descriptor, whatever happens to this process. */
static int target_archive_file(const Agent *a)
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

/* named: a file the podman binary can be given (pre-copy), else unnamed. */
static int incoming_open(const Agent *a, const char *id, const char *suffix, bool named,
                         Incoming *in)
{
	*in = (Incoming){ .fd = -EBADF };
	if (!(in->sha = EVP_MD_CTX_new()) || EVP_DigestInit_ex(in->sha, EVP_sha256(), NULL) != 1)
		return -ENOMEM;
	if (!named) {
		in->fd = target_archive_file(a);
		return in->fd < 0 ? in->fd : 0;
	}
	if (mkdir(a->config->work_dir, 0700) < 0 && errno != EEXIST)
		return -errno;
	if (asprintf(&in->path, "%s/%s%s", a->config->work_dir, id, suffix) < 0) {
		in->path = NULL;
		return -ENOMEM;
	}
	in->fd = open(in->path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	return in->fd < 0 ? -errno : 0;
}

static int incoming_write(Incoming *in, const uint8_t *p, size_t len)
{
	if (EVP_DigestUpdate(in->sha, p, len) != 1)
		return -EIO;
	in->size += len;
	while (len > 0) {
		ssize_t n = write(in->fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Checks the trailer against what arrived; a message in why if it fails. */
static int incoming_verify(Incoming *in, const Podmig__V1__TransferTrailer *t, const char *id,
                           char *why, size_t why_size)
{
	uint8_t digest[SHA256_BYTES];
	unsigned len = 0;
	char want[2 * SHA256_BYTES + 1] = "", got[2 * SHA256_BYTES + 1] = "";

	if (t->size != in->size) {
		snprintf(why, why_size,
		         "migration %s: archive truncated: %" PRIu64 " of %" PRIu64
		         " bytes arrived",
		         id, in->size, t->size);
		return -EBADMSG;
	}
	EVP_DigestFinal_ex(in->sha, digest, &len);
	hex(digest, len, got);
	if (t->sha256.len == SHA256_BYTES)
		hex(t->sha256.data, SHA256_BYTES, want);
	if (!streq(want, got)) {
		snprintf(why, why_size,
		         "migration %s: archive checksum mismatch (sent %s, received %s)", id,
		         want[0] ? want : "none", got);
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

/* Restores from a pre-dump plus the final archive, with the podman binary
 * (the REST API cannot import a pre-checkpoint). */
static int target_restore_precopy(const Incoming *pre, const Incoming *final, char *why,
                                  size_t why_size)
{
	const char *argv[16];
	_cleanup_free_ char *storage = NULL, *out = NULL;
	SpawnOptions o = { .stderr_to_stdout = true };
	int status = -1, r;

	if ((r = precopy_restore_argv("podman", final->path, pre->path, argv, ELEMENTSOF(argv),
	                              &storage)) < 0)
		return r;
	r = spawn_capture((char *const *)argv, &o, 64 * 1024, &out, &status);
	if (r < 0 || status != 0) {
		snprintf(why, why_size, "podman container restore --import-previous failed: %.300s",
		         r < 0 ? strerror(-r) : out);
		return r < 0 ? r : -EIO;
	}
	return 0;
}

static int target_receive(Agent *a, RpcServerCall *call, MigrationRecord *rec,
                          const Podmig__V1__TransferHeader *h)
{
	const char *self = a->config->node_name;
	_cleanup_(incoming_done) Incoming pre = { .fd = -EBADF }, final = { .fd = -EBADF };
	PodmanContainerInspect ins = {};
	PodmanError e = {};
	char why[512] = "";
	int r;

	r = podman_container_inspect(a->podman, h->container, &ins, &e);
	podman_container_inspect_done(&ins);
	if (r >= 0)
		return target_error(call, RPC_ALREADY_EXISTS,
		                    "node %s already has a container named %s", self, h->container);
	if (r != PODMAN_NOT_FOUND)
		return target_error(call, RPC_UNAVAILABLE, "node %s: Podman: %s", self, e.message);

	bool fetched = false;
	r = podman_image_exists(a->podman, h->image, &e);
	if (r < 0)
		return target_error(call, RPC_UNAVAILABLE, "node %s: Podman: %s", self, e.message);
	if (r == 0) {
		log_info("migration %s: image %s is missing here; fetching it from %s", rec->id,
		         h->image, h->source_node);
		if (target_fetch_image(a, h->source_address, rec->id, h->image, why, sizeof why) <
		    0)
			return target_error(call, RPC_FAILED_PRECONDITION, "node %s: %s", self,
			                    why);
		fetched = true;
	}
	/* Pre-copy may send a pre-dump first; both then go to the podman binary
	 * by name. Otherwise the archive needs no name. */
	bool precopy = streq(h->mode, migration_mode_to_string(MIGRATION_MODE_PRE_COPY));
	if ((r = incoming_open(a, rec->id, ".tar", precopy, &final)) < 0 ||
	    (precopy && (r = incoming_open(a, rec->id, ".pre.tar", true, &pre)) < 0))
		return target_error(call, RPC_INTERNAL, "node %s: cannot create a file in %s: %s",
		                    self, a->config->work_dir, strerror(-r));

	Podmig__V1__TransferReply ready = PODMIG__V1__TRANSFER_REPLY__INIT;
	ready.kind_case = PODMIG__V1__TRANSFER_REPLY__KIND_READY;
	ready.ready = true;
	ready.image_fetched = fetched;
	if ((r = rpc_server_call_send(call, &ready.base)) < 0)
		return r;

	/* The archives, chunk by chunk, each closed by its trailer. */
	uint64_t first = 0, recv_usec = 0, store_usec = 0, t0;
	while (!final.complete) {
		_cleanup_message_ ProtobufCMessage *m = NULL;
		t0 = now_usec(CLOCK_MONOTONIC);
		r = rpc_server_call_recv(call, &m);
		if (first)
			recv_usec += now_usec(CLOCK_MONOTONIC) - t0;
		else
			first = now_usec(CLOCK_MONOTONIC);
		if (r < 0)
			return r; /* the source went away: it settles the record */
		if (r == 0)
			return target_error(call, RPC_ABORTED,
			                    "migration %s: the archive ended without its trailer",
			                    rec->id);
		Podmig__V1__TransferMessage *tm = (Podmig__V1__TransferMessage *)m;
		if (tm->previous && !precopy)
			return target_error(call, RPC_INVALID_ARGUMENT,
			                    "migration %s: a pre-dump in a stop-and-copy migration",
			                    rec->id);
		Incoming *in = tm->previous ? &pre : &final;
		if (in->complete || tm->offset != in->size)
			return target_error(call, RPC_INVALID_ARGUMENT,
			                    "migration %s: data at offset %" PRIu64
			                    ", expected %" PRIu64,
			                    rec->id, tm->offset, in->size);
		if (tm->kind_case == PODMIG__V1__TRANSFER_MESSAGE__KIND_TRAILER) {
			if (incoming_verify(in, tm->trailer, rec->id, why, sizeof why) < 0)
				return target_error(call, RPC_DATA_LOSS, "%s", why);
			continue;
		}
		if (tm->kind_case != PODMIG__V1__TRANSFER_MESSAGE__KIND_DATA)
			return target_error(call, RPC_INVALID_ARGUMENT,
			                    "migration %s: unexpected message in the archive",
			                    rec->id);
		if (in == &final && final.size == 0 && (r = fault(a, "target-transferring")) < 0)
			return target_error(call, RPC_INTERNAL,
			                    "migration %s: fault injected at target-transferring",
			                    rec->id);
		t0 = now_usec(CLOCK_MONOTONIC);
		if ((r = incoming_write(in, tm->data.data, tm->data.len)) < 0)
			return target_error(call,
			                    r == -ENOSPC || r == -EDQUOT ? RPC_RESOURCE_EXHAUSTED
			                                                 : RPC_INTERNAL,
			                    "node %s: cannot store the archive in %s: %s", self,
			                    a->config->work_dir, strerror(-r));
		store_usec += now_usec(CLOCK_MONOTONIC) - t0;
	}
	log_info("migration %s: archive received, %" PRIu64 " bytes in %" PRIu64
	         " ms from the first chunk: %" PRIu64 " ms waiting for chunks, %" PRIu64
	         " ms hashing and writing",
	         rec->id, final.size + pre.size, (now_usec(CLOCK_MONOTONIC) - first) / 1000,
	         recv_usec / 1000, store_usec / 1000);

	/* Outside input: only plain files and directories under relative
	 * paths reach Podman. */
	r = archive_check_fd(final.fd, final.size, why, sizeof why);
	if (r >= 0 && pre.complete)
		r = archive_check_fd(pre.fd, pre.size, why, sizeof why);
	if (r < 0)
		return target_error(call, r == -EBADMSG ? RPC_INVALID_ARGUMENT : RPC_INTERNAL,
		                    "migration %s: archive refused: %s", rec->id,
		                    r == -EBADMSG ? why : strerror(-r));

	/* From here the target decides: take over the record first. */
	if ((r = record_reload(a, rec)) < 0)
		return target_error(call, RPC_UNAVAILABLE, "migration %s: cannot read its record",
		                    rec->id);
	if (rec->phase != MIGRATION_TRANSFERRING)
		return target_error(call, RPC_ABORTED, "migration %s is %s, not transferring",
		                    rec->id, migration_phase_to_string(rec->phase));
	r = record_advance(a, rec, MIGRATION_RESTORING, NULL);
	if (r == ETCD_CAS_FAILED)
		return target_error(call, RPC_ABORTED,
		                    "migration %s was settled by the source meanwhile", rec->id);
	if (r < 0)
		return target_error(call, RPC_UNAVAILABLE, "migration %s: cannot record it: %s",
		                    rec->id, strerror(-r));

	t0 = now_usec(CLOCK_MONOTONIC);
	char *restored_id = NULL;
	r = fault(a, "target-restoring");
	if (r < 0)
		snprintf(why, sizeof why, "fault injected at target-restoring");
	else if (pre.complete)
		r = target_restore_precopy(&pre, &final, why, sizeof why);
	else if (lseek(final.fd, 0, SEEK_SET) < 0)
		r = -errno;
	else {
		ArchiveReader ar = { .fd = final.fd };
		/* A fresh address on this node's network; the name and id stay. */
		PodmanRestoreOptions ro = { .ignore_static_ip = true, .ignore_static_mac = true };
		r = podman_container_restore(a->podman, &ro, archive_read, &ar, &restored_id, &e);
		if (r < 0)
			snprintf(why, sizeof why, "restoring %s on %s failed: %.300s",
			         rec->container, self, e.message[0] ? e.message : strerror(-r));
	}
	if (r < 0) {
		/* Leave nothing behind, then hand the container back. */
		PodmanError e2 = {};
		(void)podman_container_remove(a->podman, rec->container, true, &e2);
		int x = record_advance(a, rec, MIGRATION_ROLLED_BACK, why);
		if (x < 0)
			log_error("migration %s: cannot record the rollback: %s", rec->id,
			          strerror(-x));
		return target_error(call, RPC_INTERNAL, "%s", why);
	}

	/* Our copy runs: commit. */
	r = record_advance(a, rec, MIGRATION_DONE, NULL);
	if (r < 0) {
		free(restored_id);
		log_error("migration %s: %s runs here but etcd did not take `done`: %s", rec->id,
		          rec->container, strerror(-r));
		return target_error(call, RPC_UNAVAILABLE,
		                    "migration %s: restored but not recorded as done", rec->id);
	}
	Podmig__V1__TransferDone d = PODMIG__V1__TRANSFER_DONE__INIT;
	d.container_id = restored_id ?: (char *)"";
	d.received_bytes = final.size + pre.size;
	d.restore_usec = now_usec(CLOCK_MONOTONIC) - t0;
	Podmig__V1__TransferReply rep = PODMIG__V1__TRANSFER_REPLY__INIT;
	rep.kind_case = PODMIG__V1__TRANSFER_REPLY__KIND_DONE;
	rep.done = &d;
	r = rpc_server_call_send(call, &rep.base);
	log_info("migration %s: %s restored on %s (%" PRIu64 " bytes, restore %" PRIu64 " ms)",
	         rec->id, rec->container, self, d.received_bytes, d.restore_usec / 1000);
	free(restored_id);
	return r < 0 ? r : 0;
}

int agent_handle_receive(RpcServerCall *call, void *userdata)
{
	Agent *a = userdata;
	const char *self = a->config->node_name;
	_cleanup_message_ ProtobufCMessage *msg = NULL;
	MigrationRecord rec = {};
	int r;

	if ((r = rpc_server_call_recv(call, &msg)) <= 0)
		return r < 0 ? r : -EBADMSG;
	Podmig__V1__TransferMessage *tm = (Podmig__V1__TransferMessage *)msg;
	if (tm->kind_case != PODMIG__V1__TRANSFER_MESSAGE__KIND_HEADER)
		return rpc_server_call_error(call, RPC_INVALID_ARGUMENT,
		                             "a transfer must begin with its header");
	const Podmig__V1__TransferHeader *h = tm->header;
	if (!migration_name_valid(h->container) || !migration_name_valid(h->source_node) ||
	    !*h->image || !*h->source_address)
		return rpc_server_call_error(call, RPC_INVALID_ARGUMENT,
		                             "malformed transfer header");

	/* The record is the authority: it must name this transfer. */
	r = migration_record_load(a->etcd, a->config->prefix, h->migration_id, &rec);
	if (r == ETCD_NOT_FOUND || r == -EINVAL)
		return rpc_server_call_error(call, RPC_NOT_FOUND, "no migration %s",
		                             h->migration_id);
	if (r < 0)
		return rpc_server_call_error(call, RPC_UNAVAILABLE,
		                             "cannot read migration %s from etcd: %s",
		                             h->migration_id, strerror(-r));
	if (!streq(rec.target, self) || !streq(rec.source, h->source_node) ||
	    !streq(rec.container, h->container) || rec.phase != MIGRATION_PLANNED) {
		r = rpc_server_call_error(call, RPC_FAILED_PRECONDITION,
		                          "migration %s (%s from %s to %s, %s) does not match this "
		                          "transfer to %s",
		                          rec.id, rec.container, rec.source, rec.target,
		                          migration_phase_to_string(rec.phase), self);
		migration_record_done(&rec);
		return r;
	}
	if (slot_take(a, rec.id) < 0) {
		migration_record_done(&rec);
		return rpc_server_call_error(call, RPC_RESOURCE_EXHAUSTED,
		                             "node %s is already in %u migration(s), its limit",
		                             self, a->config->max_migrations);
	}
	r = target_receive(a, call, &rec, h);
	slot_release(a, h->migration_id);
	migration_record_done(&rec);
	return r;
}
