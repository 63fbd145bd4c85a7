#!/usr/bin/env bash
# Builds every fuzz target and runs each for a bounded time.
#
#   fuzz/run.sh [SECONDS] [TARGET...]
#
# SECONDS per target (default 30); TARGETs default to all of them. Each run
# starts from fuzz/seeds/<target>/ (committed) and fuzz/corpus/<target>/
# (gitignored, grows from run to run), with a 512 MB memory bound (running
# out of memory is a bug) and a max input length suited to the target.
# Exits non-zero if any target crashed, leaked, ran out of memory or timed
# out; the input is in fuzz/artifacts/<target>/ and the log in
# fuzz/logs/<target>.log. Installs cargo-fuzz (and the nightly toolchain it
# needs) when missing. Known bugs in src/ that a target tolerates (see
# README.md) fail it again with RFC6455_FUZZ_STRICT=1 in the environment.
set -euo pipefail
cd "$(dirname "$0")"

secs=${1:-30}
shift || true
all=(frame_header mask handshake_request handshake_response connection connection_frames deflate_negotiate)
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=("${all[@]}")

# Inputs longer than this are never generated (seeds are cut to it).
max_len() {
    case $1 in
        frame_header) echo 64 ;;                   # a header is at most 14 bytes
        mask) echo 4096 ;;                         # covers every length/offset/alignment mix
        handshake_request | handshake_response) echo 10240 ;; # past the 8 KiB head limit
        connection) echo 20000 ;;                  # 16 KiB messages, 4 KiB frames, plus the script
        connection_frames) echo 4096 ;;            # up to 256 ops
        deflate_negotiate) echo 4096 ;;            # offers and a response, text
        *) echo 4096 ;;
    esac
}

if ! rustup toolchain list | grep -q '^nightly'; then
    rustup toolchain install nightly --profile minimal
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi

cargo +nightly fuzz build
mkdir -p logs

failed=()
for t in "${targets[@]}"; do
    mkdir -p "corpus/$t"
    printf '\n==> %s for %ss\n' "$t" "$secs"
    if cargo +nightly fuzz run "$t" "corpus/$t" "seeds/$t" -- \
        -max_total_time="$secs" -rss_limit_mb=512 -max_len="$(max_len "$t")" \
        -timeout=10 -print_final_stats=1 >"logs/$t.log" 2>&1; then
        status=ok
    else
        status=FAILED
        failed+=("$t")
        grep -E -A12 'panicked at|ERROR: libFuzzer|ERROR: AddressSanitizer|SUMMARY' "logs/$t.log" | head -40 || true
    fi
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "logs/$t.log" | grep -o '[0-9]*$' || echo '?')
    cov=$(grep -E '^#[0-9]+.*cov:' "logs/$t.log" | tail -1 | grep -o 'cov: [0-9]*' || true)
    printf '%s: %s, %s executions, %s\n' "$t" "$status" "$execs" "$cov"
done

if [ ${#failed[@]} -gt 0 ]; then
    printf '\nfuzz targets failed: %s (see fuzz/logs/ and fuzz/artifacts/)\n' "${failed[*]}" >&2
    exit 1
fi
printf '\nall fuzz targets ran clean\n'
