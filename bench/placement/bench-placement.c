/* bench-placement — how good and how fast is each placement solver?
 *
 * 1. Quality on small instances (4..12 nodes × 1..6 containers, four families): ratio of each
 *    solver's objective to the exact optimum.
 * 2. Quality on large instances: ratio to the best objective any solver found.
 * 3. Decision time of the ant colony (and least-loaded) from 10 to 10,000 nodes and 1 to 50
 *    containers, one core.
 * 4. Leaving the greedy start: small bin-packing instances where the greedy start after local
 *    search is not optimal; how often the colony still reaches the optimum.
 * 5. Whole-process time of `podmig place` on named instances up to 100,000 nodes (reading and
 *    writing JSON are part of what a user waits for).
 * 6. Time limits of 1, 20 and 100 ms at 10,000, 100,000 and 1,000,000 nodes, every solver.
 * Prints Markdown tables and writes an SVG plot. Fixed seeds: the instances are the same on
 * every run; timings of course are not. Not a test: it asserts nothing. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "generate.h"
#include "log.h"
#include "macro.h"
#include "placement-json.h"
#include "placement.h"
#include "strutil.h"
#include "time-util.h"

typedef struct Contender {
	const char *label;
	PlacementSolver solver;
	bool greedy_start;
	bool local_search;
	unsigned budget; /* × the default iterations and stall limit */
} Contender;

/* least-loaded must stay at index 2 (the ">LL" column compares against it). aco-bare is the
 * ant system alone (no greedy start, no local search). aco-long is the colony with five times
 * the budget and another seed: on large instances, where no optimum is known, it shows how far
 * the default run is from convergence. */
static const Contender contenders[] = {
	{ "aco", PLACEMENT_SOLVER_ACO, true, true, 1 },
	{ "aco-no-greedy-start", PLACEMENT_SOLVER_ACO, false, true, 1 },
	{ "least-loaded", PLACEMENT_SOLVER_LEAST_LOADED, false, true, 1 },
	{ "best-fit", PLACEMENT_SOLVER_BEST_FIT, false, true, 1 },
	{ "random", PLACEMENT_SOLVER_RANDOM, false, true, 1 },
	{ "aco-bare", PLACEMENT_SOLVER_ACO, false, false, 1 },
	{ "aco-long", PLACEMENT_SOLVER_ACO, true, true, 5 },
};
#define N_CONTENDERS ELEMENTSOF(contenders)

typedef struct Quality {
	unsigned instances; /* with a proven optimum (or a best-found) */
	unsigned found[N_CONTENDERS];
	unsigned within_1pct[N_CONTENDERS];
	unsigned worse_than_ll[N_CONTENDERS];
	double sum_ratio[N_CONTENDERS];
	double max_ratio[N_CONTENDERS];
} Quality;

static int run(const PlacementInstance *p, const Contender *c, uint64_t seed, double *ret_obj,
               double *ret_ms)
{
	_cleanup_placement_result_ PlacementResult *res = NULL;
	PlacementOptions o;
	double t0;
	int r;

	placement_options_init(&o);
	o.seed = seed * c->budget;
	o.greedy_start = c->greedy_start;
	o.local_search = c->local_search;
	o.iterations *= c->budget;
	o.stall_limit *= c->budget;
	o.time_limit_ms = 10000;
	t0 = (mono_sec() * 1e3);
	r = placement_solve(p, c->solver, &o, &res);
	if (ret_ms)
		*ret_ms = (mono_sec() * 1e3) - t0;
	if (r < 0)
		return r;
	*ret_obj = placement_status_is_feasible(res->status) ? res->score.objective : HUGE_VAL;
	return 0;
}

static double ratio(double obj, double ref)
{
	if (obj == HUGE_VAL)
		return HUGE_VAL;
	if (ref <= 1e-12)
		return obj <= 1e-12 ? 1 : 1 + obj / 1e-12;
	return obj / ref;
}

