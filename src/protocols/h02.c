/*
 * h02: the "TQ" GPRS protocol of Sinotrack (ST-901, ST-906, ST-915) and the
 * many H02-compatible clones, after the manufacturer's "TQ GPRS transport
 * protocol" / "GPS Tracker Protocol" documents summarised, with sources, in
 * docs/protocols/h02.md.
 *
 * Two frame forms share one connection:
 *   text    `*XX,<id>,<type>,<field>,...#` (XX: a two-letter maker code such
 *           as HQ or TH; the id is the device's 10-15 digit serial or IMEI);
 *   binary  `$` + a 32-byte BCD position record (5-byte id, time, date,
 *           latitude, power, longitude with the fix/hemisphere nibble, speed,
 *           course, 4-byte vehicle status, 3 bytes more), which some
 *           firmwares follow with extension bytes kept here as raw hex.
 *
 * Message types: V1 (and the other position reports V2, V5-V9, V19, VI1,
 * ...) position with vehicle status, answered `*XX,<id>,V4,V1,<UTC
 * yyyyMMddHHmmss>#`; V4 the device's confirmation of a server command, with
 * its position; NBR neighbouring cells, answered `*XX,<id>,V4,NBR,<UTC>#`;
 * V3 cells with power; LINK link status (GSM signal, satellites, battery,
 * steps); VP1 position or cells of the simplified family; HTBT and V0
 * heartbeats, echoed as `*XX,<id>,HTBT#` / `*XX,<id>,V0#`; the binary
 * position record. Other types become "other" records with their content.
 * The vehicle status is a 32-bit word in negative logic (a 0 bit is an
 * active alarm or state); its alarm bits map onto the contract's names.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "core/text.h"
#include "protocols/registry.h"

#define H02_TEXT_MAX 1024 /* a text frame longer than this has lost its '#' */
#define H02_BIN_LEN 32    /* the binary position record */
#define H02_BIN_MAX 128   /* the record with extension bytes, at most */
#define H02_BIN_HEAD 25   /* bytes of the record whose BCD layout is checked */
#define H02_ID_MAX 20     /* digits of a device id */
#define H02_TYPE_MAX 8    /* characters of a message type */
#define H02_FIELDS_MAX 96
#define H02_CONTENT_MAX 200 /* characters of an unknown message kept as content */
#define H02_KNOTS_KMH 1.852

/* ---- detection and framing ---- */

static bool bcd_ok(uint8_t b)
{
    return (b >> 4) <= 9 && (b & 0x0f) <= 9;
}

static int bcd(uint8_t b)
{
    return (b >> 4) * 10 + (b & 0x0f);
}

/*
 * Checks the first bytes of a binary record (up to the course) against its
 * layout, with an id of idlen bytes (5: 10 BCD digits; 8: an IMEI of 15
 * digits and a filler nibble): BCD id, a time of day, a calendar date
 * (zeros allowed for a device without a fix), latitude and longitude in
 * range, BCD speed and course. Returns false as soon as a byte present
 * cannot belong to one.
 */
static bool bin_head_ok(const uint8_t *b, size_t len, size_t idlen)
{
    static const uint8_t max[12] = {0, 99, 99, 99, 99, 99, 23, 59, 59, 31, 12, 99};
    size_t shift = idlen - 5, end = H02_BIN_HEAD + shift;
    size_t n = len < end ? len : end;

    for (size_t k = 0; k < n; k++) {
        uint8_t c = b[k];
        size_t i = k > idlen ? k - shift : k; /* the index in the short layout */
        if (k >= 1 && k <= idlen) {
            /* Id digits; the last nibble of a long id is a filler. */
            if ((c >> 4) > 9 || (k < 8 && (c & 0x0f) > 9))
                return false;
            continue;
        }
        if (i == 0) {
            if (c != '$')
                return false;
        } else if (i < 12) {
            if (!bcd_ok(c) || bcd(c) > max[i])
                return false;
        } else if (i == 12) {
            if (!bcd_ok(c) || bcd(c) > 90)
                return false;
        } else if (i == 13) {
            if (!bcd_ok(c) || bcd(c) > 59)
                return false;
        } else if (i == 14 || i == 15 || i == 17 || i == 19 || i == 20 || i == 22 || i == 24) {
            if (!bcd_ok(c))
                return false;
        } else if (i == 18) {
            /* Last degree digit, first minute digit. */
            if (!bcd_ok(c) || bcd(b[17 + shift]) * 10 + (c >> 4) > 180 || (c & 0x0f) > 5)
                return false;
        } else if (i == 21) {
            if ((c >> 4) > 9) /* last minute digit; the low nibble holds flags */
                return false;
        } else if (i == 23) {
            if ((c >> 4) > 9 || (c & 0x0f) > 3) /* speed digit, course hundreds */
                return false;
        }
    }
    return true;
}

/* Does a text frame's header `*XX,<digits>,<type>` fit in b? Returns
 * TD_DETECT_YES when complete (the type is b[*type_at, *type_end)), MAYBE
 * when b ends inside it, NO when it cannot be one. */
static int text_head(const uint8_t *b, size_t len, size_t *type_at, size_t *type_end)
{
    size_t i, start;

    if (len == 0)
        return TD_DETECT_MAYBE;
    if (b[0] != '*')
        return TD_DETECT_NO;
    for (i = 1; i < 3; i++) {
        if (i >= len)
            return TD_DETECT_MAYBE;
        if (!isalpha(b[i]))
            return TD_DETECT_NO;
    }
    if (len <= 3)
        return TD_DETECT_MAYBE;
    if (b[3] != ',')
        return TD_DETECT_NO;
    for (i = start = 4; i < len && isdigit(b[i]); i++)
        if (i - start >= H02_ID_MAX)
            return TD_DETECT_NO;
    if (i >= len)
        return TD_DETECT_MAYBE;
    if (b[i] != ',')
        return TD_DETECT_NO;
    for (i = start = i + 1; i < len && isalnum(b[i]); i++)
        if (i - start >= H02_TYPE_MAX)
            return TD_DETECT_NO;
    if (i >= len)
        return TD_DETECT_MAYBE;
    if (i == start || (b[i] != ',' && b[i] != '#'))
        return TD_DETECT_NO;
    *type_at = start;
    *type_end = i;
    return TD_DETECT_YES;
}

