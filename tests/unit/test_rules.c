/*
 * The rule engine without a server: geofence geometry (circle and polygon
 * depth, in metres), rule validation for the API, critical event types,
 * and level device alarms raised once per start.
 */
#include "support.h"

#include <math.h>
#include <string.h>

#include "core/config.h"
#include "core/rules.h"

#define M_PER_DEG_LAT 111195.0 /* metres per degree of latitude (mean radius) */

static void test_distance(void **state)
{
    (void)state;
    /* One degree of latitude, and a known city pair (Paris-London, ~343.5 km). */
    assert_true(fabs(td_geo_distance(0, 0, 1, 0) - M_PER_DEG_LAT) < 1);
    double d = td_geo_distance(48.8566, 2.3522, 51.5074, -0.1278);
    assert_true(d > 343000 && d < 344500);
    assert_true(td_geo_distance(22.5, 114.0, 22.5, 114.0) < 1e-6);
}

static void test_circle_depth(void **state)
{
    td_area a;
    (void)state;
    assert_int_equal(
        td_area_parse("{\"type\":\"circle\",\"latitude\":22.6,\"longitude\":114.05,\"radius\":500}",
                      &a),
        0);
    assert_true(a.circle);
    assert_true(fabs(td_area_depth(&a, 22.6, 114.05) - 500) < 0.01);
    /* 490 m north: 10 m inside; 510 m north: 10 m outside. */
    assert_true(fabs(td_area_depth(&a, 22.6 + 490 / M_PER_DEG_LAT, 114.05) - 10) < 0.1);
    assert_true(fabs(td_area_depth(&a, 22.6 + 510 / M_PER_DEG_LAT, 114.05) + 10) < 0.1);
    td_area_free(&a);
}

static void test_polygon_depth(void **state)
{
    td_area a;
    (void)state;
    /* A square of about 1.1 km by 1.03 km. */
    assert_int_equal(td_area_parse("{\"type\":\"polygon\",\"coordinates\":[[22.50,114.00],[22.50,"
                                   "114.01],[22.51,114.01],[22.51,114.00]]}",
                                   &a),
                     0);
    assert_false(a.circle);
    assert_int_equal(a.npts, 4);
    /* 100 m inside the south edge, nearer to it than to the others. */
    double d = td_area_depth(&a, 22.50 + 100 / M_PER_DEG_LAT, 114.005);
    assert_true(fabs(d - 100) < 0.5);
    /* 30 m south of it: outside by 30 m. */
    d = td_area_depth(&a, 22.50 - 30 / M_PER_DEG_LAT, 114.005);
    assert_true(fabs(d + 30) < 0.5);
    /* Beyond a corner: the distance to the corner. */
    d = td_area_depth(&a, 22.50 - 30 / M_PER_DEG_LAT, 113.99);
    assert_true(d < -1000);
    td_area_free(&a);

    /* A concave "L": the notch is outside. */
    assert_int_equal(td_area_parse("{\"type\":\"polygon\",\"coordinates\":[[0,0],[0,0.02],[0.01,"
                                   "0.02],[0.01,0.01],[0.02,0.01],[0.02,0]]}",
                                   &a),
                     0);
    assert_true(td_area_depth(&a, 0.005, 0.005) > 0);
    assert_true(td_area_depth(&a, 0.015, 0.015) < 0);
    assert_true(td_area_depth(&a, 0.015, 0.005) > 0);
    td_area_free(&a);

    assert_int_not_equal(td_area_parse("{\"type\":\"polygon\",\"coordinates\":[[0,0],[1,1]]}", &a),
                         0);
    assert_int_not_equal(td_area_parse("{\"type\":\"square\"}", &a), 0);
    assert_int_not_equal(td_area_parse("not json", &a), 0);
}

static void check_rule(const char *type, const char *attrs, const char *err_has)
{
    char err[160] = "";
    json_t *a = json_loads(attrs, 0, NULL);
    assert_non_null(a);
    int rc = td_rule_check(type, a, err, sizeof(err));
    json_decref(a);
    if (!err_has) {
        if (rc != 0)
            fail_msg("%s %s refused: %s", type, attrs, err);
        return;
    }
    if (rc == 0 || !strstr(err, err_has))
        fail_msg("%s %s: expected an error with '%s', got %d '%s'", type, attrs, err_has, rc, err);
}

