/* cpuhog CORES — burns a fractional number of cores (e.g. 0.4, 1.5) by duty
 * cycle over 100 ms periods, one thread per started core, and prints
 * "COUNTER TIMESTAMP_MS" once a second. */
#include <errno.h>
#include <math.h>
#include <pthread.h>

#include "workload.h"

#define PERIOD_NS 100000000L

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void *burn(void *arg)
{
	double share = *(double *)arg; /* 0 < share <= 1 of one core */
	uint64_t busy = (uint64_t)(share * PERIOD_NS);
	volatile uint64_t sink = 0;

	for (;;) {
		uint64_t start = now_ns();
		while (now_ns() - start < busy)
			sink++;
		uint64_t spent = now_ns() - start;
		if (spent < (uint64_t)PERIOD_NS)
			workload_sleep_ns((long)(PERIOD_NS - spent));
	}
	return NULL;
}

int main(int argc, char *argv[])
{
	static double shares[256];
	char *end;

	workload_init();
	if (argc != 2) {
		fprintf(stderr, "usage: cpuhog CORES\n");
		return 2;
	}
	errno = 0;
	double cores = strtod(argv[1], &end);
	if (errno || *end || end == argv[1] || !(cores > 0) || cores > 256) {
		fprintf(stderr, "cpuhog: invalid core count '%s' (0 < CORES <= 256)\n", argv[1]);
		return 2;
	}
	int threads = (int)ceil(cores);
	for (int i = 0; i < threads; i++) {
		shares[i] = fmin(1.0, cores - i);
		pthread_t t;
		if (pthread_create(&t, NULL, burn, &shares[i]) != 0) {
			fprintf(stderr, "cpuhog: cannot start thread %d\n", i);
			return 1;
		}
	}
	for (uint64_t n = 0;; n++) {
		workload_report(n);
		workload_sleep_ns(1000000000L);
	}
}
