/*
 * libwebsockets on the gateway's libuv loop: one vhost on --http-port, one
 * protocol handling every HTTP request (API, /metrics, static web UI) and
 * the live WebSocket at /api/socket.
 *
 * Request life: LWS_CALLBACK_HTTP parses the method, path and query; a
 * request with a body collects it (bounded by body_limit(): 64 KiB of JSON,
 * a voice upload up to TD_VOICE_MAX_BYTES) until BODY_COMPLETION; the route
 * handler then sets a response (td_reply*), whose headers and body are
 * written from HTTP_WRITEABLE callbacks, one write per callback. Streamed
 * bodies (exports) have no content-length and end by closing the
 * connection.
 *
 * Limits (each counted in /metrics, logged through rate-limited lines):
 * connections at once (--http-max-connections: more are closed as they are
 * accepted), request line and headers (--http-header-max: lws closes the
 * connection), bodies (413 before the body is read), live-feed clients
 * (--ws-max-clients: 503).
 */
#include "http/internal.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/log.h"
#include "core/text.h"
#include "core/voice.h"
#include "trackd/error.h"

static td_log_limit log_http_limit = {.what = "HTTP requests over a limit"};
static td_log_limit log_http_conns = {.what = "HTTP connections refused"};
static td_log_limit log_lws = {.what = "libwebsockets messages"};

/* ---- responses ---------------------------------------------------------- */

void td_add_header(td_req *r, const char *name, const char *value)
{
    size_t n = strlen(r->extra);
    snprintf(r->extra + n, sizeof(r->extra) - n, "%s: %s\r\n", name, value);
}

static void respond(td_req *r)
{
    r->responding = true;
    td_req_wake(r);
}

void td_req_wake(td_req *r)
{
    if (r->wsi)
        lws_callback_on_writable(r->wsi);
}

void td_reply(td_req *r, int status, const char *ctype, const char *body, size_t len)
{
    r->status = status;
    r->ctype = ctype;
    td_sbuf_reset(&r->out);
    if (len)
        td_sbuf_add(&r->out, body, len);
    respond(r);
}

void td_reply_sbuf(td_req *r, int status, td_sbuf *b)
{
    if (b->oom) {
        td_sbuf_free(b);
        td_reply_error(r, 500, "out of memory");
        return;
    }
    td_sbuf_free(&r->out);
    r->out = *b;
    td_sbuf_init(b, LWS_PRE);
    r->status = status;
    r->ctype = "application/json";
    respond(r);
}

void td_reply_error(td_req *r, int status, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    td_sbuf b;
    td_sbuf_init(&b, LWS_PRE);
    td_sbuf_puts(&b, "{\"error\":");
    td_json_str(&b, msg);
    td_sbuf_puts(&b, "}");
    if (status >= 500)
        td_warn("http %s %s: %d %s", r->peer, r->path, status, msg);
    else
        td_debug("http %s %s: %d %s", r->peer, r->path, status, msg);
    td_reply_sbuf(r, status, &b);
}

void td_reply_stream(td_req *r, const char *ctype, const char *filename, td_stream_fn fn,
                     void *state, void (*state_free)(void *))
{
    char disp[160];
    r->status = 200;
    r->ctype = ctype;
    r->stream = fn;
    r->stream_state = state;
    r->stream_free = state_free;
    if (filename) {
        snprintf(disp, sizeof(disp), "attachment; filename=\"%s\"", filename);
        td_add_header(r, "content-disposition", disp);
    }
    respond(r);
}

const char *td_arg(const td_req *r, const char *name)
{
    size_t n = strlen(name);
    for (int i = 0; i < r->nargs; i++)
        if (strncmp(r->args[i], name, n) == 0 && r->args[i][n] == '=')
            return r->args[i] + n + 1;
    return NULL;
}

