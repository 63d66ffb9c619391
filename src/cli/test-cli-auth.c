/* podmig is secure by default: an http:// (or scheme-less) etcd endpoint is
 * refused unless --insecure or PODMIG_INSECURE=1 allows it; over https://
 * with the CA and a certificate it works. With etcd's authentication on, an
 * etcd user and password (--etcd-user with --etcd-password-file, or
 * PODMIG_ETCD_USER and PODMIG_ETCD_PASSWORD) let it in, a wrong password is
 * refused with a reason, a password given as --etcd-password is refused, and
 * no password is ever printed. Runs the podmig
 * binary (argv[1]) against a real etcd with TLS (the fixture). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "etcd-fixture.h"
#include "rpc-testutil.h"
#include "strutil.h"
#include "test-cli-fixture.h"

#define PASSWORD "pw-4a7d1c2e"

static EtcdPasswordFixture fx;
static EtcdFixture *etcd;
static char plain[128];

static int setup(void **state)
{
	/* the CLI's certificate names no etcd user: with authentication on,
	 * only a password lets it in */
	if (etcd_password_fixture_start("podmig-test-cli-auth", "cli:podmig", PASSWORD, false,
	                                &fx) < 0)
		return -1;
	etcd = fx.etcd;
	snprintf(plain, sizeof plain, "%s", etcd->endpoint);
	static const char *const unset[] = { "PODMIG_INSECURE", "PODMIG_ETCD_USER",
		                             "PODMIG_ETCD_PASSWORD" };
	for (size_t i = 0; i < ELEMENTSOF(unset); i++)
		unsetenv(unset[i]);
	setenv("PODMIG_TLS_CA", etcd->ca_file, 1);
	setenv("PODMIG_TLS_CERT", fx.cert, 1);
	setenv("PODMIG_TLS_KEY", fx.key, 1);
	return 0;
}

static int teardown(void **state)
{
	etcd_password_fixture_stop(&fx);
	return 0;
}

/* podmig ARGS... must exit with `want`, and print no password. */
static char *expect(int want, ...)
{
	char *out = NULL;
	va_list ap;
	va_start(ap, want);
	int status = cli_test_vrun(&out, NULL, ap);
	va_end(ap);
	if (status != want)
		fail_msg("podmig exited %d, not %d: %s", status, want, out);
	if (strstr(out, PASSWORD) || strstr(out, "wrong-pw"))
		fail_msg("podmig printed a password: %s", out);
	return out;
}

static void expect_saying(const char *words, int want, ...)
{
	char *out = NULL;
	va_list ap;
	va_start(ap, want);
	int status = cli_test_vrun(&out, NULL, ap);
	va_end(ap);
	if (status != want || !strstr(out, words))
		fail_msg("podmig exited %d (want %d) without saying '%s': %s", status, want, words,
		         out);
	free(out);
}

static void test_secure_by_default(void **state)
{
	setenv("PODMIG_ETCD_ENDPOINTS", plain, 1);
	expect_saying("is plaintext", 2, "nodes", NULL);
	expect_saying("--insecure", 2, "history", "--json", NULL);
	expect_saying("is plaintext", 2, "migrate", "c", "--to", "node2", NULL);
	expect_saying("is plaintext", 2, "nodes", "--etcd", "http://127.0.0.1:1", NULL);
	/* one plaintext endpoint in a list is enough to refuse */
	char list[300];
	snprintf(list, sizeof list, "%s,%s", fx.https, plain);
	expect_saying("is plaintext", 2, "nodes", "--etcd", list, NULL);

	/* mutual TLS: fine */
	free(expect(0, "nodes", "--etcd", fx.https, NULL));
	setenv("PODMIG_ETCD_ENDPOINTS", fx.https, 1);
	free(expect(0, "history", NULL));
	/* plaintext to a TLS etcd, allowed but useless: it cannot connect */
	setenv("PODMIG_INSECURE", "1", 1);
	expect_saying("etcd", 1, "nodes", "--etcd", plain, NULL);
	unsetenv("PODMIG_INSECURE");
	expect_saying("etcd", 1, "nodes", "--etcd", plain, "--insecure", NULL);
}

static void test_etcd_user(void **state)
{
	setenv("PODMIG_ETCD_ENDPOINTS", fx.https, 1);
	assert_int_equal(etcd_fixture_enable_auth(etcd, PASSWORD), 0);

	/* a certificate that names no user is not enough now */
	char *out = NULL;
	assert_int_not_equal(cli_test_run(&out, "history", NULL), 0);
	free(out);

	/* the user and the password's file */
	free(expect(0, "history", "--etcd-user", "root", "--etcd-password-file", fx.password_file,
	            NULL));
	/* from the environment */
	setenv("PODMIG_ETCD_USER", "root", 1);
	setenv("PODMIG_ETCD_PASSWORD", PASSWORD, 1);
	free(expect(0, "nodes", "--json", NULL));
	/* a wrong password: refused, with the user named and no password */
	setenv("PODMIG_ETCD_PASSWORD", "wrong-pw", 1);
	out = expect(1, "nodes", NULL);
	assert_non_null(strstr(out, "refused user root"));
	free(out);
	unsetenv("PODMIG_ETCD_USER");
	unsetenv("PODMIG_ETCD_PASSWORD");

	/* the password itself on the command line: refused, never read as a
	 * file (getopt_long would take --etcd-password for an abbreviation
	 * of --etcd-password-file) and never printed */
	out = expect(2, "nodes", "--etcd-user", "root", "--etcd-password", PASSWORD, NULL);
	assert_non_null(strstr(out, "pass --etcd-password-file FILE"));
	free(out);

	/* a password file without a user, an unreadable one */
	expect_saying("--etcd-user", 2, "nodes", "--etcd-password-file", fx.password_file, NULL);
	expect_saying("/nonexistent", 2, "nodes", "--etcd-user", "root", "--etcd-password-file",
	              "/nonexistent", NULL);
}

int main(int argc, char *argv[])
{
	etcd_fixture_require();
	if (!cli_test_args(argc, argv))
		return 2;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_secure_by_default),
		cmocka_unit_test(test_etcd_user),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
