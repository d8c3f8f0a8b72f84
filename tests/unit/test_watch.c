/*
 * watch decoder tests. Every frame here is constructed from the layouts in
 * docs/protocols/watch.md (the SeTracker/Beesure server protocol) with a
 * made-up device id and places; the captured device frames live in
 * tests/vectors/ and run in test_vectors. One test per message type, then
 * the framer (joined frames, every split point, miscounted lengths) and
 * malformed input (truncations, bad header and fields, oversize, garbage).
 * Last the downlink: every command type byte for byte as the vendor
 * document (fact sheet section 5) writes it, the answers that acknowledge
 * them, voice messages as media, encoder errors.
 */
#include "support.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/text.h"

#define ID "1234567890"

TD_TEST_PROTOCOL(watch)

#define assert_near(got, want, eps) near_((got), (want), (eps), __LINE__)

static void near_(double got, double want, double eps, int line)
{
    if (!(fabs(got - want) <= eps))
        fail_msg("line %d: %.9f is not %.9f", line, got, want);
}

static int64_t iso(const char *s)
{
    int64_t ms;
    assert_true(td_parse_iso8601(s, &ms));
    return ms;
}

/* Writes [mf*id*(seq*)LLLL*content] with the content length computed. */
static size_t build(uint8_t *out, const char *mf, const char *id, const char *seq,
                    const void *content, size_t n)
{
    int k = seq ? sprintf((char *)out, "[%s*%s*%s*%04X*", mf, id, seq, (unsigned)n)
                : sprintf((char *)out, "[%s*%s*%04X*", mf, id, (unsigned)n);
    memcpy(out + k, content, n);
    out[(size_t)k + n] = ']';
    out[(size_t)k + n + 1] = '\0';
    return (size_t)k + n + 1;
}

static const char *text_frame(const char *mf, const char *content)
{
    static char buf[2048];
    build((uint8_t *)buf, mf, ID, NULL, content, strlen(content));
    return buf;
}

static void assert_raw_str(const td_record *r, const char *key, const char *want)
{
    assert_string_equal(td_test_raw_str(r, key), want);
}

static void assert_raw_int(const td_record *r, const char *key, int64_t want)
{
    assert_int_equal(td_test_raw_int(r, key), want);
}

static void assert_raw_double(const td_record *r, const char *key, double want)
{
    assert_near(td_test_raw_double(r, key), want, 1e-9);
}

static void assert_attr_int(const td_record *r, td_attr a, int64_t want)
{
    assert_int_equal(td_test_attr_int(r, a), want);
}

/* Decodes a frame that must give one record of `type`, with `reply`
 * (NULL: none). */
static const td_record *decode_one(const char *frame, td_rec_type type, const char *reply)
{
    assert_int_equal(td_test_decode(P, NULL, frame, &ctx), 0);
    assert_int_equal(ctx.nrec, 1);
    assert_int_equal(ctx.rec[0].type, type);
    assert_string_equal(ctx.rec[0].device_id, ID);
    if (reply)
        assert_string_equal(td_test_reply(&ctx), reply);
    else
        assert_int_equal(ctx.reply_len, 0);
    return &ctx.rec[0];
}

static void test_detect(void **state)
{
    (void)state;
    static const char *const yes[] = {"[SG*" ID "*", "[3G*" ID "*0002*LK]", "[CS*1*",
                                      "[ZJ*014111001350304*0001*0002*LK]", "[X9*a-b_c*"};
    static const char *const maybe[] = {"[", "[S", "[SG", "[SG*", "[3G*12345"};
    static const char *const no[] = {"IWAP00353456789012345#",
                                     "TRVAP00353456789012345#",
                                     "123456789012345,CMD-T",
                                     "[sg*1*",
                                     "[SG-1*",
                                     "[SG**",
                                     "(SG*1*",
                                     "[SG*12 34*",
                                     "[SG*12345678901234567890123456789012*"};

    td_test_detect_each(P, yes, TD_TEST_COUNT(yes), TD_DETECT_YES);
    td_test_detect_each(P, maybe, TD_TEST_COUNT(maybe), TD_DETECT_MAYBE);
    td_test_detect_each(P, no, TD_TEST_COUNT(no), TD_DETECT_NO);
    assert_int_equal(P->detect((const uint8_t *)"", 0), TD_DETECT_MAYBE);
}

static void test_lk_bare(void **state)
{
    (void)state;
    const char *f = "[SG*" ID "*0002*LK]";
    assert_string_equal(text_frame("SG", "LK"), f);
    const td_record *r = decode_one(f, TD_REC_HEARTBEAT, "[SG*" ID "*0002*LK]");
    assert_false(r->has_time);
    assert_int_equal(r->time_ms, TD_TEST_NOW_MS);
    assert_int_equal(r->attr_set, 0);
}

static void test_lk_with_values(void **state)
{
    (void)state;
    const char *f = "[3G*" ID "*000C*LK,50,100,87]";
    assert_string_equal(text_frame("3G", "LK,50,100,87"), f);
    const td_record *r = decode_one(f, TD_REC_HEARTBEAT, "[3G*" ID "*0002*LK]");
    assert_attr_int(r, TD_ATTR_STEPS, 50);
    assert_raw_int(r, "rolls", 100);
    assert_attr_int(r, TD_ATTR_BATTERY_LEVEL, 87);
}

/* The sheet's constructed UD_LTE frame, field by field. */
static void test_ud_lte(void **state)
{
    (void)state;
    const char *content = "UD_LTE,250124,083015,A,48.856613,N,2.352222,E,0.00,0.0,35.0,8,80,76,"
                          "1200,3,00000000,1,255,208,1,12345,67890,150,1,home,"
                          "a0:b1:c2:d3:e4:f5,-60,12.5";
    const char *f = "[3G*" ID "*0091*UD_LTE,250124,083015,A,48.856613,N,2.352222,E,0.00,0.0,"
                    "35.0,8,80,76,1200,3,00000000,1,255,208,1,12345,67890,150,1,home,"
                    "a0:b1:c2:d3:e4:f5,-60,12.5]";
    assert_string_equal(text_frame("3G", content), f);

    const td_record *r = decode_one(f, TD_REC_POSITION, NULL);
    assert_true(r->has_time);
    assert_int_equal(r->time_ms, iso("2024-01-25T08:30:15Z"));
    assert_true(r->valid);
    assert_near(r->latitude, 48.856613, 1e-6);
    assert_near(r->longitude, 2.352222, 1e-6);
    assert_near(r->speed, 0.0, 1e-9);
    assert_near(r->course, 0.0, 1e-9);
    assert_near(r->altitude, 35.0, 1e-9);
    assert_attr_int(r, TD_ATTR_SATELLITES, 8);
    assert_attr_int(r, TD_ATTR_RSSI, 80);
    assert_attr_int(r, TD_ATTR_BATTERY_LEVEL, 76);
    assert_attr_int(r, TD_ATTR_STEPS, 1200);
    assert_raw_int(r, "rolls", 3);
    assert_raw_str(r, "status", "00000000");
    assert_raw_str(r, "message", "UD_LTE");
    assert_int_equal(r->alarms, 0);
    assert_false(td_rec_has(r, TD_ATTR_MOTION));
    assert_raw_int(r, "timingAdvance", 255);
    assert_int_equal(r->ncells, 1);
    assert_int_equal(r->cells[0].mcc, 208);
    assert_int_equal(r->cells[0].mnc, 1);
    assert_int_equal(r->cells[0].lac, 12345);
    assert_int_equal(r->cells[0].cid, 67890);
    assert_true(r->cells[0].has_rssi);
    assert_int_equal(r->cells[0].rssi, 150);
    assert_int_equal(r->nwifi, 1);
    assert_string_equal(r->wifi[0].mac, "a0:b1:c2:d3:e4:f5");
    assert_int_equal(r->wifi[0].rssi, -60);
    assert_raw_double(r, "accuracy", 12.5);
}

