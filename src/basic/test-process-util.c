/* Unit tests for process-util: spawning from argv, exit statuses, capture. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "process-util.h"

static void test_spawn_wait_status(void **state)
{
	char *const t[] = { "true", NULL }, *const f[] = { "sh", "-c", "exit 7", NULL };
	int status = -1;
	assert_int_equal(spawn_wait(t, NULL, &status), 0);
	assert_int_equal(status, 0);
	assert_int_equal(spawn_wait(f, NULL, &status), 0);
	assert_int_equal(status, 7);
}

static void test_spawn_missing_program(void **state)
{
	char *const argv[] = { "/nonexistent/podmig-no-such-program", NULL };
	int status = 12345;
	assert_int_equal(spawn_wait(argv, NULL, &status), -ENOENT);
	assert_int_equal(status, 12345); /* untouched on failure */
	char *const empty[] = { NULL };
	assert_int_equal(spawn_wait(empty, NULL, &status), -EINVAL);
}

static void test_spawn_capture(void **state)
{
	/* Arguments arrive verbatim: no shell ever sees them. */
	char *const argv[] = { "printf", "%s|", "a b", "$(false)", ";x", NULL };
	char *out = NULL;
	int status = -1;
	assert_int_equal(spawn_capture(argv, NULL, 1024, &out, &status), 0);
	assert_int_equal(status, 0);
	assert_string_equal(out, "a b|$(false)|;x|");
	free(out);
}

/* The service manager's variables are this process's, not its helpers'. */
static void test_spawn_environment(void **state)
{
	char *const argv[] = { "env", NULL };
	char *out = NULL;
	int status;
	setenv("NOTIFY_SOCKET", "/run/systemd/notify", 1);
	setenv("WATCHDOG_USEC", "30000000", 1);
	setenv("PODMIG_SPAWN_TEST", "kept", 1);
	assert_int_equal(spawn_capture(argv, NULL, 1 << 20, &out, &status), 0);
	assert_int_equal(status, 0);
	assert_non_null(strstr(out, "PODMIG_SPAWN_TEST=kept"));
	assert_null(strstr(out, "NOTIFY_SOCKET"));
	assert_null(strstr(out, "WATCHDOG_USEC"));
	free(out);
	unsetenv("NOTIFY_SOCKET");
	unsetenv("WATCHDOG_USEC");
	unsetenv("PODMIG_SPAWN_TEST");
}

static void test_spawn_capture_limit_and_stderr(void **state)
{
	char *const argv[] = { "sh", "-c", "echo 0123456789; echo err >&2; exit 3", NULL };
	SpawnOptions o = { .stderr_to_stdout = true };
	char *out = NULL;
	int status = -1;
	assert_int_equal(spawn_capture(argv, &o, 4, &out, &status), 0);
	assert_int_equal(status, 3);
	assert_string_equal(out, "0123");
	free(out);
	char *const both[] = { "sh", "-c", "echo out; echo err >&2", NULL };
	assert_int_equal(spawn_capture(both, &o, 64, &out, &status), 0);
	assert_non_null(strstr(out, "out\n"));
	assert_non_null(strstr(out, "err\n"));
	free(out);
}

static void test_spawn_log_path(void **state)
{
	char path[] = "/tmp/podmig-test-spawn-log.XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	char *const argv[] = { "sh", "-c", "echo out; echo err >&2", NULL };
	SpawnOptions o = { .log_path = path };
	int status = -1;
	assert_int_equal(spawn_wait(argv, &o, &status), 0);
	assert_int_equal(spawn_wait(argv, &o, &status), 0); /* appends */
	char buf[64] = "";
	FILE *f = fopen(path, "re");
	assert_non_null(f);
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	unlink(path);
	assert_int_equal(n, 16);
	assert_string_equal(buf, "out\nerr\nout\nerr\n");
}

/* stdin is /dev/null unless the caller keeps its own (an editor needs the terminal). */
static void test_spawn_stdin(void **state)
{
	int pipefd[2], saved = dup(STDIN_FILENO);
	char *out = NULL;
	int status = -1;

	assert_true(saved >= 0);
	assert_int_equal(pipe(pipefd), 0);
	assert_int_equal(write(pipefd[1], "typed\n", 6), 6);
	assert_int_equal(close(pipefd[1]), 0);
	assert_int_equal(dup2(pipefd[0], STDIN_FILENO), STDIN_FILENO);
	assert_int_equal(close(pipefd[0]), 0);

	char *cat[] = { "cat", NULL };
	assert_int_equal(spawn_capture(cat, NULL, 64, &out, &status), 0);
	assert_string_equal(out, "");
	free(out);
	assert_int_equal(
	        spawn_capture(cat, &(SpawnOptions){ .inherit_stdin = true }, 64, &out, &status), 0);
	assert_int_equal(status, 0);
	assert_string_equal(out, "typed\n");
	free(out);

	assert_int_equal(dup2(saved, STDIN_FILENO), STDIN_FILENO);
	assert_int_equal(close(saved), 0);
}

static void test_spawn_killed(void **state)
{
	char *const argv[] = { "sh", "-c", "kill -9 $$", NULL };
	int status = -1;
	assert_int_equal(spawn_wait(argv, NULL, &status), 0);
	assert_int_equal(status, 128 + 9);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_spawn_wait_status),
		cmocka_unit_test(test_spawn_missing_program),
		cmocka_unit_test(test_spawn_capture),
		cmocka_unit_test(test_spawn_environment),
		cmocka_unit_test(test_spawn_capture_limit_and_stderr),
		cmocka_unit_test(test_spawn_log_path),
		cmocka_unit_test(test_spawn_stdin),
		cmocka_unit_test(test_spawn_killed),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
