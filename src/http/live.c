/*
 * The live feed at /api/socket and the devices' latest-record cache.
 *
 * After each durable group commit, td_http_committed() serialises every
 * record and event once, then gives each client a message holding only
 * the devices it may see. Messages are reference-counted and queued per
 * client in a ring of --ws-queue entries; a client whose ring is full has
 * fallen too far behind and is disconnected with a log line, so a slow
 * browser never holds memory or time of the device port.
 *
 * Writes are requested from a uv_check handle once per loop iteration (not
 * from the commit path), which keeps a busy device port from starving the
 * WebSocket writes.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/text.h"
#include "http/internal.h"
#include "trackd/error.h"
#include "trackd/record.h"

typedef struct td_msg {
    int refs;
    size_t len;
    char data[]; /* LWS_PRE bytes, then the text */
} td_msg;

struct td_client {
    td_client *prev, *next;
    td_req *r;
    struct lws *wsi;
    int64_t user_id;
    bool admin;
    char user[64];
    char key[65]; /* the session or token it was opened with */
    td_msg **ring;
    unsigned head, count, cap;
    bool write_requested, dropped;
};

static td_msg *msg_new(const char *text, size_t len)
{
    td_msg *m = malloc(sizeof(*m) + LWS_PRE + len);
    if (!m)
        return NULL;
    m->refs = 0;
    m->len = len;
    memcpy(m->data + LWS_PRE, text, len);
    return m;
}

static void msg_unref(td_msg *m)
{
    if (m && --m->refs <= 0)
        free(m);
}

static void client_clear(td_client *c)
{
    while (c->count) {
        msg_unref(c->ring[c->head]);
        c->head = (c->head + 1) % c->cap;
        c->count--;
    }
}

/* Queues m for c (taking a reference); drops a client that is too far behind. */
static void enqueue(td_http *h, td_client *c, td_msg *m)
{
    if (c->dropped)
        return;
    if (c->count == c->cap) {
        c->dropped = true;
        h->ws_dropped++;
        td_warn("http %s: live client of '%s' is %u messages behind; disconnecting it",
                c->r ? c->r->peer : "?", c->user, c->count);
        client_clear(c);
        lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
        return;
    }
    m->refs++;
    c->ring[(c->head + c->count) % c->cap] = m;
    c->count++;
    h->ws_messages++;
}

/* Sends text to one client (a fresh message). */
static void send_one(td_http *h, td_client *c, td_sbuf *text)
{
    td_msg *m = text->oom ? NULL : msg_new(td_sbuf_text(text), text->len);
    if (!m)
        return;
    enqueue(h, c, m);
    if (m->refs == 0)
        free(m);
}

static bool sees(const td_client *c, const td_device *d)
{
    return d && td_device_visible(d, c->user_id, c->admin);
}

/* ---- latest records ----------------------------------------------------- */

static int keep_latest(void *arg, const td_store_position *p)
{
    td_device *d = arg;
    td_sbuf b;
    td_sbuf_init(&b, 0);
    td_json_position(&b, p);
    if (!b.oom) {
        free(d->latest);
        d->latest = b.data;
        d->latest_ms = p->device_ms;
    } else {
        td_sbuf_free(&b);
    }
    return 0;
}

void td_device_load_latest(td_http *h, td_device *d)
{
    if (d->latest_loaded || d->st.id <= 0)
        return;
    td_store *s = td_gw_store(h->srv);
    d->latest_loaded = true;
    s->ops->latest(s, d->st.id, keep_latest, d);
}

static void row_position(const td_store_batch *b, const td_store_row *row, td_store_position *p)
{
    memset(p, 0, sizeof(*p));
    p->id = row->id;
    p->device_id = b->devices[row->dev].id;
    p->protocol = row->protocol;
    p->type = row->type;
    p->server_ms = row->server_ms;
    p->device_ms = row->device_ms;
    p->valid = row->valid;
    p->located = row->located;
    p->latitude = row->latitude;
    p->longitude = row->longitude;
    p->speed = row->speed;
    p->course = row->course;
    p->altitude = row->altitude;
    p->alarms = row->alarms;
    p->attributes = row->attributes;
}

/* ---- publishing --------------------------------------------------------- */

typedef struct piece {
    size_t start, end;
    int dev; /* index into the batch's devices */
} piece;

