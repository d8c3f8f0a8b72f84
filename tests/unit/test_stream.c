/*
 * The stream assembler over every protocol: a byte stream made of all of a
 * protocol's text vectors back to back must come out as the same frames
 * whether it arrives in one read, byte by byte, or split in two at any
 * byte. Also the assembler's limits and errors: undecided input beyond
 * TD_DETECT_LIMIT, unknown traffic (reported with its first bytes in hex),
 * frames longer than the protocol's max_frame, empty reads, and freeing.
 */
#include "support.h"

#include <stdlib.h>
#include <string.h>

/* The frames one run produced, concatenated, with their lengths. */
typedef struct frames {
    uint8_t *bytes;
    size_t len, cap;
    size_t lens[256];
    size_t n;
    const td_protocol *proto;
} frames;

static void on_frame(void *arg, td_stream *s, const uint8_t *frame, size_t len)
{
    frames *f = arg;
    assert_non_null(s->proto);
    assert_true(len > 0);
    assert_true(f->n < sizeof(f->lens) / sizeof(f->lens[0]));
    if (f->len + len > f->cap) {
        f->cap = (f->len + len) * 2;
        f->bytes = realloc(f->bytes, f->cap);
        assert_non_null(f->bytes);
    }
    memcpy(f->bytes + f->len, frame, len);
    f->len += len;
    f->lens[f->n++] = len;
    f->proto = s->proto;
}

static void frames_reset(frames *f)
{
    f->len = f->n = 0;
    f->proto = NULL;
}

/* A protocol's stream: its text vectors (and, with binary, its hex ones),
 * each completed with the terminator the framer needs, and where each frame
 * starts. A protocol without seed vectors uses its vectors in
 * protocols.jsonl (td_test_family_vectors), whose frames are complete. */
typedef struct sample {
    const td_protocol *p;
    uint8_t *bytes;
    size_t len;
    size_t lens[128];
    size_t n;
} sample;

static void build_sample(const td_protocol *p, bool binary, sample *out)
{
    json_t *vectors = td_test_vectors(p->name);
    static uint8_t frame[70000];
    json_t *v;
    size_t i;
    bool family = json_array_size(vectors) == 0;

    if (family) {
        json_decref(vectors);
        vectors = td_test_family_vectors(p->name);
    }
    memset(out, 0, sizeof(*out));
    out->p = p;
    out->bytes = malloc(1 << 16);
    assert_non_null(out->bytes);
    json_array_foreach(vectors, i, v)
    {
        if (!binary && strcmp(json_string_value(json_object_get(v, "kind")), "text") != 0)
            continue;
        size_t n = td_test_vector_frame(v, frame, sizeof(frame) - 1);
        /* watch frames delimit themselves with [...]; the others end at '#'. */
        if (!family && strcmp(p->name, "watch") != 0 && frame[n - 1] != '#')
            frame[n++] = '#';
        /* gps103 vectors come without the ';' that ends each frame. */
        if (strcmp(p->name, "gps103") == 0 && frame[n - 1] != ';')
            frame[n++] = ';';
        /* A queclink text report of the firmwares that send no '$' ends at
         * the next header; alone, it gets its tail character. */
        if (strcmp(p->name, "queclink") == 0 && frame[n - 1] != '$')
            frame[n++] = '$';
        /* suntech text vectors come without the CR that ends each report. */
        if (strcmp(p->name, "suntech") == 0 && frame[0] != 0x02 && frame[0] < 0x80 &&
            frame[n - 1] != '\r')
            frame[n++] = '\r';
        /* A gt06 frame that lost the LF of its 0D0A stop bytes. */
        if (strcmp(p->name, "gt06") == 0 && frame[n - 1] == 0x0d)
            frame[n++] = 0x0a;
        /* meitrack text vectors lost the \r\n after their checksum. */
        if (strcmp(p->name, "meitrack") == 0 && frame[n - 1] != '\n') {
            frame[n++] = '\r';
            frame[n++] = '\n';
        }
        /* A teltonika packet that lost the last byte of its CRC. */
        if (strcmp(p->name, "teltonika") == 0 && n > 12 && !frame[0] && !frame[1] &&
            n + 1 == 12 + ((size_t)frame[6] << 8 | frame[7]))
            frame[n++] = 0x00;
        /* Alone in a stream, the vector is one or more whole frames (one
         * watch vector holds six JXTK chunks), each of which decodes. */
        frames alone;
        td_stream st;
        char err[256] = "";
        memset(&alone, 0, sizeof(alone));
        td_stream_init(&st, TD_TCP, p);
        assert_int_equal(td_stream_feed(&st, frame, n, on_frame, &alone, err, sizeof(err)), 0);
        assert_int_equal(td_stream_flush(&st, on_frame, &alone, err, sizeof(err)), 0);
        td_stream_free(&st);
        assert_int_equal(alone.len, n);
        assert_memory_equal(alone.bytes, frame, n);
        for (size_t k = 0, at = 0; k < alone.n; at += alone.lens[k++]) {
            static td_decode_ctx ctx; /* large, and media_buf must start NULL */
            int rc = td_test_decode_bytes(p, NULL, alone.bytes + at, alone.lens[k], &ctx);
            if (rc != 0)
                fail_msg("%s#%lld with terminator: %s", p->name,
                         (long long)json_integer_value(json_object_get(v, "index")), ctx.err);
            assert_true(out->n < sizeof(out->lens) / sizeof(out->lens[0]));
            out->lens[out->n++] = alone.lens[k];
        }
        free(alone.bytes);
        assert_true(out->len + n <= (1 << 16));
        memcpy(out->bytes + out->len, frame, n);
        out->len += n;
    }
    json_decref(vectors);
    assert_true(out->n >= 10);
}

