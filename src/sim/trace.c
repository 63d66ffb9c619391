/* trace.c — trace files (one container's demand, one sample per line) and the migration
 * timing model. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "macro.h"
#include "sim.h"
#include "string-table.h"
#include "strutil.h"

/* A trace file larger than this is refused (10 M samples of two numbers fit well within). */
#define TRACE_FILE_BYTES_MAX (256u * 1024 * 1024)

static bool percent_ok(double x)
{
	return isfinite(x) && x >= 0 && x <= SIM_PERCENT_MAX;
}

void sim_trace_done(SimTrace *t)
{
	if (!t)
		return;
	free(t->name);
	free(t->cpu);
	free(t->mem);
	*t = (SimTrace){};
}

int sim_trace_parse(const char *text, const char *name, double mem_percent, SimTrace *ret,
                    ErrorDetail *err)
{
	_cleanup_free_ float *cpu = NULL, *mem = NULL;
	_cleanup_free_ char *copy = NULL;
	size_t n = 0, cap = 0, lineno = 0;
	const char *p = text;

	if (!text || !name || !ret)
		return -EINVAL;
	if (!isnan(mem_percent) && !percent_ok(mem_percent))
		return error_detail_set_errno(err, -EINVAL, "memory percent %g is not in 0..%g",
		                              mem_percent, SIM_PERCENT_MAX);
	while (*p) {
		const char *eol = strchrnul(p, '\n');
		char line[128], *end;
		size_t len = (size_t)(eol - p);
		double c, m;

		lineno++;
		if (len >= sizeof(line))
			return error_detail_set_errno(err, -EINVAL, "%s:%zu: line too long", name,
			                              lineno);
		memcpy(line, p, len);
		line[len] = 0;
		p = *eol ? eol + 1 : eol;
		if (line[strspn(line, " \t\r")] == 0 || line[strspn(line, " \t")] == '#')
			continue;

		errno = 0;
		c = strtod(line, &end);
		if (end == line || errno != 0 || !percent_ok(c))
			return error_detail_set_errno(
			        err, -EINVAL, "%s:%zu: CPU%% must be a number in 0..%g: \"%s\"",
			        name, lineno, SIM_PERCENT_MAX, line);
		end += strspn(end, " \t,");
		if (*end == 0 || *end == '\r') {
			if (isnan(mem_percent))
				return error_detail_set_errno(err, -EINVAL,
				                              "%s:%zu: no MEM%% (one column needs "
				                              "--memory-percent)",
				                              name, lineno);
			m = mem_percent;
		} else {
			char *rest;

			errno = 0;
			m = strtod(end, &rest);
			rest += strspn(rest, " \t\r");
			if (rest == end || errno != 0 || !percent_ok(m) || *rest != 0)
				return error_detail_set_errno(err, -EINVAL,
				                              "%s:%zu: expected \"CPU%% MEM%%\" "
				                              "with numbers in 0..%g: \"%s\"",
				                              name, lineno, SIM_PERCENT_MAX, line);
		}
		if (n == cap) {
			size_t ncap = MAX(cap * 2, (size_t)64);
			float *a, *b;

			if (n >= SIM_TRACE_SAMPLES_MAX)
				return error_detail_set_errno(err, -EINVAL,
				                              "%s: more than %u samples", name,
				                              SIM_TRACE_SAMPLES_MAX);
			a = realloc(cpu, ncap * sizeof(float));
			if (!a)
				return -ENOMEM;
			cpu = a;
			b = realloc(mem, ncap * sizeof(float));
			if (!b)
				return -ENOMEM;
			mem = b;
			cap = ncap;
		}
		cpu[n] = (float)c;
		mem[n] = (float)m;
		n++;
	}
	if (n == 0)
		return error_detail_set_errno(err, -EINVAL, "%s: no samples", name);
	copy = strdup(name);
	if (!copy)
		return -ENOMEM;
	*ret = (SimTrace){
		.name = TAKE_PTR(copy), .n = n, .cpu = TAKE_PTR(cpu), .mem = TAKE_PTR(mem)
	};
	return 0;
}

