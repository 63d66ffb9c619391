/* agent.c — podmig-agent's service loop: every interval it samples the node,
 * publishes info (once per lease) and status to etcd under a lease kept alive
 * in the background, and serves Info and ListContainers over gRPC. Podman or
 * etcd being down is logged once when it happens and once when it is over;
 * meanwhile the agent retries with an exponential backoff. */
#include <inttypes.h>
#include <linux/magic.h>
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/vfs.h>
#include <time.h>

#include "agent-internal.h"
#include "agent-migrate.h"
#include "agent.h"
#include "agent.pb-c.h"
#include "config.h"
#include "etcd.h"
#include "json-util.h"
#include "log.h"
#include "page-server.h"
#include "podman.h"
#include "rpc.h"
#include "strutil.h"

static bool backoff_ready(const Backoff *b, uint64_t now)
{
	return !b->down || now >= b->retry_at;
}

/* A failure: returns true if this is news (the first failure). */
static bool backoff_failed(Backoff *b, uint64_t now)
{
	bool news = !b->down;
	b->down = true;
	b->delay_usec = news ? BACKOFF_MIN_USEC : MIN(b->delay_usec * 2, BACKOFF_MAX_USEC);
	b->retry_at = now + b->delay_usec;
	return news;
}

/* A success: returns true if it was down. */
static bool backoff_ok(Backoff *b)
{
	bool was = b->down;
	*b = (Backoff){};
	return was;
}

/* ---- gRPC ---- */

static int handle_info(RpcServerCall *call, void *userdata)
{
	Agent *a = userdata;
	_cleanup_message_ ProtobufCMessage *req = NULL;
	int r = agent_authorize(a, call, AGENT_METHOD_INFO, NULL);
	if (r < 0)
		return r;
	if ((r = rpc_server_call_recv(call, &req)) < 0)
		return r;

	Podmig__V1__InfoResponse rep = PODMIG__V1__INFO_RESPONSE__INIT;
	Podmig__V1__CriuFeatures criu = PODMIG__V1__CRIU_FEATURES__INIT;
	size_t n = strv_length(a->config->labels);
	_cleanup_free_ Podmig__V1__InfoResponse__LabelsEntry *entries =
	        calloc(MAX(n, 1u), sizeof(*entries));
	_cleanup_free_ Podmig__V1__InfoResponse__LabelsEntry **ptrs =
	        calloc(MAX(n, 1u), sizeof(*ptrs));
	_cleanup_free_ char *keys = NULL;
	if (!entries || !ptrs)
		return -ENOMEM;
	/* "k=v" strings split into a copy */
	size_t total = 0;
	for (size_t i = 0; i < n; i++)
		total += strlen(a->config->labels[i]) + 1;
	if (!(keys = malloc(MAX(total, 1u))))
		return -ENOMEM;
	char *p = keys;
	for (size_t i = 0; i < n; i++) {
		strcpy(p, a->config->labels[i]);
		char *eq = strchr(p, '=');
		*eq = 0;
		podmig__v1__info_response__labels_entry__init(&entries[i]);
		entries[i].key = p;
		entries[i].value = eq + 1;
		ptrs[i] = &entries[i];
		p += strlen(a->config->labels[i]) + 1;
	}
	criu.probed = a->criu.probed;
	criu.version = a->criu.version;
	criu.pre_copy = criu_features_pre_copy(&a->criu);
	criu.lazy_pages = criu_features_lazy_pages(&a->criu);
	criu.post_copy = criu_features_post_copy(&a->criu);
	rep.node_name = a->config->node_name;
	rep.version = (char *)PODMIG_VERSION;
	rep.protocol = a->config->protocol;
	rep.grpc_address = a->advertise;
	rep.accounting = (char *)accounting_source_to_string(a->config->source);
	rep.criu = &criu;
	rep.n_labels = n;
	rep.labels = ptrs;
	rep.link_bandwidth_bytes_per_sec = a->config->link_bandwidth;
	pthread_mutex_lock(&a->lock);
	rep.capacity_cpus = a->last ? a->last->capacity_cpus : a->config->capacity_cpus;
	rep.capacity_memory_bytes = a->last ? a->last->capacity_memory : a->config->capacity_memory;
	rep.podman_version = a->podman_version ?: (char *)"";
	r = rpc_server_call_reply(call, &rep.base);
	pthread_mutex_unlock(&a->lock);
	return r;
}

