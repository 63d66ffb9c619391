/* workload.h — shared bits of the test workloads: clean exit on SIGTERM
 * (they run as PID 1, where default signal actions do not apply), a
 * millisecond wall clock, and the "COUNTER TIMESTAMP_MS" line. */
#pragma once

#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static void workload_on_signal(int sig)
{
	(void)sig;
	_exit(0);
}

static inline void workload_init(void)
{
	struct sigaction sa = { .sa_handler = workload_on_signal };
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	setvbuf(stdout, NULL, _IOLBF, 0);
}

static inline uint64_t workload_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static inline void workload_sleep_ns(long ns)
{
	struct timespec ts = { .tv_sec = ns / 1000000000L, .tv_nsec = ns % 1000000000L };
	while (nanosleep(&ts, &ts) < 0)
		;
}

static inline void workload_report(uint64_t counter)
{
	printf("%llu %llu\n", (unsigned long long)counter, (unsigned long long)workload_now_ms());
}
