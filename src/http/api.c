/*
 * The JSON API under /api (CONTRACT.md, "HTTP API"), /metrics and the
 * OpenAPI document. One route table maps (method, path pattern) to a
 * handler, the access it needs and the JSON fields its body may hold;
 * dispatch checks all three before the handler runs, so handlers see only
 * authenticated callers and well-formed bodies.
 *
 * Access rule: a user sees the devices they own or that were shared with
 * them; admins see all. A device the caller may not see is answered 404,
 * exactly like one that does not exist; one they may see but not manage
 * (shared with them) is 403 for changes.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/amr.h"
#include "core/command.h"
#include "core/log.h"
#include "core/rules.h"
#include "core/text.h"
#include "core/voice.h"
#include "http/auth.h"
#include "http/internal.h"
#include "http/routes.h"
#include "notify/notify.h"
#include "protocols/registry.h"
#include "trackd/error.h"
#include "trackd/record.h"

int td_http_login_allowed(td_http *h, const char *peer, int *retry_after);
void td_http_login_failed(td_http *h, const char *peer);
void td_export_start(td_req *r, td_device *d, int64_t from, int64_t to, const char *format);
void td_metrics(td_req *r);

#define LIMIT_DEFAULT 1000
#define LIMIT_MAX 10000
#define TIME_MAX INT64_C(253402300799999) /* 9999-12-31T23:59:59.999Z */

typedef void (*td_handler)(td_req *r, json_t *body, const int64_t *ids);

struct td_route {
    enum td_method method;
    const char *pattern;
    enum td_access access;
    td_handler fn;
    const char *fields; /* JSON body fields allowed, comma-separated; NULL = no body */
};

/* ---- input helpers ------------------------------------------------------ */

static td_store *store_of(td_req *r)
{
    return td_gw_store(r->h->srv);
}

/* A JSON string field; NULL when absent. Replies 400 and returns false on
 * a wrong type or length. */
static bool get_str(td_req *r, json_t *body, const char *key, bool required, size_t maxlen,
                    const char **out)
{
    json_t *v = body ? json_object_get(body, key) : NULL;
    *out = NULL;
    if (!v || json_is_null(v)) {
        if (required) {
            td_reply_error(r, 400, "field '%s' is required", key);
            return false;
        }
        return true;
    }
    if (!json_is_string(v)) {
        td_reply_error(r, 400, "field '%s' must be a string", key);
        return false;
    }
    size_t n = json_string_length(v);
    if (n > maxlen || strlen(json_string_value(v)) != n) {
        td_reply_error(r, 400, "field '%s' must be at most %zu characters, without NUL", key,
                       maxlen);
        return false;
    }
    *out = json_string_value(v);
    return true;
}

/* A JSON boolean field: -1 absent, 0/1. */
static bool get_bool(td_req *r, json_t *body, const char *key, int *out)
{
    json_t *v = body ? json_object_get(body, key) : NULL;
    *out = -1;
    if (!v || json_is_null(v))
        return true;
    if (!json_is_boolean(v)) {
        td_reply_error(r, 400, "field '%s' must be true or false", key);
        return false;
    }
    *out = json_is_true(v);
    return true;
}

/* A JSON integer field in [min, max]; *present tells whether it was given. */
static bool get_int(td_req *r, json_t *body, const char *key, bool required, int64_t min,
                    int64_t max, int64_t *out, bool *present)
{
    json_t *v = body ? json_object_get(body, key) : NULL;
    *present = false;
    if (!v || json_is_null(v)) {
        if (required) {
            td_reply_error(r, 400, "field '%s' is required", key);
            return false;
        }
        return true;
    }
    if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max) {
        td_reply_error(r, 400, "field '%s' must be an integer from %lld to %lld", key,
                       (long long)min, (long long)max);
        return false;
    }
    *out = json_integer_value(v);
    *present = true;
    return true;
}

/* A positive decimal id; false for anything else. */
static bool parse_id(const char *s, int64_t *out)
{
    int64_t v = 0;
    if (!*s || strlen(s) > 18)
        return false;
    for (const char *p = s; *p; p++) {
        if (!isdigit((unsigned char)*p))
            return false;
        v = v * 10 + (*p - '0');
    }
    *out = v;
    return v > 0;
}

/* Query argument helpers: each replies 400 and returns false on bad input. */
static bool arg_id(td_req *r, const char *name, bool required, int64_t *out)
{
    const char *v = td_arg(r, name);
    *out = 0;
    if (!v || !*v) {
        if (required) {
            td_reply_error(r, 400, "query parameter '%s' is required", name);
            return false;
        }
        return true;
    }
    if (!parse_id(v, out)) {
        td_reply_error(r, 400, "query parameter '%s': '%s' is not a valid id", name, v);
        return false;
    }
    return true;
}

static bool arg_time(td_req *r, const char *name, int64_t dflt, int64_t *out)
{
    const char *v = td_arg(r, name);
    *out = dflt;
    if (!v || !*v)
        return true;
    /* A '+' of a UTC offset may arrive decoded as a space. */
    char buf[64];
    snprintf(buf, sizeof(buf), "%s", v);
    size_t n = strlen(buf);
    if (n > 6 && buf[n - 6] == ' ')
        buf[n - 6] = '+';
    if (!td_parse_iso8601(buf, out)) {
        td_reply_error(r, 400,
                       "query parameter '%s': '%s' is not an ISO 8601 time"
                       " (like 2026-11-21T08:00:00Z)",
                       name, v);
        return false;
    }
    return true;
}

static bool arg_range(td_req *r, int64_t *from, int64_t *to)
{
    if (!arg_time(r, "from", 0, from) || !arg_time(r, "to", TIME_MAX, to))
        return false;
    if (*from > *to) {
        td_reply_error(r, 400, "'from' is after 'to'");
        return false;
    }
    return true;
}

static bool arg_limit(td_req *r, int *out)
{
    const char *v = td_arg(r, "limit");
    *out = LIMIT_DEFAULT;
    if (!v || !*v)
        return true;
    int64_t n;
    if (!parse_id(v, &n) || n > LIMIT_MAX) {
        td_reply_error(r, 400, "query parameter 'limit': '%s' is not a number from 1 to %d", v,
                       LIMIT_MAX);
        return false;
    }
    *out = (int)n;
    return true;
}

static bool arg_after(td_req *r, int64_t *out)
{
    const char *v = td_arg(r, "after");
    *out = 0;
    if (!v || !*v || strcmp(v, "0") == 0)
        return true;
    if (!parse_id(v, out)) {
        td_reply_error(r, 400, "query parameter 'after': '%s' is not a valid id", v);
        return false;
    }
    return true;
}

/* The device id (visible to the caller), or NULL after replying 404. */
static td_device *visible_device(td_req *r, int64_t id)
{
    td_device *d = td_gw_device(r->h->srv, id);
    if (!d || !td_device_visible(d, r->who.id, r->who.admin)) {
        td_reply_error(r, 404, "device %lld not found", (long long)id);
        return NULL;
    }
    return d;
}

/* Like visible_device, and the caller must be allowed to change it. */
static td_device *managed_device(td_req *r, int64_t id)
{
    td_device *d = visible_device(r, id);
    if (d && !td_device_manageable(d, r->who.id, r->who.admin)) {
        td_reply_error(r, 403,
                       "device %lld is shared with you; only its owner or an admin may"
                       " change it",
                       (long long)id);
        return NULL;
    }
    return d;
}

static void reply_no_content(td_req *r)
{
    td_reply(r, 204, "application/json", NULL, 0);
}

/* A JSON array being written by a store callback: b, and items so far. */
struct json_list {
    td_sbuf *b;
    int n;
};

/* Starts the next item of l (a comma after the first). */
static struct json_list *list_next(void *arg)
{
    struct json_list *l = arg;
    if (l->n++)
        td_sbuf_puts(l->b, ",");
    return l;
}

/* ---- authentication ----------------------------------------------------- */

bool td_api_authenticate(td_req *r)
{
    char secret[TD_TOKEN_HEX + 40], auth[TD_TOKEN_HEX + 32];
    size_t max = sizeof(secret);
    bool have = false;

    if (lws_hdr_copy(r->wsi, auth, sizeof(auth), WSI_TOKEN_HTTP_AUTHORIZATION) > 0) {
        if (strncasecmp(auth, "Bearer ", 7) == 0) {
            snprintf(secret, sizeof(secret), "%s", auth + 7);
            have = true;
        }
    }
    if (!have && lws_http_cookie_get(r->wsi, TD_COOKIE, secret, &max) == 0)
        have = true;
    if (!have || strlen(secret) != TD_TOKEN_HEX)
        return false;

    td_store *s = store_of(r);
    td_store_session ses;
    td_store_user u;
    td_secret_key(secret, r->who.key);
    if (s->ops->session_get(s, r->who.key, td_now_ms(), &ses) != 0 ||
        s->ops->user_get(s, ses.user_id, NULL, &u) != 0)
        return false;
    r->who.id = u.id;
    r->who.admin = u.admin;
    snprintf(r->who.name, sizeof(r->who.name), "%s", u.name);
    r->authed = true;
    return true;
}

static void set_cookie(td_req *r, const char *secret, int max_age)
{
    char cookie[256];
    snprintf(cookie, sizeof(cookie), "%s=%s; Path=/; Max-Age=%d; HttpOnly; SameSite=Strict",
             TD_COOKIE, secret, max_age);
    td_add_header(r, "set-cookie", cookie);
}

/* Creates a session or token for a user; secret gets the hex secret. */
static int new_session(td_req *r, int64_t user_id, const char *kind, int64_t ttl_ms,
                       char secret[TD_TOKEN_HEX + 1], td_store_session *ses)
{
    char key[65];
    int rc = td_random_hex(secret, TD_TOKEN_HEX);
    if (rc)
        return rc;
    td_secret_key(secret, key);
    memset(ses, 0, sizeof(*ses));
    ses->user_id = user_id;
    snprintf(ses->kind, sizeof(ses->kind), "%s", kind);
    ses->created_ms = td_now_ms();
    ses->expires_ms = ses->created_ms + ttl_ms;
    td_store *s = store_of(r);
    return s->ops->session_add(s, key, ses);
}

/* ---- session ------------------------------------------------------------ */

struct td_job {
    td_req *req; /* first: req_reset() clears it when the request goes away */
    uv_work_t work;
    td_http *h;
    char peer[64];
    char password[TD_PASSWORD_MAX + 1];
    td_store_user user;
    bool found, ok;
};

static char dummy_hash[160]; /* verified against for unknown users */

static void login_work(uv_work_t *w)
{
    td_job *j = w->data;
    j->ok = td_password_verify(j->found ? j->user.hash : dummy_hash, j->password) && j->found;
    memset(j->password, 0, sizeof(j->password));
}

