#!/bin/sh
# smart-cp against UFTP (Debian package uftp), side by side in one run:
# one file of CPB_BYTES (1 GB) to one receiver, over loopback multicast in a
# network namespace of its own, in the clear and encrypted (smart-cp: group
# key, AES-256-GCM; UFTP: aes256-gcm with ECDH-RSA), CPB_ROUNDS
# rounds alternating the tools. For each run: the transfer-phase throughput
# (smart-cp: the receiver's first to last chunk; UFTP: its own "Overall
# throughput"), the sender's wall time, the CPU time of sender and receiver
# together (a figure that a busy machine disturbs less), and whether the
# copy is identical; then, per mode, the median over rounds of the ratios
# smart-cp / UFTP computed within each round.
#
# Then (unless CPB_LOSS=0) the same file to three receivers on a bridge, in
# namespaces of their own, the third losing 10% of incoming datagrams to an
# nftables rule, encrypted: both must complete everywhere, and the repair
# volume is compared (smart-cp: chunks sent beyond one copy plus libsmart's
# repair datagrams; UFTP: the blocks its receivers asked for, 1300 bytes
# each, from its "Got N NAKs" lines).
#
#   bench/cp-vs-uftp.sh BUILD_DIR        (as root)
set -u
build=${1:?usage: cp-vs-uftp.sh BUILD_DIR}
cp=$build/examples/smart-cp keygen=$build/examples/smart-keygen
bytes=${CPB_BYTES:-1000000000}
rounds=${CPB_ROUNDS:-1}
# The AEAD smart-cp's sender seals with (its receivers open either):
# AES-256-GCM, as UFTP's -Y aes256-gcm; CPB_CIPHER=xchacha20poly1305 for
# the library's default.
cipher=${CPB_CIPHER:-aes256gcm}
for t in uftp uftpd; do
  command -v $t >/dev/null || { echo "needs $t (apt-get install uftp)"; exit 77; }
done
[ -x "$cp" ] || { echo "no $cp: build first"; exit 2; }
ns=cpb$$
w=$(mktemp -d)
lp=cpl$$
cleanup() {
  for n in "$ns" "$lp-br" "$lp-s" "$lp-r1" "$lp-r2" "$lp-r3"; do
    ip netns pids "$n" 2>/dev/null | xargs -r kill 2>/dev/null
    ip netns del "$n" 2>/dev/null
  done
  rm -rf "$w"
}
trap cleanup EXIT INT TERM
ip netns add "$ns" || exit 1
ip -n "$ns" link set lo up
ip -n "$ns" link set lo multicast on
NS="ip netns exec $ns"
mkdir -p "$w/data"
head -c "$bytes" /dev/urandom >"$w/data/file" || exit 1
"$keygen" --group-key "$w/group.key" >/dev/null || exit 1

now() { date +%s.%N; }
# Each run appends: ROUND TOOL MODE MB/s WALL_S CPU_S OK
cpu() { awk '{ print $1 + $2 }' "$1" 2>/dev/null || echo 0; }
run_uftp() { # MODE
  enc=""
  [ "$1" = enc ] && enc="-Y aes256-gcm -h sha256 -e ecdh_rsa"
  rm -rf "$w/dest"
  mkdir -p "$w/dest"
  $NS uftpd -d -I lo -M 239.255.4.1 -D "$w/dest" -B 8388608 -q -x 1 >"$w/uftpd.log" 2>&1 &
  upid=$!
  sleep 1
  t0=$(now)
  # shellcheck disable=SC2086
  $NS /usr/bin/time -f "%U %S" -o "$w/st" timeout 300 uftp -I lo -M 239.255.4.1 -P 239.255.5.1 \
    -t 1 -B 8388608 $enc -R -1 "$w/data/file" >"$w/uftp.log" 2>&1
  t1=$(now)
  sleep 0.5
  # uftpd's own CPU, from /proc before it is stopped (clock ticks)
  rcpu=$(awk -v hz="$(getconf CLK_TCK)" '{ print ($14 + $15) / hz }' /proc/$upid/stat 2>/dev/null)
  kill "$upid" 2>/dev/null
  wait "$upid" 2>/dev/null
  ok=0
  cmp -s "$w/data/file" "$w/dest/file" && ok=1
  kbs=$(grep -oE "Overall throughput: [0-9.]+" "$w/uftp.log" | head -n 1 | grep -oE "[0-9.]+$")
  echo "$r uftp $1 $(echo "${kbs:-0} * 1024 / 1000000" | bc -l) $(echo "$t1 - $t0" | bc -l)" \
    "$(echo "$(cpu "$w/st") + ${rcpu:-0}" | bc -l) $ok" >>"$w/results"
}
run_cp() { # MODE
  sec="--insecure" ssec="--insecure"
  [ "$1" = enc ] && sec="--key-file $w/group.key" ssec="$sec --cipher $cipher"
  rm -rf "$w/dest"
  mkdir -p "$w/dest"
  # shellcheck disable=SC2086
  $NS /usr/bin/time -f "%U %S" -o "$w/rt" timeout 300 "$cp" recv --group 239.255.6.1:6300 --iface 127.0.0.1 --dir "$w/dest" $sec \
    --quiet --json >"$w/r.json" 2>"$w/r.err" &
  rpid=$!
  sleep 0.5
  t0=$(now)
  # shellcheck disable=SC2086
  $NS /usr/bin/time -f "%U %S" -o "$w/st" timeout 300 "$cp" send --group 239.255.6.1:6300 --iface 127.0.0.1 $ssec --expect 1 \
    --quiet --json "$w/data/file" >"$w/s.json" 2>"$w/s.err"
  t1=$(now)
  wait "$rpid"
  ok=0
  cmp -s "$w/data/file" "$w/dest/file" && ok=1
  xs=$(sed -n 's/.*"transfer_seconds":\([0-9.]*\).*/\1/p' "$w/r.json")
  echo "$r smart-cp $1 $(echo "$bytes / ${xs:-0} / 1000000" | bc -l 2>/dev/null || echo 0)" \
    "$(echo "$t1 - $t0" | bc -l) $(echo "$(cpu "$w/st") + $(cpu "$w/rt")" | bc -l) $ok" >>"$w/results"
}

