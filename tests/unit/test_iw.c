/*
 * Unit tests for the iw protocol (IWAP / TRV health bracelets). Every frame
 * here is built from the layouts in docs/protocols/iw.md (IMEI
 * 860000000000001, made-up values); the captured device vectors run in
 * test_vectors. One test per message type, then detection, framing over a
 * stream split at every byte, and malformed input. Last the downlink: every
 * command type byte for byte as the fact sheet's §4 writes it, the device
 * answers that acknowledge them, voice chunks as media, encoder errors.
 */
#include "support.h"

#include <stdio.h>
#include <string.h>

#include "core/text.h"

#define IMEI "860000000000001"
#define GPS_A "240315A5130.1234N00007.5678W002.3101530045.00"
#define STATUS "07500809500001"
#define GPS_LEN 45 /* characters of the GPS block */
#define WIFI2 "net1|aa-bb-cc-dd-ee-01|62&net2|aa-bb-cc-dd-ee-02|55"

TD_TEST_PROTOCOL(iw)

/* A session that has logged in. */
static td_session *logged_in(void)
{
    memset(&sess, 0, sizeof(sess));
    memset(&ctx, 0, sizeof(ctx));
    assert_int_equal(td_test_decode(P, &sess, "IWAP00" IMEI "#", &ctx), 0);
    assert_string_equal(sess.device_id, IMEI);
    return &sess;
}

/* Decodes one frame in the logged-in session; expects success and one record. */
static const td_record *logged_one(const char *frame)
{
    td_session *s = logged_in();
    assert_int_equal(td_test_decode(P, s, frame, &ctx), 0);
    assert_int_equal(ctx.nrec, 1);
    assert_string_equal(ctx.rec[0].device_id, IMEI);
    return &ctx.rec[0];
}

/* The fix of GPS_A: 2024-03-15 10:15:30 UTC, 51deg 30.1234'N 0deg 7.5678'W. */
static void assert_gps_a(const td_record *r)
{
    td_test_assert_fix(r, "2024-03-15T10:15:30Z", 51 + 30.1234 / 60, -(7.5678 / 60), 2.3, 45.0);
}

static void assert_status_a(const td_record *r)
{
    assert_int_equal(td_test_attr_int(r, TD_ATTR_RSSI), 75);
    assert_int_equal(td_test_attr_int(r, TD_ATTR_SATELLITES), 8);
    assert_int_equal(td_test_attr_int(r, TD_ATTR_BATTERY_LEVEL), 95);
    assert_int_equal(td_test_raw_int(r, "fortification"), 0);
    assert_int_equal(td_test_raw_int(r, "workMode"), 1);
}

static void test_login(void **state)
{
    (void)state;
    memset(&sess, 0, sizeof(sess));
    memset(&ctx, 0, sizeof(ctx));
    ctx.tz_minutes = 480;
    assert_int_equal(td_test_decode(P, &sess, "IWAP00" IMEI "#", &ctx), 0);
    assert_int_equal(ctx.nrec, 1);
    assert_int_equal(ctx.rec[0].type, TD_REC_LOGIN);
    assert_string_equal(ctx.rec[0].device_id, IMEI);
    assert_string_equal(sess.device_id, IMEI);
    assert_false(ctx.rec[0].has_time);
    td_test_assert_reply(&ctx, "IWBP00,20260102030405,8#");

    /* Newer firmwares append ICCID and IMSI; a half-hour zone. */
    memset(&sess, 0, sizeof(sess));
    ctx.tz_minutes = -210;
    assert_int_equal(
        td_test_decode(P, &sess, "IWAP00" IMEI ",89440000000000000001,234150000000001#", &ctx), 0);
    assert_string_equal(sess.device_id, IMEI);
    assert_string_equal(td_test_raw_str(&ctx.rec[0], "iccid"), "89440000000000000001");
    assert_string_equal(td_test_raw_str(&ctx.rec[0], "imsi"), "234150000000001");
    td_test_assert_reply(&ctx, "IWBP00,20260102030405,-3.5#");
    ctx.tz_minutes = 0;
}

static void test_position_ap01(void **state)
{
    (void)state;
    const td_record *r = logged_one("IWAP01" GPS_A STATUS ",234,15,1234,56789," WIFI2 "#");
    assert_gps_a(r);
    assert_status_a(r);
    assert_int_equal(r->alarms, 0);
    assert_int_equal(r->ncells, 1);
    assert_int_equal(r->cells[0].mcc, 234);
    assert_int_equal(r->cells[0].mnc, 15);
    assert_int_equal(r->cells[0].lac, 1234);
    assert_int_equal(r->cells[0].cid, 56789);
    assert_false(r->cells[0].has_rssi);
    assert_int_equal(r->nwifi, 2);
    assert_string_equal(r->wifi[0].mac, "aa:bb:cc:dd:ee:01");
    assert_int_equal(r->wifi[0].rssi, -62);
    assert_string_equal(r->wifi[1].mac, "aa:bb:cc:dd:ee:02");
    assert_int_equal(r->wifi[1].rssi, -55);
    assert_false(td_rec_has(r, TD_ATTR_IGNITION));
    td_test_assert_reply(&ctx, "IWBP01#");
}

static void test_position_invalid_south_east(void **state)
{
    (void)state;
    /* 'V' fix, southern/eastern hemisphere, extra status digits, no '#'. */
    const td_record *r = logged_one("IWAP01240229V3352.1000S15112.6000E000.0235959359.99" STATUS
                                    "123,505,1,100,2000");
    assert_int_equal(r->type, TD_REC_POSITION);
    assert_false(r->valid);
    assert_int_equal(r->time_ms, td_test_utc(2024, 2, 29, 23, 59, 59));
    assert_float_equal(r->latitude, -(33 + 52.1 / 60), 1e-6);
    assert_float_equal(r->longitude, 151 + 12.6 / 60, 1e-6);
    assert_float_equal(r->course, 359.99, 1e-9);
    assert_string_equal(td_test_raw_str(r, "statusExtra"), "123");
    assert_int_equal(r->ncells, 1);
    assert_int_equal(r->nwifi, 0);
    td_test_assert_reply(&ctx, "IWBP01#");
}

