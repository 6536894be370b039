#!/usr/bin/env python3
"""Resident memory per idle keep-alive connection of an HTTP server.

Run by hand (not by CI), against a release build:

    python3 benches/http/idle_rss.py [--conns 1000] [--addr 127.0.0.1:18091] \\
        [--detail] -- target/release/examples/http_hello --mode stackful \\
        --executor pool --workers 2 --addr 127.0.0.1:18091

Starts the server command, waits until it accepts (one probe connection,
closed at once), reads its resident set (`/proc/PID/smaps_rollup`), opens
`--conns` keep-alive connections and sends one `GET /` on each, reads every
response, leaves them all open and idle, waits for the server to settle and
reads its resident set again. Prints the difference divided by the number
of connections (KiB per idle connection), then stops the server.

`--detail` also prints where the growth is: the mappings whose resident
size grew (from `/proc/PID/smaps`), and for a mapping that holds stacks of
one size (`--stack-kib`, default 68: a 64 KiB coframe stack and its guard
page) how many of each stack's pages are resident (from
`/proc/PID/pagemap`, which needs root to read).
"""

import argparse
import os
import socket
import struct
import subprocess
import sys
import time

REQUEST = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
BODY = b"Hello, World!"


def rss_kib(pid):
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            if line.startswith("Rss:"):
                return int(line.split()[1])
    raise RuntimeError("no Rss in smaps_rollup")


def mappings(pid):
    """{(start, end): {"name": ..., "Rss": kib, "flags": ...}} from smaps."""
    out = {}
    cur = None
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            head = line.split()
            if "-" in head[0] and len(head) >= 5 and not head[0].endswith(":"):
                start, end = (int(x, 16) for x in head[0].split("-"))
                cur = {"name": head[5] if len(head) > 5 else "", "Rss": 0, "flags": ""}
                out[(start, end)] = cur
            elif head[0] == "Rss:":
                cur["Rss"] = int(head[1])
            elif head[0] == "VmFlags:":
                cur["flags"] = " ".join(head[1:])
    return out


def resident_pages(pid, start, end):
    """The resident flag of each page of [start, end)."""
    page = os.sysconf("SC_PAGE_SIZE")
    n = (end - start) // page
    with open(f"/proc/{pid}/pagemap", "rb") as f:
        f.seek(start // page * 8)
        data = f.read(n * 8)
    return [(struct.unpack_from("<Q", data, i * 8)[0] >> 63) & 1 for i in range(n)]


def wait_for(addr, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            socket.create_connection(addr, timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"the server did not accept on {addr} within {timeout} s")


def settle(pid, quiet=0.3, timeout=5):
    """Waits until the resident set stops changing for `quiet` seconds."""
    last, since = rss_kib(pid), time.time()
    deadline = time.time() + timeout
    while time.time() < deadline:
        time.sleep(0.05)
        now = rss_kib(pid)
        if now != last:
            last, since = now, time.time()
        elif time.time() - since >= quiet:
            break
    return last


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--conns", type=int, default=1000)
    p.add_argument("--addr", default="127.0.0.1:18091")
    p.add_argument("--detail", action="store_true")
    p.add_argument("--stack-kib", type=int, default=68)
    p.add_argument("server", nargs=argparse.REMAINDER)
    a = p.parse_args()
    cmd = a.server[1:] if a.server[:1] == ["--"] else a.server
    if not cmd:
        p.error("give the server command after --")
    host, port = a.addr.rsplit(":", 1)
    addr = (host, int(port))

    srv = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
    conns = []
    try:
        wait_for(addr)
        before = settle(srv.pid)
        maps_before = mappings(srv.pid) if a.detail else {}
        for _ in range(a.conns):
            s = socket.create_connection(addr)
            s.sendall(REQUEST)
            conns.append(s)
        for s in conns:
            got = b""
            while not got.endswith(BODY):
                chunk = s.recv(4096)
                if not chunk:
                    raise RuntimeError("the server closed a connection")
                got += chunk
        after = settle(srv.pid)
        per = (after - before) / a.conns
        print(f"{' '.join(cmd)}")
        print(f"  Rss {before} KiB idle, {after} KiB with {a.conns} idle connections: "
              f"{per:.2f} KiB per connection")
        if a.detail:
            detail(srv.pid, maps_before, mappings(srv.pid), a.conns, a.stack_kib)
    finally:
        for s in conns:
            s.close()
        srv.terminate()
        srv.wait()


def detail(pid, before, after, conns, stack_kib):
    rows = []
    for key, m in after.items():
        grew = m["Rss"] - before.get(key, {"Rss": 0})["Rss"]
        if grew > 0:
            rows.append((grew, key, m))
    rows.sort(reverse=True)
    print("  mappings whose Rss grew (KiB, KiB per connection, size, name):")
    for grew, (start, end), m in rows[:12]:
        size = (end - start) // 1024
        print(f"    {grew:8d} {grew / conns:6.2f}  {start:x}-{end:x} {size:9d} KiB {m['name']}")
    page_kib = os.sysconf("SC_PAGE_SIZE") // 1024
    per_stack = stack_kib // page_kib
    for grew, (start, end), m in rows:
        size = (end - start) // 1024
        if size % stack_kib or size // stack_kib < conns // 2:
            continue
        try:
            pages = resident_pages(pid, start, end)
        except OSError as e:
            print(f"  (pagemap: {e})")
            return
        hist = {}
        for i in range(0, len(pages), per_stack):
            n = sum(pages[i:i + per_stack])
            if n:
                hist[n] = hist.get(n, 0) + 1
        print(f"  resident pages per {stack_kib} KiB stack in {start:x}-{end:x} "
              f"(pages: stacks): {dict(sorted(hist.items()))}")


if __name__ == "__main__":
    sys.exit(main())
