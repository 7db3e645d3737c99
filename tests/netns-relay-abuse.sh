#!/bin/sh
# smart-relay under abuse. Three hosts on a bridge, each in a network
# namespace created here: the relay (198.51.100.2), a victim (198.51.100.3)
# and an attacker (198.51.100.66). The attacker sends 10,000 bogus
# REQUEST_TUNNEL datagrams with the victim's address forged as their source
# (raw socket): cookieless, wrong cookies, wrong group, IPv6 forms, padded
# ones, truncated ones, forged LEAVE_TUNNEL and feedback. Then it completes
# real cookie exchanges from 200 ports of its own against --max-clients 50.
# Checks, from the relay's nftables counters and its statistics line:
#   - the relay sent the victim no more bytes (and datagrams) than were
#     sent in the victim's name, and only cookie challenges;
#   - its client table never went over 50 and its memory stayed put;
#   - a relay with --key-file answers no unauthenticated request at all;
#   - it exits 0 on SIGTERM with the statistics line.
# Everything stays inside the namespaces; they are deleted on exit. Skips
# (77) without root, ip, nft or python3.
set -u
relay=$1
. "$(dirname "$0")/netns-lib.sh"
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root to create network namespaces"; exit 77; }
command -v ip >/dev/null || { echo "SKIP: needs ip (iproute2)"; exit 77; }
command -v nft >/dev/null || { echo "SKIP: needs nft (nftables)"; exit 77; }
command -v python3 >/dev/null || { echo "SKIP: needs python3"; exit 77; }
p=ra$$
tmp=$(mktemp -d)
pids=
cleanup() {
  for pid in $pids; do kill "$pid" 2>/dev/null; done
  for h in br relay victim atk; do ip netns del "$p-$h" 2>/dev/null; done
  rm -rf "$tmp"
}
trap cleanup EXIT INT TERM
for h in br relay victim atk; do
  ip netns add "$p-$h" || { echo "SKIP: cannot create namespaces"; exit 77; }
done
ip -n "$p-br" link add br0 type bridge mcast_snooping 0
ip -n "$p-br" link set br0 up
for h in relay victim atk; do
  case $h in relay) addr=198.51.100.2 ;; victim) addr=198.51.100.3 ;; atk) addr=198.51.100.66 ;; esac
  ip -n "$p-br" link add "p$h" type veth peer name "e$h"
  ip -n "$p-br" link set "e$h" netns "$p-$h"
  ip -n "$p-br" link set "p$h" master br0 up
  ip -n "$p-$h" link set "e$h" name eth0
  ip -n "$p-$h" addr add "$addr/24" dev eth0
  ip -n "$p-$h" link set eth0 multicast on up
  ip -n "$p-$h" link set lo up
done
# Counters on the relay: what arrives in the victim's name, what leaves for it.
ip netns exec "$p-relay" nft -f - <<'NFT' || { echo "nft rule failed"; exit 1; }
table inet relaytest {
  chain input {
    type filter hook input priority 0; policy accept;
    ip saddr 198.51.100.3 udp dport 7000 counter name victim_in
  }
  chain output {
    type filter hook output priority 0; policy accept;
    ip daddr 198.51.100.3 udp sport 7000 counter name victim_out
  }
  counter victim_in {}
  counter victim_out {}
}
NFT
counter() { # bytes|packets NAME
  ip netns exec "$p-relay" nft list counter inet relaytest "$2" |
    sed -n "s/.*$1 \([0-9]*\).*/\1/p"
}
group=239.255.78.$(( $$ % 250 + 1 )):5078
ip netns exec "$p-relay" env "$relay_asan" timeout -k 5 100 "$relay" --group "$group" --iface 198.51.100.2 \
  --listen 198.51.100.2:7000 --max-clients 50 >"$tmp/relay.out" 2>"$tmp/relay.err" &
rpid=$!
pids="$rpid"
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$tmp/key"
echo >>"$tmp/key"
ip netns exec "$p-relay" env "$relay_asan" timeout -k 5 100 "$relay" --group "$group" --iface 198.51.100.2 \
  --listen 198.51.100.2:7001 --key-file "$tmp/key" >"$tmp/relay2.out" 2>"$tmp/relay2.err" &
