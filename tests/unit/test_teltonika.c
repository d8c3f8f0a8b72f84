/*
 * teltonika decoder tests. The examples printed in Teltonika's "Data
 * Sending Protocols" document (codec 8, 8E, 16, 12 and 15 packets and a
 * codec 8 UDP packet, whose CRCs check) are used as they stand; every other
 * frame is built here from the layouts in docs/protocols/teltonika.md with
 * its CRC-16/IBM computed (IMEI 352093086403655, made-up places). One test
 * per message type with its reply byte for byte; then this protocol's
 * vectors (tests/vectors/protocols.jsonl) forced and auto-detected;
 * detection against every registered protocol; framing split at every
 * byte; malformed input.
 */
#include "support.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/text.h"

#define IMEI "352093086403655"
#define HANDSHAKE                                                                                  \
    "000f"                                                                                         \
    "333532303933303836343033363535"

TD_TEST_PROTOCOL(teltonika)

/* ---- building frames -------------------------------------------------- */

/* CRC-16/IBM written out from the document's definition (reflected
 * polynomial 0xA001, initial value 0). */
static unsigned crc(const uint8_t *p, size_t n)
{
    unsigned c = 0;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int b = 0; b < 8; b++)
            c = (c & 1) ? (c >> 1) ^ 0xA001 : c >> 1;
    }
    return c;
}

/* Bytes being built, big-endian. */
typedef struct bytes {
    uint8_t d[16384];
    size_t n;
} bytes;

static void put(bytes *b, uint64_t v, size_t k)
{
    while (k--)
        b->d[b->n++] = (uint8_t)(v >> (8 * k));
}

static void put_hex(bytes *b, const char *hex)
{
    b->n += td_test_unhex(hex, b->d + b->n, sizeof(b->d) - b->n);
}

/* The time, priority and GPS element of a codec 8/8E/16 record. */
static void gps(bytes *b, int64_t ms, unsigned prio, double lat, double lon, int alt,
                unsigned angle, unsigned sats, unsigned speed)
{
    put(b, (uint64_t)ms, 8);
    put(b, prio, 1);
    put(b, (uint32_t)(int32_t)lround(lon * 1e7), 4);
    put(b, (uint32_t)(int32_t)lround(lat * 1e7), 4);
    put(b, (uint16_t)(int16_t)alt, 2);
    put(b, angle, 2);
    put(b, sats, 1);
    put(b, speed, 2);
}

/* A TCP AVL packet around body (codec to second count): preamble, length,
 * body, CRC. Returns its length. */
static size_t packet(uint8_t *out, const bytes *body)
{
    bytes p = {.n = 0};
    put(&p, 0, 4);
    put(&p, body->n, 4);
    memcpy(p.d + p.n, body->d, body->n);
    p.n += body->n;
    put(&p, crc(body->d, body->n), 4);
    memcpy(out, p.d, p.n);
    return p.n;
}

static uint8_t fb[16384];
static size_t fn;

/* Decodes fb[0..fn) in session s (NULL: fresh); expects success. */
static void decode_ok(td_session *s)
{
    int rc = td_test_decode_bytes(P, s, fb, fn, &ctx);
    if (rc != 0)
        fail_msg("decode failed: %s", ctx.err);
}

static void decode_hex(const char *hex, td_session *s)
{
    fn = td_test_unhex(hex, fb, sizeof(fb));
    decode_ok(s);
}

static void expect_error(const char *hex, const char *msg)
{
    fn = td_test_unhex(hex, fb, sizeof(fb));
    td_test_expect_error_bytes(P, &ctx, fb, fn, msg);
}

/* A codec 8 packet of `count` declared records holding one record at
 * latitude lat (2024-03-15 10:20:30, 7 satellites) whose IO block and what
 * follows it are `tail` (hex). */
static size_t packet1(uint8_t *out, unsigned count, double lat, const char *tail)
{
    bytes b = {.n = 0};
    put(&b, 0x08, 1);
    put(&b, count, 1);
    gps(&b, td_test_utc(2024, 3, 15, 10, 20, 30), 0, lat, 25.2797, 112, 0, 7, 20);
    put_hex(&b, tail);
    return packet(out, &b);
}

/* ---- handshake -------------------------------------------------------- */

static void test_crc16_ibm(void **state)
{
    (void)state;
    /* The check value of CRC-16/ARC ("IBM"): "123456789" gives 0xBB3D. */
    assert_int_equal(crc((const uint8_t *)"123456789", 9), 0xBB3D);
}

/* The document's handshake: 000F and the IMEI as text, answered 01. */
static void test_handshake(void **state)
{
    (void)state;
    memset(&sess, 0, sizeof(sess));
    decode_hex(HANDSHAKE, &sess);
    assert_int_equal(ctx.nrec, 1);
    assert_int_equal(ctx.rec[0].type, TD_REC_LOGIN);
    assert_string_equal(ctx.rec[0].device_id, IMEI);
    assert_string_equal(sess.device_id, IMEI);
    td_test_reply_hex(&ctx, "01");

    /* A 16-digit identifier is accepted too. */
    decode_hex("0010 31323334353637383930313233343536", NULL);
    assert_string_equal(ctx.rec[0].device_id, "1234567890123456");
    td_test_reply_hex(&ctx, "01");

    expect_error("000f 3335323039333038363430333635",
                 "teltonika: 14 bytes where the length field says 15");
    expect_error("000f 333532303933303836343033363541",
                 "teltonika: IMEI of 15 bytes is not 8-20 digits");
}

/* ---- AVL packets: the document's examples ----------------------------- */

