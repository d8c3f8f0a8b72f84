"""The HTTP API of the real trackd on loopback: server info and the OpenAPI
document, logins, sessions and API tokens, users, devices with ownership and
sharing, positions with keyset paging, events, GPX/KML/CSV exports, /metrics,
request-body and routing errors, session expiry and the login rate limit.

Positions come from a simulated IW bracelet over TCP (2,500 records with
shuffled times, more than the exports' internal page of 1,000)."""
import csv
import io
import json
import os
import random
import re
import socket
import time
import traceback
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta, timezone
from urllib.parse import quote

import tdtest as t
from ws_client import WS

a = t.args()
work = t.tmpdir()
ADMIN_PW = "admin-secret-1"
SERVERS = []
SEEN = set()  # (method, path pattern) the server answered as a known route

IMEI_A = "353456789000011"  # alice's bracelet (added through the API, then reports)
IMEI_B = "353456789000022"  # bob's (added, never reports)
IMEI_U = "353456789000033"  # reports without being added: auto-registered
N_POS = 2500


# ---- helpers -----------------------------------------------------------------

def pattern(path):
    """/api/devices/12/share/3?x=1 -> /api/devices/{id}/share/{userId}"""
    segs = path.split("?")[0].split("/")
    out = []
    for i, s in enumerate(segs):
        if s.isdigit():
            out.append("{userId}" if i > 0 and segs[i - 1] == "share" else "{id}")
        else:
            out.append(s)
    p = "/".join(out)
    return p[:-1] if len(p) > 1 and p.endswith("/") else p


class User:
    """A caller: anonymous, or authenticated by cookie or bearer token."""

    def __init__(self, port, cookie=None, token=None, info=None):
        self.port = port
        self.cookie = cookie
        self.token = token
        self.info = info or {}

    @property
    def id(self):
        return self.info.get("id")

    def headers(self):
        if self.token:
            return {"Authorization": "Bearer " + self.token}
        if self.cookie:
            return {"Cookie": "trackd_session=" + self.cookie}
        return {}

    def req(self, method, path, body=None, headers=None):
        r = t.request(self.port, method, path, body, {**self.headers(), **(headers or {})})
        err = r.error() or ""
        if not (r.status == 405 or "no such endpoint" in err or
                (err.startswith("'") and err.endswith("is not a valid id"))):
            SEEN.add((method.lower(), pattern(path)))
        return r

    def get(self, path, **kw):
        return self.req("GET", path, **kw)

    def post(self, path, body=None, **kw):
        return self.req("POST", path, body, **kw)

    def put(self, path, body=None, **kw):
        return self.req("PUT", path, body, **kw)

    def delete(self, path, **kw):
        return self.req("DELETE", path, **kw)


def expect(r, status, what, error_has=None):
    """Status is `status`; errors are JSON {"error": "..."} (containing error_has)."""
    ok = r.status == status
    if status >= 400:
        err = r.error()
        ok = ok and err is not None and (r.header("content-type") or "").startswith(
            "application/json")
        if error_has is not None:
            ok = ok and err is not None and error_has.lower() in err.lower()
    elif status == 204:
        ok = ok and r.body == b""
    return t.check(ok, f"{what}: expected {status}"
                       f"{' mentioning ' + repr(error_has) if error_has else ''}, got {r!r}")


def wait_closed(ws, timeout=5.0):
    """Whether the server closes the WebSocket within timeout (messages
    before that are read and dropped)."""
    deadline = time.time() + timeout
    while time.time() < deadline and not ws.closed:
        ws.recv(timeout=max(0.05, deadline - time.time()))
    return ws.closed


def login(port, name, password, host="127.0.0.1"):
    """(response, cookie secret or None)."""
    r = t.request(port, "POST", "/api/session", {"user": name, "password": password},
                  host=host)
    m = re.match(r"trackd_session=([0-9a-f]{64});", r.header("set-cookie") or "")
    return r, (m.group(1) if m else None)


def login_user(port, name, password):
    r, cookie = login(port, name, password)
    t.check(r.status == 200 and cookie, f"login {name}: {r!r}")
    return User(port, cookie=cookie, info=r.json() or {})


def iso(ts):
    """Epoch seconds (float ok) -> ISO 8601 UTC."""
    return datetime.fromtimestamp(ts, timezone.utc).isoformat().replace("+00:00", "Z")


def parse_time(s):
    return datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()


def q(s):
    """Percent-encodes a query value."""
    return quote(s, safe="")


def metrics(port):
    r = t.request(port, "GET", "/metrics")
    out = {}
    for line in r.body.decode().splitlines():
        m = re.fullmatch(r"([a-zA-Z_:][\w:]*)(\{[^}]*\})? (\S+)", line)
        if m and not line.startswith("#"):
            out[m.group(1) + (m.group(2) or "")] = float(m.group(3))
    return r, out


def raw_get(port, path, headers, timeout=20.0):
    """GET on a raw socket, read to EOF: (status, headers, body, ended_by_close)."""
    s = t.tcp(port, timeout=timeout)
    head = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
    s.sendall(head.encode())
    data, eof = b"", False
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            chunk = s.recv(65536)
        except socket.timeout:
            break
        if not chunk:
            eof = True
            break
        data += chunk
    s.close()
    top, _, body = data.partition(b"\r\n\r\n")
    lines = top.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1]) if len(lines[0].split()) > 1 else 0
    hdrs = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        hdrs[k.strip().lower()] = v.strip()
    return status, hdrs, body, eof


def raw_exchange(port, data, timeout=5.0):
    """Sends raw bytes, returns (status, body) of the first response."""
    s = t.tcp(port, timeout=timeout)
    try:
        s.sendall(data)
    except OSError:
        pass
    buf = b""
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            chunk = s.recv(65536)
        except (socket.timeout, OSError):
            break
        if not chunk:
            break
        buf += chunk
        top, sep, body = buf.partition(b"\r\n\r\n")
        m = re.search(rb"content-length: *(\d+)", top, re.I)
        if sep and m and len(body) >= int(m.group(1)):
            break
    s.close()
    top, _, body = buf.partition(b"\r\n\r\n")
    parts = top.split(b" ")
    return (int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0), body


def acks(sock, n, reply=b"IWBP01#", timeout=30.0):
    """Reads until n replies arrived; returns how many did."""
    data = b""
    deadline = time.time() + timeout
    sock.settimeout(1.0)
    while data.count(reply) < n and time.time() < deadline:
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            continue
        if not chunk:
            break
        data += chunk
    return data.count(reply)


def closed_by_peer(sock, timeout=3.0):
    """True when the peer closes the connection (EOF or reset) within timeout."""
    deadline = time.time() + timeout
    sock.settimeout(0.2)
    while time.time() < deadline:
        try:
            if sock.recv(4096) == b"":
                return True
        except socket.timeout:
            continue
        except OSError:
            return True
    return False


def wait_for(fn, timeout=5.0):
    deadline = time.time() + timeout
    while True:
        v = fn()
        if v or time.time() > deadline:
            return v
        time.sleep(0.05)


def lon_index(p):
    """The frame index encoded in a position's longitude minutes (see frames)."""
    return round(((p["longitude"] - 114) * 60 - 4) / 0.0001)


# ---- the main server -----------------------------------------------------------

def test_server_info(srv, anon):
    r = anon.get("/api/server")
    j = r.json() or {}
    expect(r, 200, "GET /api/server")
    t.check(set(j) == {"version", "devicePort", "httpPort", "protocols", "protocolInfo",
                       "tileUrl", "tileAttribution"}, f"server info fields: {j}")
    info = {p.get("name"): p for p in j.get("protocolInfo") or []}
    t.check(list(info) == j.get("protocols"), "protocolInfo lists the protocols in order")
    t.check(len(info) == 13 and all(p.get("devices") and "tcp" in p["transports"]
                                    for p in info.values()),
            f"thirteen protocols, each with example devices and TCP: {info}")
    t.check(info.get("watch", {}).get("commands") is True and
            "udp" in info.get("iw", {}).get("transports", []), f"commands and UDP: {info}")
    t.check(j.get("devicePort") == srv.port and j.get("httpPort") == srv.http_port,
            f"server info ports {j.get('devicePort')}/{j.get('httpPort')} vs "
            f"{srv.port}/{srv.http_port}")
    t.check(isinstance(j.get("version"), str) and re.match(r"\d+\.\d+", j["version"]),
            f"version: {j.get('version')}")
    t.check({"iw", "watch", "gotop"} <= set(j.get("protocols") or []),
            f"protocols: {j.get('protocols')}")
    r = anon.get("/api/openapi.json")
    doc = r.json() or {}
    expect(r, 200, "GET /api/openapi.json")
    t.check(str(doc.get("openapi", "")).startswith("3.") and isinstance(doc.get("paths"), dict)
            and doc["paths"], f"OpenAPI 3 document: {str(doc)[:200]}")
    return doc


