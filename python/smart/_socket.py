"""The Socket class: a SMART multicast socket (smart(7))."""
from __future__ import annotations

import ctypes
import dataclasses
import enum
import threading
import weakref
from typing import Any, Iterator, List, Optional, Union

from . import _generated as G
from . import errors as E
from . import keys as K
from ._lib import lib

BytesLike = Union[bytes, bytearray, memoryview]

Option = enum.IntEnum("Option", [(n, v) for n, v, *_ in G.OPTIONS])  # type: ignore[misc]
Option.__doc__ = "SMART_OPT_* option numbers (without the SMART_OPT_ prefix)."
_OPT = {v: (n, kind, length, getonly) for n, v, kind, length, getonly, _ in G.OPTIONS}
_OPT_BY_NAME = {n.lower(): v for n, v, *_ in G.OPTIONS}


class EventType(enum.IntEnum):
    """SMART_EVENT_* types."""

    JOIN = G.EVENT_JOIN
    LEAVE = G.EVENT_LEAVE
    ERROR_REPORT = G.EVENT_ERROR_REPORT
    PROBLEM_REPORT = G.EVENT_PROBLEM_REPORT
    GROUP_CHANGED = G.EVENT_GROUP_CHANGED


_INT_RANGE = {"int32": (-(1 << 31), (1 << 31) - 1), "uint32": (0, (1 << 32) - 1),
              "uint64": (0, (1 << 64) - 1), "bool": (0, 1)}
_CT = {"int32": ctypes.c_int32, "uint32": ctypes.c_uint32, "uint64": ctypes.c_uint64,
       "bool": ctypes.c_int32}

_recv = lib.smart_recv
_send = lib.smart_send
_get_ident = threading.get_ident
_RECV_LOSS = G.RECV_LOSS
_RECV_TRUNC = G.RECV_TRUNC
_EAGAIN = [v for n, v, _ in G.ERRORS if n == "EAGAIN"][0]
_ELOST = [v for n, v, _ in G.ERRORS if n == "ELOST"][0]
_ESYS = [v for n, v, _ in G.ERRORS if n == "ESYS"][0]
_MSGINFO_SIZE = ctypes.sizeof(G.Msginfo)


class Message:
    """A message as received: ``data`` (bytes), ``sender`` ("A.B.C.D:PORT"),
    ``seq`` (sequence of its first datagram), ``sender_id`` (stable while the
    sender is heard), ``length`` (its full length) and ``truncated`` (it was
    longer than the socket's receive buffer, see ``recv_size``)."""

    __slots__ = ("data", "sender", "seq", "sender_id", "length", "truncated")

    def __init__(self, data: bytes, sender: str, seq: int, sender_id: int,
                 length: int, truncated: bool = False) -> None:
        self.data = data
        self.sender = sender
        self.seq = seq
        self.sender_id = sender_id
        self.length = length
        self.truncated = truncated

    def __bytes__(self) -> bytes:
        return self.data

    def __len__(self) -> int:
        return len(self.data)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Message):
            return NotImplemented
        return all(getattr(self, a) == getattr(other, a) for a in self.__slots__)

    def __repr__(self) -> str:
        return (f"Message(data={self.data[:40]!r}{'...' if len(self.data) > 40 else ''}, "
                f"sender={self.sender!r}, seq={self.seq})")


@dataclasses.dataclass(frozen=True)
class Event:
    """A sender's event (smart_event(3)): a member joined or left, a report,
    a group change."""

    type: EventType
    flags: int
    code: int
    args: tuple
    member_id: int
    member: str

    @property
    def timed_out(self) -> bool:
        """LEAVE by timeout (no report for too long) rather than a leave report."""
        return bool(self.flags & G.EVENT_TIMEOUT)


@dataclasses.dataclass(frozen=True)
class Member:
    """A member as the sender sees it (smart_members(3))."""

    member_id: int
    addr: str
    since_ms: int
    last_report_ms: int
    reports: int
    received: int
    recovered: int
    lost: int


Stats = G.StatsData


def _close_handle(handle: ctypes.c_void_p) -> None:
    lib.smart_close(handle)


