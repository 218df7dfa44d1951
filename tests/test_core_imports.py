"""The core never imports the UI: every module outside `swarm.ui` loads without Textual.

So a broken or missing Textual can never stop an agent's `swarm done`, a hook or the
controller, and the CLI starts fast. Checked in a fresh interpreter, where nothing else
could have imported Textual first.
"""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys

import swarm

SKIP = {"swarm.__main__"}  # running it is running the CLI


def core_modules() -> list[str]:
    names = [
        info.name
        for info in pkgutil.walk_packages(swarm.__path__, prefix="swarm.")
        if not (info.name == "swarm.ui" or info.name.startswith("swarm.ui."))
    ]
    return sorted(set(names) - SKIP)


def test_core_modules_do_not_import_textual() -> None:
    modules = core_modules()
    assert "swarm.actions" in modules and "swarm.cli.daemons" in modules
    script = (
        "import importlib, json, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "    if 'textual' in sys.modules:\n"
        "        print(json.dumps(name)); sys.exit(1)\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith('swarm'))))\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert proc.returncode == 0, f"{proc.stdout.strip()} imports textual\n{proc.stderr}"
    loaded = json.loads(proc.stdout)
    assert not any(name.startswith("swarm.ui") for name in loaded)


def test_the_cli_parser_does_not_load_the_ui() -> None:
    script = (
        "import sys\n"
        "from swarm.cli.main import build_parser\n"
        "build_parser().parse_args(['sidebar'])\n"
        "assert 'textual' not in sys.modules, 'textual loaded'\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