static void test_alarm_ap10(void **state)
{
    (void)state;
    const td_record *r =
        logged_one("IWAP10" GPS_A STATUS ",234,15,1234,56789,01,en,10,net1|aa-bb-cc-dd-ee-01|62#");
    assert_gps_a(r);
    assert_status_a(r);
    assert_int_equal(r->alarms, TD_ALARM_BIT(TD_ALARM_SOS));
    assert_string_equal(td_test_raw_str(r, "alarmCode"), "01");
    assert_string_equal(td_test_raw_str(r, "language"), "en");
    assert_true(td_rec_raw_find(r, "addressRequest")->v.b);
    assert_int_equal(r->ncells, 1);
    assert_int_equal(r->nwifi, 1);
    assert_int_equal(r->wifi[0].rssi, -62);
    td_test_assert_reply(&ctx, "IWBP10#");

    static const struct {
        const char *code;
        uint32_t alarms;
    } codes[] = {
        {"00", 0},
        {"02", TD_ALARM_BIT(TD_ALARM_LOW_BATTERY)},
        {"03", TD_ALARM_BIT(TD_ALARM_REMOVAL)},
        {"04", 0},
        {"05", 0},
        {"06", TD_ALARM_BIT(TD_ALARM_FALL)},
        {"19", 0},
    };
    for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
        char frame[256];
        snprintf(frame, sizeof(frame), "IWAP10" GPS_A STATUS ",234,15,1234,56789,%s,en,00#",
                 codes[i].code);
        r = logged_one(frame);
        assert_int_equal(r->type, TD_REC_POSITION);
        assert_int_equal(r->alarms, codes[i].alarms);
        assert_string_equal(td_test_raw_str(r, "alarmCode"), codes[i].code);
        td_test_assert_reply(&ctx, "IWBP10#");
    }
}

static void test_cells_ap02(void **state)
{
    (void)state;
    const td_record *r =
        logged_one("IWAP02,en,0,3,234,15,1234|56789|40,1234|56790|35,1235|11111|20,2," WIFI2 "#");
    assert_int_equal(r->type, TD_REC_STATUS);
    assert_false(r->has_time);
    assert_int_equal(r->time_ms, TD_TEST_NOW_MS);
    assert_int_equal(r->ncells, 3);
    assert_int_equal(r->cells[0].mcc, 234);
    assert_int_equal(r->cells[0].mnc, 15);
    assert_int_equal(r->cells[0].lac, 1234);
    assert_int_equal(r->cells[0].cid, 56789);
    assert_true(r->cells[0].has_rssi);
    assert_int_equal(r->cells[0].rssi, 40);
    assert_int_equal(r->cells[2].lac, 1235);
    assert_int_equal(r->cells[2].cid, 11111);
    assert_int_equal(r->cells[2].rssi, 20);
    assert_int_equal(r->nwifi, 2);
    assert_string_equal(r->wifi[1].mac, "aa:bb:cc:dd:ee:02");
    assert_int_equal(r->wifi[1].rssi, -55);
    assert_string_equal(td_test_raw_str(r, "language"), "en");
    td_test_assert_reply(&ctx, "IWBP02#");
}

static void test_heartbeat_ap03(void **state)
{
    (void)state;
    const td_record *r = logged_one("IWAP03," STATUS ",1234,3#");
    assert_int_equal(r->type, TD_REC_HEARTBEAT);
    assert_false(r->has_time);
    assert_status_a(r);
    assert_int_equal(td_test_attr_int(r, TD_ATTR_STEPS), 1234);
    assert_int_equal(td_test_raw_int(r, "rolls"), 3);
    td_test_assert_reply(&ctx, "IWBP03#");

    /* The L009 shape: kept raw, still answered. */
    r = logged_one("IWAP03,abc,0,00,1,300#");
    assert_int_equal(r->type, TD_REC_HEARTBEAT);
    assert_string_equal(td_test_raw_str(r, "content"), "abc,0,00,1,300");
    td_test_assert_reply(&ctx, "IWBP03#");
}

static void test_heart_rate_ap49(void **state)
{
    (void)state;
    const td_record *r = logged_one("IWAP49,72#");
    assert_int_equal(r->type, TD_REC_STATUS);
    assert_int_equal(td_test_attr_int(r, TD_ATTR_HEART_RATE), 72);
    td_test_assert_reply(&ctx, "IWBP49#");
}

static void test_blood_pressure_apht(void **state)
{
    (void)state;
    const td_record *r = logged_one("IWAPHT,72,121,79#");
    assert_int_equal(r->type, TD_REC_STATUS);
    assert_int_equal(td_test_attr_int(r, TD_ATTR_HEART_RATE), 72);
    assert_int_equal(td_test_attr_int(r, TD_ATTR_SYSTOLIC), 121);
    assert_int_equal(td_test_attr_int(r, TD_ATTR_DIASTOLIC), 79);
    td_test_assert_reply(&ctx, "IWBPHT#");
}

static void test_health_aphp(void **state)
{
    (void)state;
    const td_record *r = logged_one("IWAPHP,72,121,79,97,,36.4,,,,,,,#");
    assert_int_equal(r->type, TD_REC_STATUS);
    assert_int_equal(td_test_attr_int(r, TD_ATTR_HEART_RATE), 72);
    assert_int_equal(td_test_attr_int(r, TD_ATTR_SYSTOLIC), 121);
    assert_int_equal(td_test_attr_int(r, TD_ATTR_DIASTOLIC), 79);
    assert_int_equal(td_test_attr_int(r, TD_ATTR_SPO2), 97);
    assert_false(td_rec_has(r, TD_ATTR_BLOOD_SUGAR));
    assert_float_equal(td_test_attr_double(r, TD_ATTR_BODY_TEMPERATURE), 36.4, 1e-9);
    td_test_assert_reply(&ctx, "IWBPHP#");

    /* Blank heart rate; blood sugar in mmol/L, and in mg/dL (converted). */
    r = logged_one("IWAPHP,,,,98,5.6,36.9,,,,,,,#");
    assert_false(td_rec_has(r, TD_ATTR_HEART_RATE));
    assert_int_equal(td_test_attr_int(r, TD_ATTR_SPO2), 98);
    assert_float_equal(td_test_attr_double(r, TD_ATTR_BLOOD_SUGAR), 5.6, 1e-9);
    r = logged_one("IWAPHP,70,120,80,96,108,36.6,1,2#");
    assert_float_equal(td_test_attr_double(r, TD_ATTR_BLOOD_SUGAR), 108 / 18.016, 1e-6);
    assert_float_equal(td_rec_raw_find(r, "bloodSugarReading")->v.d, 108, 1e-9);
    assert_string_equal(td_test_raw_str(r, "field7"), "1");
    assert_string_equal(td_test_raw_str(r, "field8"), "2");
}

