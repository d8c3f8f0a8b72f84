"""gps103 (Coban) devices on the real trackd: log-on, heartbeats, reports and
an SOS over TCP and UDP on the one device port, next to a gotop device (whose
frames also start with the IMEI) and a watch; the exact answers (LOAD, ON,
the SOS cancel command, nothing for reports) and the stored rows with the
right device ids."""
import tdtest as t
from families import neighbour, stored_events, stored_fix_times, stored_fixes, talk

a, db = t.workspace()

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
    results["tcp"] = talk(port, [
        (f"##,imei:{IMEI1},A;".encode(), b"LOAD"),
        (f"{IMEI1};".encode(), b"ON"),
        (report(IMEI1), b""),
        # An SOS and a heartbeat in one write: two answers, in order.
        (report(IMEI1, "help me", "121414") + f"{IMEI1};".encode(),
         f"**,imei:{IMEI1},E;ON".encode()),
    ])


def dev_split(port):
    results["split tcp"] = talk(port, [
        (f"##,imei:{IMEI2},A;".encode(), b"LOAD", 1),  # detected and framed across one-byte reads
        # A report without a fix: the serving cell, not answered.
        (f"imei:{IMEI2},tracker,000000000,,L,,,fa8,,c9af,,,,,0,0,0.00%,,;".encode(), b""),
        (report(IMEI2), b""),
    ])


def dev_udp(port):
    results["udp"] = talk(port, [(f"{IMEI3};".encode(), b"ON"), (report(IMEI3), b"")], "udp")


t.serve_devices(a, db, results, dev_tcp, dev_split, dev_udp,
                neighbour(results, "gotop next to gps103", "gotop", GOTOP),
                neighbour(results, "watch next to gps103", uid="3000000019"))

devices = t.stored_devices(db)
t.check(all(devices.get(i) == "gps103" for i in (IMEI1, IMEI2, IMEI3)) and
        devices.get(GOTOP) == "gotop" and devices.get("3000000019") == "watch", devices)
for dev, n in ((IMEI1, 2), (IMEI2, 1), (IMEI3, 1)):
    t.check(stored_fixes(db, dev, LAT, LON) == n, f"{dev}: {stored_fix_times(db, dev, LAT, LON)}")
# The local time 20:13 at UTC+8 puts the 12:13:14 UTC fix on 2024-01-02.
times = stored_fix_times(db, IMEI1, LAT, LON)
t.check(1704197594000 in times, times)
sos = stored_events(db, IMEI1, "sos")
t.check(sos == 1, f"sos events: {sos}")
t.finish("gps103")
