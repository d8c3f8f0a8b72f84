/*
 * Command parameters as the API checks them (src/core/command.c): every
 * kind, ranges, optional values and defaults, unknown and missing
 * parameters, and the type list the API reports.
 */
#include "support.h"

#include <string.h>

#include "core/command.h"
#include "trackd/error.h"

static const td_cmd_type sos = {
    "sosNumber",
    "SOS number",
    {{"index", TD_PARAM_INT, false, 1, 3, 0, "Slot"},
     {"phone", TD_PARAM_PHONE, false, 0, 0, 0, "Phone number"}},
};
static const td_cmd_type misc = {
    "misc",
    "Misc",
    {{"enable", TD_PARAM_BOOL, false, 0, 0, 0, "On"},
     {"text", TD_PARAM_TEXT, true, 1, 5, 0, "Text"},
     {"hex", TD_PARAM_HEX, true, 1, 4, 0, "Bytes"},
     {"level", TD_PARAM_INT, true, 1, 99, 20, "Level"}},
};
static const td_cmd_type voice = {
    "voiceMessage", "Voice", {{"voiceId", TD_PARAM_DATA, false, 0, 0, 0, "Voice message"}}};

/* The JSON of each check stays alive until release(): arguments point into it. */
static json_t *kept[64];
static int nkept;

static void release(void)
{
    while (nkept > 0)
        json_decref(kept[--nkept]);
}

/* Validates JSON text against t; returns the result, the message in err. */
static int check(const td_cmd_type *t, const char *json, td_command *cmd, char *err)
{
    static uint8_t scratch[TD_CMD_SCRATCH];
    json_t *j = json ? json_loads(json, 0, NULL) : NULL;
    if (json)
        assert_non_null(j);
    assert_true(nkept < 64);
    kept[nkept++] = j;
    err[0] = '\0';
    return td_cmd_validate(t, j, cmd, scratch, sizeof(scratch), err, 256);
}

static void test_phone_and_range(void **state)
{
    (void)state;
    td_command c;
    char err[256];
    assert_int_equal(check(&sos, "{\"index\":2,\"phone\":\"+15551234567\"}", &c, err), 0);
    assert_ptr_equal(c.def, &sos);
    assert_true(c.arg[0].set && c.arg[0].num == 2);
    assert_true(c.arg[1].set && c.arg[1].len == 12 && !memcmp(c.arg[1].str, "+15551234567", 12));
    /* a string of digits is an integer too (HTML forms send strings) */
    assert_int_equal(check(&sos, "{\"index\":\"3\",\"phone\":\"123\"}", &c, err), 0);
    assert_int_equal(c.arg[0].num, 3);

    assert_int_equal(check(&sos, "{\"index\":1,\"phone\":\"12ab\"}", &c, err), TD_EINVAL);
    assert_non_null(strstr(err, "bad phone number '12ab'"));
    assert_int_equal(check(&sos, "{\"index\":1,\"phone\":\"1+2\"}", &c, err), TD_EINVAL);
    assert_int_equal(check(&sos, "{\"index\":1,\"phone\":\"12\"}", &c, err), TD_EINVAL);
    assert_int_equal(check(&sos, "{\"index\":1,\"phone\":\"123456789012345678901\"}", &c, err),
                     TD_EINVAL);
    assert_int_equal(check(&sos, "{\"index\":1,\"phone\":15551234}", &c, err), TD_EINVAL);
    assert_int_equal(check(&sos, "{\"index\":4,\"phone\":\"123456\"}", &c, err), TD_EINVAL);
    assert_string_equal(err, "parameter 'index' of sosNumber out of range: 4 (allowed 1 to 3)");
    assert_int_equal(check(&sos, "{\"index\":1.5,\"phone\":\"123456\"}", &c, err), TD_EINVAL);
    assert_non_null(strstr(err, "must be an integer"));
    assert_int_equal(check(&sos, "{\"phone\":\"123456\"}", &c, err), TD_EINVAL);
    assert_string_equal(err, "missing parameter 'index' (Slot) for sosNumber");
    assert_int_equal(check(&sos, "{\"index\":1,\"phone\":\"123\",\"slot\":1}", &c, err), TD_EINVAL);
    assert_string_equal(err, "unknown parameter 'slot' for sosNumber (expected: index, phone)");
    assert_int_equal(check(&sos, "[1]", &c, err), TD_EINVAL);
    assert_non_null(strstr(err, "must be an object"));
    release();
}

