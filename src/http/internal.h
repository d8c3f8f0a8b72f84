/*
 * Shared between the parts of the HTTP side: the server state, the
 * per-connection request state, the response helpers (http.c), the API
 * routes (api.c), exports (export.c) and the live WebSocket feed (live.c).
 */
#ifndef TRACKD_HTTP_INTERNAL_H
#define TRACKD_HTTP_INTERNAL_H

#include <jansson.h>
#include <libwebsockets.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "core/map.h"
#include "http/http.h"
#include "http/sbuf.h"

#define TD_HTTP_BODY_MAX (64 * 1024) /* JSON request bodies larger than this get 413 */
#define TD_HTTP_CHUNK (16 * 1024)    /* bytes written per writeable callback */
#define TD_MAX_ARGS 24
#define TD_COOKIE "trackd_session"

typedef struct td_client td_client;
typedef struct td_req td_req;
typedef struct td_job td_job;

enum td_method { M_OTHER, M_GET, M_POST, M_PUT, M_DELETE };

/* Who is calling. */
typedef struct td_caller {
    int64_t id;
    bool admin;
    char name[64];
    char key[65]; /* hash of the session/token secret that authenticated */
} td_caller;

/* A streamed response body (exports): fills out with the next piece;
 * returns 1 when more follows, 0 at the end, negative on error. */
typedef int (*td_stream_fn)(td_req *r, td_sbuf *out);

struct td_req {
    td_http *h;
    struct lws *wsi;
    bool ws; /* upgraded to the live WebSocket */

    /* request */
    enum td_method method;
    char path[256];
    char args[TD_MAX_ARGS][256]; /* "name=value", URL-decoded */
    int nargs;
    char bad_args[128]; /* why the query string was refused, or "" */
    char peer[64];
    td_sbuf body;
    long long content_length;
    bool body_too_big;
    bool authed;
    td_caller who;

    /* response */
    bool responding; /* a response is set; headers/body go out on writeable */
    bool headers_sent, done;
    bool close_after; /* the connection closes once the response is written */
    int status;
    const char *ctype;
    char extra[768]; /* extra header lines "name: value\r\n" */
    td_sbuf out;
    size_t out_sent;

    /* streamed body (export) */
    td_stream_fn stream;
    void *stream_state;
    void (*stream_free)(void *state);

    td_job *job;       /* work in the thread pool (login), or NULL */
    td_client *client; /* the live feed client, when ws */
};

struct td_http {
    td_server *srv;
    const td_config *cfg;
    uv_loop_t *loop;
    struct lws_context *ctx;
    struct lws_vhost *vhost;
    int port;
    uv_check_t check; /* requests writeable for clients with queued messages */
    uv_timer_t timer; /* purges login rate entries and expired sessions */
    bool stopping;

    td_client *clients;
    unsigned nclients;
    unsigned nconns; /* HTTP and WebSocket connections open */
    uint64_t ws_messages, ws_dropped;
    td_map rate; /* peer address -> login attempts */
};

/* http.c: responses. */
void td_reply(td_req *r, int status, const char *ctype, const char *body, size_t len);
void td_reply_sbuf(td_req *r, int status, td_sbuf *b); /* JSON; takes the buffer */
void td_reply_error(td_req *r, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void td_reply_stream(td_req *r, const char *ctype, const char *filename, td_stream_fn fn,
                     void *state, void (*state_free)(void *));
void td_add_header(td_req *r, const char *name, const char *value);
/* Copies the query arguments into r->args (sets r->bad_args when there are
 * too many or one is too long). */
void td_req_parse_args(td_req *r);
/* The value of query argument `name`, or NULL. */
const char *td_arg(const td_req *r, const char *name);
/* Resumes a request whose response was set outside its callbacks. */
void td_req_wake(td_req *r);

/* api.c */
void td_api_dispatch(td_req *r);
/* Authenticates from the cookie or bearer token; false = not logged in. */
bool td_api_authenticate(td_req *r);

/* live.c */
int td_live_open(td_req *r);
void td_live_close(td_req *r);

/* Writes event id as JSON to b (when not NULL) if it exists on a device
 * user_id may see (0: any device); *device_id (when not NULL) gets its
 * device. Returns whether it was found. */
bool td_event_json(td_store *s, int64_t id, int64_t user_id, td_sbuf *b, int64_t *device_id);
/* Appends command `id` as API JSON; false when it does not exist. */
bool td_command_json(td_store *s, int64_t id, td_sbuf *b, int64_t *device_id);
int td_live_writeable(td_req *r);
void td_live_flush(td_http *h);
void td_live_free_all(td_http *h);
/* Makes sure d->latest reflects the store (loads it once). */

#endif
