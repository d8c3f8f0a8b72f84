/*
 * gps103: the GPRS text protocol of Coban trackers (GPS102/103/104, TK103,
 * TK303, GPS303/306 and their many clones), after Shenzhen Coban's "GPRS
 * PROTOCOL" (V0.1, 2014) and its older "GPS102/GPS103/GPS104 GPRS data
 * protocol" sheet, summarised with sources in docs/protocols/gps103.md.
 *
 * Frames are ASCII and end with ';' (some firmwares end a line instead).
 * Message types:
 *   ##,imei:<id>,A;     log-on request            -> login, answered "LOAD"
 *   <id>;               heartbeat                 -> heartbeat, answered "ON"
 *   imei:<id>,<keyword>,<local time>,<phone>,F,<UTC time>,<A|V>,<lat>,<N|S>,
 *     <lon>,<E|W>,<speed kn>,<course>,<altitude>,<acc>,<door>,<fuel 1 %>,
 *     <fuel 2 %>,<temperature>;
 *                       report with a GPS fix     -> position
 *   imei:<id>,<keyword>,<local time>,<phone>,L,,,<lac>,,<cid>,...;
 *                       report without a fix (cell in hex) -> status
 *   imei:<id>,OBD,<time>,<odometer>,<fuel instant>,<fuel average>,<engine
 *     hours>,<speed>,<load %>,<coolant>,<throttle %>,<rpm>,<battery>,<DTC>...;
 *                       OBD data                  -> status
 *   imei:<id>,<name>,---,...,<hhmmss>,<ddMMyy>,<sat>,..,<lat>,<lon>,...
 *                       the decimal-degree layout of some clones -> position
 *   imei:<id>,<keyword>,... anything else (the vr voice record...) -> other
 * The keyword names the event: tracker (periodic), help me (SOS, answered
 * "**,imei:<id>,E;" so the device stops repeating it), low battery, move,
 * speed, stockade, ac alarm, sensor alarm, acc on/off and vendor alarms
 * kept as the raw `alarm` attribute. A heartbeat glued to the next report
 * ("<id>imei:<id>,...") is both.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "core/text.h"
#include "protocols/registry.h"

#define GPS103_MAX_FRAME 2048 /* the vr voice record is the longest */
#define GPS103_ID_MAX 20      /* digits of a device id */
#define GPS103_HB_MIN 10      /* digits of a bare heartbeat id, at least */
#define GPS103_FIELDS_MAX 48
#define GPS103_CONTENT_MAX 200
#define GPS103_KNOTS_KMH 1.852
#define GPS103_DAY_MS 86400000LL

/* ---- detection and framing ---- */

/* b against the literal lit: 1 when all of lit is there, 0 when b ends
 * inside it, -1 when a byte differs. */
static int match(const uint8_t *b, size_t len, const char *lit)
{
    size_t n = strlen(lit);
    for (size_t i = 0; i < n; i++) {
        if (i >= len)
            return 0;
        if (b[i] != (uint8_t)lit[i])
            return -1;
    }
    return 1;
}

static size_t digit_run(const uint8_t *b, size_t len)
{
    size_t n = 0;
    while (n < len && isdigit(b[n]))
        n++;
    return n;
}

static bool line_end(uint8_t c)
{
    return c == ';' || c == '\r' || c == '\n';
}

/*
 * Yes for "##,imei:<digits>,", "imei:<digits>,", a heartbeat id of 10-20
 * digits followed by ';' or a line end, and an id glued to "imei:". The
 * digits alone stay undecided: gotop frames start with digits too (and a
 * ',' after them).
 */
