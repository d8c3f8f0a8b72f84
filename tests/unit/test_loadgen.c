/*
 * Tests of the load generator's parts that work without a network
 * (bench/lgproto.c, bench/lgutil.c).
 *
 * The main one: every frame a simulated device sends (its login steps and
 * its positions, over TCP and UDP, for several devices and frame numbers)
 * goes through the server's own stream assembler, detection and decoder,
 * exactly as the device port handles a connection or datagram. Each
 * position must decode to the one fix it was built from (device, time,
 * place, speed, course; valid, no alarm), and the server's answer to each
 * frame must read back, with the generator's reply reader, as the answer
 * the generator waits for (login step, or the acknowledgement carrying the
 * frame's key). Then the latency histogram and its percentiles, the
 * protocol mix, shards and the loopback checks.
 */
#include "support.h"

#include <arpa/inet.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "lgproto.h"
#include "lgutil.h"

/* 2025-06-01T00:00:00Z: frame times stay before the test clock. */
#define BASE_S 1748736000LL

/* ---- the server's side of one simulated device ----------------------------- */

/* One connection (or UDP peer) as the device port keeps it. */
typedef struct peer {
    bool udp;
    td_stream st;      /* TCP: the connection's stream */
    td_session udp_ss; /* UDP: the peer's session between datagrams */
} peer;

/* What the last frame fed gave. */
static struct {
    int frames, rc;
    size_t len;
    const td_protocol *proto;
    char err[TD_ERRMSG_MAX];
} last;
static td_decode_ctx ctx; /* large: static */

static void on_frame(void *arg, td_stream *s, const uint8_t *frame, size_t len)
{
    (void)arg;
    last.frames++;
    last.len = len;
    last.proto = s->proto;
    td_decode_ctx_reset(&ctx, &s->session, TD_TEST_NOW_MS);
    last.rc = s->proto->decode(&ctx, frame, len);
    snprintf(last.err, sizeof(last.err), "%s", ctx.err);
}

static void peer_open(peer *p, bool udp)
{
    memset(p, 0, sizeof(*p));
    p->udp = udp;
    if (!udp)
        td_stream_init(&p->st, TD_TCP, NULL);
}

static void peer_close(peer *p)
{
    if (!p->udp)
        td_stream_free(&p->st);
}

/* The session the frames of p are decoded in. */
static td_session *peer_session(peer *p)
{
    return p->udp ? &p->udp_ss : &p->st.session;
}

/*
 * Hands one frame to the server's side, like on_read/on_udp_recv do: TCP
 * through the connection's stream (no flush: the frame must end itself),
 * UDP as a whole datagram with detection of a datagram and the peer's
 * session. Fails unless it is exactly one frame of protocol `want` that
 * decodes.
 */
static void feed(peer *p, const td_protocol *want, const uint8_t *f, size_t n)
{
    char err[256];
    memset(&last, 0, sizeof(last));
    if (p->udp) {
        bool maybe;
        const td_protocol *got = td_detect_final(f, n, TD_UDP, &maybe);
        assert_non_null(got);
        assert_string_equal(got->name, want->name);
        td_stream st;
        td_stream_init(&st, TD_UDP, got);
        st.session = p->udp_ss;
        assert_int_equal(td_stream_feed(&st, f, n, on_frame, NULL, err, sizeof(err)), 0);
        assert_int_equal(td_stream_flush(&st, on_frame, NULL, err, sizeof(err)), 0);
        p->udp_ss = st.session;
        td_stream_free(&st);
    } else {
        assert_int_equal(td_stream_feed(&p->st, f, n, on_frame, NULL, err, sizeof(err)), 0);
    }
    if (last.frames != 1 || last.rc != 0)
        fail_msg("%s %s: %d frames, rc %d (%s) from %zu bytes '%.*s'", want->name,
                 p->udp ? "udp" : "tcp", last.frames, last.rc, last.err, n, (int)(n < 80 ? n : 80),
                 (const char *)f);
    assert_string_equal(last.proto->name, want->name);
    /* gotop's framer takes a frame's leading '#' for the end of the one
     * before. */
    if (!(last.len == n || (f[0] == '#' && last.len == n - 1)))
        fail_msg("%s: a frame of %zu bytes, %zu sent", want->name, last.len, n);
}

