/* test-podman-client.c — podmig's Podman client against a real, private
 * Podman API service (podman-fixture): system calls, container lifecycle,
 * stats, a checkpoint streamed to a file and restored streamed from it (the
 * counter continues), image export and load, and the error cases. argv[1] is
 * the statically linked counter workload. */
#include <fcntl.h>
#include <openssl/evp.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "podman-fixture.h"
#include "podman.h"
#include "strutil.h"
#include "time-util.h"

#define IMAGE "localhost/podmig/counter:latest"
#define NAME  "pmtest-counter"

static const char *counter_path;
static PodmanFixture *fixture;
static PodmanClient *client;

static int setup(void **state)
{
	int r = podman_fixture_start(&fixture);
	if (r < 0) {
		fprintf(stderr, "podman fixture: %s\n", strerror(-r));
		return -1;
	}
	r = podman_fixture_import_image(fixture, IMAGE, (const char *const[]){ counter_path, NULL },
	                                "/bin/counter");
	if (r < 0) {
		fprintf(stderr, "importing %s: %s\n", IMAGE, strerror(-r));
		return -1;
	}
	return podman_client_new(fixture->socket_path, NULL, &client) < 0 ? -1 : 0;
}

static int teardown(void **state)
{
	client = podman_client_free(client);
	fixture = podman_fixture_free(fixture);
	return 0;
}

static char *read_text(const char *path)
{
	_cleanup_fclose_ FILE *f = fopen(path, "re");
	char *text = NULL;
	size_t size = 0;
	if (!f || getdelim(&text, &size, 0, f) < 0) {
		free(text);
		return NULL;
	}
	return text;
}

/* The counter's last reported value, from its log ("N TIMESTAMP" lines). */
static long last_count(const char *name)
{
	_cleanup_free_ char *text = NULL;
	PodmanError e = {};
	if (podman_container_logs(client, name, 3, &text, &e) < 0) {
		fprintf(stderr, "logs: %s\n", e.message);
		return -1;
	}
	long last = -1;
	for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n"))
		last = strtol(line, NULL, 10);
	return last;
}

static void test_system(void **state)
{
	PodmanVersion v = {};
	PodmanInfo in = {};
	PodmanError e = {};

	assert_int_equal(podman_ping(client, &e), 0);
	assert_int_equal(podman_version(client, &v, &e), 0);
	assert_true(startswith(v.version, "5."));
	assert_non_null(v.api_version);
	assert_int_equal(podman_info(client, &in, &e), 0);
	assert_true(in.cpus >= 1);
	assert_true(in.memory_total > 0);
	assert_true(startswith(in.graph_root, fixture->dir) != NULL);
	podman_version_done(&v);
	podman_info_done(&in);
}

static void test_lifecycle_and_stats(void **state)
{
	_cleanup_free_ char *id = NULL;
	PodmanError e = {};
	PodmanCreateSpec spec = { .name = NAME,
		                  .image = IMAGE,
		                  .labels = (char *const[]){ "podmig.test=yes", NULL },
		                  .network_mode = "none" };

	assert_int_equal(podman_container_create(client, &spec, &id, &e), 0);
	assert_int_equal(strlen(id), 64);
	/* the same name again: Podman refuses, and the message says so */
	assert_true(podman_container_create(client, &spec, NULL, &e) < 0);
	assert_non_null(strstr(e.message, NAME));
	assert_int_equal(podman_container_start(client, NAME, &e), 0);
	assert_int_equal(podman_container_start(client, NAME, &e), 0); /* already running: fine */

	PodmanContainer *cts = NULL;
	size_t n = 0;
	assert_int_equal(podman_containers_list(client, true, &cts, &n, &e), 0);
	bool found = false;
	for (size_t i = 0; i < n; i++)
		if (streq(cts[i].name, NAME)) {
			found = true;
			assert_string_equal(cts[i].id, id);
			assert_string_equal(cts[i].state, "running");
			assert_string_equal(cts[i].image, IMAGE);
			assert_string_equal(cts[i].labels[0], "podmig.test=yes");
			assert_true(cts[i].pid > 0);
		}
	assert_true(found);
	podman_containers_free(cts, n);

	PodmanContainerInspect in = {};
	assert_int_equal(podman_container_inspect(client, NAME, &in, &e), 0);
	assert_string_equal(in.id, id);
	assert_true(in.running);
	assert_string_equal(in.image, IMAGE);
	podman_container_inspect_done(&in);

	sleep_usec(1000 * USEC_PER_MSEC);
	PodmanStats *st = NULL;
	assert_int_equal(podman_containers_stats(client, &st, &n, &e), 0);
	assert_int_equal(n, 1);
	assert_string_equal(st[0].id, id);
	assert_true(st[0].cpu_nano > 0);
	assert_true(st[0].system_nano > 0);
	assert_true(st[0].mem_usage > 0);
	assert_int_equal(st[0].pids, 1);
	podman_stats_free(st, n);

	assert_true(last_count(NAME) > 0);
}

