/* strutil.c — strict parsing of numbers and sizes from user input, and the
 * small file helpers the rooms share. */
#include "strutil.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "macro.h"

const char *startswith(const char *s, const char *prefix)
{
	size_t n = strlen(prefix);
	return strncmp(s, prefix, n) == 0 ? s + n : NULL;
}

int safe_atou64(const char *s, uint64_t *ret)
{
	char *end;

	if (!s || !isdigit((unsigned char)s[0]))
		return -EINVAL;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno == ERANGE)
		return -ERANGE;
	if (*end != '\0')
		return -EINVAL;
	*ret = v;
	return 0;
}

int safe_atou(const char *s, unsigned *ret)
{
	uint64_t v;
	int r = safe_atou64(s, &v);
	if (r < 0)
		return r;
	if (v > UINT_MAX)
		return -ERANGE;
	*ret = (unsigned)v;
	return 0;
}

int safe_atoi(const char *s, int *ret)
{
	char *end;

	if (!s || !(isdigit((unsigned char)s[0]) || (s[0] == '-' && isdigit((unsigned char)s[1]))))
		return -EINVAL;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno == ERANGE || v < INT_MIN || v > INT_MAX)
		return -ERANGE;
	if (*end != '\0')
		return -EINVAL;
	*ret = (int)v;
	return 0;
}

int safe_atod(const char *s, double *ret)
{
	char *end;

	if (!s || !*s || isspace((unsigned char)s[0]))
		return -EINVAL;
	errno = 0;
	double v = strtod(s, &end);
	if (errno == ERANGE)
		return -ERANGE;
	if (*end != '\0' || !isfinite(v))
		return -EINVAL;
	*ret = v;
	return 0;
}

int parse_size(const char *s, uint64_t *ret)
{
	static const struct {
		const char *suffix;
		uint64_t factor;
	} table[] = {
		{ "", 1 },
		{ "B", 1 },
		{ "K", 1ULL << 10 },
		{ "KiB", 1ULL << 10 },
		{ "Ki", 1ULL << 10 },
		{ "M", 1ULL << 20 },
		{ "MiB", 1ULL << 20 },
		{ "Mi", 1ULL << 20 },
		{ "G", 1ULL << 30 },
		{ "GiB", 1ULL << 30 },
		{ "Gi", 1ULL << 30 },
		{ "T", 1ULL << 40 },
		{ "TiB", 1ULL << 40 },
		{ "Ti", 1ULL << 40 },
	};
	char *end;

	if (!s || !isdigit((unsigned char)s[0]))
		return -EINVAL;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno == ERANGE)
		return -ERANGE;
	for (size_t i = 0; i < ELEMENTSOF(table); i++) {
		if (!streq(end, table[i].suffix))
			continue;
		if (v > UINT64_MAX / table[i].factor)
			return -ERANGE;
		*ret = v * table[i].factor;
		return 0;
	}
	return -EINVAL;
}

size_t strv_length(char *const *l)
{
	size_t n = 0;
	if (l)
		while (l[n])
			n++;
	return n;
}

void strv_free(char **l)
{
	if (!l)
		return;
	for (char **i = l; *i; i++)
		free(*i);
	free(l);
}

int strv_push(char ***l, const char *s)
{
	size_t n = strv_length(*l);
	char **m = realloc(*l, (n + 2) * sizeof(char *));
	if (!m)
		return -ENOMEM;
	*l = m;
	m[n + 1] = NULL;
	if (!(m[n] = strdup(s)))
		return -ENOMEM;
	return 0;
}

bool strv_contains(char *const *l, const char *s)
{
	for (size_t i = 0; l && l[i]; i++)
		if (streq(l[i], s))
			return true;
	return false;
}

const char *key_prefix_problem(const char *p)
{
	size_t n = strlen(p);
	if (n == 0 || p[0] != '/' || p[n - 1] != '/')
		return "it must start and end with '/'";
	if (n > KEY_PREFIX_MAX)
		return "it is longer than 128 bytes";
	for (const char *c = p; *c; c++)
		if (*c <= ' ' || *c > '~')
			return "it may hold only printable ASCII characters without spaces";
	for (const char *c = p + 1; *c;) {
		size_t k = strcspn(c, "/");
		if (k == 0 || (k == 1 && c[0] == '.') || (k == 2 && c[0] == '.' && c[1] == '.'))
			return "it has an empty, '.' or '..' component";
		c += k + 1;
	}
	return NULL;
}

int read_first_line(const char *path, char **ret)
{
	_cleanup_fclose_ FILE *f = fopen(path, "re");
	_cleanup_free_ char *line = NULL;
	size_t cap = 0;
	if (!f)
		return -errno;
	ssize_t n = getline(&line, &cap, f);
	if (n < 0)
		return feof(f) ? -ENODATA : -errno;
	line[strcspn(line, "\n")] = 0;
	if (!*line)
		return -ENODATA;
	*ret = TAKE_PTR(line);
	return 0;
}

int loop_write(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}
