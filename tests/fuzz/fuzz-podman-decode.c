/* Fuzz target: Podman's replies as the client decodes them. The first byte
 * picks the decoder; the rest is the reply body. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "podman.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	uint8_t kind = data[0] % 7;
	const char *text = (const char *)data + 1;
	size--;

	PodmanContainer *cts;
	PodmanStats *st;
	PodmanContainerInspect in;
	PodmanVersion v;
	PodmanInfo i;
	size_t n;
	char *s;
	switch (kind) {
	case 0:
		if (podman_decode_containers(text, size, &cts, &n) >= 0)
			podman_containers_free(cts, n);
		break;
	case 1:
		if (podman_decode_stats(text, size, &st, &n) >= 0)
			podman_stats_free(st, n);
		break;
	case 2:
		if (podman_decode_inspect(text, size, &in) >= 0)
			podman_container_inspect_done(&in);
		break;
	case 3:
		if (podman_decode_version(text, size, &v) >= 0)
			podman_version_done(&v);
		break;
	case 4:
		if (podman_decode_info(text, size, &i) >= 0)
			podman_info_done(&i);
		break;
	case 5:
		free(podman_decode_error_message(text, size));
		break;
	case 6:
		if (podman_decode_log_stream(text, size, &s) >= 0)
			free(s);
		break;
	}
	return 0;
}
