/*
 * The record model: setters that keep attributes typed and bounded, the
 * name tables generated from the X-macro lists in record.h, and the JSON
 * form of a record that `trackd decode`, the store and the API share.
 */
#include "core/record_json.h"

#include <ctype.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/sbuf.h"
#include "core/text.h"
#include "trackd/error.h"

static const char *const attr_names[] = {
#define XX(id, name, type) name,
    TD_ATTR_MAP(XX)
#undef XX
};

static const td_attr_type attr_types[] = {
#define XX(id, name, type) TD_T_##type,
    TD_ATTR_MAP(XX)
#undef XX
};

static const char *const alarm_names[] = {
#define XX(id, name) name,
    TD_ALARM_MAP(XX)
#undef XX
};

static const char *const type_names[] = {"position",  "status", "login",
                                         "heartbeat", "ack",    "other"};

void td_record_init(td_record *r, td_rec_type type)
{
    /* The scans and raw entries past their counts are never read: clearing
     * the counts is enough (the arrays are 2 KiB of the record). */
    memset(r, 0, offsetof(td_record, cells));
    r->ncells = r->nwifi = r->nble = r->nraw = 0;
    r->arena_used = 0;
    r->arena[0] = '\0';
    r->type = type;
}

const char *td_rec_type_name(td_rec_type t)
{
    return (unsigned)t < sizeof(type_names) / sizeof(type_names[0]) ? type_names[t] : "other";
}

const char *td_attr_name(td_attr a)
{
    return (unsigned)a < TD_ATTR_COUNT ? attr_names[a] : "?";
}

td_attr_type td_attr_type_of(td_attr a)
{
    return attr_types[a];
}

const char *td_alarm_name(td_alarm a)
{
    return (unsigned)a < TD_ALARM_COUNT ? alarm_names[a] : "?";
}

int td_alarm_from_name(const char *name)
{
    for (int i = 0; i < TD_ALARM_COUNT; i++)
        if (strcmp(alarm_names[i], name) == 0)
            return i;
    return -1;
}

void td_rec_set_int(td_record *r, td_attr a, int64_t v)
{
    if (attr_types[a] == TD_T_DOUBLE)
        r->attr[a].d = (double)v;
    else if (attr_types[a] == TD_T_BOOL)
        r->attr[a].b = v != 0;
    else
        r->attr[a].i = v;
    r->attr_set |= 1u << a;
}

void td_rec_set_double(td_record *r, td_attr a, double v)
{
    if (attr_types[a] == TD_T_INT)
        r->attr[a].i = (int64_t)llround(v);
    else if (attr_types[a] == TD_T_BOOL)
        r->attr[a].b = v != 0;
    else
        r->attr[a].d = v;
    r->attr_set |= 1u << a;
}

void td_rec_set_bool(td_record *r, td_attr a, bool v)
{
    td_rec_set_int(r, a, v);
}

bool td_rec_has(const td_record *r, td_attr a)
{
    return (r->attr_set >> a) & 1u;
}

void td_rec_alarm(td_record *r, td_alarm a)
{
    r->alarms |= TD_ALARM_BIT(a);
}

/* Copies a string into the arena; returns its offset or -1 when full. */
static int arena_put(td_record *r, const char *s, size_t n)
{
    if ((size_t)r->arena_used + n + 1 > TD_RAW_ARENA)
        return -1;
    int off = r->arena_used;
    memcpy(r->arena + off, s, n);
    r->arena[off + n] = '\0';
    r->arena_used = (uint16_t)(r->arena_used + n + 1);
    return off;
}

static td_raw *raw_new(td_record *r, const char *key)
{
    if (r->nraw >= TD_MAX_RAW || td_rec_raw_find(r, key))
        return NULL;
    int off = arena_put(r, key, strlen(key));
    if (off < 0)
        return NULL;
    td_raw *raw = &r->raw[r->nraw++];
    memset(raw, 0, sizeof(*raw));
    raw->key = (uint16_t)off;
    return raw;
}

int td_rec_raw_str(td_record *r, const char *key, const char *val, size_t len)
{
    uint16_t saved = r->arena_used;
    td_raw *raw = raw_new(r, key);
    if (!raw)
        return TD_ENOMEM;
    int off = arena_put(r, val, len);
    if (off < 0) {
        r->nraw--;
        r->arena_used = saved;
        return TD_ENOMEM;
    }
    raw->type = TD_T_STRING;
    raw->str = (uint16_t)off;
    return 0;
}

int td_rec_raw_int(td_record *r, const char *key, int64_t v)
{
    td_raw *raw = raw_new(r, key);
    if (!raw)
        return TD_ENOMEM;
    raw->type = TD_T_INT;
    raw->v.i = v;
    return 0;
}

