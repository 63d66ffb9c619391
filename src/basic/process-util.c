/* process-util.c — posix_spawnp wrappers with optional output capture. */
#include "process-util.h"

#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "macro.h"

extern char **environ;

/* This process's environment without the service manager's variables:
 * NOTIFY_SOCKET and the watchdog's are meant for this process alone, and a
 * helper that took them as its own (podman does) would report to systemd in
 * its name. The strings stay environ's; free only the array. */
static char **environment_for_children(void)
{
	static const char *const own[] = { "NOTIFY_SOCKET=", "WATCHDOG_USEC=", "WATCHDOG_PID=" };
	size_t n = 0, k = 0;
	while (environ[n])
		n++;
	char **env = calloc(n + 1, sizeof *env);
	if (!env)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		bool skip = false;
		for (size_t j = 0; j < ELEMENTSOF(own) && !skip; j++)
			skip = strncmp(environ[i], own[j], strlen(own[j])) == 0;
		if (!skip)
			env[k++] = environ[i];
	}
	return env;
}

static int spawn_internal(char *const argv[], const SpawnOptions *options, int stdout_fd,
                          pid_t *ret_pid)
{
	static const SpawnOptions defaults = {};
	_cleanup_free_ char **inherited = NULL;
	posix_spawn_file_actions_t fa;
	int r;

	if (!argv || !argv[0])
		return -EINVAL;
	options = options ?: &defaults;
	if (!options->envp && !(inherited = environment_for_children()))
		return -ENOMEM;
	if (posix_spawn_file_actions_init(&fa) != 0)
		return -ENOMEM;
	r = options->inherit_stdin
	            ? 0
	            : posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
	if (r == 0 && stdout_fd >= 0) {
		r = posix_spawn_file_actions_adddup2(&fa, stdout_fd, STDOUT_FILENO);
		if (r == 0 && options->stderr_to_stdout)
			r = posix_spawn_file_actions_adddup2(&fa, stdout_fd, STDERR_FILENO);
		else if (r == 0 && options->quiet)
			r = posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, "/dev/null",
			                                     O_WRONLY, 0);
	} else if (r == 0 && options->log_path) {
		/* No O_CLOEXEC: this descriptor is the child's stdout. */
		r = posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, options->log_path,
		                                     O_WRONLY | O_CREAT | O_APPEND, 0644);
		if (r == 0)
			r = posix_spawn_file_actions_adddup2(&fa, STDOUT_FILENO, STDERR_FILENO);
	} else if (r == 0 && options->quiet) {
		r = posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
		if (r == 0)
			r = posix_spawn_file_actions_adddup2(&fa, STDOUT_FILENO, STDERR_FILENO);
	}
	/* dup2 onto another number clears close-on-exec on the child's copy
	 * only, so the descriptor leaks into no other child (a descriptor that
	 * already is SPAWN_PASSED_FD goes through a copy first). */
	int copy = -1;
	if (r == 0 && options->pass_fd == SPAWN_PASSED_FD) {
		copy = fcntl(options->pass_fd, F_DUPFD_CLOEXEC, SPAWN_PASSED_FD + 1);
		r = copy < 0 ? errno : 0;
	}
	if (r == 0 && options->pass_fd > 2)
		r = posix_spawn_file_actions_adddup2(&fa, copy >= 0 ? copy : options->pass_fd,
		                                     SPAWN_PASSED_FD);
	pid_t pid;
	if (r == 0)
		r = posix_spawnp(&pid, argv[0], &fa, NULL, argv, options->envp ?: inherited);
	posix_spawn_file_actions_destroy(&fa);
	if (copy >= 0)
		close(copy);
	if (r != 0)
		return -r;
	*ret_pid = pid;
	return 0;
}

int spawn_reap(pid_t pid, int *ret_status)
{
	int status;

	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -errno;
	if (ret_status)
		*ret_status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	return 0;
}

int spawn_start(char *const argv[], const SpawnOptions *options, pid_t *ret_pid)
{
	return spawn_internal(argv, options, -1, ret_pid);
}

int spawn_wait(char *const argv[], const SpawnOptions *options, int *ret_status)
{
	pid_t pid;
	int r = spawn_internal(argv, options, -1, &pid);
	if (r < 0)
		return r;
	return spawn_reap(pid, ret_status);
}

int spawn_capture(char *const argv[], const SpawnOptions *options, size_t max_output,
                  char **ret_output, int *ret_status)
{
	_cleanup_close_ int rfd = -EBADF, wfd = -EBADF;
	_cleanup_free_ char *buf = NULL;
	size_t len = 0;
	int fds[2], r;
	pid_t pid;

	if (pipe2(fds, O_CLOEXEC) < 0)
		return -errno;
	rfd = fds[0];
	wfd = fds[1];
	buf = malloc(max_output + 1);
	if (!buf)
		return -ENOMEM;

	r = spawn_internal(argv, options, wfd, &pid);
	if (r < 0)
		return r;
	closep(&wfd);
	wfd = -EBADF;

	for (;;) {
		char chunk[4096];
		ssize_t n = read(rfd, chunk, sizeof chunk);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		size_t keep = MIN((size_t)n, max_output - len);
		memcpy(buf + len, chunk, keep);
		len += keep;
	}
	buf[len] = '\0';

	int status;
	r = spawn_reap(pid, &status);
	if (r < 0)
		return r;
	*ret_output = TAKE_PTR(buf);
	if (ret_status)
		*ret_status = status;
	return 0;
}
