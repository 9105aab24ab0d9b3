#!/usr/bin/env bash
# Authentication overhead benchmark, in one run on loopback: the same upstream through Portcullis
# with no middleware, through the OIDC middleware with a valid session cookie (sessions in the
# cookie, and sessions in a local redis-server), and through the client credentials middleware
# with a warm token cache. The provider is Portcullis' development
# OpenID Provider (its answers are not on the measured path: a valid session and a cached token
# need no provider call). Writes the table into docs/benchmarks.md and prints it.
#
# Usage: bench/auth.sh [ROUNDS (3)] [DURATION seconds (10)] [CONNECTIONS (64)]
#   BASELINE=BINARY also measures every row through that gateway binary (an earlier build), run
#   with the same configuration on its own port in the same rounds, and prints the ratios of this
#   build to it: a regression check within one run. The table is then printed, not written.
#   PORTCULLIS_BIN=BINARY measures that binary instead of building the release binary.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-3}
DURATION=${2:-10}
CONNS=${3:-64}
. bench/lib.sh
bench_install

if [ -z "${PORTCULLIS_BIN:-}" ]; then
  cargo build --release -p portcullis >/dev/null
fi
BIN=${PORTCULLIS_BIN:-${CARGO_TARGET_DIR:-target}/release/portcullis}
WORK=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT

UP=$(free_port); IDP=$(free_port); PC=$(free_port); REDIS=$(free_port); PB=$(free_port)
redis-server --port "$REDIS" --bind 127.0.0.1 --save '' --appendonly no --dir "$WORK" >/dev/null &
PIDS+=($!)
nginx_conf "$UP" "" "$WORK" >"$WORK/nginx.conf"
nginx -c "$WORK/nginx.conf" -g 'daemon off;' &
PIDS+=($!)

