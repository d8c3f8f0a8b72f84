"""The limits of the device port and the HTTP side, against the real trackd
with small limits given on the command line: connections per address and in
all (also from a config file), the open-file limit, frame sizes, a peer
that does not read, slow senders (detection and frame timeouts), the UDP
rate per address, a flood from 127.0.0.2 next to an honest device on
127.0.0.1 (every acknowledgement and every fix must arrive), request bodies
(413), malformed JSON on every POST/PUT route, long request headers, the
WebSocket client limit and the HTTP connection limit. Each limit hit must
be counted in /metrics and logged through rate-limited lines."""
import json
import os
import re
import resource
import socket
import subprocess
import threading
import time

import tdtest as t
from ws_client import WS

a = t.args()
work = t.tmpdir()
ADMIN_PW = "limits-admin-1"
HONEST = "127.0.0.1"
FLOODER = "127.0.0.2"
OTHER = "127.0.0.3"
PER_ADDR = 4
UDP_RATE = 50
LIMITS = ["--max-connections-per-ip", str(PER_ADDR), "--frame-timeout", "3",
          "--detect-timeout", "2", "--udp-rate", str(UDP_RATE), "--udp-burst", str(UDP_RATE),
          "--write-queue-max", "16", "--ws-max-clients", "2", "--http-max-connections", "8",
          "--http-header-max", "2048", "--admin-password", ADMIN_PW]
FIXTURE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "voice.amr")


def tcp_from(port, src, timeout=5.0):
    """A TCP connection to the device port from loopback address src."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.bind((src, 0))
    s.connect(("127.0.0.1", port))
    return s


def udp_from(src):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(5.0)
    s.bind((src, 0))
    return s


def closed_by_server(s, timeout=5.0):
    """Whether the server closes s (end of stream or reset) within timeout;
    whatever arrives before is read and dropped."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        s.settimeout(max(0.05, deadline - time.time()))
        try:
            if not s.recv(65536):
                return True
        except socket.timeout:
            return False
        except (ConnectionResetError, BrokenPipeError):
            return True
    return False


