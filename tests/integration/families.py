"""Frame builders shared by the integration tests, and one short conversation
per protocol family: a device that identifies itself and reports a fix,
with the exact answers the server owes it. test_families.py runs every
family's conversation on the one device port at the same time.

A conversation is a function (port, transport) -> (ok, detail) for a device
whose unique id is FAMILIES[name]["uid"]; "udp" in FAMILIES[name]["transports"]
when the family also speaks UDP."""
import calendar
import re
import socket
import struct
import time

import tdtest as t


# ---- gt06 -------------------------------------------------------------------

def crc16(data, poly, init=0, xorout=0):
    """A reflected CRC-16: poly the reflected polynomial."""
    crc = init
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ poly if crc & 1 else crc >> 1
    return crc ^ xorout


def crc_itu(data):
    """CRC-ITU (X.25): polynomial 0x8408, initial value and final XOR 0xFFFF."""
    return crc16(data, 0x8408, 0xFFFF, 0xFFFF)


def gt06_frame(ptype, content, serial):
    body = bytes([len(content) + 5, ptype]) + content + struct.pack(">H", serial)
    return b"\x78\x78" + body + struct.pack(">H", crc_itu(body)) + b"\r\n"


def gt06_echo(ptype, serial):
    return gt06_frame(ptype, b"", serial)


def gt06_login(imei):
    return bytes.fromhex("0" + imei)


# 2024-03-15 10:15:30 UTC, 9 satellites, 22.5 N 114.0 E, 36 km/h, course 45, positioned.
GT06_GPS = bytes([24, 3, 15, 10, 15, 30, 0xC9]) + struct.pack(
    ">II", int(22.5 * 1800000), int(114.0 * 1800000)) + bytes([36]) + struct.pack(">H", 0x1400 | 45)
GT06_CELL = struct.pack(">HBH", 460, 0, 0x287D) + (0x1F71).to_bytes(3, "big")


# ---- jt808 ------------------------------------------------------------------

def jt808_escape(raw, alt=False):
    out = bytearray()
    for b in raw:
        if not alt and b in (0x7D, 0x7E):
            out += bytes([0x7D, 1 if b == 0x7D else 2])
        elif alt and b in (0xE6, 0xE7):
            out += bytes([0xE6, 1 if b == 0xE6 else 2])
        elif alt and b in (0x3E, 0x3D):
            out += bytes([0x3E, 1 if b == 0x3E else 2])
        else:
            out.append(b)
    return bytes(out)


def jt808_frame(msg_id, phone, serial, body, v2019=False, alt=False):
    """A JT/T 808 frame: header, body, XOR checksum, escaped, flags."""
    attr = len(body) | (0x4000 if v2019 else 0)
    raw = msg_id.to_bytes(2, "big") + attr.to_bytes(2, "big")
    raw += (b"\x01" if v2019 else b"") + bytes.fromhex(phone) + serial.to_bytes(2, "big") + body
    x = 0
    for b in raw:
        x ^= b
    flag = b"\xe7" if alt else b"\x7e"
    return flag + jt808_escape(raw + bytes([x]), alt) + flag


def jt808_ack(phone, platform_serial, serial, msg_id, v2019=False, alt=False):
    body = serial.to_bytes(2, "big") + msg_id.to_bytes(2, "big") + b"\x00"
    return jt808_frame(0x8001, phone, platform_serial, body, v2019, alt)


def jt808_location(lat, lon, when, alarm=0, items=b""):
    """0x0200 body: alarm, status (ACC on, fix), 1e-6 degrees, 12 m, 40 km/h,
    course 90, GMT+8 BCD time."""
    return (alarm.to_bytes(4, "big") + (3).to_bytes(4, "big") + round(lat * 1e6).to_bytes(4, "big") +
            round(lon * 1e6).to_bytes(4, "big") + (12).to_bytes(2, "big") + (400).to_bytes(2, "big") +
            (90).to_bytes(2, "big") + bytes.fromhex(when) + items)


def recv_frames(sock, flag=b"\x7e", n=1, timeout=5.0):
    """n whole flag-delimited frames (flag ... flag), or what came in time."""
    data = b""
    deadline = time.time() + timeout
    while time.time() < deadline:
        parts = data.split(flag)
        if len(parts) >= 2 * n + 1 and all(parts[2 * i + 1] for i in range(n)):
            break
        chunk = t.recv_quiet(sock, 0.5)
        if chunk:
            data += chunk
    return data


# ---- h02 --------------------------------------------------------------------

