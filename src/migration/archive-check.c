/* archive-check.c — tar header checks for checkpoint archives and the
 * archives nested in them (see archive-check.h). The header is read as Go's
 * archive/tar reads it (Podman's reader); every other reading a common tool
 * could make of it (GNU tar, Python) must be safe too. */
#include "archive-check.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "json-util.h"
#include "macro.h"
#include "strutil.h"

#define BLOCK              512u
#define MAX_ENTRIES        100000u
#define MAX_PATH           4096u
#define MAX_META           (64u * 1024) /* a long name or pax header's data */
#define MAX_NESTED         64u          /* nested archives in one checkpoint */
#define MAX_LINKS          65536u       /* symlinks in one nested archive */
#define MAX_DELETED_FILES  (4u << 20)
#define IMAGE_MAX_MANIFEST (1u << 20) /* an image archive's manifest.json, repositories */

/* An archive is refused with -EBADMSG and its reason. */
#define refuse(why, ...) error_detail_set_errno(why, -EBADMSG, __VA_ARGS__)

/* An octal field (NUL/space padded) or GNU base-256; -1 if malformed. */
static int64_t parse_number(const uint8_t *f, size_t n)
{
	uint64_t v = 0;
	if (f[0] & 0x80) {
		if (f[0] != 0x80)
			return -1; /* negative or too large */
		for (size_t i = 1; i < n; i++) {
			if (v >> 55)
				return -1;
			v = v << 8 | f[i];
		}
		return (int64_t)v;
	}
	size_t i = 0;
	while (i < n && f[i] == ' ')
		i++;
	bool digits = false;
	for (; i < n && f[i] >= '0' && f[i] <= '7'; i++) {
		if (v >> 60)
			return -1;
		v = v * 8 + (uint64_t)(f[i] - '0');
		digits = true;
	}
	for (; i < n; i++)
		if (f[i] != ' ' && f[i] != 0)
			return -1;
	return digits ? (int64_t)v : 0;
}

static bool checksum_ok(const uint8_t *h)
{
	int64_t want = parse_number(h + 148, 8);
	uint64_t u = 0;
	int64_t s = 0;
	for (size_t i = 0; i < BLOCK; i++) {
		uint8_t c = i >= 148 && i < 156 ? ' ' : h[i];
		u += c;
		s += (int8_t)c;
	}
	return want >= 0 && ((uint64_t)want == u || want == s);
}

static bool all_zero(const uint8_t *b)
{
	for (size_t i = 0; i < BLOCK; i++)
		if (b[i])
			return false;
	return true;
}

/* A fixed-size field up to its first NUL, as Go's parseString reads it. */
static void field(char *out, const uint8_t *f, size_t n)
{
	size_t l = strnlen((const char *)f, n);
	memcpy(out, f, l);
	out[l] = 0;
}

/* A path that stays inside the directory it is extracted to. */
static const char *path_problem(const char *p)
{
	if (!*p)
		return "an empty path";
	if (*p == '/')
		return "an absolute path";
	for (const char *c = p; *c;) {
		size_t n = strcspn(c, "/");
		if (n == 2 && c[0] == '.' && c[1] == '.')
			return "a '..' component";
		c += n;
		while (*c == '/')
			c++;
	}
	return NULL;
}

/* "a//./b/" → "a/b"; the path has no ".." (path_problem) and fits. */
static void normalize(const char *p, char *out)
{
	size_t o = 0;
	for (const char *c = p; *c;) {
		size_t n = strcspn(c, "/");
		if (n > 0 && !(n == 1 && c[0] == '.')) {
			if (o > 0)
				out[o++] = '/';
			memcpy(out + o, c, n);
			o += n;
		}
		c += n;
		while (*c == '/')
			c++;
	}
	out[o] = 0;
}

/* The symlinks a nested archive has created so far: an open-addressing set
 * of normalized paths. */
typedef struct LinkSet {
	char **slot;
	size_t n_slots, n;
} LinkSet;

static uint64_t hash(const char *s, size_t n)
{
	uint64_t h = 1469598103934665603ull;
	for (size_t i = 0; i < n; i++)
		h = (h ^ (uint8_t)s[i]) * 1099511628211ull;
	return h;
}

static bool link_set_contains(const LinkSet *s, const char *p, size_t n)
{
	if (!s->n)
		return false;
	for (size_t i = hash(p, n) & (s->n_slots - 1);; i = (i + 1) & (s->n_slots - 1)) {
		if (!s->slot[i])
			return false;
		if (strlen(s->slot[i]) == n && !memcmp(s->slot[i], p, n))
			return true;
	}
}

