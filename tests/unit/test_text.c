/*
 * The small core helpers every decoder and the server lean on: field
 * splitting and strict number parsing (text.h), UTC time building and ISO
 * 8601, degrees-and-minutes and hex conversion, the string-keyed hash map
 * (map.h) under growth and deletion, and configuration from flags and from
 * a file (config.h), including the messages a user sees for bad input.
 */
#include "support.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/config.h"
#include "core/map.h"
#include "core/text.h"

static td_span S(const char *s)
{
    td_span sp = {s, strlen(s)};
    return sp;
}

static void test_split(void **state)
{
    td_span out[8];
    (void)state;

    /* Empty input is one empty field. */
    assert_int_equal(td_split(S(""), ',', out, 8), 1);
    assert_int_equal(out[0].n, 0);

    assert_int_equal(td_split(S("a,bb,ccc"), ',', out, 8), 3);
    assert_true(td_span_eq(out[0], "a"));
    assert_true(td_span_eq(out[1], "bb"));
    assert_true(td_span_eq(out[2], "ccc"));

    /* A trailing separator gives a final empty field. */
    assert_int_equal(td_split(S("a,b,"), ',', out, 8), 3);
    assert_true(td_span_eq(out[1], "b"));
    assert_int_equal(out[2].n, 0);

    /* Only separators. */
    assert_int_equal(td_split(S(",,"), ',', out, 8), 3);
    for (int i = 0; i < 3; i++)
        assert_int_equal(out[i].n, 0);

    /* max: the last span keeps the rest. */
    assert_int_equal(td_split(S("a,b,c,d"), ',', out, 2), 2);
    assert_true(td_span_eq(out[0], "a"));
    assert_true(td_span_eq(out[1], "b,c,d"));
    assert_int_equal(td_split(S("a,b,c,d"), ',', out, 1), 1);
    assert_true(td_span_eq(out[0], "a,b,c,d"));
    assert_int_equal(td_split(S("a,b"), ',', out, 0), 0);

    /* Other separators leave commas alone. */
    assert_int_equal(td_split(S("1|2,3|4"), '|', out, 8), 3);
    assert_true(td_span_eq(out[1], "2,3"));
}

static void test_trim_and_spans(void **state)
{
    char buf[4];
    (void)state;

    td_span t = td_trim(S(" \t12 \r\n"));
    assert_true(td_span_eq(t, "12"));
    assert_int_equal(td_trim(S(" \r\n")).n, 0);
    assert_true(td_span_starts(S("CMD-T"), "CMD-"));
    assert_false(td_span_starts(S("CM"), "CMD-"));
    assert_false(td_span_eq(S("ab"), "abc"));
    assert_string_equal(td_span_cstr(S("abcdef"), buf, sizeof(buf)), "abc");
    /* For messages: non-printable bytes shown as '?', truncated. */
    assert_string_equal(td_span_show(S("a\x01\xff"), buf, sizeof(buf)), "a??");
    assert_string_equal(td_span_show(S("abcdef"), buf, sizeof(buf)), "abc");
    assert_true(td_span_digits(S("0123456789")));
    assert_false(td_span_digits(S("")));
    assert_false(td_span_digits(S("12a")));
    assert_false(td_span_digits(S("-12")));
}

static void test_parse_int(void **state)
{
    int64_t v = 0;
    (void)state;

    assert_true(td_parse_int(S("0"), &v));
    assert_int_equal(v, 0);
    assert_true(td_parse_int(S("-42"), &v));
    assert_int_equal(v, -42);
    assert_true(td_parse_int(S("+7"), &v));
    assert_int_equal(v, 7);
    assert_true(td_parse_int(S("9223372036854775807"), &v));
    assert_true(v == INT64_MAX);
    assert_true(td_parse_int(S("-9223372036854775808"), &v));
    assert_true(v == INT64_MIN);

    v = 99;
    const char *bad[] = {"",
                         "1x",
                         "x1",
                         "+",
                         "-",
                         "1e5",
                         "nan",
                         " 1",
                         "1 ",
                         "1.0",
                         "0x10",
                         "--1",
                         "+-1",
                         "9223372036854775808",
                         "-9223372036854775809",
                         "123456789012345678901234567890123"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (td_parse_int(S(bad[i]), &v))
            fail_msg("td_parse_int accepted '%s'", bad[i]);
    }
    assert_int_equal(v, 99); /* untouched on failure */

    /* A span is not NUL-terminated: only its n bytes count. */
    td_span part = {"12345", 3};
    assert_true(td_parse_int(part, &v));
    assert_int_equal(v, 123);
}

