/*
 * Text-protocol helpers: spans, strict number parsing, UTC time and hex.
 * See text.h for the contracts.
 */
#include "core/text.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int td_split(td_span s, char sep, td_span *out, int max)
{
    int n = 0;
    const char *start = s.p, *end = s.p + s.n;

    if (max <= 0)
        return 0;
    for (const char *c = s.p; c < end && n < max - 1; c++) {
        if (*c == sep) {
            out[n].p = start;
            out[n].n = (size_t)(c - start);
            n++;
            start = c + 1;
        }
    }
    out[n].p = start;
    out[n].n = (size_t)(end - start);
    return n + 1;
}

static bool is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

td_span td_trim(td_span s)
{
    while (s.n > 0 && is_blank(s.p[0])) {
        s.p++;
        s.n--;
    }
    while (s.n > 0 && is_blank(s.p[s.n - 1]))
        s.n--;
    return s;
}

char *td_span_cstr(td_span s, char *buf, size_t cap)
{
    size_t n = s.n < cap - 1 ? s.n : cap - 1;
    memcpy(buf, s.p, n);
    buf[n] = '\0';
    return buf;
}

/* isdigit()/isxdigit() without the locale table lookup (every locale gives
 * the same answers for them). */
static inline bool is_digit(unsigned char c)
{
    return (unsigned)(c - '0') <= 9;
}

