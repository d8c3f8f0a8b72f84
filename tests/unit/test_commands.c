/*
 * Checks every protocol's downlink commands against the contract in
 * include/trackd/protocol.h, whatever the protocol: the declared types and
 * parameters are well formed (labels, ranges, defaults), every declared
 * type encodes with in-range arguments, an output buffer one byte short
 * gives TD_ETOOBIG without a byte written past cap, and errors name the
 * protocol. The bytes themselves are checked per protocol in
 * test_<protocol>.c; the shared UTF-16 text encoding is checked here.
 */
#include "support.h"

#include <stdio.h>
#include <string.h>

#include "protocols/encode.h"

#define IMEI "860000000000001" /* a device id every protocol accepts */

static const uint8_t amr[] = {'#', '!', 'A', 'M', 'R', '\n', 0x3c, 0x7d, 0x5b, 0x2a};

/* A command of type t with in-range arguments: required parameters set
 * (INT to min, BOOL on, PHONE/TEXT/HEX/DATA to short values), optional ones
 * left out (INT then carries def), except that custom gets its data. */
static void sample(const td_cmd_type *t, int64_t id, td_command *c)
{
    memset(c, 0, sizeof(*c));
    c->def = t;
    c->id = id;
    bool custom = strcmp(t->type, "custom") == 0;
    for (int i = 0; i < TD_CMD_PARAMS_MAX && t->params[i].name; i++) {
        const td_cmd_param *p = &t->params[i];
        td_cmd_arg *a = &c->arg[i];
        a->num = p->def;
        if (p->optional && !(custom && i == 0))
            continue;
        a->set = true;
        switch (p->kind) {
        case TD_PARAM_INT:
            a->num = p->min;
            break;
        case TD_PARAM_BOOL:
            a->num = 1;
            break;
        case TD_PARAM_PHONE:
            a->str = "+15551234567";
            break;
        case TD_PARAM_TEXT:
            a->str = custom ? "VERNO" : "Hi";
            break;
        case TD_PARAM_HEX:
            a->str = "\x01\x02";
            break;
        case TD_PARAM_DATA:
            a->str = (const char *)amr;
            a->len = sizeof(amr);
            break;
        }
        if (p->kind != TD_PARAM_DATA && a->str)
            a->len = strlen(a->str);
    }
}

static void test_declarations(void **state)
{
    (void)state;
    int with_commands = 0;

    for (size_t k = 0; k < td_protocol_count; k++) {
        const td_protocol *P = td_protocols[k];
        assert_true((P->commands == NULL) == (P->encode == NULL));
        if (!P->commands)
            continue;
        with_commands++;
        for (const td_cmd_type *t = P->commands; t->type; t++) {
            if (!t->label || !t->label[0])
                fail_msg("%s %s has no label", P->name, t->type);
            /* Type names are unique: td_cmd_type_find() finds this one. */
            assert_ptr_equal(td_cmd_type_find(P, t->type), t);
            bool ended = false;
            for (int i = 0; i < TD_CMD_PARAMS_MAX; i++) {
                const td_cmd_param *p = &t->params[i];
                if (!p->name) {
                    ended = true;
                    continue;
                }
                if (ended)
                    fail_msg("%s %s: parameter %s after an empty slot", P->name, t->type, p->name);
                if (!p->label || !p->label[0])
                    fail_msg("%s %s: parameter %s has no label", P->name, t->type, p->name);
                assert_int_equal(td_cmd_param_index(t, p->name), i);
                assert_true(p->min <= p->max);
                if (p->kind == TD_PARAM_BOOL)
                    assert_true(p->min == 0 && p->max == 1);
                if (p->kind == TD_PARAM_INT && p->optional && (p->def < p->min || p->def > p->max))
                    fail_msg("%s %s: default of %s out of range", P->name, t->type, p->name);
                if (p->kind != TD_PARAM_INT && p->kind != TD_PARAM_BOOL)
                    assert_true(p->min >= 0 && p->max > 0);
            }
        }
    }
    assert_true(with_commands >= 3);
}

/* Every declared type encodes; a buffer one byte short fails cleanly. */
static void test_every_type_encodes(void **state)
{
    (void)state;
    static uint8_t out[512];
    td_session s;
    td_test_cmd tc;

    td_test_session(&s, IMEI);
    for (size_t k = 0; k < td_protocol_count; k++) {
        const td_protocol *P = td_protocols[k];
        for (const td_cmd_type *t = P->commands; t && t->type; t++) {
            char ack[TD_ACK_MAX] = "x", err[TD_ERRMSG_MAX] = "";
            size_t len = 0;
            tc.proto = P;
            sample(t, 42, &tc.cmd);
            int rc = P->encode(&s, &tc.cmd, out, sizeof(out), &len, ack, err, sizeof(err));
            if (rc != 0)
                fail_msg("%s %s: %d %s", P->name, t->type, rc, err);
            assert_true(len > 0 && len <= sizeof(out));
            assert_true(strlen(ack) < TD_ACK_MAX);
            if (strcmp(t->type, "custom") != 0 && !ack[0])
                fail_msg("%s %s: no ack key", P->name, t->type);
            td_test_expect_too_small(&tc, &s, out, len);
        }
    }
}

