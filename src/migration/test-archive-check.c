/* Unit tests for the checkpoint-archive check: a well-formed archive passes;
 * escaping paths (absolute, '..', through pax or GNU long names), links,
 * devices, bad checksums, sizes past the end and truncation are refused
 * with a reason. Archives are built here, header by header. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "archive-check.h"

typedef struct Tar {
	uint8_t data[64 * 1024];
	size_t len;
} Tar;

/* A header's fields beyond name, type and size. */
typedef struct Extra {
	const char *prefix;
	const char *link;
	unsigned mode; /* 0: 0644 */
	bool gnu_magic;
	bool bad_checksum;
} Extra;

static void header_x(Tar *t, const char *name, char type, size_t size, const Extra *x)
{
	uint8_t *h = t->data + t->len;
	memset(h, 0, 512);
	strncpy((char *)h, name, 100);
	snprintf((char *)h + 100, 8, "%07o", (x->mode ?: 0644) & 07777);
	snprintf((char *)h + 108, 8, "%07o", 0);
	snprintf((char *)h + 116, 8, "%07o", 0);
	snprintf((char *)h + 124, 12, "%011o", (unsigned)size);
	snprintf((char *)h + 136, 12, "%011o", 0);
	h[156] = (uint8_t)type;
	if (x->link)
		strncpy((char *)h + 157, x->link, 100);
	if (x->gnu_magic)
		memcpy(h + 257, "ustar  ", 8);
	else {
		memcpy(h + 257, "ustar", 6);
		memcpy(h + 263, "00", 2);
	}
	if (x->prefix)
		strncpy((char *)h + 345, x->prefix, 155);
	memset(h + 148, ' ', 8);
	unsigned sum = 0;
	for (int i = 0; i < 512; i++)
		sum += h[i];
	snprintf((char *)h + 148, 8, "%06o", x->bad_checksum ? sum + 1 : sum);
	t->len += 512;
}

static void header(Tar *t, const char *name, char type, size_t size, const char *prefix,
                   bool bad_checksum)
{
	header_x(t, name, type, size, &(Extra){ .prefix = prefix, .bad_checksum = bad_checksum });
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
	return archive_check_buffer(t->data, t->len, NULL, NULL, why);
}

/* pax records "LEN key=value\n" for each "key=value" (NULL-terminated). */
static const char *records(const char *kv, ...)
{
	static char buf[4096];
	size_t o = 0;
	va_list ap;
	va_start(ap, kv);
	for (; kv; kv = va_arg(ap, const char *)) {
		size_t n = strlen(kv) + 2; /* ' ' and '\n' */
		size_t digits = 1;
		while (snprintf(NULL, 0, "%zu", n + digits) > (int)digits)
			digits++;
		o += (size_t)snprintf(buf + o, sizeof buf - o, "%zu %s\n", n + digits, kv);
	}
	va_end(ap);
	return buf;
}

/* A pax extended header ('x' or 'g') holding `recs`. */
static void pax(Tar *t, char type, const char *recs)
{
	header(t, "PaxHeaders/x", type, strlen(recs), NULL, false);
	body(t, recs, strlen(recs));
}

/* Appends archive `inner` as a member named `name`. */
static void member(Tar *t, const char *name, const Tar *inner)
{
	header(t, name, '0', inner->len, NULL, false);
	body(t, (const char *)inner->data, inner->len);
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
	pax(&e, 'x', records("path=/root/.bashrc", NULL));
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
	header(&c, "checkpoint/dev", '3', 0, NULL, false);
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
	assert_int_equal(archive_check_buffer(c.data, 600, NULL, NULL, &why), -EBADMSG);
	assert_non_null(strstr(why.message, "truncated"));
	error_detail_clear(&why);
	assert_int_equal(archive_check_buffer(c.data, c.len, NULL, NULL, &why), -EBADMSG);
	assert_non_null(strstr(why.message, "end-of-archive"));
	error_detail_clear(&why);
	assert_int_equal(archive_check_buffer(c.data, 0, NULL, NULL, &why), -EBADMSG);

	/* compressed (what `podman container checkpoint --export` writes by default) */
	uint8_t zstd[1024] = { 0x28, 0xb5, 0x2f, 0xfd };
	error_detail_clear(&why);
	assert_int_equal(archive_check_buffer(zstd, sizeof zstd, NULL, NULL, &why), -EBADMSG);
	assert_non_null(strstr(why.message, "compressed"));

	/* garbage */
	uint8_t junk[2048];
	memset(junk, 'A', sizeof junk);
	error_detail_clear(&why);
	assert_int_equal(archive_check_buffer(junk, sizeof junk, NULL, NULL, &why), -EBADMSG);
}

