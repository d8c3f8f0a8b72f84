"""teltonika devices on the real trackd: the IMEI handshake answered 01, AVL
packets answered with their record count (two in one write, one split into
single bytes, one sent before the handshake and so not answered), the UDP
channel form answered 0005<packet id>01<AVL packet id><count>, a codec 12
command response (no answer), next to a gt06 and a watch device on the one
port; a command (engineStop) sent as a codec 12 GPRS command over the open
connection and acknowledged by the device's codec 12 response, and one for
a UDP-only device refused; then the stored devices, fixes, attributes and
the powerCut event."""
import calendar
import json

import tdtest as t
from families import (crc16_ibm, neighbour, stored_events, stored_fix_times, talk,
                      teltonika_handshake, teltonika_packet, teltonika_record, teltonika_udp)

a, db = t.workspace()

IMEI1 = "352093000000011"
IMEI2 = "352093000000012"
IMEI3 = "352093000000013"
GT06 = "359000000000019"
LAT, LON = 54.6872, 25.2797
T0 = calendar.timegm((2024, 3, 15, 10, 20, 30))
ACK1 = b"\x00\x00\x00\x01"


def rec(i, **kw):
    return teltonika_record(T0 + i, LAT, LON, **kw)


def codec12_response(text):
    data = bytes([0x0C, 1, 0x06]) + len(text).to_bytes(4, "big") + text + b"\x01"
    return (0).to_bytes(4, "big") + len(data).to_bytes(4, "big") + data + \
        crc16_ibm(data).to_bytes(4, "big")


results = {}


def dev_tcp(port):
    results["tcp"] = talk(port, [
        (teltonika_handshake(IMEI1), b"\x01"),
        # Two records: ignition on (239) and battery 4.012 V (67).
        (teltonika_packet([rec(0, io1=bytes([239, 1])), rec(1, io2=bytes([67, 0x0f, 0xac]))]),
         b"\x00\x00\x00\x02"),
        # The external power unplugged (252 = 1, as the record's event).
        (teltonika_packet([rec(2, io1=bytes([252, 1]), event=252)]), ACK1),
        # Two packets in one write: two answers, in order.
        (teltonika_packet([rec(3)]) + teltonika_packet([rec(4)]), ACK1 + ACK1),
        # A command response: nothing to answer.
        (codec12_response(b"Param ID:239 Value:1"), b""),
    ])


def dev_split(port):
    results["split tcp"] = talk(port, [
        # Detected and framed across one-byte reads.
        (teltonika_handshake(IMEI2), b"\x01", 1),
        (teltonika_packet([rec(5)]), ACK1, 1),
    ])


def dev_late_handshake(port):
    results["late handshake"] = talk(port, [
        # Data before the handshake: nobody to store it for, so no answer.
        (teltonika_packet([rec(6)]), b""),
        (teltonika_handshake(IMEI3), b"\x01"),
        (teltonika_packet([rec(7)]), ACK1),
    ])


def dev_udp(port):
    results["udp"] = talk(port, [
        (teltonika_udp("352093000000014", 0xABCD, 0xDD, [rec(8), rec(9)]),
         bytes.fromhex("0005abcd01dd02")),
        (teltonika_udp("352093000000014", 0xABCE, 0xDE, [rec(10)]),
         bytes.fromhex("0005abce01de01")),
    ], "udp")


ADMIN_PW = "teltonika-admin-pw"
srv = t.Server(a.trackd, db, "--admin-password", ADMIN_PW, http=True)
t.run_devices(srv.port, results, dev_tcp, dev_split, dev_late_handshake, dev_udp,
              neighbour(results, "gt06 next to teltonika", "gt06", GT06),
              neighbour(results, "watch next to teltonika", uid="3000000029"))

# A command over an open TCP connection: codec 12, answered by a codec 12
# response that acknowledges it.
CMD_IMEI = "352093000000015"
s = t.tcp(srv.port)
s.sendall(teltonika_handshake(CMD_IMEI))
t.check(t.recv_until(s, b"\x01") == b"\x01", "command device: handshake answered")
s.sendall(teltonika_packet([rec(11)]))
t.check(t.recv_until(s, ACK1) == ACK1, "command device: packet answered")
api = t.Admin(srv.http_port, ADMIN_PW)
devs = api.devices()
types = api.command_types(devs[CMD_IMEI]["id"])
t.check("engineStop" in types and "custom" in types, f"command types: {types}")
cid = api.send_command(devs[CMD_IMEI]["id"], "engineStop")
cmd = b"setdigout 1"
data = bytes([0x0C, 1, 0x05]) + len(cmd).to_bytes(4, "big") + cmd + b"\x01"
want = (0).to_bytes(4, "big") + len(data).to_bytes(4, "big") + data + \
    crc16_ibm(data).to_bytes(4, "big")
got = t.recv_until(s, want)
t.check(got == want, f"engineStop sent as codec 12 'setdigout 1': {got.hex()}")
s.sendall(codec12_response(b"DOUT1:1 Timeout:INFINITY"))
c = api.wait_command(devs[CMD_IMEI]["id"], cid, lambda status: status == "acknowledged")
t.check(c.get("status") == "acknowledged", f"command acknowledged by the response: {c}")
s.close()

# The UDP device has no connection for commands: the command fails, saying why.
UDP_IMEI = "352093000000014"
ucid = api.send_command(devs[UDP_IMEI]["id"], "rebootDevice")
u = t.udp()
u.sendto(teltonika_udp(UDP_IMEI, 0xABCF, 0xDF, [rec(12)]), ("127.0.0.1", srv.port))
r3, _ = u.recvfrom(4096)
u.close()
t.check(r3 == bytes.fromhex("0005abcf01df01"), f"udp answered: {r3.hex()}")
c = api.wait_command(devs[UDP_IMEI]["id"], ucid, lambda status: status != "queued")
t.check(c.get("status") == "failed", f"command for the UDP device: {c}")
t.check(srv.stop() == 0, "clean exit")

devices = t.stored_devices(db)
t.check(all(devices.get(i) == "teltonika" for i in (IMEI1, IMEI2, IMEI3, UDP_IMEI, CMD_IMEI)) and
        devices.get(GT06) == "gt06" and devices.get("3000000029") == "watch", devices)
for dev, offsets in ((IMEI1, range(5)), (IMEI2, [5]), (IMEI3, [7]), (UDP_IMEI, (8, 9, 10, 12))):
    times = stored_fix_times(db, dev, LAT, LON)
    t.check(times == [(T0 + i) * 1000 for i in offsets], f"{dev}: {times}")
rows = t.db_rows(db, "SELECT p.type, p.attributes FROM positions p JOIN devices d"
                     " ON d.id = p.device_id WHERE d.unique_id = ? ORDER BY p.id", (IMEI1,))
attrs = [json.loads(r[1] or "{}") for r in rows if r[0] == "position"]
t.check(attrs and attrs[0].get("ignition") is True and attrs[1].get("battery") == 4.012,
        f"attributes: {attrs[:2]}")
acks = [r for r in rows if r[0] == "ack"]
t.check(len(acks) == 1 and "Param ID:239 Value:1" in (acks[0][1] or ""), f"ack rows: {acks}")
cut = stored_events(db, IMEI1, "powerCut")
t.check(cut == 1, f"powerCut events: {cut}")
t.finish("teltonika")
