/* log.c — stderr logger with a level filter; messages carry the program name. */
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "error-util.h"
#include "strutil.h"

static const char *program_name = "podmig";
static int max_level = LOG_INFO;

static const char *const level_names[] = {
	[LOG_EMERG] = "emerg", [LOG_ALERT] = "alert",     [LOG_CRIT] = "crit",
	[LOG_ERR] = "error",   [LOG_WARNING] = "warning", [LOG_NOTICE] = "notice",
	[LOG_INFO] = "info",   [LOG_DEBUG] = "debug",
};

void log_set_program(const char *name)
{
	program_name = name;
}

void log_set_max_level(int level)
{
	max_level = level;
}

int log_get_max_level(void)
{
	return max_level;
}

int log_level_from_string(const char *s)
{
	if (!s)
		return -EINVAL;
	for (size_t i = 0; i < ELEMENTSOF(level_names); i++)
		if (strcaseeq(s, level_names[i]))
			return (int)i;
	if (strcaseeq(s, "err"))
		return LOG_ERR;
	unsigned v;
	if (safe_atou(s, &v) >= 0 && v <= LOG_DEBUG)
		return (int)v;
	return -EINVAL;
}

int log_internal(int level, int error, const char *file, int line, const char *fmt, ...)
{
	int saved = errno;
	char msg[2048];
	va_list ap;

	error = abs(error);
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);

	if (max_level >= LOG_DEBUG)
		fprintf(stderr, "%s[%s %s:%d]: %s", program_name, level_names[level & 7], file,
		        line, msg);
	else if (level <= LOG_WARNING)
		fprintf(stderr, "%s: %s: %s", program_name, level_names[level & 7], msg);
	else
		fprintf(stderr, "%s: %s", program_name, msg);
	if (error)
		fprintf(stderr, ": %s", error_to_string(-error));
	fputc('\n', stderr);

	errno = saved;
	return -error;
}
