/* collector.h — a node's resource samples for the agent:
 * CPU, memory and load from one of two accounting sources, per-interface
 * network rates, per-container use from Podman's stats, and CRIU's features.
 *
 *   host        the machine: /proc/stat deltas, /proc/meminfo, /proc/loadavg;
 *               capacity = online CPUs and MemTotal (real hosts)
 *   containers  the node's own containers: CPU and memory are the sums over
 *               its containers (rates from Podman's cumulative counters), and
 *               the capacity is declared (local cluster nodes share a host)
 *
 * The /proc parsers are pure functions over text, so tests feed them copies
 * of real files. Samples are always measured, never made up. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "macro.h"
#include "podman.h"
#include "time-util.h"

/* ---- /proc parsers ---- */

typedef struct ProcStatCpu {
	uint64_t total; /* all jiffies of the aggregate "cpu" line */
	uint64_t idle;  /* idle + iowait */
	unsigned cpus;  /* number of "cpuN" lines */
} ProcStatCpu;

typedef struct NetDevCounters {
	char name[32];
	uint64_t rx_bytes;
	uint64_t tx_bytes;
} NetDevCounters;

int proc_stat_parse(const char *text, ProcStatCpu *ret);
int proc_loadavg_parse(const char *text, double ret[3]);
/* MemTotal and MemAvailable in bytes. */
int proc_meminfo_parse(const char *text, uint64_t *ret_total, uint64_t *ret_available);
/* Every interface of /proc/net/dev. */
int proc_net_dev_parse(const char *text, NetDevCounters **ret, size_t *ret_n);
/* Busy share of the CPU time between two readings, 0..1 (0 if no time passed). */
double cpu_busy_fraction(const ProcStatCpu *prev, const ProcStatCpu *cur);
/* Reads a whole (small, /proc) file; NUL-terminated. */
int read_text_file(const char *path, char **ret);

/* ---- CRIU ---- */

typedef struct CriuFeatures {
	bool probed;            /* criu ran */
	bool mem_dirty_track;   /* criu check --feature mem_dirty_track */
	bool uffd_noncoop;      /* criu check --feature uffd-noncoop */
	char version[32];       /* "4.2.1" or "" */
	uint64_t pipe_max_size; /* /proc/sys/fs/pipe-max-size; 0: unreadable */
	/* CRIU 4.2 or later: page-server requests of 32 bytes (64-bit page
	 * counts), the only form podmig's post-copy relay frames */
	bool ps_requests_64;
} CriuFeatures;

/* What CRIU's lazy dump needs of fs.pipe-max-size: it moves the pages it
 * serves through pipes of about 3.2 MiB, and a root without
 * CAP_SYS_RESOURCE (a container or a confined VM) cannot exceed the
 * setting, so the dump fails ("page-pipe: splice: Bad file descriptor"). */
#define CRIU_POST_COPY_PIPE_MIN (4u << 20)

/* Pre-copy needs dirty-memory tracking; lazy pages need uffd-noncoop. */
static inline bool criu_features_pre_copy(const CriuFeatures *f)
{
	return f->probed && f->mem_dirty_track;
}
static inline bool criu_features_lazy_pages(const CriuFeatures *f)
{
	return f->probed && f->uffd_noncoop;
}

/* Post-copy needs lazy pages and pipes as large as CRIU's lazy dump makes. */
static inline bool criu_features_post_copy(const CriuFeatures *f)
{
	return criu_features_lazy_pages(f) && f->ps_requests_64 &&
	       f->pipe_max_size >= CRIU_POST_COPY_PIPE_MIN;
}

/* Runs `criu` (a path; NULL: /usr/sbin/criu) with argv vectors. A missing
 * criu is not an error: probed stays false. */
int criu_probe(const char *criu_path, CriuFeatures *ret);

/* ---- samples ---- */

typedef enum AccountingSource {
	ACCOUNTING_HOST,
	ACCOUNTING_CONTAINERS,
} AccountingSource;

const char *accounting_source_to_string(AccountingSource s);
int accounting_source_from_string(const char *s); /* or -EINVAL */

/* ---- recent samples ----
 *
 * The agent publishes its last samples (`recent` in its status) so the scheduler sees a
 * sustained overload, not one spike. As many as the scheduler's longest window
 * (SCHED_SAMPLES_MAX in src/scheduler/scheduler.h). */
#define COLLECTOR_RECENT_MAX 16

typedef struct RecentSample {
	int64_t timestamp_usec; /* wall clock */
	double cpu_percent;     /* of capacity */
	double mem_percent;
	double net_percent; /* the busier direction, of the link bandwidth */
} RecentSample;

/* The last COLLECTOR_RECENT_MAX samples; a new one pushes the oldest out. */
typedef struct SampleRing {
	RecentSample items[COLLECTOR_RECENT_MAX];
	size_t first; /* index of the oldest */
	size_t n;
} SampleRing;

void sample_ring_push(SampleRing *r, const RecentSample *s);
/* Copies the samples oldest first into ret (room for COLLECTOR_RECENT_MAX); their count. */
size_t sample_ring_get(const SampleRing *r, RecentSample ret[static COLLECTOR_RECENT_MAX]);
/* max(rx, tx) in percent of the link bandwidth (0 if it is unknown). */
double network_percent(double rx_rate, double tx_rate, uint64_t link_bandwidth);

