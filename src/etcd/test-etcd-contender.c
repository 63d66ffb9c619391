/* A contender of the election tests, as its own process so that the test can
 * kill it (SIGKILL) while it leads:
 *   test-etcd-contender ENDPOINTS PREFIX NAME TTL_SEC
 * campaigns with value NAME, prints "leader NAME" once it leads, and then
 * waits to be killed. Exits 1 if anything fails. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "etcd.h"

int main(int argc, char *argv[])
{
	if (argc != 5) {
		fprintf(stderr, "usage: %s ENDPOINTS PREFIX NAME TTL_SEC\n", argv[0]);
		return 2;
	}
	rpc_global_init();
	EtcdOptions o = { .rpc.plaintext = true };
	o.rpc.max_reconnect_backoff_msec = 200;
	EtcdClient *c;
	EtcdElection *e;
	int r = etcd_client_new(argv[1], &o, &c);
	if (r >= 0)
		r = etcd_election_new(c, argv[2], atoi(argv[4]), NULL, NULL, &e);
	if (r >= 0)
		r = etcd_election_campaign(e, argv[3], RPC_USEC_INFINITY);
	if (r < 0) {
		fprintf(stderr, "contender %s: %s (%s)\n", argv[3], strerror(-r),
		        etcd_last_error()->message);
		return 1;
	}
	printf("leader %s\n", argv[3]);
	fflush(stdout);
	for (;;)
		pause();
}
