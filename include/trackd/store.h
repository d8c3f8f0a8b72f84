/*
 * The store interface: one ops table per backend (SQLite today; PostgreSQL
 * slots in behind the same table), chosen by td_store_open() from the
 * --db target (a path, or a postgresql:// URL).
 *
 * Threading rule: put_batch() runs on one writer thread (the loop's thread
 * pool, one batch in flight at a time); every other operation runs on the
 * event-loop thread. Backends keep a separate connection for each side.
 */
#ifndef TRACKD_STORE_H
#define TRACKD_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "trackd/record.h"

typedef struct td_store td_store;

/* A device as stored. */
typedef struct td_store_device {
    int64_t id; /* 0 until the store has assigned one */
    char unique_id[TD_DEVICE_ID_MAX];
    char name[64];
    char protocol[16];
    int64_t first_seen_ms, last_seen_ms;
    char last_remote[64]; /* "tcp:1.2.3.4:5678" */
    bool online;
    bool has_location; /* last known location (from a valid fix) */
    double last_latitude, last_longitude;
    int64_t last_fix_ms;
} td_store_device;

/* One record to store. located: latitude/longitude are meaningful, either
 * the record's own fix or (status records) the device's last known one. */
typedef struct td_store_row {
    int64_t id;           /* set by put_batch */
    int dev;              /* index into td_store_batch.devices */
    const char *protocol; /* static string (registry name) */
    td_rec_type type;
    int64_t server_ms, device_ms;
    bool valid, located;
    double latitude, longitude, speed, course, altitude;
    uint32_t alarms;
    char *attributes; /* JSON object text, owned by the batch */
} td_store_row;

#define TD_UNKNOWN_BYTES 256 /* bytes of unknown traffic kept per sample */

typedef struct td_store_unknown {
    int64_t time_ms;
    char remote[64];
    char reason[160];
    uint8_t bytes[TD_UNKNOWN_BYTES];
    size_t len;
} td_store_unknown;

/* An event raised while the batch filled: a device alarm or a server-side
 * rule. It is stored with its record (row) or, for events no record caused
 * (timers), with the device's last stored record (position_id). Each
 * notification id in notify gets an outbox entry in the same transaction. */
typedef struct td_store_new_event {
    int64_t id;          /* set by put_batch */
    int dev;             /* index into td_store_batch.devices */
    int row;             /* index into td_store_batch.rows, or -1 */
    int64_t position_id; /* row < 0: an already stored record, or 0 */
    const char *type;    /* static string (alarm or rule event name) */
    int64_t time_ms;     /* when it happened (device time of its record) */
    int64_t server_ms;   /* when the server raised it */
    bool located;
    double latitude, longitude;
    char *attributes; /* JSON object text owned by the batch; NULL = the row's */
    bool critical;    /* stays open (state new) until acknowledged */
    int64_t *notify;  /* notification ids, owned by the batch */
    int nnotify;
} td_store_new_event;

/* A unit of group commit: everything in it is written in one transaction. */
typedef struct td_store_batch {
    td_store_device *devices; /* snapshots; put_batch fills in ids */
    size_t ndevices;
    td_store_row *rows;
    size_t nrows;
    td_store_new_event *events;
    size_t nevents;
    td_store_unknown *unknown;
    size_t nunknown;
} td_store_batch;

/* A stored record as read back (strings valid during the callback). */
typedef struct td_store_position {
    int64_t id, device_id;
    const char *protocol;
    td_rec_type type;
    int64_t server_ms, device_ms;
    bool valid, located;
    double latitude, longitude, speed, course, altitude;
    uint32_t alarms;
    const char *attributes;
} td_store_position;

/* The walk of one retention pass over the records, a batch at a time (see
 * purge in td_store_ops). Zero it and set before_ms to start a pass. */
typedef struct td_store_purge {
    int64_t before_ms;          /* records with a device time before it go */
    int64_t after_ms, after_id; /* the last record examined (id 0: none yet) */
    int64_t purged;             /* records the last call deleted */
    bool done;                  /* set when no record older than before_ms is left to examine */
} td_store_purge;

/* A user account. */
typedef struct td_store_user {
    int64_t id;
    char name[64];
    char hash[160]; /* argon2id encoded hash */
    bool admin;
    int64_t created_ms;
} td_store_user;

/* A login session or API token, looked up by the hash of its secret. */
typedef struct td_store_session {
    int64_t id, user_id;
    char kind[8]; /* "session" or "token" */
    int64_t created_ms, expires_ms;
} td_store_session;

/* Who may see a device: its owner (0 = none, admins only) and the users it
 * is shared with; reported one row per (device, user) by device_access(). */
