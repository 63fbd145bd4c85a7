#!/usr/bin/env bash
# Installs what tests/browser.rs needs to drive a real browser:
#
# * Debian's Chromium and its WebDriver (apt: chromium, chromium-driver),
#   only when /usr/bin/chromium or /usr/bin/chromedriver is missing; about
#   40 s on a fresh machine (apt-get update included).
# * Fonts with Chinese glyphs and color emoji (apt: fonts-wqy-microhei,
#   fonts-noto-color-emoji, 11 MB), only when missing, so the screenshots in
#   target/browser/ show the text the tests type instead of empty boxes.
# * Node `playwright-core` (npm ci from the committed package-lock.json into
#   tests/browser/node_modules), which drives /usr/bin/chromium over the
#   DevTools protocol. It never downloads a browser of its own: nothing here
#   runs `playwright install`.
#
# Then it starts headless Chromium once, the way the tests do, and loads a
# page, so a broken install fails here and not in the middle of a test.
#
# Idempotent: a second run installs nothing and takes about a second. Any
# failure stops the script with a non-zero status and says what failed.
#
#   bash tests/browser/setup.sh
set -euo pipefail
cd "$(dirname "$0")"

say() { printf 'browser: %s\n' "$*"; }
die() { printf 'browser: ERROR: %s\n' "$*" >&2; exit 1; }

command -v node >/dev/null || die "node not found (needed to run playwright-core)"
command -v npm >/dev/null || die "npm not found (needed to install playwright-core)"

# --- Debian packages: Chromium, its driver, fonts ---------------------------
packages=()
if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then
    packages+=(chromium chromium-driver)
fi
for font in fonts-wqy-microhei fonts-noto-color-emoji; do
    dpkg-query -W -f='${Status}' "$font" 2>/dev/null | grep -q 'install ok installed' \
        || packages+=("$font")
done
if [ ${#packages[@]} -eq 0 ]; then
    say "chromium, chromium-driver and fonts already installed"
else
    [ "$(id -u)" -eq 0 ] || die "need root to apt-get install ${packages[*]}"
    command -v apt-get >/dev/null || die "apt-get not found: install ${packages[*]} by hand"
    say "installing ${packages[*]} with apt-get (about 40 s for Chromium on a fresh machine)"
    started=$SECONDS
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq || die "apt-get update failed"
    apt-get install -y -qq "${packages[@]}" >/dev/null \
        || die "apt-get install ${packages[*]} failed"
    say "apt-get done in $((SECONDS - started)) s"
fi
[ -x /usr/bin/chromium ] || die "/usr/bin/chromium is still missing after apt-get install chromium"
[ -x /usr/bin/chromedriver ] || die "/usr/bin/chromedriver is still missing after apt-get install chromium-driver"
# The Debian launcher script prints a harmless shell warning on some
# machines; keep only the version line.
version=$(/usr/bin/chromium --version 2>/dev/null) || die "/usr/bin/chromium --version failed"
say "$version"

# --- Node: playwright-core ---------------------------------------------------
want=$(node -p 'require("./package-lock.json").packages["node_modules/playwright-core"].version') \
    || die "cannot read the playwright-core version from package-lock.json"
have=$(node -p 'require("./node_modules/playwright-core/package.json").version' 2>/dev/null || true)
if [ "$have" = "$want" ]; then
    say "playwright-core $have already installed in tests/browser/node_modules"
else
    say "installing playwright-core $want with npm ci (had: ${have:-none})"
    # PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD: belt and braces, playwright-core
    # itself downloads nothing on install.
    PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error \
        || die "npm ci in tests/browser failed"
    have=$(node -p 'require("./node_modules/playwright-core/package.json").version') \
        || die "playwright-core installed but cannot be required"
    [ "$have" = "$want" ] || die "expected playwright-core $want, found $have"
    say "playwright-core $have installed"
fi

# --- One headless start, as the tests do it --------------------------------
node smoke.mjs || die "headless Chromium did not start (see above)"
