/* agent-migrate-source.c — the source side of a migration (Migrate, called
 * by the driver: `podmig migrate` or the scheduler): create the record and
 * the container's lock, have the target say it is ready, checkpoint
 * (keeping the checkpoint for a rollback) and stream the archive through the
 * send pipeline, then settle: whatever happened, the record ends final and
 * the container runs on exactly one node. The phase rules are in
 * docs/etcd-keys.md. */
#include <fcntl.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent-migrate.h"
#include "agent.pb-c.h"
#include "config.h"
#include "fault.h"
#include "json-util.h"
#include "lazy-pages.h"
#include "log.h"
#include "mode-choice.h"
#include "precopy.h"
#include "process-util.h"
#include "recovery.h"
#include "send-pipeline.h"
#include "strutil.h"

/* Post-copy: `podman container checkpoint` runs as long as the dump serves
 * pages (until the target has them all, or the dump is made to fail), so
 * it runs on a thread of its own. */
typedef struct LazyDump {
	pthread_t thread;
	bool started;
	char *container;
	char *export_path; /* <work-dir>/<id>.XXXXXX/export.tar */
	atomic_bool ended;
	int status; /* podman's exit status; -1: could not run */
	char *output;
} LazyDump;

static void *lazy_dump_thread(void *userdata)
{
	LazyDump *d = userdata;
	/* Podman writes config.dump and spec.dump, which the target's restore
	 * needs, before the dump only when it exports; the export itself comes
	 * after the dump ended and is not used. */
	const char *argv[] = { "podman",     "container", "checkpoint", "--export", d->export_path,
		               "--compress", "none",      d->container, NULL };
	SpawnOptions o = { .stderr_to_stdout = true };
	d->status = -1;
	if (spawn_capture((char *const *)argv, &o, 16 * 1024, &d->output, &d->status) < 0)
		d->status = -1;
	atomic_store(&d->ended, true);
	return NULL;
}

/* Waits for podman to return (the dump was settled first). */
static void lazy_dump_join(LazyDump *d)
{
	if (d->started)
		pthread_join(d->thread, NULL);
	d->started = false;
}

typedef struct Source {
	Agent *a;
	RpcServerCall *driver;
	PodmanContainerInspect ins; /* the container as it ran here */
	char *target_addr;
	RpcChannel *channel;
	RpcStream *target;
	MigrationRecord rec;
	bool slot_held;
	EVP_MD_CTX *sha;
	/* Podman's stream fills chunks while the pipeline's thread hashes and
	 * sends earlier ones (bench/README.md). Between archives (drained)
	 * only one thread runs. */
	SendPipeline *pipeline;
	uint64_t offset; /* of the archive being sent */
	uint64_t chunks;
	uint64_t last_progress;
	uint64_t down_since;                       /* monotonic: the checkpoint began */
	uint64_t first_byte, send_usec, hash_usec; /* where the transfer's time goes */
	uint64_t sent; /* bytes of every archive sent, pre-dump included */
	bool previous; /* sending the pre-dump archive (pre-copy) */
	bool transferring;
	bool final_trailer_sent; /* from here the target may commit */
	bool target_busy;        /* the target refused Receive: every worker busy */
	bool image_sent;
	/* page-server mode: the target's page server, the relay our dump
	 * sends through, the CRIU configuration file written for the dump */
	uint16_t page_port;
	PageRelay *relay;
	char *criu_config;
	uint64_t page_bytes, page_usec;
	/* post-copy: the end of the dump's page stream, the dump's thread, and
	 * how long the target waited for pages after its copy ran */
	LazySource *lazy;
	uint16_t lazy_port;
	LazyDump dump;
	uint64_t lazy_pages_usec;
	ErrorDetail why; /* the first failure, for the record and the driver */
} Source;

static void source_done(Source *s)
{
	s->pipeline = send_pipeline_free(s->pipeline);
	s->relay = page_relay_free(s->relay);
	/* unsettled: the dump fails and the source resumes */
	s->lazy = lazy_source_free(s->lazy);
	lazy_dump_join(&s->dump);
	if (s->dump.export_path) {
		_cleanup_free_ char *dir = strdup(s->dump.export_path);
		char *slash = dir ? strrchr(dir, '/') : NULL;
		if (slash) {
			*slash = 0;
			(void)agent_remove_tree(dir);
		}
	}
	free(s->dump.export_path);
	free(s->dump.container);
	free(s->dump.output);
	if (s->criu_config)
		criu_config_remove(s->criu_config);
	free(s->criu_config);
	s->target = rpc_stream_free(s->target);
	s->channel = rpc_channel_free(s->channel);
	if (s->slot_held)
		migration_slot_release(s->a, s->rec.id);
	migration_record_clear(&s->rec);
	podman_container_inspect_done(&s->ins);
	free(s->target_addr);
	EVP_MD_CTX_free(s->sha);
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
	p.mode_reason = s->rec.mode_reason ?: (char *)"";
	(void)rpc_server_call_send(s->driver, &p.base);
}

