/*
 * Unit tests for the suntech protocol (legacy ST300/SA200/ST600/ST910 and
 * universal reports, text and zip). Every frame here is built from the
 * layouts in docs/protocols/suntech.md (made-up ids and values, the field
 * orders of the ST300/ST600/SA200 manuals and the Universal Reporting
 * Guide); the device vectors of tests/vectors/protocols.jsonl run once with
 * the protocol forced and once through detection. One test per report type
 * and per reply, byte for byte; then detection, framing split at every
 * byte (external data holding CR LF), and malformed input.
 */
#include "support.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/text.h"

#define ID "205000001"
#define UID "0560000001"
/* Legacy position fields: date, time, cell, lat, lon, speed, course,
 * satellites, fix. */
#define FIX "20240214;01:32:54;3fac25;-15.618743;-056.083221;036.500;092.00;10;1"
/* Universal: date, time, cell id, MCC, MNC, LAC, rx level, lat, lon,
 * speed, course, satellites, fix. */
#define UFIX "20240214;01:32:54;087d4760;310;410;0ba0;23;+40.123420;-074.995971;36.50;92.00;10;1"

TD_TEST_PROTOCOL(suntech)

/* The legacy FIX above. */
static void assert_fix(const td_record *r, const char *id)
{
    td_test_assert_fix(r, "2024-02-14T01:32:54Z", -15.618743, -56.083221, 36.5, 92);
    assert_string_equal(r->device_id, id);
    assert_int_equal(r->attr[TD_ATTR_SATELLITES].i, 10);
}

/* ---- legacy text reports ---- */

/* ST300STT: ..., DIST, PWR_VOLT, I/O, MODE, MSG_NUM, H_METER, BCK_VOLT,
 * MSG_TYPE. */
static void test_legacy_status(void **state)
{
    (void)state;
    const td_record *r =
        one("ST300STT;" ID ";04;512;" FIX ";41557;12.21;100000;1;0376;010360;4.2;1");
    assert_fix(r, ID);
    assert_string_equal(td_test_raw_str(r, "cell"), "3fac25");
    td_test_assert_near(r->attr[TD_ATTR_ODOMETER].d, 41557);
    td_test_assert_near(td_test_raw_double(r, "power"), 12.21);
    assert_true(r->attr[TD_ATTR_IGNITION].b);
    assert_string_equal(td_test_raw_str(r, "io"), "100000");
    assert_int_equal(td_test_raw_int(r, "mode"), 1);
    assert_int_equal(td_test_raw_int(r, "index"), 376);
    td_test_assert_near(r->attr[TD_ATTR_BATTERY].d, 4.2);
    assert_null(td_rec_raw_find(r, "buffered"));
    assert_string_equal(td_test_raw_str(r, "type"), "STT");
    assert_string_equal(td_test_raw_str(r, "model"), "ST300");
    td_test_assert_reply(&ctx, "ST300ACK;" ID);
    assert_string_equal(sess.device_id, ID);

    /* Stored (MSG_TYPE 0), ignition off, no fix. */
    r = one("ST300STT;" ID ";04;512;20240214;01:32:54;3fac25;-15.618743;-056.083221;000.000;"
            "000.00;0;0;41557;12.21;000000;1;0377;010360;4.2;0\r");
    assert_false(r->valid);
    assert_false(r->attr[TD_ATTR_IGNITION].b);
    assert_true(td_test_raw_bool(r, "buffered"));
    td_test_assert_reply(&ctx, "ST300ACK;" ID);
}

/* SA200 reports have no MODEL field; ST600 writes the cell as cell id,
 * MCC, MNC, LAC and rx level. */
static void test_legacy_models(void **state)
{
    (void)state;
    const td_record *r = one("SA200STT;430070;133;" FIX ";0;12.39;000000;1;0208;0;4.1;1");
    assert_fix(r, "430070");
    td_test_assert_reply(&ctx, "SA200ACK;430070");
    r = one("ST600STT;" ID ";20;419;20240214;01:32:54;0032cc3e;736;3;445c;41;-15.618743;"
            "-056.083221;036.500;092.00;10;1;11655;13.33;100000;2;0336;000061;4.5;1;0.00");
    assert_fix(r, ID);
    assert_int_equal(r->ncells, 1);
    td_test_assert_cell(r, 0, 736, 3, 0x445c, 0x32cc3e);
    assert_int_equal(r->cells[0].rssi, 41);
    td_test_assert_reply(&ctx, "ST600ACK;" ID);
}