static void quality_add(Quality *q, const double obj[N_CONTENDERS], double ref)
{
	q->instances++;
	for (size_t k = 0; k < N_CONTENDERS; k++) {
		double x = ratio(obj[k], ref);
		if (x == HUGE_VAL)
			continue;
		q->found[k]++;
		q->sum_ratio[k] += x;
		q->max_ratio[k] = MAX(q->max_ratio[k], x);
		q->within_1pct[k] += obj[k] <= ref * 1.01 + 1e-12;
		/* contenders[2] is least-loaded */
		q->worse_than_ll[k] += obj[2] != HUGE_VAL && obj[k] > obj[2] * (1 + 1e-12);
	}
}

static void quality_print(const char *title, const char *ref_name, Quality q[_FAMILY_MAX], FILE *md)
{
	fprintf(md, "\n### %s\n\n", title);
	fprintf(md,
	        "Ratio = objective / %s; mean and worst over the instances the solver "
	        "solved; \"≤1%%\" = share of all instances within 1%% of it; \"found\" = "
	        "share with a feasible answer; \">LL\" = instances worse than least-loaded.\n\n",
	        ref_name);
	fprintf(md, "| family | n | solver | mean ratio | worst ratio | ≤1%% | found | >LL |\n");
	fprintf(md, "|---|---:|---|---:|---:|---:|---:|---:|\n");
	for (int f = 0; f < _FAMILY_MAX; f++)
		for (size_t k = 0; k < N_CONTENDERS; k++) {
			const Quality *x = &q[f];
			if (x->instances == 0)
				continue;
			fprintf(md, "| %s | %u | %s | %.4f | %.4f | %.1f%% | %.1f%% | %u |\n",
			        family_to_string(f), x->instances, contenders[k].label,
			        x->found[k] ? x->sum_ratio[k] / x->found[k] : NAN,
			        x->found[k] ? x->max_ratio[k] : NAN,
			        100.0 * x->within_1pct[k] / x->instances,
			        100.0 * x->found[k] / x->instances, x->worse_than_ll[k]);
		}
}

static int bench_small(unsigned per_family, Quality q[_FAMILY_MAX], unsigned *skipped)
{
	for (int f = 0; f < _FAMILY_MAX; f++)
		for (unsigned i = 0; i < per_family; i++) {
			_cleanup_placement_instance_ PlacementInstance *p = NULL;
			_cleanup_placement_result_ PlacementResult *ex = NULL;
			size_t n = 4 + i % 9, m = 1 + (i / 9) % 6;
			double obj[N_CONTENDERS];
			PlacementOptions o;
			int r;

			r = instance_generate(f, n, m, 1000 + i, &p);
			if (r < 0)
				return r;
			placement_options_init(&o);
			o.time_limit_ms = 20000;
			r = placement_solve(p, PLACEMENT_SOLVER_EXACT, &o, &ex);
			if (r < 0)
				return r;
			if (ex->status != PLACEMENT_STATUS_OPTIMAL) {
				(*skipped)++; /* proven infeasible, or out of budget */
				continue;
			}
			for (size_t k = 0; k < N_CONTENDERS; k++) {
				r = run(p, &contenders[k], 1 + i, &obj[k], NULL);
				if (r < 0)
					return r;
			}
			quality_add(&q[f], obj, ex->score.objective);
		}
	return 0;
}

static int bench_large(const size_t (*sizes)[2], size_t n_sizes, unsigned per_size,
                       Quality q[_FAMILY_MAX])
{
	for (int f = 0; f < _FAMILY_MAX; f++)
		for (size_t s = 0; s < n_sizes; s++)
			for (unsigned i = 0; i < per_size; i++) {
				_cleanup_placement_instance_ PlacementInstance *p = NULL;
				double obj[N_CONTENDERS], best = HUGE_VAL;
				int r;

				r = instance_generate(f, sizes[s][0], sizes[s][1], 5000 + i, &p);
				if (r < 0)
					return r;
				for (size_t k = 0; k < N_CONTENDERS; k++) {
					r = run(p, &contenders[k], 1 + i, &obj[k], NULL);
					if (r < 0)
						return r;
					best = MIN(best, obj[k]);
				}
				if (best < HUGE_VAL)
					quality_add(&q[f], obj, best);
			}
	return 0;
}

