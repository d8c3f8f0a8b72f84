"""Notification delivery end to end with the real server: an IW bracelet's
SOS frame becomes an event, the event's outbox entries go out to every
matching channel a user set up through the API, and each arrives with its
dedup id.

  1. One SOS to a webhook (payload equal to the API's event, headers,
     Idempotency-Key), an e-mail to a local SMTP server (recipient, subject,
     Message-ID) and two MQTT topics on a real mosquitto broker (template
     substitution, QoS 1); a low-battery alarm the channels do not ask for
     is not sent.
  2. A webhook answering 500 twice is retried with backoff and then
     delivered, with the same dedup id each time.
  3. Reminders of the unacknowledged SOS after a restart with
     --renotify-interval: new dedup ids, "reminder": true.
  4. Durability: the endpoint is down while the device sends several SOS
     alarms; trackd is stopped and started again; once the endpoint is up,
     every notification arrives exactly once. Across the same restart, MQTT
     is switched off: its entries fail with a clear log line while the
     webhook ones are still delivered; an entry older than --notify-expire is
     given up, not sent.

Every receiver listens on 127.0.0.1; every wait is bounded.
"""
import argparse
import json
import os
import re
import sqlite3
import tempfile
import time

import notify_helpers as nh
import tdtest as t

ap = argparse.ArgumentParser()
ap.add_argument("--trackd", required=True)
ap.add_argument("--vectors")
a = ap.parse_args()

# Deliveries go to loopback only: no proxy from the environment in between.
for k in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
    os.environ.pop(k, None)

ADMIN_PW = "notify-admin-pw"
work = tempfile.mkdtemp(prefix="trackd-notify-")
T0 = int(time.time()) - 600
clock = [T0]


def tick(step=10):
    clock[0] += step
    return clock[0]


def login(port, user, password):
    r = t.request(port, "POST", "/api/session", {"user": user, "password": password})
    assert r.status == 200, r.body
    return {"Cookie": r.header("set-cookie").split(";")[0]}


def call(port, auth, method, path, body=None):
    return t.request(port, method, path, body, headers=auth)


def send(sock, frame):
    """One IW frame; waits for its acknowledgement (sent after the commit)."""
    sock.sendall(frame)
    return t.recv_until(sock, b"#")


def setup_user(port, name, imei, device_name):
    """A user with one device; returns (auth, device JSON)."""
    admin = login(port, "admin", ADMIN_PW)
    r = call(port, admin, "POST", "/api/users", {"name": name, "password": name + "-password"})
    assert r.status == 200, r.body
    auth = login(port, name, name + "-password")
    r = call(port, auth, "POST", "/api/devices", {"uniqueId": imei, "name": device_name})
    assert r.status == 200, r.body
    return auth, r.json()


def channel(port, auth, kind, target, types=("sos",)):
    r = call(port, auth, "POST", "/api/notifications",
             {"channel": kind, "target": target, "eventTypes": list(types)})
    t.check(r.status == 200, f"{kind} channel {target!r} created ({r.status} {r.body[:160]!r})")
    return r.json()


def outbox(db, where="1", params=()):
    """Outbox rows as dicts, by id."""
    rows = t.db_rows(db, "SELECT id, event_id, channel, target, status, attempts, renotify,"
                         f" last_error FROM outbox WHERE {where} ORDER BY id", params)
    keys = ("id", "event_id", "channel", "target", "status", "attempts", "renotify", "error")
    return [dict(zip(keys, r)) for r in rows]


def by_delivery(posts):
    """{deliveryId: [headers, ...]} of webhook posts."""
    out = {}
    for _, headers, body in posts:
        if body:
            out.setdefault(body.get("deliveryId"), []).append(headers)
    return out