static int handle_list_containers(RpcServerCall *call, void *userdata)
{
	Agent *a = userdata;
	_cleanup_message_ ProtobufCMessage *req = NULL;
	PodmanContainer *cts = NULL;
	size_t n = 0;
	PodmanError e = {};
	int r = agent_authorize(a, call, AGENT_METHOD_LIST_CONTAINERS, NULL);
	if (r < 0)
		return r;
	if ((r = rpc_server_call_recv(call, &req)) < 0)
		return r;

	r = podman_containers_list(a->podman, true, &cts, &n, &e);
	if (r < 0)
		return rpc_server_call_error(call,
		                             r == -ECONNREFUSED ? RPC_UNAVAILABLE : RPC_INTERNAL,
		                             "node %s: %s", a->config->node_name, e.message);

	Podmig__V1__ListContainersResponse rep = PODMIG__V1__LIST_CONTAINERS_RESPONSE__INIT;
	Podmig__V1__Container *items = calloc(MAX(n, 1u), sizeof(*items));
	Podmig__V1__Container **ptrs = calloc(MAX(n, 1u), sizeof(*ptrs));
	size_t n_labels = 0;
	for (size_t i = 0; i < n; i++)
		n_labels += strv_length(cts[i].labels);
	Podmig__V1__Container__LabelsEntry *lentries = calloc(MAX(n_labels, 1u), sizeof(*lentries));
	Podmig__V1__Container__LabelsEntry **lptrs = calloc(MAX(n_labels, 1u), sizeof(*lptrs));
	if (!items || !ptrs || !lentries || !lptrs) {
		r = -ENOMEM;
		goto finish;
	}
	pthread_mutex_lock(&a->lock);
	size_t l = 0;
	for (size_t i = 0; i < n; i++) {
		Podmig__V1__Container *c = &items[i];
		podmig__v1__container__init(c);
		c->id = cts[i].id;
		c->name = cts[i].name;
		c->image = cts[i].image;
		c->state = cts[i].state;
		c->started_at = cts[i].started_at;
		c->labels = &lptrs[l];
		for (size_t k = 0; cts[i].labels[k]; k++) {
			char *eq = strchr(cts[i].labels[k], '=');
			*eq = 0; /* split in place: the list is ours */
			podmig__v1__container__labels_entry__init(&lentries[l]);
			lentries[l].key = cts[i].labels[k];
			lentries[l].value = eq + 1;
			lptrs[l] = &lentries[l];
			l++;
			c->n_labels++;
		}
		for (size_t k = 0; a->last && k < a->last->n_containers; k++) {
			const ContainerSample *s = &a->last->containers[k];
			if (!streq(s->id, cts[i].id) || !s->has_stats)
				continue;
			c->has_stats = true;
			c->cpu_percent = s->cpu_percent;
			c->memory_bytes = s->mem_usage;
			c->memory_limit_bytes = s->mem_limit;
			c->pids = s->pids;
			c->net_rx_bytes = s->net_rx_bytes;
			c->net_tx_bytes = s->net_tx_bytes;
		}
		ptrs[i] = c;
	}
	rep.n_containers = n;
	rep.containers = ptrs;
	rep.sample_timestamp_usec = a->last ? a->last->timestamp_usec : 0;
	r = rpc_server_call_reply(call, &rep.base);
	pthread_mutex_unlock(&a->lock);
finish:
	free(items);
	free(ptrs);
	free(lentries);
	free(lptrs);
	podman_containers_free(cts, n);
	return r;
}

/* ---- etcd ---- */

