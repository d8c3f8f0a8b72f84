/*
 * gotop: the comma-separated ASCII protocol of GOTOP trackers (TL201, TL206,
 * VT108, the TE-207 personal tracker and their OEM clones).
 *
 * Implements the uplink as described in docs/protocols/gotop.md: the
 * manufacturer's "TL201/VT108 GPS Tracker GPRS Protocol (Version 5.0)" for
 * the command words, and the layout shared by the open decoders listed
 * there for the position block. Frames are `IMEI,TYPE[,A|V,DATE:yymmdd,
 * TIME:hhmmss,LAT:dd.ddddN,LON|LOT:ddd.ddddE,Speed:kmh,status,...]`,
 * wrapped in `#` (CR/LF also end a frame). Labels are optional.
 *
 * Message types:
 *   CMD-T, CMD-F        periodic report / locate-once answer      -> position
 *   CMD-KEY             SOS key                                   -> position, sos
 *   ALM-A/B/C/D, ALM-*  SOS, geofence (odd digit enter, even exit),
 *                       overspeed, low battery; any other code is
 *                       kept as alarmCode                         -> position
 *   CMD-X               heartbeat                                 -> heartbeat
 *   CMD-<other>, ERROR! command acknowledgements / rejections     -> position
 *                       when a fix follows, else ack
 * A type word without a position block gives a status (alarms) or ack record.
 *
 * After the speed: the status `[flags-]battery-gsm`, then the classic course
 * and `MCCMNC-LAC-CID` (hex) cell, or the TE-207 tail: `dd.dd` HDOP,
 * WIFI:{mac&rssi,...}, BLE:{mac&rssi,...}, `~` LTE cell blocks (kept raw)
 * and a closing `>`. Every other field is kept raw as "field<index>".
 * The device expects no reply.
 *
 * Downlink commands (manufacturer document, byte layouts as location.io
 * writes them): `:` + 6-digit password + command letters + data + `#`.
 * Answers are `CMD-<letters>` (F, M, A1..A5, U1, N, L as the devices send
 * them) or ` ERROR!`, which does not say which command it refuses.
 */
#include "protocols/registry.h"

#include <stdio.h>
#include <string.h>

#include "core/text.h"
#include "protocols/encode.h"

#define GOTOP_MAX_FRAME 2048
#define GOTOP_MAX_FIELDS 48
#define GOTOP_MAX_ID 20

enum kind {
    K_REPORT,    /* CMD-T, CMD-F */
    K_KEY,       /* CMD-KEY */
    K_HEARTBEAT, /* CMD-X */
    K_ACK,       /* any other CMD-*, ERROR! */
    K_ALARM,     /* ALM-* */
};

static bool is_digit(int c)
{
    return c >= '0' && c <= '9';
}

static bool all_digits(td_span s)
{
    for (size_t i = 0; i < s.n; i++)
        if (!is_digit((unsigned char)s.p[i]))
            return false;
    return s.n > 0;
}

static bool all_hex(td_span s)
{
    for (size_t i = 0; i < s.n; i++) {
        int c = (unsigned char)s.p[i];
        if (!(is_digit(c) || (c >= 'A' && c <= 'F') || (c >= 'a' && c <= 'f')))
            return false;
    }
    return s.n > 0;
}

/* Input starts with '#'* digits{1,20} ",CMD-" or ",ALM-". The leading '#'
 * is the frame opener the devices send first. */
static int detect(const uint8_t *buf, size_t len)
{
    static const char *const words[] = {",CMD-", ",ALM-"};
    size_t i = 0, digits = 0;

    while (i < len && buf[i] == '#')
        i++;
    while (i < len && is_digit(buf[i])) {
        if (++digits > GOTOP_MAX_ID)
            return TD_DETECT_NO;
        i++;
    }
    if (i == len)
        return TD_DETECT_MAYBE;
    if (digits == 0)
        return TD_DETECT_NO;
    size_t rest = len - i;
    for (size_t w = 0; w < 2; w++) {
        size_t n = rest < 5 ? rest : 5;
        if (memcmp(buf + i, words[w], n) == 0)
            return rest < 5 ? TD_DETECT_MAYBE : TD_DETECT_YES;
    }
    return TD_DETECT_NO;
}