static void login_done(uv_work_t *w, int status)
{
    td_job *j = w->data;
    td_req *r = j->req;
    (void)status;
    if (!j->ok)
        td_http_login_failed(j->h, j->peer);
    if (r) {
        r->job = NULL;
        if (!j->ok) {
            td_warn("http %s: failed login as '%s'", j->peer, j->user.name);
            td_reply_error(r, 401, "wrong user name or password");
        } else {
            char secret[TD_TOKEN_HEX + 1];
            td_store_session ses;
            int64_t ttl = (int64_t)r->h->cfg->session_timeout * 1000;
            if (new_session(r, j->user.id, "session", ttl, secret, &ses)) {
                td_reply_error(r, 500, "cannot create a session");
            } else {
                td_sbuf b;
                td_sbuf_init(&b, LWS_PRE);
                set_cookie(r, secret, r->h->cfg->session_timeout);
                td_json_user(&b, &j->user);
                td_info("http %s: user '%s' logged in", j->peer, j->user.name);
                td_reply_sbuf(r, 200, &b);
            }
        }
    }
    free(j);
}

static void h_session_create(td_req *r, json_t *body, const int64_t *ids)
{
    const char *user, *password;
    int retry;
    (void)ids;
    if (!td_http_login_allowed(r->h, r->peer, &retry)) {
        char v[16];
        snprintf(v, sizeof(v), "%d", retry);
        td_add_header(r, "retry-after", v);
        td_warn("http %s: login refused: too many failed attempts", r->peer);
        td_reply_error(r, 429, "too many failed logins from %s; try again in %d s", r->peer, retry);
        return;
    }
    if (!get_str(r, body, "user", true, 63, &user) ||
        !get_str(r, body, "password", true, TD_PASSWORD_MAX, &password))
        return;
    if (!dummy_hash[0] &&
        td_password_hash("trackd-dummy-password", dummy_hash, sizeof(dummy_hash))) {
        td_reply_error(r, 500, "cannot hash");
        return;
    }
    td_job *j = calloc(1, sizeof(*j));
    if (!j) {
        td_reply_error(r, 500, "out of memory");
        return;
    }
    td_store *s = store_of(r);
    j->found = s->ops->user_get(s, 0, user, &j->user) == 0;
    if (!j->found)
        snprintf(j->user.name, sizeof(j->user.name), "%s", user);
    j->h = r->h;
    j->req = r;
    snprintf(j->peer, sizeof(j->peer), "%s", r->peer);
    snprintf(j->password, sizeof(j->password), "%s", password);
    j->work.data = j;
    r->job = j;
    r->responding = true; /* the answer comes from login_done */
    if (uv_queue_work(r->h->loop, &j->work, login_work, login_done) < 0) {
        r->job = NULL;
        free(j);
        td_reply_error(r, 500, "cannot queue the login");
    }
}

static void h_session_get(td_req *r, json_t *body, const int64_t *ids)
{
    td_store_user u = {.id = r->who.id, .admin = r->who.admin};
    td_sbuf b;
    (void)body;
    (void)ids;
    snprintf(u.name, sizeof(u.name), "%s", r->who.name);
    td_sbuf_init(&b, LWS_PRE);
    td_json_user(&b, &u);
    td_reply_sbuf(r, 200, &b);
}

static void h_session_delete(td_req *r, json_t *body, const int64_t *ids)
{
    td_store *s = store_of(r);
    (void)body;
    (void)ids;
    s->ops->session_delete(s, r->who.key);
    td_http_end_sessions(r->h, r->who.id); /* a live feed opened with it */
    set_cookie(r, "", 0);
    reply_no_content(r);
}

static void h_tokens_create(td_req *r, json_t *body, const int64_t *ids)
{
    int64_t days = r->h->cfg->token_days;
    bool given;
    char secret[TD_TOKEN_HEX + 1], iso[40];
    td_store_session ses;
    (void)ids;
    if (!get_int(r, body, "expiresDays", false, 1, 3650, &days, &given))
        return;
    if (new_session(r, r->who.id, "token", days * 86400000, secret, &ses)) {
        td_reply_error(r, 500, "cannot create a token");
        return;
    }
    td_sbuf b;
    td_sbuf_init(&b, LWS_PRE);
    td_sbuf_printf(&b, "{\"id\":%lld,\"token\":\"%s\",\"expiresAt\":\"%s\"}", (long long)ses.id,
                   secret, td_iso8601(ses.expires_ms, iso, sizeof(iso)));
    td_info("http %s: user '%s' created API token %lld", r->peer, r->who.name, (long long)ses.id);
    td_reply_sbuf(r, 200, &b);
}

struct token_list {
    struct json_list list;
    int64_t current; /* the token this request came with, or 0 */
};

static int add_token(void *arg, const td_store_session *ses)
{
    struct token_list *l = arg;
    char created[40], expires[40];
    td_sbuf_printf(list_next(&l->list)->b,
                   "{\"id\":%lld,\"createdAt\":\"%s\",\"expiresAt\":\"%s\",\"current\":%s}",
                   (long long)ses->id, td_iso8601(ses->created_ms, created, sizeof(created)),
                   td_iso8601(ses->expires_ms, expires, sizeof(expires)),
                   ses->id == l->current ? "true" : "false");
    return 0;
}

/* The caller's API tokens (never their secrets). */
static void h_tokens_list(td_req *r, json_t *body, const int64_t *ids)
{
    td_store *s = store_of(r);
    td_store_session ses;
    td_sbuf b;
    (void)body;
    (void)ids;
    td_sbuf_init(&b, LWS_PRE);
    struct token_list l = {{&b, 0}, 0};
    if (s->ops->session_get(s, r->who.key, td_now_ms(), &ses) == 0 && !strcmp(ses.kind, "token"))
        l.current = ses.id;
    td_sbuf_puts(&b, "[");
    if (s->ops->tokens(s, r->who.id, td_now_ms(), add_token, &l)) {
        td_sbuf_free(&b);
        td_reply_error(r, 500, "cannot list the tokens");
        return;
    }
    td_sbuf_puts(&b, "]");
    td_reply_sbuf(r, 200, &b);
}

/* Revokes a token: one of the caller's, or anyone's for an admin. */
static void h_tokens_delete(td_req *r, json_t *body, const int64_t *ids)
{
    td_store *s = store_of(r);
    (void)body;
    int rc = s->ops->token_delete(s, ids[0], r->who.admin ? 0 : r->who.id);
    if (rc == TD_ENOTFOUND) {
        td_reply_error(r, 404, "token %lld not found", (long long)ids[0]);
        return;
    }
    if (rc) {
        td_reply_error(r, 500, "cannot revoke the token");
        return;
    }
    td_info("http %s: user '%s' revoked API token %lld", r->peer, r->who.name, (long long)ids[0]);
    td_http_end_sessions(r->h, r->who.admin ? 0 : r->who.id); /* feeds opened with it */
    reply_no_content(r);
}

/* ---- server ------------------------------------------------------------- */

static void h_server(td_req *r, json_t *body, const int64_t *ids)
{
    td_sbuf b;
    (void)body;
    (void)ids;
    td_sbuf_init(&b, LWS_PRE);
    td_sbuf_printf(&b, "{\"version\":\"%s\",\"devicePort\":%d,\"httpPort\":%d,\"protocols\":[",
                   TRACKD_VERSION, td_gw_port(r->h->srv), r->h->port);
    for (size_t i = 0; i < td_protocol_count; i++) {
        if (i)
            td_sbuf_puts(&b, ",");
        td_json_str(&b, td_protocols[i]->name);
    }
    td_sbuf_puts(&b, "],\"protocolInfo\":[");
    for (size_t i = 0; i < td_protocol_count; i++) {
        const td_protocol *p = td_protocols[i];
        td_sbuf_printf(&b, "%s{\"name\":", i ? "," : "");
        td_json_str(&b, p->name);
        td_sbuf_printf(&b, ",\"transports\":[%s%s%s],\"commands\":%s,\"devices\":",
                       p->transports & TD_TCP ? "\"tcp\"" : "",
                       (p->transports & TD_TCP) && (p->transports & TD_UDP) ? "," : "",
                       p->transports & TD_UDP ? "\"udp\"" : "",
                       p->commands && p->commands->type ? "true" : "false");
        td_json_str(&b, p->devices);
        td_sbuf_puts(&b, "}");
    }
    td_sbuf_puts(&b, "],\"tileUrl\":");
    td_json_str(&b, r->h->cfg->tile_url);
    td_sbuf_puts(&b, ",\"tileAttribution\":");
    td_json_str(&b, r->h->cfg->tile_attribution);
    td_sbuf_puts(&b, "}");
    td_reply_sbuf(r, 200, &b);
}

static void h_openapi(td_req *r, json_t *body, const int64_t *ids)
{
    (void)body;
    (void)ids;
    td_reply(r, 200, "application/json", (const char *)td_openapi_json,
             (size_t)td_openapi_json_len);
}

static void h_socket_plain(td_req *r, json_t *body, const int64_t *ids)
{
    (void)body;
    (void)ids;
    td_reply_error(r, 400, "/api/socket is a WebSocket: connect with an Upgrade request");
}

/* ---- commands ----------------------------------------------------------- */

#define COMMAND_ENCODE_MAX (70 * 1024)

static void json_command(td_sbuf *b, const td_store_command *c)
{
    td_sbuf_printf(b, "{\"id\":%lld,\"deviceId\":%lld,\"type\":", (long long)c->id,
                   (long long)c->device_id);
    td_json_str(b, c->type);
    td_sbuf_puts(b, ",\"attributes\":");
    td_sbuf_puts(b, c->attributes ? c->attributes : "{}");
    td_sbuf_puts(b, ",\"status\":");
    td_json_str(b, c->status);
    td_sbuf_puts(b, ",\"createdAt\":");
    td_json_time(b, c->created_ms);
    td_sbuf_puts(b, ",\"sentAt\":");
    td_json_time(b, c->sent_ms);
    td_sbuf_puts(b, ",\"ackedAt\":");
    td_json_time(b, c->acked_ms);
    td_sbuf_puts(b, ",\"expiresAt\":");
    td_json_time(b, c->expires_ms);
    td_sbuf_puts(b, ",\"userId\":");
    td_json_id(b, c->user_id);
    td_sbuf_puts(b, ",\"user\":");
    td_json_str(b, c->user_name);
    td_sbuf_puts(b, ",\"result\":");
    td_json_str(b, c->result);
    td_sbuf_puts(b, "}");
}

struct command_out {
    td_sbuf *b;
    int64_t device_id;
    bool found;
};

static int command_one(void *arg, const td_store_command *c)
{
    struct command_out *o = arg;
    json_command(o->b, c);
    o->device_id = c->device_id;
    o->found = true;
    return 1;
}