static void test_temperature_ap50(void **state)
{
    (void)state;
    const td_record *r = logged_one("IWAP50,36.6,80#");
    assert_int_equal(r->type, TD_REC_STATUS);
    assert_float_equal(td_test_attr_double(r, TD_ATTR_BODY_TEMPERATURE), 36.6, 1e-9);
    assert_int_equal(td_test_attr_int(r, TD_ATTR_BATTERY_LEVEL), 80);
    td_test_assert_reply(&ctx, "IWBP50#");

    r = logged_one("IWAPTP,36.8,33.1#");
    assert_float_equal(td_test_attr_double(r, TD_ATTR_BODY_TEMPERATURE), 36.8, 1e-9);
    assert_float_equal(td_rec_raw_find(r, "wristTemperature")->v.d, 33.1, 1e-9);
    td_test_assert_reply(&ctx, "IWBPTP#");

    r = logged_one("IWAPSP,96#");
    assert_int_equal(td_test_attr_int(r, TD_ATTR_SPO2), 96);
    td_test_assert_reply(&ctx, "IWBPSP#");
}

static void test_health_apjk(void **state)
{
    (void)state;
    const td_record *r = logged_one("IWAPJK,20240315101530,1,79|121#");
    assert_int_equal(r->type, TD_REC_STATUS);
    assert_int_equal(td_test_attr_int(r, TD_ATTR_DIASTOLIC), 79);
    assert_int_equal(td_test_attr_int(r, TD_ATTR_SYSTOLIC), 121);
    assert_string_equal(td_test_raw_str(r, "measureTime"), "20240315101530");
    td_test_assert_reply(&ctx, "IWBPJK,1#");

    r = logged_one("IWAPJK,20240315101530,2,66#");
    assert_int_equal(td_test_attr_int(r, TD_ATTR_HEART_RATE), 66);
    td_test_assert_reply(&ctx, "IWBPJK,2#");
    r = logged_one("IWAPJK,2024-03-15 10:15:30,3,36.5#");
    assert_float_equal(td_test_attr_double(r, TD_ATTR_BODY_TEMPERATURE), 36.5, 1e-9);
    r = logged_one("IWAPJK,20240315101530,6,420#");
    assert_string_equal(td_test_raw_str(r, "healthValue"), "420");
    td_test_assert_reply(&ctx, "IWBPJK,6#");
}

/* A voice chunk whose payload holds '#', ',' and NUL bytes. */
static size_t voice_chunk(uint8_t *out, size_t cap)
{
    static const uint8_t payload[] = {'#',  '!', 'A', 'M', 'R',  '\n', 0x3c, '#', ',',  0x00,
                                      0xff, '#', 'I', 'W', 0x91, 0x17, ',',  '#', 0x00, 0x42};
    int n = snprintf((char *)out, cap, "IWAP07,20240315101530,3,1,%zu,", sizeof(payload));
    memcpy(out + n, payload, sizeof(payload));
    out[n + sizeof(payload)] = '#';
    return (size_t)n + sizeof(payload) + 1;
}

static void test_voice_ap07(void **state)
{
    (void)state;
    uint8_t buf[128];
    size_t n = voice_chunk(buf, sizeof(buf));

    logged_in();
    assert_int_equal(td_test_decode_bytes(P, &sess, buf, n, &ctx), 0);
    assert_int_equal(ctx.nrec, 1);
    const td_record *r = &ctx.rec[0];
    assert_int_equal(r->type, TD_REC_OTHER);
    assert_string_equal(r->device_id, IMEI);
    assert_int_equal(td_test_raw_int(r, "chunkTotal"), 3);
    assert_int_equal(td_test_raw_int(r, "chunkIndex"), 1);
    assert_int_equal(td_test_raw_int(r, "chunkLength"), 20);
    assert_string_equal(td_test_raw_str(r, "mediaType"), "voice");
    assert_true(td_rec_raw_find(r, "chunkComplete")->v.b);
    td_test_assert_reply(&ctx, "IWBP07,20240315101530,3,1,1#");

    /* A short chunk is answered with 0 so the device sends it again. */
    assert_int_equal(td_test_decode_bytes(P, &sess, buf, n - 5, &ctx), 0);
    td_test_assert_reply(&ctx, "IWBP07,20240315101530,3,1,0#");

    /* A picture chunk in hex: acknowledged as BP42 and BP07. */
    assert_int_equal(td_test_decode(P, &sess, "IWAP42,20240315101530,2,2,3,ffd8ff#", &ctx), 0);
    assert_string_equal(td_test_raw_str(&ctx.rec[0], "mediaType"), "picture");
    td_test_assert_reply(&ctx, "IWBP42,20240315101530,2,2,1#IWBP07,20240315101530,2,2,1#");
}

static void test_command_acks(void **state)
{
    (void)state;
    static const char *const acks[] = {
        "IWAPXL,080835#",
        "IWAP12,080835,+440000000001,+440000000002,#",
        "IWAP14,080835,004e0061|+440000000001,,,,,,,,,#",
        "IWAP15,080835#",
        "IWAP16,080835#",
        "IWAP86,080835,1,60#",
        "IWAP99,123456#",
    };
    for (size_t i = 0; i < sizeof(acks) / sizeof(acks[0]); i++) {
        const td_record *r = logged_one(acks[i]);
        assert_int_equal(r->type, TD_REC_ACK);
        assert_string_equal(td_test_raw_str(r, "serial"), i == 6 ? "123456" : "080835");
        assert_int_equal(ctx.reply_len, 0);
    }
}

