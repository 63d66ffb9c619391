/* lazy-pages.c — post-copy's relays and the target's lazy-pages daemon
 * (lazy-pages.h). The sockets, TLS and the target's relay are
 * page-server.c's. */
#include "lazy-pages.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "macro.h"
#include "process-util.h"
#include "strutil.h"
#include "time-util.h"

/* CRIU's page-server requests (criu/page-xfer.c, struct page_server_iov:
 * u32 cmd, then u64 nr_pages, vaddr, dst_id; 32 bytes on 64-bit hosts since
 * CRIU 4.2). The daemon sends nothing else: PS_IOV_GET for pages, then
 * PS_IOV_CLOSE, answered by an int32 status, once it has them all. */
#define PS_HEADER_BYTES    32
#define PS_CMD_MASK        0xffffu
#define PS_IOV_CLOSE       0x1023u
#define PS_IOV_FORCE_CLOSE 0x1024u
/* A command no CRIU knows: its lazy page server fails the dump on it. */
#define PS_IOV_ABORT 0xffffu

#define RELAY_BUFFER    (256 * 1024)
#define POLL_SLICE_MSEC 200
#define STALL_USEC      (60 * USEC_PER_SEC)
#define SERVE_USEC      (300 * USEC_PER_SEC) /* the dump reaches its lazy page server */
#define SOCKET_WAIT     (30 * USEC_PER_SEC)  /* the daemon's socket appears */

/* ---- source: the end of the dump's stream ---- */

typedef enum Verdict {
	VERDICT_NONE,
	VERDICT_COMMIT,
	VERDICT_ABORT,
} Verdict;

struct LazySource {
	pthread_t thread;
	bool thread_started;
	int listen_fd;
	char *target;
	PageTls tls;
	uint16_t criu_port;
	atomic_bool cancel;
	pthread_mutex_t lock; /* guards what follows */
	pthread_cond_t cond;
	bool serving;    /* connected to the dump's lazy page server */
	Verdict verdict; /* what the source agent decided */
	bool ended;      /* the thread is through: result, why */
	int result;
	ErrorDetail why;
	uint64_t bytes;
};

int lazy_free_port(uint16_t *ret)
{
	_cleanup_close_ int fd = -EBADF;
	int r = listen_on("127.0.0.1", &fd, ret);
	return r; /* closed again: CRIU binds it a moment later */
}

/* A TCP socket to 127.0.0.1:port that resets when closed: however this
 * process ends, the dump never sees a clean end it would count as success. */
static int connect_local(uint16_t port, int *ret_fd)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(port) };
	struct linger abort_close = { .l_onoff = 1, .l_linger = 0 };
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	_cleanup_close_ int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (setsockopt(fd, SOL_SOCKET, SO_LINGER, &abort_close, sizeof abort_close) < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sin, sizeof sin) < 0)
		return -errno;
	int r = socket_bound_io(fd);
	if (r < 0)
		return r;
	*ret_fd = TAKE_FD(fd);
	return 0;
}

static Verdict source_verdict(LazySource *ls)
{
	pthread_mutex_lock(&ls->lock);
	Verdict v = ls->verdict;
	pthread_mutex_unlock(&ls->lock);
	return v;
}

/* The dump's requests are forwarded whole, so an abort always lands on a
 * request's boundary; the daemon's close is kept in *held. */
typedef struct Framer {
	uint8_t part[PS_HEADER_BYTES];
	size_t have;
	bool close_held;
} Framer;

static int frame_forward(Framer *f, int criu, const uint8_t *buf, size_t len, Peer *peer)
{
	while (len > 0) {
		size_t n = MIN(len, PS_HEADER_BYTES - f->have);
		memcpy(f->part + f->have, buf, n);
		f->have += n;
		buf += n;
		len -= n;
		if (f->have < PS_HEADER_BYTES)
			break;
		f->have = 0;
		uint32_t cmd;
		memcpy(&cmd, f->part, sizeof cmd);
		cmd &= PS_CMD_MASK;
		if (f->close_held)
			return -EPROTO; /* nothing comes after the close */
		if (cmd == PS_IOV_CLOSE || cmd == PS_IOV_FORCE_CLOSE) {
			/* the daemon has every page: it gets its answer, CRIU
			 * waits for the record */
			int32_t status = 0;
			f->close_held = true;
			int r = peer_send(peer, (const uint8_t *)&status, sizeof status);
			if (r < 0)
				log_debug("lazy pages: the daemon left before its close was "
				          "answered");
			continue;
		}
		int r = loop_write(criu, f->part, PS_HEADER_BYTES);
		if (r < 0)
			return r;
	}
	return 0;
}

