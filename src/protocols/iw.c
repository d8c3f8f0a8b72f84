/*
 * iw: the IWAP text protocol of 4G health bracelets and watches (GOTOP L17
 * SOS bracelet, PT880/L009 and other Thinkrace-platform watches), after the
 * manufacturer's "Protocol for GPS Watch V1.1" (revisions 2016-2023) and the
 * open implementations summarised in docs/protocols/iw.md, plus the TRV
 * variant of the same family (GF-22 and other TRV trackers).
 *
 * A frame is `<IW|TRV><dir><type><payload>#`; the device sends dir AP (TRV
 * also YP, CP, XP, WP) and the server answers with the next letter (BP, ZP,
 * DP, ...). Voice and picture chunks carry raw bytes after a length field
 * and are cut by that field, not by '#'.
 *
 * Message types: AP00 login; AP01 GPS/LBS/Wi-Fi position; AP02 multi-cell
 * and Wi-Fi scan; AP03 heartbeat; AP04 low battery; AP05 voice query; AP07
 * voice chunk; AP42 (and the buggy "IWnull") picture chunk; AP10 alarm with
 * position; AP49 heart rate; APHT heart rate and blood pressure; APHP heart
 * rate, blood pressure, SpO2, blood sugar and temperature; AP50 temperature
 * and battery; APTP/APSP temperature/SpO2; APJK single health reading; AP97
 * sleep; APHD ECG; APWR worn/removed; APVR firmware version; APBL BLE scan;
 * APFD fall alarm; APTQ weather request; the device acknowledgements of
 * server commands (AP12, AP14, AP15-AP20, AP28, AP31-AP34, AP40, AP46,
 * AP76, AP77, AP84-AP88, APXL/XY/XZ/XT/XX, APPH, APMC, APSM, APSQ, APTE,
 * APOX, APTF and any `APxx,<6-digit serial>`), never answered; TRV AP00,
 * AP01, AP10, AP14 (LBS request), AP20/AP61/AP92, CP01 heartbeat, CP03 and
 * XP02 acknowledgements, YP02 identity, YP03/YP14/YP15 positions and YP16
 * heartbeat. Any other type becomes an "other" record with its content and
 * gets the family acknowledgement (`IWAPxx` -> `IWBPxx#`).
 */
#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "core/text.h"
#include "protocols/encode.h"
#include "protocols/registry.h"

#define IW_MAX_FRAME 16384 /* media chunks: header + payload, hex or raw */
#define IW_TEXT_MAX 4096   /* a text frame longer than this has lost its '#' */
#define IW_MEDIA_HEADER_MAX 64
#define IW_STATUS_LEN 14
#define IW_CONTENT_MAX 256 /* bytes of an unknown message kept as raw content */

/* td_session.state[0]: what decode() learnt about the device for encode(). */
enum { IW_STATE_SEEN = 1, IW_STATE_TRV = 2 };

/* One parsed frame header. */
typedef struct iw_msg {
    const char *prefix; /* "IW" or "TRV" */
    bool trv;
    char dir[3];  /* "AP", "YP", "CP", ... */
    char type[3]; /* "00", "HT", ... */
    td_span body; /* after the type and its comma, without the final '#' */
    td_span raw;  /* after the type and its comma, as framed (media) */
} iw_msg;

static const char *const iw_prefixes[] = {"IW", "TRV"};

/* Media chunks (cut by length): the tag that starts them. */
static const char *const iw_media_tags[] = {"IWAP07,", "IWAP42,", "IWnull,"};

static bool is_type_char(int c)
{
    return isdigit(c) || isupper(c);
}

static int detect(const uint8_t *buf, size_t len)
{
    for (size_t i = 0; i < sizeof(iw_prefixes) / sizeof(iw_prefixes[0]); i++) {
        const char *pfx = iw_prefixes[i];
        size_t pl = strlen(pfx);
        if (memcmp(buf, pfx, len < pl ? len : pl) != 0)
            continue;
        for (size_t k = pl; k < len && k < pl + 4; k++) {
            int c = buf[k];
            bool ok = k == pl ? isupper(c) : k == pl + 1 ? c == 'P' : is_type_char(c);
            if (!ok)
                return TD_DETECT_NO;
        }
        return len >= pl + 4 ? TD_DETECT_YES : TD_DETECT_MAYBE;
    }
    return len == 0 ? TD_DETECT_MAYBE : TD_DETECT_NO;
}

/*
 * Frames a media chunk `IWAP07,<time>,<total>,<index>,<len>,<data>#` at buf.
 * Returns the frame length, 0 when more input is needed, TD_ETOOBIG, or -1
 * when buf does not start a well-formed media header (frame it by '#').
 */
static long media_frame(const uint8_t *buf, size_t len)
{
    size_t tl = strlen(iw_media_tags[0]), i, field = tl;
    int commas = 0;
    bool tagged = false;

    if (len < tl)
        return -1;
    for (size_t t = 0; t < sizeof(iw_media_tags) / sizeof(iw_media_tags[0]); t++)
        tagged = tagged || memcmp(buf, iw_media_tags[t], tl) == 0;
    if (!tagged)
        return -1;
    for (i = tl; i < len && i < IW_MEDIA_HEADER_MAX; i++) {
        if (buf[i] == ',') {
            if (++commas == 4)
                break;
            field = i + 1;
        } else if (!isdigit(buf[i])) {
            return -1;
        }
    }
    if (commas < 4)
        return i >= IW_MEDIA_HEADER_MAX ? -1 : 0;
    if (i - field == 0 || i - field > 6)
        return -1;
    size_t dlen = 0;
    for (size_t k = field; k < i; k++)
        dlen = dlen * 10 + (size_t)(buf[k] - '0');
    size_t end = i + 1 + dlen; /* index of the '#' after a raw payload */
    if (end + 1 > IW_MAX_FRAME)
        return TD_ETOOBIG;
    if (len <= end)
        return 0;
    if (buf[end] == '#')
        return (long)(end + 1);
    /* Hex payloads (two characters a byte) or a wrong length: the next '#'. */
    const uint8_t *hash = memchr(buf + end, '#', len - end);
    if (hash)
        return (long)(hash - buf + 1);
    return len >= IW_MAX_FRAME ? TD_ETOOBIG : 0;
}

static long frame(const uint8_t *buf, size_t len, size_t *skip)
{
    size_t s = 0;

    while (s < len &&
           (buf[s] == '\r' || buf[s] == '\n' || buf[s] == ' ' || buf[s] == '\t' || buf[s] == '#'))
        s++;
    *skip = s;
    buf += s;
    len -= s;
    if (len == 0)
        return 0;
    long m = media_frame(buf, len);
    if (m >= 0 || m == TD_ETOOBIG)
        return m;
    const uint8_t *hash = memchr(buf, '#', len);
    if (hash) {
        size_t n = (size_t)(hash - buf) + 1;
        return n > IW_TEXT_MAX ? TD_ETOOBIG : (long)n;
    }
    return len >= IW_TEXT_MAX ? TD_ETOOBIG : 0;
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
    return td_ctx_error(ctx, TD_EBADFRAME, "iw: bad %s '%s'", what, show(s, b, sizeof(b)));
}