/* Position reports: a 'V', then digits or "I" and digits (V1, V19, VI1). */
static bool is_position_type(td_span t)
{
    size_t i = 1;

    if (t.n < 2 || t.p[0] != 'V')
        return false;
    if (t.p[1] == 'I')
        i++;
    if (i >= t.n)
        return false;
    for (; i < t.n; i++)
        if (!isdigit((unsigned char)t.p[i]))
            return false;
    return !td_span_eq(t, "V0") && !td_span_eq(t, "V3") && !td_span_eq(t, "V4");
}

/* Fields a message of type t needs after its type; 0 when not known. */
static int min_fields(td_span t)
{
    if (is_position_type(t))
        return 9; /* time, fix, lat, N/S, lon, E/W, speed, course, date */
    if (td_span_eq(t, "V4"))
        return 2; /* the confirmed command and its time, at least */
    if (td_span_eq(t, "NBR"))
        return 7; /* time, mcc, mnc, delay, count, date, status */
    if (td_span_eq(t, "LINK"))
        return 8;
    if (td_span_eq(t, "V3"))
        return 8; /* time, mcc+mnc, count, power, reboot, X, date, status */
    if (td_span_eq(t, "VP1"))
        return 3;
    return 0;
}

/* The id length of the binary record at b (5, or 8 for the long-id form),
 * judged on what has arrived; 0 when neither layout fits. */
static size_t bin_id_len(const uint8_t *b, size_t len)
{
    if (bin_head_ok(b, len, 5))
        return 5;
    return bin_head_ok(b, len, 8) ? 8 : 0;
}

static int detect(const uint8_t *buf, size_t len)
{
    size_t ta = 0, te = 0;

    if (len == 0)
        return TD_DETECT_MAYBE;
    if (buf[0] == '$') {
        size_t idlen = bin_id_len(buf, len);
        if (!idlen)
            return TD_DETECT_NO;
        return len >= 7 + idlen ? TD_DETECT_YES : TD_DETECT_MAYBE;
    }
    int d = text_head(buf, len, &ta, &te);
    if (d != TD_DETECT_YES)
        return d;
    /* The whole frame is in: it must be text and hold the fields its type
     * needs ("*HQ,<id>,V1,123519,A#" is not a position report). */
    const uint8_t *hash = memchr(buf, '#', len);
    if (hash) {
        size_t end = (size_t)(hash - buf);
        int fields = 0;
        for (size_t i = te; i < end; i++) {
            if (buf[i] < 0x20 || buf[i] > 0x7e)
                return TD_DETECT_NO;
            fields += buf[i] == ',';
        }
        if (fields < min_fields((td_span){(const char *)buf + ta, te - ta}))
            return TD_DETECT_NO;
    }
    return TD_DETECT_YES;
}

/* Could a frame start at b (n bytes available)? */
static bool frame_start(const uint8_t *b, size_t n)
{
    size_t ta, te;

    if (b[0] == '$')
        return bin_id_len(b, n) != 0;
    return b[0] == '*' && text_head(b, n < 8 ? n : 8, &ta, &te) != TD_DETECT_NO;
}

/*
 * Cuts a binary record at b. The record is 32 bytes (35 with a long id);
 * bytes after it that start no frame (nor a line end) are extension bytes
 * of the same frame, up to the next frame start or what has arrived, at
 * most H02_BIN_MAX.
 */
static long bin_frame(const uint8_t *b, size_t len)
{
    if (len < H02_BIN_LEN)
        return 0;
    size_t base = H02_BIN_LEN + (bin_id_len(b, len) == 8 ? 3 : 0);
    if (len < base)
        return 0;
    size_t lim = len < H02_BIN_MAX ? len : H02_BIN_MAX;
    for (size_t p = base; p < lim; p++)
        if (b[p] == '\r' || b[p] == '\n' || frame_start(b + p, len - p))
            return (long)p;
    return (long)lim;
}

static long frame(const uint8_t *buf, size_t len, size_t *skip)
{
    size_t s = 0;

    while (s < len && !frame_start(buf + s, len - s))
        s++;
    *skip = s;
    buf += s;
    len -= s;
    if (len == 0)
        return 0;
    if (buf[0] == '$')
        return bin_frame(buf, len);
    const uint8_t *hash = memchr(buf, '#', len < H02_TEXT_MAX ? len : H02_TEXT_MAX);
    if (hash)
        return (long)(hash - buf) + 1;
    return len >= H02_TEXT_MAX ? TD_ETOOBIG : 0;
}

/* ---- decoding helpers ---- */

/* Copies s into buf for an error message: printable ASCII only, short. */
static const char *show(td_span s, char *buf, size_t cap)
{
    size_t n = s.n < cap - 1 ? s.n : cap - 1;
    for (size_t i = 0; i < n; i++)
        buf[i] = isprint((unsigned char)s.p[i]) ? s.p[i] : '?';
    buf[n] = '\0';
    return buf;
}

