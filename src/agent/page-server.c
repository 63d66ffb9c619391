/* page-server.c — the target's CRIU page server behind a per-migration port
 * that only the source may use, the source's relay that carries (and
 * records) what its dump sends, the replay of a recorded stream for a
 * rollback, and the per-container CRIU configuration file (page-server.h). */
#include "page-server.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
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

#define RELAY_BUFFER    (256 * 1024)
#define PEER_BUFFER     (256 * 1024) /* TLS: read ahead, written at once */
#define POLL_SLICE_MSEC 200
#define CONNECT_USEC    (10 * USEC_PER_SEC)
#define STALL_USEC      (60 * USEC_PER_SEC) /* nothing moved either way: give up */
#define SOCKET_IO_SEC   30                  /* one blocking send or receive at most */
#define REPLAY_USEC     (600 * USEC_PER_SEC)

/* ---- addresses and sockets ---- */

int address_host(const char *address, char **ret)
{
	const char *end;
	if (!address || !*address)
		return -EINVAL;
	if (address[0] == '[') {
		if (!(end = strchr(address, ']')))
			return -EINVAL;
		*ret = strndup(address + 1, (size_t)(end - address - 1));
	} else {
		end = strrchr(address, ':');
		*ret = end ? strndup(address, (size_t)(end - address)) : strdup(address);
	}
	return *ret ? 0 : -ENOMEM;
}

static int sockaddr_from(const char *host, uint16_t port, struct sockaddr_storage *ss,
                         socklen_t *len)
{
	struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
	memset(ss, 0, sizeof *ss);
	if (inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
		in4->sin_family = AF_INET;
		in4->sin_port = htons(port);
		*len = sizeof *in4;
		return 0;
	}
	if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(port);
		*len = sizeof *in6;
		return 0;
	}
	return -EINVAL; /* numeric addresses only: names would need a resolver we trust */
}

static bool sockaddr_is_host(const struct sockaddr_storage *ss, const char *host)
{
	struct sockaddr_storage want;
	socklen_t len;
	if (sockaddr_from(host, 0, &want, &len) < 0 || want.ss_family != ss->ss_family)
		return false;
	if (ss->ss_family == AF_INET)
		return ((const struct sockaddr_in *)ss)->sin_addr.s_addr ==
		       ((struct sockaddr_in *)&want)->sin_addr.s_addr;
	return memcmp(&((const struct sockaddr_in6 *)ss)->sin6_addr,
	              &((struct sockaddr_in6 *)&want)->sin6_addr, sizeof(struct in6_addr)) == 0;
}

bool address_is_numeric(const char *host)
{
	struct sockaddr_storage ss;
	socklen_t len;
	return host && sockaddr_from(host, 0, &ss, &len) >= 0;
}

int listen_on(const char *host, int *ret_fd, uint16_t *ret_port)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int r, one = 1;

	if ((r = sockaddr_from(host, 0, &ss, &len)) < 0)
		return r;
	_cleanup_close_ int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, 4) < 0)
		return -errno;
	len = sizeof ss;
	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
		return -errno;
	*ret_port = ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
	                                          : ((struct sockaddr_in6 *)&ss)->sin6_port);
	*ret_fd = TAKE_FD(fd);
	return 0;
}

/* One connection from `peer` on listen_fd before `deadline` (monotonic) or
 * until *cancel; connections from anywhere else are closed unread. */
int accept_from(int listen_fd, const char *peer, uint64_t deadline, atomic_bool *cancel,
                int *ret_fd)
{
	for (;;) {
		if (atomic_load(cancel))
			return -ECANCELED;
		if (now_usec(CLOCK_MONOTONIC) >= deadline)
			return -ETIMEDOUT;
		struct pollfd p = { .fd = listen_fd, .events = POLLIN };
		int n = poll(&p, 1, POLL_SLICE_MSEC);
		if (n < 0 && errno != EINTR)
			return -errno;
		if (n <= 0)
			continue;
		struct sockaddr_storage ss;
		socklen_t len = sizeof ss;
		int fd = accept4(listen_fd, (struct sockaddr *)&ss, &len, SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED || errno == EAGAIN)
				continue;
			return -errno;
		}
		if (sockaddr_is_host(&ss, peer)) {
			*ret_fd = fd;
			return 0;
		}
		char who[INET6_ADDRSTRLEN] = "?";
		(void)getnameinfo((struct sockaddr *)&ss, len, who, sizeof who, NULL, 0,
		                  NI_NUMERICHOST);
		log_warning("page server: refused a connection from %s (only %s may connect)", who,
		            peer);
		close(fd);
	}
}

