/*
 * Unit tests for the meitrack protocol. The AAA frames are the examples of
 * the Meitrack GPRS protocol documents and frames built from their layouts
 * (made-up IMEIs and values, lengths and checksums computed here); the CCC
 * and CCE frames are built byte by byte from the layouts in
 * docs/protocols/meitrack.md. Then the device vectors of
 * tests/vectors/protocols.jsonl, forced and through detection; detection
 * against every other family (h02's `$` binary record in particular);
 * framing split at every byte; malformed input.
 */
#include "support.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/text.h"

#define IMEI "353358017784062"

TD_TEST_PROTOCOL(meitrack)

/* Writes $$<flag><length>,<IMEI>,<type>[,<content>]*<checksum>\r\n into out
 * (the content may be binary; NULL for none) and returns its length. */
static size_t build(char flag, const char *type, const void *content, size_t n, uint8_t *out)
{
    char body[64];
    int blen = snprintf(body, sizeof(body), ",%s,%s%s", IMEI, type, content ? "," : "");
    size_t length = (size_t)blen + n + 5; /* '*', two digits, \r\n */
    size_t k = (size_t)sprintf((char *)out, "$$%c%zu%s", flag, length, body);
    if (n)
        memcpy(out + k, content, n);
    k += n;
    out[k++] = '*';
    unsigned sum = 0;
    for (size_t i = 0; i < k; i++)
        sum += out[i];
    k += (size_t)sprintf((char *)out + k, "%02X\r\n", sum & 0xff);
    return k;
}

static size_t build_text(char flag, const char *type, const char *content, uint8_t *out)
{
    return build(flag, type, content, strlen(content), out);
}

/* Decodes one frame in a fresh session; expects success and n records of
 * IMEI. */
static const td_record *decode_frame(const uint8_t *b, size_t len, int n)
{
    const td_record *r = td_test_decode_bytes_n(P, &sess, b, len, &ctx, n);
    for (int i = 0; i < n; i++)
        assert_string_equal(ctx.rec[i].device_id, IMEI);
    return r;
}

static const td_record *one_text(const char *frame)
{
    return decode_frame((const uint8_t *)frame, strlen(frame), 1);
}

/* ---- AAA ---- */

/* The document's SOS example (T622 protocol, section 3.16). */
static void test_aaa_document_sos(void **state)
{
    (void)state;
    const td_record *r =
        one_text("$$G127," IMEI ",AAA,1,22.538169,114.075958,100313095653,A,3,21,4,46,5,581,0,148,"
                 "0|0|10133|4172,0000,166|204|205|2709|878,*77\r\n");
    assert_int_equal(r->type, TD_REC_POSITION);
    assert_true(r->valid);
    td_test_assert_time(r, "2010-03-13T09:56:53Z");
    td_test_assert_near(r->latitude, 22.538169);
    td_test_assert_near(r->longitude, 114.075958);
    td_test_assert_near(r->speed, 4);
    td_test_assert_near(r->course, 46);
    td_test_assert_near(r->altitude, 581);
    assert_int_equal(r->alarms, TD_ALARM_BIT(TD_ALARM_SOS));
    assert_int_equal(td_test_raw_int(r, "event"), 1);
    assert_int_equal(r->attr[TD_ATTR_SATELLITES].i, 3);
    assert_int_equal(r->attr[TD_ATTR_RSSI].i, 21);
    td_test_assert_near(r->attr[TD_ATTR_HDOP].d, 5);
    td_test_assert_near(r->attr[TD_ATTR_ODOMETER].d, 0);
    assert_int_equal(td_test_raw_int(r, "runTime"), 148);
    assert_int_equal(r->ncells, 0); /* MCC 0: no cell */
    assert_int_equal(td_test_raw_int(r, "io"), 0);
    /* Decimal converter counts of the older firmware: kept without a unit. */
    assert_int_equal(td_test_raw_int(r, "adc4"), 2709);
    assert_int_equal(td_test_raw_int(r, "adc5"), 878);
    assert_false(td_rec_has(r, TD_ATTR_BATTERY));
    assert_int_equal(ctx.reply_len, 0); /* AAA needs no answer */
    assert_record_sane(r);
}

/* The document's heartbeat (event 31, sent in deep sleep without a fix) and
 * time-interval report (event 35). */
