/* process-util.h — running helper programs from an argv vector (posix_spawnp, never
 * a shell), safe after threads exist (grpc_init starts some). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

typedef struct SpawnOptions {
	char *const *envp;     /* NULL: inherit this process's environment */
	bool stderr_to_stdout; /* with spawn_capture: capture stderr too */
	bool quiet;            /* send stdout/stderr that is not captured to /dev/null */
	const char *log_path;  /* append stdout and stderr to this file instead */
	bool inherit_stdin;    /* keep this process's stdin (an editor needs the terminal);
	                          else /dev/null */
	int pass_fd;           /* > 2: handed to the child as its descriptor SPAWN_PASSED_FD
	                          (whatever its close-on-exec flag); else nothing is */
} SpawnOptions;

#define SPAWN_PASSED_FD 3

/* Runs argv (argv[0] looked up in PATH), waits, and returns its exit status
 * (128+signal if killed) in *ret_status. Returns 0, or a negative errno if it
 * could not be run at all. */
int spawn_wait(char *const argv[], const SpawnOptions *options, int *ret_status);

/* Like spawn_wait, also collecting its standard output (NUL-terminated) in
 * *ret_output, at most max_output bytes (the rest is read and dropped). */
int spawn_capture(char *const argv[], const SpawnOptions *options, size_t max_output,
                  char **ret_output, int *ret_status);

/* Starts argv without waiting; *ret_pid is the child. */
int spawn_start(char *const argv[], const SpawnOptions *options, pid_t *ret_pid);

/* Waits for pid (retrying on EINTR); exit status as in spawn_wait. */
int spawn_reap(pid_t pid, int *ret_status);
