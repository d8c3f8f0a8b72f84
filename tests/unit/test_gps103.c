/*
 * Unit tests for the gps103 protocol (Coban GPS103/TK103/TK303 and clones).
 * Frames are built from the layouts in docs/protocols/gps103.md (made-up
 * ids and values); the device vectors of tests/vectors/protocols.jsonl run
 * with the protocol forced and through detection. One test per message
 * type and per reply, byte for byte; then the keywords, detection against
 * every other family (gotop's "<imei>,CMD-" in particular), framing split
 * at every byte, and malformed input.
 */
#include "support.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/text.h"

#define IMEI "865000000000001"
#define FIX "F,121314.000,A,2234.5678,N,11345.6789,E,10.00,45.5"

TD_TEST_PROTOCOL(gps103)

/* ---- message types and replies ---- */

static void test_login(void **state)
{
    (void)state;
    const td_record *r = one("##,imei:" IMEI ",A;");
    assert_int_equal(r->type, TD_REC_LOGIN);
    assert_string_equal(r->device_id, IMEI);
    assert_string_equal(sess.device_id, IMEI);
    assert_string_equal(td_test_reply(&ctx), "LOAD");
    assert_int_equal(ctx.reply_len, 4);
}

static void test_heartbeat(void **state)
{
    (void)state;
    const td_record *r = one(IMEI ";");
    assert_int_equal(r->type, TD_REC_HEARTBEAT);
    assert_string_equal(r->device_id, IMEI);
    assert_string_equal(td_test_reply(&ctx), "ON");
    assert_int_equal(ctx.reply_len, 2);

    /* Without its ';' (as `trackd decode` hands a line over). */
    r = one(IMEI);
    assert_int_equal(r->type, TD_REC_HEARTBEAT);
    assert_string_equal(td_test_reply(&ctx), "ON");
}

static void test_heartbeat_glued_to_report(void **state)
{
    (void)state;
    decode_n(IMEI "imei:" IMEI ",tracker,2401021213,," FIX ";", 2);
    assert_int_equal(ctx.rec[0].type, TD_REC_HEARTBEAT);
    assert_int_equal(ctx.rec[1].type, TD_REC_POSITION);
    assert_string_equal(ctx.rec[1].device_id, IMEI);
    assert_string_equal(td_test_reply(&ctx), "ON");
}

static void test_position(void **state)
{
    (void)state;
    const td_record *r =
        one("imei:" IMEI ",tracker,2401022013,13800000000," FIX ",120.5,1,0,45.50%,12.00%,+21;");
    /* Local 2024-01-02 20:13 (UTC+8); the fix at 12:13:14 UTC that day;
     * 10 knots. */
    td_test_assert_fix(r, "2024-01-02T12:13:14Z", 22 + 34.5678 / 60, 113 + 45.6789 / 60, 18.52,
                       45.5);
    assert_string_equal(r->device_id, IMEI);
    assert_true(fabs(r->altitude - 120.5) < 1e-9);
    assert_true(td_rec_has(r, TD_ATTR_IGNITION));
    assert_true(r->attr[TD_ATTR_IGNITION].b);
    assert_false(td_test_raw_bool(r, "door"));
    assert_true(fabs(td_test_raw_double(r, "fuel1") - 45.5) < 1e-9);
    assert_true(fabs(td_test_raw_double(r, "fuel2") - 12) < 1e-9);
    assert_true(fabs(td_test_raw_double(r, "temperature") - 21) < 1e-9);
    assert_string_equal(td_test_raw_str(r, "phone"), "13800000000");
    assert_string_equal(td_test_raw_str(r, "keyword"), "tracker");
    assert_int_equal(r->alarms, 0);
    assert_int_equal(ctx.reply_len, 0); /* reports are not answered */
}

static void test_position_south_west_invalid(void **state)
{
    (void)state;
    const td_record *r = one("imei:" IMEI ",tracker,240102121314,,F,121314,V,3345.1234,S,"
                             "07012.5000,W,0.00,;");
    assert_false(r->valid);
    assert_true(fabs(r->latitude + (33 + 45.1234 / 60)) < 1e-6);
    assert_true(fabs(r->longitude + (70 + 12.5 / 60)) < 1e-6);
    assert_true(r->speed == 0 && r->course == 0);
    /* Coordinates with five decimals and a longitude with two degree
     * digits. */
    r = one("imei:" IMEI ",tracker,1308282156,,F,215630.000,A,5602.11015,N,9246.30767,E,1.4,,;");
    assert_true(fabs(r->latitude - (56 + 2.11015 / 60)) < 1e-7);
    assert_true(fabs(r->longitude - (92 + 46.30767 / 60)) < 1e-7);
}

