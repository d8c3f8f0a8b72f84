/*
 * The device gateway (see server.h).
 *
 * Data flow: bytes arrive on a TCP connection (td_conn) or as a datagram
 * from a UDP peer (td_peer); the stream assembler detects the protocol and
 * cuts frames; each frame is decoded; its records join the open batch and
 * its reply waits in the endpoint's reply queue, tagged with the batch's
 * sequence number. After each loop iteration, if no commit is running and
 * the open batch holds anything, it is handed to the thread pool and
 * written in one transaction (group commit). When that commit completes,
 * every reply tagged with its sequence number is sent, in order. A failed
 * commit sends none of them, so the device retransmits.
 *
 * Retention (--retention-days): a pass starts a second after start-up and
 * then every hour, and deletes the records older than the cut-off in
 * batches of RETENTION_BATCH, each its own transaction on the same writer
 * thread. When records wait for a commit, a batch may go first only once
 * RETENTION_YIELD times the last batch's time has passed since it ended;
 * when none wait, a batch starts then too, or once the writer has been idle
 * for RETENTION_IDLE_MS after a commit. So ingest waits for at most one
 * batch at a time and has at least 3/4 of the time when it is busy, and
 * neither a busy port nor a trickle of small commits stops the purge. A
 * checkpoint beside the writer follows each batch (see start_checkpoint()).
 *
 * Rules for bad input (each with a log line):
 *   - undetected protocol: TCP closed once detection fails or the detect
 *     limit/timeout passes; a UDP datagram is dropped. Either way the first
 *     bytes are kept (capped) as an unknown-traffic sample.
 *   - a frame that fails to decode: logged, the connection stays.
 *   - a frame over the protocol's size limit, or a stream that cannot be
 *     framed: the TCP connection is closed.
 *   - a device that is not registered with --register-unknown=false:
 *     TCP closed, datagram dropped, sample kept.
 *   - a connection silent for --idle-timeout, or a frame that has started
 *     and is not complete within --frame-timeout (a slow sender): closed.
 *   - a peer that does not read its replies (more than --write-queue-max
 *     queued): closed at once, its queued bytes dropped.
 *
 * Limits on what the network may hold (each counted in /metrics and logged
 * through rate-limited lines): device TCP connections in all and per source
 * address (IPv4 address or IPv6 /64) are bounded; a connection over either
 * is accepted and closed at once, before anything is read. UDP datagrams
 * are taken per source address through a token bucket (--udp-rate,
 * --udp-burst); the excess is dropped before detection. The table of
 * buckets is bounded (least recently used evicted).
 */
#include "core/server.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>
#include <uv.h>

#include "core/amr.h"
#include "core/ban.h"
#include "core/command.h"
#include "core/gateway.h"
#include "core/log.h"
#include "core/map.h"
#include "core/record_json.h"
#include "core/rules.h"
#include "core/stream.h"
#include "core/text.h"
#include "core/voice.h"
#include "http/auth.h"
#include "http/http.h"
#include "notify/notify.h"
#include "trackd/error.h"
#include "trackd/protocol.h"
#include "trackd/store.h"

#define SWEEP_MS 1000
#define CLOSE_LINGER_MS 5000          /* a closing connection's replies get this long to drain */
#define FD_RESERVE 64                 /* descriptors kept for the store, media files, lws, pipes */
#define UDP_BUCKETS_MAX 65536         /* addresses with a UDP rate bucket at once */
#define ADDR_KEY_MAX 48               /* "1.2.3.4" or "2001:db8:1:2::/64" */
#define RENOTIFY_CHECK_MS 5000        /* how often open critical events are looked at */
#define PENDING_MAX 64                /* events one record can raise */
#define COMMAND_CHECK_MS 5000         /* how often queued commands are checked for expiry */
#define COMMAND_FRAME_MAX (70 * 1024) /* one encoded command (a voice message fits) */
#define DELIVER_MAX 64                /* commands sent to one device at once */
#define RETENTION_BATCH 2000          /* records examined (and deleted) per transaction */
#define RETENTION_PASS_MS (3600 * 1000) /* from one retention pass to the next */
#define RETENTION_RETRY_MS (60 * 1000)  /* after a failed batch */
#define RETENTION_YIELD 3               /* time left to ingest per unit of batch time, under load */
#define RETENTION_IDLE_MS 5 /* the writer idle this long after a commit: a batch may run */

typedef struct td_server td_server;
typedef struct gbatch gbatch;

/* A reply waiting for the commit with sequence number `seq`. */
typedef struct td_reply {
    struct td_reply *next;
    uint64_t seq;
    size_t len;
    uint8_t data[];
} td_reply;

/* Something replies are sent to: a TCP connection or a UDP peer. */
typedef struct td_endpoint {
    td_reply *head, *tail;
    struct td_endpoint *wait_next; /* in server's waiting list */
    bool waiting;
    bool is_udp;
} td_endpoint;

typedef struct td_conn {
    td_endpoint ep; /* first: endpoints cast back to their owner */
    uv_tcp_t handle;
    td_server *srv;
    td_stream stream;
    char remote[72];
    char addr[ADDR_KEY_MAX]; /* what the per-address limit counts it under */
    td_ban_addr ban;         /* the same, as a ban would name it (family 0: unknown) */
    td_device *dev;
    uint64_t opened_ms, last_ms;
    uint64_t partial_ms;         /* when the unfinished frame in the buffer began; 0: none */
    uint64_t closing_ms;         /* when closing began */
    struct td_conn *prev, *next; /* in srv->conns, or srv->closing once closing */
    bool closing;
    bool counted; /* holds a place in the connection counts */
} td_conn;

/* A UDP source address's token bucket (--udp-rate, --udp-burst). */
typedef struct udp_bucket {
    struct udp_bucket *prev, *next; /* least recently used last */
    double tokens;
    uint64_t last_ms;
    char key[ADDR_KEY_MAX];
} udp_bucket;

typedef struct td_peer {
    td_endpoint ep;
    td_server *srv;
    struct sockaddr_storage addr;
    char remote[72];
    const td_protocol *proto;
    td_session session;
    td_device *dev;
    uint64_t last_ms;
    struct td_peer *lru_prev, *lru_next; /* the most recently heard first */
} td_peer;

struct td_server {
    const td_config *cfg;
    uv_loop_t *loop;
    td_store *store;
    uv_tcp_t tcp;
    uv_udp_t udp;
    uv_signal_t sigint, sigterm;
    uv_timer_t sweep;
    uv_check_t check;
    td_map devices;                 /* unique id -> td_device */
    td_map peers;                   /* remote string -> td_peer */
    td_peer *peer_head, *peer_tail; /* by the time they were last heard, newest first */
    td_conn *conns;
    size_t nconns;
    td_conn *closing; /* closed, waiting for their replies to drain */
    size_t nsockets;  /* TCP connections holding a descriptor, closing ones too */
    td_map per_addr;  /* address key -> connections from it, as (void *)count */
    td_map buckets;   /* address key -> udp_bucket */
    udp_bucket *lru_head, *lru_tail;
    td_banlist bans[2]; /* addresses the kernel drops: [0] TCP connections, [1] UDP datagrams */

    /* Group commit: batch[open] fills while batch[!open] is written. */
    struct gbatch {
        td_store_batch b;
        td_device **devs; /* parallel to b.devices */
        size_t rows_cap, devs_cap, unknown_cap, events_cap;
    } batch[2];
    int open;
    uint64_t open_seq, committed_seq; /* sequence of the open batch */
    bool committing, paused;
    int commit_rc;
    uv_work_t work;
    td_endpoint *waiting;

    td_decode_ctx ctx; /* one frame at a time on the loop thread */
    bool stopping;
    uint64_t frames, records, decode_errors, commits;

    int port;             /* the device port actually bound */
    td_map by_id;         /* decimal store id -> td_device */
    td_device *graveyard; /* deleted devices the open batch may still point at */
    td_http *http;
    td_gw_stats stats;
    uint64_t commit_start_ns;

    td_rules *rules;
    td_notify *notify;
    uint64_t renotify_checked_ms;
    /* Events a record raised, waiting for the record's row. */
    struct pending_event {
        const char *type;
        json_t *attrs;
    } pending[PENDING_MAX];
    int npending;

    uint64_t commands_checked_ms;
    char media_dir[600];
    uint8_t *media_buf; /* decoders unescape voice bytes into it */

    /* Retention: the current pass, walked one batch at a time. */
    struct retention {
        td_store_purge walk;
        bool active;             /* a pass is under way */
        bool running;            /* a batch is on the writer */
        uint64_t next_ns;        /* from then on a batch may go before a waiting commit */
        uint64_t last_commit_ns; /* when the last commit ended */
        uv_timer_t idle;         /* to look again once the writer has been idle */
        int rc;                  /* the last batch's result */
        uint64_t next_ms;        /* when the next pass starts */
        uint64_t started_ms, batch_ns, longest_ns;
        int64_t rows;
        uint64_t batches;
        double seconds; /* writer time of this pass */
        uv_work_t work;
    } retention;

    /* A checkpoint beside the writer (after purge batches and after
     * commits once the log has grown), one at a time. */
    struct {
        bool running;
        int rc;
        uv_work_t work;
    } checkpoint;
};

const double td_commit_bucket_bounds[TD_COMMIT_BUCKETS] = {0.001, 0.0025, 0.005, 0.01, 0.025,
                                                           0.05,  0.1,    0.25,  0.5,  1.0};

const char *const td_limit_names[TD_LIMIT_COUNT] = {
#define XX(id, name) name,
    TD_LIMIT_LIST(XX)
#undef XX
};

/* Rate-limited log lines for what a flood repeats. */
static td_log_limit log_connect = {.what = "connections opened"};
static td_log_limit log_refused = {.what = "connections refused over a limit"};
static td_log_limit log_accept = {.what = "accept errors"};
static td_log_limit log_closed = {.what = "connections closed before identifying a device"};
static td_log_limit log_detect = {.what = "unrecognised traffic"};
static td_log_limit log_frame = {.what = "frames over a size or time limit"};
static td_log_limit log_decode = {.what = "decode errors"};
static td_log_limit log_udp_rate = {.what = "datagrams over --udp-rate"};
static td_log_limit log_udp_peer = {.what = "new UDP peers"};
static td_log_limit log_udp_peers = {.what = "UDP peers forgotten over the limit"};
static td_log_limit log_early = {.what = "records before identification"};
static td_log_limit log_write = {.what = "peers not reading their replies"};
/* Devices' comings and goings: many at once after a restart, or a flood of
 * logins; the first 100 in 10 s are logged. */
static td_log_limit log_online = {.what = "devices online", .max = 100};
static td_log_limit log_offline = {.what = "devices offline and disconnects", .max = 100};
static td_log_limit log_new = {.what = "devices registered", .max = 100};

static size_t proto_index(const td_protocol *p)
{
    for (size_t i = 0; i < td_protocol_count && i < TD_MAX_PROTOCOLS; i++)
        if (td_protocols[i] == p)
            return i;
    return 0;
}

static void index_device(td_server *srv, td_device *dev)
{
    char key[24];
    if (dev->st.id <= 0)
        return;
    snprintf(key, sizeof(key), "%lld", (long long)dev->st.id);
    td_map_put(&srv->by_id, key, dev);
}

static void free_device(td_device *dev)
{
    td_rules_forget(dev);
    td_voice_asm_free(dev->voice);
    free(dev->shares);
    free(dev->latest);
    free(dev);
}

static uint64_t now_ms(void)
{
    return (uint64_t)td_now_ms();
}

/* "tcp:1.2.3.4:5678" or "udp:[::1]:5678"; IPv4-mapped addresses as IPv4. */
static void format_addr(const struct sockaddr *sa, const char *transport, char *out, size_t cap)
{
    char ip[INET6_ADDRSTRLEN] = "?";

    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        uv_ip4_name(in, ip, sizeof(ip));
        snprintf(out, cap, "%s:%s:%d", transport, ip, ntohs(in->sin_port));
        return;
    }
    const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
    uv_ip6_name(in6, ip, sizeof(ip));
    if (strncmp(ip, "::ffff:", 7) == 0 && strchr(ip + 7, '.'))
        snprintf(out, cap, "%s:%s:%d", transport, ip + 7, ntohs(in6->sin6_port));
    else
        snprintf(out, cap, "%s:[%s]:%d", transport, ip, ntohs(in6->sin6_port));
}

/*
 * The address the per-address limits (and bans) count a peer under: its
 * IPv4 address (also when mapped into IPv6), or the /64 prefix of an IPv6
 * address, since one IPv6 host is usually given a whole /64. Sets a (family
 * 0 when sa is neither) and its text, the key, in out ("?" then).
 */
static void addr_key(const struct sockaddr *sa, td_ban_addr *a, char *out, size_t cap)
{
    if (td_ban_addr_from(sa, a) == 0)
        td_ban_addr_format(a, out, cap);
    else
        snprintf(out, cap, "?");
}

/* ---- devices ------------------------------------------------------------ */

