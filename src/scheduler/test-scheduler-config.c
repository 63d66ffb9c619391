/* test-scheduler-config.c — podmig-scheduler's settings: every key, its
 * bounds, the config file (errors name the file and line), the defaults
 * and the checks across settings. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "daemon.h"
#include "strutil.h"

static void test_set(void **state)
{
	SchedulerConfig c;
	ErrorDetail err = {};
	scheduler_config_init(&c);
	assert_int_equal(c.tick_usec, 1000000);
	assert_int_equal(c.lease_ttl_sec, 5);
	assert_int_equal(scheduler_config_set(&c, "name", "s1", &err), 0);
	assert_string_equal(c.name, "s1");
	assert_int_equal(scheduler_config_set(&c, "interval", "0.25", &err), 0);
	assert_int_equal(c.tick_usec, 250000);
	assert_int_equal(scheduler_config_set(&c, "lease-ttl", "9", &err), 0);
	assert_int_equal(c.lease_ttl_sec, 9);
	assert_int_equal(scheduler_config_set(&c, "insecure", "true", &err), 0);
	assert_true(c.insecure);
	assert_int_equal(scheduler_config_set(&c, "log-level", "debug", &err), 0);
	assert_int_equal(c.log_level, 7);
	assert_int_equal(scheduler_config_set(&c, "prefix", "/other/", &err), 0);
	assert_string_equal(c.prefix, "/other/");
	assert_null(c.metrics_address);
	assert_int_equal(scheduler_config_set(&c, "metrics-address", "0.0.0.0:7403", &err), 0);
	assert_string_equal(c.metrics_address, "0.0.0.0:7403");
	assert_int_equal(scheduler_config_set(&c, "metrics-address", "off", &err), 0);
	assert_null(c.metrics_address);
	assert_int_equal(scheduler_config_set(&c, "metrics-address", "127.0.0.1:7403", &err), 0);

	static const struct {
		const char *key, *value, *message;
	} bad[] = {
		{ "interval", "0.01",
		  "--interval: '0.01' is not a number of seconds in [0.05, 3600]" },
		{ "interval", "x", "--interval: 'x' is not" },
		{ "lease-ttl", "0", "--lease-ttl: '0' is not an integer in [1, 3600]" },
		{ "lease-ttl", "1.5", "--lease-ttl: '1.5'" },
		{ "insecure", "yes", "--insecure: 'yes' is neither 'true' nor 'false'" },
		{ "log-level", "loud", "--log-level: 'loud' is none of" },
		{ "prefix", "/a/../", "--prefix: '/a/../' is not a key prefix" },
		{ "etcd", "", "--etcd: empty value" },
		{ "metrics-address", "localhost:7403",
		  "--metrics-address: 'localhost:7403' is neither HOST:PORT" },
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		error_detail_clear(&err);
		assert_int_equal(scheduler_config_set(&c, bad[i].key, bad[i].value, &err), -EINVAL);
		assert_true(startswith(err.message, bad[i].message));
	}
	/* a bad value changes nothing */
	assert_int_equal(c.tick_usec, 250000);
	assert_string_equal(c.prefix, "/other/");
	assert_string_equal(c.metrics_address, "127.0.0.1:7403");
	assert_int_equal(scheduler_config_set(&c, "no-such", "1", &err), -ENOENT);
	scheduler_config_done(&c);
}

static void test_finish(void **state)
{
	SchedulerConfig c;
	ErrorDetail err = {};
	unsetenv("PODMIG_ETCD_ENDPOINTS");

	scheduler_config_init(&c);
	assert_int_equal(scheduler_config_finish(&c, &err), -EINVAL);
	assert_non_null(strstr(err.message, "mutual TLS needs"));
	scheduler_config_done(&c);

	scheduler_config_init(&c);
	assert_int_equal(scheduler_config_set(&c, "tls-cert", "/c.pem", &err), 0);
	error_detail_clear(&err);
	assert_int_equal(scheduler_config_finish(&c, &err), -EINVAL);
	assert_non_null(strstr(err.message, "go together"));
	assert_int_equal(scheduler_config_set(&c, "tls-key", "/c.key", &err), 0);
	assert_int_equal(scheduler_config_set(&c, "tls-ca", "/ca.pem", &err), 0);
	assert_int_equal(scheduler_config_set(&c, "etcd", "http://10.0.0.1:2379", &err), 0);
	error_detail_clear(&err);
	assert_int_equal(scheduler_config_finish(&c, &err), -EINVAL);
	assert_non_null(strstr(err.message, "plaintext"));
	assert_int_equal(scheduler_config_set(&c, "etcd", "https://10.0.0.1:2379", &err), 0);
	assert_int_equal(scheduler_config_set(&c, "name", "bad\"name", &err), 0);
	error_detail_clear(&err);
	assert_int_equal(scheduler_config_finish(&c, &err), -EINVAL);
	assert_non_null(strstr(err.message, "--name"));
	free(c.name);
	c.name = NULL;
	/* an etcd user needs its password file, and the file its user */
	assert_int_equal(scheduler_config_set(&c, "etcd-user", "scheduler", &err), 0);
	error_detail_clear(&err);
	assert_int_equal(scheduler_config_finish(&c, &err), -EINVAL);
	assert_non_null(strstr(err.message, "--etcd-password-file"));
	free(c.etcd_user);
	c.etcd_user = NULL;
	assert_int_equal(scheduler_config_set(&c, "etcd-password-file", "/etc/podmig/pw", &err), 0);
	error_detail_clear(&err);
	assert_int_equal(scheduler_config_finish(&c, &err), -EINVAL);
	assert_non_null(strstr(err.message, "--etcd-user"));
	assert_int_equal(scheduler_config_set(&c, "etcd-user", "scheduler", &err), 0);
	assert_int_equal(scheduler_config_finish(&c, &err), 0);
	assert_string_equal(c.etcd_user, "scheduler");
	assert_string_equal(c.etcd_password_file, "/etc/podmig/pw");
	free(c.name);
	c.name = NULL;
	assert_int_equal(scheduler_config_finish(&c, &err), 0);
	assert_non_null(c.name); /* host-pid */
	assert_string_equal(c.prefix, "/podmig/");
	scheduler_config_done(&c);

	/* the environment's endpoints unless a setting names them */
	setenv("PODMIG_ETCD_ENDPOINTS", "10.1.1.1:2379", 1);
	scheduler_config_init(&c);
	assert_int_equal(scheduler_config_set(&c, "insecure", "true", &err), 0);
	assert_int_equal(scheduler_config_finish(&c, &err), 0);
	assert_string_equal(c.etcd, "10.1.1.1:2379");
	scheduler_config_done(&c);
	unsetenv("PODMIG_ETCD_ENDPOINTS");
}

