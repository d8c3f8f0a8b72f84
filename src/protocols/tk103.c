/*
 * tk103: the "(" ... ")" text protocol of the original TK103/KX402 vehicle
 * trackers and their clones, after the manufacturer's "GPRS Communication
 * Protocol" V1.5 (KX402) and the comma-separated variant of later personal
 * trackers, summarised with sources in docs/protocols/tk103.md.
 *
 * Frames are `(` + device id (digits, 12 on the original units) + a 4-letter
 * message type + the body + `)`. The comma variant writes `(<id>,<type>,
 * <field>,...)`. Message types:
 *   BP00  handshake                      -> heartbeat, answered (<id>AP01HSO)
 *   BP05  log-on, IMEI and a GPS block   -> login (+ position), answered (<id>AP05)
 *   BO01  alarm, its code and a GPS block -> position with the alarm,
 *                                           answered (<id>AS01<code>)
 *   BR00..BR0x, BP04 and any other type whose body is a GPS block
 *                                        -> position
 *   BZ00  cell list {mcc,mnc,lac,cid}... -> status with cells
 *   BV00  the vehicle's VIN              -> other
 *   anything else (BS50 battery data, BQ86, ...) -> other with its content
 * The GPS block: yyMMdd, A/V, ddmm.mmmm N/S, dddmm.mmmm E/W, speed (km/h,
 * 5 characters), hhmmss, course (6), 8 state characters (power, ACC, three
 * I/O, three of fuel), 'L' and the mileage in hex (metres); fields padded
 * with blanks; anything after it is kept raw.
 * Comma variant: DW3x/ZCxx with a fix (ddMMyy, A/V, lat, lon, speed, hhmmss,
 * course, altitude, satellites), DW5x cells and Wi-Fi (a position without a
 * fix), ZC20 battery, BP05 with a fix, others kept as content; the type
 * names alarms (ZC11/DW31/DW51 movement, ...). The comma variant defines no
 * answers.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "core/text.h"
#include "protocols/registry.h"

#define TK103_MAX_FRAME 2048
#define TK103_ID_MIN 10 /* digits of a device id */
#define TK103_ID_MAX 20
#define TK103_FIELDS_MAX 64
#define TK103_CONTENT_MAX 200
#define TK103_GPS_LEN 53 /* the GPS block up to the 'L' of the mileage */
#define TK103_IMEI_LEN 15

/* ---- detection and framing ---- */

static bool type_char(uint8_t c, int i)
{
    return i < 2 ? (c >= 'A' && c <= 'Z') : (isdigit(c) || (c >= 'A' && c <= 'Z'));
}

/*
 * '(' + 10-20 digits + a message type of two capital letters and two
 * capitals or digits, written right after the id or after a ',' (and then
 * followed by ',' or ')'). jt808's text time request "(<digits>,<digits>,"
 * is never one: a digit follows its comma.
 */
static int detect(const uint8_t *buf, size_t len)
{
    size_t i = 1, d;

    if (len == 0)
        return TD_DETECT_MAYBE;
    if (buf[0] != '(')
        return TD_DETECT_NO;
    for (d = 0; i < len && isdigit(buf[i]); i++, d++)
        if (d >= TK103_ID_MAX)
            return TD_DETECT_NO;
    if (i >= len)
        return TD_DETECT_MAYBE;
    if (d < TK103_ID_MIN)
        return TD_DETECT_NO;
    bool comma = buf[i] == ',';
    i += comma;
    for (int k = 0; k < 4; k++, i++) {
        if (i >= len)
            return TD_DETECT_MAYBE;
        if (!type_char(buf[i], k))
            return TD_DETECT_NO;
    }
    if (!comma)
        return TD_DETECT_YES;
    if (i >= len)
        return TD_DETECT_MAYBE;
    return buf[i] == ',' || buf[i] == ')' ? TD_DETECT_YES : TD_DETECT_NO;
}

