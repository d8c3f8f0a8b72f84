/*
 * meitrack: the GPRS protocol of Meitrack trackers (MVT100/340/380/600/800,
 * T1, T3, T322, T333, T355, T366, T622, P66, P88L, P99G, TC68 and their
 * siblings), after the "MEITRACK GPRS Protocol" documents (V1.6 for the MVT
 * family, the T622 V1.2 document for the binary forms) summarised, with
 * sources, in docs/protocols/meitrack.md.
 *
 * Every frame from a tracker is
 *
 *   $$<flag><length>,<IMEI>,<type>,<content>*<checksum>\r\n
 *
 * flag: one byte 0x41-0x7A echoed by answers; length: decimal, the bytes
 * from the first comma up to and including \r\n; checksum: two hex digits,
 * the sum of every byte from the first '$' up to and including '*'. The
 * content is text for most types and binary for the compressed forms.
 *
 * Message types: AAA, the event report (event code, fix, satellites, GSM
 * signal, speed, course, HDOP, altitude, mileage, run time, cell, I/O and
 * analog inputs, then the optional assisted event, fuel and sensor fields);
 * CCC, the compressed report (version 0x0102: 52-byte records); CCE, the
 * parameter-list report (records of 1-, 2-, 4- and N-byte values keyed by
 * parameter id); every other type is the tracker's answer to a server
 * command ("D03,OK", "A11,OK", ...) and becomes an ack record. AAA needs no
 * answer; CCC and CCE are confirmed with `@@<flag><len>,<IMEI>,CCC,<n>*XX`
 * (resp. CCE), n the records received, so the tracker drops them from its
 * cache. Event codes map onto the contract's alarms (1 SOS, 17 low battery,
 * 18 low external power, 19 speeding, 20/21 geofence, 23 power cut).
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "core/text.h"
#include "protocols/registry.h"

#define MT_MAX_FRAME 8192 /* the longest frame (compressed batches run past 1 KB) */
#define MT_TEXT_MAX 2048  /* a text frame longer than this has lost its end */
#define MT_LEN_DIGITS 5   /* digits of the length field, at most */
#define MT_ID_MAX 20      /* digits of an IMEI */
#define MT_FIELDS_MAX 48
#define MT_RESULT_MAX 96 /* characters of an answer kept as its result */
#define MT_EPOCH_2000 946684800LL
#define MT_EPOCH_2100 4102444800LL
#define MT_SPEED_MAX 2000 /* km/h; the documents allow 0-999 */
#define MT_CCC_RECORD 52  /* a version 0x0102 CCC record */

/* ---- the header ---- */

typedef struct mt_head {
    uint8_t flag;
    long length; /* the declared length */
    size_t len_digits;
    td_span id, type;
    size_t body; /* offset of the byte after the type (',' or '*') */
} mt_head;

/*
 * Reads `$$<flag><length>,<IMEI>,<type>` followed by ',' or '*' at b.
 * Returns TD_DETECT_YES with *h filled, MAYBE when b ends inside a header
 * that could still be one, NO when it cannot.
 */
static int head(const uint8_t *b, size_t len, mt_head *h)
{
    size_t i, start;

    for (i = 0; i < 2; i++) {
        if (i >= len)
            return TD_DETECT_MAYBE;
        if (b[i] != '$')
            return TD_DETECT_NO;
    }
    if (len <= 2)
        return TD_DETECT_MAYBE;
    if (b[2] < 0x41 || b[2] > 0x7a)
        return TD_DETECT_NO;
    h->flag = b[2];
    h->length = 0;
    for (i = start = 3; i < len && isdigit(b[i]); i++) {
        if (i - start >= MT_LEN_DIGITS)
            return TD_DETECT_NO;
        h->length = h->length * 10 + (b[i] - '0');
    }
    if (i >= len)
        return TD_DETECT_MAYBE;
    if (i == start || b[i] != ',')
        return TD_DETECT_NO;
    h->len_digits = i - start;
    for (i = start = i + 1; i < len && isdigit(b[i]); i++)
        if (i - start >= MT_ID_MAX)
            return TD_DETECT_NO;
    if (i >= len)
        return TD_DETECT_MAYBE;
    if (i == start || b[i] != ',')
        return TD_DETECT_NO;
    h->id = (td_span){(const char *)b + start, i - start};
    for (i = start = i + 1; i < start + 3; i++) {
        if (i >= len)
            return TD_DETECT_MAYBE;
        if (!isupper(b[i]) && !isdigit(b[i]))
            return TD_DETECT_NO;
    }
    if (i >= len)
        return TD_DETECT_MAYBE;
    if (b[i] != ',' && b[i] != '*')
        return TD_DETECT_NO;
    h->type = (td_span){(const char *)b + start, 3};
    h->body = i;
    /* The declared length covers at least ",<IMEI>,<type>*XX\r\n". */
    if ((size_t)h->length < h->id.n + 3 + 1 + 5 || (size_t)h->length > MT_MAX_FRAME)
        return TD_DETECT_NO;
    return TD_DETECT_YES;
}

