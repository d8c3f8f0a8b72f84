/*
 * trackd-bench-decode: decoding speed per protocol, on one core, no I/O.
 *
 * For every registered protocol (TD_PROTOCOL_LIST), takes its frames from
 * the test vectors (the .jsonl files in tests/vectors) and runs them in a loop through
 * the path a TCP connection takes in the server: the stream assembler
 * (td_stream_feed, forced to the protocol as detection would leave it) cuts
 * the frame, and the protocol decodes it with the connection's session into
 * the decode context, as handle_frame() does. A vector whose terminator was
 * cut off is handed out by td_stream_flush(), as for a datagram. Frames that
 * do not decode are left out (and counted). Each protocol runs for a fixed
 * CPU time of its thread after a short warm-up; it prints frames/s, ns/frame
 * and records/s per CPU second, with a row for text and one for binary
 * frames where a protocol has both.
 *
 * usage: trackd-bench-decode [--seconds S] [--protocol NAME] [--dump] [FILE.jsonl...]
 *   --seconds S      time per protocol and kind (default 1)
 *   --protocol NAME  only this protocol
 *   --dump           no timing: print what every frame decodes to (each in a
 *                    fresh session, at a fixed server time, doubles to 17
 *                    digits), to compare two builds' results byte for byte
 *   FILE             vector files (default: the source tree's tests/vectors)
 */
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/record_json.h"
#include "core/stream.h"
#include "core/text.h"
#include "protocols/registry.h"

#define TEXT_TARGET 1000000.0 /* frames/s per core the text protocols must reach */

/* The text protocols held to TEXT_TARGET (their text frames). */
static const char *const text_protocols[] = {"gotop", "iw",       "watch",    "h02",     "gps103",
                                             "tk103", "queclink", "meitrack", "suntech", "osmand"};

static bool has_target(const td_protocol *p, const char *kind)
{
    if (strcmp(kind, "text") != 0)
        return false;
    for (size_t i = 0; i < sizeof(text_protocols) / sizeof(text_protocols[0]); i++)
        if (strcmp(p->name, text_protocols[i]) == 0)
            return true;
    return false;
}

typedef struct frame {
    uint8_t *data;
    size_t len;
    bool text; /* printable ASCII, tab, CR and LF only */
} frame;

typedef struct frame_list {
    frame *v;
    size_t n, cap;
} frame_list;

/* The frames of each protocol, indexed like td_protocols[]. */
static frame_list *frames;
static td_decode_ctx ctx; /* large: keep it off the stack */

typedef struct run {
    const td_protocol *p;
    int64_t now_ms;
    uint64_t frames, records, errors;
} run;

/* The thread's CPU time: a busy machine makes a run take longer, but
 * does not change the rates it reports. */
static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static bool is_text(const uint8_t *d, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((d[i] < 0x20 && d[i] != '\t' && d[i] != '\r' && d[i] != '\n') || d[i] >= 0x7f)
            return false;
    return true;
}

static size_t proto_index(const td_protocol *p)
{
    for (size_t i = 0; i < td_protocol_count; i++)
        if (td_protocols[i] == p)
            return i;
    return td_protocol_count;
}

static int add_frame(frame_list *l, const uint8_t *data, size_t len)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        frame *v = realloc(l->v, cap * sizeof(*v));
        if (!v)
            return -1;
        l->v = v;
        l->cap = cap;
    }
    uint8_t *copy = malloc(len ? len : 1);
    if (!copy)
        return -1;
    memcpy(copy, data, len);
    l->v[l->n++] = (frame){copy, len, is_text(data, len)};
    return 0;
}

/* Reads one JSONL vector file into frames[]. */
static int load(const char *path)
{
    FILE *f = fopen(path, "r");
    char *line = NULL;
    size_t cap = 0;
    uint8_t *bin = NULL;
    int lineno = 0, rc = 0;

    if (!f) {
        fprintf(stderr, "trackd-bench-decode: cannot open %s\n", path);
        return -1;
    }
    while (rc == 0 && getline(&line, &cap, f) > 0) {
        json_error_t jerr;
        json_t *o = json_loads(line, 0, &jerr);
        lineno++;
        if (!o) {
            fprintf(stderr, "%s:%d: %s\n", path, lineno, jerr.text);
            rc = -1;
            break;
        }
        const char *name = json_string_value(json_object_get(o, "protocol"));
        const char *kind = json_string_value(json_object_get(o, "kind"));
        const char *text = json_string_value(json_object_get(o, "frame"));
        const td_protocol *p = name ? td_protocol_find(name) : NULL;
        if (p && kind && text) {
            size_t len = strlen(text);
            if (strcmp(kind, "hex") == 0) {
                uint8_t *b = realloc(bin, len / 2 + 1);
                long n = b ? td_hex_decode(text, len, b, len / 2 + 1) : -1;
                bin = b ? b : bin;
                rc = n < 0 ? -1 : add_frame(&frames[proto_index(p)], bin, (size_t)n);
            } else {
                rc = add_frame(&frames[proto_index(p)], (const uint8_t *)text, len);
            }
        }
        json_decref(o);
    }
    free(line);
    free(bin);
    fclose(f);
    return rc;
}

