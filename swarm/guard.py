"""The guard: refuses an agent's tool call before it runs (Claude Code's PreToolUse hook).

Claude Code runs `swarm guard` with the tool call as JSON on stdin; exit code 2 blocks the
call and the text on stderr is shown to the model as the reason (Anthropic's documented
hook contract). Any other exit code, or a hook that times out, lets the call run: so the
guard fails closed. Whatever goes wrong — unreadable input, a crash, more time than its
budget — ends in exit 2 with a reason (`hook`).

What it refuses, for every role:
- leaving the agent's folder (its worktree; the repository for other roles): `cd`/`pushd`
  elsewhere, `git -C`/`--work-tree`/`--git-dir`/`GIT_DIR=` elsewhere, writes (redirections,
  `rm`, `mv`, `cp -t`, `tee`, `find -delete`, `sed 'w …'` …) to paths outside it, temp
  folders excepted; through wrappers (`nice`, `timeout`, `xargs`, `env -C` …), shell
  keywords, functions, `bash -c`, `eval` and command substitutions;
- any other tool (MCP tools included) whose input names a path outside, unless its name
  says it only reads;
- force pushes (`git push -f`, `--force`, `--force-with-lease`, `+refspec`) and git
  aliases defined on the command line (`git -c alias.x=…`);
- the role's own `guard.deny` patterns (fnmatch, against each simple command — git's global
  options dropped, so `git -C . push` is `git push` — and against the whole command line).

It reads shell like a careful person, in one pass (time linear in the command), not like a
shell: it is the second line. The first is the OS: a polecat runs confined (swarm/sandbox.py),
where `python -c …` cannot write outside either.
"""

from __future__ import annotations

import fnmatch
import functools
import json
import os
import re
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any, BinaryIO

from swarm import envnames, paths
from swarm.shellwords import OPERATORS, SEPARATORS, parse
from swarm.shellwords import split_commands as split_commands  # the tests read it here

