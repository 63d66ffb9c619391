/* test-cli-fixture.h — what the CLI's unit tests share: the podmig binary
 * they run (their argv[1]), a real etcd (etcd-fixture.h) with a client for
 * the tests' own writes, a scratch directory, and an environment that
 * points podmig at that etcd in plaintext (PODMIG_INSECURE=1, no
 * certificate, no etcd user). */
#pragma once

#include <stdarg.h>

#include "etcd-fixture.h"
#include "macro.h"

extern const char *cli_test_podmig;
extern EtcdClient *cli_test_client;
extern char cli_test_tmpdir[];

/* main(): argv[1] is the podmig binary; false (with a usage line) if absent. */
bool cli_test_args(int argc, char *argv[]);
/* cmocka group setup and teardown: etcd, its client, the directory, the
 * environment. */
int cli_test_setup(void **state);
int cli_test_teardown(void **state);

/* Runs podmig with the arguments `head` (NULL-terminated; may be NULL)
 * then those of `ap` (up to a NULL); its exit status, and its stdout and
 * stderr in *ret_output unless that is NULL. */
int cli_test_vrun(char **ret_output, const char *const *head, va_list ap);
int cli_test_run(char **ret_output, ...) _sentinel_;

/* Writes prefix+key; a node's document ("nodes/...") under a lease, as an
 * agent writes it (podmig ignores a node's info without one). */
void cli_test_put(const char *prefix, const char *key, const char *value);
void cli_test_del(const char *prefix, const char *key);
