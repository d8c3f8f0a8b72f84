/*
 * Configuration table and parsing. Options are one sentinel-terminated
 * table; the command line and the config file go through the same setter,
 * so they accept the same names and values.
 */
#include "core/config.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "trackd/error.h"

enum opt_kind { OPT_INT, OPT_BOOL, OPT_STR, OPT_STR0, OPT_LEVEL, OPT_FILE };

typedef struct opt {
    const char *name;
    enum opt_kind kind;
    size_t off;    /* offset in td_config */
    size_t size;   /* OPT_STR: buffer size */
    long min, max; /* OPT_INT range */
    const char *help;
} opt;

#define F(field) offsetof(td_config, field)
#define SZ(field) sizeof(((td_config *)0)->field)

static const opt opts[] = {
    {"port", OPT_INT, F(port), 0, 0, 65535, "device port, TCP and UDP (default 8888)"},
    {"listen", OPT_STR, F(listen), sizeof(((td_config *)0)->listen), 0, 0,
     "address to listen on (default ::, all IPv6 and IPv4)"},
    {"http-port", OPT_INT, F(http_port), 0, 0, 65535, "HTTP API and web UI port (default 8082)"},
    {"db", OPT_STR, F(db), sizeof(((td_config *)0)->db), 0, 0,
     "store: SQLite file path (default trackd.db)"},
    {"config", OPT_FILE, 0, 0, 0, 0, "read options from FILE (name = value lines)"},
    {"register-unknown", OPT_BOOL, F(register_unknown), 0, 0, 0,
     "register devices not yet in the store (default true)"},
    {"idle-timeout", OPT_INT, F(idle_timeout), 0, 1, 86400 * 7,
     "seconds of silence before a TCP connection is closed (default 1800)"},
    {"detect-timeout", OPT_INT, F(detect_timeout), 0, 1, 3600,
     "seconds to recognise a new connection's protocol (default 30)"},
    {"udp-timeout", OPT_INT, F(udp_timeout), 0, 1, 86400,
     "seconds a UDP address stays bound to its device (default 300)"},
    {"batch-max", OPT_INT, F(batch_max), 0, 100, 1000000,
     "records waiting for a commit before reading pauses (default 50000)"},
    {"frame-timeout", OPT_INT, F(frame_timeout), 0, 1, 3600,
     "seconds a frame that has started arriving has to complete (default 120)"},
    {"max-connections", OPT_INT, F(max_conns), 0, 0, 10000000,
     "device TCP connections at once; 0 = as many as the open-file limit allows (default 0)"},
    {"max-connections-per-ip", OPT_INT, F(max_conns_per_ip), 0, 0, 10000000,
     "device TCP connections from one address (IPv6: one /64); 0 = no limit (default 4096)"},
    {"write-queue-max", OPT_INT, F(write_queue_max), 0, 16, 1048576,
     "KiB of replies and commands queued for a device that does not read them before its"
     " connection is closed (default 256)"},
    {"udp-rate", OPT_INT, F(udp_rate), 0, 0, 1000000,
     "UDP datagrams per second taken from one address (IPv6: one /64); 0 = no limit"
     " (default 200)"},
    {"udp-burst", OPT_INT, F(udp_burst), 0, 1, 1000000,
     "UDP datagrams one address may send at once before --udp-rate applies (default 1000)"},
    {"max-udp-peers", OPT_INT, F(max_udp_peers), 0, 1, 100000000,
     "UDP peers (source address and port) kept at once; past it the one heard least recently"
     " is forgotten (default 200000)"},
    {"ban-after", OPT_INT, F(ban_after), 0, 0, 10000000,
     "connections refused over --max-connections-per-ip or closed for bad traffic (or UDP"
     " datagrams dropped over --udp-rate) from one address within 10 s that ban it: the kernel"
     " then drops its new"
     " connections (datagrams) for --ban-seconds; 0 = never ban (default 1000)"},
    {"ban-seconds", OPT_INT, F(ban_seconds), 0, 1, 86400, "how long a ban lasts (default 60)"},
    {"retention-days", OPT_INT, F(retention_days), 0, 0, 36500,
     "days records are kept, by their device time; older ones are purged in the background,"
     " each device's newest record excepted (default 0: kept forever)"},
    {"reply-timezone", OPT_INT, F(reply_tz), 0, -720, 840,
     "minutes east of UTC sent to devices that ask for local time (default 0)"},
    {"log-level", OPT_LEVEL, F(log_level), 0, 0, 0, "debug, info, warn or error (default info)"},
    {"admin-password", OPT_STR, F(admin_password), sizeof(((td_config *)0)->admin_password), 0, 0,
     "password of the 'admin' user created on first start (default: generated and logged;"
     " also TRACKD_ADMIN_PASSWORD)"},
    {"web-root", OPT_STR, F(web_root), sizeof(((td_config *)0)->web_root), 0, 0,
     "directory of the built web UI (default: the build's web/)"},
    {"tile-url", OPT_STR0, F(tile_url), sizeof(((td_config *)0)->tile_url), 0, 0,
     "map tile URL template for the web UI (default OpenStreetMap; empty = no tiles)"},
    {"tile-attribution", OPT_STR0, F(tile_attribution), sizeof(((td_config *)0)->tile_attribution),
     0, 0, "attribution shown under the map tiles"},
    {"session-timeout", OPT_INT, F(session_timeout), 0, 1, 86400 * 365,
     "seconds a web login lasts (default 604800, 7 days)"},
    {"token-days", OPT_INT, F(token_days), 0, 1, 3650, "days an API token lasts (default 365)"},
    {"login-rate", OPT_INT, F(login_rate), 0, 1, 100000,
     "failed logins allowed per address per minute (default 10)"},
    {"ws-queue", OPT_INT, F(ws_queue), 0, 4, 100000,
     "messages queued per WebSocket client before it is dropped (default 1024)"},
    {"ws-max-clients", OPT_INT, F(ws_max_clients), 0, 1, 100000,
     "live-feed (WebSocket) clients at once; more are refused with 503 (default 256)"},
    {"http-max-connections", OPT_INT, F(http_max_conns), 0, 4, 100000,
     "HTTP and WebSocket connections at once; more are closed at once (default 512)"},
    {"metrics-auth", OPT_BOOL, F(metrics_auth), 0, 0, 0,
     "/metrics answers only an admin's login or API token (Authorization: Bearer); without it"
     " anyone who reaches the HTTP port may read it (default false)"},
    {"http-header-max", OPT_INT, F(http_header_max), 0, 1024, 65535,
     "bytes of an HTTP request line and headers; longer requests are closed (default 4096)"},
    {"critical-events", OPT_STR0, F(critical_events), SZ(critical_events), 0, 0,
     "event types that stay open until acknowledged and are re-notified (default sos,fall)"},
    {"renotify-interval", OPT_INT, F(renotify_interval), 0, 0, 86400,
     "seconds between re-notifications of an unacknowledged critical event; 0 = off"
     " (default 300)"},
    {"geofence-margin", OPT_INT, F(geofence_margin), 0, 0, 10000,
     "metres a fix must be past a geofence's edge to count as crossing it (default 20)"},
    {"notify-retry-max", OPT_INT, F(notify_retry_max), 0, 1, 86400,
     "longest wait between attempts to deliver a notification, seconds (default 600)"},
    {"notify-expire", OPT_INT, F(notify_expire), 0, 1, 24 * 365,
     "hours a notification is retried before it is given up (default 48)"},
    {"notify-timeout", OPT_INT, F(notify_timeout), 0, 1, 600,
     "seconds one delivery attempt may take (default 10)"},
    {"smtp-url", OPT_STR0, F(smtp_url), SZ(smtp_url), 0, 0,
     "mail server for e-mail notifications, smtp://host:port or smtps://host:port (default: none)"},
    {"smtp-from", OPT_STR0, F(smtp_from), SZ(smtp_from), 0, 0,
     "sender address of notification e-mails (default trackd@localhost)"},
    {"smtp-user", OPT_STR0, F(smtp_user), SZ(smtp_user), 0, 0, "SMTP user name (default: none)"},
    {"smtp-password", OPT_STR0, F(smtp_password), SZ(smtp_password), 0, 0, "SMTP password"},
    {"mqtt-url", OPT_STR0, F(mqtt_url), SZ(mqtt_url), 0, 0,
     "MQTT broker for notifications, mqtt://host:port (default: none)"},
    {"mqtt-topic", OPT_STR0, F(mqtt_topic), SZ(mqtt_topic), 0, 0,
     "default MQTT topic template; {uniqueId}, {deviceId}, {type} are replaced"
     " (default trackd/{uniqueId}/events/{type})"},
    {"mqtt-user", OPT_STR0, F(mqtt_user), SZ(mqtt_user), 0, 0, "MQTT user name (default: none)"},
    {"mqtt-password", OPT_STR0, F(mqtt_password), SZ(mqtt_password), 0, 0, "MQTT password"},
    {"webhook-allow-local", OPT_BOOL, F(webhook_allow_local), 0, 0, 0,
     "let every user's webhooks post to loopback, private and link-local addresses; without it"
     " only admins' channels may (default false)"},
    {"command-expire", OPT_INT, F(command_expire), 0, 1, 86400 * 365,
     "seconds from queueing after which a command not yet delivered, or delivered and not"
     " answered, expires (default 86400)"},
    {"udp-fresh", OPT_INT, F(udp_fresh), 0, 0, 86400,
     "seconds after a UDP device's last datagram during which a command is sent to its"
     " address at once; later ones wait for its next datagram (default 60)"},
    {"media-dir", OPT_STR0, F(media_dir), SZ(media_dir), 0, 0,
     "directory for voice messages (default: the --db path with .media appended)"},
    {NULL, 0, 0, 0, 0, 0, NULL},
};

