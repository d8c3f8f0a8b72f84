/*
 * Malformed input never crashes a protocol and never yields a nonsense
 * record. Every seed vector is truncated at every length and corrupted at a
 * sample of positions; each result goes to the protocol's decode() directly
 * (in a buffer of exactly its length, so AddressSanitizer sees any read past
 * the end), through the stream with the protocol forced, and through
 * detection. A decode that fails must say why, starting with the protocol's
 * name; a record that comes out must pass assert_record_sane(). Random
 * buffers (fixed seed) then go through every protocol's frame() and
 * decode().
 */
#include "support.h"

#include <stdlib.h>
#include <string.h>

/* Bytes each sampled position is replaced with. */
static const uint8_t corruptions[] = {0x00, ',', 'Z', '#', ']', 0xff};

/* Positions sampled for corruption in a frame of n bytes: all of them for
 * short frames, else the first and last 24 and 48 spread in between. */
#define SAMPLE_EDGE 24
#define SAMPLE_SPREAD 48

typedef struct counts {
    size_t ok, failed, records;
} counts;

static bool starts_with(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* Runs one mutated input through decode(), the forced stream and
 * detection. The input is copied into a heap block of exactly len bytes. */
static void try_input(const td_protocol *p, const uint8_t *data, size_t len, counts *c)
{
    static td_decode_ctx ctx;
    uint8_t *exact = malloc(len);
    td_test_run run;

    assert_non_null(exact);
    if (len)
        memcpy(exact, data, len);

    /* decode() on the whole input as one frame. support.c asserts that an
     * error carries a message naming the protocol, and record sanity. */
    int rc = td_test_decode_bytes(p, NULL, exact, len, &ctx);
    assert_true(rc == 0 || (rc < 0 && rc >= TD_EREJECTED));
    if (rc < 0) {
        if (!starts_with(ctx.err, p->name))
            fail_msg("%s: error does not start with the protocol name: '%s'", p->name, ctx.err);
        c->failed++;
    } else {
        assert_true(ctx.nrec >= 0 && ctx.nrec <= TD_MAX_RECORDS);
        assert_true(ctx.reply_len <= TD_REPLY_MAX);
        c->ok++;
        c->records += (size_t)ctx.nrec;
    }

    /* The stream with the protocol forced: frames, then decodes. */
    td_test_run_bytes(p, exact, len, &run);
    assert_ptr_equal(run.proto, p);
    if (run.errors && !starts_with(run.first_error, p->name))
        fail_msg("%s: stream error does not start with the protocol name: '%s'", p->name,
                 run.first_error);
    td_test_run_free(&run);

    /* Detection: whatever is detected, errors name it (or say that nothing
     * was detected). */
    td_test_run_bytes(NULL, exact, len, &run);
    if (run.errors && run.proto && !starts_with(run.first_error, run.proto->name))
        fail_msg("detected %s: error does not start with its name: '%s'", run.proto->name,
                 run.first_error);
    if (run.errors && !run.proto)
        assert_true(strstr(run.first_error, "protocol") != NULL);
    td_test_run_free(&run);
    free(exact);
}

static void test_truncations_and_corruptions(void **state)
{
    json_t *vectors = td_test_vectors(NULL);
    static uint8_t frame[70000], mutated[70000];
    counts trunc = {0, 0, 0}, corrupt = {0, 0, 0}, per[16];
    json_t *v;
    size_t i;
    (void)state;

    assert_true(json_array_size(vectors) >= 93);
    assert_true(td_protocol_count <= 16);
    memset(per, 0, sizeof(per));
    json_array_foreach(vectors, i, v)
    {
        const td_protocol *p = td_protocol_find(json_string_value(json_object_get(v, "protocol")));
        assert_non_null(p);
        size_t n = td_test_vector_frame(v, frame, sizeof(frame));
        size_t pi = 0;
        while (td_protocols[pi] != p)
            pi++;

        /* Every truncation, from nothing to the whole frame. */
        counts before = trunc;
        for (size_t len = 0; len <= n; len++)
            try_input(p, frame, len, &trunc);
        per[pi].ok += trunc.ok - before.ok;
        per[pi].failed += trunc.failed - before.failed;
        per[pi].records += trunc.records - before.records;

        /* Single-byte corruptions at sampled positions. */
        for (size_t k = 0; k < n; k++) {
            bool sampled = n <= 2 * SAMPLE_EDGE + SAMPLE_SPREAD || k < SAMPLE_EDGE ||
                           k >= n - SAMPLE_EDGE ||
                           (k - SAMPLE_EDGE) % ((n - 2 * SAMPLE_EDGE) / SAMPLE_SPREAD + 1) == 0;
            if (!sampled)
                continue;
            for (size_t r = 0; r < sizeof(corruptions); r++) {
                if (frame[k] == corruptions[r])
                    continue;
                memcpy(mutated, frame, n);
                mutated[k] = corruptions[r];
                try_input(p, mutated, n, &corrupt);
            }
        }
    }
    for (size_t pi = 0; pi < td_protocol_count; pi++)
        fprintf(stderr, "%s truncated: %zu decoded (%zu records), %zu rejected\n",
                td_protocols[pi]->name, per[pi].ok, per[pi].records, per[pi].failed);
    fprintf(stderr,
            "truncated: %zu decoded (%zu records), %zu rejected; corrupted: %zu decoded "
            "(%zu records), %zu rejected\n",
            trunc.ok, trunc.records, trunc.failed, corrupt.ok, corrupt.records, corrupt.failed);
    /* Most truncations lose a required field; some (a short message cut in
     * its optional tail) still decode. */
    assert_true(trunc.failed > trunc.ok / 4);
    assert_true(trunc.ok > 0);
    assert_true(trunc.records > 0);
    assert_true(corrupt.failed > 0);
    assert_true(corrupt.ok > 0);
    json_decref(vectors);
}

/* What a protocol's frames begin with, so random tails reach its decoder
 * past the header checks. */
static const char *opener(const td_protocol *p, unsigned pick)
{
    static const char *const watch[] = {"[3G*1234567890*0010*", "[SG*9059011020*0067*UD,",
                                        "[ZJ*689466020014198*0003*0113*AL,"};
    static const char *const iw[] = {"IWAP01", "IWAP10080524A", "TRVYP14", "IWAP07,", "IWAPHP,"};
    static const char *const gotop[] = {"867648044456745,CMD-T,", "867648044456745,ALM-",
                                        "012896001901633,CMD-T,A,130104,175950,"};
    if (strcmp(p->name, "watch") == 0)
        return watch[pick % 3];
    if (strcmp(p->name, "iw") == 0)
        return iw[pick % 5];
    if (strcmp(p->name, "gotop") == 0)
        return gotop[pick % 3];
    return "";
}

static void test_random_inputs(void **state)
{
    /* Characters that mean something to the text protocols. */
    static const char alphabet[] = "0123456789,.-+*[]#:|&~{}>ANSEWVTZ";
    static uint8_t buf[400];
    (void)state;

    for (size_t pi = 0; pi < td_protocol_count; pi++) {
        const td_protocol *p = td_protocols[pi];
        size_t framed = 0, need_more = 0, frame_errors = 0, decoded = 0, rejected = 0;

        srand(1234567u + (unsigned)pi);
        for (int round = 0; round < 2000; round++) {
            size_t len = 1 + (size_t)(rand() % 300), at = 0;
            int style = round % 3;

            if (style > 0) {
                const char *o = opener(p, (unsigned)rand());
                at = strlen(o);
                memcpy(buf, o, at);
                len += at;
            }
            for (size_t k = at; k < len; k++)
                buf[k] = style == 2 ? (uint8_t)alphabet[rand() % (sizeof(alphabet) - 1)]
                                    : (uint8_t)(rand() & 0xff);

            uint8_t *exact = malloc(len);
            assert_non_null(exact);
            memcpy(exact, buf, len);

            /* frame(): a length inside the input, need-more or an error. */
            size_t skip = (size_t)-1;
            long n = p->frame(exact, len, &skip);
            assert_true(skip <= len);
            if (n > 0) {
                assert_true((size_t)n <= len - skip);
                assert_true((size_t)n <= p->max_frame);
                framed++;
            } else if (n == 0) {
                need_more++;
            } else {
                assert_true(n == TD_ETOOBIG || n == TD_EUNFRAMEABLE);
                frame_errors++;
            }

            /* decode(): anything at all, as one frame. */
            td_decode_ctx *ctx = malloc(sizeof(*ctx));
            assert_non_null(ctx);
            int rc = td_test_decode_bytes(p, NULL, exact, len, ctx);
            if (rc < 0) {
                if (!starts_with(ctx->err, p->name))
                    fail_msg("%s: error does not start with the protocol name: '%s'", p->name,
                             ctx->err);
                rejected++;
            } else {
                decoded++;
            }
            free(ctx);
            free(exact);
        }
        fprintf(stderr,
                "%s random: frame %zu found, %zu need more, %zu errors; decode %zu ok, %zu "
                "rejected\n",
                p->name, framed, need_more, frame_errors, decoded, rejected);
        assert_int_equal(framed + need_more + frame_errors, 2000);
        assert_int_equal(decoded + rejected, 2000);
        assert_true(rejected > 1000); /* random bytes are mostly not a message */
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_truncations_and_corruptions),
        cmocka_unit_test(test_random_inputs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
