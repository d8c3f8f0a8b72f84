"""The live WebSocket feed (/api/socket) of the real trackd on loopback: the
handshake and its refusals, the first state, positions, events and device
changes pushed after each durable commit to exactly the users who may see
them, sharing and deleting, the close handshake, frame-to-WebSocket latency
(printed), and the disconnection of a client that stops reading.

The WebSocket client is a minimal RFC 6455 one over a plain socket."""
import os
import re
import socket
import statistics
import threading
import time
import traceback
from datetime import datetime

import tdtest as t
from ws_client import WS

a = t.args()
work = t.tmpdir()
ADMIN_PW = "admin-secret-1"
SERVERS = []

IMEI_A = "353456789100011"  # alice's
IMEI_B = "353456789100022"  # bob's
IMEI_U = "353456789100033"  # not added: ownerless
IMEI_D = "353456789100044"  # the slow-client server's device


def items(msgs, key):
    return [x for m in msgs for x in (m.get(key) or [])]


def mentions(msgs, device_id):
    """Messages holding anything of device_id."""
    return [m for m in msgs
            if any(d.get("id") == device_id for d in m.get("devices") or []) or
            any(p.get("deviceId") == device_id for p in
                (m.get("positions") or []) + (m.get("events") or []))]


def login(port, name, pw):
    r = t.request(port, "POST", "/api/session", {"user": name, "password": pw})
    m = re.match(r"(trackd_session=[0-9a-f]{64});", r.header("set-cookie") or "")
    t.check(r.status == 200 and m, f"login {name}: {r!r}")
    return {"Cookie": m.group(1) if m else ""}, (r.json() or {}).get("id")


def api(port, auth, method, path, body=None):
    return t.request(port, method, path, body, auth)


def metric(port, name):
    body = t.request(port, "GET", "/metrics").body.decode()
    m = re.search(rf"^{re.escape(name)} (\S+)$", body, re.M)
    return float(m.group(1)) if m else None


def parse_time(s):
    return datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()


def is_pos(dev, when=None):
    """Predicate: a positions message with a record of dev (at epoch second when)."""
    return lambda m: any(p.get("deviceId") == dev and
                         (when is None or parse_time(p["time"]) == when)
                         for p in m.get("positions") or [])


def is_dev(dev, key="status", value=None):
    return lambda m: any(d.get("id") == dev and (value is None or d.get(key) == value)
                         for d in m.get("devices") or [])


# ---- the main server ------------------------------------------------------------

