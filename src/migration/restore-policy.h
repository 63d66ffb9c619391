/* restore-policy.h — what a checkpoint may ask of the node that restores
 * it. A checkpoint archive carries the container's OCI runtime spec
 * (spec.dump) and Podman's container config (config.dump); Podman restores
 * the container as they say, as root. Before restoring, a target checks
 * them against its restore policy and refuses with the reason:
 *
 *  - the image must be the one the migration record names;
 *  - no privileged container;
 *  - bind mounts only from Podman's own per-container directories
 *    (<storage>/overlay-containers/<id>/userdata/... under
 *    /var/lib/containers/storage and /run/containers/storage), named
 *    volumes (/var/lib/containers/storage/volumes/<name>/_data) and the
 *    host directories the policy allows; other mounts only of the kernel
 *    filesystems a container gets (proc, sysfs, tmpfs, devpts, mqueue,
 *    cgroup, cgroup2);
 *  - no capability beyond the runtime's default set (Podman's: CHOWN,
 *    DAC_OVERRIDE, FOWNER, FSETID, KILL, NET_BIND_SERVICE, SETFCAP, SETGID,
 *    SETPCAP, SETUID, SYS_CHROOT) unless allowed by name;
 *  - no devices (linux.devices, or a device cgroup rule that allows one)
 *    unless allowed;
 *  - its own pid, ipc, uts, mount and network namespaces (a network
 *    namespace may be one of Podman's under /run/netns/) unless host
 *    namespaces are allowed;
 *  - no OCI hooks (they run on the host);
 *  - the log, pid and conmon pid files, static, shm and secrets
 *    directories Podman writes to are the container's own.
 *
 * The check is pure: parsed JSON in, a verdict out. */
#pragma once

#include <jansson.h>
#include <stdbool.h>

#include "error-util.h"

typedef struct RestorePolicy {
	char **bind_allow; /* host directories a bind mount may come from */
	char **caps_allow; /* capabilities beyond the default set, "CAP_NET_RAW" */
	bool allow_privileged;
	bool allow_devices;
	bool allow_host_namespaces;
	bool allow_setuid; /* setuid/setgid bits in the archive (archive-check.h) */
} RestorePolicy;

void restore_policy_done(RestorePolicy *p);

/* Adds one allowance: "privileged", "devices", "host-namespaces",
 * "setuid" or a capability "CAP_NAME"; -EINVAL if it is none of them. */
int restore_policy_allow(RestorePolicy *p, const char *what);
/* Adds a host directory (absolute, no "." or ".." component); -EINVAL if
 * it is not one. */
int restore_policy_allow_bind(RestorePolicy *p, const char *dir);

/* 0 if a container of this spec (spec.dump) and config (config.dump) may
 * be restored here from image `image` (NULL: not compared); -EPERM with
 * the reason in `why` if not. */
int restore_policy_check(const RestorePolicy *p, const json_t *spec, const json_t *config,
                         const char *image, ErrorDetail *why);
