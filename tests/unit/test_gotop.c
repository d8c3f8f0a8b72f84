/*
 * gotop decoder tests. Every frame here is constructed from the layout in
 * docs/protocols/gotop.md (fake IMEI 123456789012345, made-up places);
 * the captured device frames live in tests/vectors/ and test_vectors.
 * One test per message type, then the framer (joined frames, every split
 * point), and malformed input (truncations, oversized, garbage, bad fields).
 * Last the downlink: every command type byte for byte as the fact sheet's
 * §4.2 writes it, the answers that acknowledge them, and encoder errors.
 */
#include "support.h"

#include <stdio.h>
#include <string.h>

#include "core/text.h"

#define IMEI "123456789012345"

TD_TEST_PROTOCOL(gotop)

static int64_t iso(const char *s)
{
    int64_t ms;
    assert_true(td_parse_iso8601(s, &ms));
    return ms;
}

static void assert_raw_str(const td_record *r, const char *key, const char *want)
{
    assert_string_equal(td_test_raw_str(r, key), want);
}

static const td_record *decode_one(const char *frame, td_rec_type type)
{
    assert_int_equal(td_test_decode(P, NULL, frame, &ctx), 0);
    assert_int_equal(ctx.nrec, 1);
    assert_int_equal(ctx.rec[0].type, type);
    assert_int_equal(ctx.reply_len, 0);
    assert_string_equal(ctx.rec[0].device_id, IMEI);
    return &ctx.rec[0];
}

static void test_detect(void **state)
{
    (void)state;
    static const char *const yes[] = {
        IMEI ",CMD-T,A",
        "#" IMEI ",CMD-X#",
        "1,ALM-A",
        "12345678901234567890,CMD-KEY",
    };
    static const char *const maybe[] = {"", "#", "##12", "1234", IMEI ",", "123,CM", "123,ALM"};
    static const char *const no[] = {
        "[SG*8800000015*0002*LK]",
        "IWAP00353456789012345#",
        "TRV AP00",
        "abc",
        "123,XYZ",
        "123456789012345678901,CMD-T",
        ",CMD-T",
        "123;CMD-T",
        "123,cmd-t",
        "#[",
        "\r\n123,CMD-T",
    };
    td_test_detect_each(P, yes, TD_TEST_COUNT(yes), TD_DETECT_YES);
    td_test_detect_each(P, maybe, TD_TEST_COUNT(maybe), TD_DETECT_MAYBE);
    td_test_detect_each(P, no, TD_TEST_COUNT(no), TD_DETECT_NO);
}

/* §3.1 constructed example: labels, LOT:, flags + battery + GSM, course,
 * MCCMNC-LAC-CID cell. */
static void test_cmd_t_classic(void **state)
{
    (void)state;
    const td_record *r = decode_one("#" IMEI ",CMD-T,A,DATE:250102,TIME:081530,LAT:48.8583700N,"
                                    "LOT:002.2944800E,Speed:012.5,X-X-X-X-76-18,090,"
                                    "20801-1A2B-3C4D#",
                                    TD_REC_POSITION);
    assert_true(r->has_time);
    assert_int_equal(r->time_ms, iso("2025-01-02T08:15:30Z"));
    assert_true(r->valid);
    assert_float_equal(r->latitude, 48.85837, 1e-6);
    assert_float_equal(r->longitude, 2.29448, 1e-6);
    assert_float_equal(r->speed, 12.5, 1e-9);
    assert_float_equal(r->course, 90.0, 1e-9);
    assert_int_equal(r->attr[TD_ATTR_BATTERY_LEVEL].i, 76);
    assert_int_equal(r->attr[TD_ATTR_RSSI].i, 18);
    assert_int_equal(r->alarms, 0);
    assert_int_equal(r->ncells, 1);
    assert_int_equal(r->cells[0].mcc, 208);
    assert_int_equal(r->cells[0].mnc, 1);
    assert_int_equal(r->cells[0].lac, 0x1A2B);
    assert_int_equal(r->cells[0].cid, 0x3C4D);
    assert_false(r->cells[0].has_rssi);
    assert_raw_str(r, "statusFlags", "X-X-X-X");
    assert_raw_str(r, "messageType", "CMD-T");
    assert_null(td_rec_raw_find(r, "alarmCode"));
    assert_int_equal(r->nwifi + r->nble, 0);
}

/* §3.2: no labels, southern/western hemisphere, short status, a decimal
 * after the status (kept raw) and a dd.dd HDOP. */
