#!/bin/sh
# Tunnels end to end. Two networks, each host in a network namespace created
# here:
#   A 198.51.100.0/24 (bridge, multicast): sender .1, native receivers .11
#     and .12, the relay's first leg .2;
#   B 203.0.113.0/24 (bridge, no multicast route: 224.0.0.0/4 is a
#     blackhole on its hosts): the relay's second leg .1, tunnel clients
#     .11 to .14, which reach the group only through the relay.
# Every receiver, native or tunnelled, loses 10% of what arrives to its own
# nftables "numgen random" rule. Receivers .11 and .12 of both networks
# must print every message in order; tunnel client 203.0.113.13 joins late
# and leaves early, and 203.0.113.14 comes and goes three times (each
# visit must deliver a run of consecutive messages). The relay must end
# with no client (everyone left with LEAVE_TUNNEL), have relayed the
# tunnel clients' repair requests, and exit 0 on SIGTERM.
# Bounded: every process runs under timeout; namespaces are deleted on
# exit. Skips (77) without root, ip or nft.
#   usage: netns-tunnel.sh SMART-SEND SMART-RECV SMART-RELAY
set -u
send=$1 recv=$2 relay=$3
n=${SMART_NETNS_MESSAGES:-20000}
. "$(dirname "$0")/netns-lib.sh"
netns_require nft
p=st$$
tmp=$(mktemp -d)
hosts="bra brb s n1 n2 relay t1 t2 t3 t4"
cleanup() {
  for h in $hosts; do ip netns del "$p-$h" 2>/dev/null; done
  rm -rf "$tmp"
}
trap cleanup EXIT INT TERM
for h in $hosts; do ip netns add "$p-$h" || { echo "SKIP: cannot create namespaces"; exit 77; }; done
for b in bra brb; do netns_bridge "$b"; done
netns_attach s bra eth0 198.51.100.1
netns_attach n1 bra eth0 198.51.100.11
netns_attach n2 bra eth0 198.51.100.12
netns_attach relay bra eth0 198.51.100.2
netns_attach relay brb eth1 203.0.113.1
for i in 1 2 3 4; do
  netns_attach "t$i" brb eth0 "203.0.113.1$i"
  ip -n "$p-t$i" route add blackhole 224.0.0.0/4
done
port=5080
group=239.255.80.$(( $$ % 250 + 1 )):$port
tunnel=203.0.113.1:7000
# 10% loss on every receiver: the natives on the group's port, the tunnel
# clients on what comes from the relay (data and control alike).
for h in n1 n2; do
  ip netns exec "$p-$h" nft -f - <<NFT || { echo "nft rule failed"; exit 1; }
table inet smarttest {
  chain input {
    type filter hook input priority 0; policy accept;
    udp dport $port numgen random mod 100 < 10 counter drop
  }
}
NFT
done
for h in t1 t2 t3 t4; do
  ip netns exec "$p-$h" nft -f - <<'NFT' || { echo "nft rule failed"; exit 1; }
table inet smarttest {
  chain input {
    type filter hook input priority 0; policy accept;
    ip saddr 203.0.113.1 udp sport 7000 numgen random mod 100 < 10 counter drop
  }
}
NFT
done
timeout -k 5 150 ip netns exec "$p-relay" env "$relay_asan" "$relay" --group "$group" --iface 198.51.100.2 \
  --listen "$tunnel" >"$tmp/relay.out" 2>"$tmp/relay.err" &
rpid=$!
sleep 0.3
# ~100-byte lines, so that the messages fill many datagrams.
lines() { seq 1 "$n" | awk '{ printf "%08d quote ACME %s\n", $1, substr("0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz0123456789", 1, 60 + $1 % 20) }'; }
others=
for h in n1 n2; do
  timeout 120 ip netns exec "$p-$h" "$recv" --group "$group" --iface "198.51.100.1${h#n}" \
    --count "$n" --timeout 100 >"$tmp/$h.out" 2>"$tmp/$h.err" &
  others="$others $!"
