/*
 * Frame builders and reply readers of the simulated devices (see
 * lgproto.h). One section per protocol, after docs/protocols/<name>.md:
 *
 *   iw         login IWAP00<imei># -> IWBP00,...#; position AP01 -> IWBP01#
 *   watch      [SG*id*SSSS*LLLL*LK] -> LK; position AL (no alarm bit) -> AL,
 *              the sequence field SSSS echoed, so replies name their frame
 *   gt06       login 0x01 -> echo; position 0x16 GPS+LBS+status with alarm
 *              code 0 -> echo with the frame's serial
 *   teltonika  TCP: IMEI handshake -> 01; AVL packet (codec 8, one record)
 *              -> record count. UDP: channel packet -> 0005 <packet id> 01
 *              <AVL id> <count>, no handshake
 *   jt808      0x0100 register -> 0x8100 with the authentication code;
 *              0x0102 authenticate -> 0x8001; 0x0200 location -> 0x8001
 *              naming the frame's serial
 *   gotop      no login, CMD-T positions, no reply (send-only)
 */
#include "lgproto.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* ---- shared ------------------------------------------------------------- */

uint16_t lg_crc_x25(const uint8_t *p, size_t n)
{
    uint16_t crc = 0xffff;
    while (n--) {
        crc ^= *p++;
        for (int i = 0; i < 8; i++)
            crc = (crc & 1) ? (uint16_t)((crc >> 1) ^ 0x8408) : (uint16_t)(crc >> 1);
    }
    return (uint16_t)~crc;
}

uint16_t lg_crc_arc(const uint8_t *p, size_t n)
{
    uint16_t crc = 0;
    while (n--) {
        crc ^= *p++;
        for (int i = 0; i < 8; i++)
            crc = (crc & 1) ? (uint16_t)((crc >> 1) ^ 0xA001) : (uint16_t)(crc >> 1);
    }
    return crc;
}

/* UTC fields of t (ms since the epoch) plus offset_s seconds. */
static struct tm fields(int64_t t_ms, int offset_s)
{
    time_t t = (time_t)(t_ms / 1000) + offset_s;
    struct tm tm;
    gmtime_r(&t, &tm);
    return tm;
}

static size_t put16(uint8_t *p, unsigned v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
    return 2;
}

static size_t put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
    return 4;
}

static unsigned get16(const uint8_t *p)
{
    return (unsigned)p[0] << 8 | p[1];
}

static size_t text(uint8_t *out, size_t cap, int n)
{
    (void)out;
    return n < 0 || (size_t)n >= cap ? 0 : (size_t)n;
}

/* Degrees as ddmm.mmmm (deg_digits 2) or dddmm.mmmm (3), rounded to 1e-4'. */
static void deg_min(double v, int deg_digits, char *out, size_t cap)
{
    long long units = llround(fabs(v) * 600000.0); /* 1e-4 minutes */
    snprintf(out, cap, "%0*lld%02lld.%04lld", deg_digits, units / 600000, units % 600000 / 10000,
             units % 10000);
}

static uint16_t next_serial(lg_dev *d)
{
    uint16_t s = d->serial++;
    if (d->serial == 0)
        d->serial = 1;
    return s;
}

static void uid_num(uint64_t base, uint64_t index, int width, char *out, size_t cap)
{
    snprintf(out, cap, "%0*llu", width, (unsigned long long)(base + index));
}

/* A text reply ending with `end`: its length, 0 for more, -1 for none. */
static long text_reply(const uint8_t *buf, size_t len, char start, char end)
{
    if (buf[0] != (uint8_t)start)
        return -1;
    const uint8_t *e = memchr(buf, end, len);
    if (!e)
        return len > LG_FRAME_MAX ? -1 : 0;
    return (long)(e - buf) + 1;
}

/* ---- iw ------------------------------------------------------------------- */

static void iw_uid(uint64_t index, char *out, size_t cap)
{
    uid_num(864000000000000ULL, index, 15, out, cap);
}

