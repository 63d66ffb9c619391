/* proc.c — parsers for the /proc files the collector reads. Pure functions
 * over text (fuzzed: tests/fuzz/fuzz-proc-parse); anything unexpected is
 * -EBADMSG. */
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "collector.h"
#include "strutil.h"

int read_text_file(const char *path, char **ret)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	size_t cap = 4096, n = 0;
	_cleanup_free_ char *buf = malloc(cap);
	if (!buf)
		return -ENOMEM;
	for (;;) {
		if (n + 1 >= cap) {
			if (cap >= (16u << 20))
				return -EFBIG;
			char *b = realloc(buf, cap * 2);
			if (!b)
				return -ENOMEM;
			buf = b;
			cap *= 2;
		}
		ssize_t k = read(fd, buf + n, cap - n - 1);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (k == 0)
			break;
		n += (size_t)k;
	}
	buf[n] = 0;
	*ret = TAKE_PTR(buf);
	return 0;
}

/* Parses an unsigned decimal at *p, skipping leading blanks; advances *p. */
static int next_u64(const char **p, uint64_t *ret)
{
	const char *s = *p;
	while (*s == ' ' || *s == '\t')
		s++;
	if (*s < '0' || *s > '9')
		return -EBADMSG;
	uint64_t v = 0;
	for (; *s >= '0' && *s <= '9'; s++) {
		if (v > (UINT64_MAX - 9) / 10)
			return -EBADMSG;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*p = s;
	*ret = v;
	return 0;
}

int proc_stat_parse(const char *text, ProcStatCpu *ret)
{
	ProcStatCpu c = {};
	bool have_total = false;

	for (const char *line = text; line && *line;) {
		const char *end = strchr(line, '\n');
		if (startswith(line, "cpu ")) {
			const char *p = line + 3;
			uint64_t v[10] = {};
			unsigned k = 0;
			/* user nice system idle iowait irq softirq steal guest guest_nice;
			 * guest time is already counted in user/nice */
			for (; k < 10; k++)
				if (next_u64(&p, &v[k]) < 0)
					break;
			if (k < 4)
				return -EBADMSG;
			for (unsigned i = 0; i < MIN(k, 8u); i++) {
				if (c.total > UINT64_MAX - v[i])
					return -EBADMSG;
				c.total += v[i];
			}
			c.idle = v[3] + (k > 4 ? v[4] : 0);
			have_total = true;
		} else if (startswith(line, "cpu") && line[3] >= '0' && line[3] <= '9')
			c.cpus++;
		line = end ? end + 1 : NULL;
	}
	if (!have_total || c.cpus == 0)
		return -EBADMSG;
	*ret = c;
	return 0;
}

double cpu_busy_fraction(const ProcStatCpu *prev, const ProcStatCpu *cur)
{
	if (cur->total <= prev->total || cur->idle < prev->idle)
		return 0;
	uint64_t total = cur->total - prev->total, idle = cur->idle - prev->idle;
	if (idle > total)
		return 0;
	return (double)(total - idle) / (double)total;
}

int proc_loadavg_parse(const char *text, double ret[3])
{
	double l[3];
	char *end;
	const char *p = text;
	for (int i = 0; i < 3; i++) {
		while (*p == ' ')
			p++;
		if (*p < '0' || *p > '9')
			return -EBADMSG;
		l[i] = strtod(p, &end);
		if (end == p || !(l[i] >= 0) || l[i] > 1e9)
			return -EBADMSG;
		p = end;
	}
	memcpy(ret, l, sizeof(l));
	return 0;
}

int proc_meminfo_parse(const char *text, uint64_t *ret_total, uint64_t *ret_available)
{
	uint64_t total = 0, available = 0;
	bool have_total = false, have_available = false;

	for (const char *line = text; line && *line;) {
		const char *end = strchr(line, '\n'), *p;
		uint64_t *dst = NULL;
		bool *have = NULL;
		if ((p = startswith(line, "MemTotal:")))
			dst = &total, have = &have_total;
		else if ((p = startswith(line, "MemAvailable:")))
			dst = &available, have = &have_available;
		if (dst) {
			uint64_t kb;
			if (next_u64(&p, &kb) < 0 || kb > UINT64_MAX / 1024)
				return -EBADMSG;
			while (*p == ' ')
				p++;
			if (!startswith(p, "kB"))
				return -EBADMSG;
			*dst = kb * 1024;
			*have = true;
		}
		line = end ? end + 1 : NULL;
	}
	if (!have_total || !have_available || available > total)
		return -EBADMSG;
	*ret_total = total;
	*ret_available = available;
	return 0;
}

int proc_net_dev_parse(const char *text, NetDevCounters **ret, size_t *ret_n)
{
	_cleanup_free_ NetDevCounters *devs = NULL;
	size_t n = 0, cap = 0;
	unsigned lineno = 0;

	for (const char *line = text; line && *line; lineno++) {
		const char *end = strchr(line, '\n');
		size_t len = end ? (size_t)(end - line) : strlen(line);
		const char *next = end ? end + 1 : NULL;
		if (lineno < 2) { /* the two header lines */
			line = next;
			continue;
		}
		const char *colon = memchr(line, ':', len);
		if (!colon)
			return -EBADMSG;
		const char *name = line;
		while (name < colon && *name == ' ')
			name++;
		size_t nlen = (size_t)(colon - name);
		if (nlen == 0 || nlen >= sizeof(devs[0].name))
			return -EBADMSG;
		uint64_t v[16];
		const char *p = colon + 1;
		for (int i = 0; i < 16; i++)
			if (next_u64(&p, &v[i]) < 0 || p > line + len)
				return -EBADMSG;
		if (n == cap) {
			cap = cap ? cap * 2 : 8;
			NetDevCounters *d = realloc(devs, cap * sizeof(*d));
			if (!d)
				return -ENOMEM;
			devs = d;
		}
		memset(&devs[n], 0, sizeof(devs[n]));
		memcpy(devs[n].name, name, nlen);
		devs[n].rx_bytes = v[0];
		devs[n].tx_bytes = v[8];
		n++;
		line = next;
	}
	if (lineno < 2)
		return -EBADMSG;
	if (!devs && !(devs = calloc(1, sizeof(*devs))))
		return -ENOMEM;
	*ret = TAKE_PTR(devs);
	*ret_n = n;
	return 0;
}
