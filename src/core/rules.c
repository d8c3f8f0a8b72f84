/*
 * Server-side rules (see rules.h).
 *
 * Each device carries a small list of rule states keyed by rule id
 * (geofences by minus their id): whether the condition is on, and since
 * when it has held (for minimum durations). States are created lazily the
 * first time a device meets a rule, from its previous fix and record.
 */
#include "core/rules.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/text.h"
#include "trackd/error.h"

#define EARTH_RADIUS 6371008.8 /* mean radius, metres */
#define BATTERY_REARM 5        /* percent above the threshold that re-arms lowBattery */

/* Device alarms that describe a state the device reports again and again
 * while it holds: an event only when one starts. */
#define LEVEL_ALARMS                                                                               \
    (TD_ALARM_BIT(TD_ALARM_LOW_BATTERY) | TD_ALARM_BIT(TD_ALARM_LOW_POWER) |                       \
     TD_ALARM_BIT(TD_ALARM_REMOVAL) | TD_ALARM_BIT(TD_ALARM_GEOFENCE_ENTER) |                      \
     TD_ALARM_BIT(TD_ALARM_GEOFENCE_EXIT))

const char *const td_event_types[] = {"sos",           "fall",         "lowBattery",
                                      "geofenceEnter", "geofenceExit", "movement",
                                      "vibration",     "overspeed",    "powerCut",
                                      "removal",       "tamper",       "lowPower",
                                      "motionStart",   "motionStop",   "deviceOnline",
                                      "deviceOffline", "noReport",     "heartRateHigh",
                                      "heartRateLow",  "spo2Low",      "bodyTemperatureHigh",
                                      "commandResult", "voiceMessage", NULL};

typedef enum rkind {
    R_OVERSPEED,
    R_LOW_BATTERY,
    R_MOTION,
    R_NO_REPORT,
    R_HEART_RATE,
    R_SPO2,
    R_BODY_TEMPERATURE,
    R_ONLINE,
} rkind;

static const char *const kind_names[] = {"overspeed", "lowBattery", "motion",          "noReport",
                                         "heartRate", "spo2",       "bodyTemperature", "online"};
#define NKINDS (sizeof(kind_names) / sizeof(kind_names[0]))

/* A set of device ids; all = every device the owner may see. */
typedef struct idset {
    int64_t *ids;
    int n;
    bool all;
} idset;

typedef struct rule {
    int64_t id, owner;
    bool owner_admin;
    rkind kind;
    idset devs;
    double above, below; /* NAN when not set */
    int64_t min_ms;
    int64_t fence; /* overspeed: only inside this geofence (0 = anywhere) */
} rule;

typedef struct fence {
    int64_t id, owner;
    bool owner_admin;
    char name[64];
    td_area area;
    idset devs;
} fence;

typedef struct channel {
    int64_t id, user;
    bool user_admin;
    char **types; /* NULL = every type */
    int ntypes;
    idset devs;
} channel;

typedef struct user_flag {
    int64_t id;
    bool admin;
} user_flag;

struct td_rules {
    const td_config *cfg;
    rule *rules;
    int nrules;
    fence *fences;
    int nfences;
    channel *channels;
    int nchannels;
    user_flag *users;
    int nusers;
    td_store *store;
    char critical[sizeof(((td_config *)0)->critical_events) + 2]; /* ",sos,fall," */
    bool timers;
};

/* One rule's state on one device. */
typedef struct ritem {
    int64_t key;
    bool on, on2;          /* condition reported (second: heart rate low) */
    int64_t since, since2; /* condition holding since (0 = not holding) */
} ritem;

typedef struct td_rstate {
    uint32_t level_alarms; /* level alarms in the last status */
    int n, cap;
    ritem items[];
} td_rstate;

/* ---- geometry ----------------------------------------------------------- */

static double rad(double deg)
{
    return deg * M_PI / 180.0;
}

