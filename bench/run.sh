#!/bin/sh
# Ingest benchmark: starts build/trackd on a loopback ephemeral port with a
# fresh database, drives it with build/trackd-loadgen, then checks that the
# store holds every acknowledged frame. Results go to standard output;
# BENCHMARKS.md records them with the machine they were taken on.
set -eu
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
work=$(mktemp -d)
trap 'kill $pid 2>/dev/null || true; rm -rf "$work"' EXIT

"$BUILD/trackd" serve --listen 127.0.0.1 --port 0 --http-port 0 --db "$work/bench.db" 2>"$work/log" &
pid=$!
i=0
until grep -q "device port" "$work/log" 2>/dev/null || [ $i -ge 50 ]; do
    sleep 0.1; i=$((i + 1))
done
port=$(sed -n 's/.*device port \([0-9]*\) open.*/\1/p' "$work/log" | head -1)
echo "trackd on 127.0.0.1:$port ($(nproc) cores)"

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
grep -E "commits|closed cleanly" "$work/log" | sed 's/^[^ ]* [A-Z]* *//'