spid=$!
pids="$pids $spid"
sleep 0.5
rss() { awk '/^VmRSS/ { print $2 }' "/proc/$1/status"; }
rss0=$(rss "$rpid")

cat >"$tmp/abuse.py" <<'PY'
import os, random, socket, struct, sys, time
mode, group_s = sys.argv[1], sys.argv[2]
gaddr, gport = group_s.rsplit(':', 1)
gport = int(gport)
RELAY = '198.51.100.2'
rng = random.Random(int(sys.argv[3]) if len(sys.argv) > 3 else 1)

def tlv(t, v):
    return struct.pack('!HH', t, len(v)) + v

def msg(cmd, a1, a2, exts, sync=0x53):
    body = socket.inet_aton(a1) + socket.inet_aton(a2) + exts
    return struct.pack('!BBH', sync, 0xC0 | cmd, 4 + len(body)) + body

def bogus(i):
    k = i % 10
    cookie = bytes(16) if k == 0 else os.urandom(16)
    port = tlv(4, struct.pack('!HH', gport, 40000))
    if k <= 2:   # cookieless or wrong cookie: a challenge of the same size
        return msg(1, gaddr, '198.51.100.3', port + tlv(9, cookie))
    if k == 3:   # no COOKIE at all: ignored
        return msg(1, gaddr, '198.51.100.3', port)
    if k == 4:   # IPv6 form, 76 bytes
        a6 = socket.inet_pton(socket.AF_INET6, 'ff15::1') + bytes(16)
        return msg(1, '0.0.0.0', '0.0.0.0', tlv(1, a6) + port + tlv(9, cookie))
    if k == 5:   # padded with an unknown non-critical extension
        return msg(1, gaddr, '198.51.100.3', port + tlv(8, os.urandom(rng.randrange(1, 1200))) + tlv(9, cookie))
    if k == 6:   # another group
        return msg(1, '239.1.2.3', '0.0.0.0', tlv(4, struct.pack('!HH', gport, 0)) + tlv(9, cookie))
    if k == 7:   # forged leave
        return msg(2, gaddr, '198.51.100.3', port + tlv(9, cookie))
    if k == 8:   # truncated or garbage
        b = msg(1, gaddr, '198.51.100.3', port + tlv(9, cookie))
        return b[:rng.randrange(1, len(b))] if rng.random() < 0.5 else os.urandom(rng.randrange(1, 200))
    # feedback from a non-client: a REPLACEMENT
    return struct.pack('!BBH', 0x53, 0x81, 12) + socket.inet_aton(gaddr) + struct.pack('!HH', 5, 0)

def ip_udp(src, sport, dst, dport, payload):
    udp = struct.pack('!HHHH', sport, dport, 8 + len(payload), 0) + payload
    hdr = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(udp), 0, 0x4000, 64, 17, 0,
                      socket.inet_aton(src), socket.inet_aton(dst))
    return hdr + udp

if mode == 'spoof':
    n, port = int(sys.argv[4]), int(sys.argv[5])
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    sent = 0
    for i in range(n):
        pl = bogus(i)
        s.sendto(ip_udp('198.51.100.3', 40000, RELAY, port, pl), (RELAY, 0))
        sent += len(pl)
        if i % 200 == 199:
            time.sleep(0.005)
    print(sent)
elif mode == 'clients':
    # Real cookie exchanges from many ports of our own address.
    n, port = int(sys.argv[4]), int(sys.argv[5])
    socks = []
    for i in range(n):
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        u.bind(('198.51.100.66', 0))
        u.settimeout(1.0)
        socks.append(u)
    granted = refused = 0
    for u in socks:
        req = msg(1, gaddr, '0.0.0.0', tlv(4, struct.pack('!HH', gport, 0)) + tlv(9, bytes(16)))
        u.sendto(req, (RELAY, port))
        try:
            ch = u.recv(2048)
        except socket.timeout:
            continue
        assert len(ch) <= len(req), (len(ch), len(req))
        cookie = ch[-16:]
        req = req[:-16] + cookie
        u.sendto(req, (RELAY, port))
        try:
            r = u.recv(2048)
        except socket.timeout:
            continue
        assert len(r) <= len(req)
        if r[1] == 0xC1 and r[-16:] == cookie:
            granted += 1
        elif r[1] == 0xC2:
            refused += 1
    print(granted, refused)
PY

