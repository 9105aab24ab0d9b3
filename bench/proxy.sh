#!/usr/bin/env bash
# Proxy overhead benchmark: the same small upstream measured directly, through nginx as a plain
# reverse proxy, and through Portcullis with no middleware, in one run, on loopback only.
# Writes the table into docs/benchmarks.md (between the proxy markers) and prints it.
#
# Usage: bench/proxy.sh [ROUNDS (3)] [DURATION seconds (10)] [CONNECTIONS (64)]
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-3}
DURATION=${2:-10}
CONNS=${3:-64}
THREADS=2

need=()
command -v wrk >/dev/null || need+=(wrk)
command -v nginx >/dev/null || need+=(nginx)
if [ ${#need[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q && apt-get install -y -q --no-install-recommends "${need[@]}"
fi

cargo build --release -p portcullis >/dev/null
BIN=target/release/portcullis
WORK=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
UP=$(free_port); NGX=$(free_port); PC=$(free_port)

mkdir -p "$WORK/nginx"
cat >"$WORK/nginx/nginx.conf" <<NGINX
worker_processes 1;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  client_body_temp_path $WORK/nginx/body;
  proxy_temp_path $WORK/nginx/proxy;
  fastcgi_temp_path $WORK/nginx/fastcgi;
  uwsgi_temp_path $WORK/nginx/uwsgi;
  scgi_temp_path $WORK/nginx/scgi;
  upstream app { server 127.0.0.1:$UP; keepalive 256; }
  server {
    listen 127.0.0.1:$UP;
    location / { default_type text/plain; return 200 "hello from upstream\n"; }
  }
  server {
    listen 127.0.0.1:$NGX;
    location / {
      proxy_pass http://app;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host \$host;
      proxy_set_header X-Forwarded-For \$remote_addr;
    }
  }
}
NGINX
nginx -c "$WORK/nginx/nginx.conf" -g 'daemon off;' &
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

for port in $UP $NGX $PC; do
  for _ in $(seq 1 100); do curl -fsS "http://127.0.0.1:$port/" >/dev/null 2>&1 && break; sleep 0.1; done
done

# wrk prints latency percentiles with --latency; parse requests/s, p50 and p99 (in ms).
measure() {
  local url=$1
  wrk -t$THREADS -c"$CONNS" -d2s "$url" >/dev/null 2>&1 || true
  wrk -t$THREADS -c"$CONNS" -d"${DURATION}s" --latency "$url" | python3 -c '
import re, sys
text = sys.stdin.read()
def ms(v):
    m = re.match(r"([\d.]+)(us|ms|s|m)$", v)
    if not m:
        sys.exit(f"cannot read latency {v!r} in:\n{text}")
    n, unit = m.groups()
    return float(n) * {"us": 0.001, "ms": 1, "s": 1000, "m": 60000}[unit]
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
p50 = ms(re.search(r"^\s+50%\s+(\S+)", text, re.M).group(1))
p99 = ms(re.search(r"^\s+99%\s+(\S+)", text, re.M).group(1))
errors = sum(int(x) for x in re.findall(r"(?:connect|read|write|timeout) (\d+)", text))
non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
errors += int(non2xx.group(1)) if non2xx else 0
print(f"{rps:.0f} {p50:.3f} {p99:.3f} {errors}")'
}

declare -A RESULTS
for round in $(seq 1 "$ROUNDS"); do
  for row in upstream nginx portcullis; do
    case $row in
      upstream) port=$UP ;; nginx) port=$NGX ;; portcullis) port=$PC ;;
    esac
    RESULTS[$row,$round]=$(measure "http://127.0.0.1:$port/")
    echo "round $round $row: ${RESULTS[$row,$round]}" >&2
  done
done

TABLE=$(python3 - "$ROUNDS" <<PY
import statistics, sys
rounds = int(sys.argv[1])
raw = """$(for k in "${!RESULTS[@]}"; do echo "$k ${RESULTS[$k]}"; done)"""
data = {}
for line in raw.strip().splitlines():
    key, rps, p50, p99, err = line.split()
    row, rnd = key.split(",")
    data.setdefault(row, []).append((int(rnd), float(rps), float(p50), float(p99), int(err)))
rows = [("upstream", "upstream directly"), ("nginx", "nginx reverse proxy"), ("portcullis", "Portcullis, no middleware")]
print("| row | requests/s (median) | p50 ms | p99 ms | errors |")
print("|---|---:|---:|---:|---:|")
for key, label in rows:
    d = data[key]
    print(f"| {label} | {statistics.median(x[1] for x in d):.0f} | {statistics.median(x[2] for x in d):.3f} | {statistics.median(x[3] for x in d):.3f} | {sum(x[4] for x in d)} |")
ratios_rps = []
ratios_p99 = []
for r in range(1, rounds + 1):
    n = next(x for x in data["nginx"] if x[0] == r)
    p = next(x for x in data["portcullis"] if x[0] == r)
    ratios_rps.append(p[1] / n[1])
    ratios_p99.append(p[3] / n[3])
print()
print(f"Per-round Portcullis/nginx requests/s: {', '.join(f'{x:.2f}' for x in ratios_rps)} (median {statistics.median(ratios_rps):.2f}); "
      f"p99 ratio: {', '.join(f'{x:.2f}' for x in ratios_p99)} (median {statistics.median(ratios_p99):.2f}).")
PY
)
echo "$TABLE"

DOC=docs/benchmarks.md
HEADER="<!-- proxy:start -->"
FOOTER="<!-- proxy:end -->"
SECTION=$(cat <<MD
$HEADER
## Proxy overhead (no middleware)

\`bench/proxy.sh $ROUNDS $DURATION $CONNS\`, $(date -u +%Y-%m-%d), $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), wrk -t$THREADS -c$CONNS, ${DURATION} s per row after a 2 s warm-up, rows rotated in each of $ROUNDS rounds. wrk shares the cores with the servers; compare ratios within a run. nginx runs one worker, Portcullis its default runtime (one worker thread per core), the upstream is an nginx \`return 200\`.

$TABLE
$FOOTER
MD
)
if [ -f "$DOC" ] && grep -q "$HEADER" "$DOC"; then
  python3 - "$DOC" "$SECTION" <<'PY'
import sys, re
path, section = sys.argv[1], sys.argv[2]
text = open(path).read()
text = re.sub(r"<!-- proxy:start -->.*?<!-- proxy:end -->", lambda m: section, text, flags=re.S)
open(path, "w").write(text)
PY
else
  { [ -f "$DOC" ] && cat "$DOC" || echo "# Benchmarks"; echo; echo "$SECTION"; } > "$DOC.tmp" && mv "$DOC.tmp" "$DOC"
fi
