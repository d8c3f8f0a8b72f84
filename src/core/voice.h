/*
 * Voice messages from devices: chunks put back together per device, and
 * whole messages written as files under the media directory.
 *
 * A message arrives whole (watch TK) or in numbered chunks that share a key
 * (iw AP07, watch JXTK). Reassembly is bounded: at most TD_VOICE_MAX_BYTES
 * and TD_VOICE_MAX_CHUNKS per message, one message in progress per device
 * (a chunk of another message drops the unfinished one, with a log line),
 * and an unfinished message older than TD_VOICE_STALE_MS is dropped.
 */
#ifndef TRACKD_VOICE_H
#define TRACKD_VOICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "trackd/protocol.h"

#define TD_VOICE_MAX_BYTES (512 * 1024)
#define TD_VOICE_MAX_CHUNKS 512
#define TD_VOICE_STALE_MS (5 * 60 * 1000)

typedef struct td_voice_asm td_voice_asm;

/*
 * Adds what a frame carried to the device's reassembly (*slot, created on
 * demand). Returns 1 with the whole message in *out / *len (malloc'ed; the
 * caller frees it) when it is complete, 0 when more chunks are awaited, or
 * a negative TD_E* code with a message in err (the chunk is dropped). On
 * 0 or 1, err is "" or a warning: an unfinished message was dropped.
 */
int td_voice_add(td_voice_asm **slot, const struct td_media *m, int64_t now_ms, uint8_t **out,
                 size_t *len, char *err, size_t errcap);

/* Drops an unfinished message that has waited too long; true if it did. */
bool td_voice_expire(td_voice_asm **slot, int64_t now_ms);

void td_voice_asm_free(td_voice_asm *a);

/*
 * Writes a message durably (written, then fsync'ed) as
 * <dir>/<device_id>/<yyyymmdd-hhmmss>-<n>.amr, creating directories as
 * needed, and sets name to the path relative to dir. Returns 0 or TD_EIO
 * with a message in err.
 */
int td_voice_write(const char *dir, int64_t device_id, int64_t time_ms, const uint8_t *data,
                   size_t len, char *name, size_t namecap, char *err, size_t errcap);

/* Reads a file written by td_voice_write (at most max bytes) into a
 * malloc'ed buffer. Returns 0, TD_ENOTFOUND, TD_ETOOBIG or TD_EIO. */
int td_voice_read(const char *dir, const char *name, size_t max, uint8_t **out, size_t *len);

/* The media directory of a configuration: media_dir, or the SQLite path
 * with ".media" appended ("media" for a PostgreSQL target). */
void td_voice_dir(const char *media_dir, const char *db, char *out, size_t cap);

#endif