/* A frame runs from '(' to ')'; bytes before a '(' are skipped. A text
 * answer between '$' signs ("...,$1 .Check interval: 240 minute(s).$)")
 * may hold a ')'. */
static long frame(const uint8_t *buf, size_t len, size_t *skip)
{
    size_t s = 0;
    bool text = false;

    while (s < len && buf[s] != '(')
        s++;
    *skip = s;
    buf += s;
    len -= s;
    size_t lim = len < TK103_MAX_FRAME ? len : TK103_MAX_FRAME;
    for (size_t i = 1; i < lim; i++) {
        if (buf[i] == '$')
            text = !text;
        else if (buf[i] == ')' && !text)
            return (long)i + 1;
    }
    return len >= TK103_MAX_FRAME ? TD_ETOOBIG : 0;
}

/* ---- decoding helpers ---- */

static int bad(td_decode_ctx *ctx, const char *what, td_span s)
{
    char b[48];
    return td_ctx_error(ctx, TD_EBADFRAME, "tk103: bad %s '%s'", what,
                        td_span_show(s, b, sizeof(b)));
}

static int add(td_decode_ctx *ctx, td_rec_type type, td_record **out)
{
    *out = td_ctx_add(ctx, type);
    return *out ? 0 : td_ctx_error(ctx, TD_ENOMEM, "tk103: too many records");
}

/* Keeps text as a raw string: printable, blanks for line ends, short. */
static void raw_text(td_record *r, const char *key, td_span s)
{
    char buf[TK103_CONTENT_MAX];
    size_t n = s.n < sizeof(buf) ? s.n : sizeof(buf);
    for (size_t i = 0; i < n; i++)
        buf[i] = isprint((unsigned char)s.p[i]) ? s.p[i] : ' ';
    td_rec_raw_str(r, key, buf, n);
}

/* "ddmm.mmmm" + hemisphere, blanks allowed before it; any number of degree
 * digits. */
static bool coord(td_span s, char hemi, bool lon, double *out)
{
    s = td_trim(s);
    const char *dot = memchr(s.p, '.', s.n);
    if (!strchr(lon ? "EW" : "NS", hemi) || hemi == '\0' || !dot || dot - s.p < 2 ||
        !td_span_digits((td_span){s.p, (size_t)(dot - s.p)}))
        return false;
    if (!td_parse_dm(s, (int)(dot - s.p) - 2, out) || *out > (lon ? 180.0 : 90.0))
        return false;
    if (hemi == 'S' || hemi == 'W')
        *out = -*out;
    return true;
}

/* A number in [lo, hi], blanks allowed around it. */
static bool number(td_span s, double lo, double hi, double *out)
{
    s = td_trim(s);
    return td_parse_double(s, out) && *out >= lo && *out <= hi;
}

/* The record time from a date (yyMMdd when ymd, else ddMMyy) and hhmmss;
 * an impossible date or time leaves the server's time (has_time false). */
static void set_time(td_decode_ctx *ctx, td_record *r, td_span date, td_span time, bool ymd)
{
    int64_t ms;
    date = td_trim(date);
    time = td_trim(time);
    bool ok =
        date.n == 6 && time.n == 6 && td_span_digits(date) && td_span_digits(time) &&
        (ymd ? td_parse_yymmdd_hhmmss(date, time, &ms) : td_parse_ddmmyy_hhmmss(date, time, &ms));
    r->time_ms = ok ? ms : ctx->now_ms;
    r->has_time = ok;
}

/* ---- alarms ---- */

/* BO01 alarm codes (KX402 §3): 0 power off, 1 accident, 2 robbery (SOS),
 * 3 anti-theft, 4 low speed, 5 overspeed, 6 out of the geo-fence. */
