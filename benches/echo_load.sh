#!/usr/bin/env bash
# Echo load over loopback (issue 5): our blocking `examples/echo_server`
# beside a tungstenite blocking thread-per-connection echo server
# (benches/peers/src/bin/tungstenite_echo_server.rs), driven by
# benches/peers/src/bin/echo_load.rs.
#
#   bash benches/echo_load.sh            # the full matrix, about 5 minutes
#   SECS=1 REPEAT=1 bash benches/echo_load.sh   # a quick look, about 1 minute
#
# Matrix: 1, 64 and 1000 connections x 16 B, 1 KiB and 64 KiB binary
# ping-pong (one message in flight per connection), SECS seconds measured
# per cell after WARMUP seconds, REPEAT times (servers alternate in each
# round; a fresh server process per cell). Then resident memory per idle
# connection: a fresh server, IDLE connections that each echo one message
# and stay open. Every run stops by itself; the script only ends the server
# processes it started, by PID.
#
# Prints markdown tables (medians over the rounds) with ratios ours /
# tungstenite, and keeps the raw lines in
# benches/peers/target/echo_load/raw-<date>.txt.
set -euo pipefail

SECS=${SECS:-3}
WARMUP=${WARMUP:-0.5}
REPEAT=${REPEAT:-3}
CONNS=${CONNS:-"1 64 1000"}
SIZES=${SIZES:-"16 1024 65536"}
IDLE=${IDLE:-1000}

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
peers=benches/peers/target/release
out_dir=benches/peers/target/echo_load
mkdir -p "$out_dir"
raw="$out_dir/raw-$(date -u +%Y%m%dT%H%M%SZ).txt"

echo "building (release)..." >&2
cargo build --release --quiet --example echo_server
(cd benches/peers && cargo build --release --quiet --bin echo_load --bin tungstenite_echo_server)

ours_args=()
# Compression must be off on both sides. Ours has it off unless --deflate
# is given; if a --no-deflate flag exists, pass it to be explicit.
if target/release/examples/echo_server --help 2>&1 | grep -q -- '--no-deflate'; then
    ours_args+=(--no-deflate)
fi

# 1000 connections need 1000+ descriptors in each process.
ulimit -n 8192 2>/dev/null || ulimit -n "$(ulimit -Hn)"

server_pid=
cleanup() {
    if [[ -n "$server_pid" ]]; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
}
trap cleanup EXIT

# start_server NAME: starts a fresh server on a free loopback port; sets
# server_pid and addr.
start_server() {
    local log="$out_dir/$1.stdout"
    : >"$log"
    case "$1" in
        rfc6455) target/release/examples/echo_server --addr 127.0.0.1:0 "${ours_args[@]}" \
                     >"$log" 2>>"$out_dir/rfc6455.stderr" & ;;
        tungstenite) "$peers/tungstenite_echo_server" --addr 127.0.0.1:0 \
                     >"$log" 2>>"$out_dir/tungstenite.stderr" & ;;
    esac
    server_pid=$!
    addr=
    for _ in $(seq 100); do
        addr=$(sed -n 's#.*ws://\([^/]*\)/ws.*#\1#p' "$log")
        [[ -n "$addr" ]] && break
        sleep 0.05
    done
    [[ -n "$addr" ]] || { echo "$1 did not start" >&2; exit 1; }
}

stop_server() {
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    server_pid=
}

{
    echo "# date $(date -u +%Y-%m-%dT%H:%MZ) head $(git rev-parse --short HEAD)" \
         "cpu '$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)' nproc $(nproc)"
    echo "# load at start: $(cut -d' ' -f1-3 /proc/loadavg)"
} | tee "$raw" >&2

for round in $(seq "$REPEAT"); do
    for conns in $CONNS; do
        for size in $SIZES; do
            # Alternate which server goes first from round to round.
            if (( round % 2 )); then order="rfc6455 tungstenite"; else order="tungstenite rfc6455"; fi
            for server in $order; do
                start_server "$server"
                line=$("$peers/echo_load" --addr "$addr" --server-pid "$server_pid" \
                       --conns "$conns" --size "$size" --secs "$SECS" --warmup "$WARMUP")
                stop_server
                echo "server=$server round=$round $line" | tee -a "$raw" >&2
            done
        done
    done
done
for server in rfc6455 tungstenite; do
    start_server "$server"
    sleep 0.3
    line=$("$peers/echo_load" --addr "$addr" --server-pid "$server_pid" --idle "$IDLE")
    stop_server
    echo "server=$server $line" | tee -a "$raw" >&2
done
echo "# load at end: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$raw" >&2

python3 - "$raw" <<'EOF'
import statistics, sys
runs, idle, notes = {}, {}, []
for line in open(sys.argv[1]):
    if line.startswith("#"):
        notes.append(line[2:].strip()); continue
    kv = dict(f.split("=", 1) for f in line.split())
    if "idle_conns" in kv:
        idle[kv["server"]] = kv; continue
    runs.setdefault((int(kv["conns"]), int(kv["size"]), kv["server"]), []).append(kv)
med = lambda rs, k: statistics.median(float(r[k]) for r in rs)
print("\n".join(f"<!-- {n} -->" for n in notes))
print()
print("| conns | size | rfc6455 msg/s | tungstenite msg/s | **ratio** | rfc6455 p50 / p99 µs | tungstenite p50 / p99 µs | rfc6455 server CPU µs/msg | tungstenite server CPU µs/msg | **ratio** | client CPU µs/msg (ours / tung.) |")
print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for (conns, size) in sorted({(c, s) for c, s, _ in runs}):
    o, t = runs.get((conns, size, "rfc6455")), runs.get((conns, size, "tungstenite"))
    if not o or not t: continue
    size_s = f"{size // 1024} KiB" if size >= 1024 else f"{size} B"
    print(f"| {conns} | {size_s} | {med(o,'msgs_per_s'):,.0f} | {med(t,'msgs_per_s'):,.0f} | "
          f"**{med(o,'msgs_per_s')/med(t,'msgs_per_s'):.2f}** | "
          f"{med(o,'p50_us'):.0f} / {med(o,'p99_us'):.0f} | {med(t,'p50_us'):.0f} / {med(t,'p99_us'):.0f} | "
          f"{med(o,'server_cpu_us_per_msg'):.1f} | {med(t,'server_cpu_us_per_msg'):.1f} | "
          f"**{med(o,'server_cpu_us_per_msg')/med(t,'server_cpu_us_per_msg'):.2f}** | "
          f"{med(o,'client_cpu_us_per_msg'):.1f} / {med(t,'client_cpu_us_per_msg'):.1f} |")
if idle:
    print()
    print("| server | idle connections | RSS before → after (KiB) | **KiB per idle connection** | threads |")
    print("|---|---:|---:|---:|---:|")
    for name in ("rfc6455", "tungstenite"):
        if name in idle:
            r = idle[name]
            print(f"| {name} | {r['idle_conns']} | {r['rss_before_kib']} → {r['rss_after_kib']} | "
                  f"**{r['kib_per_conn']}** | {r['threads_after']} |")
    if "rfc6455" in idle and "tungstenite" in idle:
        ratio = float(idle["rfc6455"]["kib_per_conn"]) / float(idle["tungstenite"]["kib_per_conn"])
        print(f"\nRSS per idle connection, ours / tungstenite: {ratio:.2f}")
n = max((len(v) for v in runs.values()), default=0)
print(f"\nMedians over {n} round(s); raw lines in {sys.argv[1]}")
EOF