/* UD, UD2, UD3, UD_WCDMA and WT share the layout and get no reply. */
static void test_ud_family(void **state)
{
    (void)state;
    static const char *const words[] = {"UD", "UD2", "UD3", "UD_WCDMA", "WT"};
    char content[256];

    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
        snprintf(content, sizeof(content),
                 "%s,010225,235959,V,51.500729,N,0.124625,W,3.50,271.3,-4.5,3,55,12,77,0,"
                 "00000000,0,0",
                 words[i]);
        const td_record *r = decode_one(text_frame("SG", content), TD_REC_POSITION, NULL);
        assert_int_equal(r->time_ms, iso("2025-02-01T23:59:59Z"));
        assert_false(r->valid);
        assert_near(r->latitude, 51.500729, 1e-6);
        assert_near(r->longitude, -0.124625, 1e-6);
        assert_near(r->speed, 3.5, 1e-9);
        assert_near(r->course, 271.3, 1e-9);
        assert_near(r->altitude, -4.5, 1e-9);
        assert_attr_int(r, TD_ATTR_BATTERY_LEVEL, 12);
        assert_attr_int(r, TD_ATTR_STEPS, 77);
        assert_int_equal(r->ncells, 0);
        assert_int_equal(r->nwifi, 0);
        assert_raw_str(r, "message", words[i]);
    }
}

/* Hemisphere letters, empty letters, signed values and leading spaces. */
static void test_coordinates(void **state)
{
    (void)state;
    static const struct {
        const char *lat, *ns, *lon, *ew;
        double want_lat, want_lon;
    } cases[] = {
        {"33.868820", "S", "151.209290", "E", -33.868820, 151.209290},
        {"-33.868820", "S", "-151.209290", "W", -33.868820, -151.209290},
        {"-33.868820", "N", "-70.100000", "E", -33.868820, -70.1},
        {"12.500000", "", "-8.250000", "", 12.5, -8.25},
        {" 9.1574736", "N", " 0.0000000", "E", 9.1574736, 0.0},
        {"00.000000", "", "000.000000", "", 0.0, 0.0},
    };
    char content[256];

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        snprintf(content, sizeof(content),
                 "UD,150325,101010,A,%s,%s,%s,%s,0,0,0,0,0,0,0,0,"
                 "00000000,0",
                 cases[i].lat, cases[i].ns, cases[i].lon, cases[i].ew);
        const td_record *r = decode_one(text_frame("3G", content), TD_REC_POSITION, NULL);
        assert_near(r->latitude, cases[i].want_lat, 1e-6);
        assert_near(r->longitude, cases[i].want_lon, 1e-6);
    }
}

/* The sheet's constructed AL_LTE frame: SOS + fall; the watch wants "AL". */
static void test_al_lte(void **state)
{
    (void)state;
    const char *f = "[3G*" ID "*0076*AL_LTE,250124,083015,A,48.856613,N,2.352222,E,0.00,0.0,"
                    "35.0,8,80,76,1200,3,00210000,1,255,208,1,12345,67890,150,0,20.0]";
    const td_record *r = decode_one(f, TD_REC_POSITION, "[3G*" ID "*0002*AL]");
    assert_int_equal(r->alarms, TD_ALARM_BIT(TD_ALARM_SOS) | TD_ALARM_BIT(TD_ALARM_FALL));
    assert_raw_str(r, "status", "00210000");
    assert_raw_str(r, "message", "AL_LTE");
    assert_int_equal(r->ncells, 1);
    assert_int_equal(r->nwifi, 0);
    assert_raw_double(r, "accuracy", 20.0);
}

static void test_al_variants(void **state)
{
    (void)state;
    static const char *const words[] = {"AL", "ALCUSTOMER1"};
    char content[256];

    for (size_t i = 0; i < 2; i++) {
        snprintf(content, sizeof(content),
                 "%s,300625,061500,V,0.000000,N,0.000000,E,0,0,0,0,40,50,0,0,00100000,0", words[i]);
        const td_record *r =
            decode_one(text_frame("CS", content), TD_REC_POSITION, "[CS*" ID "*0002*AL]");
        assert_false(r->valid);
        assert_int_equal(r->alarms, TD_ALARM_BIT(TD_ALARM_REMOVAL));
    }
}

/* Every status bit the manufacturer defines, one at a time and together. */
static void test_status_bits(void **state)
{
    (void)state;
    static const struct {
        const char *hex;
        uint32_t alarms;
        const char *raw_bool; /* raw attribute set true, or NULL */
        bool static_device;
    } cases[] = {
        {"00000001", TD_ALARM_BIT(TD_ALARM_LOW_BATTERY), NULL, false},
        {"00000002", TD_ALARM_BIT(TD_ALARM_GEOFENCE_EXIT), NULL, false},
        {"00000004", TD_ALARM_BIT(TD_ALARM_GEOFENCE_ENTER), NULL, false},
        {"00000008", 0, "worn", false},
        {"00000010", 0, NULL, true},
        {"00004000", TD_ALARM_BIT(TD_ALARM_POWER_CUT), NULL, false},
        {"00010000", TD_ALARM_BIT(TD_ALARM_SOS), NULL, false},
        {"00020000", TD_ALARM_BIT(TD_ALARM_LOW_BATTERY), NULL, false},
        {"00040000", TD_ALARM_BIT(TD_ALARM_GEOFENCE_EXIT), NULL, false},
        {"00080000", TD_ALARM_BIT(TD_ALARM_GEOFENCE_ENTER), NULL, false},
        {"00100000", TD_ALARM_BIT(TD_ALARM_REMOVAL), NULL, false},
        {"00200000", TD_ALARM_BIT(TD_ALARM_FALL), NULL, false},
        {"00400000", 0, "heartRateAlarm", false},
        {"80000000", 0, NULL, false},
        {"0031001F",
         TD_ALARM_BIT(TD_ALARM_SOS) | TD_ALARM_BIT(TD_ALARM_REMOVAL) | TD_ALARM_BIT(TD_ALARM_FALL) |
             TD_ALARM_BIT(TD_ALARM_LOW_BATTERY) | TD_ALARM_BIT(TD_ALARM_GEOFENCE_EXIT) |
             TD_ALARM_BIT(TD_ALARM_GEOFENCE_ENTER),
         "worn", true},
        {"0001", TD_ALARM_BIT(TD_ALARM_LOW_BATTERY), NULL, false},
        {"zz", 0, NULL, false},
    };
    char content[256];

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        snprintf(content, sizeof(content),
                 "UD,010125,000000,A,1.000000,N,2.000000,E,0,0,0,5,50,50,0,0,%s,0", cases[i].hex);
        const td_record *r = decode_one(text_frame("SG", content), TD_REC_POSITION, NULL);
        assert_int_equal(r->alarms, cases[i].alarms);
        assert_raw_str(r, "status", cases[i].hex);
        if (cases[i].raw_bool)
            assert_true(td_test_raw_bool(r, cases[i].raw_bool));
        assert_int_equal(td_rec_has(r, TD_ATTR_MOTION), cases[i].static_device);
        if (cases[i].static_device)
            assert_false(r->attr[TD_ATTR_MOTION].b);
    }
}

/* Several cells, LAC/CID in hex, empty RSSI, Wi-Fi with an empty SSID and
 * an SSID holding a comma. */
static void test_cells_and_wifi(void **state)
{
    (void)state;
    const char *content =
        "UD_LTE,050525,120000,V,0.0,N,0.0,E,0,0,0,0,60,70,0,0,00000000,3,1,262,02,"
        "5A1F,7C3B2E1,,21041,9067,121,0x,12,90,3,,11:22:33:44:55:66,-71,cafe,bar,"
        "AA:BB:CC:DD:EE:FF,-80,x,01:02:03:04:05:06,-90,35.5";
    const td_record *r = decode_one(text_frame("3G", content), TD_REC_POSITION, NULL);

    assert_int_equal(r->ncells, 2); /* the third has a bad LAC */
    assert_int_equal(r->cells[0].mcc, 262);
    assert_int_equal(r->cells[0].mnc, 2);
    assert_int_equal(r->cells[0].lac, 0x5A1F);
    assert_int_equal(r->cells[0].cid, 0x7C3B2E1);
    assert_false(r->cells[0].has_rssi);
    assert_int_equal(r->cells[1].lac, 21041);
    assert_int_equal(r->cells[1].cid, 9067);
    assert_int_equal(r->cells[1].rssi, 121);
    assert_int_equal(r->nwifi, 3);
    assert_string_equal(r->wifi[0].mac, "11:22:33:44:55:66");
    assert_int_equal(r->wifi[0].rssi, -71);
    assert_string_equal(r->wifi[1].mac, "aa:bb:cc:dd:ee:ff");
    assert_int_equal(r->wifi[1].rssi, -80);
    assert_string_equal(r->wifi[2].mac, "01:02:03:04:05:06");
    assert_int_equal(r->wifi[2].rssi, -90);
    assert_raw_double(r, "accuracy", 35.5);
}