def test_sessions(port, anon):
    expect(anon.get("/api/devices"), 401, "devices without login", "not logged in")
    expect(anon.get("/api/session"), 401, "session without login")
    expect(anon.delete("/api/session"), 401, "logout without login")
    r1, c1 = login(port, "admin", "wrong-password")
    r2, c2 = login(port, "nobody", "whatever-pw")
    expect(r1, 401, "login with a wrong password")
    expect(r2, 401, "login as an unknown user")
    t.check(c1 is None and c2 is None and r1.error() == r2.error(),
            f"failed logins set no cookie and look alike: {r1!r} {r2!r}")
    expect(anon.post("/api/session", {"user": "admin"}), 400, "login without password",
           "password")
    expect(anon.post("/api/session", {"user": 7, "password": "x"}), 400,
           "login with a numeric user", "user")
    expect(anon.post("/api/session"), 400, "login without a body", "user")
    expect(anon.post("/api/session", {"user": "admin", "password": ADMIN_PW, "remember": True}),
           400, "login with an unknown field", "remember")

    r, cookie = login(port, "admin", ADMIN_PW)
    expect(r, 200, "admin login")
    t.check(r.json() == {"id": 1, "name": "admin", "admin": True}, f"login answer: {r.json()}")
    t.check(re.fullmatch(r"trackd_session=[0-9a-f]{64}; Path=/; Max-Age=604800; HttpOnly; "
                         r"SameSite=Strict", r.header("set-cookie") or "") is not None,
            f"session cookie: {r.header('set-cookie')}")
    _, cookie2 = login(port, "admin", ADMIN_PW)
    t.check(cookie2 and cookie2 != cookie, "every login gets its own secret")
    admin = User(port, cookie=cookie, info=r.json())
    r = admin.get("/api/session")
    expect(r, 200, "GET /api/session")
    t.check(r.json() == {"id": 1, "name": "admin", "admin": True}, f"session user: {r.json()}")
    r = t.request(port, "GET", "/api/session",
                  headers={"Cookie": f"theme=dark; trackd_session={cookie}; lang=en"})
    t.check(r.status == 200, f"cookie among other cookies: {r!r}")
    expect(t.request(port, "GET", "/api/session",
                     headers={"Cookie": "trackd_session=" + "ab" * 32}), 401,
           "made-up session secret")
    expect(t.request(port, "GET", "/api/session",
                     headers={"Cookie": "trackd_session=" + cookie[:40]}), 401,
           "truncated session secret")
    expect(t.request(port, "GET", "/api/session",
                     headers={"Authorization": "Basic YWRtaW46YWRtaW4="}), 401,
           "basic auth is not accepted")
    return admin


def test_users(port, admin, anon):
    users = {}
    for name, pw, adm in (("alice", "alice-pass-1", False), ("bob", "bob-pass-1", False),
                          ("carol", "carol-pass-1", True), ("dave", "eightchr", False)):
        body = {"name": name, "password": pw}
        if adm:
            body["admin"] = True
        r = admin.post("/api/users", body)
        j = r.json() or {}
        expect(r, 200, f"create user {name}")
        t.check(set(j) == {"id", "name", "admin"} and j.get("name") == name and
                j.get("admin") is adm and isinstance(j.get("id"), int),
                f"created user {name}: {j}")
        users[name] = j
    expect(admin.post("/api/users", {"name": "alice", "password": "another-pw"}), 409,
           "duplicate user name", "exists")
    expect(admin.post("/api/users", {"name": "erin", "password": "short7!"}), 400,
           "7-character password", "8")
    expect(admin.post("/api/users", {"name": "a b", "password": "long-enough"}), 400,
           "user name with a space", "user name")
    expect(admin.post("/api/users", {"name": "", "password": "long-enough"}), 400,
           "empty user name", "user name")
    expect(admin.post("/api/users", {"name": "x" * 64, "password": "long-enough"}), 400,
           "64-character user name", "name")
    expect(admin.post("/api/users", {"name": "erin"}), 400, "user without password",
           "password")
    expect(admin.post("/api/users", {"name": "erin", "password": "long-enough",
                                     "admin": "yes"}), 400, "admin as a string", "admin")
    expect(admin.post("/api/users", {"name": "erin", "password": "long-enough",
                                     "email": "e@x"}), 400, "unknown user field", "email")
    r = admin.get("/api/users")
    expect(r, 200, "GET /api/users")
    lst = r.json() or []
    t.check(sorted(u.get("name") for u in lst) == ["admin", "alice", "bob", "carol", "dave"]
            and all(set(u) == {"id", "name", "admin"} for u in lst),
            f"user list (no hashes): {lst}")
    expect(anon.get("/api/users"), 401, "user list without login")

    alice = login_user(port, "alice", "alice-pass-1")
    bob = login_user(port, "bob", "bob-pass-1")
    carol = login_user(port, "carol", "carol-pass-1")
    dave = login_user(port, "dave", "eightchr")
    t.check(alice.info == users["alice"], f"alice's login answer: {alice.info}")
    expect(alice.get("/api/users"), 403, "non-admin lists users", "admin")
    expect(alice.post("/api/users", {"name": "mallory", "password": "long-enough"}), 403,
           "non-admin creates a user")
    expect(alice.delete(f"/api/users/{bob.id}"), 403, "non-admin deletes a user")

    aid = alice.id
    r = alice.put(f"/api/users/{aid}", {"name": "alice2"})
    expect(r, 200, "user renames themself")
    t.check((r.json() or {}).get("name") == "alice2", f"renamed: {r.json()}")
    t.check((alice.get("/api/session").json() or {}).get("name") == "alice2",
            "the session follows the rename")
    expect(alice.put(f"/api/users/{aid}", {"name": "alice"}), 200, "rename back")
    expect(alice.put(f"/api/users/{bob.id}", {"name": "bobby"}), 403,
           "non-admin changes another user")
    expect(alice.put(f"/api/users/{aid}", {"admin": True}), 403,
           "non-admin makes themself admin", "admin")
    expect(alice.put(f"/api/users/{aid}", {"password": "short"}), 400,
           "non-admin sets a short password", "8")
    expect(alice.put(f"/api/users/{aid}", {"name": "bob"}), 409, "rename onto another user")
    expect(alice.put(f"/api/users/{aid}", {"password": "alice-pass-2"}), 200,
           "user changes their password")
    expect(login(port, "alice", "alice-pass-1")[0], 401, "old password no longer works")
    expect(login(port, "alice", "alice-pass-2")[0], 200, "new password works")

    r = admin.put(f"/api/users/{dave.id}", {"admin": True})
    expect(r, 200, "admin grants admin")
    t.check((r.json() or {}).get("admin") is True, f"granted: {r.json()}")
    expect(dave.get("/api/users"), 200, "a new admin may list users at once")
    r = admin.put(f"/api/users/{dave.id}", {"admin": False})
    t.check(r.status == 200 and (r.json() or {}).get("admin") is False, f"revoked: {r!r}")
    expect(dave.get("/api/users"), 403, "a revoked admin is refused at once")
    expect(admin.put("/api/users/1", {"admin": False}), 400, "admin removes own admin rights",
           "own admin")
    expect(admin.get("/api/users"), 200, "admin is still admin")
    expect(admin.put("/api/users/999999", {"name": "ghost"}), 404, "change an unknown user")
    expect(admin.put(f"/api/users/{aid}", {"password": 12345678}), 400, "numeric password",
           "password")
    expect(admin.put(f"/api/users/{aid}", {"nick": "al"}), 400, "unknown field in PUT user",
           "nick")
    # A new password ends the user's other logins and their live feeds; the
    # login that changed it goes on, and so do API tokens.
    other = login_user(port, "alice", "alice-pass-2")
    token = (alice.post("/api/tokens").json() or {}).get("token")
    by_token = User(port, token=token)
    feed = WS(port, {**other.headers(), "Origin": f"http://127.0.0.1:{port}"})
    t.check(feed.accepted and feed.recv() is not None, "her second login's live feed is open")
    token_feed = WS(port, {**by_token.headers(), "Origin": f"http://127.0.0.1:{port}"})
    t.check(token_feed.accepted and token_feed.recv() is not None, "a live feed with her token")
    expect(alice.put(f"/api/users/{aid}", {"password": "alice-pass-2b"}), 200,
           "alice changes her password again")
    expect(other.get("/api/session"), 401, "her other login has ended")
    t.check(wait_closed(feed), "and its live feed is closed")
    expect(alice.get("/api/session"), 200, "the login that made the change goes on")
    expect(by_token.get("/api/session"), 200, "an API token stays valid")
    t.check(not wait_closed(token_feed, 1.0), "and so does the live feed opened with it")
    token_feed.close()
    expect(carol.put(f"/api/users/{aid}", {"password": "alice-pass-3"}), 200,
           "another admin resets a password")
    expect(alice.get("/api/session"), 401, "a reset by an admin ends all her logins")
    t.check(carol.get("/api/session").status == 200, "the admin's own login is untouched")
    alice = login_user(port, "alice", "alice-pass-3")

    expect(admin.delete("/api/users/1"), 400, "admin deletes themself", "yourself")
    expect(admin.delete("/api/users/999999"), 404, "delete an unknown user")
    expect(admin.delete(f"/api/users/{dave.id}"), 204, "delete a user")
    expect(dave.get("/api/session"), 401, "a deleted user's session is dead")
    expect(login(port, "dave", "eightchr")[0], 401, "a deleted user cannot log in")
    names = [u["name"] for u in admin.get("/api/users").json() or []]
    t.check("dave" not in names, f"deleted user gone from the list: {names}")
    expect(admin.delete(f"/api/users/{dave.id}"), 404, "delete a deleted user")
    return alice, bob, carol


