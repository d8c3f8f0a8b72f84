/*
 * osmand: positions sent over HTTP by phone apps and small devices — the
 * OsmAnd app's online tracking, Traccar Client (query/form parameters up to
 * version 8, the JSON body of its background-location SDK from version 9)
 * and anything that speaks "the OsmAnd protocol" as traccar.org/osmand and
 * docs/protocols/osmand.md describe it.
 *
 * An HTTP/1.x request that arrives on the device port is one frame: the
 * request line and headers up to the blank line, then a body of
 * Content-Length bytes or chunked. Requests may follow one another on a
 * kept-alive connection.
 *
 * Message types: GET (or POST) with query parameters (id/deviceid, lat,
 * lon, location, timestamp, speed in knots, bearing/heading, altitude,
 * accuracy, hdop, batt, charge, valid, cell, wifi, alarm, ignition, motion,
 * driverUniqueId; anything else kept as a raw attribute under its own
 * name); POST with a form body (the same parameters); POST with a JSON body
 * ({"location": {...} or [...], "device_id": ...}: timestamp, coords
 * latitude/longitude/accuracy/speed in m/s/heading/altitude, is_moving,
 * odometer, event, battery level/is_charging, activity). A request with a
 * position gives a position record, one with neither latitude nor
 * longitude a status record. Every request that names its device (or comes
 * on a connection that did) is answered `HTTP/1.1 200 OK`; one that names
 * none `HTTP/1.1 400 Bad Request`.
 */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/text.h"
#include "protocols/registry.h"

#define OS_MAX_FRAME 16384 /* a request with its body */
#define OS_HEAD_MAX 8192   /* request line and headers */
#define OS_KEY_MAX 32      /* a parameter name kept as an attribute */
#define OS_VALUE_MAX 256   /* a parameter value, decoded */
#define OS_JSON_DEPTH 8
#define OS_JSON_MEMBERS 32 /* members of an object indexed at once */
#define OS_JSON_OBJECTS 32 /* objects of a body indexed while it is read */
#define OS_KNOTS_KMH 1.852
#define OS_MS_KMH 3.6

/* ---- detection and framing ---- */

static const char *const methods[] = {"GET /", "POST /"};

/* Does b (len bytes) start a request line "GET /" or "POST /"? YES, NO, or
 * MAYBE while b is a proper prefix of one. */
static int request_start(const uint8_t *b, size_t len)
{
    int best = TD_DETECT_NO;

    for (size_t m = 0; m < sizeof(methods) / sizeof(methods[0]); m++) {
        size_t n = strlen(methods[m]);
        if (len >= n && memcmp(b, methods[m], n) == 0)
            return TD_DETECT_YES;
        if (len < n && memcmp(b, methods[m], len) == 0)
            best = TD_DETECT_MAYBE;
    }
    return best;
}

static int detect(const uint8_t *buf, size_t len)
{
    return request_start(buf, len);
}

/* Case-insensitive: does the header line at h (n bytes) name `name`? Sets
 * *value to its trimmed value. */
static bool header_is(const char *h, size_t n, const char *name, td_span *value)
{
    size_t k = strlen(name);

    if (n <= k || h[k] != ':')
        return false;
    for (size_t i = 0; i < k; i++)
        if (tolower((unsigned char)h[i]) != name[i])
            return false;
    *value = td_trim((td_span){h + k + 1, n - k - 1});
    return true;
}