static void test_file(void **state)
{
	char path[] = "/tmp/podmig-scheduler-conf-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	const char *text = "# the scheduler of rack 1\n"
	                   "name = sched-r1\n"
	                   "etcd = https://10.0.0.1:2379,https://10.0.0.2:2379\n"
	                   "tls-ca = /etc/podmig/ca.pem\n"
	                   "tls-cert = /etc/podmig/scheduler.pem\n"
	                   "tls-key = /etc/podmig/scheduler.key\n"
	                   "etcd-user = scheduler\n"
	                   "etcd-password-file = /run/credentials/podmig-scheduler.service/"
	                   "etcd-password\n"
	                   "interval 2\n";
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	SchedulerConfig c;
	ErrorDetail err = {};
	scheduler_config_init(&c);
	assert_int_equal(scheduler_config_load_file(&c, path, &err), 0);
	assert_string_equal(c.name, "sched-r1");
	assert_string_equal(c.etcd, "https://10.0.0.1:2379,https://10.0.0.2:2379");
	assert_int_equal(c.tick_usec, 2000000);
	assert_string_equal(c.etcd_user, "scheduler");
	assert_string_equal(c.etcd_password_file,
	                    "/run/credentials/podmig-scheduler.service/etcd-password");
	/* a flag after the file wins */
	assert_int_equal(scheduler_config_set(&c, "interval", "3", &err), 0);
	assert_int_equal(c.tick_usec, 3000000);
	assert_int_equal(scheduler_config_finish(&c, &err), 0);
	scheduler_config_done(&c);

	/* every key of the table is a key of the file */
	FILE *f = fopen(path, "we");
	assert_non_null(f);
	for (size_t i = 0; i < scheduler_n_settings; i++)
		fprintf(f, "%s = %s\n", scheduler_settings[i].key,
		        scheduler_settings[i].kind == SETTING_BOOL        ? "false"
		        : scheduler_settings[i].kind == SETTING_PREFIX    ? "/p/"
		        : scheduler_settings[i].kind == SETTING_LOG_LEVEL ? "info"
		        : scheduler_settings[i].kind == SETTING_STRING    ? "x"
		        : scheduler_settings[i].kind == SETTING_ADDRESS   ? "127.0.0.1:7403"
		                                                          : "2");
	fclose(f);
	scheduler_config_init(&c);
	assert_int_equal(scheduler_config_load_file(&c, path, &err), 0);
	scheduler_config_done(&c);

	f = fopen(path, "we");
	fputs("name = a\n\nlease-ttl = 0\n", f);
	fclose(f);
	scheduler_config_init(&c);
	assert_int_equal(scheduler_config_load_file(&c, path, &err), -EINVAL);
	assert_true(startswith(err.message, path));
	assert_non_null(strstr(err.message, ":3: --lease-ttl: '0'"));
	scheduler_config_done(&c);

	f = fopen(path, "we");
	fputs("interval = 1\nlisten = 0.0.0.0:1\n", f);
	fclose(f);
	scheduler_config_init(&c);
	error_detail_clear(&err);
	assert_int_equal(scheduler_config_load_file(&c, path, &err), -EINVAL);
	assert_non_null(strstr(err.message, ":2: unknown setting 'listen'"));
	scheduler_config_done(&c);
	unlink(path);

	scheduler_config_init(&c);
	error_detail_clear(&err);
	assert_int_equal(scheduler_config_load_file(&c, "/nonexistent/scheduler.conf", &err),
	                 -ENOENT);
	assert_non_null(strstr(err.message, "/nonexistent/scheduler.conf"));
	scheduler_config_done(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_set),
		cmocka_unit_test(test_finish),
		cmocka_unit_test(test_file),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