# Commands whose arguments are paths they change, and those where only the last one is.
WRITES_ALL = frozenset(
    [
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
        "mkfifo",
        "mknod",
    ]
)
WRITES_LAST = frozenset({"cp", "ln", "install", "rsync", "scp"})
# Commands that write the file named after an option.
OUTPUT_OPTIONS = {
    "curl": ("-o", "--output"),
    "wget": ("-O", "--output-document"),
    "sort": ("-o", "--output"),
    "patch": ("-o", "--output"),
}
SHELLS = frozenset({"sh", "bash", "dash", "zsh", "ksh", "mksh", "busybox"})
# Wrappers run the command after them. The value: options that take a value, and how many
# plain arguments come before the command (`timeout 5 cmd`).
WRAPPERS: dict[str, tuple[frozenset[str], int]] = {
    "sudo": (frozenset({"-u", "-g", "-C", "-D", "-h", "-p", "-r", "-t", "-U"}), 0),
    "doas": (frozenset({"-u", "-C"}), 0),
    "env": (frozenset({"-u", "--unset", "-C", "--chdir", "-S", "--split-string"}), 0),
    "command": (frozenset(), 0),
    "builtin": (frozenset(), 0),
    "exec": (frozenset({"-a"}), 0),
    "nohup": (frozenset(), 0),
    "time": (frozenset({"-f", "--format", "-o", "--output"}), 0),
    "nice": (frozenset({"-n", "--adjustment"}), 0),
    "ionice": (frozenset({"-c", "--class", "-n", "--classdata", "-p", "-P", "-u"}), 0),
    "timeout": (frozenset({"-s", "--signal", "-k", "--kill-after"}), 1),
    "stdbuf": (frozenset({"-i", "-o", "-e", "--input", "--output", "--error"}), 0),
    "xargs": (
        frozenset({"-I", "-i", "-n", "-L", "-l", "-P", "-d", "-E", "-e", "-s", "-a", "--arg-file"}),
        0,
    ),
    "setsid": (frozenset(), 0),
    "chrt": (frozenset(), 1),
    "taskset": (frozenset({"-c", "--cpu-list"}), 1),
    "flock": (frozenset({"-w", "--timeout", "-E", "--conflict-exit-code"}), 1),
    "unbuffer": (frozenset(), 0),
    "strace": (frozenset({"-o", "-e", "-p", "-s", "-u"}), 0),
    "ltrace": (frozenset({"-o", "-e", "-p", "-s", "-u"}), 0),
    "watch": (frozenset({"-n", "--interval", "-d"}), 0),
    "caffeinate": (frozenset(), 0),
}
KEYWORDS = frozenset({"if", "then", "else", "elif", "fi", "do", "done", "while", "until", "!"})
KEYWORDS |= frozenset({"{", "}", "esac", "coproc"})
DECLARE = frozenset({"export", "declare", "typeset", "local", "readonly"})
GIT_OPTIONS_WITH_VALUE = frozenset(
    [
        "-C",
        "-c",
        "--git-dir",
        "--work-tree",
        "--namespace",
        "--super-prefix",
        "--config-env",
        "--list-cmds",
        "--attr-source",
    ]
)
GIT_ENV = frozenset({"GIT_DIR", "GIT_WORK_TREE", "GIT_COMMON_DIR", "GIT_INDEX_FILE"})
# Tools that only read (or only talk): their path inputs are not checked.
READ_TOOLS = frozenset(
    [
        "Read",
        "Glob",
        "Grep",
        "LS",
        "NotebookRead",
        "WebFetch",
        "WebSearch",
        "TodoWrite",
        "TodoRead",
        "Task",
        "Agent",
        "ExitPlanMode",
        "BashOutput",
        "KillShell",
        "KillBash",
        "ListMcpResourcesTool",
        "ReadMcpResourceTool",
        "AskUserQuestion",
        "Skill",
        "SlashCommand",
    ]
)
# An MCP tool whose last name part starts with one of these only reads.
READ_VERBS = tuple(
    [
        "read",
        "get",
        "list",
        "search",
        "find",
        "view",
        "show",
        "fetch",
        "query",
        "describe",
        "stat",
        "info",
        "grep",
        "glob",
        "lookup",
        "inspect",
        "status",
        "diff",
        "log",
    ]
)
_PATH_KEYS = frozenset(
    [
        "path",
        "paths",
        "file",
        "files",
        "filename",
        "filepath",
        "dir",
        "directory",
        "folder",
        "dest",
        "destination",
        "target",
        "output",
        "out",
        "source",
        "src",
        "to",
        "from",
        "cwd",
        "workdir",
        "root",
        "location",
        "uri",
    ]
)
_PATH_SUFFIXES = ("path", "_file", "_dir", "_directory", "_folder", "filename", "_paths")
_COMMAND_KEYS = frozenset({"command", "cmd", "script", "shell_command"})
PATH_MAX = 4096
MAX_DEPTH = 8  # nested `bash -c`, `eval`, `$(…)`: deeper is refused
MAX_INPUT = 16 * 1024 * 1024  # bytes of hook input
BUDGET = 10.0  # seconds to decide; Claude Code's hook timeout is 30 s (runtimes/claude.py)
RECORD_BUDGET = 5.0  # seconds for the store's bookkeeping after the verdict


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
            deny=tuple(str(p) for p in data.get("deny") or ()),
            protected=tuple(str(p) for p in data.get("protected") or ()),
        )

    def allows(self, path: str) -> bool:
        """`path` is in the agent's folder, or in a temp folder outside the repository —
        both as written and with symlinks resolved (a link made in the worktree that points
        into the repository does not make the repository writable)."""
        for candidate in _variants(path):
            if _inside(candidate, (self.root,)):
                continue
            if _inside(candidate, self.protected) or not _inside(candidate, self.writable):
                return False
        return True


@dataclass(frozen=True)
class Ruling:
    allowed: bool
    reason: str = ""


ALLOW = Ruling(True)


@functools.lru_cache(maxsize=256)
def _folder_variants(folder: str) -> frozenset[str]:
    return frozenset(_variants(folder))


def _variants(path: str) -> set[str]:
    normal = os.path.normpath(path)
    if len(normal) > PATH_MAX:  # no system call takes it; resolving it would take long
        return {normal}
    try:
        return {normal, os.path.realpath(path)}
    except (OSError, ValueError):
        return {normal}


