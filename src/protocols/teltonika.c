/*
 * teltonika: the binary protocols of Teltonika trackers (FMB/FMC/FMM/FMT/FTC
 * vehicle trackers, TMT/TAT/TFT/GH personal and asset trackers and the older
 * FM and GH3000 series), after the manufacturer's "Teltonika Data Sending
 * Protocols" (codecs 8, 8 Extended, 16, 12, 13, 14 and 15), its "Help with
 * Server FAQ" (the IMEI handshake and the record-count acknowledgement) and
 * the GH3000 TCP/UDP data protocol v1.08 (codec 7). Addresses and decisions:
 * docs/protocols/teltonika.md.
 *
 * TCP: a connection opens with the IMEI, <length:2> and ASCII digits,
 * answered 0x01. Then each AVL packet is 00000000 <data length:4> <codec>
 * <records:1> <records> <records:1> <CRC-16/IBM:4>, the length and the CRC
 * covering codec to the second count; the server answers the number of
 * records as 4 bytes. UDP: a channel header <length:2> <packet id:2>
 * <packet type:1>, then <AVL packet id:1> <IMEI length:2> <IMEI> and the
 * same codec-to-count data without length or CRC, answered 0005 <packet id>
 * 01 <AVL packet id> <records:1>. All numbers are big-endian.
 *
 * Message types: the IMEI handshake; AVL packets of codec 8 (1-byte IO ids),
 * 8 Extended (2-byte ids and counts, variable-length NX elements), 16
 * (2-byte ids, generation type) and 7 (GH3000: masks, float coordinates,
 * seconds since 2007), over TCP and UDP; codec 12 command responses and
 * other codec 12 messages; codec 13 device messages with a timestamp; codec
 * 14 responses and refusals (nACK) with the IMEI; codec 15 messages with
 * timestamp and IMEI. IO elements become io<id> attributes, the well-known
 * ones canonical attributes and alarms (see io_canonical()). Downlink: codec
 * 12 GPRS commands (getgps, setdigout, cpureset, custom text) over TCP.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/text.h"
#include "protocols/encode.h"
#include "protocols/registry.h"

#define TL_MAX_FRAME 16384 /* FMB packets stay under 1280 bytes; codec 8E BLE data grows */
#define TL_ID_MIN 8        /* IMEI length range in the handshake and the UDP header */
#define TL_ID_MAX 20
#define TL_UDP_MIN 30              /* a UDP channel packet is longer than any handshake */
#define TL_HEX_MAX 96              /* bytes of a long IO value kept as hex */
#define TL_TEXT_MAX 200            /* bytes of a command response kept as text */
#define TL_SPEED_MAX 1000          /* km/h; above is a broken speed field */
#define TL_ACK_RESPONSE "response" /* ack key: commands a codec 12/14 response answers */
#define TL_ACK_NONE "none"         /* ack key: commands nothing answers */
#define TL_STATE_UDP 1             /* session state[0]: the device speaks the UDP channel form */
#define TL_GH_EPOCH 1167609600LL   /* codec 7 times count seconds from 2007-01-01 UTC */

/* Codec ids. */
enum {
    CODEC_GH3000 = 0x07,
    CODEC_8 = 0x08,
    CODEC_8E = 0x8E,
    CODEC_16 = 0x10,
    CODEC_12 = 0x0C,
    CODEC_13 = 0x0D,
    CODEC_14 = 0x0E,
    CODEC_15 = 0x0F,
};

/* Codec 12/14 message types. */
enum { MSG_COMMAND = 0x05, MSG_RESPONSE = 0x06, MSG_NACK = 0x11 };

static bool avl_codec(unsigned c)
{
    return c == CODEC_8 || c == CODEC_8E || c == CODEC_16 || c == CODEC_GH3000;
}

static bool known_codec(unsigned c)
{
    return avl_codec(c) || (c >= CODEC_12 && c <= CODEC_15);
}

/* Big-endian unsigned value of n (<= 8) bytes. */
static uint64_t be(const uint8_t *p, size_t n)
{
    uint64_t v = 0;
    while (n--)
        v = v << 8 | *p++;
    return v;
}

/* CRC-16/IBM (reflected 0x8005, init 0), over codec id to the second count. */
static unsigned crc16_ibm(const uint8_t *p, size_t n)
{
    unsigned crc = 0;
    while (n--) {
        crc ^= *p++;
        for (int i = 0; i < 8; i++)
            crc = (crc & 1) ? (crc >> 1) ^ 0xA001 : crc >> 1;
    }
    return crc;
}

static bool all_digits(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] < '0' || p[i] > '9')
            return false;
    return true;
}

/* ---- a bounded cursor over the AVL data ------------------------------- */

/* Reads past the end set `out` and return zeros; callers check once. */
typedef struct tl_cur {
    const uint8_t *p;
    size_t n, at;
    bool out;
} tl_cur;