static void test_parse_hex(void **state)
{
    int64_t v = 0;
    (void)state;

    assert_true(td_parse_hex(S("ff"), &v));
    assert_int_equal(v, 255);
    assert_true(td_parse_hex(S("370D"), &v));
    assert_int_equal(v, 0x370d);
    assert_true(td_parse_hex(S("0"), &v));
    assert_int_equal(v, 0);
    assert_true(td_parse_hex(S("fffffffffffffff"), &v)); /* 15 digits: the most */
    assert_true(v == 0xfffffffffffffffLL);

    const char *bad[] = {"", "1g", "0x10", " ff", "ff ", "+", "ffffffffffffffff"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (td_parse_hex(S(bad[i]), &v))
            fail_msg("td_parse_hex accepted '%s'", bad[i]);
    }
}

static void test_parse_double(void **state)
{
    double d = 0;
    (void)state;

    assert_true(td_parse_double(S("1.5"), &d));
    assert_true(d == 1.5);
    assert_true(td_parse_double(S("-0.25"), &d));
    assert_true(d == -0.25);
    assert_true(td_parse_double(S("+3"), &d));
    assert_true(d == 3.0);
    assert_true(td_parse_double(S(".5"), &d));
    assert_true(d == 0.5);
    assert_true(td_parse_double(S("7."), &d));
    assert_true(d == 7.0);
    assert_true(td_parse_double(S("000.1"), &d));
    assert_true(fabs(d - 0.1) < 1e-12);

    d = 42.0;
    const char *bad[] = {"",
                         "1x",
                         "+",
                         "-",
                         ".",
                         "1e5",
                         "1E5",
                         "nan",
                         "NAN",
                         "inf",
                         "-inf",
                         "0x1p3",
                         "1.2.3",
                         " 1",
                         "1 ",
                         "1,5",
                         "123456789012345678901234567890123456789012345678901234567890"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (td_parse_double(S(bad[i]), &d))
            fail_msg("td_parse_double accepted '%s'", bad[i]);
    }
    assert_true(d == 42.0);
}

/* The parsers read numbers without the C library, so they are checked
 * against it: every accepted string must give exactly what strtod/strtoll
 * give for it (bit for bit for doubles, -0.0 included), over numbers as
 * devices write them (coordinates, speeds, voltages with many digits) and
 * the edges of the fast path (2^53, 22 decimals, 19 digits, long zeros). */
