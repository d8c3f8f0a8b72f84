#!/bin/sh
# Idle connections: how many logged-in device connections trackd holds and
# how much server memory each costs. Starts build/trackd on loopback with a
# fresh store, opens DEVICES connections (default 19,000: on machines whose
# hard open-file limit is 20,000 per process, trackd can hold about
# 19,400) from several 127.x source addresses with the load generator split
# over SHARDS processes, each device logged in and then silent except for a
# position every HEARTBEAT seconds, and reads trackd's resident memory
# (VmRSS) before the devices connect and while they are held.
#
#   bench/idle.sh
#   DEVICES=10000 PROTO=gt06 bench/idle.sh
set -eu
cd "$(dirname "$0")/.."
. bench/lib.sh

DEVICES=${DEVICES:-19000}
SHARDS=${SHARDS:-2}
HOLD=${HOLD:-40}
HEARTBEAT=${HEARTBEAT:-20}
PROTO=${PROTO:-iw}

rss() { awk '/^VmRSS:/ {print $2}' /proc/$pid/status; }

start_trackd
limit=$(sed -n 's/.*open-file limit \([0-9]*\).*/\1/p' "$work/log" | head -1)
echo "trackd on 127.0.0.1:$port; open-file limit $limit; $DEVICES $PROTO devices in $SHARDS processes"
before=$(rss)
gens=
i=0
while [ $i -lt "$SHARDS" ]; do
    "$BUILD/trackd-loadgen" --port "$port" --protocol "$PROTO" --devices "$DEVICES" \
        --idle "$HOLD" --heartbeat "$HEARTBEAT" --shard "$i/$SHARDS" \
        --sources 127.0.1.1-127.0.1.40 --timeout $((HOLD + 120)) >"$work/idle-$i.out" &
    gens="$gens $!"
    i=$((i + 1))
done
# Read the memory in the middle of the hold, once every device is in.
sleep $((HOLD / 2 + 5))
during=$(rss)
conns=$(ls /proc/$pid/fd | wc -l)
for g in $gens; do wait "$g" || true; done
established=0
open_end=0
for f in "$work"/idle-*.out; do
    e=$(sed -n 's/.* established=\([0-9]*\).*/\1/p' "$f" | head -1)
    o=$(sed -n 's/.* open_at_end=\([0-9]*\).*/\1/p' "$f" | head -1)
    established=$((established + ${e:-0}))
    open_end=$((open_end + ${o:-0}))
done
echo "established $established of $DEVICES; open at the end $open_end"
echo "trackd descriptors during the hold: $conns"
echo "trackd RSS: $before KiB before, $during KiB with the devices held"
python3 -c "import sys; b,d,n=map(int,sys.argv[1:]); print(f'server memory per connection: {(d-b)*1024/max(n,1):,.0f} bytes')" \
    "$before" "$during" "$established"
stop_trackd
rows=$(sqlite3 "$work/bench.db" "SELECT count(DISTINCT device_id) FROM positions")
echo "devices with stored records: $rows"
