/* agent-migrate.h — what the migration handlers share: the node's
 * migration slots, channels to peer agents, fault points and records that
 * wait out etcd outages. Who may move a record's phase: docs/etcd-keys.md
 * ("Who may move a record"). The archive travels source → target directly,
 * in CHUNK_BYTES chunks with offsets, and a SHA-256 over all of it that the
 * target checks before it restores. */
#pragma once

#include "agent-internal.h"
#include "migration-store.h"
#include "page-server.h"
#include "time-util.h"

#define CHUNK_BYTES         (1024 * 1024)
#define SEND_SLOTS          4 /* chunks in flight between Podman's stream and gRPC */
#define READY_TIMEOUT_USEC  (300 * USEC_PER_SEC) /* includes fetching an image */
#define SEND_TIMEOUT_USEC   (60 * USEC_PER_SEC)
#define BUSY_RETRY_USEC     (30 * USEC_PER_SEC) /* a target refusing Receive as busy */
#define DONE_TIMEOUT_USEC   (600 * USEC_PER_SEC)
#define SETTLE_TIMEOUT_USEC (900 * USEC_PER_SEC)
#define FAULT_TIMEOUT_USEC  (600 * USEC_PER_SEC)
#define PROGRESS_USEC       (200 * USEC_PER_MSEC)
#define SHA256_BYTES        32
/* Free space a target leaves in its work directory: an archive that would
 * take more is refused (the restore and the node need room too). */
#define WORK_DIR_RESERVE_PERCENT 5
#define RECORD_RETRY_USEC        (30 * USEC_PER_SEC) /* a record change waits out etcd */
/* How long a source keeps its container stopped while etcd does not answer,
 * where recovery_decide_outage() lets it resume alone. */
#define OUTAGE_WAIT_USEC (10 * USEC_PER_SEC)

/* Takes one of the node's migration slots for `id`, which moves
 * `container`; -EBUSY when all are in use (-ENOMEM). While it is held,
 * recovery leaves the migration alone, and the collector leaves the
 * container to its last reading (agent_busy_containers()). */
int migration_slot_take(Agent *a, const char *id, const char *container);
void migration_slot_release(Agent *a, const char *id);

/* Channel options for calls to a peer agent (TLS as this agent serves). */
RpcOptions agent_peer_options(const Agent *a);

/* The test fault point `point` (inert without --fault-dir). */
int agent_fault(const Agent *a, const char *point);

/* Advances a record, retrying for RECORD_RETRY_USEC (the _within form: for
 * timeout_usec) while etcd cannot be reached; ETCD_CAS_FAILED and -EINVAL
 * are answers, not outages, and return at once. */
int agent_record_advance(Agent *a, MigrationRecord *rec, MigrationPhase to, const char *error);
int agent_record_advance_within(Agent *a, MigrationRecord *rec, MigrationPhase to,
                                const char *error, uint64_t timeout_usec);

/* Reloads `rec` from etcd, waiting while etcd cannot be reached (for
 * 2 × RECORD_RETRY_USEC, or timeout_usec). */
int agent_record_reload(Agent *a, MigrationRecord *rec);
int agent_record_reload_within(Agent *a, MigrationRecord *rec, uint64_t timeout_usec);

/* What a peer agent's info says of its build. */
typedef struct AgentPeerVersion {
	char version[64]; /* its release, "unknown" if it says none */
	unsigned protocol;
	bool post_copy; /* its info's criu.post_copy: its host can do post-copy */
} AgentPeerVersion;

/* The gRPC address of `node`'s agent, from its info key in etcd, and (when
 * ret_version is not NULL) its release and protocol; -EPERM when that key
 * does not live under the lease of the node's status, -EBADMSG when the
 * document is not an info. */
int agent_node_address(Agent *a, const char *node, char **ret, AgentPeerVersion *ret_version);

