/*
 * Command parameters: validation against a protocol's declared command
 * types, and the type list the API reports.
 */
#include "core/command.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "trackd/error.h"

static const char *const kind_names[] = {
    [TD_PARAM_PHONE] = "phone", [TD_PARAM_INT] = "integer", [TD_PARAM_BOOL] = "boolean",
    [TD_PARAM_TEXT] = "text",   [TD_PARAM_HEX] = "hex",     [TD_PARAM_DATA] = "voice",
};

const char *td_param_kind_name(enum td_param_kind k)
{
    return (unsigned)k < sizeof(kind_names) / sizeof(kind_names[0]) ? kind_names[k] : "?";
}

__attribute__((format(printf, 3, 4))) static int fail(char *err, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, cap, fmt, ap);
    va_end(ap);
    return TD_EINVAL;
}

/* Characters (code points) in valid UTF-8 text; -1 on a control character. */
static long utf8_chars(const char *s)
{
    long n = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p < 0x20 || *p == 0x7f)
            return -1;
        if ((*p & 0xC0) != 0x80)
            n++;
    }
    return n;
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* An integer from a JSON integer or a string of digits. */
static bool get_int(json_t *v, long *out)
{
    if (json_is_integer(v)) {
        *out = (long)json_integer_value(v);
        return true;
    }
    if (!json_is_string(v))
        return false;
    const char *s = json_string_value(v);
    char *end;
    if (!*s)
        return false;
    long long n = strtoll(s, &end, 10);
    if (*end)
        return false;
    *out = (long)n;
    return true;
}

static int check_one(const td_cmd_type *t, const td_cmd_param *p, json_t *v, td_cmd_arg *a,
                     uint8_t *scratch, size_t *used, size_t cap, char *err, size_t errcap)
{
    char range[96];
    long n;

    switch (p->kind) {
    case TD_PARAM_PHONE: {
        if (!json_is_string(v))
            return fail(err, errcap, "parameter '%s' of %s must be a phone number (a string)",
                        p->name, t->type);
        const char *s = json_string_value(v);
        size_t len = strlen(s), digits = 0;
        if (len == 0 && p->optional)
            return 0; /* an empty slot */
        bool ok = len > 0;
        for (size_t i = 0; ok && i < len; i++) {
            if (s[i] >= '0' && s[i] <= '9')
                digits++;
            else if (!(s[i] == '+' && i == 0))
                ok = false;
        }
        long lo = p->min > 0 ? p->min : 3, hi = p->max > 0 ? p->max : 20;
        if (!ok || (long)digits < lo || (long)digits > hi) {
            snprintf(err, errcap,
                     "bad phone number '%.40s' for '%s': use %ld to %ld digits with an"
                     " optional leading +",
                     s, p->name, lo, hi);
            return TD_EINVAL;
        }
        a->str = s;
        a->len = len;
        break;
    }
    case TD_PARAM_INT:
        if (!get_int(v, &n))
            return fail(err, errcap, "parameter '%s' of %s must be an integer", p->name, t->type);
        if (n < p->min || n > p->max) {
            snprintf(err, errcap, "parameter '%s' of %s out of range: %ld (allowed %ld to %ld)",
                     p->name, t->type, n, p->min, p->max);
            return TD_EINVAL;
        }
        a->num = n;
        break;
    case TD_PARAM_BOOL:
        if (json_is_boolean(v))
            a->num = json_is_true(v);
        else if (json_is_integer(v) && (json_integer_value(v) == 0 || json_integer_value(v) == 1))
            a->num = (long)json_integer_value(v);
        else if (json_is_string(v) &&
                 (!strcmp(json_string_value(v), "true") || !strcmp(json_string_value(v), "false")))
            a->num = !strcmp(json_string_value(v), "true");
        else
            return fail(err, errcap, "parameter '%s' of %s must be true or false", p->name,
                        t->type);
        break;
    case TD_PARAM_TEXT: {
        if (!json_is_string(v))
            return fail(err, errcap, "parameter '%s' of %s must be a string", p->name, t->type);
        const char *s = json_string_value(v);
        long chars = utf8_chars(s);
        if (chars < 0)
            return fail(err, errcap, "parameter '%s' of %s holds a control character", p->name,
                        t->type);
        if (chars == 0 && p->optional)
            return 0;
        if (chars < p->min || chars > p->max) {
            snprintf(range, sizeof(range), "%ld to %ld characters", p->min, p->max);
            snprintf(err, errcap, "parameter '%s' of %s must be %s (got %ld)", p->name, t->type,
                     range, chars);
            return TD_EINVAL;
        }
        a->str = s;
        a->len = strlen(s);
        break;
    }
    case TD_PARAM_HEX: {
        if (!json_is_string(v))
            return fail(err, errcap, "parameter '%s' of %s must be a hex string", p->name, t->type);
        const char *s = json_string_value(v);
        size_t start = *used, nb = 0;
        int hi = -1;
        for (const char *c = s; *c; c++) {
            if (*c == ' ' || *c == ':')
                continue;
            int d = hexval((unsigned char)*c);
            if (d < 0)
                return fail(err, errcap, "parameter '%s' is not hex: '%.40s'", p->name, s);
            if (hi < 0) {
                hi = d;
                continue;
            }
            if (*used >= cap)
                return fail(err, errcap, "parameter '%s' of %s is too long", p->name, t->type);
            scratch[(*used)++] = (uint8_t)(hi << 4 | d);
            hi = -1;
            nb++;
        }
        if (hi >= 0)
            return fail(err, errcap, "parameter '%s' of %s has an odd number of hex digits",
                        p->name, t->type);
        if (nb == 0 && p->optional)
            return 0;
        if ((long)nb < p->min || (long)nb > p->max) {
            snprintf(err, errcap, "parameter '%s' of %s must be %ld to %ld bytes (got %zu)",
                     p->name, t->type, p->min, p->max, nb);
            return TD_EINVAL;
        }
        a->str = (const char *)scratch + start;
        a->len = nb;
        break;
    }
    case TD_PARAM_DATA:
        if (!get_int(v, &n) || n <= 0)
            return fail(err, errcap,
                        "parameter '%s' of %s must be the id of an uploaded voice"
                        " message",
                        p->name, t->type);
        a->num = n;
        break;
    }
    a->set = true;
    return 0;
}