static const uint8_t *take(tl_cur *c, size_t k)
{
    static const uint8_t zeros[8];
    if (c->out || c->n - c->at < k) {
        c->out = true;
        return k <= sizeof(zeros) ? zeros : NULL;
    }
    const uint8_t *q = c->p + c->at;
    c->at += k;
    return q;
}

static uint64_t num(tl_cur *c, size_t k)
{
    return be(take(c, k), k);
}

/* ---- IO elements ------------------------------------------------------ */

/* What one AVL record is being decoded into. r is NULL while only measuring
 * (the framer) or when the record is past TD_MAX_RECORDS. */
typedef struct tl_rec {
    td_record *r;
    unsigned codec;
    unsigned dropped; /* IO elements that did not fit in the record */
    bool has_cid, has_lac, has_op;
    uint64_t cid, lac, op;
} tl_rec;

static void raw_int(tl_rec *s, const char *key, int64_t v)
{
    if (s->r->nraw >= TD_MAX_RAW - 1 || td_rec_raw_int(s->r, key, v) != 0)
        s->dropped++;
}

static void raw_hex(tl_rec *s, const char *key, const uint8_t *p, size_t n)
{
    char hex[2 * TL_HEX_MAX + 1];
    td_hex_encode(p, n < TL_HEX_MAX ? n : TL_HEX_MAX, hex, sizeof(hex));
    if (s->r->nraw >= TD_MAX_RAW - 1 || s->r->arena_used + strlen(hex) + 24 > TD_RAW_ARENA ||
        td_rec_raw_str(s->r, key, hex, strlen(hex)) != 0)
        s->dropped++;
}

/*
 * The elements with a meaning in CONTRACT.md (codecs 8, 8E and 16; the
 * GH3000 numbers its elements differently). Returns true when the element
 * became a canonical attribute and needs no io<id>; alarms keep their
 * io<id> too, since the value says more than the alarm name.
 */
static bool io_canonical(tl_rec *s, unsigned id, uint64_t v)
{
    td_record *r = s->r;

    switch (id) {
    case 239: /* Ignition */
        td_rec_set_bool(r, TD_ATTR_IGNITION, v != 0);
        return true;
    case 240: /* Movement */
        td_rec_set_bool(r, TD_ATTR_MOTION, v != 0);
        return true;
    case 21: /* GSM signal, 0-5 */
        td_rec_set_int(r, TD_ATTR_RSSI, (int64_t)v);
        return true;
    case 67: /* Battery voltage, mV */
        td_rec_set_double(r, TD_ATTR_BATTERY, (double)v / 1000.0);
        return true;
    case 113: /* Battery level, % */
        if (v > 100)
            return false;
        td_rec_set_int(r, TD_ATTR_BATTERY_LEVEL, (int64_t)v);
        return true;
    case 16: /* Total odometer, m */
        td_rec_set_double(r, TD_ATTR_ODOMETER, (double)v);
        return true;
    case 182: /* GNSS HDOP, 0.1 */
        td_rec_set_double(r, TD_ATTR_HDOP, (double)v / 10.0);
        return true;
    case 205: /* GSM cell id */
        s->has_cid = true, s->cid = v;
        return true;
    case 206: /* GSM area code */
        s->has_lac = true, s->lac = v;
        return true;
    case 241: /* Active GSM operator, MCC and MNC as one number */
        s->has_op = true, s->op = v;
        return true;
    case 236: /* Alarm: 1 - alarm event occurred */
        if (v)
            td_rec_alarm(r, TD_ALARM_SOS);
        return false;
    case 252: /* Unplug: 1 - battery (external power) unplugged */
        if (v == 1)
            td_rec_alarm(r, TD_ALARM_POWER_CUT);
        return false;
    case 255: /* Over speeding: the speed at its start and end */
        td_rec_alarm(r, TD_ALARM_OVERSPEED);
        return false;
    case 155: /* Geofence zones 01-05 */
    case 156:
    case 157:
    case 158:
    case 159:
    case 175: /* Auto geofence */
        if (v == 0)
            td_rec_alarm(r, TD_ALARM_GEOFENCE_EXIT);
        else if (v == 1)
            td_rec_alarm(r, TD_ALARM_GEOFENCE_ENTER);
        else if (v == 3 && id != 175)
            td_rec_alarm(r, TD_ALARM_OVERSPEED);
        return false;
    default:
        return false;
    }
}

/* One IO element of n value bytes: 1, 2 and 4 bytes as unsigned numbers,
 * 8 bytes and the variable-length (8E NX) values (var) as hex. */
static void io_element(tl_rec *s, unsigned id, const uint8_t *v, size_t n, bool var)
{
    char key[16];
    bool number = n <= 4 && !var;

    if (!s->r)
        return;
    if (number && s->codec != CODEC_GH3000 && io_canonical(s, id, be(v, n)))
        return;
    snprintf(key, sizeof(key), "io%u", id);
    if (number)
        raw_int(s, key, (int64_t)be(v, n));
    else
        raw_hex(s, key, v, n);
}

