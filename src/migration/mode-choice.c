/* mode-choice.c — the migration mode from the request and the facts
 * (mode-choice.h). */
#include "mode-choice.h"

#include <errno.h>
#include <stdio.h>

#include "string-table.h"
#include "strutil.h"

static const char *const mode_request_table[_MODE_REQUEST_MAX] = {
	[MODE_REQUEST_AUTO] = "auto",           [MODE_REQUEST_STOP_AND_COPY] = "stop-and-copy",
	[MODE_REQUEST_PRE_COPY] = "pre-copy",   [MODE_REQUEST_PAGE_SERVER] = "page-server",
	[MODE_REQUEST_POST_COPY] = "post-copy",
};
DEFINE_STRING_TABLE_LOOKUP_TO_STRING(mode_request, ModeRequest);

int mode_request_from_string(const char *s)
{
	if (!s || !*s)
		return MODE_REQUEST_AUTO;
	if (streq(s, "postcopy"))
		return MODE_REQUEST_POST_COPY;
	return string_table_lookup_from_string(mode_request_table, ELEMENTSOF(mode_request_table),
	                                       s);
}

MigrationMode mode_choose(ModeRequest want, const ModeFacts *f, char *reason, size_t size)
{
	double mib = (double)f->memory_bytes / (1024.0 * 1024.0);
	double seconds = f->link_bytes_per_sec && f->memory_bytes
	                         ? (double)f->memory_bytes / (double)f->link_bytes_per_sec
	                         : 0;

	reason[0] = 0;
	switch (want) {
	case MODE_REQUEST_STOP_AND_COPY:
		return MIGRATION_MODE_STOP_AND_COPY;
	case MODE_REQUEST_PRE_COPY:
		if (f->pre_copy)
			return MIGRATION_MODE_PRE_COPY;
		snprintf(reason, size,
		         "pre-copy asked for, but the source's kernel does not track dirty "
		         "memory (or pre-copy is off there): stop-and-copy");
		return MIGRATION_MODE_STOP_AND_COPY;
	case MODE_REQUEST_PAGE_SERVER:
		if (f->page_server)
			return MIGRATION_MODE_PAGE_SERVER;
		snprintf(reason, size, "page-server asked for, but %s: stop-and-copy",
		         f->page_server_why ?: "the container cannot use it");
		return MIGRATION_MODE_STOP_AND_COPY;
	case MODE_REQUEST_POST_COPY:
		if (f->post_copy)
			return MIGRATION_MODE_POST_COPY;
		if (f->page_server) {
			snprintf(reason, size, "post-copy asked for, but %s: page-server",
			         f->post_copy_why ?: "the container cannot use it");
			return MIGRATION_MODE_PAGE_SERVER;
		}
		snprintf(reason, size, "post-copy asked for, but %s: stop-and-copy",
		         f->post_copy_why ?: "the container cannot use it");
		return MIGRATION_MODE_STOP_AND_COPY;
	case MODE_REQUEST_AUTO:
	default:
		break;
	}
	if (f->post_copy && f->post_copy_allowed) {
		snprintf(reason, size,
		         "auto: post-copy (the container allows it with %s=%s; %.0f MiB of "
		         "memory follow while it runs on the target)",
		         MODE_POST_COPY_LABEL, MODE_POST_COPY_ALLOW, mib);
		return MIGRATION_MODE_POST_COPY;
	}
	if (f->pre_copy && seconds >= MODE_AUTO_PRE_COPY_SECONDS) {
		snprintf(reason, size,
		         "auto: %.0f MiB take %.1f s at the link's rate: pre-copy moves most "
		         "of it while the container runs",
		         mib, seconds);
		return MIGRATION_MODE_PRE_COPY;
	}
	if (f->page_server) {
		snprintf(reason, size,
		         "auto: page-server (%.0f MiB of memory%s%.1f s at the link's rate; "
		         "pages bypass Podman's archive)",
		         mib, seconds > 0 ? ", " : "", seconds);
		return MIGRATION_MODE_PAGE_SERVER;
	}
	if (f->pre_copy) {
		snprintf(reason, size, "auto: pre-copy (%s)",
		         f->page_server_why ?: "no page server for this container");
		return MIGRATION_MODE_PRE_COPY;
	}
	snprintf(reason, size, "auto: stop-and-copy (no dirty-memory tracking on the source; %s)",
	         f->page_server_why ?: "no page server for this container");
	return MIGRATION_MODE_STOP_AND_COPY;
}
