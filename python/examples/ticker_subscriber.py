#!/usr/bin/env python3
"""A ticker subscriber: print every quote of a group, in order, and say
what was lost beyond repair.

    python3 ticker_subscriber.py --group 239.255.42.42:4242 --iface 127.0.0.1
    python3 ticker_subscriber.py --asyncio ...          the same on asyncio
    python3 ticker_subscriber.py --key-file group.key   a secure session (smart-keygen)

--count N stops after N messages, --timeout S after S seconds of silence.
"""
import argparse
import asyncio
import sys

import smart
import smart.aio


def show(msg: smart.Message) -> None:
    print(f"{msg.sender} #{msg.seq}: {msg.data.decode(errors='replace')}", flush=True)


def plain(a: argparse.Namespace) -> int:
    got = 0
    with smart.Socket(a.group, a.iface, key_file=a.key_file,
                      rcvtimeo_ms=int(a.timeout * 1000)) as s:
        while a.count == 0 or got < a.count:
            try:
                show(s.recv())
                got += 1
            except smart.Lost as e:
                print(f"LOST {e.loss.count} from {e.loss.sender} "
                      f"(sequences {e.loss.first}..{e.loss.last})", file=sys.stderr)
            except smart.WouldBlock:
                print(f"nothing for {a.timeout} s", file=sys.stderr)
                return 1
    return 0


async def with_asyncio(a: argparse.Namespace) -> int:
    got = 0
    async with smart.aio.Socket(a.group, a.iface, key_file=a.key_file) as s:
        while a.count == 0 or got < a.count:
            try:
                show(await asyncio.wait_for(s.recv(), a.timeout))
                got += 1
            except smart.Lost as e:
                print(f"LOST {e.loss.count} from {e.loss.sender} "
                      f"(sequences {e.loss.first}..{e.loss.last})", file=sys.stderr)
            except asyncio.TimeoutError:
                print(f"nothing for {a.timeout} s", file=sys.stderr)
                return 1
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--group", default="239.255.42.42:4242")
    ap.add_argument("--iface", default="127.0.0.1")
    ap.add_argument("--key-file")
    ap.add_argument("--count", type=int, default=0)
    ap.add_argument("--timeout", type=float, default=30.0)
    ap.add_argument("--asyncio", action="store_true")
    a = ap.parse_args()
    return asyncio.run(with_asyncio(a)) if a.asyncio else plain(a)


if __name__ == "__main__":
    sys.exit(main())
