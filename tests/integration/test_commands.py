"""Two-way against the real server: commands sent over an open TCP connection
with the exact bytes and acknowledged by the simulated device; a command for
an offline device queued, kept across a restart and delivered when the device
connects; a UDP device receiving its command after its next datagram (and at
once while its address is fresh); expiry; permission and validation errors;
the live feed; voice messages from a watch (TK, split over many TCP reads) and
from an IW bracelet (AP07 chunks) stored whole and served as WAV; a voice
message uploaded and sent to a watch.
"""
import argparse
import os
import socket
import struct
import tempfile
import time

import tdtest as t
from ws_client import WS

ap = argparse.ArgumentParser()
ap.add_argument("--trackd", required=True)
ap.add_argument("--vectors")
a = ap.parse_args()

ADMIN_PW = "commands-admin-pw"
work = tempfile.mkdtemp(prefix="trackd-commands-")
db = os.path.join(work, "t.db")
FIXTURE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "voice.amr")
AMR = open(FIXTURE, "rb").read()

WATCH = "1234567890"
WATCH2 = "2345678901"
IW_UDP = "860000000000001"
IW_TCP = "860000000000002"


def login(port, user, password):
    r = t.request(port, "POST", "/api/session", {"user": user, "password": password})
    assert r.status == 200, r.body
    return {"Cookie": r.header("set-cookie").split(";")[0]}


def call(port, auth, method, path, body=None, headers=None):
    return t.request(port, method, path, body, headers={**auth, **(headers or {})})


def expect(r, status, what, fragment=None):
    msg = r.error() or "" if r.status >= 400 else ""
    return t.check(r.status == status and (fragment is None or fragment in msg),
                   f"{what}: {status}{' ' + repr(fragment) if fragment else ''}"
                   f" (got {r.status} {r.body[:200]!r})")


def wait_for(fn, timeout=8.0):
    deadline = time.time() + timeout
    v = fn()
    while not v and time.time() < deadline:
        time.sleep(0.05)
        v = fn()
    return v


def watch_frame(content, dev=WATCH):
    if isinstance(content, str):
        content = content.encode()
    return b"[3G*" + dev.encode() + b"*" + f"{len(content):04X}".encode() + b"*" + content + b"]"


def escape(data):
    out = bytearray()
    for c in data:
        if c in (0x7D, 0x5B, 0x5D, 0x2C, 0x2A):
            out += bytes([0x7D, {0x7D: 1, 0x5B: 2, 0x5D: 3, 0x2C: 4, 0x2A: 5}[c]])
        else:
            out.append(c)
    return bytes(out)


def recv_frames(sock, count, term=b"]", timeout=5.0):
    """Reads until `count` frames ending with term arrived (or time runs out)."""
    sock.settimeout(timeout)
    data = b""
    deadline = time.time() + timeout
    while data.count(term) < count and time.time() < deadline:
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            break
        if not chunk:
            break
        data += chunk
    return data


def watch_login(port, dev=WATCH):
    s = t.tcp(port)
    s.sendall(watch_frame("LK", dev))
    got = recv_frames(s, 1)
    t.check(got == watch_frame("LK", dev), f"watch {dev} logged in: {got!r}")
    return s


def device_id(port, auth, uid):
    for d in call(port, auth, "GET", "/api/devices").json() or []:
        if d["uniqueId"] == uid:
            return d["id"]
    return None


def command(port, auth, cid):
    got = [c for c in call(port, auth, "GET", "/api/commands?limit=1000").json() or []
           if c["id"] == cid]
    return got[0] if got else None


def status_is(port, auth, cid, status):
    return wait_for(lambda: (command(port, auth, cid) or {}).get("status") == status)


def send(port, auth, dev, kind, **attrs):
    return call(port, auth, "POST", "/api/commands",
                {"deviceId": dev, "type": kind, "attributes": attrs})


def wav_info(body):
    """(sample rate, channels, bits, data bytes) of a RIFF/WAVE file, or None."""
    if len(body) < 44 or body[:4] != b"RIFF" or body[8:12] != b"WAVE":
        return None
    i = 12
    fmt = None
    while i + 8 <= len(body):
        cid, size = body[i:i + 4], struct.unpack("<I", body[i + 4:i + 8])[0]
        if cid == b"fmt ":
            _, ch, rate, _, _, bits = struct.unpack("<HHIIHH", body[i + 8:i + 24])
            fmt = (rate, ch, bits)
        if cid == b"data" and fmt:
            return fmt + (size,)
        i += 8 + size
    return None


