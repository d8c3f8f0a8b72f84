/*
 * The HTTP side of trackd: the JSON API, the live WebSocket feed, /metrics
 * and the static web UI, served by libwebsockets on the gateway's own libuv
 * loop (a "foreign loop"), so one thread runs devices and users alike.
 */
#ifndef TRACKD_HTTP_H
#define TRACKD_HTTP_H

#include <uv.h>

#include "core/gateway.h"

typedef struct td_http td_http;

/* Starts listening on --http-port. Logs "http port N open on ...". */
int td_http_start(td_server *srv, uv_loop_t *loop, td_http **out, char *err, size_t errcap);

/* Stops accepting and closes every HTTP and WebSocket connection. */
void td_http_stop(td_http *h);

/* Frees what is left after the loop has run dry. Safe on NULL. */
void td_http_free(td_http *h);

/*
 * A batch is durable: refresh the devices' latest records and push the
 * records, events and device status changes to the WebSocket clients that
 * may see them. devs[i] is the registry entry of b->devices[i] (NULL when
 * it was deleted meanwhile).
 */
void td_http_committed(td_http *h, const td_store_batch *b, td_device *const *devs);

/* A device was added or edited through the API (push it), or deleted. */
void td_http_device_changed(td_http *h, td_device *d);
/* Loads a device's newest stored record into d->latest (once). */
void td_device_load_latest(td_http *h, td_device *d);
/* An event changed state (acknowledged, closed) or, reminder, is still
 * unacknowledged: it goes again to the clients that see its device. */
void td_http_event_changed(td_http *h, int64_t event_id, bool reminder);
/* A command was created or changed status: {"commands":[...]} to the
 * clients that see its device. */
void td_http_command_changed(td_http *h, int64_t command_id);
/* A user lost access to a shared device: their clients hear it is gone. */
void td_http_device_unshared(td_http *h, const td_device *d, int64_t user_id);
/* Disconnects the user's (user_id 0: anyone's) live-feed clients whose
 * session or token has ended (logged out, revoked, a new password, the
 * user deleted). Returns how many. */
int td_http_end_sessions(td_http *h, int64_t user_id);
void td_http_device_deleted(td_http *h, int64_t device_id, int64_t owner_id, const int64_t *shares,
                            int nshares);

/* Number of connected WebSocket clients. */
unsigned td_http_ws_clients(const td_http *h);

#endif
