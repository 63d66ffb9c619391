/* podmig-scheduler — watches the cluster in etcd and, while it leads, moves containers off
 * overloaded or drained nodes (daemon.h). Its settings come from flags over a config file
 * (scheduler-config.c). */
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "daemon.h"
#include "getopt-util.h"
#include "log.h"
#include "macro.h"
#include "rpc.h"
#include "strutil.h"

#define HELP_COLUMN 27

static void help(void)
{
	printf("Usage: podmig-scheduler [OPTIONS]\n"
	       "\n"
	       "Watches node state in etcd; when a node stays over its limits (or is\n"
	       "drained), picks the containers to move and their target nodes (ant colony\n"
	       "placement) and drives the live migrations through the agents. Several\n"
	       "schedulers may run: one leads (etcd election), the others stand by. The\n"
	       "policy is the document <prefix>policy ('podmig policy'), applied on change.\n"
	       "\n"
	       "Options (each also a 'name = value' line of the config file, 'insecure = true'\n"
	       "for the flag; a flag overrides the file):\n"
	       "  -c --config FILE         Read settings from FILE (default\n"
	       "                           %s, when it exists)\n",
	       SCHEDULER_DEFAULT_CONFIG);
	for (size_t i = 0; i < scheduler_n_settings; i++) {
		const SchedulerSetting *s = &scheduler_settings[i];
		char left[64];
		int n;
		if (s->short_option)
			n = snprintf(left, sizeof left, "  -%c --%s%s%s", s->short_option, s->key,
			             s->arg ? " " : "", s->arg ?: "");
		else
			n = snprintf(left, sizeof left, "     --%s%s%s", s->key, s->arg ? " " : "",
			             s->arg ?: "");
		printf("%s", left);
		const char *text = s->help;
		if (n >= HELP_COLUMN - 1)
			printf("\n%*s", HELP_COLUMN, "");
		else
			printf("%*s", HELP_COLUMN - n, "");
		for (const char *nl; (nl = strchr(text, '\n')); text = nl + 1)
			printf("%.*s\n%*s", (int)(nl - text), text, HELP_COLUMN, "");
		printf("%s\n", text);
	}
	printf("  -h --help                Show this help\n"
	       "     --version             Show the version\n");
}

enum { ARG_VERSION = 0x100, ARG_SETTING };

int main(int argc, char *argv[])
{
	/* the fixed options, every setting, the refused ones and the terminating zeros */
	_cleanup_free_ struct option *options = calloc(scheduler_n_settings + 5, sizeof *options);
	_cleanup_free_ char *shorts = calloc(2 * scheduler_n_settings + 4, 1);
	_cleanup_(scheduler_config_done) SchedulerConfig cfg;
	ErrorDetail error = {};
	bool config_given = false;
	int c, idx, r;

	log_set_program("podmig-scheduler");
	scheduler_config_init(&cfg);
	if (!options || !shorts) {
		log_error("out of memory");
		return EXIT_FAILURE;
	}
	options[0] = (struct option){ "help", no_argument, NULL, 'h' };
	options[1] = (struct option){ "version", no_argument, NULL, ARG_VERSION };
	options[2] = (struct option){ "config", required_argument, NULL, 'c' };
	strcpy(shorts, "hc:");
	for (size_t i = 0; i < scheduler_n_settings; i++) {
		const SchedulerSetting *s = &scheduler_settings[i];
		options[3 + i] = (struct option){ s->key, s->arg ? required_argument : no_argument,
			                          NULL, s->short_option ?: ARG_SETTING };
		if (s->short_option) {
			size_t l = strlen(shorts);
			shorts[l] = s->short_option;
			shorts[l + 1] = s->arg ? ':' : 0;
		}
	}
	options[3 + scheduler_n_settings] = (struct option)GETOPT_REFUSED_OPTIONS;

	/* --help, --version and bad options first. */
	while ((c = getopt_long(argc, argv, shorts, options, &idx)) >= 0)
		switch (c) {
		case 'h':
			help();
			return EXIT_SUCCESS;
		case ARG_VERSION:
			printf("podmig-scheduler %s\n", PODMIG_VERSION);
			return EXIT_SUCCESS;
		case 'c':
			config_given = true;
			break;
		case '?':
			return 2;
		default:
			if (getopt_refused(c, NULL))
				return 2;
			break;
		}
	if (optind < argc) {
		log_error("unexpected argument '%s'", argv[optind]);
		return 2;
	}
	/* The config files (after --help, which needs none), then the flags
	 * over them. */
	optind = 0;
	while (config_given && (c = getopt_long(argc, argv, shorts, options, &idx)) >= 0)
		if (c == 'c' && (r = scheduler_config_load_file(&cfg, optarg, &error)) < 0) {
			log_error("%s", error_detail_or(&error, r));
			return 2;
		}
	if (!config_given) {
		r = scheduler_config_load_file(&cfg, SCHEDULER_DEFAULT_CONFIG, &error);
		if (r < 0 && r != -ENOENT) {
			log_error("%s", error_detail_or(&error, r));
			return 2;
		}
		error_detail_clear(&error);
	}
	optind = 0;
	while ((c = getopt_long(argc, argv, shorts, options, &idx)) >= 0) {
		const SchedulerSetting *s = NULL;
		for (size_t i = 0; i < scheduler_n_settings && !s; i++)
			if (c == ARG_SETTING ? streq(scheduler_settings[i].key, options[idx].name)
			                     : c == scheduler_settings[i].short_option)
				s = &scheduler_settings[i];
		if (!s)
			continue;
		r = scheduler_config_set(&cfg, s->key, s->arg ? optarg : "true", &error);
		if (r < 0) {
			log_error("%s", error_detail_or(&error, r));
			return 2;
		}
	}
	if ((r = scheduler_config_finish(&cfg, &error)) < 0) {
		log_error("%s", error_detail_or(&error, r));
		return 2;
	}
	if (cfg.log_level >= 0)
		log_set_max_level(cfg.log_level);
	if (cfg.insecure)
		log_warning("running without TLS (--insecure): etcd and the agents cannot tell "
		            "this scheduler from anyone else on the network");

	sigset_t stop;
	sigemptyset(&stop);
	sigaddset(&stop, SIGTERM);
	sigaddset(&stop, SIGINT);
	pthread_sigmask(SIG_BLOCK, &stop, NULL);
	signal(SIGPIPE, SIG_IGN);

	rpc_global_init();
	r = scheduler_run(&cfg, &stop);
	rpc_global_shutdown();
	return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