static void test_parse_matches_libc(void **state)
{
    static const char *const edge[] = {"9007199254740992",
                                       "9007199254740993",
                                       "0.9007199254740993",
                                       "-0",
                                       "-0.0",
                                       "+0.000",
                                       "0.0000000000000000000001",
                                       "0.00000000000000000000001",
                                       "1234567890123456789",
                                       "12345678901234567890",
                                       "0.1234567890123456789",
                                       "00000000000000000000000000001.5",
                                       "179.99999999999999",
                                       "22.549677",
                                       "114.082258",
                                       "4.35",
                                       "1.",
                                       ".000001",
                                       "999999999999999999999",
                                       "18446744073709551615",
                                       "18446744073709551616",
                                       "9223372036854775807",
                                       "-9223372036854775808",
                                       "9223372036854775808"};
    char buf[64];
    uint64_t seed = 12345;
    int doubles = 0, ints = 0;
    (void)state;

    for (int i = 0; i < 200000 + (int)(sizeof(edge) / sizeof(edge[0])); i++) {
        const char *text = buf;
        if (i < (int)(sizeof(edge) / sizeof(edge[0]))) {
            text = edge[i];
        } else {
            /* sign, up to 20 integer digits, an optional point and up to 25
             * decimals, leading zeros now and then */
            size_t n = 0;
            seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
            uint64_t r = seed >> 11;
            if (r % 3 == 0)
                buf[n++] = r % 2 ? '-' : '+';
            int nint = (int)((r >> 3) % 21), decs = (int)((r >> 8) % 26);
            for (int k = 0; k < nint; k++) {
                seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
                buf[n++] = (char)('0' + (k == 0 && (r >> 14) % 4 == 0 ? 0 : (seed >> 33) % 10));
            }
            if ((r >> 16) % 4)
                buf[n++] = '.';
            for (int k = 0; k < decs; k++) {
                seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
                buf[n++] = (char)('0' + (seed >> 33) % 10);
            }
            buf[n] = '\0';
        }
        double d = 0, want;
        int64_t v = 0;
        char *end;
        if (td_parse_double(S(text), &d)) {
            doubles++;
            want = strtod(text, &end);
            if (*end || memcmp(&d, &want, sizeof(d)) != 0)
                fail_msg("td_parse_double('%s') = %.17g, strtod %.17g", text, d, want);
        }
        if (td_parse_int(S(text), &v)) {
            ints++;
            errno = 0;
            long long w = strtoll(text, &end, 10);
            if (*end || errno || v != w)
                fail_msg("td_parse_int('%s') = %lld, strtoll %lld", text, (long long)v, w);
        } else if (strlen(text) < 32) {
            errno = 0;
            strtoll(text, &end, 10);
            if (end != text && !*end && !errno)
                fail_msg("td_parse_int refused '%s', which strtoll reads", text);
        }
    }
    /* Both paths of each parser ran. */
    assert_true(doubles > 100000 && ints > 10000);
    /* A NUL inside a span ends the number, as in the C string it was read
     * from before. */
    td_span nul = {"12\0x", 4};
    int64_t v;
    double d;
    assert_true(td_parse_int(nul, &v) && v == 12);
    assert_true(td_parse_double(nul, &d) && d == 12.0);
}

static void test_parse_fixed(void **state)
{
    int v;
    (void)state;

    assert_true(td_parse_fixed("0930xx", 4, &v));
    assert_int_equal(v, 930);
    assert_false(td_parse_fixed("09a0", 4, &v));
    assert_false(td_parse_fixed("-1", 2, &v));
    /* As many digits as given, while the value fits an int. */
    assert_true(td_parse_fixed("0000000000002147483647", 22, &v));
    assert_int_equal(v, 2147483647);
    assert_false(td_parse_fixed("2147483648", 10, &v));
    assert_false(td_parse_fixed("19333333333333333333", 20, &v));
}

