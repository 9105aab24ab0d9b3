-- wrk script for bench/run: counts responses that are not 2xx (wrk itself counts 3xx as
-- successes, and a relying party's 302 to the provider is a failure here) and responses that
-- set a cookie (a session re-issued on every request), and prints one RESULT line.
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) not2xx = 0; s3xx = 0; s4xx = 0; s5xx = 0; setcookie = 0 end
function response(status, headers, body)
  if status < 200 or status > 299 then not2xx = not2xx + 1 end
  if status >= 300 and status < 400 then s3xx = s3xx + 1 end
  if status >= 400 and status < 500 then s4xx = s4xx + 1 end
  if status >= 500 then s5xx = s5xx + 1 end
  if headers["Set-Cookie"] or headers["set-cookie"] then setcookie = setcookie + 1 end
end
function done(summary, latency, requests)
  local bad, sc, c3, c4, c5 = 0, 0, 0, 0, 0
  for _, t in ipairs(threads) do
    bad = bad + t:get("not2xx"); sc = sc + t:get("setcookie")
    c3 = c3 + t:get("s3xx"); c4 = c4 + t:get("s4xx"); c5 = c5 + t:get("s5xx")
  end
  local e = summary.errors
  io.write(string.format(
    "RESULT requests=%d duration_s=%.3f rps=%.1f p50_ms=%.3f p99_ms=%.3f max_ms=%.3f not2xx=%d s3xx=%d s4xx=%d s5xx=%d setcookie=%d socket_errors=%d connect=%d read=%d write=%d timeout=%d\n",
    summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000, bad, c3, c4, c5, sc,
    e.connect + e.read + e.write + e.timeout, e.connect, e.read, e.write, e.timeout))
end