# ---- 1-3: one server with every channel ---------------------------------------
hook = nh.HookServer()
smtp = nh.SmtpServer()
broker = nh.Broker(work)
sub = nh.MqttSubscriber(broker.port, "#")
IMEI = "860000000000777"
db = os.path.join(work, "channels.db")
# The webhook receiver is on loopback, and the channels are ordinary
# users': --webhook-allow-local lets them post there (section 5 goes without).
common = ("--admin-password", ADMIN_PW, "--notify-retry-max", "1", "--webhook-allow-local",
          "--smtp-url", f"smtp://127.0.0.1:{smtp.port}", "--smtp-from", "alerts@trackd.test",
          "--mqtt-url", f"mqtt://127.0.0.1:{broker.port}")
srv = t.Server(a.trackd, db, *common, "--renotify-interval", "0", http=True)
sock = None
try:
    port = srv.http_port
    nina, dev = setup_user(port, "nina", IMEI, "Nina's watch")
    channel(port, nina, "webhook", f"http://127.0.0.1:{hook.port}/alerts?from=trackd")
    channel(port, nina, "email", "nina@example.org")
    channel(port, nina, "mqtt", "")  # the server's --mqtt-topic template
    channel(port, nina, "mqtt", "alerts/{deviceId}/{type}")

    # 1. A low-battery alarm (no channel asks for it), then an SOS.
    sock = t.iw_login(srv.port, IMEI)
    t.check(sock is not None, "the bracelet logs in")
    send(sock, t.iw_position(tick()))
    send(sock, t.iw_alarm(tick(), "02"))
    send(sock, t.iw_alarm(tick(), "01"))
    sos = call(port, nina, "GET", f"/api/events?deviceId={dev['id']}&type=sos").json() or []
    t.check(len(sos) == 1, f"one SOS event: {sos}")
    sos_event = sos[0] if sos else {}
    rows = nh.wait_until(lambda: [r for r in outbox(db) if r["status"] == "sent"] if
                         len([r for r in outbox(db) if r["status"] == "sent"]) == 4 else None, 10)
    t.check(rows and len(rows) == 4, f"four deliveries sent: {outbox(db)}")
    t.check(all(r["event_id"] == sos_event.get("id") and r["attempts"] == 1 for r in rows or []),
            f"all for the SOS, at the first attempt: {rows}")
    ids = {(r["channel"], r["target"]): r["id"] for r in rows or []}

    # The webhook.
    nh.wait_until(lambda: len(hook.posts()) >= 1, 5)
    time.sleep(1.0)  # nothing else may follow (the low-battery event is not asked for)
    posts = hook.posts()
    t.check(len(posts) == 1, f"one webhook POST: {[p[2] for p in posts]}")
    if posts:
        path, headers, body = posts[0]
        hook_id = ids.get(("webhook", f"http://127.0.0.1:{hook.port}/alerts?from=trackd"))
        t.check(path == "/alerts?from=trackd", f"POSTed to the channel's URL: {path}")
        t.check(headers.get("content-type") == "application/json", f"JSON: {headers}")
        t.check(headers.get("idempotency-key") == f"trackd-{hook_id}",
                f"Idempotency-Key is the outbox id: {headers.get('idempotency-key')} / {hook_id}")
        t.check(headers.get("user-agent", "").startswith("trackd/"),
                f"User-Agent: {headers.get('user-agent')}")
        t.check(body and body.get("deliveryId") == str(hook_id) and body.get("reminder") is False,
                f"deliveryId and reminder: {body}")
        t.check(body and body.get("event") == sos_event,
                f"the event as GET /api/events has it:\n {body and body.get('event')}\n {sos_event}")
        t.check(body and body.get("device") == {"id": dev["id"], "uniqueId": IMEI,
                                                "name": "Nina's watch"},
                f"the device: {body and body.get('device')}")

    # The e-mail.
    mails = nh.wait_until(smtp.received, 5) or []
    t.check(len(mails) == 1, f"one e-mail: {mails}")
    if mails:
        m = mails[0]
        h = nh.mail_headers(m["data"])
        t.check(m["rcpt"] == ["nina@example.org"] and m["from"] == "alerts@trackd.test",
                f"envelope: {m['from']} -> {m['rcpt']}")
        t.check(h.get("To") == "nina@example.org" and h.get("From") == "alerts@trackd.test",
                f"headers: {h}")
        t.check(h.get("Subject") == "[trackd] sos: Nina's watch", f"subject: {h.get('Subject')}")
        t.check(h.get("Message-ID") == f"<trackd-{ids.get(('email', 'nina@example.org'))}@trackd>",
                f"Message-ID is the dedup id: {h.get('Message-ID')}")
        t.check("https://www.openstreetmap.org/?mlat=22.549700&mlon=114.082300" in m["data"],
                "the body links the position")
        t.check(f"Device: Nina's watch ({IMEI})" in m["data"], "the body names the device")

    # MQTT: the default template and the channel's own.
    msgs = nh.wait_until(lambda: len(sub.received()) >= 2 and sub.received(), 5) or []
    topics = {topic: json.loads(payload) for topic, payload in msgs}
    want = {f"trackd/{IMEI}/events/sos": ids.get(("mqtt", "")),
            f"alerts/{dev['id']}/sos": ids.get(("mqtt", "alerts/{deviceId}/{type}"))}
    t.check(set(topics) == set(want) and len(msgs) == 2, f"MQTT topics: {[m[0] for m in msgs]}")
    for topic, did in want.items():
        p = topics.get(topic) or {}
        t.check(p.get("deliveryId") == str(did) and p.get("event") == sos_event and
                p.get("device", {}).get("uniqueId") == IMEI, f"MQTT payload on {topic}: {p}")

    # 2. A webhook answering 500 twice: retried (1 s apart here), then delivered.
    hook.fail_next(500, 500)
    before = {r["id"] for r in outbox(db)}
    send(sock, t.iw_alarm(tick(), "01"))
    new = nh.wait_until(lambda: [r for r in outbox(db, "channel = 'webhook'")
                                 if r["id"] not in before], 5) or [{}]
    retry_id = new[0].get("id")
    done = nh.wait_until(lambda: outbox(db, "id = ? AND status = 'sent'", (retry_id,)), 10)
    t.check(done and done[0]["attempts"] == 3, f"delivered at the third attempt: {outbox(db)}")
    got = by_delivery(hook.posts()).get(str(retry_id), [])
    t.check(len(got) == 3 and all(h.get("idempotency-key") == f"trackd-{retry_id}" for h in got),
            f"three POSTs with the same dedup id: {got}")
    t.check(srv.wait_log(rf"WARN .*delivery {retry_id} by webhook to http://127\.0\.0\.1:"
                         rf"{hook.port}/alerts\?from=trackd failed \(attempt 1\): HTTP status 500;"
                         r" next attempt in 1 s", 1),
            "a failed attempt is logged with the URL, the status and the next attempt")
    t.check(srv.text().count(f"delivery {retry_id} by webhook") == 3,
            "one log line per attempt")
    sock.close()
    sock = None