double td_geo_distance(double lat1, double lon1, double lat2, double lon2)
{
    double dlat = rad(lat2 - lat1), dlon = rad(lon2 - lon1);
    double a = sin(dlat / 2) * sin(dlat / 2) +
               cos(rad(lat1)) * cos(rad(lat2)) * sin(dlon / 2) * sin(dlon / 2);
    return 2 * EARTH_RADIUS * atan2(sqrt(a), sqrt(1 - a));
}

void td_area_free(td_area *a)
{
    free(a->pts);
    a->pts = NULL;
    a->npts = 0;
}

int td_area_parse(const char *json, td_area *out)
{
    json_t *o = json_loads(json, 0, NULL);
    int rc = TD_EINVAL;
    memset(out, 0, sizeof(*out));
    const char *type = json_string_value(json_object_get(o, "type"));
    if (type && strcmp(type, "circle") == 0) {
        out->circle = true;
        out->lat = json_number_value(json_object_get(o, "latitude"));
        out->lon = json_number_value(json_object_get(o, "longitude"));
        out->radius = json_number_value(json_object_get(o, "radius"));
        rc = 0;
    } else if (type && strcmp(type, "polygon") == 0) {
        json_t *c = json_object_get(o, "coordinates");
        size_t n = json_array_size(c);
        out->pts = n >= 3 ? calloc(n, sizeof(*out->pts)) : NULL;
        if (out->pts) {
            for (size_t i = 0; i < n; i++) {
                out->pts[i][0] = json_number_value(json_array_get(json_array_get(c, i), 0));
                out->pts[i][1] = json_number_value(json_array_get(json_array_get(c, i), 1));
            }
            out->npts = (int)n;
            rc = 0;
        }
    }
    json_decref(o);
    return rc;
}

/* Distance from point (0,0) to segment a-b in a local plane (metres). */
static double segment_distance(double ax, double ay, double bx, double by)
{
    double dx = bx - ax, dy = by - ay;
    double len2 = dx * dx + dy * dy;
    double t = len2 > 0 ? -(ax * dx + ay * dy) / len2 : 0;
    t = t < 0 ? 0 : t > 1 ? 1 : t;
    double px = ax + t * dx, py = ay + t * dy;
    return sqrt(px * px + py * py);
}

double td_area_depth(const td_area *a, double lat, double lon)
{
    if (a->circle)
        return a->radius - td_geo_distance(a->lat, a->lon, lat, lon);
    /* Polygon: an equirectangular plane centred on the point is accurate to
     * well under a metre over geofence sizes. */
    double kx = rad(1.0) * EARTH_RADIUS * cos(rad(lat)), ky = rad(1.0) * EARTH_RADIUS;
    bool inside = false;
    double best = INFINITY;
    for (int i = 0, j = a->npts - 1; i < a->npts; j = i++) {
        double xi = (a->pts[i][1] - lon) * kx, yi = (a->pts[i][0] - lat) * ky;
        double xj = (a->pts[j][1] - lon) * kx, yj = (a->pts[j][0] - lat) * ky;
        if ((yi > 0) != (yj > 0) && 0 < (xj - xi) * (0 - yi) / (yj - yi) + xi)
            inside = !inside;
        double d = segment_distance(xi, yi, xj, yj);
        if (d < best)
            best = d;
    }
    return inside ? best : -best;
}

/* ---- loading ------------------------------------------------------------ */

static void idset_free(idset *s)
{
    free(s->ids);
    s->ids = NULL;
    s->n = 0;
}

static int idset_parse(const char *json, idset *out)
{
    memset(out, 0, sizeof(*out));
    json_t *a = json ? json_loads(json, 0, NULL) : NULL;
    size_t n = json_array_size(a);
    if (!n) {
        out->all = true;
        json_decref(a);
        return 0;
    }
    out->ids = calloc(n, sizeof(*out->ids));
    if (!out->ids) {
        json_decref(a);
        return TD_ENOMEM;
    }
    for (size_t i = 0; i < n; i++)
        out->ids[out->n++] = json_integer_value(json_array_get(a, i));
    json_decref(a);
    return 0;
}

static bool idset_has(const idset *s, int64_t id)
{
    for (int i = 0; i < s->n; i++)
        if (s->ids[i] == id)
            return true;
    return false;
}