static void bo01_alarm(td_record *r, char code)
{
    static const int alarms[] = {TD_ALARM_POWER_CUT,    -1, TD_ALARM_SOS,
                                 TD_ALARM_VIBRATION,    -1, TD_ALARM_OVERSPEED,
                                 TD_ALARM_GEOFENCE_EXIT};
    static const char *const raw[] = {NULL, "accident", NULL, NULL, "lowSpeed", NULL, NULL};

    td_rec_raw_int(r, "alarmCode", code - '0');
    if (code < '0' || code > '6')
        return;
    if (alarms[code - '0'] >= 0)
        td_rec_alarm(r, (td_alarm)alarms[code - '0']);
    else
        td_rec_raw_str(r, "alarm", raw[code - '0'], strlen(raw[code - '0']));
}

/* The events the comma variant's message types name (ZCnn, and DW3x with a
 * fix / DW5x with cells). ignition: 1 on, 0 off, -1 none. */
static const struct {
    const char *zc, *dw3, *dw5;
    int alarm, ignition;
} events[] = {
    {"ZC11", "DW31", "DW51", TD_ALARM_MOVEMENT, -1},
    {"ZC12", "DW32", "DW52", TD_ALARM_LOW_BATTERY, -1},
    {"ZC13", "DW33", "DW53", TD_ALARM_POWER_CUT, -1},
    {"ZC15", "DW35", "DW55", -1, 1},
    {"ZC16", "DW36", "DW56", -1, 0},
    {"ZC17", "DW37", "DW57", TD_ALARM_REMOVAL, -1},
    {"ZC25", "DW3E", "DW5E", TD_ALARM_SOS, -1},
    {"ZC26", "DW3F", "DW5F", TD_ALARM_TAMPER, -1},
    {"ZC27", "DW40", "DW60", TD_ALARM_LOW_POWER, -1},
    {"ZC29", "DW42", "DW62", -1, 1},
};

static void type_event(td_record *r, td_span type)
{
    for (size_t i = 0; i < sizeof(events) / sizeof(events[0]); i++) {
        if (!td_span_eq(type, events[i].zc) && !td_span_eq(type, events[i].dw3) &&
            !td_span_eq(type, events[i].dw5))
            continue;
        if (events[i].alarm >= 0)
            td_rec_alarm(r, (td_alarm)events[i].alarm);
        if (events[i].ignition >= 0)
            td_rec_set_bool(r, TD_ATTR_IGNITION, events[i].ignition == 1);
        return;
    }
}

/* ---- the compact form ---- */

typedef struct tk_msg {
    td_span id, type, body;
} tk_msg;

/* The 8 state characters: charging (0/1), ACC (0/1), three I/O
 * characters and the fuel level in three hex digits; the whole kept as
 * `state`. */
static void state(td_record *r, td_span st)
{
    int64_t fuel;

    raw_text(r, "state", st);
    if (st.n != 8)
        return;
    if (st.p[0] == '0' || st.p[0] == '1')
        td_rec_set_bool(r, TD_ATTR_CHARGING, st.p[0] == '1');
    if (st.p[1] == '0' || st.p[1] == '1')
        td_rec_set_bool(r, TD_ATTR_IGNITION, st.p[1] == '1');
    if (td_parse_hex((td_span){st.p + 5, 3}, &fuel))
        td_rec_raw_int(r, "fuel", fuel);
}

/* Does b hold a GPS block (its first TK103_GPS_LEN characters)? */
static bool gps_block_shape(td_span b)
{
    if (b.n < TK103_GPS_LEN || !td_span_digits((td_span){b.p, 6}) ||
        (b.p[6] != 'A' && b.p[6] != 'V'))
        return false;
    return strchr("NS", b.p[16]) && strchr("EW", b.p[27]);
}

/*
 * Decodes the GPS block at the start of b into a new position record:
 * yyMMdd, A/V, lat (9) + N/S, lon (10) + E/W, speed km/h (5), hhmmss,
 * course (6), state (8), then 'L' + mileage (hex) and anything more.
 */