int td_rec_raw_double(td_record *r, const char *key, double v)
{
    td_raw *raw = raw_new(r, key);
    if (!raw)
        return TD_ENOMEM;
    raw->type = TD_T_DOUBLE;
    raw->v.d = v;
    return 0;
}

int td_rec_raw_bool(td_record *r, const char *key, bool v)
{
    td_raw *raw = raw_new(r, key);
    if (!raw)
        return TD_ENOMEM;
    raw->type = TD_T_BOOL;
    raw->v.b = v;
    return 0;
}

const td_raw *td_rec_raw_find(const td_record *r, const char *key)
{
    for (int i = 0; i < r->nraw; i++) {
        const char *k = r->arena + r->raw[i].key;
        if (k[0] == key[0] && strcmp(k, key) == 0)
            return &r->raw[i];
    }
    return NULL;
}

int td_rec_add_cell(td_record *r, int mcc, int mnc, int64_t lac, int64_t cid, bool has_rssi,
                    int rssi)
{
    if (r->ncells >= TD_MAX_CELLS)
        return TD_ENOMEM;
    td_cell *c = &r->cells[r->ncells++];
    c->mcc = mcc;
    c->mnc = mnc;
    c->lac = lac;
    c->cid = cid;
    c->has_rssi = has_rssi;
    c->rssi = rssi;
    return 0;
}

/* Normalises "AA-BB-CC-DD-EE-FF", "aa:bb:..", or "aabbccddeeff". */
static int mac_norm(const char *mac, size_t len, char out[18])
{
    int nd = 0;
    for (size_t i = 0; i < len; i++) {
        int c = (unsigned char)mac[i];
        if (c == ':' || c == '-')
            continue;
        if (!isxdigit(c) || nd >= 12)
            return TD_EINVAL;
        out[nd / 2 * 3 + nd % 2] = (char)tolower(c);
        nd++;
    }
    if (nd != 12)
        return TD_EINVAL;
    for (int i = 2; i < 17; i += 3)
        out[i] = ':';
    out[17] = '\0';
    return 0;
}

static int add_scan(td_wifi *list, int *n, int max, const char *mac, size_t len, int rssi)
{
    if (*n >= max)
        return TD_ENOMEM;
    int rc = mac_norm(mac, len, list[*n].mac);
    if (rc)
        return rc;
    list[*n].rssi = rssi;
    (*n)++;
    return 0;
}

int td_rec_add_wifi(td_record *r, const char *mac, size_t len, int rssi)
{
    return add_scan(r->wifi, &r->nwifi, TD_MAX_WIFI, mac, len, rssi);
}

int td_rec_add_ble(td_record *r, const char *mac, size_t len, int rssi)
{
    return add_scan(r->ble, &r->nble, TD_MAX_BLE, mac, len, rssi);
}

/* JSON numbers: round to a sane precision so 0.1 prints as 0.1. */
static json_t *num(double v, int places)
{
    double scale = pow(10, places);
    return json_real(round(v * scale) / scale);
}

static json_t *scan_json(const td_wifi *list, int n)
{
    json_t *arr = json_array();
    for (int i = 0; i < n; i++)
        json_array_append_new(arr,
                              json_pack("{s:s,s:i}", "mac", list[i].mac, "rssi", list[i].rssi));
    return arr;
}

/* ---- the attributes as JSON text, without building a jansson tree ------ */

/* A real as jansson writes it: 17 significant digits, ".0" when integral. */
static void ab_real(td_sbuf *b, double v, int places)
{
    double scale = pow(10, places);
    v = round(v * scale) / scale;
    char tmp[40];
    int n = snprintf(tmp, sizeof(tmp), "%.17g", v);
    if (n <= 0 || (size_t)n >= sizeof(tmp) - 2 || !isfinite(v)) {
        b->oom = true; /* jansson refuses these too: fall back */
        return;
    }
    char *e = strchr(tmp, 'e');
    if (!e && !strchr(tmp, '.')) {
        tmp[n++] = '.';
        tmp[n++] = '0';
    }
    if (e) { /* "1e+22" -> "1e22", "4e-07" -> "4e-7" */
        char *d = e + 1, *q = d;
        if (*q == '+')
            q++;
        else if (*q == '-')
            d = ++q;
        while (*q == '0' && q[1])
            q++;
        memmove(d, q, strlen(q) + 1);
        n = (int)strlen(tmp);
    }
    td_sbuf_add(b, tmp, (size_t)n);
}

