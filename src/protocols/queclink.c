/*
 * queclink: the @Track air interface protocol of Queclink trackers (GL200,
 * GL300/GL300W, GL50x, GV200/GV300/GV500/GV600 and the other GL/GV/GB/GT
 * models), after Queclink's "@Track Air Interface Protocol" documents
 * (TRACGL200AN001, TRACGL300AN001, TRACGV300AN002, TRACGMT100AN001, ...)
 * summarised, with sources, in docs/protocols/queclink.md.
 *
 * Text frames: `+RESP:GTxxx,<fields>,<send time>,<count>$` (a live report),
 * `+BUFF:GTxxx,...$` (the same report sent from the unit's buffer) and
 * `+ACK:GTxxx,...$` (the unit acknowledging a command; +ACK:GTHBD is the
 * heartbeat). Fields are comma separated; the first is the protocol
 * version (device type + version), the second the unique id (IMEI), the
 * last two the send time (UTC yyyyMMddHHmmss) and a 4-hex-digit count
 * number. Old firmwares leave out the '$' (the frame then ends at a line
 * end or at the next report header).
 *
 * Message types: every report that carries position blocks ("GPS accuracy,
 * speed, azimuth, altitude, longitude, latitude, GPS UTC time, MCC, MNC,
 * LAC, cell id", one or more per frame): FRI/ERI fixed reports, GEO
 * geofence, SOS, SPD overspeed, IGN/IGF and VGN/VGF ignition, RTL, LBC,
 * PNL, NMR, DOG, HBM, MPN/MPF and EPN/EPF power, BPL low backup battery,
 * STT, TOW, JDR/JDS, CRA, IDN/IDF, STC/BTC charging, CAN/OBD and the
 * others, each as one position record per block; INF device information;
 * GSM/LBS cell scans; WIF Wi-Fi scans; VER versions; HBD heartbeat; other
 * +ACK command acknowledgements. Alarms map onto the contract's names.
 *
 * Binary ("HEX") frames: `+RSP`/`+BSP` position reports, `+EVT`/`+BVT`
 * event reports, `+INF`/`+BNF` information, `+HBD` heartbeat (header,
 * message type, report mask, length of the frame, the fields the mask
 * selects, send time, count number, checksum, CR LF), and the compact
 * `+\0\0` form; their GPS blocks become position records.
 *
 * Replies: the heartbeat is answered `+SACK:GTHBD,<protocol version>,<count
 * number>$`; every other report `+SACK:<count number>$`, the server
 * acknowledgement the unit waits for when AT+GTSRI/AT+GTQSS enable it (a
 * unit that did not enable it ignores it).
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "core/text.h"
#include "protocols/registry.h"

#define QL_TEXT_MAX 4096  /* a text frame longer than this has lost its end */
#define QL_FRAME_MAX 8192 /* a binary frame, at most */
#define QL_FIELDS_MAX 256
#define QL_VERSION_MAX 10 /* hex digits of the protocol version */
#define QL_ID_MAX 20      /* characters of a unique id */

/* ---- detection and framing ---- */

/* The text headers a device sends, up to and including "GT". */
static const char *const heads[] = {"+RESP:GT", "+BUFF:GT", "+ACK:GT"};

/*
 * Matches a text header at b: one of `heads`, three upper-case letters or
 * digits, a comma. Returns TD_DETECT_YES (and the header's length in *hlen
 * when not NULL), MAYBE when b ends inside a header that could still match,
 * NO otherwise.
 */
static int text_head(const uint8_t *b, size_t len, size_t *hlen)
{
    bool maybe = false;

    for (size_t h = 0; h < sizeof(heads) / sizeof(heads[0]); h++) {
        size_t hl = strlen(heads[h]), i;
        if (memcmp(b, heads[h], len < hl ? len : hl) != 0)
            continue;
        if (len <= hl) {
            maybe = true;
            continue;
        }
        for (i = hl; i < hl + 3; i++) {
            if (i >= len)
                return TD_DETECT_MAYBE;
            if (!isupper(b[i]) && !isdigit(b[i]))
                return TD_DETECT_NO;
        }
        if (i >= len)
            return TD_DETECT_MAYBE;
        if (b[i] != ',')
            return TD_DETECT_NO;
        if (hlen)
            *hlen = i + 1;
        return TD_DETECT_YES;
    }
    return maybe ? TD_DETECT_MAYBE : TD_DETECT_NO;
}

/*
 * The binary (HEX) reports: a 4-character header, then fields whose layout
 * the header fixes up to the length of the whole frame. len_at is where
 * that length is, len_size its bytes.
 */
typedef struct ql_bin_head {
    const char *head;
    size_t mask_at, mask_size; /* the report mask */
    uint32_t len_bit;          /* the mask bit that says the length is sent */
    size_t len_at, len_size;
} ql_bin_head;

static const ql_bin_head bin_heads[] = {
    {"+RSP", 5, 4, 1u << 7, 9, 2}, {"+BSP", 5, 4, 1u << 7, 9, 2}, /* position reports */
    {"+EVT", 5, 4, 1u << 7, 9, 2}, {"+BVT", 5, 4, 1u << 7, 9, 2}, /* event reports */
    {"+INF", 5, 2, 1u << 0, 7, 2}, {"+BNF", 5, 2, 1u << 0, 7, 2}, /* information reports */
    {"+HBD", 4, 1, 1u << 0, 5, 1},                                /* heartbeat */
};

#define QL_BIN_MIN 20 /* the shortest binary frame: header to UID and tail */

/* The compact form: '+', two zero bytes, a one-byte length, then the
 * IMEI as 9 BCD bytes. */
#define QL_COMPACT_HEAD 13

/*
 * Matches a binary frame start at b. Returns TD_DETECT_YES with the frame's
 * length in *flen (when not NULL), MAYBE when b ends before that is known,
 * NO otherwise.
 */