static int load_device(void *arg, const td_store_device *d)
{
    td_server *srv = arg;
    td_device *dev = calloc(1, sizeof(*dev));
    if (!dev)
        return TD_ENOMEM;
    dev->st = *d;
    dev->st.online = false;
    dev->batch_idx = -1;
    index_device(srv, dev);
    return td_map_put(&srv->devices, d->unique_id, dev);
}

static int add_share(td_device *dev, int64_t user_id)
{
    for (int i = 0; i < dev->nshares; i++)
        if (dev->shares[i] == user_id)
            return 0;
    if (dev->nshares == dev->shares_cap) {
        int cap = dev->shares_cap ? dev->shares_cap * 2 : 2;
        int64_t *p = realloc(dev->shares, (size_t)cap * sizeof(*p));
        if (!p)
            return TD_ENOMEM;
        dev->shares = p;
        dev->shares_cap = cap;
    }
    dev->shares[dev->nshares++] = user_id;
    return 0;
}

static int load_access(void *arg, const td_store_access *a)
{
    td_device *dev = td_gw_device(arg, a->device_id);
    if (!dev)
        return 0;
    if (a->owner)
        dev->owner_id = a->user_id;
    else
        return add_share(dev, a->user_id);
    return 0;
}

/* Puts the device's state into the open batch (once per batch). */
static int touch_device(td_server *srv, td_device *dev)
{
    struct gbatch *g = &srv->batch[srv->open];

    if (dev->batch_idx >= 0)
        return dev->batch_idx;
    if (g->b.ndevices == g->devs_cap) {
        size_t cap = g->devs_cap ? g->devs_cap * 2 : 64;
        td_store_device *d = realloc(g->b.devices, cap * sizeof(*d));
        if (!d)
            return TD_ENOMEM;
        g->b.devices = d;
        td_device **p = realloc(g->devs, cap * sizeof(*p));
        if (!p)
            return TD_ENOMEM;
        g->devs = p;
        g->devs_cap = cap;
    }
    dev->batch_idx = (int)g->b.ndevices;
    g->devs[g->b.ndevices++] = dev;
    return dev->batch_idx;
}

static void raise_event(td_server *srv, td_device *dev, int row, const char *type, json_t *attrs);

static void link_device(td_server *srv, td_device *dev, td_endpoint *ep, const char *remote,
                        const char *proto)
{
    dev->ep = ep;
    if (!dev->links && !srv->stopping && dev->st.id > 0 && td_rules_online(srv->rules, dev))
        raise_event(srv, dev, -1, "deviceOnline", json_pack("{ss}", "remote", remote));
    dev->links++;
    dev->st.online = true;
    if (!dev->st.first_seen_ms) /* added through the API, reporting for the first time */
        dev->st.first_seen_ms = (int64_t)now_ms();
    snprintf(dev->st.last_remote, sizeof(dev->st.last_remote), "%s", remote);
    snprintf(dev->st.protocol, sizeof(dev->st.protocol), "%s", proto);
    touch_device(srv, dev);
}

static void unlink_device(td_server *srv, td_device *dev, td_endpoint *ep, const char *remote,
                          const char *why)
{
    if (dev->ep == ep)
        dev->ep = NULL;
    if (--dev->links > 0)
        return;
    dev->st.online = false;
    touch_device(srv, dev);
    if (!srv->stopping && dev->st.id > 0 && td_rules_online(srv->rules, dev))
        raise_event(srv, dev, -1, "deviceOffline",
                    json_pack("{ssss}", "remote", remote, "reason", why));
    td_log_limited(&log_offline, TD_LOG_INFO, "device %s offline (%s, %s)", dev->st.unique_id,
                   remote, why);
}

/* ---- unknown traffic ---------------------------------------------------- */

static void keep_unknown(td_server *srv, const char *remote, const char *reason,
                         const uint8_t *bytes, size_t len)
{
    struct gbatch *g = &srv->batch[srv->open];

    srv->stats.unknown_frames++;
    if (g->b.nunknown == g->unknown_cap) {
        if (g->unknown_cap >= 256)
            return; /* a flood of junk: the log lines are enough */
        size_t cap = g->unknown_cap ? g->unknown_cap * 2 : 8;
        td_store_unknown *u = realloc(g->b.unknown, cap * sizeof(*u));
        if (!u)
            return;
        g->b.unknown = u;
        g->unknown_cap = cap;
    }
    td_store_unknown *u = &g->b.unknown[g->b.nunknown++];
    u->time_ms = (int64_t)now_ms();
    snprintf(u->remote, sizeof(u->remote), "%s", remote);
    snprintf(u->reason, sizeof(u->reason), "%s", reason);
    u->len = len < TD_UNKNOWN_BYTES ? len : TD_UNKNOWN_BYTES;
    memcpy(u->bytes, bytes, u->len);
}

/* ---- replies ------------------------------------------------------------ */

static void write_done(uv_write_t *req, int status)
{
    (void)status;
    free(req);
}

static void udp_send_done(uv_udp_send_t *req, int status)
{
    (void)status;
    free(req);
}

static void conn_close(td_conn *c, const char *why);
static void conn_abort(td_conn *c, const char *why);

/* Sends bytes now. */
static void send_now(td_endpoint *ep, const uint8_t *data, size_t len)
{
    if (ep->is_udp) {
        td_peer *p = (td_peer *)ep;
        uv_udp_send_t *req = malloc(sizeof(*req) + len);
        if (!req)
            return;
        memcpy(req + 1, data, len);
        uv_buf_t buf = uv_buf_init((char *)(req + 1), (unsigned)len);
        if (uv_udp_send(req, &p->srv->udp, &buf, 1, (const struct sockaddr *)&p->addr,
                        udp_send_done) < 0)
            free(req);
        return;
    }
    td_conn *c = (td_conn *)ep;
    if (c->closing)
        return;
    size_t queued = uv_stream_get_write_queue_size((uv_stream_t *)&c->handle);
    if (queued && queued + len > (size_t)c->srv->cfg->write_queue_max * 1024) {
        c->srv->stats.limit_hits[TD_LIMIT_WRITE_QUEUE]++;
        td_log_limited(&log_write, TD_LOG_WARN,
                       "%s %s %s: peer does not read what is sent to it (%zu bytes queued, "
                       "--write-queue-max %d KiB); closing",
                       c->remote, c->stream.proto ? c->stream.proto->name : "-",
                       c->dev ? c->dev->st.unique_id : "-", queued, c->srv->cfg->write_queue_max);
        conn_abort(c, "write queue full");
        return;
    }
    uv_write_t *req = malloc(sizeof(*req) + len);
    if (!req)
        return;
    memcpy(req + 1, data, len);
    uv_buf_t buf = uv_buf_init((char *)(req + 1), (unsigned)len);
    if (uv_write(req, (uv_stream_t *)&c->handle, &buf, 1, write_done) < 0)
        free(req);
}

static void ep_wait(td_server *srv, td_endpoint *ep)
{
    if (ep->waiting)
        return;
    ep->waiting = true;
    ep->wait_next = srv->waiting;
    srv->waiting = ep;
}

/*
 * Queues a reply behind commit `seq` (0: no data to wait for). Order on an
 * endpoint is kept: a reply never overtakes one queued before it.
 */
static void reply(td_server *srv, td_endpoint *ep, uint64_t seq, const uint8_t *data, size_t len)
{
    if (!len)
        return;
    if (ep->tail && ep->tail->seq > seq)
        seq = ep->tail->seq;
    if (seq <= srv->committed_seq && !ep->head) {
        send_now(ep, data, len);
        return;
    }
    td_reply *r = malloc(sizeof(*r) + len);
    if (!r)
        return;
    r->next = NULL;
    r->seq = seq;
    r->len = len;
    memcpy(r->data, data, len);
    if (ep->tail)
        ep->tail->next = r;
    else
        ep->head = r;
    ep->tail = r;
    ep_wait(srv, ep);
}

static void ep_drop(td_endpoint *ep)
{
    while (ep->head) {
        td_reply *r = ep->head;
        ep->head = r->next;
        free(r);
    }
    ep->tail = NULL;
}

/*
 * Sends the replies a commit confirmed to one TCP connection in one write:
 * a device with several frames in flight gets one syscall per commit, not
 * one per frame.
 */
static void send_released(td_endpoint *ep, uint64_t seq)
{
    size_t total = 0, n = 0;
    for (td_reply *r = ep->head; r && r->seq <= seq; r = r->next) {
        total += r->len;
        n++;
    }
    if (n < 2) {
        if (n)
            send_now(ep, ep->head->data, ep->head->len);
        return;
    }
    uint8_t stack[4096];
    uint8_t *buf = total <= sizeof(stack) ? stack : malloc(total);
    if (!buf) {
        for (td_reply *r = ep->head; r && r->seq <= seq; r = r->next)
            send_now(ep, r->data, r->len);
        return;
    }
    size_t off = 0;
    for (td_reply *r = ep->head; r && r->seq <= seq; r = r->next) {
        memcpy(buf + off, r->data, r->len);
        off += r->len;
    }
    send_now(ep, buf, total);
    if (buf != stack)
        free(buf);
}

/* After a commit: send what it confirmed, drop what a failed one would have. */
static void release_replies(td_server *srv, uint64_t seq, bool ok)
{
    td_endpoint **pp = &srv->waiting;
    while (*pp) {
        td_endpoint *ep = *pp;
        if (ok && !ep->is_udp)
            send_released(ep, seq);
        while (ep->head && ep->head->seq <= seq) {
            td_reply *r = ep->head;
            ep->head = r->next;
            if (ok && ep->is_udp)
                send_now(ep, r->data, r->len); /* a datagram each */
            free(r);
        }
        if (!ep->head) {
            ep->tail = NULL;
            ep->waiting = false;
            *pp = ep->wait_next;
        } else {
            pp = &ep->wait_next;
        }
    }
}

static void ep_forget(td_server *srv, td_endpoint *ep)
{
    for (td_endpoint **pp = &srv->waiting; *pp; pp = &(*pp)->wait_next) {
        if (*pp == ep) {
            *pp = ep->wait_next;
            break;
        }
    }
    ep->waiting = false;
    ep_drop(ep);
}

/* ---- group commit ------------------------------------------------------- */

static void pause_reading(td_server *srv, bool pause);
static void maybe_finish_stop(td_server *srv);

static void start_checkpoint(td_server *srv);

static td_store_batch *inflight(td_server *srv)
{
    return &srv->batch[!srv->open].b;
}

static void commit_work(uv_work_t *w)
{
    td_server *srv = w->data;
    srv->commit_rc = srv->store->ops->put_batch(srv->store, inflight(srv));
}

static void count_commit(td_server *srv, const td_store_batch *b, bool ok)
{
    td_gw_stats *st = &srv->stats;
    double secs = (double)(uv_hrtime() - srv->commit_start_ns) / 1e9;
    st->commits++;
    if (!ok) {
        st->commit_failures++;
        return;
    }
    st->committed_rows += b->nrows;
    st->commit_seconds += secs;
    for (int i = 0; i < TD_COMMIT_BUCKETS; i++)
        if (secs <= td_commit_bucket_bounds[i])
            st->commit_buckets[i]++;
}

static void commit_done(uv_work_t *w, int status)
{
    td_server *srv = w->data;
    td_store_batch *b = inflight(srv);
    uint64_t seq = srv->open_seq - 1;
    bool ok = status == 0 && srv->commit_rc == 0;

    srv->committing = false;
    srv->commits++;
    srv->retention.last_commit_ns = uv_hrtime();
    count_commit(srv, b, ok);
    if (ok) {
        /* New devices learn their store ids; deleted ones are skipped. */
        td_device *stack[256];
        td_device **devs = b->ndevices <= 256 ? stack : malloc(b->ndevices * sizeof(*devs));
        for (size_t i = 0; i < b->ndevices; i++) {
            td_device *dev =
                b->devices[i].id > 0 ? td_map_get(&srv->devices, b->devices[i].unique_id) : NULL;
            if (dev && dev->st.id && dev->st.id != b->devices[i].id)
                dev = NULL; /* the unique id moved to another device */
            if (dev && !dev->st.id) {
                dev->st.id = b->devices[i].id;
                index_device(srv, dev);
            }
            if (devs)
                devs[i] = dev;
        }
        if (devs && srv->http)
            td_http_committed(srv->http, b, devs);
        for (size_t i = 0; i < b->nevents; i++)
            if (b->events[i].nnotify && b->events[i].id > 0) {
                td_notify_kick(srv->notify);
                break;
            }
        if (devs != stack)
            free(devs);
    } else {
        td_error("store: commit of %zu records failed (%s); their acknowledgements are withheld"
                 " so the devices send them again",
                 b->nrows, td_strerror(srv->commit_rc));
    }
    srv->committed_seq = seq;
    release_replies(srv, seq, ok);
    /* Copying the log back is done beside the writer, not in a commit that
     * holds acknowledgements. */
    if (ok && srv->store->ops->checkpoint_due && srv->store->ops->checkpoint_due(srv->store))
        start_checkpoint(srv);
    td_store_batch_clear(b);
    if (srv->paused)
        pause_reading(srv, false);
    maybe_finish_stop(srv);
}

