"""Key files as smart-keygen(1) writes them, and identity key pairs.

- ``smart-keygen --group-key FILE``: one line, the 32-byte group key in hex.
- ``smart-keygen --identity FILE``: the 64-byte secret key in hex, then the
  32-byte public key in hex on a second line.
- an allow file (``smart-send --allow``): one 64-hex-digit public key per
  line; blank lines and lines starting with ``#`` are skipped.

Hex digits may be separated by white space, as the C programs accept.
Secret files are written with mode 0600.
"""
from __future__ import annotations

import ctypes
import os
from typing import List, NamedTuple

from . import _generated as G
from ._lib import lib


class Identity(NamedTuple):
    """An identity key pair: ``secret`` (64 bytes) and ``public`` (32 bytes)."""

    secret: bytes
    public: bytes


def unhex(text: str, nbytes: int) -> bytes:
    """Exactly ``nbytes`` bytes from hex digits (white space ignored)."""
    digits = "".join(text.split())
    if len(digits) != 2 * nbytes:
        raise ValueError(f"want {nbytes} bytes ({2 * nbytes} hex digits), got {len(digits)} digits")
    try:
        return bytes.fromhex(digits)
    except ValueError:
        raise ValueError("not hex digits") from None


def _first_lines(path: str, n: int) -> List[str]:
    with open(path, encoding="ascii", errors="replace") as f:
        return [f.readline() for _ in range(n)]


def read_group_key(path: str) -> bytes:
    """The 32-byte group key of a ``smart-keygen --group-key`` file."""
    line = _first_lines(path, 1)[0]
    try:
        return unhex(line, G.KEY_BYTES)
    except ValueError as e:
        raise ValueError(f"{path} does not start with a {G.KEY_BYTES}-byte hex key: {e}") from None


def read_identity(path: str) -> Identity:
    """The key pair of a ``smart-keygen --identity`` file."""
    first, second = _first_lines(path, 2)
    try:
        sk = unhex(first, G.SECKEY_BYTES)
    except ValueError as e:
        raise ValueError(f"{path} does not start with a {G.SECKEY_BYTES}-byte hex key: {e}") from None
    pk = sk[32:]  # an Ed25519 secret key is seed || public key
    if second.strip():
        try:
            pk = unhex(second, G.PUBKEY_BYTES)
        except ValueError as e:
            raise ValueError(f"{path}: second line is not a {G.PUBKEY_BYTES}-byte public key: {e}") from None
    return Identity(sk, pk)


def read_allow_file(path: str) -> List[bytes]:
    """The public keys listed in an allow file."""
    out = []
    with open(path, encoding="ascii", errors="replace") as f:
        for line in f:
            s = line.strip()
            if not s or s.startswith("#"):
                continue
            try:
                out.append(unhex(s, G.PUBKEY_BYTES))
            except ValueError:
                raise ValueError(f"{path}: not a 64-hex-digit public key: {s}") from None
    if not out:
        raise ValueError(f"{path} lists no key")
    return out


def identity_keypair() -> Identity:
    """A new identity key pair (smart_identity_keypair(3))."""
    pk = ctypes.create_string_buffer(G.PUBKEY_BYTES)
    sk = ctypes.create_string_buffer(G.SECKEY_BYTES)
    rc = lib.smart_identity_keypair(pk, sk)
    if rc < 0:
        from .errors import error_for
        raise error_for(rc)
    out = Identity(sk.raw, pk.raw)
    ctypes.memset(sk, 0, G.SECKEY_BYTES)
    return out


def _write_secret(path: str, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, text.encode())
        os.fsync(fd)
    finally:
        os.close(fd)


def write_group_key(path: str) -> bytes:
    """Write a new random group key to ``path`` as smart-keygen does; returns it."""
    key = os.urandom(G.KEY_BYTES)
    _write_secret(path, key.hex() + "\n")
    return key


def write_identity(path: str) -> Identity:
    """Write a new identity key pair to ``path`` as smart-keygen does; returns it."""
    ident = identity_keypair()
    _write_secret(path, ident.secret.hex() + "\n" + ident.public.hex() + "\n")
    return ident
