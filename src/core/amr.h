/*
 * AMR-NB voice messages (what GPS watches send) checked and turned into a
 * WAV file a browser can play. The input is the AMR storage format of RFC
 * 4867 section 5: the magic "#!AMR\n", then frames of one ToC byte (bits
 * 6..3 the frame type) and its speech bits; each frame is 20 ms. Decoding
 * is done by libopencore-amrnb; this module only frames, bounds and wraps.
 */
#ifndef TRACKD_AMR_H
#define TRACKD_AMR_H

#include <stddef.h>
#include <stdint.h>

/* Samples per frame (8000 Hz x 20 ms) and the longest input accepted:
 * 10 minutes of audio, so a decoded file stays under 10 MB. */
#define TD_AMR_FRAME_SAMPLES 160
#define TD_AMR_FRAME_MS 20
#define TD_AMR_MAX_FRAMES 30000

/* Size of the WAV header td_amr_to_wav() writes before the samples. */
#define TD_AMR_WAV_HEADER 44

typedef struct td_amr_info {
    int frames;          /* frames in the file, NO_DATA frames included */
    int64_t duration_ms; /* frames * 20 */
} td_amr_info;

/* Checks an AMR-NB file: the magic, every frame's type (9..14 are refused)
 * and size; a truncated last frame, an empty file or one with no frame,
 * and more than TD_AMR_MAX_FRAMES frames are errors.
 * 'amr'/'len' the file's bytes; 'out' filled on success; 'err' gets an
 * "amr: ..." message naming the byte offset of a bad frame (may be NULL).
 * Returns 0 or TD_EINVAL. */
int td_amr_info_get(const uint8_t *amr, size_t len, td_amr_info *out, char *err, size_t errcap);

/* Decodes an AMR-NB file (checked as by td_amr_info_get()) to a 16-bit
 * mono 8000 Hz PCM WAV file: a 44-byte RIFF header, then frames * 160
 * little-endian samples. On success *wav is a malloc'ed buffer the caller
 * frees and *wav_len its size. Returns 0, TD_EINVAL (bad input, message in
 * 'err') or TD_ENOMEM; on error *wav is NULL. */
int td_amr_to_wav(const uint8_t *amr, size_t len, uint8_t **wav, size_t *wav_len, char *err,
                  size_t errcap);

#endif
