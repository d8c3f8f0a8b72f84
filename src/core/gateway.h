/*
 * What the device gateway (server.c) shares with the HTTP side on the same
 * loop thread: the device registry with its access lists, device changes
 * made through the API, and the counters /metrics reports.
 *
 * Everything here runs on the event-loop thread only.
 */
#ifndef TRACKD_GATEWAY_H
#define TRACKD_GATEWAY_H

#include <stdbool.h>
#include <stdint.h>

#include "core/config.h"
#include "trackd/store.h"

#define TD_MAX_PROTOCOLS 32

typedef struct td_server td_server;
struct td_endpoint;
struct td_voice_asm;

/* A device known to the server (all devices in the store, plus new ones). */
typedef struct td_device {
    td_store_device st; /* persisted state; st.id = 0 until first commit */
    int batch_idx;      /* slot in the open batch's device list, or -1 */
    int links;          /* live TCP connections and bound UDP peers */

    /* Access: the owner (0 = none: admins only) and shared-with users. */
    int64_t owner_id;
    int64_t *shares;
    int nshares, shares_cap;

    /* The newest record as API JSON (NULL until known), and its time. */
    char *latest;
    int64_t latest_ms;
    bool latest_loaded; /* the store was asked once */

    struct td_rstate *rstate; /* server-side rule state (core/rules.c) */

    /* Commands: where the device was last heard from (a TCP connection or a
     * UDP peer; NULL when none), and how many commands wait for it. */
    struct td_endpoint *ep;
    int queued;
    struct td_voice_asm *voice; /* a voice message being put back together */

    bool announced; /* a {"devices"} message went out for it */
    bool announced_online;
    struct td_device *grave_next; /* deleted, freed after the next commit starts */
} td_device;

/* Per-protocol counters, indexed like td_protocols[]. */
typedef struct td_proto_stats {
    uint64_t frames, records, decode_errors;
} td_proto_stats;

/* Commit latency histogram bucket bounds, in seconds. */
#define TD_COMMIT_BUCKETS 10
extern const double td_commit_bucket_bounds[TD_COMMIT_BUCKETS];

/*
 * The limits trackd enforces on what the network sends it, each counted
 * when hit (/metrics: trackd_limit_hits_total{limit="name"}).
 */
#define TD_LIMIT_LIST(XX)                                                                          \
    XX(CONNECTIONS, "connections")                         /* --max-connections */                 \
    XX(CONNECTIONS_PER_ADDRESS, "connections_per_address") /* --max-connections-per-ip */          \
    XX(DETECT_TIMEOUT, "detect_timeout")                   /* --detect-timeout */                  \
    XX(DETECT_BYTES, "detect_bytes")                       /* 256 bytes without a protocol */      \
    XX(FRAME_SIZE, "frame_size")                           /* a protocol's max_frame */            \
    XX(FRAME_TIMEOUT, "frame_timeout")                     /* --frame-timeout */                   \
    XX(IDLE_TIMEOUT, "idle_timeout")                       /* --idle-timeout */                    \
    XX(WRITE_QUEUE, "write_queue")                         /* --write-queue-max */                 \
    XX(UDP_RATE, "udp_rate")                               /* --udp-rate, --udp-burst */           \
    XX(UDP_PEERS, "udp_peers")                             /* --max-udp-peers */                   \
    XX(BANS, "bans")                                       /* --ban-after, --ban-seconds */        \
    XX(HTTP_CONNECTIONS, "http_connections")               /* --http-max-connections */            \
    XX(HTTP_HEADERS, "http_headers")                       /* --http-header-max */                 \
    XX(HTTP_BODY, "http_body")                             /* request bodies (413) */              \
    XX(WEBSOCKET_CLIENTS, "websocket_clients")             /* --ws-max-clients */

enum td_limit {
#define XX(id, name) TD_LIMIT_##id,
    TD_LIMIT_LIST(XX)
#undef XX
        TD_LIMIT_COUNT
};
extern const char *const td_limit_names[TD_LIMIT_COUNT];

typedef struct td_gw_stats {
    td_proto_stats proto[TD_MAX_PROTOCOLS];
    uint64_t limit_hits[TD_LIMIT_COUNT];
    uint64_t fd_limit;       /* the open-file limit (RLIMIT_NOFILE) after start-up */
    uint64_t max_conns;      /* device TCP connections allowed at once */
    uint64_t udp_buckets;    /* addresses with a UDP rate bucket now */
    uint64_t banned[2];      /* addresses banned now: [0] TCP, [1] UDP */
    uint64_t unknown_frames; /* connections/datagrams no protocol claimed */
    uint64_t commits, commit_failures, committed_rows;
    uint64_t commit_buckets[TD_COMMIT_BUCKETS]; /* cumulative counts */
    double commit_seconds;                      /* sum */
    /* Retention: records deleted, batches (transactions) run and failed,
     * complete passes, and the writer's time spent on them. */
    uint64_t retention_rows, retention_batches, retention_failures, retention_passes;
    double retention_seconds;
} td_gw_stats;

const td_config *td_gw_config(td_server *srv);
td_store *td_gw_store(td_server *srv);
/* The device port actually bound (resolves --port 0). */
int td_gw_port(td_server *srv);
const td_gw_stats *td_gw_stats_get(td_server *srv);
/* Counts a limit hit (the HTTP side's limits too). */
void td_gw_limit_hit(td_server *srv, enum td_limit limit);
/* Open TCP connections and bound UDP peers per protocol (index as
 * td_protocols[]; index td_protocol_count = not yet detected). */
void td_gw_connections(td_server *srv, uint64_t *tcp, uint64_t *udp);

/* Calls cb for every device, in no particular order; stops on non-zero. */
int td_gw_each_device(td_server *srv, int (*cb)(void *arg, td_device *d), void *arg);
td_device *td_gw_device(td_server *srv, int64_t id);
td_device *td_gw_device_by_uid(td_server *srv, const char *unique_id);

/* Whether user (id, admin) may see / manage the device. */
bool td_device_visible(const td_device *d, int64_t user_id, bool admin);
bool td_device_manageable(const td_device *d, int64_t user_id, bool admin);

/* Devices through the API: stored at once, the in-memory registry follows.
 * add: TD_EEXISTS when the unique id is taken. delete: closes the device's
 * connections and removes its records. */
int td_gw_device_add(td_server *srv, const char *unique_id, const char *name, int64_t owner_id,
                     td_device **out);
int td_gw_device_update(td_server *srv, td_device *d, const char *unique_id, const char *name);
int td_gw_device_delete(td_server *srv, td_device *d);
int td_gw_share(td_server *srv, td_device *d, int64_t user_id, bool add);
/* A user was deleted: drop them from owners and shares. */
void td_gw_user_deleted(td_server *srv, int64_t user_id);

/* Geofences, rules, notification channels or users changed in the store:
 * the rule engine reloads them. */
void td_gw_alerts_changed(td_server *srv);
/* The notification deliverer (for its counters). */
struct td_notify *td_gw_notify(td_server *srv);

/* The API stored a queued command for d: it is sent at once when the device
 * can be reached (an open TCP connection, or a UDP address heard from within
 * --udp-fresh), else when the device next reports. */
void td_gw_command_queued(td_server *srv, td_device *d);
/* The directory voice message files are kept in. */
const char *td_gw_media_dir(td_server *srv);

#endif
