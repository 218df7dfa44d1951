"""Claude Code as an agent runtime: its launch line, its own config folder, its hooks.

Everything Claude-specific lives here, in two halves:

- at plan time, `launch_argv` (pure: it writes nothing) builds the pane's argv,
  `swarm claude-start SETUP -- claude --settings … --append-system-prompt … PROMPT`, with the
  role's prompt, its permissions and an initial prompt naming the agent;
- in the pane, right before Claude starts, `start` (run by `swarm claude-start`) prepares
  the swarm-owned config folder `.swarm/claude/<agent>/` and then becomes Claude (exec), so
  `pane_current_command` names it and the pane's pid is Claude's.

Why the config is written in the pane and not while planning: it then runs on every start,
restarts included, with the pane's real environment (the API key to approve) in the pane's
real folder (the worktree to trust); and plans are loaded by many processes (witness,
refinery, `swarm validate`), none of which may rewrite a config a running Claude owns.

The config folder (CLAUDE_CONFIG_DIR) skips the start-up dialogs that otherwise leave an
agent sitting silently: first-run onboarding, folder trust, "use this API key?" and, where
a layout asks for bypass mode, its warning. Hooks and the guard come from a settings file
passed with `--settings`, so the person's repository and their own ~/.claude stay untouched.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from swarm.atomic import write_atomic
from swarm.errors import ConfigError
from swarm.resume import SessionPlan, plan_from_environment
from swarm.runtimes.base import (
    LaunchContext,
    Runtime,
    strip_escape_sequences,
    version_key,
)
from swarm.runtimes.patterns import (
    BASH_COMMAND,
    PERMISSION_QUESTION,
    Pattern,
    ScreenPatterns,
)

if TYPE_CHECKING:
    from swarm.plan import AgentSpec

# Claude Code's hook events the swarm listens to (each becomes `swarm report EVENT`, see
# swarm.reports), with their matcher (None: every one). A permission menu is reported by
# PermissionRequest the moment it appears; the Notification for the same menu comes ~6 s
# later (after the person may have answered), so only Notification's other kinds are taken,
# and a late one never marks an agent waiting again once approved. PostToolUse tells that
# an answered prompt's tool ran.
STATE_HOOKS: dict[str, str | None] = {
    "SessionStart": None,
    "UserPromptSubmit": None,
    "PermissionRequest": None,
    "PostToolUse": None,
    "Notification": "idle_prompt",
    "Stop": None,
    "SessionEnd": None,
}
# A turn ended by an API error (a rate or usage limit): reported where the version has it
# (seen on 2.1.332; left out of older settings, which may not know the event).
NEWER_HOOKS: dict[str, str | None] = {"StopFailure": None}
GUARD_EVENT = "PreToolUse"
HOOK_TIMEOUT = 30  # seconds; a hook is a short `python -m swarm …`
# Since 2.1.295 a hook entry may say that its failure or time-out blocks the tool call;
# before, a crashed or slow guard let the call through (fail-open).
BLOCK_ON_FAILURE_SINCE = "2.1.295"
# The oldest and newest versions the end-to-end suite runs (.ci/install-claude installs both).
TESTED_VERSIONS = ("2.1.197", "2.1.332")

# Where `.ci/install-claude` puts the npm package (under HOME) when `claude` is not on PATH.
CACHE_BIN = Path(".cache/swarm-claude/node_modules/.bin/claude")
BIN_ENV = "SWARM_CLAUDE_BIN"
# The role prompt travels on the pane's command line, and tmux refuses a command of more
# than 16 KiB; the rest of the line (flags, first message, setup) stays well under 4 KiB.
MAX_PROMPT_BYTES = 12_000
# What `lastOnboardingVersion` says when the installed version cannot be read.
KNOWN_VERSION = "2.1.197"

SETTINGS_NAME = "swarm-settings.json"  # ours, passed with --settings
GUARD_POLICY_NAME = "guard.json"
EDIT_TOOLS = ("Edit", "Write", "MultiEdit", "NotebookEdit")
API_KEY_TAIL = 20  # Claude Code remembers an approved key by its last 20 characters


def find_binary(env: Mapping[str, str] | None = None) -> str | None:
    """The `claude` to run: $SWARM_CLAUDE_BIN, else `claude` on PATH, else the CI cache."""
    env = os.environ if env is None else env
    given = env.get(BIN_ENV)
    if given:
        path = Path(given).expanduser()
        return str(path) if path.is_file() and os.access(path, os.X_OK) else None
    found = shutil.which("claude", path=env.get("PATH"))
    if found:
        return found
    cached = Path(env.get("HOME") or Path.home()) / CACHE_BIN
    return str(cached) if cached.is_file() and os.access(cached, os.X_OK) else None


def installed_version(binary: str) -> str | None:
    """The version of the Claude Code at `binary`, read from its files when possible.

    An npm install has a package.json next to the real script; a native install keeps
    each version in a folder named after it. Only as a last resort is Claude asked (slow).
    """
    real = Path(binary).resolve()
    for folder in (real.parent, *real.parents[:4]):
        manifest = folder / "package.json"
        if manifest.is_file():
            try:
                data = json.loads(manifest.read_text())
            except (OSError, ValueError):
                break
            if data.get("name") == "@anthropic-ai/claude-code":
                return str(data.get("version") or "") or None
    if re.fullmatch(r"\d+\.\d+\.\d+", real.name):
        return real.name
    try:
        out = subprocess.run(
            [binary, "--version"], capture_output=True, text=True, timeout=20
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.search(r"\d+\.\d+\.\d+", out)
    return match.group(0) if match else None


def config_dir(state_dir: Path, agent: str) -> Path:
    """The agent's own CLAUDE_CONFIG_DIR: its sessions, settings and login live here."""
    return state_dir / "claude" / agent