/* Frees the state of the current transaction (keep-alive reuses r). */
static void req_reset(td_req *r)
{
    if (r->job) {
        /* The job finishes on its own and finds no request to answer. */
        *(td_req **)r->job = NULL;
        r->job = NULL;
    }
    if (r->stream_free && r->stream_state)
        r->stream_free(r->stream_state);
    td_sbuf_free(&r->body);
    td_sbuf_free(&r->out);
    td_http *h = r->h;
    struct lws *wsi = r->wsi;
    memset(r, 0, sizeof(*r));
    r->h = h;
    r->wsi = wsi;
    td_sbuf_init(&r->body, 0);
    td_sbuf_init(&r->out, LWS_PRE);
}

/* A new transaction (or WebSocket handshake) on the connection's r; lws
 * hands a zeroed r to a new connection, which req_reset takes as empty. */
static void req_begin(td_req *r, td_http *h, struct lws *wsi)
{
    r->h = h;
    r->wsi = wsi;
    req_reset(r);
}

/* The connection is gone: frees everything r holds. */
static void req_free(td_req *r)
{
    req_reset(r);
    td_sbuf_free(&r->out);
    td_sbuf_free(&r->body);
    r->wsi = NULL;
}

/* Writes the headers (first call) or the next body piece. Returns -1 to
 * close the connection. */
static int write_response(td_req *r)
{
    struct lws *wsi = r->wsi;

    if (!r->headers_sent) {
        uint8_t buf[LWS_PRE + 2048], *start = buf + LWS_PRE, *p = start, *end = buf + sizeof(buf);
        lws_filepos_t len = r->stream ? LWS_ILLEGAL_HTTP_CONTENT_LEN : (lws_filepos_t)r->out.len;
        if (lws_add_http_common_headers(wsi, (unsigned)r->status, r->ctype, len, &p, end))
            return -1;
        /* extra lines "name: value\r\n" */
        for (char *line = r->extra; *line;) {
            char *colon = strchr(line, ':'), *eol = strstr(line, "\r\n");
            if (!colon || !eol)
                break;
            char name[64];
            size_t nlen = (size_t)(colon - line) + 1;
            if (nlen >= sizeof(name))
                break;
            memcpy(name, line, nlen);
            name[nlen] = '\0';
            const char *v = colon + 2;
            if (lws_add_http_header_by_name(wsi, (const uint8_t *)name, (const uint8_t *)v,
                                            (int)(eol - v), &p, end))
                return -1;
            line = eol + 2;
        }
        static const char nosniff[] = "nosniff";
        if (lws_add_http_header_by_name(wsi, (const uint8_t *)"x-content-type-options:",
                                        (const uint8_t *)nosniff, sizeof(nosniff) - 1, &p, end) ||
            lws_add_http_header_by_name(
                wsi, (const uint8_t *)"cache-control:", (const uint8_t *)"no-store", 8, &p, end))
            return -1;
        if (lws_finalize_write_http_header(wsi, start, &p, end))
            return -1;
        r->headers_sent = true;
        if (!r->stream && r->out.len == 0) {
            r->done = true;
            return r->close_after || lws_http_transaction_completed(wsi) ? -1 : 0;
        }
        lws_callback_on_writable(wsi);
        return 0;
    }

    if (r->stream && r->out_sent >= r->out.len) {
        /* Refill from the generator. */
        td_sbuf_reset(&r->out);
        r->out_sent = 0;
        int more = r->stream(r, &r->out);
        if (more < 0 || r->out.oom) {
            td_warn("http %s %s: stream failed; closing", r->peer, r->path);
            return -1;
        }
        if (!more)
            r->stream = NULL; /* the last piece is in out */
    }
    size_t left = r->out.len - r->out_sent;
    size_t n = left > TD_HTTP_CHUNK ? TD_HTTP_CHUNK : left;
    bool last = !r->stream && n == left;
    /* lws needs LWS_PRE writable bytes before the data it sends. */
    uint8_t chunk[LWS_PRE + TD_HTTP_CHUNK];
    memcpy(chunk + LWS_PRE, td_sbuf_text(&r->out) + r->out_sent, n);
    if (lws_write(wsi, chunk + LWS_PRE, n, last ? LWS_WRITE_HTTP_FINAL : LWS_WRITE_HTTP) != (int)n)
        return -1;
    r->out_sent += n;
    if (last) {
        r->done = true;
        return r->close_after || lws_http_transaction_completed(wsi) ? -1 : 0;
    }
    lws_callback_on_writable(wsi);
    return 0;
}