def test_feed():
    db = os.path.join(work, "live.db")
    srv = t.Server(a.trackd, db, "--admin-password", ADMIN_PW, listen="127.0.0.1", http=True)
    SERVERS.append(srv)
    port = srv.http_port
    admin, _ = login(port, "admin", ADMIN_PW)
    for name in ("alice", "bob"):
        t.check(api(port, admin, "POST", "/api/users",
                    {"name": name, "password": name + "-pass-1"}).status == 200,
                f"user {name} created")
    alice, alice_id = login(port, "alice", "alice-pass-1")
    bob_cookie, bob_id = login(port, "bob", "bob-pass-1")
    r = api(port, bob_cookie, "POST", "/api/tokens")
    bob = {"Authorization": "Bearer " + ((r.json() or {}).get("token") or "")}
    A = (api(port, alice, "POST", "/api/devices", {"uniqueId": IMEI_A, "name": "A"}).json()
         or {}).get("id")
    B = (api(port, bob, "POST", "/api/devices", {"uniqueId": IMEI_B}).json() or {}).get("id")
    t.check(A and B, f"devices added: {A} {B}")

    # Handshakes.
    t.check(api(port, alice, "GET", "/api/socket").status == 400, "plain GET is 400")
    for what, hdr in (("no credentials", {}),
                      ("a made-up cookie", {"Cookie": "trackd_session=" + "cd" * 32}),
                      ("a made-up token", {"Authorization": "Bearer " + "ef" * 32}),
                      ("a foreign Origin", {**alice, "Origin": "http://evil.example"}),
                      ("an Origin on another port",
                       {**alice, "Origin": f"http://127.0.0.1:{port + 1}"})):
        w = WS(port, hdr)
        t.check(not w.accepted and w.status != 101, f"refused with {what}: {w.status}")
    w = WS(port, alice, path="/api/other")
    t.check(not w.accepted, f"no WebSocket on another path: {w.status}")
    w = WS(port, {**alice, "Origin": f"http://127.0.0.1:{port}"})
    t.check(w.accepted, f"same-origin Origin accepted: {w.status} {w.headers}")
    t.check(w.close(), "close handshake answered with a close frame")
    t.check(srv.wait_log(r"WebSocket refused: origin http://evil.example"),
            "the foreign origin is logged")

    gone, _ = login(port, "alice", "alice-pass-1")
    t.check(api(port, gone, "DELETE", "/api/session").status == 204, "a second alice session ends")
    w = WS(port, gone)
    t.check(not w.accepted, f"refused with a logged-out cookie: {w.status}")

    wa, wb, wz = WS(port, alice), WS(port, bob), WS(port, admin)
    t.check(wa.accepted and wb.accepted and wz.accepted,
            f"alice (cookie), bob (bearer), admin connect: {wa.status} {wb.status} {wz.status}")
    ma, mb, mz = wa.recv(), wb.recv(), wz.recv()
    t.check(ma and [d.get("id") for d in ma.get("devices", [])] == [A] and
            ma["devices"][0].get("status") == "unknown" and
            ma["devices"][0].get("uniqueId") == IMEI_A, f"alice's first message: {ma}")
    t.check(mb and [d.get("id") for d in mb.get("devices", [])] == [B],
            f"bob's first message: {mb}")
    t.check(mz and sorted(d.get("id") for d in mz.get("devices", [])) == sorted([A, B]),
            f"admin's first message: {mz}")
    t.check(wa.quiet(0.3) == [], "no positions message without records")
    t.check(wait_metric(port, "trackd_websocket_clients", 3), "3 WebSocket clients counted")

    # Alice's device logs in: online status and the login record, to alice and admin.
    ka, kz = len(wa.messages), len(wz.messages)
    sa = t.iw_login(srv.port, IMEI_A)
    t.check(sa is not None, "device A logs in")
    m = wa.until(is_dev(A, "status", "online"), since=ka)
    t.check(m is not None, f"alice gets A online: {wa.messages[-3:]}")
    m = wa.until(is_pos(A), since=ka)
    t.check(m and m["positions"][0].get("type") == "login", f"alice gets the login record: {m}")
    t.check(wz.until(is_pos(A), since=kz) is not None, "admin gets A's record")

    # Latency: TCP write of a position frame -> the position on alice's socket.
    base = int(time.time()) - 600
    lat = []
    for i in range(50):
        frame = t.iw_position(base + i, lat=22.5 + i * 0.001)
        t0 = time.perf_counter()
        sa.sendall(frame)
        m = wa.until(is_pos(A, base + i), 5.0)
        if m is None:
            t.check(False, f"position {i} reached alice")
            break
        lat.append((time.perf_counter() - t0) * 1000)
        p = next(p for p in m["positions"] if parse_time(p["time"]) == base + i)
        if not t.check(abs(p.get("latitude", 0) - (22.5 + i * 0.001)) < 1e-5 and
                       p.get("type") == "position" and p.get("id"),
                       f"position {i} content: {p}"):
            break
        if not t.check(t.recv_until(sa, b"#", 5.0) == b"IWBP01#", f"position {i} acked"):
            break
    if lat:
        q = sorted(lat)
        print(f"frame -> WebSocket latency over {len(q)} frames: "
              f"p50 {statistics.median(q):.1f} ms, p99 {q[min(len(q) - 1, int(len(q) * 0.99))]:.1f}"
              f" ms, max {q[-1]:.1f} ms", flush=True)
        t.check(len(q) == 50 and q[-1] < 2000, f"every position within 2 s: max {q[-1]:.1f} ms")
    got = {parse_time(p["time"]) for p in items(wz.quiet(1.0) + wz.messages, "positions")
           if p.get("deviceId") == A}
    t.check(all(base + i in got for i in range(50)), "admin got all 50 positions too")

    # An SOS: the alarm record and its event.
    sos_t = base + 100
    ka = len(wa.messages)
    sa.sendall(t.iw_alarm(sos_t, "01"))
    m = wa.until(lambda m: any(e.get("type") == "sos" for e in m.get("events") or []),
                 since=ka)
    wa.until(is_pos(A, sos_t), since=ka)
    ev = next((e for e in (m or {}).get("events", []) if e.get("type") == "sos"), {})
    pos = [p for p in items(wa.messages, "positions") if parse_time(p["time"]) == sos_t]
    t.check(ev.get("deviceId") == A and ev.get("state") == "new" and
            parse_time(ev.get("time", "1970-01-01T00:00:00Z")) == sos_t and pos and
            ev.get("positionId") == pos[0].get("id") and pos[0].get("alarms") == ["sos"],
            f"alice gets the sos event and its record: {ev} {pos}")
    t.check(t.recv_until(sa, b"#") == b"IWBP10#", "alarm acknowledged")
    stored = api(port, alice, "GET", f"/api/events?deviceId={A}").json() or []
    t.check([e.get("id") for e in stored] == [ev.get("id")],
            f"the pushed event is the stored one: {stored}")

    # Bob's device: only bob (and admin) hear of it.
    kb, kz = len(wb.messages), len(wz.messages)
    sb = t.iw_login(srv.port, IMEI_B)
    t.check(sb is not None, "device B logs in")
    sb.sendall(t.iw_position(base + 200))
    t.check(wb.until(is_pos(B, base + 200), since=kb) is not None, "bob gets B's position")
    t.check(t.recv_until(sb, b"#") == b"IWBP01#", "B's position acked")
    t.check(wz.until(is_pos(B, base + 200), since=kz) is not None, "admin gets B's position")
    wa.quiet(0.5)
    t.check(not mentions(wb.messages, A), f"bob got nothing of A: {mentions(wb.messages, A)[:2]}")
    t.check(not mentions(wa.messages, B), f"alice got nothing of B: {mentions(wa.messages, B)[:2]}")

    # An ownerless device: admins only.
    kz = len(wz.messages)
    su = t.iw_login(srv.port, IMEI_U)
    t.check(su is not None, "ownerless device logs in")
    su.sendall(t.iw_position(base + 300))
    m = wz.until(lambda m: any(p.get("deviceId") not in (A, B) and
                               parse_time(p["time"]) == base + 300
                               for p in m.get("positions") or []), since=kz)
    U = next((p["deviceId"] for p in (m or {}).get("positions", [])
              if parse_time(p["time"]) == base + 300), None)
    t.check(U is not None, "admin gets the ownerless device's position")
    t.recv_until(su, b"#")
    wa.quiet(0.3)
    wb.quiet(0.3)
    t.check(U and not mentions(wa.messages, U) and not mentions(wb.messages, U),
            "alice and bob get nothing of the ownerless device")

    # Sharing: bob's open feed learns of the device; a new feed starts with it.
    kb = len(wb.messages)
    t.check(api(port, alice, "POST", f"/api/devices/{A}/share", {"userId": bob_id}).status ==
            204, "alice shares A with bob")
    t.check(wb.until(is_dev(A), since=kb) is not None, "bob's open feed gets the shared device")
    wb2 = WS(port, bob)
    first = wb2.recv()
    t.check(first and sorted(d.get("id") for d in first.get("devices", [])) == sorted([A, B]),
            f"bob's new feed: both devices: {first}")
    latest = wb2.recv()
    want = sorted(api(port, bob, "GET", "/api/positions/latest").json() or [],
                  key=lambda p: p.get("deviceId"))
    t.check(latest and sorted(latest.get("positions", []), key=lambda p: p.get("deviceId")) ==
            want and {p.get("deviceId") for p in want} == {A, B},
            f"bob's new feed: the latest records: {latest} vs {want}")
    kb, kb2 = len(wb.messages), len(wb2.messages)
    sa.sendall(t.iw_position(base + 400))
    t.check(wb2.until(is_pos(A, base + 400), since=kb2) is not None and
            wb.until(is_pos(A, base + 400), since=kb) is not None, "bob now gets A's positions")
    t.recv_until(sa, b"#")
    t.check(api(port, alice, "DELETE", f"/api/devices/{A}/share/{bob_id}").status == 204,
            "alice unshares")
    kb, kb2, ka = len(wb.messages), len(wb2.messages), len(wa.messages)
    sa.sendall(t.iw_position(base + 401))
    t.check(wa.until(is_pos(A, base + 401), since=ka) is not None,
            "alice gets the next position")
    t.recv_until(sa, b"#")
    wb.quiet(0.5)
    wb2.quiet(0.1)
    late = wb.messages[kb:] + wb2.messages[kb2:]
    t.check(not [m for m in late if is_pos(A)(m)], f"bob gets no position after unsharing: {late}")

    # Status change: A goes offline when its connection ends.
    ka = len(wa.messages)
    sa.close()
    t.check(wa.until(is_dev(A, "status", "offline"), 5.0, since=ka) is not None,
            f"alice gets A offline: {wa.messages[-2:]}")
    dev = api(port, alice, "GET", f"/api/devices/{A}").json() or {}
    t.check(dev.get("status") == "offline", f"the API agrees: {dev.get('status')}")

    # Device changes through the API are pushed; deletion too.
    ka, kz, kb, kb2 = len(wa.messages), len(wz.messages), len(wb.messages), len(wb2.messages)
    t.check(api(port, alice, "PUT", f"/api/devices/{A}", {"name": "renamed"}).status == 200,
            "alice renames A")
    t.check(wa.until(is_dev(A, "name", "renamed"), since=ka) is not None, "the rename is pushed")
    t.check(api(port, alice, "DELETE", f"/api/devices/{A}").status == 204, "alice deletes A")
    t.check(wa.until(is_dev(A, "deleted", True), since=ka) is not None,
            "alice gets the deletion")
    t.check(wz.until(is_dev(A, "deleted", True), since=kz) is not None,
            "admin gets the deletion")
    wb.quiet(0.3)
    wb2.quiet(0.1)
    t.check(not mentions(wb.messages[kb:] + wb2.messages[kb2:], A),
            "bob (no longer shared) hears nothing of the rename or deletion")

    # Close handshake; the client count follows.
    t.check(wa.close(), "alice's close answered with a close frame")
    wb2.close()
    t.check(wait_metric(port, "trackd_websocket_clients", 2), "2 clients after two closed")
    t.check(srv.wait_log(r"live client of 'alice' disconnected"), "disconnect logged")
    for s in (sb, su):
        s.close()
    # Stopping the server with clients still connected: a clean exit, feeds closed.
    t.check(srv.stop() == 0, "clean exit with live clients connected")
    wb.recv(3.0)
    wz.recv(3.0)
    t.check(wz.closed and wb.closed, "open feeds are closed on stop")
    wb.sock.close()
    wz.sock.close()


