#!/usr/bin/env bash
# Echo load over loopback for the async adapter (issue 12): our tokio server
# beside fastwebsockets, tokio-websockets and tokio-tungstenite servers built
# the same way (benches/peers/src/bin/*_echo_server.rs, sharing the runtime
# and accept loop of benches/peers/src/echo_server.rs: tokio multi-thread,
# THREADS workers, one task per connection, TCP_NODELAY, no compression),
# driven by benches/peers/src/bin/echo_load.rs.
#
#   bash benches/tokio_echo_load.sh            # the full grid, about 9 minutes
#   bash benches/tokio_echo_load.sh --quick    # one short round, under 2 minutes
#   bash benches/tokio_echo_load.sh --report RAW   # the tables of a kept run
#   ROUNDS="1" bash benches/tokio_echo_load.sh --report RAW   # of some rounds
#
# Grid: 1, 64, 1000 and 10000 connections x 16 B, 1 KiB and 64 KiB binary
# ping-pong (closed loop: each connection has one message in flight and
# sends the next when the echo is back), SECS seconds measured per cell
# after WARMUP seconds, REPEAT rounds. Each round runs every cell for every
# server, interleaved: for each cell the four servers one after another, in
# an order that rotates from round to round, each a fresh process. Then,
# per round, a fresh server of each kind with IDLE connections that each
# echo one message and stay open: resident memory per idle connection.
#
# In-flight bytes are bounded by MAX_INFLIGHT_BYTES (default 64 MiB): a
# cell with conns x size above it keeps only MAX_INFLIGHT_BYTES / size
# messages in flight at once (echo_load --inflight), the other connections
# waiting their turn. Of the default grid only 10000 x 64 KiB is bounded
# (1024 in flight rather than 10000, i.e. 64 MiB rather than 640 MiB each
# way); its row says so.
#
# THREADS (default 1) is each server's worker-thread count: on this 2-core
# machine the load generator (one thread) gets the other core. With PIN=1
# (the default when THREADS=1 and there are 2 CPUs or more) the server is
# pinned to CPU 1 and the generator to CPU 0 (taskset), so that neither
# preempts the other when it wakes it and no run migrates between cores;
# PIN=0 leaves placement to the scheduler. The generator and server still
# share the machine (and the kernel's loopback work is charged to whichever
# of them is on the CPU), so messages/s is a property of the pair; server
# CPU per message is the server's alone.
#
# TLS=1: the same cells over TLS (issue 15): every server accepts through
# tokio-rustls with one ring-provider ServerConfig and a self-signed
# certificate generated at its start (benches/peers/src/echo_server.rs
# --tls), the generator is a rustls client (echo_load --tls); the binaries
# are built with the benches' feature `tls` (off by default, so that
# tests/run.sh builds no TLS stack for benches/peers). Only our
# server and tokio-tungstenite (whose rustls features put the same
# tokio-rustls stream under it) run; no idle-memory rounds. For what TLS
# costs, compare with a plain run of the same cells:
#
#   TLS=1 CONNS=64 SIZES="16 65536" bash benches/tokio_echo_load.sh
#   CONNS=64 SIZES="16 65536" IDLE=0 bash benches/tokio_echo_load.sh
#
# Every run stops by itself (echo_load has a fixed window and a 10 s
# deadline for the echoes in flight); the script only ends the server
# processes it started, by PID. Prints markdown tables (medians over the
# rounds, ratios ours / best peer of the medians) and keeps the raw lines in
# benches/peers/target/tokio_echo_load/raw-<date>.txt.
set -euo pipefail

report_only=
if [[ "${1:-}" == "--quick" ]]; then
    SECS=${SECS:-0.5}
    WARMUP=${WARMUP:-0.2}
    REPEAT=${REPEAT:-1}
    shift
elif [[ "${1:-}" == "--report" && -n "${2:-}" ]]; then
    report_only=$(realpath "$2")
    shift 2