static bool span_ieq(td_span s, const char *lit)
{
    size_t n = strlen(lit);
    if (s.n != n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (tolower((unsigned char)s.p[i]) != lit[i])
            return false;
    return true;
}

/* What a request's headers say about it. */
typedef struct os_head {
    size_t head_len; /* request line and headers, the blank line included */
    long length;     /* Content-Length, -1 when absent */
    bool chunked;
    bool close;   /* Connection: close */
    bool json;    /* Content-Type: application/json */
    bool form;    /* Content-Type: application/x-www-form-urlencoded */
    td_span line; /* the request line, without its line end */
} os_head;

/*
 * Reads the request line and headers at b. Returns 1 with *h filled, 0 when
 * the blank line has not arrived, or a negative TD_E* code (TD_ETOOBIG:
 * headers past OS_HEAD_MAX; TD_EBADFRAME: a header that cannot be one).
 */
static int read_head(const uint8_t *b, size_t len, os_head *h)
{
    const char *s = (const char *)b;
    size_t at = 0, lines = 0;

    memset(h, 0, sizeof(*h));
    h->length = -1;
    for (;;) {
        const char *nl = memchr(s + at, '\n', len - at);
        if (!nl)
            return len > OS_HEAD_MAX ? TD_ETOOBIG : 0;
        size_t end = (size_t)(nl - s), n = end - at;
        if (n && s[end - 1] == '\r')
            n--;
        if (end + 1 > OS_HEAD_MAX)
            return TD_ETOOBIG;
        td_span v;
        if (lines == 0) {
            h->line = (td_span){s + at, n};
        } else if (n == 0) {
            h->head_len = end + 1;
            return 1;
        } else if (header_is(s + at, n, "content-length", &v)) {
            int64_t cl = -1;
            if (!td_parse_int(v, &cl) || cl < 0)
                return TD_EBADFRAME;
            if (cl > OS_MAX_FRAME)
                return TD_ETOOBIG;
            h->length = (long)cl;
        } else if (header_is(s + at, n, "transfer-encoding", &v)) {
            h->chunked = span_ieq(v, "chunked");
        } else if (header_is(s + at, n, "connection", &v)) {
            h->close = span_ieq(v, "close");
        } else if (header_is(s + at, n, "content-type", &v)) {
            h->json = v.n >= 16 && span_ieq((td_span){v.p, 16}, "application/json");
            h->form =
                v.n >= 33 && span_ieq((td_span){v.p, 33}, "application/x-www-form-urlencoded");
        }
        lines++;
        at = end + 1;
    }
}

/*
 * Walks a chunked body at b (len bytes). Returns the bytes it takes (the
 * last chunk and trailers included), 0 when it has not all arrived, or
 * TD_EBADFRAME. When out is not NULL, the chunks' data are copied there (cap
 * bytes) and *out_len set.
 */
static long chunked(const uint8_t *b, size_t len, uint8_t *out, size_t cap, size_t *out_len)
{
    size_t at = 0, total = 0;

    for (;;) {
        const uint8_t *nl = memchr(b + at, '\n', len - at);
        if (!nl)
            return len - at > 32 ? TD_EBADFRAME : 0;
        size_t line = (size_t)(nl - b) - at, digits = 0;
        uint64_t size = 0;
        while (digits < line && isxdigit(b[at + digits])) {
            size = size * 16 + (uint64_t)(isdigit(b[at + digits])
                                              ? b[at + digits] - '0'
                                              : (tolower(b[at + digits]) - 'a' + 10));
            if (size > OS_MAX_FRAME)
                return TD_EBADFRAME;
            digits++;
        }
        if (digits == 0)
            return TD_EBADFRAME;
        at += line + 1;
        if (size == 0) {
            /* Trailers up to a blank line. */
            for (;;) {
                const uint8_t *e = memchr(b + at, '\n', len - at);
                if (!e)
                    return 0;
                size_t n = (size_t)(e - b) - at;
                at += n + 1;
                if (n == 0 || (n == 1 && b[at - 2] == '\r')) {
                    if (out_len)
                        *out_len = total;
                    return (long)at;
                }
            }
        }
        if (len - at < size + 1)
            return 0;
        if (out) {
            if (total + size > cap)
                return TD_EBADFRAME;
            memcpy(out + total, b + at, size);
        }
        total += size;
        at += size;
        if (b[at] == '\r') {
            if (len - at < 2)
                return 0;
            at++;
        }
        if (b[at] != '\n')
            return TD_EBADFRAME;
        at++;
    }
}

static long frame(const uint8_t *buf, size_t len, size_t *skip)
{
    size_t s = 0;
    os_head h;

    /* Line ends between requests are allowed (RFC 9112, 2.2). */
    while (s < len && (buf[s] == '\r' || buf[s] == '\n'))
        s++;
    *skip = s;
    if (s == len)
        return 0;
    int d = request_start(buf + s, len - s);
    if (d == TD_DETECT_NO)
        return TD_EUNFRAMEABLE;
    if (d == TD_DETECT_MAYBE)
        return 0;
    int rc = read_head(buf + s, len - s, &h);
    if (rc <= 0)
        return rc == TD_EBADFRAME ? TD_EUNFRAMEABLE : rc;
    if (h.chunked) {
        long n = chunked(buf + s + h.head_len, len - s - h.head_len, NULL, 0, NULL);
        if (n < 0)
            return TD_EUNFRAMEABLE;
        if (n == 0)
            return len - s > OS_MAX_FRAME ? TD_ETOOBIG : 0;
        return (long)h.head_len + n;
    }
    size_t total = h.head_len + (size_t)(h.length > 0 ? h.length : 0);
    if (total > OS_MAX_FRAME)
        return TD_ETOOBIG;
    return len - s >= total ? (long)total : 0;
}

/* ---- values ---- */

static int hexval(int c)
{
    return isdigit(c) ? c - '0' : tolower(c) - 'a' + 10;
}

/* Decodes a URL-encoded span ('+' is a space, %XX a byte) into out as a C
 * string. Returns false when it does not fit or holds a bad escape. */
static bool url_decode(td_span s, char *out, size_t cap)
{
    size_t k = 0;

    for (size_t i = 0; i < s.n; i++) {
        int c = (unsigned char)s.p[i];
        if (c == '%') {
            if (i + 2 >= s.n || !isxdigit((unsigned char)s.p[i + 1]) ||
                !isxdigit((unsigned char)s.p[i + 2]))
                return false;
            c = hexval((unsigned char)s.p[i + 1]) * 16 + hexval((unsigned char)s.p[i + 2]);
            i += 2;
        } else if (c == '+') {
            c = ' ';
        }
        if (k + 1 >= cap || c == 0)
            return false;
        out[k++] = (char)c;
    }
    out[k] = '\0';
    return true;
}

static bool parse_num(const char *s, double *out)
{
    return td_parse_double((td_span){s, strlen(s)}, out);
}

static bool parse_bool(const char *s, bool *out)
{
    if (strcmp(s, "true") == 0 || strcmp(s, "1") == 0)
        *out = true;
    else if (strcmp(s, "false") == 0 || strcmp(s, "0") == 0)
        *out = false;
    else
        return false;
    return true;
}

/*
 * A time as the clients send it: Unix seconds (with a fraction or not),
 * Unix milliseconds (13 digits and more), ISO 8601 ("2016-01-27T18:55:47Z",
 * fractions and offsets allowed) or "2014-06-04 09:10:11" (UTC).
 */
static bool parse_time(const char *s, int64_t *out)
{
    double v;

    if (strchr(s, '-'))
        return td_parse_iso8601(s, out);
    /* From 1e15 on, neither seconds nor milliseconds of a time set_time()
     * takes, nor a number that converts to int64_t. */
    if (!parse_num(s, &v) || v < 0 || v >= 1e15)
        return false;
    if (v >= 1e11) /* milliseconds */
        *out = (int64_t)v;
    else
        *out = (int64_t)llround(v * 1000.0);
    return true;
}

/* Sets the record's time; false when the value is not a time of this
 * century. */
static bool set_time(td_record *r, int64_t ms)
{
    if (ms < 946684800000LL || ms >= 4102444800000LL)
        return false;
    r->time_ms = ms;
    r->has_time = true;
    return true;
}

static int bad(td_decode_ctx *ctx, const char *what, const char *value)
{
    return td_ctx_error(ctx, TD_EBADFRAME, "osmand: bad %s '%.40s'", what, value);
}

/* ---- query and form parameters ---- */

/* What the parameters of one request set. */
typedef struct os_fix {
    bool has_lat, has_lon;
} os_fix;

/* A name that can be an attribute key: letters, digits, '_' and '-'. */
static bool key_ok(const char *k)
{
    size_t n = strlen(k);
    if (n == 0 || n >= OS_KEY_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)k[i]) && k[i] != '_' && k[i] != '-')
            return false;
    return true;
}

