/* test-agent-config-json.c — the agent's settings (flags, config file,
 * defaults, bad values) and the info/status documents it publishes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent.h"
#include "json-util.h"
#include "strutil.h"

static void test_config(void **state)
{
	AgentConfig c;
	ErrorDetail err = {};
	agent_config_init(&c);
	assert_int_equal(agent_config_set(&c, "node-name", "node7", &err), 0);
	assert_int_equal(agent_config_set(&c, "interval", "0.5", &err), 0);
	assert_int_equal(c.interval_usec, 500000);
	assert_int_equal(agent_config_set(&c, "capacity-memory", "2G", &err), 0);
	assert_int_equal(c.capacity_memory, 2ULL << 30);
	assert_int_equal(agent_config_set(&c, "label", "zone=a", &err), 0);
	assert_int_equal(agent_config_set(&c, "label", "podmig.migrate=false", &err), 0);
	assert_int_equal(strv_length(c.labels), 2);
	assert_int_equal(agent_config_set(&c, "no-such", "x", &err), -ENOENT);
	assert_int_equal(agent_config_set(&c, "interval", "-1", &err), -EINVAL);
	assert_non_null(strstr(err.message, "--interval"));
	assert_int_equal(agent_config_set(&c, "accounting", "magic", &err), -EINVAL);
	assert_int_equal(agent_config_set(&c, "label", "=x", &err), -EINVAL);
	assert_int_equal(agent_config_set(&c, "restore-allow", "setuid", &err), 0);
	assert_true(c.restore.allow_setuid);
	error_detail_clear(&err);
	assert_int_equal(agent_config_set(&c, "restore-allow", "everything", &err), -EINVAL);
	assert_non_null(strstr(err.message, "--restore-allow"));
	assert_int_equal(agent_config_set(&c, "restore-allow-bind", "/srv/../etc", &err), -EINVAL);
	assert_int_equal(agent_config_set(&c, "restore-allow-bind", "/", &err), -EINVAL);

	/* metrics: off by default, HOST:PORT with a numeric address, or off again */
	assert_null(c.metrics_address);
	assert_int_equal(agent_config_set(&c, "metrics-address", "0.0.0.0:7402", &err), 0);
	assert_string_equal(c.metrics_address, "0.0.0.0:7402");
	error_detail_clear(&err);
	assert_int_equal(agent_config_set(&c, "metrics-address", "metrics.local:7402", &err),
	                 -EINVAL);
	assert_non_null(strstr(err.message, "--metrics-address"));
	assert_string_equal(c.metrics_address, "0.0.0.0:7402");
	assert_int_equal(agent_config_set(&c, "metrics-address", "off", &err), 0);
	assert_null(c.metrics_address);

	error_detail_clear(&err);
	/* the bounds under hostile load */
	assert_int_equal(c.max_calls, AGENT_DEFAULT_MAX_CALLS);
	assert_int_equal(c.stall_timeout_usec, AGENT_DEFAULT_STALL_TIMEOUT_SEC * 1000000ULL);
	assert_int_equal(agent_config_set(&c, "max-calls", "128", &err), 0);
	assert_int_equal(c.max_calls, 128);
	error_detail_clear(&err);
	assert_int_equal(agent_config_set(&c, "max-calls", "2", &err), -EINVAL);
	assert_non_null(strstr(err.message, "--max-calls"));
	assert_int_equal(agent_config_set(&c, "stall-timeout", "5", &err), 0);
	assert_int_equal(c.stall_timeout_usec, 5000000);
	error_detail_clear(&err);
	assert_int_equal(agent_config_set(&c, "stall-timeout", "0.5", &err), -EINVAL);
	assert_non_null(strstr(err.message, "--stall-timeout"));
	assert_int_equal(agent_config_set(&c, "accounting", "containers", &err), 0);
	/* containers accounting needs both capacities */
	error_detail_clear(&err);
	assert_int_equal(agent_config_finish(&c, &err), -EINVAL);
	assert_non_null(strstr(err.message, "--capacity-cpus"));

	assert_int_equal(agent_config_set(&c, "capacity-cpus", "1", &err), 0);
	assert_int_equal(agent_config_set(&c, "listen", "10.0.0.5:7401", &err), 0);
	unsetenv("PODMIG_ETCD_ENDPOINTS");
	/* mutual TLS unless --insecure says otherwise */
	error_detail_clear(&err);
	assert_int_equal(agent_config_finish(&c, &err), -EINVAL);
	assert_non_null(strstr(err.message, "--insecure"));
	assert_int_equal(agent_config_set(&c, "tls-ca", "/etc/podmig/ca.pem", &err), 0);
	assert_int_equal(agent_config_set(&c, "tls-cert", "/etc/podmig/agent.pem", &err), 0);
	assert_int_equal(agent_config_set(&c, "tls-key", "/etc/podmig/agent.key", &err), 0);
	assert_int_equal(agent_config_set(&c, "insecure", "maybe", &err), -EINVAL);
	/* an etcd user needs its password file */
	assert_int_equal(agent_config_set(&c, "etcd-user", "node7", &err), 0);
	error_detail_clear(&err);
	assert_int_equal(agent_config_finish(&c, &err), -EINVAL);
	assert_non_null(strstr(err.message, "--etcd-password-file"));
	assert_int_equal(agent_config_set(&c, "etcd-password-file", "/etc/podmig/pw", &err), 0);
	assert_int_equal(agent_config_finish(&c, &err), 0);
	assert_false(c.insecure);
	assert_string_equal(c.advertise_address, "10.0.0.5:7401");
	assert_string_equal(c.prefix, "/podmig/");
	assert_string_equal(c.etcd_endpoint, "127.0.0.1:2379");
	assert_string_equal(c.podman_socket, "/run/podman/podman.sock");
	assert_string_equal(c.pages_dir, "/var/lib/podmig/pages"); /* under the work dir */
	agent_config_done(&c);

	/* the pages directory: absolute, wherever it is */
	agent_config_init(&c);
	assert_int_equal(agent_config_set(&c, "insecure", "true", &err), 0);
	assert_int_equal(agent_config_set(&c, "pages-dir", "/dev/shm/podmig", &err), 0);
	assert_int_equal(agent_config_finish(&c, &err), 0);
	assert_string_equal(c.pages_dir, "/dev/shm/podmig");
	agent_config_done(&c);
	agent_config_init(&c);
	assert_int_equal(agent_config_set(&c, "insecure", "true", &err), 0);
	assert_int_equal(agent_config_set(&c, "pages-dir", "shm/podmig", &err), 0);
	error_detail_clear(&err);
	assert_int_equal(agent_config_finish(&c, &err), -EINVAL);
	assert_non_null(strstr(err.message, "--pages-dir"));
	agent_config_done(&c);

	/* a prefix with a '..' component is refused */
	agent_config_init(&c);
	assert_int_equal(agent_config_set(&c, "prefix", "/a/../", &err), 0);
	assert_int_equal(agent_config_set(&c, "insecure", "true", &err), 0);
	error_detail_clear(&err);
	assert_int_equal(agent_config_finish(&c, &err), -EINVAL);
	assert_non_null(strstr(err.message, "--prefix"));
	agent_config_done(&c);
}

