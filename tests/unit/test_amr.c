/*
 * AMR-NB voice messages (core/amr.h): the real fixture tests/fixtures/
 * voice.amr (2 s of a 440 Hz tone encoded in MR122 by libopencore-amrnb,
 * see tests/tools/amr_tone.c) checked and decoded to WAV, the WAV header's
 * fields, the decoded audio's level and pitch, and the inputs a device or
 * an upload can get wrong: no or another magic, reserved frame types,
 * truncation, empty input, NO_DATA and SID frames, too long a message.
 */
#include "support.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/amr.h"
#include "trackd/error.h"

/* The fixture, found next to this file's directory (CMake compiles with
 * absolute source paths). */
#define FIXTURE_FRAMES 100
#define FIXTURE_FRAME_LEN 32 /* MR122: ToC byte + 31 */
#define HDR 6                /* "#!AMR\n" */

typedef struct amr_buf {
    uint8_t *p;
    size_t n;
} amr_buf;

static amr_buf read_fixture(void)
{
    char path[4096];
    const char *file = __FILE__;
    const char *slash = strrchr(file, '/');
    int dir = slash ? (int)(slash - file) : 1;
    snprintf(path, sizeof(path), "%.*s/../fixtures/voice.amr", dir, slash ? file : ".");

    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("cannot open %s", path);
    amr_buf b = {malloc(8192), 0};
    assert_non_null(b.p);
    b.n = fread(b.p, 1, 8192, f);
    fclose(f);
    assert_true(b.n > HDR && b.n < 5000);
    return b;
}

static uint16_t le16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)le16(p) | (uint32_t)le16(p + 2) << 16;
}

/* Expects td_amr_info_get() and td_amr_to_wav() both to refuse the input
 * with a message containing 'msg'. */
static void expect_error(const uint8_t *amr, size_t len, const char *msg)
{
    char err[256] = "";
    td_amr_info info = {-1, -1};
    uint8_t *wav = (uint8_t *)"untouched";
    size_t wav_len = 1;

    assert_int_equal(td_amr_info_get(amr, len, &info, err, sizeof(err)), TD_EINVAL);
    if (!strstr(err, msg))
        fail_msg("error \"%s\" does not contain \"%s\"", err, msg);
    assert_int_equal(strncmp(err, "amr: ", 5), 0);
    assert_int_equal(info.frames, -1);

    err[0] = '\0';
    assert_int_equal(td_amr_to_wav(amr, len, &wav, &wav_len, err, sizeof(err)), TD_EINVAL);
    assert_null(wav);
    assert_int_equal(wav_len, 0);
    assert_non_null(strstr(err, msg));
}

static void test_info_fixture(void **state)
{
    (void)state;
    amr_buf b = read_fixture();
    td_amr_info info;
    char err[128] = "";

    assert_int_equal(b.n, HDR + FIXTURE_FRAMES * FIXTURE_FRAME_LEN);
    assert_int_equal(td_amr_info_get(b.p, b.n, &info, err, sizeof(err)), 0);
    assert_string_equal(err, "");
    assert_int_equal(info.frames, FIXTURE_FRAMES);
    assert_int_equal(info.duration_ms, 2000);
    /* No err buffer and no out: still a plain check. */
    assert_int_equal(td_amr_info_get(b.p, b.n, NULL, NULL, 0), 0);
    free(b.p);
}

static void test_wav_header(void **state)
{
    (void)state;
    amr_buf b = read_fixture();
    uint8_t *wav = NULL;
    size_t len = 0;
    char err[128] = "";
    const uint32_t data = FIXTURE_FRAMES * 160 * 2;

    assert_int_equal(td_amr_to_wav(b.p, b.n, &wav, &len, err, sizeof(err)), 0);
    assert_non_null(wav);
    assert_int_equal(len, 44 + data);
    assert_memory_equal(wav, "RIFF", 4);
    assert_int_equal(le32(wav + 4), 36 + data);
    assert_memory_equal(wav + 8, "WAVE", 4);
    assert_memory_equal(wav + 12, "fmt ", 4);
    assert_int_equal(le32(wav + 16), 16);       /* fmt chunk size */
    assert_int_equal(le16(wav + 20), 1);        /* PCM */
    assert_int_equal(le16(wav + 22), 1);        /* mono */
    assert_int_equal(le32(wav + 24), 8000);     /* Hz */
    assert_int_equal(le32(wav + 28), 8000 * 2); /* byte rate */
    assert_int_equal(le16(wav + 32), 2);        /* block align */
    assert_int_equal(le16(wav + 34), 16);       /* bits */
    assert_memory_equal(wav + 36, "data", 4);
    assert_int_equal(le32(wav + 40), data);
    free(wav);
    free(b.p);
}

