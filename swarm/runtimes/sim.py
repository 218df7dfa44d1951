"""The `sim` runtime: a small program that behaves like a coding agent in its pane.

It lets the whole swarm run with no API key, in the demo and in the tests. Like a real
agent it shows a prompt, takes bracketed pastes and typed keys, and submits on Enter; it
reports its state through the same hook command Claude Code's hooks call (`swarm hook
SessionStart | UserPromptSubmit | Notification | Stop`) and talks to the swarm only through
the `swarm` CLI.

A polecat sim, when told anything, does the task on its hook: it runs the commands of the
first fenced `sh` block of the task body in its worktree (or writes `tasks/<id>.md`, unless
`SWARM_SIM_NOTES=0`: then it gives such a task up), commits, and runs `swarm done`. A mayor
sim turns every line a person tells it into a task; what the swarm tells it (escalations,
nudges) it leaves for the person.

Lines `sim: <behaviour> [arg]` in a task body make it misbehave, for the witness and
refinery tests: `slow SECONDS`, `hang [TIMES]`, `crash [TIMES]`, `ask-permission`,
`conflict FILE`. TIMES (default 1) counts per agent and task, so a restarted sim gets
past the fault once it has happened that often.
"""

from __future__ import annotations

import json
import os
import re
import select
import subprocess
import sys
import termios
import time
import tty
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from swarm import envnames
from swarm.atomic import write_atomic
from swarm.inbox import from_the_swarm
from swarm.refinery import BOUNCE_MARK
from swarm.runtimes.base import LaunchContext, Runtime, swarm_argv
from swarm.runtimes.patterns import (
    BASH_COMMAND,
    PERMISSION_QUESTION,
    Pattern,
    ScreenPatterns,
    ScreenVerdict,
    classify,
    screen_lines,
)
from swarm.textsafe import one_line, visible

if TYPE_CHECKING:
    from swarm.plan import AgentSpec

# "0": a task without a ```sh block is given up instead of answered with a note file
# `tasks/<id>.md` (the tests' stand-in for work); `swarm demo`, `swarm init` and
# `swarm up --runtime sim` set it, so nothing lands on a person's branch unasked.
NOTES_ENV = "SWARM_SIM_NOTES"

PROMPT = "sim❯ "
PENDING_MARK = "⟨pasted "  # shown in the input line while a paste waits for Enter
PASTE_START = b"\x1b[200~"
PASTE_END = b"\x1b[201~"
_FENCE = re.compile(r"```(?:sh|bash|shell)\s*\n(.*?)```", re.DOTALL)
_DIRECTIVE = re.compile(r"^\s*sim:\s*([a-z-]+)\s*(.*?)\s*$", re.MULTILINE)


@dataclass(frozen=True)
class Behaviour:
    name: str
    arg: str


def directives(body: str) -> list[Behaviour]:
    return [Behaviour(m[1], m[2]) for m in _DIRECTIVE.finditer(body)]


def shell_block(body: str) -> str | None:
    match = _FENCE.search(body)
    return match[1] if match else None


def is_input_pending(screen: str) -> bool:
    """From a capture of the sim's pane: does a paste still wait for Enter?"""
    lines = [line for line in screen.splitlines() if line.strip()]
    return bool(lines) and lines[-1].startswith(PROMPT) and PENDING_MARK in lines[-1]


