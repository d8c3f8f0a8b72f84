/*
 * suntech: the reports of Suntech vehicle trackers, after Suntech's ST300 /
 * ST310U / ST600 / SA200 operation manuals and the "Universal Reporting
 * Guide" (Suntech messages to back-end server), summarised with sources in
 * docs/protocols/suntech.md.
 *
 * Three forms share one connection, each report ending with CR:
 *   legacy     `<MODEL><TYPE>;<DEV_ID>;...` (ST300STT, SA200EMG, ST600UEX,
 *              ST910;Emergency;...), fields separated by ';';
 *   universal  `<TYPE>;<DEV_ID>;<REPORT_MAP>;...` (STT, ALT, EMG, EVT, UEX,
 *              ALV, BLE, BSA, ...) of the newer firmwares;
 *   zip        binary: STX 0x02, length, a header byte, BCD device id,
 *              packed fields, ETX 0x03 (legacy); or a 0x8x header, length,
 *              BCD id, report map and packed fields (universal).
 *
 * Message types: STT status, EVT event, ALT alert (alert ids as CONTRACT
 * alarms: overspeed, geofence exit/enter, low power, shock, power cut;
 * ignition on/off), EMG emergency (sos, or power cut), UEX/DEX external
 * serial data (the data may hold CR LF: cut by its length field), ALV
 * keep-alive, HTE travel summary, BLE/BSA sensor reports, CMD/RES command
 * answers and "-Error", and the zip forms of status, event, alert,
 * emergency and external data reports.
 *
 * Replies: the manuals define one server message, the ACK the unit waits
 * for (over UDP, for the report types its UDP_ACK setting names) before it
 * sends a report again: `<MODEL>ACK;<DEV_ID>` for a legacy text report,
 * 0x15 + the BCD device id for a zip one. trackd sends it for every report
 * but keep-alives and command answers (a TCP unit ignores it); universal
 * reports get `ACK;<DEV_ID>`.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "core/text.h"
#include "protocols/registry.h"

#define ST_TEXT_MAX 2048  /* a text report longer than this has lost its CR */
#define ST_FRAME_MAX 2048 /* and a zip report */
#define ST_FIELDS_MAX 128
#define ST_STX 0x02
#define ST_ETX 0x03
#define ST_ZIP_HEAD 9    /* STX, length, header, 5-byte BCD id */
#define ST_DATA_MAX 2048 /* the longest external data field */

/* ---- detection and framing ---- */

/* Report types of the universal protocol (a header of its own) and of the
 * legacy one (after the model, "ST300" + "STT"). */
static const char *const types[] = {"STT", "ALT", "EMG", "EVT", "UEX", "DEX", "ALV", "BLE",
                                    "BSA", "HTE", "CMD", "RES", "ACK", "NTW", "RPT", "DRV"};

static bool known_type(const uint8_t *b, size_t n)
{
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
        if (n == 3 && memcmp(b, types[i], 3) == 0)
            return true;
    return false;
}

/*
 * The header of a text report: the field before the first ';'. Universal:
 * three capital letters (the report type). Legacy: "ST" or "SA", 3 or 4
 * digits (the model), then three capital letters, or nothing for the ST910
 * ("ST910;Emergency;..."). Or "-Error". Returns YES / MAYBE / NO; *hlen is
 * the header's length, *known whether the type is one the documents name
 * (an unknown one needs a longer device id to be taken, see detect()).
 */
static int text_head(const uint8_t *b, size_t len, size_t *hlen, bool *known)
{
    static const char err[] = "-Error";
    size_t i, t;

    *known = true;
    if (len == 0)
        return TD_DETECT_MAYBE;
    if (b[0] == '-') {
        size_t n = len < 6 ? len : 6;
        if (memcmp(b, err, n) != 0)
            return TD_DETECT_NO;
        if (len < 6)
            return TD_DETECT_MAYBE;
        *hlen = 6;
        return len == 6 || b[6] == '\r' || b[6] == '\n' || b[6] == ';' ? TD_DETECT_YES
                                                                       : TD_DETECT_NO;
    }
    bool legacy =
        len >= 2 && b[0] == 'S' && (b[1] == 'T' || b[1] == 'A') && (len < 3 || isdigit(b[2]));
    if (len >= 2 && b[0] == 'S' && b[1] == 'A' && len >= 3 && !isdigit(b[2]))
        legacy = false;
    t = 0;
    if (legacy) {
        for (i = 2; i < len && isdigit(b[i]); i++)
            if (i - 2 >= 4)
                return TD_DETECT_NO;
        if (i >= len)
            return TD_DETECT_MAYBE;
        if (i - 2 < 3)
            return TD_DETECT_NO;
        if (b[i] == ';') {
            *hlen = i;
            return TD_DETECT_YES; /* the model alone: ST910 */
        }
        t = i;
    }
    for (i = t; i < len && i < t + 3; i++)
        if (!isupper(b[i]))
            return TD_DETECT_NO;
    if (i < t + 3 || i >= len)
        return TD_DETECT_MAYBE;
    if (b[i] != ';')
        return TD_DETECT_NO;
    *known = known_type(b + t, 3);
    *hlen = i;
    return TD_DETECT_YES;
}

