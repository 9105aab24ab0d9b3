#!/usr/bin/env bash
# Proxy overhead benchmark: the same small upstream measured directly, through nginx as a plain
# reverse proxy, and through Portcullis with no middleware, in one run, on loopback only.
# Writes the table into docs/benchmarks.md and prints it.
#
# Usage: bench/proxy.sh [ROUNDS (3)] [DURATION seconds (10)] [CONNECTIONS (64)]
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

UP=$(free_port); NGX=$(free_port); PC=$(free_port)
nginx_conf "$UP" "$NGX" "$WORK" >"$WORK/nginx.conf"
nginx -c "$WORK/nginx.conf" -g 'daemon off;' &
PIDS+=($!)

cat >"$WORK/portcullis.yaml" <<YAML
entryPoints:
  web: { address: "127.0.0.1:$PC" }
log: { level: warn }
http:
  routers:
    app: { rule: "PathPrefix(\`/\`)", service: app }
  services:
    app: { loadBalancer: { servers: [ { url: "http://127.0.0.1:$UP" } ] } }
YAML
"$BIN" --config "$WORK/portcullis.yaml" &
PIDS+=($!)
for port in $UP $NGX $PC; do wait_http "http://127.0.0.1:$port/"; done

RESULTS=""
for round in $(seq 1 "$ROUNDS"); do
  for row in upstream nginx portcullis; do
    case $row in upstream) port=$UP ;; nginx) port=$NGX ;; portcullis) port=$PC ;; esac
    line="$row,$round $(measure "http://127.0.0.1:$port/")"
    echo "$line" >&2
    RESULTS+="$line"$'\n'
  done
done
TABLE=$(printf '%s' "$RESULTS" | summarize "$ROUNDS" nginx \
  "upstream=upstream directly" "nginx=nginx reverse proxy" "portcullis=Portcullis, no middleware")
echo "$TABLE"
write_section proxy "## Proxy overhead (no middleware)

\`bench/proxy.sh $ROUNDS $DURATION $CONNS\` on $(machine): wrk -t$THREADS -c$CONNS, ${DURATION} s per row after a 2 s warm-up, the rows rotated in each of $ROUNDS rounds. nginx runs one worker; Portcullis its default runtime (one worker thread per core); the upstream is an nginx \`return 200\` of 20 bytes.

$TABLE"
