"""A small WebSocket client for integration tests of the live feed
(/api/socket): the handshake, unmasked server frames (7/16/64-bit lengths,
fragments, pings) and masked client frames."""
import base64
import hashlib
import json
import os
import socket
import struct
import time

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class WS:
    """A WebSocket client: handshake, unmasked server frames (7/16/64-bit
    lengths, fragments, pings), masked client frames."""

    def __init__(self, port, headers=None, path="/api/socket", rcvbuf=None, timeout=5.0):
        self.buf = b""
        self.closed = False
        self.close_frame = None
        self.messages = []  # every JSON message received, in order
        self.lengths = set()  # length encodings seen: 7, 16, 64 (bits)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(timeout)
        self.sock.connect(("127.0.0.1", port))
        key = base64.b64encode(os.urandom(16)).decode()
        h = {"Host": f"127.0.0.1:{port}", "Upgrade": "websocket", "Connection": "Upgrade",
             "Sec-WebSocket-Key": key, "Sec-WebSocket-Version": "13", **(headers or {})}
        self.sock.sendall((f"GET {path} HTTP/1.1\r\n" +
                           "".join(f"{k}: {v}\r\n" for k, v in h.items()) + "\r\n").encode())
        self.status, self.headers = 0, {}
        deadline = time.time() + timeout
        while b"\r\n\r\n" not in self.buf and time.time() < deadline:
            try:
                chunk = self.sock.recv(4096)
            except (socket.timeout, OSError):
                break
            if not chunk:
                break
            self.buf += chunk
        top, sep, rest = self.buf.partition(b"\r\n\r\n")
        if sep:
            lines = top.decode("latin-1").split("\r\n")
            parts = lines[0].split()
            self.status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
            for line in lines[1:]:
                k, _, v = line.partition(":")
                self.headers[k.strip().lower()] = v.strip()
            self.buf = rest
        want = base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()
        self.accepted = (self.status == 101 and
                         self.headers.get("sec-websocket-accept") == want and
                         self.headers.get("upgrade", "").lower() == "websocket")
        if not self.accepted:
            self.sock.close()
            self.closed = True

    def _frame(self):
        """Parses one frame off the buffer: (fin, opcode, payload) or None."""
        b = self.buf
        if len(b) < 2:
            return None
        fin, op, masked, n = b[0] >> 7, b[0] & 15, b[1] >> 7, b[1] & 127
        i = 2
        kind = 7 if n < 126 else 16 if n == 126 else 64
        if n == 126:
            if len(b) < 4:
                return None
            n, i = struct.unpack(">H", b[2:4])[0], 4
        elif n == 127:
            if len(b) < 10:
                return None
            n, i = struct.unpack(">Q", b[2:10])[0], 10
        if masked:
            raise ValueError("a server frame is masked")
        if len(b) < i + n:
            return None
        self.buf = b[i + n:]
        self.lengths.add(kind)
        return fin, op, b[i:i + n]

    def send(self, opcode, payload=b""):
        mask = os.urandom(4)
        n = len(payload)
        head = bytes([0x80 | opcode])
        if n < 126:
            head += bytes([0x80 | n])
        elif n < 65536:
            head += bytes([0x80 | 126]) + struct.pack(">H", n)
        else:
            head += bytes([0x80 | 127]) + struct.pack(">Q", n)
        body = bytes(c ^ mask[i % 4] for i, c in enumerate(payload))
        self.sock.sendall(head + mask + body)

    def recv(self, timeout=5.0):
        """The next JSON message (dict), or None on timeout or close."""
        if self.closed:
            return None
        deadline = time.time() + timeout
        parts, first_op = [], None
        while True:
            f = self._frame()
            if f is None:
                left = deadline - time.time()
                if left <= 0:
                    return None
                self.sock.settimeout(left)
                try:
                    chunk = self.sock.recv(65536)
                except socket.timeout:
                    return None
                except OSError:
                    chunk = b""
                if not chunk:
                    self.closed = True
                    return None
                self.buf += chunk
                continue
            fin, op, payload = f
            if op == 9:  # ping
                self.send(10, payload)
                continue
            if op == 10:
                continue
            if op == 8:
                self.close_frame = payload
                self.closed = True
                return None
            if op != 0:
                first_op = op
            parts.append(payload)
            if fin:
                if first_op != 1:
                    raise ValueError(f"non-text message (opcode {first_op})")
                msg = json.loads(b"".join(parts).decode("utf-8"))
                self.messages.append(msg)
                return msg

    def until(self, pred, timeout=5.0, since=None):
        """The first message for which pred(msg) holds: among those received from
        index `since` on (when given), else read from now on; None on timeout."""
        if since is not None:
            for m in self.messages[since:]:
                if pred(m):
                    return m
        deadline = time.time() + timeout
        while time.time() < deadline:
            m = self.recv(deadline - time.time())
            if m is None:
                if self.closed:
                    return None
                continue
            if pred(m):
                return m
        return None

    def quiet(self, wait=0.5):
        """Messages arriving within `wait` seconds."""
        got = []
        deadline = time.time() + wait
        while time.time() < deadline:
            m = self.recv(max(0.01, deadline - time.time()))
            if m is None:
                break
            got.append(m)
        return got

    def close(self, timeout=3.0):
        """Masked close 1000; True when the server answers with a close frame."""
        if self.closed:
            self.sock.close()
            return self.close_frame is not None
        try:
            self.send(8, struct.pack(">H", 1000))
            deadline = time.time() + timeout
            while not self.closed and time.time() < deadline:
                self.recv(deadline - time.time())
        except OSError:
            pass
        self.sock.close()
        self.closed = True
        return self.close_frame is not None