/* Offset of the byte after the declared frame (flag, digits and length). */
static size_t declared_end(const mt_head *h)
{
    return 3 + h->len_digits + (size_t)h->length;
}

static int detect(const uint8_t *buf, size_t len)
{
    mt_head h;

    if (len == 0)
        return TD_DETECT_MAYBE;
    return head(buf, len, &h);
}

/* Types whose content is binary: only their declared length ends them. */
static bool binary_type(td_span t)
{
    return td_span_eq(t, "CCC") || td_span_eq(t, "CCE") || td_span_eq(t, "CFF") ||
           td_span_eq(t, "D00");
}

static bool is_hex(uint8_t c)
{
    return isxdigit(c) != 0;
}

/* Does "*XX\r\n" end at b[end - 1]? */
static bool tail_at(const uint8_t *b, size_t end)
{
    return end >= 5 && b[end - 5] == '*' && is_hex(b[end - 4]) && is_hex(b[end - 3]) &&
           b[end - 2] == '\r' && b[end - 1] == '\n';
}

/*
 * Finds the end of the frame at b (its header h complete). A frame whose
 * declared length ends in "*XX\r\n" is cut there. Binary types wait for
 * their declared length; text types (whose length field some firmwares get
 * wrong) end at the first "*XX\r\n", or where the next frame starts.
 */
static long frame_end(const uint8_t *b, size_t len, const mt_head *h)
{
    size_t end = declared_end(h);

    if (end <= len && tail_at(b, end))
        return (long)end;
    if (binary_type(h->type)) {
        if (end > len)
            return 0;
        /* The length is wrong: the first "*XX\r\n" after it ends the frame. */
    }
    size_t from = binary_type(h->type) ? end - 5 : h->body;
    for (size_t p = from; p < len; p++) {
        if (b[p] == '*' && p + 5 <= len && tail_at(b, p + 5))
            return (long)(p + 5);
        if (p > h->body && b[p] == '$') {
            mt_head next;
            int d = head(b + p, len - p, &next);
            if (d == TD_DETECT_YES)
                return (long)p;
            if (d == TD_DETECT_MAYBE)
                return 0;
        }
    }
    if (len > (binary_type(h->type) ? MT_MAX_FRAME : MT_TEXT_MAX))
        return TD_ETOOBIG;
    return 0;
}

static long frame(const uint8_t *buf, size_t len, size_t *skip)
{
    size_t s = 0;
    mt_head h;
    int d = TD_DETECT_NO;

    /* Noise before a frame (line ends, bytes of a lost frame) is skipped. */
    while (s < len && (d = head(buf + s, len - s, &h)) == TD_DETECT_NO)
        s++;
    *skip = s;
    if (s == len || d == TD_DETECT_MAYBE)
        return 0;
    return frame_end(buf + s, len - s, &h);
}

/* ---- decoding helpers ---- */

static int add(td_decode_ctx *ctx, td_rec_type type, td_record **out)
{
    *out = td_ctx_add(ctx, type);
    return *out ? 0 : td_ctx_error(ctx, TD_ENOMEM, "meitrack: too many records");
}

static int bad(td_decode_ctx *ctx, const char *what, td_span s)
{
    return td_ctx_error(ctx, TD_EBADFRAME, "meitrack: bad %s '%.*s'", what,
                        (int)(s.n > 32 ? 32 : s.n), s.p);
}

static bool all_digits(td_span s)
{
    for (size_t i = 0; i < s.n; i++)
        if (!isdigit((unsigned char)s.p[i]))
            return false;
    return s.n > 0;
}

static bool all_hex(td_span s)
{
    for (size_t i = 0; i < s.n; i++)
        if (!isxdigit((unsigned char)s.p[i]))
            return false;
    return s.n > 0;
}

