/* send-pipeline.h — a bounded, ordered hand-over of fixed-size chunks from
 * a producer (Podman's checkpoint stream) to a sender thread (hashing and
 * gRPC sends), so reading, hashing and sending overlap instead of taking
 * turns. It knows nothing of gRPC: the sender is a callback. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "macro.h"

/* Sends one full (or, at a drain, the last partial) chunk; called on the
 * pipeline's thread, in the order the bytes were pushed. A negative return
 * stops the pipeline: later chunks are dropped unsent and every later push
 * or drain returns that error. */
typedef int (*SendPipelineSend)(uint8_t *chunk, size_t len, void *userdata);

typedef struct SendPipeline SendPipeline;

/* `slots` chunks of `chunk_size` bytes: at most that many are queued or
 * being sent; a push that would need one more waits (back-pressure). */
int send_pipeline_new(size_t chunk_size, unsigned slots, SendPipelineSend send, void *userdata,
                      SendPipeline **ret);

/* The next bytes of the stream. Returns the first send error, if any. */
int send_pipeline_push(SendPipeline *p, const void *data, size_t size);

/* Queues the partial chunk and waits until everything pushed is sent (or a
 * send failed: its error). The pipeline is then idle and may carry the next
 * stream. */
int send_pipeline_drain(SendPipeline *p);

/* Gives up on what is queued: the sender stops after the chunk it is
 * sending and later pushes and drains fail with -ECANCELED (unless a send
 * failed first). A send in progress is the caller's to interrupt. */
void send_pipeline_cancel(SendPipeline *p);

/* The first send error, 0 if none. */
int send_pipeline_error(SendPipeline *p);

/* Stops the thread once what is queued is sent (after a cancel or a failed
 * send: once the send in progress returns) and frees all; NULL is fine.
 * Returns NULL. */
SendPipeline *send_pipeline_free(SendPipeline *p);
DEFINE_TRIVIAL_CLEANUP_FUNC(SendPipeline *, send_pipeline_free);
