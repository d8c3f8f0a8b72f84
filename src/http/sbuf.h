/*
 * A growable byte buffer for building HTTP and WebSocket bodies, and the
 * JSON writers of the API objects (position, event, device, user). Writers
 * append; an allocation failure sets `oom` and later appends do nothing, so
 * callers check once at the end.
 */
#ifndef TRACKD_SBUF_H
#define TRACKD_SBUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/gateway.h"
#include "trackd/store.h"

typedef struct td_sbuf {
    char *data;
    size_t len, cap;
    size_t pre; /* bytes reserved in front of data (LWS_PRE) */
    bool oom;
} td_sbuf;

void td_sbuf_init(td_sbuf *b, size_t pre);
void td_sbuf_free(td_sbuf *b);
void td_sbuf_reset(td_sbuf *b);
bool td_sbuf_reserve(td_sbuf *b, size_t more);
void td_sbuf_add(td_sbuf *b, const void *data, size_t len);
void td_sbuf_puts(td_sbuf *b, const char *s);
void td_sbuf_printf(td_sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The text with its reserved front space (for lws_write). */
static inline char *td_sbuf_text(td_sbuf *b)
{
    return b->data ? b->data + b->pre : NULL;
}

/* JSON pieces. */
void td_json_str(td_sbuf *b, const char *s); /* quoted, escaped; NULL -> null */
void td_json_time(td_sbuf *b, int64_t ms);   /* ISO 8601 string; 0 -> null */
void td_json_double(td_sbuf *b, double v);
void td_json_id(td_sbuf *b, int64_t id); /* a store id; 0 (none) -> null */

/* XML text with & < > " escaped. */
void td_xml_text(td_sbuf *b, const char *s);
/* A CSV field, quoted when needed. */
void td_csv_field(td_sbuf *b, const char *s);

/* API objects (CONTRACT.md field names). */
void td_json_position(td_sbuf *b, const td_store_position *p);
void td_json_event(td_sbuf *b, const td_store_event *e);
/* latest: the device's newest record JSON (NULL -> null). */
void td_json_device(td_sbuf *b, const td_device *d);
void td_json_user(td_sbuf *b, const td_store_user *u);

#endif