static bool batch_empty(const td_store_batch *b)
{
    return !b->nrows && !b->ndevices && !b->nunknown && !b->nevents;
}

/* Hands the open batch to the writer (the caller checked it is free). */
static void start_commit(td_server *srv)
{
    struct gbatch *g = &srv->batch[srv->open];

    /* Snapshot the devices' state, then the open batch becomes inflight. */
    for (size_t i = 0; i < g->b.ndevices; i++) {
        g->b.devices[i] = g->devs[i]->st;
        g->devs[i]->batch_idx = -1;
    }
    srv->open = !srv->open;
    srv->open_seq++;
    srv->committing = true;
    srv->work.data = srv;
    srv->commit_start_ns = uv_hrtime();
    /* Deleted devices are no longer referenced by any batch. */
    while (srv->graveyard) {
        td_device *d = srv->graveyard;
        srv->graveyard = d->grave_next;
        free_device(d);
    }
    if (uv_queue_work(srv->loop, &srv->work, commit_work, commit_done) < 0) {
        srv->committing = false;
        td_error("store: cannot queue a commit");
    }
}

static void start_purge(td_server *srv);
static void writer_next(td_server *srv);

static void on_retention_idle(uv_timer_t *t)
{
    writer_next(t->data);
}

/*
 * Starts the writer's next job when it is free: the open batch's commit or
 * a retention batch. A batch goes before a waiting commit only once
 * RETENTION_YIELD times its predecessor's time has passed since it ended
 * (see the top). When nothing waits, a batch also starts once nothing has
 * been committed for RETENTION_IDLE_MS: right after a commit, devices are
 * answering the acknowledgements it sent, and a batch started then would
 * make each of their next frames wait for it.
 */
static void writer_next(td_server *srv)
{
    struct retention *rt = &srv->retention;
    bool commit = !batch_empty(&srv->batch[srv->open].b);
    bool purge = rt->active && !srv->stopping;
    uint64_t now = uv_hrtime();
    bool due = now >= rt->next_ns;

    if (srv->committing || rt->running)
        return;
    if (commit && !(purge && due)) {
        start_commit(srv);
    } else if (purge && (commit || due)) {
        start_purge(srv);
    } else if (purge) {
        uint64_t idle_ms = (now - rt->last_commit_ns) / 1000000;
        uint64_t wait_ms = (rt->next_ns - now) / 1000000 + 1;
        if (idle_ms >= RETENTION_IDLE_MS)
            start_purge(srv);
        else if (!uv_is_active((uv_handle_t *)&rt->idle))
            uv_timer_start(
                &rt->idle, on_retention_idle,
                RETENTION_IDLE_MS - idle_ms < wait_ms ? RETENTION_IDLE_MS - idle_ms : wait_ms, 0);
    }
}

/* Runs after every loop iteration: gives the writer its next job. */
static void on_check(uv_check_t *h)
{
    writer_next(h->data);
}

/* Adds one decoded record to the open batch. */
static int add_row(td_server *srv, td_device *dev, const td_protocol *proto, const td_record *r,
                   uint64_t now)
{
    struct gbatch *g = &srv->batch[srv->open];
    int idx = touch_device(srv, dev);

    if (idx < 0)
        return idx;
    if (g->b.nrows == g->rows_cap) {
        size_t cap = g->rows_cap ? g->rows_cap * 2 : 256;
        td_store_row *rows = realloc(g->b.rows, cap * sizeof(*rows));
        if (!rows)
            return TD_ENOMEM;
        g->b.rows = rows;
        g->rows_cap = cap;
    }
    char *text = td_record_attributes_text(r);
    if (!text)
        return TD_ENOMEM;

    td_store_row *row = &g->b.rows[g->b.nrows++];
    memset(row, 0, sizeof(*row));
    row->dev = idx;
    row->protocol = proto->name;
    row->type = r->type;
    row->server_ms = (int64_t)now;
    row->device_ms = r->time_ms;
    row->valid = r->valid;
    row->alarms = r->alarms;
    row->attributes = text;
    if (r->type == TD_REC_POSITION) {
        row->located = true;
        row->latitude = r->latitude;
        row->longitude = r->longitude;
        row->speed = r->speed;
        row->course = r->course;
        row->altitude = r->altitude;
        if (r->valid && r->time_ms >= dev->st.last_fix_ms) {
            dev->st.has_location = true;
            dev->st.last_latitude = r->latitude;
            dev->st.last_longitude = r->longitude;
            dev->st.last_fix_ms = r->time_ms;
        }
    } else if (dev->st.has_location) {
        /* Telemetry without a fix is shown where the device last was. */
        row->located = true;
        row->latitude = dev->st.last_latitude;
        row->longitude = dev->st.last_longitude;
    }
    if ((int64_t)now > dev->st.last_seen_ms)
        dev->st.last_seen_ms = (int64_t)now;
    srv->records++;
    return 0;
}

/*
 * Adds an event to the open batch: with its record (row, an index into the
 * open batch's rows) or, row < 0, at the device's last known place. Its
 * notification channels are picked now, so the outbox entries commit with
 * it. attrs (NULL = the row's attributes) is consumed.
 */
static void raise_event(td_server *srv, td_device *dev, int row, const char *type, json_t *attrs)
{
    struct gbatch *g = &srv->batch[srv->open];
    int idx = touch_device(srv, dev);
    char *text = attrs ? json_dumps(attrs, JSON_COMPACT | JSON_REAL_PRECISION(15)) : NULL;
    json_decref(attrs);

    if (idx < 0 || (attrs && !text)) {
        td_error("device %s: out of memory; %s event lost", dev->st.unique_id, type);
        free(text);
        return;
    }
    if (g->b.nevents == g->events_cap) {
        size_t cap = g->events_cap ? g->events_cap * 2 : 64;
        td_store_new_event *ev = realloc(g->b.events, cap * sizeof(*ev));
        if (!ev) {
            td_error("device %s: out of memory; %s event lost", dev->st.unique_id, type);
            free(text);
            return;
        }
        g->b.events = ev;
        g->events_cap = cap;
    }
    td_store_new_event *e = &g->b.events[g->b.nevents++];
    memset(e, 0, sizeof(*e));
    e->dev = idx;
    e->row = row;
    e->type = type;
    e->server_ms = (int64_t)now_ms();
    e->attributes = text;
    e->critical = td_rules_critical(srv->rules, type);
    e->nnotify = td_rules_notify(srv->rules, dev, type, &e->notify);
    if (row >= 0) {
        const td_store_row *r = &g->b.rows[row];
        e->time_ms = r->device_ms;
        e->located = r->located;
        e->latitude = r->latitude;
        e->longitude = r->longitude;
    } else {
        e->time_ms = e->server_ms;
        e->located = dev->st.has_location;
        e->latitude = dev->st.last_latitude;
        e->longitude = dev->st.last_longitude;
    }
    td_info("device %s: event %s%s", dev->st.unique_id, type, e->critical ? " (critical)" : "");
}

/* Rule engine callback: events wait for their record's row. */
static void collect_event(void *arg, td_device *dev, const char *type, json_t *attrs)
{
    td_server *srv = arg;
    if (srv->npending == PENDING_MAX) {
        td_error("device %s: more than %d events from one record; %s dropped", dev->st.unique_id,
                 PENDING_MAX, type);
        json_decref(attrs);
        return;
    }
    srv->pending[srv->npending++] = (struct pending_event){type, attrs};
}

/* Rule engine callback for timers: events without a record. */
static void timer_event(void *arg, td_device *dev, const char *type, json_t *attrs)
{
    raise_event(arg, dev, -1, type, attrs);
}

/* Runs the rules on a record, then adds it and the events it raised. */
static int add_record(td_server *srv, td_device *dev, const td_protocol *proto, const td_record *r,
                      uint64_t now)
{
    if (!dev->rstate && srv->http)
        td_device_load_latest(srv->http, dev); /* the rules start from it */
    srv->npending = 0;
    td_rules_record(srv->rules, dev, r, collect_event, srv);
    int rc = add_row(srv, dev, proto, r, now);
    int row = (int)srv->batch[srv->open].b.nrows - 1;
    for (int i = 0; i < srv->npending; i++) {
        if (rc)
            json_decref(srv->pending[i].attrs);
        else
            raise_event(srv, dev, row, srv->pending[i].type, srv->pending[i].attrs);
    }
    srv->npending = 0;
    return rc;
}

/* ---- commands ----------------------------------------------------------- */

/* The protocol and session of an endpoint, and when it was last heard from. */
static void ep_target(td_endpoint *ep, const td_protocol **proto, td_session **session,
                      uint64_t *last_ms)
{
    if (ep->is_udp) {
        td_peer *p = (td_peer *)ep;
        *proto = p->proto;
        *session = &p->session;
        *last_ms = p->last_ms;
    } else {
        td_conn *c = (td_conn *)ep;
        *proto = c->stream.proto;
        *session = &c->stream.session;
        *last_ms = c->last_ms;
    }
}

static void command_changed(td_server *srv, int64_t id)
{
    if (srv->http)
        td_http_command_changed(srv->http, id);
}

/* A queued command read back for sending. */
typedef struct queued_cmd {
    int64_t id, device_id;
    char type[40];
    char *attributes;
} queued_cmd;

typedef struct queued_list {
    queued_cmd item[DELIVER_MAX];
    int n;
} queued_list;

static int collect_queued(void *arg, const td_store_command *c)
{
    queued_list *l = arg;
    queued_cmd *q = &l->item[l->n];
    q->id = c->id;
    q->device_id = c->device_id;
    snprintf(q->type, sizeof(q->type), "%s", c->type);
    q->attributes = strdup(c->attributes ? c->attributes : "{}");
    if (q->attributes)
        l->n++;
    return l->n == DELIVER_MAX;
}

static int voice_file(void *arg, const td_store_voice *v)
{
    snprintf(arg, 512, "%s", v->file);
    return 1;
}

/* Loads the audio a voice parameter names into the command's argument. */
static int load_voice_args(td_server *srv, td_command *cmd, uint8_t **buf, char *err, size_t cap)
{
    for (int i = 0; i < TD_CMD_PARAMS_MAX && cmd->def->params[i].name; i++) {
        if (cmd->def->params[i].kind != TD_PARAM_DATA || !cmd->arg[i].set)
            continue;
        char file[512] = "";
        size_t len;
        srv->store->ops->voices(srv->store, cmd->arg[i].num, 0, 1, voice_file, file);
        int rc = file[0] ? td_voice_read(srv->media_dir, file, TD_VOICE_MAX_BYTES, buf, &len)
                         : TD_ENOTFOUND;
        if (rc) {
            snprintf(err, cap, "voice message %ld: %s", cmd->arg[i].num,
                     rc == TD_ENOTFOUND ? "its file is gone" : td_strerror(rc));
            return rc;
        }
        cmd->arg[i].str = (const char *)*buf;
        cmd->arg[i].len = len;
        return 0; /* one voice parameter at most */
    }
    return 0;
}

/* Encodes one stored command for the device's session and sends it, or
 * marks it failed with the reason. */
static void send_command(td_server *srv, td_device *dev, td_endpoint *ep, const td_protocol *proto,
                         const td_session *ses, const queued_cmd *q)
{
    static uint8_t out[COMMAND_FRAME_MAX];
    uint8_t scratch[TD_CMD_SCRATCH], *voice = NULL;
    char err[256] = "", ack[TD_ACK_MAX] = "";
    size_t len = 0;
    td_command cmd;
    int64_t now = (int64_t)now_ms();
    json_t *attrs = json_loads(q->attributes, 0, NULL);
    const td_cmd_type *t = td_cmd_type_find(proto, q->type);
    int rc;

    if (!t) {
        snprintf(err, sizeof(err), "the device now reports with %s, which has no %s command",
                 proto->name, q->type);
        rc = TD_EUNSUPPORTED;
    } else if (!(rc =
                     td_cmd_validate(t, attrs, &cmd, scratch, sizeof(scratch), err, sizeof(err))) &&
               !(rc = load_voice_args(srv, &cmd, &voice, err, sizeof(err)))) {
        cmd.id = q->id;
        rc = proto->encode(ses, &cmd, out, sizeof(out), &len, ack, err, sizeof(err));
    }
    if (rc) {
        td_warn("device %s: command %lld (%s) failed: %s", dev->st.unique_id, (long long)q->id,
                q->type, err[0] ? err : td_strerror(rc));
        srv->store->ops->command_set(srv->store, q->id, "failed", now, NULL,
                                     err[0] ? err : td_strerror(rc));
    } else {
        reply(srv, ep, 0, out, len);
        srv->store->ops->command_set(srv->store, q->id, "sent", now, ack, NULL);
        td_info("device %s: command %lld (%s) sent, %zu bytes%s%s", dev->st.unique_id,
                (long long)q->id, q->type, len, ack[0] ? ", awaiting " : "", ack);
    }
    command_changed(srv, q->id);
    free(voice);
    json_decref(attrs);
}

