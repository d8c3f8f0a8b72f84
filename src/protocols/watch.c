/*
 * watch: the "3G watch" text protocol of Beesure/SeTracker children's and
 * elderly watches, as written down by the manufacturer in "Beesure GPS
 * SeTracker Server Protocol" (4P-Touch, revision of 2 Aug 2025), with the
 * firmware variants seen in open implementations (docs/protocols/watch.md).
 *
 * Frames are [MF*ID*LLLL*CONTENT] or, with a sequence number that replies
 * echo, [MF*ID*SSSS*LLLL*CONTENT]; MF is any 2-character vendor code (SG,
 * 3G, CS, ZJ, ...) and LLLL the content length in hex. Messages handled:
 *   LK                       keepalive (steps, rolls, battery) -> LK
 *   UD UD2 UD3 UD_LTE UD_WCDMA WT and other UD* / WT*   position, no reply
 *   AL AL_LTE ALCUSTOMER1 and other AL*                 alarm position -> AL
 *   PP                       "touch to add friend": device time + position
 *   heart PULSE hrtstart     heart rate
 *   bphrt                    blood pressure and heart rate -> bphrt
 *   BLOOD                    blood pressure
 *   oxygen                   SpO2 -> oxygen,1
 *   TEMP btemp2              body temperature (btemp2 -> btemp2)
 *   TK JXTK                  voice (0x7D-escaped AMR) -> TK,1|TK,0 / JXTKR,1
 *   img                      photo (0x7D-escaped JPEG)
 *   TKQ TKQ2                 offline voice request -> same word
 *   CONFIG                   capability report -> CONFIG,1
 *   CCID ICCID               SIM ICCID
 *   INIT                     -> INIT,1
 *   UPLOAD CR SOS1 ... VERNO the device's acknowledgements of server commands
 * Any other word becomes a record of type "other" with its content kept raw.
 *
 * Downlink commands (vendor document part II, section 5 of the fact sheet)
 * are written in the device's own framing: its vendor code, its id, the
 * sequence field "0001" when its frames carry one (as Traccar sends), and
 * the content length after escaping. The watch answers with the command
 * word, which is the ack key (upper-cased).
 */
#include <ctype.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/text.h"
#include "protocols/encode.h"
#include "protocols/registry.h"

#define WATCH_MAX_FRAME 65600
#define WATCH_ID_MAX (TD_DEVICE_ID_MAX - 1)
#define WATCH_MAX_FIELDS 160
#define WATCH_RAW_TEXT_MAX 256    /* longest raw string kept from a frame */
#define WATCH_CONTENT_MAX 0xFFFF  /* LLLL is 4 hex digits */
#define WATCH_MF_DEFAULT "3G"     /* for a device never seen: the vendor's examples */
#define WATCH_SEQ_DOWNLINK "0001" /* sequence of server-initiated frames (Traccar) */

/* What decode() keeps in td_session.state for encode(). Zeroed: no frame
 * seen yet. */
struct watch_state {
    char mf[2];            /* vendor code of the device's last frame */
    unsigned char indexed; /* its frames carry the sequence field */
};

_Static_assert(sizeof(struct watch_state) <= TD_PROTO_STATE_MAX, "watch state too large");

/* Header of one frame: '[' MF '*' ID '*' [SSSS '*'] LLLL '*'. */
struct watch_hdr {
    const char *mf; /* 2 characters */
    td_span id;
    td_span seq;    /* n == 0 when the frame has no sequence field */
    size_t length;  /* LLLL */
    size_t content; /* offset of the content */
};

enum { HDR_OK = 0, HDR_MORE = 1, HDR_BAD = 2 };

static bool is_mf_char(uint8_t c)
{
    return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static bool is_id_char(uint8_t c)
{
    return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_' ||
           c == '-';
}

static bool is_hex_char(uint8_t c)
{
    return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F') || (c >= 'a' && c <= 'f');
}

static int hex_value(uint8_t c)
{
    return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
}

/* Matches 4 hex digits and '*' at p (n bytes available). */
static int hex4_star(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < 5; i++) {
        if (i >= n)
            return HDR_MORE;
        if (i < 4 ? !is_hex_char(p[i]) : p[i] != '*')
            return HDR_BAD;
    }
    return HDR_OK;
}

/* Parses the header at buf (len bytes, buf[0] == '['). */
static int parse_header(const uint8_t *buf, size_t len, struct watch_hdr *h)
{
    size_t i;

    for (i = 1; i < 4; i++) {
        if (i >= len)
            return HDR_MORE;
        if (i < 3 ? !is_mf_char(buf[i]) : buf[i] != '*')
            return HDR_BAD;
    }
    size_t id = i;
    while (i < len && is_id_char(buf[i]) && i - id <= WATCH_ID_MAX)
        i++;
    if (i - id > WATCH_ID_MAX)
        return HDR_BAD;
    if (i >= len)
        return HDR_MORE;
    if (buf[i] != '*' || i == id)
        return HDR_BAD;
    h->mf = (const char *)buf + 1;
    h->id = (td_span){(const char *)buf + id, i - id};
    i++;

    int rc = hex4_star(buf + i, len - i);
    if (rc != HDR_OK)
        return rc;
    size_t first = i;
    i += 5;
    /* A second 4-hex field followed by '*' makes the first one a sequence. */
    rc = hex4_star(buf + i, len - i);
    if (rc == HDR_MORE) {
        /* Need more only while what we have still looks like such a field. */
        for (size_t k = i; k < len; k++)
            if (!(k - i < 4 ? is_hex_char(buf[k]) : buf[k] == '*'))
                rc = HDR_BAD;
        if (rc == HDR_MORE)
            return HDR_MORE;
    }
    size_t lf = first;
    h->seq = (td_span){NULL, 0};
    if (rc == HDR_OK) {
        h->seq = (td_span){(const char *)buf + first, 4};
        lf = i;
        i += 5;
    }
    h->length = 0;
    for (size_t k = 0; k < 4; k++)
        h->length = h->length * 16 + (size_t)hex_value(buf[lf + k]);
    h->content = i;
    return HDR_OK;
}

/* Words whose content carries 0x7D-escaped binary after the text fields. */
static bool is_binary_word(const uint8_t *w, size_t n)
{
    static const char *const words[] = {"TK", "JXTK", "img", "TAKEPILLS", "PHBX"};
    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
        if (strlen(words[i]) == n && strncasecmp((const char *)w, words[i], n) == 0)
            return true;
    return false;
}