/* Both ways between the dump and the target's daemon, until the target's
 * end closes (or the agent decides first). */
static int source_pump(LazySource *ls, int criu, Peer *peer, Framer *f, ErrorDetail *why)
{
	_cleanup_free_ uint8_t *buf = malloc(RELAY_BUFFER);
	int r;

	if (!buf)
		return -ENOMEM;
	uint64_t last_move = now_usec(CLOCK_MONOTONIC);
	for (;;) {
		if (atomic_load(&ls->cancel) || source_verdict(ls) != VERDICT_NONE)
			return 0;
		struct pollfd p[2] = { { .fd = criu, .events = POLLIN },
			               { .fd = peer->fd, .events = POLLIN } };
		bool pending = peer->ssl && SSL_has_pending(peer->ssl);
		int n = poll(p, 2, pending ? 0 : POLL_SLICE_MSEC);
		if (n < 0 && errno != EINTR)
			return -errno;
		uint64_t now = now_usec(CLOCK_MONOTONIC);
		if (n <= 0 && !pending) {
			if (now - last_move > STALL_USEC && !f->close_held) {
				error_detail_set(why, "the page transfer stalled for %u s",
				                 (unsigned)(STALL_USEC / USEC_PER_SEC));
				return -ETIMEDOUT;
			}
			continue;
		}
		if (p[0].revents) {
			ssize_t got = read(criu, buf, RELAY_BUFFER);
			if (got < 0 && errno != EINTR && errno != EAGAIN) {
				r = -errno;
				error_detail_set(why, "reading from the dump: %s",
				                 error_to_string(r));
				return r;
			}
			if (got == 0) {
				error_detail_set(why, "the dump's lazy page server ended first");
				return -EPIPE;
			}
			if (got > 0) {
				if ((r = peer_send(peer, buf, (size_t)got)) < 0) {
					error_detail_set(why, "the target's end is closed");
					return r;
				}
				pthread_mutex_lock(&ls->lock);
				ls->bytes += (uint64_t)got;
				pthread_mutex_unlock(&ls->lock);
				last_move = now;
			}
		}
		if (p[1].revents || pending) {
			ssize_t got = peer_recv(peer, buf, RELAY_BUFFER);
			if (got == 0)
				return 0; /* the target's end closed: the agent decides */
			if (got < 0 && got != -EAGAIN) {
				error_detail_set(why, "the connection between the agents broke");
				return (int)got;
			}
			if (got > 0 && (r = frame_forward(f, criu, buf, (size_t)got, peer)) < 0) {
				error_detail_set(why,
				                 "passing the target's requests to the dump: %s",
				                 error_to_string(r));
				return r;
			}
			last_move = now;
		}
	}
}

/* Commit: the daemon's close (or one of ours when its own never came, its
 * connection having ended after the last page), CRIU's answer, then a clean
 * end. Abort: a command CRIU refuses, then a reset. */
static int source_end_stream(int criu, bool commit, ErrorDetail *why)
{
	uint8_t req[PS_HEADER_BYTES] = {};
	uint32_t cmd = commit ? PS_IOV_CLOSE : PS_IOV_ABORT;
	memcpy(req, &cmd, sizeof cmd);
	if (!commit) {
		(void)loop_write(criu, req, sizeof req);
		return 0; /* the socket resets as it closes */
	}
	int r = loop_write(criu, req, sizeof req);
	int32_t status = -1;
	if (r >= 0 && recv(criu, &status, sizeof status, MSG_WAITALL) != sizeof status)
		r = -EIO;
	if (r < 0 || status != 0) {
		error_detail_set(why, "the dump did not take the end of its lazy pages (%s)",
		                 r < 0 ? error_to_string(r) : "status not 0");
		return r < 0 ? r : -EIO;
	}
	struct linger clean = { .l_onoff = 0 };
	if (setsockopt(criu, SOL_SOCKET, SO_LINGER, &clean, sizeof clean) < 0)
		return -errno;
	(void)shutdown(criu, SHUT_WR);
	return 0;
}

