/* page-server.h — the moving parts of a page-server migration. The source's
 * CRIU dump sends the container's memory pages over TCP to a CRIU page
 * server on the target while it dumps, so Podman's export carries only the
 * small images.
 *
 *   source CRIU ─TCP─> PageRelay ══TLS══> PageServer ─unix─> criu page-server
 *                     (source agent)  │    (target agent)        (target)
 *                                     └─> recorded stream
 *
 * The agents hold the TLS connection between them, with the cluster's
 * certificates; CRIU speaks plaintext only to its own agent (CRIU's TLS
 * cannot sit behind a relay: its page server needs TLS records to end where
 * its protocol's chunks end). Without TLS the target's CRIU takes the TCP
 * connection itself.
 *
 * The relay records what the dump sent, so that a rollback after a dump that
 * succeeded (the pages are then on the target only) can replay it into a
 * local page server and restore the source's copy from its own disk.
 *
 * Who may connect:
 * - the target's page server: one connection, from the source node's address
 *   only (others are closed unread), on a port opened for this migration and
 *   closed once that connection came or the wait ended; with TLS, the client
 *   must also show a certificate of the cluster's CA for the source node's
 *   address (the source agent's own), and the relay accepts only the
 *   target's;
 * - the source's relay: one connection, from the source node's own address
 *   (its local CRIU), on a port opened for this dump only.
 *
 * CRIU takes its options from the file named by the container's
 * `org.criu.config` annotation (runc hands that file to CRIU, which reads it
 * after runc's own options); a container can take part only when that
 * annotation names the agent's file for it (criu_config_path()), and the
 * agent writes that file only for the duration of one dump or restore. */
#pragma once

#include <openssl/ssl.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "error-util.h"

/* The cluster's certificates when it uses TLS; ca == NULL: plaintext. */
typedef struct PageTls {
	const char *ca;
	const char *cert;
	const char *key;
} PageTls;

/* The annotation runc reads the CRIU configuration file's path from. */
#define CRIU_CONFIG_ANNOTATION "org.criu.config"

/* <dir>/<container>.conf: the file a container's annotation must name. */
int criu_config_path(const char *dir, const char *container, char **ret);
/* Writes `text` as the CRIU configuration at `path` (its directory made
 * 0700 if missing); criu_config_remove() takes it away again (gone already
 * is fine). */
int criu_config_write(const char *path, const char *text);
void criu_config_remove(const char *path);
/* Removes every configuration file (*.conf) in dir. */
void criu_config_clear(const char *dir);

/* Target: listens on listen_host (an ephemeral port, in *ret_port) for one
 * connection from peer_host within accept_usec, then runs `criu page-server`
 * on it writing into images_dir (its log: log_path). */
typedef struct PageServer PageServer;
int page_server_start(const char *listen_host, const char *peer_host, const char *images_dir,
                      const char *log_path, const PageTls *tls, uint64_t accept_usec,
                      PageServer **ret, uint16_t *ret_port);
/* Waits up to timeout_usec for the page server to end: 0 once it took every
 * page and exited 0; otherwise the reason in why. */
int page_server_wait(PageServer *ps, uint64_t timeout_usec, ErrorDetail *why);
/* Stops the page server if it still runs. NULL is fine; returns NULL. */
PageServer *page_server_free(PageServer *ps);

/* Source: listens on local_host (port in *ret_port) for the dump's one
 * connection, connects to target_host:target_port (TLS with tls), carries
 * bytes both ways, and records what the dump sent in record_path (created
 * here, mode 0600; an existing file is an error). */
typedef struct PageRelay PageRelay;
int page_relay_start(const char *local_host, const char *target_host, uint16_t target_port,
                     const PageTls *tls, const char *record_path, PageRelay **ret,
                     uint16_t *ret_port);
/* Waits for the relay to end (the dump closed its connection): 0 when both
 * sides ended cleanly, with the bytes carried and the time from the first
 * to the last; otherwise the reason in why. */
int page_relay_finish(PageRelay *r, uint64_t timeout_usec, uint64_t *ret_bytes, uint64_t *ret_usec,
                      ErrorDetail *why);
/* Takes `bytes` (what the dump will send, about the container's memory) for
 * the recording before the dump starts, so the dump does not wait for new
 * pages of a tmpfs or blocks of a disk while it writes; the file's size stays
 * what was recorded and the relay gives back the rest when it ends. 0, or
 * -ENOSPC and the like: the pages directory has no room for them. */
int page_relay_reserve(PageRelay *r, uint64_t bytes);
/* After page_relay_finish(): how much of that time went into recording the
 * pages and into sending them on (0 before the relay ended). */
void page_relay_split(PageRelay *r, uint64_t *ret_record_usec, uint64_t *ret_send_usec);
PageRelay *page_relay_free(PageRelay *r);

/* Rollback: feeds a recorded stream to a local `criu page-server` writing
 * into images_dir, which then holds the pages the dump sent away. */
int page_stream_replay(const char *record_path, const char *images_dir, const char *log_path,
                       ErrorDetail *why);

/* The host part of "host:port" (IPv4 or [IPv6]) in *ret. */
int address_host(const char *address, char **ret);
/* Whether host is a numeric IPv4 or IPv6 address: the page server binds
 * to and checks peers against addresses, never names. */
bool address_is_numeric(const char *host);

/* ---- the pieces lazy-pages.c shares ---- */

/* Listens on host (numeric), an ephemeral port in *ret_port. */
int listen_on(const char *host, int *ret_fd, uint16_t *ret_port);
/* One connection from `peer` on listen_fd before `deadline` (monotonic) or
 * until *cancel; connections from anywhere else are closed unread. */
int accept_from(int listen_fd, const char *peer, uint64_t deadline, atomic_bool *cancel,
                int *ret_fd);
/* The last line of a CRIU log into buf (size bytes), "" without one. */
void log_tail(const char *path, char *buf, size_t size);

/* The agents' end: a TCP socket, with OpenSSL on it when the cluster uses
 * TLS. Blocking, with bounds on each send and receive (socket_bound_io()). */
typedef struct Peer {
	int fd;
	SSL_CTX *ctx;
	SSL *ssl;
} Peer;

int socket_bound_io(int fd);
/* TLS on p->fd with the cluster's certificates: as the client, the server
 * must show a certificate of the cluster's CA for `host`; as the server,
 * the client must, for `host` (the one node allowed to connect). */
int peer_tls(Peer *p, const PageTls *tls, bool server, const char *host, ErrorDetail *why);
int peer_send(Peer *p, const uint8_t *buf, size_t len);
/* > 0 bytes, 0 at the end, -EAGAIN when nothing but TLS bookkeeping came. */
ssize_t peer_recv(Peer *p, uint8_t *buf, size_t len);
void peer_close(Peer *p);
