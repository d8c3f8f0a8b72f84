/*
 * The notification deliverer: its pure parts (backoff, MQTT topic
 * templates, the JSON payload, the e-mail message, address checks) and the
 * deliverer itself on a real libuv loop against an in-memory outbox (a
 * store whose ops table has only the outbox) and a small HTTP responder on
 * loopback in the same loop: a delivered webhook and its headers, a
 * refused connection retried with backoff, a 500 answer retried, entries
 * for channels that are off or targets that cannot be used failed at once,
 * expired entries given up, attempts bounded by --notify-timeout (a silent
 * webhook, a broker that never answers), and a stop while a job runs that
 * still records the job's outcome.
 */
#include "support.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "core/config.h"
#include "core/text.h"
#include "http/sbuf.h"
#include "notify/notify.h"
#include "trackd/error.h"

/* ---- pure parts ------------------------------------------------------- */

static void test_backoff(void **state)
{
    (void)state;
    assert_int_equal(td_notify_backoff_ms(1, 600), 2000);
    assert_int_equal(td_notify_backoff_ms(2, 600), 4000);
    assert_int_equal(td_notify_backoff_ms(5, 600), 32000);
    assert_int_equal(td_notify_backoff_ms(9, 600), 512000);
    assert_int_equal(td_notify_backoff_ms(10, 600), 600000);
    assert_int_equal(td_notify_backoff_ms(100000, 600), 600000);
    assert_int_equal(td_notify_backoff_ms(1, 1), 1000);
    assert_int_equal(td_notify_backoff_ms(3, 1), 1000);
    assert_int_equal(td_notify_backoff_ms(40, 86400), 86400000LL);
}

static void test_topic(void **state)
{
    char t[64];
    (void)state;
    assert_int_equal(
        td_notify_topic(t, sizeof(t), "trackd/{uniqueId}/events/{type}", "8600001", 7, "sos"), 0);
    assert_string_equal(t, "trackd/8600001/events/sos");
    assert_int_equal(td_notify_topic(t, sizeof(t), "d/{deviceId}/{type}/{type}", "x", 42, "fall"),
                     0);
    assert_string_equal(t, "d/42/fall/fall");
    /* Values cannot add levels or wildcards; unknown braces stay. */
    assert_int_equal(td_notify_topic(t, sizeof(t), "a/{uniqueId}/{name}", "x/+#\n", 1, "sos"), 0);
    assert_string_equal(t, "a/x____/{name}");
    assert_int_equal(td_notify_topic(t, 10, "trackd/{uniqueId}", "123456789", 1, "sos"),
                     TD_ETOOBIG);
    assert_int_equal(strlen(t), 9);
}

static void test_address(void **state)
{
    (void)state;
    assert_true(td_notify_address_ok("alice@example.org"));
    assert_true(td_notify_address_ok("a.b+tag@sub.example.org"));
    assert_false(td_notify_address_ok(""));
    assert_false(td_notify_address_ok("alice"));
    assert_false(td_notify_address_ok("@example.org"));
    assert_false(td_notify_address_ok("alice@"));
    assert_false(td_notify_address_ok("a@b@c"));
    assert_false(td_notify_address_ok("alice@example.org\r\nBcc: x@y"));
    assert_false(td_notify_address_ok("alice <alice@example.org>"));
    assert_false(td_notify_address_ok("alice@example.org>"));
}

static td_store_outbox sample(int64_t id, const char *channel, const char *target)
{
    td_store_outbox o = {
        .id = id,
        .notification_id = 3,
        .channel = channel,
        .target = target,
        .created_ms = TD_TEST_NOW_MS,
        .next_ms = TD_TEST_NOW_MS,
        .event = {.id = 17,
                  .device_id = 7,
                  .position_id = 99,
                  .type = "sos",
                  .time_ms = TD_TEST_NOW_MS,
                  .located = true,
                  .latitude = 22.5497,
                  .longitude = 114.0823,
                  .attributes = "{\"battery\":50}",
                  .state = "new",
                  .critical = true},
        .device_unique_id = "860000000000001",
        .device_name = "Grandma",
    };
    return o;
}

