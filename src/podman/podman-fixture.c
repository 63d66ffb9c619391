/* podman-fixture.c — see podman-fixture.h. Mirrors what scripts/local-cluster
 * does for one node, minus the network namespace: tests create their
 * containers with network mode "none" (a private netns with loopback only),
 * so no netavark network or firewall rule of the machine is touched. */
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "podman-fixture.h"
#include "podman.h"
#include "strutil.h"
#include "time-util.h"

extern char **environ;

int fixture_run(char *const *argv, char *const *envp, const char *log_path, unsigned timeout_sec)
{
	posix_spawn_file_actions_t fa;
	pid_t pid;
	int r;

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	if (log_path) {
		posix_spawn_file_actions_addopen(&fa, 1, log_path, O_WRONLY | O_CREAT | O_APPEND,
		                                 0644);
		posix_spawn_file_actions_adddup2(&fa, 1, 2);
	} else {
		posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
		posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	}
	r = posix_spawn(&pid, argv[0], &fa, NULL, argv, envp ?: environ);
	posix_spawn_file_actions_destroy(&fa);
	if (r != 0)
		return -r;
	for (unsigned i = 0; i < timeout_sec * 20; i++) {
		int status;
		pid_t p = waitpid(pid, &status, WNOHANG);
		if (p == pid)
			return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
		if (p < 0)
			return -errno;
		sleep_usec(50 * USEC_PER_MSEC);
	}
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	return -ETIMEDOUT;
}

static int write_file(const char *path, const char *text, mode_t mode)
{
	_cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0)
		return -errno;
	size_t n = strlen(text);
	if (write(fd, text, n) != (ssize_t)n)
		return -EIO;
	return 0;
}

static int mkdirf(const char *dir, const char *sub)
{
	char p[4096];
	snprintf(p, sizeof p, "%s/%s", dir, sub);
	return mkdir(p, 0755) < 0 && errno != EEXIST ? -errno : 0;
}

static int fixture_write_config(PodmanFixture *f)
{
	_cleanup_free_ char *runc = NULL, *conf = NULL, *storage = NULL, *wrapper = NULL;
	const char *d = f->dir;
	int r;

	for (const char *const *s = (const char *const[]){ "root", "runroot", "tmp", "runc",
	                                                   "networks", "bin", "volumes", NULL };
	     *s; s++)
		if ((r = mkdirf(d, *s)) < 0)
			return r;
	/* runc's state directory is machine-wide by default; conmon's cleanup
	 * gets --runtime but not --runtime-flag, hence a wrapper. */
	if (asprintf(&runc, "#!/bin/sh\nexec /usr/bin/runc --root '%s/runc' \"$@\"\n", d) < 0 ||
	    asprintf(&conf,
	             "[containers]\nlog_driver = \"k8s-file\"\n\n[engine]\n"
	             "runtime = \"%s/bin/runc\"\ncgroup_manager = \"cgroupfs\"\n"
	             "events_logger = \"file\"\nevents_logfile_path = \"%s/events.log\"\n"
	             "tmp_dir = \"%s/tmp\"\nlock_type = \"file\"\nvolume_path = \"%s/volumes\"\n\n"
	             "[network]\nnetwork_config_dir = \"%s/networks\"\n",
	             d, d, d, d, d) < 0 ||
	    asprintf(&storage,
	             "[storage]\ndriver = \"overlay\"\ngraphroot = \"%s/root\"\n"
	             "runroot = \"%s/runroot\"\n",
	             d, d) < 0 ||
	    asprintf(&wrapper,
	             "#!/bin/sh\nexport CONTAINERS_CONF='%s'\nexport CONTAINERS_STORAGE_CONF='%s'\n"
	             "export PODMAN_IGNORE_CGROUPSV1_WARNING=1\nexec /usr/bin/podman \"$@\"\n",
	             f->containers_conf, f->storage_conf) < 0)
		return -ENOMEM;
	char p[4096];
	snprintf(p, sizeof p, "%s/bin/runc", d);
	if ((r = write_file(p, runc, 0755)) < 0 ||
	    (r = write_file(f->containers_conf, conf, 0644)) < 0 ||
	    (r = write_file(f->storage_conf, storage, 0644)) < 0 ||
	    (r = write_file(f->podman, wrapper, 0755)) < 0)
		return r;
	return 0;
}

