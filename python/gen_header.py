#!/usr/bin/env python3
"""Generate smart/_generated.py from include/smart/smart.h.

Nothing about the C API is copied into the package by hand: the error codes
(SMART_ERRNO_MAP), the options and the C type each one documents (enum
smart_option), every numeric #define, the layout of every public struct and
the prototype of every SMART_API function come from the header, read when
the package is built.

usage: gen_header.py [--include DIR] [--meson-build FILE] OUT.py

DIR holds smart/smart.h (default: ../include next to this script, else
/usr/local/include, else /usr/include). The library version comes from
smart/version.h in DIR when it has been generated (an installed header),
else from the project() line of the meson.build next to DIR.
"""
from __future__ import annotations

import argparse
import os
import pprint
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


class GenError(Exception):
    pass


def find_include(explicit: str | None) -> str:
    cands = []
    if explicit:
        cands.append(explicit)
    elif os.environ.get("SMART_INCLUDE_DIR"):
        cands.append(os.environ["SMART_INCLUDE_DIR"])
    else:
        cands += [os.path.join(HERE, "..", "include"), "/usr/local/include", "/usr/include"]
    for d in cands:
        if os.path.isfile(os.path.join(d, "smart", "smart.h")):
            return os.path.normpath(d)
    raise GenError("smart/smart.h not found in " + ", ".join(cands) +
                   " (set SMART_INCLUDE_DIR to the directory holding smart/smart.h)")


def strip_comments(text: str) -> str:
    text = re.sub(r"/\*.*?\*/", lambda m: "\n" * m.group(0).count("\n"), text, flags=re.S)
    return re.sub(r"//[^\n]*", "", text)


def parse_version(include: str, meson_build: str | None) -> tuple[int, int, int]:
    vh = os.path.join(include, "smart", "version.h")
    if os.path.isfile(vh):
        t = open(vh, encoding="utf-8").read()
        parts = []
        for k in ("MAJOR", "MINOR", "PATCH"):
            m = re.search(r"#define\s+SMART_VERSION_%s\s+(\d+)" % k, t)
            if not m:
                raise GenError(f"{vh}: no SMART_VERSION_{k}")
            parts.append(int(m.group(1)))
        return tuple(parts)  # type: ignore[return-value]
    mb = meson_build or os.path.join(include, "..", "meson.build")
    if not os.path.isfile(mb):
        raise GenError(f"no {vh} and no {mb}: cannot tell the library version")
    t = open(mb, encoding="utf-8").read()
    m = re.search(r"project\([^)]*?version\s*:\s*'(\d+)\.(\d+)\.(\d+)'", t, flags=re.S)
    if not m:
        raise GenError(f"{mb}: no project(... version: 'X.Y.Z')")
    return int(m.group(1)), int(m.group(2)), int(m.group(3))


def parse_errors(text: str) -> list[tuple[str, int, str]]:
    block = text[text.index("#define SMART_ERRNO_MAP(X)"):]
    block = block[:block.index("\n\n")]
    errs = [(n, int(v), msg) for n, v, msg in
            re.findall(r'X\((\w+),\s*(-?\d+),\s*"([^"]*)"\)', block)]
    if not errs:
        raise GenError("SMART_ERRNO_MAP not found")
    return errs


def parse_enum(text: str, name: str) -> list[tuple[str, int, str]]:
    """(member, value, doc comment) of `enum name { ... };` (raw text, with comments)."""
    m = re.search(r"enum\s+%s\s*\{(.*?)\};" % name, text, flags=re.S)
    if not m:
        raise GenError(f"enum {name} not found")
    out = []
    body = m.group(1)
    for mm in re.finditer(r"(SMART_\w+)\s*=\s*(-?\d+)\s*,?\s*(/\*\*<(.*?)\*/)?", body, flags=re.S):
        doc = re.sub(r"\s+", " ", (mm.group(4) or "")).strip()
        out.append((mm.group(1), int(mm.group(2)), doc))
    return out


def parse_defines(text: str) -> list[tuple[str, int, str]]:
    out = []
    for m in re.finditer(r"^#define\s+(SMART_[A-Z0-9_]+)\s+(0x[0-9a-fA-F]+|\d+)u?\b[ \t]*(/\*\*<(.*?)\*/)?",
                         text, flags=re.M | re.S):
        doc = re.sub(r"\s+", " ", (m.group(4) or "")).strip()
        out.append((m.group(1), int(m.group(2), 0), doc))
    return out


# Option documentation -> (kind, length). The header promises each option
# documents exactly one C type at the start of its comment.
def option_type(name: str, doc: str) -> tuple[str, int, bool]:
    getonly = "get only" in doc
    d = doc.strip()
    m = re.match(r"uint8_t\[(\d+)\]", d)
    if m:
        return "bytes", int(m.group(1)), getonly
    if d.startswith("const struct smart_crypto_ops *"):
        return "pointer", 0, getonly
    m = re.match(r"(u?int(32|64))\b(\s+0/1)?", d)
    if not m:
        raise GenError(f"{name}: cannot tell the option's C type from its comment {doc!r}")
    kind = m.group(1)
    if m.group(3):
        kind = "bool"
    return kind, int(m.group(2)) // 8, getonly