/* The UTC date is the local date or a day either side, whichever lies
 * closest to the local time. */
static void test_time_zones(void **state)
{
    (void)state;
    /* Local 2024-01-03 01:30 at UTC+8: the fix at 17:30 UTC is the 2nd. */
    const td_record *r = one("imei:" IMEI ",tracker,2401030130,,"
                             "F,173000.000,A,2234.5678,N,"
                             "11345.6789,E,0,0;");
    assert_int_equal(r->time_ms, td_test_utc(2024, 1, 2, 17, 30, 0));
    /* Local 2024-01-02 19:00 at UTC-6: the fix at 01:00 UTC is the 3rd. */
    r = one("imei:" IMEI ",tracker,2401021900,,F,010000,A,2234.5678,N,11345.6789,E,0,0;");
    assert_int_equal(r->time_ms, td_test_utc(2024, 1, 3, 1, 0, 0));
    /* The "yy/MM/dd HH:mm" form. */
    r = one("imei:" IMEI ",tracker,24/01/02 14:23,,F,062209.000,A,0626.0411,N,10149.3904,E,0,0;");
    assert_int_equal(r->time_ms, td_test_utc(2024, 1, 2, 6, 22, 9));
    /* No local time: the server's date (2026-01-02 03:04:05). */
    r = one("imei:" IMEI ",tracker,000000000,,F,030000,A,2234.5678,N,11345.6789,E,0,0;");
    assert_int_equal(r->time_ms, td_test_utc(2026, 1, 2, 3, 0, 0));
    r = one("imei:" IMEI ",tracker,000000000,,F,230000,A,2234.5678,N,11345.6789,E,0,0;");
    assert_int_equal(r->time_ms, td_test_utc(2026, 1, 1, 23, 0, 0));
    /* No readable UTC time: the local time as it stands. */
    r = one("imei:" IMEI ",tracker,150401165832,61.0,F,31.0,A,1050.73696,N,10636.49489,E,8.0,,;");
    assert_int_equal(r->time_ms, td_test_utc(2015, 4, 1, 16, 58, 32));
    assert_true(r->has_time);
}

static void test_no_fix_cell(void **state)
{
    (void)state;
    const td_record *r = one("imei:" IMEI ",tracker,000000000,,L,,,fa8,,c9af,,,,,0,0,0.00%,,;");
    assert_int_equal(r->type, TD_REC_STATUS);
    assert_false(r->has_time);
    assert_int_equal(r->ncells, 1);
    assert_int_equal(r->cells[0].lac, 0xfa8);
    assert_int_equal(r->cells[0].cid, 0xc9af);
    assert_false(r->attr[TD_ATTR_IGNITION].b);
    assert_true(td_rec_has(r, TD_ATTR_IGNITION));

    /* The shortest no-fix alarm of the document. */
    r = one("imei:" IMEI ",help me,000000000,13800000000,L,;");
    assert_int_equal(r->type, TD_REC_STATUS);
    assert_true(r->alarms & TD_ALARM_BIT(TD_ALARM_SOS));
    assert_int_equal(r->ncells, 0);
    assert_string_equal(td_test_reply(&ctx), "**,imei:" IMEI ",E;");
}

