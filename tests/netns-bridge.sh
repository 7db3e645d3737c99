#!/bin/sh
# Four hosts on a bridge, each in a network namespace created here: a
# sender (198.51.100.1) and three receivers (.11-.13), each receiver losing
# 10% of incoming datagrams to an nftables "numgen random" rule. Every
# receiver must print every message, in order. Everything stays inside the
# namespaces; they are deleted on exit. Skips (77) without root, ip or nft.
set -u
send=$1 recv=$2
n=${SMART_NETNS_MESSAGES:-20000}
. "$(dirname "$0")/netns-lib.sh"
netns_require nft
p=sb$$
tmp=$(mktemp -d)
cleanup() {
  for h in br s r1 r2 r3; do ip netns del "$p-$h" 2>/dev/null; done
  rm -rf "$tmp"
}
trap cleanup EXIT INT TERM
for h in br s r1 r2 r3; do ip netns add "$p-$h" || { echo "SKIP: cannot create namespaces"; exit 77; }; done
netns_bridge br
for h in s r1 r2 r3; do
  case $h in s) addr=198.51.100.1 ;; *) addr=198.51.100.1${h#r} ;; esac
  netns_attach "$h" br eth0 "$addr"
done
# ~100-byte lines, so that the messages fill many datagrams.
lines() { seq 1 "$n" | awk '{ printf "%08d quote ACME %s\n", $1, substr("0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz0123456789", 1, 60 + $1 % 20) }'; }
group=239.255.77.$(( $$ % 250 + 1 )):5077
for h in r1 r2 r3; do
  ip netns exec "$p-$h" nft -f - <<NFT || { echo "nft rule failed"; exit 1; }
table inet smarttest {
  chain input {
    type filter hook input priority 0; policy accept;
    udp dport 5077 numgen random mod 100 < 10 counter drop
  }
}
NFT
done
for h in r1 r2 r3; do
  addr=198.51.100.1${h#r}
  timeout 120 ip netns exec "$p-$h" "$recv" --group "$group" --iface "$addr" \
    --count "$n" --timeout 90 >"$tmp/$h.out" 2>"$tmp/$h.err" &
done
sleep 0.5
lines | timeout 120 ip netns exec "$p-s" "$send" --group "$group" --iface 198.51.100.1 --linger 5
rc=$?
wait
fail=0
[ $rc = 0 ] || { echo "smart-send exited $rc"; fail=1; }
lines >"$tmp/expected"
for h in r1 r2 r3; do
  dropped=$(ip netns exec "$p-$h" nft list ruleset | sed -n 's/.*counter packets \([0-9]*\).*/\1/p')
  if cmp -s "$tmp/expected" "$tmp/$h.out"; then
    echo "$h: $n of $n messages in order (nftables dropped $dropped datagrams)"
  else
    echo "$h: FAILED after $(wc -l <"$tmp/$h.out") lines: $(cat "$tmp/$h.err")"
    echo "$h: first difference: $(cmp "$tmp/expected" "$tmp/$h.out" 2>&1 | head -n 1)"
    fail=1
  fi
done
exit $fail
