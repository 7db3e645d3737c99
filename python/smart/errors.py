"""Exceptions: one class per SMART_E* code, under :class:`SmartError`.

Every class carries ``code`` (the negative C value), ``name`` ("SMART_EINVAL")
and ``message`` (smart_strerror). Where a Python built-in exception means the
same thing, the class derives from it too, so that ``except ValueError`` or
``except TimeoutError`` work as Python programmers expect::

    SmartError
     +-- InvalidArgument (ValueError)       SMART_EINVAL
     +-- OutOfMemory (MemoryError)          SMART_ENOMEM
     +-- BufferTooSmall                     SMART_ENOBUF
     +-- WireError                          (a datagram that does not parse)
     |    +-- Truncated                     SMART_ETRUNC
     |    +-- SizeMismatch                  SMART_ESIZE
     |    +-- UnknownCommand                SMART_ECMD
     |    +-- ReservedBits                  SMART_ERESERVED
     |    +-- MalformedPayload              SMART_EFORMAT
     |    +-- BadExtension                  SMART_EEXT
     |    +-- SyncMismatch                  SMART_ESYNC
     +-- WouldBlock (BlockingIOError)       SMART_EAGAIN (also: SMART_OPT_RCVTIMEO_MS passed)
     +-- MessageTooLarge (ValueError)       SMART_EMSGSIZE
     +-- NotJoined                          SMART_ENOTCONN
     +-- Closed                             SMART_ECLOSED (and any call on a closed Socket)
     +-- Timeout (TimeoutError)             SMART_ETIMEDOUT
     +-- AuthFailed                         SMART_EAUTH
     +-- UnknownOption                      SMART_ENOPROTOOPT
     +-- StructSize                         SMART_E2BIG
     +-- SystemFailure (OSError)            SMART_ESYS: errno is the OS error
     +-- CallbackFailed                     SMART_ECALLBACK
     +-- BadState                           SMART_ESTATE
     +-- OutOfRange (ValueError)            SMART_ERANGE
     +-- Lost                               SMART_ELOST: .loss says what was lost
     +-- NotSupported                       SMART_ENOTSUP

A code the package does not know (a newer library) raises :class:`SmartError`
itself. Using a socket from a thread other than its owner raises
:class:`ThreadError` (a RuntimeError) before anything reaches the library.
"""
from __future__ import annotations

import dataclasses
import errno as _errno
import os
from typing import Dict, Optional, Type

from . import _generated as G

_MESSAGES = {v: msg for _, v, msg in G.ERRORS}
_NAMES = {v: "SMART_" + n for n, v, _ in G.ERRORS}


class SmartError(Exception):
    """A libsmart error code as an exception."""

    code: int = 0
    errno: Optional[int] = None

    def __init__(self, message: Optional[str] = None, *, code: Optional[int] = None) -> None:
        if code is not None:
            self.code = code
        self.name = _NAMES.get(self.code, "SMART_UNKNOWN")
        self.message = _MESSAGES.get(self.code, "unknown error")
        text = message or f"{self.name}: {self.message}"
        Exception.__init__(self, text)

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else self.name


class InvalidArgument(SmartError, ValueError):
    """SMART_EINVAL: invalid argument."""


class OutOfMemory(SmartError, MemoryError):
    """SMART_ENOMEM."""


class BufferTooSmall(SmartError):
    """SMART_ENOBUF."""


class WireError(SmartError):
    """Base of the codec's errors: a datagram that does not parse."""


class Truncated(WireError):
    """SMART_ETRUNC."""


class SizeMismatch(WireError):
    """SMART_ESIZE."""


class UnknownCommand(WireError):
    """SMART_ECMD."""


class ReservedBits(WireError):
    """SMART_ERESERVED."""


class MalformedPayload(WireError):
    """SMART_EFORMAT."""


class BadExtension(WireError):
    """SMART_EEXT."""


class SyncMismatch(WireError):
    """SMART_ESYNC."""


class WouldBlock(SmartError, BlockingIOError):
    """SMART_EAGAIN: nothing now (non-blocking), or the receive timeout passed."""

    def __init__(self, message: Optional[str] = None, *, code: Optional[int] = None) -> None:
        SmartError.__init__(self, message, code=code)
        self.errno = _errno.EAGAIN


class MessageTooLarge(SmartError, ValueError):
    """SMART_EMSGSIZE."""


class NotJoined(SmartError):
    """SMART_ENOTCONN: the socket has not joined a group."""


