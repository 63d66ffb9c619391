/* podmig — the operator's command-line tool: cluster tables, manual
 * migration, drain, dry-run planning, history and policy. */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli-config.h"
#include "config.h"
#include "log.h"
#include "macro.h"
#include "placement-json.h"
#include "strutil.h"
#include "verbs.h"

static int verb_place(int argc, char *argv[]);

static const struct verb {
	const char *name;
	const char *args;
	const char *summary;
	int (*run)(int argc, char *argv[]); /* NULL: not implemented yet */
} verbs[] = {
	{ "nodes", "[--json] [--watch]", "Show the nodes and their load", verb_nodes },
	{ "ps", "[--json] [--watch]", "Show the containers across the cluster", verb_ps },
	{ "events", "[--json] [--samples]", "Print migrations and decisions as they happen",
	  verb_events },
	{ "migrate", "CONTAINER --to NODE", "Live-migrate a container to a node", verb_migrate },
	{ "drain", "NODE", "Move every container off a node and keep new ones off", verb_drain },
	{ "undrain", "NODE", "Let the scheduler place containers on a node again", verb_undrain },
	{ "plan", "[--json]", "Show what the scheduler would do now and why, without doing it",
	  verb_plan },
	{ "decisions", "[--json]", "Show the scheduler's decisions, newest first", verb_decisions },
	{ "history", "[--json]", "Show past migrations, newest first", verb_history },
	{ "policy", "get|set|edit|reset", "Show or change the scheduling policy", verb_policy },
	{ "place", "--instance FILE.json", "Solve a placement instance offline", verb_place },
};

static void place_help(void)
{
	printf("Usage: podmig place --instance FILE.json [OPTIONS]\n"
	       "\n"
	       "Reads a placement instance (docs/placement.md), runs a solver and prints the\n"
	       "placement and the objective's parts as JSON. No feasible placement is a result\n"
	       "(\"feasible\": false, exit status 0); bad input exits non-zero.\n"
	       "\n"
	       "Options:\n"
	       "  -i --instance FILE       Instance to solve ('-' for stdin)\n"
	       "  -s --solver NAME         aco (default), exact, least-loaded, best-fit, random\n"
	       "     --seed N              Seed for the randomised solvers, 0..2^63-1 (default 1)\n"
	       "     --iterations N        Ant colony iterations (default 300)\n"
	       "     --time-limit-ms N     Wall-clock budget of the solve in milliseconds "
	       "(default\n"
	       "                           none); the best placement found by then is printed\n"
	       "  -h --help                Show this help\n");
}

static int verb_place(int argc, char *argv[])
{
	enum { ARG_SEED = 0x100, ARG_ITERATIONS, ARG_TIME_LIMIT };
	static const struct option options[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "instance", required_argument, NULL, 'i' },
		{ "solver", required_argument, NULL, 's' },
		{ "seed", required_argument, NULL, ARG_SEED },
		{ "iterations", required_argument, NULL, ARG_ITERATIONS },
		{ "time-limit-ms", required_argument, NULL, ARG_TIME_LIMIT },
		{},
	};
	_cleanup_placement_instance_ PlacementInstance *instance = NULL;
	_cleanup_placement_result_ PlacementResult *result = NULL;
	_cleanup_placement_json_ json_t *out = NULL;
	_cleanup_free_ char *error = NULL;
	const char *path = NULL;
	PlacementSolver solver = PLACEMENT_SOLVER_ACO;
	PlacementOptions o;
	int c, r;

	placement_options_init(&o);
	optind = 0;
	while ((c = getopt_long(argc, argv, "hi:s:", options, NULL)) >= 0) {
		switch (c) {
		case 'h':
			place_help();
			return EXIT_SUCCESS;
		case 'i':
			path = optarg;
			break;
		case 's':
			r = placement_solver_from_string(optarg);
			if (r < 0) {
				log_error(
				        "unknown solver '%s' (aco, exact, least-loaded, best-fit, "
				        "random)",
				        optarg);
				return 2;
			}
			solver = r;
			break;
		case ARG_SEED:
			/* The result prints the seed as a JSON integer (signed 64-bit), so
			 * every accepted seed must print as itself to be reusable. */
			if (safe_atou64(optarg, &o.seed) < 0 || o.seed > INT64_MAX) {
				log_error("--seed: '%s' is not an integer in 0..%" PRIi64, optarg,
				          INT64_MAX);
				return 2;
			}
			break;
		case ARG_ITERATIONS:
			if (safe_atou(optarg, &o.iterations) < 0 || o.iterations == 0) {
				log_error("--iterations: '%s' is not a positive integer", optarg);
				return 2;
			}
			break;
		case ARG_TIME_LIMIT:
			if (safe_atod(optarg, &o.time_limit_ms) < 0 || !(o.time_limit_ms > 0)) {
				log_error("--time-limit-ms: '%s' is not a positive number", optarg);
				return 2;
			}
			break;
		default:
			return 2;
		}
	}
	if (optind < argc) {
		log_error("place: unexpected argument '%s'", argv[optind]);
		return 2;
	}
	if (!path) {
		log_error("place: --instance FILE is required (see 'podmig place --help')");
		return 2;
	}

	r = placement_instance_load(path, &instance, &error);
	if (r < 0) {
		log_error("%s: %s", path, error ?: strerror(-r));
		return EXIT_FAILURE;
	}
	r = placement_solve(instance, solver, &o, &result);
	if (r == -E2BIG && solver == PLACEMENT_SOLVER_EXACT) {
		log_error(
		        "%s: too large for the exact solver (%zu containers × %zu nodes; it takes "
		        "at most %u cells), use another solver",
		        path, instance->n_containers, instance->n_nodes, PLACEMENT_EXACT_CELLS_MAX);
		return EXIT_FAILURE;
	}
	if (r < 0) {
		log_error_errno(r, "%s: solver '%s' failed", path,
		                placement_solver_to_string(solver));
		return EXIT_FAILURE;
	}
	out = placement_result_to_json(instance, result);
	if (!out || json_dumpf(out, stdout, JSON_INDENT(2)) < 0 || puts("") < 0 ||
	    fflush(stdout) != 0) {
		log_error("place: cannot write the result");
		return EXIT_FAILURE;
	}
	return EXIT_SUCCESS;
}

