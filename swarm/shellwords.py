"""Reading a shell command line into its simple commands, in one pass.

The guard needs what bash would run, not a tokenizer's idea of it: quotes, escapes and
line continuations joined; `;`, `&&`, `|`, newlines … separating commands; redirections
kept as words (`>` then its target); heredoc bodies taken out as data (and kept, since
`bash <<EOF` runs its body); the text of `$(…)`, backquotes and `<(…)` returned to be
checked as commands of their own. Each character is looked at a bounded number of times,
so the time is linear in the command's length (a substitution's text is read once more
when it is checked, and nesting is bounded by the guard).
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass, field

SEPARATORS = frozenset({";", "&&", "||", "|", "&", "|&", ";;", "(", ")", "\n"})
# Operators, longest first so `>>` is never read as two `>`.
OPERATORS = tuple(
    [
        "&>>",
        "<<<",
        "<<-",
        "&&",
        "||",
        ";;",
        "|&",
        ">>",
        "<<",
        "&>",
        ">&",
        "<&",
        ">|",
        "<>",
        ";",
        "&",
        "|",
        "(",
        ")",
        "<",
        ">",
    ]
)
_OPERATOR_CHARS = frozenset(";&|()<>")
_BLANKS = frozenset(" \t\r")
_OPERATOR = re.compile("|".join(re.escape(op) for op in OPERATORS))
_PLAIN = re.compile(r"[^ \t\r\n'\"\\$`;&|()<>#]+")


class Unbalanced(ValueError):
    """An unterminated quote or substitution: bash would refuse to run the line."""


@dataclass
class Parsed:
    commands: list[list[str]]  # simple commands: words and redirection operators
    nested: list[str]  # the text of `$(…)`, backquotes and `<(…)`: commands run too
    heredocs: dict[int, str] = field(default_factory=dict)  # command index -> body


def _closing(s: str, start: int) -> int:
    """The index of the character that closes the `(` or `"` at `start`: parentheses and
    double quotes nest (`"$(… "…" …)"`), single quotes, backquotes and escapes are skipped.
    A stack, not recursion: any depth of nesting is read in one pass."""
    stack = [s[start]]
    i, n = start + 1, len(s)
    while i < n:
        c = s[i]
        if c == "\\":
            i += 2
            continue
        if c == "`":
            i = _closing_backquote(s, i + 1) + 1
            continue
        if stack[-1] == '"':
            if c == '"':
                stack.pop()
            elif c == "$" and s.startswith("$(", i):
                stack.append("(")
                i += 1
        elif c == "'":
            j = s.find("'", i + 1)
            if j < 0:
                raise Unbalanced("'")
            i = j
        elif c in '("':
            stack.append(c)
        elif c == ")":
            stack.pop()
        if not stack:
            return i
        i += 1
    raise Unbalanced(stack[-1])


def _closing_paren(s: str, start: int) -> int:
    return _closing(s, start)


def _closing_quote(s: str, start: int) -> int:
    """The closing `"` of a double-quoted string whose text starts at `start`."""
    return _closing(s, start - 1)


def _closing_backquote(s: str, start: int) -> int:
    i, n = start, len(s)
    while i < n:
        if s[i] == "\\":
            i += 2
            continue
        if s[i] == "`":
            return i
        i += 1
    raise Unbalanced("`")


def _ansi_c(text: str) -> str:
    try:
        return codecs.decode(text, "unicode_escape")
    except (UnicodeDecodeError, ValueError):
        return text


class _Lexer:
    """One pass over a command line; every character is looked at a bounded number of
    times (substitutions once more, when their own text is checked)."""

    def __init__(self, s: str) -> None:
        self.s = s
        self.commands: list[list[str]] = [[]]
        self.nested: list[str] = []
        self.word: list[str] = []
        self.in_word = False
        self.heredocs: list[tuple[str, bool, int]] = []
        self.bodies: dict[int, str] = {}

    def end_word(self) -> None:
        if self.in_word:
            self.commands[-1].append("".join(self.word))
        self.word = []
        self.in_word = False

    def end_command(self) -> None:
        self.end_word()
        if self.commands[-1]:
            self.commands.append([])

    def add(self, text: str) -> None:
        self.word.append(text)
        self.in_word = True

    def run(self) -> Parsed:
        s, n, i = self.s, len(self.s), 0
        while i < n:
            c = s[i]
            if c == "\\":
                if s.startswith("\\\n", i):
                    i += 2  # a line continuation joins the lines
                else:
                    self.add(s[i + 1 : i + 2] or "\\")
                    i += 2
            elif c == "'":
                j = s.find("'", i + 1)
                if j < 0:
                    raise Unbalanced("'")
                self.add(s[i + 1 : j])
                i = j + 1
            elif c == '"':
                i = self.double_quoted(i + 1)
            elif c == "$" and s.startswith("$'", i):
                j = i + 2
                while j < n and s[j] != "'":
                    j += 2 if s[j] == "\\" else 1
                if j >= n:
                    raise Unbalanced("$'")
                self.add(_ansi_c(s[i + 2 : j]))
                i = j + 1
            elif c == "`" or s.startswith("$(", i):
                i = self.substitution(i)
            elif c in _BLANKS:
                self.end_word()
                i += 1
            elif c == "#" and not self.in_word:
                j = s.find("\n", i)
                i = n if j < 0 else j
            elif c == "\n":
                self.end_command()
                i = self.skip_heredocs(i + 1)
            elif c in _OPERATOR_CHARS:
                i = self.operator(i)
            else:
                plain = _PLAIN.match(s, i)  # a run of ordinary characters at once
                j = plain.end() if plain else i + 1
                self.add(s[i:j])
                i = j
        self.end_command()
        commands: list[list[str]] = []
        bodies: dict[int, str] = {}
        for index, words in enumerate(self.commands):
            if words:
                if index in self.bodies:
                    bodies[len(commands)] = self.bodies[index]
                commands.append(words)
        return Parsed(commands, self.nested, bodies)

    def double_quoted(self, i: int) -> int:
        s, n = self.s, len(self.s)
        self.in_word = True
        while i < n:
            c = s[i]
            if c == '"':
                return i + 1
            if c == "\\" and i + 1 < n and s[i + 1] in '$`"\\\n':
                if s[i + 1] != "\n":
                    self.add(s[i + 1])
                i += 2
            elif c == "`" or s.startswith("$(", i):
                i = self.substitution(i)
            else:
                self.add(c)
                i += 1
        raise Unbalanced('"')

    def substitution(self, i: int) -> int:
        """`$(…)` or a backquoted command at `i`: kept in the word, its text kept to check."""
        s = self.s
        if s[i] == "`":
            j = _closing_backquote(s, i + 1)
            self.nested.append(s[i + 1 : j])
        else:
            j = _closing_paren(s, i + 1)
            self.nested.append(s[i + 2 : j])
        self.add(s[i : j + 1])
        return j + 1

    def operator(self, i: int) -> int:
        s = self.s
        if s[i] in "<>" and s.startswith("(", i + 1):  # process substitution
            j = _closing_paren(s, i + 1)
            self.nested.append(s[i + 2 : j])
            self.add(s[i : j + 1])
            return j + 1
        found = _OPERATOR.match(s, i)
        op = found.group() if found else s[i]
        if op in SEPARATORS:
            self.end_command()
            return i + len(op)
        # A redirection; `2>` names a file descriptor, not a word.
        if self.in_word and "".join(self.word).isdigit():
            self.word, self.in_word = [], False
        self.end_word()
        self.commands[-1].append(op)
        i += len(op)
        if op in ("<<", "<<-"):
            i = self.heredoc_word(i, strip_tabs=op == "<<-")
        return i

    def heredoc_word(self, i: int, strip_tabs: bool) -> int:
        s, n = self.s, len(self.s)
        while i < n and s[i] in _BLANKS:
            i += 1
        chars: list[str] = []
        while i < n and s[i] not in _BLANKS and s[i] != "\n" and s[i] not in _OPERATOR_CHARS:
            c = s[i]
            if c in "'\"":
                j = s.find(c, i + 1)
                if j < 0:
                    raise Unbalanced(c)
                chars.append(s[i + 1 : j])
                i = j + 1
            elif c == "\\":
                chars.append(s[i + 1 : i + 2])
                i += 2
            else:
                chars.append(c)
                i += 1
        delimiter = "".join(chars)
        self.commands[-1].append(delimiter)
        self.heredocs.append((delimiter, strip_tabs, len(self.commands) - 1))
        return i

    def skip_heredocs(self, i: int) -> int:
        """Heredoc bodies are data: skipped up to their delimiter line (or to the end, as
        bash does)."""
        s, n = self.s, len(self.s)
        for delimiter, strip_tabs, index in self.heredocs:
            start = i
            while i < n:
                j = s.find("\n", i)
                end = n if j < 0 else j
                line = s[i:end]
                if (line.lstrip("\t") if strip_tabs else line) == delimiter:
                    self.bodies[index] = s[start:i]
                    i = end + 1
                    break
                i = end + 1
            else:
                self.bodies[index] = s[start:]
        self.heredocs = []
        return i


def _fallback(command: str) -> Parsed:
    """Unbalanced quotes: words split at blanks and the plain operators."""
    spaced = command
    for op in ("&&", "||", ";", "|", "\n"):
        spaced = spaced.replace(op, f" {op} ")
    commands: list[list[str]] = [[]]
    for token in spaced.split(" "):
        token = token.strip(" \t\r")
        if not token:
            continue
        if token in SEPARATORS:
            commands.append([])
        else:
            commands[-1].append(token)
    return Parsed([words for words in commands if words], [])


def parse(command: str) -> Parsed:
    try:
        return _Lexer(command).run()
    except Unbalanced:
        return _fallback(command)


def split_commands(command: str) -> list[list[str]]:
    """The simple commands of a command line: words split at operators, heredoc bodies
    dropped."""
    return parse(command).commands