static int safe_close(int fd)
{
	if (fd >= 0)
		close(fd);
	return -EBADF;
}

/* The last line of a CRIU log, for a reason a person can act on. */
void log_tail(const char *path, char *buf, size_t size)
{
	buf[0] = 0;
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	off_t end = lseek(fd, 0, SEEK_END);
	char tail[512];
	off_t from = end > (off_t)sizeof tail - 1 ? end - (off_t)sizeof tail + 1 : 0;
	ssize_t n = pread(fd, tail, sizeof tail - 1, from);
	if (n <= 0)
		return;
	tail[n] = 0;
	while (n > 0 && (tail[n - 1] == '\n' || tail[n - 1] == ' '))
		tail[--n] = 0;
	char *last = strrchr(tail, '\n');
	last = last ? last + 1 : tail;
	size_t len = MIN(strlen(last), size - 1);
	memcpy(buf, last, len);
	buf[len] = 0;
}

static void tls_copy(const PageTls *from, PageTls *to, bool *ok)
{
	*to = (PageTls){};
	if (!from || !from->ca)
		return;
	to->ca = strdup(from->ca);
	to->cert = from->cert ? strdup(from->cert) : NULL;
	to->key = from->key ? strdup(from->key) : NULL;
	if (!to->ca || !to->cert || !to->key)
		*ok = false;
}

static void tls_free(PageTls *t)
{
	free((char *)t->ca);
	free((char *)t->cert);
	free((char *)t->key);
	*t = (PageTls){};
}

/* ---- the CRIU configuration file ---- */

int criu_config_path(const char *dir, const char *container, char **ret)
{
	if (!dir || !*dir || !container || !*container || strchr(container, '/'))
		return -EINVAL;
	return asprintf(ret, "%s/%s.conf", dir, container) < 0 ? -ENOMEM : 0;
}

int criu_config_write(const char *path, const char *text)
{
	_cleanup_free_ char *dir = strdup(path), *tmp = NULL;
	if (!dir)
		return -ENOMEM;
	char *slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = 0;
		if (mkdir(dir, 0700) < 0 && errno != EEXIST)
			return -errno;
	}
	if (asprintf(&tmp, "%s.tmp", path) < 0)
		return -ENOMEM;
	(void)unlink(tmp);
	_cleanup_close_ int fd =
	        open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return -errno;
	int r = loop_write(fd, text, strlen(text));
	if (r >= 0 && rename(tmp, path) < 0)
		r = -errno;
	if (r < 0)
		(void)unlink(tmp);
	return r;
}

void criu_config_remove(const char *path)
{
	if (path && unlink(path) < 0 && errno != ENOENT)
		log_warning_errno(-errno, "cannot remove the CRIU configuration %s", path);
}

static bool has_suffix(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);
	return n >= m && streq(s + n - m, suffix);
}

void criu_config_clear(const char *dir)
{
	_cleanup_close_ int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return;
	DIR *d = fdopendir(fd);
	if (!d)
		return;
	fd = -EBADF; /* the DIR owns it */
	struct dirent *e;
	while ((e = readdir(d)))
		if (has_suffix(e->d_name, ".conf") || has_suffix(e->d_name, ".conf.tmp")) {
			if (unlinkat(dirfd(d), e->d_name, 0) < 0 && errno != ENOENT)
				log_warning_errno(-errno, "cannot remove %s/%s", dir, e->d_name);
			else
				log_notice(
				        "removed the CRIU configuration %s/%s a previous run left",
				        dir, e->d_name);
		}
	closedir(d);
}

/* ---- the TLS leg between the agents ----
 *
 * CRIU's own TLS cannot be used behind a relay: its page server expects
 * every TLS record to end where a chunk of its protocol ends (it writes a
 * whole record into a pipe sized for the chunk), and a relay's records end
 * elsewhere. So the agents hold the TLS connection and CRIU speaks
 * plaintext to its own agent on each side. */

/* The agents' end: a TCP socket, with OpenSSL on it when the cluster uses
 * TLS. Blocking, with SOCKET_IO_SEC bounds on each send and receive. */
void peer_close(Peer *p)
{
	if (p->ssl) {
		(void)SSL_shutdown(p->ssl);
		SSL_free(p->ssl);
	}
	SSL_CTX_free(p->ctx);
	if (p->fd >= 0)
		close(p->fd);
	*p = (Peer){ .fd = -EBADF };
}

static const char *ssl_reason(void)
{
	unsigned long e = ERR_get_error();
	return e ? ERR_reason_error_string(e) ?: "TLS error" : "TLS error";
}