void td_config_defaults(td_config *c)
{
    memset(c, 0, sizeof(*c));
    snprintf(c->listen, sizeof(c->listen), "::");
    c->port = 8888;
    c->http_port = 8082;
    snprintf(c->db, sizeof(c->db), "trackd.db");
    c->register_unknown = true;
    c->idle_timeout = 1800;
    c->detect_timeout = 30;
    c->udp_timeout = 300;
    c->batch_max = 50000;
    c->frame_timeout = 120;
    c->max_conns = 0;
    c->max_conns_per_ip = 4096;
    c->write_queue_max = 256;
    c->udp_rate = 200;
    c->udp_burst = 1000;
    c->max_udp_peers = 200000;
    c->ban_after = 1000;
    c->ban_seconds = 60;
    c->reply_tz = 0;
    c->log_level = TD_LOG_INFO;
#ifdef TRACKD_WEB_ROOT
    snprintf(c->web_root, sizeof(c->web_root), "%s", TRACKD_WEB_ROOT);
#endif
    snprintf(c->tile_url, sizeof(c->tile_url), "https://tile.openstreetmap.org/{z}/{x}/{y}.png");
    snprintf(c->tile_attribution, sizeof(c->tile_attribution), "&copy; OpenStreetMap contributors");
    c->session_timeout = 7 * 86400;
    c->token_days = 365;
    c->login_rate = 10;
    c->ws_queue = 1024;
    c->ws_max_clients = 256;
    c->http_max_conns = 512;
    c->http_header_max = 4096;
    snprintf(c->critical_events, sizeof(c->critical_events), "sos,fall");
    c->renotify_interval = 300;
    c->geofence_margin = 20;
    c->notify_retry_max = 600;
    c->notify_expire = 48;
    c->notify_timeout = 10;
    snprintf(c->smtp_from, sizeof(c->smtp_from), "trackd@localhost");
    snprintf(c->mqtt_topic, sizeof(c->mqtt_topic), "trackd/{uniqueId}/events/{type}");
    c->command_expire = 86400;
    c->udp_fresh = 60;
}