def _inside(path: str, folders: Iterable[str]) -> bool:
    for folder in folders:
        for base in _folder_variants(folder):
            if path == base or path.startswith(base.rstrip(os.sep) + os.sep):
                return True
    return False


def inside(path: str, folders: Iterable[str]) -> bool:
    """`path` is one of `folders` or below one (symlinks resolved or not)."""
    return any(_inside(candidate, folders) for candidate in _variants(path))


def resolve(word: str, cwd: str, env: Mapping[str, str]) -> str:
    """A shell word as an absolute path: `~` and `$VARS` expanded, relative to `cwd`."""
    home = env.get("HOME", str(Path.home()))
    if word == "~" or word.startswith("~/"):
        word = home + word[1:]
    word = re.sub(r"\$\{?(\w+)\}?", lambda m: env.get(m.group(1), m.group(0)), word)
    return os.path.normpath(os.path.join(cwd, word))


# ---------------------------------------------------------------------------- commands

_ASSIGNMENT = re.compile(r"[A-Za-z_]\w*(\[[^]]*\])?\+?=")


def _is_assignment(word: str) -> bool:
    return _ASSIGNMENT.match(word) is not None


def _assignments_dropped(words: Sequence[str]) -> list[str]:
    """`FOO=1 BAR=2 cmd …` -> `cmd …`."""
    i = 0
    while i < len(words) and _is_assignment(words[i]):
        i += 1
    return list(words[i:])


def _keywords_dropped(words: Sequence[str]) -> list[str]:
    """`if`, `do`, `{`, `!` … lead to the command that runs; `for x in …` and `case …`
    run nothing; `function f { cmd` runs `cmd` (when f is called)."""
    i = 0
    while i < len(words):
        if words[i] in KEYWORDS:
            i += 1
        elif words[i] == "function":
            i += 2
        else:
            break
    rest = list(words[i:])
    if rest and rest[0] in ("for", "select", "case", "in"):
        return []
    return rest


@dataclass(frozen=True)
class Unwrapped:
    words: list[str]
    chdir: str | None = None  # `env -C DIR`
    split: str | None = None  # `env -S "cmd args"`: a command line of its own


def unwrapped(words: Sequence[str]) -> list[str]:
    """The command that really runs: assignments and wrappers (`sudo -u x`, `env`) dropped."""
    return _unwrap(words).words


def _unwrap(words: Sequence[str]) -> Unwrapped:
    words = _assignments_dropped(words)
    chdir: str | None = None
    split: str | None = None
    i = 0
    while i < len(words):
        word = words[i]
        name = os.path.basename(word)
        if _is_assignment(word):
            i += 1
            continue
        if name not in WRAPPERS or i + 1 >= len(words):
            break
        with_value, positional = WRAPPERS[name]
        i += 1
        while i < len(words) and words[i].startswith("-") and words[i] != "-":
            option, eq, value = words[i].partition("=")
            if words[i] == "--":
                i += 1
                break
            if option in with_value and not eq:
                value = words[i + 1] if i + 1 < len(words) else ""
                i += 1
            elif option not in with_value and len(option) > 2 and option[1] != "-":
                # `-n5` / `-C/x`: a short option with its value attached
                short = option[:2]
                if short in with_value:
                    option, value = short, option[2:]
            if name == "env" and option in ("-C", "--chdir"):
                chdir = value
            if name == "env" and option in ("-S", "--split-string"):
                split = value
            i += 1
        i += positional
    return Unwrapped(list(words[i:]), chdir, split)


def _redirect_targets(words: Sequence[str]) -> tuple[list[str], list[str]]:
    """(the words without redirections, the files written by `>`, `>>`, `&>` …)."""
    rest: list[str] = []
    targets: list[str] = []
    skip = False
    for i, word in enumerate(words):
        if skip:
            skip = False
            continue
        if word in OPERATORS and word not in SEPARATORS:
            skip = True
            if ">" in word and i + 1 < len(words):
                target = words[i + 1]
                duplicating = word.endswith("&") and re.fullmatch(r"\d+-?|-", target)
                if not duplicating:
                    targets.append(target)
            continue
        rest.append(word)
    return rest, targets


