/* test-send-pipeline.c — the source's send pipeline: bytes arrive in order
 * and in whole chunks, a slow sender holds the producer back after `slots`
 * chunks, and a failed send in any slot stops everything with its error. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "send-pipeline.h"
#include "time-util.h"

#define CHUNK 64
#define SLOTS 4

typedef struct Sink {
	uint8_t *data; /* everything sent, in order */
	size_t len, cap;
	unsigned calls;
	unsigned fail_at; /* the call that fails (1-based); 0: none */
	int fail_error;
	size_t chunk_lens[64];
	/* gate: while closed, a send waits */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool closed;
	unsigned waiting;
} Sink;

static void sink_init(Sink *k)
{
	*k = (Sink){ .fail_error = -EPIPE };
	pthread_mutex_init(&k->lock, NULL);
	pthread_cond_init(&k->cond, NULL);
}

static void sink_done(Sink *k)
{
	free(k->data);
	pthread_cond_destroy(&k->cond);
	pthread_mutex_destroy(&k->lock);
}

static int sink_send(uint8_t *chunk, size_t len, void *userdata)
{
	Sink *k = userdata;
	pthread_mutex_lock(&k->lock);
	k->waiting++;
	pthread_cond_broadcast(&k->cond);
	while (k->closed)
		pthread_cond_wait(&k->cond, &k->lock);
	k->waiting--;
	unsigned call = ++k->calls;
	pthread_mutex_unlock(&k->lock);
	if (call == k->fail_at)
		return k->fail_error;
	if (call <= ELEMENTSOF(k->chunk_lens))
		k->chunk_lens[call - 1] = len;
	if (k->len + len > k->cap) {
		k->cap = (k->len + len) * 2;
		k->data = realloc(k->data, k->cap);
		assert_non_null(k->data);
	}
	memcpy(k->data + k->len, chunk, len);
	k->len += len;
	return 0;
}

static void sink_gate(Sink *k, bool closed)
{
	pthread_mutex_lock(&k->lock);
	k->closed = closed;
	pthread_cond_broadcast(&k->cond);
	pthread_mutex_unlock(&k->lock);
}

static uint8_t *pattern(size_t n)
{
	uint8_t *b = malloc(n);
	assert_non_null(b);
	for (size_t i = 0; i < n; i++)
		b[i] = (uint8_t)(i * 7 + i / 251);
	return b;
}

static void test_bad_arguments(void **state)
{
	SendPipeline *p = NULL;
	Sink k;
	assert_int_equal(send_pipeline_new(0, SLOTS, sink_send, &k, &p), -EINVAL);
	assert_int_equal(send_pipeline_new(CHUNK, 1, sink_send, &k, &p), -EINVAL);
	assert_int_equal(send_pipeline_new(CHUNK, SLOTS, NULL, &k, &p), -EINVAL);
	assert_null(p);
	assert_null(send_pipeline_free(NULL));
}

/* Odd-sized pushes come out as whole chunks, in order, then the tail at a
 * drain; a second stream after the drain follows the first. */
static void test_ordering(void **state)
{
	_cleanup_(send_pipeline_freep) SendPipeline *p = NULL;
	Sink k;
	sink_init(&k);
	size_t total = 10 * CHUNK + 17;
	uint8_t *src = pattern(2 * total);
	assert_int_equal(send_pipeline_new(CHUNK, SLOTS, sink_send, &k, &p), 0);

	for (size_t off = 0, step = 1; off < total; off += step, step = step % 97 + 13)
		assert_int_equal(send_pipeline_push(p, src + off, MIN(step, total - off)), 0);
	assert_int_equal(send_pipeline_drain(p), 0);
	assert_int_equal(k.len, total);
	assert_memory_equal(k.data, src, total);
	assert_int_equal(k.calls, 11);
	for (unsigned i = 0; i < 10; i++)
		assert_int_equal(k.chunk_lens[i], CHUNK);
	assert_int_equal(k.chunk_lens[10], 17);

	/* The next stream, after an idle pipeline. */
	assert_int_equal(send_pipeline_push(p, src + total, total), 0);
	assert_int_equal(send_pipeline_drain(p), 0);
	assert_int_equal(k.len, 2 * total);
	assert_memory_equal(k.data, src, 2 * total);
	/* An empty drain sends nothing. */
	assert_int_equal(send_pipeline_drain(p), 0);
	assert_int_equal(k.calls, 22);
	assert_int_equal(send_pipeline_error(p), 0);
	p = send_pipeline_free(p);
	free(src);
	sink_done(&k);
}

typedef struct Producer {
	SendPipeline *p;
	const uint8_t *src;
	unsigned chunks;
	atomic_uint pushed; /* chunks whose push returned */
	int r;
} Producer;

static void *producer(void *userdata)
{
	Producer *pr = userdata;
	for (unsigned i = 0; i < pr->chunks; i++) {
		pr->r = send_pipeline_push(pr->p, pr->src + (size_t)i * CHUNK, CHUNK);
		if (pr->r < 0)
			return NULL;
		atomic_fetch_add(&pr->pushed, 1);
	}
	pr->r = send_pipeline_drain(pr->p);
	return NULL;
}

