"""--retention-days on the real trackd: a store pre-filled with old records
(through Python's sqlite3, after trackd created the schema), trackd started
with --retention-days 30, and an IW bracelet sending fixes the whole time.
Every fix must be acknowledged and stored while the old records go, in
batches (several transactions, counted in /metrics); each device's newest
record, the records inside the 30 days and the events stay. Checks the end
state, never timings."""
import random
import re
import sqlite3
import time

import tdtest as t

a, db = t.workspace()
DAY_MS = 86400 * 1000
DAYS = 30
OLD_DEVICES = 40
OLD_PER_DEVICE = 1500  # 60,000 old records: dozens of batches
IMEI = "353456789012399"

# trackd creates the schema; then the old history goes in behind its back.
srv = t.Server(a.trackd, db)
t.check(srv.stop() == 0, "schema created, clean exit")

now_ms = int(time.time() * 1000)
attrs = '{"batteryLevel":80,"cells":[{"mcc":460,"mnc":0,"lac":9520,"cid":3671}]}'
con = sqlite3.connect(db)
with con:
    rows = []
    dev_ids = []
    for d in range(OLD_DEVICES):
        uid = f"86000000000{d:04d}"
        dev = con.execute("INSERT INTO devices (unique_id, name, protocol, first_seen, last_seen)"
                          " VALUES (?, ?, 'iw', ?, ?)",
                          (uid, uid, now_ms - 400 * DAY_MS, now_ms - 31 * DAY_MS)).lastrowid
        dev_ids.append(dev)
        for k in range(OLD_PER_DEVICE):
            # 400 down to 31 days old, in an order that is not time order.
            when = now_ms - 31 * DAY_MS - random.randrange(369 * DAY_MS)
            rows.append((dev, when, when))
        if d < 2:
            # Two devices also reported inside the 30 days: those records stay,
            # and the old ones before them all go.
            rows.append((dev, now_ms - (DAYS - 1) * DAY_MS, now_ms - (DAYS - 1) * DAY_MS))
            rows.append((dev, now_ms - DAY_MS, now_ms - DAY_MS))
    con.executemany("INSERT INTO positions (device_id, protocol, type, server_time, device_time,"
                    " valid, located, latitude, longitude, speed, course, altitude, attributes)"
                    " VALUES (?, 'iw', 'position', ?, ?, 1, 1, 22.5, 114.0, 1.0, 90.0, 0.0, ?)",
                    [r + (attrs,) for r in rows])
    # An SOS raised by an old record.
    sos_pos, sos_dev, sos_time = con.execute(
        "SELECT id, device_id, device_time FROM positions WHERE device_id = ?"
        " ORDER BY device_time LIMIT 1", (dev_ids[3],)).fetchone()
    con.execute("INSERT INTO events (device_id, position_id, type, time, latitude, longitude,"
                " attributes) VALUES (?, ?, 'sos', ?, 22.5, 114.0, ?)",
                (sos_dev, sos_pos, sos_time, attrs))
con.close()
NEWEST = ("SELECT id FROM positions p WHERE NOT EXISTS (SELECT 1 FROM positions q WHERE"
          " q.device_id = p.device_id AND (q.device_time, q.id) > (p.device_time, p.id))")
newest_before = t.db_rows(db, NEWEST + " ORDER BY id")
old_total = OLD_DEVICES * OLD_PER_DEVICE
# Each old-only device keeps its newest record; the two recent ones keep none.
expect_purged = old_total - (OLD_DEVICES - 2)

srv = t.Server(a.trackd, db, "--retention-days", str(DAYS), http=True)
results = {}
sent = acked = 0
acks_during_pass = 0


def bracelet(port):
    """Sends one fix at a time (the next after the answer) until the pass
    has ended, then a few more; counts the answers."""
    global sent, acked, acks_during_pass
    s = t.iw_login(port, IMEI)
    if not s:
        results["bracelet"] = (False, "login refused")
        return
    started = ended = False
    extra = 0
    deadline = time.time() + 120
    while extra < 20 and time.time() < deadline:
        s.sendall(t.iw_position(int(time.time()) - random.randrange(60)))
        sent += 1
        if t.recv_until(s, b"#") == b"IWBP01#":
            acked += 1
        if sent % 5 == 0 or started:
            text = srv.text()
            started = started or "retention: pass started" in text
            ended = ended or "retention: purged" in text
        if started and not ended:
            acks_during_pass += 1
        if ended:
            extra += 1
    s.close()
    results["bracelet"] = (sent == acked and ended, f"sent {sent}, acked {acked}, ended {ended}")


