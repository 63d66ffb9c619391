/* Fuzz target: the server's decode path for every method it can serve. The
 * first byte picks a method of podmig.v1.Agent or podmig.v1.Testing (the
 * method table's input types), the next whether the bytes arrive in one
 * slice or two; the rest is the message as it comes off the wire. */
#include <stddef.h>
#include <stdint.h>

#include "agent.pb-c.h"
#include "rpc-internal.h"
#include "testing.pb-c.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const ProtobufCServiceDescriptor *const services[] = {
	&podmig__v1__agent__descriptor,
	&podmig__v1__testing__descriptor,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	unsigned n_methods = 0;
	for (size_t i = 0; i < ELEMENTSOF(services); i++)
		n_methods += services[i]->n_methods;
	unsigned pick = data[0] % n_methods;
	const ProtobufCMethodDescriptor *m = NULL;
	for (size_t i = 0; i < ELEMENTSOF(services) && !m; i++) {
		if (pick < services[i]->n_methods)
			m = &services[i]->methods[pick];
		else
			pick -= services[i]->n_methods;
	}
	bool split = data[1] & 1;
	data += 2;
	size -= 2;

	grpc_slice slices[2];
	size_t n = 0, half = split ? size / 2 : size;
	slices[n++] = grpc_slice_from_copied_buffer((const char *)data, half);
	if (split)
		slices[n++] = grpc_slice_from_copied_buffer((const char *)data + half, size - half);
	grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(slices, n);
	for (size_t i = 0; i < n; i++)
		grpc_slice_unref(slices[i]);

	ProtobufCMessage *msg = NULL;
	if (rpc_byte_buffer_decode(m->input, bb, &msg) >= 0) {
		/* what decoded must encode again */
		grpc_byte_buffer *again = rpc_message_pack(msg);
		if (again)
			grpc_byte_buffer_destroy(again);
		rpc_message_free(msg);
	}
	grpc_byte_buffer_destroy(bb);
	return 0;
}