static void test_aaa_document_heartbeat_and_interval(void **state)
{
    (void)state;
    const td_record *r =
        one_text("$$a131," IMEI ",AAA,31,22.913458,114.083183,080229123628,V,9,23,21,83,1,18,1350,"
                 "127,0|0|10133|4110,0000,169|181|184|2714|919,*60\r\n");
    assert_int_equal(r->type, TD_REC_POSITION);
    assert_false(r->valid);
    td_test_assert_time(r, "2008-02-29T12:36:28Z");
    assert_int_equal(td_test_raw_int(r, "event"), 31);
    assert_int_equal(r->alarms, 0);
    td_test_assert_near(r->attr[TD_ATTR_ODOMETER].d, 1350);
    r = one_text("$$W129," IMEI ",AAA,35,22.540113,114.076141,100313094354,A,5,22,1,174,4,129,0,"
                 "435,0|0|10133|4110,0000,166|224|193|2704|916,*BE\r\n");
    assert_int_equal(td_test_raw_int(r, "event"), 35);
    td_test_assert_near(r->course, 174);
    assert_int_equal(ctx.reply_len, 0);
}

/* The current layout: hex cell, hex analog inputs in hundredths of a volt,
 * then assisted event, custom data, protocol version, fuel, sensors. */
static void test_aaa_current_format(void **state)
{
    (void)state;
    uint8_t b[512];
    size_t n = build_text('O', "AAA",
                          "35,-33.866543,-151.190148,260102030405,A,12,31,87,359,0.7,-12,32121,"
                          "442492,505|2|0B5F|D9D3,0401,0064|0000|0000|018D|04F0,00000001,,3,0A1B,"
                          "05FB2E|06FB2F",
                          b);
    const td_record *r = decode_frame(b, n, 1);
    td_test_assert_time(r, "2026-01-02T03:04:05Z");
    td_test_assert_near(r->latitude, -33.866543);
    td_test_assert_near(r->longitude, -151.190148);
    td_test_assert_near(r->speed, 87);
    td_test_assert_near(r->course, 359);
    td_test_assert_near(r->altitude, -12);
    assert_int_equal(r->attr[TD_ATTR_SATELLITES].i, 12);
    assert_int_equal(r->attr[TD_ATTR_RSSI].i, 31);
    td_test_assert_near(r->attr[TD_ATTR_HDOP].d, 0.7);
    td_test_assert_near(r->attr[TD_ATTR_ODOMETER].d, 32121);
    assert_int_equal(td_test_raw_int(r, "runTime"), 442492);
    assert_int_equal(r->ncells, 1);
    td_test_assert_cell(r, 0, 505, 2, 0x0b5f, 0xd9d3);
    assert_int_equal(td_test_raw_int(r, "io"), 0x0401);
    td_test_assert_near(td_test_raw_double(r, "adc1"), 1.0);
    td_test_assert_near(r->attr[TD_ATTR_BATTERY].d, 3.97);
    td_test_assert_near(td_test_raw_double(r, "power"), 12.64);
    assert_string_equal(td_test_raw_str(r, "eventInfo"), "00000001");
    assert_string_equal(td_test_raw_str(r, "protocolVersion"), "3");
    assert_string_equal(td_test_raw_str(r, "fuel"), "0A1B");
    assert_string_equal(td_test_raw_str(r, "sensors"), "05FB2E|06FB2F");
    assert_null(td_rec_raw_find(r, "customData"));
    assert_null(td_rec_raw_find(r, "checksumError"));
    assert_record_sane(r);
}

/* Event codes onto the contract's alarms; other codes stay an attribute. */
static void test_aaa_event_alarms(void **state)
{
    (void)state;
    static const struct {
        int code;
        int alarm;
    } map[] = {
        {1, TD_ALARM_SOS},
        {17, TD_ALARM_LOW_BATTERY},
        {18, TD_ALARM_LOW_POWER},
        {19, TD_ALARM_OVERSPEED},
        {20, TD_ALARM_GEOFENCE_ENTER},
        {21, TD_ALARM_GEOFENCE_EXIT},
        {23, TD_ALARM_POWER_CUT},
        {2, -1},
        {22, -1},
        {35, -1},
        {129, -1},
    };
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
        char content[160];
        uint8_t b[256];
        snprintf(content, sizeof(content),
                 "%d,22.5,114.1,260102030405,A,5,20,0,0,1.0,10,0,0,460|0|27B6|11BE,0000,",
                 map[i].code);
        size_t n = build_text('K', "AAA", content, b);
        const td_record *r = decode_frame(b, n, 1);
        assert_int_equal(td_test_raw_int(r, "event"), map[i].code);
        assert_int_equal(r->alarms, map[i].alarm < 0 ? 0 : TD_ALARM_BIT(map[i].alarm));
    }
}

