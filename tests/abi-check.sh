#!/bin/sh
# Compare the built shared library with the committed ABI baseline
# (tests/abi/libsmart.abi, made by abidw). Any change to what the baseline
# holds fails (abidiff status bits 4 and 8: a changed type, a removed or
# changed function); new functions alone pass, and so do members appended
# to the size-versioned structs (abi/size-versioned.supp). An intentional change updates
# the baseline (and, for a break, the SONAME / version node) in the same
# commit:
#   meson compile -C build abi-dump
set -u
abidiff=$1 baseline=$2 lib=$3 headers=$4
supp=$(dirname "$baseline")/size-versioned.supp
out=$("$abidiff" --no-added-syms --suppressions "$supp" --headers-dir2 "$headers" "$baseline" "$lib" 2>&1)
rc=$?
printf '%s\n' "$out"
if [ $((rc & 1)) -ne 0 ]; then echo "abidiff failed to run"; exit 1; fi
if [ $((rc & 12)) -ne 0 ]; then echo "ABI CHANGE against the baseline (see above)"; exit 1; fi
echo "abi: compatible with the baseline"
