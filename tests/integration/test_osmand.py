"""osmand (HTTP) devices on the real trackd's device port: Traccar Client's
POST with query parameters on a kept-alive connection, OsmAnd's GET, the JSON
body of Traccar Client 9, a chunked body split across reads, a request that
names no device, Connection: close, next to a device of another protocol; the
exact HTTP answers and the stored rows with the right device ids."""
import json
import time

import tdtest as t
from families import OSMAND_OK, neighbour, osmand_get, osmand_post, stored_events, stored_lats

a, db = t.workspace()

NOW = int(time.time()) - 60
BAD = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"
results = {}


def answers(sock, n):
    """n HTTP answers (each ends with its blank line: no bodies)."""
    return t.recv_count(sock, b"\r\n\r\n", n)


def dev_traccar_client(port):
    s = t.tcp(port)
    # Two reports on one kept-alive connection, the second in the same write
    # as the end of the first.
    first = (f"POST /?id=tc-android-1&lat=48.1&lon=11.5&timestamp={NOW}&speed=10&bearing=90"
             f"&altitude=520&accuracy=5&batt=77&charge=false HTTP/1.1\r\nHost: trackd\r\n"
             f"Content-Length: 0\r\n\r\n").encode()
    second = osmand_get(f"id=tc-android-1&lat=48.2&lon=11.6&timestamp={NOW + 10}&alarm=sos")
    s.sendall(first[:20])
    time.sleep(0.05)
    s.sendall(first[20:] + second)
    r = answers(s, 2)
    s.close()
    results["traccar client"] = (r == OSMAND_OK * 2, r)


def dev_json(port):
    s = t.tcp(port)
    body = json.dumps({"location": {"timestamp": time.strftime("%Y-%m-%dT%H:%M:%S.000Z",
                                                                time.gmtime(NOW)),
                                    "coords": {"latitude": 48.3, "longitude": 11.7, "speed": 5,
                                               "heading": 180, "altitude": 500, "accuracy": 8},
                                    "is_moving": True, "battery": {"level": 0.5,
                                                                   "is_charging": True}},
                       "device_id": "tc-ios-2"}).encode()
    s.sendall(osmand_post(body))
    r1 = answers(s, 1)
    # Chunked, split across reads.
    chunked = (b"POST / HTTP/1.1\r\nHost: trackd\r\nContent-Type: application/json\r\n"
               b"Transfer-Encoding: chunked\r\n\r\n" + b"%x\r\n" % len(body) +
               body.replace(b"48.3", b"48.4") + b"\r\n0\r\n\r\n")
    t.send_split(s, chunked, 9)
    r2 = answers(s, 1)
    s.close()
    results["json"] = (r1 == OSMAND_OK and r2 == OSMAND_OK, (r1, r2))


def dev_osmand_get(port):
    s = t.tcp(port)
    s.sendall(osmand_get("lat=1&lon=2"))  # no id: refused
    r1 = answers(s, 1)
    stamp = time.strftime("%Y-%m-%dT%H%%3A%M%%3A%SZ", time.gmtime(NOW))
    s.sendall(osmand_get(f"id=osmand-3&lat=48.5&lon=11.8&timestamp={stamp}&hdop=1.2",
                         b"Connection: close\r\n"))
    r2 = answers(s, 1)
    s.close()
    results["osmand get"] = (r1 == BAD and r2 == OSMAND_OK.replace(
        b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n"), (r1, r2))


t.serve_devices(a, db, results, dev_traccar_client, dev_json, dev_osmand_get,
                neighbour(results, "watch next to osmand", uid="3000000009"), settle=0.3)

devices = t.stored_devices(db)
t.check(devices.get("tc-android-1") == "osmand" and devices.get("tc-ios-2") == "osmand" and
        devices.get("osmand-3") == "osmand" and devices.get("3000000009") == "watch", devices)
for dev, lats in (("tc-android-1", [48.1, 48.2]), ("tc-ios-2", [48.3, 48.4]), ("osmand-3", [48.5])):
    t.check(stored_lats(db, dev) == lats, f"{dev}: {stored_lats(db, dev)}")
t.check(len(devices) == 4, f"no device for the refused request: {devices}")
sos = stored_events(db, "tc-android-1", "sos")
t.check(sos == 1, f"sos events: {sos}")
t.finish("osmand")
