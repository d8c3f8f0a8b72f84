/*
 * Server configuration: defaults, then the --config file, then command-line
 * flags, in that order. Every flag can be written in the file as
 * "name = value" (the flag's name without the dashes).
 */
#ifndef TRACKD_CONFIG_H
#define TRACKD_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

typedef struct td_config {
    char listen[64];       /* address for the device port; "::" = all, v4+v6 */
    int port;              /* device port, TCP and UDP; 0 = ephemeral */
    int http_port;         /* HTTP API / web UI port */
    char db[512];          /* store target: a path or postgresql:// URL */
    bool register_unknown; /* auto-register devices not in the store */
    int idle_timeout;      /* seconds without data before a TCP close */
    int detect_timeout;    /* seconds to detect a TCP connection's protocol */
    int udp_timeout;       /* seconds a UDP peer stays bound to its device */
    int batch_max;         /* records buffered before reads pause */
    int frame_timeout;     /* seconds a started frame has to complete */
    int max_conns;         /* device TCP connections at once; 0 = from the fd limit */
    int max_conns_per_ip;  /* device TCP connections per address (IPv6: per /64); 0 = any */
    int write_queue_max;   /* KiB written to a connection and not yet taken by its peer */
    int udp_rate;          /* datagrams per second per address; 0 = unlimited */
    int udp_burst;         /* datagrams an address may send at once above udp_rate */
    int max_udp_peers;     /* UDP source addresses and ports bound at once */
    int ban_after;         /* per-address limit hits within 10 s that ban the address; 0 = never */
    int ban_seconds;       /* how long a ban lasts */
    int retention_days;    /* records older than this (device time) are purged; 0 = kept */
    int reply_tz;          /* minutes east of UTC for replies carrying time */
    int log_level;

    /* HTTP API, WebSocket and web UI */
    char admin_password[128]; /* password for the bootstrap admin; "" = generate */
    char web_root[512];       /* directory of the built web UI */
    char tile_url[512];       /* map tile URL template for the UI ("" = no tiles) */
    char tile_attribution[256];
    int session_timeout; /* seconds a login session lasts */
    int token_days;      /* days an API token lasts */
    int login_rate;      /* failed logins per address per minute before 429 */
    int ws_queue;        /* messages queued per WebSocket client before it is dropped */
    int ws_max_clients;  /* live-feed clients at once */
    int http_max_conns;  /* HTTP and WebSocket connections at once */
    int http_header_max; /* bytes of request line and headers */
    bool metrics_auth;   /* /metrics only for an admin's session or API token */

    /* Alerts: events, rules and notifications */
    char critical_events[256]; /* event types that stay open until acknowledged */
    int renotify_interval;     /* seconds between re-notifications of open critical events */
    int geofence_margin;       /* metres a fix must be past a geofence edge to cross it */
    int notify_retry_max;      /* longest wait between delivery attempts, seconds */
    int notify_expire;         /* hours a notification is retried before it is failed */
    int notify_timeout;        /* seconds one delivery attempt may take */
    char smtp_url[256];        /* smtp://host:port or smtps://...; "" = e-mail off */
    char smtp_from[128];
    char smtp_user[128];
    char smtp_password[128];
    char mqtt_url[256]; /* mqtt://host:port; "" = MQTT off */
    char mqtt_topic[256];
    char mqtt_user[128];
    char mqtt_password[128];
    bool webhook_allow_local; /* every user's webhooks may post to local networks */

    /* Commands and voice */
    int command_expire;  /* seconds a queued command waits for its device */
    int udp_fresh;       /* seconds a UDP device's last address is used for a command */
    char media_dir[512]; /* voice files; "" = "<db>.media" next to a SQLite file */
} td_config;

void td_config_defaults(td_config *c);

/*
 * Parses argv[first..argc) as flags (after the command word). Returns 0,
 * 1 when --help was given (usage printed), or a negative code with a
 * message in err.
 */
int td_config_parse(td_config *c, int argc, char **argv, int first, char *err, size_t errcap);

/* Loads "name = value" lines from path. */
int td_config_load_file(td_config *c, const char *path, char *err, size_t errcap);

/* Prints the serve flags and their defaults. */
void td_config_usage(FILE *out);

#endif
