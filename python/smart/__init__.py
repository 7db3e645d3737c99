"""libsmart for Python: secure, reliable IP multicast (SMART Multicast).

    import smart
    with smart.Socket("239.255.1.1:5000", "127.0.0.1") as s:
        for msg in s:
            print(msg.sender, msg.seq, msg.data)

:class:`Socket` is the blocking (or non-blocking, ``nonblock=True``) socket;
:mod:`smart.aio` has the asyncio one. Exceptions are in :mod:`smart.errors`
(all derive from :class:`SmartError`); key files in :mod:`smart.keys`.
Constants, option types and struct layouts come from smart/smart.h, read
when the package was built (``smart.consts``).

The shared library is found through, in order: ``$SMART_LIBRARY`` (the
library file, or its directory), the directories of ``$LD_LIBRARY_PATH``,
then the system loader; its smart_version_num() must be of the series this
package was built for, else importing raises :class:`LibraryError`.
"""
from __future__ import annotations

from . import _generated as consts
from ._lib import LibraryError, lib, path as library_path, version as library_version
from ._socket import Event, EventType, Member, Message, Option, Socket, Stats
from .errors import *  # noqa: F401,F403
from .errors import Loss, Lost, SmartError, ThreadError
from . import errors, keys

__version__ = consts.VERSION_STR

__all__ = ["Socket", "Message", "Event", "EventType", "Member", "Option", "Stats", "Loss",
           "Lost", "SmartError", "ThreadError", "LibraryError", "errors", "keys", "consts",
           "library_path", "library_version", "lib", "strerror", "err_name"]
__all__ += [n for n in errors.__all__ if n not in __all__ and n not in ("BY_CODE", "error_for")]


def strerror(code: int) -> str:
    """smart_strerror(3)."""
    return lib.smart_strerror(code).decode()


def err_name(code: int) -> str:
    """smart_err_name(3)."""
    return lib.smart_err_name(code).decode()
