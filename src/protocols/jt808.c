/*
 * jt808: the Chinese road-transport terminal protocol JT/T 808 (editions
 * 2011, 2013 and 2019), spoken by most Chinese vehicle trackers, dash
 * cameras, e-locks and many personal trackers, plus the vendor additions
 * that such devices put in the same frames. Facts, sources and decisions:
 * docs/protocols/jt808.md.
 *
 * A frame is 0x7e, header, body, XOR checksum, 0x7e; inside, 0x7e is sent
 * as 0x7d 0x02 and 0x7d as 0x7d 0x01. The header is message id (WORD),
 * body attributes (WORD: length in bits 0-9, encryption 10-12, packetised
 * 13, 2019 edition 14), [2019: protocol version BYTE], terminal phone number
 * (BCD[6]; 2019: BCD[10]), message serial (WORD), [packet count and index
 * (WORD, WORD) when packetised]. All numbers are big-endian; times are BCD
 * YYMMDDhhmmss in GMT+8.
 *
 * Message types: 0x0001 terminal general response; 0x0002 heartbeat (and
 * 0x0506); 0x0003 deregistration; 0x0004 server time query (2019); 0x0100
 * registration (answered 0x8100 with an authentication code); 0x0102
 * authentication; 0x0104 parameter query response; 0x0107 terminal
 * attributes; 0x0109 time sync request (vendor; answered 0x8109); 0x0200
 * location report with its additional-information items; 0x0201 location
 * query response; 0x0301 event report; 0x0500 vehicle control response;
 * 0x0701 waybill; 0x0702 driver identity; 0x0704 batch location upload;
 * 0x0210 batch (vendor); 0x0800/0x0801 multimedia event and data; 0x0900
 * uplink pass-through (with the OBD vehicle data of type 0xF0); 0x1300 and
 * 0x6006 text answers (vendor); 0x2070 accelerometer samples (vendor);
 * 0x5501/0x5502 e-lock location with its one-byte serial (Jointech);
 * packets of long messages (acknowledged, kept raw); any other terminal id
 * kept raw; the 0xe7 framing some units use; and the
 * `(id,1,001,BASE,2,TIME)` text time request. Every message from the
 * terminal that is not itself a response gets the platform general
 * response 0x8001 with its serial and id, unless the standard names
 * another answer.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "core/text.h"
#include "protocols/registry.h"

#define JT_FLAG 0x7e
#define JT_ESC 0x7d
#define JT_BODY_MAX 1023 /* bits 0-9 of the body attributes */
#define JT_HEAD_MAX 21   /* 2019 header with packet fields */
#define JT_RAW_MAX (JT_HEAD_MAX + JT_BODY_MAX + 1)
/* Every byte escaped, plus both flags. */
#define JT_MAX_FRAME (2 * JT_RAW_MAX + 2)
#define JT_DETECT_WHOLE 256          /* an unknown id must show its whole frame this soon */
#define JT_TEXT_MAX 256              /* a '(' text frame longer than this has lost its ')' */
#define JT_TZ_MS (8 * 3600 * 1000LL) /* device times are GMT+8 */
#define JT_SPEED_MAX 1000.0          /* km/h; above is a broken speed field */

/* Message ids, terminal to platform. */
enum {
    JT_TERM_RESPONSE = 0x0001,
    JT_HEARTBEAT = 0x0002,
    JT_DEREGISTER = 0x0003,
    JT_TIME_QUERY = 0x0004,
    JT_RETRANSMIT_REQUEST = 0x0005,
    JT_REGISTER = 0x0100,
    JT_AUTH = 0x0102,
    JT_PARAMS_RESPONSE = 0x0104,
    JT_ATTRIBUTES = 0x0107,
    JT_UPGRADE_RESULT = 0x0108,
    JT_TIME_SYNC = 0x0109,
    JT_LOCATION = 0x0200,
    JT_LOCATION_RESPONSE = 0x0201,
    JT_BATCH2 = 0x0210,
    JT_EVENT = 0x0301,
    JT_QUESTION_ANSWER = 0x0302,
    JT_INFO_ORDER = 0x0303,
    JT_CONTROL_RESPONSE = 0x0500,
    JT_RECORDER_DATA = 0x0700,
    JT_WAYBILL = 0x0701,
    JT_DRIVER = 0x0702,
    JT_BATCH = 0x0704,
    JT_CAN = 0x0705,
    JT_MEDIA_EVENT = 0x0800,
    JT_MEDIA_DATA = 0x0801,
    JT_MEDIA_SEARCH_RESPONSE = 0x0802,
    JT_CAMERA_RESPONSE = 0x0805,
    JT_PASSTHROUGH = 0x0900,
    JT_COMPRESSED = 0x0901,
    JT_RSA_KEY = 0x0A00,
    JT_HEARTBEAT2 = 0x0506,
    JT_TIMEZONE_SYNC = 0x1007,
    JT_TEXT_REPORT = 0x6006,
    JT_TEXT_ANSWER = 0x1300,
    JT_ACCELERATION = 0x2070,
    JT_LOCK_LOCATION = 0x5501,
    JT_LOCK_BLIND = 0x5502,
};

/* Message ids, platform to terminal. */
enum {
    JT_PLAT_RESPONSE = 0x8001,
    JT_TIME_REPLY = 0x8004,
    JT_REGISTER_REPLY = 0x8100,
    JT_TIME_SYNC_REPLY = 0x8109,
    JT_MEDIA_REPLY = 0x8800,
    JT_LOCK_RESPONSE = 0x4401,
};

/* Body attribute bits. */
#define JT_ATTR_LEN 0x03ff
#define JT_ATTR_ENC(a) (((a) >> 10) & 7)
#define JT_ATTR_PACKET 0x2000
#define JT_ATTR_2019 0x4000
#define JT_ATTR_LOCK_ACK 0x8000 /* 0x5501/0x5502: the lock wants 0x4401 */

/* What a message id is, for detection and for the answer. */
enum jt_kind {
    JT_K_ACKED = 1, /* answered with 0x8001 */
    JT_K_RESPONSE,  /* itself an answer: not answered */
    JT_K_OWN_REPLY, /* answered with its own message */
};

static const struct jt_known {
    uint16_t id;
    uint8_t kind;
} jt_known[] = {
    {JT_TERM_RESPONSE, JT_K_RESPONSE},
    {JT_HEARTBEAT, JT_K_ACKED},
    {JT_DEREGISTER, JT_K_ACKED},
    {JT_TIME_QUERY, JT_K_OWN_REPLY},
    {JT_RETRANSMIT_REQUEST, JT_K_ACKED},
    {JT_REGISTER, JT_K_OWN_REPLY},
    {JT_AUTH, JT_K_ACKED},
    {JT_PARAMS_RESPONSE, JT_K_RESPONSE},
    {JT_ATTRIBUTES, JT_K_RESPONSE},
    {JT_UPGRADE_RESULT, JT_K_ACKED},
    {JT_TIME_SYNC, JT_K_OWN_REPLY},
    {JT_LOCATION, JT_K_ACKED},
    {JT_LOCATION_RESPONSE, JT_K_RESPONSE},
    {JT_BATCH2, JT_K_ACKED},
    {JT_EVENT, JT_K_ACKED},
    {JT_QUESTION_ANSWER, JT_K_ACKED},
    {JT_INFO_ORDER, JT_K_ACKED},
    {JT_CONTROL_RESPONSE, JT_K_RESPONSE},
    {JT_RECORDER_DATA, JT_K_ACKED},
    {JT_WAYBILL, JT_K_ACKED},
    {JT_DRIVER, JT_K_ACKED},
    {JT_BATCH, JT_K_ACKED},
    {JT_CAN, JT_K_ACKED},
    {JT_MEDIA_EVENT, JT_K_ACKED},
    {JT_MEDIA_DATA, JT_K_OWN_REPLY},
    {JT_MEDIA_SEARCH_RESPONSE, JT_K_RESPONSE},
    {JT_CAMERA_RESPONSE, JT_K_RESPONSE},
    {JT_PASSTHROUGH, JT_K_ACKED},
    {JT_COMPRESSED, JT_K_ACKED},
    {JT_RSA_KEY, JT_K_ACKED},
    {JT_TEXT_ANSWER, JT_K_RESPONSE},
    {JT_HEARTBEAT2, JT_K_ACKED},
    {JT_TIMEZONE_SYNC, JT_K_ACKED},
    {JT_TEXT_REPORT, JT_K_ACKED},
    {JT_ACCELERATION, JT_K_RESPONSE},
    {JT_LOCK_LOCATION, JT_K_OWN_REPLY},
    {JT_LOCK_BLIND, JT_K_OWN_REPLY},
};

static const struct jt_known *known(unsigned id)
{
    for (size_t i = 0; i < sizeof(jt_known) / sizeof(jt_known[0]); i++)
        if (jt_known[i].id == id)
            return &jt_known[i];
    return NULL;
}

/* The one-byte serial of the Jointech lock messages. */
static bool short_serial(unsigned id)
{
    return id == JT_LOCK_LOCATION || id == JT_LOCK_BLIND;
}

/* Per-session state (td_session.state). */
typedef struct jt_state {
    uint16_t serial;   /* serial of the platform's next message */
    uint32_t media_id; /* multimedia id of the packetised 0x0801 in progress */
} jt_state;

/* A parsed header; `raw` is the unescaped frame without flags. */
typedef struct jt_msg {
    const struct jt_variant *v; /* framing the terminal used */
    unsigned id, attr, serial;
    bool v2019;
    unsigned version;
    const uint8_t *phone; /* BCD, phone_len bytes, as received */
    size_t phone_len;
    unsigned packets, packet; /* 0 when not packetised */
    const uint8_t *body;
    size_t body_len;
} jt_msg;

/* ---- bytes ---- */

/* A bounded big-endian reader; reading past the end sets `short_` and
 * returns zeros. */
typedef struct jt_rd {
    const uint8_t *p;
    size_t n, at;
    bool short_;
} jt_rd;

static bool rd_has(const jt_rd *r, size_t k)
{
    return r->n - r->at >= k;
}

static unsigned rd_u8(jt_rd *r)
{
    if (!rd_has(r, 1)) {
        r->short_ = true;
        r->at = r->n;
        return 0;
    }
    return r->p[r->at++];
}

