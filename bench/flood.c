/*
 * trackd-flood: a bounded loopback flood of the device port, run next to an
 * honest load by bench/flood.sh to see what the flood costs it.
 *
 * From one source address (127.0.0.2 by default) it keeps --conns TCP
 * connections going. Each sends one of: garbage, an oversized iw frame
 * (17,000 bytes without its end), a login and the start of a frame that
 * never ends (a slow sender), or nothing; when the server closes it, the
 * next one connects. Meanwhile it sends --udp-rate datagrams per second
 * from the same address: garbage, iw logins and iw positions. It stops
 * after --seconds, after --max-conns connections, or on SIGINT/SIGTERM,
 * and prints what it did on one line.
 *
 * usage: trackd-flood --port P [--target 127.0.0.1] [--source 127.0.0.2]
 *                     [--conns 512] [--udp-rate 20000] [--seconds 30]
 *                     [--max-conns 1000000]
 * Loopback only: --target and --source must be in 127.0.0.0/8.
 */
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#define OVERSIZED 17000 /* an iw frame over its 16,384-byte limit */
#define UDP_TICK_MS 1

typedef struct fconn {
    uv_tcp_t tcp;
    uv_connect_t req;
    uv_write_t write;
} fconn;

static struct {
    const char *target, *source;
    int port, conns, udp_rate, seconds;
    long max_conns;
    struct sockaddr_in to, from;
    uv_loop_t *loop;
    uv_udp_t udp;
    uv_timer_t tick, stop;
    uv_signal_t sigint, sigterm;
    bool running, finished;
    uint64_t start_ns;
    /* what happened */
    long attempts, connected, closed_by_server, connect_errors;
    uint64_t bytes, datagrams, datagram_errors;
} g = {.target = "127.0.0.1",
       .source = "127.0.0.2",
       .conns = 512,
       .udp_rate = 20000,
       .seconds = 30,
       .max_conns = 1000000};

static char garbage[512], oversized[OVERSIZED];
static const char slow[] = "IWAP00864999000000000#IWAP01240321A2232.9806N11404.93";
static const char *const datagrams[] = {
    "\x01\x02\x03 not a protocol \xff\xfe",
    "IWAP00864999000000001#",
    "IWAP01240321A2232.9806N11404.9355E000.1101530323.8706000908000102,460,0,9520,3671#",
};

static void start_conn(void);

static void alloc_cb(uv_handle_t *h, size_t s, uv_buf_t *buf)
{
    (void)h;
    (void)s;
    static char slab[65536];
    *buf = uv_buf_init(slab, sizeof(slab));
}

static void on_closed(uv_handle_t *h)
{
    free(h->data);
    if (g.running)
        start_conn();
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    (void)buf;
    if (n >= 0)
        return; /* replies to the slow sender's login */
    g.closed_by_server++;
    uv_close((uv_handle_t *)s, on_closed);
}

static void on_written(uv_write_t *req, int status)
{
    (void)req;
    (void)status;
}

static void on_connect(uv_connect_t *req, int status)
{
    fconn *c = req->data;
    if (status < 0) {
        g.connect_errors++;
        uv_close((uv_handle_t *)&c->tcp, on_closed);
        return;
    }
    g.connected++;
    uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, on_read);
    uv_buf_t buf = {0};
    switch (g.connected % 4) {
    case 0:
        buf = uv_buf_init(garbage, sizeof(garbage));
        break;
    case 1:
        buf = uv_buf_init(oversized, sizeof(oversized));
        break;
    case 2:
        buf = uv_buf_init((char *)slow, sizeof(slow) - 1);
        break;
    default:
        return; /* says nothing */
    }
    if (uv_write(&c->write, (uv_stream_t *)&c->tcp, &buf, 1, on_written) == 0)
        g.bytes += buf.len;
}

static void start_conn(void)
{
    if (g.attempts >= g.max_conns)
        return; /* UDP goes on until the time is up */
    fconn *c = calloc(1, sizeof(*c));
    if (!c)
        return;
    g.attempts++;
    uv_tcp_init(g.loop, &c->tcp);
    c->tcp.data = c;
    c->req.data = c;
    /* Bound to the source address, its port picked at connect: binding
     * thousands of sockets to port 0 first is quadratic in the kernel. */
    int one = 1, fd = socket(AF_INET, SOCK_STREAM, 0);
    bool opened = false;
    if (fd >= 0 && !setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one)) &&
        !bind(fd, (const struct sockaddr *)&g.from, sizeof(g.from)))
        opened = uv_tcp_open(&c->tcp, fd) == 0;
    if (!opened && fd >= 0)
        close(fd);
    if (!opened || uv_tcp_connect(&c->req, &c->tcp, (const struct sockaddr *)&g.to, on_connect)) {
        g.connect_errors++;
        uv_close((uv_handle_t *)&c->tcp, on_closed);
    }
}