/* A pax size override: Go's reader takes the data length from the pax
 * record, so the entry's 1024 header bytes hide the next header from a
 * checker that trusts the ustar size. */
static void test_pax_size_override(void **state)
{
	Tar t = {};
	pax(&t, 'x', records("size=0", NULL));
	header(&t, "config.dump", '0', 1024, NULL, false);
	header(&t, "../../etc/cron.d/evil", '0', 0, NULL, false); /* Go's next header */
	memset(t.data + t.len, 0, 512);
	t.len += 512;
	expect_refused(&t, "'..'");

	/* ...and the other way round: data Go reads past a short header size */
	Tar u = {};
	pax(&u, 'x', records("size=1024", NULL));
	header(&u, "config.dump", '0', 0, NULL, false);
	header(&u, "../escape", '0', 0, NULL, false); /* Go: data of config.dump */
	memset(u.data + u.len, 0, 512);
	u.len += 512;
	ErrorDetail why = {};
	end(&u);
	assert_int_equal(check(&u, &why), 0); /* Go skips it as data, so do we */
}

/* GNU.sparse.name renames the entry in Go's reader. */
static void test_pax_sparse_name(void **state)
{
	Tar t = {};
	pax(&t, 'x',
	    records("GNU.sparse.major=1", "GNU.sparse.minor=0", "GNU.sparse.name=../../etc/passwd",
	            NULL));
	file(&t, "config.dump", "x");
	expect_refused(&t, "sparse");
	Tar u = {};
	header(&u, "config.dump", 'S', 0, NULL, false);
	expect_refused(&u, "sparse");
}

/* Under the GNU magic there is no prefix field: Go, GNU tar and Python read
 * the name alone, which is absolute here. */
static void test_gnu_magic_prefix(void **state)
{
	Tar t = {};
	header_x(&t, "/etc/cron.d/evil", '0', 0,
	         &(Extra){ .prefix = "checkpoint", .gnu_magic = true });
	expect_refused(&t, "absolute");
	Tar u = {};
	header_x(&u, "../evil", '0', 0, &(Extra){ .prefix = "checkpoint/a", .gnu_magic = true });
	expect_refused(&u, "'..'");
	/* Go joins the prefix under the ustar magic: accepted when both are safe */
	Tar v = {};
	header_x(&v, "pages-1.img", '0', 0, &(Extra){ .prefix = "checkpoint" });
	ErrorDetail why = {};
	end(&v);
	assert_int_equal(check(&v, &why), 0);
}

/* A pax path followed by a GNU long name: Go takes the long name, GNU tar
 * and Python the pax path; both readings are checked. */
static void test_pax_path_then_long_name(void **state)
{
	const char *innocent = "config.dump";
	Tar t = {};
	pax(&t, 'x', records("path=../../root/.bashrc", NULL));
	header(&t, "././@LongLink", 'L', strlen(innocent) + 1, NULL, false);
	body(&t, innocent, strlen(innocent) + 1);
	file(&t, "config.dump", "{}");
	expect_refused(&t, "'..'");

	Tar u = {};
	pax(&u, 'x', records("path=/etc/x", NULL));
	header(&u, "././@LongLink", 'L', strlen(innocent) + 1, NULL, false);
	body(&u, innocent, strlen(innocent) + 1);
	file(&u, "config.dump", "{}");
	expect_refused(&u, "absolute");

	/* Two headers of one kind before one entry: readers disagree */
	Tar v = {};
	pax(&v, 'x', records("path=config.dump", NULL));
	pax(&v, 'x', records("path=spec.dump", NULL));
	file(&v, "x", "{}");
	expect_refused(&v, "two 'x'");

	/* A global header's path */
	Tar w = {};
	pax(&w, 'g', records("path=/etc/x", NULL));
	file(&w, "config.dump", "{}");
	expect_refused(&w, "absolute");
}