def test_tokens(port, alice, anon, admin, bob):
    expect(anon.post("/api/tokens"), 401, "token without login")
    now = time.time()
    r = alice.post("/api/tokens")
    j = r.json() or {}
    expect(r, 200, "POST /api/tokens")
    t.check(set(j) == {"id", "token", "expiresAt"} and isinstance(j.get("id"), int) and
            re.fullmatch(r"[0-9a-f]{64}", j.get("token", "")) is not None,
            f"token answer: {j}")
    try:
        exp = parse_time(j["expiresAt"])
    except (KeyError, ValueError, AttributeError):
        exp = 0
    t.check(abs(exp - (now + 365 * 86400)) < 120, f"default token lifetime: {j.get('expiresAt')}")
    token = j.get("token")
    r = alice.post("/api/tokens", {"expiresDays": 1})
    day_id, day_token = (r.json() or {}).get("id"), (r.json() or {}).get("token")
    try:
        exp = parse_time((r.json() or {})["expiresAt"])
    except (KeyError, ValueError, AttributeError):
        exp = 0
    t.check(r.status == 200 and abs(exp - (now + 86400)) < 120, f"1-day token: {r!r}")
    r = alice.post("/api/tokens", {"expiresDays": 3650})
    expect(r, 200, "3650-day token")
    long_id = (r.json() or {}).get("id")
    expect(alice.post("/api/tokens", {"expiresDays": 0}), 400, "0-day token", "expiresDays")
    expect(alice.post("/api/tokens", {"expiresDays": 3651}), 400, "3651-day token",
           "expiresDays")
    expect(alice.post("/api/tokens", {"expiresDays": "7"}), 400, "expiresDays as a string",
           "expiresDays")
    expect(alice.post("/api/tokens", {"scope": "all"}), 400, "unknown token field", "scope")

    tok = User(port, token=token, info=alice.info)
    r = tok.get("/api/session")
    t.check(r.status == 200 and r.json() == alice.info, f"bearer token authenticates: {r!r}")
    r = t.request(port, "GET", "/api/session", headers={"Authorization": "bearer " + token})
    t.check(r.status == 200, f"the bearer scheme is case-insensitive: {r!r}")
    expect(t.request(port, "GET", "/api/session",
                     headers={"Authorization": "Bearer " + "0" * 64}), 401, "unknown token")
    expect(t.request(port, "GET", "/api/session",
                     headers={"Authorization": "Bearer " + token + "00"}), 401,
           "token with extra characters")

    # The caller's tokens: listed without their secrets, the one in use
    # marked; each can be revoked, an admin may revoke anyone's.
    r = tok.get("/api/tokens")
    listed = r.json() or []
    ids = [x.get("id") for x in listed]
    t.check(r.status == 200 and {j.get("id"), day_id, long_id} <= set(ids) and
            ids == sorted(ids) and all(set(x) == {"id", "createdAt", "expiresAt", "current"}
                                       for x in listed),
            f"GET /api/tokens lists alice's tokens: {listed}")
    t.check([x["id"] for x in listed if x["current"]] == [j.get("id")],
            f"the token in use is marked current: {listed}")
    t.check(not any(x["current"] for x in alice.get("/api/tokens").json() or []),
            "with a cookie, no token is current")
    t.check(bob.get("/api/tokens").json() == [], "bob has no tokens and sees none of alice's")
    day = User(port, token=day_token)
    expect(day.get("/api/session"), 200, "the 1-day token works")
    day_feed = WS(port, {**day.headers(), "Origin": f"http://127.0.0.1:{port}"})
    t.check(day_feed.accepted and day_feed.recv() is not None, "a live feed opened with it")
    expect(bob.delete(f"/api/tokens/{day_id}"), 404, "bob cannot revoke alice's token")
    expect(alice.delete(f"/api/tokens/{day_id}"), 204, "alice revokes her 1-day token")
    expect(day.get("/api/session"), 401, "a revoked token no longer works")
    t.check(wait_closed(day_feed), "and the live feed opened with it is closed")
    expect(alice.delete(f"/api/tokens/{day_id}"), 404, "revoked twice")
    expect(admin.delete(f"/api/tokens/{long_id}"), 204, "an admin revokes alice's token")
    ids = [x.get("id") for x in tok.get("/api/tokens").json() or []]
    t.check(day_id not in ids and long_id not in ids and j.get("id") in ids,
            f"revoked tokens leave the list: {ids}")
    expect(anon.get("/api/tokens"), 401, "tokens without login")

    # Logout: 204, the cookie is cleared and dead, its live feed closed; the
    # token lives on.
    alice_feed = WS(port, {**alice.headers(), "Origin": f"http://127.0.0.1:{port}"})
    t.check(alice_feed.accepted and alice_feed.recv() is not None, "alice's live feed is open")
    r = alice.delete("/api/session")
    expect(r, 204, "logout")
    t.check(re.match(r"trackd_session=;.*Max-Age=0", r.header("set-cookie") or "") is not None,
            f"logout clears the cookie: {r.header('set-cookie')}")
    expect(alice.get("/api/session"), 401, "the cookie no longer works after logout")
    expect(tok.get("/api/session"), 200, "a token survives logout of a cookie session")
    t.check(wait_closed(alice_feed), "logout closes the live feed of that session")
    return tok


