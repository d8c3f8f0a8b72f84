#!/bin/sh
# Ingest with server-side rules: the same load as run.sh, with an admin's
# geofence (polygon), overspeed, motion, low battery and heart-rate rules
# applying to every device, so each record is checked against all of them.
set -eu
cd "$(dirname "$0")/.."
. bench/lib.sh

start_trackd --admin-password bench-admin
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

run_loads
echo "events raised: $(sqlite3 "$work/bench.db" "SELECT type || '=' || count(*) FROM events GROUP BY type" | tr '\n' ' ')"