done
for h in t1 t2; do
  timeout 120 ip netns exec "$p-$h" "$recv" --group "$group" --iface "203.0.113.1${h#t}" \
    --tunnel "$tunnel" --count "$n" --timeout 100 >"$tmp/$h.out" 2>"$tmp/$h.err" &
  others="$others $!"
done
sleep 1.5
lines | timeout 120 ip netns exec "$p-s" "$send" --group "$group" --iface 198.51.100.1 \
  --rate 200000 --linger 5 &
spid=$!
# Clients that come and go while the stream runs.
(
  sleep 1
  timeout 60 ip netns exec "$p-t3" "$recv" --group "$group" --iface 203.0.113.13 \
    --tunnel "$tunnel" --count 3000 --timeout 50 >"$tmp/t3.out" 2>"$tmp/t3.err"
  echo $? >"$tmp/t3.rc"
) &
others="$others $!"
(
  for v in 1 2 3; do
    timeout 30 ip netns exec "$p-t4" "$recv" --group "$group" --iface 203.0.113.14 \
      --tunnel "$tunnel" --count 500 --timeout 25 >"$tmp/t4.$v.out" 2>"$tmp/t4.$v.err"
    echo $? >"$tmp/t4.$v.rc"
    sleep 0.2
  done
) &
others="$others $!"
wait "$spid"
rc=$?
sleep 1
for pid in $others; do wait "$pid"; done
sleep 1 # the last LEAVE_TUNNELs
kill -TERM "$rpid"
wait "$rpid"
rrc=$?
fail=0
[ $rc = 0 ] || { echo "smart-send exited $rc"; fail=1; }
[ $rrc = 0 ] || { echo "smart-relay exited $rrc: $(cat "$tmp/relay.err")"; fail=1; }
lines >"$tmp/expected"
for h in n1 n2 t1 t2; do
  dropped=$(ip netns exec "$p-$h" nft list ruleset | sed -n 's/.*counter packets \([0-9]*\).*/\1/p')
  if cmp -s "$tmp/expected" "$tmp/$h.out"; then
    echo "$h: $n of $n messages in order (nftables dropped $dropped datagrams)"
  else
    echo "$h: FAILED after $(wc -l <"$tmp/$h.out") lines: $(cat "$tmp/$h.err")"
    fail=1
  fi
done
# A visit: a run of consecutive messages of the stream.
consecutive() { # FILE COUNT
  [ "$(wc -l <"$1")" -eq "$2" ] || return 1
  first=$(head -n 1 "$1" | cut -c1-8 | sed 's/^0*//')
  [ -n "$first" ] || return 1
  lines | sed -n "${first},$((first + $2 - 1))p" | cmp -s - "$1"
}
for v in t3 t4.1 t4.2 t4.3; do
  case $v in t3) c=3000 ;; *) c=500 ;; esac
  if [ "$(cat "$tmp/$v.rc" 2>/dev/null)" = 0 ] && consecutive "$tmp/$v.out" "$c"; then
    echo "$v: $c consecutive messages from $(head -n 1 "$tmp/$v.out" | cut -c1-8)"
  else
    echo "$v: FAILED: $(cat "$tmp/$v.err" 2>/dev/null)"
    fail=1
  fi
done
cat "$tmp/relay.out"
stat() { sed -n "s/.* $1=\([0-9]*\).*/\1/p" "$tmp/relay.out"; }
[ "$(stat clients)" = 0 ] || { echo "FAIL: $(stat clients) clients left at the relay"; fail=1; }
[ "$(stat leaves)" -ge 6 ] || { echo "FAIL: only $(stat leaves) LEAVE_TUNNEL honoured"; fail=1; }
[ "$(stat feedback)" -ge 1 ] || { echo "FAIL: no feedback relayed"; fail=1; }
[ "$(stat reply_bytes)" -le "$(stat request_bytes)" ] || { echo "FAIL: replies outweigh requests"; fail=1; }
exit $fail