class Closed(SmartError):
    """SMART_ECLOSED, or any call on a closed Socket."""


class Timeout(SmartError, TimeoutError):
    """SMART_ETIMEDOUT (for example Socket.flush with a timeout)."""

    def __init__(self, message: Optional[str] = None, *, code: Optional[int] = None) -> None:
        SmartError.__init__(self, message, code=code)
        self.errno = _errno.ETIMEDOUT


class AuthFailed(SmartError):
    """SMART_EAUTH."""


class UnknownOption(SmartError):
    """SMART_ENOPROTOOPT."""


class StructSize(SmartError):
    """SMART_E2BIG."""


class SystemFailure(SmartError, OSError):
    """SMART_ESYS: the operating system refused; ``errno`` says why."""

    def __init__(self, message: Optional[str] = None, *, code: Optional[int] = None,
                 errno: Optional[int] = None) -> None:
        SmartError.__init__(self, message, code=code)
        self.errno = errno
        self.strerror = os.strerror(errno) if errno else None
        if errno and not message:
            self.args = (f"{self.name}: {self.strerror} (errno {errno})",)


class CallbackFailed(SmartError):
    """SMART_ECALLBACK."""


class BadState(SmartError):
    """SMART_ESTATE: not valid now (for example an engine option after join)."""


class OutOfRange(SmartError, ValueError):
    """SMART_ERANGE."""


@dataclasses.dataclass(frozen=True)
class Loss:
    """An unrecoverable gap: ``count`` datagrams from ``seq`` on, from one sender."""

    sender: str
    sender_id: int
    seq: int
    count: int

    @property
    def first(self) -> int:
        """The first sequence lost."""
        return self.seq

    @property
    def last(self) -> int:
        """The last sequence lost (inclusive)."""
        return self.seq + self.count - 1

    @property
    def range(self) -> range:
        """The sequences lost, as a range."""
        return range(self.seq, self.seq + self.count)


class Lost(SmartError):
    """SMART_ELOST: data was lost beyond repair. ``loss`` (a :class:`Loss`)
    says which sender and which sequences; the socket goes on delivering
    what follows."""

    def __init__(self, message: Optional[str] = None, *, code: Optional[int] = None,
                 loss: Optional[Loss] = None) -> None:
        SmartError.__init__(self, message, code=code)
        self.loss = loss
        if loss is not None and not message:
            self.args = (f"SMART_ELOST: {loss.count} datagram(s) from {loss.sender} lost "
                         f"(sequences {loss.first}..{loss.last})",)


class NotSupported(SmartError):
    """SMART_ENOTSUP."""


class ThreadError(RuntimeError):
    """A Socket was used from a thread other than the one that created it.

    libsmart requires that calls on one socket never overlap; the package
    enforces it by tying each Socket to its creating thread (one socket per
    thread; open another socket in the other thread)."""


_BY_NAME: Dict[str, Type[SmartError]] = {
    "EINVAL": InvalidArgument, "ENOMEM": OutOfMemory, "ENOBUF": BufferTooSmall,
    "ETRUNC": Truncated, "ESIZE": SizeMismatch, "ECMD": UnknownCommand,
    "ERESERVED": ReservedBits, "EFORMAT": MalformedPayload, "EEXT": BadExtension,
    "ESYNC": SyncMismatch, "EAGAIN": WouldBlock, "EMSGSIZE": MessageTooLarge,
    "ENOTCONN": NotJoined, "ECLOSED": Closed, "ETIMEDOUT": Timeout, "EAUTH": AuthFailed,
    "ENOPROTOOPT": UnknownOption, "E2BIG": StructSize, "ESYS": SystemFailure,
    "ECALLBACK": CallbackFailed, "ESTATE": BadState, "ERANGE": OutOfRange,
    "ELOST": Lost, "ENOTSUP": NotSupported,
}

#: code -> exception class, for every code the header defines.
BY_CODE: Dict[int, Type[SmartError]] = {}
for _name, _value, _msg in G.ERRORS:
    _cls = _BY_NAME.get(_name, SmartError)
    if _cls is not SmartError:
        _cls.code = _value
    BY_CODE[_value] = _cls


__all__ = ["SmartError", "ThreadError", "Loss", "BY_CODE", "error_for"] + sorted(
    {c.__name__ for c in _BY_NAME.values()} | {"WireError"})


def error_for(code: int, message: Optional[str] = None) -> SmartError:
    """The exception for a negative libsmart return value."""
    cls = BY_CODE.get(code, SmartError)
    return cls(message, code=code)
