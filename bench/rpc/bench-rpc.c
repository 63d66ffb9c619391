/* bench-rpc — what src/rpc costs on loopback: client-streaming throughput
 * (1 GiB in 1 MiB chunks through podmig.v1.Testing/Upload) against raw TCP
 * moving the same bytes in the same run, medians of several runs and their
 * ratio; and unary latency (median, p99) of Testing/Echo.
 * usage: bench-rpc [RUNS [UNARY_CALLS]] */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "rpc-testutil.h"
#include "strutil.h"
#include "time-util.h"

#define TOTAL_BYTES (UINT64_C(1) << 30)
#define CHUNK_BYTES (1u << 20)

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double percentile(double *v, size_t n, double p)
{
	qsort(v, n, sizeof(double), cmp_double);
	size_t i = (size_t)(p * (double)(n - 1) + 0.5);
	return v[MIN(i, n - 1)];
}

static int grpc_upload(RpcChannel *ch, const uint8_t *chunk, double *ret_sec)
{
	double t0 = mono_sec();
	_cleanup_(rpc_stream_freep) RpcStream *s = NULL;
	int r = rpc_stream_open(ch, &podmig__v1__testing__descriptor, "Upload", &s);
	if (r < 0)
		return r;
	for (uint64_t off = 0; off < TOTAL_BYTES; off += CHUNK_BYTES) {
		Podmig__V1__Chunk c = PODMIG__V1__CHUNK__INIT;
		c.data.data = (uint8_t *)chunk;
		c.data.len = CHUNK_BYTES;
		c.offset = off;
		r = rpc_stream_send(s, &c.base);
		if (r < 0)
			return r;
	}
	r = rpc_stream_close_send(s);
	if (r < 0)
		return r;
	_cleanup_message_ Podmig__V1__UploadSummary *sum = NULL;
	r = rpc_stream_recv(s, 60 * RPC_USEC_PER_SEC, (ProtobufCMessage **)&sum);
	if (r != 1)
		return r < 0 ? r : -EPROTO;
	r = rpc_stream_finish(s, NULL);
	if (r < 0)
		return r;
	if (sum->bytes != TOTAL_BYTES)
		return -EIO;
	*ret_sec = mono_sec() - t0;
	return 0;
}

static void *tcp_reader(void *arg)
{
	int fd = *(int *)arg;
	static uint8_t buf[CHUNK_BYTES];
	uint64_t total = 0;
	ssize_t k;
	while ((k = read(fd, buf, sizeof(buf))) > 0)
		total += (uint64_t)k;
	close(fd);
	return (void *)(uintptr_t)(total == TOTAL_BYTES);
}

/* The same bytes over a plain loopback TCP connection, write() to read(). */
static int tcp_upload(const uint8_t *chunk, double *ret_sec)
{
	_cleanup_close_ int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET,
		                  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sa);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(lfd, 1) < 0 ||
	    getsockname(lfd, (struct sockaddr *)&sa, &len) < 0)
		return -errno;

	double t0 = mono_sec();
	_cleanup_close_ int cfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (cfd < 0 || connect(cfd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return -errno;
	int afd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	if (afd < 0)
		return -errno;
	pthread_t t;
	if (pthread_create(&t, NULL, tcp_reader, &afd) != 0) {
		close(afd);
		return -EAGAIN;
	}
	for (uint64_t off = 0; off < TOTAL_BYTES;) {
		size_t want = CHUNK_BYTES;
		size_t done = 0;
		while (done < want) {
			ssize_t k = write(cfd, chunk + done, want - done);
			if (k < 0) {
				if (errno == EINTR)
					continue;
				shutdown(cfd, SHUT_WR);
				pthread_join(t, NULL);
				return -errno;
			}
			done += (size_t)k;
		}
		off += want;
	}
	shutdown(cfd, SHUT_WR);
	void *ok;
	pthread_join(t, &ok);
	if (!ok)
		return -EIO;
	*ret_sec = mono_sec() - t0;
	return 0;
}

int main(int argc, char **argv)
{
	unsigned runs = 5, calls = 2000;
	if ((argc > 1 && (safe_atou(argv[1], &runs) < 0 || runs == 0)) ||
	    (argc > 2 && (safe_atou(argv[2], &calls) < 0 || calls == 0))) {
		fprintf(stderr, "usage: %s [RUNS [UNARY_CALLS]]\n", argv[0]);
		return 2;
	}

	rpc_global_init();
	_cleanup_(rpc_server_freep) RpcServer *server = NULL;
	_cleanup_(rpc_channel_freep) RpcChannel *ch = NULL;
	int r = test_server_start(&(RpcOptions){ .plaintext = true }, &server);
	char target[64];
	if (r >= 0) {
		snprintf(target, sizeof(target), "127.0.0.1:%d", rpc_server_get_port(server));
		r = rpc_channel_new(target, &(RpcOptions){ .plaintext = true }, &ch);
	}
	if (r < 0) {
		fprintf(stderr, "cannot start the server: %s\n", strerror(-r));
		return 1;
	}

	_cleanup_free_ uint8_t *chunk = malloc(CHUNK_BYTES);
	_cleanup_free_ double *g = calloc(runs, sizeof(double));
	_cleanup_free_ double *t = calloc(runs, sizeof(double));
	_cleanup_free_ double *lat = calloc(calls, sizeof(double));
	if (!chunk || !g || !t || !lat)
		return 1;
	for (size_t i = 0; i < CHUNK_BYTES; i++)
		chunk[i] = (uint8_t)(i * 2654435761u >> 24);

	/* interleaved, so both see the same machine load */
	for (unsigned i = 0; i < runs; i++) {
		if ((r = grpc_upload(ch, chunk, &g[i])) < 0 || (r = tcp_upload(chunk, &t[i])) < 0) {
			fprintf(stderr, "run %u failed: %s\n", i, strerror(-r));
			return 1;
		}
	}
	double gib = (double)TOTAL_BYTES / (double)(UINT64_C(1) << 30);
	double g_med = gib / percentile(g, runs, 0.5), t_med = gib / percentile(t, runs, 0.5);

	for (unsigned i = 0; i < calls; i++) {
		Podmig__V1__EchoRequest req = PODMIG__V1__ECHO_REQUEST__INIT;
		req.text = (char *)"ping";
		req.seq = i;
		_cleanup_message_ ProtobufCMessage *rep = NULL;
		double t0 = mono_sec();
		r = rpc_call_unary(ch, &podmig__v1__testing__descriptor, "Echo", &req.base,
		                   5 * RPC_USEC_PER_SEC, &rep, NULL);
		lat[i] = (mono_sec() - t0) * 1e6;
		if (r < 0) {
			fprintf(stderr, "unary call failed: %s\n", strerror(-r));
			return 1;
		}
	}

	printf("bench-rpc: loopback, 1 GiB in 1 MiB chunks, median of %u runs\n", runs);
	printf("  %-34s %8.2f GiB/s\n", "gRPC client streaming (Upload)", g_med);
	printf("  %-34s %8.2f GiB/s\n", "raw TCP (write/read)", t_med);
	printf("  %-34s %8.2f\n", "ratio gRPC / raw TCP", g_med / t_med);
	printf("unary Echo, %u sequential calls\n", calls);
	printf("  %-34s %8.1f us\n", "median", percentile(lat, calls, 0.5));
	printf("  %-34s %8.1f us\n", "p99", percentile(lat, calls, 0.99));

	ch = rpc_channel_free(ch);
	server = rpc_server_free(server);
	rpc_global_shutdown();
	return 0;
}