static int bin_head(const uint8_t *b, size_t len, size_t *flen)
{
    if (len == 0 || b[0] != '+')
        return len == 0 ? TD_DETECT_MAYBE : TD_DETECT_NO;
    if (len >= 2 && b[1] == 0) {
        for (size_t i = 2; i < QL_COMPACT_HEAD; i++) {
            if (i >= len)
                return TD_DETECT_MAYBE;
            if (i == 2 && b[i] != 0)
                return TD_DETECT_NO;
            if (i == 3 && b[i] < QL_COMPACT_HEAD + 8)
                return TD_DETECT_NO;
            if (i >= 4 && ((b[i] >> 4) > 9 || (b[i] & 0x0f) > 9))
                return TD_DETECT_NO;
        }
        if (flen)
            *flen = b[3];
        return TD_DETECT_YES;
    }
    bool maybe = false;
    for (size_t h = 0; h < sizeof(bin_heads) / sizeof(bin_heads[0]); h++) {
        const ql_bin_head *bh = &bin_heads[h];
        if (memcmp(b, bh->head, len < 4 ? len : 4) != 0)
            continue;
        size_t end = bh->len_at + bh->len_size;
        if (len < end) {
            maybe = true;
            continue;
        }
        size_t n = 0;
        uint32_t mask = 0;
        for (size_t i = bh->mask_at; i < bh->mask_at + bh->mask_size; i++)
            mask = mask << 8 | b[i];
        for (size_t i = bh->len_at; i < end; i++)
            n = n << 8 | b[i];
        /* Without the length the frame cannot be cut: not taken. */
        if (!(mask & bh->len_bit) || n < QL_BIN_MIN || n > QL_FRAME_MAX)
            return TD_DETECT_NO;
        if (flen)
            *flen = n;
        return TD_DETECT_YES;
    }
    return maybe ? TD_DETECT_MAYBE : TD_DETECT_NO;
}

static int detect(const uint8_t *buf, size_t len)
{
    size_t hl = 0;

    if (len == 0)
        return TD_DETECT_MAYBE;
    int b = bin_head(buf, len, NULL);
    if (b == TD_DETECT_YES)
        return b;
    int d = text_head(buf, len, &hl);
    if (d != TD_DETECT_YES)
        return d == TD_DETECT_MAYBE || b == TD_DETECT_MAYBE ? TD_DETECT_MAYBE : TD_DETECT_NO;
    /* The protocol version (or, on the oldest firmwares, the id) follows:
     * letters and digits up to the next comma. */
    size_t i;
    for (i = hl; i < len && isalnum(buf[i]); i++)
        if (i - hl > QL_ID_MAX)
            return TD_DETECT_NO;
    if (i < len && buf[i] != ',' && buf[i] != '$')
        return TD_DETECT_NO;
    return TD_DETECT_YES;
}

/* Could a frame start at b (n bytes available)? */
static bool frame_start(const uint8_t *b, size_t n)
{
    return n > 0 && b[0] == '+' &&
           (text_head(b, n, NULL) != TD_DETECT_NO || bin_head(b, n, NULL) != TD_DETECT_NO);
}

/*
 * Cuts the next frame. Binary frames by their length field; text frames
 * from a header to their '$' (included), or to a line end, NUL or the next
 * header (excluded) for firmwares that send no '$'. Noise before a header
 * is skipped.
 */
static long frame(const uint8_t *buf, size_t len, size_t *skip)
{
    size_t s = 0, flen = 0;

    while (s < len && !frame_start(buf + s, len - s))
        s++;
    *skip = s;
    buf += s;
    len -= s;
    if (len == 0)
        return 0;
    int b = bin_head(buf, len, &flen);
    if (b == TD_DETECT_YES)
        return len >= flen ? (long)flen : 0;
    if (b == TD_DETECT_MAYBE)
        return 0;
    /* The bytes that can end a text frame, for a scan that looks at each
     * byte once. */
    static const bool stop[256] = {
        ['$'] = true, ['\r'] = true, ['\n'] = true, ['\0'] = true, ['+'] = true};
    size_t lim = len < QL_TEXT_MAX ? len : QL_TEXT_MAX;
    for (size_t i = 1; i < lim; i++) {
        while (i < lim && !stop[buf[i]])
            i++;
        if (i == lim)
            break;
        uint8_t c = buf[i];
        if (c == '$')
            return (long)i + 1;
        if (c == '\r' || c == '\n' || c == '\0')
            return (long)i;
        /* A header that is whole (not a prefix at the end of what has
         * arrived) starts the next frame. */
        if (c == '+') {
            size_t hl;
            if (text_head(buf + i, len - i, &hl) == TD_DETECT_YES)
                return (long)i;
        }
    }
    return len >= QL_TEXT_MAX ? TD_ETOOBIG : 0;
}

/* ---- decoding helpers ---- */

static int bad(td_decode_ctx *ctx, const char *what, td_span s)
{
    char b[48];
    return td_ctx_error(ctx, TD_EBADFRAME, "queclink: bad %s '%s'", what,
                        td_span_show(s, b, sizeof(b)));
}

/* "yyyyMMddHHmmss", UTC. */
static bool parse_time14(td_span s, int64_t *out)
{
    int y, mo, d, h, mi, se;

    if (s.n != 14 || !td_span_digits(s))
        return false;
    td_parse_fixed(s.p, 4, &y);
    td_parse_fixed(s.p + 4, 2, &mo);
    td_parse_fixed(s.p + 6, 2, &d);
    td_parse_fixed(s.p + 8, 2, &h);
    td_parse_fixed(s.p + 10, 2, &mi);
    td_parse_fixed(s.p + 12, 2, &se);
    return td_utc_ms(y, mo, d, h, mi, se, out);
}

/* A coordinate as the reports write it: signed degrees with at least five
 * decimals (the documents give six), within +-limit. */
static bool parse_degrees(td_span s, double limit, double *out)
{
    const char *dot = memchr(s.p, '.', s.n);
    if (!dot || (size_t)(s.p + s.n - dot - 1) < 5 || !td_parse_double(s, out))
        return false;
    return *out >= -limit && *out <= limit;
}

/* A number that may be empty (then *out is left as it is). */
static bool opt_double(td_span s, double *out)
{
    return s.n == 0 || td_parse_double(s, out);
}

