#!/usr/bin/env bash
# libsmart quick start. On a fresh Debian machine, as root:
#
#   tools/quickstart.sh demo   install what is missing, build, run the demo
#   tools/quickstart.sh test   install what is missing, build and run every test
#
# The test run builds with gcc and clang (warnings are errors), runs the suite
# plain and under ASan+UBSan, runs the codec and secure-layer tests under valgrind, checks the
# exported symbols, installs into a staging directory and links a one-file
# program through pkg-config, runs the wire fuzzer for 40 seconds and the
# session fuzzer for 30.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
out=${SMART_BUILD_ROOT:-$top/build}
jobs=$(nproc 2>/dev/null || echo 2)

# Debian packages each mode needs.
demo_pkgs=(gcc meson ninja-build pkg-config check libsodium-dev)
test_pkgs=("${demo_pkgs[@]}" g++ clang libclang-rt-14-dev mandoc valgrind python3 binutils
  iproute2 nftables abigail-tools python3-venv python3-pytest python3-setuptools python3-wheel
  time coreutils)

say() { printf '\n== %s\n' "$*"; }

install_missing() {
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  say "installing: ${missing[*]}"
  if [ "$(id -u)" -ne 0 ]; then
    echo "quickstart: need root to install ${missing[*]} (or install them yourself)" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# setup DIR COMPILER [meson options...]: configure once, reconfigure if asked.
setup() {
  local dir=$1 compiler=$2
  shift 2
  if [ -f "$dir/build.ninja" ]; then
    meson configure "$dir" "$@" >/dev/null
  else
    CC=$compiler meson setup "$dir" "$@" >/dev/null
  fi
  ninja -C "$dir" >/dev/null
}

run_suite() {
  local dir=$1
  shift
  if ! meson test -C "$dir" --print-errorlogs --num-processes "$jobs" --no-suite load --no-suite cc \
    --no-suite cc-long "$@"; then
    echo "quickstart: tests failed in $dir" >&2
    return 1
  fi
}

demo() {
  install_missing "${demo_pkgs[@]}"
  say "building"
  setup "$out/release" gcc --buildtype=release -Dtests=false -Dman=false
  say "demo: a ticker publisher and three subscribers on loopback multicast"
  "$out/release/examples/smart-ticker" --group 239.255.42.42:4242 --iface 127.0.0.1
  say "demo: smart-dump decodes SMART datagrams, one per line"
  "$out/release/examples/smart-dump" --hex <tests/vectors/seed.hex | head -n 4
  "$out/release/examples/smart-dump" --hex <tests/vectors/malformed.hex | head -n 3
}

install_check() {
  local dir=$1 stage
  stage=$(mktemp -d)
  say "install into a staging directory; link a one-file program with pkg-config"
  meson install -C "$dir" --destdir "$stage" --quiet >/dev/null
  local pcdir
  pcdir=$(dirname "$(find "$stage" -name libsmart.pc | head -n1)")
  cat >"$stage/hello.c" <<'EOF'
#include <smart/smart.h>
#include <stdio.h>
#include <string.h>
int main(void) {
  printf("libsmart %s: %s\n", smart_version(), smart_strerror(SMART_EAGAIN));
  return strcmp(smart_version(), SMART_VERSION_STR) != 0;
}
EOF
  # shellcheck disable=SC2046
  cc -Wall -Werror -o "$stage/hello" "$stage/hello.c" \
    $(PKG_CONFIG_SYSROOT_DIR="$stage" PKG_CONFIG_PATH="$pcdir" pkg-config --cflags --libs libsmart)
  local libdir
  libdir=$(dirname "$(find "$stage" -name 'libsmart.so.*' -type f | head -n1)")
  LD_LIBRARY_PATH="$libdir" "$stage/hello"
  objdump -p "$libdir"/libsmart.so | grep SONAME
  if nm -D --defined-only "$libdir"/libsmart.so | awk '{print $3}' | grep -v '^smart_' | grep -v '^LIBSMART_'; then
    echo "quickstart: installed library exports non-smart_ symbols" >&2
    return 1
  fi
  rm -rf "$stage"
}

fuzz() {
  say "fuzzing the wire decoder for ${SMART_FUZZ_SECONDS:-40} s (clang, libFuzzer, ASan+UBSan)"
  setup "$out/fuzz" clang -Dfuzz=true -Dtests=false -Dman=false \
    -Db_sanitize=address,undefined -Db_lundef=false
  local work
  work=$(mktemp -d)
  cp fuzz/corpus/wire_decode/* "$work/"
  "$out/fuzz/fuzz/fuzz-wire_decode" -max_total_time="${SMART_FUZZ_SECONDS:-40}" \
    -print_final_stats=1 "$work" 2>&1 | grep -E 'stat::number_of_executed_units|Done|ERROR|SUMMARY' || true
  # libFuzzer exits non-zero on a crash; re-run to get the status right.
  "$out/fuzz/fuzz/fuzz-wire_decode" -runs=0 "$work" >/dev/null 2>&1
  rm -rf "$work"
  say "fuzzing a session's whole receive path for ${SMART_FUZZ_SESSION_SECONDS:-30} s"
  work=$(mktemp -d)
  cp fuzz/corpus/session_recv/* "$work/"
  "$out/fuzz/fuzz/fuzz-session_recv" -max_total_time="${SMART_FUZZ_SESSION_SECONDS:-30}" \
    -max_len=8192 -print_final_stats=1 "$work" 2>&1 |
    grep -E 'stat::number_of_executed_units|Done|ERROR|SUMMARY' || true
  "$out/fuzz/fuzz/fuzz-session_recv" -runs=0 "$work" >/dev/null 2>&1
  rm -rf "$work"
}

summary() {
  python3 - "$out" <<'EOF'
import json, pathlib, sys
passed = failed = skipped = 0
for log in pathlib.Path(sys.argv[1]).glob('*/meson-logs/testlog.json'):
    for line in log.read_text().splitlines():
        r = json.loads(line).get('result')
        if r in ('OK', 'EXPECTEDFAIL'): passed += 1
        elif r == 'SKIP': skipped += 1
        else: failed += 1
print(f"{passed} passed, {failed} failed, {skipped} skipped")
sys.exit(1 if failed or not passed else 0)
EOF
}

test_all() {
  install_missing "${test_pkgs[@]}"
  local start=$SECONDS
  rm -f "$out"/*/meson-logs/testlog.json
  say "gcc, -Werror: build and test"
  setup "$out/gcc" gcc --buildtype=debugoptimized -Dwerror=true
  run_suite "$out/gcc"
  # clang's optimised build is compiled with -Werror and runs the unit and
  # ABI suites; the whole suite runs under clang below, with ASan+UBSan.
  say "clang, -Werror: build, unit and ABI tests"
  setup "$out/clang" clang --buildtype=debugoptimized -Dwerror=true
  run_suite "$out/clang" --suite unit --suite abi
  say "gcc, ASan+UBSan: build and test"
  setup "$out/gcc-asan" gcc --buildtype=debug -Dwerror=true \
    -Db_sanitize=address,undefined -Db_lundef=false -Dc_args=-fno-sanitize-recover=all
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
    run_suite "$out/gcc-asan"
  # clang's ASan+UBSan build runs the unit, secure, network, tools and ABI
  # suites; the simulator runs (suite engine), the file copies (cp) and the
  # Python package (py) ran under gcc's sanitizers just above, and are the
  # slowest there (together about half of this build's time).
  say "clang, ASan+UBSan: build and test (all but the engine, cp and py suites)"
  setup "$out/clang-asan" clang --buildtype=debug -Dwerror=true \
    -Db_sanitize=address,undefined -Db_lundef=false -Dc_args=-fno-sanitize-recover=all
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
    run_suite "$out/clang-asan" --no-suite engine --no-suite cp --no-suite py
  say "valgrind: the codec, and the secure layer (its sealing, opening and replay cases)"
  local vg='valgrind --quiet --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite'
  meson test -C "$out/gcc" --suite unit --print-errorlogs --logbase valgrind --wrapper "$vg"
  CK_RUN_CASE=layer meson test -C "$out/gcc" secure --print-errorlogs --logbase valgrind-secure \
    --wrapper "$vg"
  install_check "$out/gcc"
  fuzz
  say "done in $((SECONDS - start)) s"
  summary
}

case "${1:-}" in
demo) demo ;;
test) test_all ;;
*)
  echo "usage: tools/quickstart.sh demo|test" >&2
  exit 2
  ;;
esac