static bool is_noise(uint8_t c)
{
    return c == '#' || c == '\r' || c == '\n' || c == ' ' || c == '\t';
}

static bool is_end(uint8_t c)
{
    return c == '#' || c == '\r' || c == '\n';
}

static long frame(const uint8_t *buf, size_t len, size_t *skip)
{
    size_t s = 0;

    while (s < len && is_noise(buf[s]))
        s++;
    *skip = s;
    size_t room = len - s;
    size_t lim = room < GOTOP_MAX_FRAME ? room : GOTOP_MAX_FRAME;
    for (size_t i = 0; i < lim; i++)
        if (is_end(buf[s + i]))
            return (long)(i + 1);
    return room >= GOTOP_MAX_FRAME ? TD_ETOOBIG : 0;
}

/* Copies a field for an error message: printable, at most 40 bytes. */
static const char *shown(td_span f, char out[48])
{
    size_t n = f.n < 40 ? f.n : 40;

    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)f.p[i];
        out[i] = (c >= 0x20 && c < 0x7f && c != '\'') ? (char)c : '?';
    }
    strcpy(out + n, f.n > n ? "..." : "");
    return out;
}

/* Sets ctx->err to "gotop: bad <what> field '<field>'"; returns TD_EBADFRAME. */
static int bad_field(td_decode_ctx *ctx, const char *what, td_span f)
{
    char buf[48];
    return td_ctx_error(ctx, TD_EBADFRAME, "gotop: bad %s field '%s'", what, shown(f, buf));
}

/* Splits on commas outside {...}; the last span keeps the rest. */
static int split_fields(td_span s, td_span *out, int max)
{
    int n = 0, depth = 0;
    const char *start = s.p, *end = s.p + s.n;

    for (const char *c = s.p; c < end && n < max - 1; c++) {
        if (*c == '{')
            depth++;
        else if (*c == '}' && depth > 0)
            depth--;
        else if (*c == ',' && depth == 0) {
            out[n++] = td_trim((td_span){start, (size_t)(c - start)});
            start = c + 1;
        }
    }
    out[n++] = td_trim((td_span){start, (size_t)(end - start)});
    return n;
}

static td_span drop_label(td_span s, const char *label)
{
    size_t n = strlen(label);
    if (td_span_starts(s, label))
        return (td_span){s.p + n, s.n - n};
    return s;
}

static bool parse_yymmdd(td_span s, int *y, int *m, int *d)
{
    return s.n == 6 && td_parse_fixed(s.p, 2, y) && td_parse_fixed(s.p + 2, 2, m) &&
           td_parse_fixed(s.p + 4, 2, d) && *m >= 1 && *m <= 12 && *d >= 1 && *d <= 31;
}

static bool parse_hhmmss(td_span s, int *h, int *m, int *sec)
{
    return s.n == 6 && td_parse_fixed(s.p, 2, h) && td_parse_fixed(s.p + 2, 2, m) &&
           td_parse_fixed(s.p + 4, 2, sec) && *h <= 23 && *m <= 59 && *sec <= 59;
}

/* Decimal degrees followed by a hemisphere letter: `pos` gives +, `neg` -. */
static bool parse_deg_hem(td_span s, char pos, char neg, double limit, double *out)
{
    if (s.n < 2 || !is_digit((unsigned char)s.p[0]))
        return false;
    char hem = s.p[s.n - 1];
    if (hem != pos && hem != neg)
        return false;
    double v;
    if (!td_parse_double((td_span){s.p, s.n - 1}, &v) || v > limit)
        return false;
    *out = hem == neg ? -v : v;
    return true;
}

struct fix {
    bool valid;
    int64_t time_ms;
    double lat, lon, speed;
};