static const size_t time_nodes[] = { 10, 100, 1000, 10000 };
static const size_t time_containers[] = { 1, 5, 10, 20, 50 };
#define N_TN ELEMENTSOF(time_nodes)
#define N_TC ELEMENTSOF(time_containers)

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* Median and worst decision time (ms) per size, over `reps` instances of each family. */
static int bench_time(unsigned reps, double med[N_TN][N_TC], double worst[N_TN][N_TC],
                      double ll_med[N_TN][N_TC])
{
	_cleanup_free_ double *t = calloc(reps * _FAMILY_MAX, sizeof(double));
	_cleanup_free_ double *tl = calloc(reps * _FAMILY_MAX, sizeof(double));
	if (!t || !tl)
		return -ENOMEM;

	for (size_t a = 0; a < N_TN; a++)
		for (size_t b = 0; b < N_TC; b++) {
			size_t k = 0;
			for (int f = 0; f < _FAMILY_MAX; f++)
				for (unsigned i = 0; i < reps; i++, k++) {
					_cleanup_placement_instance_ PlacementInstance *p = NULL;
					double obj;
					int r;

					r = instance_generate(f, time_nodes[a], time_containers[b],
					                      9000 + i, &p);
					if (r < 0)
						return r;
					r = run(p, &contenders[0], 1 + i, &obj, &t[k]);
					if (r < 0)
						return r;
					r = run(p, &contenders[2], 1 + i, &obj, &tl[k]);
					if (r < 0)
						return r;
				}
			qsort(t, k, sizeof(double), cmp_double);
			qsort(tl, k, sizeof(double), cmp_double);
			med[a][b] = t[k / 2];
			worst[a][b] = t[k - 1];
			ll_med[a][b] = tl[k / 2];
		}
	return 0;
}

static void time_print(double med[N_TN][N_TC], double worst[N_TN][N_TC], double ll_med[N_TN][N_TC],
                       unsigned reps, FILE *md)
{
	fprintf(md, "\n### Decision time (ms, one core; %u instances per cell)\n\n",
	        reps * _FAMILY_MAX);
	fprintf(md, "Ant colony median / worst, least-loaded median in brackets.\n\n");
	fprintf(md, "| nodes \\ containers |");
	for (size_t b = 0; b < N_TC; b++)
		fprintf(md, " %zu |", time_containers[b]);
	fprintf(md, "\n|---:|");
	for (size_t b = 0; b < N_TC; b++)
		fprintf(md, "---:|");
	fprintf(md, "\n");
	for (size_t a = 0; a < N_TN; a++) {
		fprintf(md, "| %zu |", time_nodes[a]);
		for (size_t b = 0; b < N_TC; b++)
			fprintf(md, " %.2f / %.2f (%.2f) |", med[a][b], worst[a][b], ll_med[a][b]);
		fprintf(md, "\n");
	}
}

typedef struct Escape {
	unsigned instances;   /* with a proven optimum */
	unsigned trapped;     /* the polished greedy start is not optimal */
	unsigned start_found; /* ... of which the greedy start found a placement */
	unsigned reached;     /* ... and the colony reached the optimum anyway */
	unsigned within_1pct;
	double worst_ratio; /* of the colony, over the trapped instances */
	double start_mean_ratio;
} Escape;

/* Instances where the colony has to leave its greedy start: compare the greedy start alone
 * (iterations = 0), the default colony and the exact optimum. */
static int bench_escape(unsigned count, Escape *e)
{
	for (unsigned i = 0; i < count; i++) {
		_cleanup_placement_instance_ PlacementInstance *p = NULL;
		_cleanup_placement_result_ PlacementResult *ex = NULL, *start = NULL, *aco = NULL;
		PlacementOptions o;
		int r;

		r = instance_generate_packing(i, &p);
		if (r < 0)
			return r;
		placement_options_init(&o);
		r = placement_solve(p, PLACEMENT_SOLVER_EXACT, &o, &ex);
		if (r < 0)
			return r;
		if (ex->status != PLACEMENT_STATUS_OPTIMAL)
			continue;
		e->instances++;
		o.iterations = 0;
		r = placement_solve(p, PLACEMENT_SOLVER_ACO, &o, &start);
		if (r < 0)
			return r;
		double opt = ex->score.objective;
		double s = placement_status_is_feasible(start->status) ? start->score.objective
		                                                       : HUGE_VAL;
		if (s <= opt * (1 + 1e-9))
			continue;
		e->trapped++;
		if (s < HUGE_VAL) {
			e->start_found++;
			e->start_mean_ratio += s / opt;
		}
		placement_options_init(&o);
		o.seed = 1 + i;
		r = placement_solve(p, PLACEMENT_SOLVER_ACO, &o, &aco);
		if (r < 0)
			return r;
		double a =
		        placement_status_is_feasible(aco->status) ? aco->score.objective : HUGE_VAL;
		e->reached += a <= opt * (1 + 1e-9);
		e->within_1pct += a <= opt * 1.01;
		e->worst_ratio = MAX(e->worst_ratio, a / opt);
	}
	return 0;
}