/* No cells: Wi-Fi found whether or not TA/MCC/MNC are still sent. */
static void test_wifi_without_cells(void **state)
{
    (void)state;
    static const char *const tails[] = {"0,2,a,10:20:30:40:50:60,-50,b,10:20:30:40:50:61,-60,8.0",
                                        "0,255,460,0,2,a,10:20:30:40:50:60,-50,b,"
                                        "10:20:30:40:50:61,-60,8.0"};
    char content[256];

    for (size_t i = 0; i < 2; i++) {
        snprintf(content, sizeof(content),
                 "UD,010125,000000,V,0.0,N,0.0,E,0,0,0,0,50,50,0,0,00000000,%s", tails[i]);
        const td_record *r = decode_one(text_frame("3G", content), TD_REC_POSITION, NULL);
        assert_int_equal(r->ncells, 0);
        assert_int_equal(r->nwifi, 2);
        assert_string_equal(r->wifi[1].mac, "10:20:30:40:50:61");
        assert_int_equal(r->wifi[1].rssi, -60);
        assert_raw_double(r, "accuracy", 8.0);
    }
}

/* A position with only the required fields. */
static void test_short_position(void **state)
{
    (void)state;
    const td_record *r =
        decode_one(text_frame("SG", "UD,311224,235959,A,10.5,N,20.25,E"), TD_REC_POSITION, NULL);
    assert_int_equal(r->time_ms, iso("2024-12-31T23:59:59Z"));
    assert_near(r->latitude, 10.5, 1e-9);
    assert_int_equal(r->attr_set, 0);
}

/* Optional fields that do not parse are kept raw, never an error. */
static void test_bad_optional_fields(void **state)
{
    (void)state;
    const td_record *r = decode_one(
        text_frame("SG", "UD,010125,000000,A,1.0,N,2.0,E,fast,-5,high,x,y,150,z,w,00000000,q"),
        TD_REC_POSITION, NULL);
    assert_raw_str(r, "speed", "fast");
    assert_raw_str(r, "course", "-5");
    assert_raw_str(r, "altitude", "high");
    assert_raw_str(r, "satellites", "x");
    assert_raw_str(r, "rssi", "y");
    assert_raw_str(r, "batteryLevel", "150");
    assert_raw_str(r, "steps", "z");
    assert_raw_str(r, "rolls", "w");
    assert_int_equal(r->attr_set, 0);
}

/* PP: "touch to add friend", device time before the position block. */
static void test_pp(void **state)
{
    (void)state;
    const td_record *r = decode_one(
        text_frame("3G", "PP,101112,200325,101112,A,40.416775,N,3.703790,W,0,0,650,6,70,60,0,0,"
                         "00000000,0"),
        TD_REC_POSITION, NULL);
    assert_int_equal(r->time_ms, iso("2025-03-20T10:11:12Z"));
    assert_near(r->longitude, -3.70379, 1e-6);
    assert_near(r->altitude, 650.0, 1e-9);
    assert_raw_str(r, "deviceTime", "101112");
}

/* The ZJ variant: the sequence field is echoed in the reply. */
static void test_zj_sequence(void **state)
{
    (void)state;
    const char *f = "[ZJ*" ID "*0A1B*0002*LK]";
    const td_record *r = decode_one(f, TD_REC_HEARTBEAT, "[ZJ*" ID "*0A1B*0002*LK]");
    assert_false(r->has_time);

    uint8_t buf[256];
    const char *al = "AL,010125,000000,A,1.0,N,2.0,E,0,0,0,0,0,0,0,0,00010000,0";
    build(buf, "ZJ", ID, "00ff", al, strlen(al));
    r = decode_one((const char *)buf, TD_REC_POSITION, "[ZJ*" ID "*00ff*0002*AL]");
    assert_int_equal(r->alarms, TD_ALARM_BIT(TD_ALARM_SOS));

    r = decode_one("[ZJ*" ID "*0007*0009*TEMP,37.2]", TD_REC_STATUS, NULL);
    assert_near(r->attr[TD_ATTR_BODY_TEMPERATURE].d, 37.2, 1e-9);
}

static void test_heart(void **state)
{
    (void)state;
    const td_record *r = decode_one(text_frame("3G", "heart,88"), TD_REC_STATUS, NULL);
    assert_attr_int(r, TD_ATTR_HEART_RATE, 88);
    assert_false(r->has_time);

    r = decode_one(text_frame("CS", "PULSE,64"), TD_REC_STATUS, NULL);
    assert_attr_int(r, TD_ATTR_HEART_RATE, 64);

    r = decode_one(text_frame("3G", "heart,0"), TD_REC_STATUS, NULL); /* 0: no reading */
    assert_false(td_rec_has(r, TD_ATTR_HEART_RATE));

    r = decode_one(text_frame("3G", "hrtstart,75"), TD_REC_STATUS, NULL);
    assert_attr_int(r, TD_ATTR_HEART_RATE, 75);

    r = decode_one(text_frame("3G", "hrtstart"), TD_REC_ACK, NULL);
    assert_raw_str(r, "command", "hrtstart");
}

static void test_bphrt(void **state)
{
    (void)state;
    const td_record *r = decode_one("[3G*" ID "*001B*bphrt,118,76,70,172,1,45,68]", TD_REC_STATUS,
                                    "[3G*" ID "*0005*bphrt]");
    assert_attr_int(r, TD_ATTR_SYSTOLIC, 118);
    assert_attr_int(r, TD_ATTR_DIASTOLIC, 76);
    assert_attr_int(r, TD_ATTR_HEART_RATE, 70);
    assert_raw_int(r, "height", 172);
    assert_raw_int(r, "gender", 1);
    assert_raw_int(r, "age", 45);
    assert_raw_int(r, "weight", 68);

    r = decode_one(text_frame("3G", "bphrt,0,0,66,,,,"), TD_REC_STATUS, "[3G*" ID "*0005*bphrt]");
    assert_false(td_rec_has(r, TD_ATTR_SYSTOLIC));
    assert_false(td_rec_has(r, TD_ATTR_DIASTOLIC));
    assert_attr_int(r, TD_ATTR_HEART_RATE, 66);
    assert_null(td_rec_raw_find(r, "height"));
}

static void test_blood(void **state)
{
    (void)state;
    const td_record *r = decode_one(text_frame("ZJ", "BLOOD,131,85"), TD_REC_STATUS, NULL);
    assert_attr_int(r, TD_ATTR_SYSTOLIC, 131);
    assert_attr_int(r, TD_ATTR_DIASTOLIC, 85);
    assert_false(td_rec_has(r, TD_ATTR_HEART_RATE));
}

static void test_oxygen(void **state)
{
    (void)state;
    const td_record *r =
        decode_one("[3G*" ID "*000B*oxygen,0,96]", TD_REC_STATUS, "[3G*" ID "*0008*oxygen,1]");
    assert_attr_int(r, TD_ATTR_SPO2, 96);
    assert_raw_int(r, "oxygenType", 0);

    r = decode_one(text_frame("3G", "oxygen,0,140"), TD_REC_STATUS, "[3G*" ID "*0008*oxygen,1]");
    assert_false(td_rec_has(r, TD_ATTR_SPO2));
    assert_raw_str(r, "spo2", "140");
}