static void test_payload(void **state)
{
    td_sbuf b;
    json_error_t err;
    td_store_outbox o = sample(42, "webhook", "http://x/");
    (void)state;

    o.renotify = true;
    td_sbuf_init(&b, 0);
    td_notify_payload(&b, &o);
    assert_false(b.oom);
    json_t *j = json_loadb(td_sbuf_text(&b), b.len, 0, &err);
    if (!j)
        fail_msg("payload is not JSON: %s: %.*s", err.text, (int)b.len, td_sbuf_text(&b));
    assert_string_equal(json_string_value(json_object_get(j, "deliveryId")), "42");
    assert_true(json_is_true(json_object_get(j, "reminder")));
    json_t *e = json_object_get(j, "event"), *d = json_object_get(j, "device");
    assert_int_equal(json_integer_value(json_object_get(e, "id")), 17);
    assert_string_equal(json_string_value(json_object_get(e, "type")), "sos");
    assert_string_equal(json_string_value(json_object_get(e, "time")), "2026-01-02T03:04:05Z");
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(e, "attributes"), "battery")), 50);
    assert_int_equal(json_integer_value(json_object_get(d, "id")), 7);
    assert_string_equal(json_string_value(json_object_get(d, "uniqueId")), "860000000000001");
    assert_string_equal(json_string_value(json_object_get(d, "name")), "Grandma");
    json_decref(j);

    /* A device without a name is named by its unique id. */
    o.device_name = "";
    td_sbuf_reset(&b);
    td_notify_payload(&b, &o);
    j = json_loadb(td_sbuf_text(&b), b.len, 0, &err);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "device"), "name")),
                        "860000000000001");
    json_decref(j);
    td_sbuf_free(&b);
}

/* The text of header `name` in message m (up to its CRLF), or "". */
static const char *header(const char *m, const char *name, char *out, size_t cap)
{
    size_t n = strlen(name);
    out[0] = '\0';
    for (const char *p = m; p && *p && strncmp(p, "\r\n", 2); p = strstr(p, "\r\n") + 2) {
        if (!strncmp(p, name, n) && p[n] == ':') {
            const char *end = strstr(p, "\r\n");
            snprintf(out, cap, "%.*s", (int)(end - p - n - 2), p + n + 2);
            break;
        }
    }
    return out;
}

static void test_email(void **state)
{
    td_sbuf b;
    char h[256];
    td_store_outbox o = sample(42, "email", "alice@example.org");
    (void)state;

    td_sbuf_init(&b, 0);
    td_notify_email(&b, &o, "trackd@example.org", TD_TEST_NOW_MS);
    assert_false(b.oom);
    td_sbuf_add(&b, "", 1);
    const char *m = td_sbuf_text(&b);
    assert_string_equal(header(m, "Date", h, sizeof(h)), "Fri, 02 Jan 2026 03:04:05 +0000");
    assert_string_equal(header(m, "From", h, sizeof(h)), "trackd@example.org");
    assert_string_equal(header(m, "To", h, sizeof(h)), "alice@example.org");
    assert_string_equal(header(m, "Subject", h, sizeof(h)), "[trackd] sos: Grandma");
    assert_string_equal(header(m, "Message-ID", h, sizeof(h)), "<trackd-42@trackd>");
    const char *body = strstr(m, "\r\n\r\n");
    assert_non_null(body);
    assert_non_null(strstr(body, "Event: sos (critical)\r\n"));
    assert_non_null(strstr(body, "Device: Grandma (860000000000001)\r\n"));
    assert_non_null(strstr(body, "Time: 2026-01-02T03:04:05Z\r\n"));
    assert_non_null(strstr(body, "https://www.openstreetmap.org/?mlat=22.549700&mlon=114.082300"));
    /* Every line ends in CRLF. */
    for (const char *p = m; (p = strchr(p, '\n')) != NULL; p++)
        assert_int_equal(p[-1], '\r');

    /* A name cannot add headers; a reminder says so; UTF-8 is encoded. */
    o.device_name = "Oma\r\nBcc: evil@example.org";
    o.renotify = true;
    td_sbuf_reset(&b);
    td_notify_email(&b, &o, "trackd@example.org", TD_TEST_NOW_MS);
    td_sbuf_add(&b, "", 1);
    m = td_sbuf_text(&b);
    assert_string_equal(header(m, "Bcc", h, sizeof(h)), "");
    assert_string_equal(header(m, "Subject", h, sizeof(h)),
                        "[trackd] sos: Oma  Bcc: evil@example.org (reminder)");
    assert_non_null(strstr(m, "Reminder: "));

    o.device_name = "Großmutter";
    o.renotify = false;
    o.event.located = false;
    td_sbuf_reset(&b);
    td_notify_email(&b, &o, "trackd@example.org", TD_TEST_NOW_MS);
    td_sbuf_add(&b, "", 1);
    m = td_sbuf_text(&b);
    /* base64("[trackd] sos: Großmutter") */
    assert_string_equal(header(m, "Subject", h, sizeof(h)),
                        "=?UTF-8?B?W3RyYWNrZF0gc29zOiBHcm/Dn211dHRlcg==?=");
    assert_non_null(strstr(m, "Position: unknown\r\n"));
    td_sbuf_free(&b);
}

