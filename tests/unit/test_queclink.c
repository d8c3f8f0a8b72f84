/*
 * Unit tests for the queclink protocol (@Track text reports). Every frame
 * here is built from the layouts in docs/protocols/queclink.md (made-up ids
 * and values, the documents' GL300 and GV300 field orders); the device
 * vectors of tests/vectors/protocols.jsonl run once with the protocol
 * forced and once through detection. One test per message type and per
 * reply, byte for byte; then detection against every other family, framing
 * split at every byte, and malformed input.
 */
#include "support.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/text.h"

#define IMEI "860000000000001"
#define SEND "20240214093254,11F0$"
/* A GL300 block: accuracy, speed, azimuth, altitude, lon, lat, UTC time,
 * MCC, MNC, LAC, cell id, reserved. */
#define BLOCK "1,4.3,92,70.0,121.354335,31.222073,20240214013254,0460,0000,18d8,6141,00"

TD_TEST_PROTOCOL(queclink)

/* The GL300 block above, checked. */
static void assert_block(const td_record *r)
{
    td_test_assert_fix(r, "2024-02-14T01:32:54Z", 31.222073, 121.354335, 4.3, 92);
    assert_string_equal(r->device_id, IMEI);
    td_test_assert_near(r->altitude, 70.0);
    assert_true(td_rec_has(r, TD_ATTR_HDOP));
    td_test_assert_near(r->attr[TD_ATTR_HDOP].d, 1.0);
    assert_int_equal(r->ncells, 1);
    td_test_assert_cell(r, 0, 460, 0, 0x18d8, 0x6141);
    assert_record_sane(r);
}

/* ---- position reports ---- */

/* GL300 +RESP:GTFRI: report id, report type, number, blocks, battery
 * percentage, send time, count number. */
static void test_fri_personal(void **state)
{
    (void)state;
    const td_record *r = one("+RESP:GTFRI,1A0102," IMEI ",,0,0,1," BLOCK ",80," SEND);
    assert_block(r);
    assert_int_equal(r->attr[TD_ATTR_BATTERY_LEVEL].i, 80);
    assert_string_equal(td_test_raw_str(r, "type"), "GTFRI");
    assert_string_equal(td_test_raw_str(r, "version"), "1A0102");
    assert_null(td_rec_raw_find(r, "buffered"));
    assert_int_equal(r->alarms, 0);
    td_test_assert_reply(&ctx, "+SACK:11F0$");
    assert_string_equal(sess.device_id, IMEI);
}

/* GV300 +RESP:GTFRI: external power (mV) before the report id/type, two
 * blocks, then mileage, hour meter, analog inputs, battery, device status. */
static void test_fri_vehicle_two_blocks(void **state)
{
    (void)state;
    decode_n("+RESP:GTFRI,02010B," IMEI ",gv300,12950,10,2," BLOCK
             ",0,5.1,100,71.0,121.354400,31.222100,20240214013324,0460,0000,18d8,6142,00,"
             "2000.0,12345:12:34,,,80,210100," SEND,
             2);
    assert_block(&ctx.rec[0]);
    const td_record *b = &ctx.rec[1];
    assert_false(b->valid); /* accuracy 0: the last known fix */
    assert_false(td_rec_has(b, TD_ATTR_HDOP));
    td_test_assert_near(b->longitude, 121.3544);
    td_test_assert_near(b->latitude, 31.2221);
    td_test_assert_time(b, "2024-02-14T01:33:24Z");
    assert_int_equal(b->cells[0].cid, 0x6142);
    for (int i = 0; i < 2; i++) {
        const td_record *r = &ctx.rec[i];
        td_test_assert_near(td_test_raw_double(r, "power"), 12.95);
        td_test_assert_near(r->attr[TD_ATTR_ODOMETER].d, 2000000.0);
        assert_string_equal(td_test_raw_str(r, "hourMeter"), "12345:12:34");
        assert_int_equal(r->attr[TD_ATTR_BATTERY_LEVEL].i, 80);
        assert_string_equal(td_test_raw_str(r, "deviceStatus"), "210100");
    }
    td_test_assert_reply(&ctx, "+SACK:11F0$"); /* one answer for the frame */
}

