#!/usr/bin/env bash
# The whole test suite, from a fresh checkout on a fresh machine.
# README.md gives this command; .ci/run calls exactly it.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

# The optional adapters and integrations: tests behind `required-features`
# run only with these on, so the suite turns them all on (but not no-simd).
ADAPTERS="tokio,http,hyper,axum,rustls-tls-webpki-roots,rustls-tls-native-roots"

step "format"
cargo fmt --all -- --check

step "lints (all features, then the default set: --all-features includes no-simd, which hides the SIMD paths)"
cargo clippy --all-targets --all-features -- -D warnings
cargo clippy --all-targets -- -D warnings

step "docs"
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --all-features

step "no_std core builds without the std feature"
cargo build --no-default-features --lib

step "third-party peers for the interop tests (Python websockets, Node ws)"
bash tests/peers/setup.sh

step "headless Chromium and playwright-core for the browser tests"
bash tests/browser/setup.sh

step "redis-server from Debian for the chat across processes (tests/chat_redis.rs)"
bash tests/redis/setup.sh

step "Autobahn|Testsuite (wstest 0.8.2 on a private Python 2.7 from Debian bullseye) for tests/autobahn.rs"
bash tests/autobahn/setup.sh

step "unit, integration, example and doc tests (default features: std, deflate, SIMD; plus the adapters' features, so no test is skipped)"
cargo test --features "$ADAPTERS"

step "every benchmark once, untimed (criterion's test mode checks each contender's output), so none can rot"
cargo test --benches
# Benches behind an adapter feature (skipped by the line above): the quick check.
cargo test --features axum --bench chat_redis
cargo test --benches --manifest-path benches/peers/Cargo.toml
# The vote board's transports harness (needs axum): its quick mode, about
# 6 s, fails if a transport stops delivering every vote to every watcher.
cargo test --features axum --bench transports

step "the scalar fallback alone (SIMD masking off)"
cargo test --features no-simd --lib frame::mask

step "Miri over the unsafe masking code (every path, lengths 0-100 and up to 320, chosen alignments, 4 KiB)"
if ! rustup component list --toolchain nightly --installed 2>/dev/null | grep -q '^miri'; then
    rustup +nightly component add miri rust-src
fi
cargo +nightly miri test --lib frame::mask

step "Miri over the other unsafe code: Utf8Bytes::as_str on received and constructed text (about 15 s)"
miri_out=$(cargo +nightly miri test --test zero_copy -- utf8_bytes_accepts a_large_text_payload 2>&1) || { echo "$miri_out"; exit 1; }
echo "$miri_out" | tail -4
# A renamed test would match nothing and pass silently: require both.
grep -q "test result: ok. 2 passed" <<<"$miri_out" || { echo "Miri ran the wrong tests"; exit 1; }

step "fuzz targets, 20 s each (installs cargo-fuzz if missing; see fuzz/README.md)"
bash fuzz/run.sh 20