static int add(td_decode_ctx *ctx, td_rec_type type, td_record **out)
{
    *out = td_ctx_add(ctx, type);
    return *out ? 0 : td_ctx_error(ctx, TD_ENOMEM, "queclink: too many records");
}

/* One text frame, split. */
typedef struct ql_msg {
    td_span kind;    /* "RESP", "BUFF", "ACK" */
    td_span type;    /* "FRI", "HBD", ... */
    td_span version; /* protocol version, may be empty */
    td_span id;      /* unique id */
    td_span f[QL_FIELDS_MAX];
    int n;         /* fields in f; f[0] is the version (or the id when absent) */
    int first;     /* index of the first field after the id (the device name) */
    int send;      /* index of the send time, or -1 */
    td_span count; /* the count number, or empty */
    int64_t send_ms;
} ql_msg;

/* A position block found in the fields: the longitude is f[lon]. */
#define BLK_ACC(l) ((l)-4)
#define BLK_SPEED(l) ((l)-3)
#define BLK_AZIMUTH(l) ((l)-2)
#define BLK_ALT(l) ((l)-1)
#define BLK_LAT(l) ((l) + 1)
#define BLK_TIME(l) ((l) + 2)
#define BLK_MCC(l) ((l) + 3)
#define BLK_MNC(l) ((l) + 4)
#define BLK_LAC(l) ((l) + 5)
#define BLK_CID(l) ((l) + 6)

/* Is there a position block with its longitude at f[l]? A block is found
 * by its shape: longitude and latitude with decimals, then a 14-digit UTC
 * time (never the send time), after the four fields it starts with. */
static bool block_at(const ql_msg *m, int l)
{
    double lon, lat;
    int64_t t;

    if (l < m->first + 4 || BLK_TIME(l) >= m->n || BLK_TIME(l) == m->send)
        return false;
    return parse_degrees(m->f[l], 180, &lon) && parse_degrees(m->f[BLK_LAT(l)], 90, &lat) &&
           parse_time14(m->f[BLK_TIME(l)], &t);
}

/* Adds the serving cell of a block when its four fields hold one. */
static void block_cell(const ql_msg *m, int l, td_record *r)
{
    int64_t mcc, mnc, lac, cid;

    if (BLK_CID(l) >= m->n || (m->send >= 0 && BLK_CID(l) >= m->send))
        return;
    if (!td_span_digits(m->f[BLK_MCC(l)]) || !td_parse_int(m->f[BLK_MCC(l)], &mcc) ||
        !td_span_digits(m->f[BLK_MNC(l)]) || !td_parse_int(m->f[BLK_MNC(l)], &mnc) ||
        !td_parse_hex(m->f[BLK_LAC(l)], &lac) || !td_parse_hex(m->f[BLK_CID(l)], &cid))
        return;
    if (mcc == 0 && mnc == 0 && lac == 0 && cid == 0)
        return;
    td_rec_add_cell(r, (int)mcc, (int)mnc, lac, cid, false, 0);
}

/* Fills position record r from the block at l. */
static int block_record(td_decode_ctx *ctx, const ql_msg *m, int l, td_record *r)
{
    double acc = 0, speed = 0, course = 0, alt = 0;

    if (!opt_double(m->f[BLK_ACC(l)], &acc))
        return bad(ctx, "GPS accuracy", m->f[BLK_ACC(l)]);
    if (!opt_double(m->f[BLK_SPEED(l)], &speed) || speed < 0 || speed > 1999)
        return bad(ctx, "speed", m->f[BLK_SPEED(l)]);
    if (!opt_double(m->f[BLK_AZIMUTH(l)], &course) || course < 0 || course > 360)
        return bad(ctx, "azimuth", m->f[BLK_AZIMUTH(l)]);
    if (!opt_double(m->f[BLK_ALT(l)], &alt))
        return bad(ctx, "altitude", m->f[BLK_ALT(l)]);
    parse_degrees(m->f[l], 180, &r->longitude);
    parse_degrees(m->f[BLK_LAT(l)], 90, &r->latitude);
    parse_time14(m->f[BLK_TIME(l)], &r->time_ms);
    r->has_time = true;
    r->speed = speed;
    r->course = course == 360 ? 0 : course;
    r->altitude = alt;
    /* GPS accuracy is the HDOP of the fix; 0: no fix now, the last known
     * position is reported. */
    r->valid = acc > 0;
    if (acc > 0)
        td_rec_set_double(r, TD_ATTR_HDOP, acc);
    block_cell(m, l, r);
    return 0;
}

/* Sets the time of a record without a block: the send time, else none. */
static void send_time(td_decode_ctx *ctx, const ql_msg *m, td_record *r)
{
    if (m->send >= 0) {
        r->time_ms = m->send_ms;
        r->has_time = true;
    } else {
        r->time_ms = ctx->now_ms;
        r->has_time = false;
    }
}

/* ---- per-type meanings ---- */

/* Alarms and states a report type stands for. `report` is the report
 * id/type field before the block count (GEO: its last digit, 0 leaving, 1
 * entering the geofence). */