static void test_rule_validation(void **state)
{
    (void)state;
    check_rule("overspeed", "{\"limit\":80}", NULL);
    check_rule("overspeed", "{\"limit\":80,\"minDuration\":30,\"geofenceId\":3}", NULL);
    check_rule("overspeed", "{}", "'limit' is required");
    check_rule("overspeed", "{\"limit\":0}", "'limit' must be a number from 1");
    check_rule("overspeed", "{\"limit\":80,\"geofenceId\":\"a\"}", "geofenceId");
    check_rule("lowBattery", "{}", NULL);
    check_rule("lowBattery", "{\"threshold\":100}", "threshold");
    check_rule("motion", "{\"speed\":3,\"minDuration\":60}", NULL);
    check_rule("noReport", "{\"minutes\":30}", NULL);
    check_rule("noReport", "{}", "'minutes' is required");
    check_rule("heartRate", "{\"above\":120}", NULL);
    check_rule("heartRate", "{\"below\":45,\"minDuration\":60}", NULL);
    check_rule("heartRate", "{\"minDuration\":60}", "'above', 'below' or both");
    check_rule("heartRate", "{\"above\":\"120\"}", "'above' must be a number");
    check_rule("spo2", "{\"below\":92}", NULL);
    check_rule("spo2", "{}", "'below' is required");
    check_rule("bodyTemperature", "{\"above\":38}", NULL);
    check_rule("bodyTemperature", "{\"above\":38,\"below\":35}", "unknown attribute 'below'");
    check_rule("online", "{}", NULL);
    check_rule("online", "{\"x\":1}", "unknown attribute");
    check_rule("teleport", "{}", "unknown rule type");
    check_rule("overspeed", "{\"limit\":80,\"minDuration\":-1}", "minDuration");
}

typedef struct emitted {
    const char *types[16];
    int n;
} emitted;

static void collect(void *arg, td_device *dev, const char *type, json_t *attrs)
{
    emitted *e = arg;
    (void)dev;
    json_decref(attrs);
    if (e->n < 16)
        e->types[e->n++] = type;
}

static void test_critical_and_level_alarms(void **state)
{
    td_config cfg;
    td_device dev;
    td_record r;
    emitted e = {0};
    (void)state;

    td_config_defaults(&cfg);
    snprintf(cfg.critical_events, sizeof(cfg.critical_events), "sos, fall,noReport");
    td_rules *rs = td_rules_new(&cfg);
    assert_non_null(rs);
    assert_true(td_rules_critical(rs, "sos"));
    assert_true(td_rules_critical(rs, "fall"));
    assert_true(td_rules_critical(rs, "noReport"));
    assert_false(td_rules_critical(rs, "lowBattery"));
    assert_false(td_rules_critical(rs, "so"));

    memset(&dev, 0, sizeof(dev));
    dev.st.id = 1;
    /* A watch reports low battery in every status while it lasts: one
     * event; an SOS is an event every time. */
    td_record_init(&r, TD_REC_STATUS);
    td_rec_alarm(&r, TD_ALARM_LOW_BATTERY);
    td_rules_record(rs, &dev, &r, collect, &e);
    td_rules_record(rs, &dev, &r, collect, &e);
    td_rec_alarm(&r, TD_ALARM_SOS);
    td_rules_record(rs, &dev, &r, collect, &e);
    assert_int_equal(e.n, 2);
    assert_string_equal(e.types[0], "lowBattery");
    assert_string_equal(e.types[1], "sos");
    /* A heartbeat without the flag says nothing; a status without it ends
     * the low battery, so the next one is an event again. */
    td_record_init(&r, TD_REC_HEARTBEAT);
    td_rules_record(rs, &dev, &r, collect, &e);
    td_record_init(&r, TD_REC_STATUS);
    td_rec_alarm(&r, TD_ALARM_LOW_BATTERY);
    td_rules_record(rs, &dev, &r, collect, &e);
    assert_int_equal(e.n, 2);
    td_record_init(&r, TD_REC_STATUS);
    td_rules_record(rs, &dev, &r, collect, &e);
    td_rec_alarm(&r, TD_ALARM_LOW_BATTERY);
    td_rules_record(rs, &dev, &r, collect, &e);
    assert_int_equal(e.n, 3);
    assert_string_equal(e.types[2], "lowBattery");

    td_rules_forget(&dev);
    td_rules_free(rs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_distance),
        cmocka_unit_test(test_circle_depth),
        cmocka_unit_test(test_polygon_depth),
        cmocka_unit_test(test_rule_validation),
        cmocka_unit_test(test_critical_and_level_alarms),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