static unsigned rd_u16(jt_rd *r)
{
    unsigned hi = rd_u8(r);
    return hi << 8 | rd_u8(r);
}

static const uint8_t *rd_bytes(jt_rd *r, size_t k)
{
    if (!rd_has(r, k)) {
        r->short_ = true;
        r->at = r->n;
        return NULL;
    }
    const uint8_t *p = r->p + r->at;
    r->at += k;
    return p;
}

static size_t rd_left(const jt_rd *r)
{
    return r->n - r->at;
}

static unsigned be16(const uint8_t *p)
{
    return (unsigned)p[0] << 8 | p[1];
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Two BCD digits; -1 when a nibble is not a digit. */
static int bcd2(uint8_t b)
{
    return (b >> 4) > 9 || (b & 15) > 9 ? -1 : (b >> 4) * 10 + (b & 15);
}

/*
 * The two framings: the standard one (flag 0x7e, escape 0x7d 0x01/0x02 for
 * 0x7d/0x7e) and the alternative one some units use (flag 0xe7, escapes
 * 0xe6 0x01/0x02 for 0xe6/0xe7 and 0x3e 0x01/0x02 for 0x3e/0x3d, and a
 * 7-byte terminal number).
 */
typedef struct jt_variant {
    uint8_t flag;
    uint8_t esc[2];      /* escape bytes */
    uint8_t plain[2][2]; /* plain[e][x - 1]: what esc[e], x stands for */
    size_t phone_len;    /* terminal number bytes before 2019 */
} jt_variant;

static const jt_variant jt_std = {
    JT_FLAG, {JT_ESC, JT_ESC}, {{JT_ESC, JT_FLAG}, {JT_ESC, JT_FLAG}}, 6};
static const jt_variant jt_alt = {0xe7, {0xe6, 0x3e}, {{0xe6, 0xe7}, {0x3e, 0x3d}}, 7};

static const jt_variant *variant_of(uint8_t first)
{
    return first == jt_std.flag ? &jt_std : first == jt_alt.flag ? &jt_alt : NULL;
}

/*
 * If in[i] starts an escape pair, stores the plain byte in *b and returns 2;
 * otherwise stores in[i] and returns 1. A lone escape byte (not followed by
 * 0x01/0x02) is kept as it is: some devices do not escape, and the
 * checksum still guards the frame.
 */
static size_t unescape_at(const jt_variant *v, const uint8_t *in, size_t n, size_t i, uint8_t *b)
{
    for (int e = 0; e < 2; e++) {
        if (in[i] == v->esc[e] && i + 1 < n && (in[i + 1] == 0x01 || in[i + 1] == 0x02)) {
            *b = v->plain[e][in[i + 1] - 1];
            return 2;
        }
    }
    *b = in[i];
    return 1;
}

/* Unescapes the bytes between the flags into out. Returns the length, or
 * -1 when it does not fit in cap. */
static long unescape(const jt_variant *v, const uint8_t *in, size_t n, uint8_t *out, size_t cap)
{
    size_t k = 0;

    for (size_t i = 0; i < n;) {
        if (k >= cap)
            return -1;
        i += unescape_at(v, in, n, i, &out[k++]);
    }
    return (long)k;
}

static uint8_t xor_sum(const uint8_t *p, size_t n)
{
    uint8_t x = 0;
    for (size_t i = 0; i < n; i++)
        x ^= p[i];
    return x;
}

/* Whether raw[0..n) (checksum last) checks out. */
static bool sum_ok(const uint8_t *raw, long n)
{
    return n >= 2 && xor_sum(raw, (size_t)n - 1) == raw[n - 1];
}

/* Header length implied by the attributes. */
static size_t head_len(const jt_variant *v, unsigned id, unsigned attr)
{
    size_t n = 2 + 2 + ((attr & JT_ATTR_2019) ? 1 + 10 : v->phone_len) + (short_serial(id) ? 1 : 2);
    if ((attr & JT_ATTR_PACKET) && !short_serial(id))
        n += 4;
    return n;
}

/* ---- detection and framing ---- */

/* The text form: '(' digits ',' digits ',' digits ',' upper-case letter. */
static int detect_text(const uint8_t *buf, size_t len)
{
    size_t i = 1;
    int field = 0, digits = 0;

    for (; i < len && field < 3; i++) {
        if (isdigit(buf[i])) {
            digits++;
            if (digits > 20)
                return TD_DETECT_NO;
        } else if (buf[i] == ',' && digits > 0 && (field > 0 || digits >= 6)) {
            field++;
            digits = 0;
        } else {
            return TD_DETECT_NO;
        }
    }
    if (field < 3)
        return TD_DETECT_MAYBE;
    if (i >= len)
        return TD_DETECT_MAYBE;
    return isupper(buf[i]) ? TD_DETECT_YES : TD_DETECT_NO;
}

/*
 * Binary frames: a flag, then a well-formed header: terminal-to-platform
 * message id (below 0x8000), no reserved bit 15 and encryption none or
 * RSA (except for the lock messages, which use those bits), a BCD terminal
 * number (a 6-byte binary IMEI is allowed with the ids this file knows). A
 * known message id is recognized from its header alone, so long frames are
 * decided early; any other id needs its whole frame, with the declared
 * length and a good checksum.
 */
static int detect(const uint8_t *buf, size_t len)
{
    uint8_t raw[JT_HEAD_MAX + 1];
    size_t k = 0, i = 1;

    if (len == 0)
        return TD_DETECT_MAYBE;
    if (buf[0] == '(')
        return detect_text(buf, len);
    const jt_variant *v = variant_of(buf[0]);
    if (!v)
        return TD_DETECT_NO;

    /* Unescape the header (up to the end flag of a short frame). */
    bool ended = false;
    while (i < len && k < sizeof(raw)) {
        if (buf[i] == v->flag) {
            ended = true;
            break;
        }
        if ((buf[i] == v->esc[0] || buf[i] == v->esc[1]) && i + 1 >= len)
            break; /* the byte after an escape decides */
        i += unescape_at(v, buf, len, i, &raw[k++]);
    }
    if (k >= 1 && raw[0] >= 0x80)
        return TD_DETECT_NO; /* platform-to-terminal ids, or not JT/T 808 */
    if (k < 4)
        return ended ? TD_DETECT_NO : TD_DETECT_MAYBE;
    unsigned id = be16(raw), attr = be16(raw + 2);
    const struct jt_known *kn = known(id);
    bool lock = short_serial(id);
    if (!lock && (attr & 0x8000))
        return TD_DETECT_NO; /* reserved bit */
    if (!lock && JT_ATTR_ENC(attr) > 1)
        return TD_DETECT_NO; /* only RSA (1) is defined */
    size_t hl = head_len(v, id, attr);
    if (k < hl)
        return ended ? TD_DETECT_NO : TD_DETECT_MAYBE;
    const uint8_t *phone = raw + ((attr & JT_ATTR_2019) ? 5 : 4);
    size_t plen = (attr & JT_ATTR_2019) ? 10 : v->phone_len;
    bool bcd = true;
    for (size_t j = 0; j < plen; j++)
        bcd = bcd && bcd2(phone[j]) >= 0;
    if (!bcd && (plen != 6 || !kn))
        return TD_DETECT_NO; /* only a known id may carry a binary IMEI */
    if (kn)
        return TD_DETECT_YES;

    /* Otherwise the whole frame decides: flag, declared length, checksum
     * (of the unescaped bytes, or of the bytes as sent). */
    const uint8_t *end = memchr(buf + 1, v->flag, len - 1);
    if (!end)
        return len >= JT_DETECT_WHOLE ? TD_DETECT_NO : TD_DETECT_MAYBE;
    uint8_t body[JT_RAW_MAX];
    size_t want = hl + (attr & JT_ATTR_LEN) + 1, sent = (size_t)(end - buf - 1);
    long n = unescape(v, buf + 1, sent, body, sizeof(body));
    if (n == (long)want && sum_ok(body, n))
        return TD_DETECT_YES;
    if (sent == want && sum_ok(buf + 1, (long)sent))
        return TD_DETECT_YES;
    return TD_DETECT_NO;
}

/*
 * Where the frame that starts at buf (with its flag) ends: normally at the
 * next flag; when the bytes up to it are shorter than the header declares
 * and fail the checksum, at the flag where the declared length ends if
 * that frame checks out (devices that leave a flag byte inside unescaped).
 * Returns the length with both flags, 0 for more input, or TD_ETOOBIG.
 */
static long frame_binary(const jt_variant *v, const uint8_t *buf, size_t len)
{
    uint8_t raw[JT_RAW_MAX];
    const uint8_t *end = memchr(buf + 1, v->flag, len - 1);

    if (!end)
        return len >= JT_MAX_FRAME ? TD_ETOOBIG : 0;
    size_t first = (size_t)(end - buf) + 1;
    long n = unescape(v, buf + 1, first - 2, raw, sizeof(raw));
    if (n < 5 || sum_ok(raw, n) || sum_ok(buf + 1, (long)first - 2))
        return (long)first;
    unsigned id = be16(raw), attr = be16(raw + 2);
    size_t want = head_len(v, id, attr) + (attr & JT_ATTR_LEN) + 1;
    if ((size_t)n >= want)
        return (long)first;
    /* Walk on, counting unescaped bytes, to where the declared length ends. */
    size_t k = 0, i = 1;
    uint8_t b;
    while (i < len && k < want) {
        if ((buf[i] == v->esc[0] || buf[i] == v->esc[1]) && i + 1 >= len)
            return 0;
        i += unescape_at(v, buf, len, i, &b);
        k++;
    }
    if (k < want)
        return i >= JT_MAX_FRAME ? (long)first : 0;
    if (i >= len)
        return 0;
    if (buf[i] != v->flag)
        return (long)first;
    long m = unescape(v, buf + 1, i - 1, raw, sizeof(raw));
    if (m == (long)want && sum_ok(raw, m))
        return (long)(i + 1);
    return (long)first;
}

static long frame(const uint8_t *buf, size_t len, size_t *skip)
{
    size_t s = 0;

    /* Noise between frames, and the empty frame of a doubled flag. */
    while (s < len) {
        if (buf[s] == '(')
            break;
        if (variant_of(buf[s]) && !(s + 1 < len && buf[s + 1] == buf[s]))
            break;
        s++;
    }
    *skip = s;
    buf += s;
    len -= s;
    if (len < 2)
        return 0;
    if (buf[0] == '(') {
        const uint8_t *close = memchr(buf, ')', len < JT_TEXT_MAX ? len : JT_TEXT_MAX);
        if (close)
            return (long)(close - buf) + 1;
        return len >= JT_TEXT_MAX ? TD_ETOOBIG : 0;
    }
    return frame_binary(variant_of(buf[0]), buf, len);
}

/* ---- decoding helpers ---- */

static int add(td_decode_ctx *ctx, td_rec_type type, td_record **out)
{
    *out = td_ctx_add(ctx, type);
    return *out ? 0 : td_ctx_error(ctx, TD_ENOMEM, "jt808: too many records in one frame");
}

static jt_state *state(td_decode_ctx *ctx)
{
    _Static_assert(sizeof(jt_state) <= TD_PROTO_STATE_MAX, "jt808 state fits");
    return (jt_state *)(void *)ctx->session->state;
}

/* Keeps bytes as a raw hex string attribute (at most 128 bytes). */
static void raw_hex(td_record *r, const char *key, const uint8_t *p, size_t n)
{
    char hex[2 * 128 + 1];
    td_hex_encode(p, n > 128 ? 128 : n, hex, sizeof(hex));
    td_rec_raw_str(r, key, hex, strlen(hex));
}

/* Keeps text as a raw string: printable ASCII, trailing NULs and blanks
 * dropped; anything else makes it a hex string under key + "Hex". */
static void raw_text(td_record *r, const char *key, const uint8_t *p, size_t n)
{
    while (n > 0 && (p[n - 1] == 0 || p[n - 1] == ' '))
        n--;
    while (n > 0 && (p[0] == 0 || p[0] == ' ')) {
        p++;
        n--;
    }
    if (n == 0)
        return;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < 0x20 || p[i] > 0x7e) {
            char k[40];
            snprintf(k, sizeof(k), "%sHex", key);
            raw_hex(r, k, p, n);
            return;
        }
    }
    td_rec_raw_str(r, key, (const char *)p, n);
}