/* Sends the device's queued commands, oldest first, over ep. */
static void deliver(td_server *srv, td_device *dev, td_endpoint *ep, const td_protocol *proto,
                    const td_session *ses)
{
    queued_list *l = malloc(sizeof(*l));
    if (!l || !proto || !ses->device_id[0]) {
        free(l);
        return;
    }
    l->n = 0;
    td_store_command_filter f = {.device_id = dev->st.id, .status = "queued"};
    f.limit = DELIVER_MAX;
    int rc = srv->store->ops->commands(srv->store, &f, collect_queued, l);
    if (rc < 0)
        td_error("device %s: cannot read its queued commands: %s", dev->st.unique_id,
                 td_strerror(rc));
    for (int i = 0; i < l->n; i++) {
        send_command(srv, dev, ep, proto, ses, &l->item[i]);
        free(l->item[i].attributes);
    }
    dev->queued = rc >= 0 && l->n < DELIVER_MAX ? 0 : dev->queued - l->n;
    if (dev->queued < 0)
        dev->queued = 0;
    free(l);
}

void td_gw_command_queued(td_server *srv, td_device *d)
{
    const td_protocol *proto;
    td_session *ses;
    uint64_t last;
    d->queued++;
    if (!d->ep)
        return;
    ep_target(d->ep, &proto, &ses, &last);
    if (d->ep->is_udp && now_ms() - last > (uint64_t)srv->cfg->udp_fresh * 1000)
        return; /* its address may be stale: wait for the next datagram */
    if (!d->ep->is_udp && ((td_conn *)d->ep)->closing)
        return;
    deliver(srv, d, d->ep, proto, ses);
}

const char *td_gw_media_dir(td_server *srv)
{
    return srv->media_dir;
}

typedef struct answered_cmd {
    int64_t id;
    char type[40];
} answered_cmd;

static int first_sent(void *arg, const td_store_command *c)
{
    answered_cmd *a = arg;
    a->id = c->id;
    snprintf(a->type, sizeof(a->type), "%s", c->type);
    return 1;
}

/* The device answered a command: the oldest one sent with that key. */
static void command_answered(td_server *srv, td_device *dev, const td_decode_ctx *ctx)
{
    answered_cmd a = {0};
    td_store_command_filter f = {.device_id = dev->st.id, .status = "sent", .ack_key = ctx->ack};
    f.limit = 1;
    if (dev->st.id <= 0 || srv->store->ops->commands(srv->store, &f, first_sent, &a) < 0 || !a.id) {
        td_debug("device %s: answer '%s' matches no command waiting for one", dev->st.unique_id,
                 ctx->ack);
        return;
    }
    const char *status = ctx->ack_failed ? "failed" : "acknowledged";
    const char *result = ctx->ack_result[0] ? ctx->ack_result : NULL;
    if (srv->store->ops->command_set(srv->store, a.id, status, (int64_t)now_ms(), NULL,
                                     result ? result : (ctx->ack_failed ? "refused" : NULL)))
        return;
    td_info("device %s: command %lld (%s) %s%s%s", dev->st.unique_id, (long long)a.id, a.type,
            status, result ? ": " : "", result ? result : "");
    raise_event(srv, dev, -1, "commandResult",
                json_pack("{sIssssss}", "commandId", (json_int_t)a.id, "commandType", a.type,
                          "status", status, "result", result ? result : ""));
    command_changed(srv, a.id);
}

/* Queued commands past --command-expire become expired. */
/* Expires the commands f finds (status queued or sent, past their expiry),
 * each with the reason why; l is scratch. */
static void expire_found(td_server *srv, queued_list *l, const td_store_command_filter *f,
                         const char *why, uint64_t now)
{
    bool queued = strcmp(f->status, "queued") == 0;
    l->n = 0;
    srv->store->ops->commands(srv->store, f, collect_queued, l);
    for (int i = 0; i < l->n; i++) {
        if (!srv->store->ops->command_set(srv->store, l->item[i].id, "expired", (int64_t)now, NULL,
                                          why)) {
            td_device *d = td_gw_device(srv, l->item[i].device_id);
            if (queued && d && d->queued > 0)
                d->queued--;
            td_info("device %s: command %lld (%s) expired: %s", d ? d->st.unique_id : "-",
                    (long long)l->item[i].id, l->item[i].type, why);
            command_changed(srv, l->item[i].id);
        }
        free(l->item[i].attributes);
    }
}

static void expire_commands(td_server *srv, uint64_t now)
{
    queued_list *l;
    char why[96];
    if (now - srv->commands_checked_ms < COMMAND_CHECK_MS || !(l = malloc(sizeof(*l))))
        return;
    srv->commands_checked_ms = now;
    td_store_command_filter f = {
        .status = "queued", .expires_before = (int64_t)now + 1, .limit = DELIVER_MAX};
    snprintf(why, sizeof(why), "not delivered within %d s", srv->cfg->command_expire);
    expire_found(srv, l, &f, why, now);
    /* Sent, waiting for an answer that did not come before the command's
     * time ran out (those whose protocol defines no answer stay sent). */
    f.status = "sent";
    f.answerable = true;
    snprintf(why, sizeof(why), "sent, but not answered within %d s of being queued",
             srv->cfg->command_expire);
    expire_found(srv, l, &f, why, now);
    free(l);
}

static int count_queued(void *arg, const td_store_command *c)
{
    td_device *d = td_gw_device(arg, c->device_id);
    if (d)
        d->queued++;
    return 0;
}

/* ---- voice messages ---------------------------------------------------- */

/* A frame carried a voice message or a chunk of one; a whole message is
 * written to a file, listed, and raised as a voiceMessage event with its
 * record (row in the open batch, or -1). */
static void voice_received(td_server *srv, td_device *dev, const struct td_media *m, int row)
{
    char err[256], name[512];
    uint8_t *data;
    size_t len;
    int64_t now = (int64_t)now_ms();
    int rc = td_voice_add(&dev->voice, m, now, &data, &len, err, sizeof(err));
    if (err[0])
        td_warn("device %s: %s", dev->st.unique_id, err);
    if (rc <= 0)
        return;
    td_amr_info info = {0};
    char amr_err[160] = "";
    td_amr_info_get(data, len, &info, amr_err, sizeof(amr_err));
    td_store_voice v = {.device_id = dev->st.id,
                        .direction = "in",
                        .time_ms = now,
                        .size = (int64_t)len,
                        .duration_ms = info.duration_ms,
                        .file = name};
    if (dev->st.id <= 0)
        rc = TD_EAGAIN, snprintf(err, sizeof(err), "device not stored yet");
    else if (!(rc = td_voice_write(srv->media_dir, dev->st.id, now, data, len, name, sizeof(name),
                                   err, sizeof(err))) &&
             (rc = srv->store->ops->voice_add(srv->store, &v)))
        snprintf(err, sizeof(err), "%s", td_strerror(rc));
    free(data);
    if (rc) {
        td_error("device %s: voice message of %zu bytes lost: %s", dev->st.unique_id, len, err);
        return;
    }
    td_info("device %s: voice message %lld, %zu bytes, %lld ms%s%s", dev->st.unique_id,
            (long long)v.id, len, (long long)info.duration_ms, amr_err[0] ? "; " : "", amr_err);
    json_t *attrs =
        json_pack("{sIsIsIss}", "voiceId", (json_int_t)v.id, "durationMs",
                  (json_int_t)info.duration_ms, "size", (json_int_t)len, "format", "amr");
    if (amr_err[0])
        json_object_set_new(attrs, "audioError", json_string(amr_err));
    raise_event(srv, dev, row, "voiceMessage", attrs);
}

/* ---- frames ------------------------------------------------------------- */

/*
 * Finds or registers the device a session identified. Returns NULL when the
 * device is unknown and --register-unknown=false.
 */
static td_device *bind_device(td_server *srv, const char *uid, const char *remote,
                              const td_protocol *proto, const uint8_t *frame, size_t len)
{
    td_device *dev = td_map_get(&srv->devices, uid);
    if (dev)
        return dev;
    if (!srv->cfg->register_unknown) {
        char reason[160];
        snprintf(reason, sizeof(reason), "unregistered device %s (%s)", uid, proto->name);
        td_warn("%s %s: rejected unregistered device %s (--register-unknown=false)", remote,
                proto->name, uid);
        keep_unknown(srv, remote, reason, frame, len);
        return NULL;
    }
    dev = calloc(1, sizeof(*dev));
    if (!dev || td_map_put(&srv->devices, uid, dev)) {
        free(dev);
        return NULL;
    }
    dev->batch_idx = -1;
    snprintf(dev->st.unique_id, sizeof(dev->st.unique_id), "%s", uid);
    snprintf(dev->st.name, sizeof(dev->st.name), "%s", uid);
    dev->st.first_seen_ms = (int64_t)now_ms();
    dev->latest_loaded = true; /* nothing stored yet */
    td_log_limited(&log_new, TD_LOG_INFO, "%s %s: registered new device %s", remote, proto->name,
                   uid);
    return dev;
}

/* The parts of a TCP connection and a UDP peer that frame handling needs. */
typedef struct frame_src {
    td_endpoint *ep;
    const char *remote;
    td_device **dev;
    td_session *session;
    bool rejected;
} frame_src;

static void handle_frame(td_server *srv, frame_src *src, const td_protocol *proto,
                         const uint8_t *frame, size_t len)
{
    td_decode_ctx *ctx = &srv->ctx;
    uint64_t now = now_ms();

    td_proto_stats *ps = &srv->stats.proto[proto_index(proto)];
    srv->frames++;
    ps->frames++;
    td_decode_ctx_reset(ctx, src->session, (int64_t)now);
    ctx->tz_minutes = srv->cfg->reply_tz;
    int rc = proto->decode(ctx, frame, len);
    if (rc < 0) {
        char hex[2 * 48 + 1];
        srv->decode_errors++;
        ps->decode_errors++;
        td_hex_encode(frame, len < 48 ? len : 48, hex, sizeof(hex));
        td_log_limited(&log_decode, TD_LOG_WARN, "%s %s %s: decode error: %s (frame %s%s)",
                       src->remote, proto->name,
                       src->session->device_id[0] ? src->session->device_id : "-", ctx->err, hex,
                       len > 48 ? "..." : "");
        return;
    }

    const char *uid = src->session->device_id;
    if (uid[0] && (!*src->dev || strcmp((*src->dev)->st.unique_id, uid) != 0)) {
        td_device *dev = bind_device(srv, uid, src->remote, proto, frame, len);
        if (!dev) {
            src->rejected = true;
            return;
        }
        if (*src->dev)
            unlink_device(srv, *src->dev, src->ep, src->remote, "identity changed");
        *src->dev = dev;
        link_device(srv, dev, src->ep, src->remote, proto->name);
        td_log_limited(&log_online, TD_LOG_INFO, "%s %s: device %s online", src->remote,
                       proto->name, uid);
    }

    td_device *dev = *src->dev;
    uint64_t seq = 0;
    if (ctx->nrec > 0) {
        if (!dev) {
            td_log_limited(&log_early, TD_LOG_WARN,
                           "%s %s: %d record(s) before the device identified itself; not stored"
                           " or acknowledged",
                           src->remote, proto->name, ctx->nrec);
            return;
        }
        for (int i = 0; i < ctx->nrec; i++) {
            if (add_record(srv, dev, proto, &ctx->rec[i], now)) {
                td_error("%s %s %s: out of memory; frame not acknowledged", src->remote,
                         proto->name, dev->st.unique_id);
                return;
            }
            td_debug("%s %s %s: %s record", src->remote, proto->name, dev->st.unique_id,
                     td_rec_type_name(ctx->rec[i].type));
        }
        ps->records += (uint64_t)ctx->nrec;
        seq = srv->open_seq;
        if (ctx->media.present)
            voice_received(srv, dev, &ctx->media, (int)srv->batch[srv->open].b.nrows - 1);
        if (srv->batch[srv->open].b.nrows >= (size_t)srv->cfg->batch_max && !srv->paused)
            pause_reading(srv, true);
    } else if (dev) {
        if ((int64_t)now > dev->st.last_seen_ms)
            dev->st.last_seen_ms = (int64_t)now;
        touch_device(srv, dev);
    }
    reply(srv, src->ep, seq, ctx->reply, ctx->reply_len);
    if (dev && !dev->ep)
        dev->ep = src->ep; /* its other link closed: this one carries commands now */
    if (dev && ctx->ack[0])
        command_answered(srv, dev, ctx);
    if (dev && dev->queued > 0 && dev->ep == src->ep)
        deliver(srv, dev, src->ep, proto, src->session);
}

/* ---- bans --------------------------------------------------------------- */

/* Compiles a transport's ban list into its socket's filter again. 0 or a
 * negative errno. */
static int ban_reload(td_server *srv, bool udp)
{
    uv_os_fd_t fd;
    int rc = uv_fileno(udp ? (uv_handle_t *)&srv->udp : (uv_handle_t *)&srv->tcp, &fd);
    if (rc == 0)
        rc = td_ban_apply(&srv->bans[udp], fd);
    srv->stats.banned[udp] = td_ban_count(&srv->bans[udp]);
    return rc;
}

