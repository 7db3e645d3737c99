#!/bin/sh
# A chain of sites: the group lives on network A (198.51.100.0/24, sender .1);
# relay R1 (A .2, B 203.0.113.1) serves it by tunnel on network B; relay R2
# (B .2, C 192.0.2.1) is itself a tunnel client of R1 (--upstream) and serves
# network C, where a receiver (192.0.2.11) with no multicast route joins by
# tunnel through R2 and loses 5% of what arrives to nftables. Networks B and
# C have no multicast at all. The receiver must print every message in
# order. Every host is a network namespace created here and deleted on
# exit; every process is bounded in time. Skips (77) without root, ip, nft.
#   usage: netns-chain.sh SMART-SEND SMART-RECV SMART-RELAY
set -u
send=$1 recv=$2 relay=$3
n=${SMART_NETNS_MESSAGES:-5000}
. "$(dirname "$0")/netns-lib.sh"
netns_require nft
p=sc$$
tmp=$(mktemp -d)
hosts="bra brb brc s r1 r2 c"
cleanup() {
  for h in $hosts; do ip netns del "$p-$h" 2>/dev/null; done
  rm -rf "$tmp"
}
trap cleanup EXIT INT TERM
for h in $hosts; do ip netns add "$p-$h" || { echo "SKIP: cannot create namespaces"; exit 77; }; done
for b in bra brb brc; do netns_bridge "$b"; done
netns_attach s bra eth0 198.51.100.1
netns_attach r1 bra eth0 198.51.100.2
netns_attach r1 brb eth1 203.0.113.1
netns_attach r2 brb eth0 203.0.113.2
netns_attach r2 brc eth1 192.0.2.1
netns_attach c brc eth0 192.0.2.11
ip -n "$p-r2" route add blackhole 224.0.0.0/4
ip -n "$p-c" route add blackhole 224.0.0.0/4
ip netns exec "$p-c" nft -f - <<'NFT' || { echo "nft rule failed"; exit 1; }
table inet smarttest {
  chain input {
    type filter hook input priority 0; policy accept;
    ip saddr 192.0.2.1 numgen random mod 100 < 5 counter drop
  }
}
NFT
group=239.255.81.$(( $$ % 250 + 1 )):5081
timeout -k 5 90 ip netns exec "$p-r1" env "$relay_asan" "$relay" --group "$group" --iface 198.51.100.2 \
  --listen 203.0.113.1:7001 >"$tmp/r1.out" 2>"$tmp/r1.err" &
p1=$!
timeout -k 5 90 ip netns exec "$p-r2" env "$relay_asan" "$relay" --group "$group" --iface 203.0.113.2 \
  --listen 192.0.2.1:7002 --upstream 203.0.113.1:7001 >"$tmp/r2.out" 2>"$tmp/r2.err" &
p2=$!
sleep 0.5
timeout 60 ip netns exec "$p-c" "$recv" --group "$group" --iface 192.0.2.11 \
  --tunnel 192.0.2.1:7002 --count "$n" --timeout 50 >"$tmp/c.out" 2>"$tmp/c.err" &
pc=$!
sleep 1.5
seq 1 "$n" | awk '{ printf "%08d chained quote %0150d\n", $1, $1 }' >"$tmp/expected"
timeout 60 ip netns exec "$p-s" "$send" --group "$group" --iface 198.51.100.1 \
  --rate 300000 --linger 5 <"$tmp/expected"
src=$?
wait "$pc"
crc=$?
kill -TERM "$p1" "$p2" 2>/dev/null
wait "$p1" "$p2"
fail=0
[ $src = 0 ] || { echo "smart-send exited $src"; fail=1; }
dropped=$(ip netns exec "$p-c" nft list ruleset | sed -n 's/.*counter packets \([0-9]*\).*/\1/p')
if [ $crc = 0 ] && cmp -s "$tmp/expected" "$tmp/c.out"; then
  echo "receiver two relays away: $n of $n messages in order (nftables dropped $dropped datagrams)"
else
  echo "receiver FAILED (rc $crc) after $(wc -l <"$tmp/c.out") lines: $(cat "$tmp/c.err")"
  fail=1
fi
echo "relay 1: $(cat "$tmp/r1.err" "$tmp/r1.out" | tail -n 1)"
echo "relay 2: $(cat "$tmp/r2.err" "$tmp/r2.out" | tail -n 1)"
exit $fail
