/* error-util.h — podmig's result codes beside errno, and one type for the
 * reason of a failure, carried up to where it is reported once.
 *
 * Functions return a negative errno on failure. Expected outcomes that a
 * caller must handle and that are not failures of the call (nothing found)
 * have codes of their own below -ERRNO_MAX, listed here for all modules, so
 * that no two modules' outcomes share a value and none is read as an errno.
 * Print any of them with error_to_string(), never strerror(). */
#pragma once

#include <stdbool.h>

#include "macro.h"

/* Linux's errno values are below this. */
#define ERRNO_MAX 4095

typedef enum Outcome {
	OUTCOME_ETCD_NOT_FOUND = -(ERRNO_MAX + 1),   /* etcd: no such key */
	OUTCOME_PODMAN_NOT_FOUND = -(ERRNO_MAX + 2), /* Podman: no such container or image */
	_OUTCOME_MIN = -(ERRNO_MAX + 3),
} Outcome;

static inline bool error_is_outcome(int r)
{
	return r < -ERRNO_MAX && r > _OUTCOME_MIN;
}

/* What a negative errno or outcome code means, for people. */
const char *error_to_string(int r);

/* Why something failed, in words a person can act on. */
typedef struct ErrorDetail {
	char message[512];
} ErrorDetail;

/* Records the reason unless one is recorded already: the first failure is
 * the cause, later ones are its consequences. `e` may be NULL. */
void error_detail_set(ErrorDetail *e, const char *fmt, ...) _printf_(2, 3);
/* The same, returning `error` for `return error_detail_set_errno(...)`. */
int error_detail_set_errno(ErrorDetail *e, int error, const char *fmt, ...) _printf_(3, 4);

static inline bool error_detail_is_set(const ErrorDetail *e)
{
	return e && e->message[0];
}

static inline void error_detail_clear(ErrorDetail *e)
{
	if (e)
		e->message[0] = 0;
}

/* The recorded reason, else what `error` means. */
static inline const char *error_detail_or(const ErrorDetail *e, int error)
{
	return error_detail_is_set(e) ? e->message : error_to_string(error);
}