/*
 * Counts one offence of the address a: over TCP a connection refused over
 * its per-address limit, or closed for traffic no protocol claims or a
 * frame over its protocol's limit; over UDP a datagram over its rate. An
 * address that offends --ban-after times within TD_BAN_WINDOW_MS is banned
 * for --ban-seconds and its socket's filter reloaded.
 */
static void ban_offence(td_server *srv, bool udp, const td_ban_addr *a)
{
    td_banlist *b = &srv->bans[udp];
    if (!b->after || !a->family || !td_ban_offence(b, a, now_ms()))
        return;
    char name[INET6_ADDRSTRLEN + 4], why[160] = "";
    td_ban_addr_format(a, name, sizeof(name));
    srv->stats.limit_hits[TD_LIMIT_BANS]++;
    int rc = ban_reload(srv, udp);
    if (rc)
        snprintf(why, sizeof(why),
                 "; but the kernel refused the filter (%s), so they are still refused one by one",
                 strerror(-rc));
    td_warn("%s %s: banned for %d s after %u %s within %d s; its new %s are dropped by the"
            " kernel until then%s",
            udp ? "udp" : "tcp", name, srv->cfg->ban_seconds, b->after,
            udp ? "datagrams over --udp-rate" : "connections refused or closed for bad traffic",
            TD_BAN_WINDOW_MS / 1000, udp ? "datagrams" : "connections", why);
}

static void ban_lifted(void *arg, const td_ban_entry *e)
{
    char name[INET6_ADDRSTRLEN + 4];
    td_ban_addr_format(&e->addr, name, sizeof(name));
    td_info("%s %s: ban lifted", (const char *)arg, name);
}

/* Lifts the bans that ran out (from the sweep timer). */
static void bans_expire(td_server *srv, uint64_t now)
{
    for (int udp = 0; udp < 2; udp++)
        if (td_ban_expire(&srv->bans[udp], now, ban_lifted, udp ? "udp" : "tcp"))
            ban_reload(srv, udp);
}

/* ---- TCP ---------------------------------------------------------------- */

/* The connections counted from one address (0 when none). */
static size_t addr_count(td_server *srv, const char *addr)
{
    return (size_t)(uintptr_t)td_map_get(&srv->per_addr, addr);
}

static void addr_count_set(td_server *srv, const char *addr, size_t n)
{
    if (n)
        td_map_put(&srv->per_addr, addr, (void *)(uintptr_t)n);
    else
        td_map_del(&srv->per_addr, addr);
}

static void on_conn_closed(uv_handle_t *h)
{
    td_conn *c = h->data;
    td_server *srv = c->srv;
    if (c->closing) { /* on the closing list */
        if (c->prev)
            c->prev->next = c->next;
        else
            srv->closing = c->next;
        if (c->next)
            c->next->prev = c->prev;
    }
    if (c->counted) {
        srv->nsockets--;
        addr_count_set(srv, c->addr, addr_count(srv, c->addr) - 1);
    }
    td_stream_free(&c->stream);
    free(c);
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    (void)status;
    if (!uv_is_closing((uv_handle_t *)req->handle)) /* not given up on meanwhile */
        uv_close((uv_handle_t *)req->handle, on_conn_closed);
    free(req);
}

/* Closes a connection: after its queued replies are written (within
 * CLOSE_LINGER_MS), or at once dropping them (hard). */
static void conn_close_how(td_conn *c, const char *why, bool hard)
{
    td_server *srv = c->srv;
    if (c->closing)
        return;
    c->closing = true;
    c->closing_ms = now_ms();
    if (c->dev)
        td_log_limited(&log_offline, TD_LOG_INFO, "%s %s %s: disconnect (%s)", c->remote,
                       c->stream.proto->name, c->dev->st.unique_id, why);
    else
        td_log_limited(&log_closed, TD_LOG_INFO, "%s %s -: disconnect (%s)", c->remote,
                       c->stream.proto ? c->stream.proto->name : "-", why);
    if (c->dev)
        unlink_device(srv, c->dev, &c->ep, c->remote, why);
    ep_forget(srv, &c->ep);
    if (c->prev)
        c->prev->next = c->next;
    else
        srv->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    srv->nconns--;
    c->prev = NULL;
    c->next = srv->closing;
    if (srv->closing)
        srv->closing->prev = c;
    srv->closing = c;
    uv_read_stop((uv_stream_t *)&c->handle);
    if (!hard) {
        uv_shutdown_t *req = malloc(sizeof(*req));
        if (req && uv_shutdown(req, (uv_stream_t *)&c->handle, on_shutdown) == 0)
            return;
        free(req);
    }
    uv_close((uv_handle_t *)&c->handle, on_conn_closed);
}

static void conn_close(td_conn *c, const char *why)
{
    conn_close_how(c, why, false);
}

static void conn_abort(td_conn *c, const char *why)
{
    conn_close_how(c, why, true);
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)h;
    (void)suggested;
    /* One buffer for every TCP read and UDP datagram: the loop is
     * single-threaded and each read is consumed inside its callback. */
    static char slab[65536];
    *buf = uv_buf_init(slab, sizeof(slab));
}

struct tcp_frame_arg {
    td_conn *c;
    frame_src src;
};

static void on_tcp_frame(void *arg, td_stream *s, const uint8_t *frame, size_t len)
{
    struct tcp_frame_arg *a = arg;
    if (a->src.rejected || a->c->closing)
        return;
    if (s->frames == 1)
        td_log_limited(&log_connect, TD_LOG_INFO, "%s: detected protocol %s", a->c->remote,
                       s->proto->name);
    handle_frame(a->c->srv, &a->src, s->proto, frame, len);
}

static void on_read(uv_stream_t *h, ssize_t nread, const uv_buf_t *buf)
{
    td_conn *c = h->data;
    char err[256];

    if (nread < 0) {
        conn_close(c, nread == UV_EOF ? "closed by peer" : uv_strerror((int)nread));
        return;
    }
    if (nread == 0)
        return;
    c->last_ms = now_ms();
    uint64_t frames = c->stream.frames;
    struct tcp_frame_arg a = {c, {&c->ep, c->remote, &c->dev, &c->stream.session, false}};
    int rc = td_stream_feed(&c->stream, (const uint8_t *)buf->base, (size_t)nread, on_tcp_frame, &a,
                            err, sizeof(err));
    if (a.src.rejected) {
        conn_close(c, "device not registered");
    } else if (rc < 0) {
        td_server *srv = c->srv;
        if (!c->stream.proto) {
            if (rc == TD_ETOOBIG)
                srv->stats.limit_hits[TD_LIMIT_DETECT_BYTES]++;
            td_log_limited(&log_detect, TD_LOG_WARN, "%s: %s; closing", c->remote, err);
            keep_unknown(srv, c->remote, err, c->stream.buf, c->stream.len);
            ban_offence(srv, false, &c->ban);
        } else if (rc == TD_ETOOBIG) {
            srv->stats.limit_hits[TD_LIMIT_FRAME_SIZE]++;
            td_log_limited(&log_frame, TD_LOG_WARN, "%s %s %s: %s; closing", c->remote,
                           c->stream.proto->name, c->dev ? c->dev->st.unique_id : "-", err);
            ban_offence(srv, false, &c->ban);
        } else {
            td_warn("%s %s %s: %s; closing", c->remote, c->stream.proto->name,
                    c->dev ? c->dev->st.unique_id : "-", err);
        }
        conn_close(c, td_strerror(rc));
    } else if (!c->stream.len) {
        c->partial_ms = 0;
    } else if (c->stream.proto && (!c->partial_ms || c->stream.frames != frames)) {
        /* Bytes wait for the rest of a frame that began in this read (this
         * read completed the frames before it, or nothing was waiting). */
        c->partial_ms = c->last_ms;
    }
}

static void on_connection(uv_stream_t *server, int status)
{
    td_server *srv = server->data;
    struct sockaddr_storage ss;
    int len = sizeof(ss);

    if (status < 0) {
        td_log_limited(&log_accept, TD_LOG_WARN, "accept: %s (%zu device connections open)",
                       uv_strerror(status), srv->nsockets);
        return;
    }
    td_conn *c = calloc(1, sizeof(*c));
    if (!c)
        return;
    c->srv = srv;
    uv_tcp_init(srv->loop, &c->handle);
    c->handle.data = c;
    if (uv_accept(server, (uv_stream_t *)&c->handle) < 0) {
        uv_close((uv_handle_t *)&c->handle, on_conn_closed);
        return;
    }
    if (uv_tcp_getpeername(&c->handle, (struct sockaddr *)&ss, &len) == 0) {
        format_addr((struct sockaddr *)&ss, "tcp", c->remote, sizeof(c->remote));
        addr_key((struct sockaddr *)&ss, &c->ban, c->addr, sizeof(c->addr));
    } else {
        snprintf(c->remote, sizeof(c->remote), "tcp:?");
        snprintf(c->addr, sizeof(c->addr), "?");
    }
    size_t from_addr = addr_count(srv, c->addr) + 1;
    c->counted = true;
    srv->nsockets++;
    addr_count_set(srv, c->addr, from_addr);
    int per_addr = srv->cfg->max_conns_per_ip;
    if (srv->nsockets > srv->stats.max_conns || (per_addr && from_addr > (size_t)per_addr)) {
        /* Over a limit: closed before anything is read or sent. */
        bool total = srv->nsockets > srv->stats.max_conns;
        srv->stats.limit_hits[total ? TD_LIMIT_CONNECTIONS : TD_LIMIT_CONNECTIONS_PER_ADDRESS]++;
        if (total)
            td_log_limited(&log_refused, TD_LOG_WARN,
                           "%s: connection refused: %llu device connections open"
                           " (--max-connections %llu)",
                           c->remote, (unsigned long long)srv->nsockets - 1,
                           (unsigned long long)srv->stats.max_conns);
        else
            td_log_limited(&log_refused, TD_LOG_WARN,
                           "%s: connection refused: %zu connections from %s open"
                           " (--max-connections-per-ip %d)",
                           c->remote, from_addr - 1, c->addr, per_addr);
        /* A reset, not an orderly close: no FIN exchange and no TIME_WAIT
         * for a connection that is refused anyway, so a flood costs less. */
        if (uv_tcp_close_reset(&c->handle, on_conn_closed) != 0)
            uv_close((uv_handle_t *)&c->handle, on_conn_closed);
        if (!total)
            ban_offence(srv, false, &c->ban);
        return;
    }
    uv_tcp_nodelay(&c->handle, 1);
    td_stream_init(&c->stream, TD_TCP, NULL);
    c->opened_ms = c->last_ms = now_ms();
    c->next = srv->conns;
    if (srv->conns)
        srv->conns->prev = c;
    srv->conns = c;
    srv->nconns++;
    td_log_limited(&log_connect, TD_LOG_INFO, "%s: connect", c->remote);
    if (!srv->paused)
        uv_read_start((uv_stream_t *)&c->handle, alloc_cb, on_read);
}

/* ---- UDP ---------------------------------------------------------------- */

struct udp_frame_arg {
    td_peer *p;
    frame_src src;
};

static void on_udp_frame(void *arg, td_stream *s, const uint8_t *frame, size_t len)
{
    struct udp_frame_arg *a = arg;
    if (a->src.rejected)
        return;
    handle_frame(a->p->srv, &a->src, s->proto, frame, len);
}

static void peer_lru_unlink(td_server *srv, td_peer *p)
{
    if (p->lru_prev)
        p->lru_prev->lru_next = p->lru_next;
    else if (srv->peer_head == p)
        srv->peer_head = p->lru_next;
    if (p->lru_next)
        p->lru_next->lru_prev = p->lru_prev;
    else if (srv->peer_tail == p)
        srv->peer_tail = p->lru_prev;
    p->lru_prev = p->lru_next = NULL;
}

/* Puts p first: the most recently heard. */
static void peer_lru_touch(td_server *srv, td_peer *p)
{
    if (srv->peer_head == p)
        return;
    peer_lru_unlink(srv, p);
    p->lru_next = srv->peer_head;
    if (srv->peer_head)
        srv->peer_head->lru_prev = p;
    srv->peer_head = p;
    if (!srv->peer_tail)
        srv->peer_tail = p;
}

/* The caller has taken p out of srv->peers. */
static void peer_free(td_server *srv, td_peer *p, const char *why)
{
    peer_lru_unlink(srv, p);
    if (p->dev)
        unlink_device(srv, p->dev, &p->ep, p->remote, why);
    ep_forget(srv, &p->ep);
    free(p);
}

static void lru_unlink(td_server *srv, udp_bucket *b)
{
    if (b->prev)
        b->prev->next = b->next;
    else
        srv->lru_head = b->next;
    if (b->next)
        b->next->prev = b->prev;
    else
        srv->lru_tail = b->prev;
    b->prev = b->next = NULL;
}

static void bucket_free(td_server *srv, udp_bucket *b)
{
    lru_unlink(srv, b);
    td_map_del(&srv->buckets, b->key);
    free(b);
    srv->stats.udp_buckets = srv->buckets.len;
}

