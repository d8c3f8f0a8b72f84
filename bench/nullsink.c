/*
 * trackd-nullsink: the cheapest possible server for the device port, to
 * measure what this machine can move at all. It accepts TCP connections
 * and UDP datagrams on one loopback port, reads everything and discards it,
 * answers nothing, and counts connections and bytes. Run the load
 * generator with --no-ack against it and against trackd with the same
 * load: trackd's frames/s over the sink's is the share of the machine's
 * ceiling trackd reaches (bench/ingest.sh).
 *
 * usage: trackd-nullsink [--host 127.0.0.1] [--port 0] [--duration S]
 * Prints "listening on HOST:PORT" once ready (port 0 picks a free one),
 * then the totals as a line and as JSON on SIGINT/SIGTERM, or after
 * --duration seconds. Listens on loopback addresses only.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <uv.h>

#include "lgutil.h"

static struct {
    uv_loop_t *loop;
    uv_tcp_t tcp;
    uv_udp_t udp;
    uv_timer_t timer;
    uv_signal_t sigint, sigterm;
    uint64_t accepted, open, peak, refused;
    uint64_t tcp_bytes, udp_bytes, datagrams;
    uint64_t start_ns, first_ns, last_ns;
    bool ending;
} g;

/* Marks the time of the first and the latest bytes received. */
static void note_bytes(void)
{
    uint64_t t = uv_hrtime();
    if (!g.first_ns)
        g.first_ns = t;
    g.last_ns = t;
}

static void alloc_cb(uv_handle_t *h, size_t size, uv_buf_t *buf)
{
    static char slab[65536];
    (void)h;
    (void)size;
    *buf = uv_buf_init(slab, sizeof(slab));
}

static void on_conn_closed(uv_handle_t *h)
{
    free(h);
    g.open--;
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    (void)buf;
    if (n < 0) {
        uv_close((uv_handle_t *)s, on_conn_closed);
        return;
    }
    g.tcp_bytes += (uint64_t)n;
    if (n)
        note_bytes();
}

static void on_connection(uv_stream_t *server, int status)
{
    if (status < 0)
        return;
    uv_tcp_t *c = malloc(sizeof(*c));
    if (!c)
        return;
    uv_tcp_init(g.loop, c);
    if (uv_accept(server, (uv_stream_t *)c) < 0) {
        g.refused++;
        uv_close((uv_handle_t *)c, (uv_close_cb)free);
        return;
    }
    g.accepted++;
    if (++g.open > g.peak)
        g.peak = g.open;
    uv_read_start((uv_stream_t *)c, alloc_cb, on_read);
}

static void on_datagram(uv_udp_t *h, ssize_t n, const uv_buf_t *buf, const struct sockaddr *addr,
                        unsigned flags)
{
    (void)h;
    (void)buf;
    (void)flags;
    if (n < 0 || !addr)
        return;
    g.datagrams++;
    g.udp_bytes += (uint64_t)n;
    note_bytes();
}

static void close_walk(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, h->type == UV_TCP && h != (uv_handle_t *)&g.tcp ? on_conn_closed : NULL);
}

static void stop(void)
{
    if (g.ending)
        return;
    g.ending = true;
    uv_walk(g.loop, close_walk, NULL);
}

static void on_signal(uv_signal_t *s, int signum)
{
    (void)s;
    (void)signum;
    stop();
}

static void on_timer(uv_timer_t *t)
{
    (void)t;
    stop();
}

int main(int argc, char **argv)
{
    const char *host = "127.0.0.1";
    int port = 0;
    double duration = 0;
    for (int i = 1; i < argc; i++) {
        const char *k = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(k, "--help") || !strcmp(k, "-h")) {
            printf("usage: trackd-nullsink [--host 127.0.0.1] [--port 0] [--duration S]\n");
            return 0;
        }
        if (!v) {
            fprintf(stderr, "trackd-nullsink: %s needs a value\n", k);
            return 2;
        }
        i++;
        if (!strcmp(k, "--host"))
            host = v;
        else if (!strcmp(k, "--port"))
            port = atoi(v);
        else if (!strcmp(k, "--duration"))
            duration = atof(v);
        else {
            fprintf(stderr, "trackd-nullsink: unknown option %s\n", k);
            return 2;
        }
    }
    struct sockaddr_storage ss;
    if (port < 0 || port > 65535 || lg_parse_addr(host, port, &ss) ||
        !lg_is_loopback((struct sockaddr *)&ss)) {
        fprintf(stderr, "trackd-nullsink: listens on a loopback address and port only\n");
        return 2;
    }
    struct rlimit rl;
    if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }

    g.loop = uv_default_loop();
    uv_tcp_init(g.loop, &g.tcp);
    int rc = uv_tcp_bind(&g.tcp, (struct sockaddr *)&ss, 0);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&g.tcp, 4096, on_connection);
    struct sockaddr_storage bound;
    int len = sizeof(bound);
    if (rc == 0)
        rc = uv_tcp_getsockname(&g.tcp, (struct sockaddr *)&bound, &len);
    if (rc == 0) {
        /* UDP on the same port number. */
        port = ntohs(((struct sockaddr_in *)&bound)->sin_port);
        lg_parse_addr(host, port, &ss);
        uv_udp_init(g.loop, &g.udp);
        rc = uv_udp_bind(&g.udp, (struct sockaddr *)&ss, 0);
        if (rc == 0)
            rc = uv_udp_recv_start(&g.udp, alloc_cb, on_datagram);
    }
    if (rc < 0) {
        fprintf(stderr, "trackd-nullsink: %s port %d: %s\n", host, port, uv_strerror(rc));
        return 1;
    }
    uv_signal_init(g.loop, &g.sigint);
    uv_signal_init(g.loop, &g.sigterm);
    uv_signal_start(&g.sigint, on_signal, SIGINT);
    uv_signal_start(&g.sigterm, on_signal, SIGTERM);
    uv_timer_init(g.loop, &g.timer);
    if (duration > 0)
        uv_timer_start(&g.timer, on_timer, (uint64_t)(duration * 1000), 0);
    printf("trackd-nullsink: listening on %s:%d (tcp, udp)\n", host, port);
    fflush(stdout);
    g.start_ns = uv_hrtime();
    uv_run(g.loop, UV_RUN_DEFAULT);

    double busy = g.last_ns > g.first_ns ? (double)(g.last_ns - g.first_ns) / 1e9 : 0;
    double up = (double)(uv_hrtime() - g.start_ns) / 1e9;
    uint64_t bytes = g.tcp_bytes + g.udp_bytes;
    printf("connections=%" PRIu64 " peak_open=%" PRIu64 " tcp_bytes=%" PRIu64 " datagrams=%" PRIu64
           " udp_bytes=%" PRIu64 " busy_s=%.3f bytes_per_s=%.0f up_s=%.1f\n",
           g.accepted, g.peak, g.tcp_bytes, g.datagrams, g.udp_bytes, busy,
           busy > 0 ? (double)bytes / busy : 0, up);
    printf("{\"connections\":%" PRIu64 ",\"peakOpen\":%" PRIu64 ",\"tcpBytes\":%" PRIu64
           ",\"datagrams\":%" PRIu64 ",\"udpBytes\":%" PRIu64
           ",\"busySeconds\":%.3f,\"bytesPerS\":%.0f}\n",
           g.accepted, g.peak, g.tcp_bytes, g.datagrams, g.udp_bytes, busy,
           busy > 0 ? (double)bytes / busy : 0);
    uv_loop_close(g.loop);
    return 0;
}