typedef struct ContainerSample {
	char *id;
	char *name;
	char *image;
	char *state;
	char **labels;      /* "key=value", never NULL */
	int64_t started_at; /* unix seconds, 0 if never */
	bool has_stats;     /* running, and Podman gave its stats */
	double cpu_percent; /* of one core */
	uint64_t mem_usage; /* bytes */
	uint64_t mem_limit;
	uint64_t pids;
	uint64_t net_rx_bytes; /* cumulative */
	uint64_t net_tx_bytes;
	double net_rx_rate; /* bytes/s between this and the previous sample; 0 the first time */
	double net_tx_rate;
	/* the last reading Podman gave (this agent is migrating the container
	 * away, or Podman has not answered this time): not a new one */
	bool stale;
} ContainerSample;

typedef struct InterfaceSample {
	char name[32];
	uint64_t rx_bytes; /* cumulative */
	uint64_t tx_bytes;
	double rx_rate; /* bytes/s since the previous sample */
	double tx_rate;
} InterfaceSample;

typedef struct NodeSample {
	int64_t timestamp_usec; /* wall clock */
	AccountingSource source;
	double capacity_cpus;
	uint64_t capacity_memory;
	double cpu_used;    /* cores in use */
	double cpu_percent; /* of capacity, 0..100 (may exceed 100 when a
	                       declared capacity is overrun) */
	uint64_t mem_used;
	uint64_t mem_available;
	double mem_percent;
	double load[3];
	InterfaceSample *interfaces; /* without "lo" */
	size_t n_interfaces;
	double net_rx_rate; /* bytes/s, summed over the interfaces */
	double net_tx_rate;
	uint64_t link_bandwidth; /* bytes/s, configured */
	double net_percent;      /* network_percent() of the rates above */
	bool podman_ok;          /* false: containers unknown, podman_error says why */
	char podman_error[512];
	/* Podman has not answered this sample's question in time: every
	 * container is as its last answer said (podman_error says since when) */
	bool containers_stale;
	int64_t containers_usec; /* wall clock of the newest reading used; 0: none */
	ContainerSample *containers;
	size_t n_containers;
	RecentSample recent[COLLECTOR_RECENT_MAX]; /* oldest first; the last is this one */
	size_t n_recent;
	uint64_t interval_usec; /* the sampling interval (set by the agent) */
} NodeSample;

void node_sample_free(NodeSample *s);
DEFINE_TRIVIAL_CLEANUP_FUNC(NodeSample *, node_sample_free);
void container_sample_done(ContainerSample *c);
/* A deep copy of src into *ret. */
int container_sample_copy(const ContainerSample *src, ContainerSample *ret);

/* How long a sample waits for Podman's answer by default. */
#define COLLECTOR_PODMAN_WAIT_USEC (500 * USEC_PER_MSEC)

typedef struct CollectorOptions {
	AccountingSource source;
	double capacity_cpus;      /* containers: declared; host: 0 = the machine's */
	uint64_t capacity_memory;  /* containers: declared; host: 0 = MemTotal */
	uint64_t link_bandwidth;   /* bytes/s */
	const char *proc_root;     /* NULL: "/proc" */
	const char *podman_socket; /* NULL: no container data */
	/* how long a sample waits for Podman (0: COLLECTOR_PODMAN_WAIT_USEC) */
	uint64_t podman_wait_usec;
} CollectorOptions;

typedef struct Collector Collector;

/* Takes the first /proc reading, so the first sample already has rates.
 * With a Podman socket, one thread of the collector's own asks Podman for
 * the containers and their stats, one request at a time, whenever a sample
 * wants them and it is not still busy with the last question: a Podman
 * call can block for minutes (Podman holds a container's lock through a
 * whole checkpoint), and neither a sample nor its node's status may wait
 * for it. collector_free() stops that thread within about a second. */
int collector_new(const CollectorOptions *options, Collector **ret);
Collector *collector_free(Collector *c);
DEFINE_TRIVIAL_CLEANUP_FUNC(Collector *, collector_free);

/* A new sample, taken within podman_wait_usec plus the /proc reads, whatever
 * Podman does. Podman being unreachable is not a failure of the sample
 * (podman_ok is false then, and in `containers` accounting the use is 0);
 * unreadable /proc files are. Podman not answering in time is not a
 * failure either: the containers are its last answer, containers_stale
 * and each one's stale set. !query_podman: leave Podman alone this time (a
 * caller backing off). */
int collector_sample(Collector *c, bool query_podman, NodeSample **ret);

/* The containers (names, NULL-terminated; NULL: none) this node is
 * migrating away. While a container is busy, the collector asks Podman only
 * about the other containers it knew (Podman would hold every question
 * that touches the container until its checkpoint ends) and reports the
 * busy one's last reading, stale; containers created meanwhile show up once
 * none is busy. */
int collector_set_busy(Collector *c, char *const *names);

/* Containers accounting: the CPU rate of a container from two stats
 * readings, in percent of one core; < 0 if they do not make a rate. */
double stats_cpu_percent(uint64_t prev_cpu_nano, uint64_t prev_system_nano, uint64_t cpu_nano,
                         uint64_t system_nano);
/* A container's network rate in bytes/s from two readings of a cumulative counter (the
 * stats' SystemNano as the clock); < 0 if they do not make a rate (no time passed, or the
 * counter went back: the container was restarted). */
double stats_net_rate(uint64_t prev_bytes, uint64_t prev_system_nano, uint64_t bytes,
                      uint64_t system_nano);