static void test_keywords(void **state)
{
    (void)state;
    static const struct {
        const char *keyword;
        int alarm;       /* or -1 */
        const char *raw; /* raw `alarm`, or NULL */
    } cases[] = {
        {"help me", TD_ALARM_SOS, NULL},
        {"low battery", TD_ALARM_LOW_BATTERY, NULL},
        {"move", TD_ALARM_MOVEMENT, NULL},
        {"speed", TD_ALARM_OVERSPEED, NULL},
        {"stockade", TD_ALARM_GEOFENCE_EXIT, NULL},
        {"ac alarm", TD_ALARM_POWER_CUT, NULL},
        {"sensor alarm", TD_ALARM_VIBRATION, NULL},
        {"door alarm", -1, "door"},
        {"acc alarm", -1, "accAlarm"},
        {"accident alarm", -1, "accident"},
        {"bonnet alarm", -1, "bonnet"},
        {"footbrake alarm", -1, "footBrake"},
        {"DTC", -1, "fault"},
        {"oil 51.67", -1, "fuel"},
        {"T:+45", -1, "temperature"},
        {"tracker", -1, NULL},
    };
    char frame[256];

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        snprintf(frame, sizeof(frame), "imei:" IMEI ",%s,2401022013,," FIX ",;", cases[i].keyword);
        const td_record *r = one(frame);
        assert_string_equal(td_test_raw_str(r, "keyword"), cases[i].keyword);
        assert_int_equal(r->alarms, cases[i].alarm >= 0 ? TD_ALARM_BIT(cases[i].alarm) : 0);
        if (cases[i].raw)
            assert_string_equal(td_test_raw_str(r, "alarm"), cases[i].raw);
        else
            assert_null(td_rec_raw_find(r, "alarm"));
        /* Only the SOS is answered, with the cancel-alarm command. */
        if (cases[i].alarm == TD_ALARM_SOS)
            assert_string_equal(td_test_reply(&ctx), "**,imei:" IMEI ",E;");
        else
            assert_int_equal(ctx.reply_len, 0);
    }

    /* acc on / acc off set the ignition, over the acc field. */
    const td_record *r = one("imei:" IMEI ",acc on,2401022013,," FIX ",,0,0;");
    assert_true(r->attr[TD_ATTR_IGNITION].b);
    r = one("imei:" IMEI ",acc off,2401022013,," FIX ",,1,1;");
    assert_false(r->attr[TD_ATTR_IGNITION].b);

    /* rfid: the phone field holds the card number. */
    r = one("imei:" IMEI ",rfid,2401022013,49121185," FIX ";");
    assert_string_equal(td_test_raw_str(r, "rfid"), "49121185");
    assert_null(td_rec_raw_find(r, "phone"));
}

static void test_obd(void **state)
{
    (void)state;
    const td_record *r = one("imei:" IMEI ",OBD,240102121314,51442,1.50,15.88,5632,122,40.39%,95,"
                             "12.5%,2101,13.80,P0137,P0430,,;");
    assert_int_equal(r->type, TD_REC_STATUS);
    assert_int_equal(r->time_ms, td_test_utc(2024, 1, 2, 12, 13, 14));
    assert_true(fabs(r->attr[TD_ATTR_ODOMETER].d - 51442000) < 1e-6);
    assert_true(fabs(r->attr[TD_ATTR_BATTERY].d - 13.8) < 1e-9);
    assert_true(fabs(td_test_raw_double(r, "fuelInstant") - 1.5) < 1e-9);
    assert_true(fabs(td_test_raw_double(r, "fuelAverage") - 15.88) < 1e-9);
    assert_true(fabs(td_test_raw_double(r, "engineHours") - 5632) < 1e-9);
    assert_true(fabs(td_test_raw_double(r, "obdSpeed") - 122) < 1e-9);
    assert_true(fabs(td_test_raw_double(r, "engineLoad") - 40.39) < 1e-9);
    assert_true(fabs(td_test_raw_double(r, "coolantTemperature") - 95) < 1e-9);
    assert_true(fabs(td_test_raw_double(r, "throttle") - 12.5) < 1e-9);
    assert_true(fabs(td_test_raw_double(r, "rpm") - 2101) < 1e-9);
    assert_string_equal(td_test_raw_str(r, "dtcs"), "P0137 P0430");
    assert_int_equal(ctx.reply_len, 0);

    /* Empty readings are left out. */
    r = one("imei:" IMEI ",OBD,240102121314,,,,0,0,0.00%,0,0.00%,0,0.00,,,,;");
    assert_false(td_rec_has(r, TD_ATTR_ODOMETER));
    assert_null(td_rec_raw_find(r, "fuelInstant"));
    assert_null(td_rec_raw_find(r, "dtcs"));
}

static void test_decimal_layout(void **state)
{
    (void)state;
    const td_record *r = one("imei:" IMEI ",Unit 7,---,------,----,101112,020124,9,0,-33.50000,"
                             "-70.25000,050,180,0560,1.2,00,0,1,---,*");
    assert_int_equal(r->type, TD_REC_POSITION);
    assert_int_equal(r->time_ms, td_test_utc(2024, 1, 2, 10, 11, 12));
    assert_true(r->valid);
    assert_true(fabs(r->latitude + 33.5) < 1e-9);
    assert_true(fabs(r->longitude + 70.25) < 1e-9);
    assert_true(fabs(r->speed - 50) < 1e-9);
    assert_true(fabs(r->course - 180) < 1e-9);
    assert_true(fabs(r->altitude - 560) < 1e-9);
    assert_int_equal(r->attr[TD_ATTR_SATELLITES].i, 9);
    assert_true(fabs(r->attr[TD_ATTR_HDOP].d - 1.2) < 1e-9);
    assert_string_equal(td_test_raw_str(r, "keyword"), "Unit 7");
}

