"""Measure the package as it is installed: its bytecode compiled.

pip compiles a wheel's modules when it installs them, and an editable install writes them on
first import, unless `PYTHONDONTWRITEBYTECODE` is set (as on some development and CI
machines): then every `swarm` process (an agent's hook, `swarm status`) compiles the ~50
modules it imports again, ~35 ms of CPU each time, and a benchmark would measure that
instead of the swarm. Python still reads bytecode that exists, so the benchmarks compile
the checkout they measure first.
"""

from __future__ import annotations

import compileall
from pathlib import Path


def compile_checkout(checkout: Path) -> None:
    compileall.compile_dir(str(checkout / "swarm"), quiet=1)
