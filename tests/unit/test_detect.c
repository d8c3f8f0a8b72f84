/*
 * Protocol detection is unambiguous: on every vector (the seed ones and
 * those of every other registered family) exactly one
 * registered detector says yes, and it is the vector's protocol; on every
 * proper prefix of a frame no other detector says yes (so the order of the
 * registry never decides). td_detect() rejects traffic of no known protocol
 * and asks for more bytes on the short prefixes that could still become one.
 */
#include "support.h"

#include <stdlib.h>
#include <string.h>

static uint8_t frame[70000];

/* The registry name of a vector's protocol ("trv" vectors are "iw"). */
static const td_protocol *vector_protocol(json_t *v)
{
    const td_protocol *p = td_protocol_find(json_string_value(json_object_get(v, "protocol")));
    assert_non_null(p);
    return p;
}

/* Every seed vector, then the vectors of the further families that are
 * registered (each vector gets "seed": true or false). */
static json_t *all_vectors(void)
{
    json_t *all = td_test_vectors(NULL), *family = td_test_family_vectors(NULL), *v;
    size_t i, skipped = 0;
    json_array_foreach(all, i, v) json_object_set_new(v, "seed", json_true());
    json_array_foreach(family, i, v)
    {
        if (!td_protocol_find(json_string_value(json_object_get(v, "protocol")))) {
            skipped++;
            continue;
        }
        json_object_set_new(v, "seed", json_false());
        json_array_append(all, v);
    }
    if (skipped)
        fprintf(stderr, "detect: %zu vectors of families not registered yet\n", skipped);
    json_decref(family);
    return all;
}

static void test_registry(void **state)
{
    (void)state;

#define XX(name) +1
    assert_int_equal(td_protocol_count, 0 TD_PROTOCOL_LIST(XX));
#undef XX
    assert_true(td_protocol_count >= 3);
    for (size_t i = 0; i < td_protocol_count; i++) {
        const td_protocol *p = td_protocols[i];
        assert_non_null(p->name);
        assert_non_null(p->detect);
        assert_non_null(p->frame);
        assert_non_null(p->decode);
        assert_true(p->max_frame >= TD_DETECT_LIMIT);
        assert_true(p->transports & TD_TCP);
        assert_ptr_equal(td_protocol_find(p->name), p);
    }
    assert_ptr_equal(td_protocol_find("trv"), td_protocol_find("iw"));
    assert_ptr_equal(td_protocol_find("3g"), td_protocol_find("watch"));
    assert_ptr_equal(td_protocol_find("gt06"), &td_proto_gt06);
}

static void test_exactly_one_detector_per_vector(void **state)
{
    json_t *vectors = all_vectors();
    json_t *v;
    size_t i, checked = 0, prefixes = 0;
    (void)state;

    assert_true(json_array_size(vectors) >= 93);
    json_array_foreach(vectors, i, v)
    {
        const td_protocol *want = vector_protocol(v);
        size_t n = td_test_vector_frame(v, frame, sizeof(frame) - 1);
        int yes = 0;
        /* A frame that only its cut-off terminator tells apart (a gps103
         * heartbeat id) is judged with its line end, as td_detect_final()
         * does at the end of input. */
        bool ended = false;
        for (size_t k = 0; k < td_protocol_count; k++)
            ended = ended || td_protocols[k]->detect(frame, n) == TD_DETECT_YES;
        frame[n] = '\n';

        for (size_t k = 0; k < td_protocol_count; k++) {
            int d = td_protocols[k]->detect(frame, ended ? n : n + 1);
            assert_true(d == TD_DETECT_NO || d == TD_DETECT_MAYBE || d == TD_DETECT_YES);
            if (d == TD_DETECT_YES) {
                yes++;
                if (td_protocols[k] != want)
                    fail_msg("vector %s#%lld: %s says yes",
                             json_string_value(json_object_get(v, "protocol")),
                             (long long)json_integer_value(json_object_get(v, "index")),
                             td_protocols[k]->name);
            }
        }
        if (yes != 1)
            fail_msg("vector %s#%lld: %d detectors say yes",
                     json_string_value(json_object_get(v, "protocol")),
                     (long long)json_integer_value(json_object_get(v, "index")), yes);

        /* td_detect agrees, over TCP and (where supported) UDP; at the end
         * of input when the terminator decides. */
        bool maybe = true;
        assert_ptr_equal(td_detect_final(frame, n, TD_TCP, &maybe), want);
        assert_false(maybe);
        if (ended)
            assert_ptr_equal(td_detect(frame, n, TD_TCP, &maybe), want);
        if (want->transports & TD_UDP)
            assert_ptr_equal(td_detect_final(frame, n, TD_UDP, &maybe), want);

        /* No other protocol claims a prefix; the right one never says no
         * on a prefix of its own frame. */
        for (size_t len = 1; len < n; len++) {
            for (size_t k = 0; k < td_protocol_count; k++) {
                int d = td_protocols[k]->detect(frame, len);
                if (td_protocols[k] == want) {
                    if (d == TD_DETECT_NO)
                        fail_msg("vector %s#%lld: %s says no to its own %zu-byte prefix",
                                 json_string_value(json_object_get(v, "protocol")),
                                 (long long)json_integer_value(json_object_get(v, "index")),
                                 want->name, len);
                } else if (d == TD_DETECT_YES) {
                    fail_msg("vector %s#%lld: %s says yes to a %zu-byte prefix",
                             json_string_value(json_object_get(v, "protocol")),
                             (long long)json_integer_value(json_object_get(v, "index")),
                             td_protocols[k]->name, len);
                }
            }
            prefixes++;
        }
        checked++;
    }
    fprintf(stderr, "detect: %zu vectors, %zu prefixes checked\n", checked, prefixes);
    assert_int_equal(checked, json_array_size(vectors));
    assert_true(prefixes > 10000);
    json_decref(vectors);
}

