"""Loopback receivers for the notification test: a webhook endpoint, a
minimal SMTP server, the mosquitto broker and a minimal MQTT 3.1.1
subscriber. Each records what it received (thread-safe) and stops within a
bounded time; each listens on 127.0.0.1 only.
"""
import atexit
import http.server
import json
import os
import select
import shutil
import socket
import subprocess
import threading
import time


def free_port():
    """A loopback TCP port nothing listens on (bound, then closed)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_until(fn, timeout=10.0, step=0.05):
    """Polls fn until it returns something true or time runs out; returns its last value."""
    deadline = time.time() + timeout
    v = fn()
    while not v and time.time() < deadline:
        time.sleep(step)
        v = fn()
    return v


class HookServer:
    """An HTTP endpoint that records every POST: (path, headers with lower-case
    names, body bytes). `statuses` answers the first requests with those codes,
    then 200."""

    def __init__(self, port=0, statuses=()):
        self.requests = []
        self.statuses = list(statuses)
        self.lock = threading.Lock()
        hook = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(n)
                with hook.lock:
                    hook.requests.append((self.path, {k.lower(): v for k, v in
                                                      self.headers.items()}, body))
                    status = hook.statuses.pop(0) if hook.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.1,), daemon=True)
        self.thread.start()

    def fail_next(self, *statuses):
        with self.lock:
            self.statuses.extend(statuses)

    def posts(self):
        """[(path, headers, parsed JSON body or None)]"""
        with self.lock:
            out = []
            for path, headers, body in self.requests:
                try:
                    out.append((path, headers, json.loads(body)))
                except ValueError:
                    out.append((path, headers, None))
            return out

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)


class SmtpServer:
    """A minimal SMTP server (RFC 5321 subset: EHLO/HELO, MAIL, RCPT, DATA,
    RSET, NOOP, QUIT; no AUTH, no STARTTLS). messages: dicts with from, rcpt
    (list), data (str, dot-unstuffed, CRLF kept)."""

    def __init__(self):
        self.messages = []
        self.lock = threading.Lock()
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.running = True
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        while self.running:
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                break
            threading.Thread(target=self._session, args=(conn,), daemon=True).start()

    def _session(self, conn):
        conn.settimeout(10)
        f = conn.makefile("rb")
        send = lambda line: conn.sendall(line.encode() + b"\r\n")
        mail_from, rcpt = None, []
        try:
            send("220 127.0.0.1 ESMTP test")
            for raw in f:
                line = raw.decode("utf-8", "replace").rstrip("\r\n")
                verb = line[:4].upper()
                if verb == "EHLO":
                    send("250-127.0.0.1")
                    send("250 8BITMIME")
                elif verb == "HELO":
                    send("250 127.0.0.1")
                elif verb == "MAIL":
                    mail_from, rcpt = line.split(":", 1)[1].strip().split()[0].strip("<>"), []
                    send("250 OK")
                elif verb == "RCPT":
                    rcpt.append(line.split(":", 1)[1].strip().strip("<>"))
                    send("250 OK")
                elif verb == "DATA":
                    send("354 end with <CRLF>.<CRLF>")
                    lines = []
                    for d in f:
                        if d == b".\r\n":
                            break
                        lines.append(d[1:] if d.startswith(b"..") else d)
                    with self.lock:
                        self.messages.append({"from": mail_from, "rcpt": rcpt,
                                              "data": b"".join(lines).decode("utf-8", "replace")})
                    send("250 OK queued")
                elif verb == "RSET":
                    mail_from, rcpt = None, []
                    send("250 OK")
                elif verb == "NOOP":
                    send("250 OK")
                elif verb == "QUIT":
                    send("221 bye")
                    break
                else:
                    send("502 not implemented")
        except OSError:
            pass
        finally:
            conn.close()

    def received(self):
        with self.lock:
            return list(self.messages)

    def stop(self):
        self.running = False
        self.thread.join(5)
        self.sock.close()


def mail_headers(data):
    """The header fields of a message as a dict (unfolded; last one wins)."""
    head = data.split("\r\n\r\n", 1)[0].replace("\r\n ", " ").replace("\r\n\t", " ")
    out = {}
    for line in head.split("\r\n"):
        if ":" in line:
            k, v = line.split(":", 1)
            out[k.strip()] = v.strip()
    return out


class Broker:
    """The mosquitto broker on a free loopback port, anonymous access."""

    def __init__(self, workdir, binary=None):
        # Debian installs the broker in /usr/sbin, often not on a user's PATH.
        binary = binary or shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        self.port = free_port()
        conf = os.path.join(workdir, "mosquitto.conf")
        with open(conf, "w") as f:
            f.write(f"listener {self.port} 127.0.0.1\nallow_anonymous true\n"
                    "persistence false\n")
        self.log = open(os.path.join(workdir, "mosquitto.log"), "w")
        self.proc = subprocess.Popen([binary, "-c", conf], stdout=self.log, stderr=self.log)
        # A test that fails with an exception must not leave the broker behind.
        atexit.register(lambda p=self.proc: p.poll() is None and p.kill())
        if not wait_until(self._listening, 10):
            self.stop()
            raise RuntimeError("mosquitto did not start")

    def _listening(self):
        try:
            socket.create_connection(("127.0.0.1", self.port), 0.2).close()
            return True
        except OSError:
            return False

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def _varint(n):
    out = b""
    while True:
        b, n = n % 128, n // 128
        out += bytes([b | (0x80 if n else 0)])
        if not n:
            return out


def _mqtt_str(s):
    b = s.encode()
    return len(b).to_bytes(2, "big") + b


class MqttSubscriber:
    """A minimal MQTT 3.1.1 client: connects (clean session), subscribes to
    one filter at QoS 1, acknowledges QoS 1 messages, records (topic,
    payload bytes)."""

    def __init__(self, port, topic_filter, client_id="trackd-test-sub"):
        self.messages = []
        self.lock = threading.Lock()
        self.sock = socket.create_connection(("127.0.0.1", port), 5)
        var = _mqtt_str("MQTT") + bytes([4, 0x02]) + (60).to_bytes(2, "big")
        body = var + _mqtt_str(client_id)
        self.sock.sendall(bytes([0x10]) + _varint(len(body)) + body)
        kind, data = self._packet()
        if kind >> 4 != 2 or data[1] != 0:
            raise RuntimeError(f"MQTT CONNACK refused: {data!r}")
        body = (1).to_bytes(2, "big") + _mqtt_str(topic_filter) + bytes([1])
        self.sock.sendall(bytes([0x82]) + _varint(len(body)) + body)
        kind, data = self._packet()
        if kind >> 4 != 9 or data[2] not in (0, 1):
            raise RuntimeError(f"MQTT SUBACK refused: {data!r}")
        self.running = True
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _exact(self, n):
        buf = b""
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise ConnectionError("broker closed the connection")
            buf += chunk
        return buf

    def _packet(self):
        first = self._exact(1)[0]
        n, mult = 0, 1
        while True:
            b = self._exact(1)[0]
            n += (b & 0x7F) * mult
            mult *= 128
            if not b & 0x80:
                break
        return first, self._exact(n)

    def _read(self):
        while self.running:
            try:
                if not select.select([self.sock], [], [], 0.2)[0]:
                    continue
                kind, data = self._packet()
            except (OSError, ConnectionError):
                break
            if kind >> 4 != 3:
                continue
            qos = (kind >> 1) & 3
            tlen = int.from_bytes(data[:2], "big")
            topic = data[2:2 + tlen].decode()
            rest = data[2 + tlen:]
            if qos:
                self.sock.sendall(bytes([0x40, 2]) + rest[:2])
                rest = rest[2:]
            with self.lock:
                self.messages.append((topic, rest))

    def received(self):
        with self.lock:
            return list(self.messages)

    def stop(self):
        self.running = False
        self.thread.join(5)
        try:
            self.sock.sendall(bytes([0xE0, 0]))
        except OSError:
            pass
        self.sock.close()