int socket_bound_io(int fd)
{
	struct timeval tv = { .tv_sec = SOCKET_IO_SEC };
	int one = 1;
	int flags = fcntl(fd, F_GETFL);
	if (flags < 0 || fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) < 0)
		return -errno;
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	return 0;
}

/* TLS on p->fd with the cluster's certificates: as the client, the server
 * must show a certificate of the cluster's CA for `host`; as the server,
 * the client must, for `host` (the one node allowed to connect). */
int peer_tls(Peer *p, const PageTls *tls, bool server, const char *host, ErrorDetail *why)
{
	if (!(p->ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method())) ||
	    SSL_CTX_load_verify_locations(p->ctx, tls->ca, NULL) != 1 ||
	    SSL_CTX_use_certificate_chain_file(p->ctx, tls->cert) != 1 ||
	    SSL_CTX_use_PrivateKey_file(p->ctx, tls->key, SSL_FILETYPE_PEM) != 1) {
		error_detail_set(why, "cannot load the TLS files: %s", ssl_reason());
		return -EIO;
	}
	SSL_CTX_set_verify(p->ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	SSL_CTX_set_min_proto_version(p->ctx, TLS1_2_VERSION);
	/* A record that is not data (a session ticket) must not make a read
	 * wait for data that may never come. */
	SSL_CTX_clear_mode(p->ctx, SSL_MODE_AUTO_RETRY);
	/* Reads take whatever the socket holds, many records at once, and
	 * writes leave in one send per PEER_BUFFER (peer_send() flushes):
	 * record by record, a GiB of pages costs hundreds of thousands of
	 * system calls and as many wake-ups of the CRIU on the other end. */
	SSL_CTX_set_read_ahead(p->ctx, 1);
	SSL_CTX_set_default_read_buffer_len(p->ctx, PEER_BUFFER);
	BIO *sock = NULL, *out = NULL;
	if (!(p->ssl = SSL_new(p->ctx)) ||
	    X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(p->ssl), host) != 1 ||
	    !(sock = BIO_new_socket(p->fd, BIO_NOCLOSE)) || !(out = BIO_new(BIO_f_buffer())) ||
	    BIO_set_write_buffer_size(out, PEER_BUFFER) != 1 || BIO_up_ref(sock) != 1) {
		BIO_free(out);
		BIO_free(sock);
		error_detail_set(why, "TLS: %s", ssl_reason());
		return -EIO;
	}
	/* the SSL object takes both: the socket's reference and the buffer's
	 * chain, which holds the other */
	SSL_set_bio(p->ssl, sock, BIO_push(out, sock));
	if ((server ? SSL_accept(p->ssl) : SSL_connect(p->ssl)) != 1) {
		long v = SSL_get_verify_result(p->ssl);
		error_detail_set(why, "TLS with %s failed: %s", host,
		                 v != X509_V_OK ? X509_verify_cert_error_string(v) : ssl_reason());
		return -EPROTO;
	}
	return 0;
}

int peer_send(Peer *p, const uint8_t *buf, size_t len)
{
	if (!p->ssl)
		return loop_write(p->fd, buf, len);
	/* The socket is blocking: a retry means a send waited SOCKET_IO_SEC
	 * for room (or was interrupted), and a peer that takes nothing for
	 * STALL_USEC is given up on. */
	unsigned waits = 0, max_waits = STALL_USEC / USEC_PER_SEC / SOCKET_IO_SEC;
	while (len > 0) {
		size_t n = 0;
		if (SSL_write_ex(p->ssl, buf, len, &n) != 1) {
			int e = SSL_get_error(p->ssl, 0);
			if ((e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) &&
			    ++waits <= max_waits)
				continue;
			return e == SSL_ERROR_WANT_WRITE ? -ETIMEDOUT : -EPIPE;
		}
		buf += n;
		len -= n;
	}
	while (BIO_flush(SSL_get_wbio(p->ssl)) != 1)
		if (!BIO_should_retry(SSL_get_wbio(p->ssl)) || ++waits > max_waits)
			return -EPIPE;
	return 0;
}

