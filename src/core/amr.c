/*
 * AMR-NB voice messages to WAV; see amr.h. Implements the single-channel
 * AMR storage format of RFC 4867 section 5.1/5.3 (frame sizes from 3GPP TS
 * 26.101): the file is walked once to check every ToC byte and frame size
 * before anything is decoded, then each frame is handed to
 * libopencore-amrnb's decoder, which gives 160 samples per frame (also for
 * NO_DATA frames, which it fills by concealment/comfort noise).
 */
#include "core/amr.h"

#include <opencore-amrnb/interf_dec.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "trackd/error.h"

#define MAGIC "#!AMR\n"
#define MAGIC_LEN 6
#define MODE_NO_DATA 15
#define FRAME_MAX 32 /* ToC byte + the largest (MR122) payload */

/* Speech bytes after the ToC byte per frame type; -1 for the types an
 * AMR-NB file must not hold (9..11 are other codecs' SID, 12..14 spare). */
static const int payload_size[16] = {
    12, 13, 15, 17, 19, 20, 26, 31, /* MR475 .. MR122 */
    5,                              /* 8: AMR SID (comfort noise) */
    -1, -1, -1, -1, -1, -1,         /* 9..14: reserved */
    0,                              /* 15: NO_DATA */
};

static int fail(char *err, size_t errcap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t errcap, const char *fmt, ...)
{
    if (err && errcap) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errcap, fmt, ap);
        va_end(ap);
    }
    return TD_EINVAL;
}

static int starts(const uint8_t *p, size_t len, const char *lit)
{
    size_t n = strlen(lit);
    return len >= n && memcmp(p, lit, n) == 0;
}

int td_amr_info_get(const uint8_t *amr, size_t len, td_amr_info *out, char *err, size_t errcap)
{
    if (!amr || len == 0)
        return fail(err, errcap, "amr: empty input");
    if (!starts(amr, len, MAGIC)) {
        if (starts(amr, len, "#!AMR-WB\n") || starts(amr, len, "#!AMR-WB_MC1.0\n"))
            return fail(err, errcap,
                        "amr: an AMR-WB file; only AMR-NB (\"#!AMR\\n\") is supported");
        if (starts(amr, len, "#!AMR_MC1.0\n"))
            return fail(err, errcap,
                        "amr: a multi-channel AMR file; only single-channel \"#!AMR\\n\" is "
                        "supported");
        return fail(err, errcap,
                    "amr: missing the \"#!AMR\\n\" header at the start of the file (raw frames "
                    "without it are not accepted)");
    }

    int frames = 0;
    size_t off = MAGIC_LEN;
    while (off < len) {
        /* ToC: F(1) FT(4) Q(1) P(2). F and P are 0 in a file; some devices
         * set them anyway, so only the frame type is checked. */
        int mode = (amr[off] >> 3) & 0x0f;
        int size = payload_size[mode];
        if (size < 0)
            return fail(err, errcap, "amr: reserved frame type %d at byte offset %zu", mode, off);
        if (len - off - 1 < (size_t)size)
            return fail(err, errcap,
                        "amr: truncated frame at byte offset %zu (type %d needs %d bytes after "
                        "its ToC byte, %zu left)",
                        off, mode, size, len - off - 1);
        if (frames == TD_AMR_MAX_FRAMES)
            return fail(err, errcap, "amr: longer than %d s (more than %d frames)",
                        TD_AMR_MAX_FRAMES * TD_AMR_FRAME_MS / 1000, TD_AMR_MAX_FRAMES);
        frames++;
        off += 1 + (size_t)size;
    }
    if (frames == 0)
        return fail(err, errcap, "amr: no audio frames after the header");

    if (out) {
        out->frames = frames;
        out->duration_ms = (int64_t)frames * TD_AMR_FRAME_MS;
    }
    return 0;
}

static void put_le16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static void put_le32(uint8_t *p, uint32_t v)
{
    put_le16(p, (uint16_t)v);
    put_le16(p + 2, (uint16_t)(v >> 16));
}

/* The canonical 44-byte header of a PCM WAV file: RIFF, a 16-byte "fmt "
 * chunk (PCM, mono, 8000 Hz, 16 bits) and the "data" chunk's header. */
static void wav_header(uint8_t *h, uint32_t data_len)
{
    memcpy(h, "RIFF", 4);
    put_le32(h + 4, 36 + data_len);
    memcpy(h + 8, "WAVEfmt ", 8);
    put_le32(h + 16, 16);       /* fmt chunk size */
    put_le16(h + 20, 1);        /* PCM */
    put_le16(h + 22, 1);        /* channels */
    put_le32(h + 24, 8000);     /* sample rate */
    put_le32(h + 28, 8000 * 2); /* byte rate */
    put_le16(h + 32, 2);        /* block align */
    put_le16(h + 34, 16);       /* bits per sample */
    memcpy(h + 36, "data", 4);
    put_le32(h + 40, data_len);
}

int td_amr_to_wav(const uint8_t *amr, size_t len, uint8_t **wav, size_t *wav_len, char *err,
                  size_t errcap)
{
    td_amr_info info;
    uint8_t *buf = NULL;
    void *dec = NULL;
    int rc;

    *wav = NULL;
    *wav_len = 0;
    rc = td_amr_info_get(amr, len, &info, err, errcap);
    if (rc)
        return rc;

    /* At most 30000 frames * 320 bytes: no overflow in 32 bits. */
    size_t data_len = (size_t)info.frames * TD_AMR_FRAME_SAMPLES * 2;
    buf = malloc(TD_AMR_WAV_HEADER + data_len);
    dec = Decoder_Interface_init();
    if (!buf || !dec) {
        fail(err, errcap, "amr: out of memory");
        rc = TD_ENOMEM;
        goto out;
    }
    wav_header(buf, (uint32_t)data_len);

    uint8_t *pcm = buf + TD_AMR_WAV_HEADER;
    size_t off = MAGIC_LEN;
    for (int i = 0; i < info.frames; i++) {
        /* The frame is copied into a zeroed buffer of the largest size so
         * the decoder never reads past the end of the input. */
        uint8_t frame[FRAME_MAX] = {0};
        short samples[TD_AMR_FRAME_SAMPLES]; /* the library's type */
        size_t n = 1 + (size_t)payload_size[(amr[off] >> 3) & 0x0f];
        memcpy(frame, amr + off, n);
        off += n;
        Decoder_Interface_Decode(dec, frame, samples, 0);
        for (int s = 0; s < TD_AMR_FRAME_SAMPLES; s++, pcm += 2)
            put_le16(pcm, (uint16_t)samples[s]);
    }

    *wav = buf;
    *wav_len = TD_AMR_WAV_HEADER + data_len;
    buf = NULL;
    rc = 0;
out:
    if (dec)
        Decoder_Interface_exit(dec);
    free(buf);
    return rc;
}