/* Whether a rule owned by (owner, admin) over devs applies to dev. */
static bool applies(const idset *devs, int64_t owner, bool admin, const td_device *dev)
{
    if (dev->st.id <= 0 || !td_device_visible(dev, owner, admin))
        return false;
    return devs->all || idset_has(devs, dev->st.id);
}

static bool user_admin(const td_rules *rs, int64_t id)
{
    for (int i = 0; i < rs->nusers; i++)
        if (rs->users[i].id == id)
            return rs->users[i].admin;
    return false;
}

static void clear(td_rules *rs)
{
    for (int i = 0; i < rs->nrules; i++)
        idset_free(&rs->rules[i].devs);
    for (int i = 0; i < rs->nfences; i++) {
        idset_free(&rs->fences[i].devs);
        td_area_free(&rs->fences[i].area);
    }
    for (int i = 0; i < rs->nchannels; i++) {
        for (int k = 0; k < rs->channels[i].ntypes; k++)
            free(rs->channels[i].types[k]);
        free(rs->channels[i].types);
        idset_free(&rs->channels[i].devs);
    }
    free(rs->rules);
    free(rs->fences);
    free(rs->channels);
    free(rs->users);
    rs->rules = NULL;
    rs->fences = NULL;
    rs->channels = NULL;
    rs->users = NULL;
    rs->nrules = rs->nfences = rs->nchannels = rs->nusers = 0;
    rs->timers = false;
}

/* Grows *arr (of n items of size sz) by one zeroed item. */
static void *push(void *arr, int *n, size_t sz)
{
    char *p = realloc(arr, (size_t)(*n + 1) * sz);
    if (!p)
        return NULL;
    memset(p + (size_t)*n * sz, 0, sz);
    (*n)++;
    return p;
}

static int load_user(void *arg, const td_store_user *u)
{
    td_rules *rs = arg;
    user_flag *p = push(rs->users, &rs->nusers, sizeof(*p));
    if (!p)
        return TD_ENOMEM;
    rs->users = p;
    p[rs->nusers - 1] = (user_flag){u->id, u->admin};
    return 0;
}

static double number_or_nan(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return json_is_number(v) ? json_number_value(v) : NAN;
}

/* Parses a rule's attributes; the API has validated them. */
static int parse_rule(rule *r, const char *type, const char *attrs_json)
{
    json_t *a = json_loads(attrs_json ? attrs_json : "{}", 0, NULL);
    size_t k;
    for (k = 0; k < NKINDS; k++)
        if (strcmp(type, kind_names[k]) == 0)
            break;
    if (k == NKINDS || !a) {
        json_decref(a);
        return TD_EINVAL;
    }
    r->kind = (rkind)k;
    r->above = r->below = NAN;
    r->min_ms = (int64_t)(json_number_value(json_object_get(a, "minDuration")) * 1000);
    switch (r->kind) {
    case R_OVERSPEED:
        r->above = number_or_nan(a, "limit");
        r->fence = json_integer_value(json_object_get(a, "geofenceId"));
        break;
    case R_LOW_BATTERY:
        r->below = number_or_nan(a, "threshold");
        if (isnan(r->below))
            r->below = 20;
        break;
    case R_MOTION:
        r->above = number_or_nan(a, "speed");
        if (isnan(r->above))
            r->above = 5;
        break;
    case R_NO_REPORT:
        r->min_ms = (int64_t)(json_number_value(json_object_get(a, "minutes")) * 60000);
        break;
    default:
        r->above = number_or_nan(a, "above");
        r->below = number_or_nan(a, "below");
        break;
    }
    json_decref(a);
    return 0;
}

static int load_rule(void *arg, const td_store_rule *sr)
{
    td_rules *rs = arg;
    rule r = {.id = sr->id, .owner = sr->owner_id, .owner_admin = user_admin(rs, sr->owner_id)};
    if (parse_rule(&r, sr->type, sr->attributes)) {
        td_warn("rules: rule %lld has an unknown type '%s' or bad attributes; ignored",
                (long long)sr->id, sr->type);
        return 0;
    }
    if (idset_parse(sr->device_ids, &r.devs))
        return TD_ENOMEM;
    rule *p = push(rs->rules, &rs->nrules, sizeof(*p));
    if (!p) {
        idset_free(&r.devs);
        return TD_ENOMEM;
    }
    rs->rules = p;
    p[rs->nrules - 1] = r;
    if (r.kind == R_NO_REPORT)
        rs->timers = true;
    return 0;
}