def _git_parts(words: Sequence[str]) -> tuple[list[tuple[str, str]], str | None, list[str]]:
    """git's global options, its subcommand and that subcommand's arguments."""
    options: list[tuple[str, str]] = []
    i = 1
    while i < len(words) and words[i].startswith("-"):
        word = words[i]
        name, eq, value = word.partition("=")
        if name in GIT_OPTIONS_WITH_VALUE and not eq:
            options.append((name, words[i + 1] if i + 1 < len(words) else ""))
            i += 2
            continue
        options.append((name, value))
        i += 1
    if i >= len(words):
        return options, None, []
    return options, words[i], list(words[i + 1 :])


def git_command(words: Sequence[str]) -> str | None:
    """`git -C . --no-pager push x` as `git push x`: how the deny list reads it."""
    if not words or os.path.basename(words[0]) != "git":
        return None
    _, sub, args = _git_parts(words)
    return " ".join(["git", *([sub] if sub else []), *args])


def is_force_push(args: Sequence[str]) -> bool:
    for arg in args:
        if arg in ("-f", "--force", "--force-if-includes") or arg.startswith("--force-with-lease"):
            return True
        if re.fullmatch(r"-[a-zA-Z]*f[a-zA-Z]*", arg):
            return True
        if arg.startswith("+") and len(arg) > 1:
            return True
    return False


_SED_ADDRESS = r"(?:\d+|\$|/(?:[^/\\]|\\.)*/)"
_SED_WRITE = re.compile(
    rf"(?:^|[;\n{{}}])\s*(?:{_SED_ADDRESS}(?:\s*,\s*{_SED_ADDRESS})?)?\s*!?\s*[wW]\s*([^;\n}}]+)"
)


def _sed_writes(args: Sequence[str]) -> list[str]:
    """Files a sed script writes with `w FILE` or the `s///w FILE` flag."""
    scripts: list[str] = []
    rest = list(args)
    for i, arg in enumerate(rest):
        if arg in ("-e", "--expression") and i + 1 < len(rest):
            scripts.append(rest[i + 1])
        elif arg.startswith("--expression="):
            scripts.append(arg.partition("=")[2])
    if not scripts:
        plain = [a for a in rest if not a.startswith("-")]
        scripts = plain[:1]
    found: list[str] = []
    for script in scripts:
        for match in _SED_WRITE.finditer(script):
            found.append(match.group(1).strip())
        for match in re.finditer(r"s(.).*?\1.*?\1[gpiImMe0-9]*w\s*([^;\n}]+)", script):
            found.append(match.group(2).strip())
    return found


class Refused(Exception):
    def __init__(self, verdict: Ruling) -> None:
        super().__init__(verdict.reason)
        self.verdict = verdict


