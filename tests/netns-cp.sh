#!/bin/sh
# smart-cp to three receivers on a bridge, each in a network namespace
# created here: a sender (198.51.100.1) and receivers .11-.13; the third
# loses 10% of incoming datagrams to an nftables "numgen random" rule. The
# tree is 300 files in 10 directories, mixed sizes, SMART_CP_BYTES in all
# (1 GB by default), with assorted modes and modification times. Every
# receiver must end with a byte-identical tree (sha256sum), the same modes
# and times, and the sender's peak resident memory must stay under 64 MB.
# Skips (77) without root, ip or nft.
set -u
cp=$1 keygen=$2
bytes=${SMART_CP_BYTES:-1000000000}
# Peak RSS allowed to the sender, KB (a sanitizer build sets more: shadow
# memory and quarantine are not the program's).
rss_max=${SMART_CP_RSS_KB:-65536}
. "$(dirname "$0")/netns-lib.sh"
netns_require nft
command -v sha256sum >/dev/null || { echo "SKIP: needs sha256sum"; exit 77; }
p=scp$$
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
port=$((6000 + $$ % 1000))
group=239.255.78.$(( $$ % 250 + 1 )):$port
ip netns exec "$p-r3" nft -f - <<NFT || { echo "nft rule failed"; exit 1; }
table inet smartcp {
  chain input {
    type filter hook input priority 0; policy accept;
    udp dport $port numgen random mod 100 < 10 counter drop
  }
}
NFT

# The tree: 290 small files (0-64 KiB) and 10 large ones sharing the rest.
src=$tmp/src/tree
mkdir -p "$src"
small=0
i=0
while [ $i -lt 300 ]; do
  d=$src/d$((i % 10))
  mkdir -p "$d"
  if [ $i -lt 290 ]; then
    size=$(( (i * 7919) % 65536 ))
    small=$((small + size))
  else
    size=$(( (bytes - 290 * 32768) / 10 ))
  fi
  head -c "$size" /dev/urandom >"$d/f$i" || exit 1
  chmod "$(echo 600 644 640 755 444 | cut -d' ' -f$((i % 5 + 1)))" "$d/f$i"
  touch -d "@$((1500000000 + i * 86400 + 7))" "$d/f$i"
  i=$((i + 1))
done
chmod 750 "$src/d3"
touch -d @1400000000 "$src/d5"
"$keygen" --group-key "$tmp/group.key" >/dev/null || exit 1
total=$(du -sb "$src" | cut -f1)
echo "tree: 300 files in 10 directories, $total bytes"

for h in r1 r2 r3; do
  mkdir -p "$tmp/$h"
  timeout 600 ip netns exec "$p-$h" "$cp" recv --group "$group" --iface "198.51.100.1${h#r}" \
    --dir "$tmp/$h" --key-file "$tmp/group.key" --name "$h" --timeout 120 --json \
    >"$tmp/$h.json" 2>"$tmp/$h.err" &
done
sleep 0.5
timeout 600 ip netns exec "$p-s" /usr/bin/time -f "%M" -o "$tmp/rss" "$cp" send --group "$group" \
  --iface 198.51.100.1 --key-file "$tmp/group.key" --expect 3 --wait 60 --json "$src" \
  >"$tmp/s.json" 2>"$tmp/s.err"
rc=$?
wait
fail=0
[ $rc = 0 ] || { echo "smart-cp send exited $rc:"; cat "$tmp/s.err"; fail=1; }
grep -A4 "receivers complete" "$tmp/s.err"
rss=$(tail -n 1 "$tmp/rss")
echo "sender peak RSS: $rss KB"
[ "$rss" -lt "$rss_max" ] 2>/dev/null || { echo "FAIL: sender peak RSS $rss KB is not under $rss_max KB"; fail=1; }
# The four trees hashed at once (a gigabyte each in a plain build).
for h in src r1 r2 r3; do
  ( cd "$tmp/$h" && find tree -type f -exec sha256sum {} + | sort -k2 ) >"$tmp/$h.sums" &
done
wait
( cd "$tmp/src" && find tree -printf '%P %y %m %T@\n' | sort ) >"$tmp/meta"
for h in r1 r2 r3; do
  dropped=$(ip netns exec "$p-$h" nft list ruleset 2>/dev/null | sed -n 's/.*counter packets \([0-9]*\).*/\1/p')
  meta=$( (cd "$tmp/$h" && find tree -printf '%P %y %m %T@\n' | sort) )
  if [ -s "$tmp/src.sums" ] && cmp -s "$tmp/src.sums" "$tmp/$h.sums" &&
    [ "$meta" = "$(cat "$tmp/meta")" ]; then
    echo "$h: 300 files byte-identical, modes and times kept (nftables dropped ${dropped:-0}): $(cat "$tmp/$h.json")"
  else
    echo "$h: FAILED: $(cat "$tmp/$h.err")"
    echo "$h: differences: $(echo "$meta" | diff "$tmp/meta" - | head -n 5)"
    fail=1
  fi
  leftover=$(find "$tmp/$h" -name '.*.smart-*' | head -n 3)
  [ -z "$leftover" ] || { echo "$h: FAIL: temporary files left: $leftover"; fail=1; }
done
exit $fail