/* Parses fields 2..7 (validity, date, time, latitude, longitude, speed),
 * reporting the first one that is missing or malformed. */
static int parse_fix(td_decode_ctx *ctx, const td_span *f, int n, struct fix *fx)
{
    static const char *const what[] = {"validity", "date",      "time",
                                       "latitude", "longitude", "speed"};
    int y = 0, mo = 0, d = 0, h = 0, mi = 0, s = 0;

    for (int j = 0; j < 6; j++) {
        if (2 + j >= n)
            return td_ctx_error(ctx, TD_EBADFRAME, "gotop: missing %s field", what[j]);
        td_span v = f[2 + j];
        bool ok = false;
        switch (j) {
        case 0:
            ok = td_span_eq(v, "A") || td_span_eq(v, "V");
            fx->valid = ok && v.p[0] == 'A';
            break;
        case 1:
            ok = parse_yymmdd(drop_label(v, "DATE:"), &y, &mo, &d);
            break;
        case 2:
            ok = parse_hhmmss(drop_label(v, "TIME:"), &h, &mi, &s);
            break;
        case 3:
            ok = parse_deg_hem(drop_label(v, "LAT:"), 'N', 'S', 90.0, &fx->lat);
            break;
        case 4:
            ok =
                parse_deg_hem(drop_label(drop_label(v, "LON:"), "LOT:"), 'E', 'W', 180.0, &fx->lon);
            break;
        default:
            v = drop_label(v, "Speed:");
            ok = v.n > 0 && is_digit((unsigned char)v.p[0]) && td_parse_double(v, &fx->speed) &&
                 fx->speed < 2000.0;
            break;
        }
        if (!ok)
            return bad_field(ctx, what[j], f[2 + j]);
    }
    if (!td_utc_ms(2000 + y, mo, d, h, mi, s, &fx->time_ms))
        return bad_field(ctx, "date", f[3]);
    return 0;
}

/* Status `[flags-]battery-gsm`: battery % and GSM signal are the last two
 * numbers; leading flags (undocumented, 'X' = not applicable) stay raw. */
static void put_status(td_record *r, td_span s)
{
    td_span parts[8];
    int64_t batt, gsm;

    if (s.n == 0)
        return;
    int n = td_split(s, '-', parts, 8);
    if (n >= 2 && all_digits(parts[n - 2]) && all_digits(parts[n - 1]) &&
        td_parse_int(parts[n - 2], &batt) && td_parse_int(parts[n - 1], &gsm) && batt <= 100) {
        td_rec_set_int(r, TD_ATTR_BATTERY_LEVEL, batt);
        td_rec_set_int(r, TD_ATTR_RSSI, gsm);
        if (n > 2)
            td_rec_raw_str(r, "statusFlags", s.p, (size_t)(parts[n - 2].p - 1 - s.p));
        return;
    }
    td_rec_raw_str(r, "status", s.p, s.n);
}

/* `MMMNN-LLLL-CCCC` or `MMMNNN-...`: decimal MCC+MNC, hex LAC and cell id. */
static bool put_cell(td_record *r, td_span s)
{
    td_span p[4];
    int64_t lac, cid;
    int mcc, mnc;

    if (td_split(s, '-', p, 4) != 3 || (p[0].n != 5 && p[0].n != 6) || !all_digits(p[0]) ||
        !all_hex(p[1]) || !all_hex(p[2]) || p[1].n > 8 || p[2].n > 8)
        return false;
    td_parse_fixed(p[0].p, 3, &mcc);
    td_parse_fixed(p[0].p + 3, (int)p[0].n - 3, &mnc);
    td_parse_hex(p[1], &lac);
    td_parse_hex(p[2], &cid);
    td_rec_add_cell(r, mcc, mnc, lac, cid, false, 0);
    return true;
}

/* `LABEL:{mac&rssi,...}` into the Wi-Fi or BLE list. Returns false when the
 * field is not such a list; entries that do not parse keep the whole field
 * raw under `rawkey`. */