static void test_unknown_type(void **state)
{
    (void)state;
    const td_record *r = logged_one("IWAP55,hello,1#");
    assert_int_equal(r->type, TD_REC_OTHER);
    assert_string_equal(td_test_raw_str(r, "type"), "AP55");
    assert_string_equal(td_test_raw_str(r, "content"), "hello,1");
    td_test_assert_reply(&ctx, "IWBP55#");

    r = logged_one("IWAPZZ#");
    assert_int_equal(r->type, TD_REC_OTHER);
    td_test_assert_reply(&ctx, "IWBPZZ#");
}

static void test_wearable_types(void **state)
{
    (void)state;
    memset(&sess, 0, sizeof(sess));
    /* APWR identifies a session that has not logged in. */
    assert_int_equal(td_test_decode(P, &sess, "IWAPWR," IMEI ",0,1710497730000#", &ctx), 0);
    const td_record *r = &ctx.rec[0];
    assert_string_equal(r->device_id, IMEI);
    assert_int_equal(r->type, TD_REC_STATUS);
    assert_int_equal(r->alarms, TD_ALARM_BIT(TD_ALARM_REMOVAL));
    assert_true(r->has_time);
    assert_int_equal(r->time_ms, 1710497730000LL);
    assert_int_equal(ctx.reply_len, 0);

    r = logged_one("IWAPVR," IMEI ",L17_V1.2#");
    assert_string_equal(td_test_raw_str(r, "version"), "L17_V1.2");
    assert_int_equal(ctx.reply_len, 0);

    r = logged_one("IWAPFD," IMEI ",1710497730#");
    assert_int_equal(r->alarms, TD_ALARM_BIT(TD_ALARM_FALL));
    td_test_assert_reply(&ctx, "IWBPFD#");

    r = logged_one("IWAPBL," IMEI
                   ",aabbccddee01|-70|tag1;aabbccddee02|-80|,112233445566,1710497730#");
    assert_int_equal(r->nble, 2);
    assert_string_equal(r->ble[1].mac, "aa:bb:cc:dd:ee:02");
    assert_int_equal(r->ble[1].rssi, -80);
    assert_string_equal(td_test_raw_str(r, "bleMac"), "112233445566");
    td_test_assert_reply(&ctx, "IWBPBL#");
}

static void test_other_ap_types(void **state)
{
    (void)state;
    const td_record *r = logged_one("IWAP04,15#");
    assert_int_equal(r->type, TD_REC_STATUS);
    assert_int_equal(r->alarms, TD_ALARM_BIT(TD_ALARM_LOW_BATTERY));
    assert_int_equal(td_test_attr_int(r, TD_ATTR_BATTERY_LEVEL), 15);
    td_test_assert_reply(&ctx, "IWBP04#");

    r = logged_one("IWAP05,1#");
    assert_int_equal(r->type, TD_REC_OTHER);
    td_test_assert_reply(&ctx, "IWBP05,0#");

    r = logged_one("IWAP97,2300@0700,3,123#");
    assert_int_equal(r->type, TD_REC_STATUS);
    assert_string_equal(td_test_raw_str(r, "content"), "2300@0700,3,123");
    td_test_assert_reply(&ctx, "IWBP97#");

    r = logged_one("IWAPTQ#");
    assert_int_equal(r->type, TD_REC_OTHER);
    assert_int_equal(ctx.reply_len, 0);

    r = logged_one("IWAPHD,0102030405#");
    td_test_assert_reply(&ctx, "IWBPHD#");
}

static void test_trv(void **state)
{
    (void)state;
    memset(&sess, 0, sizeof(sess));
    assert_int_equal(td_test_decode(P, &sess, "TRVAP00" IMEI "#", &ctx), 0);
    assert_int_equal(ctx.rec[0].type, TD_REC_LOGIN);
    assert_string_equal(sess.device_id, IMEI);
    td_test_assert_reply(&ctx, "TRVBP00#");

    assert_int_equal(
        td_test_decode(P, &sess, "TRVAP01" GPS_A "10001209010203,234,15,1234,56789#", &ctx), 0);
    const td_record *r = &ctx.rec[0];
    assert_string_equal(r->device_id, IMEI);
    assert_gps_a(r);
    assert_int_equal(td_test_attr_int(r, TD_ATTR_RSSI), 100);
    assert_int_equal(td_test_attr_int(r, TD_ATTR_SATELLITES), 12);
    assert_int_equal(td_test_attr_int(r, TD_ATTR_BATTERY_LEVEL), 90);
    assert_true(r->attr[TD_ATTR_IGNITION].b);
    assert_int_equal(td_test_raw_int(r, "fortification"), 2);
    assert_int_equal(td_test_raw_int(r, "workMode"), 3);
    td_test_assert_reply(&ctx, "TRVBP01#");

    /* YP14 may stop after the course. */
    assert_int_equal(td_test_decode(P, &sess, "TRVYP14" GPS_A "#", &ctx), 0);
    assert_gps_a(&ctx.rec[0]);
    td_test_assert_reply(&ctx, "TRVZP14#");

    assert_int_equal(td_test_decode(P, &sess, "TRVCP01,07500809500001#", &ctx), 0);
    assert_int_equal(ctx.rec[0].type, TD_REC_HEARTBEAT);
    assert_int_equal(td_test_attr_int(&ctx.rec[0], TD_ATTR_BATTERY_LEVEL), 95);
    assert_false(ctx.rec[0].attr[TD_ATTR_IGNITION].b);
    td_test_assert_reply(&ctx, "TRVDP01#");

    assert_int_equal(td_test_decode(P, &sess, "TRVYP16,0001#", &ctx), 0);
    assert_int_equal(ctx.rec[0].type, TD_REC_HEARTBEAT);
    td_test_assert_reply(&ctx, "TRVZP16#");

    assert_int_equal(td_test_decode(P, &sess, "TRVAP14,234,15,1234,56789#", &ctx), 0);
    td_test_assert_reply(&ctx, "TRVBP14,0.000,0.000#");

    assert_int_equal(td_test_decode(P, &sess, "TRVCP03,0#", &ctx), 0);
    assert_int_equal(ctx.rec[0].type, TD_REC_ACK);
    assert_int_equal(ctx.reply_len, 0);

    assert_int_equal(td_test_decode(P, &sess, "TRVWP05,1#", &ctx), 0);
    assert_int_equal(ctx.rec[0].type, TD_REC_OTHER);
    td_test_assert_reply(&ctx, "TRVXP05#");
}