def h02_v4_reply(data, dev, what):
    """*HQ,<dev>,V4,<what>,<yyyyMMddHHmmss>#, the time within a minute of now."""
    m = re.fullmatch(rb"\*HQ,%s,V4,%s,(\d{14})#" % (dev.encode(), what.encode()), data)
    if not m:
        return False
    sent = calendar.timegm(time.strptime(m.group(1).decode(), "%Y%m%d%H%M%S"))
    return abs(sent - time.time()) < 60


# ---- watch ------------------------------------------------------------------

def watch_frame(dev, content):
    if isinstance(content, str):
        content = content.encode()
    return b"[3G*" + dev.encode() + b"*" + f"{len(content):04X}".encode() + b"*" + content + b"]"


# ---- gps103 -----------------------------------------------------------------

def gps103_report(imei, keyword="tracker", local="2403151815", utc="101530.000",
                  lat="2230.0000,N", lon="11400.0000,E", tail="19.44,45.0,,1,0,0.00%,,"):
    """imei:<id>,<keyword>,<local time>,,F,<UTC>,A,<lat>,<lon>,<knots>,<course>,...;"""
    return f"imei:{imei},{keyword},{local},,F,{utc},A,{lat},{lon},{tail};".encode()


# ---- meitrack ----------------------------------------------------------------

def meitrack_checksum(data):
    return b"%02X" % (sum(data) & 0xFF)


def meitrack_frame(flag, imei, typ, content):
    """$$<flag><len>,<imei>,<typ>,<content>*XX\\r\\n"""
    body = b"," + imei.encode() + b"," + typ.encode() + b"," + content
    head = b"$$" + flag.encode() + str(len(body) + 5).encode() + body + b"*"
    return head + meitrack_checksum(head) + b"\r\n"


def meitrack_confirm(flag, imei, typ, n):
    """The server's @@<flag><len>,<imei>,CCC|CCE,<n>*XX\\r\\n confirmation."""
    body = f",{imei},{typ},{n}*".encode()
    head = b"@@" + flag.encode() + str(len(body) + 4).encode() + body
    return head + meitrack_checksum(head) + b"\r\n"


def meitrack_aaa(event, lat, lon, when=None):
    """AAA event report content, the current layout (hex analog inputs)."""
    stamp = time.strftime("%y%m%d%H%M%S", time.gmtime(when or time.time() - 60))
    return (f"{event},{lat:.6f},{lon:.6f},{stamp},A,9,22,36,90,0.8,25,1000,200,"
            "460|0|27B6|11BE,0000,0000|0000|0000|018D|04F0,00000001,,3,0000").encode()


def meitrack_cce_record(event, lat, lon, secs):
    """One CCE record: event, fix, satellites; speed; latitude, longitude,
    time (seconds since 2000)."""
    one = bytes([3, 0x01, event, 0x05, 1, 0x06, 8])
    two = bytes([1, 0x08]) + struct.pack("<H", 42)
    four = (bytes([3, 0x02]) + struct.pack("<i", int(round(lat * 1e6))) + bytes([0x03]) +
            struct.pack("<i", int(round(lon * 1e6))) + bytes([0x04]) + struct.pack("<I", secs))
    rec = struct.pack("<H", 7) + one + two + four + bytes([0])
    return struct.pack("<H", len(rec)) + rec


def meitrack_cce(records):
    """CCE content: nothing left in the cache, then the records."""
    return struct.pack("<IH", 0, len(records)) + b"".join(records)


# ---- teltonika --------------------------------------------------------------

def crc16_ibm(data):
    """CRC-16/IBM (ARC): reflected polynomial 0xA001, initial value 0."""
    return crc16(data, 0xA001)


def teltonika_handshake(imei):
    return struct.pack(">H", len(imei)) + imei.encode()


def teltonika_record(when, lat, lon, sats=9, speed=36, io1=b"", io2=b"", event=0):
    """One codec 8 record: ms time, priority 0, GPS element, event id, IO
    groups of 1- and 2-byte values (io1/io2: id and value bytes, packed)."""
    gps = struct.pack(">QBiihHBH", int(when * 1000), 0, round(lon * 1e7), round(lat * 1e7),
                      112, 45, sats, speed)
    c1, c2 = len(io1) // 2, len(io2) // 3
    return gps + bytes([event, c1 + c2, c1]) + io1 + bytes([c2]) + io2 + b"\x00\x00"


def teltonika_data(records, codec=8):
    """Codec id, record count, records, record count."""
    return bytes([codec, len(records)]) + b"".join(records) + bytes([len(records)])