/* +BUFF: the same report from the buffer. */
static void test_buffered_report(void **state)
{
    (void)state;
    const td_record *r = one("+BUFF:GTFRI,1A0102," IMEI ",,0,0,1," BLOCK ",80," SEND);
    assert_block(r);
    assert_true(td_test_raw_bool(r, "buffered"));
    td_test_assert_reply(&ctx, "+SACK:11F0$");
}

static void test_geofence(void **state)
{
    (void)state;
    /* GL300 GTGEO: report id 1, report type 1 = entering. */
    const td_record *r = one("+RESP:GTGEO,1A0102," IMEI ",,1,1,1," BLOCK ",80," SEND);
    assert_block(r);
    assert_int_equal(r->alarms, TD_ALARM_BIT(TD_ALARM_GEOFENCE_ENTER));
    r = one("+RESP:GTGEO,1A0102," IMEI ",,1,0,1," BLOCK ",80," SEND);
    assert_int_equal(r->alarms, TD_ALARM_BIT(TD_ALARM_GEOFENCE_EXIT));
    /* GV300: one "report id/type" field, "10" = geofence 1, leaving. */
    r = one("+RESP:GTGEO,02010B," IMEI ",,12950,10,1," BLOCK ",2000.0," SEND);
    assert_int_equal(r->alarms, TD_ALARM_BIT(TD_ALARM_GEOFENCE_EXIT));
    td_test_assert_near(r->attr[TD_ATTR_ODOMETER].d, 2000000.0);
    r = one("+RESP:GTGEO,02010B," IMEI ",,12950,11,1," BLOCK ",2000.0," SEND);
    assert_int_equal(r->alarms, TD_ALARM_BIT(TD_ALARM_GEOFENCE_ENTER));
    td_test_assert_reply(&ctx, "+SACK:11F0$");
}

static void test_sos_and_overspeed(void **state)
{
    (void)state;
    const td_record *r = one("+RESP:GTSOS,1A0102," IMEI ",,0,0,1," BLOCK ",80," SEND);
    assert_block(r);
    assert_int_equal(r->alarms, TD_ALARM_BIT(TD_ALARM_SOS));
    td_test_assert_reply(&ctx, "+SACK:11F0$");
    r = one("+RESP:GTSPD,02010B," IMEI ",,12950,00,1," BLOCK ",2000.0," SEND);
    assert_int_equal(r->alarms, TD_ALARM_BIT(TD_ALARM_OVERSPEED));
    assert_string_equal(td_test_raw_str(r, "type"), "GTSPD");
}

/* GV300 GTIGN/GTIGF: duration, hour meter, mileage after the block; no
 * report id/type and number. */
static void test_ignition(void **state)
{
    (void)state;
    const td_record *r = one("+RESP:GTIGN,02010B," IMEI ",,600," BLOCK ",12345:12:34,2000.0," SEND);
    assert_block(r);
    assert_true(td_rec_has(r, TD_ATTR_IGNITION));
    assert_true(r->attr[TD_ATTR_IGNITION].b);
    td_test_assert_near(r->attr[TD_ATTR_ODOMETER].d, 2000000.0);
    r = one("+RESP:GTIGF,02010B," IMEI ",,600," BLOCK ",12345:12:34,2000.0," SEND);
    assert_false(r->attr[TD_ATTR_IGNITION].b);
    r = one("+RESP:GTVGN,02010B," IMEI ",,600," BLOCK ",12345:12:34,2000.0," SEND);
    assert_true(r->attr[TD_ATTR_IGNITION].b);
    r = one("+RESP:GTVGF,02010B," IMEI ",,600," BLOCK ",12345:12:34,2000.0," SEND);
    assert_false(r->attr[TD_ATTR_IGNITION].b);
    td_test_assert_reply(&ctx, "+SACK:11F0$");
}