/* BCD digits as a string; false when a nibble is not a digit. */
static bool bcd_string(const uint8_t *p, size_t n, char *out, size_t cap)
{
    if (2 * n + 1 > cap)
        return false;
    for (size_t i = 0; i < n; i++) {
        if ((p[i] >> 4) > 9 || (p[i] & 15) > 9)
            return false;
        out[2 * i] = (char)('0' + (p[i] >> 4));
        out[2 * i + 1] = (char)('0' + (p[i] & 15));
    }
    out[2 * n] = '\0';
    return true;
}

/*
 * The device id from the header's phone field: its BCD digits without
 * leading zeros (a 2013 number is an 11-digit mobile number padded to 12,
 * a 2019 one an IMEI or number padded to 20). A 6-byte field that is not
 * BCD carries the first 14 digits of an IMEI as a binary number; the id is
 * then that number and its Luhn check digit.
 */
static int device_id(td_decode_ctx *ctx, const jt_msg *m)
{
    char id[2 * 10 + 2];

    if (!bcd_string(m->phone, m->phone_len, id, sizeof(id))) {
        if (m->phone_len != 6)
            return td_ctx_error(ctx, TD_EBADFRAME, "jt808: terminal number is not BCD");
        uint64_t v = 0;
        for (size_t i = 0; i < 6; i++)
            v = v << 8 | m->phone[i];
        snprintf(id, sizeof(id), "%llu", (unsigned long long)v);
        int sum = 0;
        size_t n = strlen(id);
        for (size_t i = 0; i < n; i++) {
            int d = id[n - 1 - i] - '0';
            if (i % 2 == 0) {
                d *= 2;
                if (d > 9)
                    d -= 9;
            }
            sum += d;
        }
        id[n] = (char)('0' + (10 - sum % 10) % 10);
        id[n + 1] = '\0';
    }
    const char *p = id;
    while (p[0] == '0' && p[1] != '\0')
        p++;
    if (td_session_identify(ctx->session, p, strlen(p)) != 0)
        return td_ctx_error(ctx, TD_EBADFRAME, "jt808: bad terminal number '%s'", p);
    return 0;
}

/* YYMMDDhhmmss BCD in GMT+8 to UTC ms; false when it is not a time. */
static bool bcd_time(const uint8_t *p, int64_t *out)
{
    int f[6];
    for (int i = 0; i < 6; i++)
        if ((f[i] = bcd2(p[i])) < 0)
            return false;
    int64_t ms;
    if (!td_utc_ms(2000 + f[0], f[1], f[2], f[3], f[4], f[5], &ms))
        return false;
    *out = ms - JT_TZ_MS;
    return true;
}

/* ---- replies ---- */

/*
 * Appends one platform message: header mirroring the terminal's (edition,
 * version, phone number), the platform's own serial from the session,
 * body, checksum, escaping and flags. short_serial_ writes the lock
 * messages' one-byte serial.
 */
static int reply_msg(td_decode_ctx *ctx, const jt_msg *m, unsigned id, const uint8_t *body,
                     size_t len, bool short_serial_)
{
    uint8_t raw[JT_RAW_MAX];
    size_t k = 0;
    jt_state *st = state(ctx);

    if (len > JT_BODY_MAX)
        return td_ctx_error(ctx, TD_ETOOBIG, "jt808: reply body too long");
    raw[k++] = (uint8_t)(id >> 8);
    raw[k++] = (uint8_t)id;
    unsigned attr = (unsigned)len | (m->v2019 ? JT_ATTR_2019 : 0);
    raw[k++] = (uint8_t)(attr >> 8);
    raw[k++] = (uint8_t)attr;
    if (m->v2019)
        raw[k++] = (uint8_t)m->version;
    memcpy(raw + k, m->phone, m->phone_len);
    k += m->phone_len;
    if (short_serial_) {
        raw[k++] = (uint8_t)st->serial;
    } else {
        raw[k++] = (uint8_t)(st->serial >> 8);
        raw[k++] = (uint8_t)st->serial;
    }
    st->serial++;
    memcpy(raw + k, body, len);
    k += len;
    raw[k] = xor_sum(raw, k);
    k++;

    uint8_t out[JT_MAX_FRAME];
    size_t n = 0;
    const jt_variant *v = m->v;
    out[n++] = v->flag;
    for (size_t i = 0; i < k; i++) {
        bool escaped = false;
        for (int e = 0; e < 2 && !escaped; e++) {
            for (int x = 0; x < 2 && !escaped; x++) {
                if (raw[i] == v->plain[e][x]) {
                    out[n++] = v->esc[e];
                    out[n++] = (uint8_t)(x + 1);
                    escaped = true;
                }
            }
        }
        if (!escaped)
            out[n++] = raw[i];
    }
    out[n++] = v->flag;
    if (td_ctx_reply(ctx, out, n) != 0)
        return td_ctx_error(ctx, TD_ETOOBIG, "jt808: reply does not fit");
    return 0;
}

/* 0x8001: the terminal message's serial and id, result 0 (success). */
static int general_reply(td_decode_ctx *ctx, const jt_msg *m)
{
    uint8_t b[5] = {(uint8_t)(m->serial >> 8), (uint8_t)m->serial, (uint8_t)(m->id >> 8),
                    (uint8_t)m->id, 0};
    return reply_msg(ctx, m, JT_PLAT_RESPONSE, b, sizeof(b), false);
}

/* 0x8100: serial, result 0, and the authentication code the terminal will
 * send back in 0x0102 (its own id: the platform keeps no code store). */
static int register_reply(td_decode_ctx *ctx, const jt_msg *m)
{
    uint8_t b[3 + TD_DEVICE_ID_MAX];
    size_t n = strlen(ctx->session->device_id);
    b[0] = (uint8_t)(m->serial >> 8);
    b[1] = (uint8_t)m->serial;
    b[2] = 0;
    memcpy(b + 3, ctx->session->device_id, n);
    return reply_msg(ctx, m, JT_REGISTER_REPLY, b, 3 + n, false);
}

/* Server time, UTC, as BCD YYMMDDhhmmss (0x8004). */
static int time_reply(td_decode_ctx *ctx, const jt_msg *m)
{
    int y, mo, d, h, mi, s;
    td_utc_fields(ctx->now_ms, &y, &mo, &d, &h, &mi, &s);
    int f[6] = {y % 100, mo, d, h, mi, s};
    uint8_t b[6];
    for (int i = 0; i < 6; i++)
        b[i] = (uint8_t)((f[i] / 10) << 4 | f[i] % 10);
    return reply_msg(ctx, m, JT_TIME_REPLY, b, sizeof(b), false);
}

/* 0x8109: year (WORD), month, day, hour, minute, second, result 0; UTC. */
static int time_sync_reply(td_decode_ctx *ctx, const jt_msg *m)
{
    int y, mo, d, h, mi, s;
    td_utc_fields(ctx->now_ms, &y, &mo, &d, &h, &mi, &s);
    uint8_t b[8] = {(uint8_t)(y >> 8), (uint8_t)y,  (uint8_t)mo, (uint8_t)d,
                    (uint8_t)h,        (uint8_t)mi, (uint8_t)s,  0};
    return reply_msg(ctx, m, JT_TIME_SYNC_REPLY, b, sizeof(b), false);
}

/* 0x4401 to a lock message with bit 15 set: its id and result 0. */
static int lock_reply(td_decode_ctx *ctx, const jt_msg *m)
{
    uint8_t b[3] = {(uint8_t)(m->id >> 8), (uint8_t)m->id, 0};
    return reply_msg(ctx, m, JT_LOCK_RESPONSE, b, sizeof(b), true);
}

/* ---- location ---- */

/* Standard alarm flag bits (JT/T 808 table 24) mapped onto CONTRACT names;
 * the flag word itself is kept as the raw attribute `alarm`. */