# ---------------------------------------------------------------------------- plan time


@dataclass(frozen=True)
class ClaudeSetup:
    """What the pane prepares before Claude starts; travels as one JSON argument."""

    config_dir: str
    trust: tuple[str, ...]  # folders marked trusted (the pane's own folder is added)
    python: str  # the interpreter the hooks run `-m swarm` with
    guard_root: str  # the folder the agent's commands must stay in
    guard_deny: tuple[str, ...]  # the role's guard.deny patterns
    repo: str  # the person's checkout: never written outside guard_root, even under /tmp
    bypass: bool  # --dangerously-skip-permissions was asked for
    bin_dir: str  # a `swarm` shim for this installation goes here, first on PATH

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> ClaudeSetup:
        data = json.loads(text)
        data["trust"] = tuple(data.get("trust", ()))
        data["guard_deny"] = tuple(data.get("guard_deny", ()))
        return cls(**data)


def prompt_values(agent: AgentSpec, repo: Path, worktree: Path | None) -> dict[str, str]:
    """Placeholders of the role prompt, filled once per session.

    A session outlives many tasks, so the task placeholders name where to look instead.
    """
    return {
        "agent": agent.name,
        "role": agent.role.name,
        "repo": str(repo),
        "worktree": str(worktree or repo),
        "task_id": "the task on your hook",
        "task_title": "run `swarm task current` to see it",
        "branch": "swarm/<task id>",
    }


DEFAULT_FIRST_MESSAGE = (
    "You are {agent}, the swarm's {role}. Run `swarm task current` to see what is on your "
    "hook, and work on it if there is something; otherwise wait for a message."
)


def initial_prompt(agent: AgentSpec) -> str:
    """The first message: who the agent is and where its work comes from (the role's own)."""
    from swarm.config.roles import render_prompt

    template = agent.role.first_message or DEFAULT_FIRST_MESSAGE
    values = {"agent": agent.name, "role": agent.role.name}
    return render_prompt(" ".join(template.split()), values)


