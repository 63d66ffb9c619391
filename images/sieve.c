/* sieve LIMIT [CORES] — the demo's "HPC job": counts the primes below LIMIT
 * with a segmented sieve of Eratosthenes, using at most CORES of one core
 * (default 1; a duty cycle over 100 ms periods, like a job under a CPU
 * quota). Once a second it prints
 *     progress RUN DONE LIMIT PRIMES TIMESTAMP_MS
 * where RUN is a number drawn once at start (a restarted job shows a new
 * one; a migrated one keeps it), DONE how far the sieve has got and PRIMES
 * the primes found below DONE; at the end
 *     result RUN LIMIT PRIMES
 * and it exits 0. */
#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <unistd.h>

#include "workload.h"

#define SEGMENT   (1u << 18) /* numbers per segment: odd ones only are stored */
#define PERIOD_NS 100000000L

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t isqrt(uint64_t n)
{
	uint64_t r = 0;
	for (uint64_t b = 1ull << 31; b; b >>= 1)
		if ((r + b) * (r + b) <= n)
			r += b;
	return r;
}

int main(int argc, char *argv[])
{
	static bool composite[SEGMENT / 2];
	char *end;

	workload_init();
	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: sieve LIMIT [CORES]\n");
		return 2;
	}
	errno = 0;
	unsigned long long limit = strtoull(argv[1], &end, 10);
	if (errno || *end || end == argv[1] || limit < 3 || limit > (1ull << 40)) {
		fprintf(stderr, "sieve: invalid limit '%s' (3 <= LIMIT <= 2^40)\n", argv[1]);
		return 2;
	}
	double share = 1;
	if (argc == 3) {
		share = strtod(argv[2], &end);
		if (errno || *end || end == argv[2] || !(share > 0) || share > 1) {
			fprintf(stderr, "sieve: invalid share '%s' (0 < CORES <= 1)\n", argv[2]);
			return 2;
		}
	}
	uint64_t run = (workload_now_ms() * 2654435761u) ^ ((uint64_t)getpid() << 20);
	run %= 1000000000;

	/* Odd base primes up to sqrt(limit), by a plain sieve. */
	uint64_t root = isqrt(limit) + 1;
	bool *small = calloc(root + 1, 1);
	uint32_t *primes = malloc(sizeof *primes * (root / 2 + 2));
	if (!small || !primes)
		return 1;
	size_t nprimes = 0;
	for (uint64_t i = 3; i <= root; i += 2) {
		if (small[i])
			continue;
		primes[nprimes++] = (uint32_t)i;
		for (uint64_t j = i * i; j <= root; j += 2 * i)
			small[j] = true;
	}
	free(small);

	uint64_t count = 1; /* 2 */
	uint64_t period_start = mono_ns(), busy = 0, last_print = 0;
	for (uint64_t low = 0; low < limit; low += SEGMENT) {
		uint64_t t0 = mono_ns();
		uint64_t high = low + SEGMENT < limit ? low + SEGMENT : limit; /* [low, high) */
		memset(composite, 0, sizeof composite);
		for (size_t k = 0; k < nprimes; k++) {
			uint64_t p = primes[k];
			if (p * p >= high)
				break;
			uint64_t start = p * p > low ? p * p : (low + p - 1) / p * p;
			if (start % 2 == 0)
				start += p;
			for (uint64_t m = start; m < high; m += 2 * p)
				composite[(m - low) / 2] = true;
		}
		for (uint64_t n = low | 1; n < high; n += 2)
			if (n > 1 && !composite[(n - low) / 2])
				count++;

		uint64_t now = mono_ns();
		busy += now - t0;
		if (now - last_print >= 1000000000ull || high == limit) {
			printf("progress %llu %llu %llu %llu %llu\n", (unsigned long long)run,
			       (unsigned long long)high, limit, (unsigned long long)count,
			       (unsigned long long)workload_now_ms());
			last_print = now;
		}
		/* Keep to `share` of each period: sleep off what was over. */
		if (share < 1 && busy > share * PERIOD_NS) {
			uint64_t wall = busy / share;
			uint64_t spent = now - period_start;
			if (spent < wall)
				workload_sleep_ns((long)(wall - spent));
			period_start = mono_ns();
			busy = 0;
		}
	}
	printf("result %llu %llu %llu\n", (unsigned long long)run, limit,
	       (unsigned long long)count);
	return 0;
}
