/* Tests for src/rpc over plaintext loopback: the four call kinds, deadlines,
 * cancellation, status codes, bad input (unknown method, malformed,
 * oversized and compressed messages) with the server serving on, the
 * server's bounds (worker pool, receive and send timeouts, idle connections
 * closed after the handshake timeout, no connection accepted past the
 * descriptor cap), and shutdown with calls in flight. */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent.pb-c.h"
#include "rpc-testutil.h"
#include "time-util.h"

#define TIMEOUT     (5 * RPC_USEC_PER_SEC)
#define SMALL_LIMIT (64 * 1024)

typedef struct Fixture {
	RpcServer *server;
	RpcChannel *channel;
} Fixture;

static const RpcOptions plaintext = { .plaintext = true, .max_receive_message_bytes = SMALL_LIMIT };

static int setup(void **state)
{
	Fixture *f = calloc(1, sizeof(*f));
	rpc_global_init();
	assert_int_equal(test_server_start(&plaintext, &f->server), 0);
	char target[64];
	snprintf(target, sizeof(target), "127.0.0.1:%d", rpc_server_get_port(f->server));
	assert_int_equal(rpc_channel_new(target, &(RpcOptions){ .plaintext = true }, &f->channel),
	                 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	Fixture *f = *state;
	rpc_channel_free(f->channel);
	rpc_server_free(f->server);
	rpc_global_shutdown();
	free(f);
	return 0;
}

static int echo(RpcChannel *ch, const char *text, uint64_t seq, uint32_t fail_code,
                uint64_t timeout, RpcStatus *st)
{
	Podmig__V1__EchoRequest req = PODMIG__V1__ECHO_REQUEST__INIT;
	req.text = (char *)text;
	req.seq = seq;
	req.fail_code = fail_code;
	_cleanup_message_ Podmig__V1__EchoResponse *rep = NULL;
	int r = rpc_call_unary(ch, &podmig__v1__testing__descriptor, "Echo", &req.base, timeout,
	                       (ProtobufCMessage **)&rep, st);
	if (r >= 0) {
		assert_string_equal(rep->text, text);
		assert_int_equal(rep->seq, seq + 1);
	}
	return r;
}

static void test_unary(void **state)
{
	Fixture *f = *state;
	RpcStatus st;
	for (int i = 0; i < 20; i++)
		assert_int_equal(echo(f->channel, "hello", (uint64_t)i, 0, TIMEOUT, &st), 0);
	assert_int_equal(st.code, RPC_OK);
}

static void test_unary_error_status(void **state)
{
	Fixture *f = *state;
	RpcStatus st;
	assert_int_equal(echo(f->channel, "x", 0, RPC_NOT_FOUND, TIMEOUT, &st), -ENOENT);
	assert_int_equal(st.code, RPC_NOT_FOUND);
	assert_string_equal(st.message, "failed as asked: x");
	assert_int_equal(echo(f->channel, "y", 0, RPC_FAILED_PRECONDITION, TIMEOUT, &st), -EBUSY);
	assert_int_equal(st.code, RPC_FAILED_PRECONDITION);
}

static void test_unary_deadline(void **state)
{
	Fixture *f = *state;
	RpcStatus st;
	assert_int_equal(echo(f->channel, "slow", 0, 0, 50 * RPC_USEC_PER_MSEC, &st), -ETIMEDOUT);
	assert_int_equal(st.code, RPC_DEADLINE_EXCEEDED);
	assert_int_equal(echo(f->channel, "in time", 0, 0, TIMEOUT, &st), 0);
}

static void test_unary_bad_method_name(void **state)
{
	Fixture *f = *state;
	Podmig__V1__EchoRequest req = PODMIG__V1__ECHO_REQUEST__INIT;
	ProtobufCMessage *rep = NULL;
	/* not a method of the service, or the wrong request type: refused locally */
	assert_int_equal(rpc_call_unary(f->channel, &podmig__v1__testing__descriptor, "Nope",
	                                &req.base, TIMEOUT, &rep, NULL),
	                 -EINVAL);
	assert_int_equal(rpc_call_unary(f->channel, &podmig__v1__testing__descriptor, "Upload",
	                                &req.base, TIMEOUT, &rep, NULL),
	                 -EINVAL);
	assert_null(rep);
}

static void test_client_streaming(void **state)
{
	Fixture *f = *state;
	_cleanup_(rpc_stream_freep) RpcStream *s = NULL;
	assert_int_equal(
	        rpc_stream_open(f->channel, &podmig__v1__testing__descriptor, "Upload", &s), 0);
	static uint8_t buf[32 * 1024];
	memset(buf, 'a', sizeof(buf));
	for (unsigned i = 0; i < 64; i++) {
		Podmig__V1__Chunk c = PODMIG__V1__CHUNK__INIT;
		c.data.data = buf;
		c.data.len = sizeof(buf);
		c.offset = (uint64_t)i * sizeof(buf);
		assert_int_equal(rpc_stream_send(s, &c.base), 0);
	}
	assert_int_equal(rpc_stream_close_send(s), 0);
	_cleanup_message_ Podmig__V1__UploadSummary *sum = NULL;
	assert_int_equal(rpc_stream_recv(s, TIMEOUT, (ProtobufCMessage **)&sum), 1);
	assert_int_equal(sum->bytes, 64 * sizeof(buf));
	assert_int_equal(sum->chunks, 64);
	RpcStatus st;
	assert_int_equal(rpc_stream_finish(s, &st), 0);
	assert_int_equal(st.code, RPC_OK);
}

static void test_client_streaming_server_error(void **state)
{
	Fixture *f = *state;
	_cleanup_(rpc_stream_freep) RpcStream *s = NULL;
	assert_int_equal(
	        rpc_stream_open(f->channel, &podmig__v1__testing__descriptor, "Upload", &s), 0);
	Podmig__V1__Chunk c = PODMIG__V1__CHUNK__INIT;
	c.offset = 7; /* out of order */
	assert_int_equal(rpc_stream_send(s, &c.base), 0);
	ProtobufCMessage *m = NULL;
	assert_true(rpc_stream_recv(s, TIMEOUT, &m) <= 0);
	RpcStatus st;
	assert_int_equal(rpc_stream_finish(s, &st), -EBADMSG);
	assert_int_equal(st.code, RPC_DATA_LOSS);
	assert_string_equal(st.message, "chunk at offset 7, expected 0");
}

static void test_server_streaming(void **state)
{
	Fixture *f = *state;
	_cleanup_(rpc_stream_freep) RpcStream *s = NULL;
	assert_int_equal(rpc_stream_open(f->channel, &podmig__v1__testing__descriptor, "Count", &s),
	                 0);
	Podmig__V1__EchoRequest req = PODMIG__V1__ECHO_REQUEST__INIT;
	req.text = (char *)"n";
	req.seq = 5;
	assert_int_equal(rpc_stream_send(s, &req.base), 0);
	assert_int_equal(rpc_stream_close_send(s), 0);
	for (uint64_t i = 0; i < 5; i++) {
		_cleanup_message_ Podmig__V1__EchoResponse *rep = NULL;
		assert_int_equal(rpc_stream_recv(s, TIMEOUT, (ProtobufCMessage **)&rep), 1);
		assert_int_equal(rep->seq, i);
	}
	ProtobufCMessage *m = NULL;
	assert_int_equal(rpc_stream_recv(s, TIMEOUT, &m), 0);
	assert_int_equal(rpc_stream_finish(s, NULL), 0);
}

static void test_server_streaming_cancel(void **state)
{
	Fixture *f = *state;
	_cleanup_(rpc_stream_freep) RpcStream *s = NULL;
	assert_int_equal(rpc_stream_open(f->channel, &podmig__v1__testing__descriptor, "Count", &s),
	                 0);
	Podmig__V1__EchoRequest req = PODMIG__V1__ECHO_REQUEST__INIT;
	req.text = (char *)"forever";
	assert_int_equal(rpc_stream_send(s, &req.base), 0);
	for (int i = 0; i < 3; i++) {
		_cleanup_message_ Podmig__V1__EchoResponse *rep = NULL;
		assert_int_equal(rpc_stream_recv(s, TIMEOUT, (ProtobufCMessage **)&rep), 1);
	}
	/* a receive that times out leaves the stream usable */
	ProtobufCMessage *m = NULL;
	int r = rpc_stream_recv(s, 1, &m);
	assert_true(r == -ETIMEDOUT || r == 1);
	rpc_message_free(TAKE_PTR(m));

	rpc_stream_cancel(s);
	RpcStatus st;
	assert_int_equal(rpc_stream_finish(s, &st), -ECANCELED);
	assert_int_equal(st.code, RPC_CANCELLED);
}

static void test_bidi(void **state)
{
	Fixture *f = *state;
	_cleanup_(rpc_stream_freep) RpcStream *s = NULL;
	assert_int_equal(rpc_stream_open(f->channel, &podmig__v1__testing__descriptor, "Chat", &s),
	                 0);
	for (uint64_t i = 0; i < 10; i++) {
		Podmig__V1__EchoRequest req = PODMIG__V1__ECHO_REQUEST__INIT;
		req.text = (char *)"ping";
		req.seq = i * 10;
		assert_int_equal(rpc_stream_send(s, &req.base), 0);
		_cleanup_message_ Podmig__V1__EchoResponse *rep = NULL;
		assert_int_equal(rpc_stream_recv(s, TIMEOUT, (ProtobufCMessage **)&rep), 1);
		assert_string_equal(rep->text, "ping");
		assert_int_equal(rep->seq, i * 10 + 1);
	}
	assert_int_equal(rpc_stream_close_send(s), 0);
	ProtobufCMessage *m = NULL;
	assert_int_equal(rpc_stream_recv(s, TIMEOUT, &m), 0);
	assert_int_equal(rpc_stream_finish(s, NULL), 0);
}

static void test_metadata(void **state)
{
	Fixture *f = *state;
	RpcMetadata md[] = { { "token", "abc.123" }, { "x-podmig-test", "two words" } };
	Podmig__V1__EchoRequest req = PODMIG__V1__ECHO_REQUEST__INIT;
	RpcStatus st;

	/* unary: the server sees each entry */
	const char *keys[] = { "token", "x-podmig-test" };
	for (size_t i = 0; i < ELEMENTSOF(keys); i++) {
		char text[64];
		snprintf(text, sizeof(text), "metadata:%s", keys[i]);
		req.text = text;
		_cleanup_message_ Podmig__V1__EchoResponse *rep = NULL;
		assert_int_equal(
		        rpc_call_unary_with_metadata(f->channel, &podmig__v1__testing__descriptor,
		                                     "Echo", &req.base, md, ELEMENTSOF(md), TIMEOUT,
		                                     (ProtobufCMessage **)&rep, &st),
		        0);
		assert_string_equal(rep->text, md[i].value);
	}
	/* none sent: the handler's NOT_FOUND */
	req.text = (char *)"metadata:token";
	ProtobufCMessage *m = NULL;
	assert_int_equal(rpc_call_unary(f->channel, &podmig__v1__testing__descriptor, "Echo",
	                                &req.base, TIMEOUT, &m, &st),
	                 -ENOENT);
	assert_string_equal(st.message, "no metadata token");

	/* a stream: copied at open, so the caller's strings may go */
	char value[] = "stream-token";
	RpcMetadata smd = { "token", value };
	_cleanup_(rpc_stream_freep) RpcStream *s = NULL;
	assert_int_equal(rpc_stream_open_with_metadata(f->channel, &podmig__v1__testing__descriptor,
	                                               "Count", &smd, 1, &s),
	                 0);
	memset(value, 'x', sizeof(value) - 1);
	req.seq = 2;
	assert_int_equal(rpc_stream_send(s, &req.base), 0);
	assert_int_equal(rpc_stream_close_send(s), 0);
	for (int i = 0; i < 2; i++) {
		_cleanup_message_ Podmig__V1__EchoResponse *rep = NULL;
		assert_int_equal(rpc_stream_recv(s, TIMEOUT, (ProtobufCMessage **)&rep), 1);
		assert_string_equal(rep->text, "stream-token");
	}
	assert_int_equal(rpc_stream_recv(s, TIMEOUT, &m), 0);
	assert_int_equal(rpc_stream_finish(s, NULL), 0);

	/* what HTTP/2 headers cannot carry is refused before anything is sent */
	RpcMetadata bad[] = {
		{ "Upper", "v" }, { "k", "new\nline" }, { "blob-bin", "v" }, { "k", NULL }
	};
	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		assert_int_equal(rpc_call_unary_with_metadata(
		                         f->channel, &podmig__v1__testing__descriptor, "Echo",
		                         &req.base, &bad[i], 1, TIMEOUT, &m, NULL),
		                 -EINVAL);
		RpcStream *bs = NULL;
		assert_int_equal(rpc_stream_open_with_metadata(f->channel,
		                                               &podmig__v1__testing__descriptor,
		                                               "Count", &bad[i], 1, &bs),
		                 -EINVAL);
		assert_null(bs);
	}
}