typedef struct td_store_access {
    int64_t device_id, user_id;
    bool owner;
} td_store_access;

/* A stored event (strings valid during the callback). */
typedef struct td_store_event {
    int64_t id, device_id, position_id; /* position_id 0 = none */
    const char *type;
    int64_t time_ms;
    bool located;
    double latitude, longitude;
    const char *attributes; /* JSON object text */
    const char *state;      /* "new", "acknowledged" or "closed" */
    bool critical;
    int64_t ack_user_id;  /* 0 = not acknowledged */
    const char *ack_user; /* the acknowledging user's name, or NULL */
    int64_t ack_ms, closed_ms;
    const char *ack_note; /* or NULL */
} td_store_event;

/* Filter for events(): device_id 0 = every device user_id may see (user_id
 * 0 = all devices); type NULL = all types; after = keyset cursor (event id). */
typedef struct td_store_event_filter {
    int64_t id; /* one event by id (0 = any) */
    int64_t device_id, user_id;
    int64_t from_ms, to_ms;
    const char *type;
    const char *state; /* NULL = any */
    int64_t after;
    int limit;
    bool desc; /* newest first (keyset after still by id) */
} td_store_event_filter;

/* A geofence (strings valid during the callback / owned by the caller). */
typedef struct td_store_geofence {
    int64_t id, owner_id;
    const char *name;
    const char *area;       /* JSON object text: circle or polygon */
    const char *device_ids; /* JSON array text, or NULL: all the owner's devices */
    int64_t created_ms;
} td_store_geofence;

/* A server-side rule: type (overspeed, lowBattery, ...), the devices it
 * applies to (JSON array, NULL = every device the owner may see) and its
 * parameters (JSON object). */
typedef struct td_store_rule {
    int64_t id, owner_id;
    const char *type;
    const char *device_ids;
    const char *attributes;
    int64_t created_ms;
} td_store_rule;

/* A user's notification channel: channel "webhook", "email" or "mqtt";
 * target (URL, address or topic template); which event types (JSON array,
 * NULL = all) and devices (JSON array, NULL = every device the user may
 * see) it carries. */
typedef struct td_store_notification {
    int64_t id, user_id;
    const char *channel, *target;
    const char *event_types;
    const char *device_ids;
    int64_t created_ms;
} td_store_notification;

/* One pending delivery of an event to a notification channel. id is stable
 * across retries and restarts: receivers deduplicate on it. */
typedef struct td_store_outbox {
    int64_t id, notification_id;
    const char *channel, *target;
    int attempts;
    bool renotify;    /* a reminder of an unacknowledged critical event */
    bool owner_admin; /* the channel belongs to an admin */
    int64_t created_ms, next_ms;
    td_store_event event;
    const char *device_unique_id, *device_name;
} td_store_outbox;

/* A command to a device (strings valid during the callback / owned by the
 * caller). status: queued -> sent -> acknowledged, or failed / expired.
 * ack_key: what the device's answer will carry (set when sent; "" when the
 * protocol defines no answer). result: the device's answer or the reason
 * it failed, or NULL. Times are 0 until they happen. */
typedef struct td_store_command {
    int64_t id, device_id, user_id;
    const char *user_name;
    const char *type;
    const char *attributes; /* JSON object text */
    const char *status;
    int64_t created_ms, sent_ms, acked_ms, expires_ms;
    const char *ack_key;
    const char *result;
} td_store_command;

/* Filter for commands(): id 0 = any, device_id 0 = every device, status
 * NULL = any; ack_key (with status "sent"): only those sent with that key,
 * TD_ACK_ANY = any key; expires_before > 0: only those expiring before it.
 * Ordered by id (desc: newest first), at most limit (0 = no limit). */
typedef struct td_store_command_filter {
    int64_t id, device_id;
    const char *status;
    const char *ack_key;
    int64_t expires_before;
    int limit;
    bool desc;
    bool answerable; /* only those sent with an answer to wait for (an ack_key) */
} td_store_command_filter;

/* The command statuses, in the order command_counts() reports them. */
#define TD_COMMAND_STATUSES 5
extern const char *const td_command_statuses[TD_COMMAND_STATUSES];

/* A voice message: received from a device ("in") or uploaded to send to
 * one ("out"). file: its name under the media directory. */
typedef struct td_store_voice {
    int64_t id, device_id, user_id;
    const char *direction;
    int64_t time_ms, size, duration_ms;
    const char *file;
} td_store_voice;

