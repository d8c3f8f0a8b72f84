"""gt06 against the real server: a Concox device over TCP and another over UDP
on the one device port. Exact replies (login, heartbeat, alarm echoes with
their serials and CRC-ITU, the time answer), no reply to location packets,
two frames in one write, the rows stored under the right device ids, an SOS
event, and a command (engineStop) sent in the 0x80 packet and acknowledged
by the device's answer carrying the same server flag."""
import struct
import time

import tdtest as t
from families import GT06_CELL as CELL
from families import GT06_GPS as GPS
from families import crc_itu
from families import gt06_echo as echo
from families import gt06_frame as frame
from families import gt06_login as login

a, db = t.workspace()
ADMIN_PW = "gt06-admin-pw"
TCP_IMEI = "359000000000011"
UDP_IMEI = "359000000000012"

srv = t.Server(a.trackd, db, "--admin-password", ADMIN_PW, http=True)
port, hp = srv.port, srv.http_port

# TCP: login, heartbeat, a position (not answered), an alarm, a time request.
s = t.tcp(port)
s.sendall(frame(0x01, login(TCP_IMEI), 1))
t.check(t.recv_until(s, b"\r\n") == echo(0x01, 1), "login answered with its serial")
s.sendall(frame(0x13, bytes([0x46, 6, 4, 0, 2]), 2))
t.check(t.recv_until(s, b"\r\n") == echo(0x13, 2), "heartbeat answered")
s.sendall(frame(0x12, GPS + CELL, 3))
t.check(t.recv_quiet(s, 0.5) == b"", "location packet not answered")
s.sendall(frame(0x16, GPS + b"\x09" + CELL + bytes([0x22, 5, 3, 1, 2]), 4) +
          frame(0x13, bytes([0x46, 6, 4, 0, 2]), 5))
got = t.recv_until(s, echo(0x13, 5))
t.check(got == echo(0x16, 4) + echo(0x13, 5), f"alarm and heartbeat in one write: {got!r}")
s.sendall(frame(0x8A, b"", 6))
got = t.recv_until(s, b"\r\n")
now = time.gmtime()
t.check(len(got) == 16 and got[:4] == b"\x78\x78\x0b\x8a" and got[4] == now.tm_year % 100 and
        got[5] == now.tm_mon and got[10:12] == b"\x00\x06" and
        struct.unpack(">H", got[12:14])[0] == crc_itu(got[2:12]), f"time answer: {got.hex()}")

# UDP: login and a position from another device.
u = t.udp()
u.sendto(frame(0x01, login(UDP_IMEI), 1), ("127.0.0.1", port))
got, _ = u.recvfrom(2048)
t.check(got == echo(0x01, 1), f"UDP login answered: {got!r}")
u.sendto(frame(0x22, GPS + CELL + bytes([1, 0, 0]), 2), ("127.0.0.1", port))
u.close()

# A command over the open TCP connection, acknowledged by the answer's flag.
api = t.Admin(hp, ADMIN_PW)
devs = api.devices()
t.check(devs.get(TCP_IMEI, {}).get("protocol") == "gt06", f"TCP device: {devs.get(TCP_IMEI)}")
types = api.command_types(devs[TCP_IMEI]["id"])
t.check("engineStop" in types and "custom" in types, f"command types: {types}")
cid = api.send_command(devs[TCP_IMEI]["id"], "engineStop")
got = t.recv_until(s, b"\r\n")
text = b"DYD,000000#"
t.check(got == frame(0x80, bytes([4 + len(text)]) + struct.pack(">I", cid) + text, cid & 0xFFFF),
        f"engineStop sent as 0x80 with the command id as server flag: {got.hex()}")
answer = b"Cut off the fuel supply: Success!"
s.sendall(frame(0x15, bytes([4 + len(answer)]) + struct.pack(">I", cid) + answer + b"\x00\x02",
                7))
status = api.wait_command(devs[TCP_IMEI]["id"], cid, lambda st: st == "acknowledged").get("status")
t.check(status == "acknowledged", f"command acknowledged by the flag: {status}")
s.close()
t.check(srv.stop() == 0, "clean exit")

devices = t.stored_devices(db)
t.check(devices == {TCP_IMEI: "gt06", UDP_IMEI: "gt06"}, f"devices: {devices}")
rows = t.db_rows(db, "SELECT p.type, p.valid, round(p.latitude, 4), round(p.longitude, 4),"
                     " p.device_time FROM positions p JOIN devices d ON d.id = p.device_id"
                     " WHERE d.unique_id = ? ORDER BY p.id", (TCP_IMEI,))
types = [r[0] for r in rows]
t.check(types[:5] == ["login", "heartbeat", "position", "position", "heartbeat"],
        f"TCP rows: {types}")
t.check(rows[2][1:] == (1, 22.5, 114.0, 1710497730000), f"position row: {rows[2]}")
rows = t.db_rows(db, "SELECT p.type, round(p.latitude, 4) FROM positions p JOIN devices d"
                     " ON d.id = p.device_id WHERE d.unique_id = ? ORDER BY p.id", (UDP_IMEI,))
t.check([r[0] for r in rows] == ["login", "position"] and rows[1][1] == 22.5, f"UDP rows: {rows}")
ev = t.db_rows(db, "SELECT d.unique_id, e.type FROM events e JOIN devices d"
                   " ON d.id = e.device_id WHERE e.type = 'sos'")
t.check(ev == [(TCP_IMEI, "sos")], f"SOS event: {ev}")
t.finish("gt06")