finally:
    if sock:
        sock.close()
    t.check(srv.stop() == 0, "trackd stops cleanly")

# 3. Reminders: the two SOS events are still open.
seen = set(by_delivery(hook.posts()))
srv = t.Server(a.trackd, db, *common, "--renotify-interval", "1", http=True)
try:
    reminders = nh.wait_until(lambda: [p for p in hook.posts() if p[2] and p[2].get("reminder")],
                              10) or []
    t.check(reminders, "a reminder of an unacknowledged SOS arrives")
    if reminders:
        _, headers, body = reminders[0]
        t.check(body["deliveryId"] not in seen and body["event"]["type"] == "sos" and
                body["event"]["state"] == "new",
                f"a reminder has its own dedup id and the open event: {body}")
        t.check(headers.get("idempotency-key") == "trackd-" + body["deliveryId"],
                "the reminder's Idempotency-Key")
    t.check(nh.wait_until(lambda: any("(reminder)" in nh.mail_headers(m["data"]).get("Subject", "")
                                      for m in smtp.received()), 5),
            "the e-mail reminder says so in its subject")
finally:
    t.check(srv.stop() == 0, "trackd stops cleanly")
    hook.stop()
    smtp.stop()
    sub.stop()
    broker.stop()

# ---- 4: durability across a restart, MQTT switched off, expiry ------------------
db = os.path.join(work, "durable.db")
down = nh.free_port()  # the webhook endpoint: nothing listens yet
no_broker = nh.free_port()
URL = f"http://127.0.0.1:{down}/hook"
N = 5
base = ("--admin-password", ADMIN_PW, "--notify-retry-max", "1", "--renotify-interval", "0",
        "--webhook-allow-local")