/* ---- static files ------------------------------------------------------- */

static const char *mime_type(const char *path)
{
    static const struct {
        const char *ext, *type;
    } types[] = {
        {".html", "text/html; charset=utf-8"},
        {".js", "text/javascript; charset=utf-8"},
        {".mjs", "text/javascript; charset=utf-8"},
        {".css", "text/css; charset=utf-8"},
        {".json", "application/json"},
        {".map", "application/json"},
        {".svg", "image/svg+xml"},
        {".png", "image/png"},
        {".ico", "image/x-icon"},
        {".woff2", "font/woff2"},
        {".wav", "audio/wav"},
        {".txt", "text/plain; charset=utf-8"},
    };
    const char *dot = strrchr(path, '.');
    for (size_t i = 0; dot && i < sizeof(types) / sizeof(types[0]); i++)
        if (strcmp(dot, types[i].ext) == 0)
            return types[i].type;
    return "application/octet-stream";
}

/* Serves a file of the web UI. Returns the lws_serve_http_file verdict. */
static int serve_static(td_req *r)
{
    char file[1024];
    struct stat st;
    const char *root = r->h->cfg->web_root;
    const char *path = strcmp(r->path, "/") == 0 ? "/index.html" : r->path;

    if (r->method != M_GET) {
        td_reply_error(r, 405, "only GET is allowed here");
        return 0;
    }
    if (strstr(path, "..") || strchr(path, '\\') || !root[0]) {
        td_reply_error(r, 404, "no such page: %s", r->path);
        return 0;
    }
    snprintf(file, sizeof(file), "%s%s", root, path);
    if (stat(file, &st) != 0 || !S_ISREG(st.st_mode)) {
        if (strcmp(path, "/index.html") == 0)
            td_reply_error(r, 404, "the web UI is not built in %s (run make, or set --web-root)",
                           root);
        else
            td_reply_error(r, 404, "no such page: %s", r->path);
        return 0;
    }
    const char *headers = "cache-control: no-cache\x0d\x0a";
    int n = lws_serve_http_file(r->wsi, file, mime_type(file), headers, (int)strlen(headers));
    if (n < 0 || (n > 0 && lws_http_transaction_completed(r->wsi)))
        return -1;
    r->done = true;
    return 0;
}

/* ---- request dispatch --------------------------------------------------- */

static enum td_method method_of(struct lws *wsi)
{
    if (lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI))
        return M_GET;
    if (lws_hdr_total_length(wsi, WSI_TOKEN_POST_URI))
        return M_POST;
    if (lws_hdr_total_length(wsi, WSI_TOKEN_PUT_URI))
        return M_PUT;
    if (lws_hdr_total_length(wsi, WSI_TOKEN_DELETE_URI))
        return M_DELETE;
    return M_OTHER;
}

void td_req_parse_args(td_req *r)
{
    for (int i = 0;; i++) {
        int len = lws_hdr_fragment_length(r->wsi, WSI_TOKEN_HTTP_URI_ARGS, i);
        if (len <= 0)
            break; /* no more arguments */
        if (r->nargs == TD_MAX_ARGS) {
            snprintf(r->bad_args, sizeof(r->bad_args), "too many query parameters (at most %d)",
                     TD_MAX_ARGS);
            return;
        }
        if ((size_t)len >= sizeof(r->args[0])) {
            char *big = malloc((size_t)len + 1); /* within --http-header-max */
            int n =
                big ? lws_hdr_copy_fragment(r->wsi, big, len + 1, WSI_TOKEN_HTTP_URI_ARGS, i) : -1;
            size_t name = n > 0 ? strcspn(big, "=") : 0;
            snprintf(r->bad_args, sizeof(r->bad_args),
                     "query parameter '%.*s' is too long (at most %zu characters)",
                     (int)(name < 40 ? name : 40), n > 0 ? big : "", sizeof(r->args[0]) - 1);
            free(big);
            return;
        }
        if (lws_hdr_copy_fragment(r->wsi, r->args[r->nargs], sizeof(r->args[0]),
                                  WSI_TOKEN_HTTP_URI_ARGS, i) > 0)
            r->nargs++;
    }
}

