/* error-util.c — naming result codes and recording reasons. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "error-util.h"

const char *error_to_string(int r)
{
	switch (r) {
	case OUTCOME_ETCD_NOT_FOUND:
		return "no such key in etcd";
	case OUTCOME_PODMAN_NOT_FOUND:
		return "no such container or image in Podman";
	default:
		return strerror(r < 0 ? -r : r);
	}
}

static void error_detail_vset(ErrorDetail *e, const char *fmt, va_list ap)
{
	if (!e || e->message[0])
		return;
	vsnprintf(e->message, sizeof e->message, fmt, ap);
}

void error_detail_set(ErrorDetail *e, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	error_detail_vset(e, fmt, ap);
	va_end(ap);
}

int error_detail_set_errno(ErrorDetail *e, int error, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	error_detail_vset(e, fmt, ap);
	va_end(ap);
	return error;
}