/*
 * Takes a datagram from address `key` out of its token bucket: the bucket
 * holds up to --udp-burst tokens and gains --udp-rate per second. Returns
 * false when it is empty (the datagram is to be dropped).
 */
static bool udp_admit(td_server *srv, const char *key, uint64_t now)
{
    const td_config *cfg = srv->cfg;
    if (!cfg->udp_rate)
        return true;
    udp_bucket *b = td_map_get(&srv->buckets, key);
    if (b) {
        b->tokens += (double)(now - b->last_ms) * cfg->udp_rate / 1000.0;
        if (b->tokens > cfg->udp_burst)
            b->tokens = cfg->udp_burst;
        lru_unlink(srv, b);
    } else {
        if (srv->buckets.len >= UDP_BUCKETS_MAX)
            bucket_free(srv, srv->lru_tail);
        b = calloc(1, sizeof(*b));
        if (!b)
            return true;
        snprintf(b->key, sizeof(b->key), "%s", key);
        if (td_map_put(&srv->buckets, b->key, b)) {
            free(b);
            return true;
        }
        b->tokens = cfg->udp_burst;
        srv->stats.udp_buckets = srv->buckets.len;
    }
    b->last_ms = now;
    b->next = srv->lru_head;
    if (srv->lru_head)
        srv->lru_head->prev = b;
    srv->lru_head = b;
    if (!srv->lru_tail)
        srv->lru_tail = b;
    if (b->tokens < 1.0)
        return false;
    b->tokens -= 1.0;
    return true;
}

/* Forgets the buckets that have been idle long enough to be full again. */
static void udp_buckets_expire(td_server *srv, uint64_t now)
{
    uint64_t full_ms =
        srv->cfg->udp_rate ? (uint64_t)srv->cfg->udp_burst * 1000 / srv->cfg->udp_rate + 1 : 0;
    while (srv->lru_tail && now - srv->lru_tail->last_ms >= full_ms)
        bucket_free(srv, srv->lru_tail);
}

static void on_udp_recv(uv_udp_t *h, ssize_t nread, const uv_buf_t *buf,
                        const struct sockaddr *addr, unsigned flags)
{
    td_server *srv = h->data;
    char remote[72], err[256], key[ADDR_KEY_MAX];
    td_ban_addr ba;
    bool maybe;

    (void)flags;
    if (nread <= 0 || !addr)
        return;
    addr_key(addr, &ba, key, sizeof(key));
    if (!udp_admit(srv, key, now_ms())) {
        srv->stats.limit_hits[TD_LIMIT_UDP_RATE]++;
        td_log_limited(&log_udp_rate, TD_LOG_WARN,
                       "udp %s: more than %d datagrams per second (burst %d); dropped", key,
                       srv->cfg->udp_rate, srv->cfg->udp_burst);
        ban_offence(srv, true, &ba);
        return;
    }
    format_addr(addr, "udp", remote, sizeof(remote));
    const uint8_t *data = (const uint8_t *)buf->base;
    /* A datagram is whole: what only its end can decide is decided. */
    const td_protocol *proto = td_detect_final(data, (size_t)nread, TD_UDP, &maybe);
    if (!proto) {
        char hex[2 * 32 + 1];
        td_hex_encode(data, nread < 32 ? (size_t)nread : 32, hex, sizeof(hex));
        snprintf(err, sizeof(err), "unknown protocol: first bytes %s%s", hex,
                 nread > 32 ? "..." : "");
        td_log_limited(&log_detect, TD_LOG_WARN, "%s: %s; datagram dropped", remote, err);
        keep_unknown(srv, remote, err, data, (size_t)nread);
        return;
    }

    td_peer *p = td_map_get(&srv->peers, remote);
    if (!p) {
        p = calloc(1, sizeof(*p));
        if (!p || td_map_put(&srv->peers, remote, p)) {
            free(p);
            return;
        }
        p->srv = srv;
        p->ep.is_udp = true;
        memcpy(&p->addr, addr,
               addr->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                           : sizeof(struct sockaddr_in));
        snprintf(p->remote, sizeof(p->remote), "%s", remote);
        td_log_limited(&log_udp_peer, TD_LOG_INFO, "%s: new UDP peer, protocol %s", remote,
                       proto->name);
        if (srv->peers.len > (size_t)srv->cfg->max_udp_peers) {
            /* Full: the peer heard least recently makes room. */
            td_peer *old = srv->peer_tail;
            srv->stats.limit_hits[TD_LIMIT_UDP_PEERS]++;
            td_log_limited(&log_udp_peers, TD_LOG_WARN,
                           "%s: %zu UDP peers (--max-udp-peers %d); the one heard least"
                           " recently, %s, %llu s ago, is forgotten",
                           remote, srv->peers.len, srv->cfg->max_udp_peers, old->remote,
                           (unsigned long long)((now_ms() - old->last_ms) / 1000));
            td_map_del(&srv->peers, old->remote);
            peer_free(srv, old, "too many UDP peers");
        }
    }
    peer_lru_touch(srv, p);
    if (p->proto != proto) {
        /* A different protocol from the same address is a new session. */
        memset(&p->session, 0, sizeof(p->session));
        p->proto = proto;
    }
    p->last_ms = now_ms();

    /* A datagram holds one or more whole frames; the last may lack its
     * terminator. */
    td_stream st;
    td_stream_init(&st, TD_UDP, proto);
    st.session = p->session;
    struct udp_frame_arg a = {p, {&p->ep, p->remote, &p->dev, &st.session, false}};
    int rc = td_stream_feed(&st, data, (size_t)nread, on_udp_frame, &a, err, sizeof(err));
    if (rc == 0)
        rc = td_stream_flush(&st, on_udp_frame, &a, err, sizeof(err));
    if (rc < 0)
        td_log_limited(&log_frame, TD_LOG_WARN, "%s %s: %s; rest of datagram dropped", remote,
                       proto->name, err);
    p->session = st.session;
    td_stream_free(&st);
    if (a.src.rejected) {
        td_map_del(&srv->peers, remote);
        peer_free(srv, p, "device not registered");
    }
}

/* ---- timers, flow control, shutdown ------------------------------------- */

static void pause_reading(td_server *srv, bool pause)
{
    srv->paused = pause;
    if (pause)
        td_warn("store: %zu records waiting for a commit; pausing reads",
                srv->batch[srv->open].b.nrows);
    for (td_conn *c = srv->conns; c; c = c->next) {
        if (c->closing)
            continue;
        if (pause)
            uv_read_stop((uv_stream_t *)&c->handle);
        else
            uv_read_start((uv_stream_t *)&c->handle, alloc_cb, on_read);
    }
    if (pause)
        uv_udp_recv_stop(&srv->udp);
    else if (!srv->stopping)
        uv_udp_recv_start(&srv->udp, alloc_cb, on_udp_recv);
}

/* Collects open critical events due for a reminder. */
typedef struct due_list {
    td_store_event *ev;
    size_t n, cap;
} due_list;

static int collect_due(void *arg, const td_store_event *e)
{
    due_list *l = arg;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        td_store_event *p = realloc(l->ev, cap * sizeof(*p));
        if (!p)
            return TD_ENOMEM;
        l->ev = p;
        l->cap = cap;
    }
    td_store_event *c = &l->ev[l->n++];
    *c = *e;        /* only ids and the type are used after the callback */
    c->type = NULL; /* the static name, for td_rules_notify() */
    for (int i = 0; td_event_types[i] && !c->type; i++)
        if (strcmp(td_event_types[i], e->type) == 0)
            c->type = td_event_types[i];
    c->attributes = c->state = c->ack_user = c->ack_note = NULL;
    return 0;
}

/* ---- retention ---------------------------------------------------------- */

static void purge_work(uv_work_t *w)
{
    td_server *srv = w->data;
    struct retention *rt = &srv->retention;
    uint64_t t0 = uv_hrtime();
    rt->rc = srv->store->ops->purge(srv->store, &rt->walk, RETENTION_BATCH);
    rt->batch_ns = uv_hrtime() - t0;
}

/* Ends the pass (logging what it did) and schedules the next one in
 * `after` ms. */
static void end_pass(td_server *srv, uint64_t now, uint64_t after, bool complete)
{
    struct retention *rt = &srv->retention;
    char cut[32];
    double secs = (double)(now - rt->started_ms) / 1000.0;

    td_iso8601(rt->walk.before_ms, cut, sizeof(cut));
    if (rt->rows > 0 || !complete)
        td_info("retention: %s %lld records older than %s in %.1f s (%llu batches, %.1f s of"
                " writing, the longest batch %.0f ms)",
                complete ? "purged" : "stopped after purging", (long long)rt->rows, cut, secs,
                (unsigned long long)rt->batches, rt->seconds, (double)rt->longest_ns / 1e6);
    else
        td_debug("retention: nothing older than %s to purge", cut);
    if (complete)
        srv->stats.retention_passes++;
    rt->active = false;
    rt->next_ms = now + after;
}

static void checkpoint_work(uv_work_t *w)
{
    td_server *srv = w->data;
    srv->checkpoint.rc = srv->store->ops->checkpoint(srv->store);
}

static void checkpoint_done(uv_work_t *w, int status)
{
    td_server *srv = w->data;
    srv->checkpoint.running = false;
    static td_log_limit log_failed = {.what = "failed checkpoints"};
    if (status || srv->checkpoint.rc)
        td_log_limited(&log_failed, TD_LOG_WARN, "store: checkpoint failed (%s)",
                       td_strerror(status ? TD_ESTORE : srv->checkpoint.rc));
    maybe_finish_stop(srv);
}

/*
 * The writer's own automatic checkpoint would copy the write-ahead log
 * back 80 MB at a time inside whichever transaction crossed the mark, a
 * commit holding acknowledgements as often as not. A checkpoint on its own
 * thread, after each purge batch and after commits once the log has grown
 * by 16 MB, keeps the log short, so that this rarely happens.
 */
static void start_checkpoint(td_server *srv)
{
    if (srv->checkpoint.running || !srv->store->ops->checkpoint || srv->stopping)
        return;
    srv->checkpoint.running = true;
    srv->checkpoint.work.data = srv;
    if (uv_queue_work(srv->loop, &srv->checkpoint.work, checkpoint_work, checkpoint_done) < 0)
        srv->checkpoint.running = false;
}

static void purge_done(uv_work_t *w, int status)
{
    td_server *srv = w->data;
    struct retention *rt = &srv->retention;
    td_gw_stats *st = &srv->stats;
    double secs = (double)rt->batch_ns / 1e9;

    rt->running = false;
    rt->next_ns = uv_hrtime() + rt->batch_ns * RETENTION_YIELD;
    if (rt->batch_ns > rt->longest_ns)
        rt->longest_ns = rt->batch_ns;
    rt->batches++;
    rt->seconds += secs;
    st->retention_batches++;
    st->retention_seconds += secs;
    if (status == 0 && rt->rc == 0) {
        start_checkpoint(srv);
        rt->rows += rt->walk.purged;
        st->retention_rows += (uint64_t)rt->walk.purged;
        if (rt->walk.done)
            end_pass(srv, now_ms(), RETENTION_PASS_MS, true);
    } else {
        st->retention_failures++;
        td_error("retention: a batch failed (%s); trying again in %d s",
                 td_strerror(status ? TD_ESTORE : rt->rc), RETENTION_RETRY_MS / 1000);
        end_pass(srv, now_ms(), RETENTION_RETRY_MS, false);
    }
    maybe_finish_stop(srv);
}

/* Hands the next batch of the pass to the writer (the caller checked it is
 * free). */
static void start_purge(td_server *srv)
{
    struct retention *rt = &srv->retention;
    rt->running = true;
    rt->work.data = srv;
    if (uv_queue_work(srv->loop, &rt->work, purge_work, purge_done) < 0) {
        rt->running = false;
        td_error("retention: cannot queue a batch");
        end_pass(srv, now_ms(), RETENTION_RETRY_MS, false);
    }
}

/* Starts a pass when one is due. */
static void retention_tick(td_server *srv, uint64_t now)
{
    struct retention *rt = &srv->retention;
    int days = srv->cfg->retention_days;

    if (days <= 0 || rt->active || srv->stopping || now < rt->next_ms)
        return;
    if (!srv->store->ops->purge) {
        td_warn("retention: the %s store cannot purge; --retention-days is ignored",
                srv->store->ops->name);
        rt->next_ms = UINT64_MAX;
        return;
    }
    memset(&rt->walk, 0, sizeof(rt->walk));
    rt->walk.before_ms = (int64_t)now - (int64_t)days * 86400000;
    rt->active = true;
    rt->started_ms = now;
    rt->rows = 0;
    rt->batches = 0;
    rt->seconds = 0;
    rt->longest_ns = 0;
    char cut[32];
    td_debug("retention: pass started; records older than %s go",
             td_iso8601(rt->walk.before_ms, cut, sizeof(cut)));
    writer_next(srv);
}

/*
 * Re-notifies unacknowledged critical events every --renotify-interval:
 * reminders go to the event's notification channels (new outbox entries)
 * and to the web clients.
 */
