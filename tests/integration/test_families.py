"""Every protocol family on the one device port at the same time: a device
of each registered family talks over TCP, and over UDP where the family has
it, all at once; each gets exactly its own answers, and every device's fix is
stored under its own id with its protocol. A family registered without a
conversation in families.py fails the test, so a new protocol cannot skip it.
"""
import os
import threading
import time

import tdtest as t
from families import FAMILIES

a = t.args()
work = t.tmpdir()
db = os.path.join(work, "trackd.db")

# The registered protocols and their transports, from the server itself.
srv = t.Server(a.trackd, db, "--admin-password", "families-admin-pw", "--listen", "127.0.0.1",
               http=True)
try:
    info = t.request(srv.http_port, "GET", "/api/server").json() or {}
    protocols = {p["name"]: p["transports"] for p in info.get("protocolInfo", [])}
    t.check(len(protocols) >= 6, f"protocols: {sorted(protocols)}")
    missing = sorted(set(protocols) - set(FAMILIES))
    t.check(not missing, "every registered family needs a conversation in"
            f" tests/integration/families.py (FAMILIES): missing for {missing}")

    runs = []
    for name, fam in FAMILIES.items():
        if name not in protocols:
            continue
        for transport in protocols[name]:
            # One device per family and transport: the UDP one's id ends in 2.
            uid = fam["uid"] if transport == "tcp" else fam["uid"][:-1] + "2"
            runs.append((name, transport, uid))
    results = {}

    def run(name, transport, uid):
        try:
            results[(name, transport)] = FAMILIES[name]["conv"](srv.port, transport, uid)
        except Exception as e:  # a conversation that raises is a failure with its reason
            results[(name, transport)] = (False, repr(e))

    threads = [threading.Thread(target=run, args=r) for r in runs]
    for th in threads:
        th.start()
    for th in threads:
        th.join(30)
    for name, transport, uid in runs:
        ok, detail = results.get((name, transport), (False, "no result"))
        t.check(ok, f"{name} over {transport}: exact answers ({detail!r:.300})")

    # Every device's fix, stored under its own id, with its protocol.
    def stored():
        rows = t.db_rows(db, "SELECT d.unique_id, p.protocol, p.latitude, p.longitude FROM positions p"
                             " JOIN devices d ON d.id = p.device_id WHERE p.type = 'position'")
        return {(u, proto): (lat, lon) for u, proto, lat, lon in rows}

    want = {(uid, name) for name, transport, uid in runs}
    got = {}
    for _ in range(50):
        got = stored()
        if want <= set(got):
            break
        time.sleep(0.1)  # bounded: 50 x 0.1 s
    for key in sorted(want):
        lat, lon = got.get(key, (None, None))
        t.check(lat is not None and abs(lat - 22.5) < 1e-3 and abs(lon - 114.0) < 1e-3,
                f"{key[1]} device {key[0]}: fix stored ({lat}, {lon})")
    print(f"families: {len(runs)} devices of {len({r[0] for r in runs})} families on one port")
finally:
    t.check(srv.stop() == 0, "clean exit on SIGTERM")

t.finish("families")
