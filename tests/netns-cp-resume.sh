#!/bin/sh
# smart-cp resume: a sender (198.51.100.1) and a receiver (.11) on a bridge,
# in namespaces created here. The receiver is killed (SIGKILL) once about
# half of a SMART_CP_RESUME_BYTES file (1 GB by default) is in; the sender
# must then report it gone and exit non-zero. A second sender run and the
# restarted receiver must complete the file, identical, with the second run
# moving less than 60% of it. Skips (77) without root or ip.
set -u
cp=$1 keygen=$2
bytes=${SMART_CP_RESUME_BYTES:-1000000000}
. "$(dirname "$0")/netns-lib.sh"
netns_require
p=scr$$
tmp=$(mktemp -d)
cleanup() {
  [ -n "${rpid:-}" ] && kill "$rpid" 2>/dev/null
  for h in br s r1; do ip netns del "$p-$h" 2>/dev/null; done
  rm -rf "$tmp"
}
trap cleanup EXIT INT TERM
for h in br s r1; do ip netns add "$p-$h" || { echo "SKIP: cannot create namespaces"; exit 77; }; done
netns_bridge br
netns_attach s br eth0 198.51.100.1
netns_attach r1 br eth0 198.51.100.11
group=239.255.79.$(( $$ % 250 + 1 )):$((7000 + $$ % 1000))
mkdir -p "$tmp/src" "$tmp/dst"
head -c "$bytes" /dev/urandom >"$tmp/src/big" || exit 1
"$keygen" --group-key "$tmp/k" >/dev/null || exit 1
recv() {
  # ip netns exec runs smart-cp in its own process: $! is smart-cp's pid.
  ip netns exec "$p-r1" "$cp" recv --group "$group" --iface 198.51.100.11 --dir "$tmp/dst" \
    --key-file "$tmp/k" --name r1 --timeout 60 --quiet --json >"$tmp/r$1.json" 2>"$tmp/r$1.err" &
  rpid=$!
}
send() { # RUN [options]
  run=$1
  shift
  timeout 300 ip netns exec "$p-s" "$cp" send --group "$group" --iface 198.51.100.1 \
    --key-file "$tmp/k" --expect 1 --gone 3 --quiet --json "$@" "$tmp/src/big" \
    >"$tmp/s$run.json" 2>"$tmp/s$run.err"
}
fail=0
# Run 1, at a quarter of the file a second, so that the kill lands near half.
recv 1
sleep 0.5
send 1 --rate $((bytes / 4)) &
spid=$!
part=$tmp/dst/.big.smart-part
n=0
while [ $n -lt 1200 ]; do
  size=$(stat -c %s "$part" 2>/dev/null || echo 0)
  [ "$size" -ge $((bytes / 2)) ] && break
  sleep 0.05
  n=$((n + 1))
done
kill -KILL "$rpid"
wait "$rpid" 2>/dev/null
rpid=
echo "receiver killed with $size of $bytes bytes in its partial file"
wait "$spid"
rc=$?
if [ $rc = 0 ] || ! grep -q "gone" "$tmp/s1.err"; then
  echo "FAIL: the first sender run exited $rc without reporting the receiver gone:"
  cat "$tmp/s1.err"
  fail=1
else
  echo "run 1: sender exited $rc: $(grep -m1 gone "$tmp/s1.err")"
fi
[ -e "$tmp/dst/big" ] && { echo "FAIL: a file under the final name after the kill"; fail=1; }
# Run 2: the restarted receiver asks only for what it lacks.
recv 2
sleep 0.5
send 2
rc=$?
wait "$rpid"
rrc=$?
rpid=
[ $rc = 0 ] && [ $rrc = 0 ] || { echo "FAIL: run 2: sender $rc, receiver $rrc"; cat "$tmp/s2.err" "$tmp/r2.err"; fail=1; }
cmp -s "$tmp/src/big" "$tmp/dst/big" || { echo "FAIL: the file differs after the resume"; fail=1; }
got=$(sed -n 's/.*"bytes_received":\([0-9]*\).*/\1/p' "$tmp/r2.json")
held=$(sed -n 's/.*"bytes_resumed":\([0-9]*\).*/\1/p' "$tmp/r2.json")
pct=$(( ${got:-0} * 100 / bytes ))
echo "run 2: received ${got:-?} bytes (${pct}% of the file), ${held:-?} already held"
[ -n "$got" ] && [ $((got * 10)) -lt $((bytes * 6)) ] || { echo "FAIL: run 2 moved ${pct}%, not under 60%"; fail=1; }
ls -a "$tmp/dst" | grep -q smart- && { echo "FAIL: temporary files left"; fail=1; }
exit $fail