static void renotify(td_server *srv, uint64_t now)
{
    td_store *s = srv->store;
    int64_t interval = (int64_t)srv->cfg->renotify_interval * 1000;
    due_list due = {0};
    bool queued = false;

    /* Looked at every 5 s, or twice per interval when that is shorter. */
    int64_t period = interval / 2 < RENOTIFY_CHECK_MS ? interval / 2 : RENOTIFY_CHECK_MS;
    if (interval <= 0 || (int64_t)(now - srv->renotify_checked_ms) < period)
        return;
    srv->renotify_checked_ms = now;
    if (s->ops->events_due(s, (int64_t)now - interval, collect_due, &due))
        td_error("store: cannot list open critical events");
    for (size_t i = 0; i < due.n; i++) {
        td_store_event *e = &due.ev[i];
        td_device *dev = td_gw_device(srv, e->device_id);
        int64_t *ids = NULL;
        int n = dev && e->type ? td_rules_notify(srv->rules, dev, e->type, &ids) : 0;
        if (s->ops->event_renotify(s, e->id, (int64_t)now, ids, n)) {
            td_error("store: cannot record the reminder of event %lld", (long long)e->id);
        } else {
            td_info("event %lld (%s) still unacknowledged: reminder to %d channel(s)",
                    (long long)e->id, e->type ? e->type : "?", n);
            queued |= n > 0;
            if (srv->http)
                td_http_event_changed(srv->http, e->id, true);
        }
        free(ids);
    }
    free(due.ev);
    if (queued)
        td_notify_kick(srv->notify);
}

static void on_sweep(uv_timer_t *t)
{
    td_server *srv = t->data;
    uint64_t now = now_ms();
    if (!srv->stopping) {
        if (td_rules_have_timers(srv->rules))
            for (size_t i = 0; i < srv->devices.cap; i++)
                if (srv->devices.slots[i].key)
                    td_rules_tick(srv->rules, srv->devices.slots[i].value, (int64_t)now,
                                  timer_event, srv);
        renotify(srv, now);
        expire_commands(srv, now);
        retention_tick(srv, now);
        for (size_t i = 0; i < srv->devices.cap; i++) {
            td_device *d = srv->devices.slots[i].key ? srv->devices.slots[i].value : NULL;
            if (d && d->voice && td_voice_expire(&d->voice, (int64_t)now))
                td_warn("device %s: unfinished voice message dropped after %d s", d->st.unique_id,
                        TD_VOICE_STALE_MS / 1000);
        }
    }
    uint64_t idle = (uint64_t)srv->cfg->idle_timeout * 1000;
    uint64_t detect = (uint64_t)srv->cfg->detect_timeout * 1000;
    uint64_t frame = (uint64_t)srv->cfg->frame_timeout * 1000;
    uint64_t udp = (uint64_t)srv->cfg->udp_timeout * 1000;

    td_log_limits_flush(false);
    for (td_conn *c = srv->conns, *next; c; c = next) {
        next = c->next;
        if (c->closing)
            continue;
        if (!c->stream.proto && now - c->opened_ms >= detect) {
            char reason[128];
            snprintf(reason, sizeof(reason), "protocol not detected within %d s (%zu bytes)",
                     srv->cfg->detect_timeout, c->stream.len);
            srv->stats.limit_hits[TD_LIMIT_DETECT_TIMEOUT]++;
            td_log_limited(&log_detect, TD_LOG_WARN, "%s: %s; closing", c->remote, reason);
            if (c->stream.len)
                keep_unknown(srv, c->remote, reason, c->stream.buf, c->stream.len);
            conn_close(c, "detect timeout");
        } else if (c->partial_ms && now - c->partial_ms >= frame) {
            srv->stats.limit_hits[TD_LIMIT_FRAME_TIMEOUT]++;
            td_log_limited(&log_frame, TD_LOG_WARN,
                           "%s %s %s: frame not complete within %d s (%zu bytes of it received);"
                           " closing",
                           c->remote, c->stream.proto->name, c->dev ? c->dev->st.unique_id : "-",
                           srv->cfg->frame_timeout, c->stream.len);
            conn_close(c, "frame timeout");
        } else if (now - c->last_ms >= idle) {
            srv->stats.limit_hits[TD_LIMIT_IDLE_TIMEOUT]++;
            conn_close(c, "idle timeout");
        }
    }
    /* Closed connections whose peer does not take their last replies. */
    for (td_conn *c = srv->closing; c; c = c->next)
        if (now - c->closing_ms >= CLOSE_LINGER_MS && !uv_is_closing((uv_handle_t *)&c->handle))
            uv_close((uv_handle_t *)&c->handle, on_conn_closed);
    udp_buckets_expire(srv, now);
    bans_expire(srv, now);
    for (size_t i = 0; i < srv->peers.cap; i++) {
        td_map_slot *slot = &srv->peers.slots[i];
        if (!slot->key)
            continue;
        td_peer *p = slot->value;
        if (now - p->last_ms >= udp && !p->ep.head) {
            char key[72];
            snprintf(key, sizeof(key), "%s", slot->key);
            td_map_del(&srv->peers, key);
            peer_free(srv, p, "UDP timeout");
            i--; /* backward shift may have moved an entry into this slot */
        }
    }
}

static void close_handle(uv_handle_t *h)
{
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

/* Once nothing is left to commit, closes everything so uv_run returns. */
static void maybe_finish_stop(td_server *srv)
{
    if (!srv->stopping || srv->committing || srv->retention.running || srv->checkpoint.running ||
        !batch_empty(&srv->batch[srv->open].b))
        return;
    if (srv->nconns) {
        for (td_conn *c = srv->conns, *next; c; c = next) {
            next = c->next;
            conn_close(c, "server stopping");
        }
        return; /* the offline states are one more commit */
    }
    td_log_limits_flush(true);
    td_info("store: all records committed (%llu records in %llu commits); closing",
            (unsigned long long)srv->records, (unsigned long long)srv->commits);
    /* Closed connections still writing to a peer that does not read. */
    for (td_conn *c = srv->closing; c; c = c->next)
        if (uv_stream_get_write_queue_size((uv_stream_t *)&c->handle) &&
            !uv_is_closing((uv_handle_t *)&c->handle))
            uv_close((uv_handle_t *)&c->handle, on_conn_closed);
    if (srv->retention.active)
        end_pass(srv, now_ms(), 0, false);
    close_handle((uv_handle_t *)&srv->udp);
    close_handle((uv_handle_t *)&srv->sweep);
    close_handle((uv_handle_t *)&srv->retention.idle);
    close_handle((uv_handle_t *)&srv->check);
    close_handle((uv_handle_t *)&srv->sigint);
    close_handle((uv_handle_t *)&srv->sigterm);
}

static void on_signal(uv_signal_t *h, int signum)
{
    td_server *srv = h->data;
    if (srv->stopping) {
        td_warn("second signal: exiting without waiting");
        exit(1);
    }
    srv->stopping = true;
    td_info("%s received: no new connections; flushing %zu pending records",
            signum == SIGINT ? "SIGINT" : "SIGTERM", srv->batch[srv->open].b.nrows);
    close_handle((uv_handle_t *)&srv->tcp);
    uv_udp_recv_stop(&srv->udp);
    if (srv->http)
        td_http_stop(srv->http);
    td_notify_stop(srv->notify);
    for (td_conn *c = srv->conns; c; c = c->next)
        if (!c->closing)
            uv_read_stop((uv_stream_t *)&c->handle);
    maybe_finish_stop(srv);
}

/* ---- the registry as the HTTP side sees it ------------------------------ */

void td_gw_alerts_changed(td_server *srv)
{
    td_rules_load(srv->rules, srv->store);
}

td_notify *td_gw_notify(td_server *srv)
{
    return srv->notify;
}

const td_config *td_gw_config(td_server *srv)
{
    return srv->cfg;
}

td_store *td_gw_store(td_server *srv)
{
    return srv->store;
}

int td_gw_port(td_server *srv)
{
    return srv->port;
}

const td_gw_stats *td_gw_stats_get(td_server *srv)
{
    return &srv->stats;
}

void td_gw_limit_hit(td_server *srv, enum td_limit limit)
{
    srv->stats.limit_hits[limit]++;
}

void td_gw_connections(td_server *srv, uint64_t *tcp, uint64_t *udp)
{
    size_t n = td_protocol_count < TD_MAX_PROTOCOLS ? td_protocol_count : TD_MAX_PROTOCOLS - 1;
    memset(tcp, 0, (n + 1) * sizeof(*tcp));
    memset(udp, 0, (n + 1) * sizeof(*udp));
    for (td_conn *c = srv->conns; c; c = c->next)
        if (!c->closing)
            tcp[c->stream.proto ? proto_index(c->stream.proto) : n]++;
    for (size_t i = 0; i < srv->peers.cap; i++)
        if (srv->peers.slots[i].key) {
            td_peer *p = srv->peers.slots[i].value;
            udp[p->proto ? proto_index(p->proto) : n]++;
        }
}

int td_gw_each_device(td_server *srv, int (*cb)(void *arg, td_device *d), void *arg)
{
    for (size_t i = 0; i < srv->devices.cap; i++)
        if (srv->devices.slots[i].key) {
            int rc = cb(arg, srv->devices.slots[i].value);
            if (rc)
                return rc;
        }
    return 0;
}

td_device *td_gw_device(td_server *srv, int64_t id)
{
    char key[24];
    snprintf(key, sizeof(key), "%lld", (long long)id);
    return td_map_get(&srv->by_id, key);
}

td_device *td_gw_device_by_uid(td_server *srv, const char *unique_id)
{
    return td_map_get(&srv->devices, unique_id);
}

bool td_device_manageable(const td_device *d, int64_t user_id, bool admin)
{
    return admin || (d->owner_id && d->owner_id == user_id);
}

bool td_device_visible(const td_device *d, int64_t user_id, bool admin)
{
    if (td_device_manageable(d, user_id, admin))
        return true;
    for (int i = 0; i < d->nshares; i++)
        if (d->shares[i] == user_id)
            return true;
    return false;
}

int td_gw_device_add(td_server *srv, const char *unique_id, const char *name, int64_t owner_id,
                     td_device **out)
{
    if (td_map_get(&srv->devices, unique_id))
        return TD_EEXISTS;
    td_device *dev = calloc(1, sizeof(*dev));
    if (!dev)
        return TD_ENOMEM;
    dev->batch_idx = -1;
    dev->owner_id = owner_id;
    snprintf(dev->st.unique_id, sizeof(dev->st.unique_id), "%s", unique_id);
    snprintf(dev->st.name, sizeof(dev->st.name), "%s", name && *name ? name : unique_id);
    dev->st.first_seen_ms = 0;
    int rc = srv->store->ops->device_add(srv->store, &dev->st, owner_id);
    if (!rc)
        rc = td_map_put(&srv->devices, dev->st.unique_id, dev);
    if (rc) {
        free(dev);
        return rc;
    }
    dev->latest_loaded = true; /* nothing stored yet */
    index_device(srv, dev);
    td_info("device %s added through the API (id %lld)", dev->st.unique_id, (long long)dev->st.id);
    *out = dev;
    return 0;
}

int td_gw_device_update(td_server *srv, td_device *d, const char *unique_id, const char *name)
{
    if (unique_id && strcmp(unique_id, d->st.unique_id) == 0)
        unique_id = NULL;
    if (unique_id && td_map_get(&srv->devices, unique_id))
        return TD_EEXISTS;
    if (d->st.id <= 0)
        return TD_EAGAIN; /* not committed yet: a moment later it is */
    int rc = srv->store->ops->device_update(srv->store, d->st.id, unique_id, name);
    if (rc)
        return rc;
    if (name)
        snprintf(d->st.name, sizeof(d->st.name), "%s", name);
    if (unique_id) {
        /* Sessions bound to the old identity keep their device pointer;
         * the device reports under its old id until it reconnects. */
        td_map_del(&srv->devices, d->st.unique_id);
        snprintf(d->st.unique_id, sizeof(d->st.unique_id), "%s", unique_id);
        td_map_put(&srv->devices, d->st.unique_id, d);
    }
    return 0;
}

/* Forgets every connection and peer bound to a device being deleted. */
static void detach_device(td_server *srv, td_device *d)
{
    for (td_conn *c = srv->conns, *next; c; c = next) {
        next = c->next;
        if (c->dev == d) {
            c->dev = NULL;
            conn_close(c, "device deleted");
        }
    }
    for (size_t i = 0; i < srv->peers.cap; i++) {
        td_map_slot *slot = &srv->peers.slots[i];
        if (!slot->key)
            continue;
        td_peer *p = slot->value;
        if (p->dev == d) {
            char key[72];
            snprintf(key, sizeof(key), "%s", slot->key);
            p->dev = NULL;
            td_map_del(&srv->peers, key);
            peer_free(srv, p, "device deleted");
            i--;
        }
    }
}

int td_gw_device_delete(td_server *srv, td_device *d)
{
    char key[24];
    if (d->st.id <= 0)
        return TD_EAGAIN;
    int rc = srv->store->ops->device_delete(srv->store, d->st.id);
    if (rc && rc != TD_ENOTFOUND)
        return rc;
    detach_device(srv, d);
    td_map_del(&srv->devices, d->st.unique_id);
    snprintf(key, sizeof(key), "%lld", (long long)d->st.id);
    td_map_del(&srv->by_id, key);
    td_info("device %s deleted through the API", d->st.unique_id);
    if (srv->http)
        td_http_device_deleted(srv->http, d->st.id, d->owner_id, d->shares, d->nshares);
    if (d->batch_idx >= 0) {
        /* The open batch still lists it: its snapshot is taken at the next
         * commit (and updates nothing), then it is freed. */
        d->grave_next = srv->graveyard;
        srv->graveyard = d;
    } else {
        free_device(d);
    }
    return 0;
}

int td_gw_share(td_server *srv, td_device *d, int64_t user_id, bool add)
{
    int rc = add ? srv->store->ops->share_add(srv->store, d->st.id, user_id)
                 : srv->store->ops->share_remove(srv->store, d->st.id, user_id);
    if (rc)
        return rc;
    if (add)
        return add_share(d, user_id);
    for (int i = 0; i < d->nshares; i++)
        if (d->shares[i] == user_id)
            d->shares[i--] = d->shares[--d->nshares];
    return 0;
}

void td_gw_user_deleted(td_server *srv, int64_t user_id)
{
    for (size_t i = 0; i < srv->devices.cap; i++) {
        if (!srv->devices.slots[i].key)
            continue;
        td_device *d = srv->devices.slots[i].value;
        if (d->owner_id == user_id)
            d->owner_id = 0;
        for (int k = 0; k < d->nshares; k++)
            if (d->shares[k] == user_id)
                d->shares[k--] = d->shares[--d->nshares];
    }
    td_gw_alerts_changed(srv);
}

/* ---- start-up ----------------------------------------------------------- */

/*
 * Raises the open-file soft limit to the hard limit, logs it, and derives
 * the device connections allowed at once: --max-connections, or with 0 what
 * the limit leaves after the HTTP side's connections and FD_RESERVE.
 */
static void set_fd_limits(td_server *srv)
{
    const td_config *cfg = srv->cfg;
    struct rlimit rl;
    uint64_t limit = 1024, before = 1024;

    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        before = rl.rlim_cur == RLIM_INFINITY ? UINT64_MAX : (uint64_t)rl.rlim_cur;
        if (rl.rlim_cur != rl.rlim_max) {
            struct rlimit want = {rl.rlim_max, rl.rlim_max};
            if (setrlimit(RLIMIT_NOFILE, &want) == 0)
                rl = want;
            else
                td_warn("cannot raise the open-file limit from %llu to %llu",
                        (unsigned long long)before, (unsigned long long)rl.rlim_max);
        }
        limit = rl.rlim_cur == RLIM_INFINITY ? UINT64_MAX : (uint64_t)rl.rlim_cur;
    }
    uint64_t reserved = (uint64_t)cfg->http_max_conns + FD_RESERVE;
    uint64_t room = limit > reserved + 16 ? limit - reserved : 16;
    if (room > 10000000)
        room = 10000000;
    if (!cfg->max_conns) {
        srv->stats.max_conns = room;
    } else {
        srv->stats.max_conns = (uint64_t)cfg->max_conns;
        if (srv->stats.max_conns > room)
            td_warn("--max-connections %d is more than the open-file limit %llu leaves for"
                    " devices (%llu); connections past it fail to be accepted",
                    cfg->max_conns, (unsigned long long)limit, (unsigned long long)room);
    }
    srv->stats.fd_limit = limit;
    char raised[64] = "";
    if (limit != before)
        snprintf(raised, sizeof(raised), ", raised from %llu", (unsigned long long)before);
    char per_addr[48] = "no limit per address";
    if (cfg->max_conns_per_ip)
        snprintf(per_addr, sizeof(per_addr), "%d per address", cfg->max_conns_per_ip);
    td_info("open-file limit %llu%s; device connections at most %llu (%s), HTTP connections at"
            " most %d",
            (unsigned long long)limit, raised, (unsigned long long)srv->stats.max_conns, per_addr,
            cfg->http_max_conns);
}

