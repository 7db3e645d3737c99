#!/bin/sh
# smart-cp's failures, each in a namespace created here, on one bridge with
# the sender (198.51.100.1): r1 (.11) is sound; r2 (.12) holds the wrong
# group key; r3 (.13) receives into an 8 MB tmpfs, too small for the 40 MB
# sent; r4 (.14) into a read-only tmpfs. r1 must complete; r2, r3 and r4
# must each exit non-zero with one clear line; the sender must exit
# non-zero and name all three in its report. Then identity mode: r1 on the
# sender's allow-list completes, r2 with an identity not on it is refused,
# and the report names both. Skips (77) without root or ip.
set -u
cp=$1 keygen=$2
. "$(dirname "$0")/netns-lib.sh"
netns_require
p=sce$$
tmp=$(mktemp -d)
cleanup() {
  for h in br s r1 r2 r3 r4; do ip netns del "$p-$h" 2>/dev/null; done
  rm -rf "$tmp"
}
trap cleanup EXIT INT TERM
for h in br s r1 r2 r3 r4; do ip netns add "$p-$h" || { echo "SKIP: cannot create namespaces"; exit 77; }; done
netns_bridge br
netns_attach s br eth0 198.51.100.1
for h in r1 r2 r3 r4; do netns_attach "$h" br eth0 "198.51.100.1${h#r}"; done
group=239.255.80.$(( $$ % 250 + 1 )):$((8000 + $$ % 1000))
mkdir -p "$tmp/src/set" "$tmp/r1" "$tmp/r2" "$tmp/r3" "$tmp/r4"
head -c 30000000 /dev/urandom >"$tmp/src/set/a" && head -c 10000000 /dev/urandom >"$tmp/src/set/b" || exit 1
"$keygen" --group-key "$tmp/k" >/dev/null && "$keygen" --group-key "$tmp/wrong" >/dev/null || exit 1
# ip netns exec gives each command a mount namespace of its own: the tmpfs
# mounts below are seen by that receiver only and vanish with it.
recv() { # HOST KEY MOUNT-OPTIONS
  h=$1 key=$2 mnt=$3
  timeout 120 ip netns exec "$p-$h" sh -c '
    [ -z "$3" ] || mount -t tmpfs -o "$3" tmpfs "$2" || exit 99
    exec "$1" recv --group "$4" --iface "$5" --dir "$2" --key-file "$6" --name "$7" \
      --timeout 60 --quiet' sh "$cp" "$tmp/$h" "$mnt" "$group" "198.51.100.1${h#r}" "$key" "$h" \
    >"$tmp/$h.out" 2>"$tmp/$h.err" &
  eval "pid_$h=\$!"
}
recv r1 "$tmp/k" ""
recv r2 "$tmp/wrong" ""
recv r3 "$tmp/k" size=8m
recv r4 "$tmp/k" ro,size=8m
sleep 0.5
timeout 120 ip netns exec "$p-s" "$cp" send --group "$group" --iface 198.51.100.1 \
  --key-file "$tmp/k" --expect 4 --wait 30 --gone 5 --quiet "$tmp/src/set" 2>"$tmp/s.err"
src=$?
fail=0
for h in r1 r2 r3 r4; do
  eval "wait \$pid_$h"
  eval "rc_$h=\$?"
done
echo "sender exited $src; its report:"
cat "$tmp/s.err"
[ "$src" != 0 ] || { echo "FAIL: the sender exited 0"; fail=1; }
# check HOST WANT-RC PATTERN NAME-IN-REPORT
check() {
  eval "rc=\$rc_$1"
  lines=$(wc -l <"$tmp/$1.err")
  if [ "$2" = 0 ]; then
    [ "$rc" = 0 ] && [ "$lines" = 0 ] || { echo "FAIL: $1 exited $rc: $(cat "$tmp/$1.err")"; fail=1; }
    return
  fi
  echo "$1: exit $rc: $(cat "$tmp/$1.err")"
  [ "$rc" != 0 ] && [ "$rc" != 99 ] || { echo "FAIL: $1 exited $rc"; fail=1; }
  [ "$lines" = 1 ] || { echo "FAIL: $1 wrote $lines lines, not one"; fail=1; }
  grep -q "$3" "$tmp/$1.err" || { echo "FAIL: $1 does not say \"$3\""; fail=1; }
  grep "$1 (" "$tmp/s.err" | grep -q "$4" || { echo "FAIL: the sender's report does not name $1 with \"$4\""; fail=1; }
}
check r1 0
check r2 1 "do not authenticate" "refused"
check r3 1 "no space left" "no space left"
check r4 1 "not writable" "not writable"
cmp -s "$tmp/src/set/a" "$tmp/r1/set/a" && cmp -s "$tmp/src/set/b" "$tmp/r1/set/b" ||
  { echo "FAIL: r1's copy differs"; fail=1; }
grep -q "r1 (.*complete" "$tmp/s.err" || { echo "FAIL: the report does not say r1 is complete"; fail=1; }

# Identity mode: the sender admits r1's key only.
"$keygen" --identity "$tmp/s.id" >"$tmp/s.pub" && "$keygen" --identity "$tmp/r1.id" >"$tmp/allow" &&
  "$keygen" --identity "$tmp/r2.id" >/dev/null || exit 1
rm -rf "$tmp/r1" "$tmp/r2"
mkdir -p "$tmp/r1" "$tmp/r2"
for h in r1 r2; do
  timeout 120 ip netns exec "$p-$h" "$cp" recv --group "$group" --iface "198.51.100.1${h#r}" \
    --dir "$tmp/$h" --identity "$tmp/$h.id" --peer-key "$(cat "$tmp/s.pub")" --name "$h" \
    --timeout 60 --quiet 2>"$tmp/$h.err" &
  eval "pid_$h=\$!"
done
sleep 0.5
timeout 120 ip netns exec "$p-s" "$cp" send --group "$group" --iface 198.51.100.1 \
  --identity "$tmp/s.id" --allow "$tmp/allow" --expect 2 --wait 30 --quiet "$tmp/src/set" 2>"$tmp/s.err"
src=$?
wait "$pid_r1"
rc_r1=$?
wait "$pid_r2"
rc_r2=$?
echo "identity mode: sender exited $src; its report:"
cat "$tmp/s.err"
[ "$src" != 0 ] || { echo "FAIL: the sender exited 0 with a refused receiver"; fail=1; }
check r1 0
check r2 1 "do not authenticate" "refused"
grep "r1 (" "$tmp/s.err" | grep -q "key $(cut -c1-12 "$tmp/allow").*complete" ||
  { echo "FAIL: the report does not name r1 by its key as complete"; fail=1; }
cmp -s "$tmp/src/set/a" "$tmp/r1/set/a" || { echo "FAIL: r1's copy differs (identity mode)"; fail=1; }
exit $fail
