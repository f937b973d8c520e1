#!/bin/sh
# bench/deps.sh -- install what bench/side_by_side.py needs beyond what
# scripts/deps.sh installs for building and testing amsd, from Debian's
# packages (Debian 12 names), skipping what is already there.  Safe to run
# again.
#
#   wrk                    the load generator (LuaJIT scripting)
#   nginx                  the static-200 peer and the host of the Lua peer
#   libnginx-mod-http-lua  the lua_shared_dict grab peer (pulls in
#                          libnginx-mod-http-ndk and lua-resty-core)
#   lua-cjson              JSON for the Lua peer (it parses the body and
#                          prints the answer, as amsd does)
#   redis-server           amsd's Redis store (also in scripts/deps.sh)
#   redis-tools            redis-benchmark and redis-cli
#   lmdb-utils             mdb_dump: the bench counts ledger entries in an
#                          LMDB store with it
#
# The bench runs its own nginx and redis-server on free loopback ports;
# the distribution's services are not wanted, so package scripts are kept
# from starting them (policy-rc.d, the Debian convention) while installing.
set -eu

PKGS="wrk nginx libnginx-mod-http-lua lua-cjson redis-server redis-tools
lmdb-utils"

missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
        missing="$missing $p"
done
[ -z "$missing" ] && exit 0

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "bench deps: installing:$missing" >&2

# Keep nginx's and redis' postinst from starting system daemons (nginx on
# port 80); only when no policy is in place already, and put back after.
POLICY=/usr/sbin/policy-rc.d
ours=""
if [ ! -e "$POLICY" ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$POLICY" >/dev/null
    $SUDO chmod 755 "$POLICY"
    ours=1
fi
cleanup() { [ -n "$ours" ] && $SUDO rm -f "$POLICY"; true; }
trap cleanup EXIT INT TERM

$SUDO apt-get update -qq
# shellcheck disable=SC2086
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing >&2