bool td_command_json(td_store *s, int64_t id, td_sbuf *b, int64_t *device_id)
{
    struct command_out o = {b, 0, false};
    td_store_command_filter f = {.id = id};
    s->ops->commands(s, &f, command_one, &o);
    if (device_id)
        *device_id = o.device_id;
    return o.found;
}

static void h_command_types(td_req *r, json_t *body, const int64_t *ids)
{
    (void)body;
    td_device *d = visible_device(r, ids[0]);
    if (!d)
        return;
    json_t *types = td_cmd_types_json(td_protocol_find(d->st.protocol));
    char *text = json_dumps(types, JSON_COMPACT);
    json_decref(types);
    if (!text) {
        td_reply_error(r, 500, "out of memory");
        return;
    }
    td_reply(r, 200, "application/json", text, strlen(text));
    free(text);
}

struct command_list {
    td_req *r;
    td_sbuf *b;
    int n, limit;
};

static int command_item(void *arg, const td_store_command *c)
{
    struct command_list *l = arg;
    td_device *d = td_gw_device(l->r->h->srv, c->device_id);
    if (!d || !td_device_visible(d, l->r->who.id, l->r->who.admin))
        return 0;
    if (l->n++)
        td_sbuf_puts(l->b, ",");
    json_command(l->b, c);
    return l->n >= l->limit;
}

static void h_commands_list(td_req *r, json_t *body, const int64_t *ids)
{
    (void)body;
    (void)ids;
    int64_t device_id;
    int limit;
    const char *status = td_arg(r, "status");
    static const char *const statuses[] = {"queued", "sent", "acknowledged", "failed", "expired"};
    if (!arg_id(r, "deviceId", false, &device_id) || !arg_limit(r, &limit))
        return;
    if (device_id && !visible_device(r, device_id))
        return;
    if (status && *status) {
        bool ok = false;
        for (size_t i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++)
            ok = ok || strcmp(status, statuses[i]) == 0;
        if (!ok) {
            td_reply_error(r, 400,
                           "query parameter 'status': '%s' is not one of queued, sent,"
                           " acknowledged, failed, expired",
                           status);
            return;
        }
    } else {
        status = NULL;
    }
    td_sbuf b;
    td_sbuf_init(&b, 0);
    td_sbuf_puts(&b, "[");
    struct command_list l = {r, &b, 0, limit};
    td_store_command_filter f = {.device_id = device_id, .status = status, .desc = true};
    /* Every command of one device is visible; across devices, filter. */
    f.limit = device_id ? limit : 0;
    int rc = store_of(r)->ops->commands(store_of(r), &f, command_item, &l);
    if (rc < 0) {
        td_sbuf_free(&b);
        td_reply_error(r, 500, "store error: %s", td_strerror(rc));
        return;
    }
    td_sbuf_puts(&b, "]");
    td_reply_sbuf(r, 200, &b);
}

static int voice_of(void *arg, const td_store_voice *v)
{
    td_store_voice *out = arg;
    *out = *v;
    out->file = v->file ? strdup(v->file) : NULL;
    out->direction = v->direction && strcmp(v->direction, "in") == 0 ? "in" : "out";
    return 1;
}

/* The voice message id (NULL file when there is none). The caller frees
 * v->file. */
static void find_voice(td_store *s, int64_t id, td_store_voice *v)
{
    memset(v, 0, sizeof(*v));
    s->ops->voices(s, id, 0, 1, voice_of, v);
}

static void h_commands_create(td_req *r, json_t *body, const int64_t *ids)
{
    (void)ids;
    int64_t device_id;
    bool present;
    const char *type;
    char err[256] = "", ack[TD_ACK_MAX];
    uint8_t scratch[TD_CMD_SCRATCH];
    td_command cmd;

    if (!get_int(r, body, "deviceId", true, 1, INT64_MAX, &device_id, &present) ||
        !get_str(r, body, "type", true, 40, &type))
        return;
    td_device *d = visible_device(r, device_id);
    if (!d)
        return;
    json_t *attrs = json_object_get(body, "attributes");
    if (attrs && !json_is_object(attrs) && !json_is_null(attrs)) {
        td_reply_error(r, 400, "field 'attributes' must be an object");
        return;
    }
    const td_protocol *proto = td_protocol_find(d->st.protocol);
    if (!proto) {
        td_reply_error(r, 409,
                       "device %s has not reported yet, so its protocol and commands are not"
                       " known; send commands once it has connected",
                       d->st.unique_id);
        return;
    }
    const td_cmd_type *t = td_cmd_type_find(proto, type);
    if (!t) {
        char names[512] = "";
        size_t n = 0;
        for (const td_cmd_type *c = proto->commands; c && c->type && n < sizeof(names); c++)
            n += (size_t)snprintf(names + n, sizeof(names) - n, "%s%s", n ? ", " : "", c->type);
        td_reply_error(r, 400, "the %s protocol has no command '%s'%s%s%s", proto->name, type,
                       names[0] ? " (it has: " : "; it takes no commands", names,
                       names[0] ? ")" : "");
        return;
    }
    if (td_cmd_validate(t, attrs, &cmd, scratch, sizeof(scratch), err, sizeof(err))) {
        td_reply_error(r, 400, "%s", err);
        return;
    }
    /* A voice parameter names an uploaded clip of this device. */
    uint8_t *audio = NULL;
    for (int i = 0; i < TD_CMD_PARAMS_MAX && t->params[i].name; i++) {
        if (t->params[i].kind != TD_PARAM_DATA || !cmd.arg[i].set)
            continue;
        td_store_voice v;
        size_t len = 0;
        find_voice(store_of(r), cmd.arg[i].num, &v);
        int rc = !v.file || v.device_id != d->st.id
                     ? TD_ENOTFOUND
                     : td_voice_read(td_gw_media_dir(r->h->srv), v.file, TD_VOICE_MAX_BYTES, &audio,
                                     &len);
        free((char *)v.file);
        if (rc) {
            td_reply_error(r, 400, "voice message %ld of device %lld: %s", cmd.arg[i].num,
                           (long long)d->st.id,
                           rc == TD_ENOTFOUND ? "not found (upload it with POST /api/voice)"
                                              : td_strerror(rc));
            return;
        }
        cmd.arg[i].str = (const char *)audio;
        cmd.arg[i].len = len;
    }
    /* Encoding it now for the device's identity catches what the
     * protocol cannot express before anything is stored. */
    td_session ses;
    memset(&ses, 0, sizeof(ses));
    snprintf(ses.device_id, sizeof(ses.device_id), "%s", d->st.unique_id);
    uint8_t *out = malloc(COMMAND_ENCODE_MAX);
    size_t len;
    int rc = out ? proto->encode(&ses, &cmd, out, COMMAND_ENCODE_MAX, &len, ack, err, sizeof(err))
                 : TD_ENOMEM;
    free(out);
    free(audio);
    if (rc) {
        td_reply_error(r, 400, "%s", err[0] ? err : td_strerror(rc));
        return;
    }

    char *text = attrs && json_is_object(attrs) ? json_dumps(attrs, JSON_COMPACT | JSON_SORT_KEYS)
                                                : strdup("{}");
    int64_t now = td_now_ms();
    td_store_command c = {.device_id = d->st.id,
                          .user_id = r->who.id,
                          .user_name = r->who.name,
                          .type = t->type,
                          .attributes = text,
                          .status = "queued",
                          .created_ms = now,
                          .expires_ms =
                              now + (int64_t)td_gw_config(r->h->srv)->command_expire * 1000};
    rc = text ? store_of(r)->ops->command_add(store_of(r), &c) : TD_ENOMEM;
    free(text);
    if (rc) {
        td_reply_error(r, 500, "cannot store the command: %s", td_strerror(rc));
        return;
    }
    td_info("user %s: command %lld (%s) for device %s queued", r->who.name, (long long)c.id,
            t->type, d->st.unique_id);
    td_http_command_changed(r->h, c.id);
    td_gw_command_queued(r->h->srv, d);

    td_sbuf b;
    td_sbuf_init(&b, 0);
    td_command_json(store_of(r), c.id, &b, NULL);
    td_reply_sbuf(r, 200, &b);
}

/* ---- voice messages ------------------------------------------------------- */

static void json_voice(td_sbuf *b, const td_store_voice *v)
{
    td_sbuf_printf(b, "{\"id\":%lld,\"deviceId\":%lld,\"direction\":", (long long)v->id,
                   (long long)v->device_id);
    td_json_str(b, v->direction);
    td_sbuf_puts(b, ",\"time\":");
    td_json_time(b, v->time_ms);
    td_sbuf_printf(b, ",\"durationMs\":%lld,\"size\":%lld,\"userId\":", (long long)v->duration_ms,
                   (long long)v->size);
    td_json_id(b, v->user_id);
    td_sbuf_printf(b, ",\"audio\":\"/api/voice/%lld/audio\"}", (long long)v->id);
}

static int voice_item(void *arg, const td_store_voice *v)
{
    json_voice(list_next(arg)->b, v);
    return 0;
}

static void h_voice_list(td_req *r, json_t *body, const int64_t *ids)
{
    (void)body;
    (void)ids;
    int64_t device_id;
    int limit;
    if (!arg_id(r, "deviceId", true, &device_id) || !arg_limit(r, &limit) ||
        !visible_device(r, device_id))
        return;
    td_sbuf b;
    td_sbuf_init(&b, 0);
    td_sbuf_puts(&b, "[");
    struct json_list l = {&b, 0};
    int rc = store_of(r)->ops->voices(store_of(r), 0, device_id, limit, voice_item, &l);
    if (rc < 0) {
        td_sbuf_free(&b);
        td_reply_error(r, 500, "store error: %s", td_strerror(rc));
        return;
    }
    td_sbuf_puts(&b, "]");
    td_reply_sbuf(r, 200, &b);
}

static void h_voice_upload(td_req *r, json_t *body, const int64_t *ids)
{
    (void)body;
    (void)ids;
    int64_t device_id;
    char err[256], name[512];
    td_amr_info info;
    if (!arg_id(r, "deviceId", true, &device_id))
        return;
    td_device *d = visible_device(r, device_id);
    if (!d)
        return;
    if (r->body.len == 0) {
        td_reply_error(r, 400, "send the AMR file as the request body (Content-Type audio/amr)");
        return;
    }
    if (td_amr_info_get((const uint8_t *)r->body.data, r->body.len, &info, err, sizeof(err))) {
        td_reply_error(r, 400, "not an AMR-NB voice message: %s", err);
        return;
    }
    int64_t now = td_now_ms();
    td_store_voice v = {.device_id = d->st.id,
                        .user_id = r->who.id,
                        .direction = "out",
                        .time_ms = now,
                        .size = (int64_t)r->body.len,
                        .duration_ms = info.duration_ms,
                        .file = name};
    int rc =
        td_voice_write(td_gw_media_dir(r->h->srv), d->st.id, now, (const uint8_t *)r->body.data,
                       r->body.len, name, sizeof(name), err, sizeof(err));
    if (rc) {
        td_error("voice upload for device %s: %s", d->st.unique_id, err);
        td_reply_error(r, 500, "cannot store the voice message");
        return;
    }
    if ((rc = store_of(r)->ops->voice_add(store_of(r), &v))) {
        td_reply_error(r, 500, "store error: %s", td_strerror(rc));
        return;
    }
    td_info("user %s: voice message %lld (%zu bytes, %lld ms) uploaded for device %s", r->who.name,
            (long long)v.id, r->body.len, (long long)info.duration_ms, d->st.unique_id);
    td_sbuf b;
    td_sbuf_init(&b, 0);
    json_voice(&b, &v);
    td_reply_sbuf(r, 200, &b);
}