/* RMS of samples [from, to) of a decoded WAV. */
static double rms(const uint8_t *wav, int from, int to)
{
    double sum = 0;
    for (int i = from; i < to; i++) {
        double s = (int16_t)le16(wav + 44 + 2 * i);
        sum += s * s;
    }
    return sqrt(sum / (to - from));
}

static void test_wav_tone(void **state)
{
    (void)state;
    amr_buf b = read_fixture();
    uint8_t *wav = NULL;
    size_t len = 0;

    assert_int_equal(td_amr_to_wav(b.p, b.n, &wav, &len, NULL, 0), 0);
    int n = (int)(len - 44) / 2;
    assert_int_equal(n, 16000);

    /* The tone is encoded at an amplitude of 9000-12000 in the middle
     * (RMS about 7000); the codec keeps its energy within a few dB. */
    double mid = rms(wav, 4000, 12000);
    print_message("amr: middle RMS %.0f, first 10 ms %.0f\n", mid, rms(wav, 0, 80));
    assert_true(mid > 4000 && mid < 10000);
    /* The 50 ms fade-in (and the decoder's start-up) make the start quiet. */
    assert_true(rms(wav, 0, 80) < mid / 2);

    /* Pitch: a 440 Hz sine crosses zero 880 times a second; count the sign
     * changes over the steady middle second. */
    int crossings = 0;
    for (int i = 4001; i < 12000; i++) {
        int16_t a = (int16_t)le16(wav + 44 + 2 * (i - 1)), c = (int16_t)le16(wav + 44 + 2 * i);
        crossings += (a < 0) != (c < 0);
    }
    print_message("amr: %d zero crossings in 1 s (440 Hz: 880)\n", crossings);
    assert_true(crossings > 840 && crossings < 920);
    free(wav);
    free(b.p);
}

static void test_truncated(void **state)
{
    (void)state;
    amr_buf b = read_fixture();
    size_t last = HDR + (FIXTURE_FRAMES - 1) * FIXTURE_FRAME_LEN; /* 3174 */
    char msg[64];

    snprintf(msg, sizeof(msg), "truncated frame at byte offset %zu", last);
    expect_error(b.p, b.n - 1, msg);
    expect_error(b.p, b.n - 30, "needs 31 bytes after its ToC byte, 1 left");
    /* Only the last frame's ToC byte. */
    expect_error(b.p, last + 1, msg);
    /* Cut inside the first frame. */
    expect_error(b.p, HDR + 10, "truncated frame at byte offset 6");
    free(b.p);
}

static void test_bad_magic(void **state)
{
    (void)state;
    amr_buf b = read_fixture();

    /* Raw frames without the header are refused, and the message says so. */
    expect_error(b.p + HDR, b.n - HDR, "missing the \"#!AMR\\n\" header");
    expect_error((const uint8_t *)"RIFF\x24\0\0\0WAVE", 12, "missing the \"#!AMR\\n\" header");
    /* A cut header. */
    expect_error(b.p, 5, "missing the \"#!AMR\\n\" header");
    /* Wrong line end. */
    b.p[5] = '\r';
    expect_error(b.p, b.n, "missing the \"#!AMR\\n\" header");
    expect_error((const uint8_t *)"#!AMR-WB\n\x3c", 10, "an AMR-WB file");
    expect_error((const uint8_t *)"#!AMR_MC1.0\n\0\0\0\1", 16, "multi-channel");
    free(b.p);
}