static void escape_print(const Escape *e, FILE *md)
{
	fprintf(md, "\n### Leaving the greedy start (bin packing, 3–7 nodes × 4–6 containers)\n\n");
	fprintf(md,
	        "Instances with a proven optimum where the greedy start after local search "
	        "(`iterations = 0`) is above it, and how often the default colony still reaches "
	        "the optimum.\n\n");
	fprintf(md, "| instances | greedy start not optimal | its mean ratio (when found) | "
	            "colony reaches optimum | within 1%% | colony worst ratio |\n");
	fprintf(md, "|---:|---:|---:|---:|---:|---:|\n");
	fprintf(md, "| %u | %u (%.1f%%) | %.4f | %u (%.1f%%) | %u (%.1f%%) | %.4f |\n",
	        e->instances, e->trapped, 100.0 * e->trapped / MAX(e->instances, 1u),
	        e->start_found ? e->start_mean_ratio / e->start_found : NAN, e->reached,
	        100.0 * e->reached / MAX(e->trapped, 1u), e->within_1pct,
	        100.0 * e->within_1pct / MAX(e->trapped, 1u), e->trapped ? e->worst_ratio : NAN);
}

static const size_t process_sizes[][2] = { { 1000, 20 }, { 10000, 50 }, { 100000, 100 } };
#define N_PROCESS ELEMENTSOF(process_sizes)

typedef struct ProcessTime {
	double median_ms, worst_ms, solver_ms, bytes;
} ProcessTime;

/* Wall time of one `podmig place --instance path` with its output in `out_path`. */
static int spawn_place(const char *podmig, const char *path, const char *out_path, double *ret_ms)
{
	char *argv[] = { (char *)podmig, (char *)"place", (char *)"--instance", (char *)path,
		         NULL };
	posix_spawn_file_actions_t fa;
	pid_t pid;
	int status, r;

	r = posix_spawn_file_actions_init(&fa);
	if (r != 0)
		return -r;
	/* The child's stdout: must survive the exec, so no O_CLOEXEC. */
	r = posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, out_path,
	                                     O_WRONLY | O_CREAT | O_TRUNC, 0600);
	double t0 = mono_sec() * 1e3;
	if (r == 0)
		r = posix_spawn(&pid, podmig, &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (r != 0)
		return -r;
	if (waitpid(pid, &status, 0) < 0)
		return negative_errno();
	*ret_ms = mono_sec() * 1e3 - t0;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return log_error_errno(EIO, "%s place --instance %s failed", podmig, path);
	return 0;
}

/* Named instances (uniform family) written as JSON, solved by `podmig place` as a user runs
 * it: parse, solve, write. */
