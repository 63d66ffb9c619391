/* cli-common.h — shared by the podmig commands that talk to the cluster. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "etcd.h"

#define DEFAULT_ETCD   "127.0.0.1:2379"
#define DEFAULT_PREFIX "/podmig/"

typedef struct ClusterOptions {
	const char *etcd;   /* comma-separated endpoints */
	const char *prefix; /* etcd key prefix, ends in '/' */
	bool json;
} ClusterOptions;

/* --etcd, --prefix, --json, --help and no positional arguments.
 * 1: go on; 0: help shown; negative: bad usage. */
int cli_parse(int argc, char *argv[], const char *verb, const char *what, ClusterOptions *o);
/* A client for o->etcd; logs why not. */
int cli_etcd_connect(const ClusterOptions *o, EtcdClient **ret);
/* Every node under <prefix>nodes/ as {"name", "info", "status"}, by name. */
int cli_nodes_load(const ClusterOptions *o, json_t **ret);
/* Seconds since the status document's timestamp, -1 if it has none. */
double cli_age_seconds(const json_t *status);
/* 1536 -> "1.5K" */
void cli_format_bytes(double v, char *buf, size_t size);
/* Pretty JSON on stdout; the exit status to return. */
int cli_print_json(json_t *doc);