/* The contract's alarm for an event code, or -1. */
static int event_alarm(int64_t code)
{
    switch (code) {
    case 1: /* SOS pressed */
        return TD_ALARM_SOS;
    case 17: /* low (internal) battery */
        return TD_ALARM_LOW_BATTERY;
    case 18: /* low external battery */
        return TD_ALARM_LOW_POWER;
    case 19: /* speeding */
        return TD_ALARM_OVERSPEED;
    case 20: /* enter geo-fence */
        return TD_ALARM_GEOFENCE_ENTER;
    case 21: /* exit geo-fence */
        return TD_ALARM_GEOFENCE_EXIT;
    case 23: /* external battery cut */
        return TD_ALARM_POWER_CUT;
    default:
        return -1;
    }
}

static void set_event(td_record *r, int64_t code)
{
    int a = event_alarm(code);
    td_rec_raw_int(r, "event", code);
    if (a >= 0)
        td_rec_alarm(r, (td_alarm)a);
}

/* Appends "@@<flag><len>,<IMEI>,<type>,<n>*XX\r\n", the confirmation of n
 * compressed records. */
static int confirm(td_decode_ctx *ctx, const mt_head *h, int n)
{
    char body[64], out[96];
    /* The length counts ",<IMEI>,<type>,<n>*XX\r\n". */
    int blen = snprintf(body, sizeof(body), ",%.*s,%.*s,%d*", (int)h->id.n, h->id.p, (int)h->type.n,
                        h->type.p, n);
    if (blen < 0 || (size_t)blen >= sizeof(body))
        return td_ctx_error(ctx, TD_EINVAL, "meitrack: device id too long for an answer");
    int len = snprintf(out, sizeof(out), "@@%c%d%s", h->flag, blen + 4, body);
    unsigned sum = 0;
    for (int i = 0; i < len; i++)
        sum += (uint8_t)out[i];
    len += snprintf(out + len, sizeof(out) - (size_t)len, "%02X\r\n", sum & 0xff);
    return td_ctx_reply(ctx, out, (size_t)len);
}

/* ---- AAA: the event report ---- */

/* "MCC|MNC|LAC|CI" with LAC and CI in hex; cells with MCC 0 are left out. */
static void aaa_cell(td_record *r, td_span s)
{
    td_span p[4];
    int64_t mcc, mnc, lac, cid;

    if (td_split(s, '|', p, 4) != 4 || !td_parse_int(p[0], &mcc) || !td_parse_int(p[1], &mnc) ||
        !td_parse_hex(p[2], &lac) || !td_parse_hex(p[3], &cid))
        return;
    if (mcc <= 0 || mcc > 999 || mnc < 0 || mnc > 999)
        return;
    td_rec_add_cell(r, (int)mcc, (int)mnc, lac, cid, false, 0);
}

/*
 * "AD1|AD2|AD3|AD4|AD5". Reports of the current documents (those that carry
 * a protocol version) write each as 4 hex digits in hundredths of a volt,
 * AD4 the battery and AD5 the external power. Older firmwares write
 * converter counts without a unit, kept as adc1..adc5 (hex when every value
 * is 4 hex digits, else decimal).
 */
static void aaa_analog(td_record *r, td_span s, bool volts)
{
    static const char *const names[5] = {"adc1", "adc2", "adc3", "adc4", "adc5"};
    td_span p[5];
    int n = td_split(s, '|', p, 5);
    bool hex = true;
    int64_t v;

    for (int i = 0; i < n; i++)
        if (p[i].n && (p[i].n != 4 || !all_hex(p[i])))
            hex = false;
    for (int i = 0; i < n; i++) {
        if (!p[i].n || !(hex ? td_parse_hex(p[i], &v) : td_parse_int(p[i], &v)))
            continue;
        if (!hex || !volts)
            td_rec_raw_int(r, names[i], v);
        else if (i == 3)
            td_rec_set_double(r, TD_ATTR_BATTERY, (double)v / 100.0);
        else if (i == 4)
            td_rec_raw_double(r, "power", (double)v / 100.0);
        else
            td_rec_raw_double(r, names[i], (double)v / 100.0);
    }
}

/* An optional field after the analog inputs, kept as text when present. */
static void keep_text(td_record *r, const char *key, td_span s)
{
    if (s.n)
        td_rec_raw_str(r, key, s.p, s.n);
}

/* An optional number field: empty is absent (*has false), else it must be
 * a number in [lo, hi]. */