/* Empty number fields (not measured) and a clock not yet set. */
static void test_aaa_empty_fields(void **state)
{
    (void)state;
    uint8_t b[256];
    size_t n = build_text('E', "AAA", "35,22.5,114.1,000000000000,V,,,,,,,,,0|0|0|0,0000,", b);
    const td_record *r = decode_frame(b, n, 1);
    assert_false(r->has_time);
    assert_int_equal(r->time_ms, TD_TEST_NOW_MS);
    assert_false(r->valid);
    td_test_assert_near(r->speed, 0);
    assert_false(td_rec_has(r, TD_ATTR_SATELLITES));
    assert_false(td_rec_has(r, TD_ATTR_ODOMETER));
    assert_null(td_rec_raw_find(r, "runTime"));
    assert_record_sane(r);
}

/* A checksum that does not match: shipping firmwares send them on frames
 * that are otherwise whole, so the fix is kept and marked. */
static void test_aaa_checksum_mismatch(void **state)
{
    (void)state;
    const td_record *r =
        one_text("$$W129," IMEI ",AAA,35,22.540113,114.076141,100313094354,A,5,22,1,174,4,129,0,"
                 "435,0|0|10133|4110,0000,166|224|193|2704|916,*BF\r\n");
    assert_true(td_test_raw_bool(r, "checksumError"));
    /* Lower-case checksum digits are the same sum. */
    r = one_text("$$S28," IMEI ",A11,OK*fe");
    assert_null(td_rec_raw_find(r, "checksumError"));
}

/* ---- CCC ---- */

static uint8_t *le(uint8_t *p, uint32_t v, int bytes)
{
    for (int i = 0; i < bytes; i++)
        *p++ = (uint8_t)(v >> (8 * i));
    return p;
}

/* One 52-byte CCC record. */
static uint8_t *ccc_record(uint8_t *p, int event, int32_t lat, int32_t lon, uint32_t secs, int fix)
{
    p = le(p, (uint32_t)event, 1);
    p = le(p, (uint32_t)lat, 4);
    p = le(p, (uint32_t)lon, 4);
    p = le(p, secs, 4);
    p = le(p, (uint32_t)fix, 1);
    p = le(p, 9, 1);      /* satellites */
    p = le(p, 19, 1);     /* GSM signal */
    p = le(p, 63, 2);     /* speed */
    p = le(p, 271, 2);    /* course */
    p = le(p, 12, 2);     /* HDOP 1.2 */
    p = le(p, 0xfffb, 2); /* altitude -5 */
    p = le(p, 80083, 4);  /* mileage */
    p = le(p, 180092, 4); /* run time */
    p = le(p, 510, 2);    /* MCC */
    p = le(p, 1, 2);      /* MNC */
    p = le(p, 0x3504, 2); /* LAC */
    p = le(p, 0xebfe, 2); /* CI */
    p = le(p, 0x0102, 2); /* I/O */
    p = le(p, 5, 2);      /* AD1 */
    p = le(p, 419, 2);    /* battery */
    p = le(p, 1264, 2);   /* external power */
    return le(p, 0, 4);   /* geo-fence */
}

/* 2026-01-02T03:04:05Z in seconds since 2000. */
#define SECS2000 (uint32_t)(TD_TEST_NOW_MS / 1000 - 946684800LL)

