/*
 * Unit tests for the osmand protocol: HTTP requests built from the
 * parameter list of traccar.org/osmand and the JSON form of Traccar Client
 * 9 (docs/protocols/osmand.md; made-up ids and values). One test per form
 * (query, form body, JSON object and array, chunked body) and per answer
 * (200, 400, Connection: close), byte for byte; the device vectors of
 * tests/vectors/protocols.jsonl forced and through detection; detection
 * against every other family; framing split at every byte; malformed input.
 */
#include "support.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/text.h"

#define OK_REPLY "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
#define BAD_REPLY "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"
#define HOST "Host: 203.0.113.5:8888\r\n"

TD_TEST_PROTOCOL(osmand)

/* Decodes a request in a fresh session; expects success, n records and
 * the 200 answer. */
static const td_record *ok_n(const char *req, int n)
{
    const td_record *r = decode_n(req, n);
    td_test_assert_reply(&ctx, OK_REPLY);
    return r;
}

/* A GET with the query q. */
static const char *get(const char *q)
{
    static char buf[2048];
    snprintf(buf, sizeof(buf), "GET /?%s HTTP/1.1\r\n" HOST "\r\n", q);
    return buf;
}

/* A POST with the body and its Content-Type. */
static const char *post(const char *type, const char *body)
{
    static char buf[4096];
    snprintf(buf, sizeof(buf),
             "POST / HTTP/1.1\r\n" HOST "Content-Type: %s\r\nContent-Length: %zu\r\n\r\n%s", type,
             strlen(body), body);
    return buf;
}

/* ---- query parameters ---- */

static void test_get_position(void **state)
{
    (void)state;
    const td_record *r =
        ok_n(get("id=123456&lat=52.520008&lon=-13.404954&timestamp=1767323045&speed=10&"
                 "bearing=271.5&altitude=-12.5&accuracy=4.8&hdop=0.9&batt=87.6&charge=true"),
             1);
    assert_string_equal(r->device_id, "123456");
    assert_string_equal(sess.device_id, "123456");
    assert_int_equal(r->type, TD_REC_POSITION);
    assert_true(r->valid);
    td_test_assert_time(r, "2026-01-02T03:04:05Z");
    td_test_assert_near(r->latitude, 52.520008);
    td_test_assert_near(r->longitude, -13.404954);
    td_test_assert_near(r->speed, 18.52); /* knots */
    td_test_assert_near(r->course, 271.5);
    td_test_assert_near(r->altitude, -12.5);
    td_test_assert_near(td_test_raw_double(r, "accuracy"), 4.8);
    td_test_assert_near(r->attr[TD_ATTR_HDOP].d, 0.9);
    assert_int_equal(r->attr[TD_ATTR_BATTERY_LEVEL].i, 88);
    assert_true(r->attr[TD_ATTR_CHARGING].b);
    assert_record_sane(r);
}

static void test_timestamps(void **state)
{
    (void)state;
    static const struct {
        const char *value, *iso;
    } forms[] = {
        {"1767323045", "2026-01-02T03:04:05Z"},
        {"1767323045.25", "2026-01-02T03:04:05.250Z"},
        {"1767323045123", "2026-01-02T03:04:05.123Z"},
        {"2026-01-02T03%3A04%3A05Z", "2026-01-02T03:04:05Z"},
        {"2026-01-02T05:04:05%2B02:00", "2026-01-02T03:04:05Z"},
        {"2026-01-02T03:04:05.5Z", "2026-01-02T03:04:05.500Z"},
        {"2026-01-02+03%3A04%3A05", "2026-01-02T03:04:05Z"},
        {"2026-01-02%2003:04:05", "2026-01-02T03:04:05Z"},
    };
    char q[128];
    for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
        snprintf(q, sizeof(q), "id=1&lat=1&lon=2&timestamp=%s", forms[i].value);
        td_test_assert_time(ok_n(get(q), 1), forms[i].iso);
    }
    /* No timestamp: the server's time, marked as such. */
    const td_record *r = ok_n(get("id=1&lat=1&lon=2"), 1);
    assert_false(r->has_time);
    assert_int_equal(r->time_ms, TD_TEST_NOW_MS);
}