static size_t iw_login(lg_dev *d, int step, uint8_t *out, size_t cap)
{
    if (step > 0)
        return 0;
    return text(out, cap, snprintf((char *)out, cap, "IWAP00%s#", d->uid));
}

static size_t iw_position(lg_dev *d, const lg_fix *f, uint8_t *out, size_t cap, uint32_t *key)
{
    struct tm tm = fields(f->time_ms, 0);
    char lat[32], lon[32];
    deg_min(f->lat, 2, lat, sizeof(lat));
    deg_min(f->lon, 3, lon, sizeof(lon));
    *key = next_serial(d);
    return text(out, cap,
                snprintf((char *)out, cap,
                         "IWAP01%02d%02d%02dA%s%c%s%c%05.1f%02d%02d%02d%06.2f06000908000102,460,0,"
                         "9520,3671#",
                         tm.tm_year % 100, tm.tm_mon + 1, tm.tm_mday, lat, f->lat < 0 ? 'S' : 'N',
                         lon, f->lon < 0 ? 'W' : 'E', (double)f->speed, tm.tm_hour, tm.tm_min,
                         tm.tm_sec, (double)f->course));
}

static long iw_reply(lg_dev *d, const uint8_t *buf, size_t len, lg_reply *r)
{
    (void)d;
    long n = text_reply(buf, len, 'I', '#');
    if (n <= 0)
        return n;
    memset(r, 0, sizeof(*r));
    if (n >= 7 && !memcmp(buf, "IWBP00", 6))
        r->kind = LG_REPLY_LOGIN;
    else if (n == 7 && !memcmp(buf, "IWBP01#", 7))
        r->kind = LG_REPLY_ACK;
    return n;
}

static const lg_proto lg_iw = {"iw", true, 0, iw_uid, iw_login, iw_position, iw_reply};

/* ---- watch ----------------------------------------------------------------- */

static void watch_uid(uint64_t index, char *out, size_t cap)
{
    uid_num(4000000000ULL, index, 10, out, cap);
}

static size_t watch_frame(lg_dev *d, const char *content, uint8_t *out, size_t cap, uint32_t *key)
{
    uint16_t s = next_serial(d);
    if (key)
        *key = s;
    return text(
        out, cap,
        snprintf((char *)out, cap, "[SG*%s*%04X*%04zX*%s]", d->uid, s, strlen(content), content));
}

static size_t watch_login(lg_dev *d, int step, uint8_t *out, size_t cap)
{
    return step > 0 ? 0 : watch_frame(d, "LK", out, cap, NULL);
}

static size_t watch_position(lg_dev *d, const lg_fix *f, uint8_t *out, size_t cap, uint32_t *key)
{
    struct tm tm = fields(f->time_ms, 0);
    char content[256];
    /* date, time, fix, lat, N, lon, E, speed, course, altitude, satellites,
     * GSM signal, battery, steps, rolls, status (no alarm), one cell. */
    snprintf(content, sizeof(content),
             "AL,%02d%02d%02d,%02d%02d%02d,A,%.6f,%c,%.6f,%c,%d.0,%d,100,7,60,88,0,0,00000000,1,1,"
             "460,0,9360,4082,131",
             tm.tm_mday, tm.tm_mon + 1, tm.tm_year % 100, tm.tm_hour, tm.tm_min, tm.tm_sec,
             fabs(f->lat), f->lat < 0 ? 'S' : 'N', fabs(f->lon), f->lon < 0 ? 'W' : 'E', f->speed,
             f->course);
    return watch_frame(d, content, out, cap, key);
}