static void test_power_and_battery_alarms(void **state)
{
    (void)state;
    const td_record *r = one("+RESP:GTMPF,02010B," IMEI ",," BLOCK ",2000.0," SEND);
    assert_block(r);
    assert_int_equal(r->alarms, TD_ALARM_BIT(TD_ALARM_POWER_CUT));
    r = one("+RESP:GTEPF,1A0102," IMEI ",," BLOCK "," SEND);
    assert_int_equal(r->alarms, TD_ALARM_BIT(TD_ALARM_POWER_CUT));
    r = one("+RESP:GTMPN,02010B," IMEI ",," BLOCK ",2000.0," SEND);
    assert_int_equal(r->alarms, 0);
    /* GTBPL: backup battery voltage, then the block. */
    r = one("+RESP:GTBPL,1A0102," IMEI ",,3.53," BLOCK "," SEND);
    assert_int_equal(r->alarms, TD_ALARM_BIT(TD_ALARM_LOW_BATTERY));
    r = one("+RESP:GTBTC,1A0102," IMEI ",," BLOCK "," SEND);
    assert_true(r->attr[TD_ATTR_CHARGING].b);
    r = one("+RESP:GTSTC,1A0102," IMEI ",," BLOCK "," SEND);
    assert_false(r->attr[TD_ATTR_CHARGING].b);
    r = one("+RESP:GTTOW,02010B," IMEI ",,12950,00,1," BLOCK ",2000.0," SEND);
    assert_int_equal(r->alarms, TD_ALARM_BIT(TD_ALARM_TAMPER));
}

/* GL300 GTNMR: report type 1 moving, 0 at rest. */
static void test_non_movement(void **state)
{
    (void)state;
    const td_record *r = one("+RESP:GTNMR,1A0102," IMEI ",,0,1,1," BLOCK ",80," SEND);
    assert_true(r->attr[TD_ATTR_MOTION].b);
    r = one("+RESP:GTNMR,1A0102," IMEI ",,0,0,1," BLOCK ",80," SEND);
    assert_false(r->attr[TD_ATTR_MOTION].b);
}

/* A report whose blocks carry no fix: one status record at the send time. */
static void test_report_without_fix(void **state)
{
    (void)state;
    const td_record *r = one("+RESP:GTFRI,1A0102," IMEI ",,0,0,1,0,,,,,,,0460,0000,18d8,6141,00,"
                             "80," SEND);
    assert_int_equal(r->type, TD_REC_STATUS);
    td_test_assert_time(r, "2024-02-14T09:32:54Z");
    assert_string_equal(td_test_raw_str(r, "type"), "GTFRI");
    td_test_assert_reply(&ctx, "+SACK:11F0$");
}

/* Old firmwares: no '$', the frame ends at the count number. */
static void test_without_tail_character(void **state)
{
    (void)state;
    const td_record *r = one("+RESP:GTFRI,020102," IMEI ",,0,0,1," BLOCK ",80,20240214093254,11F0");
    assert_block(r);
    td_test_assert_reply(&ctx, "+SACK:11F0$");
    /* A line end after the '$' is fine too. */
    r = one("+RESP:GTFRI,020102," IMEI ",,0,0,1," BLOCK ",80," SEND "\r\n");
    assert_block(r);
}

/* ---- other messages ---- */

/* +ACK:GTHBD, answered +SACK:GTHBD,<protocol version>,<count number>$. */
static void test_heartbeat(void **state)
{
    (void)state;
    const td_record *r = one("+ACK:GTHBD,1A0102," IMEI ",,20240214093254,11F0$");
    assert_int_equal(r->type, TD_REC_HEARTBEAT);
    assert_string_equal(r->device_id, IMEI);
    td_test_assert_time(r, "2024-02-14T09:32:54Z");
    td_test_assert_reply(&ctx, "+SACK:GTHBD,1A0102,11F0$");
    one("+ACK:GTHBD,080100," IMEI ",gmt100,20240214093254,0A3F$");
    td_test_assert_reply(&ctx, "+SACK:GTHBD,080100,0A3F$");
}

