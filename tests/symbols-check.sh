#!/bin/sh
# The shared library exports only smart_ symbols, each listed in the version
# script, all under a LIBSMART_ version node; and it carries a SONAME.
set -eu
lib=$1 map=$2
fail=0
syms=$(nm -D --defined-only "$lib" | awk '{print $3}' | sed 's/@.*//' | grep -v '^LIBSMART_' | sort -u)
[ -n "$syms" ] || { echo "no exported symbols in $lib"; exit 1; }
for s in $syms; do
  case $s in
    smart__*) echo "internal symbol exported: $s"; fail=1 ;;
    smart_*) grep -q "^[[:space:]]*$s;" "$map" || { echo "exported but not in the map: $s"; fail=1; } ;;
    *) echo "non-smart_ symbol exported: $s"; fail=1 ;;
  esac
done
nm -D --defined-only --with-symbol-versions "$lib" 2>/dev/null | grep ' T ' | grep -v '@@\?LIBSMART_' && { echo "unversioned exports"; fail=1; }
objdump -p "$lib" | grep -q 'SONAME.*libsmart\.so\.[0-9]' || { echo "no versioned SONAME"; fail=1; }
[ $fail = 0 ] && echo "exported: $(echo $syms | wc -w) symbols, all smart_, all versioned"
exit $fail