static long watch_reply(lg_dev *d, const uint8_t *buf, size_t len, lg_reply *r)
{
    (void)d;
    long n = text_reply(buf, len, '[', ']');
    if (n <= 0)
        return n;
    memset(r, 0, sizeof(*r));
    /* [MF*id*SSSS*LLLL*content]: the content follows the fourth '*'. */
    const uint8_t *star[4];
    int k = 0;
    for (long i = 0; i < n && k < 4; i++)
        if (buf[i] == '*')
            star[k++] = buf + i;
    if (k < 4)
        return n;
    const char *c = (const char *)star[3] + 1;
    size_t clen = (size_t)((const char *)buf + n - 1 - c);
    unsigned seq = 0;
    if (star[2] - star[1] == 5 && sscanf((const char *)star[1] + 1, "%4x", &seq) == 1) {
        r->keyed = true;
        r->key = seq;
    }
    if (clen == 2 && !memcmp(c, "LK", 2))
        r->kind = LG_REPLY_LOGIN;
    else if (clen == 2 && !memcmp(c, "AL", 2))
        r->kind = LG_REPLY_ACK;
    return n;
}

static const lg_proto lg_watch = {"watch",    true,        LG_KEYED_TCP | LG_KEYED_UDP,
                                  watch_uid,  watch_login, watch_position,
                                  watch_reply};

/* ---- gt06 ------------------------------------------------------------------ */

static void gt06_uid(uint64_t index, char *out, size_t cap)
{
    uid_num(359000000000000ULL, index, 15, out, cap);
}

/* 7878 <len> <type> <content> <serial> <crc> 0D0A. */
static size_t gt06_frame(lg_dev *d, unsigned type, const uint8_t *content, size_t n, uint8_t *out,
                         size_t cap, uint32_t *key)
{
    if (n + 10 > cap || n + 5 > 255)
        return 0;
    uint16_t s = next_serial(d);
    if (key)
        *key = s;
    out[0] = out[1] = 0x78;
    out[2] = (uint8_t)(n + 5);
    out[3] = (uint8_t)type;
    memcpy(out + 4, content, n);
    put16(out + 4 + n, s);
    put16(out + 6 + n, lg_crc_x25(out + 2, n + 4));
    out[8 + n] = 0x0d;
    out[9 + n] = 0x0a;
    return n + 10;
}

static size_t gt06_login(lg_dev *d, int step, uint8_t *out, size_t cap)
{
    if (step > 0)
        return 0;
    /* Terminal id: the IMEI as 16 BCD digits, a leading 0. */
    char digits[LG_UID_MAX + 2];
    uint8_t id[8];
    if (strlen(d->uid) != 15)
        return 0;
    snprintf(digits, sizeof(digits), "0%s", d->uid);
    for (int i = 0; i < 8; i++)
        id[i] = (uint8_t)((digits[2 * i] - '0') << 4 | (digits[2 * i + 1] - '0'));
    return gt06_frame(d, 0x01, id, sizeof(id), out, cap, NULL);
}

static size_t gt06_position(lg_dev *d, const lg_fix *f, uint8_t *out, size_t cap, uint32_t *key)
{
    struct tm tm = fields(f->time_ms, 0);
    uint8_t c[32], *p = c;
    /* GPS: date and time (UTC), GPS info length 12 and 9 satellites,
     * latitude and longitude in 1/30000 minute, km/h, course and status
     * (positioned, north or south, east or west). */
    *p++ = (uint8_t)(tm.tm_year % 100);
    *p++ = (uint8_t)(tm.tm_mon + 1);
    *p++ = (uint8_t)tm.tm_mday;
    *p++ = (uint8_t)tm.tm_hour;
    *p++ = (uint8_t)tm.tm_min;
    *p++ = (uint8_t)tm.tm_sec;
    *p++ = 0xC9;
    p += put32(p, (uint32_t)llround(fabs(f->lat) * 1800000.0));
    p += put32(p, (uint32_t)llround(fabs(f->lon) * 1800000.0));
    *p++ = (uint8_t)f->speed;
    p += put16(p, 0x1000u | (f->lat >= 0 ? 0x0400u : 0) | (f->lon < 0 ? 0x0800u : 0) |
                      (unsigned)f->course);
    /* LBS: length 9, MCC 460, MNC 0, LAC, cell id. */
    *p++ = 9;
    p += put16(p, 460);
    *p++ = 0;
    p += put16(p, 0x287D);
    *p++ = 0x00;
    p += put16(p, 0x1F71);
    /* Status: positioned, charging, ACC on; voltage level 6, GSM 4, alarm
     * code 0 (none), language 2. */
    *p++ = 0x46;
    *p++ = 6;
    *p++ = 4;
    *p++ = 0;
    *p++ = 2;
    return gt06_frame(d, 0x16, c, (size_t)(p - c), out, cap, key);
}

