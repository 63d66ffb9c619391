/* strutil.h — string helpers: comparisons, prefixes, strict number parsing. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "macro.h"

static inline bool streq(const char *a, const char *b)
{
	return strcmp(a, b) == 0;
}

static inline bool streq_ptr(const char *a, const char *b)
{
	if (!a || !b)
		return a == b;
	return streq(a, b);
}

static inline bool strcaseeq(const char *a, const char *b)
{
	return strcasecmp(a, b) == 0;
}

/* If `s` starts with `prefix`, return the rest of `s`, else NULL. */
const char *startswith(const char *s, const char *prefix);

/* An etcd key prefix podmig accepts (--prefix): starts and ends with '/',
 * at most KEY_PREFIX_MAX bytes of printable ASCII without spaces, no empty,
 * "." or ".." component. NULL if `p` is one, else what is wrong with it. */
#define KEY_PREFIX_MAX 128
const char *key_prefix_problem(const char *p);

/* Strict parsers: the whole string must be a number in range; no sign for
 * unsigned, no leading/trailing space. Return 0 or -EINVAL/-ERANGE;
 * *ret is untouched on failure. */
int safe_atou(const char *s, unsigned *ret);
int safe_atou64(const char *s, uint64_t *ret);
int safe_atoi(const char *s, int *ret);
int safe_atod(const char *s, double *ret);

/* Parse a size with an optional binary suffix: 512, 64K, 2M, 2G, 1Gi, 3MiB.
 * Returns bytes in *ret. */
int parse_size(const char *s, uint64_t *ret);

/* The first line of the file at `path`, without its newline (a secret's
 * file: a password); -ENODATA if it is empty. */
int read_first_line(const char *path, char **ret);

/* Writes all `len` bytes of `buf` to the blocking descriptor `fd`, through
 * short writes and EINTR; 0 or -errno. */
int loop_write(int fd, const void *buf, size_t len);

/* String lists: NULL-terminated arrays of malloc'd strings. */
size_t strv_length(char *const *l);
void strv_free(char **l);
/* Appends a copy of s to *l (NULL: an empty list); 0 or -ENOMEM. */
int strv_push(char ***l, const char *s);
bool strv_contains(char *const *l, const char *s);
static inline void strv_freep(char ***l)
{
	strv_free(*l);
}
#define _cleanup_strv_free_ _cleanup_(strv_freep)