/* ---- the deliverer on a loop, against an in-memory outbox ------------- */

#define FAKE_MAX 24

typedef struct fake_entry {
    int64_t id;
    const char *channel, *target;
    int attempts;
    int64_t created_ms, next_ms;
    char status[8];
    char error[256];
    int results;       /* outbox_result calls */
    int64_t result_ms; /* when the last one came */
    bool admin;        /* the channel's owner is an admin */
} fake_entry;

typedef struct fake_store {
    td_store base;
    fake_entry e[FAKE_MAX];
    int n;
    int polls;
} fake_store;

static int fake_due(td_store *s, int64_t now_ms, int limit, td_store_outbox_cb cb, void *arg)
{
    fake_store *f = (fake_store *)s;
    f->polls++;
    for (int i = 0; i < f->n && limit > 0; i++) {
        fake_entry *e = &f->e[i];
        if (strcmp(e->status, "pending") || e->next_ms > now_ms)
            continue;
        td_store_outbox o = sample(e->id, e->channel, e->target);
        o.attempts = e->attempts;
        o.created_ms = e->created_ms;
        o.next_ms = e->next_ms;
        o.owner_admin = e->admin;
        limit--;
        if (cb(arg, &o))
            break;
    }
    return 0;
}

static int fake_result(td_store *s, int64_t id, const char *status, int64_t next_ms,
                       const char *error, int64_t now_ms)
{
    fake_store *f = (fake_store *)s;
    (void)now_ms;
    for (int i = 0; i < f->n; i++) {
        fake_entry *e = &f->e[i];
        if (e->id != id)
            continue;
        snprintf(e->status, sizeof(e->status), "%s", status);
        snprintf(e->error, sizeof(e->error), "%s", error ? error : "");
        if (!strcmp(status, "pending")) {
            e->attempts++;
            e->next_ms = next_ms;
        }
        e->results++;
        e->result_ms = td_now_ms();
        return 0;
    }
    return TD_ENOTFOUND;
}

static const td_store_ops fake_ops = {
    .name = "fake",
    .outbox_due = fake_due,
    .outbox_result = fake_result,
};

static fake_entry *add_entry(fake_store *f, const char *channel, const char *target)
{
    fake_entry *e = &f->e[f->n];
    e->id = 100 + f->n;
    e->channel = channel;
    e->target = target;
    e->created_ms = td_now_ms();
    snprintf(e->status, sizeof(e->status), "pending");
    f->n++;
    return e;
}

/* A tiny HTTP/1.1 responder: keeps each request's text, answers with the
 * next status from `statuses` (then 200), after delay_ms, and closes the
 * connection. */
