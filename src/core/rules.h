/*
 * Server-side rules: turns records and silence into events.
 *
 * Holds, in memory, what the store says about alerting (geofences, rules,
 * notification channels and which users are admins) and each device's rule
 * state. For every record the gateway decodes, td_rules_record() emits the
 * events it causes: device alarms (the "level" ones - lowBattery, lowPower,
 * removal, device geofence flags - only when they start, not on every
 * report while they hold), geofence enter/exit, overspeed, low battery,
 * motion start/stop and health thresholds. td_rules_tick() raises
 * noReport when a device stays silent. The gateway stores each emitted
 * event with its record and queues it for the notification channels
 * td_rules_notify() names.
 *
 * Geofence crossings use a margin: a fix must be --geofence-margin metres
 * past the edge to change the inside/outside state, so GPS jitter along the
 * boundary does not flap. Only valid fixes count. A device's first state
 * after a start (or after a geofence or rule appears) comes from its last
 * known fix and last stored record, without an event.
 *
 * Loop thread only.
 */
#ifndef TRACKD_RULES_H
#define TRACKD_RULES_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/config.h"
#include "core/gateway.h"
#include "trackd/record.h"
#include "trackd/store.h"

typedef struct td_rules td_rules;

/* An event for dev: type is a static string; attrs (NULL = the record's
 * attributes) is handed over to the callee. */
typedef void (*td_emit_fn)(void *arg, td_device *dev, const char *type, json_t *attrs);

td_rules *td_rules_new(const td_config *cfg);
void td_rules_free(td_rules *rs);
/* (Re)loads geofences, rules, notification channels and users. */
int td_rules_load(td_rules *rs, td_store *store);
/* Frees a device's rule state (when the device goes away). */
void td_rules_forget(td_device *dev);

/* Evaluates one record, before it updates dev->st (so dev->st still holds
 * the previous fix). dev->latest, when loaded, is the previous record. */
void td_rules_record(td_rules *rs, td_device *dev, const td_record *r, td_emit_fn emit, void *arg);
/* Timer rules (noReport) for one device at now_ms. */
void td_rules_tick(td_rules *rs, td_device *dev, int64_t now_ms, td_emit_fn emit, void *arg);
/* Whether an "online" rule asks for deviceOnline/deviceOffline events of
 * dev. */
bool td_rules_online(const td_rules *rs, const td_device *dev);
/* Whether any timer rule exists (so the gateway can skip the sweep). */
bool td_rules_have_timers(const td_rules *rs);

/* Whether events of this type stay open until acknowledged. */
bool td_rules_critical(const td_rules *rs, const char *type);
/* The notification channels an event of `type` on dev goes to: a malloc'd
 * array in *out (NULL when none); returns the count. */
int td_rules_notify(const td_rules *rs, const td_device *dev, const char *type, int64_t **out);

/* Validates a rule of `type` with its attributes for the API; 0, or -1
 * with a message in err. */
int td_rule_check(const char *type, json_t *attrs, char *err, size_t errcap);
/* Every event type a rule or device can raise (NULL-terminated), for
 * validating notification filters. */
extern const char *const td_event_types[];

/* Geometry, in metres (exposed for tests). An area is the API's circle or
 * polygon JSON. */
typedef struct td_area {
    bool circle;
    double lat, lon, radius;
    double (*pts)[2]; /* polygon vertices [lat, lon] */
    int npts;
} td_area;
double td_geo_distance(double lat1, double lon1, double lat2, double lon2);
int td_area_parse(const char *json, td_area *out);
void td_area_free(td_area *a);
/* Distance from the area's edge: positive inside, negative outside. */
double td_area_depth(const td_area *a, double lat, double lon);

#endif
