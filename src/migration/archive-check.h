/* archive-check.h — a checkpoint archive is outside input: before a target
 * hands one to Podman it checks every tar header, read the way Podman's Go
 * reader (archive/tar) reads it: the ustar prefix only where Go uses it (not
 * under the GNU magic), pax extended headers ('x': path, linkpath, size; 'g'),
 * GNU long names and link names ('L', 'K'). A path is refused when any
 * reading of the header (the raw name, the prefix joined to it, a pax path,
 * a long name) is absolute or has a ".." component; a sparse file (pax
 * GNU.sparse.* records or type 'S') is refused outright, since Podman never
 * writes one and readers disagree on its name and size.
 *
 * At the top level only the names Podman puts in a checkpoint are accepted
 * (config.dump, spec.dump, network.status, stats-dump, ctr.log,
 * devshm-checkpoint.tar, rootfs-diff.tar, deleted.files, checkpoint/,
 * pre-checkpoint/, artifacts/, volumes/), only regular files and
 * directories (plus the one link Podman writes for pre-copy,
 * checkpoint/parent -> ../pre-checkpoint).
 *
 * The nested archives Podman extracts (rootfs-diff.tar into the container's
 * root, devshm-checkpoint.tar into its /dev/shm, volumes/NAME.tar into a
 * volume) are checked by the same header rules. They hold a container's
 * changed files, which legitimately include symbolic links, hard links and
 * fifos, so those are allowed and judged against the container's root: a
 * relative symlink must resolve inside it (an absolute one names a path in
 * the container, as the container sees it), a hard link must name a relative
 * path inside it, and no entry may be written through a symlink the same
 * archive created earlier. Devices are refused. Links already present in
 * the image are asked of ArchiveCheckOptions.base_link: no entry of
 * rootfs-diff.tar (nor the target of a hard link in it) may be written
 * under one of them.
 *
 * deleted.files (paths Podman removes from the container's root) must have
 * no ".." component, and no proper parent that is a symbolic link of the
 * image or of rootfs-diff.tar. Setuid and setgid bits are refused unless allowed.
 * Only headers and these small members are read (file data is skipped by
 * offset), so checking a 1 GiB archive costs a few reads. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "error-util.h"

/* Reads up to n bytes at offset off; returns how many (0 at the end) or a
 * negative errno. */
typedef ssize_t (*ArchivePreadFn)(void *buf, size_t n, uint64_t off, void *userdata);

/* Whether a path of the container's root (relative, normalized: no ".",
 * "..", or empty component) goes through a symbolic link of what that root
 * holds before rootfs-diff.tar is applied (the image): 1 if a proper parent
 * of it is one, 0 if not, a negative errno if that cannot be told. */
typedef int (*ArchiveBaseLinkFn)(const char *path, void *userdata);

typedef struct ArchiveCheckOptions {
	bool allow_setuid; /* setuid/setgid bits on entries */
	/* the image's own links: Podman extracts rootfs-diff.tar and removes
	 * deleted.files following symbolic links in the container's root, so
	 * none may lie under one of the image's (an absolute link such as
	 * var/run -> /run names the host's directory there). NULL: not
	 * checked (only the archive's own links are). */
	ArchiveBaseLinkFn base_link;
	void *base_userdata;
} ArchiveCheckOptions;

/* Where a member's data lies in the archive. */
typedef struct ArchiveMember {
	bool present;
	uint64_t offset;
	uint64_t size;
} ArchiveMember;

/* The members a restore policy reads. */
typedef struct ArchiveIndex {
	ArchiveMember spec_dump;   /* the OCI runtime spec */
	ArchiveMember config_dump; /* Podman's container config */
} ArchiveIndex;

/* 0 if the archive of `size` bytes is acceptable, with its index in
 * *ret_index (may be NULL); -EBADMSG with the reason in `why` if not;
 * another negative errno if it could not be read. `o` may be NULL (the
 * defaults: nothing extra allowed). */
int archive_check(ArchivePreadFn pread_fn, void *userdata, uint64_t size,
                  const ArchiveCheckOptions *o, ArchiveIndex *ret_index, ErrorDetail *why);

/* The same over a file descriptor (pread) or a buffer. */
int archive_check_fd(int fd, uint64_t size, const ArchiveCheckOptions *o, ArchiveIndex *ret_index,
                     ErrorDetail *why);
int archive_check_buffer(const uint8_t *data, size_t size, const ArchiveCheckOptions *o,
                         ArchiveIndex *ret_index, ErrorDetail *why);

/* An ArchiveBaseLinkFn over a directory: userdata points to the descriptor
 * (an int) of the image's root, mounted; each component is opened without
 * following links. */
int archive_base_link_at(const char *path, void *userdata);

/* A member's data as a NUL-terminated string; -EFBIG if larger than `max`. */
int archive_read_member(ArchivePreadFn pread_fn, void *userdata, const ArchiveMember *m, size_t max,
                        char **ret);
int archive_read_member_fd(int fd, const ArchiveMember *m, size_t max, char **ret);

/* An image archive (a docker-archive, as FetchImage sends it) is outside
 * input too, and Podman applies every tag in it while loading: before it is
 * loaded, its headers are read by the same rules (only files, directories
 * and relative links that stay inside), it must not carry an OCI layout
 * (index.json, oci-layout: Podman would load that instead), its
 * manifest.json must list exactly one image tagged exactly `name` (with
 * ":latest" if untagged), and its legacy `repositories` may name nothing
 * else. 0 with the location of the image's configuration (whose SHA-256 is
 * the image ID) in *ret_config; -EBADMSG with the reason in `why`. */
int image_archive_check(ArchivePreadFn pread_fn, void *userdata, uint64_t size, const char *name,
                        ArchiveMember *ret_config, ErrorDetail *why);
int image_archive_check_fd(int fd, uint64_t size, const char *name, ArchiveMember *ret_config,
                           ErrorDetail *why);
int image_archive_check_buffer(const uint8_t *data, size_t size, const char *name,
                               ArchiveMember *ret_config, ErrorDetail *why);
/* An image reference with the tag Podman gives an untagged one
 * ("busybox" -> "busybox:latest"). */
int image_reference_normalize(const char *name, char **ret);