/* After the last element: the serving cell, and what had no room. */
static void io_done(tl_rec *s)
{
    if (!s->r)
        return;
    if (s->has_cid && s->has_lac && s->has_op && s->op >= 10000) {
        /* 24602: MCC 246, MNC 02; six digits carry a three-digit MNC. */
        unsigned div = s->op >= 100000 ? 1000 : 100;
        td_rec_add_cell(s->r, (int)(s->op / div), (int)(s->op % div), (int64_t)s->lac,
                        (int64_t)s->cid, false, 0);
    } else {
        if (s->has_cid)
            raw_int(s, "io205", (int64_t)s->cid);
        if (s->has_lac)
            raw_int(s, "io206", (int64_t)s->lac);
        if (s->has_op)
            raw_int(s, "io241", (int64_t)s->op);
    }
    if (s->dropped)
        td_rec_raw_int(s->r, "ioDropped", s->dropped);
}

/* ---- AVL records ------------------------------------------------------ */

/* A fix time: kept when after 2000 and before 2100, else the server time
 * stands (has_time false). */
static void set_time(td_record *r, int64_t ms)
{
    if (ms >= 946684800000LL && ms < 4102444800000LL) {
        r->time_ms = ms;
        r->has_time = true;
    }
}

/* The IO block of codecs 8, 8E and 16. */
static void io_block(tl_cur *c, tl_rec *s, unsigned codec)
{
    size_t wide = codec == CODEC_8 ? 1 : 2; /* id width */
    size_t cnt = codec == CODEC_8E ? 2 : 1; /* count width */
    static const size_t sizes[] = {1, 2, 4, 8};

    num(c, cnt); /* total, not checked: firmware counts it differently */
    for (size_t k = 0; k < 4 && !c->out; k++) {
        uint64_t n = num(c, cnt);
        for (uint64_t i = 0; i < n && !c->out; i++) {
            unsigned id = (unsigned)num(c, wide);
            const uint8_t *v = take(c, sizes[k]);
            if (!c->out)
                io_element(s, id, v, sizes[k], false);
        }
    }
    if (codec == CODEC_8E) {
        uint64_t n = num(c, 2);
        for (uint64_t i = 0; i < n && !c->out; i++) {
            unsigned id = (unsigned)num(c, 2);
            size_t len = (size_t)num(c, 2);
            const uint8_t *v = take(c, len);
            if (!c->out)
                io_element(s, id, v, len, true);
        }
    }
}

/*
 * One record of codec 8, 8E or 16: timestamp (ms, 8), priority (1), GPS
 * element (longitude and latitude signed 1e-7 degrees, altitude m, angle,
 * satellites, speed km/h), event IO id (1; 2 in 8E and 16), generation
 * type (16 only), then the IO block.
 */
static void avl_record(tl_cur *c, tl_rec *s, unsigned codec)
{
    int64_t ts = (int64_t)num(c, 8);
    unsigned prio = (unsigned)num(c, 1);
    int32_t lon = (int32_t)(uint32_t)num(c, 4), lat = (int32_t)(uint32_t)num(c, 4);
    int16_t alt = (int16_t)(uint16_t)num(c, 2);
    unsigned angle = (unsigned)num(c, 2), sats = (unsigned)num(c, 1);
    unsigned speed = (unsigned)num(c, 2);
    unsigned event = (unsigned)num(c, codec == CODEC_8 ? 1 : 2);
    unsigned gen = codec == CODEC_16 ? (unsigned)num(c, 1) : 0;
    td_record *r = s->r;

    if (r && !c->out) {
        double la = lat / 1e7, lo = lon / 1e7;
        set_time(r, ts);
        td_rec_raw_int(r, "priority", prio);
        if (fabs(la) > 90 || fabs(lo) > 180) {
            /* Not a place: the record keeps its telemetry without a fix. */
            r->type = TD_REC_STATUS;
            td_rec_raw_int(r, "rawLatitude", lat);
            td_rec_raw_int(r, "rawLongitude", lon);
        } else {
            r->latitude = la;
            r->longitude = lo;
            r->altitude = alt;
            r->course = angle <= 360 ? angle : 0;
            r->valid = sats > 0; /* no fix: angle, satellites and speed are 0 */
            if (speed <= TL_SPEED_MAX)
                r->speed = speed;
            else
                td_rec_raw_int(r, "rawSpeed", speed);
        }
        td_rec_set_int(r, TD_ATTR_SATELLITES, sats);
        if (event)
            td_rec_raw_int(r, "event", event);
        if (codec == CODEC_16)
            td_rec_raw_int(r, "generation", gen);
    }
    io_block(c, s, codec);
}

