"""Finding and loading libsmart.so.0, and checking its version.

Lookup order (the first that exists is loaded; a path that exists but does
not load is an error, never skipped):

1. ``$SMART_LIBRARY``: the path of the library file, or a directory holding
   ``libsmart.so.0``. When it is set, nothing else is tried.
2. ``libsmart.so.0`` in each directory of ``$LD_LIBRARY_PATH``, in order.
3. the system's dynamic loader: ``libsmart.so.0`` by name (``ldconfig``'s
   cache, ``/etc/ld.so.conf``: where ``meson install`` puts it).
"""
from __future__ import annotations

import ctypes
import os
from typing import List, Tuple

from . import _generated as G

SONAME = "libsmart.so.%d" % G.VERSION_MAJOR


class LibraryError(ImportError):
    """libsmart could not be found or loaded, or its version does not fit."""


def _candidates() -> Tuple[List[str], bool]:
    env = os.environ.get("SMART_LIBRARY")
    if env:
        env = os.path.abspath(env)
        return [os.path.join(env, SONAME) if os.path.isdir(env) else env], True
    out = []
    for d in os.environ.get("LD_LIBRARY_PATH", "").split(":"):
        if d:
            out.append(os.path.join(d, SONAME))
    return out, False


def _load() -> Tuple[ctypes.CDLL, str]:
    cands, only = _candidates()
    tried = []
    for path in cands:
        if not os.path.exists(path):
            tried.append(f"{path} (no such file)")
            if only:
                break
            continue
        try:
            return ctypes.CDLL(path), path
        except OSError as e:
            raise LibraryError(f"smart: found {path} but it does not load: {e}") from None
    if not only:
        try:
            return ctypes.CDLL(SONAME), SONAME + " (system loader)"
        except OSError as e:
            tried.append(f"{SONAME} through the system loader ({e})")
    raise LibraryError(
        "smart: libsmart not found; tried " + "; ".join(tried) +
        ". Build the library (meson setup build && ninja -C build) and set "
        "SMART_LIBRARY to build/lib/" + SONAME + ", or install it (meson install, then ldconfig).")


def _version_text(num: int) -> str:
    return f"{num >> 16}.{(num >> 8) & 0xFF}.{num & 0xFF}"


def _bind(lib: ctypes.CDLL, path: str) -> None:
    if not hasattr(lib, "smart_version_num"):
        raise LibraryError(f"smart: {path} is not libsmart (it has no smart_version_num)")
    lib.smart_version_num.restype = ctypes.c_uint32
    lib.smart_version_num.argtypes = []
    have = lib.smart_version_num()
    want = G.VERSION_NUM
    # 0.x: every minor release may break the ABI; from 1.0 the major does.
    same_series = (have >> 16) == (want >> 16) and ((want >> 16) > 0 or (have >> 8) == (want >> 8))
    if not same_series or have < want:
        raise LibraryError(
            f"smart: {path} is libsmart {_version_text(have)}, but this package was built "
            f"for libsmart {G.VERSION_STR} (it needs {_version_text(want)} or a later release "
            f"of the same {'major' if want >> 16 else 'minor'} series); set SMART_LIBRARY to the "
            "right library or rebuild the package against its header")
    for name, (restype, argtypes) in G.FUNCTIONS.items():
        try:
            fn = getattr(lib, name)
        except AttributeError:
            raise LibraryError(f"smart: {path} lacks {name}() declared by smart.h "
                               f"{G.VERSION_STR}") from None
        fn.restype = restype
        fn.argtypes = argtypes


lib, path = _load()
_bind(lib, path)
version_num: int = lib.smart_version_num()
version: str = lib.smart_version().decode()