static int load_fence(void *arg, const td_store_geofence *g)
{
    td_rules *rs = arg;
    fence f = {.id = g->id, .owner = g->owner_id, .owner_admin = user_admin(rs, g->owner_id)};
    snprintf(f.name, sizeof(f.name), "%s", g->name);
    if (td_area_parse(g->area, &f.area)) {
        td_warn("rules: geofence %lld has a bad area; ignored", (long long)g->id);
        return 0;
    }
    if (idset_parse(g->device_ids, &f.devs)) {
        td_area_free(&f.area);
        return TD_ENOMEM;
    }
    fence *p = push(rs->fences, &rs->nfences, sizeof(*p));
    if (!p) {
        td_area_free(&f.area);
        idset_free(&f.devs);
        return TD_ENOMEM;
    }
    rs->fences = p;
    p[rs->nfences - 1] = f;
    return 0;
}

static int load_channel(void *arg, const td_store_notification *n)
{
    td_rules *rs = arg;
    channel c = {.id = n->id, .user = n->user_id, .user_admin = user_admin(rs, n->user_id)};
    json_t *types = n->event_types ? json_loads(n->event_types, 0, NULL) : NULL;
    size_t nt = json_array_size(types);
    if (nt) {
        c.types = calloc(nt, sizeof(*c.types));
        for (size_t i = 0; c.types && i < nt; i++) {
            const char *t = json_string_value(json_array_get(types, i));
            if (t && (c.types[c.ntypes] = strdup(t)))
                c.ntypes++;
        }
    }
    json_decref(types);
    if ((nt && !c.types) || idset_parse(n->device_ids, &c.devs)) {
        free(c.types);
        return TD_ENOMEM;
    }
    channel *p = push(rs->channels, &rs->nchannels, sizeof(*p));
    if (!p) {
        free(c.types);
        idset_free(&c.devs);
        return TD_ENOMEM;
    }
    rs->channels = p;
    p[rs->nchannels - 1] = c;
    return 0;
}

td_rules *td_rules_new(const td_config *cfg)
{
    td_rules *rs = calloc(1, sizeof(*rs));
    if (!rs)
        return NULL;
    rs->cfg = cfg;
    snprintf(rs->critical, sizeof(rs->critical), ",%s,", cfg->critical_events);
    for (char *p = rs->critical; *p; p++)
        if (*p == ' ')
            *p = ',';
    return rs;
}

void td_rules_free(td_rules *rs)
{
    if (!rs)
        return;
    clear(rs);
    free(rs);
}

int td_rules_load(td_rules *rs, td_store *store)
{
    clear(rs);
    rs->store = store;
    int rc = store->ops->users(store, load_user, rs);
    if (!rc)
        rc = store->ops->geofences(store, load_fence, rs);
    if (!rc)
        rc = store->ops->rules(store, load_rule, rs);
    if (!rc)
        rc = store->ops->notifications(store, load_channel, rs);
    if (rc)
        td_error("rules: cannot load geofences, rules and notification channels: %s",
                 td_strerror(rc));
    return rc;
}

void td_rules_forget(td_device *dev)
{
    free(dev->rstate);
    dev->rstate = NULL;
}

bool td_rules_online(const td_rules *rs, const td_device *dev)
{
    for (int i = 0; i < rs->nrules; i++) {
        const rule *ru = &rs->rules[i];
        if (ru->kind == R_ONLINE && applies(&ru->devs, ru->owner, ru->owner_admin, dev))
            return true;
    }
    return false;
}

bool td_rules_have_timers(const td_rules *rs)
{
    return rs->timers;
}

bool td_rules_critical(const td_rules *rs, const char *type)
{
    char key[40];
    snprintf(key, sizeof(key), ",%s,", type);
    return strstr(rs->critical, key) != NULL;
}

