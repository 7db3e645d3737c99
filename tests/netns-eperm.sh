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
(
  seq 1 "$n" | head -n 1000
  # From line 1,001 the firewall refuses everything the sender sends, for 1 s.
  ip netns exec "$p-h" nft -f - <<NFT
table inet smarttest {
  chain output {
    type filter hook output priority 0; policy accept;
    udp dport 5079 counter drop
  }
}
NFT
  seq 1001 2000 | while read -r l; do echo "$l"; done
  sleep 1
  ip netns exec "$p-h" nft delete table inet smarttest
  seq 2001 "$n"
) | timeout 60 ip netns exec "$p-h" "$send" --group "$group" --iface 127.0.0.1 --linger 5
rc=$?
wait "$rpid"
rrc=$?
fail=0
[ $rc = 0 ] || { echo "smart-send exited $rc (it must go on after EPERM)"; fail=1; }
seq 1 "$n" >"$tmp/expected"
if [ $rrc = 0 ] && cmp -s "$tmp/expected" "$tmp/out"; then
  echo "receiver: $n of $n messages in order"
else
  echo "receiver: FAILED (exit $rrc) after $(wc -l <"$tmp/out") lines: $(cat "$tmp/err")"
  fail=1
fi
exit $fail
