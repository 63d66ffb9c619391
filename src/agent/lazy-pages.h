/* lazy-pages.h — the moving parts of a post-copy migration. The source's
 * CRIU dump writes every image but the memory pages, then serves the pages
 * from the frozen container (its lazy page server); the target restores at
 * once, and a CRIU lazy-pages daemon there fetches each page the restored
 * container touches, then the rest in the background:
 *
 *   source CRIU <─TCP── LazySource ══TLS══ PageRelay <─TCP── criu lazy-pages
 *   (lazy dump,        (source agent)     (target agent)     (target, owned by
 *    127.0.0.1)                                               the target agent)
 *
 * The dangers, and the rules that answer them:
 * - CRIU's lazy dump counts a connection that ends cleanly as success: the
 *   source container is then killed. So the source agent's end of that
 *   connection owns the end of the stream: the daemon's closing request is
 *   held back (the daemon gets its answer and may exit), and CRIU sees the
 *   close only once the record says `done`. On any other outcome CRIU gets
 *   a request it does not know, then a reset, so the dump fails and the
 *   frozen source resumes intact. The socket aborts (resets) when closed
 *   any other way, so a source agent that dies never ends it cleanly.
 * - A restored container whose lazy-pages daemon ends early reads zeros
 *   where its pages were never fetched. The daemon's exit status is the
 *   truth: 0 means every page arrived; anything else (or a kill) and the
 *   target agent removes its copy before it reports. The daemon dies with
 *   the thread of the agent that runs it (PR_SET_PDEATHSIG).
 *
 * Who may connect: the source's relay takes one connection, from the target
 * node's address only, on a port opened for this migration (with TLS, only
 * with the target agent's certificate of the cluster's CA); the target's
 * relay takes one, from the target's own address (its daemon). */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "error-util.h"
#include "page-server.h"

/* ---- source ---- */

typedef struct LazySource LazySource;

/* Listens on self_host (an ephemeral port in *ret_port) for the target's
 * one connection from target_host (TLS with tls), and connects to the
 * dump's lazy page server at 127.0.0.1:criu_port once it listens. */
int lazy_source_start(const char *self_host, const char *target_host, const PageTls *tls,
                      uint16_t criu_port, LazySource **ret, uint16_t *ret_port);
/* Whether the dump's lazy page server took our connection: from then on
 * every image but the pages is written. Waits up to wait_usec for it. */
bool lazy_source_serving(LazySource *ls, uint64_t wait_usec);
/* The end of the stream: commit lets the dump finish (it then kills the
 * source container), anything else makes it fail (the source resumes).
 * Waits up to timeout_usec for CRIU to take it; 0, or the reason in why. */
int lazy_source_settle(LazySource *ls, bool commit, uint64_t timeout_usec, ErrorDetail *why);
/* Bytes of pages the dump served through us. */
uint64_t lazy_source_bytes(LazySource *ls);
/* Aborts the dump unless it was committed. NULL is fine; returns NULL. */
LazySource *lazy_source_free(LazySource *ls);

/* A free TCP port on 127.0.0.1 for the dump's lazy page server. */
int lazy_free_port(uint16_t *ret);

/* ---- target ---- */

typedef struct LazyDaemon LazyDaemon;

/* Runs `criu lazy-pages` on images_dir (socket in work_dir, log in
 * log_path), fetching through a relay of ours to source_host:source_port
 * (TLS with tls); returns once the daemon's socket is there for the
 * restore. */
int lazy_daemon_start(const char *self_host, const char *source_host, uint16_t source_port,
                      const PageTls *tls, const char *images_dir, const char *work_dir,
                      const char *log_path, LazyDaemon **ret, ErrorDetail *why);
/* Waits up to timeout_usec for the daemon to end: 0 when it exited 0 (every
 * page arrived) and its relay ended cleanly; otherwise the reason in why
 * (the daemon is killed on a timeout). */
int lazy_daemon_wait(LazyDaemon *d, uint64_t timeout_usec, ErrorDetail *why);
/* Whether the daemon still runs. */
bool lazy_daemon_running(LazyDaemon *d);
/* Kills the daemon if it still runs. NULL is fine; returns NULL. */
LazyDaemon *lazy_daemon_free(LazyDaemon *d);