/* Pops the next ','-separated field off *rest; false when none is left. */
static bool pop(td_span *rest, td_span *out)
{
    if (!rest->p) {
        *out = (td_span){"", 0};
        return false;
    }
    const char *c = memchr(rest->p, ',', rest->n);
    if (c) {
        out->p = rest->p;
        out->n = (size_t)(c - rest->p);
        rest->n -= out->n + 1;
        rest->p = c + 1;
    } else {
        *out = *rest;
        rest->p = NULL;
        rest->n = 0;
    }
    return true;
}

static bool all_digits(td_span s)
{
    for (size_t i = 0; i < s.n; i++)
        if (!isdigit((unsigned char)s.p[i]))
            return false;
    return s.n > 0;
}

static bool has_char(td_span s, char c)
{
    return memchr(s.p, c, s.n) != NULL;
}

/* Keeps text as a raw string attribute, printable characters only. */
static void raw_text(td_record *r, const char *key, td_span s)
{
    char buf[IW_CONTENT_MAX];
    size_t n = s.n < sizeof(buf) ? s.n : sizeof(buf);
    for (size_t i = 0; i < n; i++)
        buf[i] = isprint((unsigned char)s.p[i]) ? s.p[i] : '?';
    td_rec_raw_str(r, key, buf, n);
}

static void raw_type(td_record *r, const iw_msg *m)
{
    char t[8];
    snprintf(t, sizeof(t), "%s%s", m->dir, m->type);
    td_rec_raw_str(r, "type", t, strlen(t));
}

static int add(td_decode_ctx *ctx, td_rec_type type, td_record **out)
{
    *out = td_ctx_add(ctx, type);
    return *out ? 0 : td_ctx_error(ctx, TD_ENOMEM, "iw: too many records");
}

/* The family acknowledgement `<prefix><dir+1><type><extra>#` (AP -> BP). */
static int reply(td_decode_ctx *ctx, const iw_msg *m, const char *extra)
{
    return td_ctx_replyf(ctx, "%s%c%c%s%s#", m->prefix, m->dir[0] + 1, m->dir[1], m->type, extra);
}

/*
 * Parses a health value into canonical attribute a. Empty fields and 0
 * ("not measured") are skipped; anything else must be a number in [lo, hi].
 */
static int health(td_decode_ctx *ctx, td_record *r, td_attr a, td_span v, double lo, double hi)
{
    double d;

    v = td_trim(v);
    if (v.n == 0)
        return 0;
    if (!td_parse_double(v, &d) || d < lo || d > hi)
        return bad(ctx, td_attr_name(a), v);
    if (d == 0)
        return 0;
    if (td_attr_type_of(a) == TD_T_INT)
        td_rec_set_int(r, a, (int64_t)d);
    else
        td_rec_set_double(r, a, d);
    return 0;
}

/* Blood sugar: mmol/L as the contract wants; readings above 35 can only be
 * mg/dL and are converted (the original is kept as bloodSugarReading). */
static int blood_sugar(td_decode_ctx *ctx, td_record *r, td_span v)
{
    double d;

    v = td_trim(v);
    if (v.n == 0)
        return 0;
    if (!td_parse_double(v, &d) || d < 0 || d > 1000)
        return bad(ctx, "bloodSugar", v);
    if (d == 0)
        return 0;
    if (d > 35) {
        td_rec_raw_double(r, "bloodSugarReading", d);
        d = d / 18.016;
    }
    td_rec_set_double(r, TD_ATTR_BLOOD_SUGAR, d);
    return 0;
}

/*
 * The 14-digit status string: GSM signal (3), satellites (3), battery % (3),
 * reserved/ACC (1), fortification (2), working mode (2). Digits beyond 14
 * are kept as statusExtra.
 */
static void status14(td_record *r, td_span st, bool trv)
{
    int gsm, sats, bat, acc, fort, mode;

    if (st.n < IW_STATUS_LEN || !all_digits(st)) {
        if (st.n)
            raw_text(r, "status", st);
        return;
    }
    td_parse_fixed(st.p, 3, &gsm);
    td_parse_fixed(st.p + 3, 3, &sats);
    td_parse_fixed(st.p + 6, 3, &bat);
    td_parse_fixed(st.p + 9, 1, &acc);
    td_parse_fixed(st.p + 10, 2, &fort);
    td_parse_fixed(st.p + 12, 2, &mode);
    td_rec_set_int(r, TD_ATTR_RSSI, gsm);
    td_rec_set_int(r, TD_ATTR_SATELLITES, sats);
    if (bat <= 100)
        td_rec_set_int(r, TD_ATTR_BATTERY_LEVEL, bat);
    else
        td_rec_raw_int(r, "battery", bat);
    if (trv)
        td_rec_set_bool(r, TD_ATTR_IGNITION, acc != 0);
    td_rec_raw_int(r, "fortification", fort);
    td_rec_raw_int(r, "workMode", mode);
    if (st.n > IW_STATUS_LEN)
        raw_text(r, "statusExtra", (td_span){st.p + IW_STATUS_LEN, st.n - IW_STATUS_LEN});
}

/* Wi-Fi list `ssid|mac|rssi&ssid|mac|rssi...`; entries that do not parse
 * are skipped. The document writes the RSSI as a positive magnitude; it is
 * stored in dBm (negative). */
static void wifi_list(td_record *r, td_span list)
{
    td_span rest = list, e;

    while (rest.p) {
        const char *amp = memchr(rest.p, '&', rest.n);
        e.p = rest.p;
        e.n = amp ? (size_t)(amp - rest.p) : rest.n;
        if (amp) {
            rest.n -= e.n + 1;
            rest.p = amp + 1;
        } else {
            rest.p = NULL;
        }
        const char *bar2 = NULL, *bar1 = NULL;
        for (size_t i = e.n; i-- > 0;) {
            if (e.p[i] != '|')
                continue;
            if (!bar2) {
                bar2 = e.p + i;
            } else {
                bar1 = e.p + i;
                break;
            }
        }
        if (!bar2)
            continue;
        const char *mac = bar1 ? bar1 + 1 : e.p;
        td_span rs = td_trim((td_span){bar2 + 1, (size_t)(e.p + e.n - bar2 - 1)});
        int64_t rssi;
        if (!td_parse_int(rs, &rssi) || rssi < -200 || rssi > 200)
            continue;
        td_span ms = td_trim((td_span){mac, (size_t)(bar2 - mac)});
        td_rec_add_wifi(r, ms.p, ms.n, (int)(rssi > 0 ? -rssi : rssi));
    }
}