def gate_tools(gate: Sequence[str]) -> tuple[str, ...]:
    """`Bash(cmd:*)` rules for each command of the layout's gate (split at && ; ||)."""
    rules: list[str] = []
    for line in gate:
        for part in re.split(r"&&|\|\||;", line):
            part = part.strip()
            if part:
                rules.append(f"Bash({part}:*)")
    return tuple(dict.fromkeys(rules))


def permission_args(agent: AgentSpec, gate: Sequence[str]) -> tuple[str, ...]:
    """The role's permissions as Claude Code flags.

    Bypass mode (every prompt skipped) only when the role or layout sets
    `permissions.skip_permissions`; otherwise edits are accepted when the role allows the
    edit tools, and the role's allow list plus the gate's commands run without asking.
    """
    perms = agent.role.permissions
    if perms.skip_permissions:
        args: list[str] = ["--dangerously-skip-permissions"]
    else:
        mode = "acceptEdits" if any(t in perms.allow for t in EDIT_TOOLS) else "default"
        args = ["--permission-mode", mode]
    allow = list(perms.allow)
    if agent.role.capabilities.runs_gate:
        allow += gate_tools(gate)
    if allow:
        args += ["--allowedTools", ",".join(dict.fromkeys(allow))]
    if perms.deny:
        args += ["--disallowedTools", ",".join(perms.deny)]
    return tuple(args)


def claude_argv(
    binary: str,
    agent: AgentSpec,
    *,
    settings: Path,
    repo: Path,
    worktree: Path | None,
    gate: Sequence[str] = (),
) -> tuple[str, ...]:
    """`claude …` for one agent. The initial prompt comes after `--`, so no variadic flag
    (`--allowedTools a b …`) can swallow it."""
    from swarm.config.roles import render_prompt

    argv = [binary, "--settings", str(settings)]
    system = render_prompt(agent.role.prompt, prompt_values(agent, repo, worktree)).strip()
    size = len(system.encode())
    if size > MAX_PROMPT_BYTES:
        where = agent.role.source or f"role {agent.role.name}"
        raise ConfigError(
            f"{where}: the prompt is {size} bytes; Claude Code agents take at most "
            f"{MAX_PROMPT_BYTES} (it travels on the pane's command line)"
        )
    if system:
        argv += ["--append-system-prompt", system]
    argv += permission_args(agent, gate)
    return (*argv, "--", initial_prompt(agent))


def launch_argv(
    agent: AgentSpec,
    *,
    binary: str,
    state_dir: Path,
    repo: Path,
    worktree: Path | None,
    gate: Sequence[str] = (),
    python: str | None = None,
) -> tuple[str, ...]:
    """The pane's argv: prepare the config folder, then become Claude."""
    python = python or sys.executable
    folder = config_dir(state_dir, agent.name)
    setup = ClaudeSetup(
        config_dir=str(folder),
        trust=tuple(dict.fromkeys(str(p) for p in (repo, worktree) if p is not None)),
        python=python,
        guard_root=str(worktree or repo),
        guard_deny=agent.role.guard_deny,
        repo=str(repo),
        bypass=agent.role.permissions.skip_permissions,
        bin_dir=str(state_dir / "bin"),
    )
    claude = claude_argv(
        binary, agent, settings=folder / SETTINGS_NAME, repo=repo, worktree=worktree, gate=gate
    )
    return (python, "-m", "swarm", "claude-start", setup.to_json(), "--", *claude)


# ----------------------------------------------------------------------------- pane time


def hook_command(python: str, *args: str) -> str:
    return shlex.join([python, "-m", "swarm", *args])


