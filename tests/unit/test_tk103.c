/*
 * Unit tests for the tk103 protocol (the "(" ... ")" TK103/KX402 text and
 * its comma variant). Frames are built from the layouts in
 * docs/protocols/tk103.md (made-up ids and values); the device vectors of
 * tests/vectors/protocols.jsonl run with the protocol forced and through
 * detection. One test per message type and per reply, byte for byte; then
 * detection against every other family (jt808's "(<digits>,<digits>,..."
 * text time request in particular), framing split at every byte, and
 * malformed input.
 */
#include "support.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/text.h"

#define ID "013600000001"
#define IMEI "865000000000001"
/* 2024-01-02 12:13:14 UTC, 22 34.5678' N 113 45.6789' E, 36.5 km/h,
 * course 45.50, charging, ACC on, fuel 0x0A0, 4660 m. */
#define GPS "240102A2234.5678N11345.6789E036.5121314045.50110000A0L00001234"

TD_TEST_PROTOCOL(tk103)

/* The fix of GPS, as decoded. */
static void assert_gps(const td_record *r)
{
    td_test_assert_fix(r, "2024-01-02T12:13:14Z", 22 + 34.5678 / 60, 113 + 45.6789 / 60, 36.5,
                       45.5);
    assert_string_equal(r->device_id, ID);
    assert_true(r->attr[TD_ATTR_CHARGING].b);
    assert_true(r->attr[TD_ATTR_IGNITION].b);
    assert_true(fabs(r->attr[TD_ATTR_ODOMETER].d - 0x1234) < 1e-9);
    assert_int_equal(td_test_raw_int(r, "fuel"), 0xA0);
    assert_string_equal(td_test_raw_str(r, "state"), "110000A0");
}

/* ---- message types and replies ---- */

static void test_handshake(void **state)
{
    (void)state;
    const td_record *r = one("(" ID "BP00" ID "HSO)");
    assert_int_equal(r->type, TD_REC_HEARTBEAT);
    assert_string_equal(r->device_id, ID);
    assert_string_equal(td_test_reply(&ctx), "(" ID "AP01HSO)");
    /* The short form without the id repeated. */
    one("(" ID "BP00HSO)");
    assert_string_equal(td_test_reply(&ctx), "(" ID "AP01HSO)");
}

static void test_login(void **state)
{
    (void)state;
    decode_n("(" ID "BP05" IMEI GPS ")", 2);
    assert_int_equal(ctx.rec[0].type, TD_REC_LOGIN);
    assert_string_equal(td_test_raw_str(&ctx.rec[0], "imei"), IMEI);
    assert_gps(&ctx.rec[1]);
    assert_string_equal(td_test_reply(&ctx), "(" ID "AP05)");
    assert_string_equal(sess.device_id, ID);
    /* A log-on without a fix: the login alone, answered the same. */
    one("(" ID "BP05" IMEI ")");
    assert_int_equal(ctx.rec[0].type, TD_REC_LOGIN);
    assert_string_equal(td_test_reply(&ctx), "(" ID "AP05)");
}

static void test_feedback(void **state)
{
    (void)state;
    const td_record *r = one("(" ID "BR00" GPS ")");
    assert_gps(r);
    assert_null(td_rec_raw_find(r, "type"));
    assert_int_equal(ctx.reply_len, 0); /* isochronous feedback is not answered */

    /* The other feedback and answer types carry the same block. */
    static const char *const types[] = {"BR01", "BR02", "BP04"};
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        char frame[160];
        snprintf(frame, sizeof(frame), "(" ID "%s" GPS ")", types[i]);
        r = one(frame);
        assert_gps(r);
        assert_string_equal(td_test_raw_str(r, "type"), types[i]);
        assert_int_equal(ctx.reply_len, 0);
    }
}