class LineEditor:
    """Turns raw terminal bytes into submitted messages; pastes are kept byte for byte."""

    def __init__(self) -> None:
        self.buffer = bytearray()
        self._in_paste = False
        self._pending = bytearray()

    def feed(self, data: bytes) -> list[bytes]:
        """Consume bytes; return the messages submitted by Enter."""
        self._pending += data
        submitted: list[bytes] = []
        while self._pending:
            if self._in_paste:
                end = self._pending.find(PASTE_END)
                if end < 0:
                    # Keep a possible partial end marker for the next read.
                    keep = len(PASTE_END) - 1
                    cut = max(0, len(self._pending) - keep)
                    self.buffer += self._pending[:cut]
                    del self._pending[:cut]
                    break
                self.buffer += self._pending[:end]
                del self._pending[: end + len(PASTE_END)]
                self._in_paste = False
                continue
            if self._pending.startswith(PASTE_START):
                del self._pending[: len(PASTE_START)]
                self._in_paste = True
                continue
            if PASTE_START.startswith(bytes(self._pending)):
                break  # maybe the start of a paste marker: wait for more bytes
            byte = self._pending[0]
            del self._pending[0]
            if byte in (0x0D, 0x0A):  # Enter
                if self.buffer:
                    submitted.append(bytes(self.buffer))
                self.buffer.clear()
            elif byte in (0x7F, 0x08):  # backspace
                if self.buffer:
                    del self.buffer[-1]
            elif byte == 0x15 or byte == 0x03:  # ctrl-u, ctrl-c: clear the line
                self.buffer.clear()
            elif byte == 0x1B:
                continue  # a lone escape (or a key sequence): ignored
            else:
                self.buffer.append(byte)
        return submitted