static int detect(const uint8_t *buf, size_t len)
{
    size_t at;
    int m;

    if (len == 0)
        return TD_DETECT_MAYBE;
    if (buf[0] == '#') {
        m = match(buf, len, "##,imei:");
        at = 8;
    } else if (buf[0] == 'i') {
        m = match(buf, len, "imei:");
        at = 5;
    } else if (isdigit(buf[0])) {
        size_t n = digit_run(buf, len);
        if (n > GPS103_ID_MAX)
            return TD_DETECT_NO;
        if (n == len)
            return TD_DETECT_MAYBE;
        if (line_end(buf[n]))
            return n >= GPS103_HB_MIN ? TD_DETECT_YES : TD_DETECT_NO;
        if (n < GPS103_HB_MIN)
            return TD_DETECT_NO;
        m = match(buf + n, len - n, "imei:");
        return m < 0 ? TD_DETECT_NO : m == 0 ? TD_DETECT_MAYBE : TD_DETECT_YES;
    } else {
        return TD_DETECT_NO;
    }
    if (m <= 0)
        return m < 0 ? TD_DETECT_NO : TD_DETECT_MAYBE;
    size_t n = digit_run(buf + at, len - at);
    if (n > GPS103_ID_MAX)
        return TD_DETECT_NO;
    if (at + n == len)
        return TD_DETECT_MAYBE;
    return n > 0 && buf[at + n] == ',' ? TD_DETECT_YES : TD_DETECT_NO;
}

/* A frame runs to its ';' (included) or to a line end (left for the next
 * call to skip). Terminators and blanks between frames are skipped. */
static long frame(const uint8_t *buf, size_t len, size_t *skip)
{
    size_t s = 0;

    while (s < len && (line_end(buf[s]) || buf[s] == ' '))
        s++;
    *skip = s;
    buf += s;
    len -= s;
    size_t lim = len < GPS103_MAX_FRAME ? len : GPS103_MAX_FRAME;
    for (size_t i = 0; i < lim; i++)
        if (line_end(buf[i]))
            return buf[i] == ';' ? (long)i + 1 : (long)i;
    return len >= GPS103_MAX_FRAME ? TD_ETOOBIG : 0;
}

/* ---- decoding helpers ---- */

static int bad(td_decode_ctx *ctx, const char *what, td_span s)
{
    char b[48];
    return td_ctx_error(ctx, TD_EBADFRAME, "gps103: bad %s '%s'", what,
                        td_span_show(s, b, sizeof(b)));
}

static int add(td_decode_ctx *ctx, td_rec_type type, td_record **out)
{
    *out = td_ctx_add(ctx, type);
    return *out ? 0 : td_ctx_error(ctx, TD_ENOMEM, "gps103: too many records");
}

/* Identifies the session by the id digits and answers nothing yet. */
static int identify(td_decode_ctx *ctx, td_span id)
{
    if (id.n == 0 || id.n > GPS103_ID_MAX || !td_span_digits(id) ||
        td_session_identify(ctx->session, id.p, id.n) != 0)
        return bad(ctx, "device id", id);
    return 0;
}

/* Keeps a field as a raw string (printable, at most GPS103_CONTENT_MAX). */
static void raw_text(td_record *r, const char *key, td_span s)
{
    char buf[GPS103_CONTENT_MAX];
    size_t n = s.n < sizeof(buf) ? s.n : sizeof(buf);
    for (size_t i = 0; i < n; i++)
        buf[i] = isprint((unsigned char)s.p[i]) ? s.p[i] : '?';
    td_rec_raw_str(r, key, buf, n);
}

/* A number kept under key, or the text when it is not one; nothing when
 * empty. A trailing '%' is dropped (fuel and load are percentages). */
static void raw_number(td_record *r, const char *key, td_span s)
{
    double v;

    s = td_trim(s);
    if (s.n && s.p[s.n - 1] == '%')
        s.n--;
    if (s.n == 0)
        return;
    if (td_parse_double(s, &v))
        td_rec_raw_double(r, key, v);
    else
        raw_text(r, key, s);
}

/* The device's local time: yyMMddHHmm, yyMMddHHmmss or "yy/MM/dd HH:mm".
 * False when absent or unreadable ("000000000", "---"). */