static void h_voice_audio(td_req *r, json_t *body, const int64_t *ids)
{
    (void)body;
    td_store_voice v;
    uint8_t *amr = NULL, *wav = NULL;
    size_t len = 0, wav_len = 0;
    char err[256];
    const char *format = td_arg(r, "format");
    if (format && *format && strcmp(format, "wav") && strcmp(format, "amr")) {
        td_reply_error(r, 400, "query parameter 'format': '%s' is not wav or amr", format);
        return;
    }
    find_voice(store_of(r), ids[0], &v);
    td_device *d = v.file ? td_gw_device(r->h->srv, v.device_id) : NULL;
    if (!d || !td_device_visible(d, r->who.id, r->who.admin)) {
        free((char *)v.file);
        td_reply_error(r, 404, "voice message %lld not found", (long long)ids[0]);
        return;
    }
    int rc = td_voice_read(td_gw_media_dir(r->h->srv), v.file, TD_VOICE_MAX_BYTES, &amr, &len);
    free((char *)v.file);
    if (rc) {
        td_reply_error(r, rc == TD_ENOTFOUND ? 404 : 500, "voice message %lld: file %s",
                       (long long)ids[0], rc == TD_ENOTFOUND ? "missing" : td_strerror(rc));
        return;
    }
    td_add_header(r, "cache-control", "private, max-age=86400");
    if (format && strcmp(format, "amr") == 0) {
        td_reply(r, 200, "audio/amr", (const char *)amr, len);
    } else if (td_amr_to_wav(amr, len, &wav, &wav_len, err, sizeof(err))) {
        td_reply_error(r, 422, "voice message %lld cannot be decoded: %s", (long long)ids[0], err);
    } else {
        td_reply(r, 200, "audio/wav", (const char *)wav, wav_len);
    }
    free(amr);
    free(wav);
}

/* ---- users -------------------------------------------------------------- */

static int user_item(void *arg, const td_store_user *u)
{
    td_json_user(list_next(arg)->b, u);
    return 0;
}

static void h_users_list(td_req *r, json_t *body, const int64_t *ids)
{
    td_sbuf b;
    struct json_list l = {&b, 0};
    td_store *s = store_of(r);
    (void)body;
    (void)ids;
    td_sbuf_init(&b, LWS_PRE);
    td_sbuf_puts(&b, "[");
    if (s->ops->users(s, user_item, &l)) {
        td_sbuf_free(&b);
        td_reply_error(r, 500, "cannot list users");
        return;
    }
    td_sbuf_puts(&b, "]");
    td_reply_sbuf(r, 200, &b);
}

static void h_users_create(td_req *r, json_t *body, const int64_t *ids)
{
    const char *name, *password;
    int admin;
    td_store_user u;
    td_store *s = store_of(r);
    (void)ids;
    if (!get_str(r, body, "name", true, 63, &name) ||
        !get_str(r, body, "password", true, TD_PASSWORD_MAX, &password) ||
        !get_bool(r, body, "admin", &admin))
        return;
    if (td_username_problem(name)) {
        td_reply_error(r, 400, "%s", td_username_problem(name));
        return;
    }
    if (td_password_problem(password)) {
        td_reply_error(r, 400, "%s", td_password_problem(password));
        return;
    }
    memset(&u, 0, sizeof(u));
    snprintf(u.name, sizeof(u.name), "%s", name);
    u.admin = admin == 1;
    u.created_ms = td_now_ms();
    if (td_password_hash(password, u.hash, sizeof(u.hash))) {
        td_reply_error(r, 500, "cannot hash the password");
        return;
    }
    int rc = s->ops->user_add(s, &u);
    if (rc == TD_EEXISTS) {
        td_reply_error(r, 409, "user '%s' already exists", name);
        return;
    }
    if (rc) {
        td_reply_error(r, 500, "cannot add the user: %s", td_strerror(rc));
        return;
    }
    td_info("http %s: '%s' added user '%s'%s", r->peer, r->who.name, u.name,
            u.admin ? " (admin)" : "");
    td_sbuf b;
    td_sbuf_init(&b, LWS_PRE);
    td_json_user(&b, &u);
    td_reply_sbuf(r, 200, &b);
}

static void h_users_update(td_req *r, json_t *body, const int64_t *ids)
{
    const char *name, *password;
    int admin;
    char hash[160];
    td_store_user u;
    td_store *s = store_of(r);

    if (!r->who.admin && ids[0] != r->who.id) {
        td_reply_error(r, 403, "only admins may change other users");
        return;
    }
    if (!get_str(r, body, "name", false, 63, &name) ||
        !get_str(r, body, "password", false, TD_PASSWORD_MAX, &password) ||
        !get_bool(r, body, "admin", &admin))
        return;
    if (admin >= 0 && !r->who.admin) {
        td_reply_error(r, 403, "only admins may change admin rights");
        return;
    }
    if (admin == 0 && ids[0] == r->who.id) {
        td_reply_error(r, 400, "you cannot remove your own admin rights");
        return;
    }
    if (name && td_username_problem(name)) {
        td_reply_error(r, 400, "%s", td_username_problem(name));
        return;
    }
    if (password && td_password_problem(password)) {
        td_reply_error(r, 400, "%s", td_password_problem(password));
        return;
    }
    if (s->ops->user_get(s, ids[0], NULL, &u)) {
        td_reply_error(r, 404, "user %lld not found", (long long)ids[0]);
        return;
    }
    if (password && td_password_hash(password, hash, sizeof(hash))) {
        td_reply_error(r, 500, "cannot hash the password");
        return;
    }
    int rc = s->ops->user_update(s, ids[0], name, password ? hash : NULL, admin);
    if (rc == TD_EEXISTS) {
        td_reply_error(r, 409, "user '%s' already exists", name);
        return;
    }
    if (rc || s->ops->user_get(s, ids[0], NULL, &u)) {
        td_reply_error(r, 500, "cannot change the user");
        return;
    }
    if (admin >= 0)
        td_gw_alerts_changed(r->h->srv); /* what their rules and channels cover */
    if (password) {
        /* A new password ends the user's other logins (the one that made the
         * change goes on), and their live feeds; API tokens are credentials
         * of their own and stay. */
        const char *keep = ids[0] == r->who.id ? r->who.key : NULL;
        if (s->ops->session_end_user(s, ids[0], "session", keep))
            td_warn("http %s: cannot end the other sessions of user %lld", r->peer,
                    (long long)ids[0]);
        int n = td_http_end_sessions(r->h, ids[0]);
        td_info("http %s: '%s' changed the password of user %lld; their other sessions ended"
                " (%d live clients disconnected)",
                r->peer, r->who.name, (long long)ids[0], n);
    }
    td_sbuf b;
    td_sbuf_init(&b, LWS_PRE);
    td_json_user(&b, &u);
    td_reply_sbuf(r, 200, &b);
}

static void h_users_delete(td_req *r, json_t *body, const int64_t *ids)
{
    td_store *s = store_of(r);
    (void)body;
    if (ids[0] == r->who.id) {
        td_reply_error(r, 400, "you cannot delete yourself");
        return;
    }
    int rc = s->ops->user_delete(s, ids[0]);
    if (rc == TD_ENOTFOUND) {
        td_reply_error(r, 404, "user %lld not found", (long long)ids[0]);
        return;
    }
    if (rc) {
        td_reply_error(r, 500, "cannot delete the user: %s", td_strerror(rc));
        return;
    }
    td_gw_user_deleted(r->h->srv, ids[0]);
    td_http_end_sessions(r->h, ids[0]);
    td_info("http %s: '%s' deleted user %lld", r->peer, r->who.name, (long long)ids[0]);
    reply_no_content(r);
}

/* ---- devices ------------------------------------------------------------ */

static int cmp_device(const void *a, const void *b)
{
    const td_device *x = *(td_device *const *)a, *y = *(td_device *const *)b;
    return (x->st.id > y->st.id) - (x->st.id < y->st.id);
}

struct dev_list {
    td_req *r;
    td_device **v;
    size_t n, cap;
};

static int collect_device(void *arg, td_device *d)
{
    struct dev_list *l = arg;
    if (d->st.id <= 0 || !td_device_visible(d, l->r->who.id, l->r->who.admin))
        return 0;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        td_device **v = realloc(l->v, cap * sizeof(*v));
        if (!v)
            return TD_ENOMEM;
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = d;
    return 0;
}

/* The caller's visible devices, ordered by id; NULL on OOM (replied). */
static bool visible_devices(td_req *r, struct dev_list *l)
{
    memset(l, 0, sizeof(*l));
    l->r = r;
    if (td_gw_each_device(r->h->srv, collect_device, l)) {
        free(l->v);
        td_reply_error(r, 500, "out of memory");
        return false;
    }
    if (l->n)
        qsort(l->v, l->n, sizeof(*l->v), cmp_device);
    return true;
}

static void reply_device(td_req *r, td_device *d, int status)
{
    td_sbuf b;
    td_device_load_latest(r->h, d);
    td_sbuf_init(&b, LWS_PRE);
    td_json_device(&b, d);
    td_reply_sbuf(r, status, &b);
}

static void h_devices_list(td_req *r, json_t *body, const int64_t *ids)
{
    struct dev_list l;
    td_sbuf b;
    (void)body;
    (void)ids;
    if (!visible_devices(r, &l))
        return;
    td_sbuf_init(&b, LWS_PRE);
    td_sbuf_puts(&b, "[");
    for (size_t i = 0; i < l.n; i++) {
        td_device_load_latest(r->h, l.v[i]);
        if (i)
            td_sbuf_puts(&b, ",");
        td_json_device(&b, l.v[i]);
    }
    td_sbuf_puts(&b, "]");
    free(l.v);
    td_reply_sbuf(r, 200, &b);
}

