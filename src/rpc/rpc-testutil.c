/* rpc-testutil.c — see rpc-testutil.h. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <grpc/byte_buffer.h>
#include <grpc/compression.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>

#include "agent.pb-c.h"
#include "process-util.h"
#include "rpc-testutil.h"
#include "strutil.h"
#include "time-util.h"

static int testing_echo(RpcServerCall *c, void *userdata)
{
	_cleanup_message_ Podmig__V1__EchoRequest *req = NULL;
	int r = rpc_server_call_recv(c, (ProtobufCMessage **)&req);
	if (r < 0)
		return r;
	if (r == 0)
		return rpc_server_call_error(c, RPC_INVALID_ARGUMENT, "no request");
	if (req->fail_code != 0)
		return rpc_server_call_error(c, (RpcCode)req->fail_code, "failed as asked: %s",
		                             req->text);
	if (streq(req->text, "slow"))
		sleep_usec(300 * USEC_PER_MSEC);
	Podmig__V1__EchoResponse rep = PODMIG__V1__ECHO_RESPONSE__INIT;
	rep.text = req->text;
	_cleanup_free_ char *value = NULL;
	const char *key = startswith(req->text, "metadata:");
	if (key) {
		r = rpc_server_call_get_metadata(c, key, &value);
		if (r < 0)
			return rpc_server_call_error(c, RPC_NOT_FOUND, "no metadata %s", key);
		rep.text = value;
	}
	rep.seq = req->seq + 1;
	return rpc_server_call_reply(c, &rep.base);
}

static int testing_upload(RpcServerCall *c, void *userdata)
{
	Podmig__V1__UploadSummary sum = PODMIG__V1__UPLOAD_SUMMARY__INIT;
	for (;;) {
		_cleanup_message_ Podmig__V1__Chunk *chunk = NULL;
		int r = rpc_server_call_recv(c, (ProtobufCMessage **)&chunk);
		if (r < 0)
			return r;
		if (r == 0)
			break;
		if (chunk->offset != sum.bytes)
			return rpc_server_call_error(
			        c, RPC_DATA_LOSS, "chunk at offset %llu, expected %llu",
			        (unsigned long long)chunk->offset, (unsigned long long)sum.bytes);
		sum.bytes += chunk->data.len;
		sum.chunks++;
	}
	return rpc_server_call_reply(c, &sum.base);
}

static int testing_count(RpcServerCall *c, void *userdata)
{
	/* "metadata:KEY" streams back the value of request metadata KEY */
	_cleanup_free_ char *value = NULL;
	_cleanup_message_ Podmig__V1__EchoRequest *req = NULL;
	int r = rpc_server_call_recv(c, (ProtobufCMessage **)&req);
	if (r < 0)
		return r;
	if (r == 0)
		return rpc_server_call_error(c, RPC_INVALID_ARGUMENT, "no request");
	const char *text = req->text;
	const char *key = startswith(req->text, "metadata:");
	if (key) {
		r = rpc_server_call_get_metadata(c, key, &value);
		if (r < 0)
			return rpc_server_call_error(c, RPC_NOT_FOUND, "no metadata %s", key);
		text = value;
	}
	for (uint64_t i = 0; req->seq == 0 || i < req->seq; i++) {
		Podmig__V1__EchoResponse rep = PODMIG__V1__ECHO_RESPONSE__INIT;
		rep.text = (char *)text;
		rep.seq = i;
		r = rpc_server_call_send(c, &rep.base);
		if (r < 0)
			return r;
		if (req->seq == 0)
			sleep_usec(10 * USEC_PER_MSEC);
	}
	return 0;
}

static int testing_chat(RpcServerCall *c, void *userdata)
{
	for (;;) {
		_cleanup_message_ Podmig__V1__EchoRequest *req = NULL;
		int r = rpc_server_call_recv(c, (ProtobufCMessage **)&req);
		if (r <= 0)
			return r;
		Podmig__V1__EchoResponse rep = PODMIG__V1__ECHO_RESPONSE__INIT;
		rep.text = req->text;
		rep.seq = req->seq + 1;
		r = rpc_server_call_send(c, &rep.base);
		if (r < 0)
			return r;
	}
}

