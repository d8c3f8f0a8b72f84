/*
 * The record model: setters that keep attributes typed and bounded, the
 * name tables generated from the X-macro lists in record.h, and the JSON
 * form of a record that `trackd decode`, the store and the API share.
 */
#include "core/record_json.h"

#include <ctype.h>
#include <math.h>
#include <string.h>

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
    memset(r, 0, offsetof(td_record, arena));
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
    for (int i = 0; i < r->nraw; i++)
        if (strcmp(r->arena + r->raw[i].key, key) == 0)
            return &r->raw[i];
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