static void test_detect(void **state)
{
    (void)state;
    static const char *const yes[] = {"IWAP00", "TRVAP00", "TRVYP14", "TRVCP01", "IWAPHT,"};
    static const char *const maybe[] = {"I", "IW", "IWAP0", "T", "TR", "TRV", "TRVA"};
    static const char *const no[] = {"[SG*",   "8600", "IX",     "IWBX00",
                                     "IWap00", "TRX",  "IWAP0,", "GET /"};
    td_test_detect_each(P, yes, TD_TEST_COUNT(yes), TD_DETECT_YES);
    td_test_detect_each(P, maybe, TD_TEST_COUNT(maybe), TD_DETECT_MAYBE);
    td_test_detect_each(P, no, TD_TEST_COUNT(no), TD_DETECT_NO);
}

/* ---- framing ---- */

static void test_framer_split_everywhere(void **state)
{
    (void)state;
    static const char *const text[] = {
        "IWAP00" IMEI "#",
        "IWAP01" GPS_A STATUS ",234,15,1234,56789," WIFI2 "#",
        NULL, /* the voice chunk */
        "IWAP49,72#",
        "IWAPXL,080835#",
    };
    static td_test_stream s;
    uint8_t voice[256];

    td_test_stream_reset(&s);
    td_test_stream_texts(&s, text, 2);
    td_test_stream_noise(&s, "\r\n##  ", 6); /* noise between frames */
    td_test_stream_frame(&s, voice, voice_chunk(voice, sizeof(voice)));
    td_test_stream_texts(&s, text + 3, 2);
    td_test_split_everywhere(P, &s, s.n);
}

static void test_framer_limits(void **state)
{
    (void)state;
    size_t skip;

    /* A text frame that never ends. */
    td_test_frame_too_big(P, "IWAP03,", '1', 20000);

    /* A media chunk announcing more than max_frame. */
    const char *huge = "IWAP07,20240315101530,1,1,99999,abc";
    assert_int_equal(P->frame((const uint8_t *)huge, strlen(huge), &skip), TD_ETOOBIG);
    /* Incomplete media header or payload: need more. */
    const char *part = "IWAP07,20240315101530,1,1,10,ab#c";
    assert_int_equal(P->frame((const uint8_t *)part, strlen(part), &skip), 0);
    assert_int_equal(P->frame((const uint8_t *)"IWAP07,2024", 11, &skip), 0);
    /* Only noise. */
    assert_int_equal(P->frame((const uint8_t *)"\r\n#", 3, &skip), 0);
    assert_int_equal(skip, 3);
}

/* ---- malformed input ---- */

static void expect_error(const char *frame, const char *needle)
{
    logged_in();
    assert_true(td_test_decode(P, &sess, frame, &ctx) < 0);
    assert_true(strncmp(ctx.err, "iw: ", 4) == 0);
    if (!strstr(ctx.err, needle))
        fail_msg("'%s' -> '%s', want '%s'", frame, ctx.err, needle);
}

static void test_malformed(void **state)
{
    (void)state;
    expect_error("IWAP01240315A51x0.1234N00007.5678W002.3101530045.00" STATUS "#",
                 "bad latitude '51x0.1234N'");
    expect_error("IWAP01240315A9130.1234N00007.5678W002.3101530045.00" STATUS "#", "bad latitude");
    expect_error("IWAP01240315A5130.1234X00007.5678W002.3101530045.00" STATUS "#", "bad latitude");
    expect_error("IWAP01240315A5130.1234N18107.5678W002.3101530045.00" STATUS "#", "bad longitude");
    expect_error("IWAP01241315A5130.1234N00007.5678W002.3101530045.00" STATUS "#",
                 "bad date/time '241315 101530'");
    expect_error("IWAP01240315A5130.1234N00007.5678W002.3106030045.00" STATUS "#", "bad date/time");
    expect_error("IWAP01240315X5130.1234N00007.5678W002.3101530045.00" STATUS "#", "bad fix flag");
    expect_error("IWAP01240315A5130.1234N00007.5678W0x2.3101530045.00" STATUS "#", "bad speed");
    expect_error("IWAP01240315A5130.1234N00007.5678W002.3101530999.00" STATUS "#", "bad course");
    expect_error("IWAP01240315A5130.12#", "truncated latitude");
    expect_error("IWAP00123#", "bad IMEI");
    expect_error("IWAP49,abc#", "bad heartRate 'abc'");
    expect_error("IWAP49,#", "bad heartRate");
    expect_error("IWAPHP,72,121,79,140,,36.4#", "bad spo2");
    expect_error("IWAP50,99.9,80#", "bad bodyTemperature");
    expect_error("IWAP02,en,0,x,234,15#", "bad cell count");
    expect_error("IWAP02,en,0,2,234,15,1|2|3#", "bad cell");
    expect_error("IWAP03,0750080950000x,1,2#", "bad status");
    expect_error("IWAP07,2024031510153x,1,1,3,abc#", "bad chunk time");
    expect_error("IWAP07,20240315101530,1,1,-3,abc#", "bad chunk length");
    expect_error("IWAPJK,20240315101530,x,1#", "bad health type");
    expect_error("HELLO#", "bad header");
    expect_error("IWAP#", "bad header");
    expect_error("IWap49,72#", "bad header");
    expect_error("\x01\x02\xff#", "bad header '?"
                                  "??");
}

