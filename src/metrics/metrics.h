/* metrics.h — a registry of Prometheus counters, gauges and histograms, and
 * its rendering in the Prometheus text exposition format (version 0.0.4).
 *
 * Cardinality is bounded by construction: a metric declares each label's
 * every possible value when it is registered, and all of its series (the
 * product of the value sets, at most METRICS_SERIES_MAX) exist from then on,
 * starting at 0. An update naming a value outside the declared set changes
 * nothing and returns -EINVAL. So no migration id, container name or other
 * unbounded value can ever become a label.
 *
 * Thread-safe: updates and rendering take the registry's lock. Collect hooks
 * run before every rendering, outside the lock, to copy values kept elsewhere
 * (counters of src/rpc and src/etcd) into the registry. */
#pragma once

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "macro.h"

#define METRICS_LABELS_MAX  3
#define METRICS_SERIES_MAX  1024 /* per metric: the product of its label value sets */
#define METRICS_BUCKETS_MAX 32

/* The content type of what metrics_render() writes. */
#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

typedef enum MetricType {
	METRIC_COUNTER,   /* name ends in _total; only grows */
	METRIC_GAUGE,     /* goes up and down */
	METRIC_HISTOGRAM, /* _bucket{le=...}, _sum, _count */
	_METRIC_TYPE_MAX,
} MetricType;

typedef struct MetricLabel {
	const char *name;
	const char *const *values; /* every value it may take; NULL-terminated, not empty */
} MetricLabel;

typedef struct MetricDesc {
	MetricType type;
	const char *name; /* [a-zA-Z_:][a-zA-Z0-9_:]*, "podmig_" by convention */
	const char *help; /* one line */
	MetricLabel labels[METRICS_LABELS_MAX]; /* the first with name NULL ends them */
	const double *buckets; /* histograms: upper bounds, finite, strictly increasing */
	size_t n_buckets;      /* 1..METRICS_BUCKETS_MAX; +Inf is added */
} MetricDesc;

typedef struct MetricsRegistry MetricsRegistry;
typedef struct Metric Metric;

int metrics_registry_new(MetricsRegistry **ret);
MetricsRegistry *metrics_registry_free(MetricsRegistry *r);
DEFINE_TRIVIAL_CLEANUP_FUNC(MetricsRegistry *, metrics_registry_free);

/* Adds a metric (the registry owns it; strings in `d` are copied). -EINVAL if
 * a name, a label, the value sets or the buckets break the format's rules or
 * the bounds above (a counter's name must end in _total, a histogram may not
 * have a label "le"), -EEXIST if the name is taken. */
int metrics_register(MetricsRegistry *r, const MetricDesc *d, Metric **ret);

/* Updates: the label values follow `v`, one const char * per declared label,
 * in order. -EINVAL (and nothing changes) for a value outside a label's set,
 * a wrong metric type, a negative or non-finite counter increment, a NaN.
 *   metric_add:     counters (v >= 0) and gauges
 *   metric_set:     gauges; counters too, for values counted elsewhere, which
 *                   only grow (a smaller value is refused)
 *   metric_observe: histograms */
int metric_add(Metric *m, double v, ...);
int metric_set(Metric *m, double v, ...);
int metric_observe(Metric *m, double v, ...);
/* The current value of a counter or gauge series, or a histogram's count
 * (for tests); NAN if the label values are not in the sets. */
double metric_get(Metric *m, ...);

/* Called before every rendering, outside the registry's lock. */
typedef void (*MetricsCollectFn)(MetricsRegistry *r, void *userdata);
int metrics_add_collector(MetricsRegistry *r, MetricsCollectFn fn, void *userdata);

/* Every metric in registration order, as the text exposition format: # HELP
 * and # TYPE lines, then each series. *ret is NUL-terminated. */
int metrics_render(MetricsRegistry *r, char **ret, size_t *ret_size);