/* Codec 8, two examples of one record each, after the handshake. */
static void test_codec8_document(void **state)
{
    (void)state;
    memset(&sess, 0, sizeof(sess));
    decode_hex(HANDSHAKE, &sess);
    decode_hex("000000000000003608010000016B40D8EA30010000000000000000000000000000000105021503"
               "010101425E0F01F10000601A014E0000000000000000010000C7CF",
               &sess);
    td_test_reply_hex(&ctx, "00000001");
    assert_int_equal(ctx.nrec, 1);
    const td_record *r = &ctx.rec[0];
    assert_record_sane(r);
    assert_int_equal(r->type, TD_REC_POSITION);
    assert_string_equal(r->device_id, IMEI);
    assert_true(r->has_time);
    assert_int_equal(r->time_ms, td_test_utc(2019, 6, 10, 10, 4, 46));
    assert_false(r->valid); /* no satellites: no fix */
    td_test_assert_near(r->latitude, 0);
    assert_int_equal(r->attr[TD_ATTR_SATELLITES].i, 0);
    assert_int_equal(td_test_raw_int(r, "priority"), 1);
    assert_int_equal(td_test_raw_int(r, "event"), 1);
    assert_int_equal(td_test_raw_int(r, "io1"), 1); /* DIN1 */
    assert_int_equal(r->attr[TD_ATTR_RSSI].i, 3);   /* 21: GSM signal */
    assert_null(td_rec_raw_find(r, "io21"));
    assert_int_equal(td_test_raw_int(r, "io66"), 24079); /* external voltage, mV */
    assert_string_equal(td_test_raw_str(r, "io78"), "0000000000000000");
    assert_int_equal(td_test_raw_int(r, "io241"), 24602); /* an operator without its cell */
    assert_int_equal(r->ncells, 0);
    assert_null(td_rec_raw_find(r, "crcMismatch"));

    decode_hex("000000000000002808010000016B40D9AD80010000000000000000000000000000000103021503"
               "010101425E100000010000F22A",
               &sess);
    td_test_reply_hex(&ctx, "00000001");
    assert_int_equal(ctx.rec[0].time_ms, td_test_utc(2019, 6, 10, 10, 5, 36));
    assert_int_equal(td_test_raw_int(&ctx.rec[0], "io66"), 24080);
}

/* Codec 8 Extended: 2-byte ids and counts, an empty NX group. */
static void test_codec8e_document(void **state)
{
    (void)state;
    decode_hex("000000000000004A8E010000016B412CEE000100000000000000000000000000000000010005000100"
               "010100010011001D00010010015E2C880002000B000000003544C87A000E000000001DD7E06A0000"
               "0100002994",
               NULL);
    td_test_reply_hex(&ctx, "00000001");
    const td_record *r = &ctx.rec[0];
    assert_record_sane(r);
    assert_int_equal(r->time_ms, td_test_utc(2019, 6, 10, 11, 36, 32));
    assert_int_equal(td_test_raw_int(r, "io1"), 1);
    assert_int_equal(td_test_raw_int(r, "io17"), 29);                    /* axis X */
    td_test_assert_near(r->attr[TD_ATTR_ODOMETER].d, 22949000);          /* 16: total odometer */
    assert_string_equal(td_test_raw_str(r, "io11"), "000000003544c87a"); /* ICCID1 */
    assert_string_equal(td_test_raw_str(r, "io14"), "000000001dd7e06a"); /* ICCID2 */
    assert_string_equal(r->device_id, "");
}

/* Codec 16: 2-byte ids, 1-byte counts, the generation type. */
static void test_codec16_document(void **state)
{
    (void)state;
    decode_hex("000000000000005F10020000016BDBC7833000000000000000000000000000000000000B0504020001"
               "0000030002000B00270042563A00000000016BDBC7871800000000000000000000000000000000000B"
               "05040200010000030002000B00260042563A00000200005FB3",
               NULL);
    td_test_reply_hex(&ctx, "00000002");
    assert_int_equal(ctx.nrec, 2);
    for (int i = 0; i < 2; i++) {
        const td_record *r = &ctx.rec[i];
        assert_record_sane(r);
        assert_int_equal(td_test_raw_int(r, "event"), 11);
        assert_int_equal(td_test_raw_int(r, "generation"), 5); /* on change */
        assert_int_equal(td_test_raw_int(r, "io1"), 0);
        assert_int_equal(td_test_raw_int(r, "io3"), 0);
        assert_int_equal(td_test_raw_int(r, "io11"), 39 - i);
        assert_int_equal(td_test_raw_int(r, "io66"), 22074);
    }
    assert_int_equal(ctx.rec[0].time_ms, td_test_utc(2019, 7, 10, 12, 6, 54));
    assert_int_equal(ctx.rec[1].time_ms, td_test_utc(2019, 7, 10, 12, 6, 55));
}

/* The document's codec 8 UDP packet: channel header (length 0x3D, packet
 * id CAFE, type 01), AVL packet id 05, the IMEI, then the data without
 * length or CRC. Answered 0005 CAFE 01 05 01. */
static void test_udp_document(void **state)
{
    (void)state;
    memset(&sess, 0, sizeof(sess));
    decode_hex("003DCAFE0105000F33353230393330383634303336353508010000016B4F815B300100000000000000"
               "00000000000000000103021503010101425DBC000001",
               &sess);
    td_test_reply_hex(&ctx, "0005cafe010501");
    assert_string_equal(sess.device_id, IMEI);
    assert_int_equal(ctx.nrec, 1);
    assert_string_equal(ctx.rec[0].device_id, IMEI);
    assert_int_equal(ctx.rec[0].time_ms, td_test_utc(2019, 6, 13, 6, 23, 26));
    assert_int_equal(td_test_raw_int(&ctx.rec[0], "io66"), 23996);
}

/* ---- AVL packets: built frames ---------------------------------------- */