/* A parameter with no meaning of its own: kept under its name, as a
 * number, a boolean or text. */
static void keep_raw(td_record *r, const char *key, const char *value)
{
    int64_t i;
    double d;
    bool b;

    if (!key_ok(key))
        return;
    if (td_parse_int((td_span){value, strlen(value)}, &i))
        td_rec_raw_int(r, key, i);
    else if (parse_num(value, &d))
        td_rec_raw_double(r, key, d);
    else if (strcmp(value, "true") == 0 || strcmp(value, "false") == 0)
        td_rec_raw_bool(r, key, parse_bool(value, &b) && b);
    else
        td_rec_raw_str(r, key, value, strlen(value));
}

/* "mcc,mnc,lac,cellId[,signal]" */
static bool add_cell(td_record *r, const char *v)
{
    td_span p[5];
    int64_t n[5];
    int k = td_split((td_span){v, strlen(v)}, ',', p, 5);

    if (k < 4)
        return false;
    for (int i = 0; i < k; i++)
        if (!td_parse_int(td_trim(p[i]), &n[i]))
            return false;
    if (n[0] <= 0 || n[0] > 999 || n[1] < 0 || n[1] > 999 || n[2] < 0 || n[3] < 0)
        return false;
    td_rec_add_cell(r, (int)n[0], (int)n[1], n[2], n[3], k == 5, k == 5 ? (int)n[4] : 0);
    return true;
}

/* "mac,signal" */
static bool add_wifi(td_record *r, const char *v)
{
    td_span p[2];
    int64_t rssi = 0;

    if (td_split((td_span){v, strlen(v)}, ',', p, 2) != 2 || !td_parse_int(td_trim(p[1]), &rssi))
        return false;
    return td_rec_add_wifi(r, p[0].p, p[0].n, (int)rssi) == 0;
}

