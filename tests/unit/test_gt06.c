/*
 * gt06 decoder tests. Frames are built here from the layouts in
 * docs/protocols/gt06.md (terminal id 0123456789012345, made-up places)
 * with their CRC-ITU computed, except the request/response examples printed
 * in the Concox JM-VL03 document, which are used as they stand. One test
 * per message type with its reply byte for byte; then this protocol's
 * vectors (tests/vectors/protocols.jsonl) forced and auto-detected;
 * detection against every registered protocol; framing split at every
 * byte; malformed input.
 */
#include "support.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/text.h"

#define IMEI "123456789012345"
#define TID "0123456789012345" /* the terminal id of IMEI, BCD */

TD_TEST_PROTOCOL(gt06)

/* ---- building frames -------------------------------------------------- */

/* CRC-ITU written out from the document's definition (X.25). */
static unsigned crc(const uint8_t *p, size_t n)
{
    unsigned fcs = 0xffff;
    for (size_t i = 0; i < n; i++) {
        fcs ^= p[i];
        for (int b = 0; b < 8; b++)
            fcs = (fcs & 1) ? (fcs >> 1) ^ 0x8408 : fcs >> 1;
    }
    return ~fcs & 0xffff;
}

/* A whole frame: 7878 (or 7979 when ext) <len> <type> <content> <serial>
 * <crc> 0D0A. Returns its length. */
static size_t build(uint8_t *out, bool ext, unsigned type, const char *content_hex, unsigned serial)
{
    uint8_t content[512];
    size_t n = td_test_unhex(content_hex, content, sizeof(content)), at = 0;
    size_t len = 1 + n + 4;
    out[at++] = ext ? 0x79 : 0x78;
    out[at++] = ext ? 0x79 : 0x78;
    if (ext)
        out[at++] = (uint8_t)(len >> 8);
    out[at++] = (uint8_t)len;
    out[at++] = (uint8_t)type;
    memcpy(out + at, content, n);
    at += n;
    out[at++] = (uint8_t)(serial >> 8);
    out[at++] = (uint8_t)serial;
    unsigned c = crc(out + 2, at - 2);
    out[at++] = (uint8_t)(c >> 8);
    out[at++] = (uint8_t)c;
    out[at++] = 0x0d;
    out[at++] = 0x0a;
    return at;
}

static uint8_t fb[1024];
static size_t fn;

/* Decodes fb[0..fn) in session s (NULL: fresh); expects success. */
static void decode_ok(td_session *s)
{
    int rc = td_test_decode_bytes(P, s, fb, fn, &ctx);
    if (rc != 0)
        fail_msg("decode failed: %s", ctx.err);
}

static const td_record *one_frame(bool ext, unsigned type, const char *content, unsigned serial)
{
    fn = build(fb, ext, type, content, serial);
    decode_ok(NULL);
    assert_int_equal(ctx.nrec, 1);
    return &ctx.rec[0];
}

/*
 * GPS block: 2024-03-15 10:15:30 UTC, info 0xC9 (12 bytes, 9 satellites),
 * 51deg 30.1234'S = 92,703,702 (0x0586_8BD6), 0deg 7.5678'W = 227,034
 * (0x0003_76DA), 36 km/h, status 0x1800|45: positioned, west, south.
 */
#define GPS_A "18030f 0a0f1e c9 05868bd6 000376da 24 182d"
/* The same fix, north and east, not positioned, course 359. */
#define GPS_B "18030f 0a0f1e 05 05868bd6 000376da 00 0567"
/* 2G cell: MCC 234, MNC 15, LAC 0x1234, CI 0x00abcd. */
#define CELL_2G "00ea 0f 1234 00abcd"

static void assert_gps_a(const td_record *r)
{
    td_test_assert_fix(r, "2024-03-15T10:15:30Z", -(51 + 30.1234 / 60), -(7.5678 / 60), 36, 45);
    assert_int_equal(td_test_attr_int(r, TD_ATTR_SATELLITES), 9);
}

static void assert_cell_2g(const td_record *r)
{
    assert_int_equal(r->ncells, 1);
    td_test_assert_cell(r, 0, 234, 15, 0x1234, 0xabcd);
}

/* ---- message types ---------------------------------------------------- */

static void test_crc_itu(void **state)
{
    (void)state;
    /* The response examples of the JM-VL03 document. */
    uint8_t b[16];
    size_t n = td_test_unhex("7878050100059FF80D0A", b, sizeof(b));
    assert_int_equal(crc(b + 2, n - 6), 0x9ff8);
    n = td_test_unhex("78780B8A0F0C1D0000150006F0860D0A", b, sizeof(b));
    assert_int_equal(crc(b + 2, n - 6), 0xf086);
}

static void test_login(void **state)
{
    (void)state;
    /* The document's login example: terminal id, type code, zone GMT+8. */
    fn = td_test_unhex("78781101075253367890024270003201000512790D0A", fb, sizeof(fb));
    memset(&sess, 0, sizeof(sess));
    decode_ok(&sess);
    assert_int_equal(ctx.nrec, 1);
    assert_int_equal(ctx.rec[0].type, TD_REC_LOGIN);
    assert_string_equal(sess.device_id, "752533678900242");
    assert_string_equal(ctx.rec[0].device_id, "752533678900242");
    assert_int_equal(td_test_raw_int(&ctx.rec[0], "timezone"), 480);
    td_test_reply_hex(&ctx, "7878050100059ff80d0a"); /* the document's response */

    /* The GT06 form: terminal id only; a west zone (GMT-3:30). */
    memset(&sess, 0, sizeof(sess));
    fn = build(fb, false, 0x01, TID, 1);
    decode_ok(&sess);
    assert_string_equal(sess.device_id, IMEI);
    assert_false(ctx.rec[0].has_time);
    td_test_reply_hex(&ctx, "787805010001d9dc0d0a");
    memset(&sess, 0, sizeof(sess));
    fn = build(fb, false, 0x01, TID "3608 14 a8", 0x1234);
    decode_ok(&sess);
    assert_int_equal(td_test_raw_int(&ctx.rec[0], "deviceType"), 0x3608);
    assert_int_equal(td_test_raw_int(&ctx.rec[0], "timezone"), -(3 * 60 + 30)); /* 330, west */
    td_test_reply_hex(&ctx, "78780501123419d30d0a");

    /* Later frames of the session carry the device id. */
    fn = build(fb, false, 0x13, "46 06 04 00 02", 2);
    decode_ok(&sess);
    assert_string_equal(ctx.rec[0].device_id, IMEI);

    /* A terminal id that is not BCD. */
    fn = build(fb, false, 0x01, "0123456789abcdef", 1);
    assert_int_equal(td_test_decode_bytes(P, NULL, fb, fn, &ctx), TD_EBADFRAME);
    assert_string_equal(ctx.err, "gt06: terminal id is not BCD (byte 5: AB)");
}