static void test_other_keywords(void **state)
{
    (void)state;
    const td_record *r = one("imei:" IMEI ",vr,0c00fa011ea05a03;");
    assert_int_equal(r->type, TD_REC_OTHER);
    assert_string_equal(td_test_raw_str(r, "keyword"), "vr");
    assert_int_equal(td_test_raw_int(r, "contentLength"), 16);
    assert_int_equal(ctx.reply_len, 0);
}

static void test_session_identity(void **state)
{
    (void)state;
    td_session s;
    memset(&s, 0, sizeof(s));
    assert_int_equal(td_test_decode(P, &s, "##,imei:" IMEI ",A;", &ctx), 0);
    assert_string_equal(s.device_id, IMEI);
    assert_int_equal(td_test_decode(P, &s, IMEI ";", &ctx), 0);
    assert_string_equal(ctx.rec[0].device_id, IMEI);
    assert_int_equal(td_test_decode(P, &s, "imei:" IMEI ",tracker,2401022013,," FIX ";", &ctx), 0);
    assert_string_equal(ctx.rec[0].device_id, IMEI);
}

/* ---- vectors, detection, framing ---- */

static void test_detect_shapes(void **state)
{
    (void)state;
    static const char *const maybe[] = {"#",      "##",       "##,",   "##,imei:", "##,imei:8650",
                                        "i",      "ime",      "imei:", "imei:865", IMEI,
                                        IMEI "i", IMEI "imei"};
    static const char *const no[] = {
        "#8",                          /* gotop's opener */
        "##8650",                      /* gotop too */
        "##,imei:,A;",                 /* no id */
        "imei:,tracker",               /* no id */
        "imei:86a",                    /* id of digits */
        "imei:123456789012345678901,", /* id too long */
        "Imei:" IMEI ",",
        IMEI ",CMD-T", /* gotop */
        "123456789;",  /* heartbeat id too short */
        IMEI "x",
        "123456789012345678901;", /* too long */
    };
    static const char *const yes[] = {"##,imei:8,", "imei:" IMEI ",", IMEI ";",
                                      IMEI "\r\n",  "1234567890;",    IMEI "imei:"};
    td_test_detect_each(P, maybe, TD_TEST_COUNT(maybe), TD_DETECT_MAYBE);
    td_test_detect_each(P, no, TD_TEST_COUNT(no), TD_DETECT_NO);
    td_test_detect_each(P, yes, TD_TEST_COUNT(yes), TD_DETECT_YES);

    /* A bare heartbeat id, the whole input: recognized at its end. */
    td_test_run run;
    td_test_run_bytes(NULL, (const uint8_t *)IMEI, strlen(IMEI), &run);
    assert_ptr_equal(run.proto, P);
    assert_int_equal(run.errors, 0);
    assert_int_equal(json_array_size(run.records), 1);
    td_test_run_free(&run);
    /* While gotop's frames still start the same way. */
    bool maybe_;
    assert_null(td_detect((const uint8_t *)IMEI, strlen(IMEI), TD_TCP, &maybe_));
    assert_true(maybe_);
}

/* Frames back to back, split in two at every byte (noise between frames
 * is in test_framer_limits): the same frames come out. */
static void test_framer_split_everywhere(void **state)
{
    (void)state;
    static const char *const text[] = {
        "##,imei:" IMEI ",A;",
        IMEI ";",
        "imei:" IMEI ",tracker,2401022013,," FIX ",;",
        "imei:" IMEI ",help me,000000000,13800000000,L,;",
        "imei:" IMEI ",OBD,240102121314,51442,1.50,15.88,5632,122,40.39%,95,12.5%,2101,13.80,,,,;",
        "imei:" IMEI ",tracker,2401022013,," FIX, /* ended by a line end */
    };
    static td_test_stream s;

    td_test_stream_reset(&s);
    td_test_stream_texts(&s, text, TD_TEST_COUNT(text));
    /* The last frame ends with the input. */
    td_test_split_everywhere(P, &s, s.n - 1);
}

