#!/bin/bash
# Builds the libFuzzer targets (clang, -DTRACKD_FUZZ=ON) in $BUILD_FUZZ and
# runs each for $FUZZ_SECONDS, seeded from tests/vectors/*.jsonl (split per
# protocol by td-fuzz-seeds) and tests/fuzz/regressions/<target>/. `make
# fuzz` and `make fuzz-smoke` call it; see docs/fuzzing.md.
#
#   scripts/fuzz.sh [TARGET...]     (default: every target of the build)
#
# Environment:
#   BUILD_FUZZ    build directory (build-fuzz)
#   FUZZ_SECONDS  seconds per target (600)
#   FUZZ_JOBS     targets run at the same time (1)
#   FUZZ_MAX_LEN  largest input libFuzzer makes, bytes (16384)
#   FUZZ_ARGS     more libFuzzer options
#   JOBS          compile jobs (nproc)
#
# The corpus each target grows is kept in $BUILD_FUZZ/fuzz-corpus/<target>
# (a later run goes on from it), its log in $BUILD_FUZZ/fuzz-logs/, and what
# makes it fail (crash, leak, timeout, out-of-memory input) in
# $BUILD_FUZZ/fuzz-artifacts/<target>/. Prints one line per target (seconds,
# executions, exec/s, cov, ft, corpus, artifacts; also in
# $BUILD_FUZZ/fuzz-summary.md) and exits 1 when any target failed.
set -eu
cd "$(dirname "$0")/.."

B=${BUILD_FUZZ:-build-fuzz}
SECONDS_EACH=${FUZZ_SECONDS:-600}
PAR=${FUZZ_JOBS:-1}
MAX_LEN=${FUZZ_MAX_LEN:-16384}
JOBS=${JOBS:-$(nproc 2>/dev/null || echo 2)}

command -v clang >/dev/null || {
    echo "fuzz: clang is missing (scripts/install-deps.sh --test installs it)" >&2
    exit 1
}

cmake -S . -B "$B" -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DTRACKD_FUZZ=ON -DTRACKD_WEB=OFF -DBUILD_TESTING=OFF -DTRACKD_WERROR=OFF >/dev/null
cmake --build "$B" --target fuzz-targets -j "$JOBS"

if [ $# -gt 0 ]; then
    targets="$*"
else
    targets=$(cat "$B/fuzz-targets.txt")
fi
for t in $targets; do
    [ -x "$B/fuzz/$t" ] || {
        echo "fuzz: no target $t (have: $(tr '\n' ' ' <"$B/fuzz-targets.txt"))" >&2
        exit 2
    }
done

# Seeds: the vectors, split per protocol, and the saved regressions.
rm -rf "$B/fuzz-seeds"
"$B/fuzz/td-fuzz-seeds" "$B/fuzz-seeds" tests/vectors/*.jsonl
for t in $targets; do
    mkdir -p "$B/fuzz-seeds/$t" "$B/fuzz-corpus/$t" "$B/fuzz-artifacts/$t" "$B/fuzz-logs"
    if [ -d "tests/fuzz/regressions/$t" ]; then
        find "tests/fuzz/regressions/$t" -maxdepth 1 -type f ! -name '.*' \
            -exec cp {} "$B/fuzz-seeds/$t/" \;
    fi
done

# One target: libFuzzer for SECONDS_EACH, then its summary line.
run_one() {
    local t=$1 log="$B/fuzz-logs/$1.log" start end rc=0
    start=$(date +%s)
    # shellcheck disable=SC2086
    ASAN_OPTIONS=detect_leaks=1 \
        UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
        "$B/fuzz/$t" -max_total_time="$SECONDS_EACH" -max_len="$MAX_LEN" -timeout=10 \
        -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$B/fuzz-artifacts/$t/" \
        ${FUZZ_ARGS:-} "$B/fuzz-corpus/$t" "$B/fuzz-seeds/$t" >"$log" 2>&1 || rc=$?
    end=$(date +%s)
    local last execs rate cov ft corp arts
    last=$(grep -E '^#[0-9]+' "$log" | tail -n 1 || true)
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
    cov=$(echo "$last" | sed -n 's/.* cov: \([0-9]*\).*/\1/p')
    ft=$(echo "$last" | sed -n 's/.* ft: \([0-9]*\).*/\1/p')
    corp=$(echo "$last" | sed -n 's/.* corp: \([0-9]*\/[0-9A-Za-z]*\).*/\1/p')
    arts=$(find "$B/fuzz-artifacts/$t" -type f | wc -l)
    printf '| %s | %s | %s | %s | %s | %s | %s | %s |\n' "$t" "$((end - start))" "${execs:-?}" \
        "${rate:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}" "$arts" >"$B/fuzz-logs/$t.row"
    if [ "$rc" -ne 0 ] || [ "$arts" -ne 0 ]; then
        echo "fuzz: $t FAILED (exit $rc); log $log, artifacts in $B/fuzz-artifacts/$t/:" >&2
        grep -E '^(==[0-9]+==ERROR|SUMMARY|fuzz harness|.*runtime error)' "$log" | head -n 5 >&2
        find "$B/fuzz-artifacts/$t" -type f >&2
        return 1
    fi
    echo "fuzz: $t done: $(cat "$B/fuzz-logs/$t.row")"
}

echo "fuzz: $(echo "$targets" | wc -w) targets, ${SECONDS_EACH}s each, $PAR at a time"
failed=0
running=0
for t in $targets; do
    rm -f "$B/fuzz-logs/$t.row"
    if [ "$PAR" -le 1 ]; then
        run_one "$t" || failed=1
        continue
    fi
    if [ "$running" -ge "$PAR" ]; then
        wait -n || failed=1
        running=$((running - 1))
    fi
    run_one "$t" &
    running=$((running + 1))
done
while [ "$running" -gt 0 ]; do
    wait -n || failed=1
    running=$((running - 1))
done

{
    echo "| target | seconds | executions | exec/s | cov | ft | corpus (inputs/size) | crashes |"
    echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    for t in $targets; do
        cat "$B/fuzz-logs/$t.row" 2>/dev/null || echo "| $t | ? | ? | ? | ? | ? | ? | ? |"
    done
} >"$B/fuzz-summary.md"
cat "$B/fuzz-summary.md"
if [ "$failed" -ne 0 ]; then
    echo "fuzz: FAILED; reproduce with $B/fuzz/<target> <artifact>" >&2
    exit 1
fi
echo "fuzz: no crash, leak or timeout"