static void test_truncations(void **state)
{
    (void)state;
    static const char *const frames[] = {
        "IWAP00" IMEI ",89440000000000000001,234150000000001#",
        "IWAP01" GPS_A STATUS ",234,15,1234,56789," WIFI2 "#",
        "IWAP10" GPS_A STATUS ",234,15,1234,56789,01,en,10," WIFI2 "#",
        "IWAP02,en,0,3,234,15,1234|56789|40,1234|56790|35,1235|11111|20,2," WIFI2 "#",
        "IWAP03," STATUS ",1234,3#",
        "IWAPHP,72,121,79,97,,36.4,,,,,,,#",
        "IWAPHT,72,121,79#",
        "IWAP50,36.6,80#",
        "IWAPJK,20240315101530,1,79|121#",
        "IWAPWR," IMEI ",0,1710497730000#",
        "IWAPBL," IMEI ",aabbccddee01|-70|tag1;aabbccddee02|-80|,112233445566,1#",
        "TRVYP14" GPS_A "10001209010203,234,15,1234,56789#",
        "TRVCP01,07500809500001#",
    };
    uint8_t voice[128];
    size_t vn = voice_chunk(voice, sizeof(voice));

    for (size_t i = 0; i < sizeof(frames) / sizeof(frames[0]); i++) {
        size_t n = strlen(frames[i]);
        for (size_t k = 0; k < n; k++) {
            logged_in();
            /* td_test_decode checks: success with sane records, or an error
             * that names the protocol. */
            int rc = td_test_decode_bytes(P, &sess, (const uint8_t *)frames[i], k, &ctx);
            bool in_gps = (i == 1 || i == 2) && k < 6 + GPS_LEN;
            if (in_gps || k < 4)
                assert_true(rc < 0);
        }
    }
    for (size_t k = 0; k < vn; k++) {
        logged_in();
        td_test_decode_bytes(P, &sess, voice, k, &ctx);
    }
}

/* ---- downlink commands (fact sheet §4) ---- */

static td_test_cmd tc;

/* A session that only knows the device id (the device never connected). */
static td_session *offline(void)
{
    return td_test_session(&sess, IMEI);
}

/* The commands without arguments, and those with one fixed argument. */
static void test_encode_plain(void **state)
{
    (void)state;
    static const td_test_plain plain[] = {
        {"positionSingle", "IWBP16," IMEI ",000042#", "16,000042"},
        {"findDevice", "IWBP88," IMEI ",000042#", "88,000042"},
        {"rebootDevice", "IWBP18," IMEI ",000042#", "18,000042"},
        {"powerOff", "IWBP31," IMEI ",000042#", "31,000042"},
        {"factoryReset", "IWBP17," IMEI ",000042#", "17,000042"},
        {"takePhoto", "IWBP46," IMEI ",000042,1#", "46,000042"},
        {"measureHeartRate", "IWBPXL," IMEI ",000042#", "XL,000042"},
        {"measureBloodPressure", "IWBPXY," IMEI ",000042#", "XY,000042"},
        {"measureSpo2", "IWBPXZ," IMEI ",000042#", "XZ,000042"},
        {"measureTemperature", "IWBPXT," IMEI ",000042#", "XT,000042"},
    };
    td_test_expect_plain(&tc, P, logged_in, plain, sizeof(plain) / sizeof(plain[0]));
    td_test_expect_plain(&tc, P, offline, plain, sizeof(plain) / sizeof(plain[0]));

    /* The serial is the command id modulo 1000000, six digits. */
    td_test_cmd_start(&tc, P, "positionSingle");
    tc.cmd.id = 1234567;
    td_test_expect_encode(&tc, offline(), "IWBP16," IMEI ",234567#", "16,234567");
    tc.cmd.id = 1000000;
    td_test_expect_encode(&tc, offline(), "IWBP16," IMEI ",000000#", "16,000000");
    tc.cmd.id = 7;
    td_test_expect_encode(&tc, offline(), "IWBP16," IMEI ",000007#", "16,000007");
}

static void test_encode_interval(void **state)
{
    (void)state;
    td_test_cmd_start(&tc, P, "positionPeriodic");
    td_test_cmd_num(&tc, "frequency", 300);
    td_test_expect_encode(&tc, offline(), "IWBP15," IMEI ",000042,300#", "15,000042");
    td_test_cmd_num(&tc, "frequency", 86400);
    td_test_expect_encode(&tc, offline(), "IWBP15," IMEI ",000042,86400#", "15,000042");
}

static void test_encode_sos_numbers(void **state)
{
    (void)state;
    td_test_cmd_start(&tc, P, "sosNumber");
    td_test_cmd_str(&tc, "phone1", "+4915112345678");
    td_test_cmd_str(&tc, "phone3", "15551234567");
    td_test_expect_encode(&tc, offline(), "IWBP12," IMEI ",000042,+4915112345678,,15551234567#",
                          "12,000042");

    td_test_cmd_start(&tc, P, "sosNumber");
    td_test_cmd_str(&tc, "phone2", "112");
    td_test_expect_encode(&tc, offline(), "IWBP12," IMEI ",000042,,112,#", "12,000042");

    td_test_cmd_start(&tc, P, "sosNumber"); /* all three cleared */
    td_test_expect_encode(&tc, offline(), "IWBP12," IMEI ",000042,,,#", "12,000042");
}

static void test_encode_calls(void **state)
{
    (void)state;
    static const char *const types[] = {"voiceMonitoring", "callBack", "call"};
    for (size_t i = 0; i < 3; i++) {
        td_test_cmd_start(&tc, P, types[i]);
        td_test_cmd_str(&tc, "phone", "+15551234567");
        td_test_expect_encode(&tc, offline(), "IWBP32," IMEI ",000042,+15551234567#", "32,000042");
    }
}

static void test_encode_message(void **state)
{
    (void)state;
    td_test_cmd_start(&tc, P, "message");
    td_test_cmd_str(&tc, "message", "Hi \xe2\x82\xac"); /* "Hi €" */
    td_test_expect_encode(&tc, offline(), "IWBP40," IMEI ",000042,00480069002020AC#", "40,000042");

    /* U+1F600 beyond the BMP: the surrogate pair D83D DE00. */
    td_test_cmd_start(&tc, P, "message");
    td_test_cmd_str(&tc, "message", "A\xf0\x9f\x98\x80\xc3\xa9");
    td_test_expect_encode(&tc, offline(), "IWBP40," IMEI ",000042,0041D83DDE0000E9#", "40,000042");

    static const char *const bad[] = {"\xff", "a\xc3", "\xc0\x80", "\xed\xa0\x80",
                                      "\xf4\x90\x80\x80"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        td_test_cmd_start(&tc, P, "message");
        td_test_cmd_str(&tc, "message", bad[i]);
        td_test_expect_encode_fail(&tc, offline(), TD_EINVAL, "iw: the message is not valid UTF-8");
    }
}

