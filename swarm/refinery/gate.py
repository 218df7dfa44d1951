"""Running the gate: the layout's commands, in one folder, with a timeout and an output tail.

Each command runs through `/bin/sh -c` in its own process group (so a timeout kills the whole
tree, not just the shell), with stdout and stderr going to one temporary file (so a chatty
test suite cannot fill a pipe and hang). Only the tail of the output is kept: it is what a
polecat needs to see to fix a failure, and it is stored in the task's notes.

A command killed by a signal (SIGKILL from the OOM killer or a person, SIGTERM) says nothing
about the change under test, so it is run again (at most `SIGNAL_RERUNS` times); if it is
still killed, the result is marked `killed` and the queue tests the request again later
instead of bouncing it.

Every gate process carries `SWARM_REFINERY_GATE=<state dir>` in its environment. A refinery
killed with -9 cannot kill its gate; the next one finds such leftovers by that mark (and only
those) and ends them before it resets the worktree under their feet.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import psutil

from swarm.text import shorten

MARK_VAR = "SWARM_REFINERY_GATE"
DEFAULT_TIMEOUT = 1800.0  # seconds for the whole gate of one candidate
TAIL_LINES = 40
TAIL_CHARS = 4000
SIGNAL_RERUNS = 2  # runs of a command killed by a signal before giving up (not charged)
# Signals that come from outside the test run; a shell reports its child's as 128 + N.
_OUTSIDE_SIGNALS = (signal.SIGKILL, signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
# Variables of the swarm or of an enclosing git command that must not leak into the gate.
_DROPPED_PREFIXES = ("SWARM_",)
_DROPPED = ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_COMMON_DIR", "GIT_PREFIX")


# Lines test runners print for each failing test, in the order they are looked for:
# pytest's short summary, unittest, cargo, go, jest.
_FAILURE_LINES = (
    re.compile(r"^(?:FAILED|ERROR) ([^\s(]\S*)"),
    re.compile(r"^(?:FAIL|ERROR): (\S+ \([^)]*\))"),
    re.compile(r"^test (\S+) \.\.\. FAILED$"),
    re.compile(r"^--- FAIL: (\S+)"),
    re.compile(r"^● (.+)$"),
)


def failure_reason(tail: str) -> str:
    """The failing tests named in a gate's output (what a person wants to read first),
    else its last line."""
    lines = [line.strip() for line in tail.splitlines() if line.strip()]
    for pattern in _FAILURE_LINES:
        names = list(dict.fromkeys(m[1] for m in map(pattern.match, lines) if m))
        if names:
            more = f" and {len(names) - 2} more" if len(names) > 2 else ""
            return ", ".join(names[:2]) + more
    return lines[-1] if lines else ""


@dataclass(frozen=True)
class GateResult:
    """The verdict on one candidate."""

    passed: bool
    command: str = ""  # the command that failed (or the last one run)
    exit_code: int = 0
    duration: float = 0.0
    tail: str = ""  # the end of the failing command's output
    timed_out: bool = False
    killed: int = 0  # the signal that ended the command (after every rerun): not the task's fault
    reruns: int = 0  # runs repeated because a signal killed them

    def summary(self) -> str:
        """One line: what happened, for the pane and the merge queue listing."""
        if self.passed:
            return f"gate passed ({self.duration:.1f}s)"
        if self.timed_out:
            return f"gate timed out: `{self.command}` after {self.duration:.0f}s"
        if self.killed:
            return f"gate killed by {signal_name(self.killed)}: `{self.command}` (not charged)"
        return f"gate failed: `{self.command}` exited {self.exit_code}"

    def brief(self) -> str:
        """Shorter than `summary` (no command): a line under the command in the pane."""
        if self.passed:
            return f"passed in {self.duration:.1f}s"
        how = "timed out" if self.timed_out else f"failed (exit {self.exit_code})"
        if self.killed:
            how = f"killed by {signal_name(self.killed)}"
        lines = [line.strip() for line in self.tail.splitlines() if line.strip()]
        last = f": {shorten(lines[-1], 100)}" if lines else ""
        return f"{how} in {self.duration:.1f}s{last}"

    def reason(self) -> str:
        """Why it failed, in the words of a person: the failing tests, else the last line."""
        if self.passed:
            return "passed"
        if self.timed_out:
            return f"timed out after {self.duration:.0f}s: `{self.command}`"
        return failure_reason(self.tail) or f"`{self.command}` exited {self.exit_code}"

    def report(self) -> str:
        """The summary and the output tail: what a polecat is told."""
        if self.passed or not self.tail.strip():
            return self.summary()
        return f"{self.summary()}\n--- output (tail) ---\n{self.tail.rstrip()}"


def killed_by(code: int) -> int:
    """The outside signal that ended a command (`-9` from Popen, `137` from a shell), or 0."""
    number = -code if code < 0 else code - 128 if code > 128 else 0
    return number if number in _OUTSIDE_SIGNALS else 0


def signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def tail_of(text: str, lines: int = TAIL_LINES, chars: int = TAIL_CHARS) -> str:
    """The last `lines` lines of `text`, at most `chars` characters."""
    kept = "\n".join(text.rstrip().splitlines()[-lines:])
    return kept[-chars:]


def gate_environment(marker: str, base: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {
        k: v
        for k, v in (os.environ if base is None else base).items()
        if not k.startswith(_DROPPED_PREFIXES) and k not in _DROPPED
    }
    env[MARK_VAR] = marker
    return env


def run_gate(
    commands: Sequence[str],
    cwd: Path,
    *,
    marker: str,
    timeout: float = DEFAULT_TIMEOUT,
) -> GateResult:
    """Run `commands` one after the other in `cwd`; stop at the first failure.

    An empty gate always passes. `timeout` bounds the whole gate, not each command.
    """
    started = time.monotonic()
    env = gate_environment(marker)
    reruns = 0
    for command in commands:
        for attempt in range(SIGNAL_RERUNS + 1):
            left = timeout - (time.monotonic() - started)
            code, output, timed_out = _run_one(command, cwd, env, max(left, 0.001))
            if timed_out or not killed_by(code) or attempt == SIGNAL_RERUNS:
                break
            reruns += 1  # killed from outside: the change is not to blame, run it again
        if timed_out or code != 0:
            return GateResult(
                passed=False,
                command=command,
                exit_code=code,
                duration=time.monotonic() - started,
                tail=tail_of(output),
                timed_out=timed_out,
                killed=0 if timed_out else killed_by(code),
                reruns=reruns,
            )
    last = commands[-1] if commands else ""
    return GateResult(passed=True, command=last, duration=time.monotonic() - started, reruns=reruns)


def _run_one(command: str, cwd: Path, env: dict[str, str], timeout: float) -> tuple[int, str, bool]:
    with tempfile.TemporaryFile(mode="w+b") as out:
        proc = subprocess.Popen(
            ["/bin/sh", "-c", command],
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: a timeout kills the whole tree
        )
        timed_out = False
        try:
            code = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            _kill_group(proc.pid)
            code = proc.wait()
        except BaseException:  # the refinery is stopping: take the gate down with it
            _kill_group(proc.pid)
            proc.wait()
            raise
        _kill_group(proc.pid)  # a background child the command left behind
        out.seek(0, os.SEEK_END)
        size = out.tell()
        out.seek(max(0, size - 64 * 1024))
        text = out.read().decode(errors="replace")
    return code, text, timed_out


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def kill_leftover_gates(marker: str) -> list[int]:
    """End gate processes a killed refinery of this swarm left running; their pids.

    Only processes of this user whose environment carries this swarm's mark are touched.
    """
    killed: list[int] = []
    me = os.getuid()
    for proc in psutil.process_iter(["pid", "uids"]):
        try:
            uids = proc.info["uids"]
            if uids is None or uids.real != me or proc.pid == os.getpid():
                continue
            if proc.environ().get(MARK_VAR) != marker:
                continue
            proc.kill()
            killed.append(proc.pid)
        except (psutil.Error, OSError):
            continue
    return killed