static void on_lease_lost(EtcdLease *lease, int error, void *userdata)
{
	Agent *a = userdata;
	atomic_store(&a->lease_lost, true);
}

static int put_json(Agent *a, const char *key, json_t *doc)
{
	_cleanup_free_ char *text = json_dumps(doc, JSON_COMPACT | JSON_REAL_PRECISION(9));
	if (!text)
		return -ENOMEM;
	return etcd_put(a->etcd, key, text, strlen(text), etcd_lease_get_id(a->lease), NULL);
}

static int publish_info(Agent *a)
{
	NodeInfo info = {
		.name = a->config->node_name,
		.grpc_address = a->advertise,
		.version = PODMIG_VERSION,
		.protocol = a->config->protocol,
		.podman_version = a->podman_version,
		.source = a->config->source,
		.capacity_cpus = a->last ? a->last->capacity_cpus : a->config->capacity_cpus,
		.capacity_memory = a->last ? a->last->capacity_memory : a->config->capacity_memory,
		.link_bandwidth = a->config->link_bandwidth,
		.criu = a->criu,
		.labels = a->config->labels,
		.started_at = a->started_at,
	};
	_cleanup_json_ json_t *doc = node_info_to_json(&info);
	if (!doc)
		return -ENOMEM;
	return put_json(a, a->info_key, doc);
}

/* Publishes the latest sample; grants a new lease (and republishes info)
 * when there is none. */
static int publish(Agent *a, uint64_t now)
{
	_cleanup_json_ json_t *status = NULL;
	int r;

	if (!backoff_ready(&a->etcd_backoff, now))
		return 0;
	if (a->lease && atomic_load(&a->lease_lost)) {
		log_warning("etcd lease of node %s was lost; taking a new one",
		            a->config->node_name);
		a->lease = etcd_lease_free(a->lease);
	}
	if (!a->lease) {
		atomic_store(&a->lease_lost, false);
		r = etcd_lease_grant(a->etcd, a->config->lease_ttl_sec, on_lease_lost, a,
		                     &a->lease);
		if (r < 0)
			goto fail;
		a->info_published = false;
	}
	if (!a->info_published) {
		if ((r = publish_info(a)) < 0)
			goto fail;
		a->info_published = true;
	}
	if (!a->serving)
		return 0; /* withdrawn until its port serves (probe_self()) */
	status = node_status_to_json(a->last);
	if (!status)
		return -ENOMEM;
	if ((r = put_json(a, a->status_key, status)) < 0)
		goto fail;
	a->status_published = true;
	if (backoff_ok(&a->etcd_backoff))
		log_notice("etcd at %s is reachable again; node %s is published",
		           a->config->etcd_endpoint, a->config->node_name);
	return 0;
fail:
	if (r == -ENOMEM)
		return r;
	if (r == ETCD_LEASE_GONE)
		atomic_store(&a->lease_lost, true);
	if (backoff_failed(&a->etcd_backoff, now))
		log_warning_errno(r, "cannot publish node %s to etcd at %s; retrying with backoff",
		                  a->config->node_name, a->config->etcd_endpoint);
	return 0;
}

/* ---- the gRPC server and its health ---- */

static int server_start(Agent *a, const char *address)
{
	const AgentConfig *config = a->config;
	/* A caller without a certificate still connects, so that the refusal
	 * (agent-authz.c) reaches it with its reason. */
	RpcOptions so = { .plaintext = config->insecure,
		          .cert_file = config->tls_cert,
		          .key_file = config->tls_key,
		          .ca_file = config->tls_ca,
		          .client_certificate_optional = true,
		          .max_calls = config->max_calls,
		          .call_io_timeout_usec = config->stall_timeout_usec };
	static const RpcHandler handlers[] = {
		handle_info,          handle_list_containers,   agent_handle_migrate,
		agent_handle_receive, agent_handle_fetch_image,
	};
	int r;

	if ((r = rpc_server_new(address, &so, &a->server)) < 0)
		return log_error_errno(r, "cannot listen on %s", address);
	if ((r = rpc_server_add_service(a->server, &podmig__v1__agent__descriptor, handlers,
	                                ELEMENTSOF(handlers), a)) < 0 ||
	    (r = rpc_server_start(a->server)) < 0) {
		a->server = rpc_server_free(a->server);
		return log_error_errno(r, "cannot start the gRPC server on %s", address);
	}
	a->port = rpc_server_get_port(a->server);
	return 0;
}