static void type_meaning(const ql_msg *m, td_span report, td_record *r)
{
    td_span t = m->type;

    if (td_span_eq(t, "SOS"))
        td_rec_alarm(r, TD_ALARM_SOS);
    else if (td_span_eq(t, "SPD"))
        td_rec_alarm(r, TD_ALARM_OVERSPEED);
    else if (td_span_eq(t, "GEO") || td_span_eq(t, "GCR") || td_span_eq(t, "GES")) {
        if (report.n && report.p[report.n - 1] == '1')
            td_rec_alarm(r, TD_ALARM_GEOFENCE_ENTER);
        else if (report.n && report.p[report.n - 1] == '0')
            td_rec_alarm(r, TD_ALARM_GEOFENCE_EXIT);
    } else if (td_span_eq(t, "MPF") || td_span_eq(t, "EPF"))
        td_rec_alarm(r, TD_ALARM_POWER_CUT);
    else if (td_span_eq(t, "BPL"))
        td_rec_alarm(r, TD_ALARM_LOW_BATTERY);
    else if (td_span_eq(t, "TOW") || td_span_eq(t, "TSW") || td_span_eq(t, "LSW"))
        td_rec_alarm(r, TD_ALARM_TAMPER);
    else if (td_span_eq(t, "FLA"))
        td_rec_alarm(r, TD_ALARM_FALL);
    else if (td_span_eq(t, "IGN") || td_span_eq(t, "VGN"))
        td_rec_set_bool(r, TD_ATTR_IGNITION, true);
    else if (td_span_eq(t, "IGF") || td_span_eq(t, "VGF"))
        td_rec_set_bool(r, TD_ATTR_IGNITION, false);
    else if (td_span_eq(t, "BTC"))
        td_rec_set_bool(r, TD_ATTR_CHARGING, true);
    else if (td_span_eq(t, "STC"))
        td_rec_set_bool(r, TD_ATTR_CHARGING, false);
    else if (td_span_eq(t, "NMR") || td_span_eq(t, "STT")) {
        /* NMR report type: 0 rest, 1 moving. */
        if (td_span_eq(t, "NMR") && report.n)
            td_rec_set_bool(r, TD_ATTR_MOTION, report.p[report.n - 1] == '1');
    }
}

/* A battery percentage: 0-100. */
static bool percent(td_span s, int64_t *out)
{
    if (s.n > 1 && s.p[0] == '0') /* "00" is the reserved field */
        return false;
    return td_span_digits(s) && s.n <= 3 && td_parse_int(s, out) && *out <= 100;
}

/*
 * The fields after the last block, before the send time. In FRI/ERI, the
 * vehicle units (external power in mV before the report type) carry
 * mileage (km), hour meter, two analog inputs, battery percentage and the
 * device status after the reserved field; the personal trackers end with
 * the battery percentage (GL50x: 4 after the cell, before mode and motion
 * fields). The other reports end with the mileage (a number with a
 * decimal point) on vehicle units and the battery percentage on personal
 * ones.
 */
static void tail_fields(const ql_msg *m, int l, bool vehicle, td_record *r)
{
    int cid = BLK_CID(l), end = m->send >= 0 ? m->send : m->n - 1;
    bool fri = td_span_eq(m->type, "FRI") || td_span_eq(m->type, "ERI");
    int64_t pct;
    double km;

    if (fri && vehicle) {
        if (cid + 2 < end && m->f[cid + 2].n && td_parse_double(m->f[cid + 2], &km) && km >= 0)
            td_rec_set_double(r, TD_ATTR_ODOMETER, km * 1000.0);
        if (cid + 3 < end && m->f[cid + 3].n)
            td_rec_raw_str(r, "hourMeter", m->f[cid + 3].p, m->f[cid + 3].n);
        if (cid + 6 < end && percent(m->f[cid + 6], &pct))
            td_rec_set_int(r, TD_ATTR_BATTERY_LEVEL, pct);
        if (cid + 7 < end && m->f[cid + 7].n && td_span_hex(m->f[cid + 7]))
            td_rec_raw_str(r, "deviceStatus", m->f[cid + 7].p, m->f[cid + 7].n);
        return;
    }
    if (end - 1 <= cid + 1)
        return; /* nothing after the reserved field */
    td_span last = m->f[end - 1];
    if (fri && end - cid - 1 == 7) {
        if (percent(m->f[cid + 4], &pct))
            td_rec_set_int(r, TD_ATTR_BATTERY_LEVEL, pct);
    } else if (!fri && memchr(last.p, '.', last.n)) {
        if (td_parse_double(last, &km) && km >= 0)
            td_rec_set_double(r, TD_ATTR_ODOMETER, km * 1000.0);
    } else if (!vehicle && percent(last, &pct)) {
        td_rec_set_int(r, TD_ATTR_BATTERY_LEVEL, pct);
    }
}

/* Common raw attributes of every record of a frame. */
static void common(const ql_msg *m, td_record *r)
{
    char type[8] = "GT";
    size_t n = m->type.n < sizeof(type) - 3 ? m->type.n : sizeof(type) - 3;
    memcpy(type + 2, m->type.p, n);
    td_rec_raw_str(r, "type", type, n + 2);
    if (td_span_eq(m->kind, "BUFF"))
        td_rec_raw_bool(r, "buffered", true);
    if (m->version.n)
        td_rec_raw_str(r, "version", m->version.p, m->version.n);
}

/* Reports with position blocks: one position record per block. */
static int decode_blocks(td_decode_ctx *ctx, const ql_msg *m, int l0)
{
    td_record *r = NULL;
    int rc, last = l0;
    /* The report id/type and the external power precede the block count
     * and the first block. */
    td_span report = BLK_ACC(l0) - 2 >= m->first ? m->f[BLK_ACC(l0) - 2] : (td_span){"", 0};
    td_span ext = BLK_ACC(l0) - 3 > m->first ? m->f[BLK_ACC(l0) - 3] : (td_span){"", 0};
    bool vehicle = BLK_ACC(l0) - 3 > m->first && (ext.n == 0 || ext.n >= 3) && td_span_digits(ext);
    if (BLK_ACC(l0) - 3 > m->first && ext.n == 0)
        vehicle = true;

    for (int l = l0; l < m->n; l++) {
        if (l != l0 && !block_at(m, l))
            continue;
        if (ctx->nrec >= TD_MAX_RECORDS)
            break;
        if ((rc = add(ctx, TD_REC_POSITION, &r)) != 0)
            return rc;
        if ((rc = block_record(ctx, m, l, r)) != 0)
            return rc;
        common(m, r);
        type_meaning(m, report, r);
        last = l;
        l = BLK_TIME(l);
    }
    if (vehicle && ext.n) {
        int64_t mv;
        if (td_parse_int(ext, &mv))
            for (int i = 0; i < ctx->nrec; i++)
                td_rec_raw_double(&ctx->rec[i], "power", (double)mv / 1000.0);
    }
    for (int i = 0; i < ctx->nrec; i++)
        tail_fields(m, last, vehicle, &ctx->rec[i]);
    return 0;
}