fail=0
sent=$(timeout 60 ip netns exec "$p-atk" python3 "$tmp/abuse.py" spoof "$group" 1 10000 7000) ||
  { echo "spoofing sender failed"; exit 1; }
sleep 0.5
in_b=$(counter bytes victim_in) in_p=$(counter packets victim_in)
out_b=$(counter bytes victim_out) out_p=$(counter packets victim_out)
echo "spoofed in the victim's name: $in_p datagrams, $in_b bytes (UDP payload $sent bytes)"
echo "relay to the victim:          $out_p datagrams, $out_b bytes"
[ "$in_p" -ge 9000 ] || { echo "FAIL: only $in_p spoofed datagrams reached the relay"; fail=1; }
[ "$out_b" -le "$in_b" ] || { echo "FAIL: the relay amplified: $out_b > $in_b bytes"; fail=1; }
[ "$out_p" -le "$in_p" ] || { echo "FAIL: more replies than requests"; fail=1; }
# Only requests with a COOKIE for our group get an answer: 5 kinds of 10.
[ "$out_p" -le 5000 ] || { echo "FAIL: $out_p replies to 10,000 bogus requests"; fail=1; }

res=$(timeout 60 ip netns exec "$p-atk" python3 "$tmp/abuse.py" clients "$group" 2 200 7000) ||
  { echo "client flood failed"; exit 1; }
set -- $res
echo "200 real cookie exchanges: $1 granted, $2 refused (max-clients 50)"
[ "$1" -le 50 ] && [ "$1" -ge 45 ] || { echo "FAIL: $1 clients granted"; fail=1; }
[ $(( $1 + $2 )) -ge 190 ] || { echo "FAIL: unanswered exchanges"; fail=1; }

# Secure relay: unauthenticated requests draw nothing.
timeout 60 ip netns exec "$p-atk" python3 "$tmp/abuse.py" spoof "$group" 3 2000 7001 >/dev/null ||
  { echo "spoofing sender failed"; exit 1; }
sleep 0.3
rss1=$(rss "$rpid")
echo "relay resident memory: $rss0 kB before, $rss1 kB after"
[ $(( rss1 - rss0 )) -le 16384 ] || { echo "FAIL: relay memory grew by $(( rss1 - rss0 )) kB"; fail=1; }

kill -TERM "$rpid" "$spid"
wait "$rpid"; rc1=$?
wait "$spid"; rc2=$?
pids=
[ $rc1 = 0 ] && [ $rc2 = 0 ] || { echo "FAIL: relay exit status $rc1 / $rc2: $(cat "$tmp/relay.err" "$tmp/relay2.err")"; fail=1; }
cat "$tmp/relay.out" "$tmp/relay2.out"
stat() { sed -n "s/.* $2=\([0-9]*\).*/\1/p" "$1"; }
s=$tmp/relay.out
[ -n "$(stat "$s" peak)" ] || { echo "FAIL: no statistics line"; exit 1; }
[ "$(stat "$s" peak)" -le 50 ] || { echo "FAIL: client table peaked at $(stat "$s" peak)"; fail=1; }
[ "$(stat "$s" clients)" -le 50 ] || { echo "FAIL: $(stat "$s" clients) clients"; fail=1; }
replies=$(stat "$s" reply_bytes)
[ "$replies" = $(( $(stat "$s" challenge_bytes) + $(stat "$s" grant_bytes) + $(stat "$s" leave_bytes) + $(stat "$s" refused_bytes) )) ] ||
  { echo "FAIL: reply byte counts disagree"; fail=1; }
[ "$replies" -le "$(stat "$s" request_bytes)" ] ||
  { echo "FAIL: reply bytes $replies > request bytes $(stat "$s" request_bytes)"; fail=1; }
[ "$(stat "$s" feedback)" = 0 ] || { echo "FAIL: feedback from non-clients relayed"; fail=1; }
s=$tmp/relay2.out
[ "$(stat "$s" challenges)" = 0 ] && [ "$(stat "$s" grants)" = 0 ] ||
  { echo "FAIL: the secure relay answered unauthenticated requests"; fail=1; }
[ "$(stat "$s" auth_failed)" -ge 1000 ] || { echo "FAIL: secure relay auth_failed=$(stat "$s" auth_failed)"; fail=1; }
[ $fail = 0 ] && echo "relay abuse: ok"
exit $fail