static long gt06_reply(lg_dev *d, const uint8_t *buf, size_t len, lg_reply *r)
{
    (void)d;
    if (buf[0] != 0x78 || (len >= 2 && buf[1] != 0x78))
        return -1;
    if (len < 3)
        return 0;
    size_t l = buf[2], total = l + 5;
    if (l < 5)
        return -1;
    if (len < total)
        return 0;
    if (buf[total - 2] != 0x0d || buf[total - 1] != 0x0a ||
        get16(buf + l + 1) != lg_crc_x25(buf + 2, l - 1))
        return -1;
    memset(r, 0, sizeof(*r));
    r->keyed = true;
    r->key = get16(buf + l - 1);
    if (buf[3] == 0x01)
        r->kind = LG_REPLY_LOGIN;
    else if (buf[3] == 0x16)
        r->kind = LG_REPLY_ACK;
    return (long)total;
}

static const lg_proto lg_gt06 = {
    "gt06", true, LG_KEYED_TCP | LG_KEYED_UDP, gt06_uid, gt06_login, gt06_position, gt06_reply};

/* ---- teltonika --------------------------------------------------------------- */

static void teltonika_uid(uint64_t index, char *out, size_t cap)
{
    uid_num(352093000000000ULL, index, 15, out, cap);
}

static size_t teltonika_login(lg_dev *d, int step, uint8_t *out, size_t cap)
{
    size_t n = strlen(d->uid);
    if (step > 0 || d->udp || n + 2 > cap)
        return 0; /* the UDP channel packets carry the IMEI themselves */
    put16(out, (unsigned)n);
    memcpy(out + 2, d->uid, n);
    return n + 2;
}

/* Codec 8 data with one record: codec, count, time (ms), priority 0,
 * longitude, latitude (1e-7 degrees), altitude, angle, satellites, speed,
 * event id 0 and no IO elements, count. */
static size_t teltonika_data(const lg_fix *f, uint8_t *p)
{
    uint8_t *s = p;
    uint64_t t = (uint64_t)f->time_ms;
    *p++ = 0x08;
    *p++ = 1;
    p += put32(p, (uint32_t)(t >> 32));
    p += put32(p, (uint32_t)t);
    *p++ = 0;
    p += put32(p, (uint32_t)(int32_t)llround(f->lon * 1e7));
    p += put32(p, (uint32_t)(int32_t)llround(f->lat * 1e7));
    p += put16(p, 112);
    p += put16(p, (unsigned)f->course);
    *p++ = 9;
    p += put16(p, (unsigned)f->speed);
    memset(p, 0, 6); /* event id, total IO count, 1-, 2-, 4-, 8-byte counts */
    p += 6;
    *p++ = 1;
    return (size_t)(p - s);
}