static int bind_port(td_server *srv, char *err, size_t errcap)
{
    struct sockaddr_storage ss;
    int rc, port = srv->cfg->port;
    const char *host = srv->cfg->listen;

    if (strcmp(host, "::") == 0) {
        /* The default: IPv6 and IPv4 on one socket, or IPv4 alone on a
         * host without IPv6. */
        int probe = socket(AF_INET6, SOCK_STREAM, 0);
        if (probe < 0) {
            td_warn("IPv6 is not available here; listening on IPv4 only");
            host = "0.0.0.0";
        } else {
            close(probe);
        }
    }
    if (uv_ip6_addr(host, port, (struct sockaddr_in6 *)&ss) != 0 &&
        uv_ip4_addr(host, port, (struct sockaddr_in *)&ss) != 0) {
        snprintf(err, errcap, "--listen: '%s' is not an IP address", host);
        return TD_EINVAL;
    }
    uv_tcp_init(srv->loop, &srv->tcp);
    srv->tcp.data = srv;
    rc = uv_tcp_bind(&srv->tcp, (struct sockaddr *)&ss, 0);
    if (!rc)
        rc = uv_listen((uv_stream_t *)&srv->tcp, 1024, on_connection);
    if (rc) {
        snprintf(err, errcap, "cannot listen on TCP %s port %d: %s", host, port, uv_strerror(rc));
        return TD_EIO;
    }
    if (port == 0) {
        /* An ephemeral port: UDP takes the number TCP was given. */
        struct sockaddr_storage got;
        int len = sizeof(got);
        uv_tcp_getsockname(&srv->tcp, (struct sockaddr *)&got, &len);
        port = ntohs(got.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&got)->sin6_port
                                               : ((struct sockaddr_in *)&got)->sin_port);
        if (ss.ss_family == AF_INET6)
            ((struct sockaddr_in6 *)&ss)->sin6_port = htons((uint16_t)port);
        else
            ((struct sockaddr_in *)&ss)->sin_port = htons((uint16_t)port);
    }
    uv_udp_init(srv->loop, &srv->udp);
    srv->udp.data = srv;
    rc = uv_udp_bind(&srv->udp, (struct sockaddr *)&ss, 0);
    if (!rc)
        rc = uv_udp_recv_start(&srv->udp, alloc_cb, on_udp_recv);
    if (rc) {
        snprintf(err, errcap, "cannot bind UDP %s port %d: %s", host, port, uv_strerror(rc));
        return TD_EIO;
    }
    srv->port = port;
    td_info("device port %d open on %s (TCP and UDP%s); protocols:", port, host,
            strcmp(host, "::") == 0 ? ", IPv4 and IPv6" : "");
    for (size_t i = 0; i < td_protocol_count; i++)
        td_info("  %s", td_protocols[i]->name);
    return 0;
}

static void free_batch(struct gbatch *g)
{
    td_store_batch_clear(&g->b);
    free(g->b.rows);
    free(g->b.devices);
    free(g->b.unknown);
    free(g->b.events);
    free(g->devs);
}

int td_serve(const td_config *cfg)
{
    static td_server srv; /* large (decode context); one per process */
    char err[512];
    int rc, exit_code = 1;

    memset(&srv, 0, sizeof(srv));
    srv.cfg = cfg;
    srv.loop = uv_default_loop();
    srv.open_seq = 1;
    td_map_init(&srv.devices);
    td_map_init(&srv.peers);
    td_map_init(&srv.by_id);
    td_map_init(&srv.per_addr);
    td_map_init(&srv.buckets);
    signal(SIGPIPE, SIG_IGN);
    set_fd_limits(&srv);

    rc = td_store_open(cfg->db, &srv.store, err, sizeof(err));
    if (rc) {
        td_error("%s", err);
        goto out;
    }
    srv.store->ops->reset_online(srv.store);
    rc = srv.store->ops->devices(srv.store, load_device, &srv);
    if (rc) {
        td_error("store: cannot load devices: %s", td_strerror(rc));
        goto out;
    }
    rc = srv.store->ops->device_access(srv.store, load_access, &srv);
    if (!rc)
        rc = td_auth_bootstrap(srv.store, cfg);
    if (rc) {
        td_error("store: cannot load accounts: %s", td_strerror(rc));
        goto out;
    }
    td_info("store %s opened (%s); %zu devices known; unknown devices are %s", cfg->db,
            srv.store->ops->name, srv.devices.len,
            cfg->register_unknown ? "registered automatically" : "rejected");

    td_store_command_filter queued = {.status = "queued"};
    rc = srv.store->ops->commands(srv.store, &queued, count_queued, &srv);
    if (rc) {
        td_error("store: cannot load queued commands: %s", td_strerror(rc));
        goto out;
    }
    td_voice_dir(cfg->media_dir, cfg->db, srv.media_dir, sizeof(srv.media_dir));
    srv.media_buf = malloc(COMMAND_FRAME_MAX);
    srv.ctx.media_buf = srv.media_buf;
    srv.ctx.media_cap = srv.media_buf ? COMMAND_FRAME_MAX : 0;

    srv.rules = td_rules_new(cfg);
    if (!srv.rules || td_rules_load(srv.rules, srv.store))
        goto out;

    /* Before the ports open: a SIGTERM that comes once a client can see
     * the server up stops it cleanly, even while the HTTP side starts. */
    uv_signal_init(srv.loop, &srv.sigint);
    uv_signal_init(srv.loop, &srv.sigterm);
    srv.sigint.data = srv.sigterm.data = &srv;
    uv_signal_start(&srv.sigint, on_signal, SIGINT);
    uv_signal_start(&srv.sigterm, on_signal, SIGTERM);

    td_ban_init(&srv.bans[0], false, (uint32_t)cfg->ban_after, (uint64_t)cfg->ban_seconds * 1000);
    td_ban_init(&srv.bans[1], true, (uint32_t)cfg->ban_after, (uint64_t)cfg->ban_seconds * 1000);
    rc = bind_port(&srv, err, sizeof(err));
    if (!rc)
        rc = td_http_start(&srv, srv.loop, &srv.http, err, sizeof(err));
    if (!rc)
        rc = td_notify_start(srv.loop, srv.store, cfg, &srv.notify, err, sizeof(err));
    if (rc) {
        td_error("%s", err);
        goto out;
    }
    uv_check_init(srv.loop, &srv.check);
    srv.check.data = &srv;
    uv_check_start(&srv.check, on_check);
    uv_timer_init(srv.loop, &srv.retention.idle);
    srv.retention.idle.data = &srv;
    uv_timer_init(srv.loop, &srv.sweep);
    srv.sweep.data = &srv;
    uv_timer_start(&srv.sweep, on_sweep, SWEEP_MS, SWEEP_MS);

    uv_run(srv.loop, UV_RUN_DEFAULT);
    exit_code = 0;

out:
    if (!srv.stopping) {
        /* Start-up failed: close what was opened so the loop can be freed. */
        if (uv_is_active((uv_handle_t *)&srv.tcp) || srv.tcp.loop)
            close_handle((uv_handle_t *)&srv.tcp);
        if (srv.udp.loop)
            close_handle((uv_handle_t *)&srv.udp);
        if (srv.sigint.loop)
            close_handle((uv_handle_t *)&srv.sigint);
        if (srv.sigterm.loop)
            close_handle((uv_handle_t *)&srv.sigterm);
        if (srv.http)
            td_http_stop(srv.http);
        td_notify_stop(srv.notify);
        uv_run(srv.loop, UV_RUN_DEFAULT);
    }
    if (srv.store) {
        srv.store->ops->reset_online(srv.store);
        srv.store->ops->close(srv.store);
        if (exit_code == 0)
            td_info("store closed cleanly; %llu frames, %llu records, %llu decode errors",
                    (unsigned long long)srv.frames, (unsigned long long)srv.records,
                    (unsigned long long)srv.decode_errors);
    }
    td_http_free(srv.http);
    td_notify_free(srv.notify);
    td_rules_free(srv.rules);
    for (size_t i = 0; i < srv.devices.cap; i++)
        if (srv.devices.slots[i].key)
            free_device(srv.devices.slots[i].value);
    while (srv.graveyard) {
        td_device *d = srv.graveyard;
        srv.graveyard = d->grave_next;
        free_device(d);
    }
    td_map_free(&srv.by_id);
    for (size_t i = 0; i < srv.peers.cap; i++)
        if (srv.peers.slots[i].key) {
            td_peer *p = srv.peers.slots[i].value;
            ep_drop(&p->ep);
            free(p);
        }
    td_map_free(&srv.devices);
    td_map_free(&srv.peers);
    while (srv.lru_head)
        bucket_free(&srv, srv.lru_head);
    td_map_free(&srv.buckets);
    td_map_free(&srv.per_addr);
    free_batch(&srv.batch[0]);
    free_batch(&srv.batch[1]);
    free(srv.media_buf);
    uv_loop_close(srv.loop);
    return exit_code;
}