SimTraceSet *sim_trace_set_free(SimTraceSet *s)
{
	if (!s)
		return NULL;
	for (size_t i = 0; i < s->n; i++)
		sim_trace_done(&s->traces[i]);
	free(s->traces);
	free(s);
	return NULL;
}

static int read_file_at(int dfd, const char *name, char **ret, ErrorDetail *err)
{
	_cleanup_close_ int fd = openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	_cleanup_free_ char *buf = NULL;
	struct stat st;
	size_t got = 0;

	if (fd < 0)
		return error_detail_set_errno(err, -errno, "%s: %m", name);
	if (fstat(fd, &st) < 0)
		return error_detail_set_errno(err, -errno, "%s: %m", name);
	if (!S_ISREG(st.st_mode))
		return 0;
	if ((uint64_t)st.st_size > TRACE_FILE_BYTES_MAX)
		return error_detail_set_errno(err, -EFBIG, "%s: larger than %u bytes", name,
		                              TRACE_FILE_BYTES_MAX);
	buf = malloc((size_t)st.st_size + 1);
	if (!buf)
		return -ENOMEM;
	while (got < (size_t)st.st_size) {
		ssize_t k = read(fd, buf + got, (size_t)st.st_size - got);

		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return error_detail_set_errno(err, -errno, "%s: %m", name);
		if (k == 0)
			break;
		got += (size_t)k;
	}
	buf[got] = 0;
	*ret = TAKE_PTR(buf);
	return 1;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int sim_traces_load(const char *dir, double mem_percent, SimTraceSet **ret, ErrorDetail *err)
{
	_cleanup_(sim_trace_set_freep) SimTraceSet *set = NULL;
	_cleanup_(strv_freep) char **names = NULL;
	size_t n_names = 0, cap = 0;
	_cleanup_close_ int dfd = -EBADF;
	DIR *d;
	struct dirent *de;
	int r;

	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return error_detail_set_errno(err, -errno, "trace directory %s: %m", dir);
	d = opendir(dir);
	if (!d)
		return error_detail_set_errno(err, -errno, "trace directory %s: %m", dir);
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		if (n_names + 1 >= cap) {
			size_t ncap = MAX(cap * 2, (size_t)64);
			char **a;

			if (n_names >= SIM_TRACE_FILES_MAX) {
				closedir(d);
				return error_detail_set_errno(err, -EINVAL,
				                              "%s: more than %u trace files", dir,
				                              SIM_TRACE_FILES_MAX);
			}
			a = realloc(names, ncap * sizeof(char *));
			if (!a) {
				closedir(d);
				return -ENOMEM;
			}
			names = a;
			cap = ncap;
		}
		names[n_names] = strdup(de->d_name);
		if (!names[n_names]) {
			closedir(d);
			return -ENOMEM;
		}
		names[++n_names] = NULL;
	}
	closedir(d);
	if (n_names == 0)
		return error_detail_set_errno(err, -EINVAL, "trace directory %s holds no files",
		                              dir);
	qsort(names, n_names, sizeof(char *), cmp_str);

	set = calloc(1, sizeof(SimTraceSet));
	if (!set)
		return -ENOMEM;
	set->traces = calloc(n_names, sizeof(SimTrace));
	if (!set->traces)
		return -ENOMEM;
	for (size_t i = 0; i < n_names; i++) {
		_cleanup_free_ char *text = NULL;

		r = read_file_at(dfd, names[i], &text, err);
		if (r < 0)
			return r;
		if (r == 0)
			continue; /* not a regular file */
		r = sim_trace_parse(text, names[i], mem_percent, &set->traces[set->n], err);
		if (r < 0)
			return r;
		set->n++;
	}
	if (set->n == 0)
		return error_detail_set_errno(err, -EINVAL, "trace directory %s holds no files",
		                              dir);
	*ret = TAKE_PTR(set);
	return 0;
}

