#!/usr/bin/env bash
# Proxy overhead benchmark: the same small upstream measured directly, through nginx as a plain
# reverse proxy, and through Portcullis with no middleware, in one run, on loopback only. The
# upstream and the nginx proxy are separate nginx processes of one worker each, as in bench/run.
# Also: each proxy's own CPU and system calls per request, and Portcullis' instructions per
# request (bench/instructions.py, callgrind: independent of the machine's load).
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
command -v callgrind_control >/dev/null || {
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q && apt-get install -y -q --no-install-recommends valgrind
}

cargo build --release -p portcullis >/dev/null
BIN=${CARGO_TARGET_DIR:-target}/release/portcullis
WORK=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT

UP=$(free_port); NGX=$(free_port); PC=$(free_port); IN_PORT=$(free_port)
mkdir -p "$WORK/up" "$WORK/proxy"
nginx_conf "$UP" "" "$WORK/up" >"$WORK/up/nginx.conf"
nginx_conf "$UP" "$NGX" "$WORK/proxy" proxy-only >"$WORK/proxy/nginx.conf"
nginx -c "$WORK/up/nginx.conf" -g 'daemon off;' &
PIDS+=($!); UP_PID=$!
nginx -c "$WORK/proxy/nginx.conf" -g 'daemon off;' &
PIDS+=($!); NGX_PID=$!

config() { # PORT
  cat <<YAML
entryPoints:
  web: { address: "127.0.0.1:$1" }
log: { level: warn }
http:
  routers:
    app: { rule: "PathPrefix(\`/\`)", service: app }
  services:
    app: { loadBalancer: { servers: [ { url: "http://127.0.0.1:$UP" } ] } }
YAML
}
config "$PC" >"$WORK/portcullis.yaml"
config "$IN_PORT" >"$WORK/instructions.yaml"
"$BIN" --config "$WORK/portcullis.yaml" &
PIDS+=($!); PC_PID=$!
for port in $UP $NGX $PC; do wait_http "http://127.0.0.1:$port/"; done

RESULTS=""
: >"$WORK/cpu.jsonl"
for round in $(seq 1 "$ROUNDS"); do
  for row in upstream nginx portcullis; do
    args=()
    case $row in
      upstream) port=$UP ;;
      nginx) port=$NGX; args=(--gateway "$NGX_PID" --helper "$UP_PID") ;;
      portcullis) port=$PC; args=(--gateway "$PC_PID" --helper "$UP_PID") ;;
    esac
    json=$(python3 bench/measure.py "http://127.0.0.1:$port/" "$CONNS" "$DURATION" --threads "$THREADS" "${args[@]}")
    line="$row,$round $(python3 -c 'import json,sys; m=json.loads(sys.argv[1]); print("%.0f %.3f %.3f %d" % (m["rps"], m["p50_ms"], m["p99_ms"], m["errors"]))' "$json")"
    echo "$line" >&2
    RESULTS+="$line"$'\n'
    python3 -c 'import json,sys; m=json.loads(sys.argv[1]); m["row"]=sys.argv[2]; print(json.dumps(m))' "$json" "$row" >>"$WORK/cpu.jsonl"
  done
done
TABLE=$(printf '%s' "$RESULTS" | summarize "$ROUNDS" nginx \
  "upstream=upstream directly" "nginx=nginx reverse proxy" "portcullis=Portcullis, no middleware")
INSTRUCTIONS=$(python3 bench/instructions.py --port "$IN_PORT" --conns "$CONNS" --row portcullis=/ \
  -- "$BIN" --config "$WORK/instructions.yaml")
COSTS=$(python3 - "$WORK/cpu.jsonl" "$INSTRUCTIONS" <<'PY'
import json, statistics, sys
rows = {}
for line in open(sys.argv[1]):
    m = json.loads(line)
    rows.setdefault(m["row"], []).append(m)
def med(row, field):
    vals = [m[field] for m in rows.get(row, []) if m.get(field) is not None]
    return statistics.median(vals) if vals else None
def fmt(v, d=1):
    return "—" if v is None else f"{v:.{d}f}"
ins = json.loads(sys.argv[2])
print("| per request (median) | nginx reverse proxy | Portcullis, no middleware |")
print("|---|---:|---:|")
print(f"| gateway CPU µs | {fmt(med('nginx', 'gateway_cpu_us'))} | {fmt(med('portcullis', 'gateway_cpu_us'))} |")
print(f"| gateway system calls | {fmt(med('nginx', 'syscalls_per_req'), 2)} | {fmt(med('portcullis', 'syscalls_per_req'), 2)} |")
print(f"| gateway instructions (user space, callgrind, {ins['requests']} requests) | — | {ins['instructions_per_request']:,.0f} |")
PY
)
echo "$TABLE"
echo
echo "$COSTS"
write_section proxy "## Proxy overhead (no middleware)

\`bench/proxy.sh $ROUNDS $DURATION $CONNS\` on $(machine): wrk -t$THREADS -c$CONNS, ${DURATION} s per row after a 2 s warm-up, the rows rotated in each of $ROUNDS rounds. The upstream (an nginx \`return 200\` of 20 bytes) and the nginx reverse proxy are separate nginx processes of one worker each; Portcullis runs its default runtime (one worker thread per core).

$TABLE

$COSTS"