int td_rules_notify(const td_rules *rs, const td_device *dev, const char *type, int64_t **out)
{
    int n = 0;
    *out = NULL;
    for (int i = 0; i < rs->nchannels; i++) {
        const channel *c = &rs->channels[i];
        if (!applies(&c->devs, c->user, c->user_admin, dev))
            continue;
        bool match = !c->types;
        for (int k = 0; k < c->ntypes && !match; k++)
            match = strcmp(c->types[k], type) == 0;
        if (!match)
            continue;
        int64_t *p = realloc(*out, (size_t)(n + 1) * sizeof(*p));
        if (!p)
            break;
        *out = p;
        p[n++] = c->id;
    }
    return n;
}

/* ---- state -------------------------------------------------------------- */

/* The state of rule `key` on dev, created (on = false) when absent; NULL on
 * allocation failure. *fresh tells whether it was just created. */
/* The device's state, allocated (empty) on first use; NULL when memory
 * runs out. room: grows it so one more item fits. */
static td_rstate *state(td_device *dev, bool room)
{
    td_rstate *st = dev->rstate;
    if (st && (!room || st->n < st->cap))
        return st;
    int cap = st ? st->cap * 2 : 4;
    td_rstate *p = realloc(st, sizeof(*p) + (size_t)cap * sizeof(ritem));
    if (!p)
        return NULL;
    if (!st)
        p->n = 0, p->level_alarms = 0;
    p->cap = cap;
    return dev->rstate = p;
}

static ritem *item(td_device *dev, int64_t key, bool *fresh)
{
    td_rstate *st = dev->rstate;
    *fresh = false;
    for (int i = 0; st && i < st->n; i++)
        if (st->items[i].key == key)
            return &st->items[i];
    if (!(st = state(dev, true)))
        return NULL;
    ritem *it = &st->items[st->n++];
    memset(it, 0, sizeof(*it));
    it->key = key;
    *fresh = true;
    return it;
}

/* The previous record's value of an attribute (NAN when unknown). */
static double prev_attr(const td_device *dev, const char *key)
{
    if (!dev->latest)
        return NAN;
    json_t *o = json_loads(dev->latest, 0, NULL);
    json_t *v = json_object_get(json_object_get(o, "attributes"), key);
    if (!v)
        v = json_object_get(o, key);
    double d = json_is_number(v) ? json_number_value(v) : NAN;
    json_decref(o);
    return d;
}

/* A reading or limit as JSON: a whole number as an integer (a heart rate
 * of 131 is 131, not 131.0), anything else as a real. */
static json_t *json_number(double v)
{
    if (v == floor(v) && fabs(v) < 9007199254740992.0)
        return json_integer((json_int_t)v);
    return json_real(v);
}

static json_t *rule_attrs(const rule *r)
{
    return json_pack("{sI}", "ruleId", (json_int_t)r->id);
}

/*
 * A condition that must hold for r->min_ms before it counts: returns true
 * once, when it has held long enough; resets when it stops holding.
 */
static bool sustained(bool *on, int64_t *since, bool cond, int64_t t, int64_t min_ms)
{
    if (!cond) {
        *on = false;
        *since = 0;
        return false;
    }
    if (!*since)
        *since = t ? t : 1;
    if (*on || t - *since < min_ms)
        return false;
    *on = true;
    return true;
}

/* A canonical attribute as a number, if the record has it. */
static bool get_number(const td_record *r, td_attr a, double *out)
{
    if (!td_rec_has(r, a))
        return false;
    switch (td_attr_type_of(a)) {
    case TD_T_INT:
        *out = (double)r->attr[a].i;
        return true;
    case TD_T_DOUBLE:
        *out = r->attr[a].d;
        return true;
    case TD_T_BOOL:
        *out = r->attr[a].b;
        return true;
    default:
        return false;
    }
}

