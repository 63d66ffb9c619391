/* podmig-agent — the per-node daemon: reads its settings (flags over an
 * optional config file), then hands over to the agent library (agent.h). */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "agent.h"
#include "config.h"
#include "getopt-util.h"
#include "log.h"
#include "rpc.h"
#include "strutil.h"

static void help(void)
{
	printf("Usage: podmig-agent [OPTIONS]\n"
	       "\n"
	       "Runs on every worker node next to Podman: samples the node and its\n"
	       "containers, publishes them to etcd, and checkpoints/restores containers\n"
	       "when the scheduler migrates them.\n"
	       "\n"
	       "Options (each also a 'name = value' line of the config file; a flag\n"
	       "overrides the file, and a repeatable one adds to the file's values):\n"
	       "  -c --config FILE          Read settings from FILE (default\n"
	       "                            %s, when it exists)\n"
	       "  -n --node-name NAME       Node name (default: the host name)\n"
	       "     --listen HOST:PORT     gRPC address to listen on (default 0.0.0.0:%d)\n"
	       "     --advertise HOST:PORT  Address published for other agents and the scheduler\n"
	       "     --podman-socket PATH   Podman API socket (default %s)\n"
	       "     --etcd ENDPOINT        etcd endpoint (default $PODMIG_ETCD_ENDPOINTS or %s)\n"
	       "     --prefix PREFIX        etcd key prefix (default %s)\n"
	       "     --interval SECONDS     Sampling and publishing interval (default 1)\n"
	       "     --lease-ttl SECONDS    TTL of the node's etcd lease (default 5)\n"
	       "     --accounting SOURCE    host (default) or containers\n"
	       "     --capacity-cpus N      Declared CPUs (containers accounting)\n"
	       "     --capacity-memory SIZE Declared memory, e.g. 2G (containers accounting)\n"
	       "     --link-bandwidth SIZE  Link bandwidth in bytes/s (default 125M = 1 Gbit/s)\n"
	       "     --label KEY=VALUE      A node label (repeatable)\n"
	       "     --tls-ca FILE          The cluster CA: mutual TLS for gRPC and etcd "
	       "(required)\n"
	       "     --tls-cert FILE        This agent's certificate (OU agent, CN the node name)\n"
	       "     --tls-key FILE         Its key\n"
	       "     --etcd-user NAME       etcd user (password authentication; without it,\n"
	       "                            etcd takes the certificate's CN as the user)\n"
	       "     --etcd-password-file FILE  The etcd user's password (its first line)\n"
	       "     --insecure             Plaintext gRPC and etcd instead of mutual TLS: anyone\n"
	       "                            who reaches the node may migrate containers in and\n"
	       "                            out (logged as a warning at every start)\n"
	       "     --criu PATH            criu binary to probe (default /usr/sbin/criu)\n"
	       "     --work-dir DIR         Where incoming archives are kept until restored\n"
	       "                            (default /var/lib/podmig)\n"
	       "     --criu-config-dir DIR  CRIU configuration files the agent writes for one\n"
	       "                            dump or restore: a container created with\n"
	       "                            --annotation org.criu.config=DIR/NAME.conf can move\n"
	       "                            in page-server and post-copy modes (default\n"
	       "                            /run/podmig/criu)\n"
	       "     --pages-dir DIR        Page-server mode's pages in flight: what the dump\n"
	       "                            sent (kept for a rollback) and the pages arriving\n"
	       "                            for a restore; a tmpfs keeps them off the disk, and\n"
	       "                            Podman's unmount at the end of a dump from syncing\n"
	       "                            them in the downtime (default WORK-DIR/pages)\n"
	       "     --max-migrations N     Concurrent migrations of this node (default 2)\n"
	       "     --max-calls N          gRPC calls served at once, each on a worker\n"
	       "                            thread; more are refused (default %d)\n"
	       "     --stall-timeout SECONDS  A call whose peer sends or takes nothing for so\n"
	       "                            long ends, and a transfer frees its migration\n"
	       "                            slot (default %d)\n"
	       "     --pre-copy auto|never  Pre-copy where the kernel tracks dirty memory\n"
	       "                            (default auto)\n"
	       "     --restore-allow WHAT   Let incoming checkpoints ask for WHAT: privileged,\n"
	       "                            devices, host-namespaces, setuid or a capability\n"
	       "                            CAP_NAME beyond the default set (repeatable;\n"
	       "                            default: none of them)\n"
	       "     --restore-allow-bind DIR  Let incoming checkpoints bind-mount host\n"
	       "                            directory DIR or below (repeatable; default: only\n"
	       "                            Podman's own files and named volumes)\n"
	       "     --metrics-address HOST:PORT  Serve Prometheus metrics on GET /metrics "
	       "(default\n"
	       "                            off; podmig's port is %d): HTTPS with the TLS files\n"
	       "                            above, answering client certificates of the CA only\n"
	       "     --fault-dir DIR        Tests only: fault points armed by files in DIR\n"
	       "     --log-level LEVEL      debug, info (default), notice, warning, err\n"
	       "  -h --help                 Show this help\n"
	       "     --version              Show the version\n",
	       AGENT_DEFAULT_CONFIG, AGENT_DEFAULT_PORT, AGENT_DEFAULT_PODMAN_SOCKET,
	       AGENT_DEFAULT_ETCD, AGENT_DEFAULT_PREFIX, AGENT_DEFAULT_MAX_CALLS,
	       AGENT_DEFAULT_STALL_TIMEOUT_SEC, AGENT_DEFAULT_METRICS_PORT);
}