@dataclass
class _Walk:
    """Checks one command line, following `cd` and `VAR=value` from command to command."""

    policy: GuardPolicy
    cwd: str
    env: dict[str, str]
    depth: int = 0

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

    def refuse(self, what: str) -> Refused:
        return Refused(
            Ruling(
                False,
                f"swarm guard: refused: {what}, outside your folder {self.policy.root}. "
                "Work only inside it (temp folders are fine).",
            )
        )

    def writes(self, name: str, words: Iterable[str]) -> None:
        for word in words:
            path = self.write_outside(word)
            if path is not None:
                raise self.refuse(f"`{name}` changes {path}")

    def line(self, command: str) -> None:
        if self.depth > MAX_DEPTH:
            raise Refused(Ruling(False, "swarm guard: commands nested too deeply to check."))
        parsed = parse(command)
        for index, words in enumerate(parsed.commands):
            self.simple(words)
            body = parsed.heredocs.get(index)
            if body is not None and _runs_stdin(words):
                self.sub(body)  # `bash <<EOF`: the body is commands
            pattern = denied_by(None, words, self.policy.deny)
            if pattern is not None:
                raise self.denied(words, pattern)
        for inner in parsed.nested:
            self.sub(inner)

    def sub(self, command: str) -> None:
        """A command run in a subshell: its `cd`s do not leak out."""
        _Walk(self.policy, self.cwd, dict(self.env), self.depth + 1).line(command)

    def denied(self, words: Sequence[str], pattern: str) -> Refused:
        shown = " ".join(_assignments_dropped(words))
        return Refused(
            Ruling(
                False, f"swarm guard: `{shown}` is not allowed for your role (rule `{pattern}`)."
            )
        )

    def assign(self, words: Iterable[str]) -> None:
        for word in words:
            name, _, value = word.partition("=")
            name = name.rstrip("+")
            if name in GIT_ENV:
                path = self.outside(value)
                if path is not None:
                    raise self.refuse(f"`{name}={value}` works in {path}")
            self.env[name] = resolve(value, self.cwd, self.env) if "/" in value else value

    def simple(self, words: list[str]) -> None:
        words, targets = _redirect_targets(words)
        for target in targets:
            path = self.write_outside(target)
            if path is not None:
                raise self.refuse(f"a redirection writes to {path}")
        self.loop_variable(words)
        words = _keywords_dropped(words)
        leading = [w for w in words[: len(words) - len(_assignments_dropped(words))]]
        self.assign(leading)
        run = _unwrap(words)
        if run.chdir is not None:
            path = self.write_outside(run.chdir)
            if path is not None:
                raise self.refuse(f"`env -C {run.chdir}` works in {path}")
        words = run.words
        if run.split is not None:
            self.sub(" ".join([run.split, *(_quote(w) for w in words)]))
        if not words:
            return
        name = os.path.basename(words[0])
        args = words[1:]
        if name in DECLARE:
            self.assign([a for a in args if _is_assignment(a)])
        elif name in ("cd", "pushd"):
            self.change_directory(name, args)
        elif name == "git":
            self.git(words)
        elif name in SHELLS:
            self.shell(args)
        elif name == "eval":
            self.sub(" ".join(args))
        elif name == "find":
            self.find(args)
        elif name == "sed":
            self.sed(args)
        elif name == "dd":
            self.writes(name, [a[3:] for a in args if a.startswith("of=")])
        elif name in OUTPUT_OPTIONS:
            self.output_options(name, args)
        elif name in WRITES_ALL or name in WRITES_LAST:
            self.file_writes(name, args)

    def loop_variable(self, words: list[str]) -> None:
        """`for f in a b c`: `$f` is taken to be the first of its words that the agent may
        not write (else the first), so `touch "$f"` in the loop is checked."""
        i = 0
        while i < len(words) and words[i] in KEYWORDS:
            i += 1
        if len(words) >= i + 3 and words[i] in ("for", "select") and words[i + 2] == "in":
            values = words[i + 3 :]
            if values:
                outside = [v for v in values if self.write_outside(v) is not None]
                self.env[words[i + 1]] = (outside or values)[0]

    def change_directory(self, name: str, args: list[str]) -> None:
        plain = [w for w in args if not w.startswith("-") or w == "-"]
        if plain and plain[0] == "-":
            return
        target = plain[0] if plain else self.env.get("HOME", "~")
        path = self.write_outside(target)
        if path is not None:
            raise self.refuse(f"`{name} {target}` goes to {path}")
        self.cwd = resolve(target, self.cwd, self.env)

    def git(self, words: list[str]) -> None:
        options, sub, args = _git_parts(words)
        for option, value in options:
            if option in ("-C", "--work-tree", "--git-dir"):
                path = self.outside(value)
                if path is not None:
                    raise self.refuse(f"`git {option} {value}` works in {path}")
            if option in ("-c", "--config-env") and value.lower().startswith("alias."):
                raise Refused(
                    Ruling(False, "swarm guard: git aliases on the command line are refused.")
                )
        if sub == "push" and is_force_push(args):
            raise Refused(Ruling(False, "swarm guard: force pushes are never allowed in a swarm."))

    def shell(self, args: list[str]) -> None:
        for i, arg in enumerate(args):
            if arg == "-c" or (re.fullmatch(r"-[a-zA-Z]*c[a-zA-Z]*", arg) and arg != "-"):
                if i + 1 < len(args):
                    self.sub(args[i + 1])
                return
            if not arg.startswith("-"):
                return

    def find(self, args: list[str]) -> None:
        starts = []
        for arg in args:
            if arg.startswith(("-", "(", "!")) or arg == ")":
                break
            starts.append(arg)
        starts = starts or ["."]
        if "-delete" in args:
            self.writes("find", starts)
        for i, arg in enumerate(args):
            if arg in ("-fprint", "-fprint0", "-fprintf", "-fls") and i + 1 < len(args):
                self.writes("find", [args[i + 1]])
            if arg in ("-exec", "-execdir", "-ok", "-okdir"):
                end = next((j for j in range(i + 1, len(args)) if args[j] in (";", "+")), None)
                inner = args[i + 1 : end]
                for start in starts if inner else ():
                    # what runs on each file found: `{}` is somewhere under each start
                    found = resolve(start, self.cwd, self.env)
                    self.sub(" ".join(_quote(found if w == "{}" else w) for w in inner))

    def sed(self, args: list[str]) -> None:
        self.writes("sed", _sed_writes(args))
        if any(a == "-i" or a.startswith(("-i", "--in-place")) for a in args):
            plain: list[str] = []
            explicit = False
            skip = False
            for arg in args:
                if skip:
                    skip = False
                elif arg in ("-e", "--expression", "-f", "--file"):
                    explicit = skip = True
                elif arg.startswith(("--expression=", "--file=")):
                    explicit = True
                elif not arg.startswith("-"):
                    plain.append(arg)
            self.writes("sed", plain if explicit else plain[1:])

    def output_options(self, name: str, args: list[str]) -> None:
        options = OUTPUT_OPTIONS[name]
        for i, arg in enumerate(args):
            option, eq, value = arg.partition("=")
            if option in options:
                target = value if eq else (args[i + 1] if i + 1 < len(args) else "")
                if target:
                    self.writes(name, [target])

    def file_writes(self, name: str, args: list[str]) -> None:
        paths: list[str] = []
        target_dir: str | None = None
        plain: list[str] = []
        i = 0
        while i < len(args):
            arg = args[i]
            option, eq, value = arg.partition("=")
            if option in ("-t", "--target-directory"):
                target_dir = value if eq else (args[i + 1] if i + 1 < len(args) else "")
                i += 1 if eq else 2
                continue
            if arg.startswith("-t") and len(arg) > 2 and name in WRITES_LAST | {"mv"}:
                target_dir = arg[2:]
            elif not arg.startswith("-"):
                plain.append(arg)
            i += 1
        if target_dir is not None:
            paths.append(target_dir)
            if name == "mv":
                paths += plain  # moved away: the sources change too
        elif name in WRITES_LAST:
            paths += plain[-1:]
        else:
            paths += plain
        if name == "ln" and len(plain) >= 2:
            # A link out of the worktree is a door for the next write through it.
            for source in plain[:-1]:
                path = self.write_outside(source)
                if path is not None:
                    raise self.refuse(f"`ln` links to {path}")
        self.writes(name, paths)


