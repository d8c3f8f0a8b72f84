/*
 * Unit tests for the h02 protocol (Sinotrack and H02 clones). Every frame
 * here is built from the layouts in docs/protocols/h02.md (made-up ids and
 * values); the device vectors of tests/vectors/protocols.jsonl run once
 * with the protocol forced and once through detection. One test per message
 * type and per reply, byte for byte; then the status bits, detection against
 * every other family (the `$` binary record against meitrack's `$$`),
 * framing split at every byte, and malformed input.
 */
#include "support.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/text.h"

#define ID "4106000001"
#define IMEI "865000000000001"
#define NOW "20260102030405" /* TD_TEST_NOW_MS as the V4 answers write it */
#define FIX "121314,A,2234.5678,N,11345.6789,E,012.30,045,010224"

TD_TEST_PROTOCOL(h02)

/* ---- text messages ---- */

static void test_v1_position(void **state)
{
    (void)state;
    const td_record *r = one("*HQ," ID ",V1," FIX ",FFFFFBFF#");

    td_test_assert_fix(r, "2024-02-01T12:13:14Z", 22 + 34.5678 / 60, 113 + 45.6789 / 60,
                       12.30 * 1.852, 45);
    assert_string_equal(r->device_id, ID);
    assert_string_equal(sess.device_id, ID);
    assert_int_equal(r->alarms, 0);
    assert_true(td_rec_has(r, TD_ATTR_IGNITION));
    assert_false(r->attr[TD_ATTR_IGNITION].b);
    assert_string_equal(td_test_raw_str(r, "status"), "FFFFFBFF");
    assert_null(td_rec_raw_find(r, "type"));
    /* The answer the device waits for: V4,V1 and the server's UTC time. */
    td_test_assert_reply(&ctx, "*HQ," ID ",V4,V1," NOW "#");
}

static void test_v1_maker_and_imei(void **state)
{
    (void)state;
    /* The answer carries the device's own maker code and id. */
    one("*TH," IMEI ",V1," FIX ",FFFFFFFF#");
    td_test_assert_reply(&ctx, "*TH," IMEI ",V4,V1," NOW "#");
    assert_true(ctx.rec[0].attr[TD_ATTR_IGNITION].b);
    one("*hq," IMEI ",V1," FIX ",FFFFFFFF#");
    td_test_assert_reply(&ctx, "*hq," IMEI ",V4,V1," NOW "#");
}

static void test_v1_south_west_invalid(void **state)
{
    (void)state;
    const td_record *r = one("*HQ," ID ",V1,235959,V,3348.1234,S,07012.5000,W,,,311225,FFFFFBFF#");
    assert_false(r->valid);
    td_test_assert_near(r->latitude, -(33 + 48.1234 / 60));
    td_test_assert_near(r->longitude, -(70 + 12.5 / 60));
    td_test_assert_near(r->speed, 0);
    td_test_assert_near(r->course, 0);
    td_test_assert_time(r, "2025-12-31T23:59:59Z");
}

static void test_v1_coordinate_forms(void **state)
{
    (void)state;
    /* -dd-mm.mmmm */
    const td_record *r = one("*HQ," ID ",V1,010203,A,-23-35.3408,S,-48-2.8926,W,0.1,158,"
                             "241115,FFFFFFFF#");
    td_test_assert_near(r->latitude, -(23 + 35.3408 / 60));
    td_test_assert_near(r->longitude, -(48 + 2.8926 / 60));
    /* ddmmmmmm without the point */
    r = one("*HQ," ID ",V1,010203,A,37573392,S,145037022,E,000.00,173,280122,FF7FFBFF#");
    td_test_assert_near(r->latitude, -(37 + 57.3392 / 60));
    td_test_assert_near(r->longitude, 145 + 3.7022 / 60);
    /* fewer degree digits: 0 degrees, 7 degrees; five decimals */
    r = one("*HQ," ID ",V1,010203,A,701.8915,S,38.65080,W,0.00,0,050213,ffffffff#");
    td_test_assert_near(r->latitude, -(7 + 1.8915 / 60));
    td_test_assert_near(r->longitude, -(38.6508 / 60));
    /* blanks before the speed */
    r = one("*HQ," ID ",V1,010203,A,1935.3933,N,07920.4134,E,  3.34,342,280519,FFFFFFFF#");
    td_test_assert_near(r->speed, 3.34 * 1.852);
}

