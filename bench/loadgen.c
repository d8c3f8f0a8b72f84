/*
 * trackd-loadgen: the benchmark driver for trackd's device port.
 *
 * Simulates devices of one protocol or a mix (iw, watch, gt06, teltonika,
 * jt808, gotop: bench/lgproto.c), each on its own TCP connection or UDP
 * socket. Every device logs in as a real one does and waits for the
 * answer; once all devices are in, each sends position frames, every one
 * with its own time, and waits for their acknowledgements:
 *
 *   window mode (default)  at most --window frames unanswered per device
 *   --rate N               N frames/s in total, paced evenly (1 ms ticks),
 *                          still at most --window unanswered per device
 *   --no-ack               as fast as the sockets take them, no waiting for
 *                          any answer (also not for the login): the same
 *                          frames against trackd or bench/nullsink
 *   --idle S               log every device in, then hold the connections S
 *                          seconds (optionally one frame per --heartbeat)
 *
 * Because trackd acknowledges a frame only after its record is committed,
 * acknowledged frames/s is the durable ingest rate. Acknowledgement
 * latencies (send to answer) go into a log-linear histogram with 128
 * buckets per power of two (< 0.8 % error; bench/lgutil.c). gotop defines
 * no answers: its devices are send-only and say so in the summary.
 *
 * --acked-log FILE writes "<unique id> <protocol> <seq> <device time ms>"
 * per acknowledged frame; --check-db PATH then looks every one up in the
 * store's positions table and exits non-zero when any is missing. Without
 * --port, --check-db checks an existing --acked-log and sends nothing.
 *
 * Targets and source addresses must be loopback (127.0.0.0/8, ::1). Every
 * run is bounded by --timeout. One process holds as many devices as its
 * file descriptor limit allows (raised to the hard limit); spread more
 * over processes with --shard i/n, and over source addresses with
 * --sources to pass the ephemeral port range. Run with --help for options.
 */
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <uv.h>

#include "lgproto.h"
#include "lgutil.h"

#define WRITE_CHUNK 16384      /* bytes of frames gathered into one write */
#define STREAM_QUEUE_MAX 65536 /* --no-ack/send-only: bytes queued per connection */
#define STREAM_WRITES_MAX 4    /* --no-ack/send-only: writes queued per connection */
#define UDP_SENDS_MAX 64       /* --no-ack/send-only: datagrams queued per socket */
#define RBUF_MAX 65536         /* reply bytes kept waiting for the rest of a reply */
#define SOURCES_MAX 65536
#define CHECK_SHOW 20 /* missing frames listed by --check-db */
#define NOTES_SHOW 10 /* device errors printed; the rest are counted */

enum phase { P_IDLE, P_CONNECTING, P_LOGIN, P_READY, P_RUN, P_FLUSH, P_DONE, P_FAILED };

/* One frame awaiting its answer. */
typedef struct slot {
    uint64_t sent_ns; /* 0: answered or given up */
    uint32_t seq;
    uint32_t key;
} slot;

typedef struct dev {
    union {
        uv_handle_t h;
        uv_stream_t s;
        uv_tcp_t tcp;
        uv_udp_t udp;
    } io;
    uv_connect_t connect;
    uv_shutdown_t shutdown;
    lg_dev p;
    uint8_t mix;   /* index in the protocol mix */
    uint8_t phase; /* enum phase */
    uint8_t step;  /* login step awaiting its answer */
    bool open;     /* handle initialised and not yet closed */
    bool draining; /* udp, answers without a key: waiting out late answers */
    uint64_t started_ns, step_ns, drain_until, next_beat;
    uint64_t sent, acked, lost, refused;
    unsigned writes; /* writes or datagrams in flight */
    slot *ring;      /* frames awaiting answers, oldest at head */
    uint32_t head, tail, cap;
    uint8_t *rbuf;
    uint32_t rlen, rcap;
} dev;

/* Totals per protocol of the mix. */
typedef struct pstat {
    size_t devices, failed;
    uint64_t sent, acked, lost, refused, bytes;
    lg_hist hist;
} pstat;

static struct {
    /* options */
    const char *host;
    int port;
    lg_mix mix;
    const lg_proto *protos[LG_MIX_MAX];
    size_t devices;
    uint64_t frames; /* per device; 0: until --duration */
    bool frames_set;
    unsigned window, connect_window;
    double rate, duration, idle, heartbeat, ack_timeout, timeout;
    bool udp, no_ack;
    unsigned shard_i, shard_n;
    uint64_t device_offset;
    int64_t time_base;
    const char *acked_log, *check_db;
    struct sockaddr_storage target;
    struct sockaddr_storage *sources;
    int nsources;

    /* run */
    uv_loop_t *loop;
    uv_timer_t tick, phase_timer, deadline;
    uv_signal_t sigint, sigterm;
    dev *devs;
    size_t n, first;      /* this shard's devices: global numbers first.. */
    size_t next, opening; /* next device to open; devices connecting or logging in */
    size_t ready, failed, finished, connect_failed, login_failed, closed_in_hold, open_at_end;
    bool load, stopping, ending, timed_out, interrupted;
    uint64_t t0, t_load, t_stop, t_end;
    uint64_t rate_sent, missed, late, garbage, beats, notes;
    size_t rr;
    FILE *acklog;
    bool acklog_tmp;
    pstat ps[LG_MIX_MAX];
    lg_hist lat, login;
} g;