static void parse_request(td_req *r, const char *uri)
{
    char len[32];
    r->method = method_of(r->wsi);
    snprintf(r->path, sizeof(r->path), "%s", uri ? uri : "/");
    lws_get_peer_simple(r->wsi, r->peer, sizeof(r->peer));
    td_req_parse_args(r);
    r->content_length = -1;
    if (lws_hdr_copy(r->wsi, len, sizeof(len), WSI_TOKEN_HTTP_CONTENT_LENGTH) > 0)
        r->content_length = atoll(len);
}

/* The largest body the request's route takes: a voice upload holds a
 * whole AMR clip, every other body is JSON. */
static long long body_limit(const td_req *r)
{
    size_t n = strlen(r->path);
    bool voice = r->method == M_POST && strncmp(r->path, "/api/voice", 10) == 0 &&
                 (n == 10 || (n == 11 && r->path[10] == '/'));
    return voice ? TD_VOICE_MAX_BYTES : TD_HTTP_BODY_MAX;
}

/* 413 for a body over the route's limit (of `len` bytes, or -1 when it
 * was still coming). */
static void body_too_large(td_req *r, long long len)
{
    char size[48] = "";
    if (len >= 0)
        snprintf(size, sizeof(size), " (%lld bytes)", len);
    td_gw_limit_hit(r->h->srv, TD_LIMIT_HTTP_BODY);
    td_log_limited(&log_http_limit, TD_LOG_WARN, "http %s %s: request body too large%s; limit %lld",
                   r->peer, r->path, size, body_limit(r));
    td_add_header(r, "connection", "close");
    r->close_after = true; /* whatever is left of the body is not read */
    td_reply_error(r, 413, "request body too large%s; the limit is %lld bytes", size,
                   body_limit(r));
}

static void dispatch(td_req *r)
{
    if (r->body_too_big) {
        body_too_large(r, -1);
        return;
    }
    if (r->bad_args[0]) {
        td_reply_error(r, 400, "%s", r->bad_args);
        return;
    }
    td_api_dispatch(r);
}

static int on_http(td_req *r, const char *uri)
{
    parse_request(r, uri);
    bool api = strncmp(r->path, "/api/", 5) == 0 || strcmp(r->path, "/api") == 0 ||
               strcmp(r->path, "/metrics") == 0;
    if (!api)
        return serve_static(r);
    if (r->content_length > body_limit(r)) {
        /* Answered before it is read; the connection is closed after. */
        body_too_large(r, r->content_length);
        return 0;
    }
    if (r->content_length < 0 && lws_hdr_total_length(r->wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING)) {
        /* libwebsockets 4.1 does not decode chunked request bodies. */
        td_add_header(r, "connection", "close");
        r->close_after = true;
        td_reply_error(r, 400, "chunked request bodies are not supported; send Content-Length");
        return 0;
    }
    if ((r->method == M_POST || r->method == M_PUT || r->method == M_DELETE) &&
        r->content_length > 0)
        return 0; /* wait for the body */
    dispatch(r);
    return 0;
}

/* Refuses a WebSocket handshake with an HTTP status and a JSON error; lws
 * closes the connection after. Returns the callback's "refused". */
