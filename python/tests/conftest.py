"""Shared fixtures. The tests need the package installed and, for the
interoperability tests, the C programs: SMART_SEND, SMART_RECV and
SMART_KEYGEN name them (tests/python-pkg.sh sets them; a test that needs
one that is not set is skipped). Everything stays on loopback."""
import itertools
import os
import shutil
import subprocess

import pytest

_counter = itertools.count()

#: The C programs carry their own sanitizer runtime, if any: never pass on
#: the one preloaded into this interpreter.
CHILD_ENV = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}


def program(var):
    path = os.environ.get(var)
    if not path:
        pytest.skip(f"{var} is not set")
    return path


@pytest.fixture
def group():
    """A fresh group on loopback multicast for each test."""
    n = next(_counter)
    pid = os.getpid()
    return f"239.255.{50 + n % 40}.{pid % 250 + 1}:{20000 + (pid * 7 + n) % 40000}"


@pytest.fixture
def smart_send():
    return program("SMART_SEND")


@pytest.fixture
def smart_recv():
    return program("SMART_RECV")


@pytest.fixture
def smart_keygen():
    return program("SMART_KEYGEN")


@pytest.fixture
def keyfile(tmp_path, smart_keygen):
    path = tmp_path / "group.key"
    subprocess.run([smart_keygen, "--group-key", str(path)], check=True, env=CHILD_ENV)
    return str(path)


def c_compiler():
    cc = os.environ.get("SMART_TEST_CC", "").split() or [shutil.which("cc") or "cc"]
    if not shutil.which(cc[0]):
        pytest.skip("no C compiler")
    return cc