/* Appends the pieces c may see as one message {"key":[...]}. */
static void send_pieces(td_http *h, td_client *c, const char *key, const td_sbuf *all,
                        const piece *pieces, size_t n, td_device *const *devs, td_sbuf *scratch)
{
    int k = 0;
    td_sbuf_reset(scratch);
    td_sbuf_printf(scratch, "{\"%s\":[", key);
    for (size_t i = 0; i < n; i++) {
        if (!sees(c, devs[pieces[i].dev]))
            continue;
        if (k++)
            td_sbuf_add(scratch, ",", 1);
        td_sbuf_add(scratch, all->data + all->pre + pieces[i].start,
                    pieces[i].end - pieces[i].start);
    }
    td_sbuf_puts(scratch, "]}");
    if (k)
        send_one(h, c, scratch);
}

void td_http_committed(td_http *h, const td_store_batch *b, td_device *const *devs)
{
    /* The newest row of each device in this batch (by device time, the
     * later one on ties) becomes its latest record when it is newer than
     * what is known. One pass over the rows, one over the devices. */
    size_t *best = malloc((b->ndevices + 1) * sizeof(*best));
    if (best) {
        for (size_t i = 0; i < b->ndevices; i++)
            best[i] = SIZE_MAX;
        for (size_t i = 0; i < b->nrows; i++) {
            const td_store_row *row = &b->rows[i];
            size_t *slot = &best[row->dev];
            if (row->id > 0 && (*slot == SIZE_MAX || row->device_ms >= b->rows[*slot].device_ms))
                *slot = i;
        }
        for (size_t i = 0; i < b->ndevices; i++) {
            td_device *d = devs[i];
            if (!d || best[i] == SIZE_MAX)
                continue;
            const td_store_row *row = &b->rows[best[i]];
            td_device_load_latest(h, d);
            if (d->latest && row->device_ms < d->latest_ms)
                continue;
            td_store_position p;
            row_position(b, row, &p);
            keep_latest(d, &p);
        }
        free(best);
    }
    if (!h->clients || h->stopping) {
        for (size_t i = 0; i < b->ndevices; i++)
            if (devs[i]) {
                devs[i]->announced = true;
                devs[i]->announced_online = devs[i]->st.online;
            }
        return;
    }

    /* Serialise everything once. */
    td_sbuf all, scratch;
    piece *pos = calloc(b->nrows + 1, sizeof(*pos));
    size_t nev = 0, npos = 0, ndev = 0;
    piece *ev = calloc(b->nevents + 1, sizeof(*ev));
    piece *dv = calloc(b->ndevices + 1, sizeof(*dv));
    td_sbuf_init(&all, 0);
    td_sbuf_init(&scratch, LWS_PRE);
    if (!pos || !ev || !dv)
        goto out;
    for (size_t i = 0; i < b->nrows; i++) {
        const td_store_row *row = &b->rows[i];
        if (!devs[row->dev] || row->id <= 0)
            continue;
        td_store_position p;
        row_position(b, row, &p);
        pos[npos].start = all.len;
        td_json_position(&all, &p);
        pos[npos].end = all.len;
        pos[npos++].dev = row->dev;
    }
    for (size_t i = 0; i < b->nevents; i++) {
        const td_store_new_event *ne = &b->events[i];
        if (!devs[ne->dev] || ne->id <= 0)
            continue;
        const td_store_row *row = ne->row >= 0 ? &b->rows[ne->row] : NULL;
        td_store_event e = {.id = ne->id,
                            .device_id = b->devices[ne->dev].id,
                            .position_id = row ? row->id : ne->position_id,
                            .type = ne->type,
                            .time_ms = ne->time_ms,
                            .located = ne->located,
                            .latitude = ne->latitude,
                            .longitude = ne->longitude,
                            .attributes = ne->attributes ? ne->attributes
                                          : row          ? row->attributes
                                                         : NULL,
                            .state = "new",
                            .critical = ne->critical};
        ev[nev].start = all.len;
        td_json_event(&all, &e);
        ev[nev].end = all.len;
        ev[nev++].dev = ne->dev;
    }
    for (size_t i = 0; i < b->ndevices; i++) {
        td_device *d = devs[i];
        if (!d || (d->announced && d->announced_online == d->st.online))
            continue;
        d->announced = true;
        d->announced_online = d->st.online;
        dv[ndev].start = all.len;
        td_json_device(&all, d);
        dv[ndev].end = all.len;
        dv[ndev++].dev = (int)i;
    }
    if (all.oom)
        goto out;
    for (td_client *c = h->clients; c; c = c->next) {
        if (ndev)
            send_pieces(h, c, "devices", &all, dv, ndev, devs, &scratch);
        if (npos)
            send_pieces(h, c, "positions", &all, pos, npos, devs, &scratch);
        if (nev)
            send_pieces(h, c, "events", &all, ev, nev, devs, &scratch);
    }
out:
    free(pos);
    free(ev);
    free(dv);
    td_sbuf_free(&all);
    td_sbuf_free(&scratch);
}

