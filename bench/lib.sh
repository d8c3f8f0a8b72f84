# Shared by the ingest benchmarks: start build/trackd on loopback with a
# fresh database, run the standard loads, and check the store afterwards.
# Sourced; needs: set -eu, the repository as the current directory.
BUILD=${BUILD:-build}
work=$(mktemp -d)
pid=
trap 'kill $pid 2>/dev/null || true; rm -rf "$work"' EXIT

# start_trackd [extra serve flags]: sets pid, port (devices), http (API).
start_trackd() {
    "$BUILD/trackd" serve --listen 127.0.0.1 --port 0 --http-port 0 --db "$work/bench.db" "$@" \
        2>"$work/log" &
    pid=$!
    i=0
    until grep -q "http port" "$work/log" 2>/dev/null || [ $i -ge 50 ]; do
        sleep 0.1; i=$((i + 1))
    done
    port=$(sed -n 's/.*device port \([0-9]*\) open.*/\1/p' "$work/log" | head -1)
    http=$(sed -n 's/.*http port \([0-9]*\) open.*/\1/p' "$work/log" | head -1)
}

# run_loads: the three standard loads, then a clean stop and the row count.
run_loads() {
    for load in "iw 100 500 10" "watch 1000 50 5" "iw 2000 25 1"; do
        set -- $load
        "$BUILD/trackd-loadgen" --port "$port" --protocol "$1" --devices "$2" --frames "$3" \
            --window "$4"
    done
    kill -TERM $pid
    wait $pid || true
    rows=$(sqlite3 "$work/bench.db" "SELECT count(*) FROM positions WHERE type = 'position'")
    echo "position rows stored: $rows (expected $((100 * 500 + 1000 * 50 + 2000 * 25)))"
}
