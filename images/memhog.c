/* memhog MIB [HOT_MIB] — fills MIB of memory with random bytes
 * (incompressible, like real workloads' pages), keeps rewriting a slice of
 * it, and prints "COUNTER TIMESTAMP_MS" every 10 ms. Every page carries a
 * checksum of its content, verified as the slice moves through memory, so a
 * restore that corrupted memory makes it exit with status 3. Without HOT_MIB
 * the slice sweeps all of memory; with it (a small hot set) only the first
 * HOT_MIB are rewritten, and the rest is read back and checked at the same
 * pace. */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include "workload.h"

#define PAGE  4096u
#define WORDS (PAGE / sizeof(uint64_t))

static uint64_t rng_state;

static uint64_t next_random(void)
{
	/* xorshift64*: fast, and good enough to defeat compression. */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 2685821657736338717ULL;
}

/* Fill a page with random words; the last word is the xor of the others. */
static void page_fill(uint64_t *p)
{
	uint64_t x = 0;
	for (size_t i = 0; i < WORDS - 1; i++) {
		p[i] = next_random();
		x ^= p[i];
	}
	p[WORDS - 1] = x;
}

static int page_check(const uint64_t *p)
{
	uint64_t x = 0;
	for (size_t i = 0; i < WORDS - 1; i++)
		x ^= p[i];
	return x == p[WORDS - 1];
}

int main(int argc, char *argv[])
{
	char *end;

	workload_init();
	if (argc != 2 && argc != 3) {
		fprintf(stderr, "usage: memhog MIB [HOT_MIB]\n");
		return 2;
	}
	errno = 0;
	unsigned long mib = strtoul(argv[1], &end, 10);
	if (errno || *end || end == argv[1] || mib == 0 || mib > (1ul << 20)) {
		fprintf(stderr, "memhog: invalid size '%s' (MiB, 1..1048576)\n", argv[1]);
		return 2;
	}
	unsigned long hot_mib = mib;
	if (argc == 3) {
		errno = 0;
		hot_mib = strtoul(argv[2], &end, 10);
		if (errno || *end || end == argv[2] || hot_mib == 0 || hot_mib > mib) {
			fprintf(stderr, "memhog: invalid hot set '%s' (MiB, 1..%lu)\n", argv[2],
			        mib);
			return 2;
		}
	}
	size_t pages = mib * (1024 * 1024 / PAGE);
	size_t hot = hot_mib * (1024 * 1024 / PAGE);
	uint64_t *mem = mmap(NULL, pages * PAGE, PROT_READ | PROT_WRITE,
	                     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED) {
		perror("memhog: mmap");
		return 1;
	}
	rng_state = workload_now_ms() | 1;
	for (size_t i = 0; i < pages; i++)
		page_fill(mem + i * WORDS);

	/* Rewrite 1/256 of the hot set per tick (every page within ~2.5 s);
	 * check as many cold pages. */
	size_t per_tick = hot / 256 ? hot / 256 : 1, cursor = 0, cold = hot;
	for (uint64_t n = 0;; n++) {
		for (size_t k = 0; k < per_tick; k++, cursor = (cursor + 1) % hot) {
			uint64_t *p = mem + cursor * WORDS;
			if (!page_check(p)) {
				fprintf(stderr, "memhog: page %zu corrupted\n", cursor);
				return 3;
			}
			page_fill(p);
		}
		for (size_t k = 0; k < per_tick && hot < pages; k++) {
			if (!page_check(mem + cold * WORDS)) {
				fprintf(stderr, "memhog: page %zu corrupted\n", cold);
				return 3;
			}
			cold = cold + 1 < pages ? cold + 1 : hot;
		}
		workload_report(n);
		workload_sleep_ns(10 * 1000 * 1000);
	}
}
