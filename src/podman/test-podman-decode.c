/* test-podman-decode.c — the Podman reply decoders on real replies captured
 * from Podman 5.4.2 (tests/data/podman, argv[1]) and on bad ones: not JSON,
 * JSON of the wrong shape, truncated. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "podman.h"
#include "strutil.h"

static const char *data_dir;

static char *load(const char *name, size_t *ret_size)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/%s", data_dir, name);
	_cleanup_fclose_ FILE *f = fopen(path, "re");
	assert_non_null(f);
	char *text = NULL;
	size_t cap = 0;
	ssize_t n = getdelim(&text, &cap, 0, f);
	assert_true(n > 0);
	*ret_size = (size_t)n;
	return text;
}

static void test_containers(void **state)
{
	size_t size, n;
	_cleanup_free_ char *text = load("containers-list-labels.json", &size);
	PodmanContainer *cts;

	assert_int_equal(podman_decode_containers(text, size, &cts, &n), 0);
	assert_int_equal(n, 4);
	assert_string_equal(cts[0].name, "c1");
	assert_string_equal(cts[0].state, "exited");
	assert_string_equal(cts[0].image, "localhost/podmig/counter:latest");
	assert_null(cts[0].labels[0]);
	assert_string_equal(cts[2].name, "c2");
	assert_string_equal(cts[2].state, "running");
	assert_true(cts[2].pid > 0);
	assert_true(cts[2].started_at > 1700000000);
	/* sorted */
	assert_string_equal(cts[2].labels[0], "app=demo");
	assert_string_equal(cts[2].labels[1], "podmig.migrate=false");
	assert_null(cts[2].labels[2]);
	assert_string_equal(cts[3].state, "created");
	assert_int_equal(cts[3].started_at, 0);
	podman_containers_free(cts, n);

	/* empty list */
	assert_int_equal(podman_decode_containers("[]", 2, &cts, &n), 0);
	assert_int_equal(n, 0);
	podman_containers_free(cts, n);
}

