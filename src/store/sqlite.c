/*
 * The embedded SQLite store (the default, `--db trackd.db`).
 *
 * Two connections to one WAL database: the writer, used only by put_batch()
 * and the retention purge on the writer thread (never both at once), and the
 * reader, used by the event-loop thread; a third only checkpoints, beside
 * the writer, while a purge runs. WAL
 * lets the reader see committed data while a batch is being written.
 * synchronous=FULL makes a committed batch survive a crash or power loss;
 * group commit (one transaction per batch) keeps that cheap.
 *
 * Times are stored as integer milliseconds since the epoch (UTC). Schema
 * changes are migrations applied in order; schema_version holds the number
 * of migrations applied.
 */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "trackd/error.h"
#include "trackd/store.h"

/* Migration i brings the schema from version i to i + 1. Never edit one
 * that has shipped; append a new one. */
static const char *const migrations[] = {
    /* 1: devices, positions, events, unknown traffic. */
    "CREATE TABLE devices ("
    "  id INTEGER PRIMARY KEY,"
    "  unique_id TEXT NOT NULL UNIQUE,"
    "  name TEXT NOT NULL DEFAULT '',"
    "  protocol TEXT,"
    "  first_seen INTEGER,"
    "  last_seen INTEGER,"
    "  last_remote TEXT,"
    "  online INTEGER NOT NULL DEFAULT 0,"
    "  last_latitude REAL,"
    "  last_longitude REAL,"
    "  last_fix_time INTEGER);"
    "CREATE TABLE positions ("
    "  id INTEGER PRIMARY KEY,"
    "  device_id INTEGER NOT NULL REFERENCES devices(id) ON DELETE CASCADE,"
    "  protocol TEXT NOT NULL,"
    "  type TEXT NOT NULL,"
    "  server_time INTEGER NOT NULL,"
    "  device_time INTEGER NOT NULL,"
    "  valid INTEGER NOT NULL,"
    "  located INTEGER NOT NULL,"
    "  latitude REAL, longitude REAL, speed REAL, course REAL, altitude REAL,"
    "  alarms TEXT,"
    "  attributes TEXT NOT NULL);"
    "CREATE INDEX positions_device_time ON positions(device_id, device_time);"
    "CREATE TABLE events ("
    "  id INTEGER PRIMARY KEY,"
    "  device_id INTEGER NOT NULL REFERENCES devices(id) ON DELETE CASCADE,"
    "  position_id INTEGER REFERENCES positions(id) ON DELETE SET NULL,"
    "  type TEXT NOT NULL,"
    "  time INTEGER NOT NULL,"
    "  latitude REAL, longitude REAL,"
    "  attributes TEXT,"
    "  state TEXT NOT NULL DEFAULT 'new');"
    "CREATE INDEX events_device_time ON events(device_id, time);"
    "CREATE TABLE unknown_traffic ("
    "  id INTEGER PRIMARY KEY,"
    "  time INTEGER NOT NULL,"
    "  remote TEXT,"
    "  reason TEXT,"
    "  bytes BLOB);",
    /* 2: accounts, sessions and tokens, device ownership and sharing. */
    "CREATE TABLE users ("
    "  id INTEGER PRIMARY KEY,"
    "  name TEXT NOT NULL UNIQUE,"
    "  hash TEXT NOT NULL,"
    "  admin INTEGER NOT NULL DEFAULT 0,"
    "  created INTEGER NOT NULL);"
    "CREATE TABLE sessions ("
    "  id INTEGER PRIMARY KEY,"
    "  key TEXT NOT NULL UNIQUE,"
    "  user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    "  kind TEXT NOT NULL,"
    "  created INTEGER NOT NULL,"
    "  expires INTEGER NOT NULL);"
    "CREATE INDEX sessions_user ON sessions(user_id);"
    "ALTER TABLE devices ADD COLUMN owner_id INTEGER REFERENCES users(id) ON DELETE SET NULL;"
    "CREATE TABLE device_shares ("
    "  device_id INTEGER NOT NULL REFERENCES devices(id) ON DELETE CASCADE,"
    "  user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    "  PRIMARY KEY (device_id, user_id));"
    "CREATE INDEX device_shares_user ON device_shares(user_id);"
    "CREATE INDEX devices_owner ON devices(owner_id);"
    "CREATE INDEX events_time ON events(time);"
    "CREATE INDEX events_position ON events(position_id);",
    /* 3: geofences. */
    "CREATE TABLE geofences ("
    "  id INTEGER PRIMARY KEY,"
    "  owner_id INTEGER REFERENCES users(id) ON DELETE CASCADE,"
    "  name TEXT NOT NULL,"
    "  area TEXT NOT NULL,"
    "  device_ids TEXT,"
    "  created INTEGER NOT NULL);",
    /* 4: event handling (state, acknowledgement), rules, notification
     * channels and their durable outbox. */
    "ALTER TABLE events ADD COLUMN critical INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE events ADD COLUMN ack_user_id INTEGER;"
    "ALTER TABLE events ADD COLUMN ack_user TEXT;"
    "ALTER TABLE events ADD COLUMN ack_time INTEGER;"
    "ALTER TABLE events ADD COLUMN ack_note TEXT;"
    "ALTER TABLE events ADD COLUMN closed_time INTEGER;"
    "ALTER TABLE events ADD COLUMN notified_time INTEGER;"
    "CREATE INDEX events_open ON events(notified_time) WHERE state = 'new' AND critical = 1;"
    "CREATE INDEX events_state ON events(state, time);"
    "CREATE TABLE rules ("
    "  id INTEGER PRIMARY KEY,"
    "  owner_id INTEGER REFERENCES users(id) ON DELETE CASCADE,"
    "  type TEXT NOT NULL,"
    "  device_ids TEXT,"
    "  attributes TEXT NOT NULL,"
    "  created INTEGER NOT NULL);"
    "CREATE TABLE notifications ("
    "  id INTEGER PRIMARY KEY,"
    "  user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    "  channel TEXT NOT NULL,"
    "  target TEXT NOT NULL,"
    "  event_types TEXT,"
    "  device_ids TEXT,"
    "  created INTEGER NOT NULL);"
    "CREATE TABLE outbox ("
    "  id INTEGER PRIMARY KEY,"
    "  event_id INTEGER NOT NULL REFERENCES events(id) ON DELETE CASCADE,"
    "  notification_id INTEGER REFERENCES notifications(id) ON DELETE CASCADE,"
    "  channel TEXT NOT NULL,"
    "  target TEXT NOT NULL,"
    "  renotify INTEGER NOT NULL DEFAULT 0,"
    "  status TEXT NOT NULL DEFAULT 'pending',"
    "  attempts INTEGER NOT NULL DEFAULT 0,"
    "  created INTEGER NOT NULL,"
    "  next_time INTEGER NOT NULL,"
    "  sent_time INTEGER,"
    "  last_error TEXT);"
    "CREATE INDEX outbox_due ON outbox(next_time) WHERE status = 'pending';"
    "CREATE INDEX outbox_event ON outbox(event_id);",

    /* 5: commands to devices and voice messages. */
    "CREATE TABLE commands ("
    "  id INTEGER PRIMARY KEY,"
    "  device_id INTEGER NOT NULL REFERENCES devices(id) ON DELETE CASCADE,"
    "  user_id INTEGER REFERENCES users(id) ON DELETE SET NULL,"
    "  user_name TEXT,"
    "  type TEXT NOT NULL,"
    "  attributes TEXT NOT NULL,"
    "  status TEXT NOT NULL DEFAULT 'queued',"
    "  created INTEGER NOT NULL,"
    "  sent_time INTEGER,"
    "  acked_time INTEGER,"
    "  expires INTEGER NOT NULL,"
    "  ack_key TEXT,"
    "  result TEXT);"
    "CREATE INDEX commands_device ON commands(device_id, id);"
    "CREATE INDEX commands_open ON commands(status, device_id) WHERE status IN ('queued', 'sent');"
    "CREATE TABLE voice ("
    "  id INTEGER PRIMARY KEY,"
    "  device_id INTEGER NOT NULL REFERENCES devices(id) ON DELETE CASCADE,"
    "  user_id INTEGER REFERENCES users(id) ON DELETE SET NULL,"
    "  direction TEXT NOT NULL,"
    "  time INTEGER NOT NULL,"
    "  size INTEGER NOT NULL,"
    "  duration INTEGER NOT NULL,"
    "  file TEXT NOT NULL);"
    "CREATE INDEX voice_device ON voice(device_id, id);",

    /* 6: retention finds the oldest records through an index on their time
     * (appended to at the end, so ingest hardly pays for it). */
    "CREATE INDEX positions_time ON positions(device_time);",
};

#define MIGRATIONS (sizeof(migrations) / sizeof(migrations[0]))
#define UNKNOWN_KEEP 1000 /* newest unknown-traffic samples kept */

enum {
    W_BEGIN,
    W_COMMIT,
    W_ROLLBACK,
    W_DEVICE,
    W_DEVICE_UPDATE,
    W_POSITION,
    W_EVENT,
    W_OUTBOX,
    W_UNKNOWN,
    W_UNKNOWN_TRIM,
    W_PURGE_SCAN,
    W_PURGE_DELETE,
    W_COUNT
};