static int bench_process(const char *podmig, unsigned reps, ProcessTime t[N_PROCESS])
{
	char dir[] = "/tmp/bench-placement-XXXXXX";
	_cleanup_free_ double *ms = calloc(reps, sizeof(double));
	int r = 0;

	if (!ms)
		return -ENOMEM;
	if (!mkdtemp(dir))
		return negative_errno();
	for (size_t k = 0; k < N_PROCESS && r >= 0; k++) {
		_cleanup_placement_instance_ PlacementInstance *p = NULL;
		_cleanup_placement_json_ json_t *j = NULL, *out = NULL;
		_cleanup_free_ char *path = NULL, *out_path = NULL;

		r = instance_generate(FAMILY_UNIFORM, process_sizes[k][0], process_sizes[k][1],
		                      7000, &p);
		if (r < 0)
			break;
		for (size_t n = 0; n < p->n_nodes && r >= 0; n++)
			if (asprintf(&p->nodes[n].name, "node-%05zu", n) < 0)
				r = -ENOMEM;
		for (size_t c = 0; c < p->n_containers && r >= 0; c++)
			if (asprintf(&p->containers[c].name, "container-%03zu", c) < 0)
				r = -ENOMEM;
		if (r < 0)
			break;
		if (asprintf(&path, "%s/%zux%zu.json", dir, p->n_nodes, p->n_containers) < 0 ||
		    asprintf(&out_path, "%s/out.json", dir) < 0) {
			r = -ENOMEM;
			break;
		}
		j = placement_instance_to_json(p);
		if (!j || json_dump_file(j, path, JSON_COMPACT) < 0) {
			r = -EIO;
			break;
		}
		for (unsigned i = 0; i < reps && r >= 0; i++)
			r = spawn_place(podmig, path, out_path, &ms[i]);
		if (r < 0) {
			unlink(path);
			break;
		}
		out = json_load_file(out_path, 0, NULL);
		qsort(ms, reps, sizeof(double), cmp_double);
		t[k] = (ProcessTime){
			.median_ms = ms[reps / 2],
			.worst_ms = ms[reps - 1],
			.solver_ms = json_real_value(json_object_get(out, "elapsed_ms")),
		};
		struct stat st;
		if (stat(path, &st) == 0)
			t[k].bytes = (double)st.st_size;
		unlink(path);
		unlink(out_path);
	}
	rmdir(dir);
	return r;
}

static void process_print(const ProcessTime t[N_PROCESS], unsigned reps, FILE *md)
{
	static const double target_ms[N_PROCESS] = { 50, 200, 2000 };

	fprintf(md, "\n### Whole process: `podmig place` on named instances (%u runs each)\n\n",
	        reps);
	fprintf(md,
	        "Wall time from spawn to exit (read and parse the file, solve with the ant "
	        "colony, write the result); the solver's own `elapsed_ms` from the last run.\n\n");
	fprintf(md, "| nodes × containers | file | process median | worst | solver | target |\n");
	fprintf(md, "|---|---:|---:|---:|---:|---:|\n");
	for (size_t k = 0; k < N_PROCESS; k++)
		fprintf(md, "| %zu × %zu | %.1f MB | %.1f ms | %.1f ms | %.1f ms | < %.0f ms |\n",
		        process_sizes[k][0], process_sizes[k][1], t[k].bytes / 1e6, t[k].median_ms,
		        t[k].worst_ms, t[k].solver_ms, target_ms[k]);
}

/* Time limits: every solver at every size, the limit against the wall time of the call. */
static const size_t limit_sizes[][2] = { { 10000, 50 }, { 100000, 100 }, { 1000000, 100 } };
static const double limit_ms[] = { 1, 20, 100 };
#define N_LS ELEMENTSOF(limit_sizes)
#define N_LM ELEMENTSOF(limit_ms)

typedef struct LimitTime {
	double worst_median_ms; /* the slowest solver's median */
	const char *worst_solver;
	unsigned answered; /* solvers that returned a placement */
} LimitTime;

static int bench_limits(unsigned reps, LimitTime t[N_LS][N_LM])
{
	for (size_t a = 0; a < N_LS; a++) {
		_cleanup_placement_instance_ PlacementInstance *p = NULL;
		int r = instance_generate(FAMILY_UNIFORM, limit_sizes[a][0], limit_sizes[a][1], 77,
		                          &p);
		if (r < 0)
			return r;
		for (size_t b = 0; b < N_LM; b++)
			for (int s = 0; s < _PLACEMENT_SOLVER_MAX; s++) {
				double ms[9];
				bool found = false;
				if (s == PLACEMENT_SOLVER_EXACT &&
				    p->n_nodes * p->n_containers > PLACEMENT_EXACT_CELLS_MAX)
					continue;
				for (unsigned k = 0; k < reps; k++) {
					_cleanup_placement_result_ PlacementResult *res = NULL;
					PlacementOptions o;
					placement_options_init(&o);
					o.time_limit_ms = limit_ms[b];
					o.iterations = o.stall_limit = 100000;
					double t0 = mono_sec() * 1e3;
					r = placement_solve(p, s, &o, &res);
					ms[k] = mono_sec() * 1e3 - t0;
					if (r < 0)
						return r;
					found = placement_status_is_feasible(res->status);
				}
				qsort(ms, reps, sizeof(double), cmp_double);
				if (ms[reps / 2] > t[a][b].worst_median_ms) {
					t[a][b].worst_median_ms = ms[reps / 2];
					t[a][b].worst_solver = placement_solver_to_string(s);
				}
				t[a][b].answered += found;
			}
	}
	return 0;
}

