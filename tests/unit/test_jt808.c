/*
 * Unit tests for the jt808 protocol (JT/T 808-2011/2013/2019). The frames
 * here are built from the layouts in docs/protocols/jt808.md (terminal
 * number 013912345678, made-up values) with their XOR checksums and
 * escaping; one is the location report published as an example by a device
 * maker (Huabao). The replies are checked byte for byte. Then the device
 * vectors of protocols.jsonl (forced and auto-detected), detection, framing
 * over a stream split at every byte, and malformed input.
 */
#include "support.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/text.h"

/* Frames and replies (hex), built from the document's layouts. */
#define REG2013                                                                                    \
    "7e0100002b0139123456780001002c01334142434445544b2d383038000000000000000000000000000054313233" \
    "34353601423132333435677e"
#define REG2013_REPLY "7e8100000e013912345678000000010031333931323334353637388d7e"
#define REG2019                                                                                    \
    "7e0100405201000000000139123456780007002c01334d414b4552303030303031544b2d32303139000000000000" \
    "00000000000000000000000000000000005432303139000000000000000000000000000000000000000000000000" \
    "00024235343332317d017e"
#define REG2019_REPLY "7e8100400e010000000001391234567800000007003133393132333435363738ca7e"
#define REG2011 "7e010000190139123456780002002c01334142434445544b2d31310000005430303030313100137e"
#define REG2011_REPLY "7e8100000e013912345678000000020031333931323334353637388e7e"
#define AUTH2013 "7e0102000b01391234567800033133393132333435363738087e"
#define AUTH2013_REPLY "7e8001000501391234567800000003010200b47e"
#define AUTH2019                                                                                   \
    "7e0102402f010000000001391234567800080b313339313233343536373838363030303030303030303030303156" \
    "312e302e320000000000000000000000000000377e"
#define AUTH2019_REPLY "7e80014005010000000001391234567800000008010200fe7e"
#define HEARTBEAT "7e000200000139123456780004367e"
#define HEARTBEAT_REPLY "7e8001000501391234567800000004000200b27e"
#define HEARTBEAT_REPLY2 "7e8001000501391234567800010004000200b37e"
#define DEREG "7e000300000139123456780005367e"
#define DEREG_REPLY "7e8001000501391234567800000005000300b27e"
#define LOCATION                                                                                   \
    "7e0200005c0139123456780020100001030000000f0204c8e009034428003a026f011326010211040501040001e2" \
    "40020201c8030202620402000711050100000063120602000004d20113070000004d012c012504000000112a0200" \
    "032b040102030430011931010b857e"
#define LOCATION_REPLY "7e8001000501391234567800000020020000967e"
#define LOC_QUERY                                                                                  \
    "7e0201005e01391234567800210055100001030000000f0204c8e009034428003a026f0113260102110405010400" \
    "01e240020201c8030202620402000711050100000063120602000004d20113070000004d012c012504000000112a" \
    "0200032b040102030430011931010bd27e"
#define CONTROL_RESP                                                                               \
    "7e0500005e01391234567800220056100001030000000f0204c8e009034428003a026f0113260102110405010400" \
    "01e240020201c8030202620402000711050100000063120602000004d20113070000004d012c012504000000112a" \
    "0200032b040102030430011931010bd47e"
#define BATCH                                                                                      \
    "7e070400420139123456780030000201001c00000000000000020157fb6a06cc54b1000c0190005a260102100000" \
    "001f00000000000000020157fb6a06cc54b1000c0190005a260102100100300114657e"
#define BATCH_REPLY "7e8001000501391234567800000030070400877e"
#define BATCH10                                                                                    \
    "7e0704012f0139123456780031000a00001c00000000000000020157fb6a06cc54b1000c0190005a260102100000" \
    "001c00000000000000020157fb6a06cc54b1000c0190005a260102100001001c00000000000000020157fb6a06cc" \
    "54b1000c0190005a260102100002001c00000000000000020157fb6a06cc54b1000c0190005a260102100003001c" \
    "00000000000000020157fb6a06cc54b1000c0190005a260102100004001c00000000000000020157fb6a06cc54b1" \
    "000c0190005a260102100005001c00000000000000020157fb6a06cc54b1000c0190005a260102100006001c0000" \
    "0000000000020157fb6a06cc54b1000c0190005a260102100007001c00000000000000020157fb6a06cc54b1000c" \
    "0190005a260102100008001c00000000000000020157fb6a06cc54b1000c0190005a260102100009277e"
#define TERM_RESP "7e0001000501391234567800401234810300d07e"
#define TIME_QUERY "7e0004400001000000000139123456780041347e"
#define TIME_QUERY_REPLY "7e8004400601000000000139123456780000260102030405d47e"
#define TIME_SYNC "7e0109000001391234567800427a7e"
#define TIME_SYNC_REPLY "7e81090008013912345678000007ea0102030405005c7e"
#define LOCK                                                                                       \
    "7e5501802785600900101747150126103000223456781135678907455a1409000004d2500000abcd123403002000" \
    "04020200643f7e"
#define LOCK_REPLY "7e4401000385600900101700550100f97e"
#define LOCK_BLIND                                                                                 \
    "7e5502002785600900101748150126103000223456781135678907455a1409000004d2500000abcd123403002000" \
    "0402020064b37e"
#define PACKET "7e02002014013912345678005000020001100001030000000f0204c8e009034428003a026f577e"
#define PACKET_REPLY "7e8001000501391234567800000050020000e67e"
#define MEDIA                                                                                      \
    "7e080100280139123456780060010203040000010100000000000000020157fb6a06cc54b1000c0190005a260102" \
    "100000ffd8ffe0557e"
#define MEDIA_REPLY "7e8800000501391234567800000102030400b97e"
#define ESCAPED                                                                                    \
    "7e0200001c0139123456787d017d020000000000000002017d027d010006cc54b100000000000026010210000037" \
    "7e"
