"""Hostile and malformed input: one line each, a non-zero exit, no traceback, nothing left.

Two corpora, run through the real command line (`swarm.cli.main.main`, in-process for speed,
a few as real processes):

- malformed layouts: `swarm validate FILE` names `file:line:col` and exits 2, and `swarm up
  FILE` refuses the same file leaving no `.swarm/` and no tmux server behind;
- bad command lines: binary and oversized bodies, numbers SQLite cannot hold, files where
  folders belong, undecodable arguments, hostile hook payloads.
"""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from swarm import paths
from swarm.cli.main import main as swarm_main
from swarm.instance import SwarmInstance
from swarm.store import Store

# -- malformed layouts ----------------------------------------------------------------------

BOMB = (
    'a: &a ["x","x","x","x","x","x","x","x","x"]\n'
    + "".join(
        f"{n}: &{n} [{', '.join(['*' + p] * 9)}]\n"
        for p, n in zip("abcdefgh", "bcdefghi", strict=True)
    )
    + "roles: {mayor: {}}\n"
)
MERGE_BOMB = (
    "a: &a {x: 1, y: 2}\n"
    + "".join(
        f"{n}: &{n} {{<<: [{', '.join(['*' + p] * 8)}]}}\n"
        for p, n in zip("abcdefgh", "bcdefghi", strict=True)
    )
    + "roles: {mayor: {}}\n"
)
MAYOR = "roles: {mayor: {}}\n"