/* ALT: ALERT_ID after I/O, mapped onto the contract's alarms. */
static void test_legacy_alerts(void **state)
{
    (void)state;
    static const struct {
        const char *id;
        uint32_t alarms;
    } alerts[] = {
        {"1", TD_ALARM_BIT(TD_ALARM_OVERSPEED)},
        {"5", TD_ALARM_BIT(TD_ALARM_GEOFENCE_EXIT)},
        {"6", TD_ALARM_BIT(TD_ALARM_GEOFENCE_ENTER)},
        {"14", TD_ALARM_BIT(TD_ALARM_LOW_POWER)},
        {"15", TD_ALARM_BIT(TD_ALARM_VIBRATION)},
        {"41", TD_ALARM_BIT(TD_ALARM_POWER_CUT)},
        {"40", 0},
    };
    char frame[256];
    for (size_t i = 0; i < sizeof(alerts) / sizeof(alerts[0]); i++) {
        snprintf(frame, sizeof(frame),
                 "ST300ALT;" ID ";04;512;" FIX ";41557;12.21;100000;%s;0;4.2;1", alerts[i].id);
        const td_record *r = one(frame);
        assert_fix(r, ID);
        assert_int_equal(r->alarms, alerts[i].alarms);
        assert_int_equal(td_test_raw_int(r, "alertId"), atoi(alerts[i].id));
        td_test_assert_reply(&ctx, "ST300ACK;" ID);
    }
    /* Ignition on/off alerts set the ignition. */
    const td_record *r = one("ST300ALT;" ID ";04;512;" FIX ";41557;12.21;000000;33;0;4.2;1");
    assert_true(r->attr[TD_ATTR_IGNITION].b);
    r = one("ST300ALT;" ID ";04;512;" FIX ";41557;12.21;100000;34;0;4.2;1");
    assert_false(r->attr[TD_ATTR_IGNITION].b);
}

/* EMG: an emergency; id 3 (main power removed) is a power cut. */
static void test_legacy_emergency(void **state)
{
    (void)state;
    const td_record *r = one("SA200EMG;430070;133;" FIX ";41548;12.17;110000;1");
    assert_fix(r, "430070");
    assert_int_equal(r->alarms, TD_ALARM_BIT(TD_ALARM_SOS));
    td_test_assert_reply(&ctx, "SA200ACK;430070");
    r = one("ST300EMG;" ID ";04;512;" FIX ";41548;12.17;110000;3;0;4.2;1");
    assert_int_equal(r->alarms, TD_ALARM_BIT(TD_ALARM_POWER_CUT));
    /* ST910: the kind is the second field. */
    r = one("ST910;Emergency;" ID
            ";500;20240214;01:32:54;-15.618743;-056.083221;036.500;092.00;0;2");
    assert_int_equal(r->type, TD_REC_POSITION);
    assert_int_equal(r->alarms, TD_ALARM_BIT(TD_ALARM_SOS));
    assert_string_equal(td_test_raw_str(r, "type"), "Emergency");
    td_test_assert_reply(&ctx, "ST910ACK;" ID);
}

static void test_legacy_event(void **state)
{
    (void)state;
    const td_record *r = one("ST300EVT;" ID ";04;512;" FIX ";41557;12.21;100000;2;0;4.2;1");
    assert_fix(r, ID);
    assert_int_equal(td_test_raw_int(r, "eventId"), 2);
    assert_int_equal(r->alarms, 0);
    td_test_assert_reply(&ctx, "ST300ACK;" ID);
}

/* UEX: LEN and DATA after I/O; the data may hold CR LF. */
static void test_external_data(void **state)
{
    (void)state;
    const td_record *r = one("ST300UEX;" ID ";04;512;" FIX
                             ";0;12.14;100010;19;RFID:008FB2BEBA39\r\n;3E;000135;4.1;1\r");
    assert_fix(r, ID);
    assert_string_equal(td_test_raw_str(r, "data"), "RFID:008FB2BEBA39  ");
    td_test_assert_reply(&ctx, "ST300ACK;" ID);
}

/* ALV keep-alive: a heartbeat, never acknowledged. */
static void test_keep_alive(void **state)
{
    (void)state;
    const td_record *r = one("SA200ALV;430070\r");
    assert_int_equal(r->type, TD_REC_HEARTBEAT);
    assert_string_equal(r->device_id, "430070");
    assert_int_equal(ctx.reply_len, 0);
    r = one("ALV;" UID);
    assert_int_equal(r->type, TD_REC_HEARTBEAT);
    assert_int_equal(ctx.reply_len, 0);
}