static void test_utc_ms(void **state)
{
    int64_t ms = -1;
    (void)state;

    assert_true(td_utc_ms(1970, 1, 1, 0, 0, 0, &ms));
    assert_int_equal(ms, 0);
    assert_true(td_utc_ms(2009, 3, 29, 22, 32, 52, &ms));
    assert_int_equal(ms, 1238365972000LL);
    assert_true(td_utc_ms(2024, 2, 29, 12, 34, 56, &ms));
    assert_int_equal(ms, 1709210096000LL);
    assert_true(td_utc_ms(2000, 2, 29, 0, 0, 0, &ms)); /* divisible by 400: leap */
    assert_int_equal(ms, 951782400000LL);

    /* Feb 29 only in leap years; 2100 is not one. */
    assert_false(td_utc_ms(2023, 2, 29, 0, 0, 0, &ms));
    assert_false(td_utc_ms(2100, 2, 29, 0, 0, 0, &ms));
    assert_true(td_utc_ms(2100, 2, 28, 0, 0, 0, &ms));

    /* Day after Feb 28 2023 is Mar 1; after Feb 29 2024 too. */
    int64_t a, b;
    assert_true(td_utc_ms(2023, 2, 28, 0, 0, 0, &a));
    assert_true(td_utc_ms(2023, 3, 1, 0, 0, 0, &b));
    assert_int_equal(b - a, 86400000LL);
    assert_true(td_utc_ms(2024, 2, 28, 0, 0, 0, &a));
    assert_true(td_utc_ms(2024, 3, 1, 0, 0, 0, &b));
    assert_int_equal(b - a, 2 * 86400000LL);

    /* Out-of-range fields. */
    assert_false(td_utc_ms(2024, 13, 1, 0, 0, 0, &ms));
    assert_false(td_utc_ms(2024, 0, 1, 0, 0, 0, &ms));
    assert_false(td_utc_ms(2024, 1, 0, 0, 0, 0, &ms));
    assert_false(td_utc_ms(2024, 4, 31, 0, 0, 0, &ms));
    assert_false(td_utc_ms(2024, 1, 1, 24, 0, 0, &ms));
    assert_false(td_utc_ms(2024, 1, 1, 0, 60, 0, &ms));
    assert_false(td_utc_ms(2024, 1, 1, 0, 0, 61, &ms));
    assert_false(td_utc_ms(1969, 12, 31, 0, 0, 0, &ms));

    /* ddMMyy / HHmmss. */
    assert_true(td_parse_ddmmyy_hhmmss(S("290309"), S("223252"), &ms));
    assert_int_equal(ms, 1238365972000LL);
    assert_false(td_parse_ddmmyy_hhmmss(S("290223"), S("000000"), &ms));
    assert_false(td_parse_ddmmyy_hhmmss(S("29032"), S("223252"), &ms));
    assert_false(td_parse_ddmmyy_hhmmss(S("290309"), S("22325x"), &ms));
}

static void test_utc_fields(void **state)
{
    int y, mo, d, h, mi, s;
    (void)state;

    td_utc_fields(1709210096000LL, &y, &mo, &d, &h, &mi, &s);
    assert_int_equal(y, 2024);
    assert_int_equal(mo, 2);
    assert_int_equal(d, 29);
    assert_int_equal(h, 12);
    assert_int_equal(mi, 34);
    assert_int_equal(s, 56);

    /* Every day from 1999 to 2031 goes through fields and back. */
    for (int64_t ms = 915148800000LL; ms < 1956528000000LL; ms += 86400000LL + 3723000LL) {
        int64_t back;
        td_utc_fields(ms, &y, &mo, &d, &h, &mi, &s);
        assert_true(td_utc_ms(y, mo, d, h, mi, s, &back));
        assert_int_equal(back, ms);
    }
}