static int link_set_add(LinkSet *s, const char *p)
{
	size_t n = strlen(p);
	if (link_set_contains(s, p, n))
		return 0;
	if (s->n >= MAX_LINKS)
		return -E2BIG;
	if (2 * (s->n + 1) > s->n_slots) {
		LinkSet bigger = { .n_slots = s->n_slots ? 2 * s->n_slots : 64 };
		if (!(bigger.slot = calloc(bigger.n_slots, sizeof(char *))))
			return -ENOMEM;
		for (size_t i = 0; i < s->n_slots; i++) {
			if (!s->slot[i])
				continue;
			size_t j = hash(s->slot[i], strlen(s->slot[i])) & (bigger.n_slots - 1);
			while (bigger.slot[j])
				j = (j + 1) & (bigger.n_slots - 1);
			bigger.slot[j] = s->slot[i];
		}
		bigger.n = s->n;
		free(s->slot);
		*s = bigger;
	}
	size_t i = hash(p, n) & (s->n_slots - 1);
	while (s->slot[i])
		i = (i + 1) & (s->n_slots - 1);
	if (!(s->slot[i] = strdup(p)))
		return -ENOMEM;
	s->n++;
	return 0;
}

static void link_set_done(LinkSet *s)
{
	for (size_t i = 0; i < s->n_slots; i++)
		free(s->slot[i]);
	free(s->slot);
	*s = (LinkSet){};
}

/* The symlink among the proper parents of normalized path p, if any
 * (written into `out`). */
static bool through_link(const LinkSet *s, const char *p, char *out)
{
	for (const char *c = strchr(p, '/'); c; c = strchr(c + 1, '/'))
		if (link_set_contains(s, p, (size_t)(c - p))) {
			memcpy(out, p, (size_t)(c - p));
			out[c - p] = 0;
			return true;
		}
	return false;
}

/* Where a relative symlink at normalized path p pointing at target lands:
 * false if it climbs above the root. */
static bool link_stays_inside(const char *p, const char *target)
{
	long depth = 0;
	for (const char *c = p; *c; c++)
		depth += *c == '/';
	for (const char *c = target; *c;) {
		size_t n = strcspn(c, "/");
		if (n == 2 && c[0] == '.' && c[1] == '.') {
			if (--depth < 0)
				return false;
		} else if (n > 0 && !(n == 1 && c[0] == '.'))
			depth++;
		c += n;
		while (*c == '/')
			c++;
	}
	return true;
}

/* What the meta headers before an entry said. */
typedef struct Pending {
	bool x, g, L, K;
	bool x_path, x_link, g_path;
	int64_t x_size; /* -1: none */
	char path[MAX_PATH + 1], link[MAX_PATH + 1], g_path_value[MAX_PATH + 1];
	char long_name[MAX_PATH + 1], long_link[MAX_PATH + 1];
} Pending;

/* pax records "LEN key=value\n": picks out path, linkpath and size into
 * *p; a sparse file is -EPROTONOSUPPORT. `global`: a 'g' header, whose
 * path is only checked (Go applies it to nothing). */
static int pax_parse(const char *d, size_t n, bool global, Pending *p)
{
	size_t i = 0;
	while (i < n) {
		size_t len = 0, j = i;
		while (j < n && d[j] >= '0' && d[j] <= '9' && len < MAX_META)
			len = len * 10 + (size_t)(d[j++] - '0');
		if (j >= n || d[j] != ' ' || len <= j - i + 1 || len > n - i ||
		    d[i + len - 1] != '\n')
			return -EBADMSG;
		const char *kv = d + j + 1, *end = d + i + len - 1;
		const char *eq = memchr(kv, '=', (size_t)(end - kv));
		if (!eq)
			return -EBADMSG;
		size_t klen = (size_t)(eq - kv), vlen = (size_t)(end - eq - 1);
		const char *v = eq + 1;
#define KEY(k) (klen == strlen(k) && !memcmp(kv, k, klen))
		if (klen >= 11 && !memcmp(kv, "GNU.sparse.", 11))
			return -EPROTONOSUPPORT;
		if (KEY("path") || KEY("linkpath")) {
			if (vlen > MAX_PATH || memchr(v, 0, vlen))
				return -EBADMSG;
			char *dst = global ? p->g_path_value : KEY("path") ? p->path : p->link;
			memcpy(dst, v, vlen);
			dst[vlen] = 0;
			if (global)
				p->g_path = true;
			else if (KEY("path"))
				p->x_path = true;
			else
				p->x_link = true;
		} else if (KEY("size") && !global) {
			int64_t s = 0;
			if (vlen == 0 || vlen > 18)
				return -EBADMSG;
			for (size_t k = 0; k < vlen; k++) {
				if (v[k] < '0' || v[k] > '9')
					return -EBADMSG;
				s = s * 10 + (v[k] - '0');
			}
			p->x_size = s;
		}
#undef KEY
		i += len;
	}
	return 0;
}

