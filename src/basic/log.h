/* log.h — one logging front for every program: level filter, program name,
 * errno-style error strings. Library code logs at debug level only. */
#pragma once

#include <stdarg.h>
#include <syslog.h>

#include "macro.h"

void log_set_program(const char *name);
void log_set_max_level(int level);
int log_get_max_level(void);
/* Parse "debug", "info", "notice", "warning", "err" (or a syslog number). */
int log_level_from_string(const char *s);

/* Log at `level`; if `error` is non-zero append ": strerror(|error|)".
 * Returns -|error| (or 0) so a caller can `return log_error_errno(r, ...)`. */
int log_internal(int level, int error, const char *file, int line, const char *fmt, ...)
        _printf_(5, 6);

#define log_full_errno(level, error, ...)                                             \
	({                                                                            \
		int _level_ = (level), _e_ = (error);                                 \
		_level_ <= log_get_max_level()                                        \
		        ? log_internal(_level_, _e_, __FILE__, __LINE__, __VA_ARGS__) \
		        : -abs(_e_);                                                  \
	})

#define log_debug(...)            log_full_errno(LOG_DEBUG, 0, __VA_ARGS__)
#define log_info(...)             log_full_errno(LOG_INFO, 0, __VA_ARGS__)
#define log_notice(...)           log_full_errno(LOG_NOTICE, 0, __VA_ARGS__)
#define log_warning(...)          log_full_errno(LOG_WARNING, 0, __VA_ARGS__)
#define log_error(...)            log_full_errno(LOG_ERR, 0, __VA_ARGS__)
#define log_debug_errno(e, ...)   log_full_errno(LOG_DEBUG, e, __VA_ARGS__)
#define log_info_errno(e, ...)    log_full_errno(LOG_INFO, e, __VA_ARGS__)
#define log_warning_errno(e, ...) log_full_errno(LOG_WARNING, e, __VA_ARGS__)
#define log_error_errno(e, ...)   log_full_errno(LOG_ERR, e, __VA_ARGS__)