/* Command answers are not acknowledged. */
static void test_command_answers(void **state)
{
    (void)state;
    const td_record *r = one("ST300CMD;Res;" ID ";512;Reset");
    assert_int_equal(r->type, TD_REC_ACK);
    assert_string_equal(r->device_id, ID);
    assert_string_equal(td_test_raw_str(r, "result"), "512;Reset");
    assert_int_equal(ctx.reply_len, 0);
    r = one("-Error");
    assert_int_equal(r->type, TD_REC_ACK);
    assert_int_equal(ctx.reply_len, 0);
}

/* ---- universal text reports ---- */

/* STT;DEV_ID;REPORT_MAP;MODEL;SW_VER;MSG_TYPE;date;time;cell;...;FIX;
 * IN_STATE;OUT_STATE;MODE;STT_RPT_TYPE;MSG_NUM;BCK_VOLT;POWER_VOLT */
static void test_universal_status(void **state)
{
    (void)state;
    const td_record *r =
        one("STT;" UID ";3FFFFF;26;398;1;" UFIX ";00000001;00000000;1;1;0006;4.1;12.37\r");
    td_test_assert_fix(r, "2024-02-14T01:32:54Z", 40.12342, -74.995971, 36.5, 92);
    assert_string_equal(r->device_id, UID);
    assert_int_equal(r->ncells, 1);
    td_test_assert_cell(r, 0, 310, 410, 0xba0, 0x087d4760);
    assert_int_equal(r->cells[0].rssi, 23);
    assert_true(r->attr[TD_ATTR_IGNITION].b);
    assert_int_equal(td_test_raw_int(r, "index"), 6);
    td_test_assert_near(r->attr[TD_ATTR_BATTERY].d, 4.1);
    td_test_assert_near(td_test_raw_double(r, "power"), 12.37);
    td_test_assert_reply(&ctx, "ACK;" UID);
}

static void test_universal_alert_and_emergency(void **state)
{
    (void)state;
    const td_record *r =
        one("ALT;" UID ";3FFFFF;26;398;1;" UFIX ";00000000;00000000;6;;;0007;4.1;12.37");
    assert_int_equal(r->alarms, TD_ALARM_BIT(TD_ALARM_GEOFENCE_ENTER));
    assert_false(r->attr[TD_ATTR_IGNITION].b);
    td_test_assert_reply(&ctx, "ACK;" UID);
    r = one("EMG;" UID ";3FFFFF;26;398;1;" UFIX ";00000000;00000000;1;0008;4.1;12.37");
    assert_int_equal(r->alarms, TD_ALARM_BIT(TD_ALARM_SOS));
    td_test_assert_reply(&ctx, "ACK;" UID);
}

/* BLE: a beacon report with the unit's fix; BSA: a sensor alert without
 * one. */
static void test_universal_sensors(void **state)
{
    (void)state;
    const td_record *r =
        one("BLE;" UID ";114;1.0.1;20240214;01:32:54;+28.433465;-82.565891;1;-43;-46;-41;"
            "ACB89523EF68;247;0;0");
    assert_int_equal(r->type, TD_REC_POSITION);
    assert_true(r->valid);
    td_test_assert_near(r->latitude, 28.433465);
    r = one("BSA;" UID ";001FFF;82;1.0.0;1;20240214;01:32:54;+32.691615;-117.297160;1;-55;"
            "68:11:6A:FD:1A:A7;6AA5;1DE8");
    assert_int_equal(r->type, TD_REC_STATUS);
    td_test_assert_time(r, "2024-02-14T01:32:54Z");
}

/* ---- zip reports ---- */

/* A legacy zip status report: STX, length, header 0x11, id 205000001 (BCD,
 * padded), model, version, 2024-02-14 01:32:54, cell, 15.618743 S
 * 56.083221 W, 36.50 km/h, course 92.00, fix with 10 satellites, 41557 m,
 * 12.21 V, ignition, mode, message number, hour meter, backup battery,
 * message type, ETX. */