static int ws_refuse(struct lws *wsi, int status, const char *msg)
{
    uint8_t buf[LWS_PRE + 1024], *start = buf + LWS_PRE, *p = start, *end = buf + sizeof(buf);
    td_sbuf b;
    td_sbuf_init(&b, 0);
    td_sbuf_puts(&b, "{\"error\":");
    td_json_str(&b, msg);
    td_sbuf_puts(&b, "}");
    if (!b.oom &&
        !lws_add_http_common_headers(wsi, (unsigned)status, "application/json", b.len, &p, end) &&
        !lws_add_http_header_by_name(wsi, (const uint8_t *)"connection:", (const uint8_t *)"close",
                                     5, &p, end) &&
        !lws_finalize_http_header(wsi, &p, end) && (size_t)(end - p) >= b.len) {
        memcpy(p, td_sbuf_text(&b), b.len);
        p += b.len;
        lws_write(wsi, start, (size_t)(p - start), LWS_WRITE_HTTP_HEADERS);
    }
    td_sbuf_free(&b);
    return 1;
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                    size_t len)
{
    td_req *r = user;
    td_http *h = lws_context_user(lws_get_context(wsi));

    switch (reason) {
    case LWS_CALLBACK_HTTP:
        req_begin(r, h, wsi);
        return on_http(r, in);

    case LWS_CALLBACK_HTTP_BODY:
        if (r->responding || r->body_too_big)
            return 0;
        if ((long long)(r->body.len + len) > body_limit(r)) {
            r->body_too_big = true;
            td_sbuf_free(&r->body); /* nothing more is kept */
            td_sbuf_init(&r->body, 0);
        } else {
            td_sbuf_add(&r->body, in, len);
        }
        return 0;

    case LWS_CALLBACK_HTTP_BODY_COMPLETION:
        if (!r->responding)
            dispatch(r);
        return 0;

    case LWS_CALLBACK_HTTP_WRITEABLE:
        if (!r->responding || r->done || r->job)
            return 0;
        return write_response(r);

    case LWS_CALLBACK_HTTP_FILE_COMPLETION:
        return lws_http_transaction_completed(wsi) ? -1 : 0;

    case LWS_CALLBACK_CLOSED_HTTP:
    case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
        if (r && r->h && !r->ws) {
            req_free(r);
        }
        return 0;

    /* ---- WebSocket: /api/socket ---- */
    case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION: {
        char uri[64] = "";
        req_begin(r, h, wsi);
        lws_get_peer_simple(wsi, r->peer, sizeof(r->peer));
        if (lws_hdr_copy(wsi, uri, sizeof(uri), WSI_TOKEN_GET_URI) < 0 ||
            strcmp(uri, "/api/socket") != 0) {
            td_info("http %s: WebSocket refused: no socket at %s", r->peer, uri);
            return ws_refuse(wsi, 404, "no WebSocket here; the live feed is /api/socket");
        }
        snprintf(r->path, sizeof(r->path), "%s", uri);
        if (h->nclients >= (unsigned)h->cfg->ws_max_clients) {
            char msg[96];
            snprintf(msg, sizeof(msg), "too many live clients (--ws-max-clients %d); try later",
                     h->cfg->ws_max_clients);
            td_gw_limit_hit(h->srv, TD_LIMIT_WEBSOCKET_CLIENTS);
            td_log_limited(&log_http_limit, TD_LOG_WARN, "http %s: WebSocket refused: %s", r->peer,
                           msg);
            return ws_refuse(wsi, 503, msg);
        }
        td_req_parse_args(r);
        if (r->bad_args[0]) {
            td_info("http %s: WebSocket refused: %s", r->peer, r->bad_args);
            return ws_refuse(wsi, 400, r->bad_args);
        }
        if (!td_api_authenticate(r)) {
            td_info("http %s: WebSocket refused: not logged in", r->peer);
            return ws_refuse(wsi, 401, "not logged in: POST /api/session or send a bearer token");
        }
        /* A page of another site must not ride on the user's cookie. */
        char origin[256], host[256];
        if (lws_hdr_copy(wsi, origin, sizeof(origin), WSI_TOKEN_ORIGIN) > 0 &&
            lws_hdr_copy(wsi, host, sizeof(host), WSI_TOKEN_HOST) > 0) {
            const char *o = strstr(origin, "://");
            if (!o || strcmp(o + 3, host) != 0) {
                td_warn("http %s: WebSocket refused: origin %s is not %s", r->peer, origin, host);
                return ws_refuse(wsi, 403, "the page's origin is not this server");
            }
        }
        r->ws = true;
        return 0;
    }

    case LWS_CALLBACK_ESTABLISHED:
        return td_live_open(r);

    case LWS_CALLBACK_SERVER_WRITEABLE:
        return td_live_writeable(r);

    case LWS_CALLBACK_RECEIVE:
        return 0; /* clients only listen; pings are answered by lws */

    case LWS_CALLBACK_CLOSED:
        td_live_close(r);
        req_free(r);
        return 0;

    /* ---- connections at once: --http-max-connections ---- */
    case LWS_CALLBACK_FILTER_NETWORK_CONNECTION: { /* wsi: the listener; in: the new socket */
        if (h->nconns < (unsigned)h->cfg->http_max_conns)
            return 0;
        char peer[64] = "?";
        lws_get_peer_simple_fd((lws_sockfd_type)(intptr_t)in, peer, sizeof(peer));
        td_gw_limit_hit(h->srv, TD_LIMIT_HTTP_CONNECTIONS);
        td_log_limited(&log_http_conns, TD_LOG_WARN,
                       "http %s: connection refused: %u open (--http-max-connections %d)", peer,
                       h->nconns, h->cfg->http_max_conns);
        return 1; /* lws closes it */
    }

    case LWS_CALLBACK_SERVER_NEW_CLIENT_INSTANTIATED:
        lws_set_opaque_user_data(wsi, &h->nconns); /* counted */
        h->nconns++;
        return 0;

    case LWS_CALLBACK_WSI_DESTROY:
        if (lws_get_opaque_user_data(wsi) == &h->nconns) {
            lws_set_opaque_user_data(wsi, NULL);
            h->nconns--;
        }
        return 0;

    default:
        return 0;
    }
}

