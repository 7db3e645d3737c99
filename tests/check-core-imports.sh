#!/bin/sh
# The pure core (codec + engine) must not reach sockets, clocks, threads or
# libsodium: it is sans-IO and deterministic. The wire codec must not even
# allocate.
set -eu
bad=$(nm -u "$1" | awk '{print $2}' | grep -E '^(socket|bind|connect|send|sendto|sendmsg|sendmmsg|recv|recvfrom|recvmsg|recvmmsg|poll|epoll_.*|select|clock_gettime|gettimeofday|time|pthread_.*|sodium_.*|crypto_.*|rand|random|srand)$' || true)
if [ -n "$bad" ]; then echo "core imports forbidden symbols:"; echo "$bad"; exit 1; fi
if [ $# -gt 1 ]; then
  bad=$(nm -u "$2" | awk '{print $2}' | grep -E '^(malloc|calloc|realloc|free)$' || true)
  if [ -n "$bad" ]; then echo "wire codec allocates: $bad"; exit 1; fi
fi
echo "core imports: clean"