#define ESCAPED_REPLY "7e8001000501391234567800007d017d02020000b57e"
#define IMEI_HB "7e000200004e542e0c7a140001557e"
#define PASSTHROUGH "7e0900000b013912345678007041244f42442c312c322c33727e"
#define PASSTHROUGH_REPLY "7e8001000501391234567800000070090000cd7e"
#define ATTRS                                                                                      \
    "7e0107003a013912345678007200114142434445544b2d3830380000000000000000000000000000543132333435" \
    "36898600123456789012340448312e300646322e332e3403815a7e"
#define UNKNOWN "7e0303000201391234567800710501477e"
#define UNKNOWN_REPLY "7e8001000501391234567800000071030300c57e"
#define EVENT "7e03010001013912345678007305457e"
#define EVENT_REPLY "7e8001000501391234567800000073030100c57e"
#define PARAMS                                                                                     \
    "7e01040025013912345678007400330300000001040000001e000000130b6578616d706c652e636f6d0000001804" \
    "000022b8f67e"
#define DRIVER                                                                                     \
    "7e07020029013912345678007501260102110405000457616e674452563031323334353637383900000000000000" \
    "03544a42203012314b7e"
#define DRIVER_REPLY "7e8001000501391234567800000075070200c47e"
#define TEXT_REPORT "7e60060007013912345678007600536574204f4b417e"
#define TEXT_REPORT_REPLY "7e8001000501391234567800000076600600a47e"
#define WAYBILL "7e070100090139123456780077000000055742313233687e"
#define HEARTBEAT_BODY "7e000200030139123456780078571701087e"
#define ALT                                                                                        \
    "e70200001c000139123456783e023e01000000000000000201e601e6023e01063e020000000c0190005a26010210" \
    "0000d8e7"
#define ALT_REPLY "e7800100050001391234567800003e023e01020000b5e7"
#define UNESCAPED                                                                                  \
    "7e0200001c01391234567800790000000000000002017d020006cc54b1000000000000260102100000317e"
#define UNKNOWN_ID "7e0f010002013912345678007a0102457e"
#define NOFIX                                                                                      \
    "7e0200001f013912345678007b00000000000000020f00000006cc54b10000ffff0000260102100000300109797e"
#define NOFIX_REPLY "7e800100050139123456780000007b020000cd7e"
#define VENDOR1                                                                                    \
    "7e02000066013912345678008000000000000000030157fb6a06cc54b1000000000000260102100000610204d2f1" \
    "0400003200f20556312e3233f00d01cc00000123456700002345b5e306004d01920000e50101eb0d01cc01111122" \
    "2228333344441eec0ea1b2c3d4e5f6c40a0b0c0d0e0fba6c7e"
#define VENDOR2                                                                                    \
    "7e0200004f013912345678008100000000000000030157fb6a06cc54b1000000000000260102100000eb29000600" \
    "89fffffffe000600c5feffffbf0004002d0f93000c00b289860412345678901fff000300a840820200800602fffb" \
    "7f7e"
#define VENDOR3                                                                                    \
    "7e02000028013912345678008200000000000000030157fb6a06cc54b10000000000002601021000005602070069" \
    "02018be4020037257e"
#define VENDOR4                                                                                    \
    "7e02000027013912345678008300000000000000030157fb6a06cc54b1000000000000260102100000f70600000f" \
    "ac025de101ff5a7e"
#define VENDOR5                                                                                    \
    "7e0200002d013912345678008400000000000000030157fb6a06cc54b1000000000000260102100000e10c01cc00" \
    "01001234000056783206012a737e"

/* A maker's published example (Huabao e-lock, 0x0200, terminal 002002604323,
 * serial 0x00A4) and the platform general response the same page shows
 * for a report with serial 0x00EE, sent with platform serial 9. */
#define HUABAO_LOCATION                                                                            \
    "7e0200005200200260432300a400020000000c00020158b91b06cb70610046000000592109221637"             \
    "5801040000000103020000250400000001300111310110e30100d51b022002604323279593786160"             \
    "001220000012342795937861580012867e"
#define HUABAO_ACK "7e80010005002002604323000900ee020000437e"
#define HUABAO_REPLY "7e80010005002002604323000000a4020000007e"
#define HUABAO_EE                                                                                  \
    "7e0200001c00200260432300ee00000000000000020157fb6a06cc54b1000c0190005a260102100000ca7e"

TD_TEST_PROTOCOL(jt808)

static uint8_t bin[4096];

/* Hex to bytes in bin; returns the length. */
static size_t unhex(const char *hex)
{
    size_t n = td_test_unhex(hex, bin, sizeof(bin));
    assert_true(n > 0);
    return n;
}

/* Decodes hex in session s (fresh when NULL); expects success. */
static void ok_in(td_session *s, const char *hex)
{
    size_t n = unhex(hex);
    int rc = td_test_decode_bytes(P, s, bin, n, &ctx);
    if (rc != 0)
        fail_msg("decode failed: %s", ctx.err);
}

static void ok(const char *hex)
{
    memset(&sess, 0, sizeof(sess));
    ok_in(&sess, hex);
}

static void expect_error(const char *hex, const char *msg)
{
    size_t n = unhex(hex);
    td_test_expect_error_bytes(P, &ctx, bin, n, msg);
}

static bool has_alarm(const td_record *r, td_alarm a)
{
    return (r->alarms & TD_ALARM_BIT(a)) != 0;
}

/* ---- registration and authentication ---- */

static void test_registration_2013(void **state)
{
    (void)state;
    ok(REG2013);
    assert_int_equal(ctx.nrec, 1);
    const td_record *r = &ctx.rec[0];
    assert_int_equal(r->type, TD_REC_LOGIN);
    assert_string_equal(r->device_id, "13912345678");
    assert_string_equal(sess.device_id, "13912345678");
    assert_int_equal(td_test_raw_int(r, "province"), 44);
    assert_int_equal(td_test_raw_int(r, "city"), 307);
    assert_string_equal(td_test_raw_str(r, "manufacturer"), "ABCDE");
    assert_string_equal(td_test_raw_str(r, "model"), "TK-808");
    assert_string_equal(td_test_raw_str(r, "terminalId"), "T123456");
    assert_int_equal(td_test_raw_int(r, "plateColor"), 1);
    assert_string_equal(td_test_raw_str(r, "plate"), "B12345");
    /* 0x8100: answered serial 1, result 0, code "13912345678". */
    td_test_reply_hex(&ctx, REG2013_REPLY);
}

