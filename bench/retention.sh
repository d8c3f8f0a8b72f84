#!/bin/sh
# Ingest while --retention-days purges a large history: a store pre-filled
# with OLD records of 2022 (default 3,000,000, from 1,000 devices, in time
# order as ingest writes them), then the standard loads of run.sh on
# copies of it: without retention, with --retention-days set so that every
# 2022 record is due (the load generator's fixes, dated yesterday, are
# not), and finally the purge alone with no load. Prints the load
# generator's lines, the records purged while the loads ran, the pass's log
# line and checks the end state.
#
#   bench/retention.sh            # OLD=3000000
#   OLD=1000000 bench/retention.sh
#   STORE=/tmp/old.db bench/retention.sh   # fill it once, reuse it after
set -eu
cd "$(dirname "$0")/.."
. bench/lib.sh
OLD=${OLD:-3000000}
DEVICES=1000
# Days back to 2023-01-01: the cut-off falls between the old records and
# the loadgen's.
DAYS=$(( ($(date -u +%s) - $(date -u -d 2023-01-01 +%s)) / 86400 ))

metric() { # metric NAME: its value on the running trackd's /metrics
    curl -sf "http://127.0.0.1:$http/metrics" | awk -v n="$1" '$1 == n { print $2 }'
}

wait_for() { # wait_for SECONDS COMMAND...: until COMMAND succeeds
    limit=$1; shift; i=0
    until "$@" || [ $i -ge $((limit * 10)) ]; do sleep 0.1; i=$((i + 1)); done
}

loads() { # the standard loads of run.sh, each on its own devices
    offset=0
    for load in "iw 100 500 10" "watch 1000 50 5" "iw 2000 25 1"; do
        set -- $load
        "$BUILD/trackd-loadgen" --port "$port" --protocol "$1" --devices "$2" --frames "$3" \
            --window "$4" --device-offset $offset | grep -v '^{' # the summary line, not its JSON
        offset=$((offset + 100000))
    done
}

# start_on DB [flags]: trackd on a copy of the filled store (start_trackd
# makes its own database fresh; the later --db wins).
start_on() {
    db=$1; shift
    cp "$work/old.db" "$db"
    start_trackd --db "$db" "$@"
}

# fill_store: the schema from trackd itself, then the history behind its
# back, into $work/old.db.
fill_store() {
    start_trackd
    stop_trackd
    echo "filling the store with $OLD records of 2022 from $DEVICES devices..."
    nice -n 10 sqlite3 "$work/bench.db" <<SQL
PRAGMA synchronous = OFF;
BEGIN;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $DEVICES)
INSERT INTO devices (unique_id, name, protocol, first_seen, last_seen)
SELECT 'old' || i, 'old' || i, 'iw', 1640995200000, 1672531199000 FROM n;
WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < $OLD - 1)
INSERT INTO positions (device_id, protocol, type, server_time, device_time, valid, located,
                       latitude, longitude, speed, course, altitude, attributes)
SELECT 1 + i % $DEVICES, 'iw', 'position', t, t, 1, 1, 22.5 + (i % 97) * 0.001,
       114.0 + (i % 89) * 0.001, 10.5, 90.0, 0.0,
       '{"batteryLevel":80,"rssi":8,"satellites":6,"cells":[{"mcc":460,"mnc":0,"lac":9520,"cid":3671}]}'
FROM (SELECT i, 1640995200000 + i * (31536000000 / $OLD) AS t FROM n);
COMMIT;
SQL
    mv "$work/bench.db" "$work/old.db"
}

STORE=${STORE:-}
if [ -n "$STORE" ] && [ -f "$STORE" ]; then
    echo "reusing $STORE"
    cp "$STORE" "$work/old.db"
else
    fill_store
    [ -z "$STORE" ] || cp "$work/old.db" "$STORE"
fi
echo "store: $(du -m "$work/old.db" | cut -f1) MiB; $(nproc) cores"

echo "--- without retention"
start_on "$work/run.db"
loads
stop_trackd

echo "--- with --retention-days $DAYS (every 2022 record due)"
rm -f "$work/run.db"*
start_on "$work/run.db" --retention-days "$DAYS"
wait_for 10 sh -c "[ \"\$(curl -sf http://127.0.0.1:$http/metrics |
    awk '/^trackd_retention_batches_total/ { s += \$2 } END { print s + 0 }')\" -gt 0 ]"
before=$(metric trackd_retention_purged_records_total)
loads
after=$(metric trackd_retention_purged_records_total)
echo "purged while the loads ran: $((after - before)) records"
wait_for 600 grep -q "retention: purged" "$work/log"
grep "retention:" "$work/log" | sed 's/^[^ ]* [A-Z]* *//'
stop_trackd
echo "left: $(sqlite3 "$work/run.db" "SELECT count(*) FROM positions WHERE device_time < 1672531200000") old records (expected $DEVICES, each device's newest)," \
    "$(sqlite3 "$work/run.db" "SELECT count(*) FROM positions WHERE device_time >= 1672531200000 AND type = 'position'") new positions (expected 150000)"

echo "--- the purge alone"
rm -f "$work/run.db"*
start_on "$work/run.db" --retention-days "$DAYS"
wait_for 600 grep -q "retention: purged" "$work/log"
grep "retention:" "$work/log" | sed 's/^[^ ]* [A-Z]* *//'
stop_trackd
