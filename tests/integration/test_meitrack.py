"""meitrack devices on the real trackd: AAA text reports, CCE and CCC binary
batches over TCP (one split across reads) and UDP on the one device port,
next to a device of another protocol; the exact answers (nothing for AAA,
`@@<flag><len>,<IMEI>,CCE|CCC,<n>*XX` confirmations with the frame's flag and
the record count, nothing for a command answer) and the stored rows with the
right device ids."""
import struct
import time

import tdtest as t
from families import neighbour, stored_lats
from families import meitrack_aaa as aaa
from families import meitrack_cce as cce
from families import meitrack_cce_record as cce_record
from families import meitrack_confirm as confirmation
from families import meitrack_frame as frame

a, db = t.workspace()

IMEI_A = "353358017784062"
IMEI_B = "353358017784063"
IMEI_C = "353358017784064"
SECS = int(time.time()) - 946684800 - 120  # two minutes ago, seconds since 2000
results = {}


def ccc(lat, lon, secs):
    rec = struct.pack("<BiiIBBBHHHhIIHHHHHHHHI", 35, int(lat * 1e6), int(lon * 1e6), secs, 1,
                      7, 20, 50, 180, 9, 30, 5000, 300, 460, 0, 0x27B6, 0x11BE, 0, 0, 419, 1264,
                      0)
    assert len(rec) == 52
    return struct.pack("<HHI", 0x0102, 52, 1) + rec


def dev_tcp(port):
    s = t.tcp(port)
    s.sendall(frame("A", IMEI_A, "AAA", aaa(1, 22.5, 114.1)))  # SOS: stored, not answered
    r1 = t.recv_quiet(s, 0.5)
    batch = frame("c", IMEI_A, "CCE", cce([cce_record(35, 22.51, 114.11, SECS),
                                           cce_record(35, 22.52, 114.12, SECS + 10)]))
    s.sendall(batch)
    r2 = t.recv_until(s, b"\r\n")
    s.close()
    results["tcp"] = (r1 == b"" and r2 == confirmation("c", IMEI_A, "CCE", 2), (r1, r2))


def dev_split(port):
    s = t.tcp(port)
    # Detected and framed across reads.
    t.send_split(s, frame("X", IMEI_C, "CCC", ccc(22.53, 114.13, SECS + 20)), 7, 0.01)
    r1 = t.recv_until(s, b"\r\n")
    # An AAA whose length field is 2 too large, then a command answer, in one write.
    bad = bytearray(frame("B", IMEI_C, "AAA", aaa(35, 22.54, 114.14)))
    length = int(bad[3:6]) + 2
    bad[3:6] = str(length).encode()
    s.sendall(bytes(bad) + frame("C", IMEI_C, "D03", b"OK"))
    r2 = t.recv_quiet(s, 0.5)
    s.close()
    results["split tcp"] = (r1 == confirmation("X", IMEI_C, "CCC", 1) and r2 == b"", (r1, r2))


def dev_udp(port):
    u = t.udp()
    u.sendto(frame("D", IMEI_B, "AAA", aaa(35, 22.55, 114.15)), ("127.0.0.1", port))
    u.sendto(frame("e", IMEI_B, "CCE", cce([cce_record(17, 22.56, 114.16, SECS)])),
             ("127.0.0.1", port))
    r, _ = u.recvfrom(4096)
    u.close()
    results["udp"] = (r == confirmation("e", IMEI_B, "CCE", 1), r)


t.serve_devices(a, db, results, dev_tcp, dev_split, dev_udp,
                neighbour(results, "watch next to meitrack", uid="3000000009"), settle=0.3)

devices = t.stored_devices(db)
t.check(devices.get(IMEI_A) == "meitrack" and devices.get(IMEI_B) == "meitrack" and
        devices.get(IMEI_C) == "meitrack" and devices.get("3000000009") == "watch", devices)
for dev, lats in ((IMEI_A, [22.5, 22.51, 22.52]), (IMEI_B, [22.55, 22.56]),
                  (IMEI_C, [22.53, 22.54])):
    t.check(stored_lats(db, dev) == lats, f"{dev}: {stored_lats(db, dev)}")
events = t.db_rows(db, "SELECT d.unique_id, e.type FROM events e JOIN devices d"
                       " ON d.id = e.device_id ORDER BY e.id")
t.check((IMEI_A, "sos") in events and (IMEI_B, "lowBattery") in events, f"events: {events}")
t.finish("meitrack")