/*
 * One GH3000 record (codec 7): time (4: priority in the top 2 bits, seconds
 * since 2007 below), global mask (bit 0 GPS element, 1-3 IO elements of 1,
 * 2 and 4 bytes), GPS mask (bit 0 latitude and longitude as floats, 1
 * altitude 2, 2 angle 1 (x 360/256), 3 speed 1, 4 satellites 1, 5 LAC and
 * cell id 2+2, 6 signal quality 1, 7 operator code 4), then per IO size a
 * count and (id 1, value) pairs.
 */
static void gh_record(tl_cur *c, tl_rec *s)
{
    uint32_t t = (uint32_t)num(c, 4);
    unsigned global = (unsigned)num(c, 1), gps = 0;
    td_record *r = s->r;
    bool has_fix = false, has_cell = false, has_op = false;
    unsigned sats = 0, lac = 0, cid = 0;
    uint32_t op = 0;
    float la = 0, lo = 0;

    if (global & 1) {
        gps = (unsigned)num(c, 1);
        if (gps & 0x01) {
            uint32_t a = (uint32_t)num(c, 4), b = (uint32_t)num(c, 4);
            memcpy(&la, &a, sizeof(la));
            memcpy(&lo, &b, sizeof(lo));
            has_fix = true;
        }
        if (gps & 0x02 && r)
            r->altitude = (int16_t)(uint16_t)num(c, 2);
        else if (gps & 0x02)
            num(c, 2);
        unsigned angle = gps & 0x04 ? (unsigned)num(c, 1) : 0;
        unsigned speed = gps & 0x08 ? (unsigned)num(c, 1) : 0;
        if (gps & 0x10)
            sats = (unsigned)num(c, 1);
        if (gps & 0x20) {
            lac = (unsigned)num(c, 2);
            cid = (unsigned)num(c, 2);
            has_cell = true;
        }
        unsigned signal = gps & 0x40 ? (unsigned)num(c, 1) : 0;
        if (gps & 0x80) {
            op = (uint32_t)num(c, 4);
            has_op = true;
        }
        if (r) {
            r->course = angle * 360.0 / 256.0;
            r->speed = speed;
            if (gps & 0x10)
                td_rec_set_int(r, TD_ATTR_SATELLITES, sats);
            if (gps & 0x40)
                td_rec_set_int(r, TD_ATTR_RSSI, signal);
        }
    }
    if (r && !c->out) {
        if (has_fix && (!isfinite(la) || !isfinite(lo) || fabsf(la) > 90 || fabsf(lo) > 180))
            has_fix = false; /* not a place: telemetry without a fix */
        set_time(r, (TL_GH_EPOCH + (t & 0x3fffffff)) * 1000);
        td_rec_raw_int(r, "priority", t >> 30);
        if (has_fix) {
            r->latitude = la;
            r->longitude = lo;
            r->valid = !(gps & 0x10) || sats > 0;
        } else {
            r->type = TD_REC_STATUS;
            r->speed = r->course = r->altitude = 0;
        }
        if (has_cell && has_op && op >= 10000)
            td_rec_add_cell(r, (int)(op / (op >= 100000 ? 1000 : 100)),
                            (int)(op % (op >= 100000 ? 1000 : 100)), lac, cid, false, 0);
    }
    for (unsigned bit = 1; bit <= 3; bit++) {
        if (!(global & (1u << bit)))
            continue;
        size_t size = (size_t)1 << (bit - 1);
        unsigned n = (unsigned)num(c, 1);
        for (unsigned i = 0; i < n && !c->out; i++) {
            unsigned id = (unsigned)num(c, 1);
            const uint8_t *v = take(c, size);
            if (!c->out)
                io_element(s, id, v, size, false);
        }
    }
}

/*
 * The AVL data array at c: codec, count, records, count. With ctx NULL it
 * only measures (the framer). Records past TD_MAX_RECORDS are read but not
 * kept; the last kept record says how many were left out (batchSkipped).
 * Returns 0 with *count set, TD_EAGAIN when the data ends early, or
 * TD_EBADFRAME (message set when ctx is given).
 */
static int avl_array(td_decode_ctx *ctx, tl_cur *c, unsigned *count)
{
    unsigned codec = (unsigned)num(c, 1), n = (unsigned)num(c, 1), skipped = 0;
    td_record *last = NULL;

    if (c->out)
        return TD_EAGAIN;
    if (!avl_codec(codec))
        return ctx ? td_ctx_error(ctx, TD_EBADFRAME, "teltonika: codec 0x%02X carries no records",
                                  codec)
                   : TD_EBADFRAME;
    if (n == 0)
        return ctx ? td_ctx_error(ctx, TD_EBADFRAME, "teltonika: AVL packet without records")
                   : TD_EBADFRAME;
    for (unsigned i = 0; i < n; i++) {
        tl_rec s = {.codec = codec};
        if (ctx) {
            s.r = td_ctx_add(ctx, TD_REC_POSITION);
            if (s.r)
                last = s.r;
            else
                skipped++;
        }
        if (codec == CODEC_GH3000)
            gh_record(c, &s);
        else
            avl_record(c, &s, codec);
        if (c->out)
            break;
        io_done(&s);
    }
    unsigned n2 = (unsigned)num(c, 1);
    if (c->out) {
        if (ctx)
            return td_ctx_error(ctx, TD_EBADFRAME,
                                "teltonika: codec 0x%02X data ends inside its %u records", codec,
                                n);
        return TD_EAGAIN;
    }
    /* The second count repeats the first. Decoding a frame whose records
     * fill it up to its CRC, the records count and a wrong repeat is let
     * pass; the framer cannot tell where such a packet ends. */
    if (n2 != n && (!ctx || c->n - c->at > 4))
        return ctx ? td_ctx_error(ctx, TD_EBADFRAME,
                                  "teltonika: record counts differ (%u, then %u)", n, n2)
                   : TD_EBADFRAME;
    if (skipped && last)
        td_rec_raw_int(last, "batchSkipped", skipped);
    *count = n;
    return 0;
}

