/* collector.c — samples of a node: /proc readings turned into rates between
 * two samples, Podman's container list joined with its stats, the two
 * accounting sources, and the one-time CRIU probe. */
#include <fcntl.h>
#include <pthread.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "collector.h"
#include "log.h"
#include "strutil.h"
#include "time-util.h"

extern char **environ;

typedef struct PrevStats {
	char *id;
	uint64_t cpu_nano;
	uint64_t system_nano;
	uint64_t net_rx_bytes;
	uint64_t net_tx_bytes;
} PrevStats;

/* The thread that asks Podman. Rounds are numbered: a sample asks for round
 * `asked` + 1 only when `answered` caught up with `asked`, so one request
 * at most is ever under way, however long Podman takes. */
typedef struct Poller {
	pthread_t thread;
	bool started;
	pthread_mutex_t lock;
	pthread_cond_t cond; /* CLOCK_MONOTONIC: a round asked or answered, or quit */
	bool quit;
	atomic_bool cancel;   /* the poller's Podman requests stop */
	PodmanClient *podman; /* the poller's own (cancel stops only its requests) */
	uint64_t asked, answered;
	uint64_t asked_usec; /* monotonic: when the round under way was asked */
	char **busy;         /* collector_set_busy() */
	/* the last round's answer, written by the poller under `lock` */
	bool ok;
	char error[512];
	ContainerSample *containers;
	size_t n_containers;
	int64_t read_usec; /* wall clock */
	/* the poller thread's alone */
	PrevStats *prev_stats;
	size_t n_prev_stats;
} Poller;

struct Collector {
	CollectorOptions options;
	char *proc_root;
	unsigned machine_cpus;
	ProcStatCpu prev_cpu;
	NetDevCounters *prev_net;
	size_t n_prev_net;
	uint64_t prev_net_usec; /* monotonic */
	SampleRing recent;
	Poller poller;
};

const char *accounting_source_to_string(AccountingSource s)
{
	return s == ACCOUNTING_CONTAINERS ? "containers" : "host";
}

int accounting_source_from_string(const char *s)
{
	if (streq(s, "host"))
		return ACCOUNTING_HOST;
	if (streq(s, "containers"))
		return ACCOUNTING_CONTAINERS;
	return -EINVAL;
}

double stats_cpu_percent(uint64_t prev_cpu_nano, uint64_t prev_system_nano, uint64_t cpu_nano,
                         uint64_t system_nano)
{
	if (system_nano <= prev_system_nano || cpu_nano < prev_cpu_nano)
		return -1;
	return 100.0 * (double)(cpu_nano - prev_cpu_nano) /
	       (double)(system_nano - prev_system_nano);
}

double stats_net_rate(uint64_t prev_bytes, uint64_t prev_system_nano, uint64_t bytes,
                      uint64_t system_nano)
{
	if (system_nano <= prev_system_nano || bytes < prev_bytes)
		return -1;
	return (double)(bytes - prev_bytes) * 1e9 / (double)(system_nano - prev_system_nano);
}

double network_percent(double rx_rate, double tx_rate, uint64_t link_bandwidth)
{
	return link_bandwidth > 0 ? 100.0 * MAX(rx_rate, tx_rate) / (double)link_bandwidth : 0;
}

void sample_ring_push(SampleRing *r, const RecentSample *s)
{
	if (r->n < COLLECTOR_RECENT_MAX)
		r->items[(r->first + r->n++) % COLLECTOR_RECENT_MAX] = *s;
	else {
		r->items[r->first] = *s;
		r->first = (r->first + 1) % COLLECTOR_RECENT_MAX;
	}
}

size_t sample_ring_get(const SampleRing *r, RecentSample ret[static COLLECTOR_RECENT_MAX])
{
	for (size_t i = 0; i < r->n; i++)
		ret[i] = r->items[(r->first + i) % COLLECTOR_RECENT_MAX];
	return r->n;
}

static int read_proc(const Collector *c, const char *name, char **ret)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/%s", c->proc_root, name);
	return read_text_file(path, ret);
}

static int read_cpu(const Collector *c, ProcStatCpu *ret)
{
	_cleanup_free_ char *text = NULL;
	int r = read_proc(c, "stat", &text);
	return r < 0 ? r : proc_stat_parse(text, ret);
}

