#!/usr/bin/env bash
# Forward authentication benchmark, in one run on loopback: the same upstream (nginx `return
# 200`) through nginx alone, through nginx asking Portcullis with `auth_request`, through Caddy
# alone and through Caddy asking Portcullis with `forward_auth`, each with a valid OIDC session
# cookie. The proxies run the documented snippets (examples/forward-auth/nginx.conf and
# examples/forward-auth/Caddyfile) and Portcullis runs examples/forward-auth.yaml, with free
# ports in place of their addresses; the provider is Portcullis' development OpenID Provider
# (not on the measured path: a valid session needs no provider call).
# Writes the table into docs/benchmarks.md and prints it.
#
# Usage: bench/forward_auth.sh [ROUNDS (3)] [DURATION seconds (10)] [CONNECTIONS (64)]
#   PORTCULLIS_BIN=BINARY measures that binary instead of building the release binary.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-3}
DURATION=${2:-10}
CONNS=${3:-64}
. bench/lib.sh
bench_install
command -v caddy >/dev/null || {
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q && apt-get install -y -q --no-install-recommends caddy
}

if [ -z "${PORTCULLIS_BIN:-}" ]; then
  cargo build --release -p portcullis >/dev/null
fi
BIN=${PORTCULLIS_BIN:-${CARGO_TARGET_DIR:-target}/release/portcullis}
WORK=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT

UP=$(free_port); IDP=$(free_port); PC=$(free_port)
NX=$(free_port); NA=$(free_port); CX=$(free_port); CA=$(free_port)

# The documented files, with this run's ports in place of the addresses they are written for.
localize() { # FILE FRONT_PORT
  sed -e "s/127\.0\.0\.1:8080/127.0.0.1:$2/g" -e "s/127\.0\.0\.1:8081/127.0.0.1:$PC/g" \
      -e "s/127\.0\.0\.1:9100/127.0.0.1:$UP/g" -e "s#http://127\.0\.0\.1:9000#http://127.0.0.1:$IDP#g" "$1"
}

# nginx: the upstream, nginx alone (proxying as the snippet does), and the snippet's server.
cat >"$WORK/nginx.conf" <<NGINX
worker_processes 1;
pid $WORK/nginx.pid;
error_log $WORK/nginx-error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  client_body_temp_path $WORK/nginx-body;
  proxy_temp_path $WORK/nginx-proxy;
  fastcgi_temp_path $WORK/nginx-fastcgi;
  uwsgi_temp_path $WORK/nginx-uwsgi;
  scgi_temp_path $WORK/nginx-scgi;
  server {
    listen 127.0.0.1:$UP;
    location / { default_type text/plain; return 200 "hello from upstream\n"; }
  }
  server {
    listen 127.0.0.1:$NX;
    location / { proxy_pass http://127.0.0.1:$UP; }
  }
$(localize examples/forward-auth/nginx.conf "$NA")
}
NGINX
nginx -c "$WORK/nginx.conf" -g 'daemon off;' &
PIDS+=($!)

# Caddy: alone, and the snippet's site.
{
  printf '{\n\tadmin off\n\tauto_https off\n}\n\nhttp://127.0.0.1:%s {\n\treverse_proxy 127.0.0.1:%s\n}\n\n' "$CX" "$UP"
  localize examples/forward-auth/Caddyfile "$CA"
} >"$WORK/Caddyfile"
HOME="$WORK" XDG_DATA_HOME="$WORK/caddy-data" XDG_CONFIG_HOME="$WORK/caddy-config" \
  caddy run --adapter caddyfile --config "$WORK/Caddyfile" >"$WORK/caddy.log" 2>&1 &
PIDS+=($!)

cat >"$WORK/devidp.yaml" <<YAML
issuer: http://127.0.0.1:$IDP
clients:
  - id: gw
    secret: gw-secret
    redirect_uris: [http://127.0.0.1:$NA/callback, http://127.0.0.1:$CA/callback]
users:
  - username: alice
    claims: { preferred_username: alice, grp: admin, areas: [office, home] }
lifetimes: { access_token: 1h, id_token: 1h }
YAML
"$BIN" devidp --config "$WORK/devidp.yaml" --address "127.0.0.1:$IDP" --log-level warn &
PIDS+=($!)
wait_http "http://127.0.0.1:$IDP/.well-known/openid-configuration"

localize examples/forward-auth.yaml "$NA" >"$WORK/portcullis.yaml"
SESSION_SECRET=$(head -c 32 /dev/urandom | base64) "$BIN" --config "$WORK/portcullis.yaml" --log-level warn &
PIDS+=($!)
wait_http "http://127.0.0.1:$NX/"
wait_http "http://127.0.0.1:$CX/"

# Log in once through nginx (without a browser: the development provider's form is a plain
# POST); the session cookie is then valid through either proxy.
JAR="$WORK/cookies"
status=$(devidp_login "http://127.0.0.1:$NA/" "$JAR" "$WORK")
[ "$status" = 200 ] || { echo "login through nginx failed (status $status)" >&2; exit 1; }
COOKIE=$(jar_cookie "$JAR" oidc-login-session)
[ -n "$COOKIE" ] || { echo "no session cookie after login" >&2; exit 1; }
for port in $NA $CA; do
  check=$(curl -s -o /dev/null -w '%{http_code}' -H "Cookie: $COOKIE" "http://127.0.0.1:$port/")
  [ "$check" = 200 ] || { echo "warm-up through port $port failed: $check" >&2; exit 1; }
done

ROWS="nginx nginx-auth caddy caddy-auth"
RESULTS=""
for round in $(seq 1 "$ROUNDS"); do
  for row in $ROWS; do
    case $row in
      nginx) line="$row,$round $(measure "http://127.0.0.1:$NX/")" ;;
      nginx-auth) line="$row,$round $(measure "http://127.0.0.1:$NA/" -H "Cookie: $COOKIE")" ;;
      caddy) line="$row,$round $(measure "http://127.0.0.1:$CX/")" ;;
      caddy-auth) line="$row,$round $(measure "http://127.0.0.1:$CA/" -H "Cookie: $COOKIE")" ;;
    esac
    echo "$line" >&2
    RESULTS+="$line"$'\n'
  done
done
TABLE=$(printf '%s' "$RESULTS" | EXTRA_RATIOS="caddy-auth:caddy" summarize "$ROUNDS" nginx \
  "nginx=nginx alone" "nginx-auth=nginx + Portcullis (auth_request)" \
  "caddy=Caddy alone" "caddy-auth=Caddy + Portcullis (forward_auth)")
echo "$TABLE"
write_section forward-auth "## Forward authentication

\`bench/forward_auth.sh $ROUNDS $DURATION $CONNS\` on $(machine): wrk -t$THREADS -c$CONNS, ${DURATION} s per row after a 2 s warm-up, the rows rotated in each of $ROUNDS rounds. nginx and Caddy run the configurations of [forward-auth.md](forward-auth.md) in front of an nginx \`return 200\` upstream, asking one Portcullis process (examples/forward-auth.yaml) about every request with a valid session cookie (${#COOKIE} bytes): Portcullis opens the session, checks \`claims\` and answers with two claim headers and the bearer token, which the proxy copies onto the request. The rows alone proxy the same way without asking. Every request costs the proxy a second, unpooled connection (to Portcullis) beside the one to the upstream.

$TABLE"