const RpcHandler test_testing_handlers[] = {
	testing_echo,
	testing_upload,
	testing_count,
	testing_chat,
};
const size_t test_testing_n_handlers = ELEMENTSOF(test_testing_handlers);

int test_server_start(const RpcOptions *options, RpcServer **ret)
{
	_cleanup_(rpc_server_freep) RpcServer *s = NULL;
	int r = rpc_server_new("127.0.0.1:0", options, &s);
	if (r < 0)
		return r;
	r = rpc_server_add_service(s, &podmig__v1__testing__descriptor, test_testing_handlers,
	                           test_testing_n_handlers, NULL);
	if (r < 0)
		return r;
	r = rpc_server_start(s);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(s);
	return 0;
}

int test_spawn(char *const argv[], const char *log_path, pid_t *ret_pid)
{
	SpawnOptions o = { .log_path = log_path ?: "/dev/null" };
	return spawn_start(argv, &o, ret_pid);
}

int test_spawn_wait(char *const argv[])
{
	SpawnOptions o = { .quiet = true };
	int status = -1;
	int r = spawn_wait(argv, &o, &status);
	return r < 0 ? r : status;
}

int test_tmpdir_new(const char *name, char **ret)
{
	const char *base = getenv("TMPDIR") ?: "/tmp";
	char *p;
	if (asprintf(&p, "%s/%s.XXXXXX", base, name) < 0)
		return -ENOMEM;
	if (!mkdtemp(p)) {
		free(p);
		return -errno;
	}
	*ret = p;
	return 0;
}

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path) < 0 ? -1 : 0;
}

int test_tmpdir_remove(const char *path)
{
	if (nftw(path, remove_one, 16, FTW_DEPTH | FTW_PHYS) < 0)
		return -errno;
	return 0;
}

/* openssl req -x509, self-signed (CA) or signed by ca (leaf). */
static int make_cert(const char *dir, const char *name, const char *cn, const char *ca,
                     const char *san)
{
	char keyout[512], out[512], subj[128], ca_pem[512], ca_key[512], san_ext[160];
	snprintf(keyout, sizeof(keyout), "%s/%s.key", dir, name);
	snprintf(out, sizeof(out), "%s/%s.pem", dir, name);
	snprintf(subj, sizeof(subj), "/CN=%s", cn);
	char *argv[32] = { (char *)"/usr/bin/openssl",
		           (char *)"req",
		           (char *)"-x509",
		           (char *)"-newkey",
		           (char *)"ec",
		           (char *)"-pkeyopt",
		           (char *)"ec_paramgen_curve:prime256v1",
		           (char *)"-nodes",
		           (char *)"-days",
		           (char *)"2",
		           (char *)"-subj",
		           subj,
		           (char *)"-keyout",
		           keyout,
		           (char *)"-out",
		           out };
	size_t n = 16;
	if (ca) {
		snprintf(ca_pem, sizeof(ca_pem), "%s/%s.pem", dir, ca);
		snprintf(ca_key, sizeof(ca_key), "%s/%s.key", dir, ca);
		argv[n++] = (char *)"-CA";
		argv[n++] = ca_pem;
		argv[n++] = (char *)"-CAkey";
		argv[n++] = ca_key;
		argv[n++] = (char *)"-addext";
		argv[n++] = (char *)"basicConstraints=critical,CA:FALSE";
	}
	if (san) {
		snprintf(san_ext, sizeof(san_ext), "subjectAltName=%s", san);
		argv[n++] = (char *)"-addext";
		argv[n++] = san_ext;
	}
	argv[n] = NULL;
	int r = test_spawn_wait(argv);
	if (r < 0)
		return r;
	return r == 0 ? 0 : -EIO;
}

