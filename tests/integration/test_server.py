"""The real trackd on loopback: devices of all three seed protocols report
over TCP and UDP (IPv4 and IPv6) at the same time; the exact replies and the
stored rows are checked; then restart, crash, rejection of unknown devices,
and the idle timeout."""
import os
import re
import signal
import socket
import threading
import time

import tdtest as t

a = t.args()
work = t.tmpdir()
db = os.path.join(work, "trackd.db")
passed = 0


def watch(mf, dev, content):
    return f"[{mf}*{dev}*{len(content):04X}*{content}]".encode()


UD = "UD,210324,101500,A,22.571707,N,113.861397,E,0.10,90,100,7,60,90,1000,50,00000000,1,1,460,0,9360,4082,131"
AL_SOS = "AL,210324,101600,A,22.571800,N,113.861500,E,0.00,0,100,7,60,88,1000,50,00010000,1,1,460,0,9360,4082,131"
IW_POS = b"IWAP01240321A2232.9806N11404.9355E000.1101530323.8706000908000102,460,0,9520,3671#"
GOTOP_T = b"359000000000001,CMD-T,A,DATE:240321,TIME:101500,LAT:22.5000000N,LON:114.0000000E,Speed:010.0,080-20,#"
GOTOP_SOS = b"359000000000001,CMD-KEY,A,DATE:240321,TIME:101600,LAT:22.5001000N,LON:114.0001000E,Speed:000.0,079-20,#"

results = {}


def record(name, ok, detail=""):
    results[name] = (ok, detail)


def dev_watch_tcp(port):
    s = t.tcp(port)
    s.sendall(watch("SG", "3000000001", "LK"))
    r1 = t.recv_until(s, b"]")
    s.sendall(watch("SG", "3000000001", UD))
    r2 = t.recv_quiet(s, 0.5)
    # A frame with a bad latitude: logged, the connection survives.
    s.sendall(watch("SG", "3000000001", UD.replace("22.571707", "2x.5717")))
    s.sendall(watch("SG", "3000000001", AL_SOS))
    r3 = t.recv_until(s, b"]")
    # The acknowledgement means the record is durable: it is in the store now.
    sos = t.db_rows(db, "SELECT count(*) FROM events e JOIN devices d ON d.id = e.device_id"
                        " WHERE d.unique_id = '3000000001' AND e.type = 'sos'")[0][0]
    s.close()
    record("watch tcp", r1 == watch("SG", "3000000001", "LK") and r2 == b"" and
           r3 == watch("SG", "3000000001", "AL") and sos == 1, (r1, r2, r3, sos))


def dev_iw_tcp6(port):
    s = t.tcp(port, "::1")
    s.sendall(b"IWAP00353456789012345#")
    r0 = t.recv_until(s, b"#")
    s.sendall(IW_POS)
    r1 = t.recv_until(s, b"#")
    s.sendall(b"IWAPHP,70,120,80,97,5.2,36.6#")
    r2 = t.recv_until(s, b"#")
    # Three frames in one write: three replies, in order.
    s.sendall(b"IWAP49,60#IWAP49,61#IWAP49,62#")
    r3 = t.recv_until(s, b"IWBP49#IWBP49#IWBP49#")
    s.close()
    record("iw tcp ipv6", re.fullmatch(rb"IWBP00,\d{14},-?\d+#", r0) is not None and
           r1 == b"IWBP01#" and r2 == b"IWBPHP#" and r3 == b"IWBP49#" * 3, (r0, r1, r2, r3))


def dev_gotop_tcp(port):
    s = t.tcp(port)
    s.sendall(GOTOP_T)
    s.sendall(GOTOP_SOS)
    r = t.recv_quiet(s, 0.5)
    s.close()
    record("gotop tcp", r == b"", r)


def dev_watch_split(port):
    s = t.tcp(port)
    for b in watch("3G", "3000000003", "LK,120,0,88"):
        s.send(bytes([b]))
        time.sleep(0.005)
    r = t.recv_until(s, b"]")
    s.close()
    record("watch split bytes", r == watch("3G", "3000000003", "LK"), r)