/* Reads the server's reply to the last frame with the generator's reader:
 * exactly one reply, using every byte. Over TCP, every shorter prefix must
 * ask for more. */
static lg_reply read_reply(lg_dev *d)
{
    lg_reply r;
    assert_true(ctx.reply_len > 0);
    if (!d->udp)
        for (size_t k = 1; k < ctx.reply_len; k++) {
            lg_dev copy = *d;
            if (d->proto->reply(&copy, ctx.reply, k, &r) != 0)
                fail_msg("%s: reply prefix of %zu of %zu bytes not left waiting", d->proto->name, k,
                         ctx.reply_len);
        }
    assert_int_equal(d->proto->reply(d, ctx.reply, ctx.reply_len, &r), (long)ctx.reply_len);
    return r;
}

/* ---- every protocol over both transports ----------------------------------------- */

static void check_position(const lg_dev *d, const lg_fix *f)
{
    assert_int_equal(ctx.nrec, 1);
    const td_record *r = &ctx.rec[0];
    assert_record_sane(r);
    assert_int_equal(r->type, TD_REC_POSITION);
    assert_string_equal(r->device_id, d->uid);
    assert_true(r->has_time);
    assert_int_equal(r->time_ms, f->time_ms);
    assert_true(r->valid);
    if (fabs(r->latitude - f->lat) > 1e-6 || fabs(r->longitude - f->lon) > 1e-6)
        fail_msg("%s: decoded %.7f, %.7f for %.7f, %.7f", d->proto->name, r->latitude, r->longitude,
                 f->lat, f->lon);
    assert_true(fabs(r->speed - f->speed) < 0.051);
    assert_true(fabs(r->course - f->course) < 0.001);
    assert_int_equal(r->alarms, 0); /* no event for any frame of a benchmark */
}

/* Runs device `index` of protocol `name` through login and positions. */
static void speaks(const char *name, bool udp, uint64_t index)
{
    static const uint64_t seqs[] = {0, 1, 2, 59, 86399, 100000, 4000000};
    const lg_proto *lp = lg_proto_find(name);
    const td_protocol *sp = td_protocol_find(name);
    uint8_t buf[LG_FRAME_MAX];
    lg_dev d;
    peer p;

    assert_non_null(lp);
    assert_non_null(sp);
    lg_dev_init(&d, lp, index, udp);
    peer_open(&p, udp);

    int steps = 0;
    size_t n;
    while ((n = lp->login(&d, steps, buf, sizeof(buf))) > 0) {
        assert_true(n <= LG_FRAME_MAX);
        feed(&p, sp, buf, n);
        assert_string_equal(peer_session(&p)->device_id, d.uid);
        lg_reply r = read_reply(&d);
        if (r.kind != LG_REPLY_LOGIN)
            fail_msg("%s: answer to login step %d read as %d", name, steps, r.kind);
        steps++;
    }
    d.logged_in = true;
    if (!strcmp(name, "jt808"))
        assert_string_equal(d.auth, d.uid); /* the code 0x8100 gave, sent back */

    for (size_t i = 0; i < TD_TEST_COUNT(seqs); i++) {
        lg_fix f = lg_fix_make(index, seqs[i], BASE_S);
        uint32_t key = 0;
        n = lp->position(&d, &f, buf, sizeof(buf), &key);
        assert_true(n > 0 && n <= LG_FRAME_MAX);
        feed(&p, sp, buf, n);
        check_position(&d, &f);
        if (!lp->acked) {
            assert_int_equal(ctx.reply_len, 0);
            continue;
        }
        lg_reply r = read_reply(&d);
        assert_int_equal(r.kind, LG_REPLY_ACK);
        assert_int_equal(r.keyed, lg_keyed(&d));
        if (r.keyed)
            assert_int_equal(r.key, key);
    }
    peer_close(&p);
}