static const char *const writer_sql[W_COUNT] = {
    [W_BEGIN] = "BEGIN IMMEDIATE",
    [W_COMMIT] = "COMMIT",
    [W_ROLLBACK] = "ROLLBACK",
    [W_DEVICE] =
        "INSERT INTO devices (unique_id, name, protocol, first_seen, last_seen, last_remote,"
        " online, last_latitude, last_longitude, last_fix_time)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"
        " ON CONFLICT(unique_id) DO UPDATE SET protocol = excluded.protocol,"
        " last_seen = max(coalesce(last_seen, 0), excluded.last_seen),"
        " last_remote = excluded.last_remote, online = excluded.online,"
        " last_latitude = coalesce(excluded.last_latitude, last_latitude),"
        " last_longitude = coalesce(excluded.last_longitude, last_longitude),"
        " last_fix_time = coalesce(excluded.last_fix_time, last_fix_time)"
        " RETURNING id",
    [W_DEVICE_UPDATE] =
        "UPDATE devices SET protocol = ?2, last_seen = max(coalesce(last_seen, 0), ?3),"
        " last_remote = ?4, online = ?5, last_latitude = coalesce(?6, last_latitude),"
        " last_longitude = coalesce(?7, last_longitude),"
        " last_fix_time = coalesce(?8, last_fix_time),"
        " first_seen = CASE WHEN coalesce(first_seen, 0) = 0 THEN ?9 ELSE first_seen END"
        " WHERE id = ?1",
    [W_POSITION] = "INSERT INTO positions (device_id, protocol, type, server_time, device_time,"
                   " valid, located, latitude, longitude, speed, course, altitude, alarms,"
                   " attributes) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12,"
                   " ?13, ?14)",
    [W_EVENT] = "INSERT INTO events (device_id, position_id, type, time, latitude, longitude,"
                " attributes, critical, notified_time) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8,"
                " ?9)",
    /* A notification deleted meanwhile inserts nothing. */
    [W_OUTBOX] = "INSERT INTO outbox (event_id, notification_id, channel, target, renotify,"
                 " created, next_time) SELECT ?1, id, channel, target, ?3, ?4, ?4"
                 " FROM notifications WHERE id = ?2",
    [W_UNKNOWN] =
        "INSERT INTO unknown_traffic (time, remote, reason, bytes) VALUES (?1, ?2, ?3, ?4)",
    [W_UNKNOWN_TRIM] = "DELETE FROM unknown_traffic WHERE id <= (SELECT max(id) FROM"
                       " unknown_traffic) - ?1",
    /* Records older than ?1 after (?2, ?3) in (time, id) order, each with
     * whether its device has a newer one (else it is kept). */
    [W_PURGE_SCAN] = "SELECT p.id, p.device_time, EXISTS (SELECT 1 FROM positions q"
                     " WHERE q.device_id = p.device_id AND (q.device_time, q.id) >"
                     " (p.device_time, p.id)) FROM positions p WHERE p.device_time < ?1"
                     " AND (p.device_time, p.id) > (?2, ?3) ORDER BY p.device_time, p.id"
                     " LIMIT ?4",
    [W_PURGE_DELETE] = "DELETE FROM positions WHERE id = ?1",
};

#define POSITION_COLUMNS                                                                           \
    "id, device_id, protocol, type, server_time, device_time, valid, located, latitude,"           \
    " longitude, speed, course, altitude, alarms, attributes"

typedef struct sqlite_store {
    td_store base;
    sqlite3 *writer, *reader;
    sqlite3 *checkpointer; /* checkpoint() only, on its own thread */
    sqlite3_stmt *w[W_COUNT];
    /* Pages in the write-ahead log after the writer's last commit (set on
     * the writer's thread, read by the loop after the commit is done). */
    _Atomic int wal_pages;
    int wal_due; /* wal_pages at the last due checkpoint (loop thread) */
} sqlite_store;

/* Past this many pages (160 MB) the writer checkpoints itself, as
 * SQLite's own automatic checkpoint would. Under a steady load the
 * checkpoints beside the writer copy the log back as it grows, but never
 * all of it (the writer keeps appending), so only this one lets the log
 * start again from its beginning; it copies what the last one beside it
 * left, in a commit. */
#define WAL_WRITER_CHECKPOINT 40000
/* A checkpoint beside the writer is due once the log holds this many
 * pages (4 MB) that were not there at the last one: the less each leaves,
 * the shorter the writer's own. Measured at 20,000 frames/s
 * (bench/latency.py): with 16 MB and 80 MB, 10 to 20 commits in 30 s took
 * 25-50 ms and ack p99 was 32-34 ms; with 4 MB and 160 MB, none or two,
 * and 13-19 ms. */
#define WAL_CHECKPOINT_DUE 1000

static int wal_hook(void *arg, sqlite3 *db, const char *name, int pages)
{
    sqlite_store *s = arg;
    s->wal_pages = pages;
    if (pages >= WAL_WRITER_CHECKPOINT)
        sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
    return SQLITE_OK;
}

static bool sqlite_accepts(const char *target)
{
    return strstr(target, "://") == NULL || strncmp(target, "file:", 5) == 0;
}

static int exec(sqlite3 *db, const char *sql, char *err, size_t errcap)
{
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        snprintf(err, errcap, "sqlite: %s", msg ? msg : sqlite3_errmsg(db));
        sqlite3_free(msg);
        return TD_ESTORE;
    }
    return 0;
}

static int open_conn(const char *path, sqlite3 **db, char *err, size_t errcap)
{
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_URI;
    if (sqlite3_open_v2(path, db, flags, NULL) != SQLITE_OK) {
        snprintf(err, errcap, "sqlite: cannot open '%s': %s", path,
                 *db ? sqlite3_errmsg(*db) : "out of memory");
        return TD_ESTORE;
    }
    sqlite3_busy_timeout(*db, 10000);
    return exec(*db,
                "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;"
                " PRAGMA foreign_keys = ON;",
                err, errcap);
}

static int migrate(sqlite3 *db, char *err, size_t errcap)
{
    sqlite3_stmt *st;
    int version = 0, rc;

    rc = exec(db,
              "BEGIN IMMEDIATE; CREATE TABLE IF NOT EXISTS schema_version (version INTEGER"
              " NOT NULL); INSERT INTO schema_version SELECT 0 WHERE NOT EXISTS"
              " (SELECT 1 FROM schema_version);",
              err, errcap);
    if (rc)
        return rc;
    if (sqlite3_prepare_v2(db, "SELECT version FROM schema_version", -1, &st, NULL) == SQLITE_OK) {
        if (sqlite3_step(st) == SQLITE_ROW)
            version = sqlite3_column_int(st, 0);
        sqlite3_finalize(st);
    }
    if (version > (int)MIGRATIONS) {
        snprintf(err, errcap, "sqlite: database schema version %d is newer than this trackd (%zu)",
                 version, MIGRATIONS);
        exec(db, "ROLLBACK", err + strlen(err), 0);
        return TD_ESTORE;
    }
    for (size_t i = (size_t)version; i < MIGRATIONS; i++) {
        char sql[64];
        rc = exec(db, migrations[i], err, errcap);
        snprintf(sql, sizeof(sql), "UPDATE schema_version SET version = %zu", i + 1);
        if (!rc)
            rc = exec(db, sql, err, errcap);
        if (rc) {
            char ignored[8];
            exec(db, "ROLLBACK", ignored, sizeof(ignored));
            return rc;
        }
    }
    return exec(db, "COMMIT", err, errcap);
}

static void sqlite_close(td_store *base)
{
    sqlite_store *s = (sqlite_store *)base;
    if (!s)
        return;
    for (int i = 0; i < W_COUNT; i++)
        sqlite3_finalize(s->w[i]);
    sqlite3_close(s->checkpointer);
    if (s->writer) {
        /* Fold the WAL back into the main file on a clean close. */
        sqlite3_exec(s->writer, "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL, NULL);
        sqlite3_close(s->writer);
    }
    sqlite3_close(s->reader);
    free(s);
}

static int sqlite_open(const char *target, td_store **out, char *err, size_t errcap)
{
    sqlite_store *s = calloc(1, sizeof(*s));
    int rc;

    if (!s)
        return TD_ENOMEM;
    s->base.ops = &td_store_sqlite;
    rc = open_conn(target, &s->writer, err, errcap);
    if (!rc)
        rc = exec(s->writer, "PRAGMA cache_size = -65536;", err, errcap);
    if (!rc) /* instead of wal_autocheckpoint: it also counts the log's pages */
        sqlite3_wal_hook(s->writer, wal_hook, s);
    if (!rc)
        rc = migrate(s->writer, err, errcap);
    if (!rc)
        rc = open_conn(target, &s->reader, err, errcap);
    if (!rc)
        rc = open_conn(target, &s->checkpointer, err, errcap);
    for (int i = 0; !rc && i < W_COUNT; i++) {
        if (sqlite3_prepare_v2(s->writer, writer_sql[i], -1, &s->w[i], NULL) != SQLITE_OK) {
            snprintf(err, errcap, "sqlite: %s", sqlite3_errmsg(s->writer));
            rc = TD_ESTORE;
        }
    }
    if (rc) {
        sqlite_close(&s->base);
        return rc;
    }
    *out = &s->base;
    return 0;
}

static void bind_text_or_null(sqlite3_stmt *st, int i, const char *v)
{
    if (v && *v)
        sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, i);
}

/* Runs a bound write statement to completion and resets it. */
static int step_done(sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : TD_ESTORE;
}

/* A device the store already knows is updated by id (so a renamed unique id
 * stays the same device); one deleted meanwhile gets id -1 and its rows in
 * the batch are dropped. A new one is inserted (or found by unique id). */
