/* archive-check.h — a checkpoint archive is outside input: before a target
 * hands one to Podman it checks every tar header. A checkpoint archive holds
 * only regular files and directories under relative paths (config.dump,
 * checkpoint/pages-1.img, rootfs-diff.tar, ...), so anything else is
 * refused with a reason: an absolute path or a ".." component (a path
 * escaping its directory), links, devices, a bad header checksum, a size
 * past the end, a missing end-of-archive marker (a truncated archive).
 * Only headers are read (data is skipped by offset), so checking a 1 GiB
 * archive costs a few reads. */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "error-util.h"

/* Reads up to n bytes at offset off; returns how many (0 at the end) or a
 * negative errno. */
typedef ssize_t (*ArchivePreadFn)(void *buf, size_t n, uint64_t off, void *userdata);

/* 0 if the archive of `size` bytes is acceptable; -EBADMSG with the reason
 * in `why` if not; another negative errno if it could not be read. */
int archive_check(ArchivePreadFn pread_fn, void *userdata, uint64_t size, ErrorDetail *why);

/* The same over a file descriptor (pread) or a buffer. */
int archive_check_fd(int fd, uint64_t size, ErrorDetail *why);
int archive_check_buffer(const uint8_t *data, size_t size, ErrorDetail *why);
