/* metrics-scrape.h — what the metrics tests share: reading an endpoint as
 * a scraper does and looking for exact sample lines (cmocka assertions; for
 * tests only). */
#pragma once

/* GET `url` within 10 s: HTTPS verified against `ca` when given, with the
 * client certificate `cert`/`key` when given. The status (0: no answer) and
 * the body in *ret_body (to free; "" if none came). */
long metrics_http_get(const char *url, const char *ca, const char *cert, const char *key,
                      char **ret_body);

/* GET http://127.0.0.1:PORT/metrics; fails the test unless it answers 200.
 * The body, to free. */
char *metrics_scrape(int port);

/* Fails the test unless `body` has `line` as a whole line. */
void metrics_assert_line(const char *body, const char *line);