/* Text bytes: printable ASCII and UTF-8 (SSIDs); no control characters. */
static bool is_text_byte(uint8_t c)
{
    return c >= 0x20 && c != 0x7F;
}

#define WATCH_DESYNC (-1000L)

/*
 * Length of the frame at buf[0] == '[': > 0, 0 for "need more", TD_ETOOBIG,
 * or WATCH_DESYNC when this '[' does not start a usable frame.
 *
 * The rule: binary messages (TK, JXTK, img, ... and any content holding a
 * control byte before its first ']') are delimited by LLLL alone, since
 * their payload may hold a raw ']'; the byte after them must be ']' or the
 * stream is out of sync. Text messages end at their first ']': firmware
 * miscounts LLLL in both directions (vendor examples and captured frames
 * alike), while text fields never contain ']', and taking the first ']'
 * replies to an over-counted alarm at once instead of waiting for the next
 * frame. Both rules decide on a prefix of the frame, so the result does not
 * depend on how the stream was split.
 */
static long frame_at(const uint8_t *buf, size_t len)
{
    struct watch_hdr h;
    int rc = parse_header(buf, len, &h);
    if (rc == HDR_MORE)
        return len >= WATCH_MAX_FRAME ? TD_ETOOBIG : 0;
    if (rc == HDR_BAD)
        return WATCH_DESYNC;

    size_t c = h.content, w = c;
    while (w < len && buf[w] != ',' && buf[w] != ']' && w - c < 16)
        w++;
    if (w == len)
        return 0;
    bool binary = is_binary_word(buf + c, w - c);
    for (size_t i = c; !binary; i++) {
        if (i >= len)
            return len >= WATCH_MAX_FRAME ? TD_ETOOBIG : 0;
        if (buf[i] == ']')
            return (long)(i + 1);
        if (buf[i] == '[')
            return WATCH_DESYNC; /* truncated frame followed by the next one */
        if (!is_text_byte(buf[i]))
            binary = true;
    }
    size_t end = c + h.length;
    if (end + 1 > WATCH_MAX_FRAME)
        return TD_ETOOBIG;
    if (len <= end)
        return 0;
    return buf[end] == ']' ? (long)(end + 1) : WATCH_DESYNC;
}

static long frame(const uint8_t *buf, size_t len, size_t *skip)
{
    size_t start = 0;

    for (;;) {
        while (start < len && buf[start] != '[')
            start++;
        *skip = start;
        if (start == len)
            return 0;
        long n = frame_at(buf + start, len - start);
        if (n != WATCH_DESYNC)
            return n;
        start++;
    }
}

static int detect(const uint8_t *buf, size_t len)
{
    size_t i;

    for (i = 0; i < 4; i++) {
        if (i >= len)
            return TD_DETECT_MAYBE;
        bool ok = i == 0 ? buf[i] == '[' : i < 3 ? is_mf_char(buf[i]) : buf[i] == '*';
        if (!ok)
            return TD_DETECT_NO;
    }
    for (; i < len && i - 4 <= WATCH_ID_MAX; i++) {
        if (buf[i] == '*')
            return i > 4 ? TD_DETECT_YES : TD_DETECT_NO;
        if (!is_id_char(buf[i]))
            return TD_DETECT_NO;
    }
    return i - 4 > WATCH_ID_MAX ? TD_DETECT_NO : TD_DETECT_MAYBE;
}

/* One decoded frame: header, the message word and what follows its comma. */
struct watch_msg {
    struct watch_hdr h;
    td_span content;
    td_span word;
    td_span args; /* after "WORD,"; n == 0 when there is none */
    bool has_args;
};

static bool word_is(td_span w, const char *lit)
{
    return w.n == strlen(lit) && strncasecmp(w.p, lit, w.n) == 0;
}

static bool word_starts(td_span w, const char *lit)
{
    size_t n = strlen(lit);
    return w.n >= n && strncasecmp(w.p, lit, n) == 0;
}

/*
 * Counts the bytes of a 0x7D-escaped payload once unescaped. Sequences other
 * than 7D 01..05 are counted as they stand and reported in *bad.
 */
static size_t unescaped_len(const char *p, size_t n, int *bad)
{
    size_t out = 0;
    *bad = 0;
    for (size_t i = 0; i < n; i++, out++) {
        if ((uint8_t)p[i] != 0x7D)
            continue;
        if (i + 1 < n && p[i + 1] >= 1 && p[i + 1] <= 5)
            i++;
        else
            (*bad)++;
    }
    return out;
}

/*
 * Reports the frame as the answer to the command whose key is `word`
 * upper-cased (what encode() returned), with `result` (the text after the
 * word) as ack_result.
 */
static void set_ack(td_decode_ctx *ctx, td_span word, td_span result, bool failed)
{
    size_t n = word.n < TD_ACK_MAX - 1 ? word.n : TD_ACK_MAX - 1;
    for (size_t i = 0; i < n; i++)
        ctx->ack[i] = (char)toupper((unsigned char)word.p[i]);
    ctx->ack[n] = '\0';
    td_span_cstr(result, ctx->ack_result, sizeof(ctx->ack_result));
    ctx->ack_failed = failed;
}

/* The bytes 0x7D 0x01..0x05 stand for. */
static const uint8_t escaped[] = {0x7D, 0x5B, 0x5D, 0x2C, 0x2A};

/*
 * Sets ctx->media for a voice message or chunk whose bytes are 0x7D-escaped
 * in `data`: a pointer into the frame when nothing is escaped, else the
 * unescaped bytes in ctx->media_buf (len 0 when it is missing or too small).
 * A 0x7D that escapes nothing is kept as it stands.
 */
static void put_media(td_decode_ctx *ctx, td_span key, int index, int total, td_span data)
{
    struct td_media *md = &ctx->media;
    int bad;

    md->present = true;
    td_span_cstr(key, md->key, sizeof(md->key));
    md->index = index;
    md->total = total;
    md->data = NULL;
    md->len = 0;
    if (!memchr(data.p, 0x7D, data.n)) {
        md->data = (const uint8_t *)data.p;
        md->len = data.n;
        return;
    }
    if (!ctx->media_buf || ctx->media_cap < unescaped_len(data.p, data.n, &bad))
        return;
    size_t o = 0;
    for (size_t i = 0; i < data.n; i++) {
        uint8_t c = (uint8_t)data.p[i];
        if (c == 0x7D && i + 1 < data.n && data.p[i + 1] >= 1 && data.p[i + 1] <= 5)
            c = escaped[data.p[++i] - 1];
        ctx->media_buf[o++] = c;
    }
    md->data = ctx->media_buf;
    md->len = o;
}

