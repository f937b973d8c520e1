#!/bin/sh
# Install what building, running and testing amsd needs, from Debian's
# packages, skipping what is already there.  Safe to run again.
set -eu

PKGS="build-essential meson ninja-build pkg-config python3 curl
clang-format clang libclang-rt-14-dev
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
# cJSON with the fix for CVE-2023-53154 (meson.build checks it): Debian
# 12 backported it into 1.7.15-1+deb12u3; an older one is upgraded.
v=$(dpkg-query -W -f='${Version}' libcjson1 2>/dev/null || true)
if [ -n "$v" ] && dpkg --compare-versions "$v" lt 1.7.15-1+deb12u3; then
    missing="$missing libcjson1 libcjson-dev"
fi
[ -z "$missing" ] && exit 0

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "deps: installing:$missing" >&2
$SUDO apt-get update -qq
# shellcheck disable=SC2086
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing >&2