static bool local_time(td_span s, int64_t *out)
{
    int f[6] = {0, 0, 0, 0, 0, 0};
    char d[12];
    size_t n = 0;

    s = td_trim(s);
    if (s.n == 14 && s.p[2] == '/' && s.p[5] == '/' && s.p[8] == ' ' && s.p[11] == ':') {
        for (size_t i = 0; i < s.n; i++)
            if (isdigit((unsigned char)s.p[i]))
                d[n++] = s.p[i];
        if (n != 10)
            return false;
    } else if ((s.n == 10 || s.n == 12) && td_span_digits(s)) {
        memcpy(d, s.p, s.n);
        n = s.n;
    } else {
        return false;
    }
    for (size_t i = 0; i < n / 2; i++)
        td_parse_fixed(d + 2 * i, 2, &f[i]);
    return td_utc_ms(2000 + f[0], f[1], f[2], f[3], f[4], f[5], out);
}

/* The fix's UTC time of day, hhmmss[.sss], in milliseconds. */
static bool utc_time(td_span s, int64_t *out)
{
    int h, m, sec;

    s = td_trim(s);
    if (s.n < 6 || !td_span_digits((td_span){s.p, 6}))
        return false;
    if (s.n > 6 && (s.p[6] != '.' || !td_span_digits((td_span){s.p + 7, s.n - 7})))
        return false;
    td_parse_fixed(s.p, 2, &h);
    td_parse_fixed(s.p + 2, 2, &m);
    td_parse_fixed(s.p + 4, 2, &sec);
    if (h > 23 || m > 59 || sec > 59)
        return false;
    int ms = 0;
    for (size_t i = 7, scale = 100; i < s.n && i < 10; i++, scale /= 10)
        ms += (s.p[i] - '0') * (int)scale;
    *out = ((int64_t)h * 3600 + m * 60 + sec) * 1000 + ms;
    return true;
}

/*
 * The record time: the fix's UTC time of day on the day, among the local
 * date and the days either side, that lies closest to the local time (the
 * device's clock runs in its own time zone, so the UTC date may be a day
 * off). Without a local time the server's date is the reference; without
 * a UTC time the local time is taken as it is; without either the frame
 * has no time.
 */
static void report_time(td_decode_ctx *ctx, td_record *r, td_span local, td_span utc)
{
    int64_t lt, tod;
    bool have_local = local_time(local, &lt);

    r->has_time = true;
    if (!utc_time(utc, &tod)) {
        r->time_ms = have_local ? lt : ctx->now_ms;
        r->has_time = have_local;
        return;
    }
    int64_t ref = have_local ? lt : ctx->now_ms;
    int64_t day = ref - ((ref % GPS103_DAY_MS) + GPS103_DAY_MS) % GPS103_DAY_MS;
    int64_t best = day + tod;
    for (int k = -1; k <= 1; k += 2) {
        int64_t t = day + k * GPS103_DAY_MS + tod;
        int64_t dt = t > ref ? t - ref : ref - t, db = best > ref ? best - ref : ref - best;
        if (dt < db)
            best = t;
    }
    r->time_ms = best;
}

/* "ddmm.mmmm" with any number of degree digits, and its hemisphere. */
static bool coord(td_span s, td_span hemi, bool lon, double *out)
{
    s = td_trim(s);
    hemi = td_trim(hemi);
    const char *dot = memchr(s.p, '.', s.n);
    if (hemi.n != 1 || !strchr(lon ? "EW" : "NS", hemi.p[0]) || !dot || dot - s.p < 2)
        return false;
    if (!td_span_digits((td_span){s.p, (size_t)(dot - s.p)}))
        return false;
    if (!td_parse_dm(s, (int)(dot - s.p) - 2, out) || *out > (lon ? 180.0 : 90.0))
        return false;
    if (hemi.p[0] == 'S' || hemi.p[0] == 'W')
        *out = -*out;
    return true;
}

/* A number in [lo, hi]; empty is 0. */
static bool number(td_span s, double lo, double hi, double *out)
{
    s = td_trim(s);
    if (s.n == 0) {
        *out = 0;
        return true;
    }
    return td_parse_double(s, out) && *out >= lo && *out <= hi;
}

