#!/bin/sh
# smart-cp against UFTP (Debian package uftp), side by side in one run:
# one file of CPB_BYTES (1 GB) to one receiver, over loopback multicast in a
# network namespace of its own, in the clear and encrypted (smart-cp: group
# key, XChaCha20-Poly1305; UFTP: aes256-gcm with ECDH-RSA), CPB_ROUNDS
# rounds alternating the tools. For each run: the transfer-phase throughput
# (smart-cp: the receiver's first to last chunk; UFTP: its own "Overall
# throughput"), the sender's wall time, and whether the copy is identical;
# then the ratios smart-cp / UFTP.
#
#   bench/cp-vs-uftp.sh BUILD_DIR        (as root)
set -u
build=${1:?usage: cp-vs-uftp.sh BUILD_DIR}
cp=$build/examples/smart-cp keygen=$build/examples/smart-keygen
bytes=${CPB_BYTES:-1000000000}
rounds=${CPB_ROUNDS:-1}
for t in uftp uftpd; do
  command -v $t >/dev/null || { echo "needs $t (apt-get install uftp)"; exit 77; }
done
[ -x "$cp" ] || { echo "no $cp: build first"; exit 2; }
ns=cpb$$
w=$(mktemp -d)
cleanup() {
  ip netns pids "$ns" 2>/dev/null | xargs -r kill 2>/dev/null
  ip netns del "$ns" 2>/dev/null
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
# Each run appends: TOOL MODE MB/s WALL_S OK
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
  $NS timeout 300 uftp -I lo -M 239.255.4.1 -P 239.255.5.1 -t 1 -B 8388608 $enc -R -1 \
    "$w/data/file" >"$w/uftp.log" 2>&1
  t1=$(now)
  sleep 0.5
  kill "$upid" 2>/dev/null
  wait "$upid" 2>/dev/null
  ok=0
  cmp -s "$w/data/file" "$w/dest/file" && ok=1
  kbs=$(grep -oE "Overall throughput: [0-9.]+" "$w/uftp.log" | head -n 1 | grep -oE "[0-9.]+$")
  echo "uftp $1 $(echo "${kbs:-0} * 1024 / 1000000" | bc -l) $(echo "$t1 - $t0" | bc -l) $ok" >>"$w/results"
}
run_cp() { # MODE
  sec="--insecure"
  [ "$1" = enc ] && sec="--key-file $w/group.key"
  rm -rf "$w/dest"
  mkdir -p "$w/dest"
  # shellcheck disable=SC2086
  $NS timeout 300 "$cp" recv --group 239.255.6.1:6300 --iface 127.0.0.1 --dir "$w/dest" $sec \
    --quiet --json >"$w/r.json" 2>"$w/r.err" &
  rpid=$!
  sleep 0.5
  t0=$(now)
  # shellcheck disable=SC2086
  $NS timeout 300 "$cp" send --group 239.255.6.1:6300 --iface 127.0.0.1 $sec --expect 1 \
    --quiet --json "$w/data/file" >"$w/s.json" 2>"$w/s.err"
  t1=$(now)
  wait "$rpid"
  ok=0
  cmp -s "$w/data/file" "$w/dest/file" && ok=1
  xs=$(sed -n 's/.*"transfer_seconds":\([0-9.]*\).*/\1/p' "$w/r.json")
  echo "smart-cp $1 $(echo "$bytes / ${xs:-0} / 1000000" | bc -l 2>/dev/null || echo 0) $(echo "$t1 - $t0" | bc -l) $ok" >>"$w/results"
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
printf '%-9s %-6s %12s %10s %s\n' tool mode "xfer MB/s" "wall s" identical
awk '{ printf "%-9s %-6s %12.1f %10.2f %s\n", $1, $2, $3, $4, $5 ? "yes" : "NO" }' "$w/results"
for mode in plain enc; do
  awk -v m=$mode '$2 == m && $1 == "uftp" { ut += $3; uw += $4; un++ }
    $2 == m && $1 == "smart-cp" { st += $3; sw += $4; sn++ }
    END { if (un && sn && ut > 0 && uw > 0)
      printf "%s: throughput smart-cp/UFTP %.2fx, wall time smart-cp/UFTP %.2f\n", m, (st/sn)/(ut/un), (sw/sn)/(uw/un) }' "$w/results"
done
! grep -q " 0$" "$w/results"
