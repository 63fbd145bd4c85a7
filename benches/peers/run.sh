#!/usr/bin/env bash
# Runs one peer bench (decode or encode) RUNS times in one or both build
# profiles and prints the markdown tables of BENCHMARKS.md: medians over the
# runs, ratios ours ÷ best peer per profile.
#
#   bash benches/peers/run.sh decode              # 3 runs, profile `bench`
#   PROFILE=both bash benches/peers/run.sh encode 3
#   PROFILE=both INTERLEAVE=1 bash benches/peers/run.sh decode 3
#
# PROFILE: `bench` (the default: cargo's bench profile), `bench-lto` (fat
# LTO, one codegen unit; Cargo.toml) or `both` (each run does `bench`, then
# `bench-lto`, so that the two profiles see the same stretch of the
# machine's load). INTERLEAVE=1: the bench's interleaved mode instead of
# criterion (src/interleave.rs; INTERLEAVE_SECS per cell, default 2).
# BENCH_CLOCK=wall: wall time instead of the thread's CPU time.
#
# Extra arguments after RUNS go to the bench, e.g. a filter (a regex, for
# criterion on group/contender/size, interleaved on group/size):
#   bash benches/peers/run.sh decode 1 decode_cjk
#
# Criterion's results go to target/criterion-<profile>/ and each run's
# medians to target/peer-runs/<profile>/<bench>[-interleaved].jsonl, where
# report.py reads them (`python3 report.py table decode [--interleaved]`).
set -euo pipefail
bench=${1:?usage: [PROFILE=bench|bench-lto|both] [INTERLEAVE=1] run.sh decode|encode [RUNS] [bench args...]}
runs=${2:-3}
shift $(( $# < 2 ? $# : 2 ))
case ${PROFILE:-bench} in
    bench) profiles=(bench) ;;
    bench-lto) profiles=(bench-lto) ;;
    both) profiles=(bench bench-lto) ;;
    *) echo "PROFILE must be bench, bench-lto or both, not '$PROFILE'" >&2; exit 2 ;;
esac
case ${INTERLEAVE:-0} in
    0|"") interleave=0; kind= ;;
    *) interleave=1; kind=--interleaved ;;
esac
cd "$(dirname "$0")"
# Build first, so that compiling is not inside the first run's load figure.
for profile in "${profiles[@]}"; do
    cargo bench --quiet --profile "$profile" --bench "$bench" --no-run
    python3 report.py clear "$bench" "$profile" $kind
done
echo "# $(date -u +%Y-%m-%dT%H:%MZ), git $(git rev-parse --short HEAD)," \
     "profiles ${profiles[*]}, $([ $interleave = 1 ] && echo "interleaved, ${INTERLEAVE_SECS:-2} s per cell" || echo criterion)," \
     "cpu '$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)'," \
     "clock ${BENCH_CLOCK:-cpu}, load at start $(cut -d' ' -f1-3 /proc/loadavg)"
for i in $(seq "$runs"); do
    for profile in "${profiles[@]}"; do
        # The crate under test is built from the working tree: say what it was.
        dirty=$(git status --porcelain -- ../../src ../../Cargo.toml | wc -l)
        echo "# run $i/$runs, profile $profile: git $(git rev-parse --short HEAD)" \
             "($dirty changed files in src/), load $(cut -d' ' -f1-3 /proc/loadavg)" | tee /dev/stderr
        if [ $interleave = 1 ]; then
            mkdir -p "$PWD/target/peer-runs/$profile"
            PEER_RESULTS="$PWD/target/peer-runs/$profile/$bench-interleaved.jsonl" \
                cargo bench --quiet --profile "$profile" --bench "$bench" -- "$@" >&2
        else
            CRITERION_HOME="$PWD/target/criterion-$profile" \
                cargo bench --quiet --profile "$profile" --bench "$bench" -- --noplot "$@" >&2
            python3 report.py snapshot "$bench" "$profile"
        fi
    done
done
echo "# load at end $(cut -d' ' -f1-3 /proc/loadavg)"
python3 report.py table "$bench" $kind "${profiles[@]}"
