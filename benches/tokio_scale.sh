#!/usr/bin/env bash
# The scale run of issue 12: CONNS idle WebSocket connections to
# examples/tokio_echo_server.rs (release build, one process, tokio's
# multi-threaded runtime with a worker per core) while one more client
# plays ping-pong with 16-byte messages; reports the server's resident
# memory per idle connection and the prober's round-trip p50/p99, and
# checks p99 < P99_LIMIT_US (default 10,000 µs).
#
#   bash benches/tokio_scale.sh                  # 50,000 idle connections
#   CONNS=19000 bash benches/tokio_scale.sh      # what a 20,000-descriptor limit allows
#
# The idle connections come from CLIENTS processes of
# benches/peers/src/bin/echo_load.rs (idle mode: each connection echoes one
# message, then stays silent), at most PER_CLIENT (default 19,000) each so
# that each fits in a 20,000-descriptor limit, bound to the source addresses
# 127.0.0.2, 127.0.0.3, ... (--sources: one address's ephemeral ports, about
# 28,000, do not reach 50,000). The server needs CONNS + 100 descriptors:
# the script checks `ulimit -n` first and says what to do when it is lower
# (the hard limit can only be raised by root outside a container: e.g.
# `ulimit -Hn 65536` as root, or LimitNOFILE= in a systemd unit).
#
# Bounded: connecting has CONNECT_DEADLINE seconds (default 180), the probe
# PROBE_SECS (default 5); the idle clients hold their connections HOLD
# seconds (default 240) at most and are ended by PID as soon as the probe is
# done; the server (keepalive pings only after 600 s, so none interferes) is
# ended by PID at the end. Loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."

CONNS=${CONNS:-50000}
PER_CLIENT=${PER_CLIENT:-19000}
PROBE_SECS=${PROBE_SECS:-5}
CONNECT_DEADLINE=${CONNECT_DEADLINE:-180}
HOLD=${HOLD:-240}
P99_LIMIT_US=${P99_LIMIT_US:-10000}

need=$((CONNS + 100))
have=$(ulimit -n)
if [[ "$have" != unlimited ]] && (( have < need )); then
    if (( $(ulimit -Hn) >= need )); then
        ulimit -n "$need"
    else
        echo "tokio_scale: the server needs $need open files, this shell allows $have (hard limit $(ulimit -Hn));" >&2
        echo "  raise it as root (ulimit -Hn $need; ulimit -n $need) or run CONNS=$(( $(ulimit -Hn) - 1000 )) $0" >&2
        exit 2
    fi
fi
clients=$(( (CONNS + PER_CLIENT - 1) / PER_CLIENT ))
sources=${SOURCES:-$(( (CONNS + 24999) / 25000 ))}

echo "==> building the server and the load generator (release)"
cargo build --quiet --release --features tokio --example tokio_echo_server
cargo build --quiet --release --manifest-path benches/peers/Cargo.toml --bin echo_load
server_bin=target/release/examples/tokio_echo_server
load_bin=benches/peers/target/release/echo_load

work=$(mktemp -d)
pids=()
server_pid=
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    if [[ -n "$server_pid" ]]; then kill "$server_pid" 2>/dev/null || true; fi
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

"$server_bin" --addr 127.0.0.1:0 --max-connections $((CONNS + 10)) --ping-after 600 \
    >"$work/server.out" 2>"$work/server.err" &
server_pid=$!
for _ in $(seq 100); do
    grep -q listening "$work/server.out" 2>/dev/null && break
    sleep 0.1
done
addr=$(sed -n 's|.*ws://\([0-9.:]*\)/ws.*|\1|p' "$work/server.out")
[[ -n "$addr" ]] || { echo "tokio_scale: the server did not start" >&2; cat "$work/server.err" >&2; exit 1; }

rss() { awk '/^VmRSS/ {print $2}' "/proc/$server_pid/status"; }
fds() { find "/proc/$server_pid/fd" -mindepth 1 -maxdepth 1 | wc -l; }
base_fds=$(fds)
rss_before=$(rss)

echo "==> $CONNS idle connections from $clients client processes over $sources source addresses"
start=$(date +%s)
left=$CONNS
for c in $(seq "$clients"); do
    n=$(( left < PER_CLIENT ? left : PER_CLIENT ))
    left=$((left - n))
    "$load_bin" --addr "$addr" --server-pid "$server_pid" --idle "$n" --settle "$HOLD" \
        --sources "$sources" >"$work/idle$c.out" 2>&1 &
    pids+=($!)
done
while (( $(fds) - base_fds < CONNS )); do
    if (( $(date +%s) - start > CONNECT_DEADLINE )); then
        echo "tokio_scale: only $(( $(fds) - base_fds )) of $CONNS connected in ${CONNECT_DEADLINE} s" >&2
        cat "$work"/idle*.out >&2
        exit 1
    fi
    for pid in "${pids[@]}"; do
        if ! kill -0 "$pid" 2>/dev/null; then
            echo "tokio_scale: an idle client ended early:" >&2
            cat "$work"/idle*.out >&2
            exit 1
        fi
    done
    sleep 1
done
connected_in=$(( $(date +%s) - start ))
sleep 2 # the last echoes and handshakes settle
rss_after=$(rss)
threads=$(awk '/^Threads/ {print $2}' "/proc/$server_pid/status")

echo "==> probe: one client echoing 16 B for $PROBE_SECS s beside them"
probe=$("$load_bin" --addr "$addr" --server-pid "$server_pid" --conns 1 --size 16 \
    --secs "$PROBE_SECS" --warmup 0.5)
rss_probe=$(rss)
p50=$(sed -n 's/.* p50_us=\([0-9.]*\).*/\1/p' <<<"$probe")
p99=$(sed -n 's/.* p99_us=\([0-9.]*\).*/\1/p' <<<"$probe")
rate=$(sed -n 's/.* msgs_per_s=\([0-9.]*\).*/\1/p' <<<"$probe")

per_conn=$(awk -v a="$rss_after" -v b="$rss_before" -v n="$CONNS" 'BEGIN {printf "%.2f", (a - b) * 1024 / n}')
echo
echo "| idle connections | connected in | server RSS before → after | per idle connection | server threads | probe msgs/s | probe p50 / p99 |"
echo "|---:|---:|---:|---:|---:|---:|---:|"
printf '| %s | %s s | %s → %s KiB | %s B | %s | %s | %s / %s µs |\n' \
    "$CONNS" "$connected_in" "$rss_before" "$rss_after" "$per_conn" "$threads" "$rate" "$p50" "$p99"
echo "(RSS after the probe: $rss_probe KiB)"
if awk -v p="$p99" -v l="$P99_LIMIT_US" 'BEGIN {exit !(p < l)}'; then
    echo "p99 $p99 µs < $P99_LIMIT_US µs: OK"
else
    echo "p99 $p99 µs is not under $P99_LIMIT_US µs: FAILED" >&2
    exit 1
fi