/* handle_frame() without the store: reset the context, decode. */
static void on_frame(void *arg, td_stream *s, const uint8_t *data, size_t len)
{
    run *r = arg;
    td_decode_ctx_reset(&ctx, &s->session, r->now_ms);
    r->frames++;
    if (r->p->decode(&ctx, data, len) < 0)
        r->errors++;
    else
        r->records += (uint64_t)ctx.nrec;
}

/* One frame through the stream as a read of its own. Returns 0, or -1 when
 * the stream had to be discarded (it is reset). */
static int feed(td_stream *st, run *r, const frame *f)
{
    char err[256];
    int rc = td_stream_feed(st, f->data, f->len, on_frame, r, err, sizeof(err));
    if (rc == 0 && st->len)
        rc = td_stream_flush(st, on_frame, r, err, sizeof(err));
    if (rc < 0) {
        td_session keep = st->session;
        td_stream_free(st);
        td_stream_init(st, TD_TCP, r->p);
        st->session = keep;
        return -1;
    }
    return 0;
}

/* Keeps the frames of kind `text` (or all, want < 0) that frame and decode
 * cleanly, each alone; returns how many. */
static size_t select_frames(const td_protocol *p, const frame_list *all, int want, frame *out,
                            size_t *dropped)
{
    size_t n = 0;
    *dropped = 0;
    for (size_t i = 0; i < all->n; i++) {
        if (want >= 0 && all->v[i].text != (want == 1))
            continue;
        td_stream st;
        run r = {p, td_now_ms(), 0, 0, 0};
        td_stream_init(&st, TD_TCP, p);
        int rc = feed(&st, &r, &all->v[i]);
        td_stream_free(&st);
        if (rc == 0 && r.frames >= 1 && r.errors == 0)
            out[n++] = all->v[i];
        else
            (*dropped)++;
    }
    return n;
}

#define DUMP_NOW_MS 1700000000000LL /* 2023-11-14T22:13:20Z */

static void dump_frame(void *arg, td_stream *s, const uint8_t *data, size_t len)
{
    const char *name = arg;
    char hex[2 * TD_REPLY_MAX + 1];

    td_decode_ctx_reset(&ctx, &s->session, DUMP_NOW_MS);
    int rc = s->proto->decode(&ctx, data, len);
    td_hex_encode(ctx.reply, ctx.reply_len, hex, sizeof(hex));
    printf("%s rc=%d nrec=%d reply=%s ack=%s/%d/%s err=%s\n", name, rc, ctx.nrec, hex, ctx.ack,
           ctx.ack_failed, ctx.ack_result, rc < 0 ? ctx.err : "");
    for (int i = 0; rc >= 0 && i < ctx.nrec; i++) {
        json_t *o = td_record_json(&ctx.rec[i], s->proto->name);
        char *text = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS | JSON_REAL_PRECISION(17));
        printf("  %s\n", text ? text : "?");
        free(text);
        json_decref(o);
    }
}

/* Prints every frame's decoding (--dump). */
static void dump(const td_protocol *p, const frame_list *all)
{
    char err[256];
    for (size_t i = 0; i < all->n; i++) {
        td_stream st;
        td_stream_init(&st, TD_TCP, p);
        int rc = td_stream_feed(&st, all->v[i].data, all->v[i].len, dump_frame, (void *)p->name,
                                err, sizeof(err));
        if (rc == 0)
            rc = td_stream_flush(&st, dump_frame, (void *)p->name, err, sizeof(err));
        if (rc < 0)
            printf("%s stream error: %s\n", p->name, err);
        td_stream_free(&st);
    }
}

/* Decodes the frames in a loop for `seconds`; fills r. The clock (a system
 * call) is read about once a millisecond, not once a pass. */
