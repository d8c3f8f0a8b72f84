/*
 * The JSON/XML/CSV writers of the API objects. The
 * writers build text directly (attributes are stored as JSON text and are
 * copied verbatim), so a position costs one pass and no allocation besides
 * the buffer's own growth.
 */
#include "http/sbuf.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/text.h"
#include "trackd/record.h"

void td_json_str(td_sbuf *b, const char *s)
{
    if (!s) {
        td_sbuf_puts(b, "null");
        return;
    }
    td_sbuf_add(b, "\"", 1);
    const char *run = s;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p >= 0x20 && *p != '"' && *p != '\\')
            continue;
        td_sbuf_add(b, run, (size_t)((const char *)p - run));
        switch (*p) {
        case '"':
            td_sbuf_add(b, "\\\"", 2);
            break;
        case '\\':
            td_sbuf_add(b, "\\\\", 2);
            break;
        case '\n':
            td_sbuf_add(b, "\\n", 2);
            break;
        case '\r':
            td_sbuf_add(b, "\\r", 2);
            break;
        case '\t':
            td_sbuf_add(b, "\\t", 2);
            break;
        default:
            td_sbuf_printf(b, "\\u%04x", *p);
        }
        run = (const char *)p + 1;
    }
    td_sbuf_puts(b, run);
    td_sbuf_add(b, "\"", 1);
}

void td_json_time(td_sbuf *b, int64_t ms)
{
    char iso[40];
    if (!ms) {
        td_sbuf_puts(b, "null");
        return;
    }
    td_sbuf_printf(b, "\"%s\"", td_iso8601(ms, iso, sizeof(iso)));
}

void td_json_id(td_sbuf *b, int64_t id)
{
    if (id > 0)
        td_sbuf_printf(b, "%lld", (long long)id);
    else
        td_sbuf_puts(b, "null");
}

void td_json_double(td_sbuf *b, double v)
{
    if (!isfinite(v))
        td_sbuf_puts(b, "null");
    else if (v == floor(v) && fabs(v) < 1e15)
        td_sbuf_printf(b, "%.1f", v);
    else
        td_sbuf_printf(b, "%.10g", v);
}

void td_xml_text(td_sbuf *b, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '&':
            td_sbuf_puts(b, "&amp;");
            break;
        case '<':
            td_sbuf_puts(b, "&lt;");
            break;
        case '>':
            td_sbuf_puts(b, "&gt;");
            break;
        case '"':
            td_sbuf_puts(b, "&quot;");
            break;
        default:
            td_sbuf_add(b, s, 1);
        }
    }
}

void td_csv_field(td_sbuf *b, const char *s)
{
    if (!s)
        return;
    if (!strpbrk(s, ",\"\r\n")) {
        td_sbuf_puts(b, s);
        return;
    }
    td_sbuf_add(b, "\"", 1);
    for (; *s; s++) {
        if (*s == '"')
            td_sbuf_add(b, "\"", 1);
        td_sbuf_add(b, s, 1);
    }
    td_sbuf_add(b, "\"", 1);
}

static void alarms_array(td_sbuf *b, uint32_t alarms)
{
    bool first = true;
    td_sbuf_add(b, "[", 1);
    for (int i = 0; i < TD_ALARM_COUNT; i++) {
        if (!(alarms & TD_ALARM_BIT(i)))
            continue;
        if (!first)
            td_sbuf_add(b, ",", 1);
        td_json_str(b, td_alarm_name((td_alarm)i));
        first = false;
    }
    td_sbuf_add(b, "]", 1);
}