/* > 0 bytes, 0 at the end, -EAGAIN when nothing but TLS bookkeeping came. */
ssize_t peer_recv(Peer *p, uint8_t *buf, size_t len)
{
	if (!p->ssl) {
		ssize_t n = read(p->fd, buf, len);
		return n < 0 ? (errno == EINTR ? -EAGAIN : -errno) : n;
	}
	size_t n = 0;
	if (SSL_read_ex(p->ssl, buf, len, &n) == 1) {
		/* one record per call: take the others already here too */
		size_t more;
		while (n < len && SSL_has_pending(p->ssl) &&
		       SSL_read_ex(p->ssl, buf + n, len - n, &more) == 1)
			n += more;
		return (ssize_t)n;
	}
	int e = SSL_get_error(p->ssl, 0);
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
		return -EAGAIN;
	if (e == SSL_ERROR_ZERO_RETURN)
		return 0;
	/* a peer that closes without TLS's close_notify ends the stream too */
	return e == SSL_ERROR_SYSCALL && ERR_peek_error() == 0 ? 0 : -EPROTO;
}

typedef struct PumpStats {
	uint64_t bytes; /* from the plain side to the peer */
	uint64_t first_usec, last_usec;
	uint64_t record_usec, send_usec; /* spent recording, spent sending to the peer */
} PumpStats;

/* Carries bytes both ways between CRIU's plaintext socket and the peer
 * until CRIU closes its end; what CRIU sends is first appended to `record`
 * when that is open. When the peer ends first, CRIU's side is shut for
 * writing, so CRIU sees the end and fails or finishes by itself. */
static int relay_pump(int plain, Peer *peer, int record, atomic_bool *cancel, PumpStats *st,
                      ErrorDetail *why)
{
	_cleanup_free_ uint8_t *buf = malloc(RELAY_BUFFER);
	bool peer_open = true;
	int r;

	if (!buf)
		return -ENOMEM;
	uint64_t last_move = now_usec(CLOCK_MONOTONIC);
	for (;;) {
		if (atomic_load(cancel)) {
			error_detail_set(why, "cancelled");
			return -ECANCELED;
		}
		struct pollfd p[2] = { { .fd = plain, .events = POLLIN },
			               { .fd = peer_open ? peer->fd : -1, .events = POLLIN } };
		bool pending = peer_open && peer->ssl && SSL_has_pending(peer->ssl);
		int n = poll(p, 2, pending ? 0 : POLL_SLICE_MSEC);
		if (n < 0 && errno != EINTR)
			return -errno;
		uint64_t now = now_usec(CLOCK_MONOTONIC);
		if (n <= 0 && !pending) {
			if (now - last_move > STALL_USEC) {
				error_detail_set(why, "the page transfer stalled for %u s",
				                 (unsigned)(STALL_USEC / USEC_PER_SEC));
				return -ETIMEDOUT;
			}
			continue;
		}
		if (p[0].revents) {
			ssize_t got = read(plain, buf, RELAY_BUFFER);
			if (got < 0 && errno != EINTR && errno != EAGAIN) {
				r = -errno;
				error_detail_set(why, "reading from CRIU: %s", error_to_string(r));
				return r;
			}
			if (got == 0)
				return 0; /* CRIU is through */
			if (got > 0) {
				uint64_t got_at = now_usec(CLOCK_MONOTONIC);
				if (!st->first_usec)
					st->first_usec = now;
				if (record >= 0 && (r = loop_write(record, buf, (size_t)got)) < 0) {
					error_detail_set(why, "recording the pages: %s",
					                 error_to_string(r));
					return r;
				}
				uint64_t recorded = now_usec(CLOCK_MONOTONIC);
				if (!peer_open || peer_send(peer, buf, (size_t)got) < 0) {
					error_detail_set(why, "the other agent's end is closed");
					return -EPIPE;
				}
				st->bytes += (uint64_t)got;
				st->last_usec = last_move = now_usec(CLOCK_MONOTONIC);
				st->record_usec += recorded - got_at;
				st->send_usec += st->last_usec - recorded;
			}
		}
		if (peer_open && (p[1].revents || pending)) {
			ssize_t got = peer_recv(peer, buf, RELAY_BUFFER);
			if (got == 0) {
				peer_open = false;
				(void)shutdown(plain, SHUT_WR);
			} else if (got > 0 && (r = loop_write(plain, buf, (size_t)got)) < 0) {
				error_detail_set(why, "writing to CRIU: %s", error_to_string(r));
				return r;
			} else if (got < 0 && got != -EAGAIN) {
				error_detail_set(why, "the connection between the agents broke");
				return (int)got;
			}
			last_move = now_usec(CLOCK_MONOTONIC);
		}
	}
}

/* ---- target: the page server ---- */

struct PageServer {
	pthread_t thread;
	bool thread_started;
	int listen_fd;
	char *peer, *images_dir, *log_path;
	PageTls tls;
	uint64_t accept_deadline;
	atomic_bool cancel;
	pthread_mutex_t lock; /* guards pid, ended, result, why */
	pid_t pid;
	bool ended;
	int result;
	ErrorDetail why;
};

