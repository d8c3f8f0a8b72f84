/*
 * trackd-loadgen: a loopback load generator for the device port.
 *
 * Opens N TCP connections, each a simulated device of one protocol, sends
 * M data frames per device with at most W frames awaiting acknowledgement,
 * and reports acknowledged frames per second and acknowledgement latency.
 * Because trackd acknowledges a data frame only after its record is
 * committed, acknowledged frames/s is the durable ingest rate.
 *
 * usage: trackd-loadgen [--host 127.0.0.1] --port P [--protocol iw|watch]
 *                       [--devices N] [--frames M] [--window W]
 *                       [--timeout SECONDS]
 * Targets loopback only: any --host outside 127.0.0.0/8 and ::1 is refused.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uv.h>

typedef struct dev {
    uv_tcp_t tcp;
    uv_connect_t connect;
    int index;
    int sent, acked;
    bool logged_in;
    uint64_t *sent_at; /* per frame, ns */
} dev;

static struct {
    const char *host, *protocol;
    int port, devices, frames, window, timeout;
    char terminator;
    int done, failed;
    uint64_t start_ns, end_ns;
    uint64_t *latencies;
    size_t nlat;
    uv_loop_t *loop;
    uv_timer_t timer;
    dev *devs;
} g = {"127.0.0.1", "iw", 0, 100, 100, 10, 120, '#', 0, 0, 0, 0, NULL, 0, NULL, {0}, NULL};

static uint64_t now_ns(void)
{
    return uv_hrtime();
}

static void on_written(uv_write_t *req, int status)
{
    (void)status;
    free(req);
}

static void send_text(dev *d, const char *text)
{
    size_t len = strlen(text);
    uv_write_t *req = malloc(sizeof(*req) + len);
    memcpy(req + 1, text, len);
    uv_buf_t buf = uv_buf_init((char *)(req + 1), (unsigned)len);
    if (uv_write(req, (uv_stream_t *)&d->tcp, &buf, 1, on_written) < 0)
        free(req);
}

/* The k-th data frame of device d: a position that moves a little. */
static void frame_text(const dev *d, int k, char *out, size_t cap)
{
    double lat = 22.5 + (d->index % 100) * 0.001 + k * 0.00001;
    double lon = 114.0 + (d->index / 100) * 0.001 + k * 0.00001;
    int sec = k % 60, min = (k / 60) % 60, hour = (k / 3600) % 24;
    if (strcmp(g.protocol, "iw") == 0) {
        int latd = (int)lat, lond = (int)lon;
        snprintf(out, cap,
                 "IWAP01240321A%02d%07.4fN%03d%07.4fE010.5%02d%02d%02d090.0006000908000102,460,0,"
                 "9520,3671#",
                 latd, (lat - latd) * 60, lond, (lon - lond) * 60, hour, min, sec);
    } else {
        char content[200];
        snprintf(content, sizeof(content),
                 "AL,210324,%02d%02d%02d,A,%.6f,N,%.6f,E,10.5,90,100,7,60,88,0,0,00000000,1,1,"
                 "460,0,9360,4082,131",
                 hour, min, sec, lat, lon);
        snprintf(out, cap, "[SG*%010lld*%04zX*%s]", 4000000000LL + d->index, strlen(content),
                 content);
    }
}

static void pump(dev *d)
{
    char text[256];
    while (d->sent < g.frames && d->sent - d->acked < g.window) {
        frame_text(d, d->sent, text, sizeof(text));
        d->sent_at[d->sent] = now_ns();
        d->sent++;
        send_text(d, text);
    }
}

static void finish_device(dev *d, bool ok)
{
    if (!ok)
        g.failed++;
    if (++g.done == g.devices) {
        g.end_ns = now_ns();
        uv_stop(g.loop);
    }
    uv_read_stop((uv_stream_t *)&d->tcp);
}

static void alloc_cb(uv_handle_t *h, size_t s, uv_buf_t *buf)
{
    (void)h;
    (void)s;
    static char slab[65536];
    *buf = uv_buf_init(slab, sizeof(slab));
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    dev *d = s->data;
    if (n < 0) {
        fprintf(stderr, "device %d: %s after %d acks\n", d->index, uv_strerror((int)n), d->acked);
        finish_device(d, false);
        return;
    }
    for (ssize_t i = 0; i < n; i++) {
        if (buf->base[i] != g.terminator)
            continue;
        if (!d->logged_in) {
            d->logged_in = true; /* the login reply */
            continue;
        }
        if (d->acked < d->sent)
            g.latencies[g.nlat++] = now_ns() - d->sent_at[d->acked];
        if (++d->acked == g.frames) {
            finish_device(d, true);
            return;
        }
    }
    pump(d);
}