/* A PodmanReadFn over a file: userdata points to its descriptor (an int). */
ssize_t agent_fd_read(void *buf, size_t size, void *userdata);
/* n bytes as 2n lowercase hex digits and a NUL. */
void agent_hex(const uint8_t *d, size_t n, char *out);

/* An unnamed file in the work directory, for an archive arriving: it
 * vanishes with its descriptor, whatever happens to this process. */
int agent_work_file(const Agent *a);
/* What the archives of one transfer (or a fetched image) may take: the
 * work directory's free space less WORK_DIR_RESERVE_PERCENT of it, so no
 * sender fills the disk. */
int agent_work_space(const Agent *a, uint64_t *ret);

/* Removes what calls of an earlier run of this agent left in the work
 * directory and the pages directory: the per-call directories (`<migration
 * id>.XXXXXX`, a pre-copy's archives or a page server's images) last changed
 * before this agent started, and the image mounts its notes name (unmounted,
 * then the note removed). Their call died with that run; recovery needs none of them
 * (it works from the evidence files and the recorded pages). */
void agent_work_dir_sweep(const Agent *a);

/* An image a target mounts for the archive check is noted first in
 * `<work dir>/mounts/<migration id>` (the image's ID, by which it is mounted
 * and unmounted; an earlier version noted the name) and forgotten once
 * unmounted, so that the start-up sweep (agent_work_dir_sweep()) unmounts
 * what an agent that died in between left mounted: Podman counts mounts
 * and would keep it mounted for good. */
int agent_image_mount_note(const Agent *a, const char *id, const char *image_id);
void agent_image_mount_forget(const Agent *a, const char *id);
/* `podman image unmount IMAGE` (bounded by PODMAN_CLI_TIMEOUT); 0, or
 * negative if it failed. Podman answers 0 for an image that is not mounted:
 * give the ID that was mounted, not a name that may have moved. */
int agent_image_unmount(const char *image);
/* How long `podman image mount` and `unmount` may take (timeout(1)): a
 * call waiting on a stuck storage lock must not hold a transfer. */
#define PODMAN_CLI_TIMEOUT "60"

/* Removes the directory tree at `path` (`rm -rf --one-file-system`: a mount
 * below it is left alone); 0, or negative when rm failed. */
int agent_remove_tree(const char *path);

/* Target side: gets `image` from the agent of `source` (at the address of
 * its trusted info, never one a request names) into a file, and loads it
 * into this node's Podman only if the archive tags exactly `image` and
 * nothing else and its configuration hashes to `image_id`, the record's
 * (image_archive_check()); what Podman loaded is checked again
 * (agent-migrate-image.c). The reason in why if it fails. */
int target_fetch_image(Agent *a, const char *source, const char *migration_id, const char *image,
                       const char *image_id, ErrorDetail *why);

/* Page-server mode (page-server.h). The cluster's certificates for the page
 * server and the relay (ca NULL under --insecure). */
PageTls agent_page_tls(const Agent *a);
/* The pages directory (--pages-dir), created 0700 if missing; refused
 * (-EPERM) unless it is a directory, not a link, of this user's alone: it
 * may sit in a world-writable tmpfs such as /dev/shm. */
int agent_pages_dir(const Agent *a, const char **ret);
/* <pages-dir>/<id><suffix>: what the source's relay recorded of a
 * page-server dump (".stream") and the logs of replaying it. */
int agent_pages_path(Agent *a, const char *id, const char *suffix, char **ret);
/* Before restoring `container` here from its kept checkpoint after
 * migration `id`: removes the CRIU configuration file a dump may have left
 * for it and, after a page-server dump, replays the recorded pages into
 * that checkpoint (the dump sent them away). 0 when there is nothing to
 * replay. */
int agent_pages_replay(Agent *a, const char *id, const char *container, ErrorDetail *why);
/* The migration is settled: its recorded pages go. */
void agent_pages_forget(Agent *a, const char *id);
