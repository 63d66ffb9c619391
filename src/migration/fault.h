/* fault.h — test-only fault points for migrations: inert unless a fault
 * directory is configured (podmig-agent --fault-dir, set by tests).
 *
 * At a named point the code
 * calls fault_point(). If the file <dir>/<point> exists, its first word says
 * what happens:
 *   pause      create <dir>/<point>.paused, wait until <dir>/<point> is
 *              removed (the test's signal to go on), then go on
 *   fail       return -EIO (a failure at exactly that point)
 *   corrupt N  (for "source-chunk") flip a byte of archive chunk N
 * Points: source-checkpointing (before the container is stopped),
 * source-transferring (first archive bytes from Podman), source-chunk
 * (corrupt N), target-transferring (first archive bytes received),
 * target-restoring (record is restoring, before Podman restores),
 * target-lazy-pages (post-copy: the copy runs, before the lazy-pages
 * daemon's status is read), source-restore (a rollback's restore of the
 * source's kept checkpoint, before a page-server dump's recorded pages are
 * replayed into it).
 * The file stays (a pause or failure applies to every migration passing the
 * point) until the test removes it. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

typedef enum FaultAction {
	FAULT_NONE,
	FAULT_PAUSE,
	FAULT_FAIL,
	FAULT_CORRUPT,
} FaultAction;

/* What is armed at `point` (FAULT_NONE if dir is NULL or nothing is);
 * *ret_arg gets N of "corrupt N". */
FaultAction fault_lookup(const char *dir, const char *point, uint64_t *ret_arg);

/* Acts on pause/fail at `point`: 0 to go on, -EIO to fail. A pause gives up
 * (returning 0) after timeout_usec, so a forgotten test file cannot wedge an
 * agent forever. */
int fault_point(const char *dir, const char *point, uint64_t timeout_usec);