def dev_udp(port):
    u = t.udp()
    u.sendto(watch("3G", "3000000002", "LK"), ("127.0.0.1", port))
    r1, _ = u.recvfrom(4096)
    u.sendto(b"IWAP00353456789099999#", ("127.0.0.1", port))
    r2, _ = u.recvfrom(4096)
    u.sendto(b"IWAP49,75#", ("127.0.0.1", port))
    r3, _ = u.recvfrom(4096)
    u.close()
    u6 = t.udp("::1")
    u6.sendto(GOTOP_T.replace(b"359000000000001", b"359000000000002"), ("::1", port))
    u6.close()
    record("udp", r1 == watch("3G", "3000000002", "LK") and r2.startswith(b"IWBP00,") and
           r3 == b"IWBP49#", (r1, r2, r3))


def dev_garbage(port):
    s = t.tcp(port)
    s.sendall(b"SSH-2.0-OpenSSH_9.6\r\n")  # (HTTP GET and POST are osmand's)
    r = t.recv_until(s, b"never", 3.0)
    s.close()
    record("garbage closed", r == b"", r)


srv = t.Server(a.trackd, db)
threads = [threading.Thread(target=f, args=(srv.port,)) for f in
           (dev_watch_tcp, dev_iw_tcp6, dev_gotop_tcp, dev_watch_split, dev_udp, dev_garbage)]
for th in threads:
    th.start()
for th in threads:
    th.join(30)
for name, (ok, detail) in sorted(results.items()):
    if t.check(ok, f"{name}: {detail}"):
        passed += 1
t.check(len(results) == len(threads), f"all devices finished: {sorted(results)}")

# A device that moves from UDP to TCP stays the same device.
s = t.tcp(srv.port)
s.sendall(watch("3G", "3000000002", "LK"))
t.check(t.recv_until(s, b"]") == watch("3G", "3000000002", "LK"), "udp device over tcp")
s.close()
t.check(srv.wait_log(r"decode error: watch: .*lat"), "bad latitude logged")
t.check(srv.wait_log(r"unknown protocol: first bytes 5353482d"), "garbage logged as hex")
t.check(srv.stop() == 0, "clean exit on SIGTERM")
t.check("store closed cleanly" in srv.text(), "store closed cleanly")
passed += 5

# Rows in the store.
devices = dict(t.db_rows(db, "SELECT unique_id, protocol FROM devices"))
t.check(devices == {"3000000001": "watch", "3000000002": "watch", "3000000003": "watch",
                    "353456789012345": "iw", "353456789099999": "iw",
                    "359000000000001": "gotop", "359000000000002": "gotop"},
        f"devices: {devices}")
t.check(t.db_rows(db, "SELECT count(*) FROM devices WHERE online != 0")[0][0] == 0,
        "all offline after stop")
rows = t.db_rows(db, "SELECT p.type, p.valid, round(p.latitude, 5), round(p.longitude, 5),"
                     " p.device_time FROM positions p JOIN devices d ON d.id = p.device_id"
                     " WHERE d.unique_id = '3000000001' ORDER BY p.id")
t.check(rows[0][0] == "heartbeat" and rows[1][:4] == ("position", 1, 22.57171, 113.8614) and
        rows[1][4] == 1711016100000 and rows[2][:4] == ("position", 1, 22.5718, 113.8615) and
        len(rows) == 3, f"watch rows: {rows}")
rows = t.db_rows(db, "SELECT p.type, p.located, round(p.latitude, 4), p.attributes FROM positions"
                     " p JOIN devices d ON d.id = p.device_id WHERE d.unique_id ="
                     " '353456789012345' ORDER BY p.id")
types = [r[0] for r in rows]
t.check(types[:3] == ["login", "position", "status"] and types.count("status") == 4,
        f"iw row types: {types}")
hp = rows[2]
t.check(hp[1] == 1 and hp[2] == 22.5497 and '"heartRate":70' in hp[3] and
        '"systolic":120' in hp[3] and '"spo2":97' in hp[3] and '"bodyTemperature":36.6' in hp[3],
        f"health row at last known location: {hp}")
ev = t.db_rows(db, "SELECT d.unique_id, e.type, round(e.latitude, 4) FROM events e JOIN devices d"
                   " ON d.id = e.device_id ORDER BY e.id")
t.check(sorted(ev) == [("3000000001", "sos", 22.5718), ("359000000000001", "sos", 22.5001)],
        f"events: {ev}")
unk = t.db_rows(db, "SELECT remote, reason, hex(bytes) FROM unknown_traffic")
t.check(len(unk) == 1 and unk[0][0].startswith("tcp:127.0.0.1:") and
        unk[0][2].startswith("5353482D"), f"unknown traffic: {unk}")