static void test_unknown_method(void **state)
{
	Fixture *f = *state;
	/* the test server serves Testing only, not Agent */
	Podmig__V1__InfoRequest req = PODMIG__V1__INFO_REQUEST__INIT;
	ProtobufCMessage *rep = NULL;
	RpcStatus st;
	assert_int_equal(rpc_call_unary(f->channel, &podmig__v1__agent__descriptor, "Info",
	                                &req.base, TIMEOUT, &rep, &st),
	                 -EOPNOTSUPP);
	assert_int_equal(st.code, RPC_UNIMPLEMENTED);
	assert_string_equal(st.message, "unknown method /podmig.v1.Agent/Info");
	assert_int_equal(echo(f->channel, "still serving", 1, 0, TIMEOUT, NULL), 0);
}

static void test_malformed_message(void **state)
{
	Fixture *f = *state;
	/* field 1 of UploadSummary is a varint, of EchoRequest a string: the
	 * server cannot decode it as an EchoRequest */
	_cleanup_(rpc_stream_freep) RpcStream *s = NULL;
	assert_int_equal(rpc_stream_open(f->channel, &podmig__v1__testing__descriptor, "Echo", &s),
	                 0);
	Podmig__V1__UploadSummary bad = PODMIG__V1__UPLOAD_SUMMARY__INIT;
	bad.bytes = 42;
	assert_int_equal(rpc_stream_send(s, &bad.base), 0);
	assert_int_equal(rpc_stream_close_send(s), 0);
	ProtobufCMessage *m = NULL;
	assert_true(rpc_stream_recv(s, TIMEOUT, &m) <= 0);
	RpcStatus st;
	assert_int_equal(rpc_stream_finish(s, &st), -EINVAL);
	assert_int_equal(st.code, RPC_INVALID_ARGUMENT);
	assert_string_equal(st.message, "malformed podmig.v1.EchoRequest message");
	assert_int_equal(echo(f->channel, "still serving", 2, 0, TIMEOUT, NULL), 0);
}