static void speaks_everywhere(const char *name)
{
    static const uint64_t devices[] = {0, 7, 1234, 999999, 123456789};
    for (size_t i = 0; i < TD_TEST_COUNT(devices); i++) {
        speaks(name, false, devices[i]);
        speaks(name, true, devices[i]);
    }
}

static void test_iw(void **state)
{
    (void)state;
    speaks_everywhere("iw");
}

static void test_watch(void **state)
{
    (void)state;
    speaks_everywhere("watch");
}

static void test_gt06(void **state)
{
    (void)state;
    speaks_everywhere("gt06");
}

static void test_teltonika(void **state)
{
    (void)state;
    speaks_everywhere("teltonika");
}

static void test_jt808(void **state)
{
    (void)state;
    speaks_everywhere("jt808");
}

static void test_gotop(void **state)
{
    (void)state;
    speaks_everywhere("gotop");
}

/* Many frames of one device on one connection, as a run sends them: the
 * serials (16 bits) wrap and every answer still names its frame. */
static void test_serials_wrap(void **state)
{
    (void)state;
    static const char *const keyed[] = {"watch", "gt06", "jt808"};
    for (size_t k = 0; k < TD_TEST_COUNT(keyed); k++) {
        const lg_proto *lp = lg_proto_find(keyed[k]);
        const td_protocol *sp = td_protocol_find(keyed[k]);
        uint8_t buf[LG_FRAME_MAX];
        lg_dev d;
        peer p;
        lg_dev_init(&d, lp, 42, false);
        peer_open(&p, false);
        size_t n;
        for (int s = 0; (n = lp->login(&d, s, buf, sizeof(buf))) > 0; s++) {
            feed(&p, sp, buf, n);
            assert_int_equal(read_reply(&d).kind, LG_REPLY_LOGIN);
        }
        d.logged_in = true;
        d.serial = 65530;
        for (uint64_t seq = 0; seq < 12; seq++) {
            lg_fix f = lg_fix_make(42, seq, BASE_S);
            uint32_t key;
            n = lp->position(&d, &f, buf, sizeof(buf), &key);
            feed(&p, sp, buf, n);
            check_position(&d, &f);
            lg_reply r = read_reply(&d);
            assert_int_equal(r.kind, LG_REPLY_ACK);
            assert_int_equal(r.key, key);
        }
        assert_true(d.serial < 65530);
        peer_close(&p);
    }
}

/* Devices of one protocol have distinct ids; protocols do not share ids. */
static void test_unique_ids(void **state)
{
    (void)state;
    char seen[6 * 3][LG_UID_MAX];
    int n = 0;
    for (int i = 0; lg_protocols[i]; i++) {
        for (uint64_t index = 0; index < 3; index++) {
            lg_dev d;
            lg_dev_init(&d, lg_protocols[i], index * 1000, false);
            for (int k = 0; k < n; k++)
                assert_string_not_equal(seen[k], d.uid);
            snprintf(seen[n++], LG_UID_MAX, "%s", d.uid);
        }
    }
    assert_int_equal(n, 18);
    assert_null(lg_proto_find("h02"));
}

/* Frame k of a device has time base + k s, so every frame is found by its
 * device and time. */
static void test_fix_times(void **state)
{
    (void)state;
    for (uint64_t seq = 0; seq < 5000; seq++) {
        lg_fix f = lg_fix_make(77, seq, BASE_S);
        assert_int_equal(f.time_ms, (BASE_S + (int64_t)seq) * 1000);
        assert_true(f.speed >= 10 && f.speed < 90);
        assert_true(f.course >= 0 && f.course < 360);
        assert_true(f.lat > 22.4 && f.lat < 22.7 && f.lon > 113.9 && f.lon < 114.2);
    }
}

/* The reply readers drop what cannot start an answer and leave other
 * answers as "other". */
