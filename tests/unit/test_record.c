/*
 * The store's attribute text (td_record_attributes_text) against jansson's
 * dump of the same attributes, on the records no device vector produces:
 * control characters and quotes in raw strings, text that is not UTF-8,
 * raw keys that repeat a canonical name, and numbers at the edges.
 */
#include "support.h"

#include <stdlib.h>
#include <string.h>

#include "core/record_json.h"

static void test_empty_record(void **state)
{
    (void)state;
    td_record r;
    td_record_init(&r, TD_REC_STATUS);
    char *text = td_record_attributes_text(&r);
    assert_string_equal(text, "{}");
    free(text);
    assert_attributes_text(&r);
}

static void test_every_kind_of_value(void **state)
{
    (void)state;
    static td_record r;
    td_record_init(&r, TD_REC_POSITION);
    td_rec_set_int(&r, TD_ATTR_BATTERY_LEVEL, 84);
    td_rec_set_double(&r, TD_ATTR_BODY_TEMPERATURE, 36.55);
    td_rec_set_double(&r, TD_ATTR_BATTERY, 4.0);
    td_rec_set_bool(&r, TD_ATTR_CHARGING, true);
    td_rec_set_bool(&r, TD_ATTR_MOTION, false);
    td_rec_add_cell(&r, 460, 0, 9520, 3671, true, -71);
    td_rec_add_cell(&r, 262, 1, 4294967295LL, 268435455LL, false, 0);
    td_rec_add_wifi(&r, "74DE2B44888C", 12, -97);
    td_rec_add_ble(&r, "a1:b2:c3:d4:e5:f6", 17, -60);
    td_rec_raw_str(&r, "quote", "say \"hi\" \\ / ok", 15);
    td_rec_raw_str(&r, "controls", "a\b\f\n\r\t\x01\x1f\x7f z", 12);
    td_rec_raw_str(&r, "utf8", "\xe4\xb8\xad\xe6\x96\x87 \xf0\x9f\x98\x80", 12);
    td_rec_raw_int(&r, "big", -9223372036854775807LL);
    td_rec_raw_double(&r, "tiny", 0.0000004);
    td_rec_raw_double(&r, "huge", 1e22);
    td_rec_raw_double(&r, "small", -4.5e-7);
    td_rec_raw_double(&r, "large", 1.5e300);
    td_rec_raw_double(&r, "third", 1.0 / 3.0);
    td_rec_raw_double(&r, "negative", -122.4194155);
    td_rec_raw_bool(&r, "flag", true);
    assert_attributes_text(&r);
}

static void test_text_that_is_not_utf8(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "\xff", "\xc0\xaf", "\xe0\x80\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80", "ab\xe4\xb8",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        static td_record r;
        td_record_init(&r, TD_REC_STATUS);
        td_rec_raw_str(&r, "text", bad[i], strlen(bad[i]));
        td_rec_raw_int(&r, bad[i], 1); /* a key that is not UTF-8 is dropped */
        char *text = td_record_attributes_text(&r);
        assert_string_equal(text, "{\"text\":\"(binary)\"}");
        free(text);
        assert_attributes_text(&r);
    }
}

static void test_raw_key_repeating_a_canonical_one(void **state)
{
    (void)state;
    static const char *const keys[] = {"batteryLevel", "cells", "wifi", "ble"};
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        static td_record r;
        td_record_init(&r, TD_REC_STATUS);
        td_rec_set_int(&r, TD_ATTR_BATTERY_LEVEL, 50);
        td_rec_add_cell(&r, 460, 0, 1, 2, false, 0);
        td_rec_add_wifi(&r, "74de2b44888c", 12, -50);
        td_rec_add_ble(&r, "74de2b44888d", 12, -51);
        td_rec_raw_str(&r, keys[i], "raw", 3);
        td_rec_raw_int(&r, "after", 7);
        assert_attributes_text(&r);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty_record),
        cmocka_unit_test(test_every_kind_of_value),
        cmocka_unit_test(test_text_that_is_not_utf8),
        cmocka_unit_test(test_raw_key_repeating_a_canonical_one),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
