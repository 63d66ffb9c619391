/* metrics-http.c — GET /metrics over libmicrohttpd (metrics-http.h). */
#include "metrics-http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <microhttpd.h>
#include <netdb.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "strutil.h"

#define PEM_MAX (1024 * 1024) /* a certificate, key or CA bundle file */

struct MetricsHttp {
	struct MHD_Daemon *daemon;
	MetricsRegistry *registry;
	bool tls;
	char *cert, *key, *ca; /* PEM, kept for the daemon's lifetime */
	int port;
};

static int read_pem(const char *path, char **ret, ErrorDetail *error)
{
	_cleanup_fclose_ FILE *f = fopen(path, "re");
	_cleanup_free_ char *buf = NULL;
	if (!f)
		return error_detail_set_errno(error, -errno, "%s: %s", path, strerror(errno));
	if (!(buf = malloc(PEM_MAX + 1)))
		return -ENOMEM;
	size_t n = fread(buf, 1, PEM_MAX + 1, f);
	if (ferror(f))
		return error_detail_set_errno(error, -EIO, "%s: read error", path);
	if (n == 0 || n > PEM_MAX)
		return error_detail_set_errno(error, -EINVAL, "%s: empty or larger than %d bytes",
		                              path, PEM_MAX);
	buf[n] = 0;
	*ret = TAKE_PTR(buf);
	return 0;
}

/* "1.2.3.4:80", "[::1]:80" → a socket address. */
static int address_parse(const char *address, struct sockaddr_storage *ret)
{
	char host[INET6_ADDRSTRLEN + 2];
	const char *colon = address ? strrchr(address, ':') : NULL;
	unsigned port;

	if (!colon || colon == address || (size_t)(colon - address) >= sizeof host)
		return -EINVAL;
	if (safe_atou(colon + 1, &port) < 0 || port > 65535)
		return -EINVAL;
	memcpy(host, address, colon - address);
	host[colon - address] = 0;
	memset(ret, 0, sizeof *ret);
	if (host[0] == '[') {
		size_t n = strlen(host);
		struct sockaddr_in6 *sa = (struct sockaddr_in6 *)ret;
		if (n < 3 || host[n - 1] != ']')
			return -EINVAL;
		host[n - 1] = 0;
		if (inet_pton(AF_INET6, host + 1, &sa->sin6_addr) != 1)
			return -EINVAL;
		sa->sin6_family = AF_INET6;
		sa->sin6_port = htons((uint16_t)port);
		return 0;
	}
	struct sockaddr_in *sa = (struct sockaddr_in *)ret;
	if (inet_pton(AF_INET, host, &sa->sin_addr) != 1)
		return -EINVAL;
	sa->sin_family = AF_INET;
	sa->sin_port = htons((uint16_t)port);
	return 0;
}

bool metrics_http_address_valid(const char *address)
{
	struct sockaddr_storage ss;
	return address_parse(address, &ss) >= 0;
}

static enum MHD_Result reply_text(struct MHD_Connection *c, unsigned status, const char *text,
                                  const char *allow)
{
	struct MHD_Response *rep =
	        MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_PERSISTENT);
	if (!rep)
		return MHD_NO;
	(void)MHD_add_response_header(rep, MHD_HTTP_HEADER_CONTENT_TYPE,
	                              "text/plain; charset=utf-8");
	if (allow)
		(void)MHD_add_response_header(rep, MHD_HTTP_HEADER_ALLOW, allow);
	enum MHD_Result r = MHD_queue_response(c, status, rep);
	MHD_destroy_response(rep);
	return r;
}

/* The client's certificate chains to the cluster CA and may authenticate a
 * TLS client. */
static bool client_certificate_ok(struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *ci =
	        MHD_get_connection_info(c, MHD_CONNECTION_INFO_GNUTLS_SESSION);
	if (!ci || !ci->tls_session)
		return false;
	gnutls_session_t session = ci->tls_session;
	gnutls_typed_vdata_st purpose = {
		.type = GNUTLS_DT_KEY_PURPOSE_OID,
		.data = (void *)GNUTLS_KP_TLS_WWW_CLIENT,
	};
	unsigned status = 0;
	if (gnutls_certificate_type_get(session) != GNUTLS_CRT_X509)
		return false;
	int r = gnutls_certificate_verify_peers(session, &purpose, 1, &status);
	if (r < 0 || status != 0) {
		log_debug("metrics: refusing a client: %s",
		          r < 0 ? gnutls_strerror(r) : "its certificate does not verify");
		return false;
	}
	return true;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *version, const char *upload_data,
                              size_t *upload_data_size, void **req_cls)
{
	MetricsHttp *h = cls;
	bool head = streq(method, MHD_HTTP_METHOD_HEAD);

	if (h->tls && !client_certificate_ok(c))
		return reply_text(c, MHD_HTTP_FORBIDDEN,
		                  "a client certificate signed by the cluster CA is required\n",
		                  NULL);
	if (!streq(url, "/metrics"))
		return reply_text(c, MHD_HTTP_NOT_FOUND, "only /metrics is served here\n", NULL);
	if (!streq(method, MHD_HTTP_METHOD_GET) && !head)
		return reply_text(c, MHD_HTTP_METHOD_NOT_ALLOWED, "only GET /metrics\n",
		                  "GET, HEAD");

	char *text = NULL;
	size_t size = 0;
	if (metrics_render(h->registry, &text, &size) < 0)
		return reply_text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n", NULL);
	struct MHD_Response *rep =
	        MHD_create_response_from_buffer_with_free_callback(size, text, free);
	if (!rep) {
		free(text);
		return MHD_NO;
	}
	(void)MHD_add_response_header(rep, MHD_HTTP_HEADER_CONTENT_TYPE, METRICS_CONTENT_TYPE);
	enum MHD_Result r = MHD_queue_response(c, MHD_HTTP_OK, rep);
	MHD_destroy_response(rep);
	return r;
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char buf[512];
	vsnprintf(buf, sizeof buf, fmt, ap);
	buf[strcspn(buf, "\n")] = 0;
	log_debug("metrics: %s", buf);
}

