/* service-notify.h — telling systemd how a daemon is doing (sd_notify(3)):
 * READY=1 once it serves, STATUS= with what it is doing, WATCHDOG=1 from
 * the loop whose turning proves it is alive, STOPPING=1 on the way out.
 * Without $NOTIFY_SOCKET (not started by systemd with Type=notify) every
 * call does nothing. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "macro.h"

typedef struct ServiceNotify {
	bool ready;
	uint64_t watchdog_usec; /* systemd's WatchdogSec; 0: no watchdog */
	uint64_t last_pet;      /* monotonic */
	char status[256];       /* the last STATUS= sent */
} ServiceNotify;

/* Reads $WATCHDOG_USEC (for this process only). */
void service_notify_init(ServiceNotify *n);
/* READY=1 with a first STATUS=; once. */
void service_notify_ready(ServiceNotify *n, const char *fmt, ...) _printf_(2, 3);
/* STATUS=, when it differs from the last one sent. */
void service_notify_status(ServiceNotify *n, const char *fmt, ...) _printf_(2, 3);
/* WATCHDOG=1, at most four times per watchdog period; call it from the
 * daemon's main loop on every turn. */
void service_notify_watchdog(ServiceNotify *n);
/* STOPPING=1 with a STATUS=. */
void service_notify_stopping(ServiceNotify *n, const char *status);