/* `mcc,mnc,lac,cid` (decimal) as one cell; kept raw when it does not parse. */
static void cell4(td_record *r, const td_span f[4])
{
    int64_t mcc, mnc, lac, cid;

    if (td_parse_int(f[0], &mcc) && td_parse_int(f[1], &mnc) && td_parse_int(f[2], &lac) &&
        td_parse_int(f[3], &cid) && mcc >= 0 && mcc < 1000 && mnc >= 0 && mnc < 1000)
        td_rec_add_cell(r, (int)mcc, (int)mnc, lac, cid, false, 0);
    else
        raw_text(r, "cell", (td_span){f[0].p, (size_t)(f[3].p + f[3].n - f[0].p)});
}

/* ---- message handlers ---- */

static void put2(char *dst, const char *src)
{
    dst[0] = src[0];
    dst[1] = src[1];
    dst[2] = '\0';
}

/*
 * Splits the header. s is the whole frame; the final '#' and surrounding
 * blanks are removed from m->body only.
 */
static int parse_header(td_decode_ctx *ctx, td_span s, iw_msg *m)
{
    size_t pl = 0;

    memset(m, 0, sizeof(*m));
    for (size_t i = 0; i < sizeof(iw_prefixes) / sizeof(iw_prefixes[0]); i++) {
        if (td_span_starts(s, iw_prefixes[i])) {
            m->prefix = iw_prefixes[i];
            pl = strlen(m->prefix);
        }
    }
    if (!m->prefix)
        return bad(ctx, "header", s);
    m->trv = pl == 3;
    td_span h = {s.p + pl, s.n - pl};
    if (!m->trv && td_span_starts(h, "null,")) {
        /* A firmware that names its picture chunks "IWnull". */
        put2(m->dir, "AP");
        put2(m->type, "42");
        h.p += 4;
        h.n -= 4;
    } else {
        if (h.n < 4 || !isupper((unsigned char)h.p[0]) || h.p[1] != 'P' ||
            !is_type_char((unsigned char)h.p[2]) || !is_type_char((unsigned char)h.p[3]))
            return bad(ctx, "header", s);
        put2(m->dir, h.p);
        put2(m->type, h.p + 2);
        h.p += 4;
        h.n -= 4;
    }
    if (h.n && h.p[0] == ',') {
        h.p++;
        h.n--;
    }
    m->raw = h;
    if (h.n && h.p[h.n - 1] == '#')
        h.n--;
    m->body = td_trim(h);
    return 0;
}

static bool type_is(const iw_msg *m, const char *dir, const char *type)
{
    return strcmp(m->dir, dir) == 0 && strcmp(m->type, type) == 0;
}

static bool type_in(const iw_msg *m, const char *const *list)
{
    for (; *list; list++)
        if (strcmp(m->type, *list) == 0)
            return true;
    return false;
}

/* AP00<imei>[,<iccid>,<imsi>...]: identifies the session. */
static int decode_login(td_decode_ctx *ctx, const iw_msg *m)
{
    td_span rest = m->body, f, id;
    td_record *r;
    size_t d = 0;
    int rc;

    if (!ctx->session)
        return td_ctx_error(ctx, TD_EINVAL, "iw: login without a session");
    pop(&rest, &f);
    while (d < f.n && isdigit((unsigned char)f.p[d]))
        d++;
    if (d < 14)
        return bad(ctx, "IMEI", f);
    id = (td_span){f.p, d < 15 ? d : 15};
    if (td_session_identify(ctx->session, id.p, id.n) < 0)
        return bad(ctx, "IMEI", f);
    if ((rc = add(ctx, TD_REC_LOGIN, &r)) < 0)
        return rc;
    if (pop(&rest, &f) && f.n)
        raw_text(r, "iccid", f);
    if (pop(&rest, &f) && f.n)
        raw_text(r, "imsi", f);
    if (rest.p && rest.n)
        raw_text(r, "loginExtra", rest);
    if (m->trv)
        return reply(ctx, m, "");

    int y, mo, dd, hh, mi, ss;
    char extra[48];
    int tz = ctx->tz_minutes, atz = tz < 0 ? -tz : tz, frac = atz % 60 * 100 / 60;
    td_utc_fields(ctx->now_ms, &y, &mo, &dd, &hh, &mi, &ss);
    int n = snprintf(extra, sizeof(extra), ",%04d%02d%02d%02d%02d%02d,%s%d", y, mo, dd, hh, mi, ss,
                     tz < 0 ? "-" : "", atz / 60);
    /* Whole hours as the document shows ("8"); others as decimal hours. */
    if (frac % 10)
        snprintf(extra + n, sizeof(extra) - (size_t)n, ".%02d", frac);
    else if (frac)
        snprintf(extra + n, sizeof(extra) - (size_t)n, ".%d", frac / 10);
    return reply(ctx, m, extra);
}

/* Cuts n characters of the GPS block off *b, or fails naming `what`. */
static int take(td_decode_ctx *ctx, td_span *b, size_t n, const char *what, td_span *out)
{
    if (b->n < n) {
        char s[48];
        return td_ctx_error(ctx, TD_EBADFRAME, "iw: truncated %s in '%s'", what,
                            show(*b, s, sizeof(s)));
    }
    *out = (td_span){b->p, n};
    b->p += n;
    b->n -= n;
    return 0;
}

/* The 45-character GPS block into r: yyMMdd, A|V, ddmm.mmmm, N|S, dddmm.mmmm,
 * E|W, speed ddd.d (km/h), HHmmss (UTC), course ddd.dd. */
