/* archive-check.c — tar header checks for checkpoint archives (see
 * archive-check.h). Understands ustar (with prefix), GNU long names ('L')
 * and pax extended headers ('x' path/linkpath, 'g' ignored). */
#include "archive-check.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "macro.h"

#define BLOCK       512u
#define MAX_ENTRIES 100000u
#define MAX_PATH    4096u
#define MAX_META    (64u * 1024) /* a long name or pax header's data */

/* An archive is refused with -EBADMSG and its reason. */
#define refuse(why, ...) error_detail_set_errno(why, -EBADMSG, __VA_ARGS__)

/* An octal field (NUL/space padded) or GNU base-256; -1 if malformed. */
static int64_t parse_number(const uint8_t *f, size_t n)
{
	uint64_t v = 0;
	if (f[0] & 0x80) {
		if (f[0] != 0x80)
			return -1; /* negative or too large */
		for (size_t i = 1; i < n; i++) {
			if (v >> 55)
				return -1;
			v = v << 8 | f[i];
		}
		return (int64_t)v;
	}
	size_t i = 0;
	while (i < n && f[i] == ' ')
		i++;
	bool digits = false;
	for (; i < n && f[i] >= '0' && f[i] <= '7'; i++) {
		if (v >> 60)
			return -1;
		v = v * 8 + (uint64_t)(f[i] - '0');
		digits = true;
	}
	for (; i < n; i++)
		if (f[i] != ' ' && f[i] != 0)
			return -1;
	return digits ? (int64_t)v : 0;
}

static bool checksum_ok(const uint8_t *h)
{
	int64_t want = parse_number(h + 148, 8);
	uint64_t u = 0;
	int64_t s = 0;
	for (size_t i = 0; i < BLOCK; i++) {
		uint8_t c = i >= 148 && i < 156 ? ' ' : h[i];
		u += c;
		s += (int8_t)c;
	}
	return want >= 0 && ((uint64_t)want == u || want == s);
}

static bool all_zero(const uint8_t *b)
{
	for (size_t i = 0; i < BLOCK; i++)
		if (b[i])
			return false;
	return true;
}

/* A path that stays inside the directory it is extracted to. */
static const char *path_problem(const char *p)
{
	if (!*p)
		return "an empty path";
	if (*p == '/')
		return "an absolute path";
	for (const char *c = p; *c;) {
		size_t n = strcspn(c, "/");
		if (n == 2 && c[0] == '.' && c[1] == '.')
			return "a '..' component";
		c += n;
		while (*c == '/')
			c++;
	}
	return NULL;
}

/* pax records "LEN key=value\n": picks out path. */
static int pax_path(const char *d, size_t n, char *path, size_t path_size)
{
	size_t i = 0;
	while (i < n) {
		size_t len = 0, j = i;
		while (j < n && d[j] >= '0' && d[j] <= '9' && len < MAX_META)
			len = len * 10 + (size_t)(d[j++] - '0');
		if (j >= n || d[j] != ' ' || len <= j - i + 1 || len > n - i ||
		    d[i + len - 1] != '\n')
			return -EBADMSG;
		const char *kv = d + j + 1, *end = d + i + len - 1;
		const char *eq = memchr(kv, '=', (size_t)(end - kv));
		if (!eq)
			return -EBADMSG;
		size_t klen = (size_t)(eq - kv), vlen = (size_t)(end - eq - 1);
		if ((klen == 4 && !memcmp(kv, "path", 4)) ||
		    (klen == 8 && !memcmp(kv, "linkpath", 8))) {
			if (vlen >= path_size || memchr(eq + 1, 0, vlen))
				return -EBADMSG;
			if (klen == 8)
				return -EPERM; /* a link: refused by type anyway */
			memcpy(path, eq + 1, vlen);
			path[vlen] = 0;
		}
		i += len;
	}
	return 0;
}

