/* podmig-scheduler — watches the cluster in etcd and drives migrations.
 * For now only its command line exists; scheduling comes with the scheduler
 * issue, and until then running it says so and fails. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "config.h"
#include "log.h"

static void help(void)
{
	printf("Usage: podmig-scheduler [OPTIONS]\n"
	       "\n"
	       "Watches node state in etcd; when a node stays over its limits, picks a\n"
	       "container to move and a target node (ant colony placement) and drives\n"
	       "the migration over gRPC.\n"
	       "\n"
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

	log_set_program("podmig-scheduler");
	while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0) {
		switch (c) {
		case 'h':
			help();
			return EXIT_SUCCESS;
		case ARG_VERSION:
			printf("podmig-scheduler %s\n", PODMIG_VERSION);
			return EXIT_SUCCESS;
		default:
			return 2;
		}
	}
	if (optind < argc) {
		log_error("unexpected argument '%s'", argv[optind]);
		return 2;
	}

	log_error("scheduling is not implemented yet");
	return EXIT_FAILURE;
}