/* GSM/LBS: groups of mcc, mnc, lac, cid, rxlev, reserved. */
static void cell_groups(const ql_msg *m, td_record *r)
{
    int end = m->send >= 0 ? m->send : m->n;
    for (int i = m->first; i + 4 < end; i++) {
        int64_t mcc, mnc, lac, cid, lev;
        if (m->f[i].n != 4 || !td_span_digits(m->f[i]) || !td_span_digits(m->f[i + 1]) ||
            !td_parse_int(m->f[i], &mcc) || mcc == 0 || !td_parse_int(m->f[i + 1], &mnc) ||
            !td_parse_hex(m->f[i + 2], &lac) || !td_parse_hex(m->f[i + 3], &cid))
            continue;
        bool lv = td_parse_int(m->f[i + 4], &lev);
        td_rec_add_cell(r, (int)mcc, (int)mnc, lac, cid, lv, lv ? (int)lev : 0);
        i += 4;
    }
}

/* WIF: number, then groups of MAC, rssi and reserved fields. */
static void wifi_groups(const ql_msg *m, td_record *r)
{
    int end = m->send >= 0 ? m->send : m->n;
    for (int i = m->first; i + 1 < end; i++) {
        int64_t rssi;
        if (m->f[i].n == 12 && td_span_hex(m->f[i]) && td_parse_int(m->f[i + 1], &rssi))
            td_rec_add_wifi(r, m->f[i].p, m->f[i].n, (int)rssi);
    }
}

/* INF: state, ICCID, CSQ rssi, CSQ ber, external power connected, ... */
static void info_fields(const ql_msg *m, td_record *r)
{
    int b = m->first; /* the device name */
    int64_t v;
    double d;

    if (b + 2 < m->n && m->f[b + 2].n >= 18 && td_span_hex(m->f[b + 2]))
        td_rec_raw_str(r, "iccid", m->f[b + 2].p, m->f[b + 2].n);
    if (b + 3 < m->n && td_parse_int(m->f[b + 3], &v) && v <= 99)
        td_rec_set_int(r, TD_ATTR_RSSI, v);
    if (b + 5 < m->n && (td_span_eq(m->f[b + 5], "0") || td_span_eq(m->f[b + 5], "1")))
        td_rec_raw_bool(r, "externalPower", m->f[b + 5].p[0] == '1');
    /* The backup battery voltage ("4.19") and the charging flag after it. */
    for (int i = b + 6; i < b + 10 && i + 1 < m->n; i++) {
        const char *dot = memchr(m->f[i].p, '.', m->f[i].n);
        if (dot && (size_t)(m->f[i].p + m->f[i].n - dot) == 3 &&
            isdigit((unsigned char)m->f[i].p[0]) && td_parse_double(m->f[i], &d) && d < 10) {
            td_rec_set_double(r, TD_ATTR_BATTERY, d);
            if (td_span_eq(m->f[i + 1], "0") || td_span_eq(m->f[i + 1], "1"))
                td_rec_set_bool(r, TD_ATTR_CHARGING, m->f[i + 1].p[0] == '1');
            break;
        }
    }
    /* The battery percentage follows the last fix time. */
    for (int i = b + 8; i + 1 < m->n && i != m->send; i++) {
        int64_t t;
        if (parse_time14(m->f[i], &t)) {
            if (percent(m->f[i + 1], &v))
                td_rec_set_int(r, TD_ATTR_BATTERY_LEVEL, v);
            break;
        }
    }
}

/* Reports without a block. */
static int decode_plain(td_decode_ctx *ctx, const ql_msg *m)
{
    td_record *r;
    td_rec_type type = TD_REC_STATUS;
    int rc;

    if (td_span_eq(m->type, "HBD"))
        type = TD_REC_HEARTBEAT;
    else if (td_span_eq(m->kind, "ACK"))
        type = TD_REC_ACK;
    else if (td_span_eq(m->type, "VER"))
        type = TD_REC_OTHER;
    if ((rc = add(ctx, type, &r)) != 0)
        return rc;
    send_time(ctx, m, r);
    common(m, r);
    if (td_span_eq(m->type, "INF"))
        info_fields(m, r);
    else if (td_span_eq(m->type, "GSM") || td_span_eq(m->type, "LBS"))
        cell_groups(m, r);
    else if (td_span_eq(m->type, "WIF"))
        wifi_groups(m, r);
    else if (td_span_eq(m->kind, "ACK") && m->first + 1 < m->n && type == TD_REC_ACK)
        td_rec_raw_str(r, "serial", m->f[m->first + 1].p, m->f[m->first + 1].n);
    if (td_span_eq(m->type, "VER") && m->first + 3 < m->n) {
        td_rec_raw_str(r, "firmware", m->f[m->first + 2].p, m->f[m->first + 2].n);
        td_rec_raw_str(r, "hardware", m->f[m->first + 3].p, m->f[m->first + 3].n);
    }
    if (type == TD_REC_STATUS || type == TD_REC_ACK)
        type_meaning(m, (td_span){"", 0}, r);
    return 0;
}

/* Is s a unique id: an IMEI, or the 14-hex-digit MEID some units send? */
static bool is_unique_id(td_span s)
{
    return s.n >= 14 && s.n <= 16 && td_span_hex(s);
}

/* Splits a text frame; checks the header, the id and the tail. */
/* How many leading bytes of s, in whole 8-byte words, are surely printable
 * ASCII (0x20-0x7e): eight bytes are tested at once (the "hasless" and
 * "hasmore" bit tricks); the byte loop goes on from there. */
static size_t printable_prefix(td_span s)
{
    const uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
    size_t i = 0;
    for (; i + 8 <= s.n; i += 8) {
        uint64_t x;
        memcpy(&x, s.p + i, 8);
        uint64_t below = (x - ones * 0x20) & ~x & highs;          /* a byte < 0x20 */
        uint64_t above = ((x + ones * (127 - 0x7e)) | x) & highs; /* a byte > 0x7e */
        if (below | above)
            break;
    }
    return i;
}