static void assert_same(const sample *s, const frames *f, const char *how)
{
    if (f->n != s->n)
        fail_msg("%s %s: %zu frames, want %zu", s->p->name, how, f->n, s->n);
    assert_ptr_equal(f->proto, s->p);
    assert_int_equal(f->len, s->len);
    for (size_t i = 0; i < s->n; i++)
        assert_int_equal(f->lens[i], s->lens[i]);
    assert_memory_equal(f->bytes, s->bytes, s->len);
}

/* Feeds data in the given pieces (cuts: ascending offsets) through
 * detection, then flushes. */
static void run_pieces(const sample *s, const size_t *cuts, size_t ncuts, frames *f)
{
    td_stream st;
    char err[256] = "";
    size_t at = 0;

    frames_reset(f);
    td_stream_init(&st, TD_TCP, NULL);
    for (size_t i = 0; i <= ncuts; i++) {
        size_t end = i < ncuts ? cuts[i] : s->len;
        int rc = td_stream_feed(&st, s->bytes + at, end - at, on_frame, f, err, sizeof(err));
        if (rc != 0)
            fail_msg("%s: feed [%zu, %zu): %d %s", s->p->name, at, end, rc, err);
        at = end;
    }
    assert_int_equal(td_stream_flush(&st, on_frame, f, err, sizeof(err)), 0);
    assert_int_equal(st.frames, f->n);
    assert_int_equal(st.len, 0);
    td_stream_free(&st);
}

static void check_protocol(const char *name, bool binary)
{
    const td_protocol *p = td_protocol_find(name);
    sample s;
    frames f;

    assert_non_null(p);
    build_sample(p, binary, &s);
    memset(&f, 0, sizeof(f));

    /* (a) one piece */
    run_pieces(&s, NULL, 0, &f);
    assert_same(&s, &f, "one piece");

    /* (b) byte by byte, through one stream */
    td_stream st;
    char err[256] = "";
    frames_reset(&f);
    td_stream_init(&st, TD_TCP, NULL);
    for (size_t i = 0; i < s.len; i++) {
        int rc = td_stream_feed(&st, s.bytes + i, 1, on_frame, &f, err, sizeof(err));
        if (rc != 0)
            fail_msg("%s: byte %zu: %d %s", name, i, rc, err);
        /* Frames come out as soon as their last byte is in. */
    }
    assert_int_equal(td_stream_flush(&st, on_frame, &f, err, sizeof(err)), 0);
    td_stream_free(&st);
    assert_same(&s, &f, "byte by byte");

    /* (c) two pieces, cut at every byte */
    for (size_t k = 1; k < s.len; k++) {
        run_pieces(&s, &k, 1, &f);
        if (f.n != s.n)
            fail_msg("%s cut at %zu: %zu frames, want %zu", name, k, f.n, s.n);
        assert_same(&s, &f, "two pieces");
    }

    /* Frames come out at their last byte, not later: feeding exactly up to
     * the end of frame i yields i + 1 frames before the flush. */
    size_t end = 0;
    td_stream_init(&st, TD_TCP, NULL);
    frames_reset(&f);
    for (size_t i = 0; i < s.n; i++) {
        assert_int_equal(
            td_stream_feed(&st, s.bytes + end, s.lens[i], on_frame, &f, err, sizeof(err)), 0);
        end += s.lens[i];
        assert_int_equal(f.n, i + 1);
    }
    td_stream_free(&st);

    fprintf(stderr, "%s: %zu frames, %zu bytes, %zu splits\n", name, s.n, s.len, s.len - 1);
    free(f.bytes);
    free(s.bytes);
}