static void test_location_deviceid_valid(void **state)
{
    (void)state;
    const td_record *r = ok_n(get("deviceid=phone-7_A&location=-33.8688%2C151.2093&valid=false&"
                                  "heading=90"),
                              1);
    assert_string_equal(r->device_id, "phone-7_A");
    td_test_assert_near(r->latitude, -33.8688);
    td_test_assert_near(r->longitude, 151.2093);
    assert_false(r->valid);
    td_test_assert_near(r->course, 90);
    /* valid=1 and a path other than "/". */
    r = ok_n("GET /track?id=9&lat=1&lon=1&valid=1 HTTP/1.0\r\n\r\n", 1);
    assert_true(r->valid);
}

static void test_cells_and_wifi_without_fix(void **state)
{
    (void)state;
    const td_record *r = ok_n(get("id=77&timestamp=1767323045&cell=260,3,4352,8181&"
                                  "cell=260%2C3%2C4352%2C8182%2C-79&wifi=a4-56-02-ab-cd-ef,-61&"
                                  "wifi=A4:56:02:AB:CD:F0,-70"),
                              1);
    assert_int_equal(r->type, TD_REC_STATUS);
    assert_int_equal(r->ncells, 2);
    td_test_assert_cell(r, 0, 260, 3, 4352, 8181);
    td_test_assert_cell(r, 1, 260, 3, 4352, 8182);
    assert_false(r->cells[0].has_rssi);
    assert_true(r->cells[1].has_rssi);
    assert_int_equal(r->cells[1].rssi, -79);
    assert_int_equal(r->nwifi, 2);
    assert_string_equal(r->wifi[0].mac, "a4:56:02:ab:cd:ef");
    assert_int_equal(r->wifi[0].rssi, -61);
    assert_string_equal(r->wifi[1].mac, "a4:56:02:ab:cd:f0");
    assert_record_sane(r);
}

/* alarm names of the contract become alarms; booleans of the contract
 * become attributes; the rest is kept under its own name. */
static void test_alarms_and_raw_parameters(void **state)
{
    (void)state;
    const td_record *r = ok_n(get("id=5&lat=1&lon=2&alarm=sos&ignition=true&motion=0&rpm=933&"
                                  "fuel=24.5&door=false&driverUniqueId=D%C3%BCrr&b%40d=1&"
                                  "waytoolongname_waytoolongname_xyz=1"),
                              1);
    assert_int_equal(r->alarms, TD_ALARM_BIT(TD_ALARM_SOS));
    assert_true(r->attr[TD_ATTR_IGNITION].b);
    assert_true(td_rec_has(r, TD_ATTR_MOTION));
    assert_false(r->attr[TD_ATTR_MOTION].b);
    assert_int_equal(td_test_raw_int(r, "rpm"), 933);
    td_test_assert_near(td_test_raw_double(r, "fuel"), 24.5);
    assert_false(td_test_raw_bool(r, "door"));
    assert_string_equal(td_test_raw_str(r, "driverUniqueId"), "D\xc3\xbcrr");
    assert_null(td_rec_raw_find(r, "b@d"));
    assert_null(td_rec_raw_find(r, "waytoolongname_waytoolongname_xyz"));
    r = ok_n(get("id=5&alarm=lowBattery&alarm=tow"), 1);
    assert_int_equal(r->alarms, TD_ALARM_BIT(TD_ALARM_LOW_BATTERY));
    assert_string_equal(td_test_raw_str(r, "alarm"), "tow");
}

/* ---- POST forms ---- */

static void test_post_query_and_form(void **state)
{
    (void)state;
    /* Traccar Client for Android: the parameters in the query, no body. */
    const td_record *r =
        ok_n("POST /?id=8&lat=10.5&lon=20.25&timestamp=1767323045&speed=0 HTTP/1.1\r\n" HOST
             "Content-Length: 0\r\n\r\n",
             1);
    td_test_assert_near(r->latitude, 10.5);
    td_test_assert_time(r, "2026-01-02T03:04:05Z");
    /* A form body. */
    r = ok_n(post("application/x-www-form-urlencoded",
                  "id=8&lat=10.5&lon=20.25&timestamp=1767323045&batt=40"),
             1);
    assert_string_equal(r->device_id, "8");
    td_test_assert_near(r->longitude, 20.25);
    assert_int_equal(r->attr[TD_ATTR_BATTERY_LEVEL].i, 40);
}