/* ---- framing and detection ------------------------------------------- */

/*
 * Length of the AVL packet at buf (preamble seen): the records themselves
 * say where it ends (codec to second count, then the 4-byte CRC), which
 * also holds when the length field is wrong; other codecs, and records that
 * do not add up, go by the length field. 0: need more.
 */
static long avl_packet_length(const uint8_t *buf, size_t len)
{
    size_t dl = (size_t)be(buf + 4, 4);
    size_t by_field = 12 + dl; /* 0 or a short length: only the records can tell */
    bool field_ok = dl >= 2;

    if (by_field > TL_MAX_FRAME)
        return TD_ETOOBIG;
    if (avl_codec(buf[8])) {
        tl_cur c = {buf + 8, len - 8, 0, false};
        unsigned n;
        int rc = avl_array(NULL, &c, &n);
        if (rc == 0)
            return 8 + c.at + 4 <= len ? (long)(8 + c.at + 4) : 0;
        /* Records that need more than the length field gives are broken:
         * the field decides, and decode() says what is wrong. */
        if (rc == TD_EAGAIN && !(field_ok && by_field <= len))
            return len >= TL_MAX_FRAME ? TD_ETOOBIG : 0;
    }
    if (!field_ok)
        return TD_EUNFRAMEABLE;
    return by_field <= len ? (long)by_field : 0;
}

static long frame(const uint8_t *buf, size_t len, size_t *skip)
{
    *skip = 0;
    if (len < 2)
        return 0;
    if (buf[0] != 0)
        return TD_EUNFRAMEABLE;
    if (buf[1] != 0) {
        /* The IMEI handshake, or a UDP channel packet: length (below 256, as
         * the first byte is 0), then that many bytes. */
        size_t total = 2 + (size_t)buf[1];
        return len >= total ? (long)total : 0;
    }
    if (len < 10)
        return 0;
    if (buf[2] || buf[3])
        return TD_EUNFRAMEABLE;
    return avl_packet_length(buf, len);
}

/* The IMEI handshake: length 8-20, then as many ASCII digits. */
static int detect_imei(const uint8_t *buf, size_t len, size_t l)
{
    size_t have = len - 2 < l ? len - 2 : l;
    if (!all_digits(buf + 2, have))
        return TD_DETECT_NO;
    return have == l ? TD_DETECT_YES : TD_DETECT_MAYBE;
}

/* A UDP channel packet: length, packet id, type 0/1, AVL packet id, IMEI
 * length and digits, a known AVL codec and at least one record. */
static int detect_udp(const uint8_t *buf, size_t len)
{
    if (len < 5)
        return TD_DETECT_MAYBE;
    if (buf[4] > 1)
        return TD_DETECT_NO;
    if (len < 8)
        return TD_DETECT_MAYBE;
    size_t l = (size_t)be(buf + 6, 2);
    if (l < TL_ID_MIN || l > TL_ID_MAX)
        return TD_DETECT_NO;
    size_t have = len - 8 < l ? len - 8 : l;
    if (!all_digits(buf + 8, have))
        return TD_DETECT_NO;
    if (len < 8 + l + 2)
        return TD_DETECT_MAYBE;
    return avl_codec(buf[8 + l]) && buf[9 + l] > 0 ? TD_DETECT_YES : TD_DETECT_NO;
}

static int detect(const uint8_t *buf, size_t len)
{
    if (len == 0)
        return TD_DETECT_MAYBE;
    if (buf[0] != 0)
        return TD_DETECT_NO;
    if (len < 2)
        return TD_DETECT_MAYBE;
    if (buf[1] != 0) {
        size_t l = (size_t)buf[1];
        if (l >= TL_ID_MIN && l <= TL_ID_MAX)
            return detect_imei(buf, len, l);
        return l >= TL_UDP_MIN ? detect_udp(buf, len) : TD_DETECT_NO;
    }
    /* 00000000, a length that fits, a known codec, at least one record. */
    for (size_t i = 2; i < 4 && i < len; i++)
        if (buf[i] != 0)
            return TD_DETECT_NO;
    if (len < 8)
        return TD_DETECT_MAYBE;
    if (be(buf + 4, 4) > TL_MAX_FRAME - 12)
        return TD_DETECT_NO;
    if (len < 10)
        return len == 9 && !known_codec(buf[8]) ? TD_DETECT_NO : TD_DETECT_MAYBE;
    return known_codec(buf[8]) && buf[9] > 0 ? TD_DETECT_YES : TD_DETECT_NO;
}

