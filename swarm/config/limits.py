"""What `swarm up` would refuse, found already by `swarm validate`.

The schema checks each value's type; these are the limits of the world around the layout:
names tmux would read as flags (`-t`) or refuse as too long, option names this tmux does not
know, environments too big for a command line, windows with no panes, folders that do not
exist. Each failure is one `file:line:col: key: message` line, before anything is built.
"""

from __future__ import annotations

from pathlib import Path

from swarm.config.layouts import LoadedLayout
from swarm.config.schema import suggest

MAX_NAME = 64  # session and window names (tmux accepts more, socket paths do not)
MAX_ENV_VARS = 500
MAX_ENV_CHARS = 100_000  # names and values together: every pane's command line carries them
MAX_OPTION_CHARS = 2_000


def check_repo_key(loaded: LoadedLayout, target: Path) -> None:
    """The layout's `repo:` names a folder that exists."""
    if loaded.layout.repo is not None and not target.is_dir():
        raise loaded.doc.error(("repo",), f"no such folder: {target}")


def check_layout(loaded: LoadedLayout, session: str) -> None:
    """Names, sizes and tmux options; raises `ConfigError` at the first problem."""
    layout, doc = loaded.layout, loaded.doc
    _check_name(loaded, ("session",), session, "session")
    for i, window in enumerate(layout.windows or ()):
        _check_name(loaded, ("windows", i, "name"), window.name, "window")
        if not window.panes:
            raise doc.error(
                ("windows", i, "panes"), "a window needs at least one pane (an agent or a role)"
            )
    env = layout.environment
    if len(env) > MAX_ENV_VARS:
        raise doc.error(
            ("environment",), f"{len(env)} variables: at most {MAX_ENV_VARS} are allowed"
        )
    size = sum(len(k) + len(v) + 2 for k, v in env.items())
    if size > MAX_ENV_CHARS:
        raise doc.error(
            ("environment",), f"{size} characters in all: at most {MAX_ENV_CHARS} are allowed"
        )
    for name, value in env.items():
        if "\0" in value:
            raise doc.error(("environment", name), "a NUL character cannot be passed")
    known = None
    if layout.options:
        from swarm.tmux.options import known_option_names  # asks tmux: only when needed

        known = known_option_names()
    for name, value in layout.options.items():
        if not name.startswith("@") and known is not None and name not in known:
            close = suggest(name, known)
            hint = f" (did you mean '{close}'?)" if close else ""
            raise doc.error(
                ("options",), f"unknown tmux option '{name}'{hint}", key=True, at=("options", name)
            )
        if len(value) > MAX_OPTION_CHARS or "\0" in value or "\n" in value:
            raise doc.error(
                ("options", name),
                f"a tmux option value is one line of at most {MAX_OPTION_CHARS} characters",
            )


def _check_name(loaded: LoadedLayout, path: tuple[str | int, ...], name: str, what: str) -> None:
    if name.startswith("-"):
        raise loaded.doc.error(
            path, f"a {what} name cannot start with '-' (tmux reads it as a flag)"
        )
    if len(name) > MAX_NAME:
        raise loaded.doc.error(
            path, f"a {what} name has at most {MAX_NAME} characters, got {len(name)}"
        )
