"""A new user's first hour, end to end: a fresh clone, a fresh venv, the README's first
command exactly as written, then `swarm init` and `swarm up --detach` on a project of their
own with a pytest suite and the sim runtime, until three tasks are merged.

Real everything: `git clone` of this repository at HEAD, `python3 -m venv`, `pip install`
(PyPI for the build backend; the venv sees the system's packages so nothing else is
fetched), tmux on private sockets, the refinery running the project's own pytest gate.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from swarm.store import Store

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent

FEATURES = {
    "double": "x * 2",
    "square": "x * x",
    "negate": "-x",
}


def readme_first_command() -> str:
    """The first line of the README's first shell block, comment and all."""
    text = (ROOT / "README.md").read_text()
    block = re.search(r"```bash\n(.*?)```", text, re.DOTALL)
    assert block is not None, "the README has no ```bash block"
    return block[1].splitlines()[0]


def task_body(name: str, expression: str) -> str:
    return (
        f"Add `{name}(x)` in its own module, with a test.\n\n"
        "```sh\n"
        f"printf 'def {name}(x: int) -> int:\\n    return {expression}\\n' > {name}.py\n"
        f"cat > tests/test_{name}.py <<'PY'\n"
        f"from {name} import {name}\n\n\n"
        f"def test_{name}() -> None:\n"
        f"    assert {name}(3) == {eval(expression, {'x': 3})}\n"
        "PY\n"
        "```\n"
    )


def make_project(path: Path) -> Path:
    """A small project of the person's own: a module and a pytest suite."""
    (path / "tests").mkdir(parents=True)
    (path / "calc.py").write_text("def add(a: int, b: int) -> int:\n    return a + b\n")
    (path / "tests" / "test_add.py").write_text(
        "from calc import add\n\n\ndef test_add() -> None:\n    assert add(2, 3) == 5\n"
    )
    (path / "pyproject.toml").write_text('[tool.pytest.ini_options]\npythonpath = ["."]\n')
    for args in (
        ("init", "-q", "-b", "main"),
        ("config", "user.email", "me@example.com"),
        ("config", "user.name", "New User"),
        ("add", "-A"),
        ("commit", "-q", "-m", "my project"),
    ):
        subprocess.run(["git", "-C", str(path), *args], check=True)
    return path


def test_first_hour_from_a_fresh_clone(tmp_path: Path, tmux_socket: str) -> None:
    clone = tmp_path / "swarm"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    tools = ":".join(str(Path(p).parent) for p in (shutil.which("git"), shutil.which("tmux")) if p)
    env.update(
        PATH=f"{venv / 'bin'}:{tools}:/usr/bin:/bin",
        VIRTUAL_ENV=str(venv),
        SWARM_TMUX_SOCKET=tmux_socket,
        SWARM_CLAUDE_BIN=str(tmp_path / "no-claude"),  # a new user without an agent CLI
        PIP_DISABLE_PIP_VERSION_CHECK="1",
    )

    # The README's first command, exactly as written, in the fresh clone.
    command = readme_first_command()
    assert command.startswith("pip install -e . && swarm demo --detach")
    first = subprocess.run(
        ["bash", "-c", command],
        cwd=clone,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    assert "tasks merged into main" in first.stdout
    where = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import swarm; print(swarm.__file__)"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert where.startswith(str(clone)), where
    subprocess.run(["swarm", "down"], cwd=clone / "swarm-demo", env=env, check=True)

    # Their own project: init, up, three tasks, merged through their own pytest gate.
    project = make_project(tmp_path / "calc")

    def swarm(*args: str) -> str:
        proc = subprocess.run(
            ["swarm", *args], cwd=project, env=env, capture_output=True, text=True, timeout=120
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr
        return proc.stdout

    said = swarm("init")
    assert "runtime sim, gate python3 -m pytest -q" in said
    swarm("up", "--detach")
    ids = []
    for name, expression in FEATURES.items():
        body = tmp_path / f"{name}.md"
        body.write_text(task_body(name, expression))
        ids.append(swarm("task", "add", f"Add {name}", "--body", str(body)).strip())
    deadline = time.monotonic() + 300
    with Store.open(project / ".swarm" / "swarm.db") as store:
        while True:
            statuses = {t.id: t.status for t in store.list_tasks()}
            if all(statuses[i] == "merged" for i in ids):
                break
            failed = [store.get_task(i) for i in ids if statuses[i] == "failed"]
            assert not failed, [(t.id, t.notes) for t in failed]
            assert time.monotonic() < deadline, f"not merged in time: {statuses}"
            time.sleep(1.0)
    log = subprocess.run(
        ["git", "-C", str(project), "log", "--format=%s", "main"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert all(f"Add {name}" in log for name in FEATURES)
    gate = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pytest", "-q"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
    )
    assert gate.returncode == 0 and "4 passed" in gate.stdout, gate.stdout + gate.stderr
    assert not list((project / "tasks").glob("*.md"))  # nothing landed that no task asked for
    swarm("down", "--clean", "--yes")
    assert not (project / ".swarm").exists()