static int split_text(td_decode_ctx *ctx, const uint8_t *frame, size_t len, ql_msg *m)
{
    size_t hl = 0;

    /* Fields past m->n are never read: the 4 KiB of them are not cleared. */
    memset(m, 0, offsetof(ql_msg, f));
    m->n = m->first = m->send = 0;
    m->count = (td_span){NULL, 0};
    m->send_ms = 0;
    if (text_head(frame, len, &hl) != TD_DETECT_YES)
        return td_ctx_error(ctx, TD_EBADFRAME,
                            "queclink: frame does not start with +RESP:GT, +BUFF:GT or +ACK:GT");
    const char *colon = memchr(frame, ':', len);
    m->kind = (td_span){(const char *)frame + 1, (size_t)(colon - (const char *)frame - 1)};
    m->type = (td_span){(const char *)frame + hl - 4, 3};
    td_span body = {(const char *)frame + hl, len - hl};
    while (body.n &&
           (body.p[body.n - 1] == '\r' || body.p[body.n - 1] == '\n' || body.p[body.n - 1] == '\0'))
        body.n--;
    if (body.n && body.p[body.n - 1] == '$')
        body.n--;
    for (size_t i = printable_prefix(body); i < body.n; i++)
        if ((unsigned char)body.p[i] < 0x20 || (unsigned char)body.p[i] > 0x7e)
            return td_ctx_error(ctx, TD_EBADFRAME, "queclink: byte 0x%02x at %zu in a text frame",
                                (unsigned char)body.p[i], hl + i);
    m->n = td_split(body, ',', m->f, QL_FIELDS_MAX);
    if (m->n >= QL_FIELDS_MAX && memchr(m->f[m->n - 1].p, ',', m->f[m->n - 1].n))
        return td_ctx_error(ctx, TD_EBADFRAME, "queclink: more than %d fields", QL_FIELDS_MAX);
    if (m->n < 2)
        return td_ctx_error(ctx, TD_EBADFRAME, "queclink: GT%.*s with %d fields, no unique id",
                            (int)m->type.n, m->type.p, m->n);
    /* The protocol version, then the unique id; the oldest firmwares start
     * with the id. */
    if (is_unique_id(m->f[0]) && !is_unique_id(m->f[1])) {
        m->id = m->f[0];
        m->first = 1;
    } else {
        m->version = m->f[0];
        m->id = m->f[1];
        m->first = 2;
        if (m->version.n && (m->version.n > QL_VERSION_MAX || !td_span_hex(m->version)))
            return bad(ctx, "protocol version", m->version);
    }
    if (m->id.n == 0 || m->id.n > QL_ID_MAX)
        return bad(ctx, "unique id", m->id);
    for (size_t i = 0; i < m->id.n; i++)
        if (!isalnum((unsigned char)m->id.p[i]))
            return bad(ctx, "unique id", m->id);
    /* Send time and count number close the frame. */
    m->send = -1;
    if (m->n >= m->first + 2 && td_span_hex(m->f[m->n - 1]) && m->f[m->n - 1].n == 4) {
        m->count = m->f[m->n - 1];
        if (parse_time14(m->f[m->n - 2], &m->send_ms))
            m->send = m->n - 2;
    } else if (m->n >= m->first + 1 && parse_time14(m->f[m->n - 1], &m->send_ms)) {
        m->send = m->n - 1; /* a send time cut short of its count number */
    } else if (m->n >= m->first + 1 && m->f[m->n - 1].n == 12 && td_span_digits(m->f[m->n - 1])) {
        /* "yyyyMMddHHmm": a send time without seconds */
        td_span t = m->f[m->n - 1];
        int y, mo, d, h, mi;
        td_parse_fixed(t.p, 4, &y);
        td_parse_fixed(t.p + 4, 2, &mo);
        td_parse_fixed(t.p + 6, 2, &d);
        td_parse_fixed(t.p + 8, 2, &h);
        td_parse_fixed(t.p + 10, 2, &mi);
        if (td_utc_ms(y, mo, d, h, mi, 0, &m->send_ms))
            m->send = m->n - 1;
    }
    return 0;
}

static int decode_text(td_decode_ctx *ctx, const uint8_t *frame, size_t len)
{
    ql_msg msg, *m = &msg; /* split_text() fills it */
    int rc;

    if ((rc = split_text(ctx, frame, len, m)) != 0)
        return rc;
    if ((rc = td_session_identify(ctx->session, m->id.p, m->id.n)) != 0)
        return bad(ctx, "unique id", m->id);
    int l0 = -1;
    for (int l = m->first + 4; l < m->n && l0 < 0; l++)
        if (block_at(m, l))
            l0 = l;
    if (l0 >= 0)
        rc = decode_blocks(ctx, m, l0);
    else
        rc = decode_plain(ctx, m);
    if (rc)
        return rc;

    /* The answers. */
    if (m->count.n) {
        if (td_span_eq(m->type, "HBD") && td_span_eq(m->kind, "ACK"))
            rc = td_ctx_replyf(ctx, "+SACK:GTHBD,%.*s,%.*s$", (int)m->version.n, m->version.p,
                               (int)m->count.n, m->count.p);
        else
            rc = td_ctx_replyf(ctx, "+SACK:%.*s$", (int)m->count.n, m->count.p);
    }
    return rc;
}

/* ---- binary (HEX) reports ---- */