static void test_ccc_records_and_confirmation(void **state)
{
    (void)state;
    uint8_t content[8 + 2 * 52], *p = content, b[256];
    p = le(p, 0x0102, 2); /* version */
    p = le(p, 52, 2);     /* record length */
    p = le(p, 7, 4);      /* records left in the cache */
    p = ccc_record(p, 35, -7266504, 112743651, SECS2000, 1);
    p = ccc_record(p, 1, 22540113, 114076141, SECS2000 + 60, 0);
    size_t n = build('X', "CCC", content, (size_t)(p - content), b);
    const td_record *r = decode_frame(b, n, 2);

    assert_int_equal(r->type, TD_REC_POSITION);
    assert_true(r->valid);
    td_test_assert_time(r, "2026-01-02T03:04:05Z");
    td_test_assert_near(r->latitude, -7.266504);
    td_test_assert_near(r->longitude, 112.743651);
    td_test_assert_near(r->speed, 63);
    td_test_assert_near(r->course, 271);
    td_test_assert_near(r->altitude, -5);
    td_test_assert_near(r->attr[TD_ATTR_HDOP].d, 1.2);
    assert_int_equal(r->attr[TD_ATTR_SATELLITES].i, 9);
    assert_int_equal(r->attr[TD_ATTR_RSSI].i, 19);
    td_test_assert_near(r->attr[TD_ATTR_ODOMETER].d, 80083);
    assert_int_equal(td_test_raw_int(r, "runTime"), 180092);
    assert_int_equal(r->ncells, 1);
    td_test_assert_cell(r, 0, 510, 1, 0x3504, 0xebfe);
    assert_int_equal(td_test_raw_int(r, "io"), 0x0102);
    td_test_assert_near(td_test_raw_double(r, "adc1"), 0.05);
    td_test_assert_near(r->attr[TD_ATTR_BATTERY].d, 4.19);
    td_test_assert_near(td_test_raw_double(r, "power"), 12.64);
    assert_int_equal(td_test_raw_int(r, "cacheLeft"), 7);
    assert_int_equal(td_test_raw_int(r, "event"), 35);
    assert_record_sane(r);

    r = &ctx.rec[1];
    assert_false(r->valid);
    td_test_assert_time(r, "2026-01-02T03:05:05Z");
    assert_int_equal(r->alarms, TD_ALARM_BIT(TD_ALARM_SOS));
    assert_record_sane(r);

    /* Both records confirmed, with the frame's flag. */
    td_test_assert_reply(&ctx, "@@X27," IMEI ",CCC,2*F8\r\n");
}

static void test_ccc_other_versions(void **state)
{
    (void)state;
    uint8_t content[8 + 40] = {0x01, 0x05, 40, 0, 1, 0, 0, 0}, b[128];
    size_t n = build('X', "CCC", content, sizeof(content), b);
    td_test_expect_error_bytes(P, &ctx, b, n,
                               "meitrack: CCC version 0x0501 with 40-byte records not supported");
    assert_int_equal(ctx.reply_len, 0); /* nothing confirmed */
}

/* ---- CCE ---- */

/* A CCE record with every parameter this decoder reads, and some it keeps
 * raw: 1-byte (event, fix, satellites, GSM, outputs, inputs, battery %),
 * 2-byte (speed, course, HDOP, altitude, AD1, battery, power), 4-byte
 * (latitude, longitude, time, mileage, run time, an unknown one and a
 * two-byte id), N-byte (cell, network name). */
static size_t cce_record(uint8_t *out, int event, bool fix)
{
    uint8_t *p = out + 2; /* the record length comes last */
    uint8_t *count = p;
    p += 2;
    *p++ = 7;
    p = le(p, 0x01, 1), p = le(p, (uint32_t)event, 1);
    p = le(p, 0x05, 1), p = le(p, fix, 1);
    p = le(p, 0x06, 1), p = le(p, 11, 1);
    p = le(p, 0x07, 1), p = le(p, 25, 1);
    p = le(p, 0x14, 1), p = le(p, 2, 1);
    p = le(p, 0x15, 1), p = le(p, 0x81, 1);
    *p++ = 0xfe, *p++ = 0x69, p = le(p, 88, 1);
    *p++ = 7;
    p = le(p, 0x08, 1), p = le(p, 24, 2);
    p = le(p, 0x09, 1), p = le(p, 198, 2);
    p = le(p, 0x0a, 1), p = le(p, 5, 2);
    p = le(p, 0x0b, 1), p = le(p, 0xfff6, 2); /* -10 m */
    p = le(p, 0x16, 1), p = le(p, 7, 2);
    p = le(p, 0x19, 1), p = le(p, 422, 2);
    p = le(p, 0x1a, 1), p = le(p, 1425, 2);
    *p++ = fix ? 6 : 4;
    if (fix) {
        p = le(p, 0x02, 1), p = le(p, (uint32_t)33925621, 4);
        p = le(p, 0x03, 1), p = le(p, (uint32_t)-6917510, 4);
    }
    p = le(p, 0x04, 1), p = le(p, SECS2000, 4);
    p = le(p, 0x0c, 1), p = le(p, 518578, 4);
    p = le(p, 0x0d, 1), p = le(p, 163903, 4);
    if (fix)
        p = le(p, 0x1c, 1), p = le(p, 1, 4);
    else
        *p++ = 0xfe, *p++ = 0x37, p = le(p, 9, 4);
    *p++ = 2;
    p = le(p, 0x0e, 1), p = le(p, 12, 1);
    p = le(p, 604, 2), p = le(p, 2, 2), p = le(p, 1303, 2), p = le(p, 0x01973e21, 4);
    p = le(p, 0xffa0, 2); /* -96 */
    p = le(p, 0x4b, 1), p = le(p, 6, 1), *p++ = 1, *p++ = 1, *p++ = 3;
    memcpy(p, "LTE", 3), p += 3;
    le(count, fix ? 7 + 7 + 7 + 2 : 7 + 7 + 4 + 2, 2);
    le(out, (uint32_t)(p - out - 2), 2);
    return (size_t)(p - out);
}