typedef struct Sink {
	int fd;
	EVP_MD_CTX *sha;
	uint64_t bytes;
	unsigned calls;
	int fail_after; /* >0: fail on that call */
} Sink;

static int sink_write(const void *data, size_t size, void *userdata)
{
	Sink *s = userdata;
	if (s->fail_after > 0 && ++s->calls >= (unsigned)s->fail_after)
		return -ENOSPC;
	if (write(s->fd, data, size) != (ssize_t)size)
		return -EIO;
	EVP_DigestUpdate(s->sha, data, size);
	s->bytes += size;
	return 0;
}

static ssize_t source_read(void *buf, size_t size, void *userdata)
{
	Sink *s = userdata;
	ssize_t n = read(s->fd, buf, size);
	if (n < 0)
		return -errno;
	EVP_DigestUpdate(s->sha, buf, (size_t)n);
	s->bytes += (uint64_t)n;
	return n;
}

static void digest(Sink *s, unsigned char out[32])
{
	unsigned len = 32;
	EVP_DigestFinal_ex(s->sha, out, &len);
	EVP_MD_CTX_free(s->sha);
	s->sha = NULL;
}

static void test_checkpoint_restore(void **state)
{
	char path[4096];
	unsigned char sha_out[32], sha_in[32];
	PodmanError e = {};

	long before = last_count(NAME);
	assert_true(before > 0);

	snprintf(path, sizeof path, "%s/checkpoint.tar", fixture->dir);
	Sink out = { .fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600),
		     .sha = EVP_MD_CTX_new() };
	assert_true(out.fd >= 0);
	EVP_DigestInit_ex(out.sha, EVP_sha256(), NULL);
	assert_int_equal(podman_container_checkpoint(client, NAME, NULL, sink_write, &out, &e), 0);
	close(out.fd);
	digest(&out, sha_out);
	assert_true(out.bytes > 10240);
	printf("checkpoint: %llu bytes streamed\n", (unsigned long long)out.bytes);

	/* a plain tar holding CRIU's images and Podman's config */
	char list[4096];
	snprintf(list, sizeof list, "%s/checkpoint.list", fixture->dir);
	assert_int_equal(
	        fixture_run((char *const[]){ "/bin/tar", "-tf", path, NULL }, NULL, list, 60), 0);
	_cleanup_free_ char *listing = read_text(list);
	assert_non_null(listing);
	assert_non_null(strstr(listing, "\nconfig.dump\n"));
	assert_non_null(strstr(listing, "\ncheckpoint/"));

	long stopped = last_count(NAME);
	PodmanContainerInspect in = {};
	assert_int_equal(podman_container_inspect(client, NAME, &in, &e), 0);
	assert_false(in.running);
	podman_container_inspect_done(&in);
	assert_int_equal(podman_container_remove(client, NAME, true, &e), 0);
	assert_int_equal(podman_container_inspect(client, NAME, &in, &e), PODMAN_NOT_FOUND);

	Sink src = { .fd = open(path, O_RDONLY | O_CLOEXEC), .sha = EVP_MD_CTX_new() };
	assert_true(src.fd >= 0);
	EVP_DigestInit_ex(src.sha, EVP_sha256(), NULL);
	_cleanup_free_ char *id = NULL;
	int r = podman_container_restore(client, NULL, source_read, &src, &id, &e);
	if (r < 0)
		fprintf(stderr, "restore: %s\n", e.message);
	assert_int_equal(r, 0);
	close(src.fd);
	digest(&src, sha_in);
	assert_int_equal(src.bytes, out.bytes);
	assert_memory_equal(sha_in, sha_out, 32);
	assert_int_equal(strlen(id), 64);

	sleep_usec(500 * USEC_PER_MSEC);
	assert_int_equal(podman_container_inspect(client, NAME, &in, &e), 0);
	assert_true(in.running);
	podman_container_inspect_done(&in);
	long after = last_count(NAME);
	printf("counter: %ld before checkpoint, %ld when stopped, %ld after restore\n", before,
	       stopped, after);
	/* it continued from where it was, not from 0 */
	assert_true(after > stopped);
	assert_true(stopped >= before);
}

static void test_checkpoint_write_error(void **state)
{
	PodmanError e = {};
	Sink out = { .fd = open("/dev/null", O_WRONLY | O_CLOEXEC),
		     .sha = EVP_MD_CTX_new(),
		     .fail_after = 1 };
	EVP_DigestInit_ex(out.sha, EVP_sha256(), NULL);
	PodmanCheckpointOptions o = { .leave_running = true };
	assert_int_equal(podman_container_checkpoint(client, NAME, &o, sink_write, &out, &e),
	                 -ENOSPC);
	assert_non_null(strstr(e.message, NAME));
	close(out.fd);
	EVP_MD_CTX_free(out.sha);
	/* leave_running: it is still counting */
	PodmanContainerInspect in = {};
	assert_int_equal(podman_container_inspect(client, NAME, &in, &e), 0);
	assert_true(in.running);
	podman_container_inspect_done(&in);
}

