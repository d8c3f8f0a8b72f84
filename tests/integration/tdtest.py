"""Shared helpers for trackd's integration tests (run by ctest).

Each test starts the real build/trackd binary on loopback with an ephemeral
port and a temporary database, talks to it over TCP and UDP, and checks
replies and stored rows. Every wait is bounded; every process is stopped.
"""
import argparse
import atexit
import http.client
import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time

FAILURES = []
PASSED = [0]  # checks that held; finish() uses it when given no count


def args():
    p = argparse.ArgumentParser()
    p.add_argument("--trackd", required=True)
    p.add_argument("--vectors", required=True)
    p.add_argument("--loadgen")  # build/trackd-loadgen, for the tests that drive load
    return p.parse_args()


def workspace():
    """The command line and the path of a database in a fresh temporary
    folder: (args, db)."""
    a = args()
    return a, os.path.join(tmpdir(), "trackd.db")


def check(cond, what):
    if not cond:
        FAILURES.append(what)
        print("FAIL:", what, flush=True)
    else:
        PASSED[0] += 1
    return cond


def finish(name, passed=None):
    """Prints the tally and exits; without `passed`, counts the checks that held."""
    if passed is None:
        passed = PASSED[0]
    failed = len(FAILURES)
    print(f"{name}: {passed} passed, {failed} failed", flush=True)
    sys.exit(1 if failed else 0)


class Server:
    """The real trackd on loopback: start, read its port, stop with SIGTERM.

    http=True also gives the HTTP API an ephemeral port (unless extra names
    --http-port) and waits for it: self.http_port."""

    def __init__(self, binary, db, *extra, listen="::", http=False):
        self.log_path = db + ".log"
        self.log = open(self.log_path, "a")
        self.offset = self.log.tell()  # this run's lines start here
        # An ephemeral HTTP port always, so parallel tests never collide on 8082.
        more = ["--http-port", "0"] if "--http-port" not in extra else []
        self.proc = subprocess.Popen(
            [binary, "serve", "--port", "0", "--listen", listen, "--db", db, "--log-level",
             "debug", *more, *extra], stdout=self.log, stderr=self.log)
        # A test that fails with an exception never reaches stop(): the
        # server must not outlive it.
        atexit.register(self._kill_if_running)
        self.port = None
        self.http_port = None
        deadline = time.time() + 10
        while time.time() < deadline and (self.port is None or
                                           (http and self.http_port is None)):
            text = self.text()
            m = re.search(r"device port (\d+) open", text)
            h = re.search(r"http port (\d+) open", text)
            if m:
                self.port = int(m.group(1))
            if h:
                self.http_port = int(h.group(1))
            if self.port is not None and (self.http_port is not None or not http):
                break
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        if self.port is None or (http and self.http_port is None):
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            self.log.close()
            raise RuntimeError("trackd did not start:\n" + self.text())

    def text(self):
        with open(self.log_path) as f:
            f.seek(self.offset)
            return f.read()

    def wait_log(self, pattern, timeout=5.0):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if re.search(pattern, self.text()):
                return True
            time.sleep(0.05)
        return False

    def _kill_if_running(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def stop(self, timeout=10):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.proc.returncode


def run_devices(port, results, *devices, timeout=30):
    """Runs each device function f(port) in its own thread, all at once, and
    checks what they put in results ({name: (ok, detail)}): every entry ok, and
    one entry per device."""
    threads = [threading.Thread(target=f, args=(port,)) for f in devices]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout)
    for name, (ok, detail) in sorted(results.items()):
        check(ok, f"{name}: {detail}")
    check(len(results) == len(devices), f"all devices finished: {sorted(results)}")


def serve_devices(a, db, results, *devices, settle=0.0):
    """Starts the real trackd (binary a.trackd, database db), runs the device
    functions against its device port (run_devices), waits `settle` seconds
    for the last rows to be written, stops it and checks it exited
    cleanly."""
    srv = Server(a.trackd, db)
    run_devices(srv.port, results, *devices)
    time.sleep(settle)
    check(srv.stop() == 0, "clean exit on SIGTERM")