static void test_stats(void **state)
{
	size_t size, n;
	_cleanup_free_ char *text = load("containers-stats-network-1.json", &size);
	PodmanStats *st;

	assert_int_equal(podman_decode_stats(text, size, &st, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(st[0].name, "n1");
	assert_int_equal(st[0].cpu_nano, 40819459);
	assert_int_equal(st[0].system_nano, 1795731524274342071ULL);
	assert_int_equal(st[0].mem_usage, 53248);
	assert_int_equal(st[0].pids, 1);
	assert_true(st[0].net_rx_bytes > 0);
	assert_true(st[0].net_tx_bytes > 0);
	/* network mode none: "Network": null */
	assert_string_equal(st[1].name, "c2");
	assert_int_equal(st[1].net_rx_bytes, 0);
	podman_stats_free(st, n);

	assert_int_equal(podman_decode_stats("{\"Error\":null,\"Stats\":[]}", 25, &st, &n), 0);
	assert_int_equal(n, 0);
	podman_stats_free(st, n);
	assert_int_equal(podman_decode_stats("{\"Error\":null,\"Stats\":null}", 27, &st, &n), 0);
	podman_stats_free(st, n);
	const char *err = "{\"Error\":{\"message\":\"boom\"},\"Stats\":null}";
	assert_int_equal(podman_decode_stats(err, strlen(err), &st, &n), -EIO);
}

static void test_inspect_version_info(void **state)
{
	size_t size;
	_cleanup_free_ char *inspect = load("container-inspect.json", &size);
	PodmanContainerInspect in;
	assert_int_equal(podman_decode_inspect(inspect, size, &in), 0);
	assert_string_equal(in.name, "c1");
	assert_string_equal(in.state, "running");
	assert_true(in.running);
	assert_string_equal(in.image, "localhost/podmig/counter:latest");
	assert_true(in.pid > 0);
	assert_non_null(in.raw);
	/* Found by name, not by a prefix of its ID (f8cb28e8...). */
	assert_true(podman_inspect_is_named(&in, "c1"));
	assert_false(podman_inspect_is_named(&in, "f8"));
	assert_false(podman_inspect_is_named(&in,
	                                     "f8cb28e8bfe63ca7057bcf62d54cdc7054e184d5c8ef4d011811"
	                                     "cd68a6adbeb6"));
	assert_false(podman_inspect_is_named(&in, "c"));
	assert_false(podman_inspect_is_named(&in, "c1x"));
	free(in.name);
	in.name = strdup("/c1"); /* the Docker-compatible form */
	assert_true(podman_inspect_is_named(&in, "c1"));
	podman_container_inspect_done(&in);

	_cleanup_free_ char *version = load("version.json", &size);
	PodmanVersion v;
	assert_int_equal(podman_decode_version(version, size, &v), 0);
	assert_string_equal(v.version, "5.4.2");
	assert_string_equal(v.api_version, "5.4.2");
	assert_string_equal(v.os_arch, "linux/amd64");
	podman_version_done(&v);

	_cleanup_free_ char *info = load("info.json", &size);
	PodmanInfo i;
	assert_int_equal(podman_decode_info(info, size, &i), 0);
	assert_int_equal(i.cpus, 2);
	assert_int_equal(i.memory_total, 25276510208ULL);
	assert_string_equal(i.oci_runtime, "runc");
	assert_string_equal(i.cgroup_version, "v1");
	podman_info_done(&i);
}

static void test_changes(void **state)
{
	size_t size, n;
	_cleanup_free_ char *text = load("container-changes.json", &size);
	PodmanChange *ch;

	assert_int_equal(podman_decode_changes(text, size, &ch, &n), 0);
	assert_int_equal(n, 8);
	assert_string_equal(ch[0].path, "/etc");
	assert_int_equal(ch[0].kind, PODMAN_CHANGE_MODIFIED);
	assert_string_equal(ch[1].path, "/etc/group");
	assert_int_equal(ch[1].kind, PODMAN_CHANGE_DELETED);
	assert_string_equal(ch[7].path, "/var/zz/f");
	assert_int_equal(ch[7].kind, PODMAN_CHANGE_ADDED);
	podman_changes_free(ch, n);

	/* nothing changed */
	assert_int_equal(podman_decode_changes("null", 4, &ch, &n), 0);
	assert_int_equal(n, 0);
	podman_changes_free(ch, n);
	assert_int_equal(podman_decode_changes("[]", 2, &ch, &n), 0);
	assert_int_equal(n, 0);
	podman_changes_free(ch, n);

	static const char *const bad[] = {
		"",
		"{}",
		"[{\"Path\":\"/a\"}]",
		"[{\"Path\":\"/a\",\"Kind\":3}]",
		"[{\"Path\":\"/a\",\"Kind\":-1}]",
		"[{\"Path\":\"/a\",\"Kind\":\"1\"}]",
		"[{\"Path\":\"a\",\"Kind\":1}]",
		"[{\"Path\":\"/a\",\"Kind\":1},{\"Path\":7,\"Kind\":1}]",
		"[null]",
	};
	for (size_t k = 0; k < ELEMENTSOF(bad); k++)
		assert_int_equal(podman_decode_changes(bad[k], strlen(bad[k]), &ch, &n), -EBADMSG);
}

static void test_bad_replies(void **state)
{
	static const char *const bad[] = {
		"",
		"not json",
		"<html>502 Bad Gateway</html>",
		"{",
		"null",
		"42",
		"\"text\"",
		"{}",
		"[1,2]",
		"[{}]",
		"[{\"Id\":\"x\",\"Names\":[],\"State\":\"running\"}]",
		"[{\"Id\":\"x\",\"Names\":[1],\"State\":\"running\"}]",
		"[{\"Id\":7,\"Names\":[\"a\"],\"State\":\"running\"}]",
		"[{\"Id\":\"x\",\"Names\":[\"a\"],\"State\":\"running\",\"Labels\":{\"k\":1}}]",
		"[{\"Id\":\"x\",\"Names\":[\"a\"],\"State\":\"running\",\"Labels\":[]}]",
		"{\"Stats\":{}}",
		"{\"Error\":null,\"Stats\":[{\"ContainerID\":\"x\"}]}",
		"{\"Error\":null,\"Stats\":[{\"ContainerID\":\"x\",\"CPUNano\":\"1\",\"MemUsage\":"
		"1}]}",
		"{\"Error\":null,\"Stats\":[null]}",
		"{\"Id\":\"x\",\"Name\":\"a\"}",
		"{\"Id\":\"x\",\"Name\":\"a\",\"State\":[]}",
		"{\"host\":{}}",
		"{\"host\":{\"cpus\":\"2\"}}",
		"{\"Version\":5}",
		"[{\"Id\":\"x\",\"Names\":[\"a\"],\"State\":\"run\\u0000\"}] garbage",
	};
	for (size_t k = 0; k < ELEMENTSOF(bad); k++) {
		const char *t = bad[k];
		size_t size = strlen(t);
		PodmanContainer *cts = (PodmanContainer *)0x1;
		PodmanStats *st = (PodmanStats *)0x1;
		PodmanContainerInspect in = { .id = (char *)0x1 };
		PodmanVersion v = { .version = (char *)0x1 };
		PodmanInfo i = { .hostname = (char *)0x1 };
		size_t n = 99;
		int r = podman_decode_containers(t, size, &cts, &n);
		if (r >= 0) {
			/* only "[]"-like input may pass; none here */
			fail_msg("containers decoder accepted '%s'", t);
		}
		assert_ptr_equal(cts, (PodmanContainer *)0x1); /* untouched on failure */
		assert_int_equal(n, 99);
		assert_true(podman_decode_stats(t, size, &st, &n) < 0);
		assert_ptr_equal(st, (PodmanStats *)0x1);
		assert_true(podman_decode_inspect(t, size, &in) < 0);
		assert_ptr_equal(in.id, (char *)0x1);
		if (podman_decode_version(t, size, &v) >= 0)
			fail_msg("version decoder accepted '%s'", t);
		assert_true(podman_decode_info(t, size, &i) < 0);
	}
}

static void test_error_message(void **state)
{
	const char *e = "{\"cause\":\"no such container\",\"message\":\"no container with name or "
	                "ID \\\"x\\\" found: no such container\",\"response\":404}";
	_cleanup_free_ char *m = podman_decode_error_message(e, strlen(e));
	assert_string_equal(m, "no container with name or ID \"x\" found: no such container");
	_cleanup_free_ char *plain = podman_decode_error_message("Not Found\n", 10);
	assert_string_equal(plain, "Not Found");
	assert_null(podman_decode_error_message("\x01\x02", 2));
	assert_null(podman_decode_error_message("", 0));
	assert_null(podman_decode_error_message("{}", 2));
}

static void test_log_stream(void **state)
{
	static const char frames[] = "\x01\0\0\0\0\0\0\x03"
	                             "ab\n"
	                             "\x02\0\0\0\0\0\0\x02"
	                             "c\n";
	_cleanup_free_ char *text = NULL;
	assert_int_equal(podman_decode_log_stream(frames, sizeof(frames) - 1, &text), 0);
	assert_string_equal(text, "ab\nc\n");
	char *t = NULL;
	assert_int_equal(podman_decode_log_stream(frames, 5, &t), -EBADMSG);
	assert_int_equal(podman_decode_log_stream("\x01\0\0\0\0\0\0\x09"
	                                          "ab",
	                                          10, &t),
	                 -EBADMSG);
	assert_null(t);

	/* Only the streams asked for. */
	_cleanup_free_ char *out = NULL, *err = NULL;
	assert_int_equal(
	        podman_decode_log_frames(frames, sizeof(frames) - 1, PODMAN_LOG_STDOUT, &out), 0);
	assert_string_equal(out, "ab\n");
	assert_int_equal(
	        podman_decode_log_frames(frames, sizeof(frames) - 1, PODMAN_LOG_STDERR, &err), 0);
	assert_string_equal(err, "c\n");
}

int main(int argc, char *argv[])
{
	data_dir = argc > 1 ? argv[1] : "tests/data/podman";
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_containers),
		cmocka_unit_test(test_stats),
		cmocka_unit_test(test_inspect_version_info),
		cmocka_unit_test(test_bad_replies),
		cmocka_unit_test(test_error_message),
		cmocka_unit_test(test_log_stream),
		cmocka_unit_test(test_changes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