srv = t.Server(a.trackd, db, *base, "--mqtt-url", f"mqtt://127.0.0.1:{no_broker}", http=True)
hook = None
try:
    port = srv.http_port
    olaf, dev = setup_user(port, "olaf", "860000000000888", "Olaf")
    channel(port, olaf, "webhook", URL)
    channel(port, olaf, "mqtt", "olaf/{type}")
    sock = t.iw_login(srv.port, "860000000000888")
    for _ in range(N):
        send(sock, t.iw_alarm(tick(), "01"))
    sock.close()
    tried = nh.wait_until(lambda: (lambda rows: rows if len(rows) == 2 * N and all(
        r["status"] == "pending" and r["attempts"] >= 1 for r in rows) else None)(outbox(db)), 10)
    t.check(tried, f"{2 * N} entries tried and pending while nothing answers: {outbox(db)}")
    t.check(srv.wait_log(rf"WARN .*by webhook to {URL} failed \(attempt 1\): .*; next attempt", 1),
            "the failed webhook attempts are logged")
    t.check(srv.wait_log(rf"WARN .*by MQTT to olaf/sos failed \(attempt 1\): broker 127\.0\.0\.1:"
                         rf"{no_broker}: ", 1), "the failed MQTT attempts are logged")
finally:
    t.check(srv.stop() == 0, "trackd stops cleanly with deliveries pending")

hooks = [r["id"] for r in outbox(db, "channel = 'webhook'")]
mqtts = [r["id"] for r in outbox(db, "channel = 'mqtt'")]
expired = hooks.pop()  # queued 49 h ago: past the default --notify-expire of 48 h
con = sqlite3.connect(db)
con.execute("UPDATE outbox SET created = created - 49 * 3600000 WHERE id = ?", (expired,))
con.commit()
con.close()

