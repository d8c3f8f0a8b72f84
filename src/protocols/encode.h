/*
 * The output writer shared by the protocols' encode() functions: one
 * td_enc per call holds the command, the caller's bounded buffer and where
 * the error message goes. Writers append; a piece that does not fit sets
 * `over` and nothing is written past cap, so an encoder writes the whole
 * command and checks once at the end (td_enc_done: TD_ETOOBIG). Also the
 * pieces more than one protocol writes: custom data-or-hex bytes, text as
 * UTF-16BE hex, and a time zone in decimal hours.
 *
 * Not a protocol: the protocols are those of TD_PROTOCOL_LIST (registry.h).
 */
#ifndef TRACKD_PROTOCOLS_ENCODE_H
#define TRACKD_PROTOCOLS_ENCODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "trackd/protocol.h"

/* One encode() call. Set proto, cmd, out, cap, err and errcap; the rest
 * starts zeroed. */
typedef struct td_enc {
    const char *proto;     /* protocol name, the prefix of the shared messages */
    const td_command *cmd; /* the command being written */
    uint8_t *out;          /* the caller's buffer, cap bytes */
    size_t cap;
    size_t n;  /* bytes the output needs so far, also those that did not fit */
    bool over; /* something did not fit: nothing is written past cap */
    char *err; /* the message of a failure, errcap bytes with its NUL */
    size_t errcap;
} td_enc;

/* Longest piece td_enc_putf() formats; a longer one counts as not fitting. */
#define TD_ENC_PUTF_MAX 95

/* Room for td_enc_tz_hours()'s text ("-11.75" and the like). */
#define TD_ENC_TZ_MAX 24

/* Writes the message to e->err and returns code (a negative TD_E*). */
int td_enc_fail(td_enc *e, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Appends n bytes of data, or sets e->over when they do not fit. */
void td_enc_put(td_enc *e, const void *data, size_t n);

/* Appends printf-style text (at most TD_ENC_PUTF_MAX bytes). */
void td_enc_putf(td_enc *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The argument for parameter `name` of e->cmd; NULL when its type has no
 * such parameter. */
const td_cmd_arg *td_enc_arg(const td_enc *e, const char *name);

/*
 * The custom command: appends the bytes of exactly one of its "data" and
 * "hex" arguments, as given. Sets *given (when not NULL) to the one used.
 * Returns 0, or TD_EINVAL ("<proto>: give data or hex") when both or
 * neither are set.
 */
int td_enc_custom(td_enc *e, const td_cmd_arg **given);

/*
 * Appends UTF-8 text s (n bytes) as UTF-16BE hex: 4 upper-case digits a
 * unit, characters beyond the BMP as surrogate pairs. Returns false when s
 * is not valid UTF-8 (overlong forms, surrogates and code points above
 * U+10FFFF included); what came before the bad byte is written.
 */
bool td_enc_utf16_hex(td_enc *e, const char *s, size_t n);

/*
 * Minutes east of UTC as decimal hours into out: "8", "-5", "5.5", "5.75",
 * "-0.5". Returns 0, or TD_EINVAL ("<proto>: the time zone must be a
 * multiple of 15 minutes (<min> is not)") for any other offset.
 */
int td_enc_tz_hours(td_enc *e, long min, char out[TD_ENC_TZ_MAX]);

/*
 * Ends encode(): when something did not fit, clears ack and returns
 * TD_ETOOBIG ("<proto>: the <type> command does not fit in <cap> bytes");
 * else sets *len to the bytes written and returns 0.
 */
int td_enc_done(td_enc *e, size_t *len, char ack[TD_ACK_MAX]);

#endif