static void test_temperature(void **state)
{
    (void)state;
    const td_record *r = decode_one(text_frame("3G", "TEMP,38.1"), TD_REC_STATUS, NULL);
    assert_near(r->attr[TD_ATTR_BODY_TEMPERATURE].d, 38.1, 1e-9);

    r = decode_one("[3G*" ID "*000E*btemp2,0,36.75]", TD_REC_STATUS, "[3G*" ID "*0006*btemp2]");
    assert_true(td_rec_has(r, TD_ATTR_BODY_TEMPERATURE));
    assert_near(r->attr[TD_ATTR_BODY_TEMPERATURE].d, 36.75, 1e-9);
    assert_raw_int(r, "temperatureMode", 0);

    /* 0 and 1 are the vendor's "too low" / "too high", not temperatures. */
    r = decode_one(text_frame("3G", "btemp2,1,1"), TD_REC_STATUS, "[3G*" ID "*0006*btemp2]");
    assert_false(td_rec_has(r, TD_ATTR_BODY_TEMPERATURE));
    assert_raw_str(r, "temperatureState", "high");
    r = decode_one(text_frame("3G", "btemp2,1,0"), TD_REC_STATUS, "[3G*" ID "*0006*btemp2]");
    assert_raw_str(r, "temperatureState", "low");
}

/* An AMR payload with every escaped byte. */
static const uint8_t voice_wire[] = {'#',  '!',  'A',  'M',  'R',  '\n', 0x3c, 0x7d, 0x01, 0x7d,
                                     0x02, 0x00, 0x7d, 0x03, 0x7d, 0x04, 0x7d, 0x05, 0xff, 0x91};

static void test_tk_voice(void **state)
{
    (void)state;
    uint8_t content[64], frame[128];
    memcpy(content, "TK,", 3);
    memcpy(content + 3, voice_wire, sizeof(voice_wire));
    size_t n = build(frame, "3G", ID, NULL, content, 3 + sizeof(voice_wire));

    assert_int_equal(td_test_decode_bytes(P, NULL, frame, n, &ctx), 0);
    assert_int_equal(ctx.nrec, 1);
    const td_record *r = &ctx.rec[0];
    assert_int_equal(r->type, TD_REC_OTHER);
    assert_string_equal(r->device_id, ID);
    assert_raw_str(r, "message", "TK");
    assert_raw_int(r, "voiceLength", (int64_t)sizeof(voice_wire) - 5);
    assert_raw_str(r, "voiceFormat", "amr");
    assert_null(td_rec_raw_find(r, "escapeErrors"));
    assert_string_equal(td_test_reply(&ctx), "[3G*" ID "*0004*TK,1]");

    /* A 0x7D that escapes nothing: still decoded, the watch is told TK,0. */
    content[10] = 0x7d;
    content[11] = 0x5d;
    n = build(frame, "3G", ID, NULL, content, 3 + sizeof(voice_wire));
    assert_int_equal(td_test_decode_bytes(P, NULL, frame, n, &ctx), 0);
    assert_raw_int(&ctx.rec[0], "escapeErrors", 1);
    assert_string_equal(td_test_reply(&ctx), "[3G*" ID "*0004*TK,0]");
}

/* TK,1 / TK,0 acknowledge a voice message the server sent. */
static void test_tk_ack(void **state)
{
    (void)state;
    const td_record *r = decode_one("[3G*" ID "*0004*TK,1]", TD_REC_ACK, NULL);
    assert_raw_str(r, "command", "TK");
    assert_raw_str(r, "result", "1");
}

static void test_jxtk(void **state)
{
    (void)state;
    uint8_t content[128], frame[192];
    const char *head = "JXTK,0,watch_1_20250301120000,2,5,";
    size_t h = strlen(head);
    memcpy(content, head, h);
    memcpy(content + h, voice_wire, sizeof(voice_wire));
    size_t n = build(frame, "ZJ", ID, "0042", content, h + sizeof(voice_wire));

    assert_int_equal(td_test_decode_bytes(P, NULL, frame, n, &ctx), 0);
    assert_int_equal(ctx.nrec, 1);
    const td_record *r = &ctx.rec[0];
    assert_int_equal(r->type, TD_REC_OTHER);
    assert_raw_str(r, "message", "JXTK");
    assert_raw_str(r, "jxtkField1", "0");
    assert_raw_str(r, "voiceId", "watch_1_20250301120000");
    assert_raw_int(r, "voiceChunk", 2);
    assert_raw_int(r, "voiceChunks", 5);
    assert_raw_int(r, "voiceLength", (int64_t)sizeof(voice_wire) - 5);
    assert_string_equal(td_test_reply(&ctx), "[ZJ*" ID "*0042*0007*JXTKR,1]");
}

static void test_img(void **state)
{
    (void)state;
    uint8_t content[64], frame[128];
    static const uint8_t jpeg[] = {0xff, 0xd8, 0xff, 0xe0, 0x7d, 0x02, 0x00, 0x10, 0xff, 0xd9};
    memcpy(content, "img,5,250301120000,", 19);
    memcpy(content + 19, jpeg, sizeof(jpeg));
    size_t n = build(frame, "3G", ID, NULL, content, 19 + sizeof(jpeg));

    assert_int_equal(td_test_decode_bytes(P, NULL, frame, n, &ctx), 0);
    assert_int_equal(ctx.nrec, 1);
    assert_int_equal(ctx.rec[0].type, TD_REC_OTHER);
    assert_raw_int(&ctx.rec[0], "imageSource", 5);
    assert_raw_str(&ctx.rec[0], "imageTime", "250301120000");
    assert_raw_int(&ctx.rec[0], "imageLength", 9);
    assert_int_equal(ctx.reply_len, 0);
}

static void test_tkq(void **state)
{
    (void)state;
    const td_record *r = decode_one("[3G*" ID "*0003*TKQ]", TD_REC_OTHER, "[3G*" ID "*0003*TKQ]");
    assert_raw_str(r, "message", "TKQ");
    decode_one("[3G*" ID "*0004*TKQ2]", TD_REC_OTHER, "[3G*" ID "*0004*TKQ2]");
}

static void test_config(void **state)
{
    (void)state;
    const char *content = "CONFIG,TY:g36a,UL:300,SY:0,CM:1,WT:0,HR:1,TB:5,CS:0,PP:1,AB:0";
    const td_record *r =
        decode_one(text_frame("3G", content), TD_REC_OTHER, "[3G*" ID "*0008*CONFIG,1]");
    assert_raw_str(r, "model", "g36a");
    assert_raw_int(r, "uploadInterval", 300);
    assert_raw_str(r, "config", content + 7);
}

static void test_iccid(void **state)
{
    (void)state;
    const td_record *r =
        decode_one(text_frame("3G", "ICCID,8944500102198304826F"), TD_REC_OTHER, NULL);
    assert_raw_str(r, "iccid", "8944500102198304826F");
    r = decode_one(text_frame("SG", "CCID,89860000000000000001"), TD_REC_OTHER, NULL);
    assert_raw_str(r, "iccid", "89860000000000000001");
}

static void test_init(void **state)
{
    (void)state;
    decode_one(text_frame("3G", "INIT,13800138000,1,1,205,1"), TD_REC_OTHER,
               "[3G*" ID "*0006*INIT,1]");
}

/* Acknowledgements of server commands: no reply, kept as ack records. */
static void test_command_acks(void **state)
{
    (void)state;
    const td_record *r = decode_one("[3G*" ID "*0006*UPLOAD]", TD_REC_ACK, NULL);
    assert_raw_str(r, "command", "UPLOAD");
    r = decode_one("[3G*" ID "*0002*CR]", TD_REC_ACK, NULL);
    assert_raw_str(r, "command", "CR");
    r = decode_one("[3G*" ID "*0004*SOS1]", TD_REC_ACK, NULL);
    assert_raw_str(r, "command", "SOS1");
    r = decode_one(text_frame("3G", "VERNO,G36_V1.2_2025.01.01"), TD_REC_ACK, NULL);
    assert_raw_str(r, "version", "G36_V1.2_2025.01.01");
}

/* An unknown word is kept, never an error. */
static void test_unknown_word(void **state)
{
    (void)state;
    const td_record *r = decode_one(text_frame("3G", "WEATHER,xyz,1,2"), TD_REC_OTHER, NULL);
    assert_raw_str(r, "message", "WEATHER");
    assert_raw_str(r, "content", "xyz,1,2");
    r = decode_one("[3G*" ID "*0000*]", TD_REC_OTHER, NULL);
    assert_raw_str(r, "message", "");
}

/* The session takes the id from every frame. */
static void test_session_id(void **state)
{
    (void)state;
    td_session s;
    memset(&s, 0, sizeof(s));
    assert_int_equal(td_test_decode(P, &s, "[SG*352661090143150*0002*LK]", &ctx), 0);
    assert_string_equal(s.device_id, "352661090143150");
    assert_string_equal(ctx.rec[0].device_id, "352661090143150");
}