int metrics_http_start(MetricsRegistry *registry, const MetricsHttpOptions *o, MetricsHttp **ret,
                       ErrorDetail *error)
{
	_cleanup_(metrics_http_freep) MetricsHttp *h = NULL;
	struct sockaddr_storage ss;
	int r;

	if (address_parse(o->address, &ss) < 0)
		return error_detail_set_errno(error, -EINVAL,
		                              "'%s' is not HOST:PORT with a numeric address",
		                              o->address ?: "");
	bool tls = o->cert_file || o->key_file || o->ca_file;
	if (tls && (!o->cert_file || !o->key_file || !o->ca_file))
		return error_detail_set_errno(error, -EINVAL,
		                              "TLS needs a certificate, its key and the CA");
	if (!(h = calloc(1, sizeof *h)))
		return -ENOMEM;
	h->registry = registry;
	h->tls = tls;
	if (tls && ((r = read_pem(o->cert_file, &h->cert, error)) < 0 ||
	            (r = read_pem(o->key_file, &h->key, error)) < 0 ||
	            (r = read_pem(o->ca_file, &h->ca, error)) < 0))
		return r;

	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_USE_ERROR_LOG;
	if (ss.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	if (tls)
		flags |= MHD_USE_TLS;
	struct MHD_OptionItem tls_options[] = {
		{ MHD_OPTION_HTTPS_MEM_CERT, 0, h->cert },
		{ MHD_OPTION_HTTPS_MEM_KEY, 0, h->key },
		/* the CA makes gnutls ask for a client certificate;
		 * client_certificate_ok() verifies it */
		{ MHD_OPTION_HTTPS_MEM_TRUST, 0, h->ca },
		{ MHD_OPTION_HTTPS_PRIORITIES, 0,
		  (void *)"NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2" },
		{ MHD_OPTION_END, 0, NULL },
	};
	/* MHD logs through us, at debug level: a scraper's connection errors
	 * are not the daemon's. */
	h->daemon = MHD_start_daemon(
	        flags, 0, NULL, NULL, handle, h, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
	        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss, MHD_OPTION_CONNECTION_LIMIT,
	        (unsigned)METRICS_HTTP_MAX_CONNECTIONS, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
	        (unsigned)METRICS_HTTP_PER_IP_CONNECTIONS, MHD_OPTION_CONNECTION_TIMEOUT,
	        (unsigned)METRICS_HTTP_TIMEOUT_SEC, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
	        (size_t)METRICS_HTTP_MEMORY, MHD_OPTION_ARRAY,
	        tls ? tls_options : &tls_options[ELEMENTSOF(tls_options) - 1], MHD_OPTION_END);
	if (!h->daemon) {
		r = errno > 0 ? -errno : -EIO;
		return error_detail_set_errno(
		        error, r, "cannot serve metrics on %s: %s", o->address,
		        r == -EIO ? "libmicrohttpd refused the settings" : error_to_string(r));
	}
	const union MHD_DaemonInfo *di = MHD_get_daemon_info(h->daemon, MHD_DAEMON_INFO_BIND_PORT);
	h->port = di ? di->port : 0;
	*ret = TAKE_PTR(h);
	return 0;
}

int metrics_http_get_port(const MetricsHttp *h)
{
	return h->port;
}

MetricsHttp *metrics_http_free(MetricsHttp *h)
{
	if (!h)
		return NULL;
	if (h->daemon)
		MHD_stop_daemon(h->daemon);
	free(h->cert);
	if (h->key) {
		explicit_bzero(h->key, strlen(h->key));
		free(h->key);
	}
	free(h->ca);
	free(h);
	return NULL;
}

int metrics_http_serve(MetricsRegistry *registry, const char *address, bool tls,
                       const char *cert_file, const char *key_file, const char *ca_file,
                       const char *kind, const char *name, MetricsHttp **ret)
{
	MetricsHttpOptions o = { .address = address };
	ErrorDetail error = {};
	int r;

	if (tls) {
		o.cert_file = cert_file;
		o.key_file = key_file;
		o.ca_file = ca_file;
	}
	r = metrics_http_start(registry, &o, ret, &error);
	if (r < 0)
		return log_error_errno(r, "--metrics-address: %s", error_detail_or(&error, r));
	log_info("%s %s: serving metrics on %s://%s/metrics (port %d)", kind, name,
	         tls ? "https" : "http", address, metrics_http_get_port(*ret));
	return 0;
}