int archive_check(ArchivePreadFn pread_fn, void *userdata, uint64_t size, ErrorDetail *why)
{
	uint8_t h[BLOCK];
	char next_path[MAX_PATH + 1] = ""; /* from a pax or GNU long-name header */
	_cleanup_free_ char *meta = NULL;
	uint64_t off = 0;
	unsigned entries = 0;

	for (;;) {
		if (off + BLOCK > size)
			return refuse(why,
			              "archive truncated: it ends at byte %llu without the "
			              "end-of-archive marker",
			              (unsigned long long)size);
		ssize_t n = pread_fn(h, BLOCK, off, userdata);
		if (n < 0)
			return (int)n;
		if ((size_t)n != BLOCK)
			return refuse(why, "archive truncated at byte %llu",
			              (unsigned long long)off);
		if (all_zero(h))
			return 0;
		if (++entries > MAX_ENTRIES)
			return refuse(why, "more than %u entries", MAX_ENTRIES);
		if (!checksum_ok(h)) {
			if (off == 0 &&
			    (!memcmp(h, "\x28\xb5\x2f\xfd", 4) || !memcmp(h, "\x1f\x8b", 2)))
				return refuse(
				        why,
				        "a compressed archive; podmig moves plain tar archives");
			return refuse(why, "bad tar header checksum at byte %llu",
			              (unsigned long long)off);
		}
		int64_t len = parse_number(h + 124, 12);
		uint64_t data = off + BLOCK;
		uint64_t padded = len < 0 ? 0 : ((uint64_t)len + BLOCK - 1) / BLOCK * BLOCK;
		if (len < 0 || padded > size - data)
			return refuse(why,
			              "archive truncated: the entry at byte %llu claims %lld bytes "
			              "past the end",
			              (unsigned long long)off, (long long)len);
		char type = (char)h[156];

		if (type == 'x' || type == 'g' || type == 'L') {
			if ((uint64_t)len > MAX_META)
				return refuse(why, "oversized tar metadata at byte %llu",
				              (unsigned long long)off);
			char *m = realloc(meta, (size_t)len + 1);
			if (!m)
				return -ENOMEM;
			meta = m;
			n = pread_fn(meta, (size_t)len, data, userdata);
			if (n < 0)
				return (int)n;
			if (n != len)
				return refuse(why, "archive truncated at byte %llu",
				              (unsigned long long)data);
			meta[len] = 0;
			if (type == 'L') {
				size_t l = strnlen(meta, (size_t)len);
				if (l > MAX_PATH)
					return refuse(why, "a path longer than %u bytes", MAX_PATH);
				memcpy(next_path, meta, l);
				next_path[l] = 0;
			} else if (type == 'x') {
				int r = pax_path(meta, (size_t)len, next_path, sizeof next_path);
				if (r == -EPERM)
					return refuse(why, "a link in a checkpoint archive");
				if (r < 0)
					return refuse(why, "malformed pax header at byte %llu",
					              (unsigned long long)off);
			}
			off = data + padded;
			continue;
		}

		char path[MAX_PATH + 1];
		if (next_path[0]) {
			snprintf(path, sizeof path, "%s", next_path);
			next_path[0] = 0;
		} else {
			char name[101], prefix[156];
			memcpy(name, h, 100);
			name[100] = 0;
			memcpy(prefix, h + 345, 155);
			prefix[155] = 0;
			bool ustar = !memcmp(h + 257, "ustar", 5);
			if (ustar && prefix[0])
				snprintf(path, sizeof path, "%s/%s", prefix, name);
			else
				snprintf(path, sizeof path, "%s", name);
		}
		const char *problem = path_problem(path);
		if (problem)
			return refuse(why, "entry '%.200s' has %s", path, problem);
		if (type != '0' && type != '\0' && type != '7' && type != '5')
			return refuse(why,
			              "entry '%.200s' is a %s; a checkpoint archive holds only "
			              "files and directories",
			              path,
			              type == '1'                  ? "hard link"
			              : type == '2'                ? "symbolic link"
			              : type == '3' || type == '4' ? "device"
			              : type == '6'                ? "fifo"
			                                           : "entry of an unknown type");
		off = data + padded;
	}
}

static ssize_t fd_pread(void *buf, size_t n, uint64_t off, void *userdata)
{
	int fd = *(int *)userdata;
	size_t done = 0;
	while (done < n) {
		ssize_t r = pread(fd, (uint8_t *)buf + done, n - done, (off_t)(off + done));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			break;
		done += (size_t)r;
	}
	return (ssize_t)done;
}

int archive_check_fd(int fd, uint64_t size, ErrorDetail *why)
{
	return archive_check(fd_pread, &fd, size, why);
}

typedef struct Buffer {
	const uint8_t *data;
	size_t size;
} Buffer;

static ssize_t buffer_pread(void *buf, size_t n, uint64_t off, void *userdata)
{
	const Buffer *b = userdata;
	if (off >= b->size)
		return 0;
	size_t k = MIN(n, b->size - (size_t)off);
	memcpy(buf, b->data + off, k);
	return (ssize_t)k;
}

int archive_check_buffer(const uint8_t *data, size_t size, ErrorDetail *why)
{
	Buffer b = { data, size };
	return archive_check(buffer_pread, &b, size, why);
}