static bool bcd_ok(uint8_t b)
{
    return (b >> 4) <= 9 && (b & 0x0f) <= 9;
}

/*
 * A zip report at b: STX, a 2-byte length, a header byte 0x10-0x1F, the
 * BCD id; or a universal header 0x81-0x8F, a 2-byte length, the BCD id.
 * Returns YES with the frame's length in *flen, MAYBE, or NO.
 */
static int zip_head(const uint8_t *b, size_t len, size_t *flen)
{
    if (len == 0)
        return TD_DETECT_MAYBE;
    bool legacy = b[0] == ST_STX, universal = b[0] >= 0x81 && b[0] <= 0x8f;
    if (!legacy && !universal)
        return TD_DETECT_NO;
    size_t id_at = legacy ? 4 : 3;
    for (size_t i = 1; i < id_at + 5; i++) {
        if (i >= len)
            return TD_DETECT_MAYBE;
        if (legacy && i == 3 && (b[i] & 0xf0) != 0x10)
            return TD_DETECT_NO;
        if (i >= id_at && !bcd_ok(b[i]))
            return TD_DETECT_NO;
    }
    size_t n = (size_t)b[1] << 8 | b[2];
    size_t total = legacy ? n + 4 : n + 3;
    if (total < id_at + 5 + 8 || total > ST_FRAME_MAX)
        return TD_DETECT_NO;
    *flen = total;
    return TD_DETECT_YES;
}

/* Digits an unknown report type's device id needs before it is taken. */
#define ST_UNKNOWN_ID_MIN 6

static int detect(const uint8_t *buf, size_t len)
{
    size_t hl, fl;
    bool known;

    if (len == 0)
        return TD_DETECT_MAYBE;
    if (buf[0] == ST_STX || buf[0] >= 0x80)
        return zip_head(buf, len, &fl);
    int d = text_head(buf, len, &hl, &known);
    if (d != TD_DETECT_YES || buf[0] == '-')
        return d;
    /* The device id follows: letters and digits ("Res" in a command
     * answer); after a type the documents do not name, digits only, at
     * least ST_UNKNOWN_ID_MIN of them. */
    size_t i = hl + 1;
    if (i >= len)
        return TD_DETECT_MAYBE;
    for (; i < len && i < hl + 1 + 24 && buf[i] != ';' && buf[i] != '\r'; i++)
        if (known ? !isalnum(buf[i]) : !isdigit(buf[i]))
            return TD_DETECT_NO;
    if (i == hl + 1)
        return TD_DETECT_NO;
    if (!known && i - hl - 1 < ST_UNKNOWN_ID_MIN)
        return i < len ? TD_DETECT_NO : TD_DETECT_MAYBE;
    return TD_DETECT_YES;
}

/* Could a frame start at b (n bytes available)? */
static bool frame_start(const uint8_t *b, size_t n)
{
    size_t hl, fl;
    bool known;
    if (b[0] == ST_STX || b[0] >= 0x80)
        return zip_head(b, n < ST_ZIP_HEAD ? n : ST_ZIP_HEAD, &fl) != TD_DETECT_NO;
    return text_head(b, n < 10 ? n : 10, &hl, &known) != TD_DETECT_NO;
}

/*
 * Does the CR at b[cr] lie inside the data of an external-data report
 * (UEX/DEX: "...;<LEN>;<DATA>;...", the data may hold CR LF)? The nearest
 * field before the CR's own that is a number of at most 4 digits is the
 * length; returns the end of the data when the CR is inside it, else 0
 * (the CR ends the report).
 */
static size_t data_end(const uint8_t *b, size_t cr)
{
    const uint8_t *semi = memchr(b, ';', cr);
    if (!semi || semi - b < 3 ||
        (memcmp(semi - 3, "UEX", 3) != 0 && memcmp(semi - 3, "DEX", 3) != 0))
        return 0;
    size_t fend = cr;
    while (fend > 0 && b[fend - 1] != ';')
        fend--;
    if (fend == 0)
        return 0;
    fend--; /* the ';' before the CR's field */
    while (fend > 0) {
        size_t fs = fend;
        while (fs > 0 && b[fs - 1] != ';')
            fs--;
        if (fs == 0)
            return 0; /* the header */
        td_span f = {(const char *)b + fs, fend - fs};
        int64_t n;
        if (f.n && f.n <= 4 && td_span_digits(f) && td_parse_int(f, &n))
            return fend + 1 + (size_t)n > cr ? fend + 1 + (size_t)n : 0;
        fend = fs - 1;
    }
    return 0;
}

