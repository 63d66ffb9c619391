/* test-cli-config.c — where podmig takes its endpoints, prefix and TLS files
 * from: flag > environment > the user's file > the system's file; errors
 * name the file and line. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "cli-config.h"
#include "strutil.h"

static char dir[] = "/tmp/podmig-cli-config-XXXXXX";
static char system_path[128], user_path[128];

static void put(const char *path, const char *text)
{
	FILE *f = fopen(path, "we");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void clear_env(void)
{
	const char *names[] = { "PODMIG_ETCD_ENDPOINTS", "PODMIG_PREFIX",    "PODMIG_TLS_CA",
		                "PODMIG_TLS_CERT",       "PODMIG_TLS_KEY",   "PODMIG_CONFIG",
		                "XDG_CONFIG_HOME",       "PODMIG_ETCD_USER", "PODMIG_INSECURE" };
	for (size_t i = 0; i < sizeof names / sizeof *names; i++)
		unsetenv(names[i]);
	setenv("HOME", dir, 1);
}

static int setup(void **state)
{
	char sub[160];
	if (!mkdtemp(dir))
		return -1;
	snprintf(system_path, sizeof system_path, "%s/podmig.conf", dir);
	snprintf(sub, sizeof sub, "%s/.config", dir);
	mkdir(sub, 0755);
	snprintf(sub, sizeof sub, "%s/.config/podmig", dir);
	mkdir(sub, 0755);
	snprintf(user_path, sizeof user_path, "%s/.config/podmig/config", dir);
	return 0;
}

static int teardown(void **state)
{
	char cmd[256];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void test_precedence(void **state)
{
	CliConfig c = {};
	ErrorDetail err = {};
	clear_env();
	unlink(user_path);
	unlink(system_path);
	/* nothing anywhere: nothing set */
	assert_int_equal(cli_config_load(&c, system_path, &err), 0);
	assert_null(c.etcd);
	assert_null(c.tls_ca);
	cli_config_done(&c);

	put(system_path, "# the site's\netcd = https://10.0.0.1:2379\nprefix = /site/\n"
	                 "tls-ca = /etc/podmig/ca.pem\n");
	assert_int_equal(cli_config_load(&c, system_path, &err), 0);
	assert_string_equal(c.etcd, "https://10.0.0.1:2379");
	assert_string_equal(c.prefix, "/site/");
	assert_string_equal(c.tls_ca, "/etc/podmig/ca.pem");
	cli_config_done(&c);

	/* the user's file over the system's */
	put(user_path, "etcd = https://10.9.9.9:2379\ntls-cert = /home/op/op.pem\n"
	               "tls-key = /home/op/op.key\n");
	assert_int_equal(cli_config_load(&c, system_path, &err), 0);
	assert_string_equal(c.etcd, "https://10.9.9.9:2379");
	assert_string_equal(c.prefix, "/site/");
	assert_string_equal(c.tls_cert, "/home/op/op.pem");
	cli_config_done(&c);

	/* the environment over both; relative TLS paths from it are taken as given */
	setenv("PODMIG_ETCD_ENDPOINTS", "10.1.1.1:2379", 1);
	setenv("PODMIG_TLS_KEY", "certs/cli.key", 1);
	setenv("PODMIG_PREFIX", "/env/", 1);
	assert_int_equal(cli_config_load(&c, system_path, &err), 0);
	assert_string_equal(c.etcd, "10.1.1.1:2379");
	assert_string_equal(c.prefix, "/env/");
	assert_string_equal(c.tls_key, "certs/cli.key");
	assert_string_equal(c.tls_cert, "/home/op/op.pem");
	cli_config_done(&c);

	/* $PODMIG_CONFIG instead of ~/.config/podmig/config */
	clear_env();
	char other[160];
	snprintf(other, sizeof other, "%s/other.conf", dir);
	put(other, "etcd = https://10.2.2.2:2379\n");
	setenv("PODMIG_CONFIG", other, 1);
	assert_int_equal(cli_config_load(&c, system_path, &err), 0);
	assert_string_equal(c.etcd, "https://10.2.2.2:2379");
	assert_null(c.tls_cert); /* the user's default file is not read */
	cli_config_done(&c);
	/* ... which must exist */
	unlink(other);
	assert_int_equal(cli_config_load(&c, system_path, &err), -ENOENT);
	assert_non_null(strstr(err.message, "other.conf (from $PODMIG_CONFIG)"));
	cli_config_done(&c);
	unsetenv("PODMIG_CONFIG");

	/* $XDG_CONFIG_HOME moves the user's file */
	char xdg[160];
	snprintf(xdg, sizeof xdg, "%s/.config", dir);
	setenv("XDG_CONFIG_HOME", xdg, 1);
	assert_int_equal(cli_config_load(&c, NULL, &err), 0);
	assert_string_equal(c.etcd, "https://10.9.9.9:2379");
	cli_config_done(&c);
}