command -v bc >/dev/null || { echo "needs bc"; exit 77; }
r=1
while [ "$r" -le "$rounds" ]; do
  for mode in plain enc; do
    run_uftp $mode
    run_cp $mode
  done
  r=$((r + 1))
done
echo "one file of $bytes bytes to one receiver, $rounds round(s), load $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-5s %-9s %-6s %10s %8s %7s %s\n' round tool mode "xfer MB/s" "wall s" "CPU s" identical
awk '{ printf "%-5s %-9s %-6s %10.1f %8.2f %7.2f %s\n", $1, $2, $3, $4, $5, $6, $7 ? "yes" : "NO" }' "$w/results"
# Ratios within each round, then the median over rounds.
median() { sort -n | awk '{ v[NR] = $1 } END { if (NR) print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
for mode in plain enc; do
  for col in 4 5 6; do
    awk -v m=$mode -v c=$col '$3 == m { v[$1 " " $2] = $c; r[$1] = 1 }
      END { for (k in r) if (v[k " uftp"] > 0) print v[k " smart-cp"] / v[k " uftp"] }' "$w/results" |
      median >"$w/ratio$col"
  done
  printf '%s: smart-cp/UFTP, median of %s round(s): throughput %.2fx, wall time %.2f, CPU time %.2f\n' \
    $mode "$rounds" "$(cat "$w/ratio4")" "$(cat "$w/ratio5")" "$(cat "$w/ratio6")"
done
! grep -q " 0$" "$w/results" || exit 1
[ "${CPB_LOSS:-1}" = 0 ] && exit 0

# ---- three receivers, one losing 10% ----
. "$(dirname "$0")/../tests/netns-lib.sh"
p=$lp
for h in br s r1 r2 r3; do ip netns add "$p-$h" || exit 1; done
netns_bridge br
netns_attach s br eth0 198.51.100.1
for h in r1 r2 r3; do netns_attach "$h" br eth0 "198.51.100.1${h#r}"; done
ip netns exec "$p-r3" nft -f - <<NFT || exit 1
table inet cpbench {
  chain input {
    type filter hook input priority 0; policy accept;
    udp dport { 1044, 6400 } numgen random mod 100 < 10 counter drop
  }
}
NFT
lok=1
for h in r1 r2 r3; do
  mkdir -p "$w/u$h"
  ip netns exec "$p-$h" uftpd -d -I eth0 -M 239.255.4.1 -D "$w/u$h" -B 8388608 -q -x 1 \
    >"$w/uftpd-$h.log" 2>&1 &
done
sleep 1
t0=$(now)
ip netns exec "$p-s" timeout 600 uftp -I eth0 -M 239.255.4.1 -P 239.255.5.1 -t 1 -B 8388608 \
  -Y aes256-gcm -h sha256 -e ecdh_rsa -R -1 "$w/data/file" >"$w/uftp3.log" 2>&1
uwall=$(echo "$(now) - $t0" | bc -l)
sleep 0.5
for h in r1 r2 r3; do
  ip netns pids "$p-$h" | xargs -r kill 2>/dev/null
  cmp -s "$w/data/file" "$w/u$h/file" || { echo "UFTP: $h incomplete"; lok=0; }
done
unaks=$(sed -n 's/.*Got \([0-9]*\) NAKs.*/\1/p' "$w/uftp3.log" | awk '{ s += $1 } END { print s + 0 }')
for h in r1 r2 r3; do
  mkdir -p "$w/s$h"
  ip netns exec "$p-$h" timeout 600 "$cp" recv --group 239.255.6.2:6400 --iface "198.51.100.1${h#r}" \
    --dir "$w/s$h" --key-file "$w/group.key" --quiet >/dev/null 2>"$w/cp-$h.err" &
done
sleep 0.5
t0=$(now)
ip netns exec "$p-s" timeout 600 "$cp" send --group 239.255.6.2:6400 --iface 198.51.100.1 \
  --key-file "$w/group.key" --cipher "$cipher" --expect 3 --quiet --json "$w/data/file" >"$w/s3.json" 2>"$w/s3.err"
swall=$(echo "$(now) - $t0" | bc -l)
wait
for h in r1 r2 r3; do
  cmp -s "$w/data/file" "$w/s$h/file" || { echo "smart-cp: $h incomplete"; lok=0; }
done
j() { sed -n "s/.*\"$1\":\([0-9]*\).*/\1/p" "$w/s3.json"; }
srep=$(( $(j chunk_bytes_sent) - bytes + $(j repair_datagrams) * $(j datagram_payload) ))
dropped=$(ip netns exec "$p-r3" nft list ruleset | sed -n 's/.*counter packets \([0-9]*\).*/\1/p')
echo "three receivers, one losing 10% (nftables dropped $dropped datagrams in all), encrypted:"
printf '  UFTP:     wall %.2f s, repairs %d blocks = %d bytes\n' "$uwall" "$unaks" $((unaks * 1300))
printf '  smart-cp: wall %.2f s, repairs %d bytes (%s passes, %s repair datagrams)\n' "$swall" "$srep" \
  "$(j passes)" "$(j repair_datagrams)"
[ $lok = 1 ] && echo "  all six copies identical" || { echo "  FAIL: a copy is incomplete"; exit 1; }
