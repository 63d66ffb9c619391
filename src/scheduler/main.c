/* podmig-scheduler — watches the cluster in etcd and, while it leads, moves containers off
 * overloaded or drained nodes (daemon.h). */
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "daemon.h"
#include "log.h"
#include "metrics-http.h"
#include "rpc.h"
#include "strutil.h"

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
	       "Options:\n"
	       "  -n --name NAME           This scheduler's name (default: host name and pid)\n"
	       "     --etcd ENDPOINTS      etcd endpoints, comma-separated (default\n"
	       "                           $PODMIG_ETCD_ENDPOINTS or %s)\n"
	       "     --prefix PREFIX       etcd key prefix (default %s)\n"
	       "     --interval SECONDS    How often the leader decides (default 1)\n"
	       "     --lease-ttl SECONDS   TTL of the leader's lease (default 5)\n"
	       "     --tls-ca FILE         The cluster CA: mutual TLS to etcd and the agents\n"
	       "                           (required)\n"
	       "     --tls-cert FILE       This scheduler's certificate (OU scheduler)\n"
	       "     --tls-key FILE        Its key\n"
	       "     --insecure            Plaintext to etcd and the agents instead of mutual\n"
	       "                           TLS (logged as a warning at every start)\n"
	       "     --metrics-address HOST:PORT  Serve Prometheus metrics on GET /metrics\n"
	       "                           (default off; podmig's port is %d): HTTPS with the\n"
	       "                           TLS files, answering client certificates of the CA\n"
	       "                           only\n"
	       "     --log-level LEVEL     debug, info (default), notice, warning, err\n"
	       "  -h --help                Show this help\n"
	       "     --version             Show the version\n",
	       SCHEDULER_DEFAULT_ETCD, SCHEDULER_DEFAULT_PREFIX, SCHEDULER_DEFAULT_METRICS_PORT);
}

int main(int argc, char *argv[])
{
	enum {
		ARG_VERSION = 0x100,
		ARG_ETCD,
		ARG_PREFIX,
		ARG_INTERVAL,
		ARG_LEASE_TTL,
		ARG_TLS_CA,
		ARG_TLS_CERT,
		ARG_TLS_KEY,
		ARG_LOG_LEVEL,
		ARG_INSECURE,
		ARG_METRICS_ADDRESS,
	};
	static const struct option options[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, ARG_VERSION },
		{ "name", required_argument, NULL, 'n' },
		{ "etcd", required_argument, NULL, ARG_ETCD },
		{ "prefix", required_argument, NULL, ARG_PREFIX },
		{ "interval", required_argument, NULL, ARG_INTERVAL },
		{ "lease-ttl", required_argument, NULL, ARG_LEASE_TTL },
		{ "tls-ca", required_argument, NULL, ARG_TLS_CA },
		{ "tls-cert", required_argument, NULL, ARG_TLS_CERT },
		{ "tls-key", required_argument, NULL, ARG_TLS_KEY },
		{ "insecure", no_argument, NULL, ARG_INSECURE },
		{ "metrics-address", required_argument, NULL, ARG_METRICS_ADDRESS },
		{ "log-level", required_argument, NULL, ARG_LOG_LEVEL },
		{},
	};
	SchedulerConfig cfg = {
		.etcd = getenv("PODMIG_ETCD_ENDPOINTS") ?: SCHEDULER_DEFAULT_ETCD,
		.prefix = SCHEDULER_DEFAULT_PREFIX,
		.tick_usec = RPC_USEC_PER_SEC,
		.lease_ttl_sec = 5,
	};
	char default_name[300];
	double d;
	unsigned u;
	int c, r;

	log_set_program("podmig-scheduler");
	while ((c = getopt_long(argc, argv, "hn:", options, NULL)) >= 0) {
		switch (c) {
		case 'h':
			help();
			return EXIT_SUCCESS;
		case ARG_VERSION:
			printf("podmig-scheduler %s\n", PODMIG_VERSION);
			return EXIT_SUCCESS;
		case 'n':
			cfg.name = optarg;
			break;
		case ARG_ETCD:
			cfg.etcd = optarg;
			break;
		case ARG_PREFIX:
			if (key_prefix_problem(optarg)) {
				log_error("--prefix: '%s' is not a key prefix: %s", optarg,
				          key_prefix_problem(optarg));
				return 2;
			}
			cfg.prefix = optarg;
			break;
		case ARG_INTERVAL:
			if (safe_atod(optarg, &d) < 0 || !(d >= 0.05 && d <= 3600)) {
				log_error("--interval: '%s' is not a number of seconds in [0.05, "
				          "3600]",
				          optarg);
				return 2;
			}
			cfg.tick_usec = (uint64_t)(d * RPC_USEC_PER_SEC);
			break;
		case ARG_LEASE_TTL:
			if (safe_atou(optarg, &u) < 0 || u < 1 || u > 3600) {
				log_error(
				        "--lease-ttl: '%s' is not a number of seconds in [1, 3600]",
				        optarg);
				return 2;
			}
			cfg.lease_ttl_sec = u;
			break;
		case ARG_TLS_CA:
			cfg.tls_ca = optarg;
			break;
		case ARG_TLS_CERT:
			cfg.tls_cert = optarg;
			break;
		case ARG_TLS_KEY:
			cfg.tls_key = optarg;
			break;
		case ARG_INSECURE:
			cfg.insecure = true;
			break;
		case ARG_METRICS_ADDRESS:
			if (streq(optarg, "off")) {
				cfg.metrics_address = NULL;
				break;
			}
			if (!metrics_http_address_valid(optarg)) {
				log_error("--metrics-address: '%s' is neither HOST:PORT with a "
				          "numeric "
				          "address (e.g. 0.0.0.0:%d) nor 'off'",
				          optarg, SCHEDULER_DEFAULT_METRICS_PORT);
				return 2;
			}
			cfg.metrics_address = optarg;
			break;
		case ARG_LOG_LEVEL:
			r = log_level_from_string(optarg);
			if (r < 0) {
				log_error("--log-level: unknown level '%s'", optarg);
				return 2;
			}
			log_set_max_level(r);
			break;
		default:
			return 2;
		}
	}
	if (optind < argc) {
		log_error("unexpected argument '%s'", argv[optind]);
		return 2;
	}
	if (!!cfg.tls_cert != !!cfg.tls_key || (cfg.tls_cert && !cfg.tls_ca)) {
		log_error("--tls-ca, --tls-cert and --tls-key go together");
		return 2;
	}
	if (!cfg.insecure && !cfg.tls_cert) {
		log_error("mutual TLS needs --tls-ca, --tls-cert and --tls-key (--insecure runs "
		          "in plaintext, open to anyone on the network)");
		return 2;
	}
	if (!cfg.insecure && strstr(cfg.etcd ?: "", "http://")) {
		log_error("--etcd: '%s' is plaintext; use https:// (or --insecure)", cfg.etcd);
		return 2;
	}
	if (cfg.insecure)
		log_warning("running without TLS (--insecure): etcd and the agents cannot tell "
		            "this scheduler from anyone else on the network");
	if (!cfg.name) {
		char host[256] = "scheduler";
		(void)gethostname(host, sizeof host - 1);
		snprintf(default_name, sizeof default_name, "%s-%d", host, (int)getpid());
		cfg.name = default_name;
	}

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