def teltonika_packet(records, codec=8):
    """A TCP AVL packet: preamble, data length, data, CRC-16/IBM."""
    data = teltonika_data(records, codec)
    return struct.pack(">II", 0, len(data)) + data + struct.pack(">I", crc16_ibm(data))


def teltonika_udp(imei, packet_id, avl_id, records):
    """A UDP channel packet: length, packet id, type 01, AVL packet id, IMEI, data."""
    body = struct.pack(">HBB", packet_id, 1, avl_id) + teltonika_handshake(imei)
    body += teltonika_data(records)
    return struct.pack(">H", len(body)) + body


# ---- tk103 ------------------------------------------------------------------

def tk103_gps(lat="2230.0000N", lon="11400.0000E", date="240315", hhmmss="101530"):
    """The GPS block: yyMMdd, A, lat, lon, 36 km/h, time, course 45, charging
    off and ACC on, mileage 0x1000 m."""
    return f"{date}A{lat}{lon}036.0{hhmmss}045.0001000000L00001000"


# ---- osmand -------------------------------------------------------------------

OSMAND_OK = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"


def osmand_get(query, extra=b""):
    """A GET request with the query string (and extra header lines)."""
    return b"GET /?" + query.encode() + b" HTTP/1.1\r\nHost: trackd\r\n" + extra + b"\r\n"


def osmand_post(body, ctype=b"application/json", extra=b""):
    """A POST request with the body and its Content-Type."""
    return (b"POST / HTTP/1.1\r\nHost: trackd\r\nContent-Type: " + ctype +
            b"\r\nContent-Length: " + str(len(body)).encode() + b"\r\n" + extra + b"\r\n" + body)


# ---- queclink ---------------------------------------------------------------

def queclink_block(lat=22.5, lon=114.0, when="20240315101530", acc=1):
    """A GPS block: accuracy, speed, azimuth, altitude, longitude, latitude,
    UTC time, MCC, MNC, LAC, cell id, reserved."""
    return f"{acc},36.0,45,12.0,{lon:.6f},{lat:.6f},{when},0460,0000,18d8,6141,00"


def queclink_report(kind, typ, uid, fields, count, version="1A0102", send="20240315101531"):
    """+<kind>:GT<typ>,<version>,<uid>,<fields>,<send time>,<count>$."""
    return f"+{kind}:GT{typ},{version},{uid},{fields},{send},{count:04X}$".encode()


def queclink_fri(uid, count, **kw):
    """A GL300 fixed report: device name, report id, report type, number, one
    block, battery percentage."""
    return queclink_report("RESP", "FRI", uid, f",0,0,1,{queclink_block(**kw)},80", count)


def queclink_hbd(uid, count, version="1A0102"):
    return queclink_report("ACK", "HBD", uid, "", count, version)


# ---- suntech ----------------------------------------------------------------

def suntech_fix(lat=22.5, lon=114.0, when="20240315;10:15:30"):
    """Legacy position fields: date, time, cell, latitude, longitude, speed,
    course, satellites, fix."""
    return f"{when};3fac25;{lat:+.6f};{lon:+.6f};036.000;045.00;9;1"


def suntech_report(typ, uid, tail, model="ST300", **kw):
    """<model><typ>;<id>;<model no.>;<version>;<fix>;<tail>\r"""
    return f"{model}{typ};{uid};04;512;{suntech_fix(**kw)};{tail}\r".encode()


def suntech_stt(uid, **kw):
    return suntech_report("STT", uid, "41557;12.21;100000;1;0376;010360;4.2;1", **kw)


# ---- stored rows ---------------------------------------------------------------

def stored_fix_times(db, dev, lat=22.5, lon=114.0):
    """The device times of the position rows device `dev` has at lat, lon
    (to 1e-6), in order."""
    rows = t.db_rows(db, "SELECT p.latitude, p.longitude, p.device_time FROM positions p JOIN"
                         " devices d ON d.id = p.device_id WHERE d.unique_id = ? AND"
                         " p.type = 'position'", (dev,))
    return sorted(ms for la, lo, ms in rows if abs(la - lat) < 1e-6 and abs(lo - lon) < 1e-6)


def stored_fixes(db, dev, lat=22.5, lon=114.0):
    """How many position rows device `dev` has at lat, lon (to 1e-6)."""
    return len(stored_fix_times(db, dev, lat, lon))