static void test_image_export_load(void **state)
{
	char path[4096];
	PodmanError e = {};

	assert_int_equal(podman_image_exists(client, IMAGE, &e), 1);
	assert_int_equal(podman_image_exists(client, "localhost/podmig/no-such:latest", &e), 0);

	snprintf(path, sizeof path, "%s/image.tar", fixture->dir);
	Sink out = { .fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600),
		     .sha = EVP_MD_CTX_new() };
	EVP_DigestInit_ex(out.sha, EVP_sha256(), NULL);
	assert_int_equal(podman_image_export(client, IMAGE, sink_write, &out, &e), 0);
	close(out.fd);
	EVP_MD_CTX_free(out.sha);
	assert_true(out.bytes > 100000);

	/* remove the container and the image, then load it back */
	assert_int_equal(podman_container_remove(client, NAME, true, &e), 0);
	assert_int_equal(podman_fixture_cli(fixture, (const char *const[]){ "rmi", IMAGE, NULL }),
	                 0);
	assert_int_equal(podman_image_exists(client, IMAGE, &e), 0);

	Sink src = { .fd = open(path, O_RDONLY | O_CLOEXEC), .sha = EVP_MD_CTX_new() };
	EVP_DigestInit_ex(src.sha, EVP_sha256(), NULL);
	_cleanup_strv_free_ char **names = NULL;
	assert_int_equal(podman_image_load(client, source_read, &src, &names, &e), 0);
	close(src.fd);
	EVP_MD_CTX_free(src.sha);
	assert_non_null(names);
	assert_string_equal(names[0], IMAGE);
	assert_int_equal(podman_image_exists(client, IMAGE, &e), 1);
}

static ssize_t garbage_read(void *buf, size_t size, void *userdata)
{
	int *left = userdata;
	if (*left <= 0)
		return 0;
	size_t n = MIN(size, (size_t)*left);
	memset(buf, 'x', n);
	*left -= (int)n;
	return (ssize_t)n;
}

static void test_errors(void **state)
{
	PodmanError e = {};
	PodmanContainerInspect in = {};

	assert_int_equal(podman_container_inspect(client, "no-such-ctr", &in, &e),
	                 PODMAN_NOT_FOUND);
	assert_int_equal(e.http_status, 404);
	assert_non_null(strstr(e.message, "no-such-ctr"));
	assert_non_null(strstr(e.message, "no container with name or ID"));

	Sink out = { .fd = -1 };
	assert_int_equal(
	        podman_container_checkpoint(client, "no-such-ctr", NULL, sink_write, &out, &e),
	        PODMAN_NOT_FOUND);
	assert_non_null(strstr(e.message, "no-such-ctr"));
	assert_int_equal(podman_container_start(client, "no-such-ctr", &e), PODMAN_NOT_FOUND);
	assert_int_equal(podman_container_remove(client, "no-such-ctr", true, &e),
	                 PODMAN_NOT_FOUND);

	int left = 5000;
	assert_true(podman_container_restore(client, NULL, garbage_read, &left, NULL, &e) < 0);
	assert_true(e.message[0] != 0);
	left = 5000;
	assert_true(podman_image_load(client, garbage_read, &left, NULL, &e) < 0);
	assert_non_null(strstr(e.message, "image"));

	/* a socket path that does not exist: a clear error naming it */
	_cleanup_(podman_client_freep) PodmanClient *bad = NULL;
	assert_int_equal(podman_client_new("/run/podmig-test/no-such.sock", NULL, &bad), 0);
	assert_int_equal(podman_ping(bad, &e), -ECONNREFUSED);
	assert_non_null(strstr(e.message, "/run/podmig-test/no-such.sock"));
	assert_non_null(strstr(e.message, "No such file"));
	PodmanStats *st;
	size_t n;
	assert_int_equal(podman_containers_stats(bad, &st, &n, &e), -ECONNREFUSED);
}

int main(int argc, char *argv[])
{
	if (argc < 2) {
		fprintf(stderr, "usage: %s COUNTER-BINARY\n", argv[0]);
		return 2;
	}
	if (geteuid() != 0 || access("/usr/bin/podman", X_OK) < 0) {
		fprintf(stderr, "needs root and podman; skipping\n");
		return 77;
	}
	counter_path = argv[1];
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_system),
		cmocka_unit_test(test_lifecycle_and_stats),
		cmocka_unit_test(test_checkpoint_restore),
		cmocka_unit_test(test_checkpoint_write_error),
		cmocka_unit_test(test_image_export_load),
		cmocka_unit_test(test_errors),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