_ARRAY_TYPES: dict = {}


def _char_array(n: int) -> Any:
    t = _ARRAY_TYPES.get(n)
    if t is None:
        if len(_ARRAY_TYPES) > 64:
            _ARRAY_TYPES.clear()
        t = _ARRAY_TYPES[n] = ctypes.c_char * n
    return t


def _buffer_pointer(obj: Any, writable: bool):
    """(pointer argument, nbytes, keepalive) for a bytes-like object, without
    copying where the object allows it."""
    if isinstance(obj, bytes):
        if writable:
            raise TypeError("a bytes object is read-only; pass a bytearray, memoryview or array")
        return obj, len(obj), None
    if isinstance(obj, str):
        raise TypeError("str is not bytes-like; encode it first (for example s.encode())")
    try:
        mv = memoryview(obj)
    except TypeError:
        raise TypeError(f"a bytes-like object is required, not {type(obj).__name__!r}") from None
    if not mv.c_contiguous:
        if writable:
            raise ValueError("the buffer must be contiguous")
        data = mv.tobytes()
        return data, len(data), None
    n = mv.nbytes
    if mv.readonly:
        if writable:
            raise TypeError("the buffer is read-only")
        inner = mv.obj
        if isinstance(inner, bytes) and n == len(inner):
            return inner, n, None
        data = mv.tobytes()  # a read-only view of part of an object: one copy
        return data, n, None
    if n == 0:
        return None, 0, None
    arr = _char_array(n).from_buffer(mv.cast("B") if mv.format != "B" or mv.ndim != 1 else mv)
    return arr, n, arr