def hook_settings(python: str, guard_policy: Path, version: str | None = None) -> dict[str, Any]:
    """The `--settings` file: each state event reports to `swarm report`, and every tool call
    passes `swarm guard` first (it refuses with exit code 2 and a reason on stderr); on
    versions that can, a guard that fails or times out blocks the call too."""

    def entry(command: str, matcher: str | None = None, block: bool = False) -> list[Any]:
        hook: dict[str, Any] = {"type": "command", "command": command, "timeout": HOOK_TIMEOUT}
        if block:
            hook["onFailure"] = "block"
        group: dict[str, Any] = {"hooks": [hook]}
        if matcher is not None:
            group["matcher"] = matcher
        return [group]

    newer = version is not None and version_key(version) >= version_key(BLOCK_ON_FAILURE_SINCE)
    events = {**STATE_HOOKS, **(NEWER_HOOKS if newer else {})}
    hooks = {event: entry(hook_command(python, "report", event), m) for event, m in events.items()}
    block = newer
    guard = hook_command(python, "guard", "--policy", str(guard_policy))
    hooks[GUARD_EVENT] = entry(guard, "*", block=block)
    return {"hooks": hooks}


def claude_json(
    existing: Mapping[str, Any], *, version: str, trust: Sequence[str], api_key: str | None
) -> dict[str, Any]:
    """`.claude.json` with the first-run, trust and API-key questions already answered.

    Claude Code keeps its own keys in the same file; they are kept as they are.
    """
    data = dict(existing)
    data["hasCompletedOnboarding"] = True
    data.setdefault("lastOnboardingVersion", version)
    data.setdefault("theme", "dark")
    projects = dict(data.get("projects") or {})
    for folder in trust:
        entry = dict(projects.get(folder) or {})
        entry["hasTrustDialogAccepted"] = True
        entry.setdefault("hasCompletedProjectOnboarding", True)
        projects[folder] = entry
    data["projects"] = projects
    if api_key:
        responses = dict(data.get("customApiKeyResponses") or {})
        tail = api_key[-API_KEY_TAIL:]
        approved = [k for k in responses.get("approved") or [] if k != tail]
        responses["approved"] = [*approved, tail]
        responses["rejected"] = [k for k in responses.get("rejected") or [] if k != tail]
        data["customApiKeyResponses"] = responses
    return data


def write_json(path: Path, data: Mapping[str, Any]) -> None:
    """Atomically (a Claude starting at the same moment never reads half a file), 0600."""
    write_atomic(path, json.dumps(data, indent=2) + "\n", mode=0o600)


def read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def write_swarm_shim(bin_dir: Path, python: str) -> Path:
    """`swarm` on the agent's PATH runs this same installation, whatever PATH held."""
    shim = bin_dir / "swarm"
    text = f'#!/bin/sh\nexec {shlex.quote(python)} -m swarm "$@"\n'
    if not shim.is_file() or shim.read_text() != text:
        write_atomic(shim, text, mode=0o755)
    return shim


def link_login(folder: Path, home: Path) -> None:
    """A person logged in to Claude (no API key) keeps that login in every agent.

    The credentials file is linked, never read or copied, so a token Claude refreshes in
    one place is fresh everywhere.
    """
    own = home / ".claude" / ".credentials.json"
    mine = folder / ".credentials.json"
    if own.is_file() and not mine.exists() and not mine.is_symlink():
        mine.symlink_to(own)