def test_devices(port, srv, admin, alice, bob, carol, anon):
    r = alice.post("/api/devices", {"uniqueId": IMEI_A, "name": "Alice band"})
    dev_a = r.json() or {}
    expect(r, 200, "alice adds a device")
    t.check(set(dev_a) == {"id", "uniqueId", "name", "protocol", "status", "lastSeen",
                           "lastPosition", "ownerId"}, f"device fields: {dev_a}")
    t.check(dev_a.get("uniqueId") == IMEI_A and dev_a.get("name") == "Alice band" and
            dev_a.get("ownerId") == alice.id and dev_a.get("status") == "unknown" and
            dev_a.get("lastSeen") is None and dev_a.get("lastPosition") is None and
            dev_a.get("protocol") is None, f"new device: {dev_a}")
    r = bob.post("/api/devices", {"uniqueId": IMEI_B})
    dev_b = r.json() or {}
    t.check(r.status == 200 and dev_b.get("name") == IMEI_B and dev_b.get("ownerId") == bob.id,
            f"bob's device, named after its uniqueId: {r!r}")
    r = alice.post("/api/devices", {"uniqueId": "dev-1_a.b:C", "name": "spare"})
    dev_s = r.json() or {}
    expect(r, 200, "uniqueId with - _ . :")
    expect(alice.post("/api/devices", {"uniqueId": IMEI_A}), 409, "duplicate uniqueId",
           IMEI_A)
    expect(bob.post("/api/devices", {"uniqueId": IMEI_A}), 409,
           "another user's uniqueId")
    for bad in ("a b", "x/y", "semi;colon", "é"):
        expect(alice.post("/api/devices", {"uniqueId": bad}), 400, f"uniqueId {bad!r}",
               "uniqueId")
    expect(alice.post("/api/devices", {"uniqueId": ""}), 400, "empty uniqueId", "uniqueId")
    expect(alice.post("/api/devices", {"name": "x"}), 400, "missing uniqueId", "uniqueId")
    expect(alice.post("/api/devices", {"uniqueId": 123}), 400, "numeric uniqueId", "uniqueId")
    expect(alice.post("/api/devices", {"uniqueId": "n1", "name": "n" * 64}), 400,
           "64-character name", "name")
    expect(alice.post("/api/devices", {"uniqueId": "n1", "owner": 3}), 400,
           "unknown device field", "owner")
    expect(anon.post("/api/devices", {"uniqueId": "n1"}), 401, "add a device without login")

    ids = lambda u: sorted(d["id"] for d in u.get("/api/devices").json() or [])
    t.check(ids(alice) == sorted([dev_a["id"], dev_s["id"]]), f"alice's list: {ids(alice)}")
    t.check(ids(bob) == [dev_b["id"]], f"bob's list: {ids(bob)}")
    t.check({dev_a["id"], dev_b["id"], dev_s["id"]} <= set(ids(admin)),
            f"admin sees all: {ids(admin)}")
    t.check(ids(carol) == sorted(ids(admin)), "another admin sees all too")
    r = alice.get(f"/api/devices/{dev_a['id']}")
    t.check(r.status == 200 and r.json() == dev_a, f"GET one device: {r!r}")
    A = dev_a["id"]
    for what, r in (("GET", bob.get(f"/api/devices/{A}")),
                    ("PUT", bob.put(f"/api/devices/{A}", {"name": "mine"})),
                    ("DELETE", bob.delete(f"/api/devices/{A}")),
                    ("share", bob.post(f"/api/devices/{A}/share", {"userId": bob.id})),
                    ("unshare", bob.delete(f"/api/devices/{A}/share/{bob.id}")),
                    ("positions", bob.get(f"/api/positions?deviceId={A}")),
                    ("events", bob.get(f"/api/events?deviceId={A}")),
                    ("export", bob.get(f"/api/export?deviceId={A}&format=csv"))):
        expect(r, 404, f"bob: {what} alice's device")
    t.check(alice.get(f"/api/devices/{A}").json() == dev_a, "bob's attempts changed nothing")
    expect(alice.get("/api/devices/999999"), 404, "unknown device")
    for bad in ("abc", "0", "-1", "1x", "99999999999999999999"):
        expect(alice.get(f"/api/devices/{bad}"), 400, f"device id {bad!r}", "valid id")
    expect(anon.get(f"/api/devices/{A}"), 401, "device without login")

    r = alice.put(f"/api/devices/{A}", {"name": "Alice bracelet"})
    t.check(r.status == 200 and (r.json() or {}).get("name") == "Alice bracelet" and
            (r.json() or {}).get("uniqueId") == IMEI_A, f"rename device: {r!r}")
    expect(alice.put(f"/api/devices/{A}", {"uniqueId": IMEI_B}), 409,
           "change uniqueId to a taken one")
    expect(alice.put(f"/api/devices/{A}", {"uniqueId": "bad id"}), 400,
           "change uniqueId to a bad one", "uniqueId")
    expect(alice.put(f"/api/devices/{A}", {"uniqueId": ""}), 400,
           "change uniqueId to empty", "uniqueId")
    expect(alice.put(f"/api/devices/{A}", {"color": "red"}), 400, "unknown field in PUT",
           "color")
    expect(alice.put(f"/api/devices/{A}", {"name": 5}), 400, "numeric name", "name")
    r = alice.put(f"/api/devices/{dev_s['id']}", {"uniqueId": "dev-2"})
    t.check(r.status == 200 and (r.json() or {}).get("uniqueId") == "dev-2" and
            (r.json() or {}).get("name") == "spare", f"change uniqueId: {r!r}")
    expect(alice.post("/api/devices", {"uniqueId": "dev-1_a.b:C"}), 200,
           "the old uniqueId is free again")

    # Sharing.
    expect(alice.post(f"/api/devices/{A}/share", {"userId": 999999}), 404,
           "share with an unknown user", "user")
    expect(alice.post(f"/api/devices/{A}/share", {}), 400, "share without userId", "userId")
    expect(alice.post(f"/api/devices/{A}/share", {"userId": "bob"}), 400, "userId as a string",
           "userId")
    expect(alice.post(f"/api/devices/{A}/share", {"userId": bob.id}), 204, "share with bob")
    expect(alice.post(f"/api/devices/{A}/share", {"userId": bob.id}), 204, "share again")
    expect(bob.get(f"/api/devices/{A}"), 200, "bob sees the shared device")
    t.check(A in ids(bob) and dev_b["id"] in ids(bob), f"bob's list with the share: {ids(bob)}")
    expect(bob.put(f"/api/devices/{A}", {"name": "mine"}), 403, "bob changes a shared device",
           "shared")
    expect(bob.delete(f"/api/devices/{A}"), 403, "bob deletes a shared device")
    expect(bob.post(f"/api/devices/{A}/share", {"userId": carol.id}), 403,
           "bob re-shares a shared device")
    expect(bob.delete(f"/api/devices/{A}/share/{bob.id}"), 403,
           "bob removes his own share")
    t.check((alice.get(f"/api/devices/{A}").json() or {}).get("name") == "Alice bracelet",
            "the shared device is unchanged")

    # A device that reports without being added: ownerless, only admins see it.
    s = t.iw_login(srv.port, IMEI_U)
    t.check(s is not None, "unknown IW device logs in")
    if s:
        s.sendall(t.iw_position(time.time() - 30))
        t.check(acks(s, 1) == 1, "unknown device's position acknowledged")
    lst = admin.get("/api/devices").json() or []
    dev_u = next((d for d in lst if d.get("uniqueId") == IMEI_U), {})
    t.check(dev_u.get("ownerId", "x") is None and dev_u.get("protocol") == "iw" and
            dev_u.get("status") == "online" and dev_u.get("lastSeen") and
            (dev_u.get("lastPosition") or {}).get("deviceId") == dev_u.get("id"),
            f"auto-registered device for admin: {dev_u}")
    U = dev_u.get("id", 0)
    t.check(U not in ids(alice) and U not in ids(bob), "users do not see ownerless devices")
    expect(alice.get(f"/api/devices/{U}"), 404, "alice GET the ownerless device")
    expect(alice.get(f"/api/positions?deviceId={U}"), 404, "alice positions of it")
    expect(alice.post("/api/devices", {"uniqueId": IMEI_U}), 409,
           "add a device that already reported", IMEI_U)
    r = admin.put(f"/api/devices/{U}", {"name": "found bracelet"})
    t.check(r.status == 200 and (r.json() or {}).get("name") == "found bracelet",
            f"admin renames the ownerless device: {r!r}")
    return dev_a, dev_b, dev_s, U, s