static bool unique_id_ok(td_req *r, const char *uid)
{
    if (!*uid) {
        td_reply_error(r, 400, "field 'uniqueId' must not be empty");
        return false;
    }
    for (const char *p = uid; *p; p++)
        if (!isalnum((unsigned char)*p) && !strchr("-_.:", *p)) {
            td_reply_error(r, 400,
                           "field 'uniqueId': '%s' may hold only letters, digits and - _ . :", uid);
            return false;
        }
    return true;
}

/* Answers an add or change of device d that returned rc. */
static void device_saved(td_req *r, int rc, td_device *d, const char *uid, const char *verb)
{
    if (rc == TD_EEXISTS) {
        td_reply_error(r, 409, "a device with uniqueId '%s' already exists", uid);
    } else if (rc) {
        td_reply_error(r, 500, "cannot %s the device: %s", verb, td_strerror(rc));
    } else {
        td_http_device_changed(r->h, d);
        reply_device(r, d, 200);
    }
}

static void h_devices_create(td_req *r, json_t *body, const int64_t *ids)
{
    const char *uid, *name;
    td_device *d = NULL;
    (void)ids;
    if (!get_str(r, body, "uniqueId", true, TD_DEVICE_ID_MAX - 1, &uid) ||
        !get_str(r, body, "name", false, 63, &name) || !unique_id_ok(r, uid))
        return;
    int rc = td_gw_device_add(r->h->srv, uid, name, r->who.id, &d);
    device_saved(r, rc, d, uid, "add");
}

static void h_devices_get(td_req *r, json_t *body, const int64_t *ids)
{
    (void)body;
    td_device *d = visible_device(r, ids[0]);
    if (d)
        reply_device(r, d, 200);
}

static void h_devices_update(td_req *r, json_t *body, const int64_t *ids)
{
    const char *uid, *name;
    td_device *d = managed_device(r, ids[0]);
    if (!d || !get_str(r, body, "uniqueId", false, TD_DEVICE_ID_MAX - 1, &uid) ||
        !get_str(r, body, "name", false, 63, &name) || (uid && !unique_id_ok(r, uid)))
        return;
    device_saved(r, td_gw_device_update(r->h->srv, d, uid, name), d, uid, "change");
}

static void h_devices_delete(td_req *r, json_t *body, const int64_t *ids)
{
    (void)body;
    td_device *d = managed_device(r, ids[0]);
    if (!d)
        return;
    int rc = td_gw_device_delete(r->h->srv, d);
    if (rc) {
        td_reply_error(r, 500, "cannot delete the device: %s", td_strerror(rc));
        return;
    }
    reply_no_content(r);
}

static void h_devices_share(td_req *r, json_t *body, const int64_t *ids)
{
    int64_t uid;
    bool given;
    td_store_user u;
    td_store *s = store_of(r);
    td_device *d = managed_device(r, ids[0]);
    if (!d || !get_int(r, body, "userId", true, 1, INT64_MAX, &uid, &given))
        return;
    if (s->ops->user_get(s, uid, NULL, &u)) {
        td_reply_error(r, 404, "user %lld not found", (long long)uid);
        return;
    }
    int rc = td_gw_share(r->h->srv, d, uid, true);
    if (rc) {
        td_reply_error(r, 500, "cannot share the device: %s", td_strerror(rc));
        return;
    }
    td_info("http %s: '%s' shared device %s with '%s'", r->peer, r->who.name, d->st.unique_id,
            u.name);
    td_http_device_changed(r->h, d);
    reply_no_content(r);
}

static void h_devices_unshare(td_req *r, json_t *body, const int64_t *ids)
{
    (void)body;
    td_device *d = managed_device(r, ids[0]);
    if (!d)
        return;
    bool was = false;
    for (int i = 0; i < d->nshares; i++)
        was |= d->shares[i] == ids[1];
    if (!was) {
        td_reply_error(r, 404, "device %lld is not shared with user %lld", (long long)ids[0],
                       (long long)ids[1]);
        return;
    }
    int rc = td_gw_share(r->h->srv, d, ids[1], false);
    if (rc) {
        td_reply_error(r, 500, "cannot unshare the device: %s", td_strerror(rc));
        return;
    }
    td_http_device_unshared(r->h, d, ids[1]);
    reply_no_content(r);
}

/* ---- positions and events ----------------------------------------------- */

static int position_item(void *arg, const td_store_position *p)
{
    td_json_position(list_next(arg)->b, p);
    return 0;
}

static void h_positions(td_req *r, json_t *body, const int64_t *ids)
{
    int64_t dev_id, from, to, after;
    int limit;
    td_store *s = store_of(r);
    (void)body;
    (void)ids;
    if (!arg_id(r, "deviceId", true, &dev_id) || !arg_range(r, &from, &to) ||
        !arg_limit(r, &limit) || !arg_after(r, &after))
        return;
    if (!visible_device(r, dev_id))
        return;
    td_sbuf b;
    struct json_list l = {&b, 0};
    td_sbuf_init(&b, LWS_PRE);
    td_sbuf_puts(&b, "[");
    int rc = s->ops->query(s, dev_id, from, to == TIME_MAX ? to : to + 1, after, limit,
                           position_item, &l);
    if (rc) {
        td_sbuf_free(&b);
        td_reply_error(r, 500, "cannot read positions: %s", td_strerror(rc));
        return;
    }
    td_sbuf_puts(&b, "]");
    td_reply_sbuf(r, 200, &b);
}

static void h_positions_latest(td_req *r, json_t *body, const int64_t *ids)
{
    struct dev_list l;
    td_sbuf b;
    int n = 0;
    (void)body;
    (void)ids;
    if (!visible_devices(r, &l))
        return;
    td_sbuf_init(&b, LWS_PRE);
    td_sbuf_puts(&b, "[");
    for (size_t i = 0; i < l.n; i++) {
        td_device_load_latest(r->h, l.v[i]);
        if (!l.v[i]->latest)
            continue;
        if (n++)
            td_sbuf_puts(&b, ",");
        td_sbuf_puts(&b, l.v[i]->latest);
    }
    td_sbuf_puts(&b, "]");
    free(l.v);
    td_reply_sbuf(r, 200, &b);
}

static int event_item(void *arg, const td_store_event *e)
{
    td_json_event(list_next(arg)->b, e);
    return 0;
}

/* Event types trackd produces: the alarm names and the server-side ones. */
static bool known_event_type(const char *t)
{
    for (size_t i = 0; td_event_types[i]; i++)
        if (strcmp(t, td_event_types[i]) == 0)
            return true;
    return false;
}

static void h_events(td_req *r, json_t *body, const int64_t *ids)
{
    td_store_event_filter f;
    td_store *s = store_of(r);
    (void)body;
    (void)ids;
    memset(&f, 0, sizeof(f));
    if (!arg_id(r, "deviceId", false, &f.device_id) || !arg_range(r, &f.from_ms, &f.to_ms) ||
        !arg_limit(r, &f.limit) || !arg_after(r, &f.after))
        return;
    if (f.to_ms != TIME_MAX)
        f.to_ms++; /* 'to' is inclusive */
    if (f.device_id && !visible_device(r, f.device_id))
        return;
    f.type = td_arg(r, "type");
    if (f.type && !*f.type)
        f.type = NULL;
    if (f.type && !known_event_type(f.type)) {
        td_reply_error(r, 400, "query parameter 'type': '%s' is not an event type", f.type);
        return;
    }
    f.state = td_arg(r, "state");
    if (f.state && !*f.state)
        f.state = NULL;
    if (f.state && strcmp(f.state, "new") && strcmp(f.state, "acknowledged") &&
        strcmp(f.state, "closed")) {
        td_reply_error(r, 400, "query parameter 'state' must be new, acknowledged or closed");
        return;
    }
    const char *order = td_arg(r, "order");
    if (order && *order && strcmp(order, "asc") && strcmp(order, "desc")) {
        td_reply_error(r, 400, "query parameter 'order' must be asc or desc");
        return;
    }
    f.desc = order && strcmp(order, "desc") == 0;
    f.user_id = r->who.admin ? 0 : r->who.id;
    td_sbuf b;
    struct json_list l = {&b, 0};
    td_sbuf_init(&b, LWS_PRE);
    td_sbuf_puts(&b, "[");
    int rc = s->ops->events(s, &f, event_item, &l);
    if (rc) {
        td_sbuf_free(&b);
        td_reply_error(r, 500, "cannot read events: %s", td_strerror(rc));
        return;
    }
    td_sbuf_puts(&b, "]");
    td_reply_sbuf(r, 200, &b);
}

static void h_export(td_req *r, json_t *body, const int64_t *ids)
{
    int64_t dev_id, from, to;
    (void)body;
    (void)ids;
    if (!arg_id(r, "deviceId", true, &dev_id) || !arg_range(r, &from, &to))
        return;
    const char *format = td_arg(r, "format");
    if (!format || !*format) {
        td_reply_error(r, 400, "query parameter 'format' is required (gpx, kml or csv)");
        return;
    }
    if (strcmp(format, "gpx") && strcmp(format, "kml") && strcmp(format, "csv")) {
        td_reply_error(r, 400, "query parameter 'format': '%s' is not gpx, kml or csv", format);
        return;
    }
    td_device *d = visible_device(r, dev_id);
    if (d)
        td_export_start(r, d, from, to == TIME_MAX ? to : to + 1, format);
}

static void h_metrics(td_req *r, json_t *body, const int64_t *ids)
{
    (void)body;
    (void)ids;
    if (td_gw_config(r->h->srv)->metrics_auth) {
        if (!td_api_authenticate(r)) {
            td_reply_error(r, 401, "/metrics needs an admin's API token (--metrics-auth)");
            return;
        }
        if (!r->who.admin) {
            td_reply_error(r, 403, "/metrics is for admins (--metrics-auth)");
            return;
        }
    }
    td_metrics(r);
}

/* ---- geofences ---------------------------------------------------------- */

#define GEOFENCE_POINTS_MAX 1000
#define GEOFENCE_RADIUS_MAX 1000000.0 /* metres */

static bool coordinate(td_req *r, json_t *v, double min, double max, const char *what, double *out)
{
    if (!json_is_number(v) || json_number_value(v) < min || json_number_value(v) > max) {
        td_reply_error(r, 400, "%s must be a number from %g to %g", what, min, max);
        return false;
    }
    *out = json_number_value(v);
    return true;
}

/* Validates an area object; returns its normalised JSON (caller frees) or
 * NULL after replying 400. */