/*
 * Cuts the next report: a zip one by its length, a text one up to its CR
 * (included; external data may hold CR LF, skipped by its length). Noise
 * before a report (the LF after a CR, ...) is skipped.
 */
static long frame(const uint8_t *buf, size_t len, size_t *skip)
{
    size_t s = 0, fl = 0;

    while (s < len && !frame_start(buf + s, len - s))
        s++;
    *skip = s;
    buf += s;
    len -= s;
    if (len == 0)
        return 0;
    if (buf[0] == ST_STX || buf[0] >= 0x80) {
        if (zip_head(buf, len, &fl) != TD_DETECT_YES)
            return 0;
        return len >= fl ? (long)fl : 0;
    }
    size_t lim = len < ST_TEXT_MAX ? len : ST_TEXT_MAX;
    for (size_t i = 1; i < lim; i++) {
        if (buf[i] != '\r')
            continue;
        size_t skip_to = data_end(buf, i);
        if (skip_to == 0)
            return (long)i + 1;
        if (skip_to > len)
            return len >= ST_TEXT_MAX ? TD_ETOOBIG : 0;
        i = skip_to - 1;
    }
    return len >= ST_TEXT_MAX ? TD_ETOOBIG : 0;
}

/* ---- decoding helpers ---- */

static int bad(td_decode_ctx *ctx, const char *what, td_span s)
{
    char b[48];
    return td_ctx_error(ctx, TD_EBADFRAME, "suntech: bad %s '%s'", what,
                        td_span_show(s, b, sizeof(b)));
}

static int add(td_decode_ctx *ctx, td_rec_type type, td_record **out)
{
    *out = td_ctx_add(ctx, type);
    return *out ? 0 : td_ctx_error(ctx, TD_ENOMEM, "suntech: too many records");
}

/* A coordinate: signed degrees with at least five decimals, within limit. */
static bool parse_degrees(td_span s, double limit, double *out)
{
    const char *dot = memchr(s.p, '.', s.n);
    if (!dot || (size_t)(s.p + s.n - dot - 1) < 5 || !td_parse_double(s, out))
        return false;
    return *out >= -limit && *out <= limit;
}

/* "yyyymmdd" and "hh:mm:ss", UTC. */
static bool parse_date_time(td_span d, td_span t, int64_t *out)
{
    int y, mo, da, h, mi, se;
    if (d.n != 8 || !td_span_digits(d) || t.n != 8 || t.p[2] != ':' || t.p[5] != ':')
        return false;
    td_parse_fixed(d.p, 4, &y);
    td_parse_fixed(d.p + 4, 2, &mo);
    td_parse_fixed(d.p + 6, 2, &da);
    if (!td_parse_fixed(t.p, 2, &h) || !td_parse_fixed(t.p + 3, 2, &mi) ||
        !td_parse_fixed(t.p + 6, 2, &se))
        return false;
    return td_utc_ms(y, mo, da, h, mi, se, out);
}

/* Alarms of the alert ids (legacy and universal tables agree on these). */
static void alert_meaning(int64_t id, td_record *r)
{
    switch (id) {
    case 1: /* started driving faster than the speed limit */
        td_rec_alarm(r, TD_ALARM_OVERSPEED);
        break;
    case 5: /* exited a geofence */
        td_rec_alarm(r, TD_ALARM_GEOFENCE_EXIT);
        break;
    case 6: /* entered a geofence */
        td_rec_alarm(r, TD_ALARM_GEOFENCE_ENTER);
        break;
    case 14: /* vehicle battery low */
        td_rec_alarm(r, TD_ALARM_LOW_POWER);
        break;
    case 15: /* shocked */
        td_rec_alarm(r, TD_ALARM_VIBRATION);
        break;
    case 33: /* ignition on */
        td_rec_set_bool(r, TD_ATTR_IGNITION, true);
        break;
    case 34: /* ignition off */
        td_rec_set_bool(r, TD_ATTR_IGNITION, false);
        break;
    case 41: /* main power disconnected */
        td_rec_alarm(r, TD_ALARM_POWER_CUT);
        break;
    default:
        break;
    }
}

/* Emergency ids: 3 is the main power removed, the others (1 the panic
 * button, 2 parking lock, 5 anti-theft, ...) are an SOS. */
static void emergency_meaning(int64_t id, td_record *r)
{
    td_rec_alarm(r, id == 3 ? TD_ALARM_POWER_CUT : TD_ALARM_SOS);
}