static void test_cce_records_and_confirmation(void **state)
{
    (void)state;
    uint8_t content[512], *p = content, b[640];
    p = le(p, 3069, 4); /* records left */
    p = le(p, 2, 2);
    p += cce_record(p, 35, true);
    p += cce_record(p, 17, false);
    size_t n = build('c', "CCE", content, (size_t)(p - content), b);
    const td_record *r = decode_frame(b, n, 2);

    assert_int_equal(r->type, TD_REC_POSITION);
    assert_true(r->valid);
    td_test_assert_time(r, "2026-01-02T03:04:05Z");
    td_test_assert_near(r->latitude, 33.925621);
    td_test_assert_near(r->longitude, -6.91751);
    td_test_assert_near(r->speed, 24);
    td_test_assert_near(r->course, 198);
    td_test_assert_near(r->altitude, -10);
    td_test_assert_near(r->attr[TD_ATTR_HDOP].d, 0.5);
    assert_int_equal(r->attr[TD_ATTR_SATELLITES].i, 11);
    assert_int_equal(r->attr[TD_ATTR_RSSI].i, 25);
    assert_int_equal(r->attr[TD_ATTR_BATTERY_LEVEL].i, 88);
    td_test_assert_near(r->attr[TD_ATTR_BATTERY].d, 4.22);
    td_test_assert_near(td_test_raw_double(r, "power"), 14.25);
    td_test_assert_near(td_test_raw_double(r, "adc1"), 0.07);
    td_test_assert_near(r->attr[TD_ATTR_ODOMETER].d, 518578);
    assert_int_equal(td_test_raw_int(r, "runTime"), 163903);
    assert_int_equal(td_test_raw_int(r, "output"), 2);
    assert_int_equal(td_test_raw_int(r, "input"), 0x81);
    assert_int_equal(td_test_raw_int(r, "event"), 35);
    assert_int_equal(td_test_raw_int(r, "param1C"), 1);
    assert_int_equal(td_test_raw_int(r, "cacheLeft"), 3069);
    assert_string_equal(td_test_raw_str(r, "network"), "LTE");
    assert_int_equal(r->ncells, 1);
    td_test_assert_cell(r, 0, 604, 2, 1303, 0x01973e21);
    assert_true(r->cells[0].has_rssi);
    assert_int_equal(r->cells[0].rssi, -96);
    assert_record_sane(r);

    /* No latitude/longitude: a status record, with its low-battery alarm. */
    r = &ctx.rec[1];
    assert_int_equal(r->type, TD_REC_STATUS);
    assert_int_equal(r->alarms, TD_ALARM_BIT(TD_ALARM_LOW_BATTERY));
    assert_int_equal(td_test_raw_int(r, "paramFE37"), 9);
    assert_record_sane(r);

    td_test_assert_reply(&ctx, "@@c27," IMEI ",CCE,2*05\r\n");
}

/* The event code in its two-byte form (parameter 0x40), and a record whose
 * N-byte value runs past its declared length: the record ends there. */