/* Writes the reply frame: same vendor code, id and sequence as the uplink. */
static int reply(td_decode_ctx *ctx, const struct watch_msg *m, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int reply(td_decode_ctx *ctx, const struct watch_msg *m, const char *fmt, ...)
{
    char body[128];
    va_list ap;

    va_start(ap, fmt);
    int n = vsnprintf(body, sizeof(body), fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof(body))
        return td_ctx_error(ctx, TD_ETOOBIG, "watch: reply too long");
    int rc;
    if (m->h.seq.n)
        rc = td_ctx_replyf(ctx, "[%.2s*%.*s*%.4s*%04X*%s]", m->h.mf, (int)m->h.id.n, m->h.id.p,
                           m->h.seq.p, (unsigned)n, body);
    else
        rc = td_ctx_replyf(ctx, "[%.2s*%.*s*%04X*%s]", m->h.mf, (int)m->h.id.n, m->h.id.p,
                           (unsigned)n, body);
    return rc < 0 ? td_ctx_error(ctx, rc, "watch: reply does not fit") : 0;
}

static void raw_span(td_record *r, const char *key, td_span s)
{
    td_rec_raw_str(r, key, s.p, s.n < WATCH_RAW_TEXT_MAX ? s.n : WATCH_RAW_TEXT_MAX);
}

/*
 * Optional numeric fields: set the canonical attribute when the value parses
 * and lies in [lo, hi]; keep anything else raw under the attribute's name.
 */
static void opt_int(td_record *r, td_attr a, td_span s, int64_t lo, int64_t hi)
{
    int64_t v;
    s = td_trim(s);
    if (s.n == 0)
        return;
    if (td_parse_int(s, &v) && v >= lo && v <= hi)
        td_rec_set_int(r, a, v);
    else
        raw_span(r, td_attr_name(a), s);
}

static void opt_double(td_record *r, td_attr a, td_span s, double lo, double hi)
{
    double v;
    s = td_trim(s);
    if (s.n == 0)
        return;
    if (td_parse_double(s, &v) && v >= lo && v <= hi)
        td_rec_set_double(r, a, v);
    else
        raw_span(r, td_attr_name(a), s);
}

static void opt_raw_int(td_record *r, const char *key, td_span s)
{
    int64_t v;
    s = td_trim(s);
    if (s.n == 0)
        return;
    if (td_parse_int(s, &v))
        td_rec_raw_int(r, key, v);
    else
        raw_span(r, key, s);
}

/* The vendor's terminal status word (low 16 bits states, high 16 alarms). */
static void decode_status(td_record *r, td_span s)
{
    int64_t st;

    s = td_trim(s);
    if (s.n == 0)
        return;
    raw_span(r, "status", s);
    if (!td_parse_hex(s, &st))
        return;
    static const struct {
        int bit;
        td_alarm alarm;
    } alarms[] = {
        {0, TD_ALARM_LOW_BATTERY},    {1, TD_ALARM_GEOFENCE_EXIT},
        {2, TD_ALARM_GEOFENCE_ENTER}, {14, TD_ALARM_POWER_CUT},
        {16, TD_ALARM_SOS},           {17, TD_ALARM_LOW_BATTERY},
        {18, TD_ALARM_GEOFENCE_EXIT}, {19, TD_ALARM_GEOFENCE_ENTER},
        {20, TD_ALARM_REMOVAL},       {21, TD_ALARM_FALL},
    };
    for (size_t i = 0; i < sizeof(alarms) / sizeof(alarms[0]); i++)
        if (st & (1LL << alarms[i].bit))
            td_rec_alarm(r, alarms[i].alarm);
    if (st & (1 << 3))
        td_rec_raw_bool(r, "worn", true);
    if (st & (1 << 4))
        td_rec_set_bool(r, TD_ATTR_MOTION, false);
    if (st & (1 << 22))
        td_rec_raw_bool(r, "heartRateAlarm", true);
}

/* LAC/CID: decimal, or hex when the field holds hex letters. */
static bool parse_cell_id(td_span s, int64_t *out)
{
    s = td_trim(s);
    return td_parse_int(s, out) || td_parse_hex(s, out);
}

static bool is_mac(td_span s)
{
    if (s.n != 17)
        return false;
    for (size_t i = 0; i < 17; i++)
        if (i % 3 == 2 ? s.p[i] != ':' : !is_hex_char((uint8_t)s.p[i]))
            return false;
    return true;
}

/*
 * The network tail of a position: cells from field `first` on (count, TA,
 * MCC, MNC, count x (LAC, CID, RSSI)), then Wi-Fi (count, m x (SSID, MAC,
 * RSSI)) and accuracy. Wi-Fi entries are found by their MAC, so an SSID
 * holding commas, or firmware that drops TA/MCC/MNC when no cell is sent,
 * cannot shift the fields. Nothing here is required: bad values are skipped.
 */
static void decode_network(td_record *r, const td_span *f, int nf, int first)
{
    int64_t ncells = 0, ta, mcc, mnc;
    int i = first;

    if (i < nf && td_parse_int(td_trim(f[i]), &ncells) && ncells > 0 && i + 3 < nf) {
        if (td_parse_int(td_trim(f[i + 1]), &ta))
            td_rec_raw_int(r, "timingAdvance", ta);
        bool net = td_parse_int(td_trim(f[i + 2]), &mcc) && td_parse_int(td_trim(f[i + 3]), &mnc);
        i += 4;
        for (int64_t k = 0; k < ncells && i + 2 < nf; k++, i += 3) {
            int64_t lac, cid, rssi = 0;
            bool has_rssi = td_parse_int(td_trim(f[i + 2]), &rssi);
            if (net && parse_cell_id(f[i], &lac) && parse_cell_id(f[i + 1], &cid))
                td_rec_add_cell(r, (int)mcc, (int)mnc, lac, cid, has_rssi, (int)rssi);
        }
    } else {
        i++;
    }

    int after = -1;
    for (int k = i; k + 1 < nf; k++) {
        int64_t rssi;
        if (!is_mac(f[k]) || !td_parse_int(td_trim(f[k + 1]), &rssi))
            continue;
        td_rec_add_wifi(r, f[k].p, f[k].n, (int)rssi);
        after = k + 2;
        k++;
    }
    if (after < 0 && ncells > 0)
        after = i + 1; /* past the Wi-Fi count of 0 */
    double acc;
    if (after >= 0 && after < nf && td_parse_double(td_trim(f[after]), &acc))
        td_rec_raw_double(r, "accuracy", acc);
}

/* Decimal degrees with hemisphere; S/W make it negative, a bare sign stays. */
static bool parse_coord(td_span v, td_span hemi, double max, double *out)
{
    double d;
    v = td_trim(v);
    hemi = td_trim(hemi);
    if (!td_parse_double(v, &d) || d < -max || d > max)
        return false;
    if (hemi.n == 1 && (hemi.p[0] == 'S' || hemi.p[0] == 'W'))
        d = d < 0 ? d : -d;
    else if (!(hemi.n == 0 || (hemi.n == 1 && (hemi.p[0] == 'N' || hemi.p[0] == 'E'))))
        return false;
    *out = d;
    return true;
}

/* Position block starting at f[b] (date); UD*, AL*, WT* and PP. */
static int decode_position(td_decode_ctx *ctx, const struct watch_msg *m, int b, bool alarm)
{
    td_span f[WATCH_MAX_FIELDS];
    int nf = td_split(m->content, ',', f, WATCH_MAX_FIELDS);
    int64_t t;
    double lat, lon;

    if (nf < b + 7)
        return td_ctx_error(ctx, TD_EBADFRAME, "watch: %.*s has %d fields, position needs %d",
                            (int)m->word.n, m->word.p, nf, b + 7);
    if (!td_parse_ddmmyy_hhmmss(td_trim(f[b]), td_trim(f[b + 1]), &t))
        return td_ctx_error(ctx, TD_EBADFRAME, "watch: bad date/time '%.*s,%.*s'", (int)f[b].n,
                            f[b].p, (int)f[b + 1].n, f[b + 1].p);
    td_span fix = td_trim(f[b + 2]);
    if (fix.n != 1 || !strchr("AaVv", fix.p[0]))
        return td_ctx_error(ctx, TD_EBADFRAME, "watch: bad fix flag '%.*s'", (int)f[b + 2].n,
                            f[b + 2].p);
    if (!parse_coord(f[b + 3], f[b + 4], 90, &lat))
        return td_ctx_error(ctx, TD_EBADFRAME, "watch: bad latitude '%.*s,%.*s'", (int)f[b + 3].n,
                            f[b + 3].p, (int)f[b + 4].n, f[b + 4].p);
    if (!parse_coord(f[b + 5], f[b + 6], 180, &lon))
        return td_ctx_error(ctx, TD_EBADFRAME, "watch: bad longitude '%.*s,%.*s'", (int)f[b + 5].n,
                            f[b + 5].p, (int)f[b + 6].n, f[b + 6].p);

    td_record *r = td_ctx_add(ctx, TD_REC_POSITION);
    if (!r)
        return td_ctx_error(ctx, TD_ENOMEM, "watch: too many records");
    r->has_time = true;
    r->time_ms = t;
    r->valid = fix.p[0] == 'A' || fix.p[0] == 'a';
    r->latitude = lat;
    r->longitude = lon;
    raw_span(r, "message", m->word);
    if (b > 1)
        raw_span(r, "deviceTime", td_trim(f[1]));

    double v;
    td_span s;
    if (b + 7 < nf && (s = td_trim(f[b + 7])).n) {
        if (td_parse_double(s, &v) && v >= 0 && v < 2000)
            r->speed = v;
        else
            raw_span(r, "speed", s);
    }
    if (b + 8 < nf && (s = td_trim(f[b + 8])).n) {
        if (td_parse_double(s, &v) && v >= 0 && v <= 360)
            r->course = v;
        else
            raw_span(r, "course", s);
    }
    if (b + 9 < nf && (s = td_trim(f[b + 9])).n) {
        if (td_parse_double(s, &v))
            r->altitude = v;
        else
            raw_span(r, "altitude", s);
    }
    if (b + 10 < nf)
        opt_int(r, TD_ATTR_SATELLITES, f[b + 10], 0, 99);
    if (b + 11 < nf)
        opt_int(r, TD_ATTR_RSSI, f[b + 11], -200, 255);
    if (b + 12 < nf)
        opt_int(r, TD_ATTR_BATTERY_LEVEL, f[b + 12], 0, 100);
    if (b + 13 < nf)
        opt_int(r, TD_ATTR_STEPS, f[b + 13], 0, INT32_MAX);
    if (b + 14 < nf)
        opt_raw_int(r, "rolls", f[b + 14]);
    if (b + 15 < nf)
        decode_status(r, f[b + 15]);
    if (b + 16 < nf)
        decode_network(r, f, nf, b + 16);

    if (alarm)
        return reply(ctx, m, "AL");
    return 0;
}

static int on_lk(td_decode_ctx *ctx, const struct watch_msg *m)
{
    td_span f[4];
    td_record *r = td_ctx_add(ctx, TD_REC_HEARTBEAT);

    if (!r)
        return td_ctx_error(ctx, TD_ENOMEM, "watch: too many records");
    if (m->has_args) {
        int nf = td_split(m->args, ',', f, 4);
        opt_int(r, TD_ATTR_STEPS, f[0], 0, INT32_MAX);
        if (nf > 1)
            opt_raw_int(r, "rolls", f[1]);
        if (nf > 2) {
            td_span bat = f[2]; /* some firmware appends ":..." */
            const char *colon = memchr(bat.p, ':', bat.n);
            if (colon)
                bat.n = (size_t)(colon - bat.p);
            opt_int(r, TD_ATTR_BATTERY_LEVEL, bat, 0, 100);
        }
    }
    return reply(ctx, m, "LK");
}

static td_record *health_record(td_decode_ctx *ctx)
{
    return td_ctx_add(ctx, TD_REC_STATUS);
}

/* 0 means "no reading" in every health message. */
static void health_int(td_record *r, td_attr a, td_span s, int64_t hi)
{
    int64_t v;
    s = td_trim(s);
    if (td_parse_int(s, &v) && v == 0)
        return;
    opt_int(r, a, s, 1, hi);
}

/* heart,hr / PULSE,hr / hrtstart[,hr] (without a value: the ack of hrtstart). */
static int on_heart(td_decode_ctx *ctx, const struct watch_msg *m)
{
    if (!m->has_args && word_is(m->word, "hrtstart")) {
        td_record *r = td_ctx_add(ctx, TD_REC_ACK);
        if (!r)
            return td_ctx_error(ctx, TD_ENOMEM, "watch: too many records");
        raw_span(r, "command", m->word);
        set_ack(ctx, m->word, m->args, false);
        return 0;
    }
    td_record *r = health_record(ctx);
    if (!r)
        return td_ctx_error(ctx, TD_ENOMEM, "watch: too many records");
    td_span f[2];
    td_split(m->args, ',', f, 2);
    health_int(r, TD_ATTR_HEART_RATE, f[0], 299);
    return 0;
}

/* bphrt,sys,dia,hr,height,gender,age,weight and BLOOD,sys,dia */
static int on_blood(td_decode_ctx *ctx, const struct watch_msg *m)
{
    static const char *const extra[] = {"height", "gender", "age", "weight"};
    td_span f[8];
    int nf = td_split(m->args, ',', f, 8);
    td_record *r = health_record(ctx);

    if (!r)
        return td_ctx_error(ctx, TD_ENOMEM, "watch: too many records");
    health_int(r, TD_ATTR_SYSTOLIC, f[0], 400);
    if (nf > 1)
        health_int(r, TD_ATTR_DIASTOLIC, f[1], 400);
    if (!word_is(m->word, "bphrt"))
        return 0;
    if (nf > 2)
        health_int(r, TD_ATTR_HEART_RATE, f[2], 299);
    for (int i = 3; i < nf && i < 7; i++)
        opt_raw_int(r, extra[i - 3], f[i]);
    return reply(ctx, m, "bphrt");
}

/* oxygen,type,spo2 */
static int on_oxygen(td_decode_ctx *ctx, const struct watch_msg *m)
{
    td_span f[3];
    int nf = td_split(m->args, ',', f, 3);
    td_record *r = health_record(ctx);

    if (!r)
        return td_ctx_error(ctx, TD_ENOMEM, "watch: too many records");
    opt_raw_int(r, "oxygenType", f[0]);
    if (nf > 1)
        health_int(r, TD_ATTR_SPO2, f[1], 100);
    return reply(ctx, m, "oxygen,1");
}

/* TEMP,temp and btemp2,mode,temp (temp 0/1: reading too low/too high). */
static int on_temp(td_decode_ctx *ctx, const struct watch_msg *m)
{
    bool b2 = word_is(m->word, "btemp2");
    td_span f[3];
    int nf = td_split(m->args, ',', f, 3);
    td_record *r = health_record(ctx);

    if (!r)
        return td_ctx_error(ctx, TD_ENOMEM, "watch: too many records");
    td_span t = f[0];
    if (b2) {
        opt_raw_int(r, "temperatureMode", f[0]);
        t = nf > 1 ? td_trim(f[1]) : (td_span){"", 0};
        if (td_span_eq(t, "0") || td_span_eq(t, "1")) {
            const char *state = t.p[0] == '0' ? "low" : "high";
            td_rec_raw_str(r, "temperatureState", state, strlen(state));
            t.n = 0;
        }
    }
    opt_double(r, TD_ATTR_BODY_TEMPERATURE, t, 0.1, 49.9);
    return b2 ? reply(ctx, m, "btemp2") : 0;
}

static void voice_raw(td_record *r, td_span data, int *bad)
{
    td_rec_raw_int(r, "voiceLength", (int64_t)unescaped_len(data.p, data.n, bad));
    if (td_span_starts(data, "#!AMR"))
        td_rec_raw_str(r, "voiceFormat", "amr", 3);
    if (*bad)
        td_rec_raw_int(r, "escapeErrors", *bad);
}

/* TK,<voice> from the watch, or TK,1 / TK,0 acknowledging ours. */
static int on_tk(td_decode_ctx *ctx, const struct watch_msg *m)
{
    bool ack = td_span_eq(m->args, "1") || td_span_eq(m->args, "0");
    td_record *r = td_ctx_add(ctx, ack ? TD_REC_ACK : TD_REC_OTHER);
    int bad = 0;

    if (!r)
        return td_ctx_error(ctx, TD_ENOMEM, "watch: too many records");
    raw_span(r, ack ? "command" : "message", m->word);
    if (ack) {
        raw_span(r, "result", m->args);
        set_ack(ctx, m->word, m->args, m->args.p[0] == '0');
        return 0;
    }
    voice_raw(r, m->args, &bad);
    /* A message the watch is told failed (TK,0) is not kept. */
    if (!bad)
        put_media(ctx, (td_span){"", 0}, 1, 1, m->args);
    return reply(ctx, m, bad ? "TK,0" : "TK,1");
}

/* JXTK,f1,name,chunk,chunks,<voice chunk> */
static int on_jxtk(td_decode_ctx *ctx, const struct watch_msg *m)
{
    td_span f[5];
    int nf = td_split(m->args, ',', f, 5);
    td_record *r = td_ctx_add(ctx, TD_REC_OTHER);
    int bad = 0;

    if (!r)
        return td_ctx_error(ctx, TD_ENOMEM, "watch: too many records");
    raw_span(r, "message", m->word);
    if (nf < 5) {
        raw_span(r, "content", m->args);
        return reply(ctx, m, "JXTKR,1");
    }
    raw_span(r, "jxtkField1", f[0]);
    raw_span(r, "voiceId", f[1]);
    opt_raw_int(r, "voiceChunk", f[2]);
    opt_raw_int(r, "voiceChunks", f[3]);
    voice_raw(r, f[4], &bad);
    int64_t index, total;
    if (td_parse_int(td_trim(f[2]), &index) && td_parse_int(td_trim(f[3]), &total) && index >= 0 &&
        index <= INT_MAX && total >= 0 && total <= INT_MAX)
        put_media(ctx, f[1], (int)index, (int)total, f[4]);
    return reply(ctx, m, "JXTKR,1");
}

/* img,source,yyMMddHHmmss,<jpeg> */
static int on_img(td_decode_ctx *ctx, const struct watch_msg *m)
{
    td_span f[3];
    int nf = td_split(m->args, ',', f, 3);
    td_record *r = td_ctx_add(ctx, TD_REC_OTHER);
    int bad = 0;

    if (!r)
        return td_ctx_error(ctx, TD_ENOMEM, "watch: too many records");
    raw_span(r, "message", m->word);
    opt_raw_int(r, "imageSource", f[0]);
    if (nf > 1)
        raw_span(r, "imageTime", f[1]);
    if (nf > 2) {
        td_rec_raw_int(r, "imageLength", (int64_t)unescaped_len(f[2].p, f[2].n, &bad));
        if (bad)
            td_rec_raw_int(r, "escapeErrors", bad);
    }
    return 0;
}

/* CONFIG,TY:model,UL:seconds,... */
static int on_config(td_decode_ctx *ctx, const struct watch_msg *m)
{
    td_span f[32];
    int nf = td_split(m->args, ',', f, 32);
    td_record *r = td_ctx_add(ctx, TD_REC_OTHER);

    if (!r)
        return td_ctx_error(ctx, TD_ENOMEM, "watch: too many records");
    raw_span(r, "message", m->word);
    raw_span(r, "config", m->args);
    for (int i = 0; i < nf; i++) {
        td_span kv = td_trim(f[i]);
        if (td_span_starts(kv, "TY:"))
            raw_span(r, "model", (td_span){kv.p + 3, kv.n - 3});
        else if (td_span_starts(kv, "UL:"))
            opt_raw_int(r, "uploadInterval", (td_span){kv.p + 3, kv.n - 3});
    }
    return reply(ctx, m, "CONFIG,1");
}

static int on_iccid(td_decode_ctx *ctx, const struct watch_msg *m)
{
    td_record *r = td_ctx_add(ctx, TD_REC_OTHER);
    if (!r)
        return td_ctx_error(ctx, TD_ENOMEM, "watch: too many records");
    raw_span(r, "message", m->word);
    raw_span(r, "iccid", td_trim(m->args));
    return 0;
}

/* Messages answered with a fixed reply (NULL: none) and kept as "other". */
static int on_plain(td_decode_ctx *ctx, const struct watch_msg *m, const char *answer)
{
    td_record *r = td_ctx_add(ctx, TD_REC_OTHER);
    if (!r)
        return td_ctx_error(ctx, TD_ENOMEM, "watch: too many records");
    raw_span(r, "message", m->word);
    if (m->has_args)
        raw_span(r, "content", m->args);
    return answer ? reply(ctx, m, "%s", answer) : 0;
}

static int on_init(td_decode_ctx *ctx, const struct watch_msg *m)
{
    return on_plain(ctx, m, "INIT,1");
}

static int on_tkq(td_decode_ctx *ctx, const struct watch_msg *m)
{
    return on_plain(ctx, m, word_is(m->word, "TKQ2") ? "TKQ2" : "TKQ");
}

static int on_pp(td_decode_ctx *ctx, const struct watch_msg *m)
{
    return decode_position(ctx, m, 2, false);
}

/* The watch acknowledges a server command with the command word. */
static int on_ack(td_decode_ctx *ctx, const struct watch_msg *m)
{
    td_record *r = td_ctx_add(ctx, TD_REC_ACK);
    if (!r)
        return td_ctx_error(ctx, TD_ENOMEM, "watch: too many records");
    raw_span(r, "command", m->word);
    if (m->has_args)
        raw_span(r, word_is(m->word, "VERNO") ? "version" : "result", m->args);
    set_ack(ctx, m->word, m->args, false);
    return 0;
}

static const struct {
    const char *word;
    int (*fn)(td_decode_ctx *ctx, const struct watch_msg *m);
} handlers[] = {
    {"LK", on_lk},       {"heart", on_heart}, {"PULSE", on_heart},   {"hrtstart", on_heart},
    {"bphrt", on_blood}, {"BLOOD", on_blood}, {"oxygen", on_oxygen}, {"TEMP", on_temp},
    {"btemp2", on_temp}, {"TK", on_tk},       {"JXTK", on_jxtk},     {"img", on_img},
    {"TKQ", on_tkq},     {"TKQ2", on_tkq},    {"CONFIG", on_config}, {"ICCID", on_iccid},
    {"CCID", on_iccid},  {"INIT", on_init},   {"PP", on_pp},
};

/* Command words the watch echoes back as acknowledgements (BEE section 5). */
static const char ack_words[] =
    "UPLOAD CR CENTER PW CALL MONITOR SOS1 SOS2 SOS3 SOS FACTORY RESET POWEROFF LZ SOSSMS "
    "LOWBAT REMOVE REMOVESMS VERNO TS FIND FLOWER REMIND SILENCETIME SILENCETIME2 WALKTIME "
    "SLEEPTIME PHB PHB2 WHITELIST1 WHITELIST2 profile MESSAGE HEALTHAUTOSET bodytemp "
    "bodytemp2 rcapture FALLDOWN LSSET APPLOCK APN";

static bool is_ack_word(td_span w)
{
    for (const char *p = ack_words; *p;) {
        size_t n = strcspn(p, " ");
        if (w.n == n && strncasecmp(w.p, p, n) == 0)
            return true;
        p += n + (p[n] == ' ');
    }
    return false;
}

static int decode(td_decode_ctx *ctx, const uint8_t *frame, size_t len)
{
    struct watch_msg m;

    while (len > 0 && (frame[len - 1] == '\r' || frame[len - 1] == '\n'))
        len--;
    if (len == 0 || frame[0] != '[' || parse_header(frame, len, &m.h) != HDR_OK)
        return td_ctx_error(ctx, TD_EBADFRAME, "watch: bad header '%.*s'",
                            (int)(len < 40 ? len : 40), (const char *)frame);
    if (ctx->session && td_session_identify(ctx->session, m.h.id.p, m.h.id.n) < 0)
        return td_ctx_error(ctx, TD_EBADFRAME, "watch: bad device id '%.*s'", (int)m.h.id.n,
                            m.h.id.p);
    if (ctx->session) {
        struct watch_state st = {{m.h.mf[0], m.h.mf[1]}, m.h.seq.n > 0};
        memcpy(ctx->session->state, &st, sizeof(st));
    }

    size_t end = len;
    if (end > m.h.content && frame[end - 1] == ']')
        end--;
    m.content = (td_span){(const char *)frame + m.h.content, end - m.h.content};
    const char *comma = memchr(m.content.p, ',', m.content.n);
    m.has_args = comma != NULL;
    m.word = (td_span){m.content.p, comma ? (size_t)(comma - m.content.p) : m.content.n};
    if (comma)
        m.args = (td_span){comma + 1, m.content.n - m.word.n - 1};
    else
        m.args = (td_span){m.content.p + m.content.n, 0};

    for (size_t i = 0; i < sizeof(handlers) / sizeof(handlers[0]); i++)
        if (word_is(m.word, handlers[i].word))
            return handlers[i].fn(ctx, &m);
    if (word_starts(m.word, "UD") || word_starts(m.word, "WT"))
        return decode_position(ctx, &m, 1, false);
    if (word_starts(m.word, "AL"))
        return decode_position(ctx, &m, 1, true);
    if (is_ack_word(m.word))
        return on_ack(ctx, &m);
    return on_plain(ctx, &m, NULL);
}

/* ---- downlink commands ---------------------------------------------------- */

#define WATCH_NO_PARAMS                                                                            \
    {                                                                                              \
        {                                                                                          \
            NULL, TD_PARAM_INT, false, 0, 0, 0, NULL                                               \
        }                                                                                          \
    }
#define WATCH_PHONE(label)                                                                         \
    {                                                                                              \
        {                                                                                          \
            "phone", TD_PARAM_PHONE, false, 3, 20, 0, label                                        \
        }                                                                                          \
    }
#define WATCH_ENABLE                                                                               \
    {                                                                                              \
        {                                                                                          \
            "enable", TD_PARAM_BOOL, false, 0, 1, 0, "On"                                          \
        }                                                                                          \
    }

static const td_cmd_type watch_commands[] = {
    {"positionSingle", "Locate now", WATCH_NO_PARAMS},
    {"positionPeriodic",
     "Reporting interval",
     {{"frequency", TD_PARAM_INT, false, 60, 65535, 0, "Interval (s)"}}},
    {"sosNumber",
     "SOS number",
     {{"index", TD_PARAM_INT, false, 1, 3, 1, "Slot (1-3)"},
      {"phone", TD_PARAM_PHONE, false, 3, 20, 0, "Phone number"}}},
    {"centerNumber", "Centre number", WATCH_PHONE("Phone number")},
    {"voiceMonitoring", "Listen in", WATCH_PHONE("Number the watch calls")},
    {"callBack", "Call back", WATCH_PHONE("Phone number")},
    {"call", "Call a number", WATCH_PHONE("Phone number")},
    {"message",
     "Text message",
     {{"message", TD_PARAM_TEXT, false, 1, 100, 0, "Message (up to 100 characters)"}}},
    {"voiceMessage",
     "Voice message",
     {{"voiceId", TD_PARAM_DATA, false, 1, 64000, 0, "Voice message (AMR, up to 15 s)"}}},
    {"findDevice", "Ring the watch", WATCH_NO_PARAMS},
    {"alarmSos", "SOS SMS alerts", WATCH_ENABLE},
    {"alarmBattery", "Low-battery SMS alerts", WATCH_ENABLE},
    {"alarmRemove", "Take-off alarm", WATCH_ENABLE},
    {"rebootDevice", "Reboot", WATCH_NO_PARAMS},
    {"powerOff", "Power off", WATCH_NO_PARAMS},
    {"factoryReset", "Factory reset", WATCH_NO_PARAMS},
    {"setTimezone",
     "Time zone and language",
     {{"timezone", TD_PARAM_INT, false, -720, 840, 0, "Offset from UTC (minutes)"},
      {"language", TD_PARAM_INT, true, 0, 36, 0,
       "Language (0 English, 1 Chinese, 5 German, ...)"}}},
    {"getVersion", "Firmware version", WATCH_NO_PARAMS},
    {"getSettings", "Settings", WATCH_NO_PARAMS},
    {"measureHeartRate", "Measure heart rate and blood pressure", WATCH_NO_PARAMS},
    {"measureTemperature", "Measure temperature", WATCH_NO_PARAMS},
    {"takePhoto", "Take a photo", WATCH_NO_PARAMS},
    {"custom",
     "Custom command",
     {{"data", TD_PARAM_TEXT, true, 1, 1024, 0, "Frame content, e.g. PW,123456"},
      {"hex", TD_PARAM_HEX, true, 1, 1024, 0, "Frame content in hex"}}},
    {NULL, NULL, WATCH_NO_PARAMS},
};

/*
 * The content word of each type; the content is the word and then, after a
 * comma each, the parameters in the order declared: INT as decimal, BOOL
 * 0|1, PHONE as given, TEXT as UTF-16BE hex, DATA 0x7D-escaped. sosNumber,
 * setTimezone and custom are written by hand.
 */
static const struct {
    const char *type, *word;
} watch_words[] = {
    {"positionSingle", "CR"},
    {"positionPeriodic", "UPLOAD"},
    {"centerNumber", "CENTER"},
    {"voiceMonitoring", "MONITOR"},
    {"callBack", "CALL"},
    {"call", "CALL"},
    {"message", "MESSAGE"},
    {"voiceMessage", "TK"},
    {"findDevice", "FIND"},
    {"alarmSos", "SOSSMS"},
    {"alarmBattery", "LOWBAT"},
    {"alarmRemove", "REMOVE"},
    {"rebootDevice", "RESET"},
    {"powerOff", "POWEROFF"},
    {"factoryReset", "FACTORY"},
    {"getVersion", "VERNO"},
    {"getSettings", "TS"},
    {"measureHeartRate", "hrtstart,1"},
    {"measureTemperature", "bodytemp2"},
    {"takePhoto", "rcapture"},
};

/* Binary data with 0x7D, '[', ']', ',' and '*' escaped as 0x7D 0x01..0x05. */
static void put_escaped(td_enc *e, const char *data, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const uint8_t *x = memchr(escaped, (uint8_t)data[i], sizeof(escaped));
        uint8_t pair[2] = {0x7D, x ? (uint8_t)(x - escaped + 1) : 0};
        if (x)
            td_enc_put(e, pair, 2);
        else
            td_enc_put(e, data + i, 1);
    }
}

