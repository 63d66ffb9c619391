/* tracehog FILE STEP_MS [MIB] — follows a trace file in podmig-sim's format: line k ("CPU%
 * MEM%", or "CPU%" alone with memory 0) holds from k × STEP_MS after the start, by the wall
 * clock (so a migration does not shift the timeline); the last line holds on. CPU% is of one
 * core, burned by duty cycle over 100 ms periods; MEM% is of MIB MiB (default 1024), written
 * page by page and released when the trace goes down. Prints "COUNTER TIMESTAMP_MS" once a
 * second. */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include "workload.h"

#define PERIOD_MS   100
#define PAGE        4096ul
#define SAMPLES_MAX 100000

static float cpu[SAMPLES_MAX], mem[SAMPLES_MAX];

static int load(const char *path, size_t *ret_n)
{
	FILE *f = fopen(path, "re");
	char line[256];
	size_t n = 0;

	if (!f) {
		fprintf(stderr, "tracehog: %s: %s\n", path, strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof line, f)) {
		char *p = line + strspn(line, " \t");
		float c, m = 0;
		int k;

		if (*p == '#' || *p == '\n' || *p == 0)
			continue;
		k = sscanf(p, "%f %f", &c, &m);
		if (k < 1 || !(c >= 0) || !(m >= 0) || c > 10000 || m > 10000 || n == SAMPLES_MAX) {
			fprintf(stderr, "tracehog: %s: bad line %zu\n", path, n + 1);
			fclose(f);
			return -1;
		}
		cpu[n] = c;
		mem[n] = m;
		n++;
	}
	fclose(f);
	if (n == 0) {
		fprintf(stderr, "tracehog: %s: no samples\n", path);
		return -1;
	}
	*ret_n = n;
	return 0;
}

int main(int argc, char *argv[])
{
	size_t n, pages = 0, max_pages = 0, cur = (size_t)-1;
	unsigned long step_ms, mib = 1024;
	uint64_t start, reports = 0, last_report = 0;
	volatile uint64_t sink = 0;
	unsigned char *buf;
	char *end;

	workload_init();
	if (argc < 3 || argc > 4) {
		fprintf(stderr, "usage: tracehog FILE STEP_MS [MIB]\n");
		return 2;
	}
	errno = 0;
	step_ms = strtoul(argv[2], &end, 10);
	if (errno || *end || step_ms == 0 || step_ms > 86400000ul) {
		fprintf(stderr, "tracehog: invalid STEP_MS '%s'\n", argv[2]);
		return 2;
	}
	if (argc == 4) {
		mib = strtoul(argv[3], &end, 10);
		if (errno || *end || mib == 0 || mib > 65536) {
			fprintf(stderr, "tracehog: invalid MIB '%s'\n", argv[3]);
			return 2;
		}
	}
	if (load(argv[1], &n) < 0)
		return 2;
	for (size_t i = 0; i < n; i++) {
		size_t p = (size_t)(mem[i] / 100.0 * (double)mib * 1024 * 1024 / PAGE);
		if (p > max_pages)
			max_pages = p;
	}
	buf = mmap(NULL, (max_pages + 1) * PAGE, PROT_READ | PROT_WRITE,
	           MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (buf == MAP_FAILED) {
		fprintf(stderr, "tracehog: cannot map %zu MiB\n", max_pages * PAGE >> 20);
		return 1;
	}

	start = workload_now_ms();
	for (;;) {
		uint64_t now = workload_now_ms(), t0 = now;
		size_t k = (size_t)((now - start) / step_ms);

		if (k >= n)
			k = n - 1;
		if (k != cur) {
			size_t want = (size_t)(mem[k] / 100.0 * (double)mib * 1024 * 1024 / PAGE);

			for (; pages < want; pages++)
				buf[pages * PAGE] = (unsigned char)(pages + 1);
			if (want < pages) {
				madvise(buf + want * PAGE, (pages - want) * PAGE, MADV_DONTNEED);
				pages = want;
			}
			cur = k;
		}
		/* busy for CPU% of the period (of one core), asleep for the rest */
		uint64_t busy = (uint64_t)((cpu[k] > 100 ? 100 : cpu[k]) * PERIOD_MS / 100);
		while (workload_now_ms() - t0 < busy)
			sink++;
		now = workload_now_ms();
		if (now - t0 < PERIOD_MS)
			workload_sleep_ns((long)(PERIOD_MS - (now - t0)) * 1000000L);
		if (now - last_report >= 1000) {
			workload_report(reports++);
			last_report = now;
		}
	}
}
