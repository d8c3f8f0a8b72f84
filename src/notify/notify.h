/*
 * Notification delivery: drains the store's outbox (td_store_ops.outbox_*)
 * to webhooks (HTTP POST via libcurl), e-mail (SMTP via libcurl) and MQTT
 * (libmosquitto). Entries are written to the outbox in the same transaction
 * as their event, so a crash or restart loses none; each is retried with
 * exponential backoff (capped at --notify-retry-max) until delivered or
 * --notify-expire passes. Every delivery carries the outbox id as its
 * dedup id, so a receiver can drop a repeat after a crash between sending
 * and recording success.
 *
 * Runs on the event-loop thread; the blocking network work runs on the
 * loop's thread pool, one delivery job at a time.
 */
#ifndef TRACKD_NOTIFY_H
#define TRACKD_NOTIFY_H

#include <uv.h>

#include "core/config.h"
#include "trackd/store.h"

typedef struct td_notify td_notify;

/* Starts the deliverer (it looks at the outbox at once: entries left from
 * before a restart go out first). */
int td_notify_start(uv_loop_t *loop, td_store *store, const td_config *cfg, td_notify **out,
                    char *err, size_t errcap);
/* New outbox entries were committed: deliver what is due now. */
void td_notify_kick(td_notify *n);
/* Stops taking new work; a delivery in progress finishes (its result is
 * recorded). Handles are closed; the loop then runs dry. Safe on NULL. */
void td_notify_stop(td_notify *n);
/* Frees after the loop has stopped. Safe on NULL. */
void td_notify_free(td_notify *n);

/* Counters for /metrics. */
typedef struct td_notify_stats {
    unsigned long long delivered, failed_attempts, given_up;
} td_notify_stats;
void td_notify_stats_get(const td_notify *n, td_notify_stats *out);

/*
 * The pieces of a delivery, exposed for the unit tests. All run on the loop
 * thread.
 */
struct td_sbuf;

/* Wait before attempt number attempts + 1 after `attempts` (>= 1) failed
 * ones: 2 s, doubling per attempt, capped at retry_max_s seconds. */
int64_t td_notify_backoff_ms(int attempts, int retry_max_s);
/* Expands an MQTT topic template: {uniqueId}, {deviceId} and {type} are
 * replaced, with '/', '+', '#' and control characters in the values turned
 * into '_' so a value cannot add topic levels or wildcards. Returns 0, or
 * TD_ETOOBIG when the topic does not fit in cap. */
int td_notify_topic(char *out, size_t cap, const char *tmpl, const char *unique_id,
                    int64_t device_id, const char *type);
/* The webhook body and MQTT message: {"deliveryId", "reminder", "event",
 * "device"}. */
void td_notify_payload(struct td_sbuf *b, const td_store_outbox *o);
/* The e-mail (RFC 5322, CRLF line ends) for o to o->target, from `from`,
 * dated now_ms. */
void td_notify_email(struct td_sbuf *b, const td_store_outbox *o, const char *from, int64_t now_ms);
/* Whether s is a plain address (local@domain, no spaces, brackets or
 * control characters) that is safe in an SMTP command and a header. */
bool td_notify_address_ok(const char *s);

/* Whether ip (IPv4 or IPv6 text) is on no public network: loopback,
 * private, shared (100.64/10), link-local, unique local, unspecified,
 * multicast or broadcast. Unparsable text counts as local. */
bool td_ip_local(const char *ip);
/* The host of an http(s) URL when it is an IP literal ("127.0.0.1",
 * "[::1]" -> "::1"), in out; false for a name or no host. */
bool td_url_ip_literal(const char *url, char *out, size_t cap);

#endif