class SimAgent:
    """The sim's main loop: a terminal UI, hook reports and the task work."""

    def __init__(self) -> None:
        self.agent = os.environ.get(envnames.AGENT, "sim")
        self.role = os.environ.get(envnames.ROLE, "sim")
        # What the sim does with a message: the role's capability, passed at launch.
        self.files_tasks = "--files-tasks" in sys.argv
        home = os.environ.get(envnames.HOME)
        self.home = Path(home) if home else Path.cwd() / ".swarm"
        self.inbox = self.home / "sim" / self.agent / "inbox"
        self.inbox.mkdir(parents=True, exist_ok=True)
        self.editor = LineEditor()
        self.fd = sys.stdin.fileno()
        self.last_said = ""

    # -- talking to the swarm --------------------------------------------------------

    def swarm(self, *args: str, payload: dict[str, Any] | None = None, check: bool = False) -> str:
        proc = subprocess.run(
            [sys.executable, "-m", "swarm", *args],
            input=json.dumps(payload or {}),
            capture_output=True,
            text=True,
        )
        if check and proc.returncode != 0:
            raise RuntimeError((proc.stderr or proc.stdout).strip() or f"swarm {args[0]} failed")
        return proc.stdout

    def report(self, event: str, **payload: Any) -> None:
        payload.setdefault("hook_event_name", event)
        payload.setdefault("cwd", os.getcwd())
        self.swarm("report", event, payload=payload)

    # -- screen ----------------------------------------------------------------------

    def say(self, text: str) -> None:
        self.last_said = text
        shown = visible(text).replace("\n", "\r\n")  # a task's escape codes stay text
        sys.stdout.write("\r\x1b[K" + shown + "\r\n")
        self.draw_prompt()

    def draw_prompt(self) -> None:
        size = len(self.editor.buffer)
        if size == 0:
            line = PROMPT
        elif size <= 60 and b"\n" not in self.editor.buffer:
            line = (
                PROMPT
                + one_line(self.editor.buffer.decode(errors="replace"))
                + f"  {PENDING_MARK}{size} bytes⟩"
            )
        else:
            line = f"{PROMPT}{PENDING_MARK}{size} bytes⟩"
        sys.stdout.write("\r\x1b[K" + line)
        sys.stdout.flush()

    # -- input -----------------------------------------------------------------------

    def read_messages(self, timeout: float | None = None) -> list[bytes]:
        ready, _, _ = select.select([self.fd], [], [], timeout)
        if not ready:
            return []
        data = os.read(self.fd, 65536)
        if not data:
            raise EOFError
        messages = self.editor.feed(data)
        self.draw_prompt()
        return messages

    def read_key(self) -> bytes:
        """One key press, for answering a permission question."""
        while True:
            ready, _, _ = select.select([self.fd], [], [], None)
            if ready:
                data = os.read(self.fd, 64)
                if not data:
                    raise EOFError
                return data

    def save(self, message: bytes) -> Path:
        number = len(list(self.inbox.glob("*.txt"))) + 1
        path = self.inbox / f"{number:05d}.txt"
        write_atomic(path, message)
        return path

    # -- the loop --------------------------------------------------------------------

    def run(self) -> int:
        old = termios.tcgetattr(self.fd) if os.isatty(self.fd) else None
        if old is not None:
            tty.setraw(self.fd)
        sys.stdout.write("\x1b[?2004h")  # ask the terminal for bracketed pastes
        try:
            self.say(f"swarm sim agent: {self.agent} ({self.role})")
            self.report("SessionStart", source="startup")
            while True:
                for message in self.read_messages():
                    self.save(message)
                    self.handle(message.decode(errors="replace"))
        except (EOFError, KeyboardInterrupt):
            return 0
        finally:
            sys.stdout.write("\x1b[?2004l")
            if old is not None:
                termios.tcsetattr(self.fd, termios.TCSADRAIN, old)

    def handle(self, message: str) -> None:
        preview = message.strip().splitlines()[0][:70] if message.strip() else ""
        self.say(f"⏺ received {len(message.encode())} bytes: {preview}")
        self.report("UserPromptSubmit", prompt=message)
        try:
            if self.files_tasks and from_the_swarm(message):
                # An escalation or a nudge is for the person (`swarm inbox`), not a task.
                self.say("⏺ noted: this needs the person (it is in `swarm inbox`)")
            elif self.files_tasks:
                self.make_tasks(message)
            else:
                self.work()
        except Exception as exc:  # the sim reports, it does not die on a failed task
            self.say(f"✗ {exc}")
        self.report("Stop", last_assistant_message=self.last_said)

    def make_tasks(self, message: str) -> None:
        for line in message.splitlines():
            title = line.strip()
            if title:
                out = self.swarm("task", "add", title, check=True).strip()
                self.say(f"⏺ task {out}: {title}")

    def work(self) -> None:
        raw = self.swarm("task", "current", "--json")
        task = json.loads(raw) if raw.strip() else None
        if not task:
            self.say("nothing on my hook")
            return
        task_id, title, body = task["id"], task["title"], task.get("body") or ""
        self.say(f"⏺ working on {task_id}: {title}")
        if BOUNCE_MARK in (task.get("notes") or ""):
            self.start_over()
        for behaviour in directives(body):
            self.misbehave(task_id, behaviour)
        script = shell_block(body)
        if script is not None:
            self.say(f"● sh ({len(script.splitlines())} lines)")
            proc = subprocess.run(["/bin/sh", "-e", "-c", script], capture_output=True, text=True)
            tail = (proc.stdout + proc.stderr).strip().splitlines()[-5:]
            for line in tail:
                self.say(f"  ⎿ {line}")
            if proc.returncode != 0:
                self.say(f"✗ the task's commands failed (exit {proc.returncode})")
        elif os.environ.get(NOTES_ENV, "1") != "1":
            # Nothing asked for a file: a note committed now would land on the target.
            self.give_up(task_id, "the sim agent does what a task's ```sh block says; none here")
            return
        else:
            note = Path("tasks") / f"{task_id}.md"
            note.parent.mkdir(exist_ok=True)
            note.write_text(f"# {title}\n\n{body}\n")
        self.commit(f"{title} ({task_id})")
        result = subprocess.run(
            [sys.executable, "-m", "swarm", "done"], capture_output=True, text=True
        )
        self.say(
            ("⏺ " if result.returncode == 0 else "✗ ") + (result.stdout + result.stderr).strip()
        )

    def give_up(self, task_id: str, reason: str) -> None:
        result = subprocess.run(
            [sys.executable, "-m", "swarm", "done", "--failed", reason],
            capture_output=True,
            text=True,
        )
        self.say("✗ " + (result.stdout + result.stderr).strip())

    def start_over(self) -> None:
        """The refinery sent this task back (a conflict or a failing gate): throw the last
        attempt away and redo the work on the current target, so the next try applies."""
        target = self.target_branch()
        subprocess.run(["git", "reset", "-q", "--hard", target], check=True, capture_output=True)
        self.say(f"⏺ bounced by the refinery: starting over from {target}")

    def target_branch(self) -> str:
        """The branch work is merged into, as `swarm up` recorded it."""
        try:
            data = json.loads((self.home / "swarm.json").read_text())
        except (OSError, ValueError):
            return "main"
        return str(data.get("target_branch") or "main") if isinstance(data, dict) else "main"

    def commit(self, message: str) -> None:
        subprocess.run(["git", "add", "-A"], check=True, capture_output=True)
        staged = subprocess.run(["git", "diff", "--cached", "--quiet"])
        if staged.returncode != 0:
            subprocess.run(["git", "commit", "-q", "-m", message], check=True, capture_output=True)
            self.say(f"⏺ committed: {message}")

    def times_seen(self, task_id: str, what: str) -> int:
        """How often this fault already happened to this agent on this task (survives crashes)."""
        counter = self.home / "sim" / self.agent / f"{what}-{task_id}"
        seen = int(counter.read_text()) if counter.exists() else 0
        counter.write_text(str(seen + 1))
        return seen

    def misbehave(self, task_id: str, behaviour: Behaviour) -> None:
        name, arg = behaviour.name, behaviour.arg
        if name == "slow":
            seconds = float(arg or 5)
            self.say(f"✻ thinking slowly for {seconds:.0f}s")
            time.sleep(seconds)
        elif name in ("hang", "crash"):
            limit = int(arg or 1)
            if self.times_seen(task_id, name) < limit:
                if name == "crash":
                    self.say("✗ simulated crash")
                    os._exit(3)
                self.say("✻ (hanging)")
                while True:
                    time.sleep(3600)
        elif name == "ask-permission":
            self.ask_permission(arg or "git push")
        elif name == "conflict":
            path = Path(arg or "CONFLICT.txt")
            path.write_text(f"changed by {self.agent} for {task_id}\n")

    def ask_permission(self, command: str) -> None:
        self.say(
            f" Bash command\n   {command}\n This command requires approval\n"
            " Do you want to proceed?\n ❯ 1. Yes\n   3. No"
        )
        self.report(
            "Notification",
            notification_type="permission_prompt",
            message="Claude needs your permission",
        )
        key = self.read_key()
        approved = key in (b"\r", b"\n", b"1", b"y")
        self.say("⏺ approved" if approved else "⏺ refused")
        self.report("PostToolUse", tool_name="Bash")
        if not approved:
            raise RuntimeError("permission refused")