void td_http_device_changed(td_http *h, td_device *d)
{
    td_sbuf b;
    if (!h->clients)
        return;
    td_device_load_latest(h, d);
    td_sbuf_init(&b, 0);
    td_sbuf_puts(&b, "{\"devices\":[");
    td_json_device(&b, d);
    td_sbuf_puts(&b, "]}");
    for (td_client *c = h->clients; c; c = c->next)
        if (sees(c, d))
            send_one(h, c, &b);
    td_sbuf_free(&b);
}

typedef struct one_event {
    td_sbuf *b;
    int64_t device_id;
    bool found;
} one_event;

static int keep_event(void *arg, const td_store_event *e)
{
    one_event *o = arg;
    if (o->b)
        td_json_event(o->b, e);
    o->device_id = e->device_id;
    o->found = true;
    return 1; /* the only one */
}

bool td_event_json(td_store *s, int64_t id, int64_t user_id, td_sbuf *b, int64_t *device_id)
{
    td_store_event_filter f = {.id = id, .user_id = user_id, .to_ms = INT64_MAX, .limit = 1};
    one_event o = {b, 0, false};
    s->ops->events(s, &f, keep_event, &o);
    if (device_id)
        *device_id = o.device_id;
    return o.found;
}

void td_http_event_changed(td_http *h, int64_t event_id, bool reminder)
{
    td_sbuf b;
    int64_t device_id;
    if (!h->clients)
        return;
    td_sbuf_init(&b, 0);
    td_sbuf_puts(&b, "{\"events\":[");
    td_device *d = td_event_json(td_gw_store(h->srv), event_id, 0, &b, &device_id)
                       ? td_gw_device(h->srv, device_id)
                       : NULL;
    if (d && !b.oom) {
        if (reminder) {
            b.len--; /* reopen the event object for one more field */
            td_sbuf_puts(&b, ",\"reminder\":true}");
        }
        td_sbuf_puts(&b, "]}");
        for (td_client *c = h->clients; c; c = c->next)
            if (sees(c, d))
                send_one(h, c, &b);
    }
    td_sbuf_free(&b);
}

void td_http_command_changed(td_http *h, int64_t command_id)
{
    td_sbuf b;
    int64_t device_id;
    if (!h->clients)
        return;
    td_sbuf_init(&b, 0);
    td_sbuf_puts(&b, "{\"commands\":[");
    td_device *d = td_command_json(td_gw_store(h->srv), command_id, &b, &device_id)
                       ? td_gw_device(h->srv, device_id)
                       : NULL;
    if (d && !b.oom) {
        td_sbuf_puts(&b, "]}");
        for (td_client *c = h->clients; c; c = c->next)
            if (sees(c, d))
                send_one(h, c, &b);
    }
    td_sbuf_free(&b);
}

void td_http_device_unshared(td_http *h, const td_device *d, int64_t user_id)
{
    td_sbuf b;
    td_sbuf_init(&b, 0);
    td_sbuf_printf(&b, "{\"devices\":[{\"id\":%lld,\"deleted\":true}]}", (long long)d->st.id);
    for (td_client *c = h->clients; c; c = c->next)
        if (c->user_id == user_id && !sees(c, d))
            send_one(h, c, &b);
    td_sbuf_free(&b);
}

void td_http_device_deleted(td_http *h, int64_t device_id, int64_t owner_id, const int64_t *shares,
                            int nshares)
{
    td_sbuf b;
    td_sbuf_init(&b, 0);
    td_sbuf_printf(&b, "{\"devices\":[{\"id\":%lld,\"deleted\":true}]}", (long long)device_id);
    for (td_client *c = h->clients; c; c = c->next) {
        bool saw = c->admin || (owner_id && owner_id == c->user_id);
        for (int i = 0; i < nshares && !saw; i++)
            saw = shares[i] == c->user_id;
        if (saw)
            send_one(h, c, &b);
    }
    td_sbuf_free(&b);
}