static int gps_block(td_decode_ctx *ctx, td_record *r, td_span *b)
{
    td_span date, flag, lat, ns, lon, ew, speed, time, course;
    char both[32];
    int rc;

    if ((rc = take(ctx, b, 6, "date", &date)) < 0 || (rc = take(ctx, b, 1, "fix", &flag)) < 0 ||
        (rc = take(ctx, b, 9, "latitude", &lat)) < 0 ||
        (rc = take(ctx, b, 1, "latitude", &ns)) < 0 ||
        (rc = take(ctx, b, 10, "longitude", &lon)) < 0 ||
        (rc = take(ctx, b, 1, "longitude", &ew)) < 0 ||
        (rc = take(ctx, b, 5, "speed", &speed)) < 0 || (rc = take(ctx, b, 6, "time", &time)) < 0 ||
        (rc = take(ctx, b, 6, "course", &course)) < 0)
        return rc;
    if (flag.p[0] != 'A' && flag.p[0] != 'V')
        return bad(ctx, "fix flag", flag);
    r->valid = flag.p[0] == 'A';
    if (!td_parse_dm(lat, 2, &r->latitude) || r->latitude > 90 ||
        (ns.p[0] != 'N' && ns.p[0] != 'S'))
        return bad(ctx, "latitude", (td_span){lat.p, 10});
    if (!td_parse_dm(lon, 3, &r->longitude) || r->longitude > 180 ||
        (ew.p[0] != 'E' && ew.p[0] != 'W'))
        return bad(ctx, "longitude", (td_span){lon.p, 11});
    if (ns.p[0] == 'S')
        r->latitude = -r->latitude;
    if (ew.p[0] == 'W')
        r->longitude = -r->longitude;
    if (!td_parse_yymmdd_hhmmss(date, time, &r->time_ms)) {
        snprintf(both, sizeof(both), "%.6s %.6s", date.p, time.p);
        return bad(ctx, "date/time", (td_span){both, strlen(both)});
    }
    r->has_time = true;
    if (!td_parse_double(speed, &r->speed) || r->speed >= 2000)
        return bad(ctx, "speed", speed);
    if (!td_parse_double(course, &r->course) || r->course > 360)
        return bad(ctx, "course", course);
    return 0;
}

static void alarm_code(td_record *r, td_span code)
{
    static const struct {
        const char *code;
        td_alarm alarm;
    } map[] = {
        {"01", TD_ALARM_SOS},
        {"02", TD_ALARM_LOW_BATTERY},
        {"03", TD_ALARM_REMOVAL},
        {"06", TD_ALARM_FALL},
    };
    raw_text(r, "alarmCode", code);
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
        if (td_span_eq(code, map[i].code))
            td_rec_alarm(r, map[i].alarm);
}

/*
 * AP01 / AP10 / TRV YP03, YP14, YP15: GPS block, status string (plus 0-5
 * extra digits), then `,mcc,mnc,lac,cid`, for AP10 `,alarm,lang,flags`, and
 * an optional Wi-Fi list.
 */
static int decode_position(td_decode_ctx *ctx, const iw_msg *m)
{
    td_span b = m->body, f[4], st;
    td_record *r;
    int rc;

    if ((rc = add(ctx, TD_REC_POSITION, &r)) < 0)
        return rc;
    if ((rc = gps_block(ctx, r, &b)) < 0)
        return rc;
    st.p = b.p;
    for (st.n = 0; st.n < b.n && b.p[st.n] != ','; st.n++)
        ;
    status14(r, st, m->trv);
    b.p += st.n;
    b.n -= st.n;
    if (b.n == 0)
        return reply(ctx, m, "");
    b.p++;
    b.n--;
    int nf = 0;
    while (nf < 4 && pop(&b, &f[nf]))
        nf++;
    if (nf == 4)
        cell4(r, f);
    else if (nf > 0)
        raw_text(r, "cell", f[0]);
    td_span x;
    if (strcmp(m->type, "10") == 0 && pop(&b, &x)) {
        alarm_code(r, td_trim(x));
        if (pop(&b, &x) && x.n)
            raw_text(r, "language", x);
        if (pop(&b, &x) && x.n) {
            td_rec_raw_bool(r, "addressRequest", x.p[0] == '1');
        }
    }
    while (pop(&b, &x)) {
        if (has_char(x, '|'))
            wifi_list(r, x);
        else if (td_trim(x).n)
            raw_text(r, "extra", x);
    }
    /* No geocoder: an address request gets the plain acknowledgement. */
    return reply(ctx, m, "");
}

/* AP02,<lang>,<reply>,<n>,<mcc>,<mnc>,<lac>|<cid>|<rssi>...,<n wifi>,<wifi>. */
static int decode_cells(td_decode_ctx *ctx, const iw_msg *m)
{
    td_span rest = m->body, f;
    td_record *r;
    int64_t n, mcc, mnc;
    int rc;

    if ((rc = add(ctx, TD_REC_STATUS, &r)) < 0)
        return rc;
    pop(&rest, &f);
    if (f.n)
        raw_text(r, "language", f);
    if (!pop(&rest, &f))
        return bad(ctx, "cell list", m->body);
    if (has_char(f, '|')) {
        raw_text(r, "ble", f); /* some firmwares: a Bluetooth list here */
        if (!pop(&rest, &f))
            return bad(ctx, "cell list", m->body);
    }
    if (f.n)
        td_rec_raw_bool(r, "addressRequest", f.p[0] == '1');
    if (!pop(&rest, &f) || !td_parse_int(f, &n) || n < 0 || n > 64)
        return bad(ctx, "cell count", f);
    if (n > 0) {
        if (!pop(&rest, &f) || !td_parse_int(f, &mcc) || mcc < 0 || mcc > 999)
            return bad(ctx, "mcc", f);
        if (!pop(&rest, &f) || !td_parse_int(f, &mnc) || mnc < 0 || mnc > 999)
            return bad(ctx, "mnc", f);
    }
    for (int64_t i = 0; i < n; i++) {
        td_span c[3];
        int64_t lac, cid, rssi;
        if (!pop(&rest, &f) || td_split(f, '|', c, 3) != 3 || !td_parse_int(c[0], &lac) ||
            !td_parse_int(c[1], &cid) || !td_parse_int(c[2], &rssi))
            return bad(ctx, "cell", f);
        td_rec_add_cell(r, (int)mcc, (int)mnc, lac, cid, true, (int)rssi);
    }
    if (pop(&rest, &f) && f.n && !all_digits(f))
        return bad(ctx, "Wi-Fi count", f);
    while (pop(&rest, &f))
        if (has_char(f, '|'))
            wifi_list(r, f);
    return reply(ctx, m, "");
}

/* AP03,<status14>,<steps>,<rolls>[,<mode>,<interval>]; other shapes raw. */
static int decode_heartbeat(td_decode_ctx *ctx, const iw_msg *m)
{
    td_span rest = m->body, f;
    td_record *r;
    int64_t v;
    int rc;

    if ((rc = add(ctx, TD_REC_HEARTBEAT, &r)) < 0)
        return rc;
    pop(&rest, &f);
    if (f.n == IW_STATUS_LEN && !all_digits(f))
        return bad(ctx, "status", f);
    if (f.n < IW_STATUS_LEN || !all_digits(f)) {
        if (m->body.n)
            raw_text(r, "content", m->body);
        return reply(ctx, m, "");
    }
    status14(r, f, m->trv);
    if (pop(&rest, &f) && f.n) {
        if (td_parse_int(f, &v) && v >= 0)
            td_rec_set_int(r, TD_ATTR_STEPS, v);
        else
            raw_text(r, "steps", f);
    }
    if (pop(&rest, &f) && f.n) {
        if (td_parse_int(f, &v))
            td_rec_raw_int(r, "rolls", v);
        else
            raw_text(r, "rolls", f);
    }
    if (rest.p && rest.n)
        raw_text(r, "extra", rest);
    return reply(ctx, m, "");
}