static void eval_fences(td_rules *rs, td_device *dev, const td_record *r, td_emit_fn emit,
                        void *arg)
{
    double margin = rs->cfg->geofence_margin;
    for (int i = 0; i < rs->nfences; i++) {
        fence *f = &rs->fences[i];
        if (!applies(&f->devs, f->owner, f->owner_admin, dev))
            continue;
        bool fresh;
        ritem *it = item(dev, -f->id, &fresh);
        if (!it)
            return;
        if (fresh) {
            /* Where the device was before this fix, if known. */
            double lat = dev->st.has_location ? dev->st.last_latitude : r->latitude;
            double lon = dev->st.has_location ? dev->st.last_longitude : r->longitude;
            it->on = td_area_depth(&f->area, lat, lon) > 0;
        }
        double depth = td_area_depth(&f->area, r->latitude, r->longitude);
        bool was = it->on;
        if (!was && depth > margin)
            it->on = true;
        else if (was && depth < -margin)
            it->on = false;
        if (it->on == was)
            continue;
        json_t *a = json_pack("{sIss}", "geofenceId", (json_int_t)f->id, "geofenceName", f->name);
        emit(arg, dev, it->on ? "geofenceEnter" : "geofenceExit", a);
    }
}

static bool inside_fence(td_rules *rs, int64_t id, double lat, double lon)
{
    for (int i = 0; i < rs->nfences; i++)
        if (rs->fences[i].id == id)
            return td_area_depth(&rs->fences[i].area, lat, lon) > 0;
    return false;
}

static void eval_rule(td_rules *rs, rule *ru, td_device *dev, const td_record *r, td_emit_fn emit,
                      void *arg)
{
    bool fix = r->type == TD_REC_POSITION && r->valid;
    int64_t t = r->time_ms;
    double v;
    bool fresh;
    ritem *it;

    switch (ru->kind) {
    case R_OVERSPEED: {
        if (!fix || !(it = item(dev, ru->id, &fresh)))
            return;
        bool cond = r->speed > ru->above &&
                    (!ru->fence || inside_fence(rs, ru->fence, r->latitude, r->longitude));
        if (sustained(&it->on, &it->since, cond, t, ru->min_ms)) {
            json_t *a = rule_attrs(ru);
            json_object_set_new(a, "speed", json_number(r->speed));
            json_object_set_new(a, "limit", json_number(ru->above));
            emit(arg, dev, "overspeed", a);
        }
        return;
    }
    case R_LOW_BATTERY: {
        if (!get_number(r, TD_ATTR_BATTERY_LEVEL, &v) || !(it = item(dev, ru->id, &fresh)))
            return;
        if (fresh) {
            double prev = prev_attr(dev, "batteryLevel");
            it->on = !isnan(prev) && prev < ru->below;
        }
        if (!it->on && v < ru->below) {
            it->on = true;
            json_t *a = rule_attrs(ru);
            json_object_set_new(a, "batteryLevel", json_number(v));
            json_object_set_new(a, "threshold", json_number(ru->below));
            emit(arg, dev, "lowBattery", a);
        } else if (it->on && v >= ru->below + BATTERY_REARM) {
            it->on = false;
        }
        return;
    }
    case R_MOTION: {
        bool moving;
        if (get_number(r, TD_ATTR_MOTION, &v))
            moving = v != 0;
        else if (fix)
            moving = r->speed > ru->above;
        else
            return;
        if (!(it = item(dev, ru->id, &fresh)))
            return;
        if (fresh) {
            double prev = prev_attr(dev, "speed");
            it->on = !isnan(prev) && prev > ru->above;
        }
        /* on = reported moving; since = when the opposite began. */
        if (moving == it->on) {
            it->since = 0;
            return;
        }
        if (!it->since)
            it->since = t ? t : 1;
        if (t - it->since < ru->min_ms)
            return;
        it->on = moving;
        it->since = 0;
        json_t *a = rule_attrs(ru);
        if (fix)
            json_object_set_new(a, "speed", json_number(r->speed));
        emit(arg, dev, moving ? "motionStart" : "motionStop", a);
        return;
    }
    case R_NO_REPORT:
    case R_ONLINE:
        return; /* td_rules_tick, td_rules_online */
    case R_HEART_RATE:
    case R_SPO2:
    case R_BODY_TEMPERATURE: {
        td_attr attr = ru->kind == R_HEART_RATE ? TD_ATTR_HEART_RATE
                       : ru->kind == R_SPO2     ? TD_ATTR_SPO2
                                                : TD_ATTR_BODY_TEMPERATURE;
        if (!get_number(r, attr, &v) || v <= 0 || !(it = item(dev, ru->id, &fresh)))
            return;
        const char *name = td_attr_name(attr);
        const char *high = ru->kind == R_HEART_RATE ? "heartRateHigh"
                           : ru->kind == R_SPO2     ? NULL
                                                    : "bodyTemperatureHigh";
        const char *low = ru->kind == R_HEART_RATE ? "heartRateLow"
                          : ru->kind == R_SPO2     ? "spo2Low"
                                                   : NULL;
        if (high && !isnan(ru->above) &&
            sustained(&it->on, &it->since, v > ru->above, t, ru->min_ms)) {
            json_t *a = rule_attrs(ru);
            json_object_set_new(a, name, json_number(v));
            json_object_set_new(a, "limit", json_number(ru->above));
            emit(arg, dev, high, a);
        }
        if (low && !isnan(ru->below) &&
            sustained(&it->on2, &it->since2, v < ru->below, t, ru->min_ms)) {
            json_t *a = rule_attrs(ru);
            json_object_set_new(a, name, json_number(v));
            json_object_set_new(a, "limit", json_number(ru->below));
            emit(arg, dev, low, a);
        }
        return;
    }
    }
}