/* Codec 8 with a fix and the elements that have canonical names. */
static void test_codec8_canonical(void **state)
{
    bytes b = {.n = 0};
    (void)state;

    put(&b, 0x08, 1);
    put(&b, 2, 1);
    gps(&b, td_test_utc(2024, 3, 15, 10, 20, 30) + 250, 0, 54.6872, 25.2797, 112, 271, 9, 63);
    put(&b, 0, 1);                                 /* no event */
    put(&b, 12, 1);                                /* elements */
    put_hex(&b, "05 ef01 f001 1504 7157 c800");    /* 239 240 21 113 200 */
    put_hex(&b, "04 430fac 423232 b60009 ce0bb8"); /* 67 66 182 206 */
    put_hex(&b, "02 100001e240 f100006019");       /* 16 241 */
    put_hex(&b, "01 4e0102030405060708");          /* 78 */
    /* Southern and western hemispheres, below sea level, 205 (cell id) with
     * 206 and 241. */
    gps(&b, td_test_utc(2024, 3, 15, 10, 21, 0), 2, -33.8688, -70.6693, -5, 90, 12, 0);
    put(&b, 0xf0, 1); /* event: 240 movement */
    put(&b, 4, 1);
    put_hex(&b, "01 f000");
    put_hex(&b, "02 cd3a4b ce0001");
    put_hex(&b, "01 f1000186a5"); /* 100005: MCC 100, MNC 005 */
    put_hex(&b, "00");
    put(&b, 2, 1);
    fn = packet(fb, &b);
    decode_ok(NULL);
    td_test_reply_hex(&ctx, "00000002");
    assert_int_equal(ctx.nrec, 2);

    const td_record *r = &ctx.rec[0];
    assert_record_sane(r);
    assert_int_equal(r->type, TD_REC_POSITION);
    assert_int_equal(r->time_ms, td_test_utc(2024, 3, 15, 10, 20, 30) + 250);
    assert_true(r->valid);
    td_test_assert_near(r->latitude, 54.6872);
    td_test_assert_near(r->longitude, 25.2797);
    td_test_assert_near(r->altitude, 112);
    td_test_assert_near(r->course, 271);
    td_test_assert_near(r->speed, 63);
    assert_int_equal(r->attr[TD_ATTR_SATELLITES].i, 9);
    assert_true(r->attr[TD_ATTR_IGNITION].b);
    assert_true(r->attr[TD_ATTR_MOTION].b);
    assert_int_equal(r->attr[TD_ATTR_RSSI].i, 4);
    assert_int_equal(r->attr[TD_ATTR_BATTERY_LEVEL].i, 0x57);
    td_test_assert_near(r->attr[TD_ATTR_BATTERY].d, 4.012);
    td_test_assert_near(r->attr[TD_ATTR_HDOP].d, 0.9);
    td_test_assert_near(r->attr[TD_ATTR_ODOMETER].d, 123456);
    assert_int_equal(td_test_raw_int(r, "io66"), 0x3232);
    assert_int_equal(td_test_raw_int(r, "io200"), 0);
    assert_string_equal(td_test_raw_str(r, "io78"), "0102030405060708");
    assert_int_equal(td_test_raw_int(r, "io206"), 3000); /* no 205: not a cell */
    assert_int_equal(td_test_raw_int(r, "io241"), 24601);
    assert_int_equal(r->ncells, 0);
    assert_null(td_rec_raw_find(r, "io239"));
    assert_null(td_rec_raw_find(r, "event"));
    assert_int_equal(r->alarms, 0);

    r = &ctx.rec[1];
    assert_record_sane(r);
    td_test_assert_near(r->latitude, -33.8688);
    td_test_assert_near(r->longitude, -70.6693);
    td_test_assert_near(r->altitude, -5);
    assert_int_equal(td_test_raw_int(r, "priority"), 2); /* panic */
    assert_int_equal(td_test_raw_int(r, "event"), 240);
    assert_false(r->attr[TD_ATTR_MOTION].b);
    assert_int_equal(r->ncells, 1);
    assert_int_equal(r->cells[0].mcc, 100);
    assert_int_equal(r->cells[0].mnc, 5);
    assert_int_equal(r->cells[0].lac, 1);
    assert_int_equal(r->cells[0].cid, 0x3a4b);
}

/* One codec 8 record with the given 1-byte elements ("id value" pairs in
 * hex) and event; returns the decoded record. */
static const td_record *one8(unsigned event, unsigned n1, const char *elements)
{
    bytes b = {.n = 0};
    put(&b, 0x08, 1);
    put(&b, 1, 1);
    gps(&b, td_test_utc(2024, 3, 15, 10, 20, 30), 1, 54.6872, 25.2797, 112, 0, 7, 20);
    put(&b, event, 1);
    put(&b, n1, 1);
    put(&b, n1, 1);
    put_hex(&b, elements);
    put_hex(&b, "000000 01");
    fn = packet(fb, &b);
    decode_ok(NULL);
    td_test_reply_hex(&ctx, "00000001");
    assert_int_equal(ctx.nrec, 1);
    assert_record_sane(&ctx.rec[0]);
    return &ctx.rec[0];
}

/* Eventual elements with an alarm name in CONTRACT.md. */
static void test_alarms(void **state)
{
    const td_record *r;
    (void)state;

    r = one8(252, 1, "fc01"); /* unplug: external power gone */
    assert_int_equal(r->alarms, TD_ALARM_BIT(TD_ALARM_POWER_CUT));
    assert_int_equal(td_test_raw_int(r, "io252"), 1);
    r = one8(252, 1, "fc00"); /* power back */
    assert_int_equal(r->alarms, 0);
    r = one8(236, 1, "ec01"); /* alarm button */
    assert_int_equal(r->alarms, TD_ALARM_BIT(TD_ALARM_SOS));
    r = one8(255, 1, "ff57"); /* over speeding, at 87 km/h */
    assert_int_equal(r->alarms, TD_ALARM_BIT(TD_ALARM_OVERSPEED));
    assert_int_equal(td_test_raw_int(r, "io255"), 87);
    r = one8(155, 1, "9b01"); /* geofence zone 01: entered */
    assert_int_equal(r->alarms, TD_ALARM_BIT(TD_ALARM_GEOFENCE_ENTER));
    r = one8(159, 1, "9f00"); /* zone 05: left */
    assert_int_equal(r->alarms, TD_ALARM_BIT(TD_ALARM_GEOFENCE_EXIT));
    r = one8(157, 1, "9d03"); /* zone 03: over speeding start */
    assert_int_equal(r->alarms, TD_ALARM_BIT(TD_ALARM_OVERSPEED));
    r = one8(157, 1, "9d02"); /* zone 03: over speeding end */
    assert_int_equal(r->alarms, 0);
    r = one8(175, 1, "af01"); /* auto geofence: entered */
    assert_int_equal(r->alarms, TD_ALARM_BIT(TD_ALARM_GEOFENCE_ENTER));
    r = one8(0, 2, "f701 f901"); /* crash, jamming: no CONTRACT name, kept */
    assert_int_equal(r->alarms, 0);
    assert_int_equal(td_test_raw_int(r, "io247"), 1);
    assert_int_equal(td_test_raw_int(r, "io249"), 1);
}

/* No fix (satellites 0), a timestamp that is not a time, a battery level
 * beyond 100 %, an angle beyond 360. */
