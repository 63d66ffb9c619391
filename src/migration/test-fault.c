/* Unit tests for the fault points: inert without a directory or a file,
 * pause / fail / corrupt N as written by a test. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "fault.h"

static char dir[] = "/tmp/podmig-test-fault.XXXXXX";

static void arm(const char *point, const char *what)
{
	char path[256];
	snprintf(path, sizeof path, "%s/%s", dir, point);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(what, f);
	fclose(f);
}

static void disarm(const char *point)
{
	char path[256];
	snprintf(path, sizeof path, "%s/%s", dir, point);
	unlink(path);
}

static void test_inert(void **state)
{
	assert_int_equal(fault_lookup(NULL, "source-transferring", NULL), FAULT_NONE);
	assert_int_equal(fault_point(NULL, "source-transferring", 1000), 0);
	assert_int_equal(fault_lookup(dir, "source-transferring", NULL), FAULT_NONE);
	assert_int_equal(fault_point(dir, "source-transferring", 1000), 0);
	arm("x", "nonsense");
	assert_int_equal(fault_lookup(dir, "x", NULL), FAULT_NONE);
	disarm("x");
}

static void test_fail_and_corrupt(void **state)
{
	uint64_t n = 0;
	arm("target-restoring", "fail\n");
	assert_int_equal(fault_lookup(dir, "target-restoring", NULL), FAULT_FAIL);
	assert_int_equal(fault_point(dir, "target-restoring", 1000), -EIO);
	disarm("target-restoring");
	assert_int_equal(fault_point(dir, "target-restoring", 1000), 0);
	arm("source-chunk", "corrupt 7\n");
	assert_int_equal(fault_lookup(dir, "source-chunk", &n), FAULT_CORRUPT);
	assert_int_equal(n, 7);
	disarm("source-chunk");
}

static void *release_later(void *arg)
{
	char paused[256];
	snprintf(paused, sizeof paused, "%s/source-transferring.paused", dir);
	/* The pause announces itself, then waits for the arm file to go. */
	for (int i = 0; i < 500 && access(paused, F_OK) != 0; i++)
		usleep(10000);
	*(int *)arg = access(paused, F_OK) == 0;
	disarm("source-transferring");
	return NULL;
}

static void test_pause(void **state)
{
	pthread_t t;
	int saw_paused = 0;
	arm("source-transferring", "pause");
	assert_int_equal(pthread_create(&t, NULL, release_later, &saw_paused), 0);
	assert_int_equal(fault_point(dir, "source-transferring", 30 * 1000000ULL), 0);
	pthread_join(t, NULL);
	assert_true(saw_paused);
	char paused[256];
	snprintf(paused, sizeof paused, "%s/source-transferring.paused", dir);
	assert_int_equal(access(paused, F_OK), -1); /* cleaned up */

	/* A forgotten pause gives up after its timeout. */
	arm("source-transferring", "pause");
	assert_int_equal(fault_point(dir, "source-transferring", 50000), 0);
	disarm("source-transferring");
}

int main(void)
{
	assert_non_null(mkdtemp(dir));
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_inert),
		cmocka_unit_test(test_fail_and_corrupt),
		cmocka_unit_test(test_pause),
	};
	int r = cmocka_run_group_tests(tests, NULL, NULL);
	rmdir(dir);
	return r;
}