typedef struct responder {
    uv_tcp_t server;
    int port;
    const int *statuses;
    int nstatuses, answered;
    int delay_ms;
    char requests[8][2048];
    int nrequests;
} responder;

typedef struct rconn {
    uv_tcp_t tcp;
    uv_timer_t delay;
    int open_handles;
    responder *r;
    char buf[4096];
    size_t len;
    uv_write_t wr;
    char reply[128];
} rconn;

static void on_rconn_closed(uv_handle_t *h)
{
    rconn *c = h->data;
    if (--c->open_handles == 0)
        free(c);
}

static void rconn_close(rconn *c)
{
    uv_close((uv_handle_t *)&c->tcp, on_rconn_closed);
    uv_close((uv_handle_t *)&c->delay, on_rconn_closed);
}

static void on_replied(uv_write_t *w, int status)
{
    (void)status;
    rconn_close(w->data);
}

static void on_ralloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
    rconn *c = h->data;
    (void)hint;
    *b = uv_buf_init(c->buf + c->len, (unsigned)(sizeof(c->buf) - 1 - c->len));
}

static void answer(uv_timer_t *t)
{
    rconn *c = t->data;
    responder *r = c->r;
    int status = r->answered < r->nstatuses ? r->statuses[r->answered] : 200;
    r->answered++;
    snprintf(c->reply, sizeof(c->reply),
             "HTTP/1.1 %d X\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok", status);
    uv_buf_t out = uv_buf_init(c->reply, (unsigned)strlen(c->reply));
    c->wr.data = c;
    uv_write(&c->wr, (uv_stream_t *)&c->tcp, &out, 1, on_replied);
}

/* Answers once the headers and Content-Length bytes of body are in. */
static void on_rread(uv_stream_t *s, ssize_t nread, const uv_buf_t *b)
{
    rconn *c = s->data;
    responder *r = c->r;
    (void)b;
    if (nread < 0) {
        rconn_close(c);
        return;
    }
    c->len += (size_t)nread;
    c->buf[c->len] = '\0';
    const char *end = strstr(c->buf, "\r\n\r\n"), *cl = strcasestr(c->buf, "Content-Length: ");
    if (!end || !cl || c->len < (size_t)(end + 4 - c->buf) + (size_t)atoi(cl + 16))
        return;
    uv_read_stop(s);
    if (r->nrequests < 8)
        snprintf(r->requests[r->nrequests++], sizeof(r->requests[0]), "%.2000s", c->buf);
    uv_timer_start(&c->delay, answer, (uint64_t)r->delay_ms, 0);
}

static void on_rconnect(uv_stream_t *server, int status)
{
    responder *r = server->data;
    rconn *c = calloc(1, sizeof(*c));
    assert_int_equal(status, 0);
    assert_non_null(c);
    c->r = r;
    uv_tcp_init(server->loop, &c->tcp);
    uv_timer_init(server->loop, &c->delay);
    c->tcp.data = c->delay.data = c;
    c->open_handles = 2;
    assert_int_equal(uv_accept(server, (uv_stream_t *)&c->tcp), 0);
    uv_read_start((uv_stream_t *)&c->tcp, on_ralloc, on_rread);
}

static void responder_start(uv_loop_t *loop, responder *r)
{
    struct sockaddr_in a;
    struct sockaddr_storage bound;
    int len = sizeof(bound);
    uv_ip4_addr("127.0.0.1", 0, &a);
    uv_tcp_init(loop, &r->server);
    r->server.data = r;
    assert_int_equal(uv_tcp_bind(&r->server, (const struct sockaddr *)&a, 0), 0);
    assert_int_equal(uv_listen((uv_stream_t *)&r->server, 16, on_rconnect), 0);
    uv_tcp_getsockname(&r->server, (struct sockaddr *)&bound, &len);
    r->port = ntohs(((struct sockaddr_in *)&bound)->sin_port);
}

/* A loopback port with nothing listening (bound, then closed). */
static int closed_port(void)
{
    uv_os_sock_t fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    getsockname(fd, (struct sockaddr *)&a, &len);
    close(fd);
    return ntohs(a.sin_port);
}