static void alarm_flags(td_record *r, uint32_t a)
{
    if (a & (1u << 0))
        td_rec_alarm(r, TD_ALARM_SOS);
    if (a & (1u << 1))
        td_rec_alarm(r, TD_ALARM_OVERSPEED);
    if (a & (1u << 7))
        td_rec_alarm(r, TD_ALARM_LOW_BATTERY);
    if (a & (1u << 8))
        td_rec_alarm(r, TD_ALARM_POWER_CUT);
    if (a & (1u << 15))
        td_rec_alarm(r, TD_ALARM_VIBRATION);
    if (a & (3u << 16))
        td_rec_alarm(r, TD_ALARM_TAMPER);
    if (a & (1u << 28))
        td_rec_alarm(r, TD_ALARM_MOVEMENT);
    if (a)
        td_rec_raw_int(r, "alarm", a);
}

/* Cell list items: `mcc WORD, mnc BYTE, (lac WORD, cid WORD, rssi BYTE)*`. */
static void cells_eb(td_record *r, const uint8_t *p, size_t n)
{
    unsigned mcc = be16(p), mnc = p[2];
    for (size_t i = 3; i + 5 <= n; i += 5)
        td_rec_add_cell(r, (int)mcc, (int)mnc, be16(p + i), be16(p + i + 2), true, p[i + 4]);
}

/* Wi-Fi list items: `(mac BYTE[6], rssi signed BYTE)*`. */
static void wifi_list(td_record *r, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i + 7 <= n; i += 7) {
        char mac[13];
        td_hex_encode(p + i, 6, mac, sizeof(mac));
        td_rec_add_wifi(r, mac, 12, (int8_t)p[i + 6]);
    }
}

/* Battery level byte: 0-100 percent; anything else is not a level. */
static void battery_level(td_record *r, unsigned v)
{
    if (v <= 100)
        td_rec_set_int(r, TD_ATTR_BATTERY_LEVEL, v);
}

/* Battery byte of items 0xD4/0xE1/0xE9: percent, 0xff while charging. */
static void battery_byte(td_record *r, unsigned v)
{
    if (v == 0xff)
        td_rec_set_bool(r, TD_ATTR_CHARGING, true);
    else
        battery_level(r, v);
}

/*
 * The vendor TLV list of item 0xEB: (length WORD, type WORD, value)*,
 * length counting type and value.
 */
static void ext_eb(td_record *r, const uint8_t *p, size_t n)
{
    size_t i = 0;
    while (i + 4 <= n) {
        size_t len = be16(p + i);
        unsigned type = be16(p + i + 2);
        if (len < 2 || i + 2 + len > n)
            break;
        const uint8_t *v = p + i + 4;
        size_t vn = len - 2;
        switch (type) {
        case 0x0089: /* peripheral status: bit 0 power connected, bit 12 fitted */
            if (vn >= 4) {
                uint32_t s = be32(v);
                if (!(s & 1))
                    td_rec_alarm(r, TD_ALARM_POWER_CUT);
                if (!(s & (1u << 12)))
                    td_rec_alarm(r, TD_ALARM_REMOVAL);
            }
            break;
        case 0x00A8:
        case 0x00E1:
            if (vn >= 1)
                battery_level(r, v[0]);
            break;
        case 0x002D: /* battery voltage, mV */
            if (vn == 2)
                td_rec_set_double(r, TD_ATTR_BATTERY, be16(v) / 1000.0);
            break;
        case 0x00B2: /* ICCID, BCD */
            if (vn == 10) {
                char s[21];
                td_hex_encode(v, 10, s, sizeof(s));
                size_t k = strlen(s);
                while (k > 0 && (s[k - 1] == 'f' || s[k - 1] == 'F'))
                    k--;
                td_rec_raw_str(r, "iccid", s, k);
            }
            break;
        case 0x00C5: /* motion and vibration status word */
            if (vn >= 4) {
                uint32_t s = be32(v);
                if (!(s & (1u << 6)))
                    td_rec_alarm(r, TD_ALARM_VIBRATION);
                unsigned motion = (s >> 23) & 3;
                if (motion <= 1)
                    td_rec_set_bool(r, TD_ATTR_MOTION, motion == 0);
            }
            break;
        default:
            break;
        }
        i += 2 + len;
    }
}

/* One additional-information item of a location report. */
static void location_item(td_record *r, unsigned id, const uint8_t *v, size_t n)
{
    switch (id) {
    case 0x01: /* mileage, 1/10 km */
        if (n == 4)
            td_rec_set_double(r, TD_ATTR_ODOMETER, be32(v) * 100.0);
        return;
    case 0x02: /* fuel, 1/10 L */
        if (n == 2)
            td_rec_raw_double(r, "fuel", be16(v) / 10.0);
        return;
    case 0x03: /* tachograph speed, 1/10 km/h */
        if (n == 2)
            td_rec_raw_double(r, "tachographSpeed", be16(v) / 10.0);
        return;
    case 0x04: /* id of the alarm event needing manual confirmation */
        if (n == 2)
            td_rec_raw_int(r, "alarmEventId", be16(v));
        return;
    case 0x06: /* 2019: cabin temperature (signed WORD, degC); vendors: battery % */
        if (n == 2)
            td_rec_raw_int(r, "cabinTemperature", (int16_t)be16(v));
        else if (n == 1)
            battery_level(r, v[0]);
        return;
    case 0x11: /* overspeed: location type, [area id] */
        if (n >= 1)
            td_rec_raw_int(r, "overspeedAreaType", v[0]);
        if (n >= 5)
            td_rec_raw_int(r, "overspeedAreaId", be32(v + 1));
        return;
    case 0x12: /* in/out of area: type, area id, direction 0 in / 1 out */
        if (n == 6) {
            td_rec_raw_int(r, "areaType", v[0]);
            td_rec_raw_int(r, "areaId", be32(v + 1));
            td_rec_alarm(r, v[5] ? TD_ALARM_GEOFENCE_EXIT : TD_ALARM_GEOFENCE_ENTER);
        }
        return;
    case 0x13: /* route driving time: route id, seconds, 0 short / 1 long */
        if (n == 7) {
            td_rec_raw_int(r, "routeId", be32(v));
            td_rec_raw_int(r, "routeTime", be16(v + 4));
            td_rec_raw_int(r, "routeTimeResult", v[6]);
        }
        return;
    case 0x25: /* extended vehicle signal status */
        if (n == 4)
            td_rec_raw_int(r, "signals", be32(v));
        return;
    case 0x2A: /* I/O status */
        if (n == 2)
            td_rec_raw_int(r, "io", be16(v));
        return;
    case 0x2B: /* analog inputs: AD0 low word, AD1 high word */
        if (n == 4) {
            td_rec_raw_int(r, "adc1", be16(v + 2));
            td_rec_raw_int(r, "adc2", be16(v));
        }
        return;
    case 0x30: /* wireless network signal strength */
        if (n == 1)
            td_rec_set_int(r, TD_ATTR_RSSI, v[0]);
        return;
    case 0x31: /* GNSS satellites */
        if (n == 1)
            td_rec_set_int(r, TD_ATTR_SATELLITES, v[0]);
        return;
    /* Vendor items (0xE1-0xFF are custom by the standard; the others are
     * reserved there but used by common devices, see the fact sheet). */
    case 0x56: /* battery in tenths (0-10), reserved */
        if (n == 2 && v[0] <= 10)
            td_rec_set_int(r, TD_ATTR_BATTERY_LEVEL, v[0] * 10);
        return;
    case 0x69: /* battery voltage, 1/100 V */
        if (n == 2)
            td_rec_set_double(r, TD_ATTR_BATTERY, be16(v) / 100.0);
        return;
    case 0x61: /* external power, 1/100 V */
        if (n == 2)
            td_rec_raw_double(r, "power", be16(v) / 100.0);
        return;
    case 0x82:
    case 0xD3: /* external power, 1/10 V */
        if (n == 2)
            td_rec_raw_double(r, "power", be16(v) / 10.0);
        return;
    case 0xF1: /* external power, mV */
        if (n == 4)
            td_rec_raw_double(r, "power", be32(v) / 1000.0);
        return;
    case 0xF2: /* firmware version */
        raw_text(r, "firmwareVersion", v, n);
        return;
    case 0xF0: /* cells: (MCC WORD, MNC WORD, CID DWORD, LAC DWORD, RSSI BYTE)* */
        if (n > 0 && n % 13 == 0)
            for (size_t i = 0; i + 13 <= n; i += 13)
                td_rec_add_cell(r, (int)be16(v + i), (int)be16(v + i + 2), be32(v + i + 8),
                                be32(v + i + 4), true, (int8_t)v[i + 12]);
        return;
    case 0xE1: /* battery % (1 byte), power 1/10 V (2), or cells: MCC WORD,
                * MNC WORD, (LAC 3 bytes, CID DWORD, RSSI BYTE)* */
        if (n == 2) {
            td_rec_raw_double(r, "power", be16(v) / 10.0);
        } else if (n >= 12 && (n - 4) % 8 == 0) {
            for (size_t i = 4; i + 8 <= n; i += 8) {
                int64_t lac = (int64_t)v[i] << 16 | v[i + 1] << 8 | v[i + 2];
                uint32_t cid = be32(v + i + 3);
                if (lac > 0 && lac <= 0xffff && cid <= 0xfffffff)
                    td_rec_add_cell(r, (int)be16(v), (int)be16(v + 2), lac, cid, true, v[i + 7]);
            }
        }
        if (n == 1)
            battery_byte(r, v[0]);
        return;
    case 0xD4:
    case 0xE9: /* battery %, 0xff = charging */
        if (n == 1)
            battery_byte(r, v[0]);
        return;
    case 0xE3: /* reserved, battery %, battery voltage 1/100 V */
        if (n >= 4) {
            battery_level(r, v[1]);
            td_rec_set_double(r, TD_ATTR_BATTERY, be16(v + 2) / 100.0);
        }
        return;
    case 0xE4: /* charge state (0 charging), battery % */
        if (n == 2) {
            td_rec_set_bool(r, TD_ATTR_CHARGING, v[0] == 0);
            battery_level(r, v[1]);
        }
        return;
    case 0xE5: /* motion */
        if (n == 1)
            td_rec_set_bool(r, TD_ATTR_MOTION, v[0] == 1);
        return;
    case 0xEB: /* cell list, or a TLV list of extended status */
        if (n >= 8 && be16(v) > 200 && (n - 3) % 5 == 0)
            cells_eb(r, v, n);
        else
            ext_eb(r, v, n);
        return;
    case 0xEC:
    case 0xF4: /* Wi-Fi scan */
        wifi_list(r, v, n);
        return;
    case 0xF7: /* battery voltage mV (DWORD), [state 2/3 charging], [%] */
        if (n >= 4) {
            td_rec_set_double(r, TD_ATTR_BATTERY, be32(v) / 1000.0);
            if (n >= 5 && (v[4] == 2 || v[4] == 3))
                td_rec_set_bool(r, TD_ATTR_CHARGING, true);
            if (n >= 6)
                battery_level(r, v[5]);
        }
        return;
    case 0xFE: /* battery % */
        if (n == 1)
            battery_level(r, v[0]);
        return;
    default:
        return;
    }
}