static void test_status_heartbeat(void **state)
{
    (void)state;
    /* The document's heartbeat: info 0x40, level 4, GSM 4, language. */
    fn = td_test_unhex("78780A134004040001000FDCEE0D0A", fb, sizeof(fb));
    decode_ok(NULL);
    const td_record *r = &ctx.rec[0];
    assert_int_equal(r->type, TD_REC_HEARTBEAT);
    assert_int_equal(td_test_attr_int(r, TD_ATTR_BATTERY_LEVEL), 66); /* 4 of 6 */
    assert_int_equal(td_test_raw_int(r, "voltageLevel"), 4);
    assert_int_equal(td_test_attr_int(r, TD_ATTR_RSSI), 4);
    assert_false(r->attr[TD_ATTR_IGNITION].b);
    assert_int_equal(r->alarms, 0);
    td_test_reply_hex(&ctx, "78780513000f008f0d0a");

    /* ACC on, charging, armed, oil cut; SOS bits in the information byte. */
    r = one_frame(false, 0x13, "a7 06 03 01 02", 0x0100);
    assert_true(r->attr[TD_ATTR_IGNITION].b);
    assert_true(r->attr[TD_ATTR_CHARGING].b);
    assert_true(td_rec_raw_find(r, "armed")->v.b);
    assert_true(td_rec_raw_find(r, "blocked")->v.b);
    assert_int_equal(td_test_attr_int(r, TD_ATTR_BATTERY_LEVEL), 100);
    assert_int_equal(r->alarms, TD_ALARM_BIT(TD_ALARM_SOS));
    td_test_reply_hex(&ctx, "787805130100e1a00d0a"); /* the document's response */

    /* A vehicle unit: the two bytes after the information byte are the
     * external voltage (12.58 V), then GSM. */
    r = one_frame(false, 0x13, "06 04ea 04 00", 6);
    assert_float_equal(td_rec_raw_find(r, "power")->v.d, 12.58, 1e-9);
    assert_int_equal(td_test_attr_int(r, TD_ATTR_RSSI), 4);

    /* 0x23: battery voltage in 1/100 V. */
    r = one_frame(false, 0x23, "c0 0122 04 0001", 8);
    assert_int_equal(r->type, TD_REC_HEARTBEAT);
    assert_float_equal(r->attr[TD_ATTR_BATTERY].d, 2.90, 1e-9);
    assert_int_equal(td_test_attr_int(r, TD_ATTR_RSSI), 4);
    assert_true(td_rec_raw_find(r, "blocked")->v.b);
    td_test_reply_hex(&ctx, "787805230008f29e0d0a");
}

static void test_gps(void **state)
{
    (void)state;
    const td_record *r = one_frame(false, 0x10, GPS_A, 3);
    assert_gps_a(r);
    assert_int_equal(r->ncells, 0);
    assert_int_equal(ctx.reply_len, 0); /* location data is not answered */

    r = one_frame(false, 0x10, GPS_B, 4);
    assert_false(r->valid);
    assert_float_equal(r->latitude, 51 + 30.1234 / 60, 1e-6);
    assert_float_equal(r->longitude, 7.5678 / 60, 1e-6);
    assert_float_equal(r->course, 359, 1e-9);
    assert_int_equal(td_test_attr_int(r, TD_ATTR_SATELLITES), 5);
}

