/* metrics-scrape.h — what the daemons' metrics tests share: reading a
 * plain-HTTP /metrics endpoint as a scraper does and looking for exact
 * sample lines (cmocka assertions; for tests only). */
#pragma once

/* GET http://127.0.0.1:PORT/metrics; fails the test unless it answers 200.
 * The body, to free. */
char *metrics_scrape(int port);

/* Fails the test unless `body` has `line` as a whole line. */
void metrics_assert_line(const char *body, const char *line);