static void test_framer_limits(void **state)
{
    (void)state;
    size_t skip;

    td_test_frame_too_big(P, "imei:" IMEI ",vr,", 'a', 4096);
    td_test_frame_fits(P, "imei:" IMEI ",vr,", 'a', 2000, ';');
    assert_int_equal(P->frame((const uint8_t *)";;\r\n ", 5, &skip), 0);
    assert_int_equal(skip, 5);
}

static void test_errors(void **state)
{
    (void)state;
    static const td_test_error cases[] = {
        {"", "gps103: empty frame"},
        {";", "gps103: empty frame"},
        {"imei:" IMEI ",tracker\x01;", "gps103: byte 0x01 at 28"},
        {"hello;", "gps103: frame starts with 'hello', not 'imei:'"},
        {"##,imei:,A;", "gps103: bad device id ''"},
        {"##,imei:12a,A;", "gps103: bad device id '12a'"},
        {IMEI "x;", "gps103: bad heartbeat '" IMEI "x'"},
        {"imei:,tracker,1;", "gps103: bad device id ''"},
        {"imei:" IMEI ";", "gps103: no keyword after the id"},
        {"imei:" IMEI ",tracker;", "gps103: 'tracker' without a time field"},
        {"imei:" IMEI ",tracker,2401022013,,F,121314,A,9934.5678,N,11345.6789,E,0,0;",
         "gps103: bad latitude '9934.5678'"},
        {"imei:" IMEI ",tracker,2401022013,,F,121314,A,2234.5678,X,11345.6789,E,0,0;",
         "gps103: bad latitude '2234.5678'"},
        {"imei:" IMEI ",tracker,2401022013,,F,121314,A,2234.5678,N,18145.6789,E,0,0;",
         "gps103: bad longitude '18145.6789'"},
        {"imei:" IMEI ",tracker,2401022013,,F,121314,A,2234.5678,N,11345.6789,E,x,0;",
         "gps103: bad speed 'x'"},
        {"imei:" IMEI ",tracker,2401022013,,F,121314,A,2234.5678,N,11345.6789,E,0,400;",
         "gps103: bad course '400'"},
        {"imei:" IMEI ",tracker,2401022013,,F,121314,Z,2234.5678,N,11345.6789,E,0,0;",
         "gps103: bad validity 'Z'"},
        {"imei:" IMEI ",x,---,------,----,101112,320124,9,0,-33.5,-70.25,0,0,0,1.2,0;",
         "gps103: bad date '320124'"},
        {"imei:" IMEI ",x,---,------,----,101112,020124,9,0,-93.5,-70.25,0,0,0,1.2,0;",
         "gps103: bad latitude '-93.5'"},
    };
    td_test_expect_errors(P, cases, TD_TEST_COUNT(cases));
}

/* The family checks: besides detection, every vector cut at every length
 * and corrupted in its first 160 bytes, and random input, decode or fail
 * with a message naming gps103 (what they accept is sane). */
static const td_test_family family = {
    .proto = &td_proto_gps103,
    .corrupt = {0x00, ',', ';', '.', 'F', 'L', '9', 0xff},
    .ncorrupt = 8,
    .positions = 160,
    .random =
        {
            .rounds = 3000,
            .max_len = 200,
            .head = {"imei:" IMEI ",tracker,", "imei:" IMEI ",OBD,"},
            .alphabet = "0123456789,.;:-+%FLAVNSEWimeh ",
        },
    .min_rejected = 1000,
};

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_login),
        cmocka_unit_test(test_heartbeat),
        cmocka_unit_test(test_heartbeat_glued_to_report),
        cmocka_unit_test(test_position),
        cmocka_unit_test(test_position_south_west_invalid),
        cmocka_unit_test(test_time_zones),
        cmocka_unit_test(test_no_fix_cell),
        cmocka_unit_test(test_keywords),
        cmocka_unit_test(test_obd),
        cmocka_unit_test(test_decimal_layout),
        cmocka_unit_test(test_other_keywords),
        cmocka_unit_test(test_session_identity),
        TD_TEST_FAMILY_CASES(&family),
        cmocka_unit_test(test_detect_shapes),
        cmocka_unit_test(test_framer_split_everywhere),
        cmocka_unit_test(test_framer_limits),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
