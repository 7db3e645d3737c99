"""asyncio: a SMART socket driven by the event loop.

    import asyncio, smart.aio

    async def main():
        async with smart.aio.Socket("239.255.1.1:5000", "127.0.0.1") as s:
            async for msg in s:
                print(msg.sender, msg.data)

    asyncio.run(main())

The socket is non-blocking underneath. The loop watches its descriptor
(``loop.add_reader(fileno)``) and its timer (``loop.call_later(timeout)``)
and calls process() when either fires; ``await recv()`` takes a message
at once when one is ready (no future, no loop round trip: a backlog is
drained in a batch) and otherwise waits for the next wake-up; after YIELD_EVERY calls in a row
that did not wait it yields to the loop once, so that a flood does not
starve the other tasks.

One socket per thread: the Socket belongs to the thread that created it,
and must be used from the event loop running in that thread; another
thread gets :class:`smart.errors.ThreadError`.

``close()`` (or leaving ``async with``) closes at once from the loop's
point of view, except that a sender lingers for ``linger_ms`` answering
repair requests, blocking the loop meanwhile: ``await flush()`` first, or
set ``linger_ms=0``.
"""
from __future__ import annotations

import asyncio
from typing import Any, List, Optional

from . import _generated as G
from . import errors as E
from ._socket import BytesLike, Event, Member, Message, Socket as SyncSocket
from ._lib import lib

_EAGAIN = E.WouldBlock.code


