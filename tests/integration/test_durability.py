"""No acknowledged frame is lost when trackd is killed.

Several rounds on one store: start the real trackd, drive it with the load
generator (build/trackd-loadgen: iw, gt06, watch, teltonika and jt808
devices, each frame with its own device time, every acknowledged frame
written to an acknowledged-frames log), SIGKILL the server at a different
moment each round (at once, at the first acknowledgements, mid-burst after
thousands, over UDP, after a second), and start the next round on the same
store. At the end trackd recovers the store once more and stops cleanly;
then every frame the generator saw acknowledged must be a position record
of its device with its time: zero acknowledged frames lost. The store is
checked twice, here and by the generator's own --check-db."""
import os
import signal
import subprocess
import time

import tdtest as t

a, db = t.workspace()
LOADGEN = a.loadgen or os.path.join(os.path.dirname(a.trackd), "trackd-loadgen")
WORK = os.path.dirname(db)
MIX = "iw:30,gt06:20,watch:20,teltonika:15,jt808:15"

# (name, what to wait for before the kill, transport): ("time", seconds after
# the generator started) or ("acked", acknowledged frames in its log).
ROUNDS = [
    ("at once", ("time", 0.0), "tcp"),
    ("first acks", ("acked", 1), "tcp"),
    ("mid-burst", ("acked", 3000), "tcp"),
    ("udp mid-burst", ("acked", 1000), "udp"),
    ("after a second", ("time", 1.0), "tcp"),
]


def acked_lines(path):
    """The log's whole lines (uid, protocol, seq, device time ms); one the
    generator is still writing is left out."""
    try:
        with open(path) as f:
            return [line.split() for line in f if line.endswith("\n") and len(line.split()) == 4]
    except FileNotFoundError:
        return []


def wait_trigger(trigger, log, gen, limit=20.0):
    """Waits until the round's moment has come (or the generator ended)."""
    kind, value = trigger
    start = time.time()
    while time.time() - start < limit and gen.poll() is None:
        if kind == "time" and time.time() - start >= value:
            return
        if kind == "acked" and len(acked_lines(log)) >= value:
            return
        time.sleep(0.005)


def run_round(i, name, trigger, transport):
    srv = t.Server(a.trackd, db)
    log = os.path.join(WORK, f"acked-{i}.log")
    out = open(os.path.join(WORK, f"loadgen-{i}.out"), "w")
    cmd = [LOADGEN, "--port", str(srv.port), "--mix", MIX, "--devices", "40", "--window", "8",
           "--duration", "6", "--timeout", "20", "--ack-timeout", "2",
           "--device-offset", str(100000 * (i + 1)), "--acked-log", log]
    if transport == "udp":
        cmd.append("--udp")
    gen = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
    wait_trigger(trigger, log, gen)
    t.check(gen.poll() is None, f"{name}: the load was still running when the server was killed")
    srv.proc.send_signal(signal.SIGKILL)
    srv.proc.wait()
    srv.log.close()
    try:
        gen.wait(15)
    except subprocess.TimeoutExpired:
        gen.kill()
        gen.wait()
        t.check(False, f"{name}: the load generator stopped by itself after the kill")
    out.close()
    t.check(gen.returncode in (0, 1), f"{name}: the load generator exited with {gen.returncode}")
    return log


logs = [(name, run_round(i, name, trigger, transport))
        for i, (name, trigger, transport) in enumerate(ROUNDS)]

# The store as trackd leaves it after recovering it once more (stopped once
# it is up: its signal handlers come last).
srv = t.Server(a.trackd, db, http=True)
t.check(srv.wait_log(r"notify: webhooks"), "trackd started on the recovered store")
t.check(srv.stop() == 0, "clean exit after the last recovery")

stored = set(t.db_rows(db, "SELECT d.unique_id, p.device_time FROM positions p JOIN devices d"
                           " ON d.id = p.device_id WHERE p.type = 'position'"))
total = 0
for name, log in logs:
    acked = acked_lines(log)
    found = sum((uid, int(ms)) in stored for uid, _proto, _seq, ms in acked)
    lost = len(acked) - found
    total += len(acked)
    print(f"{name}: acked {len(acked)}, stored {found}, lost {lost}", flush=True)
    t.check(lost == 0, f"{name}: {lost} acknowledged frames missing from the store")
    r = subprocess.run([LOADGEN, "--check-db", db, "--acked-log", log], capture_output=True,
                       text=True, timeout=60)
    t.check(r.returncode == 0 and f"acked={len(acked)} stored={len(acked)} missing=0" in r.stdout,
            f"{name}: the generator's own check: {r.stdout[-300:]} {r.stderr[-300:]}")
    if name in ("mid-burst", "udp mid-burst"):
        t.check(len(acked) >= 1000, f"{name}: killed under load ({len(acked)} frames acked)")

print(f"all rounds: acked {total}, positions stored {len(stored)}", flush=True)
t.finish("durability")
