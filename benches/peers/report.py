#!/usr/bin/env python3
"""Tables for BENCHMARKS.md from criterion's results of the decode and
encode benches.

    python3 report.py snapshot decode   # after a run: keep its medians
    python3 report.py table decode      # markdown: medians over the kept runs
    python3 report.py clear decode      # forget the kept runs

`bash run.sh decode 3` does all three around three bench runs. Runs are kept
in target/peer-runs/<bench>.jsonl, one JSON line per run: {group: {contender:
{size: ns per iteration}}}. Throughput figures use criterion's median time
per iteration and the payload bytes of one iteration (its `Throughput`).
Ratios are taken within each run, then the median over runs is shown.
"""
import json
import os
import statistics
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
CRITERION = os.path.join(HERE, "target", "criterion")
RUNS = os.path.join(HERE, "target", "peer-runs")
CONTENDERS = ["rfc6455", "rfc6455_blocking", "tungstenite", "fastwebsockets"]
PEERS = ["tungstenite", "fastwebsockets"]


def read_current(bench):
    """{group: {contender: {size: (ns, bytes)}}} from criterion's latest results."""
    out = {}
    for group in sorted(os.listdir(CRITERION)):
        if not group.startswith(bench + "_"):
            continue
        for contender in os.listdir(os.path.join(CRITERION, group)):
            cdir = os.path.join(CRITERION, group, contender)
            if contender not in CONTENDERS or not os.path.isdir(cdir):
                continue
            for size in os.listdir(cdir):
                new = os.path.join(cdir, size, "new")
                if not os.path.isdir(new):
                    continue
                est = json.load(open(os.path.join(new, "estimates.json")))
                meta = json.load(open(os.path.join(new, "benchmark.json")))
                nbytes = meta["throughput"]["Bytes"]
                out.setdefault(group, {}).setdefault(contender, {})[size] = (
                    est["median"]["point_estimate"], nbytes)
    return out


def runs_path(bench):
    return os.path.join(RUNS, bench + ".jsonl")


def load_runs(bench):
    path = runs_path(bench)
    if not os.path.exists(path):
        return [read_current(bench)]
    return [json.loads(line) for line in open(path) if line.strip()]


def fmt_size(size):
    size = int(size)
    return f"{size // 1024} KiB" if size >= 1024 else f"{size} B"


def table(bench):
    runs = load_runs(bench)
    groups = sorted({g for r in runs for g in r})
    print(f"Median over {len(runs)} run(s). GB/s of payload (10^9 B/s), and "
          "millions of messages per second in parentheses. Ratios: ours ÷ "
          "the better peer at that size, within each run, median over runs.\n")
    for group in groups:
        sizes = sorted({s for r in runs for c in r.get(group, {}).values() for s in c}, key=int)
        print(f"#### `{group}`\n")
        print("| size | rfc6455 | rfc6455 blocking | tungstenite | fastwebsockets "
              "| **rfc6455 ÷ best peer** | blocking ÷ best peer |")
        print("|---:|---:|---:|---:|---:|---:|---:|")
        for size in sizes:
            cells, ratios = [], {"rfc6455": [], "rfc6455_blocking": []}
            for contender in CONTENDERS:
                gbs = []
                for r in runs:
                    v = r.get(group, {}).get(contender, {}).get(size)
                    if v:
                        gbs.append(v[1] / v[0])  # bytes per ns == GB/s
                if gbs:
                    g = statistics.median(gbs)
                    cells.append(f"{g:.2f} ({g * 1e3 / int(size):.2f})")
                else:
                    cells.append("–")
            for r in runs:
                c = r.get(group, {})
                peers = [c[p][size][1] / c[p][size][0] for p in PEERS if size in c.get(p, {})]
                for ours in ratios:
                    if peers and size in c.get(ours, {}):
                        ratios[ours].append(c[ours][size][1] / c[ours][size][0] / max(peers))
            rs = [f"{statistics.median(v):.2f}" if v else "–" for v in ratios.values()]
            print(f"| {fmt_size(size)} | " + " | ".join(cells) + f" | **{rs[0]}** | {rs[1]} |")
        print()


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in ("snapshot", "table", "clear"):
        sys.exit(__doc__)
    cmd, bench = sys.argv[1], sys.argv[2]
    if cmd == "snapshot":
        os.makedirs(RUNS, exist_ok=True)
        with open(runs_path(bench), "a") as f:
            f.write(json.dumps(read_current(bench)) + "\n")
    elif cmd == "clear":
        if os.path.exists(runs_path(bench)):
            os.remove(runs_path(bench))
    else:
        table(bench)


if __name__ == "__main__":
    main()