static void limits_print(const LimitTime t[N_LS][N_LM], unsigned reps, FILE *md)
{
	fprintf(md, "\n### Time limits (median of %u calls per solver)\n\n", reps);
	fprintf(md, "The slowest solver's median wall time of `placement_solve()` against the "
	            "limit (bound: limit × 1.1 + 5 ms), and how many solvers returned a "
	            "placement within it.\n\n");
	fprintf(md, "| nodes × containers | limit | slowest median | solver | bound | placed |\n");
	fprintf(md, "|---|---:|---:|---|---:|---:|\n");
	for (size_t a = 0; a < N_LS; a++)
		for (size_t b = 0; b < N_LM; b++)
			fprintf(md, "| %zu × %zu | %.0f ms | %.1f ms | %s | %s | %u |\n",
			        limit_sizes[a][0], limit_sizes[a][1], limit_ms[b],
			        t[a][b].worst_median_ms, t[a][b].worst_solver ?: "-",
			        t[a][b].worst_median_ms <= limit_ms[b] * 1.1 + 5 ? "held"
			                                                         : "**over**",
			        t[a][b].answered);
}

/* Two panels: decision time vs nodes (log-log, one line per container count) and the share of
 * small instances within 1% of the optimum per family and solver. */
static int svg_write(const char *path, double med[N_TN][N_TC], Quality small[_FAMILY_MAX])
{
	static const char *const colors[] = { "#1b9e77", "#d95f02", "#7570b3", "#e7298a",
		                              "#66a61e", "#a6761d", "#666666" };
	_cleanup_fclose_ FILE *f = fopen(path, "we");
	const double W = 1100, H = 460, px = 70, py = 40, pw = 400, ph = 340;
	const double qx = 600, qw = 460;

	if (!f)
		return negative_errno();
	fprintf(f,
	        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
	        "font-family=\"sans-serif\" font-size=\"12\">\n",
	        W, H);
	fprintf(f, "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n");

	/* Left: time, x = log10(nodes) in [1, 4], y = log10(ms) in [-3, 3]. */
	fprintf(f,
	        "<text x=\"%.0f\" y=\"20\" font-size=\"14\">Ant colony decision time "
	        "(median, ms)</text>\n",
	        px);
	fprintf(f,
	        "<rect x=\"%.0f\" y=\"%.0f\" width=\"%.0f\" height=\"%.0f\" fill=\"none\" "
	        "stroke=\"#444\"/>\n",
	        px, py, pw, ph);
#define TX(n)  (px + (log10(n) - 1) / 3 * pw)
#define TY(ms) (py + ph - (log10(MAX(ms, 1e-3)) + 3) / 6 * ph)
	for (int e = -3; e <= 3; e++) {
		fprintf(f,
		        "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>\n",
		        px, px + pw, TY(pow(10, e)), TY(pow(10, e)));
		fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%g</text>\n", px - 5,
		        TY(pow(10, e)) + 4, pow(10, e));
	}
	for (size_t a = 0; a < N_TN; a++)
		fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%zu</text>\n",
		        TX(time_nodes[a]), py + ph + 16, time_nodes[a]);
	fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">nodes</text>\n", px + pw / 2,
	        py + ph + 34);
	/* Targets: 50 ms at 1,000 nodes × 20, 1 s at 10,000 nodes. */
	fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"5\" fill=\"none\" stroke=\"red\"/>\n",
	        TX(1000), TY(50));
	fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"5\" fill=\"none\" stroke=\"red\"/>\n",
	        TX(10000), TY(1000));
	fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" fill=\"red\">targets</text>\n", TX(1000) + 8,
	        TY(50) - 6);
	for (size_t b = 0; b < N_TC; b++) {
		fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" points=\"",
		        colors[b % ELEMENTSOF(colors)]);
		for (size_t a = 0; a < N_TN; a++)
			fprintf(f, "%.1f,%.1f ", TX(time_nodes[a]), TY(med[a][b]));
		fprintf(f, "\"/>\n");
		fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" fill=\"%s\">%zu containers</text>\n",
		        px + 8, py + 16 + 15 * (double)b, colors[b % ELEMENTSOF(colors)],
		        time_containers[b]);
	}