/* The ack key of custom content: its first word when decode() reports that
 * word as an answer (upper-cased), else "" (no answer expected). */
static void custom_ack(const char *content, size_t n, char ack[TD_ACK_MAX])
{
    const char *comma = memchr(content, ',', n);
    td_span w = {content, comma ? (size_t)(comma - content) : n};
    if (w.n >= TD_ACK_MAX || !(is_ack_word(w) || word_is(w, "TK") || word_is(w, "hrtstart")))
        return;
    for (size_t i = 0; i < w.n; i++)
        ack[i] = (char)toupper((unsigned char)w.p[i]);
    ack[w.n] = '\0';
}

/* The content of cmd (everything between the header and ']'); sets ack. */
static int put_content(td_enc *e, char ack[TD_ACK_MAX])
{
    const td_cmd_type *t = e->cmd->def;
    const char *word = NULL;
    const td_cmd_arg *a;
    char tz[TD_ENC_TZ_MAX];
    int rc;

    if (strcmp(t->type, "custom") == 0) {
        if ((rc = td_enc_custom(e, &a)) < 0)
            return rc;
        custom_ack(a->str, a->len, ack);
        return 0;
    }
    if (strcmp(t->type, "sosNumber") == 0) {
        long index = td_enc_arg(e, "index")->num;
        a = td_enc_arg(e, "phone");
        td_enc_putf(e, "SOS%ld,", index);
        td_enc_put(e, a->str, a->len);
        snprintf(ack, TD_ACK_MAX, "SOS%ld", index);
        return 0;
    }
    if (strcmp(t->type, "setTimezone") == 0) {
        if ((rc = td_enc_tz_hours(e, td_enc_arg(e, "timezone")->num, tz)) < 0)
            return rc;
        td_enc_putf(e, "LZ,%ld,%s", td_enc_arg(e, "language")->num, tz);
        snprintf(ack, TD_ACK_MAX, "LZ");
        return 0;
    }

    for (size_t i = 0; i < sizeof(watch_words) / sizeof(watch_words[0]); i++)
        if (strcmp(watch_words[i].type, t->type) == 0)
            word = watch_words[i].word;
    if (!word)
        return td_enc_fail(e, TD_EUNSUPPORTED, "watch: no command '%s'", t->type);
    size_t wl = strcspn(word, ",");
    for (size_t i = 0; i < wl && i < TD_ACK_MAX - 1; i++)
        ack[i] = (char)toupper((unsigned char)word[i]);
    ack[wl < TD_ACK_MAX - 1 ? wl : TD_ACK_MAX - 1] = '\0';
    td_enc_put(e, word, strlen(word));
    for (int i = 0; i < TD_CMD_PARAMS_MAX && t->params[i].name; i++) {
        a = &e->cmd->arg[i];
        td_enc_put(e, ",", 1);
        switch (t->params[i].kind) {
        case TD_PARAM_INT:
            td_enc_putf(e, "%ld", a->num);
            break;
        case TD_PARAM_BOOL:
            td_enc_put(e, a->num ? "1" : "0", 1);
            break;
        case TD_PARAM_TEXT:
            if (!td_enc_utf16_hex(e, a->str, a->len))
                return td_enc_fail(e, TD_EINVAL, "watch: the %s is not valid UTF-8",
                                   t->params[i].name);
            break;
        case TD_PARAM_DATA:
            put_escaped(e, a->str, a->str ? a->len : 0);
            break;
        default: /* PHONE, HEX: as given */
            td_enc_put(e, a->str, a->str ? a->len : 0);
            break;
        }
    }
    return 0;
}