static void test_registration_2019_and_2011(void **state)
{
    (void)state;
    /* 2019: version byte, 20-digit number, 11/30/30-byte fields; the reply
     * keeps the 2019 header. */
    ok(REG2019);
    const td_record *r = &ctx.rec[0];
    assert_int_equal(r->type, TD_REC_LOGIN);
    assert_string_equal(r->device_id, "13912345678");
    assert_string_equal(td_test_raw_str(r, "manufacturer"), "MAKER000001");
    assert_string_equal(td_test_raw_str(r, "model"), "TK-2019");
    assert_string_equal(td_test_raw_str(r, "terminalId"), "T2019");
    assert_int_equal(td_test_raw_int(r, "plateColor"), 2);
    assert_string_equal(td_test_raw_str(r, "plate"), "B54321");
    td_test_reply_hex(&ctx, REG2019_REPLY);

    /* 2011: an 8-byte model, no plate (unregistered vehicle). */
    ok(REG2011);
    r = &ctx.rec[0];
    assert_string_equal(td_test_raw_str(r, "model"), "TK-11");
    assert_string_equal(td_test_raw_str(r, "terminalId"), "T000011");
    assert_null(td_rec_raw_find(r, "plate"));
    td_test_reply_hex(&ctx, REG2011_REPLY);
}

static void test_authentication(void **state)
{
    (void)state;
    ok(AUTH2013);
    assert_int_equal(ctx.nrec, 1);
    assert_int_equal(ctx.rec[0].type, TD_REC_LOGIN);
    assert_string_equal(td_test_raw_str(&ctx.rec[0], "authCode"), "13912345678");
    td_test_reply_hex(&ctx, AUTH2013_REPLY);

    /* 2019: length-prefixed code, IMEI, software version. */
    ok(AUTH2019);
    assert_string_equal(td_test_raw_str(&ctx.rec[0], "authCode"), "13912345678");
    assert_string_equal(td_test_raw_str(&ctx.rec[0], "imei"), "860000000000001");
    assert_string_equal(td_test_raw_str(&ctx.rec[0], "version"), "V1.0.2");
    td_test_reply_hex(&ctx, AUTH2019_REPLY);
}

/* ---- heartbeat, deregistration, time ---- */

static void test_heartbeat_and_platform_serial(void **state)
{
    (void)state;
    ok(HEARTBEAT);
    assert_int_equal(ctx.nrec, 1);
    assert_int_equal(ctx.rec[0].type, TD_REC_HEARTBEAT);
    assert_string_equal(ctx.rec[0].device_id, "13912345678");
    assert_false(ctx.rec[0].has_time);
    td_test_reply_hex(&ctx, HEARTBEAT_REPLY);
    /* The platform's own serial counts up within the session. */
    ok_in(&sess, HEARTBEAT);
    td_test_reply_hex(&ctx, HEARTBEAT_REPLY2);
}

static void test_deregistration(void **state)
{
    (void)state;
    ok(DEREG);
    assert_int_equal(ctx.rec[0].type, TD_REC_OTHER);
    assert_true(td_rec_raw_find(&ctx.rec[0], "deregistered") != NULL);
    td_test_reply_hex(&ctx, DEREG_REPLY);
}

static void test_time_requests(void **state)
{
    (void)state;
    /* 0x0004 (2019): 0x8004 with the UTC time as BCD. */
    ok(TIME_QUERY);
    assert_int_equal(ctx.rec[0].type, TD_REC_HEARTBEAT);
    td_test_reply_hex(&ctx, TIME_QUERY_REPLY);
    /* 0x0109: 0x8109 with year as a WORD and the rest as bytes. */
    ok(TIME_SYNC);
    td_test_reply_hex(&ctx, TIME_SYNC_REPLY);
}

/* ---- locations ---- */

/* The fix of LOCATION: 2026-01-02 11:04:05 GMT+8, 33.868 S 151.209 E...
 * west too: status bits 2 and 3 are set. */
static void assert_location(const td_record *r)
{
    assert_int_equal(r->type, TD_REC_POSITION);
    assert_string_equal(r->device_id, "13912345678");
    assert_true(r->has_time);
    assert_int_equal(r->time_ms, td_test_utc(2026, 1, 2, 3, 4, 5));
    assert_true(r->valid);
    assert_float_equal(r->latitude, -33.868, 1e-9);
    assert_float_equal(r->longitude, -151.209, 1e-9);
    assert_float_equal(r->altitude, 58, 1e-9);
    assert_float_equal(r->speed, 62.3, 1e-9);
    assert_float_equal(r->course, 275, 1e-9);
    assert_true(has_alarm(r, TD_ALARM_SOS));
    assert_true(has_alarm(r, TD_ALARM_OVERSPEED));
    assert_true(has_alarm(r, TD_ALARM_POWER_CUT));
    assert_true(has_alarm(r, TD_ALARM_MOVEMENT));
    assert_true(has_alarm(r, TD_ALARM_GEOFENCE_EXIT));
    assert_false(has_alarm(r, TD_ALARM_GEOFENCE_ENTER));
    assert_int_equal(td_test_raw_int(r, "alarm"), (1 << 0) | (1 << 1) | (1 << 8) | (1 << 28));
    assert_int_equal(td_test_raw_int(r, "status"), 15);
    assert_true(td_test_attr_bool(r, TD_ATTR_IGNITION));
    assert_float_equal(td_test_attr_double(r, TD_ATTR_ODOMETER), 12345600, 1e-6);
    assert_float_equal(td_test_raw_double(r, "fuel"), 45.6, 1e-9);
    assert_float_equal(td_test_raw_double(r, "tachographSpeed"), 61.0, 1e-9);
    assert_int_equal(td_test_raw_int(r, "alarmEventId"), 7);
    assert_int_equal(td_test_raw_int(r, "overspeedAreaType"), 1);
    assert_int_equal(td_test_raw_int(r, "overspeedAreaId"), 99);
    assert_int_equal(td_test_raw_int(r, "areaType"), 2);
    assert_int_equal(td_test_raw_int(r, "areaId"), 1234);
    assert_int_equal(td_test_raw_int(r, "routeId"), 77);
    assert_int_equal(td_test_raw_int(r, "routeTime"), 300);
    assert_int_equal(td_test_raw_int(r, "routeTimeResult"), 1);
    assert_int_equal(td_test_raw_int(r, "signals"), 0x11);
    assert_int_equal(td_test_raw_int(r, "io"), 3);
    assert_int_equal(td_test_raw_int(r, "adc1"), 0x0304);
    assert_int_equal(td_test_raw_int(r, "adc2"), 0x0102);
    assert_int_equal(td_test_attr_int(r, TD_ATTR_RSSI), 25);
    assert_int_equal(td_test_attr_int(r, TD_ATTR_SATELLITES), 11);
}

