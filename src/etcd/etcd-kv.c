/* etcd-kv.c — key-value requests: get, prefix range, put, delete,
 * transactions and compare-and-swap. */
#include <string.h>

#include "etcd-internal.h"
#include "log.h"

static int range(EtcdClient *c, const char *key, bool prefix, Etcdserverpb__RangeResponse **ret)
{
	_cleanup_free_ uint8_t *end = malloc(strlen(key) + 1);
	if (!end)
		return -ENOMEM;
	Etcdserverpb__RangeRequest req = ETCDSERVERPB__RANGE_REQUEST__INIT;
	req.key = etcd_bytes(key);
	if (prefix) {
		req.range_end.len = etcd_prefix_range_end(key, end);
		req.range_end.data = end;
		req.sort_order = ETCDSERVERPB__RANGE_REQUEST__SORT_ORDER__ASCEND;
	}
	return etcd_call(c, &etcdserverpb__kv__descriptor, "Range", &req.base,
	                 (ProtobufCMessage **)ret);
}

int etcd_get(EtcdClient *c, const char *key, EtcdKeyValue *ret)
{
	_cleanup_message_ Etcdserverpb__RangeResponse *resp = NULL;
	int r = range(c, key, false, &resp);
	if (r < 0)
		return r;
	if (resp->n_kvs == 0)
		return ETCD_NOT_FOUND;
	return etcd_key_value_from_pb(resp->kvs[0], ret);
}

int etcd_get_prefix(EtcdClient *c, const char *prefix, EtcdKeyValue **ret_kvs, size_t *ret_n,
                    int64_t *ret_revision)
{
	_cleanup_message_ Etcdserverpb__RangeResponse *resp = NULL;
	int r = range(c, prefix, true, &resp);
	if (r < 0)
		return r;
	return etcd_range_response_parse(resp, ret_kvs, ret_n, ret_revision);
}

int etcd_put(EtcdClient *c, const char *key, const char *value, size_t value_size, int64_t lease,
             int64_t *ret_revision)
{
	Etcdserverpb__PutRequest req = ETCDSERVERPB__PUT_REQUEST__INIT;
	req.key = etcd_bytes(key);
	req.value = (ProtobufCBinaryData){ .len = value_size, .data = (uint8_t *)value };
	req.lease = lease;
	_cleanup_message_ Etcdserverpb__PutResponse *resp = NULL;
	int r = etcd_call(c, &etcdserverpb__kv__descriptor, "Put", &req.base,
	                  (ProtobufCMessage **)&resp);
	if (r < 0)
		return r;
	if (ret_revision)
		*ret_revision = etcd_header_revision(resp->header);
	return 0;
}

static int delete_range(EtcdClient *c, const char *key, bool prefix, int64_t *ret_deleted)
{
	_cleanup_free_ uint8_t *end = malloc(strlen(key) + 1);
	if (!end)
		return -ENOMEM;
	Etcdserverpb__DeleteRangeRequest req = ETCDSERVERPB__DELETE_RANGE_REQUEST__INIT;
	req.key = etcd_bytes(key);
	if (prefix) {
		req.range_end.len = etcd_prefix_range_end(key, end);
		req.range_end.data = end;
	}
	_cleanup_message_ Etcdserverpb__DeleteRangeResponse *resp = NULL;
	int r = etcd_call(c, &etcdserverpb__kv__descriptor, "DeleteRange", &req.base,
	                  (ProtobufCMessage **)&resp);
	if (r < 0)
		return r;
	if (ret_deleted)
		*ret_deleted = resp->deleted;
	return 0;
}

int etcd_delete(EtcdClient *c, const char *key, int64_t *ret_deleted)
{
	return delete_range(c, key, false, ret_deleted);
}

int etcd_delete_prefix(EtcdClient *c, const char *prefix, int64_t *ret_deleted)
{
	return delete_range(c, prefix, true, ret_deleted);
}

/* Storage for the request messages of one transaction operation. */
typedef struct TxnOp {
	Etcdserverpb__RequestOp op;
	Etcdserverpb__PutRequest put;
	Etcdserverpb__DeleteRangeRequest del;
	uint8_t *range_end;
} TxnOp;

static int txn_ops_fill(const EtcdOp *ops, size_t n, TxnOp *store, Etcdserverpb__RequestOp **ptrs)
{
	for (size_t i = 0; i < n; i++) {
		TxnOp *t = &store[i];
		t->op = (Etcdserverpb__RequestOp)ETCDSERVERPB__REQUEST_OP__INIT;
		switch (ops[i].type) {
		case ETCD_OP_PUT:
			t->put = (Etcdserverpb__PutRequest)ETCDSERVERPB__PUT_REQUEST__INIT;
			t->put.key = etcd_bytes(ops[i].key);
			t->put.value = etcd_bytes(ops[i].value);
			t->put.lease = ops[i].lease;
			t->op.request_case = ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_PUT;
			t->op.request_put = &t->put;
			break;
		case ETCD_OP_DELETE:
		case ETCD_OP_DELETE_PREFIX:
			t->del = (Etcdserverpb__DeleteRangeRequest)
			        ETCDSERVERPB__DELETE_RANGE_REQUEST__INIT;
			t->del.key = etcd_bytes(ops[i].key);
			if (ops[i].type == ETCD_OP_DELETE_PREFIX) {
				t->range_end = malloc(strlen(ops[i].key) + 1);
				if (!t->range_end)
					return -ENOMEM;
				t->del.range_end.len =
				        etcd_prefix_range_end(ops[i].key, t->range_end);
				t->del.range_end.data = t->range_end;
			}
			t->op.request_case = ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_DELETE_RANGE;
			t->op.request_delete_range = &t->del;
			break;
		default:
			return -EINVAL;
		}
		ptrs[i] = &t->op;
	}
	return 0;
}

