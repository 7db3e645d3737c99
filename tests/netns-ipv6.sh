#!/bin/sh
# Runs the IPv6 case of test-net inside a network namespace created here
# (loopback has no IPv6 multicast route on the host): a veth pair, link-local
# addresses only, nothing leaves the namespace. Skips (77) without root or ip.
set -u
exe=$1
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root to create a network namespace"; exit 77; }
command -v ip >/dev/null || { echo "SKIP: needs ip (iproute2)"; exit 77; }
ns=smart6-$$
cleanup() { ip netns del "$ns" 2>/dev/null; }
trap cleanup EXIT INT TERM
ip netns add "$ns" || { echo "SKIP: cannot create a network namespace"; exit 77; }
ip -n "$ns" link set lo up
ip -n "$ns" link add v0 type veth peer name v1 || { echo "SKIP: no veth support"; exit 77; }
ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0 \
  net.ipv6.conf.v0.accept_dad=0 net.ipv6.conf.v1.accept_dad=0
ip -n "$ns" link set v0 up
ip -n "$ns" link set v1 up
# Wait (bounded) for v0's link-local address.
i=0
while ! ip -n "$ns" -6 addr show dev v0 | grep -q 'inet6 fe80'; do
  i=$((i + 1)); [ $i -gt 50 ] && { echo "no link-local address on v0"; exit 1; }
  sleep 0.1
done
SMART_TEST_IFACE=v0 timeout 300 ip netns exec "$ns" "$exe"