/* Applies one decoded parameter to r. Returns 0 or a negative code. */
static int apply_param(td_decode_ctx *ctx, td_record *r, os_fix *fix, const char *key,
                       const char *value)
{
    double d;
    bool b;
    int64_t ms;

    if (strcmp(key, "id") == 0 || strcmp(key, "deviceid") == 0) {
        return 0; /* read before the record was made */
    } else if (strcmp(key, "lat") == 0) {
        if (!parse_num(value, &d) || d < -90 || d > 90)
            return bad(ctx, "latitude", value);
        r->latitude = d;
        fix->has_lat = true;
    } else if (strcmp(key, "lon") == 0) {
        if (!parse_num(value, &d) || d < -180 || d > 180)
            return bad(ctx, "longitude", value);
        r->longitude = d;
        fix->has_lon = true;
    } else if (strcmp(key, "location") == 0) {
        const char *comma = strchr(value, ',');
        double lat, lon;
        if (!comma || !td_parse_double((td_span){value, (size_t)(comma - value)}, &lat) ||
            !parse_num(comma + 1, &lon) || lat < -90 || lat > 90 || lon < -180 || lon > 180)
            return bad(ctx, "location", value);
        r->latitude = lat;
        r->longitude = lon;
        fix->has_lat = fix->has_lon = true;
    } else if (strcmp(key, "timestamp") == 0) {
        if (!parse_time(value, &ms) || !set_time(r, ms))
            return bad(ctx, "timestamp", value);
    } else if (strcmp(key, "valid") == 0) {
        if (!parse_bool(value, &b))
            return bad(ctx, "valid", value);
        r->valid = b;
    } else if (strcmp(key, "speed") == 0) {
        if (!parse_num(value, &d) || d * OS_KNOTS_KMH >= 2000)
            return bad(ctx, "speed", value);
        r->speed = d > 0 ? d * OS_KNOTS_KMH : 0;
    } else if (strcmp(key, "bearing") == 0 || strcmp(key, "heading") == 0) {
        if (!parse_num(value, &d))
            return bad(ctx, "bearing", value);
        r->course = d >= 0 && d <= 360 ? d : 0;
    } else if (strcmp(key, "altitude") == 0) {
        if (!parse_num(value, &d))
            return bad(ctx, "altitude", value);
        r->altitude = d;
    } else if (strcmp(key, "accuracy") == 0) {
        if (!parse_num(value, &d))
            return bad(ctx, "accuracy", value);
        td_rec_raw_double(r, "accuracy", d);
    } else if (strcmp(key, "hdop") == 0) {
        if (!parse_num(value, &d) || d < 0)
            return bad(ctx, "hdop", value);
        td_rec_set_double(r, TD_ATTR_HDOP, d);
    } else if (strcmp(key, "batt") == 0) {
        if (!parse_num(value, &d) || d < 0 || d > 100)
            return bad(ctx, "battery level", value);
        td_rec_set_int(r, TD_ATTR_BATTERY_LEVEL, (int64_t)llround(d));
    } else if (strcmp(key, "charge") == 0 && parse_bool(value, &b)) {
        td_rec_set_bool(r, TD_ATTR_CHARGING, b);
    } else if (strcmp(key, "ignition") == 0 && parse_bool(value, &b)) {
        td_rec_set_bool(r, TD_ATTR_IGNITION, b);
    } else if (strcmp(key, "motion") == 0 && parse_bool(value, &b)) {
        td_rec_set_bool(r, TD_ATTR_MOTION, b);
    } else if (strcmp(key, "cell") == 0) {
        if (!add_cell(r, value))
            return bad(ctx, "cell", value);
    } else if (strcmp(key, "wifi") == 0) {
        if (!add_wifi(r, value))
            return bad(ctx, "wifi", value);
    } else if (strcmp(key, "alarm") == 0 && td_alarm_from_name(value) >= 0) {
        td_rec_alarm(r, (td_alarm)td_alarm_from_name(value));
    } else {
        keep_raw(r, key, value);
    }
    return 0;
}

/*
 * Runs over "k=v&k=v" in s. With r NULL, only looks for the device id
 * (id= or deviceid=) and copies it to id (cap bytes); else applies every
 * parameter to r. Returns 0 or a negative code.
 */
