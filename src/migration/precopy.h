/* precopy.h — pre-copy migration: dump the container's memory while it keeps
 * running, ship that, then stop it and ship only what changed since.
 *
 * Podman's REST API cannot import a pre-checkpoint, so this path runs the
 * podman binary (argv vectors, never a shell): on the source
 *   podman container checkpoint --pre-checkpoint --compress=none --export=PRE NAME
 *   podman container checkpoint --with-previous --keep --compress=none \
 *                               --export=FINAL NAME
 * and on the target
 *   podman container restore --import=FINAL --import-previous=PRE
 *                            --ignore-static-ip --ignore-static-mac
 * It needs dirty-memory tracking in the source's kernel (criu check
 * --feature mem_dirty_track); without it, or when the pre-dump fails, the
 * migration is stop-and-copy, and the record says which mode was used.
 *
 * The sequence is driven through callbacks so it is tested with fakes. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "error-util.h"
#include "migration-record.h"

typedef enum PreCopyPolicy {
	PRE_COPY_AUTO, /* when the kernel can */
	PRE_COPY_NEVER,
} PreCopyPolicy;

/* The mode a migration from a source with (or without) dirty-memory
 * tracking uses under `policy`. */
MigrationMode precopy_choose_mode(bool source_dirty_tracking, PreCopyPolicy policy);

/* argv vectors into `argv` (room for n pointers, NULL-terminated); the
 * strings are the caller's or static. -E2BIG if n is too small, -EINVAL for
 * a missing argument. *ret_argv_storage holds the "--export=..." strings:
 * free it after use. */
int precopy_pre_checkpoint_argv(const char *podman, const char *container, const char *archive,
                                const char *argv[], size_t n, char **ret_storage);
int precopy_final_checkpoint_argv(const char *podman, const char *container, const char *archive,
                                  const char *argv[], size_t n, char **ret_storage);
int precopy_restore_argv(const char *podman, const char *final_archive,
                         const char *previous_archive, const char *argv[], size_t n,
                         char **ret_storage);
/* A stop-and-copy restore reads its one archive where it lies:
 *   podman container restore --import=ARCHIVE --ignore-static-ip --ignore-static-mac
 * (the REST API would take the archive as a request body and write a
 * second copy of it before extracting it; bench/README.md). */
int import_restore_argv(const char *podman, const char *archive, const char *argv[], size_t n,
                        char **ret_storage);

/* The podman binary needs named files, and one migration id may arrive
 * twice (a retry, or a forged request): every call gets files of its own,
 * never a name derived from the id alone.
 *
 * A new file <dir>/<id>.XXXXXX<suffix> (created exclusively, mode 0600):
 * its descriptor in *ret_fd and its path in *ret_path. */
int precopy_file_create(const char *dir, const char *id, const char *suffix, int *ret_fd,
                        char **ret_path);
/* A new directory <dir>/<id>.XXXXXX (mode 0700) in *ret_path. */
int precopy_dir_create(const char *dir, const char *id, char **ret_path);

/* The source's side of a pre-copy migration. */
typedef struct PreCopyOps {
	/* Runs argv; returns its exit status (0 ok) or a negative errno;
	 * may record Podman's message in err. */
	int (*run)(const char *const argv[], ErrorDetail *err, void *userdata);
	/* Ships a finished archive to the target; previous: the pre-dump. */
	int (*send)(const char *path, bool previous, void *userdata);
	/* Called just before the final checkpoint stops the container (the
	 * caller records it); NULL: nothing to do. A failure aborts. */
	int (*stopping)(void *userdata);
	void *userdata;
} PreCopyOps;

/* Pre-dumps (container keeps running), sends it, final-checkpoints with the
 * previous dump (container stops), sends that. Returns 0 with *ret_mode
 * PRE_COPY when all went through; 0 with STOP_AND_COPY when the pre-dump
 * itself failed and nothing was stopped (the caller then does a plain
 * checkpoint); a negative errno, with the reason in why, when a later step
 * failed (the container may be stopped: the caller settles as for any
 * failure after the checkpoint began). */
int precopy_source_run(const PreCopyOps *ops, const char *podman, const char *container,
                       const char *pre_archive, const char *final_archive, MigrationMode *ret_mode,
                       ErrorDetail *why);
