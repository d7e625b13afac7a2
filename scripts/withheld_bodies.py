#!/usr/bin/env python3
"""What clients that announce a request body and withhold it do to an okta-bridge server.

Starts `BINARY serve --sandbox` on a free loopback port with a fresh database, then:
1. 300 clients each announce a ~2 MB body to POST /hooks/okta/nosuch (no secret, no such
   connection) and withhold its last byte: the server's resident memory before, while they
   wait, and after they are closed; how many were answered at once.
2. 1,024 clients (every connection slot of a default server) announce a 100,000-byte body to
   POST /login and send none of it: how long /healthz then takes to answer (30 s at most).

Usage: python3 scripts/withheld_bodies.py target/debug/okta-bridge
Loopback only; bounded in count and time; stops the server it started.
"""
import os
import resource
import select
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mb(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS"):
            return int(line.split()[1]) // 1024
    return -1


def healthz(port, timeout):
    t = time.time()
    try:
        status = urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=timeout).status
    except Exception as e:  # a timeout is the finding, not an error of the script
        status = type(e).__name__
    return status, time.time() - t


def hook_bodies(port, pid, n=300, size=2_000_000):
    before = rss_mb(pid)
    socks = []
    body = b"x" * (size - 1)
    head = (
        f"POST /hooks/okta/nosuch HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Content-Length: {size}\r\n\r\n"
    ).encode()
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(head)
        s.settimeout(0.001)
        try:
            s.sendall(body)
        except (socket.timeout, BlockingIOError, BrokenPipeError, ConnectionResetError):
            pass
        socks.append(s)
    answered = 0
    readable, _, _ = select.select(socks, [], [], 2.0)
    for s in readable:
        s.settimeout(0.1)
        try:
            answered += s.recv(64).startswith(b"HTTP/1.1 4")
        except OSError:
            pass
    during = rss_mb(pid)
    for s in socks:
        s.close()
    # The server frees what it held when the connections close; give it a moment to.
    time.sleep(2)
    print(
        f"{n} withheld ~2 MB hook bodies: RSS {before} MB before, {during} MB while they wait, "
        f"{rss_mb(pid)} MB after; answered at once: {answered}/{n}"
    )


def slots(port, n=1024):
    socks = []
    head = (
        b"POST /login HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
        b"Content-Length: 100000\r\n\r\n"
    )
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(head)
        socks.append(s)
    status, took = healthz(port, 30)
    print(f"{n} withheld /login bodies: /healthz {status} after {took:.1f} s")
    for s in socks:
        s.close()


def main():
    binary = sys.argv[1]
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(8192, hard), hard))
    with tempfile.TemporaryDirectory() as d:
        port = free_port()
        server = subprocess.Popen(
            [binary, "serve", "--sandbox", "--listen", f"127.0.0.1:{port}",
             "--database-url", f"sqlite://{d}/okta-bridge.db"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (min(8192, hard), hard)),
        )
        try:
            for _ in range(120):
                if healthz(port, 1)[0] == 200:
                    break
                time.sleep(0.5)  # waiting for the server to start
            hook_bodies(port, server.pid)
            slots(port)
        finally:
            server.terminate()
            server.wait(timeout=20)


if __name__ == "__main__":
    main()
