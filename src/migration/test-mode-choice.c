/* Unit tests for the migration mode choice: requests, fallbacks with their
 * reasons, and what `auto` picks from memory and link rate. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "mode-choice.h"

#define MIB (1024ull * 1024)

static void test_names(void **state)
{
	assert_int_equal(mode_request_from_string(""), MODE_REQUEST_AUTO);
	assert_int_equal(mode_request_from_string("auto"), MODE_REQUEST_AUTO);
	assert_int_equal(mode_request_from_string("page-server"), MODE_REQUEST_PAGE_SERVER);
	assert_int_equal(mode_request_from_string("stop-and-copy"), MODE_REQUEST_STOP_AND_COPY);
	assert_int_equal(mode_request_from_string("pre-copy"), MODE_REQUEST_PRE_COPY);
	assert_int_equal(mode_request_from_string("post-copy"), MODE_REQUEST_POST_COPY);
	assert_int_equal(mode_request_from_string("postcopy"), MODE_REQUEST_POST_COPY);
	assert_int_equal(mode_request_from_string("lazy"), -EINVAL);
	assert_string_equal(mode_request_to_string(MODE_REQUEST_POST_COPY), "post-copy");
	assert_int_equal(mode_request_from_string(NULL), MODE_REQUEST_AUTO);
	assert_string_equal(mode_request_to_string(MODE_REQUEST_PAGE_SERVER), "page-server");
}

static void test_explicit(void **state)
{
	char why[256];
	ModeFacts none = { .page_server_why = "no annotation" };
	ModeFacts all = { .pre_copy = true, .page_server = true };

	assert_int_equal(mode_choose(MODE_REQUEST_STOP_AND_COPY, &all, why, sizeof why),
	                 MIGRATION_MODE_STOP_AND_COPY);
	assert_string_equal(why, "");
	assert_int_equal(mode_choose(MODE_REQUEST_PAGE_SERVER, &all, why, sizeof why),
	                 MIGRATION_MODE_PAGE_SERVER);
	assert_string_equal(why, "");
	/* a fallback says why */
	assert_int_equal(mode_choose(MODE_REQUEST_PAGE_SERVER, &none, why, sizeof why),
	                 MIGRATION_MODE_STOP_AND_COPY);
	assert_non_null(strstr(why, "no annotation"));
	assert_int_equal(mode_choose(MODE_REQUEST_PRE_COPY, &none, why, sizeof why),
	                 MIGRATION_MODE_STOP_AND_COPY);
	assert_non_null(strstr(why, "dirty"));
}

static void test_auto(void **state)
{
	char why[256];
	/* 1 GiB over 100 MB/s: ~10 s, pre-copy where it exists */
	ModeFacts slow = { .pre_copy = true,
		           .page_server = true,
		           .memory_bytes = 1024 * MIB,
		           .link_bytes_per_sec = 100000000 };
	assert_int_equal(mode_choose(MODE_REQUEST_AUTO, &slow, why, sizeof why),
	                 MIGRATION_MODE_PRE_COPY);
	assert_non_null(strstr(why, "auto: 1024 MiB"));
	/* 64 MiB over 1 GB/s: the page server */
	ModeFacts fast = { .pre_copy = true,
		           .page_server = true,
		           .memory_bytes = 64 * MIB,
		           .link_bytes_per_sec = 1000000000 };
	assert_int_equal(mode_choose(MODE_REQUEST_AUTO, &fast, why, sizeof why),
	                 MIGRATION_MODE_PAGE_SERVER);
	assert_non_null(strstr(why, "auto: page-server"));
	/* no dirty tracking (this kernel): page server whatever the size */
	slow.pre_copy = false;
	assert_int_equal(mode_choose(MODE_REQUEST_AUTO, &slow, why, sizeof why),
	                 MIGRATION_MODE_PAGE_SERVER);
	/* neither: stop-and-copy, with the reason the page server is out */
	ModeFacts none = { .page_server_why = "container c has no org.criu.config annotation" };
	assert_int_equal(mode_choose(MODE_REQUEST_AUTO, &none, why, sizeof why),
	                 MIGRATION_MODE_STOP_AND_COPY);
	assert_non_null(strstr(why, "no org.criu.config"));
	none.pre_copy = true;
	assert_int_equal(mode_choose(MODE_REQUEST_AUTO, &none, why, sizeof why),
	                 MIGRATION_MODE_PRE_COPY);
}

static void test_post_copy(void **state)
{
	char why[256];
	ModeFacts all = { .page_server = true, .post_copy = true, .memory_bytes = 512 * MIB };
	/* asked for: taken when possible, even without the label */
	assert_int_equal(mode_choose(MODE_REQUEST_POST_COPY, &all, why, sizeof why),
	                 MIGRATION_MODE_POST_COPY);
	assert_string_equal(why, "");
	/* auto picks it only with the owner's label */
	assert_int_equal(mode_choose(MODE_REQUEST_AUTO, &all, why, sizeof why),
	                 MIGRATION_MODE_PAGE_SERVER);
	all.post_copy_allowed = true;
	assert_int_equal(mode_choose(MODE_REQUEST_AUTO, &all, why, sizeof why),
	                 MIGRATION_MODE_POST_COPY);
	assert_non_null(strstr(why, "podmig.post-copy=allowed"));
	/* cannot: page-server when that works, else stop-and-copy, saying why */
	ModeFacts no = { .page_server = true,
		         .post_copy_why = "fs.pipe-max-size is too low",
		         .post_copy_allowed = true };
	assert_int_equal(mode_choose(MODE_REQUEST_POST_COPY, &no, why, sizeof why),
	                 MIGRATION_MODE_PAGE_SERVER);
	assert_non_null(strstr(why, "fs.pipe-max-size"));
	assert_int_equal(mode_choose(MODE_REQUEST_AUTO, &no, why, sizeof why),
	                 MIGRATION_MODE_PAGE_SERVER);
	no.page_server = false;
	assert_int_equal(mode_choose(MODE_REQUEST_POST_COPY, &no, why, sizeof why),
	                 MIGRATION_MODE_STOP_AND_COPY);
	assert_non_null(strstr(why, "stop-and-copy"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_explicit),
		cmocka_unit_test(test_auto),
		cmocka_unit_test(test_post_copy),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