static void test_cmd_t_unlabelled(void **state)
{
    (void)state;
    const td_record *r = decode_one(IMEI ",CMD-T,A,250630,235959,33.8688200S,070.6693000W,"
                                         "Speed:101.9,55-12,1.3,01.20\r\n",
                                    TD_REC_POSITION);
    assert_int_equal(r->time_ms, iso("2025-06-30T23:59:59Z"));
    assert_float_equal(r->latitude, -33.86882, 1e-6);
    assert_float_equal(r->longitude, -70.6693, 1e-6);
    assert_float_equal(r->speed, 101.9, 1e-9);
    assert_float_equal(r->course, 0.0, 1e-9);
    assert_int_equal(r->attr[TD_ATTR_BATTERY_LEVEL].i, 55);
    assert_int_equal(r->attr[TD_ATTR_RSSI].i, 12);
    assert_true(td_rec_has(r, TD_ATTR_HDOP));
    assert_float_equal(r->attr[TD_ATTR_HDOP].d, 1.2, 1e-9);
    assert_raw_str(r, "field9", "1.3");
    assert_null(td_rec_raw_find(r, "statusFlags"));
    assert_int_equal(r->ncells, 0);
}

/* TE-207 newer firmware: LON:, 3-digit battery, extra decimals, `~` cell
 * blocks and the closing `>`. */
static void test_cmd_t_te207(void **state)
{
    (void)state;
    const td_record *r =
        decode_one(IMEI ",CMD-T,A,DATE:251224,TIME:120000,LAT:01.3521000N,"
                        "LON:103.8198000E,Speed:003.0,080-65,12.5,00.80,"
                        "525~1~123456~100~1850~-95~-10~-70~5,1850~100~-11~-96~-70~-18,>#",
                   TD_REC_POSITION);
    assert_int_equal(r->time_ms, iso("2025-12-24T12:00:00Z"));
    assert_float_equal(r->latitude, 1.3521, 1e-6);
    assert_float_equal(r->longitude, 103.8198, 1e-6);
    assert_float_equal(r->speed, 3.0, 1e-9);
    assert_int_equal(r->attr[TD_ATTR_BATTERY_LEVEL].i, 80);
    assert_int_equal(r->attr[TD_ATTR_RSSI].i, 65);
    assert_float_equal(r->attr[TD_ATTR_HDOP].d, 0.8, 1e-9);
    assert_raw_str(r, "field9", "12.5");
    assert_raw_str(r, "cellBlock1", "525~1~123456~100~1850~-95~-10~-70~5");
    assert_raw_str(r, "cellBlock2", "1850~100~-11~-96~-70~-18");
    assert_null(td_rec_raw_find(r, "field12"));
    assert_int_equal(r->ncells, 0);
}

static void test_cmd_t_wifi_ble(void **state)
{
    (void)state;
    const td_record *r = decode_one(
        IMEI ",CMD-T,V,DATE:250102,TIME:081530,LAT:48.8583700N,LON:002.2944800E,"
             "Speed:000.0,090-20,01.00,WIFI:{AA-BB-CC-DD-EE-01&-50,aa-bb-cc-dd-ee-02&-71},"
             "BLE:{11-22-33-44-55-66&-80}#",
        TD_REC_POSITION);
    assert_false(r->valid);
    assert_float_equal(r->attr[TD_ATTR_HDOP].d, 1.0, 1e-9);
    assert_int_equal(r->nwifi, 2);
    assert_string_equal(r->wifi[0].mac, "aa:bb:cc:dd:ee:01");
    assert_int_equal(r->wifi[0].rssi, -50);
    assert_string_equal(r->wifi[1].mac, "aa:bb:cc:dd:ee:02");
    assert_int_equal(r->wifi[1].rssi, -71);
    assert_int_equal(r->nble, 1);
    assert_string_equal(r->ble[0].mac, "11:22:33:44:55:66");
    assert_int_equal(r->ble[0].rssi, -80);
    assert_null(td_rec_raw_find(r, "wifiRaw"));

    /* A bad entry keeps the list raw; the good ones are still decoded. */
    r = decode_one(IMEI ",CMD-T,A,250102,081530,48.8583700N,002.2944800E,Speed:000.0,90-20,"
                        "WIFI:{zz-bb-cc-dd-ee-01&-50,aa-bb-cc-dd-ee-02&-71,junk},BLE:{}",
                   TD_REC_POSITION);
    assert_int_equal(r->nwifi, 1);
    assert_raw_str(r, "wifiRaw", "WIFI:{zz-bb-cc-dd-ee-01&-50,aa-bb-cc-dd-ee-02&-71,junk}");
    assert_int_equal(r->nble, 0);
}

/* `F` (locate once) answer: invalid fix, empty course. */
static void test_cmd_f(void **state)
{
    (void)state;
    const td_record *r = decode_one(IMEI ",CMD-F,V,DATE:250102,TIME:081600,LAT:48.8583700N,"
                                         "LOT:002.2944800E,Speed:000.0,61-19,#",
                                    TD_REC_POSITION);
    assert_false(r->valid);
    assert_int_equal(r->time_ms, iso("2025-01-02T08:16:00Z"));
    assert_float_equal(r->latitude, 48.85837, 1e-6);
    assert_int_equal(r->attr[TD_ATTR_BATTERY_LEVEL].i, 61);
    assert_int_equal(r->attr[TD_ATTR_RSSI].i, 19);
    assert_raw_str(r, "messageType", "CMD-F");
    assert_int_equal(r->alarms, 0);
}