void td_json_position(td_sbuf *b, const td_store_position *p)
{
    td_sbuf_printf(b, "{\"id\":%lld,\"deviceId\":%lld,\"protocol\":", (long long)p->id,
                   (long long)p->device_id);
    td_json_str(b, p->protocol);
    td_sbuf_puts(b, ",\"type\":");
    td_json_str(b, td_rec_type_name(p->type));
    td_sbuf_puts(b, ",\"serverTime\":");
    td_json_time(b, p->server_ms);
    td_sbuf_puts(b, ",\"time\":");
    td_json_time(b, p->device_ms);
    td_sbuf_printf(b, ",\"valid\":%s", p->valid ? "true" : "false");
    if (p->located) {
        td_sbuf_puts(b, ",\"latitude\":");
        td_json_double(b, p->latitude);
        td_sbuf_puts(b, ",\"longitude\":");
        td_json_double(b, p->longitude);
    }
    if (p->type == TD_REC_POSITION) {
        td_sbuf_puts(b, ",\"speed\":");
        td_json_double(b, p->speed);
        td_sbuf_puts(b, ",\"course\":");
        td_json_double(b, p->course);
        td_sbuf_puts(b, ",\"altitude\":");
        td_json_double(b, p->altitude);
    }
    td_sbuf_puts(b, ",\"alarms\":");
    alarms_array(b, p->alarms);
    td_sbuf_puts(b, ",\"attributes\":");
    td_sbuf_puts(b, p->attributes && *p->attributes ? p->attributes : "{}");
    td_sbuf_add(b, "}", 1);
}

static void str_or_null(td_sbuf *b, const char *v)
{
    if (v)
        td_json_str(b, v);
    else
        td_sbuf_puts(b, "null");
}

/* A time, or null for 0 (not happened). */
static void time_or_null(td_sbuf *b, int64_t ms)
{
    if (ms)
        td_json_time(b, ms);
    else
        td_sbuf_puts(b, "null");
}

void td_json_event(td_sbuf *b, const td_store_event *e)
{
    td_sbuf_printf(b, "{\"id\":%lld,\"deviceId\":%lld,\"type\":", (long long)e->id,
                   (long long)e->device_id);
    td_json_str(b, e->type);
    td_sbuf_puts(b, ",\"time\":");
    td_json_time(b, e->time_ms);
    if (e->located) {
        td_sbuf_puts(b, ",\"latitude\":");
        td_json_double(b, e->latitude);
        td_sbuf_puts(b, ",\"longitude\":");
        td_json_double(b, e->longitude);
    } else {
        td_sbuf_puts(b, ",\"latitude\":null,\"longitude\":null");
    }
    td_sbuf_puts(b, ",\"positionId\":");
    td_json_id(b, e->position_id);
    td_sbuf_puts(b, ",\"attributes\":");
    td_sbuf_puts(b, e->attributes && *e->attributes ? e->attributes : "{}");
    td_sbuf_puts(b, ",\"state\":");
    td_json_str(b, e->state ? e->state : "new");
    td_sbuf_printf(b, ",\"critical\":%s,\"acknowledgedBy\":", e->critical ? "true" : "false");
    str_or_null(b, e->ack_user);
    td_sbuf_puts(b, ",\"acknowledgedAt\":");
    time_or_null(b, e->ack_ms);
    td_sbuf_puts(b, ",\"note\":");
    str_or_null(b, e->ack_note);
    td_sbuf_puts(b, ",\"closedAt\":");
    time_or_null(b, e->closed_ms);
    td_sbuf_add(b, "}", 1);
}

void td_json_device(td_sbuf *b, const td_device *d)
{
    const char *status = d->st.online ? "online" : d->st.last_seen_ms ? "offline" : "unknown";
    td_sbuf_printf(b, "{\"id\":%lld,\"uniqueId\":", (long long)d->st.id);
    td_json_str(b, d->st.unique_id);
    td_sbuf_puts(b, ",\"name\":");
    td_json_str(b, d->st.name[0] ? d->st.name : d->st.unique_id);
    td_sbuf_puts(b, ",\"protocol\":");
    td_json_str(b, d->st.protocol[0] ? d->st.protocol : NULL);
    td_sbuf_puts(b, ",\"status\":");
    td_json_str(b, status);
    td_sbuf_puts(b, ",\"lastSeen\":");
    td_json_time(b, d->st.last_seen_ms);
    td_sbuf_puts(b, ",\"lastPosition\":");
    td_sbuf_puts(b, d->latest ? d->latest : "null");
    td_sbuf_puts(b, ",\"ownerId\":");
    td_json_id(b, d->owner_id);
    td_sbuf_add(b, "}", 1);
}

void td_json_user(td_sbuf *b, const td_store_user *u)
{
    td_sbuf_printf(b, "{\"id\":%lld,\"name\":", (long long)u->id);
    td_json_str(b, u->name);
    td_sbuf_printf(b, ",\"admin\":%s}", u->admin ? "true" : "false");
}