static void on_tick(uv_timer_t *t)
{
    (void)t;
    double secs = (double)(uv_hrtime() - g.start_ns) / 1e9;
    uint64_t due = (uint64_t)(secs * g.udp_rate);
    while (g.datagrams + g.datagram_errors < due) {
        const char *d = datagrams[(g.datagrams + g.datagram_errors) % 3];
        uv_buf_t buf = uv_buf_init((char *)d, (unsigned)strlen(d));
        if (uv_udp_try_send(&g.udp, &buf, 1, (const struct sockaddr *)&g.to) < 0) {
            g.datagram_errors++;
            if (g.datagram_errors % 1000 == 0)
                break; /* the socket is full: next tick */
        } else {
            g.datagrams++;
        }
    }
}

static void finish(void)
{
    if (g.finished)
        return;
    g.finished = true;
    g.running = false;
    double secs = (double)(uv_hrtime() - g.start_ns) / 1e9;
    printf("flood: source=%s seconds=%.1f connections=%ld connected=%ld closed_by_server=%ld "
           "connect_errors=%ld bytes_sent=%llu datagrams=%llu datagram_errors=%llu\n",
           g.source, secs, g.attempts, g.connected, g.closed_by_server, g.connect_errors,
           (unsigned long long)g.bytes, (unsigned long long)g.datagrams,
           (unsigned long long)g.datagram_errors);
    fflush(stdout);
    uv_stop(g.loop);
}

static void on_stop(uv_timer_t *t)
{
    (void)t;
    finish();
}

static void on_signal(uv_signal_t *h, int signum)
{
    (void)h;
    (void)signum;
    finish();
}

static bool loopback4(const char *ip)
{
    return strncmp(ip, "127.", 4) == 0;
}

int main(int argc, char **argv)
{
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *k = argv[i], *v = argv[i + 1];
        if (!strcmp(k, "--port"))
            g.port = atoi(v);
        else if (!strcmp(k, "--target"))
            g.target = v;
        else if (!strcmp(k, "--source"))
            g.source = v;
        else if (!strcmp(k, "--conns"))
            g.conns = atoi(v);
        else if (!strcmp(k, "--udp-rate"))
            g.udp_rate = atoi(v);
        else if (!strcmp(k, "--seconds"))
            g.seconds = atoi(v);
        else if (!strcmp(k, "--max-conns"))
            g.max_conns = atol(v);
        else {
            fprintf(stderr, "unknown option %s\n", k);
            return 2;
        }
    }
    if (!g.port || g.conns < 0 || g.conns > 20000 || g.udp_rate < 0 || g.udp_rate > 1000000 ||
        g.seconds < 1 || g.seconds > 600 || g.max_conns < 0) {
        fprintf(stderr, "usage: trackd-flood --port P [--target 127.0.0.1] [--source 127.0.0.2]"
                        " [--conns 0-20000] [--udp-rate 0-1000000] [--seconds 1-600]"
                        " [--max-conns N]\n");
        return 2;
    }
    if (!loopback4(g.target) || !loopback4(g.source) || uv_ip4_addr(g.target, g.port, &g.to) ||
        uv_ip4_addr(g.source, 0, &g.from)) {
        fprintf(stderr, "trackd-flood: --target and --source must be IPv4 loopback addresses\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    memset(garbage, 0, sizeof(garbage));
    for (size_t i = 0; i < sizeof(garbage); i++)
        garbage[i] = (char)(i % 2 ? 0xff : i);
    memcpy(oversized, "IWAP01", 6);
    memset(oversized + 6, '9', sizeof(oversized) - 6);

    g.loop = uv_default_loop();
    g.running = true;
    g.start_ns = uv_hrtime();
    uv_udp_init(g.loop, &g.udp);
    if (uv_udp_bind(&g.udp, (const struct sockaddr *)&g.from, 0)) {
        fprintf(stderr, "trackd-flood: cannot bind UDP to %s\n", g.source);
        return 1;
    }
    uv_timer_init(g.loop, &g.tick);
    if (g.udp_rate)
        uv_timer_start(&g.tick, on_tick, UDP_TICK_MS, UDP_TICK_MS);
    uv_timer_init(g.loop, &g.stop);
    uv_timer_start(&g.stop, on_stop, (uint64_t)g.seconds * 1000, 0);
    uv_signal_init(g.loop, &g.sigint);
    uv_signal_init(g.loop, &g.sigterm);
    uv_signal_start(&g.sigint, on_signal, SIGINT);
    uv_signal_start(&g.sigterm, on_signal, SIGTERM);
    for (int i = 0; i < g.conns; i++)
        start_conn();
    uv_run(g.loop, UV_RUN_DEFAULT);
    return 0;
}
