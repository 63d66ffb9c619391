/* Fuzz target: the checkpoint-archive check, on the bytes a source agent
 * (or anyone who can reach a target agent) sends, and on what passes it the
 * restore policy over its spec.dump and config.dump, as a target runs them;
 * and the image-archive check on the same bytes, as a target runs it on an
 * image a source serves. */
#include <stdint.h>
#include <stdlib.h>

#include "archive-check.h"
#include "json-util.h"
#include "restore-policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	ErrorDetail why = {};
	ArchiveMember image_config = {};
	(void)image_archive_check_buffer(data, size, "localhost/podmig/tiny:latest", &image_config,
	                                 &why);
	error_detail_clear(&why);
	ArchiveIndex index = {};
	if (archive_check_buffer(data, size, NULL, &index, &why) < 0 || !index.spec_dump.present ||
	    !index.config_dump.present)
		return 0;
	_cleanup_json_ json_t *spec = json_loadb((const char *)data + index.spec_dump.offset,
	                                         index.spec_dump.size, 0, NULL);
	_cleanup_json_ json_t *config = json_loadb((const char *)data + index.config_dump.offset,
	                                           index.config_dump.size, 0, NULL);
	RestorePolicy policy = {};
	error_detail_clear(&why);
	(void)restore_policy_check(&policy, spec, config, "localhost/podmig/counter:latest", &why);
	return 0;
}