int td_cmd_validate(const td_cmd_type *t, json_t *attrs, td_command *cmd, uint8_t *scratch,
                    size_t scratch_cap, char *err, size_t errcap)
{
    size_t used = 0;
    memset(cmd, 0, sizeof(*cmd));
    cmd->def = t;
    if (attrs && !json_is_object(attrs) && !json_is_null(attrs))
        return fail(err, errcap, "field 'attributes' must be an object");

    const char *key;
    json_t *v;
    json_object_foreach(attrs && json_is_object(attrs) ? attrs : NULL, key, v)
    {
        if (td_cmd_param_index(t, key) >= 0)
            continue;
        char names[160] = "";
        size_t n = 0;
        for (int i = 0; i < TD_CMD_PARAMS_MAX && t->params[i].name; i++)
            n += (size_t)snprintf(names + n, n < sizeof(names) ? sizeof(names) - n : 0, "%s%s",
                                  i ? ", " : "", t->params[i].name);
        snprintf(err, errcap, "unknown parameter '%.40s' for %s (%s%s)", key, t->type,
                 names[0] ? "expected: " : "it takes none", names);
        return TD_EINVAL;
    }
    for (int i = 0; i < TD_CMD_PARAMS_MAX && t->params[i].name; i++) {
        const td_cmd_param *p = &t->params[i];
        json_t *val = attrs && json_is_object(attrs) ? json_object_get(attrs, p->name) : NULL;
        if (!val || json_is_null(val)) {
            if (!p->optional) {
                snprintf(err, errcap, "missing parameter '%s' (%s) for %s", p->name,
                         p->label ? p->label : p->name, t->type);
                return TD_EINVAL;
            }
            if (p->kind == TD_PARAM_INT)
                cmd->arg[i].num = p->def;
            continue;
        }
        int rc = check_one(t, p, val, &cmd->arg[i], scratch, &used, scratch_cap, err, errcap);
        if (rc)
            return rc;
    }
    return 0;
}

json_t *td_cmd_types_json(const td_protocol *p)
{
    json_t *out = json_array();
    for (const td_cmd_type *t = p ? p->commands : NULL; t && t->type; t++) {
        json_t *params = json_array();
        for (int i = 0; i < TD_CMD_PARAMS_MAX && t->params[i].name; i++) {
            const td_cmd_param *pa = &t->params[i];
            json_t *o = json_pack("{s:s, s:s, s:s, s:b}", "name", pa->name, "kind",
                                  td_param_kind_name(pa->kind), "label",
                                  pa->label ? pa->label : pa->name, "optional", pa->optional);
            if (pa->kind != TD_PARAM_BOOL && (pa->min || pa->max)) {
                json_object_set_new(o, "min", json_integer(pa->min));
                json_object_set_new(o, "max", json_integer(pa->max));
            }
            if (pa->kind == TD_PARAM_INT && pa->optional)
                json_object_set_new(o, "default", json_integer(pa->def));
            json_array_append_new(params, o);
        }
        json_array_append_new(out, json_pack("{s:s, s:s, s:o}", "type", t->type, "label",
                                             t->label ? t->label : t->type, "parameters", params));
    }
    return out;
}
