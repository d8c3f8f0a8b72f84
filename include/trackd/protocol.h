/*
 * The protocol descriptor and the contracts between the core and a protocol.
 *
 * Each protocol lives in one file under src/protocols/ and ends with one
 * td_protocol descriptor. The registry (src/protocols/registry.h) lists them
 * in detection order. The core owns the bytes and the connection; a
 * protocol only answers four questions:
 *
 *   detect  "are these first bytes mine?"       (yes / no / need more)
 *   frame   "where does the next frame end?"     (length / need more / error)
 *   decode  "what does this frame say, and what do I answer?"
 *   encode  "how is this command written?"       (NULL until commands exist)
 *
 * None of them allocate. decode() fills the records and the reply buffer
 * held by a td_decode_ctx that the caller provides.
 */
#ifndef TRACKD_PROTOCOL_H
#define TRACKD_PROTOCOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "trackd/error.h"
#include "trackd/record.h"

enum td_detect { TD_DETECT_NO = 0, TD_DETECT_MAYBE = 1, TD_DETECT_YES = 2 };

enum td_transport { TD_TCP = 1, TD_UDP = 2 };

#define TD_MAX_RECORDS 8  /* records one frame may produce */
#define TD_REPLY_MAX 1024 /* bytes of reply one frame may produce */
#define TD_ERRMSG_MAX 200
#define TD_PROTO_STATE_MAX 64 /* per-session protocol scratch, bytes */

/* Per-session state a protocol may keep between frames of one connection
 * (or one UDP peer). The core zeroes it when a session starts. */
typedef struct td_session {
    char device_id[TD_DEVICE_ID_MAX]; /* set by decode on login/identify */
    unsigned char state[TD_PROTO_STATE_MAX];
} td_session;

typedef struct td_decode_ctx {
    td_session *session;
    int64_t now_ms; /* server time, used for replies and for records whose
                       frame carries no time */
    int tz_minutes; /* server's offset from UTC for replies that carry
                       local time; 0 = send UTC */
    td_record rec[TD_MAX_RECORDS];
    int nrec;
    uint8_t reply[TD_REPLY_MAX];
    size_t reply_len;
    char err[TD_ERRMSG_MAX]; /* message for a negative decode() result */
} td_decode_ctx;

typedef struct td_protocol {
    /* Registry key, file name, config prefix and `decode --protocol` name. */
    const char *name;
    /* Bit set of TD_TCP / TD_UDP. */
    unsigned transports;
    /* Largest frame this protocol accepts, bytes (terminators included). */
    size_t max_frame;
    /*
     * detect: looks at the first `len` bytes of a connection or datagram.
     * Returns TD_DETECT_YES, TD_DETECT_NO, or TD_DETECT_MAYBE when more bytes
     * are needed to tell. Must be unambiguous against every other protocol.
     */
    int (*detect)(const uint8_t *buf, size_t len);
    /*
     * frame: finds the next frame in `buf`. Sets *skip to the number of
     * leading bytes to discard (noise between frames). Returns the frame
     * length (> 0, the frame starts at buf + *skip), 0 when more input is
     * needed, TD_ETOOBIG when the frame would exceed max_frame, or
     * TD_EUNFRAMEABLE when the stream can no longer be split.
     */
    long (*frame)(const uint8_t *buf, size_t len, size_t *skip);
    /*
     * decode: turns one frame into records (ctx->rec, ctx->nrec) and the
     * reply to send (ctx->reply, ctx->reply_len). A frame that produces no
     * record is fine (nrec = 0). Returns 0, or a negative TD_E* code with a
     * message in ctx->err that starts with the protocol name.
     */
    int (*decode)(td_decode_ctx *ctx, const uint8_t *frame, size_t len);
    /* encode: writes a command for the device; NULL when unsupported. */
    int (*encode)(const td_session *s, const char *type, const char *args, uint8_t *out, size_t cap,
                  size_t *len);
} td_protocol;

/* Registry (src/protocols/registry.c). Protocols in detection order. */
extern const td_protocol *const td_protocols[];
extern const size_t td_protocol_count;

/* Finds a protocol by name (aliases included); NULL when unknown. */
const td_protocol *td_protocol_find(const char *name);

/*
 * Detection over all registered protocols in order. Returns the first that
 * says yes; sets *maybe when none said yes but at least one needs more bytes.
 * Returns NULL with *maybe false when no protocol can match.
 */
const td_protocol *td_detect(const uint8_t *buf, size_t len, unsigned transport, bool *maybe);

/* Prepares ctx for decoding one frame of `session`. */
void td_decode_ctx_reset(td_decode_ctx *ctx, td_session *session, int64_t now_ms);

/* Helpers for decoders. */

/* Adds a new record of `type` for the session's device and returns it, or
 * NULL when TD_MAX_RECORDS are in use. */
td_record *td_ctx_add(td_decode_ctx *ctx, td_rec_type type);
/* Sets ctx->err (printf-style) and returns `code`. */
int td_ctx_error(td_decode_ctx *ctx, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Appends bytes / a formatted string to the reply. TD_ETOOBIG when full. */
int td_ctx_reply(td_decode_ctx *ctx, const void *data, size_t len);
int td_ctx_replyf(td_decode_ctx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Sets the session's device id (copied, truncated never: TD_EINVAL when it
 * does not fit or holds characters other than [0-9A-Za-z_-]). */
int td_session_identify(td_session *s, const char *id, size_t len);

#endif