static size_t teltonika_position(lg_dev *d, const lg_fix *f, uint8_t *out, size_t cap,
                                 uint32_t *key)
{
    size_t idn = strlen(d->uid);
    if (cap < 64 + idn)
        return 0;
    uint16_t s = next_serial(d);
    *key = s;
    if (d->udp) {
        /* Length, packet id, type 01 (no ack wanted is 00), AVL packet id,
         * IMEI, data. */
        uint8_t *p = out + 2;
        p += put16(p, s);
        *p++ = 0x01;
        *p++ = (uint8_t)s;
        p += put16(p, (unsigned)idn);
        memcpy(p, d->uid, idn);
        p += idn;
        p += teltonika_data(f, p);
        put16(out, (unsigned)(p - out - 2));
        return (size_t)(p - out);
    }
    /* Preamble, data length, data, CRC-16/ARC of the data. */
    size_t n = teltonika_data(f, out + 8);
    put32(out, 0);
    put32(out + 4, (uint32_t)n);
    put32(out + 8 + n, lg_crc_arc(out + 8, n));
    return n + 12;
}

static long teltonika_reply(lg_dev *d, const uint8_t *buf, size_t len, lg_reply *r)
{
    memset(r, 0, sizeof(*r));
    if (d->udp) {
        /* 0005 <packet id> 01 <AVL packet id> <count>; a datagram each. */
        if (len < 7)
            return len == 0 ? 0 : -1;
        if (get16(buf) != 5 || buf[4] != 0x01)
            return -1;
        r->keyed = true;
        r->key = get16(buf + 2);
        r->kind = buf[6] ? LG_REPLY_ACK : LG_REPLY_REFUSED;
        return 7;
    }
    if (!d->logged_in) {
        r->kind = buf[0] == 0x01 ? LG_REPLY_LOGIN : LG_REPLY_REFUSED;
        return 1;
    }
    if (len < 4)
        return 0;
    uint32_t count = (uint32_t)get16(buf) << 16 | get16(buf + 2);
    r->kind = count == 1 ? LG_REPLY_ACK : LG_REPLY_REFUSED;
    return 4;
}

static const lg_proto lg_teltonika = {
    "teltonika",        true,           LG_KEYED_UDP, teltonika_uid, teltonika_login,
    teltonika_position, teltonika_reply};

/* ---- jt808 ------------------------------------------------------------------- */

static void jt808_uid(uint64_t index, char *out, size_t cap)
{
    snprintf(out, cap, "%llu", 13900000000ULL + (unsigned long long)index);
}

/* 7e <id> <attributes> <phone BCD[6]> <serial> <body> <xor> 7e, escaped. */
static size_t jt808_frame(lg_dev *d, unsigned id, const uint8_t *body, size_t n, uint8_t *out,
                          size_t cap, uint32_t *key)
{
    uint8_t raw[LG_FRAME_MAX / 2];
    char phone[13];
    if (n + 13 > sizeof(raw) || 2 * (n + 13) + 2 > cap)
        return 0;
    uint16_t s = next_serial(d);
    if (key)
        *key = s;
    size_t k = 0;
    k += put16(raw + k, id);
    k += put16(raw + k, (unsigned)n);
    snprintf(phone, sizeof(phone), "%012llu", 13900000000ULL + (unsigned long long)d->index);
    for (int i = 0; i < 6; i++)
        raw[k++] = (uint8_t)((phone[2 * i] - '0') << 4 | (phone[2 * i + 1] - '0'));
    k += put16(raw + k, s);
    memcpy(raw + k, body, n);
    k += n;
    uint8_t x = 0;
    for (size_t i = 0; i < k; i++)
        x ^= raw[i];
    raw[k++] = x;
    size_t o = 0;
    out[o++] = 0x7e;
    for (size_t i = 0; i < k; i++) {
        if (raw[i] == 0x7e || raw[i] == 0x7d) {
            out[o++] = 0x7d;
            out[o++] = raw[i] == 0x7e ? 0x02 : 0x01;
        } else {
            out[o++] = raw[i];
        }
    }
    out[o++] = 0x7e;
    return o;
}