static int put_device(sqlite_store *s, td_store_device *d)
{
    sqlite3_stmt *st = s->w[W_DEVICE];
    if (d->id > 0) {
        st = s->w[W_DEVICE_UPDATE];
        sqlite3_bind_int64(st, 1, d->id);
        bind_text_or_null(st, 2, d->protocol);
        sqlite3_bind_int64(st, 3, d->last_seen_ms);
        bind_text_or_null(st, 4, d->last_remote);
        sqlite3_bind_int(st, 5, d->online);
        if (d->has_location) {
            sqlite3_bind_double(st, 6, d->last_latitude);
            sqlite3_bind_double(st, 7, d->last_longitude);
            sqlite3_bind_int64(st, 8, d->last_fix_ms);
        }
        sqlite3_bind_int64(st, 9, d->first_seen_ms);
        if (step_done(st))
            return TD_ESTORE;
        if (sqlite3_changes(s->writer) == 0)
            d->id = -1;
        return 0;
    }
    sqlite3_bind_text(st, 1, d->unique_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, d->name[0] ? d->name : d->unique_id, -1, SQLITE_STATIC);
    bind_text_or_null(st, 3, d->protocol);
    sqlite3_bind_int64(st, 4, d->first_seen_ms);
    sqlite3_bind_int64(st, 5, d->last_seen_ms);
    bind_text_or_null(st, 6, d->last_remote);
    sqlite3_bind_int(st, 7, d->online);
    if (d->has_location) {
        sqlite3_bind_double(st, 8, d->last_latitude);
        sqlite3_bind_double(st, 9, d->last_longitude);
        sqlite3_bind_int64(st, 10, d->last_fix_ms);
    }
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        d->id = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc == SQLITE_ROW ? 0 : TD_ESTORE;
}

/* "sos,fall" from an alarm bit set; buf must hold every name. */
static const char *alarm_list(uint32_t alarms, char *buf, size_t cap)
{
    size_t n = 0;
    buf[0] = '\0';
    for (int i = 0; i < TD_ALARM_COUNT; i++)
        if (alarms & TD_ALARM_BIT(i))
            n += (size_t)snprintf(buf + n, cap - n, "%s%s", n ? "," : "",
                                  td_alarm_name((td_alarm)i));
    return buf;
}

static int put_row(sqlite_store *s, const td_store_batch *b, td_store_row *r)
{
    sqlite3_stmt *st = s->w[W_POSITION];
    char alarms[256];
    int64_t dev = b->devices[r->dev].id;

    if (dev <= 0)
        return 0; /* the device was deleted while this batch filled */
    sqlite3_bind_int64(st, 1, dev);
    sqlite3_bind_text(st, 2, r->protocol, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, td_rec_type_name(r->type), -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, r->server_ms);
    sqlite3_bind_int64(st, 5, r->device_ms);
    sqlite3_bind_int(st, 6, r->valid);
    sqlite3_bind_int(st, 7, r->located);
    if (r->located) {
        sqlite3_bind_double(st, 8, r->latitude);
        sqlite3_bind_double(st, 9, r->longitude);
    }
    if (r->type == TD_REC_POSITION) {
        sqlite3_bind_double(st, 10, r->speed);
        sqlite3_bind_double(st, 11, r->course);
        sqlite3_bind_double(st, 12, r->altitude);
    }
    bind_text_or_null(st, 13, alarm_list(r->alarms, alarms, sizeof(alarms)));
    sqlite3_bind_text(st, 14, r->attributes ? r->attributes : "{}", -1, SQLITE_STATIC);
    if (step_done(st))
        return TD_ESTORE;
    r->id = sqlite3_last_insert_rowid(s->writer);
    return 0;
}

/* Queues deliveries of event `id` to the given notifications. */
static int put_outbox(sqlite3_stmt *st, int64_t id, const int64_t *notify, int n, bool renotify,
                      int64_t now_ms)
{
    for (int i = 0; i < n; i++) {
        sqlite3_bind_int64(st, 1, id);
        sqlite3_bind_int64(st, 2, notify[i]);
        sqlite3_bind_int(st, 3, renotify);
        sqlite3_bind_int64(st, 4, now_ms);
        if (step_done(st))
            return TD_ESTORE;
    }
    return 0;
}

static int put_event(sqlite_store *s, const td_store_batch *b, td_store_new_event *e)
{
    sqlite3_stmt *st = s->w[W_EVENT];
    int64_t dev = b->devices[e->dev].id;
    const td_store_row *row = e->row >= 0 ? &b->rows[e->row] : NULL;
    int64_t pos = row ? row->id : e->position_id;
    const char *attrs = e->attributes            ? e->attributes
                        : row && row->attributes ? row->attributes
                                                 : "{}";

    if (dev <= 0 || (row && row->id <= 0))
        return 0; /* the device was deleted while this batch filled */
    sqlite3_bind_int64(st, 1, dev);
    if (pos > 0)
        sqlite3_bind_int64(st, 2, pos);
    sqlite3_bind_text(st, 3, e->type, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, e->time_ms);
    if (e->located) {
        sqlite3_bind_double(st, 5, e->latitude);
        sqlite3_bind_double(st, 6, e->longitude);
    }
    sqlite3_bind_text(st, 7, attrs, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 8, e->critical);
    sqlite3_bind_int64(st, 9, e->server_ms);
    if (step_done(st))
        return TD_ESTORE;
    e->id = sqlite3_last_insert_rowid(s->writer);
    return put_outbox(s->w[W_OUTBOX], e->id, e->notify, e->nnotify, false, e->server_ms);
}

static int put_unknown(sqlite_store *s, const td_store_unknown *u)
{
    sqlite3_stmt *st = s->w[W_UNKNOWN];
    sqlite3_bind_int64(st, 1, u->time_ms);
    sqlite3_bind_text(st, 2, u->remote, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, u->reason, -1, SQLITE_STATIC);
    sqlite3_bind_blob(st, 4, u->bytes, (int)u->len, SQLITE_STATIC);
    return step_done(st);
}

static int sqlite_put_batch(td_store *base, td_store_batch *b)
{
    sqlite_store *s = (sqlite_store *)base;
    /* Which devices get their id from this transaction (to undo on failure). */
    bool *fresh = calloc(b->ndevices + 1, sizeof(*fresh));
    int rc = fresh ? step_done(s->w[W_BEGIN]) : TD_ENOMEM;

    for (size_t i = 0; !rc && i < b->ndevices; i++) {
        fresh[i] = b->devices[i].id <= 0;
        rc = put_device(s, &b->devices[i]);
    }
    for (size_t i = 0; !rc && i < b->nrows; i++)
        rc = put_row(s, b, &b->rows[i]);
    for (size_t i = 0; !rc && i < b->nevents; i++)
        rc = put_event(s, b, &b->events[i]);
    for (size_t i = 0; !rc && i < b->nunknown; i++)
        rc = put_unknown(s, &b->unknown[i]);
    if (!rc && b->nunknown) {
        sqlite3_bind_int(s->w[W_UNKNOWN_TRIM], 1, UNKNOWN_KEEP);
        rc = step_done(s->w[W_UNKNOWN_TRIM]);
    }
    if (!rc)
        rc = step_done(s->w[W_COMMIT]);
    if (rc && fresh) {
        step_done(s->w[W_ROLLBACK]);
        /* Ids handed out inside the rolled-back transaction do not exist. */
        for (size_t i = 0; i < b->ndevices; i++)
            if (fresh[i])
                b->devices[i].id = 0;
        for (size_t i = 0; i < b->nrows; i++)
            b->rows[i].id = 0;
        for (size_t i = 0; i < b->nevents; i++)
            b->events[i].id = 0;
    }
    free(fresh);
    return rc;
}

/* Retention: one batch of the walk in one transaction (see store.h). The
 * scan is read to the end before anything is deleted. */
static int sqlite_purge(td_store *base, td_store_purge *p, int limit)
{
    sqlite_store *s = (sqlite_store *)base;
    sqlite3_stmt *scan = s->w[W_PURGE_SCAN], *del = s->w[W_PURGE_DELETE];
    int64_t *ids = limit > 0 ? malloc((size_t)limit * sizeof(*ids)) : NULL;
    int64_t after_ms = p->after_id ? p->after_ms : INT64_MIN, after_id = p->after_id;
    int examined = 0, nids = 0, step;
    int rc = ids ? step_done(s->w[W_BEGIN]) : TD_EINVAL;

    if (rc) {
        free(ids);
        return rc;
    }
    sqlite3_bind_int64(scan, 1, p->before_ms);
    sqlite3_bind_int64(scan, 2, after_ms);
    sqlite3_bind_int64(scan, 3, after_id);
    sqlite3_bind_int(scan, 4, limit);
    while ((step = sqlite3_step(scan)) == SQLITE_ROW) {
        after_id = sqlite3_column_int64(scan, 0);
        after_ms = sqlite3_column_int64(scan, 1);
        if (sqlite3_column_int(scan, 2))
            ids[nids++] = after_id;
        examined++;
    }
    sqlite3_reset(scan);
    sqlite3_clear_bindings(scan);
    if (step != SQLITE_DONE)
        rc = TD_ESTORE;
    for (int i = 0; !rc && i < nids; i++) {
        sqlite3_bind_int64(del, 1, ids[i]);
        rc = step_done(del);
    }
    if (!rc)
        rc = step_done(s->w[W_COMMIT]);
    if (rc) {
        step_done(s->w[W_ROLLBACK]);
    } else {
        p->purged = nids;
        p->after_ms = after_ms;
        p->after_id = after_id;
        p->done = examined < limit;
    }
    free(ids);
    return rc;
}

/* A passive checkpoint: it copies the log's pages that no reader still
 * needs and waits for nobody; the writer goes on appending meanwhile. */
static bool sqlite_checkpoint_due(td_store *base)
{
    sqlite_store *s = (sqlite_store *)base;
    int pages = s->wal_pages;
    if (pages < s->wal_due) /* the log was restarted */
        s->wal_due = 0;
    if (pages - s->wal_due < WAL_CHECKPOINT_DUE)
        return false;
    s->wal_due = pages;
    return true;
}

static int sqlite_checkpoint(td_store *base)
{
    sqlite_store *s = (sqlite_store *)base;
    int rc =
        sqlite3_wal_checkpoint_v2(s->checkpointer, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
    return rc == SQLITE_OK || rc == SQLITE_BUSY ? 0 : TD_ESTORE;
}

static const char *column_text(sqlite3_stmt *st, int i, char *buf, size_t cap)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    snprintf(buf, cap, "%s", t ? (const char *)t : "");
    return buf;
}