static const opt *find(const char *name, size_t len)
{
    for (const opt *o = opts; o->name; o++)
        if (strlen(o->name) == len && strncmp(o->name, name, len) == 0)
            return o;
    return NULL;
}

static int set(td_config *c, const opt *o, const char *val, int depth, char *err, size_t errcap)
{
    char *p = (char *)c + o->off;
    char *end;

    switch (o->kind) {
    case OPT_INT: {
        errno = 0;
        long v = strtol(val, &end, 10);
        if (errno || end == val || *end || v < o->min || v > o->max) {
            snprintf(err, errcap, "--%s: '%s' is not a number from %ld to %ld", o->name, val,
                     o->min, o->max);
            return TD_EINVAL;
        }
        *(int *)p = (int)v;
        return 0;
    }
    case OPT_BOOL:
        if (!strcmp(val, "true") || !strcmp(val, "1") || !strcmp(val, "yes")) {
            *(bool *)p = true;
        } else if (!strcmp(val, "false") || !strcmp(val, "0") || !strcmp(val, "no")) {
            *(bool *)p = false;
        } else {
            snprintf(err, errcap, "--%s: '%s' is not true or false", o->name, val);
            return TD_EINVAL;
        }
        return 0;
    case OPT_STR:
    case OPT_STR0:
        if (strlen(val) >= o->size || (!*val && o->kind == OPT_STR)) {
            snprintf(err, errcap, "--%s: value must be 1 to %zu characters", o->name, o->size - 1);
            return TD_EINVAL;
        }
        snprintf(p, o->size, "%s", val);
        return 0;
    case OPT_LEVEL: {
        int level = td_log_level_from_name(val);
        if (level < 0) {
            snprintf(err, errcap, "--log-level: '%s' is not debug, info, warn or error", val);
            return TD_EINVAL;
        }
        *(int *)p = level;
        return 0;
    }
    case OPT_FILE:
        if (depth > 0) {
            snprintf(err, errcap, "config: 'config' cannot be nested in a config file");
            return TD_EINVAL;
        }
        return td_config_load_file(c, val, err, errcap);
    }
    return TD_EINVAL;
}