cat >"$WORK/devidp.yaml" <<YAML
issuer: http://127.0.0.1:$IDP
clients:
  - id: gw
    secret: gw-secret
    redirect_uris: [http://127.0.0.1:$PC/oidc/callback, http://127.0.0.1:$PC/redis/callback]
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
    redis: { rule: "PathPrefix(\`/redis\`)", service: app, middlewares: [oidc-redis] }
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
    oidc-redis:
      plugin:
        oidc:
          issuer: http://127.0.0.1:$IDP
          clientID: gw
          clientSecret: gw-secret
          redirectUrl: /redis/callback
          claims: Equals(\`grp\`, \`admin\`)
          forwardHeaders: { X-User: preferred_username, X-Group: grp, X-Areas: areas }
          usernameClaim: preferred_username
          session:
            store:
              redis: { endpoints: ["127.0.0.1:$REDIS"] }
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
ROWS="plain oidc redis cc"
if [ -n "${BASELINE:-}" ]; then
  # Same configuration on its own port; the cookie key derives from the same client secret and
  # issuer, so the sessions made through this build open there too.
  sed "s/127.0.0.1:$PC\"/127.0.0.1:$PB\"/" "$WORK/portcullis.yaml" >"$WORK/baseline.yaml"
  "$BASELINE" --config "$WORK/baseline.yaml" &
  PIDS+=($!)
  wait_http "http://127.0.0.1:$PB/plain"
  ROWS="plain base-plain oidc base-oidc redis base-redis cc base-cc"
fi

# Log in once per OIDC route (without a browser: the development provider's form is a plain POST).
JAR="$WORK/cookies"
login() { # PATH
  local status
  status=$(devidp_login "http://127.0.0.1:$PC/$1/" "$JAR" "$WORK")
  [ "$status" = 200 ] || { echo "login at /$1 failed (status $status)" >&2; exit 1; }
}
session_cookie() { jar_cookie "$JAR" "$1"; }
login oidc
login redis
COOKIE=$(session_cookie oidc-session)
REDIS_COOKIE=$(session_cookie oidc-redis-session)
[ -n "$COOKIE" ] && [ -n "$REDIS_COOKIE" ] || { echo "no session cookie after login" >&2; exit 1; }
check=$(curl -s -o /dev/null -w '%{http_code}' -H "Cookie: $COOKIE" "http://127.0.0.1:$PC/oidc/")
redis_check=$(curl -s -o /dev/null -w '%{http_code}' -H "Cookie: $REDIS_COOKIE" "http://127.0.0.1:$PC/redis/")
cc_check=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PC/cc/")
[ "$check" = 200 ] && [ "$redis_check" = 200 ] && [ "$cc_check" = 200 ] ||
  { echo "warm-up failed: oidc $check redis $redis_check cc $cc_check" >&2; exit 1; }

# wrk replays one fixed Cookie header, while a browser stores the renewed cookie that sliding
# sessions send: take the renewed cookie before each OIDC row, as a browser would have it.
fresh_cookie() {
  curl -s -o /dev/null -c "$JAR" -b "$JAR" "http://127.0.0.1:$PC/oidc/"
  curl -s -o /dev/null -c "$JAR" -b "$JAR" "http://127.0.0.1:$PC/redis/"
  COOKIE=$(session_cookie oidc-session)
  REDIS_COOKIE=$(session_cookie oidc-redis-session)
}

RESULTS=""
for round in $(seq 1 "$ROUNDS"); do
  for row in $ROWS; do
    port=$PC
    case $row in base-*) port=$PB ;; esac
    case ${row#base-} in
      plain) line="$row,$round $(measure "http://127.0.0.1:$port/plain")" ;;
      oidc)
        fresh_cookie
        line="$row,$round $(measure "http://127.0.0.1:$port/oidc/" -H "Cookie: $COOKIE")"
        ;;
      redis)
        fresh_cookie
        line="$row,$round $(measure "http://127.0.0.1:$port/redis/" -H "Cookie: $REDIS_COOKIE")"
        ;;
      cc) line="$row,$round $(measure "http://127.0.0.1:$port/cc/")" ;;
    esac
    echo "$line" >&2
    RESULTS+="$line"$'\n'
  done
done
if [ -n "${BASELINE:-}" ]; then
  printf '%s' "$RESULTS" | EXTRA_RATIOS="plain:base-plain oidc:base-oidc redis:base-redis cc:base-cc" \
    summarize "$ROUNDS" base-plain \
    "plain=this build, no middleware" "base-plain=baseline, no middleware" \
    "oidc=this build, OIDC cookie" "base-oidc=baseline, OIDC cookie" \
    "redis=this build, OIDC Redis" "base-redis=baseline, OIDC Redis" \
    "cc=this build, client credentials" "base-cc=baseline, client credentials"
  exit 0
fi
TABLE=$(printf '%s' "$RESULTS" | EXTRA_RATIOS="redis:oidc" summarize "$ROUNDS" plain \
  "plain=Portcullis, no middleware" "oidc=Portcullis, OIDC with a session cookie" "redis=Portcullis, OIDC with the session in Redis" "cc=Portcullis, client credentials (warm cache)")
echo "$TABLE"
write_section auth "## Authentication overhead

\`bench/auth.sh $ROUNDS $DURATION $CONNS\` on $(machine): wrk -t$THREADS -c$CONNS, ${DURATION} s per row after a 2 s warm-up, the rows rotated in each of $ROUNDS rounds, one gateway process serving all four routes to an nginx \`return 200\` upstream. The OIDC row sends a sealed session cookie (${#COOKIE} bytes) obtained by one login; the middleware opens it, checks \`claims\`, sets three forwarded headers and the bearer token on every request. The Redis row is the same middleware with \`session.store.redis\` on a local \`redis-server\`: its cookie (${#REDIS_COOKIE} bytes) holds only a sealed session id, and each request reads the session and its revocation records from Redis in one round trip (two for the first request of a session on a replica). The client credentials row uses the gateway's own cached token, checks \`claims\` and forwards a header.

$TABLE"
