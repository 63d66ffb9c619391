/* fault.c — file-driven fault points for tests (see fault.h). */
#include "fault.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "macro.h"
#include "strutil.h"
#include "time-util.h"

FaultAction fault_lookup(const char *dir, const char *point, uint64_t *ret_arg)
{
	char path[PATH_MAX], word[32] = "";
	unsigned long long arg = 0;

	if (!dir || !point)
		return FAULT_NONE;
	snprintf(path, sizeof path, "%s/%s", dir, point);
	_cleanup_fclose_ FILE *f = fopen(path, "re");
	if (!f)
		return FAULT_NONE;
	if (fscanf(f, "%31s %llu", word, &arg) < 1)
		return FAULT_NONE;
	if (ret_arg)
		*ret_arg = arg;
	if (streq(word, "pause"))
		return FAULT_PAUSE;
	if (streq(word, "fail"))
		return FAULT_FAIL;
	if (streq(word, "corrupt"))
		return FAULT_CORRUPT;
	return FAULT_NONE;
}

int fault_point(const char *dir, const char *point, uint64_t timeout_usec)
{
	char armed[PATH_MAX], paused[PATH_MAX];

	switch (fault_lookup(dir, point, NULL)) {
	case FAULT_FAIL:
		log_notice("fault point %s: failing as the test asked", point);
		return -EIO;
	case FAULT_PAUSE:
		break;
	default:
		return 0;
	}
	snprintf(armed, sizeof armed, "%s/%s", dir, point);
	snprintf(paused, sizeof paused, "%s/%s.paused", dir, point);
	log_notice("fault point %s: pausing until %s is removed", point, armed);
	int fd = open(paused, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	if (fd >= 0)
		close(fd);
	for (uint64_t waited = 0; access(armed, F_OK) == 0 && waited < timeout_usec;
	     waited += 20000)
		sleep_usec(20 * USEC_PER_MSEC);
	unlink(paused);
	log_notice("fault point %s: going on", point);
	return 0;
}