static inline int hex_value(unsigned char c)
{
    if (is_digit(c))
        return c - '0';
    c |= 0x20; /* lower case */
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

const char *td_span_show(td_span s, char *buf, size_t cap)
{
    td_span_cstr(s, buf, cap);
    for (char *c = buf; *c; c++)
        if (!isprint((unsigned char)*c))
            *c = '?';
    return buf;
}

bool td_span_digits(td_span s)
{
    for (size_t i = 0; i < s.n; i++)
        if (!is_digit((unsigned char)s.p[i]))
            return false;
    return s.n > 0;
}

bool td_span_hex(td_span s)
{
    for (size_t i = 0; i < s.n; i++)
        if (hex_value((unsigned char)s.p[i]) < 0)
            return false;
    return s.n > 0;
}

/* The part of s before its first NUL: the parsers read a span as the C
 * string it would be copied into. */
static size_t cstr_len(td_span s)
{
    const char *nul = memchr(s.p, '\0', s.n);
    return nul ? (size_t)(nul - s.p) : s.n;
}

bool td_parse_int(td_span s, int64_t *out)
{
    size_t i = 0, n;
    bool neg = false;
    uint64_t v = 0;

    if (s.n == 0 || s.n >= 32)
        return false;
    n = cstr_len(s);
    if (n > 0 && (s.p[0] == '-' || s.p[0] == '+')) {
        neg = s.p[0] == '-';
        i = 1;
    }
    if (i >= n)
        return false;
    for (; i < n; i++) {
        unsigned d = (unsigned)((unsigned char)s.p[i] - '0');
        if (d > 9 || v > (UINT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
    }
    if (v > (uint64_t)INT64_MAX + neg)
        return false; /* out of range, as strtoll's ERANGE */
    *out = !neg ? (int64_t)v : v > (uint64_t)INT64_MAX ? INT64_MIN : -(int64_t)v;
    return true;
}

bool td_parse_hex(td_span s, int64_t *out)
{
    int64_t v = 0;

    if (s.n == 0 || s.n > 15)
        return false;
    for (size_t i = 0; i < s.n; i++) {
        int c = (unsigned char)s.p[i];
        if (hex_value((unsigned char)c) < 0)
            return false;
        v = v * 16 + hex_value((unsigned char)c);
    }
    *out = v;
    return true;
}

/* 10^0 .. 10^22: every one exactly a double. */
static const double pow10_exact[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                     1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                     1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

bool td_parse_double(td_span s, double *out)
{
    char buf[48];
    char *end;
    size_t i = 0, n;
    uint64_t m = 0;
    int frac = -1, sig = 0;

    if (s.n == 0 || s.n >= sizeof(buf))
        return false;
    n = cstr_len(s);
    if (n > 0 && (s.p[0] == '-' || s.p[0] == '+'))
        i = 1;
    /* Only plain decimal notation: no hex floats, inf, nan or exponents. */
    bool digit = false;
    for (size_t k = i; k < n; k++) {
        char c = s.p[k];
        if (c >= '0' && c <= '9') {
            digit = true;
            if (m || c != '0')
                sig++;
            if (sig <= 19)
                m = m * 10 + (uint64_t)(c - '0');
            if (frac >= 0)
                frac++;
        } else if (c == '.' && frac < 0) {
            frac = 0;
        } else {
            return false; /* strtod would stop at it (a second point too) */
        }
    }
    if (!digit)
        return false;
    /* The mantissa and the power of ten are both exact doubles, so one
     * correctly rounded division gives what strtod gives. */
    if (frac < 0)
        frac = 0;
    if (sig <= 19 && m <= (1ULL << 53) && frac <= 22) {
        double v = (double)m / pow10_exact[frac];
        *out = s.p[0] == '-' ? -v : v;
        return true;
    }
    td_span_cstr(s, buf, sizeof(buf));
    errno = 0;
    double v = strtod(buf, &end);
    if (errno || *end || !isfinite(v))
        return false;
    *out = v;
    return true;
}

bool td_parse_fixed(const char *p, int digits, int *out)
{
    int v = 0;
    for (int i = 0; i < digits; i++) {
        if (!is_digit((unsigned char)p[i]))
            return false;
        int d = p[i] - '0';
        if (v > (INT_MAX - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *out = v;
    return true;
}

static bool is_leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

bool td_utc_ms(int year, int mon, int day, int hour, int min, int sec, int64_t *out)
{
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

    if (year < 1970 || year > 2200 || mon < 1 || mon > 12 || day < 1 || hour < 0 || hour > 23 ||
        min < 0 || min > 59 || sec < 0 || sec > 60)
        return false;
    if (day > mdays[mon - 1] + (mon == 2 && is_leap(year)))
        return false;
    /* Days from civil (proleptic Gregorian), after H. Hinnant's algorithm. */
    int y = year - (mon <= 2);
    int era = y / 400;
    int yoe = y - era * 400;
    int doy = (153 * (mon + (mon > 2 ? -3 : 9)) + 2) / 5 + day - 1;
    int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    int64_t days = (int64_t)era * 146097 + doe - 719468;
    *out = ((days * 24 + hour) * 60 + min) * 60000LL + sec * 1000LL;
    return true;
}

/* Six date digits in two-digit groups (day at `dpos`, year at `ypos`) and
 * six time digits. */
static bool parse_date_time(td_span date, int dpos, int ypos, td_span time, int64_t *out)
{
    int d, m, y, hh, mm, ss;

    if (date.n != 6 || time.n != 6)
        return false;
    if (!td_parse_fixed(date.p + dpos, 2, &d) || !td_parse_fixed(date.p + 2, 2, &m) ||
        !td_parse_fixed(date.p + ypos, 2, &y) || !td_parse_fixed(time.p, 2, &hh) ||
        !td_parse_fixed(time.p + 2, 2, &mm) || !td_parse_fixed(time.p + 4, 2, &ss))
        return false;
    return td_utc_ms(2000 + y, m, d, hh, mm, ss, out);
}

bool td_parse_ddmmyy_hhmmss(td_span date, td_span time, int64_t *out)
{
    return parse_date_time(date, 0, 4, time, out);
}

bool td_parse_yymmdd_hhmmss(td_span date, td_span time, int64_t *out)
{
    return parse_date_time(date, 4, 0, time, out);
}

int64_t td_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void td_utc_fields(int64_t ms, int *year, int *mon, int *day, int *hour, int *min, int *sec)
{
    int64_t secs = ms >= 0 ? ms / 1000 : (ms - 999) / 1000;
    int64_t days = secs >= 0 ? secs / 86400 : (secs - 86399) / 86400;
    int64_t rem = secs - days * 86400;

    *hour = (int)(rem / 3600);
    *min = (int)(rem % 3600 / 60);
    *sec = (int)(rem % 60);
    /* Civil from days (H. Hinnant). */
    days += 719468;
    int64_t era = (days >= 0 ? days : days - 146096) / 146097;
    int64_t doe = days - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *day = (int)(doy - (153 * mp + 2) / 5 + 1);
    *mon = (int)(mp < 10 ? mp + 3 : mp - 9);
    *year = (int)(yoe + era * 400 + (*mon <= 2));
}

char *td_iso8601(int64_t ms, char *buf, size_t cap)
{
    int y, mo, d, h, mi, s;
    int frac = (int)(((ms % 1000) + 1000) % 1000);

    td_utc_fields(ms, &y, &mo, &d, &h, &mi, &s);
    if (frac)
        snprintf(buf, cap, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", y, mo, d, h, mi, s, frac);
    else
        snprintf(buf, cap, "%04d-%02d-%02dT%02d:%02d:%02dZ", y, mo, d, h, mi, s);
    return buf;
}

bool td_parse_iso8601(const char *s, int64_t *out)
{
    int y, mo, d, h = 0, mi = 0, sec = 0, ms = 0;
    size_t n = strlen(s);
    const char *p;
    int64_t v;

    if (n < 10 || !td_parse_fixed(s, 4, &y) || s[4] != '-' || !td_parse_fixed(s + 5, 2, &mo) ||
        s[7] != '-' || !td_parse_fixed(s + 8, 2, &d))
        return false;
    p = s + 10;
    if (*p == 'T' || *p == ' ') {
        if (strlen(p) < 9 || !td_parse_fixed(p + 1, 2, &h) || p[3] != ':' ||
            !td_parse_fixed(p + 4, 2, &mi) || p[6] != ':' || !td_parse_fixed(p + 7, 2, &sec))
            return false;
        p += 9;
        if (*p == '.') {
            int digits = 0;
            p++;
            while (isdigit((unsigned char)*p)) {
                if (digits < 3)
                    ms = ms * 10 + (*p - '0');
                digits++;
                p++;
            }
            if (digits == 0)
                return false;
            for (; digits < 3; digits++)
                ms *= 10;
        }
    }
    if (!td_utc_ms(y, mo, d, h, mi, sec, &v))
        return false;
    v += ms;
    if (*p == 'Z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int oh, om;
        if (strlen(p) != 6 || !td_parse_fixed(p + 1, 2, &oh) || p[3] != ':' ||
            !td_parse_fixed(p + 4, 2, &om) || oh > 14 || om > 59)
            return false;
        int64_t off = (oh * 60 + om) * 60000LL;
        v += *p == '+' ? -off : off;
        p += 6;
    }
    if (*p)
        return false;
    *out = v;
    return true;
}

bool td_parse_dm(td_span s, int deg_digits, double *out)
{
    int deg;
    double min;

    if (s.n < (size_t)deg_digits + 2 || !td_parse_fixed(s.p, deg_digits, &deg))
        return false;
    td_span rest = {s.p + deg_digits, s.n - (size_t)deg_digits};
    if (!isdigit((unsigned char)rest.p[0]) || !td_parse_double(rest, &min) || min >= 60.0)
        return false;
    *out = deg + min / 60.0;
    return true;
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = tolower(c);
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

long td_hex_decode(const char *hex, size_t len, uint8_t *out, size_t cap)
{
    size_t n = 0;
    int hi = -1;

    for (size_t i = 0; i < len; i++) {
        if (hex[i] == ' ' || hex[i] == '\t')
            continue;
        int v = hexval((unsigned char)hex[i]);
        if (v < 0)
            return -1;
        if (hi < 0) {
            hi = v;
        } else {
            if (n >= cap)
                return -1;
            out[n++] = (uint8_t)(hi << 4 | v);
            hi = -1;
        }
    }
    return hi < 0 ? (long)n : -1;
}

size_t td_hex_encode(const uint8_t *data, size_t len, char *out, size_t cap)
{
    static const char digits[] = "0123456789abcdef";
    size_t n = 0;

    if (cap == 0)
        return 0;
    for (size_t i = 0; i < len && n + 2 < cap; i++) {
        out[n++] = digits[data[i] >> 4];
        out[n++] = digits[data[i] & 15];
    }
    out[n] = '\0';
    return n;
}
