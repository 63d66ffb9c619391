/* podman.h — podmig's client for Podman's REST API (libpod, v5 paths) over
 * its unix socket, on libcurl: the only room that speaks HTTP to Podman.
 *
 * Every call returns >= 0 or a negative errno. Podman's own error replies
 * become:
 *   404                       PODMAN_NOT_FOUND (an outcome code, error-util.h)
 *   409                       -EBUSY
 *   400                       -EINVAL
 *   other 4xx/5xx             -EIO
 * and failing to reach the socket is -ECONNREFUSED (socket missing or no one
 * listening), a reply that is not what the API documents -EBADMSG. When
 * `error` (optional) is given, it gets a message a person can act on: it names
 * the container or image and says what Podman said, or names the socket path.
 *
 * Archives (checkpoints, images) are streamed through callbacks and never held
 * in memory whole. A client may be used from several threads at once: every
 * request has its own connection. */
#pragma once

#include <errno.h>
#include <jansson.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "error-util.h"
#include "macro.h"

#define PODMAN_NOT_FOUND OUTCOME_PODMAN_NOT_FOUND

/* The libpod API version podmig speaks; Podman 5 serves it. */
#define PODMAN_API_PREFIX "/v5.0.0/libpod"

typedef struct PodmanClient PodmanClient;

typedef struct PodmanError {
	int http_status; /* 0 if no HTTP reply came */
	char message[512];
} PodmanError;

/* Streaming callbacks. A write callback gets the next bytes of an archive;
 * a read callback fills `buf` with up to `size` bytes and returns how many,
 * 0 at the end. A negative return aborts the transfer and is the call's
 * result. */
typedef int (*PodmanWriteFn)(const void *data, size_t size, void *userdata);
typedef ssize_t (*PodmanReadFn)(void *buf, size_t size, void *userdata);

typedef struct PodmanClientOptions {
	/* deadline of an ordinary (not streamed) request; 0: 60 s */
	uint64_t timeout_msec;
	/* optional: once it is true, a request under way ends within about a
	 * second with -ECANCELED (so a thread blocked on Podman can be
	 * stopped), and new ones fail at once */
	const atomic_bool *cancel;
} PodmanClientOptions;

/* Does not connect: the first request does. */
int podman_client_new(const char *socket_path, const PodmanClientOptions *options,
                      PodmanClient **ret);
PodmanClient *podman_client_free(PodmanClient *c);
DEFINE_TRIVIAL_CLEANUP_FUNC(PodmanClient *, podman_client_free);
const char *podman_client_get_socket_path(const PodmanClient *c);

/* ---- system ---- */

typedef struct PodmanVersion {
	char *version;     /* "5.4.2" */
	char *api_version; /* the libpod API version */
	char *os_arch;     /* "linux/amd64" */
	char *kernel;
} PodmanVersion;

typedef struct PodmanInfo {
	char *hostname;
	char *kernel;
	char *oci_runtime;     /* name of the OCI runtime, "runc" */
	char *cgroup_version;  /* "v1", "v2" */
	unsigned cpus;         /* host CPUs */
	uint64_t memory_total; /* bytes */
	uint64_t memory_free;  /* bytes */
	char *graph_root;      /* storage root */
} PodmanInfo;

void podman_version_done(PodmanVersion *v);
void podman_info_done(PodmanInfo *i);

int podman_ping(PodmanClient *c, PodmanError *error);
int podman_version(PodmanClient *c, PodmanVersion *ret, PodmanError *error);
int podman_info(PodmanClient *c, PodmanInfo *ret, PodmanError *error);

/* ---- containers ---- */

typedef struct PodmanContainer {
	char *id;
	char *name;
	char *image;        /* the image reference it was created from */
	char *image_id;     /* may be NULL */
	char *state;        /* "running", "exited", "created", "paused", ... */
	int64_t created;    /* unix seconds; 0 if unknown */
	int64_t started_at; /* unix seconds; 0 if never started */
	int pid;            /* 0 if not running */
	char **labels;      /* NULL-terminated "key=value" list, sorted; never NULL */
} PodmanContainer;

typedef struct PodmanContainerInspect {
	char *id;
	char *name;
	char *image;    /* image reference (ImageName) */
	char *image_id; /* may be NULL */
	char *state;    /* State.Status */
	bool running;
	bool checkpointed;
	int pid;
	int exit_code;
	json_t *raw; /* the whole reply, for what the fields above leave out */
} PodmanContainerInspect;