int test_make_certs(const char *dir)
{
	int r;
	if ((r = make_cert(dir, "ca", "podmig-test-ca", NULL, NULL)) < 0 ||
	    (r = make_cert(dir, "server", "localhost", "ca", "DNS:localhost,IP:127.0.0.1")) < 0 ||
	    (r = make_cert(dir, "ip-server", "podmig-test-ip", "ca", "IP:127.0.0.1")) < 0 ||
	    (r = make_cert(dir, "other-ip-server", "127.0.0.1", "ca", "IP:127.0.0.2")) < 0 ||
	    (r = make_cert(dir, "client", "podmig-test-client", "ca", NULL)) < 0 ||
	    (r = make_cert(dir, "other-ca", "podmig-other-ca", NULL, NULL)) < 0 ||
	    (r = make_cert(dir, "other-client", "podmig-other-client", "other-ca", NULL)) < 0)
		return r;
	return 0;
}

/* ---- hostile clients ---- */

int test_connect_idle(const char *host, int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	if (inet_pton(AF_INET, host, &sa.sin_addr) != 1)
		return -EINVAL;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
		int r = -errno;
		close(fd);
		return r;
	}
	return fd;
}

bool test_peer_closed(int fd)
{
	char buf[4096];
	for (;;) {
		ssize_t k = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
		if (k > 0)
			continue;
		return k == 0 || (errno != EAGAIN && errno != EINTR);
	}
}

static const char *hostile_ca_file;

void test_hostile_set_tls(const char *ca_file)
{
	hostile_ca_file = ca_file;
}

/* TLS trusting hostile_ca_file, without a client certificate; NULL if the
 * CA cannot be read. */
static grpc_channel_credentials *raw_tls_credentials(void)
{
	FILE *f = fopen(hostile_ca_file, "re");
	if (!f)
		return NULL;
	char *pem = calloc(1, 1 << 20);
	size_t n = pem ? fread(pem, 1, (1 << 20) - 1, f) : 0;
	fclose(f);
	grpc_channel_credentials *c =
	        n > 0 ? grpc_ssl_credentials_create(pem, NULL, NULL, NULL) : NULL;
	free(pem);
	return c;
}

static grpc_channel *raw_channel(const char *target, int compression)
{
	grpc_arg args[2] = {
		{ .type = GRPC_ARG_INTEGER,
		  .key = (char *)GRPC_COMPRESSION_CHANNEL_DEFAULT_ALGORITHM,
		  .value.integer = compression },
		/* a connection of its own, not shared with other channels */
		{ .type = GRPC_ARG_INTEGER,
		  .key = (char *)GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL,
		  .value.integer = 1 },
	};
	grpc_channel_args cargs = { .num_args = 2, .args = args };
	grpc_channel_credentials *creds =
	        hostile_ca_file ? raw_tls_credentials() : grpc_insecure_credentials_create();
	if (!creds)
		return NULL;
	grpc_channel *ch = grpc_channel_create(target, creds, &cargs);
	grpc_channel_credentials_release(creds);
	return ch;
}

static void raw_cq_destroy(grpc_completion_queue *cq)
{
	grpc_completion_queue_shutdown(cq);
	while (grpc_completion_queue_next(cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL).type !=
	       GRPC_QUEUE_SHUTDOWN)
		;
	grpc_completion_queue_destroy(cq);
}