static void test_oversized_message(void **state)
{
	Fixture *f = *state;
	_cleanup_free_ char *big = malloc(SMALL_LIMIT + 1);
	memset(big, 'x', SMALL_LIMIT);
	big[SMALL_LIMIT] = 0;
	RpcStatus st;
	assert_int_equal(echo(f->channel, big, 0, 0, TIMEOUT, &st), -ENOBUFS);
	assert_int_equal(st.code, RPC_RESOURCE_EXHAUSTED);
	/* just under the limit passes */
	big[SMALL_LIMIT - 64] = 0;
	assert_int_equal(echo(f->channel, big, 0, 0, TIMEOUT, &st), 0);
	assert_int_equal(echo(f->channel, "still serving", 3, 0, TIMEOUT, NULL), 0);
}

/* A compressed message is refused before anything inflates it: 32 MiB of
 * zeros in about 32 KiB of gzip pass the 64 KiB limit as sent, and gRPC
 * would inflate all of it before comparing (RESOURCE_EXHAUSTED, "larger
 * than max", after the allocation). The server refuses the call from its
 * grpc-encoding header instead (UNIMPLEMENTED), before reading the message. */
static void test_compressed_refused(void **state)
{
	Fixture *f = *state;
	char target[64];
	snprintf(target, sizeof(target), "127.0.0.1:%d", rpc_server_get_port(f->server));
	assert_int_equal(test_call_gzip(target, "/podmig.v1.Testing/Upload", 32 * 1024 * 1024),
	                 RPC_UNIMPLEMENTED);
	assert_int_equal(echo(f->channel, "still serving", 5, 0, TIMEOUT, NULL), 0);
}

