#!/usr/bin/env bash
# Runs one peer bench (decode or encode) RUNS times and prints the markdown
# tables of BENCHMARKS.md: medians over the runs, ratios to the better peer.
#
#   bash benches/peers/run.sh decode      # 3 runs, about 2.5 minutes each
#   bash benches/peers/run.sh encode 5    # 5 runs, about 5 minutes each
#
# Extra arguments after RUNS go to criterion, e.g. a filter:
#   bash benches/peers/run.sh decode 1 decode_cjk
set -euo pipefail
bench=${1:?usage: run.sh decode|encode [RUNS] [criterion args...]}
runs=${2:-3}
shift $(( $# < 2 ? $# : 2 ))
cd "$(dirname "$0")"
python3 report.py clear "$bench"
echo "# $(date -u +%Y-%m-%dT%H:%MZ), git $(git rev-parse --short HEAD)," \
     "cpu '$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)'," \
     "clock ${BENCH_CLOCK:-cpu}, load at start $(cut -d' ' -f1-3 /proc/loadavg)"
for i in $(seq "$runs"); do
    # The crate under test is built from the working tree: say what it was.
    dirty=$(git status --porcelain -- ../../src ../../Cargo.toml | wc -l)
    echo "# run $i/$runs: git $(git rev-parse --short HEAD) ($dirty changed files in src/)," \
         "load $(cut -d' ' -f1-3 /proc/loadavg)" | tee /dev/stderr
    cargo bench --quiet --bench "$bench" -- --noplot "$@" >&2
    python3 report.py snapshot "$bench"
done
echo "# load at end $(cut -d' ' -f1-3 /proc/loadavg)"
python3 report.py table "$bench"