/* A command acknowledgement: +ACK:GTxxx,version,id,name,serial,send,count. */
static void test_command_ack(void **state)
{
    (void)state;
    const td_record *r = one("+ACK:GTGEO,1A0102," IMEI ",,0,0008,20240214093254,11F0$");
    assert_int_equal(r->type, TD_REC_ACK);
    assert_string_equal(td_test_raw_str(r, "type"), "GTGEO");
    assert_int_equal(r->alarms, 0);
    td_test_assert_reply(&ctx, "+SACK:11F0$");
}

/* GL300 GTINF: state, ICCID, CSQ rssi, CSQ ber, external power, mileage,
 * reserved, backup battery voltage, charging, ..., last fix time, battery
 * percentage, ... */
static void test_device_information(void **state)
{
    (void)state;
    const td_record *r = one("+RESP:GTINF,1A0102," IMEI ",,41,89860081090600000001,18,99,0,33.23,"
                             ",4.19,1,1,1,0,0,20240214013254,85,,,,," SEND);
    assert_int_equal(r->type, TD_REC_STATUS);
    assert_string_equal(td_test_raw_str(r, "iccid"), "89860081090600000001");
    assert_int_equal(r->attr[TD_ATTR_RSSI].i, 18);
    assert_false(td_test_raw_bool(r, "externalPower"));
    td_test_assert_near(r->attr[TD_ATTR_BATTERY].d, 4.19);
    assert_true(r->attr[TD_ATTR_CHARGING].b);
    assert_int_equal(r->attr[TD_ATTR_BATTERY_LEVEL].i, 85);
    td_test_assert_time(r, "2024-02-14T09:32:54Z");
    td_test_assert_reply(&ctx, "+SACK:11F0$");
}

/* GTGSM: report type, then groups of MCC, MNC, LAC, cell id, rxlev,
 * reserved. */
static void test_cell_scan(void **state)
{
    (void)state;
    const td_record *r = one("+RESP:GTGSM,1A0102," IMEI ",STR,0234,0015,003a,62a2,16,,"
                             "0234,0015,003a,56a2,14,,0234,0015,003a,7489,17,," SEND);
    assert_int_equal(r->type, TD_REC_STATUS);
    assert_int_equal(r->ncells, 3);
    td_test_assert_cell(r, 0, 234, 15, 0x3a, 0x62a2);
    assert_true(r->cells[0].has_rssi);
    assert_int_equal(r->cells[0].rssi, 16);
    td_test_assert_cell(r, 2, 234, 15, 0x3a, 0x7489);
}

/* GTWIF: number, then MAC and rssi with reserved fields. */
static void test_wifi_scan(void **state)
{
    (void)state;
    const td_record *r = one("+RESP:GTWIF,1A0102," IMEI ",,2,0a1b2c3d4e5f,-36,,,,"
                             "a0b1c2d3e4f5,-70,,,,80," SEND);
    assert_int_equal(r->type, TD_REC_STATUS);
    assert_int_equal(r->nwifi, 2);
    assert_string_equal(r->wifi[0].mac, "0a:1b:2c:3d:4e:5f");
    assert_int_equal(r->wifi[0].rssi, -36);
    assert_int_equal(r->wifi[1].rssi, -70);
}

static void test_version_and_power_on(void **state)
{
    (void)state;
    const td_record *r = one("+RESP:GTVER,1A0102," IMEI ",GL300,GL300,0A03,0103," SEND);
    assert_int_equal(r->type, TD_REC_OTHER);
    assert_string_equal(td_test_raw_str(r, "firmware"), "0A03");
    assert_string_equal(td_test_raw_str(r, "hardware"), "0103");
    r = one("+RESP:GTPNA,1A0102," IMEI ",," SEND);
    assert_int_equal(r->type, TD_REC_STATUS);
    assert_string_equal(td_test_raw_str(r, "type"), "GTPNA");
    td_test_assert_reply(&ctx, "+SACK:11F0$");
}