def _runs_stdin(words: Sequence[str]) -> bool:
    run = unwrapped(_keywords_dropped(_redirect_targets(words)[0]))
    return bool(run) and (os.path.basename(run[0]) in SHELLS or run[0] in ("eval", "source", "."))


def _quote(word: str) -> str:
    return "'" + word.replace("'", "'\\''") + "'"


def denied_by(command: str | None, words: Sequence[str], patterns: Sequence[str]) -> str | None:
    """The first role pattern that matches the simple command (as written, without its
    `VAR=` assignments, wrappers and shell keywords, or as git reads it once its global
    options are dropped) or, when given, the whole command line."""
    if not patterns:
        return None
    words, _ = _redirect_targets(words)
    plain = _keywords_dropped(_assignments_dropped(words))
    run = unwrapped(plain)
    texts = {" ".join(_assignments_dropped(words)), " ".join(plain), " ".join(run)}
    git = git_command(run)
    if git is not None:
        texts.add(git)
    if command is not None:
        texts.add(" ".join(command.split()))
    for pattern in patterns:
        if any(fnmatch.fnmatchcase(text, pattern) for text in texts):
            return pattern
    return None


def check_command(
    command: str, policy: GuardPolicy, cwd: str, env: Mapping[str, str] | None = None
) -> Ruling:
    """Whether a shell command line may run for an agent under `policy`."""
    if "\x00" in command:
        return Ruling(False, "swarm guard: a command with a NUL byte is refused.")
    walk = _Walk(policy, cwd, dict(os.environ if env is None else env))
    try:
        walk.line(command)
        pattern = denied_by(command, [], policy.deny)
        if pattern is not None:
            raise walk.denied(command.split()[:8], pattern)
    except Refused as refused:
        return refused.verdict
    return ALLOW


