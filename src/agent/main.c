/* podmig-agent — the per-node daemon: collector, transfer and gRPC service.
 * For now only its command line exists; the service comes with the node-agent
 * issue, and until then running it says so and fails. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "config.h"
#include "log.h"

static void help(void)
{
	printf("Usage: podmig-agent [OPTIONS]\n"
	       "\n"
	       "Runs on every worker node next to Podman: samples the node and its\n"
	       "containers, publishes them to etcd, and checkpoints/restores containers\n"
	       "when the scheduler migrates them.\n"
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

	log_set_program("podmig-agent");
	while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0) {
		switch (c) {
		case 'h':
			help();
			return EXIT_SUCCESS;
		case ARG_VERSION:
			printf("podmig-agent %s\n", PODMIG_VERSION);
			return EXIT_SUCCESS;
		default:
			return 2;
		}
	}
	if (optind < argc) {
		log_error("unexpected argument '%s'", argv[optind]);
		return 2;
	}

	log_error("the agent service is not implemented yet");
	return EXIT_FAILURE;
}
