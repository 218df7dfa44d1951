"""The core never imports the UI: every module outside `swarm.ui` loads without Textual.

So a broken or missing Textual can never stop an agent's `swarm done`, a hook or the
controller, and the CLI starts fast. Checked in a fresh interpreter, where nothing else
could have imported Textual first.
"""

from __future__ import annotations

import json
import os
import pkgutil
import subprocess
import sys

import swarm
from swarm.instance import SwarmInstance

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


def test_an_agent_s_hook_loads_its_own_runtime_and_the_store_only(
    recorded_swarm: SwarmInstance,
) -> None:
    """`swarm report` runs once per prompt, tool call and turn's end of every agent: thirty
    Claude Code agents start a few of these processes a second. It must not import the rest
    of the CLI, the launch code, the other runtimes or the installed packages' metadata."""
    from swarm.store import Store

    with Store.open(recorded_swarm.db_path) as store:
        store.upsert_agent("polecat-1", "polecat", "sim", "%1", None)
    script = (
        "import json, sys\n"
        "from swarm.cli.main import main\n"
        "code = main(['report', 'Stop'])\n"
        "print(json.dumps([code, sorted(sys.modules)]))\n"
    )
    env = {
        **os.environ,
        "SWARM_HOME": str(recorded_swarm.state_dir),
        "SWARM_AGENT": "polecat-1",
    }
    proc = subprocess.run(
        [sys.executable, "-c", script],
        input='{"hook_event_name": "Stop", "last_assistant_message": "done"}',
        capture_output=True,
        text=True,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    code, loaded = json.loads(proc.stdout.splitlines()[-1])
    assert code == 0
    assert "swarm.store" in loaded
    unwanted = {
        "importlib.metadata",
        "swarm.cli.lifecycle",
        "swarm.cli.tasks",
        "swarm.runtimes.launch",
        "swarm.runtimes.claude",
        "swarm.runtimes.others",
        "swarm.config",
    }
    assert unwanted.isdisjoint(loaded), sorted(unwanted & set(loaded))
    with Store.open(recorded_swarm.db_path) as store:
        assert store.get_agent("polecat-1").state == "idle"  # the report did its work