static int gps_block(td_decode_ctx *ctx, td_span b, td_record **out)
{
    double lat, lon, speed, course;
    td_record *r;
    int rc;

    if (!coord((td_span){b.p + 7, 9}, b.p[16], false, &lat))
        return bad(ctx, "latitude", (td_span){b.p + 7, 10});
    if (!coord((td_span){b.p + 17, 10}, b.p[27], true, &lon))
        return bad(ctx, "longitude", (td_span){b.p + 17, 11});
    if (!number((td_span){b.p + 28, 5}, 0, 999.9, &speed))
        return bad(ctx, "speed", (td_span){b.p + 28, 5});
    if (!number((td_span){b.p + 39, 6}, 0, 360, &course))
        return bad(ctx, "course", (td_span){b.p + 39, 6});
    if ((rc = add(ctx, TD_REC_POSITION, &r)) != 0)
        return rc;
    *out = r;
    set_time(ctx, r, (td_span){b.p, 6}, (td_span){b.p + 33, 6}, true);
    r->valid = b.p[6] == 'A';
    r->latitude = lat;
    r->longitude = lon;
    r->speed = speed;
    r->course = course;
    state(r, (td_span){b.p + 45, 8});
    td_span rest = {b.p + TK103_GPS_LEN, b.n - TK103_GPS_LEN};
    if (rest.n && rest.p[0] == 'L') {
        size_t k = 1;
        while (k < rest.n && k <= 8 && isxdigit((unsigned char)rest.p[k]))
            k++;
        int64_t m;
        if (k > 1 && td_parse_hex((td_span){rest.p + 1, k - 1}, &m))
            td_rec_set_double(r, TD_ATTR_ODOMETER, (double)m);
        rest = (td_span){rest.p + k, rest.n - k};
    }
    if (td_trim(rest).n)
        raw_text(r, "extra", td_trim(rest));
    return 0;
}

/* BZ00: {mcc,mnc,lac,cid} groups (line ends between them), then ",state". */
static int msg_cells(td_decode_ctx *ctx, const tk_msg *m)
{
    td_record *r;
    int rc = add(ctx, TD_REC_STATUS, &r);
    if (rc)
        return rc;
    raw_text(r, "type", m->type);
    td_span b = m->body;
    for (;;) {
        const char *open = memchr(b.p, '{', b.n);
        if (!open)
            break;
        const char *close = memchr(open, '}', (size_t)(b.p + b.n - open));
        if (!close)
            return bad(ctx, "cell", (td_span){open, (size_t)(b.p + b.n - open)});
        td_span c[5];
        int64_t v[4];
        int n = td_split((td_span){open + 1, (size_t)(close - open - 1)}, ',', c, 5);
        if (n != 4)
            return bad(ctx, "cell", (td_span){open, (size_t)(close - open + 1)});
        for (int i = 0; i < 4; i++)
            if (!td_parse_int(td_trim(c[i]), &v[i]) || v[i] < 0)
                return bad(ctx, "cell", (td_span){open, (size_t)(close - open + 1)});
        td_rec_add_cell(r, (int)v[0], (int)v[1], v[2], v[3], false, 0);
        b = (td_span){close + 1, (size_t)(b.p + b.n - close - 1)};
    }
    const char *comma = memchr(b.p, ',', b.n);
    if (comma && td_trim((td_span){comma + 1, (size_t)(b.p + b.n - comma - 1)}).n)
        raw_text(r, "state", td_trim((td_span){comma + 1, (size_t)(b.p + b.n - comma - 1)}));
    return 0;
}

static int msg_other(td_decode_ctx *ctx, td_span type, td_span body)
{
    td_record *r;
    int rc = add(ctx, TD_REC_OTHER, &r);
    if (rc)
        return rc;
    raw_text(r, "type", type);
    if (body.n)
        raw_text(r, "content", body);
    return 0;
}