static void test_stream_watch(void **state)
{
    (void)state;
    check_protocol("watch", false);
}

/* watch binary messages (TK voice, JXTK) are cut by their length field and
 * may hold ']' and '[' in their payload. */
static void test_stream_watch_binary(void **state)
{
    (void)state;
    check_protocol("watch", true);
}

static void test_stream_iw(void **state)
{
    (void)state;
    check_protocol("iw", false);
}

static void test_stream_gotop(void **state)
{
    (void)state;
    check_protocol("gotop", false);
}

/* jt808: binary 0x7e frames (some with an unescaped 0x7e inside, cut by
 * their declared length) and the '(' text form. */
static void test_stream_jt808(void **state)
{
    (void)state;
    check_protocol("jt808", true);
}

/* h02 text frames end at '#'; its binary records (no terminator, cut by
 * length) are split at every byte in test_h02.c. */
static void test_stream_h02(void **state)
{
    (void)state;
    check_protocol("h02", false);
}

/* gt06 is binary: its frames are cut by their length field and stop bytes. */
static void test_stream_gt06(void **state)
{
    (void)state;
    check_protocol("gt06", true);
}

/* gps103 frames end at ';' (the vectors get theirs back). */
static void test_stream_gps103(void **state)
{
    (void)state;
    check_protocol("gps103", false);
}

/* meitrack: text frames up to "*XX\r\n" (some with a wrong length field),
 * CCE/CCC binary frames cut by their declared length. */
static void test_stream_meitrack(void **state)
{
    (void)state;
    check_protocol("meitrack", true);
}

/* teltonika: the IMEI handshake and UDP-form packets cut by their 2-byte
 * length, AVL packets by their records (some vectors carry a wrong length
 * field), command messages by their length field. */
static void test_stream_teltonika(void **state)
{
    (void)state;
    check_protocol("teltonika", true);
}

/* tk103 frames run from '(' to ')' (a ')' inside a $...$ text answer
 * included); two vectors hold line ends. */
static void test_stream_tk103(void **state)
{
    (void)state;
    check_protocol("tk103", true);
}

/* queclink text reports end at '$' (the vectors without one get it). */
static void test_stream_queclink(void **state)
{
    (void)state;
    check_protocol("queclink", false);
}

/* suntech: text reports up to CR (external data holding CR LF cut by its
 * length), zip reports by their length. */
static void test_stream_suntech(void **state)
{
    (void)state;
    check_protocol("suntech", true);
}

static void test_every_protocol_is_covered(void **state)
{
    (void)state;
    /* A new protocol needs its own test_stream_<name> above. osmand has too
     * few vectors for one: test_osmand.c splits its requests (bodies
     * with Content-Length and chunked) at every byte through the stream. */
    for (size_t i = 0; i < td_protocol_count; i++) {
        const char *n = td_protocols[i]->name;
        if (strcmp(n, "watch") && strcmp(n, "iw") && strcmp(n, "gotop") && strcmp(n, "jt808") &&
            strcmp(n, "h02") && strcmp(n, "gt06") && strcmp(n, "gps103") && strcmp(n, "meitrack") &&
            strcmp(n, "teltonika") && strcmp(n, "tk103") && strcmp(n, "osmand") &&
            strcmp(n, "queclink") && strcmp(n, "suntech"))
            fail_msg("protocol %s has no stream test", n);
    }
}

static void test_undecided_input_limit(void **state)
{
    td_stream st;
    char err[256] = "";
    frames f;
    uint8_t hash = '#';
    (void)state;

    /* Leading '#' bytes may still open a gotop frame: detection stays
     * undecided, and the stream gives up past TD_DETECT_LIMIT. */
    assert_int_equal(td_proto_gotop.detect((const uint8_t *)"########", 8), TD_DETECT_MAYBE);
    memset(&f, 0, sizeof(f));
    td_stream_init(&st, TD_TCP, NULL);
    for (size_t i = 0; i < TD_DETECT_LIMIT; i++)
        assert_int_equal(td_stream_feed(&st, &hash, 1, on_frame, &f, err, sizeof(err)), 0);
    assert_null(st.proto);
    assert_int_equal(td_stream_feed(&st, &hash, 1, on_frame, &f, err, sizeof(err)), TD_ETOOBIG);
    assert_non_null(strstr(err, "not detected"));
    assert_non_null(strstr(err, "first bytes 2323")); /* '#' in hex */
    assert_non_null(strstr(err, "..."));
    assert_int_equal(f.n, 0);
    td_stream_free(&st);

    /* The same in one piece. */
    uint8_t many[TD_DETECT_LIMIT + 10];
    memset(many, '#', sizeof(many));
    td_stream_init(&st, TD_TCP, NULL);
    assert_int_equal(td_stream_feed(&st, many, sizeof(many), on_frame, &f, err, sizeof(err)),
                     TD_ETOOBIG);
    td_stream_free(&st);

    /* Flushing an undecided prefix is an unknown protocol. */
    td_stream_init(&st, TD_TCP, NULL);
    assert_int_equal(td_stream_feed(&st, (const uint8_t *)"IWA", 3, on_frame, &f, err, sizeof(err)),
                     0);
    assert_int_equal(td_stream_flush(&st, on_frame, &f, err, sizeof(err)), TD_EUNSUPPORTED);
    assert_non_null(strstr(err, "unknown protocol"));
    assert_non_null(strstr(err, "495741"));
    td_stream_free(&st);
    free(f.bytes);
}