static void test_cce_two_byte_event_and_short_values(void **state)
{
    (void)state;
    uint8_t content[128], *p = content, b[256];
    p = le(p, 0, 4);
    p = le(p, 1, 2);
    uint8_t *rec = p;
    p += 2;
    p = le(p, 5, 2);
    *p++ = 0;
    *p++ = 1, p = le(p, 0x40, 1), p = le(p, 20, 2);
    *p++ = 3;
    p = le(p, 0x02, 1), p = le(p, 22500000, 4);
    p = le(p, 0x03, 1), p = le(p, 114100000, 4);
    p = le(p, 0x04, 1), p = le(p, SECS2000, 4);
    *p++ = 1, *p++ = 0x4b, *p++ = 200, *p++ = 1; /* 200 bytes announced, 1 there */
    le(rec, (uint32_t)(p - rec - 2), 2);
    size_t n = build('c', "CCE", content, (size_t)(p - content), b);
    const td_record *r = decode_frame(b, n, 1);
    assert_int_equal(r->alarms, TD_ALARM_BIT(TD_ALARM_GEOFENCE_ENTER));
    td_test_assert_near(r->latitude, 22.5);
    td_test_assert_near(r->longitude, 114.1);
    td_test_assert_reply(&ctx, "@@c27," IMEI ",CCE,1*04\r\n");
}

/* ---- answers to commands ---- */

static void test_command_answers(void **state)
{
    (void)state;
    /* The documents' answers to A11 and B36. */
    const td_record *r = one_text("$$S28," IMEI ",A11,OK*FE\r\n");
    assert_int_equal(r->type, TD_REC_ACK);
    assert_string_equal(td_test_raw_str(r, "result"), "A11,OK");
    assert_string_equal(ctx.ack_result, "A11,OK");
    assert_int_equal(ctx.reply_len, 0);
    r = one_text("$$P28," IMEI ",B36,OK*03\r\n");
    assert_string_equal(td_test_raw_str(r, "result"), "B36,OK");
    assert_null(td_rec_raw_find(r, "checksumError"));
    /* An answer with binary content keeps a printable copy. */
    uint8_t b[128];
    size_t n = build('O', "D00", "0215080432_C2E03.jpg,3,0,\x01\xff\xd8", 28, b);
    r = decode_frame(b, n, 1);
    assert_string_equal(td_test_raw_str(r, "result"), "D00,0215080432_C2E03.jpg,3,0,...");
}

static void test_session_identity(void **state)
{
    (void)state;
    td_session s;
    memset(&s, 0, sizeof(s));
    assert_int_equal(td_test_decode(P, &s, "$$S28," IMEI ",A11,OK*FE\r\n", &ctx), 0);
    assert_string_equal(s.device_id, IMEI);
    /* Every frame carries the IMEI: a second device on the same link is
     * reported under its own. */
    assert_int_equal(td_test_decode(P, &s, "$$z27,861451040910625,AAC,1*D3", &ctx), 0);
    assert_string_equal(ctx.rec[0].device_id, "861451040910625");
}

/* ---- vectors, detection, framing ---- */

/* meitrack does not take h02's `$` binary record, even one whose id makes
 * it begin "$$": "$$" then BCD bytes, never a flag, decimal length and
 * comma. */
static void test_detect_h02_binary(void **state)
{
    (void)state;
    static const uint8_t h02[32] = {'$',  0x24, 0x10, 0x00, 0x00, 0x01, 0x12, 0x13,
                                    0x14, 0x01, 0x02, 0x24, 0x22, 0x34, 0x56, 0x78,
                                    0x00, 0x11, 0x34, 0x56, 0x78, 0x9e, 0x01, 0x20,
                                    0x45, 0xff, 0xff, 0xfb, 0xff, 0x00, 0x00, 0x00};
    assert_ptr_equal(td_detect(h02, 32, TD_TCP, &(bool){false}), td_protocol_find("h02"));
    for (size_t len = 0; len <= 32; len++)
        assert_true(P->detect(h02, len) != TD_DETECT_YES);
    assert_int_equal(P->detect(h02, 32), TD_DETECT_NO);
}

