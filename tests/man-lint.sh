#!/bin/sh
# Every man page passes mandoc -Tlint with no message at WARNING level or
# above (style notes are not failures).
set -u
mandoc=$1; shift
out=$("$mandoc" -Tlint -W warning "$@" 2>&1)
rc=$?
if [ -n "$out" ] || [ $rc -ne 0 ]; then printf '%s\n' "$out"; exit 1; fi
echo "man-lint: $# pages clean"
