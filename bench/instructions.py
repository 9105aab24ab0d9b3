#!/usr/bin/env python3
"""Instructions per request of a gateway: a figure that does not move with the machine's load.

Usage: instructions.py --port PORT [--conns C ...] [--requests N] --row KEY=PATH [--header KEY=H]
                       [--out DIR] -- COMMAND...

Runs COMMAND (the gateway, listening on 127.0.0.1:PORT) under valgrind's callgrind with
instrumentation off until the gateway answers, then, for every row and connection count: sends
a warm-up of requests, zeroes the counters, sends exactly N keep-alive requests over C
connections (each connection sends N/C requests one after the other), and dumps the counters.
Prints one JSON line per measurement: the user-space instructions the gateway executed per
request (`Ir` over the N requests, all threads), and the non-200 answers. The dumps stay in DIR
(callgrind_annotate reads them: the profile behind the figure).

Why callgrind and not `perf stat -e instructions`: on machines without a virtualised PMU (most
VMs and containers: the kernel logs "PMU not available due to virtualization, using software
events only") perf has no hardware counters. callgrind counts the instructions themselves, so the
figure is exact and independent of the load; it covers user space only (the kernel's share is
counted separately as system calls per request, see measure.py).
"""
import argparse
import asyncio
import glob
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time


def answered(port, path):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            s.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
            return s.recv(12).startswith(b"HTTP/1.1")
    except OSError:
        return False


async def one_connection(port, request, count, statuses):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for _ in range(count):
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            statuses[status] = statuses.get(status, 0) + 1
            m = re.search(rb"\r\ncontent-length: *(\d+)", head, re.I)
            if m:
                await reader.readexactly(int(m.group(1)))
            elif re.search(rb"\r\ntransfer-encoding: *chunked", head, re.I):
                while True:
                    size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
                    await reader.readexactly(size + 2)
                    if size == 0:
                        break
    finally:
        writer.close()


async def load(port, path, headers, conns, total):
    request = (f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n" +
               "".join(f"{h}\r\n" for h in headers) + "\r\n").encode()
    statuses = {}
    per = max(1, total // conns)
    await asyncio.gather(*(one_connection(port, request, per, statuses) for _ in range(conns)))
    return per * conns, statuses


def control(pid, *args):
    subprocess.run(["callgrind_control", *args, str(pid)], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def newest_dump(out_dir, pid, before):
    for _ in range(200):
        dumps = set(glob.glob(f"{out_dir}/callgrind.out.{pid}.*")) - before
        done = [d for d in dumps if open(d).read().find("\ntotals:") >= 0]
        if done:
            return done[0]
        time.sleep(0.05)
    sys.exit("callgrind wrote no dump")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--conns", type=int, action="append")
    ap.add_argument("--requests", type=int, default=4000)
    ap.add_argument("--warmup", type=int, default=500)
    ap.add_argument("--row", action="append", required=True, help="KEY=PATH")
    ap.add_argument("--header", action="append", default=[], help="KEY=Name: value")
    ap.add_argument("--out", help="keep the callgrind dumps here")
    ap.add_argument("command", nargs="+")
    a = ap.parse_args()
    rows = [r.split("=", 1) for r in a.row]
    headers = {}
    for h in a.header:
        key, value = h.split("=", 1)
        headers.setdefault(key, []).append(value)
    out_dir = a.out or tempfile.mkdtemp()
    os.makedirs(out_dir, exist_ok=True)
    vg = subprocess.Popen(
        ["valgrind", "--tool=callgrind", "--instr-atstart=no",
         f"--callgrind-out-file={out_dir}/callgrind.out.%p", *a.command],
        stdout=subprocess.DEVNULL, stderr=open(f"{out_dir}/valgrind.log", "w"))
    try:
        t0 = time.monotonic()
        while not answered(a.port, rows[0][1]):
            if vg.poll() is not None or time.monotonic() - t0 > 120:
                sys.exit(f"the gateway under valgrind never answered (see {out_dir}/valgrind.log)")
            time.sleep(0.2)
        if vg.poll() is not None:
            sys.exit(f"the gateway under valgrind exited; something else answers on port {a.port}")
        control(vg.pid, "-i", "on")
        for conns in a.conns or [64]:
            for key, path in rows:
                asyncio.run(load(a.port, path, headers.get(key, []), conns, a.warmup))
                before = set(glob.glob(f"{out_dir}/callgrind.out.{vg.pid}.*"))
                control(vg.pid, "-z")
                sent, statuses = asyncio.run(load(a.port, path, headers.get(key, []), conns, a.requests))
                control(vg.pid, "-d")
                dump = newest_dump(out_dir, vg.pid, before)
                named = f"{out_dir}/callgrind.{key}.c{conns}.out"
                os.replace(dump, named)
                total = int(re.search(r"^summary: (\d+)", open(named).read(), re.M).group(1))
                print(json.dumps({
                    "row": key, "conns": conns, "requests": sent,
                    "instructions_per_request": total / sent,
                    "non200": sent - statuses.get(200, 0), "profile": named if a.out else None,
                }), flush=True)
    finally:
        vg.send_signal(signal.SIGTERM)
        try:
            vg.wait(timeout=30)
        except subprocess.TimeoutExpired:
            vg.kill()
        if not a.out:
            shutil.rmtree(out_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
