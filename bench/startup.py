#!/usr/bin/env python3
"""Start-up time of a gateway to its first 200, for bench/run.

Usage: startup.py RUNS PORT PATH -- COMMAND...
Starts COMMAND RUNS times; each time, polls GET PATH on 127.0.0.1:PORT every millisecond from
the moment the process is spawned until a 200 arrives, then stops it. Prints one JSON line with
the times in milliseconds.
"""
import json
import signal
import socket
import subprocess
import sys
import time

runs, port, path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
command = sys.argv[sys.argv.index("--") + 1:]
request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n".encode()


def answered_200():
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            s.sendall(request)
            return s.recv(12).startswith(b"HTTP/1.1 200")
    except OSError:
        return False


times = []
for _ in range(runs):
    t0 = time.monotonic()
    p = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    while not answered_200():
        if p.poll() is not None or time.monotonic() - t0 > 30:
            sys.exit(f"{command} never answered 200 on port {port}")
        time.sleep(0.001)
    times.append((time.monotonic() - t0) * 1000)
    p.send_signal(signal.SIGTERM)
    try:
        p.wait(timeout=15)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
print(json.dumps({"runs_ms": times}))