def main() -> int:
    return SimAgent().run()


# The sim draws its own permission menu in Claude Code's words, and its input line last, so
# "busy" and "ready" are told apart by the line above that: what the sim said last.
SIM_PATTERNS = ScreenPatterns(
    waiting=(PERMISSION_QUESTION,),
    busy=(
        Pattern(
            r"^(⏺ received |⏺ working on |⏺ committed|⏺ approved|● sh |  ⎿ |✻ )",
            within=1,
            label="sim at work",
        ),
    ),
    ready=(
        Pattern(
            r"^(swarm sim agent: |⏺ \S+ done: |⏺ \S+ failed: |⏺ task "
            r"|nothing on my hook|✗ |⏺ refused)",
            within=1,
            label="sim at its prompt",
        ),
    ),
    prompt_command=BASH_COMMAND,
)


class SimRuntime(Runtime):
    """The built-in simulated agent: reports like Claude Code, needs no key."""

    name = "sim"
    description = "the built-in simulated agent (no API key; for demos and tests)"
    program = None
    key_required = False
    reports = True
    approve_keys = ("1",)
    refuse_keys = ("3",)
    patterns = SIM_PATTERNS
    normalisations = "none: it keeps every byte it is given"
    stand_in_environment = {"SWARM_SIM_NOTES": "0"}  # noqa: RUF012 (read-only)

    def argv(self, agent: AgentSpec, ctx: LaunchContext, binary: str) -> tuple[str, ...]:
        files = ("--files-tasks",) if agent.role.capabilities.files_tasks else ()
        return swarm_argv("agent", "sim", *files)

    def classify(self, screen: str) -> ScreenVerdict:
        lines = screen_lines(screen)
        if lines and lines[-1].startswith(PROMPT.rstrip()):
            screen = "\n".join(lines[:-1])
        return classify(self.patterns, screen)

    reads_input_line = True

    def input_pending(self, screen: str) -> bool:
        return is_input_pending(screen)

    def received(self, text: str) -> str:
        return text.replace(PASTE_END.decode(), "").strip()

    def run_agent(self) -> int:
        return main()