static void test_config_file(void **state)
{
	char path[] = "/tmp/podmig-agent-conf-XXXXXX";
	ErrorDetail err = {};
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	const char *text = "# a node\nnode-name = node2\n  etcd=http://10.77.0.1:2379\n\n"
	                   "capacity-cpus 1.5\nlabel = rack=r1\n"
	                   "restore-allow = CAP_NET_RAW\nrestore-allow-bind = /srv/data\n";
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	AgentConfig c;
	agent_config_init(&c);
	assert_int_equal(agent_config_load_file(&c, path, &err), 0);
	assert_string_equal(c.node_name, "node2");
	assert_string_equal(c.etcd_endpoint, "http://10.77.0.1:2379");
	assert_float_equal(c.capacity_cpus, 1.5, 0);
	assert_string_equal(c.labels[0], "rack=r1");
	/* the restore policy: nothing extra unless said */
	assert_false(c.restore.allow_privileged || c.restore.allow_devices ||
	             c.restore.allow_host_namespaces || c.restore.allow_setuid);
	assert_string_equal(c.restore.caps_allow[0], "CAP_NET_RAW");
	assert_string_equal(c.restore.bind_allow[0], "/srv/data");
	/* a plaintext etcd needs insecure, as plaintext gRPC does */
	error_detail_clear(&err);
	assert_int_equal(agent_config_set(&c, "tls-ca", "/ca.pem", &err), 0);
	assert_int_equal(agent_config_set(&c, "tls-cert", "/a.pem", &err), 0);
	assert_int_equal(agent_config_set(&c, "tls-key", "/a.key", &err), 0);
	assert_int_equal(agent_config_finish(&c, &err), -EINVAL);
	assert_non_null(strstr(err.message, "https://"));
	assert_int_equal(agent_config_set(&c, "insecure", "true", &err), 0);
	assert_int_equal(agent_config_finish(&c, &err), 0);
	agent_config_done(&c);

	FILE *f = fopen(path, "we");
	fputs("node-name = a\nbogus = 1\n", f);
	fclose(f);
	agent_config_init(&c);
	error_detail_clear(&err);
	assert_int_equal(agent_config_load_file(&c, path, &err), -EINVAL);
	assert_non_null(strstr(err.message, ":2: unknown setting 'bogus'"));
	assert_true(startswith(err.message, path));
	agent_config_done(&c);

	/* a bad value: the file, the line and the setting's own reason */
	f = fopen(path, "we");
	fputs("# comment\nlog-level = debug\n\ninterval = 0\n", f);
	fclose(f);
	agent_config_init(&c);
	error_detail_clear(&err);
	assert_int_equal(agent_config_load_file(&c, path, &err), -EINVAL);
	assert_true(startswith(err.message, path));
	assert_non_null(strstr(err.message, ":4: --interval: '0' is not"));
	assert_int_equal(c.log_level, 7 /* LOG_DEBUG */);
	agent_config_done(&c);
	f = fopen(path, "we");
	fputs("log-level = loud\n", f);
	fclose(f);
	agent_config_init(&c);
	error_detail_clear(&err);
	assert_int_equal(agent_config_load_file(&c, path, &err), -EINVAL);
	assert_non_null(strstr(err.message, ":1: --log-level: 'loud'"));
	agent_config_done(&c);
	unlink(path);
	error_detail_clear(&err);
	assert_true(agent_config_load_file(&c, "/nonexistent/agent.conf", &err) < 0);
	assert_non_null(strstr(err.message, "/nonexistent/agent.conf"));
}

