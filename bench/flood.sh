#!/bin/sh
# Flood benchmark: each honest load (build/trackd-loadgen, devices on
# 127.0.0.1) runs twice against a fresh build/trackd with its default
# limits: alone, then next to build/trackd-flood on 127.0.0.2 (connections
# past the per-address limit, garbage, oversized and never-ending frames,
# and a UDP flood). Prints the load's frames/s and acknowledgement latency,
# what the flood did and which limits it hit, and checks that every
# acknowledged frame was stored. Loopback only; every run is bounded.
#
# usage: bench/flood.sh [flood options, default: --conns 6000 --udp-rate 20000]
# TRACKD_OPTS: more serve flags for trackd, e.g. "--ban-after 0" to see the
# flood without bans.
set -eu
cd "$(dirname "$0")/.."
. bench/lib.sh

FLOOD_OPTS=${*:---conns 6000 --udp-rate 20000}
# FLOOD_CPUS=1 SERVER_CPUS=0: pin the flooder, and trackd with the honest
# load, to CPUs of their own (taskset), as when the flood comes from
# another machine; unset, everything shares every CPU.
flood_pin=${FLOOD_CPUS:+taskset -c $FLOOD_CPUS}
server_pin=${SERVER_CPUS:+taskset -c $SERVER_CPUS}
fpid=
trap 'kill $fpid $pid 2>/dev/null || true; rm -rf "$work"' EXIT # lib.sh's, and the flood

# metric NAME: the lines of /metrics that start with NAME.
metric() {
    curl -sf "http://127.0.0.1:$http/metrics" | grep "^$1" || true
}

# run_load WITH_FLOOD DEVICES FRAMES WINDOW
run_load() {
    TRACKD_PIN=$server_pin start_trackd ${TRACKD_OPTS:-}
    [ -n "$port" ] || { echo "trackd did not start"; exit 1; }
    if [ "$1" = flood ]; then
        $flood_pin "$BUILD/trackd-flood" --port "$port" --seconds 120 $FLOOD_OPTS >"$work/flood.out" &
        fpid=$!
        sleep 2 # the flood at full strength before the load starts
    fi
    printf '%-8s ' "$1"
    $server_pin "$BUILD/trackd-loadgen" --port "$port" --protocol iw --devices "$2" --frames "$3" \
        --window "$4" --timeout 120 >"$work/load.out" || echo "loadgen failed"
    grep -v '^{' "$work/load.out" # the summary line, not the JSON
    if [ "$1" = flood ]; then
        kill -TERM $fpid
        wait $fpid || true
        fpid=
        sed 's/^/         /' "$work/flood.out"
        metric 'trackd_limit_hits_total' | grep -v ' 0$' | sed 's/^/         /'
        metric 'trackd_unknown_traffic_total ' | sed 's/^/         /'
        metric 'trackd_banned_addresses' | sed 's/^/         /'
    fi
    stop_trackd
    # The load's devices only: the flood's datagrams within --udp-rate are
    # a device's positions too.
    rows=$(sqlite3 "$work/bench.db" "SELECT count(*) FROM positions p JOIN devices d ON
        d.id = p.device_id WHERE p.type = 'position' AND d.unique_id NOT LIKE '864999%'")
    echo "         the load's position rows stored: $rows (expected $(($2 * $3)))"
}

echo "trackd on 127.0.0.1 ($(nproc) cores)${TRACKD_OPTS:+ with $TRACKD_OPTS};" \
    "flood from 127.0.0.2: $FLOOD_OPTS"
for load in "100 2000 10" "1000 200 1"; do
    set -- $load
    run_load alone "$1" "$2" "$3"
    run_load flood "$1" "$2" "$3"
done