/* The etcd user, its password file and plaintext: file keys and variables. */
static void test_security(void **state)
{
	CliConfig c = {};
	ErrorDetail err = {};
	clear_env();
	unlink(user_path);
	put(system_path, "etcd-user = alice\netcd-password-file = /etc/podmig/alice.pw\n"
	                 "insecure = true\n");
	assert_int_equal(cli_config_load(&c, system_path, &err), 0);
	assert_string_equal(c.etcd_user, "alice");
	assert_string_equal(c.etcd_password_file, "/etc/podmig/alice.pw");
	assert_true(c.insecure);
	cli_config_done(&c);

	/* the environment over the file: 1 allows plaintext, anything else not */
	setenv("PODMIG_ETCD_USER", "bob", 1);
	setenv("PODMIG_INSECURE", "0", 1);
	assert_int_equal(cli_config_load(&c, system_path, &err), 0);
	assert_string_equal(c.etcd_user, "bob");
	assert_false(c.insecure);
	cli_config_done(&c);
	put(system_path, "insecure = false\n");
	setenv("PODMIG_INSECURE", "1", 1);
	assert_int_equal(cli_config_load(&c, system_path, &err), 0);
	assert_true(c.insecure);
	cli_config_done(&c);
	clear_env();
	unlink(system_path);
}

static void assert_error(const char *path, const char *text, const char *want)
{
	CliConfig c = {};
	ErrorDetail err = {};
	char expect[256];
	put(path, text);
	assert_int_equal(cli_config_load(&c, system_path, &err), -EINVAL);
	snprintf(expect, sizeof expect, "%s%s", path, want);
	assert_string_equal(err.message, expect);
	cli_config_done(&c);
}

static void test_errors(void **state)
{
	clear_env();
	unlink(user_path);
	assert_error(system_path, "etcd = a\nendpoint = b\n", ":2: unknown setting 'endpoint'");
	assert_error(system_path, "tls-ca = ca.pem\n",
	             ":1: tls-ca: 'ca.pem' is not an absolute path");
	assert_error(system_path, "\n\nprefix = nope\n",
	             ":3: prefix: 'nope' is not a key prefix: "
	             "it must start and end with '/'");
	assert_error(system_path, "etcd =\n", ":1: etcd: empty value");
	assert_error(system_path, "insecure = yes\n",
	             ":1: insecure: 'yes' is neither 'true' nor 'false'");
	assert_error(system_path, "etcd-password-file = pw\n",
	             ":1: etcd-password-file: 'pw' is not an absolute path");
	unlink(system_path);
	assert_error(user_path, "a line\n", ":1: unknown setting 'a'");
	unlink(user_path);

	CliConfig c = {};
	ErrorDetail err = {};
	setenv("PODMIG_PREFIX", "x", 1);
	assert_int_equal(cli_config_load(&c, system_path, &err), -EINVAL);
	assert_true(startswith(err.message, "$PODMIG_PREFIX: prefix: 'x' is not a key prefix"));
	cli_config_done(&c);
	unsetenv("PODMIG_PREFIX");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_precedence),
		cmocka_unit_test(test_security),
		cmocka_unit_test(test_errors),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
