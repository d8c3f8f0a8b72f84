#!/bin/sh
# Ingest against the machine's ceiling: each load runs three times in one
# go, on fresh processes, with the same devices, frames and connections:
#
#   1. against build/trackd-nullsink with --no-ack: the sink reads and
#      discards, so this is what the machine (generator, kernel, loopback)
#      can move at all;
#   2. against build/trackd, waiting for every acknowledgement (--window):
#      durable frames/s, checked against the store with --check-db;
#   3. against build/trackd with --no-ack: how fast trackd takes frames in
#      when nobody waits (it still commits and answers).
#
# Prints each one's frames/s and trackd's as a share of the sink's.
#
#   bench/ingest.sh
#   LOADS="--mix iw:50,jt808:50 --devices 500 --frames 200 --window 10" bench/ingest.sh
#
# LOADS holds one load per line, as trackd-loadgen options.
set -eu
cd "$(dirname "$0")/.."
. bench/lib.sh

LOADS=${LOADS:-"--protocol iw --devices 100 --frames 5000 --window 10
--mix iw:40,gt06:20,watch:20,teltonika:10,jt808:10 --devices 1000 --frames 500 --window 5"}

echo "ingest against the null sink, $(nproc) cores; trackd and the generator share them"
nl='
'
old_ifs=$IFS
IFS=$nl
for load in $LOADS; do
    IFS=$old_ifs
    [ -n "$load" ] || continue
    echo "load: $load"

    start_sink
    "$BUILD/trackd-loadgen" --port "$sink_port" --no-ack $load >"$work/sink.json" || true
    stop_sink

    start_trackd
    "$BUILD/trackd-loadgen" --port "$port" $load --check-db "$work/bench.db" \
        >"$work/acked.json" || true
    stop_trackd

    # Not waiting: the generator only writes, so its own rate is what the
    # sockets took; what counts is when the last record is in the store.
    start_trackd
    t0=$(date +%s.%N)
    "$BUILD/trackd-loadgen" --port "$port" --no-ack $load >"$work/noack.json" || true
    stored_rows=0
    stored_at=$t0
    quiet=0
    while [ $quiet -lt 10 ]; do # 0.5 s without a new row
        rows=$(curl -sf "http://127.0.0.1:$http/metrics" | sed -n 's/^trackd_store_rows_total //p')
        if [ "${rows:-0}" -gt "$stored_rows" ]; then
            stored_rows=$rows
            stored_at=$(date +%s.%N)
            quiet=0
        else
            quiet=$((quiet + 1))
        fi
        sleep 0.05
    done
    echo "{\"storedRows\":$stored_rows,\"storedSeconds\":$(awk -v a="$stored_at" -v b="$t0" 'BEGIN { print a - b }')}" \
        >"$work/stored.json"
    stop_trackd

    python3 - "$work/sink.json" "$work/acked.json" "$work/noack.json" "$work/stored.json" <<'PY'
import json, sys
def summary(path):
    with open(path) as f:
        lines = [l for l in f if l.startswith("{")]
    return json.loads(lines[-1]) if lines else {}
sink, acked, noack = (summary(p) for p in sys.argv[1:4])
ceiling = sink.get("sentFramesPerS", 0)
def share(x):
    return f"{x / ceiling:6.3f} of the sink" if ceiling else "  (no sink figure)"
print(f"  null sink, no answers        {ceiling:12,.0f} frames/s"
      f"  ({sink.get('sent', 0):,} frames, {sink.get('seconds', 0):.2f} s)")
fps = acked.get("framesPerS", 0)
ms = acked.get("ackMs", {})
check = acked.get("check", {})
print(f"  trackd, acknowledged         {fps:12,.0f} frames/s  {share(fps)}"
      f"  ack p50 {ms.get('p50', 0):.1f} ms p99 {ms.get('p99', 0):.1f} ms p99.9 {ms.get('p999', 0):.1f} ms;"
      f" {check.get('acked', 0):,} acked, {check.get('missing', '?')} missing from the store")
with open(sys.argv[4]) as f:
    stored = json.load(f)
# From the generator's start (its logins included) to the last record in
# the store: the frames trackd took in, decoded and committed per second.
took = stored["storedRows"] / stored["storedSeconds"] if stored["storedSeconds"] else 0
print(f"  trackd, not waiting          {took:12,.0f} frames/s  {share(took)}"
      f"  ({stored['storedRows']:,} records stored {stored['storedSeconds']:.2f} s after the"
      f" start; the generator wrote for {noack.get('seconds', 0):.2f} s)")
PY
    IFS=$nl
done
IFS=$old_ifs
