# Shared pieces of the benchmark scripts (sourced, not run).

THREADS=${THREADS:-2}

bench_install() {
  local need=()
  command -v wrk >/dev/null || need+=(wrk)
  command -v nginx >/dev/null || need+=(nginx)
  command -v curl >/dev/null || need+=(curl)
  command -v redis-server >/dev/null || need+=(redis-server)
  if [ ${#need[@]} -gt 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q && apt-get install -y -q --no-install-recommends "${need[@]}"
  fi
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

wait_http() {
  local url=$1
  for _ in $(seq 1 150); do curl -s -o /dev/null "$url" && return 0; sleep 0.1; done
  echo "no answer from $url" >&2
  return 1
}

# nginx configuration: an upstream answering a fixed 20-byte body on $1 and, when $2 is given, a
# plain reverse proxy to it on $2. $3 is the working directory. With $4 = proxy-only, only the
# reverse proxy: run it as a second nginx, so that the proxy and the upstream do not share one
# worker process (a shared worker puts the proxy and the upstream on one core, which slows the
# nginx row and flatters every proxy compared with it).
nginx_conf() {
  local up=$1 proxy=${2:-} work=$3 only=${4:-}
  cat <<NGINX
worker_processes 1;
pid $work/nginx.pid;
error_log $work/nginx-error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  client_body_temp_path $work/nginx-body;
  proxy_temp_path $work/nginx-proxy;
  fastcgi_temp_path $work/nginx-fastcgi;
  uwsgi_temp_path $work/nginx-uwsgi;
  scgi_temp_path $work/nginx-scgi;
  upstream app { server 127.0.0.1:$up; keepalive 256; }
NGINX
  if [ "$only" != proxy-only ]; then
    cat <<NGINX
  server {
    listen 127.0.0.1:$up;
    location / { default_type text/plain; return 200 "hello from upstream\n"; }
  }
NGINX
  fi
  if [ -n "$proxy" ]; then
    cat <<NGINX
  server {
    listen 127.0.0.1:$proxy;
    location / {
      proxy_pass http://app;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host \$host;
      proxy_set_header X-Forwarded-For \$remote_addr;
    }
  }
NGINX
  fi
  echo "}"
}

# measure URL [extra wrk args...]: prints "requests/s p50-ms p99-ms errors" after a 2 s warm-up.
measure() {
  local url=$1
  shift
  wrk -t"$THREADS" -c"$CONNS" -d2s "$@" "$url" >/dev/null 2>&1 || true
  wrk -t"$THREADS" -c"$CONNS" -d"${DURATION}s" --latency "$@" "$url" | python3 -c '
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

# summarize ROUNDS BASE_ROW "row=label" ...: reads "row,round rps p50 p99 errors" lines on stdin,
# prints a markdown table of medians and, for every other row, its per-round ratio to BASE_ROW;
# EXTRA_RATIOS="row:other ..." adds the per-round ratios of further pairs of rows.
summarize() {
  python3 -c '
import statistics, sys
rounds, base = int(sys.argv[1]), sys.argv[2]
labels = [a.split("=", 1) for a in sys.argv[3:]]
data = {}
for line in sys.stdin.read().strip().splitlines():
    key, rps, p50, p99, err = line.split()
    row, rnd = key.split(",")
    data.setdefault(row, {})[int(rnd)] = (float(rps), float(p50), float(p99), int(err))
print("| row | requests/s (median) | p50 ms | p99 ms | errors |")
print("|---|---:|---:|---:|---:|")
for key, label in labels:
    d = data[key].values()
    print(f"| {label} | {statistics.median(x[0] for x in d):.0f} | {statistics.median(x[1] for x in d):.3f} | {statistics.median(x[2] for x in d):.3f} | {sum(x[3] for x in d)} |")
print()
for key, label in labels:
    if key == base:
        continue
    rps = [data[key][r][0] / data[base][r][0] for r in range(1, rounds + 1)]
    p99 = [data[key][r][2] / data[base][r][2] for r in range(1, rounds + 1)]
    base_label = dict(labels)[base]
    rps_text = ", ".join("%.2f" % x for x in rps)
    p99_text = ", ".join("%.2f" % x for x in p99)
    print("- %s / %s: requests/s %s (median **%.2f**); p99 %s (median **%.2f**)" % (
        label, base_label, rps_text, statistics.median(rps), p99_text, statistics.median(p99)))
import os
names = dict(labels)
for pair in os.environ.get("EXTRA_RATIOS", "").split():
    key, other = pair.split(":")
    rps = [data[key][r][0] / data[other][r][0] for r in range(1, rounds + 1)]
    print("- %s / %s: requests/s %s (median **%.2f**)" % (
        names[key], names[other], ", ".join("%.2f" % x for x in rps), statistics.median(rps)))
' "$@"
}

# write_section MARKER TEXT: replaces (or appends) the section between <!-- MARKER:start --> and
# <!-- MARKER:end --> in docs/benchmarks.md.
write_section() {
  local marker=$1 text=$2 doc=docs/benchmarks.md
  [ -f "$doc" ] || printf '# Benchmarks\n\nRegenerated by the scripts in bench/. Numbers are from one machine shared by the\nload generator and the servers: compare the ratios measured within one run.\n' > "$doc"
  python3 - "$doc" "$marker" "$text" <<'PY'
import re, sys
path, marker, text = sys.argv[1:4]
doc = open(path).read()
block = f"<!-- {marker}:start -->\n{text}\n<!-- {marker}:end -->"
pattern = re.compile(rf"<!-- {marker}:start -->.*?<!-- {marker}:end -->", re.S)
doc = pattern.sub(lambda m: block, doc) if pattern.search(doc) else doc.rstrip() + "\n\n" + block + "\n"
open(path, "w").write(doc)
PY
}

machine() {
  echo "$(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), $(date -u +%Y-%m-%d)"
}

# devidp_login URL JAR WORK: logs in as alice at URL through the development provider's login form
# (a plain POST, no browser), keeping cookies in the curl cookie JAR; prints the final status
# (000 when the form never showed). Without a form, the provider's own session completed the
# login at once.
devidp_login() {
  local url=$1 jar=$2 work=$3 status txn action
  status=$(curl -s -L -c "$jar" -b "$jar" -H 'Accept: text/html' -o "$work/login.html" -w '%{http_code}' "$url" || true)
  txn=$(sed -n 's/.*name="txn" value="\([^"]*\)".*/\1/p' "$work/login.html" | head -1)
  if [ -z "$txn" ]; then
    echo "$status"
    return
  fi
  action=$(sed -n 's/.*<form method="post" action="\([^"]*\)".*/\1/p' "$work/login.html" | head -1)
  action=${action//&amp;/&}
  curl -s -L -c "$jar" -b "$jar" -o /dev/null -w '%{http_code}' \
    --data-urlencode "txn=$txn" --data-urlencode "username=alice" "$action" || echo 000
}

# jar_cookie JAR NAME: the Cookie header value of the cookies in JAR whose names start with NAME.
jar_cookie() {
  awk -v name="$2" '$0 !~ /^#/ || $0 ~ /^#HttpOnly_/ { if (NF >= 7 && index($6, name) == 1) printf "%s%s=%s", (n++ ? "; " : ""), $6, $7 }' "$1"
}