static void page_server_end(PageServer *ps, int result, const char *fmt, ...) _printf_(3, 4);
static void page_server_end(PageServer *ps, int result, const char *fmt, ...)
{
	va_list ap;
	pthread_mutex_lock(&ps->lock);
	if (fmt) {
		char msg[sizeof ps->why.message];
		va_start(ap, fmt);
		vsnprintf(msg, sizeof msg, fmt, ap);
		va_end(ap);
		error_detail_set(&ps->why, "%s", msg);
	}
	ps->result = result;
	ps->ended = true;
	pthread_mutex_unlock(&ps->lock);
}

static void *page_server_thread(void *userdata)
{
	PageServer *ps = userdata;
	_cleanup_close_ int sock = -EBADF, plain = -EBADF;
	int criu_end, r;

	r = accept_from(ps->listen_fd, ps->peer, ps->accept_deadline, &ps->cancel, &sock);
	close(ps->listen_fd);
	ps->listen_fd = -EBADF;
	if (r < 0) {
		page_server_end(ps, r, "the page server had no connection from %s: %s", ps->peer,
		                r == -ETIMEDOUT ? "none came in time" : error_to_string(r));
		return NULL;
	}
	/* Plaintext: CRIU takes the connection itself. TLS: this thread holds
	 * it and CRIU gets the other end of a socket pair. */
	criu_end = sock;
	int sv[2] = { -EBADF, -EBADF };
	if (ps->tls.ca) {
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
			r = -errno;
			page_server_end(ps, r, "page server: %s", error_to_string(r));
			return NULL;
		}
		plain = sv[0];
		criu_end = sv[1];
	}
	const char *argv[] = { "criu",         "page-server", "--images-dir",
		               ps->images_dir, "--ps-socket", "3",
		               "--log-file",   ps->log_path,  NULL };
	SpawnOptions o = { .quiet = true, .pass_fd = criu_end };
	pid_t pid;
	pthread_mutex_lock(&ps->lock);
	r = atomic_load(&ps->cancel) ? -ECANCELED : spawn_start((char *const *)argv, &o, &pid);
	if (r >= 0)
		ps->pid = pid;
	pthread_mutex_unlock(&ps->lock);
	if (ps->tls.ca)
		close(sv[1]);
	else
		sock = safe_close(sock); /* CRIU's copy is the connection's end */
	if (r < 0) {
		page_server_end(ps, r, "cannot run criu page-server: %s", error_to_string(r));
		return NULL;
	}
	ErrorDetail why = {};
	int pumped = 0;
	if (ps->tls.ca) {
		_cleanup_(peer_close) Peer peer = { .fd = TAKE_FD(sock) };
		PumpStats st = {};
		pumped = socket_bound_io(peer.fd);
		if (pumped >= 0)
			pumped = peer_tls(&peer, &ps->tls, true, ps->peer, &why);
		if (pumped >= 0)
			pumped = relay_pump(plain, &peer, -EBADF, &ps->cancel, &st, &why);
		plain = safe_close(plain); /* CRIU sees the end */
	}
	/* Wait without reaping, so the pid cannot be reused while free() may
	 * still signal it. */
	siginfo_t si;
	while (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOWAIT) < 0 && errno == EINTR)
		;
	pthread_mutex_lock(&ps->lock);
	ps->pid = 0;
	pthread_mutex_unlock(&ps->lock);
	int status = -1;
	(void)spawn_reap(pid, &status);
	if (status == 0 && pumped >= 0) {
		page_server_end(ps, 0, NULL);
		return NULL;
	}
	char tail[256];
	log_tail(ps->log_path, tail, sizeof tail);
	if (pumped < 0)
		page_server_end(ps, pumped, "pages from %s: %s (criu page-server: status %d: %s)",
		                ps->peer, why.message, status, tail[0] ? tail : "no log");
	else
		page_server_end(ps, -EIO, "criu page-server exited with status %d: %s", status,
		                tail[0] ? tail : "(no log)");
	return NULL;
}