/*
 * Decodes a location information body (alarm, status, position, time and
 * the additional items) into a new position record (a status record when
 * the coordinates are out of range). `what` names the message for errors.
 */
static int location(td_decode_ctx *ctx, const uint8_t *p, size_t n, const char *what,
                    td_record **out)
{
    td_record *r;
    int rc;

    if (n < 28)
        return td_ctx_error(ctx, TD_EBADFRAME, "jt808: %s location of %zu bytes, need 28", what, n);
    if ((rc = add(ctx, TD_REC_POSITION, &r)) != 0)
        return rc;
    uint32_t alarm = be32(p), status = be32(p + 4);
    r->valid = (status & 2) != 0;
    r->latitude = be32(p + 8) / 1e6;
    r->longitude = be32(p + 12) / 1e6;
    if (r->latitude > 90 || r->longitude > 180) {
        /* No usable fix: the rest of the report still counts. */
        td_rec_raw_int(r, "latitudeRaw", be32(p + 8));
        td_rec_raw_int(r, "longitudeRaw", be32(p + 12));
        r->type = TD_REC_STATUS;
        r->valid = false;
        r->latitude = r->longitude = 0;
    }
    if ((status & 4) && r->latitude != 0)
        r->latitude = -r->latitude;
    if ((status & 8) && r->longitude != 0)
        r->longitude = -r->longitude;
    r->altitude = (int16_t)be16(p + 16);
    r->speed = be16(p + 18) / 10.0;
    if (r->speed > JT_SPEED_MAX) {
        td_rec_raw_double(r, "speedRaw", r->speed);
        r->speed = 0;
    }
    r->course = be16(p + 20);
    if (r->course >= 360)
        r->course = 0;
    int64_t t;
    if (bcd_time(p + 22, &t)) {
        r->time_ms = t;
        r->has_time = true;
    }
    alarm_flags(r, alarm);
    td_rec_set_bool(r, TD_ATTR_IGNITION, status & 1);
    td_rec_raw_int(r, "status", status);

    size_t i = 28;
    while (i + 2 <= n) {
        unsigned id = p[i], len = p[i + 1];
        if (i + 2 + len > n)
            break;
        location_item(r, id, p + i + 2, len);
        i += 2 + len;
    }
    if (out)
        *out = r;
    return 0;
}

/* ---- message handlers ---- */

/* 0x0100: province, city, maker, model, terminal id, plate colour, plate.
 * Field widths: 2011 (5, 8, 7), 2013 (5, 20, 7), 2019 (11, 30, 30). */
static int registration(td_decode_ctx *ctx, const jt_msg *m)
{
    td_record *r;
    int rc;
    size_t maker = 5, model = 20, term = 7;

    if (m->v2019) {
        maker = 11;
        model = 30;
        term = 30;
    } else if (m->body_len < 4 + 5 + 20 + 7 + 1) {
        model = 8;
    }
    if ((rc = add(ctx, TD_REC_LOGIN, &r)) != 0)
        return rc;
    jt_rd rd = {m->body, m->body_len, 0, false};
    unsigned province = rd_u16(&rd), city = rd_u16(&rd);
    const uint8_t *mk = rd_bytes(&rd, maker), *md = rd_bytes(&rd, model), *tm = rd_bytes(&rd, term);
    unsigned color = rd_u8(&rd);
    if (rd.short_) {
        ctx->nrec--;
        return td_ctx_error(ctx, TD_EBADFRAME, "jt808: registration body of %zu bytes too short",
                            m->body_len);
    }
    td_rec_raw_int(r, "province", province);
    td_rec_raw_int(r, "city", city);
    raw_text(r, "manufacturer", mk, maker);
    raw_text(r, "model", md, model);
    raw_text(r, "terminalId", tm, term);
    td_rec_raw_int(r, "plateColor", color);
    raw_text(r, "plate", m->body + rd.at, rd_left(&rd));
    return register_reply(ctx, m);
}

/* 0x0102: the authentication code (2019: length-prefixed, then IMEI and
 * software version). */
static int authentication(td_decode_ctx *ctx, const jt_msg *m)
{
    td_record *r;
    int rc;

    if ((rc = add(ctx, TD_REC_LOGIN, &r)) != 0)
        return rc;
    if (m->v2019 && m->body_len >= 1 && 1 + (size_t)m->body[0] <= m->body_len) {
        size_t n = m->body[0];
        raw_text(r, "authCode", m->body + 1, n);
        if (m->body_len >= 1 + n + 15)
            raw_text(r, "imei", m->body + 1 + n, 15);
        if (m->body_len >= 1 + n + 15 + 20)
            raw_text(r, "version", m->body + 1 + n + 15, 20);
    } else {
        raw_text(r, "authCode", m->body, m->body_len);
    }
    return general_reply(ctx, m);
}

/* 0x0001: answer serial, answer id, result (0 ok, 1 failed, 2 bad, 3
 * unsupported). */
static int term_response(td_decode_ctx *ctx, const jt_msg *m)
{
    td_record *r;
    int rc;

    if (m->body_len < 5)
        return td_ctx_error(ctx, TD_EBADFRAME, "jt808: general response of %zu bytes, need 5",
                            m->body_len);
    if ((rc = add(ctx, TD_REC_ACK, &r)) != 0)
        return rc;
    td_rec_raw_int(r, "replySerial", be16(m->body));
    td_rec_raw_int(r, "replyId", be16(m->body + 2));
    td_rec_raw_int(r, "result", m->body[4]);
    return 0;
}

/* 0x0200, 0x0201 and 0x0500 (the last two after the answered serial). */
static int location_msg(td_decode_ctx *ctx, const jt_msg *m)
{
    size_t skip = m->id == JT_LOCATION ? 0 : 2;
    td_record *r;

    if (m->body_len < skip)
        return td_ctx_error(ctx, TD_EBADFRAME, "jt808: empty location answer");
    int rc = location(ctx, m->body + skip, m->body_len - skip, "report", &r);
    if (rc == 0 && skip)
        td_rec_raw_int(r, "replySerial", be16(m->body));
    if (rc == 0 && m->id == JT_LOCATION)
        rc = general_reply(ctx, m);
    return rc;
}

/* 0x0704: count, type (0 regular, 1 blind-area backlog), then (length
 * WORD, location body)*. 0x0210 (vendor): (length BYTE, location body)*,
 * or battery % and a time when the body is 7 bytes. */
static int batch(td_decode_ctx *ctx, const jt_msg *m)
{
    jt_rd rd = {m->body, m->body_len, 0, false};
    bool wide = m->id == JT_BATCH;
    unsigned count = 0, type = 0, got = 0, skipped = 0;
    td_record *r = NULL;
    int rc;

    if (!wide && m->body_len == 7) {
        if ((rc = add(ctx, TD_REC_STATUS, &r)) != 0)
            return rc;
        battery_level(r, m->body[0]);
        int64_t t;
        if (bcd_time(m->body + 1, &t)) {
            r->time_ms = t;
            r->has_time = true;
        }
        return general_reply(ctx, m);
    }
    if (wide) {
        count = rd_u16(&rd);
        type = rd_u8(&rd);
        if (rd.short_)
            return td_ctx_error(ctx, TD_EBADFRAME, "jt808: batch header too short");
    }
    while (rd_left(&rd) > 0) {
        size_t len = wide ? rd_u16(&rd) : rd_u8(&rd);
        const uint8_t *item = rd_bytes(&rd, len);
        if (!item)
            return td_ctx_error(ctx, TD_EBADFRAME, "jt808: batch item %u of %zu bytes truncated",
                                got + skipped + 1, len);
        if (ctx->nrec >= TD_MAX_RECORDS) {
            skipped++;
            continue;
        }
        if ((rc = location(ctx, item, len, "batch", &r)) != 0)
            return rc;
        if (type == 1)
            td_rec_raw_bool(r, "archive", true);
        got++;
    }
    if (got == 0)
        return td_ctx_error(ctx, TD_EBADFRAME, "jt808: batch without locations");
    if (wide && count != got + skipped)
        td_rec_raw_int(r, "batchCount", count);
    if (skipped)
        td_rec_raw_int(r, "batchSkipped", skipped);
    return general_reply(ctx, m);
}

/*
 * 0x5501/0x5502 (Jointech e-locks): date ddMMyy and time BCD, latitude
 * ddmm.mmmm (8 digits), longitude dddmm.mmmm (9 digits) and a flag nibble
 * (bit 0 fix, bit 1 north, bit 2 east), speed (BCD, km/h), course / 2,
 * signal, satellites, mileage (km), battery (% or 0xAA/0xAB charging),
 * cell id and LAC, product, status, alarm, then (id, length, value) items.
 * 0x5502 is a stored (blind-area) fix.
 */