n_before = t.db_rows(db, "SELECT count(*) FROM positions")[0][0]
passed += 7

# Restart: the data is still there and new data joins it.
srv = t.Server(a.trackd, db)
t.check(srv.wait_log(r"7 devices known"), "devices loaded on restart")
s = t.tcp(srv.port)
s.sendall(GOTOP_T.replace(b"101500", b"101700"))
time.sleep(0.5)
s.close()
t.check(srv.stop() == 0, "second clean exit")
n_after = t.db_rows(db, "SELECT count(*) FROM positions")[0][0]
t.check(n_after == n_before + 1, f"rows after restart: {n_before} -> {n_after}")
passed += 3

# Crash: every acknowledged frame survives SIGKILL.
srv = t.Server(a.trackd, db)
s = t.tcp(srv.port)
acked = 0
for i in range(20):
    s.sendall(watch("SG", "3000000001", AL_SOS.replace("101600", f"1017{i:02d}")))
    if t.recv_until(s, b"]", 2.0) == watch("SG", "3000000001", "AL"):
        acked += 1
srv.proc.send_signal(signal.SIGKILL)
srv.proc.wait(10)
srv.log.close()
s.close()
stored = t.db_rows(db, "SELECT count(*) FROM positions p JOIN devices d ON d.id = p.device_id"
                       " WHERE d.unique_id = '3000000001' AND p.device_time >= 1711016220000"
                       " AND p.device_time < 1711016280000")[0][0]
t.check(acked == 20 and stored == 20, f"acked {acked}, stored after kill -9: {stored}")
passed += 1

# --register-unknown=false: a new device is refused and shown as unknown
# traffic; a known one is served.
srv = t.Server(a.trackd, db, "--register-unknown=false")
s = t.tcp(srv.port)
s.sendall(watch("SG", "3999999999", "LK"))
t.check(t.recv_until(s, b"]", 3.0) == b"", "unknown device gets no reply and is closed")
s.close()
s = t.tcp(srv.port)
s.sendall(watch("SG", "3000000001", "LK"))
t.check(t.recv_until(s, b"]") == watch("SG", "3000000001", "LK"), "known device served")
s.close()
t.check(srv.wait_log(r"rejected unregistered device 3999999999"), "rejection logged")
t.check(srv.stop() == 0, "third clean exit")
unk = t.db_rows(db, "SELECT reason FROM unknown_traffic WHERE reason LIKE 'unregistered%'")
t.check(unk == [("unregistered device 3999999999 (watch)",)], f"rejected device kept: {unk}")
t.check(t.db_rows(db, "SELECT count(*) FROM devices WHERE unique_id = '3999999999'")[0][0] == 0,
        "rejected device not added")
passed += 6

# Idle timeout: a silent connection is closed. Detect timeout: a connection
# whose bytes could still become a frame but never do is closed too, and its
# bytes are kept. A datagram nobody recognises is dropped and kept.
srv = t.Server(a.trackd, db, "--idle-timeout", "1", "--detect-timeout", "1")
s = t.tcp(srv.port)
s.sendall(watch("SG", "3000000001", "LK"))
t.recv_until(s, b"]")
start = time.time()
gone = t.recv_until(s, b"never", 5.0) == b"" and time.time() - start < 4.5
t.check(gone and srv.wait_log(r"disconnect \(idle timeout\)"), "idle connection closed")
s.close()
s = t.tcp(srv.port)
s.sendall(b"IW")
t.check(t.recv_until(s, b"never", 5.0) == b"" and
        srv.wait_log(r"protocol not detected within 1 s"), "undetected connection closed")
s.close()
u = t.udp()
u.sendto(b"\x01\x02garbage", ("127.0.0.1", srv.port))
u.close()
t.check(srv.wait_log(r"udp:127.0.0.1:\d+: unknown protocol: first bytes 0102"), "udp junk logged")
srv.stop()
unk = t.db_rows(db, "SELECT remote, reason, hex(bytes) FROM unknown_traffic ORDER BY id")
t.check(any(r[1].startswith("protocol not detected") and r[2] == "4957" for r in unk) and
        any(r[0].startswith("udp:127.0.0.1:") and r[2].startswith("0102") for r in unk),
        f"undetected samples kept: {unk}")
passed += 4

t.finish("server", passed)