C_TYPES = {
    "size_t": "c_size_t", "uint8_t": "c_uint8", "uint16_t": "c_uint16", "uint32_t": "c_uint32",
    "uint64_t": "c_uint64", "int32_t": "c_int32", "int64_t": "c_int64", "int": "c_int",
    "smart_ssize": "c_ssize_t", "smart_tstamp": "c_uint64", "char": "c_char",
}


def parse_structs(code: str) -> dict[str, list[tuple[str, str]]]:
    """struct name -> [(field, ctypes expression)] (code without comments)."""
    structs: dict[str, list[tuple[str, str]]] = {}
    for m in re.finditer(r"struct\s+(smart_\w+)\s*\{(.*?)\};", code, flags=re.S):
        fields = []
        for decl in m.group(2).split(";"):
            decl = " ".join(decl.split())
            if not decl:
                continue
            fp = re.match(r".*\(\s*\*\s*(\w+)\s*\)\s*\(.*\)$", decl)
            if fp:  # function pointer: pointer-sized
                fields.append((fp.group(1), "c_void_p"))
                continue
            fm = re.match(r"(const\s+)?([\w ]+?)\s*(\*?)\s*(\w+)\s*(\[(\d+)\])?$", decl)
            if not fm:
                raise GenError(f"struct {m.group(1)}: cannot parse field {decl!r}")
            base, star, fname, arr = fm.group(2), fm.group(3), fm.group(4), fm.group(6)
            if star:
                t = "c_char_p" if base == "char" else "c_void_p"
            elif base in C_TYPES:
                t = C_TYPES[base]
            else:
                raise GenError(f"struct {m.group(1)}: unknown type {base!r}")
            if arr:
                t = f"({t} * {int(arr)})"
            fields.append((fname, t))
        structs[m.group(1)] = fields
    return structs


def arg_type(decl: str) -> str:
    """ctypes type of one parameter declaration ("smart_sock *s", "const uint8_t pk[32]")."""
    decl = decl.strip()
    if decl == "void":
        return ""
    array = re.search(r"\[\d*\]$", decl)
    decl = re.sub(r"\[\d*\]$", "", decl)
    toks = [t for t in decl.replace("*", " * ").split() if t != "const"]
    if len(toks) > 1 and toks[-1] != "*":
        toks.pop()  # the parameter's name
    stars = toks.count("*") + (1 if array else 0)
    base = " ".join(t for t in toks if t != "*")
    if stars == 0:
        if base not in C_TYPES:
            raise GenError(f"unknown argument type {decl!r}")
        return C_TYPES[base]
    if stars == 1 and base == "char":
        return "c_char_p"
    return "c_void_p"


def parse_functions(code: str) -> list[tuple[str, str, list[str]]]:
    out = []
    for m in re.finditer(r"SMART_API\s+([^;(]*?)\b(smart_\w+)\s*\(([^)]*)\)\s*;", code, flags=re.S):
        ret = " ".join(m.group(1).split())
        rt = "None" if ret == "void" else arg_type(ret + " r")
        ats = [t for t in (arg_type(a) for a in m.group(3).split(",")) if t]
        out.append((m.group(2), rt, ats))
    return out


PY_TYPES = {"int32": "int", "uint32": "int", "uint64": "int", "bool": "bool", "bytes": "bytes"}


def gen_stats_dataclass(fields: list[tuple[str, str]]) -> list[str]:
    w = ["@dataclasses.dataclass(frozen=True)", "class StatsData:",
         '    """The counters of struct smart_stats (see smart_stats(3)), one attribute each."""']
    for f, _ in fields:
        if f != "size":
            w.append(f"    {f}: int = 0")
    return w + ["", ""]


def gen_option_properties(opts) -> list[str]:
    """A mixin with one typed property per option, backed by getopt/setopt."""
    w = ["class OptionProperties:",
         '    """One property per SMART_OPT_* option, typed as the header documents it."""',
         "", "    __slots__ = ()", "",
         "    def getopt(self, opt: int) -> Any:  # pragma: no cover - overridden",
         "        raise NotImplementedError", "",
         "    def setopt(self, opt: int, value: Any) -> None:  # pragma: no cover - overridden",
         "        raise NotImplementedError", ""]
    for name, val, kind, length, getonly, doc in opts:
        if kind == "pointer":
            continue  # provider tables: Socket.crypto
        prop = name.lower()
        t = PY_TYPES[kind]
        setter_t = "Union[bytes, bytearray, memoryview]" if kind == "bytes" else t
        readable = kind != "bytes"  # keys are write-only
        doc_esc = doc.replace('"', "'")
        if readable:
            w += ["    @property", f"    def {prop}(self) -> {t}:", f'        """SMART_OPT_{name}: {doc_esc}"""',
                  f"        return self.getopt({val})  # type: ignore[no-any-return]", ""]
            if not getonly:
                w += [f"    @{prop}.setter", f"    def {prop}(self, value: {setter_t}) -> None:",
                      f"        self.setopt({val}, value)", ""]
        else:
            w += [f"    def _get_{prop}(self) -> None:",
                  f'        raise AttributeError("SMART_OPT_{name} is write-only")', "",
                  f"    def _set_{prop}(self, value: {setter_t}) -> None:",
                  f"        self.setopt({val}, value)", "",
                  f'    {prop} = property(_get_{prop}, _set_{prop}, doc="SMART_OPT_{name}: {doc_esc} (write-only)")', ""]
    return w + [""]