/*
 * encode: `[MF*ID*[0001*]LLLL*CONTENT]` with MF as the device last used it
 * ("3G" for a device never seen), the sequence field when its frames carry
 * one, and LLLL the upper-case hex byte count of CONTENT as sent. The ack
 * key is the command word upper-cased (SOS1, UPLOAD, HRTSTART, ...).
 */
static int encode(const td_session *s, const td_command *cmd, uint8_t *out, size_t cap, size_t *len,
                  char ack[TD_ACK_MAX], char *err, size_t errcap)
{
    td_enc e = {.proto = "watch", .cmd = cmd, .out = out, .cap = cap, .err = err, .errcap = errcap};
    struct watch_state st = {{0, 0}, 0};
    int rc;

    *len = 0;
    ack[0] = '\0';
    if (!s || !s->device_id[0])
        return td_enc_fail(&e, TD_EINVAL, "watch: no device id for this device yet");
    memcpy(&st, s->state, sizeof(st));
    if (!st.mf[0])
        memcpy(st.mf, WATCH_MF_DEFAULT, 2);
    td_enc_putf(&e, "[%.2s*%s*%s", st.mf, s->device_id, st.indexed ? WATCH_SEQ_DOWNLINK "*" : "");
    size_t lf = e.n;
    td_enc_put(&e, "0000*", 5);
    size_t content = e.n;
    if ((rc = put_content(&e, ack)) < 0) {
        ack[0] = '\0';
        return rc;
    }
    size_t clen = e.n - content; /* e.n also counts what did not fit */
    td_enc_put(&e, "]", 1);
    if (clen > WATCH_CONTENT_MAX) {
        ack[0] = '\0';
        return td_enc_fail(&e, TD_ETOOBIG,
                           "watch: the %s content is %zu bytes, a frame holds at most %d",
                           cmd->def->type, clen, WATCH_CONTENT_MAX);
    }
    if (!e.over) {
        char hex[5];
        snprintf(hex, sizeof(hex), "%04zX", clen);
        memcpy(out + lf, hex, 4);
    }
    return td_enc_done(&e, len, ack);
}

const td_protocol td_proto_watch = {
    /* registry key, config prefix and `decode --protocol` name */
    .name = "watch",
    .devices =
        "SeTracker / Beesure 3G and 4G watches and health wearables (SG, 3G, CS, ZJ vendor codes)",
    /* the vendor uses TCP only; UDP costs nothing and is the same text */
    .transports = TD_TCP | TD_UDP,
    /* header (id up to 31) + 0xFFFF bytes of content + ']' */
    .max_frame = WATCH_MAX_FRAME,
    /* '[' + 2-character vendor code + '*' + device id + '*' */
    .detect = detect,
    /* by LLLL for binary messages, first ']' for text; resyncs on '[' */
    .frame = frame,
    /* one record per frame; replies as the vendor document asks */
    .decode = decode,
    /* locate, interval, numbers, calls, text and voice messages, alarm
     * switches, power, time zone, version/settings, health, photo, custom */
    .commands = watch_commands,
    /* [MF*ID*LLLL*CONTENT] in the device's own vendor code and framing */
    .encode = encode,
};