def test_positions(port, srv, admin, alice, bob, tok):
    A = DEV_A["id"]
    _, m0 = metrics(port)
    # Alice's bracelet: login, then 2,500 positions with shuffled times (100 of them
    # sharing a second with another), sent in pipelined bursts.
    rnd = random.Random(7)
    base = int(time.time()) - 3 * 3600
    offsets = list(range(N_POS - 100)) + rnd.sample(range(N_POS - 100), 100)
    rnd.shuffle(offsets)
    s = t.iw_login(srv.port, IMEI_A)
    t.check(s is not None, "alice's bracelet logs in")
    if not s:
        return None, None
    got = 0
    for start in range(0, N_POS, 250):
        frames = b"".join(
            t.iw_position(base + offsets[i], lon=114 + (4 + i * 0.0001) / 60)
            for i in range(start, min(start + 250, N_POS)))
        s.sendall(frames)
        got += acks(s, min(250, N_POS - start))
    t.check(got == N_POS, f"{N_POS} positions acknowledged: {got}")

    _, m1 = metrics(port)
    k = lambda name: f'{name}{{protocol="iw"}}'
    t.check(m1.get(k("trackd_frames_total"), 0) - m0.get(k("trackd_frames_total"), 0) >=
            N_POS + 1, "frames counter moved by the frames sent")
    t.check(m1.get(k("trackd_records_total"), 0) - m0.get(k("trackd_records_total"), 0) >=
            N_POS + 1, "records counter moved")
    t.check(m1.get("trackd_store_commit_seconds_count", 0) >
            m0.get("trackd_store_commit_seconds_count", 0), "commit histogram counted commits")
    conns = m1.get('trackd_connections{protocol="iw",transport="tcp"}', 0)
    t.check(conns >= 2, f"two IW TCP connections open: {conns}")
    t.check(m1.get(k("trackd_decode_errors_total")) == m0.get(k("trackd_decode_errors_total")),
            "no decode errors for good frames")

    # Everything in one page, then the checks of order and content.
    r = alice.get(f"/api/positions?deviceId={A}&limit=10000")
    expect(r, 200, "all positions in one page")
    allp = r.json() or []
    t.check(len(allp) == N_POS + 1, f"login + {N_POS} records: {len(allp)}")
    keys = [(parse_time(p["time"]), p["id"]) for p in allp]
    t.check(keys == sorted(keys) and len(set(p["id"] for p in allp)) == len(allp),
            "ascending by (time, id), no duplicate ids")
    pos = [p for p in allp if p.get("type") == "position"]
    idx = [lon_index(p) for p in pos]
    t.check(sorted(idx) == list(range(N_POS)), "every frame stored once")
    bad = [p for p in pos if parse_time(p["time"]) != base + offsets[lon_index(p)]]
    t.check(not bad, f"each record has its frame's time: {bad[:2]}")
    # Same second: the earlier frame (smaller id) comes first.
    same = [(x, y) for x, y in zip(pos, pos[1:]) if x["time"] == y["time"]]
    t.check(len(same) == 100 and all(lon_index(x) < lon_index(y) for x, y in same),
            f"ties ordered by id ({len(same)} ties)")
    p0 = pos[0]
    t.check(set(p0) == {"id", "deviceId", "protocol", "type", "serverTime", "time", "valid",
                        "latitude", "longitude", "speed", "course", "altitude", "alarms",
                        "attributes"} and p0["deviceId"] == A and p0["protocol"] == "iw" and
            p0["valid"] is True and abs(p0["latitude"] - 22.5497) < 1e-4 and
            abs(p0["course"] - 323.87) < 0.01 and abs(p0["speed"] - 0.1) < 0.01 and
            p0["alarms"] == [] and p0["attributes"].get("batteryLevel") == 80,
            f"position object: {p0}")
    lg = [p for p in allp if p.get("type") == "login"]
    t.check(len(lg) == 1 and "latitude" not in lg[0] and "speed" not in lg[0],
            f"login record without location or speed: {lg}")

    # Paging with limit/after.
    r = alice.get(f"/api/positions?deviceId={A}")
    t.check(r.status == 200 and [p["id"] for p in r.json() or []] ==
            [p["id"] for p in allp[:1000]], "default limit is 1000")
    pages, after = [], 0
    for _ in range(10):
        page = alice.get(f"/api/positions?deviceId={A}&limit=1000&after={after}").json() or []
        pages.append(page)
        if not page:
            break
        after = page[-1]["id"]
    flat = [p for pg in pages for p in pg]
    t.check([len(pg) for pg in pages] == [1000, 1000, 501, 0],
            f"pages of 1000: {[len(pg) for pg in pages]}")
    t.check([p["id"] for p in flat] == [p["id"] for p in allp],
            "paging gives every record once, in order")
    lo, hi = base + 100, base + 199
    window = [p for p in allp if lo <= parse_time(p["time"]) <= hi]
    got, after = [], 0
    for _ in range(100):
        page = alice.get(f"/api/positions?deviceId={A}&from={q(iso(lo))}&to={q(iso(hi))}"
                         f"&limit=7&after={after}").json() or []
        got += page
        if len(page) < 7:
            break
        after = page[-1]["id"]
    t.check(len(window) >= 100 and [p["id"] for p in got] == [p["id"] for p in window],
            f"window paged by 7: {len(got)} of {len(window)}")
    t.check(got and parse_time(got[0]["time"]) == lo and parse_time(got[-1]["time"]) == hi,
            "from and to are inclusive")
    plus1 = datetime.fromtimestamp(lo, timezone(timedelta(hours=1))).isoformat()
    r1 = alice.get(f"/api/positions?deviceId={A}&from={q(plus1)}&to={q(iso(hi))}&limit=10000")
    r2 = alice.get(f"/api/positions?deviceId={A}&from={plus1}&to={q(iso(hi))}&limit=10000")
    t.check(r1.status == 200 and r1.json() == window, f"from with +01:00 offset: {r1!r}")
    t.check(r2.status == 200 and r2.json() == window,
            f"from with an unencoded '+' (a space): {r2!r}")
    one = pos[500]
    r = alice.get(f"/api/positions?deviceId={A}&from={q(one['time'])}&to={q(one['time'])}")
    t.check(r.status == 200 and one["id"] in [p["id"] for p in r.json() or []] and
            all(p["time"] == one["time"] for p in r.json() or []), "from == to: one second")
    # the login record carries the server time, with milliseconds unless they are .000
    lg0 = allp[-1]
    r = alice.get(f"/api/positions?deviceId={A}&from={q(lg0['time'])}&to={q(lg0['time'])}")
    t.check(r.status == 200 and [p["id"] for p in r.json() or []] == [lg0["id"]],
            f"from == to to the millisecond: {r!r}")
    ms = parse_time(lg0["time"])
    r = alice.get(f"/api/positions?deviceId={A}&from={q(iso(ms + 0.001))}")
    t.check(r.status == 200 and r.json() == [], f"from 1 ms after the last record: {r!r}")
    r = alice.get(f"/api/positions?deviceId={A}&after={allp[-1]['id']}")
    t.check(r.status == 200 and r.json() == [], "after the last record: empty")
    r = alice.get(f"/api/positions?deviceId={A}&from={q(iso(base - 86400))}"
                  f"&to={q(iso(base - 3600))}")
    t.check(r.status == 200 and r.json() == [], "a range before any record: empty")
    r = bob.get(f"/api/positions?deviceId={A}&limit=5")
    t.check(r.status == 200 and r.json() == allp[:5], "bob reads the shared device's positions")
    r = tok.get(f"/api/positions?deviceId={A}&limit=5")
    t.check(r.status == 200 and r.json() == allp[:5], "token reads positions")

    for qs, what, has in (("", "no deviceId", "deviceId"),
                          ("deviceId=abc", "deviceId=abc", "deviceId"),
                          (f"deviceId={A}&from=2026-13-45T00:00:00Z", "bad from", "from"),
                          (f"deviceId={A}&from=yesterday", "from=yesterday", "from"),
                          (f"deviceId={A}&to=notatime", "bad to", "to"),
                          (f"deviceId={A}&from={q(iso(hi))}&to={q(iso(lo))}", "from > to",
                           "from"),
                          (f"deviceId={A}&limit=0", "limit=0", "limit"),
                          (f"deviceId={A}&limit=10001", "limit=10001", "limit"),
                          (f"deviceId={A}&limit=-5", "limit=-5", "limit"),
                          (f"deviceId={A}&limit=ten", "limit=ten", "limit"),
                          (f"deviceId={A}&limit=5x", "limit=5x", "limit"),
                          (f"deviceId={A}&after=abc", "after=abc", "after"),
                          # Overlong values must not be dropped silently.
                          (f"deviceId={A}&from={'x' * 300}", "a 300-character from", "from"),
                          (f"deviceId={A}&limit={'9' * 300}", "a 300-digit limit", "limit"),
                          # Nor may parameters past some count.
                          (f"deviceId={A}&" + "&".join(f"x{i}=1" for i in range(30)) +
                           "&limit=0", "limit=0 after 30 other parameters", None)):
        expect(alice.get("/api/positions?" + qs), 400, f"positions: {what}", has)
    expect(alice.get("/api/positions?deviceId=999999"), 404, "positions of an unknown device")
    expect(User(port).get(f"/api/positions?deviceId={A}"), 401, "positions without login")

    # A bad frame is counted as a decode error; the connection goes on.
    s.sendall(t.iw_position(time.time()).replace(b"A2232", b"A22x2"))
    t.check(wait_for(lambda: metrics(port)[1].get(k("trackd_decode_errors_total"), 0) ==
                     m0.get(k("trackd_decode_errors_total"), 0) + 1),
            "decode error counted after a bad frame")
    # Heart rate + blood pressure: a status record, now the newest.
    s.sendall(b"IWAPHT,60,130,85#")
    t.check(t.recv_until(s, b"#") == b"IWBPHT#", "health frame acknowledged")
    r = alice.get("/api/positions/latest")
    latest = r.json() or []
    expect(r, 200, "GET /api/positions/latest")
    t.check(len(latest) == 1 and latest[0].get("deviceId") == A and
            latest[0].get("type") == "status" and
            latest[0].get("attributes", {}).get("heartRate") == 60 and
            latest[0].get("attributes", {}).get("systolic") == 130,
            f"alice's latest: the health record: {latest}")
    newest = alice.get(f"/api/positions?deviceId={A}&limit=10000").json() or []
    t.check(newest and newest[-1] == (latest or [None])[0], "latest == last of the history")
    dev = alice.get(f"/api/devices/{A}").json() or {}
    t.check(dev.get("status") == "online" and dev.get("protocol") == "iw" and
            dev.get("lastPosition") == (latest or [None])[0] and dev.get("lastSeen"),
            f"device shows status and last record: {dev}")
    t.check(sorted(p["deviceId"] for p in bob.get("/api/positions/latest").json() or []) == [A],
            "bob's latest: the shared device only")
    t.check(sorted(p["deviceId"] for p in admin.get("/api/positions/latest").json() or []) ==
            sorted([A, DEV_U]), "admin's latest: every device with records")

    # Unsharing takes bob's access away.
    expect(alice.delete(f"/api/devices/{A}/share/{bob.id}"), 204, "unshare")
    expect(bob.get(f"/api/devices/{A}"), 404, "bob after unsharing")
    expect(bob.get(f"/api/positions?deviceId={A}"), 404, "bob's positions after unsharing")
    t.check(bob.get("/api/positions/latest").json() == [], "bob's latest after unsharing")
    expect(alice.delete(f"/api/devices/{A}/share/{bob.id}"), 404, "unshare again")
    return s, base


def test_events(port, srv, admin, alice, bob, sock_a, sock_u):
    A = DEV_A["id"]
    now = int(time.time())
    plan = [(now - 60, "01", "sos"), (now - 50, "01", "sos"), (now - 40, "02", "lowBattery"),
            (now - 30, "01", "sos")]
    for when, code, _ in plan:
        sock_a.sendall(t.iw_alarm(when, code))
    t.check(acks(sock_a, 4, b"IWBP10#") == 4, "alarm frames acknowledged")
    if sock_u:
        sock_u.sendall(t.iw_alarm(now - 20, "01"))
        t.check(acks(sock_u, 1, b"IWBP10#") == 1, "ownerless device's alarm acknowledged")
        sock_u.sendall(t.iw_position(now - 10, lat=-33.8688, lon=-151.2093))
        t.check(acks(sock_u, 1) == 1, "south-west position acknowledged")
        r = admin.get(f"/api/positions?deviceId={DEV_U}&from={q(iso(now - 10))}")
        p = (r.json() or [{}])[0] if r.json() else {}
        t.check(abs(p.get("latitude", 0) + 33.8688) < 1e-5 and
                abs(p.get("longitude", 0) + 151.2093) < 1e-5, f"S and W are negative: {p}")
    r = alice.get(f"/api/events?deviceId={A}")
    ev = r.json() or []
    expect(r, 200, "GET /api/events")
    t.check([e.get("type") for e in ev] == [p[2] for p in plan] and
            [parse_time(e["time"]) for e in ev] == [p[0] for p in plan],
            f"alice's events in time order: {ev}")
    t.check(all(set(e) == {"id", "deviceId", "type", "time", "latitude", "longitude",
                           "positionId", "attributes", "state", "critical", "acknowledgedBy",
                           "acknowledgedAt", "note", "closedAt"} and e["state"] == "new" and
                e["deviceId"] == A and abs(e["latitude"] - 22.5497) < 1e-4 for e in ev),
            f"event objects: {ev[:1]}")
    hist = {p["id"]: p for p in alice.get(f"/api/positions?deviceId={A}&limit=10000").json()
            or []}
    t.check(all(e["type"] in hist.get(e["positionId"], {}).get("alarms", []) and
                hist[e["positionId"]]["time"] == e["time"] for e in ev),
            "each event points at its alarm record")
    t.check([e["type"] for e in alice.get(f"/api/events?deviceId={A}&type=sos").json() or []]
            == ["sos"] * 3, "type=sos filter")
    t.check([e["type"] for e in alice.get("/api/events?type=lowBattery").json() or []] ==
            ["lowBattery"], "type=lowBattery filter")
    t.check(alice.get("/api/events?type=fall").json() == [], "type=fall: none")
    expect(alice.get("/api/events?type=bogus"), 400, "unknown event type", "type")
    t.check([e["id"] for e in alice.get("/api/events").json() or []] == [e["id"] for e in ev],
            "alice without deviceId: only her devices' events")
    alle = admin.get("/api/events").json() or []
    t.check(len(alle) == 5 and {e["deviceId"] for e in alle} == {A, DEV_U},
            f"admin sees every event: {alle}")
    t.check(bob.get("/api/events").json() == [], "bob sees none")
    expect(bob.get(f"/api/events?deviceId={A}"), 404, "bob: events of alice's device")
    got, after = [], 0
    for _ in range(10):
        page = alice.get(f"/api/events?limit=1&after={after}").json() or []
        got += page
        if not page:
            break
        after = page[-1]["id"]
    t.check([e["id"] for e in got] == [e["id"] for e in ev], "events paged one by one")
    r = alice.get(f"/api/events?from={q(ev[1]['time'])}&to={q(ev[2]['time'])}")
    t.check([e["id"] for e in r.json() or []] == [ev[1]["id"], ev[2]["id"]],
            f"events from/to inclusive: {r!r}")
    expect(alice.get("/api/events?limit=0"), 400, "events limit=0", "limit")
    expect(alice.get("/api/events?from=xx"), 400, "events bad from", "from")
    expect(alice.get("/api/events?deviceId=x"), 400, "events bad deviceId", "deviceId")
    expect(alice.get("/api/events?deviceId=999999"), 404, "events of an unknown device")
    expect(User(port).get("/api/events"), 401, "events without login")
    return ev


