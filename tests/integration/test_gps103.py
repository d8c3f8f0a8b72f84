"""gps103 (Coban) devices on the real trackd: log-on, heartbeats, reports and
an SOS over TCP and UDP on the one device port, next to a gotop device (whose
frames also start with the IMEI) and a watch; the exact answers (LOAD, ON,
the SOS cancel command, nothing for reports) and the stored rows with the
right device ids."""
import os
import threading
import time

import tdtest as t

a = t.args()
work = t.tmpdir()
db = os.path.join(work, "trackd.db")

IMEI1 = "865000000000011"
IMEI2 = "865000000000012"
IMEI3 = "865000000000013"
GOTOP = "867648044456799"
LAT, LON = 22 + 34.5678 / 60, 113 + 45.6789 / 60


def report(imei, keyword="tracker", hhmmss="121314"):
    return (f"imei:{imei},{keyword},2401022013,,F,{hhmmss}.000,A,2234.5678,N,11345.6789,E,"
            f"10.00,45.5,,1,0,0.00%,,;").encode()


results = {}


def dev_tcp(port):
    s = t.tcp(port)
    s.sendall(f"##,imei:{IMEI1},A;".encode())
    r1 = t.recv_until(s, b"LOAD")
    s.sendall(f"{IMEI1};".encode())
    r2 = t.recv_until(s, b"ON")
    s.sendall(report(IMEI1))
    r3 = t.recv_quiet(s, 0.5)
    # An SOS and a heartbeat in one write: two answers, in order.
    s.sendall(report(IMEI1, "help me", "121414") + f"{IMEI1};".encode())
    want = f"**,imei:{IMEI1},E;ON".encode()
    r4 = t.recv_until(s, want)
    s.close()
    results["tcp"] = (r1 == b"LOAD" and r2 == b"ON" and r3 == b"" and r4 == want,
                      (r1, r2, r3, r4))


def dev_split(port):
    s = t.tcp(port)
    login = f"##,imei:{IMEI2},A;".encode()
    for i in range(len(login)):  # detected and framed across one-byte reads
        s.send(login[i:i + 1])
        time.sleep(0.005)
    r1 = t.recv_until(s, b"LOAD")
    # A report without a fix: the serving cell, not answered.
    s.sendall(f"imei:{IMEI2},tracker,000000000,,L,,,fa8,,c9af,,,,,0,0,0.00%,,;".encode())
    r2 = t.recv_quiet(s, 0.5)
    s.sendall(report(IMEI2))
    r3 = t.recv_quiet(s, 0.5)
    s.close()
    results["split tcp"] = (r1 == b"LOAD" and r2 == b"" and r3 == b"", (r1, r2, r3))


def dev_udp(port):
    u = t.udp()
    u.sendto(f"{IMEI3};".encode(), ("127.0.0.1", port))
    r1, _ = u.recvfrom(4096)
    u.sendto(report(IMEI3), ("127.0.0.1", port))
    u.settimeout(0.5)
    try:
        r2, _ = u.recvfrom(4096)
    except OSError:
        r2 = b""
    u.close()
    results["udp"] = (r1 == b"ON" and r2 == b"", (r1, r2))


def dev_gotop(port):
    s = t.tcp(port)
    s.sendall(f"#{GOTOP},CMD-T,A,DATE:240102,TIME:121314,LAT:22.5761300N,"
              f"LON:113.7613150E,Speed:000.0,095-70,59.5#".encode())
    r = t.recv_quiet(s, 0.5)
    s.close()
    results["gotop next to gps103"] = (r == b"", r)


def dev_watch(port):
    s = t.tcp(port)
    s.sendall(b"[SG*3000000019*0002*LK]")
    r = t.recv_until(s, b"]")
    s.close()
    results["watch next to gps103"] = (r == b"[SG*3000000019*0002*LK]", r)


srv = t.Server(a.trackd, db)
threads = [threading.Thread(target=f, args=(srv.port,)) for f in
           (dev_tcp, dev_split, dev_udp, dev_gotop, dev_watch)]
for th in threads:
    th.start()
for th in threads:
    th.join(30)
for name, (ok, detail) in sorted(results.items()):
    t.check(ok, f"{name}: {detail}")
t.check(len(results) == len(threads), f"all devices finished: {sorted(results)}")
srv.stop()

devices = dict(t.db_rows(db, "SELECT unique_id, protocol FROM devices"))
t.check(all(devices.get(i) == "gps103" for i in (IMEI1, IMEI2, IMEI3)) and
        devices.get(GOTOP) == "gotop" and devices.get("3000000019") == "watch", devices)
rows = t.db_rows(db, "SELECT d.unique_id, p.type, p.latitude, p.longitude, p.device_time"
                     " FROM positions p JOIN devices d ON d.id = p.device_id ORDER BY p.id")


def fixes(dev):
    """The device's stored fixes at 22 34.5678' N 113 45.6789' E."""
    return sum(1 for d, typ, lat, lon, _ in rows if d == dev and typ == "position" and
               abs(lat - LAT) < 1e-6 and abs(lon - LON) < 1e-6)


t.check(fixes(IMEI1) == 2, f"{IMEI1}: {[r for r in rows if r[0] == IMEI1]}")
t.check(fixes(IMEI2) == 1, f"{IMEI2}: {[r for r in rows if r[0] == IMEI2]}")
t.check(fixes(IMEI3) == 1, f"{IMEI3}: {[r for r in rows if r[0] == IMEI3]}")
# The local time 20:13 at UTC+8 puts the 12:13:14 UTC fix on 2024-01-02.
t.check(any(r[0] == IMEI1 and r[4] == 1704197594000 for r in rows),
        [r[4] for r in rows if r[0] == IMEI1])
sos = t.db_rows(db, "SELECT count(*) FROM events e JOIN devices d ON d.id = e.device_id"
                    " WHERE d.unique_id = ? AND e.type = 'sos'", (IMEI1,))[0][0]
t.check(sos == 1, f"sos events: {sos}")
t.finish("gps103")