static void test_cmd_key(void **state)
{
    (void)state;
    const td_record *r = decode_one(IMEI ",CMD-KEY,A,DATE:250102,TIME:081600,LAT:48.8583700N,"
                                         "LON:002.2944800E,Speed:000.0,084-20,01.60#",
                                    TD_REC_POSITION);
    assert_int_equal(r->alarms, TD_ALARM_BIT(TD_ALARM_SOS));
    assert_raw_str(r, "alarmCode", "CMD-KEY");
    assert_int_equal(r->attr[TD_ATTR_BATTERY_LEVEL].i, 84);
}

/* §2.2: every ALM code found, plus one nobody documented. */
static void test_alm_codes(void **state)
{
    (void)state;
    static const struct {
        const char *code;
        uint32_t alarms;
    } cases[] = {
        {"ALM-A", TD_ALARM_BIT(TD_ALARM_SOS)},
        {"ALM-B1", TD_ALARM_BIT(TD_ALARM_GEOFENCE_ENTER)},
        {"ALM-B1-1", TD_ALARM_BIT(TD_ALARM_GEOFENCE_ENTER)},
        {"ALM-B2", TD_ALARM_BIT(TD_ALARM_GEOFENCE_EXIT)},
        {"ALM-B4-0", TD_ALARM_BIT(TD_ALARM_GEOFENCE_EXIT)},
        {"ALM-B", 0},
        {"ALM-C", TD_ALARM_BIT(TD_ALARM_OVERSPEED)},
        {"ALM-D", TD_ALARM_BIT(TD_ALARM_LOW_BATTERY)},
        {"ALM-D1", TD_ALARM_BIT(TD_ALARM_LOW_BATTERY)},
        {"ALM-Q7", 0},
    };
    char frame[256];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        snprintf(frame, sizeof(frame),
                 "#%s,%s,V,DATE:250102,TIME:081600,LAT:48.8583700N,LOT:002.2944800E,"
                 "Speed:000.0,84-20,000#",
                 IMEI, cases[i].code);
        const td_record *r = decode_one(frame, TD_REC_POSITION);
        assert_int_equal(r->alarms, cases[i].alarms);
        assert_raw_str(r, "alarmCode", cases[i].code);
        assert_int_equal(r->time_ms, iso("2025-01-02T08:16:00Z"));
        assert_false(r->valid);
    }

    /* An alarm without a position block is kept as a status record. */
    const td_record *r = decode_one(IMEI ",ALM-A#", TD_REC_STATUS);
    assert_int_equal(r->alarms, TD_ALARM_BIT(TD_ALARM_SOS));
    assert_false(r->has_time);
    assert_raw_str(r, "alarmCode", "ALM-A");
}

static void test_cmd_x(void **state)
{
    (void)state;
    const td_record *r = decode_one("#" IMEI ",CMD-X#", TD_REC_HEARTBEAT);
    assert_false(r->has_time);
    assert_int_equal(r->time_ms, TD_TEST_NOW_MS);
    assert_int_equal(r->alarms, 0);
    assert_raw_str(r, "messageType", "CMD-X");
    assert_null(td_test_find(&ctx, TD_REC_POSITION));
}

/* §2.1 acknowledgements: a position when a fix follows, else an ack. */
static void test_command_acks(void **state)
{
    (void)state;
    const td_record *r = decode_one(IMEI ",CMD-N,A,DATE:250102,TIME:081600,LAT:48.8583700N,"
                                         "LOT:002.2944800E,Speed:000.0,84-20,000#",
                                    TD_REC_POSITION);
    assert_raw_str(r, "messageType", "CMD-N");
    assert_int_equal(r->alarms, 0); /* CMD-N acks the setting; not an alarm */
    assert_null(td_rec_raw_find(r, "alarmCode"));

    r = decode_one(IMEI ", ERROR!,A,DATE:250102,TIME:081600,LAT:48.8583700N,"
                        "LOT:002.2944800E,Speed:000.0,84-20,000#",
                   TD_REC_POSITION);
    assert_raw_str(r, "messageType", "ERROR!");
    assert_int_equal(r->attr[TD_ATTR_BATTERY_LEVEL].i, 84);

    r = decode_one(IMEI ",CMD-A1#", TD_REC_ACK);
    assert_raw_str(r, "messageType", "CMD-A1");
    assert_false(r->has_time);

    r = decode_one(IMEI ",CMD-Z,$296=VIN123#", TD_REC_ACK);
    assert_raw_str(r, "data", "$296=VIN123");
}