def prepare(setup: ClaudeSetup, cwd: Path, env: Mapping[str, str], binary: str) -> dict[str, str]:
    """Write the agent's config folder; return the environment Claude must start with."""
    folder = Path(setup.config_dir)
    folder.mkdir(parents=True, exist_ok=True)
    trust = [*setup.trust, str(cwd)]
    trust += [str(Path(p).resolve()) for p in trust]
    version = installed_version(binary) or KNOWN_VERSION
    api_key = env.get("ANTHROPIC_API_KEY")
    state = claude_json(
        read_json(folder / ".claude.json"),
        version=version,
        trust=list(dict.fromkeys(trust)),
        api_key=api_key,
    )
    write_json(folder / ".claude.json", state)
    policy = folder / GUARD_POLICY_NAME
    write_json(
        policy,
        {"root": setup.guard_root, "deny": list(setup.guard_deny), "protected": [setup.repo]},
    )
    write_json(folder / SETTINGS_NAME, hook_settings(setup.python, policy, version))
    settings = read_json(folder / "settings.json")
    if setup.bypass and not settings.get("skipDangerousModePermissionPrompt"):
        settings["skipDangerousModePermissionPrompt"] = True
        write_json(folder / "settings.json", settings)
    if not api_key and not env.get("ANTHROPIC_AUTH_TOKEN"):
        link_login(folder, Path(env.get("HOME") or Path.home()))
    write_swarm_shim(Path(setup.bin_dir), setup.python)

    changes = {
        "CLAUDE_CONFIG_DIR": str(folder),
        "PATH": os.pathsep.join([setup.bin_dir, env.get("PATH", os.defpath)]),
        # 30 agents must not each update the CLI under each other; the person updates it.
        "DISABLE_AUTOUPDATER": env.get("DISABLE_AUTOUPDATER", "1"),
        # The pane's title is the agent's name; Claude would set it to the session's topic.
        "CLAUDE_CODE_DISABLE_TERMINAL_TITLE": env.get("CLAUDE_CODE_DISABLE_TERMINAL_TITLE", "1"),
    }
    if setup.bypass and os.geteuid() == 0:
        # Claude Code refuses bypass mode as root unless told it runs in a sandbox.
        changes["IS_SANDBOX"] = "1"
    return changes


def with_session(argv: Sequence[str], plan: SessionPlan | None) -> list[str]:
    """The plan's argv, reopening the agent's own conversation when `plan` says so (its
    first message, after `--`, replaced by the plan's)."""
    argv = list(argv)
    if plan is None or plan.resume is None:
        return argv
    cut = argv.index("--") if "--" in argv else len(argv)
    message = [plan.message] if plan.message else argv[cut + 1 :]
    return [*argv[:cut], "--resume", plan.resume, "--", *message]


def start(setup_json: str, argv: Sequence[str]) -> NoReturn:
    """`swarm claude-start`: prepare, then become Claude. If that fails, say so and stay."""
    try:
        setup = ClaudeSetup.from_json(setup_json)
        changes = prepare(setup, Path.cwd(), os.environ, argv[0])
        os.environ.update(changes)
        argv = with_session(argv, plan_from_environment(os.environ))
        os.execvp(argv[0], list(argv))
    except (OSError, ValueError, TypeError, KeyError) as exc:
        print(f"swarm: cannot start Claude Code ({argv[0] if argv else '?'}): {exc}", flush=True)
        print("Run `swarm doctor` for help.", flush=True)
        os.execvp("sleep", ["sleep", "2147483647"])


# ------------------------------------------------------------------------------- screens


@dataclass(frozen=True)
class StartupDialog:
    """A dialog Claude Code shows before it takes any work, and the keys that pass it."""

    name: str
    pattern: str
    keys: tuple[str, ...]  # what the swarm sends to get past it; () when only a person can
    advice: str


# Seen with Claude Code 2.1 (tests/fixtures/screens/claude-*/dialogs/). The config folder
# prepared above avoids all of them; these let the witness recognise and explain one.
STARTUP_DIALOGS: tuple[StartupDialog, ...] = (
    StartupDialog(
        "onboarding",
        r"Unable to connect to Anthropic services|Choose the text style|Select login method",
        (),
        "first-run onboarding: the config folder was not prepared (or the API is unreachable)",
    ),
    StartupDialog(
        "trust",
        r"Yes, I trust this folder|Do you trust the files in this folder\?",
        ("Enter",),
        "the folder trust dialog",
    ),
    StartupDialog(
        "api-key",
        r"Do you want to use this API key\?",
        ("1",),
        "the 'use this API key?' question (option 1 accepts it)",
    ),
    StartupDialog(
        "bypass-warning",
        r"Bypass Permissions mode|Yes, I accept",
        ("2",),
        "the bypass-permissions warning (option 2 accepts it)",
    ),
    StartupDialog(
        "root-refused",
        r"cannot be used with root/sudo privileges",
        (),
        "bypass mode refused as root: IS_SANDBOX=1 is missing",
    ),
)