static size_t jt808_login(lg_dev *d, int step, uint8_t *out, size_t cap)
{
    if (step == 0) {
        /* Province 44, city 307, maker, model (20), terminal id (7), plate
         * colour 1, plate. */
        uint8_t b[64], *p = b;
        p += put16(p, 44);
        p += put16(p, 307);
        memcpy(p, "TRKLG", 5);
        p += 5;
        memset(p, 0, 20);
        memcpy(p, "LOADGEN", 7);
        p += 20;
        memcpy(p, "LG00001", 7);
        p += 7;
        *p++ = 1;
        memcpy(p, "B12345", 6);
        p += 6;
        return jt808_frame(d, 0x0100, b, (size_t)(p - b), out, cap, NULL);
    }
    if (step == 1) {
        /* The code the registration answer gave (the id, when no answer was
         * awaited). */
        const char *code = d->auth[0] ? d->auth : d->uid;
        return jt808_frame(d, 0x0102, (const uint8_t *)code, strlen(code), out, cap, NULL);
    }
    return 0;
}

static uint8_t bcd(int v)
{
    return (uint8_t)((v / 10) << 4 | (v % 10));
}

static size_t jt808_position(lg_dev *d, const lg_fix *f, uint8_t *out, size_t cap, uint32_t *key)
{
    /* Alarm flags 0; status ACC on, positioned, south/west bits; 1e-6
     * degrees; altitude m; speed 1/10 km/h; course; time BCD in GMT+8. */
    uint8_t b[28], *p = b;
    struct tm tm = fields(f->time_ms, 8 * 3600);
    p += put32(p, 0);
    p += put32(p, 0x3u | (f->lat < 0 ? 0x4u : 0) | (f->lon < 0 ? 0x8u : 0));
    p += put32(p, (uint32_t)llround(fabs(f->lat) * 1e6));
    p += put32(p, (uint32_t)llround(fabs(f->lon) * 1e6));
    p += put16(p, 12);
    p += put16(p, (unsigned)(f->speed * 10));
    p += put16(p, (unsigned)f->course);
    *p++ = bcd(tm.tm_year % 100);
    *p++ = bcd(tm.tm_mon + 1);
    *p++ = bcd(tm.tm_mday);
    *p++ = bcd(tm.tm_hour);
    *p++ = bcd(tm.tm_min);
    *p++ = bcd(tm.tm_sec);
    return jt808_frame(d, 0x0200, b, sizeof(b), out, cap, key);
}

static long jt808_reply(lg_dev *d, const uint8_t *buf, size_t len, lg_reply *r)
{
    if (buf[0] != 0x7e)
        return -1;
    if (len < 2)
        return 0;
    if (buf[1] == 0x7e)
        return 1; /* a flag shared by two frames, or an empty frame */
    const uint8_t *e = memchr(buf + 1, 0x7e, len - 1);
    if (!e)
        return len > LG_FRAME_MAX ? -1 : 0;
    long total = (long)(e - buf) + 1;
    uint8_t raw[LG_FRAME_MAX];
    size_t k = 0;
    for (const uint8_t *p = buf + 1; p < e && k < sizeof(raw); p++) {
        if (*p == 0x7d && p + 1 < e) {
            p++;
            raw[k++] = *p == 0x02 ? 0x7e : 0x7d;
        } else {
            raw[k++] = *p;
        }
    }
    uint8_t x = 0;
    for (size_t i = 0; i + 1 < k; i++)
        x ^= raw[i];
    if (k < 13 || x != raw[k - 1])
        return -1;
    memset(r, 0, sizeof(*r));
    unsigned id = get16(raw), blen = get16(raw + 2) & 0x3ff;
    size_t head = (get16(raw + 2) & 0x4000) ? 17 : 12;
    if (head + blen + 1 != k)
        return -1;
    const uint8_t *body = raw + head;
    if (id == 0x8100 && blen >= 3) {
        size_t n = blen - 3 < sizeof(d->auth) - 1 ? blen - 3 : sizeof(d->auth) - 1;
        memcpy(d->auth, body + 3, n);
        d->auth[n] = '\0';
        r->kind = body[2] == 0 ? LG_REPLY_LOGIN : LG_REPLY_REFUSED;
    } else if (id == 0x8001 && blen >= 5) {
        unsigned answered = get16(body + 2);
        r->keyed = true;
        r->key = get16(body);
        if (body[4] != 0)
            r->kind = LG_REPLY_REFUSED;
        else if (answered == 0x0102)
            r->kind = LG_REPLY_LOGIN;
        else if (answered == 0x0200)
            r->kind = LG_REPLY_ACK;
    }
    return total;
}