fi
if [[ $# -gt 0 ]]; then
    echo "usage: $0 [--quick | --report RAW]   (settings through the environment: see the header)" >&2
    exit 2
fi
SECS=${SECS:-2}
WARMUP=${WARMUP:-0.5}
REPEAT=${REPEAT:-3}
CONNS=${CONNS:-"1 64 1000 10000"}
SIZES=${SIZES:-"16 1024 65536"}
IDLE=${IDLE:-10000}
THREADS=${THREADS:-1}
MAX_INFLIGHT_BYTES=${MAX_INFLIGHT_BYTES:-$((64 * 1024 * 1024))}
if [[ -z "${PIN:-}" ]]; then
    PIN=0
    if [[ "$THREADS" == 1 ]] && (( $(nproc) >= 2 )) && command -v taskset >/dev/null; then PIN=1; fi
fi
server_cpu=() client_cpu=()
if [[ "$PIN" == 1 ]]; then server_cpu=(taskset -c 1) client_cpu=(taskset -c 0); fi
SERVERS=(rfc6455 fastwebsockets tokio-websockets tokio-tungstenite)
TLS=${TLS:-0}
tls_flag=()
if [[ "$TLS" == 1 ]]; then
    SERVERS=(rfc6455 tokio-tungstenite)
    tls_flag=(--tls)
    IDLE=0
fi

# report RAW: the markdown tables of a run's raw lines.
report() {
python3 - "$1" "${SERVERS[@]}" <<'EOF'
import statistics, sys
raw, servers = sys.argv[1], sys.argv[2:]
ours, peers = servers[0], servers[1:]
runs, idle, notes = {}, {}, []
import os
rounds = set(os.environ.get("ROUNDS", "").split())
for line in open(raw):
    if line.startswith("#"):
        notes.append(line[2:].strip()); continue
    kv = dict(f.split("=", 1) for f in line.split())
    if rounds and kv.get("round") not in rounds:
        continue
    if "idle_conns" in kv:
        idle.setdefault(kv["server"], []).append(kv); continue
    runs.setdefault((int(kv["conns"]), int(kv["size"])), {}).setdefault(kv["server"], []).append(kv)

def med(rs, k):
    return statistics.median(float(r[k]) for r in rs)
def size_s(size):
    return f"{size // 1024} KiB" if size >= 1024 else f"{size} B"
def cell_s(conns, size, by):
    inflight = {r["inflight"] for rs in by.values() for r in rs}
    note = f" ({'/'.join(sorted(inflight))} in flight)" if inflight != {str(conns)} else ""
    return f"| {conns:,}{note} | {size_s(size)} |"
cells = sorted(runs)
head = " | ".join(servers)
print("\n".join(f"<!-- {n} -->" for n in notes))

print("\n**Messages/s** (ratio: ours ÷ the best peer)\n")
print(f"| conns | size | {head} | **ours ÷ best** |")
print("|---:|---:|" + "---:|" * len(servers) + "---:|")
for c in cells:
    by = runs[c]
    vals = {s: med(by[s], "msgs_per_s") for s in servers if s in by}
    best = max((vals[p] for p in peers if p in vals), default=float("nan"))
    cols = " | ".join(f"{vals[s]:,.0f}" if s in vals else "–" for s in servers)
    ratio = vals.get(ours, float("nan")) / best
    print(f"{cell_s(*c, by)} {cols} | **{ratio:.2f}** |")

print("\n**Round trip p50 / p99, µs**\n")
print(f"| conns | size | {head} |")
print("|---:|---:|" + "---:|" * len(servers))
for c in cells:
    by = runs[c]
    cols = " | ".join(f"{med(by[s],'p50_us'):,.0f} / {med(by[s],'p99_us'):,.0f}" if s in by else "–"
                      for s in servers)
    print(f"{cell_s(*c, by)} {cols} |")

print("\n**Server CPU per message, µs** (utime + stime of the server process over the window; ratio: ours ÷ the lowest peer)\n")
print(f"| conns | size | {head} | **ours ÷ best** | server CPU % (ours) |")
print("|---:|---:|" + "---:|" * len(servers) + "---:|---:|")
for c in cells:
    by = runs[c]
    vals = {s: med(by[s], "server_cpu_us_per_msg") for s in servers if s in by}
    best = min((vals[p] for p in peers if p in vals), default=float("nan"))
    cols = " | ".join(f"{vals[s]:.2f}" if s in vals else "–" for s in servers)
    pct = med(by[ours], "server_cpu_pct") if ours in by else float("nan")
    print(f"{cell_s(*c, by)} {cols} | **{vals.get(ours, float('nan')) / best:.2f}** | {pct:.0f} |")

print("\n**Load generator CPU per message, µs** (context: the other core), "
      "and TCP segments retransmitted / backlog drops during each run (system-wide)\n")
print(f"| conns | size | {head} | {' | '.join(s + ' retr. / drops' for s in servers)} |")
print("|---:|---:|" + "---:|" * (2 * len(servers)))
for c in cells:
    by = runs[c]
    cols = " | ".join(f"{med(by[s],'client_cpu_us_per_msg'):.2f}" if s in by else "–" for s in servers)
    net = " | ".join(f"{med(by[s],'retrans'):,.0f} / {med(by[s],'drops'):,.0f}" if s in by else "–"
                     for s in servers)
    print(f"{cell_s(*c, by)} {cols} | {net} |")

if idle:
    print("\n**Resident memory per idle connection** (VmRSS after − before, ÷ connections; medians)\n")
    print("| server | idle connections | RSS before → after (KiB) | **KiB per idle connection** | threads | ÷ ours |")
    print("|---|---:|---:|---:|---:|---:|")
    per = {s: med(idle[s], "kib_per_conn") for s in servers if s in idle}
    for s in servers:
        if s not in idle: continue
        rs = idle[s]
        rel = per[s] / per[ours] if ours in per else float("nan")
        print(f"| {s} | {rs[0]['idle_conns']} | {med(rs,'rss_before_kib'):,.0f} → {med(rs,'rss_after_kib'):,.0f} | "
              f"**{per[s]:.2f}** | {rs[0]['threads_after']} | {rel:.1f} |")
n = max((len(v) for by in runs.values() for v in by.values()), default=0)
which = f" (rounds {' '.join(sorted(rounds))} only)" if rounds else ""
print(f"\nMedians over {n} round(s){which}; raw lines in {raw}")
EOF
}

if [[ -n "$report_only" ]]; then
    report "$report_only"
    exit 0
fi

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bin=benches/peers/target/release
out_dir=benches/peers/target/tokio_echo_load
mkdir -p "$out_dir"
raw="$out_dir/$([[ "$TLS" == 1 ]] && echo tls-)raw-$(date -u +%Y%m%dT%H%M%SZ).txt"

echo "building (release)..." >&2
features=()
[[ "$TLS" == 1 ]] && features=(--features tls)
(cd benches/peers && cargo build --release --quiet "${features[@]}" --bin echo_load \
    --bin rfc6455_tokio_echo_server --bin fastwebsockets_echo_server \
    --bin tokio_websockets_echo_server --bin tokio_tungstenite_echo_server)

# 10,000 connections need 10,000+ descriptors in the generator and in each
# server (this machine's hard limit is 20,000). One source address is
# enough: 10,000 is well inside the ephemeral port range.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
max_conns=0
for n in $CONNS $IDLE; do (( n > max_conns )) && max_conns=$n; done
if (( $(ulimit -n) < max_conns + 100 )); then
    echo "ulimit -n is $(ulimit -n), below $max_conns + 100: raise the hard limit" >&2
    exit 1
fi

server_pid=
cleanup() {
    if [[ -n "$server_pid" ]]; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
}
trap cleanup EXIT

# start_server NAME: a fresh server on a free loopback port; sets
# server_pid and addr.
start_server() {
    local log="$out_dir/$1.stdout"
    : >"$log"
    "${server_cpu[@]}" "$bin/${1//-/_}${suffix[$1]}" --addr 127.0.0.1:0 --threads "$THREADS" "${tls_flag[@]}" \
        >"$log" 2>>"$out_dir/$1.stderr" &
    server_pid=$!
    addr=
    for _ in $(seq 100); do
        addr=$(sed -n 's#.*ws://\([^/]*\)/ws.*#\1#p' "$log")
        [[ -n "$addr" ]] && break
        sleep 0.05
    done
    [[ -n "$addr" ]] || { echo "$1 did not start" >&2; exit 1; }
}
declare -A suffix=([rfc6455]=_tokio_echo_server [fastwebsockets]=_echo_server
                   [tokio-websockets]=_echo_server [tokio-tungstenite]=_echo_server)

stop_server() {
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    server_pid=
}

# System-wide TCP segments retransmitted, and packets dropped from the
# per-CPU input backlog (net.core.netdev_max_backlog: loopback traffic
# goes through it), recorded around every run: both stall a closed loop for
# a retransmission timeout and make the tail latency.
retrans() {
    awk '/^Tcp:/ { if (!h) { for (i = 1; i <= NF; i++) if ($i == "RetransSegs") c = i; h = 1 } else print $c }' \
        /proc/net/snmp
}
drops() {
    local sum=0 d
    while read -r _ d _; do sum=$(( sum + 16#$d )); done </proc/net/softnet_stat
    echo "$sum"
}

# The servers in round r: SERVERS rotated by r - 1.
order() {
    local r=$(( ($1 - 1) % ${#SERVERS[@]} ))
    echo "${SERVERS[@]:r} ${SERVERS[@]:0:r}"
}

{
    echo "# date $(date -u +%Y-%m-%dT%H:%MZ) head $(git rev-parse --short HEAD)" \
         "($(git status --porcelain -- src Cargo.toml | wc -l) changed files in src/)" \
         "cpu '$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)' nproc $(nproc)" \
         "threads $THREADS pin $PIN secs $SECS warmup $WARMUP repeat $REPEAT tls $TLS"
    echo "# load at start: $(cut -d' ' -f1-3 /proc/loadavg)"
} | tee "$raw" >&2

started=$(date +%s)
for round in $(seq "$REPEAT"); do
    for conns in $CONNS; do
        for size in $SIZES; do
            inflight=$(( MAX_INFLIGHT_BYTES / size ))
            (( inflight > conns )) && inflight=$conns
            for server in $(order "$round"); do
                start_server "$server"
                load=$(cut -d' ' -f1 /proc/loadavg)
                r0=$(retrans) d0=$(drops)
                if line=$("${client_cpu[@]}" "$bin/echo_load" "${tls_flag[@]}" --addr "$addr" --server-pid "$server_pid" \
                          --conns "$conns" --size "$size" --inflight "$inflight" \
                          --secs "$SECS" --warmup "$WARMUP"); then
                    net="retrans=$(( $(retrans) - r0 )) drops=$(( $(drops) - d0 ))"
                    echo "server=$server round=$round load1=$load $net $line" | tee -a "$raw" >&2
                else
                    echo "# FAILED: server=$server round=$round conns=$conns size=$size" | tee -a "$raw" >&2
                fi
                stop_server
            done
        done
    done
    (( IDLE > 0 )) || continue
    for server in $(order "$round"); do
        start_server "$server"
        sleep 0.3
        if line=$("${client_cpu[@]}" "$bin/echo_load" --addr "$addr" --server-pid "$server_pid" --idle "$IDLE"); then
            echo "server=$server round=$round $line" | tee -a "$raw" >&2
        else
            echo "# FAILED: server=$server round=$round idle=$IDLE" | tee -a "$raw" >&2
        fi
        stop_server
    done
done
echo "# load at end: $(cut -d' ' -f1-3 /proc/loadavg); $(( $(date +%s) - started )) s" | tee -a "$raw" >&2

report "$raw"