def generate(include: str, meson_build: str | None = None) -> str:
    hdr = os.path.join(include, "smart", "smart.h")
    raw = open(hdr, encoding="utf-8").read()
    code = strip_comments(raw)
    version = parse_version(include, meson_build)
    errors = parse_errors(raw)
    opts = []
    for name, val, doc in parse_enum(raw, "smart_option"):
        kind, length, getonly = option_type(name, doc)
        opts.append((name[len("SMART_OPT_"):], val, kind, length, getonly, doc))
    err_enum = parse_enum(raw, "smart_error")
    err_last = [v for n, v, _ in err_enum if n == "SMART_ERR_LAST"]
    defines = [(n, v, d) for n, v, d in parse_defines(raw) if not n.startswith("SMART_VERSION")]
    structs = parse_structs(code)
    funcs = parse_functions(code)
    names = {n for n, _, _ in funcs}
    for need in ("smart_open", "smart_recv", "smart_version_num"):
        if need not in names:
            raise GenError(f"{hdr}: {need} not found")

    w = []
    w.append('"""Generated from smart/smart.h by gen_header.py when the package was built. Do not edit."""')
    w.append("from __future__ import annotations")
    w.append("")
    w.append("import ctypes")
    w.append("import dataclasses")
    w.append("from ctypes import (c_char, c_char_p, c_int, c_int32, c_int64, c_size_t, c_ssize_t,")
    w.append("                    c_uint8, c_uint16, c_uint32, c_uint64, c_void_p)")
    w.append("from typing import Any, Dict, List, Tuple, Union")
    w.append("")
    w.append(f"VERSION_MAJOR = {version[0]}")
    w.append(f"VERSION_MINOR = {version[1]}")
    w.append(f"VERSION_PATCH = {version[2]}")
    w.append(f"VERSION_NUM = 0x{(version[0] << 16) | (version[1] << 8) | version[2]:06x}")
    w.append(f'VERSION_STR = "{version[0]}.{version[1]}.{version[2]}"')
    w.append("")
    w.append("#: (name without SMART_, value, message) of every error code, from SMART_ERRNO_MAP.")
    w.append("ERRORS: List[Tuple[str, int, str]] = " + pprint.pformat(errors, width=100))
    w.append(f"ERR_LAST = {err_last[0] if err_last else min(v for _, v, _ in errors) - 1}")
    w.append("")
    w.append("#: (name without SMART_OPT_, value, kind, length, get_only, doc) of every option.")
    w.append("#: kind is int32, uint32, uint64, bool (int32 0/1), bytes (uint8_t[length]) or pointer.")
    w.append("OPTIONS: List[Tuple[str, int, str, int, bool, str]] = " + pprint.pformat(opts, width=100))
    w.append("")
    w.append("#: Every numeric #define of the header: (name without SMART_, value, doc).")
    w.append("DEFINES: List[Tuple[str, int, str]] = " +
             pprint.pformat([(n[len("SMART_"):], v, d) for n, v, d in defines], width=100))
    w.append("")
    for n, v, _ in defines:
        w.append(f"{n[len('SMART_'):]} = {v}")
    w.append("")
    w.append("#: struct name -> [(field, ctypes type expression)]")
    w.append("STRUCT_FIELDS: Dict[str, List[Tuple[str, str]]] = " + pprint.pformat(structs, width=100))
    w.append("")
    cls_names = {}
    for sname, fields in structs.items():
        cname = "".join(p.capitalize() for p in sname[len("smart_"):].split("_"))
        cls_names[sname] = cname
        w.append(f"class {cname}(ctypes.Structure):")
        w.append(f'    """struct {sname}"""')
        w.append("    _fields_ = [")
        for f, t in fields:
            w.append(f"        ({f!r}, {t}),")
        w.append("    ]")
        w.append("")
        w.append("")
    w.append("#: struct name -> ctypes class")
    w.append("STRUCTS = {" + ", ".join(f"{s!r}: {c}" for s, c in cls_names.items()) + "}")
    w.append("")
    w += gen_stats_dataclass(structs["smart_stats"])
    w += gen_option_properties(opts)
    w.append("#: function -> (restype, argtypes), from the SMART_API prototypes")
    w.append("FUNCTIONS = {")
    for n, rt, ats in funcs:
        w.append(f"    {n!r}: ({rt}, [{', '.join(ats)}]),")
    w.append("}")
    w.append("")
    return "\n".join(w)


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--include")
    ap.add_argument("--meson-build")
    ap.add_argument("out")
    a = ap.parse_args(argv)
    try:
        text = generate(find_include(a.include), a.meson_build)
    except GenError as e:
        print(f"gen_header.py: {e}", file=sys.stderr)
        return 1
    tmp = a.out + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, a.out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
