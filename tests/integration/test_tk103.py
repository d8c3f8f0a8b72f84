"""tk103 devices on the real trackd: the (...) TK103/KX402 text over TCP and
UDP on the one device port, next to a jt808 terminal sending its (...) text
time request and a watch; the exact answers (AP05 to the log-on, AP01HSO to
the handshake, AS01 with the code to an alarm, nothing for feedback) and the
stored rows with the right device ids."""
import tdtest as t
from families import neighbour, stored_events, stored_fix_times, stored_fixes, talk, tk103_gps

a, db = t.workspace()

ID1 = "013600000011"
ID2 = "013600000012"
ID3 = "013600000013"
IMEI4 = "865000000000014"
LAT, LON = 22 + 34.5678 / 60, 113 + 45.6789 / 60
FIX = dict(lat="2234.5678N", lon="11345.6789E", date="240102")
results = {}


def dev_tcp(port):
    results["tcp"] = talk(port, [
        (f"({ID1}BP05865000000000011{tk103_gps(**FIX, hhmmss='121314')})".encode(),
         f"({ID1}AP05)".encode()),
        (f"({ID1}BR00{tk103_gps(**FIX, hhmmss='121414')})".encode(), b""),
        # An SOS alarm and a handshake in one write: two answers, in order.
        (f"({ID1}BO012{tk103_gps(**FIX, hhmmss='121514')})({ID1}BP00{ID1}HSO)".encode(),
         f"({ID1}AS012)({ID1}AP01HSO)".encode()),
    ])


def dev_split(port):
    results["split tcp"] = talk(port, [
        # Detected and framed across one-byte reads.
        (f"({ID2}BR00{tk103_gps(**FIX)})".encode(), b"", 1),
        (f"({ID2}BP00HSO)".encode(), f"({ID2}AP01HSO)".encode()),
    ])


def dev_udp(port):
    results["udp"] = talk(port, [(f"({ID3}BP05865000000000013{tk103_gps(**FIX)})".encode(),
                                  f"({ID3}AP05)".encode())], "udp")


def dev_comma(port):
    results["comma variant"] = talk(port, [
        (f"({IMEI4},DW30,020124,A,2234.5678N,11345.6789E,0.5,121314,45.0,10.0,9,0)".encode(),
         b"")])


def dev_jt808_text(port):
    # jt808's text time request also starts "(<digits>,": it stays jt808's.
    s = t.tcp(port)
    s.sendall(b"(794104004140,1,001,BASE,2,TIME)")
    r = t.recv_quiet(s, 1.0)
    s.close()
    results["jt808 text next to tk103"] = (r.startswith(b"(794104004140,1,001,BASE,2,"), r)


t.serve_devices(a, db, results, dev_tcp, dev_split, dev_udp, dev_comma, dev_jt808_text,
                neighbour(results, "watch next to tk103", uid="3000000029"))

devices = t.stored_devices(db)
t.check(all(devices.get(i) == "tk103" for i in (ID1, ID2, ID3, IMEI4)) and
        devices.get("794104004140") == "jt808" and devices.get("3000000029") == "watch", devices)
t.check(stored_fixes(db, ID1, LAT, LON) == 3, f"{ID1}: {stored_fix_times(db, ID1, LAT, LON)}")
for dev in (ID2, ID3, IMEI4):
    t.check(stored_fixes(db, dev, LAT, LON) == 1, f"{dev}: {stored_fix_times(db, dev, LAT, LON)}")
# The log-on's fix: 2024-01-02 12:13:14 UTC.
times = stored_fix_times(db, ID1, LAT, LON)
t.check(1704197594000 in times, times)
sos = stored_events(db, ID1, "sos")
t.check(sos == 1, f"sos events: {sos}")
t.finish("tk103")