static void test_detect_shapes(void **state)
{
    (void)state;
    static const char *const maybe[] = {
        "",          "$", "$$", "$$A", "$$A1", "$$A12,", "$$A12,3533", "$$A12,353358017784062,",
        "$$A12,1,AA"};
    static const char *const no[] = {
        "$A",                               /* one '$' */
        "$$@12,1,AAA,",                     /* flag below 0x41 */
        "$${12,1,AAA,",                     /* flag above 0x7A */
        "$$A,1,AAA,",                       /* no length */
        "$$A123456,1,AAA,",                 /* six length digits */
        "$$A12;",                           /* no comma */
        "$$A12,,AAA,",                      /* no IMEI */
        "$$A12,12345678901234567890123,",   /* IMEI too long */
        "$$A12,35a,",                       /* IMEI of digits */
        "$$A28,1,aaa,",                     /* type in capitals */
        "$$A28,1,AAAA",                     /* type of three */
        "$$A10,353358017784062,AAA,",       /* length shorter than the frame */
        "@@Q25,353358017784062,A10*6A\r\n", /* a server command */
    };
    static const char *const yes[] = {"$$A28,1,D03,", "$$A28,1,D03*"};
    td_test_detect_each(P, maybe, TD_TEST_COUNT(maybe), TD_DETECT_MAYBE);
    td_test_detect_each(P, no, TD_TEST_COUNT(no), TD_DETECT_NO);
    td_test_detect_each(P, yes, TD_TEST_COUNT(yes), TD_DETECT_YES);
}

/* Text, binary and answer frames back to back, with a line end and noise
 * between two of them, split in two at every byte. */
static void test_framer_split_everywhere(void **state)
{
    (void)state;
    static td_test_stream s;
    uint8_t b[512], content[512], *p = content;

    td_test_stream_reset(&s);
    td_test_stream_frame(
        &s, b,
        build_text('A', "AAA",
                   "35,22.5,114.1,260102030405,A,5,20,0,0,1.0,10,0,0,460|0|27B6|11BE,0000,", b));
    /* A CCE frame whose content holds "\r\n", '*' and "$$". */
    p = le(p, 0x0a0d2a24, 4);
    p = le(p, 1, 2);
    p += cce_record(p, 0x24, true);
    td_test_stream_frame(&s, b, build('B', "CCE", content, (size_t)(p - content), b));
    td_test_stream_noise(&s, "\r\n#\x01", 4);
    td_test_stream_frame(&s, b, build_text('C', "D03", "OK", b));
    /* A text frame whose length field is 2 too large, as some firmwares send. */
    size_t n = build_text('D', "A12", "OK", b);
    b[3] = '3';
    b[4] = '0';
    td_test_stream_frame(&s, b, n);
    td_test_split_everywhere(P, &s, s.n);
}

static void test_framer_limits(void **state)
{
    (void)state;
    size_t skip;

    /* A text frame that never ends. */
    td_test_frame_too_big(P, "$$A99," IMEI ",AAA,", '0', 3000);

    /* A binary frame waits for its declared length, even past a "*XX\r\n". */
    const char *cce = "$$B33," IMEI ",CCE,*00\r\n\x01\x02*00\r\n";
    assert_int_equal(strlen(cce), 38);
    assert_int_equal(P->frame((const uint8_t *)cce, 31, &skip), 0);
    assert_int_equal(P->frame((const uint8_t *)cce, 37, &skip), 0);
    assert_int_equal(P->frame((const uint8_t *)cce, 38, &skip), 38);
    /* A text frame without its line end ends where the next one starts. */
    const char *two = "$$C28," IMEI ",D03,OK*F3$$C28," IMEI ",D03,OK*F3\r\n";
    assert_int_equal(P->frame((const uint8_t *)two, strlen(two), &skip), 31);
    /* Noise before a frame is skipped. */
    assert_int_equal(P->frame((const uint8_t *)"\r\n$x$$C28," IMEI ",D03,OK*F3\r\n", 37, &skip),
                     33);
    assert_int_equal(skip, 4);
    /* A declared length past the limit. */
    assert_int_equal(P->detect((const uint8_t *)"$$B99999," IMEI ",CCE,", 29), TD_DETECT_NO);
}

/* ---- malformed input ---- */

static void expect_error(const char *frame, const char *msg)
{
    td_test_expect_error(P, &ctx, frame, msg);
}

/* The same for a frame with NUL bytes: a string literal's bytes. */
#define EXPECT_ERROR_BYTES(lit, msg)                                                               \
    td_test_expect_error_bytes(P, &ctx, (const uint8_t *)(lit), sizeof(lit) - 1, msg)

