/* interop-server: a podmig gRPC server for the Node interop test. Serves
 * podmig.v1.Agent/Info (node "interop-node") and the Testing service on
 * 127.0.0.1, prints its port on stdout, and stops when stdin closes. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "agent.pb-c.h"
#include "config.h"
#include "rpc-testutil.h"

static int agent_info(RpcServerCall *c, void *userdata)
{
	_cleanup_message_ ProtobufCMessage *req = NULL;
	int r = rpc_server_call_recv(c, &req);
	if (r < 0)
		return r;
	Podmig__V1__InfoResponse rep = PODMIG__V1__INFO_RESPONSE__INIT;
	rep.node_name = (char *)"interop-node";
	rep.version = (char *)PODMIG_VERSION;
	rep.grpc_address = (char *)userdata;
	return rpc_server_call_reply(c, &rep.base);
}

int main(void)
{
	static const RpcHandler agent_handlers[] = { agent_info, NULL };
	char address[64];

	rpc_global_init();
	_cleanup_(rpc_server_freep) RpcServer *s = NULL;
	int r = rpc_server_new("127.0.0.1:0", &(RpcOptions){ .plaintext = true }, &s);
	if (r < 0) {
		fprintf(stderr, "cannot listen: %s\n", strerror(-r));
		return 1;
	}
	snprintf(address, sizeof(address), "127.0.0.1:%d", rpc_server_get_port(s));
	if (rpc_server_add_service(s, &podmig__v1__agent__descriptor, agent_handlers,
	                           ELEMENTSOF(agent_handlers), address) < 0 ||
	    rpc_server_add_service(s, &podmig__v1__testing__descriptor, test_testing_handlers,
	                           test_testing_n_handlers, NULL) < 0 ||
	    rpc_server_start(s) < 0) {
		fprintf(stderr, "cannot start the server\n");
		return 1;
	}
	printf("%d\n", rpc_server_get_port(s));
	fflush(stdout);

	char buf[64];
	while (read(STDIN_FILENO, buf, sizeof(buf)) > 0)
		;
	s = rpc_server_free(s);
	rpc_global_shutdown();
	return 0;
}