# (id, layout text (str, or bytes written as they are), a fragment of the expected line)
LAYOUTS: list[tuple[str, str | bytes, str]] = [
    ("alias-bomb", BOMB, "once aliases are expanded (an alias bomb?)"),
    ("merge-key-bomb", MERGE_BOMB, "once aliases are expanded (an alias bomb?)"),
    ("deep-nesting", "roles: " + "[" * 5000 + "]" * 5000 + "\n", "nested more than 100 levels"),
    ("deep-mappings", "roles: " + "{a: " * 300 + "1" + "}" * 300 + "\n", "nested more than 100"),
    ("recursive-alias", "roles: &r [*r]\n", "nested more than 100 levels"),
    (
        "not-utf8",
        b'roles:\n  mayor: {}\ndescription: "caf\xe9"\n',
        ":3:18: not UTF-8 text (byte 0xe9)",
    ),
    ("utf16-bom", "roles: {mayor: {}}\n".encode("utf-16"), ":1:1: not UTF-8 text (byte 0xff)"),
    (
        "nul-byte",
        b"roles: {mayor: {}}\ndescription: a\x00b\n",
        ":2:15: YAML syntax error: character U+0000",
    ),
    ("escape-byte", b"roles: {mayor: {}}\ndescription: a\x1b[2Jb\n", "character U+001B"),
    ("over-1-mb", MAYOR + "# " + "x" * 1_100_000 + "\n", ":1:1: larger than 1 MB"),
    ("session-dash-t", 'session: "-t"\n' + MAYOR, ":1:10: session: a session name cannot start"),
    (
        "session-10000",
        "session: " + "s" * 10_000 + "\n" + MAYOR,
        "at most 64 characters, got 10000",
    ),
    ("session-int", "session: 123\n" + MAYOR, "session: expected a name"),
    ("session-space", "session: a b\n" + MAYOR, "session: expected a name"),
    (
        "window-dash",
        MAYOR + "windows:\n  - name: -x\n    panes: [mayor]\n",
        "a window name cannot start",
    ),
    ("window-long", MAYOR + f"windows:\n  - name: {'w' * 100}\n    panes: [mayor]\n", "at most 64"),
    (
        "unknown-tmux-option",
        MAYOR + "options: {mouze: on}\n",
        "unknown tmux option 'mouze' (did you mean 'mouse'?)",
    ),
    ("tmux-option-flag", MAYOR + "options: {'-g': on}\n", "unknown tmux option '-g'"),
    ("tmux-option-newline", MAYOR + 'options: {status-left: "a\\nb"}\n', "one line of at most"),
    (
        "tmux-option-huge",
        MAYOR + f"options: {{status-left: {'x' * 3000}}}\n",
        "one line of at most",
    ),
    (
        "panes-empty",
        MAYOR + "windows:\n  - name: w\n    panes: []\n",
        "a window needs at least one pane",
    ),
    ("panes-missing", MAYOR + "windows:\n  - name: w\n", "missing required key 'panes'"),
    ("pane-number", MAYOR + "windows:\n  - name: w\n    panes: [3]\n", "windows[0].panes[0]"),
    ("repo-missing", "repo: ../no-such-repo\n" + MAYOR, ":1:7: repo: no such folder"),
    (
        "start-directory-missing",
        "start_directory: nope\n" + MAYOR,
        ":1:18: start_directory: no such folder",
    ),
    (
        "environment-600-keys",
        MAYOR + "environment:\n" + "".join(f"  K{i}: v\n" for i in range(600)),
        "600 variables: at most 500",
    ),
    (
        "environment-200000-keys",
        MAYOR + "environment: {" + ",".join(f"K{i}: v" for i in range(200_000)) + "}\n",
        "larger than 1 MB",
    ),
    (
        "environment-huge-values",
        MAYOR + "environment:\n" + "".join(f"  K{i}: {'v' * 30_000}\n" for i in range(4)),
        "characters in all",
    ),
    ("environment-nul", MAYOR + 'environment: {A: "x\\0y"}\n', "environment.A: a NUL character"),
    ("top-level-scalar", "hello\n", ":1:1: expected a mapping, got 'hello'"),
    ("roles-list", "roles: [mayor]\n", ":1:8: roles: expected a mapping, got a list"),
    ("roles-empty", "roles: {}\n", "no agents to run"),
    ("gate-mapping", MAYOR + "gate: {a: b}\n", "gate: expected a list of strings"),
    (
        "batch-wait-negative",
        MAYOR + "merge: {batch_wait: -1}\n",
        "merge.batch_wait: expected a number",
    ),
    ("gate-jobs-0", MAYOR + "merge: {gate_jobs: 0}\n", "merge.gate_jobs: expected an integer"),
    (
        "sidebar-enabled-string",
        MAYOR + "sidebar: {enabled: 'yes'}\n",
        "sidebar.enabled: expected true or false",
    ),
    (
        "keys-prefix-space",
        MAYOR + "keys: {prefix: 'a b'}\n",
        "keys.prefix: expected a tmux key name",
    ),
    ("runtime-int", "runtime: 3\n" + MAYOR, ":1:10: runtime: expected one of"),
    (
        "polecats-per-window-huge",
        "polecats_per_window: 99999999999999999999999\n" + MAYOR,
        "polecats_per_window: expected an integer",
    ),
    ("role-paths-string", "role_paths: x\n" + MAYOR, "role_paths: expected a list of strings"),
    (
        "count-1e9",
        "roles: {polecat: {count: 1000000000}}\n",
        "roles.polecat.count: expected an integer from 0 to 100",
    ),
    ("prompt-list", "roles: {mayor: {prompt: [1]}}\n", "roles.mayor.prompt: expected a string"),
    (
        "stall-after-0",
        "roles: {mayor: {health: {stall_after: 0}}}\n",
        "stall_after: expected a number greater than 0",
    ),
    (
        "python-tag",
        MAYOR + "description: !!python/name:os.system x\n",
        "YAML syntax error: could not determine a constructor",
    ),
    ("unclosed-quote", "roles: 'mayor\n", "YAML syntax error"),
    ("description-list", MAYOR + "description: [a]\n", "description: expected a string"),
]


