"""Every error code has its exception class; the ones a program can meet
are raised for real."""
import errno
import os
import subprocess
import sys

import pytest

import smart
from smart import _generated as G
from smart import errors as E

from conftest import CHILD_ENV

BUILTIN = {"EINVAL": ValueError, "ENOMEM": MemoryError, "EAGAIN": BlockingIOError,
           "EMSGSIZE": ValueError, "ETIMEDOUT": TimeoutError, "ESYS": OSError,
           "ERANGE": ValueError}
WIRE = {"ETRUNC", "ESIZE", "ECMD", "ERESERVED", "EFORMAT", "EEXT", "ESYNC"}


@pytest.mark.parametrize("name,code,msg", G.ERRORS)
def test_every_code_has_its_class(name, code, msg):
    cls = E.BY_CODE[code]
    assert cls is not smart.SmartError and issubclass(cls, smart.SmartError)
    assert cls.code == code
    assert getattr(smart, cls.__name__) is cls
    e = E.error_for(code)
    assert type(e) is cls and e.code == code and e.name == "SMART_" + name
    assert e.message == msg == smart.strerror(code)
    assert "SMART_" + name in str(e)
    if name in BUILTIN:
        assert isinstance(e, BUILTIN[name])
    if name in WIRE:
        assert isinstance(e, smart.WireError)


def test_classes_are_distinct():
    assert len({E.BY_CODE[v] for _, v, _ in G.ERRORS}) == len(G.ERRORS)


def test_unknown_code_is_the_base_class():
    e = E.error_for(G.ERR_LAST - 5)
    assert type(e) is smart.SmartError and e.name == "SMART_UNKNOWN"


def test_raised_for_real(group):
    with smart.Socket(linger_ms=0, nonblock=True) as s:
        with pytest.raises(smart.NotJoined):
            s.recv()
        with pytest.raises(smart.InvalidArgument):
            s.join("239.255.1.1", "127.0.0.1")  # no port
        with pytest.raises(smart.UnknownOption) as ei:
            s.setopt_raw(999, b"\0\0\0\0")
        assert ei.value.code == -17
        s.max_msg = 100
        s.join(group, "127.0.0.1")
        with pytest.raises(smart.WouldBlock) as ei:
            s.recv()
        assert ei.value.errno == errno.EAGAIN
        with pytest.raises(smart.MessageTooLarge):
            s.send(b"x" * 101)
        with pytest.raises(smart.BadState):
            s.window = 64  # an engine option after the join
        with pytest.raises(smart.BadState):
            s.group_key = bytes(32)
    with smart.Socket(group, "127.0.0.1", linger_ms=0, rcvtimeo_ms=50) as s:
        with pytest.raises(smart.WouldBlock):
            s.recv()  # the receive timeout
    with smart.Socket(linger_ms=0) as s:
        with pytest.raises(smart.BadState):
            s.rekey()  # no security


ESYS_SCRIPT = r"""
import os, resource, sys
import smart
s = smart.Socket(linger_ms=0)
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (64, hard))
held = []
try:
    while True:
        held.append(os.open("/dev/null", os.O_RDONLY))
except OSError:
    pass
try:
    s.join(sys.argv[1], "127.0.0.1")
    print("joined")
except smart.SystemFailure as e:
    assert isinstance(e, OSError) and e.code == smart.SystemFailure.code
    assert e.errno is None or e.errno == s.last_os_error
    print("ESYS", e.errno, e.strerror)
finally:
    for fd in held:
        os.close(fd)
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    s.close()
"""


def esys_join(group):
    r = subprocess.run([sys.executable, "-c", ESYS_SCRIPT, group], capture_output=True,
                       text=True, env=dict(os.environ), cwd="/")
    assert r.returncode == 0, r.stderr
    return r.stdout.split()


def test_system_failure_raised(group):
    """Out of descriptors, the join fails with SMART_ESYS: SystemFailure,
    an OSError."""
    assert esys_join(group)[0] == "ESYS"


def test_system_failure_carries_errno(group):
    assert esys_join(group)[:2] == ["ESYS", str(errno.EMFILE)]


def test_system_failure_class():
    e = smart.SystemFailure(code=smart.SystemFailure.code, errno=errno.EADDRINUSE)
    assert isinstance(e, OSError) and e.errno == errno.EADDRINUSE
    assert os.strerror(errno.EADDRINUSE) in str(e)


def test_timeout_from_flush(group):
    # A flush waits for the repair interval after the last datagram; with a
    # zero time limit it has not passed yet.
    with smart.Socket(group, "127.0.0.1", linger_ms=0) as tx:
        tx.send(b"x" * 1000)
        with pytest.raises(smart.Timeout) as ei:
            tx.flush(0)
        assert isinstance(ei.value, TimeoutError)


def test_lost_carries_the_range():
    loss = smart.Loss("127.0.0.1:5000", 3, 10, 4)
    e = smart.Lost(code=smart.Lost.code, loss=loss)
    assert e.loss.first == 10 and e.loss.last == 13 and list(e.loss.range) == [10, 11, 12, 13]
    assert "127.0.0.1:5000" in str(e) and "10..13" in str(e)


def run_import(env_extra):
    env = dict(CHILD_ENV)
    env.update(env_extra)
    if "LD_PRELOAD" in os.environ:
        env["LD_PRELOAD"] = os.environ["LD_PRELOAD"]
    return subprocess.run([sys.executable, "-c", "import smart"], capture_output=True,
                          text=True, env=env, cwd="/")


def test_library_missing_says_where_it_looked(tmp_path):
    r = run_import({"SMART_LIBRARY": str(tmp_path / "nowhere.so.0")})
    assert r.returncode != 0
    assert "LibraryError" in r.stderr and "nowhere.so.0" in r.stderr and "no such file" in r.stderr


def test_library_not_libsmart(tmp_path):
    import ctypes.util
    libc = ctypes.util.find_library("c")
    path = None
    for d in ("/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib64", "/usr/lib64", "/lib"):
        if libc and os.path.exists(os.path.join(d, libc)):
            path = os.path.join(d, libc)
            break
    if not path:
        pytest.skip("libc not found")
    r = run_import({"SMART_LIBRARY": path})
    assert r.returncode != 0 and "is not libsmart" in r.stderr


def test_library_of_another_version(tmp_path):
    from conftest import c_compiler
    src = tmp_path / "fake.c"
    src.write_text("unsigned smart_version_num(void) { return 0x020300; }\n")
    so = tmp_path / "libsmart.so.0"
    subprocess.run(c_compiler() + ["-shared", "-fPIC", "-o", str(so), str(src)], check=True,
                   env=CHILD_ENV)
    r = run_import({"SMART_LIBRARY": str(tmp_path)})
    assert r.returncode != 0
    assert "is libsmart 2.3.0" in r.stderr and G.VERSION_STR in r.stderr