/* The oldest firmwares start with the unique id, without a version. */
static void test_without_protocol_version(void **state)
{
    (void)state;
    const td_record *r = one("+RESP:GTINF," IMEI ",89860081090600000001,18,99,100,1,0");
    assert_int_equal(r->type, TD_REC_STATUS);
    assert_string_equal(r->device_id, IMEI);
    assert_null(td_rec_raw_find(r, "version"));
    assert_int_equal(ctx.reply_len, 0); /* no count number, nothing to answer */
}

/* Frames without an id in the session keep the one a frame gives. */
static void test_session_identity(void **state)
{
    (void)state;
    td_session s;
    memset(&s, 0, sizeof(s));
    assert_int_equal(td_test_decode(P, &s, "+ACK:GTHBD,1A0102," IMEI ",," SEND, &ctx), 0);
    assert_string_equal(s.device_id, IMEI);
    assert_int_equal(
        td_test_decode(P, &s, "+RESP:GTFRI,1A0102,A10000499AEF9B,,0,0,1," BLOCK ",80," SEND, &ctx),
        0);
    assert_string_equal(s.device_id, "A10000499AEF9B");
    assert_string_equal(ctx.rec[0].device_id, "A10000499AEF9B");
}

/* A report of ten blocks: ten records, one answer. */
static void test_many_blocks(void **state)
{
    (void)state;
    char frame[2048];
    int n = snprintf(frame, sizeof(frame), "+RESP:GTFRI,1A0102," IMEI ",,0,0,10");
    for (int i = 0; i < 10; i++)
        n += snprintf(frame + n, sizeof(frame) - (size_t)n,
                      ",1,4.3,92,70.0,121.35%04d,31.222073,202402140132%02d,0460,0000,18d8,6141,00",
                      i, i);
    snprintf(frame + n, sizeof(frame) - (size_t)n, ",80," SEND);
    decode_n(frame, 10); /* every block a record */
    td_test_assert_time(&ctx.rec[9], "2024-02-14T01:32:09Z");
    td_test_assert_reply(&ctx, "+SACK:11F0$");
}

/* ---- binary (HEX) reports ---- */

/* The heartbeat example of the GV200 document (TRACGV200AN003, 4.6): mask
 * EB (length, device type, firmware version, send time, count number, UID),
 * IMEI 359231036735270. */
static const uint8_t hbd_doc[] = {0x2B, 0x48, 0x42, 0x44, 0xEB, 0x1E, 0x01, 0x0C, 0x01, 0x23,
                                  0x5C, 0x1F, 0x03, 0x43, 0x23, 0x1B, 0x00, 0x07, 0xDC, 0x01,
                                  0x1E, 0x09, 0x20, 0x26, 0x00, 0x0D, 0xE2, 0x9C, 0x0D, 0x0A};

static void test_binary_heartbeat(void **state)
{
    (void)state;
    const td_record *r = one_bytes(hbd_doc, sizeof(hbd_doc));
    assert_int_equal(r->type, TD_REC_HEARTBEAT);
    assert_string_equal(r->device_id, "359231036735270");
    td_test_assert_time(r, "2012-01-30T09:32:38Z");
    /* No protocol version in this mask: the field is left empty, as the
     * documents allow. */
    td_test_assert_reply(&ctx, "+SACK:GTHBD,,000D$");
    assert_int_equal(P->detect(hbd_doc, sizeof(hbd_doc)), TD_DETECT_YES);
}

/* A +RSP position report built from the documented HEX layout: header,
 * message type, report mask (speed, azimuth, altitude, cell, send time,
 * count, length, device type, protocol and firmware versions), length,
 * device type 0x45, protocol 0102, firmware 0209, IMEI, battery, external
 * power, report type, number, then the GPS block and the tail. */