/* ---- keywords ---- */

static const struct {
    const char *keyword;
    int alarm;       /* a CONTRACT alarm, or -1 */
    const char *raw; /* else the raw `alarm` value, or NULL */
} keywords[] = {
    {"help me", TD_ALARM_SOS, NULL},
    {"low battery", TD_ALARM_LOW_BATTERY, NULL},
    {"move", TD_ALARM_MOVEMENT, NULL},
    {"speed", TD_ALARM_OVERSPEED, NULL},
    {"stockade", TD_ALARM_GEOFENCE_EXIT, NULL},
    {"ac alarm", TD_ALARM_POWER_CUT, NULL},
    {"sensor alarm", TD_ALARM_VIBRATION, NULL},
    {"door alarm", -1, "door"},
    {"acc alarm", -1, "accAlarm"},
    {"accident alarm", -1, "accident"},
    {"bonnet alarm", -1, "bonnet"},
    {"footbrake alarm", -1, "footBrake"},
    {"DTC", -1, "fault"},
};

/* Alarms and states a keyword carries; the keyword itself is kept as
 * `keyword`. */
static void keyword(td_record *r, td_span k)
{
    raw_text(r, "keyword", k);
    for (size_t i = 0; i < sizeof(keywords) / sizeof(keywords[0]); i++) {
        if (!td_span_eq(k, keywords[i].keyword))
            continue;
        if (keywords[i].alarm >= 0)
            td_rec_alarm(r, (td_alarm)keywords[i].alarm);
        else
            td_rec_raw_str(r, "alarm", keywords[i].raw, strlen(keywords[i].raw));
        return;
    }
    if (td_span_eq(k, "acc on") || td_span_eq(k, "acc off"))
        td_rec_set_bool(r, TD_ATTR_IGNITION, td_span_eq(k, "acc on"));
    else if (td_span_starts(k, "oil"))
        td_rec_raw_str(r, "alarm", "fuel", 4);
    else if (td_span_starts(k, "T:"))
        td_rec_raw_str(r, "alarm", "temperature", 11);
}

/* A 0/1 field as a bool under key (canonical when a is >= 0), else raw. */
static void flag(td_record *r, int a, const char *key, td_span s)
{
    s = td_trim(s);
    if (s.n == 1 && (s.p[0] == '0' || s.p[0] == '1')) {
        if (a >= 0)
            td_rec_set_bool(r, (td_attr)a, s.p[0] == '1');
        else
            td_rec_raw_bool(r, key, s.p[0] == '1');
    } else if (s.n) {
        raw_text(r, key, s);
    }
}

/* ---- messages ---- */

/* The fields after the course: altitude, acc, door, fuel 1 and 2 (%),
 * temperature, then anything more as extra1, extra2, ... */
static void report_tail(td_record *r, const td_span *f, int n, int from)
{
    double alt;

    for (int i = from; i < n; i++) {
        td_span s = td_trim(f[i]);
        switch (i - from) {
        case 0:
            if (s.n && td_parse_double(s, &alt))
                r->altitude = alt;
            else if (s.n)
                raw_text(r, "altitude", s);
            break;
        case 1:
            flag(r, TD_ATTR_IGNITION, "acc", s);
            break;
        case 2:
            flag(r, -1, "door", s);
            break;
        case 3:
            raw_number(r, "fuel1", s);
            break;
        case 4:
            raw_number(r, "fuel2", s);
            break;
        case 5:
            raw_number(r, "temperature", s);
            break;
        default:
            if (s.n) {
                char key[24];
                snprintf(key, sizeof(key), "extra%d", i - from - 5);
                raw_text(r, key, s);
            }
        }
    }
}