static void test_detect_is_decided_early(void **state)
{
    /* Detection must not need the whole frame: the first 32 bytes of every
     * seed vector decide it, and the stream's TD_DETECT_LIMIT those of every
     * other family (some only commit once a checksum is in). */
    json_t *vectors = all_vectors();
    json_t *v;
    size_t i;
    (void)state;

    json_array_foreach(vectors, i, v)
    {
        const td_protocol *want = vector_protocol(v);
        size_t n = td_test_vector_frame(v, frame, sizeof(frame));
        bool maybe;
        size_t limit = json_is_true(json_object_get(v, "seed")) ? 32 : TD_DETECT_LIMIT;
        size_t len = n < limit ? n : limit;
        /* A frame within the limit may need its end to be decided. */
        const td_protocol *got = len == n ? td_detect_final(frame, len, TD_TCP, &maybe)
                                          : td_detect(frame, len, TD_TCP, &maybe);
        if (got != want)
            fail_msg("vector %s#%lld: first %zu bytes detect as %s",
                     json_string_value(json_object_get(v, "protocol")),
                     (long long)json_integer_value(json_object_get(v, "index")), len,
                     got     ? got->name
                     : maybe ? "(maybe)"
                             : "(none)");
    }
    json_decref(vectors);
}

static void expect_none(const char *what, const uint8_t *buf, size_t len)
{
    bool maybe = true;
    const td_protocol *p = td_detect(buf, len, TD_TCP, &maybe);
    if (p || maybe)
        fail_msg("'%s': detected as %s, maybe %d", what, p ? p->name : "(none)", maybe);
    for (size_t k = 0; k < td_protocol_count; k++)
        assert_int_equal(td_protocols[k]->detect(buf, len), TD_DETECT_NO);
}

