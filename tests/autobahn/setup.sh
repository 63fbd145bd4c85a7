#!/usr/bin/env bash
# Installs the Autobahn|Testsuite (`wstest`) that tests/autobahn.rs runs
# against examples/echo_server, into tests/autobahn/.py27/ (gitignored),
# without touching the system:
#
#  1. Python 2.7 (the suite is Python 2 code) from Debian bullseye's .debs,
#     fetched with `apt-get download` through a private apt configuration
#     (its own sources list, package lists and cache under .py27/apt) and
#     unpacked with `dpkg -x` into .py27/root; bookworm has no python2.7,
#     nor the libssl1.1 and libffi7 it links, so those come from bullseye too.
#     The headers (python2.7-dev) are there to compile wsaccel.
#  2. pip 20.3.4 (the last pip for Python 2), setuptools 44.1.1 and wheel
#     0.37.1 from their PyPI wheels, fetched with the system's pip3.
#  3. requirements.txt (every version pinned) with that pip, into
#     .py27/root/usr/local/lib/python2.7/dist-packages.
#  4. Wrappers .py27/bin/python2.7 and .py27/bin/wstest that set the
#     library path and a clean Python environment.
#
# Idempotent and quick: a stamp records what was installed (a hash of the
# pins in this script and requirements.txt); when it matches and wstest
# answers, nothing is fetched. Any failure stops the script with a message
# and a non-zero status.
#
#   bash tests/autobahn/setup.sh            # install, or check the install
#   bash tests/autobahn/setup.sh --force    # wipe .py27 and install anew
#
# Needs: apt-get and dpkg (Debian), a C compiler (cc), python3 with pip,
# access to deb.debian.org and PyPI.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
py27="$here/.py27"

say() { printf 'autobahn: %s\n' "$*"; }
die() { printf 'autobahn: ERROR: %s\n' "$*" >&2; exit 1; }

# ---- pins ----------------------------------------------------------------------
suite=bullseye
mirror=http://deb.debian.org/debian
# package=version, all from bullseye main (its last point release).
debs=(
    python2.7=2.7.18-8+deb11u1
    python2.7-minimal=2.7.18-8+deb11u1
    libpython2.7-minimal=2.7.18-8+deb11u1
    libpython2.7-stdlib=2.7.18-8+deb11u1
    python2.7-dev=2.7.18-8+deb11u1
    libpython2.7-dev=2.7.18-8+deb11u1
    libssl1.1=1.1.1w-0+deb11u1
    libffi7=3.3-6
)
bootstrap=(pip==20.3.4 setuptools==44.1.1 wheel==0.37.1)
want_suite=0.8.2
want_autobahn=0.10.9

force=0
case "${1:-}" in
    "") ;;
    --force) force=1 ;;
    *) die "usage: bash tests/autobahn/setup.sh [--force]" ;;
esac

stamp_file="$py27/.installed"
stamp=$( { printf '%s\n' "$suite" "$mirror" "${debs[@]}" "${bootstrap[@]}"; cat "$here/requirements.txt"; } \
    | sha256sum | cut -d' ' -f1)

# The installed wstest answers with the pinned versions.
check_wstest() {
    local out
    out=$("$py27/bin/wstest" --autobahnversion 2>&1) || return 1
    grep -qx "AutobahnTestSuite $want_suite" <<<"$out" || return 1
    grep -qx "Autobahn $want_autobahn" <<<"$out" || return 1
}

if [ "$force" = 0 ] && [ -f "$stamp_file" ] && [ "$(cat "$stamp_file")" = "$stamp" ] && check_wstest; then
    say "wstest $want_suite (autobahn $want_autobahn, Python 2.7) already installed in tests/autobahn/.py27"
    exit 0
fi

command -v apt-get >/dev/null || die "apt-get not found: this script fetches Python 2.7 from Debian's archive"
command -v dpkg >/dev/null || die "dpkg not found (needed to unpack the .debs)"
command -v cc >/dev/null || die "no C compiler (cc) found: wsaccel is built from source (apt-get install gcc)"
command -v python3 >/dev/null || die "python3 not found (its pip fetches the pip wheel for Python 2.7)"
python3 -m pip --version >/dev/null 2>&1 || die "python3 has no pip (apt-get install python3-pip)"

say "installing into tests/autobahn/.py27 (a clean install: any previous one is removed)"
rm -rf "$py27"
mkdir -p "$py27"/{apt/etc,apt/lists/partial,apt/cache/archives/partial,debs,root,bin,wheels}

