/* Unit tests for the checkpoint-archive check: a well-formed archive passes;
 * escaping paths (absolute, '..', through pax or GNU long names), links,
 * devices, bad checksums, sizes past the end and truncation are refused
 * with a reason. Archives are built here, header by header. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "archive-check.h"

typedef struct Tar {
	uint8_t data[64 * 1024];
	size_t len;
} Tar;

static void header(Tar *t, const char *name, char type, size_t size, const char *prefix,
                   bool bad_checksum)
{
	uint8_t *h = t->data + t->len;
	memset(h, 0, 512);
	strncpy((char *)h, name, 100);
	snprintf((char *)h + 100, 8, "%07o", 0644);
	snprintf((char *)h + 108, 8, "%07o", 0);
	snprintf((char *)h + 116, 8, "%07o", 0);
	snprintf((char *)h + 124, 12, "%011o", (unsigned)size);
	snprintf((char *)h + 136, 12, "%011o", 0);
	h[156] = (uint8_t)type;
	memcpy(h + 257, "ustar", 6);
	memcpy(h + 263, "00", 2);
	if (prefix)
		strncpy((char *)h + 345, prefix, 155);
	memset(h + 148, ' ', 8);
	unsigned sum = 0;
	for (int i = 0; i < 512; i++)
		sum += h[i];
	snprintf((char *)h + 148, 8, "%06o", bad_checksum ? sum + 1 : sum);
	t->len += 512;
}

static void body(Tar *t, const char *content, size_t size)
{
	memcpy(t->data + t->len, content, size);
	t->len += (size + 511) / 512 * 512;
}

static void file(Tar *t, const char *name, const char *content)
{
	header(t, name, '0', strlen(content), NULL, false);
	body(t, content, strlen(content));
}

static void end(Tar *t)
{
	memset(t->data + t->len, 0, 1024);
	t->len += 1024;
}

static int check(const Tar *t, ErrorDetail *why)
{
	return archive_check_buffer(t->data, t->len, why);
}

static void test_good_archive(void **state)
{
	Tar t = {};
	ErrorDetail why = {};
	header(&t, "checkpoint/", '5', 0, NULL, false);
	file(&t, "config.dump", "{}");
	file(&t, "checkpoint/pages-1.img", "pages");
	header(&t, "pages-2.img", '0', 3, "checkpoint", false); /* ustar prefix */
	body(&t, "abc", 3);
	end(&t);
	assert_int_equal(check(&t, &why), 0);
}

static void expect_refused(Tar *t, const char *reason)
{
	ErrorDetail why = {};
	end(t);
	assert_int_equal(check(t, &why), -EBADMSG);
	if (!strstr(why.message, reason))
		fail_msg("reason '%s' does not mention '%s'", why.message, reason);
}

static void test_escaping_paths(void **state)
{
	Tar a = {}, b = {}, c = {}, d = {}, e = {};
	file(&a, "/etc/cron.d/evil", "x");
	expect_refused(&a, "absolute");
	file(&b, "checkpoint/../../etc/passwd", "x");
	expect_refused(&b, "'..'");
	header(&c, "x", '0', 0, "..", false); /* escape through the prefix field */
	expect_refused(&c, "'..'");

	/* GNU long name */
	const char *longname = "../../outside";
	header(&d, "././@LongLink", 'L', strlen(longname) + 1, NULL, false);
	body(&d, longname, strlen(longname) + 1);
	file(&d, "innocent", "x");
	expect_refused(&d, "'..'");

	/* pax path */
	const char *pax = "22 path=/root/.bashrc\n";
	header(&e, "PaxHeader/x", 'x', strlen(pax), NULL, false);
	body(&e, pax, strlen(pax));
	file(&e, "innocent", "x");
	expect_refused(&e, "absolute");
}

static void test_links_and_devices(void **state)
{
	Tar a = {}, b = {}, c = {};
	header(&a, "config.dump", '2', 0, NULL, false);
	expect_refused(&a, "symbolic link");
	header(&b, "config.dump", '1', 0, NULL, false);
	expect_refused(&b, "hard link");
	header(&c, "dev", '3', 0, NULL, false);
	expect_refused(&c, "device");
}

static void test_broken_archives(void **state)
{
	Tar a = {}, b = {}, c = {};
	ErrorDetail why = {};

	header(&a, "config.dump", '0', 2, NULL, true);
	body(&a, "{}", 2);
	expect_refused(&a, "checksum");

	/* size past the end */
	header(&b, "pages-1.img", '0', 1 << 20, NULL, false);
	expect_refused(&b, "past the end");

	/* truncated: cut inside the data, and cut before the end marker */
	file(&c, "config.dump", "{}");
	error_detail_clear(&why);
	assert_int_equal(archive_check_buffer(c.data, 600, &why), -EBADMSG);
	assert_non_null(strstr(why.message, "truncated"));
	error_detail_clear(&why);
	assert_int_equal(archive_check_buffer(c.data, c.len, &why), -EBADMSG);
	assert_non_null(strstr(why.message, "end-of-archive"));
	error_detail_clear(&why);
	assert_int_equal(archive_check_buffer(c.data, 0, &why), -EBADMSG);

	/* compressed (what `podman container checkpoint --export` writes by default) */
	uint8_t zstd[1024] = { 0x28, 0xb5, 0x2f, 0xfd };
	error_detail_clear(&why);
	assert_int_equal(archive_check_buffer(zstd, sizeof zstd, &why), -EBADMSG);
	assert_non_null(strstr(why.message, "compressed"));

	/* garbage */
	uint8_t junk[2048];
	memset(junk, 'A', sizeof junk);
	error_detail_clear(&why);
	assert_int_equal(archive_check_buffer(junk, sizeof junk, &why), -EBADMSG);
}

static void test_real_checkpoint_archive(void **state)
{
	/* A checkpoint archive exported through Podman 5.4's REST API (as the
	 * source agent gets it) of a counter container. */
	FILE *f = fopen(PODMIG_SOURCE_ROOT "/tests/data/checkpoint/counter.tar", "re");
	assert_non_null(f);
	static uint8_t buf[1 << 20];
	size_t n = fread(buf, 1, sizeof buf, f);
	fclose(f);
	ErrorDetail why = {};
	int r = archive_check_buffer(buf, n, &why);
	if (r != 0)
		fail_msg("a real checkpoint archive was refused: %s", why.message);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good_archive),
		cmocka_unit_test(test_escaping_paths),
		cmocka_unit_test(test_links_and_devices),
		cmocka_unit_test(test_broken_archives),
		cmocka_unit_test(test_real_checkpoint_archive),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