static void test_reply_noise(void **state)
{
    (void)state;
    lg_reply r;
    lg_dev d;
    lg_dev_init(&d, lg_proto_find("iw"), 1, false);
    assert_int_equal(d.proto->reply(&d, (const uint8_t *)"xIWBP01#", 8, &r), -1);
    assert_int_equal(d.proto->reply(&d, (const uint8_t *)"IWBP03#", 7, &r), 7);
    assert_int_equal(r.kind, LG_REPLY_OTHER);
    lg_dev_init(&d, lg_proto_find("gt06"), 1, false);
    static const uint8_t bad_crc[] = {0x78, 0x78, 0x05, 0x16, 0x00, 0x01, 0x00, 0x00, 0x0d, 0x0a};
    assert_int_equal(d.proto->reply(&d, bad_crc, sizeof(bad_crc), &r), -1);
    lg_dev_init(&d, lg_proto_find("teltonika"), 1, false);
    static const uint8_t refused[] = {0x00};
    assert_int_equal(d.proto->reply(&d, refused, 1, &r), 1);
    assert_int_equal(r.kind, LG_REPLY_REFUSED);
}

/* ---- histogram --------------------------------------------------------------------- */

static void test_hist_buckets(void **state)
{
    (void)state;
    for (uint64_t v = 0; v < LG_SUB; v++) {
        assert_int_equal(lg_hist_bucket(v), v);
        assert_int_equal(lg_hist_low((unsigned)v), v);
        assert_int_equal(lg_hist_high((unsigned)v), v);
    }
    uint64_t probes[200];
    int n = 0;
    for (int e = 7; e < 64; e++) {
        uint64_t p2 = (uint64_t)1 << e;
        probes[n++] = p2 - 1;
        probes[n++] = p2;
        probes[n++] = p2 + p2 / 3;
    }
    probes[n++] = UINT64_MAX;
    for (int i = 0; i < n; i++) {
        uint64_t v = probes[i];
        unsigned b = lg_hist_bucket(v);
        assert_true(b < LG_BUCKETS);
        assert_true(lg_hist_low(b) <= v && v <= lg_hist_high(b));
        if (b >= LG_SUB) /* relative width at most 1/128 */
            assert_true((double)(lg_hist_high(b) - lg_hist_low(b) + 1) <=
                        (double)lg_hist_low(b) / LG_SUB);
    }
    /* Neighbouring buckets touch: no value falls between them. */
    for (unsigned b = 0; b + 1 < LG_BUCKETS; b++)
        assert_int_equal(lg_hist_high(b) + 1, lg_hist_low(b + 1));
    assert_int_equal(lg_hist_bucket(UINT64_MAX), LG_BUCKETS - 1);
}

static lg_hist h, h2; /* large: static */

static void assert_close(uint64_t got, double want)
{
    if (fabs((double)got - want) > want / LG_SUB + 1)
        fail_msg("got %llu, want %.0f", (unsigned long long)got, want);
}

