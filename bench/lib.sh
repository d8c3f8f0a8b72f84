# Shared by the ingest benchmarks: start build/trackd (or the null sink) on
# loopback with a fresh database, run the standard loads, and check the
# store afterwards. Sourced; needs: set -eu, the repository as the current
# directory.
BUILD=${BUILD:-build}
work=$(mktemp -d)
pid=
sink_pid=
trap 'kill $pid $sink_pid 2>/dev/null || true; rm -rf "$work"' EXIT

# start_trackd [extra serve flags]: sets pid, port (devices), http (API).
# The database is $work/bench.db, made fresh each time.
start_trackd() {
    # The old log goes first: the wait below must not read its ports.
    rm -f "$work/bench.db" "$work/bench.db-wal" "$work/bench.db-shm" "$work/log"
    # TRACKD_PIN: a command to run trackd under, e.g. "taskset -c 0".
    ${TRACKD_PIN:-} "$BUILD/trackd" serve --listen 127.0.0.1 --port 0 --http-port 0 \
        --db "$work/bench.db" "$@" 2>"$work/log" &
    pid=$!
    i=0
    until grep -q "http port" "$work/log" 2>/dev/null || [ $i -ge 50 ]; do
        sleep 0.1; i=$((i + 1))
    done
    port=$(sed -n 's/.*device port \([0-9]*\) open.*/\1/p' "$work/log" | head -1)
    http=$(sed -n 's/.*http port \([0-9]*\) open.*/\1/p' "$work/log" | head -1)
}

# stop_trackd: SIGTERM, and wait for the clean exit.
stop_trackd() {
    kill -TERM $pid
    wait $pid || true
    pid=
}

# start_sink: build/trackd-nullsink on a free loopback port; sets sink_pid
# and sink_port. stop_sink stops it; its totals are in $work/sink.out.
start_sink() {
    rm -f "$work/sink.out"
    "$BUILD/trackd-nullsink" --port 0 >"$work/sink.out" &
    sink_pid=$!
    i=0
    until grep -q "listening on" "$work/sink.out" 2>/dev/null || [ $i -ge 50 ]; do
        sleep 0.1; i=$((i + 1))
    done
    sink_port=$(sed -n 's/.*listening on [^ ]*:\([0-9]*\) .*/\1/p' "$work/sink.out" | head -1)
}

stop_sink() {
    kill -TERM $sink_pid
    wait $sink_pid || true
    sink_pid=
}

# run_loads: the three standard loads (each on its own devices), then a
# clean stop and the row count.
run_loads() {
    offset=0
    for load in "iw 100 500 10" "watch 1000 50 5" "iw 2000 25 1"; do
        set -- $load
        "$BUILD/trackd-loadgen" --port "$port" --protocol "$1" --devices "$2" --frames "$3" \
            --window "$4" --device-offset $offset
        offset=$((offset + 100000))
    done
    stop_trackd
    rows=$(sqlite3 "$work/bench.db" "SELECT count(*) FROM positions WHERE type = 'position'")
    echo "position rows stored: $rows (expected $((100 * 500 + 1000 * 50 + 2000 * 25)))"
}