static void test_kinds_and_defaults(void **state)
{
    (void)state;
    td_command c;
    char err[256];
    assert_int_equal(check(&misc, "{\"enable\":true}", &c, err), 0);
    assert_true(c.arg[0].set && c.arg[0].num == 1);
    assert_false(c.arg[1].set);
    assert_false(c.arg[2].set);
    assert_false(c.arg[3].set);
    assert_int_equal(c.arg[3].num, 20); /* the default */
    assert_int_equal(check(&misc, "{\"enable\":0,\"level\":5}", &c, err), 0);
    assert_true(c.arg[0].num == 0 && c.arg[3].set && c.arg[3].num == 5);
    assert_int_equal(check(&misc, "{\"enable\":\"yes\"}", &c, err), TD_EINVAL);
    assert_non_null(strstr(err, "true or false"));

    /* text: counted in characters, no control characters */
    assert_int_equal(check(&misc, "{\"enable\":true,\"text\":\"h\\u00e9llo\"}", &c, err), 0);
    assert_int_equal(c.arg[1].len, 6); /* bytes */
    assert_int_equal(
        check(&misc, "{\"enable\":true,\"text\":\"\\u4f60\\u597d\\u4f60\\u597d!\"}", &c, err), 0);
    assert_int_equal(check(&misc, "{\"enable\":true,\"text\":\"toolong\"}", &c, err), TD_EINVAL);
    assert_non_null(strstr(err, "1 to 5 characters (got 7)"));
    assert_int_equal(check(&misc, "{\"enable\":true,\"text\":\"a\\nb\"}", &c, err), TD_EINVAL);
    assert_non_null(strstr(err, "control character"));
    assert_int_equal(check(&misc, "{\"enable\":true,\"text\":\"\"}", &c, err), 0);
    assert_false(c.arg[1].set); /* optional and empty */

    /* hex: decoded to bytes, separators allowed */
    assert_int_equal(check(&misc, "{\"enable\":true,\"hex\":\"de AD:0f\"}", &c, err), 0);
    assert_int_equal(c.arg[2].len, 3);
    assert_memory_equal(c.arg[2].str, "\xde\xad\x0f", 3);
    assert_int_equal(check(&misc, "{\"enable\":true,\"hex\":\"abc\"}", &c, err), TD_EINVAL);
    assert_non_null(strstr(err, "odd number"));
    assert_int_equal(check(&misc, "{\"enable\":true,\"hex\":\"zz\"}", &c, err), TD_EINVAL);
    assert_int_equal(check(&misc, "{\"enable\":true,\"hex\":\"0102030405\"}", &c, err), TD_EINVAL);
    assert_non_null(strstr(err, "1 to 4 bytes (got 5)"));

    /* voice: an id left for the caller to load */
    assert_int_equal(check(&voice, "{\"voiceId\":7}", &c, err), 0);
    assert_true(c.arg[0].set && c.arg[0].num == 7 && c.arg[0].str == NULL);
    assert_int_equal(check(&voice, "{\"voiceId\":0}", &c, err), TD_EINVAL);
    assert_int_equal(check(&voice, NULL, &c, err), TD_EINVAL);
    assert_non_null(strstr(err, "missing parameter 'voiceId'"));
    release();
}

static void test_types_json(void **state)
{
    (void)state;
    for (size_t i = 0; i < td_protocol_count; i++) {
        const td_protocol *p = td_protocols[i];
        json_t *types = td_cmd_types_json(p);
        assert_true(json_is_array(types));
        size_t n = 0;
        for (const td_cmd_type *t = p->commands; t && t->type; t++, n++) {
            json_t *o = json_array_get(types, n);
            assert_string_equal(json_string_value(json_object_get(o, "type")), t->type);
            assert_non_null(json_string_value(json_object_get(o, "label")));
            json_t *params = json_object_get(o, "parameters");
            for (int k = 0; k < TD_CMD_PARAMS_MAX && t->params[k].name; k++) {
                json_t *pj = json_array_get(params, (size_t)k);
                assert_string_equal(json_string_value(json_object_get(pj, "name")),
                                    t->params[k].name);
                assert_string_equal(json_string_value(json_object_get(pj, "kind")),
                                    td_param_kind_name(t->params[k].kind));
            }
            /* every declared type can be found by name and has an encoder */
            assert_ptr_equal(td_cmd_type_find(p, t->type), t);
            assert_non_null(p->encode);
        }
        assert_int_equal(json_array_size(types), n);
        json_decref(types);
    }
    json_t *none = td_cmd_types_json(NULL);
    assert_int_equal(json_array_size(none), 0);
    json_decref(none);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_phone_and_range),
        cmocka_unit_test(test_kinds_and_defaults),
        cmocka_unit_test(test_types_json),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