static int threads_now(void)
{
	FILE *f = fopen("/proc/self/status", "re");
	char line[256];
	int n = -1;
	while (f && fgets(line, sizeof line, f))
		if (sscanf(line, "Threads: %d", &n) == 1)
			break;
	if (f)
		fclose(f);
	return n;
}

/* Held calls take at most max_calls worker threads; the next call is
 * refused at once (RESOURCE_EXHAUSTED), and the server answers again once
 * they end. */
static void test_worker_pool_bound(void **state)
{
	enum { MAX_CALLS = 4, HELD = 12 };
	_cleanup_(rpc_server_freep) RpcServer *server = NULL;
	_cleanup_(rpc_channel_freep) RpcChannel *ch = NULL;
	RpcStream *held[HELD] = {};
	RpcStatus st;
	char target[64];

	assert_int_equal(test_server_start(&(RpcOptions){ .plaintext = true,
	                                                  .max_calls = MAX_CALLS,
	                                                  .max_streams_per_connection = 100 },
	                                   &server),
	                 0);
	snprintf(target, sizeof(target), "127.0.0.1:%d", rpc_server_get_port(server));
	assert_int_equal(rpc_channel_new(target, &(RpcOptions){ .plaintext = true }, &ch), 0);
	assert_int_equal(echo(ch, "warm", 0, 0, TIMEOUT, NULL), 0);
	int before = threads_now();

	/* Chat handlers block receiving until the client half-closes */
	unsigned served = 0, refused = 0;
	for (int i = 0; i < HELD; i++) {
		assert_int_equal(
		        rpc_stream_open(ch, &podmig__v1__testing__descriptor, "Chat", &held[i]), 0);
		Podmig__V1__EchoRequest req = PODMIG__V1__ECHO_REQUEST__INIT;
		req.text = (char *)"hold";
		(void)rpc_stream_send(held[i], &req.base);
		ProtobufCMessage *m = NULL;
		int r = rpc_stream_recv(held[i], TIMEOUT, &m);
		rpc_message_free(m);
		if (r == 1)
			served++;
		else {
			assert_true(rpc_stream_finish(held[i], &st) < 0);
			assert_int_equal(st.code, RPC_RESOURCE_EXHAUSTED);
			refused++;
		}
	}
	printf("threads: %d before, %d with %d calls held (%u served, %u refused)\n", before,
	       threads_now(), HELD, served, refused);
	assert_int_equal(served, MAX_CALLS);
	assert_int_equal(refused, HELD - MAX_CALLS);
	assert_true(threads_now() <= before + MAX_CALLS);
	assert_int_equal(echo(ch, "busy", 1, 0, TIMEOUT, &st), -ENOBUFS);
	assert_int_equal(st.code, RPC_RESOURCE_EXHAUSTED);
	/* a refused stream's status, asked for without receiving anything */
	{
		_cleanup_(rpc_stream_freep) RpcStream *s = NULL;
		assert_int_equal(rpc_stream_open(ch, &podmig__v1__testing__descriptor, "Chat", &s),
		                 0);
		Podmig__V1__EchoRequest req = PODMIG__V1__ECHO_REQUEST__INIT;
		req.text = (char *)"refused";
		(void)rpc_stream_send(s, &req.base);
		assert_true(rpc_stream_finish(s, &st) < 0);
		assert_int_equal(st.code, RPC_RESOURCE_EXHAUSTED);
		assert_non_null(strstr(st.message, RPC_BUSY_MESSAGE_PREFIX));
	}

	for (int i = 0; i < HELD; i++)
		held[i] = rpc_stream_free(held[i]);
	/* the workers come free (a cancelled call ends its handler's receive) */
	int r = -1;
	for (int i = 0; i < 100 && r < 0; i++) {
		r = echo(ch, "free again", 2, 0, TIMEOUT, NULL);
		if (r < 0)
			usleep(50 * 1000);
	}
	assert_int_equal(r, 0);
}