static void test_v1_without_fix(void **state)
{
    (void)state;
    /* No coordinates: a status record, still answered. */
    const td_record *r = one("*HQ," ID ",V1,,V,,N,,E,0.00,0,,FFFFF7FF#");
    assert_int_equal(r->type, TD_REC_STATUS);
    assert_false(r->has_time);
    assert_int_equal(r->time_ms, TD_TEST_NOW_MS);
    td_test_assert_reply(&ctx, "*HQ," ID ",V4,V1," NOW "#");
    /* No validity letter: not a valid fix. */
    r = one("*HQ," ID ",V1,050418,,2827.61232,N,07703.84822,E,0.00,0,031015,FFFEFBFF#");
    assert_int_equal(r->type, TD_REC_POSITION);
    assert_false(r->valid);
    td_test_assert_near(r->latitude, 28 + 27.61232 / 60);
    /* Coordinates but no time or date: a fix at the server's time. */
    r = one("*HQ," ID ",V1,,V,4605.75732,N,01430.73863,E,0.00,0,,FFFFFFFF#");
    assert_int_equal(r->type, TD_REC_POSITION);
    assert_false(r->valid);
    assert_false(r->has_time);
}

static void test_v1_optional_fields(void **state)
{
    (void)state;
    /* A power level before the date. */
    const td_record *r = one("*HQ," ID ",V1,054048,A,2828.2297,N,07733.4332,E,000.5,047,4,"
                             "080918,FFFFFBFF#");
    assert_int_equal(td_test_raw_int(r, "powerLevel"), 4);
    td_test_assert_time(r, "2018-09-08T05:40:48Z");
    /* SIM information between the date and the status (V19). */
    r = one("*HQ," ID ",V19,214452,A,5201.0178,N,01830.5029,E,000.00,000,200417,,10.0.0.1,"
            "89480610500392633029,FFFFFBFF#");
    assert_string_equal(td_test_raw_str(r, "info2"), "10.0.0.1");
    assert_string_equal(td_test_raw_str(r, "info3"), "89480610500392633029");
    assert_string_equal(td_test_raw_str(r, "type"), "V19");
    assert_string_equal(td_test_raw_str(r, "status"), "FFFFFBFF");
    assert_int_equal(ctx.reply_len, 0); /* only V1 is answered */
    /* No status at all. */
    r = one("*HQ," ID ",V1," FIX "#");
    assert_null(td_rec_raw_find(r, "status"));
    assert_false(td_rec_has(r, TD_ATTR_IGNITION));
}

static void test_v1_cell_after_status(void **state)
{
    (void)state;
    /* Decimal: 246 is a country code. */
    const td_record *r = one("*HQ," ID ",V1," FIX ",FFFFFBFF,246,03,00002,41565#");
    assert_int_equal(r->ncells, 1);
    td_test_assert_cell(r, 0, 246, 3, 2, 41565);
    /* Hex letters: all four in hex (0x25c = 604), blanks allowed. */
    r = one("*HQ," ID ",V1," FIX ",FFFFFBFF,25c,a, 154,b04c#");
    assert_int_equal(r->ncells, 1);
    td_test_assert_cell(r, 0, 604, 10, 0x154, 0xb04c);
    /* No letters, but 106 is no country code while 0x106 = 262 is. */
    r = one("*HQ," ID ",V1," FIX ",FFFFFBFF,106,14, 201,2173#");
    assert_int_equal(r->cells[0].mcc, 262);
    assert_int_equal(r->cells[0].lac, 0x201);
    /* A fifth field is kept. */
    r = one("*HQ," ID ",V1," FIX ",FFFFFBFF,310,260,0,0,6#");
    assert_int_equal(r->cells[0].mcc, 310);
    assert_string_equal(td_test_raw_str(r, "extra1"), "6");
    /* Neither reading is a country: all kept as they came. */
    r = one("*HQ," ID ",V1," FIX ",ffffffff,000000,000000,000000,000000#");
    assert_int_equal(r->ncells, 0);
    assert_string_equal(td_test_raw_str(r, "extra4"), "000000");
}

static void test_v1_odometer_tail(void **state)
{
    (void)state;
    const td_record *r = one("*HQ," ID ",V1," FIX ",FFFFDFFF,69129336,-5,100.0,18,5141,5A20#");
    td_test_assert_near(r->attr[TD_ATTR_ODOMETER].d, 69129336);
    td_test_assert_near(td_test_raw_double(r, "temperature"), -5);
    td_test_assert_near(td_test_raw_double(r, "fuel"), 100);
    td_test_assert_near(r->altitude, 18);
    assert_int_equal(td_test_raw_int(r, "lac"), 0x5141);
    assert_int_equal(td_test_raw_int(r, "cid"), 0x5a20);
}