# ---- run 1: live delivery, validation, UDP after the next datagram, expiry --------------------

srv = t.Server(a.trackd, db, "--admin-password", ADMIN_PW, "--udp-fresh", "0",
               "--command-expire", "3", "--listen", "127.0.0.1", http=True)
try:
    port, hp = srv.port, srv.http_port
    admin = login(hp, "admin", ADMIN_PW)
    expect(call(hp, admin, "POST", "/api/users", {"name": "bob", "password": "bob-password-1"}),
           200, "user bob added")
    bob = login(hp, "bob", "bob-password-1")
    feed = WS(hp, headers=admin)
    t.check(feed.accepted, "live feed open")

    w = watch_login(port)
    W = wait_for(lambda: device_id(hp, admin, WATCH))
    t.check(W, "the watch is registered")

    # The types its protocol supports, with parameters.
    r = call(hp, admin, "GET", f"/api/devices/{W}/commands/types")
    types = {x["type"]: x for x in r.json() or []}
    t.check(r.status == 200 and {"positionSingle", "positionPeriodic", "sosNumber",
                                 "voiceMonitoring", "callBack", "message", "findDevice",
                                 "rebootDevice", "powerOff", "setTimezone", "custom",
                                 "voiceMessage"} <= set(types), f"watch command types: {sorted(types)}")
    sos = {p["name"]: p for p in types.get("sosNumber", {}).get("parameters", [])}
    t.check(sos.get("phone", {}).get("kind") == "phone" and sos.get("index", {}).get("kind") ==
            "integer" and sos["index"].get("min") == 1 and sos["index"].get("max") == 3,
            f"sosNumber parameters: {sos}")

    # Locate now: sent at once, exact bytes, acknowledged by the device's answer.
    r = send(hp, admin, W, "positionSingle")
    c1 = r.json() or {}
    t.check(r.status == 200 and c1.get("status") == "sent" and c1.get("sentAt") and
            c1.get("user") == "admin" and c1.get("type") == "positionSingle",
            f"positionSingle sent at once: {r!r}")
    got = recv_frames(w, 1)
    t.check(got == b"[3G*1234567890*0002*CR]", f"the watch received CR: {got!r}")
    w.sendall(b"[3G*1234567890*0002*CR]")
    t.check(status_is(hp, admin, c1["id"], "acknowledged"), "CR answer -> acknowledged")
    c = command(hp, admin, c1["id"]) or {}
    t.check(c.get("ackedAt") and c["ackedAt"] >= c["sentAt"], f"ackedAt set: {c}")
    m = feed.until(lambda m: any(x.get("id") == c1["id"] and x.get("status") == "acknowledged"
                                 for x in m.get("commands", [])), timeout=5, since=0)
    t.check(m is not None, "the live feed carried the command's acknowledgement")
    t.check(feed.until(lambda m: any(x.get("id") == c1["id"] and x.get("status") == "sent"
                                     for x in m.get("commands", [])), timeout=1, since=0),
            "the live feed carried 'sent'")
    ev = wait_for(lambda: [e for e in call(hp, admin, "GET", f"/api/events?deviceId={W}"
                                           "&type=commandResult").json() or []
                           if e["attributes"].get("commandId") == c1["id"]])
    t.check(ev and ev[0]["attributes"].get("status") == "acknowledged",
            f"a commandResult event: {ev}")

    # SOS number and listen-in: exact bytes, answered by the bare word.
    r = send(hp, admin, W, "sosNumber", index=2, phone="+15551234567")
    got = recv_frames(w, 1)
    t.check(r.status == 200 and got == watch_frame("SOS2,+15551234567"),
            f"SOS2 bytes: {got!r}")
    w.sendall(watch_frame("SOS2"))
    t.check(status_is(hp, admin, r.json()["id"], "acknowledged"), "SOS2 acknowledged")
    r = send(hp, admin, W, "voiceMonitoring", phone="15550001111")
    got = recv_frames(w, 1)
    t.check(got == watch_frame("MONITOR,15550001111"), f"MONITOR bytes: {got!r}")
    w.sendall(watch_frame("MONITOR"))
    t.check(status_is(hp, admin, r.json()["id"], "acknowledged"), "MONITOR acknowledged")
    r = send(hp, admin, W, "message", message="Hi 你好")
    got = recv_frames(w, 1)
    t.check(got == watch_frame("MESSAGE," + "Hi 你好".encode("utf-16-be").hex().upper()),
            f"MESSAGE bytes (UTF-16BE hex): {got!r}")

    # Validation: nothing is sent.
    expect(send(hp, admin, W, "sosNumber", index=1, phone="12ab"), 400, "bad phone",
           "bad phone number")
    expect(send(hp, admin, W, "sosNumber", index=4, phone="123456"), 400, "slot out of range",
           "out of range")
    expect(send(hp, admin, W, "positionPeriodic", frequency=10), 400, "interval out of range",
           "out of range")
    expect(send(hp, admin, W, "sosNumber", phone="123456"), 400, "missing index",
           "missing parameter 'index'")
    expect(send(hp, admin, W, "positionSingle", foo=1), 400, "unknown parameter",
           "unknown parameter 'foo'")
    expect(send(hp, admin, W, "launchRocket"), 400, "unknown type", "no command 'launchRocket'")
    expect(call(hp, admin, "POST", "/api/commands", {"deviceId": W}), 400, "type required",
           "'type' is required")
    expect(call(hp, admin, "POST", "/api/commands",
                {"deviceId": W, "type": "positionSingle", "attributes": [1]}), 400,
           "attributes must be an object", "must be an object")
    expect(send(hp, admin, W, "custom"), 400, "custom needs data or hex")
    r = call(hp, admin, "POST", "/api/commands", {"deviceId": W, "type": "findDevice"})
    t.check(r.status == 200 and (r.json() or {}).get("attributes") == {},
            f"a command without attributes: {r!r}")
    t.check(recv_frames(w, 1) == watch_frame("FIND"), "FIND sent")
    t.check(t.recv_quiet(w, 0.3) == b"", "nothing was sent for refused commands")

    # Permissions: bob cannot see the watch.
    expect(send(hp, bob, W, "positionSingle"), 404, "bob cannot command the watch", "not found")
    expect(call(hp, bob, "GET", f"/api/commands?deviceId={W}"), 404, "bob cannot list them")
    expect(call(hp, bob, "GET", f"/api/devices/{W}/commands/types"), 404, "nor its types")
    t.check(call(hp, bob, "GET", "/api/commands").json() == [], "bob's own list is empty")
    expect(call(hp, admin, "GET", "/api/commands?status=lost"), 400, "bad status filter")
    r = call(hp, admin, "POST", "/api/devices", {"uniqueId": "999000111"})
    expect(send(hp, admin, r.json()["id"], "positionSingle"), 409,
           "a device that never reported", "has not reported yet")
    t.check(call(hp, admin, "GET", f"/api/devices/{r.json()['id']}/commands/types").json() == [],
            "no types before it reports")

    # The history, newest first, with who sent each.
    hist = call(hp, admin, "GET", f"/api/commands?deviceId={W}").json() or []
    t.check([c["type"] for c in hist] == ["findDevice", "message", "voiceMonitoring",
                                          "sosNumber", "positionSingle"] and
            all(c["user"] == "admin" for c in hist), f"history: {[c['type'] for c in hist]}")

    # UDP: with --udp-fresh 0 a command waits for the device's next datagram.
    u = t.udp()
    u.sendto(f"IWAP00{IW_UDP}#".encode(), ("127.0.0.1", port))
    got, _ = u.recvfrom(2048)
    t.check(got.startswith(b"IWBP00,"), f"UDP IW login answered: {got!r}")
    U = wait_for(lambda: device_id(hp, admin, IW_UDP))
    r = send(hp, admin, U, "positionSingle")
    cu = r.json() or {}
    t.check(r.status == 200 and cu.get("status") == "queued", f"UDP command queued: {r!r}")
    u.settimeout(0.3)
    try:
        early = u.recvfrom(2048)[0]
    except socket.timeout:
        early = b""
    t.check(early == b"", f"nothing sent before the next datagram: {early!r}")
    u.settimeout(5)
    u.sendto(f"IWAP03,06000908000102,5555,30#".encode(), ("127.0.0.1", port))
    first, _ = u.recvfrom(2048)
    second, _ = u.recvfrom(2048)
    serial = f"{cu['id'] % 1000000:06d}"
    t.check(first == b"IWBP03#" and second == f"IWBP16,{IW_UDP},{serial}#".encode(),
            f"heartbeat reply, then the command: {first!r} {second!r}")
    u.sendto(f"IWAP16,{serial}#".encode(), ("127.0.0.1", port))
    t.check(status_is(hp, admin, cu["id"], "acknowledged"), "UDP command acknowledged")

    # Expiry: a second watch goes away; its command expires (--command-expire 3).
    w2 = watch_login(port, WATCH2)
    W2 = wait_for(lambda: device_id(hp, admin, WATCH2))
    w2.close()
    wait_for(lambda: not (call(hp, admin, "GET", f"/api/devices/{W2}").json() or {}).get(
        "status") == "online")
    r = send(hp, admin, W2, "findDevice")
    ce = r.json() or {}
    t.check(r.status == 200 and ce.get("status") == "queued", f"offline: queued: {r!r}")
    t.check(status_is(hp, admin, ce["id"], "expired"), "expired after --command-expire")
    c = command(hp, admin, ce["id"]) or {}
    t.check("not delivered within 3 s" in (c.get("result") or ""), f"expiry reason: {c}")
    # The two commands the watch was sent and never answered (message,
    # findDevice) expire too, with their own reason.
    unanswered = [c for c in call(hp, admin, "GET", "/api/commands?limit=100").json() or []
                  if (c.get("result") or "").startswith("sent, but not answered within 3 s")]
    t.check(sorted(c["type"] for c in unanswered) == ["findDevice", "message"] and
            all(c["status"] == "expired" and c.get("sentAt") for c in unanswered),
            f"sent commands left unanswered expire: {unanswered}")
    r = t.request(hp, "GET", "/metrics")
    t.check(r.status == 200 and 'trackd_commands{status="expired"} 3' in r.body.decode() and
            'trackd_commands{status="acknowledged"} 4' in r.body.decode(),
            "/metrics counts commands by status")
    feed.close()
    w.close()
    u.close()