def test_export(port, alice, bob):
    A = DEV_A["id"]
    allp = alice.get(f"/api/positions?deviceId={A}&limit=10000").json() or []
    fixes = [p for p in allp if p["type"] == "position" and p["valid"] and "latitude" in p]
    t.check(len(fixes) == N_POS + 4, f"valid fixes: {len(fixes)}")
    hdr = alice.headers()

    st, h, body, eof = raw_get(port, f"/api/export?deviceId={A}&format=gpx", hdr)
    t.check(st == 200 and "content-length" not in h and eof and
            h.get("content-type", "").startswith("application/gpx+xml") and
            h.get("content-disposition") == f'attachment; filename="{IMEI_A}.gpx"',
            f"GPX response: {st} {h} eof={eof}")
    if h.get("transfer-encoding", "").lower() == "chunked":
        t.check(False, "GPX body is plain, ended by close (not chunked)")
    try:
        root = ET.fromstring(body)
    except ET.ParseError as e:
        root = None
        t.check(False, f"GPX parses: {e}: {body[:200]!r}...{body[-200:]!r}")
    ns = "{http://www.topografix.com/GPX/1/1}"
    if root is not None:
        pts = root.findall(f"{ns}trk/{ns}trkseg/{ns}trkpt")
        t.check(root.tag == ns + "gpx" and root.get("version") == "1.1",
                f"GPX 1.1 root: {root.tag} {root.attrib}")
        t.check(len(pts) == len(fixes), f"one trkpt per fix: {len(pts)} vs {len(fixes)}")
        t.check(all(abs(float(e.get("lat")) - p["latitude"]) < 1e-6 and
                    abs(float(e.get("lon")) - p["longitude"]) < 1e-6 and
                    parse_time(e.find(ns + "time").text) == parse_time(p["time"]) and
                    e.find(ns + "ele") is not None for e, p in zip(pts, fixes)),
                "trkpts in order with lat, lon, ele, time")

    st, h, body, eof = raw_get(port, f"/api/export?deviceId={A}&format=kml", hdr)
    t.check(st == 200 and eof and "content-length" not in h and
            h.get("content-disposition") == f'attachment; filename="{IMEI_A}.kml"',
            f"KML response: {st} {h}")
    try:
        root = ET.fromstring(body)
    except ET.ParseError as e:
        root = None
        t.check(False, f"KML parses: {e}")
    kns = "{http://www.opengis.net/kml/2.2}"
    if root is not None:
        c = root.find(f".//{kns}LineString/{kns}coordinates")
        text = c.text if c is not None else ""
        coords = [tuple(map(float, x.split(","))) for x in (text or "").split()]
        t.check(root.tag == kns + "kml" and len(coords) == len(fixes) and
                all(abs(lo - p["longitude"]) < 1e-6 and abs(la - p["latitude"]) < 1e-6
                    for (lo, la, _), p in zip(coords, fixes)),
                f"KML coordinates lon,lat,alt per fix: {len(coords)}")

    st, h, body, eof = raw_get(port, f"/api/export?deviceId={A}&format=csv", hdr)
    t.check(st == 200 and eof and "content-length" not in h and
            h.get("content-type", "").startswith("text/csv") and
            h.get("content-disposition") == f'attachment; filename="{IMEI_A}.csv"',
            f"CSV response: {st} {h}")
    rows = list(csv.reader(io.StringIO(body.decode("utf-8"), newline="")))
    t.check(rows and rows[0] == ["id", "deviceId", "uniqueId", "protocol", "type", "time",
                                 "serverTime", "valid", "latitude", "longitude", "speed",
                                 "course", "altitude", "alarms", "attributes"],
            f"CSV header: {rows[:1]}")
    data = rows[1:]
    t.check(len(data) == len(allp) and [int(r[0]) for r in data] == [p["id"] for p in allp],
            f"one CSV row per record, in order: {len(data)} vs {len(allp)}")

    def row_ok(r, p):
        try:
            return (len(r) == 15 and int(r[1]) == A and r[2] == IMEI_A and r[3] == "iw" and
                    r[4] == p["type"] and parse_time(r[5]) == parse_time(p["time"]) and
                    parse_time(r[6]) == parse_time(p["serverTime"]) and
                    r[7] == ("true" if p["valid"] else "false") and
                    (abs(float(r[8]) - p["latitude"]) < 1e-6 if "latitude" in p else r[8] == "")
                    and (abs(float(r[10]) - p["speed"]) < 0.01 if "speed" in p else r[10] == "")
                    and r[13].split() == p["alarms"] and json.loads(r[14]) == p["attributes"])
        except (ValueError, KeyError):
            return False
    badrows = [(r, p) for r, p in zip(data, allp) if not row_ok(r, p)]
    t.check(not badrows, f"CSV rows match the records: {badrows[:1]}")

    # Windows of exactly 999, 1,000 and 1,001 records around the internal page size.
    times = [p["time"] for p in allp]  # ascending
    for want in (999, 1000, 1001):
        found = next(((times[i], times[i + want - 1]) for i in range(len(times) - want)
                      if (i == 0 or times[i - 1] != times[i]) and
                      times[i + want - 1] != times[i + want]), None)
        if not t.check(found, f"a window of {want} records exists"):
            continue
        st, h, body, eof = raw_get(port, f"/api/export?deviceId={A}&format=csv&from="
                                         f"{q(found[0])}&to={q(found[1])}", hdr)
        n = len(list(csv.reader(io.StringIO(body.decode(), newline="")))) - 1
        t.check(st == 200 and eof and n == want, f"CSV window of {want} records: {n}")

    # A device without records: valid empty files; its name is escaped.
    S = DEV_S["id"]
    odd = '<Tom & "Jerry"> \'s'
    expect(alice.put(f"/api/devices/{S}", {"name": odd}), 200, "name with XML specials")
    st, h, body, eof = raw_get(port, f"/api/export?deviceId={S}&format=kml", hdr)
    try:
        root = ET.fromstring(body)
        names = [e.text for e in root.iter(kns + "name")]
        t.check(st == 200 and names and all(n == odd for n in names),
                f"KML names escaped: {names}")
    except ET.ParseError as e:
        t.check(False, f"KML with an odd name parses: {e}: {body[:300]!r}")
    st, h, body, eof = raw_get(port, f"/api/export?deviceId={S}&format=gpx", hdr)
    try:
        root = ET.fromstring(body)
        t.check(st == 200 and root.findall(f".//{ns}trkpt") == [] and
                root.find(f"{ns}trk/{ns}name").text == odd, "empty GPX, name escaped")
    except ET.ParseError as e:
        t.check(False, f"empty GPX parses: {e}: {body!r}")
    st, h, body, eof = raw_get(port, f"/api/export?deviceId={S}&format=csv", hdr)
    t.check(st == 200 and len(list(csv.reader(io.StringIO(body.decode(), newline="")))) == 1,
            f"empty CSV has the header only: {body!r}")

    r = alice.get(f"/api/export?deviceId={A}&format=csv")
    t.check(r.status == 200 and r.body.count(b"\n") == len(allp) + 1,
            "export through http.client (read to close)")
    expect(alice.get(f"/api/export?deviceId={A}"), 400, "export without format", "format")
    expect(alice.get(f"/api/export?deviceId={A}&format=xls"), 400, "export as xls", "format")
    expect(alice.get("/api/export?format=gpx"), 400, "export without deviceId", "deviceId")
    expect(alice.get(f"/api/export?deviceId={A}&format=gpx&from=soon"), 400,
           "export with a bad from", "from")
    expect(alice.get(f"/api/export?deviceId={A}&format=csv&from={q(iso(time.time()))}"
                     f"&to={q(iso(time.time() - 86400))}"), 400, "export with from > to", "from")
    expect(alice.get("/api/export?deviceId=999999&format=gpx"), 404, "export unknown device")
    expect(bob.get(f"/api/export?deviceId={A}&format=gpx"), 404, "bob exports alice's device")
    expect(User(port).get(f"/api/export?deviceId={A}&format=gpx"), 401,
           "export without login")