/* A fresh server on the same port. gRPC stops listening for good when
 * accepting a connection fails (out of descriptors, say); a new listener
 * accepts again once descriptors are free. Calls in flight are cancelled. */
static int server_restart(Agent *a)
{
	_cleanup_free_ char *address = NULL;
	const char *listen = a->config->listen_address;
	const char *colon = strrchr(listen, ':');

	if (!colon || asprintf(&address, "%.*s:%d", (int)(colon - listen), listen, a->port) < 0)
		return -ENOMEM;
	a->server = rpc_server_free(a->server);
	return server_start(a, address);
}

/* Where the probe dials: the listening address with its real port; on a
 * wildcard address, loopback in plaintext and the advertised address with
 * TLS (the one the certificate names). */
static int probe_target(const Agent *a, char **ret)
{
	const char *listen = a->config->listen_address;
	const char *colon = strrchr(listen, ':');
	int port = a->port;
	bool wildcard = startswith(listen, "0.0.0.0:") || startswith(listen, "[::]:");
	int r;

	if (!colon)
		return -EINVAL;
	if (wildcard && a->config->tls_cert)
		r = asprintf(ret, "%s", a->advertise);
	else if (wildcard)
		r = asprintf(ret, "127.0.0.1:%d", port);
	else
		r = asprintf(ret, "%.*s:%d", (int)(colon - listen), listen, port);
	return r < 0 ? -ENOMEM : 0;
}

/* Asks this agent's own port for Info, as a peer would (with its TLS).
 * After PROBE_FAILURES failures in a row, the node's status is withdrawn
 * from etcd until it answers, so the scheduler (which needs a node's info
 * and status) neither sends work to it nor starts migrations from it; a
 * port that does not answer at all for PROBE_RESTART_AFTER probes in a row
 * gets a new server (once no migration runs here, and unless the server
 * closed connections at its descriptor cap meanwhile: it lives). */
