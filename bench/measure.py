#!/usr/bin/env python3
"""One wrk measurement for bench/run, printed as one JSON line.

Usage: measure.py URL CONNS DURATION [--threads N] [--header H] [--gateway PID ...]

- a warm-up run of 2 s, then DURATION s with bench/count.lua;
- server CPU: busy CPU of the whole machine (/proc/stat: user, nice, system, irq, softirq,
  steal) over the measured run minus wrk's own CPU (/proc/<wrk pid>/stat, read before wrk is
  reaped), per request;
- gateway CPU: utime + stime of the gateway processes (the PIDs given and their descendants),
  per request;
- peak RSS: VmHWM of the gateway processes, summed, after resetting it (clear_refs 5) before the
  measured run, so it is the peak of this run only;
- system calls and context switches of the gateway processes per request (`perf stat` on the
  `raw_syscalls:sys_enter` tracepoint and the `context-switches` software event, which work
  without hardware counters): the kernel's share of the work, counted rather than timed, so it
  does not move with the machine's load. None when perf is missing or not allowed.
"""
import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
TICK = os.sysconf("SC_CLK_TCK")


def busy_ticks():
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal ...
    return v[0] + v[1] + v[2] + v[5] + v[6] + v[7]


def proc_cpu_ticks(pid, reaped_children=False):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])  # utime, stime
    if reaped_children:
        ticks += int(fields[13]) + int(fields[14])  # cutime, cstime
    return ticks


def children():
    kids = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except OSError:
            continue
        kids.setdefault(ppid, []).append(int(name))
    return kids


def tree(roots):
    kids, seen, todo = children(), [], list(roots)
    while todo:
        pid = todo.pop()
        if pid not in seen:
            seen.append(pid)
            todo.extend(kids.get(pid, []))
    return seen


def status_kb(pid, key):
    try:
        with open(f"/proc/{pid}/status") as f:
            m = re.search(rf"^{key}:\s+(\d+) kB", f.read(), re.M)
        return int(m.group(1)) if m else 0
    except OSError:
        return 0


def gateway_cpu(pids, roots):
    # Live processes count their own time; children that exited (Apache stops spare processes)
    # count in their parent's cutime/cstime once reaped.
    total = 0
    for pid in pids:
        try:
            total += proc_cpu_ticks(pid, reaped_children=pid in roots)
        except OSError:
            pass
    return total


def perf_start(pids):
    """`perf stat` on the gateway's processes, or None when it cannot run here."""
    if not pids or not shutil.which("perf"):
        return None
    out = tempfile.NamedTemporaryFile(prefix="perf-stat-", suffix=".csv", delete=False)
    proc = subprocess.Popen(
        ["perf", "stat", "-x", ",", "-o", out.name, "-e", "raw_syscalls:sys_enter,context-switches",
         "-p", ",".join(str(p) for p in pids)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return proc, out.name


def perf_stop(started):
    """Counts by event name from a `perf stat` started by perf_start ({} if it failed)."""
    if started is None:
        return {}
    proc, path = started
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
    counts = {}
    try:
        for line in open(path):
            fields = line.strip().split(",")
            if len(fields) > 2 and fields[0].replace(".", "").isdigit():
                counts[fields[2]] = float(fields[0])
    finally:
        os.unlink(path)
    return counts


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("url")
    ap.add_argument("conns", type=int)
    ap.add_argument("duration", type=int)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--header", action="append", default=[])
    ap.add_argument("--gateway", type=int, action="append", default=[])
    ap.add_argument("--helper", type=int, action="append", default=[],
                    help="other processes of the set-up (upstream, Redis): with the gateway and wrk, "
                         "what remains of the busy CPU is load from outside the benchmark")
    a = ap.parse_args()

    hdr = []
    for h in a.header:
        hdr += ["-H", h]
    base = ["wrk", f"-t{a.threads}", f"-c{a.conns}"]
    subprocess.run(base + ["-d2s"] + hdr + [a.url], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    gw = tree(a.gateway)
    for pid in gw:
        try:
            with open(f"/proc/{pid}/clear_refs", "w") as f:
                f.write("5")
        except OSError:
            pass
    gw_before = gateway_cpu(gw, a.gateway)
    helpers = tree(a.helper)
    helpers_before = gateway_cpu(helpers, a.helper)
    perf = perf_start(gw)
    busy_before = busy_ticks()
    wrk = subprocess.Popen(base + [f"-d{a.duration}s", "--latency", "-s", os.path.join(HERE, "count.lua")] + hdr + [a.url],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out = wrk.stdout.read()
    # Wait without reaping: /proc/<pid>/stat of the exited wrk still holds its CPU times.
    os.waitid(os.P_PID, wrk.pid, os.WEXITED | os.WNOWAIT)
    wrk_ticks = proc_cpu_ticks(wrk.pid)
    busy_after = busy_ticks()
    gw_after_pids = tree(a.gateway)
    # processes started during the run count from zero
    gw_after = gateway_cpu(gw_after_pids, a.gateway)
    helpers_after = gateway_cpu(tree(a.helper), a.helper)
    rss_kb = sum(status_kb(pid, "VmHWM") for pid in gw_after_pids)
    counted = perf_stop(perf)
    wrk.wait()

    m = re.search(r"^RESULT (.*)$", out, re.M)
    if not m:
        sys.exit(f"no RESULT from wrk:\n{out}")
    r = {k: float(v) for k, v in (p.split("=") for p in m.group(1).split())}
    n = r["requests"] or 1
    server_s = max(0.0, (busy_after - busy_before - wrk_ticks) / TICK)
    ours = wrk_ticks + (gw_after - gw_before) + (helpers_after - helpers_before)
    other = max(0.0, (busy_after - busy_before - ours) / TICK)
    print(json.dumps({
        "requests": int(r["requests"]),
        "rps": r["rps"],
        "p50_ms": r["p50_ms"],
        "p99_ms": r["p99_ms"],
        "max_ms": r["max_ms"],
        "errors": int(r["not2xx"] + r["socket_errors"]),
        "error_kinds": {k: int(r[k]) for k in ("s3xx", "s4xx", "s5xx", "connect", "read", "write", "timeout") if r[k]},
        "setcookie": int(r["setcookie"]),
        "server_cpu_us": server_s * 1e6 / n,
        "wrk_cpu_s": wrk_ticks / TICK,
        "other_load_pct": other / (r["duration_s"] * os.cpu_count()) * 100,
        "gateway_cpu_us": (gw_after - gw_before) / TICK * 1e6 / n if a.gateway else None,
        "gateway_procs": len(gw_after_pids),
        "peak_rss_mb": rss_kb / 1024 if a.gateway else None,
        "syscalls_per_req": counted["raw_syscalls:sys_enter"] / n if "raw_syscalls:sys_enter" in counted else None,
        "ctx_switches_per_req": counted["context-switches"] / n if "context-switches" in counted else None,
    }))


if __name__ == "__main__":
    main()