static void test_garbage_is_rejected(void **state)
{
    static const char *const texts[] = {
        "OPTIONS / HTTP/1.1\r\nHost: x\r\n\r\n", /* GET and POST are osmand's */
        "hello",
        "SSH-2.0-OpenSSH_9.6\r\n",
        "{\"id\": 1}",
        "*HQ,865205030330012,V1,123519,A#",
        "##,imei:,A;",                 /* gps103 log-on without an id */
        "[3G*]",                       /* no device id */
        "[3g*1234*",                   /* lower-case vendor code */
        "IWA000,1#",                   /* no 'P' after the direction letter */
        "IWAp01",                      /* lower-case type */
        "TRVap00",                     /* lower-case direction */
        "123456789012345678901,CMD-T", /* 21 digits: too long for an IMEI */
        "868,XYZ-T",
        ",CMD-T",
    };
    (void)state;

    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++)
        expect_none(texts[i], (const uint8_t *)texts[i], strlen(texts[i]));
    expect_none("\\x00\\x01\\x02", (const uint8_t *)"\x00\x01\x02", 3);
    expect_none("\\x78\\x79", (const uint8_t *)"\x78\x79\x11\x01", 4);
    expect_none("\\x78\\x78, unknown type", (const uint8_t *)"\x78\x78\x02\x5e", 4);

    /* Random bytes (fixed seed): none is claimed. */
    srand(20260102);
    int rejected = 0;
    for (int i = 0; i < 2000; i++) {
        uint8_t buf[64];
        size_t len = 8 + (size_t)(rand() % 56);
        for (size_t k = 0; k < len; k++)
            buf[k] = (uint8_t)(rand() & 0xff);
        bool maybe;
        assert_null(td_detect(buf, len, TD_TCP, &maybe));
        rejected += !maybe;
    }
    /* Almost every random buffer is a definite no, not a "need more". */
    assert_true(rejected >= 1990);
}

static void expect_maybe(const char *prefix)
{
    bool maybe = false;
    const td_protocol *p = td_detect((const uint8_t *)prefix, strlen(prefix), TD_TCP, &maybe);
    if (p || !maybe)
        fail_msg("'%s': detected as %s, maybe %d", prefix, p ? p->name : "(none)", maybe);
}

static void test_short_prefixes_need_more(void **state)
{
    static const char *const prefixes[] = {
        "[",
        "[3",
        "[3G",
        "[3G*",
        "[SG*9059011020",
        "[ZJ*689466020014198",
        "I",
        "IW",
        "IWA",
        "IWAP",
        "IWAP0",
        "T",
        "TR",
        "TRV",
        "TRVA",
        "TRVYP1",
        "8",
        "86",
        "867648044456745",
        "867648044456745,",
        "867648044456745,CM",
        "867648044456745,CMD",
        "867648044456745,AL",
        "#",
        "##8676",
    };
    (void)state;

    for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++)
        expect_maybe(prefixes[i]);

    /* One byte more and they are decided. */
    bool maybe;
    assert_ptr_equal(td_detect((const uint8_t *)"IWAP00", 6, TD_TCP, &maybe),
                     td_protocol_find("iw"));
    assert_ptr_equal(td_detect((const uint8_t *)"TRVAP00", 7, TD_TCP, &maybe),
                     td_protocol_find("iw"));
    assert_ptr_equal(td_detect((const uint8_t *)"[SG*9059011020*", 15, TD_TCP, &maybe),
                     td_protocol_find("watch"));
    assert_ptr_equal(td_detect((const uint8_t *)"867648044456745,CMD-", 20, TD_TCP, &maybe),
                     td_protocol_find("gotop"));
    assert_ptr_equal(td_detect((const uint8_t *)"#867648044456745,ALM-", 21, TD_TCP, &maybe),
                     td_protocol_find("gotop"));

    /* At the end of input the line end decides: a bare IMEI is a gps103
     * heartbeat, an undecided prefix that no line end completes is
     * nothing. */
    assert_null(td_detect((const uint8_t *)"865000000000001", 15, TD_TCP, &maybe));
    assert_true(maybe);
    assert_ptr_equal(td_detect_final((const uint8_t *)"865000000000001", 15, TD_TCP, &maybe),
                     td_protocol_find("gps103"));
    assert_false(maybe);
    assert_ptr_equal(td_detect_final((const uint8_t *)"865000000000001", 15, TD_UDP, &maybe),
                     td_protocol_find("gps103"));
    assert_null(td_detect_final((const uint8_t *)"IWA", 3, TD_TCP, &maybe));
    assert_false(maybe);
    assert_ptr_equal(td_detect_final((const uint8_t *)"IWAP00", 6, TD_TCP, &maybe),
                     td_protocol_find("iw"));

    /* Empty input decides nothing. */
    maybe = false;
    assert_null(td_detect((const uint8_t *)"", 0, TD_TCP, &maybe));
    assert_true(maybe);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_registry),
        cmocka_unit_test(test_exactly_one_detector_per_vector),
        cmocka_unit_test(test_detect_is_decided_early),
        cmocka_unit_test(test_garbage_is_rejected),
        cmocka_unit_test(test_short_prefixes_need_more),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