/* custom needs exactly one of data and hex, in every protocol. */
static void test_custom_needs_one(void **state)
{
    (void)state;
    td_session s;
    td_command c;
    uint8_t out[64];

    td_test_session(&s, IMEI);
    for (size_t k = 0; k < td_protocol_count; k++) {
        const td_protocol *P = td_protocols[k];
        const td_cmd_type *t = P->encode ? td_cmd_type_find(P, "custom") : NULL;
        if (!t)
            continue;
        char ack[TD_ACK_MAX], err[TD_ERRMSG_MAX], want[TD_ERRMSG_MAX];
        size_t len;
        snprintf(want, sizeof(want), "%s: give data or hex", P->name);
        sample(t, 1, &c);
        c.arg[0].set = false;
        assert_int_equal(P->encode(&s, &c, out, sizeof(out), &len, ack, err, sizeof(err)),
                         TD_EINVAL);
        assert_string_equal(err, want);
        sample(t, 1, &c);
        c.arg[1] = c.arg[0];
        assert_int_equal(P->encode(&s, &c, out, sizeof(out), &len, ack, err, sizeof(err)),
                         TD_EINVAL);
        assert_string_equal(err, want);
    }
}

/* The protocols' text parameters as UTF-16BE hex (td_enc_utf16_hex). */
static void test_utf16_hex(void **state)
{
    (void)state;
    static const struct {
        const char *utf8, *hex;
    } ok[] = {
        {"", ""},
        {"Hi", "00480069"},                                /* ASCII */
        {"\xc3\xa9\xe2\x82\xac", "00E920AC"},              /* e-acute, euro */
        {"\xe4\xb8\xad\xe6\x96\x87", "4E2D6587"},          /* CJK, in the BMP */
        {"\xef\xbf\xbf", "FFFF"},                          /* last of the BMP */
        {"\xf0\x9f\x98\x80", "D83DDE00"},                  /* U+1F600: a pair */
        {"A\xf0\x9f\x98\x80\xc3\xa9", "0041D83DDE0000E9"}, /* mixed */
        {"\xf4\x8f\xbf\xbf", "DBFFDFFF"},                  /* U+10FFFF */
    };
    static const char *const bad[] = {
        "\xff",             /* never a UTF-8 byte */
        "\x80",             /* continuation first */
        "a\xc3",            /* cut short */
        "\xe4\xb8",         /* cut short */
        "\xe4\x41\x80",     /* not a continuation */
        "\xc0\x80",         /* overlong NUL */
        "\xe0\x80\x80",     /* overlong */
        "\xf0\x80\x80\x80", /* overlong */
        "\xed\xa0\x80",     /* a surrogate */
        "\xf4\x90\x80\x80", /* above U+10FFFF */
        "\xf8\x88\x80\x80", /* 5-byte lead */
    };
    uint8_t out[64];
    char err[8] = "";

    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        td_enc e = {.proto = "test", .out = out, .cap = sizeof(out), .err = err, .errcap = 8};
        if (!td_enc_utf16_hex(&e, ok[i].utf8, strlen(ok[i].utf8)))
            fail_msg("ok[%zu] refused", i);
        assert_false(e.over);
        assert_int_equal(e.n, strlen(ok[i].hex));
        assert_memory_equal(out, ok[i].hex, e.n);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        td_enc e = {.proto = "test", .out = out, .cap = sizeof(out), .err = err, .errcap = 8};
        if (td_enc_utf16_hex(&e, bad[i], strlen(bad[i])))
            fail_msg("bad[%zu] accepted", i);
    }

    /* A NUL byte is a character like any other. */
    td_enc e = {.proto = "test", .out = out, .cap = sizeof(out), .err = err, .errcap = 8};
    assert_true(td_enc_utf16_hex(&e, "\0", 1));
    assert_int_equal(e.n, 4);
    assert_memory_equal(out, "0000", 4);

    /* Bounded: a unit that does not fit sets over and writes nothing past
     * cap; n still counts it. A pair is one piece. */
    memset(out, 0xAA, sizeof(out));
    e = (td_enc){.proto = "test", .out = out, .cap = 6, .err = err, .errcap = 8};
    assert_true(td_enc_utf16_hex(&e, "Hi", 2));
    assert_true(e.over);
    assert_int_equal(e.n, 8);
    assert_memory_equal(out, "0048", 4);
    for (size_t i = 4; i < sizeof(out); i++)
        assert_int_equal(out[i], 0xAA);
    memset(out, 0xAA, sizeof(out));
    e = (td_enc){.proto = "test", .out = out, .cap = 7, .err = err, .errcap = 8};
    assert_true(td_enc_utf16_hex(&e, "\xf0\x9f\x98\x80", 4));
    assert_true(e.over);
    assert_int_equal(e.n, 8);
    for (size_t i = 0; i < sizeof(out); i++)
        assert_int_equal(out[i], 0xAA);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_declarations),
        cmocka_unit_test(test_every_type_encodes),
        cmocka_unit_test(test_custom_needs_one),
        cmocka_unit_test(test_utf16_hex),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
