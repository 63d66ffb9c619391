/* precopy.c — pre-copy decision, podman argv vectors and the source's
 * sequence (see precopy.h). */
#include "precopy.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error-util.h"
#include "macro.h"

MigrationMode precopy_choose_mode(bool source_dirty_tracking, PreCopyPolicy policy)
{
	return policy == PRE_COPY_AUTO && source_dirty_tracking ? MIGRATION_MODE_PRE_COPY
	                                                        : MIGRATION_MODE_STOP_AND_COPY;
}

/* Fills argv from a NULL-terminated list. */
static int fill(const char *argv[], size_t n, const char *const *list)
{
	size_t i = 0;
	for (; list[i]; i++) {
		if (i + 1 >= n)
			return -E2BIG;
		argv[i] = list[i];
	}
	if (i >= n)
		return -E2BIG;
	argv[i] = NULL;
	return 0;
}

static int option(const char *name, const char *value, char **ret)
{
	if (!value || !*value)
		return -EINVAL;
	return asprintf(ret, "--%s=%s", name, value) < 0 ? -ENOMEM : 0;
}

int precopy_pre_checkpoint_argv(const char *podman, const char *container, const char *archive,
                                const char *argv[], size_t n, char **ret_storage)
{
	_cleanup_free_ char *export = NULL;
	int r;
	if (!podman || !container || !*container || (r = option("export", archive, &export)) < 0)
		return -EINVAL;
	/* --compress=none: plain tar, as the REST API exports and the target checks. */
	const char *const list[] = {
		podman, "container", "checkpoint", "--pre-checkpoint", "--compress=none",
		export, container,   NULL
	};
	if ((r = fill(argv, n, list)) < 0)
		return r;
	*ret_storage = TAKE_PTR(export);
	return 0;
}

int precopy_final_checkpoint_argv(const char *podman, const char *container, const char *archive,
                                  const char *argv[], size_t n, char **ret_storage)
{
	_cleanup_free_ char *export = NULL;
	int r;
	if (!podman || !container || !*container || (r = option("export", archive, &export)) < 0)
		return -EINVAL;
	/* --keep: a rollback restores from the checkpoint left here. */
	const char *const list[] = { podman,   "container",       "checkpoint", "--with-previous",
		                     "--keep", "--compress=none", export,       container,
		                     NULL };
	if ((r = fill(argv, n, list)) < 0)
		return r;
	*ret_storage = TAKE_PTR(export);
	return 0;
}

int precopy_restore_argv(const char *podman, const char *final_archive,
                         const char *previous_archive, const char *argv[], size_t n,
                         char **ret_storage)
{
	_cleanup_free_ char *import = NULL, *previous = NULL, *storage = NULL;
	int r;
	if (!podman || (r = option("import", final_archive, &import)) < 0 ||
	    (r = option("import-previous", previous_archive, &previous)) < 0)
		return -EINVAL;
	/* One allocation for the caller to free: both strings, back to back. */
	size_t a = strlen(import) + 1, b = strlen(previous) + 1;
	if (!(storage = malloc(a + b)))
		return -ENOMEM;
	memcpy(storage, import, a);
	memcpy(storage + a, previous, b);
	const char *const list[] = { podman,
		                     "container",
		                     "restore",
		                     storage,
		                     storage + a,
		                     "--ignore-static-ip",
		                     "--ignore-static-mac",
		                     NULL };
	if ((r = fill(argv, n, list)) < 0)
		return r;
	*ret_storage = TAKE_PTR(storage);
	return 0;
}

int import_restore_argv(const char *podman, const char *archive, const char *argv[], size_t n,
                        char **ret_storage)
{
	_cleanup_free_ char *import = NULL;
	int r;
	if (!podman || (r = option("import", archive, &import)) < 0)
		return -EINVAL;
	const char *const list[] = { podman, "container",          "restore",
		                     import, "--ignore-static-ip", "--ignore-static-mac",
		                     NULL };
	if ((r = fill(argv, n, list)) < 0)
		return r;
	*ret_storage = TAKE_PTR(import);
	return 0;
}

int precopy_source_run(const PreCopyOps *ops, const char *podman, const char *container,
                       const char *pre_archive, const char *final_archive, MigrationMode *ret_mode,
                       ErrorDetail *why)
{
	const char *argv[16];
	ErrorDetail err = {};
	int r;

	/* 1. Memory only, the container keeps running. */
	_cleanup_free_ char *s1 = NULL;
	if ((r = precopy_pre_checkpoint_argv(podman, container, pre_archive, argv, ELEMENTSOF(argv),
	                                     &s1)) < 0)
		return r;
	r = ops->run(argv, &err, ops->userdata);
	if (r != 0) {
		/* Nothing stopped: stop-and-copy it is. */
		error_detail_set(why, "pre-checkpoint failed (%s); falling back to stop-and-copy",
		                 error_detail_is_set(&err) ? err.message
		                 : r < 0                   ? error_to_string(r)
		                                           : "non-zero exit");
		*ret_mode = MIGRATION_MODE_STOP_AND_COPY;
		return 0;
	}
	if ((r = ops->send(pre_archive, true, ops->userdata)) < 0)
		return error_detail_set_errno(why, r, "sending the pre-checkpoint failed: %s",
		                              error_to_string(r));

	/* 2. The container stops; only what changed since travels now. */
	if (ops->stopping && (r = ops->stopping(ops->userdata)) < 0)
		return error_detail_set_errno(why, r, "cannot go on to the final checkpoint: %s",
		                              error_to_string(r));
	_cleanup_free_ char *s2 = NULL;
	if ((r = precopy_final_checkpoint_argv(podman, container, final_archive, argv,
	                                       ELEMENTSOF(argv), &s2)) < 0)
		return r;
	error_detail_clear(&err);
	r = ops->run(argv, &err, ops->userdata);
	if (r != 0)
		return error_detail_set_errno(why, r < 0 ? r : -EIO, "final checkpoint failed: %s",
		                              error_detail_is_set(&err) ? err.message
		                              : r < 0                   ? error_to_string(r)
		                                                        : "non-zero exit");
	if ((r = ops->send(final_archive, false, ops->userdata)) < 0)
		return error_detail_set_errno(why, r, "sending the checkpoint failed: %s",
		                              error_to_string(r));
	*ret_mode = MIGRATION_MODE_PRE_COPY;
	return 0;
}

int precopy_file_create(const char *dir, const char *id, const char *suffix, int *ret_fd,
                        char **ret_path)
{
	_cleanup_free_ char *path = NULL;
	if (!migration_id_valid(id) || strchr(suffix, '/'))
		return -EINVAL;
	if (asprintf(&path, "%s/%s.XXXXXX%s", dir, id, suffix) < 0)
		return -ENOMEM;
	int fd = mkostemps(path, (int)strlen(suffix), O_CLOEXEC);
	if (fd < 0)
		return -errno;
	*ret_fd = fd;
	*ret_path = TAKE_PTR(path);
	return 0;
}

int precopy_dir_create(const char *dir, const char *id, char **ret_path)
{
	_cleanup_free_ char *path = NULL;
	if (!migration_id_valid(id))
		return -EINVAL;
	if (asprintf(&path, "%s/%s.XXXXXX", dir, id) < 0)
		return -ENOMEM;
	if (!mkdtemp(path))
		return -errno;
	*ret_path = TAKE_PTR(path);
	return 0;
}