static int source_run(LazySource *ls, int *criu, ErrorDetail *why)
{
	_cleanup_(peer_close) Peer peer = { .fd = -EBADF };
	uint64_t deadline = now_usec(CLOCK_MONOTONIC) + SERVE_USEC;
	Framer f = {};
	int r;

	/* the dump listens once every image but the pages is written */
	for (;;) {
		if (atomic_load(&ls->cancel) || source_verdict(ls) != VERDICT_NONE)
			return 0;
		if (connect_local(ls->criu_port, criu) >= 0)
			break;
		if (now_usec(CLOCK_MONOTONIC) > deadline) {
			error_detail_set(why, "the dump's lazy page server never listened");
			return -ETIMEDOUT;
		}
		/* a refused connect to loopback costs microseconds; every
		 * millisecond until the pages flow is downtime */
		sleep_usec(2 * USEC_PER_MSEC);
	}
	pthread_mutex_lock(&ls->lock);
	ls->serving = true;
	pthread_cond_broadcast(&ls->cond);
	pthread_mutex_unlock(&ls->lock);

	r = accept_from(ls->listen_fd, ls->target, deadline, &ls->cancel, &peer.fd);
	close(ls->listen_fd);
	ls->listen_fd = -EBADF;
	if (r == -ETIMEDOUT || r == -ECANCELED)
		error_detail_set(why, "the target's lazy-pages daemon never connected");
	if (r >= 0 && (r = socket_bound_io(peer.fd)) >= 0 && ls->tls.ca)
		r = peer_tls(&peer, &ls->tls, true, ls->target, why);
	if (r >= 0)
		r = source_pump(ls, *criu, &peer, &f, why);
	peer_close(&peer);
	if (r < 0)
		log_debug("lazy pages: %s", why->message);

	/* Whatever happened on the wire, only the agent's verdict ends the
	 * dump's stream. */
	pthread_mutex_lock(&ls->lock);
	while (ls->verdict == VERDICT_NONE && !atomic_load(&ls->cancel))
		pthread_cond_wait(&ls->cond, &ls->lock);
	bool commit = ls->verdict == VERDICT_COMMIT;
	pthread_mutex_unlock(&ls->lock);
	ErrorDetail end = {};
	int x = source_end_stream(*criu, commit, &end);
	if (x < 0) {
		*why = end;
		return x;
	}
	return commit ? 0 : -ECANCELED;
}

static void *source_thread(void *userdata)
{
	LazySource *ls = userdata;
	ErrorDetail why = {};
	_cleanup_close_ int criu = -EBADF;
	int r = source_run(ls, &criu, &why);
	if (criu >= 0 && source_verdict(ls) != VERDICT_COMMIT) {
		/* never a clean end without a commit */
		struct linger abort_close = { .l_onoff = 1, .l_linger = 0 };
		(void)setsockopt(criu, SOL_SOCKET, SO_LINGER, &abort_close, sizeof abort_close);
	}
	if (criu >= 0)
		close(criu);
	criu = -EBADF;
	pthread_mutex_lock(&ls->lock);
	ls->result = r;
	if (r < 0)
		ls->why = why;
	ls->ended = true;
	pthread_cond_broadcast(&ls->cond);
	pthread_mutex_unlock(&ls->lock);
	return NULL;
}

int lazy_source_start(const char *self_host, const char *target_host, const PageTls *tls,
                      uint16_t criu_port, LazySource **ret, uint16_t *ret_port)
{
	int r;
	LazySource *ls = calloc(1, sizeof *ls);
	if (!ls)
		return -ENOMEM;
	ls->listen_fd = -EBADF;
	ls->criu_port = criu_port;
	pthread_mutex_init(&ls->lock, NULL);
	pthread_cond_init(&ls->cond, NULL);
	ls->target = strdup(target_host);
	if (tls && tls->ca) {
		ls->tls.ca = strdup(tls->ca);
		ls->tls.cert = tls->cert ? strdup(tls->cert) : NULL;
		ls->tls.key = tls->key ? strdup(tls->key) : NULL;
	}
	if (!ls->target || (tls && tls->ca && (!ls->tls.ca || !ls->tls.cert || !ls->tls.key))) {
		lazy_source_free(ls);
		return -ENOMEM;
	}
	if ((r = listen_on(self_host, &ls->listen_fd, ret_port)) < 0 ||
	    (r = -pthread_create(&ls->thread, NULL, source_thread, ls)) < 0) {
		lazy_source_free(ls);
		return r;
	}
	ls->thread_started = true;
	*ret = ls;
	return 0;
}