def test_bodies_and_routes(port, srv, admin, alice):
    p = "/api/devices"
    expect(alice.post(p, "{"), 400, "truncated JSON", "invalid JSON")
    expect(alice.post(p, "{'uniqueId': 'x'}"), 400, "single-quoted JSON", "invalid JSON")
    expect(alice.post(p, '{"uniqueId":"x","uniqueId":"y"}'), 400, "duplicate keys")
    expect(alice.post(p, "[1, 2]"), 400, "array body", "object")
    expect(alice.post(p, '"just a string"'), 400, "string body")
    expect(alice.post(p, "null"), 400, "null body")
    expect(alice.post(p, "42"), 400, "number body")
    expect(alice.post(p, {"uniqueId": "x", "extra": 1}), 400, "unknown field", "extra")
    expect(alice.post(p, {"uniqueId": ["x"]}), 400, "array for a string", "uniqueId")
    expect(admin.post("/api/users", {"name": "zed", "password": "long-enough", "admin": 1}),
           400, "1 for a boolean", "admin")

    head = '{"uniqueId":"padded-dev"'
    body = head + " " * (65536 - len(head) - 1) + "}"
    r = alice.post(p, body)
    t.check(len(body) == 65536 and r.status == 200 and
            (r.json() or {}).get("uniqueId") == "padded-dev", f"65,536-byte body: {r!r}")
    body = head + " " * (65537 - len(head) - 1) + "}"
    st, b = raw_exchange(port, (f"POST {p} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
                                f"\r\nContent-Length: {len(body)}\r\n"
                                f"Authorization: Bearer {TOKEN}\r\n\r\n{body}").encode())
    t.check(st == 413 and b"too large" in b, f"65,537-byte body: {st} {b[:200]!r}")
    # Chunked bodies: read like any other (or refused as a whole), never taken as empty.
    small = '{"uniqueId":"chunked-dev"}'
    st, b = raw_exchange(port, (f"POST {p} HTTP/1.1\r\nHost: x\r\nContent-Type: "
                                f"application/json\r\nTransfer-Encoding: chunked\r\n"
                                f"Authorization: Bearer {TOKEN}\r\n\r\n{len(small):x}\r\n"
                                f"{small}\r\n0\r\n\r\n").encode())
    t.check((st == 200 and b'"uniqueId":"chunked-dev"' in b) or
            (st in (400, 411) and b"uniqueId" not in b),
            f"small chunked body is read, not ignored: {st} {b[:200]!r}")
    big = head + ", " + " " * 70000 + '"name":"x"}'
    chunks = b"".join(f"{len(big[i:i + 8000]):x}\r\n{big[i:i + 8000]}\r\n".encode()
                      for i in range(0, len(big), 8000)) + b"0\r\n\r\n"
    st, b = raw_exchange(port, (f"POST {p} HTTP/1.1\r\nHost: x\r\nContent-Type: "
                                f"application/json\r\nTransfer-Encoding: chunked\r\n"
                                f"Authorization: Bearer {TOKEN}\r\n\r\n").encode() + chunks)
    t.check((st == 400 and (b"too large" in b or b"chunked" in b)) or st == 411,
            f"70 kB chunked body: too large, or chunked refused: {st} {b[:200]!r}")
    t.check(not any(d.get("uniqueId") == "padded-dev" and d.get("name") == "x"
                    for d in alice.get(p).json() or []), "oversized bodies changed nothing")

    expect(alice.get("/api/nope"), 404, "unknown path", "no such endpoint")
    expect(alice.get("/api"), 404, "/api itself")
    expect(alice.get(f"/api/devices/{DEV_A['id']}/nope"), 404, "unknown sub-path")
    expect(User(port).get("/api/nope"), 404, "unknown path without login")
    for method, path, allow in (("PATCH", "/api/devices", "GET, POST"),
                                ("DELETE", "/api/server", "GET"),
                                ("GET", f"/api/users/{alice.id}", "PUT, DELETE"),
                                ("POST", "/api/positions", "GET"),
                                ("PUT", "/api/session", "POST, GET, DELETE"),
                                ("POST", "/metrics", "GET")):
        r = alice.req(method, path)
        got = sorted(x.strip() for x in (r.header("allow") or "").split(","))
        expect(r, 405, f"{method} {path}")
        t.check(got == sorted(x.strip() for x in allow.split(",")),
                f"{method} {path}: Allow {r.header('allow')!r}, want {allow!r}")
    r = alice.get("/api/devices/")
    t.check(r.status == 200 and r.json() == alice.get("/api/devices").json(),
            "a trailing slash is the same path")
    expect(alice.get("/api/devices/abc"), 400, "GET /api/devices/abc", "valid id")
    expect(admin.put("/api/users/abc", {"name": "x"}), 400, "PUT /api/users/abc", "valid id")
    expect(alice.post("/api/devices/abc/share", {"userId": 1}), 400,
           "POST /api/devices/abc/share", "valid id")
    expect(alice.delete(f"/api/devices/{DEV_A['id']}/share/xyz"), 400,
           "DELETE /api/devices/{id}/share/xyz", "valid id")

    # Several requests on one keep-alive connection.
    import http.client
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        st = []
        for path in ("/api/server", "/api/devices", "/api/session"):
            c.request("GET", path, headers=alice.headers())
            resp = c.getresponse()
            resp.read()
            st.append(resp.status)
        t.check(st == [200, 200, 200], f"keep-alive requests: {st}")
    finally:
        c.close()

    # Commands and voice messages: the routes answer (their behaviour is
    # tested in test_commands.py).
    A = DEV_A["id"]
    for method, path in (("GET", f"/api/devices/{A}/commands/types"),
                         ("GET", "/api/commands"), ("POST", "/api/commands"),
                         ("GET", f"/api/voice?deviceId={A}"), ("POST", f"/api/voice?deviceId={A}"),
                         ("GET", "/api/voice/1/audio")):
        expect(User(port).req(method, path), 401, f"{method} {path} without login")
    expect(alice.get(f"/api/devices/{A}/commands/types"), 200, "command types")
    expect(alice.get(f"/api/commands?deviceId={A}"), 200, "list commands")
    expect(alice.post("/api/commands", {"deviceId": A, "type": "positionSingle"}), 200,
           "send a command")
    expect(alice.get(f"/api/voice?deviceId={A}"), 200, "list voice messages")
    expect(alice.get("/api/voice/1/audio"), 404, "no voice message yet")

    # Rules, notification channels and event handling: the routes answer
    # (their behaviour is tested in test_alerts.py).
    rr = alice.post("/api/rules", {"type": "noReport", "attributes": {"minutes": 30}})
    expect(rr, 200, "add a rule")
    rid = (rr.json() or {}).get("id")
    expect(alice.get("/api/rules"), 200, "list rules")
    expect(alice.put(f"/api/rules/{rid}", {"type": "noReport", "attributes": {"minutes": 60}}),
           200, "change a rule")
    expect(alice.delete(f"/api/rules/{rid}"), 204, "delete a rule")
    nr = alice.post("/api/notifications", {"channel": "webhook",
                                           "target": "https://hooks.example.com/trackd"})
    expect(nr, 200, "add a notification channel")
    nid = (nr.json() or {}).get("id")
    expect(alice.get("/api/notifications"), 200, "list notification channels")
    expect(alice.put(f"/api/notifications/{nid}", {"channel": "webhook",
                                                   "target": "https://example.com/hook"}),
           200, "change a notification channel")
    expect(alice.delete(f"/api/notifications/{nid}"), 204, "delete a notification channel")
    expect(alice.post("/api/events/999999/ack", {"note": "x"}), 404, "ack an unknown event")
    expect(alice.post("/api/events/999999/close"), 404, "close an unknown event")

    expect(alice.get("/api/socket"), 400, "plain GET /api/socket", "WebSocket")
    expect(User(port).get("/api/socket"), 401, "plain GET /api/socket without login")


