#!/bin/sh
# A firewall that refuses the sender's datagrams for a while (an nftables
# output drop: sendmsg() fails with EPERM) must not stop it: the library
# skips what was refused (smart_stats tx_refused) and repairs it once the
# rule is gone, and the receiver gets every message, in order. One network
# namespace created here, loopback multicast inside it; deleted on exit.
# Skips (77) without root, ip or nft.
set -u
send=$1 recv=$2
n=${SMART_NETNS_MESSAGES:-3000}
. "$(dirname "$0")/netns-lib.sh"
netns_require nft
p=sep$$
tmp=$(mktemp -d)
cleanup() {
  ip netns del "$p-h" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT INT TERM
ip netns add "$p-h" || { echo "SKIP: cannot create namespaces"; exit 77; }
ip -n "$p-h" link set lo up
ip -n "$p-h" route add 239.255.0.0/16 dev lo 2>/dev/null
group=239.255.79.$(( $$ % 250 + 1 )):5079
timeout 60 ip netns exec "$p-h" "$recv" --group "$group" --iface 127.0.0.1 --count "$n" \
  --timeout 50 >"$tmp/out" 2>"$tmp/err" &
rpid=$!
sleep 0.5
# ~100-byte lines at 100 kB/s: about 3 s of sending. From 1 s to 2 s the
# firewall refuses everything the sender sends.
lines() { seq 1 "$n" | awk '{ printf "%08d quote ACME %s\n", $1, substr("0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz0123456789", 1, 60 + $1 % 20) }'; }
lines >"$tmp/expected"
(
  sleep 1
  ip netns exec "$p-h" nft -f - <<NFT
table inet smarttest {
  chain output {
    type filter hook output priority 0; policy accept;
    udp dport 5079 counter drop
  }
}
NFT
  sleep 1
  ip netns exec "$p-h" nft list ruleset | sed -n 's/.*counter packets \([0-9]*\).*/\1/p' >"$tmp/refused"
  ip netns exec "$p-h" nft delete table inet smarttest
) &
fw=$!
timeout 60 ip netns exec "$p-h" "$send" --group "$group" --iface 127.0.0.1 --rate 100000 \
  --linger 5 <"$tmp/expected"
rc=$?
wait "$rpid"
rrc=$?
wait "$fw"
echo "nftables refused $(cat "$tmp/refused" 2>/dev/null) datagrams of the sender"
fail=0
[ $rc = 0 ] || { echo "smart-send exited $rc (it must go on after EPERM)"; fail=1; }
[ "$(cat "$tmp/refused" 2>/dev/null || echo 0)" -gt 0 ] || { echo "the firewall refused nothing: no test"; fail=1; }
if [ $rrc = 0 ] && cmp -s "$tmp/expected" "$tmp/out"; then
  echo "receiver: $n of $n messages in order"
else
  echo "receiver: FAILED (exit $rrc) after $(wc -l <"$tmp/out") lines: $(cat "$tmp/err")"
  fail=1
fi
exit $fail
