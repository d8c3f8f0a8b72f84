"""jt808 devices on the real trackd: JT/T 808 terminals register,
authenticate and report over TCP (2013 and 2019 headers, a frame split
across reads, the 0xe7 framing) and UDP on the one device port, next to a
device of another protocol; the exact answers (0x8100 with the
authentication code, 0x8001 with the message serial and the platform's own
counter, the time request text) and the stored rows with the right device
ids."""
import calendar
import re
import time

import tdtest as t
from families import neighbour, stored_events, stored_fix_times, stored_fixes
from families import jt808_ack as ack
from families import jt808_frame as frame
from families import jt808_location as location
from families import recv_frames as recv_frame

a, db = t.workspace()
results = {}

PHONE = "013912345678"  # device id 13912345678
PHONE19 = "00000860000000000002"  # device id 860000000000002
PHONE_UDP = "013900000003"
PHONE_ALT = "00013900000004"  # 0xe7 framing, 7-byte number
REGISTER = (44).to_bytes(2, "big") + (307).to_bytes(2, "big") + b"ABCDE" + b"TK-808".ljust(20, b"\0") + \
    b"T123456" + b"\x01" + b"B12345"
LOC = location(22.54321, 114.054321, "240102110405", items=b"\x30\x01\x19\x31\x01\x0b")
LOC_SOS = location(22.5433, 114.0544, "240102110505", alarm=1)
BATCH = (2).to_bytes(2, "big") + b"\x01" + b"".join(
    len(x).to_bytes(2, "big") + x for x in (location(22.5, 114.0, "240102100000"),
                                            location(22.6, 114.1, "240102100100")))


def dev_tcp_2013(port):
    s = t.tcp(port)
    s.sendall(frame(0x0100, PHONE, 1, REGISTER))
    r1 = recv_frame(s)
    s.sendall(frame(0x0102, PHONE, 2, b"13912345678"))
    r2 = recv_frame(s)
    t.send_split(s, frame(0x0200, PHONE, 3, LOC), 7, 0.01)  # one frame across many reads
    r3 = recv_frame(s)
    s.sendall(frame(0x0200, PHONE, 4, LOC_SOS) + frame(0x0002, PHONE, 5, b""))
    r4 = recv_frame(s, n=2)
    s.sendall(frame(0x0704, PHONE, 6, BATCH))
    r5 = recv_frame(s)
    s.close()
    want = (frame(0x8100, PHONE, 0, (1).to_bytes(2, "big") + b"\x00" + b"13912345678"),
            ack(PHONE, 1, 2, 0x0102), ack(PHONE, 2, 3, 0x0200),
            ack(PHONE, 3, 4, 0x0200) + ack(PHONE, 4, 5, 0x0002), ack(PHONE, 5, 6, 0x0704))
    got = (r1, r2, r3, r4, r5)
    results["tcp 2013"] = (got == want, [g.hex() for g in got])


def dev_tcp_2019(port):
    s = t.tcp(port)
    s.sendall(frame(0x0102, PHONE19, 0x7D7E,
                    bytes([11]) + b"13912345678" + b"860000000000002" + b"V1.0".ljust(20, b"\0"),
                    v2019=True))
    r1 = recv_frame(s)
    s.sendall(frame(0x0004, PHONE19, 0x0101, b"", v2019=True))  # server time
    r2 = recv_frame(s)
    s.sendall(frame(0x0200, PHONE19, 0x0102, LOC, v2019=True))
    r3 = recv_frame(s)
    s.close()
    ok_time = False
    m = re.fullmatch(rb"\x7e\x80\x04\x40\x06\x01" + re.escape(bytes.fromhex(PHONE19)) +
                     rb"\x00\x01(.{6}).\x7e", r2, re.S)
    if m:
        when = m.group(1).hex()
        sent = calendar.timegm(time.strptime(when, "%y%m%d%H%M%S"))
        ok_time = abs(sent - time.time()) < 60
    results["tcp 2019"] = (r1 == ack(PHONE19, 0, 0x7D7E, 0x0102, v2019=True) and ok_time and
                           r3 == ack(PHONE19, 2, 0x0102, 0x0200, v2019=True),
                           (r1.hex(), r2.hex(), r3.hex()))


def dev_tcp_alt(port):
    s = t.tcp(port)
    s.sendall(frame(0x0200, PHONE_ALT, 0x3D3E, LOC, alt=True))
    r = recv_frame(s, b"\xe7")
    s.close()
    results["tcp 0xe7"] = (r == ack(PHONE_ALT, 0, 0x3D3E, 0x0200, alt=True), r.hex())


def dev_text(port):
    s = t.tcp(port)
    s.sendall(b"(794104004140,1,001,BASE,2,TIME)")
    r = t.recv_until(s, b")")
    s.close()
    m = re.fullmatch(rb"\(794104004140,1,001,BASE,2,(\d{14})\)", r)
    ok = bool(m) and abs(calendar.timegm(time.strptime(m.group(1).decode(), "%Y%m%d%H%M%S")) -
                         time.time()) < 60
    results["text time request"] = (ok, r)


def dev_udp(port):
    u = t.udp()
    u.sendto(frame(0x0002, PHONE_UDP, 9, b""), ("127.0.0.1", port))
    r1, _ = u.recvfrom(4096)
    u.sendto(frame(0x0200, PHONE_UDP, 10, LOC), ("127.0.0.1", port))
    r2, _ = u.recvfrom(4096)
    u.close()
    results["udp"] = (r1 == ack(PHONE_UDP, 0, 9, 0x0002) and r2 == ack(PHONE_UDP, 1, 10, 0x0200),
                      (r1.hex(), r2.hex()))


t.serve_devices(a, db, results, dev_tcp_2013, dev_tcp_2019, dev_tcp_alt, dev_text, dev_udp,
                neighbour(results, "watch next to jt808", uid="3000000009"))

devices = t.stored_devices(db)
for dev in ("13912345678", "860000000000002", "13900000003", "13900000004", "794104004140"):
    t.check(devices.get(dev) == "jt808", f"{dev}: {devices}")
t.check(devices.get("3000000009") == "watch", devices)
LAT, LON = 22.54321, 114.054321
for dev, lat, lon in (("13912345678", LAT, LON), ("13912345678", 22.5433, 114.0544),
                      ("13912345678", 22.5, 114.0), ("13912345678", 22.6, 114.1),
                      ("860000000000002", LAT, LON), ("13900000003", LAT, LON),
                      ("13900000004", LAT, LON)):
    t.check(stored_fixes(db, dev, lat, lon) == 1,
            f"{dev} at {lat}, {lon}: {stored_fix_times(db, dev, lat, lon)}")
sos = stored_events(db, "13912345678", "sos")
t.check(sos == 1, f"sos events: {sos}")
t.finish("jt808")