/* A device's error on stderr: the first NOTES_SHOW, then only counted. */
static void note(const dev *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static uint64_t now_ns(void)
{
    return uv_hrtime();
}

static double secs(uint64_t ns)
{
    return (double)ns / 1e9;
}

static const char *mode_name(void)
{
    return g.idle > 0 ? "idle" : g.no_ack ? "no-ack" : g.rate > 0 ? "rate" : "window";
}

/* Frames device d may still send. */
static bool may_send(const dev *d)
{
    return !g.stopping && (!g.frames || d->sent < g.frames);
}

/* This device's frames are answered and counted (not --no-ack, not a
 * send-only protocol). */
static bool awaits_acks(const dev *d)
{
    return !g.no_ack && d->p.proto->acked;
}

static uint32_t pending(const dev *d)
{
    return d->tail - d->head;
}

static void note(const dev *d, const char *fmt, ...)
{
    if (g.notes++ >= NOTES_SHOW)
        return;
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "device %s: ", d->p.uid);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static void finish(dev *d, bool ok);
static void pump(dev *d);
static void end_run(void);

/* ---- writing ---------------------------------------------------------------- */

typedef struct wreq {
    union {
        uv_write_t w;
        uv_udp_send_t u;
    } req;
    dev *d;
    uint8_t data[];
} wreq;

static void after_send(dev *d, int status)
{
    d->writes--;
    if (status < 0 || !d->open)
        return;
    if (d->phase == P_RUN)
        pump(d);
}

static void on_written(uv_write_t *req, int status)
{
    wreq *w = (wreq *)req;
    dev *d = w->d;
    free(w);
    after_send(d, status);
}

static void on_udp_sent(uv_udp_send_t *req, int status)
{
    wreq *w = (wreq *)req;
    dev *d = w->d;
    free(w);
    after_send(d, status);
}

/* Writes len bytes on d's connection, or sends them as one datagram. */
static void send_bytes(dev *d, const uint8_t *data, size_t len)
{
    g.ps[d->mix].bytes += len;
    if (d->p.udp && awaits_acks(d)) {
        /* The window bounds these; streams need the send callbacks to
         * know when the socket takes more. */
        uv_buf_t b = uv_buf_init((char *)data, (unsigned)len);
        if (uv_udp_try_send(&d->io.udp, &b, 1, NULL) == (int)len)
            return;
    }
    wreq *w = malloc(sizeof(*w) + len);
    if (!w) {
        fprintf(stderr, "trackd-loadgen: out of memory\n");
        exit(1);
    }
    w->d = d;
    memcpy(w->data, data, len);
    uv_buf_t b = uv_buf_init((char *)w->data, (unsigned)len);
    int rc = d->p.udp ? uv_udp_send(&w->req.u, &d->io.udp, &b, 1, NULL, on_udp_sent)
                      : uv_write(&w->req.w, &d->io.s, &b, 1, on_written);
    if (rc < 0) {
        free(w);
        return;
    }
    d->writes++;
}

/* d may take another frame now: its window has room, or (frames not
 * answered) fewer than a few writes are queued. */
static bool has_room(dev *d, size_t gathered)
{
    if (d->draining)
        return false;
    if (awaits_acks(d))
        return pending(d) < d->cap;
    if (d->p.udp)
        return d->writes < UDP_SENDS_MAX;
    return d->writes < STREAM_WRITES_MAX &&
           uv_stream_get_write_queue_size(&d->io.s) + gathered < STREAM_QUEUE_MAX;
}

/* Builds d's next position frame at out; records it as awaiting an answer
 * when answers are awaited. Returns its length. */
static size_t next_frame(dev *d, uint8_t *out, uint64_t t)
{
    uint32_t key = 0;
    lg_fix f = lg_fix_make(d->p.index, d->sent, g.time_base);
    size_t n = d->p.proto->position(&d->p, &f, out, LG_FRAME_MAX, &key);
    if (awaits_acks(d)) {
        slot *s = &d->ring[d->tail++ % d->cap];
        s->sent_ns = t ? t : 1;
        s->seq = (uint32_t)d->sent;
        s->key = key;
    }
    d->sent++;
    return n;
}

/* Sends one frame now (rate mode and heartbeats). */
static void send_one(dev *d)
{
    uint8_t buf[LG_FRAME_MAX];
    size_t n = next_frame(d, buf, now_ns());
    send_bytes(d, buf, n);
}

/* Window mode: fills d's window. --no-ack and send-only devices: writes
 * while the socket takes them. Then ends the device when it is done. */
static void pump(dev *d)
{
    if (d->phase != P_RUN && d->phase != P_FLUSH)
        return;
    if (d->phase == P_RUN && g.rate <= 0 && g.idle <= 0) {
        uint8_t buf[WRITE_CHUNK];
        size_t n = 0;
        uint64_t t = now_ns();
        while (may_send(d) && has_room(d, n)) {
            n += next_frame(d, buf + n, t);
            if (d->p.udp || n + LG_FRAME_MAX > sizeof(buf)) {
                send_bytes(d, buf, n);
                n = 0;
            }
        }
        if (n)
            send_bytes(d, buf, n);
    }
    if (may_send(d))
        return;
    if (awaits_acks(d) && pending(d))
        return;
    if (d->writes)
        return;
    if (g.no_ack && !d->p.udp && d->phase == P_RUN) {
        /* Done writing: wait until the server has read everything and
         * closes, so the time covers the whole transfer. */
        d->phase = P_FLUSH;
        if (uv_shutdown(&d->shutdown, &d->io.s, NULL) < 0)
            finish(d, true);
        return;
    }
    if (d->phase == P_RUN)
        finish(d, true);
}

/* ---- answers ------------------------------------------------------------------ */

static void ack_log(const dev *d, const slot *s)
{
    if (g.acklog)
        fprintf(g.acklog, "%s %s %" PRIu32 " %" PRId64 "\n", d->p.uid, d->p.proto->name, s->seq,
                (g.time_base + (int64_t)s->seq) * 1000);
}

/* Drops answered and given-up frames from the head of the ring. */
static void advance(dev *d)
{
    while (d->head != d->tail && d->ring[d->head % d->cap].sent_ns == 0)
        d->head++;
}

static void logged_in(dev *d);

static void on_answer(dev *d, const lg_reply *r)
{
    uint64_t t = now_ns();
    if (d->phase == P_LOGIN) {
        if (r->kind == LG_REPLY_REFUSED) {
            note(d, "login refused");
            g.login_failed++;
            finish(d, false);
        } else if (r->kind == LG_REPLY_LOGIN) {
            d->step++;
            uint8_t buf[LG_FRAME_MAX];
            size_t n = d->p.proto->login(&d->p, d->step, buf, sizeof(buf));
            if (n) {
                d->step_ns = t;
                send_bytes(d, buf, n);
            } else {
                logged_in(d);
            }
        }
        return;
    }
    if (d->phase != P_RUN && d->phase != P_READY)
        return;
    if (r->kind != LG_REPLY_ACK && r->kind != LG_REPLY_REFUSED)
        return;
    if (!awaits_acks(d))
        return;
    slot *s = NULL;
    if (d->draining) {
        g.late++;
        return;
    }
    if (r->keyed) {
        for (uint32_t i = d->head; i != d->tail; i++) {
            slot *c = &d->ring[i % d->cap];
            if (c->sent_ns && c->key == r->key) {
                s = c;
                break;
            }
        }
    } else if (pending(d)) {
        s = &d->ring[d->head % d->cap];
    }
    if (!s || !s->sent_ns) {
        g.late++;
        return;
    }
    pstat *ps = &g.ps[d->mix];
    if (r->kind == LG_REPLY_ACK) {
        uint64_t lat = t - s->sent_ns;
        lg_hist_add(&g.lat, lat);
        lg_hist_add(&ps->hist, lat);
        d->acked++;
        ack_log(d, s);
    } else {
        d->refused++;
    }
    s->sent_ns = 0;
    advance(d);
    pump(d);
}

/* Reads the answers in buf; returns the bytes used. */
static size_t read_answers(dev *d, const uint8_t *buf, size_t len)
{
    size_t at = 0;
    while (at < len && d->open) {
        lg_reply r;
        long n = d->p.proto->reply(&d->p, buf + at, len - at, &r);
        if (n == 0)
            break;
        if (n < 0) {
            g.garbage++;
            at++;
            continue;
        }
        at += (size_t)n;
        on_answer(d, &r);
    }
    return at;
}

static void alloc_cb(uv_handle_t *h, size_t size, uv_buf_t *buf)
{
    static char slab[65536];
    (void)h;
    (void)size;
    *buf = uv_buf_init(slab, sizeof(slab));
}

static void device_lost(dev *d, const char *why)
{
    if (d->phase == P_FLUSH) {
        finish(d, true);
        return;
    }
    if (d->phase == P_DONE || d->phase == P_FAILED)
        return;
    if (g.idle > 0 && d->phase == P_RUN)
        g.closed_in_hold++;
    if (d->phase == P_LOGIN)
        g.login_failed++;
    note(d, "%s after %" PRIu64 " answers", why, d->acked);
    finish(d, false);
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    dev *d = s->data;
    if (n < 0) {
        device_lost(d, n == UV_EOF ? "connection closed" : uv_strerror((int)n));
        return;
    }
    if (n == 0)
        return;
    const uint8_t *in = (const uint8_t *)buf->base;
    size_t len = (size_t)n;
    if (d->rlen) {
        /* The rest of an answer: join it to what is kept. */
        if (d->rlen + len > d->rcap) {
            size_t cap = d->rlen + len;
            if (cap > RBUF_MAX) {
                device_lost(d, "answers cannot be read");
                return;
            }
            d->rbuf = realloc(d->rbuf, cap);
            d->rcap = (uint32_t)cap;
        }
        memcpy(d->rbuf + d->rlen, in, len);
        d->rlen += (uint32_t)len;
        size_t used = read_answers(d, d->rbuf, d->rlen);
        if (!d->open)
            return;
        memmove(d->rbuf, d->rbuf + used, d->rlen - used);
        d->rlen -= (uint32_t)used;
        return;
    }
    size_t used = read_answers(d, in, len);
    if (!d->open || used == len)
        return;
    if (len - used > RBUF_MAX) {
        device_lost(d, "answers cannot be read");
        return;
    }
    if (len - used > d->rcap) {
        d->rbuf = realloc(d->rbuf, len - used);
        d->rcap = (uint32_t)(len - used);
    }
    memcpy(d->rbuf, in + used, len - used);
    d->rlen = (uint32_t)(len - used);
}

static void on_udp_read(uv_udp_t *h, ssize_t n, const uv_buf_t *buf, const struct sockaddr *addr,
                        unsigned flags)
{
    dev *d = h->data;
    (void)addr;
    (void)flags;
    if (n < 0) {
        device_lost(d, uv_strerror((int)n));
        return;
    }
    if (n > 0)
        read_answers(d, (const uint8_t *)buf->base, (size_t)n);
}

/* ---- devices: open, log in, finish --------------------------------------------- */

static void on_closed(uv_handle_t *h)
{
    (void)h;
}

static void close_device(dev *d)
{
    if (d->open) {
        d->open = false;
        uv_close(&d->io.h, on_closed);
    }
}

static void maybe_start_load(void);
static void start_more(void);

/* Moves d to phase `to`; when d was connecting or logging in, lets the
 * next device open. */
static void set_phase(dev *d, enum phase to)
{
    bool was_opening = d->phase == P_CONNECTING || d->phase == P_LOGIN;
    d->phase = (uint8_t)to;
    if (was_opening) {
        g.opening--;
        start_more();
    }
}

/* d is done: ok, or failed. Closes it unless connections are held. */
static void finish(dev *d, bool ok)
{
    if (d->phase == P_DONE || d->phase == P_FAILED)
        return;
    bool was_ready = d->phase == P_READY || d->phase == P_RUN || d->phase == P_FLUSH;
    if (!ok) {
        g.failed++;
        g.ps[d->mix].failed++;
    }
    close_device(d);
    g.finished++;
    set_phase(d, ok ? P_DONE : P_FAILED);
    if (!was_ready)
        maybe_start_load();
    if (g.finished == g.n)
        end_run();
}

static void logged_in(dev *d)
{
    d->p.logged_in = true;
    lg_hist_add(&g.login, now_ns() - d->started_ns);
    g.ready++;
    set_phase(d, P_READY);
    maybe_start_load();
}

/* Sends the login (all of its steps at once with --no-ack). */
static void start_login(dev *d)
{
    uint8_t buf[LG_FRAME_MAX];
    d->phase = P_LOGIN;
    d->step = 0;
    d->step_ns = now_ns();
    size_t n;
    if (g.no_ack) {
        while ((n = d->p.proto->login(&d->p, d->step, buf, sizeof(buf))) > 0) {
            send_bytes(d, buf, n);
            d->step++;
        }
        logged_in(d);
        return;
    }
    n = d->p.proto->login(&d->p, 0, buf, sizeof(buf));
    if (n)
        send_bytes(d, buf, n);
    else
        logged_in(d);
}

static void on_connect(uv_connect_t *req, int status)
{
    dev *d = req->data;
    if (!d->open || d->phase != P_CONNECTING)
        return;
    if (status < 0) {
        g.connect_failed++;
        note(d, "connect: %s", uv_strerror(status));
        finish(d, false);
        return;
    }
    uv_tcp_nodelay(&d->io.tcp, 1);
    uv_read_start(&d->io.s, alloc_cb, on_read);
    start_login(d);
}

static const struct sockaddr *source_of(const dev *d)
{
    return g.nsources ? (const struct sockaddr *)&g.sources[d->p.index % (uint64_t)g.nsources]
                      : NULL;
}

static void open_device(dev *d)
{
    const struct sockaddr *src = source_of(d);
    int rc;
    d->started_ns = now_ns();
    d->phase = P_CONNECTING;
    g.opening++;
    if (d->p.udp) {
        rc = uv_udp_init_ex(g.loop, &d->io.udp, g.target.ss_family);
        if (rc == 0) {
            d->open = true;
            d->io.h.data = d;
            if (src)
                rc = uv_udp_bind(&d->io.udp, src, 0);
        }
        if (rc == 0)
            rc = uv_udp_connect(&d->io.udp, (const struct sockaddr *)&g.target);
        if (rc == 0)
            rc = uv_udp_recv_start(&d->io.udp, alloc_cb, on_udp_read);
        if (rc == 0) {
            start_login(d);
            return;
        }
    } else {
        rc = uv_tcp_init_ex(g.loop, &d->io.tcp, g.target.ss_family);
        if (rc == 0) {
            d->open = true;
            d->io.h.data = d;
            if (src) {
                uv_os_fd_t fd;
                int one = 1;
#ifdef IP_BIND_ADDRESS_NO_PORT
                /* The port is chosen at connect(), per destination, so
                 * each source address offers the whole ephemeral range. */
                if (uv_fileno(&d->io.h, &fd) == 0)
                    setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
#else
                (void)fd;
                (void)one;
#endif
                rc = uv_tcp_bind(&d->io.tcp, src, 0);
            }
        }
        if (rc == 0) {
            d->connect.data = d;
            rc = uv_tcp_connect(&d->connect, &d->io.tcp, (const struct sockaddr *)&g.target,
                                on_connect);
        }
        if (rc == 0)
            return;
    }
    g.connect_failed++;
    note(d, "%s", uv_strerror(rc));
    finish(d, false);
}

/* Opens devices while fewer than --connect-window are connecting or
 * logging in. */
static void start_more(void)
{
    static bool busy; /* opening a device may end another's opening */
    if (busy)
        return;
    busy = true;
    while (!g.ending && !g.stopping && g.opening < g.connect_window && g.next < g.n)
        open_device(&g.devs[g.next++]);
    busy = false;
    maybe_start_load();
}

/* ---- phases ------------------------------------------------------------------- */

static void on_stop_sending(uv_timer_t *t);

/* Once every device has logged in (or failed), the load starts. */
static void maybe_start_load(void)
{
    if (g.load || g.ending || g.next < g.n || g.opening)
        return;
    g.load = true;
    g.t_load = now_ns();
    if (g.ready == 0) {
        end_run();
        return;
    }
    double phase = g.idle > 0 ? g.idle : g.duration;
    if (phase > 0)
        uv_timer_start(&g.phase_timer, on_stop_sending, (uint64_t)(phase * 1000), 0);
    uint64_t beat = (uint64_t)(g.heartbeat * 1e9);
    for (size_t i = 0; i < g.n; i++) {
        dev *d = &g.devs[i];
        if (d->phase != P_READY)
            continue;
        d->phase = P_RUN;
        d->next_beat = g.t_load + beat;
    }
    for (size_t i = 0; i < g.n && !g.ending; i++)
        if (g.devs[i].phase == P_RUN)
            pump(&g.devs[i]);
}

/* --duration or the --idle hold is over: no new frames; devices end when
 * their frames are answered. */
static void on_stop_sending(uv_timer_t *t)
{
    (void)t;
    g.stopping = true;
    g.t_stop = now_ns();
    for (size_t i = 0; i < g.n; i++)
        g.open_at_end += g.devs[i].phase == P_RUN;
    for (size_t i = 0; i < g.n && !g.ending; i++)
        pump(&g.devs[i]);
}

/* Rate pacing: sends the frames due since the load started, each to the
 * next device (round robin) that may take one. */
static void pace(uint64_t t)
{
    uint64_t due = (uint64_t)(secs(t - g.t_load) * g.rate);
    size_t tried = 0;
    while (g.rate_sent < due && tried < g.n) {
        dev *d = &g.devs[g.rr];
        g.rr = (g.rr + 1) % g.n;
        if (d->phase != P_RUN || !may_send(d) || !has_room(d, 0)) {
            tried++;
            continue;
        }
        tried = 0;
        send_one(d);
        g.rate_sent++;
        if (!may_send(d))
            pump(d); /* its last frame: ends it once answered */
    }
    if (g.rate_sent < due) {
        g.missed += due - g.rate_sent; /* no device could take them */
        g.rate_sent = due;
    }
}

/* UDP: frames unanswered for --ack-timeout are lost. Answers without a
 * key cannot tell which frame they answer (such devices keep one frame in
 * flight), so after a loss such a device waits out late answers before it
 * sends again. */
static void expire(dev *d, uint64_t t, uint64_t limit)
{
    if (d->draining) {
        if (t >= d->drain_until) {
            d->draining = false;
            pump(d);
        }
        return;
    }
    bool keyed = lg_keyed(&d->p);
    bool gave_up = false;
    while (pending(d)) {
        slot *s = &d->ring[d->head % d->cap];
        if (s->sent_ns && t - s->sent_ns < limit)
            break;
        if (s->sent_ns) {
            s->sent_ns = 0;
            d->lost++;
            gave_up = true;
        }
        d->head++;
    }
    if (gave_up && !keyed) {
        for (uint32_t i = d->head; i != d->tail; i++)
            if (d->ring[i % d->cap].sent_ns) {
                d->ring[i % d->cap].sent_ns = 0;
                d->lost++;
            }
        d->head = d->tail;
        d->draining = true;
        d->drain_until = t + limit;
    }
    if (gave_up)
        pump(d);
}

static void on_tick(uv_timer_t *timer)
{
    (void)timer;
    uint64_t t = now_ns(), limit = (uint64_t)(g.ack_timeout * 1e9);
    if (g.load && !g.stopping && g.rate > 0)
        pace(t);
    for (size_t i = 0; i < g.n && !g.ending; i++) {
        dev *d = &g.devs[i];
        if (d->phase == P_LOGIN && t - d->step_ns > limit) {
            note(d, "no answer to login step %d in %.0f s", d->step + 1, g.ack_timeout);
            g.login_failed++;
            finish(d, false);
        } else if (d->phase == P_RUN && d->p.udp && awaits_acks(d)) {
            expire(d, t, limit);
        }
        if (d->phase == P_RUN && g.idle > 0 && g.heartbeat > 0 && !g.stopping &&
            t >= d->next_beat && !pending(d)) {
            d->next_beat = t + (uint64_t)(g.heartbeat * 1e9);
            send_one(d);
            g.beats++;
        }
    }
}

static void on_deadline(uv_timer_t *t)
{
    (void)t;
    fprintf(stderr, "trackd-loadgen: timeout after %.0f s: %zu of %zu devices finished\n",
            g.timeout, g.finished, g.n);
    g.timed_out = true;
    end_run();
}

static void on_signal(uv_signal_t *s, int signum)
{
    (void)s;
    fprintf(stderr, "trackd-loadgen: %s, stopping\n", signum == SIGINT ? "SIGINT" : "SIGTERM");
    g.interrupted = true;
    end_run();
}

/* Ends the run: closes every handle so that uv_run returns. */
static void end_run(void)
{
    if (g.ending)
        return;
    g.ending = true;
    g.t_end = now_ns();
    if (!g.t_stop)
        g.t_stop = g.t_end;
    for (size_t i = 0; i < g.n; i++)
        close_device(&g.devs[i]);
    uv_close((uv_handle_t *)&g.tick, NULL);
    uv_close((uv_handle_t *)&g.phase_timer, NULL);
    uv_close((uv_handle_t *)&g.deadline, NULL);
    uv_close((uv_handle_t *)&g.sigint, NULL);
    uv_close((uv_handle_t *)&g.sigterm, NULL);
}

/* ---- the store check -------------------------------------------------------------- */

/*
 * Looks up every frame of the acknowledged-frames log (`log`, at its start)
 * in the positions table of the SQLite store at path: a position record of
 * that device with that device time. Prints the missing ones (the first
 * CHECK_SHOW) and the counts. Returns the number missing, or -1 when the
 * check could not run. *acked gets the number of logged frames.
 */
static long check_store(const char *path, FILE *log, uint64_t *acked)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *ins = NULL, *q = NULL;
    long missing = -1;
    char line[256];
    *acked = 0;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        fprintf(stderr, "check-db: %s: %s\n", path, db ? sqlite3_errmsg(db) : "cannot open");
        goto out;
    }
    sqlite3_busy_timeout(db, 10000);
    if (sqlite3_exec(db,
                     "CREATE TEMP TABLE acked (uid TEXT, protocol TEXT, seq INTEGER, t INTEGER);"
                     "BEGIN",
                     NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, "INSERT INTO temp.acked VALUES (?, ?, ?, ?)", -1, &ins, NULL) !=
            SQLITE_OK)
        goto sqlerr;
    while (fgets(line, sizeof(line), log)) {
        char uid[64], proto[32];
        long long seq, t;
        if (sscanf(line, "%63s %31s %lld %lld", uid, proto, &seq, &t) != 4) {
            fprintf(stderr, "check-db: bad acknowledged-frames line: %s", line);
            goto out;
        }
        sqlite3_bind_text(ins, 1, uid, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(ins, 2, proto, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(ins, 3, seq);
        sqlite3_bind_int64(ins, 4, t);
        if (sqlite3_step(ins) != SQLITE_DONE)
            goto sqlerr;
        sqlite3_reset(ins);
        (*acked)++;
    }
    if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db,
                           "SELECT a.uid, a.protocol, a.seq, a.t FROM temp.acked a WHERE NOT EXISTS"
                           " (SELECT 1 FROM main.devices d JOIN main.positions p ON"
                           " p.device_id = d.id WHERE d.unique_id = a.uid AND p.device_time = a.t"
                           " AND p.type = 'position') ORDER BY a.uid, a.seq",
                           -1, &q, NULL) != SQLITE_OK)
        goto sqlerr;
    missing = 0;
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        if (missing++ < CHECK_SHOW)
            printf("check-db: missing %s %s seq %lld time %lld\n", sqlite3_column_text(q, 0),
                   sqlite3_column_text(q, 1), sqlite3_column_int64(q, 2),
                   sqlite3_column_int64(q, 3));
    }
    if (rc != SQLITE_DONE) {
        missing = -1;
        goto sqlerr;
    }
    if (missing > CHECK_SHOW)
        printf("check-db: ... and %ld more missing\n", missing - CHECK_SHOW);
    printf("check-db: acked=%" PRIu64 " stored=%" PRIu64 " missing=%ld\n", *acked,
           *acked - (uint64_t)missing, missing);
    goto out;
