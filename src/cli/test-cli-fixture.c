/* test-cli-fixture.c — the CLI's unit tests' shared setup (test-cli-fixture.h). */
#include "test-cli-fixture.h"

#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "process-util.h"
#include "strutil.h"

const char *cli_test_podmig;
EtcdClient *cli_test_client;
char cli_test_tmpdir[] = "/tmp/podmig-test-cli-XXXXXX";

static EtcdFixture *etcd;
static EtcdLease *lease; /* the one node documents are written under */

bool cli_test_args(int argc, char *argv[])
{
	if (argc < 2) {
		fprintf(stderr, "usage: %s PODMIG\n", argv[0]);
		return false;
	}
	cli_test_podmig = argv[1];
	return true;
}

int cli_test_setup(void **state)
{
	rpc_global_init();
	if (!mkdtemp(cli_test_tmpdir) || etcd_fixture_start(&etcd) < 0)
		return -1;
	EtcdOptions o = { .rpc.plaintext = true };
	if (etcd_client_new(etcd->endpoint, &o, &cli_test_client) < 0)
		return -1;
	setenv("PODMIG_ETCD_ENDPOINTS", etcd->endpoint, 1);
	setenv("PODMIG_INSECURE", "1", 1);
	setenv("TMPDIR", cli_test_tmpdir, 1); /* podmig's own files (policy edit) */
	static const char *const unset[] = { "PODMIG_TLS_CA",        "PODMIG_TLS_CERT",
		                             "PODMIG_TLS_KEY",       "PODMIG_ETCD_USER",
		                             "PODMIG_ETCD_PASSWORD", "VISUAL" };
	for (size_t i = 0; i < ELEMENTSOF(unset); i++)
		unsetenv(unset[i]);
	return 0;
}

int cli_test_teardown(void **state)
{
	char *rm[] = { "rm", "-rf", cli_test_tmpdir, NULL };
	spawn_wait(rm, &(SpawnOptions){ .quiet = true }, NULL);
	lease = etcd_lease_free(lease);
	cli_test_client = etcd_client_free(cli_test_client);
	etcd = etcd_fixture_free(etcd);
	return 0;
}

int cli_test_vrun(char **ret_output, const char *const *head, va_list ap)
{
	char *argv[32] = { (char *)cli_test_podmig };
	size_t n = 1;
	for (; head && *head && n + 1 < ELEMENTSOF(argv); head++)
		argv[n++] = (char *)*head;
	for (const char *a; (a = va_arg(ap, const char *)) && n + 1 < ELEMENTSOF(argv);)
		argv[n++] = (char *)a;
	argv[n] = NULL;
	char *out = NULL;
	int status = -1;
	assert_int_equal(spawn_capture(argv, &(SpawnOptions){ .stderr_to_stdout = true }, 1 << 20,
	                               &out, &status),
	                 0);
	if (ret_output)
		*ret_output = out;
	else
		free(out);
	return status;
}

int cli_test_run(char **ret_output, ...)
{
	va_list ap;
	va_start(ap, ret_output);
	int status = cli_test_vrun(ret_output, NULL, ap);
	va_end(ap);
	return status;
}

void cli_test_put(const char *prefix, const char *key, const char *value)
{
	char k[256];
	snprintf(k, sizeof k, "%s%s", prefix, key);
	bool node = startswith(key, "nodes/");
	if (node && !lease)
		assert_int_equal(etcd_lease_grant(cli_test_client, 600, NULL, NULL, &lease), 0);
	assert_int_equal(etcd_put(cli_test_client, k, value, strlen(value),
	                          node ? etcd_lease_get_id(lease) : 0, NULL),
	                 0);
}

void cli_test_del(const char *prefix, const char *key)
{
	char k[256];
	snprintf(k, sizeof k, "%s%s", prefix, key);
	assert_int_equal(etcd_delete(cli_test_client, k, NULL), 0);
}
