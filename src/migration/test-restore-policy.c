/* Unit tests for the restore policy: the spec.dump and config.dump of a
 * real Podman checkpoint pass the defaults; each rule refuses what it
 * forbids with a reason and lets it through where the policy allows it. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "archive-check.h"
#include "json-util.h"
#include "restore-policy.h"

static json_t *real_spec, *real_config;

#define IMAGE "localhost/podmig/counter:latest"
#define USERDATA                                          \
	"/var/lib/containers/storage/overlay-containers/" \
	"a93c08b51a97a68965e72fe2fabc491d6470efda75e1a865655c1aafb82e9b91/userdata"

/* Reads spec.dump and config.dump out of the checked-in checkpoint with
 * the archive check's own index. */
static int setup(void **state)
{
	FILE *f = fopen(PODMIG_SOURCE_ROOT "/tests/data/checkpoint/counter.tar", "re");
	assert_non_null(f);
	static uint8_t buf[1 << 20];
	size_t n = fread(buf, 1, sizeof buf, f);
	fclose(f);
	ArchiveIndex index = {};
	ErrorDetail why = {};
	assert_int_equal(archive_check_buffer(buf, n, NULL, &index, &why), 0);
	real_spec = json_loadb((const char *)buf + index.spec_dump.offset, index.spec_dump.size, 0,
	                       NULL);
	real_config = json_loadb((const char *)buf + index.config_dump.offset,
	                         index.config_dump.size, 0, NULL);
	assert_non_null(real_spec);
	assert_non_null(real_config);
	return 0;
}

static int teardown(void **state)
{
	json_decref(real_spec);
	json_decref(real_config);
	return 0;
}

typedef struct Case {
	json_t *spec, *config;
} Case;

static Case fresh(void)
{
	return (Case){ json_deep_copy(real_spec), json_deep_copy(real_config) };
}

static void case_done(Case *c)
{
	json_decref(c->spec);
	json_decref(c->config);
}

static int run(const RestorePolicy *p, const Case *c, ErrorDetail *why)
{
	error_detail_clear(why);
	return restore_policy_check(p, c->spec, c->config, IMAGE, why);
}

/* Refused by the default policy with `reason`, accepted by `allowing`. */
static void expect(const Case *c, const char *reason, const RestorePolicy *allowing)
{
	RestorePolicy def = {};
	ErrorDetail why = {};
	assert_int_equal(run(&def, c, &why), -EPERM);
	if (!strstr(why.message, reason))
		fail_msg("reason '%s' does not mention '%s'", why.message, reason);
	if (allowing) {
		int r = run(allowing, c, &why);
		if (r != 0)
			fail_msg("refused where the policy allows it: %s", why.message);
	}
}

static json_t *spec_mounts(const Case *c)
{
	return json_object_get(c->spec, "mounts");
}

static void test_real_checkpoint_passes(void **state)
{
	RestorePolicy p = {};
	ErrorDetail why = {};
	Case c = fresh();
	int r = run(&p, &c, &why);
	if (r != 0)
		fail_msg("a real checkpoint was refused: %s", why.message);
	case_done(&c);
}

static void test_image_must_match(void **state)
{
	RestorePolicy p = {};
	ErrorDetail why = {};
	Case c = fresh();
	assert_int_equal(
	        restore_policy_check(&p, c.spec, c.config, "localhost/podmig/memhog:latest", &why),
	        -EPERM);
	assert_non_null(strstr(why.message, "migration record names"));
	case_done(&c);
}

static void test_host_bind_mount(void **state)
{
	Case c = fresh();
	json_array_append_new(spec_mounts(&c),
	                      json_pack("{s:s, s:s, s:s, s:[s,s]}", "destination", "/host", "type",
	                                "bind", "source", "/srv/data", "options", "rbind", "rw"));
	_cleanup_(restore_policy_done) RestorePolicy allow = {};
	assert_int_equal(restore_policy_allow_bind(&allow, "/srv/"), 0);
	expect(&c, "host bind mount /srv/data -> /host", &allow);

	/* a sibling with a common prefix, a '..' and a mount typed "none" */
	json_object_set_new(json_array_get(spec_mounts(&c), json_array_size(spec_mounts(&c)) - 1),
	                    "source", json_string("/srv2/x"));
	expect(&c, "/srv2/x", NULL);
	ErrorDetail why = {};
	assert_int_equal(run(&allow, &c, &why), -EPERM);
	json_object_set_new(json_array_get(spec_mounts(&c), json_array_size(spec_mounts(&c)) - 1),
	                    "source", json_string("/srv/../etc"));
	assert_int_equal(run(&allow, &c, &why), -EPERM);
	case_done(&c);

	Case d = fresh();
	json_array_append_new(spec_mounts(&d),
	                      json_pack("{s:s, s:s, s:s, s:[s]}", "destination", "/host", "type",
	                                "none", "source", "/", "options", "rbind"));
	expect(&d, "host bind mount / -> /host", NULL);
	case_done(&d);

	/* another container's Podman directory is not this one's */
	Case e = fresh();
	json_object_set_new(json_array_get(spec_mounts(&e), 5), "source",
	                    json_string("/var/lib/containers/storage/overlay-containers/"
	                                "b93c08b51a97a68965e72fe2fabc491d6470efda75e1a865655c1aafb8"
	                                "2e9b91/userdata/shm"));
	expect(&e, "outside the allowed directories", NULL);
	case_done(&e);

	/* a block device mounted as a filesystem */
	Case f = fresh();
	json_array_append_new(spec_mounts(&f), json_pack("{s:s, s:s, s:s}", "destination", "/mnt",
	                                                 "type", "ext4", "source", "/dev/sda1"));
	expect(&f, "type 'ext4'", NULL);
	case_done(&f);

	/* the same in config.dump's copy of the spec */
	Case g = fresh();
	json_array_append_new(json_object_get(json_object_get(g.config, "spec"), "mounts"),
	                      json_pack("{s:s, s:s, s:s}", "destination", "/host", "type", "bind",
	                                "source", "/etc"));
	expect(&g, "config.dump: host bind mount /etc", NULL);
	case_done(&g);
}