int td_config_load_file(td_config *c, const char *path, char *err, size_t errcap)
{
    FILE *f = fopen(path, "r");
    char line[1024];
    int lineno = 0, rc = 0;

    if (!f) {
        snprintf(err, errcap, "config: cannot open '%s': %s", path, strerror(errno));
        return TD_EIO;
    }
    while (!rc && fgets(line, sizeof(line), f)) {
        char *s = line, *e;
        lineno++;
        s[strcspn(s, "\r\n")] = '\0';
        while (*s == ' ' || *s == '\t')
            s++;
        if (!*s || *s == '#')
            continue;
        size_t klen = strcspn(s, " \t=");
        const opt *o = find(s, klen);
        if (!o) {
            snprintf(err, errcap, "%s:%d: unknown option '%.*s'", path, lineno, (int)klen, s);
            rc = TD_EINVAL;
            break;
        }
        char *v = s + klen;
        while (*v == ' ' || *v == '\t' || *v == '=')
            v++;
        e = v + strlen(v);
        while (e > v && (e[-1] == ' ' || e[-1] == '\t'))
            *--e = '\0';
        char sub[256];
        rc = set(c, o, v, 1, sub, sizeof(sub));
        if (rc)
            snprintf(err, errcap, "%s:%d: %s", path, lineno, sub);
    }
    fclose(f);
    return rc;
}

int td_config_parse(td_config *c, int argc, char **argv, int first, char *err, size_t errcap)
{
    for (int i = first; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            td_config_usage(stdout);
            return 1;
        }
        if (strncmp(a, "--", 2) != 0) {
            snprintf(err, errcap, "unexpected argument '%s' (see --help)", a);
            return TD_EINVAL;
        }
        const char *name = a + 2, *eq = strchr(name, '=');
        const opt *o = find(name, eq ? (size_t)(eq - name) : strlen(name));
        if (!o) {
            snprintf(err, errcap, "unknown option '%s' (see --help)", a);
            return TD_EINVAL;
        }
        const char *val;
        if (eq)
            val = eq + 1;
        else if (o->kind == OPT_BOOL && (i + 1 >= argc || strncmp(argv[i + 1], "--", 2) == 0))
            val = "true";
        else if (i + 1 < argc)
            val = argv[++i];
        else {
            snprintf(err, errcap, "option '--%s' needs a value", o->name);
            return TD_EINVAL;
        }
        int rc = set(c, o, val, 0, err, errcap);
        if (rc)
            return rc;
    }
    return 0;
}

void td_config_usage(FILE *out)
{
    fprintf(out, "Options for 'trackd serve' (also settable as 'name = value' in --config):\n");
    for (const opt *o = opts; o->name; o++) {
        char flag[48];
        snprintf(flag, sizeof(flag), "--%s%s", o->name,
                 o->kind == OPT_BOOL   ? "[=BOOL]"
                 : o->kind == OPT_FILE ? " FILE"
                                       : " VALUE");
        fprintf(out, "  %-32s %s\n", flag, o->help);
    }
}