/* ---- JSON ---- */

#define LOCATION(ts, lat, lon, extra)                                                              \
    "{\"timestamp\":\"" ts "\",\"coords\":{\"latitude\":" lat ",\"longitude\":" lon                \
    ",\"accuracy\":12.5,\"speed\":10,\"heading\":182.5,\"altitude\":35.2}" extra "}"

static void test_post_json(void **state)
{
    (void)state;
    const td_record *r =
        ok_n(post("application/json",
                  "{\"location\":" LOCATION(
                      "2026-01-02T03:04:05.250Z", "48.858244", "2.294521",
                      ",\"is_moving\":true,\"odometer\":12345.6,\"event\":\"motionchange\","
                      "\"battery\":{\"level\":0.55,\"is_charging\":true},"
                      "\"activity\":{\"type\":\"in_vehicle\",\"confidence\":100},"
                      "\"extras\":{\"a\":[1,{\"b\":null}]},\"mock\":false") ","
                                                                            "\"device_id\":"
                                                                            "\"48241179\"}"),
             1);
    assert_string_equal(r->device_id, "48241179");
    assert_int_equal(r->type, TD_REC_POSITION);
    assert_true(r->valid);
    td_test_assert_time(r, "2026-01-02T03:04:05.250Z");
    td_test_assert_near(r->latitude, 48.858244);
    td_test_assert_near(r->longitude, 2.294521);
    td_test_assert_near(r->speed, 36); /* m/s */
    td_test_assert_near(r->course, 182.5);
    td_test_assert_near(r->altitude, 35.2);
    td_test_assert_near(td_test_raw_double(r, "accuracy"), 12.5);
    assert_true(r->attr[TD_ATTR_MOTION].b);
    td_test_assert_near(r->attr[TD_ATTR_ODOMETER].d, 12345.6);
    assert_int_equal(r->attr[TD_ATTR_BATTERY_LEVEL].i, 55);
    assert_true(r->attr[TD_ATTR_CHARGING].b);
    assert_string_equal(td_test_raw_str(r, "event"), "motionchange");
    assert_string_equal(td_test_raw_str(r, "activity"), "in_vehicle");
    assert_null(td_rec_raw_find(r, "mock"));
    assert_record_sane(r);
}

/* A batch: "location" as an array; unknown speed and heading (-1) and an
 * unknown battery level (-1) are left out; a numeric device id. */
static void test_post_json_batch(void **state)
{
    (void)state;
    ok_n(post("application/json; charset=utf-8",
              "{\"device_id\":4711,\"location\":["
              "{\"timestamp\":\"2026-01-02T03:04:05Z\",\"coords\":{\"latitude\":1.5,"
              "\"longitude\":2.5,\"speed\":-1,\"heading\":-1},\"battery\":{\"level\":-1}},"
              "{\"timestamp\":1767323105,\"coords\":{\"latitude\":1.6,\"longitude\":2.6}}]}"),
         2);
    const td_record *r = &ctx.rec[0];
    assert_string_equal(r->device_id, "4711");
    td_test_assert_near(r->speed, 0);
    td_test_assert_near(r->course, 0);
    assert_false(td_rec_has(r, TD_ATTR_BATTERY_LEVEL));
    td_test_assert_time(&ctx.rec[1], "2026-01-02T03:05:05Z");
    td_test_assert_near(ctx.rec[1].latitude, 1.6);
}

/* Bodies past what the decoder indexes while reading them (32 objects, 32
 * members each): a batch of 20 locations with 4 objects each, the last with
 * 40 members before its coords. Every value is still found, in order. */