static int sqlite_devices(td_store *base, td_store_device_cb cb, void *arg)
{
    sqlite_store *s = (sqlite_store *)base;
    sqlite3_stmt *st;
    int rc = 0, step;

    if (sqlite3_prepare_v2(s->reader,
                           "SELECT id, unique_id, name, protocol, first_seen, last_seen,"
                           " last_remote, online, last_latitude, last_longitude, last_fix_time"
                           " FROM devices ORDER BY id",
                           -1, &st, NULL) != SQLITE_OK)
        return TD_ESTORE;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        td_store_device d;
        memset(&d, 0, sizeof(d));
        d.id = sqlite3_column_int64(st, 0);
        column_text(st, 1, d.unique_id, sizeof(d.unique_id));
        column_text(st, 2, d.name, sizeof(d.name));
        column_text(st, 3, d.protocol, sizeof(d.protocol));
        d.first_seen_ms = sqlite3_column_int64(st, 4);
        d.last_seen_ms = sqlite3_column_int64(st, 5);
        column_text(st, 6, d.last_remote, sizeof(d.last_remote));
        d.online = sqlite3_column_int(st, 7) != 0;
        d.has_location = sqlite3_column_type(st, 8) != SQLITE_NULL;
        d.last_latitude = sqlite3_column_double(st, 8);
        d.last_longitude = sqlite3_column_double(st, 9);
        d.last_fix_ms = sqlite3_column_int64(st, 10);
        if ((rc = cb(arg, &d)) != 0)
            break;
    }
    if (step != SQLITE_DONE && step != SQLITE_ROW)
        rc = TD_ESTORE;
    sqlite3_finalize(st);
    return rc;
}

static uint32_t parse_alarms(const char *list)
{
    uint32_t set = 0;
    char name[32];
    while (list && *list) {
        size_t n = strcspn(list, ",");
        if (n < sizeof(name)) {
            memcpy(name, list, n);
            name[n] = '\0';
            int a = td_alarm_from_name(name);
            if (a >= 0)
                set |= TD_ALARM_BIT(a);
        }
        list += n + (list[n] == ',');
    }
    return set;
}

static td_rec_type type_from_name(const char *name)
{
    for (int t = TD_REC_POSITION; t <= TD_REC_OTHER; t++)
        if (strcmp(td_rec_type_name((td_rec_type)t), name) == 0)
            return (td_rec_type)t;
    return TD_REC_OTHER;
}

/* Steps a positions query and calls cb for every row. */
static int each_position(sqlite3_stmt *st, td_store_position_cb cb, void *arg, int *count)
{
    int step, rc = 0;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        td_store_position p;
        p.id = sqlite3_column_int64(st, 0);
        p.device_id = sqlite3_column_int64(st, 1);
        p.protocol = (const char *)sqlite3_column_text(st, 2);
        p.type = type_from_name((const char *)sqlite3_column_text(st, 3));
        p.server_ms = sqlite3_column_int64(st, 4);
        p.device_ms = sqlite3_column_int64(st, 5);
        p.valid = sqlite3_column_int(st, 6) != 0;
        p.located = sqlite3_column_int(st, 7) != 0;
        p.latitude = sqlite3_column_double(st, 8);
        p.longitude = sqlite3_column_double(st, 9);
        p.speed = sqlite3_column_double(st, 10);
        p.course = sqlite3_column_double(st, 11);
        p.altitude = sqlite3_column_double(st, 12);
        p.alarms = parse_alarms((const char *)sqlite3_column_text(st, 13));
        p.attributes = (const char *)sqlite3_column_text(st, 14);
        if (count)
            (*count)++;
        if ((rc = cb(arg, &p)) != 0)
            break;
    }
    if (step != SQLITE_DONE && step != SQLITE_ROW)
        rc = TD_ESTORE;
    return rc;
}

static int sqlite_latest(td_store *base, int64_t device_id, td_store_position_cb cb, void *arg)
{
    sqlite_store *s = (sqlite_store *)base;
    sqlite3_stmt *st;
    int count = 0, rc;

    if (sqlite3_prepare_v2(s->reader,
                           "SELECT " POSITION_COLUMNS " FROM positions WHERE device_id = ?1"
                           " ORDER BY device_time DESC, id DESC LIMIT 1",
                           -1, &st, NULL) != SQLITE_OK)
        return TD_ESTORE;
    sqlite3_bind_int64(st, 1, device_id);
    rc = each_position(st, cb, arg, &count);
    sqlite3_finalize(st);
    return rc ? rc : count ? 0 : TD_ENOTFOUND;
}

static int sqlite_query(td_store *base, int64_t device_id, int64_t from_ms, int64_t to_ms,
                        int64_t after, int limit, td_store_position_cb cb, void *arg)
{
    sqlite_store *s = (sqlite_store *)base;
    sqlite3_stmt *st;
    int rc;

    /* Keyset paging on (device_time, id): "after" names the last row seen. */
    if (sqlite3_prepare_v2(
            s->reader,
            "SELECT " POSITION_COLUMNS " FROM positions WHERE device_id = ?1"
            " AND device_time >= ?2 AND device_time < ?3 AND (?4 = 0 OR (device_time, id) >"
            " (SELECT device_time, id FROM positions WHERE id = ?4))"
            " ORDER BY device_time, id LIMIT ?5",
            -1, &st, NULL) != SQLITE_OK)
        return TD_ESTORE;
    sqlite3_bind_int64(st, 1, device_id);
    sqlite3_bind_int64(st, 2, from_ms);
    sqlite3_bind_int64(st, 3, to_ms);
    sqlite3_bind_int64(st, 4, after);
    sqlite3_bind_int(st, 5, limit);
    rc = each_position(st, cb, arg, NULL);
    sqlite3_finalize(st);
    return rc;
}

static int sqlite_reset_online(td_store *base)
{
    sqlite_store *s = (sqlite_store *)base;
    char err[128];
    return exec(s->reader, "UPDATE devices SET online = 0 WHERE online != 0", err, sizeof(err));
}

/* ---- API side (loop thread, reader connection) -------------------------- */

static int prep(sqlite_store *s, const char *sql, sqlite3_stmt **st)
{
    return sqlite3_prepare_v2(s->reader, sql, -1, st, NULL) == SQLITE_OK ? 0 : TD_ESTORE;
}

/* Runs a one-shot write; maps constraint failures to TD_EEXISTS. */
static int run_write(sqlite_store *s, sqlite3_stmt *st)
{
    int step = sqlite3_step(st);
    int rc = step == SQLITE_DONE || step == SQLITE_ROW ? 0
             : (sqlite3_extended_errcode(s->reader) == SQLITE_CONSTRAINT_UNIQUE ||
                sqlite3_extended_errcode(s->reader) == SQLITE_CONSTRAINT_PRIMARYKEY)
                 ? TD_EEXISTS
                 : TD_ESTORE;
    sqlite3_finalize(st);
    return rc;
}

/* run_write for an UPDATE or DELETE of one row: TD_ENOTFOUND when no row
 * matched. */
static int run_change(sqlite_store *s, sqlite3_stmt *st)
{
    int rc = run_write(s, st);
    return !rc && sqlite3_changes(s->reader) == 0 ? TD_ENOTFOUND : rc;
}

/* Runs `sql` (a DELETE with ?1 = id); TD_ENOTFOUND when nothing was there. */
static int delete_by_id(sqlite_store *s, const char *sql, int64_t id)
{
    sqlite3_stmt *st;
    if (prep(s, sql, &st))
        return TD_ESTORE;
    sqlite3_bind_int64(st, 1, id);
    return run_change(s, st);
}

static int sqlite_device_add(td_store *base, td_store_device *d, int64_t owner_id)
{
    sqlite_store *s = (sqlite_store *)base;
    sqlite3_stmt *st;
    if (prep(s,
             "INSERT INTO devices (unique_id, name, owner_id, first_seen) VALUES (?1, ?2, ?3, ?4)",
             &st))
        return TD_ESTORE;
    sqlite3_bind_text(st, 1, d->unique_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, d->name[0] ? d->name : d->unique_id, -1, SQLITE_STATIC);
    if (owner_id > 0)
        sqlite3_bind_int64(st, 3, owner_id);
    sqlite3_bind_int64(st, 4, d->first_seen_ms);
    int rc = run_write(s, st);
    if (!rc)
        d->id = sqlite3_last_insert_rowid(s->reader);
    return rc;
}

static int sqlite_device_update(td_store *base, int64_t id, const char *unique_id, const char *name)
{
    sqlite_store *s = (sqlite_store *)base;
    sqlite3_stmt *st;
    if (prep(s,
             "UPDATE devices SET unique_id = coalesce(?2, unique_id), name = coalesce(?3, name)"
             " WHERE id = ?1",
             &st))
        return TD_ESTORE;
    sqlite3_bind_int64(st, 1, id);
    if (unique_id)
        sqlite3_bind_text(st, 2, unique_id, -1, SQLITE_STATIC);
    if (name)
        sqlite3_bind_text(st, 3, name, -1, SQLITE_STATIC);
    return run_change(s, st);
}