sqlerr:
    fprintf(stderr, "check-db: %s: %s\n", path, sqlite3_errmsg(db));
out:
    sqlite3_finalize(ins);
    sqlite3_finalize(q);
    sqlite3_close(db);
    return missing;
}

/* ---- report --------------------------------------------------------------------- */

static double ms(uint64_t ns)
{
    return (double)ns / 1e6;
}

static void print_proto_json(int i)
{
    const pstat *p = &g.ps[i];
    printf("\"%s\":{\"devices\":%zu,\"failed\":%zu,\"sendOnly\":%s,\"sent\":%" PRIu64
           ",\"acked\":%" PRIu64 ",\"lost\":%" PRIu64 ",\"refused\":%" PRIu64
           ",\"bytesSent\":%" PRIu64 ",\"ackP50Ms\":%.3f,\"ackP99Ms\":%.3f,\"ackP999Ms\":%.3f}",
           g.mix.name[i], p->devices, p->failed, g.protos[i]->acked ? "false" : "true", p->sent,
           p->acked, p->lost, p->refused, p->bytes, ms(lg_hist_quantile(&p->hist, 0.5)),
           ms(lg_hist_quantile(&p->hist, 0.99)), ms(lg_hist_quantile(&p->hist, 0.999)));
}

/* Prints the human summary and the JSON line. */
static void report(long missing, uint64_t checked)
{
    uint64_t sent = 0, acked = 0, lost = 0, refused = 0, bytes = 0, send_only = 0;
    for (size_t i = 0; i < g.n; i++) {
        dev *d = &g.devs[i];
        pstat *p = &g.ps[d->mix];
        uint64_t open = 0;
        for (uint32_t k = d->head; k != d->tail; k++)
            open += d->ring[k % d->cap].sent_ns != 0;
        p->sent += d->sent;
        p->acked += d->acked;
        p->refused += d->refused;
        p->lost += d->lost + open;
        if (!awaits_acks(d))
            send_only += d->sent;
    }
    for (int i = 0; i < g.mix.n; i++) {
        sent += g.ps[i].sent;
        acked += g.ps[i].acked;
        lost += g.ps[i].lost;
        refused += g.ps[i].refused;
        bytes += g.ps[i].bytes;
    }
    uint64_t end = g.idle > 0 ? g.t_stop : g.t_end;
    double load_s = g.load ? secs(end - g.t_load) : 0;
    double open_s = secs((g.load ? g.t_load : g.t_end) - g.t0);
    double fps = load_s > 0 ? (double)acked / load_s : 0;
    double sps = load_s > 0 ? (double)sent / load_s : 0;
    char proto[256] = "";
    for (int i = 0; i < g.mix.n; i++) {
        size_t l = strlen(proto);
        snprintf(proto + l, sizeof(proto) - l, "%s%s", i ? "," : "", g.mix.name[i]);
        if (g.mix.n > 1) {
            l = strlen(proto);
            snprintf(proto + l, sizeof(proto) - l, ":%u", g.mix.weight[i]);
        }
    }
    size_t established = g.ready;

    printf("protocol=%s transport=%s mode=%s devices=%zu", proto, g.udp ? "udp" : "tcp",
           mode_name(), g.n);
    if (g.shard_n > 1)
        printf(" shard=%u/%u", g.shard_i, g.shard_n);
    if (g.idle > 0) {
        printf(" established=%zu connect_failed=%zu login_failed=%zu closed_in_hold=%zu"
               " open_at_end=%zu hold_s=%.2f open_s=%.2f login_p50_ms=%.2f login_p99_ms=%.2f "
               "heartbeats=%" PRIu64 " heartbeat_acks=%" PRIu64 "\n",
               established, g.connect_failed, g.login_failed, g.closed_in_hold, g.open_at_end,
               load_s, open_s, ms(lg_hist_quantile(&g.login, 0.5)),
               ms(lg_hist_quantile(&g.login, 0.99)), g.beats, acked);
    } else {
        printf(" frames_per_device=%" PRIu64 " window=%u", g.frames, g.window);
        if (g.rate > 0)
            printf(" rate=%.0f missed=%" PRIu64, g.rate, g.missed);
        printf(" sent=%" PRIu64 " acked=%" PRIu64 " lost=%" PRIu64 " seconds=%.2f", sent, acked,
               lost, load_s);
        if (g.no_ack)
            printf(" sent_frames_per_s=%.0f bytes_per_s=%.0f", sps,
                   load_s > 0 ? bytes / load_s : 0);
        else
            printf(" frames_per_s=%.0f ack_p50_ms=%.2f ack_p99_ms=%.2f ack_p999_ms=%.2f"
                   " ack_max_ms=%.2f",
                   fps, ms(lg_hist_quantile(&g.lat, 0.5)), ms(lg_hist_quantile(&g.lat, 0.99)),
                   ms(lg_hist_quantile(&g.lat, 0.999)), ms(g.lat.n ? g.lat.max : 0));
        printf(" failed_devices=%zu\n", g.failed);
        if (send_only && !g.no_ack)
            printf("send-only: %" PRIu64 " frames of protocols without answers (gotop) were sent"
                   " and not acknowledged; they are not in acked, lost or frames_per_s\n",
                   send_only);
        if (g.mix.n > 1)
            for (int i = 0; i < g.mix.n; i++) {
                const pstat *p = &g.ps[i];
                printf("  %s: devices=%zu sent=%" PRIu64, g.mix.name[i], p->devices, p->sent);
                if (!g.protos[i]->acked || g.no_ack)
                    printf(" (send-only)\n");
                else
                    printf(" acked=%" PRIu64 " lost=%" PRIu64 " ack_p50_ms=%.2f ack_p99_ms=%.2f\n",
                           p->acked, p->lost, ms(lg_hist_quantile(&p->hist, 0.5)),
                           ms(lg_hist_quantile(&p->hist, 0.99)));
            }
    }
    if (g.late || g.garbage || refused)
        printf("late_answers=%" PRIu64 " unreadable_bytes=%" PRIu64 " refused=%" PRIu64 "\n",
               g.late, g.garbage, refused);

    printf("{\"mode\":\"%s\",\"transport\":\"%s\",\"protocol\":\"%s\",\"devices\":%zu,"
           "\"shard\":\"%u/%u\",\"framesPerDevice\":%" PRIu64 ",\"window\":%u,\"rate\":%.0f,"
           "\"established\":%zu,\"failedDevices\":%zu,\"connectFailed\":%zu,\"loginFailed\":%zu,"
           "\"closedInHold\":%zu,\"openAtEnd\":%zu,\"openSeconds\":%.3f,\"seconds\":%.3f,\"sent\":"
           "%" PRIu64 ",\"acked\":%" PRIu64 ",\"lost\":%" PRIu64 ",\"refused\":%" PRIu64
           ",\"sendOnly\":%" PRIu64 ",\"late\":%" PRIu64 ",\"missed\":%" PRIu64
           ",\"bytesSent\":%" PRIu64 ",\"framesPerS\":%.1f,\"sentFramesPerS\":%.1f,"
           "\"ackMs\":{\"p50\":%.3f,\"p99\":%.3f,\"p999\":%.3f,\"max\":%.3f,\"mean\":%.3f},"
           "\"loginMs\":{\"p50\":%.3f,\"p99\":%.3f},"
           "\"histogram\":\"log-linear, 128 buckets per power of two\",",
           mode_name(), g.udp ? "udp" : "tcp", proto, g.n, g.shard_i, g.shard_n, g.frames, g.window,
           g.rate, established, g.failed, g.connect_failed, g.login_failed, g.closed_in_hold,
           g.open_at_end, open_s, load_s, sent, acked, lost, refused, send_only, g.late, g.missed,
           bytes, fps, sps, ms(lg_hist_quantile(&g.lat, 0.5)), ms(lg_hist_quantile(&g.lat, 0.99)),
           ms(lg_hist_quantile(&g.lat, 0.999)), ms(g.lat.n ? g.lat.max : 0),
           g.lat.n ? ms((uint64_t)(g.lat.sum / (double)g.lat.n)) : 0,
           ms(lg_hist_quantile(&g.login, 0.5)), ms(lg_hist_quantile(&g.login, 0.99)));
    if (missing >= 0)
        printf("\"check\":{\"acked\":%" PRIu64 ",\"missing\":%ld},", checked, missing);
    printf("\"timedOut\":%s,\"protocols\":{", g.timed_out ? "true" : "false");
    for (int i = 0; i < g.mix.n; i++) {
        if (i)
            printf(",");
        print_proto_json(i);
    }
    printf("}}\n");
}