static void test_location_report(void **state)
{
    (void)state;
    ok(LOCATION);
    assert_int_equal(ctx.nrec, 1);
    assert_location(&ctx.rec[0]);
    td_test_reply_hex(&ctx, LOCATION_REPLY);
}

static void test_location_without_fix(void **state)
{
    (void)state;
    /* Coordinates out of range and a broken speed: a status record with
     * the raw values, still acknowledged. */
    ok(NOFIX);
    const td_record *r = &ctx.rec[0];
    assert_int_equal(r->type, TD_REC_STATUS);
    assert_false(r->valid);
    assert_int_equal(td_test_raw_int(r, "latitudeRaw"), 0x0F000000);
    assert_float_equal(td_test_raw_double(r, "speedRaw"), 6553.5, 1e-9);
    assert_float_equal(r->speed, 0, 1e-9);
    assert_int_equal(td_test_attr_int(r, TD_ATTR_RSSI), 9);
    td_test_reply_hex(&ctx, NOFIX_REPLY);
}

static bool has_cell(const td_record *r, int mcc, int mnc, int64_t lac, int64_t cid, int rssi)
{
    for (int i = 0; i < r->ncells; i++) {
        const td_cell *c = &r->cells[i];
        if (c->mcc == mcc && c->mnc == mnc && c->lac == lac && c->cid == cid && c->has_rssi &&
            c->rssi == rssi)
            return true;
    }
    return false;
}

static void test_location_vendor_items(void **state)
{
    (void)state;
    /* Power, firmware, cells (0xF0 and 0xEB), battery (0xE3), motion,
     * Wi-Fi (0xEC). */
    ok(VENDOR1);
    const td_record *r = &ctx.rec[0];
    assert_float_equal(td_test_raw_double(r, "power"), 12.34,
                       1e-9); /* a raw key keeps its first value */
    assert_string_equal(td_test_raw_str(r, "firmwareVersion"), "V1.23");
    assert_int_equal(r->ncells, 3);
    assert_true(has_cell(r, 460, 0, 0x2345, 0x1234567, -75));
    assert_true(has_cell(r, 460, 1, 0x1111, 0x2222, 40));
    assert_true(has_cell(r, 460, 1, 0x3333, 0x4444, 30));
    assert_int_equal(td_test_attr_int(r, TD_ATTR_BATTERY_LEVEL), 77);
    assert_float_equal(td_test_attr_double(r, TD_ATTR_BATTERY), 4.02, 1e-9);
    assert_true(td_test_attr_bool(r, TD_ATTR_MOTION));
    assert_int_equal(r->nwifi, 2);
    assert_string_equal(r->wifi[0].mac, "a1:b2:c3:d4:e5:f6");
    assert_int_equal(r->wifi[0].rssi, -60);
    assert_int_equal(r->wifi[1].rssi, -70);

    /* 0xEB extended list: power cut and removal (bits clear), vibration,
     * still, battery mV and %, ICCID; 0x82 power; 0x06 cabin temperature. */
    ok(VENDOR2);
    r = &ctx.rec[0];
    assert_true(has_alarm(r, TD_ALARM_POWER_CUT));
    assert_false(has_alarm(r, TD_ALARM_REMOVAL));
    assert_true(has_alarm(r, TD_ALARM_VIBRATION));
    assert_false(td_test_attr_bool(r, TD_ATTR_MOTION));
    assert_float_equal(td_test_attr_double(r, TD_ATTR_BATTERY), 3.987, 1e-9);
    assert_int_equal(td_test_attr_int(r, TD_ATTR_BATTERY_LEVEL), 64);
    assert_string_equal(td_test_raw_str(r, "iccid"), "89860412345678901");
    assert_float_equal(td_test_raw_double(r, "power"), 12.8, 1e-9);
    assert_int_equal(td_test_raw_int(r, "cabinTemperature"), -5);

    /* 0x56 battery in tenths, 0x69 battery volts, 0xE4 charging. */
    ok(VENDOR3);
    r = &ctx.rec[0];
    assert_int_equal(td_test_attr_int(r, TD_ATTR_BATTERY_LEVEL), 55); /* 0xE4 after 0x56 */
    assert_float_equal(td_test_attr_double(r, TD_ATTR_BATTERY), 3.95, 1e-9);
    assert_true(td_test_attr_bool(r, TD_ATTR_CHARGING));

    /* 0xF7 battery mV, charging state, %; 0xE1 0xff = charging. */
    ok(VENDOR4);
    r = &ctx.rec[0];
    assert_float_equal(td_test_attr_double(r, TD_ATTR_BATTERY), 4.012, 1e-9);
    assert_int_equal(td_test_attr_int(r, TD_ATTR_BATTERY_LEVEL), 93);
    assert_true(td_test_attr_bool(r, TD_ATTR_CHARGING));

    /* 0xE1 cell list; 0x06 with one byte is a battery level. */
    ok(VENDOR5);
    r = &ctx.rec[0];
    assert_true(has_cell(r, 460, 1, 0x1234, 0x5678, 50));
    assert_int_equal(td_test_attr_int(r, TD_ATTR_BATTERY_LEVEL), 42);
}