static void test_post_json_large_batch(void **state)
{
    static char body[12000];
    size_t n = 0;
    (void)state;

    n += (size_t)snprintf(body + n, sizeof(body) - n, "{\"device_id\":\"big\",\"location\":[");
    for (int i = 0; i < 20; i++) {
        n += (size_t)snprintf(body + n, sizeof(body) - n, "%s{", i ? "," : "");
        for (int k = 0; i == 19 && k < 40; k++)
            n += (size_t)snprintf(body + n, sizeof(body) - n, "\"x%d\":%d,", k, k);
        n += (size_t)snprintf(body + n, sizeof(body) - n,
                              "\"timestamp\":%d,\"coords\":{\"latitude\":%d.25,"
                              "\"longitude\":-%d.5},\"battery\":{\"level\":0.%02d},"
                              "\"activity\":{\"type\":\"t%d\"},\"extras\":{\"e\":{}}}",
                              1767323045 + i, i, i, 10 + i, i);
    }
    snprintf(body + n, sizeof(body) - n, "]}");
    static char req[12500];
    snprintf(req, sizeof(req),
             "POST / HTTP/1.1\r\n" HOST "Content-Type: application/json\r\nContent-Length: %zu"
             "\r\n\r\n%s",
             strlen(body), body);
    ok_n(req, 20);
    for (int i = 0; i < 20; i++) {
        const td_record *r = &ctx.rec[i];
        char want[16];
        assert_int_equal(r->type, TD_REC_POSITION);
        assert_true(r->time_ms == (1767323045LL + i) * 1000);
        td_test_assert_near(r->latitude, i + 0.25);
        td_test_assert_near(r->longitude, -(i + 0.5));
        assert_int_equal(r->attr[TD_ATTR_BATTERY_LEVEL].i, 10 + i);
        snprintf(want, sizeof(want), "t%d", i);
        assert_string_equal(td_test_raw_str(r, "activity"), want);
    }
}

static void test_post_json_without_coords(void **state)
{
    (void)state;
    const td_record *r =
        ok_n(post("application/json", "{\"device_id\":\"x1\",\"location\":{\"timestamp\":"
                                      "\"2026-01-02T03:04:05Z\",\"battery\":{\"level\":0.2}}}"),
             1);
    assert_int_equal(r->type, TD_REC_STATUS);
    assert_int_equal(r->attr[TD_ATTR_BATTERY_LEVEL].i, 20);
}

/* A chunked body, as HTTP/1.1 clients may send one. */
static void test_chunked_body(void **state)
{
    (void)state;
    const td_record *r = ok_n("POST / HTTP/1.1\r\n" HOST "Content-Type: application/json\r\n"
                              "Transfer-Encoding: chunked\r\n\r\n"
                              "18\r\n{\"device_id\":\"c1\",\"locat\r\n"
                              "2D;ext=1\r\nion\":{\"coords\":{\"latitude\":3,\"longitude\":4}}}\r\n"
                              "0\r\nX-Trailer: y\r\n\r\n",
                              1);
    assert_string_equal(r->device_id, "c1");
    td_test_assert_near(r->longitude, 4);
}

/* ---- answers ---- */