/* F and L reports (f[0] is "imei:<id>", f[1] the keyword). */
static int msg_report(td_decode_ctx *ctx, const td_span *f, int n, td_span id)
{
    td_span src = td_trim(f[4]);
    bool gps = td_span_eq(src, "F");
    double lat = 0, lon = 0, speed = 0, course = 0;
    td_record *r;
    int rc;

    bool have_fix = gps && n >= 11 && td_trim(f[7]).n > 0;
    if (have_fix) {
        if (!coord(f[7], f[8], false, &lat))
            return bad(ctx, "latitude", f[7]);
        if (!coord(f[9], f[10], true, &lon))
            return bad(ctx, "longitude", f[9]);
        if (n > 11 && !number(f[11], 0, 999, &speed))
            return bad(ctx, "speed", f[11]);
        if (n > 12 && !number(f[12], 0, 360, &course))
            return bad(ctx, "course", f[12]);
    }
    if ((rc = add(ctx, have_fix ? TD_REC_POSITION : TD_REC_STATUS, &r)) != 0)
        return rc;
    report_time(ctx, r, f[2], n > 5 ? f[5] : (td_span){"", 0});
    td_span phone = td_trim(f[3]);
    if (phone.n)
        raw_text(r, td_span_eq(td_trim(f[1]), "rfid") ? "rfid" : "phone", phone);
    if (have_fix) {
        td_span v = td_trim(f[6]);
        if (!(v.n == 1 && (v.p[0] == 'A' || v.p[0] == 'V')))
            return bad(ctx, "validity", v);
        r->valid = v.p[0] == 'A';
        r->latitude = lat;
        r->longitude = lon;
        r->speed = speed * GPS103_KNOTS_KMH;
        r->course = course;
    } else if (!gps && n >= 10) {
        /* No fix: the serving cell, LAC and CID in hex. */
        int64_t lac, cid;
        if (td_parse_hex(td_trim(f[7]), &lac) && td_parse_hex(td_trim(f[9]), &cid))
            td_rec_add_cell(r, 0, 0, lac, cid, false, 0);
    }
    if (n > 13)
        report_tail(r, f, n, 13);
    keyword(r, td_trim(f[1])); /* after the acc field: "acc on/off" says it last */
    if (td_span_eq(td_trim(f[1]), "help me"))
        return td_ctx_replyf(ctx, "**,imei:%.*s,E;", (int)id.n, id.p);
    return 0;
}

/*
 * OBD: time (yyMMddHHmmss), odometer (km), instant and average fuel
 * consumption, engine hours, speed (km/h), engine load %, coolant
 * temperature, throttle %, rpm, battery (V), then trouble codes.
 */
static int msg_obd(td_decode_ctx *ctx, const td_span *f, int n)
{
    static const char *const keys[] = {
        "odometer",   "fuelInstant",        "fuelAverage", "engineHours", "obdSpeed",
        "engineLoad", "coolantTemperature", "throttle",    "rpm",         "battery"};
    char dtcs[GPS103_CONTENT_MAX];
    size_t dn = 0;
    td_record *r;
    int rc;
    double v;

    if ((rc = add(ctx, TD_REC_STATUS, &r)) != 0)
        return rc;
    raw_text(r, "keyword", td_trim(f[1]));
    report_time(ctx, r, n > 2 ? f[2] : (td_span){"", 0}, (td_span){"", 0});
    for (int i = 3; i < n; i++) {
        td_span s = td_trim(f[i]);
        if (s.n == 0)
            continue;
        if (i - 3 < (int)(sizeof(keys) / sizeof(keys[0]))) {
            const char *k = keys[i - 3];
            if (strcmp(k, "odometer") == 0 && td_parse_double(s, &v) && v >= 0)
                td_rec_set_double(r, TD_ATTR_ODOMETER, v * 1000);
            else if (strcmp(k, "battery") == 0 && td_parse_double(s, &v))
                td_rec_set_double(r, TD_ATTR_BATTERY, v);
            else
                raw_number(r, k, s);
        } else if (dn + s.n + 1 < sizeof(dtcs)) {
            if (dn)
                dtcs[dn++] = ' ';
            memcpy(dtcs + dn, s.p, s.n);
            dn += s.n;
        }
    }
    if (dn)
        raw_text(r, "dtcs", (td_span){dtcs, dn});
    return 0;
}