/* ---- decoding --------------------------------------------------------- */

static int identify(td_decode_ctx *ctx, const uint8_t *id, size_t n)
{
    if (n < TL_ID_MIN || n > TL_ID_MAX || !all_digits(id, n))
        return td_ctx_error(ctx, TD_EBADFRAME, "teltonika: IMEI of %zu bytes is not %d-%d digits",
                            n, TL_ID_MIN, TL_ID_MAX);
    if (td_session_identify(ctx->session, (const char *)id, n) != 0)
        return td_ctx_error(ctx, TD_EINVAL, "teltonika: cannot use IMEI '%.*s'", (int)n,
                            (const char *)id);
    return 0;
}

/* The handshake: the IMEI, answered 0x01 (accepted). */
static int handshake(td_decode_ctx *ctx, const uint8_t *id, size_t n)
{
    int rc = identify(ctx, id, n);
    if (rc < 0)
        return rc;
    if (!td_ctx_add(ctx, TD_REC_LOGIN))
        return td_ctx_error(ctx, TD_ENOMEM, "teltonika: too many records");
    static const uint8_t accept = 0x01;
    return td_ctx_reply(ctx, &accept, 1);
}

/* A UDP channel packet (p: after the length, n bytes). */
static int udp_packet(td_decode_ctx *ctx, const uint8_t *p, size_t n)
{
    tl_cur c = {p, n, 0, false};
    unsigned packet_id = (unsigned)num(&c, 2);
    num(&c, 1); /* packet type: 1 = no channel acknowledgement wanted */
    unsigned avl_id = (unsigned)num(&c, 1);
    size_t l = (size_t)num(&c, 2);
    const uint8_t *imei = take(&c, l);
    unsigned count;
    int rc;

    if (c.out || !imei)
        return td_ctx_error(ctx, TD_EBADFRAME, "teltonika: UDP header of %zu bytes truncated", n);
    if ((rc = identify(ctx, imei, l)) < 0)
        return rc;
    ctx->session->state[0] = TL_STATE_UDP;
    if ((rc = avl_array(ctx, &c, &count)) < 0)
        return rc == TD_EAGAIN
                   ? td_ctx_error(ctx, TD_EBADFRAME, "teltonika: UDP packet without data")
                   : rc;
    if (c.at != c.n)
        return td_ctx_error(ctx, TD_EBADFRAME, "teltonika: %zu bytes after the UDP AVL data",
                            c.n - c.at);
    uint8_t ack[7] = {
        0x00,          0x05, (uint8_t)(packet_id >> 8), (uint8_t)packet_id, 0x01, (uint8_t)avl_id,
        (uint8_t)count};
    return td_ctx_reply(ctx, ack, sizeof(ack));
}

/* Text as sent when printable (tab, CR and LF included), else hex. */
static void raw_payload(td_record *r, const char *key, const uint8_t *p, size_t n)
{
    size_t k = n < TL_TEXT_MAX ? n : TL_TEXT_MAX;
    bool text = true;
    for (size_t i = 0; i < k && text; i++)
        text = (p[i] >= 0x20 && p[i] < 0x7f) || p[i] == '\r' || p[i] == '\n' || p[i] == '\t';
    if (text) {
        td_rec_raw_str(r, key, (const char *)p, k);
    } else {
        tl_rec s = {.r = r};
        raw_hex(&s, key, p, n);
    }
}

/*
 * Codecs 12-15 (body: codec to second count). Quantity, type, size (4),
 * then the payload up to the second quantity: codec 13 and 15 open it with
 * a timestamp (seconds, 4), codec 14 and 15 with the IMEI (8, as hex
 * digits). The size field is not trusted (some codec 13 firmware leaves
 * the timestamp out of it), nor is the second quantity: nothing is
 * answered, so nothing is lost by keeping what came. Responses (type 6) and codec 14 refusals
 * (0x11) are answers to commands; the rest is kept as text.
 */