def refused(port, src="127.0.0.1", timeout=3.0):
    """Whether a new connection from src (an IPv4 source address, or "::1")
    is refused at once: the server resets it, which may already arrive
    while connect() returns, or closes it before anything is sent."""
    family = socket.AF_INET6 if ":" in src else socket.AF_INET
    s = socket.socket(family, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        if family == socket.AF_INET:
            s.bind((src, 0))
        s.connect((src if family == socket.AF_INET6 else "127.0.0.1", port))
        return closed_by_server(s, timeout)
    except ConnectionResetError:
        return True
    finally:
        s.close()


def iw_login_from(port, src, imei):
    """A logged-in IW device's connection from src (None when refused)."""
    s = tcp_from(port, src)
    try:
        s.sendall(f"IWAP00{imei}#".encode())
    except OSError:
        s.close()
        return None
    if not re.fullmatch(rb"IWBP00,\d{14},-?\d+#", t.recv_until(s, b"#", 3.0)):
        s.close()
        return None
    return s


def acked(s, when):
    """Sends a position for epoch second `when`; whether its ack came."""
    try:
        s.sendall(t.iw_position(when))
    except OSError:
        return False
    return t.recv_until(s, b"#", 5.0) == b"IWBP01#"


def metrics(hp):
    body = t.request(hp, "GET", "/metrics").body.decode()
    hits = {m.group(1): int(m.group(2)) for m in
            re.finditer(r'^trackd_limit_hits_total\{limit="(\w+)"\} (\d+)$', body, re.M)}
    limits = {m.group(1): int(m.group(2)) for m in
              re.finditer(r'^trackd_limits\{limit="(\w+)"\} (\d+)$', body, re.M)}
    return hits, limits, body


def fix_times(db, imei):
    return {ms for (ms,) in t.db_rows(db, "SELECT p.device_time FROM positions p JOIN devices d"
                                          " ON d.id = p.device_id WHERE d.unique_id = ? AND"
                                          " p.type = 'position'", (imei,))}


def wait_rows(db, imei, want, timeout=5.0):
    """The stored fix times of imei once they include want (or time is up)."""
    deadline = time.time() + timeout
    got = fix_times(db, imei)
    while not want <= got and time.time() < deadline:
        time.sleep(0.05)
        got = fix_times(db, imei)
    return got


def ms(when):
    return int(when) * 1000


# ---- flags and the config file ----------------------------------------------

out = subprocess.run([a.trackd, "--help"], capture_output=True, text=True, timeout=10).stdout
for flag in ("--max-connections", "--max-connections-per-ip", "--frame-timeout",
             "--write-queue-max", "--udp-rate", "--udp-burst", "--ws-max-clients",
             "--http-max-connections", "--http-header-max", "--ban-after", "--ban-seconds", "--max-udp-peers"):
    t.check(re.search(rf"^  {re.escape(flag)} VALUE +\S", out, re.M) is not None,
            f"--help lists {flag}")

# ---- connections in all, from a config file; the open-file limit ------------

db_b = os.path.join(work, "total.db")
conf = os.path.join(work, "limits.conf")
with open(conf, "w") as f:
    f.write("# limits\nmax-connections = 3\nmax-connections-per-ip = 0\n")
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
low = min(1024, hard)
resource.setrlimit(resource.RLIMIT_NOFILE, (low, hard))  # inherited by trackd
try:
    srv = t.Server(a.trackd, db_b, "--config", conf, http=True)
finally:
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
with open(f"/proc/{srv.proc.pid}/limits") as f:
    lim = re.search(r"^Max open files +(\d+) +(\d+)", f.read(), re.M)
t.check(lim and lim.group(1) == lim.group(2) == str(hard),
        f"soft open-file limit raised to the hard one: {lim and lim.groups()}")
t.check(srv.wait_log(rf"open-file limit {hard}" + (f", raised from {low}" if low < hard else "") +
                     r"; device connections at most 3 \(no limit per address\)"),
        "open-file limit and connection limits logged")
held = [iw_login_from(srv.port, f"127.0.0.{10 + i}", f"35345678901000{i}") for i in range(3)]
t.check(all(held), "three devices from three addresses connect")
t.check(refused(srv.port, "127.0.0.20"), "a fourth connection is closed at once")
t.check(all(s and acked(s, 1700000000 + i) for i, s in enumerate(held)),
        "the three connected devices are untouched")
t.check(srv.wait_log(r"tcp:127\.0\.0\.20:\d+: connection refused: 3 device connections open "
                     r"\(--max-connections 3\)"), "refusal logged")
hits, limits, _ = metrics(srv.http_port)
t.check(hits.get("connections") == 1 and hits.get("connections_per_address") == 0,
        f"counted: {hits}")
t.check(limits.get("connections") == 3 and limits.get("open_files") == hard and
        limits.get("connections_per_address") == 0, f"limits in /metrics: {limits}")
held[0].close()
time.sleep(0.3)
again = iw_login_from(srv.port, "127.0.0.20", "353456789010009")
t.check(again is not None, "a place freed by a closed connection is taken again")
for s in held[1:] + [again]:
    if s:
        s.close()
t.check(srv.stop() == 0, "clean exit (total limit)")

# ---- the server with small limits -------------------------------------------

db = os.path.join(work, "trackd.db")
srv = t.Server(a.trackd, db, *LIMITS, http=True)
port, hp = srv.port, srv.http_port
hits, limits, _ = metrics(hp)
t.check(0 < limits.get("connections", 0) and
        limits["connections"] + limits.get("http_connections", 0) < limits.get("open_files", 0),
        f"the default connection limit fits under the open-file limit: {limits}")
t.check(all(v == 0 for v in hits.values()) and len(hits) == 15, f"no limit hit yet: {hits}")



def http_trickle(out):
    """An HTTP client that trickles its request headers a byte every half
    second: libwebsockets closes it once they have not all arrived within
    10 s."""
    s = socket.create_connection(("127.0.0.1", hp), timeout=5)
    s.sendall(b"GET /api/server HTTP/1.1\r\nX-Slow: ")
    s.settimeout(0.5)
    deadline = time.time() + 20
    while time.time() < deadline and not out.get("closed"):
        try:
            s.send(b"a")
            out["sent"] = out.get("sent", 0) + 1
            out["closed"] = s.recv(100) == b""
        except socket.timeout:
            continue
        except OSError:
            out["closed"] = True
    s.close()


slow_http = {}
slow_http_thread = threading.Thread(target=http_trickle, args=(slow_http,))
slow_http_thread.start()

IMEI_HONEST = "353456789020001"
honest = iw_login_from(port, HONEST, IMEI_HONEST)
t.check(honest is not None, "the honest device logs in")
sent = [1700001000]
t.check(acked(honest, sent[-1]), "honest position acknowledged")

# Connections per address: the limit's worth of devices from the flooder's
# address connect; every further connection is closed at once; the ones
# connected keep working; a place is free again once one of them closes.
flood_devs = [iw_login_from(port, FLOODER, f"35345678903000{i}") for i in range(PER_ADDR)]
t.check(all(flood_devs), f"{PER_ADDR} devices from {FLOODER} connect")
refused_n = 0
for _ in range(6):
    refused_n += refused(port, FLOODER)
t.check(refused_n == 6, f"6 more connections from {FLOODER} closed at once: {refused_n}")
t.check(all(acked(s, 1700002000 + i) for i, s in enumerate(flood_devs)),
        "the connected devices of that address are untouched")
sent.append(1700001001)
t.check(acked(honest, sent[-1]), "another address is not limited")
t.check(srv.wait_log(rf"tcp:127\.0\.0\.2:\d+: connection refused: {PER_ADDR} connections from "
                     rf"127\.0\.0\.2 open \(--max-connections-per-ip {PER_ADDR}\)"), "logged")
flood_devs.pop().close()
time.sleep(0.3)
s = iw_login_from(port, FLOODER, "353456789030009")
t.check(s is not None, "a freed place is taken again")
flood_devs.append(s)
# IPv6 addresses count per /64 (one host usually holds a whole /64).
v6 = [t.tcp(port, "::1") for _ in range(PER_ADDR)]
time.sleep(0.3)
t.check(refused(port, "::1") and
        srv.wait_log(rf"tcp:\[::1\]:\d+: connection refused: {PER_ADDR} connections from ::/64 "
                     rf"open"), "IPv6 connections are counted per /64")
for x in v6:
    x.close()
hits, _, _ = metrics(hp)
t.check(hits.get("connections_per_address") == 7, f"refusals counted: {hits}")

# Frame sizes: a frame over its protocol's max_frame closes the connection,
# logged with the protocol and the size.
for proto, data, limit in (("iw", b"IWAP01" + b"1" * 17000, 16384),
                           ("gotop", b"359000000000001,CMD-T,A," + b"1" * 3000, 2048),
                           ("watch", b"[SG*3000000001*FFFF*" + b"1" * 66000, 65600)):
    s = tcp_from(port, OTHER)
    try:
        s.sendall(data)
    except OSError:
        pass
    t.check(closed_by_server(s), f"{proto}: a frame over {limit} bytes closes the connection")
    s.close()
    t.check(srv.wait_log(rf"tcp:127\.0\.0\.3:\d+ {proto} -: {proto}: (\d+ bytes buffered without "
                         rf"a complete frame \(limit {limit}\)|frame of \d+ bytes exceeds the limit "
                         rf"of {limit} bytes|frame too large \(\d+ bytes received; largest frame "
                         rf"{limit} bytes\)); closing"), f"{proto}: logged with its size")
hits, _, _ = metrics(hp)
t.check(hits.get("frame_size") == 3, f"oversized frames counted: {hits}")

# Slow senders: bytes trickled one a second. Before detection, the
# connection is closed after --detect-timeout; a started frame that is not
# complete within --frame-timeout closes it too (the idle timeout, 1800 s,
# never would: bytes keep coming).
def trickle(s, data, stop):
    """Sends data a byte a second until it is sent or the server closed s;
    returns how many bytes went."""
    n = 0
    for i in range(len(data)):
        if stop():
            break
        try:
            s.send(data[i:i + 1])
        except OSError:
            break
        n += 1
        time.sleep(1.0)
    return n


closed = [False, False]
s1 = tcp_from(port, OTHER)
s2 = iw_login_from(port, OTHER, "353456789040001")
t.check(s2 is not None, "the slow device logs in")
frame = t.iw_position(1700003000)
res = {}
th = [threading.Thread(target=lambda: res.__setitem__(0, trickle(s1, b"IWAP00353456789040002#",
                                                              lambda: closed[0]))),
      threading.Thread(target=lambda: res.__setitem__(1, trickle(s2, frame, lambda: closed[1])))]
for x in th:
    x.start()
closed[0] = closed_by_server(s1, 12.0)
closed[1] = closed_by_server(s2, 12.0)
for x in th:
    x.join(15)
t.check(closed[0] and res.get(0, 99) < 10, f"a trickled login is closed by the detect timeout "
        f"({res.get(0)} bytes sent)")
t.check(closed[1] and res.get(1, 999) < len(frame), f"a trickled frame is closed by the frame "
        f"timeout ({res.get(1)} of {len(frame)} bytes sent)")
t.check(srv.wait_log(r"tcp:127\.0\.0\.3:\d+: protocol not detected within 2 s \(\d+ bytes\)"),
        "detect timeout logged")
t.check(srv.wait_log(r"tcp:127\.0\.0\.3:\d+ iw 353456789040001: frame not complete within 3 s "
                     r"\(\d+ bytes of it received\); closing"), "frame timeout logged")
s1.close()
s2.close()
hits, _, _ = metrics(hp)
t.check(hits.get("detect_timeout") == 1 and hits.get("frame_timeout") == 1 and
        hits.get("idle_timeout") == 0, f"slow senders counted: {hits}")
sent.append(1700001002)
t.check(acked(honest, sent[-1]), "the honest device is untouched")

# A peer that does not read: commands pile up past what the kernel buffers
# and --write-queue-max (16 KiB); the connection is closed at once.
def watch(dev, content):
    return f"[SG*{dev}*{len(content):04X}*".encode() + content + b"]"


admin = t.Admin(hp, ADMIN_PW)
auth = admin.auth
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
s.settimeout(5.0)
s.bind((OTHER, 0))
s.connect(("127.0.0.1", port))
s.sendall(watch("3000000009", b"LK"))
t.check(t.recv_until(s, b"]") == watch("3000000009", b"LK"), "the deaf watch logs in")
time.sleep(0.3)
wid = admin.devices().get("3000000009", {}).get("id")
amr = open(FIXTURE, "rb").read()
clip = amr + amr[6:] * ((64000 - len(amr)) // (len(amr) - 6))
r = t.request(hp, "POST", f"/api/voice?deviceId={wid}", clip, {**auth, "Content-Type": "audio/amr"})
vid = (r.json() or {}).get("id")
t.check(r.status == 200 and vid, f"a {len(clip)}-byte clip uploaded for it: {r!r}")
sent_cmds = 0
for _ in range(120):  # 120 x 64 kB: more than the kernel's buffers hold
    r = admin.call("POST", "/api/commands", {"deviceId": wid, "type": "voiceMessage",
                                             "attributes": {"voiceId": vid}})
    sent_cmds += r.status == 200
    if re.search(r"peer does not read", srv.text()):
        break
t.check(srv.wait_log(r"tcp:127\.0\.0\.3:\d+ watch 3000000009: peer does not read what is sent "
                     r"to it \(\d+ bytes queued, --write-queue-max 16 KiB\); closing", 10.0),
        f"a peer that does not read is closed (after {sent_cmds} commands)")
t.check(closed_by_server(s, 10.0), "its connection is gone")
s.close()
hits, _, _ = metrics(hp)
t.check(hits.get("write_queue") == 1, f"counted: {hits}")

# UDP: datagrams from one address beyond --udp-rate (with a burst of as
# many) are dropped before anything else; another address is not affected.
u = udp_from(FLOODER)
for i in range(300):
    u.sendto(b"IWAP00353456789060001#", ("127.0.0.1", port))
u.close()
deadline = time.time() + 5
while time.time() < deadline and metrics(hp)[0].get("udp_rate", 0) < 300 - 2 * UDP_RATE:
    time.sleep(0.1)
hits, _, body = metrics(hp)
t.check(300 - 2 * UDP_RATE <= hits.get("udp_rate", 0) <= 300 - UDP_RATE,
        f"datagrams over the rate dropped and counted: {hits.get('udp_rate')}")
t.check(re.search(r"^trackd_udp_rate_addresses [12]$", body, re.M) is not None,
        "one bucket per address")
t.check(srv.wait_log(rf"udp 127\.0\.0\.2: more than {UDP_RATE} datagrams per second "
                     rf"\(burst {UDP_RATE}\); dropped"), "logged")


# ---- a flood next to an honest device ----------------------------------------

IMEI_UDP = "353456789020002"
stop_flood = threading.Event()
flood_stats = {"connections": 0, "refused": 0, "datagrams": 0}


def flood_tcp(k):
    """Connects from the flooder's address again and again (bounded), sending
    garbage or an oversized frame, until told to stop."""
    for i in range(60):
        if stop_flood.is_set():
            return
        try:
            s = tcp_from(port, FLOODER, 3.0)
        except OSError:
            continue
        flood_stats["connections"] += 1
        try:
            if (i + k) % 2:
                s.sendall(b"\x00\xffGARBAGE" * 50)
            else:
                s.sendall(b"IWAP01" + b"9" * 17000)
        except OSError:
            flood_stats["refused"] += 1
        closed_by_server(s, 3.0)
        s.close()


def flood_udp():
    """Datagrams from the flooder's address as fast as it can (bounded):
    garbage, and logins and positions of a device."""
    u = udp_from(FLOODER)
    junk = [b"\x01\x02junk" * 10, b"IWAP00353456789070001#", t.iw_position(1700009000)]
    for i in range(4000):
        if stop_flood.is_set():
            break
        try:
            u.sendto(junk[i % 3], ("127.0.0.1", port))
        except OSError:
            pass
        flood_stats["datagrams"] += 1
        if i % 200 == 199:
            time.sleep(0.01)
    u.close()


honest_tcp = {"acked": 0, "sent": []}
honest_udp = {"acked": 0, "sent": [], "tries": 0}


def honest_tcp_device():
    for i in range(150):
        when = 1700010000 + i
        honest_tcp["sent"].append(when)
        if acked(honest, when):
            honest_tcp["acked"] += 1


def honest_udp_device():
    """An IW device on UDP that waits for each acknowledgement, sending
    again after a second without one (as devices do), below --udp-rate."""
    u = udp_from(HONEST)
    frames = [(None, f"IWAP00{IMEI_UDP}#".encode())] + \
             [(1700020000 + i, t.iw_position(1700020000 + i)) for i in range(30)]
    for when, data in frames:
        for _ in range(5):
            honest_udp["tries"] += 1
            u.sendto(data, ("127.0.0.1", port))
            u.settimeout(1.0)
            try:
                reply = u.recvfrom(4096)[0]
            except socket.timeout:
                continue
            if when is None or reply == b"IWBP01#":
                break
        else:
            continue
        if when is not None:
            honest_udp["sent"].append(when)
            honest_udp["acked"] += 1
        time.sleep(1.5 / UDP_RATE)
    u.close()


flood_devs.pop().close()  # one place left for the flood's connections
time.sleep(0.3)
before, _, _ = metrics(hp)
flooders = [threading.Thread(target=flood_tcp, args=(k,)) for k in range(4)] + \
           [threading.Thread(target=flood_udp)]
honest_threads = [threading.Thread(target=honest_tcp_device),
                  threading.Thread(target=honest_udp_device)]
for x in flooders + honest_threads:
    x.start()
for x in honest_threads:
    x.join(60)
stop_flood.set()
for x in flooders:
    x.join(30)
after, _, _ = metrics(hp)
t.check(honest_tcp["acked"] == 150, f"honest TCP device: every position acknowledged during the "
        f"flood ({honest_tcp['acked']} of 150)")
t.check(honest_udp["acked"] == 30, f"honest UDP device: every position acknowledged during the "
        f"flood ({honest_udp['acked']} of 30, {honest_udp['tries']} datagrams)")
want_tcp = {ms(w) for w in sent + honest_tcp["sent"]}
t.check(want_tcp <= wait_rows(db, IMEI_HONEST, want_tcp),
        f"every fix of the honest TCP device is stored ({len(want_tcp)})")
want_udp = {ms(w) for w in honest_udp["sent"]}
t.check(len(want_udp) == 30 and want_udp <= wait_rows(db, IMEI_UDP, want_udp),
        "every fix of the honest UDP device is stored (30)")
flood_hits = {k: after.get(k, 0) - before.get(k, 0) for k in after}
t.check(flood_hits["connections_per_address"] > 0 and flood_hits["frame_size"] > 0 and
        flood_hits["udp_rate"] > 0, f"the flood hit the limits: {flood_hits}, {flood_stats}")
t.check(all(acked(s, 1700004000 + i) for i, s in enumerate(flood_devs)),
        "the flooder's address's own devices still connected")
for s in flood_devs:
    s.close()

# The log is not flooded: per kind at most 10 lines in 10 s, then one line
# with the count of those left out.
t.check(srv.wait_log(r"\d+ more lines like the above not logged in 10 s \(connections refused "
                     r"over a limit\)", 15.0), "refusals beyond 10 in 10 s summed up")
text = srv.text()
per_window = {}
for m in re.finditer(r"^(\S+)T(\d\d):(\d\d):(\d\d)\.\d+Z WARN  tcp:\S+: connection refused", text,
                     re.M):
    key = (m.group(1), int(m.group(2)) * 360 + int(m.group(3)) * 6 + int(m.group(4)) // 10)
    per_window[key] = per_window.get(key, 0) + 1
refusals = after["connections_per_address"] + after["connections"]
t.check(sum(per_window.values()) < refusals and max(per_window.values()) <= 20,
        f"refusal lines rate-limited: {sum(per_window.values())} lines for {refusals} refusals")

# ---- HTTP ----------------------------------------------------------------------

def raw_http(data, timeout=5.0, send_all=True):
    """Sends bytes on a fresh connection; returns (status, body, closed):
    the first response, and whether the server closed the connection."""
    s = socket.create_connection(("127.0.0.1", hp), timeout=timeout)
    try:
        s.sendall(data)
    except OSError:
        pass
    buf, closed = b"", False
    deadline = time.time() + timeout
    while time.time() < deadline:
        s.settimeout(max(0.05, deadline - time.time()))
        try:
            chunk = s.recv(65536)
        except socket.timeout:
            break
        except ConnectionResetError:
            closed = True
            break
        if not chunk:
            closed = True
            break
        buf += chunk
        top, sep, body = buf.partition(b"\r\n\r\n")
        m = re.search(rb"content-length: *(\d+)", top, re.I)
        if sep and m and len(body) >= int(m.group(1)) and not send_all:
            break
    s.close()
    top, _, body = buf.partition(b"\r\n\r\n")
    parts = top.split(b" ")
    status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
    return status, body, closed


def error_of(body):
    try:
        return json.loads(body).get("error", "")
    except (ValueError, AttributeError):
        return ""


cookie = auth["Cookie"]
# Bodies: over 64 KiB of JSON, 413 before the body is read (and the
# connection closed); a voice upload may hold up to 512 KiB of AMR.
st, body, closed = raw_http((f"POST /api/devices HTTP/1.1\r\nHost: x\r\nCookie: {cookie}\r\n"
                             f"Content-Type: application/json\r\nContent-Length: 65537\r\n\r\n"
                             ).encode() + b" " * 65537)
t.check(st == 413 and "too large" in error_of(body) and "65536" in error_of(body) and closed,
        f"65,537-byte JSON body: 413 with a JSON error, closed: {st} {body[:200]!r}")
st, body, closed = raw_http((f"POST /api/devices HTTP/1.1\r\nHost: x\r\nCookie: {cookie}\r\n"
                             f"Content-Type: application/json\r\nContent-Length: 1000000000\r\n"
                             f"\r\n").encode() + b"{" * 1000)
t.check(st == 413 and closed, f"a 1 GB body is refused before it is sent: {st} {body[:200]!r}")
dev = admin.call("POST", "/api/devices", {"uniqueId": "353456789080001"}).json()
big = amr + amr[6:] * 40  # about 128 kB of 12.2 kbit/s frames
r = t.request(hp, "POST", f"/api/voice?deviceId={dev['id']}", big,
              {**auth, "Content-Type": "audio/amr"})
t.check(r.status == 200 and (r.json() or {}).get("size") == len(big),
        f"a {len(big)}-byte voice upload is taken: {r!r}")
over = amr + amr[6:] * (512 * 1024 // (len(amr) - 6))
st, body, closed = raw_http((f"POST /api/voice?deviceId={dev['id']} HTTP/1.1\r\nHost: x\r\n"
                             f"Cookie: {cookie}\r\nContent-Type: audio/amr\r\n"
                             f"Content-Length: {len(over)}\r\n\r\n").encode() + over)
t.check(len(over) > 512 * 1024 and st == 413 and "524288" in error_of(body),
        f"a {len(over)}-byte voice upload: 413: {st} {body[:200]!r}")
hits, _, _ = metrics(hp)
t.check(hits.get("http_body") == 3, f"413s counted: {hits}")
t.check(srv.wait_log(r"http \S+ /api/devices: request body too large \(65537 bytes\); "
                     r"limit 65536"), "413 logged")

# Malformed JSON on every POST/PUT route that takes JSON: 400 with a JSON
# error, whatever the route (its ids need not exist: the body is checked
# first).
spec = json.loads(t.request(hp, "GET", "/api/openapi.json").body)
routes = [(m.upper(), p) for p, ops in spec["paths"].items() for m, op in ops.items()
          if m in ("post", "put") and "application/json" in
          (op.get("requestBody", {}).get("content") or {})]
t.check(len(routes) >= 16, f"JSON routes found: {len(routes)}")
for method, path in routes:
    url = re.sub(r"\{\w+\}", "1", path)
    for bad in ('{"name": ', "[1, 2]", "{'a': 1}"):
        r = t.request(hp, method, url, bad, {**auth, "Content-Type": "application/json"})
        t.check(r.status == 400 and r.error() and
                ("invalid JSON" in r.error() or "JSON object" in r.error()),
                f"{method} {url} with {bad!r}: {r!r}")

# Long request lines and headers: over --http-header-max (2048 bytes) the
# connection is closed; the server stays up; counted and logged.
st, body, closed = raw_http(b"GET /api/server?x=" + b"a" * 3000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
t.check(closed and st in (0, 400, 414, 431), f"a 3 kB URL: closed ({st})")
st, body, closed = raw_http(b"GET /api/server HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 3000 +
                            b"\r\n\r\n")
t.check(closed and st in (0, 400, 431), f"a 3 kB header: closed ({st})")
st, body, closed = raw_http(b"GET /api/server?x=" + b"a" * 1000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
                            send_all=False)
t.check(st == 400 and "too long" in error_of(body), f"a 1 kB query value: 400 {body[:120]!r}")
r = t.request(hp, "GET", "/api/server")
t.check(r.status == 200, "the server answers after long headers")
hits, _, _ = metrics(hp)
t.check(hits.get("http_headers") == 2, f"long headers counted: {hits}")
t.check(srv.wait_log(r"http: request line and headers over --http-header-max \(2048 bytes\); "
                     r"connection closed"), "long headers logged")

# WebSocket clients: two at once; the third is refused with 503 and a JSON
# error; the two keep receiving.
w1, w2 = WS(hp, auth), WS(hp, auth)
t.check(w1.accepted and w2.accepted, "two live clients connect")
w1.quiet(0.5), w2.quiet(0.5)  # the first state
w3 = WS(hp, auth)
t.check(not w3.accepted and w3.status == 503 and
        "--ws-max-clients 2" in error_of(w3.buf), f"a third is refused: {w3.status} {w3.buf!r}")
sent.append(1700001003)
t.check(acked(honest, sent[-1]), "the honest device reports")
iso = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sent[-1]))
for w in (w1, w2):
    m = w.until(lambda m: any(p.get("time", "").startswith(iso)
                              for p in m.get("positions") or []), 5.0)
    t.check(m is not None, f"an existing client receives the new position ({iso})")
t.check(srv.wait_log(r"WebSocket refused: too many live clients \(--ws-max-clients 2\)"),
        "refusal logged")
hits, _, _ = metrics(hp)
t.check(hits.get("websocket_clients") == 1, f"counted: {hits}")
w1.close()
w2.close()

slow_http_thread.join(25)
t.check(slow_http.get("closed") and slow_http.get("sent", 99) < 40,
        f"an HTTP client trickling its headers is closed ({slow_http})")

# HTTP connections: --http-max-connections 8 at once; more are closed as
# they are accepted, the open ones keep working.
time.sleep(0.3)
idle = [socket.create_connection(("127.0.0.1", hp), timeout=5) for _ in range(8)]
time.sleep(0.3)
s = socket.create_connection(("127.0.0.1", hp), timeout=5)
t.check(closed_by_server(s, 3.0), "a ninth HTTP connection is closed at once")
s.close()
idle[0].sendall(b"GET /api/server HTTP/1.1\r\nHost: x\r\n\r\n")
t.check(b" 200 " in t.recv_until(idle[0], b"}", 5.0), "an open connection still answers")
for s in idle:
    s.close()
time.sleep(0.5)
hits, _, _ = metrics(hp)
t.check(hits.get("http_connections", 0) >= 1, f"counted: {hits}")
t.check(srv.wait_log(r"http \S+: connection refused: 8 open \(--http-max-connections 8\)"),
        "logged")

sent.append(1700001004)
t.check(acked(honest, sent[-1]), "the honest device reports to the end")
honest.close()
t.check(srv.stop() == 0, "clean exit")
t.check("store closed cleanly" in srv.text(), "store closed cleanly")

# ---- bans ----------------------------------------------------------------------

# An address that keeps running into its per-address limit is banned: the
# kernel drops its new connections (its datagrams) for --ban-seconds, so a
# flood from it costs the server nothing. Other addresses, and the
# connections it already had open, go on as before.
db_c = os.path.join(work, "bans.db")
srv = t.Server(a.trackd, db_c, "--max-connections-per-ip", "2", "--ban-after", "5",
               "--ban-seconds", "3", "--udp-rate", "5", "--udp-burst", "5", "--max-udp-peers", "3",
               http=True)
port, hp = srv.port, srv.http_port
BANNED, BANNED_UDP = "127.0.0.5", "127.0.0.7"


def answered(src, timeout=0.5):
    """Whether a TCP connection from src gets any answer (accepted or reset)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.bind((src, 0))
    try:
        s.connect(("127.0.0.1", port))
        return True
    except socket.timeout:
        return False
    except OSError:
        return True
    finally:
        s.close()


mine = [iw_login_from(port, BANNED, f"35345678903000{i}") for i in range(2)]
t.check(all(mine), "two devices from one address connect")
n = sum(1 for _ in range(5) if refused(port, BANNED))
t.check(n == 5, f"five more are refused over --max-connections-per-ip 2 ({n})")
t.check(srv.wait_log(r"(?m)WARN  tcp 127\.0\.0\.5: banned for 3 s after 5 connections refused "
                     r"or closed for bad traffic within 10 s; its new connections are dropped "
                     r"by the kernel until then$", 3.0), "the ban is logged")
t.check(not answered(BANNED), "a new connection from the banned address gets no answer at all")
t.check(all(s and acked(s, 1700030000 + i) for i, s in enumerate(mine)),
        "its devices already connected go on reporting")
other = iw_login_from(port, "127.0.0.6", "353456789030005")
t.check(other is not None and acked(other, 1700030005), "another address connects and reports")
hits, limits, body = metrics(hp)
t.check(hits.get("bans") == 1 and hits.get("connections_per_address") == 5,
        f"one ban, after five refusals: {hits}")
t.check('trackd_banned_addresses{transport="tcp"} 1' in body and
        'trackd_banned_addresses{transport="udp"} 0' in body, "banned addresses in /metrics")
t.check(limits.get("ban_after") == 5 and limits.get("ban_seconds") == 3, f"limits: {limits}")
# Connections that only send what no protocol claims (or a frame over the
# limit) offend too, however few are open at once.
for i in range(5):
    s = tcp_from(port, "127.0.0.10")
    s.sendall(b"\x00\xffGARBAGE" * 50 if i % 2 else b"IWAP01" + b"9" * 17000)
    closed_by_server(s, 3.0)
    s.close()
t.check(srv.wait_log(r"WARN  tcp 127\.0\.0\.10: banned for 3 s after 5 connections", 3.0) and
        not answered("127.0.0.10"), "five connections closed for bad traffic ban their address")
t.check(srv.wait_log(r"INFO  tcp 127\.0\.0\.5: ban lifted", 6.0), "the ban ends on time")
mine[0].close()
time.sleep(0.3)
again = iw_login_from(port, BANNED, "353456789030009")
t.check(again is not None and acked(again, 1700030009),
        "then the address connects and reports again")
_, _, body = metrics(hp)
t.check(srv.wait_log(r"INFO  tcp 127\.0\.0\.10: ban lifted", 3.0), "both bans lifted")
_, _, body = metrics(hp)
t.check('trackd_banned_addresses{transport="tcp"} 0' in body, "and none is counted banned")

# UDP: 5 datagrams within the burst are answered, the next 5 are dropped
# over the rate, and the 5th drop bans the address on UDP only.
u = udp_from(BANNED_UDP)
for i in range(15):
    u.sendto(b"IWAP00353456789030010#", ("127.0.0.1", port))
replies = []
u.settimeout(0.5)
try:
    while True:
        replies.append(u.recvfrom(4096)[0])
except socket.timeout:
    pass
t.check(len(replies) == 5, f"the burst of 5 is answered ({len(replies)})")
t.check(srv.wait_log(r"(?m)WARN  udp 127\.0\.0\.7: banned for 3 s after 5 datagrams over "
                     r"--udp-rate within 10 s; its new datagrams are dropped by the kernel "
                     r"until then$", 3.0), "the UDP ban is logged")
time.sleep(1.2)  # the rate bucket refills: only the ban keeps it out now
hits_before, _, body = metrics(hp)
t.check('trackd_banned_addresses{transport="udp"} 1' in body, "one address banned on UDP")
u.sendto(b"IWAP00353456789030010#", ("127.0.0.1", port))
t.check(t.recv_quiet(u, 0.5) == b"", "a datagram from the banned address is not answered")
hits_after, _, _ = metrics(hp)
t.check(hits_after.get("udp_rate") == hits_before.get("udp_rate"),
        "nor counted: the kernel dropped it before trackd saw it")
v = udp_from("127.0.0.8")
v.sendto(b"IWAP00353456789030011#", ("127.0.0.1", port))
t.check(t.recv_quiet(v, 1.0).startswith(b"IWBP00,"), "another address is answered")
t.check(answered(BANNED_UDP), "the UDP ban does not touch TCP from the same address")
t.check(srv.wait_log(r"INFO  udp 127\.0\.0\.7: ban lifted", 6.0), "the UDP ban ends on time")
u.sendto(b"IWAP00353456789030010#", ("127.0.0.1", port))
t.check(t.recv_quiet(u, 1.0).startswith(b"IWBP00,"), "then the address is answered again")


def udp_bound(body):
    return sum(int(m.group(1)) for m in re.finditer(
        r'^trackd_connections\{protocol="[^"]*",transport="udp"\} (\d+)$', body, re.M))


# UDP peers: at most --max-udp-peers (3 here) are kept; each new one past
# that makes the one heard least recently go.
_, _, body = metrics(hp)
bound = udp_bound(body)
peers = [udp_from("127.0.0.9") for _ in range(4)]
answers = 0
for i, p in enumerate(peers):
    p.sendto(f"IWAP00{353456789040000 + i}#".encode(), ("127.0.0.1", port))
    answers += t.recv_quiet(p, 1.0).startswith(b"IWBP00,")
    time.sleep(0.05)
t.check(answers == 4, f"four new UDP peers answered ({answers})")
hits, limits, body = metrics(hp)
t.check(udp_bound(body) == 3, f"three UDP peers kept (of {bound} + 4)")
t.check(hits.get("udp_peers") == bound + 4 - 3 and limits.get("udp_peers") == 3,
        f"those forgotten counted: {hits.get('udp_peers')}, limit {limits.get('udp_peers')}")
p0 = peers[0].getsockname()[1]
t.check(srv.wait_log(rf"udp:127\.0\.0\.9:\d+: \d+ UDP peers \(--max-udp-peers 3\); the one heard "
                     rf"least recently, udp:127\.0\.0\.9:{p0}, \d+ s ago, is forgotten"),
        "the oldest of them forgotten, and logged")
for s in [u, v, other, again, mine[1]] + peers:
    s.close()
t.check(srv.stop() == 0, "clean exit (bans)")

t.finish("limits")