static void test_odd_values(void **state)
{
    bytes b = {.n = 0};
    (void)state;

    put(&b, 0x08, 1);
    put(&b, 1, 1);
    gps(&b, 0, 0, 54.6872, 25.2797, 112, 400, 0, 0);
    put_hex(&b, "00 01 01 71c8 000000 01");
    fn = packet(fb, &b);
    decode_ok(NULL);
    const td_record *r = &ctx.rec[0];
    assert_record_sane(r);
    assert_false(r->valid);
    assert_false(r->has_time);
    assert_int_equal(r->time_ms, TD_TEST_NOW_MS);
    td_test_assert_near(r->course, 0);
    assert_false(td_rec_has(r, TD_ATTR_BATTERY_LEVEL));
    assert_int_equal(td_test_raw_int(r, "io113"), 200);
}

/* A packet of 255 records, the most its count byte can say: every one is
 * kept and the answer counts them all. */
static void test_more_records_than_kept(void **state)
{
    static bytes b;
    (void)state;

    b.n = 0;
    put(&b, 0x08, 1);
    put(&b, 255, 1);
    for (int i = 0; i < 255; i++) {
        gps(&b, td_test_utc(2024, 3, 15, 10, 0, 0) + i * 1000LL, 0, 54.6872, 25.2797, 112, 0, 7,
            20);
        put_hex(&b, "00 00 00 00 00 00");
    }
    put(&b, 255, 1);
    fn = packet(fb, &b);
    decode_ok(NULL);
    td_test_reply_hex(&ctx, "000000ff");
    assert_int_equal(ctx.nrec, 255);
    assert_null(td_rec_raw_find(&ctx.rec[254], "batchSkipped"));
    assert_int_equal(ctx.rec[254].time_ms, td_test_utc(2024, 3, 15, 10, 0, 0) + 254 * 1000LL);
}

/* Codec 8 Extended: 2-byte ids and counts, NX elements of any length. */
static void test_codec8e(void **state)
{
    bytes b = {.n = 0};
    (void)state;

    put(&b, 0x8e, 1);
    put(&b, 1, 1);
    gps(&b, td_test_utc(2024, 3, 15, 10, 20, 30), 0, 54.6872, 25.2797, 112, 10, 11, 50);
    put_hex(&b, "0181 0006");          /* event 385, 6 elements */
    put_hex(&b, "0002 00ef01 010e07"); /* 239, 270 */
    put_hex(&b, "0001 00430fa0");      /* 67 */
    put_hex(&b, "0000");
    put_hex(&b, "0001 00ee 1122334455667788");      /* 238: 8 bytes */
    put_hex(&b, "0002 0181 0003 0a0b0c 0100 0000"); /* 385: 3 bytes; 256: empty */
    put(&b, 1, 1);
    fn = packet(fb, &b);
    decode_ok(NULL);
    td_test_reply_hex(&ctx, "00000001");
    const td_record *r = &ctx.rec[0];
    assert_record_sane(r);
    assert_true(r->valid);
    assert_int_equal(td_test_raw_int(r, "event"), 385);
    assert_true(r->attr[TD_ATTR_IGNITION].b);
    assert_int_equal(td_test_raw_int(r, "io270"), 7);
    td_test_assert_near(r->attr[TD_ATTR_BATTERY].d, 4.0);
    assert_string_equal(td_test_raw_str(r, "io238"), "1122334455667788");
    assert_string_equal(td_test_raw_str(r, "io385"), "0a0b0c");
    assert_string_equal(td_test_raw_str(r, "io256"), "");
}

/* Codec 16: 2-byte ids, 1-byte counts, generation type. */
static void test_codec16(void **state)
{
    bytes b = {.n = 0};
    (void)state;

    put(&b, 0x10, 1);
    put(&b, 1, 1);
    gps(&b, td_test_utc(2024, 3, 15, 10, 20, 30), 0, 54.6872, 25.2797, 112, 10, 11, 50);
    put_hex(&b, "00fc 06 03");       /* event 252, generation 6 (eventual), 3 elements */
    put_hex(&b, "02 00fc01 00f001"); /* 252 unplug, 240 movement */
    put_hex(&b, "01 0018 0032");     /* 24 speed */
    put_hex(&b, "00 00");
    put(&b, 1, 1);
    fn = packet(fb, &b);
    decode_ok(NULL);
    const td_record *r = &ctx.rec[0];
    assert_record_sane(r);
    assert_int_equal(td_test_raw_int(r, "generation"), 6);
    assert_int_equal(td_test_raw_int(r, "event"), 252);
    assert_int_equal(r->alarms, TD_ALARM_BIT(TD_ALARM_POWER_CUT));
    assert_true(r->attr[TD_ATTR_MOTION].b);
    assert_int_equal(td_test_raw_int(r, "io24"), 50);
}

static void put_float(bytes *b, float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof(u));
    put(b, u, 4);
}

/* Codec 7 (GH3000): masks, float coordinates, seconds since 2007. */
static void test_codec7(void **state)
{
    bytes b = {.n = 0};
    int64_t t = td_test_utc(2024, 3, 15, 10, 20, 30);
    (void)state;

    put(&b, 0x07, 1);
    put(&b, 2, 1);
    put(&b, (2u << 30) | (uint32_t)(t / 1000 - 1167609600LL), 4); /* priority 2 */
    put(&b, 0x0f, 1); /* GPS element and IO of 1, 2 and 4 bytes */
    put(&b, 0xff, 1); /* every GPS field */
    put_float(&b, 54.6872f);
    put_float(&b, 25.2797f);
    put(&b, 112, 2);
    put(&b, 128, 1);          /* angle: 180 degrees */
    put(&b, 45, 1);           /* km/h */
    put(&b, 8, 1);            /* satellites */
    put_hex(&b, "0bb8 3a4b"); /* LAC, cell id */
    put(&b, 20, 1);           /* signal quality */
    put(&b, 24602, 4);        /* operator */
    put_hex(&b, "01 014d  01 141004  01 050001e240");
    /* A second record with IO elements only: a status record. */
    put(&b, (uint32_t)(t / 1000 + 60 - 1167609600LL), 4);
    put(&b, 0x02, 1);
    put_hex(&b, "01 0150");
    put(&b, 2, 1);
    fn = packet(fb, &b);
    decode_ok(NULL);
    td_test_reply_hex(&ctx, "00000002");

    const td_record *r = &ctx.rec[0];
    assert_record_sane(r);
    assert_int_equal(r->type, TD_REC_POSITION);
    assert_int_equal(r->time_ms, t);
    assert_int_equal(td_test_raw_int(r, "priority"), 2);
    assert_true(r->valid);
    assert_true(fabs(r->latitude - 54.6872) < 1e-5);
    assert_true(fabs(r->longitude - 25.2797) < 1e-5);
    td_test_assert_near(r->altitude, 112);
    td_test_assert_near(r->course, 180);
    td_test_assert_near(r->speed, 45);
    assert_int_equal(r->attr[TD_ATTR_SATELLITES].i, 8);
    assert_int_equal(r->attr[TD_ATTR_RSSI].i, 20);
    assert_int_equal(r->ncells, 1);
    assert_int_equal(r->cells[0].mcc, 246);
    assert_int_equal(r->cells[0].mnc, 2);
    assert_int_equal(r->cells[0].lac, 3000);
    assert_int_equal(r->cells[0].cid, 0x3a4b);
    assert_int_equal(td_test_raw_int(r, "io1"), 0x4d);
    assert_int_equal(td_test_raw_int(r, "io20"), 0x1004);
    assert_int_equal(td_test_raw_int(r, "io5"), 123456);

    r = &ctx.rec[1];
    assert_record_sane(r);
    assert_int_equal(r->type, TD_REC_STATUS);
    assert_int_equal(r->time_ms, t + 60000);
    assert_int_equal(td_test_raw_int(r, "io1"), 0x50);
}