/* ---- framer ---- */

/* A stream of frames of every kind, with a TK whose payload holds ']' and
 * noise between two frames. */
static void joined(td_test_stream *s)
{
    uint8_t b[128], tk[64];

    td_test_stream_reset(s);
    td_test_stream_frame(s, b, build(b, "SG", ID, NULL, "LK", 2));
    td_test_stream_noise(s, "\r\n", 2);
    const char *ud = "UD,010125,000000,A,1.0,N,2.0,E,0,0,0,0,0,0,0,0,00000000,0";
    td_test_stream_frame(s, b, build(b, "3G", ID, NULL, ud, strlen(ud)));
    memcpy(tk, "TK,", 3);
    memcpy(tk + 3, voice_wire, sizeof(voice_wire));
    tk[3 + sizeof(voice_wire)] = ']';
    tk[4 + sizeof(voice_wire)] = '[';
    td_test_stream_frame(s, b, build(b, "CS", ID, NULL, tk, 5 + sizeof(voice_wire)));
    td_test_stream_frame(s, b, build(b, "ZJ", ID, "0001", "TEMP,36.5", 9));
    td_test_stream_frame(s, b, build(b, "3G", ID, NULL, "oxygen,0,98", 11));
}

static void test_framer_every_split(void **state)
{
    (void)state;
    static td_test_stream s;

    joined(&s);
    td_test_split_everywhere(P, &s, s.n);
    /* The TK frame decodes and its payload's ']' did not end it. */
    assert_int_equal(td_test_decode_bytes(P, NULL, s.bytes + s.at[2], s.flen[2], &ctx), 0);
    assert_raw_int(&ctx.rec[0], "voiceLength", (int64_t)sizeof(voice_wire) - 5 + 2);
}

static long frame_str(const char *s, size_t *skip)
{
    return P->frame((const uint8_t *)s, strlen(s), skip);
}

/* LLLL too small or too large on a text frame: the first ']' ends it. */
static void test_framer_miscounted_text(void **state)
{
    (void)state;
    size_t skip;
    const char *under = "[SG*" ID "*0005*LK,0,100][SG*" ID "*0002*LK]";
    assert_int_equal(frame_str(under, &skip), strlen("[SG*" ID "*0005*LK,0,100]"));
    assert_int_equal(skip, 0);
    const char *over = "[SG*" ID "*00F0*LK,0,100]";
    assert_int_equal(frame_str(over, &skip), strlen(over));
    assert_int_equal(frame_str("[SG*" ID "*0002*LK", &skip), 0); /* need more */
    assert_int_equal(frame_str("[SG*" ID "*0002*LK,0,1", &skip), 0);
}

/* Noise before '[' is skipped; a broken frame is dropped up to the next. */
static void test_framer_resync(void **state)
{
    (void)state;
    const long lk = (long)strlen("[SG*" ID "*0002*LK]");
    size_t skip;
    const char *noise = "xx\r\n[SG*" ID "*0002*LK]";
    assert_int_equal(frame_str(noise, &skip), lk);
    assert_int_equal(skip, 4);
    assert_int_equal(frame_str("garbage", &skip), 0);
    assert_int_equal(skip, 7);

    /* A text frame cut short by the next frame. */
    const char *cut = "[SG*" ID "*0009*LK,0[SG*" ID "*0002*LK]";
    assert_int_equal(frame_str(cut, &skip), lk);
    assert_int_equal(skip, strlen(cut) - (size_t)lk);

    /* Bad headers. */
    static const char *const bad[] = {"[SG*" ID "*00G2*LK]", "[SG*" ID "*02*LK]",
                                      "[SG*" ID "0002*LK]", "[sg*" ID "*0002*LK]",
                                      "[SG*" ID "*0002-LK]"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char buf[128];
        snprintf(buf, sizeof(buf), "%s[SG*" ID "*0002*LK]", bad[i]);
        assert_int_equal(frame_str(buf, &skip), lk);
        assert_int_equal(skip, strlen(bad[i]));
    }

    /* A binary frame whose length does not land on ']'. */
    uint8_t buf[128];
    uint8_t tk[32] = "TK,#!AMR\n";
    size_t n = build(buf, "3G", ID, NULL, tk, 12);
    buf[n - 1] = 'x';
    n += build(buf + n, "SG", ID, NULL, "LK", 2);
    assert_int_equal(P->frame(buf, n, &skip), lk);
    assert_int_equal(skip, n - (size_t)lk);
}

static void test_framer_limits(void **state)
{
    (void)state;
    static uint8_t big[70000];
    size_t skip;

    /* A binary frame of the largest length waits for its bytes. */
    int k = sprintf((char *)big, "[3G*%s*FFFF*TK,#!AMR\n", ID);
    assert_int_equal(P->frame(big, (size_t)k, &skip), 0);
    memset(big + k, 0x11, sizeof(big) - (size_t)k);
    size_t full = (size_t)k - 3 - 6 + 0xFFFF + 1; /* header + content + ']' */
    assert_true(full <= P->max_frame);
    assert_int_equal(P->frame(big, full - 1, &skip), 0);
    big[full - 1] = ']';
    assert_int_equal(P->frame(big, full, &skip), (long)full);
    assert_int_equal(td_test_decode_bytes(P, NULL, big, full, &ctx), 0);

    /* Text without ']' beyond the limit. */
    td_test_frame_too_big(P, "[3G*" ID "*0002*", 'A', sizeof(big));

    assert_int_equal(P->max_frame, 65600);
    assert_int_equal(P->transports, TD_TCP | TD_UDP);
    assert_non_null(P->encode);
    assert_non_null(P->commands);
}

/* ---- malformed input ---- */

static void test_bad_fields(void **state)
{
    (void)state;
    td_test_expect_error(P, &ctx, text_frame("3G", "UD,010125,000000,A,9x.5,N,2.0,E"),
                         "watch: bad latitude '9x.5,N'");
    td_test_expect_error(P, &ctx, text_frame("3G", "UD,010125,000000,A,91.0,N,2.0,E"),
                         "watch: bad latitude '91.0,N'");
    td_test_expect_error(P, &ctx, text_frame("3G", "UD,010125,000000,A,1.0,Q,2.0,E"),
                         "watch: bad latitude '1.0,Q'");
    td_test_expect_error(P, &ctx, text_frame("3G", "UD,010125,000000,A,1.0,N,,E"),
                         "watch: bad longitude ',E'");
    td_test_expect_error(P, &ctx, text_frame("3G", "UD,010125,000000,A,1.0,N,181.0,E"),
                         "watch: bad longitude '181.0,E'");
    td_test_expect_error(P, &ctx, text_frame("3G", "UD,320125,000000,A,1.0,N,2.0,E"),
                         "watch: bad date/time '320125,000000'");
    td_test_expect_error(P, &ctx, text_frame("3G", "UD,010125,246000,A,1.0,N,2.0,E"),
                         "watch: bad date/time '010125,246000'");
    td_test_expect_error(P, &ctx, text_frame("3G", "UD,0101,000000,A,1.0,N,2.0,E"),
                         "watch: bad date/time '0101,000000'");
    td_test_expect_error(P, &ctx, text_frame("3G", "AL,010125,000000,X,1.0,N,2.0,E"),
                         "watch: bad fix flag 'X'");
    td_test_expect_error(P, &ctx, text_frame("3G", "UD,010125,000000,A,1.0,N"),
                         "watch: UD has 6 fields, position needs 8");
    assert_int_equal(ctx.reply_len, 0);
    td_test_expect_error(P, &ctx, "[3G*" ID "*00", "watch: bad header '[3G*" ID "*00'");
    td_test_expect_error(P, &ctx, "[3G*12345678901234567890123456789012*0002*LK]",
                         "watch: bad header '[3G*12345678901234567890123456789012*000'");
    td_test_expect_error(P, &ctx, "LK", "watch: bad header 'LK'");
}

/* Every truncation of valid frames: an error with a message or records,
 * and a following frame still decodes. */
