/* service-notify.c — sd_notify(3) for podmig's daemons (service-notify.h). */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <systemd/sd-daemon.h>

#include "service-notify.h"
#include "strutil.h"
#include "time-util.h"

void service_notify_init(ServiceNotify *n)
{
	uint64_t usec = 0;
	*n = (ServiceNotify){};
	if (sd_watchdog_enabled(0, &usec) > 0)
		n->watchdog_usec = usec;
}

static bool format_status(ServiceNotify *n, const char *fmt, va_list ap)
{
	char text[sizeof n->status];
	vsnprintf(text, sizeof text, fmt, ap);
	/* one line: a newline would start another assignment */
	for (char *p = text; *p; p++)
		if (*p == '\n')
			*p = ' ';
	if (streq(text, n->status))
		return false;
	memcpy(n->status, text, sizeof text);
	return true;
}

void service_notify_ready(ServiceNotify *n, const char *fmt, ...)
{
	va_list ap;
	if (n->ready)
		return;
	va_start(ap, fmt);
	format_status(n, fmt, ap);
	va_end(ap);
	n->ready = true;
	(void)sd_notifyf(0, "READY=1\nSTATUS=%s", n->status);
}

void service_notify_status(ServiceNotify *n, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	bool changed = format_status(n, fmt, ap);
	va_end(ap);
	if (changed)
		(void)sd_notifyf(0, "STATUS=%s", n->status);
}

void service_notify_watchdog(ServiceNotify *n)
{
	if (!n->watchdog_usec)
		return;
	uint64_t now = now_usec(CLOCK_MONOTONIC);
	if (n->last_pet && now - n->last_pet < n->watchdog_usec / 4)
		return;
	n->last_pet = now;
	(void)sd_notify(0, "WATCHDOG=1");
}

void service_notify_stopping(ServiceNotify *n, const char *status)
{
	snprintf(n->status, sizeof n->status, "%s", status);
	(void)sd_notifyf(0, "STOPPING=1\nSTATUS=%s", n->status);
}