/* A handler waiting for a message that never comes, or a client that takes
 * no reply, ends the call after the server's call_io_timeout_usec. */
static void test_call_io_timeout(void **state)
{
	_cleanup_(rpc_server_freep) RpcServer *server = NULL;
	_cleanup_(rpc_channel_freep) RpcChannel *ch = NULL;
	_cleanup_(rpc_stream_freep) RpcStream *s = NULL;
	char target[64];
	RpcStatus st;

	assert_int_equal(
	        test_server_start(&(RpcOptions){ .plaintext = true,
	                                         .call_io_timeout_usec = 300 * RPC_USEC_PER_MSEC },
	                          &server),
	        0);
	snprintf(target, sizeof(target), "127.0.0.1:%d", rpc_server_get_port(server));
	assert_int_equal(rpc_channel_new(target, &(RpcOptions){ .plaintext = true }, &ch), 0);
	assert_int_equal(rpc_stream_open(ch, &podmig__v1__testing__descriptor, "Chat", &s), 0);
	/* one message answered, then none: the handler's next receive times out */
	Podmig__V1__EchoRequest req = PODMIG__V1__ECHO_REQUEST__INIT;
	req.text = (char *)"one";
	assert_int_equal(rpc_stream_send(s, &req.base), 0);
	ProtobufCMessage *m = NULL;
	assert_int_equal(rpc_stream_recv(s, TIMEOUT, &m), 1);
	rpc_message_free(TAKE_PTR(m));
	int r = rpc_stream_recv(s, TIMEOUT, &m);
	assert_true(r <= 0 && r != -ETIMEDOUT);
	assert_true(rpc_stream_finish(s, &st) < 0);
	assert_int_equal(st.code, RPC_DEADLINE_EXCEEDED);
	assert_int_equal(echo(ch, "still serving", 1, 0, TIMEOUT, NULL), 0);
}

