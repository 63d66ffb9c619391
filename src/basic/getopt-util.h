/* getopt-util.h — what the programs' long options share. getopt_long takes
 * any unique prefix of a long option as the option, so in a program with
 * --etcd-password-file, "--etcd-password SECRET" would silently mean
 * "--etcd-password-file SECRET" and read the password as a file name. Such a
 * program declares GETOPT_REFUSED_OPTIONS among its options: an exact name
 * wins over a prefix, getopt_long returns its code, and getopt_refused()
 * says what to do instead. */
#pragma once

#include <getopt.h>
#include <stdbool.h>

/* getopt_long's code of --etcd-password (above every program's own codes). */
#define GETOPT_ARG_ETCD_PASSWORD 0x7f00

/* The refused options as struct option entries. The argument is optional so
 * that the refusal, not getopt's "requires an argument", is what a bare
 * --etcd-password hears; the value is never used. A shorter prefix
 * (--etcd-pass) fits both options, and getopt_long refuses it as ambiguous. */
#define GETOPT_REFUSED_OPTIONS                                                     \
	{                                                                          \
		"etcd-password", optional_argument, NULL, GETOPT_ARG_ETCD_PASSWORD \
	}

/* If `c` is the code of a refused option: logs why and what to use instead
 * (`also`, when not NULL, names further ways the program takes the secret),
 * never the value given, and returns true. False for any other code. */
bool getopt_refused(int c, const char *also);