static int decode_compact(td_decode_ctx *ctx, const tk_msg *m)
{
    td_record *r = NULL, *login = NULL;
    td_span b = m->body;
    char code = 0;
    int rc;

    if (td_span_eq(m->type, "BP00")) {
        /* Handshake: the id again (or not) and "HSO". */
        if ((rc = add(ctx, TD_REC_HEARTBEAT, &r)) != 0)
            return rc;
        return td_ctx_replyf(ctx, "(%.*sAP01HSO)", (int)m->id.n, m->id.p);
    }
    if (td_span_eq(m->type, "BZ00"))
        return msg_cells(ctx, m);
    if (td_span_eq(m->type, "BV00")) {
        if ((rc = add(ctx, TD_REC_OTHER, &r)) != 0)
            return rc;
        raw_text(r, "type", m->type);
        raw_text(r, "vin", td_trim(b));
        return 0;
    }
    if (td_span_eq(m->type, "BP05")) {
        if ((rc = add(ctx, TD_REC_LOGIN, &login)) != 0)
            return rc;
        size_t n = b.n < TK103_IMEI_LEN ? b.n : TK103_IMEI_LEN;
        if (n)
            raw_text(login, "imei", (td_span){b.p, n});
        b = (td_span){b.p + n, b.n - n};
    } else if (td_span_eq(m->type, "BO01")) {
        if (b.n == 0)
            return td_ctx_error(ctx, TD_EBADFRAME, "tk103: BO01 without an alarm code");
        code = b.p[0];
        if (!isdigit((unsigned char)code))
            return bad(ctx, "alarm code", (td_span){b.p, 1});
        b = (td_span){b.p + 1, b.n - 1};
    }
    if (gps_block_shape(b)) {
        if ((rc = gps_block(ctx, b, &r)) != 0)
            return rc;
        if (!td_span_eq(m->type, "BR00"))
            raw_text(r, "type", m->type);
        if (code)
            bo01_alarm(r, code);
    } else if (code) {
        return bad(ctx, "BO01 position", b);
    } else if (!login) {
        return msg_other(ctx, m->type, b);
    }
    if (login)
        return td_ctx_replyf(ctx, "(%.*sAP05)", (int)m->id.n, m->id.p);
    if (code)
        return td_ctx_replyf(ctx, "(%.*sAS01%c)", (int)m->id.n, m->id.p, code);
    return 0;
}

/* ---- the comma variant ---- */

static bool is_hemi_coord(td_span s, const char *hemi)
{
    s = td_trim(s);
    return s.n >= 5 && strchr(hemi, s.p[s.n - 1]) && memchr(s.p, '.', s.n);
}

/*
 * <ddMMyy>,<A|V>,<lat><N|S>,<lon><E|W>,<speed>,<hhmmss>,<course>, then
 * either <state 8>,L<mileage> or <altitude>,<satellites>[,...].
 */
static int comma_fix(td_decode_ctx *ctx, const td_span *f, int n, td_span type)
{
    double lat, lon, speed, course, alt;
    int64_t sats;
    td_record *r;
    int rc;

    td_span la = td_trim(f[2]), lo = td_trim(f[3]), v = td_trim(f[1]);
    if (!(v.n == 1 && (v.p[0] == 'A' || v.p[0] == 'V')))
        return bad(ctx, "validity", v);
    if (!coord((td_span){la.p, la.n - 1}, la.p[la.n - 1], false, &lat))
        return bad(ctx, "latitude", la);
    if (!coord((td_span){lo.p, lo.n - 1}, lo.p[lo.n - 1], true, &lon))
        return bad(ctx, "longitude", lo);
    if (!number(f[4], 0, 999.999, &speed))
        return bad(ctx, "speed", f[4]);
    if (n > 6 && td_trim(f[6]).n && !number(f[6], 0, 360, &course))
        return bad(ctx, "course", f[6]);
    if ((rc = add(ctx, TD_REC_POSITION, &r)) != 0)
        return rc;
    set_time(ctx, r, f[0], n > 5 ? f[5] : (td_span){"", 0}, false);
    r->valid = v.p[0] == 'A';
    r->latitude = lat;
    r->longitude = lon;
    r->speed = speed;
    r->course = n > 6 && td_trim(f[6]).n ? course : 0;
    raw_text(r, "type", type);
    type_event(r, type);
    int k = 7;
    if (k < n && td_trim(f[k]).n == 8 && td_span_digits(td_trim(f[k]))) {
        state(r, td_trim(f[k++]));
        td_span odo = td_trim(k < n ? f[k] : (td_span){"", 0});
        int64_t m;
        if (odo.n > 1 && odo.p[0] == 'L' && td_parse_hex((td_span){odo.p + 1, odo.n - 1}, &m)) {
            td_rec_set_double(r, TD_ATTR_ODOMETER, (double)m);
            k++;
        }
    } else {
        if (k < n && td_parse_double(td_trim(f[k]), &alt))
            r->altitude = alt, k++;
        if (k < n && td_parse_int(td_trim(f[k]), &sats) && sats >= 0)
            td_rec_set_int(r, TD_ATTR_SATELLITES, sats), k++;
    }
    for (int i = k; i < n; i++) {
        char key[24];
        snprintf(key, sizeof(key), "extra%d", i - k + 1);
        if (td_trim(f[i]).n)
            raw_text(r, key, td_trim(f[i]));
    }
    return 0;
}