# ---------------------------------------------------------------------------- auto-approve

# What turns one command into several, or sends its output somewhere: never auto-approved,
# even inside quotes (a prompt's text is not worth parsing generously).
CHAIN_MARKS = (";", "&", "|", "`", "$(", "<", ">", "\n", "\r", "\x00")


def approved_by(command: str | None, globs: Sequence[str]) -> str | None:
    """The first `permissions.auto_approve` glob that allows `command`, which must be one
    simple command: `git status*` matches `git status -s`, never `git status; curl … | sh`
    (fnmatch's `*` would match the `;`)."""
    if command is None:
        return None
    command = command.strip()
    if not command or any(mark in command for mark in CHAIN_MARKS):
        return None
    for glob in globs:
        if fnmatch.fnmatchcase(command, glob):
            return glob
    return None


# ---------------------------------------------------------------------------- tools


def _is_path_key(key: str) -> bool:
    key = key.lower().replace("-", "_")
    return key in _PATH_KEYS or key.endswith(_PATH_SUFFIXES)


def _strings(value: Any, depth: int = 0) -> Iterator[str]:
    if depth > 6:
        return
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for item in value[:1000]:
            yield from _strings(item, depth + 1)
    elif isinstance(value, dict):
        for item in list(value.values())[:1000]:
            yield from _strings(item, depth + 1)


def tool_paths(tool_input: Mapping[str, Any], depth: int = 0) -> Iterator[tuple[str, str]]:
    """(key, value) of every path-like input, nested mappings and lists included."""
    if depth > 6:
        return
    for key, value in list(tool_input.items())[:1000]:
        if _is_path_key(str(key)):
            for text in _strings(value):
                if text and not re.match(r"[a-zA-Z][\w+.-]*://", text):
                    yield str(key), text
                elif text.startswith("file://"):
                    yield str(key), text.removeprefix("file://")
        elif isinstance(value, dict):
            yield from tool_paths(value, depth + 1)
        elif isinstance(value, list):
            for item in value[:1000]:
                if isinstance(item, dict):
                    yield from tool_paths(item, depth + 1)


def only_reads(tool: str) -> bool:
    """Claude Code's reading tools, and MCP tools (`mcp__server__verb_noun`) named for reading."""
    if tool in READ_TOOLS:
        return True
    if tool.startswith("mcp__"):
        verb = tool.rsplit("__", 1)[-1].lower()
        return verb.startswith(READ_VERBS)
    return False


def check_tool(
    payload: Mapping[str, Any], policy: GuardPolicy, env: Mapping[str, str] | None = None
) -> Ruling:
    """Whether one PreToolUse call may run: Bash commands, file-editing tools, and any
    other tool (MCP included) that names a path or runs a command."""
    env = os.environ if env is None else env
    tool = str(payload.get("tool_name") or "")
    tool_input = payload.get("tool_input")
    if not isinstance(tool_input, dict):
        return ALLOW
    cwd = str(payload.get("cwd") or os.getcwd())
    if tool == "Bash":
        return check_command(str(tool_input.get("command") or ""), policy, cwd, env)
    if only_reads(tool):
        return ALLOW
    for key, value in tool_input.items():
        if str(key).lower() in _COMMAND_KEYS and isinstance(value, str):
            verdict = check_command(value, policy, cwd, env)
            if not verdict.allowed:
                return verdict
    for _, word in tool_paths(tool_input):
        if "\x00" in word:
            return Ruling(False, f"swarm guard: {tool}: a path with a NUL byte is refused.")
        path = resolve(word, cwd, env)
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