#define PROBE_TIMEOUT_USEC  (1 * USEC_PER_SEC)
#define PROBE_FAILURES      2 /* in a row: the node stops being published */
#define PROBE_RESTART_AFTER 5
static void probe_self(Agent *a)
{
	RpcStatus st = {};
	int r;

	if (!a->server) { /* a restart failed: try again */
		if (server_restart(a) < 0)
			return;
	}
	/* a fresh connection each time: one kept open would keep answering
	 * after the listener stopped accepting */
	a->probe = rpc_channel_free(a->probe);
	{
		_cleanup_free_ char *target = NULL;
		RpcOptions o = agent_peer_options(a);
		o.private_connection = true;
		if ((r = probe_target(a, &target)) < 0 ||
		    (r = rpc_channel_new(target, &o, &a->probe)) < 0) {
			log_warning_errno(r, "cannot set up a channel to probe this agent's port");
			return;
		}
	}
	Podmig__V1__InfoRequest req = PODMIG__V1__INFO_REQUEST__INIT;
	_cleanup_message_ ProtobufCMessage *rep = NULL;
	r = rpc_call_unary(a->probe, &podmig__v1__agent__descriptor, "Info", &req.base,
	                   PROBE_TIMEOUT_USEC, &rep, &st);
	/* a refusal by a handler is an answer too: the port serves */
	if (r >= 0 || st.code == RPC_PERMISSION_DENIED || st.code == RPC_UNAUTHENTICATED ||
	    st.code == RPC_UNIMPLEMENTED) {
		if (!a->serving)
			log_notice("node %s: its gRPC port answers again; publishing its status",
			           a->config->node_name);
		a->serving = true;
		a->probe_failures = 0;
		return;
	}
	a->probe_failures++;
	/* the listener lives and closes connections at the descriptor cap: a
	 * new one would do the same, and cancel the calls in flight */
	unsigned long refused = rpc_server_connections_refused();
	bool capped = refused > a->connections_refused;
	a->connections_refused = refused;
	if (capped)
		log_warning("node %s: its gRPC server holds as many connections as its descriptor "
		            "cap allows; %lu refused so far",
		            a->config->node_name, refused);
	if (a->serving && a->probe_failures >= PROBE_FAILURES) {
		a->serving = false;
		log_error("node %s: its gRPC port %d does not serve (%s: %s); withdrawing its "
		          "status from etcd until it does",
		          a->config->node_name, a->port, rpc_code_to_string(st.code), st.message);
		if (a->lease && (r = etcd_delete(a->etcd, a->status_key, NULL)) < 0)
			log_warning_errno(r, "cannot withdraw the status of node %s",
			                  a->config->node_name);
	}
	/* A busy server answered (RESOURCE_EXHAUSTED): it accepts, so a new
	 * one would only cancel the calls it serves; and a restart waits while
	 * a migration runs here (it would cancel its calls too). */
	pthread_mutex_lock(&a->migrations_lock);
	bool migrating = a->migrations > 0;
	pthread_mutex_unlock(&a->migrations_lock);
	if (st.code != RPC_RESOURCE_EXHAUSTED && !migrating && !capped &&
	    a->probe_failures >= PROBE_RESTART_AFTER) {
		a->probe_failures = PROBE_FAILURES; /* the next restart after as many again */
		log_warning("node %s: restarting its gRPC server on port %d", a->config->node_name,
		            a->port);
		if ((r = server_restart(a)) < 0)
			log_error_errno(r, "node %s: cannot restart its gRPC server",
			                a->config->node_name);
	}
}

/* ---- the loop ---- */

/* What the agent is doing, for systemd's STATUS=. */
static void notify_progress(Agent *a)
{
	pthread_mutex_lock(&a->migrations_lock);
	unsigned migrations = a->migrations;
	pthread_mutex_unlock(&a->migrations_lock);
	const NodeSample *s = a->last;
	char containers[64];
	if (s && s->podman_ok)
		snprintf(containers, sizeof containers, "%zu containers", s->n_containers);
	else
		snprintf(containers, sizeof containers, "Podman unreachable");
	const char *etcd = a->etcd_backoff.down ? "etcd unreachable"
	                   : !a->serving        ? "status withdrawn (port not serving)"
	                                        : "published";
	if (!a->notify.ready && a->status_published)
		service_notify_ready(&a->notify,
		                     "serving on port %d, %u migrations in flight, %s, %s", a->port,
		                     migrations, containers, etcd);
	else if (a->notify.ready)
		service_notify_status(&a->notify,
		                      "serving on port %d, %u migrations in flight, %s, %s",
		                      a->port, migrations, containers, etcd);
	else
		service_notify_status(&a->notify, "starting: %s, %s", containers,
		                      a->etcd_backoff.down ? "etcd unreachable"
		                                           : "not yet published");
}

/* Post-copy's host settings, checked once here so that no migration finds
 * them missing half-way: the node's info then says post_copy false and no
 * source picks it. */
static void agent_check_post_copy(const Agent *a)
{
	if (!a->criu.probed)
		return;
	if (!criu_features_lazy_pages(&a->criu))
		log_error(
		        "post-copy is not possible on this node: `criu check --feature "
		        "uffd-noncoop` fails (the kernel lacks userfaultfd with non-cooperative "
		        "events, or it is not allowed: vm.unprivileged_userfaultfd does not matter "
		        "to root, a seccomp filter may); other modes work");
	else if (!a->criu.ps_requests_64)
		log_error("post-copy is not possible on this node: CRIU %s is older than 4.2, "
		          "whose page-server requests podmig's relay understands; other modes work",
		          a->criu.version);
	else if (!criu_features_post_copy(&a->criu))
		log_error("post-copy is not possible on this node: fs.pipe-max-size is %" PRIu64
		          " bytes and CRIU's lazy dump needs pipes of %u bytes; raise it with "
		          "`sysctl -w fs.pipe-max-size=%u` and keep it with "
		          "deploy/sysctl/90-podmig-post-copy.conf in /etc/sysctl.d; other modes "
		          "work",
		          a->criu.pipe_max_size, CRIU_POST_COPY_PIPE_MIN, CRIU_POST_COPY_PIPE_MIN);
}