/* ---- options --------------------------------------------------------------------- */

static void usage(FILE *f)
{
    fprintf(f, "usage: trackd-loadgen --port P [options]\n"
               "  --host H            target, loopback only (127.0.0.1)\n"
               "  --protocol NAME     iw, watch, gt06, teltonika, jt808 or gotop (iw)\n"
               "  --mix SPEC          protocols by weight, e.g. iw:40,gt06:20,jt808:40\n"
               "  --devices N         simulated devices, over all shards (100)\n"
               "  --frames M          position frames per device (100; no limit with --duration)\n"
               "  --duration S        send for S seconds, then wait for the answers\n"
               "  --window W          unanswered frames per device at most (10)\n"
               "  --rate N            N frames/s in total, paced evenly (split over shards)\n"
               "  --udp               one UDP socket per device instead of a TCP connection\n"
               "  --ack-timeout S     a datagram or login unanswered this long is lost (10)\n"
               "  --no-ack            send as fast as the sockets take, wait for nothing\n"
               "  --idle S            log in, then hold the connections S seconds\n"
               "  --heartbeat S       with --idle: one position per device every S seconds\n"
               "  --sources LIST      source addresses, round robin: 127.0.0.1-127.0.0.50,...\n"
               "  --shard I/N         run devices [I*N/n, (I+1)*N/n) of --devices\n"
               "  --device-offset K   number of the first device (ids derive from it) (0)\n"
               "  --time-base T       device time of frame 0, Unix seconds (now - 1 day)\n"
               "  --connect-window C  devices connecting or logging in at once (256)\n"
               "  --timeout S         stop after S seconds whatever happens (120)\n"
               "  --acked-log FILE    one line per acknowledged frame: uid protocol seq time_ms\n"
               "  --check-db PATH     after the run, look every acknowledged frame up in the\n"
               "                      store; without --port, check an existing --acked-log\n");
}