# ---- 1. Python 2.7 from Debian bullseye ------------------------------------------
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
[ -f "$keyring" ] || die "$keyring missing (apt-get install debian-archive-keyring)"
echo "deb [signed-by=$keyring] $mirror $suite main" >"$py27/apt/etc/sources.list"
apt_opts=(
    -o "Dir::Etc::sourcelist=$py27/apt/etc/sources.list"
    -o "Dir::Etc::sourceparts=-"
    -o "Dir::State::Lists=$py27/apt/lists"
    -o "Dir::Cache=$py27/apt/cache"
    -o "Dir::State::status=/dev/null"
    -o "APT::Sandbox::User=root"
    -o "Acquire::IndexTargets::deb::DEP-11::DefaultEnabled=false"
    -o "Acquire::IndexTargets::deb::DEP-11-icons::DefaultEnabled=false"
    -o "Acquire::IndexTargets::deb::DEP-11-icons-small::DefaultEnabled=false"
    -o "Acquire::IndexTargets::deb::Contents-deb::DefaultEnabled=false"
    -o "Acquire::Languages=none"
)
say "fetching the $suite package lists (private apt state in .py27/apt)"
apt-get "${apt_opts[@]}" -q update >"$py27/apt/update.log" 2>&1 \
    || die "apt-get update of $mirror $suite failed:
$(tail -n 20 "$py27/apt/update.log")"
say "downloading ${debs[*]}"
(cd "$py27/debs" && apt-get "${apt_opts[@]}" -q download "${debs[@]}") >"$py27/apt/download.log" 2>&1 \
    || die "apt-get download from $suite failed (a pinned version gone from the archive?):
$(tail -n 20 "$py27/apt/download.log")"
for deb in "$py27"/debs/*.deb; do
    dpkg -x "$deb" "$py27/root" || die "dpkg -x $deb failed"
done

python="$py27/root/usr/bin/python2.7"
[ -x "$python" ] || die "python2.7 not found in the unpacked packages"
libdir=$(find "$py27/root/usr/lib" -maxdepth 1 -type d -name '*-linux-gnu*' | head -n 1)
[ -n "$libdir" ] || die "no multiarch library dir under .py27/root/usr/lib"

# The wrappers: the bullseye libraries first, no PYTHONPATH/PYTHONHOME or
# user site from the caller, and no warning per start that Python 2 is old.
# `dist-packages` of /usr/local under our prefix is where pip installs; a
# .pth file puts it on the interpreter's path.
echo "../../local/lib/python2.7/dist-packages" >"$py27/root/usr/lib/python2.7/dist-packages/local.pth"
mkdir -p "$py27/root/usr/local/lib/python2.7/dist-packages"
cat >"$py27/bin/python2.7" <<EOF
#!/bin/sh
# Python 2.7 from Debian bullseye, private to tests/autobahn (setup.sh).
unset PYTHONPATH PYTHONHOME
export PYTHONNOUSERSITE=1 PYTHONWARNINGS=ignore
export LD_LIBRARY_PATH="$libdir\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}"
exec "$python" "\$@"
EOF
cat >"$py27/bin/wstest" <<EOF
#!/bin/sh
# Autobahn|Testsuite's wstest on the private Python 2.7 (setup.sh).
exec "$py27/bin/python2.7" -c 'import sys; from autobahntestsuite.wstest import run; sys.argv[0] = "wstest"; sys.exit(run())' "\$@"
EOF
chmod +x "$py27/bin/python2.7" "$py27/bin/wstest"
py="$py27/bin/python2.7"
"$py" -c 'import ssl, ctypes, zlib, bz2, hashlib, json, sqlite3' \
    || die "the unpacked Python 2.7 cannot import its standard modules (a system library missing? see above)"
say "python2.7 $("$py" -c 'import platform; print(platform.python_version())') ready"

# ---- 2. pip for Python 2.7 ---------------------------------------------------------
say "downloading ${bootstrap[*]} (py2 wheels) with python3's pip"
PIP_DISABLE_PIP_VERSION_CHECK=1 python3 -m pip download --quiet --no-deps --only-binary=:all: \
    --python-version 2.7 --implementation py --abi none --platform any \
    -d "$py27/wheels" "${bootstrap[@]}" \
    || die "pip3 download of ${bootstrap[*]} failed"
pip_wheel=$(ls "$py27"/wheels/pip-*.whl)
PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore \
    "$py" "$pip_wheel/pip" install --quiet --no-index --find-links "$py27/wheels" \
    --no-warn-script-location "${bootstrap[@]}" \
    || die "installing ${bootstrap[*]} into the private Python 2.7 failed"

# ---- 3. the test suite -------------------------------------------------------------
say "installing requirements.txt (autobahntestsuite $want_suite and its pinned dependencies)"
CFLAGS="-I$py27/root/usr/include/python2.7 -I$py27/root/usr/include" \
PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore \
    "$py" -m pip install --quiet --no-build-isolation --no-warn-script-location \
    -r "$here/requirements.txt" \
    || die "pip install -r tests/autobahn/requirements.txt failed (Python 2.7)"
"$py" -m pip check || die "pip check found broken requirements"

check_wstest || die "wstest installed but does not answer with autobahntestsuite $want_suite / autobahn $want_autobahn:
$("$py27/bin/wstest" --autobahnversion 2>&1 || true)"
echo "$stamp" >"$stamp_file"
say "wstest $want_suite (autobahn $want_autobahn, Python 2.7) installed: tests/autobahn/.py27/bin/wstest"
