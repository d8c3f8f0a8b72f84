/*
 * The HTTP side's pure parts: the route table and the OpenAPI document
 * agree operation for operation (so the document cannot drift from the
 * server), password hashing and verification, token keys, account name
 * rules, and the JSON/CSV/XML writers of API objects.
 */
#include "support.h"

#include <string.h>

#include "http/auth.h"
#include "http/routes.h"
#include "http/sbuf.h"

static json_t *openapi(void)
{
    json_error_t err;
    json_t *doc = json_loadb((const char *)td_openapi_json, td_openapi_json_len, 0, &err);
    if (!doc)
        fail_msg("openapi.json: line %d: %s", err.line, err.text);
    return doc;
}

static void test_openapi_lists_every_route(void **state)
{
    (void)state;
    json_t *doc = openapi();
    json_t *paths = json_object_get(doc, "paths");
    size_t n = 0;
    assert_non_null(paths);
    assert_string_equal(json_string_value(json_object_get(doc, "openapi")), "3.0.3");
    for (const td_route *rt; (rt = td_route_at(n)) != NULL; n++) {
        json_t *item = json_object_get(paths, td_route_pattern(rt));
        if (!item || !json_object_get(item, td_route_method(rt)))
            fail_msg("route %s %s is missing from docs/openapi.json", td_route_method(rt),
                     td_route_pattern(rt));
        json_t *responses =
            json_object_get(json_object_get(item, td_route_method(rt)), "responses");
        assert_true(json_object_size(responses) > 0);
    }
    assert_true(n >= 30);
    json_decref(doc);
}

static void test_every_documented_operation_is_routed(void **state)
{
    (void)state;
    json_t *doc = openapi();
    const char *path, *method;
    json_t *item, *op;
    int ops = 0;
    json_object_foreach(json_object_get(doc, "paths"), path, item)
    {
        json_object_foreach(item, method, op)
        {
            bool found = false;
            for (size_t i = 0; td_route_at(i) && !found; i++)
                found = strcmp(td_route_pattern(td_route_at(i)), path) == 0 &&
                        strcmp(td_route_method(td_route_at(i)), method) == 0;
            if (!found)
                fail_msg("docs/openapi.json documents %s %s, which the server does not route",
                         method, path);
            ops++;
        }
    }
    assert_true(ops >= 30);
    json_decref(doc);
}

static void test_openapi_refs_resolve(void **state)
{
    (void)state;
    json_t *doc = openapi();
    char *text = json_dumps(doc, JSON_COMPACT);
    json_t *schemas = json_object_get(json_object_get(doc, "components"), "schemas");
    const char *p = text;
    int refs = 0;
    while ((p = strstr(p, "\"$ref\":\"#/components/schemas/")) != NULL) {
        p += strlen("\"$ref\":\"#/components/schemas/");
        char name[64];
        size_t len = strcspn(p, "\"");
        assert_true(len < sizeof(name));
        memcpy(name, p, len);
        name[len] = '\0';
        if (!json_object_get(schemas, name))
            fail_msg("dangling $ref to schema %s", name);
        refs++;
    }
    assert_true(refs > 10);
    free(text);
    json_decref(doc);
}

static void test_password_hash_and_verify(void **state)
{
    char hash[160], other[160];
    (void)state;
    assert_int_equal(td_password_hash("correct horse", hash, sizeof(hash)), 0);
    assert_memory_equal(hash, "$argon2id$v=19$m=19456,t=2,p=1$", 31);
    assert_true(td_password_verify(hash, "correct horse"));
    assert_false(td_password_verify(hash, "correct hors"));
    assert_false(td_password_verify(hash, ""));
    /* A fresh salt each time. */
    assert_int_equal(td_password_hash("correct horse", other, sizeof(other)), 0);
    assert_string_not_equal(hash, other);
    assert_true(td_password_verify(other, "correct horse"));
    /* Only argon2id hashes are accepted. */
    assert_false(td_password_verify("plain", "plain"));
}

static void test_account_rules(void **state)
{
    (void)state;
    assert_null(td_password_problem("12345678"));
    assert_string_equal(td_password_problem("1234567"), "password must be at least 8 characters");
    char longpw[200];
    memset(longpw, 'x', sizeof(longpw) - 1);
    longpw[sizeof(longpw) - 1] = '\0';
    assert_non_null(td_password_problem(longpw));
    assert_null(td_username_problem("ops.team-1@site"));
    assert_non_null(td_username_problem(""));
    assert_non_null(td_username_problem("a b"));
    assert_non_null(td_username_problem("<script>"));
}