int podman_fixture_start_service(PodmanFixture *f)
{
	_cleanup_free_ char *uri = NULL, *log = NULL;
	_cleanup_(podman_client_freep) PodmanClient *c = NULL;
	int r;

	if (f->service_pid > 0)
		return 0;
	unlink(f->socket_path);
	if (asprintf(&uri, "unix://%s", f->socket_path) < 0 ||
	    asprintf(&log, "%s/service.log", f->dir) < 0)
		return -ENOMEM;
	char *argv[] = { f->podman, "system", "service", "--time=0", uri, NULL };
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, log, O_WRONLY | O_CREAT | O_APPEND, 0644);
	posix_spawn_file_actions_adddup2(&fa, 1, 2);
	posix_spawnattr_init(&attr);
	/* its own process group, so a stop reaches its helpers too */
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
	posix_spawnattr_setpgroup(&attr, 0);
	r = posix_spawn(&f->service_pid, argv[0], &fa, &attr, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	if (r != 0) {
		f->service_pid = 0;
		return -r;
	}
	if ((r = podman_client_new(f->socket_path, NULL, &c)) < 0)
		return r;
	for (int i = 0; i < 300; i++) {
		int status;
		if (waitpid(f->service_pid, &status, WNOHANG) == f->service_pid) {
			f->service_pid = 0;
			fprintf(stderr, "podman system service exited early, see %s\n", log);
			return -ECHILD;
		}
		if (podman_ping(c, NULL) >= 0)
			return 0;
		sleep_usec(50 * USEC_PER_MSEC);
	}
	fprintf(stderr, "podman system service did not answer, see %s\n", log);
	return -ETIMEDOUT;
}

int podman_fixture_stop_service(PodmanFixture *f)
{
	if (f->service_pid <= 0)
		return 0;
	kill(f->service_pid, SIGTERM);
	for (int i = 0; i < 100; i++) {
		if (waitpid(f->service_pid, NULL, WNOHANG) == f->service_pid) {
			f->service_pid = 0;
			break;
		}
		sleep_usec(50 * USEC_PER_MSEC);
	}
	if (f->service_pid > 0) {
		kill(f->service_pid, SIGKILL);
		waitpid(f->service_pid, NULL, 0);
		f->service_pid = 0;
	}
	unlink(f->socket_path);
	return 0;
}

int podman_fixture_start(PodmanFixture **ret)
{
	PodmanFixture *f = calloc(1, sizeof(*f));
	char tmpl[] = "/var/tmp/podmig-podman-XXXXXX";
	int r;

	if (!f)
		return -ENOMEM;
	if (!mkdtemp(tmpl)) {
		free(f);
		return -errno;
	}
	if (!(f->dir = strdup(tmpl)) || asprintf(&f->socket_path, "%s/podman.sock", tmpl) < 0 ||
	    asprintf(&f->podman, "%s/bin/podman", tmpl) < 0 ||
	    asprintf(&f->containers_conf, "%s/containers.conf", tmpl) < 0 ||
	    asprintf(&f->storage_conf, "%s/storage.conf", tmpl) < 0) {
		r = -ENOMEM;
		goto fail;
	}
	if ((r = fixture_write_config(f)) < 0 || (r = podman_fixture_start_service(f)) < 0)
		goto fail;
	*ret = f;
	return 0;
fail:
	podman_fixture_free(f);
	return r;
}

int podman_fixture_cli(PodmanFixture *f, const char *const *args)
{
	_cleanup_free_ char *log = NULL;
	size_t n = 0;
	while (args[n])
		n++;
	_cleanup_free_ char **argv = calloc(n + 2, sizeof(char *));
	if (!argv || asprintf(&log, "%s/cli.log", f->dir) < 0)
		return -ENOMEM;
	argv[0] = f->podman;
	for (size_t i = 0; i < n; i++)
		argv[i + 1] = (char *)args[i];
	int r = fixture_run(argv, NULL, log, 120);
	return r == 0 ? 0 : r < 0 ? r : -EIO;
}