/* ---- lifecycle ---------------------------------------------------------- */

static const struct lws_protocols protocols[] = {
    {"trackd", callback, sizeof(td_req), 4096, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0}, /* lws 4.1 has no LWS_PROTOCOL_LIST_TERM */
};

static td_http *log_owner; /* lws logs without a context: the one server */

static void lws_to_log(int level, const char *line)
{
    char msg[512];
    snprintf(msg, sizeof(msg), "%s", line);
    msg[strcspn(msg, "\r\n")] = '\0';
    /* lws prefixes its own timestamp and level; keep the text. */
    const char *text = strstr(msg, ": ");
    text = text ? text + 2 : msg;
    if (strstr(text, "Ran out of header data space") || strstr(text, "More hdr frags")) {
        /* A client's request line and headers are over --http-header-max. */
        if (log_owner)
            td_gw_limit_hit(log_owner->srv, TD_LIMIT_HTTP_HEADERS);
        td_log_limited(&log_http_limit, TD_LOG_WARN,
                       "http: request line and headers over --http-header-max (%d bytes);"
                       " connection closed",
                       log_owner ? log_owner->cfg->http_header_max : 0);
        return;
    }
    if (strstr(text, "User code denied connection"))
        return; /* a refused WebSocket, logged with its reason */
    td_log_limited(&log_lws, level & LLL_ERR ? TD_LOG_ERROR : TD_LOG_WARN, "http: %s", text);
}

static void on_check(uv_check_t *c)
{
    td_live_flush(c->data);
}

static int purge_rate(td_http *h, int64_t now);

static void on_timer(uv_timer_t *t)
{
    td_http *h = t->data;
    int64_t now = td_now_ms();
    purge_rate(h, now);
    td_store *s = td_gw_store(h->srv);
    s->ops->session_purge(s, now);
}

typedef struct rate_entry {
    int64_t window_start;
    int failures;
} rate_entry;

static int purge_rate(td_http *h, int64_t now)
{
    for (size_t i = 0; i < h->rate.cap; i++) {
        td_map_slot *slot = &h->rate.slots[i];
        if (!slot->key)
            continue;
        rate_entry *e = slot->value;
        if (now - e->window_start >= 60000) {
            char key[64];
            snprintf(key, sizeof(key), "%s", slot->key);
            free(td_map_del(&h->rate, key));
            i--;
        }
    }
    return 0;
}