static int sqlite_device_delete(td_store *base, int64_t id)
{
    sqlite_store *s = (sqlite_store *)base;
    char err[128];
    char sql[384];
    int rc = exec(s->reader, "BEGIN IMMEDIATE", err, sizeof(err));
    if (rc)
        return rc;
    /* Children first, so the cascades have nothing left to search for. */
    snprintf(sql, sizeof(sql),
             "DELETE FROM events WHERE device_id = %lld;"
             " DELETE FROM positions WHERE device_id = %lld;"
             " DELETE FROM commands WHERE device_id = %lld;"
             " DELETE FROM voice WHERE device_id = %lld;"
             " DELETE FROM devices WHERE id = %lld;",
             (long long)id, (long long)id, (long long)id, (long long)id, (long long)id);
    rc = exec(s->reader, sql, err, sizeof(err));
    bool gone = !rc && sqlite3_changes(s->reader) > 0;
    if (!rc)
        rc = exec(s->reader, "COMMIT", err, sizeof(err));
    if (rc)
        exec(s->reader, "ROLLBACK", err, sizeof(err));
    return rc ? rc : gone ? 0 : TD_ENOTFOUND;
}

static int sqlite_device_access(td_store *base, td_store_access_cb cb, void *arg)
{
    sqlite_store *s = (sqlite_store *)base;
    sqlite3_stmt *st;
    int rc = 0, step;
    if (prep(s,
             "SELECT id, owner_id, 1 FROM devices WHERE owner_id IS NOT NULL"
             " UNION ALL SELECT device_id, user_id, 0 FROM device_shares",
             &st))
        return TD_ESTORE;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        td_store_access a = {sqlite3_column_int64(st, 0), sqlite3_column_int64(st, 1),
                             sqlite3_column_int(st, 2) != 0};
        if ((rc = cb(arg, &a)) != 0)
            break;
    }
    if (step != SQLITE_DONE && step != SQLITE_ROW)
        rc = TD_ESTORE;
    sqlite3_finalize(st);
    return rc;
}

static int sqlite_share(td_store *base, int64_t device_id, int64_t user_id, bool add)
{
    sqlite_store *s = (sqlite_store *)base;
    sqlite3_stmt *st;
    if (prep(s,
             add ? "INSERT OR IGNORE INTO device_shares (device_id, user_id) VALUES (?1, ?2)"
                 : "DELETE FROM device_shares WHERE device_id = ?1 AND user_id = ?2",
             &st))
        return TD_ESTORE;
    sqlite3_bind_int64(st, 1, device_id);
    sqlite3_bind_int64(st, 2, user_id);
    return run_write(s, st);
}

static int sqlite_share_add(td_store *base, int64_t device_id, int64_t user_id)
{
    return sqlite_share(base, device_id, user_id, true);
}

static int sqlite_share_remove(td_store *base, int64_t device_id, int64_t user_id)
{
    return sqlite_share(base, device_id, user_id, false);
}

static void read_user(sqlite3_stmt *st, td_store_user *u)
{
    memset(u, 0, sizeof(*u));
    u->id = sqlite3_column_int64(st, 0);
    column_text(st, 1, u->name, sizeof(u->name));
    column_text(st, 2, u->hash, sizeof(u->hash));
    u->admin = sqlite3_column_int(st, 3) != 0;
    u->created_ms = sqlite3_column_int64(st, 4);
}

static int sqlite_users(td_store *base, td_store_user_cb cb, void *arg)
{
    sqlite_store *s = (sqlite_store *)base;
    sqlite3_stmt *st;
    int rc = 0, step;
    if (prep(s, "SELECT id, name, hash, admin, created FROM users ORDER BY id", &st))
        return TD_ESTORE;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        td_store_user u;
        read_user(st, &u);
        if ((rc = cb(arg, &u)) != 0)
            break;
    }
    if (step != SQLITE_DONE && step != SQLITE_ROW)
        rc = TD_ESTORE;
    sqlite3_finalize(st);
    return rc;
}

static int sqlite_user_get(td_store *base, int64_t id, const char *name, td_store_user *out)
{
    sqlite_store *s = (sqlite_store *)base;
    sqlite3_stmt *st;
    if (prep(s,
             name ? "SELECT id, name, hash, admin, created FROM users WHERE name = ?2"
                  : "SELECT id, name, hash, admin, created FROM users WHERE id = ?1",
             &st))
        return TD_ESTORE;
    sqlite3_bind_int64(st, 1, id);
    if (name)
        sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
    int step = sqlite3_step(st);
    if (step == SQLITE_ROW)
        read_user(st, out);
    sqlite3_finalize(st);
    return step == SQLITE_ROW ? 0 : step == SQLITE_DONE ? TD_ENOTFOUND : TD_ESTORE;
}

static int sqlite_user_add(td_store *base, td_store_user *u)
{
    sqlite_store *s = (sqlite_store *)base;
    sqlite3_stmt *st;
    if (prep(s, "INSERT INTO users (name, hash, admin, created) VALUES (?1, ?2, ?3, ?4)", &st))
        return TD_ESTORE;
    sqlite3_bind_text(st, 1, u->name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, u->hash, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 3, u->admin);
    sqlite3_bind_int64(st, 4, u->created_ms);
    int rc = run_write(s, st);
    if (!rc)
        u->id = sqlite3_last_insert_rowid(s->reader);
    return rc;
}

static int sqlite_user_update(td_store *base, int64_t id, const char *name, const char *hash,
                              int admin)
{
    sqlite_store *s = (sqlite_store *)base;
    sqlite3_stmt *st;
    if (prep(s,
             "UPDATE users SET name = coalesce(?2, name), hash = coalesce(?3, hash),"
             " admin = coalesce(?4, admin) WHERE id = ?1",
             &st))
        return TD_ESTORE;
    sqlite3_bind_int64(st, 1, id);
    if (name)
        sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
    if (hash)
        sqlite3_bind_text(st, 3, hash, -1, SQLITE_STATIC);
    if (admin >= 0)
        sqlite3_bind_int(st, 4, admin);
    return run_change(s, st);
}

static int sqlite_user_delete(td_store *base, int64_t id)
{
    return delete_by_id((sqlite_store *)base, "DELETE FROM users WHERE id = ?1", id);
}

static int sqlite_session_add(td_store *base, const char *key, td_store_session *ses)
{
    sqlite_store *s = (sqlite_store *)base;
    sqlite3_stmt *st;
    if (prep(s,
             "INSERT INTO sessions (key, user_id, kind, created, expires)"
             " VALUES (?1, ?2, ?3, ?4, ?5)",
             &st))
        return TD_ESTORE;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, ses->user_id);
    sqlite3_bind_text(st, 3, ses->kind, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, ses->created_ms);
    sqlite3_bind_int64(st, 5, ses->expires_ms);
    int rc = run_write(s, st);
    if (!rc)
        ses->id = sqlite3_last_insert_rowid(s->reader);
    return rc;
}

#define SESSION_COLUMNS "id, user_id, kind, created, expires"

static void read_session(sqlite3_stmt *st, td_store_session *out)
{
    memset(out, 0, sizeof(*out));
    out->id = sqlite3_column_int64(st, 0);
    out->user_id = sqlite3_column_int64(st, 1);
    column_text(st, 2, out->kind, sizeof(out->kind));
    out->created_ms = sqlite3_column_int64(st, 3);
    out->expires_ms = sqlite3_column_int64(st, 4);
}

static int sqlite_session_get(td_store *base, const char *key, int64_t now_ms,
                              td_store_session *out)
{
    sqlite_store *s = (sqlite_store *)base;
    sqlite3_stmt *st;
    if (prep(s, "SELECT " SESSION_COLUMNS " FROM sessions WHERE key = ?1 AND expires > ?2", &st))
        return TD_ESTORE;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, now_ms);
    int step = sqlite3_step(st);
    if (step == SQLITE_ROW)
        read_session(st, out);
    sqlite3_finalize(st);
    return step == SQLITE_ROW ? 0 : step == SQLITE_DONE ? TD_ENOTFOUND : TD_ESTORE;
}

static int sqlite_session_delete(td_store *base, const char *key)
{
    sqlite_store *s = (sqlite_store *)base;
    sqlite3_stmt *st;
    if (prep(s, "DELETE FROM sessions WHERE key = ?1", &st))
        return TD_ESTORE;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    return run_write(s, st);
}

static int sqlite_session_end_user(td_store *base, int64_t user_id, const char *kind,
                                   const char *keep)
{
    sqlite_store *s = (sqlite_store *)base;
    sqlite3_stmt *st;
    if (prep(s, "DELETE FROM sessions WHERE user_id = ?1 AND kind = ?2 AND key <> ?3", &st))
        return TD_ESTORE;
    sqlite3_bind_int64(st, 1, user_id);
    sqlite3_bind_text(st, 2, kind, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, keep ? keep : "", -1, SQLITE_STATIC);
    return run_write(s, st);
}

static int sqlite_tokens(td_store *base, int64_t user_id, int64_t now_ms, td_store_session_cb cb,
                         void *arg)
{
    sqlite_store *s = (sqlite_store *)base;
    sqlite3_stmt *st;
    if (prep(s,
             "SELECT " SESSION_COLUMNS " FROM sessions"
             " WHERE user_id = ?1 AND kind = 'token' AND expires > ?2 ORDER BY id",
             &st))
        return TD_ESTORE;
    sqlite3_bind_int64(st, 1, user_id);
    sqlite3_bind_int64(st, 2, now_ms);
    int step, rc = 0;
    while (!rc && (step = sqlite3_step(st)) == SQLITE_ROW) {
        td_store_session ses;
        read_session(st, &ses);
        rc = cb(arg, &ses);
    }
    if (!rc && step != SQLITE_DONE)
        rc = TD_ESTORE;
    sqlite3_finalize(st);
    return rc;
}

static int sqlite_token_delete(td_store *base, int64_t id, int64_t user_id)
{
    sqlite_store *s = (sqlite_store *)base;
    sqlite3_stmt *st;
    if (prep(s,
             "DELETE FROM sessions WHERE id = ?1 AND kind = 'token' AND (?2 = 0 OR user_id = ?2)",
             &st))
        return TD_ESTORE;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int64(st, 2, user_id);
    return run_change(s, st);
}