/* Agents migrate between protocols at most one apart; a test may make an
 * agent speak another, and a bad one is refused. */
static void test_protocol(void **state)
{
	assert_true(agent_protocol_compatible(1, 1));
	assert_true(agent_protocol_compatible(1, 2));
	assert_true(agent_protocol_compatible(3, 2));
	assert_false(agent_protocol_compatible(1, 3));
	assert_false(agent_protocol_compatible(5, 3));
	assert_false(agent_protocol_compatible(0, 2));

	AgentConfig c;
	ErrorDetail err = {};
	agent_config_init(&c);
	assert_int_equal(c.protocol, AGENT_PROTOCOL);
	assert_int_equal(agent_config_set(&c, "insecure", "true", &err), 0);
	setenv(AGENT_TEST_PROTOCOL_ENV, "3", 1);
	assert_int_equal(agent_config_finish(&c, &err), 0);
	assert_int_equal(c.protocol, 3);
	agent_config_done(&c);
	agent_config_init(&c);
	assert_int_equal(agent_config_set(&c, "insecure", "true", &err), 0);
	setenv(AGENT_TEST_PROTOCOL_ENV, "0", 1);
	assert_int_equal(agent_config_finish(&c, &err), -EINVAL);
	assert_non_null(strstr(err.message, "$PODMIG_TEST_PROTOCOL: '0'"));
	unsetenv(AGENT_TEST_PROTOCOL_ENV);
	agent_config_done(&c);
}