static void test_unknown_protocol_message(void **state)
{
    td_stream st;
    char err[256] = "";
    frames f;
    /* (An HTTP GET or POST would be osmand's.) */
    const char *banner = "SSH-2.0-OpenSSH_9.6p1 Ubuntu-3ubuntu13\r\n";
    (void)state;

    memset(&f, 0, sizeof(f));
    td_stream_init(&st, TD_TCP, NULL);
    assert_int_equal(td_stream_feed(&st, (const uint8_t *)banner, strlen(banner), on_frame, &f, err,
                                    sizeof(err)),
                     TD_EUNSUPPORTED);
    assert_non_null(strstr(err, "unknown protocol"));
    /* The first 32 bytes in hex, then "..." for the rest. */
    assert_non_null(strstr(err, "5353482d322e302d4f70656e535348"));
    assert_non_null(strstr(err, "..."));
    assert_int_equal(f.n, 0);
    td_stream_free(&st);

    /* Binary garbage, shorter than 32 bytes: all of it, no "...". */
    td_stream_init(&st, TD_TCP, NULL);
    assert_int_equal(
        td_stream_feed(&st, (const uint8_t *)"\x00\x01\xff", 3, on_frame, &f, err, sizeof(err)),
        TD_EUNSUPPORTED);
    assert_non_null(strstr(err, "0001ff"));
    assert_null(strstr(err, "..."));
    td_stream_free(&st);

    /* A small error buffer truncates, never overflows. */
    char small[16];
    td_stream_init(&st, TD_TCP, NULL);
    assert_int_equal(
        td_stream_feed(&st, (const uint8_t *)"hello", 5, on_frame, &f, small, sizeof(small)),
        TD_EUNSUPPORTED);
    assert_int_equal(strlen(small), sizeof(small) - 1);
    td_stream_free(&st);
}

/* A frame opener for each protocol, and a filler byte that never ends it. */
static const struct {
    const char *name, *head;
    uint8_t fill;
} openers[] = {
    {"watch", "[3G*1234567890*0010*UD,", 'x'},
    {"iw", "IWAP01", 'A'},
    {"gotop", "867648044456745,CMD-T,", '0'},
    {"jt808", "\x7e\x02", 0x00},
};

static void test_frame_too_big(void **state)
{
    (void)state;

    for (size_t i = 0; i < sizeof(openers) / sizeof(openers[0]); i++) {
        const td_protocol *p = td_protocol_find(openers[i].name);
        size_t hl = strlen(openers[i].head), total = p->max_frame + 100;
        uint8_t *buf = malloc(total);
        char err[256] = "";
        frames f;
        td_stream st;

        assert_non_null(buf);
        memset(&f, 0, sizeof(f));
        memcpy(buf, openers[i].head, hl);
        memset(buf + hl, openers[i].fill, total - hl);

        /* In one piece, detected. */
        td_stream_init(&st, TD_TCP, NULL);
        int rc = td_stream_feed(&st, buf, total, on_frame, &f, err, sizeof(err));
        if (rc != TD_ETOOBIG)
            fail_msg("%s: one piece: %d %s", p->name, rc, err);
        assert_ptr_equal(st.proto, p);
        assert_memory_equal(err, p->name, strlen(p->name));
        assert_int_equal(f.n, 0);
        td_stream_free(&st);

        /* In 500-byte reads, forced: fails by the time max_frame is in,
         * and never buffers more than max_frame + one read. */
        td_stream_init(&st, TD_TCP, p);
        size_t at = 0;
        rc = 0;
        while (rc == 0 && at < total) {
            size_t n = total - at < 500 ? total - at : 500;
            rc = td_stream_feed(&st, buf + at, n, on_frame, &f, err, sizeof(err));
            at += n;
            assert_true(st.len <= p->max_frame + 500);
        }
        if (rc != TD_ETOOBIG)
            fail_msg("%s: 500-byte reads: %d %s", p->name, rc, err);
        assert_true(at <= p->max_frame + 500);
        assert_memory_equal(err, p->name, strlen(p->name));
        assert_int_equal(f.n, 0);
        td_stream_free(&st);
        free(buf);
    }
}