static int command_message(td_decode_ctx *ctx, const uint8_t *b, size_t n)
{
    unsigned codec = b[0], type;
    size_t head = 7 + (codec == CODEC_13 || codec == CODEC_15 ? 4 : 0) +
                  (codec == CODEC_14 || codec == CODEC_15 ? 8 : 0);
    td_record *r;

    if (n < head + 1)
        return td_ctx_error(ctx, TD_EBADFRAME, "teltonika: codec 0x%02X message of %zu bytes",
                            codec, n);
    type = b[2];
    const uint8_t *pay = b + head;
    size_t pn = n - 1 - head;
    bool answer = type == MSG_RESPONSE || (codec == CODEC_14 && type == MSG_NACK);
    if (!(r = td_ctx_add(ctx, answer && codec != CODEC_13 && codec != CODEC_15 ? TD_REC_ACK
                                                                               : TD_REC_OTHER)))
        return td_ctx_error(ctx, TD_ENOMEM, "teltonika: too many records");
    td_rec_raw_int(r, "codec", codec);
    td_rec_raw_int(r, "type", type);
    if (codec == CODEC_13 || codec == CODEC_15)
        set_time(r, (int64_t)be(b + 7, 4) * 1000);
    if (codec == CODEC_14 || codec == CODEC_15) {
        char imei[17];
        td_hex_encode(b + head - 8, 8, imei, sizeof(imei));
        td_rec_raw_str(r, "imei", imei[0] == '0' ? imei + 1 : imei,
                       strlen(imei) - (imei[0] == '0'));
    }
    if (r->type == TD_REC_ACK) {
        raw_payload(r, "result", pay, pn);
        snprintf(ctx->ack, sizeof(ctx->ack), "%s", TL_ACK_RESPONSE);
        ctx->ack_failed = type == MSG_NACK;
        size_t k = pn < sizeof(ctx->ack_result) - 1 ? pn : sizeof(ctx->ack_result) - 1;
        for (size_t i = 0; i < k; i++)
            ctx->ack_result[i] = pay[i] >= 0x20 && pay[i] < 0x7f ? (char)pay[i] : ' ';
        ctx->ack_result[k] = '\0';
    } else {
        raw_payload(r, "data", pay, pn);
    }
    return 0;
}

/* A TCP packet with the 00000000 preamble. */
static int tcp_packet(td_decode_ctx *ctx, const uint8_t *f, size_t len)
{
    if (len < 10)
        return td_ctx_error(ctx, TD_EBADFRAME, "teltonika: packet of %zu bytes truncated", len);
    unsigned codec = f[8];
    size_t dl = (size_t)be(f + 4, 4);

    if (!known_codec(codec))
        return td_ctx_error(ctx, TD_EUNSUPPORTED, "teltonika: unknown codec 0x%02X", codec);
    if (!avl_codec(codec)) {
        /* A length field that does not fit (a capture cut short): the data
         * runs up to the CRC. */
        if (dl < 2 || 8 + dl > len)
            dl = len - 8 >= 4 ? len - 12 : 0;
        return command_message(ctx, f + 8, dl);
    }
    /* The records say where the data ends; the CRC (4 bytes, the first two
     * zero) follows. A wrong length field, a CRC that does not match or
     * one cut short are tolerated: TCP already checks the bytes, and a
     * structure whose two counts agree is a stronger test. */
    tl_cur c = {f + 8, len - 8, 0, false};
    unsigned count;
    int rc = avl_array(ctx, &c, &count);
    if (rc < 0)
        return rc;
    if (len - 8 - c.at > 4)
        return td_ctx_error(ctx, TD_EBADFRAME, "teltonika: %zu bytes after the CRC",
                            len - 8 - c.at - 4);
    if (len - 8 - c.at == 4 && be(f + 8 + c.at, 4) != crc16_ibm(f + 8, c.at))
        for (int i = 0; i < ctx->nrec; i++)
            td_rec_raw_bool(&ctx->rec[i], "crcMismatch", true);
    uint8_t ack[4] = {0, 0, 0, (uint8_t)count};
    return td_ctx_reply(ctx, ack, sizeof(ack));
}

static int decode_frame(td_decode_ctx *ctx, const uint8_t *f, size_t len)
{
    if (len < 2 || f[0] != 0)
        return td_ctx_error(ctx, TD_EBADFRAME, "teltonika: not a Teltonika packet (%zu bytes)",
                            len);
    if (f[1] == 0)
        return tcp_packet(ctx, f, len);
    size_t l = (size_t)be(f, 2);
    if (len != 2 + l)
        return td_ctx_error(ctx, TD_EBADFRAME,
                            "teltonika: %zu bytes where the length field says %zu", len - 2, l);
    if (l <= TL_ID_MAX)
        return handshake(ctx, f + 2, l);
    return udp_packet(ctx, f + 2, l);
}

/* ---- downlink commands ------------------------------------------------ */

/*
 * Commands go as codec 12 GPRS commands (type 05) carrying the text of the
 * device's SMS/GPRS command: 00000000 <length> 0C 01 05 <size:4> <text> 01
 * <CRC>. The device answers with a codec 12 response (type 06) that names
 * no command, so the answer goes to the oldest command waiting for one (ack
 * key TL_ACK_RESPONSE); cpureset is not answered (TL_ACK_NONE, which no
 * answer reports, so it never takes another command's answer).
 */