/* The status word with only `bit` cleared gives exactly `alarm`. */
static void expect_bit(int bit, int alarm)
{
    char frame[160];
    uint32_t st = ~(1u << bit);
    snprintf(frame, sizeof(frame), "*HQ," ID ",V1," FIX ",%08X#", st);
    const td_record *r = one(frame);
    uint32_t want = alarm < 0 ? 0 : TD_ALARM_BIT(alarm);
    if (r->alarms != want)
        fail_msg("bit %d: alarms %x, want %x", bit, r->alarms, want);
}

static void test_status_bits(void **state)
{
    (void)state;
    expect_bit(0, TD_ALARM_VIBRATION);
    expect_bit(1, TD_ALARM_SOS);
    expect_bit(2, TD_ALARM_OVERSPEED);
    expect_bit(4, TD_ALARM_GEOFENCE_ENTER);
    expect_bit(7, TD_ALARM_GEOFENCE_EXIT);
    expect_bit(18, TD_ALARM_SOS);
    expect_bit(19, TD_ALARM_POWER_CUT);
    for (int bit = 0; bit < 32; bit++)
        if (bit != 0 && bit != 1 && bit != 2 && bit != 4 && bit != 7 && bit != 18 && bit != 19)
            expect_bit(bit, -1);
    /* ACC: bit 10 set is ignition on. */
    const td_record *r = one("*HQ," ID ",V1," FIX ",FFFFFFFF#");
    assert_true(r->attr[TD_ATTR_IGNITION].b);
    r = one("*HQ," ID ",V1," FIX ",fffffbff#");
    assert_false(r->attr[TD_ATTR_IGNITION].b);
    assert_string_equal(td_test_raw_str(r, "status"), "FFFFFBFF");
    /* Several at once. */
    r = one("*HQ," ID ",V1," FIX ",FFF3FBFA#");
    assert_int_equal(r->alarms, TD_ALARM_BIT(TD_ALARM_VIBRATION) |
                                    TD_ALARM_BIT(TD_ALARM_OVERSPEED) | TD_ALARM_BIT(TD_ALARM_SOS) |
                                    TD_ALARM_BIT(TD_ALARM_POWER_CUT));
}

static void test_v4_confirmation(void **state)
{
    (void)state;
    /* The device confirms command S20 (parameter DONE) sent at 130305. */
    const td_record *r = one("*HQ," ID ",V4,S20,DONE,130305," FIX ",FFFFFBFF#");
    assert_int_equal(r->type, TD_REC_POSITION);
    assert_string_equal(td_test_raw_str(r, "result"), "S20,DONE");
    td_test_assert_time(r, "2024-02-01T12:13:14Z");
    td_test_assert_near(r->latitude, 22 + 34.5678 / 60);
    assert_int_equal(ctx.reply_len, 0);
    r = one("*HQ," ID ",V4,S14,100,10,1,3,130305," FIX ",FFFFFBFF#");
    assert_string_equal(td_test_raw_str(r, "result"), "S14,100,10,1,3");
    /* Without a position: an acknowledgement. */
    r = one("*HQ," ID ",V4,S20,130305#");
    assert_int_equal(r->type, TD_REC_ACK);
    assert_string_equal(td_test_raw_str(r, "result"), "S20,130305");
}

static void test_nbr_cells(void **state)
{
    (void)state;
    const td_record *r =
        one("*HQ," ID ",NBR,103732,722,310,0,3,8106,32010,23,8101,22007,-67,8106,12010,25,"
            "100217,FFFBFBFF,5#");
    assert_int_equal(r->type, TD_REC_STATUS);
    td_test_assert_time(r, "2017-02-10T10:37:32Z");
    assert_int_equal(r->ncells, 3);
    td_test_assert_cell(r, 0, 722, 310, 8106, 32010);
    assert_true(r->cells[0].has_rssi);
    assert_int_equal(r->cells[0].rssi, 23);
    assert_int_equal(r->cells[1].rssi, -67);
    assert_int_equal(r->cells[2].cid, 12010);
    assert_int_equal(r->alarms, TD_ALARM_BIT(TD_ALARM_SOS));
    assert_string_equal(td_test_raw_str(r, "extra1"), "5");
    assert_int_equal(td_test_raw_int(r, "gsmDelay"), 0);
    td_test_assert_reply(&ctx, "*HQ," ID ",V4,NBR," NOW "#");
    /* A count that disagrees with the groups sent: the groups win. */
    r = one("*HQ," ID ",NBR,103732,722,310,0,5,8106,32010,23,8101,22007,-67,100217,FFFFFBFF#");
    assert_int_equal(r->ncells, 2);
    assert_int_equal(r->cells[1].lac, 8101);
    td_test_assert_time(r, "2017-02-10T10:37:32Z");
    /* Seconds past 59 (seen from real firmwares) carry over. */
    r = one("*HQ," ID ",NBR,160169,460,0,1,1,9338,3692,150,180813,FFFFFBFF#");
    td_test_assert_time(r, "2013-08-18T16:02:09Z");
}

