/* podman-fixture.h — a private, real Podman API service for tests: its own
 * storage, run root, tmp dir, runc state, file locks and socket under one
 * temporary directory (nothing shared with the machine's Podman or a local
 * cluster), runc with cgroupfs, started with posix_spawn. Freeing it removes
 * its containers, stops the service, unmounts and deletes everything. */
#pragma once

#include <sys/types.h>

typedef struct PodmanFixture {
	char *dir;
	char *socket_path;
	char *podman;          /* wrapper script: the CLI with this fixture's settings */
	char *containers_conf; /* for CONTAINERS_CONF */
	char *storage_conf;    /* for CONTAINERS_STORAGE_CONF */
	pid_t service_pid;     /* 0 while stopped */
} PodmanFixture;

/* Creates the directory and starts the API service; waits until it answers. */
int podman_fixture_start(PodmanFixture **ret);
/* Stops the service (SIGTERM, then SIGKILL) and removes its socket. */
int podman_fixture_stop_service(PodmanFixture *f);
/* Starts the service again on the same socket and storage. */
int podman_fixture_start_service(PodmanFixture *f);
/* Imports a root filesystem of busybox plus `binaries` (NULL-terminated
 * paths, copied to /bin) as image `name` with `entrypoint` (a path in the
 * image, or NULL for a shell). */
int podman_fixture_import_image(PodmanFixture *f, const char *name, const char *const *binaries,
                                const char *entrypoint);
/* Runs the fixture's podman CLI with argv (after "podman"); 0 if it exited 0. */
int podman_fixture_cli(PodmanFixture *f, const char *const *args);
PodmanFixture *podman_fixture_free(PodmanFixture *f);

/* Runs argv (argv[0] a path) with envp (NULL: ours), stdout/stderr to
 * /dev/null or to `log_path` (appending); waits up to timeout_sec, then kills
 * it. Returns its exit status (>= 0) or a negative errno. */
int fixture_run(char *const *argv, char *const *envp, const char *log_path, unsigned timeout_sec);