/* ---- text reports ---- */

typedef struct st_msg {
    td_span f[ST_FIELDS_MAX];
    int n;
    td_span model; /* legacy: "ST300", "SA200", ...; universal: empty */
    td_span type;  /* "STT", ...; the ST910's "Emergency", "Alert", ... */
    int idf;       /* index of the device id */
} st_msg;

static bool is_type(const st_msg *m, const char *t)
{
    return td_span_eq(m->type, t);
}

static int64_t opt_int(td_span s, int64_t def)
{
    int64_t v;
    return td_parse_int(s, &v) ? v : def;
}

/* The id field f of an alert, event or emergency report; false for the
 * other types. */
static bool report_id(const st_msg *m, td_span f, td_record *r)
{
    int64_t v;

    if (is_type(m, "ALT") || is_type(m, "EVT")) {
        if (td_parse_int(f, &v)) {
            td_rec_raw_int(r, is_type(m, "ALT") ? "alertId" : "eventId", v);
            if (is_type(m, "ALT"))
                alert_meaning(v, r);
        }
        return true;
    }
    if (is_type(m, "EMG")) {
        v = opt_int(f, 1);
        td_rec_raw_int(r, "emergencyId", v);
        emergency_meaning(v, r);
        return true;
    }
    return false;
}

/* Legacy fields after FIX (at k): distance, power, I/O, then by type. */
static void legacy_tail(const st_msg *m, int k, td_record *r)
{
    double d;
    int64_t v;

    if (k + 1 < m->n && td_parse_double(m->f[k + 1], &d) && d >= 0)
        td_rec_set_double(r, TD_ATTR_ODOMETER, d);
    if (k + 2 < m->n && td_parse_double(m->f[k + 2], &d))
        td_rec_raw_double(r, "power", d);
    if (k + 3 < m->n && m->f[k + 3].n >= 6 && td_span_digits(m->f[k + 3])) {
        /* Ignition, inputs 1-3, outputs 1-2 (more on some models). */
        td_rec_set_bool(r, TD_ATTR_IGNITION, m->f[k + 3].p[0] == '1');
        td_rec_raw_str(r, "io", m->f[k + 3].p, m->f[k + 3].n);
    }
    if (k + 4 >= m->n)
        return;
    if (is_type(m, "STT")) {
        td_rec_raw_int(r, "mode", opt_int(m->f[k + 4], 0));
        if (k + 5 < m->n && td_parse_int(m->f[k + 5], &v))
            td_rec_raw_int(r, "index", v);
        if (k + 7 < m->n && td_parse_double(m->f[k + 7], &d) && d >= 0 && d < 100)
            td_rec_set_double(r, TD_ATTR_BATTERY, d);
        if (k + 8 < m->n && td_span_eq(m->f[k + 8], "0"))
            td_rec_raw_bool(r, "buffered", true);
    } else if (report_id(m, m->f[k + 4], r)) {
        return;
    } else if (is_type(m, "UEX") || is_type(m, "DEX")) {
        if (k + 5 < m->n) {
            td_span data = m->f[k + 5];
            size_t n = data.n < 200 ? data.n : 200;
            char buf[201];
            for (size_t i = 0; i < n; i++)
                buf[i] = isprint((unsigned char)data.p[i]) ? data.p[i] : ' ';
            td_rec_raw_str(r, "data", buf, n);
        }
    }
}

/* Universal fields after FIX (at k): input and output states, then by
 * type. The inputs are 8 binary digits, ignition the last. */
static void universal_tail(const st_msg *m, int k, td_record *r)
{
    double d;
    int64_t v;

    if (k + 1 < m->n && m->f[k + 1].n >= 1 && td_span_digits(m->f[k + 1])) {
        td_span in = m->f[k + 1];
        td_rec_set_bool(r, TD_ATTR_IGNITION, in.p[in.n - 1] == '1');
        td_rec_raw_str(r, "input", in.p, in.n);
    }
    if (k + 2 < m->n && m->f[k + 2].n)
        td_rec_raw_str(r, "output", m->f[k + 2].p, m->f[k + 2].n);
    if (k + 3 >= m->n)
        return;
    if (is_type(m, "STT")) {
        td_rec_raw_int(r, "mode", opt_int(m->f[k + 3], 0));
        if (k + 5 < m->n && td_parse_int(m->f[k + 5], &v))
            td_rec_raw_int(r, "index", v);
        if (k + 6 < m->n && td_parse_double(m->f[k + 6], &d) && d >= 0 && d < 100)
            td_rec_set_double(r, TD_ATTR_BATTERY, d);
        if (k + 7 < m->n && td_parse_double(m->f[k + 7], &d))
            td_rec_raw_double(r, "power", d);
    } else {
        report_id(m, m->f[k + 3], r);
    }
}