bool lazy_source_serving(LazySource *ls, uint64_t wait_usec)
{
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	uint64_t ns = (uint64_t)until.tv_nsec + wait_usec * 1000;
	until.tv_sec += (time_t)(ns / 1000000000);
	until.tv_nsec = (long)(ns % 1000000000);
	pthread_mutex_lock(&ls->lock);
	while (!ls->serving && wait_usec > 0 &&
	       pthread_cond_timedwait(&ls->cond, &ls->lock, &until) == 0)
		;
	bool s = ls->serving;
	pthread_mutex_unlock(&ls->lock);
	return s;
}

uint64_t lazy_source_bytes(LazySource *ls)
{
	pthread_mutex_lock(&ls->lock);
	uint64_t b = ls->bytes;
	pthread_mutex_unlock(&ls->lock);
	return b;
}

int lazy_source_settle(LazySource *ls, bool commit, uint64_t timeout_usec, ErrorDetail *why)
{
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += (time_t)(timeout_usec / USEC_PER_SEC) + 1;

	pthread_mutex_lock(&ls->lock);
	if (ls->verdict == VERDICT_NONE)
		ls->verdict = commit ? VERDICT_COMMIT : VERDICT_ABORT;
	if (ls->verdict == VERDICT_ABORT)
		atomic_store(&ls->cancel, true); /* no need to wait for the target */
	pthread_cond_broadcast(&ls->cond);
	while (!ls->ended && pthread_cond_timedwait(&ls->cond, &ls->lock, &until) != ETIMEDOUT)
		;
	bool ended = ls->ended;
	int r = ended ? ls->result : -ETIMEDOUT;
	if (ended && r < 0 && r != -ECANCELED)
		error_detail_set(why, "%s", ls->why.message);
	else if (!ended)
		error_detail_set(why, "the dump's lazy page server did not take its end in time");
	pthread_mutex_unlock(&ls->lock);
	return !commit && r == -ECANCELED ? 0 : r;
}

LazySource *lazy_source_free(LazySource *ls)
{
	if (!ls)
		return NULL;
	pthread_mutex_lock(&ls->lock);
	if (ls->verdict == VERDICT_NONE)
		ls->verdict = VERDICT_ABORT;
	pthread_cond_broadcast(&ls->cond);
	pthread_mutex_unlock(&ls->lock);
	atomic_store(&ls->cancel, true);
	if (ls->thread_started)
		pthread_join(ls->thread, NULL);
	if (ls->listen_fd >= 0)
		close(ls->listen_fd);
	pthread_mutex_destroy(&ls->lock);
	pthread_cond_destroy(&ls->cond);
	free(ls->target);
	free((char *)ls->tls.ca);
	free((char *)ls->tls.cert);
	free((char *)ls->tls.key);
	free(ls);
	return NULL;
}

/* ---- target: the lazy-pages daemon ---- */

struct LazyDaemon {
	PageRelay *relay;
	pid_t pid;
	int status; /* once reaped: exit status, 128+signal if killed */
	bool reaped;
	char *log_path, *record_path;
};

bool lazy_daemon_running(LazyDaemon *d)
{
	if (!d || d->reaped)
		return false;
	int status;
	pid_t p = waitpid(d->pid, &status, WNOHANG);
	if (p == d->pid) {
		d->reaped = true;
		d->status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
		return false;
	}
	return true;
}