/* CRIU keeps what it probed of the kernel in /run/criu.kdat only when /run
 * is a tmpfs (gone at reboot, so never stale); elsewhere every CRIU it
 * starts probes again, and a restore's probe is downtime. */
static void agent_check_criu_cache(void)
{
	struct statfs st;
	if (statfs("/run", &st) == 0 && st.f_type != TMPFS_MAGIC)
		log_warning(
		        "/run is not a tmpfs, so CRIU cannot keep its kernel probe "
		        "(/run/criu.kdat): every checkpoint, restore and page server probes the "
		        "kernel again, tens of milliseconds more downtime per migration; hosts "
		        "that boot with systemd have a tmpfs /run");
}

int agent_new(const AgentConfig *config, Agent **ret)
{
	_cleanup_(agent_freep) Agent *a = calloc(1, sizeof(*a));
	int r;

	if (!a)
		return -ENOMEM;
	pthread_mutex_init(&a->lock, NULL);
	pthread_mutex_init(&a->migrations_lock, NULL);
	a->config = config;
	if (!(a->active = calloc(MAX(config->max_migrations, 1u), sizeof(*a->active))) ||
	    !(a->active_container =
	              calloc(MAX(config->max_migrations, 1u), sizeof(*a->active_container))))
		return -ENOMEM;
	a->started_at = (int64_t)(now_usec(CLOCK_REALTIME) / 1000000);
	a->serving = true;
	service_notify_init(&a->notify);
	if (asprintf(&a->info_key, "%snodes/%s/info", config->prefix, config->node_name) < 0 ||
	    asprintf(&a->status_key, "%snodes/%s/status", config->prefix, config->node_name) < 0)
		return -ENOMEM;

	if ((r = podman_client_new(config->podman_socket, NULL, &a->podman)) < 0)
		return log_error_errno(r, "cannot set up the Podman client");
	/* a sample waits for Podman half an interval at most: the node's
	 * status goes out on time whatever Podman does */
	CollectorOptions co = {
		.source = config->source,
		.capacity_cpus = config->capacity_cpus,
		.capacity_memory = config->capacity_memory,
		.link_bandwidth = config->link_bandwidth,
		.proc_root = config->proc_root,
		.podman_socket = config->podman_socket,
		.podman_wait_usec = MAX(config->interval_usec / 2, 1u),
	};
	if ((r = collector_new(&co, &a->collector)) < 0)
		return log_error_errno(r, "cannot read this node's /proc");
	if ((r = criu_probe(config->criu_path, &a->criu)) < 0)
		return log_error_errno(r, "cannot run criu to probe its features");
	log_info("CRIU %s: pre-copy %s, lazy pages %s",
	         a->criu.probed ? a->criu.version : "missing",
	         criu_features_pre_copy(&a->criu) ? "possible" : "not possible",
	         criu_features_lazy_pages(&a->criu) ? "possible" : "not possible");
	agent_check_post_copy(a);
	agent_check_criu_cache();

	if (config->insecure)
		log_warning("running without TLS (--insecure): anyone who reaches %s or etcd may "
		            "migrate containers in and out of node %s",
		            config->listen_address, config->node_name);
	_cleanup_free_ char *etcd_password = NULL;
	if (config->etcd_password_file &&
	    (r = read_first_line(config->etcd_password_file, &etcd_password)) < 0)
		return log_error_errno(r, "cannot read the etcd password from %s",
		                       config->etcd_password_file);
	const char *endpoint = config->etcd_endpoint;
	/* Every endpoint of the list: the client fails over between them. With
	 * --insecure, plaintext unless the endpoint says https://. */
	bool etcd_tls = !config->insecure || startswith(endpoint, "https://");
	EtcdOptions eo = { .rpc = { .plaintext = !etcd_tls,
		                    .ca_file = etcd_tls ? config->tls_ca : NULL,
		                    .cert_file = etcd_tls ? config->tls_cert : NULL,
		                    .key_file = etcd_tls ? config->tls_key : NULL,
		                    .max_reconnect_backoff_msec = 2000 },
		           .username = config->etcd_user,
		           .password = etcd_password,
		           .request_timeout_usec = 3 * RPC_USEC_PER_SEC };
	r = etcd_client_new(endpoint, &eo, &a->etcd);
	if (etcd_password)
		explicit_bzero(etcd_password, strlen(etcd_password));
	if (r < 0)
		return log_error_errno(r, "cannot set up the etcd client for %s", endpoint);

	if ((r = server_start(a, config->listen_address)) < 0)
		return r;
	if ((r = agent_metrics_new(a, &a->metrics)) < 0)
		return r;
	const char *adv = config->advertise_address;
	size_t len = strlen(adv);
	if (len > 2 && streq(adv + len - 2, ":0"))
		r = asprintf(&a->advertise, "%.*s:%d", (int)(len - 2), adv,
		             rpc_server_get_port(a->server));
	else
		r = asprintf(&a->advertise, "%s", adv);
	if (r < 0) {
		a->advertise = NULL;
		return -ENOMEM;
	}
	*ret = TAKE_PTR(a);
	return 0;
}

