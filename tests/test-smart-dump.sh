#!/bin/sh
# smart-dump decodes hand-built vectors exactly: for every vectors/NAME.hex,
# the output must equal vectors/NAME.out line for line, one line per input.
set -eu
dump=$1 dir=$2
fail=0 n=0
for hex in "$dir"/*.hex; do
  exp=${hex%.hex}.out
  got=$("$dump" --hex < "$hex")
  if [ "$(grep -c '' "$hex")" != "$(printf '%s\n' "$got" | grep -c '')" ]; then
    echo "$hex: line count differs"; fail=1
  fi
  if ! printf '%s\n' "$got" | diff -u "$exp" -; then
    echo "$hex: output differs"; fail=1
  fi
  n=$((n + 1))
done
"$dump" >/dev/null 2>&1 && { echo "no arguments must be a usage error"; fail=1; }
[ $fail = 0 ] && echo "smart-dump: $n vector files match"
exit $fail
