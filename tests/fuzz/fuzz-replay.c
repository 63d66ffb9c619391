/* Replays a fuzz target's corpus without libFuzzer: feeds every file of the
 * directories (or files) given on the command line to LLVMFuzzerTestOneInput,
 * so the seeds and any crashers checked in run under ASan/UBSan in make test. */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "macro.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int replay_file(const char *path)
{
	_cleanup_fclose_ FILE *f = fopen(path, "rbe");
	if (!f)
		return -errno;
	_cleanup_free_ uint8_t *buf = NULL;
	size_t n = 0, cap = 0;
	for (;;) {
		if (n == cap) {
			cap = cap ? cap * 2 : 4096;
			uint8_t *b = realloc(buf, cap);
			if (!b)
				return -ENOMEM;
			buf = b;
		}
		size_t k = fread(buf + n, 1, cap - n, f);
		n += k;
		if (k == 0)
			break;
	}
	if (ferror(f))
		return -EIO;
	/* a copy of exactly `n` bytes, so ASan sees reads past the end */
	_cleanup_free_ uint8_t *exact = malloc(MAX(n, 1u));
	if (!exact)
		return -ENOMEM;
	if (n > 0)
		memcpy(exact, buf, n);
	LLVMFuzzerTestOneInput(exact, n);
	return 0;
}

int main(int argc, char **argv)
{
	unsigned count = 0;
	for (int i = 1; i < argc; i++) {
		struct stat st;
		if (stat(argv[i], &st) < 0) {
			fprintf(stderr, "%s: %s\n", argv[i], strerror(errno));
			return 1;
		}
		if (!S_ISDIR(st.st_mode)) {
			if (replay_file(argv[i]) < 0)
				return 1;
			count++;
			continue;
		}
		DIR *d = opendir(argv[i]);
		if (!d)
			return 1;
		struct dirent *de;
		while ((de = readdir(d))) {
			if (de->d_name[0] == '.')
				continue;
			char path[4096];
			snprintf(path, sizeof(path), "%s/%s", argv[i], de->d_name);
			int r = replay_file(path);
			if (r < 0) {
				fprintf(stderr, "%s: %s\n", path, strerror(-r));
				closedir(d);
				return 1;
			}
			count++;
		}
		closedir(d);
	}
	printf("replayed %u inputs\n", count);
	return count > 0 ? 0 : 1;
}