/*
 * The decimal-degree layout some clones send: name, three placeholders,
 * hhmmss, ddMMyy, satellites, a flag, latitude and longitude in signed
 * degrees, speed (km/h), course, altitude, HDOP, then flags kept raw.
 */
static bool is_decimal_layout(const td_span *f, int n)
{
    double d;
    return n >= 15 && td_trim(f[5]).n == 6 && td_span_digits(td_trim(f[5])) &&
           td_trim(f[6]).n == 6 && td_span_digits(td_trim(f[6])) && memchr(f[9].p, '.', f[9].n) &&
           td_parse_double(td_trim(f[9]), &d) && memchr(f[10].p, '.', f[10].n) &&
           td_parse_double(td_trim(f[10]), &d);
}

static int msg_decimal(td_decode_ctx *ctx, const td_span *f, int n)
{
    double lat, lon, speed, course, alt, hdop;
    int64_t sats, ms;
    td_record *r;
    int rc;

    if (!td_parse_ddmmyy_hhmmss(td_trim(f[6]), td_trim(f[5]), &ms))
        return bad(ctx, "date", f[6]);
    if (!td_parse_double(td_trim(f[9]), &lat) || lat < -90 || lat > 90)
        return bad(ctx, "latitude", f[9]);
    if (!td_parse_double(td_trim(f[10]), &lon) || lon < -180 || lon > 180)
        return bad(ctx, "longitude", f[10]);
    if (!number(f[11], 0, 999, &speed))
        return bad(ctx, "speed", f[11]);
    if (!number(f[12], 0, 360, &course))
        return bad(ctx, "course", f[12]);
    if ((rc = add(ctx, TD_REC_POSITION, &r)) != 0)
        return rc;
    raw_text(r, "keyword", td_trim(f[1]));
    r->time_ms = ms;
    r->has_time = true;
    r->latitude = lat;
    r->longitude = lon;
    r->speed = speed;
    r->course = course;
    r->valid = true;
    if (td_parse_int(td_trim(f[7]), &sats) && sats >= 0) {
        td_rec_set_int(r, TD_ATTR_SATELLITES, sats);
        r->valid = sats >= 3;
    }
    if (td_parse_double(td_trim(f[13]), &alt))
        r->altitude = alt;
    if (td_parse_double(td_trim(f[14]), &hdop))
        td_rec_set_double(r, TD_ATTR_HDOP, hdop);
    for (int i = 15; i < n; i++) {
        td_span s = td_trim(f[i]);
        if (s.n && !td_span_eq(s, "*")) {
            char key[24];
            snprintf(key, sizeof(key), "extra%d", i - 14);
            raw_text(r, key, s);
        }
    }
    return 0;
}

/* Any other keyword (the vr voice record and the like): kept as content. */
static int msg_other(td_decode_ctx *ctx, const td_span *f, int n, td_span rest)
{
    td_record *r;
    int rc = add(ctx, TD_REC_OTHER, &r);
    if (rc)
        return rc;
    raw_text(r, "keyword", td_trim(f[1]));
    if (n > 2)
        td_rec_raw_int(r, "contentLength", (int64_t)rest.n);
    return 0;
}

static int msg_imei(td_decode_ctx *ctx, td_span s)
{
    td_span f[GPS103_FIELDS_MAX];
    int rc;

    int n = td_split(s, ',', f, GPS103_FIELDS_MAX);
    td_span id = {f[0].p + 5, f[0].n - 5};
    if ((rc = identify(ctx, id)) != 0)
        return rc;
    if (n < 2 || td_trim(f[1]).n == 0)
        return td_ctx_error(ctx, TD_EBADFRAME, "gps103: no keyword after the id");
    if (n < 3)
        return td_ctx_error(ctx, TD_EBADFRAME, "gps103: '%.*s' without a time field",
                            (int)(f[1].n < 32 ? f[1].n : 32), f[1].p);
    if (td_span_eq(td_trim(f[1]), "OBD"))
        return msg_obd(ctx, f, n);
    if (n >= 5 && (td_span_eq(td_trim(f[4]), "F") || td_span_eq(td_trim(f[4]), "L")))
        return msg_report(ctx, f, n, id);
    if (is_decimal_layout(f, n))
        return msg_decimal(ctx, f, n);
    td_span rest = {f[2].p, (size_t)(s.p + s.n - f[2].p)};
    return msg_other(ctx, f, n, rest);
}

