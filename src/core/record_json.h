/*
 * JSON form of a record (jansson), shared by `trackd decode`, the store's
 * attribute column and the API, so field names are the same everywhere.
 */
#ifndef TRACKD_RECORD_JSON_H
#define TRACKD_RECORD_JSON_H

#include <jansson.h>

#include "trackd/record.h"

/* The full object as `trackd decode` prints it (without line/reply).
 * protocol may be NULL. Returns a new reference. */
json_t *td_record_json(const td_record *r, const char *protocol);
/* Just the "attributes" object (canonical, scans, raw). New reference. */
json_t *td_record_attributes_json(const td_record *r);
/* The same attributes as compact JSON text, written directly (the store's
 * hot path): byte for byte what json_dumps(td_record_attributes_json(r),
 * JSON_COMPACT) gives. malloc'd; NULL when out of memory. */
char *td_record_attributes_text(const td_record *r);
/* Just the alarm names as an array. New reference. */
json_t *td_record_alarms_json(const td_record *r);

#endif
