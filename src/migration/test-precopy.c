/* Unit tests for pre-copy: the mode decision, the podman argv vectors, and
 * the source's sequence against a fake podman and a fake transport
 * (this kernel has no dirty-memory tracking, so the real thing cannot run
 * here). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "precopy.h"

static void test_choose_mode(void **state)
{
	assert_int_equal(precopy_choose_mode(true, PRE_COPY_AUTO), MIGRATION_MODE_PRE_COPY);
	assert_int_equal(precopy_choose_mode(false, PRE_COPY_AUTO), MIGRATION_MODE_STOP_AND_COPY);
	assert_int_equal(precopy_choose_mode(true, PRE_COPY_NEVER), MIGRATION_MODE_STOP_AND_COPY);
	assert_int_equal(precopy_choose_mode(false, PRE_COPY_NEVER), MIGRATION_MODE_STOP_AND_COPY);
}

static char *join(const char *const argv[])
{
	static char buf[1024];
	buf[0] = 0;
	for (size_t i = 0; argv[i]; i++) {
		if (i)
			strcat(buf, " ");
		strcat(buf, argv[i]);
	}
	return buf;
}

static void test_argv(void **state)
{
	const char *argv[16];
	char *s = NULL;

	assert_int_equal(precopy_pre_checkpoint_argv("podman", "web", "/w/pre.tar", argv, 16, &s),
	                 0);
	assert_string_equal(join(argv),
	                    "podman container checkpoint --pre-checkpoint --compress=none "
	                    "--export=/w/pre.tar web");
	free(s);
	assert_int_equal(
	        precopy_final_checkpoint_argv("podman", "web", "/w/final.tar", argv, 16, &s), 0);
	assert_string_equal(join(argv),
	                    "podman container checkpoint --with-previous --keep --compress=none "
	                    "--export=/w/final.tar web");
	free(s);
	assert_int_equal(precopy_restore_argv("podman", "/w/final.tar", "/w/pre.tar", argv, 16, &s),
	                 0);
	assert_string_equal(join(argv), "podman container restore --import=/w/final.tar "
	                                "--import-previous=/w/pre.tar --ignore-static-ip "
	                                "--ignore-static-mac");
	free(s);

	/* A hostile name stays one argument: no shell ever sees it. */
	assert_int_equal(precopy_pre_checkpoint_argv("podman", "a; rm -rf /", "/w/p", argv, 16, &s),
	                 0);
	assert_string_equal(argv[6], "a; rm -rf /");
	free(s);

	assert_int_equal(precopy_pre_checkpoint_argv("podman", "web", "/w/p", argv, 4, &s), -E2BIG);
	assert_int_equal(precopy_pre_checkpoint_argv("podman", "", "/w/p", argv, 16, &s), -EINVAL);
	assert_int_equal(precopy_restore_argv("podman", "/w/f", NULL, argv, 16, &s), -EINVAL);

	assert_int_equal(import_restore_argv("podman", "/proc/7/fd/9", argv, 16, &s), 0);
	assert_string_equal(join(argv), "podman container restore --import=/proc/7/fd/9 "
	                                "--ignore-static-ip --ignore-static-mac");
	free(s);
	assert_int_equal(import_restore_argv("podman", "/w/f", argv, 6, &s), -E2BIG);
	assert_int_equal(import_restore_argv("podman", "", argv, 16, &s), -EINVAL);
}

typedef struct Fake {
	int fail_run;  /* 1-based index of the run that fails (0: none) */
	int fail_send; /* 1-based index of the send that fails */
	int runs, sends;
	char log[8][256]; /* what happened, in order */
	int n;
} Fake;

static int fake_run(const char *const argv[], ErrorDetail *err, void *userdata)
{
	Fake *f = userdata;
	f->runs++;
	snprintf(f->log[f->n++], sizeof f->log[0], "run %s", join(argv));
	if (f->runs == f->fail_run) {
		error_detail_set(err, "criu pre-dump aborted");
		return 125;
	}
	return 0;
}

static int fake_send(const char *path, bool previous, void *userdata)
{
	Fake *f = userdata;
	f->sends++;
	snprintf(f->log[f->n++], sizeof f->log[0], "send %s%s", path,
	         previous ? " (previous)" : "");
	return f->sends == f->fail_send ? -ECONNRESET : 0;
}

static int fake_stopping(void *userdata)
{
	Fake *f = userdata;
	snprintf(f->log[f->n++], sizeof f->log[0], "stopping");
	return 0;
}