int agent_get_port(const Agent *a)
{
	return a->port;
}

int agent_get_metrics_port(const Agent *a)
{
	return agent_metrics_get_port(a->metrics);
}

Agent *agent_free(Agent *a)
{
	if (!a)
		return NULL;
	a->server = rpc_server_free(a->server); /* first: its handlers use the rest */
	/* after the handlers (they count migrations), before what scrapes read */
	a->metrics = agent_metrics_free(a->metrics);
	a->probe = rpc_channel_free(a->probe);
	a->lease = etcd_lease_free(a->lease);
	a->etcd = etcd_client_free(a->etcd);
	a->collector = collector_free(a->collector);
	a->podman = podman_client_free(a->podman);
	node_sample_free(a->last);
	free(a->podman_version);
	free(a->advertise);
	free(a->info_key);
	free(a->status_key);
	free(a->active);
	for (unsigned i = 0; a->active_container && i < a->config->max_migrations; i++)
		free(a->active_container[i]);
	free(a->active_container);
	pthread_mutex_destroy(&a->lock);
	pthread_mutex_destroy(&a->migrations_lock);
	free(a);
	return NULL;
}

static void sample(Agent *a, uint64_t now)
{
	bool ask = backoff_ready(&a->podman_backoff, now);
	NodeSample *s = NULL;
	_cleanup_strv_free_ char **busy = NULL;
	int r = agent_busy_containers(a, &busy);
	if (r >= 0)
		r = collector_set_busy(a->collector, busy);
	if (r >= 0)
		r = collector_sample(a->collector, ask, &s);
	if (r < 0) {
		log_error_errno(r, "cannot sample node %s", a->config->node_name);
		return;
	}
	s->interval_usec = a->config->interval_usec;
	if (ask && !s->podman_ok) {
		snprintf(a->podman_error, sizeof a->podman_error, "%s", s->podman_error);
		if (backoff_failed(&a->podman_backoff, now))
			log_warning("Podman API at %s is unreachable: %s; retrying with backoff",
			            a->config->podman_socket, s->podman_error);
	} else if (ask) {
		if (backoff_ok(&a->podman_backoff))
			log_notice("Podman API at %s is back", a->config->podman_socket);
		if (!a->podman_version) {
			PodmanVersion v = {};
			if (podman_version(a->podman, &v, NULL) >= 0) {
				pthread_mutex_lock(&a->lock);
				a->podman_version = TAKE_PTR(v.version);
				pthread_mutex_unlock(&a->lock);
				a->info_published = false; /* with the version now */
				log_info("Podman %s at %s", a->podman_version,
				         a->config->podman_socket);
			}
			podman_version_done(&v);
		}
	} else
		snprintf(s->podman_error, sizeof s->podman_error, "%s", a->podman_error);

	pthread_mutex_lock(&a->lock);
	node_sample_free(a->last);
	a->last = s;
	pthread_mutex_unlock(&a->lock);
}

