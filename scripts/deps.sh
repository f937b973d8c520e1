#!/bin/sh
# Install what building, running and testing amsd needs, from Debian's
# packages, skipping what is already there.  Safe to run again.
set -eu

PKGS="build-essential meson ninja-build pkg-config python3 curl
clang-format
libevent-dev libcjson-dev libconfig-dev liblmdb-dev libssl-dev openssl libcjose-dev
libjansson-dev
libhiredis-dev redis-server
libxml2-utils
prometheus"

missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
        missing="$missing $p"
done
[ -z "$missing" ] && exit 0

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "deps: installing:$missing" >&2
$SUDO apt-get update -qq
# shellcheck disable=SC2086
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing >&2