/* Calls that send their headers and then nothing are ended after the
 * server's first_message_timeout_usec, freeing their workers. */
static void test_first_message_timeout(void **state)
{
	_cleanup_(rpc_server_freep) RpcServer *server = NULL;
	_cleanup_(rpc_channel_freep) RpcChannel *ch = NULL;
	char target[64];

	assert_int_equal(test_server_start(&(RpcOptions){ .plaintext = true,
	                                                  .max_calls = 4,
	                                                  .first_message_timeout_usec =
	                                                          300 * RPC_USEC_PER_MSEC },
	                                   &server),
	                 0);
	snprintf(target, sizeof(target), "127.0.0.1:%d", rpc_server_get_port(server));
	TestCalls *held = NULL;
	assert_int_equal(test_calls_hold(target, "/podmig.v1.Testing/Chat", 8, 4, &held), 0);
	unsigned ended = 0;
	for (int i = 0; i < 100 && ended < 8; i++) {
		usleep(50 * 1000);
		ended = test_calls_ended(held);
	}
	test_calls_free(held);
	/* four timed out, four were refused: the server is free again */
	assert_int_equal(ended, 8);
	assert_int_equal(rpc_channel_new(target, &(RpcOptions){ .plaintext = true }, &ch), 0);
	assert_int_equal(echo(ch, "free", 1, 0, TIMEOUT, NULL), 0);
}

/* Connections that never send a byte are closed once the handshake
 * timeout passes (a plaintext server has written its SETTINGS by then), not
 * before, and the server's descriptors are free again. */