finally:
    t.check(srv.stop() == 0, "clean exit on SIGTERM (no leak under the sanitizers)")

# ---- run 2 and 3: queued across a restart; UDP sent at once while fresh ----------------------

srv = t.Server(a.trackd, db, "--listen", "127.0.0.1", http=True)
try:
    port, hp = srv.port, srv.http_port
    admin = login(hp, "admin", ADMIN_PW)
    W = device_id(hp, admin, WATCH)
    r = send(hp, admin, W, "positionPeriodic", frequency=300)
    cq = r.json() or {}
    t.check(r.status == 200 and cq.get("status") == "queued", f"offline watch: queued: {r!r}")
    r = send(hp, admin, W, "sosNumber", index=1, phone="15550009999")
    cq2 = r.json() or {}
    u = t.udp()
    u.settimeout(5)
    u.sendto(f"IWAP00{IW_UDP}#".encode(), ("127.0.0.1", port))
    t.check(u.recvfrom(2048)[0].startswith(b"IWBP00,"), "UDP IW login answered")
    U = device_id(hp, admin, IW_UDP)
    r = send(hp, admin, U, "findDevice")
    cf = r.json() or {}
    t.check(r.status == 200 and cf.get("status") == "sent", f"fresh UDP: sent at once: {r!r}")
    got = u.recvfrom(2048)[0]
    t.check(got == f"IWBP88,{IW_UDP},{cf['id'] % 1000000:06d}#".encode(),
            f"UDP device received BP88: {got!r}")
    u.close()
