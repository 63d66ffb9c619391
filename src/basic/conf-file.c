/* conf-file.c — reading podmig's "key = value" configuration files. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf-file.h"
#include "macro.h"

static bool is_blank(char c)
{
	return c == ' ' || c == '\t';
}

int conf_file_load(const char *path, ConfSetFunc set, void *userdata, ErrorDetail *error)
{
	_cleanup_fclose_ FILE *f = fopen(path, "re");
	_cleanup_free_ char *line = NULL;
	size_t cap = 0;
	unsigned lineno = 0;
	ssize_t n;

	if (!f) {
		int r = -errno;
		if (r == -ENOENT)
			return r;
		return error_detail_set_errno(error, r, "%s: %s", path, error_to_string(r));
	}
	errno = 0;
	while ((n = getline(&line, &cap, f)) >= 0) {
		if (++lineno > CONF_LINES_MAX)
			return error_detail_set_errno(error, -E2BIG, "%s: more than %u lines", path,
			                              CONF_LINES_MAX);
		if ((size_t)n > CONF_LINE_MAX)
			return error_detail_set_errno(error, -E2BIG,
			                              "%s:%u: line longer than %u bytes", path,
			                              lineno, CONF_LINE_MAX);
		if (strlen(line) != (size_t)n)
			return error_detail_set_errno(error, -EINVAL, "%s:%u: a NUL byte", path,
			                              lineno);
		char *p = line, *end = line + n;
		while (end > p && (end[-1] == '\n' || end[-1] == '\r' || is_blank(end[-1])))
			*--end = 0;
		while (is_blank(*p))
			p++;
		if (*p == '#' || *p == 0)
			continue;
		char *sep = p + strcspn(p, "= \t");
		if (!*sep || sep == p)
			return error_detail_set_errno(
			        error, -EINVAL, "%s:%u: expected 'key = value'", path, lineno);
		char *value = sep + strspn(sep, " \t");
		bool eq = *value == '=';
		*sep = 0;
		if (eq)
			value += 1 + strspn(value + 1, " \t");

		ErrorDetail why = {};
		int r = set(p, value, userdata, &why);
		if (r == -ENOMEM)
			return r;
		if (r == -ENOENT)
			return error_detail_set_errno(error, -EINVAL, "%s:%u: unknown setting '%s'",
			                              path, lineno, p);
		if (r < 0)
			return error_detail_set_errno(error, r, "%s:%u: %s", path, lineno,
			                              error_detail_or(&why, r));
		errno = 0;
	}
	if (ferror(f)) {
		int r = errno > 0 ? -errno : -EIO;
		return error_detail_set_errno(error, r, "%s: %s", path, error_to_string(r));
	}
	return 0;
}
