/*
 * The one record model every protocol decodes into.
 *
 * A record is a fixed struct: the common fields (type, device, time, fix),
 * a bit set of alarms, typed canonical attributes keyed by an enum generated
 * from TD_ATTR_MAP (names as in CONTRACT.md), cell/Wi-Fi/BLE scans, and a
 * small bounded list of raw attributes for fields a decoder keeps without
 * giving them a canonical meaning. Nothing in a record is heap-allocated, so
 * decoders fill caller-provided records and never allocate.
 */
#ifndef TRACKD_RECORD_H
#define TRACKD_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum td_rec_type {
    TD_REC_POSITION, /* carries a location fix (possibly valid = false) */
    TD_REC_STATUS,   /* telemetry without a fix */
    TD_REC_LOGIN,
    TD_REC_HEARTBEAT,
    TD_REC_ACK,
    TD_REC_OTHER,
} td_rec_type;

/* Canonical attributes: XX(ENUM, "name", TYPE). */
#define TD_ATTR_MAP(XX)                                                                            \
    XX(BATTERY_LEVEL, "batteryLevel", INT)                                                         \
    XX(BATTERY, "battery", DOUBLE)                                                                 \
    XX(CHARGING, "charging", BOOL)                                                                 \
    XX(RSSI, "rssi", INT)                                                                          \
    XX(SATELLITES, "satellites", INT)                                                              \
    XX(HDOP, "hdop", DOUBLE)                                                                       \
    XX(ODOMETER, "odometer", DOUBLE)                                                               \
    XX(STEPS, "steps", INT)                                                                        \
    XX(HEART_RATE, "heartRate", INT)                                                               \
    XX(SPO2, "spo2", INT)                                                                          \
    XX(SYSTOLIC, "systolic", INT)                                                                  \
    XX(DIASTOLIC, "diastolic", INT)                                                                \
    XX(BODY_TEMPERATURE, "bodyTemperature", DOUBLE)                                                \
    XX(BLOOD_SUGAR, "bloodSugar", DOUBLE)                                                          \
    XX(IGNITION, "ignition", BOOL)                                                                 \
    XX(MOTION, "motion", BOOL)

typedef enum td_attr {
#define XX(id, name, type) TD_ATTR_##id,
    TD_ATTR_MAP(XX)
#undef XX
        TD_ATTR_COUNT
} td_attr;

typedef enum td_attr_type { TD_T_INT, TD_T_DOUBLE, TD_T_BOOL, TD_T_STRING } td_attr_type;

/* Alarms: XX(ENUM, "name"). Server-side rules produce the same names. */
#define TD_ALARM_MAP(XX)                                                                           \
    XX(SOS, "sos")                                                                                 \
    XX(FALL, "fall")                                                                               \
    XX(LOW_BATTERY, "lowBattery")                                                                  \
    XX(GEOFENCE_ENTER, "geofenceEnter")                                                            \
    XX(GEOFENCE_EXIT, "geofenceExit")                                                              \
    XX(MOVEMENT, "movement")                                                                       \
    XX(VIBRATION, "vibration")                                                                     \
    XX(OVERSPEED, "overspeed")                                                                     \
    XX(POWER_CUT, "powerCut")                                                                      \
    XX(REMOVAL, "removal")                                                                         \
    XX(TAMPER, "tamper")                                                                           \
    XX(LOW_POWER, "lowPower")

typedef enum td_alarm {
#define XX(id, name) TD_ALARM_##id,
    TD_ALARM_MAP(XX)
#undef XX
        TD_ALARM_COUNT
} td_alarm;

#define TD_ALARM_BIT(a) (1u << (a))

#define TD_DEVICE_ID_MAX 32 /* unique ids longer than 31 bytes are rejected */
#define TD_MAX_CELLS 16
#define TD_MAX_WIFI 24
#define TD_MAX_BLE 16
#define TD_MAX_RAW 24
#define TD_RAW_ARENA 1024 /* bytes for raw keys and string values */

typedef struct td_cell {
    int mcc, mnc;
    int64_t lac, cid;
    int rssi;
    bool has_rssi;
} td_cell;

typedef struct td_wifi {
    char mac[18]; /* "aa:bb:cc:dd:ee:ff", lower case */
    int rssi;
} td_wifi;

typedef struct td_raw {
    uint16_t key; /* offset of the NUL-terminated key in the arena */
    uint16_t str; /* offset of the string value (TD_T_STRING) */
    td_attr_type type;
    union {
        int64_t i;
        double d;
        bool b;
    } v;
} td_raw;

typedef struct td_record {
    td_rec_type type;
    char device_id[TD_DEVICE_ID_MAX]; /* "" when the device is not yet known */
    int64_t time_ms;                  /* UTC, milliseconds since the epoch */
    bool has_time;                    /* false: the frame carried no time */
    bool valid;
    double latitude, longitude; /* degrees, only for TD_REC_POSITION */
    double speed;               /* km/h */
    double course;              /* degrees */
    double altitude;            /* metres */
    uint32_t alarms;            /* TD_ALARM_BIT set */

    uint32_t attr_set; /* bit i: attribute i is present */
    union {
        int64_t i;
        double d;
        bool b;
    } attr[TD_ATTR_COUNT];

    td_cell cells[TD_MAX_CELLS];
    int ncells;
    td_wifi wifi[TD_MAX_WIFI];
    int nwifi;
    td_wifi ble[TD_MAX_BLE];
    int nble;

    td_raw raw[TD_MAX_RAW];
    int nraw;
    uint16_t arena_used;
    char arena[TD_RAW_ARENA];
} td_record;

/* Resets a record to empty of the given type. */
void td_record_init(td_record *r, td_rec_type type);

void td_rec_set_int(td_record *r, td_attr a, int64_t v);
void td_rec_set_double(td_record *r, td_attr a, double v);
void td_rec_set_bool(td_record *r, td_attr a, bool v);
bool td_rec_has(const td_record *r, td_attr a);
void td_rec_alarm(td_record *r, td_alarm a);

/* Raw attributes: kept in the record's arena. They return TD_ENOMEM (and
 * keep the record usable) when the arena or the list is full. */
int td_rec_raw_str(td_record *r, const char *key, const char *val, size_t len);
int td_rec_raw_int(td_record *r, const char *key, int64_t v);
int td_rec_raw_double(td_record *r, const char *key, double v);
int td_rec_raw_bool(td_record *r, const char *key, bool v);
const td_raw *td_rec_raw_find(const td_record *r, const char *key);

int td_rec_add_cell(td_record *r, int mcc, int mnc, int64_t lac, int64_t cid, bool has_rssi,
                    int rssi);
/* Adds a scan entry; mac is normalised to lower-case colon form. Returns
 * TD_EINVAL for a MAC that is not 12 hex digits. */
int td_rec_add_wifi(td_record *r, const char *mac, size_t len, int rssi);
int td_rec_add_ble(td_record *r, const char *mac, size_t len, int rssi);

const char *td_rec_type_name(td_rec_type t);
const char *td_attr_name(td_attr a);
td_attr_type td_attr_type_of(td_attr a);
const char *td_alarm_name(td_alarm a);
/* Returns the alarm for a name, or -1. */
int td_alarm_from_name(const char *name);

#endif