static bool put_scan(td_record *r, td_span s, const char *label, const char *rawkey,
                     int (*add)(td_record *, const char *, size_t, int))
{
    td_span e[TD_MAX_WIFI + 1];
    bool ok = true;

    if (!td_span_starts(s, label) || s.p[s.n - 1] != '}')
        return false;
    size_t ln = strlen(label);
    td_span body = {s.p + ln, s.n - ln - 1};
    if (body.n == 0)
        return true;
    int n = td_split(body, ',', e, TD_MAX_WIFI + 1);
    for (int i = 0; i < n; i++) {
        td_span kv[2];
        int64_t rssi;
        if (td_split(td_trim(e[i]), '&', kv, 2) != 2 || !td_parse_int(td_trim(kv[1]), &rssi) ||
            rssi < -200 || rssi > 200) {
            ok = false;
            continue;
        }
        kv[0] = td_trim(kv[0]);
        if (add(r, kv[0].p, kv[0].n, (int)rssi) != 0)
            ok = false;
    }
    if (!ok || n > TD_MAX_WIFI)
        td_rec_raw_str(r, rawkey, s.p, s.n);
    return true;
}

/* `dd.dd`, the shape the HDOP takes on TE-207 firmware (00.00 is kept raw). */
static bool is_hdop_shape(td_span s)
{
    return s.n == 5 && is_digit((unsigned char)s.p[0]) && is_digit((unsigned char)s.p[1]) &&
           s.p[2] == '.' && is_digit((unsigned char)s.p[3]) && is_digit((unsigned char)s.p[4]);
}

/* Fields after the status (index 9 on). */
static void put_tail(td_record *r, const td_span *f, int n)
{
    bool hdop = false;
    int blocks = 0;
    char key[24];
    double v;

    for (int i = 9; i < n; i++) {
        td_span s = f[i];
        if (s.n == 0 || td_span_eq(s, ">"))
            continue;
        if (i == 9 && all_digits(s) && s.n <= 3 && td_parse_double(s, &v) && v <= 360.0) {
            r->course = v;
        } else if (put_scan(r, s, "WIFI:{", "wifiRaw", td_rec_add_wifi) ||
                   put_scan(r, s, "BLE:{", "bleRaw", td_rec_add_ble) || put_cell(r, s)) {
            continue;
        } else if (memchr(s.p, '~', s.n)) {
            snprintf(key, sizeof(key), "cellBlock%d", ++blocks);
            td_rec_raw_str(r, key, s.p, s.n);
        } else if (!hdop && is_hdop_shape(s) && td_parse_double(s, &v) && v > 0.0) {
            td_rec_set_double(r, TD_ATTR_HDOP, v);
            hdop = true;
        } else {
            snprintf(key, sizeof(key), "field%d", i);
            td_rec_raw_str(r, key, s.p, s.n);
        }
    }
}

/* Alarm words: ALM-A sos, ALM-B<odd> enter / ALM-B<even> exit, ALM-C
 * overspeed, ALM-D low battery; CMD-KEY sos. */
static void put_alarm(td_record *r, td_span type, enum kind k)
{
    td_rec_raw_str(r, "alarmCode", type.p, type.n);
    if (k == K_KEY) {
        td_rec_alarm(r, TD_ALARM_SOS);
        return;
    }
    char c = type.p[4];
    if (c == 'A')
        td_rec_alarm(r, TD_ALARM_SOS);
    else if (c == 'B' && type.n > 5 && is_digit((unsigned char)type.p[5]))
        td_rec_alarm(r, (type.p[5] - '0') % 2 ? TD_ALARM_GEOFENCE_ENTER : TD_ALARM_GEOFENCE_EXIT);
    else if (c == 'C')
        td_rec_alarm(r, TD_ALARM_OVERSPEED);
    else if (c == 'D')
        td_rec_alarm(r, TD_ALARM_LOW_BATTERY);
}