/* A sender that does not make progress holds the producer back: no more
 * than SLOTS chunks are ever held (the one being sent included). */
/* A pipeline whose sender is stuck (gate closed) and a producer thread
 * pushing 12 chunks into it, left once the ring is full. */
typedef struct Stuck {
	SendPipeline *p;
	Sink k;
	uint8_t *src;
	Producer pr;
	pthread_t producer;
} Stuck;

static void stuck_start(Stuck *st)
{
	sink_init(&st->k);
	st->src = pattern(12 * CHUNK);
	assert_int_equal(send_pipeline_new(CHUNK, SLOTS, sink_send, &st->k, &st->p), 0);
	sink_gate(&st->k, true);
	st->pr = (Producer){ .p = st->p, .src = st->src, .chunks = 12 };
	assert_int_equal(pthread_create(&st->producer, NULL, producer, &st->pr), 0);
	/* The sender holds the first chunk, waiting at the gate; three more fill
	 * the ring. Both must have happened before a test goes on (a loaded
	 * machine may take its time; 10 s is a liveness bound, not a timing). */
	bool ready = false;
	for (int i = 0; i < 2000 && !ready; i++) {
		pthread_mutex_lock(&st->k.lock);
		ready = st->k.waiting == 1 && atomic_load(&st->pr.pushed) >= SLOTS - 1;
		pthread_mutex_unlock(&st->k.lock);
		if (!ready)
			sleep_usec(5 * USEC_PER_MSEC);
	}
	assert_true(ready);
}

/* Opens the gate, waits for the producer and frees all. */
static void stuck_finish(Stuck *st)
{
	sink_gate(&st->k, false);
	assert_int_equal(pthread_join(st->producer, NULL), 0);
	st->p = send_pipeline_free(st->p);
	free(st->src);
	sink_done(&st->k);
}

/* A sender that does not make progress holds the producer back: no more
 * than SLOTS chunks are ever held (the one being sent included). */
static void test_back_pressure(void **state)
{
	Stuck st;
	stuck_start(&st);
	sleep_usec(100 * USEC_PER_MSEC);
	assert_int_equal(atomic_load(&st.pr.pushed), SLOTS - 1);
	pthread_mutex_lock(&st.k.lock);
	assert_int_equal(st.k.waiting, 1);
	assert_int_equal(st.k.calls, 0);
	pthread_mutex_unlock(&st.k.lock);

	/* Once the sender moves, everything arrives in order. */
	sink_gate(&st.k, false);
	assert_int_equal(pthread_join(st.producer, NULL), 0);
	assert_int_equal(st.pr.r, 0);
	assert_int_equal(atomic_load(&st.pr.pushed), 12);
	assert_int_equal(st.k.len, 12 * CHUNK);
	assert_memory_equal(st.k.data, st.src, 12 * CHUNK);
	st.p = send_pipeline_free(st.p);
	free(st.src);
	sink_done(&st.k);
}

/* A send failing in any slot of the ring (and on any lap): the producer
 * gets that error instead of waiting, nothing after it is sent, and what
 * was sent before it is intact. */
static void test_error_in_any_slot(void **state)
{
	for (unsigned fail_at = 1; fail_at <= 2 * SLOTS + 1; fail_at++) {
		_cleanup_(send_pipeline_freep) SendPipeline *p = NULL;
		Sink k;
		sink_init(&k);
		k.fail_at = fail_at;
		uint8_t *src = pattern(20 * CHUNK);
		assert_int_equal(send_pipeline_new(CHUNK, SLOTS, sink_send, &k, &p), 0);

		Producer pr = { .p = p, .src = src, .chunks = 20 };
		producer(&pr);
		assert_int_equal(pr.r, -EPIPE);
		assert_int_equal(send_pipeline_error(p), -EPIPE);
		/* Later pushes and drains keep failing with the same error. */
		assert_int_equal(send_pipeline_push(p, src, CHUNK), -EPIPE);
		assert_int_equal(send_pipeline_drain(p), -EPIPE);
		p = send_pipeline_free(p);
		assert_int_equal(k.calls, fail_at);
		assert_int_equal(k.len, (size_t)(fail_at - 1) * CHUNK);
		assert_memory_equal(k.data ?: src, src, k.len);
		free(src);
		sink_done(&k);
	}
}

/* A cancel releases a producer waiting on a stuck sender; freeing waits
 * for the send in progress and sends nothing more. */
static void test_cancel(void **state)
{
	Stuck st;
	stuck_start(&st);
	send_pipeline_cancel(st.p);
	stuck_finish(&st);
	assert_int_equal(st.pr.r, -ECANCELED);
	assert_int_equal(st.k.calls, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bad_arguments), cmocka_unit_test(test_ordering),
		cmocka_unit_test(test_back_pressure), cmocka_unit_test(test_error_in_any_slot),
		cmocka_unit_test(test_cancel),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
