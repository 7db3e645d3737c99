#!/bin/sh
# Twenty receivers on a bridge, each in a network namespace created here,
# each with its own nftables loss: independent 5% for eighteen of them, 20%
# for r19, and bursts for r20 (everything dropped for 200 ms of every
# second). Two CPU hogs run all the while. At the default (reliable)
# delivery policy every receiver must print every message in order: the
# sender goes at the pace of the slowest one's repairs. Everything stays
# inside the namespaces; they are deleted on exit. Skips (77) without root,
# ip or nft. Not in the default run (suite "load"): about a minute.
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
# Two CPU hogs (bounded: they die with the test).
for k in 1 2; do (while :; do :; done) & hogs="$hogs $!"; done
i=1
while [ $i -le 20 ]; do
  timeout 200 ip netns exec "$p-r$i" "$recv" --group "$group" --iface "198.51.100.$((10 + i))" \
    --count "$n" --timeout 150 >"$tmp/r$i.out" 2>"$tmp/r$i.err" &
  rpids="${rpids:-} $!"
  i=$((i + 1))
done
# r20's bursts: a drop-everything rule 200 ms out of every second.
(
  while :; do
    ip netns exec "$p-r20" nft add rule inet smarttest input udp dport 5078 counter drop 2>/dev/null
    sleep 0.2
    ip netns exec "$p-r20" nft flush chain inet smarttest input 2>/dev/null
    sleep 0.8
  done
) &
burst=$!
sleep 1
start=$(date +%s)
lines | timeout 200 ip netns exec "$p-s" "$send" --group "$group" --iface 198.51.100.1 --linger 10
rc=$?
wait_start=$(date +%s)
for pid in $rpids; do wait "$pid"; done
kill "$burst" 2>/dev/null
burst=
for h in $hogs; do kill "$h" 2>/dev/null; done
hogs=""
fail=0
[ $rc = 0 ] || { echo "smart-send exited $rc"; fail=1; }
lines >"$tmp/expected"
i=1
while [ $i -le 20 ]; do
  h=r$i
  if cmp -s "$tmp/expected" "$tmp/$h.out"; then
    echo "$h: $n of $n messages in order"
  else
    echo "$h: FAILED after $(wc -l <"$tmp/$h.out") lines: $(cat "$tmp/$h.err")"
    fail=1
  fi
  i=$((i + 1))
done
echo "sender finished in $((wait_start - start)) s with two CPU hogs running"
exit $fail