static void test_iso8601(void **state)
{
    char buf[32];
    int64_t ms = 0;
    (void)state;

    assert_string_equal(td_iso8601(1238365972000LL, buf, sizeof(buf)), "2009-03-29T22:32:52Z");
    assert_string_equal(td_iso8601(1709210096789LL, buf, sizeof(buf)), "2024-02-29T12:34:56.789Z");
    assert_string_equal(td_iso8601(1709210096007LL, buf, sizeof(buf)), "2024-02-29T12:34:56.007Z");
    assert_string_equal(td_iso8601(0, buf, sizeof(buf)), "1970-01-01T00:00:00Z");
    assert_string_equal(td_iso8601(-1, buf, sizeof(buf)), "1969-12-31T23:59:59.999Z");

    /* Round trip, with and without milliseconds. */
    const int64_t samples[] = {
        0, 1238365972000LL, 1709210096789LL, 1709210096001LL, TD_TEST_NOW_MS, 4102444799999LL};
    for (size_t i = 0; i < sizeof(samples) / sizeof(samples[0]); i++) {
        td_iso8601(samples[i], buf, sizeof(buf));
        assert_true(td_parse_iso8601(buf, &ms));
        assert_int_equal(ms, samples[i]);
    }

    /* Offsets: local time minus the offset is UTC. */
    assert_true(td_parse_iso8601("2024-02-29T14:34:56.789+02:00", &ms));
    assert_int_equal(ms, 1709210096789LL);
    assert_true(td_parse_iso8601("2024-02-29T07:04:56-05:30", &ms));
    assert_int_equal(ms, 1709210096000LL);
    assert_true(td_parse_iso8601("2024-03-01T00:34:56+12:00", &ms));
    assert_int_equal(ms, 1709210096000LL);
    /* Fractions shorter and longer than milliseconds. */
    assert_true(td_parse_iso8601("2024-02-29T12:34:56.7Z", &ms));
    assert_int_equal(ms, 1709210096700LL);
    assert_true(td_parse_iso8601("2024-02-29T12:34:56.123456Z", &ms));
    assert_int_equal(ms, 1709210096123LL);
    /* No zone means UTC; a date alone is midnight; space for 'T'. */
    assert_true(td_parse_iso8601("2024-02-29T12:34:56", &ms));
    assert_int_equal(ms, 1709210096000LL);
    assert_true(td_parse_iso8601("2024-02-29", &ms));
    assert_int_equal(ms, 1709164800000LL);
    assert_true(td_parse_iso8601("2024-02-29 12:34:56Z", &ms));
    assert_int_equal(ms, 1709210096000LL);

    ms = 5;
    const char *bad[] = {"",
                         "2024",
                         "2023-02-29T00:00:00Z",
                         "2024-13-01T00:00:00Z",
                         "2024-02-29T24:00:00Z",
                         "2024-02-29T12:34:56.Z",
                         "2024-02-29T12:34:56+2:00",
                         "2024-02-29T12:34:56+0200",
                         "2024-02-29T12:34:56+15:00",
                         "2024-02-29T12:34:56ZZ",
                         "2024-02-29T12:34",
                         "2024/02/29T12:34:56Z",
                         "2024-02-29T12:34:56Z "};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (td_parse_iso8601(bad[i], &ms))
            fail_msg("td_parse_iso8601 accepted '%s'", bad[i]);
    }
    assert_int_equal(ms, 5);
}

static void test_parse_dm(void **state)
{
    double d = 0;
    (void)state;

    assert_true(td_parse_dm(S("2232.9806"), 2, &d));
    assert_true(fabs(d - 22.5496767) < 1e-6);
    assert_true(td_parse_dm(S("11404.9355"), 3, &d));
    assert_true(fabs(d - 114.0822583) < 1e-6);
    assert_true(td_parse_dm(S("0000.0000"), 2, &d));
    assert_true(d == 0.0);
    assert_true(td_parse_dm(S("8959.9999"), 2, &d));
    assert_true(fabs(d - (89.0 + 59.9999 / 60.0)) < 1e-9);

    d = -1;
    const char *bad[] = {"2260.0000", "2275.1",   "22",        "2",         "",
                         "22-1.5",    "2232.98x", "x232.9806", "22.329806", "2232.9806N"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (td_parse_dm(S(bad[i]), 2, &d))
            fail_msg("td_parse_dm accepted '%s'", bad[i]);
    }
    assert_true(d == -1);
    /* Degrees too long for an int are refused, not overflowed. */
    assert_false(td_parse_dm(S("1933333333333333333335.70640"), 20, &d));
}

static void test_hex(void **state)
{
    uint8_t out[8];
    char text[16];
    (void)state;

    assert_int_equal(td_hex_decode("deadBEEF", 8, out, sizeof(out)), 4);
    assert_memory_equal(out, "\xde\xad\xbe\xef", 4);
    assert_int_equal(td_hex_decode("de ad\tbe ef", 11, out, sizeof(out)), 4);
    assert_memory_equal(out, "\xde\xad\xbe\xef", 4);
    assert_int_equal(td_hex_decode("", 0, out, sizeof(out)), 0);
    assert_int_equal(td_hex_decode("abc", 3, out, sizeof(out)), -1);  /* odd */
    assert_int_equal(td_hex_decode("a bc", 4, out, sizeof(out)), -1); /* odd after spaces */
    assert_int_equal(td_hex_decode("zz", 2, out, sizeof(out)), -1);
    assert_int_equal(td_hex_decode("0x12", 4, out, sizeof(out)), -1);
    assert_int_equal(td_hex_decode("001122", 6, out, 2), -1); /* does not fit */

    assert_int_equal(td_hex_encode((const uint8_t *)"\xde\xad\xbe\xef", 4, text, sizeof(text)), 8);
    assert_string_equal(text, "deadbeef");
    /* Truncation keeps whole bytes and the terminator. */
    assert_int_equal(td_hex_encode((const uint8_t *)"\xde\xad\xbe\xef", 4, text, 5), 4);
    assert_string_equal(text, "dead");
    assert_int_equal(td_hex_encode((const uint8_t *)"\x01", 1, text, 1), 0);
    assert_string_equal(text, "");
    assert_int_equal(td_hex_encode((const uint8_t *)"\x01", 1, text, 0), 0);

    /* Every byte value round-trips. */
    uint8_t all[256], back[256];
    char hex[513];
    for (int i = 0; i < 256; i++)
        all[i] = (uint8_t)i;
    assert_int_equal(td_hex_encode(all, 256, hex, sizeof(hex)), 512);
    assert_int_equal(td_hex_decode(hex, 512, back, sizeof(back)), 256);
    assert_memory_equal(all, back, 256);
}