/* TRV CP01,<status14>[<extended status>] and YP16 heartbeats. */
static int decode_trv_heartbeat(td_decode_ctx *ctx, const iw_msg *m)
{
    td_record *r;
    int rc;

    if ((rc = add(ctx, TD_REC_HEARTBEAT, &r)) < 0)
        return rc;
    td_span f = m->body;
    if (strcmp(m->type, "01") == 0 && all_digits(f) && f.n >= IW_STATUS_LEN)
        status14(r, f, true);
    else if (f.n)
        raw_text(r, "content", f);
    return reply(ctx, m, "");
}

/* AP49, APHT, APHP, AP50, APTP, APSP: health readings. */
static int decode_health(td_decode_ctx *ctx, const iw_msg *m)
{
    td_span f[16];
    td_record *r;
    int rc;

    if ((rc = add(ctx, TD_REC_STATUS, &r)) < 0)
        return rc;
    int n = td_split(m->body, ',', f, 16);
    for (int i = n; i < 16; i++)
        f[i] = (td_span){m->body.p + m->body.n, 0};
    if (strcmp(m->type, "50") == 0 || strcmp(m->type, "TP") == 0) {
        if (td_trim(f[0]).n == 0)
            return bad(ctx, "bodyTemperature", f[0]);
        if ((rc = health(ctx, r, TD_ATTR_BODY_TEMPERATURE, f[0], 0, 50)) < 0)
            return rc;
        if (strcmp(m->type, "TP") == 0) {
            double w;
            if (f[1].n && td_parse_double(f[1], &w))
                td_rec_raw_double(r, "wristTemperature", w);
        } else if ((rc = health(ctx, r, TD_ATTR_BATTERY_LEVEL, f[1], 0, 100)) < 0) {
            return rc;
        }
        return reply(ctx, m, "");
    }
    if (strcmp(m->type, "SP") == 0) {
        if (td_trim(f[0]).n == 0)
            return bad(ctx, "spo2", f[0]);
        if ((rc = health(ctx, r, TD_ATTR_SPO2, f[0], 0, 100)) < 0)
            return rc;
        return reply(ctx, m, "");
    }
    /* 49, HT and HP share the leading heart rate, systolic, diastolic. */
    if (td_trim(f[0]).n == 0 && strcmp(m->type, "HP") != 0)
        return bad(ctx, "heartRate", f[0]);
    if ((rc = health(ctx, r, TD_ATTR_HEART_RATE, f[0], 0, 299)) < 0)
        return rc;
    if (strcmp(m->type, "49") == 0)
        return reply(ctx, m, "");
    if ((rc = health(ctx, r, TD_ATTR_SYSTOLIC, f[1], 0, 400)) < 0 ||
        (rc = health(ctx, r, TD_ATTR_DIASTOLIC, f[2], 0, 300)) < 0)
        return rc;
    if (strcmp(m->type, "HP") == 0) {
        if ((rc = health(ctx, r, TD_ATTR_SPO2, f[3], 0, 100)) < 0 ||
            (rc = blood_sugar(ctx, r, f[4])) < 0 ||
            (rc = health(ctx, r, TD_ATTR_BODY_TEMPERATURE, f[5], 0, 50)) < 0)
            return rc;
        for (int i = 6; i < n; i++) {
            if (td_trim(f[i]).n) {
                char key[16];
                snprintf(key, sizeof(key), "field%d", i + 1);
                raw_text(r, key, f[i]);
            }
        }
    }
    return reply(ctx, m, "");
}

/* APJK,<datetime>,<type>,<value>: 1 BP "dia|sys", 2 HR, 3 temp, 4 SpO2. */
static int decode_jk(td_decode_ctx *ctx, const iw_msg *m)
{
    td_span rest = m->body, when, type, v;
    td_record *r;
    int64_t t;
    int rc;

    if ((rc = add(ctx, TD_REC_STATUS, &r)) < 0)
        return rc;
    pop(&rest, &when);
    if (!pop(&rest, &type) || !td_parse_int(type, &t))
        return bad(ctx, "health type", type);
    if (!pop(&rest, &v))
        v = (td_span){type.p + type.n, 0};
    if (when.n)
        raw_text(r, "measureTime", when);
    td_rec_raw_int(r, "healthType", t);
    if (t == 1) {
        td_span bp[2];
        if (td_split(v, '|', bp, 2) != 2)
            return bad(ctx, "blood pressure", v);
        if ((rc = health(ctx, r, TD_ATTR_DIASTOLIC, bp[0], 0, 300)) < 0 ||
            (rc = health(ctx, r, TD_ATTR_SYSTOLIC, bp[1], 0, 400)) < 0)
            return rc;
    } else if (t == 2) {
        rc = health(ctx, r, TD_ATTR_HEART_RATE, v, 0, 299);
    } else if (t == 3) {
        rc = health(ctx, r, TD_ATTR_BODY_TEMPERATURE, v, 0, 50);
    } else if (t == 4) {
        rc = health(ctx, r, TD_ATTR_SPO2, v, 0, 100);
    } else if (v.n) {
        raw_text(r, "healthValue", v);
    }
    if (rc < 0)
        return rc;
    char extra[24];
    snprintf(extra, sizeof(extra), ",%lld", (long long)t);
    return reply(ctx, m, extra);
}

/*
 * A whole AP07 voice chunk as ctx->media: key = its time field, index and
 * total from the header. Raw payloads point into the frame; hex ones (two
 * characters a byte) are decoded into ctx->media_buf, len 0 when it is
 * missing or too small.
 */
static void voice_media(td_decode_ctx *ctx, td_span when, int index, int total, td_span data,
                        bool hex)
{
    struct td_media *md = &ctx->media;

    md->present = true;
    td_span_cstr(when, md->key, sizeof(md->key));
    md->index = index;
    md->total = total;
    if (!hex) {
        md->data = (const uint8_t *)data.p;
        md->len = data.n;
        return;
    }
    if (ctx->media_buf && ctx->media_cap >= data.n / 2) {
        long n = td_hex_decode(data.p, data.n, ctx->media_buf, ctx->media_cap);
        if (n >= 0) {
            md->data = ctx->media_buf;
            md->len = (size_t)n;
        }
    }
}

/*
 * AP07 voice / AP42 picture chunk: <time>,<total>,<index>,<len>,<data>.
 * The acknowledgement says whether the whole chunk arrived; pictures are
 * acknowledged both as BP42 and as BP07 (what firmwares advance on).
 */
