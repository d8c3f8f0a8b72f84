"""Server-side rules and event handling against the real server: geofence
crossings of a polygon and a circle (with GPS jitter at the edges and an
invalid fix), overspeed, motion, low battery once per crossing, health
thresholds from real IW health frames (with a minimum duration), no report
raised by the timer with no traffic (once per silence, across a restart),
online/offline, and acknowledging, closing and re-notifying a critical SOS.
"""
import argparse
import json
import os
import tempfile
import time

import tdtest as t
from families import watch_frame

ap = argparse.ArgumentParser()
ap.add_argument("--trackd", required=True)
ap.add_argument("--vectors")
a = ap.parse_args()

ADMIN_PW = "alerts-admin-pw"
work = tempfile.mkdtemp(prefix="trackd-alerts-")
db = os.path.join(work, "t.db")
# Ordinary users' webhooks post to a receiver on loopback.
ARGS = ("--admin-password", ADMIN_PW, "--renotify-interval", "2", "--geofence-margin", "20",
        "--notify-retry-max", "1", "--webhook-allow-local")


def login(port, user, password):
    r = t.request(port, "POST", "/api/session", {"user": user, "password": password})
    assert r.status == 200, r.body
    return {"Cookie": r.header("set-cookie").split(";")[0]}


def call(port, auth, method, path, body=None):
    return t.request(port, method, path, body, headers=auth)


def expect(r, status, what, fragment=None):
    msg = (r.json() or {}).get("error", "") if r.body and r.status >= 400 else ""
    return t.check(r.status == status and (fragment is None or fragment in msg),
                   f"{what}: {status}{' ' + repr(fragment) if fragment else ''}"
                   f" (got {r.status} {r.body[:160]!r})")


def events(port, auth, dev_id, **q):
    qs = "&".join(f"{k}={v}" for k, v in q.items())
    r = call(port, auth, "GET", f"/api/events?deviceId={dev_id}&limit=1000&{qs}")
    return r.json() or []


def types(port, auth, dev_id):
    return [e["type"] for e in events(port, auth, dev_id)]


def send(sock, frame):
    """One IW frame; waits for its acknowledgement (after the commit)."""
    sock.sendall(frame)
    return t.recv_until(sock, b"#")


def wait_for(fn, timeout=8.0):
    deadline = time.time() + timeout
    v = fn()
    while not v and time.time() < deadline:
        time.sleep(0.1)
        v = fn()
    return v


T0 = int(time.time()) - 3600
clock = [T0]


def tick(step=10):
    clock[0] += step
    return clock[0]