static void test_top_level_names(void **state)
{
	Tar t = {};
	file(&t, "evil.sh", "x");
	expect_refused(&t, "not part of a Podman checkpoint");
	Tar u = {};
	header(&u, "spec.dump", '0', 0, NULL, false);
	header(&u, "./spec.dump", '0', 0, NULL, false);
	expect_refused(&u, "twice");

	/* A directory with data: Go reads none, so its "data" is headers */
	Tar v = {};
	header(&v, "checkpoint/", '5', 512, NULL, false);
	header(&v, "../evil", '0', 0, NULL, false);
	expect_refused(&v, "claims 512 bytes");
	/* Go's old-style file with a trailing '/' is a directory */
	Tar w = {};
	header(&w, "checkpoint/", '\0', 512, NULL, false);
	header(&w, "../evil", '0', 0, NULL, false);
	expect_refused(&w, "claims 512 bytes");

	/* Podman's pre-copy link, and no other */
	Tar x = {};
	header_x(&x, "checkpoint/parent", '2', 0, &(Extra){ .link = "../pre-checkpoint" });
	ErrorDetail why = {};
	end(&x);
	assert_int_equal(check(&x, &why), 0);
	Tar y = {};
	header_x(&y, "checkpoint/parent", '2', 0, &(Extra){ .link = "/etc" });
	expect_refused(&y, "symbolic link");
}

static void expect_nested_refused(const Tar *inner, const char *reason)
{
	static Tar t;
	t = (Tar){};
	member(&t, "rootfs-diff.tar", inner);
	end(&t);
	ErrorDetail why = {};
	assert_int_equal(check(&t, &why), -EBADMSG);
	if (!strstr(why.message, reason) || !strstr(why.message, "rootfs-diff.tar"))
		fail_msg("reason '%s' does not mention '%s' in rootfs-diff.tar", why.message,
		         reason);
}

/* rootfs-diff.tar is extracted into the container's root: the same rules,
 * with links judged against that root. */
static void test_nested_rootfs_diff(void **state)
{
	static Tar a, b, c, d, e, f, g, ok;
	file(&a, "../../etc/cron.d/evil", "x");
	end(&a);
	expect_nested_refused(&a, "'..'");

	header_x(&b, "tmp/up", '2', 0, &(Extra){ .link = "../../../etc" });
	end(&b);
	expect_nested_refused(&b, "points outside the container's root");

	/* an absolute symlink names a container path, but nothing may be
	 * written through it */
	header_x(&c, "tmp/etc", '2', 0, &(Extra){ .link = "/etc" });
	file(&c, "tmp/etc/passwd", "root::0:0::/:/bin/sh\n");
	end(&c);
	expect_nested_refused(&c, "through the symbolic link 'tmp/etc'");

	header_x(&d, "tmp/shadow", '1', 0, &(Extra){ .link = "../etc/shadow" });
	end(&d);
	expect_nested_refused(&d, "hard link");

	header(&e, "dev/sda", '4', 0, NULL, false);
	end(&e);
	expect_nested_refused(&e, "device");

	header_x(&f, "usr/bin/su2", '0', 0, &(Extra){ .mode = 04755 });
	end(&f);
	expect_nested_refused(&f, "setuid");

	/* GNU magic inside the nested archive too */
	header_x(&g, "/etc/evil", '0', 0, &(Extra){ .prefix = "tmp", .gnu_magic = true });
	end(&g);
	expect_nested_refused(&g, "absolute");

	/* what a container's changes legitimately hold */
	header(&ok, "tmp/", '5', 0, NULL, false);
	file(&ok, "tmp/data", "x");
	header_x(&ok, "tmp/link", '2', 0, &(Extra){ .link = "data" });
	header_x(&ok, "tmp/abs", '2', 0, &(Extra){ .link = "/usr/bin/env" });
	header_x(&ok, "tmp/up", '2', 0, &(Extra){ .link = "../etc/hostname" });
	header_x(&ok, "tmp/hard", '1', 0, &(Extra){ .link = "tmp/data" });
	header(&ok, "tmp/fifo", '6', 0, NULL, false);
	end(&ok);
	static Tar outer;
	member(&outer, "rootfs-diff.tar", &ok);
	ErrorDetail why = {};
	end(&outer);
	int r = check(&outer, &why);
	if (r != 0)
		fail_msg("legitimate changes refused: %s", why.message);

	/* setuid bits pass where the policy allows them */
	static Tar su;
	member(&su, "rootfs-diff.tar", &f);
	end(&su);
	error_detail_clear(&why);
	assert_int_equal(archive_check_buffer(su.data, su.len,
	                                      &(ArchiveCheckOptions){ .allow_setuid = true }, NULL,
	                                      &why),
	                 0);
}