static int lock_location(td_decode_ctx *ctx, const jt_msg *m)
{
    const uint8_t *p = m->body;
    td_record *r;
    int rc;

    if (m->body_len < 36)
        return td_ctx_error(ctx, TD_EBADFRAME, "jt808: lock location of %zu bytes, need 36",
                            m->body_len);
    int day = bcd2(p[0]), mon = bcd2(p[1]), yy = bcd2(p[2]), hh = bcd2(p[3]), mi = bcd2(p[4]),
        ss = bcd2(p[5]);
    char lat[9], lon[11];
    if (!bcd_string(p + 6, 4, lat, sizeof(lat)) || !bcd_string(p + 10, 4, lon, sizeof(lon)) ||
        (p[14] >> 4) > 9 || day < 0 || mon < 0 || yy < 0 || hh < 0 || mi < 0 || ss < 0 ||
        bcd2(p[15]) < 0)
        return td_ctx_error(ctx, TD_EBADFRAME, "jt808: lock location is not BCD");
    lon[8] = (char)('0' + (p[14] >> 4));
    unsigned flags = p[14] & 15;
    int latd = (lat[0] - '0') * 10 + (lat[1] - '0');
    int lond = (lon[0] - '0') * 100 + (lon[1] - '0') * 10 + (lon[2] - '0');
    double latm =
        (lat[2] - '0') * 10 + (lat[3] - '0') +
        ((lat[4] - '0') * 1000 + (lat[5] - '0') * 100 + (lat[6] - '0') * 10 + (lat[7] - '0')) /
            10000.0;
    double lonm =
        (lon[3] - '0') * 10 + (lon[4] - '0') +
        ((lon[5] - '0') * 1000 + (lon[6] - '0') * 100 + (lon[7] - '0') * 10 + (lon[8] - '0')) /
            10000.0;
    if (latd > 90 || lond > 180 || latm >= 60 || lonm >= 60)
        return td_ctx_error(ctx, TD_EBADFRAME, "jt808: lock coordinates out of range");
    if ((rc = add(ctx, TD_REC_POSITION, &r)) != 0)
        return rc;
    int64_t t;
    if (td_utc_ms(2000 + yy, mon, day, hh, mi, ss, &t)) {
        r->time_ms = t;
        r->has_time = true;
    }
    r->latitude = latd + latm / 60;
    r->longitude = lond + lonm / 60;
    if (!(flags & 2))
        r->latitude = -r->latitude;
    if (!(flags & 4))
        r->longitude = -r->longitude;
    if (r->latitude > 90 || r->latitude < -90 || r->longitude > 180 || r->longitude < -180) {
        ctx->nrec--;
        return td_ctx_error(ctx, TD_EBADFRAME, "jt808: lock coordinates out of range");
    }
    r->valid = (flags & 1) && m->id == JT_LOCK_LOCATION;
    r->speed = bcd2(p[15]);
    r->course = p[16] * 2 < 360 ? p[16] * 2 : 0;
    td_rec_set_int(r, TD_ATTR_RSSI, p[17]);
    td_rec_set_int(r, TD_ATTR_SATELLITES, p[18]);
    td_rec_set_double(r, TD_ATTR_ODOMETER, be32(p + 19) * 1000.0);
    if (p[23] <= 100)
        td_rec_set_int(r, TD_ATTR_BATTERY_LEVEL, p[23]);
    else if (p[23] == 0xAA || p[23] == 0xAB)
        td_rec_set_bool(r, TD_ATTR_CHARGING, true);
    uint32_t cid = be32(p + 24);
    unsigned lac = be16(p + 28);
    if (cid && lac) { /* no MCC/MNC here: kept raw, not as a cell */
        td_rec_raw_int(r, "cid", cid);
        td_rec_raw_int(r, "lac", lac);
    }
    unsigned product = p[30], status = be16(p + 31), alarm = be16(p + 33);
    td_rec_raw_int(r, "product", product);
    td_rec_raw_int(r, "status", status);
    if (alarm)
        td_rec_raw_int(r, "alarm", alarm);
    if ((product == 1 || product == 2) && (alarm & 1))
        td_rec_alarm(r, TD_ALARM_LOW_POWER);
    if (product == 3) {
        static const int bits[] = {TD_ALARM_OVERSPEED,
                                   TD_ALARM_LOW_POWER,
                                   TD_ALARM_VIBRATION,
                                   TD_ALARM_LOW_BATTERY,
                                   -1,
                                   TD_ALARM_GEOFENCE_ENTER,
                                   TD_ALARM_GEOFENCE_EXIT};
        for (int b = 0; b < 7; b++)
            if (bits[b] >= 0 && (alarm & (1u << b)))
                td_rec_alarm(r, (td_alarm)bits[b]);
    }
    for (size_t i = 35; i + 2 <= m->body_len;) {
        unsigned id = p[i], len = p[i + 1];
        const uint8_t *v = p + i + 2;
        if (i + 2 + len > m->body_len)
            break;
        if (id == 0x02 && len == 2)
            r->altitude = (int16_t)be16(v);
        else if (id == 0x10 && len == 1)
            td_rec_raw_int(r, "wakeSource", v[0]);
        else if (id == 0x0B && len >= 1)
            td_rec_raw_int(r, "lockCommand", v[0]);
        else if (id == 0xFC && len == 1)
            td_rec_raw_int(r, "geofence", v[0]);
        i += 2 + len;
    }
    if (m->attr & JT_ATTR_LOCK_ACK)
        return lock_reply(ctx, m);
    return 0;
}

/* 0x0107: terminal type, maker, model, terminal id, ICCID (BCD[10]),
 * hardware and firmware versions (length-prefixed), GNSS and modem
 * properties. 2019 widens model and id to 30 bytes. */
static int attributes(td_decode_ctx *ctx, const jt_msg *m)
{
    size_t model = m->v2019 ? 30 : 20, term = m->v2019 ? 30 : 7;
    jt_rd rd = {m->body, m->body_len, 0, false};
    td_record *r;
    int rc;

    unsigned type = rd_u16(&rd);
    const uint8_t *mk = rd_bytes(&rd, 5), *md = rd_bytes(&rd, model), *tm = rd_bytes(&rd, term),
                  *iccid = rd_bytes(&rd, 10);
    if (rd.short_)
        return td_ctx_error(ctx, TD_EBADFRAME, "jt808: attributes body of %zu bytes too short",
                            m->body_len);
    if ((rc = add(ctx, TD_REC_STATUS, &r)) != 0)
        return rc;
    td_rec_raw_int(r, "terminalType", type);
    raw_text(r, "manufacturer", mk, 5);
    raw_text(r, "model", md, model);
    raw_text(r, "terminalId", tm, term);
    char s[21];
    td_hex_encode(iccid, 10, s, sizeof(s));
    td_rec_raw_str(r, "iccid", s, strlen(s));
    size_t hn = rd_u8(&rd);
    const uint8_t *hw = rd_bytes(&rd, hn);
    if (hw)
        raw_text(r, "hardwareVersion", hw, hn);
    size_t fn = rd_u8(&rd);
    const uint8_t *fw = rd_bytes(&rd, fn);
    if (fw)
        raw_text(r, "firmwareVersion", fw, fn);
    return 0;
}

/*
 * Pass-through type 0xF0 (vehicle data of OBD trackers): time BCD[6], a
 * backlog flag, vehicle type, data type, then for data type 0x01 (data
 * stream: count, (id WORD, length, value)*) and 0x03 (alarms: count, (id,
 * length, value)*) the status word, latitude and longitude of the
 * location report. Other data types stay raw.
 */
static int passthrough_obd(td_decode_ctx *ctx, const jt_msg *m, bool *done)
{
    jt_rd rd = {m->body + 1, m->body_len - 1, 0, false};
    const uint8_t *time = rd_bytes(&rd, 6);
    unsigned backlog = rd_u8(&rd);
    rd_u8(&rd); /* vehicle type */
    unsigned type = rd_u8(&rd);
    unsigned count = rd_u8(&rd);
    td_record *r;
    int rc;

    *done = false;
    if (rd.short_ || (type != 0x01 && type != 0x03))
        return 0;
    if ((rc = add(ctx, TD_REC_POSITION, &r)) != 0)
        return rc;
    for (unsigned i = 0; i < count && !rd.short_; i++) {
        unsigned id = type == 0x01 ? rd_u16(&rd) : rd_u8(&rd);
        size_t len = rd_u8(&rd);
        const uint8_t *v = rd_bytes(&rd, len);
        if (!v)
            break;
        if (type == 0x01 && len == 4 && (id == 0x0102 || id == 0x0528 || id == 0x0546))
            td_rec_set_double(r, TD_ATTR_ODOMETER, be32(v) * 100.0);
        else if (type == 0x01 && len == 2 && id == 0x0530)
            td_rec_set_double(r, TD_ATTR_BATTERY, be16(v) / 1000.0);
        else if (type == 0x03 && id == 0x02)
            td_rec_alarm(r, TD_ALARM_POWER_CUT);
    }
    const uint8_t *loc = rd_bytes(&rd, 12);
    if (!loc) {
        ctx->nrec--;
        return td_ctx_error(ctx, TD_EBADFRAME, "jt808: vehicle data without a location");
    }
    uint32_t status = be32(loc);
    r->valid = (status & 2) != 0;
    r->latitude = be32(loc + 4) / 1e6;
    r->longitude = be32(loc + 8) / 1e6;
    if (r->latitude > 90 || r->longitude > 180) {
        ctx->nrec--;
        return td_ctx_error(ctx, TD_EBADFRAME, "jt808: vehicle data coordinates out of range");
    }
    if ((status & 4) && r->latitude != 0)
        r->latitude = -r->latitude;
    if ((status & 8) && r->longitude != 0)
        r->longitude = -r->longitude;
    td_rec_set_bool(r, TD_ATTR_IGNITION, status & 1);
    td_rec_raw_int(r, "status", status);
    int64_t t;
    if (bcd_time(time, &t)) {
        r->time_ms = t;
        r->has_time = true;
    }
    if (backlog)
        td_rec_raw_bool(r, "archive", true);
    *done = true;
    return general_reply(ctx, m);
}

/* 0x0900: pass-through type and data; 0x1300: answered serial and UTF-16BE
 * text (vendor). Kept as "other" records. */
static int passthrough(td_decode_ctx *ctx, const jt_msg *m)
{
    td_record *r;
    int rc;

    if (m->body_len < 1)
        return td_ctx_error(ctx, TD_EBADFRAME, "jt808: empty pass-through message");
    if (m->body[0] == 0xF0) {
        bool done;
        if ((rc = passthrough_obd(ctx, m, &done)) != 0 || done)
            return rc;
    }
    if ((rc = add(ctx, TD_REC_OTHER, &r)) != 0)
        return rc;
    td_rec_raw_int(r, "passthroughType", m->body[0]);
    raw_text(r, "data", m->body + 1, m->body_len - 1);
    return general_reply(ctx, m);
}