static bool kind_of(td_span t, enum kind *k)
{
    if (td_span_eq(t, "ERROR!")) {
        *k = K_ACK;
        return true;
    }
    if (t.n < 5)
        return false;
    if (td_span_starts(t, "ALM-"))
        *k = K_ALARM;
    else if (td_span_eq(t, "CMD-T") || td_span_eq(t, "CMD-F"))
        *k = K_REPORT;
    else if (td_span_eq(t, "CMD-KEY"))
        *k = K_KEY;
    else if (td_span_eq(t, "CMD-X"))
        *k = K_HEARTBEAT;
    else if (td_span_starts(t, "CMD-"))
        *k = K_ACK;
    else
        return false;
    for (size_t i = 4; i < t.n; i++) {
        int c = (unsigned char)t.p[i];
        if (!(is_digit(c) || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '-'))
            return false;
    }
    return true;
}

/*
 * The command answer in `type` (a K_ACK word or CMD-F): ack key = the
 * letters after "CMD-", the key encode() returned; ` ERROR!` refuses the
 * oldest waiting command. `rest` (the fields of an answer without a fix)
 * becomes ack_result. CMD-T is never an answer: it is also the report.
 */
static void set_ack(td_decode_ctx *ctx, td_span type, td_span rest)
{
    if (td_span_eq(type, "ERROR!")) {
        snprintf(ctx->ack, sizeof(ctx->ack), "%s", TD_ACK_ANY);
        ctx->ack_failed = true;
    } else {
        td_span_cstr((td_span){type.p + 4, type.n - 4}, ctx->ack, sizeof(ctx->ack));
    }
    td_span_cstr(rest, ctx->ack_result, sizeof(ctx->ack_result));
}

static int decode(td_decode_ctx *ctx, const uint8_t *data, size_t len)
{
    td_span f[GOTOP_MAX_FIELDS];
    td_span s = {(const char *)data, len};
    enum kind k;
    struct fix fx;
    char buf[48];
    int rc;

    while (s.n > 0 && is_noise((uint8_t)s.p[0])) {
        s.p++;
        s.n--;
    }
    while (s.n > 0 && is_noise((uint8_t)s.p[s.n - 1]))
        s.n--;
    int n = split_fields(s, f, GOTOP_MAX_FIELDS);
    if (!all_digits(f[0]) || f[0].n > GOTOP_MAX_ID)
        return bad_field(ctx, "IMEI", f[0]);
    if (ctx->session && td_session_identify(ctx->session, f[0].p, f[0].n) < 0)
        return bad_field(ctx, "IMEI", f[0]);
    if (n < 2)
        return td_ctx_error(ctx, TD_EBADFRAME, "gotop: missing message type");
    if (!kind_of(f[1], &k))
        return td_ctx_error(ctx, TD_EUNSUPPORTED, "gotop: unknown message type '%s'",
                            shown(f[1], buf));

    bool has_fix = false;
    if (k != K_HEARTBEAT && n > 2) {
        bool strict = k == K_REPORT || k == K_KEY || k == K_ALARM;
        if (strict || td_span_eq(f[2], "A") || td_span_eq(f[2], "V")) {
            rc = parse_fix(ctx, f, n, &fx);
            if (rc < 0)
                return rc;
            has_fix = true;
        }
    }

    td_rec_type type = has_fix            ? TD_REC_POSITION
                       : k == K_HEARTBEAT ? TD_REC_HEARTBEAT
                       : k == K_ACK       ? TD_REC_ACK
                                          : TD_REC_STATUS;
    td_record *r = td_ctx_add(ctx, type);
    if (!r)
        return td_ctx_error(ctx, TD_ENOMEM, "gotop: no room for a record");
    td_rec_raw_str(r, "messageType", f[1].p, f[1].n);
    if (k == K_KEY || k == K_ALARM)
        put_alarm(r, f[1], k);
    td_span rest = n > 2 ? (td_span){f[2].p, (size_t)(s.p + s.n - f[2].p)} : (td_span){"", 0};
    if (k == K_ACK || td_span_eq(f[1], "CMD-F"))
        set_ack(ctx, f[1], has_fix ? (td_span){"", 0} : rest);
    if (!has_fix) {
        if (n > 2)
            td_rec_raw_str(r, "data", rest.p, rest.n);
        return 0;
    }
    r->has_time = true;
    r->time_ms = fx.time_ms;
    r->valid = fx.valid;
    r->latitude = fx.lat;
    r->longitude = fx.lon;
    r->speed = fx.speed;
    if (n > 8)
        put_status(r, f[8]);
    put_tail(r, f, n);
    return 0;
}