static void test_location_published_example(void **state)
{
    (void)state;
    ok(HUABAO_LOCATION);
    const td_record *r = &ctx.rec[0];
    assert_string_equal(r->device_id, "2002604323");
    assert_int_equal(r->time_ms, td_test_utc(2021, 9, 22, 8, 37, 58));
    assert_true(r->valid);
    assert_float_equal(r->latitude, 22.591771, 1e-9);
    assert_float_equal(r->longitude, 113.995873, 1e-9);
    assert_float_equal(r->altitude, 70, 1e-9);
    assert_float_equal(r->course, 89, 1e-9);
    assert_true(has_alarm(r, TD_ALARM_TAMPER)); /* alarm bit 17 */
    assert_false(td_test_attr_bool(r, TD_ATTR_IGNITION));
    assert_float_equal(td_test_attr_double(r, TD_ATTR_ODOMETER), 100, 1e-9);
    assert_int_equal(td_test_attr_int(r, TD_ATTR_RSSI), 0x11);
    assert_int_equal(td_test_attr_int(r, TD_ATTR_SATELLITES), 0x10);
    td_test_reply_hex(&ctx, HUABAO_REPLY);

    /* After nine replies the platform serial is 9: the page's own answer
     * to a report with serial 0x00EE, byte for byte. */
    memset(&sess, 0, sizeof(sess));
    for (int i = 0; i < 9; i++)
        ok_in(&sess, HEARTBEAT);
    ok_in(&sess, HUABAO_EE);
    td_test_reply_hex(&ctx, HUABAO_ACK);
}

static void test_location_answers(void **state)
{
    (void)state;
    /* 0x0201 answers a location query: the answered serial, then a
     * location; a response is not answered. */
    ok(LOC_QUERY);
    assert_int_equal(ctx.nrec, 1);
    assert_location(&ctx.rec[0]);
    assert_int_equal(td_test_raw_int(&ctx.rec[0], "replySerial"), 0x55);
    assert_int_equal(ctx.reply_len, 0);
    /* 0x0500 answers a vehicle control command the same way. */
    ok(CONTROL_RESP);
    assert_location(&ctx.rec[0]);
    assert_int_equal(td_test_raw_int(&ctx.rec[0], "replySerial"), 0x56);
    assert_int_equal(ctx.reply_len, 0);
}

static void test_batch(void **state)
{
    (void)state;
    /* Two blind-area fixes (type 1), one general response for both. */
    ok(BATCH);
    assert_int_equal(ctx.nrec, 2);
    for (int i = 0; i < 2; i++) {
        const td_record *r = &ctx.rec[i];
        assert_int_equal(r->type, TD_REC_POSITION);
        assert_int_equal(r->time_ms, td_test_utc(2026, 1, 2, 2, i, 0));
        assert_float_equal(r->latitude, 22.54321, 1e-9);
        assert_float_equal(r->longitude, 114.054321, 1e-9);
        assert_float_equal(r->speed, 40, 1e-9);
        assert_float_equal(r->course, 90, 1e-9);
        assert_float_equal(r->altitude, 12, 1e-9);
        assert_true(td_rec_raw_find(r, "archive") != NULL);
    }
    assert_int_equal(td_test_attr_int(&ctx.rec[1], TD_ATTR_RSSI), 20);
    td_test_reply_hex(&ctx, BATCH_REPLY);

    /* Ten fixes in one batch: every one kept, one acknowledgement. */
    ok(BATCH10);
    assert_int_equal(ctx.nrec, 10);
    for (int i = 0; i < 10; i++)
        assert_null(td_rec_raw_find(&ctx.rec[i], "batchSkipped"));
    assert_int_equal(ctx.reply_len, 20);
}

static void test_terminal_general_response(void **state)
{
    (void)state;
    ok(TERM_RESP);
    assert_int_equal(ctx.nrec, 1);
    assert_int_equal(ctx.rec[0].type, TD_REC_ACK);
    assert_int_equal(td_test_raw_int(&ctx.rec[0], "replySerial"), 0x1234);
    assert_int_equal(td_test_raw_int(&ctx.rec[0], "replyId"), 0x8103);
    assert_int_equal(td_test_raw_int(&ctx.rec[0], "result"), 0);
    assert_int_equal(ctx.reply_len, 0);
}

static void test_terminal_attributes(void **state)
{
    (void)state;
    ok(ATTRS);
    const td_record *r = &ctx.rec[0];
    assert_int_equal(r->type, TD_REC_STATUS);
    assert_int_equal(td_test_raw_int(r, "terminalType"), 0x11);
    assert_string_equal(td_test_raw_str(r, "model"), "TK-808");
    assert_string_equal(td_test_raw_str(r, "iccid"), "89860012345678901234");
    assert_string_equal(td_test_raw_str(r, "hardwareVersion"), "H1.0");
    assert_string_equal(td_test_raw_str(r, "firmwareVersion"), "F2.3.4");
    assert_int_equal(ctx.reply_len, 0);
}

