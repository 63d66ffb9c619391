/* test-page-peer.c — the agents' TLS connection for pages (Peer in
 * page-server.h): every byte arrives in order whatever the sizes of the
 * sends, a receive takes the records already there rather than one, a small
 * send leaves at once (it is flushed, not left in the write buffer), and a
 * close reads as the end. */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cmocka.h>

#include "page-server.h"
#include "rpc-testutil.h"
#include "time-util.h"

#define HOST  "127.0.0.1"
#define TOTAL (3 * 1024 * 1024 + 12345)

static char *dir;
static char ca[512], cert[512], key[512];

static uint8_t pattern(size_t i)
{
	return (uint8_t)(i * 131 + (i >> 12));
}

typedef struct Side {
	Peer peer;
	int result;
	ErrorDetail why;
	int listen_fd; /* server: where it accepts */
	uint16_t port;
} Side;

static void *server_handshake(void *userdata)
{
	Side *s = userdata;
	int fd = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC);
	s->peer.fd = fd;
	s->result = fd < 0 ? -errno : socket_bound_io(fd);
	if (s->result >= 0)
		s->result = peer_tls(&s->peer, &(PageTls){ ca, cert, key }, true, HOST, &s->why);
	return NULL;
}

/* A connected pair over loopback TCP, TLS on both ends. */
static void pair_open(Side *server, Side *client)
{
	*server = (Side){ .peer = { .fd = -1 } };
	*client = (Side){ .peer = { .fd = -1 } };
	assert_int_equal(listen_on(HOST, &server->listen_fd, &server->port), 0);
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, server_handshake, server), 0);

	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(server->port) };
	assert_int_equal(inet_pton(AF_INET, HOST, &sin.sin_addr), 1);
	client->peer.fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(client->peer.fd >= 0);
	assert_int_equal(connect(client->peer.fd, (struct sockaddr *)&sin, sizeof sin), 0);
	assert_int_equal(socket_bound_io(client->peer.fd), 0);
	client->result =
	        peer_tls(&client->peer, &(PageTls){ ca, cert, key }, false, HOST, &client->why);
	pthread_join(t, NULL);
	close(server->listen_fd);
	if (client->result < 0 || server->result < 0)
		fail_msg("TLS: client %d (%s), server %d (%s)", client->result, client->why.message,
		         server->result, server->why.message);
	/* a receive that would wait for good fails the test within seconds */
	struct timeval tv = { .tv_sec = 2 };
	assert_int_equal(setsockopt(server->peer.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv), 0);
	assert_int_equal(setsockopt(client->peer.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv), 0);
}

/* Like the relays: poll unless TLS holds data already, then receive. */
static ssize_t recv_next(Peer *p, uint8_t *buf, size_t len)
{
	uint64_t deadline = now_usec(CLOCK_MONOTONIC) + 10 * USEC_PER_SEC;
	while (now_usec(CLOCK_MONOTONIC) < deadline) {
		if (!SSL_has_pending(p->ssl)) {
			struct pollfd pfd = { .fd = p->fd, .events = POLLIN };
			if (poll(&pfd, 1, 100) == 0)
				continue;
		}
		ssize_t n = peer_recv(p, buf, len);
		if (n != -EAGAIN)
			return n;
	}
	return -ETIMEDOUT;
}

typedef struct Sender {
	Peer *peer;
	int result;
} Sender;

static void *send_all(void *userdata)
{
	Sender *s = userdata;
	static const size_t sizes[] = { 1, 16383, 16384, 16385, 70000, 262144, 300000, 5 };
	_cleanup_free_ uint8_t *buf = malloc(TOTAL);
	if (!buf) {
		s->result = -ENOMEM;
		return NULL;
	}
	for (size_t i = 0; i < TOTAL; i++)
		buf[i] = pattern(i);
	size_t off = 0;
	for (unsigned k = 0; off < TOTAL && s->result >= 0; k++) {
		size_t n = MIN(sizes[k % ELEMENTSOF(sizes)], (size_t)TOTAL - off);
		s->result = peer_send(s->peer, buf + off, n);
		off += n;
	}
	return NULL;
}