static int text_answer(td_decode_ctx *ctx, const jt_msg *m)
{
    td_record *r;
    char text[TD_ACK_RESULT_MAX];
    size_t n = 0;
    int rc;

    if (m->body_len < 2)
        return td_ctx_error(ctx, TD_EBADFRAME, "jt808: text answer of %zu bytes, need 2",
                            m->body_len);
    if ((rc = add(ctx, TD_REC_OTHER, &r)) != 0)
        return rc;
    td_rec_raw_int(r, "replySerial", be16(m->body));
    for (size_t i = 2; i + 1 < m->body_len && n + 1 < sizeof(text); i += 2) {
        unsigned c = be16(m->body + i);
        text[n++] = c >= 0x20 && c < 0x7f ? (char)c : c == 0 ? ' ' : '?';
    }
    while (n > 0 && (text[n - 1] == ' ' || text[n - 1] == '\r' || text[n - 1] == '?'))
        n--;
    td_rec_raw_str(r, "result", text, n);
    snprintf(ctx->ack_result, sizeof(ctx->ack_result), "%.*s", (int)n, text);
    return 0;
}

/* 0x2070 (vendor): (time BCD[6], x, y, z signed WORDs)*; the sample count
 * and the last sample are kept. */
static int acceleration(td_decode_ctx *ctx, const jt_msg *m)
{
    td_record *r;
    int rc;
    size_t n = m->body_len / 12;

    if (n == 0)
        return td_ctx_error(ctx, TD_EBADFRAME, "jt808: acceleration message without samples");
    if ((rc = add(ctx, TD_REC_STATUS, &r)) != 0)
        return rc;
    const uint8_t *last = m->body + (n - 1) * 12;
    int64_t t;
    if (bcd_time(last, &t)) {
        r->time_ms = t;
        r->has_time = true;
    }
    td_rec_raw_int(r, "accelerationSamples", (int64_t)n);
    td_rec_raw_int(r, "accelerationX", (int16_t)be16(last + 6));
    td_rec_raw_int(r, "accelerationY", (int16_t)be16(last + 8));
    td_rec_raw_int(r, "accelerationZ", (int16_t)be16(last + 10));
    return 0;
}

/* 0x0801: multimedia id, type, format, event, channel, location, data.
 * Answered 0x8800 (id, no packets missing) once whole; the id of a
 * packetised upload is kept from its first packet. */
static int media(td_decode_ctx *ctx, const jt_msg *m)
{
    td_record *r;
    int rc;
    jt_state *st = state(ctx);

    if (m->packets == 0 || m->packet == 1) {
        if (m->body_len < 8)
            return td_ctx_error(ctx, TD_EBADFRAME, "jt808: multimedia header too short");
        st->media_id = be32(m->body);
        if ((rc = add(ctx, TD_REC_OTHER, &r)) != 0)
            return rc;
        td_rec_raw_int(r, "mediaId", st->media_id);
        td_rec_raw_int(r, "mediaType", m->body[4]);
        td_rec_raw_int(r, "mediaFormat", m->body[5]);
        td_rec_raw_int(r, "mediaEvent", m->body[6]);
        td_rec_raw_int(r, "mediaChannel", m->body[7]);
    }
    if (m->packets != 0 && m->packet < m->packets)
        return general_reply(ctx, m);
    uint8_t b[5] = {(uint8_t)(st->media_id >> 24), (uint8_t)(st->media_id >> 16),
                    (uint8_t)(st->media_id >> 8), (uint8_t)st->media_id, 0};
    return reply_msg(ctx, m, JT_MEDIA_REPLY, b, sizeof(b), false);
}

/* Printable ASCII of p[0..n) into out (NUL-terminated), others as '?',
 * blanks and NULs trimmed. Returns the length. */
static size_t ascii(const uint8_t *p, size_t n, char *out, size_t cap)
{
    size_t k = 0;
    for (size_t i = 0; i < n && k + 1 < cap; i++)
        out[k++] = p[i] >= 0x20 && p[i] < 0x7f ? (char)p[i] : p[i] == 0 ? ' ' : '?';
    while (k > 0 && (out[k - 1] == ' ' || out[k - 1] == '\r' || out[k - 1] == '\n'))
        k--;
    out[k] = '\0';
    size_t lead = 0;
    while (lead < k && out[lead] == ' ')
        lead++;
    memmove(out, out + lead, k - lead + 1);
    return k - lead;
}

/* 0x0002 / 0x0506: empty; some units append battery %, signal and a status
 * byte. */
static int heartbeat(td_decode_ctx *ctx, const jt_msg *m)
{
    td_record *r;
    int rc;

    if ((rc = add(ctx, TD_REC_HEARTBEAT, &r)) != 0)
        return rc;
    if (m->id == JT_HEARTBEAT && m->body_len == 3) {
        battery_level(r, m->body[0]);
        td_rec_set_int(r, TD_ATTR_RSSI, m->body[1]);
        td_rec_raw_int(r, "deviceStatus", m->body[2]);
    } else if (m->body_len) {
        raw_hex(r, "body", m->body, m->body_len);
    }
    return general_reply(ctx, m);
}

/* 0x0104: answered serial, count, (id DWORD, length, value)*: the
 * communication and reporting parameters are kept. */
static int parameters(td_decode_ctx *ctx, const jt_msg *m)
{
    static const struct {
        uint32_t id;
        const char *key;
        bool text;
    } params[] = {
        {0x0001, "heartbeatInterval", false},
        {0x0010, "apn", true},
        {0x0013, "server", true},
        {0x0017, "backupServer", true},
        {0x0018, "tcpPort", false},
        {0x0019, "udpPort", false},
        {0x0027, "sleepReportInterval", false},
        {0x0028, "emergencyReportInterval", false},
        {0x0029, "defaultReportInterval", false},
        {0x0055, "overspeedLimit", false},
        {0x0056, "overspeedDuration", false},
        {0x0080, "odometerSetting", false},
        {0x0083, "plate", true},
    };
    jt_rd rd = {m->body, m->body_len, 0, false};
    td_record *r;
    int rc;

    unsigned serial = rd_u16(&rd);
    rd_u8(&rd); /* count */
    if (rd.short_)
        return td_ctx_error(ctx, TD_EBADFRAME, "jt808: parameter answer too short");
    if ((rc = add(ctx, TD_REC_STATUS, &r)) != 0)
        return rc;
    td_rec_raw_int(r, "replySerial", serial);
    while (rd_left(&rd) >= 5) {
        uint32_t id = (uint32_t)rd_u16(&rd) << 16;
        id |= rd_u16(&rd);
        size_t len = rd_u8(&rd);
        const uint8_t *v = rd_bytes(&rd, len);
        if (!v)
            break;
        for (size_t i = 0; i < sizeof(params) / sizeof(params[0]); i++) {
            if (params[i].id != id)
                continue;
            if (params[i].text)
                raw_text(r, params[i].key, v, len);
            else if (len == 4)
                td_rec_raw_int(r, params[i].key, be32(v));
        }
    }
    return 0;
}

/* 0x0702 (2013): card state (1 inserted, 2 removed), time BCD[6], read
 * result (0 ok), then on success name (length + STRING), certificate code
 * STRING[20], issuing agency (length + STRING), validity BCD[4]. */
static int driver(td_decode_ctx *ctx, const jt_msg *m)
{
    jt_rd rd = {m->body, m->body_len, 0, false};
    td_record *r;
    char s[64];
    int rc;

    unsigned state = rd_u8(&rd);
    const uint8_t *time = rd_bytes(&rd, 6);
    if (rd.short_)
        return td_ctx_error(ctx, TD_EBADFRAME, "jt808: driver identity too short");
    if ((rc = add(ctx, TD_REC_OTHER, &r)) != 0)
        return rc;
    td_rec_raw_int(r, "cardStatus", state);
    int64_t t;
    if (bcd_time(time, &t)) {
        r->time_ms = t;
        r->has_time = true;
    }
    if (rd_left(&rd) >= 1) {
        unsigned result = rd_u8(&rd);
        td_rec_raw_int(r, "cardResult", result);
        size_t n = rd_u8(&rd);
        const uint8_t *name = rd_bytes(&rd, n);
        if (name && result == 0)
            raw_text(r, "driver", name, n);
        const uint8_t *code = rd_bytes(&rd, 20);
        if (code && ascii(code, 20, s, sizeof(s)))
            td_rec_raw_str(r, "driverCode", s, strlen(s));
        n = rd_u8(&rd);
        const uint8_t *agency = rd_bytes(&rd, n);
        if (agency)
            raw_text(r, "cardAgency", agency, n);
        const uint8_t *valid = rd_bytes(&rd, 4);
        if (valid && bcd_string(valid, 4, s, sizeof(s)))
            td_rec_raw_str(r, "cardValidity", s, 8);
    }
    return general_reply(ctx, m);
}

/* 0x0701 waybill (length DWORD, content) and 0x6006 text report (encoding
 * BYTE, text): kept as text. */
static int text_report(td_decode_ctx *ctx, const jt_msg *m)
{
    size_t skip = m->id == JT_WAYBILL ? 4 : 1;
    td_record *r;
    char s[TD_ACK_RESULT_MAX];
    int rc;

    if (m->body_len < skip)
        return td_ctx_error(ctx, TD_EBADFRAME, "jt808: text message too short");
    if ((rc = add(ctx, TD_REC_OTHER, &r)) != 0)
        return rc;
    size_t n = ascii(m->body + skip, m->body_len - skip, s, sizeof(s));
    td_rec_raw_str(r, m->id == JT_WAYBILL ? "waybill" : "result", s, n);
    return general_reply(ctx, m);
}

/* 0x0301 event report (event id), 0x0800 multimedia event (id DWORD,
 * type, format, event, channel). */
static int event(td_decode_ctx *ctx, const jt_msg *m)
{
    td_record *r;
    int rc;

    if (m->body_len < (m->id == JT_EVENT ? 1u : 8u))
        return td_ctx_error(ctx, TD_EBADFRAME, "jt808: event message too short");
    if ((rc = add(ctx, TD_REC_OTHER, &r)) != 0)
        return rc;
    if (m->id == JT_EVENT) {
        td_rec_raw_int(r, "eventId", m->body[0]);
    } else {
        td_rec_raw_int(r, "mediaId", be32(m->body));
        td_rec_raw_int(r, "mediaType", m->body[4]);
        td_rec_raw_int(r, "mediaFormat", m->body[5]);
        td_rec_raw_int(r, "mediaEvent", m->body[6]);
        td_rec_raw_int(r, "mediaChannel", m->body[7]);
    }
    return general_reply(ctx, m);
}