# ---------------------------------------------------------------------------- the hook


class Overrun(Exception):
    """The guard's time budget ran out."""


def _alarm(signum: int, frame: FrameType | None) -> None:
    raise Overrun


def read_payload(stream: BinaryIO) -> dict[str, Any]:
    """The PreToolUse JSON; ValueError (with why) for anything else."""
    data = stream.read(MAX_INPUT + 1)
    if len(data) > MAX_INPUT:
        raise ValueError(f"the tool call is larger than {MAX_INPUT // (1024 * 1024)} MB")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError("the tool call is not UTF-8") from exc
    try:
        payload = json.loads(text or "null")
    except RecursionError as exc:
        raise ValueError("the tool call is nested too deeply") from exc
    if not isinstance(payload, dict):
        raise ValueError("expected PreToolUse JSON on stdin")
    return payload


@dataclass(frozen=True)
class HookResult:
    code: int  # 0 lets the call run, 2 refuses it
    reason: str
    payload: dict[str, Any] | None = None


def decide(
    stream: BinaryIO,
    *,
    policy_file: Path | None,
    root: str | None,
    deny: Sequence[str],
    env: Mapping[str, str],
) -> HookResult:
    """The verdict on one hook call. Raises nothing the caller must handle: every error
    is a refusal (see `hook`)."""
    try:
        payload = read_payload(stream)
    except (OSError, ValueError) as exc:
        return HookResult(2, f"swarm guard: could not read the tool call ({exc}).")
    if policy_file is not None:
        try:
            policy = GuardPolicy.load(policy_file)
        except (OSError, ValueError, KeyError, TypeError, RecursionError) as exc:
            return HookResult(2, f"swarm guard: cannot read the policy {policy_file}: {exc}")
    else:
        cwd = payload.get("cwd")
        policy = default_policy(env, str(cwd) if isinstance(cwd, str) else os.getcwd())
    if root:
        policy = GuardPolicy(root, policy.deny, policy.protected, policy.writable)
    if deny:
        policy = GuardPolicy(policy.root, (*policy.deny, *deny), policy.protected, policy.writable)
    verdict = check_tool(payload, policy, env)
    return HookResult(0 if verdict.allowed else 2, verdict.reason, payload)


def hook(
    stream: BinaryIO,
    *,
    policy_file: Path | None = None,
    root: str | None = None,
    deny: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    budget: float = BUDGET,
) -> HookResult:
    """`decide`, failing closed: an exception or more than `budget` seconds is exit 2."""
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, budget)
    try:
        return decide(
            stream,
            policy_file=policy_file,
            root=root,
            deny=deny,
            env=os.environ if env is None else env,
        )
    except Overrun:
        return HookResult(2, f"swarm guard: could not decide within {budget:g} s; refused.")
    except BaseException as exc:
        return HookResult(2, f"swarm guard: internal error ({type(exc).__name__}); refused.")
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def bounded(work: Callable[[], object], seconds: float) -> None:
    """Run `work` in a child for at most `seconds` of our time; it may finish later alone.

    The verdict must never wait on bookkeeping: a store whose lock is held (SQLite waits up
    to 30 s) would make the hook time out, and a hook that times out lets the call run.
    The child lets go of our stdin/stdout/stderr first, so nobody waits on it through them.
    """
    try:
        pid = os.fork()
    except OSError:
        return
    if pid == 0:  # the child: quiet, on its own, gone when done
        try:
            quiet = os.open(os.devnull, os.O_RDWR)
            for fd in (0, 1, 2):
                os.dup2(quiet, fd)
            os.setsid()
            work()
        finally:
            os._exit(0)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            return
        if done:
            return
        time.sleep(0.005)


def say(reason: str) -> None:
    """The reason on stderr, whatever it holds (lone surrogates, control characters)."""
    text = "".join(c if c.isprintable() or c == "\n" else repr(c)[1:-1] for c in reason)
    sys.stderr.buffer.write(text.encode("utf-8", "backslashreplace") + b"\n")
    sys.stderr.flush()