static int decode_media(td_decode_ctx *ctx, const iw_msg *m)
{
    td_span rest = m->raw, when, total, index, length;
    td_record *r;
    int64_t nt, ni, nl;
    int rc;

    pop(&rest, &when);
    if (!all_digits(when) || when.n > 20)
        return bad(ctx, "chunk time", when);
    if (!pop(&rest, &total) || !td_parse_int(total, &nt) || nt < 0)
        return bad(ctx, "chunk total", total);
    if (!pop(&rest, &index) || !td_parse_int(index, &ni) || ni < 0)
        return bad(ctx, "chunk index", index);
    if (!pop(&rest, &length) || !td_parse_int(length, &nl) || nl < 0 || nl > IW_MAX_FRAME)
        return bad(ctx, "chunk length", length);
    /* The payload may contain ',': it is everything after the length. */
    td_span data = rest.p ? rest : (td_span){length.p + length.n, 0};
    bool ok, hex = false;
    if (data.n > (size_t)nl && data.p[nl] == '#') {
        ok = data.n == (size_t)nl + 1;
        data.n = (size_t)nl;
    } else {
        if (data.n && data.p[data.n - 1] == '#')
            data.n--;
        hex = data.n == 2 * (size_t)nl && nl > 0;
        for (size_t i = 0; hex && i < data.n; i++)
            hex = isxdigit((unsigned char)data.p[i]) != 0;
        ok = data.n == (size_t)nl || hex;
    }
    if (ok && strcmp(m->type, "07") == 0 && nt <= INT_MAX && ni <= INT_MAX)
        voice_media(ctx, when, (int)ni, (int)nt, data, hex);
    if ((rc = add(ctx, TD_REC_OTHER, &r)) < 0)
        return rc;
    raw_type(r, m);
    td_rec_raw_str(r, "mediaType", m->type[1] == '7' ? "voice" : "picture",
                   m->type[1] == '7' ? 5 : 7);
    raw_text(r, "mediaTime", when);
    td_rec_raw_int(r, "chunkTotal", nt);
    td_rec_raw_int(r, "chunkIndex", ni);
    td_rec_raw_int(r, "chunkLength", nl);
    td_rec_raw_bool(r, "chunkComplete", ok);

    char extra[64];
    snprintf(extra, sizeof(extra), ",%.*s,%lld,%lld,%d", (int)when.n, when.p, (long long)nt,
             (long long)ni, ok ? 1 : 0);
    if (strcmp(m->type, "42") == 0 && (rc = reply(ctx, m, extra)) < 0)
        return rc;
    return td_ctx_replyf(ctx, "%sBP07%s#", m->prefix, extra);
}

/* APWR,<imei>,<1 worn|0 off>,<ms>; APVR,<imei>,<version>; APFD,<imei>,<ts>;
 * APBL,<imei>,<mac|rssi|name;...>,<own mac>,<ts>. */
static int decode_wearable(td_decode_ctx *ctx, const iw_msg *m)
{
    td_span rest = m->body, imei, f;
    td_record *r;
    int64_t v;
    int rc;

    pop(&rest, &imei);
    if (ctx->session && !ctx->session->device_id[0] && all_digits(imei) && imei.n >= 14 &&
        imei.n <= 17)
        td_session_identify(ctx->session, imei.p, imei.n < 15 ? imei.n : 15);
    if ((rc = add(ctx, TD_REC_STATUS, &r)) < 0)
        return rc;
    if (strcmp(m->type, "WR") == 0) {
        if (!pop(&rest, &f) || (!td_span_eq(f, "0") && !td_span_eq(f, "1")))
            return bad(ctx, "worn state", f);
        td_rec_raw_bool(r, "worn", f.p[0] == '1');
        if (f.p[0] == '0')
            td_rec_alarm(r, TD_ALARM_REMOVAL);
        if (pop(&rest, &f) && td_parse_int(f, &v) && v >= 946684800000LL && v < 4102444800000LL) {
            r->time_ms = v;
            r->has_time = true;
        }
        return 0;
    }
    if (strcmp(m->type, "VR") == 0) {
        if (pop(&rest, &f) && f.n)
            raw_text(r, "version", f);
        return 0;
    }
    if (strcmp(m->type, "FD") == 0) {
        td_rec_alarm(r, TD_ALARM_FALL);
        return reply(ctx, m, "");
    }
    if (pop(&rest, &f)) {
        td_span e, list = f;
        while (list.p) {
            const char *semi = memchr(list.p, ';', list.n);
            e.p = list.p;
            e.n = semi ? (size_t)(semi - list.p) : list.n;
            list = semi ? (td_span){semi + 1, list.n - e.n - 1} : (td_span){NULL, 0};
            td_span p[3];
            int64_t rssi;
            if (td_split(e, '|', p, 3) >= 2 && td_parse_int(p[1], &rssi))
                td_rec_add_ble(r, p[0].p, p[0].n, (int)rssi);
        }
    }
    if (pop(&rest, &f) && f.n)
        raw_text(r, "bleMac", f);
    return reply(ctx, m, "");
}

/* An acknowledgement of a server command, or a message with no reply. */
static int decode_quiet(td_decode_ctx *ctx, const iw_msg *m, td_rec_type type)
{
    td_span rest = m->body, f;
    td_record *r;
    int rc;

    if ((rc = add(ctx, type, &r)) < 0)
        return rc;
    raw_type(r, m);
    bool answer = type == TD_REC_ACK && !m->trv && strcmp(m->dir, "AP") == 0;
    if (answer && strcmp(m->type, "TF") == 0) {
        /* BPTF carries no serial, so neither does its answer. */
        snprintf(ctx->ack, sizeof(ctx->ack), "TF");
        td_span_cstr(m->body, ctx->ack_result, sizeof(ctx->ack_result));
    }
    if (type == TD_REC_ACK && pop(&rest, &f) && all_digits(f)) {
        raw_text(r, "serial", f);
        if (rest.p && rest.n)
            raw_text(r, "content", rest);
        if (answer && !ctx->ack[0] && f.n < 16) {
            snprintf(ctx->ack, sizeof(ctx->ack), "%s,%.*s", m->type, (int)f.n, f.p);
            if (rest.p)
                td_span_cstr(rest, ctx->ack_result, sizeof(ctx->ack_result));
        }
    } else if (m->body.n) {
        raw_text(r, "content", m->body);
    }
    return 0;
}

/* Any other message: its content kept, the family acknowledgement sent
 * (only for the device's directions; an echoed server frame is not
 * answered). */
static int decode_other(td_decode_ctx *ctx, const iw_msg *m, td_rec_type type, const char *extra)
{
    int rc = decode_quiet(ctx, m, type);
    if (rc < 0 || !strchr("AYCXW", m->dir[0]))
        return rc;
    return reply(ctx, m, extra);
}

