/* test-service-notify.c — the daemons speak systemd's notify protocol
 * (sd_notify(3)) as a service manager sees it: each runs against a real etcd
 * (the fixture) with $NOTIFY_SOCKET pointing at a datagram socket this test
 * owns and $WATCHDOG_USEC set, and the test asserts, from the messages and
 * their senders' credentials: READY=1 from the daemon's own pid, only once
 * it serves (the agent: its node's status is in etcd; the scheduler: its
 * watch is live), STATUS= saying what it does, WATCHDOG=1 again and again,
 * and STOPPING=1 on SIGTERM, after which it exits 0.
 *
 * argv: podmig-agent podmig-scheduler */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "etcd-fixture.h"
#include "etcd.h"
#include "process-util.h"
#include "strutil.h"
#include "time-util.h"

#define PREFIX "/notify-test/"

static const char *agent_path, *scheduler_path;
static EtcdFixture *etcd;
static EtcdClient *client;
static char dir[] = "/tmp/podmig-notify-XXXXXX";
static pid_t running; /* the daemon under test, until it has exited */

extern char **environ;

static int setup(void **state)
{
	if (!mkdtemp(dir))
		return -1;
	return etcd_fixture_setup_client(&etcd, &client);
}

/* After each test: the daemon a failed one left running. */
static int kill_running(void **state)
{
	if (running > 0) {
		kill(running, SIGKILL);
		(void)spawn_reap(running, NULL);
		running = 0;
	}
	return 0;
}

static int teardown(void **state)
{
	etcd_fixture_teardown_client(&etcd, &client);
	char *const rm[] = { "rm", "-rf", dir, NULL };
	return spawn_wait(rm, NULL, NULL);
}

typedef struct Notify {
	int fd;
	char path[100];
} Notify;

static void notify_open(Notify *n, const char *name)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int one = 1;
	snprintf(n->path, sizeof n->path, "%s/%s.sock", dir, name);
	memcpy(sa.sun_path, n->path, sizeof n->path);
	n->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	assert_true(n->fd >= 0);
	assert_int_equal(bind(n->fd, (struct sockaddr *)&sa, sizeof sa), 0);
	assert_int_equal(setsockopt(n->fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof one), 0);
}

/* The next message within `timeout_usec` (NUL-terminated in buf) and its
 * sender's pid; false on timeout. */
static bool notify_next(Notify *n, uint64_t timeout_usec, char *buf, size_t size, pid_t *ret_pid)
{
	struct pollfd p = { .fd = n->fd, .events = POLLIN };
	if (poll(&p, 1, (int)(timeout_usec / 1000)) <= 0)
		return false;
	union {
		struct cmsghdr h;
		char space[CMSG_SPACE(sizeof(struct ucred))];
	} control = {};
	struct iovec iov = { .iov_base = buf, .iov_len = size - 1 };
	struct msghdr mh = { .msg_iov = &iov,
		             .msg_iovlen = 1,
		             .msg_control = &control,
		             .msg_controllen = sizeof control };
	ssize_t len = recvmsg(n->fd, &mh, MSG_CMSG_CLOEXEC);
	assert_true(len >= 0);
	buf[len] = 0;
	*ret_pid = 0;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS) {
			struct ucred u;
			memcpy(&u, CMSG_DATA(c), sizeof u);
			*ret_pid = u.pid;
		}
	return true;
}

/* Starts argv with $NOTIFY_SOCKET and $WATCHDOG_USEC (1 s) added to this
 * environment, its output in DIR/<name>.log. */
static pid_t start(const char *name, const Notify *n, char *const argv[])
{
	size_t count = 0;
	while (environ[count])
		count++;
	char **env = calloc(count + 3, sizeof *env);
	char notify[160], log_path[160];
	assert_non_null(env);
	memcpy(env, environ, count * sizeof *env);
	snprintf(notify, sizeof notify, "NOTIFY_SOCKET=%s", n->path);
	env[count] = notify;
	env[count + 1] = "WATCHDOG_USEC=1000000";
	snprintf(log_path, sizeof log_path, "%s/%s.log", dir, name);
	SpawnOptions o = { .envp = env, .log_path = log_path };
	pid_t pid;
	assert_int_equal(spawn_start(argv, &o, &pid), 0);
	free(env);
	running = pid;
	return pid;
}

static void print_log(const char *name)
{
	char path[160];
	snprintf(path, sizeof path, "%s/%s.log", dir, name);
	char *const cat[] = { "cat", path, NULL };
	(void)spawn_wait(cat, NULL, NULL);
}

typedef struct Seen {
	bool ready, stopping;
	unsigned watchdogs;
	char status[512]; /* the newest STATUS= */
	char first_status[512];
} Seen;

/* Reads messages from `pid` (any other sender fails the test) until `until`
 * holds or the deadline passes; returns whether it held. */
