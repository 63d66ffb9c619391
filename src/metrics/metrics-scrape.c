/* metrics-scrape.c — see metrics-scrape.h. */
#include "metrics-scrape.h"

#include <curl/curl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static size_t on_data(char *p, size_t size, size_t n, void *userdata)
{
	char **body = userdata;
	size_t old = *body ? strlen(*body) : 0, len = size * n;
	char *b = realloc(*body, old + len + 1);
	if (!b)
		return 0;
	memcpy(b + old, p, len);
	b[old + len] = 0;
	*body = b;
	return len;
}

long metrics_http_get(const char *url, const char *ca, const char *cert, const char *key,
                      char **ret_body)
{
	char *body = NULL;
	long code = 0;
	CURL *h = curl_easy_init();
	assert_non_null(h);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &body);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, 10L);
	if (ca)
		curl_easy_setopt(h, CURLOPT_CAINFO, ca);
	if (cert) {
		curl_easy_setopt(h, CURLOPT_SSLCERT, cert);
		curl_easy_setopt(h, CURLOPT_SSLKEY, key);
	}
	if (curl_easy_perform(h) == CURLE_OK)
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
	curl_easy_cleanup(h);
	if (ret_body)
		*ret_body = body ?: strdup("");
	else
		free(body);
	return code;
}

char *metrics_scrape(int port)
{
	char url[64], *body = NULL;
	snprintf(url, sizeof url, "http://127.0.0.1:%d/metrics", port);
	assert_int_equal(metrics_http_get(url, NULL, NULL, NULL, &body), 200);
	assert_non_null(body);
	return body;
}

void metrics_assert_line(const char *body, const char *line)
{
	char want[512];
	snprintf(want, sizeof want, "\n%s\n", line);
	if (!strstr(body, want))
		fail_msg("no line '%s' in:\n%s", line, body);
}