static void test_encode_fall_alarm(void **state)
{
    (void)state;
    td_test_cmd_start(&tc, P, "alarmFall");
    td_test_cmd_num(&tc, "enable", 1);
    td_test_expect_encode(&tc, offline(), "IWBP76," IMEI ",000042,1#", "76,000042");
    td_test_cmd_num(&tc, "enable", 0);
    td_test_expect_encode(&tc, offline(), "IWBP76," IMEI ",000042,0#", "76,000042");
}

static void test_encode_timezone(void **state)
{
    (void)state;
    static const struct {
        long min, lang;
        const char *bytes;
    } ok[] = {
        {480, -1, "IWBP20," IMEI ",000042,1,8#"},   {-300, 0, "IWBP20," IMEI ",000042,0,-5#"},
        {0, -1, "IWBP20," IMEI ",000042,1,0#"},     {330, -1, "IWBP20," IMEI ",000042,1,5.5#"},
        {345, 1, "IWBP20," IMEI ",000042,1,5.75#"}, {-30, -1, "IWBP20," IMEI ",000042,1,-0.5#"},
        {840, -1, "IWBP20," IMEI ",000042,1,14#"},  {-720, -1, "IWBP20," IMEI ",000042,1,-12#"},
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        td_test_cmd_start(&tc, P, "setTimezone");
        td_test_cmd_num(&tc, "timezone", ok[i].min);
        if (ok[i].lang >= 0)
            td_test_cmd_num(&tc, "language", ok[i].lang);
        td_test_expect_encode(&tc, offline(), ok[i].bytes, "20,000042");
    }
    td_test_cmd_start(&tc, P, "setTimezone");
    td_test_cmd_num(&tc, "timezone", 20);
    td_test_expect_encode_fail(&tc, offline(), TD_EINVAL,
                               "iw: the time zone must be a multiple of 15 minutes (20 is not)");
}

static void test_encode_custom(void **state)
{
    (void)state;
    td_test_cmd_start(&tc, P, "custom");
    td_test_cmd_str(&tc, "data", "IWBP33," IMEI ",080835,1#");
    td_test_expect_encode(&tc, offline(), "IWBP33," IMEI ",080835,1#", "");
    td_test_expect_encode(&tc, NULL, "IWBP33," IMEI ",080835,1#", ""); /* needs no session */

    td_test_cmd_start(&tc, P, "custom");
    td_cmd_arg *a = td_test_cmd_arg(&tc, "hex");
    a->str = "IWBPTF," IMEI ",1#";
    a->len = strlen(a->str);
    td_test_expect_encode(&tc, offline(), "IWBPTF," IMEI ",1#", "");

    td_test_cmd_start(&tc, P, "custom");
    td_test_expect_encode_fail(&tc, offline(), TD_EINVAL, "iw: give data or hex");
    td_test_cmd_str(&tc, "data", "a");
    td_test_cmd_str(&tc, "hex", "b");
    td_test_expect_encode_fail(&tc, offline(), TD_EINVAL, "iw: give data or hex");
}

static void test_encode_errors(void **state)
{
    (void)state;
    /* No IMEI yet. */
    td_test_cmd_start(&tc, P, "positionSingle");
    memset(&sess, 0, sizeof(sess));
    td_test_expect_encode_fail(&tc, &sess, TD_EINVAL,
                               "iw: no IMEI for this device yet (it has not logged in)");
    td_test_expect_encode_fail(&tc, NULL, TD_EINVAL,
                               "iw: no IMEI for this device yet (it has not logged in)");

    /* TRV devices: only the documented TRVBP20 (force a report). */
    memset(&sess, 0, sizeof(sess));
    assert_int_equal(td_test_decode(P, &sess, "TRVAP00" IMEI "#", &ctx), 0);
    td_test_expect_encode(&tc, &sess, "TRVBP20#", "");
    td_test_cmd_start(&tc, P, "rebootDevice");
    td_test_expect_encode_fail(&tc, &sess, TD_EINVAL,
                               "iw: rebootDevice is not documented for TRV devices");
    /* An IW frame on the same session makes it IW again. */
    assert_int_equal(td_test_decode(P, &sess, "IWAP03," STATUS ",1234,3#", &ctx), 0);
    td_test_expect_encode(&tc, &sess, "IWBP18," IMEI ",000042#", "18,000042");

    /* Output buffer too small: TD_ETOOBIG, nothing written past cap. */
    static const char want[] = "IWBP16," IMEI ",000042#";
    td_test_cmd_start(&tc, P, "positionSingle");
    td_test_expect_too_small(&tc, offline(), want, strlen(want));
}

static void test_command_list(void **state)
{
    (void)state;
    static const char *const types[] = {
        "positionSingle",   "positionPeriodic",
        "sosNumber",        "voiceMonitoring",
        "callBack",         "call",
        "message",          "findDevice",
        "alarmFall",        "rebootDevice",
        "powerOff",         "factoryReset",
        "setTimezone",      "takePhoto",
        "measureHeartRate", "measureBloodPressure",
        "measureSpo2",      "measureTemperature",
        "custom",
    };
    td_test_expect_commands(P, types, sizeof(types) / sizeof(types[0]));
}

