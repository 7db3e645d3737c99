#!/usr/bin/env python3
"""Every default smart_setopt(3) documents is the default of the code: each
row of the option table in the man page is read back with smart_getopt()
on a fresh socket, and each option number is checked against smart.h.

usage: test-defaults.py LIBSMART.so MANPAGE HEADER
"""
import ctypes
import re
import sys

lib = ctypes.CDLL(sys.argv[1])
man = open(sys.argv[2]).read()
header = open(sys.argv[3]).read()

enum = {m.group(1): int(m.group(2))
        for m in re.finditer(r"\b(SMART_OPT_[A-Z0-9_]+)\s*=\s*(\d+)", header)}
rows = re.findall(r"^\.It Dv (SMART_OPT_\w+) Ta (\d+) Ta (?:Vt )?(\S+) Ta (.+?) Ta ",
                  man, re.M)
assert len(rows) == len(enum), f"{len(rows)} rows in the man page, {len(enum)} options in smart.h"

ctype = {"int32_t": ctypes.c_int32, "uint32_t": ctypes.c_uint32, "uint64_t": ctypes.c_uint64,
         "pointer": ctypes.c_void_p}
s = ctypes.c_void_p()
assert lib.smart_open(ctypes.byref(s), 0) == 0
lib.smart_getopt.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p,
                             ctypes.POINTER(ctypes.c_size_t)]
checked = failed = 0
for name, num, typ, default in rows:
    if enum.get(name) != int(num):
        print(f"FAIL {name}: the man page says {num}, smart.h {enum.get(name)}")
        failed += 1
        continue
    default = default.replace("\\-", "-").replace("Dv NULL", "0").strip()
    if typ not in ctype or not re.fullmatch(r"-?(0x[0-9a-fA-F]+|\d+)", default):
        continue  # keys (write-only), "random"
    v = ctype[typ]()
    n = ctypes.c_size_t(ctypes.sizeof(v))
    rc = lib.smart_getopt(s, int(num), ctypes.byref(v), ctypes.byref(n))
    got = v.value or 0
    if rc != 0 or got != int(default, 0):
        print(f"FAIL {name}: documented default {default}, getopt gave rc {rc} value {got}")
        failed += 1
    checked += 1
lib.smart_close(s)
print(f"{checked} documented defaults read back")
print(f"{checked - failed} passed, {failed} failed" if failed else f"{checked} passed, 0 failed")
sys.exit(1 if failed or checked < 20 else 0)