static void test_hist_quantiles(void **state)
{
    (void)state;
    lg_hist_init(&h);
    assert_int_equal(lg_hist_quantile(&h, 0.5), 0);
    lg_hist_add(&h, 123456789);
    assert_int_equal(lg_hist_quantile(&h, 0.5), 123456789); /* kept within min and max */
    assert_int_equal(lg_hist_quantile(&h, 0.999), 123456789);

    /* 1..100000 us in ns, shuffled order does not matter. */
    lg_hist_init(&h);
    for (uint64_t i = 100000; i >= 1; i--)
        lg_hist_add(&h, i * 1000);
    assert_int_equal(h.n, 100000);
    assert_int_equal(h.min, 1000);
    assert_int_equal(h.max, 100000000);
    assert_close(lg_hist_quantile(&h, 0.5), 50000000.0);
    assert_close(lg_hist_quantile(&h, 0.99), 99000000.0);
    assert_close(lg_hist_quantile(&h, 0.999), 99900000.0);
    assert_int_equal(lg_hist_quantile(&h, 1.0), 100000000);
    assert_int_equal(lg_hist_quantile(&h, 0.00001), 1000);
    assert_true(fabs(h.sum / (double)h.n - 50000500.0) < 1.0);

    /* A long tail: 990 fast, 9 slow, 1 very slow. */
    lg_hist_init(&h);
    for (int i = 0; i < 990; i++)
        lg_hist_add(&h, 2000000);
    for (int i = 0; i < 9; i++)
        lg_hist_add(&h, 50000000);
    lg_hist_add(&h, 900000000);
    assert_close(lg_hist_quantile(&h, 0.5), 2000000.0);
    assert_close(lg_hist_quantile(&h, 0.99), 2000000.0);
    assert_close(lg_hist_quantile(&h, 0.995), 50000000.0);
    assert_close(lg_hist_quantile(&h, 0.999), 50000000.0);
    assert_int_equal(lg_hist_quantile(&h, 0.9999), 900000000);

    /* Merging two halves gives the whole. */
    lg_hist_init(&h);
    lg_hist_init(&h2);
    for (uint64_t i = 1; i <= 1000; i++)
        lg_hist_add(i % 2 ? &h : &h2, i * 7919);
    lg_hist_merge(&h, &h2);
    assert_int_equal(h.n, 1000);
    assert_int_equal(h.min, 7919);
    assert_int_equal(h.max, 7919000);
    assert_close(lg_hist_quantile(&h, 0.5), 500 * 7919.0);
}

/* ---- mix, shards ------------------------------------------------------------------------ */

static void test_mix(void **state)
{
    (void)state;
    lg_mix m;
    char err[200];
    assert_int_equal(lg_mix_parse("iw:40,gt06:20,jt808:40", &m, err, sizeof(err)), 0);
    assert_int_equal(m.n, 3);
    assert_string_equal(m.name[1], "gt06");
    assert_int_equal(m.weight[2], 40);
    assert_int_equal(lg_mix_parse("watch", &m, err, sizeof(err)), 0);
    assert_int_equal(m.n, 1);
    assert_int_equal(m.weight[0], 1);

    static const char *const bad[] = {
        "", "iw:0", "iw:x", "iw:", ":3", "iw,iw", "iw:-1", "averyveryverylongname:1"};
    for (size_t i = 0; i < TD_TEST_COUNT(bad); i++)
        if (lg_mix_parse(bad[i], &m, err, sizeof(err)) == 0)
            fail_msg("mix '%s' accepted", bad[i]);

    static uint8_t spread[6000];
    assert_int_equal(lg_mix_parse("iw:40,gt06:20,jt808:40", &m, err, sizeof(err)), 0);
    lg_mix_spread(&m, 6000, spread);
    int count[3] = {0};
    for (int i = 0; i < 6000; i++)
        count[spread[i]]++;
    assert_int_equal(count[0], 2400);
    assert_int_equal(count[1], 1200);
    assert_int_equal(count[2], 2400);
    /* Any slice of 100 holds the mix to within a device or two. */
    for (int at = 0; at + 100 <= 6000; at += 37) {
        int c[3] = {0};
        for (int i = at; i < at + 100; i++)
            c[spread[i]]++;
        assert_true(abs(c[0] - 40) <= 2 && abs(c[1] - 20) <= 2 && abs(c[2] - 40) <= 2);
    }
}

static void test_shards(void **state)
{
    (void)state;
    unsigned i, n;
    assert_int_equal(lg_shard_parse("1/3", &i, &n), 0);
    assert_int_equal(i, 1);
    assert_int_equal(n, 3);
    static const char *const bad[] = {"3/3", "1", "/3", "1/", "a/b", "1/0", "-1/3", "1/3x"};
    for (size_t k = 0; k < TD_TEST_COUNT(bad); k++)
        assert_int_equal(lg_shard_parse(bad[k], &i, &n), -1);
    /* The shards of a run cover every device once. */
    static const size_t totals[] = {1, 10, 19999, 20000, 100001};
    for (size_t t = 0; t < TD_TEST_COUNT(totals); t++)
        for (unsigned shards = 1; shards <= 7; shards++) {
            size_t next = 0;
            for (unsigned s = 0; s < shards; s++) {
                size_t first, count;
                lg_shard_slice(totals[t], s, shards, &first, &count);
                assert_int_equal(first, next);
                assert_true(count <= totals[t] / shards + 1);
                next = first + count;
            }
            assert_int_equal(next, totals[t]);
        }
}