static int bad(const char *what, const char *v)
{
    fprintf(stderr, "trackd-loadgen: bad %s '%s'\n", what, v);
    return 2;
}

static bool num(const char *v, double min, double max, double *out)
{
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (errno || end == v || *end || x < min || x > max)
        return false;
    *out = x;
    return true;
}

static int parse_args(int argc, char **argv)
{
    const char *proto = "iw", *mix = NULL, *sources = NULL;
    double x;
    for (int i = 1; i < argc; i++) {
        const char *k = argv[i];
        if (!strcmp(k, "--help") || !strcmp(k, "-h")) {
            usage(stdout);
            exit(0);
        }
        if (!strcmp(k, "--udp")) {
            g.udp = true;
            continue;
        }
        if (!strcmp(k, "--no-ack")) {
            g.no_ack = true;
            continue;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "trackd-loadgen: %s needs a value\n", k);
            return 2;
        }
        const char *v = argv[++i];
        if (!strcmp(k, "--host"))
            g.host = v;
        else if (!strcmp(k, "--port")) {
            if (!num(v, 1, 65535, &x))
                return bad("port", v);
            g.port = (int)x;
        } else if (!strcmp(k, "--protocol"))
            proto = v;
        else if (!strcmp(k, "--mix"))
            mix = v;
        else if (!strcmp(k, "--devices")) {
            if (!num(v, 1, 1e8, &x))
                return bad("device count", v);
            g.devices = (size_t)x;
        } else if (!strcmp(k, "--frames")) {
            if (!num(v, 1, 4e9, &x))
                return bad("frame count", v);
            g.frames = (uint64_t)x;
            g.frames_set = true;
        } else if (!strcmp(k, "--window")) {
            if (!num(v, 1, 65535, &x))
                return bad("window", v);
            g.window = (unsigned)x;
        } else if (!strcmp(k, "--rate")) {
            if (!num(v, 1, 1e9, &g.rate))
                return bad("rate", v);
        } else if (!strcmp(k, "--duration")) {
            if (!num(v, 0.001, 1e6, &g.duration))
                return bad("duration", v);
        } else if (!strcmp(k, "--idle")) {
            if (!num(v, 0.001, 1e6, &g.idle))
                return bad("idle time", v);
        } else if (!strcmp(k, "--heartbeat")) {
            if (!num(v, 0.001, 1e6, &g.heartbeat))
                return bad("heartbeat interval", v);
        } else if (!strcmp(k, "--ack-timeout")) {
            if (!num(v, 0.001, 1e6, &g.ack_timeout))
                return bad("ack timeout", v);
        } else if (!strcmp(k, "--timeout")) {
            if (!num(v, 0.001, 1e7, &g.timeout))
                return bad("timeout", v);
        } else if (!strcmp(k, "--sources"))
            sources = v;
        else if (!strcmp(k, "--shard")) {
            if (lg_shard_parse(v, &g.shard_i, &g.shard_n))
                return bad("shard (I/N)", v);
        } else if (!strcmp(k, "--device-offset")) {
            if (!num(v, 0, 1e12, &x))
                return bad("device offset", v);
            g.device_offset = (uint64_t)x;
        } else if (!strcmp(k, "--time-base")) {
            if (!num(v, 946684800, 4102444800.0, &x))
                return bad("time base (2000-2099, Unix seconds)", v);
            g.time_base = (int64_t)x;
        } else if (!strcmp(k, "--connect-window")) {
            if (!num(v, 1, 1e6, &x))
                return bad("connect window", v);
            g.connect_window = (unsigned)x;
        } else if (!strcmp(k, "--acked-log"))
            g.acked_log = v;
        else if (!strcmp(k, "--check-db"))
            g.check_db = v;
        else {
            fprintf(stderr, "trackd-loadgen: unknown option %s\n", k);
            usage(stderr);
            return 2;
        }
    }
    if (!g.port) {
        if (g.check_db && g.acked_log)
            return 0; /* check only */
        usage(stderr);
        return 2;
    }
    char err[200];
    if (lg_mix_parse(mix ? mix : proto, &g.mix, err, sizeof(err))) {
        fprintf(stderr, "trackd-loadgen: %s\n", err);
        return 2;
    }
    for (int i = 0; i < g.mix.n; i++)
        if (!(g.protos[i] = lg_proto_find(g.mix.name[i]))) {
            fprintf(stderr,
                    "trackd-loadgen: unknown protocol '%s' (iw, watch, gt06, teltonika, jt808,"
                    " gotop)\n",
                    g.mix.name[i]);
            return 2;
        }
    if (g.idle > 0 && (g.rate > 0 || g.no_ack || g.duration > 0)) {
        fprintf(stderr, "trackd-loadgen: --idle goes with none of --rate, --no-ack, --duration\n");
        return 2;
    }
    if (g.heartbeat > 0 && g.idle <= 0) {
        fprintf(stderr, "trackd-loadgen: --heartbeat needs --idle\n");
        return 2;
    }
    if (lg_parse_addr(g.host, g.port, &g.target)) {
        fprintf(stderr, "trackd-loadgen: --host must be a numeric address: %s\n", g.host);
        return 2;
    }
    if (!lg_is_loopback((struct sockaddr *)&g.target)) {
        fprintf(stderr, "trackd-loadgen: only loopback targets are allowed (127.0.0.0/8, ::1)\n");
        return 2;
    }
    if (sources) {
        g.sources = calloc(SOURCES_MAX, sizeof(*g.sources));
        g.nsources = lg_parse_sources(sources, g.sources, SOURCES_MAX, err, sizeof(err));
        if (g.nsources < 0) {
            fprintf(stderr, "trackd-loadgen: --sources: %s\n", err);
            return 2;
        }
        for (int i = 0; i < g.nsources; i++)
            if (g.sources[i].ss_family != g.target.ss_family) {
                fprintf(stderr, "trackd-loadgen: --sources and --host differ in family\n");
                return 2;
            }
    }
    if (!g.frames_set)
        g.frames = g.duration > 0 || g.idle > 0 ? 0 : 100;
    return 0;
}

