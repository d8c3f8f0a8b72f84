/*
 * A growable text buffer (HTTP and WebSocket bodies, the store's attribute
 * text). Writers append and keep it NUL-terminated; an allocation failure
 * sets `oom` and later appends do nothing, so callers check once at the end.
 */
#ifndef TRACKD_CORE_SBUF_H
#define TRACKD_CORE_SBUF_H

#include <stdbool.h>
#include <stddef.h>

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

#endif
