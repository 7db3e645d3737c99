#!/bin/sh
# Sharing a real bottleneck: senders and one receiver on a bridge, each in
# a network namespace created here; the bridge's port to the receiver is
# shaped to SMART_CC_MBIT (50) Mbit/s with tc tbf (burst 32kb, latency
# 50ms: a drop-tail token bucket, as in netns-cc.sh). The receiver counts,
# with nftables counters on its input, the bytes of each flow that came
# through the bottleneck (IP packets: data, repairs, heartbeats; for TCP,
# segments), sampled every half second. The phase is the first argument:
#
#  tcp  a libsmart stream (smart-send to smart-recv) and one bulk TCP flow
#       (smart-tcpflow, SMART_CC_TCP_ALG, cubic by default: Linux's own
#       default and Debian's, which iperf3 would use) start together; the
#       TCP flow sends for SMART_CC_SECONDS (20) s. Over those seconds each
#       gets between a third and two thirds of what both got together, and
#       afterwards the libsmart stream is complete, every line in order.
#  two  two smart-send processes (two hosts, two groups) to two smart-recv
#       processes on the receiver, started together: over the first
#       SMART_CC_SECONDS s their throughputs are within 30% of each other
#       (the smaller at least 70% of the larger), and both streams are
#       complete.
#
# The libsmart streams are long enough (4/5, or for two senders 7/10, of
# the bottleneck for those seconds) that none ends inside the window while
# it has no more than its share. The figures are printed either way: per
# second, each flow's share, and the totals. Every process runs under a
# timeout; the namespaces are deleted on exit (SMART_CC_LOGS=DIR keeps the
# processes' standard error and the samples there). Skips (77) without root,
# ip, tc or nft. Not in the default run (suite "cc").
#
#   netns-cc-tcp.sh tcp|two SMART_SEND SMART_RECV SMART_TCPFLOW
set -u
phase=$1 send=$2 recv=$3 tcpflow=$4
mbit=${SMART_CC_MBIT:-50}
secs=${SMART_CC_SECONDS:-20}
alg=${SMART_CC_TCP_ALG:-cubic}
case $phase in tcp | two) ;; *) echo "usage: $0 tcp|two SMART_SEND SMART_RECV SMART_TCPFLOW"; exit 2 ;; esac
. "$(dirname "$0")/netns-lib.sh"
netns_require nft
command -v tc >/dev/null || { echo "SKIP: needs tc (iproute2)"; exit 77; }
p=scct$$
tmp=$(mktemp -d)
pids=""
cleanup() {
  [ -n "${sampler:-}" ] && kill "$sampler" 2>/dev/null
  for pid in $pids; do kill "$pid" 2>/dev/null; done
  for h in br s s2 r; do ip netns del "$p-$h" 2>/dev/null; done
  [ -n "${SMART_CC_LOGS:-}" ] && mkdir -p "$SMART_CC_LOGS" && cp "$tmp"/*.err "$tmp"/rx "$tmp"/tcp*.out "$SMART_CC_LOGS" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT INT TERM
for h in br s s2 r; do ip netns add "$p-$h" || { echo "SKIP: cannot create namespaces"; exit 77; }; done
netns_bridge br
netns_attach s br eth0 198.51.100.1
netns_attach s2 br eth0 198.51.100.2
netns_attach r br eth0 198.51.100.11
ip netns exec "$p-br" tc qdisc add dev preth0 root tbf rate "${mbit}mbit" burst 32kb latency 50ms ||
  { echo "SKIP: cannot add a tbf qdisc"; exit 77; }
# The TCP sender asks for its algorithm on its socket (TCP_CONGESTION: a
# namespace's default may only be set to one of the allowed ones).
if [ "$phase" = tcp ]; then
  grep -qw "$alg" /proc/sys/net/ipv4/tcp_available_congestion_control ||
    { echo "SKIP: TCP congestion control $alg is not available"; exit 77; }
fi
g1=239.255.81.$(( $$ % 250 + 1 )) port1=5081
g2=239.255.82.$(( $$ % 250 + 1 )) port2=5082
tport=5083
# The receiver's counters: what came through the bottleneck, per flow.
ip netns exec "$p-r" nft -f - <<EOF || { echo "SKIP: cannot add nftables counters"; exit 77; }
table inet cct {
  counter a { }
  counter b { }
  chain in {
    type filter hook input priority 0; policy accept;
    udp dport $port1 counter name a
    udp dport $port2 counter name b
    tcp dport $tport counter name b
  }
}
EOF
bps=$((mbit * 1000000 / 8))
if [ "$phase" = tcp ]; then n=$((bps * secs * 4 / 5 / 1400)); else n=$((bps * secs * 7 / 10 / 1400)); fi
lines() { seq 1 "$n" | awk '{ printf "%08d %s\n", $1, substr(sprintf("%01400d", 0), 1, 1390) }'; }
lines >"$tmp/expected"
lim=$((secs * 6 + 60))
timeout "$lim" ip netns exec "$p-r" "$recv" --group "$g1:$port1" --iface 198.51.100.11 \
  --count "$n" --timeout $((lim - 10)) --verbose >"$tmp/r1.out" 2>"$tmp/r1.err" &
r1=$!
pids="$pids $r1"
if [ "$phase" = tcp ]; then
  timeout "$lim" ip netns exec "$p-r" "$tcpflow" --listen "198.51.100.11:$tport" --timeout 30 \
    >"$tmp/tcprecv.out" 2>"$tmp/tcprecv.err" &
else
  timeout "$lim" ip netns exec "$p-r" "$recv" --group "$g2:$port2" --iface 198.51.100.11 \
    --count "$n" --timeout $((lim - 10)) --verbose >"$tmp/r2.out" 2>"$tmp/r2.err" &
fi
r2=$!
pids="$pids $r2"
sleep 1
# Every half second: the time and the counters' bytes (a, then b).
(
  while :; do
    echo "$(date +%s.%N) $(ip netns exec "$p-r" nft list counters table inet cct |
      awk '$1 == "packets" { printf "%s ", $4 }')"
    sleep 0.5
  done
) >"$tmp/rx" &
sampler=$!
sleep 0.6
start=$(date +%s.%N)
timeout "$lim" ip netns exec "$p-s" "$send" --group "$g1:$port1" --iface 198.51.100.1 \
  --linger 10 --verbose <"$tmp/expected" 2>"$tmp/send1.err" &
s1=$!
pids="$pids $s1"
if [ "$phase" = tcp ]; then
  timeout "$lim" ip netns exec "$p-s" "$tcpflow" --connect "198.51.100.11:$tport" \
    --seconds "$secs" --cc "$alg" --timeout 30 >"$tmp/tcpsend.out" 2>"$tmp/tcpsend.err" &
else
  timeout "$lim" ip netns exec "$p-s2" "$send" --group "$g2:$port2" --iface 198.51.100.2 \
    --linger 10 --verbose <"$tmp/expected" 2>"$tmp/send2.err" &
fi
s2=$!
pids="$pids $s2"
fail=0
wait "$s1" || { echo "smart-send exited $?: $(tail -3 "$tmp/send1.err")"; fail=1; }
wait "$s2" || { echo "the second sender exited $?: $(tail -3 "$tmp/send2.err" "$tmp/tcpsend.err" 2>/dev/null)"; fail=1; }
wait "$r1" || fail=1
wait "$r2" || fail=1
pids=
sleep 0.6
kill "$sampler" 2>/dev/null
sampler=
if cmp -s "$tmp/expected" "$tmp/r1.out"; then
  echo "stream 1: $n of $n lines in order; $(tail -1 "$tmp/r1.err")"
else
  echo "stream 1: FAILED after $(wc -l <"$tmp/r1.out") lines: $(tail -2 "$tmp/r1.err")"
  fail=1
fi
if [ "$phase" = tcp ]; then
  echo "tcp sender: $(tail -1 "$tmp/tcpsend.out")"
  echo "tcp receiver: $(tail -1 "$tmp/tcprecv.out") $(cat "$tmp/tcprecv.err")"
  grep -q 'total' "$tmp/tcprecv.out" || fail=1
  names="libsmart tcp"
else
  if cmp -s "$tmp/expected" "$tmp/r2.out"; then
    echo "stream 2: $n of $n lines in order; $(tail -1 "$tmp/r2.err")"
  else
    echo "stream 2: FAILED after $(wc -l <"$tmp/r2.out") lines: $(tail -2 "$tmp/r2.err")"
    fail=1
  fi
  names="sender1 sender2"
fi
for f in send1 send2; do [ -f "$tmp/$f.err" ] && echo "$f: $(tail -1 "$tmp/$f.err")"; done
# The window: from the start for SMART_CC_SECONDS, between the samples
# nearest its ends; per second and in all.
awk -v start="$start" -v secs="$secs" -v bps="$bps" -v phase="$phase" -v names="$names" '
  BEGIN { split(names, nm, " ") }
  NF < 3 { next }
  $1 >= start && !t0 { t0 = $1; a0 = $2; b0 = $3; pt = $1; pa = $2; pb = $3; next }
  t0 && $1 <= t0 + secs + 0.25 {
    da = $2 - pa; db = $3 - pb
    if ($1 - pt >= 0.9) {
      s = da + db
      series = series sprintf(" %.0f/%.0f", s ? 100 * da / s : 0, s ? 100 * db / s : 0)
      pt = $1; pa = $2; pb = $3
    }
    t1 = $1; a1 = $2; b1 = $3 }
  END {
    if (!t1 || t1 - t0 < secs / 2) { print "fewer samples than the window"; exit 2 }
    a = a1 - a0; b = b1 - b0; dt = t1 - t0; s = a + b
    printf "per second, %% %s/%s:%s\n", nm[1], nm[2], series
    printf "over %.1f s: %s %.0f bytes/s (%.0f%% of the %d-byte/s link), %s %.0f bytes/s (%.0f%%); together %.0f%%\n",
      dt, nm[1], a / dt, 100 * a / dt / bps, bps, nm[2], b / dt, 100 * b / dt / bps, 100 * s / dt / bps
    if (s <= 0) { print "nothing came through"; exit 1 }
    if (phase == "tcp") {
      printf "shares: %s %.1f%%, %s %.1f%% (each must be within [33.3%%, 66.7%%])\n",
        nm[1], 100 * a / s, nm[2], 100 * b / s
      exit (3 * a < s || 3 * b < s)
    }
    hi = a > b ? a : b; lo = a > b ? b : a
    printf "%s and %s %.1f%% apart (at most 30%%)\n", nm[1], nm[2], 100 * (hi - lo) / hi
    exit (lo < 0.7 * hi) }' "$tmp/rx" || fail=1
exit $fail