int page_server_start(const char *listen_host, const char *peer_host, const char *images_dir,
                      const char *log_path, const PageTls *tls, uint64_t accept_usec,
                      PageServer **ret, uint16_t *ret_port)
{
	struct sockaddr_storage ss;
	socklen_t len;
	bool ok = true;
	int r;

	if (sockaddr_from(peer_host, 0, &ss, &len) < 0)
		return -EINVAL;
	PageServer *ps = calloc(1, sizeof *ps);
	if (!ps)
		return -ENOMEM;
	ps->listen_fd = -EBADF;
	pthread_mutex_init(&ps->lock, NULL);
	ps->peer = strdup(peer_host);
	ps->images_dir = strdup(images_dir);
	ps->log_path = strdup(log_path);
	tls_copy(tls, &ps->tls, &ok);
	if (!ok || !ps->peer || !ps->images_dir || !ps->log_path) {
		page_server_free(ps);
		return -ENOMEM;
	}
	if ((r = listen_on(listen_host, &ps->listen_fd, ret_port)) < 0) {
		page_server_free(ps);
		return r;
	}
	ps->accept_deadline = now_usec(CLOCK_MONOTONIC) + accept_usec;
	if ((r = -pthread_create(&ps->thread, NULL, page_server_thread, ps)) < 0) {
		page_server_free(ps);
		return r;
	}
	ps->thread_started = true;
	*ret = ps;
	return 0;
}

int page_server_wait(PageServer *ps, uint64_t timeout_usec, ErrorDetail *why)
{
	uint64_t deadline = now_usec(CLOCK_MONOTONIC) + timeout_usec;
	for (;;) {
		pthread_mutex_lock(&ps->lock);
		bool ended = ps->ended;
		int result = ps->result;
		if (ended && result < 0)
			error_detail_set(why, "%s", ps->why.message);
		pthread_mutex_unlock(&ps->lock);
		if (ended)
			return result;
		if (now_usec(CLOCK_MONOTONIC) >= deadline) {
			error_detail_set(why,
			                 "the page server has not finished within %" PRIu64 " s",
			                 (uint64_t)(timeout_usec / USEC_PER_SEC));
			return -ETIMEDOUT;
		}
		sleep_usec(20 * USEC_PER_MSEC);
	}
}

PageServer *page_server_free(PageServer *ps)
{
	if (!ps)
		return NULL;
	atomic_store(&ps->cancel, true);
	pthread_mutex_lock(&ps->lock);
	if (ps->pid > 0)
		(void)kill(ps->pid, SIGKILL);
	pthread_mutex_unlock(&ps->lock);
	if (ps->thread_started)
		pthread_join(ps->thread, NULL);
	if (ps->listen_fd >= 0)
		close(ps->listen_fd);
	pthread_mutex_destroy(&ps->lock);
	free(ps->peer);
	free(ps->images_dir);
	free(ps->log_path);
	tls_free(&ps->tls);
	free(ps);
	return NULL;
}

/* ---- source: the relay ---- */

struct PageRelay {
	pthread_t thread;
	bool thread_started;
	int listen_fd;
	int record_fd;
	char *local, *target_host, *record_path;
	uint16_t target_port;
	PageTls tls;
	uint64_t accept_deadline;
	atomic_bool cancel;
	pthread_mutex_t lock; /* guards the results below */
	bool ended;
	int result;
	ErrorDetail why;
	PumpStats stats;
};

static int peer_connect(PageRelay *pr, Peer *p, ErrorDetail *why)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int r;

	if ((r = sockaddr_from(pr->target_host, pr->target_port, &ss, &len)) < 0)
		return r;
	p->fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (p->fd < 0)
		return -errno;
	if (connect(p->fd, (struct sockaddr *)&ss, len) < 0 && errno != EINPROGRESS) {
		r = -errno;
		error_detail_set(why, "cannot connect to the page server at %s:%u: %s",
		                 pr->target_host, pr->target_port, error_to_string(r));
		return r;
	}
	struct pollfd pfd = { .fd = p->fd, .events = POLLOUT };
	int err = 0;
	socklen_t elen = sizeof err;
	if (poll(&pfd, 1, (int)(CONNECT_USEC / USEC_PER_MSEC)) <= 0)
		err = ETIMEDOUT;
	else if (getsockopt(p->fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0)
		err = errno;
	if (err) {
		error_detail_set(why, "cannot connect to the page server at %s:%u: %s",
		                 pr->target_host, pr->target_port, strerror(err));
		return -err;
	}
	if ((r = socket_bound_io(p->fd)) < 0)
		return r;
	return pr->tls.ca ? peer_tls(p, &pr->tls, false, pr->target_host, why) : 0;
}

static void page_relay_end(PageRelay *pr, int result, const ErrorDetail *why)
{
	pthread_mutex_lock(&pr->lock);
	if (result < 0 && why)
		pr->why = *why;
	pr->result = result;
	pr->ended = true;
	pthread_mutex_unlock(&pr->lock);
}