/* A string as jansson escapes it (compact, UTF-8 kept, '/' as is). */
static void ab_str(td_sbuf *b, const char *s)
{
    td_sbuf_add(b, "\"", 1);
    for (const char *p = s; *p; p++) {
        unsigned char c = (unsigned char)*p;
        const char *esc = NULL;
        switch (c) {
        case '"':
            esc = "\\\"";
            break;
        case '\\':
            esc = "\\\\";
            break;
        case '\b':
            esc = "\\b";
            break;
        case '\f':
            esc = "\\f";
            break;
        case '\n':
            esc = "\\n";
            break;
        case '\r':
            esc = "\\r";
            break;
        case '\t':
            esc = "\\t";
            break;
        default:
            break;
        }
        if (esc)
            td_sbuf_add(b, esc, strlen(esc));
        else if (c < 0x20)
            td_sbuf_printf(b, "\\u%04X", c);
        else
            td_sbuf_add(b, p, 1);
    }
    td_sbuf_add(b, "\"", 1);
}

/* Valid UTF-8 as jansson requires it (no overlongs, surrogates or > U+10FFFF). */
static bool utf8_ok(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        unsigned c = *p, n, cp;
        if (c < 0x80) {
            p++;
            continue;
        }
        if (c >= 0xc2 && c <= 0xdf) {
            n = 1;
            cp = c & 0x1f;
        } else if (c >= 0xe0 && c <= 0xef) {
            n = 2;
            cp = c & 0x0f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            n = 3;
            cp = c & 0x07;
        } else {
            return false;
        }
        for (unsigned i = 1; i <= n; i++) {
            if ((p[i] & 0xc0) != 0x80)
                return false;
            cp = (cp << 6) | (p[i] & 0x3f);
        }
        if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
            (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        p += n + 1;
    }
    return true;
}

/* The keys written before the raw ones, which a raw key must not repeat. */
static bool key_taken(const td_record *r, const char *key)
{
    for (int i = 0; i < TD_ATTR_COUNT; i++)
        if (td_rec_has(r, (td_attr)i) && strcmp(attr_names[i], key) == 0)
            return true;
    return (r->ncells && strcmp(key, "cells") == 0) || (r->nwifi && strcmp(key, "wifi") == 0) ||
           (r->nble && strcmp(key, "ble") == 0);
}

static void ab_scan(td_sbuf *b, const char *name, const td_wifi *list, int n)
{
    td_sbuf_printf(b, ",\"%s\":[", name);
    for (int i = 0; i < n; i++) {
        td_sbuf_add(b, i ? ",{\"mac\":" : "{\"mac\":", i ? 8 : 7);
        ab_str(b, list[i].mac);
        td_sbuf_printf(b, ",\"rssi\":%d}", list[i].rssi);
    }
    td_sbuf_add(b, "]", 1);
}

static char *attributes_text_slow(const td_record *r)
{
    json_t *a = td_record_attributes_json(r);
    char *text = json_dumps(a, JSON_COMPACT);
    json_decref(a);
    return text;
}

char *td_record_attributes_text(const td_record *r)
{
    /* A raw key that repeats an earlier key, or one that is not UTF-8, is
     * rare: jansson's rules (replace in place, drop) are left to jansson. */
    for (int i = 0; i < r->nraw; i++) {
        const char *key = r->arena + r->raw[i].key;
        if (key_taken(r, key) || !utf8_ok(key))
            return attributes_text_slow(r);
    }
    td_sbuf b;
    td_sbuf_init(&b, 0);
    td_sbuf_add(&b, "{", 1);
    for (int i = 0; i < TD_ATTR_COUNT; i++) {
        if (!td_rec_has(r, (td_attr)i))
            continue;
        td_sbuf_printf(&b, ",\"%s\":", attr_names[i]);
        switch (attr_types[i]) {
        case TD_T_INT:
            td_sbuf_printf(&b, "%" PRId64, r->attr[i].i);
            break;
        case TD_T_DOUBLE:
            ab_real(&b, r->attr[i].d, 6);
            break;
        default:
            td_sbuf_add(&b, r->attr[i].b ? "true" : "false", r->attr[i].b ? 4 : 5);
            break;
        }
    }
    if (r->ncells) {
        td_sbuf_add(&b, ",\"cells\":[", 10);
        for (int i = 0; i < r->ncells; i++) {
            const td_cell *c = &r->cells[i];
            td_sbuf_printf(&b, "%s{\"mcc\":%d,\"mnc\":%d,", i ? "," : "", c->mcc, c->mnc);
            td_sbuf_printf(&b, "\"lac\":%" PRId64 ",\"cid\":%" PRId64, (int64_t)c->lac,
                           (int64_t)c->cid);
            if (c->has_rssi)
                td_sbuf_printf(&b, ",\"rssi\":%d", c->rssi);
            td_sbuf_add(&b, "}", 1);
        }
        td_sbuf_add(&b, "]", 1);
    }
    if (r->nwifi)
        ab_scan(&b, "wifi", r->wifi, r->nwifi);
    if (r->nble)
        ab_scan(&b, "ble", r->ble, r->nble);
    for (int i = 0; i < r->nraw && !b.oom; i++) {
        const td_raw *raw = &r->raw[i];
        td_sbuf_add(&b, ",", 1);
        ab_str(&b, r->arena + raw->key);
        td_sbuf_add(&b, ":", 1);
        switch (raw->type) {
        case TD_T_STRING:
            ab_str(&b, utf8_ok(r->arena + raw->str) ? r->arena + raw->str : "(binary)");
            break;
        case TD_T_INT:
            td_sbuf_printf(&b, "%" PRId64, raw->v.i);
            break;
        case TD_T_DOUBLE:
            ab_real(&b, raw->v.d, 6);
            break;
        default:
            td_sbuf_add(&b, raw->v.b ? "true" : "false", raw->v.b ? 4 : 5);
            break;
        }
    }
    td_sbuf_add(&b, "}", 1);
    if (b.oom) {
        td_sbuf_free(&b);
        return attributes_text_slow(r);
    }
    if (b.data[1] == ',') /* drop the comma before the first member */
        memmove(b.data + 1, b.data + 2, b.len - 1);
    return b.data;
}