#undef TX
#undef TY

	/* Right: grouped bars, share within 1% of optimum. */
	fprintf(f,
	        "<text x=\"%.0f\" y=\"20\" font-size=\"14\">Small instances within 1%% of the "
	        "optimum (%%)</text>\n",
	        qx);
	fprintf(f,
	        "<rect x=\"%.0f\" y=\"%.0f\" width=\"%.0f\" height=\"%.0f\" fill=\"none\" "
	        "stroke=\"#444\"/>\n",
	        qx, py, qw, ph);
	for (int v = 0; v <= 100; v += 25) {
		double y = py + ph - v / 100.0 * ph;
		fprintf(f,
		        "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>\n",
		        qx, qx + qw, y, y);
		fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%d</text>\n", qx - 5,
		        y + 4, v);
	}
	double group = qw / _FAMILY_MAX, bar = group * 0.8 / N_CONTENDERS;
	for (int fam = 0; fam < _FAMILY_MAX; fam++) {
		double gx = qx + group * fam + group * 0.1;
		for (size_t k = 0; k < N_CONTENDERS; k++) {
			double v = small[fam].instances ? 100.0 * small[fam].within_1pct[k] /
			                                          small[fam].instances
			                                : 0;
			double h = v / 100 * ph;
			fprintf(f,
			        "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" "
			        "fill=\"%s\"><title>%s %s: %.1f%%</title></rect>\n",
			        gx + bar * (double)k, py + ph - h, bar - 1, h,
			        colors[k % ELEMENTSOF(colors)], family_to_string(fam),
			        contenders[k].label, v);
		}
		fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s</text>\n",
		        gx + group * 0.4, py + ph + 16, family_to_string(fam));
	}
	for (size_t k = 0; k < N_CONTENDERS; k++)
		fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" fill=\"%s\">%s</text>\n",
		        qx + 10 + 150 * (double)(k % 3), py + ph + 36 + 15 * (double)(k / 3),
		        colors[k % ELEMENTSOF(colors)], contenders[k].label);
	fprintf(f, "</svg>\n");
	return fflush(f) == 0 ? 0 : negative_errno();
}

static void help(void)
{
	printf("Usage: bench-placement [--full] [--svg FILE] [--podmig PATH]\n"
	       "\n"
	       "Measures placement quality against the exact optimum, decision time and the\n"
	       "whole-process time of `podmig place`.\n"
	       "  --full         More instances (about 45 s); default is a quick run (about 10 s)\n"
	       "  --svg FILE     Where to write the plot (default: next to this program)\n"
	       "  --podmig PATH  The podmig binary (default: src/cli/podmig of this build tree)\n");
}

