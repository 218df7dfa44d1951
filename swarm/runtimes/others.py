"""The runtimes besides Claude Code and the sim: codex, gemini, aider, any `command`, and
the swarm's own `builtin` loops.

None of the CLIs reports its state the way Claude Code does, so for each the swarm keeps
two things here: the launch line (the role's prompt and permissions turned into that CLI's
flags) and the look of its screen when it is ready, busy, or waiting for a person (the
witness's fallback; see `swarm.runtimes.patterns`). The screen patterns are written from
each CLI's documentation and public screenshots, not yet from golden captures as Claude
Code's are: prefer Claude Code where exact state matters.
"""

from __future__ import annotations

from pathlib import Path

from swarm.errors import ConfigError
from swarm.plan import AgentSpec
from swarm.runtimes.base import LaunchContext, Runtime, swarm_argv
from swarm.runtimes.claude import EDIT_TOOLS
from swarm.runtimes.patterns import Pattern, ScreenPatterns


def first_message(agent: AgentSpec, repo: Path, worktree: Path | None) -> str:
    """Role prompt and introduction in one message, for CLIs without a system-prompt flag."""
    from swarm.config.roles import render_prompt
    from swarm.runtimes.claude import initial_prompt, prompt_values

    role = render_prompt(agent.role.prompt, prompt_values(agent, repo, worktree)).strip()
    intro = initial_prompt(agent)
    return f"{role}\n\n{intro}" if role else intro


def edits_allowed(agent: AgentSpec) -> bool:
    return any(t in agent.role.permissions.allow for t in EDIT_TOOLS)


def codex_argv(
    program: str, agent: AgentSpec, repo: Path, worktree: Path | None
) -> tuple[str, ...]:
    """OpenAI Codex CLI: sandboxed to the worktree, asking before anything else."""
    if agent.role.permissions.skip_permissions:
        flags: tuple[str, ...] = ("--dangerously-bypass-approvals-and-sandbox",)
    elif edits_allowed(agent):
        flags = ("--sandbox", "workspace-write", "--ask-for-approval", "on-request")
    else:
        flags = ("--sandbox", "read-only", "--ask-for-approval", "on-request")
    return (program, *flags, first_message(agent, repo, worktree))


def gemini_argv(
    program: str, agent: AgentSpec, repo: Path, worktree: Path | None
) -> tuple[str, ...]:
    """Google Gemini CLI: `-i` runs the first message and stays interactive."""
    if agent.role.permissions.skip_permissions:
        mode = "yolo"
    else:
        mode = "auto_edit" if edits_allowed(agent) else "default"
    return (
        program,
        "--approval-mode",
        mode,
        "--prompt-interactive",
        first_message(agent, repo, worktree),
    )


def aider_argv(
    program: str, agent: AgentSpec, repo: Path, worktree: Path | None
) -> tuple[str, ...]:
    """Aider: no first message (it would exit after it); tasks arrive typed, as for all.

    `--no-gitignore` keeps it from asking to edit the person's .gitignore at start.
    """
    flags = ["--no-gitignore", "--no-check-update", "--no-show-release-notes", "--no-pretty"]
    if agent.role.permissions.skip_permissions:
        flags.append("--yes-always")
    return (program, *flags)


# ------------------------------------------------------------------------ screen patterns
# Same shapes as swarm.runtimes.patterns (waiting beats busy beats ready).

CODEX = ScreenPatterns(
    waiting=(
        Pattern(
            r"Would you like to (run the following command|make the following edits)\?",
            within=12,
            label="approval question",
        ),
        Pattern(r"Allow command\?|Approve\?|Yes, proceed", within=10, label="approval menu"),
    ),
    busy=(
        Pattern(r"\bWorking \(\d+s", within=8, label="working (timer)"),
        Pattern(r"[Ee]sc to interrupt", within=8, label="esc to interrupt"),
    ),
    ready=(
        Pattern(r"⏎ send|\? for shortcuts|context left", within=4, label="composer footer"),
        Pattern(r"^\s*▌", within=6, label="composer"),
    ),
    prompt_command=(r"^\s*\$\s+(\S.*?)\s*$",),
)