static int read_net(const Collector *c, NetDevCounters **ret, size_t *ret_n)
{
	_cleanup_free_ char *text = NULL;
	int r = read_proc(c, "net/dev", &text);
	return r < 0 ? r : proc_net_dev_parse(text, ret, ret_n);
}

static void prev_stats_clear(Poller *p)
{
	for (size_t i = 0; i < p->n_prev_stats; i++)
		free(p->prev_stats[i].id);
	free(p->prev_stats);
	p->prev_stats = NULL;
	p->n_prev_stats = 0;
}

static void container_samples_free(ContainerSample *cs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		container_sample_done(&cs[i]);
	free(cs);
}

static void *poller_main(void *userdata);

static int poller_start(Poller *p, const char *socket)
{
	pthread_condattr_t attr;
	int r;

	pthread_mutex_init(&p->lock, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&p->cond, &attr);
	pthread_condattr_destroy(&attr);
	if (!socket)
		return 0;
	if ((r = podman_client_new(socket, &(PodmanClientOptions){ .cancel = &p->cancel },
	                           &p->podman)) < 0)
		return r;
	if ((r = pthread_create(&p->thread, NULL, poller_main, p)) != 0)
		return -r;
	p->started = true;
	return 0;
}

static void poller_stop(Poller *p)
{
	if (p->started) {
		pthread_mutex_lock(&p->lock);
		p->quit = true;
		atomic_store(&p->cancel, true);
		pthread_cond_broadcast(&p->cond);
		pthread_mutex_unlock(&p->lock);
		pthread_join(p->thread, NULL);
		p->started = false;
	}
	p->podman = podman_client_free(p->podman);
	prev_stats_clear(p);
	container_samples_free(p->containers, p->n_containers);
	p->containers = NULL;
	p->n_containers = 0;
	strv_free(p->busy);
	p->busy = NULL;
	pthread_cond_destroy(&p->cond);
	pthread_mutex_destroy(&p->lock);
}

int collector_new(const CollectorOptions *options, Collector **ret)
{
	_cleanup_(collector_freep) Collector *c = calloc(1, sizeof(*c));
	int r;

	if (!c)
		return -ENOMEM;
	c->options = *options;
	if (!c->options.podman_wait_usec)
		c->options.podman_wait_usec = COLLECTOR_PODMAN_WAIT_USEC;
	if ((r = poller_start(&c->poller, options->podman_socket)) < 0)
		return r;
	c->options.podman_socket = NULL;
	if (!(c->proc_root = strdup(options->proc_root ?: "/proc")))
		return -ENOMEM;
	c->options.proc_root = NULL;
	if (options->source == ACCOUNTING_CONTAINERS &&
	    (!(options->capacity_cpus > 0) || options->capacity_memory == 0))
		return -EINVAL;
	if ((r = read_cpu(c, &c->prev_cpu)) < 0)
		return r;
	c->machine_cpus = c->prev_cpu.cpus;
	if ((r = read_net(c, &c->prev_net, &c->n_prev_net)) < 0)
		return r;
	c->prev_net_usec = now_usec(CLOCK_MONOTONIC);
	*ret = TAKE_PTR(c);
	return 0;
}

Collector *collector_free(Collector *c)
{
	if (!c)
		return NULL;
	poller_stop(&c->poller);
	free(c->prev_net);
	free(c->proc_root);
	free(c);
	return NULL;
}

void container_sample_done(ContainerSample *ct)
{
	if (!ct)
		return;
	free(ct->id);
	free(ct->name);
	free(ct->image);
	free(ct->state);
	strv_free(ct->labels);
	memset(ct, 0, sizeof(*ct));
}

int container_sample_copy(const ContainerSample *src, ContainerSample *ret)
{
	ContainerSample d = *src;
	d.id = d.name = d.image = d.state = NULL;
	d.labels = NULL;
	if ((src->id && !(d.id = strdup(src->id))) ||
	    (src->name && !(d.name = strdup(src->name))) ||
	    (src->image && !(d.image = strdup(src->image))) ||
	    (src->state && !(d.state = strdup(src->state))) ||
	    !(d.labels = calloc(strv_length(src->labels) + 1, sizeof(char *)))) {
		container_sample_done(&d);
		return -ENOMEM;
	}
	for (size_t i = 0; src->labels && src->labels[i]; i++)
		if (!(d.labels[i] = strdup(src->labels[i]))) {
			container_sample_done(&d);
			return -ENOMEM;
		}
	*ret = d;
	return 0;
}

