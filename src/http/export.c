/*
 * History export (GPX 1.1, KML 2.2, CSV) and the Prometheus /metrics page.
 *
 * Exports stream: the store is read in pages of EXPORT_PAGE records with
 * keyset paging, each page is turned into text and written before the
 * next is read, so memory stays bounded whatever the history's size. GPX
 * and KML carry the valid fixes as a track; CSV carries every record.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/text.h"
#include "http/internal.h"
#include "notify/notify.h"
#include "protocols/registry.h"
#include "trackd/record.h"

#define EXPORT_PAGE 1000

enum export_format { GPX, KML, CSV };

typedef struct export_state {
    int64_t device_id;
    char unique_id[TD_DEVICE_ID_MAX];
    char name[64];
    int64_t from, to, after;
    enum export_format format;
    bool started, finished;
    int rows;
    td_sbuf *out;
} export_state;

static void begin(export_state *x, td_sbuf *b)
{
    switch (x->format) {
    case GPX:
        td_sbuf_puts(b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                        "<gpx version=\"1.1\" creator=\"trackd\""
                        " xmlns=\"http://www.topografix.com/GPX/1/1\">\n<trk><name>");
        td_xml_text(b, x->name);
        td_sbuf_puts(b, "</name><trkseg>\n");
        break;
    case KML:
        td_sbuf_puts(b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                        "<kml xmlns=\"http://www.opengis.net/kml/2.2\"><Document><name>");
        td_xml_text(b, x->name);
        td_sbuf_puts(b, "</name><Placemark><name>");
        td_xml_text(b, x->name);
        td_sbuf_puts(b, "</name><LineString><tessellate>1</tessellate><coordinates>\n");
        break;
    case CSV:
        td_sbuf_puts(b, "id,deviceId,uniqueId,protocol,type,time,serverTime,valid,latitude,"
                        "longitude,speed,course,altitude,alarms,attributes\r\n");
        break;
    }
}

static void end(export_state *x, td_sbuf *b)
{
    if (x->format == GPX)
        td_sbuf_puts(b, "</trkseg></trk>\n</gpx>\n");
    else if (x->format == KML)
        td_sbuf_puts(b, "</coordinates></LineString></Placemark></Document></kml>\n");
}

static int export_row(void *arg, const td_store_position *p)
{
    export_state *x = arg;
    td_sbuf *b = x->out;
    char t[40], st[40];
    x->after = p->id;
    x->rows++;
    bool fix = p->type == TD_REC_POSITION && p->valid && p->located;

    switch (x->format) {
    case GPX:
        if (!fix)
            return 0;
        td_sbuf_printf(
            b, "<trkpt lat=\"%.7f\" lon=\"%.7f\"><ele>%.1f</ele><time>%s</time></trkpt>\n",
            p->latitude, p->longitude, p->altitude, td_iso8601(p->device_ms, t, sizeof(t)));
        break;
    case KML:
        if (!fix)
            return 0;
        td_sbuf_printf(b, "%.7f,%.7f,%.1f\n", p->longitude, p->latitude, p->altitude);
        break;
    case CSV: {
        char alarms[256] = "";
        size_t n = 0;
        for (int i = 0; i < TD_ALARM_COUNT; i++)
            if (p->alarms & TD_ALARM_BIT(i))
                n += (size_t)snprintf(alarms + n, sizeof(alarms) - n, "%s%s", n ? " " : "",
                                      td_alarm_name((td_alarm)i));
        td_sbuf_printf(b, "%lld,%lld,", (long long)p->id, (long long)p->device_id);
        td_csv_field(b, x->unique_id);
        td_sbuf_printf(b, ",%s,%s,%s,%s,%s,", p->protocol ? p->protocol : "",
                       td_rec_type_name(p->type), td_iso8601(p->device_ms, t, sizeof(t)),
                       td_iso8601(p->server_ms, st, sizeof(st)), p->valid ? "true" : "false");
        if (p->located)
            td_sbuf_printf(b, "%.7f,%.7f", p->latitude, p->longitude);
        else
            td_sbuf_puts(b, ",");
        if (p->type == TD_REC_POSITION)
            td_sbuf_printf(b, ",%.2f,%.1f,%.1f,", p->speed, p->course, p->altitude);
        else
            td_sbuf_puts(b, ",,,,");
        td_csv_field(b, alarms);
        td_sbuf_puts(b, ",");
        td_csv_field(b, p->attributes ? p->attributes : "{}");
        td_sbuf_puts(b, "\r\n");
        break;
    }
    }
    return 0;
}

/* The stream generator: the header, then pages until one comes back short. */
static int export_next(td_req *r, td_sbuf *out)
{
    export_state *x = r->stream_state;
    td_store *s = td_gw_store(r->h->srv);

    if (!x->started) {
        begin(x, out);
        x->started = true;
    }
    while (out->len == 0 || !x->started) {
        x->rows = 0;
        x->out = out;
        if (s->ops->query(s, x->device_id, x->from, x->to, x->after, EXPORT_PAGE, export_row, x))
            return -1;
        if (x->rows < EXPORT_PAGE) {
            end(x, out);
            return 0;
        }
    }
    return 1;
}