/* The image's own symbolic links: Podman extracts rootfs-diff.tar and
 * removes deleted.files in the container's root on the host, following the
 * links the image put there (var/run -> /run names the host's /run). */
static void test_image_links(void **state)
{
	char root[] = "/tmp/podmig-test-image-root-XXXXXX";
	assert_non_null(mkdtemp(root));
	char cmd[512];
	snprintf(cmd, sizeof cmd,
	         "cd %s && mkdir -p usr/lib var/log etc tmp && ln -s /run var/run && "
	         "ln -s usr/lib lib && echo x >etc/passwd && ln -s ../../../.. tmp/up",
	         root);
	assert_int_equal(system(cmd), 0);
	int fd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	assert_true(fd >= 0);
	const ArchiveCheckOptions o = { .base_link = archive_base_link_at, .base_userdata = &fd };

	static const struct {
		const char *entry, *link, *deleted, *reason;
		char type;
	} refused[] = {
		{ "var/run/evil", NULL, NULL, "'var/run/evil' lies under a symbolic link", '0' },
		{ "var/run/sub/", NULL, NULL, "lies under a symbolic link", '5' },
		{ "lib/libc.so.6", NULL, NULL, "lies under a symbolic link", '0' },
		{ "tmp/up/etc/shadow", NULL, NULL, "lies under a symbolic link", '0' },
		{ "tmp/h", "var/run/secret", NULL, "the target of hard link 'tmp/h'", '1' },
		{ NULL, NULL, "[\"/var/run/important\"]", "deleted.files: path", 0 },
		{ NULL, NULL, "[\"tmp/up/etc/passwd\"]", "deleted.files: path", 0 },
	};
	for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
		static Tar inner, t;
		inner = (Tar){};
		t = (Tar){};
		if (refused[i].entry)
			header_x(&inner, refused[i].entry, refused[i].type, 0,
			         &(Extra){ .link = refused[i].link });
		end(&inner);
		member(&t, "rootfs-diff.tar", &inner);
		if (refused[i].deleted)
			file(&t, "deleted.files", refused[i].deleted);
		end(&t);
		ErrorDetail why = {};
		assert_int_equal(archive_check_buffer(t.data, t.len, &o, NULL, &why), -EBADMSG);
		if (!strstr(why.message, refused[i].reason))
			fail_msg("case %zu: reason '%s' does not mention '%s'", i, why.message,
			         refused[i].reason);
		/* without the image's links known, only the archive's are checked */
		if (refused[i].entry)
			assert_int_equal(archive_check_buffer(t.data, t.len, NULL, NULL, &why), 0);
	}

	/* deleted.files under a link rootfs-diff.tar itself made */
	static Tar inner, t;
	inner = (Tar){};
	t = (Tar){};
	header_x(&inner, "tmp/etc", '2', 0, &(Extra){ .link = "/etc" });
	end(&inner);
	member(&t, "rootfs-diff.tar", &inner);
	file(&t, "deleted.files", "[\"/tmp/etc/passwd\"]");
	end(&t);
	ErrorDetail why = {};
	assert_int_equal(archive_check_buffer(t.data, t.len, &o, NULL, &why), -EBADMSG);
	assert_non_null(strstr(why.message, "the symbolic link 'tmp/etc' of rootfs-diff.tar"));

	/* what a container's changes hold: files beside and in real
	 * directories, a new directory, the link itself replaced or removed */
	inner = (Tar){};
	t = (Tar){};
	file(&inner, "var/log/app.log", "x");
	file(&inner, "etc/passwd", "y");
	header(&inner, "srv/", '5', 0, NULL, false);
	file(&inner, "srv/data/new", "z");
	file(&inner, "var/run", "now a file");
	header_x(&inner, "tmp/h", '1', 0, &(Extra){ .link = "etc/passwd" });
	end(&inner);
	member(&t, "rootfs-diff.tar", &inner);
	file(&t, "deleted.files", "[\"/var/run\",\"/lib\",\"/etc/passwd\"]");
	end(&t);
	error_detail_clear(&why);
	int r = archive_check_buffer(t.data, t.len, &o, NULL, &why);
	if (r != 0)
		fail_msg("legitimate changes refused: %s", why.message);

	close(fd);
	snprintf(cmd, sizeof cmd, "rm -rf %s", root);
	assert_int_equal(system(cmd), 0);
}