static void test_empty_feeds_and_free(void **state)
{
    const char *lk = "[SG*8800000015*0002*LK]";
    const uint8_t empty[1] = {0};
    td_stream st;
    char err[256] = "";
    frames f;
    (void)state;

    memset(&f, 0, sizeof(f));
    td_stream_init(&st, TD_TCP, NULL);
    /* Empty reads before detection, in the middle of a frame, and after. */
    assert_int_equal(td_stream_feed(&st, empty, 0, on_frame, &f, err, sizeof(err)), 0);
    assert_null(st.proto);
    assert_int_equal(td_stream_feed(&st, (const uint8_t *)lk, 10, on_frame, &f, err, sizeof(err)),
                     0);
    assert_int_equal(td_stream_feed(&st, empty, 0, on_frame, &f, err, sizeof(err)), 0);
    assert_int_equal(f.n, 0);
    assert_int_equal(td_stream_feed(&st, (const uint8_t *)lk + 10, strlen(lk) - 10, on_frame, &f,
                                    err, sizeof(err)),
                     0);
    assert_int_equal(td_stream_feed(&st, empty, 0, on_frame, &f, err, sizeof(err)), 0);
    assert_int_equal(f.n, 1);
    assert_int_equal(f.lens[0], strlen(lk));
    assert_memory_equal(f.bytes, lk, strlen(lk));
    assert_int_equal(td_stream_flush(&st, on_frame, &f, err, sizeof(err)), 0);
    assert_int_equal(f.n, 1);
    /* Flushing again, and freeing twice, are harmless. */
    assert_int_equal(td_stream_flush(&st, on_frame, &f, err, sizeof(err)), 0);
    td_stream_free(&st);
    assert_null(st.buf);
    assert_int_equal(st.len, 0);
    td_stream_free(&st);

    /* A stream that never saw a byte: flush gives nothing, free is fine. */
    td_stream_init(&st, TD_TCP, NULL);
    assert_int_equal(td_stream_flush(&st, on_frame, &f, err, sizeof(err)), 0);
    assert_int_equal(f.n, 1);
    td_stream_free(&st);
    td_stream_free(&st);
    free(f.bytes);
}

static void test_flush_hands_out_unterminated_frame(void **state)
{
    const char *line = "IWAP03,06000908000102,5555,30"; /* no '#' */
    td_stream st;
    char err[256] = "";
    frames f;
    (void)state;

    memset(&f, 0, sizeof(f));
    td_stream_init(&st, TD_TCP, NULL);
    assert_int_equal(
        td_stream_feed(&st, (const uint8_t *)line, strlen(line), on_frame, &f, err, sizeof(err)),
        0);
    assert_int_equal(f.n, 0);
    assert_ptr_equal(st.proto, td_protocol_find("iw"));
    assert_int_equal(td_stream_flush(&st, on_frame, &f, err, sizeof(err)), 0);
    assert_int_equal(f.n, 1);
    assert_int_equal(f.lens[0], strlen(line));
    assert_memory_equal(f.bytes, line, strlen(line));
    assert_int_equal(st.frames, 1);
    td_stream_free(&st);
    free(f.bytes);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stream_watch),
        cmocka_unit_test(test_stream_watch_binary),
        cmocka_unit_test(test_stream_iw),
        cmocka_unit_test(test_stream_gotop),
        cmocka_unit_test(test_stream_jt808),
        cmocka_unit_test(test_stream_h02),
        cmocka_unit_test(test_stream_gt06),
        cmocka_unit_test(test_stream_gps103),
        cmocka_unit_test(test_stream_meitrack),
        cmocka_unit_test(test_stream_teltonika),
        cmocka_unit_test(test_stream_tk103),
        cmocka_unit_test(test_stream_queclink),
        cmocka_unit_test(test_stream_suntech),
        cmocka_unit_test(test_every_protocol_is_covered),
        cmocka_unit_test(test_undecided_input_limit),
        cmocka_unit_test(test_unknown_protocol_message),
        cmocka_unit_test(test_frame_too_big),
        cmocka_unit_test(test_empty_feeds_and_free),
        cmocka_unit_test(test_flush_hands_out_unterminated_frame),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