/* Splits a text report and finds its type and device id. */
static int split_text(td_decode_ctx *ctx, const uint8_t *frame, size_t len, st_msg *m)
{
    td_span body = {(const char *)frame, len};

    memset(m, 0, sizeof(*m));
    while (body.n && (body.p[body.n - 1] == '\r' || body.p[body.n - 1] == '\n'))
        body.n--;
    m->n = td_split(body, ';', m->f, ST_FIELDS_MAX);
    td_span h = m->f[0];
    size_t i = 0;
    if (h.n >= 5 && (td_span_starts(h, "ST") || td_span_starts(h, "SA"))) {
        for (i = 2; i < h.n && isdigit((unsigned char)h.p[i]); i++)
            ;
        m->model = (td_span){h.p, i};
        m->type = (td_span){h.p + i, h.n - i};
    } else {
        m->type = h;
    }
    m->idf = 1;
    if (m->type.n == 0) { /* ST910;<kind>;<id>;... */
        if (m->n < 3)
            return td_ctx_error(ctx, TD_EBADFRAME, "suntech: %.*s report without a device id",
                                (int)h.n, h.p);
        m->type = m->f[1];
        m->idf = 2;
    } else if (m->n > 2 && td_span_eq(m->f[1], "Res")) {
        m->idf = 2; /* a command answer: "CMD;Res;<id>;..." */
    }
    if (m->idf >= m->n)
        return td_ctx_error(ctx, TD_EBADFRAME, "suntech: %.*s report without a device id", (int)h.n,
                            h.p);
    td_span id = m->f[m->idf];
    if (id.n == 0 || id.n > 20)
        return bad(ctx, "device id", id);
    for (size_t k = 0; k < id.n; k++)
        if (!isalnum((unsigned char)id.p[k]))
            return bad(ctx, "device id", id);
    for (size_t k = 0; k < body.n; k++) {
        unsigned char c = (unsigned char)body.p[k];
        if (c < 0x20 && c != '\r' && c != '\n' && c != '\t')
            return td_ctx_error(ctx, TD_EBADFRAME, "suntech: byte 0x%02x at %zu in a text report",
                                c, k);
    }
    return 0;
}

/* The position fields: date and time, then (after cells) latitude and
 * longitude, speed (km/h), course, satellites and the fix flag. Returns
 * the index of the fix flag, -1 when there is no position, or a negative
 * TD_E* code (below -1) for a field that is present and wrong. */
static int position_fields(td_decode_ctx *ctx, const st_msg *m, td_record **out, bool ble)
{
    int64_t t;
    int d = -1, j = -1, rc;

    for (int i = m->idf + 1; i + 1 < m->n && d < 0; i++)
        if (parse_date_time(m->f[i], m->f[i + 1], &t))
            d = i;
    if (d < 0)
        return -1;
    double lat = 0, lon = 0;
    for (int i = d + 2; i + 1 < m->n && i <= d + 8 && j < 0; i++)
        if (parse_degrees(m->f[i], 90, &lat) && parse_degrees(m->f[i + 1], 180, &lon))
            j = i;
    td_record *r;
    if ((rc = add(ctx, j >= 0 ? TD_REC_POSITION : TD_REC_STATUS, &r)) != 0)
        return rc;
    *out = r;
    r->time_ms = t;
    r->has_time = true;
    if (j < 0)
        return -1;
    r->latitude = lat;
    r->longitude = lon;
    r->valid = true;
    /* Cells between the time and the latitude: one field (LAC and BSIC) or
     * cell id, MCC, MNC, LAC, rx level. */
    int64_t cid, mcc, mnc, lac, rx;
    if (j - d - 2 == 5 && td_parse_hex(m->f[d + 2], &cid) && td_parse_int(m->f[d + 3], &mcc) &&
        td_parse_int(m->f[d + 4], &mnc) && td_parse_hex(m->f[d + 5], &lac) && mcc > 0) {
        bool has_rx = td_parse_int(m->f[d + 6], &rx);
        td_rec_add_cell(r, (int)mcc, (int)mnc, lac, cid, has_rx, has_rx ? (int)rx : 0);
    } else if (j - d - 2 == 1 && m->f[d + 2].n) {
        td_rec_raw_str(r, "cell", m->f[d + 2].p, m->f[d + 2].n);
    }
    if (ble) {
        r->valid = j + 2 < m->n && td_span_eq(m->f[j + 2], "1");
        return -1;
    }
    double speed = 0, course = 0;
    if (j + 2 < m->n && m->f[j + 2].n &&
        (!td_parse_double(m->f[j + 2], &speed) || speed < 0 || speed > 1999))
        return bad(ctx, "speed", m->f[j + 2]);
    if (j + 3 < m->n && m->f[j + 3].n &&
        (!td_parse_double(m->f[j + 3], &course) || course < 0 || course > 360))
        return bad(ctx, "course", m->f[j + 3]);
    r->speed = speed;
    r->course = course == 360 ? 0 : course;
    int64_t sats;
    if (j + 4 < m->n && td_parse_int(m->f[j + 4], &sats) && sats >= 0 && sats < 100)
        td_rec_set_int(r, TD_ATTR_SATELLITES, sats);
    if (j + 5 < m->n && (td_span_eq(m->f[j + 5], "0") || td_span_eq(m->f[j + 5], "1"))) {
        r->valid = m->f[j + 5].p[0] == '1';
        return j + 5;
    }
    return -1;
}

