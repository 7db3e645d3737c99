"""smart.aio: await recv, async for, await send, await flush, misuse."""
import asyncio
import subprocess
import threading
import time

import pytest

import smart
import smart.aio

from conftest import CHILD_ENV


def run(coro, limit=60):
    async def bounded():
        return await asyncio.wait_for(coro, limit)
    return asyncio.run(bounded())


def test_async_pair(group):
    async def main():
        async with smart.aio.Socket(group, "127.0.0.1", linger_ms=0) as rx, \
                smart.aio.Socket(group, "127.0.0.1", linger_ms=0) as tx:
            for i in range(200):
                assert await tx.send(b"m%d" % i) == len(b"m%d" % i)
            await tx.flush()
            first = await rx.recv()
            assert first.data == b"m0" and first.sender.startswith("127.0.0.1:")
            got = [first.data]
            async for msg in rx:
                got.append(msg.data)
                if len(got) == 200:
                    break
            assert got == [b"m%d" % i for i in range(200)]
            buf = bytearray(16)
            await tx.send(memoryview(b"into"))
            n = await rx.recv_into(buf)
            assert buf[:n] == b"into" and rx.last.length == 4
            assert rx.stats().msgs_received == 201
            assert tx.ttl == 1
    run(main())


def test_async_from_smart_send(group, smart_send):
    lines = [f"tick {i}" for i in range(300)]

    async def main():
        async with smart.aio.Socket(group, "127.0.0.1", linger_ms=0) as rx:
            tx = subprocess.Popen([smart_send, "--group", group, "--iface", "127.0.0.1",
                                   "--linger", "2"], stdin=subprocess.PIPE, env=CHILD_ENV)
            tx.stdin.write(("\n".join(lines) + "\n").encode())
            tx.stdin.close()
            got = []
            async for msg in rx:
                got.append(msg.data.decode())
                if len(got) == len(lines):
                    break
            assert got == lines
            return tx
    tx = run(main())
    assert tx.wait(timeout=30) == 0


def test_async_to_smart_recv(group, smart_recv):
    lines = [f"order {i}" for i in range(300)]
    rx = subprocess.Popen([smart_recv, "--group", group, "--iface", "127.0.0.1", "--count",
                           str(len(lines)), "--timeout", "30"], stdout=subprocess.PIPE,
                          env=CHILD_ENV)
    time.sleep(0.5)

    async def main():
        async with smart.aio.Socket(group, "127.0.0.1", linger_ms=2000) as tx:
            for line in lines:
                await tx.send(line.encode())
            await tx.flush(timeout=20)
            # keep answering repair requests a moment, the loop running
            await asyncio.sleep(0.5)
    run(main())
    out, _ = rx.communicate(timeout=40)
    assert rx.returncode == 0 and out.decode().splitlines() == lines


def test_async_loss_is_reported(group, smart_send):
    lines = [f"{i} " + "x" * 1000 for i in range(300)]

    async def main():
        # real-time: a reliable receiver would go on asking while it hears the sender
        async with smart.aio.Socket(group, "127.0.0.1", linger_ms=0, drop_ppm=700_000,
                                    nak_retries=1, delivery=1) as rx:  # REALTIME
            tx = subprocess.Popen([smart_send, "--group", group, "--iface", "127.0.0.1",
                                   "--linger", "2"], stdin=subprocess.PIPE, env=CHILD_ENV)
            tx.stdin.write(("\n".join(lines) + "\n").encode())
            tx.stdin.close()
            got, losses = 0, []
            while got + sum(l.count for l in losses) < len(lines):
                try:
                    await asyncio.wait_for(rx.recv(), 10)
                    got += 1
                except smart.Lost as e:
                    losses.append(e.loss)
                except asyncio.TimeoutError:
                    break
            return tx, losses
    tx, losses = run(main())
    assert tx.wait(timeout=30) == 0
    assert losses and all(l.count >= 1 for l in losses)


def test_async_close_wakes_waiters_and_misuse(group):
    async def main():
        s = smart.aio.Socket(group, "127.0.0.1", linger_ms=0)
        waiter = asyncio.ensure_future(s.recv())
        await asyncio.sleep(0.05)
        s.close()
        with pytest.raises(smart.Closed):
            await waiter
        with pytest.raises(smart.Closed):
            await s.send(b"x")
        async for _ in s:  # a closed socket ends iteration
            pytest.fail("no message expected")
        s2 = smart.aio.Socket(linger_ms=0)
        with pytest.raises(smart.NotJoined):
            await s2.recv()
        with pytest.raises(TypeError):
            await smart.aio.Socket(group, "127.0.0.1", linger_ms=0).send("text")
        s2.close()
        # another thread may not touch the loop's socket
        s3 = smart.aio.Socket(group, "127.0.0.1", linger_ms=0)
        errs = []
        t = threading.Thread(target=lambda: errs.append(_try(lambda: s3.sock.recv())))
        t.start()
        t.join()
        assert isinstance(errs[0], smart.ThreadError)
        s3.close()
    run(main())


def _try(f):
    try:
        f()
    except Exception as e:
        return e


def test_join_needs_a_running_loop(group):
    with pytest.raises(RuntimeError):
        smart.aio.Socket(group, "127.0.0.1", linger_ms=0)


def test_a_flood_does_not_starve_other_tasks(group):
    """Messages all ready: recv never has to wait, yet other tasks run."""
    async def main():
        async with smart.aio.Socket(group, "127.0.0.1", linger_ms=0) as rx, \
                smart.aio.Socket(group, "127.0.0.1", linger_ms=0) as tx:
            for i in range(2000):
                await tx.send(b"%d" % i)
            await tx.flush()
            ticks = [0]

            async def other():
                while True:
                    ticks[0] += 1
                    await asyncio.sleep(0)
            first = await rx.recv()  # everything is there now
            task = asyncio.ensure_future(other())
            n, at_start = 1, ticks[0]
            async for msg in rx:
                n += 1
                if n == 2000:
                    break
            task.cancel()
            assert first.data == b"0" and msg.data == b"1999"
            assert ticks[0] - at_start >= 2000 // smart.aio.Socket.YIELD_EVERY - 2
    run(main())