static void test_gps_lbs(void **state)
{
    (void)state;
    const td_record *r = one_frame(false, 0x12, GPS_A CELL_2G, 5);
    assert_gps_a(r);
    assert_cell_2g(r);
    assert_int_equal(ctx.reply_len, 0);

    /* 0x22: ACC, upload mode, re-upload, mileage. */
    r = one_frame(false, 0x22, GPS_A CELL_2G "01 03 01 0001e240", 6);
    assert_gps_a(r);
    assert_cell_2g(r);
    assert_true(r->attr[TD_ATTR_IGNITION].b);
    assert_int_equal(td_test_raw_int(r, "uploadMode"), 3);
    assert_true(td_rec_raw_find(r, "archive")->v.b);
    assert_float_equal(r->attr[TD_ATTR_ODOMETER].d, 123456, 1e-9);

    /* The document's 0x22 example. */
    fn = td_test_unhex(
        "787822220F0C1D023305C9027AC8180C46586000140001CC00287D001F71000001000820860D0A", fb,
        sizeof(fb));
    decode_ok(NULL);
    r = &ctx.rec[0];
    assert_int_equal(r->time_ms, td_test_utc(2015, 12, 29, 2, 51, 5));
    assert_float_equal(r->latitude, 0x027ac818 / 1800000.0, 1e-7);
    assert_float_equal(r->longitude, 0x0c465860 / 1800000.0, 1e-7);
    assert_int_equal(r->cells[0].mcc, 460);
    assert_int_equal(r->cells[0].lac, 0x287d);

    /* 0xA0 (4G): bit 15 of the MCC says the MNC takes two bytes; LAC 4, CI 8. */
    r = one_frame(false, 0xa0, GPS_A "80ea 000f 00001234 00000000 0abcdef0 00 01 00 00000064", 7);
    assert_gps_a(r);
    assert_int_equal(r->cells[0].mcc, 234);
    assert_int_equal(r->cells[0].mnc, 15);
    assert_int_equal(r->cells[0].lac, 0x1234);
    assert_int_equal(r->cells[0].cid, 0x0abcdef0);
    assert_false(r->attr[TD_ATTR_IGNITION].b);
    assert_float_equal(r->attr[TD_ATTR_ODOMETER].d, 100, 1e-9);

    /* Vehicle tails on 0x12: information byte and external voltage. */
    r = one_frame(false, 0x12, GPS_A CELL_2G "02 0505 04 00", 8);
    assert_true(r->attr[TD_ATTR_IGNITION].b);
    assert_float_equal(td_rec_raw_find(r, "power")->v.d, 12.85, 1e-9);

    /* 0x1E: GPS then seven cells. */
    r = one_frame(false, 0x1e,
                  GPS_A
                  "00ea 0f 1234 00abcd 40 1234 00abce 38 0000 000000 00 0000 000000 00 0000 000000 "
                  "00 0000 000000 00 0000 000000 00 ff 0002",
                  9);
    assert_gps_a(r);
    assert_int_equal(r->ncells, 2);
    assert_int_equal(r->cells[1].cid, 0xabce);
    assert_int_equal(r->cells[1].rssi, 0x38);
}

static void test_alarms(void **state)
{
    (void)state;
    /* 0x16: GPS, sized cell, information (SOS bits), level 5, GSM 3, SOS, language. */
    const td_record *r = one_frame(false, 0x16, GPS_A "09" CELL_2G "22 05 03 01 02", 0x0a);
    assert_gps_a(r);
    assert_cell_2g(r);
    assert_int_equal(r->alarms, TD_ALARM_BIT(TD_ALARM_SOS));
    assert_true(r->attr[TD_ATTR_IGNITION].b);
    assert_int_equal(td_test_attr_int(r, TD_ATTR_BATTERY_LEVEL), 83);
    assert_int_equal(td_test_attr_int(r, TD_ATTR_RSSI), 3);
    assert_int_equal(td_test_raw_int(r, "alarmCode"), 1);
    td_test_reply_hex(&ctx, "78780516000a6e9f0d0a");

    /* The document's 0x26 example (tamper) and its response. */
    fn = td_test_unhex(
        "787825260F0C1D030B26C9027AC8180C4658600004000901CC00287D001F718004041302000C472A0D"
        "0A",
        fb, sizeof(fb));
    decode_ok(NULL);
    assert_int_equal(ctx.rec[0].alarms, TD_ALARM_BIT(TD_ALARM_TAMPER));
    td_test_reply_hex(&ctx, "78780526000c8d070d0a");

    static const struct {
        unsigned code;
        uint32_t alarms;
    } codes[] = {
        {0x00, 0},
        {0x01, TD_ALARM_BIT(TD_ALARM_SOS)},
        {0x02, TD_ALARM_BIT(TD_ALARM_POWER_CUT)},
        {0x03, TD_ALARM_BIT(TD_ALARM_VIBRATION)},
        {0x04, TD_ALARM_BIT(TD_ALARM_GEOFENCE_ENTER)},
        {0x05, TD_ALARM_BIT(TD_ALARM_GEOFENCE_EXIT)},
        {0x06, TD_ALARM_BIT(TD_ALARM_OVERSPEED)},
        {0x09, TD_ALARM_BIT(TD_ALARM_MOVEMENT)},
        {0x0e, TD_ALARM_BIT(TD_ALARM_LOW_POWER)},
        {0x13, TD_ALARM_BIT(TD_ALARM_TAMPER)},
        {0x19, TD_ALARM_BIT(TD_ALARM_LOW_BATTERY)},
        {0x23, TD_ALARM_BIT(TD_ALARM_FALL)},
        {0x14, 0}, /* door: kept as alarmCode only */
    };
    for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
        char content[128];
        snprintf(content, sizeof(content), GPS_A "09" CELL_2G "00 04 04 %02x 02", codes[i].code);
        r = one_frame(false, 0x26, content, 0x20);
        assert_int_equal(r->alarms, codes[i].alarms);
        td_test_reply_hex(&ctx, "78780526002066690d0a");
    }

    /* ACC on / off as alarm codes. */
    r = one_frame(false, 0x26, GPS_A "09" CELL_2G "00 04 04 fe 02", 1);
    assert_true(r->attr[TD_ATTR_IGNITION].b);
    r = one_frame(false, 0x26, GPS_A "09" CELL_2G "02 04 04 ff 02", 1);
    assert_false(r->attr[TD_ATTR_IGNITION].b);

    /* 0x27: a fence number after the language. */
    r = one_frame(false, 0x27, GPS_A "09" CELL_2G "00 04 04 05 02 03", 0x21);
    assert_int_equal(r->alarms, TD_ALARM_BIT(TD_ALARM_GEOFENCE_EXIT));
    assert_int_equal(td_test_raw_int(r, "fence"), 3);
    td_test_reply_hex(&ctx, "7878052700212d3c0d0a");

    /* 0xA4: the 4G cell. */
    r = one_frame(false, 0xa4, GPS_A "10 00ea 0f 00001234 000000000000abcd 00 05 04 19 02 ff",
                  0x22);
    assert_cell_2g(r);
    assert_int_equal(r->alarms, TD_ALARM_BIT(TD_ALARM_LOW_BATTERY));
    assert_int_equal(td_test_raw_int(r, "fence"), 0xff);
    td_test_reply_hex(&ctx, "787805a40022fc2f0d0a");

    /* A cell block one byte longer holds a two-byte MNC (2G and 4G). */
    r = one_frame(false, 0x26, GPS_A "0a 00ea 000f 1234 00abcd 00 04 04 00 02", 0x24);
    assert_cell_2g(r);
    r = one_frame(false, 0xa4, GPS_A "11 00ea 000f 00001234 000000000000abcd 00 05 04 00 02 ff",
                  0x25);
    assert_cell_2g(r);

    /* 0x19: one cell and the status block (no fix). */
    r = one_frame(false, 0x19, CELL_2G "20 03 04 01 02", 0x23);
    assert_int_equal(r->type, TD_REC_STATUS);
    assert_cell_2g(r);
    assert_int_equal(r->alarms, TD_ALARM_BIT(TD_ALARM_SOS));
    td_test_reply_hex(&ctx, "787805190023989b0d0a");
}