def detect_startup_dialog(screen: str) -> StartupDialog | None:
    """The start-up dialog on `screen`, if Claude Code is stuck at one."""
    for dialog in STARTUP_DIALOGS:
        if re.search(dialog.pattern, screen):
            return dialog
    return None


_MENU_ITEM = re.compile(r"^❯\s*\d+\.\s")
_RULE = re.compile(r"^─{8,}$")


def input_line(screen: str) -> str | None:
    """The text in Claude Code's input box (`❯ ` right under a rule), or None if no box
    is on screen (a permission menu or a start-up dialog replaces it)."""
    lines = [line.replace("\u00a0", " ").strip() for line in screen.splitlines()]
    for index in range(len(lines) - 1, 0, -1):
        line = lines[index]
        if not line.startswith("❯") or _MENU_ITEM.match(line):
            continue
        if _RULE.match(lines[index - 1]):
            text = line[1:].strip()
            # The empty box's hint while messages wait behind a running turn.
            return "" if text == QUEUED_HINT else text
    return None


def is_input_pending(screen: str) -> bool:
    """Text still sits in the input box (a menu's `❯ 1. Yes` is not input)."""
    return bool(input_line(screen))


def main_start(argv: Sequence[str]) -> NoReturn:
    """Entry used by the CLI: `swarm claude-start SETUP -- claude …`."""
    setup, rest = argv[0], list(argv[1:])
    if rest and rest[0] == "--":
        rest = rest[1:]
    start(setup, rest)


# ------------------------------------------------------------------------------ runtime

# From docs/claude-code.md: the permission menu (three or four options) and the first-run
# dialogs, the spinner line while a turn runs, and the input line between two rules when
# ready. Golden captures of each tested version are in tests/fixtures/screens/claude*/.
CLAUDE_PATTERNS = ScreenPatterns(
    waiting=(
        PERMISSION_QUESTION,
        Pattern(r"Do you want to use this API key\?", within=12, label="API key question"),
        Pattern(r"Do you trust the files in this folder\?", within=12, label="trust question"),
        Pattern(r"Yes, I accept", within=8, label="bypass-permissions warning"),
        Pattern(r"Yes, proceed", within=8, label="confirmation menu"),
        Pattern(r"Yes, I trust this folder|Quick safety check", within=12, label="trust question"),
    ),
    busy=(
        Pattern(r"esc to interrupt", within=8, label="spinner (esc to interrupt)"),
        Pattern(r"^\s*[✻✶✳✢✽·*]\s+\w+…", within=8, label="spinner"),
        Pattern(r"⎿\s+(Running|Waiting)…", within=8, label="tool running"),
    ),
    ready=(
        # The empty input line (`❯` alone once tmux trims it), never a menu's `❯ 1. Yes`.
        Pattern(r"^\s*❯(?!\s*\d+\.)(\s|$)", within=6, label="input line"),
        Pattern(
            r"\? for shortcuts|accept edits on|bypass permissions on|plan mode on",
            within=4,
            label="footer",
        ),
    ),
    prompt_command=BASH_COMMAND,
    # "✻ API error · retrying in 20s · attempt 1/10" (2.1.197 writes "Retrying"): in an
    # interactive session nothing else tells of a retried 429, not even the transcript.
    backoff=r"API error · [Rr]etrying in (?P<wait>\d+)s\b",
    # its messages (`● API Error: …`), tool results (`⎿`) and spinner line; what was typed
    # to it is echoed after `❯` and indented below it
    said=r"^\s*[●⎿✻✶✳✢✽·*]\s",
)