static char *parse_area(td_req *r, json_t *area)
{
    const char *key;
    json_t *v;
    if (!json_is_object(area)) {
        td_reply_error(r, 400, "field 'area' must be an object with a 'type' of circle or polygon");
        return NULL;
    }
    const char *type = json_string_value(json_object_get(area, "type"));
    bool circle = type && strcmp(type, "circle") == 0;
    bool polygon = type && strcmp(type, "polygon") == 0;
    if (!circle && !polygon) {
        td_reply_error(r, 400, "area 'type' must be \"circle\" or \"polygon\"");
        return NULL;
    }
    json_object_foreach(area, key, v)
    {
        bool ok = !strcmp(key, "type") ||
                  (circle && (!strcmp(key, "latitude") || !strcmp(key, "longitude") ||
                              !strcmp(key, "radius"))) ||
                  (polygon && !strcmp(key, "coordinates"));
        if (!ok) {
            td_reply_error(r, 400, "unknown area field '%s' for a %s", key, type);
            return NULL;
        }
    }
    json_t *out = json_object();
    json_object_set_new(out, "type", json_string(type));
    if (circle) {
        double lat, lon, radius;
        if (!coordinate(r, json_object_get(area, "latitude"), -90, 90, "area 'latitude'", &lat) ||
            !coordinate(r, json_object_get(area, "longitude"), -180, 180, "area 'longitude'",
                        &lon) ||
            !coordinate(r, json_object_get(area, "radius"), 1, GEOFENCE_RADIUS_MAX,
                        "area 'radius' (metres)", &radius)) {
            json_decref(out);
            return NULL;
        }
        json_object_set_new(out, "latitude", json_real(lat));
        json_object_set_new(out, "longitude", json_real(lon));
        json_object_set_new(out, "radius", json_real(radius));
    } else {
        json_t *pts = json_object_get(area, "coordinates");
        size_t n = json_array_size(pts);
        if (!json_is_array(pts) || n < 3 || n > GEOFENCE_POINTS_MAX) {
            td_reply_error(r, 400,
                           "area 'coordinates' must be an array of 3 to %d [latitude,"
                           " longitude] points",
                           GEOFENCE_POINTS_MAX);
            json_decref(out);
            return NULL;
        }
        json_t *norm = json_array();
        for (size_t i = 0; i < n; i++) {
            json_t *pt = json_array_get(pts, i);
            double lat, lon;
            char what[64];
            snprintf(what, sizeof(what), "area point %zu latitude", i);
            if (!json_is_array(pt) || json_array_size(pt) != 2) {
                td_reply_error(r, 400, "area point %zu must be [latitude, longitude]", i);
                json_decref(norm);
                json_decref(out);
                return NULL;
            }
            bool ok = coordinate(r, json_array_get(pt, 0), -90, 90, what, &lat);
            snprintf(what, sizeof(what), "area point %zu longitude", i);
            if (!ok || !coordinate(r, json_array_get(pt, 1), -180, 180, what, &lon)) {
                json_decref(norm);
                json_decref(out);
                return NULL;
            }
            json_array_append_new(norm, json_pack("[f,f]", lat, lon));
        }
        json_object_set_new(out, "coordinates", norm);
    }
    char *text = json_dumps(out, JSON_COMPACT | JSON_REAL_PRECISION(12));
    json_decref(out);
    if (!text)
        td_reply_error(r, 500, "out of memory");
    return text;
}

/* Validates deviceIds (each visible to the caller); returns the JSON array
 * text, NULL for "all the owner's devices" (absent, null or empty), or
 * sets *bad after replying. */
static char *parse_device_ids(td_req *r, json_t *body, bool *bad)
{
    json_t *ids = json_object_get(body, "deviceIds");
    *bad = false;
    if (!ids || json_is_null(ids) || (json_is_array(ids) && json_array_size(ids) == 0))
        return NULL;
    if (!json_is_array(ids) || json_array_size(ids) > 10000) {
        td_reply_error(r, 400, "field 'deviceIds' must be an array of device ids");
        *bad = true;
        return NULL;
    }
    size_t i;
    json_t *v;
    json_array_foreach(ids, i, v)
    {
        if (!json_is_integer(v) || json_integer_value(v) < 1) {
            td_reply_error(r, 400, "field 'deviceIds': item %zu is not a device id", i);
            *bad = true;
            return NULL;
        }
        if (!visible_device(r, json_integer_value(v))) {
            *bad = true;
            return NULL;
        }
    }
    char *text = json_dumps(ids, JSON_COMPACT);
    if (!text) {
        td_reply_error(r, 500, "out of memory");
        *bad = true;
    }
    return text;
}

static void json_geofence(td_sbuf *b, const td_store_geofence *g)
{
    td_sbuf_printf(b, "{\"id\":%lld,\"name\":", (long long)g->id);
    td_json_str(b, g->name);
    td_sbuf_puts(b, ",\"area\":");
    td_sbuf_puts(b, g->area);
    td_sbuf_puts(b, ",\"deviceIds\":");
    td_sbuf_puts(b, g->device_ids ? g->device_ids : "null");
    td_sbuf_puts(b, ",\"ownerId\":");
    td_json_id(b, g->owner_id);
    td_sbuf_puts(b, "}");
}

struct geofence_list {
    td_req *r;
    td_sbuf *b;
    int n;
};

/* Lists the caller's geofences (an admin's: all). */
static int geofence_item(void *arg, const td_store_geofence *g)
{
    struct geofence_list *l = arg;
    if (!l->r->who.admin && g->owner_id != l->r->who.id)
        return 0;
    if (l->n++)
        td_sbuf_puts(l->b, ",");
    json_geofence(l->b, g);
    return 0;
}

struct geofence_owner {
    int64_t id, owner_id;
    bool found;
};

static int geofence_match(void *arg, const td_store_geofence *g)
{
    struct geofence_owner *o = arg;
    if (g->id != o->id)
        return 0;
    o->found = true;
    o->owner_id = g->owner_id;
    return 1;
}

/* Whether geofence id exists and the caller may change it (else replies
 * 404); *owner gets its owner. */
static bool owned_geofence(td_req *r, int64_t id, int64_t *owner)
{
    struct geofence_owner o = {.id = id};
    td_store *s = store_of(r);
    s->ops->geofences(s, geofence_match, &o);
    if (!o.found || (!r->who.admin && o.owner_id != r->who.id)) {
        td_reply_error(r, 404, "geofence %lld not found", (long long)id);
        return false;
    }
    *owner = o.owner_id;
    return true;
}

/* The answer to an add or replace with store result rc: 404 or 500 on
 * failure (false); on success the rule engine reloads and b is ready for
 * the saved item's JSON (true). */
static bool saved(td_req *r, int rc, const char *what, td_sbuf *b)
{
    if (rc) {
        td_reply_error(r, rc == TD_ENOTFOUND ? 404 : 500, "cannot save the %s: %s", what,
                       td_strerror(rc));
        return false;
    }
    td_gw_alerts_changed(r->h->srv);
    td_sbuf_init(b, LWS_PRE);
    return true;
}

static void h_geofences_list(td_req *r, json_t *body, const int64_t *ids)
{
    td_sbuf b;
    struct geofence_list f = {.r = r, .b = &b, .n = 0};
    td_store *s = store_of(r);
    (void)body;
    (void)ids;
    td_sbuf_init(&b, LWS_PRE);
    td_sbuf_puts(&b, "[");
    if (s->ops->geofences(s, geofence_item, &f)) {
        td_sbuf_free(&b);
        td_reply_error(r, 500, "cannot list geofences");
        return;
    }
    td_sbuf_puts(&b, "]");
    td_reply_sbuf(r, 200, &b);
}

/* POST (ids NULL) and PUT share the validation. */
static void geofence_save(td_req *r, json_t *body, int64_t id)
{
    const char *name;
    bool bad;
    td_store *s = store_of(r);
    td_store_geofence g = {.id = id, .owner_id = r->who.id, .created_ms = td_now_ms()};

    if (id && !owned_geofence(r, id, &g.owner_id))
        return;
    if (!get_str(r, body, "name", true, 63, &name))
        return;
    if (!*name) {
        td_reply_error(r, 400, "field 'name' must not be empty");
        return;
    }
    if (!json_object_get(body, "area")) {
        td_reply_error(r, 400, "field 'area' is required");
        return;
    }
    char *area = parse_area(r, json_object_get(body, "area"));
    if (!area)
        return;
    char *devices = parse_device_ids(r, body, &bad);
    if (bad) {
        free(area);
        return;
    }
    g.name = name;
    g.area = area;
    g.device_ids = devices;
    td_sbuf b;
    if (saved(r, s->ops->geofence_put(s, &g), "geofence", &b)) {
        json_geofence(&b, &g);
        td_reply_sbuf(r, 200, &b);
    }
    free(area);
    free(devices);
}

static void h_geofences_create(td_req *r, json_t *body, const int64_t *ids)
{
    (void)ids;
    geofence_save(r, body, 0);
}

static void h_geofences_update(td_req *r, json_t *body, const int64_t *ids)
{
    geofence_save(r, body, ids[0]);
}

static void h_geofences_delete(td_req *r, json_t *body, const int64_t *ids)
{
    td_store *s = store_of(r);
    int64_t owner;
    (void)body;
    if (!owned_geofence(r, ids[0], &owner))
        return;
    if (s->ops->geofence_delete(s, ids[0])) {
        td_reply_error(r, 500, "cannot delete the geofence");
        return;
    }
    td_gw_alerts_changed(r->h->srv);
    reply_no_content(r);
}

/* ---- event handling ----------------------------------------------------- */

/* Whether event id exists on a device the caller may see (else 404); with
 * b, writes the event there. */
static bool visible_event(td_req *r, int64_t id, td_sbuf *b)
{
    if (td_event_json(store_of(r), id, r->who.admin ? 0 : r->who.id, b, NULL))
        return true;
    td_reply_error(r, 404, "event %lld not found", (long long)id);
    return false;
}

/* POST /api/events/{id}/ack and /close: new -> acknowledged -> closed. */
static void event_handle(td_req *r, json_t *body, int64_t id, bool close)
{
    td_store *s = store_of(r);
    const char *note = NULL;
    if (!get_str(r, body, "note", false, 1000, &note) || !visible_event(r, id, NULL))
        return;
    int rc = s->ops->event_ack(s, id, r->who.id, r->who.name, note && *note ? note : NULL, close,
                               td_now_ms());
    if (rc == TD_EEXISTS) {
        td_reply_error(r, 409, "event %lld is already %s", (long long)id,
                       close ? "closed" : "acknowledged");
        return;
    }
    if (rc) {
        td_reply_error(r, 500, "cannot update the event: %s", td_strerror(rc));
        return;
    }
    td_info("event %lld %s by %s", (long long)id, close ? "closed" : "acknowledged", r->who.name);
    td_http_event_changed(r->h, id, false);
    td_sbuf b;
    td_sbuf_init(&b, LWS_PRE);
    if (visible_event(r, id, &b))
        td_reply_sbuf(r, 200, &b);
    else
        td_sbuf_free(&b);
}

static void h_events_ack(td_req *r, json_t *body, const int64_t *ids)
{
    event_handle(r, body, ids[0], false);
}