static int bad(td_decode_ctx *ctx, const char *what, td_span s)
{
    char b[48];
    return td_ctx_error(ctx, TD_EBADFRAME, "h02: bad %s '%s'", what, show(s, b, sizeof(b)));
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

static int add(td_decode_ctx *ctx, td_rec_type type, td_record **out)
{
    *out = td_ctx_add(ctx, type);
    return *out ? 0 : td_ctx_error(ctx, TD_ENOMEM, "h02: too many records");
}

/* The parts every text frame shares. */
typedef struct h02_msg {
    td_span maker; /* "HQ", "TH", "hq", ... */
    td_span id;    /* may be empty */
    td_span type;
    td_span f[H02_FIELDS_MAX]; /* the fields after the type */
    int n;
    td_span body; /* everything after the type's comma */
} h02_msg;

/*
 * Builds a time from `date` (ddMMyy) and `time` (HHmmss). Either may be
 * empty: no date gives the server time (has_time false); no time gives the
 * start of the day. Seconds or minutes past 59, which some firmwares send,
 * carry into the next minute or hour as on a clock.
 */
static int fix_time(td_decode_ctx *ctx, td_record *r, td_span date, td_span time)
{
    int d, mo, y, h = 0, mi = 0, s = 0;
    int64_t ms;

    if (date.n == 0 || td_span_eq(date, "000000")) {
        r->time_ms = ctx->now_ms;
        r->has_time = false;
        return 0;
    }
    if (date.n != 6 || !all_digits(date))
        return bad(ctx, "date", date);
    td_parse_fixed(date.p, 2, &d);
    td_parse_fixed(date.p + 2, 2, &mo);
    td_parse_fixed(date.p + 4, 2, &y);
    if (!td_utc_ms(2000 + y, mo, d, 0, 0, 0, &ms))
        return bad(ctx, "date", date);
    if (time.n) {
        if (time.n != 6 || !all_digits(time))
            return bad(ctx, "time", time);
        td_parse_fixed(time.p, 2, &h);
        td_parse_fixed(time.p + 2, 2, &mi);
        td_parse_fixed(time.p + 4, 2, &s);
        if (h > 23)
            return bad(ctx, "time", time);
    }
    r->time_ms = ms + ((int64_t)h * 3600 + mi * 60 + s) * 1000;
    r->has_time = true;
    return 0;
}

/*
 * A coordinate as the text forms write it: "ddmm.mmmm" (any number of
 * degree digits, "38.6508" is 0 degrees 38.6508'), "-dd-mm.mmmm", or
 * "ddmmmmmm" without a point (ddmm.mmmm with the point left out). hemi is
 * N/S or E/W; limit 90 or 180.
 */
static bool parse_coord(td_span s, td_span hemi, bool lon, double *out)
{
    double deg, min;
    int64_t di;
    const char *dot;

    s = td_trim(s);
    hemi = td_trim(hemi);
    if (hemi.n != 1 || !strchr(lon ? "EW" : "NS", hemi.p[0]))
        return false;
    if (s.n > 1 && s.p[0] == '-') {
        const char *dash = memchr(s.p + 1, '-', s.n - 1);
        if (!dash || !td_parse_int((td_span){s.p + 1, (size_t)(dash - s.p - 1)}, &di) || di < 0 ||
            !td_parse_double((td_span){dash + 1, (size_t)(s.p + s.n - dash - 1)}, &min))
            return false;
        deg = (double)di;
    } else if ((dot = memchr(s.p, '.', s.n)) != NULL) {
        size_t ip = (size_t)(dot - s.p);
        size_t dd = ip >= 2 ? ip - 2 : 0;
        if (!all_digits((td_span){s.p, ip}) || !all_digits((td_span){dot + 1, s.n - ip - 1}))
            return false;
        deg = 0;
        if (dd && !td_parse_int((td_span){s.p, dd}, &di))
            return false;
        deg = dd ? (double)di : 0;
        if (!td_parse_double((td_span){s.p + dd, s.n - dd}, &min))
            return false;
    } else {
        char buf[24];
        if (s.n < 7 || s.n > 12 || !all_digits(s))
            return false;
        if (!td_parse_int((td_span){s.p, s.n - 6}, &di))
            return false;
        snprintf(buf, sizeof(buf), "%.2s.%.*s", s.p + s.n - 6, 4, s.p + s.n - 4);
        if (!td_parse_double((td_span){buf, strlen(buf)}, &min))
            return false;
        deg = (double)di;
    }
    if (min < 0 || min >= 60)
        return false;
    deg += min / 60.0;
    if (deg > (lon ? 180.0 : 90.0))
        return false;
    *out = hemi.p[0] == 'S' || hemi.p[0] == 'W' ? -deg : deg;
    return true;
}

/* A speed in knots or a course; empty is 0. */
static bool parse_num(td_span s, double lo, double hi, double *out)
{
    s = td_trim(s);
    if (s.n == 0) {
        *out = 0;
        return true;
    }
    return td_parse_double(s, out) && *out >= lo && *out <= hi;
}

/*
 * The vehicle status word, negative logic: bit 0 anti-theft (vibration),
 * 1 robbery (SOS), 2 overspeed, 4 forbidden-zone entry, 7 out of area,
 * 10 ACC (1: on), 18 emergency (SOS), 19 main power lost (on backup
 * battery). The word itself is kept as `status` (8 hex digits).
 */
static void vehicle_status(td_record *r, uint32_t st)
{
    char hex[9];

    snprintf(hex, sizeof(hex), "%08X", st);
    td_rec_raw_str(r, "status", hex, 8);
    if (!(st & 1u << 0))
        td_rec_alarm(r, TD_ALARM_VIBRATION);
    if (!(st & 1u << 1) || !(st & 1u << 18))
        td_rec_alarm(r, TD_ALARM_SOS);
    if (!(st & 1u << 2))
        td_rec_alarm(r, TD_ALARM_OVERSPEED);
    if (!(st & 1u << 4))
        td_rec_alarm(r, TD_ALARM_GEOFENCE_ENTER);
    if (!(st & 1u << 7))
        td_rec_alarm(r, TD_ALARM_GEOFENCE_EXIT);
    if (!(st & 1u << 19))
        td_rec_alarm(r, TD_ALARM_POWER_CUT);
    td_rec_set_bool(r, TD_ATTR_IGNITION, (st & 1u << 10) != 0);
}

static int status_field(td_decode_ctx *ctx, td_record *r, td_span s)
{
    int64_t v;

    s = td_trim(s);
    if (s.n != 8 || !td_parse_hex(s, &v))
        return bad(ctx, "vehicle status", s);
    vehicle_status(r, (uint32_t)v);
    return 0;
}

/* Keeps text as a raw string attribute, printable characters only. */
static void raw_text(td_record *r, const char *key, td_span s)
{
    char buf[H02_CONTENT_MAX];
    size_t n = s.n < sizeof(buf) ? s.n : sizeof(buf);
    for (size_t i = 0; i < n; i++)
        buf[i] = isprint((unsigned char)s.p[i]) ? s.p[i] : '?';
    td_rec_raw_str(r, key, buf, n);
}

static void raw_numbered(td_record *r, const char *prefix, int i, td_span s)
{
    char key[24];
    snprintf(key, sizeof(key), "%s%d", prefix, i);
    raw_text(r, key, td_trim(s));
}

/* An integer field in base 10 or 16 (leading blanks allowed). */
static bool int_in(td_span s, bool hex, int64_t *out)
{
    s = td_trim(s);
    return hex ? td_parse_hex(s, out) : all_digits(s) && td_parse_int(s, out);
}

/*
 * The cell that follows the status in many V1 reports: mcc, mnc, lac, cid,
 * written in decimal by some firmwares and in hex by others. Hex when any
 * field has a hex letter or when only the hex reading gives a country code
 * (200-799). Returns false (nothing added) when neither reading fits.
 */
static bool status_cell(td_record *r, const td_span *f)
{
    bool letters = false;
    int64_t v[4];

    for (int i = 0; i < 4; i++) {
        td_span s = td_trim(f[i]);
        if (!all_hex(s))
            return false;
        for (size_t k = 0; k < s.n; k++)
            letters = letters || isalpha((unsigned char)s.p[k]);
    }
    for (int pass = 0; pass < 2; pass++) {
        bool hex = pass == 1;
        if (!hex && letters)
            continue;
        bool ok = true;
        for (int i = 0; i < 4 && ok; i++)
            ok = int_in(f[i], hex, &v[i]);
        if (ok && v[0] >= 200 && v[0] <= 799 && v[1] < 1000 && v[2] <= 0xffffff &&
            v[3] <= 0xfffffff) {
            td_rec_add_cell(r, (int)v[0], (int)v[1], v[2], v[3], false, 0);
            return true;
        }
    }
    return false;
}

/*
 * What follows the status in a position report: a cell (mcc, mnc, lac,
 * cid [, one more]); the reference layout "odometer, temperature, fuel,
 * altitude, lac, cid" (six fields, the third with a decimal point); or
 * anything else, kept as extra1, extra2, ...
 */
static void position_tail(td_record *r, const td_span *e, int n)
{
    int64_t odo, alt;
    double temp, fuel;
    int first = 0;

    if (n == 6 && td_parse_int(td_trim(e[0]), &odo) && odo >= 0 &&
        td_parse_double(td_trim(e[1]), &temp) && memchr(e[2].p, '.', e[2].n) &&
        td_parse_double(td_trim(e[2]), &fuel) && td_parse_int(td_trim(e[3]), &alt) &&
        all_hex(td_trim(e[4])) && all_hex(td_trim(e[5]))) {
        int64_t lac, cid;
        td_rec_set_double(r, TD_ATTR_ODOMETER, (double)odo);
        td_rec_raw_double(r, "temperature", temp);
        td_rec_raw_double(r, "fuel", fuel);
        r->altitude = (double)alt;
        td_parse_hex(td_trim(e[4]), &lac);
        td_parse_hex(td_trim(e[5]), &cid);
        td_rec_raw_int(r, "lac", lac);
        td_rec_raw_int(r, "cid", cid);
        return;
    }
    if ((n == 4 || n == 5) && status_cell(r, e))
        first = 4;
    for (int i = first; i < n; i++)
        raw_numbered(r, "extra", i - first + 1, e[i]);
}

/*
 * Decodes a fix starting at f[0] = time: time, validity, latitude, N/S,
 * longitude, E/W, speed (knots), course, [power level,] date, [SIM info...,]
 * [status [, tail...]]. Adds a position record, or a status record when the
 * report carries no coordinates. *out gets the record.
 */
static int decode_fix(td_decode_ctx *ctx, const td_span *f, int n, td_record **out)
{
    double lat = 0, lon = 0, speed, course;
    td_record *r;
    int rc, k;

    if (n < 9)
        return td_ctx_error(ctx, TD_EBADFRAME, "h02: position report with %d of 9 fields", n);
    td_span fix = td_trim(f[1]);
    bool have_lat = td_trim(f[2]).n > 0, have_lon = td_trim(f[4]).n > 0;
    if (have_lat != have_lon)
        return bad(ctx, have_lat ? "longitude" : "latitude", have_lat ? f[4] : f[2]);
    if (have_lat && !parse_coord(f[2], f[3], false, &lat))
        return bad(ctx, "latitude", f[2]);
    if (have_lon && !parse_coord(f[4], f[5], true, &lon))
        return bad(ctx, "longitude", f[4]);
    if (!parse_num(f[6], 0, 999.99, &speed))
        return bad(ctx, "speed", f[6]);
    if (!parse_num(f[7], 0, 360, &course))
        return bad(ctx, "course", f[7]);
    if ((rc = add(ctx, have_lat ? TD_REC_POSITION : TD_REC_STATUS, &r)) != 0)
        return rc;
    if (fix.n == 0) {
        r->valid = false; /* some units leave it out */
    } else if (fix.n == 1 && (fix.p[0] == 'A' || fix.p[0] == 'V' || fix.p[0] == 'B')) {
        r->valid = fix.p[0] == 'A';
        if (fix.p[0] == 'B')
            td_rec_raw_str(r, "fix", "B", 1);
    } else if (all_digits(fix)) {
        /* A coding-scheme number in place of A/V: the reference server
         * reads it as a valid fix. */
        r->valid = true;
        raw_text(r, "codingScheme", fix);
    } else {
        return bad(ctx, "validity", fix);
    }
    if (have_lat) {
        r->latitude = lat;
        r->longitude = lon;
        r->speed = speed * H02_KNOTS_KMH;
        r->course = course;
    }
    k = 8;
    td_span d = td_trim(f[k]);
    if (d.n != 0 && d.n != 6 && k + 1 < n) {
        td_span next = td_trim(f[k + 1]);
        int64_t level;
        if ((next.n == 0 || next.n == 6) && td_parse_int(d, &level)) {
            td_rec_raw_int(r, "powerLevel", level);
            k++;
        }
    }
    if ((rc = fix_time(ctx, r, td_trim(f[k]), td_trim(f[0]))) != 0)
        return rc;
    k++;
    /* The status: the first 8-hex-digit field within the next four. */
    int st = -1;
    for (int j = k; j < n && j < k + 4 && st < 0; j++) {
        td_span s = td_trim(f[j]);
        if (s.n == 8 && all_hex(s))
            st = j;
    }
    if (st < 0) {
        if (k < n)
            return bad(ctx, "vehicle status", f[k]);
    } else {
        for (int j = k; j < st; j++)
            if (td_trim(f[j]).n)
                raw_numbered(r, "info", j - k + 1, f[j]);
        if ((rc = status_field(ctx, r, f[st])) != 0)
            return rc;
        position_tail(r, f + st + 1, n - st - 1);
    }
    *out = r;
    return 0;
}

/* `*XX,<id>,V4,<type>,<UTC yyyyMMddHHmmss>#`, the server's answer. */
static int reply_v4(td_decode_ctx *ctx, const h02_msg *m, const char *what)
{
    int y, mo, d, h, mi, s;
    td_utc_fields(ctx->now_ms, &y, &mo, &d, &h, &mi, &s);
    return td_ctx_replyf(ctx, "*%.2s,%.*s,V4,%s,%04d%02d%02d%02d%02d%02d#", m->maker.p,
                         (int)m->id.n, m->id.p, what, y, mo, d, h, mi, s);
}

/* ---- message handlers ---- */

static int msg_position(td_decode_ctx *ctx, const h02_msg *m)
{
    td_record *r;
    int rc = decode_fix(ctx, m->f, m->n, &r);
    if (rc)
        return rc;
    if (td_span_eq(m->type, "V1"))
        return reply_v4(ctx, m, "V1");
    raw_text(r, "type", m->type);
    return 0;
}

/* V4,<command>[,<parameters>...],<command time>,<fix as in V1>. */
static int msg_confirm(td_decode_ctx *ctx, const h02_msg *m)
{
    td_record *r;
    int i, rc;

    for (i = 1; i + 7 < m->n; i++) {
        td_span v = td_trim(m->f[i + 2]), ns = td_trim(m->f[i + 4]), ew = td_trim(m->f[i + 6]);
        if (v.n == 1 && strchr("AVB", v.p[0]) && ns.n == 1 && strchr("NS", ns.p[0]) && ew.n == 1 &&
            strchr("EW", ew.p[0]) && all_digits(td_trim(m->f[i])))
            break;
    }
    td_span result = m->f[0];
    if (i + 7 < m->n) {
        result.n = (size_t)(m->f[i - 1].p + m->f[i - 1].n - result.p);
        if ((rc = decode_fix(ctx, m->f + i + 1, m->n - i - 1, &r)) != 0)
            return rc;
    } else {
        result.n = (size_t)(m->f[m->n - 1].p + m->f[m->n - 1].n - result.p);
        if ((rc = add(ctx, TD_REC_ACK, &r)) != 0)
            return rc;
    }
    raw_text(r, "result", result);
    return 0;
}

/* Is f[k] a date (6 digits) and f[k + 1] a status word (8 hex digits)? */
static bool date_status_at(const h02_msg *m, int k)
{
    if (k < 0 || k + 1 >= m->n)
        return false;
    td_span d = td_trim(m->f[k]), st = td_trim(m->f[k + 1]);
    return d.n == 6 && all_digits(d) && st.n == 8 && all_hex(st);
}

/* NBR,<time>,<mcc>,<mnc>,<delay>,<count>,{<lac>,<cid>,<rssi>}...,<date>,<status>. */
static int msg_nbr(td_decode_ctx *ctx, const h02_msg *m)
{
    const td_span *f = m->f;
    int64_t mcc, mnc, delay, count;
    td_record *r;
    int rc;

    if (m->n < 7)
        return td_ctx_error(ctx, TD_EBADFRAME, "h02: NBR with %d of 7 fields", m->n);
    if (!int_in(f[1], false, &mcc) || mcc > 999)
        return bad(ctx, "mcc", f[1]);
    if (!int_in(f[2], false, &mnc) || mnc > 999)
        return bad(ctx, "mnc", f[2]);
    if (!int_in(f[3], false, &delay))
        return bad(ctx, "delay", f[3]);
    if (!int_in(f[4], false, &count) || count > 64)
        return bad(ctx, "cell count", f[4]);
    /* The date and status follow the cells: where the count puts them, or,
     * when the count disagrees with the groups sent, after the last group. */
    if (!date_status_at(m, 5 + 3 * (int)count)) {
        for (count = 0; 5 + 3 * count + 1 < m->n && !date_status_at(m, 5 + 3 * (int)count);)
            count++;
        if (5 + 3 * count + 1 >= m->n)
            return bad(ctx, "cell count", f[4]);
    }
    if ((rc = add(ctx, TD_REC_STATUS, &r)) != 0)
        return rc;
    for (int i = 0; i < count; i++) {
        int64_t lac, cid, rssi;
        const td_span *c = f + 5 + 3 * i;
        if (!int_in(c[0], false, &lac) || !int_in(c[1], false, &cid) ||
            !td_parse_int(td_trim(c[2]), &rssi))
            return bad(ctx, "cell", c[0]);
        td_rec_add_cell(r, (int)mcc, (int)mnc, lac, cid, true, (int)rssi);
    }
    int k = 5 + 3 * (int)count;
    if ((rc = fix_time(ctx, r, td_trim(f[k]), td_trim(f[0]))) != 0)
        return rc;
    if ((rc = status_field(ctx, r, f[k + 1])) != 0)
        return rc;
    td_rec_raw_int(r, "gsmDelay", delay);
    for (int i = k + 2; i < m->n; i++)
        raw_numbered(r, "extra", i - k - 1, f[i]);
    return reply_v4(ctx, m, "NBR");
}

/* LINK,<time>,<rssi>,<satellites>,<battery %>,<steps>,<turnovers>,<date>,<status>. */
static int msg_link(td_decode_ctx *ctx, const h02_msg *m)
{
    static const char *const what[] = {"rssi", "satellites", "battery", "steps", "turnovers"};
    const td_span *f = m->f;
    int64_t v[5];
    td_record *r;
    int rc;

    if (m->n < 8)
        return td_ctx_error(ctx, TD_EBADFRAME, "h02: LINK with %d of 8 fields", m->n);
    for (int i = 0; i < 5; i++)
        if (!int_in(f[1 + i], false, &v[i]))
            return bad(ctx, what[i], f[1 + i]);
    if ((rc = add(ctx, TD_REC_STATUS, &r)) != 0)
        return rc;
    td_rec_set_int(r, TD_ATTR_RSSI, v[0]);
    td_rec_set_int(r, TD_ATTR_SATELLITES, v[1]);
    if (v[2] <= 100)
        td_rec_set_int(r, TD_ATTR_BATTERY_LEVEL, v[2]);
    else
        td_rec_raw_int(r, "batteryValue", v[2]);
    td_rec_set_int(r, TD_ATTR_STEPS, v[3]);
    td_rec_raw_int(r, "turnovers", v[4]);
    if ((rc = fix_time(ctx, r, td_trim(f[6]), td_trim(f[0]))) != 0)
        return rc;
    return status_field(ctx, r, f[7]);
}

/*
 * V3,<time>,<mcc><mnc>,<count>,{<lac>,<cid>,<level>,<rssi>}...,<power
 * (4 hex)>,<reboots>,X,<date>,<status>.
 */
static int msg_v3(td_decode_ctx *ctx, const h02_msg *m)
{
    const td_span *f = m->f;
    int64_t count, power;
    int mcc, mnc;
    td_record *r;
    int rc;

    if (m->n < 8)
        return td_ctx_error(ctx, TD_EBADFRAME, "h02: V3 with %d of 8 fields", m->n);
    td_span op = td_trim(f[1]);
    if (op.n < 4 || op.n > 6 || !all_digits(op))
        return bad(ctx, "operator", op);
    td_parse_fixed(op.p, 3, &mcc);
    td_parse_fixed(op.p + 3, (int)op.n - 3, &mnc);
    /* Counted from the end: power, reboots, X, date, status follow the
     * cells. */
    if (!int_in(f[2], false, &count) || 3 + 4 * count > m->n - 5)
        return bad(ctx, "cell count", f[2]);
    if ((rc = add(ctx, TD_REC_STATUS, &r)) != 0)
        return rc;
    for (int i = 0; i < count; i++) {
        const td_span *c = f + 3 + 4 * i;
        int64_t lac, cid, rssi = 0;
        td_span rs = td_trim(c[3]);
        if (!int_in(c[0], false, &lac) || !int_in(c[1], false, &cid) ||
            (rs.n && !td_parse_int(rs, &rssi)))
            return bad(ctx, "cell", c[0]);
        td_rec_add_cell(r, mcc, mnc, lac, cid, rs.n > 0, (int)rssi);
    }
    int k = m->n - 5;
    if (!td_parse_hex(td_trim(f[k]), &power))
        return bad(ctx, "power", f[k]);
    td_rec_raw_int(r, "batteryValue", power);
    raw_text(r, "reboots", td_trim(f[k + 1]));
    if ((rc = fix_time(ctx, r, td_trim(f[k + 3]), td_trim(f[0]))) != 0)
        return rc;
    return status_field(ctx, r, f[k + 4]);
}

/*
 * VP1,V,<mcc>,<mnc>,<lac>,<cid>,<rssi>Y<lac>,<cid>,<rssi>...  (cells) or
 * VP1,A,<lat>,N,<lon>,E,<speed>,<course>,<date>  (a fix with its date only:
 * the server's time of day when the date is today, else midnight).
 */
static int msg_vp1(td_decode_ctx *ctx, const h02_msg *m)
{
    const td_span *f = m->f;
    td_record *r;
    int rc;
    td_span v = td_trim(f[0]);

    if (td_span_eq(v, "V")) {
        int64_t mcc, mnc;
        if (m->n < 4)
            return td_ctx_error(ctx, TD_EBADFRAME, "h02: VP1 cells with %d of 4 fields", m->n);
        if (!int_in(f[1], false, &mcc) || mcc > 999)
            return bad(ctx, "mcc", f[1]);
        if (!int_in(f[2], false, &mnc) || mnc > 999)
            return bad(ctx, "mnc", f[2]);
        if ((rc = add(ctx, TD_REC_STATUS, &r)) != 0)
            return rc;
        td_span rest = {f[3].p, (size_t)(m->body.p + m->body.n - f[3].p)};
        while (rest.n) {
            const char *y = memchr(rest.p, 'Y', rest.n);
            td_span cell = {rest.p, y ? (size_t)(y - rest.p) : rest.n}, c[4];
            int64_t lac, cid, rssi;
            if (td_split(cell, ',', c, 4) != 3 || !int_in(c[0], false, &lac) ||
                !int_in(c[1], false, &cid) || !td_parse_int(td_trim(c[2]), &rssi))
                return bad(ctx, "cell", cell);
            td_rec_add_cell(r, (int)mcc, (int)mnc, lac, cid, true, (int)rssi);
            rest.n = y ? rest.n - cell.n - 1 : 0;
            rest.p = y ? y + 1 : rest.p;
        }
        return 0;
    }
    if (m->n < 8)
        return td_ctx_error(ctx, TD_EBADFRAME, "h02: VP1 fix with %d of 8 fields", m->n);
    double lat, lon, speed, course;
    if (!(v.n == 1 && strchr("AB", v.p[0])))
        return bad(ctx, "validity", v);
    if (!parse_coord(f[1], f[2], false, &lat))
        return bad(ctx, "latitude", f[1]);
    if (!parse_coord(f[3], f[4], true, &lon))
        return bad(ctx, "longitude", f[3]);
    if (!parse_num(f[5], 0, 999.99, &speed))
        return bad(ctx, "speed", f[5]);
    if (!parse_num(f[6], 0, 360, &course))
        return bad(ctx, "course", f[6]);
    if ((rc = add(ctx, TD_REC_POSITION, &r)) != 0)
        return rc;
    r->valid = true;
    r->latitude = lat;
    r->longitude = lon;
    r->speed = speed * H02_KNOTS_KMH;
    r->course = course;
    if ((rc = fix_time(ctx, r, td_trim(f[7]), (td_span){"", 0})) != 0)
        return rc;
    if (r->has_time && ctx->now_ms - r->time_ms >= 0 && ctx->now_ms - r->time_ms < 86400000)
        r->time_ms = ctx->now_ms;
    return 0;
}

/* HTBT,<battery %> and V0: heartbeats, echoed. */
static int msg_heartbeat(td_decode_ctx *ctx, const h02_msg *m)
{
    td_record *r;
    int rc;

    if ((rc = add(ctx, TD_REC_HEARTBEAT, &r)) != 0)
        return rc;
    if (td_span_eq(m->type, "HTBT") && m->n > 0) {
        int64_t level;
        if (!int_in(m->f[0], false, &level))
            return bad(ctx, "battery", m->f[0]);
        if (level <= 100)
            td_rec_set_int(r, TD_ATTR_BATTERY_LEVEL, level);
        else
            td_rec_raw_int(r, "batteryValue", level);
    }
    return td_ctx_replyf(ctx, "*%.2s,%.*s,%.*s#", m->maker.p, (int)m->id.n, m->id.p, (int)m->type.n,
                         m->type.p);
}

static int msg_other(td_decode_ctx *ctx, const h02_msg *m)
{
    td_record *r;
    int rc = add(ctx, TD_REC_OTHER, &r);
    if (rc)
        return rc;
    raw_text(r, "type", m->type);
    if (m->body.n)
        raw_text(r, "content", m->body);
    return 0;
}

static int decode_text(td_decode_ctx *ctx, const uint8_t *frame, size_t len)
{
    h02_msg m;
    td_span hdr[4];

    while (len && (frame[len - 1] == '\r' || frame[len - 1] == '\n' || frame[len - 1] == ' '))
        len--;
    if (len == 0 || frame[len - 1] != '#')
        return td_ctx_error(ctx, TD_EBADFRAME, "h02: text frame does not end with '#'");
    for (size_t i = 0; i < len; i++)
        if (frame[i] < 0x20 || frame[i] > 0x7e)
            return td_ctx_error(ctx, TD_EBADFRAME, "h02: byte 0x%02x at %zu in a text frame",
                                frame[i], i);
    td_span s = {(const char *)frame + 1, len - 2};
    memset(&m, 0, sizeof(m));
    if (td_split(s, ',', hdr, 4) < 3)
        return td_ctx_error(ctx, TD_EBADFRAME, "h02: no message type");
    m.maker = hdr[0];
    m.id = hdr[1];
    m.type = hdr[2];
    if (m.maker.n != 2 || !isalpha((unsigned char)m.maker.p[0]) ||
        !isalpha((unsigned char)m.maker.p[1]))
        return bad(ctx, "maker code", m.maker);
    if (m.id.n > H02_ID_MAX || (m.id.n && !all_digits(m.id)))
        return bad(ctx, "device id", m.id);
    if (m.type.n == 0 || m.type.n > H02_TYPE_MAX)
        return bad(ctx, "message type", m.type);
    for (size_t i = 0; i < m.type.n; i++)
        if (!isalnum((unsigned char)m.type.p[i]))
            return bad(ctx, "message type", m.type);
    if (m.id.n && td_session_identify(ctx->session, m.id.p, m.id.n) != 0)
        return bad(ctx, "device id", m.id);
    if (m.id.n == 0) /* replies name the device the session knows */
        m.id = (td_span){ctx->session->device_id, strlen(ctx->session->device_id)};
    m.body = (td_span){m.type.p + m.type.n, 0};
    if (m.type.p + m.type.n < s.p + s.n) {
        m.body.p++;
        m.body.n = (size_t)(s.p + s.n - m.body.p);
        m.n = td_split(m.body, ',', m.f, H02_FIELDS_MAX);
        if (m.n == H02_FIELDS_MAX && memchr(m.f[m.n - 1].p, ',', m.f[m.n - 1].n))
            return td_ctx_error(ctx, TD_EBADFRAME, "h02: more than %d fields", H02_FIELDS_MAX);
    }
    int need = min_fields(m.type);
    if (m.n < need)
        return td_ctx_error(ctx, TD_EBADFRAME, "h02: %.*s with %d of %d fields", (int)m.type.n,
                            m.type.p, m.n, need);
    if (is_position_type(m.type))
        return msg_position(ctx, &m);
    if (td_span_eq(m.type, "V4"))
        return msg_confirm(ctx, &m);
    if (td_span_eq(m.type, "NBR"))
        return msg_nbr(ctx, &m);
    if (td_span_eq(m.type, "LINK"))
        return msg_link(ctx, &m);
    if (td_span_eq(m.type, "V3"))
        return msg_v3(ctx, &m);
    if (td_span_eq(m.type, "VP1"))
        return msg_vp1(ctx, &m);
    if (td_span_eq(m.type, "HTBT") || td_span_eq(m.type, "V0"))
        return msg_heartbeat(ctx, &m);
    return msg_other(ctx, &m);
}

/*
 * The power byte of the binary record: 1-6 a six-step level (0, 20, ...,
 * 100 %), 0xF1-0xF6 the same while charging, 7-100 a percentage, 0 none.
 */
static void binary_power(td_record *r, uint8_t p)
{
    if (p >= 1 && p <= 6) {
        td_rec_set_int(r, TD_ATTR_BATTERY_LEVEL, (p - 1) * 20);
    } else if (p >= 0xf1 && p <= 0xf6) {
        td_rec_set_int(r, TD_ATTR_BATTERY_LEVEL, (p - 0xf1) * 20);
        td_rec_set_bool(r, TD_ATTR_CHARGING, true);
    } else if (p >= 7 && p <= 100) {
        td_rec_set_int(r, TD_ATTR_BATTERY_LEVEL, p);
    } else if (p) {
        td_rec_raw_int(r, "powerLevel", p);
    }
}

/*
 * The binary record: '$', id (5 bytes, 10 BCD digits; 8 bytes holding a
 * 15-digit IMEI in the long-id form), hhmmss, ddMMyy,
 * latitude ddmm.mmmm (8 digits), power, longitude dddmm.mmmm (9 digits) and
 * a flag nibble (bit 1 fix valid, bit 2 north, bit 3 east), speed in knots
 * (3 digits) and course (3 digits), the status word, then 3 bytes the
 * documents leave unnamed and any extension bytes (kept as `extra`, hex).
 */
static int decode_binary(td_decode_ctx *ctx, const uint8_t *b, size_t len)
{
    char id[17], hex[2 * H02_BIN_MAX + 1];
    td_record *r;
    int rc;
    size_t idlen = 5;

    if (len < H02_BIN_LEN)
        return td_ctx_error(ctx, TD_EBADFRAME, "h02: binary record of %zu of %d bytes", len,
                            H02_BIN_LEN);
    if (len > H02_BIN_MAX)
        return td_ctx_error(ctx, TD_EBADFRAME, "h02: binary record of %zu bytes (at most %d)", len,
                            H02_BIN_MAX);
    if (!bin_head_ok(b, len, 5) && len >= H02_BIN_LEN + 3 && bin_head_ok(b, len, 8))
        idlen = 8;
    for (size_t i = 1; idlen == 5 && i <= H02_BIN_HEAD; i++) {
        if (!bin_head_ok(b, i, 5)) {
            static const char *const what[] = {
                "marker",    "id",        "id",        "id",        "id",
                "id",        "time",      "time",      "time",      "date",
                "date",      "date",      "latitude",  "latitude",  "latitude",
                "latitude",  "power",     "longitude", "longitude", "longitude",
                "longitude", "longitude", "speed",     "course",    "course"};
            return td_ctx_error(ctx, TD_EBADFRAME,
                                "h02: bad %s byte 0x%02x at %zu in a binary record", what[i - 1],
                                b[i - 1], i - 1);
        }
    }
    for (size_t i = 0; i < idlen; i++)
        snprintf(id + 2 * i, 3, "%02x", b[1 + i]);
    size_t idn = idlen == 5 ? 10 : 15;
    if ((rc = td_session_identify(ctx->session, id, idn)) != 0)
        return bad(ctx, "device id", (td_span){id, idn});
    if ((rc = add(ctx, TD_REC_POSITION, &r)) != 0)
        return rc;
    b += idlen - 5; /* the rest as in the short layout */
    len -= idlen - 5;
    char date[7], time[7];
    snprintf(time, sizeof(time), "%02x%02x%02x", b[6], b[7], b[8]);
    snprintf(date, sizeof(date), "%02x%02x%02x", b[9], b[10], b[11]);
    if ((rc = fix_time(ctx, r, (td_span){date, 6}, (td_span){time, 6})) != 0)
        return rc;
    double lat = bcd(b[12]) + (bcd(b[13]) + (bcd(b[14]) * 100 + bcd(b[15])) / 10000.0) / 60.0;
    double lon = bcd(b[17]) * 10 + (b[18] >> 4) +
                 ((b[18] & 0x0f) * 10 + (b[19] >> 4) +
                  ((b[19] & 0x0f) * 1000 + bcd(b[20]) * 10 + (b[21] >> 4)) / 10000.0) /
                     60.0;
    unsigned flags = b[21] & 0x0f;
    if (lat > 90 || lon > 180)
        return td_ctx_error(ctx, TD_EBADFRAME, "h02: coordinates out of range in a binary record");
    r->valid = (flags & 0x02) != 0;
    r->latitude = flags & 0x04 ? lat : -lat;
    r->longitude = flags & 0x08 ? lon : -lon;
    r->speed = (bcd(b[22]) * 10 + (b[23] >> 4)) * H02_KNOTS_KMH;
    r->course = (b[23] & 0x0f) * 100 + bcd(b[24]);
    if (r->course > 360)
        return td_ctx_error(ctx, TD_EBADFRAME, "h02: course %.0f in a binary record", r->course);
    binary_power(r, b[16]);
    vehicle_status(r, (uint32_t)b[25] << 24 | (uint32_t)b[26] << 16 | (uint32_t)b[27] << 8 | b[28]);
    td_hex_encode(b + 29, len - 29, hex, sizeof(hex));
    td_rec_raw_str(r, "extra", hex, strlen(hex));
    return 0;
}

static int decode(td_decode_ctx *ctx, const uint8_t *frame, size_t len)
{
    int rc;

    if (len == 0)
        rc = td_ctx_error(ctx, TD_EBADFRAME, "h02: empty frame");
    else if (frame[0] == '$')
        rc = decode_binary(ctx, frame, len);
    else if (frame[0] == '*')
        rc = decode_text(ctx, frame, len);
    else
        rc = td_ctx_error(ctx, TD_EBADFRAME, "h02: frame starts with 0x%02x, not '*' or '$'",
                          frame[0]);
    if (rc < 0) { /* a frame that fails yields nothing, half-built records included */
        ctx->nrec = 0;
        ctx->reply_len = 0;
    }
    return rc;
}

const td_protocol td_proto_h02 = {
    /* name: registry key and `decode --protocol` name */
    .name = "h02",
    .devices = "Sinotrack ST-901, ST-906, ST-915 and H02 clones",
    /* transports: the same frames over TCP and in UDP datagrams */
    .transports = TD_TCP | TD_UDP,
    /* max_frame: the longest text frame */
    .max_frame = H02_TEXT_MAX,
    /* detect: '*' + maker + id + type, or '$' + a BCD record header */
    .detect = detect,
    /* frame: text up to '#', binary by its record length */
    .frame = frame,
    /* decode: records, and the V4/heartbeat answers */
    .decode = decode,
    /* commands: none yet */
    .commands = NULL,
    /* encode: none yet */
    .encode = NULL,
};
