#!/usr/bin/env bash
# Installs the third-party WebSocket peers that tests/interop.rs runs against:
# Python `websockets` (pip, pinned in requirements.txt) and Node `ws` (npm ci
# from the committed package-lock.json into tests/peers/node_modules); and
# Python `wsproto` (pinned in requirements.txt), the reference that
# tests/differential.rs compares our Connection with.
#
# Idempotent and quick: each install is skipped when the pinned version is
# already there. Any failure stops the script with a non-zero status.
#
#   bash tests/peers/setup.sh
set -euo pipefail
cd "$(dirname "$0")"

say() { printf 'peers: %s\n' "$*"; }
die() { printf 'peers: ERROR: %s\n' "$*" >&2; exit 1; }

command -v python3 >/dev/null || die "python3 not found (needed for the Python websockets peer)"
command -v node >/dev/null || die "node not found (needed for the Node ws peer)"
command -v npm >/dev/null || die "npm not found (needed to install the Node ws peer)"

# --- Python: websockets ------------------------------------------------------
want_py=$(sed -n 's/^websockets==\([^[:space:]]*\).*/\1/p' requirements.txt)
[ -n "$want_py" ] || die "requirements.txt pins no websockets version"
have_py=$(python3 -c 'import websockets; print(websockets.__version__)' 2>/dev/null || true)
if [ "$have_py" = "$want_py" ]; then
    say "python websockets $have_py already installed"
else
    say "installing python websockets $want_py (had: ${have_py:-none})"
    # Root on CI machines: silence pip's warning about it, nothing else.
    PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore \
        python3 -m pip install --quiet -r requirements.txt \
        || die "pip install -r tests/peers/requirements.txt failed"
    have_py=$(python3 -c 'import websockets; print(websockets.__version__)') \
        || die "websockets installed but cannot be imported"
    [ "$have_py" = "$want_py" ] || die "expected websockets $want_py, python3 imports $have_py"
    say "python websockets $have_py installed"
fi

# --- Python: wsproto (tests/differential.rs) ---------------------------------
want_wsp=$(sed -n 's/^wsproto==\([^[:space:]]*\).*/\1/p' requirements.txt)
[ -n "$want_wsp" ] || die "requirements.txt pins no wsproto version"
have_wsp=$(python3 -c 'import wsproto; print(wsproto.__version__)' 2>/dev/null || true)
if [ "$have_wsp" = "$want_wsp" ]; then
    say "python wsproto $have_wsp already installed"
else
    say "installing python wsproto $want_wsp (had: ${have_wsp:-none})"
    PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore \
        python3 -m pip install --quiet -r requirements.txt \
        || die "pip install -r tests/peers/requirements.txt failed"
    have_wsp=$(python3 -c 'import wsproto; print(wsproto.__version__)') \
        || die "wsproto installed but cannot be imported"
    [ "$have_wsp" = "$want_wsp" ] || die "expected wsproto $want_wsp, python3 imports $have_wsp"
    say "python wsproto $have_wsp installed"
fi

# --- Node: ws ----------------------------------------------------------------
want_ws=$(node -p 'require("./package-lock.json").packages["node_modules/ws"].version') \
    || die "cannot read the ws version from package-lock.json"
have_ws=$(node -p 'require("./node_modules/ws/package.json").version' 2>/dev/null || true)
if [ "$have_ws" = "$want_ws" ]; then
    say "node ws $have_ws already installed in tests/peers/node_modules"
else
    say "installing node ws $want_ws with npm ci (had: ${have_ws:-none})"
    npm ci --no-audit --no-fund --loglevel=error \
        || die "npm ci in tests/peers failed"
    have_ws=$(node -p 'require("ws/package.json").version') \
        || die "ws installed but cannot be required"
    [ "$have_ws" = "$want_ws" ] || die "expected ws $want_ws, node requires $have_ws"
    say "node ws $have_ws installed"
fi
