#!/usr/bin/env bash
# Authentication overhead benchmark, in one run on loopback: the same upstream through Portcullis
# with no middleware, through the OIDC middleware with a valid session cookie, and through the
# client credentials middleware with a warm token cache. The provider is Portcullis' development
# OpenID Provider (its answers are not on the measured path: a valid session and a cached token
# need no provider call). Writes the table into docs/benchmarks.md and prints it.
#
# Usage: bench/auth.sh [ROUNDS (3)] [DURATION seconds (10)] [CONNECTIONS (64)]
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-3}
DURATION=${2:-10}
CONNS=${3:-64}
. bench/lib.sh
bench_install

cargo build --release -p portcullis >/dev/null
BIN=${CARGO_TARGET_DIR:-target}/release/portcullis
WORK=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT

UP=$(free_port); IDP=$(free_port); PC=$(free_port)
nginx_conf "$UP" "" "$WORK" >"$WORK/nginx.conf"
nginx -c "$WORK/nginx.conf" -g 'daemon off;' &
PIDS+=($!)

cat >"$WORK/devidp.yaml" <<YAML
issuer: http://127.0.0.1:$IDP
clients:
  - id: gw
    secret: gw-secret
    redirect_uris: [http://127.0.0.1:$PC/oidc/callback]
  - id: svc
    secret: svc-secret
    grant_types: [client_credentials]
    access_token_claims: { grp: service }
users:
  - username: alice
    claims: { preferred_username: alice, grp: admin, areas: [office, home] }
lifetimes: { access_token: 1h, id_token: 1h }
YAML
"$BIN" devidp --config "$WORK/devidp.yaml" --address "127.0.0.1:$IDP" --log-level warn &
PIDS+=($!)
wait_http "http://127.0.0.1:$IDP/.well-known/openid-configuration"

cat >"$WORK/portcullis.yaml" <<YAML
entryPoints:
  web: { address: "127.0.0.1:$PC" }
log: { level: warn }
http:
  routers:
    plain: { rule: "PathPrefix(\`/plain\`)", service: app }
    oidc: { rule: "PathPrefix(\`/oidc\`)", service: app, middlewares: [oidc] }
    cc: { rule: "PathPrefix(\`/cc\`)", service: app, middlewares: [cc] }
  middlewares:
    oidc:
      plugin:
        oidc:
          issuer: http://127.0.0.1:$IDP
          clientID: gw
          clientSecret: gw-secret
          redirectUrl: /oidc/callback
          claims: Equals(\`grp\`, \`admin\`)
          forwardHeaders: { X-User: preferred_username, X-Group: grp, X-Areas: areas }
          usernameClaim: preferred_username
    cc:
      plugin:
        oAuthClientCredentials:
          url: http://127.0.0.1:$IDP/token
          clientID: svc
          clientSecret: svc-secret
          claims: Equals(\`grp\`, \`service\`)
          forwardHeaders: { X-Group: grp }
  services:
    app: { loadBalancer: { servers: [ { url: "http://127.0.0.1:$UP" } ] } }
YAML
"$BIN" --config "$WORK/portcullis.yaml" &
PIDS+=($!)
wait_http "http://127.0.0.1:$PC/plain"

# Log in once (without a browser: the development provider's form is a plain POST).
JAR="$WORK/cookies"
curl -s -L -c "$JAR" -b "$JAR" -H 'Accept: text/html' "http://127.0.0.1:$PC/oidc/" -o "$WORK/login.html"
TXN=$(sed -n 's/.*name="txn" value="\([^"]*\)".*/\1/p' "$WORK/login.html" | head -1)
ACTION=$(sed -n 's/.*<form method="post" action="\([^"]*\)".*/\1/p' "$WORK/login.html" | head -1)
ACTION=${ACTION//&amp;/&}
STATUS=$(curl -s -L -c "$JAR" -b "$JAR" -o "$WORK/after.html" -w '%{http_code}' \
  --data-urlencode "txn=$TXN" --data-urlencode "username=alice" "$ACTION")
session_cookie() {
  awk '$0 !~ /^#/ || $0 ~ /^#HttpOnly_/ { if (NF >= 7 && $6 ~ /^oidc-session/) printf "%s%s=%s", (n++ ? "; " : ""), $6, $7 }' "$JAR"
}
COOKIE=$(session_cookie)
if [ "$STATUS" != 200 ] || [ -z "$COOKIE" ]; then
  echo "login failed (status $STATUS, cookie '${COOKIE:0:20}')" >&2
  exit 1
fi
check=$(curl -s -o /dev/null -w '%{http_code}' -H "Cookie: $COOKIE" "http://127.0.0.1:$PC/oidc/")
cc_check=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PC/cc/")
[ "$check" = 200 ] && [ "$cc_check" = 200 ] || { echo "warm-up failed: oidc $check cc $cc_check" >&2; exit 1; }

# wrk replays one fixed Cookie header, while a browser stores the renewed cookie that sliding
# sessions send: take the renewed cookie before each OIDC row, as a browser would have it.
fresh_cookie() {
  curl -s -o /dev/null -c "$JAR" -b "$JAR" "http://127.0.0.1:$PC/oidc/"
  COOKIE=$(session_cookie)
}

RESULTS=""
for round in $(seq 1 "$ROUNDS"); do
  for row in plain oidc cc; do
    case $row in
      plain) line="$row,$round $(measure "http://127.0.0.1:$PC/plain")" ;;
      oidc)
        fresh_cookie
        line="$row,$round $(measure "http://127.0.0.1:$PC/oidc/" -H "Cookie: $COOKIE")"
        ;;
      cc) line="$row,$round $(measure "http://127.0.0.1:$PC/cc/")" ;;
    esac
    echo "$line" >&2
    RESULTS+="$line"$'\n'
  done
done
TABLE=$(printf '%s' "$RESULTS" | summarize "$ROUNDS" plain \
  "plain=Portcullis, no middleware" "oidc=Portcullis, OIDC with a session cookie" "cc=Portcullis, client credentials (warm cache)")
echo "$TABLE"
write_section auth "## Authentication overhead

\`bench/auth.sh $ROUNDS $DURATION $CONNS\` on $(machine): wrk -t$THREADS -c$CONNS, ${DURATION} s per row after a 2 s warm-up, the rows rotated in each of $ROUNDS rounds, one gateway process serving all three routes to an nginx \`return 200\` upstream. The OIDC row sends a sealed session cookie (${#COOKIE} bytes) obtained by one login; the middleware opens it, checks \`claims\`, sets three forwarded headers and the bearer token on every request. The client credentials row uses the gateway's own cached token, checks \`claims\` and forwards a header.

$TABLE"
