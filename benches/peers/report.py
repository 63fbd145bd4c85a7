#!/usr/bin/env python3
"""Tables for BENCHMARKS.md from the decode and encode benches, in both
build profiles.

    python3 report.py snapshot decode bench      # after a criterion run
    python3 report.py table decode               # markdown, every profile kept
    python3 report.py table decode bench-lto     # markdown, that profile only
    python3 report.py table decode --interleaved # the interleaved runs instead
    python3 report.py clear decode bench         # forget the kept runs

`bash run.sh decode 3` does all of it around three bench runs (PROFILE=both
for both profiles, INTERLEAVE=1 for the interleaved mode).

Profiles: `bench` (cargo's default for benches: release, thin-local LTO,
16 codegen units) and `bench-lto` (Cargo.toml: fat LTO, one codegen unit).
Criterion writes its results to target/criterion-<profile>/ (run.sh sets
CRITERION_HOME), and `snapshot` appends their medians to
target/peer-runs/<profile>/<bench>.jsonl, one JSON line per run: {group:
{contender: {size: [ns per iteration, payload bytes per iteration]}}}. The
interleaved mode (src/interleave.rs) appends its own lines, of the same
shape plus "_ratio": {group: {ours: {size: median of the per-round ratios}}},
to target/peer-runs/<profile>/<bench>-interleaved.jsonl.

Throughput is payload bytes over the median time per iteration. Ratios are
ours ÷ the best peer at that size: for criterion runs taken within each run
from the medians; for interleaved runs the run's median of per-round ratios;
either way the median over runs is shown.
"""
import json
import os
import statistics
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
TARGET = os.path.join(HERE, "target")
RUNS = os.path.join(TARGET, "peer-runs")
PROFILES = ["bench", "bench-lto"]
OURS = ["rfc6455", "rfc6455_blocking"]
PEERS = ["tungstenite", "fastwebsockets", "tokio_websockets"]
CONTENDERS = OURS + PEERS
TITLES = {
    "rfc6455": "rfc6455",
    "rfc6455_blocking": "rfc6455 blocking",
    "tungstenite": "tungstenite",
    "fastwebsockets": "fastwebsockets",
    "tokio_websockets": "tokio-websockets",
}
SHORT = {"tungstenite": "tung", "fastwebsockets": "fws", "tokio_websockets": "tws"}


def criterion_dir(profile):
    return os.path.join(TARGET, "criterion-" + profile)


def read_current(bench, profile):
    """{group: {contender: {size: [ns, bytes]}}} from criterion's latest results."""
    out = {}
    root = criterion_dir(profile)
    for group in sorted(os.listdir(root)):
        if not group.startswith(bench + "_"):
            continue
        for contender in os.listdir(os.path.join(root, group)):
            cdir = os.path.join(root, group, contender)
            if contender not in CONTENDERS or not os.path.isdir(cdir):
                continue
            for size in os.listdir(cdir):
                new = os.path.join(cdir, size, "new")
                if not os.path.isdir(new):
                    continue
                est = json.load(open(os.path.join(new, "estimates.json")))
                meta = json.load(open(os.path.join(new, "benchmark.json")))
                nbytes = meta["throughput"]["Bytes"]
                out.setdefault(group, {}).setdefault(contender, {})[size] = [
                    est["median"]["point_estimate"], nbytes]
    return out


def runs_path(bench, profile, interleaved=False):
    name = bench + ("-interleaved" if interleaved else "") + ".jsonl"
    return os.path.join(RUNS, profile, name)


def load_runs(bench, profile, interleaved):
    path = runs_path(bench, profile, interleaved)
    if not os.path.exists(path):
        return []
    return [json.loads(line) for line in open(path) if line.strip()]


def fmt_size(size):
    size = int(size)
    return f"{size // 1024} KiB" if size >= 1024 else f"{size} B"


def gbs(v):
    """GB/s (bytes per ns) of one [ns, bytes] entry."""
    return v[1] / v[0]


def run_ratio(run, group, ours, size):
    """Ours ÷ best peer in one run, or None."""
    stored = run.get("_ratio", {}).get(group, {}).get(ours, {}).get(size)
    if stored is not None:
        return stored
    c = run.get(group, {})
    peers = [gbs(c[p][size]) for p in PEERS if size in c.get(p, {})]
    if not peers or size not in c.get(ours, {}):
        return None
    return gbs(c[ours][size]) / max(peers)