static void test_lock_location(void **state)
{
    (void)state;
    /* 0x5501 with attribute bit 15: answered 0x4401 with a one-byte serial. */
    ok(LOCK);
    const td_record *r = &ctx.rec[0];
    assert_int_equal(r->type, TD_REC_POSITION);
    assert_string_equal(r->device_id, "856009001017");
    assert_int_equal(r->time_ms, td_test_utc(2026, 1, 15, 10, 30, 0));
    assert_true(r->valid);
    assert_float_equal(r->latitude, 22 + 34.5678 / 60, 1e-9);
    assert_float_equal(r->longitude, 113 + 56.789 / 60, 1e-9);
    assert_float_equal(r->speed, 45, 1e-9);
    assert_float_equal(r->course, 180, 1e-9);
    assert_float_equal(r->altitude, 100, 1e-9);
    assert_int_equal(td_test_attr_int(r, TD_ATTR_RSSI), 20);
    assert_int_equal(td_test_attr_int(r, TD_ATTR_SATELLITES), 9);
    assert_float_equal(td_test_attr_double(r, TD_ATTR_ODOMETER), 1234000, 1e-9);
    assert_int_equal(td_test_attr_int(r, TD_ATTR_BATTERY_LEVEL), 80);
    assert_int_equal(td_test_raw_int(r, "cid"), 0xabcd);
    assert_int_equal(td_test_raw_int(r, "lac"), 0x1234);
    assert_true(has_alarm(r, TD_ALARM_VIBRATION));
    td_test_reply_hex(&ctx, LOCK_REPLY);

    /* 0x5502: a stored fix, not valid as a live one; no answer asked. */
    ok(LOCK_BLIND);
    assert_false(ctx.rec[0].valid);
    assert_int_equal(ctx.reply_len, 0);
}

static void test_text_time_request(void **state)
{
    (void)state;
    size_t n = strlen("(794104004140,1,001,BASE,2,TIME)");
    assert_int_equal(
        td_test_decode_bytes(P, NULL, (const uint8_t *)"(794104004140,1,001,BASE,2,TIME)", n, &ctx),
        0);
    assert_int_equal(ctx.nrec, 1);
    assert_int_equal(ctx.rec[0].type, TD_REC_OTHER);
    assert_string_equal(ctx.rec[0].device_id, "794104004140");
    assert_string_equal(td_test_reply(&ctx), "(794104004140,1,001,BASE,2,20260102030405)");

    /* Any other text is a command result, not answered. */
    const char *res = "(794104004140,1,002,BASE,3,OK)";
    assert_int_equal(td_test_decode_bytes(P, NULL, (const uint8_t *)res, strlen(res), &ctx), 0);
    assert_string_equal(td_test_raw_str(&ctx.rec[0], "result"), "BASE,3,OK");
    assert_int_equal(ctx.reply_len, 0);
}

static void test_packets_media_passthrough_other(void **state)
{
    (void)state;
    /* A packet of a long message: acknowledged, kept raw. */
    ok(PACKET);
    assert_int_equal(ctx.rec[0].type, TD_REC_OTHER);
    assert_int_equal(td_test_raw_int(&ctx.rec[0], "packet"), 1);
    assert_int_equal(td_test_raw_int(&ctx.rec[0], "packets"), 2);
    assert_string_equal(td_test_raw_str(&ctx.rec[0], "messageId"), "0x0200");
    td_test_reply_hex(&ctx, PACKET_REPLY);

    /* 0x0801 in one piece: 0x8800 with its multimedia id. */
    ok(MEDIA);
    assert_int_equal(td_test_raw_int(&ctx.rec[0], "mediaId"), 0x01020304);
    assert_int_equal(td_test_raw_int(&ctx.rec[0], "mediaEvent"), 1);
    td_test_reply_hex(&ctx, MEDIA_REPLY);

    /* 0x0900 pass-through: type and data. */
    ok(PASSTHROUGH);
    assert_int_equal(td_test_raw_int(&ctx.rec[0], "passthroughType"), 0x41);
    assert_string_equal(td_test_raw_str(&ctx.rec[0], "data"), "$OBD,1,2,3");
    td_test_reply_hex(&ctx, PASSTHROUGH_REPLY);

    /* A message without a decoder (0x0303 information order): kept raw,
     * acknowledged. */
    ok(UNKNOWN);
    assert_string_equal(td_test_raw_str(&ctx.rec[0], "messageId"), "0x0303");
    assert_string_equal(td_test_raw_str(&ctx.rec[0], "body"), "0501");
    td_test_reply_hex(&ctx, UNKNOWN_REPLY);

    /* An id outside the standard: the same, once its frame checks out. */
    ok(UNKNOWN_ID);
    assert_string_equal(td_test_raw_str(&ctx.rec[0], "messageId"), "0x0F01");
    assert_int_equal(ctx.reply_len, 20);
}

static void test_events_texts_driver_parameters(void **state)
{
    (void)state;
    /* 0x0301 event report. */
    ok(EVENT);
    assert_int_equal(ctx.rec[0].type, TD_REC_OTHER);
    assert_int_equal(td_test_raw_int(&ctx.rec[0], "eventId"), 5);
    td_test_reply_hex(&ctx, EVENT_REPLY);

    /* 0x0104 answer to a parameter query: not answered. */
    ok(PARAMS);
    const td_record *r = &ctx.rec[0];
    assert_int_equal(r->type, TD_REC_STATUS);
    assert_int_equal(td_test_raw_int(r, "replySerial"), 0x33);
    assert_int_equal(td_test_raw_int(r, "heartbeatInterval"), 30);
    assert_string_equal(td_test_raw_str(r, "server"), "example.com");
    assert_int_equal(td_test_raw_int(r, "tcpPort"), 8888);
    assert_int_equal(ctx.reply_len, 0);

    /* 0x0702 driver identity (IC card inserted). */
    ok(DRIVER);
    r = &ctx.rec[0];
    assert_int_equal(td_test_raw_int(r, "cardStatus"), 1);
    assert_int_equal(r->time_ms, td_test_utc(2026, 1, 2, 3, 4, 5));
    assert_int_equal(td_test_raw_int(r, "cardResult"), 0);
    assert_string_equal(td_test_raw_str(r, "driver"), "Wang");
    assert_string_equal(td_test_raw_str(r, "driverCode"), "DRV0123456789");
    assert_string_equal(td_test_raw_str(r, "cardAgency"), "TJB");
    assert_string_equal(td_test_raw_str(r, "cardValidity"), "20301231");
    td_test_reply_hex(&ctx, DRIVER_REPLY);

    /* 0x6006 text report and 0x0701 waybill. */
    ok(TEXT_REPORT);
    assert_string_equal(td_test_raw_str(&ctx.rec[0], "result"), "Set OK");
    td_test_reply_hex(&ctx, TEXT_REPORT_REPLY);
    ok(WAYBILL);
    assert_string_equal(td_test_raw_str(&ctx.rec[0], "waybill"), "WB123");

    /* A heartbeat with battery, signal and status appended. */
    ok(HEARTBEAT_BODY);
    assert_int_equal(ctx.rec[0].type, TD_REC_HEARTBEAT);
    assert_int_equal(td_test_attr_int(&ctx.rec[0], TD_ATTR_BATTERY_LEVEL), 87);
    assert_int_equal(td_test_attr_int(&ctx.rec[0], TD_ATTR_RSSI), 23);
}

