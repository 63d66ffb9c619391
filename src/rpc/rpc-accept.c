/* rpc-accept.c — a process-wide bound on the connections gRPC accepts.
 * gRPC 1.51 has no cap on a server's connections (and its memory-pressure
 * check never fires), and a connection costs its server 16 KiB (plaintext)
 * to 34 KiB (TLS, before the handshake) until it is closed: 10,000 idle
 * ones made an agent 400 MiB. Its listener accepts through libc's
 * accept4(), which this file defines for the program that links it (the
 * dynamic linker binds libgrpc's reference to the program's definition).
 *
 * The kernel hands out the lowest free descriptor number. A connection
 * whose number is at or above the cap (every number below it is taken) is
 * closed at once, and the next one is tried (until none is pending); so
 * fewer than `cap` connections are ever open, and the numbers from the cap
 * to RLIMIT_NOFILE stay for the program's own work (etcd, Podman, files):
 * an accept never fails for want of a descriptor. */
#include <errno.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "rpc-internal.h"

static atomic_uint accept_fd_cap; /* 0: none */
static atomic_ulong accepts_refused;

void rpc_accept_cap_set(unsigned max_fds)
{
	atomic_store(&accept_fd_cap, max_fds);
}

unsigned long rpc_server_connections_refused(void)
{
	return atomic_load(&accepts_refused);
}

int accept4(int fd, struct sockaddr *addr, socklen_t *addr_len, int flags)
{
	for (;;) {
		int c = (int)syscall(SYS_accept4, fd, addr, addr_len, flags);
		unsigned cap = atomic_load(&accept_fd_cap);
		if (c < 0 || cap == 0 || (unsigned)c < cap)
			return c;
		close(c);
		atomic_fetch_add(&accepts_refused, 1);
	}
}
