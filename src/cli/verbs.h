/* verbs.h — the podmig commands that live outside main.c. */
#pragma once

#include <stddef.h>
#include <stdio.h>

#include "cli-common.h"

int verb_nodes(int argc, char *argv[]);
int verb_ps(int argc, char *argv[]);
int verb_migrate(int argc, char *argv[]);
int verb_history(int argc, char *argv[]);
int verb_policy(int argc, char *argv[]);
int verb_plan(int argc, char *argv[]);
int verb_decisions(int argc, char *argv[]);
int verb_drain(int argc, char *argv[]);
int verb_undrain(int argc, char *argv[]);
int verb_events(int argc, char *argv[]);

/* Draws a view (a table, or JSON with --json) into f. */
typedef int (*CliRender)(const ClusterOptions *o, FILE *f);
/* --watch: draws the view, then again on every change under the prefix until --timeout;
 * on a terminal it redraws in place under `title` (and each second, for the ages), else it
 * prints the view again whenever it changed. The exit status to return. */
int cli_watch(const ClusterOptions *o, const char *title, CliRender render);

/* The scheduler leader's name in buf ("" if none): 1 if one leads, 0 if none, or a
 * negative errno. */
int cli_scheduler_leader(const ClusterOptions *o, EtcdClient *etcd, char *buf, size_t size);