static int params(td_decode_ctx *ctx, td_span s, td_record *r, os_fix *fix, char *id, size_t cap)
{
    char key[OS_KEY_MAX * 2], value[OS_VALUE_MAX];

    while (s.n) {
        const char *amp = memchr(s.p, '&', s.n);
        td_span kv = {s.p, amp ? (size_t)(amp - s.p) : s.n};
        s = amp ? (td_span){amp + 1, s.n - kv.n - 1} : (td_span){s.p + s.n, 0};
        if (kv.n == 0)
            continue;
        const char *eq = memchr(kv.p, '=', kv.n);
        td_span k = {kv.p, eq ? (size_t)(eq - kv.p) : kv.n};
        td_span v = eq ? (td_span){eq + 1, kv.n - k.n - 1} : (td_span){kv.p + kv.n, 0};
        if (!url_decode(k, key, sizeof(key)))
            return td_ctx_error(ctx, TD_EBADFRAME, "osmand: bad parameter name '%.*s'",
                                (int)(k.n > 40 ? 40 : k.n), k.p);
        if (!url_decode(v, value, sizeof(value)))
            return td_ctx_error(ctx, TD_EBADFRAME, "osmand: bad value of parameter '%.40s'", key);
        if (!r) {
            if ((strcmp(key, "id") == 0 || strcmp(key, "deviceid") == 0) && value[0])
                snprintf(id, cap, "%s", value);
            continue;
        }
        int rc = apply_param(ctx, r, fix, key, value);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* ---- JSON bodies, read in place ---- */

typedef enum { JS_OBJ, JS_ARR, JS_STR, JS_NUM, JS_TRUE, JS_FALSE, JS_NULL } js_type;

typedef struct js_val {
    js_type type;
    const char *p; /* the value's text: strings without their quotes */
    size_t n;
} js_val;

static const char *js_ws(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
        p++;
    return p;
}

/* The members of an object, read once so that looking up each key does not
 * read the whole object again. */
typedef struct js_obj {
    js_val obj;
    int n;
    bool more; /* more than OS_JSON_MEMBERS: a key not among them is looked up in the text */
    js_val key[OS_JSON_MEMBERS], val[OS_JSON_MEMBERS];
} js_obj;

/* The objects of a body, indexed while js_value() reads it (in the order
 * they open; the first OS_JSON_OBJECTS of them). */
typedef struct js_body {
    int n;
    js_obj obj[OS_JSON_OBJECTS];
} js_body;

/* Reads one value at p. Returns the position after it, or NULL when the
 * text is not JSON (or nests deeper than OS_JSON_DEPTH). With b, indexes
 * the objects it reads into b. */
static const char *js_value(const char *p, const char *end, int depth, js_val *out, js_body *b)
{
    p = js_ws(p, end);
    if (p >= end || depth > OS_JSON_DEPTH)
        return NULL;
    const char *start = p;
    if (*p == '{' || *p == '[') {
        char close = *p == '{' ? '}' : ']';
        bool obj = *p == '{';
        js_obj *m = obj && b && b->n < OS_JSON_OBJECTS ? &b->obj[b->n++] : NULL;
        if (m) {
            m->n = 0;
            m->more = false;
        }
        p = js_ws(p + 1, end);
        if (p < end && *p == close) {
            *out = (js_val){obj ? JS_OBJ : JS_ARR, start, (size_t)(p + 1 - start)};
            if (m)
                m->obj = *out;
            return p + 1;
        }
        for (;;) {
            js_val k, v;
            if (obj) {
                if (!(p = js_value(p, end, depth + 1, &k, b)) || k.type != JS_STR)
                    return NULL;
                p = js_ws(p, end);
                if (p >= end || *p != ':')
                    return NULL;
                p++;
            }
            if (!(p = js_value(p, end, depth + 1, &v, b)))
                return NULL;
            if (m && m->n < OS_JSON_MEMBERS) {
                m->key[m->n] = k;
                m->val[m->n++] = v;
            } else if (m) {
                m->more = true;
            }
            p = js_ws(p, end);
            if (p >= end)
                return NULL;
            if (*p == close) {
                *out = (js_val){obj ? JS_OBJ : JS_ARR, start, (size_t)(p + 1 - start)};
                if (m)
                    m->obj = *out;
                return p + 1;
            }
            if (*p != ',')
                return NULL;
            p++;
        }
    }
    if (*p == '"') {
        for (p++; p < end && *p != '"'; p++) {
            if ((unsigned char)*p < 0x20)
                return NULL;
            if (*p == '\\' && ++p >= end)
                return NULL;
        }
        if (p >= end)
            return NULL;
        *out = (js_val){JS_STR, start + 1, (size_t)(p - start - 1)};
        return p + 1;
    }
    static const struct {
        const char *lit;
        js_type type;
    } words[] = {{"true", JS_TRUE}, {"false", JS_FALSE}, {"null", JS_NULL}};
    for (size_t i = 0; i < 3; i++) {
        size_t n = strlen(words[i].lit);
        if (*p == words[i].lit[0] && (size_t)(end - p) >= n && memcmp(p, words[i].lit, n) == 0) {
            *out = (js_val){words[i].type, p, n};
            return p + n;
        }
    }
    while (p < end && (isdigit((unsigned char)*p) || *p == '+' || *p == '-' || *p == '.' ||
                       *p == 'e' || *p == 'E'))
        p++;
    if (p == start)
        return NULL;
    *out = (js_val){JS_NUM, start, (size_t)(p - start)};
    return p;
}

/* The member `key` of object o (keys compared as written, no escapes). */
static bool js_get(js_val o, const char *key, js_val *out)
{
    if (o.type != JS_OBJ)
        return false;
    const char *p = o.p + 1, *end = o.p + o.n - 1;
    size_t kn = strlen(key);
    while ((p = js_ws(p, end)) < end) {
        js_val k, v;
        if (!(p = js_value(p, end, 1, &k, NULL)))
            return false;
        p = js_ws(p, end);
        if (p >= end || *p != ':' || !(p = js_value(p + 1, end, 1, &v, NULL)))
            return false;
        if (k.type == JS_STR && k.n == kn && memcmp(k.p, key, kn) == 0) {
            *out = v;
            return true;
        }
        p = js_ws(p, end);
        if (p < end && *p == ',')
            p++;
    }
    return false;
}

/* The value at p of text that js_value() has already accepted, read without
 * checking it again (so that the parts of a body are not all re-read for
 * every level they are nested in): the same js_val and end as js_value()
 * gives for it. */
/* The closing quote of the accepted string whose text starts at p: the
 * first quote after an even run of backslashes. */
static const char *js_str_end(const char *p, const char *end)
{
    for (const char *q;; p = q + 1) {
        q = memchr(p, '"', (size_t)(end - p));
        size_t bs = 0;
        while (q - bs > p && q[-1 - (ptrdiff_t)bs] == '\\')
            bs++;
        if (bs % 2 == 0)
            return q;
    }
}

static const char *js_skip(const char *p, const char *end, js_val *out)
{
    p = js_ws(p, end);
    const char *start = p;
    switch (*p) {
    case '{':
    case '[':
        for (int depth = 0; p < end; p++) {
            if (*p == '"') {
                p = js_str_end(p + 1, end);
            } else if (*p == '{' || *p == '[') {
                depth++;
            } else if ((*p == '}' || *p == ']') && --depth == 0) {
                break;
            }
        }
        *out = (js_val){*start == '{' ? JS_OBJ : JS_ARR, start, (size_t)(p + 1 - start)};
        return p + 1;
    case '"':
        p = js_str_end(p + 1, end);
        *out = (js_val){JS_STR, start + 1, (size_t)(p - start - 1)};
        return p + 1;
    case 't':
    case 'n':
        *out = (js_val){*p == 't' ? JS_TRUE : JS_NULL, p, 4};
        return p + 4;
    case 'f':
        *out = (js_val){JS_FALSE, p, 5};
        return p + 5;
    default:
        while (p < end && (isdigit((unsigned char)*p) || *p == '+' || *p == '-' || *p == '.' ||
                           *p == 'e' || *p == 'E'))
            p++;
        *out = (js_val){JS_NUM, start, (size_t)(p - start)};
        return p;
    }
}

/* The index of o, a value inside a body js_value() accepted into b: the one
 * made while reading it, or (past the first OS_JSON_OBJECTS) one made now in
 * spare. Anything but an object has no members. */
static const js_obj *js_index(const js_body *b, js_val o, js_obj *m)
{
    for (int i = 0; o.type == JS_OBJ && i < b->n; i++)
        if (b->obj[i].obj.p == o.p)
            return &b->obj[i];
    m->obj = o;
    m->n = 0;
    m->more = false;
    if (o.type != JS_OBJ)
        return m;
    const char *p = o.p + 1, *end = o.p + o.n - 1;
    while ((p = js_ws(p, end)) < end) {
        js_val k, v;
        p = js_skip(p, end, &k);
        p = js_skip(js_ws(p, end) + 1, end, &v); /* after the ':' */
        if (m->n == OS_JSON_MEMBERS) {
            m->more = true;
            return m;
        }
        m->key[m->n] = k;
        m->val[m->n++] = v;
        p = js_ws(p, end);
        if (p < end && *p == ',')
            p++;
    }
    return m;
}

/* js_get over an index: the first member named key. */
static bool js_find(const js_obj *m, const char *key, js_val *out)
{
    size_t kn = strlen(key);
    for (int i = 0; i < m->n; i++)
        if (m->key[i].type == JS_STR && m->key[i].n == kn && memcmp(m->key[i].p, key, kn) == 0) {
            *out = m->val[i];
            return true;
        }
    return m->more && js_get(m->obj, key, out);
}

/* The next element of an array inside an accepted body: *p starts at
 * a.p + 1. */
static bool js_next(js_val a, const char **p, js_val *out)
{
    const char *end = a.p + a.n - 1;
    if ((*p = js_ws(*p, end)) >= end)
        return false;
    *p = js_skip(*p, end, out);
    *p = js_ws(*p, end);
    if (*p < end && **p == ',')
        (*p)++;
    return true;
}

/* A number member, or false when absent or not a number. */
static bool js_num(const js_obj *o, const char *key, double *out)
{
    js_val v;
    return js_find(o, key, &v) && v.type == JS_NUM && td_parse_double((td_span){v.p, v.n}, out);
}

/* A string member without escapes, or a number, copied as text. */
static bool js_text(const js_obj *o, const char *key, char *out, size_t cap)
{
    js_val v;
    if (!js_find(o, key, &v) || (v.type != JS_STR && v.type != JS_NUM) || v.n == 0 || v.n >= cap ||
        memchr(v.p, '\\', v.n))
        return false;
    memcpy(out, v.p, v.n);
    out[v.n] = '\0';
    return true;
}

/* One location object of the JSON form into a new record. */
static int json_location(td_decode_ctx *ctx, const js_body *b, js_val val)
{
    td_record *r = td_ctx_add(ctx, TD_REC_POSITION);
    js_val v, sub;
    js_obj spare[4];
    const js_obj *loc, *coords, *battery, *activity;
    char text[OS_VALUE_MAX];
    double d, lat, lon;
    int64_t ms;

    if (!r)
        return td_ctx_error(ctx, TD_ENOMEM, "osmand: more than %d locations in one request",
                            TD_MAX_RECORDS);
    if (val.type != JS_OBJ)
        return td_ctx_error(ctx, TD_EBADFRAME, "osmand: a location that is not an object");
    loc = js_index(b, val, &spare[0]);
    if (js_text(loc, "timestamp", text, sizeof(text)) &&
        (!parse_time(text, &ms) || !set_time(r, ms)))
        return bad(ctx, "timestamp", text);
    bool has_coords = js_find(loc, "coords", &sub) && sub.type == JS_OBJ;
    coords = js_index(b, has_coords ? sub : (js_val){JS_NULL, NULL, 0}, &spare[1]);
    if (has_coords && js_num(coords, "latitude", &lat) && js_num(coords, "longitude", &lon)) {
        if (lat < -90 || lat > 90 || lon < -180 || lon > 180)
            return td_ctx_error(ctx, TD_EBADFRAME, "osmand: coordinates %.6f,%.6f out of range",
                                lat, lon);
        r->latitude = lat;
        r->longitude = lon;
        r->valid = true;
    } else {
        r->type = TD_REC_STATUS;
    }
    if (has_coords) {
        if (js_num(coords, "speed", &d) && d > 0) /* m/s; -1 is unknown */
            r->speed = d * OS_MS_KMH < 2000 ? d * OS_MS_KMH : 0;
        if (js_num(coords, "heading", &d) && d >= 0 && d <= 360)
            r->course = d;
        if (js_num(coords, "altitude", &d))
            r->altitude = d;
        if (js_num(coords, "accuracy", &d))
            td_rec_raw_double(r, "accuracy", d);
    }
    if (js_find(loc, "is_moving", &v) && (v.type == JS_TRUE || v.type == JS_FALSE))
        td_rec_set_bool(r, TD_ATTR_MOTION, v.type == JS_TRUE);
    if (js_num(loc, "odometer", &d) && d >= 0)
        td_rec_set_double(r, TD_ATTR_ODOMETER, d);
    if (js_text(loc, "event", text, sizeof(text)))
        td_rec_raw_str(r, "event", text, strlen(text));
    if (js_find(loc, "mock", &v) && v.type == JS_TRUE)
        td_rec_raw_bool(r, "mock", true);
    if (js_find(loc, "battery", &sub)) {
        battery = js_index(b, sub, &spare[2]);
        if (js_num(battery, "level", &d) && d >= 0 && d <= 1) /* -1 is unknown */
            td_rec_set_int(r, TD_ATTR_BATTERY_LEVEL, (int64_t)llround(d * 100));
        if (js_find(battery, "is_charging", &v) && (v.type == JS_TRUE || v.type == JS_FALSE))
            td_rec_set_bool(r, TD_ATTR_CHARGING, v.type == JS_TRUE);
    }
    if (js_find(loc, "activity", &sub)) {
        activity = js_index(b, sub, &spare[3]);
        if (js_text(activity, "type", text, sizeof(text)))
            td_rec_raw_str(r, "activity", text, strlen(text));
    }
    return 0;
}

/* {"location": {...} | [{...}, ...], "device_id": "..."} */
static int decode_json(td_decode_ctx *ctx, const char *body, size_t n, bool *identified)
{
    static js_body b; /* large; the loop decodes one frame at a time */
    js_val val, loc, el;
    js_obj spare;
    const js_obj *root;
    char id[TD_DEVICE_ID_MAX + 1];
    int rc;

    b.n = 0;
    const char *after = js_value(body, body + n, 0, &val, &b);
    if (!after || js_ws(after, body + n) != body + n || val.type != JS_OBJ)
        return td_ctx_error(ctx, TD_EBADFRAME, "osmand: body is not a JSON object");
    root = js_index(&b, val, &spare);
    if (js_text(root, "device_id", id, sizeof(id)) || js_text(root, "id", id, sizeof(id))) {
        if (td_session_identify(ctx->session, id, strlen(id)) < 0)
            return bad(ctx, "device id", id);
        *identified = true;
    }
    if (!ctx->session->device_id[0])
        return 0;
    if (!js_find(root, "location", &loc))
        return td_ctx_error(ctx, TD_EBADFRAME, "osmand: JSON body without a location");
    if (loc.type != JS_ARR)
        return json_location(ctx, &b, loc);
    for (const char *p = loc.p + 1; js_next(loc, &p, &el);)
        if ((rc = json_location(ctx, &b, el)) < 0)
            return rc;
    return 0;
}

/* ---- the request ---- */

static int answer(td_decode_ctx *ctx, bool ok, bool close)
{
    return td_ctx_replyf(ctx, "HTTP/1.1 %s\r\nContent-Length: 0\r\n%s\r\n",
                         ok ? "200 OK" : "400 Bad Request", close ? "Connection: close\r\n" : "");
}

static int decode_request(td_decode_ctx *ctx, const uint8_t *frame, size_t len)
{
    static uint8_t chunks[OS_MAX_FRAME]; /* the loop decodes one frame at a time */
    char id[OS_VALUE_MAX] = "";
    os_head h;
    os_fix fix = {false, false};
    int rc;

    while (len && (frame[0] == '\r' || frame[0] == '\n'))
        frame++, len--;
    if (request_start(frame, len) != TD_DETECT_YES)
        return td_ctx_error(ctx, TD_EBADFRAME, "osmand: not a GET or POST request");
    rc = read_head(frame, len, &h);
    if (rc == 0) { /* `decode` input and UDP: the blank line may be missing */
        h.line = (td_span){(const char *)frame, len};
        const char *nl = memchr(frame, '\n', len);
        if (nl)
            h.line.n = (size_t)(nl - (const char *)frame);
        h.line = td_trim(h.line);
        h.head_len = len;
        h.length = -1;
    } else if (rc < 0) {
        return td_ctx_error(ctx, TD_EBADFRAME, "osmand: bad request headers");
    }

    /* "<method> <target> HTTP/1.x" */
    td_span part[3];
    if (td_split(h.line, ' ', part, 3) != 3 || !td_span_starts(part[2], "HTTP/1."))
        return td_ctx_error(ctx, TD_EBADFRAME, "osmand: bad request line '%.*s'",
                            (int)(h.line.n > 60 ? 60 : h.line.n), h.line.p);
    td_span target = part[1], query = {target.p + target.n, 0};
    const char *q = memchr(target.p, '?', target.n);
    if (q)
        query = (td_span){q + 1, target.n - (size_t)(q - target.p) - 1};

    /* The body: Content-Length bytes or the chunks, as far as they came. */
    const char *body = (const char *)frame + h.head_len;
    size_t blen = len - h.head_len;
    if (h.chunked) {
        size_t n = 0;
        if (chunked(frame + h.head_len, len - h.head_len, chunks, sizeof(chunks), &n) <= 0)
            return td_ctx_error(ctx, TD_EBADFRAME, "osmand: bad chunked body");
        body = (const char *)chunks;
        blen = n;
    } else if (h.length >= 0 && (size_t)h.length < blen) {
        blen = (size_t)h.length;
    }
    bool json = h.json || (blen && body[0] == '{');
    bool form = !json && blen && (h.form || memchr(body, '=', blen));

    /* Who: id/deviceid in the query or the form, device_id in JSON, or the
     * connection's device. */
    bool identified = false;
    if ((rc = params(ctx, query, NULL, NULL, id, sizeof(id))) < 0)
        return rc;
    if (form && !id[0] && (rc = params(ctx, (td_span){body, blen}, NULL, NULL, id, sizeof(id))) < 0)
        return rc;
    if (id[0]) {
        if (td_session_identify(ctx->session, id, strlen(id)) < 0)
            return bad(ctx, "device id", id);
        identified = true;
    }
    if (json) {
        if ((rc = decode_json(ctx, body, blen, &identified)) < 0)
            return rc;
    } else if (ctx->session->device_id[0]) {
        td_record *r = td_ctx_add(ctx, TD_REC_POSITION);
        if (!r)
            return td_ctx_error(ctx, TD_ENOMEM, "osmand: too many records");
        r->valid = true;
        if ((rc = params(ctx, query, r, &fix, NULL, 0)) < 0)
            return rc;
        if (form && (rc = params(ctx, (td_span){body, blen}, r, &fix, NULL, 0)) < 0)
            return rc;
        if (!fix.has_lat || !fix.has_lon) {
            r->type = TD_REC_STATUS;
            r->latitude = r->longitude = 0;
            r->valid = false;
        }
    }
    (void)identified;
    /* A request that names no device is refused, as the protocol says the
     * id is mandatory. */
    return answer(ctx, ctx->session->device_id[0] != '\0', h.close);
}

static int decode(td_decode_ctx *ctx, const uint8_t *frame, size_t len)
{
    static td_session none; /* decode() without a session: nothing kept */
    if (!ctx->session) {
        memset(&none, 0, sizeof(none));
        ctx->session = &none;
    }
    int rc = len ? decode_request(ctx, frame, len)
                 : td_ctx_error(ctx, TD_EBADFRAME, "osmand: empty frame");
    if (ctx->session == &none)
        ctx->session = NULL;
    if (rc < 0) { /* a frame that fails yields nothing, half-built records included */
        ctx->nrec = 0;
        ctx->reply_len = 0;
    }
    return rc;
}

const td_protocol td_proto_osmand = {
    /* name: registry key and `decode --protocol` name */
    .name = "osmand",
    /* devices: example devices, for /api/server and the docs */
    .devices = "Traccar Client (Android, iOS), OsmAnd online tracking, and HTTP trackers speaking "
               "the OsmAnd protocol",
    /* transports: HTTP requests over TCP */
    .transports = TD_TCP,
    /* max_frame: a request with its body */
    .max_frame = OS_MAX_FRAME,
    /* detect: a request line starting "GET /" or "POST /" */
    .detect = detect,
    /* frame: headers to the blank line, then Content-Length bytes or chunks */
    .frame = frame,
    /* decode: a position or status record, and the HTTP answer */
    .decode = decode,
    /* commands: none yet */
    .commands = NULL,
    /* encode: none yet */
    .encode = NULL,
};
