#!/bin/sh
# A file to three receivers on a bridge, each in a network namespace created
# here, each losing an independent 10% of what arrives to an nftables
# "numgen random" rule; everything at the library's defaults, through the
# API (bench/smart-filerun --send / --recv: the file in 64 KiB messages,
# smart_flush at the end, a digest of the whole file at every receiver).
# Every receiver must be complete and byte-identical in every run, and the
# sender's flush must see them all complete. SMART_NETNS_MB (256) and
# SMART_NETNS_RUNS (10) set the size and the number of runs, SMART_NETNS_LOSS
# (10) the loss in percent. Everything
# stays inside the namespaces; they are deleted on exit. Skips (77) without
# root, ip or nft. Not in the default run (suite "load"): about two minutes.
#
#   netns-file.sh SMART_FILERUN
set -u
filerun=$1
mb=${SMART_NETNS_MB:-256}
runs=${SMART_NETNS_RUNS:-10}
loss=${SMART_NETNS_LOSS:-10}
. "$(dirname "$0")/netns-lib.sh"
netns_require nft
p=sfl$$
tmp=$(mktemp -d)
cleanup() {
  for h in br s r1 r2 r3; do ip netns del "$p-$h" 2>/dev/null; done
  rm -rf "$tmp"
}
trap cleanup EXIT INT TERM
for h in br s r1 r2 r3; do ip netns add "$p-$h" || { echo "SKIP: cannot create namespaces"; exit 77; }; done
netns_bridge br
netns_attach s br eth0 198.51.100.1
for i in 1 2 3; do
  netns_attach "r$i" br eth0 "198.51.100.1$i"
  ip netns exec "$p-r$i" nft -f - <<NFT || { echo "nft rule failed"; exit 1; }
table inet smarttest {
  chain input {
    type filter hook input priority 0; policy accept;
    udp dport 5079 numgen random mod 100 < $loss counter drop
  }
}
NFT
done
group=239.255.79.$(( $$ % 250 + 1 )):5079
fail=0 good=0
run=1
while [ $run -le "$runs" ]; do
  rpids=""
  for i in 1 2 3; do
    timeout 300 ip netns exec "$p-r$i" "$filerun" --recv "198.51.100.1$i" --mb "$mb" \
      --group "$group" 2>"$tmp/r$i.err" &
    rpids="$rpids $!"
  done
  sleep 1
  out=$(timeout 300 ip netns exec "$p-s" "$filerun" --send 198.51.100.1 --mb "$mb" --group "$group")
  src=$?
  ok=0
  k=1
  for pid in $rpids; do
    wait "$pid" && ok=$((ok + 1))
    k=$((k + 1))
  done
  dropped=$(for i in 1 2 3; do ip netns exec "$p-r$i" nft list table inet smarttest | grep -o 'packets [0-9]*' | cut -d' ' -f2; done | tr '\n' ' ')
  echo "run $run: $out; receivers complete and identical: $ok of 3 (sender exit $src; packets nftables dropped so far, a GSO batch counting once: $dropped)"
  if [ $ok = 3 ] && [ $src = 0 ]; then
    good=$((good + 1))
  else
    cat "$tmp"/r*.err
    fail=1
  fi
  run=$((run + 1))
done
echo "netns-file: $good of $runs runs complete and identical at all three receivers ($mb MB, each receiver losing $loss%)"
exit $fail