static void test_json(void **state)
{
	char *labels[] = { "zone=a", NULL };
	NodeInfo in = { .name = "node1",
		        .grpc_address = "10.77.0.11:7401",
		        .version = "0.1.0",
		        .protocol = 7,
		        .source = ACCOUNTING_CONTAINERS,
		        .capacity_cpus = 1,
		        .capacity_memory = 2ULL << 30,
		        .link_bandwidth = 125000000,
		        .criu = { .probed = true, .uffd_noncoop = true, .version = "4.2.1" },
		        .labels = labels,
		        .started_at = 1700000000 };
	_cleanup_json_ json_t *info = node_info_to_json(&in);
	assert_non_null(info);
	assert_string_equal(json_get_string(info, "name"), "node1");
	assert_string_equal(json_get_string(info, "accounting"), "containers");
	assert_string_equal(json_get_string(info, "version"), "0.1.0");
	assert_int_equal(json_get_u64(info, "protocol", 0), 7);
	assert_true(json_is_null(json_object_get(info, "podman_version")) ||
	            !json_object_get(info, "podman_version"));
	assert_int_equal(json_get_u64(json_object_get(info, "capacity"), "memory_bytes", 0),
	                 2ULL << 30);
	assert_false(json_get_bool(json_object_get(info, "criu"), "pre_copy", true));
	assert_true(json_get_bool(json_object_get(info, "criu"), "lazy_pages", false));
	assert_string_equal(json_get_string(json_object_get(info, "labels"), "zone"), "a");

	char *ctl[] = { NULL };
	ContainerSample cs[2] = {
		{ .id = "abc",
		  .name = "web",
		  .image = "localhost/x",
		  .state = "running",
		  .labels = labels,
		  .has_stats = true,
		  .cpu_percent = 42.5,
		  .mem_usage = 1000,
		  .pids = 3,
		  .net_rx_rate = 1500,
		  .net_tx_rate = 250.5 },
		{ .id = "def",
		  .name = "old",
		  .image = "localhost/x",
		  .state = "exited",
		  .labels = ctl },
	};
	InterfaceSample is = { .name = "eth0", .rx_rate = 100, .tx_rate = 50 };
	NodeSample s = { .timestamp_usec = 1700000000123456,
		         .source = ACCOUNTING_CONTAINERS,
		         .capacity_cpus = 1,
		         .cpu_used = 0.425,
		         .cpu_percent = 42.5,
		         .interfaces = &is,
		         .n_interfaces = 1,
		         .podman_ok = true,
		         .containers = cs,
		         .n_containers = 2,
		         .interval_usec = 500000,
		         .recent = { { .timestamp_usec = 1700000000000000,
		                       .cpu_percent = 90,
		                       .mem_percent = 10,
		                       .net_percent = 1 },
		                     { .timestamp_usec = 1700000000123456,
		                       .cpu_percent = 42.5,
		                       .mem_percent = 11,
		                       .net_percent = 2 } },
		         .n_recent = 2 };
	_cleanup_json_ json_t *st = node_status_to_json(&s);
	assert_non_null(st);
	assert_string_equal(json_get_string(st, "time"), "2023-11-14T22:13:20.123Z");
	assert_float_equal(json_get_number(json_object_get(st, "cpu"), "percent", 0), 42.5, 1e-9);
	json_t *cts = json_object_get(st, "containers");
	assert_int_equal(json_array_size(cts), 2);
	assert_float_equal(json_get_number(json_array_get(cts, 0), "cpu_percent", 0), 42.5, 1e-9);
	assert_null(json_object_get(json_array_get(cts, 1), "cpu_percent"));
	assert_float_equal(json_get_number(json_array_get(cts, 0), "net_rx_bytes_per_sec", 0), 1500,
	                   0);
	assert_float_equal(json_get_number(json_array_get(cts, 0), "net_tx_bytes_per_sec", 0),
	                   250.5, 0);
	assert_null(json_object_get(json_array_get(cts, 1), "net_rx_bytes_per_sec"));
	assert_int_equal(json_get_i64(st, "interval_usec", 0), 500000);
	json_t *recent = json_object_get(st, "recent");
	assert_int_equal(json_array_size(recent), 2);
	assert_int_equal(json_get_i64(json_array_get(recent, 0), "t", 0), 1700000000000000);
	assert_float_equal(json_get_number(json_array_get(recent, 0), "cpu", 0), 90, 0);
	assert_int_equal(json_get_i64(json_array_get(recent, 1), "t", 0), 1700000000123456);
	assert_float_equal(json_get_number(json_array_get(recent, 1), "cpu", 0), 42.5, 0);
	assert_float_equal(json_get_number(json_array_get(recent, 1), "memory", 0), 11, 0);
	assert_float_equal(json_get_number(json_array_get(recent, 1), "network", 0), 2, 0);
	assert_true(json_get_bool(json_object_get(st, "podman"), "ok", false));
	assert_true(json_is_null(json_object_get(json_object_get(st, "podman"), "error")));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_config),
		cmocka_unit_test(test_config_file),
		cmocka_unit_test(test_protocol),
		cmocka_unit_test(test_json),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
