#!/bin/sh
# The Python package's tests (python/tests, pytest) in a virtual environment
# of the build directory, against the library just built.
#
# usage: python-pkg.sh PYTHON SOURCE-ROOT BUILD-ROOT LIBSMART SMART-SEND SMART-RECV SMART-KEYGEN CC...
#
# The environment is created once (BUILD-ROOT/python-venv, with the system's
# site packages for pytest, setuptools and wheel, which apt provides) and
# the package is reinstalled into it from a copy of python/ on every run, so
# that the source tree is never written. pip, the compiler and the C
# programs run without LD_PRELOAD; only the interpreter running the tests
# gets the sanitizer runtime that meson may have put there.
set -eu
python=$1 src=$2 build=$3 lib=$4 send=$5 recv=$6 keygen=$7
shift 7
abs() { case $1 in /*) printf '%s' "$1" ;; *) printf '%s/%s' "$PWD" "$1" ;; esac; }
lib=$(abs "$lib") send=$(abs "$send") recv=$(abs "$recv") keygen=$(abs "$keygen")
src=$(abs "$src") build=$(abs "$build")
preload=${LD_PRELOAD:-}
unset LD_PRELOAD
venv=$build/python-venv
work=$build/python-src
if [ ! -x "$venv/bin/python" ]; then
  "$python" -m venv --system-site-packages "$venv"
fi
rm -rf "$work"
mkdir -p "$work"
cp -R "$src/python/." "$work/"
rm -rf "$work/build" "$work"/*.egg-info "$work/smart/_generated.py"
SMART_INCLUDE_DIR=$src/include "$venv/bin/python" -m pip install --quiet --no-index \
  --no-build-isolation --no-deps --force-reinstall --no-cache-dir "$work" >"$build/python-pip.log" 2>&1 || {
  cat "$build/python-pip.log"
  exit 1
}
cd "$build"
export SMART_LIBRARY=$lib SMART_SEND=$send SMART_RECV=$recv SMART_KEYGEN=$keygen
export SMART_TEST_CC="$*" SMART_TEST_INCLUDES="$src/include:$build/include"
export PYTHONDONTWRITEBYTECODE=1
if [ -n "$preload" ]; then
  export LD_PRELOAD=$preload
fi
exec "$venv/bin/python" -m pytest -q -p no:cacheprovider -rs --durations=5 "$work/tests"
