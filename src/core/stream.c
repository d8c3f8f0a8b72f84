/* Detection and framing over a byte stream; see stream.h. */
#include "core/stream.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/text.h"

void td_stream_init(td_stream *s, unsigned transport, const td_protocol *forced)
{
    memset(s, 0, sizeof(*s));
    s->transport = transport;
    s->proto = forced;
}

void td_stream_free(td_stream *s)
{
    free(s->buf);
    s->buf = NULL;
    s->len = s->cap = 0;
}

static size_t limit_of(const td_stream *s)
{
    return s->proto ? s->proto->max_frame : TD_DETECT_LIMIT;
}

static int append(td_stream *s, const uint8_t *data, size_t len)
{
    if (len == 0)
        return 0;
    if (s->len + len > s->cap) {
        size_t cap = s->cap ? s->cap : 1024;
        while (cap < s->len + len)
            cap *= 2;
        uint8_t *nb = realloc(s->buf, cap);
        if (!nb)
            return TD_ENOMEM;
        s->buf = nb;
        s->cap = cap;
    }
    memcpy(s->buf + s->len, data, len);
    s->len += len;
    return 0;
}

static int unknown_error(const td_stream *s, int code, char *err, size_t errcap)
{
    char hex[2 * 32 + 1];
    size_t n = s->len < 32 ? s->len : 32;
    td_hex_encode(s->buf, n, hex, sizeof(hex));
    snprintf(err, errcap, "%s: first bytes %s%s",
             code == TD_ETOOBIG ? "protocol not detected within limit" : "unknown protocol", hex,
             s->len > n ? "..." : "");
    return code;
}

/* Runs detection if needed. Returns 1 when detected, 0 when more is needed. */
static int detect(td_stream *s, bool final, char *err, size_t errcap)
{
    bool maybe;

    if (s->proto)
        return 1;
    if (s->len == 0)
        return 0;
    s->proto = final ? td_detect_final(s->buf, s->len, s->transport, &maybe)
                     : td_detect(s->buf, s->len, s->transport, &maybe);
    if (s->proto)
        return 1;
    if (!maybe || final)
        return unknown_error(s, TD_EUNSUPPORTED, err, errcap);
    if (s->len > TD_DETECT_LIMIT)
        return unknown_error(s, TD_ETOOBIG, err, errcap);
    return 0;
}

/*
 * Hands out the complete frames at the start of buf[0..len) and sets *used
 * to the bytes consumed (frames and skipped noise).
 */
static int frames_of(td_stream *s, const uint8_t *buf, size_t len, size_t *used, td_frame_cb cb,
                     void *arg, char *err, size_t errcap)
{
    size_t off = 0;
    int rc = 0;

    while (off < len) {
        size_t skip = 0;
        long n = s->proto->frame(buf + off, len - off, &skip);
        if (skip > len - off)
            skip = len - off;
        off += skip;
        if (n == 0)
            break;
        if (n == TD_ETOOBIG) {
            snprintf(err, errcap,
                     "%s: frame too large (%zu bytes received; largest frame %zu bytes)",
                     s->proto->name, len - off, s->proto->max_frame);
            rc = TD_ETOOBIG;
            break;
        }
        if (n < 0) {
            snprintf(err, errcap, "%s: %s", s->proto->name, td_strerror((int)n));
            rc = (int)n;
            break;
        }
        if ((size_t)n > len - off || (size_t)n > s->proto->max_frame) {
            snprintf(err, errcap, "%s: frame of %ld bytes exceeds the limit of %zu bytes",
                     s->proto->name, n, s->proto->max_frame);
            rc = TD_ETOOBIG;
            break;
        }
        s->frames++;
        cb(arg, s, buf + off, (size_t)n);
        off += (size_t)n;
    }
    *used = off;
    return rc;
}

static int over_limit(td_stream *s, char *err, size_t errcap)
{
    if (s->len <= limit_of(s))
        return 0;
    snprintf(err, errcap, "%s: %zu bytes buffered without a complete frame (limit %zu)",
             s->proto->name, s->len, limit_of(s));
    return TD_ETOOBIG;
}

/* Frames out of the buffer; an emptied buffer is given back, so an idle
 * connection holds no input memory. */
static int drain(td_stream *s, td_frame_cb cb, void *arg, char *err, size_t errcap)
{
    size_t off = 0;
    int rc = frames_of(s, s->buf, s->len, &off, cb, arg, err, errcap);

    if (off) {
        memmove(s->buf, s->buf + off, s->len - off);
        s->len -= off;
    }
    if (s->len == 0) {
        free(s->buf);
        s->buf = NULL;
        s->cap = 0;
    }
    return rc ? rc : over_limit(s, err, errcap);
}

int td_stream_feed(td_stream *s, const uint8_t *data, size_t len, td_frame_cb cb, void *arg,
                   char *err, size_t errcap)
{
    if (s->proto && s->len == 0) {
        /* Nothing buffered: frame straight from the caller's bytes and keep
         * only an incomplete tail. */
        size_t off = 0;
        int rc = frames_of(s, data, len, &off, cb, arg, err, errcap);
        if (rc)
            return rc;
        if ((rc = append(s, data + off, len - off)) != 0)
            return rc;
        return over_limit(s, err, errcap);
    }
    int rc = append(s, data, len);
    if (rc)
        return rc;
    rc = detect(s, false, err, errcap);
    if (rc <= 0)
        return rc;
    return drain(s, cb, arg, err, errcap);
}

int td_stream_flush(td_stream *s, td_frame_cb cb, void *arg, char *err, size_t errcap)
{
    int rc = detect(s, true, err, errcap);
    if (rc <= 0)
        return rc;
    rc = drain(s, cb, arg, err, errcap);
    if (rc)
        return rc;
    /* Whatever is left is a frame without its terminator. */
    size_t start = 0;
    while (start < s->len && (s->buf[start] == '\r' || s->buf[start] == '\n'))
        start++;
    if (start < s->len) {
        s->frames++;
        cb(arg, s, s->buf + start, s->len - start);
    }
    s->len = 0;
    return 0;
}