static size_t rsp_frame(uint8_t *b, const char *head)
{
    static const uint8_t body[] = {
        0x07,                                                 /* message type */
        0x00, 0x00, 0x17, 0xBF,                               /* report mask */
        0x00, 0x00,                                           /* length, set below */
        0x45, 0x01, 0x02, 0x02, 0x09,                         /* device type, versions */
        86,   0,    0,    0,    0,    0,    0,    1,          /* IMEI 860000000000001 */
        0x64, 0x30, 0xD4, 0x10, 0x01,                         /* 100 %, 12500 mV, report, number */
        0x01,                                                 /* GPS accuracy */
        0x00, 0x04, 0x03,                                     /* 4.3 km/h */
        0x00, 0x5C,                                           /* azimuth 92 */
        0x00, 0x46,                                           /* altitude 70 m */
        0x07, 0x3B, 0xB8, 0x5F,                               /* 121.354335 */
        0x01, 0xDC, 0x69, 0x39,                               /* 31.222073 */
        0x07, 0xE8, 0x02, 0x0E, 0x01, 0x20, 0x36,             /* 2024-02-14 01:32:54 */
        0x04, 0x60, 0x00, 0x00, 0x18, 0xD8, 0x61, 0x41, 0x00, /* cell, reserved */
        0x07, 0xE8, 0x02, 0x0E, 0x09, 0x20, 0x36,             /* send time */
        0x11, 0xF0,                                           /* count number */
        0x00, 0x00,                                           /* checksum */
        0x0D, 0x0A,
    };
    memcpy(b, head, 4);
    memcpy(b + 4, body, sizeof(body));
    size_t n = 4 + sizeof(body);
    b[9] = (uint8_t)(n >> 8);
    b[10] = (uint8_t)n;
    return n;
}

static void test_binary_position(void **state)
{
    (void)state;
    uint8_t b[128];
    size_t n = rsp_frame(b, "+RSP");
    const td_record *r = one_bytes(b, n);
    assert_block(r);
    assert_string_equal(td_test_raw_str(r, "type"), "+RSP");
    assert_string_equal(td_test_raw_str(r, "version"), "450102");
    assert_int_equal(td_test_raw_int(r, "messageType"), 7);
    td_test_assert_reply(&ctx, "+SACK:11F0$");
    assert_string_equal(sess.device_id, IMEI);

    /* The buffered form. */
    n = rsp_frame(b, "+BSP");
    assert_int_equal(td_test_decode_bytes(P, NULL, b, n, &ctx), 0);
    assert_true(td_test_raw_bool(&ctx.rec[0], "buffered"));
    td_test_assert_reply(&ctx, "+SACK:11F0$");

    /* Detection needs the length: a mask without its bit is not taken. */
    n = rsp_frame(b, "+EVT");
    assert_int_equal(P->detect(b, 8), TD_DETECT_MAYBE);
    assert_int_equal(P->detect(b, 11), TD_DETECT_YES);
    b[8] &= 0x7f;
    assert_int_equal(P->detect(b, 11), TD_DETECT_NO);
}

/* Binary and text frames back to back, split at every byte. */
static void test_binary_framing(void **state)
{
    (void)state;
    static td_test_stream s;
    uint8_t b[128];

    td_test_stream_reset(&s);
    td_test_stream_frame(&s, b, rsp_frame(b, "+RSP"));
    td_test_stream_frame(&s, hbd_doc, sizeof(hbd_doc));
    td_test_stream_text(&s, "+ACK:GTHBD,1A0102," IMEI ",," SEND);
    td_test_split_everywhere(P, &s, s.n);
}

static void test_binary_errors(void **state)
{
    (void)state;
    uint8_t b[128];
    size_t n = rsp_frame(b, "+RSP");
    assert_true(td_test_decode_bytes(P, NULL, b, n - 1, &ctx) < 0);
    assert_string_equal(ctx.err, "queclink: binary frame of 73 bytes, its length says 74");
    b[n - 1] = 'x';
    assert_true(td_test_decode_bytes(P, NULL, b, n, &ctx) < 0);
    assert_string_equal(ctx.err, "queclink: +RSP frame does not end with CR LF");
    n = rsp_frame(b, "+RSP");
    b[16] = 100; /* not two digits */
    assert_true(td_test_decode_bytes(P, NULL, b, n, &ctx) < 0);
    assert_string_equal(ctx.err, "queclink: bad unique id in a +RSP frame");
    assert_int_equal(ctx.nrec, 0);
    assert_int_equal(ctx.reply_len, 0);
}

