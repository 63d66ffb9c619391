/* mode-choice.h — which mode a migration uses: what was asked for (a request's
 * --mode, or the scheduler policy's default), what the container and the
 * nodes can do, and for `auto` the container's memory and the link's rate.
 * A mode that cannot be used falls back to stop-and-copy; the reason goes
 * into the record (mode_reason). Pure. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "migration-record.h"

typedef enum ModeRequest {
	MODE_REQUEST_AUTO,
	MODE_REQUEST_STOP_AND_COPY,
	MODE_REQUEST_PRE_COPY,
	MODE_REQUEST_PAGE_SERVER,
	MODE_REQUEST_POST_COPY,
	_MODE_REQUEST_MAX,
} ModeRequest;

const char *mode_request_to_string(ModeRequest m);
/* "" is auto; "postcopy" is post-copy; -EINVAL for an unknown name. */
int mode_request_from_string(const char *s);

typedef struct ModeFacts {
	bool pre_copy;               /* the source's kernel tracks dirty memory, pre-copy allowed */
	bool page_server;            /* the container names the agent's CRIU configuration file */
	const char *page_server_why; /* why not, when it cannot (NULL otherwise) */
	/* both agents can do post-copy and the container can take part
	 * (page-server's conditions, no root filesystem changes) */
	bool post_copy;
	const char *post_copy_why; /* why not, when it cannot (NULL otherwise) */
	/* the container's owner allows post-copy (label podmig.post-copy=allowed):
	 * only then may `auto` pick it */
	bool post_copy_allowed;
	uint64_t memory_bytes;       /* the container's, as last sampled; 0: unknown */
	uint64_t link_bytes_per_sec; /* the source's link; 0: unknown */
} ModeFacts;

/* The label with which a container's owner lets `auto` pick post-copy: a
 * post-copy whose link breaks loses the container's newest state on the
 * target (it resumes on the source from its checkpoint time), and a
 * container whose working set is large runs slowly until its pages came. */
#define MODE_POST_COPY_LABEL "podmig.post-copy"
#define MODE_POST_COPY_ALLOW "allowed"

/* Seconds of memory at the link's rate from which `auto` prefers pre-copy
 * (its first round runs while the container still runs) to a page server. */
#define MODE_AUTO_PRE_COPY_SECONDS 2.0

/* The mode to use, and in ret_reason (size bytes) why, when it is not the
 * one asked for or `auto` chose it; "" otherwise. */
MigrationMode mode_choose(ModeRequest want, const ModeFacts *facts, char *ret_reason, size_t size);