void node_sample_free(NodeSample *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n_containers; i++)
		container_sample_done(&s->containers[i]);
	free(s->containers);
	free(s->interfaces);
	free(s);
}

static int sample_network(Collector *c, NodeSample *s)
{
	_cleanup_free_ NetDevCounters *devs = NULL;
	size_t n;
	int r = read_net(c, &devs, &n);
	if (r < 0)
		return r;
	uint64_t t = now_usec(CLOCK_MONOTONIC);
	double dt = (double)(t - c->prev_net_usec) / 1e6;

	s->interfaces = calloc(MAX(n, 1u), sizeof(InterfaceSample));
	if (!s->interfaces)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		if (streq(devs[i].name, "lo"))
			continue;
		InterfaceSample *is = &s->interfaces[s->n_interfaces++];
		memcpy(is->name, devs[i].name, sizeof(is->name));
		is->rx_bytes = devs[i].rx_bytes;
		is->tx_bytes = devs[i].tx_bytes;
		for (size_t k = 0; k < c->n_prev_net && dt > 0; k++)
			if (streq(c->prev_net[k].name, devs[i].name)) {
				/* counters that went back: the interface was recreated */
				if (devs[i].rx_bytes >= c->prev_net[k].rx_bytes)
					is->rx_rate = (double)(devs[i].rx_bytes -
					                       c->prev_net[k].rx_bytes) /
					              dt;
				if (devs[i].tx_bytes >= c->prev_net[k].tx_bytes)
					is->tx_rate = (double)(devs[i].tx_bytes -
					                       c->prev_net[k].tx_bytes) /
					              dt;
			}
		s->net_rx_rate += is->rx_rate;
		s->net_tx_rate += is->tx_rate;
	}
	free(c->prev_net);
	c->prev_net = TAKE_PTR(devs);
	c->n_prev_net = n;
	c->prev_net_usec = t;
	return 0;
}

/* A container's rates from its previous stats reading and this one. */
static void container_rates(const PrevStats *prev, const PodmanStats *st, ContainerSample *cs)
{
	double p =
	        stats_cpu_percent(prev->cpu_nano, prev->system_nano, st->cpu_nano, st->system_nano);
	if (p >= 0)
		cs->cpu_percent = p;
	double rx = stats_net_rate(prev->net_rx_bytes, prev->system_nano, st->net_rx_bytes,
	                           st->system_nano);
	double tx = stats_net_rate(prev->net_tx_bytes, prev->system_nano, st->net_tx_bytes,
	                           st->system_nano);
	cs->net_rx_rate = rx > 0 ? rx : 0;
	cs->net_tx_rate = tx > 0 ? tx : 0;
}

/* The questions of one round. With containers busy, only the others the
 * last round knew are named (Podman takes the lock of every container a
 * list or stats call touches, and a busy one's stays taken through its
 * checkpoint). */
static int poller_ask(Poller *p, char *const *busy, PodmanContainer **cts, size_t *n,
                      PodmanStats **st, size_t *n_st, bool *ret_narrowed, PodmanError *e)
{
	_cleanup_strv_free_ char **ids = NULL, **running = NULL;
	int r;

	/* Without a last answer there is nothing to go by but every container
	 * (the sample's wait bounds what that costs the status). */
	*ret_narrowed = busy && busy[0] && p->ok;
	if (!*ret_narrowed) {
		if ((r = podman_containers_list(p->podman, true, cts, n, e)) < 0)
			return r;
		return podman_containers_stats(p->podman, st, n_st, e);
	}
	for (size_t i = 0; i < p->n_containers; i++)
		if (!strv_contains(busy, p->containers[i].name) &&
		    (r = strv_push(&ids, p->containers[i].id)) < 0)
			return r;
	if (!ids)
		return 0;
	if ((r = podman_containers_list_ids(p->podman, ids, cts, n, e)) < 0)
		return r;
	for (size_t i = 0; i < *n; i++)
		if (streq_ptr((*cts)[i].state, "running") && !strv_contains(busy, (*cts)[i].name) &&
		    (r = strv_push(&running, (*cts)[i].id)) < 0)
			return r;
	if (!running)
		return 0;
	return podman_containers_stats_of(p->podman, running, st, n_st, e);
}

/* One round: the container list joined with its stats (rates from the
 * previous round), and, when the questions left the busy containers out,
 * their last readings, stale. */
