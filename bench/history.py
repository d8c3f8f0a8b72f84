#!/usr/bin/env python3
"""History query benchmark: fills a store with DEVICES x PER_DEVICE position
records spread over one day, starts build/trackd on it (loopback, ephemeral
ports), and times the API reads an operator's browser makes: a one-hour
range, pages of 1,000 and 5,000 records, a page in the middle through the
keyset cursor, a CSV export of one device's day, and the device list.

    python3 bench/history.py [--trackd build/trackd] [--devices 1000] [--per-device 5000]

Each request is timed over REPEAT runs; the median and worst are printed.
"""
import argparse, http.client, json, os, shutil, sqlite3, subprocess, tempfile, time, re

ap = argparse.ArgumentParser()
ap.add_argument("--trackd", default="build/trackd")
ap.add_argument("--devices", type=int, default=1000)
ap.add_argument("--per-device", type=int, default=5000)
ap.add_argument("--repeat", type=int, default=20)
a = ap.parse_args()

work = tempfile.mkdtemp(prefix="trackd-history-")
db_path = os.path.join(work, "h.db")
proc = None
try:
    subprocess.run([a.trackd, "user", "add", "ops", "--password", "bench-password", "--db", db_path],
                   check=True, capture_output=True)
    db = sqlite3.connect(db_path)
    db.execute("PRAGMA journal_mode=WAL")
    db.executemany("INSERT INTO devices(id, unique_id, name, owner_id) VALUES (?, ?, ?, 1)",
                   [(i, f"dev{i}", f"dev{i}") for i in range(1, a.devices + 1)])
    base = 1763683200000  # 2025-11-21T00:00:00Z
    step = 86400000 // a.per_device
    attrs = '{"batteryLevel":80,"heartRate":72,"spo2":98}'
    t0 = time.time()
    db.executemany(
        "INSERT INTO positions(device_id, protocol, type, server_time, device_time, valid, located,"
        " latitude, longitude, speed, course, altitude, alarms, attributes)"
        " VALUES (?, 'iw', 'position', ?, ?, 1, 1, ?, 114.0, 1.0, 90.0, 0.0, NULL, ?)",
        ((d, base + k * step, base + k * step, 22.5 + k * 1e-5, attrs)
         for k in range(a.per_device) for d in range(1, a.devices + 1)))
    db.commit()
    total = db.execute("SELECT count(*) FROM positions").fetchone()[0]
    db.close()
    print(f"store: {total:,} records, {a.devices:,} devices, filled in {time.time() - t0:.1f} s,"
          f" {os.path.getsize(db_path) / 2**20:.0f} MiB")

    log = open(os.path.join(work, "log"), "w+")
    proc = subprocess.Popen([a.trackd, "serve", "--port", "0", "--http-port", "0", "--listen",
                             "127.0.0.1", "--db", db_path], stderr=log, stdout=log)
    port = None
    for _ in range(100):
        log.seek(0)
        m = re.search(r"http port (\d+) open", log.read())
        if m:
            port = int(m.group(1))
            break
        time.sleep(0.1)
    assert port, "trackd did not start"
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    c.request("POST", "/api/session", json.dumps({"user": "ops", "password": "bench-password"}))
    r = c.getresponse()
    cookie = r.getheader("set-cookie").split(";")[0]
    r.read()

    mid = a.devices // 2
    first = json.loads(subprocess.run(["sqlite3", db_path, f"SELECT json_array(min(id)) FROM positions"
                                       f" WHERE device_id = {mid} AND device_time >= {base + 43200000}"],
                                      capture_output=True, text=True).stdout or "[0]")[0]
    cases = [
        ("one hour of one device", f"/api/positions?deviceId={mid}&from=2025-11-21T06:00:00Z&to=2025-11-21T07:00:00Z"),
        ("first page, limit 1000", f"/api/positions?deviceId={mid}&limit=1000"),
        ("first page, limit 5000", f"/api/positions?deviceId={mid}&limit=5000"),
        ("mid-day page via after=", f"/api/positions?deviceId={mid}&limit=1000&after={first}"),
        ("CSV export of the day", f"/api/export?deviceId={mid}&format=csv"),
        ("device list", "/api/devices"),
        ("latest of every device", "/api/positions/latest"),
    ]
    print(f"{'request':28} {'bytes':>10} {'median ms':>10} {'max ms':>8}")
    for name, path in cases:
        times, size = [], 0
        for _ in range(a.repeat):
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            t = time.perf_counter()
            c.request("GET", path, headers={"Cookie": cookie})
            r = c.getresponse()
            body = r.read()
            times.append((time.perf_counter() - t) * 1000)
            assert r.status == 200, (path, r.status, body[:200])
            size = len(body)
            c.close()
        times.sort()
        print(f"{name:28} {size:>10,} {times[len(times) // 2]:>10.1f} {times[-1]:>8.1f}")
finally:
    if proc:
        proc.terminate()
        proc.wait(30)
    shutil.rmtree(work, ignore_errors=True)