/* ---- downlink commands ---------------------------------------------------- */

#define GOTOP_PASSWORD_DEFAULT "123456"

/* Every command but custom takes the device password as its last parameter. */
#define GOTOP_PASSWORD                                                                             \
    {                                                                                              \
        "password", TD_PARAM_TEXT, true, 6, 6, 0, "Device password (6 digits, default 123456)"     \
    }

static const td_cmd_type gotop_commands[] = {
    {"positionSingle", "Locate now", {GOTOP_PASSWORD}},
    {"positionPeriodic",
     "Reporting interval",
     {{"frequency", TD_PARAM_INT, false, 1, 324000, 0,
       "Interval (s): up to 255 s, whole minutes up to 255 min or whole hours up to 90 h"},
      GOTOP_PASSWORD}},
    {"sosNumber",
     "SOS / authorised number",
     {{"index", TD_PARAM_INT, false, 1, 5, 1, "Slot (1-5)"},
      {"phone", TD_PARAM_PHONE, false, 3, 21, 0, "Phone number with country code"},
      GOTOP_PASSWORD}},
    {"voiceMonitoring", "Listen in", {GOTOP_PASSWORD}},
    {"alarmBattery",
     "Low-battery alarm",
     {{"enable", TD_PARAM_BOOL, false, 0, 1, 0, "Alarm on"},
      {"threshold", TD_PARAM_INT, true, 1, 99, 20, "Battery level (%)"},
      GOTOP_PASSWORD}},
    {"setTimezone",
     "Time zone",
     {{"timezone", TD_PARAM_INT, false, -720, 840, 0, "Offset from UTC (minutes, whole hours)"},
      GOTOP_PASSWORD}},
    {"custom",
     "Custom command",
     {{"data", TD_PARAM_TEXT, true, 1, 256, 0, "Command text, sent as typed (:123456F#)"},
      {"hex", TD_PARAM_HEX, true, 1, 256, 0, "Command bytes in hex, sent as given"}}},
    {NULL},
};

/* `M1,<nnn><S|M|H>`: seconds up to 255, else whole minutes up to 255, else
 * whole hours up to 90 (the device's limits, location.io's builder). */
static int enc_interval(td_enc *e, long sec)
{
    if (sec >= 1 && sec <= 255)
        td_enc_putf(e, "M1,%03ldS", sec);
    else if (sec > 0 && sec % 60 == 0 && sec / 60 <= 255)
        td_enc_putf(e, "M1,%03ldM", sec / 60);
    else if (sec > 0 && sec % 3600 == 0 && sec / 3600 <= 90)
        td_enc_putf(e, "M1,%03ldH", sec / 3600);
    else
        return td_enc_fail(e, TD_EINVAL,
                           "gotop: an interval of %ld s cannot be sent: use 1-255 s, whole minutes "
                           "up to 255 min or whole hours up to 90 h",
                           sec);
    return 0;
}

/*
 * encode: `:<password><letters>[data]#`, or the custom bytes as given. The
 * ack key is what the device puts after "CMD-" in its answer.
 */