static uint32_t be32(const uint8_t *b)
{
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

static unsigned be16(const uint8_t *b)
{
    return (unsigned)b[0] << 8 | b[1];
}

/* A 7-byte time: year (2 bytes), month, day, hour, minute, second. */
static bool bin_time7(const uint8_t *b, int64_t *out)
{
    unsigned y = be16(b);
    return y >= 2000 && y < 2100 && td_utc_ms((int)y, b[2], b[3], b[4], b[5], b[6], out);
}

/* A 4-byte time in seconds since the epoch, 2000 to 2099. */
static bool bin_time4(const uint8_t *b, int64_t *out)
{
    uint32_t t = be32(b);
    if (t < 946684800u || t >= 4102444800u)
        return false;
    *out = (int64_t)t * 1000;
    return true;
}

/* BCD digits of a byte pair ("0460" -> 460); -1 when not BCD. */
static int bcd16(const uint8_t *b)
{
    int v = 0;
    for (int i = 0; i < 2; i++) {
        if ((b[i] >> 4) > 9 || (b[i] & 0x0f) > 9)
            return -1;
        v = v * 100 + (b[i] >> 4) * 10 + (b[i] & 0x0f);
    }
    return v;
}

/* One binary frame, split at its fixed parts. */
typedef struct ql_bin {
    char head[5];
    int type;      /* the message type byte; -1 when the header has none */
    uint32_t mask; /* the report mask */
    size_t body;   /* where the fields after the unique id start */
    char id[TD_DEVICE_ID_MAX];
    char version[16]; /* device type and protocol version, hex */
    bool has_count;
    unsigned count;
    bool has_send;
    int64_t send_ms;
} ql_bin;

/*
 * The unique id at b: the IMEI, two digits a byte written as an integer
 * (the last byte holds the fifteenth digit alone), or the device name, 8
 * bytes padded with zeros. Returns false when neither fits.
 */
static bool bin_uid(const uint8_t *b, bool name, char out[TD_DEVICE_ID_MAX])
{
    size_t n = 0;

    if (name) {
        for (; n < 8 && b[n]; n++) {
            if (!isalnum(b[n]) && b[n] != '-' && b[n] != '_')
                return false;
            out[n] = (char)b[n];
        }
        out[n] = '\0';
        return n > 0;
    }
    for (int i = 0; i < 8; i++) {
        if (b[i] > 99 || (i == 7 && b[i] > 9))
            return false;
        n += (size_t)snprintf(out + n, TD_DEVICE_ID_MAX - n, i < 7 ? "%02u" : "%u", b[i]);
    }
    return true;
}

/*
 * Looks for the documented GPS block (..., longitude, latitude, GPS UTC
 * time) from `at`: longitude and latitude as signed 32-bit millionths of a
 * degree (neither exactly 0), then the time as 7 bytes (year, month, day,
 * hour, minute, second) or, with tlen 4, 4 bytes of seconds since the
 * epoch (the trajectory and compact reports; 2000 to 2039). Returns the
 * longitude's offset, or 0 when there is none.
 */
static size_t bin_block(const uint8_t *f, size_t at, size_t end, size_t tlen, int64_t *t)
{
    for (size_t i = at; i + 8 + tlen <= end; i++) {
        int32_t lon = (int32_t)be32(f + i), lat = (int32_t)be32(f + i + 4);
        if (lon < -180000000 || lon > 180000000 || lat < -90000000 || lat > 90000000 || lon == 0 ||
            lat == 0)
            continue;
        if (tlen == 7 ? bin_time7(f + i + 8, t)
                      : bin_time4(f + i + 8, t) && *t < 2208988800000LL /* 2040 */)
            return i;
    }
    return 0;
}

/* Fills position r from the block whose longitude is at f + i: accuracy,
 * speed (2 bytes km/h, 1 byte tenths), azimuth and altitude before it as
 * the mask bits 0-2 say; the serving cell after a 7-byte time (bit 3). */
static void bin_position(const ql_bin *m, const uint8_t *f, size_t i, size_t tlen, size_t start,
                         td_record *r)
{
    size_t p = i;

    r->longitude = (int32_t)be32(f + i) / 1e6;
    r->latitude = (int32_t)be32(f + i + 4) / 1e6;
    r->valid = true;
    if (tlen == 7 && m->type >= 0 && (m->mask & 7) == 7 && p >= start + 8) {
        r->altitude = (int16_t)be16(f + p - 2);
        r->course = be16(f + p - 4) % 360;
        r->speed = be16(f + p - 7) + f[p - 5] / 10.0;
        int acc = f[p - 8];
        r->valid = acc > 0;
        if (acc > 0)
            td_rec_set_double(r, TD_ATTR_HDOP, acc);
        if (r->speed > 1999)
            r->speed = 0;
    }
    if (tlen == 7 && (m->mask & 8)) {
        const uint8_t *c = f + i + 15;
        int mcc = bcd16(c), mnc = bcd16(c + 2);
        if (mcc > 0 && mnc >= 0)
            td_rec_add_cell(r, mcc, mnc, be16(c + 4), be16(c + 6), false, 0);
    }
}

/* Splits the fixed parts of a binary frame. */
static int split_binary(td_decode_ctx *ctx, const uint8_t *f, size_t len, ql_bin *m)
{
    size_t flen = 0, p;

    memset(m, 0, sizeof(*m));
    m->type = -1;
    if (bin_head(f, len, &flen) != TD_DETECT_YES)
        return td_ctx_error(ctx, TD_EBADFRAME, "queclink: binary frame of %zu bytes cut short",
                            len);
    if (flen != len)
        return td_ctx_error(ctx, TD_EBADFRAME,
                            "queclink: binary frame of %zu bytes, its length says %zu", len, flen);
    if (f[1] == 0) { /* the compact form: BCD IMEI, no tail */
        char digits[19];
        size_t k = 0, n = 0;
        for (int i = 4; i < QL_COMPACT_HEAD; i++) {
            digits[k++] = (char)('0' + (f[i] >> 4));
            digits[k++] = (char)('0' + (f[i] & 0x0f));
        }
        while (n < k - 1 && digits[n] == '0')
            n++;
        memcpy(m->id, digits + n, k - n);
        m->id[k - n] = '\0';
        memcpy(m->head, "+", 2); /* named "compact" in the records */
        m->body = QL_COMPACT_HEAD;
        return 0;
    }
    memcpy(m->head, f, 4);
    if (len < QL_BIN_MIN || f[len - 2] != '\r' || f[len - 1] != '\n')
        return td_ctx_error(ctx, TD_EBADFRAME, "queclink: %s frame does not end with CR LF",
                            m->head);
    /* What precedes the unique id, by header. */
    bool name;
    unsigned dev = 0, proto = 0;
    if (memcmp(f, "+HBD", 4) == 0) {
        m->mask = f[4];
        p = 6;
        if (m->mask & 0x02)
            dev = f[p++];
        if (m->mask & 0x04) {
            proto = be16(f + p);
            p += 2;
        }
        if (m->mask & 0x08)
            p += 2; /* firmware version */
        name = (m->mask & 0x10) != 0;
        m->has_count = (m->mask & 0x40) != 0;
        m->has_send = (m->mask & 0x20) != 0;
        if ((m->mask & 0x04) && (m->mask & 0x02))
            snprintf(m->version, sizeof(m->version), "%02X%04X", dev, proto);
    } else if (memcmp(f + 2, "NF", 2) == 0) {
        m->type = f[4];
        m->mask = be16(f + 5);
        p = 9;
        name = false;
        m->has_count = (m->mask & 0x40) != 0;
        m->has_send = (m->mask & 0x20) != 0;
    } else {
        m->type = f[4];
        m->mask = be32(f + 5);
        p = 11;
        if (m->mask & (1u << 8))
            dev = f[p++];
        if (m->mask & (1u << 9)) {
            proto = be16(f + p);
            p += 2;
        }
        if (m->mask & (1u << 10))
            p += 2; /* firmware version */
        name = (m->mask & (1u << 6)) != 0;
        m->has_count = (m->mask & (1u << 5)) != 0;
        m->has_send = (m->mask & (1u << 4)) != 0;
        if ((m->mask & (1u << 8)) && (m->mask & (1u << 9)))
            snprintf(m->version, sizeof(m->version), "%02X%04X", dev, proto);
    }
    if (p + 8 + 6 > len || !bin_uid(f + p, name, m->id))
        return td_ctx_error(ctx, TD_EBADFRAME, "queclink: bad unique id in a %s frame", m->head);
    m->body = p + 8;
    /* Send time, count number and checksum close the frame. */
    if (m->has_count)
        m->count = be16(f + len - 6);
    if (m->has_send && len >= m->body + 13 && !bin_time7(f + len - 13, &m->send_ms))
        m->has_send = false;
    return 0;
}

static int decode_binary(td_decode_ctx *ctx, const uint8_t *f, size_t len)
{
    ql_bin *m = &(ql_bin){0};
    td_record *r;
    int rc;

    if ((rc = split_binary(ctx, f, len, m)) != 0)
        return rc;
    if ((rc = td_session_identify(ctx->session, m->id, strlen(m->id))) != 0)
        return td_ctx_error(ctx, TD_EBADFRAME, "queclink: bad unique id '%s'", m->id);
    bool compact = m->head[1] == '\0';
    size_t end = compact ? len : len - 6 - (m->has_send ? 7 : 0);
    size_t at = m->body, tlen = 0, i;
    int64_t t = 0;
    bool hbd = strcmp(m->head, "+HBD") == 0;

    /* Blocks with a calendar time; else one with a time in seconds. */
    tlen = 7;
    if (!hbd && !bin_block(f, at, end, 7, &t))
        tlen = 4;
    while (!hbd && at < end && (i = bin_block(f, at, end, tlen, &t)) != 0) {
        if (ctx->nrec >= TD_MAX_RECORDS)
            break;
        if ((rc = add(ctx, TD_REC_POSITION, &r)) != 0)
            return rc;
        r->time_ms = t;
        r->has_time = true;
        bin_position(m, f, i, tlen, m->body, r);
        at = i + 8 + tlen;
        if (tlen == 4)
            break; /* a trajectory: the points after the first are compressed */
    }
    if (ctx->nrec == 0) {
        if ((rc = add(ctx, hbd ? TD_REC_HEARTBEAT : TD_REC_STATUS, &r)) != 0)
            return rc;
        r->has_time = m->has_send;
        r->time_ms = m->has_send ? m->send_ms : ctx->now_ms;
    }
    for (int k = 0; k < ctx->nrec; k++) {
        r = &ctx->rec[k];
        const char *type = m->head[1] ? m->head : "compact";
        td_rec_raw_str(r, "type", type, strlen(type));
        if (m->type >= 0)
            td_rec_raw_int(r, "messageType", m->type);
        if (m->version[0])
            td_rec_raw_str(r, "version", m->version, strlen(m->version));
        if (m->head[1] == 'B')
            td_rec_raw_bool(r, "buffered", true);
    }
    if (!m->has_count)
        return 0;
    if (hbd)
        return td_ctx_replyf(ctx, "+SACK:GTHBD,%s,%04X$", m->version, m->count);
    return td_ctx_replyf(ctx, "+SACK:%04X$", m->count);
}

static int decode(td_decode_ctx *ctx, const uint8_t *frame, size_t len)
{
    int rc;

    if (len == 0)
        rc = td_ctx_error(ctx, TD_EBADFRAME, "queclink: empty frame");
    else if (frame[0] == '+' && bin_head(frame, len, NULL) != TD_DETECT_NO &&
             text_head(frame, len, NULL) == TD_DETECT_NO)
        rc = decode_binary(ctx, frame, len);
    else if (frame[0] == '+')
        rc = decode_text(ctx, frame, len);
    else
        rc = td_ctx_error(ctx, TD_EBADFRAME, "queclink: frame starts with 0x%02x, not '+'",
                          frame[0]);
    if (rc < 0) { /* a frame that fails yields nothing */
        ctx->nrec = 0;
        ctx->reply_len = 0;
    }
    return rc;
}

const td_protocol td_proto_queclink = {
    /* name: registry key and `decode --protocol` name */
    .name = "queclink",
    /* transports: the same frames over TCP and in UDP datagrams */
    .transports = TD_TCP | TD_UDP,
    /* max_frame: the longest binary frame */
    .max_frame = QL_FRAME_MAX,
    /* detect: +RESP:GT / +BUFF:GT / +ACK:GT, a type, the version field */
    .detect = detect,
    /* frame: up to '$', or a line end / the next header without one */
    .frame = frame,
    /* decode: records, and the +SACK answers */
    .decode = decode,
    /* devices: example models */
    .devices = "Queclink GL200, GL300, GL300W, GL320M, GL50x, GV200, GV300, GV350M, GV500, GV600, "
               "GV55, GV65, GB100, GT501 and other @Track units",
    /* commands: none yet */
    .commands = NULL,
    /* encode: none yet */
    .encode = NULL,
};
