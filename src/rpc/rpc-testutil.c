/* rpc-testutil.c — see rpc-testutil.h. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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