/* Drives the loop until done(f) or a bound; then stops the deliverer and
 * the responder and lets the loop run dry. */
typedef struct run {
    uv_loop_t loop;
    fake_store f;
    responder r;
    td_config cfg;
    td_notify *n;
    bool (*done)(fake_store *f);    /* when to stop the deliverer */
    bool (*settled)(fake_store *f); /* when to end (default: every entry answered) */
    bool stop_on_request;           /* stop once the responder has a request */
    bool stopped;
    td_notify_stats stats;
    uv_timer_t watch;
    int64_t deadline;
} run;

static bool all_answered(fake_store *f)
{
    for (int i = 0; i < f->n; i++)
        if (!f->e[i].results)
            return false;
    return true;
}

/* Stops the deliverer once done (or once a request came in), then waits for
 * every entry to have an outcome before closing the responder. */
static void on_watch(uv_timer_t *t)
{
    run *rn = t->data;
    bool late = td_now_ms() >= rn->deadline;
    if (!rn->stopped) {
        if (!late && !(rn->stop_on_request ? rn->r.nrequests > 0 : rn->done(&rn->f)))
            return;
        td_notify_stats_get(rn->n, &rn->stats);
        td_notify_stop(rn->n);
        rn->stopped = true;
    }
    if (!late && !(rn->settled ? rn->settled : all_answered)(&rn->f))
        return;
    td_notify_stats_get(rn->n, &rn->stats);
    uv_close((uv_handle_t *)&rn->watch, NULL);
    uv_close((uv_handle_t *)&rn->r.server, NULL);
}

static void run_loop(run *rn, int seconds)
{
    char err[256] = "";
    rn->f.base.ops = &fake_ops;
    assert_int_equal(td_notify_start(&rn->loop, &rn->f.base, &rn->cfg, &rn->n, err, sizeof(err)),
                     0);
    rn->deadline = td_now_ms() + seconds * 1000;
    uv_timer_init(&rn->loop, &rn->watch);
    rn->watch.data = rn;
    uv_timer_start(&rn->watch, on_watch, 1, 1);
    uv_run(&rn->loop, UV_RUN_DEFAULT);
    td_notify_free(rn->n);
    assert_int_equal(uv_loop_close(&rn->loop), 0);
}

static run *run_new(void)
{
    run *rn = calloc(1, sizeof(*rn));
    assert_non_null(rn);
    uv_loop_init(&rn->loop);
    td_config_defaults(&rn->cfg);
    rn->cfg.notify_timeout = 3;
    rn->cfg.webhook_allow_local = true; /* the responder is on loopback */
    responder_start(&rn->loop, &rn->r);
    return rn;
}