static void h_events_close(td_req *r, json_t *body, const int64_t *ids)
{
    event_handle(r, body, ids[0], true);
}

/* ---- rules -------------------------------------------------------------- */

static void json_rule(td_sbuf *b, const td_store_rule *ru)
{
    td_sbuf_printf(b, "{\"id\":%lld,\"type\":", (long long)ru->id);
    td_json_str(b, ru->type);
    td_sbuf_puts(b, ",\"deviceIds\":");
    td_sbuf_puts(b, ru->device_ids ? ru->device_ids : "null");
    td_sbuf_puts(b, ",\"attributes\":");
    td_sbuf_puts(b, ru->attributes ? ru->attributes : "{}");
    td_sbuf_puts(b, ",\"ownerId\":");
    td_json_id(b, ru->owner_id);
    td_sbuf_puts(b, ",\"created\":");
    td_json_time(b, ru->created_ms);
    td_sbuf_puts(b, "}");
}

/* A list of the caller's rules or channels (an admin's: all); by id when
 * id > 0 (found tells whether it exists and is the caller's). */
struct owned_list {
    td_req *r;
    td_sbuf *b;
    int n;
    int64_t id;
    bool found;
    int64_t owner;
};

static bool owned_by_caller(struct owned_list *l, int64_t id, int64_t owner)
{
    if (!l->r->who.admin && owner != l->r->who.id)
        return false;
    if (l->id && id != l->id)
        return false;
    l->found = true;
    l->owner = owner;
    if (l->b && l->n++)
        td_sbuf_puts(l->b, ",");
    return true;
}

static int rule_item(void *arg, const td_store_rule *ru)
{
    struct owned_list *l = arg;
    if (owned_by_caller(l, ru->id, ru->owner_id) && l->b)
        json_rule(l->b, ru);
    return 0;
}

/* Runs a store listing (rules or notification channels) through l. */
typedef int (*owned_each)(td_store *s, struct owned_list *l);

static int each_rule(td_store *s, struct owned_list *l)
{
    return s->ops->rules(s, rule_item, l);
}

/* Whether item id of the listing exists and is the caller's (else 404);
 * *owner gets its owner. */
static bool owned_item(td_req *r, owned_each each, int64_t id, const char *what, int64_t *owner)
{
    struct owned_list l = {.r = r, .id = id};
    each(store_of(r), &l);
    if (!l.found)
        td_reply_error(r, 404, "%s %lld not found", what, (long long)id);
    *owner = l.owner;
    return l.found;
}

/* GET: the caller's items of a listing as a JSON array. */
static void reply_owned_list(td_req *r, owned_each each, const char *what)
{
    td_sbuf b;
    struct owned_list l = {.r = r, .b = &b};
    td_sbuf_init(&b, LWS_PRE);
    td_sbuf_puts(&b, "[");
    if (each(store_of(r), &l)) {
        td_sbuf_free(&b);
        td_reply_error(r, 500, "cannot list %ss", what);
        return;
    }
    td_sbuf_puts(&b, "]");
    td_reply_sbuf(r, 200, &b);
}

/* DELETE: removes one of the caller's items; the rules reload. */
static void delete_owned(td_req *r, owned_each each, int (*del)(td_store *, int64_t), int64_t id,
                         const char *what)
{
    int64_t owner;
    if (!owned_item(r, each, id, what, &owner))
        return;
    if (del(store_of(r), id)) {
        td_reply_error(r, 500, "cannot delete the %s", what);
        return;
    }
    td_gw_alerts_changed(r->h->srv);
    reply_no_content(r);
}

static void h_rules_list(td_req *r, json_t *body, const int64_t *ids)
{
    (void)body;
    (void)ids;
    reply_owned_list(r, each_rule, "rule");
}

static void rule_save(td_req *r, json_t *body, int64_t id)
{
    const char *type;
    char err[160];
    bool bad;
    int64_t owner;
    td_store *s = store_of(r);
    td_store_rule ru = {.id = id, .owner_id = r->who.id, .created_ms = td_now_ms()};

    if (id && !owned_item(r, each_rule, id, "rule", &ru.owner_id))
        return;
    if (!get_str(r, body, "type", true, 32, &type))
        return;
    json_t *attrs = json_object_get(body, "attributes");
    if (attrs && !json_is_object(attrs) && !json_is_null(attrs)) {
        td_reply_error(r, 400, "field 'attributes' must be an object");
        return;
    }
    json_t *empty = json_object();
    if (!attrs || json_is_null(attrs))
        attrs = empty;
    if (td_rule_check(type, attrs, err, sizeof(err))) {
        json_decref(empty);
        td_reply_error(r, 400, "%s", err);
        return;
    }
    json_t *fence = json_object_get(attrs, "geofenceId");
    if (fence && !owned_geofence(r, json_integer_value(fence), &owner)) {
        json_decref(empty);
        return;
    }
    char *devices = parse_device_ids(r, body, &bad);
    char *text = bad ? NULL : json_dumps(attrs, JSON_COMPACT | JSON_REAL_PRECISION(15));
    json_decref(empty);
    if (bad || !text) {
        if (!bad)
            td_reply_error(r, 500, "out of memory");
        free(devices);
        return;
    }
    ru.type = type;
    ru.attributes = text;
    ru.device_ids = devices;
    td_sbuf b;
    if (saved(r, s->ops->rule_put(s, &ru), "rule", &b)) {
        json_rule(&b, &ru);
        td_reply_sbuf(r, 200, &b);
    }
    free(text);
    free(devices);
}

static void h_rules_create(td_req *r, json_t *body, const int64_t *ids)
{
    (void)ids;
    rule_save(r, body, 0);
}

static void h_rules_update(td_req *r, json_t *body, const int64_t *ids)
{
    rule_save(r, body, ids[0]);
}

static void h_rules_delete(td_req *r, json_t *body, const int64_t *ids)
{
    (void)body;
    delete_owned(r, each_rule, store_of(r)->ops->rule_delete, ids[0], "rule");
}

/* ---- notification channels ---------------------------------------------- */

static void json_notification(td_sbuf *b, const td_store_notification *n)
{
    td_sbuf_printf(b, "{\"id\":%lld,\"userId\":%lld,\"channel\":", (long long)n->id,
                   (long long)n->user_id);
    td_json_str(b, n->channel);
    td_sbuf_puts(b, ",\"target\":");
    td_json_str(b, n->target ? n->target : "");
    td_sbuf_puts(b, ",\"eventTypes\":");
    td_sbuf_puts(b, n->event_types ? n->event_types : "null");
    td_sbuf_puts(b, ",\"deviceIds\":");
    td_sbuf_puts(b, n->device_ids ? n->device_ids : "null");
    td_sbuf_puts(b, ",\"created\":");
    td_json_time(b, n->created_ms);
    td_sbuf_puts(b, "}");
}

static int notification_item(void *arg, const td_store_notification *n)
{
    struct owned_list *l = arg;
    if (owned_by_caller(l, n->id, n->user_id) && l->b)
        json_notification(l->b, n);
    return 0;
}

static int each_notification(td_store *s, struct owned_list *l)
{
    return s->ops->notifications(s, notification_item, l);
}

static void h_notifications_list(td_req *r, json_t *body, const int64_t *ids)
{
    (void)body;
    (void)ids;
    reply_owned_list(r, each_notification, "notification");
}

/* Checks a channel's target; replies 400 and returns false when unusable. */
static bool check_target(td_req *r, const char *channel, const char *target)
{
    const td_config *cfg = td_gw_config(r->h->srv);
    for (const char *p = target; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f) {
            td_reply_error(r, 400, "field 'target' must not contain control characters");
            return false;
        }
    if (strcmp(channel, "webhook") == 0) {
        if (strncmp(target, "http://", 7) != 0 && strncmp(target, "https://", 8) != 0) {
            td_reply_error(r, 400, "a webhook target must be an http:// or https:// URL");
            return false;
        }
        /* A name is checked when it is delivered to, on the address it
         * resolves to then; an address can be refused at once. */
        char ip[64];
        if (!r->who.admin && !cfg->webhook_allow_local &&
            td_url_ip_literal(target, ip, sizeof(ip)) && td_ip_local(ip)) {
            td_reply_error(r, 400,
                           "a webhook target on a local network (%s) is for admins' channels"
                           " only, unless the server runs with --webhook-allow-local",
                           ip);
            return false;
        }
    } else if (strcmp(channel, "email") == 0) {
        const char *at = strchr(target, '@');
        if (!at || at == target || !at[1] || strchr(target, ' ') || strchr(at + 1, '@') ||
            strpbrk(target, "<>,;")) {
            td_reply_error(r, 400, "an email target must be one address, like name@example.com");
            return false;
        }
        if (!cfg->smtp_url[0]) {
            td_reply_error(r, 400, "e-mail notifications are off: the server has no --smtp-url");
            return false;
        }
    } else if (strcmp(channel, "mqtt") == 0) {
        if (strpbrk(target, "#+")) {
            td_reply_error(r, 400, "an MQTT topic must not contain the wildcards # or +");
            return false;
        }
        if (!cfg->mqtt_url[0]) {
            td_reply_error(r, 400, "MQTT notifications are off: the server has no --mqtt-url");
            return false;
        }
    } else {
        td_reply_error(r, 400, "field 'channel' must be webhook, email or mqtt");
        return false;
    }
    return true;
}

/* The eventTypes field: NULL (all types) or a JSON array text of known
 * types; *bad on a reply. */
static char *parse_event_types(td_req *r, json_t *body, bool *bad)
{
    json_t *types = json_object_get(body, "eventTypes");
    *bad = false;
    if (!types || json_is_null(types) || (json_is_array(types) && !json_array_size(types)))
        return NULL;
    if (!json_is_array(types) || json_array_size(types) > 64) {
        td_reply_error(r, 400, "field 'eventTypes' must be an array of event types");
        *bad = true;
        return NULL;
    }
    size_t i;
    json_t *v;
    json_array_foreach(types, i, v)
    {
        if (!json_is_string(v) || !known_event_type(json_string_value(v))) {
            td_reply_error(r, 400, "field 'eventTypes': item %zu is not an event type", i);
            *bad = true;
            return NULL;
        }
    }
    char *text = json_dumps(types, JSON_COMPACT);
    if (!text) {
        td_reply_error(r, 500, "out of memory");
        *bad = true;
    }
    return text;
}