static void help(void)
{
	printf("Usage: podmig [OPTIONS] COMMAND [ARGS...]\n"
	       "\n"
	       "Shows a podmig cluster and moves containers between its nodes.\n"
	       "\n"
	       "Commands:\n");
	for (size_t i = 0; i < ELEMENTSOF(verbs); i++) {
		char left[64];
		snprintf(left, sizeof left, "%s %s", verbs[i].name, verbs[i].args);
		printf("  %-28s %s\n", left, verbs[i].summary);
	}
	printf("\n"
	       "Options:\n"
	       "  -h --help      Show this help\n"
	       "     --version  Show the version\n"
	       "\n"
	       "Every command but place reads etcd, over https:// with --tls-ca (plaintext\n"
	       "only with --insecure). Where, and how: a flag (--etcd, --prefix, --tls-ca,\n"
	       "--tls-cert, --tls-key, --etcd-user, --etcd-password-file, --insecure), else\n"
	       "the environment ($PODMIG_ETCD_ENDPOINTS, $PODMIG_PREFIX, $PODMIG_TLS_CA,\n"
	       "$PODMIG_TLS_CERT, $PODMIG_TLS_KEY, $PODMIG_ETCD_USER, $PODMIG_INSECURE=1),\n"
	       "else the user's config file ($PODMIG_CONFIG, else ~/.config/podmig/config),\n"
	       "else %s. A config file has 'key = value' lines with\n"
	       "the flags' names as keys, files by absolute path and 'insecure = true',\n"
	       "e.g. 'etcd = https://10.0.0.1:2379,https://10.0.0.2:2379'.\n"
	       "'podmig COMMAND --help' describes each.\n",
	       CLI_SYSTEM_CONFIG);
}

int main(int argc, char *argv[])
{
	enum { ARG_VERSION = 0x100 };
	static const struct option options[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, ARG_VERSION },
		{},
	};
	int c;

	log_set_program("podmig");
	/* '+': stop at the first non-option so verbs parse their own options. */
	while ((c = getopt_long(argc, argv, "+h", options, NULL)) >= 0) {
		switch (c) {
		case 'h':
			help();
			return EXIT_SUCCESS;
		case ARG_VERSION:
			printf("podmig %s\n", PODMIG_VERSION);
			return EXIT_SUCCESS;
		default:
			return 2;
		}
	}
	if (optind >= argc) {
		help();
		return 2;
	}

	const char *name = argv[optind];
	for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
		if (streq(name, verbs[i].name)) {
			if (verbs[i].run)
				return verbs[i].run(argc - optind, argv + optind);
			log_error("'%s' is not implemented yet", name);
			return EXIT_FAILURE;
		}
	log_error("unknown command '%s' (see 'podmig --help')", name);
	return 2;
}