/* ---- detection and framing ---- */

static void test_detect_shapes(void **state)
{
    (void)state;
    static const char *const maybe[] = {
        "+",         "+R",          "+RESP",   "+RESP:",   "+RESP:GT",
        "+RESP:GTF", "+RESP:GTFRI", "+BUFF:G", "+ACK:GTH", "+ACK"};
    static const char *const no[] = {
        "+RESP:GTfri,",                          /* lower-case type */
        "+RESP:GTFRIX",                          /* type of four letters */
        "+RESP:XXFRI,",                          /* no GT */
        "+SACK:GTHBD,1A0102,",                   /* the server's answer, not a device's */
        "+RESP;GTFRI,",                          /* not a colon */
        "+RESP:GTFRI,1A01:2,",                   /* a version of letters and digits */
        "+RESP:GTFRI,123456789012345678901234,", /* too long for a version or an id */
        "RESP:GTFRI,",
    };
    static const char *const yes[] = {"+RESP:GTFRI,", "+ACK:GTHBD,1A0102", "+BUFF:GTERI,"};
    td_test_detect_each(P, maybe, TD_TEST_COUNT(maybe), TD_DETECT_MAYBE);
    td_test_detect_each(P, no, TD_TEST_COUNT(no), TD_DETECT_NO);
    td_test_detect_each(P, yes, TD_TEST_COUNT(yes), TD_DETECT_YES);
}

/* Frames back to back (with and without '$'), split in two at every byte:
 * the same frames come out (the ones without '$' cut at the next header);
 * then line ends and noise between frames. */
static void test_framer_split_everywhere(void **state)
{
    (void)state;
    static const char *const text[] = {
        "+RESP:GTFRI,1A0102," IMEI ",,0,0,1," BLOCK ",80," SEND,
        "+ACK:GTHBD,1A0102," IMEI ",," SEND,
        "+BUFF:GTSOS,1A0102," IMEI ",,0,0,1," BLOCK ",80,20240214093254,11F1", /* no '$' */
        "+RESP:GTINF,1A0102," IMEI ",,41,89860081090600000001,18,99,0,33.23,,4.19,1,1,1,0,0,"
        "20240214013254,85,,,,," SEND,
    };
    static td_test_stream s;

    td_test_stream_reset(&s);
    td_test_stream_texts(&s, text, TD_TEST_COUNT(text));
    td_test_split_everywhere(P, &s, s.n);

    /* Line ends and noise before and between frames are skipped. */
    td_test_stream_reset(&s);
    td_test_stream_noise(&s, "\r\n\x01 ", 4);
    td_test_stream_text(&s, text[1]);
    td_test_stream_noise(&s, "\r\n\x01 ", 4);
    td_test_stream_text(&s, text[1]);
    td_test_stream_noise(&s, "\r\n", 2);
    td_test_split_forced(P, &s, s.n);
}

static void test_framer_limits(void **state)
{
    (void)state;
    size_t skip;

    /* Nothing but noise: all skipped. */
    assert_int_equal(P->frame((const uint8_t *)"\r\n\x01xyz", 6, &skip), 0);
    assert_int_equal(skip, 6);
    /* A header prefix at the end is kept. */
    assert_int_equal(P->frame((const uint8_t *)"xx+RES", 6, &skip), 0);
    assert_int_equal(skip, 2);
    /* A frame that never ends: more needed at 100 bytes, too big at 5000. */
    uint8_t part[100];
    memcpy(part, "+RESP:GTFRI,", 12);
    memset(part + 12, '1', sizeof(part) - 12);
    assert_int_equal(P->frame(part, sizeof(part), &skip), 0);
    assert_int_equal(td_test_frame_too_big(P, "+RESP:GTFRI,1A0102," IMEI ",", '1', 5000), 0);
}

