/* metrics-errors.h — the error counters every podmig daemon exports:
 * podmig_etcd_request_errors_total, podmig_grpc_client_errors_total and
 * podmig_grpc_server_errors_total, each by gRPC code, copied at every scrape
 * from the counts src/etcd and src/rpc keep for the whole process. */
#pragma once

#include "metrics.h"

int metrics_errors_register(MetricsRegistry *r);
