/*
 * The bounded output writer of the protocols' encode() functions and the
 * pieces several protocols write; see encode.h.
 */
#include "protocols/encode.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int td_enc_fail(td_enc *e, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->err, e->errcap, fmt, ap);
    va_end(ap);
    return code;
}

void td_enc_put(td_enc *e, const void *data, size_t n)
{
    if (!e->over && n <= e->cap - e->n) {
        if (n)
            memcpy(e->out + e->n, data, n);
    } else {
        e->over = true;
    }
    e->n += n;
}

void td_enc_putf(td_enc *e, const char *fmt, ...)
{
    char buf[TD_ENC_PUTF_MAX + 1];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    if (n < 0) {
        e->over = true;
    } else if ((size_t)n >= sizeof(buf)) {
        e->over = true;
        e->n += (size_t)n;
    } else {
        td_enc_put(e, buf, (size_t)n);
    }
}

const td_cmd_arg *td_enc_arg(const td_enc *e, const char *name)
{
    int i = td_cmd_param_index(e->cmd->def, name);
    return i < 0 ? NULL : &e->cmd->arg[i];
}

int td_enc_custom(td_enc *e, const td_cmd_arg **given)
{
    const td_cmd_arg *data = td_enc_arg(e, "data"), *hex = td_enc_arg(e, "hex");
    if (data->set == hex->set)
        return td_enc_fail(e, TD_EINVAL, "%s: give data or hex", e->proto);
    const td_cmd_arg *a = data->set ? data : hex;
    td_enc_put(e, a->str, a->len);
    if (given)
        *given = a;
    return 0;
}

bool td_enc_utf16_hex(td_enc *e, const char *s, size_t n)
{
    static const unsigned long least[] = {0, 0x80, 0x800, 0x10000}; /* shortest form */
    const unsigned char *p = (const unsigned char *)s, *end = p + n;

    while (p < end) {
        unsigned long cp;
        int more;
        if (*p < 0x80) {
            cp = *p;
            more = 0;
        } else if ((*p & 0xE0) == 0xC0) {
            cp = *p & 0x1F;
            more = 1;
        } else if ((*p & 0xF0) == 0xE0) {
            cp = *p & 0x0F;
            more = 2;
        } else if ((*p & 0xF8) == 0xF0) {
            cp = *p & 0x07;
            more = 3;
        } else {
            return false;
        }
        if (end - p <= more)
            return false;
        for (int i = 1; i <= more; i++) {
            if ((p[i] & 0xC0) != 0x80)
                return false;
            cp = cp << 6 | (p[i] & 0x3F);
        }
        if (cp < least[more] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        p += more + 1;
        if (cp >= 0x10000) {
            cp -= 0x10000;
            td_enc_putf(e, "%04lX%04lX", 0xD800 + (cp >> 10), 0xDC00 + (cp & 0x3FF));
        } else {
            td_enc_putf(e, "%04lX", cp);
        }
    }
    return true;
}

int td_enc_tz_hours(td_enc *e, long min, char out[TD_ENC_TZ_MAX])
{
    static const char *const frac[] = {"", ".25", ".5", ".75"};
    long a = min < 0 ? -min : min;

    if (a % 15)
        return td_enc_fail(e, TD_EINVAL,
                           "%s: the time zone must be a multiple of 15 minutes (%ld is not)",
                           e->proto, min);
    snprintf(out, TD_ENC_TZ_MAX, "%s%ld%s", min < 0 ? "-" : "", a / 60, frac[a % 60 / 15]);
    return 0;
}

int td_enc_done(td_enc *e, size_t *len, char ack[TD_ACK_MAX])
{
    if (e->over) {
        ack[0] = '\0';
        return td_enc_fail(e, TD_ETOOBIG, "%s: the %s command does not fit in %zu bytes", e->proto,
                           e->cmd->def->type, e->cap);
    }
    *len = e->n;
    return 0;
}