static void test_lbs(void **state)
{
    (void)state;
    /* 0x28: date, MCC/MNC, serving and six neighbours, TA, language. */
    const td_record *r = one_frame(
        false, 0x28,
        "18030f 0a0f1e 00ea 0f 1234 00abcd 3e 1234 00abce 31 1235 000001 2d 0000 000000 00 "
        "0000 000000 00 0000 000000 00 0000 000000 00 ff 0002",
        0x30);
    assert_int_equal(r->type, TD_REC_STATUS);
    assert_int_equal(r->time_ms, td_test_utc(2024, 3, 15, 10, 15, 30));
    assert_int_equal(r->ncells, 3);
    assert_int_equal(r->cells[0].mcc, 234);
    assert_int_equal(r->cells[0].rssi, 0x3e);
    assert_int_equal(r->cells[2].lac, 0x1235);
    assert_int_equal(td_test_raw_int(r, "timingAdvance"), 0xff);
    assert_int_equal(ctx.reply_len, 0);

    /* 0xA1: the same with 4G cells (LAC 4, CI 8). */
    r = one_frame(
        false, 0xa1,
        "18030f 0a0f1e 00ea 0f 00001234 000000000abcdef0 3e 00000000 0000000000000000 00 "
        "00000000 0000000000000000 00 00000000 0000000000000000 00 00000000 0000000000000000 "
        "00 00000000 0000000000000000 00 00000000 0000000000000000 00 ff 0002",
        0x31);
    assert_int_equal(r->ncells, 1);
    assert_int_equal(r->cells[0].cid, 0x0abcdef0);

    /* 0x11 (GT03): date and one cell. */
    r = one_frame(false, 0x11, "18030f 0a0f1e" CELL_2G, 0x32);
    assert_int_equal(r->type, TD_REC_STATUS);
    assert_cell_2g(r);
}

static void test_wifi(void **state)
{
    (void)state;
    /* 0x69: the length byte is the number of access points (2); BCD date,
     * MACs and RSSI, then cells; no serial, no CRC. */
    fn = td_test_unhex(
        "7878 02 69 240315101530 aabbccddee01 3e aabbccddee02 50 01 00ea 0f 1234 abcd 40 0d0a", fb,
        sizeof(fb));
    decode_ok(NULL);
    const td_record *r = &ctx.rec[0];
    assert_int_equal(r->type, TD_REC_STATUS);
    assert_int_equal(r->time_ms, td_test_utc(2024, 3, 15, 10, 15, 30));
    assert_int_equal(r->nwifi, 2);
    assert_string_equal(r->wifi[0].mac, "aa:bb:cc:dd:ee:01");
    assert_int_equal(r->wifi[0].rssi, -62);
    assert_int_equal(r->ncells, 1);
    assert_int_equal(r->cells[0].cid, 0xabcd);
    assert_int_equal(ctx.reply_len, 0);

    /* 0x2C: cells, TA, then a counted WiFi list. */
    r = one_frame(
        false, 0x2c,
        "18030f 0a0f1e 00ea 0f 1234 00abcd 3e 0000 000000 00 0000 000000 00 0000 000000 00 "
        "0000 000000 00 0000 000000 00 0000 000000 00 ff 01 aabbccddee03 45",
        0x40);
    assert_int_equal(r->ncells, 1);
    assert_int_equal(r->nwifi, 1);
    assert_string_equal(r->wifi[0].mac, "aa:bb:cc:dd:ee:03");
    assert_int_equal(r->wifi[0].rssi, -0x45);
}

static void test_time_request(void **state)
{
    (void)state;
    /* The document's request; the answer carries the server's UTC time
     * (2026-01-02 03:04:05 in the tests). */
    fn = td_test_unhex("7878058A000688290D0A", fb, sizeof(fb));
    decode_ok(NULL);
    assert_int_equal(ctx.nrec, 1);
    assert_int_equal(ctx.rec[0].type, TD_REC_OTHER);
    uint8_t want[32];
    size_t n = build(want, false, 0x8a, "1a0102030405", 6);
    assert_int_equal(ctx.reply_len, n);
    assert_memory_equal(ctx.reply, want, n);
    td_test_reply_hex(&ctx, "78780b8a1a01020304050006875c0d0a");
}

static void test_information(void **state)
{
    (void)state;
    /* 0x94 / 0x00: external voltage 11.83 V (the document's example). */
    const td_record *r = one_frame(true, 0x94, "00 049f", 0x50);
    assert_int_equal(r->type, TD_REC_STATUS);
    assert_float_equal(td_rec_raw_find(r, "power")->v.d, 11.83, 1e-9);
    assert_int_equal(ctx.reply_len, 0);

    /* 0x04: status synchronisation text. */
    r = one_frame(true, 0x94, "04 414c4d313d46463b535441313d43303b", 0x51);
    assert_string_equal(td_test_raw_str(r, "result"), "ALM1=FF;STA1=C0;");

    /* 0x05: door open. */
    r = one_frame(true, 0x94, "05 01", 0x52);
    assert_true(td_rec_raw_find(r, "door")->v.b);

    /* 0x0A: IMEI, IMSI, ICCID. */
    r = one_frame(true, 0x94, "0a " TID " 0234150000000001 89440000000000000001", 0x53);
    assert_string_equal(td_test_raw_str(r, "iccid"), "89440000000000000001");
}