def median_or_none(values):
    return statistics.median(values) if values else None


def table(bench, interleaved, wanted):
    by_profile = {p: load_runs(bench, p, interleaved) for p in wanted}
    profiles = [p for p in wanted if by_profile[p]]
    if not profiles:
        sys.exit(f"no runs kept for {bench}{' (interleaved)' if interleaved else ''}: "
                 f"see {os.path.join(RUNS, '<profile>')}")
    counts = ", ".join(f"`{p}` {len(by_profile[p])}" for p in profiles)
    mode = ("interleaved batches (src/interleave.rs)" if interleaved
            else "criterion")
    print(f"Profiles {' / '.join(f'`{p}`' for p in profiles)} (each cell gives them "
          f"in that order); runs ({mode}): {counts}. GB/s of payload (10^9 B/s), "
          "millions of messages per second in parentheses, medians over the runs. "
          "Ratios: ours ÷ the best peer at that size, "
          + ("the median of per-round ratios in each run"
             if interleaved else "within each run")
          + ", median over runs; best peer: the peer with the highest median "
          "(tung tungstenite, fws fastwebsockets, tws tokio-websockets).\n")
    groups = sorted({g for p in profiles for r in by_profile[p] for g in r if g != "_ratio"})
    for group in groups:
        sizes = sorted({s for p in profiles for r in by_profile[p]
                        for c in r.get(group, {}).values() for s in c}, key=int)
        ratio_heads = [f"{'**' if o == 'rfc6455' else ''}{TITLES[o]} ÷ best peer, `{p}`"
                       f"{'**' if o == 'rfc6455' else ''}" for o in OURS for p in profiles]
        print(f"#### `{group}`\n")
        print("| size | " + " | ".join(TITLES[c] for c in CONTENDERS) + " | "
              + " | ".join(ratio_heads) + " | best peer |")
        print("|---:|" + "---:|" * (len(CONTENDERS) + len(ratio_heads)) + "---|")
        for size in sizes:
            cells = []
            for contender in CONTENDERS:
                parts = []
                for p in profiles:
                    g = median_or_none([gbs(r[group][contender][size]) for r in by_profile[p]
                                        if size in r.get(group, {}).get(contender, {})])
                    parts.append("–" if g is None else f"{g:.2f} ({g * 1e3 / int(size):.2f})")
                cells.append(" / ".join(parts))
            ratios = []
            for ours in OURS:
                for p in profiles:
                    rs = [x for x in (run_ratio(r, group, ours, size) for r in by_profile[p])
                          if x is not None]
                    m = median_or_none(rs)
                    text = "–" if m is None else f"{m:.2f}"
                    ratios.append(f"**{text}**" if ours == "rfc6455" else text)
            best = []
            for p in profiles:
                med = {c: median_or_none([gbs(r[group][c][size]) for r in by_profile[p]
                                          if size in r.get(group, {}).get(c, {})])
                       for c in PEERS}
                med = {c: v for c, v in med.items() if v is not None}
                best.append(SHORT[max(med, key=med.get)] if med else "–")
            print(f"| {fmt_size(size)} | " + " | ".join(cells) + " | " + " | ".join(ratios)
                  + " | " + " / ".join(best) + " |")
        print()


def main():
    args = sys.argv[1:]
    interleaved = "--interleaved" in args
    args = [a for a in args if a != "--interleaved"]
    if len(args) < 2 or args[0] not in ("snapshot", "table", "clear"):
        sys.exit(__doc__)
    cmd, bench, profiles = args[0], args[1], args[2:]
    if any(p not in PROFILES for p in profiles):
        sys.exit(f"profiles are {' and '.join(PROFILES)}, not {profiles}")
    profile = profiles[0] if len(profiles) == 1 else None
    if cmd in ("snapshot", "clear") and profile is None:
        sys.exit(f"{cmd} needs one profile: {' or '.join(PROFILES)}")
    if cmd == "snapshot":
        os.makedirs(os.path.dirname(runs_path(bench, profile)), exist_ok=True)
        with open(runs_path(bench, profile), "a") as f:
            f.write(json.dumps(read_current(bench, profile)) + "\n")
    elif cmd == "clear":
        path = runs_path(bench, profile, interleaved)
        if os.path.exists(path):
            os.remove(path)
    else:
        table(bench, interleaved, profiles or PROFILES)


if __name__ == "__main__":
    main()
