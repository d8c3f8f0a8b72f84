"""queclink (@Track) devices on the real trackd: text reports over TCP and
UDP and a binary (HEX) report on the one device port, next to a device of
another protocol. The exact answers (+SACK:GTHBD with the protocol version
and count number for heartbeats, +SACK:<count> for every report, two frames
in one write answered in order, a report without '$' cut at the next
header), and the stored rows with the right device ids and the SOS event."""
import struct

import tdtest as t
from families import neighbour, stored_events, stored_fixes, stored_types, talk
from families import queclink_block as block
from families import queclink_fri as fri
from families import queclink_hbd as hbd
from families import queclink_report as report

a, db = t.workspace()

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
    both = t.recv_count(s, b"$", 2)
    # An old firmware's report without '$', cut when the next one starts.
    old = fri(TCP_IMEI, 0x0003)[:-1]
    s.sendall(old + b"\r\n" + fri(TCP_IMEI, 0x0004))
    more = t.recv_count(s, b"$", 2)
    s.close()
    results["tcp"] = (r1 == b"+SACK:GTHBD,1A0102,11F0$" and both == b"+SACK:0001$+SACK:0002$" and
                      more == b"+SACK:0003$+SACK:0004$", (r1, both, more))


def dev_binary(port):
    # Detected and framed across reads.
    results["binary"] = talk(port, [(binary_rsp(BIN_IMEI, 0x0A0B), b"+SACK:0A0B$", 7)])


def dev_udp(port):
    results["udp"] = talk(port, [(hbd(UDP_IMEI, 5, "02010B"), b"+SACK:GTHBD,02010B,0005$"),
                                 (fri(UDP_IMEI, 6), b"+SACK:0006$")], "udp")


t.serve_devices(a, db, results, dev_tcp, dev_binary, dev_udp,
                neighbour(results, "watch next to queclink", uid="3000000019"))

devices = t.stored_devices(db)
for imei in (TCP_IMEI, UDP_IMEI, BIN_IMEI):
    t.check(devices.get(imei) == "queclink", f"{imei}: {devices}")
t.check(devices.get("3000000019") == "watch", devices)
for dev, n in ((TCP_IMEI, 4), (UDP_IMEI, 1), (BIN_IMEI, 1)):
    t.check(stored_fixes(db, dev) == n, f"{dev}: {stored_types(db, dev)}")
t.check("heartbeat" in stored_types(db, TCP_IMEI), f"heartbeat row: {stored_types(db, TCP_IMEI)}")
sos = stored_events(db, TCP_IMEI, "sos")
t.check(sos == 1, f"sos events: {sos}")
t.finish("queclink")