static void test_command_answers(void **state)
{
    (void)state;
    /* 0x15: length, server flag, text, language. */
    const td_record *r = one_frame(false, 0x15, "0b 00000001 52454c41592c31 0002", 0x60);
    assert_int_equal(r->type, TD_REC_ACK);
    assert_string_equal(td_test_raw_str(r, "result"), "RELAY,1");
    assert_string_equal(ctx.ack, "00000001"); /* the server flag sent with the command */
    assert_false(ctx.ack_failed);
    assert_string_equal(ctx.ack_result, "RELAY,1");

    /* A zero flag names no command: the oldest one waiting. A refusal. */
    r = one_frame(false, 0x15, "12 00000000 436f6d6d616e64206572726f7221 0002", 0x63);
    assert_string_equal(ctx.ack, TD_ACK_ANY);
    assert_true(ctx.ack_failed);
    assert_string_equal(ctx.ack_result, "Command error!");

    /* 0x21: server flag, UTF-16BE text. */
    r = one_frame(true, 0x21, "00000001 02 004f004b0021", 0x61);
    assert_string_equal(td_test_raw_str(r, "result"), "OK!");

    /* 0x21 with a position in the text: a position record and the ack. */
    fn = build(fb, true, 0x21,
               "00000001 01 "
               "4c61743a4e35312e3530303030302c4c6f6e3a5730302e3132303030302c436f757273653a39302e30"
               "302c53706565643a31322e353030302c4461746554696d653a323032342d30332d31352031303a3135"
               "3a3330",
               0x62);
    decode_ok(NULL);
    assert_int_equal(ctx.nrec, 2);
    r = &ctx.rec[0];
    assert_int_equal(r->type, TD_REC_POSITION);
    assert_float_equal(r->latitude, 51.5, 1e-9);
    assert_float_equal(r->longitude, -0.12, 1e-9);
    assert_float_equal(r->course, 90, 1e-9);
    assert_float_equal(r->speed, 12.5, 1e-9);
    assert_int_equal(r->time_ms, td_test_utc(2024, 3, 15, 10, 15, 30));
    assert_int_equal(ctx.rec[1].type, TD_REC_ACK);
}

static void test_address_request_and_unknown(void **state)
{
    (void)state;
    /* 0x2A: no position is stored from an address request. */
    const td_record *r =
        one_frame(false, 0x2a, GPS_A "2b3434373730303930303132330000000000000000000000 0002", 0x70);
    assert_int_equal(r->type, TD_REC_OTHER);
    assert_string_equal(td_test_raw_str(r, "phone"), "+447700900123");

    /* An unknown type with a good CRC is kept with its bytes. */
    r = one_frame(false, 0x5e, "0102030405", 0x71);
    assert_int_equal(r->type, TD_REC_OTHER);
    assert_int_equal(td_test_raw_int(r, "type"), 0x5e);
    assert_string_equal(td_test_raw_str(r, "data"), "0102030405");
    assert_int_equal(ctx.reply_len, 0);

    /* ... and refused with a bad one. */
    fb[fn - 3] ^= 0xff;
    assert_int_equal(td_test_decode_bytes(P, NULL, fb, fn, &ctx), TD_ECHECKSUM);
    assert_non_null(strstr(ctx.err, "gt06: bad CRC"));
    assert_int_equal(ctx.nrec, 0);

    /* A known type with a bad CRC is decoded (clones that compute it
     * wrongly); see the fact sheet. */
    fn = build(fb, false, 0x12, GPS_A CELL_2G, 5);
    fb[fn - 3] ^= 0xff;
    decode_ok(NULL);
    assert_gps_a(&ctx.rec[0]);
}