srv = t.Server(a.trackd, db, *ARGS, http=True)
try:
    port = srv.http_port
    admin = login(port, "admin", ADMIN_PW)
    for name in ("olga", "piet"):
        call(port, admin, "POST", "/api/users", {"name": name, "password": name + "-password"})
    olga = login(port, "olga", "olga-password")
    piet = login(port, "piet", "piet-password")
    devs = {}
    for i, name in enumerate(("fence", "speed", "health", "silent", "sos", "hold", "zone")):
        imei = f"86100000000000{i}"
        devs[name] = call(port, olga, "POST", "/api/devices",
                          {"uniqueId": imei, "name": name}).json()
        devs[name]["imei"] = imei

    # ---- rules through the API: validation ---------------------------------
    bad = [
        ({"type": "teleport"}, "unknown rule type"),
        ({"type": "overspeed"}, "'limit' is required"),
        ({"type": "overspeed", "attributes": {"limit": "fast"}}, "'limit' must be a number"),
        ({"type": "overspeed", "attributes": {"limit": 50, "colour": 1}}, "unknown attribute"),
        ({"type": "heartRate", "attributes": {}}, "'above', 'below' or both"),
        ({"type": "spo2", "attributes": {"below": 120}}, "'below' must be a number"),
        ({"type": "noReport", "attributes": {"minutes": -1}}, "'minutes'"),
        ({"type": "lowBattery", "attributes": []}, "must be an object"),
        ({"type": "lowBattery", "deviceIds": [999999]}, "not found"),
        ({"type": "overspeed", "attributes": {"limit": 50, "geofenceId": 999999}}, "not found"),
    ]
    for body, fragment in bad:
        r = call(port, olga, "POST", "/api/rules", body)
        expect(r, 404 if fragment == "not found" else 400, f"bad rule {body}", fragment)

    def rule(kind, dev, **attrs):
        r = call(port, olga, "POST", "/api/rules",
                 {"type": kind, "deviceIds": [devs[dev]["id"]], "attributes": attrs})
        expect(r, 200, f"{kind} rule for {dev}")
        return r.json() or {}

    rule("overspeed", "speed", limit=50)
    rule("motion", "speed", speed=5)
    rule("lowBattery", "health", threshold=20)
    rule("heartRate", "health", above=120, below=40)
    rule("spo2", "health", below=90)
    rule("bodyTemperature", "health", above=38)
    rule("heartRate", "hold", above=100, minDuration=2)
    silent_rule = rule("noReport", "silent", minutes=0.05)  # 3 s
    rule("online", "silent")
    r = call(port, olga, "GET", "/api/rules")
    t.check(r.status == 200 and len(r.json()) == 9, f"olga lists her 9 rules: {r.body[:200]!r}")
    t.check(call(port, piet, "GET", "/api/rules").json() == [], "piet sees none of them")
    expect(call(port, piet, "DELETE", f"/api/rules/{silent_rule.get('id')}"), 404,
           "piet cannot delete olga's rule")
    r = call(port, olga, "PUT", f"/api/rules/{silent_rule.get('id')}",
             {"type": "noReport", "deviceIds": [devs["silent"]["id"]],
              "attributes": {"minutes": 0.05}})
    t.check(r.status == 200 and r.json()["attributes"] == {"minutes": 0.05},
            f"rule replaced: {r.body!r}")

    # ---- geofences: a polygon and a circle, crossed with jitter ------------
    poly = call(port, olga, "POST", "/api/geofences",
                {"name": "Yard", "deviceIds": [devs["fence"]["id"]],
                 "area": {"type": "polygon", "coordinates": [[22.50, 114.00], [22.50, 114.01],
                                                            [22.51, 114.01], [22.51, 114.00]]}})
    circ = call(port, olga, "POST", "/api/geofences",
                {"name": "Clinic", "deviceIds": [devs["fence"]["id"]],
                 "area": {"type": "circle", "latitude": 22.60, "longitude": 114.05,
                          "radius": 500}})
    t.check(poly.status == 200 and circ.status == 200, "two geofences drawn")
    poly, circ = poly.json(), circ.json()
    M = 1 / 111195.0  # degrees of latitude per metre
    track = [
        (22.49, 114.005, True),             # outside both
        (22.50 - 10 * M, 114.005, True),    # jitter across the south edge: +-10 m
        (22.50 + 8 * M, 114.005, True),
        (22.50 - 6 * M, 114.005, True),
        (22.50 + 12 * M, 114.005, True),
        (22.505, 114.005, True),            # well inside: enter Yard
        (22.51 + 9 * M, 114.005, True),     # jitter across the north edge from inside
        (22.51 - 7 * M, 114.005, True),
        (22.52, 114.005, True),             # out: exit Yard
        (22.60, 114.05, False),             # an invalid fix in the Clinic: ignored
        (22.53, 114.005, True),
        (22.60, 114.05, True),              # enter Clinic
        (22.60 + 510 * M, 114.05, True),    # 10 m outside the circle: jitter
        (22.60 + 490 * M, 114.05, True),
        (22.61, 114.05, True),              # 1.1 km out: exit Clinic
    ]
    sock = t.iw_login(srv.port, devs["fence"]["imei"])
    for lat, lon, valid in track:
        send(sock, t.iw_position(tick(), lat=lat, lon=lon, valid=valid))
    ev = events(port, olga, devs["fence"]["id"])
    got = [(e["type"], e["attributes"].get("geofenceName")) for e in ev]
    t.check(got == [("geofenceEnter", "Yard"), ("geofenceExit", "Yard"),
                    ("geofenceEnter", "Clinic"), ("geofenceExit", "Clinic")],
            f"exactly enter/exit Yard, enter/exit Clinic: {got}")
    t.check(all(e["positionId"] and e["latitude"] is not None for e in ev),
            "geofence events carry their position")
    t.check(ev and ev[0]["attributes"].get("geofenceId") == poly["id"] and
            abs(ev[0]["latitude"] - 22.505) < 1e-4, f"enter event at the fix inside: {ev[:1]}")
    sock.close()

    # An overspeed limit that holds only inside a geofence, for 20 s.
    r = call(port, olga, "POST", "/api/rules",
             {"type": "overspeed", "deviceIds": [devs["zone"]["id"]],
              "attributes": {"limit": 30, "geofenceId": poly["id"], "minDuration": 20}})
    expect(r, 200, "overspeed rule limited to the Yard")
    sock = t.iw_login(srv.port, devs["zone"]["imei"])
    for lat, speed, step in ((22.49, 60, 10), (22.49, 70, 30),      # fast outside: nothing
                             (22.505, 60, 10), (22.505, 65, 10),    # inside for 10 s: not yet
                             (22.505, 20, 10), (22.505, 60, 10),    # slowed down: starts again
                             (22.505, 62, 15), (22.505, 64, 10)):   # 25 s over: one event
        send(sock, t.iw_position(tick(step), lat=lat, lon=114.005, speed=speed))
    ov = events(port, olga, devs["zone"]["id"])
    t.check([(e["type"], e["attributes"].get("speed")) for e in ov] == [("overspeed", 64)],
            f"geofence overspeed after its minimum duration, only inside: {ov}")
    sock.close()

    # ---- overspeed and motion ------------------------------------------------
    sock = t.iw_login(srv.port, devs["speed"]["imei"])
    for speed in (0, 30, 80, 90, 30, 70, 0):
        send(sock, t.iw_position(tick(), speed=speed))
    got = types(port, olga, devs["speed"]["id"])
    t.check(got == ["motionStart", "overspeed", "overspeed", "motionStop"],
            f"overspeed once per excursion, motion start/stop: {got}")
    ov = [e for e in events(port, olga, devs["speed"]["id"]) if e["type"] == "overspeed"]
    t.check(ov and ov[0]["attributes"].get("speed") == 80 and
            ov[0]["attributes"].get("limit") == 50, f"overspeed attributes: {ov[:1]}")
    sock.close()

    # ---- battery and health from IW frames -----------------------------------
    sock = t.iw_login(srv.port, devs["health"]["imei"])
    for frame in (b"IWAP50,36.5,25#", b"IWAP50,36.5,15#", b"IWAP50,36.6,12#",
                  b"IWAP50,36.6,30#", b"IWAP50,36.6,10#",       # low battery twice
                  b"IWAP49,130#", b"IWAP49,135#", b"IWAP49,80#", b"IWAP49,35#",  # high, low
                  b"IWAPHP,60,130,85,88,90,36.5,,,,,,,#",        # SpO2 88
                  b"IWAP50,38.6,80#"):                           # fever
        reply = send(sock, frame)
        t.check(reply.startswith(b"IWBP"), f"{frame!r} answered: {reply!r}")
    got = types(port, olga, devs["health"]["id"])
    t.check(got == ["lowBattery", "lowBattery", "heartRateHigh", "heartRateLow", "spo2Low",
                    "bodyTemperatureHigh"], f"battery and health events: {got}")
    hr = [e for e in events(port, olga, devs["health"]["id"]) if e["type"] == "heartRateHigh"]
    t.check(hr and hr[0]["attributes"].get("heartRate") == 130 and
            hr[0]["attributes"].get("limit") == 120, f"heart rate event values: {hr[:1]}")
    # Whole readings stay integers (130, not 130.0) in the event's JSON.
    t.check(hr and type(hr[0]["attributes"]["heartRate"]) is int and
            type(hr[0]["attributes"]["limit"]) is int, f"as integers: {hr[:1]}")
    sock.close()

    # ---- the same thresholds from a 3G watch's health frames ----------------
    wear = call(port, olga, "POST", "/api/devices", {"uniqueId": "8800000077", "name": "wear"}).json()
    expect(call(port, olga, "POST", "/api/rules",
                {"type": "heartRate", "deviceIds": [wear["id"]], "attributes": {"above": 120, "below": 40}}),
           200, "heartRate rule for the watch")
    expect(call(port, olga, "POST", "/api/rules",
                {"type": "spo2", "deviceIds": [wear["id"]], "attributes": {"below": 90}}),
           200, "spo2 rule for the watch")
    expect(call(port, olga, "POST", "/api/rules",
                {"type": "bodyTemperature", "deviceIds": [wear["id"]], "attributes": {"above": 38}}),
           200, "bodyTemperature rule for the watch")
    sock = t.tcp(srv.port)
    for content, answer in (("LK,50,100,80", b"LK"),
                            ("bphrt,125,85,131,170,1,40,70", b"bphrt"),   # heart rate 131
                            ("bphrt,110,70,72,170,1,40,70", b"bphrt"),
                            ("bphrt,100,60,36,170,1,40,70", b"bphrt"),    # 36: low
                            ("oxygen,1,87", b"oxygen,1"),
                            ("btemp2,1,38.7", b"btemp2")):
        sock.sendall(watch_frame("8800000077", content))
        reply = t.recv_until(sock, b"]")
        t.check(answer in reply, f"watch {content} answered: {reply!r}")
    got = types(port, olga, wear["id"])
    t.check(got == ["heartRateHigh", "heartRateLow", "spo2Low", "bodyTemperatureHigh"],
            f"watch health events: {got}")
    ev = {e["type"]: e["attributes"] for e in events(port, olga, wear["id"])}
    t.check(ev.get("heartRateHigh", {}).get("heartRate") == 131 and
            ev.get("spo2Low", {}).get("spo2") == 87 and
            ev.get("bodyTemperatureHigh", {}).get("bodyTemperature") == 38.7,
            f"watch health event values: {ev}")
    t.check(type(ev.get("heartRateHigh", {}).get("heartRate")) is int and
            type(ev.get("bodyTemperatureHigh", {}).get("bodyTemperature")) is float,
            "a whole heart rate as an integer, a temperature as a real")
    sock.close()

    # A minimum duration: one high reading is not enough; still high 2 s on is.
    sock = t.iw_login(srv.port, devs["hold"]["imei"])
    send(sock, b"IWAP49,110#")
    t.check(types(port, olga, devs["hold"]["id"]) == [], "one reading over the limit: no event")
    time.sleep(2.2)
    send(sock, b"IWAP49,112#")
    t.check(types(port, olga, devs["hold"]["id"]) == ["heartRateHigh"],
            "over the limit for 2 s: heartRateHigh")
    sock.close()

    # ---- no report: raised by the timer, with no traffic ---------------------
    sock = t.iw_login(srv.port, devs["silent"]["imei"])
    send(sock, t.iw_position(tick()))
    sent_at = time.time()
    got = wait_for(lambda: "noReport" in types(port, olga, devs["silent"]["id"]), 10)
    t.check(got and time.time() - sent_at >= 2.5,
            f"noReport raised after 3 s of silence ({time.time() - sent_at:.1f} s)")
    time.sleep(2)
    t.check(types(port, olga, devs["silent"]["id"]).count("noReport") == 1,
            "once per silence")
    nr = [e for e in events(port, olga, devs["silent"]["id"]) if e["type"] == "noReport"]
    t.check(nr and str(nr[0]["attributes"].get("lastSeen", "")).endswith("Z") and
            nr[0]["attributes"].get("minutes") == 0.05,
            f"noReport attributes: the limit and the last report as ISO 8601: {nr[:1]}")
    t.check(types(port, olga, devs["silent"]["id"])[:1] == ["deviceOnline"],
            f"online rule: deviceOnline first: {types(port, olga, devs['silent']['id'])}")
    sock.close()
    t.check(wait_for(lambda: "deviceOffline" in types(port, olga, devs["silent"]["id"])),
            "online rule: deviceOffline when the connection closes")

    # ---- a critical SOS: acknowledge, close, reminders -----------------------
    hook = call(port, olga, "POST", "/api/notifications",
                {"channel": "webhook", "target": "http://127.0.0.1:9/unreachable",
                 "eventTypes": ["sos"], "deviceIds": [devs["sos"]["id"]]})
    expect(hook, 200, "a webhook channel for SOS")
    sock = t.iw_login(srv.port, devs["sos"]["imei"])
    send(sock, t.iw_alarm(tick(), "01"))
    send(sock, t.iw_alarm(tick(), "01"))
    sos = events(port, olga, devs["sos"]["id"], type="sos")
    t.check(len(sos) == 2 and all(e["state"] == "new" and e["critical"] for e in sos),
            f"two SOS events, new and critical: {sos}")
    first, second = sos[0]["id"], sos[1]["id"]
    newest = events(port, olga, devs["sos"]["id"], state="new", order="desc")
    t.check([e["id"] for e in newest] == [second, first], "state=new&order=desc lists newest first")
    t.check(wait_for(lambda: t.db_rows(db, "SELECT count(*) FROM outbox WHERE event_id = ? AND"
                                           " renotify = 1", (first,))[0][0] >= 1, 8),
            "an unacknowledged SOS is re-notified")
    expect(call(port, piet, "POST", f"/api/events/{first}/ack", {"note": "x"}), 404,
           "piet cannot acknowledge olga's event")
    expect(call(port, olga, "POST", f"/api/events/{first}/ack", {"note": 5}), 400,
           "a note must be a string")
    r = call(port, olga, "POST", f"/api/events/{first}/ack", {"note": "called her, on my way"})
    e = r.json() or {}
    t.check(r.status == 200 and e.get("state") == "acknowledged" and
            e.get("acknowledgedBy") == "olga" and e.get("note") == "called her, on my way" and
            e.get("acknowledgedAt"), f"acknowledged with who, when and note: {r.body!r}")
    expect(call(port, olga, "POST", f"/api/events/{first}/ack"), 409, "acknowledge twice",
           "already acknowledged")
    reminders = t.db_rows(db, "SELECT count(*) FROM outbox WHERE event_id = ? AND renotify = 1",
                          (first,))[0][0]
    time.sleep(3)
    t.check(t.db_rows(db, "SELECT count(*) FROM outbox WHERE event_id = ? AND renotify = 1",
                      (first,))[0][0] == reminders, "no reminders after the acknowledgement")
    r = call(port, olga, "POST", f"/api/events/{first}/close", {})
    t.check(r.status == 200 and r.json()["state"] == "closed" and r.json()["closedAt"] and
            r.json()["note"] == "called her, on my way", f"closed: {r.body!r}")
    expect(call(port, olga, "POST", f"/api/events/{first}/close"), 409, "close twice",
           "already closed")
    r = call(port, olga, "POST", f"/api/events/{second}/close", {"note": "false alarm"})
    t.check(r.status == 200 and r.json()["state"] == "closed" and
            r.json()["acknowledgedBy"] == "olga", "closing a new event records who")
    t.check([e["state"] for e in events(port, olga, devs["sos"]["id"], type="sos")] ==
            ["closed", "closed"], "both closed in the list")
    sock.close()
    m = t.request(port, "GET", "/metrics").body.decode()
    t.check('trackd_notifications{state="pending"}' in m and
            'trackd_notification_attempts_total{outcome="failed"}' in m,
            "metrics report the notification outbox")
    srv.stop()

    # ---- across a restart: the silence was reported once -----------------------
    count = t.db_rows(db, "SELECT count(*) FROM events WHERE type = 'noReport'")[0][0]
    srv = t.Server(a.trackd, db, *ARGS, http=True)
    port = srv.http_port
    olga = login(port, "olga", "olga-password")
    time.sleep(3)
    t.check(t.db_rows(db, "SELECT count(*) FROM events WHERE type = 'noReport'")[0][0] == count,
            "no second noReport for the same silence after a restart")
    sock = t.iw_login(srv.port, devs["silent"]["imei"])
    send(sock, t.iw_position(tick()))
    t.check(wait_for(lambda: t.db_rows(db, "SELECT count(*) FROM events WHERE type ="
                                           " 'noReport'")[0][0] == count + 1, 10),
            "a new silence after a report raises noReport again")
    sock.close()
    # The geofence state comes back from the last fix: no event on restart,
    # an exit when the device leaves.
    sock = t.iw_login(srv.port, devs["fence"]["imei"])
    send(sock, t.iw_position(tick(), lat=22.505, lon=114.005))
    send(sock, t.iw_position(tick(), lat=22.506, lon=114.005))
    got = [e["type"] for e in events(port, olga, devs["fence"]["id"])][4:]
    t.check(got == ["geofenceEnter"], f"entering again after the restart: {got}")
    send(sock, t.iw_position(tick(), lat=22.49, lon=114.005))
    got = [e["type"] for e in events(port, olga, devs["fence"]["id"])][4:]
    t.check(got == ["geofenceEnter", "geofenceExit"], f"then leaving: {got}")
    sock.close()
finally:
    srv.stop()

t.finish("alerts")
