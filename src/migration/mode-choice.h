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
	_MODE_REQUEST_MAX,
} ModeRequest;

const char *mode_request_to_string(ModeRequest m);
/* "" is auto; -EINVAL for an unknown name. */
int mode_request_from_string(const char *s);

typedef struct ModeFacts {
	bool pre_copy;               /* the source's kernel tracks dirty memory, pre-copy allowed */
	bool page_server;            /* the container names the agent's CRIU configuration file */
	const char *page_server_why; /* why not, when it cannot (NULL otherwise) */
	uint64_t memory_bytes;       /* the container's, as last sampled; 0: unknown */
	uint64_t link_bytes_per_sec; /* the source's link; 0: unknown */
} ModeFacts;

/* Seconds of memory at the link's rate from which `auto` prefers pre-copy
 * (its first round runs while the container still runs) to a page server. */
#define MODE_AUTO_PRE_COPY_SECONDS 2.0

/* The mode to use, and in ret_reason (size bytes) why, when it is not the
 * one asked for or `auto` chose it; "" otherwise. */
MigrationMode mode_choose(ModeRequest want, const ModeFacts *facts, char *ret_reason, size_t size);
