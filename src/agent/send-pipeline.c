/* send-pipeline.c — a ring of chunks between one producer and one sender
 * thread: q_count chunks are queued from q_head on, and the one after them
 * is being filled. The sender frees a slot only once its send returned, so
 * at most `slots` chunks are held at any time. */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "send-pipeline.h"

struct SendPipeline {
	SendPipelineSend send;
	void *userdata;
	size_t chunk_size;
	unsigned n_slots;

	pthread_t thread;
	bool thread_running;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	uint8_t **slots;
	size_t *slot_len;
	unsigned q_head, q_count;
	bool stop;
	int error; /* the first failure; guarded by lock */
};

static void *send_pipeline_thread(void *userdata)
{
	SendPipeline *p = userdata;
	pthread_mutex_lock(&p->lock);
	for (;;) {
		while (p->q_count == 0 && !p->stop)
			pthread_cond_wait(&p->cond, &p->lock);
		if (p->q_count == 0)
			break;
		unsigned i = p->q_head;
		int error = p->error;
		pthread_mutex_unlock(&p->lock);
		/* After a failure the rest is dropped, so the producer never waits. */
		int r = error ? 0 : p->send(p->slots[i], p->slot_len[i], p->userdata);
		pthread_mutex_lock(&p->lock);
		if (r < 0 && !p->error)
			p->error = r;
		p->q_head = (p->q_head + 1) % p->n_slots;
		p->q_count--;
		pthread_cond_broadcast(&p->cond);
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

int send_pipeline_new(size_t chunk_size, unsigned slots, SendPipelineSend send, void *userdata,
                      SendPipeline **ret)
{
	_cleanup_(send_pipeline_freep) SendPipeline *p = NULL;

	if (chunk_size == 0 || slots < 2 || !send)
		return -EINVAL;
	if (!(p = calloc(1, sizeof *p)))
		return -ENOMEM;
	p->send = send;
	p->userdata = userdata;
	p->chunk_size = chunk_size;
	p->n_slots = slots;
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->cond, NULL);
	if (!(p->slots = calloc(slots, sizeof *p->slots)) ||
	    !(p->slot_len = calloc(slots, sizeof *p->slot_len)))
		return -ENOMEM;
	for (unsigned i = 0; i < slots; i++)
		if (!(p->slots[i] = malloc(chunk_size)))
			return -ENOMEM;
	int r = pthread_create(&p->thread, NULL, send_pipeline_thread, p);
	if (r != 0)
		return -r;
	p->thread_running = true;
	*ret = TAKE_PTR(p);
	return 0;
}

/* The slot being filled; only the producer changes its length. */
static unsigned send_pipeline_fill_slot(SendPipeline *p, int *ret_error)
{
	pthread_mutex_lock(&p->lock);
	unsigned fill = (p->q_head + p->q_count) % p->n_slots;
	*ret_error = p->error;
	pthread_mutex_unlock(&p->lock);
	return fill;
}

/* Hands the chunk being filled to the sender and waits for a free slot. */
static int send_pipeline_enqueue(SendPipeline *p)
{
	pthread_mutex_lock(&p->lock);
	p->q_count++;
	pthread_cond_broadcast(&p->cond);
	while (p->q_count == p->n_slots && !p->error)
		pthread_cond_wait(&p->cond, &p->lock);
	int r = p->error;
	unsigned fill = (p->q_head + p->q_count) % p->n_slots;
	pthread_mutex_unlock(&p->lock);
	p->slot_len[fill] = 0;
	return r;
}

int send_pipeline_push(SendPipeline *p, const void *data, size_t size)
{
	const uint8_t *d = data;
	while (size > 0) {
		int error;
		unsigned fill = send_pipeline_fill_slot(p, &error);
		if (error < 0)
			return error;
		size_t n = MIN(size, p->chunk_size - p->slot_len[fill]);
		memcpy(p->slots[fill] + p->slot_len[fill], d, n);
		p->slot_len[fill] += n;
		d += n;
		size -= n;
		if (p->slot_len[fill] == p->chunk_size) {
			int r = send_pipeline_enqueue(p);
			if (r < 0)
				return r;
		}
	}
	return 0;
}

int send_pipeline_drain(SendPipeline *p)
{
	int error;
	unsigned fill = send_pipeline_fill_slot(p, &error);
	if (error < 0)
		return error;
	if (p->slot_len[fill] > 0) {
		int r = send_pipeline_enqueue(p);
		if (r < 0)
			return r;
	}
	pthread_mutex_lock(&p->lock);
	while (p->q_count > 0 && !p->error)
		pthread_cond_wait(&p->cond, &p->lock);
	int r = p->error;
	pthread_mutex_unlock(&p->lock);
	return r;
}

void send_pipeline_cancel(SendPipeline *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	if (!p->error)
		p->error = -ECANCELED;
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);
}

int send_pipeline_error(SendPipeline *p)
{
	pthread_mutex_lock(&p->lock);
	int r = p->error;
	pthread_mutex_unlock(&p->lock);
	return r;
}

SendPipeline *send_pipeline_free(SendPipeline *p)
{
	if (!p)
		return NULL;
	if (p->thread_running) {
		pthread_mutex_lock(&p->lock);
		p->stop = true;
		pthread_cond_broadcast(&p->cond);
		pthread_mutex_unlock(&p->lock);
		pthread_join(p->thread, NULL);
	}
	pthread_cond_destroy(&p->cond);
	pthread_mutex_destroy(&p->lock);
	if (p->slots)
		for (unsigned i = 0; i < p->n_slots; i++)
			free(p->slots[i]);
	free(p->slots);
	free(p->slot_len);
	free(p);
	return NULL;
}