def stored_lats(db, dev):
    """The latitudes of device `dev`'s position rows, to 0.01, in order."""
    rows = t.db_rows(db, "SELECT p.latitude FROM positions p JOIN devices d ON d.id = p.device_id"
                         " WHERE d.unique_id = ? AND p.type = 'position'", (dev,))
    return sorted(round(lat, 2) for (lat,) in rows)


def stored_types(db, dev):
    """The types of device `dev`'s rows, in the order they were stored."""
    return [typ for (typ,) in t.db_rows(db, "SELECT p.type FROM positions p JOIN devices d ON"
                                            " d.id = p.device_id WHERE d.unique_id = ?"
                                            " ORDER BY p.id", (dev,))]


def stored_events(db, dev, typ):
    """How many events of type `typ` device `dev` has."""
    return t.db_rows(db, "SELECT count(*) FROM events e JOIN devices d ON d.id = e.device_id"
                         " WHERE d.unique_id = ? AND e.type = ?", (dev, typ))[0][0]


# ---- one conversation per family ---------------------------------------------

class Link:
    """One device's transport: TCP connection or UDP socket to the port."""

    def __init__(self, port, transport):
        self.port, self.udp = port, transport == "udp"
        self.s = t.udp() if self.udp else t.tcp(port)

    def send(self, data):
        if self.udp:
            self.s.sendto(data, ("127.0.0.1", self.port))
        else:
            self.s.sendall(data)

    def recv(self, until=None, timeout=5.0):
        if self.udp:
            self.s.settimeout(timeout)
            try:
                return self.s.recvfrom(65536)[0]
            except socket.timeout:
                return b""
        return t.recv_until(self.s, until, timeout) if until else t.recv_quiet(self.s, timeout)

    def close(self):
        self.s.close()


def talk(port, steps, transport="tcp"):
    """Plays a device's side of a transcript over one link: each step is
    (bytes to send, the exact answer owed: b"" for none within 0.5 s), or
    (bytes, answer, n) to send the bytes n at a time over TCP. Returns
    (every answer as owed, the answers)."""
    link = Link(port, transport)
    got = []
    for step in steps:
        data, want = step[0], step[1]
        if len(step) > 2 and not link.udp:
            t.send_split(link.s, data, step[2])
        else:
            link.send(data)
        got.append(link.recv(want) if want else link.recv(timeout=0.5))
    link.close()
    return all(g == step[1] for g, step in zip(got, steps)), got


def conv_gotop(port, transport, uid):
    return talk(port, [(f"#{uid},CMD-T,A,DATE:240315,TIME:101530,LAT:22.5000000N,"
                        f"LOT:114.0000000E,Speed:036.0,84-20,045#".encode(), b"")], transport)


def conv_watch(port, transport, uid):
    return talk(port, [(watch_frame(uid, "LK"), watch_frame(uid, "LK")),
                       (watch_frame(uid, "UD,150324,101530,A,22.500000,N,114.000000,E,36.0,45,100,"
                                         "9,80,90,1000,0,00000000,0"), b"")], transport)


def conv_iw(port, transport, uid):
    link = Link(port, transport)
    link.send(f"IWAP00{uid}#".encode())
    r1 = link.recv(b"#")
    link.send(t.iw_position(int(time.time()) - 60, lat=22.5, lon=114.0))
    r2 = link.recv(b"#")
    link.close()
    return bool(re.fullmatch(rb"IWBP00,\d{14},-?[\d.]+#", r1)) and r2 == b"IWBP01#", (r1, r2)


def conv_gt06(port, transport, uid):
    link = Link(port, transport)
    link.send(gt06_frame(0x01, gt06_login(uid), 1))
    r1 = link.recv(b"\r\n")
    link.send(gt06_frame(0x12, GT06_GPS + GT06_CELL, 2) + gt06_frame(0x13, bytes([0x46, 6, 4, 0, 2]), 3)
              if not link.udp else gt06_frame(0x12, GT06_GPS + GT06_CELL, 2))
    r2 = link.recv(b"\r\n", timeout=5.0 if not link.udp else 0.5)
    link.close()
    want2 = gt06_echo(0x13, 3) if not link.udp else b""
    return r1 == gt06_echo(0x01, 1) and r2 == want2, (r1, r2)


def conv_h02(port, transport, uid):
    link = Link(port, transport)
    link.send(f"*HQ,{uid},V1,101530,A,2230.0000,N,11400.0000,E,019.44,045,150324,FFFFFBFF#"
              .encode())
    r = link.recv(b"#")
    link.close()
    return h02_v4_reply(r, uid, "V1"), r