static void test_truncations(void **state)
{
    (void)state;
    static td_test_stream s;
    static uint8_t buf[2048];
    joined(&s);

    for (size_t cut = 0; cut < s.len; cut++) {
        int rc = td_test_decode_bytes(P, NULL, s.bytes, cut, &ctx);
        assert_true(rc == 0 || (rc < 0 && strncmp(ctx.err, "watch: ", 7) == 0));

        td_test_run run;
        memcpy(buf, s.bytes, cut);
        /* Enough following frames that a truncated binary frame, which
         * takes LLLL bytes whatever they are, cannot swallow the last. */
        size_t n = cut;
        for (int i = 0; i < 3; i++)
            n += build(buf + n, "SG", "99", NULL, "LK", 2);
        td_test_run_bytes(P, buf, n, &run);
        size_t last = json_array_size(run.records);
        assert_true(last > 0);
        json_t *rec = json_array_get(run.records, last - 1);
        assert_string_equal(json_string_value(json_object_get(rec, "deviceId")), "99");
        td_test_run_free(&run);
    }
}

/* Random bytes (and random bytes after '[SG*') never crash anything. */
static void test_garbage(void **state)
{
    (void)state;
    static const td_test_random spec = {
        .rounds = 400,
        .max_len = 590,
        .head = {"[SG*1*"},
        .alphabet = "[]*,SG0123456789ALUD",
    };
    td_test_random_inputs(P, &spec);
}

/* ---- downlink commands (fact sheet section 5) ---- */

static td_test_cmd tc;

/* A session that has seen `frame` from the device. */
static td_session *seen(const char *frame)
{
    memset(&sess, 0, sizeof(sess));
    assert_int_equal(td_test_decode(P, &sess, frame, &ctx), 0);
    return &sess;
}

/* A session that only knows the device id (the device never connected). */
static td_session *offline(void)
{
    return td_test_session(&sess, ID);
}

/* Commands without parameters, and those with fixed content. */
static void test_encode_plain(void **state)
{
    (void)state;
    static const td_test_plain plain[] = {
        {"positionSingle", "[3G*" ID "*0002*CR]", "CR"},
        {"findDevice", "[3G*" ID "*0004*FIND]", "FIND"},
        {"rebootDevice", "[3G*" ID "*0005*RESET]", "RESET"},
        {"powerOff", "[3G*" ID "*0008*POWEROFF]", "POWEROFF"},
        {"factoryReset", "[3G*" ID "*0007*FACTORY]", "FACTORY"},
        {"getVersion", "[3G*" ID "*0005*VERNO]", "VERNO"},
        {"getSettings", "[3G*" ID "*0002*TS]", "TS"},
        {"measureHeartRate", "[3G*" ID "*000A*hrtstart,1]", "HRTSTART"},
        {"measureTemperature", "[3G*" ID "*0009*bodytemp2]", "BODYTEMP2"},
        {"takePhoto", "[3G*" ID "*0008*rcapture]", "RCAPTURE"},
    };
    td_test_expect_plain(&tc, P, offline, plain, sizeof(plain) / sizeof(plain[0]));
}

/* The frame follows the device: its vendor code, and the sequence field
 * (0001) when its frames carry one. */
static void test_encode_framing(void **state)
{
    (void)state;
    td_test_cmd_start(&tc, P, "positionSingle");
    td_test_expect_encode(&tc, seen("[3G*" ID "*0002*LK]"), "[3G*" ID "*0002*CR]", "CR");
    td_test_expect_encode(&tc, seen("[SG*" ID "*0002*LK]"), "[SG*" ID "*0002*CR]", "CR");
    td_test_expect_encode(&tc, seen("[CS*" ID "*0002*LK]"), "[CS*" ID "*0002*CR]", "CR");
    td_test_expect_encode(&tc, seen("[ZJ*014111001350304*0A1B*0002*LK]"),
                          "[ZJ*014111001350304*0001*0002*CR]", "CR");
    /* The last frame counts. */
    td_session *s = seen("[ZJ*" ID "*0A1B*0002*LK]");
    assert_int_equal(td_test_decode(P, s, "[SG*" ID "*0002*LK]", &ctx), 0);
    td_test_expect_encode(&tc, s, "[SG*" ID "*0002*CR]", "CR");

    memset(&sess, 0, sizeof(sess));
    td_test_expect_encode_fail(&tc, &sess, TD_EINVAL, "watch: no device id for this device yet");
    td_test_expect_encode_fail(&tc, NULL, TD_EINVAL, "watch: no device id for this device yet");
}

static void test_encode_interval(void **state)
{
    (void)state;
    td_test_cmd_start(&tc, P, "positionPeriodic");
    td_test_cmd_num(&tc, "frequency", 300);
    td_test_expect_encode(&tc, offline(), "[3G*" ID "*000A*UPLOAD,300]", "UPLOAD");
    td_test_cmd_num(&tc, "frequency", 60);
    td_test_expect_encode(&tc, offline(), "[3G*" ID "*0009*UPLOAD,60]", "UPLOAD");
    td_test_cmd_num(&tc, "frequency", 65535);
    td_test_expect_encode(&tc, offline(), "[3G*" ID "*000C*UPLOAD,65535]", "UPLOAD");
}

static void test_encode_numbers(void **state)
{
    (void)state;
    td_test_cmd_start(&tc, P, "sosNumber");
    td_test_cmd_num(&tc, "index", 1);
    td_test_cmd_str(&tc, "phone", "15551234567");
    td_test_expect_encode(&tc, offline(), "[3G*" ID "*0010*SOS1,15551234567]", "SOS1");
    td_test_cmd_num(&tc, "index", 3);
    td_test_cmd_str(&tc, "phone", "+4915112345678");
    td_test_expect_encode(&tc, offline(), "[3G*" ID "*0013*SOS3,+4915112345678]", "SOS3");

    static const struct {
        const char *type, *bytes, *ack;
    } phone[] = {
        {"voiceMonitoring", "[3G*" ID "*0013*MONITOR,15551234567]", "MONITOR"},
        {"callBack", "[3G*" ID "*0010*CALL,15551234567]", "CALL"},
        {"call", "[3G*" ID "*0010*CALL,15551234567]", "CALL"},
        {"centerNumber", "[3G*" ID "*0012*CENTER,15551234567]", "CENTER"},
    };
    for (size_t i = 0; i < sizeof(phone) / sizeof(phone[0]); i++) {
        td_test_cmd_start(&tc, P, phone[i].type);
        td_test_cmd_str(&tc, "phone", "15551234567");
        td_test_expect_encode(&tc, offline(), phone[i].bytes, phone[i].ack);
    }
}

static void test_encode_message(void **state)
{
    (void)state;
    /* The vendor's own example: "11a". */
    td_test_cmd_start(&tc, P, "message");
    td_test_cmd_str(&tc, "message", "11a");
    td_test_expect_encode(&tc, offline(), "[3G*" ID "*0014*MESSAGE,003100310061]", "MESSAGE");
    /* "Hi €", then U+1F600 beyond the BMP as the surrogate pair D83D DE00. */
    td_test_cmd_str(&tc, "message", "Hi \xe2\x82\xac");
    td_test_expect_encode(&tc, offline(), "[3G*" ID "*0018*MESSAGE,00480069002020AC]", "MESSAGE");
    td_test_cmd_str(&tc, "message", "\xf0\x9f\x98\x80");
    td_test_expect_encode(&tc, offline(), "[3G*" ID "*0010*MESSAGE,D83DDE00]", "MESSAGE");

    static const char *const bad[] = {"\xff", "a\xe2\x82", "\xc1\xbf", "\xed\xb0\x80",
                                      "\xf5\x80\x80\x80"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        td_test_cmd_str(&tc, "message", bad[i]);
        td_test_expect_encode_fail(&tc, offline(), TD_EINVAL,
                                   "watch: the message is not valid UTF-8");
    }
}

static void test_encode_switches(void **state)
{
    (void)state;
    static const struct {
        const char *type;
        int on;
        const char *bytes, *ack;
    } sw[] = {
        {"alarmSos", 0, "[3G*" ID "*0008*SOSSMS,0]", "SOSSMS"},
        {"alarmSos", 1, "[3G*" ID "*0008*SOSSMS,1]", "SOSSMS"},
        {"alarmBattery", 1, "[3G*" ID "*0008*LOWBAT,1]", "LOWBAT"},
        {"alarmRemove", 1, "[3G*" ID "*0008*REMOVE,1]", "REMOVE"},
        {"alarmRemove", 0, "[3G*" ID "*0008*REMOVE,0]", "REMOVE"},
    };
    for (size_t i = 0; i < sizeof(sw) / sizeof(sw[0]); i++) {
        td_test_cmd_start(&tc, P, sw[i].type);
        td_test_cmd_num(&tc, "enable", sw[i].on);
        td_test_expect_encode(&tc, offline(), sw[i].bytes, sw[i].ack);
    }
}