typedef int (*td_store_device_cb)(void *arg, const td_store_device *d);
typedef int (*td_store_session_cb)(void *arg, const td_store_session *ses);
typedef int (*td_store_command_cb)(void *arg, const td_store_command *c);
typedef int (*td_store_voice_cb)(void *arg, const td_store_voice *v);
typedef int (*td_store_geofence_cb)(void *arg, const td_store_geofence *g);
typedef int (*td_store_position_cb)(void *arg, const td_store_position *p);
typedef int (*td_store_user_cb)(void *arg, const td_store_user *u);
typedef int (*td_store_access_cb)(void *arg, const td_store_access *a);
typedef int (*td_store_event_cb)(void *arg, const td_store_event *e);
typedef int (*td_store_rule_cb)(void *arg, const td_store_rule *r);
typedef int (*td_store_notification_cb)(void *arg, const td_store_notification *n);
typedef int (*td_store_outbox_cb)(void *arg, const td_store_outbox *o);

typedef struct td_store_ops {
    const char *name;
    /* Whether this backend serves the --db target. */
    bool (*accepts)(const char *target);
    /* Opens (creating and migrating the schema). err gets a message. */
    int (*open)(const char *target, td_store **out, char *err, size_t errcap);
    /* Flushes and closes; safe on NULL. */
    void (*close)(td_store *s);
    /* Writes a batch in one transaction, durably (writer thread). */
    int (*put_batch)(td_store *s, td_store_batch *b);
    /* Calls cb for every device; a non-zero return from cb stops. */
    int (*devices)(td_store *s, td_store_device_cb cb, void *arg);
    /* The newest record of one device (by device time). TD_ENOTFOUND. */
    int (*latest)(td_store *s, int64_t device_id, td_store_position_cb cb, void *arg);
    /* Records of one device with from <= device time < to, ordered by
     * (time, id), starting after id `after` (0 = from the start), at most
     * limit rows. */
    int (*query)(td_store *s, int64_t device_id, int64_t from_ms, int64_t to_ms, int64_t after,
                 int limit, td_store_position_cb cb, void *arg);
    /* Marks every device offline (at start and clean shutdown). */
    int (*reset_online)(td_store *s);
    /*
     * Retention (writer thread, between put_batch calls): examines at most
     * limit records with device time before p->before_ms, oldest first from
     * where the last call stopped, and deletes them in one transaction,
     * except each device's newest record (by device time, then id), which is
     * kept so the device keeps its latest state. Sets p->purged, moves the
     * walk on, and sets p->done when nothing older is left to examine.
     * Events keep their own time, place and attributes; their link to a
     * deleted record is cleared. Commands and voice messages are not
     * touched.
     */
    int (*purge)(td_store *s, td_store_purge *p, int limit);
    /*
     * Copies what the write-ahead log holds back into the database file,
     * as far as it can without waiting, on a connection of its own: it runs
     * on a thread other than the writer's, at the same time as put_batch()
     * and purge() (one call at a time), so that the log a purge writes is
     * not copied back inside a commit. NULL for a backend without such a
     * log.
     */
    int (*checkpoint)(td_store *s);
    /*
     * Whether the log has grown enough since the last time this said yes
     * for another checkpoint() (loop thread, after a commit). NULL: never.
     */
    bool (*checkpoint_due)(td_store *s);

    /* Devices managed through the API (loop thread). device_add gives
     * TD_EEXISTS when the unique id is taken; device_update and
     * device_delete give TD_ENOTFOUND for an unknown id. device_delete
     * removes the device's records and events too. */
    int (*device_add)(td_store *s, td_store_device *d, int64_t owner_id);
    int (*device_update)(td_store *s, int64_t id, const char *unique_id, const char *name);
    int (*device_delete)(td_store *s, int64_t id);
    /* Ownership and sharing. */
    int (*device_access)(td_store *s, td_store_access_cb cb, void *arg);
    int (*share_add)(td_store *s, int64_t device_id, int64_t user_id);
    int (*share_remove)(td_store *s, int64_t device_id, int64_t user_id);

    /* Users. user_add: TD_EEXISTS for a taken name. user_update: NULL name
     * or hash and admin < 0 leave that field as it is. */
    int (*users)(td_store *s, td_store_user_cb cb, void *arg);
    int (*user_get)(td_store *s, int64_t id, const char *name, td_store_user *out);
    int (*user_add)(td_store *s, td_store_user *u);
    int (*user_update)(td_store *s, int64_t id, const char *name, const char *hash, int admin);
    int (*user_delete)(td_store *s, int64_t id);

    /* Sessions and tokens, keyed by the hex SHA-256 of their secret.
     * session_get gives TD_ENOTFOUND for unknown or expired ones.
     * session_end_user ends a user's sessions of one kind but the one
     * whose key is keep (NULL: all of them). */
    int (*session_add)(td_store *s, const char *key, td_store_session *ses);
    int (*session_get)(td_store *s, const char *key, int64_t now_ms, td_store_session *out);
    int (*session_delete)(td_store *s, const char *key);
    int (*session_end_user)(td_store *s, int64_t user_id, const char *kind, const char *keep);
    /* A user's API tokens that have not expired, by id; token_delete
     * revokes one of user_id's (0: anyone's), TD_ENOTFOUND when none. */
    int (*tokens)(td_store *s, int64_t user_id, int64_t now_ms, td_store_session_cb cb, void *arg);
    int (*token_delete)(td_store *s, int64_t id, int64_t user_id);
    int (*session_purge)(td_store *s, int64_t now_ms);

    /* Geofences: geofence_put adds one (id 0; sets id) or replaces one
     * (TD_ENOTFOUND when absent). */
    int (*geofences)(td_store *s, td_store_geofence_cb cb, void *arg);
    int (*geofence_put)(td_store *s, td_store_geofence *g);
    int (*geofence_delete)(td_store *s, int64_t id);

    /* Events, ordered by (time, id), keyset paged after event id `after`. */
    int (*events)(td_store *s, const td_store_event_filter *f, td_store_event_cb cb, void *arg);
    /* Acknowledges (close false: new -> acknowledged) or closes (-> closed)
     * an event. TD_ENOTFOUND; TD_EEXISTS when it is already in that state
     * or past it. */
    int (*event_ack)(td_store *s, int64_t id, int64_t user_id, const char *user_name,
                     const char *note, bool close, int64_t now_ms);
    /* Open critical events last notified before before_ms. */
    int (*events_due)(td_store *s, int64_t before_ms, td_store_event_cb cb, void *arg);
    /* Marks an event notified at now_ms and queues reminder deliveries to
     * the given notifications, in one transaction. */
    int (*event_renotify)(td_store *s, int64_t id, int64_t now_ms, const int64_t *notify,
                          int nnotify);

    /* Rules and notifications: *_put adds (id 0; sets id) or replaces
     * (TD_ENOTFOUND when absent). */
    int (*rules)(td_store *s, td_store_rule_cb cb, void *arg);
    int (*rule_put)(td_store *s, td_store_rule *r);
    int (*rule_delete)(td_store *s, int64_t id);
    int (*notifications)(td_store *s, td_store_notification_cb cb, void *arg);
    int (*notification_put)(td_store *s, td_store_notification *n);
    int (*notification_delete)(td_store *s, int64_t id);

    /* The notification outbox: pending deliveries due at now_ms (oldest
     * first, at most limit), and the outcome of one attempt: delivered
     * (status "sent"), retry at next_ms ("pending"), or given up
     * ("failed"). error is the last failure's text, or NULL. */
    int (*outbox_due)(td_store *s, int64_t now_ms, int limit, td_store_outbox_cb cb, void *arg);
    int (*outbox_result)(td_store *s, int64_t id, const char *status, int64_t next_ms,
                         const char *error, int64_t now_ms);
    /* Counts of outbox entries by status (for /metrics). */
    int (*outbox_counts)(td_store *s, int64_t *pending, int64_t *sent, int64_t *failed);

    /* Commands: command_add stores a new one (sets id). command_set moves
     * one that is still queued or sent to status at now_ms: "sent" records
     * sent_ms and ack_key, "acknowledged"/"failed" acked_ms (failed before
     * it was sent: none), every status the result. TD_ENOTFOUND when the
     * command is absent or already final. */
    int (*command_add)(td_store *s, td_store_command *c);
    int (*commands)(td_store *s, const td_store_command_filter *f, td_store_command_cb cb,
                    void *arg);
    int (*command_set)(td_store *s, int64_t id, const char *status, int64_t now_ms,
                       const char *ack_key, const char *result);

    /* Commands by status, in the order of td_command_statuses (for
     * /metrics). */
    int (*command_counts)(td_store *s, int64_t counts[TD_COMMAND_STATUSES]);

    /* Voice messages: voice_add sets id; voices lists one (id) or a
     * device's (device_id), newest first, at most limit (0 = all). */
    int (*voice_add)(td_store *s, td_store_voice *v);
    int (*voices)(td_store *s, int64_t id, int64_t device_id, int limit, td_store_voice_cb cb,
                  void *arg);
} td_store_ops;

struct td_store {
    const td_store_ops *ops;
};

/* Picks the backend for target and opens it. */
int td_store_open(const char *target, td_store **out, char *err, size_t errcap);

/* Frees the heap parts of a batch (attribute strings) and empties it. */
void td_store_batch_clear(td_store_batch *b);

extern const td_store_ops td_store_sqlite;

#endif