static void test_reserved_mode(void **state)
{
    (void)state;
    amr_buf b = read_fixture();
    size_t off = HDR + 3 * FIXTURE_FRAME_LEN; /* fourth frame: 102 */

    for (int mode = 9; mode <= 14; mode++) {
        char msg[64];
        uint8_t saved = b.p[off];
        b.p[off] = (uint8_t)(mode << 3 | 0x04);
        snprintf(msg, sizeof(msg), "reserved frame type %d at byte offset 102", mode);
        expect_error(b.p, b.n, msg);
        b.p[off] = saved;
    }
    /* The first frame too. */
    b.p[HDR] = 0x4c;
    expect_error(b.p, b.n, "reserved frame type 9 at byte offset 6");
    free(b.p);
}

static void test_empty(void **state)
{
    (void)state;
    expect_error(NULL, 0, "amr: empty input");
    expect_error((const uint8_t *)"", 0, "amr: empty input");
    expect_error((const uint8_t *)"#!AMR\n", 6, "amr: no audio frames after the header");
}

static void test_no_data_and_sid(void **state)
{
    (void)state;
    amr_buf b = read_fixture();
    size_t half = HDR + 50 * FIXTURE_FRAME_LEN;
    /* Five NO_DATA frames (type 15, one byte each) and one SID frame (type
     * 8, 5 bytes) spliced into the middle. */
    static const uint8_t gap[] = {0x7c, 0x7c, 0x7c, 0x44, 1, 2, 3, 4, 5, 0x7c, 0x7c};
    size_t n = b.n + sizeof(gap);
    uint8_t *amr = malloc(n);
    assert_non_null(amr);
    memcpy(amr, b.p, half);
    memcpy(amr + half, gap, sizeof(gap));
    memcpy(amr + half + sizeof(gap), b.p + half, b.n - half);

    td_amr_info info;
    assert_int_equal(td_amr_info_get(amr, n, &info, NULL, 0), 0);
    assert_int_equal(info.frames, FIXTURE_FRAMES + 6);
    assert_int_equal(info.duration_ms, (FIXTURE_FRAMES + 6) * 20);

    uint8_t *wav = NULL;
    size_t len = 0;
    char err[128] = "";
    assert_int_equal(td_amr_to_wav(amr, n, &wav, &len, err, sizeof(err)), 0);
    assert_int_equal(len, 44 + (FIXTURE_FRAMES + 6) * 320);
    assert_int_equal(le32(wav + 40), (FIXTURE_FRAMES + 6) * 320);
    /* The tone goes on around the gap. */
    assert_true(rms(wav, 4000, 7000) > 4000);
    assert_true(rms(wav, 10000, 13000) > 4000);
    free(wav);

    /* A message of NO_DATA frames only decodes (to near silence); a cut SID
     * frame does not. */
    uint8_t quiet[HDR + 50];
    memcpy(quiet, "#!AMR\n", HDR);
    memset(quiet + HDR, 0x7c, 50);
    assert_int_equal(td_amr_to_wav(quiet, sizeof(quiet), &wav, &len, NULL, 0), 0);
    assert_int_equal(len, 44 + 50 * 320);
    assert_true(rms(wav, 0, 50 * 160) < 1000);
    free(wav);
    expect_error((const uint8_t *)"#!AMR\n\x7c\x44\1\2\3", 11,
                 "truncated frame at byte offset 7 (type 8 needs 5 bytes");

    free(amr);
    free(b.p);
}

static void test_too_long(void **state)
{
    (void)state;
    /* 10 minutes of NO_DATA frames is the most accepted; one more is not. */
    size_t n = HDR + TD_AMR_MAX_FRAMES + 1;
    uint8_t *amr = malloc(n);
    assert_non_null(amr);
    memcpy(amr, "#!AMR\n", HDR);
    memset(amr + HDR, 0x7c, n - HDR);

    td_amr_info info;
    assert_int_equal(td_amr_info_get(amr, n - 1, &info, NULL, 0), 0);
    assert_int_equal(info.frames, TD_AMR_MAX_FRAMES);
    assert_int_equal(info.duration_ms, 600000);
    expect_error(amr, n, "amr: longer than 600 s");
    free(amr);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_info_fixture), cmocka_unit_test(test_wav_header),
        cmocka_unit_test(test_wav_tone),     cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_bad_magic),    cmocka_unit_test(test_reserved_mode),
        cmocka_unit_test(test_empty),        cmocka_unit_test(test_no_data_and_sid),
        cmocka_unit_test(test_too_long),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
