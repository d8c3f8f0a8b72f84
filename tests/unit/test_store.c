/*
 * The SQLite store through its ops table, on a fresh database file in a
 * temporary directory per test: schema creation and idempotent reopening,
 * group-committed batches (device upserts, records of every kind, alarms and
 * their event rows, unknown-traffic samples and their cap), the read side
 * (devices, latest, time-range queries with keyset paging), online reset,
 * all-or-nothing batches, the retention purge (batches, the cut-off, each
 * device's newest record, events that pointed at purged records), the
 * migration that added its index, and the errors for targets it cannot
 * open. Some
 * checks read the file with sqlite3 directly to see what was written.
 */
#include "support.h"

#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "trackd/store.h"

#define T0 1709210096000LL /* 2024-02-29T12:34:56Z */
#define SCHEMA_VERSION 6   /* migrations in src/store/sqlite.c */

typedef struct fixture {
    char dir[64];
    char path[128];
    td_store *s;
} fixture;

static void open_store(fixture *f)
{
    char err[256] = "";
    int rc = td_store_open(f->path, &f->s, err, sizeof(err));
    if (rc != 0)
        fail_msg("open %s: %d %s", f->path, rc, err);
    assert_non_null(f->s);
    assert_ptr_equal(f->s->ops, &td_store_sqlite);
}

static void close_store(fixture *f)
{
    f->s->ops->close(f->s);
    f->s = NULL;
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    snprintf(f->dir, sizeof(f->dir), "/tmp/trackd-store-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof(f->path), "%s/trackd.db", f->dir);
    open_store(f);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    static const char *const suffixes[] = {"", "-wal", "-shm", "-journal"};
    char p[160];

    if (f->s)
        close_store(f);
    for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
        snprintf(p, sizeof(p), "%s%s", f->path, suffixes[i]);
        unlink(p);
    }
    rmdir(f->dir);
    free(f);
    return 0;
}

/* Runs a query on its own connection and returns the first column of the
 * first row as an integer (-1 when there is no row). */