int test_call_gzip(const char *target, const char *method, size_t zeros)
{
	grpc_channel *ch = raw_channel(target, GRPC_COMPRESS_GZIP);
	if (!ch)
		return -EIO;
	grpc_completion_queue *cq = grpc_completion_queue_create_for_next(NULL);
	grpc_slice path = grpc_slice_from_copied_string(method);
	grpc_call *call = grpc_channel_create_call(ch, NULL, GRPC_PROPAGATE_DEFAULTS, cq, path,
	                                           NULL, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
	grpc_slice_unref(path);

	Podmig__V1__Chunk chunk = PODMIG__V1__CHUNK__INIT;
	uint8_t *data = calloc(1, zeros ?: 1);
	chunk.data.data = data;
	chunk.data.len = zeros;
	size_t packed = protobuf_c_message_get_packed_size(&chunk.base);
	uint8_t *buf = malloc(packed ?: 1);
	if (!data || !buf) {
		free(data);
		free(buf);
		grpc_call_unref(call);
		grpc_channel_destroy(ch);
		raw_cq_destroy(cq);
		return -ENOMEM;
	}
	protobuf_c_message_pack(&chunk.base, buf);
	free(data);
	grpc_slice payload = grpc_slice_new(buf, packed, free);
	grpc_byte_buffer *send = grpc_raw_byte_buffer_create(&payload, 1);
	grpc_slice_unref(payload);

	grpc_metadata_array initial, trailing;
	grpc_metadata_array_init(&initial);
	grpc_metadata_array_init(&trailing);
	grpc_byte_buffer *recv = NULL;
	grpc_status_code status = GRPC_STATUS_UNKNOWN;
	grpc_slice details = grpc_empty_slice();
	grpc_op ops[6] = {};
	ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
	ops[1].op = GRPC_OP_SEND_MESSAGE;
	ops[1].data.send_message.send_message = send;
	ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
	ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
	ops[3].data.recv_initial_metadata.recv_initial_metadata = &initial;
	ops[4].op = GRPC_OP_RECV_MESSAGE;
	ops[4].data.recv_message.recv_message = &recv;
	ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
	ops[5].data.recv_status_on_client.trailing_metadata = &trailing;
	ops[5].data.recv_status_on_client.status = &status;
	ops[5].data.recv_status_on_client.status_details = &details;
	int r = -EPROTO;
	if (grpc_call_start_batch(call, ops, 6, call, NULL) == GRPC_CALL_OK) {
		grpc_event ev = grpc_completion_queue_next(
		        cq,
		        gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
		                     gpr_time_from_seconds(30, GPR_TIMESPAN)),
		        NULL);
		if (ev.type == GRPC_OP_COMPLETE)
			r = (int)status;
		else {
			grpc_call_cancel(call, NULL);
			(void)grpc_completion_queue_next(cq, gpr_inf_future(GPR_CLOCK_REALTIME),
			                                 NULL);
			r = -ETIMEDOUT;
		}
	}
	grpc_slice_unref(details);
	grpc_byte_buffer_destroy(send);
	if (recv)
		grpc_byte_buffer_destroy(recv);
	grpc_metadata_array_destroy(&initial);
	grpc_metadata_array_destroy(&trailing);
	grpc_call_unref(call);
	grpc_channel_destroy(ch);
	raw_cq_destroy(cq);
	return r;
}

typedef struct HeldCall {
	grpc_call *call;
	grpc_metadata_array initial, trailing;
	grpc_status_code status;
	grpc_slice details;
	bool started, ended;
} HeldCall;

struct TestCalls {
	grpc_completion_queue *cq;
	grpc_channel **channels;
	unsigned n_channels;
	HeldCall *calls;
	unsigned n, n_ended, n_pending; /* pending: batches not yet completed */
};