static void test_errors(void **state)
{
    (void)state;
    expect_error("", "meitrack: empty frame");
    expect_error("$$A28,1,AAA", "meitrack: not a $$<flag><length>,<IMEI>,<type> header");
    expect_error("$$A28,1,AAA,35,22.5", "meitrack: frame does not end with *<checksum>");
    expect_error("$$A28,1,AAA,35,22.5*00", "meitrack: AAA report with 2 fields, want at least 13");
    expect_error("$$A99,1,AAA,35,92.5,114.1,260102030405,A,5,20,0,0,1.0,10,0,0*00",
                 "meitrack: bad latitude '92.5'");
    expect_error("$$A99,1,AAA,35,22.5,x,260102030405,A,5,20,0,0,1.0,10,0,0*00",
                 "meitrack: bad longitude 'x'");
    expect_error("$$A99,1,AAA,35,22.5,114.1,260132030405,A,5,20,0,0,1.0,10,0,0*00",
                 "meitrack: bad date and time '260132030405'");
    expect_error("$$A99,1,AAA,35,22.5,114.1,260102030405,X,5,20,0,0,1.0,10,0,0*00",
                 "meitrack: bad positioning status 'X'");
    expect_error("$$A99,1,AAA,35,22.5,114.1,260102030405,A,5,20,fast,0,1.0,10,0,0*00",
                 "meitrack: bad speed 'fast'");
    expect_error("$$A99,1,AAA,35,22.5,114.1,260102030405,A,5,20,0,400,1.0,10,0,0*00",
                 "meitrack: bad direction '400'");
    expect_error("$$A99,1,AAA,ev,22.5,114.1,260102030405,A,5,20,0,0,1.0,10,0,0*00",
                 "meitrack: bad event code 'ev'");
    expect_error("$$A99,1,AAA,35,22.5,114.1,260102030405,A,5,20,0,0,1.0,10,-1,0*00",
                 "meitrack: bad mileage '-1'");
    EXPECT_ERROR_BYTES("$$A40,1,CCE,\x01*00", "meitrack: CCE header truncated");
    EXPECT_ERROR_BYTES("$$A40,1,CCE,\x00\x00\x00\x00\x01\x00\x09\x00*00",
                       "meitrack: CCE record 1 of 1 truncated");
    EXPECT_ERROR_BYTES("$$A40,1,CCC,\x02\x01\x34\x00\x01\x00\x00\x00\x01*00",
                       "meitrack: CCC content of 1 bytes is not whole 52-byte records");
    EXPECT_ERROR_BYTES("$$A40,1,CCC,\x02\x01*00", "meitrack: CCC header truncated");
}

/* The family checks: besides detection, every vector cut at every length
 * and corrupted in its first 400 bytes, and random input (some ending like
 * a frame), decode or fail with a message naming meitrack, mostly fail. */
static const td_test_family family = {
    .proto = &td_proto_meitrack,
    .corrupt = {0x00, ',', '*', '$', 'A', '9', '|', 0xff},
    .ncorrupt = 8,
    .positions = 400,
    .mostly_rejected = true,
    .random =
        {
            .rounds = 3000,
            .max_len = 300,
            .head = {"$$A150," IMEI ",AAA,", "$$B150," IMEI ",CCE,", "$$C150," IMEI ",CCC,"},
            .alphabet = "0123456789,.-*$|ACEV\r\n",
            .tail = "*00",
        },
    .min_rejected = 2500,
};

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_aaa_document_sos),
        cmocka_unit_test(test_aaa_document_heartbeat_and_interval),
        cmocka_unit_test(test_aaa_current_format),
        cmocka_unit_test(test_aaa_event_alarms),
        cmocka_unit_test(test_aaa_empty_fields),
        cmocka_unit_test(test_aaa_checksum_mismatch),
        cmocka_unit_test(test_ccc_records_and_confirmation),
        cmocka_unit_test(test_ccc_other_versions),
        cmocka_unit_test(test_cce_records_and_confirmation),
        cmocka_unit_test(test_cce_two_byte_event_and_short_values),
        cmocka_unit_test(test_command_answers),
        cmocka_unit_test(test_session_identity),
        TD_TEST_FAMILY_CASES(&family),
        cmocka_unit_test(test_detect_h02_binary),
        cmocka_unit_test(test_detect_shapes),
        cmocka_unit_test(test_framer_split_everywhere),
        cmocka_unit_test(test_framer_limits),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