static void txn_ops_free(TxnOp *store, size_t n)
{
	for (size_t i = 0; store && i < n; i++)
		free(store[i].range_end);
	free(store);
}

int etcd_txn(EtcdClient *c, const EtcdCompare *compares, size_t n_compares, const EtcdOp *then,
             size_t n_then, const EtcdOp *otherwise, size_t n_otherwise, int64_t *ret_revision)
{
	size_t n_ops = n_then + n_otherwise;
	_cleanup_free_ Etcdserverpb__Compare *cmp = calloc(MAX(n_compares, 1u), sizeof(*cmp));
	_cleanup_free_ Etcdserverpb__Compare **cmp_ptrs =
	        calloc(MAX(n_compares, 1u), sizeof(*cmp_ptrs));
	TxnOp *store = calloc(MAX(n_ops, 1u), sizeof(TxnOp));
	_cleanup_free_ Etcdserverpb__RequestOp **op_ptrs = calloc(MAX(n_ops, 1u), sizeof(*op_ptrs));
	int r;

	if (!cmp || !cmp_ptrs || !store || !op_ptrs) {
		r = -ENOMEM;
		goto finish;
	}
	for (size_t i = 0; i < n_compares; i++) {
		const EtcdCompare *e = &compares[i];
		Etcdserverpb__Compare *p = &cmp[i];
		*p = (Etcdserverpb__Compare)ETCDSERVERPB__COMPARE__INIT;
		p->key = etcd_bytes(e->key);
		p->result = (Etcdserverpb__Compare__CompareResult)e->op;
		p->target = (Etcdserverpb__Compare__CompareTarget)e->target;
		switch (e->target) {
		case ETCD_COMPARE_VERSION:
			p->target_union_case = ETCDSERVERPB__COMPARE__TARGET_UNION_VERSION;
			p->version = e->number;
			break;
		case ETCD_COMPARE_CREATE_REVISION:
			p->target_union_case = ETCDSERVERPB__COMPARE__TARGET_UNION_CREATE_REVISION;
			p->create_revision = e->number;
			break;
		case ETCD_COMPARE_MOD_REVISION:
			p->target_union_case = ETCDSERVERPB__COMPARE__TARGET_UNION_MOD_REVISION;
			p->mod_revision = e->number;
			break;
		case ETCD_COMPARE_VALUE:
			p->target_union_case = ETCDSERVERPB__COMPARE__TARGET_UNION_VALUE;
			p->value = etcd_bytes(e->value);
			break;
		default:
			r = -EINVAL;
			goto finish;
		}
		cmp_ptrs[i] = p;
	}
	r = txn_ops_fill(then, n_then, store, op_ptrs);
	if (r < 0)
		goto finish;
	r = txn_ops_fill(otherwise, n_otherwise, store + n_then, op_ptrs + n_then);
	if (r < 0)
		goto finish;

	{
		Etcdserverpb__TxnRequest req = ETCDSERVERPB__TXN_REQUEST__INIT;
		req.n_compare = n_compares;
		req.compare = cmp_ptrs;
		req.n_success = n_then;
		req.success = op_ptrs;
		req.n_failure = n_otherwise;
		req.failure = op_ptrs + n_then;
		_cleanup_message_ Etcdserverpb__TxnResponse *resp = NULL;
		r = etcd_call(c, &etcdserverpb__kv__descriptor, "Txn", &req.base,
		              (ProtobufCMessage **)&resp);
		if (r < 0)
			goto finish; /* leaves the block: resp is freed */
		if (ret_revision)
			*ret_revision = etcd_header_revision(resp->header);
		r = resp->succeeded ? 1 : 0;
	}
finish:
	txn_ops_free(store, n_ops);
	return r;
}

int etcd_compare_and_swap(EtcdClient *c, const char *key, int64_t expected_mod_revision,
                          const char *value, int64_t lease, int64_t *ret_revision)
{
	EtcdCompare cmp = {
		.key = key,
		/* a missing key has mod_revision 0 too, but compare what is meant */
		.target = expected_mod_revision == 0 ? ETCD_COMPARE_CREATE_REVISION
		                                     : ETCD_COMPARE_MOD_REVISION,
		.op = ETCD_EQUAL,
		.number = expected_mod_revision,
	};
	EtcdOp put = { .type = ETCD_OP_PUT, .key = key, .value = value, .lease = lease };
	int64_t rev;
	int r = etcd_txn(c, &cmp, 1, &put, 1, NULL, 0, &rev);
	if (r < 0)
		return r;
	if (r == 0)
		return ETCD_CAS_FAILED;
	if (ret_revision)
		*ret_revision = rev;
	return 0;
}
