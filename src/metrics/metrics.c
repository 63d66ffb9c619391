/* metrics.c — the registry of metrics.h and its text rendering. */
#include "metrics.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "strutil.h"

struct Metric {
	MetricsRegistry *registry;
	MetricType type;
	char *name;
	char *help;
	size_t n_labels;
	char *label_names[METRICS_LABELS_MAX];
	char **label_values[METRICS_LABELS_MAX]; /* NULL-terminated copies */
	size_t n_values[METRICS_LABELS_MAX];
	size_t n_series;
	double *buckets; /* n_buckets upper bounds; +Inf implied */
	size_t n_buckets;
	/* counters and gauges: value[series]; histograms: per series
	 * n_buckets + 1 bucket counts (not cumulative), then sum */
	double *values;
};

typedef struct Collector {
	MetricsCollectFn fn;
	void *userdata;
} Collector;

struct MetricsRegistry {
	pthread_mutex_t lock;
	Metric **metrics;
	size_t n_metrics;
	Collector *collectors;
	size_t n_collectors;
};

static const char *const metric_type_table[_METRIC_TYPE_MAX] = {
	[METRIC_COUNTER] = "counter",
	[METRIC_GAUGE] = "gauge",
	[METRIC_HISTOGRAM] = "histogram",
};

static void metric_free(Metric *m)
{
	if (!m)
		return;
	free(m->name);
	free(m->help);
	for (size_t i = 0; i < m->n_labels; i++) {
		free(m->label_names[i]);
		strv_free(m->label_values[i]);
	}
	free(m->buckets);
	free(m->values);
	free(m);
}

int metrics_registry_new(MetricsRegistry **ret)
{
	MetricsRegistry *r = calloc(1, sizeof *r);
	if (!r)
		return -ENOMEM;
	pthread_mutex_init(&r->lock, NULL);
	*ret = r;
	return 0;
}

MetricsRegistry *metrics_registry_free(MetricsRegistry *r)
{
	if (!r)
		return NULL;
	for (size_t i = 0; i < r->n_metrics; i++)
		metric_free(r->metrics[i]);
	free(r->metrics);
	free(r->collectors);
	pthread_mutex_destroy(&r->lock);
	free(r);
	return NULL;
}

/* Metric names: [a-zA-Z_:][a-zA-Z0-9_:]*; label names: [a-zA-Z_][a-zA-Z0-9_]*,
 * not beginning with "__" (reserved for Prometheus). */