static void test_status_variants(void **state)
{
    (void)state;
    static const struct {
        const char *status;
        int batt, rssi; /* -1: absent */
        const char *flags, *raw;
    } cases[] = {
        {"84-20", 84, 20, NULL, NULL},
        {"095-70", 95, 70, NULL, NULL},
        {"1-1-0-84-20", 84, 20, "1-1-0", NULL},
        {"0-0-0-0-52-31", 52, 31, "0-0-0-0", NULL},
        {"X-X", -1, -1, NULL, "X-X"},
        {"101-20", -1, -1, NULL, "101-20"},
        {"77", -1, -1, NULL, "77"},
        {"", -1, -1, NULL, NULL},
    };
    char frame[256];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        snprintf(frame, sizeof(frame),
                 "%s,CMD-T,A,DATE:250102,TIME:081600,LAT:48.8583700N,LOT:002.2944800E,"
                 "Speed:000.0,%s,000",
                 IMEI, cases[i].status);
        const td_record *r = decode_one(frame, TD_REC_POSITION);
        assert_int_equal(td_rec_has(r, TD_ATTR_BATTERY_LEVEL), cases[i].batt >= 0);
        assert_int_equal(td_rec_has(r, TD_ATTR_RSSI), cases[i].rssi >= 0);
        if (cases[i].batt >= 0) {
            assert_int_equal(r->attr[TD_ATTR_BATTERY_LEVEL].i, cases[i].batt);
            assert_int_equal(r->attr[TD_ATTR_RSSI].i, cases[i].rssi);
        }
        if (cases[i].flags)
            assert_raw_str(r, "statusFlags", cases[i].flags);
        else
            assert_null(td_rec_raw_find(r, "statusFlags"));
        if (cases[i].raw)
            assert_raw_str(r, "status", cases[i].raw);
        else
            assert_null(td_rec_raw_find(r, "status"));
    }

    /* No status at all: the fix alone. */
    const td_record *r = decode_one(IMEI ",CMD-T,A,250102,081600,48.8583700N,002.2944800E,"
                                         "Speed:000.0",
                                    TD_REC_POSITION);
    assert_false(td_rec_has(r, TD_ATTR_BATTERY_LEVEL));
}

/* Unknown trailing fields never fail a frame and are kept raw. */
static void test_unknown_tail(void **state)
{
    (void)state;
    const td_record *r = decode_one(IMEI ",CMD-T,A,250102,081600,48.8583700N,002.2944800E,"
                                         "Speed:000.0,90-24,1.3,10,10,26201-1073-1DF5,12,1-1,"
                                         "00.00,WIFI:{broken,foo",
                                    TD_REC_POSITION);
    assert_float_equal(r->course, 0.0, 1e-9);
    assert_raw_str(r, "field9", "1.3");
    assert_raw_str(r, "field10", "10");
    assert_raw_str(r, "field11", "10");
    assert_int_equal(r->ncells, 1);
    assert_int_equal(r->cells[0].mcc, 262);
    assert_int_equal(r->cells[0].mnc, 1);
    assert_int_equal(r->cells[0].lac, 0x1073);
    assert_int_equal(r->cells[0].cid, 0x1DF5);
    assert_raw_str(r, "field13", "12");
    assert_raw_str(r, "field14", "1-1");
    assert_false(td_rec_has(r, TD_ATTR_HDOP)); /* 00.00: no HDOP can be 0 */
    assert_raw_str(r, "field15", "00.00");
    assert_raw_str(r, "field16", "WIFI:{broken,foo");

    /* Course out of range, 3-digit MNC cell. */
    r = decode_one(IMEI ",CMD-T,A,250102,081600,48.8583700N,002.2944800E,Speed:000.0,90-24,"
                        "999,310410-00FF-ABCDEF",
                   TD_REC_POSITION);
    assert_float_equal(r->course, 0.0, 1e-9);
    assert_raw_str(r, "field9", "999");
    assert_int_equal(r->cells[0].mcc, 310);
    assert_int_equal(r->cells[0].mnc, 410);
    assert_int_equal(r->cells[0].lac, 0xFF);
    assert_int_equal(r->cells[0].cid, 0xABCDEF);
}

/* The first frame identifies the connection; later frames carry it too. */
static void test_session(void **state)
{
    (void)state;
    td_session s;
    memset(&s, 0, sizeof(s));
    assert_int_equal(td_test_decode(P, &s, "#" IMEI ",CMD-X#", &ctx), 0);
    assert_string_equal(s.device_id, IMEI);
    assert_int_equal(td_test_decode(P, &s, "#987654321098765,CMD-X#", &ctx), 0);
    assert_string_equal(s.device_id, "987654321098765");
    assert_string_equal(ctx.rec[0].device_id, "987654321098765");
}

/* Frames with their openers, line ends and blanks between them, the last
 * one ended by the input. */
