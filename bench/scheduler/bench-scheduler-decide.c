/* bench-scheduler-decide — how long does one sched_decide() take on a large cluster?
 *
 * Synthetic views of 100, 1,000 and 10,000 nodes × 20 containers, about 5 % of the nodes
 * overloaded on CPU for the whole window, 1,000 past migrations and one under way. Each
 * size is timed under the default policy (2 migrations in the cluster: most overloaded nodes
 * are deferred) and with the cluster limit lifted (every overloaded node selects and places,
 * one migration per node), median of 5 runs, one core. Fixed seeds: the views are the same on
 * every run. Not a test: it asserts nothing. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "macro.h"
#include "scheduler.h"

#define SEC        1000000ull
#define NOW        (1800000000ull * SEC)
#define GIB        (1024.0 * 1024 * 1024)
#define CONTAINERS 20
#define SAMPLES    5
#define HISTORY    1000
#define RUNS       5

static uint64_t rng = 0x853c49e6748fea9bull;

static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static double uniform(double lo, double hi)
{
	return lo + (hi - lo) * (double)(rnd() >> 11) / 9007199254740992.0;
}

static double wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int node_name(char **ret, size_t i)
{
	return asprintf(ret, "node%zu", i) < 0 ? -ENOMEM : 0;
}

static int container_name(char **ret, size_t node, size_t k)
{
	return asprintf(ret, "c%zu-%zu", node, k) < 0 ? -ENOMEM : 0;
}

/* 16-core / 64 GiB / 10 Gb/s nodes at 15..60 % CPU and 20..60 % memory; every 20th node at
 * 85..99 % CPU; the load split among 20 containers. */