void td_export_start(td_req *r, td_device *d, int64_t from, int64_t to, const char *format);

void td_export_start(td_req *r, td_device *d, int64_t from, int64_t to, const char *format)
{
    static const char *const ctypes[] = {
        "application/gpx+xml", "application/vnd.google-earth.kml+xml", "text/csv; charset=utf-8"};
    export_state *x = calloc(1, sizeof(*x));
    char filename[128];
    if (!x) {
        td_reply_error(r, 500, "out of memory");
        return;
    }
    x->device_id = d->st.id;
    snprintf(x->unique_id, sizeof(x->unique_id), "%s", d->st.unique_id);
    snprintf(x->name, sizeof(x->name), "%s", d->st.name[0] ? d->st.name : d->st.unique_id);
    x->from = from;
    x->to = to;
    x->format = !strcmp(format, "gpx") ? GPX : !strcmp(format, "kml") ? KML : CSV;
    snprintf(filename, sizeof(filename), "%s.%s", x->unique_id, format);
    td_reply_stream(r, ctypes[x->format], filename, export_next, x, free);
}

/* ---- /metrics ----------------------------------------------------------- */

struct dev_count {
    uint64_t online, total;
};

static int count_device(void *arg, td_device *d)
{
    struct dev_count *c = arg;
    c->total++;
    c->online += d->st.online;
    return 0;
}

static void per_protocol(td_sbuf *b, const char *name, const char *type, const char *help,
                         const td_gw_stats *st, size_t field)
{
    td_sbuf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
    for (size_t i = 0; i < td_protocol_count && i < TD_MAX_PROTOCOLS; i++) {
        const uint64_t *v = (const uint64_t *)((const char *)&st->proto[i] + field);
        td_sbuf_printf(b, "%s{protocol=\"%s\"} %llu\n", name, td_protocols[i]->name,
                       (unsigned long long)*v);
    }
}

void td_metrics(td_req *r);

