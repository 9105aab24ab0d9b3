#!/usr/bin/env python3
"""Memory of a gateway holding idle keep-alive connections, for bench/run.

Usage: idle.py PORT PATH COUNT PID
Opens COUNT connections to 127.0.0.1:PORT, sends one keep-alive GET PATH on each and reads its
answer, then leaves them all open and idle; prints one JSON line with the gateway's VmRSS before
and with the connections open (the process's file descriptor limit must allow COUNT; raise
`ulimit -n` first).
"""
import json
import re
import socket
import sys
import time

port, path, count, pid = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])


def rss_kb():
    with open(f"/proc/{pid}/status") as f:
        return int(re.search(r"^VmRSS:\s+(\d+) kB", f.read(), re.M).group(1))


request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: keep-alive\r\n\r\n".encode()
before = rss_kb()
socks, ok = [], 0
for _ in range(count):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(request)
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(65536)
        if not chunk:
            break
        head += chunk
    ok += head.startswith(b"HTTP/1.1 200")
    socks.append(s)
time.sleep(2)
during = rss_kb()
open_now = 0
for s in socks:
    s.setblocking(False)
    try:
        open_now += s.recv(1) != b""  # closed by the server: b""
    except BlockingIOError:
        open_now += 1
    s.close()
print(json.dumps({"connections": count, "answered_200": ok, "still_open": open_now,
                  "rss_before_mb": before / 1024, "rss_with_connections_mb": during / 1024}))