static void test_gps_block_forms(void **state)
{
    (void)state;
    /* Blank padding, south and west, no fix, an 11-digit id. */
    const td_record *r = one("(01360000001BR00240102V3345.1234S 7012.5000W  5.0121314 87.31"
                             "00000000L0000000A)");
    assert_false(r->valid);
    assert_true(fabs(r->latitude + (33 + 45.1234 / 60)) < 1e-6);
    assert_true(fabs(r->longitude + (70 + 12.5 / 60)) < 1e-6);
    assert_true(fabs(r->speed - 5) < 1e-9);
    assert_true(fabs(r->course - 87.31) < 1e-9);
    assert_true(fabs(r->attr[TD_ATTR_ODOMETER].d - 10) < 1e-9);
    assert_false(r->attr[TD_ATTR_IGNITION].b);
    /* Bytes after the mileage are kept. */
    r = one("(" ID "BR00" GPS "+017.7)");
    assert_string_equal(td_test_raw_str(r, "extra"), "+017.7");
    /* An impossible date keeps the server's time. */
    r = one("(" ID "BR00241830A2234.5678N11345.6789E036.5121314045.50110000A0L00001234)");
    assert_false(r->has_time);
}

static void test_alarms(void **state)
{
    (void)state;
    static const struct {
        char code;
        int alarm;
        const char *raw;
    } cases[] = {
        {'0', TD_ALARM_POWER_CUT, NULL},     {'1', -1, "accident"}, {'2', TD_ALARM_SOS, NULL},
        {'3', TD_ALARM_VIBRATION, NULL},     {'4', -1, "lowSpeed"}, {'5', TD_ALARM_OVERSPEED, NULL},
        {'6', TD_ALARM_GEOFENCE_EXIT, NULL}, {'9', -1, NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char frame[160], reply[64];
        snprintf(frame, sizeof(frame), "(" ID "BO01%c" GPS ")", cases[i].code);
        const td_record *r = one(frame);
        assert_gps(r);
        assert_int_equal(r->alarms, cases[i].alarm >= 0 ? TD_ALARM_BIT(cases[i].alarm) : 0);
        assert_int_equal(td_test_raw_int(r, "alarmCode"), cases[i].code - '0');
        if (cases[i].raw)
            assert_string_equal(td_test_raw_str(r, "alarm"), cases[i].raw);
        else
            assert_null(td_rec_raw_find(r, "alarm"));
        snprintf(reply, sizeof(reply), "(" ID "AS01%c)", cases[i].code);
        assert_string_equal(td_test_reply(&ctx), reply);
    }
}

static void test_cells(void **state)
{
    (void)state;
    const td_record *r = one("(" ID "BZ00,{460,0,20949,58711}\n{460,1,20494,54003}\n,01000000)");
    assert_int_equal(r->type, TD_REC_STATUS);
    assert_int_equal(r->ncells, 2);
    td_test_assert_cell(r, 0, 460, 0, 20949, 58711);
    td_test_assert_cell(r, 1, 460, 1, 20494, 54003);
    assert_string_equal(td_test_raw_str(r, "state"), "01000000");
    assert_int_equal(ctx.reply_len, 0);
}

static void test_vin_and_others(void **state)
{
    (void)state;
    const td_record *r = one("(" ID "BV001HGCM82633A004352)");
    assert_int_equal(r->type, TD_REC_OTHER);
    assert_string_equal(td_test_raw_str(r, "vin"), "1HGCM82633A004352");
    r = one("(" ID "BS5190:0215000075,91:0EE8)");
    assert_int_equal(r->type, TD_REC_OTHER);
    assert_string_equal(td_test_raw_str(r, "type"), "BS51");
    assert_string_equal(td_test_raw_str(r, "content"), "90:0215000075,91:0EE8");
    assert_int_equal(ctx.reply_len, 0);
}

static void test_comma_fix(void **state)
{
    (void)state;
    /* DW30: ddMMyy, fix, lat, lon, speed, time, course, altitude,
     * satellites. */
    const td_record *r =
        one("(" IMEI ",DW30,020124,A,2234.56780N,11345.67890E,1.500,121314,45.50,120.4,9,0)");
    td_test_assert_fix(r, "2024-01-02T12:13:14Z", 22 + 34.5678 / 60, 113 + 45.6789 / 60, 1.5, 45.5);
    assert_string_equal(r->device_id, IMEI);
    assert_true(fabs(r->altitude - 120.4) < 1e-9);
    assert_int_equal(r->attr[TD_ATTR_SATELLITES].i, 9);
    assert_string_equal(td_test_raw_str(r, "extra1"), "0");
    assert_int_equal(r->alarms, 0);
    assert_int_equal(ctx.reply_len, 0);

    /* BP05 in the comma form, with state and mileage. */
    r = one("(" ID ",BP05,020124,V,2234.5678N,11345.6789E,000.0,121314,178.48,01000000,L00000100)");
    assert_false(r->valid);
    assert_true(r->attr[TD_ATTR_IGNITION].b);
    assert_true(fabs(r->attr[TD_ATTR_ODOMETER].d - 256) < 1e-9);
}

static void test_comma_events(void **state)
{
    (void)state;
    static const struct {
        const char *type;
        int alarm, ignition;
    } cases[] = {
        {"ZC11", TD_ALARM_MOVEMENT, -1},
        {"DW31", TD_ALARM_MOVEMENT, -1},
        {"ZC12", TD_ALARM_LOW_BATTERY, -1},
        {"ZC13", TD_ALARM_POWER_CUT, -1},
        {"ZC15", -1, 1},
        {"ZC16", -1, 0},
        {"ZC17", TD_ALARM_REMOVAL, -1},
        {"ZC25", TD_ALARM_SOS, -1},
        {"DW3E", TD_ALARM_SOS, -1},
        {"ZC26", TD_ALARM_TAMPER, -1},
        {"ZC27", TD_ALARM_LOW_POWER, -1},
        {"ZC29", -1, 1},
        {"DW3B", -1, -1},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char frame[160];
        snprintf(frame, sizeof(frame), "(" IMEI ",%s,020124,A,2234.5678N,11345.6789E,0,121314,0)",
                 cases[i].type);
        const td_record *r = one(frame);
        assert_int_equal(r->alarms, cases[i].alarm >= 0 ? TD_ALARM_BIT(cases[i].alarm) : 0);
        assert_int_equal(td_rec_has(r, TD_ATTR_IGNITION), cases[i].ignition >= 0);
        if (cases[i].ignition >= 0)
            assert_int_equal(r->attr[TD_ATTR_IGNITION].b, cases[i].ignition == 1);
        assert_string_equal(td_test_raw_str(r, "type"), cases[i].type);
    }
}

static void test_comma_cells_and_wifi(void **state)
{
    (void)state;
    const td_record *r = one("(" IMEI ",DW5B,460,1,9338,3692,2,a0:b1:c2:d3:e4:f5*-59*11,"
                             "10:00:43:BA:22:15*-88*1,020124,121314)");
    assert_int_equal(r->type, TD_REC_POSITION);
    assert_false(r->valid);
    assert_int_equal(r->time_ms, td_test_utc(2024, 1, 2, 12, 13, 14));
    assert_int_equal(r->ncells, 1);
    td_test_assert_cell(r, 0, 460, 1, 9338, 3692);
    assert_int_equal(r->nwifi, 2);
    assert_string_equal(r->wifi[0].mac, "a0:b1:c2:d3:e4:f5");
    assert_int_equal(r->wifi[0].rssi, -59);
    assert_string_equal(r->wifi[1].mac, "10:00:43:ba:22:15");
    /* DW51: the same with the movement alarm; no Wi-Fi. */
    r = one("(" IMEI ",DW51,460,1,9338,3692,0,020124,121314)");
    assert_int_equal(r->alarms, TD_ALARM_BIT(TD_ALARM_MOVEMENT));
    assert_int_equal(r->nwifi, 0);
}

static void test_comma_battery_and_text(void **state)
{
    (void)state;
    const td_record *r = one("(" ID ",ZC20,020124,121314,6,392,1250,1)");
    assert_int_equal(r->type, TD_REC_STATUS);
    assert_int_equal(r->time_ms, td_test_utc(2024, 1, 2, 12, 13, 14));
    assert_true(fabs(r->attr[TD_ATTR_BATTERY].d - 3.92) < 1e-9);
    assert_true(fabs(td_test_raw_double(r, "power") - 12.5) < 1e-9);
    assert_int_equal(td_test_raw_int(r, "batteryStep"), 6);
    assert_int_equal(td_test_raw_int(r, "installed"), 1);
    /* No external power: 65535. */
    r = one("(" ID ",ZC20,020124,121314,6,392,65535,255)");
    assert_null(td_rec_raw_find(r, "power"));

    /* A text answer between '$' signs, a ')' inside. */
    r = one("(" IMEI ",ZC03,020124,121314,$1 .Check interval is set to 240 minute(s).\r\n$)");
    assert_int_equal(r->type, TD_REC_OTHER);
    assert_string_equal(td_test_raw_str(r, "type"), "ZC03");
    assert_int_equal(r->time_ms, td_test_utc(2024, 1, 2, 12, 13, 14));
    assert_non_null(
        strstr(td_test_raw_str(r, "content"), "240 minute(s).")); /* line ends as blanks */
}

/* ---- vectors, detection, framing ---- */

/* tk103 does not take jt808's (...) text, even though it starts the same. */
static void test_detect_jt808_text(void **state)
{
    (void)state;
    static const char *const jt808[] = {"(794104004140,1,001,BASE,2,TIME)",
                                        "(123456789012,1,001,BASE,2,TIME)"};
    for (size_t i = 0; i < sizeof(jt808) / sizeof(jt808[0]); i++) {
        for (size_t len = 1; len <= strlen(jt808[i]); len++)
            assert_int_not_equal(P->detect((const uint8_t *)jt808[i], len), TD_DETECT_YES);
        assert_int_equal(P->detect((const uint8_t *)jt808[i], strlen(jt808[i])), TD_DETECT_NO);
        bool maybe;
        assert_ptr_equal(td_detect((const uint8_t *)jt808[i], strlen(jt808[i]), TD_TCP, &maybe),
                         td_protocol_find("jt808"));
    }
}

static void test_detect_shapes(void **state)
{
    (void)state;
    static const char *const maybe[] = {
        "(",          "(0136",      "(" ID,          "(" ID "B",
        "(" ID "BP0", "(" IMEI ",", "(" IMEI ",DW3", "(" IMEI ",DW3B"};
    static const char *const no[] = {
        "x",
        "((",
        "(123456789B",                /* id too short */
        "(123456789012345678901",     /* id too long */
        "(" ID "bp05",                /* lower case */
        "(" ID "B1",                  /* a digit in the letters */
        "(" ID ",1,001,BASE,2,TIME)", /* jt808 */
        "(" ID ",DW3B;",
        "(" IMEI ",DW3BX",
    };
    static const char *const yes[] = {"(" ID "BP05", "(" ID "BR00", "(" IMEI ",DW3B,",
                                      "(" ID ",ZC20,", "(01029131573BR00"};
    td_test_detect_each(P, maybe, TD_TEST_COUNT(maybe), TD_DETECT_MAYBE);
    td_test_detect_each(P, no, TD_TEST_COUNT(no), TD_DETECT_NO);
    td_test_detect_each(P, yes, TD_TEST_COUNT(yes), TD_DETECT_YES);
}

/* Frames back to back, split in two at every byte (noise between frames
 * is in test_framer_limits): the same frames come out. */
static void test_framer_split_everywhere(void **state)
{
    (void)state;
    static const char *const text[] = {
        "(" ID "BP05" IMEI GPS ")",
        "(" ID "BR00" GPS ")",
        "(" ID "BP00HSO)",
        "(" IMEI ",ZC03,020124,121314,$interval 240 minute(s).\r\n$)",
        "(" ID "BZ00,{460,0,20949,58711}\n{460,1,20494,54003}\n,01000000)",
        "(" ID "BO012" GPS ")",
    };
    static td_test_stream s;

    td_test_stream_reset(&s);
    td_test_stream_texts(&s, text, TD_TEST_COUNT(text));
    td_test_split_everywhere(P, &s, s.n);
}

static void test_framer_limits(void **state)
{
    (void)state;
    size_t skip;

    td_test_frame_too_big(P, "(" ID "BS51", 'a', 4096);
    td_test_frame_fits(P, "(" ID "BS51", 'a', 2000, ')');
    assert_int_equal(P->frame((const uint8_t *)"\r\nxx", 4, &skip), 0);
    assert_int_equal(skip, 4);
}

static void test_errors(void **state)
{
    (void)state;
    static const td_test_error cases[] = {
        {"", "tk103: frame does not start with '('"},
        {"x" ID "BP00)", "tk103: frame does not start with '('"},
        {"(" ID "BP00", "tk103: frame does not end with ')'"},
        {"(" ID "BP00\x01)", "tk103: byte 0x01 at 17"},
        {"(123BP00)", "tk103: bad device id '123'"},
        {"(BP00)", "tk103: bad device id 'BP00'"},
        {"(" ID "BP)", "tk103: no message type after the id"},
        {"(" ID "B1P0)", "tk103: bad message type 'B1P0'"},
        {"(" ID "BO01)", "tk103: BO01 without an alarm code"},
        {"(" ID "BO01x)", "tk103: bad alarm code 'x'"},
        {"(" ID "BO012)", "tk103: bad BO01 position ''"},
        {"(" ID "BR00240102A9934.5678N11345.6789E036.5121314045.50110000A0L00001234)",
         "tk103: bad latitude '9934.5678N'"},
        {"(" ID "BR00240102A2234.5678N18145.6789E036.5121314045.50110000A0L00001234)",
         "tk103: bad longitude '18145.6789E'"},
        {"(" ID "BR00240102A2234.5678N11345.6789E0x6.5121314045.50110000A0L00001234)",
         "tk103: bad speed '0x6.5'"},
        {"(" ID "BR00240102A2234.5678N11345.6789E036.5121314405.50110000A0L00001234)",
         "tk103: bad course '405.50'"},
        {"(" ID "BZ00,{460,0,1})", "tk103: bad cell '{460,0,1}'"},
        {"(" ID "BZ00,{460,0,1,2)", "tk103: bad cell '{460,0,1,2'"},
        {"(" ID ",DW5B,460,0,1,2,3,020124,121314)", "tk103: 3 Wi-Fi points but 7 fields"},
        {"(" ID ",DW5B,460,0,1,2,1,zz*-5*1,020124,121314)", "tk103: bad Wi-Fi point 'zz*-5*1'"},
        {"(" ID ",ZC20,020124,121314,6)", "tk103: ZC20 with 3 of 6 fields"},
        {"(" ID ",ZC20,020124,121314,x,1,2,3)", "tk103: bad battery field 'x'"},
        {"(" ID ",DW30,020124,X,2234.5678N,11345.6789E,0,121314,0)", "tk103: bad validity 'X'"},
        {"(" ID ",DW30,020124,A,9934.5678N,11345.6789E,0,121314,0)",
         "tk103: bad latitude '9934.5678N'"},
        {"(" ID ",LONGER,1)", "tk103: bad message type 'LONGER'"},
    };
    td_test_expect_errors(P, cases, TD_TEST_COUNT(cases));
}

/* The family checks: besides detection, every vector cut at every length
 * and corrupted in its first 160 bytes, and random input, decode or fail
 * with a message naming tk103 (what they accept is sane), mostly fail. */
static const td_test_family family = {
    .proto = &td_proto_tk103,
    .corrupt = {0x00, ',', '(', ')', '.', 'A', '9', 0xff},
    .ncorrupt = 8,
    .positions = 160,
    .mostly_rejected = true,
    .random =
        {
            .rounds = 3000,
            .max_len = 200,
            .head = {"(" ID "BR00", "(" IMEI ",DW30,"},
            .alphabet = "0123456789,.()${}ABLNSEWVPRZ \n",
        },
    .min_rejected = 2500,
};

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_handshake),
        cmocka_unit_test(test_login),
        cmocka_unit_test(test_feedback),
        cmocka_unit_test(test_gps_block_forms),
        cmocka_unit_test(test_alarms),
        cmocka_unit_test(test_cells),
        cmocka_unit_test(test_vin_and_others),
        cmocka_unit_test(test_comma_fix),
        cmocka_unit_test(test_comma_events),
        cmocka_unit_test(test_comma_cells_and_wifi),
        cmocka_unit_test(test_comma_battery_and_text),
        TD_TEST_FAMILY_CASES(&family),
        cmocka_unit_test(test_detect_jt808_text),
        cmocka_unit_test(test_detect_shapes),
        cmocka_unit_test(test_framer_split_everywhere),
        cmocka_unit_test(test_framer_limits),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