static double bench(const td_protocol *p, const frame *v, size_t n, double seconds, run *r)
{
    td_stream st;
    double t0, t;
    uint64_t passes = 0, reps;

    td_stream_init(&st, TD_TCP, p);
    *r = (run){p, td_now_ms(), 0, 0, 0};
    /* Warm-up: caches, branch predictors, the stream's buffer. */
    for (t0 = t = now_s(); t - t0 < seconds / 10; passes++) {
        for (size_t i = 0; i < n; i++)
            feed(&st, r, &v[i]);
        t = now_s();
    }
    reps = (uint64_t)(0.001 / ((t - t0) / (double)passes)) + 1;
    *r = (run){p, td_now_ms(), 0, 0, 0};
    t0 = now_s();
    do {
        for (uint64_t k = 0; k < reps; k++)
            for (size_t i = 0; i < n; i++)
                feed(&st, r, &v[i]);
        t = now_s();
    } while (t - t0 < seconds);
    td_stream_free(&st);
    return t - t0;
}

static void row(const td_protocol *p, const char *kind, const frame *v, size_t n, size_t dropped,
                double seconds)
{
    run r;
    double secs = bench(p, v, n, seconds, &r);
    double fps = (double)r.frames / secs;
    bool text = has_target(p, kind);
    printf("%-10s %-7s %6zu %7zu %12.0f %9.0f %12.0f %10s %4s\n", p->name, kind, n, dropped, fps,
           1e9 / fps, (double)r.records / secs, text ? "1000000" : "-",
           text ? (fps >= TEXT_TARGET ? "yes" : "NO") : "-");
    fflush(stdout);
}

int main(int argc, char **argv)
{
    double seconds = 1.0;
    const char *only = NULL;
    bool dumping = false;
    const char *files[8];
    int nfiles = 0;

    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--seconds") && i + 1 < argc) {
            seconds = atof(argv[++i]);
        } else if (!strcmp(argv[i], "--protocol") && i + 1 < argc) {
            only = argv[++i];
        } else if (!strcmp(argv[i], "--dump")) {
            dumping = true;
        } else if (argv[i][0] != '-' && nfiles < 8) {
            files[nfiles++] = argv[i];
        } else {
            fprintf(stderr, "usage: trackd-bench-decode [--seconds S] [--protocol NAME] [--dump]"
                            " [FILE.jsonl...]\n");
            return 2;
        }
    }
    if (seconds <= 0 || seconds > 60) {
        fprintf(stderr, "trackd-bench-decode: --seconds from 0 to 60\n");
        return 2;
    }
    if (nfiles == 0) {
        files[nfiles++] = TRACKD_VECTORS_DIR "/seed-protocols.jsonl";
        files[nfiles++] = TRACKD_VECTORS_DIR "/protocols.jsonl";
    }
    frames = calloc(td_protocol_count + 1, sizeof(*frames));
    if (!frames)
        return 1;
    for (int i = 0; i < nfiles; i++)
        if (load(files[i]))
            return 1;

    for (size_t i = 0; dumping && i < td_protocol_count; i++)
        if (!only || td_protocol_find(only) == td_protocols[i])
            dump(td_protocols[i], &frames[i]);
    if (!dumping)
        printf("%-10s %-7s %6s %7s %12s %9s %12s %10s %4s\n", "protocol", "kind", "frames",
               "dropped", "frames/s", "ns/frame", "records/s", "target", "met");
    for (size_t i = 0; !dumping && i < td_protocol_count; i++) {
        const td_protocol *p = td_protocols[i];
        const frame_list *all = &frames[i];
        size_t ntext = 0, dropped;
        if (only && td_protocol_find(only) != p)
            continue;
        frame *v = malloc((all->n ? all->n : 1) * sizeof(*v));
        if (!v)
            return 1;
        for (size_t k = 0; k < all->n; k++)
            ntext += all->v[k].text;
        if (ntext == 0 || ntext == all->n) {
            size_t n = select_frames(p, all, -1, v, &dropped);
            if (n)
                row(p, ntext ? "text" : "binary", v, n, dropped, seconds);
            else
                printf("%-10s no frames in the vectors\n", p->name);
        } else {
            for (int want = 1; want >= 0; want--) {
                size_t n = select_frames(p, all, want, v, &dropped);
                if (n)
                    row(p, want ? "text" : "binary", v, n, dropped, seconds);
            }
        }
        free(v);
    }
    for (size_t i = 0; i <= td_protocol_count; i++) {
        for (size_t k = 0; k < frames[i].n; k++)
            free(frames[i].v[k].data);
        free(frames[i].v);
    }
    free(frames);
    return 0;
}
