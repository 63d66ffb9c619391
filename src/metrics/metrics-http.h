/* metrics-http.h — the /metrics endpoint a daemon serves for Prometheus,
 * on libmicrohttpd (the only place podmig serves HTTP).
 *
 * Who may use it: with TLS (cert, key and CA all given, as whenever the
 * daemon runs with the cluster's certificates) it serves HTTPS with the
 * daemon's own certificate and answers only clients presenting a certificate
 * that the cluster CA signed for client authentication (any role: agent,
 * scheduler, operator, monitor); others get 403. Without TLS (the daemon's
 * --insecure) anyone who reaches the address may read it.
 *
 * What it serves: GET (and HEAD) /metrics, the registry rendered in the text
 * format; any other path is 404, any other method 405. Bounded: one thread
 * serves every connection (no thread per client), at most
 * METRICS_HTTP_MAX_CONNECTIONS at once (more are refused at accept),
 * METRICS_HTTP_PER_IP_CONNECTIONS from one address, a connection idle for
 * METRICS_HTTP_TIMEOUT_SEC is closed (the TLS handshake included), and a
 * request's headers may take at most METRICS_HTTP_MEMORY bytes. */
#pragma once

#include "error-util.h"
#include "macro.h"
#include "metrics.h"

#define METRICS_HTTP_MAX_CONNECTIONS    16
#define METRICS_HTTP_PER_IP_CONNECTIONS 4
#define METRICS_HTTP_TIMEOUT_SEC        10
#define METRICS_HTTP_MEMORY             (32 * 1024)

typedef struct MetricsHttpOptions {
	/* HOST:PORT with a numeric address ("0.0.0.0:7402", "[::]:7402",
	 * "10.0.0.5:0" for any free port) */
	const char *address;
	/* PEM files; all three for HTTPS with client certificates, none for HTTP */
	const char *cert_file;
	const char *key_file;
	const char *ca_file;
} MetricsHttpOptions;

typedef struct MetricsHttp MetricsHttp;

/* Listens and serves `registry` (which must outlive the server) from a
 * thread of its own. -EINVAL with the reason in `error` for a bad address or
 * unreadable files; -EADDRINUSE and the like when it cannot listen. */
int metrics_http_start(MetricsRegistry *registry, const MetricsHttpOptions *o, MetricsHttp **ret,
                       ErrorDetail *error);
/* A daemon's endpoint: HTTPS with its own certificate and the cluster CA when `tls`, plain HTTP
 * otherwise; logs where it serves (as "KIND NAME", e.g. "node node1") or why it cannot. */
int metrics_http_serve(MetricsRegistry *registry, const char *address, bool tls,
                       const char *cert_file, const char *key_file, const char *ca_file,
                       const char *kind, const char *name, MetricsHttp **ret);
/* The port it listens on (useful after port 0). */
int metrics_http_get_port(const MetricsHttp *h);
/* Stops serving; NULL-safe. */
MetricsHttp *metrics_http_free(MetricsHttp *h);
DEFINE_TRIVIAL_CLEANUP_FUNC(MetricsHttp *, metrics_http_free);

/* Whether `address` is HOST:PORT as metrics_http_start() takes it. */
bool metrics_http_address_valid(const char *address);
