"""meitrack devices on the real trackd: AAA text reports, CCE and CCC binary
batches over TCP (one split across reads) and UDP on the one device port,
next to a device of another protocol; the exact answers (nothing for AAA,
`@@<flag><len>,<IMEI>,CCE|CCC,<n>*XX` confirmations with the frame's flag and
the record count, nothing for a command answer) and the stored rows with the
right device ids."""
import struct
import time

import tdtest as t
from families import neighbour, stored_lats, talk
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
    results["tcp"] = talk(port, [
        (frame("A", IMEI_A, "AAA", aaa(1, 22.5, 114.1)), b""),  # SOS: stored, not answered
        (frame("c", IMEI_A, "CCE", cce([cce_record(35, 22.51, 114.11, SECS),
                                        cce_record(35, 22.52, 114.12, SECS + 10)])),
         confirmation("c", IMEI_A, "CCE", 2)),
    ])


def dev_split(port):
    # An AAA whose length field is 2 too large.
    bad = bytearray(frame("B", IMEI_C, "AAA", aaa(35, 22.54, 114.14)))
    bad[3:6] = str(int(bad[3:6]) + 2).encode()
    results["split tcp"] = talk(port, [
        # Detected and framed across reads.
        (frame("X", IMEI_C, "CCC", ccc(22.53, 114.13, SECS + 20)),
         confirmation("X", IMEI_C, "CCC", 1), 7),
        # The bad AAA, then a command answer, in one write.
        (bytes(bad) + frame("C", IMEI_C, "D03", b"OK"), b""),
    ])


def dev_udp(port):
    results["udp"] = talk(port, [
        (frame("D", IMEI_B, "AAA", aaa(35, 22.55, 114.15)), b""),
        (frame("e", IMEI_B, "CCE", cce([cce_record(17, 22.56, 114.16, SECS)])),
         confirmation("e", IMEI_B, "CCE", 1)),
    ], "udp")


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