static int sqlite_session_purge(td_store *base, int64_t now_ms)
{
    sqlite_store *s = (sqlite_store *)base;
    sqlite3_stmt *st;
    if (prep(s, "DELETE FROM sessions WHERE expires <= ?1", &st))
        return TD_ESTORE;
    sqlite3_bind_int64(st, 1, now_ms);
    return run_write(s, st);
}

/* Finishes an add (sets *id) or a replace (TD_ENOTFOUND when absent). */
static int finish_put(sqlite_store *s, sqlite3_stmt *st, int64_t *id)
{
    if (*id)
        return run_change(s, st);
    int rc = run_write(s, st);
    if (!rc)
        *id = sqlite3_last_insert_rowid(s->reader);
    return rc;
}

static int sqlite_geofences(td_store *base, td_store_geofence_cb cb, void *arg)
{
    sqlite_store *s = (sqlite_store *)base;
    sqlite3_stmt *st;
    int rc = 0, step;
    if (prep(s,
             "SELECT id, coalesce(owner_id, 0), name, area, device_ids, created FROM geofences"
             " ORDER BY id",
             &st))
        return TD_ESTORE;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        td_store_geofence g = {sqlite3_column_int64(st, 0),
                               sqlite3_column_int64(st, 1),
                               (const char *)sqlite3_column_text(st, 2),
                               (const char *)sqlite3_column_text(st, 3),
                               (const char *)sqlite3_column_text(st, 4),
                               sqlite3_column_int64(st, 5)};
        if ((rc = cb(arg, &g)) != 0)
            break;
    }
    if (step != SQLITE_DONE && step != SQLITE_ROW)
        rc = TD_ESTORE;
    sqlite3_finalize(st);
    return rc;
}

static int sqlite_geofence_put(td_store *base, td_store_geofence *g)
{
    sqlite_store *s = (sqlite_store *)base;
    sqlite3_stmt *st;
    if (prep(s,
             g->id ? "UPDATE geofences SET name = ?2, area = ?3, device_ids = ?4 WHERE id = ?1"
                   : "INSERT INTO geofences (owner_id, name, area, device_ids, created)"
                     " VALUES (?5, ?2, ?3, ?4, ?6)",
             &st))
        return TD_ESTORE;
    if (g->id)
        sqlite3_bind_int64(st, 1, g->id);
    sqlite3_bind_text(st, 2, g->name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, g->area, -1, SQLITE_STATIC);
    bind_text_or_null(st, 4, g->device_ids);
    if (!g->id) {
        if (g->owner_id > 0)
            sqlite3_bind_int64(st, 5, g->owner_id);
        sqlite3_bind_int64(st, 6, g->created_ms);
    }
    return finish_put(s, st, &g->id);
}

static int sqlite_geofence_delete(td_store *base, int64_t id)
{
    return delete_by_id((sqlite_store *)base, "DELETE FROM geofences WHERE id = ?1", id);
}

#define EVENT_COLUMNS                                                                              \
    "e.id, e.device_id, coalesce(e.position_id, 0), e.type, e.time, e.latitude, e.longitude,"      \
    " e.attributes, e.state, e.critical, coalesce(e.ack_user_id, 0), e.ack_user,"                  \
    " coalesce(e.ack_time, 0), coalesce(e.closed_time, 0), e.ack_note"

/* Reads EVENT_COLUMNS starting at column i0 (strings valid until the next
 * step). */
static void read_event(sqlite3_stmt *st, int i0, td_store_event *e)
{
    e->id = sqlite3_column_int64(st, i0);
    e->device_id = sqlite3_column_int64(st, i0 + 1);
    e->position_id = sqlite3_column_int64(st, i0 + 2);
    e->type = (const char *)sqlite3_column_text(st, i0 + 3);
    e->time_ms = sqlite3_column_int64(st, i0 + 4);
    e->located = sqlite3_column_type(st, i0 + 5) != SQLITE_NULL;
    e->latitude = sqlite3_column_double(st, i0 + 5);
    e->longitude = sqlite3_column_double(st, i0 + 6);
    e->attributes = (const char *)sqlite3_column_text(st, i0 + 7);
    e->state = (const char *)sqlite3_column_text(st, i0 + 8);
    e->critical = sqlite3_column_int(st, i0 + 9) != 0;
    e->ack_user_id = sqlite3_column_int64(st, i0 + 10);
    e->ack_user = (const char *)sqlite3_column_text(st, i0 + 11);
    e->ack_ms = sqlite3_column_int64(st, i0 + 12);
    e->closed_ms = sqlite3_column_int64(st, i0 + 13);
    e->ack_note = (const char *)sqlite3_column_text(st, i0 + 14);
}

/* Steps st to the end, handing each row's event (from column 0) to cb. */
static int each_event(sqlite3_stmt *st, td_store_event_cb cb, void *arg)
{
    int rc = 0, step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        td_store_event e;
        read_event(st, 0, &e);
        if ((rc = cb(arg, &e)) != 0)
            break;
    }
    if (step != SQLITE_DONE && step != SQLITE_ROW)
        rc = TD_ESTORE;
    sqlite3_finalize(st);
    return rc;
}

static int sqlite_events(td_store *base, const td_store_event_filter *f, td_store_event_cb cb,
                         void *arg)
{
    sqlite_store *s = (sqlite_store *)base;
    sqlite3_stmt *st;

    /* ?1 device (0 = any), ?2 user whose devices (0 = all), keyset on
     * (time, id) after event ?6, ?8 one event, ?9 state. */
#define EVENTS_WHERE                                                                               \
    " FROM events e WHERE (?1 = 0 OR e.device_id = ?1)"                                            \
    " AND (?2 = 0 OR e.device_id IN (SELECT id FROM devices WHERE owner_id = ?2"                   \
    "  UNION SELECT device_id FROM device_shares WHERE user_id = ?2))"                             \
    " AND e.time >= ?3 AND e.time < ?4 AND (?5 IS NULL OR e.type = ?5)"                            \
    " AND (?8 = 0 OR e.id = ?8) AND (?9 IS NULL OR e.state = ?9)"
    static const char *const asc = "SELECT " EVENT_COLUMNS EVENTS_WHERE
                                   " AND (?6 = 0 OR (e.time, e.id) > (SELECT time, id FROM events"
                                   " WHERE id = ?6)) ORDER BY e.time, e.id LIMIT ?7";
    static const char *const desc = "SELECT " EVENT_COLUMNS EVENTS_WHERE
                                    " AND (?6 = 0 OR (e.time, e.id) < (SELECT time, id FROM events"
                                    " WHERE id = ?6)) ORDER BY e.time DESC, e.id DESC LIMIT ?7";
#undef EVENTS_WHERE
    if (prep(s, f->desc ? desc : asc, &st))
        return TD_ESTORE;
    sqlite3_bind_int64(st, 1, f->device_id);
    sqlite3_bind_int64(st, 2, f->user_id);
    sqlite3_bind_int64(st, 3, f->from_ms);
    sqlite3_bind_int64(st, 4, f->to_ms);
    if (f->type)
        sqlite3_bind_text(st, 5, f->type, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 6, f->after);
    sqlite3_bind_int(st, 7, f->limit);
    sqlite3_bind_int64(st, 8, f->id);
    if (f->state)
        sqlite3_bind_text(st, 9, f->state, -1, SQLITE_STATIC);
    return each_event(st, cb, arg);
}

static int sqlite_event_ack(td_store *base, int64_t id, int64_t user_id, const char *user_name,
                            const char *note, bool close, int64_t now_ms)
{
    sqlite_store *s = (sqlite_store *)base;
    sqlite3_stmt *st;
    /* Acknowledging keeps the first acknowledgement; closing an event no
     * one acknowledged records the closer as its acknowledger too. */
    if (prep(s,
             close ? "UPDATE events SET state = 'closed', closed_time = ?5,"
                     " ack_user_id = coalesce(ack_user_id, ?2), ack_user = coalesce(ack_user, ?3),"
                     " ack_time = coalesce(ack_time, ?5), ack_note = coalesce(?4, ack_note)"
                     " WHERE id = ?1 AND state <> 'closed'"
                   : "UPDATE events SET state = 'acknowledged', ack_user_id = ?2, ack_user = ?3,"
                     " ack_note = ?4, ack_time = ?5 WHERE id = ?1 AND state = 'new'",
             &st))
        return TD_ESTORE;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int64(st, 2, user_id);
    sqlite3_bind_text(st, 3, user_name, -1, SQLITE_STATIC);
    bind_text_or_null(st, 4, note);
    sqlite3_bind_int64(st, 5, now_ms);
    int rc = run_change(s, st);
    if (rc != TD_ENOTFOUND)
        return rc;
    /* Nothing changed: unknown event, or already in that state. */
    if (prep(s, "SELECT 1 FROM events WHERE id = ?1", &st))
        return TD_ESTORE;
    sqlite3_bind_int64(st, 1, id);
    rc = sqlite3_step(st) == SQLITE_ROW ? TD_EEXISTS : TD_ENOTFOUND;
    sqlite3_finalize(st);
    return rc;
}

static int sqlite_events_due(td_store *base, int64_t before_ms, td_store_event_cb cb, void *arg)
{
    sqlite_store *s = (sqlite_store *)base;
    sqlite3_stmt *st;
    if (prep(s,
             "SELECT " EVENT_COLUMNS " FROM events e WHERE e.state = 'new' AND e.critical = 1"
             " AND coalesce(e.notified_time, 0) < ?1 ORDER BY e.notified_time LIMIT 1000",
             &st))
        return TD_ESTORE;
    sqlite3_bind_int64(st, 1, before_ms);
    return each_event(st, cb, arg);
}