static void test_escaping_and_ids(void **state)
{
    (void)state;
    /* 0x7e and 0x7d inside are escaped both ways. */
    ok(ESCAPED);
    assert_float_equal(ctx.rec[0].latitude, 0x017e7d00 / 1e6, 1e-9);
    td_test_reply_hex(&ctx, ESCAPED_REPLY);

    /* A terminal number that is not BCD: the first 14 digits of an IMEI
     * as a number; the id gets its Luhn check digit. */
    ok(IMEI_HB);
    assert_string_equal(sess.device_id, "861234567890127");

    /* A frame that was never escaped (0x7d 0x02 is data): its checksum
     * only holds as sent, and it is taken so. */
    ok(UNESCAPED);
    assert_float_equal(ctx.rec[0].latitude, 0x017d0200 / 1e6, 1e-9);

    /* The 0xe7 framing: 7-byte number, 0xe6/0x3e escapes both ways. */
    ok(ALT);
    assert_string_equal(sess.device_id, "13912345678");
    assert_float_equal(ctx.rec[0].latitude, 0x01e6e73e / 1e6, 1e-9);
    assert_float_equal(ctx.rec[0].longitude, 0x063d0000 / 1e6, 1e-9);
    td_test_reply_hex(&ctx, ALT_REPLY);
}

/* ---- vectors, detection, framing, malformed input ---- */

/* The family checks: at least 50 vectors; cut at every length and
 * corrupted at every byte, and random input, they decode or fail with a
 * message naming jt808. */
static const td_test_family family = {
    .proto = &td_proto_jt808,
    .min_vectors = 50,
    .corrupt = {0x00, 0xff, 0x7e, 0x7d, 0x01},
    .ncorrupt = 5,
    .random =
        {
            .rounds = 3000,
            .max_len = 200,
            .head = {"\x7e\x02\x00", "\x7e"},
            .head_len = {3, 0},
            .alphabet = "\x01\x02\x7d\x7e\x80\xff",
        },
};

/* Built frames of every kind are jt808's alone, over TCP and UDP, and no
 * prefix is refused by jt808 or claimed by another protocol. */
static void test_detection(void **state)
{
    (void)state;
    const char *frames[] = {REG2013,   REG2019,    AUTH2013,   HEARTBEAT, LOCATION,  BATCH,
                            TERM_RESP, TIME_QUERY, LOCK,       PACKET,    MEDIA,     ESCAPED,
                            IMEI_HB,   UNKNOWN,    UNKNOWN_ID, ALT,       UNESCAPED, TEXT_REPORT};

    for (size_t i = 0; i < TD_TEST_COUNT(frames); i++)
        td_test_detect_own(P, bin, unhex(frames[i]), 0, frames[i]);
    /* A standard message id decides within the header. */
    unhex(LOCATION);
    assert_int_equal(P->detect(bin, 13), TD_DETECT_YES);
    assert_int_equal(P->detect(bin, 12), TD_DETECT_MAYBE);

    /* The text form, and what it must not take. */
    const char *text = "(794104004140,1,001,BASE,2,TIME)";
    assert_int_equal(P->detect((const uint8_t *)text, strlen(text)), TD_DETECT_YES);
    assert_int_equal(P->detect((const uint8_t *)text, 5), TD_DETECT_MAYBE);
    static const char *const not_mine[] = {
        "(027028258115BP05000027028258115111213A2234.1234N11354.1234E000.1",
        "(864768010869060,DW30,050117,A,",
        "(12,1,001,BASE",
        "*HQ,865205030330012,V1,123519,A#",
    };
    for (size_t i = 0; i < sizeof(not_mine) / sizeof(not_mine[0]); i++)
        assert_int_equal(P->detect((const uint8_t *)not_mine[i], strlen(not_mine[i])),
                         TD_DETECT_NO);

    /* Platform-to-terminal messages, reserved bits, encryption other than
     * RSA, unknown ids with a bad checksum: no. */
    static const char *const bad[] = {
        "7e8001000501391234567800000004000200b27e", /* 0x8001 */
        "7e0200800001391234567800017e",             /* reserved bit 15 */
        "7e0200080001391234567800017e",             /* encryption 2 */
        "7e0f0100000139123456780001007e",           /* unknown id, bad checksum */
        "7e7e",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        size_t n = unhex(bad[i]);
        assert_int_equal(P->detect(bin, n), TD_DETECT_NO);
    }
    /* An unknown terminal id with a good checksum is taken whole. */
    size_t n = unhex("7e0f0100000139123456780001"
                     "7e");
    bin[n - 1] = 0;
    for (size_t k = 1; k < n - 1; k++)
        bin[n - 1] ^= bin[k];
    bin[n++] = 0x7e;
    assert_int_equal(P->detect(bin, n), TD_DETECT_YES);
    assert_int_equal(P->detect(bin, n - 1), TD_DETECT_MAYBE);
}

/* Every constructed frame back to back (with noise between two of them)
 * comes out frame by frame, whatever the reads. */