/* The reports of other models and clones (layouts in the fact sheet). */
static void test_other_reports(void **state)
{
    (void)state;
    /* 0x17: GPS, cell, then RFID bytes kept raw. */
    const td_record *r = one_frame(false, 0x17, GPS_A CELL_2G "0001 2ca7e001", 0x80);
    assert_gps_a(r);
    assert_cell_2g(r);
    assert_int_equal(ctx.reply_len, 0);

    /* 0x24 and 0x37: GPS + LBS variants. */
    r = one_frame(false, 0x24, GPS_A CELL_2G "01 04ed 01 94 00", 0x81);
    assert_gps_a(r);
    assert_cell_2g(r);
    r = one_frame(false, 0x37, GPS_A CELL_2G, 0x82);
    assert_gps_a(r);

    /* 0x18 and 0x2E: date and seven cells, as 0x28. */
    for (unsigned type = 0x18; type != 0; type = type == 0x18 ? 0x2e : 0) {
        r = one_frame(
            false, type,
            "18030f 0a0f1e 00ea 0f 1234 00abcd 3e 0000 000000 00 0000 000000 00 0000 000000 "
            "00 0000 000000 00 0000 000000 00 0000 000000 00 ff 0002",
            0x83);
        assert_int_equal(r->type, TD_REC_STATUS);
        assert_cell_2g(r);
    }

    /* 0x1A: an address request, like 0x2A: no position. */
    r = one_frame(false, 0x1a, GPS_A "2b3434373730303930303132330000000000000000000000 0002", 0x84);
    assert_int_equal(r->type, TD_REC_OTHER);
    assert_string_equal(td_test_raw_str(r, "phone"), "+447700900123");

    /* 0x32 in the short form: GPS, sized cell, status bytes, altitude. */
    r = one_frame(false, 0x32, GPS_A "09" CELL_2G "0b46f0042102 02af", 0x85);
    assert_gps_a(r);
    assert_cell_2g(r);
    assert_float_equal(r->altitude, 687, 1e-9);
    r = one_frame(false, 0x32, GPS_A "09" CELL_2G "0b46f0042102 ff38", 0x85);
    assert_float_equal(r->altitude, -200, 1e-9);

    /* 0x32 / 0x33 long form (AZ735): date, GPS length and data, cell. */
    r = one_frame(true, 0x32, "18030f 0a0f1e 0c c9 05868bd6 000376da 24 182d 09" CELL_2G "24",
                  0x86);
    assert_gps_a(r);
    assert_cell_2g(r);
    assert_int_equal(ctx.reply_len, 0);
    r = one_frame(true, 0x33, "18030f 0a0f1e 00 09" CELL_2G "a0030046", 0x87);
    assert_int_equal(r->type, TD_REC_STATUS);
    assert_cell_2g(r);
    td_test_reply_hex(&ctx, "7878053300870bf40d0a");

    /* 0x34 (X1): event and flags, then GPS. */
    r = one_frame(false, 0x34, "39000000" GPS_A "0000", 0x88);
    assert_gps_a(r);
    assert_int_equal(td_test_raw_int(r, "event"), 0x39);

    /* 0x70: modules; 0x33 is the GPS module (with altitude), 0x11 a cell,
     * 0x01 the IMEI, 0x03 the ICCID. */
    r = one_frame(false, 0x70,
                  "0001 0008 " TID " 0003 000a 89440000000000000001 0033 0012 65f41fc2 09 0064 "
                  "05868bd6 000376da 24 182d 0011 0008 00ea 0f 1234 00abcd 0099 0001 07",
                  0x89);
    assert_gps_a(r);
    assert_float_equal(r->altitude, 100, 1e-9);
    assert_cell_2g(r);
    assert_string_equal(td_test_raw_str(r, "imei"), IMEI);
    assert_string_equal(td_test_raw_str(r, "iccid"), "89440000000000000001");

    /* 0x81: the GT03 command answer, as 0x15. */
    r = one_frame(false, 0x81, "06 00000002 4f4b 0002", 0x8a);
    assert_int_equal(r->type, TD_REC_ACK);
    assert_string_equal(td_test_raw_str(r, "result"), "OK");

    /* 0x95: an event with its date; answered. */
    r = one_frame(false, 0x95, "13 18030f0a0f1e 0001", 0x8b);
    assert_int_equal(r->type, TD_REC_STATUS);
    assert_int_equal(r->time_ms, td_test_utc(2024, 3, 15, 10, 15, 30));
    assert_int_equal(td_test_raw_int(r, "event"), 0x13);
    td_test_reply_hex(&ctx, "78780595008b18960d0a");

    /* 0xA2: 4G cells and WiFi; some units send GPS + 4G cell under it. */
    r = one_frame(false, 0xa2,
                  "18030f 0a0f1e 80ea 000f 00001234 000000000000abcd 3e "
                  "00000000 0000000000000000 00 00000000 0000000000000000 00 "
                  "00000000 0000000000000000 00 00000000 0000000000000000 00 "
                  "00000000 0000000000000000 00 00000000 0000000000000000 00 ff 01 aabbccddee04 40",
                  0x8c);
    assert_int_equal(r->type, TD_REC_STATUS);
    assert_cell_2g(r);
    assert_int_equal(r->nwifi, 1);
    r = one_frame(false, 0xa2, GPS_A "00ea 0f 00001234 000000000000abcd 00 00 00", 0x8d);
    assert_gps_a(r);
    assert_cell_2g(r);

    /* 0xA3: too short for a fix (a status under this number); answered. */
    r = one_frame(false, 0xa3, "46 0001 0664 0c01", 0x8e);
    assert_int_equal(r->type, TD_REC_STATUS);
    assert_true(r->attr[TD_ATTR_IGNITION].b);
    td_test_reply_hex(&ctx, "787805a3008e1f4c0d0a");

    /* 0xF3: a WiFi list. */
    r = one_frame(false, 0xf3, "18030f 0a0f1e 02 0000 aabbccddee05 0000 aabbccddee06", 0x8f);
    assert_int_equal(r->nwifi, 2);
    assert_string_equal(r->wifi[1].mac, "aa:bb:cc:dd:ee:06");

    /* Types kept with their bytes (0x9B transparent serial data). */
    r = one_frame(true, 0x9b, "03 44373532", 0x90);
    assert_int_equal(r->type, TD_REC_OTHER);
    assert_string_equal(td_test_raw_str(r, "data"), "0344373532");

    /* 0x13 with extra bytes after the status. */
    r = one_frame(false, 0x13, "46 06 04 00 02 0102", 0x91);
    assert_int_equal(r->type, TD_REC_HEARTBEAT);
    assert_int_equal(td_test_attr_int(r, TD_ATTR_BATTERY_LEVEL), 100);
    assert_string_equal(td_test_raw_str(r, "extra"), "0102");
}

/* ---- downlink commands ------------------------------------------------ */

/* Expects tc to encode to the 0x80 packet with server flag 42 (the test
 * command id), serial 42 and command text `text`. */
static void expect_command(const td_test_cmd *tc, const char *text)
{
    char content[600];
    uint8_t want[300];
    size_t tl = strlen(text), k = 0;
    k += (size_t)snprintf(content + k, sizeof(content) - k, "%02zx0000002a", 4 + tl);
    for (size_t i = 0; i < tl; i++)
        k += (size_t)snprintf(content + k, sizeof(content) - k, "%02x", (unsigned char)text[i]);
    size_t n = build(want, false, 0x80, content, 42);
    td_test_expect_encode_n(tc, NULL, want, n, "0000002A");
}

