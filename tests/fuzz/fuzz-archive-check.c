/* Fuzz target: the checkpoint-archive check, on the bytes a source agent
 * (or anyone who can reach a target agent) sends. */
#include <stdint.h>

#include "archive-check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	ErrorDetail why = {};
	(void)archive_check_buffer(data, size, NULL, NULL, &why);
	return 0;
}
