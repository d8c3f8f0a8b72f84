/* A growable text buffer; see sbuf.h. */
#include "core/sbuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void td_sbuf_init(td_sbuf *b, size_t pre)
{
    memset(b, 0, sizeof(*b));
    b->pre = pre;
}

void td_sbuf_free(td_sbuf *b)
{
    free(b->data);
    td_sbuf_init(b, b->pre);
}

void td_sbuf_reset(td_sbuf *b)
{
    b->len = 0;
    b->oom = false;
    if (b->data)
        b->data[b->pre] = '\0';
}

bool td_sbuf_reserve(td_sbuf *b, size_t more)
{
    if (b->oom)
        return false;
    size_t need = b->pre + b->len + more + 1;
    if (need <= b->cap)
        return true;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need)
        cap *= 2;
    char *p = realloc(b->data, cap);
    if (!p) {
        b->oom = true;
        return false;
    }
    b->data = p;
    b->cap = cap;
    return true;
}

void td_sbuf_add(td_sbuf *b, const void *data, size_t len)
{
    if (!td_sbuf_reserve(b, len))
        return;
    memcpy(b->data + b->pre + b->len, data, len);
    b->len += len;
    b->data[b->pre + b->len] = '\0';
}

void td_sbuf_puts(td_sbuf *b, const char *s)
{
    td_sbuf_add(b, s, strlen(s));
}

void td_sbuf_printf(td_sbuf *b, const char *fmt, ...)
{
    va_list ap;
    char small[256];
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof(small), fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n < sizeof(small)) {
        td_sbuf_add(b, small, (size_t)n);
        return;
    }
    if (!td_sbuf_reserve(b, (size_t)n))
        return;
    va_start(ap, fmt);
    vsnprintf(b->data + b->pre + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}
