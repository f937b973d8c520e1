#!/bin/sh
# Print a development bearer token for the user UID, valid for TTL
# seconds (default 3600), signed with var/dev-jwt.secret -- the HS256
# secret scripts/run.sh makes and conf/amsd.conf trusts.  For trying amsd
# out, never for production (the secret is on this machine, and it is
# passed to openssl on its command line).
#   curl -H "Authorization: Bearer $(scripts/dev-token.sh alice)" ...
set -eu
cd "$(dirname "$0")/.."
uid=${1:-}
ttl=${2:-3600}
secret=var/dev-jwt.secret
case "$uid" in
"" | *[!A-Za-z0-9_.@:-]*)
    echo "usage: scripts/dev-token.sh UID [TTL_SECONDS]" \
        "(UID of A-Z a-z 0-9 _ . @ : -)" >&2
    exit 2
    ;;
esac
case "$ttl" in
"" | *[!0-9]*)
    echo "dev-token: TTL_SECONDS must be a number" >&2
    exit 2
    ;;
esac
if [ ! -f "$secret" ]; then
    echo "dev-token: $secret is missing; scripts/run.sh makes it" >&2
    exit 1
fi
b64url() { openssl base64 -A | tr '+/' '-_' | tr -d '='; }
now=$(date +%s)
header=$(printf '{"alg":"HS256","typ":"JWT","kid":"dev"}' | b64url)
payload=$(printf '{"sub":"%s","iss":"amsd-dev","aud":"amsd","iat":%s,"exp":%s}' \
    "$uid" "$now" "$((now + ttl))" | b64url)
sig=$(printf '%s.%s' "$header" "$payload" |
    openssl dgst -sha256 -mac HMAC -macopt "key:$(head -n 1 "$secret")" \
        -binary | b64url)
printf '%s.%s.%s\n' "$header" "$payload" "$sig"