static int decode_text(td_decode_ctx *ctx, const uint8_t *frame, size_t len)
{
    st_msg *m = &(st_msg){0};
    td_record *r = NULL;
    int rc;

    if (len >= 6 && memcmp(frame, "-Error", 6) == 0) {
        /* A command the unit refused. */
        if ((rc = add(ctx, TD_REC_ACK, &r)) != 0)
            return rc;
        r->has_time = false;
        td_rec_raw_str(r, "result", "Error", 5);
        return 0;
    }
    if ((rc = split_text(ctx, frame, len, m)) != 0)
        return rc;
    td_span id = m->f[m->idf];
    if ((rc = td_session_identify(ctx->session, id.p, id.n)) != 0)
        return bad(ctx, "device id", id);

    bool answer = false;
    if (is_type(m, "ALV") || is_type(m, "ACK")) {
        if ((rc = add(ctx, TD_REC_HEARTBEAT, &r)) != 0)
            return rc;
        r->has_time = false;
    } else if (is_type(m, "CMD") || is_type(m, "RES")) {
        if ((rc = add(ctx, TD_REC_ACK, &r)) != 0)
            return rc;
        r->has_time = false;
        if (m->idf + 1 < m->n) {
            const char *p = m->f[m->idf + 1].p;
            size_t n = (size_t)((const char *)frame + len - p);
            while (n && (p[n - 1] == '\r' || p[n - 1] == '\n'))
                n--;
            td_rec_raw_str(r, "result", p, n < 200 ? n : 200);
        }
    } else if (is_type(m, "BSA") || is_type(m, "HTE")) {
        /* Sensor alerts and travel summaries: no fix of their own. */
        int64_t t;
        if ((rc = add(ctx, TD_REC_STATUS, &r)) != 0)
            return rc;
        r->has_time = false;
        for (int i = m->idf + 1; i + 1 < m->n; i++)
            if (parse_date_time(m->f[i], m->f[i + 1], &t)) {
                r->time_ms = t;
                r->has_time = true;
                break;
            }
        answer = true;
    } else {
        int k = position_fields(ctx, m, &r, is_type(m, "BLE"));
        if (k < -1)
            return k;
        if (!r && (rc = add(ctx, TD_REC_STATUS, &r)) != 0)
            return rc;
        if (r->type == TD_REC_STATUS && !r->has_time)
            r->has_time = false;
        if (k >= 0 && m->model.n && !td_span_eq(m->model, "ST910"))
            legacy_tail(m, k, r);
        else if (k >= 0 && !m->model.n)
            universal_tail(m, k, r);
        if (td_span_eq(m->type, "Emergency"))
            td_rec_alarm(r, TD_ALARM_SOS);
        else if (is_type(m, "EMG") && k < 0)
            td_rec_alarm(r, TD_ALARM_SOS);
        answer = true;
    }
    char type[16];
    td_span_cstr(m->type, type, sizeof(type));
    td_rec_raw_str(r, "type", type, strlen(type));
    if (m->model.n)
        td_rec_raw_str(r, "model", m->model.p, m->model.n);
    if (!answer)
        return 0;
    return td_ctx_replyf(ctx, "%.*sACK;%.*s", (int)m->model.n, m->model.p, (int)id.n, id.p);
}

/* ---- zip reports ---- */

/* Decimal digits of BCD bytes into out (2 a byte). */
static void bcd_digits(const uint8_t *b, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = (char)('0' + (b[i] >> 4));
        out[2 * i + 1] = (char)('0' + (b[i] & 0x0f));
    }
    out[2 * n] = '\0';
}

static unsigned be16(const uint8_t *b)
{
    return (unsigned)b[0] << 8 | b[1];
}