static bool opt_num(td_span s, double lo, double hi, double *out, bool *has)
{
    *has = s.n > 0;
    if (!*has)
        return true;
    return td_parse_double(s, out) && *out >= lo && *out <= hi;
}

/*
 * AAA,<event>,<lat>,<lon>,<yymmddHHMMSS>,<A|V>,<satellites>,<GSM>,<speed>,
 * <course>,<HDOP>,<altitude>,<mileage>,<run time>,<cell>,<I/O>,<analog>
 * [,<assisted event>,<custom data>,<protocol version>,<fuel>,<sensors>...]
 * The number fields after the fix flag may be empty (not measured).
 */
static int decode_aaa(td_decode_ctx *ctx, td_span content)
{
    static const struct {
        const char *what;
        double lo, hi;
    } nums[8] = {{"number of satellites", 0, 99},
                 {"GSM signal", 0, 99},
                 {"speed", 0, 1999},
                 {"direction", 0, 360},
                 {"HDOP", 0, 99.9},
                 {"altitude", -20000, 100000},
                 {"mileage", 0, 1e12},
                 {"run time", 0, 1e12}};
    td_span f[MT_FIELDS_MAX];
    int n = td_split(content, ',', f, MT_FIELDS_MAX);
    int64_t event, io, when = ctx->now_ms;
    double lat, lon, v[8] = {0};
    bool has[8], timed = true;
    td_record *r;
    int rc;

    if (n < 13)
        return td_ctx_error(ctx, TD_EBADFRAME,
                            "meitrack: AAA report with %d fields, want at least 13", n);
    if (!td_parse_int(f[0], &event) || event < 0 || event > 0xffff)
        return bad(ctx, "event code", f[0]);
    if (!td_parse_double(f[1], &lat) || lat < -90 || lat > 90)
        return bad(ctx, "latitude", f[1]);
    if (!td_parse_double(f[2], &lon) || lon < -180 || lon > 180)
        return bad(ctx, "longitude", f[2]);
    if (td_span_eq(f[3], "000000000000")) /* no clock yet: the server's time */
        timed = false;
    else if (f[3].n != 12 || !all_digits(f[3]) ||
             !td_parse_yymmdd_hhmmss((td_span){f[3].p, 6}, (td_span){f[3].p + 6, 6}, &when))
        return bad(ctx, "date and time", f[3]);
    if (!td_span_eq(f[4], "A") && !td_span_eq(f[4], "V"))
        return bad(ctx, "positioning status", f[4]);
    for (int i = 0; i < 8; i++)
        if (!opt_num(f[5 + i], nums[i].lo, nums[i].hi, &v[i], &has[i]))
            return bad(ctx, nums[i].what, f[5 + i]);

    if ((rc = add(ctx, TD_REC_POSITION, &r)) < 0)
        return rc;
    r->time_ms = when;
    r->has_time = timed;
    r->valid = f[4].p[0] == 'A';
    r->latitude = lat;
    r->longitude = lon;
    r->speed = v[2];
    r->course = v[3];
    r->altitude = v[5];
    set_event(r, event);
    if (has[0])
        td_rec_set_int(r, TD_ATTR_SATELLITES, (int64_t)v[0]);
    if (has[1])
        td_rec_set_int(r, TD_ATTR_RSSI, (int64_t)v[1]);
    if (has[4])
        td_rec_set_double(r, TD_ATTR_HDOP, v[4]);
    if (has[6])
        td_rec_set_double(r, TD_ATTR_ODOMETER, v[6]);
    if (has[7])
        td_rec_raw_int(r, "runTime", (int64_t)v[7]);
    if (n > 13)
        aaa_cell(r, f[13]);
    if (n > 14 && f[14].n == 4 && td_parse_hex(f[14], &io))
        td_rec_raw_int(r, "io", io);
    if (n > 15)
        aaa_analog(r, f[15], n > 18 && f[18].n > 0);
    if (n > 16)
        keep_text(r, "eventInfo", f[16]);
    if (n > 17)
        keep_text(r, "customData", f[17]);
    if (n > 18)
        keep_text(r, "protocolVersion", f[18]);
    if (n > 19)
        keep_text(r, "fuel", f[19]);
    if (n > 20)
        keep_text(r, "sensors", f[20]);
    return 0;
}

/* ---- little-endian readers over the binary content ---- */