#define MAP_KEYS 5000

static void test_map(void **state)
{
    td_map m;
    char key[32];
    static int values[MAP_KEYS];
    (void)state;

    td_map_init(&m);
    assert_null(td_map_get(&m, "absent"));
    assert_null(td_map_del(&m, "absent"));

    for (int i = 0; i < MAP_KEYS; i++) {
        values[i] = i;
        snprintf(key, sizeof(key), "device-%d", i);
        assert_int_equal(td_map_put(&m, key, &values[i]), 0);
    }
    assert_int_equal(m.len, MAP_KEYS);
    assert_true(m.cap >= MAP_KEYS * 4 / 3); /* grew and kept the load below 3/4 */
    assert_true((m.cap & (m.cap - 1)) == 0);

    /* Replacing keeps the count. */
    snprintf(key, sizeof(key), "device-%d", 7);
    assert_int_equal(td_map_put(&m, key, &values[8]), 0);
    assert_int_equal(m.len, MAP_KEYS);
    assert_ptr_equal(td_map_get(&m, key), &values[8]);
    assert_int_equal(td_map_put(&m, key, &values[7]), 0);

    /* Delete every third key (and one twice). */
    size_t deleted = 0;
    for (int i = 0; i < MAP_KEYS; i += 3) {
        snprintf(key, sizeof(key), "device-%d", i);
        assert_ptr_equal(td_map_del(&m, key), &values[i]);
        deleted++;
    }
    assert_null(td_map_del(&m, "device-0"));
    assert_int_equal(m.len, MAP_KEYS - deleted);

    /* Every remaining key is still reachable after the backward shifts. */
    size_t found = 0;
    for (int i = 0; i < MAP_KEYS; i++) {
        snprintf(key, sizeof(key), "device-%d", i);
        void *v = td_map_get(&m, key);
        if (i % 3 == 0) {
            assert_null(v);
        } else {
            assert_ptr_equal(v, &values[i]);
            found++;
        }
    }
    assert_int_equal(found, m.len);

    /* Iteration sees exactly the remaining keys. */
    size_t seen = 0;
    for (size_t i = 0; i < m.cap; i++)
        if (m.slots[i].key) {
            int idx = *(int *)m.slots[i].value;
            assert_true(idx % 3 != 0);
            seen++;
        }
    assert_int_equal(seen, m.len);

    /* Re-insert the deleted ones: the map is whole again. */
    for (int i = 0; i < MAP_KEYS; i += 3) {
        snprintf(key, sizeof(key), "device-%d", i);
        assert_int_equal(td_map_put(&m, key, &values[i]), 0);
    }
    assert_int_equal(m.len, MAP_KEYS);
    for (int i = 0; i < MAP_KEYS; i++) {
        snprintf(key, sizeof(key), "device-%d", i);
        assert_ptr_equal(td_map_get(&m, key), &values[i]);
    }

    /* Delete everything. */
    for (int i = MAP_KEYS - 1; i >= 0; i--) {
        snprintf(key, sizeof(key), "device-%d", i);
        assert_ptr_equal(td_map_del(&m, key), &values[i]);
    }
    assert_int_equal(m.len, 0);
    for (size_t i = 0; i < m.cap; i++)
        assert_null(m.slots[i].key);

    td_map_free(&m);
    assert_int_equal(m.cap, 0);
    td_map_free(&m); /* twice is harmless */
}

