/*
 * The per-input logic of the fuzz targets; see harness.h. Everything runs
 * through the functions the server (src/core/server.c) and `trackd decode`
 * (src/core/decode_cli.c) call: nothing here frames or decodes by itself.
 * Contract violations are printed with their place and make the run return
 * -1; the libFuzzer target turns that into a crash, the unit test into a
 * failure.
 */
#include "harness.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/amr.h"
#include "core/record_json.h"
#include "core/stream.h"
#include "core/voice.h"
#include "protocols/registry.h"

/* The server's scratch for unescaped voice bytes is this big. */
#define MEDIA_CAP_SERVER (70 * 1024)

typedef struct fuzz_run {
    td_fuzz_stats *stats;
    const char *phase; /* "tcp", "udp", "detect-tcp", "detect-udp" */
    int tz_minutes;
    uint8_t *media_buf; /* NULL, as in `trackd decode`, or one of the buffers below */
    size_t media_cap;
    td_voice_asm *voice; /* reassembly of the session's voice messages */
    bool udp;
    int failed;
} fuzz_run;

/* One decode context, as the server has one: large, so static. */
static td_decode_ctx ctx;
/* Voice scratch: the server's size, and one too small for most voice data
 * (globals have redzones, so an overrun is caught like a heap one). */
static uint8_t media_server[MEDIA_CAP_SERVER];
static uint8_t media_tiny[16];