int podman_fixture_import_image(PodmanFixture *f, const char *name, const char *const *binaries,
                                const char *entrypoint)
{
	_cleanup_free_ char *rootfs = NULL, *tar = NULL, *change = NULL;
	char p[4096];
	int r;

	if (asprintf(&rootfs, "%s/rootfs", f->dir) < 0 ||
	    asprintf(&tar, "%s/rootfs.tar", f->dir) < 0)
		return -ENOMEM;
	(void)mkdir(rootfs, 0755);
	for (const char *const *s =
	             (const char *const[]){ "bin", "tmp", "proc", "sys", "dev", "etc", NULL };
	     *s; s++)
		if ((r = mkdirf(rootfs, *s)) < 0)
			return r;
	snprintf(p, sizeof p, "%s/bin/busybox", rootfs);
	char *cp_busybox[] = { "/bin/cp", "/usr/bin/busybox", p, NULL };
	if (fixture_run(cp_busybox, NULL, NULL, 30) != 0)
		return -EIO;
	for (const char *const *s = (const char *const[]){ "sh", "sleep", "cat", "echo", "ls",
	                                                   "httpd", "true", NULL };
	     *s; s++) {
		snprintf(p, sizeof p, "%s/bin/%s", rootfs, *s);
		if (symlink("busybox", p) < 0 && errno != EEXIST)
			return -errno;
	}
	for (size_t i = 0; binaries && binaries[i]; i++) {
		const char *base = strrchr(binaries[i], '/');
		snprintf(p, sizeof p, "%s/bin/%s", rootfs, base ? base + 1 : binaries[i]);
		char *cp[] = { "/bin/cp", (char *)binaries[i], p, NULL };
		if (fixture_run(cp, NULL, NULL, 30) != 0)
			return -EIO;
	}
	snprintf(p, sizeof p, "%s/etc/passwd", rootfs);
	if ((r = write_file(p, "root:x:0:0:root:/:/bin/sh\n", 0644)) < 0)
		return r;
	char *tar_argv[] = { "/bin/tar", "-C", rootfs, "--numeric-owner", "-cf", tar, ".", NULL };
	if (fixture_run(tar_argv, NULL, NULL, 60) != 0)
		return -EIO;
	if (entrypoint) {
		if (asprintf(&change, "ENTRYPOINT [\"%s\"]", entrypoint) < 0)
			return -ENOMEM;
	} else if (!(change = strdup("CMD [\"/bin/sh\"]")))
		return -ENOMEM;
	return podman_fixture_cli(
	        f, (const char *const[]){ "import", "-q", "--change", change, tar, name, NULL });
}

/* Unmounts everything at or below `dir`, deepest first. */
static void umount_below(const char *dir)
{
	for (int pass = 0; pass < 8; pass++) {
		_cleanup_fclose_ FILE *m = fopen("/proc/self/mounts", "re");
		if (!m)
			return;
		char line[8192], best[4096] = "";
		size_t dl = strlen(dir);
		while (fgets(line, sizeof line, m)) {
			char target[4096];
			if (sscanf(line, "%*s %4095s", target) != 1)
				continue;
			if (strncmp(target, dir, dl) == 0 &&
			    (target[dl] == 0 || target[dl] == '/') && strlen(target) > strlen(best))
				snprintf(best, sizeof best, "%s", target);
		}
		if (!*best)
			return;
		if (umount2(best, 0) < 0)
			umount2(best, MNT_DETACH);
	}
}

PodmanFixture *podman_fixture_free(PodmanFixture *f)
{
	if (!f)
		return NULL;
	if (f->dir) {
		if (f->service_pid > 0)
			(void)podman_fixture_cli(
			        f, (const char *const[]){ "rm", "-a", "-f", "-t", "0", NULL });
		podman_fixture_stop_service(f);
		/* anything of this fixture still alive: conmon, containers */
		char runc_root[4096];
		snprintf(runc_root, sizeof runc_root, "%s/runc", f->dir);
		char *sweep[] = {
			"/bin/sh",
			"-c",
			"for id in $(runc --root \"$1\" list -q 2>/dev/null); do "
			"runc --root \"$1\" kill \"$id\" KILL; runc --root \"$1\" delete -f "
			"\"$id\"; done",
			"sh",
			runc_root,
			NULL
		};
		(void)fixture_run(sweep, NULL, NULL, 30);
		for (int pass = 0; pass < 4; pass++)
			umount_below(f->dir);
		if (!getenv("PODMIG_KEEP_FIXTURE")) {
			char *rm[] = { "/bin/rm", "-rf", "--one-file-system", f->dir, NULL };
			(void)fixture_run(rm, NULL, NULL, 60);
		} else
			fprintf(stderr, "kept %s\n", f->dir);
	}
	free(f->dir);
	free(f->socket_path);
	free(f->podman);
	free(f->containers_conf);
	free(f->storage_conf);
	free(f);
	return NULL;
}
