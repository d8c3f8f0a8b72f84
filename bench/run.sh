#!/bin/sh
# Ingest benchmark: starts build/trackd on a loopback ephemeral port with a
# fresh database, drives it with build/trackd-loadgen, then checks that the
# store holds every acknowledged frame. Results go to standard output;
# BENCHMARKS.md records them with the machine they were taken on.
set -eu
cd "$(dirname "$0")/.."
. bench/lib.sh

start_trackd
echo "trackd on 127.0.0.1:$port ($(nproc) cores)"
run_loads
grep -E "commits|closed cleanly" "$work/log" | sed 's/^[^ ]* [A-Z]* *//'