/* A UDP packet built from the layout: two records, packet id ABCD, AVL
 * packet id DD; the answer is the document's 0005ABCD01DD02. */
static void test_udp(void **state)
{
    bytes b = {.n = 0}, body = {.n = 0};
    (void)state;

    put(&body, 0x08, 1);
    put(&body, 2, 1);
    for (int i = 0; i < 2; i++) {
        gps(&body, td_test_utc(2024, 3, 15, 10, 20, 30 + i), 0, 54.6872, 25.2797, 112, 0, 7, 20);
        put_hex(&body, "00 01 01 ef01 00 00 00");
    }
    put(&body, 2, 1);
    put(&b, 2 + 1 + 1 + 2 + 15 + body.n, 2);
    put_hex(&b, "abcd 00 dd 000f 333532303933303836343033363535");
    memcpy(b.d + b.n, body.d, body.n);
    b.n += body.n;
    fn = b.n;
    memcpy(fb, b.d, fn);
    memset(&sess, 0, sizeof(sess));
    decode_ok(&sess);
    td_test_reply_hex(&ctx, "0005abcd01dd02");
    assert_int_equal(ctx.nrec, 2);
    assert_string_equal(ctx.rec[1].device_id, IMEI);
    assert_true(ctx.rec[1].attr[TD_ATTR_IGNITION].b);

    bool maybe;
    assert_ptr_equal(td_detect(fb, fn, TD_UDP, &maybe), P);
    assert_ptr_equal(td_detect(fb, fn, TD_TCP, &maybe), P);

    /* Bytes after the data, a header cut short. */
    fb[1]++;
    fb[fn++] = 0;
    assert_true(td_test_decode_bytes(P, NULL, fb, fn, &ctx) < 0);
    assert_string_equal(ctx.err, "teltonika: 1 bytes after the UDP AVL data");
    expect_error("0020 abcd01dd000f3335323039333038363430", /* 32 bytes promised, 17 sent */
                 "teltonika: 17 bytes where the length field says 32");
}

/* ---- codecs 12 to 15 -------------------------------------------------- */

/* Codec 12: the document's getinfo command and the device's response. */
static void test_codec12(void **state)
{
    (void)state;
    decode_hex("00000000000000900C010600000088494E493A323031392F372F323220373A3232205254433A3230"
               "31392F372F323220373A3533205253543A32204552523A312053523A302042523A302043463A3020"
               "46473A3020464C3A302054553A302F302055543A3020534D533A30204E4F4750533A303A33302047"
               "50533A31205341543A302052533A332052463A36352053463A31204D443A30010000C78F",
               NULL);
    assert_int_equal(ctx.nrec, 1);
    const td_record *r = &ctx.rec[0];
    assert_record_sane(r);
    assert_int_equal(r->type, TD_REC_ACK);
    assert_int_equal(td_test_raw_int(r, "codec"), 12);
    assert_int_equal(td_test_raw_int(r, "type"), 6);
    const char *want = "INI:2019/7/22 7:22 RTC:2019/7/22 7:53 RST:2 ERR:1 SR:0 BR:0 CF:0 FG:0 "
                       "FL:0 TU:0/0 UT:0 SMS:0 NOGPS:0:30 GPS:1 SAT:0 RS:3 RF:65 SF:1 MD:0";
    assert_string_equal(td_test_raw_str(r, "result"), want);
    assert_string_equal(ctx.ack, "response");
    assert_false(ctx.ack_failed);
    assert_memory_equal(ctx.ack_result, want, strlen(ctx.ack_result));
    assert_int_equal(ctx.reply_len, 0);

    /* The command itself, as a device would never send it: kept. */
    decode_hex("000000000000000F0C010500000007676574696E666F0100004312", NULL);
    assert_int_equal(ctx.rec[0].type, TD_REC_OTHER);
    assert_string_equal(td_test_raw_str(&ctx.rec[0], "data"), "getinfo");
    assert_string_equal(ctx.ack, "");

    /* A length field longer than the packet: the data runs up to the CRC. */
    decode_hex("00000000000000200c01 06 00000008 41 01 00000000", NULL);
    assert_string_equal(td_test_raw_str(&ctx.rec[0], "result"), "A");

    /* Quantities that differ: kept as they came (nothing is answered). */
    decode_hex("000000000000000a0c01 06 00000002 4142 02 00000000", NULL);
    assert_string_equal(td_test_raw_str(&ctx.rec[0], "result"), "AB");

    /* Another type with binary content (camera messages): hex. */
    decode_hex("000000000000000d0c010d00000005 0102fe0304 01 0000c0de", NULL);
    assert_int_equal(ctx.rec[0].type, TD_REC_OTHER);
    assert_int_equal(td_test_raw_int(&ctx.rec[0], "type"), 13);
    assert_string_equal(td_test_raw_str(&ctx.rec[0], "data"), "0102fe0304");
    assert_int_equal(ctx.reply_len, 0);
}

/* Codec 13: device messages with a timestamp in seconds; the size counts
 * the timestamp, or (older firmware) only the payload. */
