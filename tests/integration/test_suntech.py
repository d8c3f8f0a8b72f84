"""suntech devices on the real trackd: legacy and universal text reports and
a zip report over TCP and UDP on the one device port, next to a device of
another protocol. The exact answers (<model>ACK;<id> for legacy reports,
ACK;<id> for universal ones, 0x15 + the BCD id for zip ones, nothing for
keep-alives), external data holding CR LF cut by its length across reads,
two reports in one write, and the stored rows with the right device ids and
the SOS event."""
import tdtest as t
from families import neighbour, stored_events, stored_fixes, stored_types, talk
from families import suntech_report as report
from families import suntech_stt as stt

a, db = t.workspace()

TCP_ID = "205000011"
UDP_ID = "205000012"
UNI_ID = "0560000013"
ZIP_ID = "205000014"
results = {}


def zip_report(dev):
    """A legacy zip status report (STX, length, header 0x11, BCD id with its
    pad, model, version, time, cell, 22.5 N 114.0 E, 36 km/h, course 45,
    fix with 9 satellites, distance, power, I/O, tail, ETX)."""
    body = (bytes([0x11]) + bytes.fromhex(dev + "0") + bytes([4, 2, 0, 24, 3, 15, 10, 15, 30]) +
            bytes.fromhex("3fac25") + bytes([22, 0x50, 0, 0, 114, 0, 0, 0]) +
            bytes.fromhex("002400" "002d00") + bytes([0x80 | 9]) + bytes.fromhex("0000a255") +
            bytes([12, 0x21, 1, 1]) + bytes.fromhex("0178000028880420" "01"))
    return b"\x02" + len(body).to_bytes(2, "big") + body + b"\x03"


def dev_tcp(port):
    s = t.tcp(port)
    s.sendall(f"ST300ALV;{TCP_ID}\r".encode())
    r1 = t.recv_quiet(s, 0.5)  # keep-alives are not acknowledged
    ack = f"ST300ACK;{TCP_ID}".encode()
    emg = report("EMG", TCP_ID, "41548;12.17;110000;1;0;4.2;1")
    s.sendall(stt(TCP_ID) + emg)  # two reports in one write: two ACKs
    both = t.recv_count(s, ack, 2)
    # External data with CR LF inside, sent in pieces.
    uex = report("UEX", TCP_ID, "0;12.14;100010;19;RFID:008FB2BEBA39\r\n;3E;000135;4.1;1")
    t.send_split(s, uex, 9, 0.01)
    r3 = t.recv_until(s, ack)
    s.close()
    results["tcp"] = (r1 == b"" and both == ack + ack and r3 == ack, (r1, both, r3))


def dev_universal(port):
    results["universal"] = talk(port, [(
        f"STT;{UNI_ID};3FFFFF;26;398;1;20240315;10:15:30;087d4760;310;410;0ba0;23;+22.500000;"
        f"+114.000000;36.00;45.00;9;1;00000001;00000000;1;1;0006;4.1;12.37\r".encode(),
        f"ACK;{UNI_ID}".encode())])


def dev_zip(port):
    results["zip"] = talk(port, [(zip_report(ZIP_ID), b"\x15" + bytes.fromhex(ZIP_ID + "0"))])


def dev_udp(port):
    results["udp"] = talk(port, [(stt(UDP_ID, model="SA200"), f"SA200ACK;{UDP_ID}".encode())],
                          "udp")


t.serve_devices(a, db, results, dev_tcp, dev_universal, dev_zip, dev_udp,
                neighbour(results, "watch next to suntech", uid="3000000029"))

devices = t.stored_devices(db)
for dev in (TCP_ID, UDP_ID, UNI_ID, ZIP_ID):
    t.check(devices.get(dev) == "suntech", f"{dev}: {devices}")
t.check(devices.get("3000000029") == "watch", devices)
for dev, n in ((TCP_ID, 3), (UDP_ID, 1), (UNI_ID, 1), (ZIP_ID, 1)):
    t.check(stored_fixes(db, dev) == n, f"{dev}: {stored_types(db, dev)}")
t.check("heartbeat" in stored_types(db, TCP_ID), f"heartbeat row: {stored_types(db, TCP_ID)}")
sos = stored_events(db, TCP_ID, "sos")
t.check(sos == 1, f"sos events: {sos}")
t.finish("suntech")
