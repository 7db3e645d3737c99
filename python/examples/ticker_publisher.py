#!/usr/bin/env python3
"""A ticker publisher: send N quotes to a group at a given rate, then flush
(the group gets its chance to ask for repairs) and close.

    python3 ticker_publisher.py --group 239.255.42.42:4242 --iface 127.0.0.1 --count 100
    python3 ticker_publisher.py --key-file group.key ...   a secure session (smart-keygen)

TTL 1 by default: the quotes stay on the local network (0: on this host).
"""
import argparse
import random
import sys
import time

import smart


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--group", default="239.255.42.42:4242")
    ap.add_argument("--iface", default="127.0.0.1")
    ap.add_argument("--key-file")
    ap.add_argument("--count", type=int, default=100)
    ap.add_argument("--rate", type=float, default=1000.0, help="quotes per second")
    ap.add_argument("--ttl", type=int, default=1)
    a = ap.parse_args()
    symbols = {"IBM": 140.0, "ACME": 12.5, "INIT": 99.0}
    with smart.Socket(a.group, a.iface, key_file=a.key_file, ttl=a.ttl, linger_ms=2000) as s:
        start = time.monotonic()
        buf = bytearray(64)
        for i in range(a.count):
            sym = random.choice(list(symbols))
            symbols[sym] *= 1 + random.uniform(-0.001, 0.001)
            n = len(line := f"{i} {sym} {symbols[sym]:.2f}".encode())
            buf[:n] = line
            s.send(memoryview(buf)[:n])  # any bytes-like object, no copy
            delay = start + (i + 1) / a.rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        s.flush(timeout=10)
        st = s.stats()
    print(f"sent {st.msgs_sent} quotes in {st.dgrams_sent} datagrams "
          f"({st.repairs_sent} repairs)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