static size_t zip_frame(uint8_t *b, uint8_t head)
{
    static const uint8_t body[] = {
        0x20,
        0x50,
        0x00,
        0x00,
        0x10, /* device id */
        0x04,
        0x02,
        0x00, /* model, software version */
        24,
        2,
        14,
        1,
        32,
        54, /* date and time */
        0x3f,
        0xac,
        0x25, /* cell */
        15,
        0x61,
        0x87,
        0x43, /* latitude */
        56,
        0x08,
        0x32,
        0x21, /* longitude */
        0x00,
        0x24,
        0x50, /* speed */
        0x00,
        0x5c,
        0x00,                    /* course */
        0x80 | 0x40 | 0x20 | 10, /* fix, south, west, satellites */
        0x00,
        0x00,
        0xa2,
        0x55, /* distance */
        12,
        0x21, /* power */
        0x01, /* I/O */
        0x06, /* mode / alert id */
        0x01,
        0x78,
        0x00,
        0x00,
        0x28,
        0x88, /* message number, hour meter */
        4,
        0x20,
        0x01, /* backup battery, message type */
    };
    b[0] = 0x02;
    b[3] = head;
    memcpy(b + 4, body, sizeof(body));
    size_t n = 4 + sizeof(body);
    b[n++] = 0x03;
    b[1] = (uint8_t)((n - 4) >> 8);
    b[2] = (uint8_t)(n - 4);
    return n;
}

static void test_zip_reports(void **state)
{
    (void)state;
    uint8_t b[128];
    size_t n = zip_frame(b, 0x11);
    const td_record *r = one_bytes(b, n);
    assert_fix(r, ID);
    td_test_assert_near(r->attr[TD_ATTR_ODOMETER].d, 41557);
    td_test_assert_near(td_test_raw_double(r, "power"), 12.21);
    assert_true(r->attr[TD_ATTR_IGNITION].b);
    assert_int_equal(r->alarms, 0);
    /* The zip ACK: 0x15 and the id bytes. */
    td_test_reply_hex(&ctx, "152050000010");

    n = zip_frame(b, 0x13); /* an alert, id 6: entered a geofence */
    assert_int_equal(td_test_decode_bytes(P, NULL, b, n, &ctx), 0);
    assert_int_equal(ctx.rec[0].alarms, TD_ALARM_BIT(TD_ALARM_GEOFENCE_ENTER));
    n = zip_frame(b, 0x14); /* an emergency */
    b[43] = 1;
    assert_int_equal(td_test_decode_bytes(P, NULL, b, n, &ctx), 0);
    assert_int_equal(ctx.rec[0].alarms, TD_ALARM_BIT(TD_ALARM_SOS));
    td_test_reply_hex(&ctx, "152050000010");
}

/* ---- detection and framing ---- */

static void test_detect_shapes(void **state)
{
    (void)state;
    static const char *const maybe[] = {"S",        "ST",   "ST3",       "ST300",   "ST300S",
                                        "ST300STT", "SA2",  "ST",        "A",       "AL",
                                        "ALV",      "-Err", "ST300XYZ;", "XYZ;0123"};
    static const char *const no[] = {
        "ST300XYZ;12a", /* an unknown type takes digits only */
        "ST30STT;",     /* a model of 2 digits */
        "XYZ;0123;",    /* and at least 6 of them */
        "STTX;",        /* type of four letters */
        "ST300STT;-1",  /* an id that is not alphanumeric */
        "-Errors",      "Stt;1",
    };
    static const char *const yes[] = {
        "ST300STT;1", "STT;0560", "ST910;Alert", "-Error",
        /* Types the documents do not name, with a long enough numeric id. */
        "ST300XYZ;123456", "XYZ;0560001616;"};
    td_test_detect_each(P, maybe, TD_TEST_COUNT(maybe), TD_DETECT_MAYBE);
    td_test_detect_each(P, no, TD_TEST_COUNT(no), TD_DETECT_NO);
    td_test_detect_each(P, yes, TD_TEST_COUNT(yes), TD_DETECT_YES);
    const td_record *r = one("GSA;0560001616;3FFFFF;26;398;1;" UFIX);
    assert_int_equal(r->type, TD_REC_POSITION);
    td_test_assert_reply(&ctx, "ACK;0560001616");
    uint8_t b[128];
    size_t n = zip_frame(b, 0x11);
    assert_int_equal(P->detect(b, 6), TD_DETECT_MAYBE);
    assert_int_equal(P->detect(b, n), TD_DETECT_YES);
    b[3] = 0x21; /* not a zip header */
    assert_int_equal(P->detect(b, n), TD_DETECT_NO);
}

/* Reports back to back, split in two at every byte: text reports end at
 * CR, external data keeps its CR LF, zip reports go by their length. */