void td_rules_record(td_rules *rs, td_device *dev, const td_record *r, td_emit_fn emit, void *arg)
{
    /* Device alarms: every occurrence of an event alarm, the start of a
     * level alarm. Only position and status records say a level alarm
     * stopped. */
    uint32_t level = r->alarms & LEVEL_ALARMS;
    uint32_t prev = dev->rstate ? dev->rstate->level_alarms : 0;
    uint32_t raise = (r->alarms & ~LEVEL_ALARMS) | (level & ~prev);
    td_rstate *st = state(dev, false);
    if (st && (r->type == TD_REC_POSITION || r->type == TD_REC_STATUS))
        st->level_alarms = level;
    else if (st)
        st->level_alarms |= level;
    for (int i = 0; i < TD_ALARM_COUNT; i++)
        if (raise & TD_ALARM_BIT(i))
            emit(arg, dev, td_alarm_name((td_alarm)i), NULL);

    if (r->type == TD_REC_POSITION && r->valid)
        eval_fences(rs, dev, r, emit, arg);
    for (int i = 0; i < rs->nrules; i++) {
        rule *ru = &rs->rules[i];
        if (applies(&ru->devs, ru->owner, ru->owner_admin, dev))
            eval_rule(rs, ru, dev, r, emit, arg);
    }
}

static int found_event(void *arg, const td_store_event *e)
{
    (void)e;
    *(bool *)arg = true;
    return 1;
}

static bool reported_since(td_rules *rs, const td_device *dev)
{
    bool found = false;
    td_store_event_filter f = {.device_id = dev->st.id,
                               .from_ms = dev->st.last_seen_ms,
                               .to_ms = INT64_MAX,
                               .type = "noReport",
                               .limit = 1};
    if (rs->store)
        rs->store->ops->events(rs->store, &f, found_event, &found);
    return found;
}

void td_rules_tick(td_rules *rs, td_device *dev, int64_t now_ms, td_emit_fn emit, void *arg)
{
    if (!dev->st.last_seen_ms)
        return;
    for (int i = 0; i < rs->nrules; i++) {
        rule *ru = &rs->rules[i];
        if (ru->kind != R_NO_REPORT || ru->min_ms <= 0 ||
            !applies(&ru->devs, ru->owner, ru->owner_admin, dev))
            continue;
        bool fresh;
        ritem *it = item(dev, ru->id, &fresh);
        if (!it)
            return;
        if (now_ms - dev->st.last_seen_ms < ru->min_ms) {
            it->on = false; /* it reported: the next silence counts again */
            continue;
        }
        if (it->on)
            continue;
        it->on = true;
        /* Once per silence, across restarts too: a noReport stored since
         * the device last reported means this silence was reported. */
        if (fresh && reported_since(rs, dev))
            continue;
        json_t *a = rule_attrs(ru);
        json_object_set_new(a, "minutes", json_number((double)ru->min_ms / 60000.0));
        char iso[40];
        json_object_set_new(a, "lastSeen",
                            json_string(td_iso8601(dev->st.last_seen_ms, iso, sizeof(iso))));
        emit(arg, dev, "noReport", a);
    }
}