static const lg_proto lg_jt808 = {"jt808",    true,        LG_KEYED_TCP | LG_KEYED_UDP,
                                  jt808_uid,  jt808_login, jt808_position,
                                  jt808_reply};

/* ---- gotop -------------------------------------------------------------------- */

static void gotop_uid(uint64_t index, char *out, size_t cap)
{
    uid_num(353327000000000ULL, index, 15, out, cap);
}

static size_t gotop_login(lg_dev *d, int step, uint8_t *out, size_t cap)
{
    (void)d;
    (void)step;
    (void)out;
    (void)cap;
    return 0; /* every frame carries the IMEI */
}

static size_t gotop_position(lg_dev *d, const lg_fix *f, uint8_t *out, size_t cap, uint32_t *key)
{
    struct tm tm = fields(f->time_ms, 0);
    *key = next_serial(d);
    return text(out, cap,
                snprintf((char *)out, cap,
                         "#%s,CMD-T,A,DATE:%02d%02d%02d,TIME:%02d%02d%02d,LAT:%010.7f%c,"
                         "LOT:%011.7f%c,Speed:%05.1f,84-20,%03d#",
                         d->uid, tm.tm_year % 100, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                         tm.tm_sec, fabs(f->lat), f->lat < 0 ? 'S' : 'N', fabs(f->lon),
                         f->lon < 0 ? 'W' : 'E', (double)f->speed, f->course));
}

static long gotop_reply(lg_dev *d, const uint8_t *buf, size_t len, lg_reply *r)
{
    (void)d;
    (void)buf;
    memset(r, 0, sizeof(*r));
    return (long)len; /* the protocol has no replies: whatever comes is other */
}

static const lg_proto lg_gotop = {"gotop",     false,          0,          gotop_uid,
                                  gotop_login, gotop_position, gotop_reply};

/* ---- registry ------------------------------------------------------------------ */

const lg_proto *const lg_protocols[] = {&lg_iw,    &lg_watch, &lg_gt06, &lg_teltonika,
                                        &lg_jt808, &lg_gotop, NULL};

const lg_proto *lg_proto_find(const char *name)
{
    for (int i = 0; lg_protocols[i]; i++)
        if (!strcmp(lg_protocols[i]->name, name))
            return lg_protocols[i];
    return NULL;
}

bool lg_keyed(const lg_dev *d)
{
    return (d->proto->keyed & (d->udp ? LG_KEYED_UDP : LG_KEYED_TCP)) != 0;
}

void lg_dev_init(lg_dev *d, const lg_proto *p, uint64_t index, bool udp)
{
    memset(d, 0, sizeof(*d));
    d->proto = p;
    d->index = index;
    d->udp = udp;
    d->serial = 1;
    p->uid(index, d->uid, sizeof(d->uid));
}

lg_fix lg_fix_make(uint64_t index, uint64_t seq, int64_t base_s)
{
    lg_fix f;
    f.time_ms = (base_s + (int64_t)seq) * 1000;
    /* 1e-6 degree steps: every protocol carries them (to its precision). */
    f.lat = 22.5 + (double)(index % 1000) * 1e-4 + (double)(seq % 1000) * 1e-5;
    f.lon = 114.0 + (double)(index / 1000 % 1000) * 1e-4 + (double)(seq % 997) * 1e-5;
    f.speed = 10 + (int)(seq % 80);
    f.course = (int)((index * 7 + seq * 13) % 360);
    return f;
}