static void test_link_status(void **state)
{
    (void)state;
    const td_record *r = one("*HQ," ID ",LINK,180902,15,4,84,1200,3,240517,FFFFFBFF#");
    assert_int_equal(r->type, TD_REC_STATUS);
    td_test_assert_time(r, "2017-05-24T18:09:02Z");
    assert_int_equal(r->attr[TD_ATTR_RSSI].i, 15);
    assert_int_equal(r->attr[TD_ATTR_SATELLITES].i, 4);
    assert_int_equal(r->attr[TD_ATTR_BATTERY_LEVEL].i, 84);
    assert_int_equal(r->attr[TD_ATTR_STEPS].i, 1200);
    assert_int_equal(td_test_raw_int(r, "turnovers"), 3);
    assert_int_equal(ctx.reply_len, 0);
}

static void test_v3_cells(void **state)
{
    (void)state;
    const td_record *r = one("*HQ," IMEI ",V3,095426,74001,02,010278,045142,128,-92,010278,"
                             "026311,125,,02DD,0,X,090517,FFFFFBFF#");
    assert_int_equal(r->type, TD_REC_STATUS);
    td_test_assert_time(r, "2017-05-09T09:54:26Z");
    assert_int_equal(r->ncells, 2);
    td_test_assert_cell(r, 0, 740, 1, 10278, 45142);
    assert_int_equal(r->cells[0].rssi, -92);
    assert_false(r->cells[1].has_rssi);
    assert_int_equal(td_test_raw_int(r, "batteryValue"), 0x2dd);
    assert_string_equal(td_test_raw_str(r, "reboots"), "0");
}

static void test_vp1(void **state)
{
    (void)state;
    const td_record *r = one("*hq," IMEI ",VP1,V,470,002,92,3565,0Y92,19433,30#");
    assert_int_equal(r->type, TD_REC_STATUS);
    assert_int_equal(r->ncells, 2);
    assert_int_equal(r->cells[0].mcc, 470);
    assert_int_equal(r->cells[0].mnc, 2);
    assert_int_equal(r->cells[1].cid, 19433);
    assert_int_equal(r->cells[1].rssi, 30);
    /* A fix with a date only: midnight of another day ... */
    r = one("*hq," IMEI ",VP1,A,2702.7245,S,15251.9311,E,0.48,0.0000,080917#");
    assert_int_equal(r->type, TD_REC_POSITION);
    assert_true(r->valid);
    td_test_assert_near(r->latitude, -(27 + 2.7245 / 60));
    td_test_assert_near(r->longitude, 152 + 51.9311 / 60);
    td_test_assert_time(r, "2017-09-08T00:00:00Z");
    /* ... and the server's time when the date is today. */
    r = one("*hq," IMEI ",VP1,A,2702.7245,S,15251.9311,E,0.48,0.0000,020126#");
    assert_int_equal(r->time_ms, TD_TEST_NOW_MS);
}

static void test_heartbeats(void **state)
{
    (void)state;
    const td_record *r = one("*HQ," IMEI ",HTBT,100#");
    assert_int_equal(r->type, TD_REC_HEARTBEAT);
    assert_string_equal(r->device_id, IMEI);
    assert_int_equal(r->attr[TD_ATTR_BATTERY_LEVEL].i, 100);
    td_test_assert_reply(&ctx, "*HQ," IMEI ",HTBT#");
    /* Some units send it without the battery. */
    r = one("*HQ," IMEI ",HTBT#");
    assert_false(td_rec_has(r, TD_ATTR_BATTERY_LEVEL));
    td_test_assert_reply(&ctx, "*HQ," IMEI ",HTBT#");
    r = one("*HQ," ID ",V0#");
    assert_int_equal(r->type, TD_REC_HEARTBEAT);
    td_test_assert_reply(&ctx, "*HQ," ID ",V0#");
}