typedef struct mt_buf {
    const uint8_t *p;
    size_t n, at;
    bool short_read; /* a read ran past the end */
} mt_buf;

static uint32_t rd(mt_buf *b, int bytes)
{
    uint32_t v = 0;

    if (b->at + (size_t)bytes > b->n) {
        b->short_read = true;
        b->at = b->n;
        return 0;
    }
    for (int i = 0; i < bytes; i++)
        v |= (uint32_t)b->p[b->at + (size_t)i] << (8 * i);
    b->at += (size_t)bytes;
    return v;
}

/* A fix time in seconds since 2000-01-01 UTC. Returns false for a time
 * past 2099, which no tracker sends (0, no time, leaves the server's). */
static bool time2000(td_record *r, uint32_t secs)
{
    if (secs == 0)
        return true;
    if ((int64_t)secs >= MT_EPOCH_2100 - MT_EPOCH_2000)
        return false;
    r->time_ms = (MT_EPOCH_2000 + (int64_t)secs) * 1000;
    r->has_time = true;
    return true;
}

/* ---- CCC: compressed records ---- */

/*
 * One 52-byte record of version 0x0102: event, latitude, longitude (signed,
 * millionths of a degree), time, fix, satellites, GSM signal, speed,
 * course, HDOP (tenths), altitude, mileage, run time, MCC, MNC, LAC, CI,
 * I/O, AD1, battery and external power (hundredths of a volt), geo-fence.
 */
static int ccc_record(td_decode_ctx *ctx, mt_buf *b)
{
    td_record *r;
    int rc;

    if ((rc = add(ctx, TD_REC_POSITION, &r)) < 0)
        return rc;
    set_event(r, rd(b, 1));
    double lat = (int32_t)rd(b, 4) / 1e6, lon = (int32_t)rd(b, 4) / 1e6;
    if (lat < -90 || lat > 90 || lon < -180 || lon > 180)
        return td_ctx_error(ctx, TD_EBADFRAME, "meitrack: CCC coordinates out of range");
    r->latitude = lat;
    r->longitude = lon;
    if (!time2000(r, rd(b, 4)))
        return td_ctx_error(ctx, TD_EBADFRAME, "meitrack: CCC time past 2099");
    r->valid = rd(b, 1) != 0;
    td_rec_set_int(r, TD_ATTR_SATELLITES, rd(b, 1));
    td_rec_set_int(r, TD_ATTR_RSSI, rd(b, 1));
    r->speed = rd(b, 2);
    if (r->speed >= MT_SPEED_MAX)
        return td_ctx_error(ctx, TD_EBADFRAME, "meitrack: CCC speed %.0f km/h", r->speed);
    r->course = rd(b, 2) % 360;
    td_rec_set_double(r, TD_ATTR_HDOP, rd(b, 2) / 10.0);
    r->altitude = (int16_t)rd(b, 2);
    td_rec_set_double(r, TD_ATTR_ODOMETER, rd(b, 4));
    td_rec_raw_int(r, "runTime", rd(b, 4));
    int mcc = (int)rd(b, 2), mnc = (int)rd(b, 2);
    int64_t lac = rd(b, 2), cid = rd(b, 2);
    if (mcc > 0 && mcc <= 999 && mnc <= 999)
        td_rec_add_cell(r, mcc, mnc, lac, cid, false, 0);
    td_rec_raw_int(r, "io", rd(b, 2));
    td_rec_raw_double(r, "adc1", rd(b, 2) / 100.0);
    td_rec_set_double(r, TD_ATTR_BATTERY, rd(b, 2) / 100.0);
    td_rec_raw_double(r, "power", rd(b, 2) / 100.0);
    uint32_t fence = rd(b, 4);
    if (fence)
        td_rec_raw_int(r, "geofence", fence);
    return 0;
}

/* CCC,<version:2><record length:2><records left in the cache:4><records>. */
static int decode_ccc(td_decode_ctx *ctx, const mt_head *h, const uint8_t *p, size_t n)
{
    mt_buf b = {p, n, 0, false};
    unsigned version = rd(&b, 2), size = rd(&b, 2);
    uint32_t left = rd(&b, 4);
    int count = 0, rc;

    if (b.short_read)
        return td_ctx_error(ctx, TD_EBADFRAME, "meitrack: CCC header truncated");
    if (version != 0x0102 || size != MT_CCC_RECORD)
        return td_ctx_error(ctx, TD_EUNSUPPORTED,
                            "meitrack: CCC version 0x%04x with %u-byte records not supported",
                            version, size);
    if ((n - b.at) % size != 0)
        return td_ctx_error(ctx, TD_EBADFRAME,
                            "meitrack: CCC content of %zu bytes is not whole %u-byte records",
                            n - b.at, size);
    while (b.at < n && count < TD_MAX_RECORDS) {
        if ((rc = ccc_record(ctx, &b)) < 0)
            return rc;
        td_rec_raw_int(&ctx->rec[ctx->nrec - 1], "cacheLeft", left);
        count++;
    }
    return confirm(ctx, h, count);
}

