"""The guard: refuses an agent's tool call before it runs (Claude Code's PreToolUse hook).

Claude Code runs `swarm guard` with the tool call as JSON on stdin; exit code 2 blocks the
call and the text on stderr is shown to the model as the reason (Anthropic's documented
hook contract; any other non-zero code would only be reported, and the call would run).

What it refuses, for every role:
- leaving the agent's folder (its worktree; the repository for other roles): `cd`/`pushd`
  elsewhere, `git -C`/`--work-tree`/`--git-dir` elsewhere, writes (redirections, `rm`,
  `mv`, `cp`, `tee`, `touch`, `Write`/`Edit` tools …) to paths outside it, temp folders
  excepted;
- force pushes (`git push -f`, `--force`, `--force-with-lease`, `+refspec`);
- the role's own `guard.deny` patterns (fnmatch, against each simple command and the
  whole command line).

It reads shell like a careful person, not like a shell: it is a seat belt against an agent
wandering off, not a sandbox against one that tries to escape (`python -c …` can write
anywhere). Its rules are plain code so they can be tested one by one.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shlex
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from swarm import envnames, paths

OPERATORS = frozenset({";", "&&", "||", "|", "&", "|&", "\n", "(", ")", ";;"})
# Commands whose arguments are paths they change, and those where only the last one is.
WRITES_ALL = frozenset(
    {
        "rm",
        "rmdir",
        "mv",
        "touch",
        "mkdir",
        "tee",
        "truncate",
        "shred",
        "unlink",
        "chmod",
        "chown",
        "chgrp",
    }
)
WRITES_LAST = frozenset({"cp", "ln", "install", "rsync"})
WRAPPERS = frozenset({"sudo", "env", "command", "nohup", "time", "nice", "exec", "builtin"})
EDIT_TOOLS = {
    "Write": "file_path",
    "Edit": "file_path",
    "MultiEdit": "file_path",
    "NotebookEdit": "notebook_path",
}
GIT_OPTIONS_WITH_VALUE = frozenset(
    {"-C", "-c", "--git-dir", "--work-tree", "--namespace", "--exec-path"}
)


def default_writable() -> tuple[str, ...]:
    """Where any agent may write besides its own folder: temp folders and the null device."""
    places = {
        tempfile.gettempdir(),
        "/tmp",
        "/var/tmp",
        "/dev/null",
        "/dev/stdout",
        "/dev/stderr",
        "/dev/tty",
        "/dev/fd",
    }
    return tuple(sorted(places))


@dataclass(frozen=True)
class GuardPolicy:
    """The folder an agent must stay in and the command patterns its role forbids.

    `protected` is the person's repository: temp folders are open to every agent, except
    where the repository itself lives under one (a checkout in /tmp is still the person's).
    """

    root: str
    deny: tuple[str, ...] = ()
    protected: tuple[str, ...] = ()
    writable: tuple[str, ...] = field(default_factory=default_writable)

    @classmethod
    def load(cls, path: Path) -> GuardPolicy:
        data = json.loads(path.read_text())
        return cls(
            root=str(data["root"]),
            deny=tuple(data.get("deny") or ()),
            protected=tuple(data.get("protected") or ()),
        )

    def allows(self, path: str) -> bool:
        """`path` is in the agent's folder, or in a temp folder outside the repository."""
        if inside(path, (self.root,)):
            return True
        if inside(path, self.protected):
            return False
        return inside(path, self.writable)


@dataclass(frozen=True)
class Ruling:
    """The guard's answer to one tool call: allowed, or refused with the reason shown."""

    allowed: bool
    reason: str = ""


ALLOW = Ruling(True)


def _variants(path: str) -> set[str]:
    return {os.path.normpath(path), os.path.realpath(path)}


def inside(path: str, folders: Iterable[str]) -> bool:
    """`path` is one of `folders` or below one (symlinks resolved or not)."""
    for candidate in _variants(path):
        for folder in folders:
            for base in _variants(folder):
                if candidate == base or candidate.startswith(base.rstrip(os.sep) + os.sep):
                    return True
    return False


def resolve(word: str, cwd: str, env: Mapping[str, str]) -> str:
    """A shell word as an absolute path: `~` and `$VARS` expanded, relative to `cwd`."""
    home = env.get("HOME", str(Path.home()))
    if word == "~" or word.startswith("~/"):
        word = home + word[1:]
    word = re.sub(r"\$\{?(\w+)\}?", lambda m: env.get(m.group(1), m.group(0)), word)
    return os.path.normpath(os.path.join(cwd, word))


def drop_heredocs(command: str) -> str:
    """The command line without heredoc bodies: they are data, not commands."""
    kept: list[str] = []
    waiting: list[str] = []
    for line in command.split("\n"):
        if waiting:
            if line.strip() == waiting[0]:
                waiting.pop(0)
            continue
        kept.append(line)
        waiting += [m.group(2) for m in re.finditer(r"(?<!<)<<-?(?!<)\s*(['\"]?)(\w+)\1", line)]
    return "\n".join(kept)


def split_commands(command: str) -> list[list[str]]:
    """The simple commands of a command line: words split at operators, heredoc bodies
    dropped."""
    command = drop_heredocs(command)
    try:
        lexer = shlex.shlex(command, posix=True, punctuation_chars=";&|<>()\n")
        lexer.whitespace_split = True
        lexer.whitespace = " \t\r"
        tokens = list(lexer)
    except ValueError:  # unbalanced quotes: fall back to words
        tokens = command.replace(";", " ; ").replace("&&", " && ").split()
    commands: list[list[str]] = [[]]
    for token in tokens:
        if token in OPERATORS:
            commands.append([])
        else:
            commands[-1].append(token)
    return [words for words in commands if words]


def _assignments_dropped(words: Sequence[str]) -> list[str]:
    """`FOO=1 BAR=2 cmd …` -> `cmd …`."""
    i = 0
    while i < len(words) and re.fullmatch(r"[A-Za-z_]\w*=.*", words[i]):
        i += 1
    return list(words[i:])


def unwrapped(words: Sequence[str]) -> list[str]:
    """The command that really runs: assignments and wrappers (`sudo -u x`, `env`) dropped."""
    words = _assignments_dropped(words)
    i = 0
    while i < len(words):
        word = words[i]
        if re.fullmatch(r"[A-Za-z_]\w*=.*", word):
            i += 1
        elif word in WRAPPERS and i + 1 < len(words):
            i += 1
            while i < len(words) and words[i].startswith("-"):  # `sudo -u x`, `env -i`
                i += 1
        else:
            break
    return words[i:]


def _redirect_targets(words: Sequence[str]) -> tuple[list[str], list[str]]:
    """(the words without redirections, the files written by `>`, `>>`, `&>` …)."""
    rest: list[str] = []
    targets: list[str] = []
    skip = False
    for i, word in enumerate(words):
        if skip:
            skip = False
            continue
        if word and set(word) <= set("<>&|") and ">" in word:
            skip = True
            if i + 1 < len(words):
                target = words[i + 1]
                duplicating = word.endswith("&") and re.fullmatch(r"\d+|-", target)
                if not duplicating:
                    targets.append(target)
            continue
        if word in ("<", "<<", "<<-", "<<<"):
            skip = True
            continue
        rest.append(word)
    return rest, targets


def _git_parts(words: Sequence[str]) -> tuple[dict[str, str], str | None, list[str]]:
    """git's global options, its subcommand and that subcommand's arguments."""
    options: dict[str, str] = {}
    i = 1
    while i < len(words) and words[i].startswith("-"):
        word = words[i]
        name, eq, value = word.partition("=")
        if name in GIT_OPTIONS_WITH_VALUE and not eq:
            options[name] = words[i + 1] if i + 1 < len(words) else ""
            i += 2
            continue
        options[name] = value
        i += 1
    if i >= len(words):
        return options, None, []
    return options, words[i], list(words[i + 1 :])


def is_force_push(args: Sequence[str]) -> bool:
    for arg in args:
        if arg in ("-f", "--force", "--force-if-includes") or arg.startswith("--force-with-lease"):
            return True
        if re.fullmatch(r"-[a-zA-Z]*f[a-zA-Z]*", arg):
            return True
        if arg.startswith("+") and len(arg) > 1:
            return True
    return False


@dataclass
class _Walk:
    """Checks one command line, following `cd` from command to command."""

    policy: GuardPolicy
    cwd: str
    env: Mapping[str, str]

    def outside(self, word: str) -> str | None:
        """The absolute path if `word` is a path outside the agent's folder, else None."""
        path = resolve(word, self.cwd, self.env)
        if inside(path, (self.policy.root,)):
            return None
        return path

    def write_outside(self, word: str) -> str | None:
        """The absolute path if `word` is a path the agent may not change, else None."""
        path = resolve(word, self.cwd, self.env)
        return None if self.policy.allows(path) else path

    def check(self, words: list[str]) -> Ruling:
        words, targets = _redirect_targets(words)
        for target in targets:
            path = self.write_outside(target)
            if path is not None:
                return self.refuse(f"a redirection writes to {path}")
        if not words:
            return ALLOW
        name = os.path.basename(words[0])
        if name in ("cd", "pushd"):
            args = [w for w in words[1:] if not w.startswith("-") or w == "-"]
            if args and args[0] == "-":
                return ALLOW
            target = args[0] if args else self.env.get("HOME", "~")
            path = self.write_outside(target)
            if path is not None:
                return self.refuse(f"`{name} {target}` goes to {path}")
            self.cwd = resolve(target, self.cwd, self.env)
            return ALLOW
        if name == "git":
            return self.check_git(words)
        if name in WRITES_ALL or name in WRITES_LAST or name in ("sed", "dd"):
            return self.check_writes(name, words[1:])
        return ALLOW

    def check_git(self, words: list[str]) -> Ruling:
        options, sub, args = _git_parts(words)
        for option in ("-C", "--work-tree", "--git-dir"):
            if option in options:
                path = self.outside(options[option])
                if path is not None:
                    return self.refuse(f"`git {option} {options[option]}` works in {path}")
        if sub == "push" and is_force_push(args):
            return Ruling(False, "swarm guard: force pushes are never allowed in a swarm.")
        return ALLOW

    def check_writes(self, name: str, args: list[str]) -> Ruling:
        if name == "dd":
            paths = [a[3:] for a in args if a.startswith("of=")]
        elif name == "sed":
            if not any(a == "-i" or a.startswith(("-i", "--in-place")) for a in args):
                return ALLOW
            paths = [a for a in args if not a.startswith("-")][1:]
        else:
            paths = [a for a in args if not a.startswith("-")]
            if name in WRITES_LAST:
                paths = paths[-1:]
        for word in paths:
            path = self.write_outside(word)
            if path is not None:
                return self.refuse(f"`{name}` changes {path}")
        return ALLOW

    def refuse(self, what: str) -> Ruling:
        return Ruling(
            False,
            f"swarm guard: refused: {what}, outside your folder {self.policy.root}. "
            "Work only inside it (temp folders are fine).",
        )


def denied_by(command: str, words: Sequence[str], patterns: Sequence[str]) -> str | None:
    """The first role pattern that matches the simple command (as written, or without its
    `VAR=` assignments and wrappers) or the whole command line."""
    texts = {
        " ".join(_assignments_dropped(words)),
        " ".join(unwrapped(words)),
        " ".join(command.split()),
    }
    for pattern in patterns:
        if any(fnmatch.fnmatchcase(text, pattern) for text in texts):
            return pattern
    return None


def check_command(
    command: str, policy: GuardPolicy, cwd: str, env: Mapping[str, str] | None = None
) -> Ruling:
    """Whether a shell command line may run for an agent under `policy`."""
    walk = _Walk(policy, cwd, os.environ if env is None else env)
    for words in split_commands(command):
        ruling = walk.check(unwrapped(words))
        if not ruling.allowed:
            return ruling
        pattern = denied_by(command, words, policy.deny)
        if pattern is not None:
            shown = " ".join(_assignments_dropped(words))
            return Ruling(
                False, f"swarm guard: `{shown}` is not allowed for your role (rule `{pattern}`)."
            )
    return ALLOW


def check_tool(
    payload: Mapping[str, Any], policy: GuardPolicy, env: Mapping[str, str] | None = None
) -> Ruling:
    """Whether one PreToolUse call may run: Bash commands and file-editing tools."""
    env = os.environ if env is None else env
    tool = str(payload.get("tool_name") or "")
    tool_input = payload.get("tool_input")
    if not isinstance(tool_input, dict):
        return ALLOW
    cwd = str(payload.get("cwd") or os.getcwd())
    if tool == "Bash":
        return check_command(str(tool_input.get("command") or ""), policy, cwd, env)
    key = EDIT_TOOLS.get(tool)
    if key and tool_input.get(key):
        path = resolve(str(tool_input[key]), cwd, env)
        if not policy.allows(path):
            return Ruling(
                False,
                f"swarm guard: {tool} of {path} is outside your folder {policy.root}. "
                "Work only inside it (temp folders are fine).",
            )
    return ALLOW


def default_policy(env: Mapping[str, str], cwd: str) -> GuardPolicy:
    """Without a policy file: a polecat's worktree (else the repository) from its env."""
    repo = env.get(envnames.REPO)
    return GuardPolicy(root=default_root(env) or cwd, protected=(repo,) if repo else ())


def default_root(env: Mapping[str, str]) -> str | None:
    """Without a policy file: a polecat's worktree, else the repository, from its env."""
    home, agent, repo = env.get(envnames.HOME), env.get(envnames.AGENT), env.get(envnames.REPO)
    if home and agent and env.get(envnames.ROLE) == "polecat":
        return str(paths.agent_worktree(Path(home), agent))
    return repo