@pytest.fixture
def place(tmp_path: Path, repo: Path, tmux_socket: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Layouts are written beside (not inside) a real repository; commands run in it."""
    monkeypatch.chdir(repo)
    return tmp_path / "layouts"


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    try:
        code = swarm_main(argv)
    except SystemExit as exc:  # argparse
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def _one_line(err: str) -> str:
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "\x1b" not in err
    return lines[0]


def _nothing_left(repo: Path, socket: str) -> None:
    assert not paths.state_dir(repo).exists()
    running = subprocess.run(["tmux", "-L", socket, "list-sessions"], capture_output=True)
    assert running.returncode != 0, "a tmux server was left running"


@pytest.mark.parametrize(
    ("text", "fragment"), [c[1:] for c in LAYOUTS], ids=[c[0] for c in LAYOUTS]
)
def test_malformed_layout_one_line_and_nothing_left(
    place: Path,
    repo: Path,
    tmux_socket: str,
    text: str | bytes,
    fragment: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    place.mkdir()
    layout = place / "layout.yaml"
    layout.write_bytes(text if isinstance(text, bytes) else text.encode())
    code, _out, err = _run(["validate", str(layout)], capsys)
    line = _one_line(err)
    assert code == 2
    assert line.startswith(f"swarm: {layout}:"), line
    assert re.match(rf"swarm: {re.escape(str(layout))}:\d+:\d+: ", line), line
    assert fragment in line
    code, _out, err = _run(["up", str(layout), "--detach"], capsys)
    assert code == 2 and _one_line(err) == line  # up refuses exactly what validate does
    _nothing_left(repo, tmux_socket)


def test_layout_corpus_size() -> None:
    assert len(LAYOUTS) >= 40


def test_a_tmux_refusal_during_up_leaves_nothing(
    place: Path, repo: Path, tmux_socket: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A value only tmux can judge (`mouse: maybe`) fails after the server started: undone."""
    place.mkdir()
    layout = place / "bad-value.yaml"
    layout.write_text("runtime: sim\nroles: {mayor: {}}\noptions: {mouse: maybe}\n")
    code, _out, err = _run(["validate", str(layout)], capsys)
    assert code == 0, err
    code, _out, err = _run(["up", str(layout), "--detach"], capsys)
    assert "Traceback" not in err
    failure = [line for line in err.splitlines() if line.startswith("swarm:")]
    assert code != 0 and len(failure) == 1 and "bad value: maybe" in failure[0]
    _nothing_left(repo, tmux_socket)


# -- bad command lines ----------------------------------------------------------------------


@pytest.fixture
def swarm_here(recorded_swarm: SwarmInstance, repo: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A swarm's state (record and store with one task), no tmux: commands run in the repo."""
    state = recorded_swarm.state_dir
    with Store.open(paths.db_path(state)) as store:
        store.add_task("the only task")
        store.upsert_agent("polecat-1", "polecat", "sim")
    monkeypatch.chdir(repo)
    files = repo.parent / "inputs"
    files.mkdir()
    (files / "binary").write_bytes(b"text\x00more")
    (files / "latin1").write_bytes("caf\xe9\n".encode("latin-1"))
    (files / "big").write_bytes(b"x" * 1_500_000)
    (files / "folder").mkdir()
    return files


def _stdin(data: bytes) -> Callable[[pytest.MonkeyPatch], None]:
    def apply(monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))

    return apply


BIG = "9" * 24
# (id, argv ({files} is the inputs folder), a fragment of the line, stdin or None)
CALLS: list[tuple[str, list[str], str, bytes | None]] = [
    ("body-dev-zero", ["task", "add", "t", "--body", "/dev/zero"], "must be a regular file", None),
    (
        "body-binary",
        ["task", "add", "t", "--body", "{files}/binary"],
        "binary data (a NUL byte)",
        None,
    ),
    (
        "body-latin1",
        ["task", "add", "t", "--body", "{files}/latin1"],
        "not UTF-8 text (byte 0xe9",
        None,
    ),
    ("body-1.5-mb", ["task", "add", "t", "--body", "{files}/big"], "larger than 1 MB", None),
    ("body-missing", ["task", "add", "t", "--body", "{files}/nope"], "no such file", None),
    (
        "body-folder",
        ["task", "add", "t", "--body", "{files}/folder"],
        "must be a regular file",
        None,
    ),
    ("body-stdin-binary", ["task", "add", "t", "--body", "-"], "binary data", b"\x00\x01\x02"),
    ("body-stdin-2-mb", ["task", "add", "t", "--body", "-"], "larger than 1 MB", b"y" * 2_000_000),
    ("body-stdin-not-utf8", ["task", "add", "t", "--body", "-"], "not UTF-8", b"\xff\xfe\xfd"),
    ("title-empty", ["task", "add", ""], "a task needs a title", None),
    ("title-blank", ["task", "add", "   "], "a task needs a title", None),
    ("title-600-chars", ["task", "add", "x" * 600], "at most 500 characters", None),
    ("priority-9", ["task", "add", "t", "--priority", "9"], "priority must be 0..4", None),
    ("priority-negative", ["task", "add", "t", "--priority", "-1"], "priority must be 0..4", None),
    ("priority-word", ["task", "add", "t", "--priority", "high"], "invalid int value", None),
    ("priority-huge", ["task", "add", "t", "--priority", BIG], "priority must be 0..4", None),
    ("task-add-no-title", ["task", "add"], "the following arguments are required", None),
    ("task-show-unknown", ["task", "show", "sw-nope"], "unknown task", None),
    (
        "task-show-escape",
        ["task", "show", "\x1b[2J\x1b]0;pwn\x07"],
        "unknown task '^[[2J^[]0;pwn^G'",
        None,
    ),
    ("task-cancel-unknown", ["task", "cancel", "sw-nope"], "unknown task", None),
    ("task-retry-unknown", ["task", "retry", "sw-nope"], "unknown task", None),
    ("task-current-no-agent", ["task", "current"], "no agent", None),
    ("task-no-action", ["task"], "the following arguments are required", None),
    ("sling-unknown-task", ["sling", "sw-nope", "polecat-1"], "unknown task", None),
    ("sling-unknown-agent", ["sling", "sw-nope", "nobody"], "unknown", None),
    ("log-n-negative", ["log", "-n", "-1"], "expected a number from 0, got -1", None),
    ("log-n-word", ["log", "-n", "many"], "expected a whole number", None),
    ("log-n-huge", ["log", "-n", BIG], "expected a number from 0", None),
    ("mq-reject-huge", ["mq", "reject", BIG], f"no merge request #{BIG}", None),
    ("mq-retry-huge", ["mq", "retry", BIG], f"no merge request #{BIG}", None),
    ("mq-reject-zero", ["mq", "reject", "0"], "no merge request #0", None),
    ("mq-reject-hash-huge", ["mq", "reject", "#" + BIG], "no merge request", None),
    ("mq-reject-unknown-task", ["mq", "reject", "sw-nope"], "unknown task", None),
    ("refinery-jobs-0", ["refinery", "--jobs", "0"], "--jobs must be at least 1", None),
    ("status-repo-file", ["status", "--repo", "/etc/passwd"], "/etc/passwd: not a folder", None),
    ("status-repo-missing", ["status", "--repo", "/no/such/folder"], "no such folder", None),
    ("down-repo-file", ["down", "--repo", "/etc/passwd"], "not a folder", None),
    ("attach-repo-file", ["attach", "--repo", "/etc/passwd"], "not a folder", None),
    ("up-repo-file", ["up", "--repo", "/etc/passwd"], "not a folder", None),
    ("up-unknown-layout", ["up", "fatcory", "--detach"], "unknown layout 'fatcory'", None),
    ("up-layout-dev-zero", ["up", "/dev/zero", "--detach"], "/dev/zero", None),
    ("validate-dev-zero", ["validate", "/dev/zero"], "/dev/zero: not a regular file", None),
    ("validate-missing", ["validate", "{files}/nope.yaml"], "no such file", None),
    ("validate-folder", ["validate", "{files}/folder"], "not a regular file", None),
    ("validate-binary", ["validate", "{files}/binary"], "character U+0000", None),
    ("nudge-unknown-agent", ["nudge", "nobody", "hi"], "nobody", None),
    ("approve-unknown-agent", ["approve", "nobody"], "nobody", None),
    ("restart-unknown-agent", ["restart", "nobody"], "nobody", None),
    ("done-no-agent", ["done"], "no agent", None),
    ("unknown-command", ["frobnicate"], "invalid choice: 'frobnicate'", None),
    ("unknown-option", ["status", "--colour"], "unrecognized arguments: --colour", None),
]


@pytest.mark.parametrize(
    ("argv", "fragment", "stdin"), [c[1:] for c in CALLS], ids=[c[0] for c in CALLS]
)
def test_bad_call_one_line_nonzero_nothing_changed(
    swarm_here: Path,
    repo: Path,
    argv: list[str],
    fragment: str,
    stdin: bytes | None,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("SWARM_AGENT", raising=False)
    if stdin is not None:
        _stdin(stdin)(monkeypatch)
    argv = [a.replace("{files}", str(swarm_here)) for a in argv]
    before = sorted(p.name for p in paths.state_dir(repo).iterdir())
    code, _out, err = _run(argv, capsys)
    line = _one_line(err)
    assert code != 0
    assert line.startswith("swarm"), line
    assert fragment in line, line
    with Store.open(paths.db_path(paths.state_dir(repo))) as store:
        assert [t.title for t in store.list_tasks()] == ["the only task"]
    assert sorted(p.name for p in paths.state_dir(repo).iterdir()) == before


def test_call_corpus_size() -> None:
    assert len(CALLS) >= 40


def _swarm(
    args: list[str | bytes], cwd: Path, stdin: bytes = b""
) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    env.pop("SWARM_AGENT", None)
    return subprocess.run(
        [sys.executable, "-m", "swarm", *args],
        cwd=cwd,
        env=env,
        input=stdin,
        capture_output=True,
        timeout=60,
    )


def test_real_process_undecodable_argument(swarm_here: Path, repo: Path) -> None:
    done = _swarm(["task", "add", b"caf\xe9"], repo)
    err = done.stderr.decode()
    assert done.returncode == 2 and _one_line(err).startswith("swarm: argument 3")
    assert "not valid UTF-8" in err


def test_real_process_body_dev_zero_and_validate_dev_zero(swarm_here: Path, repo: Path) -> None:
    for args in (["task", "add", "t", "--body", "/dev/zero"], ["validate", "/dev/zero"]):
        done = _swarm(list(args), repo)
        assert done.returncode == 2
        assert "/dev/zero" in _one_line(done.stderr.decode())


@pytest.mark.parametrize(
    "payload",
    [
        b"[" * 100_000 + b"]" * 100_000,
        b'{"a": ' * 50_000 + b"1" + b"}" * 50_000,
        b" " * 17_000_000 + b"{}",
        b"\xff\xfe not json",
        b'{"hook_event_name": "\xed\xa0\x80"}',
    ],
    ids=["deep-list", "deep-object", "17-mb", "not-json", "lone-surrogate"],
)
def test_real_process_report_with_hostile_stdin(
    swarm_here: Path, repo: Path, payload: bytes
) -> None:
    """`swarm report` (run by hooks) never fails its runtime (exit 0), never a traceback."""
    done = _swarm(["report", "Stop", "--agent", "polecat-1"], repo, stdin=payload)
    assert done.returncode == 0
    assert b"Traceback" not in done.stderr
