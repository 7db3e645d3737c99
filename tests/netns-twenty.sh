#!/bin/sh
# Twenty receivers on a bridge, each in a network namespace created here,
# each with its own nftables loss: independent 5% for eighteen of them, 20%
# for r19, and bursts for r20 (everything dropped for 200 ms of every
# second, after each stream's first 1.5 s). Two CPU hogs run all the
# while. Two streams:
#  - reliable (the default delivery policy), as fast as it goes: every
#    receiver must print every message in order; the sender goes at the
#    pace of the slowest one's repairs;
#  - real-time, at a ticker's 4 MB/s: the sender never waits, and every
#    receiver must print every message in order, except that r19 (20%) may
#    skip what it could not recover in time, provided each gap in what it
#    printed is exactly where it reported a loss (smart-recv --skip-lost).
# Both times the sender's repair window and send queue stay within their
# bounds (smart-send --verbose prints the peaks). Everything stays inside
# the namespaces; they are deleted on exit. Skips (77) without root, ip or
# nft. Not in the default run (suite "load"): about two minutes.
#
#   netns-twenty.sh SMART_SEND SMART_RECV
set -u
send=$1 recv=$2
n=${SMART_NETNS_MESSAGES:-200000}
. "$(dirname "$0")/netns-lib.sh"
netns_require nft
p=stw$$
tmp=$(mktemp -d)
hosts="br s"
i=1
while [ $i -le 20 ]; do hosts="$hosts r$i"; i=$((i + 1)); done
hogs=""
cleanup() {
  for h in $hogs; do kill "$h" 2>/dev/null; done
  [ -n "${burst:-}" ] && kill "$burst" 2>/dev/null
  for h in $hosts; do ip netns del "$p-$h" 2>/dev/null; done
  rm -rf "$tmp"
}
trap cleanup EXIT INT TERM
for h in $hosts; do ip netns add "$p-$h" || { echo "SKIP: cannot create namespaces"; exit 77; }; done
netns_bridge br
netns_attach s br eth0 198.51.100.1
i=1
while [ $i -le 20 ]; do netns_attach "r$i" br eth0 "198.51.100.$((10 + i))"; i=$((i + 1)); done
group=239.255.78.$(( $$ % 250 + 1 )):5078
i=1
while [ $i -le 20 ]; do
  pct=5
  [ $i = 19 ] && pct=20
  [ $i = 20 ] && pct=0
  ip netns exec "$p-r$i" nft -f - <<NFT || { echo "nft rule failed"; exit 1; }
table inet smarttest {
  chain input {
    type filter hook input priority 0; policy accept;
    udp dport 5078 numgen random mod 100 < $pct counter drop
  }
}
NFT
  i=$((i + 1))
done
lines() { seq 1 "$n" | awk '{ printf "%08d quote ACME %s\n", $1, substr("0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz0123456789", 1, 60 + $1 % 20) }'; }
lines >"$tmp/expected"
# Two CPU hogs (bounded: they die with the test).
for k in 1 2; do (while :; do :; done) & hogs="$hogs $!"; done
# r20's bursts: a drop-everything rule 200 ms out of every second, except
# in the first 1.5 s of a stream (while $tmp/start exists): a receiver
# whose first packet comes more than 500 ms after a stream began joins it
# where it is (smart-protocol(7), the R bit), and with the hogs running the
# nft commands can stretch a 200 ms burst past that.
(
  while :; do
    if [ -e "$tmp/start" ]; then sleep 0.1; continue; fi
    ip netns exec "$p-r20" nft add rule inet smarttest input udp dport 5078 counter drop 2>/dev/null
    sleep 0.2
    ip netns exec "$p-r20" nft flush chain inet smarttest input 2>/dev/null
    sleep 0.8
  done
) &
burst=$!
fail=0

# A receiver's output against the expected lines: every line it printed in
# order, none twice, and (with losses allowed) each missing run of lines
# starting exactly where its standard error reported a loss.
check_gaps() { # OUT ERR
  awk -v errf="$2" '
    BEGIN {
      while ((getline l < errf) > 0)
        if (l ~ /lost [0-9]+ datagram/) { sub(/.* after /, "", l); sub(/ message.*/, "", l); at[l + 0] = 1 }
    }
    { k = substr($0, 1, 8) + 0
      if (k <= prev) { print "line " k " after line " prev; bad = 1; exit 1 }
      if (k != prev + 1) {
        if (!(NR - 1 in at)) { print "lines " prev + 1 "-" k - 1 " missing without a loss report"; bad = 1; exit 1 }
        gaps++; missing += k - prev - 1
      }
      prev = k }
    END {
      if (bad) exit 1
      if (prev < '"$n"' && !(NR in at)) { print "lines " prev + 1 "-" '"$n"' " missing without a loss report"; exit 1 }
      printf "%d line(s) missing in %d gap(s), each one reported\n", missing + ('"$n"' - prev), gaps + (prev < '"$n"') }
  ' "$1"
}

# run_stream NAME DELIVERY RATE
run_stream() {
  name=$1 delivery=$2 rate=$3
  rpids=""
  : >"$tmp/start"
  i=1
  while [ $i -le 20 ]; do
    skip=""
    [ "$delivery" = realtime ] && [ $i = 19 ] && skip=--skip-lost
    timeout 200 ip netns exec "$p-r$i" "$recv" --group "$group" --iface "198.51.100.$((10 + i))" \
      --count "$n" --timeout 150 $skip >"$tmp/r$i.out" 2>"$tmp/r$i.err" &
    rpids="$rpids $!"
    i=$((i + 1))
  done
  sleep 1
  start=$(date +%s)
  (sleep 1.5; rm -f "$tmp/start") &
  lines | timeout 200 ip netns exec "$p-s" "$send" --group "$group" --iface 198.51.100.1 \
    --linger 10 --delivery "$delivery" --rate "$rate" --verbose 2>"$tmp/send.err"
  rc=$?
  done_at=$(date +%s)
  for pid in $rpids; do wait "$pid"; done
  [ $rc = 0 ] || { echo "$name: smart-send exited $rc: $(tail -3 "$tmp/send.err")"; fail=1; }
  # held at most H of W datagram(s) for repair, queued at most Q of B byte(s)
  peaks=$(grep -o 'held at most [0-9]* of [0-9]* datagram(s) for repair, queued at most [0-9]* of [0-9]*' "$tmp/send.err")
  set -- $peaks
  if [ -z "$peaks" ] || [ "$4" = 0 ] || [ "$4" -gt "$6" ] || [ "${13}" -gt "${15}" ]; then
    echo "$name: sender's bounds not kept or not reported: '$peaks'"
    fail=1
  else
    echo "$name: sender $peaks bytes"
  fi
  i=1
  while [ $i -le 20 ]; do
    h=r$i
    if cmp -s "$tmp/expected" "$tmp/$h.out"; then
      echo "$name $h: $n of $n messages in order"
    elif [ "$delivery" = realtime ] && [ $i = 19 ] && r=$(check_gaps "$tmp/$h.out" "$tmp/$h.err"); then
      echo "$name $h: $(wc -l <"$tmp/$h.out") of $n messages in order; $r; $(tail -1 "$tmp/$h.err")"
    else
      echo "$name $h: FAILED after $(wc -l <"$tmp/$h.out") lines: $(tail -2 "$tmp/$h.err") ${r:-}"
      fail=1
    fi
    i=$((i + 1))
  done
  echo "$name: sender finished in $((done_at - start)) s with two CPU hogs running"
}

run_stream reliable reliable 0
run_stream real-time realtime 4000000
exit $fail