static int sqlite_event_renotify(td_store *base, int64_t id, int64_t now_ms, const int64_t *notify,
                                 int nnotify)
{
    sqlite_store *s = (sqlite_store *)base;
    sqlite3_stmt *st, *ob;
    int rc;
    if (sqlite3_exec(s->reader, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        return TD_ESTORE;
    rc = prep(s, "UPDATE events SET notified_time = ?2 WHERE id = ?1", &st);
    if (!rc) {
        sqlite3_bind_int64(st, 1, id);
        sqlite3_bind_int64(st, 2, now_ms);
        rc = run_change(s, st);
    }
    if (!rc && nnotify > 0 && !(rc = prep(s, writer_sql[W_OUTBOX], &ob))) {
        rc = put_outbox(ob, id, notify, nnotify, true, now_ms);
        sqlite3_finalize(ob);
    }
    sqlite3_exec(s->reader, rc ? "ROLLBACK" : "COMMIT", NULL, NULL, NULL);
    return rc;
}

/* ---- rules and notification channels ------------------------------------ */

static int sqlite_rules(td_store *base, td_store_rule_cb cb, void *arg)
{
    sqlite_store *s = (sqlite_store *)base;
    sqlite3_stmt *st;
    int rc = 0, step;
    if (prep(s,
             "SELECT id, coalesce(owner_id, 0), type, device_ids, attributes, created FROM rules"
             " ORDER BY id",
             &st))
        return TD_ESTORE;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        td_store_rule r = {sqlite3_column_int64(st, 0),
                           sqlite3_column_int64(st, 1),
                           (const char *)sqlite3_column_text(st, 2),
                           (const char *)sqlite3_column_text(st, 3),
                           (const char *)sqlite3_column_text(st, 4),
                           sqlite3_column_int64(st, 5)};
        if ((rc = cb(arg, &r)) != 0)
            break;
    }
    if (step != SQLITE_DONE && step != SQLITE_ROW)
        rc = TD_ESTORE;
    sqlite3_finalize(st);
    return rc;
}

static int sqlite_rule_put(td_store *base, td_store_rule *r)
{
    sqlite_store *s = (sqlite_store *)base;
    sqlite3_stmt *st;
    if (prep(s,
             r->id ? "UPDATE rules SET type = ?2, device_ids = ?3, attributes = ?4 WHERE id = ?1"
                   : "INSERT INTO rules (owner_id, type, device_ids, attributes, created)"
                     " VALUES (?5, ?2, ?3, ?4, ?6)",
             &st))
        return TD_ESTORE;
    if (r->id)
        sqlite3_bind_int64(st, 1, r->id);
    sqlite3_bind_text(st, 2, r->type, -1, SQLITE_STATIC);
    bind_text_or_null(st, 3, r->device_ids);
    sqlite3_bind_text(st, 4, r->attributes ? r->attributes : "{}", -1, SQLITE_STATIC);
    if (!r->id) {
        if (r->owner_id > 0)
            sqlite3_bind_int64(st, 5, r->owner_id);
        sqlite3_bind_int64(st, 6, r->created_ms);
    }
    return finish_put(s, st, &r->id);
}

static int sqlite_rule_delete(td_store *base, int64_t id)
{
    return delete_by_id((sqlite_store *)base, "DELETE FROM rules WHERE id = ?1", id);
}

static int sqlite_notifications(td_store *base, td_store_notification_cb cb, void *arg)
{
    sqlite_store *s = (sqlite_store *)base;
    sqlite3_stmt *st;
    int rc = 0, step;
    if (prep(s,
             "SELECT id, user_id, channel, target, event_types, device_ids, created"
             " FROM notifications ORDER BY id",
             &st))
        return TD_ESTORE;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        td_store_notification n = {sqlite3_column_int64(st, 0),
                                   sqlite3_column_int64(st, 1),
                                   (const char *)sqlite3_column_text(st, 2),
                                   (const char *)sqlite3_column_text(st, 3),
                                   (const char *)sqlite3_column_text(st, 4),
                                   (const char *)sqlite3_column_text(st, 5),
                                   sqlite3_column_int64(st, 6)};
        if ((rc = cb(arg, &n)) != 0)
            break;
    }
    if (step != SQLITE_DONE && step != SQLITE_ROW)
        rc = TD_ESTORE;
    sqlite3_finalize(st);
    return rc;
}

static int sqlite_notification_put(td_store *base, td_store_notification *n)
{
    sqlite_store *s = (sqlite_store *)base;
    sqlite3_stmt *st;
    if (prep(s,
             n->id ? "UPDATE notifications SET channel = ?2, target = ?3, event_types = ?4,"
                     " device_ids = ?5 WHERE id = ?1"
                   : "INSERT INTO notifications (user_id, channel, target, event_types,"
                     " device_ids, created) VALUES (?6, ?2, ?3, ?4, ?5, ?7)",
             &st))
        return TD_ESTORE;
    if (n->id)
        sqlite3_bind_int64(st, 1, n->id);
    sqlite3_bind_text(st, 2, n->channel, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, n->target ? n->target : "", -1, SQLITE_STATIC);
    bind_text_or_null(st, 4, n->event_types);
    bind_text_or_null(st, 5, n->device_ids);
    if (!n->id) {
        sqlite3_bind_int64(st, 6, n->user_id);
        sqlite3_bind_int64(st, 7, n->created_ms);
    }
    return finish_put(s, st, &n->id);
}

static int sqlite_notification_delete(td_store *base, int64_t id)
{
    return delete_by_id((sqlite_store *)base, "DELETE FROM notifications WHERE id = ?1", id);
}

/* ---- the notification outbox -------------------------------------------- */

static int sqlite_outbox_due(td_store *base, int64_t now_ms, int limit, td_store_outbox_cb cb,
                             void *arg)
{
    sqlite_store *s = (sqlite_store *)base;
    sqlite3_stmt *st;
    int rc = 0, step;
    if (prep(s,
             "SELECT o.id, coalesce(o.notification_id, 0), o.channel, o.target, o.attempts,"
             " o.renotify, o.created, o.next_time, d.unique_id, d.name, coalesce(u.admin, "
             "0), " EVENT_COLUMNS " FROM outbox o JOIN events e ON e.id = o.event_id"
             " JOIN devices d ON d.id = e.device_id"
             " LEFT JOIN notifications n ON n.id = o.notification_id"
             " LEFT JOIN users u ON u.id = n.user_id"
             " WHERE o.status = 'pending' AND o.next_time <= ?1 ORDER BY o.next_time, o.id"
             " LIMIT ?2",
             &st))
        return TD_ESTORE;
    sqlite3_bind_int64(st, 1, now_ms);
    sqlite3_bind_int(st, 2, limit);
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        td_store_outbox o;
        o.id = sqlite3_column_int64(st, 0);
        o.notification_id = sqlite3_column_int64(st, 1);
        o.channel = (const char *)sqlite3_column_text(st, 2);
        o.target = (const char *)sqlite3_column_text(st, 3);
        o.attempts = sqlite3_column_int(st, 4);
        o.renotify = sqlite3_column_int(st, 5) != 0;
        o.created_ms = sqlite3_column_int64(st, 6);
        o.next_ms = sqlite3_column_int64(st, 7);
        o.device_unique_id = (const char *)sqlite3_column_text(st, 8);
        o.device_name = (const char *)sqlite3_column_text(st, 9);
        o.owner_admin = sqlite3_column_int(st, 10) != 0;
        read_event(st, 11, &o.event);
        if ((rc = cb(arg, &o)) != 0)
            break;
    }
    if (step != SQLITE_DONE && step != SQLITE_ROW)
        rc = TD_ESTORE;
    sqlite3_finalize(st);
    return rc;
}

static int sqlite_outbox_result(td_store *base, int64_t id, const char *status, int64_t next_ms,
                                const char *error, int64_t now_ms)
{
    sqlite_store *s = (sqlite_store *)base;
    sqlite3_stmt *st;
    if (prep(s,
             "UPDATE outbox SET status = ?2, next_time = ?3, last_error = ?4,"
             " attempts = attempts + 1,"
             " sent_time = CASE WHEN ?2 = 'sent' THEN ?5 ELSE sent_time END WHERE id = ?1",
             &st))
        return TD_ESTORE;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_text(st, 2, status, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, next_ms);
    bind_text_or_null(st, 4, error);
    sqlite3_bind_int64(st, 5, now_ms);
    return run_change(s, st);
}

static int sqlite_outbox_counts(td_store *base, int64_t *pending, int64_t *sent, int64_t *failed)
{
    sqlite_store *s = (sqlite_store *)base;
    sqlite3_stmt *st;
    *pending = *sent = *failed = 0;
    if (prep(s, "SELECT status, count(*) FROM outbox GROUP BY status", &st))
        return TD_ESTORE;
    while (sqlite3_step(st) == SQLITE_ROW) {
        const char *k = (const char *)sqlite3_column_text(st, 0);
        int64_t n = sqlite3_column_int64(st, 1);
        if (strcmp(k, "pending") == 0)
            *pending = n;
        else if (strcmp(k, "sent") == 0)
            *sent = n;
        else if (strcmp(k, "failed") == 0)
            *failed = n;
    }
    sqlite3_finalize(st);
    return 0;
}

/* ---- commands and voice messages ---------------------------------------- */

static void bind_ms_or_null(sqlite3_stmt *st, int i, int64_t v)
{
    if (v)
        sqlite3_bind_int64(st, i, v);
    else
        sqlite3_bind_null(st, i);
}

static int sqlite_command_add(td_store *base, td_store_command *c)
{
    sqlite_store *s = (sqlite_store *)base;
    sqlite3_stmt *st;
    if (prep(s,
             "INSERT INTO commands (device_id, user_id, user_name, type, attributes, status,"
             " created, expires) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
             &st))
        return TD_ESTORE;
    sqlite3_bind_int64(st, 1, c->device_id);
    bind_ms_or_null(st, 2, c->user_id);
    bind_text_or_null(st, 3, c->user_name);
    sqlite3_bind_text(st, 4, c->type, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, c->attributes ? c->attributes : "{}", -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 6, c->status ? c->status : "queued", -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 7, c->created_ms);
    sqlite3_bind_int64(st, 8, c->expires_ms);
    c->id = 0;
    return finish_put(s, st, &c->id);
}