static void test_codec13(void **state)
{
    bytes b = {.n = 0};
    (void)state;

    for (int old = 0; old < 2; old++) {
        b.n = 0;
        put_hex(&b, "0d 01 06");
        put(&b, old ? 5 : 9, 4);
        put(&b, (uint64_t)(td_test_utc(2024, 3, 15, 10, 20, 30) / 1000), 4);
        put_hex(&b, "68656c6c6f 01"); /* hello */
        fn = packet(fb, &b);
        decode_ok(NULL);
        const td_record *r = &ctx.rec[0];
        assert_record_sane(r);
        assert_int_equal(r->type, TD_REC_OTHER);
        assert_int_equal(r->time_ms, td_test_utc(2024, 3, 15, 10, 20, 30));
        assert_string_equal(td_test_raw_str(r, "data"), "hello");
        assert_int_equal(ctx.reply_len, 0);
    }
}

/* Codec 14: responses with the IMEI (8 bytes, hex digits), and the nACK
 * (0x11) of a device whose IMEI the command did not match. */
static void test_codec14(void **state)
{
    bytes b = {.n = 0};
    (void)state;

    put_hex(&b, "0e 01 06 0000001c 0352093086403655");
    put_hex(&b, "506172616d2049443a3233392056616c75653a31 01"); /* Param ID:239 Value:1 */
    fn = packet(fb, &b);
    decode_ok(NULL);
    const td_record *r = &ctx.rec[0];
    assert_int_equal(r->type, TD_REC_ACK);
    assert_string_equal(td_test_raw_str(r, "imei"), IMEI);
    assert_string_equal(td_test_raw_str(r, "result"), "Param ID:239 Value:1");
    assert_false(ctx.ack_failed);
    assert_string_equal(ctx.ack_result, "Param ID:239 Value:1");

    b.n = 0;
    put_hex(&b, "0e 01 11 00000008 0352093086403655 01");
    fn = packet(fb, &b);
    decode_ok(NULL);
    assert_int_equal(ctx.rec[0].type, TD_REC_ACK);
    assert_true(ctx.ack_failed);
    assert_string_equal(ctx.ack, "response");
    assert_string_equal(td_test_raw_str(&ctx.rec[0], "result"), "");
}

/* Codec 15: the document's "Hello!\n" with timestamp and IMEI. */
static void test_codec15_document(void **state)
{
    (void)state;
    decode_hex("000000000000001b0f010b00000013654b65a4012345678912345648656c6c6f210a01000093d6",
               NULL);
    const td_record *r = &ctx.rec[0];
    assert_record_sane(r);
    assert_int_equal(r->type, TD_REC_OTHER);
    assert_int_equal(r->time_ms, 1699440036000LL);
    assert_string_equal(td_test_raw_str(r, "imei"), "123456789123456");
    assert_string_equal(td_test_raw_str(r, "data"), "Hello!\n");
    assert_int_equal(ctx.reply_len, 0);
}

/* ---- what is tolerated, what is refused ------------------------------- */

static void test_tolerated(void **state)
{
    (void)state;

    size_t n = packet1(fb, 1, 54.6872, "00 00 00 00 00 00 01");

    /* A CRC that does not match: decoded and answered, and marked. */
    fb[n - 1] ^= 0x55;
    fn = n;
    decode_ok(NULL);
    td_test_reply_hex(&ctx, "00000001");
    assert_true(td_rec_raw_find(&ctx.rec[0], "crcMismatch")->v.b);

    /* A CRC cut short (the last frame of a capture). */
    fn = n - 2;
    decode_ok(NULL);
    td_test_reply_hex(&ctx, "00000001");
    assert_null(td_rec_raw_find(&ctx.rec[0], "crcMismatch"));

    /* A second count that differs from the first, the records filling the
     * packet up to its CRC: the records count. */
    fb[n - 5] = 3;
    fn = n;
    decode_ok(NULL);
    td_test_reply_hex(&ctx, "00000001");
    assert_int_equal(ctx.nrec, 1);
    fb[n - 5] = 1;

    /* A length field of 0, or far too long: the records tell the length,
     * in the stream too. */
    fb[n - 1] ^= 0x55;
    for (int k = 0; k < 2; k++) {
        fb[7] = k ? 0xf0 : 0;
        size_t skip;
        assert_int_equal(P->frame(fb, n, &skip), (long)n);
        assert_int_equal(P->frame(fb, n - 1, &skip), 0);
        fn = n;
        decode_ok(NULL);
        td_test_reply_hex(&ctx, "00000001");
    }
}

/* Frames that are refused get no answer, so the device sends them again;
 * values that are impossible in a frame that holds together are kept
 * aside instead, since refusing would make the device repeat it forever. */
static void test_refused(void **state)
{
    (void)state;

    expect_error("00000000000000020801 ", "teltonika: codec 0x08 data ends inside its 1 records");
    expect_error("00000000000000020800 00 00000000", "teltonika: AVL packet without records");
    expect_error("00000000000000020901 01 00000000", "teltonika: unknown codec 0x09");
    expect_error("00000000000000200c01 06 000000", "teltonika: codec 0x0C message of 2 bytes");
    expect_error("0102", "teltonika: not a Teltonika packet (2 bytes)");

    fn = packet1(fb, 2, 54.6872, "00 00 00 00 00 00 01");
    assert_true(td_test_decode_bytes(P, NULL, fb, fn, &ctx) < 0);
    assert_string_equal(ctx.err, "teltonika: codec 0x08 data ends inside its 2 records");

    fn = packet1(fb, 1, 95.0, "00 00 00 00 00 00 01");
    decode_ok(NULL);
    td_test_reply_hex(&ctx, "00000001");
    const td_record *r = &ctx.rec[0];
    assert_record_sane(r);
    assert_int_equal(r->type, TD_REC_STATUS); /* not a place: no fix, still answered */
    assert_int_equal(td_test_raw_int(r, "rawLatitude"), 950000000);
    assert_int_equal(td_test_raw_int(r, "rawLongitude"), 252797000);

    /* Counts that differ, with bytes to spare after them. */
    expect_error("000000000000000a 0801 0000016B40D8EA30 00" /* cut: a record needs more */,
                 "teltonika: codec 0x08 data ends inside its 1 records");
    fn = packet1(fb, 1, 54.6872, "00 00 00 00 00 00 02 0000000000");
    assert_true(td_test_decode_bytes(P, NULL, fb, fn, &ctx) < 0);
    assert_string_equal(ctx.err, "teltonika: record counts differ (1, then 2)");

    /* Bytes after the CRC. */
    fn = packet1(fb, 1, 54.6872, "00 00 00 00 00 00 01");
    fb[fn++] = 0;
    assert_true(td_test_decode_bytes(P, NULL, fb, fn, &ctx) < 0);
    assert_string_equal(ctx.err, "teltonika: 1 bytes after the CRC");
}