hook = nh.HookServer(port=down)
srv = t.Server(a.trackd, db, *base, http=True)  # no --mqtt-url now
try:
    nh.wait_until(lambda: len(by_delivery(hook.posts())) >= len(hooks), 10)
    time.sleep(2.5)  # longer than the retry interval: a repeat would show
    got = by_delivery(hook.posts())
    t.check(sorted(got) == sorted(str(i) for i in hooks),
            f"every pending webhook delivery arrives after the restart: {sorted(got)} / {hooks}")
    t.check(all(len(v) == 1 for v in got.values()), f"each exactly once: "
            f"{ {k: len(v) for k, v in got.items()} }")
    t.check(all(p[2]["event"]["type"] == "sos" and p[2]["device"]["name"] == "Olaf"
                for p in hook.posts()), "the payloads are the SOS events")
    rows = {r["id"]: r for r in outbox(db)}
    t.check(all(rows[i]["status"] == "sent" for i in hooks), "the webhook entries are sent")
    t.check(rows[expired]["status"] == "failed" and "expired" in (rows[expired]["error"] or ""),
            f"the old entry is given up, not sent: {rows[expired]}")
    t.check(srv.wait_log(rf"WARN .*delivery {expired} by webhook to {URL} given up after \d+ "
                         r"attempts: expired", 1), "the expired entry is logged")
    t.check(all(rows[i]["status"] == "failed" and "--mqtt-url" in (rows[i]["error"] or "")
                for i in mqtts), f"MQTT entries fail with MQTT off: {[rows[i] for i in mqtts]}")
    t.check(srv.wait_log(rf"ERROR .*delivery {mqtts[0]} by MQTT to olaf/{{type}} failed: MQTT "
                         r"notifications are off \(no --mqtt-url\)", 1),
            "with a clear log line")
    t.check(srv.text().count("by MQTT to olaf/{type} failed") == len(mqtts),
            "once per entry: not retried")
    m = t.request(srv.http_port, "GET", "/metrics").body.decode()
    for line in (f'trackd_notification_attempts_total{{outcome="delivered"}} {len(hooks)}',
                 'trackd_notification_attempts_total{outcome="failed"} 0',
                 f'trackd_notification_attempts_total{{outcome="given_up"}} {len(mqtts) + 1}',
                 'trackd_notifications{state="pending"} 0',
                 f'trackd_notifications{{state="sent"}} {len(hooks)}',
                 f'trackd_notifications{{state="failed"}} {len(mqtts) + 1}'):
        t.check(line in m.splitlines(), f"/metrics: {line}")
finally:
    t.check(srv.stop() == 0, "trackd stops cleanly")
    hook.stop()

# ---- 5: webhooks to local networks (no --webhook-allow-local) --------------------
# An ordinary user's webhook may not reach loopback, private or link-local
# addresses (the server's own network): an address is refused when the
# channel is made, a name once it resolves there. An admin's may.
db = os.path.join(work, "local.db")
hook = nh.HookServer()
srv = t.Server(a.trackd, db, "--admin-password", ADMIN_PW, "--notify-retry-max", "1",
               "--renotify-interval", "0", http=True)
try:
    port = srv.http_port
    olga, dev = setup_user(port, "olga", "860000000000999", "Olga")
    for target in (f"http://127.0.0.1:{hook.port}/hook", "http://[::1]:9/x", "http://10.0.0.7/x",
                   "https://169.254.169.254/latest/meta-data"):
        r = call(port, olga, "POST", "/api/notifications",
                 {"channel": "webhook", "target": target, "eventTypes": ["sos"]})
        t.check(r.status == 400 and "local network" in r.body.decode() and
                "--webhook-allow-local" in r.body.decode(),
                f"a user's webhook to {target} is refused: {r.status} {r.body[:200]!r}")
    by_name = f"http://localhost:{hook.port}/by-name"
    channel(port, olga, "webhook", by_name)
    admin = login(port, "admin", ADMIN_PW)
    channel(port, admin, "webhook", f"http://127.0.0.1:{hook.port}/admin")
    sock = t.iw_login(srv.port, "860000000000999")
    send(sock, t.iw_alarm(tick(), "01"))
    sock.close()
    done = nh.wait_until(lambda: (lambda rows: rows if len(rows) == 2 and all(
        r["status"] != "pending" for r in rows) else None)(outbox(db)), 10)
    rows = {r["target"]: r for r in done or outbox(db)}
    t.check(rows.get(by_name, {}).get("status") == "failed" and
            "is on a local network" in (rows[by_name].get("error") or ""),
            f"the user's webhook by name is refused where it resolved, and given up: {rows}")
    t.check(srv.wait_log(r"ERROR .*by webhook to " + re.escape(by_name) + r" failed: refused: "
                         r"the target's address (127\.0\.0\.1|::1) is on a local network", 1),
            "with a clear log line")
    posts = hook.posts()
    t.check([p[0] for p in posts] == ["/admin"],
            f"only the admin's webhook reached the loopback receiver: {[p[0] for p in posts]}")
finally:
    t.check(srv.stop() == 0, "trackd stops cleanly (local targets)")
    hook.stop()

t.finish("notify")