GEMINI = ScreenPatterns(
    waiting=(
        Pattern(r"Allow execution of", within=12, label="allow execution question"),
        Pattern(r"Apply this change\?", within=12, label="apply change question"),
        Pattern(r"[●❯>]\s*1\.\s*(Yes, allow once|Allow once)", within=8, label="approval menu"),
    ),
    busy=(
        Pattern(r"\(esc to cancel", within=8, label="esc to cancel"),
        Pattern(r"^\s*[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏]\s", within=6, label="spinner"),
    ),
    ready=(
        Pattern(r"Type your message", within=6, label="input placeholder"),
        Pattern(r"^\s*>\s", within=4, label="input prompt"),
    ),
    prompt_command=(r"Allow execution of:?\s*'?([^'?]+)'?\??",),
)

AIDER = ScreenPatterns(
    waiting=(Pattern(r"\(Y\)es/\(N\)o.*\[(Yes|No)\]:\s*$", within=3, label="yes/no question"),),
    busy=(
        Pattern(r"Waiting for .*", within=3, label="waiting for the model"),
        Pattern(r"^\s*[░█▒]{3,}", within=3, label="progress bar"),
    ),
    ready=(Pattern(r"^(architect|ask|code|help|multi)?>\s*$", within=1, label="aider prompt"),),
    prompt_command=(r"Run shell command\?\s*(.*?)\s*\(Y\)es",),
)


class CodexRuntime(Runtime):
    name = "codex"
    description = "OpenAI Codex CLI"
    program = "codex"
    install_hint = "npm install -g @openai/codex"
    key_variables = ("OPENAI_API_KEY",)
    login_file = ".codex/auth.json"
    approve_keys = ("y",)
    refuse_keys = ("Escape",)
    patterns = CODEX

    def argv(self, agent: AgentSpec, ctx: LaunchContext, binary: str) -> tuple[str, ...]:
        return codex_argv(binary, agent, ctx.repo, ctx.worktree)


class GeminiRuntime(Runtime):
    name = "gemini"
    description = "Google Gemini CLI"
    program = "gemini"
    install_hint = "npm install -g @google/gemini-cli"
    key_variables = ("GEMINI_API_KEY", "GOOGLE_API_KEY", "GOOGLE_GENAI_USE_VERTEXAI")
    login_file = ".gemini/oauth_creds.json"
    approve_keys = ("Enter",)
    refuse_keys = ("Escape",)
    patterns = GEMINI

    def argv(self, agent: AgentSpec, ctx: LaunchContext, binary: str) -> tuple[str, ...]:
        return gemini_argv(binary, agent, ctx.repo, ctx.worktree)


class AiderRuntime(Runtime):
    name = "aider"
    description = "Aider"
    program = "aider"
    install_hint = "python -m pip install aider-install && aider-install"
    key_variables = (
        "ANTHROPIC_API_KEY",
        "OPENAI_API_KEY",
        "GEMINI_API_KEY",
        "OPENROUTER_API_KEY",
        "DEEPSEEK_API_KEY",
    )
    key_required = False
    approve_keys = ("y", "Enter")
    refuse_keys = ("n", "Enter")
    patterns = AIDER

    def argv(self, agent: AgentSpec, ctx: LaunchContext, binary: str) -> tuple[str, ...]:
        return aider_argv(binary, agent, ctx.repo, ctx.worktree)


class CommandRuntime(Runtime):
    """Any program, from the role's `command` list; judged by the generic screen patterns."""

    name = "command"
    description = "any program: the role's `command` list"
    key_required = False
    uses_role_command = True

    def argv(self, agent: AgentSpec, ctx: LaunchContext, binary: str) -> tuple[str, ...]:
        if not agent.role.command:
            raise ConfigError(f"role {agent.role.name}: runtime 'command' needs a 'command' list")
        return agent.role.command


class BuiltinRuntime(Runtime):
    """The swarm's own deterministic loops (`swarm witness`, `swarm refinery`): no agent."""

    name = "builtin"
    description = "a swarm loop run by the role's name (witness, refinery)"
    key_required = False
    builtin_loop = True

    def argv(self, agent: AgentSpec, ctx: LaunchContext, binary: str) -> tuple[str, ...]:
        if agent.role.loop is None:
            raise ConfigError(f"role {agent.role.name}: runtime 'builtin' needs a 'loop'")
        return swarm_argv(agent.role.loop)