static int64_t sql_int(const fixture *f, const char *sql)
{
    sqlite3 *db;
    sqlite3_stmt *st;
    int64_t v = -1;

    assert_int_equal(sqlite3_open_v2(f->path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        fail_msg("%s: %s", sql, sqlite3_errmsg(db));
    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

/* The same for a text column, copied into buf. */
static const char *sql_text(const fixture *f, const char *sql, char *buf, size_t cap)
{
    sqlite3 *db;
    sqlite3_stmt *st;

    buf[0] = '\0';
    assert_int_equal(sqlite3_open_v2(f->path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        fail_msg("%s: %s", sql, sqlite3_errmsg(db));
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
        snprintf(buf, cap, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    sqlite3_close(db);
    return buf;
}

static void device(td_store_device *d, const char *uid, const char *proto, int64_t seen)
{
    memset(d, 0, sizeof(*d));
    snprintf(d->unique_id, sizeof(d->unique_id), "%s", uid);
    snprintf(d->protocol, sizeof(d->protocol), "%s", proto);
    snprintf(d->last_remote, sizeof(d->last_remote), "tcp:192.0.2.7:40001");
    d->first_seen_ms = d->last_seen_ms = seen;
    d->online = true;
}

static td_store_row row(int dev, const char *proto, td_rec_type type, int64_t device_ms,
                        const char *attrs)
{
    td_store_row r;
    memset(&r, 0, sizeof(r));
    r.dev = dev;
    r.protocol = proto;
    r.type = type;
    r.server_ms = T0 + 500000;
    r.device_ms = device_ms;
    r.attributes = attrs ? strdup(attrs) : NULL;
    return r;
}

/* Collected read-side results. */
typedef struct collected {
    td_store_device dev[8];
    size_t ndev;
    td_store_position pos[128];
    char attrs[128][64];
    char proto[128][16];
    size_t npos;
} collected;

static int on_device(void *arg, const td_store_device *d)
{
    collected *c = arg;
    assert_true(c->ndev < 8);
    c->dev[c->ndev++] = *d;
    return 0;
}

static int on_position(void *arg, const td_store_position *p)
{
    collected *c = arg;
    assert_true(c->npos < 128);
    c->pos[c->npos] = *p;
    snprintf(c->attrs[c->npos], sizeof(c->attrs[0]), "%s", p->attributes);
    snprintf(c->proto[c->npos], sizeof(c->proto[0]), "%s", p->protocol);
    c->pos[c->npos].attributes = c->attrs[c->npos];
    c->pos[c->npos].protocol = c->proto[c->npos];
    c->npos++;
    return 0;
}

static void test_schema_and_reopen(void **state)
{
    fixture *f = *state;

    assert_int_equal(sql_int(f, "SELECT version FROM schema_version"), SCHEMA_VERSION);
    assert_int_equal(sql_int(f, "SELECT count(*) FROM schema_version"), 1);
    assert_int_equal(
        sql_int(f, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND"
                   " name IN ('devices', 'positions', 'events', 'unknown_traffic', 'users',"
                   " 'sessions', 'device_shares', 'geofences', 'rules', 'notifications',"
                   " 'outbox')"),
        11);
    char mode[16];
    assert_string_equal(sql_text(f, "PRAGMA journal_mode", mode, sizeof(mode)), "wal");

    /* Reopening (twice) changes nothing. */
    for (int i = 0; i < 2; i++) {
        close_store(f);
        open_store(f);
        assert_int_equal(sql_int(f, "SELECT version FROM schema_version"), SCHEMA_VERSION);
        assert_int_equal(sql_int(f, "SELECT count(*) FROM schema_version"), 1);
    }

    /* Two stores open on one file at once (a second process, a test). */
    td_store *other;
    char err[256] = "";
    assert_int_equal(td_store_open(f->path, &other, err, sizeof(err)), 0);
    other->ops->close(other);
    f->s->ops->close(NULL); /* safe on NULL */
}

static void test_newer_schema_is_refused(void **state)
{
    fixture *f = *state;
    char err[256] = "";
    td_store *s = NULL;

    close_store(f);
    assert_int_equal(sql_int(f, "UPDATE schema_version SET version = 99 RETURNING version"), 99);
    assert_int_not_equal(td_store_open(f->path, &s, err, sizeof(err)), 0);
    assert_non_null(strstr(err, "newer"));
    assert_non_null(strstr(err, "99"));
    /* The file is untouched: put it back and it opens again. */
    assert_int_equal(sql_int(f, "UPDATE schema_version SET version = 6 RETURNING version"),
                     SCHEMA_VERSION);
    open_store(f);
}

/* The events the gateway raises for the rows' alarms: one per alarm, with
 * its record. */
static td_store_new_event alarm_evbuf[32];
static void alarm_events(td_store_batch *b)
{
    b->events = alarm_evbuf;
    b->nevents = 0;
    for (size_t i = 0; i < b->nrows; i++)
        for (int a = 0; a < TD_ALARM_COUNT; a++)
            if (b->rows[i].alarms & TD_ALARM_BIT(a))
                alarm_evbuf[b->nevents++] = (td_store_new_event){.dev = b->rows[i].dev,
                                                                 .row = (int)i,
                                                                 .type = td_alarm_name((td_alarm)a),
                                                                 .time_ms = b->rows[i].device_ms,
                                                                 .located = b->rows[i].located,
                                                                 .latitude = b->rows[i].latitude,
                                                                 .longitude = b->rows[i].longitude};
}

/* Two devices and four records of several kinds. */
static void first_batch(fixture *f, td_store_device dev[2], int64_t *pos_id)
{
    td_store_row rows[4];
    td_store_batch b;

    device(&dev[0], "dev-a", "watch", T0);
    dev[0].last_seen_ms = T0 + 120000;
    dev[0].has_location = true;
    dev[0].last_latitude = 22.549677;
    dev[0].last_longitude = 114.082258;
    dev[0].last_fix_ms = T0;
    device(&dev[1], "860000000000001", "iw", T0 + 30000);
    snprintf(dev[1].name, sizeof(dev[1].name), "Bracelet");

    rows[0] = row(0, "watch", TD_REC_POSITION, T0, "{\"batteryLevel\":20}");
    rows[0].valid = rows[0].located = true;
    rows[0].latitude = 22.549677;
    rows[0].longitude = 114.082258;
    rows[0].speed = 12.5;
    rows[0].course = 90;
    rows[0].altitude = 31.5;
    rows[0].alarms = TD_ALARM_BIT(TD_ALARM_SOS) | TD_ALARM_BIT(TD_ALARM_LOW_BATTERY);
    /* A status record located from the device's last known fix. */
    rows[1] = row(0, "watch", TD_REC_STATUS, T0 + 60000, "{\"steps\":100}");
    rows[1].located = true;
    rows[1].latitude = 22.549677;
    rows[1].longitude = 114.082258;
    rows[2] = row(1, "iw", TD_REC_HEARTBEAT, T0 + 30000, NULL);
    /* An older fix that arrives late: not the latest. */
    rows[3] = row(0, "watch", TD_REC_POSITION, T0 - 60000, "{}");

    memset(&b, 0, sizeof(b));
    b.devices = dev;
    b.ndevices = 2;
    b.rows = rows;
    b.nrows = 4;
    alarm_events(&b);
    assert_int_equal(f->s->ops->put_batch(f->s, &b), 0);
    td_store_batch_clear(&b);
    assert_int_equal(b.nrows, 0);
    assert_null(rows[0].attributes);
    *pos_id = sql_int(f, "SELECT id FROM positions WHERE alarms IS NOT NULL");
}

static void test_batch_devices_and_latest(void **state)
{
    fixture *f = *state;
    td_store_device dev[2];
    collected *c = calloc(1, sizeof(*c));
    int64_t alarm_pos;

    assert_non_null(c);
    first_batch(f, dev, &alarm_pos);
    assert_true(dev[0].id > 0);
    assert_true(dev[1].id > 0);
    assert_true(dev[0].id != dev[1].id);

    /* devices(): both, with their fields. */
    assert_int_equal(f->s->ops->devices(f->s, on_device, c), 0);
    assert_int_equal(c->ndev, 2);
    const td_store_device *a = &c->dev[0], *b = &c->dev[1];
    assert_int_equal(a->id, dev[0].id);
    assert_string_equal(a->unique_id, "dev-a");
    assert_string_equal(a->name, "dev-a"); /* no name: the unique id */
    assert_string_equal(a->protocol, "watch");
    assert_int_equal(a->first_seen_ms, T0);
    assert_int_equal(a->last_seen_ms, T0 + 120000);
    assert_string_equal(a->last_remote, "tcp:192.0.2.7:40001");
    assert_true(a->online);
    assert_true(a->has_location);
    assert_true(fabs(a->last_latitude - 22.549677) < 1e-9);
    assert_true(fabs(a->last_longitude - 114.082258) < 1e-9);
    assert_int_equal(a->last_fix_ms, T0);
    assert_int_equal(b->id, dev[1].id);
    assert_string_equal(b->unique_id, "860000000000001");
    assert_string_equal(b->name, "Bracelet");
    assert_string_equal(b->protocol, "iw");
    assert_false(b->has_location);

    /* latest(): the newest by device time, not by arrival. */
    c->npos = 0;
    assert_int_equal(f->s->ops->latest(f->s, dev[0].id, on_position, c), 0);
    assert_int_equal(c->npos, 1);
    assert_int_equal(c->pos[0].type, TD_REC_STATUS);
    assert_int_equal(c->pos[0].device_ms, T0 + 60000);
    assert_int_equal(c->pos[0].device_id, dev[0].id);
    assert_true(c->pos[0].located);
    assert_false(c->pos[0].valid);
    assert_true(fabs(c->pos[0].latitude - 22.549677) < 1e-9);
    assert_string_equal(c->pos[0].attributes, "{\"steps\":100}");
    assert_int_equal(c->pos[0].alarms, 0);

    c->npos = 0;
    assert_int_equal(f->s->ops->latest(f->s, dev[1].id, on_position, c), 0);
    assert_int_equal(c->npos, 1);
    assert_int_equal(c->pos[0].type, TD_REC_HEARTBEAT);
    assert_string_equal(c->pos[0].protocol, "iw");
    assert_false(c->pos[0].located);
    assert_string_equal(c->pos[0].attributes, "{}");
    assert_int_equal(c->pos[0].server_ms, T0 + 500000);

    c->npos = 0;
    assert_int_equal(f->s->ops->latest(f->s, dev[1].id + 100, on_position, c), TD_ENOTFOUND);
    assert_int_equal(c->npos, 0);

    /* The same device again: same id, first_seen kept, last_seen only
     * moves forward, the last location kept when the update has none. */
    td_store_device again[1];
    td_store_batch bt;
    device(&again[0], "dev-a", "watch", T0 + 1000);
    snprintf(again[0].last_remote, sizeof(again[0].last_remote), "udp:198.51.100.1:9");
    memset(&bt, 0, sizeof(bt));
    bt.devices = again;
    bt.ndevices = 1;
    assert_int_equal(f->s->ops->put_batch(f->s, &bt), 0);
    assert_int_equal(again[0].id, dev[0].id);
    c->ndev = 0;
    assert_int_equal(f->s->ops->devices(f->s, on_device, c), 0);
    assert_int_equal(c->ndev, 2);
    assert_int_equal(c->dev[0].first_seen_ms, T0);
    assert_int_equal(c->dev[0].last_seen_ms, T0 + 120000);
    assert_string_equal(c->dev[0].last_remote, "udp:198.51.100.1:9");
    assert_true(c->dev[0].has_location);
    assert_int_equal(c->dev[0].last_fix_ms, T0);
    free(c);
}

static int stop_after_one(void *arg, const td_store_device *d)
{
    (void)d;
    (*(int *)arg)++;
    return 7;
}

static void test_callback_stops_iteration(void **state)
{
    fixture *f = *state;
    td_store_device dev[2];
    int64_t alarm_pos;
    int calls = 0;

    first_batch(f, dev, &alarm_pos);
    assert_int_equal(f->s->ops->devices(f->s, stop_after_one, &calls), 7);
    assert_int_equal(calls, 1);
}

static void test_alarms_and_events(void **state)
{
    fixture *f = *state;
    td_store_device dev[2];
    collected *c = calloc(1, sizeof(*c));
    int64_t alarm_pos;
    char sql[256], text[128];

    assert_non_null(c);
    first_batch(f, dev, &alarm_pos);
    assert_true(alarm_pos > 0);

    /* Alarms round-trip through the text column. */
    assert_int_equal(f->s->ops->query(f->s, dev[0].id, 0, INT64_MAX, 0, 100, on_position, c), 0);
    assert_int_equal(c->npos, 3);
    const td_store_position *p = NULL;
    for (size_t i = 0; i < c->npos; i++)
        if (c->pos[i].id == alarm_pos)
            p = &c->pos[i];
    assert_non_null(p);
    assert_int_equal(p->alarms, TD_ALARM_BIT(TD_ALARM_SOS) | TD_ALARM_BIT(TD_ALARM_LOW_BATTERY));
    assert_int_equal(p->type, TD_REC_POSITION);
    assert_true(p->valid && p->located);
    assert_true(fabs(p->speed - 12.5) < 1e-9);
    assert_true(fabs(p->course - 90) < 1e-9);
    assert_true(fabs(p->altitude - 31.5) < 1e-9);
    assert_string_equal(p->attributes, "{\"batteryLevel\":20}");
    snprintf(sql, sizeof(sql), "SELECT alarms FROM positions WHERE id = %lld",
             (long long)alarm_pos);
    assert_string_equal(sql_text(f, sql, text, sizeof(text)), "sos,lowBattery");

    /* One event per alarm, pointing at the record. */
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM events WHERE position_id = %lld",
             (long long)alarm_pos);
    assert_int_equal(sql_int(f, sql), 2);
    assert_int_equal(sql_int(f, "SELECT count(*) FROM events"), 2);
    snprintf(sql, sizeof(sql),
             "SELECT group_concat(type, ',') FROM (SELECT type FROM events WHERE device_id ="
             " %lld ORDER BY type)",
             (long long)dev[0].id);
    assert_string_equal(sql_text(f, sql, text, sizeof(text)), "lowBattery,sos");
    assert_int_equal(sql_int(f, "SELECT count(*) FROM events WHERE time = 1709210096000 AND"
                                " state = 'new' AND abs(latitude - 22.549677) < 1e-9"),
                     2);
    /* Records without alarms store NULL and no events. */
    assert_int_equal(sql_int(f, "SELECT count(*) FROM positions WHERE alarms IS NULL"), 3);
    free(c);
}

static void test_query_and_paging(void **state)
{
    fixture *f = *state;
    td_store_device dev[1];
    td_store_row rows[25];
    td_store_batch b;
    collected *all = calloc(1, sizeof(*all)), *page = calloc(1, sizeof(*page));

    assert_non_null(all);
    assert_non_null(page);
    device(&dev[0], "pager", "gotop", T0);
    /* 50 records over two batches, out of time order, two per second. */
    for (int batch = 0; batch < 2; batch++) {
        for (int i = 0; i < 25; i++) {
            int k = (i * 7 + batch * 3) % 25 + batch * 25; /* a shuffled 0..49 */
            char attrs[32];
            snprintf(attrs, sizeof(attrs), "{\"k\":%d}", k);
            rows[i] = row(0, "gotop", TD_REC_POSITION, T0 + (k / 2) * 1000, attrs);
            rows[i].valid = rows[i].located = true;
            rows[i].latitude = k;
        }
        memset(&b, 0, sizeof(b));
        b.devices = dev;
        b.ndevices = 1;
        b.rows = rows;
        b.nrows = 25;
        assert_int_equal(f->s->ops->put_batch(f->s, &b), 0);
        td_store_batch_clear(&b);
    }
    assert_int_equal(sql_int(f, "SELECT count(*) FROM positions"), 50);

    /* [from, to): k / 2 in 5..19, 30 records, ordered by (time, id). */
    int64_t from = T0 + 5000, to = T0 + 20000;
    assert_int_equal(f->s->ops->query(f->s, dev[0].id, from, to, 0, 1000, on_position, all), 0);
    assert_int_equal(all->npos, 30);
    for (size_t i = 0; i < all->npos; i++) {
        assert_true(all->pos[i].device_ms >= from && all->pos[i].device_ms < to);
        if (i > 0) {
            const td_store_position *x = &all->pos[i - 1], *y = &all->pos[i];
            assert_true(x->device_ms < y->device_ms ||
                        (x->device_ms == y->device_ms && x->id < y->id));
        }
    }
    assert_int_equal(all->pos[0].device_ms, from);
    assert_int_equal(all->pos[29].device_ms, to - 1000);

    /* Keyset pages of 7 (pages end inside a pair of equal times): every
     * record exactly once, in the same order. */
    size_t got = 0, pages = 0;
    int64_t after = 0;
    for (;;) {
        page->npos = 0;
        assert_int_equal(f->s->ops->query(f->s, dev[0].id, from, to, after, 7, on_position, page),
                         0);
        pages++;
        for (size_t i = 0; i < page->npos; i++) {
            assert_true(got < all->npos);
            assert_int_equal(page->pos[i].id, all->pos[got].id);
            got++;
        }
        if (page->npos < 7)
            break;
        after = page->pos[page->npos - 1].id;
    }
    assert_int_equal(got, 30);
    assert_int_equal(pages, 5); /* 7 + 7 + 7 + 7 + 2 */

    /* Empty ranges and other devices. */
    page->npos = 0;
    assert_int_equal(f->s->ops->query(f->s, dev[0].id, to, to, 0, 10, on_position, page), 0);
    assert_int_equal(page->npos, 0);
    assert_int_equal(f->s->ops->query(f->s, dev[0].id + 1, 0, INT64_MAX, 0, 10, on_position, page),
                     0);
    assert_int_equal(page->npos, 0);
    /* The latest is one of the two records at the newest second. */
    page->npos = 0;
    assert_int_equal(f->s->ops->latest(f->s, dev[0].id, on_position, page), 0);
    assert_int_equal(page->pos[0].device_ms, T0 + 24000);
    free(all);
    free(page);
}

/* The writer's log is measured after each commit: a checkpoint beside the
 * writer is due once it has grown by 1,000 pages since the last due one,
 * not before, and not again until it grows that much more. */
static void test_checkpoint_due_as_the_log_grows(void **state)
{
    fixture *f = *state;
    td_store_device dev[1];
    static td_store_row rows[2000];
    static char attrs[2000][600];
    td_store_batch b;
    int due = 0, batches = 0;

    device(&dev[0], "logger", "iw", T0);
    assert_false(f->s->ops->checkpoint_due(f->s));
    /* 2,000 records of about 600 bytes a batch: some 300 pages each. */
    while (due == 0 && batches < 40) {
        for (int i = 0; i < 2000; i++) {
            snprintf(attrs[i], sizeof(attrs[i]), "{\"pad\":\"%0560d\",\"k\":%d}", i,
                     batches * 2000 + i);
            rows[i] =
                row(0, "iw", TD_REC_POSITION, T0 + (int64_t)(batches * 2000 + i) * 1000, attrs[i]);
        }
        memset(&b, 0, sizeof(b));
        b.devices = dev;
        b.ndevices = 1;
        b.rows = rows;
        b.nrows = 2000;
        assert_int_equal(f->s->ops->put_batch(f->s, &b), 0);
        td_store_batch_clear(&b);
        batches++;
        due += f->s->ops->checkpoint_due(f->s);
    }
    assert_int_equal(due, 1);
    assert_true(batches > 1); /* not after the first, small log */
    char wal[512];
    struct stat st;
    snprintf(wal, sizeof(wal), "%s-wal", f->path);
    assert_int_equal(stat(wal, &st), 0);
    assert_true(st.st_size >= 1000 * 4096);        /* the log held 1,000 pages when it said yes */
    assert_false(f->s->ops->checkpoint_due(f->s)); /* not twice for the same growth */
    assert_int_equal(f->s->ops->checkpoint(f->s), 0);
    assert_int_equal(sql_int(f, "SELECT count(*) FROM positions"), batches * 2000);
}

static void test_unknown_traffic_is_capped(void **state)
{
    fixture *f = *state;
    static td_store_unknown u[201];
    td_store_batch b;

    for (int batch = 0; batch < 5; batch++) {
        for (int i = 0; i < 201; i++) {
            int k = batch * 201 + i;
            memset(&u[i], 0, sizeof(u[i]));
            u[i].time_ms = T0 + k;
            snprintf(u[i].remote, sizeof(u[i].remote), "tcp:203.0.113.5:%d", 1000 + k);
            snprintf(u[i].reason, sizeof(u[i].reason), "unknown protocol");
            u[i].bytes[0] = 0x78;
            u[i].bytes[1] = 0x78;
            u[i].bytes[2] = (uint8_t)k;
            u[i].len = 3;
        }
        memset(&b, 0, sizeof(b));
        b.unknown = u;
        b.nunknown = 201;
        assert_int_equal(f->s->ops->put_batch(f->s, &b), 0);
    }
    /* 1005 written, the newest 1000 kept. */
    assert_int_equal(sql_int(f, "SELECT count(*) FROM unknown_traffic"), 1000);
    assert_int_equal(sql_int(f, "SELECT min(time) FROM unknown_traffic"), T0 + 5);
    assert_int_equal(sql_int(f, "SELECT max(time) FROM unknown_traffic"), T0 + 1004);
    assert_int_equal(sql_int(f, "SELECT count(*) FROM unknown_traffic WHERE length(bytes) = 3 AND"
                                " hex(bytes) LIKE '7878%' AND reason = 'unknown protocol'"),
                     1000);
    char text[64];
    assert_string_equal(sql_text(f,
                                 "SELECT remote || ' ' || hex(bytes) FROM unknown_traffic"
                                 " ORDER BY id DESC LIMIT 1",
                                 text, sizeof(text)),
                        "tcp:203.0.113.5:2004 7878EC");
}

static void test_reset_online(void **state)
{
    fixture *f = *state;
    td_store_device dev[2];
    collected *c = calloc(1, sizeof(*c));
    int64_t alarm_pos;

    assert_non_null(c);
    first_batch(f, dev, &alarm_pos);
    assert_int_equal(sql_int(f, "SELECT count(*) FROM devices WHERE online = 1"), 2);
    assert_int_equal(f->s->ops->reset_online(f->s), 0);
    assert_int_equal(sql_int(f, "SELECT count(*) FROM devices WHERE online = 1"), 0);
    assert_int_equal(f->s->ops->devices(f->s, on_device, c), 0);
    assert_int_equal(c->ndev, 2);
    assert_false(c->dev[0].online);
    assert_false(c->dev[1].online);
    assert_int_equal(f->s->ops->reset_online(f->s), 0); /* nothing to do: fine */
    free(c);
}

static void test_failed_batch_rolls_back(void **state)
{
    fixture *f = *state;
    td_store_device dev[2], more[1];
    td_store_row rows[3];
    td_store_unknown u;
    td_store_batch b;
    int64_t alarm_pos;

    first_batch(f, dev, &alarm_pos);
    int64_t positions = sql_int(f, "SELECT count(*) FROM positions");
    int64_t events = sql_int(f, "SELECT count(*) FROM events");

    /* A new device, a good record with an alarm, an unknown sample, then a
     * record without a protocol (NOT NULL): nothing of it may stay. */
    device(&more[0], "dev-new", "watch", T0 + 900000);
    rows[0] = row(0, "watch", TD_REC_POSITION, T0 + 900000, "{}");
    rows[0].alarms = TD_ALARM_BIT(TD_ALARM_FALL);
    rows[1] = row(0, "watch", TD_REC_STATUS, T0 + 900001, "{}");
    rows[2] = row(0, NULL, TD_REC_STATUS, T0 + 900002, "{}");
    memset(&u, 0, sizeof(u));
    u.time_ms = T0;
    u.len = 1;
    memset(&b, 0, sizeof(b));
    b.devices = more;
    b.ndevices = 1;
    b.rows = rows;
    b.nrows = 3;
    b.unknown = &u;
    b.nunknown = 1;
    alarm_events(&b);
    int rc = f->s->ops->put_batch(f->s, &b);
    assert_int_equal(rc, TD_ESTORE);
    td_store_batch_clear(&b);

    assert_int_equal(sql_int(f, "SELECT count(*) FROM devices"), 2);
    assert_int_equal(sql_int(f, "SELECT count(*) FROM devices WHERE unique_id = 'dev-new'"), 0);
    assert_int_equal(sql_int(f, "SELECT count(*) FROM positions"), positions);
    assert_int_equal(sql_int(f, "SELECT count(*) FROM events"), events);
    assert_int_equal(sql_int(f, "SELECT count(*) FROM unknown_traffic"), 0);

    /* The store is usable afterwards: the same batch, fixed, commits. */
    rows[0] = row(0, "watch", TD_REC_POSITION, T0 + 900000, "{}");
    rows[0].alarms = TD_ALARM_BIT(TD_ALARM_FALL);
    b.devices = more;
    b.ndevices = 1;
    b.rows = rows;
    b.nrows = 1;
    b.unknown = &u;
    b.nunknown = 1;
    alarm_events(&b);
    assert_int_equal(f->s->ops->put_batch(f->s, &b), 0);
    td_store_batch_clear(&b);
    assert_int_equal(sql_int(f, "SELECT count(*) FROM devices WHERE unique_id = 'dev-new'"), 1);
    assert_int_equal(sql_int(f, "SELECT count(*) FROM positions"), positions + 1);
    assert_int_equal(sql_int(f, "SELECT count(*) FROM events"), events + 1);
    assert_int_equal(sql_int(f, "SELECT count(*) FROM unknown_traffic"), 1);
}

static void test_bad_targets(void **state)
{
    fixture *f = *state;
    td_store *s = NULL;
    char err[256];

    err[0] = '\0';
    assert_int_equal(td_store_open("postgresql://x", &s, err, sizeof(err)), TD_EUNSUPPORTED);
    assert_null(s);
    assert_non_null(strstr(err, "PostgreSQL"));
    err[0] = '\0';
    assert_int_equal(td_store_open("postgres://u@h/db", &s, err, sizeof(err)), TD_EUNSUPPORTED);
    assert_true(err[0] != '\0');
    err[0] = '\0';
    assert_int_equal(td_store_open("mysql://x", &s, err, sizeof(err)), TD_EUNSUPPORTED);
    assert_non_null(strstr(err, "mysql://x"));

    /* A directory is not a database file. */
    err[0] = '\0';
    int rc = td_store_open(f->dir, &s, err, sizeof(err));
    assert_int_equal(rc, TD_ESTORE);
    assert_null(s);
    assert_non_null(strstr(err, "sqlite"));

    /* Nor is a path under a missing directory. */
    char missing[200];
    snprintf(missing, sizeof(missing), "%s/no/such/dir/t.db", f->dir);
    err[0] = '\0';
    assert_int_equal(td_store_open(missing, &s, err, sizeof(err)), TD_ESTORE);
    assert_null(s);
    assert_non_null(strstr(err, missing));
}

/* ---- the API side: users, sessions, managed devices, access, events ---- */

static int count_users(void *arg, const td_store_user *u)
{
    (void)u;
    (*(int *)arg)++;
    return 0;
}

static void test_users(void **state)
{
    fixture *f = *state;
    td_store *s = f->s;
    td_store_user u = {0}, got;
    int n = 0;

    snprintf(u.name, sizeof(u.name), "alice");
    snprintf(u.hash, sizeof(u.hash), "$argon2id$fake");
    u.created_ms = T0;
    assert_int_equal(s->ops->user_add(s, &u), 0);
    assert_true(u.id > 0);
    td_store_user dup = u;
    assert_int_equal(s->ops->user_add(s, &dup), TD_EEXISTS);

    assert_int_equal(s->ops->user_get(s, 0, "alice", &got), 0);
    assert_int_equal(got.id, u.id);
    assert_false(got.admin);
    assert_string_equal(got.hash, "$argon2id$fake");
    assert_int_equal(s->ops->user_get(s, 0, "nobody", &got), TD_ENOTFOUND);
    assert_int_equal(s->ops->user_get(s, 999, NULL, &got), TD_ENOTFOUND);

    /* NULL/negative leave a field alone. */
    assert_int_equal(s->ops->user_update(s, u.id, NULL, "$argon2id$new", 1), 0);
    assert_int_equal(s->ops->user_get(s, u.id, NULL, &got), 0);
    assert_string_equal(got.name, "alice");
    assert_string_equal(got.hash, "$argon2id$new");
    assert_true(got.admin);
    assert_int_equal(s->ops->user_update(s, u.id, "alicia", NULL, -1), 0);
    assert_int_equal(s->ops->user_get(s, u.id, NULL, &got), 0);
    assert_string_equal(got.name, "alicia");
    assert_true(got.admin);
    assert_int_equal(s->ops->user_update(s, 999, "x", NULL, -1), TD_ENOTFOUND);

    td_store_user bob = {0};
    snprintf(bob.name, sizeof(bob.name), "bob");
    snprintf(bob.hash, sizeof(bob.hash), "h");
    assert_int_equal(s->ops->user_add(s, &bob), 0);
    assert_int_equal(s->ops->user_update(s, bob.id, "alicia", NULL, -1), TD_EEXISTS);
    assert_int_equal(s->ops->users(s, count_users, &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(s->ops->user_delete(s, bob.id), 0);
    assert_int_equal(s->ops->user_delete(s, bob.id), TD_ENOTFOUND);
}

static void test_sessions(void **state)
{
    fixture *f = *state;
    td_store *s = f->s;
    td_store_user u = {0};
    td_store_session ses = {0}, got;

    snprintf(u.name, sizeof(u.name), "carol");
    snprintf(u.hash, sizeof(u.hash), "h");
    assert_int_equal(s->ops->user_add(s, &u), 0);
    ses.user_id = u.id;
    snprintf(ses.kind, sizeof(ses.kind), "session");
    ses.created_ms = T0;
    ses.expires_ms = T0 + 1000;
    assert_int_equal(s->ops->session_add(s, "key-1", &ses), 0);
    snprintf(ses.kind, sizeof(ses.kind), "token");
    ses.expires_ms = T0 + 5000;
    assert_int_equal(s->ops->session_add(s, "key-2", &ses), 0);
    assert_int_equal(s->ops->session_add(s, "key-2", &ses), TD_EEXISTS);

    assert_int_equal(s->ops->session_get(s, "key-1", T0 + 999, &got), 0);
    assert_int_equal(got.user_id, u.id);
    assert_string_equal(got.kind, "session");
    /* Expired at expires_ms. */
    assert_int_equal(s->ops->session_get(s, "key-1", T0 + 1000, &got), TD_ENOTFOUND);
    assert_int_equal(s->ops->session_get(s, "key-2", T0 + 1000, &got), 0);
    assert_string_equal(got.kind, "token");
    assert_int_equal(s->ops->session_get(s, "nope", T0, &got), TD_ENOTFOUND);

    assert_int_equal(s->ops->session_purge(s, T0 + 2000), 0);
    assert_int_equal(sql_int(f, "SELECT count(*) FROM sessions"), 1);
    assert_int_equal(s->ops->session_delete(s, "key-2"), 0);
    assert_int_equal(s->ops->session_get(s, "key-2", T0, &got), TD_ENOTFOUND);

    /* Deleting the user ends their sessions. */
    assert_int_equal(s->ops->session_add(s, "key-3", &ses), 0);
    assert_int_equal(s->ops->user_delete(s, u.id), 0);
    assert_int_equal(s->ops->session_get(s, "key-3", T0, &got), TD_ENOTFOUND);
}

typedef struct access_list {
    td_store_access a[8];
    int n;
} access_list;

static int on_access(void *arg, const td_store_access *a)
{
    access_list *l = arg;
    assert_true(l->n < 8);
    l->a[l->n++] = *a;
    return 0;
}

static int on_event(void *arg, const td_store_event *e)
{
    int64_t *ids = arg;
    ids[++ids[0]] = e->id;
    return 0;
}

static void test_managed_devices_access_and_events(void **state)
{
    fixture *f = *state;
    td_store *s = f->s;
    td_store_user alice = {0}, bob = {0};
    snprintf(alice.name, sizeof(alice.name), "alice");
    snprintf(bob.name, sizeof(bob.name), "bob");
    snprintf(alice.hash, sizeof(alice.hash), "h");
    snprintf(bob.hash, sizeof(bob.hash), "h");
    assert_int_equal(s->ops->user_add(s, &alice), 0);
    assert_int_equal(s->ops->user_add(s, &bob), 0);

    td_store_device d1, d2;
    device(&d1, "imei-1", "", 0);
    assert_int_equal(s->ops->device_add(s, &d1, alice.id), 0);
    assert_true(d1.id > 0);
    device(&d2, "imei-1", "", 0);
    assert_int_equal(s->ops->device_add(s, &d2, bob.id), TD_EEXISTS);
    device(&d2, "imei-2", "", 0);
    assert_int_equal(s->ops->device_add(s, &d2, 0), 0); /* no owner */
    char name[64];
    assert_string_equal(
        sql_text(f, "SELECT name FROM devices WHERE unique_id = 'imei-1'", name, sizeof(name)),
        "imei-1");

    assert_int_equal(s->ops->device_update(s, d1.id, NULL, "Grandma"), 0);
    assert_int_equal(s->ops->device_update(s, d1.id, "imei-2", NULL), TD_EEXISTS);
    assert_int_equal(s->ops->device_update(s, 999, NULL, "x"), TD_ENOTFOUND);
    assert_string_equal(
        sql_text(f, "SELECT name FROM devices WHERE unique_id = 'imei-1'", name, sizeof(name)),
        "Grandma");

    assert_int_equal(s->ops->share_add(s, d1.id, bob.id), 0);
    assert_int_equal(s->ops->share_add(s, d1.id, bob.id), 0); /* idempotent */
    access_list l = {0};
    assert_int_equal(s->ops->device_access(s, on_access, &l), 0);
    assert_int_equal(l.n, 2);
    bool owner_seen = false, share_seen = false;
    for (int i = 0; i < l.n; i++) {
        assert_int_equal(l.a[i].device_id, d1.id);
        owner_seen |= l.a[i].owner && l.a[i].user_id == alice.id;
        share_seen |= !l.a[i].owner && l.a[i].user_id == bob.id;
    }
    assert_true(owner_seen && share_seen);

    /* Reports through a batch: the managed device is updated by id. */
    td_store_device snap[2] = {d1, d2};
    snprintf(snap[0].protocol, sizeof(snap[0].protocol), "iw");
    snap[0].last_seen_ms = T0 + 10;
    td_store_row rows[3] = {row(0, "iw", TD_REC_POSITION, T0 + 1000, "{}"),
                            row(0, "iw", TD_REC_STATUS, T0 + 2000, "{}"),
                            row(1, "iw", TD_REC_POSITION, T0 + 1500, "{}")};
    rows[0].alarms = TD_ALARM_BIT(TD_ALARM_SOS) | TD_ALARM_BIT(TD_ALARM_FALL);
    rows[1].alarms = TD_ALARM_BIT(TD_ALARM_LOW_BATTERY);
    rows[2].alarms = TD_ALARM_BIT(TD_ALARM_SOS);
    /* The events the gateway raises for those alarms. */
    td_store_new_event evs[4] = {
        {.dev = 0, .row = 0, .type = "sos", .time_ms = T0 + 1000, .critical = true},
        {.dev = 0, .row = 0, .type = "fall", .time_ms = T0 + 1000},
        {.dev = 0, .row = 1, .type = "lowBattery", .time_ms = T0 + 2000},
        {.dev = 1, .row = 2, .type = "sos", .time_ms = T0 + 1500}};
    td_store_batch b = {
        .devices = snap, .ndevices = 2, .rows = rows, .nrows = 3, .events = evs, .nevents = 4};
    assert_int_equal(s->ops->put_batch(s, &b), 0);
    assert_int_equal(snap[0].id, d1.id);
    assert_true(rows[0].id > 0 && evs[0].id > 0 && evs[3].id > evs[0].id);
    assert_int_equal(sql_int(f, "SELECT count(*) FROM events WHERE critical = 1"), 1);
    assert_int_equal(sql_int(f, "SELECT count(*) FROM devices"), 2);
    assert_string_equal(
        sql_text(f, "SELECT protocol FROM devices WHERE unique_id = 'imei-1'", name, sizeof(name)),
        "iw");
    td_store_batch_clear(&b);

    /* Events: all, per device, per user's visibility, per type, paged. */
    int64_t ids[16];
    td_store_event_filter ef = {.to_ms = INT64_MAX, .limit = 100};
    ids[0] = 0;
    assert_int_equal(s->ops->events(s, &ef, on_event, ids), 0);
    assert_int_equal(ids[0], 4);
    ef.user_id = bob.id; /* sees imei-1 through the share, not imei-2 */
    ids[0] = 0;
    assert_int_equal(s->ops->events(s, &ef, on_event, ids), 0);
    assert_int_equal(ids[0], 3);
    ef.type = "sos";
    ids[0] = 0;
    assert_int_equal(s->ops->events(s, &ef, on_event, ids), 0);
    assert_int_equal(ids[0], 1);
    ef.type = NULL;
    ef.user_id = 0;
    ef.limit = 2;
    ids[0] = 0;
    assert_int_equal(s->ops->events(s, &ef, on_event, ids), 0);
    assert_int_equal(ids[0], 2);
    ef.after = ids[2];
    assert_int_equal(s->ops->events(s, &ef, on_event, ids), 0);
    assert_int_equal(ids[0], 4);
    for (int i = 1; i < 4; i++)
        assert_true(ids[i] != ids[i + 1]);

    assert_int_equal(s->ops->share_remove(s, d1.id, bob.id), 0);
    /* Deleting removes the device's records and events, nothing else. */
    assert_int_equal(s->ops->device_delete(s, d1.id), 0);
    assert_int_equal(s->ops->device_delete(s, d1.id), TD_ENOTFOUND);
    assert_int_equal(sql_int(f, "SELECT count(*) FROM positions"), 1);
    assert_int_equal(sql_int(f, "SELECT count(*) FROM events"), 1);
    assert_int_equal(sql_int(f, "SELECT count(*) FROM device_shares"), 0);

    /* A batch still holding the deleted device drops its rows. */
    td_store_row late = row(0, "iw", TD_REC_POSITION, T0 + 3000, "{}");
    b = (td_store_batch){.devices = snap, .ndevices = 1, .rows = &late, .nrows = 1};
    assert_int_equal(s->ops->put_batch(s, &b), 0);
    assert_int_equal(snap[0].id, -1);
    assert_int_equal(sql_int(f, "SELECT count(*) FROM positions"), 1);
    assert_int_equal(sql_int(f, "SELECT count(*) FROM devices"), 1);
    td_store_batch_clear(&b);
}

/* Commands keep their status history; only open ones change. */
static int cmd_rows(void *arg, const td_store_command *c)
{
    char *out = arg;
    size_t n = strlen(out);
    snprintf(out + n, 512 - n, "%lld:%s:%s:%s:%s;", (long long)c->id, c->type, c->status,
             c->ack_key ? c->ack_key : "-", c->result ? c->result : "-");
    return 0;
}

static void test_commands_and_voice(void **state)
{
    fixture *f = *state;
    td_store *s = f->s;
    char out[512] = "";
    td_store_device d = {.first_seen_ms = T0};
    snprintf(d.unique_id, sizeof(d.unique_id), "1234567890");
    assert_int_equal(s->ops->device_add(s, &d, 0), 0);

    td_store_command a = {.device_id = d.id,
                          .type = "positionSingle",
                          .attributes = "{}",
                          .created_ms = T0,
                          .expires_ms = T0 + 1000,
                          .user_name = "admin"};
    td_store_command b = a;
    b.type = "sosNumber";
    b.attributes = "{\"index\":1,\"phone\":\"123456\"}";
    b.expires_ms = T0 + 5000;
    assert_int_equal(s->ops->command_add(s, &a), 0);
    assert_int_equal(s->ops->command_add(s, &b), 0);
    assert_true(a.id > 0 && b.id == a.id + 1);

    /* queued -> sent (with its key) -> acknowledged; a final one stays. */
    assert_int_equal(s->ops->command_set(s, a.id, "sent", T0 + 10, "CR", NULL), 0);
    assert_int_equal(s->ops->command_set(s, a.id, "acknowledged", T0 + 20, NULL, "ok"), 0);
    assert_int_equal(s->ops->command_set(s, a.id, "failed", T0 + 30, NULL, "late"), TD_ENOTFOUND);
    assert_int_equal(s->ops->command_set(s, 999, "sent", T0, "x", NULL), TD_ENOTFOUND);
    td_store_command_filter all = {0};
    assert_int_equal(s->ops->commands(s, &all, cmd_rows, out), 0);
    char want[256];
    snprintf(want, sizeof(want),
             "%lld:positionSingle:acknowledged:CR:ok;%lld:sosNumber:queued:-:-;", (long long)a.id,
             (long long)b.id);
    assert_string_equal(out, want);
    assert_int_equal(sql_int(f, "SELECT sent_time FROM commands WHERE id = 1"), T0 + 10);
    assert_int_equal(sql_int(f, "SELECT acked_time FROM commands WHERE id = 1"), T0 + 20);

    /* Filters: open by key, expiring, newest first, limit. */
    assert_int_equal(s->ops->command_set(s, b.id, "sent", T0 + 40, "SOS1", NULL), 0);
    td_store_command_filter by_key = {.device_id = d.id, .status = "sent", .ack_key = "SOS1"};
    out[0] = '\0';
    assert_int_equal(s->ops->commands(s, &by_key, cmd_rows, out), 0);
    assert_non_null(strstr(out, "sosNumber:sent:SOS1"));
    by_key.ack_key = "CR";
    out[0] = '\0';
    assert_int_equal(s->ops->commands(s, &by_key, cmd_rows, out), 0);
    assert_string_equal(out, "");
    by_key.ack_key = TD_ACK_ANY;
    assert_int_equal(s->ops->commands(s, &by_key, cmd_rows, out), 0);
    assert_non_null(strstr(out, "sosNumber"));
    td_store_command c = a;
    c.type = "findDevice";
    c.expires_ms = T0 + 100;
    assert_int_equal(s->ops->command_add(s, &c), 0);
    td_store_command_filter due = {.status = "queued", .expires_before = T0 + 101};
    out[0] = '\0';
    assert_int_equal(s->ops->commands(s, &due, cmd_rows, out), 0);
    assert_non_null(strstr(out, "findDevice:queued"));
    due.expires_before = T0 + 100;
    out[0] = '\0';
    assert_int_equal(s->ops->commands(s, &due, cmd_rows, out), 0);
    assert_string_equal(out, "");
    td_store_command_filter newest = {.desc = true, .limit = 1};
    out[0] = '\0';
    assert_int_equal(s->ops->commands(s, &newest, cmd_rows, out), 0);
    assert_non_null(strstr(out, "findDevice"));
    assert_null(strstr(out, "sosNumber"));

    /* Sent and waiting for an answer (a key), past their expiry: b (SOS1)
     * is; one sent with no answer to wait for ("") is not. */
    td_store_command e = a;
    e.type = "message";
    e.expires_ms = T0 + 100;
    assert_int_equal(s->ops->command_add(s, &e), 0);
    assert_int_equal(s->ops->command_set(s, e.id, "sent", T0 + 50, "", NULL), 0);
    td_store_command_filter waiting = {
        .status = "sent", .expires_before = T0 + 10000, .answerable = true};
    out[0] = '\0';
    assert_int_equal(s->ops->commands(s, &waiting, cmd_rows, out), 0);
    assert_non_null(strstr(out, "sosNumber:sent:SOS1"));
    assert_null(strstr(out, "message"));
    waiting.answerable = false;
    out[0] = '\0';
    assert_int_equal(s->ops->commands(s, &waiting, cmd_rows, out), 0);
    assert_non_null(strstr(out, "message:sent"));

    /* Voice messages, newest first; deleting the device removes both. */
    td_store_voice v1 = {.device_id = d.id,
                         .direction = "in",
                         .time_ms = T0,
                         .size = 3206,
                         .duration_ms = 2000,
                         .file = "1/a.amr"};
    td_store_voice v2 = v1;
    v2.direction = "out";
    v2.file = "1/b.amr";
    assert_int_equal(s->ops->voice_add(s, &v1), 0);
    assert_int_equal(s->ops->voice_add(s, &v2), 0);
    assert_int_equal(sql_int(f, "SELECT count(*) FROM voice WHERE duration = 2000"), 2);
    assert_int_equal(sql_int(f, "SELECT max(id) FROM voice"), v2.id);
    assert_int_equal(s->ops->device_delete(s, d.id), 0);
    assert_int_equal(sql_int(f, "SELECT count(*) FROM voice"), 0);
    assert_int_equal(sql_int(f, "SELECT count(*) FROM commands"), 0);
}

/* Runs statements on their own connection. */
static void sql_exec(const fixture *f, const char *sql)
{
    sqlite3 *db;
    char *msg = NULL;

    assert_int_equal(sqlite3_open_v2(f->path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
        fail_msg("%s: %s", sql, msg);
    sqlite3_close(db);
}

/* Events as read back, with their strings copied. */
typedef struct collected_events {
    td_store_event ev[8];
    char type[8][32], attrs[8][64];
    int n;
} collected_events;

static int on_stored_event(void *arg, const td_store_event *e)
{
    collected_events *c = arg;
    assert_true(c->n < 8);
    c->ev[c->n] = *e;
    snprintf(c->type[c->n], sizeof(c->type[0]), "%s", e->type);
    snprintf(c->attrs[c->n], sizeof(c->attrs[0]), "%s", e->attributes);
    c->n++;
    return 0;
}

/* The ids of the stored records, in id order, as "id,id,...". */
static const char *stored_ids(const fixture *f, char *buf, size_t cap)
{
    return sql_text(f, "SELECT group_concat(id, ',') FROM (SELECT id FROM positions ORDER BY id)",
                    buf, cap);
}

#define CUT (T0 + 86400000LL) /* the retention cut-off in these tests */

/*
 * Three devices with records around the cut-off, stored in an order that is
 * not their time order. ids[i] gets the id of rows[i]:
 *   a: 6 records older than CUT (times CUT-60 s .. CUT-10 s, newest first),
 *      one exactly at CUT, one newer; an SOS on the oldest;
 *   b: 3 records, all older (its newest, CUT-5 s, must stay);
 *   c: 2 records at the same old time (the one with the higher id is its
 *      newest and stays).
 */
static void retention_batch(fixture *f, td_store_device dev[3], int64_t ids[13])
{
    td_store_row rows[13];
    td_store_new_event ev;
    td_store_batch b = {0};
    int n = 0;

    device(&dev[0], "ret-a", "watch", T0);
    device(&dev[1], "ret-b", "iw", T0);
    device(&dev[2], "ret-c", "gotop", T0);
    for (int k = 1; k <= 6; k++) /* CUT-10 s first, CUT-60 s last */
        rows[n++] = row(0, "watch", TD_REC_POSITION, CUT - k * 10000, "{\"batteryLevel\":50}");
    rows[n++] = row(0, "watch", TD_REC_POSITION, CUT, NULL);
    rows[n++] = row(0, "watch", TD_REC_STATUS, CUT + 1000, NULL);
    rows[n++] = row(1, "iw", TD_REC_HEARTBEAT, CUT - 5000, NULL);
    rows[n++] = row(1, "iw", TD_REC_POSITION, CUT - 45000, NULL);
    rows[n++] = row(1, "iw", TD_REC_POSITION, CUT - 25000, NULL);
    rows[n++] = row(2, "gotop", TD_REC_POSITION, CUT - 35000, NULL);
    rows[n++] = row(2, "gotop", TD_REC_POSITION, CUT - 35000, NULL);
    rows[5].valid = rows[5].located = true; /* a: the oldest, CUT-60 s */
    rows[5].latitude = 22.549677;
    rows[5].longitude = 114.082258;
    rows[5].alarms = TD_ALARM_BIT(TD_ALARM_SOS);
    ev = (td_store_new_event){.dev = 0,
                              .row = 5,
                              .type = "sos",
                              .time_ms = CUT - 60000,
                              .server_ms = CUT,
                              .located = true,
                              .latitude = 22.549677,
                              .longitude = 114.082258};
    b.devices = dev;
    b.ndevices = 3;
    b.rows = rows;
    b.nrows = (size_t)n;
    b.events = &ev;
    b.nevents = 1;
    assert_int_equal(f->s->ops->put_batch(f->s, &b), 0);
    for (int i = 0; i < n; i++)
        ids[i] = rows[i].id;
    td_store_batch_clear(&b);
}

static void test_purge_batches_and_cutoff(void **state)
{
    fixture *f = *state;
    td_store *s = f->s;
    td_store_device dev[3];
    int64_t ids[13];
    char want[256], got[256], sql[256];

    retention_batch(f, dev, ids);
    td_store_command cmd = {.device_id = dev[0].id,
                            .type = "positionSingle",
                            .attributes = "{}",
                            .created_ms = CUT - 50000,
                            .expires_ms = CUT - 40000};
    td_store_voice voice = {.device_id = dev[0].id,
                            .direction = "in",
                            .time_ms = CUT - 50000,
                            .size = 10,
                            .duration_ms = 1000,
                            .file = "a.amr"};
    assert_int_equal(s->ops->command_add(s, &cmd), 0);
    assert_int_equal(s->ops->voice_add(s, &voice), 0);
    assert_int_equal(sql_int(f, "SELECT count(*) FROM positions"), 13);

    /* 11 records are older than CUT; at most 3 are examined per call, the
     * oldest first: a's -60/-50 s and b's -45 s go in the first batch. */
    td_store_purge walk = {.before_ms = CUT};
    assert_int_equal(s->ops->purge(s, &walk, 3), 0);
    assert_int_equal(walk.purged, 3);
    assert_false(walk.done);
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM positions WHERE id IN (%lld, %lld, %lld)",
             (long long)ids[5], (long long)ids[4], (long long)ids[9]);
    assert_int_equal(sql_int(f, sql), 0);
    assert_int_equal(sql_int(f, "SELECT count(*) FROM positions"), 10);

    int64_t total = walk.purged;
    int calls = 1;
    while (!walk.done) {
        assert_int_equal(s->ops->purge(s, &walk, 3), 0);
        assert_true(walk.purged >= 0 && walk.purged <= 3);
        total += walk.purged;
        calls++;
        assert_true(calls <= 5);
    }
    /* 11 examined, 3 per call: 4 calls, the last short (2 examined). */
    assert_int_equal(calls, 4);
    /* a's six older records, b's two older than its newest, c's lower id. */
    assert_int_equal(total, 9);

    /* Left: a at CUT and after, b's newest, c's higher id. */
    snprintf(want, sizeof(want), "%lld,%lld,%lld,%lld", (long long)ids[6], (long long)ids[7],
             (long long)ids[8], (long long)ids[12]);
    assert_string_equal(stored_ids(f, got, sizeof(got)), want);

    /* The SOS event stays whole, without its record. */
    assert_int_equal(sql_int(f, "SELECT count(*) FROM events"), 1);
    td_store_event_filter all = {.to_ms = INT64_MAX, .limit = 10};
    collected_events ce = {0};
    assert_int_equal(s->ops->events(s, &all, on_stored_event, &ce), 0);
    assert_int_equal(ce.n, 1);
    assert_int_equal(ce.ev[0].position_id, 0);
    assert_int_equal(ce.ev[0].time_ms, CUT - 60000);
    assert_true(ce.ev[0].located && fabs(ce.ev[0].latitude - 22.549677) < 1e-9);
    assert_string_equal(ce.type[0], "sos");
    assert_string_equal(ce.attrs[0], "{\"batteryLevel\":50}");
    /* Commands and voice messages are not records: kept. */
    assert_int_equal(sql_int(f, "SELECT count(*) FROM commands"), 1);
    assert_int_equal(sql_int(f, "SELECT count(*) FROM voice"), 1);

    /* The latest records are still each device's newest. */
    collected *c = calloc(1, sizeof(*c));
    assert_non_null(c);
    for (int d = 0; d < 3; d++)
        assert_int_equal(s->ops->latest(s, dev[d].id, on_position, c), 0);
    assert_int_equal(c->npos, 3);
    assert_int_equal(c->pos[0].id, ids[7]);
    assert_int_equal(c->pos[1].id, ids[8]);
    assert_int_equal(c->pos[2].id, ids[12]);
    free(c);

    /* The log the batches wrote is copied back by a checkpoint on a
     * connection of its own, which leaves the store as it was. */
    assert_int_equal(s->ops->checkpoint(s), 0);
    assert_string_equal(stored_ids(f, got, sizeof(got)), want);

    /* A second pass finds nothing more (the kept records are examined). */
    td_store_purge again = {.before_ms = CUT};
    assert_int_equal(s->ops->purge(s, &again, 100), 0);
    assert_int_equal(again.purged, 0);
    assert_true(again.done);
    assert_string_equal(stored_ids(f, got, sizeof(got)), want);
}

/* One batch as large as everything older deletes it all and is done; a
 * cut-off before every record deletes nothing; a record stored behind the
 * walk waits for the next pass. */
static void test_purge_one_batch_and_late_records(void **state)
{
    fixture *f = *state;
    td_store *s = f->s;
    td_store_device dev[3];
    int64_t ids[13];

    retention_batch(f, dev, ids);
    td_store_purge none = {.before_ms = CUT - 60000};
    assert_int_equal(s->ops->purge(s, &none, 1000), 0);
    assert_int_equal(none.purged, 0);
    assert_true(none.done);
    assert_int_equal(sql_int(f, "SELECT count(*) FROM positions"), 13);

    td_store_purge walk = {.before_ms = CUT};
    assert_int_equal(s->ops->purge(s, &walk, 2), 0);
    assert_int_equal(walk.purged, 2); /* a's -60 s and -50 s */

    /* A late upload for a, older than where the walk is. */
    td_store_row late = row(0, "watch", TD_REC_POSITION, CUT - 3600000, NULL);
    td_store_batch b = {.devices = dev, .ndevices = 1, .rows = &late, .nrows = 1};
    assert_int_equal(s->ops->put_batch(s, &b), 0);
    td_store_batch_clear(&b);
    assert_int_equal(s->ops->purge(s, &walk, 1000), 0);
    assert_true(walk.done);
    assert_int_equal(walk.purged, 7);
    char sql[128];
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM positions WHERE id = %lld",
             (long long)late.id);
    assert_int_equal(sql_int(f, sql), 1);

    td_store_purge next = {.before_ms = CUT};
    assert_int_equal(s->ops->purge(s, &next, 1000), 0);
    assert_int_equal(next.purged, 1);
    assert_int_equal(sql_int(f, sql), 0);
    assert_int_equal(sql_int(f, "SELECT count(*) FROM positions"), 4);
}

/* Migration 6 on a version-5 store: the time index is added, the records
 * stay, and the purge uses it. */
static void test_migration_adds_time_index(void **state)
{
    fixture *f = *state;
    td_store_device dev[3];
    int64_t ids[13];

    retention_batch(f, dev, ids);
    close_store(f);
    sql_exec(f, "DROP INDEX positions_time; UPDATE schema_version SET version = 5");
    assert_int_equal(sql_int(f, "SELECT count(*) FROM sqlite_master WHERE name = 'positions_time'"),
                     0);
    open_store(f);
    assert_int_equal(sql_int(f, "SELECT version FROM schema_version"), SCHEMA_VERSION);
    assert_int_equal(sql_int(f, "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND"
                                " name = 'positions_time' AND tbl_name = 'positions'"),
                     1);
    assert_int_equal(sql_int(f, "SELECT count(*) FROM positions"), 13);

    /* The oldest records are found through it, not by a scan. */
    char plan[256] = "";
    sqlite3 *db;
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_open_v2(f->path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "EXPLAIN QUERY PLAN SELECT p.id FROM positions p WHERE"
                                        " p.device_time < ?1 AND (p.device_time, p.id) > (?2, ?3)"
                                        " ORDER BY p.device_time, p.id LIMIT 10",
                                        -1, &st, NULL),
                     SQLITE_OK);
    while (sqlite3_step(st) == SQLITE_ROW)
        strncat(plan, (const char *)sqlite3_column_text(st, 3), sizeof(plan) - strlen(plan) - 1);
    sqlite3_finalize(st);
    sqlite3_close(db);
    assert_non_null(strstr(plan, "positions_time"));

    td_store_purge walk = {.before_ms = CUT};
    assert_int_equal(f->s->ops->purge(f->s, &walk, 1000), 0);
    assert_int_equal(walk.purged, 9);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_schema_and_reopen),
        T(test_newer_schema_is_refused),
        T(test_batch_devices_and_latest),
        T(test_callback_stops_iteration),
        T(test_alarms_and_events),
        T(test_query_and_paging),
        T(test_checkpoint_due_as_the_log_grows),
        T(test_unknown_traffic_is_capped),
        T(test_reset_online),
        T(test_failed_batch_rolls_back),
        T(test_bad_targets),
        T(test_users),
        T(test_sessions),
        T(test_managed_devices_access_and_events),
        T(test_commands_and_voice),
        T(test_purge_batches_and_cutoff),
        T(test_purge_one_batch_and_late_records),
        T(test_migration_adds_time_index),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