static const char *const iw_acks[] = {
    "12", "14", "15", "16", "17", "18", "19", "20", "28", "31", "32", "33",
    "34", "40", "46", "76", "77", "84", "85", "86", "87", "88", "XL", "XY",
    "XZ", "XT", "XX", "PH", "MC", "SM", "SQ", "TE", "OX", "TF", NULL,
};
static const char *const iw_health[] = {"49", "HT", "HP", "50", "TP", "SP", NULL};
static const char *const iw_wearable[] = {"WR", "VR", "FD", "BL", NULL};

static bool gps_start(td_span b)
{
    return b.n >= 7 && all_digits((td_span){b.p, 6}) && (b.p[6] == 'A' || b.p[6] == 'V');
}

static int decode_trv(td_decode_ctx *ctx, const iw_msg *m)
{
    if (type_is(m, "CP", "01") || type_is(m, "YP", "16"))
        return decode_trv_heartbeat(ctx, m);
    if (type_is(m, "CP", "03") || type_is(m, "XP", "02"))
        return decode_quiet(ctx, m, TD_REC_ACK);
    if (type_is(m, "AP", "92"))
        return decode_quiet(ctx, m, TD_REC_ACK);
    if (type_is(m, "AP", "20") || type_is(m, "AP", "61"))
        return decode_quiet(ctx, m, TD_REC_OTHER);
    if (type_is(m, "AP", "14"))
        return decode_other(ctx, m, TD_REC_STATUS, ",0.000,0.000");
    if (type_is(m, "YP", "02"))
        return decode_other(ctx, m, TD_REC_STATUS, "");
    if (type_is(m, "AP", "03"))
        return decode_heartbeat(ctx, m);
    return decode_other(ctx, m, TD_REC_OTHER, "");
}

static int decode(td_decode_ctx *ctx, const uint8_t *f, size_t len)
{
    iw_msg m;
    int rc;

    while (len && (*f == ' ' || *f == '\t' || *f == '\r' || *f == '\n')) {
        f++;
        len--;
    }
    if ((rc = parse_header(ctx, (td_span){(const char *)f, len}, &m)) < 0)
        return rc;
    if (ctx->session)
        ctx->session->state[0] = IW_STATE_SEEN | (m.trv ? IW_STATE_TRV : 0);
    bool ap = strcmp(m.dir, "AP") == 0;
    if (ap && strcmp(m.type, "00") == 0)
        return decode_login(ctx, &m);
    if (ap && (strcmp(m.type, "07") == 0 || strcmp(m.type, "42") == 0) && !m.trv)
        return decode_media(ctx, &m);
    if (gps_start(m.body) || (ap && (strcmp(m.type, "01") == 0 || strcmp(m.type, "10") == 0)))
        return decode_position(ctx, &m);
    if (m.body.n == 6 && all_digits(m.body))
        return decode_quiet(ctx, &m, TD_REC_ACK);
    if (m.trv)
        return decode_trv(ctx, &m);
    if (!ap)
        return decode_other(ctx, &m, TD_REC_OTHER, "");
    if (strcmp(m.type, "02") == 0)
        return decode_cells(ctx, &m);
    if (strcmp(m.type, "03") == 0)
        return decode_heartbeat(ctx, &m);
    if (type_in(&m, iw_health))
        return decode_health(ctx, &m);
    if (strcmp(m.type, "JK") == 0)
        return decode_jk(ctx, &m);
    if (type_in(&m, iw_wearable))
        return decode_wearable(ctx, &m);
    if (type_in(&m, iw_acks))
        return decode_quiet(ctx, &m, TD_REC_ACK);
    if (strcmp(m.type, "TQ") == 0)
        return decode_quiet(ctx, &m, TD_REC_OTHER);
    if (strcmp(m.type, "04") == 0) {
        td_span rest = m.body, b;
        int64_t v;
        if ((rc = decode_other(ctx, &m, TD_REC_STATUS, "")) < 0)
            return rc;
        td_record *r = &ctx->rec[ctx->nrec - 1];
        td_rec_alarm(r, TD_ALARM_LOW_BATTERY);
        if (pop(&rest, &b) && td_parse_int(b, &v) && v >= 0 && v <= 100)
            td_rec_set_int(r, TD_ATTR_BATTERY_LEVEL, v);
        return 0;
    }
    if (strcmp(m.type, "05") == 0)
        return decode_other(ctx, &m, TD_REC_OTHER, ",0"); /* no voice messages queued */
    if (strcmp(m.type, "97") == 0)
        return decode_other(ctx, &m, TD_REC_STATUS, "");
    return decode_other(ctx, &m, TD_REC_OTHER, "");
}

/* ---- downlink commands ---------------------------------------------------- */

#define IW_NO_PARAMS                                                                               \
    {                                                                                              \
        {                                                                                          \
            NULL, TD_PARAM_INT, false, 0, 0, 0, NULL                                               \
        }                                                                                          \
    }
#define IW_PHONE(name, optional, label)                                                            \
    {                                                                                              \
        name, TD_PARAM_PHONE, optional, 3, 20, 0, label                                            \
    }
#define IW_ENABLE                                                                                  \
    {                                                                                              \
        "enable", TD_PARAM_BOOL, false, 0, 1, 0, "On"                                              \
    }

static const td_cmd_type iw_commands[] = {
    {"positionSingle", "Locate now", IW_NO_PARAMS},
    {"positionPeriodic",
     "Reporting interval",
     {{"frequency", TD_PARAM_INT, false, 10, 86400, 0, "Interval (s)"}}},
    {"sosNumber",
     "SOS numbers",
     {IW_PHONE("phone1", true, "SOS number 1 (empty: none)"),
      IW_PHONE("phone2", true, "SOS number 2 (empty: none)"),
      IW_PHONE("phone3", true, "SOS number 3 (empty: none)")}},
    {"voiceMonitoring", "Listen in (the device calls)", {IW_PHONE("phone", false, "Phone number")}},
    {"callBack", "Call back", {IW_PHONE("phone", false, "Phone number")}},
    {"call", "Call a number", {IW_PHONE("phone", false, "Phone number")}},
    {"message",
     "Text message",
     {{"message", TD_PARAM_TEXT, false, 1, 100, 0, "Message (up to 100 characters)"}}},
    {"findDevice", "Ring the device", IW_NO_PARAMS},
    {"alarmFall", "Fall detection", {IW_ENABLE}},
    {"rebootDevice", "Reboot", IW_NO_PARAMS},
    {"powerOff", "Power off", IW_NO_PARAMS},
    {"factoryReset", "Factory reset", IW_NO_PARAMS},
    {"setTimezone",
     "Time zone and language",
     {{"timezone", TD_PARAM_INT, false, -720, 840, 0, "Offset from UTC (minutes)"},
      {"language", TD_PARAM_INT, true, 0, 1, 1, "Language (0 Chinese, 1 English)"}}},
    {"takePhoto", "Take a photo", IW_NO_PARAMS},
    {"measureHeartRate", "Measure heart rate", IW_NO_PARAMS},
    {"measureBloodPressure", "Measure blood pressure", IW_NO_PARAMS},
    {"measureSpo2", "Measure SpO2", IW_NO_PARAMS},
    {"measureTemperature", "Measure temperature", IW_NO_PARAMS},
    {"custom",
     "Custom command",
     {{"data", TD_PARAM_TEXT, true, 1, 256, 0, "Command text, sent as typed (IWBP..#)"},
      {"hex", TD_PARAM_HEX, true, 1, 256, 0, "Command bytes in hex, sent as given"}}},
    {NULL, NULL, IW_NO_PARAMS},
};