#define CHECK(run, cond)                                                                           \
    do {                                                                                           \
        if (!(cond))                                                                               \
            violation(run, __LINE__, #cond);                                                       \
    } while (0)

static void violation(fuzz_run *run, int line, const char *what)
{
    fprintf(stderr, "fuzz harness: %s:%d: contract violated (%s): %s\n", __FILE__, line, run->phase,
            what);
    run->failed = 1;
}

/* ---- input-derived choices ------------------------------------------------ */

static uint64_t fnv1a(const uint8_t *data, size_t len)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < len; i++) {
        h ^= data[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

static uint64_t splitmix(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* The size of the next read: one byte, a few, up to 512, or all the rest,
 * so framers see frames cut anywhere and several frames in one read. */
static size_t next_chunk(uint64_t *s, size_t left)
{
    uint64_t r = splitmix(s);
    size_t n;
    switch (r & 3) {
    case 0:
        n = 1;
        break;
    case 1:
        n = 1 + (size_t)((r >> 8) % 16);
        break;
    case 2:
        n = 1 + (size_t)((r >> 8) % 512);
        break;
    default:
        n = left;
        break;
    }
    return n < left ? n : left;
}

/* Reply time zone and voice scratch: the server's (70 KiB, --reply-timezone
 * values) or `trackd decode`'s (none, UTC), or a tiny buffer that decoders
 * must not overrun. */
static void run_open(fuzz_run *run, td_fuzz_stats *stats, uint64_t *seed)
{
    static const int zones[] = {0, 0, 480, -300, 840, -720};
    uint64_t r = splitmix(seed);

    memset(run, 0, sizeof(*run));
    if (stats)
        memset(stats, 0, sizeof(*stats));
    run->stats = stats;
    run->tz_minutes = zones[(r >> 4) % (sizeof(zones) / sizeof(zones[0]))];
    switch (r & 3) {
    case 0:
        break;
    case 1:
        run->media_buf = media_tiny;
        run->media_cap = sizeof(media_tiny);
        break;
    default:
        run->media_buf = media_server;
        run->media_cap = sizeof(media_server);
        break;
    }
}

static void run_close(fuzz_run *run)
{
    td_voice_asm_free(run->voice);
    run->voice = NULL;
}

/* ---- checks --------------------------------------------------------------- */

static bool terminated(const char *s, size_t cap)
{
    return memchr(s, '\0', cap) != NULL;
}

/* A session's device id: NUL-terminated, [0-9A-Za-z_-] only. */
static bool good_id(const char *id)
{
    if (!terminated(id, TD_DEVICE_ID_MAX))
        return false;
    for (const char *c = id; *c; c++)
        if (!((*c >= '0' && *c <= '9') || (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
              *c == '_' || *c == '-'))
            return false;
    return true;
}

static bool within(const uint8_t *p, size_t n, const uint8_t *base, size_t cap)
{
    uintptr_t a = (uintptr_t)p, b = (uintptr_t)base;
    return base && a >= b && a - b <= cap && n <= cap - (a - b);
}

/* A record's bounds, its JSON form as `trackd decode` prints it, and its
 * attribute text as the store keeps it (a record whose text cannot be
 * written would never be acknowledged). */
static void check_record(fuzz_run *run, const td_protocol *p, const td_record *r)
{
    CHECK(run, r->type >= TD_REC_POSITION && r->type <= TD_REC_OTHER);
    CHECK(run, terminated(r->device_id, sizeof(r->device_id)));
    CHECK(run, r->ncells >= 0 && r->ncells <= TD_MAX_CELLS);
    CHECK(run, r->nwifi >= 0 && r->nwifi <= TD_MAX_WIFI);
    CHECK(run, r->nble >= 0 && r->nble <= TD_MAX_BLE);
    CHECK(run, r->nraw >= 0 && r->nraw <= TD_MAX_RAW);
    CHECK(run, r->arena_used <= TD_RAW_ARENA);
    if (run->failed)
        return;
    for (int i = 0; i < r->nraw; i++) {
        const td_raw *raw = &r->raw[i];
        CHECK(run, raw->key < r->arena_used &&
                       terminated(r->arena + raw->key, r->arena_used - raw->key));
        if (raw->type == TD_T_STRING)
            CHECK(run, raw->str < r->arena_used &&
                           terminated(r->arena + raw->str, r->arena_used - raw->str));
    }
    if (run->failed)
        return;

    /* As `trackd decode` prints it. */
    json_t *o = td_record_json(r, p->name);
    json_t *attrs = o ? json_object_get(o, "attributes") : NULL;
    CHECK(run, json_is_object(attrs));
    char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
    CHECK(run, text != NULL);
    free(text);

    /* The store writes the attribute text directly: byte for byte what
     * jansson makes of the same attributes (record_json.h). */
    char *direct = td_record_attributes_text(r);
    char *ref = attrs ? json_dumps(attrs, JSON_COMPACT) : NULL;
    CHECK(run, direct != NULL && ref != NULL);
    if (direct && ref && strcmp(direct, ref) != 0) {
        fprintf(stderr, "fuzz harness: attribute text\n  direct:  %.400s\n  jansson: %.400s\n",
                direct, ref);
        CHECK(run, strcmp(direct, ref) == 0);
    }
    free(direct);
    free(ref);
    json_decref(o);
}

/* After one decode() call: its result against the contract. */
static void check_decode(fuzz_run *run, const td_protocol *p, int rc, const uint8_t *frame,
                         size_t len)
{
    CHECK(run, rc <= 0);
    CHECK(run, ctx.nrec >= 0 && ctx.nrec <= TD_MAX_RECORDS);
    CHECK(run, ctx.reply_len <= TD_REPLY_MAX);
    CHECK(run, terminated(ctx.err, sizeof(ctx.err)));
    CHECK(run, terminated(ctx.ack, sizeof(ctx.ack)));
    CHECK(run, terminated(ctx.ack_result, sizeof(ctx.ack_result)));
    CHECK(run, good_id(ctx.session->device_id));
    if (run->failed)
        return;
    if (rc < 0) {
        /* "a negative TD_E* code with a message in ctx->err that starts
         * with the protocol name" */
        CHECK(run, strncmp(ctx.err, p->name, strlen(p->name)) == 0);
        CHECK(run, strcmp(td_strerror(rc), "unknown error") != 0);
        return;
    }
    if (ctx.media.present && ctx.media.len > 0)
        CHECK(run, within(ctx.media.data, ctx.media.len, frame, len) ||
                       within(ctx.media.data, ctx.media.len, run->media_buf, run->media_cap));
    for (int i = 0; i < ctx.nrec && !run->failed; i++)
        check_record(run, p, &ctx.rec[i]);
}

/* As the server does with a frame's voice message or chunk: reassembly,
 * then the AMR check of a whole message. */
static void take_voice(fuzz_run *run)
{
    uint8_t *msg = NULL;
    size_t len = 0;
    char err[256];
    int rc = td_voice_add(&run->voice, &ctx.media, TD_FUZZ_NOW_MS, &msg, &len, err, sizeof(err));
    if (rc == 1) {
        td_amr_info info;
        char amr_err[160];
        CHECK(run, msg != NULL && len > 0);
        if (msg && td_amr_info_get(msg, len, &info, amr_err, sizeof(amr_err)) == 0)
            CHECK(run, info.frames > 0 && info.frames <= TD_AMR_MAX_FRAMES);
        if (run->stats)
            run->stats->voice++;
    }
    free(msg);
}

/* ---- frames and streams --------------------------------------------------- */

static void on_frame(void *arg, td_stream *s, const uint8_t *frame, size_t len)
{
    fuzz_run *run = arg;
    const td_protocol *p = s->proto;

    CHECK(run, p != NULL && len > 0 && len <= p->max_frame);
    if (run->failed)
        return;
    td_decode_ctx_reset(&ctx, &s->session, TD_FUZZ_NOW_MS);
    ctx.tz_minutes = run->tz_minutes;
    ctx.media_buf = run->media_buf;
    ctx.media_cap = run->media_cap;
    int rc = p->decode(&ctx, frame, len);
    check_decode(run, p, rc, frame, len);
    if (run->stats) {
        run->stats->frames++;
        if (run->udp)
            run->stats->udp_frames++;
        if (rc < 0)
            run->stats->decode_errors++;
        else
            run->stats->records += (unsigned long)ctx.nrec;
    }
    if (!run->failed && rc == 0 && ctx.nrec > 0 && ctx.media.present)
        take_voice(run);
}

/* td_stream_feed()/td_stream_flush() fail only as stream.h says; a framer
 * returns no other error than TD_ETOOBIG or TD_EUNFRAMEABLE. */
static void stream_error(fuzz_run *run, int rc, const char *err)
{
    CHECK(run, err[0] != '\0');
    CHECK(run,
          rc == TD_EUNSUPPORTED || rc == TD_ETOOBIG || rc == TD_EUNFRAMEABLE || rc == TD_ENOMEM);
    if (run->stats)
        run->stats->stream_errors++;
}

/*
 * A TCP connection: 'forced' NULL detects like the server and stops at the
 * first stream error (the server closes the connection); a forced stream
 * goes on after an error with a fresh stream and the same session, as
 * `trackd decode` does.
 */
static void tcp_pass(fuzz_run *run, const td_protocol *forced, unsigned transport,
                     const uint8_t *data, size_t len, uint64_t *seed)
{
    td_stream st;
    char err[256];
    size_t off = 0;
    int rc = 0;

    td_stream_init(&st, transport, forced);
    while (off < len && !run->failed) {
        size_t n = next_chunk(seed, len - off);
        /* Each read in a buffer of its own size, so a framer that looks
         * past the bytes it was given is caught. */
        uint8_t *bytes = malloc(n);
        if (!bytes)
            break;
        memcpy(bytes, data + off, n);
        err[0] = '\0';
        rc = td_stream_feed(&st, bytes, n, on_frame, run, err, sizeof(err));
        free(bytes);
        off += n;
        if (rc == 0)
            continue;
        stream_error(run, rc, err);
        if (!forced)
            break;
        td_session keep = st.session;
        td_stream_free(&st);
        td_stream_init(&st, transport, forced);
        st.session = keep;
        rc = 0;
    }
    if (rc == 0 && !run->failed) {
        err[0] = '\0';
        rc = td_stream_flush(&st, on_frame, run, err, sizeof(err));
        if (rc)
            stream_error(run, rc, err);
    }
    if (!forced && run->stats)
        run->stats->detected = st.proto;
    td_stream_free(&st);
}

/* One datagram from a new peer, as the server's on_udp_recv() takes it
 * once its protocol is known: a forced UDP stream, fed and flushed. */
static void udp_pass(fuzz_run *run, const td_protocol *p, const uint8_t *data, size_t len)
{
    td_stream st;
    char err[256] = "";

    run->udp = true;
    td_voice_asm_free(run->voice);
    run->voice = NULL;
    td_stream_init(&st, TD_UDP, p);
    int rc = td_stream_feed(&st, data, len, on_frame, run, err, sizeof(err));
    if (rc == 0 && !run->failed)
        rc = td_stream_flush(&st, on_frame, run, err, sizeof(err));
    if (rc)
        stream_error(run, rc, err);
    td_stream_free(&st);
    run->udp = false;
}

/* ---- detection ------------------------------------------------------------ */

static void check_detection(fuzz_run *run, const uint8_t *data, size_t len, unsigned transport)
{
    const td_protocol *yes = NULL;
    size_t nyes = 0;
    bool any_maybe = false, maybe;

    for (size_t i = 0; i < td_protocol_count; i++) {
        const td_protocol *p = td_protocols[i];
        if (!(p->transports & transport))
            continue;
        int d = p->detect(data, len);
        CHECK(run, d == TD_DETECT_YES || d == TD_DETECT_NO || d == TD_DETECT_MAYBE);
        if (d == TD_DETECT_YES && nyes++ == 0)
            yes = p;
        if (d == TD_DETECT_YES && nyes > 1)
            fprintf(stderr, "fuzz harness: %s and %s both claim the input\n", yes->name, p->name);
        any_maybe |= d == TD_DETECT_MAYBE;
    }
    /* "Must be unambiguous against every other protocol" */
    CHECK(run, nyes <= 1);

    const td_protocol *got = td_detect(data, len, transport, &maybe);
    CHECK(run, got == yes);
    CHECK(run, maybe == (!yes && any_maybe));
    const td_protocol *final = td_detect_final(data, len, transport, &maybe);
    CHECK(run, !yes || final == yes);
    CHECK(run, !final || (final->transports & transport));
}

int td_fuzz_detect(const uint8_t *data, size_t len, td_fuzz_stats *stats)
{
    fuzz_run run;
    uint64_t seed = fnv1a(data, len);
    bool maybe;

    run_open(&run, stats, &seed);
    run.phase = "detect";
    check_detection(&run, data, len, TD_TCP);
    check_detection(&run, data, len, TD_UDP);
    if (!run.failed) {
        run.phase = "detect-tcp";
        tcp_pass(&run, NULL, TD_TCP, data, len, &seed);
    }
    td_voice_asm_free(run.voice);
    run.voice = NULL;
    const td_protocol *p = td_detect_final(data, len, TD_UDP, &maybe);
    if (p && len > 0 && !run.failed) {
        run.phase = "detect-udp";
        udp_pass(&run, p, data, len);
    }
    run_close(&run);
    return run.failed ? -1 : 0;
}

int td_fuzz_protocol(const td_protocol *p, const uint8_t *data, size_t len, td_fuzz_stats *stats)
{
    fuzz_run run;
    uint64_t seed = fnv1a(data, len);

    run_open(&run, stats, &seed);
    run.phase = "stream";
    tcp_pass(&run, p, (p->transports & TD_TCP) ? TD_TCP : TD_UDP, data, len, &seed);
    if ((p->transports & TD_UDP) && len > 0 && !run.failed) {
        run.phase = "udp";
        udp_pass(&run, p, data, len);
    }
    run_close(&run);
    return run.failed ? -1 : 0;
}

int td_fuzz_run(const char *target, const uint8_t *data, size_t len, td_fuzz_stats *stats)
{
    if (strcmp(target, "detect") == 0)
        return td_fuzz_detect(data, len, stats);
    const td_protocol *p = td_protocol_find(target);
    if (!p)
        return -2;
    return td_fuzz_protocol(p, data, len, stats);
}
