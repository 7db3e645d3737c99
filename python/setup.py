"""Build: smart/_generated.py is written from include/smart/smart.h.

The header is looked for in $SMART_INCLUDE_DIR, then ../include (a checkout),
then /usr/local/include and /usr/include (an installed library).
"""
import os
import sys

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import gen_header  # noqa: E402


def _generated_text():
    try:
        return gen_header.generate(gen_header.find_include(None))
    except gen_header.GenError as e:
        sys.exit(f"smart: cannot generate the bindings: {e}")


class BuildPy(build_py):
    """build_py that also writes smart/_generated.py from the C header."""

    def run(self):
        super().run()
        out = os.path.join(self.build_lib, "smart", "_generated.py")
        os.makedirs(os.path.dirname(out), exist_ok=True)
        with open(out, "w", encoding="utf-8") as f:
            f.write(_generated_text())


_ns = {}
exec(_generated_text(), _ns)
setup(version=_ns["VERSION_STR"], cmdclass={"build_py": BuildPy})