static const td_cmd_type tl_commands[] = {
    {"positionSingle", "Current GPS data (getgps)", {{NULL}}},
    {"engineStop", "Digital output 1 on: cut the engine (setdigout 1)", {{NULL}}},
    {"engineResume", "Digital output 1 off: restore the engine (setdigout 0)", {{NULL}}},
    {"rebootDevice", "Reboot (cpureset)", {{NULL}}},
    {"custom",
     "Custom command",
     {{"data", TD_PARAM_TEXT, true, 1, 200, 0, "GPRS command text, e.g. getinfo"},
      {"hex", TD_PARAM_HEX, true, 1, 200, 0, "Command bytes in hex, sent as the command text"}}},
    {NULL},
};

#define TL_CMD_MAX 200 /* command text bytes */

static size_t put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (24 - 8 * i));
    return 4;
}

/* The command text of e->cmd into e; *answered: the device answers it. */
static int command_text(td_enc *e, bool *answered)
{
    const char *type = e->cmd->def->type;

    *answered = true;
    if (strcmp(type, "positionSingle") == 0) {
        td_enc_putf(e, "getgps");
    } else if (strcmp(type, "engineStop") == 0) {
        td_enc_putf(e, "setdigout 1");
    } else if (strcmp(type, "engineResume") == 0) {
        td_enc_putf(e, "setdigout 0");
    } else if (strcmp(type, "rebootDevice") == 0) {
        td_enc_putf(e, "cpureset");
        *answered = false;
    } else if (strcmp(type, "custom") == 0) {
        return td_enc_custom(e, NULL);
    } else {
        return td_enc_fail(e, TD_EUNSUPPORTED, "teltonika: no command '%s'", type);
    }
    return 0;
}

static int encode(const td_session *s, const td_command *cmd, uint8_t *out, size_t cap, size_t *len,
                  char ack[TD_ACK_MAX], char *err, size_t errcap)
{
    uint8_t text[TL_CMD_MAX], pkt[TL_CMD_MAX + 24];
    td_enc t = {.proto = "teltonika",
                .cmd = cmd,
                .out = text,
                .cap = sizeof(text),
                .err = err,
                .errcap = errcap};
    td_enc e = {
        .proto = "teltonika", .cmd = cmd, .out = out, .cap = cap, .err = err, .errcap = errcap};
    bool answered;
    size_t n = 0;

    *len = 0;
    ack[0] = '\0';
    if (s && s->state[0] == TL_STATE_UDP)
        return td_enc_fail(&e, TD_EUNSUPPORTED,
                           "teltonika: commands go over TCP; this device reports over UDP");
    int rc = command_text(&t, &answered);
    if (rc < 0)
        return rc;
    if (t.over)
        return td_enc_fail(&e, TD_EINVAL, "teltonika: a command text is at most %d bytes",
                           TL_CMD_MAX);
    size_t dl = 3 + 4 + t.n + 1; /* codec to the second quantity */
    n += put32(pkt + n, 0);
    n += put32(pkt + n, (uint32_t)dl);
    pkt[n++] = CODEC_12;
    pkt[n++] = 1;
    pkt[n++] = MSG_COMMAND;
    n += put32(pkt + n, (uint32_t)t.n);
    memcpy(pkt + n, text, t.n);
    n += t.n;
    pkt[n++] = 1;
    n += put32(pkt + n, crc16_ibm(pkt + 8, dl));
    td_enc_put(&e, pkt, n);
    snprintf(ack, TD_ACK_MAX, "%s", answered ? TL_ACK_RESPONSE : TL_ACK_NONE);
    return td_enc_done(&e, len, ack);
}

/* A frame that fails yields no record (some may have been added). */
static int decode(td_decode_ctx *ctx, const uint8_t *f, size_t len)
{
    int rc = decode_frame(ctx, f, len);
    if (rc < 0)
        ctx->nrec = 0;
    return rc;
}

const td_protocol td_proto_teltonika = {
    /* Registry key, file and `decode --protocol` name. */
    .name = "teltonika",
    /* Example devices, for /api/server and the docs. */
    .devices = "Teltonika FMB920/FMB120/FMB640, FMC130, FMM/FMT/FTC trackers, TMT250, TAT100, "
               "GH5200, the FM series and GH3000",
    /* TCP with the IMEI handshake; UDP channel packets. */
    .transports = TD_TCP | TD_UDP,
    /* Codec 8E packets with long BLE/CAN elements. */
    .max_frame = TL_MAX_FRAME,
    /* IMEI length and digits; 00000000, a length, a known codec; the UDP header. */
    .detect = detect,
    /* By the records (codec to second count, then the CRC) or the length fields. */
    .frame = frame,
    /* Handshake, AVL records of codecs 7/8/8E/16, codec 12-15 messages. */
    .decode = decode,
    /* Send a record, digital output 1 on/off, reboot, custom GPRS commands. */
    .commands = tl_commands,
    /* The codec 12 GPRS command; answers go to the oldest command awaiting one. */
    .encode = encode,
};