static void test_encode_timezone(void **state)
{
    (void)state;
    static const struct {
        long min, lang;
        const char *bytes;
    } ok[] = {
        {480, 1, "[3G*" ID "*0006*LZ,1,8]"}, /* the vendor's example */
        {-300, -1, "[3G*" ID "*0007*LZ,0,-5]"},    {0, -1, "[3G*" ID "*0006*LZ,0,0]"},
        {330, 5, "[3G*" ID "*0008*LZ,5,5.5]"},     {345, -1, "[3G*" ID "*0009*LZ,0,5.75]"},
        {-570, 36, "[3G*" ID "*000A*LZ,36,-9.5]"}, {840, -1, "[3G*" ID "*0007*LZ,0,14]"},
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        td_test_cmd_start(&tc, P, "setTimezone");
        td_test_cmd_num(&tc, "timezone", ok[i].min);
        if (ok[i].lang >= 0)
            td_test_cmd_num(&tc, "language", ok[i].lang);
        td_test_expect_encode(&tc, offline(), ok[i].bytes, "LZ");
    }
    td_test_cmd_start(&tc, P, "setTimezone");
    td_test_cmd_num(&tc, "timezone", 50);
    td_test_expect_encode_fail(&tc, offline(), TD_EINVAL,
                               "watch: the time zone must be a multiple of 15 minutes (50 is not)");
}

/* TK,<AMR> with 0x7D, '[', ']', ',' and '*' escaped; LLLL counts the
 * escaped bytes. */
static void test_encode_voice(void **state)
{
    (void)state;
    static const uint8_t amr[] = {'#',  '!',  'A',  'M',  'R',  '\n',
                                  0x7D, 0x5B, 0x5D, 0x2C, 0x2A, 0x00};
    static const uint8_t want[] = {'[',  '3', 'G',  '*', '1',  '2', '3',  '4',  '5', '6',  '7',
                                   '8',  '9', '0',  '*', '0',  '0', '1',  '4',  '*', 'T',  'K',
                                   ',',  '#', '!',  'A', 'M',  'R', '\n', 0x7D, 1,   0x7D, 2,
                                   0x7D, 3,   0x7D, 4,   0x7D, 5,   0x00, ']'};
    td_test_cmd_start(&tc, P, "voiceMessage");
    td_cmd_arg *a = td_test_cmd_arg(&tc, "voiceId");
    a->str = (const char *)amr;
    a->len = sizeof(amr);
    td_test_expect_encode_n(&tc, seen("[3G*" ID "*0002*LK]"), want, sizeof(want), "TK");

    /* 64000 bytes that all need escaping do not fit one frame. */
    static char big[64000];
    memset(big, 0x2A, sizeof(big));
    a->str = big;
    a->len = sizeof(big);
    td_test_expect_encode_fail(
        &tc, offline(), TD_ETOOBIG,
        "watch: the voiceMessage content is 128003 bytes, a frame holds at most 65535");
    /* Up to 65535 content bytes do. */
    static uint8_t out[70000];
    char key[TD_ACK_MAX], err[TD_ERRMSG_MAX];
    size_t len;
    memset(big, 'a', sizeof(big));
    memset(big, 0x2A, 65532 - 64000);
    assert_int_equal(P->encode(offline(), &tc.cmd, out, sizeof(out), &len, key, err, sizeof(err)),
                     0);
    assert_int_equal(len, 20 + 65535 + 1);
    assert_memory_equal(out, "[3G*" ID "*FFFF*TK,", 23);
    memset(big, 0x2A, 65533 - 64000);
    assert_int_equal(P->encode(offline(), &tc.cmd, out, sizeof(out), &len, key, err, sizeof(err)),
                     TD_ETOOBIG);
}

/* custom: the bytes are the content; the ack key is the first word when
 * the watch answers with it. */
static void test_encode_custom(void **state)
{
    (void)state;
    td_test_cmd_start(&tc, P, "custom");
    td_test_cmd_str(&tc, "data", "PW,123456");
    td_test_expect_encode(&tc, offline(), "[3G*" ID "*0009*PW,123456]", "PW");
    td_test_cmd_str(&tc, "data", "profile,4");
    td_test_expect_encode(&tc, offline(), "[3G*" ID "*0009*profile,4]", "PROFILE");
    td_test_cmd_str(&tc, "data", "hrtstart,300");
    td_test_expect_encode(&tc, offline(), "[3G*" ID "*000C*hrtstart,300]", "HRTSTART");
    td_test_cmd_str(&tc, "data", "IP,203.0.113.10,8001"); /* no answer: the watch reconnects */
    td_test_expect_encode(&tc, offline(), "[3G*" ID "*0014*IP,203.0.113.10,8001]", "");

    td_test_cmd_start(&tc, P, "custom");
    td_cmd_arg *a = td_test_cmd_arg(&tc, "hex");
    a->str = "APPLOCK,DW-1";
    a->len = 12;
    td_test_expect_encode(&tc, offline(), "[3G*" ID "*000C*APPLOCK,DW-1]", "APPLOCK");

    td_test_cmd_start(&tc, P, "custom");
    td_test_expect_encode_fail(&tc, offline(), TD_EINVAL, "watch: give data or hex");
    td_test_cmd_str(&tc, "data", "CR");
    td_test_cmd_str(&tc, "hex", "CR");
    td_test_expect_encode_fail(&tc, offline(), TD_EINVAL, "watch: give data or hex");
}

/* Output buffer too small: TD_ETOOBIG, nothing written past cap. */
static void test_encode_too_small(void **state)
{
    (void)state;
    static const char want[] = "[3G*" ID "*000A*UPLOAD,300]";

    td_test_cmd_start(&tc, P, "positionPeriodic");
    td_test_cmd_num(&tc, "frequency", 300);
    td_test_expect_too_small(&tc, offline(), want, strlen(want));
}

static void test_command_list(void **state)
{
    (void)state;
    static const char *const types[] = {
        "positionSingle",     "positionPeriodic", "sosNumber",   "centerNumber",
        "voiceMonitoring",    "callBack",         "call",        "message",
        "voiceMessage",       "findDevice",       "alarmSos",    "alarmBattery",
        "alarmRemove",        "rebootDevice",     "powerOff",    "factoryReset",
        "setTimezone",        "getVersion",       "getSettings", "measureHeartRate",
        "measureTemperature", "takePhoto",        "custom",
    };
    td_test_expect_commands(P, types, sizeof(types) / sizeof(types[0]));
}

