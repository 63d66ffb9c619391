/* conf-file.h — the configuration files of podmig's programs
 * (/etc/podmig/agent.conf, scheduler.conf, podmig.conf): one setting per
 * line, "key = value" (or "key value"), the keys being the programs' long
 * option names; '#' starts a comment line; blank lines are skipped;
 * leading and trailing blanks are dropped. A key given twice: the later
 * line wins (a repeatable option's values add up). Lines are at most
 * CONF_LINE_MAX bytes, files at most CONF_LINES_MAX lines. */
#pragma once

#include "error-util.h"

#define CONF_LINE_MAX  4096
#define CONF_LINES_MAX 10000

/* One setting: 0, -ENOENT for an unknown key (the caller names file and
 * line), another negative errno with the reason in `error` for a bad value. */
typedef int (*ConfSetFunc)(const char *key, const char *value, void *userdata, ErrorDetail *error);

/* Reads `path` and calls `set` for each setting, in order. -ENOENT if the
 * file does not exist (nothing set), any other failure with "PATH:LINE:
 * reason" (or "PATH: reason") in `error`; -ENOMEM as it is. Settings before
 * a bad line have been applied: callers load into a scratch config or give
 * up. */
int conf_file_load(const char *path, ConfSetFunc set, void *userdata, ErrorDetail *error);