static void test_commands(void **state)
{
    (void)state;
    static const char *const types[] = {"positionSingle", "positionPeriodic", "engineStop",
                                        "engineResume",   "rebootDevice",     "setTimezone",
                                        "custom"};
    td_test_cmd tc;

    td_test_expect_commands(P, types, sizeof(types) / sizeof(types[0]));

    /* The document's example, written by hand: flag 0, "sos#", serial 1. */
    uint8_t doc[32];
    size_t dn = build(doc, false, 0x80, "08 00000000 736f7323", 1);
    char hex[80];
    td_hex_encode(doc, dn, hex, sizeof(hex));
    assert_string_equal(hex, "78780e800800000000736f732300016d6a0d0a");

    td_test_cmd_start(&tc, P, "positionSingle");
    expect_command(&tc, "WHERE#");
    td_test_cmd_start(&tc, P, "positionPeriodic");
    td_test_cmd_num(&tc, "frequency", 60);
    expect_command(&tc, "TIMER,60#");
    td_test_cmd_start(&tc, P, "engineStop");
    expect_command(&tc, "DYD,000000#");
    td_test_cmd_start(&tc, P, "engineResume");
    expect_command(&tc, "HFYD,000000#");
    td_test_cmd_start(&tc, P, "rebootDevice");
    expect_command(&tc, "RESET#");
    td_test_cmd_start(&tc, P, "setTimezone");
    td_test_cmd_num(&tc, "timezone", 480);
    expect_command(&tc, "GMT,E,8,0#");
    td_test_cmd_num(&tc, "timezone", -210);
    expect_command(&tc, "GMT,W,3,30#");
    td_test_cmd_num(&tc, "timezone", 100);
    td_test_expect_encode_fail(&tc, NULL, TD_EINVAL,
                               "gt06: the time zone must be a multiple of 15 minutes (100 is not)");
    td_test_cmd_start(&tc, P, "custom");
    td_test_cmd_str(&tc, "data", "RELAY,1#");
    expect_command(&tc, "RELAY,1#");
    td_test_cmd_start(&tc, P, "custom");
    td_test_cmd_str(&tc, "hex", "535441545553"); /* bytes as given */
    td_test_cmd_arg(&tc, "hex")->len = 6;
    td_test_cmd_arg(&tc, "hex")->str = "STATUS";
    expect_command(&tc, "STATUS");

    /* One byte short of the packet: TD_ETOOBIG, nothing past cap. */
    uint8_t want[64];
    size_t n = build(want, false, 0x80, "0a0000002a574845524523", 42);
    td_test_cmd_start(&tc, P, "positionSingle");
    td_test_expect_too_small(&tc, NULL, want, n);
}

/* ---- vectors and detection -------------------------------------------- */

/* Vectors whose expectation trackd does not share: #20, a 0x7878 0x32
 * report whose last two content bytes are the altitude (0x02AF = 687 m, the
 * elevation of the place it reports); the vector expects the CRC that
 * follows (0x8429) read as a signed altitude. */
static const long long known_differences[] = {20};

/* The family checks: at least 80 vectors, decided within 5 bytes; cut at
 * every length and corrupted at every byte, and random input, they decode
 * or fail with a message naming gt06. */
static const td_test_family family = {
    .proto = &td_proto_gt06,
    .min_vectors = 80,
    .known = known_differences,
    .nknown = TD_TEST_COUNT(known_differences),
    .yes_by = 5,
    .corrupt = {0x00, 0xff, 0x0d, 0x78},
    .ncorrupt = 4,
    .random =
        {
            .rounds = 3000,
            .max_len = 200,
            .head = {"\x78\x78", "\x79\x79\x00"},
            .head_len = {0, 3},
            .alphabet = "\x01\x05\x0a\x0d\x10\x11\x12\x13\x16\x22\x78\x79\x94\xff",
            .refusable = true,
        },
};

/* The first bytes decide as the layouts say (the vectors: TD_TEST_FAMILY_CASES). */
static void test_detection(void **state)
{
    (void)state;
    /* Short prefixes wait; wrong markers and unknown short types do not. */
    assert_int_equal(P->detect((const uint8_t *)"", 0), TD_DETECT_MAYBE);
    assert_int_equal(P->detect((const uint8_t *)"\x78", 1), TD_DETECT_MAYBE);
    assert_int_equal(P->detect((const uint8_t *)"\x78\x78\x05", 3), TD_DETECT_MAYBE);
    assert_int_equal(P->detect((const uint8_t *)"\x79\x79\x00\x08", 4), TD_DETECT_MAYBE);
    assert_int_equal(P->detect((const uint8_t *)"\x78\x78\x11\x01", 4), TD_DETECT_YES);
    assert_int_equal(P->detect((const uint8_t *)"\x79\x79\x00\x08\x94", 5), TD_DETECT_YES);
    assert_int_equal(P->detect((const uint8_t *)"\x78\x79", 2), TD_DETECT_NO);
    assert_int_equal(P->detect((const uint8_t *)"\x78\x78\x02\x5e", 4), TD_DETECT_NO);
    assert_int_equal(P->detect((const uint8_t *)"\x79\x79\x00\x02\x94", 5), TD_DETECT_NO);
    /* An unknown type: only a whole frame with a good CRC. */
    fn = build(fb, false, 0x5e, "0102", 1);
    assert_int_equal(P->detect(fb, fn - 1), TD_DETECT_MAYBE);
    assert_int_equal(P->detect(fb, fn), TD_DETECT_YES);
    fb[fn - 3] ^= 1;
    assert_int_equal(P->detect(fb, fn), TD_DETECT_NO);
    bool maybe;
    fn = build(fb, false, 0x01, TID, 1);
    assert_ptr_equal(td_detect(fb, fn, TD_TCP, &maybe), P);
    assert_ptr_equal(td_detect(fb, fn, TD_UDP, &maybe), P);
}

