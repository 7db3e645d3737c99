"""The package agrees with include/smart/smart.h: a C program compiled
against the header prints sizeof and offsetof of every public struct field
and the value of every constant the package has; they must be the package's.
And every constant, option, error code and function the header declares is
in the package."""
import ctypes
import os
import re
import subprocess

import pytest

import smart
from smart import _generated as G

from conftest import CHILD_ENV, c_compiler


def include_dirs():
    dirs = [d for d in os.environ.get("SMART_TEST_INCLUDES", "").split(":") if d]
    if not dirs:
        here = os.path.dirname(os.path.abspath(__file__))
        dirs = [os.path.join(here, "..", "..", "include")]
    return dirs


def header_text():
    for d in include_dirs():
        p = os.path.join(d, "smart", "smart.h")
        if os.path.isfile(p):
            return open(p).read()
    pytest.skip("smart/smart.h not found (set SMART_TEST_INCLUDES)")


@pytest.fixture(scope="module")
def c_values(tmp_path_factory):
    header_text()
    lines = ["#include <smart/smart.h>", "#include <stddef.h>", "#include <stdio.h>",
             "int main(void) {"]
    for sname, cls in G.STRUCTS.items():
        lines.append(f'  printf("sizeof {sname} %zu\\n", sizeof(struct {sname}));')
        for f, _ in cls._fields_:
            lines.append(f'  printf("offsetof {sname}.{f} %zu\\n", offsetof(struct {sname}, {f}));')
            lines.append(f'  printf("fieldsize {sname}.{f} %zu\\n", sizeof(((struct {sname} *)0)->{f}));')
    for n, v, _ in G.DEFINES:
        lines.append(f'  printf("define {n} %lld\\n", (long long)(SMART_{n}));')
    for n, v, *_ in G.OPTIONS:
        lines.append(f'  printf("option {n} %d\\n", (int)SMART_OPT_{n});')
    for n, v, _ in G.ERRORS:
        lines.append(f'  printf("error {n} %d\\n", (int)SMART_{n});')
    lines.append('  printf("define VERSION_NUM %d\\n", (int)SMART_VERSION_NUM);')
    lines.append('  printf("error ERR_LAST %d\\n", (int)SMART_ERR_LAST);')
    lines += ["  return 0;", "}"]
    d = tmp_path_factory.mktemp("probe")
    src, exe = d / "probe.c", d / "probe"
    src.write_text("\n".join(lines) + "\n")
    cmd = c_compiler() + [f"-I{i}" for i in include_dirs()] + ["-o", str(exe), str(src)]
    subprocess.run(cmd, check=True, env=CHILD_ENV)
    out = subprocess.run([str(exe)], check=True, capture_output=True, text=True, env=CHILD_ENV).stdout
    vals = {}
    for line in out.splitlines():
        kind, name, value = line.split()
        vals[(kind, name)] = int(value)
    return vals


def test_struct_layouts(c_values):
    for sname, cls in G.STRUCTS.items():
        assert ctypes.sizeof(cls) == c_values[("sizeof", sname)], sname
        for f, _ in cls._fields_:
            field = getattr(cls, f)
            assert field.offset == c_values[("offsetof", f"{sname}.{f}")], f"{sname}.{f}"
            assert field.size == c_values[("fieldsize", f"{sname}.{f}")], f"{sname}.{f}"


def test_constants(c_values):
    for n, v, _ in G.DEFINES:
        assert v == c_values[("define", n)], n
        assert getattr(G, n) == v
    for n, v, *_ in G.OPTIONS:
        assert v == c_values[("option", n)], n
        assert smart.Option[n] == v
    for n, v, _ in G.ERRORS:
        assert v == c_values[("error", n)], n
    assert G.ERR_LAST == c_values[("error", "ERR_LAST")]
    assert G.VERSION_NUM == c_values[("define", "VERSION_NUM")]


def test_everything_in_the_header_is_in_the_package():
    text = header_text()
    code = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    defines = set(re.findall(r"^#define\s+SMART_([A-Z0-9_]+)\s+(?:0x[0-9a-fA-F]+|\d+)u?\b", code, re.M))
    assert defines - {"VERSION_NUM"} <= {n for n, _, _ in G.DEFINES}
    opts = set(re.findall(r"\bSMART_OPT_([A-Z0-9_]+)\s*=", code))
    assert opts == {n for n, *_ in G.OPTIONS}
    errs = set(re.findall(r"X\((E\w+),", text))
    assert errs == {n for n, _, _ in G.ERRORS}
    structs = set(re.findall(r"\bstruct\s+(smart_\w+)\s*\{", code))
    assert structs == set(G.STRUCTS)
    funcs = set(re.findall(r"SMART_API[^;(]*?\b(smart_\w+)\s*\(", code))
    assert funcs == set(G.FUNCTIONS)
    for f in funcs:
        assert hasattr(smart.lib, f)


def test_error_codes_match_the_library():
    for n, v, msg in G.ERRORS:
        assert smart.err_name(v) == "SMART_" + n
        assert smart.strerror(v) == msg


def test_option_lengths_match_the_library(group):
    """Every readable option reads back with exactly the length the package
    derived from the header, and a wrong length is refused."""
    with smart.Socket(linger_ms=0) as s:
        for n, v, kind, length, getonly, _ in G.OPTIONS:
            if kind == "bytes":
                with pytest.raises(smart.InvalidArgument):
                    s.getopt_raw(v, length)  # keys are write-only
                continue
            size = ctypes.sizeof(ctypes.c_void_p) if kind == "pointer" else length
            assert len(s.getopt_raw(v, size)) == size, n
            with pytest.raises(smart.InvalidArgument):
                s.getopt_raw(v, size - 1)
            if not getonly and kind != "pointer":
                with pytest.raises(smart.InvalidArgument):
                    s.setopt_raw(v, b"\0" * (size + 1))