int td_http_start(td_server *srv, uv_loop_t *loop, td_http **out, char *err, size_t errcap)
{
    struct lws_context_creation_info info;
    td_http *h = calloc(1, sizeof(*h));
    void *foreign[1] = {loop};

    if (!h)
        return TD_ENOMEM;
    h->srv = srv;
    h->cfg = td_gw_config(srv);
    h->loop = loop;
    td_map_init(&h->rate);

    log_owner = h;
    lws_set_log_level(LLL_ERR | LLL_WARN, lws_to_log);
    memset(&info, 0, sizeof(info));
    info.options = LWS_SERVER_OPTION_LIBUV;
    info.foreign_loops = foreign;
    info.port = h->cfg->http_port;
    info.iface = strcmp(h->cfg->listen, "::") == 0 ? NULL : h->cfg->listen;
    info.protocols = protocols;
    info.user = h;
    info.timeout_secs = 30;
    info.timeout_secs_ah_idle = 10; /* request headers must arrive within this */
    info.keepalive_timeout = 30;
    info.max_http_header_data = (unsigned short)h->cfg->http_header_max;
    info.max_http_header_pool = 64;
    info.vhost_name = "trackd";
    info.server_string = "trackd";
    h->ctx = lws_create_context(&info);
    if (!h->ctx) {
        snprintf(err, errcap,
                 "cannot start the HTTP server on port %d (port in use, or the libuv event"
                 " library of libwebsockets, package libwebsockets-evlib-uv, is missing)",
                 h->cfg->http_port);
        log_owner = NULL;
        td_map_free(&h->rate);
        free(h);
        return TD_EIO;
    }
    h->vhost = lws_get_vhost_by_name(h->ctx, "trackd");
    h->port = h->vhost ? lws_get_vhost_listen_port(h->vhost) : h->cfg->http_port;

    uv_check_init(loop, &h->check);
    h->check.data = h;
    uv_check_start(&h->check, on_check);
    uv_timer_init(loop, &h->timer);
    h->timer.data = h;
    uv_timer_start(&h->timer, on_timer, 10000, 10000);

    td_info("http port %d open on %s (API, WebSocket /api/socket, web UI from %s)", h->port,
            info.iface ? info.iface : "::", h->cfg->web_root[0] ? h->cfg->web_root : "nowhere");
    td_info("web UI: http://localhost:%d/", h->port);
    *out = h;
    return 0;
}

void td_http_stop(td_http *h)
{
    if (!h || h->stopping)
        return;
    h->stopping = true;
    uv_check_stop(&h->check);
    uv_close((uv_handle_t *)&h->check, NULL);
    uv_timer_stop(&h->timer);
    uv_close((uv_handle_t *)&h->timer, NULL);
    /* With a foreign loop this starts closing lws's handles; the loop
     * finishes them and td_http_free() completes the destruction. */
    lws_context_destroy(h->ctx);
}

void td_http_free(td_http *h)
{
    if (!h)
        return;
    if (log_owner == h)
        log_owner = NULL;
    if (h->ctx)
        lws_context_destroy(h->ctx); /* second stage, after the loop ran dry */
    td_live_free_all(h);
    for (size_t i = 0; i < h->rate.cap; i++)
        if (h->rate.slots[i].key)
            free(h->rate.slots[i].value);
    td_map_free(&h->rate);
    free(h);
}

unsigned td_http_ws_clients(const td_http *h)
{
    return h ? h->nclients : 0;
}

/* ---- login rate limit (used by api.c) ----------------------------------- */

int td_http_login_allowed(td_http *h, const char *peer, int *retry_after);
void td_http_login_failed(td_http *h, const char *peer);

int td_http_login_allowed(td_http *h, const char *peer, int *retry_after)
{
    rate_entry *e = td_map_get(&h->rate, peer);
    int64_t now = td_now_ms();
    if (!e || now - e->window_start >= 60000)
        return 1;
    if (e->failures < h->cfg->login_rate)
        return 1;
    *retry_after = (int)((e->window_start + 60000 - now) / 1000) + 1;
    return 0;
}

void td_http_login_failed(td_http *h, const char *peer)
{
    rate_entry *e = td_map_get(&h->rate, peer);
    int64_t now = td_now_ms();
    if (!e) {
        if (h->rate.len >= 100000)
            purge_rate(h, now);
        e = calloc(1, sizeof(*e));
        if (!e || td_map_put(&h->rate, peer, e)) {
            free(e);
            return;
        }
        e->window_start = now;
    }
    if (now - e->window_start >= 60000) {
        e->window_start = now;
        e->failures = 0;
    }
    e->failures++;
}
