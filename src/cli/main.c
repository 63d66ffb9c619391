/* podmig — the operator's command-line tool: cluster tables, manual
 * migration, drain, dry-run planning, history and policy. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "config.h"
#include "log.h"
#include "macro.h"
#include "strutil.h"

static const struct verb {
	const char *name;
	const char *args;
	const char *summary;
} verbs[] = {
	{ "nodes", "", "Show the nodes and their load" },
	{ "ps", "", "Show the containers across the cluster" },
	{ "migrate", "CONTAINER --to NODE", "Live-migrate a container to a node" },
	{ "drain", "NODE", "Move every container off a node" },
	{ "plan", "", "Show what the scheduler would do now, without doing it" },
	{ "history", "", "Show past migrations" },
	{ "policy", "get|set ...", "Show or change the scheduling policy" },
};

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
	       "     --version  Show the version\n");
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
			log_error("'%s' is not implemented yet", name);
			return EXIT_FAILURE;
		}
	log_error("unknown command '%s' (see 'podmig --help')", name);
	return 2;
}