static int poller_round(Poller *p, char *const *busy, ContainerSample **ret, size_t *ret_n,
                        PodmanError *e)
{
	PodmanContainer *cts = NULL;
	PodmanStats *st = NULL;
	size_t n = 0, n_st = 0, n_out = 0;
	int r;

	bool narrowed;
	r = poller_ask(p, busy, &cts, &n, &st, &n_st, &narrowed, e);
	if (!narrowed)
		busy = NULL; /* every container was answered for */
	if (r < 0) {
		podman_containers_free(cts, n);
		podman_stats_free(st, n_st);
		prev_stats_clear(p); /* rates restart when Podman is back */
		return r;
	}
	size_t n_busy = 0;
	for (size_t i = 0; i < p->n_containers; i++)
		n_busy += strv_contains(busy, p->containers[i].name);
	PrevStats *next = calloc(MAX(n_st, 1u), sizeof(PrevStats));
	ContainerSample *out = calloc(MAX(n + n_busy, 1u), sizeof(ContainerSample));
	if (!next || !out) {
		free(next);
		free(out);
		podman_containers_free(cts, n);
		podman_stats_free(st, n_st);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		if (strv_contains(busy, cts[i].name))
			continue; /* not asked about: its last reading follows */
		ContainerSample *cs = &out[n_out++];
		/* hand the strings over */
		cs->id = TAKE_PTR(cts[i].id);
		cs->name = TAKE_PTR(cts[i].name);
		cs->image = TAKE_PTR(cts[i].image);
		cs->state = TAKE_PTR(cts[i].state);
		cs->labels = TAKE_PTR(cts[i].labels);
		cs->started_at = cts[i].started_at;
		for (size_t k = 0; k < n_st; k++) {
			if (!streq(st[k].id, cs->id))
				continue;
			cs->has_stats = true;
			cs->cpu_percent = st[k].cpu_percent;
			for (size_t j = 0; j < p->n_prev_stats; j++)
				if (streq(p->prev_stats[j].id, cs->id))
					container_rates(&p->prev_stats[j], &st[k], cs);
			cs->mem_usage = st[k].mem_usage;
			cs->mem_limit = st[k].mem_limit;
			cs->pids = st[k].pids;
			cs->net_rx_bytes = st[k].net_rx_bytes;
			cs->net_tx_bytes = st[k].net_tx_bytes;
		}
	}
	for (size_t i = 0; i < p->n_containers && r >= 0; i++) {
		if (!strv_contains(busy, p->containers[i].name))
			continue;
		if ((r = container_sample_copy(&p->containers[i], &out[n_out])) >= 0)
			out[n_out++].stale = true;
	}
	size_t n_next = 0;
	for (size_t k = 0; k < n_st; k++) {
		next[n_next].id = TAKE_PTR(st[k].id);
		next[n_next].cpu_nano = st[k].cpu_nano;
		next[n_next].system_nano = st[k].system_nano;
		next[n_next].net_rx_bytes = st[k].net_rx_bytes;
		next[n_next].net_tx_bytes = st[k].net_tx_bytes;
		n_next++;
	}
	prev_stats_clear(p);
	p->prev_stats = next;
	p->n_prev_stats = n_next;
	podman_containers_free(cts, n);
	podman_stats_free(st, n_st);
	if (r < 0) {
		container_samples_free(out, n_out);
		return r;
	}
	*ret = out;
	*ret_n = n_out;
	return 0;
}