/* ---- timing ---- */

static const char *const sim_mode_table[_SIM_MODE_MAX] = {
	[SIM_MODE_PODMIG] = "podmig",
	[SIM_MODE_MANUAL] = "manual",
};

DEFINE_STRING_TABLE_LOOKUP(sim_mode, SimMode);

void sim_timing_default(SimMode m, SimTiming *ret)
{
	/* bench-migration, 3 runs, medians: downtime and total per memory size. */
	static const SimTimingPoint podmig[] = {
		{ 64, 0.71, 0.82 },
		{ 512, 3.40, 3.73 },
		{ 1024, 10.10, 11.00 },
	};
	static const SimTimingPoint manual[] = {
		{ 64, 0.85, 0.93 },
		{ 512, 3.38, 3.52 },
		{ 1024, 10.36, 10.69 },
	};
	const SimTimingPoint *p = m == SIM_MODE_MANUAL ? manual : podmig;

	*ret = (SimTiming){ .n = 3 };
	memcpy(ret->p, p, 3 * sizeof(SimTimingPoint));
}

int sim_timing_parse(const char *s, SimTiming *ret, ErrorDetail *err)
{
	SimTiming t = {};
	const char *p = s;

	if (!s || !*s)
		return error_detail_set_errno(err, -EINVAL, "empty timing");
	while (*p) {
		SimTimingPoint pt;
		int consumed = 0;

		if (t.n == SIM_TIMING_POINTS_MAX)
			return error_detail_set_errno(err, -EINVAL, "timing: more than %u points",
			                              SIM_TIMING_POINTS_MAX);
		if (sscanf(p, "%lf:%lf:%lf%n", &pt.mib, &pt.downtime_sec, &pt.total_sec,
		           &consumed) != 3 ||
		    (p[consumed] != 0 && p[consumed] != ','))
			return error_detail_set_errno(
			        err, -EINVAL, "timing \"%s\": expected MiB:DOWNTIME:TOTAL,...", s);
		if (!isfinite(pt.mib) || pt.mib <= 0 || !isfinite(pt.downtime_sec) ||
		    pt.downtime_sec < 0 || !isfinite(pt.total_sec) ||
		    pt.total_sec < pt.downtime_sec)
			return error_detail_set_errno(
			        err, -EINVAL,
			        "timing \"%s\": memory must be > 0 and 0 ≤ downtime ≤ total", s);
		if (t.n > 0 && pt.mib <= t.p[t.n - 1].mib)
			return error_detail_set_errno(
			        err, -EINVAL, "timing \"%s\": memory sizes must increase", s);
		t.p[t.n++] = pt;
		p += consumed;
		if (*p == ',')
			p++;
	}
	*ret = t;
	return 0;
}

static double lerp(double x, double x0, double y0, double x1, double y1)
{
	return y0 + (y1 - y0) * (x - x0) / (x1 - x0);
}

void sim_timing_eval(const SimTiming *t, double mib, double *ret_downtime, double *ret_total)
{
	size_t k;

	if (t->n == 1) {
		*ret_downtime = t->p[0].downtime_sec * mib / t->p[0].mib;
		*ret_total = t->p[0].total_sec * mib / t->p[0].mib;
		return;
	}
	/* the segment [k, k+1] holding mib, the first or last one outside */
	for (k = 0; k + 2 < t->n && mib > t->p[k + 1].mib; k++)
		;
	*ret_downtime = MAX(0.0, lerp(mib, t->p[k].mib, t->p[k].downtime_sec, t->p[k + 1].mib,
	                              t->p[k + 1].downtime_sec));
	*ret_total = MAX(*ret_downtime, lerp(mib, t->p[k].mib, t->p[k].total_sec, t->p[k + 1].mib,
	                                     t->p[k + 1].total_sec));
}