/* ---- CCE: records of parameters ---- */

/* The key of a parameter kept raw: "param" and its id in hex. */
static const char *param_key(char buf[16], unsigned id)
{
    snprintf(buf, 16, id > 0xff ? "param%04X" : "param%02X", id);
    return buf;
}

static void cce_one(td_record *r, unsigned id, uint32_t v)
{
    char key[16];

    switch (id) {
    case 0x01: /* event code */
        set_event(r, v);
        break;
    case 0x05: /* positioning status */
        r->valid = v != 0;
        break;
    case 0x06:
        td_rec_set_int(r, TD_ATTR_SATELLITES, v);
        break;
    case 0x07: /* GSM signal */
        td_rec_set_int(r, TD_ATTR_RSSI, v);
        break;
    case 0x14: /* output port status */
        td_rec_raw_int(r, "output", v);
        break;
    case 0x15: /* input port status */
        td_rec_raw_int(r, "input", v);
        break;
    case 0xfe69: /* battery percentage */
        if (v <= 100)
            td_rec_set_int(r, TD_ATTR_BATTERY_LEVEL, v);
        break;
    default:
        td_rec_raw_int(r, param_key(key, id), v);
    }
}

/* Returns false for a value out of its range. */
static bool cce_two(td_record *r, unsigned id, uint32_t v)
{
    char key[16];

    switch (id) {
    case 0x08: /* speed, km/h */
        if (v >= MT_SPEED_MAX)
            return false;
        r->speed = v;
        break;
    case 0x09: /* direction */
        r->course = v % 360;
        break;
    case 0x0a: /* HDOP, tenths */
        td_rec_set_double(r, TD_ATTR_HDOP, v / 10.0);
        break;
    case 0x0b: /* altitude, metres, signed */
        r->altitude = (int16_t)v;
        break;
    case 0x16: /* analog inputs 1-3, hundredths of a volt */
    case 0x17:
    case 0x18: {
        static const char *const adc[] = {"adc1", "adc2", "adc3"};
        td_rec_raw_double(r, adc[id - 0x16], v / 100.0);
        break;
    }
    case 0x19: /* battery voltage */
        td_rec_set_double(r, TD_ATTR_BATTERY, v / 100.0);
        break;
    case 0x1a: /* external power voltage */
        td_rec_raw_double(r, "power", v / 100.0);
        break;
    case 0x40: /* event code, two-byte form */
        set_event(r, v);
        break;
    default:
        td_rec_raw_int(r, param_key(key, id), v);
    }
    return true;
}

/* Returns 1 when the parameter set the latitude (2) or longitude (3), -1
 * for a value out of its range, else 0. */
static int cce_four(td_record *r, unsigned id, uint32_t v)
{
    char key[16];

    switch (id) {
    case 0x02:
        r->latitude = (int32_t)v / 1e6;
        return r->latitude >= -90 && r->latitude <= 90 ? 1 : -1;
    case 0x03:
        r->longitude = (int32_t)v / 1e6;
        return r->longitude >= -180 && r->longitude <= 180 ? 1 : -1;
    case 0x04: /* seconds since 2000 */
        return time2000(r, v) ? 0 : -1;
    case 0x0c: /* mileage, metres */
        td_rec_set_double(r, TD_ATTR_ODOMETER, v);
        break;
    case 0x0d: /* run time, seconds */
        td_rec_raw_int(r, "runTime", v);
        break;
    default:
        td_rec_raw_int(r, param_key(key, id), v);
    }
    return 0;
}

/* N-byte values: the cell (MCC, MNC, LAC, CI of 2 or 4 bytes, signal) and
 * the network name; others are kept as hex when short. */