/* One-shot resource use of a running container. */
typedef struct PodmanStats {
	char *id;
	char *name;
	double cpu_percent;   /* Podman's own figure, relative to one core */
	uint64_t cpu_nano;    /* cumulative CPU time, ns */
	uint64_t system_nano; /* when the sample was taken, ns (wall clock) */
	uint64_t mem_usage;   /* bytes */
	uint64_t mem_limit;   /* bytes */
	uint64_t pids;
	uint64_t net_rx_bytes; /* summed over the container's interfaces */
	uint64_t net_tx_bytes;
	uint64_t block_read;    /* bytes */
	uint64_t block_written; /* bytes */
} PodmanStats;

/* One path of a container's root filesystem that differs from its image,
 * as Podman's changes endpoint reports it. */
typedef enum PodmanChangeKind {
	PODMAN_CHANGE_MODIFIED = 0,
	PODMAN_CHANGE_ADDED = 1,
	PODMAN_CHANGE_DELETED = 2,
} PodmanChangeKind;

typedef struct PodmanChange {
	char *path; /* absolute, inside the container */
	PodmanChangeKind kind;
} PodmanChange;

void podman_container_done(PodmanContainer *ct);
void podman_containers_free(PodmanContainer *cts, size_t n);
void podman_container_inspect_done(PodmanContainerInspect *i);
void podman_stats_free(PodmanStats *st, size_t n);
void podman_changes_free(PodmanChange *ch, size_t n);

/* all: also containers that are not running. */
int podman_containers_list(PodmanClient *c, bool all, PodmanContainer **ret, size_t *ret_n,
                           PodmanError *error);
/* The container named exactly `name`: PODMAN_NOT_FOUND if there is none,
 * even where Podman's own lookup would take `name` as a prefix of another
 * container's ID. */
int podman_container_inspect(PodmanClient *c, const char *name, PodmanContainerInspect *ret,
                             PodmanError *error);
/* How much the container's root filesystem has changed: Podman's SizeRw,
 * the size of its writable layer (Podman walks that layer to tell). */
int podman_container_size_rw(PodmanClient *c, const char *name, uint64_t *ret, PodmanError *error);
/* What in the container's root filesystem differs from its image (Podman's
 * `container diff`, without starting a podman process; Podman takes no
 * lock of the container for it, so it answers for a frozen container too). */
int podman_container_changes(PodmanClient *c, const char *name, PodmanChange **ret, size_t *ret_n,
                             PodmanError *error);
/* Stats of every running container (none: 0 entries). */
int podman_containers_stats(PodmanClient *c, PodmanStats **ret, size_t *ret_n, PodmanError *error);

/* Podman takes each container's lock to list it or read its stats, and
 * holds that lock through a whole checkpoint (a post-copy dump's for as
 * long as its pages are served): a call that touches such a container
 * waits as long. These two touch only the containers they name. Podman
 * evaluates an `id` filter on the container's configuration, before it
 * takes any lock, and reads stats of named containers only.
 *
 * Every container (running or not) whose ID is one of `ids` (full IDs;
 * NULL-terminated, at least one). */
int podman_containers_list_ids(PodmanClient *c, char *const *ids, PodmanContainer **ret,
                               size_t *ret_n, PodmanError *error);
/* Stats of the containers `names` (NULL-terminated, at least one; IDs or
 * names), which must all exist and run: unlike the call for every
 * container, Podman fails the whole call (-EIO, or PODMAN_NOT_FOUND) when
 * one does not. */
int podman_containers_stats_of(PodmanClient *c, char *const *names, PodmanStats **ret,
                               size_t *ret_n, PodmanError *error);

typedef struct PodmanCreateSpec {
	const char *name;
	const char *image;
	char *const *command;     /* NULL-terminated argv, NULL: the image's */
	char *const *labels;      /* NULL-terminated "key=value" list, may be NULL */
	const char *network_mode; /* "none", "bridge", "host"; NULL: Podman's default */
} PodmanCreateSpec;

/* ret_id (optional): the new container's id. */
int podman_container_create(PodmanClient *c, const PodmanCreateSpec *spec, char **ret_id,
                            PodmanError *error);
/* Starting a running or stopping a stopped container succeeds. */
int podman_container_start(PodmanClient *c, const char *name, PodmanError *error);
int podman_container_stop(PodmanClient *c, const char *name, unsigned timeout_sec,
                          PodmanError *error);
