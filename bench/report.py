#!/usr/bin/env python3
"""Tables, ratios and bar chart of bench/run.

Usage: report.py RESULTS.jsonl FACTS.json SVG_PATH SVG_LINK
RESULTS: one JSON object per measurement (row, round, conns and the fields of measure.py).
FACTS: everything else the run found (command, machine, rows, idle, startup, sizes...).
Prints the markdown section on stdout and writes the SVG chart (no packages needed).
"""
import json
import statistics
import sys
from xml.sax.saxutils import escape

results_path, facts_path, svg_path, svg_link = sys.argv[1:5]
facts = json.load(open(facts_path))
rows = facts["rows"]  # [[key, label], ...] in table order
conns_list = facts["conns"]
data = {}
for line in open(results_path):
    if line.strip():
        m = json.loads(line)
        data.setdefault((m["row"], m["conns"]), {})[m["round"]] = m
rounds = sorted({r for v in data.values() for r in v})
# instructions per request from bench/instructions.py: (row, conns) -> value
instructions = {(m["row"], m["conns"]): m["instructions_per_request"] for m in facts.get("instructions", [])}
label = dict(rows)
number = {key: i + 1 for i, (key, _) in enumerate(rows)}


def med(key, conns, field):
    vals = [m[field] for m in data.get((key, conns), {}).values() if m.get(field) is not None]
    return statistics.median(vals) if vals else None


def fmt(v, digits=0):
    return "—" if v is None else f"{v:,.{digits}f}"


out = []
for conns in conns_list:
    out.append(f"**{conns} connections** (medians over {len(rounds)} round{'s' if len(rounds) > 1 else ''})\n")
    out.append("| # | row | requests/s | p50 ms | p99 ms | max ms | server CPU µs/req | gateway CPU µs/req | gateway instructions/req | gateway syscalls/req | gateway peak RSS MB | errors | Set-Cookie | other load % |")
    out.append("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for key, lab in rows:
        ms = data.get((key, conns), {}).values()
        errors = sum(m["errors"] for m in ms)
        setcookie = sum(m["setcookie"] for m in ms)
        out.append(
            f"| {number[key]} | {lab} | {fmt(med(key, conns, 'rps'))} | {fmt(med(key, conns, 'p50_ms'), 2)} | "
            f"{fmt(med(key, conns, 'p99_ms'), 2)} | {fmt(med(key, conns, 'max_ms'), 1)} | "
            f"{fmt(med(key, conns, 'server_cpu_us'), 1)} | {fmt(med(key, conns, 'gateway_cpu_us'), 1)} | "
            f"{fmt(instructions.get((key, conns)))} | {fmt(med(key, conns, 'syscalls_per_req'), 2)} | "
            f"{fmt(med(key, conns, 'peak_rss_mb'), 1)} | {errors} | {setcookie} | {fmt(med(key, conns, 'other_load_pct'))} |")
    out.append("")

notes = []
for conns in conns_list:
    for key, lab in rows:
        kinds = {}
        for m in data.get((key, conns), {}).values():
            for k, v in m.get("error_kinds", {}).items():
                kinds[k] = kinds.get(k, 0) + v
        if kinds:
            names = {"s3xx": "3xx", "s4xx": "4xx", "s5xx": "5xx", "connect": "connect errors",
                     "read": "read errors", "write": "write errors", "timeout": "timeouts (2 s)"}
            notes.append(f"row {number[key]} at {conns} connections: " +
                         ", ".join(f"{v} {names.get(k, k)}" for k, v in kinds.items()))
if notes:
    out.append("Errors by kind (all rounds): " + "; ".join(notes) + ".\n")

busy = sorted((m["round"], number[key], conns, m["other_load_pct"])
              for (key, conns), per_round in data.items() for m in per_round.values() if m.get("other_load_pct", 0) > 10)
if busy:
    out.append("Measurements with more than 10 % of the machine busy with work from outside the benchmark "
               "(less comparable; the medians above damp them): " +
               ", ".join(f"round {r} row {n} at {c} connections ({p:.0f} %)" for r, n, c, p in busy) + ".\n")

RATIOS = [
    ("plain", "nginx", "gateway_cpu_us", "Portcullis without middleware / nginx, gateway CPU per request"),
    ("oidc", "nginx", "gateway_cpu_us", "Portcullis OIDC (cookie) / nginx without authentication, gateway CPU per request"),
    ("plain", "nginx", "rps", "Portcullis without middleware / nginx reverse proxy, requests/s"),
    ("plain", "haproxy", "rps", "Portcullis without middleware / HAProxy, requests/s"),
    ("plain", "caddy", "rps", "Portcullis without middleware / Caddy, requests/s"),
    ("oidc", "apache_cc", "rps", "Portcullis OIDC (cookie) / Apache + mod_auth_openidc (client-cookie), requests/s"),
    ("oidc", "nginx", "rps", "Portcullis OIDC (cookie) / nginx reverse proxy without authentication, requests/s"),
    ("oidc", "plain", "p99_ms", "Portcullis OIDC (cookie) p99 / Portcullis without middleware p99"),
    ("redis", "oidc", "rps", "Portcullis OIDC (Redis) / Portcullis OIDC (cookie), requests/s"),
    ("cc", "plain", "rps", "Portcullis client credentials / Portcullis without middleware, requests/s"),
    ("apache_sc", "apache_cc", "rps", "Apache + mod_auth_openidc shm / client-cookie, requests/s"),
    ("redis", "apache_sc", "rps", "Portcullis OIDC (Redis) / Apache + mod_auth_openidc (shm), requests/s"),
    ("fa_nginx", "nginx", "rps", "nginx + Portcullis auth_request / nginx without authentication, requests/s"),
    ("fa_caddy", "caddy", "rps", "Caddy + Portcullis forward_auth / Caddy without authentication, requests/s"),
    ("fa_nginx", "oidc", "rps", "nginx + Portcullis auth_request / Portcullis OIDC (cookie) as the gateway, requests/s"),
]
out.append("Ratios, per round and median (rows of one round ran minutes apart at most):\n")
out.append("| ratio | " + " | ".join(f"{c} conns: per round" for c in conns_list) + " | " +
           " | ".join(f"{c} conns: median" for c in conns_list) + " |")
out.append("|---|" + "---|" * len(conns_list) + "---:|" * len(conns_list))
for a, b, field, text in RATIOS:
    per, meds = [], []
    for conns in conns_list:
        vals = []
        for r in rounds:
            x, y = data.get((a, conns), {}).get(r), data.get((b, conns), {}).get(r)
            if x and y and y[field]:
                vals.append(x[field] / y[field])
        per.append(", ".join(f"{v:.2f}" for v in vals) or "—")
        meds.append(f"**{statistics.median(vals):.2f}**" if vals else "—")
    out.append(f"| {text} (rows {number[a]}/{number[b]}) | " + " | ".join(per) + " | " + " | ".join(meds) + " |")
out.append("")
print("\n".join(out))

# --- SVG: two panels (requests/s, p99 ms), one group of bars per row, one bar per connection count
colors = ["#4c78a8", "#f58518", "#54a24b", "#e45756"]
bar_h, gap, group_gap = 9, 2, 10
label_w, panel_w, panel_gap, top = 350, 300, 70, 64
group_h = len(conns_list) * (bar_h + gap) + group_gap
height = top + len(rows) * group_h + 40
width = label_w + 2 * panel_w + panel_gap + 30
svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="11">',
       f'<rect width="{width}" height="{height}" fill="white"/>',
       f'<text x="10" y="18" font-size="13" font-weight="bold">{escape(facts["title"])}</text>']