static int sqlite_commands(td_store *base, const td_store_command_filter *f, td_store_command_cb cb,
                           void *arg)
{
    sqlite_store *s = (sqlite_store *)base;
    sqlite3_stmt *st;
    int rc = 0, step;
    char sql[768];
    snprintf(sql, sizeof(sql),
             "SELECT id, device_id, coalesce(user_id, 0), user_name, type, attributes, status,"
             " created, coalesce(sent_time, 0), coalesce(acked_time, 0), expires, ack_key, result"
             " FROM commands WHERE (?1 = 0 OR id = ?1) AND (?2 = 0 OR device_id = ?2)"
             " AND (?3 IS NULL OR status = ?3) AND (?4 IS NULL OR ?4 = '*' OR ack_key = ?4)"
             " AND (?5 = 0 OR expires < ?5) AND (?7 = 0 OR coalesce(ack_key, '') <> '')"
             " ORDER BY id %s LIMIT ?6",
             f->desc ? "DESC" : "ASC");
    if (prep(s, sql, &st))
        return TD_ESTORE;
    sqlite3_bind_int64(st, 1, f->id);
    sqlite3_bind_int64(st, 2, f->device_id);
    bind_text_or_null(st, 3, f->status);
    bind_text_or_null(st, 4, f->ack_key);
    sqlite3_bind_int64(st, 5, f->expires_before);
    sqlite3_bind_int64(st, 6, f->limit > 0 ? f->limit : -1);
    sqlite3_bind_int(st, 7, f->answerable);
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        td_store_command c = {
            .id = sqlite3_column_int64(st, 0),
            .device_id = sqlite3_column_int64(st, 1),
            .user_id = sqlite3_column_int64(st, 2),
            .user_name = (const char *)sqlite3_column_text(st, 3),
            .type = (const char *)sqlite3_column_text(st, 4),
            .attributes = (const char *)sqlite3_column_text(st, 5),
            .status = (const char *)sqlite3_column_text(st, 6),
            .created_ms = sqlite3_column_int64(st, 7),
            .sent_ms = sqlite3_column_int64(st, 8),
            .acked_ms = sqlite3_column_int64(st, 9),
            .expires_ms = sqlite3_column_int64(st, 10),
            .ack_key = (const char *)sqlite3_column_text(st, 11),
            .result = (const char *)sqlite3_column_text(st, 12),
        };
        if ((rc = cb(arg, &c)) != 0)
            break;
    }
    if (step != SQLITE_DONE && step != SQLITE_ROW)
        rc = TD_ESTORE;
    sqlite3_finalize(st);
    return rc;
}

static int sqlite_command_set(td_store *base, int64_t id, const char *status, int64_t now_ms,
                              const char *ack_key, const char *result)
{
    sqlite_store *s = (sqlite_store *)base;
    sqlite3_stmt *st;
    bool sent = strcmp(status, "sent") == 0;
    bool answered = strcmp(status, "acknowledged") == 0 || strcmp(status, "failed") == 0;
    if (prep(s,
             "UPDATE commands SET status = ?2,"
             " sent_time = CASE WHEN ?4 THEN ?3 ELSE sent_time END,"
             " ack_key = CASE WHEN ?4 THEN ?6 ELSE ack_key END,"
             " acked_time = CASE WHEN ?5 AND status = 'sent' THEN ?3 ELSE acked_time END,"
             " result = coalesce(?7, result)"
             " WHERE id = ?1 AND status IN ('queued', 'sent')",
             &st))
        return TD_ESTORE;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_text(st, 2, status, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, now_ms);
    sqlite3_bind_int(st, 4, sent);
    sqlite3_bind_int(st, 5, answered);
    bind_text_or_null(st, 6, ack_key);
    bind_text_or_null(st, 7, result);
    return run_change(s, st);
}

const char *const td_command_statuses[TD_COMMAND_STATUSES] = {"queued", "sent", "acknowledged",
                                                              "failed", "expired"};

static int sqlite_command_counts(td_store *base, int64_t counts[TD_COMMAND_STATUSES])
{
    sqlite_store *s = (sqlite_store *)base;
    sqlite3_stmt *st;
    memset(counts, 0, TD_COMMAND_STATUSES * sizeof(counts[0]));
    if (prep(s, "SELECT status, count(*) FROM commands GROUP BY status", &st))
        return TD_ESTORE;
    while (sqlite3_step(st) == SQLITE_ROW) {
        const char *k = (const char *)sqlite3_column_text(st, 0);
        for (int i = 0; k && i < TD_COMMAND_STATUSES; i++)
            if (strcmp(k, td_command_statuses[i]) == 0)
                counts[i] = sqlite3_column_int64(st, 1);
    }
    sqlite3_finalize(st);
    return 0;
}

static int sqlite_voice_add(td_store *base, td_store_voice *v)
{
    sqlite_store *s = (sqlite_store *)base;
    sqlite3_stmt *st;
    if (prep(s,
             "INSERT INTO voice (device_id, user_id, direction, time, size, duration, file)"
             " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
             &st))
        return TD_ESTORE;
    sqlite3_bind_int64(st, 1, v->device_id);
    bind_ms_or_null(st, 2, v->user_id);
    sqlite3_bind_text(st, 3, v->direction, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, v->time_ms);
    sqlite3_bind_int64(st, 5, v->size);
    sqlite3_bind_int64(st, 6, v->duration_ms);
    sqlite3_bind_text(st, 7, v->file, -1, SQLITE_STATIC);
    v->id = 0;
    return finish_put(s, st, &v->id);
}

static int sqlite_voices(td_store *base, int64_t id, int64_t device_id, int limit,
                         td_store_voice_cb cb, void *arg)
{
    sqlite_store *s = (sqlite_store *)base;
    sqlite3_stmt *st;
    int rc = 0, step;
    if (prep(s,
             "SELECT id, device_id, coalesce(user_id, 0), direction, time, size, duration, file"
             " FROM voice WHERE (?1 = 0 OR id = ?1) AND (?2 = 0 OR device_id = ?2)"
             " ORDER BY id DESC LIMIT ?3",
             &st))
        return TD_ESTORE;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int64(st, 2, device_id);
    sqlite3_bind_int64(st, 3, limit > 0 ? limit : -1);
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        td_store_voice v = {
            .id = sqlite3_column_int64(st, 0),
            .device_id = sqlite3_column_int64(st, 1),
            .user_id = sqlite3_column_int64(st, 2),
            .direction = (const char *)sqlite3_column_text(st, 3),
            .time_ms = sqlite3_column_int64(st, 4),
            .size = sqlite3_column_int64(st, 5),
            .duration_ms = sqlite3_column_int64(st, 6),
            .file = (const char *)sqlite3_column_text(st, 7),
        };
        if ((rc = cb(arg, &v)) != 0)
            break;
    }
    if (step != SQLITE_DONE && step != SQLITE_ROW)
        rc = TD_ESTORE;
    sqlite3_finalize(st);
    return rc;
}

const td_store_ops td_store_sqlite = {
    .name = "sqlite",
    .accepts = sqlite_accepts,               /* any plain path or file: URI */
    .open = sqlite_open,                     /* creates and migrates */
    .close = sqlite_close,                   /* checkpoints the WAL */
    .put_batch = sqlite_put_batch,           /* writer thread, one transaction */
    .devices = sqlite_devices,               /* loop thread */
    .latest = sqlite_latest,                 /* loop thread */
    .query = sqlite_query,                   /* loop thread, keyset paging */
    .reset_online = sqlite_reset_online,     /* loop thread */
    .purge = sqlite_purge,                   /* writer thread, one transaction per batch */
    .checkpoint = sqlite_checkpoint,         /* a thread of its own, beside the writer */
    .checkpoint_due = sqlite_checkpoint_due, /* loop thread, after a commit */
    /* The API side, all on the loop thread. */
    .device_add = sqlite_device_add,
    .device_update = sqlite_device_update,
    .device_delete = sqlite_device_delete,
    .device_access = sqlite_device_access,
    .share_add = sqlite_share_add,
    .share_remove = sqlite_share_remove,
    .users = sqlite_users,
    .user_get = sqlite_user_get,
    .user_add = sqlite_user_add,
    .user_update = sqlite_user_update,
    .user_delete = sqlite_user_delete,
    .session_add = sqlite_session_add,
    .session_get = sqlite_session_get,
    .session_delete = sqlite_session_delete,
    .session_end_user = sqlite_session_end_user,
    .tokens = sqlite_tokens,
    .token_delete = sqlite_token_delete,
    .session_purge = sqlite_session_purge,
    .geofences = sqlite_geofences,
    .geofence_put = sqlite_geofence_put,
    .geofence_delete = sqlite_geofence_delete,
    .events = sqlite_events,
    .event_ack = sqlite_event_ack,
    .events_due = sqlite_events_due,
    .event_renotify = sqlite_event_renotify,
    .rules = sqlite_rules,
    .rule_put = sqlite_rule_put,
    .rule_delete = sqlite_rule_delete,
    .notifications = sqlite_notifications,
    .notification_put = sqlite_notification_put,
    .notification_delete = sqlite_notification_delete,
    .outbox_due = sqlite_outbox_due,
    .outbox_result = sqlite_outbox_result,
    .outbox_counts = sqlite_outbox_counts,
    .command_add = sqlite_command_add,
    .commands = sqlite_commands,
    .command_set = sqlite_command_set,
    .command_counts = sqlite_command_counts,
    .voice_add = sqlite_voice_add,
    .voices = sqlite_voices,
};