static void test_deliver_and_fail(void **state)
{
    run *rn = run_new();
    char url[64], refused[64];
    static const int statuses[] = {500};
    (void)state;

    rn->r.statuses = statuses;
    rn->r.nstatuses = 1;
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/hook?x=1", rn->r.port);
    snprintf(refused, sizeof(refused), "http://127.0.0.1:%d/", closed_port());
    fake_entry *first = add_entry(&rn->f, "webhook", url); /* answered 500, then 200 */
    fake_entry *second = add_entry(&rn->f, "webhook", url);
    fake_entry *down = add_entry(&rn->f, "webhook", refused);
    fake_entry *mail = add_entry(&rn->f, "email", "alice@example.org");
    fake_entry *mqtt = add_entry(&rn->f, "mqtt", "");
    fake_entry *ftp = add_entry(&rn->f, "webhook", "ftp://127.0.0.1/x");
    fake_entry *space = add_entry(&rn->f, "webhook", "http://127.0.0.1/a b");
    fake_entry *bad = add_entry(&rn->f, "email", "alice@example.org\r\nBcc: x@y");
    fake_entry *other = add_entry(&rn->f, "pager", "555");
    fake_entry *old = add_entry(&rn->f, "webhook", url);
    old->created_ms -= 49 * 3600000LL; /* past the 48 h default */
    rn->done = all_answered;
    run_loop(rn, 10);

    assert_string_equal(first->status, "pending"); /* the 500 */
    assert_string_equal(first->error, "HTTP status 500");
    assert_int_equal(first->attempts, 1);
    assert_true(first->next_ms - td_now_ms() > 500 && first->next_ms - td_now_ms() <= 2000);
    assert_string_equal(second->status, "sent");
    assert_string_equal(down->status, "pending");
    assert_true(strlen(down->error) > 0);
    assert_string_equal(mail->status, "failed");
    assert_non_null(strstr(mail->error, "--smtp-url"));
    assert_string_equal(mqtt->status, "failed");
    assert_non_null(strstr(mqtt->error, "--mqtt-url"));
    assert_string_equal(ftp->status, "failed");
    assert_non_null(strstr(ftp->error, "http://"));
    assert_string_equal(space->status, "failed");
    assert_string_equal(bad->status, "failed");
    assert_string_equal(other->status, "failed");
    assert_non_null(strstr(other->error, "unknown channel"));
    assert_string_equal(old->status, "failed");
    assert_non_null(strstr(old->error, "expired"));

    /* Both requests to the responder carry the payload and the headers. */
    assert_int_equal(rn->r.nrequests, 2);
    const char *req = rn->r.requests[0];
    assert_non_null(strstr(req, "POST /hook?x=1 HTTP/1.1\r\n"));
    assert_non_null(strstr(req, "\r\nContent-Type: application/json\r\n"));
    assert_non_null(strstr(req, "\r\nIdempotency-Key: trackd-100\r\n"));
    assert_non_null(strstr(req, "\r\nUser-Agent: trackd/" TRACKD_VERSION "\r\n"));
    assert_non_null(strstr(req, "{\"deliveryId\":\"100\",\"reminder\":false,\"event\":{"));
    assert_non_null(strstr(rn->r.requests[1], "\r\nIdempotency-Key: trackd-101\r\n"));

    assert_int_equal(rn->stats.delivered, 1);
    assert_int_equal(rn->stats.failed_attempts, 2);
    assert_int_equal(rn->stats.given_up, 7);
    free(rn);
}

/* Without --webhook-allow-local, a webhook reaches a local address only
 * for an admin's channel; another user's is refused once connected, on the
 * address its name resolved to, and given up at once. */
static void test_local_targets(void **state)
{
    run *rn = run_new();
    char by_ip[64], by_name[64];
    (void)state;

    rn->cfg.webhook_allow_local = false;
    snprintf(by_ip, sizeof(by_ip), "http://127.0.0.1:%d/hook", rn->r.port);
    snprintf(by_name, sizeof(by_name), "http://localhost:%d/hook", rn->r.port);
    fake_entry *user_ip = add_entry(&rn->f, "webhook", by_ip);
    fake_entry *user_name = add_entry(&rn->f, "webhook", by_name);
    fake_entry *admin = add_entry(&rn->f, "webhook", by_ip);
    admin->admin = true;
    rn->done = all_answered;
    run_loop(rn, 10);

    assert_string_equal(user_ip->status, "failed");
    assert_non_null(strstr(user_ip->error, "127.0.0.1 is on a local network"));
    assert_non_null(strstr(user_ip->error, "--webhook-allow-local"));
    assert_string_equal(user_name->status, "failed");
    assert_true(strstr(user_name->error, "127.0.0.1 is on a local network") ||
                strstr(user_name->error, "::1 is on a local network"));
    assert_string_equal(admin->status, "sent");
    assert_int_equal(rn->r.nrequests, 1); /* the admin's, nothing of the others */
    assert_non_null(strstr(rn->r.requests[0], "Idempotency-Key: trackd-102"));
    free(rn);
}