/*
 * Cells and Wi-Fi (DW5x): <mcc>,<mnc>,<lac>,<cid>,<Wi-Fi count>,
 * {<mac>*<rssi>*<channel>}..., <ddMMyy>,<hhmmss>. A position without a fix:
 * the device asks where its cells put it.
 */
static int comma_cells(td_decode_ctx *ctx, const td_span *f, int n, td_span type)
{
    int64_t v[5];
    td_record *r;
    int rc;

    for (int i = 0; i < 5; i++)
        if (!td_parse_int(td_trim(f[i]), &v[i]) || v[i] < 0)
            return bad(ctx, "cell", f[i]);
    if (n != 7 + v[4])
        return td_ctx_error(ctx, TD_EBADFRAME, "tk103: %lld Wi-Fi points but %d fields",
                            (long long)v[4], n);
    if ((rc = add(ctx, TD_REC_POSITION, &r)) != 0)
        return rc;
    r->valid = false;
    td_rec_add_cell(r, (int)v[0], (int)v[1], v[2], v[3], false, 0);
    for (int i = 0; i < v[4]; i++) {
        td_span w[3];
        int64_t rssi;
        if (td_split(td_trim(f[5 + i]), '*', w, 3) < 2 || !td_parse_int(w[1], &rssi) ||
            td_rec_add_wifi(r, w[0].p, w[0].n, (int)rssi) != 0)
            return bad(ctx, "Wi-Fi point", f[5 + i]);
    }
    set_time(ctx, r, f[n - 2], f[n - 1], false);
    raw_text(r, "type", type);
    type_event(r, type);
    return 0;
}

/* ZC20: <ddMMyy>,<hhmmss>,<level>,<battery 10 mV>,<power 10 mV>,<installed>. */
static int comma_battery(td_decode_ctx *ctx, const td_span *f, int n)
{
    int64_t v[4];
    td_record *r;
    int rc;

    if (n < 6)
        return td_ctx_error(ctx, TD_EBADFRAME, "tk103: ZC20 with %d of 6 fields", n);
    for (int i = 0; i < 4; i++)
        if (!td_parse_int(td_trim(f[2 + i]), &v[i]) || v[i] < 0)
            return bad(ctx, "battery field", f[2 + i]);
    if ((rc = add(ctx, TD_REC_STATUS, &r)) != 0)
        return rc;
    set_time(ctx, r, f[0], f[1], false);
    td_rec_raw_int(r, "batteryStep", v[0]);
    td_rec_set_double(r, TD_ATTR_BATTERY, (double)v[1] / 100.0);
    if (v[2] != 65535)
        td_rec_raw_double(r, "power", (double)v[2] / 100.0);
    td_rec_raw_int(r, "installed", v[3]);
    return 0;
}