static bool name_valid(const char *s, bool label)
{
	static const char first[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_";
	static const char rest[] =
	        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_0123456789";
	if (!s || !*s)
		return false;
	if (label && startswith(s, "__"))
		return false;
	for (const char *p = s; *p; p++) {
		bool ok = (p == s ? strchr(first, *p) : strchr(rest, *p)) != NULL;
		if (!ok && !(!label && *p == ':'))
			return false;
	}
	return true;
}

static bool endswith(const char *s, const char *suffix)
{
	size_t n = strlen(s), k = strlen(suffix);
	return n >= k && streq(s + n - k, suffix);
}

static bool help_valid(const char *s)
{
	return s && *s && !strchr(s, '\n');
}

static int desc_check(const MetricsRegistry *r, const MetricDesc *d, size_t *ret_labels,
                      size_t *ret_series)
{
	size_t n = 0, series = 1;

	if (d->type < 0 || d->type >= _METRIC_TYPE_MAX || !name_valid(d->name, false) ||
	    !help_valid(d->help))
		return -EINVAL;
	if (d->type == METRIC_COUNTER && !endswith(d->name, "_total"))
		return -EINVAL;
	for (size_t i = 0; i < r->n_metrics; i++)
		if (streq(r->metrics[i]->name, d->name))
			return -EEXIST;
	for (; n < METRICS_LABELS_MAX && d->labels[n].name; n++) {
		const MetricLabel *l = &d->labels[n];
		if (!name_valid(l->name, true) || !l->values || !l->values[0])
			return -EINVAL;
		if (d->type == METRIC_HISTOGRAM && streq(l->name, "le"))
			return -EINVAL;
		for (size_t k = 0; k < n; k++)
			if (streq(d->labels[k].name, l->name))
				return -EINVAL;
		size_t nv = 0;
		for (; l->values[nv]; nv++)
			for (size_t k = 0; k < nv; k++)
				if (streq(l->values[k], l->values[nv]))
					return -EINVAL; /* the same series twice */
		if (series * nv > METRICS_SERIES_MAX)
			return -EINVAL;
		series *= nv;
	}
	if (d->type == METRIC_HISTOGRAM) {
		if (!d->buckets || d->n_buckets < 1 || d->n_buckets > METRICS_BUCKETS_MAX)
			return -EINVAL;
		for (size_t i = 0; i < d->n_buckets; i++)
			if (!isfinite(d->buckets[i]) ||
			    (i > 0 && !(d->buckets[i] > d->buckets[i - 1])))
				return -EINVAL;
	} else if (d->buckets || d->n_buckets)
		return -EINVAL;
	*ret_labels = n;
	*ret_series = series;
	return 0;
}

static size_t values_per_series(const Metric *m)
{
	return m->type == METRIC_HISTOGRAM ? m->n_buckets + 2 : 1;
}

int metrics_register(MetricsRegistry *r, const MetricDesc *d, Metric **ret)
{
	size_t n_labels, n_series;
	int res;

	pthread_mutex_lock(&r->lock);
	res = desc_check(r, d, &n_labels, &n_series);
	pthread_mutex_unlock(&r->lock);
	if (res < 0)
		return res;

	Metric *m = calloc(1, sizeof *m);
	if (!m)
		return -ENOMEM;
	m->registry = r;
	m->type = d->type;
	m->n_labels = n_labels;
	m->n_series = n_series;
	m->n_buckets = d->type == METRIC_HISTOGRAM ? d->n_buckets : 0;
	if (!(m->name = strdup(d->name)) || !(m->help = strdup(d->help)))
		goto oom;
	for (size_t i = 0; i < n_labels; i++) {
		size_t nv = strv_length((char **)d->labels[i].values);
		m->n_values[i] = nv;
		if (!(m->label_names[i] = strdup(d->labels[i].name)) ||
		    !(m->label_values[i] = calloc(nv + 1, sizeof(char *))))
			goto oom;
		for (size_t k = 0; k < nv; k++)
			if (!(m->label_values[i][k] = strdup(d->labels[i].values[k])))
				goto oom;
	}
	if (m->n_buckets) {
		if (!(m->buckets = malloc(m->n_buckets * sizeof(double))))
			goto oom;
		memcpy(m->buckets, d->buckets, m->n_buckets * sizeof(double));
	}
	if (!(m->values = calloc(n_series * values_per_series(m), sizeof(double))))
		goto oom;

	pthread_mutex_lock(&r->lock);
	/* checked again: another thread may have taken the name meanwhile */
	res = desc_check(r, d, &n_labels, &n_series);
	Metric **ms = res < 0 ? NULL : reallocarray(r->metrics, r->n_metrics + 1, sizeof *ms);
	if (ms) {
		r->metrics = ms;
		r->metrics[r->n_metrics++] = m;
	}
	pthread_mutex_unlock(&r->lock);
	if (!ms) {
		metric_free(m);
		return res < 0 ? res : -ENOMEM;
	}
	if (ret)
		*ret = m;
	return 0;
oom:
	metric_free(m);
	return -ENOMEM;
}

/* The series the label values name, or -EINVAL. */
static ssize_t series_index(const Metric *m, va_list ap)
{
	size_t index = 0;
	for (size_t i = 0; i < m->n_labels; i++) {
		const char *v = va_arg(ap, const char *);
		size_t k = 0;
		while (k < m->n_values[i] && !streq_ptr(m->label_values[i][k], v))
			k++;
		if (k == m->n_values[i])
			return -EINVAL;
		index = index * m->n_values[i] + k;
	}
	return (ssize_t)index;
}

typedef enum Op { OP_ADD, OP_SET, OP_OBSERVE } Op;

static int metric_update(Metric *m, Op op, double v, va_list ap)
{
	if (!m || isnan(v))
		return -EINVAL;
	ssize_t s = series_index(m, ap);
	if (s < 0)
		return (int)s;
	switch (op) {
	case OP_ADD:
		if (m->type == METRIC_HISTOGRAM || !isfinite(v) ||
		    (m->type == METRIC_COUNTER && v < 0))
			return -EINVAL;
		break;
	case OP_SET:
		if (m->type == METRIC_HISTOGRAM || (m->type == METRIC_COUNTER && !(v >= 0)))
			return -EINVAL;
		break;
	case OP_OBSERVE:
		if (m->type != METRIC_HISTOGRAM)
			return -EINVAL;
		break;
	}

	int r = 0;
	pthread_mutex_lock(&m->registry->lock);
	double *x = &m->values[(size_t)s * values_per_series(m)];
	if (op == OP_ADD)
		*x += v;
	else if (op == OP_SET && m->type == METRIC_COUNTER && v < *x)
		r = -EINVAL;
	else if (op == OP_SET)
		*x = v;
	else {
		size_t b = 0;
		while (b < m->n_buckets && v > m->buckets[b])
			b++;
		x[b]++; /* bucket b: the first whose bound is >= v; n_buckets: +Inf */
		x[m->n_buckets + 1] += v;
	}
	pthread_mutex_unlock(&m->registry->lock);
	return r;
}

int metric_add(Metric *m, double v, ...)
{
	va_list ap;
	va_start(ap, v);
	int r = metric_update(m, OP_ADD, v, ap);
	va_end(ap);
	return r;
}

int metric_set(Metric *m, double v, ...)
{
	va_list ap;
	va_start(ap, v);
	int r = metric_update(m, OP_SET, v, ap);
	va_end(ap);
	return r;
}

int metric_observe(Metric *m, double v, ...)
{
	va_list ap;
	va_start(ap, v);
	int r = metric_update(m, OP_OBSERVE, v, ap);
	va_end(ap);
	return r;
}

double metric_get(Metric *m, ...)
{
	va_list ap;
	va_start(ap, m);
	ssize_t s = series_index(m, ap);
	va_end(ap);
	if (s < 0)
		return NAN;
	pthread_mutex_lock(&m->registry->lock);
	const double *x = &m->values[(size_t)s * values_per_series(m)];
	double v = 0;
	if (m->type == METRIC_HISTOGRAM)
		for (size_t b = 0; b <= m->n_buckets; b++)
			v += x[b];
	else
		v = *x;
	pthread_mutex_unlock(&m->registry->lock);
	return v;
}

int metrics_add_collector(MetricsRegistry *r, MetricsCollectFn fn, void *userdata)
{
	pthread_mutex_lock(&r->lock);
	Collector *c = reallocarray(r->collectors, r->n_collectors + 1, sizeof *c);
	if (c) {
		r->collectors = c;
		r->collectors[r->n_collectors++] = (Collector){ fn, userdata };
	}
	pthread_mutex_unlock(&r->lock);
	return c ? 0 : -ENOMEM;
}

/* ---- the text format ---- */

/* A sample value as Go's strconv.ParseFloat reads it: integers without an
 * exponent while exact, else the shortest form that reads back the same. */
static void write_number(FILE *f, double v)
{
	if (isnan(v))
		fputs("NaN", f);
	else if (isinf(v))
		fputs(v > 0 ? "+Inf" : "-Inf", f);
	else if (v == floor(v) && fabs(v) < 9007199254740992.0)
		fprintf(f, "%.0f", v);
	else {
		char buf[64];
		for (int prec = 6; prec <= 17; prec++) {
			snprintf(buf, sizeof buf, "%.*g", prec, v);
			if (strtod(buf, NULL) == v)
				break;
		}
		fputs(buf, f);
	}
}

/* HELP text: backslash and newline escaped; label values: also the double quote. */
static void write_escaped(FILE *f, const char *s, bool quote)
{
	for (; *s; s++) {
		if (*s == '\\')
			fputs("\\\\", f);
		else if (*s == '\n')
			fputs("\\n", f);
		else if (quote && *s == '"')
			fputs("\\\"", f);
		else
			fputc(*s, f);
	}
}

/* {a="x",b="y"[,le="..."]} for series s; nothing without labels or le. */
static void write_labels(FILE *f, const Metric *m, size_t s, const double *le, bool le_inf)
{
	size_t idx[METRICS_LABELS_MAX];
	for (size_t i = m->n_labels; i-- > 0;) {
		idx[i] = s % m->n_values[i];
		s /= m->n_values[i];
	}
	if (m->n_labels == 0 && !le && !le_inf)
		return;
	fputc('{', f);
	for (size_t i = 0; i < m->n_labels; i++) {
		fprintf(f, "%s%s=\"", i ? "," : "", m->label_names[i]);
		write_escaped(f, m->label_values[i][idx[i]], true);
		fputc('"', f);
	}
	if (le || le_inf) {
		fprintf(f, "%sle=\"", m->n_labels ? "," : "");
		if (le_inf)
			fputs("+Inf", f);
		else
			write_number(f, *le);
		fputc('"', f);
	}
	fputc('}', f);
}

static void write_metric(FILE *f, const Metric *m)
{
	fprintf(f, "# HELP %s ", m->name);
	write_escaped(f, m->help, false);
	fprintf(f, "\n# TYPE %s %s\n", m->name, metric_type_table[m->type]);
	for (size_t s = 0; s < m->n_series; s++) {
		const double *x = &m->values[s * values_per_series(m)];
		if (m->type != METRIC_HISTOGRAM) {
			fputs(m->name, f);
			write_labels(f, m, s, NULL, false);
			fputc(' ', f);
			write_number(f, *x);
			fputc('\n', f);
			continue;
		}
		double cumulative = 0;
		for (size_t b = 0; b <= m->n_buckets; b++) {
			cumulative += x[b];
			fprintf(f, "%s_bucket", m->name);
			write_labels(f, m, s, b < m->n_buckets ? &m->buckets[b] : NULL,
			             b == m->n_buckets);
			fputc(' ', f);
			write_number(f, cumulative);
			fputc('\n', f);
		}
		fprintf(f, "%s_sum", m->name);
		write_labels(f, m, s, NULL, false);
		fputc(' ', f);
		write_number(f, x[m->n_buckets + 1]);
		fprintf(f, "\n%s_count", m->name);
		write_labels(f, m, s, NULL, false);
		fputc(' ', f);
		write_number(f, cumulative);
		fputc('\n', f);
	}
}

int metrics_render(MetricsRegistry *r, char **ret, size_t *ret_size)
{
	char *buf = NULL;
	size_t size = 0;

	/* collectors update the registry, so they run before the lock is taken;
	 * they are only added at start, before anything renders */
	for (size_t i = 0; i < r->n_collectors; i++)
		r->collectors[i].fn(r, r->collectors[i].userdata);

	FILE *f = open_memstream(&buf, &size);
	if (!f)
		return -ENOMEM;
	pthread_mutex_lock(&r->lock);
	for (size_t i = 0; i < r->n_metrics; i++)
		write_metric(f, r->metrics[i]);
	pthread_mutex_unlock(&r->lock);
	if (fclose(f) != 0) {
		free(buf);
		return -ENOMEM;
	}
	*ret = buf;
	if (ret_size)
		*ret_size = size;
	return 0;
}
