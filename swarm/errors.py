"""Errors a user can act on.

Every failure a person can cause (a malformed layout, an unknown task id, a missing
repository) is raised as a `SwarmError`; the CLI prints its one line and exits with its
code, never a traceback.
"""

from __future__ import annotations

# Exit codes shared by every command.
EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2  # bad input: malformed layout, unknown key, bad id


class SwarmError(Exception):
    """A failure explained in one line, with the exit code the CLI should use."""

    exit_code: int = EXIT_FAILURE

    def __init__(self, message: str, exit_code: int | None = None) -> None:
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code

    @property
    def message(self) -> str:
        return str(self.args[0])


class ConfigError(SwarmError):
    """A layout or role file is malformed: the message names file:line:col and the key path."""

    exit_code = EXIT_USAGE


class NotFoundError(SwarmError):
    """A named thing (task, agent, layout, swarm) does not exist."""

    exit_code = EXIT_USAGE


class TmuxError(SwarmError):
    """tmux refused a command or is not installed."""