/* ---- framing ---------------------------------------------------------- */

/* A stream of frames of every shape: short and long headers, the WiFi
 * count form, a clone whose length byte is wrong. */
static void stream_sample(td_test_stream *s)
{
    uint8_t b[256];
    td_test_stream_reset(s);
    td_test_stream_frame(s, b, build(b, false, 0x01, TID, 1));
    td_test_stream_frame(s, b, build(b, false, 0x12, GPS_A CELL_2G, 2));
    td_test_stream_frame(s, b,
                         build(b, true, 0x94, "04 414c4d313d46463b0d0a", 3)); /* 0D0A inside */
    /* The WiFi count form, with 0D0A inside a MAC. */
    td_test_stream_frame(
        s, b,
        td_test_unhex(
            "7878 02 69 240315101530 110d0accddee 3e aabbccddee02 50 01 00ea 0f 1234 abcd 40 0d0a",
            b, sizeof(b)));
    td_test_stream_frame(s, b, build(b, false, 0x13, "46 06 04 00 02", 4));
    /* A length byte one short: framed up to its stop bytes. */
    size_t k = build(b, false, 0x11, GPS_A, 5);
    b[2]--;
    td_test_stream_frame(s, b, k);
    td_test_stream_frame(s, b, build(b, false, 0x16, GPS_A "09" CELL_2G "22 05 03 01 02", 6));
}

static void test_framing_split_everywhere(void **state)
{
    static td_test_stream s;
    (void)state;
    stream_sample(&s);

    /* Each frame alone decodes. */
    td_test_stream_decodes(P, &s, NULL);

    td_test_split_everywhere(P, &s, s.n);

    /* With noise before the first frame (forced protocol). */
    static td_test_stream noisy;
    td_test_stream_reset(&noisy);
    td_test_stream_noise(&noisy, "\x00\x78\x11", 3);
    for (size_t i = 0; i < s.n; i++)
        td_test_stream_frame(&noisy, s.bytes + s.at[i], s.flen[i]);
    td_test_split_forced(P, &noisy, noisy.n);

    /* A declared length beyond max_frame. */
    size_t skip;
    assert_int_equal(P->frame((const uint8_t *)"\x79\x79\xff\xff\x94", 5, &skip), TD_ETOOBIG);
}

/* ---- malformed input -------------------------------------------------- */

static void test_malformed(void **state)
{
    static td_test_stream s;
    static uint8_t m[2048];
    static const uint8_t with[] = {0x00, 0xff, 0x0d, 0x78};
    size_t ok = 0, bad = 0;
    (void)state;
    stream_sample(&s);

    /* Every truncation and every single-byte corruption of every frame. */
    td_test_stream_mutations(P, &s, with, sizeof(with), &ok, &bad);

    /* Specific errors. */
    static const struct {
        const char *hex, *err;
    } cases[] = {
        {"7979000594", "gt06: frame of 5 bytes does not match its length 5"},
        {"7878", "gt06: frame of 2 bytes has no type"},
        {"0102030405", "gt06: frame does not start with 7878 or 7979"},
        {"78780b70003300ff01020001ffff0d0a", "gt06: module 0x0033 of 255 bytes in 2"},
    };
    for (size_t i = 0; i < TD_TEST_COUNT(cases); i++) {
        uint8_t b[64];
        size_t bn = td_test_unhex(cases[i].hex, b, sizeof(b));
        td_test_expect_error_bytes(P, &ctx, b, bn, cases[i].err);
    }

    /* Coordinates out of range: a layout this decoder cannot read; the
     * bytes are kept in a status record. */
    fn = build(fb, false, 0x10, "18030f 0a0f1e c9 ffffffff 000376da 24 182d", 1);
    decode_ok(NULL);
    assert_int_equal(ctx.rec[0].type, TD_REC_STATUS);
    assert_string_equal(td_test_raw_str(&ctx.rec[0], "data"),
                        "18030f0a0f1ec9ffffffff000376da24182d");

    /* Random bytes behind a start marker. */
    srand(606);
    for (int round = 0; round < 3000; round++) {
        size_t len = 4 + (size_t)(rand() % 120);
        m[0] = m[1] = round % 2 ? 0x78 : 0x79;
        for (size_t k = 2; k < len; k++)
            m[k] = (uint8_t)rand();
        if (round % 3 == 0) {
            m[2] = (uint8_t)(len - 5);
            m[len - 2] = 0x0d;
            m[len - 1] = 0x0a;
        }
        td_test_try_malformed(P, m, len, &ok, &bad);
        size_t skip;
        long fl = P->frame(m, len, &skip);
        assert_true(fl >= TD_EUNFRAMEABLE && fl <= (long)len);
    }
    fprintf(stderr, "gt06 malformed: %zu decoded, %zu rejected\n", ok, bad);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crc_itu),
        cmocka_unit_test(test_login),
        cmocka_unit_test(test_status_heartbeat),
        cmocka_unit_test(test_gps),
        cmocka_unit_test(test_gps_lbs),
        cmocka_unit_test(test_alarms),
        cmocka_unit_test(test_lbs),
        cmocka_unit_test(test_wifi),
        cmocka_unit_test(test_time_request),
        cmocka_unit_test(test_information),
        cmocka_unit_test(test_command_answers),
        cmocka_unit_test(test_address_request_and_unknown),
        cmocka_unit_test(test_other_reports),
        cmocka_unit_test(test_commands),
        TD_TEST_FAMILY_CASES(&family),
        cmocka_unit_test(test_detection),
        cmocka_unit_test(test_framing_split_everywhere),
        cmocka_unit_test(test_malformed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
