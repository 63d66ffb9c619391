/* test-scheduler-auth.c — podmig-scheduler logs in to etcd with a user name
 * and the password from --etcd-password-file when etcd's authentication is
 * on and its certificate names no etcd user: it leads (its leader key is in
 * etcd). A wrong password stops it with a reason that names the user and
 * never the password. Runs the podmig-scheduler binary (argv[1]) against a
 * real etcd with TLS (the fixture). */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "etcd-fixture.h"
#include "macro.h"
#include "process-util.h"
#include "rpc-testutil.h"

#define PASSWORD "pw-5b8e2d3f"
#define PREFIX   "/t/podmig/"

static const char *scheduler;
static EtcdPasswordFixture fx;
static EtcdFixture *etcd;
static char wrong_file[700];

static int setup(void **state)
{
	/* a scheduler certificate whose CN is no etcd user */
	if (etcd_password_fixture_start("podmig-test-scheduler-auth", "scheduler:sched-a:127.0.0.1",
	                                PASSWORD, true, &fx) < 0)
		return -1;
	etcd = fx.etcd;
	snprintf(wrong_file, sizeof wrong_file, "%s/wrong", fx.dir);
	FILE *f = fopen(wrong_file, "we");
	return f && fputs("wrong-pw\n", f) >= 0 && fclose(f) == 0 ? 0 : -1;
}

static int teardown(void **state)
{
	etcd_password_fixture_stop(&fx);
	return 0;
}

/* Starts the scheduler with `password` as its password file, its output in
 * `log`. */
static pid_t scheduler_start(const char *password, const char *log)
{
	char *const argv[] = { (char *)scheduler,
		               "--config",
		               "/dev/null",
		               "--name",
		               "sched-a",
		               "--etcd",
		               fx.https,
		               "--prefix",
		               PREFIX,
		               "--tls-ca",
		               (char *)etcd->ca_file,
		               "--tls-cert",
		               fx.cert,
		               "--tls-key",
		               fx.key,
		               "--etcd-user",
		               "root",
		               "--etcd-password-file",
		               (char *)password,
		               NULL };
	pid_t pid;
	assert_int_equal(spawn_start(argv, &(SpawnOptions){ .log_path = log }, &pid), 0);
	return pid;
}

static char *file_read(const char *path)
{
	static char buf[16384];
	FILE *f = fopen(path, "re");
	assert_non_null(f);
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = 0;
	return buf;
}

static void test_password_lets_it_lead(void **state)
{
	char log[700];
	snprintf(log, sizeof log, "%s/scheduler.log", fx.dir);
	pid_t pid = scheduler_start(fx.password_file, log);

	/* etcd as root (the fixture's certificate): the leader key appears */
	EtcdOptions eo = { .rpc = { .ca_file = etcd->ca_file,
		                    .cert_file = etcd->cert_file,
		                    .key_file = etcd->key_file },
		           .request_timeout_usec = 5 * 1000 * 1000 };
	_cleanup_(etcd_client_freep) EtcdClient *c = NULL;
	assert_int_equal(etcd_client_new(fx.https, &eo, &c), 0);
	size_t n = 0;
	for (int i = 0; i < 100 && n == 0; i++) {
		EtcdKeyValue *kvs = NULL;
		assert_int_equal(etcd_get_prefix(c, PREFIX "scheduler/leader/", &kvs, &n, NULL), 0);
		if (n > 0)
			assert_non_null(strstr(kvs[0].value, "\"sched-a\""));
		etcd_key_values_free(kvs, n);
		if (n == 0)
			usleep(100 * 1000);
	}
	assert_int_equal(kill(pid, SIGTERM), 0);
	int status = -1;
	assert_int_equal(spawn_reap(pid, &status), 0);
	const char *out = file_read(log);
	printf("%s", out);
	assert_int_equal(n, 1);
	assert_int_equal(status, 0);
	assert_null(strstr(out, PASSWORD));
}

static void test_wrong_password_refused(void **state)
{
	char log[700];
	snprintf(log, sizeof log, "%s/wrong.log", fx.dir);
	pid_t pid = scheduler_start(wrong_file, log);
	int status = -1;
	assert_int_equal(spawn_reap(pid, &status), 0);
	const char *out = file_read(log);
	printf("exit %d: %s", status, out);
	assert_int_not_equal(status, 0);
	assert_non_null(strstr(out, "refused user root or its password"));
	assert_null(strstr(out, "wrong-pw"));
}

int main(int argc, char *argv[])
{
	etcd_fixture_require();
	if (argc != 2) {
		fprintf(stderr, "usage: %s PODMIG_SCHEDULER\n", argv[0]);
		return 2;
	}
	scheduler = argv[1];
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_password_lets_it_lead),
		cmocka_unit_test(test_wrong_password_refused),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