class Socket(G.OptionProperties):
    """An asyncio SMART socket: ``await recv()``, ``async for msg in sock``,
    ``await send()``, ``await flush()``. Takes the arguments of
    :class:`smart.Socket` (group, iface, options, key files)."""

    __slots__ = ("sock", "_loop", "_waiters", "_timer", "_timer_due", "_fd", "_error", "_streak")

    #: After this many calls in a row that completed without waiting, one
    #: yields to the loop, so that a flood does not starve other tasks.
    YIELD_EVERY = 128

    def __init__(self, group: Optional[str] = None, iface: Optional[str] = None,
                 **kwargs: Any) -> None:
        kwargs.pop("nonblock", None)
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._waiters: List["asyncio.Future[None]"] = []
        self._timer: Optional[asyncio.TimerHandle] = None
        self._timer_due = 0.0
        self._fd = -1
        self._error: Optional[BaseException] = None
        self._streak = 0
        #: The underlying (non-blocking) :class:`smart.Socket`.
        self.sock = SyncSocket(None, None, nonblock=True, **kwargs)
        if group is not None:
            try:
                self.join(group, iface, kwargs.get("source"))
            except BaseException:
                self.sock.close()
                raise

    # -- options, reports: the synchronous socket's ------------------------

    def getopt(self, opt: Any) -> Any:
        return self.sock.getopt(opt)

    def setopt(self, opt: Any, value: Any) -> None:
        self.sock.setopt(opt, value)

    def stats(self) -> "G.StatsData":
        """The counters (see smart.Socket.stats)."""
        return self.sock.stats()

    def events(self) -> List[Event]:
        """Every pending event (see smart.Socket.events)."""
        return self.sock.events()

    def members(self) -> List[Member]:
        """The current members (sender)."""
        return self.sock.members()

    @property
    def closed(self) -> bool:
        return self.sock.closed

    # -- lifetime ---------------------------------------------------------

    def join(self, group: str, iface: Optional[str] = None, source: Optional[str] = None) -> None:
        """Join a group and start watching the socket in the running loop."""
        loop = asyncio.get_running_loop() if self._loop is None else self._loop
        self.sock.join(group, iface, source)
        if self._loop is None:
            self._loop = loop
            self._fd = self.sock.fileno()
            loop.add_reader(self._fd, self._wake)
            self._arm()

    def leave(self, group: str, source: Optional[str] = None) -> None:
        self.sock.leave(group, source)

    def close(self) -> None:
        """Stop watching and close the socket. Waiting calls raise Closed."""
        if self.sock.closed:
            return
        self.sock._h()  # owner thread only
        if self._loop is not None and self._fd >= 0:
            self._loop.remove_reader(self._fd)
            self._fd = -1
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self.sock.close()
        self._fail(E.Closed("the socket is closed"))

    async def __aenter__(self) -> "Socket":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        self.close()

    def __enter__(self) -> "Socket":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- the loop's side ----------------------------------------------------

    def _fail(self, exc: BaseException) -> None:
        waiters, self._waiters = self._waiters, []
        for f in waiters:
            if not f.done():
                f.set_exception(exc)

    def _wake(self) -> None:
        """The descriptor is readable or the timer fired: process, then let
        every waiting coroutine try again."""
        self._timer = None
        if self.sock.closed:
            return
        try:
            self.sock.process()
        except E.SmartError as e:
            self._error = e
            self._fail(e)
            return
        waiters, self._waiters = self._waiters, []
        for f in waiters:
            if not f.done():
                f.set_result(None)
        self._arm()

    def _arm(self) -> None:
        """(Re)schedule the timer for smart_timeout(), if it moved earlier
        or there is none."""
        loop = self._loop
        if loop is None or self.sock.closed:
            return
        t = lib.smart_timeout(self.sock._handle)
        if t < 0:
            return
        due = loop.time() + t / 1000.0
        if self._timer is not None:
            if self._timer_due <= due + 0.0005:
                return
            self._timer.cancel()
        self._timer_due = due
        self._timer = loop.call_at(due, self._wake)

    async def _wait(self) -> None:
        if self._loop is None:
            raise E.NotJoined("join a group first")
        if self._error is not None:
            err, self._error = self._error, None
            raise err
        self._arm()
        fut = self._loop.create_future()
        self._waiters.append(fut)
        await fut

    # -- data -------------------------------------------------------------

    async def recv(self) -> Message:
        """The next message. Raises smart.Lost for an unrecoverable gap
        (``.loss`` has the range; receiving goes on after it)."""
        recv = self.sock.recv
        self._streak += 1
        if self._streak >= self.YIELD_EVERY:
            self._streak = 0
            await asyncio.sleep(0)
        while True:
            try:
                return recv()
            except E.WouldBlock:
                pass
            self._streak = 0
            await self._wait()

    async def recv_into(self, buffer: Any, nbytes: int = 0) -> int:
        """The next message into a writable buffer; returns its length
        (``sock.last`` describes it)."""
        self._streak += 1
        if self._streak >= self.YIELD_EVERY:
            self._streak = 0
            await asyncio.sleep(0)
        while True:
            try:
                return self.sock.recv_into(buffer, nbytes)
            except E.WouldBlock:
                pass
            self._streak = 0
            await self._wait()

    def __aiter__(self) -> "Socket":
        return self

    async def __anext__(self) -> Message:
        if self.sock.closed:
            raise StopAsyncIteration
        return await self.recv()

    async def send(self, data: BytesLike) -> int:
        """Queue one message; waits while the send queue is full."""
        self._streak += 1
        if self._streak >= self.YIELD_EVERY:
            self._streak = 0
            await asyncio.sleep(0)
        while True:
            try:
                n = self.sock.send(data)
            except E.WouldBlock:
                await self._wait()
                continue
            self._arm()
            return n

    async def flush(self, timeout: Optional[float] = None) -> None:
        """Wait until everything queued has been transmitted (at most
        ``timeout`` seconds: raises asyncio.TimeoutError after)."""
        async def drain() -> None:
            while True:
                try:
                    self.sock.flush(0)
                    return
                except E.WouldBlock:
                    await self._wait()
        if timeout is None:
            await drain()
        else:
            await asyncio.wait_for(drain(), timeout)

    def fileno(self) -> int:
        return self.sock.fileno()

    @property
    def last(self) -> Message:
        """What the last recv_into() received (see smart.Socket.last)."""
        return self.sock.last