static void test_idle_connections_closed(void **state)
{
	enum { N = 20 };
	_cleanup_(rpc_server_freep) RpcServer *server = NULL;
	int fds[N];
	bool closed[N] = {};

	assert_int_equal(
	        test_server_start(&(RpcOptions){ .plaintext = true, .handshake_timeout_msec = 500 },
	                          &server),
	        0);
	for (int i = 0; i < N; i++)
		assert_true((fds[i] = test_connect_idle("127.0.0.1",
		                                        rpc_server_get_port(server))) >= 0);
	uint64_t t0 = now_usec(CLOCK_MONOTONIC), t_all = 0;
	unsigned n = 0;
	while (n < N && now_usec(CLOCK_MONOTONIC) - t0 < 5 * RPC_USEC_PER_SEC) {
		usleep(20 * 1000);
		for (int i = 0; i < N; i++)
			if (!closed[i] && test_peer_closed(fds[i])) {
				closed[i] = true;
				n++;
			}
		t_all = now_usec(CLOCK_MONOTONIC) - t0;
	}
	for (int i = 0; i < N; i++)
		close(fds[i]);
	assert_int_equal(n, N);
	assert_true(t_all >= 400 * RPC_USEC_PER_MSEC);
	/* the server still serves */
	_cleanup_(rpc_channel_freep) RpcChannel *ch = NULL;
	char target[64];
	snprintf(target, sizeof(target), "127.0.0.1:%d", rpc_server_get_port(server));
	assert_int_equal(rpc_channel_new(target, &(RpcOptions){ .plaintext = true }, &ch), 0);
	assert_int_equal(echo(ch, "after", 1, 0, TIMEOUT, NULL), 0);
}

/* The lowest free descriptor number: the one the kernel hands out next. */
static int lowest_free_fd(void)
{
	int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	close(fd);
	return fd;
}

/* A connection is accepted only if it gets a descriptor number below
 * max_connection_fds: past that, each is closed at once (long before the
 * handshake timeout); once descriptors are free, the server serves. */
static void test_connection_fd_cap(void **state)
{
	enum { KEPT = 5, N = 40 };
	_cleanup_(rpc_server_freep) RpcServer *server = NULL;
	_cleanup_(rpc_channel_freep) RpcChannel *ch = NULL;
	int fds[N];
	char target[64];

	/* room for the server's own descriptors and KEPT connections (each
	 * two here: its client's end too), not for N */
	unsigned cap = (unsigned)lowest_free_fd() + 40;
	assert_int_equal(
	        test_server_start(&(RpcOptions){ .plaintext = true, .max_connection_fds = cap },
	                          &server),
	        0);
	int port = rpc_server_get_port(server);
	for (int i = 0; i < KEPT; i++)
		assert_true((fds[i] = test_connect_idle("127.0.0.1", port)) >= 0);
	usleep(500 * 1000); /* accepted */
	for (int i = KEPT; i < N; i++)
		assert_true((fds[i] = test_connect_idle("127.0.0.1", port)) >= 0);
	usleep(500 * 1000);
	unsigned kept_closed = 0, closed = 0;
	for (int i = 0; i < N; i++)
		if (test_peer_closed(fds[i]))
			++*(i < KEPT ? &kept_closed : &closed);
	for (int i = 0; i < N; i++)
		close(fds[i]);
	assert_int_equal(kept_closed, 0);
	assert_true(closed >= N - KEPT - 20); /* at most 20 more numbers below the cap */
	usleep(300 * 1000);                   /* the server sees its connections end */
	snprintf(target, sizeof(target), "127.0.0.1:%d", port);
	assert_int_equal(rpc_channel_new(target, &(RpcOptions){ .plaintext = true }, &ch), 0);
	assert_int_equal(echo(ch, "after", 1, 0, TIMEOUT, NULL), 0);
}