/* ---- downlink commands ------------------------------------------------ */

/* The codec 12 command packet carrying text. */
static size_t command_packet(uint8_t *out, const char *text)
{
    bytes b = {.n = 0};
    put_hex(&b, "0c 01 05");
    put(&b, strlen(text), 4);
    memcpy(b.d + b.n, text, strlen(text));
    b.n += strlen(text);
    put(&b, 1, 1);
    return packet(out, &b);
}

static void expect_command(const td_test_cmd *tc, const char *text, const char *ack)
{
    uint8_t want[256];
    size_t n = command_packet(want, text);
    td_test_expect_encode_n(tc, NULL, want, n, ack);
}

static void test_commands(void **state)
{
    static const char *const types[] = {"positionSingle", "engineStop", "engineResume",
                                        "rebootDevice", "custom"};
    td_test_cmd tc;
    (void)state;

    td_test_expect_commands(P, types, sizeof(types) / sizeof(types[0]));

    /* The document's getinfo command, byte for byte; its answer is a
     * codec 12 response naming no command: key "response", which every
     * such answer reports. */
    uint8_t doc[64];
    size_t dn =
        td_test_unhex("000000000000000F0C010500000007676574696E666F0100004312", doc, sizeof(doc));
    td_test_cmd_start(&tc, P, "custom");
    td_test_cmd_str(&tc, "data", "getinfo");
    td_test_expect_encode_n(&tc, NULL, doc, dn, "response");
    td_test_expect_too_small(&tc, NULL, doc, dn);
    assert_int_equal(command_packet(fb, "getinfo"), dn);
    assert_memory_equal(fb, doc, dn);

    td_test_cmd_start(&tc, P, "positionSingle");
    expect_command(&tc, "getgps", "response");
    td_test_cmd_start(&tc, P, "engineStop");
    expect_command(&tc, "setdigout 1", "response");
    td_test_cmd_start(&tc, P, "engineResume");
    expect_command(&tc, "setdigout 0", "response");
    /* cpureset is not answered: a key no answer reports, so it never
     * takes the answer of a command sent after it. */
    td_test_cmd_start(&tc, P, "rebootDevice");
    expect_command(&tc, "cpureset", "none");
    td_test_cmd_start(&tc, P, "custom");
    td_test_cmd_str(&tc, "hex", "676574766572"); /* bytes as given */
    td_test_cmd_arg(&tc, "hex")->len = 6;
    td_test_cmd_arg(&tc, "hex")->str = "getver";
    expect_command(&tc, "getver", "response");

    /* A device on the UDP channel has no connection to carry commands. */
    memset(&sess, 0, sizeof(sess));
    decode_hex("003DCAFE0105000F33353230393330383634303336353508010000016B4F815B300100000000000000"
               "00000000000000000103021503010101425DBC000001",
               &sess);
    td_test_cmd_start(&tc, P, "rebootDevice");
    td_test_expect_encode_fail(&tc, &sess, TD_EUNSUPPORTED,
                               "teltonika: commands go over TCP; this device reports over UDP");
    memset(&sess, 0, sizeof(sess));
    decode_hex(HANDSHAKE, &sess);
    td_test_expect_encode_n(&tc, &sess, fb, command_packet(fb, "cpureset"), "none");
}

/* ---- vectors and detection ------------------------------------------- */

/* The family checks: cut at every length and corrupted at every byte, and
 * random input (after a preamble and codec 8 too), the vectors decode or
 * fail with a message naming teltonika. */
static const td_test_family family = {
    .proto = &td_proto_teltonika,
    .corrupt = {0x00, 0xff, 0x01, 0x80},
    .ncorrupt = 4,
    .random =
        {
            .rounds = 3000,
            .max_len = 200,
            .head = {"\0\0\0\0\0\0\0\x40\x08\x01", "\x00\x0f"
                                                   "3520930864"},
            .head_len = {10, 12},
            .alphabet = "\x01\x02\x08\x0c\x10\x8e\xff",
            .refusable = true,
        },
};

/* The first bytes decide as the layouts say (every teltonika vector is
 * claimed by teltonika alone, and teltonika claims no other family's:
 * TD_TEST_FAMILY_CASES). */
static void test_detection(void **state)
{
    (void)state;
    static const struct {
        const char *hex;
        int want;
    } cases[] = {
        {"", TD_DETECT_MAYBE},
        {"00", TD_DETECT_MAYBE},
        {"000f", TD_DETECT_MAYBE},
        {"000f 3335", TD_DETECT_MAYBE},
        {HANDSHAKE, TD_DETECT_YES},
        {"000f 33354a", TD_DETECT_NO},     /* not a digit */
        {"0005 3335323039", TD_DETECT_NO}, /* too short for an IMEI */
        {"0016 3335323039", TD_DETECT_NO}, /* between an IMEI and a UDP packet */
        {"01", TD_DETECT_NO},
        {"7878", TD_DETECT_NO},
        {"000000", TD_DETECT_MAYBE},
        {"00000001", TD_DETECT_NO},
        {"0000000000000036", TD_DETECT_MAYBE},
        {"000000000000003608", TD_DETECT_MAYBE},
        {"00000000000000360801", TD_DETECT_YES},
        {"00000000000000360800", TD_DETECT_NO}, /* no records */
        {"000000000000003609", TD_DETECT_NO},   /* no such codec */
        {"0000000000ffffff0801", TD_DETECT_NO}, /* longer than a packet can be */
        {"000000000000000f0c01", TD_DETECT_YES},
        {"003dcafe01", TD_DETECT_MAYBE},
        {"003dcafe02", TD_DETECT_NO}, /* packet type 0 or 1 only */
        {"003dcafe0105000f3335323039333038363430333635350801", TD_DETECT_YES},
        {"003dcafe0105000f3335323039333038363430333635350c01", TD_DETECT_NO}, /* no AVL data */
        {"003dcafe0105000f33353230", TD_DETECT_MAYBE},
        {"003dcafe0105000f33357e23", TD_DETECT_NO}, /* not a digit */
    };
    for (size_t c = 0; c < TD_TEST_COUNT(cases); c++) {
        uint8_t b[64];
        size_t n = td_test_unhex(cases[c].hex, b, sizeof(b));
        int d = P->detect(b, n);
        if (d != cases[c].want)
            fail_msg("detect(%s) = %d, want %d", cases[c].hex, d, cases[c].want);
    }
}