static void test_deleted_files(void **state)
{
	Tar t = {};
	file(&t, "deleted.files", "[\"/tmp/x\",\"../../../etc/passwd\"]");
	expect_refused(&t, "deleted.files");
	Tar u = {};
	file(&u, "deleted.files", "[\"/tmp/x\",\"/root\"]");
	ErrorDetail why = {};
	end(&u);
	assert_int_equal(check(&u, &why), 0);
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
	ArchiveIndex index = {};
	int r = archive_check_buffer(buf, n, NULL, &index, &why);
	if (r != 0)
		fail_msg("a real checkpoint archive was refused: %s", why.message);
	assert_true(index.spec_dump.present);
	assert_true(index.config_dump.present);
	assert_int_equal(index.spec_dump.size, 21014);
	assert_int_equal(buf[index.config_dump.offset], '{');
}

/* ---- image archives (docker-archive, before Podman loads one) ---- */

#define TINY_ID "e4e49fe19e29d69a4746f9eba04be6d6d0b4638031006977f31e212ee26932af"

static int image_check(const Tar *t, const char *name, ArchiveMember *config, ErrorDetail *why)
{
	return image_archive_check_buffer(t->data, t->len, name, config, why);
}

/* An archive as `podman save` writes it, with the given manifest.json. */
static void image_tar(Tar *t, const char *manifest)
{
	*t = (Tar){};
	file(t, "layer0.tar", "");
	file(t, TINY_ID ".json", "{\"architecture\":\"amd64\"}");
	header(t, "abc/", '5', 0, NULL, false);
	header_x(t, "abc/layer.tar", '2', 0, &(Extra){ .link = "../layer0.tar" });
	file(t, "manifest.json", manifest);
}

static void expect_image_refused(Tar *t, const char *name, const char *reason)
{
	ErrorDetail why = {};
	ArchiveMember config = {};
	end(t);
	assert_int_equal(image_check(t, name, &config, &why), -EBADMSG);
	assert_false(config.present);
	if (!strstr(why.message, reason))
		fail_msg("reason '%s' does not mention '%s'", why.message, reason);
}

static void test_image_archive_real(void **state)
{
	/* `podman save` of an imported image (Podman 5.4): the legacy layout's
	 * symlink, repositories, the configuration named by its ID. */
	FILE *f = fopen(PODMIG_SOURCE_ROOT "/tests/data/image/tiny.tar", "re");
	assert_non_null(f);
	static uint8_t buf[64 * 1024];
	size_t n = fread(buf, 1, sizeof buf, f);
	fclose(f);
	ErrorDetail why = {};
	ArchiveMember config = {};
	int r = image_archive_check_buffer(buf, n, "localhost/podmig/tiny:latest", &config, &why);
	if (r != 0)
		fail_msg("a real image archive was refused: %s", why.message);
	assert_true(config.present);
	assert_int_equal(config.size, 407);
	assert_int_equal(buf[config.offset], '{');
	/* untagged: ":latest" */
	assert_int_equal(image_archive_check_buffer(buf, n, "localhost/podmig/tiny", &config, &why),
	                 0);

	/* the same archive is no other image */
	error_detail_clear(&why);
	assert_int_equal(image_archive_check_buffer(buf, n, "localhost/podmig/counter:latest",
	                                            &config, &why),
	                 -EBADMSG);
	assert_non_null(strstr(why.message, "not exactly localhost/podmig/counter:latest"));
}

/* A source that serves an image may not tag anything else on the target:
 * Podman applies every tag of every image in the archive while loading. */
