/* agent-authz.c — who may call which method of the Agent service. The
 * caller is named by the client certificate it presented (mutual TLS,
 * verified against the cluster CA by the handshake): the subject's OU is its
 * role, the CN its name (scripts/make-certs issues them so). Every handler
 * asks agent_authorize() first, so the rules live here and nowhere else:
 *
 *   Info, ListContainers  any certificate of the cluster with a known role
 *   Migrate               an operator or a scheduler
 *   Receive               the agent of the record's source node
 *   FetchImage            the agent of the record's target node
 *
 * (Receive and FetchImage are checked three times: for the role before the
 * record is read, then against the record's parties, then against the
 * migration order that names the record: any node may write a record, only
 * an operator or a scheduler an order. Migrate checks its order in
 * agent-migrate-source.c, where the request is compared with it.)
 *
 * A refusal is PERMISSION_DENIED with the reason, sent at the call (never by
 * failing the handshake) so that the caller can read it. An agent run with
 * --insecure has no identities to check and lets every caller in. */
#include <stdio.h>
#include <string.h>

#include "agent-internal.h"
#include "log.h"
#include "migration-store.h"
#include "string-table.h"
#include "strutil.h"

static const char *const peer_role_table[_PEER_ROLE_MAX] = {
	[PEER_ROLE_AGENT] = "agent",
	[PEER_ROLE_SCHEDULER] = "scheduler",
	[PEER_ROLE_OPERATOR] = "operator",
};

DEFINE_STRING_TABLE_LOOKUP(peer_role, PeerRole);

static const char *const agent_method_table[_AGENT_METHOD_MAX] = {
	[AGENT_METHOD_INFO] = "Info",
	[AGENT_METHOD_LIST_CONTAINERS] = "ListContainers",
	[AGENT_METHOD_MIGRATE] = "Migrate",
	[AGENT_METHOD_RECEIVE] = "Receive",
	[AGENT_METHOD_FETCH_IMAGE] = "FetchImage",
	[AGENT_METHOD_MIGRATE_FORCED] = "Migrate with force",
};

DEFINE_STRING_TABLE_LOOKUP_TO_STRING(agent_method, AgentMethod);

int agent_peer_identify(RpcServerCall *call, AgentPeer *ret)
{
	_cleanup_(rpc_peer_identity_done) RpcPeerIdentity id = {};
	int r = rpc_server_call_peer_identity(call, &id);
	if (r < 0)
		return r;
	PeerRole role = id.organizational_unit ? peer_role_from_string(id.organizational_unit)
	                                       : _PEER_ROLE_INVALID;
	if (role < 0 || strlen(id.common_name) >= sizeof(ret->name))
		return -EPERM;
	*ret = (AgentPeer){ .role = role };
	strcpy(ret->name, id.common_name);
	return 0;
}

int agent_authorize(Agent *a, RpcServerCall *call, AgentMethod method, const MigrationRecord *rec)
{
	const char *m = agent_method_to_string(method);
	AgentPeer peer;

	if (a->config->insecure)
		return 0;
	int r = agent_peer_identify(call, &peer);
	if (r == -ENOENT)
		return rpc_server_call_error(call, RPC_PERMISSION_DENIED,
		                             "%s on node %s needs a client certificate of the "
		                             "cluster CA",
		                             m, a->config->node_name);
	if (r < 0)
		return rpc_server_call_error(call, RPC_PERMISSION_DENIED,
		                             "%s on node %s: the client certificate names no "
		                             "podmig role (its OU must be agent, scheduler or "
		                             "operator)",
		                             m, a->config->node_name);

	char allowed[160];
	switch (method) {
	case AGENT_METHOD_INFO:
	case AGENT_METHOD_LIST_CONTAINERS:
		return 0;
	case AGENT_METHOD_MIGRATE:
		if (peer.role == PEER_ROLE_OPERATOR || peer.role == PEER_ROLE_SCHEDULER)
			return 0;
		snprintf(allowed, sizeof(allowed), "only an operator or a scheduler may");
		break;
	case AGENT_METHOD_MIGRATE_FORCED:
		/* overriding a container owner's opt-out is an operator's call */
		if (peer.role == PEER_ROLE_OPERATOR)
			return 0;
		snprintf(allowed, sizeof(allowed), "only an operator may force a migration");
		break;
	case AGENT_METHOD_RECEIVE:
	case AGENT_METHOD_FETCH_IMAGE: {
		/* the other party of the migration: its source sends, its target
		 * fetches the image */
		bool receive = method == AGENT_METHOD_RECEIVE;
		const char *other = rec ? (receive ? rec->source : rec->target) : NULL;
		if (peer.role == PEER_ROLE_AGENT && (!rec || streq(peer.name, other)))
			return 0;
		if (rec)
			snprintf(allowed, sizeof(allowed),
			         "only the agent of node %s, the %s of migration %s, may", other,
			         receive ? "source" : "target", rec->id);
		else
			snprintf(allowed, sizeof(allowed),
			         "only the agent of the migration's %s may",
			         receive ? "source" : "target");
		break;
	}
	default:
		snprintf(allowed, sizeof(allowed), "nobody may");
		break;
	}
	log_warning("refused %s from %s %s: %s", m, peer_role_to_string(peer.role), peer.name,
	            allowed);
	return rpc_server_call_error(call, RPC_PERMISSION_DENIED,
	                             "%s on node %s refused to %s %s: %s", m, a->config->node_name,
	                             peer_role_to_string(peer.role), peer.name, allowed);
}

int agent_authorize_order(Agent *a, RpcServerCall *call, AgentMethod method,
                          const MigrationRecord *rec)
{
	const char *m = agent_method_to_string(method);
	char why[640];

	int r = migration_order_verify(a->etcd, a->config->prefix, rec, why, sizeof why);
	if (r == -EPERM) {
		log_warning("refused %s of migration %s (%s from %s to %s): %s", m, rec->id,
		            rec->container, rec->source, rec->target, why);
		return rpc_server_call_error(call, RPC_PERMISSION_DENIED,
		                             "%s on node %s refused: %s", m, a->config->node_name,
		                             why);
	}
	if (r < 0)
		return rpc_server_call_error(call, RPC_UNAVAILABLE,
		                             "%s on node %s: cannot read the order of migration %s "
		                             "from etcd: %s",
		                             m, a->config->node_name, rec->id, error_to_string(r));
	return 0;
}