int podman_container_remove(PodmanClient *c, const char *name, bool force, PodmanError *error);

/* The last `tail` lines of the container's stdout and stderr as text
 * (Podman's stream framing removed). */
int podman_container_logs(PodmanClient *c, const char *name, unsigned tail, char **ret,
                          PodmanError *error);

typedef struct PodmanCheckpointOptions {
	bool leave_running;
	bool tcp_established;
	bool file_locks;
	bool ignore_rootfs;
	bool keep; /* keep CRIU's work files and logs */
} PodmanCheckpointOptions;

typedef struct PodmanRestoreOptions {
	const char *name; /* restore under this name (NULL: the checkpointed one) */
	bool tcp_established;
	bool file_locks;
	bool ignore_rootfs;
	bool ignore_static_ip;
	bool ignore_static_mac;
	bool keep;
} PodmanRestoreOptions;

/* Checkpoints `name` and streams the exported archive (a plain tar) to
 * `write`. Podman sends it only once the checkpoint is complete. Unless
 * leave_running, the container is stopped afterwards. options may be NULL. */
int podman_container_checkpoint(PodmanClient *c, const char *name,
                                const PodmanCheckpointOptions *options, PodmanWriteFn write,
                                void *userdata, PodmanError *error);
/* Restores a container from an exported checkpoint archive read from `read`.
 * Its image must be in this Podman's storage. ret_id (optional): the id of the
 * restored container. options may be NULL. */
int podman_container_restore(PodmanClient *c, const PodmanRestoreOptions *options,
                             PodmanReadFn read, void *userdata, char **ret_id, PodmanError *error);

/* Restores `name` on this node from the checkpoint it kept (a checkpoint
 * taken with keep, exported or not): how a source resumes a container whose
 * migration was rolled back. */
int podman_container_restore_local(PodmanClient *c, const char *name,
                                   const PodmanRestoreOptions *options, PodmanError *error);

/* ---- images ---- */

/* 1 if the image exists in storage, 0 if not. */
int podman_image_exists(PodmanClient *c, const char *name, PodmanError *error);
/* The full ID (hex, without "sha256:") of the image `name`. */
int podman_image_id(PodmanClient *c, const char *name, char **ret, PodmanError *error);
/* Streams the image as a docker-archive tar (keeps its name). */
int podman_image_export(PodmanClient *c, const char *name, PodmanWriteFn write, void *userdata,
                        PodmanError *error);
/* Loads images from an archive (docker- or oci-archive) read from `read`;
 * ret_names (optional): NULL-terminated names of the loaded images. */
int podman_image_load(PodmanClient *c, PodmanReadFn read, void *userdata, char ***ret_names,
                      PodmanError *error);

/* ---- reply decoders (pure; exposed for tests and fuzzing) ---- */

/* `text` need not be NUL-terminated. -EBADMSG if not JSON of the expected
 * shape; *ret untouched on failure. */
int podman_decode_containers(const char *text, size_t size, PodmanContainer **ret, size_t *ret_n);
int podman_decode_inspect(const char *text, size_t size, PodmanContainerInspect *ret);
/* Whether `ins` is the container named `name` (not one whose ID `name`
 * merely begins). */
bool podman_inspect_is_named(const PodmanContainerInspect *ins, const char *name);
int podman_decode_stats(const char *text, size_t size, PodmanStats **ret, size_t *ret_n);
int podman_decode_changes(const char *text, size_t size, PodmanChange **ret, size_t *ret_n);
int podman_decode_version(const char *text, size_t size, PodmanVersion *ret);
int podman_decode_info(const char *text, size_t size, PodmanInfo *ret);
/* The "message" of an error reply, else the body itself if it is printable
 * text, else NULL. */
char *podman_decode_error_message(const char *text, size_t size);
/* Removes the 8-byte frame headers of a multiplexed log stream; -EBADMSG on a
 * truncated frame. */
int podman_decode_log_stream(const char *data, size_t size, char **ret);
/* The same, keeping only the frames of the streams in `streams` (bit n for
 * stream n: PODMAN_LOG_STDOUT, PODMAN_LOG_STDERR). */
#define PODMAN_LOG_STDOUT (1u << 1)
#define PODMAN_LOG_STDERR (1u << 2)
int podman_decode_log_frames(const char *data, size_t size, unsigned streams, char **ret);