static void on_connect(uv_connect_t *req, int status)
{
    dev *d = req->data;
    char login[64];
    if (status < 0) {
        fprintf(stderr, "device %d: connect: %s\n", d->index, uv_strerror(status));
        finish_device(d, false);
        return;
    }
    uv_read_start((uv_stream_t *)&d->tcp, alloc_cb, on_read);
    if (strcmp(g.protocol, "iw") == 0) {
        snprintf(login, sizeof(login), "IWAP00%015d#", 864000000 + d->index);
        send_text(d, login);
    } else {
        snprintf(login, sizeof(login), "[SG*%010lld*0002*LK]", 4000000000LL + d->index);
        send_text(d, login);
    }
    pump(d);
}

static void on_timeout(uv_timer_t *t)
{
    (void)t;
    fprintf(stderr, "timeout: %d of %d devices finished\n", g.done, g.devices);
    g.end_ns = now_ns();
    g.failed += g.devices - g.done;
    uv_stop(g.loop);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static bool loopback(const char *host)
{
    return strncmp(host, "127.", 4) == 0 || strcmp(host, "::1") == 0 ||
           strcmp(host, "localhost") == 0;
}

int main(int argc, char **argv)
{
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *k = argv[i], *v = argv[i + 1];
        if (!strcmp(k, "--host"))
            g.host = v;
        else if (!strcmp(k, "--port"))
            g.port = atoi(v);
        else if (!strcmp(k, "--protocol"))
            g.protocol = v;
        else if (!strcmp(k, "--devices"))
            g.devices = atoi(v);
        else if (!strcmp(k, "--frames"))
            g.frames = atoi(v);
        else if (!strcmp(k, "--window"))
            g.window = atoi(v);
        else if (!strcmp(k, "--timeout"))
            g.timeout = atoi(v);
        else {
            fprintf(stderr, "unknown option %s\n", k);
            return 2;
        }
    }
    if (!g.port || g.devices < 1 || g.frames < 1 || g.window < 1 || g.devices > 20000 ||
        (strcmp(g.protocol, "iw") && strcmp(g.protocol, "watch"))) {
        fprintf(stderr, "usage: trackd-loadgen --port P [--protocol iw|watch] [--devices N]"
                        " [--frames M] [--window W] [--timeout S] [--host 127.0.0.1]\n");
        return 2;
    }
    if (!loopback(g.host)) {
        fprintf(stderr, "trackd-loadgen: only loopback targets are allowed\n");
        return 2;
    }
    g.terminator = strcmp(g.protocol, "iw") == 0 ? '#' : ']';
    g.loop = uv_default_loop();
    g.devs = calloc((size_t)g.devices, sizeof(dev));
    g.latencies = calloc((size_t)g.devices * (size_t)g.frames, sizeof(uint64_t));

    struct sockaddr_storage addr;
    if (uv_ip4_addr(g.host, g.port, (struct sockaddr_in *)&addr) &&
        uv_ip6_addr(g.host, g.port, (struct sockaddr_in6 *)&addr)) {
        fprintf(stderr, "bad host %s\n", g.host);
        return 2;
    }
    g.start_ns = now_ns();
    for (int i = 0; i < g.devices; i++) {
        dev *d = &g.devs[i];
        d->index = i;
        d->sent_at = calloc((size_t)g.frames, sizeof(uint64_t));
        uv_tcp_init(g.loop, &d->tcp);
        d->tcp.data = d;
        d->connect.data = d;
        uv_tcp_connect(&d->connect, &d->tcp, (struct sockaddr *)&addr, on_connect);
    }
    uv_timer_init(g.loop, &g.timer);
    uv_timer_start(&g.timer, on_timeout, (uint64_t)g.timeout * 1000, 0);
    uv_run(g.loop, UV_RUN_DEFAULT);

    double secs = (double)(g.end_ns - g.start_ns) / 1e9;
    long acked = 0;
    for (int i = 0; i < g.devices; i++)
        acked += g.devs[i].acked;
    qsort(g.latencies, g.nlat, sizeof(uint64_t), cmp_u64);
    double p50 = g.nlat ? (double)g.latencies[g.nlat / 2] / 1e6 : 0;
    double p99 = g.nlat ? (double)g.latencies[g.nlat * 99 / 100] / 1e6 : 0;
    printf("protocol=%s devices=%d frames_per_device=%d window=%d acked=%ld seconds=%.2f "
           "frames_per_s=%.0f ack_p50_ms=%.2f ack_p99_ms=%.2f failed_devices=%d\n",
           g.protocol, g.devices, g.frames, g.window, acked, secs, acked / secs, p50, p99,
           g.failed);
    return g.failed ? 1 : 0;
}