static void cce_many(td_record *r, unsigned id, const uint8_t *v, size_t n)
{
    char key[16], hex[2 * 32 + 1];

    if (id == 0x0e && n >= 8) {
        mt_buf b = {v, n, 0, false};
        int mcc = (int)rd(&b, 2), mnc = (int)rd(&b, 2);
        int64_t lac = rd(&b, 2), cid = rd(&b, n >= 12 ? 4 : 2);
        bool has_rssi = b.n - b.at >= 2;
        int rssi = has_rssi ? (int16_t)rd(&b, 2) : 0;
        if (mcc > 0 && mcc <= 999 && mnc <= 999)
            td_rec_add_cell(r, mcc, mnc, lac, cid, has_rssi, rssi);
    } else if (id == 0x4b && n >= 3 && v[2] <= n - 3) {
        /* network: two bytes, then the name's length and the name */
        bool text = true;
        for (size_t i = 0; i < v[2]; i++)
            text = text && v[3 + i] >= 0x20 && v[3 + i] < 0x7f;
        if (text && v[2])
            td_rec_raw_str(r, "network", (const char *)v + 3, v[2]);
    } else if (n <= 32) {
        td_hex_encode(v, n, hex, sizeof(hex));
        td_rec_raw_str(r, param_key(key, id), hex, strlen(hex));
    }
}

/* One record: <parameter count:2>, then four groups (1-, 2-, 4- and N-byte
 * values), each a count byte and <id><value> pairs; an id 0xFE takes the
 * next byte as its low half. b ends at the record's end. */
static int cce_record(td_decode_ctx *ctx, mt_buf *b)
{
    static const int sizes[4] = {1, 2, 4, 0};
    td_record *r;
    int rc, coords = 0;

    if ((rc = add(ctx, TD_REC_POSITION, &r)) < 0)
        return rc;
    rd(b, 2); /* the parameter count: the groups' counts say it again */
    for (int g = 0; g < 4 && !b->short_read; g++) {
        unsigned count = rd(b, 1);
        for (unsigned k = 0; k < count && !b->short_read; k++) {
            unsigned id = rd(b, 1);
            if (id == 0xfe)
                id = 0xfe00 | rd(b, 1);
            if (sizes[g] == 0) {
                size_t len = rd(b, 1);
                if (b->short_read || b->at + len > b->n) {
                    b->short_read = true;
                    break;
                }
                cce_many(r, id, b->p + b->at, len);
                b->at += len;
                continue;
            }
            uint32_t v = rd(b, sizes[g]);
            if (b->short_read)
                break;
            bool ok = true;
            if (g == 0) {
                cce_one(r, id, v);
            } else if (g == 1) {
                ok = cce_two(r, id, v);
            } else {
                int set = cce_four(r, id, v);
                ok = set >= 0;
                coords += set > 0;
            }
            if (!ok)
                return td_ctx_error(ctx, TD_EBADFRAME,
                                    "meitrack: CCE parameter 0x%02X value %u out of range", id, v);
        }
    }
    if (coords < 2) { /* no fix in this record: telemetry only */
        r->type = TD_REC_STATUS;
        r->latitude = r->longitude = 0;
        r->valid = false;
    }
    return 0;
}

/* CCE,<records left in the cache:4><record count:2>, then each record as
 * <length:2><record>. Records past TD_MAX_RECORDS stay unconfirmed. */
static int decode_cce(td_decode_ctx *ctx, const mt_head *h, const uint8_t *p, size_t n)
{
    mt_buf b = {p, n, 0, false};
    uint32_t left = rd(&b, 4);
    unsigned count = rd(&b, 2), done = 0;
    int rc;

    if (b.short_read)
        return td_ctx_error(ctx, TD_EBADFRAME, "meitrack: CCE header truncated");
    for (; done < count && done < TD_MAX_RECORDS; done++) {
        size_t size = rd(&b, 2);
        if (b.short_read || b.at + size > n)
            return td_ctx_error(ctx, TD_EBADFRAME, "meitrack: CCE record %u of %u truncated",
                                done + 1, count);
        mt_buf rec = {p + b.at, size, 0, false};
        if ((rc = cce_record(ctx, &rec)) < 0)
            return rc;
        td_rec_raw_int(&ctx->rec[ctx->nrec - 1], "cacheLeft", left);
        b.at += size;
    }
    return confirm(ctx, h, (int)done);
}

/* ---- answers to server commands, and the frame ---- */

