"""The names of the options this machine's tmux knows, so `validate` refuses a typo.

tmux's option set changes between versions, so the names are asked of the installed tmux
(a throwaway server on a socket in a temporary folder, removed at once) rather than kept
in a list that would go stale. One short process, once per run.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
import tempfile
from pathlib import Path

_ALWAYS_THERE = frozenset({"status", "prefix", "base-index", "history-limit"})


@functools.cache
def known_option_names() -> frozenset[str] | None:
    """Server, session and window option names; None when tmux cannot be asked."""
    tmux = shutil.which("tmux")
    if tmux is None:
        return None
    with tempfile.TemporaryDirectory(prefix="swarm-opts-") as folder:
        socket = str(Path(folder) / "s")
        try:
            done = subprocess.run(
                [
                    tmux,
                    "-f",
                    "/dev/null",
                    "-S",
                    socket,
                    "start-server",
                    ";",
                    "show-options",
                    "-g",
                    ";",
                    "show-options",
                    "-gw",
                    ";",
                    "show-options",
                    "-gs",
                ],
                capture_output=True,
                text=True,
                timeout=10,
                stdin=subprocess.DEVNULL,
            )
        except (OSError, subprocess.SubprocessError):
            return None
    if done.returncode != 0:
        return None
    names = {line.split(" ", 1)[0].split("[", 1)[0] for line in done.stdout.splitlines()}
    if not names >= _ALWAYS_THERE:  # not a tmux we understand (a stub, a wrapper): no check
        return None
    return frozenset(names)