/* ---- client lifecycle --------------------------------------------------- */

struct snap {
    td_http *h;
    td_client *c;
    td_sbuf devices, positions;
    int nd, np;
};

static int snap_device(void *arg, td_device *d)
{
    struct snap *s = arg;
    if (d->st.id <= 0 || !sees(s->c, d))
        return 0;
    td_device_load_latest(s->h, d);
    if (s->nd++)
        td_sbuf_add(&s->devices, ",", 1);
    td_json_device(&s->devices, d);
    if (d->latest) {
        if (s->np++)
            td_sbuf_add(&s->positions, ",", 1);
        td_sbuf_puts(&s->positions, d->latest);
    }
    return 0;
}

int td_http_end_sessions(td_http *h, int64_t user_id)
{
    td_store *s = td_gw_store(h->srv);
    td_store_session ses;
    int n = 0;
    for (td_client *c = h->clients; c; c = c->next) {
        if ((user_id && c->user_id != user_id) || c->dropped ||
            s->ops->session_get(s, c->key, td_now_ms(), &ses) != TD_ENOTFOUND)
            continue;
        c->dropped = true;
        client_clear(c);
        lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
        n++;
    }
    return n;
}

int td_live_open(td_req *r)
{
    td_http *h = r->h;
    td_client *c = calloc(1, sizeof(*c));
    if (!c)
        return -1;
    c->cap = (unsigned)h->cfg->ws_queue;
    c->ring = calloc(c->cap, sizeof(*c->ring));
    if (!c->ring) {
        free(c);
        return -1;
    }
    c->r = r;
    c->wsi = r->wsi;
    c->user_id = r->who.id;
    c->admin = r->who.admin;
    snprintf(c->user, sizeof(c->user), "%s", r->who.name);
    snprintf(c->key, sizeof(c->key), "%s", r->who.key);
    c->next = h->clients;
    if (h->clients)
        h->clients->prev = c;
    h->clients = c;
    h->nclients++;
    r->client = c;
    td_info("http %s: live client of '%s' connected (%u now)", r->peer, c->user, h->nclients);

    /* The current state first: devices, then their latest records. */
    struct snap s = {h, c, {0}, {0}, 0, 0};
    td_sbuf_init(&s.devices, 0);
    td_sbuf_init(&s.positions, 0);
    td_sbuf_puts(&s.devices, "{\"devices\":[");
    td_sbuf_puts(&s.positions, "{\"positions\":[");
    td_gw_each_device(h->srv, snap_device, &s);
    td_sbuf_puts(&s.devices, "]}");
    td_sbuf_puts(&s.positions, "]}");
    send_one(h, c, &s.devices);
    if (s.np)
        send_one(h, c, &s.positions);
    td_sbuf_free(&s.devices);
    td_sbuf_free(&s.positions);
    return 0;
}

void td_live_close(td_req *r)
{
    td_client *c = r->client;
    td_http *h = r->h;
    if (!c)
        return;
    if (c->prev)
        c->prev->next = c->next;
    else
        h->clients = c->next;
    if (c->next)
        c->next->prev = c->prev;
    h->nclients--;
    td_info("http %s: live client of '%s' disconnected (%u left)", r->peer, c->user, h->nclients);
    client_clear(c);
    free(c->ring);
    free(c);
    r->client = NULL;
}

int td_live_writeable(td_req *r)
{
    td_client *c = r->client;
    if (!c)
        return 0;
    c->write_requested = false;
    if (c->dropped)
        return -1;
    if (!c->count)
        return 0;
    td_msg *m = c->ring[c->head];
    c->head = (c->head + 1) % c->cap;
    c->count--;
    int n = lws_write(c->wsi, (unsigned char *)m->data + LWS_PRE, m->len, LWS_WRITE_TEXT);
    msg_unref(m);
    if (n < 0)
        return -1;
    if (c->count) {
        lws_callback_on_writable(c->wsi);
        c->write_requested = true;
    }
    return 0;
}

void td_live_flush(td_http *h)
{
    for (td_client *c = h->clients; c; c = c->next)
        if (c->count && !c->write_requested && !c->dropped) {
            c->write_requested = true;
            lws_callback_on_writable(c->wsi);
        }
}

void td_live_free_all(td_http *h)
{
    while (h->clients) {
        td_client *c = h->clients;
        h->clients = c->next;
        client_clear(c);
        free(c->ring);
        free(c);
    }
    h->nclients = 0;
}