finally:
    t.check(srv.stop() == 0, "server stopped cleanly with commands queued")

srv = t.Server(a.trackd, db, "--listen", "127.0.0.1", http=True)
try:
    port, hp = srv.port, srv.http_port
    admin = login(hp, "admin", ADMIN_PW)
    t.check((command(hp, admin, cq["id"]) or {}).get("status") == "queued",
            "still queued after the restart")
    w = t.tcp(port)
    w.sendall(watch_frame("LK"))
    got = recv_frames(w, 3)
    t.check(got == watch_frame("LK") + watch_frame("UPLOAD,300") + watch_frame("SOS1,15550009999"),
            f"on connect: LK reply, then both queued commands in order: {got!r}")
    t.check(status_is(hp, admin, cq["id"], "sent"), "queued -> sent")
    w.sendall(watch_frame("UPLOAD") + watch_frame("SOS1"))
    t.check(status_is(hp, admin, cq["id"], "acknowledged") and
            status_is(hp, admin, cq2["id"], "acknowledged"), "both acknowledged")

    # ---- voice from the watch: one TK frame split over many TCP reads ----
    frame = watch_frame(b"TK," + escape(AMR))
    for i in range(0, len(frame), 97):
        w.sendall(frame[i:i + 97])
        time.sleep(0.002)
    got = recv_frames(w, 1)
    t.check(got == watch_frame("TK,1"), f"voice acknowledged TK,1: {got!r}")
    vs = wait_for(lambda: call(hp, admin, "GET", f"/api/voice?deviceId={W}").json())
    t.check(vs and vs[0]["direction"] == "in" and vs[0]["durationMs"] == 2000 and
            vs[0]["size"] == len(AMR), f"voice listed: {vs}")
    vid = vs[0]["id"] if vs else 0
    r = call(hp, admin, "GET", f"/api/voice/{vid}/audio?format=amr")
    t.check(r.status == 200 and r.body == AMR, "the stored AMR equals what the watch sent")
    r = call(hp, admin, "GET", f"/api/voice/{vid}/audio")
    info = wav_info(r.body)
    t.check(r.status == 200 and r.header("content-type") == "audio/wav" and
            info == (8000, 1, 16, 2 * 8000 * 2),
            f"served as WAV, 8 kHz mono 16-bit, 2.0 s: {info}")
    ev = wait_for(lambda: call(hp, admin, "GET", f"/api/events?deviceId={W}"
                               "&type=voiceMessage").json())
    t.check(ev and ev[0]["attributes"].get("voiceId") == vid and
            ev[0]["attributes"].get("durationMs") == 2000, f"voiceMessage event: {ev}")
    expect(call(hp, admin, "GET", "/api/voice/99999/audio"), 404, "unknown voice message")
    expect(call(hp, admin, "GET", f"/api/voice/{vid}/audio?format=mp3"), 400, "bad format")

    # ---- voice from an IW bracelet in three AP07 chunks, each split ----
    iw = t.iw_login(port, IW_TCP)
    I = wait_for(lambda: device_id(hp, admin, IW_TCP))
    parts = [AMR[:1000], AMR[1000:2200], AMR[2200:]]
    stamp = "20261121101530"
    for n, part in enumerate(parts, 1):
        f = f"IWAP07,{stamp},3,{n},{len(part)},".encode() + part + b"#"
        for i in range(0, len(f), 333):
            iw.sendall(f[i:i + 333])
            time.sleep(0.002)
        got = t.recv_until(iw, b"#")
        t.check(got == f"IWBP07,{stamp},3,{n},1#".encode(), f"AP07 chunk {n} answered: {got!r}")
    vs = wait_for(lambda: call(hp, admin, "GET", f"/api/voice?deviceId={I}").json())
    r = call(hp, admin, "GET", f"/api/voice/{vs[0]['id']}/audio?format=amr") if vs else None
    t.check(r is not None and r.body == AMR and vs[0]["durationMs"] == 2000,
            "the IW chunks were put back together whole")

    # ---- voice to the watch: upload, then the voiceMessage command ----
    expect(call(hp, admin, "POST", f"/api/voice?deviceId={W}", b"not audio",
                {"Content-Type": "audio/amr"}), 400, "a non-AMR upload", "not an AMR")
    r = call(hp, admin, "POST", f"/api/voice?deviceId={W}", AMR, {"Content-Type": "audio/amr"})
    up = r.json() or {}
    t.check(r.status == 200 and up.get("direction") == "out" and up.get("durationMs") == 2000,
            f"uploaded: {r!r}")
    expect(send(hp, admin, W, "voiceMessage", voiceId=99999), 400, "unknown voice id",
           "not found")
    r = send(hp, admin, W, "voiceMessage", voiceId=up.get("id"))
    got = recv_frames(w, 1, timeout=5)
    t.check(r.status == 200 and got == watch_frame(b"TK," + escape(AMR)),
            f"the watch received the voice message as TK ({len(got)} bytes)")
    w.sendall(watch_frame("TK,1"))
    t.check(status_is(hp, admin, r.json()["id"], "acknowledged"), "TK,1 -> acknowledged")
    r = send(hp, admin, W, "voiceMessage", voiceId=up.get("id"))
    recv_frames(w, 1)
    w.sendall(watch_frame("TK,0"))
    t.check(status_is(hp, admin, r.json()["id"], "failed"), "TK,0 -> failed")
    iw.close()
    w.close()
finally:
    t.check(srv.stop() == 0, "clean exit on SIGTERM (no leak under the sanitizers)")

t.finish("commands")