static void test_framer_join_split(void **state)
{
    (void)state;
    static td_test_stream s;

    td_test_stream_reset(&s);
    td_test_stream_noise(&s, "#", 1);
    td_test_stream_text(&s, IMEI ",CMD-X#");
    td_test_stream_noise(&s, "#", 1);
    td_test_stream_text(&s, IMEI ",CMD-T,A,DATE:250102,TIME:081530,LAT:48.8583700N,"
                                 "LOT:002.2944800E,Speed:012.5,X-X-X-X-76-18,090,20801-1A2B-3C4D#");
    td_test_stream_noise(&s, "\r\n#", 3);
    td_test_stream_text(&s, IMEI ",ALM-B1-1,A,DATE:250102,TIME:081531,LAT:48.8583700N,"
                                 "LON:002.2944800E,Speed:000.1,100-22,03.72#");
    td_test_stream_noise(&s, "  #", 3);
    td_test_stream_text(&s, IMEI ",CMD-KEY,V,250102,081532,48.8583700N,002.2944800W,"
                                 "Speed:000.0,057-21,01.60\r");
    td_test_stream_noise(&s, "\n", 1);
    td_test_stream_text(&s, IMEI ",CMD-F,V,DATE:250102,TIME:081533,LAT:48.8583700N,"
                                 "LOT:002.2944800E,Speed:000.0,61-19,");
    td_test_split_everywhere(P, &s, s.n - 1);
    /* Each is one record. */
    for (size_t i = 0; i < s.n; i++) {
        assert_int_equal(td_test_decode_bytes(P, NULL, s.bytes + s.at[i], s.flen[i], &ctx), 0);
        assert_int_equal(ctx.nrec, 1);
    }
}

static void test_framer_direct(void **state)
{
    (void)state;
    size_t skip;
    static uint8_t big[4096];

    assert_int_equal(P->frame((const uint8_t *)"##\r\n 1,CMD-X#2", 14, &skip), 8);
    assert_int_equal(skip, 5);
    assert_int_equal(P->frame((const uint8_t *)"#1,CMD-", 7, &skip), 0);
    assert_int_equal(skip, 1);
    assert_int_equal(P->frame((const uint8_t *)"###", 3, &skip), 0);
    assert_int_equal(skip, 3);

    memset(big, 'A', sizeof(big));
    assert_int_equal(P->frame(big, 2047, &skip), 0);
    assert_int_equal(P->frame(big, 2048, &skip), TD_ETOOBIG);
    big[2047] = '#';
    assert_int_equal(P->frame(big, 4096, &skip), 2048);
    assert_int_equal(P->max_frame, 2048);
    assert_int_equal(P->transports, TD_TCP | TD_UDP);
    assert_non_null(P->encode);
    assert_non_null(P->commands);
}

static void test_oversized(void **state)
{
    (void)state;
    /* The opener '#' skipped. */
    assert_int_equal(td_test_frame_too_big(P, "#" IMEI ",CMD-T,", 'A', 5000), 1);
}

static const char *const valid_frames[] = {
    "#" IMEI ",CMD-T,A,DATE:250102,TIME:081530,LAT:48.8583700N,LOT:002.2944800E,Speed:012.5,"
    "X-X-X-X-76-18,090,20801-1A2B-3C4D#",
    IMEI ",CMD-T,A,DATE:251224,TIME:120000,LAT:01.3521000N,LON:103.8198000E,Speed:003.0,"
         "080-65,12.5,00.80,525~1~123456~100~1850~-95~-10~-70~5,1850~100~-11~-96~-70~-18,>",
    IMEI ",CMD-T,V,250102,081530,48.8583700S,002.2944800W,Speed:000.0,090-20,01.00,"
         "WIFI:{AA-BB-CC-DD-EE-01&-50,aa-bb-cc-dd-ee-02&-71},BLE:{11-22-33-44-55-66&-80}#",
    "#" IMEI ",ALM-B1-1,A,DATE:250102,TIME:081600,LAT:48.8583700N,LON:002.2944800E,"
    "Speed:000.1,100-22,03.72#",
    "#" IMEI ",CMD-X#",
};

/* Every prefix decodes or fails cleanly, directly and through the stream. */
static void test_truncations(void **state)
{
    (void)state;
    size_t ok = 0, bad = 0;
    for (size_t f = 0; f < TD_TEST_COUNT(valid_frames); f++) {
        size_t len = strlen(valid_frames[f]);
        assert_int_equal(td_test_decode(P, NULL, valid_frames[f], &ctx), 0);
        for (size_t n = 0; n <= len; n++) {
            int rc = td_test_try_malformed(P, (const uint8_t *)valid_frames[f], n, &ok, &bad);
            assert_true(rc == 0 || rc == TD_EBADFRAME || rc == TD_EUNSUPPORTED);
        }
    }
}

static void test_garbage(void **state)
{
    (void)state;
    static const char *const junk[] = {
        "",
        "#",
        ",,,,",
        "hello world",
        "123",
        "123,",
        "123,CMD",
        "123,CMD-",
        "123,ALM-",
        "123,FOO,A",
        "12a,CMD-T",
        "123,CMD-T\x01",
        "123,CMD-T,A,\xff\xfe",
        "123456789012345678901,CMD-X",
        "{},{},{}",
        "123,CMD-T,{,,,,}",
    };
    for (size_t i = 0; i < sizeof(junk) / sizeof(junk[0]); i++) {
        int rc = td_test_decode(P, NULL, junk[i], &ctx);
        assert_true(rc < 0);
        assert_int_equal(ctx.nrec, 0);
    }
    /* Embedded NUL and high bytes in an optional field are kept, not fatal. */
    static const uint8_t nul[] = IMEI ",CMD-T,A,250102,081530,48.8583700N,002.2944800E,"
                                      "Speed:000.0,84-20,0\x00\x80\xff";
    assert_int_equal(td_test_decode_bytes(P, NULL, nul, sizeof(nul) - 1, &ctx), 0);
    assert_int_equal(ctx.rec[0].type, TD_REC_POSITION);

    /* Random bytes, with and without a valid head. */
    static const td_test_random spec = {
        .rounds = 500,
        .max_len = 600,
        .head = {IMEI ",CMD-T,A,", "#" IMEI ",ALM-"},
        .alphabet = "0123456789,.:-#~&|{}ABCDEFKLMNOSTVXWZ",
    };
    td_test_random_inputs(P, &spec);
}