static bool follow(Notify *n, pid_t pid, Seen *seen, uint64_t timeout_usec,
                   bool (*until)(const Seen *), void (*on_ready)(void))
{
	uint64_t deadline = now_usec(CLOCK_MONOTONIC) + timeout_usec;
	char buf[4096];
	pid_t from;
	while (!until(seen)) {
		uint64_t now = now_usec(CLOCK_MONOTONIC);
		if (now >= deadline || !notify_next(n, deadline - now, buf, sizeof buf, &from))
			return false;
		assert_int_equal(from, pid);
		for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n")) {
			if (streq(line, "READY=1")) {
				assert_false(seen->ready); /* once */
				seen->ready = true;
				if (on_ready)
					on_ready();
			} else if (streq(line, "WATCHDOG=1"))
				seen->watchdogs++;
			else if (streq(line, "STOPPING=1"))
				seen->stopping = true;
			else if (startswith(line, "STATUS=")) {
				snprintf(seen->status, sizeof seen->status, "%s", line + 7);
				if (!seen->first_status[0])
					snprintf(seen->first_status, sizeof seen->first_status,
					         "%s", line + 7);
			} else
				fail_msg("unexpected notification '%s'", line);
		}
	}
	return true;
}

static bool ready_and_petted(const Seen *s)
{
	return s->ready && s->watchdogs >= 3;
}

static bool stopping(const Seen *s)
{
	return s->stopping;
}

static void assert_status_published(void)
{
	EtcdKeyValue kv = {};
	/* READY=1 only once etcd holds the node's status */
	assert_int_equal(etcd_get(client, PREFIX "nodes/notify1/status", &kv), 0);
	etcd_key_value_done(&kv);
}

static void stop(Notify *n, pid_t pid, Seen *seen, const char *name)
{
	int status;
	assert_int_equal(kill(pid, SIGTERM), 0);
	bool ok = follow(n, pid, seen, 20 * USEC_PER_SEC, stopping, NULL);
	assert_int_equal(spawn_reap(pid, &status), 0);
	running = 0;
	if (!ok || status != 0)
		print_log(name);
	assert_true(ok);
	assert_int_equal(status, 0);
}

static void test_agent(void **state)
{
	Notify n;
	Seen seen = {};
	char podman[160], work[160];
	notify_open(&n, "agent");
	snprintf(podman, sizeof podman, "%s/no-podman.sock", dir);
	snprintf(work, sizeof work, "%s/work", dir);
	char *const argv[] = { (char *)agent_path,  "--config",    "/dev/null",
		               "--insecure",        "--node-name", "notify1",
		               "--listen",          "127.0.0.1:0", "--etcd",
		               etcd->endpoint,      "--prefix",    PREFIX,
		               "--podman-socket",   podman,        "--criu",
		               "/nonexistent/criu", "--work-dir",  work,
		               "--interval",        "0.2",         NULL };
	pid_t pid = start("agent", &n, argv);
	bool ok = follow(&n, pid, &seen, 30 * USEC_PER_SEC, ready_and_petted,
	                 assert_status_published);
	if (!ok)
		print_log("agent");
	assert_true(ok);
	/* what it does, in words: its port, migrations, containers, etcd */
	assert_true(startswith(seen.first_status, "serving on port "));
	assert_non_null(strstr(seen.status, "0 migrations in flight"));
	assert_non_null(strstr(seen.status, "Podman unreachable"));
	print_message("agent: first STATUS=%s\nagent: STATUS=%s\nagent: %u watchdog pets\n",
	              seen.first_status, seen.status, seen.watchdogs);
	stop(&n, pid, &seen, "agent");
	assert_non_null(strstr(seen.status, "stopping"));
	close(n.fd);
}

static bool leading(const Seen *s)
{
	return s->watchdogs >= 3 && startswith(s->status, "leading, ");
}

static void test_scheduler(void **state)
{
	Notify n;
	Seen seen = {};
	notify_open(&n, "scheduler");
	char *const argv[] = { (char *)scheduler_path,
		               "--config",
		               "/dev/null",
		               "--insecure",
		               "--name",
		               "notify-scheduler",
		               "--etcd",
		               etcd->endpoint,
		               "--prefix",
		               PREFIX,
		               "--interval",
		               "0.2",
		               NULL };
	pid_t pid = start("scheduler", &n, argv);
	bool ok = follow(&n, pid, &seen, 30 * USEC_PER_SEC, ready_and_petted, NULL);
	if (ok)
		ok = follow(&n, pid, &seen, 30 * USEC_PER_SEC, leading, NULL);
	if (!ok)
		print_log("scheduler");
	assert_true(ok);
	assert_true(startswith(seen.first_status, "watching " PREFIX));
	/* it leads alone, sees no node, moves nothing */
	assert_true(startswith(seen.status, "leading, 0 nodes, 0 migrations in flight"));
	print_message("scheduler: first STATUS=%s\nscheduler: STATUS=%s\n", seen.first_status,
	              seen.status);
	stop(&n, pid, &seen, "scheduler");
	close(n.fd);
}

int main(int argc, char *argv[])
{
	if (argc != 3) {
		fprintf(stderr, "usage: %s PODMIG-AGENT PODMIG-SCHEDULER\n", argv[0]);
		return 2;
	}
	agent_path = argv[1];
	scheduler_path = argv[2];
	etcd_fixture_require();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_agent, kill_running),
		cmocka_unit_test_teardown(test_scheduler, kill_running),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
