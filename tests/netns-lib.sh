# Shared by the namespace tests (sourced, not run). Every test builds its
# hosts as network namespaces named "$p-HOST" and deletes them on exit.

# Skip (exit 77, with the reason) unless we can build namespaces: root, ip,
# and nft when the test drops packets with nftables.
netns_require() {
  [ "$(id -u)" = 0 ] || { echo "SKIP: needs root to create network namespaces"; exit 77; }
  command -v ip >/dev/null || { echo "SKIP: needs ip (iproute2)"; exit 77; }
  if [ "${1:-}" = nft ]; then
    command -v nft >/dev/null || { echo "SKIP: needs nft (nftables)"; exit 77; }
  fi
}

# netns_bridge BRIDGE-HOST: a bridge (no multicast snooping) in that host.
netns_bridge() {
  ip -n "$p-$1" link add br0 type bridge mcast_snooping 0
  ip -n "$p-$1" link set br0 up
}

# netns_attach HOST BRIDGE-HOST IFNAME ADDR: a veth from HOST to the bridge,
# named IFNAME in HOST, with ADDR/24, multicast on; HOST's loopback up.
netns_attach() {
  ip -n "$p-$2" link add "p$1$3" type veth peer name "e$1$3"
  ip -n "$p-$2" link set "e$1$3" netns "$p-$1"
  ip -n "$p-$2" link set "p$1$3" master br0 up
  ip -n "$p-$1" link set "e$1$3" name "$3"
  ip -n "$p-$1" addr add "$4/24" dev "$3"
  ip -n "$p-$1" link set "$3" multicast on up
  ip -n "$p-$1" link set lo up
}

# How the relay runs: LeakSanitizer's exit-time check can hang a process
# that ends on SIGTERM inside a namespace, so a sanitizer build's relay
# skips it (the unit and socket tests keep leak checking), and a relay that
# does not stop on SIGTERM is killed 5 s later.
relay_asan="ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