def test_metrics_page(port):
    r, m = metrics(port)
    expect(r, 200, "GET /metrics without login")
    t.check((r.header("content-type") or "").startswith("text/plain"),
            f"metrics content type: {r.header('content-type')}")
    text = r.body.decode()
    for name, kind in (("trackd_connections", "gauge"), ("trackd_frames_total", "counter"),
                       ("trackd_records_total", "counter"),
                       ("trackd_decode_errors_total", "counter"),
                       ("trackd_store_commit_seconds", "histogram"),
                       ("trackd_websocket_clients", "gauge")):
        t.check(f"# TYPE {name} {kind}" in text, f"metric {name} is a {kind}")
    for proto in ("iw", "watch", "gotop"):
        for tr in ("tcp", "udp"):
            t.check(f'trackd_connections{{protocol="{proto}",transport="{tr}"}}' in m,
                    f"connections of {proto}/{tr}")
        for name in ("trackd_frames_total", "trackd_records_total", "trackd_decode_errors_total"):
            t.check(f'{name}{{protocol="{proto}"}}' in m, f"{name} of {proto}")
    buckets = [(float(re.search(r'le="([^"]+)"', k).group(1)), v) for k, v in m.items()
               if k.startswith("trackd_store_commit_seconds_bucket")]
    buckets.sort()
    t.check(len(buckets) >= 2 and buckets[-1][0] == float("inf") and
            all(x[1] <= y[1] for x, y in zip(buckets, buckets[1:])) and
            buckets[-1][1] == m.get("trackd_store_commit_seconds_count") and
            m.get("trackd_store_commit_seconds_count", 0) > 0 and
            m.get("trackd_store_commit_seconds_sum", 0) > 0,
            f"commit histogram: {buckets} count {m.get('trackd_store_commit_seconds_count')}")
    t.check(m.get("trackd_websocket_clients") == 0, "no WebSocket clients")
    t.check(m.get('trackd_frames_total{protocol="watch"}') == 0, "no watch frames")


def test_deletes(port, srv, admin, alice, bob, sock_a):
    A = DEV_A["id"]
    n = t.db_rows(DB, "SELECT count(*) FROM positions WHERE device_id = ?", (A,))[0][0]
    t.check(n > N_POS, f"positions stored before the delete: {n}")
    expect(alice.delete(f"/api/devices/{A}"), 204, "alice deletes her device")
    expect(alice.get(f"/api/devices/{A}"), 404, "deleted device")
    expect(alice.get(f"/api/positions?deviceId={A}"), 404, "positions of a deleted device")
    expect(alice.delete(f"/api/devices/{A}"), 404, "delete twice")
    t.check(A not in [d["id"] for d in admin.get("/api/devices").json() or []],
            "gone for admins too")
    rows = t.db_rows(DB, "SELECT (SELECT count(*) FROM positions WHERE device_id = ?1),"
                         " (SELECT count(*) FROM events WHERE device_id = ?1),"
                         " (SELECT count(*) FROM devices WHERE id = ?1)", (A,))[0]
    t.check(rows == (0, 0, 0), f"positions, events and the device row are gone: {rows}")
    t.check(not [e for e in admin.get("/api/events").json() or [] if e["deviceId"] == A],
            "its events are gone")
    t.check(closed_by_peer(sock_a), "the deleted device's connection is closed")
    B = DEV_B["id"]
    bob_tok = User(port, token=(bob.post("/api/tokens").json() or {}).get("token"))
    expect(bob_tok.get("/api/session"), 200, "bob's token before his deletion")
    expect(admin.delete(f"/api/users/{bob.id}"), 204, "delete bob")
    expect(bob_tok.get("/api/session"), 401, "bob's token after his deletion")
    r = admin.get(f"/api/devices/{B}")
    t.check(r.status == 200 and (r.json() or {}).get("ownerId") is None,
            f"bob's device becomes ownerless: {r!r}")
    expect(bob.get("/api/devices"), 401, "bob's session after his deletion")


def test_openapi_coverage(doc):
    paths = doc.get("paths") or {}
    missing = sorted(f"{m.upper()} {p}" for m, p in SEEN if m not in (paths.get(p) or {}))
    t.check(len(SEEN) >= 30 and not missing,
            f"every route answered is in the OpenAPI document ({len(SEEN)} seen): {missing}")


# ---- session expiry and the login rate limit (a second server) -------------------

def test_expiry_and_rate():
    db2 = os.path.join(work, "limits.db")
    srv = t.Server(a.trackd, db2, "--admin-password", ADMIN_PW, "--session-timeout", "2",
                   "--login-rate", "3", "--metrics-auth", listen="::", http=True)
    SERVERS.append(srv)
    port = srv.http_port
    r, cookie = login(port, "admin", ADMIN_PW)
    start = time.time()  # the session was created before this
    t.check(r.status == 200 and "Max-Age=2;" in (r.header("set-cookie") or ""),
            f"cookie lifetime follows --session-timeout: {r.header('set-cookie')}")
    admin = User(port, cookie=cookie)
    expect(admin.get("/api/session"), 200, "fresh session works")
    tok = User(port, token=(admin.post("/api/tokens").json() or {}).get("token"))
    # --metrics-auth: /metrics for an admin's token (as Prometheus sends it)
    # or login only.
    expect(User(port).get("/metrics"), 401, "--metrics-auth: /metrics without a login", "token")
    r = tok.get("/metrics")
    t.check(r.status == 200 and b"trackd_limit_hits_total" in r.body,
            f"--metrics-auth: /metrics with an admin's token: {r.status}")
    expect(admin.post("/api/users", {"name": "viewer", "password": "viewer-pass"}), 200,
           "a user who is not an admin")
    viewer = login_user(port, "viewer", "viewer-pass")
    expect(viewer.get("/metrics"), 403, "--metrics-auth: /metrics for a user who is not an admin")
    time.sleep(max(0.0, start + 2.3 - time.time()))
    expect(admin.get("/api/session"), 401, "session expired after --session-timeout")
    expect(admin.get("/api/devices"), 401, "expired session on another endpoint")
    expect(tok.get("/api/session"), 200, "a token outlives the session timeout")

    for i in range(3):
        expect(login(port, "admin", f"wrong-{i}")[0], 401, f"failed login {i + 1} of 3")
    r = login(port, "admin", "wrong-3")[0]
    expect(r, 429, "4th attempt is refused", "too many")
    r, c = login(port, "admin", ADMIN_PW)
    ra = r.header("retry-after") or ""
    expect(r, 429, "the right password is refused too")
    t.check(c is None and ra.isdigit() and 1 <= int(ra) <= 61, f"Retry-After: {ra!r}")
    r = t.request(port, "POST", "/api/session", {"user": "admin", "password": ADMIN_PW},
                  host="::1")
    t.check(r.status == 200, f"another address (::1) may still log in: {r!r}")
    expect(tok.get("/api/session"), 200, "tokens work while logins are refused")
    t.check(srv.wait_log(r"login refused: too many failed attempts"), "refusal logged")
    t.check(srv.stop() == 0, "limits server: clean exit")


def test_user_cli(port, admin):
    """trackd user add / passwd on the store of the running server: a new
    password ends every login session of the user at once."""
    import subprocess
    run = lambda *args: subprocess.run([a.trackd, "user", *args, "--db", DB],
                                       capture_output=True, text=True, timeout=30)
    expect(admin.post("/api/users", {"name": "gina", "password": "gina-pass-1"}), 200,
           "a user for the command line")
    gina = login_user(port, "gina", "gina-pass-1")
    p = run("passwd", "gina", "--password", "gina-pass-cli")
    t.check(p.returncode == 0 and "their login sessions ended" in p.stdout,
            f"trackd user passwd: {p.returncode} {p.stdout!r} {p.stderr!r}")
    expect(gina.get("/api/session"), 401, "her session ended by the command line")
    expect(login(port, "gina", "gina-pass-cli")[0], 200, "she logs in with the new password")
    p = run("passwd", "nobody", "--password", "whatever-9")
    t.check(p.returncode == 1 and "no user 'nobody'" in p.stderr, f"unknown user: {p.stderr!r}")
    p = run("add", "frank", "--password", "frank-pass-1")
    t.check(p.returncode == 0 and "user 'frank' added" in p.stdout, f"user add: {p.stdout!r}")
    expect(login(port, "frank", "frank-pass-1")[0], 200, "a user added on the command line logs in")


# ---- run -----------------------------------------------------------------------

DB = os.path.join(work, "api.db")
try:
    srv = t.Server(a.trackd, DB, "--admin-password", ADMIN_PW, "--login-rate", "1000",
                   listen="127.0.0.1", http=True)
    SERVERS.append(srv)
    HP = srv.http_port
    anon = User(HP)
    doc = test_server_info(srv, anon)
    admin = test_sessions(HP, anon)
    alice, bob, carol = test_users(HP, admin, anon)
    tok = test_tokens(HP, alice, anon, admin, bob)
    TOKEN = tok.token
    alice = login_user(HP, "alice", "alice-pass-3")
    DEV_A, DEV_B, DEV_S, DEV_U, sock_u = test_devices(HP, srv, admin, tok, bob, carol, anon)
    sock_a, base = test_positions(HP, srv, admin, alice, bob, tok)
    if sock_a:
        test_events(HP, srv, admin, alice, bob, sock_a, sock_u)
        test_export(HP, alice, bob)
    test_bodies_and_routes(HP, srv, admin, alice)
    test_metrics_page(HP)
    if sock_a:
        test_deletes(HP, srv, admin, alice, bob, sock_a)
    test_openapi_coverage(doc)
    test_user_cli(HP, admin)
    for s in (sock_a, sock_u):
        if s:
            s.close()
    t.check(srv.stop() == 0, "clean exit on SIGTERM")
    t.check("store closed cleanly" in srv.text(), "store closed cleanly")
    test_expiry_and_rate()
except Exception:  # a crash is a failure, reported with the rest
    traceback.print_exc()
    t.check(False, "the test ran to its end")
finally:
    for s in SERVERS:
        if s.proc.poll() is None:
            s.stop()
t.finish("api")