/* The pipeline's thread: one filled chunk, hashed then sent. */
static int source_send_chunk(uint8_t *buf, size_t len, void *userdata)
{
	Source *s = userdata;
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

/* Gives up on what is queued and on a send in progress, and stops the
 * pipeline's thread. */
static void source_pipeline_stop(Source *s)
{
	if (!s->pipeline)
		return;
	send_pipeline_cancel(s->pipeline);
	if (s->target)
		rpc_stream_cancel(s->target);
	s->pipeline = send_pipeline_free(s->pipeline);
}

/* A send to the target failed. When the call has ended (-ECONNRESET), the
 * target's status says why (e.g. RESOURCE_EXHAUSTED: its disk is full),
 * which is the reason worth recording rather than the broken send. Called
 * on the handler's thread once the pipeline has stopped sending. */
static int source_send_failed(Source *s, int r)
{
	RpcStatus st = {};
	if (r == -ECONNRESET && rpc_stream_finish(s->target, &st) < 0 && st.message[0])
		error_detail_set(&s->why, "target %s: %s", s->rec.target, st.message);
	else
		error_detail_set(&s->why, "sending the archive to %s failed: %s", s->rec.target,
		                 error_to_string(r));
	return r;
}

/* Podman's checkpoint export arrives here, once the container is dumped. */
static int source_on_archive(const void *data, size_t size, void *userdata)
{
	Source *s = userdata;
	int r;

	if (!s->transferring && !s->previous) {
		s->transferring = true;
		s->first_byte = now_usec(CLOCK_MONOTONIC);
		/* The container is stopped: wait for etcd only as long as the
		 * outage rule lets it stay stopped. */
		r = agent_record_advance_within(s->a, &s->rec, MIGRATION_TRANSFERRING, NULL,
		                                OUTAGE_WAIT_USEC);
		if (r < 0) {
			error_detail_set(&s->why, "cannot record the transfer in etcd: %s",
			                 error_to_string(r));
			return r;
		}
		source_progress(s, true);
		if ((r = agent_fault(s->a, "source-transferring")) < 0) {
			error_detail_set(&s->why, "fault injected at source-transferring");
			return r;
		}
	}
	r = send_pipeline_push(s->pipeline, data, size);
	return r < 0 ? source_send_failed(s, r) : 0;
}

/* Restores the container here from the checkpoint it kept, with the pages
 * a page-server dump sent away replayed into it first. */
static int source_restore_here(Source *s, PodmanError *e)
{
	ErrorDetail pages = {};
	if (s->rec.mode == MIGRATION_MODE_POST_COPY) {
		/* The dump's pages never left the frozen container: the dump is
		 * made to fail and the container resumes; its checkpoint holds no
		 * pages and is never restored. */
		_cleanup_(podman_container_inspect_done) PodmanContainerInspect ins = {};
		if (s->lazy) {
			int r = lazy_source_settle(s->lazy, false, 60 * USEC_PER_SEC, &pages);
			if (r < 0)
				log_warning("migration %s: aborting the lazy dump: %s", s->rec.id,
				            pages.message);
		}
		lazy_dump_join(&s->dump);
		if (podman_container_inspect(s->a->podman, s->rec.container, &ins, NULL) >= 0 &&
		    ins.running)
			return 0;
		snprintf(e->message, sizeof e->message,
		         "%s did not resume after its lazy dump was aborted, and a post-copy "
		         "checkpoint holds no memory pages to restore from",
		         s->rec.container);
		return -EIO;
	}
	int r = agent_fault(s->a, "source-restore");
	if (r < 0) {
		snprintf(e->message, sizeof e->message, "fault injected at source-restore");
		return r;
	}
	if ((r = agent_pages_replay(s->a, s->rec.id, s->rec.container, &pages)) < 0) {
		snprintf(e->message, sizeof e->message, "%s", pages.message);
		return r;
	}
	return podman_container_restore_local(s->a->podman, s->rec.container, NULL, e);
}

/* The container runs here again: as it is, or restored. A lazy dump holds
 * the container's lock in Podman until it ends, so a post-copy source asks
 * Podman about it only once source_restore_here() ended the dump. */
static int source_resume_here(Source *s, PodmanError *e)
{
	if (!s->lazy) {
		_cleanup_(podman_container_inspect_done) PodmanContainerInspect ins = {};
		if (podman_container_inspect(s->a->podman, s->rec.container, &ins, NULL) >= 0 &&
		    ins.running)
			return 0;
	}
	return source_restore_here(s, e);
}

/* etcd has not answered for waited_usec while the record is still the
 * source's: recovery_decide_outage() says whether the container may run here
 * again before etcd answers. Then the transfer is cancelled (the target never
 * gets the final trailer it needs to commit) and the kept checkpoint is
 * restored; the migration's slot goes with the handler, so recovery records
 * rolled-back once etcd answers. Returns whether it resumed. */
static bool source_resume_alone(Source *s, uint64_t waited_usec)
{
	Agent *a = s->a;
	SourceOutage o = {
		.last_phase = s->rec.phase,
		.stopped = s->down_since != 0,
		.final_trailer_sent = s->final_trailer_sent,
		.waited_usec = waited_usec,
		.bound_usec = OUTAGE_WAIT_USEC,
	};
	if (recovery_decide_outage(&o) != OUTAGE_RESUME_HERE)
		return false;

	source_pipeline_stop(s);
	if (s->target)
		rpc_stream_cancel(s->target);
	PodmanError e = {};
	if (source_resume_here(s, &e) < 0) {
		log_error("migration %s: etcd has not answered for %" PRIu64
		          " s and %s could not be restored on %s: %s",
		          s->rec.id, (uint64_t)(waited_usec / USEC_PER_SEC), s->rec.container,
		          a->config->node_name, e.message);
		error_detail_set(&s->why, "etcd unreachable; restoring %s on %s failed: %s",
		                 s->rec.container, a->config->node_name, e.message);
		return true;
	}
	log_warning("migration %s: etcd has not answered for %" PRIu64
	            " s; the target cannot commit without the archive's trailer, so %s "
	            "runs on %s again and the rollback is recorded when etcd answers",
	            s->rec.id, (uint64_t)(waited_usec / USEC_PER_SEC), s->rec.container,
	            a->config->node_name);
	error_detail_set(&s->why,
	                 "etcd unreachable while %s: %s resumed on %s; the rollback is recorded "
	                 "when etcd answers",
	                 migration_phase_to_string(s->rec.phase), s->rec.container,
	                 a->config->node_name);
	return true;
}

static MigrationPhase source_settle(Source *s)
{
	Agent *a = s->a;
	uint64_t deadline = now_usec(CLOCK_MONOTONIC) + SETTLE_TIMEOUT_USEC;
	/* without etcd, the handler gives up here; recovery goes on later */
	uint64_t etcd_deadline = now_usec(CLOCK_MONOTONIC) + 2 * RECORD_RETRY_USEC;
	PodmanError e = {};
	int r;

	for (;;) {
		uint64_t t0 = now_usec(CLOCK_MONOTONIC);
		r = agent_record_reload_within(a, &s->rec, OUTAGE_WAIT_USEC);
		if (r < 0 && r != ETCD_NOT_FOUND && r != -ENOMEM &&
		    source_resume_alone(s, now_usec(CLOCK_MONOTONIC) - t0))
			return s->rec.phase;
		if (r < 0 && r != ETCD_NOT_FOUND && r != -ENOMEM &&
		    now_usec(CLOCK_MONOTONIC) < etcd_deadline)
			continue;
		if (r < 0 && s->lazy) {
			/* the target may have committed: the frozen source waits */
			log_error("migration %s: cannot read its record from etcd; the post-copy "
			          "source %s stays frozen until it can be read",
			          s->rec.id, s->rec.container);
			sleep_usec(5 * USEC_PER_SEC);
			continue;
		}
		if (r < 0) {
			log_error("migration %s: cannot read its record from etcd; keeping "
			          "container %s stopped until it can be read",
			          s->rec.id, s->rec.container);
			return s->rec.phase;
		}
		MigrationPhase p = s->rec.phase;
		if (p == MIGRATION_DONE && s->lazy) {
			/* the target has every page: the dump may end (runc then
			 * stops the source's copy) */
			ErrorDetail end = {};
			if (lazy_source_settle(s->lazy, true, 60 * USEC_PER_SEC, &end) < 0)
				log_error(
				        "migration %s: done, but the lazy dump did not end cleanly "
				        "(%s); removing the source's copy",
				        s->rec.id, end.message);
			lazy_dump_join(&s->dump);
		}
		if (p == MIGRATION_DONE) {
			r = podman_container_remove(a->podman, s->rec.container, true, &e);
			if (r < 0 && r != PODMAN_NOT_FOUND)
				log_error("migration %s: %s moved to %s but its stopped copy here "
				          "could not be removed: %s",
				          s->rec.id, s->rec.container, s->rec.target, e.message);
			return p;
		}
		if (p == MIGRATION_ROLLED_BACK || p == MIGRATION_FAILED) {
			if (source_resume_here(s, &e) < 0) {
				log_error("migration %s: rolled back, but %s could not be restored "
				          "on %s: %s",
				          s->rec.id, s->rec.container, a->config->node_name,
				          e.message);
				error_detail_set(&s->why, "restoring %s on %s failed: %s",
				                 s->rec.container, a->config->node_name, e.message);
			} else
				log_info("migration %s: rolled back, %s runs on %s again",
				         s->rec.id, s->rec.container, a->config->node_name);
			return p;
		}
		if (p == MIGRATION_RESTORING) {
			/* The target decides; wait for it. A post-copy source
			 * waits as long as it takes: its copy on the target may
			 * run until the target (or its recovery) settles. */
			if (now_usec(CLOCK_MONOTONIC) > deadline && !s->lazy) {
				log_error("migration %s: the target %s has not finished restoring; "
				          "keeping %s stopped here",
				          s->rec.id, s->rec.target, s->rec.container);
				return p;
			}
			sleep_usec(500 * USEC_PER_MSEC);
			continue;
		}
		/* planned: nothing was stopped; otherwise the source owns it. */
		MigrationPhase to =
		        p == MIGRATION_PLANNED ? MIGRATION_FAILED : MIGRATION_ROLLED_BACK;
		t0 = now_usec(CLOCK_MONOTONIC);
		r = agent_record_advance_within(a, &s->rec, to,
		                                error_detail_is_set(&s->why) ? s->why.message
		                                                             : "interrupted",
		                                OUTAGE_WAIT_USEC);
		if (r == ETCD_CAS_FAILED)
			continue; /* the target moved first: look again */
		if (r < 0 && r != -EINVAL && r != -ENOMEM &&
		    source_resume_alone(s, now_usec(CLOCK_MONOTONIC) - t0))
			return s->rec.phase;
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

	if ((r = send_pipeline_drain(s->pipeline)) < 0)
		return source_send_failed(s, r);
	if (EVP_DigestFinal_ex(s->sha, digest, &len) != 1 ||
	    EVP_DigestInit_ex(s->sha, EVP_sha256(), NULL) != 1)
		return -EIO;
	Podmig__V1__TransferTrailer t = PODMIG__V1__TRANSFER_TRAILER__INIT;
	t.size = s->offset;
	t.sha256.data = digest;
	t.sha256.len = len;
	/* Set before the send: a trailer that failed may still have arrived. */
	if (!s->previous)
		s->final_trailer_sent = true;
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

/* Pre-copy through the podman binary (precopy.h). */

static int precopy_run(const char *const argv[], ErrorDetail *err, void *userdata)
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
		error_detail_set(err, "%s", last ? last + 1 : out);
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

/* The container stops now: the record says checkpointing, and downtime
 * counts from here. */
static int source_record_checkpointing(Source *s)
{
	int r = agent_record_advance(s->a, &s->rec, MIGRATION_CHECKPOINTING, NULL);
	if (r < 0) {
		error_detail_set(&s->why, "cannot record the checkpoint in etcd: %s",
		                 error_to_string(r));
		return r;
	}
	source_progress(s, true);
	s->down_since = now_usec(CLOCK_MONOTONIC);
	return 0;
}

static int precopy_stopping(void *userdata)
{
	return source_record_checkpointing(userdata);
}

static int source_send_header(Source *s)
{
	Podmig__V1__TransferHeader h = PODMIG__V1__TRANSFER_HEADER__INIT;
	h.migration_id = s->rec.id;
	h.container = s->rec.container;
	h.image = s->ins.image ?: (char *)"";
	h.image_id = s->rec.image_id;
	h.source_node = s->a->config->node_name;
	h.source_address = s->a->advertise;
	h.mode = (char *)migration_mode_to_string(s->rec.mode);
	h.protocol = s->a->config->protocol;
	h.lazy_pages_port = s->lazy_port;
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
		error_detail_set(&s->why, "target %s answered out of turn", s->rec.target);
		return -EPROTO;
	}
	RpcStatus st = {};
	if (r == -ETIMEDOUT) {
		rpc_stream_cancel(s->target);
		error_detail_set(&s->why, "target %s did not answer in time", s->rec.target);
		return r;
	}
	r = rpc_stream_finish(s->target, &st);
	s->target_busy = st.code == RPC_RESOURCE_EXHAUSTED &&
	                 startswith(st.message, RPC_BUSY_MESSAGE_PREFIX);
	error_detail_set(&s->why, "target %s: %s", s->rec.target,
	                 st.message[0] ? st.message : rpc_code_to_string(st.code));
	return r < 0 ? r : -EPROTO;
}

/* What this container's archives may take on the target, declared in the
 * record (migration_archive_limit()): its memory in this node's latest
 * sample, its root filesystem's changes and its log file (Podman exports a
 * k8s-file or json-file log with the checkpoint). 0, nothing declared (the
 * target's free space alone bounds the transfer), when the memory or the
 * changes are not known. */
/* The container's memory in this node's latest sample; false: none yet. */
static bool source_memory(Source *s, uint64_t *ret)
{
	Agent *a = s->a;
	bool known = false;

	pthread_mutex_lock(&a->lock);
	for (size_t i = 0; a->last && s->ins.id && i < a->last->n_containers; i++) {
		const ContainerSample *c = &a->last->containers[i];
		if (streq(c->id, s->ins.id) && c->has_stats) {
			*ret = c->mem_usage;
			known = true;
		}
	}
	pthread_mutex_unlock(&a->lock);
	return known;
}

static uint64_t source_archive_limit(Source *s)
{
	Agent *a = s->a;
	uint64_t memory = 0, rootfs = 0, log = 0;
	PodmanError e = {};

	bool known = source_memory(s, &memory);
	if (!known || podman_container_size_rw(a->podman, s->rec.container, &rootfs, &e) < 0) {
		log_debug("migration %s: no archive limit declared: %s", s->rec.id,
		          known ? e.message : "no memory sample of the container yet");
		return 0;
	}
	const char *log_path = json_string_value(json_object_get(s->ins.raw, "LogPath"));
	struct stat st;
	if (log_path && *log_path && stat(log_path, &st) >= 0 && S_ISREG(st.st_mode))
		log = (uint64_t)st.st_size;
	return migration_archive_limit(s->rec.mode, memory, rootfs, log);
}

/* Whether the container can move in page-server mode: its org.criu.config
 * annotation must name this agent's file for it, the only way CRIU's options
 * reach its dump. The reason in why if not. */
static bool source_page_server_capable(Source *s, char *why, size_t size)
{
	_cleanup_free_ char *want = NULL;
	const char *name = s->rec.container;
	const char *have = json_string_value(json_object_get(
	        json_object_get(json_object_get(s->ins.raw, "Config"), "Annotations"),
	        CRIU_CONFIG_ANNOTATION));
	if (criu_config_path(s->a->config->criu_config_dir, name, &want) < 0) {
		snprintf(why, size, "out of memory");
		return false;
	}
	if (!have) {
		snprintf(why, size,
		         "container %s was not created with --annotation %s=%s, the only way "
		         "CRIU's page-server options reach its dump",
		         name, CRIU_CONFIG_ANNOTATION, want);
		return false;
	}
	_cleanup_free_ char *self = NULL, *target = NULL;
	if (address_host(s->a->advertise, &self) < 0 || address_host(s->target_addr, &target) < 0 ||
	    !address_is_numeric(self) || !address_is_numeric(target)) {
		snprintf(why, size,
		         "the agents' addresses (%s, %s) are not both IP addresses, which the page "
		         "server binds to and checks its peer against",
		         s->a->advertise, s->target_addr);
		return false;
	}
	if (!streq(have, want)) {
		snprintf(why, size,
		         "container %s's annotation %s names %s, not this agent's file %s", name,
		         CRIU_CONFIG_ANNOTATION, have, want);
		return false;
	}
	return true;
}

/* The mode of this migration (mode-choice.h), and why into the record;
 * `target_protocol`: the target agent's (AGENT_PROTOCOL). */
static int source_choose_mode(Source *s, ModeRequest want, const AgentPeerVersion *target)
{
	Agent *a = s->a;
	unsigned target_protocol = target->protocol;
	char not_ps[512] = "", not_pc[512] = "", why[768];
	ModeFacts f = {
		.pre_copy = criu_features_pre_copy(&a->criu) && !a->config->pre_copy_never,
		.link_bytes_per_sec = a->config->link_bandwidth,
	};
	unsigned protocol = MIN(a->config->protocol, target_protocol);
	if (protocol < AGENT_PROTOCOL_PAGE_SERVER)
		snprintf(not_ps, sizeof not_ps,
		         "agent protocol %u (of nodes %s and %s) has no page-server mode", protocol,
		         a->config->node_name, s->rec.target);
	else
		f.page_server = source_page_server_capable(s, not_ps, sizeof not_ps);
	f.page_server_why = f.page_server ? NULL : not_ps;
	const char *label = json_string_value(
	        json_object_get(json_object_get(json_object_get(s->ins.raw, "Config"), "Labels"),
	                        MODE_POST_COPY_LABEL));
	f.post_copy_allowed = streq_ptr(label, MODE_POST_COPY_ALLOW);
	if (protocol < AGENT_PROTOCOL_POST_COPY)
		snprintf(not_pc, sizeof not_pc,
		         "agent protocol %u (of nodes %s and %s) has no post-copy mode", protocol,
		         a->config->node_name, s->rec.target);
	else if (!criu_features_post_copy(&a->criu))
		snprintf(not_pc, sizeof not_pc,
		         "node %s cannot do post-copy (its agent's log says why: lazy pages, CRIU "
		         "4.2, fs.pipe-max-size)",
		         a->config->node_name);
	else if (!target->post_copy)
		snprintf(not_pc, sizeof not_pc,
		         "node %s cannot do post-copy (its info says criu.post_copy false)",
		         s->rec.target);
	else if (!f.page_server)
		snprintf(not_pc, sizeof not_pc, "%s", not_ps);
	else
		f.post_copy = true;
	f.post_copy_why = f.post_copy ? NULL : not_pc;
	pthread_mutex_lock(&a->lock);
	for (size_t i = 0; a->last && i < a->last->n_containers; i++)
		if (streq_ptr(a->last->containers[i].name, s->rec.container))
			f.memory_bytes = a->last->containers[i].mem_usage;
	pthread_mutex_unlock(&a->lock);
	s->rec.mode = mode_choose(want, &f, why, sizeof why);
	if (why[0] && !(s->rec.mode_reason = strdup(why)))
		return -ENOMEM;
	return 0;
}

/* Checks the request and the container, then creates the record with the
 * container's lock and takes a migration slot. On failure the driver has
 * its answer. */
static int source_prepare(Source *s, const Podmig__V1__MigrateRequest *req)
{
	Agent *a = s->a;
	RpcServerCall *call = s->driver;
	const char *self = a->config->node_name;
	_cleanup_free_ char *holder = NULL;
	PodmanError e = {};
	int r;

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
	int want_mode = mode_request_from_string(req->mode);
	if (want_mode < 0)
		return rpc_server_call_error(call, RPC_INVALID_ARGUMENT,
		                             "unknown mode '%s' (stop-and-copy, pre-copy, "
		                             "page-server, auto)",
		                             req->mode);
	/* The order is the authority: a live one, which only an operator or a
	 * scheduler may write, saying exactly this. */
	if (!*req->order_id)
		return rpc_server_call_error(
		        call, RPC_FAILED_PRECONDITION,
		        "Migrate on node %s needs a migration order (order_id): the podmig CLI and "
		        "podmig-scheduler of podmig %s write one first; upgrade the caller",
		        self, PODMIG_VERSION);
	MigrationOrder order;
	char why[640];
	r = migration_order_load(a->etcd, a->config->prefix, req->order_id, &order, why,
	                         sizeof why);
	if (r == -EPERM)
		return rpc_server_call_error(call, RPC_PERMISSION_DENIED,
		                             "Migrate on node %s refused: %s", self, why);
	if (r < 0)
		return rpc_server_call_error(call, RPC_UNAVAILABLE,
		                             "cannot read migration order %s from etcd: %s",
		                             req->order_id, error_to_string(r));
	if (!migration_order_matches_request(&order, self, req->container, req->target_node, reason,
	                                     req->decision_id, req->force, want_mode, why,
	                                     sizeof why))
		return rpc_server_call_error(call, RPC_PERMISSION_DENIED,
		                             "Migrate on node %s refused: migration order %s does "
		                             "not match the request: %s",
		                             self, order.id, why);

	r = podman_container_inspect(a->podman, req->container, &s->ins, &e);
	if (r == PODMAN_NOT_FOUND)
		return rpc_server_call_error(call, RPC_NOT_FOUND, "no container %s on node %s",
		                             req->container, self);
	if (r < 0)
		return rpc_server_call_error(call, RPC_UNAVAILABLE, "node %s: %s", self, e.message);
	if (!s->ins.running)
		return rpc_server_call_error(call, RPC_FAILED_PRECONDITION,
		                             "container %s on node %s is %s, not running",
		                             req->container, self, s->ins.state ?: "not running");

	/* The label is the container owner's word: only an explicit force
	 * (an operator's) overrides it, and the record says so. */
	const char *opt = json_string_value(
	        json_object_get(json_object_get(json_object_get(s->ins.raw, "Config"), "Labels"),
	                        "podmig.migrate"));
	if (streq_ptr(opt, "false") && !req->force)
		return rpc_server_call_error(
		        call, RPC_FAILED_PRECONDITION,
		        "container %s is labelled podmig.migrate=false; only an "
		        "operator's `podmig migrate --force` moves it",
		        req->container);

	AgentPeerVersion peer = {};
	r = agent_node_address(a, req->target_node, &s->target_addr, &peer);
	if (r == ETCD_NOT_FOUND)
		return rpc_server_call_error(
		        call, RPC_NOT_FOUND,
		        "no node %s in the cluster (no live agent publishes it)", req->target_node);
	if (r == -EPERM)
		return rpc_server_call_error(call, RPC_FAILED_PRECONDITION,
		                             "node %s: its info in etcd is not under its agent's "
		                             "lease; not trusting its address",
		                             req->target_node);
	if (r == -EBADMSG)
		return rpc_server_call_error(call, RPC_FAILED_PRECONDITION,
		                             "node %s: its info in etcd is malformed",
		                             req->target_node);
	if (r < 0)
		return rpc_server_call_error(call, RPC_UNAVAILABLE,
		                             "cannot look up node %s in etcd: %s", req->target_node,
		                             error_to_string(r));
	/* before anything is recorded or stopped */
	if (!agent_protocol_compatible(a->config->protocol, peer.protocol))
		return rpc_server_call_error(
		        call, RPC_FAILED_PRECONDITION,
		        "cannot migrate to node %s: it speaks agent protocol %u (podmig %s) and "
		        "node %s agent protocol %u (podmig %s); agents migrate only between "
		        "protocols at most one apart: upgrade the nodes in between first, one "
		        "node at a time",
		        req->target_node, peer.protocol, peer.version, self, a->config->protocol,
		        PODMIG_VERSION);

	r = migration_record_init(&s->rec, req->container, self, req->target_node, reason,
	                          wall_ms());
	if (r < 0)
		return rpc_server_call_error(call, RPC_INVALID_ARGUMENT, "%s", error_to_string(r));
	/* one order, one record: creating it is a compare-and-swap */
	snprintf(s->rec.id, sizeof s->rec.id, "%s", order.id);
	if (migration_slot_take(a, s->rec.id, s->rec.container) < 0)
		return rpc_server_call_error(call, RPC_RESOURCE_EXHAUSTED,
		                             "node %s is already in %u migration(s), its limit",
		                             self, a->config->max_migrations);
	s->slot_held = true;
	snprintf(s->rec.decision, sizeof s->rec.decision, "%s", req->decision_id);
	s->rec.forced = req->force && streq_ptr(opt, "false");
	if (s->ins.image && !(s->rec.image = strdup(s->ins.image)))
		return rpc_server_call_error(call, RPC_UNAVAILABLE,
		                             "cannot create the migration record in etcd: %s",
		                             error_to_string(-ENOMEM));
	/* The target loads the image only with this ID (an image it lacks is
	 * fetched from here). */
	if (s->ins.image_id && migration_image_id_parse(s->ins.image_id, s->rec.image_id) < 0)
		log_warning("container %s: Podman reports image ID '%.80s', not a SHA-256; a "
		            "target without the image will refuse it",
		            req->container, s->ins.image_id);
	if ((r = source_choose_mode(s, want_mode, &peer)) < 0)
		return rpc_server_call_error(call, RPC_UNAVAILABLE,
		                             "cannot create the migration record in etcd: %s",
		                             error_to_string(r));
	/* after the mode: pre-copy sends the memory twice */
	s->rec.archive_limit = source_archive_limit(s);
	r = migration_record_create(a->etcd, a->config->prefix, &s->rec, &holder);
	if (r == -EBUSY)
		return rpc_server_call_error(call, RPC_FAILED_PRECONDITION,
		                             "container %s is already being migrated (%s)",
		                             req->container, holder ?: "?");
	if (r == -EEXIST)
		return rpc_server_call_error(call, RPC_FAILED_PRECONDITION,
		                             "migration order %s was used already", order.id);
	if (r < 0)
		return rpc_server_call_error(call, RPC_UNAVAILABLE,
		                             "cannot create the migration record in etcd: %s",
		                             error_to_string(r));
	if ((r = agent_evidence_write(a, s->rec.id)) < 0) {
		(void)agent_record_advance(a, &s->rec, MIGRATION_FAILED,
		                           "the source cannot keep its own evidence");
		return rpc_server_call_error(call, RPC_INTERNAL, "node %s: cannot write in %s: %s",
		                             self, a->config->work_dir, error_to_string(r));
	}
	log_info("migration %s: %s from %s to %s (%s) begins", s->rec.id, s->rec.container, self,
	         s->rec.target, migration_reason_to_string(s->rec.reason));
	source_progress(s, true);
	return 0;
}

/* Target first: it must say it can take the container (and have the image)
 * before the container is stopped. A target whose workers are all busy
 * (its handler never ran) is asked again for BUSY_RETRY_USEC. */
static int source_handshake_once(Source *s);
static int source_handshake(Source *s)
{
	uint64_t give_up = now_usec(CLOCK_MONOTONIC) + BUSY_RETRY_USEC;
	int r;

	for (;;) {
		s->target_busy = false;
		r = source_handshake_once(s);
		if (r >= 0 || !s->target_busy || now_usec(CLOCK_MONOTONIC) >= give_up)
			return r;
		log_notice("migration %s: the agent of %s is busy; asking again", s->rec.id,
		           s->rec.target);
		s->target = rpc_stream_free(s->target);
		error_detail_clear(&s->why);
		sleep_usec(USEC_PER_SEC);
	}
}

static int source_handshake_once(Source *s)
{
	RpcOptions o = agent_peer_options(s->a);
	Podmig__V1__TransferReply *ready = NULL;
	int r;

	if ((!s->channel && (r = rpc_channel_new(s->target_addr, &o, &s->channel)) < 0) ||
	    (r = rpc_stream_open(s->channel, &podmig__v1__agent__descriptor, "Receive",
	                         &s->target)) < 0) {
		error_detail_set(&s->why, "cannot reach the agent of %s at %s", s->rec.target,
		                 s->target_addr);
		return r;
	}
	if ((r = source_send_header(s)) < 0) {
		/* a call refused at once may end before its header is sent */
		RpcStatus st = {};
		if (r == -ECONNRESET && rpc_stream_finish(s->target, &st) < 0)
			s->target_busy = st.code == RPC_RESOURCE_EXHAUSTED &&
			                 startswith(st.message, RPC_BUSY_MESSAGE_PREFIX);
		error_detail_set(&s->why, "cannot reach the agent of %s at %s: %s", s->rec.target,
		                 s->target_addr, st.message[0] ? st.message : error_to_string(r));
		return r;
	}
	if ((r = source_wait_reply(s, PODMIG__V1__TRANSFER_REPLY__KIND_READY, READY_TIMEOUT_USEC,
	                           &ready)) < 0)
		return r;
	s->image_sent = ready->image_fetched;
	s->page_port = (uint16_t)ready->page_server_port;
	bool bad_port = ready->page_server_port > UINT16_MAX;
	rpc_message_free(&ready->base);
	if (s->rec.mode == MIGRATION_MODE_PAGE_SERVER && (s->page_port == 0 || bad_port)) {
		error_detail_set(&s->why, "target %s offered no page server", s->rec.target);
		return -EPROTO;
	}
	return 0;
}

/* Pre-copy where the kernel allows it; true in *ret_sent when both archives
 * went out, false when it fell back to stop-and-copy before stopping. */
static int source_transfer_precopy(Source *s, bool *ret_sent)
{
	Agent *a = s->a;
	_cleanup_free_ char *dir = NULL, *pre = NULL, *final = NULL;
	ErrorDetail why = {};
	MigrationMode used = MIGRATION_MODE_STOP_AND_COPY;
	int r;

	/* Podman writes the archives into a directory of this call's own. */
	(void)mkdir(a->config->work_dir, 0700);
	if ((r = precopy_dir_create(a->config->work_dir, s->rec.id, &dir)) < 0) {
		error_detail_set(&s->why, "cannot create a directory in %s: %s",
		                 a->config->work_dir, error_to_string(r));
		return r;
	}
	if (asprintf(&pre, "%s/pre.tar", dir) < 0 || asprintf(&final, "%s/final.tar", dir) < 0) {
		(void)rmdir(dir);
		return -ENOMEM;
	}
	PreCopyOps ops = { precopy_run, precopy_send, precopy_stopping, s };
	r = precopy_source_run(&ops, "podman", s->rec.container, pre, final, &used, &why);
	unlink(pre);
	unlink(final);
	(void)rmdir(dir);
	if (r < 0) {
		error_detail_set(&s->why, "%s", why.message);
		return r;
	}
	*ret_sent = used == MIGRATION_MODE_PRE_COPY;
	if (!*ret_sent) {
		log_notice("migration %s: %s", s->rec.id, why.message);
		s->rec.mode = MIGRATION_MODE_STOP_AND_COPY;
	}
	return 0;
}

/* Stop-and-copy: checkpoint (kept here so a rollback can restore from it)
 * and stream Podman's export as it comes. */
static int source_transfer_checkpoint(Source *s)
{
	Agent *a = s->a;
	PodmanError e = {};
	int r;

	if ((r = source_record_checkpointing(s)) < 0)
		return r;
	PodmanCheckpointOptions co = { .keep = true };
	r = podman_container_checkpoint(a->podman, s->rec.container, &co, source_on_archive, s, &e);
	if (r < 0) {
		error_detail_set(&s->why, "checkpointing %s on %s failed: %s", s->rec.container,
		                 a->config->node_name,
		                 e.message[0] ? e.message : error_to_string(r));
		return r;
	}
	if (!s->transferring) {
		error_detail_set(&s->why, "Podman sent an empty checkpoint archive");
		return -EIO;
	}
	return source_send_trailer(s);
}

/* Page-server and post-copy modes: this node's host and the target's, from
 * the address this agent advertises and the one the target node's info in
 * etcd names. */
static int source_hosts(Source *s, char **ret_self, char **ret_target)
{
	_cleanup_free_ char *self = NULL, *target = NULL;
	int r;
	if ((r = address_host(s->a->advertise, &self)) < 0 ||
	    (r = address_host(s->target_addr, &target)) < 0) {
		error_detail_set(
		        &s->why,
		        "cannot find the hosts of this node's address %s and node %s's %s: %s",
		        s->a->advertise, s->rec.target, s->target_addr, error_to_string(r));
		return r;
	}
	*ret_self = TAKE_PTR(self);
	*ret_target = TAKE_PTR(target);
	return 0;
}

/* Page-server mode: the dump sends its pages through a relay of ours (which
 * records them for a rollback) to the target's page server, while Podman's
 * export, streamed as in stop-and-copy, carries the rest. */
static int source_transfer_pages(Source *s)
{
	Agent *a = s->a;
	_cleanup_free_ char *self = NULL, *target = NULL, *stream = NULL, *text = NULL;
	PageTls tls = agent_page_tls(a);
	ErrorDetail why = {};
	uint16_t port;
	int r;

	if ((r = source_hosts(s, &self, &target)) < 0)
		return r;
	if ((r = agent_pages_path(a, s->rec.id, ".stream", &stream)) < 0 ||
	    (r = criu_config_path(a->config->criu_config_dir, s->rec.container, &s->criu_config)) <
	            0) {
		error_detail_set(&s->why, "cannot prepare the page relay (pages directory %s): %s",
		                 a->config->pages_dir, error_to_string(r));
		return r;
	}
	(void)unlink(stream); /* a leftover of an earlier attempt under this id */
	if ((r = page_relay_start(self, target, s->page_port, &tls, stream, &s->relay, &port)) <
	    0) {
		error_detail_set(&s->why, "cannot start the page relay on %s: %s", self,
		                 error_to_string(r));
		return r;
	}
	/* Room for the recording before the container stops: the dump then
	 * writes into pages taken already, and a pages directory too small for
	 * them fails the migration here, with nothing stopped. */
	uint64_t memory = 0;
	if (source_memory(s, &memory) && (r = page_relay_reserve(s->relay, memory)) < 0) {
		error_detail_set(&s->why, "no room for %" PRIu64 " MiB of pages in %s: %s",
		                 memory >> 20, a->config->pages_dir, error_to_string(r));
		return r;
	}
	if (asprintf(&text, "page-server\naddress %s\nport %u\n", self, port) < 0)
		return -ENOMEM;
	if ((r = criu_config_write(s->criu_config, text)) < 0) {
		error_detail_set(&s->why, "cannot write the CRIU configuration %s: %s",
		                 s->criu_config, error_to_string(r));
		return r;
	}
	r = source_transfer_checkpoint(s);
	/* Only this dump may go to the page server: a rollback's restore reads
	 * the file too. */
	criu_config_remove(s->criu_config);
	int x = page_relay_finish(s->relay, r < 0 ? 0 : 30 * USEC_PER_SEC, &s->page_bytes,
	                          &s->page_usec, &why);
	if (r < 0) {
		if (error_detail_is_set(&why) && x != -ETIMEDOUT)
			log_warning("migration %s: page relay: %s", s->rec.id, why.message);
		return r;
	}
	if (x < 0) {
		error_detail_set(&s->why, "%s", why.message);
		return x;
	}
	uint64_t record_usec, send_usec;
	page_relay_split(s->relay, &record_usec, &send_usec);
	log_info("migration %s: %" PRIu64 " bytes of pages relayed to %s:%u in %" PRIu64
	         " ms (%.0f MB/s; %" PRIu64 " ms recording them, %" PRIu64 " ms sending them)",
	         s->rec.id, s->page_bytes, target, s->page_port, s->page_usec / 1000,
	         s->page_usec ? (double)s->page_bytes / (double)s->page_usec : 0.0,
	         record_usec / 1000, send_usec / 1000);
	s->sent += s->page_bytes;
	return 0;
}

/* Post-copy, before the handshake: the relay the target's lazy-pages
 * daemon will fetch pages through, whose port the header names. */
static int source_lazy_prepare(Source *s)
{
	Agent *a = s->a;
	_cleanup_free_ char *self = NULL, *target = NULL;
	PageTls tls = agent_page_tls(a);
	uint16_t criu_port;
	int r;

	if ((r = source_hosts(s, &self, &target)) < 0)
		return r;
	if ((r = lazy_free_port(&criu_port)) < 0 ||
	    (r = lazy_source_start(self, target, &tls, criu_port, &s->lazy, &s->lazy_port)) < 0) {
		error_detail_set(&s->why, "cannot start the lazy-pages relay on %s: %s", self,
		                 error_to_string(r));
		return r;
	}
	_cleanup_free_ char *export_dir = NULL;
	(void)mkdir(a->config->work_dir, 0700);
	if ((r = precopy_dir_create(a->config->work_dir, s->rec.id, &export_dir)) < 0 ||
	    asprintf(&s->dump.export_path, "%s/export.tar", export_dir) < 0) {
		error_detail_set(&s->why, "cannot create a directory in %s: %s",
		                 a->config->work_dir, error_to_string(r < 0 ? r : -ENOMEM));
		return r < 0 ? r : -ENOMEM;
	}
	if (!(s->dump.container = strdup(s->rec.container)) ||
	    criu_config_path(a->config->criu_config_dir, s->rec.container, &s->criu_config) < 0)
		return -ENOMEM;
	/* the dump's lazy page server listens on loopback only: our relay is
	 * the one way to it from elsewhere */
	_cleanup_free_ char *text = NULL;
	if (asprintf(&text, "lazy-pages\naddress 127.0.0.1\nport %u\n", criu_port) < 0)
		return -ENOMEM;
	free(s->dump.output);
	s->dump.output = TAKE_PTR(text); /* kept until the dump starts */
	return 0;
}

/* Runs the podman binary; its output (stdout and stderr) in *ret_out. */
static int podman_cli(const char *const argv[], char **ret_out, ErrorDetail *why)
{
	SpawnOptions o = { .stderr_to_stdout = true };
	int status = -1;
	int r = spawn_capture((char *const *)argv, &o, 1024 * 1024, ret_out, &status);
	if (r < 0 || status != 0) {
		error_detail_set(why, "%s %s: %.300s", argv[1], argv[2],
		                 r < 0 ? error_to_string(r) : *ret_out);
		return r < 0 ? r : -EIO;
	}
	return 0;
}

/* Podman's changes as the files its import reads: deleted.files (a JSON
 * array of the deleted paths) and, for tar, a NUL-separated list of the
 * added and changed ones relative to the root; each path is NULL when
 * there is nothing to put in it. */
static int source_rootfs_lists(const PodmanChange *changes, size_t n, const char *dir,
                               char **ret_deleted, char **ret_list)
{
	_cleanup_json_ json_t *deleted = json_array();
	_cleanup_free_ char *del = NULL, *list = NULL;
	_cleanup_close_ int lfd = -EBADF;
	int r;

	if (!deleted)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		const char *p = changes[i].path;
		if (changes[i].kind == PODMAN_CHANGE_DELETED) {
			if (json_array_append_new(deleted, json_string(p)) < 0)
				return -ENOMEM;
			continue;
		}
		while (*p == '/')
			p++;
		if (!*p)
			continue;
		if (lfd < 0) {
			if (asprintf(&list, "%s/rootfs.list", dir) < 0)
				return -ENOMEM;
			lfd = open(list, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
			           0600);
			if (lfd < 0)
				return -errno;
		}
		if ((r = loop_write(lfd, p, strlen(p) + 1)) < 0)
			return r;
	}
	if (json_array_size(deleted) > 0) {
		_cleanup_free_ char *text = json_dumps(deleted, JSON_COMPACT);
		if (!text || asprintf(&del, "%s/deleted.files", dir) < 0)
			return -ENOMEM;
		_cleanup_close_ int fd =
		        open(del, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
		if (fd < 0)
			return -errno;
		if ((r = loop_write(fd, text, strlen(text))) < 0)
			return r;
	}
	*ret_deleted = TAKE_PTR(del);
	*ret_list = TAKE_PTR(list);
	return 0;
}

/* Post-copy: the container's root filesystem changes as Podman's export
 * would carry them (its export comes only after the dump ends): in dir,
 * rootfs-diff.tar with what was added or changed and deleted.files (a JSON
 * list) with what was deleted; *ret_diff and *ret_deleted say which exist.
 * The container is frozen, so nothing changes meanwhile. */
static int source_rootfs_diff(Source *s, const char *dir, bool *ret_diff, bool *ret_deleted)
{
	const char *name = s->rec.container;
	_cleanup_free_ char *list = NULL, *tar = NULL, *del = NULL;
	PodmanChange *changes = NULL;
	size_t n_changes = 0;
	PodmanError e = {};
	int r;

	*ret_diff = *ret_deleted = false;
	/* by the service, not a podman process: this runs while the container
	 * is frozen */
	if ((r = podman_container_changes(s->a->podman, s->ins.id ?: name, &changes, &n_changes,
	                                  &e)) < 0) {
		error_detail_set(&s->why, "cannot list the changes of %s's root filesystem: %s",
		                 name, e.message[0] ? e.message : error_to_string(r));
		return r;
	}
	r = source_rootfs_lists(changes, n_changes, dir, &del, &list);
	podman_changes_free(changes, n_changes);
	if (r < 0) {
		error_detail_set(&s->why, "cannot write the changes of %s's root filesystem: %s",
		                 name, error_to_string(r));
		return r;
	}
	*ret_deleted = del != NULL;
	if (!list)
		return 0;
	if (asprintf(&tar, "%s/rootfs-diff.tar", dir) < 0)
		return -ENOMEM;
	/* the running container's root, as Podman mounted it. Never `podman
	 * container mount`: it waits for the container's lock, which the lazy
	 * dump holds until it ends, and the container is frozen meanwhile. */
	const char *merged = json_string_value(json_object_get(
	        json_object_get(json_object_get(s->ins.raw, "GraphDriver"), "Data"), "MergedDir"));
	struct stat st;
	if (!merged || stat(merged, &st) < 0 || !S_ISDIR(st.st_mode)) {
		error_detail_set(&s->why, "%s's root filesystem is not mounted at %s", name,
		                 merged ?: "(Podman names no MergedDir)");
		return -ENOENT;
	}
	const char *tar_argv[] = { "tar",  "-c", "-f", tar, "--no-recursion", "--null", "-C",
		                   merged, "-T", list, NULL };
	_cleanup_free_ char *tar_out = NULL;
	r = podman_cli(tar_argv, &tar_out, &s->why);
	if (r < 0)
		return r;
	*ret_diff = true;
	return 0;
}

/* Post-copy: the dump writes every image but the pages, then serves the
 * pages from the frozen container; once it serves, Podman's files of the
 * container (the images, config.dump, spec.dump) go to the target as the
 * archive, and the target restores at once. */
static int source_transfer_lazy(Source *s)
{
	Agent *a = s->a;
	_cleanup_free_ char *config_text = TAKE_PTR(s->dump.output), *dir = NULL, *tar = NULL,
	                    *out = NULL;
	const char *userdata = json_string_value(json_object_get(s->ins.raw, "StaticDir"));
	int status = -1, r;

	if (!userdata || !*userdata) {
		error_detail_set(&s->why, "Podman does not say where container %s keeps its files",
		                 s->rec.container);
		return -EIO;
	}
	if ((r = criu_config_write(s->criu_config, config_text)) < 0) {
		error_detail_set(&s->why, "cannot write the CRIU configuration %s: %s",
		                 s->criu_config, error_to_string(r));
		return r;
	}
	if ((r = source_record_checkpointing(s)) < 0)
		return r;
	if ((r = -pthread_create(&s->dump.thread, NULL, lazy_dump_thread, &s->dump)) < 0) {
		error_detail_set(&s->why, "cannot start the checkpoint: %s", error_to_string(r));
		return r;
	}
	s->dump.started = true;
	uint64_t deadline = now_usec(CLOCK_MONOTONIC) + READY_TIMEOUT_USEC;
	while (!lazy_source_serving(s->lazy, 5 * USEC_PER_MSEC)) {
		if (atomic_load(&s->dump.ended) || now_usec(CLOCK_MONOTONIC) > deadline) {
			lazy_dump_join(&s->dump);
			criu_config_remove(s->criu_config);
			const char *msg = s->dump.output ?: "";
			size_t n = strlen(msg);
			while (n > 0 && msg[n - 1] == '\n')
				n--;
			error_detail_set(&s->why, "checkpointing %s on %s failed: %.*s",
			                 s->rec.container, a->config->node_name, (int)MIN(n, 400),
			                 n ? msg : "its lazy page server never listened");
			return -EIO;
		}
	}
	/* the dump is through with the file: a later restore reads it too */
	criu_config_remove(s->criu_config);
	(void)mkdir(a->config->work_dir, 0700);
	if ((r = precopy_dir_create(a->config->work_dir, s->rec.id, &dir)) < 0 ||
	    asprintf(&tar, "%s/post-copy.tar", dir) < 0) {
		error_detail_set(&s->why, "cannot create a directory in %s: %s",
		                 a->config->work_dir, error_to_string(r < 0 ? r : -ENOMEM));
		return r < 0 ? r : -ENOMEM;
	}
	char network[4096];
	snprintf(network, sizeof network, "%s/network.status", userdata);
	bool has_network = access(network, F_OK) >= 0, has_diff = false, has_deleted = false;
	/* the container's log goes along as in Podman's export (the frozen
	 * container writes nothing meanwhile) */
	char log[4096];
	snprintf(log, sizeof log, "%s/ctr.log", userdata);
	bool has_log = access(log, F_OK) >= 0;
	if ((r = source_rootfs_diff(s, dir, &has_diff, &has_deleted)) < 0) {
		(void)agent_remove_tree(dir);
		return r;
	}
	/* CRIU still writes its log while it serves pages */
	const char *argv[20];
	size_t n = 0;
	argv[n++] = "tar";
	argv[n++] = "-c";
	argv[n++] = "-f";
	argv[n++] = tar;
	argv[n++] = "--exclude=checkpoint/*.log";
	argv[n++] = "-C";
	argv[n++] = userdata;
	argv[n++] = "checkpoint";
	argv[n++] = "config.dump";
	argv[n++] = "spec.dump";
	if (has_network)
		argv[n++] = "network.status";
	if (has_log)
		argv[n++] = "ctr.log";
	if (has_diff || has_deleted) {
		argv[n++] = "-C";
		argv[n++] = dir;
	}
	if (has_diff)
		argv[n++] = "rootfs-diff.tar";
	if (has_deleted)
		argv[n++] = "deleted.files";
	argv[n] = NULL;
	SpawnOptions o = { .stderr_to_stdout = true };
	r = spawn_capture((char *const *)argv, &o, 4096, &out, &status);
	if (r >= 0 && status == 0)
		r = precopy_send(tar, false, s);
	else {
		error_detail_set(&s->why, "cannot pack the container's images: %.300s",
		                 r < 0 ? error_to_string(r) : out);
		r = r < 0 ? r : -EIO;
	}
	(void)agent_remove_tree(dir);
	return r;
}

/* Checkpoints, sends the archive(s) and waits for the target's `done`. */
static int source_transfer(Source *s)
{
	bool sent = false;
	int r;

	if ((r = agent_fault(s->a, "source-checkpointing")) < 0) {
		error_detail_set(&s->why, "fault injected at source-checkpointing");
		return r;
	}
	if (!(s->sha = EVP_MD_CTX_new()) || EVP_DigestInit_ex(s->sha, EVP_sha256(), NULL) != 1) {
		error_detail_set(&s->why, "out of memory");
		return -ENOMEM;
	}
	if ((r = send_pipeline_new(CHUNK_BYTES, SEND_SLOTS, source_send_chunk, s, &s->pipeline)) <
	    0) {
		error_detail_set(&s->why, "cannot start sending: %s", error_to_string(r));
		return r;
	}
	if (s->rec.mode == MIGRATION_MODE_PRE_COPY && (r = source_transfer_precopy(s, &sent)) < 0)
		return r;
	if (s->rec.mode == MIGRATION_MODE_PAGE_SERVER) {
		if ((r = source_transfer_pages(s)) < 0)
			return r;
	} else if (s->rec.mode == MIGRATION_MODE_POST_COPY) {
		if ((r = source_transfer_lazy(s)) < 0)
			return r;
	} else if (!sent && (r = source_transfer_checkpoint(s)) < 0)
		return r;
	if ((r = rpc_stream_close_send(s->target)) < 0) {
		error_detail_set(&s->why, "sending the archive to %s failed: %s", s->rec.target,
		                 error_to_string(r));
		return r;
	}
	log_info("migration %s: archive sent, %" PRIu64 " bytes in %" PRIu64
	         " ms from Podman's first byte; the sender thread spent %" PRIu64
	         " ms in gRPC sends and %" PRIu64 " ms hashing, alongside Podman's stream",
	         s->rec.id, s->sent, (now_usec(CLOCK_MONOTONIC) - s->first_byte) / 1000,
	         s->send_usec / 1000, s->hash_usec / 1000);
	source_progress(s, true);
	Podmig__V1__TransferReply *done = NULL;
	if ((r = source_wait_reply(s, PODMIG__V1__TRANSFER_REPLY__KIND_DONE, DONE_TIMEOUT_USEC,
	                           &done)) < 0)
		return r;
	if (done->done)
		s->lazy_pages_usec = done->done->lazy_pages_usec;
	rpc_message_free(&done->base);
	if (s->lazy)
		s->sent += lazy_source_bytes(s->lazy);
	return 0;
}

/* Settles the record (docs/etcd-keys.md), writes its counters and answers
 * the driver. */
static int source_finish(Source *s)
{
	/* Whatever is still queued is moot now (the target answered or the
	 * migration failed). */
	source_pipeline_stop(s);
	uint64_t down_usec = s->down_since ? now_usec(CLOCK_MONOTONIC) - s->down_since : 0;
	/* post-copy: the container ran on the target while its pages came */
	uint64_t downtime_ms = (down_usec - MIN(down_usec, s->lazy_pages_usec)) / 1000;
	MigrationPhase final = source_settle(s);
	if (migration_phase_is_final(final)) {
		/* Bookkeeping on the final record; a lost race here changes nothing. */
		s->rec.bytes = s->sent;
		s->rec.downtime_ms = downtime_ms;
		if (error_detail_is_set(&s->why) && final != MIGRATION_DONE && !s->rec.error)
			s->rec.error = strdup(s->why.message);
		(void)migration_record_update(s->a->etcd, s->a->config->prefix, &s->rec);
	}
	source_progress(s, true);
	agent_metrics_migration(s->a->metrics, &s->rec, final, downtime_ms, s->sent);
	if (migration_phase_is_final(final)) {
		/* Settled: source_settle() tried the restore of any rollback, so
		 * the recorded pages go whatever came of it
		 * (recovery_keep_pages()), and so does the evidence: nothing is
		 * left to recover. */
		if (!recovery_keep_pages(final, LOCAL_STOPPED, true))
			agent_pages_forget(s->a, s->rec.id);
		agent_evidence_remove(s->a, s->rec.id);
	}
	if (final == MIGRATION_DONE) {
		log_info("migration %s: %s now runs on %s (%" PRIu64 " bytes, down %" PRIu64 " ms)",
		         s->rec.id, s->rec.container, s->rec.target, s->sent, downtime_ms);
		return 0;
	}
	log_warning("migration %s: %s: %s", s->rec.id, migration_phase_to_string(final),
	            s->rec.error ?: s->why.message);
	return rpc_server_call_error(
	        s->driver, final == MIGRATION_RESTORING ? RPC_UNAVAILABLE : RPC_ABORTED,
	        "migration %s %s: %s", s->rec.id,
	        final == MIGRATION_RESTORING ? "is still restoring on the target"
	                                     : migration_phase_to_string(final),
	        s->rec.error ?: s->why.message);
}

int agent_handle_migrate(RpcServerCall *call, void *userdata)
{
	_cleanup_message_ ProtobufCMessage *msg = NULL;
	_cleanup_(source_done) Source s = { .a = userdata, .driver = call };
	int r;

	if ((r = agent_authorize(s.a, call, AGENT_METHOD_MIGRATE, NULL)) < 0)
		return r;
	if ((r = rpc_server_call_recv(call, &msg)) <= 0)
		return r < 0 ? r : -EBADMSG;
	if (((Podmig__V1__MigrateRequest *)msg)->force &&
	    (r = agent_authorize(s.a, call, AGENT_METHOD_MIGRATE_FORCED, NULL)) < 0)
		return r;
	if ((r = source_prepare(&s, (Podmig__V1__MigrateRequest *)msg)) < 0)
		return r;
	/* From here every outcome goes through settling. */
	if ((s.rec.mode != MIGRATION_MODE_POST_COPY || source_lazy_prepare(&s) >= 0) &&
	    source_handshake(&s) >= 0)
		(void)source_transfer(&s);
	return source_finish(&s);
}
