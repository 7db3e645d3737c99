#!/bin/sh
# A real bottleneck: a sender and three receivers on a bridge, each in a
# network namespace created here; the bridge's port to r3 is shaped to
# SMART_CC_MBIT (50) Mbit/s with tc tbf (a drop-tail token bucket: what does
# not fit in its queue is dropped, as at a congested router; no nftables
# loss). The sender streams SMART_CC_SECONDS (20) seconds' worth of the
# bottleneck's rate in 1,400-byte lines. The test samples the sender's
# transmitted bytes every half second and checks, at the defaults:
#  - every receiver gets every line, in order;
#  - from 5 s on, until it has sent everything, the sender averages 70-110%
#    of the bottleneck (the bytes on its link, headers included);
#  - fewer than 2% of the datagrams the bottlenecked receiver got were
#    repairs.
# SMART_CC_SEND_ARGS adds options to smart-send (for example to run without
# congestion control and see what it saves; the figures are printed either
# way). Everything stays inside the namespaces; they are deleted on exit.
# Skips (77) without root, ip or tc. Not in the default run (suite "load").
#
#   netns-cc.sh SMART_SEND SMART_RECV
set -u
send=$1 recv=$2
mbit=${SMART_CC_MBIT:-50}
secs=${SMART_CC_SECONDS:-20}
. "$(dirname "$0")/netns-lib.sh"
netns_require
command -v tc >/dev/null || { echo "SKIP: needs tc (iproute2)"; exit 77; }
p=scc$$
tmp=$(mktemp -d)
cleanup() {
  [ -n "${sampler:-}" ] && kill "$sampler" 2>/dev/null
  for h in br s r1 r2 r3; do ip netns del "$p-$h" 2>/dev/null; done
  rm -rf "$tmp"
}
trap cleanup EXIT INT TERM
for h in br s r1 r2 r3; do ip netns add "$p-$h" || { echo "SKIP: cannot create namespaces"; exit 77; }; done
netns_bridge br
netns_attach s br eth0 198.51.100.1
for i in 1 2 3; do netns_attach "r$i" br eth0 "198.51.100.1$i"; done
# The bottleneck: the bridge's egress towards r3. Queue: 50 ms at the rate.
ip netns exec "$p-br" tc qdisc add dev pr3eth0 root tbf rate "${mbit}mbit" burst 32kb latency 50ms ||
  { echo "SKIP: cannot add a tbf qdisc"; exit 77; }
group=239.255.80.$(( $$ % 250 + 1 )):5080
bps=$((mbit * 1000000 / 8))
n=$((bps * secs / 1400))
lines() { seq 1 "$n" | awk '{ printf "%08d %s\n", $1, substr(sprintf("%01400d", 0), 1, 1390) }'; }
lines >"$tmp/expected"
rpids=""
for i in 1 2 3; do
  timeout $((secs * 6 + 60)) ip netns exec "$p-r$i" "$recv" --group "$group" --iface "198.51.100.1$i" \
    --count "$n" --timeout $((secs * 6 + 30)) --verbose >"$tmp/r$i.out" 2>"$tmp/r$i.err" &
  rpids="$rpids $!"
done
sleep 1
# The sender's transmitted bytes, every half second.
(
  while :; do
    echo "$(date +%s.%N) $(ip netns exec "$p-s" cat /sys/class/net/eth0/statistics/tx_bytes)"
    sleep 0.5
  done
) >"$tmp/tx" &
sampler=$!
start=$(date +%s.%N)
# shellcheck disable=SC2086
timeout $((secs * 6 + 60)) ip netns exec "$p-s" "$send" --group "$group" --iface 198.51.100.1 \
  --linger 10 --verbose ${SMART_CC_SEND_ARGS:-} <"$tmp/expected" 2>"$tmp/send.err"
rc=$?
for pid in $rpids; do wait "$pid"; done
kill "$sampler" 2>/dev/null
sampler=
fail=0
[ $rc = 0 ] || { echo "smart-send exited $rc: $(tail -3 "$tmp/send.err")"; fail=1; }
for i in 1 2 3; do
  if cmp -s "$tmp/expected" "$tmp/r$i.out"; then
    echo "r$i: $n of $n lines in order; $(tail -1 "$tmp/r$i.err")"
  else
    echo "r$i: FAILED after $(wc -l <"$tmp/r$i.out") lines: $(tail -2 "$tmp/r$i.err")"
    fail=1
  fi
done
# The sender's rate: per half-second sample, and its mean from 5 s after
# the start until the sample where it had sent (nearly) all its bytes.
total=$(awk 'NR == 1 { b0 = $2 } { b = $2 } END { print b - b0 }' "$tmp/tx")
awk -v start="$start" -v bps="$bps" -v total="$total" '
  NR == 1 { t0 = $1; b0 = $2; pt = $1; pb = $2; next }
  { rate = ($2 - pb) / ($1 - pt); series = series sprintf(" %.0f%%", 100 * rate / bps)
    if ($1 - start >= 5 && $2 - b0 < 0.98 * total) { sum += $2 - pb; dt += $1 - pt }
    pt = $1; pb = $2 }
  END {
    printf "sender rate per 0.5 s, %% of the bottleneck:%s\n", series
    if (dt < 1) { print "sender: less than a second of sending after 5 s"; exit 2 }
    m = sum / dt / bps
    printf "sender: %.0f%% of the %d-byte/s bottleneck on average from 5 s on (%.1f s)\n", 100 * m, bps, dt
    exit (m < 0.70 || m > 1.10) }' "$tmp/tx" || fail=1
rep=$(grep -o '[0-9]* datagram(s), [0-9]* of them repairs' "$tmp/r3.err" | head -1)
if [ -n "$rep" ]; then
  set -- $rep
  echo "r3 (bottlenecked): $3 of $1 datagrams were repairs ($(awk -v a="$3" -v b="$1" 'BEGIN { printf "%.2f", 100 * a / b }')%)"
  [ $(( $3 * 50 )) -lt "$1" ] || fail=1
else
  echo "r3: no statistics line"
  fail=1
fi
echo "$(tail -1 "$tmp/send.err")"
exit $fail