def tcp(port, host="127.0.0.1", timeout=5.0):
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(family, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect((host, port))
    return s


def recv_until(sock, terminator, timeout=5.0):
    """Reads until the buffer ends with terminator (bytes) or time runs out."""
    sock.settimeout(timeout)
    data = b""
    deadline = time.time() + timeout
    while not data.endswith(terminator) and time.time() < deadline:
        try:
            chunk = sock.recv(4096)
        except socket.timeout:
            break
        if not chunk:
            break
        data += chunk
    return data


def recv_count(sock, token, n, timeout=5.0):
    """Reads until token (bytes) has arrived n times or time runs out."""
    data = b""
    deadline = time.time() + timeout
    while data.count(token) < n and time.time() < deadline:
        data += recv_until(sock, token, max(0.1, deadline - time.time()))
    return data


def send_split(sock, data, step=1, pause=0.005):
    """Sends data `step` bytes at a time, pausing between sends, so that the
    server detects and frames it across reads."""
    for i in range(0, len(data), step):
        sock.send(data[i:i + step])
        time.sleep(pause)


def recv_quiet(sock, wait=0.3):
    """Whatever arrives within `wait` seconds (for "no reply expected")."""
    sock.settimeout(wait)
    try:
        return sock.recv(4096)
    except (socket.timeout, BlockingIOError):
        return b""


def udp(host="127.0.0.1"):
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(family, socket.SOCK_DGRAM)
    s.settimeout(5.0)
    return s


def db_rows(db, sql, params=()):
    con = sqlite3.connect(db, timeout=10)
    try:
        return con.execute(sql, params).fetchall()
    finally:
        con.close()


def stored_devices(db):
    """{unique id: protocol} of the stored devices."""
    return dict(db_rows(db, "SELECT unique_id, protocol FROM devices"))


def tmpdir():
    return tempfile.mkdtemp(prefix="trackd-test-")


class Response:
    """An HTTP answer: status, headers (names in lower case), body bytes."""

    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def header(self, name, default=None):
        return self.headers.get(name.lower(), default)

    def json(self):
        try:
            return json.loads(self.body)
        except ValueError:
            return None

    def error(self):
        """The message of a {"error": "..."} body, or None."""
        j = self.json()
        return j.get("error") if isinstance(j, dict) and isinstance(j.get("error"), str) else None

    def __repr__(self):
        return f"<{self.status} {self.body[:300]!r}>"


def request(port, method, path, body=None, headers=None, host="127.0.0.1", timeout=10.0):
    """One HTTP request on a fresh connection. body: bytes, str, or any JSON
    value (sent as JSON). Returns a Response."""
    h = dict(headers or {})
    if body is not None and not isinstance(body, (bytes, str)):
        body = json.dumps(body)
        h.setdefault("Content-Type", "application/json")
    if isinstance(body, str):
        body = body.encode()
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=h)
        r = conn.getresponse()
        data = r.read()
        headers = {}
        for k, v in r.getheaders():
            k = k.lower()
            headers[k] = headers[k] + ", " + v if k in headers else v
        return Response(r.status, headers, data)
    finally:
        conn.close()


class Admin:
    """The HTTP API on `port` as the admin, logged in once."""

    def __init__(self, port, password):
        self.port = port
        r = request(port, "POST", "/api/session", {"user": "admin", "password": password})
        self.auth = {"Cookie": r.header("set-cookie").split(";")[0]}

    def call(self, method, path, body=None):
        return request(self.port, method, path, body, headers=self.auth)

    def devices(self):
        """{unique id: device} of the devices the API lists."""
        return {d["uniqueId"]: d for d in self.call("GET", "/api/devices").json()}

    def command_types(self, device_id):
        return [c["type"] for c in self.call("GET", f"/api/devices/{device_id}/commands/types")
                .json()]

    def send_command(self, device_id, typ):
        """Queues a command of type typ; returns its id."""
        return self.call("POST", "/api/commands", {"deviceId": device_id, "type": typ}).json()["id"]

    def command(self, device_id, cid):
        """The command cid of the device ({} when it is not listed)."""
        cmds = self.call("GET", f"/api/commands?deviceId={device_id}").json()
        return next((c for c in cmds if c["id"] == cid), {})

    def wait_command(self, device_id, cid, done, timeout=5.0):
        """Polls the command until done(status) holds or time runs out;
        returns the command."""
        deadline = time.time() + timeout
        c = self.command(device_id, cid)
        while time.time() < deadline and not done(c.get("status")):
            time.sleep(0.05)
            c = self.command(device_id, cid)
        return c


def iw_coord(value, degree_digits):
    """IW ddmm.mmmm / dddmm.mmmm with hemisphere letter."""
    hemi = ("N" if value >= 0 else "S") if degree_digits == 2 else ("E" if value >= 0 else "W")
    value = abs(value)
    deg = int(value)
    minutes = round((value - deg) * 60, 4)
    return f"{deg:0{degree_digits}d}{minutes:07.4f}{hemi}"


def iw_position(when, lat=22.5497, lon=114.0823, speed=0.1, course=323.87, valid=True):
    """An IW AP01 position frame for UTC epoch second `when`."""
    tm = time.gmtime(when)
    return (f"IWAP01{time.strftime('%y%m%d', tm)}{'A' if valid else 'V'}"
            f"{iw_coord(lat, 2)}{iw_coord(lon, 3)}{speed:05.1f}{time.strftime('%H%M%S', tm)}"
            f"{course:06.2f}06000908000102,460,0,9520,3671,Home|74-DE-2B-44-88-8C|97#").encode()


def iw_alarm(when, code="01", lat=22.5497, lon=114.0823):
    """An IW AP10 alarm frame (01 SOS, 02 low battery, 06 fall)."""
    tm = time.gmtime(when)
    return (f"IWAP10{time.strftime('%y%m%d', tm)}A{iw_coord(lat, 2)}{iw_coord(lon, 3)}000.0"
            f"{time.strftime('%H%M%S', tm)}000.0006000908000502,460,0,9520,3671,{code},en,00,"
            f"Home|74-DE-2B-44-88-8C|97#").encode()


def iw_login(port, imei, host="127.0.0.1"):
    """A TCP connection of an IW device that has logged in (None if refused)."""
    s = tcp(port, host)
    s.sendall(f"IWAP00{imei}#".encode())
    if not re.fullmatch(rb"IWBP00,\d{14},-?\d+#", recv_until(s, b"#")):
        s.close()
        return None
    return s