int main(int argc, char *argv[])
{
	enum { ARG_FULL = 0x100, ARG_SVG, ARG_PODMIG };
	static const struct option options[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "full", no_argument, NULL, ARG_FULL },
		{ "quick", no_argument, NULL, 'q' },
		{ "svg", required_argument, NULL, ARG_SVG },
		{ "podmig", required_argument, NULL, ARG_PODMIG },
		{},
	};
	static const size_t large_quick[][2] = { { 200, 10 }, { 1000, 20 } };
	static const size_t large_full[][2] = { { 200, 10 }, { 1000, 20 }, { 10000, 50 } };
	Quality small[_FAMILY_MAX] = {}, large[_FAMILY_MAX] = {};
	double med[N_TN][N_TC], worst[N_TN][N_TC], ll_med[N_TN][N_TC];
	_cleanup_free_ char *svg_default = NULL, *podmig_default = NULL;
	const char *svg = NULL, *podmig = NULL;
	ProcessTime process[N_PROCESS] = {};
	Escape escape = {};
	bool full = false;
	unsigned skipped = 0;
	int c, r;

	log_set_program("bench-placement");
	while ((c = getopt_long(argc, argv, "hq", options, NULL)) >= 0)
		switch (c) {
		case 'h':
			help();
			return EXIT_SUCCESS;
		case ARG_FULL:
			full = true;
			break;
		case 'q':
			full = false;
			break;
		case ARG_SVG:
			svg = optarg;
			break;
		case ARG_PODMIG:
			podmig = optarg;
			break;
		default:
			return 2;
		}

	if (!svg) {
		/* Next to the executable (the build tree), not in whatever directory we run in. */
		const char *slash = strrchr(argv[0], '/');
		int len = slash ? (int)(slash - argv[0]) : 1;
		if (asprintf(&svg_default, "%.*s/bench-placement.svg", len, slash ? argv[0] : ".") <
		    0)
			return log_error("out of memory"), EXIT_FAILURE;
		svg = svg_default;
	}
	if (!podmig) {
		/* build/bench/placement/bench-placement → build/src/cli/podmig */
		const char *slash = strrchr(argv[0], '/');
		int len = slash ? (int)(slash - argv[0]) : 1;
		if (asprintf(&podmig_default, "%.*s/../../src/cli/podmig", len,
		             slash ? argv[0] : ".") < 0)
			return log_error("out of memory"), EXIT_FAILURE;
		podmig = podmig_default;
	}

	unsigned per_family = full ? 300 : 60, reps = full ? 5 : 2;
	double t0 = (mono_sec() * 1e3);

	printf("## Placement benchmark (%s run)\n", full ? "full" : "quick");
	r = bench_small(per_family, small, &skipped);
	if (r < 0)
		return log_error_errno(r, "small-instance benchmark failed"), EXIT_FAILURE;
	quality_print("Quality on small instances (4–12 nodes × 1–6 containers) vs exact optimum",
	              "exact optimum", small, stdout);
	printf("\n(%u generated instances without a feasible placement were skipped.)\n", skipped);

	r = bench_large(full ? large_full : large_quick, full ? 3 : 2, full ? 4 : 2, large);
	if (r < 0)
		return log_error_errno(r, "large-instance benchmark failed"), EXIT_FAILURE;
	quality_print(full ? "Quality on large instances (200×10, 1000×20, 10000×50) vs best found"
	                   : "Quality on large instances (200×10, 1000×20) vs best found",
	              "best found by any solver", large, stdout);

	r = bench_time(reps, med, worst, ll_med);
	if (r < 0)
		return log_error_errno(r, "timing benchmark failed"), EXIT_FAILURE;
	time_print(med, worst, ll_med, reps, stdout);

	r = bench_escape(full ? 2000 : 400, &escape);
	if (r < 0)
		return log_error_errno(r, "greedy-start benchmark failed"), EXIT_FAILURE;
	escape_print(&escape, stdout);

	r = bench_process(podmig, full ? 9 : 3, process);
	if (r < 0)
		return log_error_errno(r, "process benchmark failed (--podmig %s)", podmig),
		       EXIT_FAILURE;
	process_print(process, full ? 9 : 3, stdout);

	LimitTime limits[N_LS][N_LM] = {};
	r = bench_limits(full ? 5 : 3, limits);
	if (r < 0)
		return log_error_errno(r, "time-limit benchmark failed"), EXIT_FAILURE;
	limits_print(limits, full ? 5 : 3, stdout);

	r = svg_write(svg, med, small);
	if (r < 0)
		return log_error_errno(r, "cannot write %s", svg), EXIT_FAILURE;
	printf("\nPlot: %s. Total benchmark time %.1f s.\n", svg, ((mono_sec() * 1e3) - t0) / 1e3);
	return EXIT_SUCCESS;
}