static void test_sequence(void **state)
{
	Fake f = {};
	PreCopyOps ops = { fake_run, fake_send, fake_stopping, &f };
	MigrationMode mode = 99;
	ErrorDetail why = {};

	assert_int_equal(
	        precopy_source_run(&ops, "podman", "db", "/w/pre", "/w/final", &mode, &why), 0);
	assert_int_equal(mode, MIGRATION_MODE_PRE_COPY);
	assert_int_equal(f.n, 5);
	assert_string_equal(f.log[0],
	                    "run podman container checkpoint --pre-checkpoint --compress=none "
	                    "--export=/w/pre db");
	assert_string_equal(f.log[1], "send /w/pre (previous)");
	assert_string_equal(f.log[2], "stopping");
	assert_string_equal(
	        f.log[3], "run podman container checkpoint --with-previous --keep --compress=none "
	                  "--export=/w/final db");
	assert_string_equal(f.log[4], "send /w/final");
}

static void test_pre_dump_fails_falls_back(void **state)
{
	Fake f = { .fail_run = 1 };
	PreCopyOps ops = { fake_run, fake_send, fake_stopping, &f };
	MigrationMode mode = 99;
	ErrorDetail why = {};

	assert_int_equal(
	        precopy_source_run(&ops, "podman", "db", "/w/pre", "/w/final", &mode, &why), 0);
	assert_int_equal(mode, MIGRATION_MODE_STOP_AND_COPY);
	assert_int_equal(f.n, 1); /* nothing sent, nothing stopped */
	assert_non_null(strstr(why.message, "criu pre-dump aborted"));
	assert_non_null(strstr(why.message, "stop-and-copy"));
}

static void test_later_failures_are_errors(void **state)
{
	Fake f = { .fail_send = 1 };
	PreCopyOps ops = { fake_run, fake_send, fake_stopping, &f };
	MigrationMode mode = 99;
	ErrorDetail why = {};
	assert_int_equal(
	        precopy_source_run(&ops, "podman", "db", "/w/pre", "/w/final", &mode, &why),
	        -ECONNRESET);
	assert_int_equal(mode, 99);  /* untouched */
	assert_int_equal(f.runs, 1); /* the container was never stopped */

	Fake g = { .fail_run = 2 };
	ops.userdata = &g;
	/* the final checkpoint is the second run */
	error_detail_clear(&why);
	assert_int_equal(
	        precopy_source_run(&ops, "podman", "db", "/w/pre", "/w/final", &mode, &why), -EIO);
	assert_non_null(strstr(why.message, "final checkpoint failed"));
	assert_int_equal(g.sends, 1);
}

/* Two calls with one migration id get files and directories of their own,
 * created exclusively. */
static void test_files_unique_per_call(void **state)
{
	char dir[] = "/tmp/podmig-test-precopy-XXXXXX";
	assert_non_null(mkdtemp(dir));
	const char *id = "m-1795730000000-0a1b2c3d";
	int a = -1, b = -1;
	char *pa = NULL, *pb = NULL, *da = NULL, *db = NULL;

	assert_int_equal(precopy_file_create(dir, id, ".pre.tar", &a, &pa), 0);
	assert_int_equal(precopy_file_create(dir, id, ".pre.tar", &b, &pb), 0);
	assert_string_not_equal(pa, pb);
	assert_true(strncmp(pa, dir, strlen(dir)) == 0 && strstr(pa, id));
	assert_int_equal(strcmp(pa + strlen(pa) - 8, ".pre.tar"), 0);
	struct stat st;
	assert_int_equal(fstat(a, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	/* what one call writes, the other does not see */
	assert_int_equal(write(a, "abc", 3), 3);
	assert_int_equal(fstat(b, &st), 0);
	assert_int_equal(st.st_size, 0);

	assert_int_equal(precopy_dir_create(dir, id, &da), 0);
	assert_int_equal(precopy_dir_create(dir, id, &db), 0);
	assert_string_not_equal(da, db);
	assert_int_equal(stat(da, &st), 0);
	assert_true(S_ISDIR(st.st_mode) && (st.st_mode & 0777) == 0700);

	/* an id is never a path */
	int c = -1;
	char *pc = NULL;
	assert_int_equal(precopy_file_create(dir, "../../etc/x", ".tar", &c, &pc), -EINVAL);
	assert_int_equal(precopy_dir_create(dir, "a/b", &pc), -EINVAL);

	close(a);
	close(b);
	unlink(pa);
	unlink(pb);
	rmdir(da);
	rmdir(db);
	rmdir(dir);
	free(pa);
	free(pb);
	free(da);
	free(db);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_choose_mode),
		cmocka_unit_test(test_argv),
		cmocka_unit_test(test_sequence),
		cmocka_unit_test(test_pre_dump_fails_falls_back),
		cmocka_unit_test(test_later_failures_are_errors),
		cmocka_unit_test(test_files_unique_per_call),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