static uint32_t be32(const uint8_t *b)
{
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

/* 1 byte of whole degrees and 3 BCD bytes of millionths. */
static bool zip_degrees(const uint8_t *b, double *out)
{
    char d[7];
    int frac;
    if (!bcd_ok(b[1]) || !bcd_ok(b[2]) || !bcd_ok(b[3]))
        return false;
    bcd_digits(b + 1, 3, d);
    td_parse_fixed(d, 6, &frac);
    *out = b[0] + frac / 1e6;
    return true;
}

/* 2 bytes of whole units and 1 BCD byte of hundredths. */
static double zip_decimal(const uint8_t *b)
{
    return be16(b) + ((b[2] >> 4) * 10 + (b[2] & 0x0f)) / 100.0;
}

#define ZIP_BODY 43 /* STX to I/O: the fields every legacy zip report has */

/*
 * A legacy zip report: STX, length, header (0x11 status, 0x12 event, 0x13
 * alert, 0x14 emergency, 0x16 external data, ...), BCD id (9 digits and a
 * pad), model, software version, date and time (6 bytes), cell (3), latitude
 * and longitude (4 each), speed and course (3 each), satellites with the fix
 * and sign bits, distance (4), power (2), I/O, then by header, ETX.
 */
static int decode_zip(td_decode_ctx *ctx, const uint8_t *b, size_t len)
{
    size_t flen;
    char id[11];
    td_record *r;
    int rc;

    if (zip_head(b, len, &flen) != TD_DETECT_YES || flen != len)
        return td_ctx_error(ctx, TD_EBADFRAME, "suntech: zip report of %zu bytes cut short", len);
    if (len < ZIP_BODY + 1 || b[len - 1] != ST_ETX)
        return td_ctx_error(ctx, TD_EBADFRAME, "suntech: zip report of %zu bytes without ETX", len);
    bcd_digits(b + 4, 5, id);
    id[9] = '\0'; /* the tenth digit pads */
    if ((rc = td_session_identify(ctx->session, id, strlen(id))) != 0)
        return td_ctx_error(ctx, TD_EBADFRAME, "suntech: bad device id '%s'", id);
    int64_t t;
    const uint8_t *dt = b + 12;
    if (!td_utc_ms(2000 + dt[0], dt[1], dt[2], dt[3], dt[4], dt[5], &t))
        return td_ctx_error(ctx, TD_EBADFRAME, "suntech: bad date in a zip report");
    double lat, lon;
    if (!zip_degrees(b + 21, &lat) || !zip_degrees(b + 25, &lon) || lat > 90 || lon > 180)
        return td_ctx_error(ctx, TD_EBADFRAME, "suntech: bad coordinates in a zip report");
    if ((rc = add(ctx, TD_REC_POSITION, &r)) != 0)
        return rc;
    uint8_t sf = b[35];
    r->time_ms = t;
    r->has_time = true;
    r->latitude = sf & 0x40 ? -lat : lat;
    r->longitude = sf & 0x20 ? -lon : lon;
    r->valid = (sf & 0x80) != 0;
    r->speed = zip_decimal(b + 29);
    r->course = zip_decimal(b + 32);
    if (r->speed > 1999)
        r->speed = 0;
    if (r->course >= 360)
        r->course = 0;
    td_rec_set_int(r, TD_ATTR_SATELLITES, sf & 0x1f);
    td_rec_set_double(r, TD_ATTR_ODOMETER, be32(b + 36));
    td_rec_raw_double(r, "power", b[40] + ((b[41] >> 4) * 10 + (b[41] & 0x0f)) / 100.0);
    td_rec_set_bool(r, TD_ATTR_IGNITION, b[42] & 1);
    td_rec_raw_int(r, "io", b[42]);
    td_rec_raw_int(r, "header", b[3]);
    if (len > ZIP_BODY + 1) {
        if (b[3] == 0x13) {
            td_rec_raw_int(r, "alertId", b[43]);
            alert_meaning(b[43], r);
        } else if (b[3] == 0x14) {
            td_rec_raw_int(r, "emergencyId", b[43]);
            emergency_meaning(b[43], r);
        }
    }
    /* The ACK: 0x15 and the id as the report wrote it. */
    uint8_t ack[6] = {0x15};
    memcpy(ack + 1, b + 4, 5);
    return td_ctx_reply(ctx, ack, sizeof(ack));
}

/*
 * A universal zip report: header 0x81.., length, BCD id (10 digits), report
 * map (3), model, software version (3), message type, date and time (3
 * each), cell id (4), MCC, MNC, LAC (2 each), rx level, latitude and
 * longitude (4 each, millionths, sign in the top bit), speed, course (2
 * each), satellites, fix, inputs, outputs, mode, report type, message
 * number (2), backup battery (2, 0.1 V), power (2, 0.01 V).
 */
#define UZIP_BODY 57

static int decode_universal_zip(td_decode_ctx *ctx, const uint8_t *b, size_t len)
{
    size_t flen;
    char id[11];
    td_record *r;
    int rc;

    if (zip_head(b, len, &flen) != TD_DETECT_YES || flen != len)
        return td_ctx_error(ctx, TD_EBADFRAME, "suntech: zip report of %zu bytes cut short", len);
    bcd_digits(b + 3, 5, id);
    if ((rc = td_session_identify(ctx->session, id, strlen(id))) != 0)
        return td_ctx_error(ctx, TD_EBADFRAME, "suntech: bad device id '%s'", id);
    uint32_t map = (uint32_t)b[8] << 16 | (uint32_t)b[9] << 8 | b[10];
    if (len < UZIP_BODY || (map & 0x3fffff) != 0x3fffff) {
        /* Fields left out by the map: only the id is sure. */
        if ((rc = add(ctx, TD_REC_STATUS, &r)) != 0)
            return rc;
        r->has_time = false;
        td_rec_raw_int(r, "header", b[0]);
        return 0;
    }
    int64_t t;
    const uint8_t *d = b + 16, *tm = b + 19;
    if (!td_utc_ms(2000 + d[0], d[1], d[2], tm[0], tm[1], tm[2], &t))
        return td_ctx_error(ctx, TD_EBADFRAME, "suntech: bad date in a zip report");
    uint32_t la = be32(b + 33), lo = be32(b + 37);
    double lat = (la & 0x7fffffff) / 1e6, lon = (lo & 0x7fffffff) / 1e6;
    if (lat > 90 || lon > 180)
        return td_ctx_error(ctx, TD_EBADFRAME, "suntech: bad coordinates in a zip report");
    if ((rc = add(ctx, TD_REC_POSITION, &r)) != 0)
        return rc;
    r->time_ms = t;
    r->has_time = true;
    r->latitude = la & 0x80000000u ? -lat : lat;
    r->longitude = lo & 0x80000000u ? -lon : lon;
    r->speed = be16(b + 41);
    r->course = be16(b + 43) % 360;
    if (r->speed > 1999)
        r->speed = 0;
    td_rec_set_int(r, TD_ATTR_SATELLITES, b[45]);
    r->valid = b[46] == 1;
    td_rec_set_bool(r, TD_ATTR_IGNITION, b[47] & 1);
    td_rec_raw_int(r, "input", b[47]);
    td_rec_raw_int(r, "output", b[48]);
    td_rec_raw_int(r, "mode", b[49]);
    td_rec_raw_int(r, "index", be16(b + 51));
    td_rec_set_double(r, TD_ATTR_BATTERY, be16(b + 53) / 10.0);
    td_rec_raw_double(r, "power", be16(b + 55) / 100.0);
    td_rec_raw_int(r, "header", b[0]);
    int64_t mcc = be16(b + 26), mnc = be16(b + 28);
    if (mcc > 0)
        td_rec_add_cell(r, (int)mcc, (int)mnc, be16(b + 30), be32(b + 22), true, b[32]);
    return 0;
}

static int decode(td_decode_ctx *ctx, const uint8_t *frame, size_t len)
{
    int rc;

    if (len == 0)
        rc = td_ctx_error(ctx, TD_EBADFRAME, "suntech: empty frame");
    else if (frame[0] == ST_STX)
        rc = decode_zip(ctx, frame, len);
    else if (frame[0] >= 0x81 && frame[0] <= 0x8f)
        rc = decode_universal_zip(ctx, frame, len);
    else if (isupper(frame[0]) || frame[0] == '-')
        rc = decode_text(ctx, frame, len);
    else
        rc = td_ctx_error(ctx, TD_EBADFRAME, "suntech: frame starts with 0x%02x", frame[0]);
    if (rc < 0) { /* a frame that fails yields nothing */
        ctx->nrec = 0;
        ctx->reply_len = 0;
    }
    return rc;
}

const td_protocol td_proto_suntech = {
    /* name: registry key and `decode --protocol` name */
    .name = "suntech",
    /* transports: the same reports over TCP and in UDP datagrams */
    .transports = TD_TCP | TD_UDP,
    /* max_frame: the longest report */
    .max_frame = ST_FRAME_MAX,
    /* detect: a model + type header, a universal type, or a zip header */
    .detect = detect,
    /* frame: text up to CR (external data by its length), zip by length */
    .frame = frame,
    /* decode: records, and the ACK */
    .decode = decode,
    /* devices: example models */
    .devices = "Suntech ST300, ST310U, ST340, ST350, ST600, ST910, SA200, ST4300, ST4340, ST4410 "
               "and other Suntech units (legacy and universal protocols)",
    /* commands: none yet */
    .commands = NULL,
    /* encode: none yet */
    .encode = NULL,
};
