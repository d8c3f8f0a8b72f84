/*
 * The JSON writers of the API objects (position, event, device, user), on
 * the growable buffer of core/sbuf.h.
 */
#ifndef TRACKD_SBUF_H
#define TRACKD_SBUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/gateway.h"
#include "core/sbuf.h"
#include "trackd/store.h"

/* JSON pieces. */
void td_json_str(td_sbuf *b, const char *s); /* quoted, escaped; NULL -> null */
void td_json_time(td_sbuf *b, int64_t ms);   /* ISO 8601 string; 0 -> null */
void td_json_double(td_sbuf *b, double v);
void td_json_id(td_sbuf *b, int64_t id); /* a store id; 0 (none) -> null */

/* XML text with & < > " escaped. */
void td_xml_text(td_sbuf *b, const char *s);
/* A CSV field, quoted when needed. */
void td_csv_field(td_sbuf *b, const char *s);

/* API objects (CONTRACT.md field names). */
void td_json_position(td_sbuf *b, const td_store_position *p);
void td_json_event(td_sbuf *b, const td_store_event *e);
/* latest: the device's newest record JSON (NULL -> null). */
void td_json_device(td_sbuf *b, const td_device *d);
void td_json_user(td_sbuf *b, const td_store_user *u);

#endif