/* Acknowledgements: `IWAPxx,<serial>[,...]#` gives the key "xx,serial". */
static void test_command_answers(void **state)
{
    (void)state;
    const td_record *r = logged_one("IWAP16,000042#");
    assert_int_equal(r->type, TD_REC_ACK);
    assert_string_equal(td_test_raw_str(r, "serial"), "000042");
    assert_string_equal(ctx.ack, "16,000042");
    assert_string_equal(ctx.ack_result, "");
    assert_false(ctx.ack_failed);

    logged_one("IWAP12,000042,+4915112345678,,15551234567#");
    assert_string_equal(ctx.ack, "12,000042");
    assert_string_equal(ctx.ack_result, "+4915112345678,,15551234567");
    logged_one("IWAPXL,000042#");
    assert_string_equal(ctx.ack, "XL,000042");
    logged_one("IWAP86,080835,1,60#");
    assert_string_equal(ctx.ack, "86,080835");
    assert_string_equal(ctx.ack_result, "1,60");

    /* BPTF has no serial: its answer is keyed "TF". */
    r = logged_one("IWAPTF,1#");
    assert_int_equal(r->type, TD_REC_ACK);
    assert_string_equal(ctx.ack, "TF");
    assert_string_equal(ctx.ack_result, "1");

    /* Reports, TRV acknowledgements and echoed server frames answer nothing. */
    static const char *const quiet[] = {"IWAP01" GPS_A STATUS ",234,15,1234,56789#",
                                        "IWAP03," STATUS ",1234,3#", "IWBP16," IMEI ",000042#",
                                        "IWAP49,72#", "TRVCP03,0#"};
    for (size_t i = 0; i < sizeof(quiet) / sizeof(quiet[0]); i++) {
        logged_in();
        assert_int_equal(td_test_decode(P, &sess, quiet[i], &ctx), 0);
        assert_string_equal(ctx.ack, "");
    }
}

/* AP07 voice chunks as media: raw payloads point into the frame, hex ones
 * are decoded into media_buf. Pictures (AP42) are not voice. */
static void test_voice_media(void **state)
{
    (void)state;
    static uint8_t buf[64];
    uint8_t frame[128];
    size_t n = voice_chunk(frame, sizeof(frame));
    static const uint8_t payload[] = {'#',  '!', 'A', 'M', 'R',  '\n', 0x3c, '#', ',',  0x00,
                                      0xff, '#', 'I', 'W', 0x91, 0x17, ',',  '#', 0x00, 0x42};

    logged_in();
    assert_int_equal(td_test_decode_bytes(P, &sess, frame, n, &ctx), 0);
    assert_true(ctx.media.present);
    assert_string_equal(ctx.media.key, "20240315101530");
    assert_int_equal(ctx.media.index, 1);
    assert_int_equal(ctx.media.total, 3);
    assert_int_equal(ctx.media.len, sizeof(payload));
    assert_memory_equal(ctx.media.data, payload, sizeof(payload));
    assert_int_equal(ctx.nrec, 1); /* the record stays as it was */
    assert_string_equal(td_test_raw_str(&ctx.rec[0], "mediaType"), "voice");

    /* An incomplete chunk (answered 0) is no media. */
    assert_int_equal(td_test_decode_bytes(P, &sess, frame, n - 5, &ctx), 0);
    assert_false(ctx.media.present);

    /* Hex payload, two characters a byte. */
    ctx.media_buf = buf;
    ctx.media_cap = sizeof(buf);
    assert_int_equal(td_test_decode(P, &sess, "IWAP07,20240315101531,2,2,6,2321414D520A#", &ctx),
                     0);
    assert_true(ctx.media.present);
    assert_string_equal(ctx.media.key, "20240315101531");
    assert_int_equal(ctx.media.index, 2);
    assert_int_equal(ctx.media.total, 2);
    assert_int_equal(ctx.media.len, 6);
    assert_ptr_equal(ctx.media.data, buf);
    assert_memory_equal(buf, "#!AMR\n", 6);

    /* No room: still present, but no bytes. */
    ctx.media_cap = 5;
    assert_int_equal(td_test_decode(P, &sess, "IWAP07,20240315101531,2,2,6,2321414D520A#", &ctx),
                     0);
    assert_true(ctx.media.present);
    assert_int_equal(ctx.media.len, 0);
    ctx.media_buf = NULL;
    ctx.media_cap = 0;
    assert_int_equal(td_test_decode(P, &sess, "IWAP07,20240315101531,2,2,6,2321414D520A#", &ctx),
                     0);
    assert_true(ctx.media.present);
    assert_int_equal(ctx.media.len, 0);

    /* Pictures are not voice messages. */
    assert_int_equal(td_test_decode(P, &sess, "IWAP42,20240315101530,2,2,3,ffd8ff#", &ctx), 0);
    assert_false(ctx.media.present);
    assert_int_equal(td_test_decode(P, &sess, "IWnull,20240315101530,2,2,3,ffd8ff#", &ctx), 0);
    assert_false(ctx.media.present);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_login),
        cmocka_unit_test(test_position_ap01),
        cmocka_unit_test(test_position_invalid_south_east),
        cmocka_unit_test(test_alarm_ap10),
        cmocka_unit_test(test_cells_ap02),
        cmocka_unit_test(test_heartbeat_ap03),
        cmocka_unit_test(test_heart_rate_ap49),
        cmocka_unit_test(test_blood_pressure_apht),
        cmocka_unit_test(test_health_aphp),
        cmocka_unit_test(test_temperature_ap50),
        cmocka_unit_test(test_health_apjk),
        cmocka_unit_test(test_voice_ap07),
        cmocka_unit_test(test_command_acks),
        cmocka_unit_test(test_unknown_type),
        cmocka_unit_test(test_wearable_types),
        cmocka_unit_test(test_other_ap_types),
        cmocka_unit_test(test_trv),
        cmocka_unit_test(test_detect),
        cmocka_unit_test(test_framer_split_everywhere),
        cmocka_unit_test(test_framer_limits),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_truncations),
        cmocka_unit_test(test_encode_plain),
        cmocka_unit_test(test_encode_interval),
        cmocka_unit_test(test_encode_sos_numbers),
        cmocka_unit_test(test_encode_calls),
        cmocka_unit_test(test_encode_message),
        cmocka_unit_test(test_encode_fall_alarm),
        cmocka_unit_test(test_encode_timezone),
        cmocka_unit_test(test_encode_custom),
        cmocka_unit_test(test_encode_errors),
        cmocka_unit_test(test_command_list),
        cmocka_unit_test(test_command_answers),
        cmocka_unit_test(test_voice_media),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