/* Every connection costs a descriptor, and gRPC stops listening for good
 * when an accept fails for want of one: raise the limit to NOFILE_WANTED
 * (root may raise the hard limit too; otherwise up to the hard limit). The
 * agent polls, never select()s, so large descriptors are fine. */
#define NOFILE_WANTED (1024 * 1024)
static void raise_nofile(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur >= NOFILE_WANTED)
		return;
	if (setrlimit(RLIMIT_NOFILE, &(struct rlimit){ NOFILE_WANTED, NOFILE_WANTED }) >= 0)
		return;
	if (rl.rlim_cur >= rl.rlim_max)
		return;
	rl.rlim_cur = rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
		log_warning_errno(-errno, "cannot raise the descriptor limit to %llu",
		                  (unsigned long long)rl.rlim_max);
}

int main(int argc, char *argv[])
{
	enum { ARG_VERSION = 0x100, ARG_SETTING, ARG_INSECURE };
	static const struct option options[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, ARG_VERSION },
		{ "config", required_argument, NULL, 'c' },
		{ "log-level", required_argument, NULL, ARG_SETTING },
		{ "node-name", required_argument, NULL, ARG_SETTING },
		{ "listen", required_argument, NULL, ARG_SETTING },
		{ "advertise", required_argument, NULL, ARG_SETTING },
		{ "podman-socket", required_argument, NULL, ARG_SETTING },
		{ "etcd", required_argument, NULL, ARG_SETTING },
		{ "prefix", required_argument, NULL, ARG_SETTING },
		{ "interval", required_argument, NULL, ARG_SETTING },
		{ "lease-ttl", required_argument, NULL, ARG_SETTING },
		{ "accounting", required_argument, NULL, ARG_SETTING },
		{ "capacity-cpus", required_argument, NULL, ARG_SETTING },
		{ "capacity-memory", required_argument, NULL, ARG_SETTING },
		{ "link-bandwidth", required_argument, NULL, ARG_SETTING },
		{ "label", required_argument, NULL, ARG_SETTING },
		{ "tls-ca", required_argument, NULL, ARG_SETTING },
		{ "tls-cert", required_argument, NULL, ARG_SETTING },
		{ "tls-key", required_argument, NULL, ARG_SETTING },
		{ "etcd-user", required_argument, NULL, ARG_SETTING },
		{ "etcd-password-file", required_argument, NULL, ARG_SETTING },
		{ "criu", required_argument, NULL, ARG_SETTING },
		{ "proc-root", required_argument, NULL, ARG_SETTING },
		{ "work-dir", required_argument, NULL, ARG_SETTING },
		{ "criu-config-dir", required_argument, NULL, ARG_SETTING },
		{ "pages-dir", required_argument, NULL, ARG_SETTING },
		{ "max-migrations", required_argument, NULL, ARG_SETTING },
		{ "max-calls", required_argument, NULL, ARG_SETTING },
		{ "stall-timeout", required_argument, NULL, ARG_SETTING },
		{ "fault-dir", required_argument, NULL, ARG_SETTING },
		{ "pre-copy", required_argument, NULL, ARG_SETTING },
		{ "restore-allow", required_argument, NULL, ARG_SETTING },
		{ "restore-allow-bind", required_argument, NULL, ARG_SETTING },
		{ "metrics-address", required_argument, NULL, ARG_SETTING },
		{ "insecure", no_argument, NULL, ARG_INSECURE },
		GETOPT_REFUSED_OPTIONS,
		{},
	};
	_cleanup_(agent_config_done) AgentConfig cfg;
	ErrorDetail error = {};
	bool config_given = false;
	int c, idx, r;

	log_set_program("podmig-agent");
	agent_config_init(&cfg);

	/* --help, --version and bad options first. */
	while ((c = getopt_long(argc, argv, "hc:n:", options, &idx)) >= 0)
		switch (c) {
		case 'h':
			help();
			return EXIT_SUCCESS;
		case ARG_VERSION:
			printf("podmig-agent %s\n", PODMIG_VERSION);
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
	while (config_given && (c = getopt_long(argc, argv, "hc:n:", options, &idx)) >= 0)
		if (c == 'c' && (r = agent_config_load_file(&cfg, optarg, &error)) < 0) {
			log_error("%s", error_detail_or(&error, r));
			return 2;
		}
	if (!config_given) {
		r = agent_config_load_file(&cfg, AGENT_DEFAULT_CONFIG, &error);
		if (r < 0 && r != -ENOENT) {
			log_error("%s", error_detail_or(&error, r));
			return 2;
		}
		error_detail_clear(&error);
	}
	optind = 0;
	while ((c = getopt_long(argc, argv, "hc:n:", options, &idx)) >= 0) {
		const char *key = c == 'n'            ? "node-name"
		                  : c == ARG_SETTING  ? options[idx].name
		                  : c == ARG_INSECURE ? "insecure"
		                                      : NULL;
		if (!key)
			continue;
		r = agent_config_set(&cfg, key, c == ARG_INSECURE ? "true" : optarg, &error);
		if (r < 0) {
			log_error("%s", error_detail_or(&error, r));
			return 2;
		}
	}
	if (agent_config_finish(&cfg, &error) < 0) {
		log_error("%s", error_detail_or(&error, -ENOMEM));
		return 2;
	}
	if (cfg.log_level >= 0)
		log_set_max_level(cfg.log_level);

	/* Block the stop signals in every thread (before any starts): the loop
	 * takes them with sigtimedwait(). */
	sigset_t stop;
	sigemptyset(&stop);
	sigaddset(&stop, SIGTERM);
	sigaddset(&stop, SIGINT);
	pthread_sigmask(SIG_BLOCK, &stop, NULL);
	signal(SIGPIPE, SIG_IGN);

	raise_nofile();
	rpc_global_init();
	Agent *a = NULL;
	r = agent_new(&cfg, &a);
	if (r >= 0)
		r = agent_run(a, &stop);
	agent_free(a);
	rpc_global_shutdown();
	return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