for i, c in enumerate(conns_list):
    x = label_w + i * 120
    svg.append(f'<rect x="{x}" y="26" width="10" height="10" fill="{colors[i % len(colors)]}"/>'
               f'<text x="{x + 14}" y="35">{c} connections</text>')
for p, (field, title, digits) in enumerate([("rps", "requests/s (median)", 0), ("p99_ms", "p99 latency, ms (median)", 1)]):
    x0 = label_w + p * (panel_w + panel_gap)
    vmax = max((med(k, c, field) or 0) for k, _ in rows for c in conns_list) or 1
    svg.append(f'<text x="{x0}" y="{top - 2}" font-weight="bold">{title}</text>')
    svg.append(f'<line x1="{x0}" y1="{top + 2}" x2="{x0}" y2="{height - 30}" stroke="#888"/>')
    for gi, (key, lab) in enumerate(rows):
        y = top + 6 + gi * group_h
        if p == 0:
            svg.append(f'<text x="{label_w - 8}" y="{y + bar_h + 3}" text-anchor="end">{number[key]}. {escape(lab)}</text>')
        for ci, c in enumerate(conns_list):
            v = med(key, c, field)
            if v is None:
                continue
            w = max(1, v / vmax * (panel_w - 50))
            yy = y + ci * (bar_h + gap)
            svg.append(f'<rect x="{x0 + 1}" y="{yy}" width="{w:.1f}" height="{bar_h}" fill="{colors[ci % len(colors)]}"/>'
                       f'<text x="{x0 + w + 4:.1f}" y="{yy + bar_h - 1}" font-size="9">{v:,.{digits}f}</text>')
svg.append(f'<text x="10" y="{height - 10}" font-size="10" fill="#555">{escape(facts["subtitle"])}</text>')
svg.append("</svg>")
open(svg_path, "w").write("\n".join(svg) + "\n")