# Text Claude Code would take as a command of its own: `/` a slash command (even after
# blanks: 2.1.3xx trims them), `!` bash mode, `#` memory (older versions). A Markdown escape
# keeps the text a message. A trailing backslash before Enter continues the line; a blank
# after it (trimmed by Claude Code) keeps the backslash.
_COMMAND_START = ("/", "!", "#")
_ZERO_WIDTH = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff"))
_PASTED = re.compile(r'<pasted_content id="([^"]*)">\n(.*?)\n</pasted_content id="\1">', re.S)
QUEUED_MARK = "queued messages"
QUEUED_HINT = "Press up to edit queued messages"  # drawn in the empty input box


class ClaudeRuntime(Runtime):
    """Claude Code: exact state through its hooks, its own config folder, resumable."""

    name = "claude"
    description = "Claude Code (npm: @anthropic-ai/claude-code)"
    program = "claude"
    install_hint = "npm install -g @anthropic-ai/claude-code (or set SWARM_CLAUDE_BIN to its path)"
    key_variables = (
        "ANTHROPIC_API_KEY",
        "ANTHROPIC_AUTH_TOKEN",
        "CLAUDE_CODE_USE_BEDROCK",
        "CLAUDE_CODE_USE_VERTEX",
    )
    login_file = ".claude/.credentials.json"
    tested_versions = TESTED_VERSIONS
    reports = True
    startup_turn = True
    restores_task = True
    approve_keys = ("Enter",)
    refuse_keys = ("Escape",)
    refusal_ends_turn = True  # "Interrupted · What should Claude do instead?"
    patterns = CLAUDE_PATTERNS
    normalisations = (
        "CRLF becomes LF, tabs become four spaces, escape sequences and zero-width characters "
        "are removed, surrounding blanks are trimmed; a leading / ! or # gets a backslash "
        "(so it is not a command) and a trailing backslash a blank (so it is kept)"
    )

    def find(self, env: Mapping[str, str] | None = None) -> str | None:
        return find_binary(env)

    def version(self, binary: str) -> str | None:
        return installed_version(binary)

    def missing(self, env: Mapping[str, str]) -> str:
        given = env.get(BIN_ENV)
        return f"{BIN_ENV}={given} is not an executable" if given else "not found on PATH"

    def argv(self, agent: AgentSpec, ctx: LaunchContext, binary: str) -> tuple[str, ...]:
        return launch_argv(
            agent,
            binary=binary,
            state_dir=ctx.state_dir,
            repo=ctx.repo,
            worktree=ctx.worktree,
            gate=ctx.gate,
        )

    reads_input_line = True

    def input_pending(self, screen: str) -> bool:
        return is_input_pending(screen)

    def queued(self, screen: str) -> bool:
        return QUEUED_MARK in screen

    def as_text(self, text: str) -> str:
        body = text
        if body.lstrip()[:1] in _COMMAND_START:
            body = "\\" + body.lstrip()
        if body.rstrip().endswith("\\"):
            body = body.rstrip() + " "
        return body

    def received(self, text: str) -> str:
        text = strip_escape_sequences(text.replace("\r\n", "\n").replace("\r", "\n"))
        return text.translate(_ZERO_WIDTH).replace("\t", "    ").strip()

    def prompt_of(self, reported: str) -> str:
        return _PASTED.sub(lambda m: m.group(2), reported).strip()


__all__ = [
    "STARTUP_DIALOGS",
    "ClaudeRuntime",
    "ClaudeSetup",
    "StartupDialog",
    "claude_argv",
    "config_dir",
    "detect_startup_dialog",
    "find_binary",
    "hook_settings",
    "input_line",
    "is_input_pending",
    "launch_argv",
    "prepare",
    "start",
]