class Socket(G.OptionProperties):
    """A SMART socket: a sender, a receiver of every sender on the joined
    group, or both (smart_open(3)).

    ``Socket(group, iface, **options)`` opens, sets the options and joins;
    ``Socket()`` only opens (set options, then :meth:`join`). Options are the
    SMART_OPT_* names in lower case (``ttl=1``, ``linger_ms=0``,
    ``rcvtimeo_ms=200``, ``group_key=b"..."``) and are also properties.
    ``key_file`` and ``identity_file`` load smart-keygen(1) files before the
    join; ``allow_file`` lists the receivers' public keys (sender, identity
    mode); ``crypto`` is "sodium" or "null".

    A Socket belongs to the thread that created it: a call from another
    thread raises :class:`~smart.errors.ThreadError`. After :meth:`close`
    (or leaving a ``with`` block) every call raises
    :class:`~smart.errors.Closed`; the C handle is freed exactly once, by
    close() or by the finalizer when the Socket is garbage collected.

    ``recv_size`` is the receive buffer of :meth:`recv` (64 KiB): a longer
    message comes back truncated, flagged ``Message.truncated``.
    """

    __slots__ = ("_handle", "_owner", "_finalizer", "_buf", "_bufsize", "_info", "_info_ref",
                 "_last_sid", "_last_sender", "_val", "_len", "_crypto", "_joined", "__weakref__")

    def __init__(self, group: Optional[str] = None, iface: Optional[str] = None, *,
                 source: Optional[str] = None, nonblock: bool = False,
                 recv_size: int = 65536, key_file: Optional[str] = None,
                 identity_file: Optional[str] = None, allow_file: Optional[str] = None,
                 crypto: Optional[str] = None, **options: Any) -> None:
        self._handle: Optional[ctypes.c_void_p] = None
        self._owner = _get_ident()
        self._joined = False
        if not isinstance(recv_size, int) or recv_size < 1:
            raise ValueError("recv_size must be a positive int")
        unknown = [k for k in options if k not in _OPT_BY_NAME]
        if unknown:
            raise TypeError(f"unknown option(s): {', '.join(unknown)} "
                            f"(options: {', '.join(sorted(_OPT_BY_NAME))})")
        h = ctypes.c_void_p()
        rc = lib.smart_open(ctypes.byref(h), G.OPEN_NONBLOCK if nonblock else 0)
        if rc < 0:
            raise E.error_for(rc)
        self._handle = h
        self._finalizer = weakref.finalize(self, _close_handle, h)
        # A daemon thread may still be inside a call at exit: only the main
        # thread's sockets are closed then.
        self._finalizer.atexit = threading.current_thread() is threading.main_thread()
        self._bufsize = recv_size
        self._buf = ctypes.create_string_buffer(recv_size)
        self._info = G.Msginfo(size=_MSGINFO_SIZE)
        self._info_ref = ctypes.byref(self._info)
        self._last_sid = -1
        self._last_sender = ""
        self._val = ctypes.create_string_buffer(64)
        self._len = ctypes.c_size_t()
        self._crypto: Optional[str] = None
        try:
            if crypto is not None:
                self.crypto = crypto
            for k, v in options.items():
                self.setopt(_OPT_BY_NAME[k], v)
            if key_file is not None:
                self.load_group_key(key_file)
            if identity_file is not None:
                self.load_identity(identity_file)
            if group is not None:
                self.join(group, iface, source)
            if allow_file is not None:
                for pk in K.read_allow_file(allow_file):
                    self.allow(pk)
        except BaseException:
            self.close()
            raise

    # -- lifetime ---------------------------------------------------------

    def _h(self) -> ctypes.c_void_p:
        h = self._handle
        if h is None:
            raise E.Closed("the socket is closed")
        if _get_ident() != self._owner:
            raise E.ThreadError(
                "this Socket belongs to another thread (one socket per thread: "
                "open a Socket in each thread that needs one)")
        return h

    def _check(self, rc: int) -> int:
        if rc >= 0:
            return rc
        if rc == _ESYS:
            raise E.SystemFailure(code=rc, errno=self._os_error())
        raise E.error_for(rc)

    def _os_error(self) -> Optional[int]:
        v = ctypes.c_int32()
        n = ctypes.c_size_t(4)
        if lib.smart_getopt(self._handle, _OPT_BY_NAME["last_os_error"], ctypes.byref(v),
                            ctypes.byref(n)) == 0 and v.value > 0:
            return v.value
        return None  # the library recorded no errno for this failure

    @property
    def closed(self) -> bool:
        """True once close() ran."""
        return self._handle is None

    def close(self) -> None:
        """Close the socket (smart_close(3)). A sender first lingers for
        ``linger_ms`` answering repair requests. Closing twice is harmless."""
        if self._handle is None:
            return
        self._h()  # the owner thread only
        self._handle = None
        self._finalizer()

    def __enter__(self) -> "Socket":
        self._h()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._handle is None else ("joined" if self._joined else "open")
        return f"<smart.Socket {state}>"

    # -- membership -------------------------------------------------------

    def join(self, group: str, iface: Optional[str] = None, source: Optional[str] = None) -> None:
        """Join a group, "239.255.1.1:5000" or "[ff15::1]:5000", on
        ``iface`` (an address or interface name; None for the default) and,
        with ``source``, only from that sender (smart_join(3))."""
        h = self._h()
        self._check(lib.smart_join(h, _text(group, "group"), _opt_text(iface, "iface"),
                                   _opt_text(source, "source"), 0))
        self._joined = True

    def leave(self, group: str, source: Optional[str] = None) -> None:
        """Leave the group, or one source of a source-specific join."""
        h = self._h()
        self._check(lib.smart_leave(h, _text(group, "group"), _opt_text(source, "source")))

    def move(self, group: str) -> None:
        """Sender: move the session to another group (smart_move(3))."""
        self._check(lib.smart_move(self._h(), _text(group, "group")))

    # -- data -------------------------------------------------------------

    def send(self, data: BytesLike, *, block: Optional[bool] = None) -> int:
        """Queue one message (1 to ``max_msg`` bytes) for reliable, ordered
        delivery (smart_send(3)); bytes, bytearray, memoryview or any
        contiguous buffer, passed to the library without a copy (except a
        read-only view of part of an object, copied once: the library copies
        the message anyway). ``block=False``
        raises WouldBlock instead of waiting when the send queue is full.
        Returns the length queued."""
        h = self._handle
        if h is None or _get_ident() != self._owner:
            h = self._h()
        if type(data) is bytes:
            n = _send(h, data, len(data), 0 if block is None or block else G.MSG_DONTWAIT)
        else:
            ptr, size, keep = _buffer_pointer(data, False)
            n = _send(h, ptr, size, 0 if block is None or block else G.MSG_DONTWAIT)
            del keep
        if n < 0:
            self._check(n)
        return n

    def _recv_error(self, n: int) -> Any:
        if n == _ELOST:
            info = self._info
            raise E.Lost(code=n, loss=E.Loss(info.sender.decode(errors="replace"),
                                             info.sender_id, info.seq, info.count))
        return self._check(n)

    def recv(self, *, block: Optional[bool] = None) -> Message:
        """Receive the next message, in order, from any sender (smart_recv(3)).

        Raises :class:`~smart.errors.Lost` for an unrecoverable gap (its
        ``loss`` says which sender and sequences; receiving goes on after
        it), :class:`~smart.errors.WouldBlock` when nothing is there and
        the socket is non-blocking (or ``block=False``) or ``rcvtimeo_ms``
        passed."""
        h = self._handle
        if h is None or _get_ident() != self._owner:
            h = self._h()
        n = _recv(h, self._buf, self._bufsize, self._info_ref,
                  0 if block is None or block else 1)
        if n < 0:
            self._recv_error(n)
        info = self._info
        sid = info.sender_id
        if sid != self._last_sid:
            self._last_sender = info.sender.decode(errors="replace")
            self._last_sid = sid
        return Message(self._buf[:n], self._last_sender, info.seq, sid, info.len,
                       info.flags & _RECV_TRUNC != 0)

    def recv_into(self, buffer: Union[bytearray, memoryview, Any], nbytes: int = 0, *,
                  block: Optional[bool] = None) -> int:
        """Receive the next message into a writable buffer (bytearray,
        memoryview, array, ...), without an intermediate copy; returns the
        number of bytes stored (at most ``nbytes`` if given, else the
        buffer's size). :attr:`last` describes the message (sender, seq,
        length, truncated). Raises like :meth:`recv`."""
        h = self._handle
        if h is None or _get_ident() != self._owner:
            h = self._h()
        if type(buffer) is bytearray and buffer:  # the common case, quickly
            size = len(buffer)
            ptr = keep = _char_array(size).from_buffer(buffer)
        else:
            ptr, size, keep = _buffer_pointer(buffer, True)
        if nbytes:
            if nbytes < 0 or nbytes > size:
                raise ValueError(f"nbytes must be 0..{size} (the buffer's size)")
            size = nbytes
        n = _recv(h, ptr, size, self._info_ref, 0 if block is None or block else 1)
        del keep
        if n < 0:
            self._recv_error(n)
        return n

    @property
    def last(self) -> Message:
        """What the last recv_into() received, without its data (``data`` is
        b""): sender, seq, sender_id, length, truncated."""
        self._h()
        info = self._info
        return Message(b"", info.sender.decode(errors="replace"), info.seq, info.sender_id,
                       info.len, bool(info.flags & _RECV_TRUNC))

    def flush(self, timeout: Optional[float] = None) -> None:
        """Sender: transmit everything queued and wait until the group has
        had its chance to ask for repairs, at most ``timeout`` seconds (None:
        no limit). Raises Timeout when it expires; WouldBlock on a
        non-blocking socket with work left (call again)."""
        ms = -1 if timeout is None else max(0, min(int(timeout * 1000 + 0.5), (1 << 31) - 1))
        self._check(lib.smart_flush(self._h(), ms))

    def __iter__(self) -> Iterator[Message]:
        """Messages as they arrive (blocking); a loss raises Lost."""
        while True:
            yield self.recv()

    # -- event loops ------------------------------------------------------

    def fileno(self) -> int:
        """A descriptor to watch for readability (selectors, poll); when it is
        readable, or when :meth:`timeout` expires, call :meth:`process`."""
        return self._check(lib.smart_fd(self._h()))

    def timeout_ms(self) -> int:
        """Milliseconds until process() is due (0: now, -1: no timer)."""
        return int(lib.smart_timeout(self._h()))

    def timeout(self) -> Optional[float]:
        """Seconds until process() is due, or None for no timer: what
        selectors' select() and asyncio's call_later() take."""
        t = lib.smart_timeout(self._h())
        return None if t < 0 else t / 1000.0

    def process(self) -> None:
        """Do all pending work without blocking: read datagrams, run due
        timers, transmit what is queued (smart_process(3))."""
        self._check(lib.smart_process(self._h(), 0))

    # -- options ----------------------------------------------------------

    def setopt(self, opt: Union[int, str], value: Any) -> None:
        """Set an option by number (``smart.Option.TTL``) or name ("ttl"), with
        a value of the type the header documents: int for int32/uint32/
        uint64 options, bool for the 0/1 ones, 32 or 64 bytes for keys."""
        h = self._h()
        num = _opt_number(opt)
        name, kind, length, getonly = _OPT[num]
        if getonly:
            raise E.InvalidArgument(f"SMART_OPT_{name} is read-only", code=-1)
        if kind == "bytes":
            ptr, size, keep = _buffer_pointer(value, False)
            if size != length:
                raise ValueError(f"SMART_OPT_{name} takes exactly {length} bytes, not {size}")
            self._check(lib.smart_setopt(h, num, ptr, size))
            return
        if kind == "pointer":
            if isinstance(value, str):
                self.crypto = value
                return
            raise TypeError(f"SMART_OPT_{name}: pass 'sodium' or 'null'")
        if not isinstance(value, int):
            raise TypeError(f"SMART_OPT_{name} takes an int ({kind}), not {type(value).__name__}")
        lo, hi = _INT_RANGE[kind]
        if not lo <= value <= hi:
            raise ValueError(f"SMART_OPT_{name} takes {lo}..{hi} ({kind}), not {value}")
        v = _CT[kind](value)
        self._check(lib.smart_setopt(h, num, ctypes.byref(v), ctypes.sizeof(v)))

    def getopt(self, opt: Union[int, str]) -> Any:
        """Read an option (int, or bool for 0/1 options). Keys are write-only."""
        h = self._h()
        num = _opt_number(opt)
        name, kind, length, _ = _OPT[num]
        if kind == "bytes":
            raise E.InvalidArgument(f"SMART_OPT_{name} is write-only", code=-1)
        if kind == "pointer":
            v: Any = ctypes.c_void_p()
        else:
            v = _CT[kind]()
        n = ctypes.c_size_t(ctypes.sizeof(v))
        self._check(lib.smart_getopt(h, num, ctypes.byref(v), ctypes.byref(n)))
        if n.value != ctypes.sizeof(v):
            raise E.StructSize(f"SMART_OPT_{name}: the library returned {n.value} bytes, "
                               f"the header says {ctypes.sizeof(v)}", code=-18)
        if kind == "bool":
            return bool(v.value)
        return v.value or 0

    def getopt_raw(self, opt: int, length: int) -> bytes:
        """smart_getopt with a buffer of ``length`` bytes, unchecked (tests)."""
        h = self._h()
        buf = ctypes.create_string_buffer(max(length, 1))
        n = ctypes.c_size_t(length)
        self._check(lib.smart_getopt(h, int(opt), buf, ctypes.byref(n)))
        return buf.raw[:n.value]

    def setopt_raw(self, opt: int, value: bytes) -> None:
        """smart_setopt with raw bytes, unchecked (tests, future options)."""
        self._check(lib.smart_setopt(self._h(), int(opt), bytes(value), len(value)))

    @property
    def crypto(self) -> Optional[str]:
        """The crypto provider: "sodium" (the default once a key is set) or "null"
        (no security at all; tests only); None when never set."""
        self._h()
        return self._crypto

    @crypto.setter
    def crypto(self, name: str) -> None:
        h = self._h()
        if name == "sodium":
            p = lib.smart_crypto_sodium()
        elif name == "null":
            p = lib.smart_crypto_null()
        else:
            raise ValueError("crypto is 'sodium' or 'null'")
        v = ctypes.c_void_p(p)
        num = _OPT_BY_NAME["crypto"]
        self._check(lib.smart_setopt(h, num, ctypes.byref(v), ctypes.sizeof(v)))
        self._crypto = name

    # -- security ---------------------------------------------------------

    def load_group_key(self, path: str) -> None:
        """Set the group key from a ``smart-keygen --group-key`` file."""
        self.setopt(_OPT_BY_NAME["group_key"], K.read_group_key(path))

    def load_identity(self, path: str) -> None:
        """Set this socket's identity from a ``smart-keygen --identity`` file."""
        self.setopt(_OPT_BY_NAME["identity"], K.read_identity(path).secret)

    def allow(self, public_key: BytesLike) -> None:
        """Sender in identity mode: allow a receiver's 32-byte public key."""
        h = self._h()
        pk = _key(public_key, G.PUBKEY_BYTES)
        self._check(lib.smart_allow(h, pk))

    def revoke(self, public_key: BytesLike) -> None:
        """Sender in identity mode: remove a receiver and rekey at once."""
        h = self._h()
        pk = _key(public_key, G.PUBKEY_BYTES)
        self._check(lib.smart_revoke(h, pk))

    def rekey(self) -> None:
        """Sender: start a new key epoch now."""
        self._check(lib.smart_rekey(self._h()))

    # -- reports ----------------------------------------------------------

    def stats(self) -> "G.StatsData":
        """The socket's counters, as a frozen dataclass (smart_stats(3))."""
        h = self._h()
        st = G.Stats(size=ctypes.sizeof(G.Stats))
        self._check(lib.smart_stats(h, ctypes.byref(st)))
        return G.StatsData(**{f: getattr(st, f) for f, _ in G.Stats._fields_ if f != "size"})

    def next_event(self) -> Optional[Event]:
        """The next event (sender: joins, leaves, reports; receiver: group
        changes), or None when there is none. Never blocks."""
        h = self._h()
        ev = G.Event(size=ctypes.sizeof(G.Event))
        if self._check(lib.smart_event(h, ctypes.byref(ev))) == 0:
            return None
        try:
            t: Any = EventType(ev.type)
        except ValueError:
            t = ev.type
        return Event(t, ev.flags, ev.code, tuple(ev.args), ev.member_id,
                     ev.member.decode(errors="replace"))

    def events(self) -> List[Event]:
        """Every pending event, oldest first (never blocks)."""
        out = []
        while True:
            e = self.next_event()
            if e is None:
                return out
            out.append(e)

    def members(self) -> List[Member]:
        """The current members (sender)."""
        h = self._h()
        cap = 16
        while True:
            arr = (G.Member * cap)()
            for m in arr:
                m.size = ctypes.sizeof(G.Member)
            n = self._check(lib.smart_members(h, arr, cap))
            if n <= cap:
                return [Member(m.member_id, m.addr.decode(errors="replace"), m.since_ms,
                               m.last_report_ms, m.reports, m.received, m.recovered, m.lost)
                        for m in arr[:n]]
            cap = n + 16


def _opt_number(opt: Union[int, str]) -> int:
    if isinstance(opt, str):
        try:
            return _OPT_BY_NAME[opt.lower()]
        except KeyError:
            raise E.UnknownOption(f"unknown option {opt!r}", code=-17) from None
    if not isinstance(opt, int):
        raise TypeError("an option is an int (smart.Option) or a name")
    if opt not in _OPT:
        raise E.UnknownOption(f"unknown option {opt}", code=-17)
    return int(opt)


def _text(s: Any, what: str) -> bytes:
    if isinstance(s, str):
        if "\0" in s:
            raise ValueError(f"{what} contains a NUL character")
        return s.encode()
    raise TypeError(f"{what} must be a str, not {type(s).__name__}")


def _opt_text(s: Any, what: str) -> Optional[bytes]:
    return None if s is None else _text(s, what)


def _key(k: Any, n: int) -> bytes:
    ptr, size, keep = _buffer_pointer(k, False)
    if size != n:
        raise ValueError(f"a key of {n} bytes is required, not {size}")
    return bytes(memoryview(k).cast("B")) if not isinstance(k, bytes) else k