/* ---- framing ---------------------------------------------------------- */

/* A session's bytes: handshake, packets of every codec, a length field of
 * 0 (the records tell the length), a command response. */
static void stream_sample(td_test_stream *s)
{
    static const char *const hex[] = {
        HANDSHAKE,
        "000000000000003608010000016B40D8EA30010000000000000000000000000000000105021503010101425E"
        "0F01F10000601A014E0000000000000000010000C7CF",
        "000000000000004A8E010000016B412CEE000100000000000000000000000000000000010005000100010100"
        "010011001D00010010015E2C880002000B000000003544C87A000E000000001DD7E06A00000100002994",
        "000000000000005F10020000016BDBC7833000000000000000000000000000000000000B0504020001000003"
        "0002000B00270042563A00000000016BDBC7871800000000000000000000000000000000000B050402000100"
        "00030002000B00260042563A00000200005FB3",
        "000000000000000008010000016B40D9AD80010000000000000000000000000000000103021503010101425E"
        "100000010000F22A",
        "000000000000001b0f010b00000013654b65a4012345678912345648656c6c6f210a01000093d6",
        "00000000000000900C010600000088494E493A323031392F372F323220373A3232205254433A323031392F37"
        "2F323220373A3533205253543A32204552523A312053523A302042523A302043463A302046473A3020464C3A"
        "302054553A302F302055543A3020534D533A30204E4F4750533A303A3330204750533A31205341543A302052"
        "533A332052463A36352053463A31204D443A30010000C78F",
    };
    td_test_stream_reset(s);
    for (size_t i = 0; i < TD_TEST_COUNT(hex); i++) {
        uint8_t b[512];
        td_test_stream_frame(s, b, td_test_unhex(hex[i], b, sizeof(b)));
    }
}

static void test_framing_split_everywhere(void **state)
{
    static td_test_stream s;
    (void)state;
    stream_sample(&s);

    /* Each frame alone decodes, in one session. */
    memset(&sess, 0, sizeof(sess));
    td_test_stream_decodes(P, &s, &sess);

    td_test_split_everywhere(P, &s, s.n);

    /* Byte by byte: every frame comes out at its last byte. */
    td_stream st;
    td_test_frames f;
    char err[256];
    memset(&f, 0, sizeof(f));
    td_stream_init(&st, TD_TCP, NULL);
    for (size_t i = 0, k = 0; i < s.len; i++) {
        assert_int_equal(
            td_stream_feed(&st, s.bytes + i, 1, td_test_collect_frame, &f, err, sizeof(err)), 0);
        if (i + 1 == s.at[k] + s.flen[k])
            k++;
        assert_int_equal(f.n, (int)k);
    }
    td_stream_free(&st);

    /* Lengths no packet can have; bytes that open no packet. */
    size_t skip;
    uint8_t big[12] = {0, 0, 0, 0, 0, 0x10, 0, 0, 0x08, 1, 0, 0};
    assert_int_equal(P->frame(big, sizeof(big), &skip), TD_ETOOBIG);
    assert_int_equal(P->frame((const uint8_t *)"\x01\x02", 2, &skip), TD_EUNFRAMEABLE);
    assert_int_equal(P->frame((const uint8_t *)"\0\0\0\1\0\0\0\0\x08\x01", 10, &skip),
                     TD_EUNFRAMEABLE);
    assert_int_equal(P->frame((const uint8_t *)"\0\0\0\0\0\0\0\0\x0c\x01", 10, &skip),
                     TD_EUNFRAMEABLE); /* a command message needs its length */
}

/* ---- malformed input -------------------------------------------------- */

static void test_malformed(void **state)
{
    static td_test_stream s;
    static uint8_t m[4096];
    static const uint8_t with[] = {0x00, 0xff, 0x01, 0x80};
    size_t ok = 0, bad = 0;
    (void)state;
    stream_sample(&s);

    /* Every truncation and every single-byte corruption of every frame. */
    td_test_stream_mutations(P, &s, with, sizeof(with), &ok, &bad);

    /* Random bytes behind a preamble and a plausible length and codec. */
    srand(808);
    for (int round = 0; round < 3000; round++) {
        size_t len = 10 + (size_t)(rand() % 200);
        memset(m, 0, 8);
        for (size_t k = 8; k < len; k++)
            m[k] = (uint8_t)rand();
        m[7] = (uint8_t)(len - 12);
        static const uint8_t codecs[] = {0x07, 0x08, 0x8e, 0x10, 0x0c, 0x0d, 0x0e, 0x0f};
        m[8] = codecs[round % 8];
        m[9] = (uint8_t)(1 + rand() % 3);
        td_test_try_malformed(P, m, len, &ok, &bad);
        size_t skip;
        long fl = P->frame(m, len, &skip);
        assert_true(fl >= TD_EUNFRAMEABLE && fl <= (long)len);
    }
    fprintf(stderr, "teltonika malformed: %zu decoded, %zu rejected\n", ok, bad);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crc16_ibm),        cmocka_unit_test(test_handshake),
        cmocka_unit_test(test_codec8_document),  cmocka_unit_test(test_codec8e_document),
        cmocka_unit_test(test_codec16_document), cmocka_unit_test(test_udp_document),
        cmocka_unit_test(test_codec8_canonical), cmocka_unit_test(test_alarms),
        cmocka_unit_test(test_odd_values),       cmocka_unit_test(test_more_records_than_kept),
        cmocka_unit_test(test_codec8e),          cmocka_unit_test(test_codec16),
        cmocka_unit_test(test_codec7),           cmocka_unit_test(test_udp),
        cmocka_unit_test(test_codec12),          cmocka_unit_test(test_codec13),
        cmocka_unit_test(test_codec14),          cmocka_unit_test(test_codec15_document),
        cmocka_unit_test(test_commands),         cmocka_unit_test(test_tolerated),
        cmocka_unit_test(test_refused),          TD_TEST_FAMILY_CASES(&family),
        cmocka_unit_test(test_detection),        cmocka_unit_test(test_framing_split_everywhere),
        cmocka_unit_test(test_malformed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