/* Raises the descriptor limit to the hard one; fails when this shard
 * needs more descriptors than it may have. */
static int check_fds(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl))
        return 0;
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        getrlimit(RLIMIT_NOFILE, &rl);
    }
    if (rl.rlim_cur != RLIM_INFINITY && g.n + 32 > rl.rlim_cur) {
        fprintf(stderr,
                "trackd-loadgen: %zu devices need %zu descriptors; this process may open %llu."
                " Split them over processes: --shard i/n with n >= %llu\n",
                g.n, g.n + 32, (unsigned long long)rl.rlim_cur,
                (unsigned long long)((g.devices + rl.rlim_cur - 33) / (rl.rlim_cur - 32)));
        return 2;
    }
    return 0;
}

/* ---- main ---------------------------------------------------------------------------- */

int main(int argc, char **argv)
{
    g.host = "127.0.0.1";
    g.devices = 100;
    g.window = 10;
    g.connect_window = 256;
    g.ack_timeout = 10;
    g.timeout = 120;
    g.shard_n = 1;
    int rc = parse_args(argc, argv);
    if (rc)
        return rc;

    if (!g.port) {
        FILE *f = fopen(g.acked_log, "r");
        if (!f) {
            fprintf(stderr, "trackd-loadgen: %s: %s\n", g.acked_log, strerror(errno));
            return 2;
        }
        uint64_t n;
        long missing = check_store(g.check_db, f, &n);
        fclose(f);
        return missing == 0 ? 0 : 1;
    }

    lg_shard_slice(g.devices, g.shard_i, g.shard_n, &g.first, &g.n);
    if (g.shard_n > 1 && g.rate > 0)
        g.rate /= g.shard_n;
    if ((rc = check_fds()) != 0)
        return rc;
    if (!g.time_base)
        g.time_base = (int64_t)time(NULL) - 86400;
    if (g.acked_log) {
        g.acklog = fopen(g.acked_log, "w+");
        if (!g.acklog) {
            fprintf(stderr, "trackd-loadgen: %s: %s\n", g.acked_log, strerror(errno));
            return 2;
        }
    } else if (g.check_db) {
        g.acklog = tmpfile();
        g.acklog_tmp = true;
    }

    uint8_t *spread = malloc(g.devices ? g.devices : 1);
    g.devs = calloc(g.n ? g.n : 1, sizeof(dev));
    if (!spread || !g.devs) {
        fprintf(stderr, "trackd-loadgen: out of memory\n");
        return 1;
    }
    lg_mix_spread(&g.mix, g.devices, spread);
    uint32_t cap = g.window;
    if (g.frames && g.frames < cap)
        cap = (uint32_t)g.frames;
    for (size_t i = 0; i < g.n; i++) {
        dev *d = &g.devs[i];
        d->mix = spread[g.first + i];
        lg_dev_init(&d->p, g.protos[d->mix], g.device_offset + g.first + i, g.udp);
        g.ps[d->mix].devices++;
        if (awaits_acks(d)) {
            /* Over UDP, an answer that does not name its frame (iw) is
             * only known to answer the one frame in flight: a datagram
             * lost on the way would shift every later answer onto the
             * wrong frame. */
            d->cap = d->p.udp && !lg_keyed(&d->p) ? 1 : cap;
            d->ring = calloc(cap, sizeof(slot));
            if (!d->ring) {
                fprintf(stderr, "trackd-loadgen: out of memory\n");
                return 1;
            }
        }
    }
    free(spread);
    lg_hist_init(&g.lat);
    lg_hist_init(&g.login);
    for (int i = 0; i < g.mix.n; i++)
        lg_hist_init(&g.ps[i].hist);

    /* A write to a connection the server has just reset must fail, not
     * end the process. */
    signal(SIGPIPE, SIG_IGN);
    g.loop = uv_default_loop();
    uv_timer_init(g.loop, &g.tick);
    uv_timer_init(g.loop, &g.phase_timer);
    uv_timer_init(g.loop, &g.deadline);
    uv_signal_init(g.loop, &g.sigint);
    uv_signal_init(g.loop, &g.sigterm);
    uv_signal_start(&g.sigint, on_signal, SIGINT);
    uv_signal_start(&g.sigterm, on_signal, SIGTERM);
    uv_timer_start(&g.tick, on_tick, g.rate > 0 ? 1 : 50, g.rate > 0 ? 1 : 50);
    uv_timer_start(&g.deadline, on_deadline, (uint64_t)(g.timeout * 1000), 0);
    g.t0 = now_ns();
    if (g.n == 0)
        end_run();
    else
        start_more();
    uv_run(g.loop, UV_RUN_DEFAULT);

    long missing = -1;
    uint64_t checked = 0;
    if (g.acklog)
        fflush(g.acklog);
    if (g.check_db) {
        rewind(g.acklog);
        missing = check_store(g.check_db, g.acklog, &checked);
    }
    if (g.notes > NOTES_SHOW)
        fprintf(stderr, "trackd-loadgen: %" PRIu64 " more device errors not shown\n",
                g.notes - NOTES_SHOW);
    report(missing, checked);
    fflush(stdout);

    bool ok = !g.failed && !g.timed_out && !g.interrupted && (!g.check_db || missing == 0);
    if (g.acklog)
        fclose(g.acklog);
    for (size_t i = 0; i < g.n; i++) {
        free(g.devs[i].ring);
        free(g.devs[i].rbuf);
    }
    free(g.devs);
    free(g.sources);
    uv_loop_close(g.loop);
    return ok ? 0 : 1;
}