int lazy_daemon_start(const char *self_host, const char *source_host, uint16_t source_port,
                      const PageTls *tls, const char *images_dir, const char *work_dir,
                      const char *log_path, LazyDaemon **ret, ErrorDetail *why)
{
	_cleanup_free_ char *record = NULL, *sock = NULL, *port_text = NULL;
	uint16_t relay_port;
	int r;

	LazyDaemon *d = calloc(1, sizeof *d);
	if (!d)
		return -ENOMEM;
	d->pid = -1;
	if (asprintf(&d->record_path, "%s/requests", work_dir) < 0 ||
	    asprintf(&sock, "%s/lazy-pages.socket", work_dir) < 0 ||
	    !(d->log_path = strdup(log_path))) {
		free(d->record_path);
		free(d);
		return -ENOMEM;
	}
	/* the daemon reaches the source through a relay of ours, which holds
	 * the TLS leg between the agents */
	r = page_relay_start(self_host, source_host, source_port, tls, d->record_path, &d->relay,
	                     &relay_port);
	if (r < 0) {
		error_detail_set(why, "cannot start the lazy-pages relay on %s: %s", self_host,
		                 error_to_string(r));
		lazy_daemon_free(d);
		return r;
	}
	if (asprintf(&port_text, "%u", relay_port) < 0) {
		lazy_daemon_free(d);
		return -ENOMEM;
	}
	/* setpriv: the daemon dies with the thread that runs it, so it never
	 * serves a copy nobody watches. Its log keeps warnings and errors
	 * (its tail says why it failed); debug would log every page request
	 * while the copy runs. */
	const char *argv[] = { "setpriv",    "--pdeathsig",   "KILL",      "--",         "criu",
		               "lazy-pages", "--page-server", "--address", self_host,    "--port",
		               port_text,    "--images-dir",  images_dir,  "--work-dir", work_dir,
		               "--log-file", log_path,        "-v2",       NULL };
	SpawnOptions o = { .quiet = true };
	if ((r = spawn_start((char *const *)argv, &o, &d->pid)) < 0) {
		error_detail_set(why, "cannot run criu lazy-pages: %s", error_to_string(r));
		lazy_daemon_free(d);
		return r;
	}
	uint64_t deadline = now_usec(CLOCK_MONOTONIC) + SOCKET_WAIT;
	for (;;) {
		struct stat st;
		if (stat(sock, &st) >= 0 && S_ISSOCK(st.st_mode))
			break;
		if (!lazy_daemon_running(d) || now_usec(CLOCK_MONOTONIC) > deadline) {
			char tail[256];
			log_tail(log_path, tail, sizeof tail);
			error_detail_set(why, "criu lazy-pages did not start: %s",
			                 tail[0] ? tail : "(no log)");
			lazy_daemon_free(d);
			return -EIO;
		}
		/* the restore waits for this: a stat costs microseconds */
		sleep_usec(USEC_PER_MSEC);
	}
	*ret = d;
	return 0;
}

int lazy_daemon_wait(LazyDaemon *d, uint64_t timeout_usec, ErrorDetail *why)
{
	uint64_t deadline = now_usec(CLOCK_MONOTONIC) + timeout_usec;
	while (lazy_daemon_running(d)) {
		if (now_usec(CLOCK_MONOTONIC) > deadline) {
			(void)kill(d->pid, SIGKILL);
			error_detail_set(
			        why, "the lazy-pages daemon did not finish within %" PRIu64 " s",
			        (uint64_t)(timeout_usec / USEC_PER_SEC));
			return -ETIMEDOUT;
		}
		sleep_usec(20 * USEC_PER_MSEC);
	}
	ErrorDetail relay = {};
	uint64_t bytes = 0, usec = 0;
	int x = page_relay_finish(d->relay, 10 * USEC_PER_SEC, &bytes, &usec, &relay);
	if (d->status != 0) {
		char tail[256];
		log_tail(d->log_path, tail, sizeof tail);
		error_detail_set(why, "the lazy-pages daemon %s %d: %s",
		                 d->status > 128 ? "was killed by signal" : "exited with status",
		                 d->status > 128 ? d->status - 128 : d->status,
		                 tail[0] ? tail : "(no log)");
		return -EIO;
	}
	if (x < 0) {
		error_detail_set(why, "the lazy-pages relay: %s", relay.message);
		return x;
	}
	return 0;
}

LazyDaemon *lazy_daemon_free(LazyDaemon *d)
{
	if (!d)
		return NULL;
	if (d->pid > 0 && !d->reaped) {
		(void)kill(d->pid, SIGKILL);
		int status;
		(void)spawn_reap(d->pid, &status);
	}
	d->relay = page_relay_free(d->relay);
	if (d->record_path)
		(void)unlink(d->record_path);
	free(d->record_path);
	free(d->log_path);
	free(d);
	return NULL;
}