static void test_framing_split_everywhere(void **state)
{
    (void)state;
    static const char *const frames[] = {REG2013, AUTH2013,  HEARTBEAT, LOCATION,  BATCH,
                                         ESCAPED, LOCK,      MEDIA,     TIME_SYNC, PACKET,
                                         ALT,     UNESCAPED, DRIVER};
    static td_test_stream s;

    td_test_stream_reset(&s);
    for (size_t i = 0; i < TD_TEST_COUNT(frames); i++)
        td_test_stream_frame(&s, bin, unhex(frames[i]));
    td_test_stream_text(&s, "(794104004140,1,001,BASE,2,TIME)");
    td_test_split_everywhere(P, &s, s.n);

    /* With noise and a doubled flag before the second frame (forced). */
    td_test_stream_reset(&s);
    td_test_stream_frame(&s, bin, unhex(HEARTBEAT));
    td_test_stream_noise(&s, "\r\nxx\x7e", 5);
    td_test_stream_frame(&s, bin, unhex(LOCATION));
    td_test_split_forced(P, &s, s.n);
    td_stream st;
    td_test_frames got;
    char err[256] = "";

    /* A 0x7e left unescaped inside a frame: cut where the declared length
     * ends, not at the stray flag. */
    size_t n = unhex("7e0200001c01391234567800010000000000000002"
                     "017e7d000"
                     "6cc54b1000000000000260102100000"
                     "00"
                     "7e");
    bin[n - 2] = 0;
    for (size_t k = 1; k < n - 2; k++)
        bin[n - 2] ^= bin[k];
    memset(&got, 0, sizeof(got));
    td_stream_init(&st, TD_TCP, NULL);
    assert_int_equal(td_stream_feed(&st, bin, n, td_test_collect_frame, &got, err, sizeof(err)), 0);
    td_stream_free(&st);
    assert_int_equal(got.n, 1);
    assert_int_equal(got.len[0], n);
    assert_int_equal(td_test_decode_bytes(P, NULL, bin, n, &ctx), 0);
    assert_float_equal(ctx.rec[0].latitude, 0x017e7d00 / 1e6, 1e-9);
}

static void test_malformed(void **state)
{
    (void)state;
    expect_error("7e000200000139123456780004377e", "jt808: bad checksum 0x37, computed 0x36");
    expect_error("7e00020000013912345678367e", "jt808: frame of 11 bytes too short");
    expect_error("7e0002000001391234567800040000000000367e",
                 "jt808: body of 5 bytes, header says 0");
    expect_error("000200000139123456780004367e", "jt808: frame not enclosed in 0x7e flags");
    expect_error("7e02000004013912345678000400000000327e",
                 "jt808: report location of 4 bytes, need 28");
    expect_error("7e000204000139123456780004327e", "jt808: encrypted body (method 1)");

    /* Every truncation and every single-byte change of every constructed
     * frame: an error naming jt808, or sane records. */
    static const char *const frames[] = {REG2013, REG2019, AUTH2019,   LOCATION, BATCH,  LOCK,
                                         MEDIA,   ATTRS,   TIME_QUERY, ALT,      DRIVER, PARAMS};
    static td_decode_ctx c2;
    size_t failed = 0, decoded = 0, cok = 0, cbad = 0;
    for (size_t i = 0; i < TD_TEST_COUNT(frames); i++) {
        size_t n = unhex(frames[i]);
        for (size_t len = 0; len < n; len++)
            td_test_try_malformed(P, bin, len, &decoded, &failed);
        for (size_t k = 0; k < n; k++) {
            uint8_t save = bin[k];
            for (int x = 1; x < 256; x += 37) {
                bin[k] = (uint8_t)(save ^ x);
                td_test_try_malformed(P, bin, n, &cok, &cbad);
            }
            bin[k] = save;
        }
    }
    assert_int_equal(decoded, 0); /* a cut frame lacks its end flag */
    assert_true(failed > 0);

    /* Random bytes after a flag never crash and are almost never taken. */
    srand(808);
    size_t taken = 0;
    for (int round = 0; round < 5000; round++) {
        size_t len = 2 + (size_t)(rand() % 200);
        uint8_t *buf = malloc(len);
        buf[0] = 0x7e;
        for (size_t k = 1; k < len; k++)
            buf[k] = (uint8_t)rand();
        buf[len - 1] = 0x7e;
        int rc = td_test_decode_bytes(P, NULL, buf, len, &c2);
        if (rc < 0)
            assert_memory_equal(c2.err, "jt808: ", 7);
        else
            taken++;
        size_t skip;
        long f = P->frame(buf, len, &skip);
        assert_true(f >= 0 || f == TD_ETOOBIG);
        assert_true(skip <= len && (f <= 0 || (size_t)f <= len - skip));
        free(buf);
    }
    assert_true(taken < 50);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_registration_2013),
        cmocka_unit_test(test_registration_2019_and_2011),
        cmocka_unit_test(test_authentication),
        cmocka_unit_test(test_heartbeat_and_platform_serial),
        cmocka_unit_test(test_deregistration),
        cmocka_unit_test(test_time_requests),
        cmocka_unit_test(test_location_report),
        cmocka_unit_test(test_location_without_fix),
        cmocka_unit_test(test_location_vendor_items),
        cmocka_unit_test(test_location_published_example),
        cmocka_unit_test(test_location_answers),
        cmocka_unit_test(test_batch),
        cmocka_unit_test(test_terminal_general_response),
        cmocka_unit_test(test_terminal_attributes),
        cmocka_unit_test(test_lock_location),
        cmocka_unit_test(test_text_time_request),
        cmocka_unit_test(test_packets_media_passthrough_other),
        cmocka_unit_test(test_events_texts_driver_parameters),
        cmocka_unit_test(test_escaping_and_ids),
        TD_TEST_FAMILY_CASES(&family),
        cmocka_unit_test(test_detection),
        cmocka_unit_test(test_framing_split_everywhere),
        cmocka_unit_test(test_malformed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