static void test_bad_fields(void **state)
{
    (void)state;
#define HEAD IMEI ",CMD-T,"
    static const td_test_error cases[] = {
        {HEAD "A,DATE:250102,TIME:081530,LAT:9x.1N,LOT:002.2944800E,Speed:0",
         "gotop: bad latitude field 'LAT:9x.1N'"},
        {HEAD "A,DATE:250102,TIME:081530,LAT:91.0000000N,LOT:002.2944800E,Speed:0",
         "gotop: bad latitude field 'LAT:91.0000000N'"},
        {HEAD "A,DATE:250102,TIME:081530,LAT:-48.8583700N,LOT:002.2944800E,Speed:0",
         "gotop: bad latitude field 'LAT:-48.8583700N'"},
        {HEAD "A,DATE:250102,TIME:081530,LAT:48.8583700X,LOT:002.2944800E,Speed:0",
         "gotop: bad latitude field 'LAT:48.8583700X'"},
        {HEAD "A,DATE:250102,TIME:081530,LAT:48.8583700N,LOT:181.0000000E,Speed:0",
         "gotop: bad longitude field 'LOT:181.0000000E'"},
        {HEAD "A,DATE:250102,TIME:081530,LAT:48.8583700N,LON:002.29448N,Speed:0",
         "gotop: bad longitude field 'LON:002.29448N'"},
        {HEAD "A,DATE:251302,TIME:081530,LAT:48.8583700N,LOT:002.2944800E,Speed:0",
         "gotop: bad date field 'DATE:251302'"},
        {HEAD "A,DATE:250230,TIME:081530,LAT:48.8583700N,LOT:002.2944800E,Speed:0",
         "gotop: bad date field 'DATE:250230'"},
        {HEAD "A,DATE:2501,TIME:081530,LAT:48.8583700N,LOT:002.2944800E,Speed:0",
         "gotop: bad date field 'DATE:2501'"},
        {HEAD "A,DATE:250102,TIME:246000,LAT:48.8583700N,LOT:002.2944800E,Speed:0",
         "gotop: bad time field 'TIME:246000'"},
        {HEAD "X,DATE:250102,TIME:081530,LAT:48.8583700N,LOT:002.2944800E,Speed:0",
         "gotop: bad validity field 'X'"},
        {HEAD "A,DATE:250102,TIME:081530,LAT:48.8583700N,LOT:002.2944800E,Speed:x",
         "gotop: bad speed field 'Speed:x'"},
        {HEAD "A,DATE:250102,TIME:081530,LAT:48.8583700N,LOT:002.2944800E",
         "gotop: missing speed field"},
        {"12a45,CMD-X", "gotop: bad IMEI field '12a45'"},
        {IMEI ",HELLO", "gotop: unknown message type 'HELLO'"},
        {IMEI ",CMD-\x01X'", "gotop: unknown message type 'CMD-?X?'"},
        {HEAD "A,DATE:250102,TIME:081530,LAT:12345678901234567890123456789012345678901N",
         "gotop: bad latitude field 'LAT:123456789012345678901234567890123456...'"},
        {IMEI, "gotop: missing message type"},
    };
    td_test_expect_errors(P, cases, TD_TEST_COUNT(cases));
#undef HEAD
}

/* ---- downlink commands (fact sheet §4.2) ---- */

static td_test_cmd tc;

/* A session that only knows the device id (gotop's encode() needs none). */
static td_session *offline(void)
{
    return td_test_session(&sess, IMEI);
}

static void test_encode_locate(void **state)
{
    (void)state;
    td_test_cmd_start(&tc, P, "positionSingle");
    td_test_expect_encode(&tc, offline(), ":123456F#", "F");
    td_test_cmd_str(&tc, "password", "654321");
    td_test_expect_encode(&tc, offline(), ":654321F#", "F");
}