/* ---- validation for the API --------------------------------------------- */

static int check_number(json_t *attrs, const char *key, bool required, double min, double max,
                        char *err, size_t errcap)
{
    json_t *v = json_object_get(attrs, key);
    if (!v) {
        if (required)
            snprintf(err, errcap, "attribute '%s' is required", key);
        return required ? -1 : 0;
    }
    if (!json_is_number(v) || json_number_value(v) < min || json_number_value(v) > max) {
        snprintf(err, errcap, "attribute '%s' must be a number from %g to %g", key, min, max);
        return -1;
    }
    return 1;
}

int td_rule_check(const char *type, json_t *attrs, char *err, size_t errcap)
{
    static const char *const allowed[NKINDS][5] = {
        {"limit", "minDuration", "geofenceId", NULL},
        {"threshold", NULL},
        {"speed", "minDuration", NULL},
        {"minutes", NULL},
        {"above", "below", "minDuration", NULL},
        {"below", "minDuration", NULL},
        {"above", "minDuration", NULL},
        {NULL},
    };
    size_t k;
    for (k = 0; k < NKINDS; k++)
        if (strcmp(type, kind_names[k]) == 0)
            break;
    if (k == NKINDS) {
        snprintf(err, errcap,
                 "unknown rule type '%s' (overspeed, lowBattery, motion, noReport, heartRate,"
                 " spo2, bodyTemperature, online)",
                 type);
        return -1;
    }
    const char *key;
    json_t *v;
    json_object_foreach(attrs, key, v)
    {
        bool ok = false;
        for (int i = 0; allowed[k][i] && !ok; i++)
            ok = strcmp(key, allowed[k][i]) == 0;
        if (!ok) {
            snprintf(err, errcap, "unknown attribute '%s' for a %s rule", key, type);
            return -1;
        }
    }
    if (check_number(attrs, "minDuration", false, 0, 86400, err, errcap) < 0)
        return -1;
    switch ((rkind)k) {
    case R_OVERSPEED:
        if (check_number(attrs, "limit", true, 1, 2000, err, errcap) < 0)
            return -1;
        v = json_object_get(attrs, "geofenceId");
        if (v && (!json_is_integer(v) || json_integer_value(v) < 1)) {
            snprintf(err, errcap, "attribute 'geofenceId' must be a geofence id");
            return -1;
        }
        return 0;
    case R_LOW_BATTERY:
        return check_number(attrs, "threshold", false, 1, 99, err, errcap) < 0 ? -1 : 0;
    case R_MOTION:
        return check_number(attrs, "speed", false, 0.5, 200, err, errcap) < 0 ? -1 : 0;
    case R_NO_REPORT:
        return check_number(attrs, "minutes", true, 0.05, 60 * 24 * 30, err, errcap) < 0 ? -1 : 0;
    case R_HEART_RATE: {
        int a = check_number(attrs, "above", false, 20, 300, err, errcap);
        int b = a < 0 ? -1 : check_number(attrs, "below", false, 20, 300, err, errcap);
        if (a < 0 || b < 0)
            return -1;
        if (!a && !b) {
            snprintf(err, errcap, "a heartRate rule needs 'above', 'below' or both");
            return -1;
        }
        return 0;
    }
    case R_SPO2:
        return check_number(attrs, "below", true, 50, 100, err, errcap) < 0 ? -1 : 0;
    case R_BODY_TEMPERATURE:
        return check_number(attrs, "above", true, 30, 45, err, errcap) < 0 ? -1 : 0;
    case R_ONLINE:
        return 0;
    }
    return 0;
}