static void test_framer_split_everywhere(void **state)
{
    (void)state;
    static td_test_stream s;
    static const char *const text[] = {
        "ST300STT;" ID ";04;512;" FIX ";41557;12.21;100000;1;0376;010360;4.2;1\r",
        "ST300UEX;" ID ";04;512;" FIX ";0;12.14;100010;19;RFID:008FB2BEBA39\r\n;3E;000135;4.1;1\r",
        "SA200ALV;430070\r",
        "STT;" UID ";3FFFFF;26;398;1;" UFIX ";00000001;00000000;1;1;0006;4.1;12.37\r",
    };
    uint8_t zip[128];

    td_test_stream_reset(&s);
    td_test_stream_texts(&s, text, TD_TEST_COUNT(text));
    td_test_stream_frame(&s, zip, zip_frame(zip, 0x11));
    td_test_split_everywhere(P, &s, s.n);
}

static void test_framer_limits(void **state)
{
    (void)state;
    size_t skip;

    /* A LF after a CR, and noise, are skipped. */
    assert_int_equal(P->frame((const uint8_t *)"\n\x01zz", 4, &skip), 0);
    assert_int_equal(skip, 4);
    assert_int_equal(P->frame((const uint8_t *)"\nALV;1\r", 7, &skip), 6);
    assert_int_equal(skip, 1);
    /* External data whose length runs past what has arrived: more needed. */
    const char *cut = "ST300UEX;" ID ";04;512;" FIX ";0;12.14;100010;19;RFID\r";
    assert_int_equal(P->frame((const uint8_t *)cut, strlen(cut), &skip), 0);
    /* A report that never ends. */
    td_test_frame_too_big(P, "ST300STT;1;", '1', 3000);
}

static void expect_error(const char *frame, const char *msg)
{
    td_test_expect_error(P, &ctx, frame, msg);
    assert_int_equal(ctx.reply_len, 0);
}

static void test_errors(void **state)
{
    (void)state;
    expect_error("", "suntech: empty frame");
    expect_error("st300STT;1", "suntech: frame starts with 0x73");
    expect_error("ST910;Emergency", "suntech: ST910 report without a device id");
    expect_error("STT", "suntech: STT report without a device id");
    expect_error("ST300STT;12-3;04", "suntech: bad device id '12-3'");
    expect_error("ST300STT;" ID ";04;512;20240214;01:32:54;3fac25;-15.618743;-056.083221;fast;"
                 "092.00;10;1",
                 "suntech: bad speed 'fast'");
    expect_error("ST300STT;" ID ";04;512;20240214;01:32:54;3fac25;-15.618743;-056.083221;036.500;"
                 "400;10;1",
                 "suntech: bad course '400'");
    expect_error("ST300STT;" ID ";04\x01", "suntech: byte 0x01 at 21 in a text report");
    uint8_t b[128];
    size_t n = zip_frame(b, 0x11);
    assert_true(td_test_decode_bytes(P, NULL, b, n - 1, &ctx) < 0);
    assert_string_equal(ctx.err, "suntech: zip report of 53 bytes cut short");
    b[n - 1] = 0;
    assert_true(td_test_decode_bytes(P, NULL, b, n, &ctx) < 0);
    assert_string_equal(ctx.err, "suntech: zip report of 54 bytes without ETX");
    n = zip_frame(b, 0x11);
    b[13] = 13; /* month 13 */
    assert_true(td_test_decode_bytes(P, NULL, b, n, &ctx) < 0);
    assert_string_equal(ctx.err, "suntech: bad date in a zip report");
}

/* The family checks: besides detection, every vector cut at every length
 * and corrupted in its first 64 bytes, and random input, decode or fail
 * with a message naming suntech. */
static const td_test_family family = {
    .proto = &td_proto_suntech,
    .corrupt = {0x00, ';', '\r', '.', '-', 'A', '9', 0x02, 0xff},
    .ncorrupt = 9,
    .positions = 64,
    .random =
        {
            .rounds = 3000,
            .max_len = 300,
            .head = {"ST300STT;" ID ";04;512;"},
            .alphabet = "0123456789;.-:+STAEV",
        },
    .min_rejected = 100,
};

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_legacy_status),
        cmocka_unit_test(test_legacy_models),
        cmocka_unit_test(test_legacy_alerts),
        cmocka_unit_test(test_legacy_emergency),
        cmocka_unit_test(test_legacy_event),
        cmocka_unit_test(test_external_data),
        cmocka_unit_test(test_keep_alive),
        cmocka_unit_test(test_command_answers),
        cmocka_unit_test(test_universal_status),
        cmocka_unit_test(test_universal_alert_and_emergency),
        cmocka_unit_test(test_universal_sensors),
        cmocka_unit_test(test_zip_reports),
        TD_TEST_FAMILY_CASES(&family),
        cmocka_unit_test(test_detect_shapes),
        cmocka_unit_test(test_framer_split_everywhere),
        cmocka_unit_test(test_framer_limits),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
