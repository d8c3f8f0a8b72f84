/*
 * The device gateway: one libuv loop serving the device port over TCP and
 * UDP (IPv4 and IPv6), protocol detection per connection and per datagram,
 * sessions, group commit to the store, and acknowledgements sent only after
 * the records they confirm are durable.
 */
#ifndef TRACKD_SERVER_H
#define TRACKD_SERVER_H

#include "core/config.h"

/* Runs the server until SIGINT/SIGTERM. Returns a process exit code. */
int td_serve(const td_config *cfg);

#endif