static int view_generate(size_t n_nodes, SchedView *ret)
{
	SchedView v = {};
	int r;

	v.nodes = calloc(n_nodes, sizeof(SchedNode));
	v.migrations = calloc(HISTORY + 1, sizeof(SchedMigration));
	if (!v.nodes || !v.migrations)
		goto oom;
	for (size_t i = 0; i < n_nodes; i++) {
		SchedNode *n = &v.nodes[i];
		bool hot = i % 20 == 7;
		double cpu = hot ? uniform(85, 99) : uniform(15, 60), mem = uniform(20, 60),
		       weights[CONTAINERS], total = 0;

		v.n_nodes++;
		r = node_name(&n->name, i);
		if (r < 0)
			goto oom;
		n->capacity[PLACEMENT_CPU] = 16;
		n->capacity[PLACEMENT_MEMORY] = 64 * GIB;
		n->capacity[PLACEMENT_NETWORK] = 1.25e9;
		n->used[PLACEMENT_CPU] = cpu / 100 * 16;
		n->used[PLACEMENT_MEMORY] = mem / 100 * 64 * GIB;
		n->used[PLACEMENT_NETWORK] = 0.05 * 1.25e9;
		n->interval_usec = SEC;
		n->samples = calloc(SAMPLES, sizeof(SchedSample));
		n->containers = calloc(CONTAINERS, sizeof(SchedContainer));
		if (!n->samples || !n->containers)
			goto oom;
		for (size_t k = 0; k < SAMPLES; k++)
			n->samples[k] = (SchedSample){
				.timestamp_usec = NOW - (SAMPLES - 1 - k) * SEC,
				.percent = { k + 1 == SAMPLES ? cpu : cpu + uniform(-2, 2), mem,
				             5 },
			};
		n->n_samples = SAMPLES;
		for (size_t k = 0; k < CONTAINERS; k++)
			total += weights[k] = uniform(0.2, 1.8);
		for (size_t k = 0; k < CONTAINERS; k++) {
			SchedContainer *c = &n->containers[k];

			n->n_containers++;
			r = container_name(&c->name, i, k);
			if (r < 0)
				goto oom;
			c->running = true;
			c->opt_out = k == 0;
			c->demand[PLACEMENT_CPU] = n->used[PLACEMENT_CPU] * weights[k] / total;
			c->demand[PLACEMENT_MEMORY] =
			        n->used[PLACEMENT_MEMORY] * weights[k] / total;
			c->demand[PLACEMENT_NETWORK] = 1e6;
			c->memory_bytes = c->demand[PLACEMENT_MEMORY];
		}
	}
	/* history: finished migrations over the last hour; and one under way */
	for (size_t k = 0; k < HISTORY + 1; k++) {
		SchedMigration *m = &v.migrations[v.n_migrations];
		size_t a = rnd() % n_nodes, b = rnd() % n_nodes, ct = rnd() % CONTAINERS;
		bool active = k >= HISTORY;

		v.n_migrations++;
		if (container_name(&m->container, a, ct) < 0 || node_name(&m->source, a) < 0 ||
		    node_name(&m->target, b == a ? (b + 1) % n_nodes : b) < 0)
			goto oom;
		m->state =
		        active ? SCHED_MIGRATION_ACTIVE
		               : (rnd() % 10 == 0 ? SCHED_MIGRATION_UNDONE : SCHED_MIGRATION_DONE);
		m->automatic = true;
		m->started_usec = NOW - (active ? 5 : 60 + rnd() % 3600) * SEC;
		m->ended_usec = active ? 0 : m->started_usec + 2 * SEC;
		m->downtime_sec = uniform(0.2, 2);
	}
	*ret = v;
	return 0;
oom:
	sched_view_done(&v);
	return -ENOMEM;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

typedef struct Row {
	double median_ms, worst_ms;
	size_t decisions, moves, outcomes[_SCHED_OUTCOME_MAX];
} Row;

static int measure(const SchedView *v, const SchedPolicy *p, Row *ret)
{
	double ms[RUNS];

	*ret = (Row){};
	for (unsigned k = 0; k < RUNS; k++) {
		_cleanup_sched_plan_ SchedPlan *plan = NULL;
		double t0 = wall_ms();
		int r = sched_decide(v, p, NOW, &plan);

		ms[k] = wall_ms() - t0;
		if (r < 0)
			return r;
		if (k > 0)
			continue;
		ret->decisions = plan->n_decisions;
		for (size_t i = 0; i < plan->n_decisions; i++) {
			ret->moves += plan->decisions[i].n_moves;
			ret->outcomes[plan->decisions[i].outcome]++;
		}
	}
	qsort(ms, RUNS, sizeof(double), cmp_double);
	ret->median_ms = ms[RUNS / 2];
	ret->worst_ms = ms[RUNS - 1];
	return 0;
}

static void help(void)
{
	printf("Usage: bench-scheduler-decide\n"
	       "\n"
	       "Times sched_decide() on synthetic clusters of 100 to 10,000 nodes.\n");
}

int main(int argc, char *argv[])
{
	static const struct option options[] = {
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	static const size_t sizes[] = { 100, 1000, 10000 };
	int c, r;

	log_set_program("bench-scheduler-decide");
	while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
		switch (c) {
		case 'h':
			help();
			return EXIT_SUCCESS;
		default:
			return 2;
		}

	printf("## Scheduler decision time (median of %d runs, ms, one core)\n\n", RUNS);
	printf("| nodes | containers | overloaded | policy | decisions | migrate / nothing-fits / "
	       "no-candidate / deferred | moves | median ms | worst ms |\n");
	printf("|---:|---:|---:|---|---:|---|---:|---:|---:|\n");
	for (size_t i = 0; i < ELEMENTSOF(sizes); i++) {
		_cleanup_(sched_view_done) SchedView v = {};

		r = view_generate(sizes[i], &v);
		if (r < 0)
			return log_error_errno(r, "cannot generate a view"), EXIT_FAILURE;
		for (int unlimited = 0; unlimited <= 1; unlimited++) {
			SchedPolicy p;
			Row row;

			sched_policy_init(&p);
			if (unlimited)
				p.max_concurrent = (unsigned)sizes[i];
			r = measure(&v, &p, &row);
			sched_policy_done(&p);
			if (r < 0)
				return log_error_errno(r, "sched_decide failed"), EXIT_FAILURE;
			printf("| %zu | %zu | %zu | %s | %zu | %zu / %zu / %zu / %zu | %zu | %.1f "
			       "| "
			       "%.1f |\n",
			       sizes[i], sizes[i] * CONTAINERS, sizes[i] / 20,
			       unlimited ? "no cluster limit" : "default (2 at once)",
			       row.decisions, row.outcomes[SCHED_OUTCOME_MIGRATE],
			       row.outcomes[SCHED_OUTCOME_NOTHING_FITS],
			       row.outcomes[SCHED_OUTCOME_NO_CANDIDATE],
			       row.outcomes[SCHED_OUTCOME_DEFERRED], row.moves, row.median_ms,
			       row.worst_ms);
			fflush(stdout);
		}
	}
	return EXIT_SUCCESS;
}