static int decode_comma(td_decode_ctx *ctx, td_span id, td_span rest)
{
    td_span all[TK103_FIELDS_MAX];
    int n = td_split(rest, ',', all, TK103_FIELDS_MAX);
    td_span type = td_trim(all[0]);
    const td_span *f = all + 1;
    (void)id;

    n--;
    if (type.n != 4)
        return bad(ctx, "message type", type);
    if (td_span_eq(type, "ZC20"))
        return comma_battery(ctx, f, n);
    if (n >= 7 && is_hemi_coord(f[2], "NS") && is_hemi_coord(f[3], "EW"))
        return comma_fix(ctx, f, n, type);
    if (n >= 7 && type.p[0] == 'D' && type.p[1] == 'W')
        return comma_cells(ctx, f, n, type);
    td_record *r;
    int rc = add(ctx, TD_REC_OTHER, &r);
    if (rc)
        return rc;
    raw_text(r, "type", type);
    if (n >= 2)
        set_time(ctx, r, f[0], f[1], false);
    if (n > 0)
        raw_text(r, "content", (td_span){f[0].p, (size_t)(rest.p + rest.n - f[0].p)});
    return 0;
}

static int decode_frame(td_decode_ctx *ctx, const uint8_t *frame, size_t len)
{
    int rc;

    while (len && (frame[len - 1] == '\r' || frame[len - 1] == '\n' || frame[len - 1] == ' '))
        len--;
    if (len == 0 || frame[0] != '(')
        return td_ctx_error(ctx, TD_EBADFRAME, "tk103: frame does not start with '('");
    if (len < 2 || frame[len - 1] != ')')
        return td_ctx_error(ctx, TD_EBADFRAME, "tk103: frame does not end with ')'");
    for (size_t i = 0; i < len; i++)
        if ((frame[i] < 0x20 && frame[i] != '\r' && frame[i] != '\n') || frame[i] > 0x7e)
            return td_ctx_error(ctx, TD_EBADFRAME, "tk103: byte 0x%02x at %zu", frame[i], i);
    td_span s = {(const char *)frame + 1, len - 2};
    size_t d = 0;
    while (d < s.n && isdigit((unsigned char)s.p[d]))
        d++;
    td_span id = {s.p, d};
    if (d < TK103_ID_MIN || d > TK103_ID_MAX)
        return bad(ctx, "device id", (td_span){s.p, d ? d : (s.n < 8 ? s.n : 8)});
    if ((rc = td_session_identify(ctx->session, id.p, id.n)) != 0)
        return bad(ctx, "device id", id);
    if (d < s.n && s.p[d] == ',')
        return decode_comma(ctx, id, (td_span){s.p + d + 1, s.n - d - 1});
    if (s.n < d + 4)
        return td_ctx_error(ctx, TD_EBADFRAME, "tk103: no message type after the id");
    tk_msg m = {id, {s.p + d, 4}, {s.p + d + 4, s.n - d - 4}};
    for (int k = 0; k < 4; k++)
        if (!type_char((uint8_t)m.type.p[k], k))
            return bad(ctx, "message type", m.type);
    return decode_compact(ctx, &m);
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

const td_protocol td_proto_tk103 = {
    /* name: registry key and `decode --protocol` name */
    .name = "tk103",
    /* devices: example devices, for /api/server and the docs */
    .devices = "TK103/TK103B (KX402), Xexun and Kingneed TK-series vehicle trackers and clones",
    /* transports: the same frames over TCP and in UDP datagrams */
    .transports = TD_TCP | TD_UDP,
    /* max_frame: the longest frame (text answers of the comma variant) */
    .max_frame = TK103_MAX_FRAME,
    /* detect: '(' + id digits + a message type of capitals */
    .detect = detect,
    /* frame: from '(' to ')' */
    .frame = frame,
    /* decode: records, and the AP01/AP05/AS01 answers */
    .decode = decode,
    /* commands: none yet */
    .commands = NULL,
    /* encode: none yet */
    .encode = NULL,
};