/* "<type>,<result>" of an answer ("D03,OK", "A11,OK", "E91,<version>"). */
static int decode_answer(td_decode_ctx *ctx, const mt_head *h, const uint8_t *p, size_t n)
{
    td_record *r;
    char result[MT_RESULT_MAX];
    size_t k = 0;
    int rc;

    if ((rc = add(ctx, TD_REC_ACK, &r)) < 0)
        return rc;
    k += (size_t)snprintf(result, sizeof(result), "%.*s", (int)h->type.n, h->type.p);
    if (n && k + 1 < sizeof(result))
        result[k++] = ',';
    for (size_t i = 0; i < n && k + 1 < sizeof(result); i++)
        result[k++] = p[i] >= 0x20 && p[i] < 0x7f ? (char)p[i] : '.';
    result[k] = '\0';
    td_rec_raw_str(r, "result", result, k);
    snprintf(ctx->ack_result, sizeof(ctx->ack_result), "%s", result);
    return 0;
}

static int decode_frame(td_decode_ctx *ctx, const uint8_t *frame, size_t len)
{
    mt_head h;

    while (len && (frame[len - 1] == '\n' || frame[len - 1] == '\r'))
        len--;
    if (head(frame, len, &h) != TD_DETECT_YES)
        return td_ctx_error(ctx, TD_EBADFRAME,
                            "meitrack: not a $$<flag><length>,<IMEI>,<type> "
                            "header");
    if (len < h.body + 3 || frame[len - 3] != '*' || !is_hex(frame[len - 2]) ||
        !is_hex(frame[len - 1]))
        return td_ctx_error(ctx, TD_EBADFRAME, "meitrack: frame does not end with *<checksum>");
    if (ctx->session && td_session_identify(ctx->session, h.id.p, h.id.n) < 0)
        return bad(ctx, "IMEI", h.id);

    /* The content: after the type's comma, up to the checksum's '*'. */
    size_t at = h.body + (frame[h.body] == ',' ? 1 : 0), end = len - 3;
    if (at > end)
        at = end;
    const uint8_t *content = frame + at;
    size_t n = end - at;
    unsigned sum = 0;
    int64_t want = 0;
    for (size_t i = 0; i <= end; i++)
        sum += frame[i];
    td_parse_hex((td_span){(const char *)frame + len - 2, 2}, &want);

    int rc;
    if (td_span_eq(h.type, "AAA")) {
        /* Text: a trailing comma before '*' is common and means nothing. */
        rc = decode_aaa(ctx, (td_span){(const char *)content, n});
    } else if (td_span_eq(h.type, "CCC")) {
        rc = decode_ccc(ctx, &h, content, n);
    } else if (td_span_eq(h.type, "CCE")) {
        rc = decode_cce(ctx, &h, content, n);
    } else {
        rc = decode_answer(ctx, &h, content, n);
    }
    /* Shipping firmwares send wrong checksums on frames that are otherwise
     * whole; the records keep them, marked. */
    if (rc == 0 && (int64_t)(sum & 0xff) != want)
        for (int i = 0; i < ctx->nrec; i++)
            td_rec_raw_bool(&ctx->rec[i], "checksumError", true);
    return rc;
}

static int decode(td_decode_ctx *ctx, const uint8_t *frame, size_t len)
{
    int rc = len ? decode_frame(ctx, frame, len)
                 : td_ctx_error(ctx, TD_EBADFRAME, "meitrack: empty frame");
    if (rc < 0) { /* a frame that fails yields nothing, half-built records included */
        ctx->nrec = 0;
        ctx->reply_len = 0;
    }
    return rc;
}

const td_protocol td_proto_meitrack = {
    /* name: registry key and `decode --protocol` name */
    .name = "meitrack",
    /* devices: example devices, for /api/server and the docs */
    .devices = "Meitrack MVT100/340/380/600/800, T1, T3, T333, T355, T366, T399, T622, TC68, P66, "
               "P88L, P99G",
    /* transports: the same frames over TCP and in UDP datagrams */
    .transports = TD_TCP | TD_UDP,
    /* max_frame: the longest compressed batch */
    .max_frame = MT_MAX_FRAME,
    /* detect: "$$", a flag, the length, the IMEI and a three-character type */
    .detect = detect,
    /* frame: by the declared length, or up to "*XX\r\n" for text types */
    .frame = frame,
    /* decode: AAA/CCC/CCE records, command answers, CCC/CCE confirmations */
    .decode = decode,
    /* commands: none yet */
    .commands = NULL,
    /* encode: none yet */
    .encode = NULL,
};