/* Any other message: an "other" record with its id and body. */
static int other(td_decode_ctx *ctx, const jt_msg *m, const struct jt_known *kn)
{
    td_record *r;
    int rc;

    if ((rc = add(ctx, TD_REC_OTHER, &r)) != 0)
        return rc;
    char id[8];
    snprintf(id, sizeof(id), "0x%04X", m->id);
    td_rec_raw_str(r, "messageId", id, strlen(id));
    if (m->packets) {
        td_rec_raw_int(r, "packet", m->packet);
        td_rec_raw_int(r, "packets", m->packets);
    }
    if (m->body_len)
        raw_hex(r, "body", m->body, m->body_len);
    if (!kn || kn->kind == JT_K_ACKED)
        return general_reply(ctx, m);
    return 0;
}

/* Splits the header of the unescaped frame raw[0..n) (checksum removed). */
static int parse_header(td_decode_ctx *ctx, const jt_variant *v, const uint8_t *raw, size_t n,
                        jt_msg *m)
{
    jt_rd rd = {raw, n, 0, false};

    memset(m, 0, sizeof(*m));
    m->v = v;
    m->id = rd_u16(&rd);
    m->attr = rd_u16(&rd);
    m->v2019 = (m->attr & JT_ATTR_2019) != 0;
    if (m->v2019)
        m->version = rd_u8(&rd);
    m->phone_len = m->v2019 ? 10 : v->phone_len;
    m->phone = rd_bytes(&rd, m->phone_len);
    bool lock = short_serial(m->id);
    m->serial = lock ? rd_u8(&rd) : rd_u16(&rd);
    if ((m->attr & JT_ATTR_PACKET) && !lock) {
        m->packets = rd_u16(&rd);
        m->packet = rd_u16(&rd);
    }
    if (rd.short_)
        return td_ctx_error(ctx, TD_EBADFRAME, "jt808: frame of %zu bytes shorter than its header",
                            n + 1);
    m->body = raw + rd.at;
    m->body_len = rd_left(&rd);
    size_t declared = m->attr & JT_ATTR_LEN;
    if (!lock && declared != m->body_len)
        return td_ctx_error(ctx, TD_EBADFRAME, "jt808: body of %zu bytes, header says %zu",
                            m->body_len, declared);
    if (lock && m->body_len + 1 < declared)
        return td_ctx_error(ctx, TD_EBADFRAME, "jt808: body of %zu bytes, header says %zu",
                            m->body_len, declared);
    if (!lock && JT_ATTR_ENC(m->attr) != 0)
        return td_ctx_error(ctx, TD_EUNSUPPORTED, "jt808: encrypted body (method %u)",
                            JT_ATTR_ENC(m->attr));
    return 0;
}

/*
 * The text form `(id,1,001,BASE,2,TIME)`: a time request, answered with
 * the same text and TIME replaced by the UTC time as yyyyMMddHHmmss. Other
 * texts are command results, kept as "other" records.
 */
static int decode_text(td_decode_ctx *ctx, const uint8_t *frame, size_t len)
{
    td_span s = {(const char *)frame, len}, f[6];
    td_record *r;
    int rc;

    if (len < 3 || frame[len - 1] != ')')
        return td_ctx_error(ctx, TD_EBADFRAME, "jt808: text frame without ')'");
    td_span inner = {s.p + 1, s.n - 2};
    int nf = td_split(inner, ',', f, 6);
    if (nf < 4 || f[0].n == 0 || f[0].n >= TD_DEVICE_ID_MAX)
        return td_ctx_error(ctx, TD_EBADFRAME, "jt808: text frame with %d fields", nf);
    for (size_t i = 0; i < f[0].n; i++)
        if (!isdigit((unsigned char)f[0].p[i]))
            return td_ctx_error(ctx, TD_EBADFRAME, "jt808: text frame with a bad id");
    if ((rc = td_session_identify(ctx->session, f[0].p, f[0].n)) != 0)
        return td_ctx_error(ctx, TD_EBADFRAME, "jt808: text frame with a bad id");
    if ((rc = add(ctx, TD_REC_OTHER, &r)) != 0)
        return rc;
    bool time_req =
        nf == 6 && td_span_eq(f[3], "BASE") && td_span_eq(f[4], "2") && td_span_eq(f[5], "TIME");
    char cmd[64];
    snprintf(cmd, sizeof(cmd), "%.*s", (int)(inner.n - (size_t)(f[3].p - inner.p)), f[3].p);
    for (char *c = cmd; *c; c++)
        if (!isprint((unsigned char)*c))
            *c = '?';
    td_rec_raw_str(r, time_req ? "command" : "result", cmd, strlen(cmd));
    if (!time_req)
        return 0;
    int y, mo, d, h, mi, sec;
    td_utc_fields(ctx->now_ms, &y, &mo, &d, &h, &mi, &sec);
    return td_ctx_replyf(ctx, "%.*s%04d%02d%02d%02d%02d%02d)", (int)(f[5].p - s.p), s.p, y, mo, d,
                         h, mi, sec) == 0
               ? 0
               : td_ctx_error(ctx, TD_ETOOBIG, "jt808: reply does not fit");
}

static int decode(td_decode_ctx *ctx, const uint8_t *frame, size_t len)
{
    uint8_t raw[JT_RAW_MAX + 1];
    jt_msg m;
    int rc;

    if (len > 0 && frame[0] == '(')
        return decode_text(ctx, frame, len);
    const jt_variant *v = len > 0 ? variant_of(frame[0]) : NULL;
    if (len < 2 || !v || frame[len - 1] != v->flag)
        return td_ctx_error(ctx, TD_EBADFRAME, "jt808: frame not enclosed in 0x7e flags");
    long n = unescape(v, frame + 1, len - 2, raw, sizeof(raw));
    if (n < 0)
        return td_ctx_error(ctx, TD_EBADFRAME, "jt808: frame too long");
    if (n < 13)
        return td_ctx_error(ctx, TD_EBADFRAME, "jt808: frame of %ld bytes too short", n);
    if (!sum_ok(raw, n)) {
        /* Bytes that only check out as sent were never escaped. */
        if (len - 2 <= sizeof(raw) && sum_ok(frame + 1, (long)len - 2)) {
            memcpy(raw, frame + 1, len - 2);
            n = (long)len - 2;
        } else {
            return td_ctx_error(ctx, TD_EBADFRAME, "jt808: bad checksum 0x%02x, computed 0x%02x",
                                raw[n - 1], xor_sum(raw, (size_t)n - 1));
        }
    }
    if ((rc = parse_header(ctx, v, raw, (size_t)n - 1, &m)) != 0)
        return rc;
    if ((rc = device_id(ctx, &m)) != 0)
        return rc;

    const struct jt_known *kn = known(m.id);
    if (m.packets && m.id != JT_MEDIA_DATA)
        return other(ctx, &m, kn); /* parts of a long message: acked, kept raw */

    td_record *r;
    switch (m.id) {
    case JT_TERM_RESPONSE:
        return term_response(ctx, &m);
    case JT_HEARTBEAT:
    case JT_HEARTBEAT2:
        return heartbeat(ctx, &m);
    case JT_PARAMS_RESPONSE:
        return parameters(ctx, &m);
    case JT_DRIVER:
        return driver(ctx, &m);
    case JT_WAYBILL:
    case JT_TEXT_REPORT:
        return text_report(ctx, &m);
    case JT_EVENT:
    case JT_MEDIA_EVENT:
        return event(ctx, &m);
    case JT_DEREGISTER:
        if ((rc = add(ctx, TD_REC_OTHER, &r)) != 0)
            return rc;
        td_rec_raw_bool(r, "deregistered", true);
        return general_reply(ctx, &m);
    case JT_TIME_QUERY:
        if ((rc = add(ctx, TD_REC_HEARTBEAT, &r)) != 0)
            return rc;
        return time_reply(ctx, &m);
    case JT_TIME_SYNC:
        if ((rc = add(ctx, TD_REC_HEARTBEAT, &r)) != 0)
            return rc;
        return time_sync_reply(ctx, &m);
    case JT_REGISTER:
        return registration(ctx, &m);
    case JT_AUTH:
        return authentication(ctx, &m);
    case JT_ATTRIBUTES:
        return attributes(ctx, &m);
    case JT_LOCATION:
    case JT_LOCATION_RESPONSE:
    case JT_CONTROL_RESPONSE:
        return location_msg(ctx, &m);
    case JT_BATCH:
    case JT_BATCH2:
        return batch(ctx, &m);
    case JT_LOCK_LOCATION:
    case JT_LOCK_BLIND:
        return lock_location(ctx, &m);
    case JT_PASSTHROUGH:
        return passthrough(ctx, &m);
    case JT_TEXT_ANSWER:
        return text_answer(ctx, &m);
    case JT_ACCELERATION:
        return acceleration(ctx, &m);
    case JT_MEDIA_DATA:
        return media(ctx, &m);
    default:
        return other(ctx, &m, kn);
    }
}

const td_protocol td_proto_jt808 = {
    /* Registry key, file and `decode --protocol` name. */
    .name = "jt808",
    .devices = "JT/T 808 terminals: vehicle trackers, dash cameras, e-locks and OBD units (Huabao, "
               "Jointech, ...)",
    /* TCP; the standard also allows UDP with the same frames. */
    .transports = TD_TCP | TD_UDP,
    /* A 1023-byte body and 2019 header, every byte escaped, two flags. */
    .max_frame = JT_MAX_FRAME,
    /* 0x7e, a well-formed header (and checksum), or the '(' text form. */
    .detect = detect,
    /* 0x7e ... 0x7e by flags (and declared length), or '(' ... ')'. */
    .frame = frame,
    /* Registration, authentication, heartbeat, locations, batches, ... */
    .decode = decode,
    /* No downlink commands yet. */
    .commands = NULL,
    .encode = NULL,
};
