"""queclink (@Track) devices on the real trackd: text reports over TCP and
UDP and a binary (HEX) report on the one device port, next to a device of
another protocol. The exact answers (+SACK:GTHBD with the protocol version
and count number for heartbeats, +SACK:<count> for every report, two frames
in one write answered in order, a report without '$' cut at the next
header), and the stored rows with the right device ids and the SOS event."""
import os
import struct
import time

import tdtest as t
from families import FAMILIES, stored_events, stored_fixes
from families import queclink_block as block
from families import queclink_fri as fri
from families import queclink_hbd as hbd
from families import queclink_report as report

a = t.args()
work = t.tmpdir()
db = os.path.join(work, "trackd.db")

TCP_IMEI = "862000000000011"
UDP_IMEI = "862000000000012"
BIN_IMEI = "862000000000013"
results = {}


def binary_rsp(imei, count):
    """A +RSP report in the documented HEX layout (mask: speed, azimuth,
    altitude, cell, send time, count, length, device type, versions)."""
    uid = bytes(int(imei[i:i + 2]) for i in range(0, 14, 2)) + bytes([int(imei[14])])
    body = (bytes([0x07]) + struct.pack(">I", 0x17BF) + b"\0\0" + bytes([0x45, 1, 2, 2, 9]) + uid +
            bytes([100]) + struct.pack(">H", 12500) + bytes([0x10, 1, 1]) +
            struct.pack(">HBHh", 36, 0, 45, 12) + struct.pack(">ii", 114000000, 22500000) +
            struct.pack(">HBBBBB", 2024, 3, 15, 10, 15, 30) + bytes.fromhex("0460000018d8614100") +
            struct.pack(">HBBBBB", 2024, 3, 15, 10, 15, 31) + struct.pack(">H", count) +
            b"\0\0\r\n")
    frame = bytearray(b"+RSP" + body)
    frame[9:11] = struct.pack(">H", len(frame))
    return bytes(frame)


def dev_tcp(port):
    s = t.tcp(port)
    s.sendall(hbd(TCP_IMEI, 0x11F0))
    r1 = t.recv_until(s, b"$")
    # Two reports in one write: two answers, in order.
    sos = report("RESP", "SOS", TCP_IMEI, f",0,0,1,{block()},80", 0x0002)
    s.sendall(fri(TCP_IMEI, 0x0001) + sos)
    both = b""
    deadline = time.time() + 5
    while both.count(b"$") < 2 and time.time() < deadline:
        both += t.recv_until(s, b"$")
    # An old firmware's report without '$', cut when the next one starts.
    old = fri(TCP_IMEI, 0x0003)[:-1]
    s.sendall(old + b"\r\n" + fri(TCP_IMEI, 0x0004))
    more = b""
    deadline = time.time() + 5
    while more.count(b"$") < 2 and time.time() < deadline:
        more += t.recv_until(s, b"$")
    s.close()
    results["tcp"] = (r1 == b"+SACK:GTHBD,1A0102,11F0$" and both == b"+SACK:0001$+SACK:0002$" and
                      more == b"+SACK:0003$+SACK:0004$", (r1, both, more))


def dev_binary(port):
    s = t.tcp(port)
    frame = binary_rsp(BIN_IMEI, 0x0A0B)
    for i in range(0, len(frame), 7):  # detected and framed across reads
        s.send(frame[i:i + 7])
        time.sleep(0.01)
    r = t.recv_until(s, b"$")
    s.close()
    results["binary"] = (r == b"+SACK:0A0B$", r)


def dev_udp(port):
    u = t.udp()
    u.sendto(hbd(UDP_IMEI, 5, "02010B"), ("127.0.0.1", port))
    r1, _ = u.recvfrom(4096)
    u.sendto(fri(UDP_IMEI, 6), ("127.0.0.1", port))
    r2, _ = u.recvfrom(4096)
    u.close()
    results["udp"] = (r1 == b"+SACK:GTHBD,02010B,0005$" and r2 == b"+SACK:0006$", (r1, r2))


def dev_other_protocol(port):
    results["watch next to queclink"] = FAMILIES["watch"]["conv"](port, "tcp", "3000000019")


srv = t.Server(a.trackd, db)
t.run_devices(srv.port, results, dev_tcp, dev_binary, dev_udp, dev_other_protocol)
t.check(srv.stop() == 0, "clean exit on SIGTERM")

devices = dict(t.db_rows(db, "SELECT unique_id, protocol FROM devices"))
for imei in (TCP_IMEI, UDP_IMEI, BIN_IMEI):
    t.check(devices.get(imei) == "queclink", f"{imei}: {devices}")
t.check(devices.get("3000000019") == "watch", devices)
rows = t.db_rows(db, "SELECT d.unique_id, p.type FROM positions p"
                     " JOIN devices d ON d.id = p.device_id ORDER BY p.id")

t.check(stored_fixes(db, TCP_IMEI) == 4, f"{TCP_IMEI}: {[r for r in rows if r[0] == TCP_IMEI]}")
t.check(stored_fixes(db, UDP_IMEI) == 1, f"{UDP_IMEI}: {rows}")
t.check(stored_fixes(db, BIN_IMEI) == 1, f"{BIN_IMEI}: {rows}")
t.check(any(r[0] == TCP_IMEI and r[1] == "heartbeat" for r in rows), f"heartbeat row: {rows}")
sos = stored_events(db, TCP_IMEI, "sos")
t.check(sos == 1, f"sos events: {sos}")
t.finish("queclink")