int agent_run(Agent *a, const sigset_t *stop)
{
	uint64_t next = now_usec(CLOCK_MONOTONIC);
	int r;

	log_info("node %s: serving gRPC on %s (advertised %s), publishing to etcd at %s under %s "
	         "every %.3g s, %s accounting",
	         a->config->node_name, a->config->listen_address, a->advertise,
	         a->config->etcd_endpoint, a->config->prefix,
	         (double)a->config->interval_usec / 1e6,
	         accounting_source_to_string(a->config->source));
	if (a->notify.watchdog_usec && a->notify.watchdog_usec < 2 * a->config->interval_usec)
		log_warning("systemd's watchdog (%.3g s) is shorter than two intervals (%.3g s): "
		            "the agent will be restarted while it works",
		            (double)a->notify.watchdog_usec / 1e6,
		            2 * (double)a->config->interval_usec / 1e6);
	/* Migrations a previous run of this agent left behind. The CRIU
	 * configuration files it wrote were for a dump or restore of that run
	 * only: none may reach a later one. */
	criu_config_clear(a->config->criu_config_dir);
	agent_work_dir_sweep(a);
	agent_recover(a, true);
	for (;;) {
		uint64_t now = now_usec(CLOCK_MONOTONIC);
		sample(a, now);
		probe_self(a);
		if (now >= a->next_recovery)
			agent_recover(a, false);
		if ((r = publish(a, now)) < 0)
			return log_error_errno(r, "cannot publish node %s", a->config->node_name);
		agent_metrics_sample(a->metrics, a->last,
		                     a->serving && a->lease && !a->etcd_backoff.down);
		/* What a flood of connections or calls took (up to the
		 * descriptor cap's worth of handshakes) goes back to malloc's
		 * arenas when they end, and they keep it: hand it back to the
		 * system, so the agent's RSS follows what it holds now. */
		(void)malloc_trim(0);
		/* READY once the port serves and etcd has the node's status; the
		 * watchdog is petted by this loop alone, so a loop stuck anywhere
		 * above (a hung etcd or Podman call) gets the agent restarted */
		notify_progress(a);
		service_notify_watchdog(&a->notify);

		next += a->config->interval_usec;
		now = now_usec(CLOCK_MONOTONIC);
		if (next <= now) /* fell behind: do not try to catch up */
			next = now + a->config->interval_usec;
		uint64_t wait = next - now;
		struct timespec ts = { .tv_sec = (time_t)(wait / 1000000),
			               .tv_nsec = (long)(wait % 1000000) * 1000 };
		int sig = sigtimedwait(stop, NULL, &ts);
		if (sig > 0) {
			log_info("node %s: signal %d, stopping", a->config->node_name, sig);
			service_notify_stopping(&a->notify, "stopping: revoking the node's lease");
			break;
		}
		if (sig < 0 && errno != EAGAIN && errno != EINTR)
			return log_error_errno(-errno, "sigtimedwait failed");
	}

	if (a->lease) {
		r = etcd_lease_revoke(a->lease);
		if (r < 0)
			log_warning_errno(r,
			                  "cannot revoke the lease of node %s; its keys expire "
			                  "within %" PRIi64 " s",
			                  a->config->node_name, a->config->lease_ttl_sec);
		else
			log_info("node %s: lease revoked, its keys are gone", a->config->node_name);
		a->lease = etcd_lease_free(a->lease);
	}
	return 0;
}
