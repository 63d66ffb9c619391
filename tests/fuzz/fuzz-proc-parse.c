/* Fuzz target: the collector's /proc parsers. The first byte picks the file
 * kind; the rest, NUL-terminated, is its text. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "collector.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	uint8_t kind = data[0] % 4;
	char *text = malloc(size);
	if (!text)
		return 0;
	memcpy(text, data + 1, size - 1);
	text[size - 1] = 0;

	ProcStatCpu cpu;
	double load[3];
	uint64_t total, avail;
	NetDevCounters *devs;
	size_t n;
	switch (kind) {
	case 0:
		if (proc_stat_parse(text, &cpu) >= 0)
			(void)cpu_busy_fraction(&cpu, &cpu);
		break;
	case 1:
		(void)proc_loadavg_parse(text, load);
		break;
	case 2:
		(void)proc_meminfo_parse(text, &total, &avail);
		break;
	case 3:
		if (proc_net_dev_parse(text, &devs, &n) >= 0)
			free(devs);
		break;
	}
	free(text);
	return 0;
}