def wait_metric(port, name, value, timeout=5.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if metric(port, name) == value:
            return True
        time.sleep(0.05)
    return False


# ---- a client that stops reading ------------------------------------------------------

def test_slow_client():
    db = os.path.join(work, "slow.db")
    srv = t.Server(a.trackd, db, "--admin-password", ADMIN_PW, "--ws-queue", "8",
                   listen="127.0.0.1", http=True)
    SERVERS.append(srv)
    port = srv.http_port
    admin, _ = login(port, "admin", ADMIN_PW)
    fast = WS(port, admin)
    t.check(fast.accepted and fast.recv() == {"devices": []}, "fast client connects")
    received = []
    stop = threading.Event()

    def reader():
        while not stop.is_set() and not fast.closed:
            m = fast.recv(0.2)
            if m:
                received.append(m)

    th = threading.Thread(target=reader, daemon=True)
    s = t.iw_login(srv.port, IMEI_D)
    t.check(s is not None, "device logs in")
    # A burst in one write: big group commits, so big messages (64-bit lengths).
    burst = int(time.time()) - 7 * 3600
    s.sendall(b"".join(t.iw_position(burst + i) for i in range(1000)))
    t.check(t.recv_until(s, b"IWBP01#" * 1000, 20.0) == b"IWBP01#" * 1000,
            "burst of 1000 acknowledged")
    want = {burst + i for i in range(1000)}
    got = set()
    deadline = time.time() + 10
    while not want <= got and time.time() < deadline:
        m = fast.recv(deadline - time.time())
        got |= {parse_time(p["time"]) for p in (m or {}).get("positions") or []}
    t.check(want <= got and len(got) == 1001, f"burst: all 1000 positions (+ login): {len(got)}")
    t.check(fast.lengths == {7, 16, 64},
            f"7-, 16- and 64-bit frame lengths all parsed: {sorted(fast.lengths)}")
    th.start()
    slow = WS(port, admin, rcvbuf=4096)
    t.check(slow.accepted, "slow client connects")
    # One frame at a time, each acknowledged (one commit, one message each), until
    # the kernel buffers of the slow socket are full and its queue of 8 overflows;
    # then 200 more. Loopback send buffers grow to a few MB: thousands of messages.
    behind = r"live client of 'admin' is \d+ messages behind; disconnecting"
    n, acked, worst, dropped_at = 0, 0, 0.0, None
    base = int(time.time()) - 6 * 3600
    start = time.time()
    while time.time() - start < 40 and n < 30000:
        if dropped_at is None and n % 100 == 0 and re.search(behind, srv.text()):
            dropped_at = n
        if dropped_at is not None and n >= dropped_at + 200:
            break
        t0 = time.time()
        s.sendall(t.iw_position(base + n, lat=22 + (n % 1000) * 0.0001))
        n += 1
        if t.recv_until(s, b"#", 5.0) != b"IWBP01#":
            break
        acked += 1
        worst = max(worst, time.time() - t0)
    print(f"slow client dropped after {dropped_at} messages; {n} frames in "
          f"{time.time() - start:.1f} s", flush=True)
    t.check(dropped_at is not None, "the lagging client is disconnected with a log line")
    t.check(acked == n and n >= (dropped_at or 0) + 200,
            f"the device port acknowledged every frame, before and after: {acked} of {n}")
    t.check(worst < 2.0, f"every acknowledgement within 2 s while a client lags: {worst:.3f} s")
    t.check(wait_metric(port, "trackd_websocket_clients", 1), "one client left (the fast one)")
    t.check((metric(port, "trackd_websocket_dropped_total") or 0) >= 1, "dropped client counted")
    # The slow socket ends: buffered data, then EOF or reset.
    ended = False
    deadline = time.time() + 10
    slow.sock.settimeout(0.5)
    while time.time() < deadline:
        try:
            if slow.sock.recv(65536) == b"":
                ended = True
                break
        except socket.timeout:
            continue
        except OSError:
            ended = True
            break
    t.check(ended, "the lagging client's connection is closed")
    deadline = time.time() + 5
    while time.time() < deadline:
        got = {parse_time(p["time"]) for p in items(received, "positions")}
        if all(base + i in got for i in range(n)):
            break
        time.sleep(0.1)
    got = {parse_time(p["time"]) for p in items(received, "positions")}
    t.check(all(base + i in got for i in range(n)) and not fast.closed,
            f"the reading client got all {n} positions: {len(got)}")
    stop.set()
    th.join(5)
    fast.close()
    slow.sock.close()
    s.close()
    t.check(srv.stop() == 0, "slow-client server: clean exit")


try:
    test_feed()
    test_slow_client()
except Exception:  # a crash is a failure, reported with the rest
    traceback.print_exc()
    t.check(False, "the test ran to its end")
finally:
    for srv in SERVERS:
        if srv.proc.poll() is None:
            srv.stop()
t.finish("live")