static void test_other_types(void **state)
{
    (void)state;
    const td_record *r = one("*HQ," IMEI ",XT,1,100#");
    assert_int_equal(r->type, TD_REC_OTHER);
    assert_string_equal(td_test_raw_str(r, "type"), "XT");
    assert_string_equal(td_test_raw_str(r, "content"), "1,100");
    assert_int_equal(ctx.reply_len, 0);
}

static void test_session_identity(void **state)
{
    (void)state;
    /* A frame without an id is decoded with the id the session knows, and
     * answered with it. */
    memset(&sess, 0, sizeof(sess));
    assert_int_equal(td_test_decode(P, &sess, "*HQ," ID ",HTBT,50#", &ctx), 0);
    assert_int_equal(td_test_decode(P, &sess, "*HQ,,V1," FIX ",FFFFFBFF#", &ctx), 0);
    assert_string_equal(ctx.rec[0].device_id, ID);
    td_test_assert_reply(&ctx, "*HQ," ID ",V4,V1," NOW "#");
    /* In a fresh session it has none. */
    const td_record *r = one("*HQ,,V1," FIX ",FFFFFBFF#");
    assert_string_equal(r->device_id, "");
}

/* ---- binary record ---- */

/* A 32-byte record from the layout: id 4106000001, 12:13:14 01.02.24,
 * 22 34.5678' / 113 45.6789', speed 12 knots, course 45. */
static size_t binary(uint8_t *b, uint8_t power, uint8_t flags, uint32_t status)
{
    static const uint8_t rec[32] = {'$',  0x41, 0x06, 0x00, 0x00, 0x01, 0x12, 0x13,
                                    0x14, 0x01, 0x02, 0x24, 0x22, 0x34, 0x56, 0x78,
                                    0x00, 0x11, 0x34, 0x56, 0x78, 0x90, 0x01, 0x20,
                                    0x45, 0,    0,    0,    0,    0xff, 0x00, 0x07};
    memcpy(b, rec, sizeof(rec));
    b[16] = power;
    b[21] = (uint8_t)(0x90 | flags);
    b[25] = (uint8_t)(status >> 24);
    b[26] = (uint8_t)(status >> 16);
    b[27] = (uint8_t)(status >> 8);
    b[28] = (uint8_t)status;
    return sizeof(rec);
}

static void test_binary_record(void **state)
{
    (void)state;
    uint8_t b[64];
    size_t n = binary(b, 4, 0x0e, 0xfffffbff);
    const td_record *r = one_bytes(b, n);

    assert_int_equal(r->type, TD_REC_POSITION);
    assert_string_equal(r->device_id, ID);
    td_test_assert_time(r, "2024-02-01T12:13:14Z");
    assert_true(r->valid);
    td_test_assert_near(r->latitude, 22 + 34.5678 / 60);
    td_test_assert_near(r->longitude, 113 + 45.6789 / 60);
    td_test_assert_near(r->speed, 12 * 1.852);
    td_test_assert_near(r->course, 45);
    assert_int_equal(r->attr[TD_ATTR_BATTERY_LEVEL].i, 60);
    assert_false(r->attr[TD_ATTR_IGNITION].b);
    assert_string_equal(td_test_raw_str(r, "status"), "FFFFFBFF");
    assert_string_equal(td_test_raw_str(r, "extra"), "ff0007");
    assert_int_equal(ctx.reply_len, 0); /* binary records are not answered */

    /* South, west, no fix; charging at step 3; SOS. */
    n = binary(b, 0xf3, 0x00, 0xfffbffff);
    r = one_bytes(b, n);
    assert_false(r->valid);
    td_test_assert_near(r->latitude, -(22 + 34.5678 / 60));
    td_test_assert_near(r->longitude, -(113 + 45.6789 / 60));
    assert_int_equal(r->attr[TD_ATTR_BATTERY_LEVEL].i, 40);
    assert_true(r->attr[TD_ATTR_CHARGING].b);
    assert_int_equal(r->alarms, TD_ALARM_BIT(TD_ALARM_SOS));
    /* A percentage, and extension bytes kept as hex. */
    n = binary(b, 77, 0x0e, 0xffffffff);
    memcpy(b + n, "\x01\x02\x03", 3);
    r = one_bytes(b, n + 3);
    assert_int_equal(r->attr[TD_ATTR_BATTERY_LEVEL].i, 77);
    assert_string_equal(td_test_raw_str(r, "extra"), "ff0007010203");
}

