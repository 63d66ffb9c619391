/* rpc-testutil.h — helpers for tests and benchmarks of src/rpc and the rooms
 * above it: the podmig.v1.Testing service, throwaway TLS certificates made
 * with the openssl CLI, and spawning helper programs (posix_spawn, never a
 * shell, never fork() after grpc_init()). Not linked into programs. */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

#include "rpc.h"
#include "testing.pb-c.h"

/* Handlers for podmig.v1.Testing, indexed like its descriptor:
 *   Echo:   replies text and seq+1; fail_code != 0 fails with that code;
 *           text "slow" answers after 300 ms; text "metadata:KEY" answers
 *           with the value of request metadata KEY (NOT_FOUND if none).
 *   Upload: sums chunk sizes, DATA_LOSS if an offset is out of order.
 *   Count:  sends seq replies (0: one every 10 ms until cancelled), with
 *           "metadata:KEY" as for Echo.
 *   Chat:   echoes each message until the client half-closes. */
extern const RpcHandler test_testing_handlers[];
extern const size_t test_testing_n_handlers;

/* A plaintext or TLS server on 127.0.0.1:0 serving Testing, started. */
int test_server_start(const RpcOptions *options, RpcServer **ret);

/* Runs argv[0] (a path) with stdin/stdout/stderr on /dev/null and waits.
 * Returns its exit status, or a negative errno. */
int test_spawn_wait(char *const argv[]);
/* Starts argv[0] with stdout/stderr appended to log_path (NULL: /dev/null). */
int test_spawn(char *const argv[], const char *log_path, pid_t *ret_pid);

/* Hostile clients, on the gRPC C core directly (src/rpc's own client is
 * well-behaved), for tests and bench/hostile; plaintext unless
 * test_hostile_set_tls() named a CA:
 *
 * test_call_gzip(): one call of `method` ("/package.Service/Method") whose
 * single message is a podmig.v1.Chunk of `zeros` zero bytes, sent
 * gzip-compressed (about zeros/1000 bytes on the wire). Returns the status
 * code (negative errno if no status came within 30 s). */
int test_call_gzip(const char *target, const char *method, size_t zeros);

/* test_calls_hold(): n calls of `method` that send their headers and then
 * nothing, over connections of at most per_connection calls each.
 * test_calls_ended(): how many the server has ended (or refused) so far.
 * test_calls_free(): cancels the rest and frees. */
typedef struct TestCalls TestCalls;
int test_calls_hold(const char *target, const char *method, unsigned n, unsigned per_connection,
                    TestCalls **ret);
unsigned test_calls_ended(TestCalls *t);
/* Of those, how many ended with status `code` (as of the last
 * test_calls_ended()). */
unsigned test_calls_ended_with(TestCalls *t, int code);
TestCalls *test_calls_free(TestCalls *t);

/* test_connect_idle(): a TCP connection to `host` (IPv4) and `port` that
 * will never send a byte; its descriptor or a negative errno.
 * test_peer_closed(): whether the peer has closed `fd`. What it sent first
 * is read and dropped (a plaintext HTTP/2 server sends its SETTINGS at
 * once), since the end of the stream shows only behind it. */
int test_connect_idle(const char *host, int port);
bool test_peer_closed(int fd);

/* How long an agent at `target` takes to answer Info on a fresh connection
 * of its own (`o`, private_connection forced), in seconds; -1 if it did not
 * answer within `timeout_sec`. */
double test_info_seconds(const char *target, const RpcOptions *o, double timeout_sec);

/* Later hostile clients speak TLS, verify the server against `ca_file` and
 * present no certificate of their own; NULL: plaintext again. The string
 * must outlive its use. */
void test_hostile_set_tls(const char *ca_file);

/* mkdtemp under $TMPDIR (or /tmp); and its recursive removal. */
int test_tmpdir_new(const char *name, char **ret);
int test_tmpdir_remove(const char *path);

/* In `dir`: ca.pem, server.pem/.key (localhost, 127.0.0.1), client.pem/.key,
 * all from one CA; and other-ca.pem, other-client.pem/.key from another. */
int test_make_certs(const char *dir);
