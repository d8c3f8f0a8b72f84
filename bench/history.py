#!/usr/bin/env python3
"""History query benchmark: fills a store with DEVICES x PER_DEVICE position
records spread over DAYS days, starts build/trackd on it (loopback,
ephemeral ports), and times the API reads an operator's browser makes: one
day of one device, one hour, pages of 1,000 and 5,000 records, a page in
the middle through the keyset cursor, a CSV export of one device's day, the
device list and the latest record of every device.

    python3 bench/history.py [--devices 1000] [--per-device 5000] [--days 1]
    python3 bench/history.py --devices 10000 --per-device 10000 --days 10 \\
        --keep /var/tmp/history-100m.db          # 100 million records

Each request is timed over REPEAT runs, each on a new HTTP connection; the
median and worst are printed. With --keep the filled store is kept at that
path and reused by later runs with the same sizes.
"""
import argparse, http.client, json, os, re, shutil, sqlite3, subprocess, tempfile, time

ap = argparse.ArgumentParser()
ap.add_argument("--trackd", default="build/trackd")
ap.add_argument("--devices", type=int, default=1000)
ap.add_argument("--per-device", type=int, default=5000)
ap.add_argument("--days", type=int, default=1, help="each device's records span this many days")
ap.add_argument("--repeat", type=int, default=20)
ap.add_argument("--keep", help="keep the filled store at this path; reuse it when it exists")
a = ap.parse_args()

BASE = 1763683200000  # 2025-11-21T00:00:00Z
DAY = 86400000


def iso(ms):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ms / 1000))


def fill(path):
    subprocess.run([a.trackd, "user", "add", "ops", "--password", "bench-password", "--db", path],
                   check=True, capture_output=True)
    db = sqlite3.connect(path, isolation_level=None)
    # A bulk load: no journal while it runs (trackd puts the store back in
    # WAL mode when it opens it).
    db.execute("PRAGMA journal_mode=OFF")
    db.execute("PRAGMA synchronous=OFF")
    db.execute("PRAGMA cache_size=-2097152")
    db.execute("BEGIN")
    db.executemany("INSERT INTO devices(id, unique_id, name, owner_id) VALUES (?, ?, ?, 1)",
                   [(i, f"dev{i}", f"dev{i}") for i in range(1, a.devices + 1)])
    db.execute("COMMIT")
    step = a.days * DAY // a.per_device
    total = a.devices * a.per_device
    t0 = time.time()
    # Rows go in time order across all devices, as a live server writes
    # them: every device's k-th report, then every device's (k+1)-th. The
    # rows are made inside SQLite, a million per transaction.
    sql = ("WITH RECURSIVE n(i) AS (SELECT :lo UNION ALL SELECT i + 1 FROM n WHERE i + 1 < :hi)"
           " INSERT INTO positions(device_id, protocol, type, server_time, device_time, valid,"
           " located, latitude, longitude, speed, course, altitude, alarms, attributes)"
           " SELECT i % :d + 1, 'iw', 'position', :b + (i / :d) * :s + 900, :b + (i / :d) * :s,"
           " 1, 1, 22.5 + (i % :d) * 1e-4 + (i / :d) * 1e-7, 114.0 + (i / :d) * 1e-7,"
           " (i % 50) * 1.5, (i % 360) * 1.0, 12.0, NULL,"
           " '{\"batteryLevel\":' || (i % 100) || ',\"rssi\":' || (i % 31) ||"
           " ',\"satellites\":' || (i % 12) || ',\"steps\":' || (i / :d) ||"
           " ',\"heartRate\":' || (60 + i % 40) || '}' FROM n")
    chunk = 1000000
    for lo in range(0, total, chunk):
        hi = min(lo + chunk, total)
        db.execute("BEGIN")
        db.execute(sql, {"lo": lo, "hi": hi, "d": a.devices, "b": BASE, "s": step})
        db.execute("COMMIT")
        if hi % (10 * chunk) == 0 or hi == total:
            el = time.time() - t0
            print(f"  {hi:,} rows in {el:.0f} s ({hi / el:,.0f} rows/s)", flush=True)
    n = db.execute("SELECT count(*) FROM positions").fetchone()[0]
    db.close()
    print(f"filled in {time.time() - t0:.0f} s")
    return n


work = tempfile.mkdtemp(prefix="trackd-history-")
db_path = a.keep or os.path.join(work, "h.db")
proc = None
try:
    if a.keep and os.path.exists(a.keep):
        n = sqlite3.connect(db_path).execute("SELECT max(id) FROM positions").fetchone()[0]
    else:
        n = fill(db_path)
    print(f"store: {n:,} records, {a.devices:,} devices over {a.days} day(s),"
          f" {os.path.getsize(db_path) / 2**30:.2f} GiB")

    log = open(os.path.join(work, "log"), "w+")
    proc = subprocess.Popen([a.trackd, "serve", "--port", "0", "--http-port", "0", "--listen",
                             "127.0.0.1", "--db", db_path], stderr=log, stdout=log)
    port = None
    for _ in range(600):
        log.seek(0)
        m = re.search(r"http port (\d+) open", log.read())
        if m:
            port = int(m.group(1))
            break
        time.sleep(0.1)
    assert port, "trackd did not start"
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    c.request("POST", "/api/session", json.dumps({"user": "ops", "password": "bench-password"}))
    r = c.getresponse()
    cookie = r.getheader("set-cookie").split(";")[0]
    r.read()

    mid = a.devices // 2
    day = BASE + (a.days // 2) * DAY  # a day in the middle of the history
    first = sqlite3.connect(db_path).execute(
        "SELECT min(id) FROM positions WHERE device_id = ? AND device_time >= ?",
        (mid, day + DAY // 2)).fetchone()[0]
    cases = [
        ("one day of one device", f"/api/positions?deviceId={mid}&from={iso(day)}&to={iso(day + DAY - 1)}&limit=10000"),
        ("one hour of one device", f"/api/positions?deviceId={mid}&from={iso(day + 6 * 3600000)}&to={iso(day + 7 * 3600000)}"),
        ("first page, limit 1000", f"/api/positions?deviceId={mid}&limit=1000"),
        ("first page, limit 5000", f"/api/positions?deviceId={mid}&limit=5000"),
        ("mid-day page via after=", f"/api/positions?deviceId={mid}&limit=1000&after={first}"),
        ("CSV export of one day", f"/api/export?deviceId={mid}&format=csv&from={iso(day)}&to={iso(day + DAY - 1)}"),
        ("device list", "/api/devices"),
        ("latest of every device", "/api/positions/latest"),
    ]
    print(f"{'request':28} {'records':>8} {'bytes':>11} {'median ms':>10} {'max ms':>8}")
    for name, path in cases:
        times, size, count = [], 0, 0
        for _ in range(a.repeat):
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            t = time.perf_counter()
            c.request("GET", path, headers={"Cookie": cookie})
            r = c.getresponse()
            body = r.read()
            times.append((time.perf_counter() - t) * 1000)
            assert r.status == 200, (path, r.status, body[:200])
            size = len(body)
            count = body.count(b"\n") - 1 if "csv" in path else len(json.loads(body))
            c.close()
        times.sort()
        print(f"{name:28} {count:>8,} {size:>11,} {times[len(times) // 2]:>10.1f} {times[-1]:>8.1f}")
finally:
    if proc:
        proc.terminate()
        proc.wait(60)
    shutil.rmtree(work, ignore_errors=True)
