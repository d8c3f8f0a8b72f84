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

#endif
