/* getopt-util.c — refusing options that would take a secret on the command
 * line (see getopt-util.h). */
#include "getopt-util.h"
#include "log.h"

bool getopt_refused(int c, const char *also)
{
	if (c != GETOPT_ARG_ETCD_PASSWORD)
		return false;
	log_error("--etcd-password: no option takes the password itself (any user of the host "
	          "may read a command line); write it to a file, as its first line, and pass "
	          "--etcd-password-file FILE%s%s",
	          also ? " " : "", also ?: "");
	return true;
}