static void *poller_main(void *userdata)
{
	Poller *p = userdata;

	pthread_mutex_lock(&p->lock);
	for (;;) {
		while (!p->quit && p->answered == p->asked)
			pthread_cond_wait(&p->cond, &p->lock);
		if (p->quit)
			break;
		uint64_t round = p->asked;
		_cleanup_strv_free_ char **busy = NULL;
		int r = 0;
		for (size_t i = 0; p->busy && p->busy[i] && r >= 0; i++)
			r = strv_push(&busy, p->busy[i]);
		pthread_mutex_unlock(&p->lock);

		ContainerSample *cs = NULL;
		size_t n = 0;
		PodmanError e = {};
		if (r >= 0)
			r = poller_round(p, busy, &cs, &n, &e);
		if (r == -ENOMEM)
			snprintf(e.message, sizeof e.message, "out of memory");

		pthread_mutex_lock(&p->lock);
		container_samples_free(p->containers, p->n_containers);
		p->containers = cs;
		p->n_containers = n;
		p->ok = r >= 0;
		snprintf(p->error, sizeof p->error, "%s", r >= 0 ? "" : e.message);
		p->read_usec = (int64_t)now_usec(CLOCK_REALTIME);
		p->answered = round;
		pthread_cond_broadcast(&p->cond);
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

int collector_set_busy(Collector *c, char *const *names)
{
	Poller *p = &c->poller;
	_cleanup_strv_free_ char **copy = NULL;
	for (size_t i = 0; names && names[i]; i++)
		if (strv_push(&copy, names[i]) < 0)
			return -ENOMEM;
	pthread_mutex_lock(&p->lock);
	strv_free(p->busy);
	p->busy = TAKE_PTR(copy);
	pthread_mutex_unlock(&p->lock);
	return 0;
}

/* The containers from the poller's newest answer: the one to a question
 * asked now if it comes within podman_wait_usec, else the last, stale. */
static int sample_containers(Collector *c, bool query_podman, NodeSample *s)
{
	Poller *p = &c->poller;
	int r = 0;

	if (!p->started) {
		snprintf(s->podman_error, sizeof s->podman_error, "no Podman socket configured");
		return 0;
	}
	if (!query_podman) {
		snprintf(s->podman_error, sizeof s->podman_error, "Podman not asked this time");
		return 0;
	}
	pthread_mutex_lock(&p->lock);
	uint64_t now = now_usec(CLOCK_MONOTONIC);
	if (p->answered == p->asked) {
		p->asked++;
		p->asked_usec = now;
		pthread_cond_broadcast(&p->cond);
	}
	uint64_t round = p->asked, deadline = now + c->options.podman_wait_usec;
	struct timespec ts = { .tv_sec = (time_t)(deadline / USEC_PER_SEC),
		               .tv_nsec = (long)(deadline % USEC_PER_SEC) * 1000 };
	while (p->answered < round && pthread_cond_timedwait(&p->cond, &p->lock, &ts) == 0)
		;
	bool fresh = p->answered >= round;
	if (p->answered == 0) {
		snprintf(s->podman_error, sizeof s->podman_error,
		         "Podman at %s has not answered yet",
		         podman_client_get_socket_path(p->podman));
		goto out;
	}
	s->podman_ok = p->ok;
	s->containers_usec = p->read_usec;
	if (!p->ok) {
		snprintf(s->podman_error, sizeof s->podman_error, "%s", p->error);
		goto out;
	}
	if (!(s->containers = calloc(MAX(p->n_containers, 1u), sizeof(ContainerSample)))) {
		r = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < p->n_containers; i++) {
		if ((r = container_sample_copy(&p->containers[i], &s->containers[i])) < 0)
			goto out;
		s->n_containers++;
		s->containers[i].stale |= !fresh;
	}
	if (!fresh) {
		s->containers_stale = true;
		snprintf(s->podman_error, sizeof s->podman_error,
		         "Podman has not answered for %.1f s; the containers are as it last "
		         "reported them",
		         (double)(now_usec(CLOCK_MONOTONIC) - p->asked_usec) / 1e6);
	}
out:
	pthread_mutex_unlock(&p->lock);
	return r;
}

int collector_sample(Collector *c, bool query_podman, NodeSample **ret)
{
	_cleanup_(node_sample_freep) NodeSample *s = calloc(1, sizeof(*s));
	_cleanup_free_ char *loadavg = NULL, *meminfo = NULL;
	uint64_t mem_total, mem_available;
	ProcStatCpu cpu;
	int r;

	if (!s)
		return -ENOMEM;
	s->timestamp_usec = (int64_t)now_usec(CLOCK_REALTIME);
	s->source = c->options.source;
	s->link_bandwidth = c->options.link_bandwidth;
	if ((r = read_proc(c, "loadavg", &loadavg)) < 0 ||
	    (r = proc_loadavg_parse(loadavg, s->load)) < 0 ||
	    (r = read_proc(c, "meminfo", &meminfo)) < 0 ||
	    (r = proc_meminfo_parse(meminfo, &mem_total, &mem_available)) < 0 ||
	    (r = read_cpu(c, &cpu)) < 0)
		return r;
	double busy = cpu_busy_fraction(&c->prev_cpu, &cpu);
	c->prev_cpu = cpu;
	if ((r = sample_network(c, s)) < 0 || (r = sample_containers(c, query_podman, s)) < 0)
		return r;

	if (c->options.source == ACCOUNTING_HOST) {
		s->capacity_cpus =
		        c->options.capacity_cpus > 0 ? c->options.capacity_cpus : (double)cpu.cpus;
		s->capacity_memory = c->options.capacity_memory ?: mem_total;
		s->cpu_used = busy * (double)cpu.cpus;
		s->mem_used = mem_total - mem_available;
	} else {
		s->capacity_cpus = c->options.capacity_cpus;
		s->capacity_memory = c->options.capacity_memory;
		for (size_t i = 0; i < s->n_containers; i++) {
			s->cpu_used += s->containers[i].cpu_percent / 100.0;
			s->mem_used += s->containers[i].mem_usage;
		}
	}
	s->mem_available = s->capacity_memory > s->mem_used ? s->capacity_memory - s->mem_used : 0;
	s->cpu_percent = s->capacity_cpus > 0 ? 100.0 * s->cpu_used / s->capacity_cpus : 0;
	s->mem_percent = s->capacity_memory > 0
	                         ? 100.0 * (double)s->mem_used / (double)s->capacity_memory
	                         : 0;
	s->net_percent = network_percent(s->net_rx_rate, s->net_tx_rate, s->link_bandwidth);
	sample_ring_push(&c->recent, &(RecentSample){ .timestamp_usec = s->timestamp_usec,
	                                              .cpu_percent = s->cpu_percent,
	                                              .mem_percent = s->mem_percent,
	                                              .net_percent = s->net_percent });
	s->n_recent = sample_ring_get(&c->recent, s->recent);
	*ret = TAKE_PTR(s);
	return 0;
}

/* ---- CRIU ---- */

/* Runs argv; returns its exit status, or a negative errno if it could not be
 * run. With `out`, its stdout (first bytes) lands there. */
static int run_argv(char *const *argv, char *out, size_t out_size)
{
	posix_spawn_file_actions_t fa;
	int pipefd[2] = { -1, -1 };
	pid_t pid;
	int r, status;

	if (out && pipe2(pipefd, O_CLOEXEC) < 0)
		return -errno;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	if (out)
		posix_spawn_file_actions_adddup2(&fa, pipefd[1], 1);
	else
		posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	r = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (out)
		close(pipefd[1]);
	if (r != 0) {
		if (out)
			close(pipefd[0]);
		return -r;
	}
	if (out) {
		size_t n = 0;
		ssize_t k;
		while (n + 1 < out_size && (k = read(pipefd[0], out + n, out_size - n - 1)) > 0)
			n += (size_t)k;
		out[n] = 0;
		close(pipefd[0]);
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -errno;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int criu_probe(const char *criu_path, CriuFeatures *ret)
{
	CriuFeatures f = {};
	char *path = (char *)(criu_path ?: "/usr/sbin/criu");
	char out[256];

	if (access(path, X_OK) < 0) {
		log_debug("criu: %s not found: no checkpointing on this node", path);
		*ret = f;
		return 0;
	}
	int r = run_argv((char *const[]){ path, "--version", NULL }, out, sizeof out);
	if (r < 0)
		return r;
	const char *v = strstr(out, "Version:");
	if (v) {
		v += strlen("Version:");
		while (*v == ' ')
			v++;
		size_t n = strcspn(v, " \n");
		snprintf(f.version, sizeof f.version, "%.*s", (int)MIN(n, sizeof f.version - 1), v);
	}
	f.mem_dirty_track =
	        run_argv((char *const[]){ path, "check", "--feature", "mem_dirty_track", NULL },
	                 NULL, 0) == 0;
	f.uffd_noncoop =
	        run_argv((char *const[]){ path, "check", "--feature", "uffd-noncoop", NULL }, NULL,
	                 0) == 0;
	unsigned major = 0, minor = 0;
	f.ps_requests_64 = sscanf(f.version, "%u.%u", &major, &minor) == 2 &&
	                   (major > 4 || (major == 4 && minor >= 2));
	FILE *pipe_max = fopen("/proc/sys/fs/pipe-max-size", "re");
	unsigned long long pipe_bytes = 0;
	if (pipe_max && fscanf(pipe_max, "%llu", &pipe_bytes) == 1)
		f.pipe_max_size = pipe_bytes;
	if (pipe_max)
		fclose(pipe_max);
	f.probed = true;
	*ret = f;
	return 0;
}