static void test_answers(void **state)
{
    (void)state;
    /* No device named: 400, nothing recorded. */
    memset(&sess, 0, sizeof(sess));
    assert_int_equal(td_test_decode(P, &sess, get("lat=1&lon=2"), &ctx), 0);
    assert_int_equal(ctx.nrec, 0);
    assert_string_equal(td_test_reply(&ctx), BAD_REPLY);
    assert_int_equal(td_test_decode(P, &sess, "GET / HTTP/1.1\r\n\r\n", &ctx), 0);
    assert_string_equal(td_test_reply(&ctx), BAD_REPLY);
    /* On a kept-alive connection whose device is known, a request without
     * the id is that device's. */
    assert_int_equal(td_test_decode(P, &sess, get("id=42&lat=1&lon=2"), &ctx), 0);
    assert_int_equal(td_test_decode(P, &sess, get("lat=3&lon=4"), &ctx), 0);
    assert_int_equal(ctx.nrec, 1);
    assert_string_equal(ctx.rec[0].device_id, "42");
    assert_string_equal(td_test_reply(&ctx), OK_REPLY);
    /* Connection: close is echoed (the client then closes). */
    assert_int_equal(td_test_decode(P, &sess,
                                    "GET /?id=42&lat=1&lon=2 HTTP/1.1\r\nConnection: Close\r\n\r\n",
                                    &ctx),
                     0);
    assert_string_equal(td_test_reply(&ctx),
                        "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
}

/* ---- detection and framing ---- */

static void test_detect_shapes(void **state)
{
    (void)state;
    static const char *const maybe[] = {"",  "G",  "GE",  "GET",  "GET ",
                                        "P", "PO", "POS", "POST", "POST "};
    static const char *const no[] = {"GET x",  "get /",   "GETS /",    "PUT /",   "HEAD /",
                                     "POST*/", "OPTIONS", "\r\nGET /", "DELETE /"};
    static const char *const yes[] = {"GET /", "POST /"};
    td_test_detect_each(P, maybe, TD_TEST_COUNT(maybe), TD_DETECT_MAYBE);
    td_test_detect_each(P, no, TD_TEST_COUNT(no), TD_DETECT_NO);
    td_test_detect_each(P, yes, TD_TEST_COUNT(yes), TD_DETECT_YES);
    bool maybe_more;
    assert_ptr_equal(td_detect((const uint8_t *)"GET /?id=1", 10, TD_TCP, &maybe_more), P);
    /* HTTP only over TCP. */
    assert_null(td_detect((const uint8_t *)"GET /?id=1", 10, TD_UDP, &maybe_more));
}

/* A GET, a POST with Content-Length and a chunked POST back to back (with
 * a line end between two), split in two at every byte: the same requests
 * come out, each as soon as its last byte is in. */
static void test_framer_split_everywhere(void **state)
{
    (void)state;
    static td_test_stream s;
    static const char *const want[3] = {
        "GET /?id=1&lat=1&lon=2 HTTP/1.1\r\n" HOST "\r\n",
        "POST / HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 68\r\n\r\n"
        "{\"device_id\":\"1\",\"location\":{\"coords\":{\"latitude\":1,\"longitude\":2}}}",
        "POST /?id=1 HTTP/1.1\r\ntransfer-encoding: CHUNKED\r\n\r\n5\r\nlat=1\r\n"
        "6\r\n&lon=2\r\n0\r\n\r\n",
    };
    td_test_stream_reset(&s);
    td_test_stream_texts(&s, want, 2);
    td_test_stream_noise(&s, "\r\n", 2);
    td_test_stream_text(&s, want[2]);
    td_test_split_everywhere(P, &s, s.n);
    /* Each decodes, for the same device. */
    memset(&sess, 0, sizeof(sess));
    for (int i = 0; i < 3; i++) {
        assert_int_equal(td_test_decode(P, &sess, want[i], &ctx), 0);
        assert_int_equal(ctx.nrec, 1);
        td_test_assert_near(ctx.rec[0].longitude, 2);
    }
}

static void test_framer_limits(void **state)
{
    (void)state;
    size_t skip;

    /* Headers that never end. */
    td_test_frame_too_big(P, "GET / HTTP/1.1\r\nX: ", 'a', 20000);
    /* A body past the limit. */
    const char *huge = "POST / HTTP/1.1\r\nContent-Length: 99999\r\n\r\n";
    assert_int_equal(P->frame((const uint8_t *)huge, strlen(huge), &skip), TD_ETOOBIG);
    /* A body still arriving. */
    const char *part = "POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\nid=1";
    assert_int_equal(P->frame((const uint8_t *)part, strlen(part), &skip), 0);
    /* Something that is not a request after one. */
    assert_int_equal(P->frame((const uint8_t *)"\r\nSSH-2.0", 9, &skip), TD_EUNFRAMEABLE);
    assert_int_equal(skip, 2);
    /* A bad chunk size. */
    const char *bad = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n";
    assert_int_equal(P->frame((const uint8_t *)bad, strlen(bad), &skip), TD_EUNFRAMEABLE);
    /* A bad Content-Length. */
    const char *cl = "POST / HTTP/1.1\r\nContent-Length: ten\r\n\r\n";
    assert_int_equal(P->frame((const uint8_t *)cl, strlen(cl), &skip), TD_EUNFRAMEABLE);
}

/* ---- malformed input ---- */

static void expect_error(const char *req, const char *msg)
{
    td_test_expect_error(P, &ctx, req, msg);
}

static void test_errors(void **state)
{
    (void)state;
    expect_error("", "osmand: empty frame");
    expect_error("PUT / HTTP/1.1\r\n\r\n", "osmand: not a GET or POST request");
    expect_error("GET /?id=1 HTTP/2\r\n\r\n", "osmand: bad request line 'GET /?id=1 HTTP/2'");
    expect_error("GET /?id=1\r\n\r\n", "osmand: bad request line 'GET /?id=1'");
    expect_error(get("id=1&lat=91&lon=2"), "osmand: bad latitude '91'");
    expect_error(get("id=1&lat=1&lon=east"), "osmand: bad longitude 'east'");
    expect_error(get("id=1&location=1"), "osmand: bad location '1'");
    expect_error(get("id=1&lat=1&lon=2&timestamp=yesterday"), "osmand: bad timestamp 'yesterday'");
    expect_error(get("id=1&lat=1&lon=2&timestamp=1999-12-31T23:59:59Z"),
                 "osmand: bad timestamp '1999-12-31T23:59:59Z'");
    /* Too big for milliseconds in an int64_t: refused before converting. */
    expect_error(get("id=1&lat=1&lon=2&timestamp=137710000000000000000000000000077267"),
                 "osmand: bad timestamp '137710000000000000000000000000077267'");
    expect_error(get("id=1&lat=1&lon=2&speed=fast"), "osmand: bad speed 'fast'");
    expect_error(get("id=1&lat=1&lon=2&batt=120"), "osmand: bad battery level '120'");
    expect_error(get("id=1&lat=1&lon=2&valid=maybe"), "osmand: bad valid 'maybe'");
    expect_error(get("id=1&cell=1,2"), "osmand: bad cell '1,2'");
    expect_error(get("id=1&wifi=zz,-50"), "osmand: bad wifi 'zz,-50'");
    expect_error(get("id=1&lat=%4"), "osmand: bad value of parameter 'lat'");
    expect_error(get("id=1&l%zzt=1"), "osmand: bad parameter name 'l%zzt'");
    expect_error(get("id=a%20b"), "osmand: bad device id 'a b'");
    expect_error(post("application/json", "{\"device_id\":\"1\",\"location\":"),
                 "osmand: body is not a JSON object");
    expect_error(post("application/json", "[1,2]"), "osmand: body is not a JSON object");
    expect_error(post("application/json", "{\"device_id\":\"1\"}"),
                 "osmand: JSON body without a location");
    expect_error(post("application/json",
                      "{\"device_id\":\"1\",\"location\":{\"coords\":{\"latitude\":95,"
                      "\"longitude\":1}}}"),
                 "osmand: coordinates 95.000000,1.000000 out of range");
    expect_error(post("application/json", "{\"device_id\":\"1\",\"location\":[1]}"),
                 "osmand: a location that is not an object");
    expect_error("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",
                 "osmand: bad chunked body");
}

/* The family checks: besides detection, every vector cut at every length
 * and corrupted at every byte, and random input, decode or fail with a
 * message naming osmand (what they accept is sane). */
static const td_test_family family = {
    .proto = &td_proto_osmand,
    .corrupt = {0x00, '&', '=', '%', '{', '"', ' ', '\n', 0xff},
    .ncorrupt = 9,
    .random =
        {
            .rounds = 3000,
            .max_len = 400,
            .head = {"GET /?",
                     "POST / HTTP/1.1\r\nContent-Type: application/json\r\n\r\n{\"location\":",
                     "GET /?id=1&lat="},
            .alphabet = "0123456789=&%{}[]\":,.-+abcdefilnotu \r\n",
            .refusable = true,
        },
    .min_rejected = 1500,
};

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_get_position),
        cmocka_unit_test(test_timestamps),
        cmocka_unit_test(test_location_deviceid_valid),
        cmocka_unit_test(test_cells_and_wifi_without_fix),
        cmocka_unit_test(test_alarms_and_raw_parameters),
        cmocka_unit_test(test_post_query_and_form),
        cmocka_unit_test(test_post_json),
        cmocka_unit_test(test_post_json_batch),
        cmocka_unit_test(test_post_json_large_batch),
        cmocka_unit_test(test_post_json_without_coords),
        cmocka_unit_test(test_chunked_body),
        cmocka_unit_test(test_answers),
        TD_TEST_FAMILY_CASES(&family),
        cmocka_unit_test(test_detect_shapes),
        cmocka_unit_test(test_framer_split_everywhere),
        cmocka_unit_test(test_framer_limits),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