/* The watch answers with the command word: the ack key, upper-cased. */
static void test_command_answers(void **state)
{
    (void)state;
    static const struct {
        const char *frame, *ack, *result;
    } answers[] = {
        {"[3G*" ID "*0006*UPLOAD]", "UPLOAD", ""},
        {"[3G*" ID "*0002*CR]", "CR", ""},
        {"[3G*" ID "*0004*SOS1]", "SOS1", ""},
        {"[3G*" ID "*0007*MONITOR]", "MONITOR", ""},
        {"[3G*" ID "*0028*VERNO,G29_BASE_V1.00_2014.04.23_17.46.49]", "VERNO",
         "G29_BASE_V1.00_2014.04.23_17.46.49"},
        {"[3G*" ID "*0008*hrtstart]", "HRTSTART", ""},
        {"[3G*" ID "*0009*bodytemp2]", "BODYTEMP2", ""},
        {"[3G*" ID "*0007*profile]", "PROFILE", ""},
        {"[ZJ*" ID "*0A1B*0002*LZ]", "LZ", ""},
    };
    for (size_t i = 0; i < sizeof(answers) / sizeof(answers[0]); i++) {
        const td_record *r = decode_one(answers[i].frame, TD_REC_ACK, NULL);
        assert_string_equal(ctx.ack, answers[i].ack);
        assert_string_equal(ctx.ack_result, answers[i].result);
        assert_false(ctx.ack_failed);
        assert_non_null(td_rec_raw_find(r, "command"));
    }
    /* The record is as it was. */
    const td_record *r =
        decode_one("[3G*" ID "*0028*VERNO,G29_BASE_V1.00_2014.04.23_17.46.49]", TD_REC_ACK, NULL);
    assert_raw_str(r, "version", "G29_BASE_V1.00_2014.04.23_17.46.49");

    /* TK,1 / TK,0 answer a voice message: 0 is a refusal. */
    decode_one("[3G*" ID "*0004*TK,1]", TD_REC_ACK, NULL);
    assert_string_equal(ctx.ack, "TK");
    assert_string_equal(ctx.ack_result, "1");
    assert_false(ctx.ack_failed);
    decode_one("[3G*" ID "*0004*TK,0]", TD_REC_ACK, NULL);
    assert_string_equal(ctx.ack, "TK");
    assert_true(ctx.ack_failed);

    /* Reports and requests answer nothing. */
    static const char *const quiet[] = {"[3G*" ID "*0002*LK]", "[3G*" ID "*0003*TKQ]",
                                        "[3G*" ID "*0005*PULSE,72]"};
    for (size_t i = 0; i < sizeof(quiet) / sizeof(quiet[0]); i++) {
        assert_int_equal(td_test_decode(P, NULL, quiet[i], &ctx), 0);
        assert_string_equal(ctx.ack, "");
        assert_false(ctx.ack_failed);
    }
}

/* Voice from the watch: TK (whole) and JXTK (chunks) as media. */
static void test_voice_media(void **state)
{
    (void)state;
    static const uint8_t plain[] = {'#',  '!',  'A',  'M',  'R',  '\n', 0x3c, 0x7D,
                                    0x5B, 0x00, 0x5D, 0x2C, 0x2A, 0xff, 0x91};
    static uint8_t buf[64];
    uint8_t content[128], frame[192];

    ctx.media_buf = buf;
    ctx.media_cap = sizeof(buf);
    memcpy(content, "TK,", 3);
    memcpy(content + 3, voice_wire, sizeof(voice_wire));
    size_t n = build(frame, "3G", ID, NULL, content, 3 + sizeof(voice_wire));
    assert_int_equal(td_test_decode_bytes(P, NULL, frame, n, &ctx), 0);
    assert_true(ctx.media.present);
    assert_string_equal(ctx.media.key, "");
    assert_int_equal(ctx.media.index, 1);
    assert_int_equal(ctx.media.total, 1);
    assert_ptr_equal(ctx.media.data, buf);
    assert_int_equal(ctx.media.len, sizeof(plain));
    assert_memory_equal(buf, plain, sizeof(plain));
    assert_string_equal(ctx.ack, ""); /* a message, not an answer */

    /* No buffer, or too small: present, no bytes. */
    ctx.media_cap = sizeof(plain) - 1;
    assert_int_equal(td_test_decode_bytes(P, NULL, frame, n, &ctx), 0);
    assert_true(ctx.media.present);
    assert_int_equal(ctx.media.len, 0);
    ctx.media_buf = NULL;
    ctx.media_cap = 0;
    assert_int_equal(td_test_decode_bytes(P, NULL, frame, n, &ctx), 0);
    assert_true(ctx.media.present);
    assert_int_equal(ctx.media.len, 0);

    /* Nothing escaped: the bytes are used where they are. */
    n = build(frame, "3G", ID, NULL, "TK,#!AMR\n\x01\x02", 11);
    assert_int_equal(td_test_decode_bytes(P, NULL, frame, n, &ctx), 0);
    assert_true(ctx.media.present);
    assert_int_equal(ctx.media.len, 8);
    assert_memory_equal(ctx.media.data, "#!AMR\n\x01\x02", 8);

    /* A message the watch is told failed (TK,0) is not kept. */
    memcpy(content + 10, "\x7d\x5d", 2);
    n = build(frame, "3G", ID, NULL, content, 3 + sizeof(voice_wire));
    assert_int_equal(td_test_decode_bytes(P, NULL, frame, n, &ctx), 0);
    assert_string_equal(td_test_reply(&ctx), "[3G*" ID "*0004*TK,0]");
    assert_false(ctx.media.present);

    /* JXTK: key = the voice id, chunk 2 of 5. */
    ctx.media_buf = buf;
    ctx.media_cap = sizeof(buf);
    const char *head = "JXTK,0,watch_1_20250301120000,2,5,";
    size_t h = strlen(head);
    memcpy(content, head, h);
    memcpy(content + h, voice_wire, sizeof(voice_wire));
    n = build(frame, "ZJ", ID, "0042", content, h + sizeof(voice_wire));
    assert_int_equal(td_test_decode_bytes(P, NULL, frame, n, &ctx), 0);
    assert_true(ctx.media.present);
    assert_string_equal(ctx.media.key, "watch_1_20250301120000");
    assert_int_equal(ctx.media.index, 2);
    assert_int_equal(ctx.media.total, 5);
    assert_int_equal(ctx.media.len, sizeof(plain));
    assert_memory_equal(ctx.media.data, plain, sizeof(plain));
    assert_string_equal(td_test_reply(&ctx), "[ZJ*" ID "*0042*0007*JXTKR,1]");
    ctx.media_buf = NULL;
    ctx.media_cap = 0;
    assert_int_equal(td_test_decode_bytes(P, NULL, frame, n, &ctx), 0);
    assert_true(ctx.media.present);
    assert_int_equal(ctx.media.len, 0);

    /* Pictures are not voice. */
    n = build(frame, "3G", ID, NULL, "img,5,250301120000,\xff\xd8", 21);
    assert_int_equal(td_test_decode_bytes(P, NULL, frame, n, &ctx), 0);
    assert_false(ctx.media.present);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_detect),
        cmocka_unit_test(test_lk_bare),
        cmocka_unit_test(test_lk_with_values),
        cmocka_unit_test(test_ud_lte),
        cmocka_unit_test(test_ud_family),
        cmocka_unit_test(test_coordinates),
        cmocka_unit_test(test_al_lte),
        cmocka_unit_test(test_al_variants),
        cmocka_unit_test(test_status_bits),
        cmocka_unit_test(test_cells_and_wifi),
        cmocka_unit_test(test_wifi_without_cells),
        cmocka_unit_test(test_short_position),
        cmocka_unit_test(test_bad_optional_fields),
        cmocka_unit_test(test_pp),
        cmocka_unit_test(test_zj_sequence),
        cmocka_unit_test(test_heart),
        cmocka_unit_test(test_bphrt),
        cmocka_unit_test(test_blood),
        cmocka_unit_test(test_oxygen),
        cmocka_unit_test(test_temperature),
        cmocka_unit_test(test_tk_voice),
        cmocka_unit_test(test_tk_ack),
        cmocka_unit_test(test_jxtk),
        cmocka_unit_test(test_img),
        cmocka_unit_test(test_tkq),
        cmocka_unit_test(test_config),
        cmocka_unit_test(test_iccid),
        cmocka_unit_test(test_init),
        cmocka_unit_test(test_command_acks),
        cmocka_unit_test(test_unknown_word),
        cmocka_unit_test(test_session_id),
        cmocka_unit_test(test_framer_every_split),
        cmocka_unit_test(test_framer_miscounted_text),
        cmocka_unit_test(test_framer_resync),
        cmocka_unit_test(test_framer_limits),
        cmocka_unit_test(test_bad_fields),
        cmocka_unit_test(test_truncations),
        cmocka_unit_test(test_garbage),
        cmocka_unit_test(test_encode_plain),
        cmocka_unit_test(test_encode_framing),
        cmocka_unit_test(test_encode_interval),
        cmocka_unit_test(test_encode_numbers),
        cmocka_unit_test(test_encode_message),
        cmocka_unit_test(test_encode_switches),
        cmocka_unit_test(test_encode_timezone),
        cmocka_unit_test(test_encode_voice),
        cmocka_unit_test(test_encode_custom),
        cmocka_unit_test(test_encode_too_small),
        cmocka_unit_test(test_command_list),
        cmocka_unit_test(test_command_answers),
        cmocka_unit_test(test_voice_media),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