static void test_binary_long_id(void **state)
{
    (void)state;
    /* The long-id form: an 8-byte id holding a 15-digit IMEI and a filler
     * nibble, then the same record (35 bytes). */
    uint8_t s[32], b[64];
    static const uint8_t id[8] = {0x86, 0x50, 0x00, 0x00, 0x00, 0x00, 0x00, 0x1f};
    binary(s, 4, 0x0e, 0xfffffbff);
    b[0] = '$';
    memcpy(b + 1, id, 8);
    memcpy(b + 9, s + 6, 26);
    const td_record *r = one_bytes(b, 35);
    assert_string_equal(r->device_id, IMEI);
    td_test_assert_time(r, "2024-02-01T12:13:14Z");
    td_test_assert_near(r->latitude, 22 + 34.5678 / 60);
    td_test_assert_near(r->longitude, 113 + 45.6789 / 60);
    assert_string_equal(td_test_raw_str(r, "extra"), "ff0007");
    /* Detected and framed as one 35-byte frame before the next. */
    assert_int_equal(P->detect(b, 35), TD_DETECT_YES);
    memcpy(b + 35, "*HQ,1,V0#", 9);
    size_t skip;
    assert_int_equal(P->frame(b, 44, &skip), 35);
    assert_int_equal(P->frame(b, 34, &skip), 0);
}

/* ---- vectors, detection, framing ---- */

/* h02 says yes to no frame of another family (TD_TEST_FAMILY_CASES): in
 * particular not to meitrack's `$$`. */
static void test_detect_meitrack(void **state)
{
    (void)state;
    /* The hard pair by hand: `$$` + flag + length + ',' never passes the
     * BCD time check of a binary record. */
    static const char *const meitrack[] = {"$$A141,012896005334567,AAA,35,",
                                           "$$D28,353358017784062,D03,OK*F3",
                                           "$$f1095,867951078010564,CCE,", "$$Q9,"};
    td_test_detect_each(P, meitrack, TD_TEST_COUNT(meitrack), TD_DETECT_NO);
    /* A binary record whose id starts with 24 does begin "$$" and is h02. */
    uint8_t b[32];
    binary(b, 4, 0x0e, 0xffffffff);
    b[1] = 0x24;
    assert_int_equal(P->detect(b, 32), TD_DETECT_YES);
    assert_int_equal(P->detect(b, 6), TD_DETECT_MAYBE);
}

static void test_detect_shapes(void **state)
{
    (void)state;
    static const char *const maybe[] = {"*",         "*H",         "*HQ",      "*HQ,", "*HQ,4106",
                                        "*HQ,4106,", "*HQ,4106,V", "*hq,,VP1", "$",    "$\x41\x06"};
    static const char *const no[] = {
        "*HQ,865205030330012,V1,123519,A#", /* too few fields for a V1 */
        "*H1,",                             /* maker code of letters */
        "*HQ;",
        "*HQ,12345678901234567890123,V1,", /* id too long */
        "*HQ,4106,V1\x01",
        "*HQ,4106,ABCDEFGHIJ,",                  /* type too long */
        "*HQ,4106,NBR,1,2#",                     /* an NBR without its cells */
        "$\x41\x06\x11\x11\x11\x25\x11\x11\x25", /* hour 25, short or long id */
        "$\x4a",                                 /* not BCD */
        "$\x41\x06\x11\x11\x11\x12\x13\x14\x32", /* day 32 */
    };
    static const char *const yes[] = {"*HQ,4106,V1,", "*HQ,,XT#"};
    td_test_detect_each(P, maybe, TD_TEST_COUNT(maybe), TD_DETECT_MAYBE);
    td_test_detect_each(P, no, TD_TEST_COUNT(no), TD_DETECT_NO);
    td_test_detect_each(P, yes, TD_TEST_COUNT(yes), TD_DETECT_YES);
}

/* Text frames and binary records back to back, with line ends and noise
 * between them, split in two at every byte: the same frames come out, each
 * as soon as its last byte is in. */
