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

LOADS=${LOADS:-"--protocol iw --devices 100 --frames 1000 --window 10
--mix iw:40,gt06:20,watch:20,teltonika:10,jt808:10 --devices 1000 --frames 100 --window 5"}

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

    start_trackd
    "$BUILD/trackd-loadgen" --port "$port" --no-ack $load >"$work/noack.json" || true
    stop_trackd

    python3 - "$work/sink.json" "$work/acked.json" "$work/noack.json" <<'PY'
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
sent = noack.get("sentFramesPerS", 0)
print(f"  trackd, not waiting          {sent:12,.0f} frames/s  {share(sent)}")
PY
    IFS=$nl
done
IFS=$old_ifs
