/*
 * Checks every protocol's downlink commands against the contract in
 * include/trackd/protocol.h, whatever the protocol: the declared types and
 * parameters are well formed (labels, ranges, defaults), every declared
 * type encodes with in-range arguments, an output buffer one byte short
 * gives TD_ETOOBIG without a byte written past cap, and errors name the
 * protocol. The bytes themselves are checked per protocol in
 * test_<protocol>.c.
 */
#include "support.h"

#include <stdio.h>
#include <string.h>

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
    static uint8_t out[512], again[512];
    td_session s;
    td_command c;

    memset(&s, 0, sizeof(s));
    strcpy(s.device_id, IMEI);
    for (size_t k = 0; k < td_protocol_count; k++) {
        const td_protocol *P = td_protocols[k];
        for (const td_cmd_type *t = P->commands; t && t->type; t++) {
            char ack[TD_ACK_MAX] = "x", err[TD_ERRMSG_MAX] = "";
            size_t len = 0;
            sample(t, 42, &c);
            int rc = P->encode(&s, &c, out, sizeof(out), &len, ack, err, sizeof(err));
            if (rc != 0)
                fail_msg("%s %s: %d %s", P->name, t->type, rc, err);
            assert_true(len > 0 && len <= sizeof(out));
            assert_true(strlen(ack) < TD_ACK_MAX);
            if (strcmp(t->type, "custom") != 0 && !ack[0])
                fail_msg("%s %s: no ack key", P->name, t->type);

            for (size_t cap = 0; cap < len; cap++) {
                char ack2[TD_ACK_MAX] = "x";
                size_t len2 = 99;
                memset(again, 0xAA, sizeof(again));
                rc = P->encode(&s, &c, again, cap, &len2, ack2, err, sizeof(err));
                if (rc != TD_ETOOBIG)
                    fail_msg("%s %s: cap %zu gave %d", P->name, t->type, cap, rc);
                assert_int_equal(strncmp(err, P->name, strlen(P->name)), 0);
                assert_string_equal(ack2, "");
                assert_int_equal(len2, 0);
                for (size_t i = cap; i < sizeof(again); i++)
                    if (again[i] != 0xAA)
                        fail_msg("%s %s: byte %zu written with cap %zu", P->name, t->type, i, cap);
            }
            size_t len3 = 0;
            memset(again, 0xAA, sizeof(again));
            assert_int_equal(P->encode(&s, &c, again, len, &len3, ack, err, sizeof(err)), 0);
            assert_int_equal(len3, len);
            assert_memory_equal(again, out, len);
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

    memset(&s, 0, sizeof(s));
    strcpy(s.device_id, IMEI);
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_declarations),
        cmocka_unit_test(test_every_type_encodes),
        cmocka_unit_test(test_custom_needs_one),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