static void test_privileged(void **state)
{
	Case c = fresh();
	json_object_set_new(c.config, "privileged", json_true());
	RestorePolicy allow = { .allow_privileged = true };
	expect(&c, "privileged", &allow);
	case_done(&c);
}

static void test_capabilities(void **state)
{
	Case c = fresh();
	json_array_append_new(
	        json_object_get(json_object_get(json_object_get(c.spec, "process"), "capabilities"),
	                        "bounding"),
	        json_string("CAP_SYS_ADMIN"));
	_cleanup_(restore_policy_done) RestorePolicy allow = {};
	assert_int_equal(restore_policy_allow(&allow, "CAP_SYS_ADMIN"), 0);
	expect(&c, "capability CAP_SYS_ADMIN (bounding set)", &allow);
	RestorePolicy privileged = { .allow_privileged = true };
	ErrorDetail why = {};
	assert_int_equal(run(&privileged, &c, &why), 0);
	case_done(&c);
}

static void test_devices(void **state)
{
	Case c = fresh();
	json_object_set_new(json_object_get(c.spec, "linux"), "devices",
	                    json_pack("[{s:s, s:s, s:i, s:i}]", "path", "/dev/sda", "type", "b",
	                              "major", 8, "minor", 0));
	RestorePolicy allow = { .allow_devices = true };
	expect(&c, "device /dev/sda", &allow);
	case_done(&c);

	Case d = fresh();
	json_array_append_new(
	        json_object_get(json_object_get(json_object_get(d.spec, "linux"), "resources"),
	                        "devices"),
	        json_pack("{s:b, s:s}", "allow", 1, "access", "rwm"));
	expect(&d, "device cgroup rule", &allow);
	case_done(&d);
}

static void test_host_namespaces(void **state)
{
	RestorePolicy allow = { .allow_host_namespaces = true };
	Case c = fresh();
	json_t *nss = json_object_get(json_object_get(c.spec, "linux"), "namespaces");
	json_array_remove(nss, 0); /* pid */
	expect(&c, "host's pid namespace", &allow);
	case_done(&c);

	Case d = fresh();
	nss = json_object_get(json_object_get(d.spec, "linux"), "namespaces");
	json_object_set_new(json_array_get(nss, 1), "path", json_string("/proc/1/ns/net"));
	expect(&d, "network namespace at /proc/1/ns/net", &allow);
	case_done(&d);
}

static void test_hooks_and_own_paths(void **state)
{
	Case c = fresh();
	json_object_set_new(c.spec, "hooks",
	                    json_pack("{s:[{s:s}]}", "prestart", "path", "/bin/sh"));
	expect(&c, "hooks", NULL);
	case_done(&c);

	Case d = fresh();
	json_object_set_new(d.config, "logPath", json_string("/etc/cron.d/evil"));
	expect(&d, "logPath /etc/cron.d/evil", NULL);
	case_done(&d);

	Case e = fresh();
	json_object_set_new(e.config, "conmonPidFile", json_string(USERDATA "/../../../x"));
	expect(&e, "conmonPidFile", NULL);
	case_done(&e);

	Case f = fresh();
	json_object_set_new(f.config, "id", json_string("../../../../etc"));
	expect(&f, "64 hex", NULL);
	case_done(&f);
}

static void test_policy_settings(void **state)
{
	_cleanup_(restore_policy_done) RestorePolicy p = {};
	assert_int_equal(restore_policy_allow(&p, "privileged"), 0);
	assert_int_equal(restore_policy_allow(&p, "setuid"), 0);
	assert_int_equal(restore_policy_allow(&p, "CAP_NET_RAW"), 0);
	assert_int_equal(restore_policy_allow(&p, "cap_net_raw"), -EINVAL);
	assert_int_equal(restore_policy_allow(&p, "everything"), -EINVAL);
	assert_int_equal(restore_policy_allow_bind(&p, "relative"), -EINVAL);
	assert_int_equal(restore_policy_allow_bind(&p, "/"), -EINVAL);
	assert_int_equal(restore_policy_allow_bind(&p, "/srv/../etc"), -EINVAL);
	assert_int_equal(restore_policy_allow_bind(&p, "/srv/data"), 0);
	assert_true(p.allow_privileged && p.allow_setuid);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_real_checkpoint_passes),
		cmocka_unit_test(test_image_must_match),
		cmocka_unit_test(test_host_bind_mount),
		cmocka_unit_test(test_privileged),
		cmocka_unit_test(test_capabilities),
		cmocka_unit_test(test_devices),
		cmocka_unit_test(test_host_namespaces),
		cmocka_unit_test(test_hooks_and_own_paths),
		cmocka_unit_test(test_policy_settings),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