static void test_framer_split_everywhere(void **state)
{
    (void)state;
    static td_test_stream s;
    uint8_t b[64];

    td_test_stream_reset(&s);
    td_test_stream_text(&s, "*HQ," ID ",V1," FIX ",FFFFFBFF#");
    td_test_stream_frame(&s, b, binary(b, 4, 0x0e, 0xffffffff));
    td_test_stream_text(&s, "*HQ," ID ",HTBT,80#");
    /* Line end and noise. After a binary record they would be read as its
     * extension bytes. */
    td_test_stream_noise(&s, "\r\n##  \x01", 7);
    td_test_stream_frame(&s, b, binary(b, 4, 0x0e, 0xffffffff));
    td_test_stream_text(&s, "*HQ," ID ",NBR,103732,722,310,0,1,8106,32010,23,100217,FFFFFBFF#");
    td_test_stream_frame(&s, b, binary(b, 4, 0x0e, 0xfffbffff));
    /* Every frame is out before the flush. */
    td_test_split_everywhere(P, &s, s.n);
}

/* A record with extension bytes arrives whole and is cut at the next frame. */
static void test_framer_extension_bytes(void **state)
{
    (void)state;
    json_t *vectors = td_test_family_vectors("h02");
    static uint8_t buf[512];
    static td_test_frames got;
    size_t i, long_ones = 0;
    json_t *v;
    const char *next = "*HQ," ID ",HTBT,80#";

    json_array_foreach(vectors, i, v)
    {
        size_t n = td_test_vector_frame(v, buf, sizeof(buf));
        if (buf[0] != '$' || n <= 32)
            continue;
        long_ones++;
        memcpy(buf + n, next, strlen(next));
        td_stream st;
        char err[128];
        memset(&got, 0, sizeof(got));
        td_stream_init(&st, TD_TCP, NULL);
        assert_int_equal(td_stream_feed(&st, buf, n + strlen(next), td_test_collect_frame, &got,
                                        err, sizeof(err)),
                         0);
        assert_int_equal(got.n, 2);
        assert_int_equal(got.len[0], n);
        assert_int_equal(got.len[1], strlen(next));
        td_stream_free(&st);
    }
    assert_true(long_ones >= 2);
    json_decref(vectors);
}

static void test_framer_limits(void **state)
{
    (void)state;
    size_t skip;

    /* A text frame that never ends: more than the 1024 bytes it may have. */
    td_test_frame_too_big(P, "*HQ," ID ",V1,", '0', 1100);
    /* A binary record waits for its 32 bytes. */
    uint8_t b[40];
    binary(b, 4, 0x0e, 0xffffffff);
    assert_int_equal(P->frame(b, 31, &skip), 0);
    assert_int_equal(skip, 0);
    assert_int_equal(P->frame(b, 32, &skip), 32);
    /* Line ends after a record end it. */
    b[32] = '\r';
    b[33] = '\n';
    assert_int_equal(P->frame(b, 34, &skip), 32);
    /* Noise before a frame is skipped. */
    assert_int_equal(P->frame((const uint8_t *)"\r\nxx*HQ,1,V0#", 13, &skip), 9);
    assert_int_equal(skip, 4);
}

/* ---- malformed input ---- */

static void expect_error(const char *frame, const char *msg)
{
    td_test_expect_error(P, &ctx, frame, msg);
}