/* One archive being walked: the outer checkpoint or one nested in it. */
typedef struct Walk {
	ArchivePreadFn pread_fn;
	void *userdata;
	uint64_t base, size; /* its bytes in the outer reader */
	bool nested;
	bool rootfs;      /* rootfs-diff.tar: extracted over the image */
	const char *name; /* the nested archive's name, for reasons */
	const ArchiveCheckOptions *o;
	ErrorDetail *why;
	/* outer: the nested archives and members found */
	ArchiveMember nested_at[MAX_NESTED];
	char nested_name[MAX_NESTED][64];
	unsigned n_nested;
	ArchiveMember deleted_files;
	ArchiveIndex index;
	/* nested: the symlinks created so far */
	LinkSet links;
	/* an image archive (docker-archive) instead of a checkpoint: its
	 * manifest.json and repositories, and the member named `find` */
	bool image;
	ArchiveMember manifest, repositories, found;
	const char *find;
} Walk;

/* "rootfs-diff.tar: " before a reason about a nested archive. */
#define walk_refuse(w, fmt, ...)                                                            \
	refuse((w)->why, "%s%s" fmt, (w)->nested ? (w)->name : "", (w)->nested ? ": " : "", \
	       ##__VA_ARGS__)

static const char *type_name(char type)
{
	switch (type) {
	case '1':
		return "hard link";
	case '2':
		return "symbolic link";
	case '3':
	case '4':
		return "device";
	case '6':
		return "fifo";
	case 'S':
		return "sparse file";
	default:
		return "entry of an unknown type";
	}
}

/* The top-level names of a Podman checkpoint (directories with '/'). */
static bool top_level_known(const char *p, char type)
{
	static const char *const files[] = {
		"config.dump", "spec.dump",     "network.status",        "stats-dump",
		"ctr.log",     "deleted.files", "devshm-checkpoint.tar", "rootfs-diff.tar",
	};
	static const char *const dirs[] = { "checkpoint", "pre-checkpoint", "artifacts",
		                            "volumes" };
	size_t first = strcspn(p, "/");
	if (!*p)
		return type == '5'; /* the archive's own root, "./" */
	for (size_t i = 0; i < ELEMENTSOF(dirs); i++)
		if (strlen(dirs[i]) == first && !memcmp(p, dirs[i], first))
			return true;
	if (p[first])
		return false;
	for (size_t i = 0; i < ELEMENTSOF(files); i++)
		if (streq(p, files[i]))
			return true;
	return false;
}

static int member_note(Walk *w, ArchiveMember *m, const char *p, uint64_t data, uint64_t len)
{
	if (m->present)
		return walk_refuse(w, "'%s' appears twice", p);
	*m = (ArchiveMember){ .present = true, .offset = data, .size = len };
	return 0;
}

static int base_check(Walk *w, const char *what, const char *path, const char *p);

/* One reading of a link's target: a hard link names a relative path inside
 * the root, not through a symlink; a relative symlink resolves inside the
 * root (an absolute one names a path as the container sees it). At the top
 * level, only Podman's pre-copy link. */
static int link_check(Walk *w, const char *path, const char *norm, char type, const char *target)
{
	char through[MAX_PATH + 1];

	if (w->image) {
		/* the legacy layout's layer.tar links to another layer */
		if (type == '2' && *target && *target != '/' && link_stays_inside(norm, target))
			return 0;
		return walk_refuse(w,
		                   "entry '%.200s' -> '%.200s' is a %s; an image archive holds "
		                   "only files, directories and links between them",
		                   path, target, type_name(type));
	}
	if (!w->nested) {
		if (type == '2' && streq(norm, "checkpoint/parent") &&
		    streq(target, "../pre-checkpoint"))
			return 0;
		return walk_refuse(w,
		                   "entry '%.200s' is a %s; a checkpoint archive holds only "
		                   "files and directories",
		                   path, type_name(type));
	}
	if (type == '1') {
		const char *problem = path_problem(target);
		if (problem)
			return walk_refuse(w, "hard link '%.200s' -> '%.200s' has %s", path, target,
			                   problem);
		char t[MAX_PATH + 1];
		normalize(target, t);
		if (link_set_contains(&w->links, t, strlen(t)) ||
		    through_link(&w->links, t, through))
			return walk_refuse(w,
			                   "hard link '%.200s' -> '%.200s' goes through a symbolic "
			                   "link",
			                   path, target);
		return w->rootfs ? base_check(w, "the target of hard link", path, t) : 0;
	}
	if (!*target)
		return walk_refuse(w, "symbolic link '%.200s' has an empty target", path);
	if (*target != '/' && !link_stays_inside(norm, target))
		return walk_refuse(w,
		                   "symbolic link '%.200s' -> '%.200s' points outside the "
		                   "container's root",
		                   path, target);
	return 0;
}

/* A docker-archive's entry: Podman loads an OCI layout (index.json) before
 * a docker-archive, so it has none; the members read here are regular
 * files. */
static int image_entry(Walk *w, const char *path, const char *norm, char type, uint64_t data,
                       uint64_t len)
{
	if (streq(norm, "index.json") || streq(norm, "oci-layout"))
		return walk_refuse(w,
		                   "entry '%.200s' belongs to an OCI layout, which Podman would "
		                   "load before the docker-archive",
		                   path);
	ArchiveMember *m = streq(norm, "manifest.json")      ? &w->manifest
	                   : streq(norm, "repositories")     ? &w->repositories
	                   : w->find && streq(norm, w->find) ? &w->found
	                                                     : NULL;
	if (type == '0' || type == '7')
		return m ? member_note(w, m, norm, data, len) : 0;
	if (m)
		return walk_refuse(w, "entry '%.200s' is a %s, not a file", path, type_name(type));
	if (type == '5' || type == '2')
		return 0;
	return walk_refuse(w,
	                   "entry '%.200s' is a %s; an image archive holds only files, "
	                   "directories and links between them",
	                   path, type_name(type));
}

/* Normalized path p must not lie under a symbolic link of the image. */
static int base_check(Walk *w, const char *what, const char *path, const char *p)
{
	if (!w->o || !w->o->base_link || !strchr(p, '/'))
		return 0;
	int r = w->o->base_link(p, w->o->base_userdata);
	if (r > 0)
		return walk_refuse(w,
		                   "%s '%.200s' lies under a symbolic link of the container's "
		                   "image; extracting it would follow that link",
		                   what, path);
	if (r < 0)
		return walk_refuse(w, "%s '%.200s': cannot check it against the image: %s", what,
		                   path, strerror(-r));
	return 0;
}

/* One entry as Go reads it (name, type, data), with every reading of its
 * link target: checks that depend on where it is. */
static int walk_entry(Walk *w, const char *path, char type, const char *const *links,
                      size_t n_links, uint64_t data, uint64_t len)
{
	char norm[MAX_PATH + 1], through[MAX_PATH + 1];
	int r;

	normalize(path, norm);
	if (through_link(&w->links, norm, through))
		return walk_refuse(w,
		                   "entry '%.200s' is written through the symbolic link '%.200s'",
		                   path, through);
	if (w->rootfs && (r = base_check(w, "entry", path, norm)) < 0)
		return r;
	if (type == '1' || type == '2') {
		for (size_t i = 0; i < n_links; i++)
			if (links[i] && (r = link_check(w, path, norm, type, links[i])) < 0)
				return r;
		if (type == '2') {
			r = link_set_add(&w->links, norm);
			if (r == -E2BIG)
				return walk_refuse(w, "more than %u symbolic links", MAX_LINKS);
			if (r < 0)
				return r;
		}
	}

	if (w->image)
		return image_entry(w, path, norm, type, data, len);
	if (!w->nested) {
		if (!top_level_known(norm, type))
			return walk_refuse(w, "entry '%.200s' is not part of a Podman checkpoint",
			                   path);
		if (type == '0' || type == '7') {
			if (streq(norm, "spec.dump"))
				return member_note(w, &w->index.spec_dump, norm, data, len);
			if (streq(norm, "config.dump"))
				return member_note(w, &w->index.config_dump, norm, data, len);
			if (streq(norm, "deleted.files"))
				return member_note(w, &w->deleted_files, norm, data, len);
			if (streq(norm, "rootfs-diff.tar") ||
			    streq(norm, "devshm-checkpoint.tar") ||
			    (startswith(norm, "volumes/") && !strchr(norm + 8, '/'))) {
				if (w->n_nested >= MAX_NESTED)
					return walk_refuse(w, "more than %u nested archives",
					                   MAX_NESTED);
				w->nested_at[w->n_nested] = (ArchiveMember){ .present = true,
					                                     .offset = data,
					                                     .size = len };
				snprintf(w->nested_name[w->n_nested], sizeof w->nested_name[0],
				         "%.60s", norm);
				w->n_nested++;
			}
			return 0;
		}
		if (type == '5' || type == '2')
			return 0;
		return walk_refuse(w,
		                   "entry '%.200s' is a %s; a checkpoint archive holds only "
		                   "files and directories",
		                   path, type_name(type));
	}

	/* Nested: a container's files. */
	switch (type) {
	case '0':
	case '7':
	case '5':
	case '6':
	case '1':
	case '2':
		return 0;
	default:
		return walk_refuse(w, "entry '%.200s' is a %s", path, type_name(type));
	}
}

/* Every header of one archive. */
static int walk(Walk *w)
{
	uint8_t h[BLOCK];
	_cleanup_free_ Pending *p = malloc(sizeof(Pending));
	_cleanup_free_ char *meta = NULL;
	uint64_t off = 0;
	unsigned entries = 0;

	if (!p)
		return -ENOMEM;
	*p = (Pending){ .x_size = -1 };
	for (;;) {
		if (off + BLOCK > w->size)
			return walk_refuse(w,
			                   "archive truncated: it ends at byte %llu without the "
			                   "end-of-archive marker",
			                   (unsigned long long)w->size);
		ssize_t n = w->pread_fn(h, BLOCK, w->base + off, w->userdata);
		if (n < 0)
			return (int)n;
		if ((size_t)n != BLOCK)
			return walk_refuse(w, "archive truncated at byte %llu",
			                   (unsigned long long)off);
		if (all_zero(h)) {
			/* Go's reader ends here: nothing may be pending. */
			if (p->x || p->L || p->K)
				return walk_refuse(w, "an extended header with no entry after it");
			return 0;
		}
		if (++entries > MAX_ENTRIES)
			return walk_refuse(w, "more than %u entries", MAX_ENTRIES);
		if (!checksum_ok(h)) {
			if (off == 0 &&
			    (!memcmp(h, "\x28\xb5\x2f\xfd", 4) || !memcmp(h, "\x1f\x8b", 2)))
				return walk_refuse(
				        w, "a compressed archive; podmig moves plain tar archives");
			return walk_refuse(w, "bad tar header checksum at byte %llu",
			                   (unsigned long long)off);
		}
		char type = (char)h[156];
		int64_t raw_len = parse_number(h + 124, 12);
		if (raw_len < 0)
			return walk_refuse(w, "a malformed size at byte %llu",
			                   (unsigned long long)off);
		uint64_t data = off + BLOCK;

		if (type == 'x' || type == 'g' || type == 'L' || type == 'K') {
			if ((uint64_t)raw_len > MAX_META)
				return walk_refuse(w, "oversized tar metadata at byte %llu",
				                   (unsigned long long)off);
			uint64_t padded = ((uint64_t)raw_len + BLOCK - 1) / BLOCK * BLOCK;
			if (padded > w->size - data)
				return walk_refuse(w, "archive truncated at byte %llu",
				                   (unsigned long long)data);
			/* Readers differ on a repeated header kind (Go keeps the
			 * last, others merge): Go's writer never repeats one. */
			bool *seen = type == 'x'   ? &p->x
			             : type == 'g' ? &p->g
			             : type == 'L' ? &p->L
			                           : &p->K;
			if (*seen)
				return walk_refuse(w, "two '%c' extended headers before one entry",
				                   type);
			*seen = true;
			char *m = realloc(meta, (size_t)raw_len + 1);
			if (!m)
				return -ENOMEM;
			meta = m;
			n = w->pread_fn(meta, (size_t)raw_len, w->base + data, w->userdata);
			if (n < 0)
				return (int)n;
			if (n != raw_len)
				return walk_refuse(w, "archive truncated at byte %llu",
				                   (unsigned long long)data);
			meta[raw_len] = 0;
			if (type == 'L' || type == 'K') {
				size_t l = strnlen(meta, (size_t)raw_len);
				if (l > MAX_PATH)
					return walk_refuse(w, "a path longer than %u bytes",
					                   MAX_PATH);
				char *dst = type == 'L' ? p->long_name : p->long_link;
				memcpy(dst, meta, l);
				dst[l] = 0;
			} else {
				int r = pax_parse(meta, (size_t)raw_len, type == 'g', p);
				if (r == -EPROTONOSUPPORT)
					return walk_refuse(
					        w,
					        "a sparse file (pax GNU.sparse records) at "
					        "byte %llu",
					        (unsigned long long)off);
				if (r < 0)
					return walk_refuse(w, "malformed pax header at byte %llu",
					                   (unsigned long long)off);
				if (p->g_path && path_problem(p->g_path_value))
					return walk_refuse(w, "a global pax path '%.200s' has %s",
					                   p->g_path_value,
					                   path_problem(p->g_path_value));
			}
			off = data + padded;
			continue;
		}

		/* The name: Go joins the ustar prefix under the ustar magic
		 * (and star's shorter one), never under the GNU magic; GNU tar
		 * and Python have their own rules, so every reading is checked. */
		char name[101], prefix[156], joined[MAX_PATH + 1], go_name[MAX_PATH + 1];
		char raw_link[101];
		field(name, h, 100);
		field(prefix, h + 345, 155);
		field(raw_link, h + 157, 100);
		bool ustar = !memcmp(h + 257, "ustar\0", 6);
		bool star = ustar && !memcmp(h + 508, "tar\0", 4);
		if (star)
			prefix[131] = 0;
		snprintf(joined, sizeof joined, "%s/%s", prefix, name);
		snprintf(go_name, sizeof go_name, "%s", ustar && prefix[0] ? joined : name);
		const char *readings[] = {
			name,
			prefix[0] ? joined : NULL,
			p->x_path ? p->path : NULL,
			p->L ? p->long_name : NULL,
		};
		if (p->x_path)
			snprintf(go_name, sizeof go_name, "%s", p->path);
		if (p->L)
			snprintf(go_name, sizeof go_name, "%s", p->long_name);
		for (size_t i = 0; i < ELEMENTSOF(readings); i++) {
			const char *problem = readings[i] ? path_problem(readings[i]) : NULL;
			if (problem)
				return walk_refuse(w, "entry '%.200s' has %s", readings[i],
				                   problem);
		}

		/* Go's old-style regular file named with a trailing '/' is a
		 * directory, and a directory has no data whatever its size. */
		if (type == '\0')
			type = go_name[0] && go_name[strlen(go_name) - 1] == '/' ? '5' : '0';
		/* Go reads the target from 'K', else the pax linkpath, else the
		 * header; every reading is checked. */
		const char *links[] = { raw_link, p->x_link ? p->link : NULL,
			                p->K ? p->long_link : NULL };
		int64_t len = p->x_size >= 0 ? p->x_size : raw_len;
		bool header_only = strchr("123456", type) && type;
		if (header_only && len != 0)
			return walk_refuse(w, "entry '%.200s' (a %s) claims %lld bytes of data",
			                   go_name, type == '5' ? "directory" : type_name(type),
			                   (long long)len);
		uint64_t padded = ((uint64_t)len + BLOCK - 1) / BLOCK * BLOCK;
		if (padded > w->size - data)
			return walk_refuse(w,
			                   "archive truncated: the entry at byte %llu claims %lld "
			                   "bytes past the end",
			                   (unsigned long long)off, (long long)len);
		int64_t mode = parse_number(h + 100, 8);
		if (mode < 0)
			return walk_refuse(w, "entry '%.200s' has a malformed mode", go_name);
		if ((mode & 06000) && !(w->o && w->o->allow_setuid))
			return walk_refuse(w,
			                   "entry '%.200s' has the %s bit (mode %llo); the restore "
			                   "policy does not allow it",
			                   go_name, mode & 04000 ? "setuid" : "setgid",
			                   (unsigned long long)mode);
		int r = walk_entry(w, go_name, type, links, ELEMENTSOF(links), w->base + data,
		                   (uint64_t)len);
		if (r < 0)
			return r;
		*p = (Pending){ .x_size = -1 };
		off = data + padded;
	}
}

static int check_deleted_files(Walk *w, const LinkSet *rootfs_links)
{
	_cleanup_free_ char *text = NULL;
	int r = archive_read_member(w->pread_fn, w->userdata, &w->deleted_files, MAX_DELETED_FILES,
	                            &text);
	if (r == -EFBIG)
		return refuse(w->why, "deleted.files is larger than %u bytes", MAX_DELETED_FILES);
	if (r < 0)
		return r;
	_cleanup_json_ json_t *list = json_loads(text, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_array(list))
		return refuse(w->why, "deleted.files is not a JSON list");
	size_t i;
	json_t *v;
	json_array_foreach (list, i, v) {
		const char *s = json_string_value(v);
		if (!s || !*s)
			return refuse(w->why, "deleted.files: entry %zu is not a path", i);
		/* Podman joins each to the container's root; a leading '/' is
		 * the container's own root. */
		for (const char *c = s; *c;) {
			size_t n = strcspn(c, "/");
			if (n == 2 && c[0] == '.' && c[1] == '.')
				return refuse(w->why,
				              "deleted.files: '%.200s' has a '..' component", s);
			c += n;
			while (*c == '/')
				c++;
		}
		/* Removed after rootfs-diff.tar is extracted, following links
		 * in the parents: neither the archive's nor the image's. */
		char norm[MAX_PATH + 1], through[MAX_PATH + 1];
		if (strlen(s) > MAX_PATH)
			return refuse(w->why, "deleted.files: a path longer than %u bytes",
			              MAX_PATH);
		normalize(s, norm);
		if (through_link(rootfs_links, norm, through))
			return refuse(
			        w->why,
			        "deleted.files: '%.200s' lies under the symbolic link '%.200s' "
			        "of rootfs-diff.tar",
			        s, through);
		Walk base = { .o = w->o, .why = w->why, .name = "deleted.files", .nested = true };
		r = base_check(&base, "path", s, norm);
		if (r < 0)
			return r;
	}
	return 0;
}

int archive_check(ArchivePreadFn pread_fn, void *userdata, uint64_t size,
                  const ArchiveCheckOptions *o, ArchiveIndex *ret_index, ErrorDetail *why)
{
	_cleanup_free_ Walk *w = calloc(1, sizeof(Walk));
	int r;

	if (!w)
		return -ENOMEM;
	*w = (Walk){ .pread_fn = pread_fn, .userdata = userdata, .size = size, .o = o, .why = why };
	r = walk(w);
	link_set_done(&w->links);
	if (r < 0)
		return r;
	/* rootfs-diff.tar's links, for deleted.files */
	_cleanup_(link_set_done) LinkSet rootfs_links = {};
	for (unsigned i = 0; i < w->n_nested; i++) {
		Walk nested = {
			.pread_fn = pread_fn,
			.userdata = userdata,
			.base = w->nested_at[i].offset,
			.size = w->nested_at[i].size,
			.nested = true,
			.rootfs = streq(w->nested_name[i], "rootfs-diff.tar"),
			.name = w->nested_name[i],
			.o = o,
			.why = why,
		};
		r = walk(&nested);
		if (nested.rootfs && r >= 0) {
			link_set_done(&rootfs_links);
			rootfs_links = nested.links;
		} else
			link_set_done(&nested.links);
		if (r < 0)
			return r;
	}
	if (w->deleted_files.present && (r = check_deleted_files(w, &rootfs_links)) < 0)
		return r;
	if (ret_index)
		*ret_index = w->index;
	return 0;
}

int archive_base_link_at(const char *path, void *userdata)
{
	int dir = *(const int *)userdata;
	_cleanup_close_ int fd = -EBADF;
	char component[MAX_PATH + 1];

	for (const char *c = path;;) {
		size_t n = strcspn(c, "/");
		if (!c[n] || n > MAX_PATH)
			return n > MAX_PATH ? -ENAMETOOLONG : 0; /* the last one may be anything */
		memcpy(component, c, n);
		component[n] = 0;
		int next = openat(fd >= 0 ? fd : dir, component, O_PATH | O_NOFOLLOW | O_CLOEXEC);
		if (next < 0)
			return errno == ENOENT || errno == ENOTDIR ? 0 : -errno;
		close(fd);
		fd = next;
		struct stat st;
		if (fstat(fd, &st) < 0)
			return -errno;
		if (S_ISLNK(st.st_mode))
			return 1;
		if (!S_ISDIR(st.st_mode))
			return 0; /* extracting under a file fails */
		c += n + 1;
	}
}

int archive_read_member(ArchivePreadFn pread_fn, void *userdata, const ArchiveMember *m, size_t max,
                        char **ret)
{
	if (!m->present || m->size > max)
		return m->present ? -EFBIG : -ENOENT;
	_cleanup_free_ char *buf = malloc((size_t)m->size + 1);
	if (!buf)
		return -ENOMEM;
	ssize_t n = pread_fn(buf, (size_t)m->size, m->offset, userdata);
	if (n < 0)
		return (int)n;
	if ((uint64_t)n != m->size)
		return -EIO;
	buf[m->size] = 0;
	*ret = TAKE_PTR(buf);
	return 0;
}

static ssize_t fd_pread(void *buf, size_t n, uint64_t off, void *userdata)
{
	int fd = *(int *)userdata;
	size_t done = 0;
	while (done < n) {
		ssize_t r = pread(fd, (uint8_t *)buf + done, n - done, (off_t)(off + done));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			break;
		done += (size_t)r;
	}
	return (ssize_t)done;
}

int archive_check_fd(int fd, uint64_t size, const ArchiveCheckOptions *o, ArchiveIndex *ret_index,
                     ErrorDetail *why)
{
	return archive_check(fd_pread, &fd, size, o, ret_index, why);
}

int archive_read_member_fd(int fd, const ArchiveMember *m, size_t max, char **ret)
{
	return archive_read_member(fd_pread, &fd, m, max, ret);
}

typedef struct Buffer {
	const uint8_t *data;
	size_t size;
} Buffer;

static ssize_t buffer_pread(void *buf, size_t n, uint64_t off, void *userdata)
{
	const Buffer *b = userdata;
	if (off >= b->size)
		return 0;
	size_t k = MIN(n, b->size - (size_t)off);
	memcpy(buf, b->data + off, k);
	return (ssize_t)k;
}

int archive_check_buffer(const uint8_t *data, size_t size, const ArchiveCheckOptions *o,
                         ArchiveIndex *ret_index, ErrorDetail *why)
{
	Buffer b = { data, size };
	return archive_check(buffer_pread, &b, size, o, ret_index, why);
}

int image_reference_normalize(const char *name, char **ret)
{
	const char *last = strrchr(name, '/');
	bool tagged = strchr(last ? last : name, ':') || strchr(name, '@');
	return asprintf(ret, "%s%s", name, tagged ? "" : ":latest") < 0 ? -ENOMEM : 0;
}

/* repositories ({"REPO": {"TAG": "ID"}}), the legacy copy of the tags:
 * Podman reads only manifest.json, but no tag in the archive may name
 * another image. */
static int image_repositories_check(const char *text, const char *want, ErrorDetail *why)
{
	_cleanup_json_ json_t *doc = json_loads(text, JSON_REJECT_DUPLICATES, NULL);
	const char *repo, *tag;
	json_t *tags, *v;

	if (!json_is_object(doc))
		return refuse(why, "the image archive's repositories is not a JSON object");
	json_object_foreach (doc, repo, tags) {
		if (!json_is_object(tags))
			return refuse(why,
			              "the image archive's repositories: '%.200s' is not an "
			              "object",
			              repo);
		json_object_foreach (tags, tag, v) {
			size_t n = strlen(repo);
			if (strncmp(want, repo, n) || want[n] != ':' || !streq(want + n + 1, tag))
				return refuse(why, "the image archive also names %.200s:%.100s",
				              repo, tag);
		}
	}
	return 0;
}

int image_archive_check(ArchivePreadFn pread_fn, void *userdata, uint64_t size, const char *name,
                        ArchiveMember *ret_config, ErrorDetail *why)
{
	_cleanup_free_ Walk *w = calloc(1, sizeof(Walk));
	_cleanup_free_ char *want = NULL, *text = NULL, *config = NULL;
	int r;

	if (!w)
		return -ENOMEM;
	if ((r = image_reference_normalize(name, &want)) < 0)
		return r;
	*w = (Walk){
		.pread_fn = pread_fn, .userdata = userdata, .size = size, .image = true, .why = why
	};
	r = walk(w);
	link_set_done(&w->links);
	if (r < 0)
		return r;

	r = archive_read_member(pread_fn, userdata, &w->manifest, IMAGE_MAX_MANIFEST, &text);
	if (r == -ENOENT || r == -EFBIG)
		return refuse(why, "the image archive has %s",
		              r == -ENOENT ? "no manifest.json" : "a manifest.json over 1 MiB");
	if (r < 0)
		return r;
	/* One image, tagged with exactly the name asked for: Podman applies
	 * every tag of every image in the archive. */
	_cleanup_json_ json_t *manifest = json_loads(text, JSON_REJECT_DUPLICATES, NULL);
	json_t *entry = json_array_get(manifest, 0);
	if (!json_is_array(manifest) || json_array_size(manifest) != 1 || !json_is_object(entry))
		return refuse(why, "the image archive's manifest.json does not list exactly one "
		                   "image");
	json_t *tags = json_object_get(entry, "RepoTags");
	const char *tag = json_string_value(json_array_get(tags, 0));
	if (!json_is_array(tags) || json_array_size(tags) != 1 || !tag || !streq(tag, want))
		return refuse(why, "the image archive names %.200s%s, not exactly %.200s",
		              tag ?: "no image", json_array_size(tags) > 1 ? " and more" : "",
		              want);
	const char *config_path = json_string_value(json_object_get(entry, "Config"));
	const char *problem = config_path ? path_problem(config_path) : "no name";
	if (problem || strlen(config_path) > MAX_PATH)
		return refuse(why, "the image archive's configuration has %s",
		              problem ?: "a long name");
	if (!(config = malloc(strlen(config_path) + 1)))
		return -ENOMEM;
	normalize(config_path, config);

	if (w->repositories.present) {
		free(text);
		text = NULL;
		r = archive_read_member(pread_fn, userdata, &w->repositories, IMAGE_MAX_MANIFEST,
		                        &text);
		if (r == -EFBIG)
			return refuse(why, "the image archive's repositories is over 1 MiB");
		if (r < 0)
			return r;
		if ((r = image_repositories_check(text, want, why)) < 0)
			return r;
	}

	/* The configuration, whose SHA-256 is the image's ID. */
	*w = (Walk){ .pread_fn = pread_fn,
		     .userdata = userdata,
		     .size = size,
		     .image = true,
		     .find = config,
		     .why = why };
	r = walk(w);
	link_set_done(&w->links);
	if (r < 0)
		return r;
	if (!w->found.present)
		return refuse(why, "the image archive lacks its configuration %.200s", config);
	*ret_config = w->found;
	return 0;
}

int image_archive_check_fd(int fd, uint64_t size, const char *name, ArchiveMember *ret_config,
                           ErrorDetail *why)
{
	return image_archive_check(fd_pread, &fd, size, name, ret_config, why);
}

int image_archive_check_buffer(const uint8_t *data, size_t size, const char *name,
                               ArchiveMember *ret_config, ErrorDetail *why)
{
	Buffer b = { data, size };
	return image_archive_check(buffer_pread, &b, size, name, ret_config, why);
}