static void test_local_addresses(void **state)
{
    (void)state;
    static const char *const local[] = {"127.0.0.1",
                                        "127.255.0.9",
                                        "10.1.2.3",
                                        "172.16.0.1",
                                        "172.31.255.255",
                                        "192.168.1.1",
                                        "169.254.1.1",
                                        "100.64.0.1",
                                        "100.127.1.1",
                                        "0.0.0.0",
                                        "224.0.0.1",
                                        "255.255.255.255",
                                        "192.0.0.8",
                                        "198.18.0.1",
                                        "::1",
                                        "::",
                                        "fe80::1",
                                        "fd00::1",
                                        "fc00::2",
                                        "ff02::1",
                                        "::ffff:127.0.0.1",
                                        "::ffff:10.0.0.1",
                                        "not an address",
                                        ""};
    static const char *const public[] = {
        "8.8.8.8", "172.32.0.1",           "172.15.255.255", "100.128.0.1", "192.169.0.1",
        "1.1.1.1", "2001:4860:4860::8888", "::ffff:8.8.8.8", "169.255.0.1", "203.0.113.7"};
    for (size_t i = 0; i < sizeof(local) / sizeof(local[0]); i++)
        if (!td_ip_local(local[i]))
            fail_msg("%s should count as local", local[i]);
    for (size_t i = 0; i < sizeof(public) / sizeof(public[0]); i++)
        if (td_ip_local(public[i]))
            fail_msg("%s should count as public", public[i]);

    char ip[64];
    assert_true(td_url_ip_literal("http://127.0.0.1:8080/x", ip, sizeof(ip)));
    assert_string_equal(ip, "127.0.0.1");
    assert_true(td_url_ip_literal("https://[::1]:443/x?y", ip, sizeof(ip)));
    assert_string_equal(ip, "::1");
    assert_true(td_url_ip_literal("http://user:pw@10.0.0.1/hook", ip, sizeof(ip)));
    assert_string_equal(ip, "10.0.0.1");
    assert_true(td_url_ip_literal("http://8.8.8.8", ip, sizeof(ip)));
    assert_false(td_url_ip_literal("http://localhost:8080/x", ip, sizeof(ip)));
    assert_false(td_url_ip_literal("https://hooks.example.com/x", ip, sizeof(ip)));
    assert_false(td_url_ip_literal("http://[::1/x", ip, sizeof(ip)));
    assert_false(td_url_ip_literal("no scheme", ip, sizeof(ip)));
}

static bool first_sent(fake_store *f)
{
    return !strcmp(f->e[0].status, "sent");
}

static void test_retry_until_delivered(void **state)
{
    run *rn = run_new();
    char url[64];
    static const int statuses[] = {500, 503};
    (void)state;

    rn->cfg.notify_retry_max = 1; /* 1 s between attempts */
    rn->r.statuses = statuses;
    rn->r.nstatuses = 2;
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/", rn->r.port);
    fake_entry *e = add_entry(&rn->f, "webhook", url);
    rn->done = first_sent;
    run_loop(rn, 10);
    assert_string_equal(e->status, "sent");
    assert_int_equal(e->attempts, 2);
    assert_int_equal(e->results, 3);
    assert_int_equal(rn->r.nrequests, 3);
    for (int i = 0; i < 3; i++)
        assert_non_null(strstr(rn->r.requests[i], "\r\nIdempotency-Key: trackd-100\r\n"));
    free(rn);
}

/* A webhook that does not answer and a "broker" that accepts but never
 * sends CONNACK: each attempt ends after --notify-timeout. */
static void test_timeouts(void **state)
{
    run *rn = run_new();
    char url[64];
    (void)state;

    rn->cfg.notify_timeout = 1;
    rn->r.delay_ms = 5000;
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/", rn->r.port);
    snprintf(rn->cfg.mqtt_url, sizeof(rn->cfg.mqtt_url), "mqtt://127.0.0.1:%d", rn->r.port);
    fake_entry *hook = add_entry(&rn->f, "webhook", url);
    fake_entry *mqtt = add_entry(&rn->f, "mqtt", "");
    fake_entry *mqtt2 = add_entry(&rn->f, "mqtt", "other/{type}");
    rn->done = all_answered;
    int64_t start = td_now_ms();
    run_loop(rn, 10);
    assert_string_equal(hook->status, "pending");
    assert_non_null(strstr(hook->error, "imed out"));
    assert_string_equal(mqtt->status, "pending");
    assert_non_null(strstr(mqtt->error, "timed out"));
    /* The broker was not reached: the job's other MQTT delivery does not
     * wait again. */
    assert_string_equal(mqtt2->status, "pending");
    assert_string_equal(mqtt2->error, mqtt->error);
    assert_true(hook->result_ms - start >= 1900 && hook->result_ms - start < 3500);
    free(rn);
}