static void test_secrets(void **state)
{
    char a[TD_TOKEN_HEX + 1], b[TD_TOKEN_HEX + 1], key[65];
    (void)state;
    assert_int_equal(td_random_hex(a, TD_TOKEN_HEX), 0);
    assert_int_equal(td_random_hex(b, TD_TOKEN_HEX), 0);
    assert_int_equal(strlen(a), TD_TOKEN_HEX);
    assert_string_not_equal(a, b);
    assert_int_equal(strspn(a, "0123456789abcdef"), TD_TOKEN_HEX);
    /* SHA-256 of "abc" (FIPS 180-2 test vector). */
    td_secret_key("abc", key);
    assert_string_equal(key, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

static void test_json_writers(void **state)
{
    td_sbuf b;
    (void)state;
    td_sbuf_init(&b, 16);
    td_json_str(&b, "a\"b\\c\n\x01");
    assert_string_equal(td_sbuf_text(&b), "\"a\\\"b\\\\c\\n\\u0001\"");

    td_sbuf_reset(&b);
    td_store_position p = {.id = 7,
                           .device_id = 3,
                           .protocol = "iw",
                           .type = TD_REC_POSITION,
                           .server_ms = 1767323045000LL,
                           .device_ms = 1767323044500LL,
                           .valid = true,
                           .located = true,
                           .latitude = 22.5496767,
                           .longitude = -114.25,
                           .speed = 12.5,
                           .course = 90,
                           .altitude = 0,
                           .alarms = TD_ALARM_BIT(TD_ALARM_SOS),
                           .attributes = "{\"heartRate\":72}"};
    td_json_position(&b, &p);
    json_error_t err;
    json_t *j = json_loads(td_sbuf_text(&b), 0, &err);
    assert_non_null(j);
    assert_int_equal(json_integer_value(json_object_get(j, "id")), 7);
    assert_int_equal(json_integer_value(json_object_get(j, "deviceId")), 3);
    assert_string_equal(json_string_value(json_object_get(j, "type")), "position");
    assert_string_equal(json_string_value(json_object_get(j, "time")), "2026-01-02T03:04:04.500Z");
    assert_string_equal(json_string_value(json_object_get(j, "serverTime")),
                        "2026-01-02T03:04:05Z");
    assert_true(json_is_true(json_object_get(j, "valid")));
    assert_float_equal(json_number_value(json_object_get(j, "latitude")), 22.5496767, 1e-9);
    assert_float_equal(json_number_value(json_object_get(j, "longitude")), -114.25, 1e-9);
    assert_float_equal(json_number_value(json_object_get(j, "speed")), 12.5, 1e-9);
    assert_string_equal(json_string_value(json_array_get(json_object_get(j, "alarms"), 0)), "sos");
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(j, "attributes"), "heartRate")), 72);
    json_decref(j);

    /* A status record without a known location has no coordinates. */
    td_sbuf_reset(&b);
    p.type = TD_REC_STATUS;
    p.located = false;
    p.alarms = 0;
    td_json_position(&b, &p);
    j = json_loads(td_sbuf_text(&b), 0, &err);
    assert_non_null(j);
    assert_null(json_object_get(j, "latitude"));
    assert_null(json_object_get(j, "speed"));
    assert_int_equal(json_array_size(json_object_get(j, "alarms")), 0);
    json_decref(j);

    td_sbuf_reset(&b);
    td_csv_field(&b, "plain");
    td_sbuf_puts(&b, "|");
    td_csv_field(&b, "a,\"b\"");
    assert_string_equal(td_sbuf_text(&b), "plain|\"a,\"\"b\"\"\"");
    td_sbuf_reset(&b);
    td_xml_text(&b, "<a & \"b\">");
    assert_string_equal(td_sbuf_text(&b), "&lt;a &amp; &quot;b&quot;&gt;");
    td_sbuf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_openapi_lists_every_route),
        cmocka_unit_test(test_every_documented_operation_is_routed),
        cmocka_unit_test(test_openapi_refs_resolve),
        cmocka_unit_test(test_password_hash_and_verify),
        cmocka_unit_test(test_account_rules),
        cmocka_unit_test(test_secrets),
        cmocka_unit_test(test_json_writers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
