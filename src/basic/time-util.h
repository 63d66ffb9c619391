/* time-util.h — clocks and sleeps in microseconds. */
#pragma once

#include <errno.h>
#include <stdint.h>
#include <time.h>

#define USEC_PER_SEC  1000000ULL
#define USEC_PER_MSEC 1000ULL
#define MSEC_PER_SEC  1000ULL
#define NSEC_PER_USEC 1000ULL

/* Microseconds on `clock` (CLOCK_MONOTONIC for intervals and deadlines,
 * CLOCK_REALTIME for timestamps others read). */
static inline uint64_t now_usec(clockid_t clock)
{
	struct timespec ts;
	clock_gettime(clock, &ts);
	return (uint64_t)ts.tv_sec * USEC_PER_SEC + (uint64_t)ts.tv_nsec / NSEC_PER_USEC;
}

/* Wall-clock milliseconds, as migration records stamp their phases. */
static inline uint64_t wall_ms(void)
{
	return now_usec(CLOCK_REALTIME) / USEC_PER_MSEC;
}

/* Seconds on the monotonic clock, for intervals printed to people. */
static inline double mono_sec(void)
{
	return (double)now_usec(CLOCK_MONOTONIC) / (double)USEC_PER_SEC;
}

/* Milliseconds on the monotonic clock. */
static inline uint64_t mono_msec(void)
{
	return now_usec(CLOCK_MONOTONIC) / USEC_PER_MSEC;
}

/* Sleeps `usec`, resuming after a signal handler ran. */
static inline void sleep_usec(uint64_t usec)
{
	struct timespec ts = { .tv_sec = (time_t)(usec / USEC_PER_SEC),
		               .tv_nsec = (long)(usec % USEC_PER_SEC * NSEC_PER_USEC) };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}