static bool first_answered(fake_store *f)
{
    return f->e[0].results > 0;
}

static void test_stop_lets_the_job_finish(void **state)
{
    run *rn = run_new();
    char url[64];
    (void)state;

    snprintf(url, sizeof(url), "http://127.0.0.1:%d/", rn->r.port);
    fake_entry *e = add_entry(&rn->f, "webhook", url);
    add_entry(&rn->f, "webhook", url);
    rn->r.delay_ms = 300; /* the job is still running when the stop comes */
    rn->stop_on_request = true;
    rn->settled = first_answered;
    run_loop(rn, 10);
    /* Stopped while the job's first delivery was running: its outcome is
     * recorded, the second is left for the next start, and nothing polls
     * the outbox after the stop. */
    assert_string_equal(e->status, "sent");
    assert_int_equal(e->results, 1);
    assert_string_equal(e[1].status, "pending");
    assert_int_equal(e[1].results, 0);
    assert_int_equal(rn->r.nrequests, 1);
    assert_int_equal(rn->f.polls, 1);
    free(rn);
}

static void test_bad_config(void **state)
{
    uv_loop_t loop;
    fake_store f = {.base = {.ops = &fake_ops}};
    td_config c;
    td_notify *n = (td_notify *)1;
    char err[256];
    (void)state;

    uv_loop_init(&loop);
    td_config_defaults(&c);
    snprintf(c.mqtt_url, sizeof(c.mqtt_url), "tcp://127.0.0.1:1883");
    assert_int_equal(td_notify_start(&loop, &f.base, &c, &n, err, sizeof(err)), TD_EINVAL);
    assert_null(n);
    assert_non_null(strstr(err, "mqtt-url"));
    snprintf(c.mqtt_url, sizeof(c.mqtt_url), "mqtt://127.0.0.1:99999");
    assert_int_equal(td_notify_start(&loop, &f.base, &c, &n, err, sizeof(err)), TD_EINVAL);
    snprintf(c.mqtt_url, sizeof(c.mqtt_url), "mqtt://[::1]:1883");
    assert_int_equal(td_notify_start(&loop, &f.base, &c, &n, err, sizeof(err)), 0);
    td_notify_stop(n);
    uv_run(&loop, UV_RUN_DEFAULT);
    td_notify_free(n);
    c.mqtt_url[0] = '\0';
    snprintf(c.smtp_url, sizeof(c.smtp_url), "http://mail.example.org");
    assert_int_equal(td_notify_start(&loop, &f.base, &c, &n, err, sizeof(err)), TD_EINVAL);
    assert_non_null(strstr(err, "smtp-url"));
    snprintf(c.smtp_url, sizeof(c.smtp_url), "smtp://127.0.0.1:25");
    snprintf(c.smtp_from, sizeof(c.smtp_from), "trackd");
    assert_int_equal(td_notify_start(&loop, &f.base, &c, &n, err, sizeof(err)), TD_EINVAL);
    assert_non_null(strstr(err, "smtp-from"));
    assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_backoff),
        cmocka_unit_test(test_topic),
        cmocka_unit_test(test_address),
        cmocka_unit_test(test_payload),
        cmocka_unit_test(test_email),
        cmocka_unit_test(test_deliver_and_fail),
        cmocka_unit_test(test_local_targets),
        cmocka_unit_test(test_local_addresses),
        cmocka_unit_test(test_retry_until_delivered),
        cmocka_unit_test(test_timeouts),
        cmocka_unit_test(test_stop_lets_the_job_finish),
        cmocka_unit_test(test_bad_config),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