static int relay_run(PageRelay *pr, int rec, ErrorDetail *why)
{
	_cleanup_close_ int criu = -EBADF;
	_cleanup_(peer_close) Peer peer = { .fd = -EBADF };
	int r;

	r = accept_from(pr->listen_fd, pr->local, pr->accept_deadline, &pr->cancel, &criu);
	close(pr->listen_fd);
	pr->listen_fd = -EBADF;
	if (r < 0) {
		error_detail_set(why, "the dump never connected to the page relay: %s",
		                 r == -ETIMEDOUT ? "none came in time" : error_to_string(r));
		return r;
	}
	/* replies to a CRIU that waits for each one (a lazy-pages daemon) must
	 * not wait for an acknowledgement first */
	int one = 1;
	(void)setsockopt(criu, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if ((r = peer_connect(pr, &peer, why)) < 0) {
		if (!error_detail_is_set(why))
			error_detail_set(why, "cannot reach the page server: %s",
			                 error_to_string(r));
		return r;
	}
	r = relay_pump(criu, &peer, rec, &pr->cancel, &pr->stats, why);
	if (r < 0 && !error_detail_is_set(why))
		error_detail_set(why, "page relay: %s", error_to_string(r));
	return r;
}

static void *page_relay_thread(void *userdata)
{
	PageRelay *pr = userdata;
	ErrorDetail why = {};
	int rec = pr->record_fd; /* page_relay_free() closes it */
	int r = relay_run(pr, rec, &why);
	/* what page_relay_reserve() took beyond what was recorded goes back */
	off_t end = (off_t)pr->stats.bytes;
	(void)fallocate(rec, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, end, INT64_MAX - end);
	(void)ftruncate(rec, end);
	page_relay_end(pr, r < 0 ? r : 0, &why);
	return NULL;
}

int page_relay_start(const char *local_host, const char *target_host, uint16_t target_port,
                     const PageTls *tls, const char *record_path, PageRelay **ret,
                     uint16_t *ret_port)
{
	bool ok = true;
	int r;

	PageRelay *pr = calloc(1, sizeof *pr);
	if (!pr)
		return -ENOMEM;
	pr->listen_fd = pr->record_fd = -EBADF;
	pthread_mutex_init(&pr->lock, NULL);
	pr->local = strdup(local_host);
	pr->target_host = strdup(target_host);
	pr->record_path = strdup(record_path);
	pr->target_port = target_port;
	tls_copy(tls, &pr->tls, &ok);
	if (!ok || !pr->local || !pr->target_host || !pr->record_path) {
		page_relay_free(pr);
		return -ENOMEM;
	}
	pr->record_fd =
	        open(record_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (pr->record_fd < 0) {
		r = -errno;
		page_relay_free(pr);
		return r;
	}
	if ((r = listen_on(local_host, &pr->listen_fd, ret_port)) < 0) {
		page_relay_free(pr);
		return r;
	}
	/* the dump connects once the container is frozen, after Podman's and
	 * runc's preparations */
	pr->accept_deadline = now_usec(CLOCK_MONOTONIC) + 300 * USEC_PER_SEC;
	if ((r = -pthread_create(&pr->thread, NULL, page_relay_thread, pr)) < 0) {
		page_relay_free(pr);
		return r;
	}
	pr->thread_started = true;
	*ret = pr;
	return 0;
}

int page_relay_finish(PageRelay *pr, uint64_t timeout_usec, uint64_t *ret_bytes, uint64_t *ret_usec,
                      ErrorDetail *why)
{
	uint64_t deadline = now_usec(CLOCK_MONOTONIC) + timeout_usec;
	for (;;) {
		pthread_mutex_lock(&pr->lock);
		bool ended = pr->ended;
		int result = pr->result;
		if (ended && result < 0)
			error_detail_set(why, "%s", pr->why.message);
		if (ended) {
			*ret_bytes = pr->stats.bytes;
			*ret_usec = pr->stats.last_usec > pr->stats.first_usec
			                    ? pr->stats.last_usec - pr->stats.first_usec
			                    : 0;
		}
		pthread_mutex_unlock(&pr->lock);
		if (ended)
			return result;
		if (now_usec(CLOCK_MONOTONIC) >= deadline) {
			error_detail_set(why, "the page relay has not finished");
			return -ETIMEDOUT;
		}
		sleep_usec(20 * USEC_PER_MSEC);
	}
}

int page_relay_reserve(PageRelay *pr, uint64_t bytes)
{
	/* FALLOC_FL_KEEP_SIZE: the file's size stays what was recorded, so a
	 * replay after a crash never reads the reserve */
	if (pr->record_fd < 0 || bytes == 0 || bytes > INT64_MAX)
		return 0;
	if (fallocate(pr->record_fd, FALLOC_FL_KEEP_SIZE, 0, (off_t)bytes) < 0)
		return errno == EOPNOTSUPP ? 0 : -errno;
	return 0;
}

void page_relay_split(PageRelay *pr, uint64_t *ret_record_usec, uint64_t *ret_send_usec)
{
	pthread_mutex_lock(&pr->lock);
	*ret_record_usec = pr->ended ? pr->stats.record_usec : 0;
	*ret_send_usec = pr->ended ? pr->stats.send_usec : 0;
	pthread_mutex_unlock(&pr->lock);
}

PageRelay *page_relay_free(PageRelay *pr)
{
	if (!pr)
		return NULL;
	atomic_store(&pr->cancel, true);
	if (pr->thread_started)
		pthread_join(pr->thread, NULL);
	if (pr->listen_fd >= 0)
		close(pr->listen_fd);
	if (pr->record_fd >= 0)
		close(pr->record_fd);
	pthread_mutex_destroy(&pr->lock);
	free(pr->local);
	free(pr->target_host);
	free(pr->record_path);
	tls_free(&pr->tls);
	free(pr);
	return NULL;
}

/* ---- rollback: replaying a recorded stream ---- */

int page_stream_replay(const char *record_path, const char *images_dir, const char *log_path,
                       ErrorDetail *why)
{
	_cleanup_close_ int rec = open(record_path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	_cleanup_free_ uint8_t *buf = malloc(RELAY_BUFFER);
	int sv[2], r;

	if (rec < 0) {
		r = -errno;
		error_detail_set(why, "cannot open the recorded pages %s: %s", record_path,
		                 error_to_string(r));
		return r;
	}
	if (!buf)
		return -ENOMEM;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	_cleanup_close_ int mine = sv[0];
	const char *argv[] = { "criu", "page-server", "--images-dir", images_dir, "--ps-socket",
		               "3",    "--log-file",  log_path,       NULL };
	SpawnOptions o = { .quiet = true, .pass_fd = sv[1] };
	pid_t pid;
	r = spawn_start((char *const *)argv, &o, &pid);
	close(sv[1]);
	if (r < 0) {
		error_detail_set(why, "cannot run criu page-server: %s", error_to_string(r));
		return r;
	}
	int flags = fcntl(mine, F_GETFL);
	if (flags >= 0)
		(void)fcntl(mine, F_SETFL, flags | O_NONBLOCK);
	uint64_t deadline = now_usec(CLOCK_MONOTONIC) + REPLAY_USEC;
	size_t have = 0, off = 0;
	bool eof_file = false, eof_server = false;
	r = 0;
	while (!eof_server && r == 0) {
		if (!eof_file && off == have) {
			ssize_t n = read(rec, buf, RELAY_BUFFER);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0) {
				r = -errno;
				break;
			}
			if (n == 0) {
				eof_file = true;
				(void)shutdown(mine, SHUT_WR);
			}
			have = (size_t)MAX(n, 0);
			off = 0;
		}
		struct pollfd p = { .fd = mine, .events = POLLIN | (off < have ? POLLOUT : 0) };
		if (poll(&p, 1, POLL_SLICE_MSEC) < 0 && errno != EINTR) {
			r = -errno;
			break;
		}
		if (now_usec(CLOCK_MONOTONIC) > deadline) {
			r = -ETIMEDOUT;
			break;
		}
		if (p.revents & (POLLIN | POLLHUP)) {
			uint8_t ack[256];
			ssize_t n = read(mine, ack, sizeof ack); /* replies: nobody needs them */
			if (n == 0)
				eof_server = true;
		}
		if ((p.revents & POLLOUT) && off < have) {
			ssize_t n = write(mine, buf + off, have - off);
			if (n < 0 && errno != EAGAIN && errno != EINTR)
				eof_server = true; /* it stopped reading: its status says why */
			if (n > 0)
				off += (size_t)n;
		}
	}
	if (r < 0)
		(void)kill(pid, SIGKILL);
	int status = -1;
	(void)spawn_reap(pid, &status);
	if (r < 0) {
		error_detail_set(why, "replaying the recorded pages failed: %s",
		                 error_to_string(r));
		return r;
	}
	if (status != 0 || !eof_file) {
		char tail[256];
		log_tail(log_path, tail, sizeof tail);
		error_detail_set(why,
		                 "replaying the recorded pages: criu page-server exited with "
		                 "status %d: %s",
		                 status, tail[0] ? tail : "(no log)");
		return -EIO;
	}
	return 0;
}
