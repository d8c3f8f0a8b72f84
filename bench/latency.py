#!/usr/bin/env python3
"""Frame -> acknowledgement and frame -> WebSocket latency under load.

Starts build/trackd on loopback with a fresh store, runs the load generator
at a fixed rate in the background (default 20,000 frames/s of IW positions
from 1,000 devices), and meanwhile a probe device (IW over TCP) sends one
position every --interval seconds. A WebSocket client logged in as the
probe's owner receives the live feed; each probe position carries a unique
longitude, so its arrival on the WebSocket is matched to the moment the
probe wrote it. The operator sees only the probe (the load's devices belong
to nobody), so the client measures the server, not its own parsing of
20,000 positions a second.

    python3 bench/latency.py [--rate 20000] [--devices 1000] [--seconds 30]

Prints the load generator's own summary (ack latency percentiles of the
background load at that rate) and the probe's frame -> ack and
frame -> WebSocket percentiles.
"""
import argparse, json, os, re, shutil, socket, subprocess, sys, tempfile, time

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "..", "tests", "integration"))
import tdtest as t  # noqa: E402
from ws_client import WS  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("--build", default="build")
ap.add_argument("--rate", type=int, default=20000)
ap.add_argument("--devices", type=int, default=1000)
ap.add_argument("--seconds", type=float, default=30)
ap.add_argument("--interval", type=float, default=0.02)
ap.add_argument("--protocol", default="iw")
a = ap.parse_args()


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p / 100 * len(xs)))] if xs else float("nan")


work = tempfile.mkdtemp(prefix="trackd-latency-")
proc = load = None
try:
    log = open(os.path.join(work, "log"), "w+")
    proc = subprocess.Popen([os.path.join(a.build, "trackd"), "serve", "--listen", "127.0.0.1",
                             "--port", "0", "--http-port", "0", "--db", os.path.join(work, "l.db"),
                             "--admin-password", "latency-admin"], stderr=log, stdout=log)
    port = http = None
    for _ in range(100):
        log.seek(0)
        text = log.read()
        m1, m2 = re.search(r"device port (\d+) open", text), re.search(r"http port (\d+) open", text)
        if m1 and m2:
            port, http = int(m1.group(1)), int(m2.group(1))
            break
        time.sleep(0.1)
    assert port and http, "trackd did not start"

    def call(method, path, body=None, cookie=None):
        return t.request(http, method, path, body, headers={"Cookie": cookie} if cookie else None)

    admin = call("POST", "/api/session", {"user": "admin", "password": "latency-admin"})
    admin = admin.header("set-cookie").split(";")[0]
    call("POST", "/api/users", {"name": "operator", "password": "operator-pw"}, admin)
    op = call("POST", "/api/session", {"user": "operator", "password": "operator-pw"})
    op = op.header("set-cookie").split(";")[0]
    imei = "359999000000001"
    dev = call("POST", "/api/devices", {"uniqueId": imei, "name": "probe"}, op).json()
    ws = WS(http, headers={"Cookie": op, "Origin": f"http://127.0.0.1:{http}"})
    assert ws.accepted, "WebSocket refused"
    probe = t.iw_login(port, imei)
    assert probe, "probe login refused"

    load = subprocess.Popen([os.path.join(a.build, "trackd-loadgen"), "--port", str(port),
                             "--protocol", a.protocol, "--devices", str(a.devices),
                             "--rate", str(a.rate), "--duration", str(a.seconds + 4)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    time.sleep(2)  # let the load reach its rate

    acks, feed, sent = [], [], {}
    k = 0
    end = time.time() + a.seconds
    while time.time() < end:
        k += 1
        lon = round(100.0 + k * 0.0002, 4)
        frame = t.iw_position(time.time(), lat=22.5, lon=lon)
        t0 = time.perf_counter()
        sent[lon] = t0
        probe.sendall(frame)
        t.recv_until(probe, b"#")
        acks.append((time.perf_counter() - t0) * 1000)
        deadline = time.perf_counter() + a.interval
        while time.perf_counter() < deadline:
            msg = ws.recv(timeout=max(0.0, deadline - time.perf_counter()))
            now = time.perf_counter()
            if not msg:
                continue
            for p in msg.get("positions", []):
                at = sent.pop(round(p.get("longitude", 0), 4), None)
                if at is not None and p.get("deviceId") == dev["id"]:
                    feed.append((now - at) * 1000)
        ws.messages.clear()
    # the last ones
    deadline = time.perf_counter() + 1
    while sent and time.perf_counter() < deadline:
        msg = ws.recv(timeout=0.2)
        now = time.perf_counter()
        for p in (msg or {}).get("positions", []):
            at = sent.pop(round(p.get("longitude", 0), 4), None)
            if at is not None:
                feed.append((now - at) * 1000)
    out, _ = load.communicate(timeout=60)
    load = None
    print(out.strip())
    print(f"probe: {k} positions, {len(feed)} seen on the WebSocket, {len(sent)} not seen")
    for name, xs in (("frame -> ack", acks), ("frame -> WebSocket", feed)):
        print(f"{name:20} p50 {pct(xs, 50):6.2f} ms  p99 {pct(xs, 99):6.2f} ms"
              f"  p99.9 {pct(xs, 99.9):6.2f} ms  max {max(xs):6.2f} ms")
finally:
    if load:
        load.kill()
    if proc:
        proc.terminate()
        proc.wait(30)
    shutil.rmtree(work, ignore_errors=True)