int test_calls_hold(const char *target, const char *method, unsigned n, unsigned per_connection,
                    TestCalls **ret)
{
	TestCalls *t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	per_connection = per_connection ?: 1;
	t->n_channels = (n + per_connection - 1) / per_connection;
	t->channels = calloc(t->n_channels ?: 1, sizeof(grpc_channel *));
	t->calls = calloc(n ?: 1, sizeof(HeldCall));
	t->cq = grpc_completion_queue_create_for_next(NULL);
	if (!t->channels || !t->calls) {
		test_calls_free(t);
		return -ENOMEM;
	}
	grpc_slice path = grpc_slice_from_copied_string(method);
	for (unsigned i = 0; i < t->n_channels; i++)
		if (!(t->channels[i] = raw_channel(target, GRPC_COMPRESS_NONE))) {
			grpc_slice_unref(path);
			test_calls_free(t);
			return -EIO;
		}
	for (unsigned i = 0; i < n; i++) {
		HeldCall *c = &t->calls[i];
		c->call = grpc_channel_create_call(t->channels[i / per_connection], NULL,
		                                   GRPC_PROPAGATE_DEFAULTS, t->cq, path, NULL,
		                                   gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
		grpc_metadata_array_init(&c->initial);
		grpc_metadata_array_init(&c->trailing);
		c->details = grpc_empty_slice();
		/* the status is delivered only with initial metadata received */
		grpc_op ops[3] = {};
		ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
		ops[1].op = GRPC_OP_RECV_INITIAL_METADATA;
		ops[1].data.recv_initial_metadata.recv_initial_metadata = &c->initial;
		ops[2].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
		ops[2].data.recv_status_on_client.trailing_metadata = &c->trailing;
		ops[2].data.recv_status_on_client.status = &c->status;
		ops[2].data.recv_status_on_client.status_details = &c->details;
		c->started = grpc_call_start_batch(c->call, ops, 3, c, NULL) == GRPC_CALL_OK;
		if (c->started)
			t->n_pending++;
		t->n++;
	}
	grpc_slice_unref(path);
	*ret = t;
	return 0;
}

unsigned test_calls_ended(TestCalls *t)
{
	/* a short wait, not none: waiting on the queue is what drives its I/O */
	for (;;) {
		grpc_event ev = grpc_completion_queue_next(
		        t->cq,
		        gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
		                     gpr_time_from_millis(10, GPR_TIMESPAN)),
		        NULL);
		if (ev.type != GRPC_OP_COMPLETE)
			break;
		HeldCall *c = ev.tag;
		c->ended = true;
		t->n_ended++;
		t->n_pending--;
	}
	return t->n_ended;
}

unsigned test_calls_ended_with(TestCalls *t, int code)
{
	unsigned n = 0;
	for (unsigned i = 0; i < t->n; i++)
		n += t->calls[i].ended && (int)t->calls[i].status == code;
	return n;
}

TestCalls *test_calls_free(TestCalls *t)
{
	if (!t)
		return NULL;
	for (unsigned i = 0; i < t->n; i++)
		if (t->calls[i].call && !t->calls[i].ended)
			grpc_call_cancel(t->calls[i].call, NULL);
	while (t->n_pending > 0) {
		grpc_event ev =
		        grpc_completion_queue_next(t->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
		if (ev.type != GRPC_OP_COMPLETE)
			break;
		t->n_pending--;
	}
	for (unsigned i = 0; i < t->n; i++) {
		HeldCall *c = &t->calls[i];
		if (c->call)
			grpc_call_unref(c->call);
		grpc_metadata_array_destroy(&c->initial);
		grpc_metadata_array_destroy(&c->trailing);
		grpc_slice_unref(c->details);
	}
	for (unsigned i = 0; i < t->n_channels; i++)
		if (t->channels[i])
			grpc_channel_destroy(t->channels[i]);
	if (t->cq)
		raw_cq_destroy(t->cq);
	free(t->calls);
	free(t->channels);
	free(t);
	return NULL;
}

double test_info_seconds(const char *target, const RpcOptions *o, double timeout_sec)
{
	RpcChannel *ch = NULL;
	RpcOptions own = *o;
	double t0 = mono_sec();

	own.private_connection = true;
	if (rpc_channel_new(target, &own, &ch) < 0)
		return -1;
	Podmig__V1__InfoRequest req = PODMIG__V1__INFO_REQUEST__INIT;
	ProtobufCMessage *rep = NULL;
	int r = rpc_call_unary(ch, &podmig__v1__agent__descriptor, "Info", &req.base,
	                       (uint64_t)(timeout_sec * RPC_USEC_PER_SEC), &rep, NULL);
	double t = mono_sec() - t0;
	rpc_message_free(rep);
	rpc_channel_free(ch);
	return r < 0 ? -1 : t;
}
