"""Where runtimes are found: the built-in ones, plus any a package declares.

A package adds a runtime with an entry point in the `swarm.runtimes` group whose value is a
`Runtime` subclass (or instance), e.g. in its pyproject.toml:

    [project.entry-points."swarm.runtimes"]
    echo = "swarm_echo_runtime:EchoRuntime"

This is the only place that lists runtimes; everything else asks it by name, so nothing
outside a runtime's own module decides anything by a runtime's name.
"""

from __future__ import annotations

from functools import cache
from importlib import import_module

from swarm.errors import ConfigError
from swarm.runtimes.base import Runtime

ENTRY_POINT_GROUP = "swarm.runtimes"
DEFAULT_RUNTIME = "claude"  # what the bundled layouts run (`swarm doctor` checks it by default)


# The built-in runtimes, by name: the module and class of each. A module is imported when its
# runtime is first asked for: an agent's hook process (`swarm report`, one per event) needs
# its own runtime's facts only, not the launch code of all seven.
BUILTIN: dict[str, tuple[str, str]] = {
    "sim": ("swarm.runtimes.sim", "SimRuntime"),
    "claude": ("swarm.runtimes.claude", "ClaudeRuntime"),
    "codex": ("swarm.runtimes.others", "CodexRuntime"),
    "gemini": ("swarm.runtimes.others", "GeminiRuntime"),
    "aider": ("swarm.runtimes.others", "AiderRuntime"),
    "command": ("swarm.runtimes.others", "CommandRuntime"),
    "builtin": ("swarm.runtimes.others", "BuiltinRuntime"),
}


@cache
def _builtin(name: str) -> Runtime:
    module, cls = BUILTIN[name]
    runtime: Runtime = getattr(import_module(module), cls)()
    return runtime


@cache
def runtimes() -> dict[str, Runtime]:
    """Every runtime by name: built-in ones first; a package cannot replace one of them."""
    found = {name: _builtin(name) for name in BUILTIN}
    from importlib.metadata import entry_points  # ~10 ms: only when a plugin may be asked for

    for entry in entry_points(group=ENTRY_POINT_GROUP):
        if entry.name in found:
            continue
        try:
            loaded = entry.load()
        except Exception as exc:  # a broken plugin must not take the swarm down
            raise ConfigError(
                f"runtime '{entry.name}' from package entry point {entry.value}: "
                f"cannot load it ({type(exc).__name__}: {exc})"
            ) from None
        runtime = loaded() if isinstance(loaded, type) else loaded
        if not isinstance(runtime, Runtime):
            raise ConfigError(f"runtime '{entry.name}' from {entry.value} is not a swarm Runtime")
        found[entry.name] = runtime
    return found


def _named(name: str) -> Runtime | None:
    """A built-in runtime without reading the installed packages' entry points (an agent's
    every hook asks), a plugin's only when no built-in one has the name."""
    return _builtin(name) if name in BUILTIN else runtimes().get(name)


def runtime_names() -> tuple[str, ...]:
    return tuple(runtimes())


def get_runtime(name: str) -> Runtime:
    """The runtime called `name`; an unknown name is a configuration error."""
    found = _named(name)
    if found is None:
        raise ConfigError(
            f"unknown runtime '{name}' (expected one of: {', '.join(runtime_names())})"
        )
    return found


def runtime_for(name: str) -> Runtime:
    """For agents already running: their runtime, or a generic one if it was uninstalled
    since (a running swarm keeps going on screen patterns rather than stopping)."""
    return _named(name) or Runtime()