void td_metrics(td_req *r)
{
    td_server *srv = r->h->srv;
    const td_gw_stats *st = td_gw_stats_get(srv);
    uint64_t tcp[TD_MAX_PROTOCOLS + 1], udp[TD_MAX_PROTOCOLS + 1];
    struct dev_count dc = {0, 0};
    size_t np = td_protocol_count < TD_MAX_PROTOCOLS ? td_protocol_count : TD_MAX_PROTOCOLS - 1;
    td_sbuf b;

    td_gw_connections(srv, tcp, udp);
    td_gw_each_device(srv, count_device, &dc);
    td_sbuf_init(&b, LWS_PRE);
    td_sbuf_puts(&b, "# HELP trackd_connections Open device TCP connections and bound UDP peers"
                     " by protocol (\"none\": not yet detected).\n"
                     "# TYPE trackd_connections gauge\n");
    for (size_t i = 0; i <= np; i++) {
        const char *name = i < np ? td_protocols[i]->name : "none";
        td_sbuf_printf(&b, "trackd_connections{protocol=\"%s\",transport=\"tcp\"} %llu\n", name,
                       (unsigned long long)tcp[i]);
        td_sbuf_printf(&b, "trackd_connections{protocol=\"%s\",transport=\"udp\"} %llu\n", name,
                       (unsigned long long)udp[i]);
    }
    per_protocol(&b, "trackd_frames_total", "counter", "Frames received by protocol.", st,
                 offsetof(td_proto_stats, frames));
    per_protocol(&b, "trackd_records_total", "counter", "Records decoded by protocol.", st,
                 offsetof(td_proto_stats, records));
    per_protocol(&b, "trackd_decode_errors_total", "counter",
                 "Frames that failed to decode, by protocol.", st,
                 offsetof(td_proto_stats, decode_errors));
    td_sbuf_printf(&b,
                   "# HELP trackd_unknown_traffic_total Connections and datagrams no protocol"
                   " recognised, and refused devices.\n"
                   "# TYPE trackd_unknown_traffic_total counter\n"
                   "trackd_unknown_traffic_total %llu\n",
                   (unsigned long long)st->unknown_frames);
    td_sbuf_printf(&b,
                   "# HELP trackd_devices Devices known, and online now.\n"
                   "# TYPE trackd_devices gauge\n"
                   "trackd_devices{status=\"all\"} %llu\n"
                   "trackd_devices{status=\"online\"} %llu\n",
                   (unsigned long long)dc.total, (unsigned long long)dc.online);
    td_sbuf_puts(&b, "# HELP trackd_store_commit_seconds Time to write one group commit"
                     " (a batch of records) durably.\n"
                     "# TYPE trackd_store_commit_seconds histogram\n");
    uint64_t ok = st->commits - st->commit_failures;
    for (int i = 0; i < TD_COMMIT_BUCKETS; i++)
        td_sbuf_printf(&b, "trackd_store_commit_seconds_bucket{le=\"%g\"} %llu\n",
                       td_commit_bucket_bounds[i], (unsigned long long)st->commit_buckets[i]);
    td_sbuf_printf(&b,
                   "trackd_store_commit_seconds_bucket{le=\"+Inf\"} %llu\n"
                   "trackd_store_commit_seconds_sum %.6f\n"
                   "trackd_store_commit_seconds_count %llu\n",
                   (unsigned long long)ok, st->commit_seconds, (unsigned long long)ok);
    td_sbuf_printf(&b,
                   "# HELP trackd_store_commit_failures_total Group commits that failed (their"
                   " records were not acknowledged).\n"
                   "# TYPE trackd_store_commit_failures_total counter\n"
                   "trackd_store_commit_failures_total %llu\n"
                   "# HELP trackd_store_rows_total Records written to the store.\n"
                   "# TYPE trackd_store_rows_total counter\n"
                   "trackd_store_rows_total %llu\n",
                   (unsigned long long)st->commit_failures, (unsigned long long)st->committed_rows);
    td_sbuf_printf(&b,
                   "# HELP trackd_retention_purged_records_total Records deleted for being older"
                   " than --retention-days.\n"
                   "# TYPE trackd_retention_purged_records_total counter\n"
                   "trackd_retention_purged_records_total %llu\n"
                   "# HELP trackd_retention_batches_total Retention batches run (one transaction"
                   " each), and those that failed.\n"
                   "# TYPE trackd_retention_batches_total counter\n"
                   "trackd_retention_batches_total{outcome=\"ok\"} %llu\n"
                   "trackd_retention_batches_total{outcome=\"failed\"} %llu\n"
                   "# HELP trackd_retention_passes_total Retention passes completed.\n"
                   "# TYPE trackd_retention_passes_total counter\n"
                   "trackd_retention_passes_total %llu\n"
                   "# HELP trackd_retention_seconds_total Time the store's writer spent on"
                   " retention batches.\n"
                   "# TYPE trackd_retention_seconds_total counter\n"
                   "trackd_retention_seconds_total %.6f\n",
                   (unsigned long long)st->retention_rows,
                   (unsigned long long)(st->retention_batches - st->retention_failures),
                   (unsigned long long)st->retention_failures,
                   (unsigned long long)st->retention_passes, st->retention_seconds);
    td_sbuf_printf(&b,
                   "# HELP trackd_websocket_clients Connected live-feed (WebSocket) clients.\n"
                   "# TYPE trackd_websocket_clients gauge\n"
                   "trackd_websocket_clients %u\n"
                   "# HELP trackd_websocket_messages_total Messages queued to live-feed clients.\n"
                   "# TYPE trackd_websocket_messages_total counter\n"
                   "trackd_websocket_messages_total %llu\n"
                   "# HELP trackd_websocket_dropped_total Live-feed clients disconnected for"
                   " falling behind.\n"
                   "# TYPE trackd_websocket_dropped_total counter\n"
                   "trackd_websocket_dropped_total %llu\n",
                   r->h->nclients, (unsigned long long)r->h->ws_messages,
                   (unsigned long long)r->h->ws_dropped);
    /* Limits: what is in force, and how often each was hit. */
    const td_config *cfg = r->h->cfg;
    td_sbuf_printf(&b,
                   "# HELP trackd_limits Limits in force (0: none).\n"
                   "# TYPE trackd_limits gauge\n"
                   "trackd_limits{limit=\"open_files\"} %llu\n"
                   "trackd_limits{limit=\"connections\"} %llu\n"
                   "trackd_limits{limit=\"connections_per_address\"} %d\n"
                   "trackd_limits{limit=\"udp_rate\"} %d\n"
                   "trackd_limits{limit=\"udp_burst\"} %d\n"
                   "trackd_limits{limit=\"udp_peers\"} %d\n"
                   "trackd_limits{limit=\"ban_after\"} %d\n"
                   "trackd_limits{limit=\"ban_seconds\"} %d\n"
                   "trackd_limits{limit=\"http_connections\"} %d\n"
                   "trackd_limits{limit=\"websocket_clients\"} %d\n",
                   (unsigned long long)st->fd_limit, (unsigned long long)st->max_conns,
                   cfg->max_conns_per_ip, cfg->udp_rate, cfg->udp_burst, cfg->max_udp_peers,
                   cfg->ban_after, cfg->ban_seconds, cfg->http_max_conns, cfg->ws_max_clients);
    td_sbuf_puts(&b, "# HELP trackd_limit_hits_total Connections refused or closed, datagrams"
                     " dropped and requests refused because a limit was reached, by limit.\n"
                     "# TYPE trackd_limit_hits_total counter\n");
    for (int i = 0; i < TD_LIMIT_COUNT; i++)
        td_sbuf_printf(&b, "trackd_limit_hits_total{limit=\"%s\"} %llu\n", td_limit_names[i],
                       (unsigned long long)st->limit_hits[i]);
    td_sbuf_printf(&b,
                   "# HELP trackd_http_connections Open HTTP and WebSocket connections.\n"
                   "# TYPE trackd_http_connections gauge\n"
                   "trackd_http_connections %u\n"
                   "# HELP trackd_udp_rate_addresses Source addresses with a UDP rate bucket.\n"
                   "# TYPE trackd_udp_rate_addresses gauge\n"
                   "trackd_udp_rate_addresses %llu\n"
                   "# HELP trackd_banned_addresses Addresses whose new connections (tcp) or"
                   " datagrams (udp) the kernel drops now (--ban-after).\n"
                   "# TYPE trackd_banned_addresses gauge\n"
                   "trackd_banned_addresses{transport=\"tcp\"} %llu\n"
                   "trackd_banned_addresses{transport=\"udp\"} %llu\n",
                   r->h->nconns, (unsigned long long)st->udp_buckets,
                   (unsigned long long)st->banned[0], (unsigned long long)st->banned[1]);
    /* Notifications: the outbox by state, and the deliverer's attempts. */
    td_store *s = td_gw_store(srv);
    int64_t pending, sent, failed;
    td_notify_stats ns = {0};
    td_notify_stats_get(td_gw_notify(srv), &ns);
    if (s->ops->outbox_counts(s, &pending, &sent, &failed) == 0)
        td_sbuf_printf(&b,
                       "# HELP trackd_notifications Notification deliveries in the outbox by"
                       " state.\n"
                       "# TYPE trackd_notifications gauge\n"
                       "trackd_notifications{state=\"pending\"} %lld\n"
                       "trackd_notifications{state=\"sent\"} %lld\n"
                       "trackd_notifications{state=\"failed\"} %lld\n",
                       (long long)pending, (long long)sent, (long long)failed);
    td_sbuf_printf(&b,
                   "# HELP trackd_notification_attempts_total Delivery attempts by outcome.\n"
                   "# TYPE trackd_notification_attempts_total counter\n"
                   "trackd_notification_attempts_total{outcome=\"delivered\"} %llu\n"
                   "trackd_notification_attempts_total{outcome=\"failed\"} %llu\n"
                   "trackd_notification_attempts_total{outcome=\"given_up\"} %llu\n",
                   ns.delivered, ns.failed_attempts, ns.given_up);
    int64_t commands[TD_COMMAND_STATUSES];
    if (s->ops->command_counts(s, commands) == 0) {
        td_sbuf_puts(&b, "# HELP trackd_commands Commands to devices by status.\n"
                         "# TYPE trackd_commands gauge\n");
        for (int i = 0; i < TD_COMMAND_STATUSES; i++)
            td_sbuf_printf(&b, "trackd_commands{status=\"%s\"} %lld\n", td_command_statuses[i],
                           (long long)commands[i]);
    }
    if (b.oom) {
        td_sbuf_free(&b);
        td_reply_error(r, 500, "out of memory");
        return;
    }
    td_reply(r, 200, "text/plain; version=0.0.4; charset=utf-8", td_sbuf_text(&b), b.len);
    td_sbuf_free(&b);
}
