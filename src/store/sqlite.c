/*
 * The embedded SQLite store (the default, `--db trackd.db`).
 *
 * Two connections to one WAL database: the writer, used only by put_batch()
 * on the writer thread, and the reader, used by the event-loop thread. WAL
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
};

#define MIGRATIONS (sizeof(migrations) / sizeof(migrations[0]))
#define UNKNOWN_KEEP 1000 /* newest unknown-traffic samples kept */

enum {
    W_BEGIN,
    W_COMMIT,
    W_ROLLBACK,
    W_DEVICE,
    W_POSITION,
    W_EVENT,
    W_UNKNOWN,
    W_UNKNOWN_TRIM,
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
    [W_POSITION] = "INSERT INTO positions (device_id, protocol, type, server_time, device_time,"
                   " valid, located, latitude, longitude, speed, course, altitude, alarms,"
                   " attributes) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12,"
                   " ?13, ?14)",
    [W_EVENT] = "INSERT INTO events (device_id, position_id, type, time, latitude, longitude,"
                " attributes) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    [W_UNKNOWN] =
        "INSERT INTO unknown_traffic (time, remote, reason, bytes) VALUES (?1, ?2, ?3, ?4)",
    [W_UNKNOWN_TRIM] = "DELETE FROM unknown_traffic WHERE id <= (SELECT max(id) FROM"
                       " unknown_traffic) - ?1",
};

#define POSITION_COLUMNS                                                                           \
    "id, device_id, protocol, type, server_time, device_time, valid, located, latitude,"           \
    " longitude, speed, course, altitude, alarms, attributes"

typedef struct sqlite_store {
    td_store base;
    sqlite3 *writer, *reader;
    sqlite3_stmt *w[W_COUNT];
} sqlite_store;

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
        rc = exec(s->writer, "PRAGMA wal_autocheckpoint = 20000; PRAGMA cache_size = -65536;", err,
                  errcap);
    if (!rc)
        rc = migrate(s->writer, err, errcap);
    if (!rc)
        rc = open_conn(target, &s->reader, err, errcap);
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

static int put_device(sqlite_store *s, td_store_device *d)
{
    sqlite3_stmt *st = s->w[W_DEVICE];
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

static int put_row(sqlite_store *s, const td_store_batch *b, const td_store_row *r)
{
    sqlite3_stmt *st = s->w[W_POSITION];
    char alarms[256];
    int64_t dev = b->devices[r->dev].id;

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
    if (!r->alarms)
        return 0;

    /* Each alarm is also an event row, pointing at its record. */
    int64_t pos = sqlite3_last_insert_rowid(s->writer);
    sqlite3_stmt *ev = s->w[W_EVENT];
    for (int i = 0; i < TD_ALARM_COUNT; i++) {
        if (!(r->alarms & TD_ALARM_BIT(i)))
            continue;
        sqlite3_bind_int64(ev, 1, dev);
        sqlite3_bind_int64(ev, 2, pos);
        sqlite3_bind_text(ev, 3, td_alarm_name((td_alarm)i), -1, SQLITE_STATIC);
        sqlite3_bind_int64(ev, 4, r->device_ms);
        if (r->located) {
            sqlite3_bind_double(ev, 5, r->latitude);
            sqlite3_bind_double(ev, 6, r->longitude);
        }
        sqlite3_bind_text(ev, 7, r->attributes ? r->attributes : "{}", -1, SQLITE_STATIC);
        if (step_done(ev))
            return TD_ESTORE;
    }
    return 0;
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
    int rc = step_done(s->w[W_BEGIN]);

    for (size_t i = 0; !rc && i < b->ndevices; i++)
        rc = put_device(s, &b->devices[i]);
    for (size_t i = 0; !rc && i < b->nrows; i++)
        rc = put_row(s, b, &b->rows[i]);
    for (size_t i = 0; !rc && i < b->nunknown; i++)
        rc = put_unknown(s, &b->unknown[i]);
    if (!rc && b->nunknown) {
        sqlite3_bind_int(s->w[W_UNKNOWN_TRIM], 1, UNKNOWN_KEEP);
        rc = step_done(s->w[W_UNKNOWN_TRIM]);
    }
    if (!rc)
        rc = step_done(s->w[W_COMMIT]);
    if (rc)
        step_done(s->w[W_ROLLBACK]);
    return rc;
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

const td_store_ops td_store_sqlite = {
    .name = "sqlite",
    .accepts = sqlite_accepts,           /* any plain path or file: URI */
    .open = sqlite_open,                 /* creates and migrates */
    .close = sqlite_close,               /* checkpoints the WAL */
    .put_batch = sqlite_put_batch,       /* writer thread, one transaction */
    .devices = sqlite_devices,           /* loop thread */
    .latest = sqlite_latest,             /* loop thread */
    .query = sqlite_query,               /* loop thread, keyset paging */
    .reset_online = sqlite_reset_online, /* loop thread */
};
