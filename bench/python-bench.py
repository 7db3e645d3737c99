#!/usr/bin/env python3
"""python-bench: a Python subscriber (the smart package) receiving 64-byte
messages from the C publisher (smart-send) over loopback multicast.

usage: python-bench.py SMART-SEND [--count N] [--mode recv|recv_into|asyncio|all]

The package must be importable (see python/README) and find libsmart
(SMART_LIBRARY). smart-send reads N lines of 64 characters (it strips the
newline: 64-byte messages) from a pipe and sends them as fast as it can;
the subscriber counts what it receives and prints messages/s from its first
message to its last (losses, reported in datagrams, are printed too; a run
ends when all came, or 2 s after the publisher exited, or at --time-limit).
msgs_per_cpu_s divides by the CPU time the subscriber's process used (the
publisher's feeding thread included): on a busy machine it says more about
the package's cost than msgs_s does. Modes: recv (a Message object per message), recv_into
(a preallocated bytearray) and asyncio (``async for`` on smart.aio.Socket).
RECV_SIZE in the environment sets the recv buffer (default 65536). Everything stays on this host (interface
127.0.0.1, TTL 1, a group in 239.255.0.0/16), every run is bounded in count
and in time, and nothing is asserted: it prints figures.
"""
import argparse
import asyncio
import os
import subprocess
import sys
import threading
import time

import smart
import smart.aio

SIZE = 64
RECV_SIZE = int(os.environ.get("RECV_SIZE", "65536"))


def lines(n: int) -> bytes:
    # 64 characters per line: a 10-digit sequence number and padding.
    pad = "q" * (SIZE - 11)
    return "".join(f"{i:010d} {pad}\n" for i in range(n)).encode()


def start_publisher(exe: str, group: str, payload: bytes) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
    p = subprocess.Popen([exe, "--group", group, "--iface", "127.0.0.1", "--linger", "2"],
                         stdin=subprocess.PIPE, env=env)

    def feed() -> None:
        try:
            p.stdin.write(payload)
            p.stdin.close()
        except BrokenPipeError:
            pass
    threading.Thread(target=feed, daemon=True).start()
    return p


def run_sync(exe: str, group: str, n: int, into: bool, limit_s: float) -> tuple:
    payload = lines(n)
    with smart.Socket(group, "127.0.0.1", rcvtimeo_ms=2000, linger_ms=0,
                      recv_size=RECV_SIZE) as s:
        pub = start_publisher(exe, group, payload)
        got = lost = 0
        first = last = 0.0
        buf = bytearray(2048)
        deadline = time.monotonic() + limit_s
        recv, recv_into = s.recv, s.recv_into
        while got < n and time.monotonic() < deadline:
            try:
                if into:
                    recv_into(buf)
                else:
                    recv()
            except smart.WouldBlock:  # 2 s without a message
                if pub.poll() is not None:
                    break
                continue
            except smart.Lost as e:
                lost += e.loss.count
                continue
            if got == 0:
                first = time.perf_counter()
            got += 1
            if got & 1023 == 0:
                last = time.perf_counter()
        if got & 1023:
            last = time.perf_counter() if got == n else last
        stats = s.stats()
    pub.wait(timeout=30)
    return got, lost, last - first, stats


async def run_async_main(exe: str, group: str, n: int, limit_s: float) -> tuple:
    payload = lines(n)
    loop = asyncio.get_running_loop()
    async with smart.aio.Socket(group, "127.0.0.1", linger_ms=0) as s:
        pub = start_publisher(exe, group, payload)
        got = lost = 0
        first = last = 0.0
        t_end = time.monotonic() + limit_s
        seen = [-1]

        def watchdog() -> None:
            # bounded in time; and done once the publisher has exited and
            # nothing came for 2 s
            if time.monotonic() > t_end or (pub.poll() is not None and seen[0] == got):
                s.close()
            else:
                seen[0] = got
                loop.call_later(2.0, watchdog)
        loop.call_later(2.0, watchdog)
        stats = s.stats()
        try:
            while got < n:
                try:
                    async for _msg in s:
                        if got == 0:
                            first = time.perf_counter()
                        got += 1
                        if got & 1023 == 0:
                            last = time.perf_counter()
                        if got >= n:
                            break
                except smart.Lost as e:
                    lost += e.loss.count
                    continue
                break
        except smart.Closed:
            pass
        if got == n:
            last = time.perf_counter()
        if not s.closed:
            stats = s.stats()
    pub.wait(timeout=30)
    return got, lost, last - first, stats


def report(name: str, n: int, res: tuple, cpu: float) -> None:
    got, lost, secs, st = res
    rate = got / secs if secs > 0 else 0.0
    print(f"{name:10s} received={got} of {n} lost_datagrams={lost} seconds={secs:.3f} "
          f"msgs_s={rate:,.0f} cpu_s={cpu:.3f} msgs_per_cpu_s={got / cpu if cpu else 0:,.0f} "
          f"(repairs_received={st.repairs_received} "
          f"naks_sent={st.naks_sent} dgrams_received={st.dgrams_received})", flush=True)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("smart_send")
    ap.add_argument("--count", type=int, default=1_000_000)
    ap.add_argument("--mode", default="all", choices=["recv", "recv_into", "asyncio", "all"])
    ap.add_argument("--time-limit", type=float, default=60.0)
    a = ap.parse_args()
    n = min(a.count, 10_000_000)
    port = 30000 + os.getpid() % 20000
    print(f"python-bench: libsmart {smart.library_version} from {smart.library_path}, "
          f"{n} messages of {SIZE} bytes from smart-send, loopback multicast")
    modes = ["recv", "recv_into", "asyncio"] if a.mode == "all" else [a.mode]
    for i, mode in enumerate(modes):
        group = f"239.255.44.{os.getpid() % 250 + 1}:{port + i}"
        cpu = time.process_time()
        if mode == "asyncio":
            res = asyncio.run(run_async_main(a.smart_send, group, n, a.time_limit))
        else:
            res = run_sync(a.smart_send, group, n, mode == "recv_into", a.time_limit)
        report(mode, n, res, time.process_time() - cpu)
    return 0


if __name__ == "__main__":
    sys.exit(main())
