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

#define TD_MAX_RECORDS 256 /* records one frame may produce: a Teltonika packet holds up to 255 */
#define TD_REPLY_MAX 1024  /* bytes of reply one frame may produce */
#define TD_ERRMSG_MAX 200
#define TD_PROTO_STATE_MAX 64 /* per-session protocol scratch, bytes */
#define TD_ACK_MAX 32         /* command acknowledgement key, with its NUL */
#define TD_ACK_RESULT_MAX 128
#define TD_MEDIA_KEY_MAX 32
#define TD_ACK_ANY "*"

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

    /*
     * Set by decode() when the frame answers a command the server sent:
     * ack is the key encode() returned for that command (TD_ACK_ANY: the
     * oldest command still waiting, for protocols whose answers do not say
     * which command they answer). ack_failed: the device refused it.
     * ack_result: what the device answered, as text ("" when nothing).
     */
    char ack[TD_ACK_MAX];
    bool ack_failed;
    char ack_result[TD_ACK_RESULT_MAX];

    /*
     * Set by decode() when the frame carries a voice message or a chunk of
     * one. Chunks of one message share `key` (the protocol's message id; ""
     * for a message that always arrives whole) and are numbered `index` of
     * `total` (1 of 1 for a whole message; the base, 0 or 1, is the
     * protocol's). data points into the frame, or into media_buf when the
     * bytes had to be unescaped; decoders leave media.len 0 when media_buf is
     * NULL or too small and the bytes needed unescaping.
     */
    struct td_media {
        bool present;
        char key[TD_MEDIA_KEY_MAX];
        int index, total;
        const uint8_t *data;
        size_t len;
    } media;
    uint8_t *media_buf; /* caller-provided scratch, or NULL */
    size_t media_cap;
} td_decode_ctx;

/* ---- commands ------------------------------------------------------------ */

/* What a command parameter holds. */
enum td_param_kind {
    TD_PARAM_PHONE, /* '+' optional, then 3-20 digits */
    TD_PARAM_INT,   /* integer in [min, max] */
    TD_PARAM_BOOL,  /* true/false */
    TD_PARAM_TEXT,  /* UTF-8 text, min..max characters, no control characters */
    TD_PARAM_HEX,   /* bytes given as hex, min..max bytes */
    TD_PARAM_DATA,  /* binary payload (voice), min..max bytes; the core fills it */
};

#define TD_CMD_PARAMS_MAX 4

typedef struct td_cmd_param {
    const char *name; /* attribute key: "phone", "index", "frequency", ... */
    enum td_param_kind kind;
    bool optional;      /* may be left out: INT then takes def, others are empty */
    long min, max, def; /* INT: value range and default; TEXT/HEX/DATA/PHONE: length */
    const char *label;  /* for forms: "Phone number", "Interval (s)" */
} td_cmd_param;

/* A command type a protocol can encode. Lists end with type == NULL. */
typedef struct td_cmd_type {
    const char *type;  /* generic name, as in CONTRACT.md: "positionSingle", ... */
    const char *label; /* for menus: "Locate now" */
    td_cmd_param params[TD_CMD_PARAMS_MAX]; /* unused slots have name == NULL */
} td_cmd_type;

/* One validated argument (by the index of its td_cmd_param). */
typedef struct td_cmd_arg {
    bool set;
    long num;        /* INT, BOOL (0/1) */
    const char *str; /* PHONE, TEXT (UTF-8); HEX and DATA as bytes */
    size_t len;
} td_cmd_arg;

/* A command handed to encode(): its type entry and validated arguments. */
typedef struct td_command {
    const td_cmd_type *def;
    int64_t id; /* store id; protocols with a serial field derive it from this */
    td_cmd_arg arg[TD_CMD_PARAMS_MAX];
} td_command;

typedef struct td_protocol {
    /* Registry key, file name, config prefix and `decode --protocol` name. */
    const char *name;
    /* Example devices that speak it, for /api/server and the docs. */
    const char *devices;
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
    /* commands: the command types encode() supports (NULL: no downlink). */
    const td_cmd_type *commands;
    /*
     * encode: writes `cmd` for the device of session `s` (its device_id and
     * state as decode() left them) into out. Sets *len, and ack to the key
     * decode() will report when the device answers ("" when the protocol
     * defines no answer). Returns 0, or a negative TD_E* code with a message
     * in err starting with the protocol name (TD_ETOOBIG: does not fit cap).
     */
    int (*encode)(const td_session *s, const td_command *cmd, uint8_t *out, size_t cap, size_t *len,
                  char ack[TD_ACK_MAX], char *err, size_t errcap);
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
/*
 * Detection of input that ends here: a datagram, a `decode` line, a stream
 * at its end, a frame whose terminator was cut off. As td_detect(), and
 * when that cannot decide, the input is judged as if a line end followed
 * it, so a text frame that only its terminator tells apart (a gps103
 * heartbeat "<imei>" from the start of a gotop "<imei>,CMD-T") is found.
 */
const td_protocol *td_detect_final(const uint8_t *buf, size_t len, unsigned transport, bool *maybe);

/* The command type `type` of protocol p, or NULL when p cannot encode it. */
const td_cmd_type *td_cmd_type_find(const td_protocol *p, const char *type);
/* Index of parameter `name` in t->params, or -1. */
int td_cmd_param_index(const td_cmd_type *t, const char *name);

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