static void test_image_archive_foreign_tags(void **state)
{
	static Tar t;
	const char *name = "localhost/podmig/app:latest";
	image_tar(&t, "[{\"Config\":\"" TINY_ID ".json\",\"RepoTags\":[\"localhost/podmig/"
	              "app:latest\"],\"Layers\":[\"layer0.tar\"]}]");
	end(&t);
	ErrorDetail why = {};
	ArchiveMember config = {};
	assert_int_equal(image_check(&t, name, &config, &why), 0);
	assert_true(config.present);
	assert_int_equal(t.data[config.offset], '{');

	/* a second tag on the one image */
	image_tar(&t, "[{\"Config\":\"" TINY_ID ".json\",\"RepoTags\":[\"localhost/podmig/"
	              "app:latest\",\"localhost/podmig/busybox:latest\"],\"Layers\":[]}]");
	expect_image_refused(&t, name, "and more");
	/* a second image */
	image_tar(&t, "[{\"Config\":\"" TINY_ID ".json\",\"RepoTags\":[\"localhost/podmig/"
	              "app:latest\"],\"Layers\":[]},{\"Config\":\"" TINY_ID ".json\","
	              "\"RepoTags\":[\"localhost/podmig/busybox:latest\"],\"Layers\":[]}]");
	expect_image_refused(&t, name, "exactly one image");
	/* another tag only */
	image_tar(&t, "[{\"Config\":\"" TINY_ID ".json\",\"RepoTags\":[\"localhost/podmig/"
	              "busybox:latest\"],\"Layers\":[]}]");
	expect_image_refused(&t, name, "names localhost/podmig/busybox:latest");
	/* the same name under another tag */
	image_tar(&t, "[{\"Config\":\"" TINY_ID ".json\",\"RepoTags\":[\"localhost/podmig/"
	              "app:v2\"],\"Layers\":[]}]");
	expect_image_refused(&t, name, "not exactly");
	/* no tag: Podman would name it by ID, which is no better */
	image_tar(&t, "[{\"Config\":\"" TINY_ID ".json\",\"RepoTags\":[],\"Layers\":[]}]");
	expect_image_refused(&t, name, "no image");
	/* not JSON; two manifests; none */
	image_tar(&t, "[{");
	expect_image_refused(&t, name, "exactly one image");
	image_tar(&t, "[]");
	file(&t, "./manifest.json", "[]");
	expect_image_refused(&t, name, "appears twice");
	t = (Tar){};
	file(&t, TINY_ID ".json", "{}");
	expect_image_refused(&t, name, "no manifest.json");

	const char *good = "[{\"Config\":\"" TINY_ID ".json\",\"RepoTags\":[\"localhost/"
	                   "podmig/app:latest\"],\"Layers\":[]}]";
	/* the legacy repositories names another image */
	image_tar(&t, good);
	file(&t, "repositories",
	     "{\"localhost/podmig/app\":{\"latest\":\"x\"},"
	     "\"localhost/podmig/busybox\":{\"latest\":\"x\"}}");
	expect_image_refused(&t, name, "also names localhost/podmig/busybox:latest");
	image_tar(&t, good);
	file(&t, "repositories", "{\"localhost/podmig/app\":{\"latest\":\"x\"}}");
	end(&t);
	assert_int_equal(image_check(&t, name, &config, &why), 0);

	/* an OCI layout beside it, which Podman would load first */
	image_tar(&t, good);
	file(&t, "index.json", "{}");
	expect_image_refused(&t, name, "OCI layout");
	/* the configuration missing, a link, or outside */
	image_tar(&t, "[{\"Config\":\"other.json\",\"RepoTags\":[\"localhost/podmig/app:"
	              "latest\"],\"Layers\":[]}]");
	expect_image_refused(&t, name, "lacks its configuration other.json");
	image_tar(&t, "[{\"Config\":\"abc/layer.tar\",\"RepoTags\":[\"localhost/podmig/app:"
	              "latest\"],\"Layers\":[]}]");
	expect_image_refused(&t, name, "not a file");
	image_tar(&t, "[{\"Config\":\"../x.json\",\"RepoTags\":[\"localhost/podmig/app:"
	              "latest\"],\"Layers\":[]}]");
	expect_image_refused(&t, name, "'..'");
	/* links that leave the archive, devices */
	image_tar(&t, good);
	header_x(&t, "evil", '2', 0, &(Extra){ .link = "/etc/passwd" });
	expect_image_refused(&t, name, "evil");
	image_tar(&t, good);
	header(&t, "sda", '4', 0, NULL, false);
	expect_image_refused(&t, name, "device");
	/* the header rules: an escaping path */
	image_tar(&t, good);
	file(&t, "../up", "x");
	expect_image_refused(&t, name, "'..'");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good_archive),
		cmocka_unit_test(test_escaping_paths),
		cmocka_unit_test(test_links_and_devices),
		cmocka_unit_test(test_broken_archives),
		cmocka_unit_test(test_pax_size_override),
		cmocka_unit_test(test_pax_sparse_name),
		cmocka_unit_test(test_gnu_magic_prefix),
		cmocka_unit_test(test_pax_path_then_long_name),
		cmocka_unit_test(test_top_level_names),
		cmocka_unit_test(test_nested_rootfs_diff),
		cmocka_unit_test(test_image_links),
		cmocka_unit_test(test_deleted_files),
		cmocka_unit_test(test_real_checkpoint_archive),
		cmocka_unit_test(test_image_archive_real),
		cmocka_unit_test(test_image_archive_foreign_tags),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
