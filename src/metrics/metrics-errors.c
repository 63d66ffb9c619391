/* metrics-errors.c — the process's etcd and gRPC error counts as metrics. */
#include "metrics-errors.h"

#include "etcd.h"
#include "rpc.h"

typedef struct ErrorMetrics {
	Metric *etcd, *client, *server;
} ErrorMetrics;

/* the non-OK codes' names, NULL-terminated: the label's values */
static const char *codes[_RPC_CODE_MAX];
static ErrorMetrics metrics;

static void collect(MetricsRegistry *r, void *userdata)
{
	ErrorMetrics *m = userdata;
	uint64_t client[_RPC_CODE_MAX], server[_RPC_CODE_MAX], etcd[_RPC_CODE_MAX];

	rpc_error_counts(client, server);
	etcd_error_counts(etcd);
	for (size_t i = 1; i < _RPC_CODE_MAX; i++) {
		(void)metric_set(m->client, (double)client[i], codes[i - 1]);
		(void)metric_set(m->server, (double)server[i], codes[i - 1]);
		(void)metric_set(m->etcd, (double)etcd[i], codes[i - 1]);
	}
}

int metrics_errors_register(MetricsRegistry *r)
{
	int k;

	for (size_t i = 1; i < _RPC_CODE_MAX; i++)
		codes[i - 1] = rpc_code_to_string((RpcCode)i);
	const struct {
		Metric **metric;
		MetricDesc desc;
	} defs[] = {
		{ &metrics.etcd,
		  { METRIC_COUNTER,
		    "podmig_etcd_request_errors_total",
		    "etcd requests that failed after retries and failover, by gRPC code.",
		    { { "code", codes } } } },
		{ &metrics.client,
		  { METRIC_COUNTER,
		    "podmig_grpc_client_errors_total",
		    "gRPC calls this process made (etcd's included) that ended with an error, "
		    "by code.",
		    { { "code", codes } } } },
		{ &metrics.server,
		  { METRIC_COUNTER,
		    "podmig_grpc_server_errors_total",
		    "gRPC calls this process served that it answered with an error, by code.",
		    { { "code", codes } } } },
	};
	for (size_t i = 0; i < ELEMENTSOF(defs); i++)
		if ((k = metrics_register(r, &defs[i].desc, defs[i].metric)) < 0)
			return k;
	return metrics_add_collector(r, collect, &metrics);
}