/* The BPxx code of each type (custom has none: its bytes are sent as given). */
static const struct {
    const char *type, *code;
} iw_codes[] = {
    {"positionSingle", "16"},   {"positionPeriodic", "15"},
    {"sosNumber", "12"},        {"voiceMonitoring", "32"},
    {"callBack", "32"},         {"call", "32"},
    {"message", "40"},          {"findDevice", "88"},
    {"alarmFall", "76"},        {"rebootDevice", "18"},
    {"powerOff", "31"},         {"factoryReset", "17"},
    {"setTimezone", "20"},      {"takePhoto", "46"},
    {"measureHeartRate", "XL"}, {"measureBloodPressure", "XY"},
    {"measureSpo2", "XZ"},      {"measureTemperature", "XT"},
};

/* `,<value>` of a phone parameter; just `,` when it is left out. */
static void put_phone(td_enc *e, const char *name)
{
    const td_cmd_arg *a = td_enc_arg(e, name);
    td_enc_put(e, ",", 1);
    if (a->set)
        td_enc_put(e, a->str, a->len);
}

/*
 * encode: `IWBP<code>,<imei>,<serial6>[,<args>]#` with the serial = the
 * command id modulo 1000000; ack "<code>,<serial6>". TRV devices: only
 * positionSingle (`TRVBP20#`, no answer documented). custom: the bytes as
 * given, no ack.
 */
static int encode(const td_session *s, const td_command *cmd, uint8_t *out, size_t cap, size_t *len,
                  char ack[TD_ACK_MAX], char *err, size_t errcap)
{
    td_enc e = {.proto = "iw", .cmd = cmd, .out = out, .cap = cap, .err = err, .errcap = errcap};
    const char *type = cmd->def->type, *code = NULL;
    const td_cmd_arg *a;
    char serial[8], tz[TD_ENC_TZ_MAX];
    int rc;

    *len = 0;
    ack[0] = '\0';
    if (strcmp(type, "custom") == 0) {
        rc = td_enc_custom(&e, NULL);
        return rc < 0 ? rc : td_enc_done(&e, len, ack);
    }
    if (!s || !s->device_id[0])
        return td_enc_fail(&e, TD_EINVAL, "iw: no IMEI for this device yet (it has not logged in)");
    if (s->state[0] & IW_STATE_TRV) {
        if (strcmp(type, "positionSingle") != 0)
            return td_enc_fail(&e, TD_EINVAL, "iw: %s is not documented for TRV devices", type);
        td_enc_put(&e, "TRVBP20#", 8);
        return td_enc_done(&e, len, ack);
    }
    for (size_t i = 0; i < sizeof(iw_codes) / sizeof(iw_codes[0]); i++)
        if (strcmp(iw_codes[i].type, type) == 0)
            code = iw_codes[i].code;
    if (!code)
        return td_enc_fail(&e, TD_EUNSUPPORTED, "iw: no command '%s'", type);

    int64_t id = cmd->id % 1000000;
    snprintf(serial, sizeof(serial), "%06d", (int)(id < 0 ? id + 1000000 : id));
    td_enc_putf(&e, "IWBP%s,%s,%s", code, s->device_id, serial);
    if (strcmp(type, "positionPeriodic") == 0) {
        td_enc_putf(&e, ",%ld", td_enc_arg(&e, "frequency")->num);
    } else if (strcmp(type, "sosNumber") == 0) {
        put_phone(&e, "phone1");
        put_phone(&e, "phone2");
        put_phone(&e, "phone3");
    } else if ((a = td_enc_arg(&e, "phone"))) { /* voiceMonitoring, callBack, call */
        put_phone(&e, "phone");
    } else if (strcmp(type, "message") == 0) {
        a = td_enc_arg(&e, "message");
        td_enc_put(&e, ",", 1);
        if (!td_enc_utf16_hex(&e, a->str, a->len))
            return td_enc_fail(&e, TD_EINVAL, "iw: the message is not valid UTF-8");
    } else if (strcmp(type, "alarmFall") == 0) {
        td_enc_putf(&e, ",%d", td_enc_arg(&e, "enable")->num ? 1 : 0);
    } else if (strcmp(type, "setTimezone") == 0) {
        if ((rc = td_enc_tz_hours(&e, td_enc_arg(&e, "timezone")->num, tz)) < 0)
            return rc;
        td_enc_putf(&e, ",%ld,%s", td_enc_arg(&e, "language")->num, tz);
    } else if (strcmp(type, "takePhoto") == 0) {
        td_enc_put(&e, ",1", 2);
    }
    td_enc_put(&e, "#", 1);
    snprintf(ack, TD_ACK_MAX, "%s,%s", code, serial);
    return td_enc_done(&e, len, ack);
}

const td_protocol td_proto_iw = {
    /* name: registry key, file name, config prefix ("trv" is an alias) */
    .name = "iw",
    .devices = "GOTOP L17 4G SOS bracelet, PT880/L009 and other IWAP health bracelets; GF-22 and "
               "other TRV trackers",
    /* transports: TCP per the documents; UDP accepted, one frame a datagram */
    .transports = TD_TCP | TD_UDP,
    /* max_frame: a media chunk (about 60 bytes of header and 1024 raw bytes
     * or 2048 hex characters) with room to spare */
    .max_frame = IW_MAX_FRAME,
    /* detect: "IW" or "TRV", a direction pair [A-Z]P and a 2-character type */
    .detect = detect,
    /* frame: '#'-terminated; AP07/AP42 chunks by their length field */
    .frame = frame,
    /* decode: one record per frame, reply per the fact sheet */
    .decode = decode,
    /* commands: locate, interval, SOS numbers, calls, text, alarms, power,
     * time zone, photo, health measurements, custom */
    .commands = iw_commands,
    /* encode: IWBPxx,<imei>,<serial6>[,<args>]# */
    .encode = encode,
};