static int decode_frame(td_decode_ctx *ctx, const uint8_t *frame, size_t len)
{
    td_record *r;
    int rc;

    while (len && (line_end(frame[len - 1]) || frame[len - 1] == ' '))
        len--;
    if (len == 0)
        return td_ctx_error(ctx, TD_EBADFRAME, "gps103: empty frame");
    for (size_t i = 0; i < len; i++)
        if (frame[i] < 0x20 || frame[i] > 0x7e)
            return td_ctx_error(ctx, TD_EBADFRAME, "gps103: byte 0x%02x at %zu", frame[i], i);
    td_span s = {(const char *)frame, len};

    if (td_span_starts(s, "##,imei:")) {
        /* ##,imei:<id>,A: log on, answered LOAD. */
        td_span f[3];
        int n = td_split((td_span){s.p + 8, s.n - 8}, ',', f, 3);
        if ((rc = identify(ctx, f[0])) != 0)
            return rc;
        if ((rc = add(ctx, TD_REC_LOGIN, &r)) != 0)
            return rc;
        if (n > 1 && td_trim(f[1]).n)
            raw_text(r, "loginType", td_trim(f[1]));
        return td_ctx_replyf(ctx, "LOAD");
    }
    size_t d = digit_run(frame, len);
    if (d) {
        /* <id>: heartbeat, answered ON; glued to a report when "imei:"
         * follows. */
        td_span id = {s.p, d};
        if (d < len && !td_span_starts((td_span){s.p + d, s.n - d}, "imei:"))
            return bad(ctx, "heartbeat", s);
        if ((rc = identify(ctx, id)) != 0)
            return rc;
        if ((rc = add(ctx, TD_REC_HEARTBEAT, &r)) != 0)
            return rc;
        if ((rc = td_ctx_replyf(ctx, "ON")) != 0)
            return rc;
        if (d == len)
            return 0;
        s = (td_span){s.p + d, s.n - d};
    }
    if (!td_span_starts(s, "imei:")) {
        char b[16];
        return td_ctx_error(ctx, TD_EBADFRAME, "gps103: frame starts with '%s', not 'imei:'",
                            td_span_show((td_span){s.p, s.n < 8 ? s.n : 8}, b, sizeof(b)));
    }
    return msg_imei(ctx, s);
}

static int decode(td_decode_ctx *ctx, const uint8_t *frame, size_t len)
{
    int rc = decode_frame(ctx, frame, len);
    if (rc < 0) { /* a frame that fails yields nothing */
        ctx->nrec = 0;
        ctx->reply_len = 0;
    }
    return rc;
}

const td_protocol td_proto_gps103 = {
    /* name: registry key and `decode --protocol` name */
    .name = "gps103",
    /* devices: example devices, for /api/server and the docs */
    .devices = "Coban GPS102/103/104, TK103-2B, TK303, GPS303/306 and TK103 clones",
    /* transports: the same frames over TCP and in UDP datagrams */
    .transports = TD_TCP | TD_UDP,
    /* max_frame: the longest frame, the vr voice record */
    .max_frame = GPS103_MAX_FRAME,
    /* detect: "##,imei:", "imei:" or a heartbeat id and its ';' */
    .detect = detect,
    /* frame: up to ';' or a line end */
    .frame = frame,
    /* decode: records, and the LOAD / ON / SOS answers */
    .decode = decode,
    /* commands: none yet */
    .commands = NULL,
    /* encode: none yet */
    .encode = NULL,
};