/* ---- loopback ------------------------------------------------------------------------------ */

static bool loopback(const char *host)
{
    struct sockaddr_storage ss;
    return lg_parse_addr(host, 8888, &ss) == 0 && lg_is_loopback((struct sockaddr *)&ss);
}

static void test_loopback(void **state)
{
    (void)state;
    static const char *const yes[] = {"127.0.0.1", "127.255.255.254", "127.1.2.3", "::1",
                                      "localhost"};
    static const char *const no[] = {"10.0.0.1",         "0.0.0.0",   "::",          "128.0.0.1",
                                     "::ffff:127.0.0.1", "192.0.2.1", "2001:db8::1", "example.com",
                                     "127.0.0.1.evil",   ""};
    for (size_t i = 0; i < TD_TEST_COUNT(yes); i++)
        if (!loopback(yes[i]))
            fail_msg("%s refused", yes[i]);
    for (size_t i = 0; i < TD_TEST_COUNT(no); i++)
        if (loopback(no[i]))
            fail_msg("%s allowed", no[i]);
    struct sockaddr_storage ss;
    assert_int_equal(lg_parse_addr("127.0.0.1", 5023, &ss), 0);
    assert_int_equal(ntohs(((struct sockaddr_in *)&ss)->sin_port), 5023);
}

static void test_sources(void **state)
{
    (void)state;
    static struct sockaddr_storage out[300];
    char err[200], text[64];
    int n = lg_parse_sources("127.0.0.1-127.0.0.50", out, 300, err, sizeof(err));
    assert_int_equal(n, 50);
    inet_ntop(AF_INET, &((struct sockaddr_in *)&out[49])->sin_addr, text, sizeof(text));
    assert_string_equal(text, "127.0.0.50");
    assert_int_equal(((struct sockaddr_in *)&out[0])->sin_port, 0);
    n = lg_parse_sources("127.0.0.2,127.0.1.250-127.0.2.4,127.0.0.9", out, 300, err, sizeof(err));
    assert_int_equal(n, 1 + 11 + 1);
    inet_ntop(AF_INET, &((struct sockaddr_in *)&out[7])->sin_addr, text, sizeof(text));
    assert_string_equal(text, "127.0.2.0");
    assert_int_equal(lg_parse_sources("::1", out, 300, err, sizeof(err)), 1);

    static const char *const bad[] = {"",
                                      "10.0.0.1",
                                      "127.0.0.5-127.0.0.1",
                                      "127.0.0.1-10.0.0.1",
                                      "127.0.0.1-::1",
                                      "127.0.0.1,,127.0.0.2",
                                      "127.0.0.1-127.0.2.0",
                                      "host"};
    for (size_t i = 0; i < TD_TEST_COUNT(bad); i++)
        if (lg_parse_sources(bad[i], out, 300, err, sizeof(err)) >= 0)
            fail_msg("sources '%s' accepted", bad[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_iw),           cmocka_unit_test(test_watch),
        cmocka_unit_test(test_gt06),         cmocka_unit_test(test_teltonika),
        cmocka_unit_test(test_jt808),        cmocka_unit_test(test_gotop),
        cmocka_unit_test(test_serials_wrap), cmocka_unit_test(test_unique_ids),
        cmocka_unit_test(test_fix_times),    cmocka_unit_test(test_reply_noise),
        cmocka_unit_test(test_hist_buckets), cmocka_unit_test(test_hist_quantiles),
        cmocka_unit_test(test_mix),          cmocka_unit_test(test_shards),
        cmocka_unit_test(test_loopback),     cmocka_unit_test(test_sources),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