static int encode(const td_session *s, const td_command *cmd, uint8_t *out, size_t cap, size_t *len,
                  char ack[TD_ACK_MAX], char *err, size_t errcap)
{
    td_enc e = {.proto = "gotop", .cmd = cmd, .out = out, .cap = cap, .err = err, .errcap = errcap};
    const char *type = cmd->def->type;
    const td_cmd_arg *a;
    int rc = 0;

    (void)s; /* the frame names no device */
    *len = 0;
    ack[0] = '\0';
    if (strcmp(type, "custom") == 0) {
        rc = td_enc_custom(&e, NULL);
        return rc < 0 ? rc : td_enc_done(&e, len, ack);
    }

    const char *pw = GOTOP_PASSWORD_DEFAULT;
    size_t pwlen = strlen(pw);
    if ((a = td_enc_arg(&e, "password")) && a->set) {
        bool digits = a->len == 6;
        for (size_t i = 0; digits && i < a->len; i++)
            digits = is_digit((unsigned char)a->str[i]);
        if (!digits)
            return td_enc_fail(&e, TD_EINVAL, "gotop: the password must be 6 digits");
        pw = a->str;
        pwlen = a->len;
    }
    td_enc_put(&e, ":", 1);
    td_enc_put(&e, pw, pwlen);

    if (strcmp(type, "positionSingle") == 0) {
        td_enc_put(&e, "F", 1);
        snprintf(ack, TD_ACK_MAX, "F");
    } else if (strcmp(type, "positionPeriodic") == 0) {
        if ((rc = enc_interval(&e, td_enc_arg(&e, "frequency")->num)) < 0)
            return rc;
        snprintf(ack, TD_ACK_MAX, "M");
    } else if (strcmp(type, "sosNumber") == 0) {
        long index = td_enc_arg(&e, "index")->num;
        a = td_enc_arg(&e, "phone");
        /* The document wants the number with its country code and '+'. */
        td_enc_putf(&e, "A%ld,%s", index, a->len && a->str[0] == '+' ? "" : "+");
        td_enc_put(&e, a->str, a->len);
        snprintf(ack, TD_ACK_MAX, "A%ld", index);
    } else if (strcmp(type, "voiceMonitoring") == 0) {
        td_enc_put(&e, "U1", 2);
        snprintf(ack, TD_ACK_MAX, "U1");
    } else if (strcmp(type, "alarmBattery") == 0) {
        td_enc_putf(&e, "N%d,%02ld", td_enc_arg(&e, "enable")->num ? 1 : 0,
                    td_enc_arg(&e, "threshold")->num);
        snprintf(ack, TD_ACK_MAX, "N");
    } else if (strcmp(type, "setTimezone") == 0) {
        long tz = td_enc_arg(&e, "timezone")->num;
        if (tz % 60 != 0)
            return td_enc_fail(&e, TD_EINVAL,
                               "gotop: the time zone must be whole hours (%ld min is not)", tz);
        td_enc_putf(&e, "L%c%02ld", tz < 0 ? '-' : '+', (tz < 0 ? -tz : tz) / 60);
        snprintf(ack, TD_ACK_MAX, "L");
    } else {
        return td_enc_fail(&e, TD_EUNSUPPORTED, "gotop: no command '%s'", type);
    }
    td_enc_put(&e, "#", 1);
    return td_enc_done(&e, len, ack);
}

const td_protocol td_proto_gotop = {
    /* Registry key, file and `decode --protocol` name. */
    .name = "gotop",
    .devices = "GOTOP TE-207 personal tracker, TL201, TL206, VT108 and other GOTOP trackers",
    /* Devices use TCP; UDP accepted for units that send the same text. */
    .transports = TD_TCP | TD_UDP,
    /* TE-207 frames with Wi-Fi and BLE lists exceed the classic 1024. */
    .max_frame = GOTOP_MAX_FRAME,
    /* '#'* digits ",CMD-" / ",ALM-". */
    .detect = detect,
    /* '#'-delimited text; CR/LF also end a frame. */
    .frame = frame,
    /* CMD-T/F/KEY/X, command acks, ALM-* alarms; no reply. */
    .decode = decode,
    /* Locate now, interval, SOS numbers, listen-in, battery alarm, time zone. */
    .commands = gotop_commands,
    /* `:123456F#`: password, command letters, data, '#'. */
    .encode = encode,
};