static void expect_error(const char *frame, const char *msg)
{
    td_test_expect_error(P, &ctx, frame, msg);
    assert_int_equal(ctx.reply_len, 0);
}

static void test_errors(void **state)
{
    (void)state;
    expect_error("", "queclink: empty frame");
    expect_error("RESP:GTFRI,1", "queclink: frame starts with 0x52, not '+'");
    expect_error("+RESP:GTFRI",
                 "queclink: frame does not start with +RESP:GT, +BUFF:GT or +ACK:GT");
    expect_error("+RESP:GTFRI,1A0102", "queclink: GTFRI with 1 fields, no unique id");
    expect_error("+RESP:GTFRI,1A0102,,", "queclink: bad unique id ''");
    expect_error("+RESP:GTFRI,1A0102,8600-1,,", "queclink: bad unique id '8600-1'");
    expect_error("+RESP:GTFRI,1A01X2," IMEI ",", "queclink: bad protocol version '1A01X2'");
    expect_error("+RESP:GTFRI,1A0102," IMEI ",\x01", "queclink: byte 0x01 at 35 in a text frame");
    expect_error("+RESP:GTFRI,1A0102," IMEI ",,0,0,1,1,fast,92,70.0,121.354335,31.222073,"
                 "20240214013254,0460,0000,18d8,6141,00,80," SEND,
                 "queclink: bad speed 'fast'");
    expect_error("+RESP:GTFRI,1A0102," IMEI ",,0,0,1,1,4.3,400,70.0,121.354335,31.222073,"
                 "20240214013254,0460,0000,18d8,6141,00,80," SEND,
                 "queclink: bad azimuth '400'");
    expect_error("+RESP:GTFRI,1A0102," IMEI ",,0,0,1,x,4.3,92,70.0,121.354335,31.222073,"
                 "20240214013254,0460,0000,18d8,6141,00,80," SEND,
                 "queclink: bad GPS accuracy 'x'");
}

/* The family checks: besides detection, every vector cut at every length
 * and corrupted in its first 64 bytes, and random input, decode or fail
 * with a message naming queclink. */
static const td_test_family family = {
    .proto = &td_proto_queclink,
    .corrupt = {0x00, ',', '$', '+', ':', 'A', '9', '.', 0xff},
    .ncorrupt = 9,
    .positions = 64,
    .random =
        {
            .rounds = 3000,
            .max_len = 300,
            .head = {"+RESP:GTFRI,1A0102," IMEI ","},
            .alphabet = "0123456789,.-+$:ABCDEFGTRSPU",
        },
    .min_rejected = 1000,
};

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fri_personal),
        cmocka_unit_test(test_fri_vehicle_two_blocks),
        cmocka_unit_test(test_buffered_report),
        cmocka_unit_test(test_geofence),
        cmocka_unit_test(test_sos_and_overspeed),
        cmocka_unit_test(test_ignition),
        cmocka_unit_test(test_power_and_battery_alarms),
        cmocka_unit_test(test_non_movement),
        cmocka_unit_test(test_report_without_fix),
        cmocka_unit_test(test_without_tail_character),
        cmocka_unit_test(test_heartbeat),
        cmocka_unit_test(test_command_ack),
        cmocka_unit_test(test_device_information),
        cmocka_unit_test(test_cell_scan),
        cmocka_unit_test(test_wifi_scan),
        cmocka_unit_test(test_version_and_power_on),
        cmocka_unit_test(test_without_protocol_version),
        cmocka_unit_test(test_session_identity),
        cmocka_unit_test(test_many_blocks),
        cmocka_unit_test(test_binary_heartbeat),
        cmocka_unit_test(test_binary_position),
        cmocka_unit_test(test_binary_framing),
        cmocka_unit_test(test_binary_errors),
        TD_TEST_FAMILY_CASES(&family),
        cmocka_unit_test(test_detect_shapes),
        cmocka_unit_test(test_framer_split_everywhere),
        cmocka_unit_test(test_framer_limits),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
