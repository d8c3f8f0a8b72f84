"""Geofences through the API of the real server: create, list, replace and
delete circles and polygons; validation of areas and device lists; each
user sees only their own geofences (admins all); the store keeps them
across a restart."""
import argparse
import os
import tempfile

import tdtest as t

ap = argparse.ArgumentParser()
ap.add_argument("--trackd", required=True)
ap.add_argument("--vectors")
a = ap.parse_args()

ADMIN_PW = "geofence-admin-pw"
work = tempfile.mkdtemp(prefix="trackd-geofences-")
db = os.path.join(work, "t.db")


def login(port, user, password):
    r = t.request(port, "POST", "/api/session", {"user": user, "password": password})
    assert r.status == 200, r.body
    return {"Cookie": r.header("set-cookie").split(";")[0]}


def call(port, auth, method, path, body=None):
    return t.request(port, method, path, body, headers=auth)


def expect_error(r, status, fragment, what):
    msg = (r.json() or {}).get("error", "") if r.body else ""
    t.check(r.status == status and fragment in msg,
            f"{what}: {status} mentioning {fragment!r} (got {r.status} {r.body[:120]!r})")


srv = t.Server(a.trackd, db, "--admin-password", ADMIN_PW, http=True)
try:
    port = srv.http_port
    admin = login(port, "admin", ADMIN_PW)
    for name in ("gina", "hugo"):
        r = call(port, admin, "POST", "/api/users", {"name": name, "password": name + "-password"})
        t.check(r.status == 200, f"user {name} added")
    gina = login(port, "gina", "gina-password")
    hugo = login(port, "hugo", "hugo-password")
    dev = call(port, gina, "POST", "/api/devices", {"uniqueId": "860000000000001", "name": "G1"}).json()
    hdev = call(port, hugo, "POST", "/api/devices", {"uniqueId": "860000000000002"}).json()

    # Without a login: 401.
    t.check(t.request(port, "GET", "/api/geofences").status == 401, "list needs a login")

    circle = {"name": "Home", "area": {"type": "circle", "latitude": 22.5497, "longitude": 114.0823,
                                       "radius": 150}}
    r = call(port, gina, "POST", "/api/geofences", circle)
    g1 = r.json()
    t.check(r.status == 200 and g1["id"] > 0 and g1["name"] == "Home", f"circle created: {r.body}")
    t.check(g1["area"] == circle["area"], f"circle area echoed: {g1['area']}")
    t.check(g1["deviceIds"] is None, "no deviceIds: all the owner's devices (null)")
    t.check(g1["ownerId"] is not None, "owner recorded")

    square = {"name": "Park", "deviceIds": [dev["id"]],
              "area": {"type": "polygon", "coordinates": [[22.0, 114.0], [22.0, 114.01],
                                                         [22.01, 114.01], [22.01, 114.0]]}}
    r = call(port, gina, "POST", "/api/geofences", square)
    g2 = r.json()
    t.check(r.status == 200 and g2["area"]["coordinates"][2] == [22.01, 114.01]
            and g2["deviceIds"] == [dev["id"]], f"polygon created: {r.body}")

    # Validation.
    bad = [
        ({"area": circle["area"]}, "name", "name missing"),
        ({"name": "", "area": circle["area"]}, "name", "empty name"),
        ({"name": "x"}, "area", "area missing"),
        ({"name": "x", "area": {"type": "square"}}, "circle", "unknown area type"),
        ({"name": "x", "area": {"type": "circle", "latitude": 91, "longitude": 0, "radius": 5}},
         "latitude", "latitude out of range"),
        ({"name": "x", "area": {"type": "circle", "latitude": 1, "longitude": 0, "radius": 0}},
         "radius", "zero radius"),
        ({"name": "x", "area": {"type": "circle", "latitude": 1, "longitude": "0", "radius": 5}},
         "longitude", "string longitude"),
        ({"name": "x", "area": {"type": "circle", "latitude": 1, "longitude": 0, "radius": 5,
                                "colour": "red"}}, "colour", "unknown area field"),
        ({"name": "x", "area": {"type": "polygon", "coordinates": [[0, 0], [1, 1]]}},
         "coordinates", "two-point polygon"),
        ({"name": "x", "area": {"type": "polygon", "coordinates": [[0, 0], [1, 1], [1, 200]]}},
         "point 2 longitude", "polygon point out of range"),
        ({"name": "x", "area": {"type": "polygon", "coordinates": [[0, 0], [1], [1, 2]]}},
         "point 1", "polygon point not a pair"),
        ({"name": "x", "area": circle["area"], "deviceIds": ["1"]}, "deviceIds", "string device id"),
        ({"name": "x", "area": circle["area"], "deviceIds": 5}, "deviceIds", "deviceIds not a list"),
        ({"name": "x", "area": circle["area"], "speed": 3}, "speed", "unknown field"),
    ]
    for body, fragment, what in bad:
        expect_error(call(port, gina, "POST", "/api/geofences", body), 400, fragment, what)
    # Another user's device cannot be put in a geofence: it does not exist for her.
    r = call(port, gina, "POST", "/api/geofences", dict(circle, deviceIds=[hdev["id"]]))
    expect_error(r, 404, "not found", "another user's device in deviceIds")

    # Each user sees their own; admins see all.
    names = lambda auth: sorted(g["name"] for g in call(port, auth, "GET", "/api/geofences").json())
    t.check(names(gina) == ["Home", "Park"], f"gina lists hers: {names(gina)}")
    t.check(names(hugo) == [], f"hugo sees none of gina's: {names(hugo)}")
    t.check(names(admin) == ["Home", "Park"], f"admin sees all: {names(admin)}")
    expect_error(call(port, hugo, "PUT", f"/api/geofences/{g1['id']}", circle), 404, "not found",
                 "hugo cannot replace gina's geofence")
    expect_error(call(port, hugo, "DELETE", f"/api/geofences/{g1['id']}"), 404, "not found",
                 "hugo cannot delete gina's geofence")

    # Replace and delete.
    moved = {"name": "Home (new)", "area": {"type": "circle", "latitude": 22.6, "longitude": 114.1,
                                            "radius": 300}, "deviceIds": [dev["id"]]}
    r = call(port, gina, "PUT", f"/api/geofences/{g1['id']}", moved)
    t.check(r.status == 200 and r.json()["area"]["radius"] == 300 and r.json()["id"] == g1["id"],
            f"replaced: {r.body}")
    expect_error(call(port, gina, "PUT", "/api/geofences/999", moved), 404, "not found",
                 "replace unknown geofence")
    t.check(call(port, gina, "DELETE", f"/api/geofences/{g2['id']}").status == 204, "deleted")
    t.check(names(gina) == ["Home (new)"], f"after delete: {names(gina)}")
    expect_error(call(port, gina, "DELETE", f"/api/geofences/{g2['id']}"), 404, "not found",
                 "delete twice")
    expect_error(call(port, gina, "DELETE", "/api/geofences/abc"), 400, "valid id", "bad id")
finally:
    t.check(srv.stop() == 0, "clean exit")

# Kept across a restart.
srv = t.Server(a.trackd, db, http=True)
try:
    gina = login(srv.http_port, "gina", "gina-password")
    got = call(srv.http_port, gina, "GET", "/api/geofences").json()
    t.check([g["name"] for g in got] == ["Home (new)"] and got[0]["area"]["radius"] == 300,
            f"geofence kept across a restart: {got}")
finally:
    t.check(srv.stop() == 0, "clean exit after restart")

t.finish("geofences")