static void test_shutdown_with_calls_in_flight(void **state)
{
	Fixture *f = *state;
	_cleanup_(rpc_stream_freep) RpcStream *count = NULL, *chat = NULL;
	assert_int_equal(
	        rpc_stream_open(f->channel, &podmig__v1__testing__descriptor, "Count", &count), 0);
	assert_int_equal(
	        rpc_stream_open(f->channel, &podmig__v1__testing__descriptor, "Chat", &chat), 0);
	Podmig__V1__EchoRequest req = PODMIG__V1__ECHO_REQUEST__INIT;
	req.text = (char *)"forever";
	assert_int_equal(rpc_stream_send(count, &req.base), 0);
	assert_int_equal(rpc_stream_send(chat, &req.base), 0);
	ProtobufCMessage *m = NULL;
	assert_int_equal(rpc_stream_recv(count, TIMEOUT, &m), 1);
	rpc_message_free(TAKE_PTR(m));
	assert_int_equal(rpc_stream_recv(chat, TIMEOUT, &m), 1);
	rpc_message_free(TAKE_PTR(m));

	/* the chat handler is blocked in a receive, the count handler sends */
	f->server = rpc_server_free(f->server);

	RpcStatus st;
	assert_true(rpc_stream_finish(count, &st) < 0);
	assert_true(rpc_stream_finish(chat, &st) < 0);

	/* and a new server comes up for the remaining tests */
	assert_int_equal(test_server_start(&plaintext, &f->server), 0);
	char target[64];
	snprintf(target, sizeof(target), "127.0.0.1:%d", rpc_server_get_port(f->server));
	f->channel = rpc_channel_free(f->channel);
	assert_int_equal(rpc_channel_new(target, &(RpcOptions){ .plaintext = true }, &f->channel),
	                 0);
	assert_int_equal(echo(f->channel, "new server", 4, 0, TIMEOUT, NULL), 0);
}

static void test_codes(void **state)
{
	assert_string_equal(rpc_code_to_string(RPC_UNIMPLEMENTED), "UNIMPLEMENTED");
	assert_string_equal(rpc_code_to_string(99), "UNKNOWN");
	for (RpcCode c = RPC_CANCELLED; c < _RPC_CODE_MAX; c++)
		assert_int_equal(rpc_code_from_errno(rpc_code_to_errno(c)),
		                 c == RPC_DATA_LOSS ? RPC_INVALID_ARGUMENT : c);
	assert_int_equal(rpc_code_from_errno(-ENOMEM), RPC_RESOURCE_EXHAUSTED);
	assert_int_equal(rpc_code_from_errno(-E2BIG), RPC_INTERNAL);
}

static void test_options_refused(void **state)
{
	RpcServer *s = NULL;
	/* neither plaintext nor a certificate: refused, never silently plaintext */
	assert_int_equal(rpc_server_new("127.0.0.1:0", &(RpcOptions){}, &s), -EINVAL);
	assert_null(s);
	RpcChannel *ch = NULL;
	assert_int_equal(
	        rpc_channel_new("127.0.0.1:1", &(RpcOptions){ .cert_file = "/nonexistent" }, &ch),
	        -EINVAL);
	assert_int_equal(
	        rpc_channel_new("127.0.0.1:1", &(RpcOptions){ .ca_file = "/nonexistent" }, &ch),
	        -ENOENT);
	assert_null(ch);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_unary),
		cmocka_unit_test(test_unary_error_status),
		cmocka_unit_test(test_unary_deadline),
		cmocka_unit_test(test_unary_bad_method_name),
		cmocka_unit_test(test_client_streaming),
		cmocka_unit_test(test_client_streaming_server_error),
		cmocka_unit_test(test_server_streaming),
		cmocka_unit_test(test_server_streaming_cancel),
		cmocka_unit_test(test_bidi),
		cmocka_unit_test(test_metadata),
		cmocka_unit_test(test_unknown_method),
		cmocka_unit_test(test_malformed_message),
		cmocka_unit_test(test_oversized_message),
		cmocka_unit_test(test_compressed_refused),
		cmocka_unit_test(test_worker_pool_bound),
		cmocka_unit_test(test_call_io_timeout),
		cmocka_unit_test(test_first_message_timeout),
		cmocka_unit_test(test_idle_connections_closed),
		cmocka_unit_test(test_connection_fd_cap),
		cmocka_unit_test(test_shutdown_with_calls_in_flight),
		cmocka_unit_test(test_codes),
		cmocka_unit_test(test_options_refused),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
