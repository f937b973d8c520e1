#!/bin/sh
# Install what is missing, build, and run amsd in the foreground with
# conf/amsd.conf and the example activities on the embedded LMDB store.
# Extra arguments go to amsd (e.g. --workers 4).  Ctrl-C stops it.
set -eu
cd "$(dirname "$0")/.."
scripts/deps.sh
scripts/build.sh build
mkdir -p var
# The development HS256 secret conf/amsd.conf trusts (auth = "jwt"):
# random, made once, never committed (var/ is ignored).
# Likewise the loan system's secret for 1002 repay (signed_callers).
for secret in var/dev-jwt.secret var/dev-loan-core.secret; do
    if [ ! -s "$secret" ]; then
        (umask 077 && openssl rand -hex 32 >"$secret")
    fi
done
cat <<'MSG'
amsd: data plane http://127.0.0.1:8080, admin http://127.0.0.1:8081/healthz
try (a card-binding flash sale: bind, then grab one of 100 coupons; the
user is the bearer token's, minted by scripts/dev-token.sh):
  TOKEN=$(scripts/dev-token.sh alice)
  curl -s -X POST http://127.0.0.1:8080/v1/activities/1003/bind \
       -H "Authorization: Bearer $TOKEN" -d '{"request_id":"r1"}'
  curl -s -X POST http://127.0.0.1:8080/v1/activities/1003/grab \
       -H "Authorization: Bearer $TOKEN" -d '{"request_id":"r2"}'
MSG
exec build/core/amsd -c conf/amsd.conf "$@"