static void notification_save(td_req *r, json_t *body, int64_t id)
{
    const char *channel, *target;
    bool bad;
    td_store *s = store_of(r);
    td_store_notification n = {.id = id, .user_id = r->who.id, .created_ms = td_now_ms()};

    if (id && !owned_item(r, each_notification, id, "notification", &n.user_id))
        return;
    if (!get_str(r, body, "channel", true, 16, &channel) ||
        !get_str(r, body, "target", false, 500, &target))
        return;
    if (!target)
        target = "";
    if (!*target && strcmp(channel, "mqtt") != 0) {
        td_reply_error(r, 400, "field 'target' is required for the %s channel", channel);
        return;
    }
    if (!check_target(r, channel, target))
        return;
    char *types = parse_event_types(r, body, &bad);
    if (bad)
        return;
    char *devices = parse_device_ids(r, body, &bad);
    if (bad) {
        free(types);
        return;
    }
    n.channel = channel;
    n.target = target;
    n.event_types = types;
    n.device_ids = devices;
    td_sbuf b;
    if (saved(r, s->ops->notification_put(s, &n), "notification", &b)) {
        json_notification(&b, &n);
        td_reply_sbuf(r, 200, &b);
    }
    free(types);
    free(devices);
}

static void h_notifications_create(td_req *r, json_t *body, const int64_t *ids)
{
    (void)ids;
    notification_save(r, body, 0);
}

static void h_notifications_update(td_req *r, json_t *body, const int64_t *ids)
{
    notification_save(r, body, ids[0]);
}

static void h_notifications_delete(td_req *r, json_t *body, const int64_t *ids)
{
    (void)body;
    delete_owned(r, each_notification, store_of(r)->ops->notification_delete, ids[0],
                 "notification");
}

/* ---- the table ---------------------------------------------------------- */

static const td_route routes[] = {
    {M_GET, "/api/server", ACCESS_ANYONE, h_server, NULL},
    {M_GET, "/api/openapi.json", ACCESS_ANYONE, h_openapi, NULL},
    {M_POST, "/api/session", ACCESS_ANYONE, h_session_create, "user,password"},
    {M_GET, "/api/session", ACCESS_USER, h_session_get, NULL},
    {M_DELETE, "/api/session", ACCESS_USER, h_session_delete, NULL},
    {M_POST, "/api/tokens", ACCESS_USER, h_tokens_create, "expiresDays"},
    {M_GET, "/api/tokens", ACCESS_USER, h_tokens_list, NULL},
    {M_DELETE, "/api/tokens/{id}", ACCESS_USER, h_tokens_delete, NULL},
    {M_GET, "/api/users", ACCESS_ADMIN, h_users_list, NULL},
    {M_POST, "/api/users", ACCESS_ADMIN, h_users_create, "name,password,admin"},
    {M_PUT, "/api/users/{id}", ACCESS_USER, h_users_update, "name,password,admin"},
    {M_DELETE, "/api/users/{id}", ACCESS_ADMIN, h_users_delete, NULL},
    {M_GET, "/api/devices", ACCESS_USER, h_devices_list, NULL},
    {M_POST, "/api/devices", ACCESS_USER, h_devices_create, "uniqueId,name"},
    {M_GET, "/api/devices/{id}", ACCESS_USER, h_devices_get, NULL},
    {M_PUT, "/api/devices/{id}", ACCESS_USER, h_devices_update, "uniqueId,name"},
    {M_DELETE, "/api/devices/{id}", ACCESS_USER, h_devices_delete, NULL},
    {M_POST, "/api/devices/{id}/share", ACCESS_USER, h_devices_share, "userId"},
    {M_DELETE, "/api/devices/{id}/share/{userId}", ACCESS_USER, h_devices_unshare, NULL},
    {M_GET, "/api/devices/{id}/commands/types", ACCESS_USER, h_command_types, NULL},
    {M_GET, "/api/positions", ACCESS_USER, h_positions, NULL},
    {M_GET, "/api/positions/latest", ACCESS_USER, h_positions_latest, NULL},
    {M_GET, "/api/events", ACCESS_USER, h_events, NULL},
    {M_POST, "/api/events/{id}/ack", ACCESS_USER, h_events_ack, "note"},
    {M_POST, "/api/events/{id}/close", ACCESS_USER, h_events_close, "note"},
    {M_GET, "/api/commands", ACCESS_USER, h_commands_list, NULL},
    {M_POST, "/api/commands", ACCESS_USER, h_commands_create, "deviceId,type,attributes"},
    {M_GET, "/api/voice", ACCESS_USER, h_voice_list, NULL},
    {M_POST, "/api/voice", ACCESS_USER, h_voice_upload, NULL},
    {M_GET, "/api/voice/{id}/audio", ACCESS_USER, h_voice_audio, NULL},
    {M_GET, "/api/geofences", ACCESS_USER, h_geofences_list, NULL},
    {M_POST, "/api/geofences", ACCESS_USER, h_geofences_create, "name,area,deviceIds"},
    {M_PUT, "/api/geofences/{id}", ACCESS_USER, h_geofences_update, "name,area,deviceIds"},
    {M_DELETE, "/api/geofences/{id}", ACCESS_USER, h_geofences_delete, NULL},
    {M_GET, "/api/rules", ACCESS_USER, h_rules_list, NULL},
    {M_POST, "/api/rules", ACCESS_USER, h_rules_create, "type,deviceIds,attributes"},
    {M_PUT, "/api/rules/{id}", ACCESS_USER, h_rules_update, "type,deviceIds,attributes"},
    {M_DELETE, "/api/rules/{id}", ACCESS_USER, h_rules_delete, NULL},
    {M_GET, "/api/notifications", ACCESS_USER, h_notifications_list, NULL},
    {M_POST, "/api/notifications", ACCESS_USER, h_notifications_create,
     "channel,target,eventTypes,deviceIds"},
    {M_PUT, "/api/notifications/{id}", ACCESS_USER, h_notifications_update,
     "channel,target,eventTypes,deviceIds"},
    {M_DELETE, "/api/notifications/{id}", ACCESS_USER, h_notifications_delete, NULL},
    {M_GET, "/api/export", ACCESS_USER, h_export, NULL},
    {M_GET, "/api/socket", ACCESS_USER, h_socket_plain, NULL},
    {M_GET, "/metrics", ACCESS_ANYONE, h_metrics, NULL},
};

#define NROUTES (sizeof(routes) / sizeof(routes[0]))

const td_route *td_route_at(size_t i)
{
    return i < NROUTES ? &routes[i] : NULL;
}

const char *td_route_method(const td_route *rt)
{
    static const char *const names[] = {"other", "get", "post", "put", "delete"};
    return names[rt->method];
}

const char *td_route_pattern(const td_route *rt)
{
    return rt->pattern;
}

/*
 * Matches path against pattern segment by segment; {name} segments take
 * positive ids into ids[]. Returns 1 on a match, 0 on none, and -1 when
 * every literal segment matches but an id segment is not a valid id (that
 * segment in *bad).
 */
static int match(const char *pattern, const char *path, int64_t *ids, int *nids, const char **bad)
{
    *nids = 0;
    *bad = NULL;
    while (*pattern == '/' && *path == '/') {
        pattern++;
        path++;
        size_t pl = strcspn(pattern, "/"), sl = strcspn(path, "/");
        if (*pattern == '{') {
            char seg[32];
            if (sl > 0 && sl < sizeof(seg) && *nids < 4) {
                memcpy(seg, path, sl);
                seg[sl] = '\0';
                if (parse_id(seg, &ids[*nids])) {
                    (*nids)++;
                    goto next;
                }
            }
            if (!*bad)
                *bad = path;
        } else if (pl != sl || strncmp(pattern, path, pl) != 0) {
            return 0;
        }
    next:
        pattern += pl;
        path += sl;
    }
    if (*pattern || *path)
        return 0;
    return *bad ? -1 : 1;
}

/* Checks a body against the route's allowed fields. */
static bool check_body(td_req *r, const td_route *rt, json_t **out)
{
    json_error_t jerr;
    *out = NULL;
    if (!rt->fields) {
        return true; /* any body is ignored */
    }
    if (r->body.len == 0) {
        *out = json_object();
        return true;
    }
    json_t *j =
        json_loadb(r->body.data, r->body.len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
    if (!j) {
        td_reply_error(r, 400, "invalid JSON at line %d column %d: %s", jerr.line, jerr.column,
                       jerr.text);
        return false;
    }
    if (!json_is_object(j)) {
        json_decref(j);
        td_reply_error(r, 400, "the request body must be a JSON object");
        return false;
    }
    const char *key;
    json_t *v;
    json_object_foreach(j, key, v)
    {
        size_t n = strlen(key);
        const char *f = rt->fields;
        bool ok = false;
        while (*f && !ok) {
            size_t fl = strcspn(f, ",");
            ok = fl == n && strncmp(f, key, n) == 0;
            f += fl + (f[fl] == ',');
        }
        if (!ok) {
            td_reply_error(r, 400, "unknown field '%s'%s%s%s", key,
                           *rt->fields ? " (allowed: " : "", rt->fields, *rt->fields ? ")" : "");
            json_decref(j);
            return false;
        }
    }
    *out = j;
    return true;
}

void td_api_dispatch(td_req *r)
{
    const td_route *hit = NULL;
    bool path_known = false;
    int64_t ids[4];
    int nids = 0;
    char allow[64] = "";

    /* Paths end without a slash; "/api/devices/" is "/api/devices". */
    size_t n = strlen(r->path);
    if (n > 1 && r->path[n - 1] == '/')
        r->path[n - 1] = '\0';

    char bad_seg[64] = "";
    for (size_t i = 0; i < NROUTES; i++) {
        const char *bad = NULL;
        int m = match(routes[i].pattern, r->path, ids, &nids, &bad);
        if (m < 0 && !bad_seg[0])
            snprintf(bad_seg, sizeof(bad_seg), "%.*s", (int)strcspn(bad, "/"), bad);
        if (m <= 0)
            continue;
        path_known = true;
        size_t al = strlen(allow);
        snprintf(allow + al, sizeof(allow) - al, "%s%s", al ? ", " : "",
                 td_route_method(&routes[i]));
        if (routes[i].method == r->method) {
            hit = &routes[i];
            break;
        }
    }
    if (!hit) {
        if (path_known) {
            for (char *p = allow; *p; p++)
                *p = (char)toupper((unsigned char)*p);
            td_add_header(r, "allow", allow);
            td_reply_error(r, 405, "method not allowed on %s (allowed: %s)", r->path, allow);
        } else if (bad_seg[0]) {
            td_reply_error(r, 400, "'%s' is not a valid id", bad_seg);
        } else {
            td_reply_error(r, 404, "no such endpoint: %s", r->path);
        }
        return;
    }
    if (hit->access != ACCESS_ANYONE && !td_api_authenticate(r)) {
        td_reply_error(r, 401, "not logged in: POST /api/session or send a bearer token");
        return;
    }
    if (hit->access == ACCESS_ADMIN && !r->who.admin) {
        td_reply_error(r, 403, "only admins may do this");
        return;
    }
    json_t *body;
    if (!check_body(r, hit, &body))
        return;
    hit->fn(r, body, ids);
    json_decref(body);
}
