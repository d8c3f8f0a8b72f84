#!/bin/sh
# Ingest with server-side rules: the same load as run.sh, with an admin's
# geofence (polygon), overspeed, motion, low battery and heart-rate rules
# applying to every device, so each record is checked against all of them.
set -eu
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
work=$(mktemp -d)
trap 'kill $pid 2>/dev/null || true; rm -rf "$work"' EXIT

"$BUILD/trackd" serve --listen 127.0.0.1 --port 0 --http-port 0 --db "$work/bench.db" \
    --admin-password bench-admin 2>"$work/log" &
pid=$!
i=0
until grep -q "http port" "$work/log" 2>/dev/null || [ $i -ge 50 ]; do
    sleep 0.1; i=$((i + 1))
done
port=$(sed -n 's/.*device port \([0-9]*\) open.*/\1/p' "$work/log" | head -1)
http=$(sed -n 's/.*http port \([0-9]*\) open.*/\1/p' "$work/log" | head -1)
api() {
    curl -sf -b "$work/jar" -c "$work/jar" -X "$1" "http://127.0.0.1:$http$2" -d "$3" >/dev/null
}
api POST /api/session '{"user":"admin","password":"bench-admin"}'
api POST /api/geofences '{"name":"zone","area":{"type":"polygon","coordinates":[[22.5,114.0],[22.5,114.1],[22.6,114.1],[22.6,114.0],[22.55,113.95]]}}'
api POST /api/geofences '{"name":"home","area":{"type":"circle","latitude":22.5497,"longitude":114.0823,"radius":300}}'
api POST /api/rules '{"type":"overspeed","attributes":{"limit":80}}'
api POST /api/rules '{"type":"motion","attributes":{"speed":5}}'
api POST /api/rules '{"type":"lowBattery","attributes":{"threshold":20}}'
api POST /api/rules '{"type":"heartRate","attributes":{"above":120,"below":40}}'
echo "trackd on 127.0.0.1:$port ($(nproc) cores), 2 geofences and 4 rules for every device"

run() {
    "$BUILD/trackd-loadgen" --port "$port" "$@"
}
run --protocol iw --devices 100 --frames 500 --window 10
run --protocol watch --devices 1000 --frames 50 --window 5
run --protocol iw --devices 2000 --frames 25 --window 1

kill -TERM $pid
wait $pid || true
rows=$(sqlite3 "$work/bench.db" "SELECT count(*) FROM positions WHERE type = 'position'")
echo "position rows stored: $rows (expected $((100 * 500 + 1000 * 50 + 2000 * 25)))"
echo "events raised: $(sqlite3 "$work/bench.db" "SELECT type || '=' || count(*) FROM events GROUP BY type" | tr '\n' ' ')"