t.run_devices(srv.port, results, bracelet, timeout=130)
metrics = t.request(srv.http_port, "GET", "/metrics").body.decode()
log = srv.text()
t.check(srv.stop() == 0, "clean exit on SIGTERM")


def metric(name):
    m = re.search(r"^" + re.escape(name) + r" (\S+)$", metrics, re.M)
    return float(m.group(1)) if m else None


print(f"bracelet: {sent} fixes sent, {acked} acknowledged, {acks_during_pass} while the pass ran",
      flush=True)
print("pass:", [ln for ln in log.splitlines() if "retention:" in ln], flush=True)

# Ingest went on through the purge.
t.check(sent > 20 and acked == sent, f"every fix acknowledged: {acked} of {sent}")
t.check(acks_during_pass > 0, f"fixes acknowledged while the pass ran: {acks_during_pass}")
stored = t.db_rows(db, "SELECT count(*) FROM positions p JOIN devices d ON d.id = p.device_id"
                       " WHERE d.unique_id = ? AND p.type = 'position'", (IMEI,))[0][0]
t.check(stored == sent, f"every fix stored: {stored} of {sent}")

# The old records went, in batches, except each device's newest.
cut = now_ms - DAYS * DAY_MS
old_left = t.db_rows(db, "SELECT count(*) FROM positions WHERE device_time < ?", (cut,))[0][0]
t.check(old_left == OLD_DEVICES - 2, f"old records left: {old_left} (each old device's newest)")
newest_after = t.db_rows(db, NEWEST + " AND device_id IN (%s) ORDER BY id" %
                        ",".join(map(str, dev_ids)))
t.check(len(newest_before) == OLD_DEVICES and newest_after == newest_before,
        "every device keeps its newest record")
recent = t.db_rows(db, "SELECT count(*) FROM positions WHERE device_time >= ? AND device_id IN"
                       " (?, ?)", (cut, dev_ids[0], dev_ids[1]))[0][0]
t.check(recent == 4, f"the records inside {DAYS} days stay: {recent}")
t.check(metric("trackd_retention_purged_records_total") == expect_purged,
        f"metrics: purged {metric('trackd_retention_purged_records_total')}, want {expect_purged}")
batches = metric('trackd_retention_batches_total{outcome="ok"}')
t.check(batches is not None and batches >= expect_purged / 2000,
        f"metrics: {batches} batches of at most 2,000")
t.check(metric('trackd_retention_batches_total{outcome="failed"}') == 0, "no failed batch")
t.check(metric("trackd_retention_passes_total") == 1, "metrics: one pass")
t.check(metric("trackd_retention_seconds_total") > 0, "metrics: writer time counted")
lines = re.findall(r"INFO +retention: purged (\d+) records older than (\S+) in [\d.]+ s", log)
t.check(len(lines) == 1 and int(lines[0][0]) == expect_purged,
        f"one info line for the pass, with the count: {lines}")

# The event outlives its record: same time and place, no link.
ev = t.db_rows(db, "SELECT position_id, time, latitude, attributes FROM events WHERE type = 'sos'")
t.check(ev == [(None, sos_time, 22.5, attrs)], f"the SOS event stays whole: {ev}")

# A restart starts a new pass; nothing more is old.
srv = t.Server(a.trackd, db, "--retention-days", str(DAYS))
t.check(srv.wait_log(r"retention: nothing older than", 10), "second pass finds nothing")
t.check(srv.stop() == 0, "clean exit after the second pass")
t.check(t.db_rows(db, "SELECT count(*) FROM positions WHERE device_time < ?", (cut,))[0][0] ==
        OLD_DEVICES - 2, "the second pass keeps the newest records")

t.finish("retention")