json_t *td_record_attributes_json(const td_record *r)
{
    json_t *a = json_object();

    for (int i = 0; i < TD_ATTR_COUNT; i++) {
        if (!td_rec_has(r, (td_attr)i))
            continue;
        json_t *v;
        switch (attr_types[i]) {
        case TD_T_INT:
            v = json_integer(r->attr[i].i);
            break;
        case TD_T_DOUBLE:
            v = num(r->attr[i].d, 6);
            break;
        default:
            v = json_boolean(r->attr[i].b);
            break;
        }
        json_object_set_new(a, attr_names[i], v);
    }
    if (r->ncells) {
        json_t *cells = json_array();
        for (int i = 0; i < r->ncells; i++) {
            const td_cell *c = &r->cells[i];
            json_t *o = json_pack("{s:i,s:i,s:I,s:I}", "mcc", c->mcc, "mnc", c->mnc, "lac",
                                  (json_int_t)c->lac, "cid", (json_int_t)c->cid);
            if (c->has_rssi)
                json_object_set_new(o, "rssi", json_integer(c->rssi));
            json_array_append_new(cells, o);
        }
        json_object_set_new(a, "cells", cells);
    }
    if (r->nwifi)
        json_object_set_new(a, "wifi", scan_json(r->wifi, r->nwifi));
    if (r->nble)
        json_object_set_new(a, "ble", scan_json(r->ble, r->nble));
    for (int i = 0; i < r->nraw; i++) {
        const td_raw *raw = &r->raw[i];
        json_t *v;
        switch (raw->type) {
        case TD_T_STRING:
            v = json_string(r->arena + raw->str);
            if (!v) /* not UTF-8: keep the bytes visible as hex */
                v = json_string("(binary)");
            break;
        case TD_T_INT:
            v = json_integer(raw->v.i);
            break;
        case TD_T_DOUBLE:
            v = num(raw->v.d, 6);
            break;
        default:
            v = json_boolean(raw->v.b);
            break;
        }
        json_object_set_new(a, r->arena + raw->key, v);
    }
    return a;
}

json_t *td_record_alarms_json(const td_record *r)
{
    json_t *arr = json_array();
    for (int i = 0; i < TD_ALARM_COUNT; i++)
        if (r->alarms & TD_ALARM_BIT(i))
            json_array_append_new(arr, json_string(alarm_names[i]));
    return arr;
}

json_t *td_record_json(const td_record *r, const char *protocol)
{
    char iso[40];
    json_t *o = json_object();

    if (protocol)
        json_object_set_new(o, "protocol", json_string(protocol));
    json_object_set_new(o, "type", json_string(td_rec_type_name(r->type)));
    if (r->device_id[0])
        json_object_set_new(o, "deviceId", json_string(r->device_id));
    json_object_set_new(o, "time", json_string(td_iso8601(r->time_ms, iso, sizeof(iso))));
    if (r->type == TD_REC_POSITION) {
        json_object_set_new(o, "valid", json_boolean(r->valid));
        json_object_set_new(o, "latitude", num(r->latitude, 7));
        json_object_set_new(o, "longitude", num(r->longitude, 7));
        json_object_set_new(o, "speed", num(r->speed, 2));
        json_object_set_new(o, "course", num(r->course, 2));
        json_object_set_new(o, "altitude", num(r->altitude, 2));
    }
    if (r->alarms)
        json_object_set_new(o, "alarms", td_record_alarms_json(r));
    json_object_set_new(o, "attributes", td_record_attributes_json(r));
    return o;
}