static void test_encode_interval(void **state)
{
    (void)state;
    static const struct {
        long sec;
        const char *bytes;
    } ok[] = {
        {1, ":123456M1,001S#"},      {30, ":123456M1,030S#"},    {255, ":123456M1,255S#"},
        {300, ":123456M1,005M#"},    {600, ":123456M1,010M#"},   {3600, ":123456M1,060M#"},
        {15300, ":123456M1,255M#"},  {18000, ":123456M1,005H#"}, {86400, ":123456M1,024H#"},
        {324000, ":123456M1,090H#"},
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        td_test_cmd_start(&tc, P, "positionPeriodic");
        td_test_cmd_num(&tc, "frequency", ok[i].sec);
        td_test_expect_encode(&tc, offline(), ok[i].bytes, "M");
    }
    static const long bad[] = {256, 301, 15360, 15301, 90060, 327600};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char msg[TD_ERRMSG_MAX];
        snprintf(msg, sizeof(msg),
                 "gotop: an interval of %ld s cannot be sent: use 1-255 s, whole minutes up to "
                 "255 min or whole hours up to 90 h",
                 bad[i]);
        td_test_cmd_start(&tc, P, "positionPeriodic");
        td_test_cmd_num(&tc, "frequency", bad[i]);
        td_test_expect_encode_fail(&tc, NULL, TD_EINVAL, msg);
    }
}

static void test_encode_sos_number(void **state)
{
    (void)state;
    td_test_cmd_start(&tc, P, "sosNumber");
    td_test_cmd_num(&tc, "index", 1);
    td_test_cmd_str(&tc, "phone", "+4915112345678");
    td_test_expect_encode(&tc, offline(), ":123456A1,+4915112345678#", "A1");
    /* The '+' is added when the number is given without it. */
    td_test_cmd_start(&tc, P, "sosNumber");
    td_test_cmd_num(&tc, "index", 5);
    td_test_cmd_str(&tc, "phone", "4915112345678");
    td_test_cmd_str(&tc, "password", "000000");
    td_test_expect_encode(&tc, offline(), ":000000A5,+4915112345678#", "A5");
}

static void test_encode_listen(void **state)
{
    (void)state;
    td_test_cmd_start(&tc, P, "voiceMonitoring");
    td_test_expect_encode(&tc, offline(), ":123456U1#", "U1");
}

static void test_encode_battery_alarm(void **state)
{
    (void)state;
    td_test_cmd_start(&tc, P, "alarmBattery");
    td_test_cmd_num(&tc, "enable", 1);
    td_test_expect_encode(&tc, offline(), ":123456N1,20#", "N");
    td_test_cmd_start(&tc, P, "alarmBattery");
    td_test_cmd_num(&tc, "enable", 0);
    td_test_cmd_num(&tc, "threshold", 5);
    td_test_expect_encode(&tc, offline(), ":123456N0,05#", "N");
}

static void test_encode_timezone(void **state)
{
    (void)state;
    static const struct {
        long min;
        const char *bytes;
    } ok[] = {
        {480, ":123456L+08#"}, {-300, ":123456L-05#"}, {0, ":123456L+00#"},
        {840, ":123456L+14#"}, {-720, ":123456L-12#"},
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        td_test_cmd_start(&tc, P, "setTimezone");
        td_test_cmd_num(&tc, "timezone", ok[i].min);
        td_test_expect_encode(&tc, offline(), ok[i].bytes, "L");
    }
    td_test_cmd_start(&tc, P, "setTimezone");
    td_test_cmd_num(&tc, "timezone", 330);
    td_test_expect_encode_fail(&tc, NULL, TD_EINVAL,
                               "gotop: the time zone must be whole hours (330 min is not)");
}

static void test_encode_custom(void **state)
{
    (void)state;
    td_test_cmd_start(&tc, P, "custom");
    td_test_cmd_str(&tc, "data", ":123456Cinternet,203.0.113.10:5050#");
    td_test_expect_encode(&tc, offline(), ":123456Cinternet,203.0.113.10:5050#", "");

    td_test_cmd_start(&tc, P, "custom");
    td_cmd_arg *a = td_test_cmd_arg(&tc, "hex");
    a->str = ":123456H654321#"; /* bytes, as the core decodes the hex */
    a->len = 15;
    td_test_expect_encode(&tc, offline(), ":123456H654321#", "");

    td_test_cmd_start(&tc, P, "custom");
    td_test_expect_encode_fail(&tc, NULL, TD_EINVAL, "gotop: give data or hex");
    td_test_cmd_str(&tc, "data", "x");
    td_test_cmd_str(&tc, "hex", "y");
    td_test_expect_encode_fail(&tc, NULL, TD_EINVAL, "gotop: give data or hex");
}

static void test_encode_errors(void **state)
{
    (void)state;
    static const char *const bad[] = {"12345a", "12345", "1234567", "+12345", "      "};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        td_test_cmd_start(&tc, P, "positionSingle");
        td_test_cmd_str(&tc, "password", bad[i]);
        td_test_expect_encode_fail(&tc, NULL, TD_EINVAL, "gotop: the password must be 6 digits");
    }

    /* `:123456F#` is 9 bytes: 8 do not hold it, and nothing is written past cap. */
    td_test_cmd_start(&tc, P, "positionSingle");
    td_test_expect_too_small(&tc, NULL, ":123456F#", 9);
}