static void test_errors(void **state)
{
    (void)state;
    expect_error("*HQ," ID ",V1," FIX ",FFFFFBFF", "h02: text frame does not end with '#'");
    expect_error("*HQ," ID ",V1,121314,A#", "h02: V1 with 2 of 9 fields");
    expect_error("*HQ," ID ",V1,121314,A,9934.5678,N,11345.6789,E,1,2,010224#",
                 "h02: bad latitude '9934.5678'");
    expect_error("*HQ," ID ",V1,121314,A,2234.5678,N,11375.6789,E,1,2,010224#",
                 "h02: bad longitude '11375.6789'");
    expect_error("*HQ," ID ",V1,121314,A,2234.5678,X,11345.6789,E,1,2,010224#",
                 "h02: bad latitude '2234.5678'");
    expect_error("*HQ," ID ",V1,121314,Q,2234.5678,N,11345.6789,E,1,2,010224#",
                 "h02: bad validity 'Q'");
    expect_error("*HQ," ID ",V1,121314,A,2234.5678,N,11345.6789,E,1,2,013224#",
                 "h02: bad date '013224'");
    expect_error("*HQ," ID ",V1,251314,A,2234.5678,N,11345.6789,E,1,2,010224#",
                 "h02: bad time '251314'");
    expect_error("*HQ," ID ",V1," FIX ",FFFFFBF#", "h02: bad vehicle status 'FFFFFBF'");
    expect_error("*HQ," ID ",V1," FIX ",ZZ,1,2,3,4#", "h02: bad vehicle status 'ZZ'");
    expect_error("*HQ," ID ",V1,121314,A,2234.5678,N,11345.6789,E,fast,2,010224#",
                 "h02: bad speed 'fast'");
    expect_error("*HQ," ID ",V1,121314,A,2234.5678,N,,E,1,2,010224#", "h02: bad longitude ''");
    expect_error("*HQX,1,V1#", "h02: bad maker code 'HQX'");
    expect_error("*HQ,12a,V1#", "h02: bad device id '12a'");
    expect_error("*HQ,1#", "h02: no message type");
    expect_error("*HQ,1,V-1#", "h02: bad message type 'V-1'");
    expect_error("*HQ,1,HTBT,full#", "h02: bad battery 'full'");
    expect_error("*HQ,1,NBR,103732,722,310,0,5,1,2,3,FFFFFBFF#", "h02: bad cell count '5'");
    expect_error("*HQ,1,LINK,180902,15,x,84,0,0,240517,FFFFFBFF#", "h02: bad satellites 'x'");
    expect_error("*HQ,1,V3,095426,7,1,1,2,3,4,02DD,0,X,090517,FFFFFBFF#", "h02: bad operator '7'");
    expect_error("*hq,1,VP1,V,470,002,92,3565#", "h02: bad cell '92,3565'");
    expect_error("", "h02: empty frame");
    expect_error("HQ,1,V1#", "h02: frame starts with 0x48, not '*' or '$'");
    expect_error("$\x41\x06\x11\x11\x11", "h02: binary record of 6 of 32 bytes");

    uint8_t b[40];
    binary(b, 4, 0x0e, 0xffffffff);
    b[7] = 0x61; /* minute 61 */
    td_test_expect_error_bytes(P, &ctx, b, 32, "h02: bad time byte 0x61 at 7 in a binary record");
    binary(b, 4, 0x0e, 0xffffffff);
    b[13] = 0x3a; /* not BCD */
    td_test_expect_error_bytes(P, &ctx, b, 32,
                               "h02: bad latitude byte 0x3a at 13 in a binary record");
}

/* The family checks: at least 40 vectors; h02 says no within 12 bytes of
 * another family's frame; every vector cut at every length and corrupted
 * at every byte, and random input, decode or fail with a message naming
 * h02 (what they accept is sane), mostly fail. */
static const td_test_family family = {
    .proto = &td_proto_h02,
    .min_vectors = 40,
    .no_by = 12,
    .corrupt = {0x00, ',', '#', '*', '$', 'A', '9', 0xff},
    .ncorrupt = 8,
    .mostly_rejected = true,
    .random =
        {
            .rounds = 3000,
            .max_len = 200,
            .head = {"*HQ," ID ",V1,", "$\x41\x06\x00\x00\x01\x12\x13\x14\x01\x02\x24"},
            .head_len = {0, 12},
            .alphabet = "0123456789,.-*$#ABVNSEWHQ",
        },
    .min_rejected = 2500,
};

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_v1_position),
        cmocka_unit_test(test_v1_maker_and_imei),
        cmocka_unit_test(test_v1_south_west_invalid),
        cmocka_unit_test(test_v1_coordinate_forms),
        cmocka_unit_test(test_v1_without_fix),
        cmocka_unit_test(test_v1_optional_fields),
        cmocka_unit_test(test_v1_cell_after_status),
        cmocka_unit_test(test_v1_odometer_tail),
        cmocka_unit_test(test_status_bits),
        cmocka_unit_test(test_v4_confirmation),
        cmocka_unit_test(test_nbr_cells),
        cmocka_unit_test(test_link_status),
        cmocka_unit_test(test_v3_cells),
        cmocka_unit_test(test_vp1),
        cmocka_unit_test(test_heartbeats),
        cmocka_unit_test(test_other_types),
        cmocka_unit_test(test_session_identity),
        cmocka_unit_test(test_binary_record),
        cmocka_unit_test(test_binary_long_id),
        TD_TEST_FAMILY_CASES(&family),
        cmocka_unit_test(test_detect_meitrack),
        cmocka_unit_test(test_detect_shapes),
        cmocka_unit_test(test_framer_split_everywhere),
        cmocka_unit_test(test_framer_extension_bytes),
        cmocka_unit_test(test_framer_limits),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
