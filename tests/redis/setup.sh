#!/usr/bin/env bash
# redis-server from Debian for the chat tests over Redis (tests/chat_redis.rs):
# each test starts its own on a free loopback port, without persistence, and
# stops it by PID. Installed here when missing, so a fresh machine needs
# nothing by hand; a test that still finds no redis-server fails loudly.
set -euo pipefail
if command -v redis-server >/dev/null; then
    redis-server --version
    exit 0
fi
sudo=""
if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
$sudo apt-get update
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y --no-install-recommends redis-server
redis-server --version