static void test_bytes_arrive_in_order(void **state)
{
	(void)state;
	Side server, client;
	pair_open(&server, &client);

	Sender snd = { .peer = &client.peer };
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, send_all, &snd), 0);
	_cleanup_free_ uint8_t *buf = malloc(256 * 1024);
	assert_non_null(buf);
	size_t got = 0;
	while (got < TOTAL) {
		ssize_t n = recv_next(&server.peer, buf, 256 * 1024);
		if (n <= 0)
			fail_msg("receive after %zu of %d bytes: %zd", got, TOTAL, n);
		for (ssize_t i = 0; i < n; i++)
			if (buf[i] != pattern(got + (size_t)i))
				fail_msg("byte %zu differs", got + (size_t)i);
		got += (size_t)n;
	}
	pthread_join(t, NULL);
	assert_int_equal(snd.result, 0);
	assert_int_equal(got, TOTAL);

	peer_close(&client.peer);
	assert_int_equal(recv_next(&server.peer, buf, 256 * 1024), 0);
	peer_close(&server.peer);
}

static void test_receive_takes_every_record_there(void **state)
{
	(void)state;
	Side server, client;
	pair_open(&server, &client);

	/* 256 KiB is sixteen TLS records; all of them are on their way before
	 * the first receive */
	_cleanup_free_ uint8_t *buf = malloc(256 * 1024);
	assert_non_null(buf);
	for (size_t i = 0; i < 256 * 1024; i++)
		buf[i] = pattern(i);
	assert_int_equal(peer_send(&client.peer, buf, 256 * 1024), 0);
	usleep(200 * 1000);
	memset(buf, 0, 256 * 1024);
	ssize_t n = recv_next(&server.peer, buf, 256 * 1024);
	assert_true(n > 16 * 1024);
	for (ssize_t i = 0; i < n; i++)
		assert_int_equal(buf[i], pattern((size_t)i));

	peer_close(&client.peer);
	peer_close(&server.peer);
}

static void test_small_send_leaves_at_once(void **state)
{
	(void)state;
	Side server, client;
	pair_open(&server, &client);

	/* both ways, as a lazy-pages request and its answer: each must arrive
	 * while its sender waits for the other, not when a buffer fills */
	const uint8_t ask[24] = { 1, 2, 3 }, answer[8] = { 9, 8, 7 };
	uint8_t buf[64];
	uint64_t t0 = now_usec(CLOCK_MONOTONIC);
	assert_int_equal(peer_send(&client.peer, ask, sizeof ask), 0);
	assert_int_equal(recv_next(&server.peer, buf, sizeof buf), (ssize_t)sizeof ask);
	assert_memory_equal(buf, ask, sizeof ask);
	assert_int_equal(peer_send(&server.peer, answer, sizeof answer), 0);
	assert_int_equal(recv_next(&client.peer, buf, sizeof buf), (ssize_t)sizeof answer);
	assert_memory_equal(buf, answer, sizeof answer);
	assert_true(now_usec(CLOCK_MONOTONIC) - t0 < 3 * USEC_PER_SEC);

	peer_close(&server.peer);
	assert_int_equal(recv_next(&client.peer, buf, sizeof buf), 0);
	peer_close(&client.peer);
}

static int setup(void **state)
{
	(void)state;
	if (test_tmpdir_new("page-peer", &dir) < 0 || test_make_certs(dir) < 0)
		return -1;
	snprintf(ca, sizeof ca, "%s/ca.pem", dir);
	snprintf(cert, sizeof cert, "%s/server.pem", dir);
	snprintf(key, sizeof key, "%s/server.key", dir);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	test_tmpdir_remove(dir);
	free(dir);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bytes_arrive_in_order),
		cmocka_unit_test(test_receive_takes_every_record_there),
		cmocka_unit_test(test_small_send_leaves_at_once),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