static int parse(td_config *c, char *err, size_t errcap, int argc, char **argv)
{
    err[0] = '\0';
    return td_config_parse(c, argc, argv, 1, err, errcap);
}

static void test_config_flags(void **state)
{
    td_config c;
    char err[256];
    (void)state;

    td_config_defaults(&c);
    assert_int_equal(c.port, 8888);
    assert_int_equal(c.http_port, 8082);
    assert_string_equal(c.db, "trackd.db");
    assert_true(c.register_unknown);

    char *a1[] = {"serve", "--port", "1", "--http-port=9000", "--db", "/tmp/x.db"};
    assert_int_equal(parse(&c, err, sizeof(err), 6, a1), 0);
    assert_int_equal(c.port, 1);
    assert_int_equal(c.http_port, 9000);
    assert_string_equal(c.db, "/tmp/x.db");

    char *a2[] = {"serve", "--port=70000"};
    assert_int_equal(parse(&c, err, sizeof(err), 2, a2), TD_EINVAL);
    assert_non_null(strstr(err, "--port"));
    assert_non_null(strstr(err, "70000"));
    assert_non_null(strstr(err, "65535"));
    assert_int_equal(c.port, 1); /* unchanged */

    char *a3[] = {"serve", "--port", "12ab"};
    assert_int_equal(parse(&c, err, sizeof(err), 3, a3), TD_EINVAL);
    assert_non_null(strstr(err, "12ab"));

    char *a4[] = {"serve", "--register-unknown=false"};
    assert_int_equal(parse(&c, err, sizeof(err), 2, a4), 0);
    assert_false(c.register_unknown);

    /* A bare boolean flag means true, at the end or before another flag. */
    char *a5[] = {"serve", "--register-unknown"};
    assert_int_equal(parse(&c, err, sizeof(err), 2, a5), 0);
    assert_true(c.register_unknown);
    c.register_unknown = false;
    char *a6[] = {"serve", "--register-unknown", "--port", "2"};
    assert_int_equal(parse(&c, err, sizeof(err), 4, a6), 0);
    assert_true(c.register_unknown);
    assert_int_equal(c.port, 2);
    char *a7[] = {"serve", "--register-unknown", "no"};
    assert_int_equal(parse(&c, err, sizeof(err), 3, a7), 0);
    assert_false(c.register_unknown);
    char *a8[] = {"serve", "--register-unknown=maybe"};
    assert_int_equal(parse(&c, err, sizeof(err), 2, a8), TD_EINVAL);
    assert_non_null(strstr(err, "maybe"));

    char *a9[] = {"serve", "--bogus", "1"};
    assert_int_equal(parse(&c, err, sizeof(err), 3, a9), TD_EINVAL);
    assert_non_null(strstr(err, "unknown option"));
    assert_non_null(strstr(err, "--bogus"));

    char *a10[] = {"serve", "stray"};
    assert_int_equal(parse(&c, err, sizeof(err), 2, a10), TD_EINVAL);
    assert_non_null(strstr(err, "stray"));

    char *a11[] = {"serve", "--port"};
    assert_int_equal(parse(&c, err, sizeof(err), 2, a11), TD_EINVAL);
    assert_non_null(strstr(err, "needs a value"));

    char *a12[] = {"serve", "--log-level", "loud"};
    assert_int_equal(parse(&c, err, sizeof(err), 3, a12), TD_EINVAL);
    assert_non_null(strstr(err, "loud"));

    char *a13[] = {"serve", "--db="};
    assert_int_equal(parse(&c, err, sizeof(err), 2, a13), TD_EINVAL);
    assert_non_null(strstr(err, "--db"));

    char *a14[] = {"serve", "--idle-timeout", "0"}; /* below its minimum of 1 */
    assert_int_equal(parse(&c, err, sizeof(err), 3, a14), TD_EINVAL);
    assert_non_null(strstr(err, "idle-timeout"));

    char *a15[] = {"serve", "--retention-days", "-1"};
    assert_int_equal(parse(&c, err, sizeof(err), 3, a15), TD_EINVAL);
    assert_non_null(strstr(err, "retention-days"));
    char *a16[] = {"serve", "--retention-days=30"};
    assert_int_equal(parse(&c, err, sizeof(err), 2, a16), 0);
    assert_int_equal(c.retention_days, 30);
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fputs(text, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
}

static void test_config_file(void **state)
{
    char path[] = "/tmp/trackd-config-XXXXXX";
    char err[512], want[600];
    td_config c;
    (void)state;

    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);

    write_file(path, "# trackd test configuration\n"
                     "\n"
                     "port = 1234\n"
                     "   http-port=9001   \n"
                     "\t# indented comment\n"
                     "register-unknown = no\n"
                     "db = /var/lib/trackd/t.db\r\n"
                     "retention-days = 90\n"
                     "log-level = debug\n");
    td_config_defaults(&c);
    assert_int_equal(c.retention_days, 0); /* kept forever unless set */
    err[0] = '\0';
    assert_int_equal(td_config_load_file(&c, path, err, sizeof(err)), 0);
    assert_int_equal(c.retention_days, 90);
    assert_int_equal(c.port, 1234);
    assert_int_equal(c.http_port, 9001);
    assert_false(c.register_unknown);
    assert_string_equal(c.db, "/var/lib/trackd/t.db");

    /* An unknown name: file:line and the name. Lines before it applied. */
    write_file(path, "# comment\n"
                     "port = 4321\n"
                     "\n"
                     "bogus = 1\n"
                     "http-port = 1\n");
    td_config_defaults(&c);
    assert_int_equal(td_config_load_file(&c, path, err, sizeof(err)), TD_EINVAL);
    snprintf(want, sizeof(want), "%s:4: unknown option 'bogus'", path);
    assert_string_equal(err, want);
    assert_int_equal(c.port, 4321);
    assert_int_equal(c.http_port, 8082); /* after the bad line: not applied */

    /* A bad value: file:line and the option's own message. */
    write_file(path, "port = 1\nport = 99999\n");
    td_config_defaults(&c);
    assert_int_equal(td_config_load_file(&c, path, err, sizeof(err)), TD_EINVAL);
    snprintf(want, sizeof(want), "%s:2: --port:", path);
    assert_memory_equal(err, want, strlen(want));
    assert_non_null(strstr(err, "99999"));

    /* config inside a config file is refused. */
    write_file(path, "config = /etc/other.conf\n");
    assert_int_equal(td_config_load_file(&c, path, err, sizeof(err)), TD_EINVAL);
    assert_non_null(strstr(err, ":1:"));
    assert_non_null(strstr(err, "nested"));

    /* --config on the command line loads the file; later flags win. */
    write_file(path, "port = 5555\nhttp-port = 5556\n");
    td_config_defaults(&c);
    char *argv[] = {"serve", "--config", path, "--port", "6666"};
    assert_int_equal(parse(&c, err, sizeof(err), 5, argv), 0);
    assert_int_equal(c.port, 6666);
    assert_int_equal(c.http_port, 5556);

    assert_int_equal(unlink(path), 0);
    assert_int_equal(td_config_load_file(&c, path, err, sizeof(err)), TD_EIO);
    assert_non_null(strstr(err, path));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_split),        cmocka_unit_test(test_trim_and_spans),
        cmocka_unit_test(test_parse_int),    cmocka_unit_test(test_parse_hex),
        cmocka_unit_test(test_parse_double), cmocka_unit_test(test_parse_matches_libc),
        cmocka_unit_test(test_parse_fixed),  cmocka_unit_test(test_utc_ms),
        cmocka_unit_test(test_utc_fields),   cmocka_unit_test(test_iso8601),
        cmocka_unit_test(test_parse_dm),     cmocka_unit_test(test_hex),
        cmocka_unit_test(test_map),          cmocka_unit_test(test_config_flags),
        cmocka_unit_test(test_config_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