/* Every declared type has labels, and no command left out of the list. */
static void test_command_list(void **state)
{
    (void)state;
    static const char *const types[] = {"positionSingle",  "positionPeriodic", "sosNumber",
                                        "voiceMonitoring", "alarmBattery",     "setTimezone",
                                        "custom"};
    td_test_expect_commands(P, types, sizeof(types) / sizeof(types[0]));
    for (const td_cmd_type *t = P->commands; t->type; t++)
        if (strcmp(t->type, "custom") != 0)
            assert_true(td_cmd_param_index(t, "password") >= 0);
}

/* The device's answers: CMD-<letters> carries the key encode() returned. */
static void test_command_answers(void **state)
{
    (void)state;
    /* CMD-F answers locate-now and keeps its position record. */
    const td_record *r = decode_one(IMEI ",CMD-F,A,DATE:250102,TIME:081600,LAT:48.8583700N,"
                                         "LOT:002.2944800E,Speed:000.0,61-19,000#",
                                    TD_REC_POSITION);
    assert_raw_str(r, "messageType", "CMD-F");
    assert_string_equal(ctx.ack, "F");
    assert_string_equal(ctx.ack_result, "");
    assert_false(ctx.ack_failed);

    r = decode_one(IMEI ",CMD-A1,V,DATE:250102,TIME:081600,LAT:48.8583700N,"
                        "LOT:002.2944800E,Speed:000.0,61-19,000#",
                   TD_REC_POSITION);
    assert_string_equal(ctx.ack, "A1");
    assert_false(ctx.ack_failed);

    decode_one(IMEI ",CMD-A1#", TD_REC_ACK);
    assert_string_equal(ctx.ack, "A1");
    assert_string_equal(ctx.ack_result, "");

    decode_one(IMEI ",CMD-M,A,DATE:250102,TIME:081600,LAT:48.8583700N,LOT:002.2944800E,"
                    "Speed:000.0,61-19,000#",
               TD_REC_POSITION);
    assert_string_equal(ctx.ack, "M");
    decode_one(IMEI ",CMD-U1#", TD_REC_ACK);
    assert_string_equal(ctx.ack, "U1");
    decode_one(IMEI ",CMD-Z,$296=VIN123#", TD_REC_ACK);
    assert_string_equal(ctx.ack, "Z");
    assert_string_equal(ctx.ack_result, "$296=VIN123");

    /* ` ERROR!` refuses the oldest waiting command; its position stays. */
    r = decode_one(IMEI ", ERROR!,V,DATE:250102,TIME:081600,LAT:48.8583700N,"
                        "LOT:002.2944800E,Speed:000.0,61-19,000#",
                   TD_REC_POSITION);
    assert_raw_str(r, "messageType", "ERROR!");
    assert_string_equal(ctx.ack, TD_ACK_ANY);
    assert_true(ctx.ack_failed);

    /* Periodic reports, SOS, heartbeats and alarms answer nothing. */
    static const char *const quiet[] = {
        IMEI ",CMD-T,A,DATE:250102,TIME:081600,LAT:48.8583700N,LOT:002.2944800E,Speed:000.0,"
             "61-19,000#",
        IMEI ",CMD-KEY,A,DATE:250102,TIME:081600,LAT:48.8583700N,LOT:002.2944800E,Speed:000.0,"
             "61-19,000#",
        IMEI ",ALM-A,A,DATE:250102,TIME:081600,LAT:48.8583700N,LOT:002.2944800E,Speed:000.0,"
             "61-19,000#",
        IMEI ",CMD-X#",
    };
    for (size_t i = 0; i < sizeof(quiet) / sizeof(quiet[0]); i++) {
        assert_int_equal(td_test_decode(P, NULL, quiet[i], &ctx), 0);
        assert_string_equal(ctx.ack, "");
        assert_false(ctx.ack_failed);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_detect),
        cmocka_unit_test(test_cmd_t_classic),
        cmocka_unit_test(test_cmd_t_unlabelled),
        cmocka_unit_test(test_cmd_t_te207),
        cmocka_unit_test(test_cmd_t_wifi_ble),
        cmocka_unit_test(test_cmd_f),
        cmocka_unit_test(test_cmd_key),
        cmocka_unit_test(test_alm_codes),
        cmocka_unit_test(test_cmd_x),
        cmocka_unit_test(test_command_acks),
        cmocka_unit_test(test_status_variants),
        cmocka_unit_test(test_unknown_tail),
        cmocka_unit_test(test_session),
        cmocka_unit_test(test_framer_join_split),
        cmocka_unit_test(test_framer_direct),
        cmocka_unit_test(test_oversized),
        cmocka_unit_test(test_truncations),
        cmocka_unit_test(test_garbage),
        cmocka_unit_test(test_bad_fields),
        cmocka_unit_test(test_encode_locate),
        cmocka_unit_test(test_encode_interval),
        cmocka_unit_test(test_encode_sos_number),
        cmocka_unit_test(test_encode_listen),
        cmocka_unit_test(test_encode_battery_alarm),
        cmocka_unit_test(test_encode_timezone),
        cmocka_unit_test(test_encode_custom),
        cmocka_unit_test(test_encode_errors),
        cmocka_unit_test(test_command_list),
        cmocka_unit_test(test_command_answers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