def conv_jt808(port, transport, uid):
    phone = uid.rjust(12, "0")
    link = Link(port, transport)
    register = ((44).to_bytes(2, "big") + (307).to_bytes(2, "big") + b"ABCDE" +
                b"TK-808".ljust(20, b"\0") + b"T123456" + b"\x01" + b"B12345")
    link.send(jt808_frame(0x0100, phone, 1, register))
    r1 = link.recv() if link.udp else recv_frames(link.s, b"\x7e")
    link.send(jt808_frame(0x0200, phone, 2, jt808_location(22.5, 114.0, "240315181530")))
    r2 = link.recv() if link.udp else recv_frames(link.s, b"\x7e")
    link.close()
    want1 = jt808_frame(0x8100, phone, 0, (1).to_bytes(2, "big") + b"\x00" + uid.encode())
    return r1 == want1 and r2 == jt808_ack(phone, 1, 2, 0x0200), (r1.hex(), r2.hex())


def conv_gps103(port, transport, uid):
    return talk(port, [(f"##,imei:{uid},A;".encode(), b"LOAD"), (gps103_report(uid), b""),
                       (f"{uid};".encode(), b"ON")], transport)


def conv_meitrack(port, transport, uid):
    secs = int(time.time()) - 946684800 - 30
    return talk(port, [(meitrack_frame("A", uid, "AAA", meitrack_aaa(35, 22.5, 114.0)), b""),
                       (meitrack_frame("c", uid, "CCE",
                                       meitrack_cce([meitrack_cce_record(35, 22.5, 114.0, secs)])),
                        meitrack_confirm("c", uid, "CCE", 1))], transport)


def conv_teltonika(port, transport, uid):
    record = teltonika_record(calendar.timegm((2024, 3, 15, 10, 15, 30)), 22.5, 114.0)
    if transport == "udp":
        return talk(port, [(teltonika_udp(uid, 0xCAFE, 7, [record]),
                            bytes.fromhex("0005cafe010701"))], "udp")
    return talk(port, [(teltonika_handshake(uid), b"\x01"),
                       (teltonika_packet([record]), b"\x00\x00\x00\x01")])


def conv_tk103(port, transport, uid):
    return talk(port, [(f"({uid}BP05{'86500000' + uid[-7:]}{tk103_gps()})".encode(),
                        f"({uid}AP05)".encode()),
                       (f"({uid}BR00{tk103_gps(hhmmss='101600')})".encode(), b""),
                       (f"({uid}BP00HSO)".encode(), f"({uid}AP01HSO)".encode())], transport)


def conv_osmand(port, transport, uid):
    return talk(port, [(osmand_get(f"id={uid}&lat=22.5&lon=114.0&timestamp={int(time.time()) - 30}"
                                   "&speed=10.5&bearing=45&batt=80"), OSMAND_OK)], transport)


def conv_queclink(port, transport, uid):
    return talk(port, [(queclink_hbd(uid, 1), b"+SACK:GTHBD,1A0102,0001$"),
                       (queclink_fri(uid, 2), b"+SACK:0002$")], transport)


def conv_suntech(port, transport, uid):
    return talk(port, [(suntech_stt(uid), f"ST300ACK;{uid}".encode())], transport)


def neighbour(results, label, family="watch", uid=None):
    """A device for tdtest.run_devices: `family`'s conversation over TCP (as
    device uid, or the family's own), next to the protocol under test; its
    (ok, detail) goes to results[label]."""
    def device(port):
        results[label] = FAMILIES[family]["conv"](port, "tcp", uid or FAMILIES[family]["uid"])
    return device


FAMILIES = {
    "gotop": {"uid": "353327020115804", "conv": conv_gotop},
    "watch": {"uid": "8800000015", "conv": conv_watch},
    "iw": {"uid": "860000000000101", "conv": conv_iw},
    "gt06": {"uid": "359000000000101", "conv": conv_gt06},
    "h02": {"uid": "4106000101", "conv": conv_h02},
    "jt808": {"uid": "13912340101", "conv": conv_jt808},
    "gps103": {"uid": "865000000000101", "conv": conv_gps103},
    "meitrack": {"uid": "353358017780101", "conv": conv_meitrack},
    "teltonika": {"uid": "352093000000101", "conv": conv_teltonika},
    "tk103": {"uid": "013600000101", "conv": conv_tk103},
    "osmand": {"uid": "osmand-phone-101", "conv": conv_osmand},
    "queclink": {"uid": "862000000000101", "conv": conv_queclink},
    "suntech": {"uid": "205000101", "conv": conv_suntech},
}
