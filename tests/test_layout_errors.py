"""Malformed layouts and role files: each gives ONE exact line naming file:line:col and key.

`{dir}` in an expected message is the test's folder, `{bundled}` the bundled roles folder.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from swarm import paths
from swarm.config import error_report, load_plan, validate_layout
from swarm.errors import EXIT_USAGE, ConfigError, SwarmError

ROLE_FILES = {
    "badhealth.yaml": "runtime: sim\nhealth:\n  stall_after: -5\n",
    "odd.yaml": "runtime: sim\npromt: hi\n",
    "norun.yaml": "description: x\n",
    "cmd.yaml": "runtime: command\n",
    "misnamed.yaml": "name: other\nruntime: sim\n",
    "badyaml.yaml": "runtime: [sim\n",
}

# (id, layout text, expected message; {file} is the layout file)
CASES: list[tuple[str, str, str]] = [
    (
        "unknown-top-level-key",
        "sesion: x\nroles: {mayor: {}}\n",
        "{file}:1:1: unknown key 'sesion' (did you mean 'session'?)",
    ),
    (
        "misspelt-role-field",
        "roles:\n  polecat:\n    cuont: 4\n",
        "{file}:3:5: roles.polecat: unknown key 'cuont' (did you mean 'count'?)",
    ),
    (
        "count-is-a-string",
        "roles:\n  polecat: {count: four}\n",
        "{file}:2:20: roles.polecat.count: expected an integer from 0 to 100, got 'four'",
    ),
    (
        "101-polecats",
        "roles:\n  polecat: {count: 101}\n",
        "{file}:2:20: roles.polecat.count: expected an integer from 0 to 100, got 101",
    ),
    (
        "priority-above-nice-19",
        "roles:\n  polecat: {nice: 20}\n",
        "{file}:2:19: roles.polecat.nice: expected an integer from 0 to 19, got 20",
    ),
    (
        "negative-count",
        "roles:\n  polecat:\n    count: -1\n",
        "{file}:3:12: roles.polecat.count: expected an integer from 0 to 100, got -1",
    ),
    (
        "101-mayors",
        "roles:\n  mayor: {count: 101}\n",
        "{file}:2:18: roles.mayor.count: expected an integer from 0 to 100, got 101",
    ),
    (
        "bool-for-int",
        "roles:\n  polecat: {count: true}\n",
        "{file}:2:20: roles.polecat.count: expected an integer from 0 to 100, got true",
    ),
    (
        "unknown-tmux-layout",
        "roles: {mayor: {}}\nwindows:\n  - name: w\n    layout: grid\n    panes: [mayor]\n",
        "{file}:4:13: windows[0].layout: expected one of main-vertical, main-horizontal, "
        "tiled, even-horizontal, even-vertical, got 'grid'",
    ),
    (
        "unknown-role",
        "roles:\n  mayor: {}\n  polecats: {count: 2}\n",
        "{file}:3:3: roles.polecats: unknown role 'polecats' (did you mean 'polecat'?); "
        "no polecats.yaml in {dir}/.swarm/roles, {bundled}",
    ),
    (
        "missing-role-file",
        "roles:\n  reviewer: {count: 2}\n",
        "{file}:2:3: roles.reviewer: unknown role 'reviewer' (did you mean 'refinery'?); "
        "no reviewer.yaml in {dir}/.swarm/roles, {bundled}",
    ),
    (
        "unknown-agent-number",
        "roles: {polecat: {count: 4}}\nwindows:\n  - name: w\n    panes: [polecat-1, polecat-9]\n",
        "{file}:4:24: windows[0].panes[1]: unknown agent 'polecat-9': roles.polecat.count is 4",
    ),
    (
        "unknown-agent-name",
        "roles: {mayor: {}}\nwindows:\n  - name: w\n    panes: [mayr]\n",
        "{file}:4:13: windows[0].panes[0]: unknown agent or role 'mayr' (did you mean 'mayor'?)",
    ),
    (
        "agent-placed-twice",
        "roles: {mayor: {}, polecat: {count: 2}}\nwindows:\n  - name: a\n    panes: [mayor]\n"
        "  - name: b\n    panes: [polecat, mayor]\n",
        "{file}:6:22: windows[1].panes[1]: agent 'mayor' is already placed at windows[0].panes[0]",
    ),
    (
        "role-placed-twice",
        "roles: {polecat: {count: 2}}\nwindows:\n  - name: a\n    panes: [polecat]\n"
        "  - name: b\n    panes: [polecat]\n",
        "{file}:6:13: windows[1].panes[0]: role 'polecat' is already placed at windows[0].panes[0]",
    ),
    (
        "size-on-second-pane",
        "roles: {mayor: {}, witness: {}}\nwindows:\n  - name: a\n    layout: main-vertical\n"
        "    panes:\n      - mayor\n      - {agent: witness, size: 30%}\n",
        "{file}:7:32: windows[0].panes[1].size: size is allowed only on the first pane of a "
        "main-vertical or main-horizontal window",
    ),
    (
        "size-in-tiled-window",
        "roles: {mayor: {}}\nwindows:\n  - name: a\n    panes:\n"
        "      - {agent: mayor, size: 30%}\n",
        "{file}:5:30: windows[0].panes[0].size: size is allowed only on the first pane of a "
        "main-vertical or main-horizontal window",
    ),
    (
        "size-150-percent",
        "roles: {mayor: {}}\nwindows:\n  - name: a\n    layout: main-vertical\n    panes:\n"
        "      - {agent: mayor, size: 150%}\n",
        "{file}:6:30: windows[0].panes[0].size: expected a size like '60%' or a number of "
        "cells, got '150%'",
    ),
    (
        "sidebar-side-top",
        "roles: {mayor: {}}\nsidebar: {side: top}\n",
        "{file}:2:17: sidebar.side: expected one of left, right, got 'top'",
    ),
    (
        "sidebar-width-5",
        "roles: {mayor: {}}\nsidebar:\n  width: 5\n",
        "{file}:3:10: sidebar.width: expected an integer from 20 to 120, got 5",
    ),
    (
        "yaml-syntax-error",
        "roles: {mayor: {}\nwindows: []\n",
        "{file}:2:1: YAML syntax error: did not find expected ',' or '}'",
    ),
    (
        "yaml-tab-indent",
        "roles:\n\tmayor: {}\n",
        "{file}:2:1: YAML syntax error: found character that cannot start any token",
    ),
    (
        "yaml-two-documents",
        "roles: {mayor: {}}\n---\nroles: {}\n",
        "{file}:2:1: YAML syntax error: but found another document",
    ),
    (
        "duplicate-key",
        "roles:\n  mayor: {}\n  mayor: {count: 1}\n",
        "{file}:3:3: roles: duplicate key 'mayor'",
    ),
    ("empty-file", "", "{file}:1:1: empty layout"),
    ("only-comments", "# nothing here\n", "{file}:1:1: empty layout"),
    ("top-level-list", "- mayor\n- polecat\n", "{file}:1:1: expected a mapping, got a list"),
    (
        "missing-roles",
        "description: hi\n",
        "{file}:1:1: missing required key 'roles' (which roles run and how many, "
        "e.g. roles: {polecat: {count: 4}})",
    ),
    (
        "environment-value-list",
        "roles: {mayor: {}}\nenvironment:\n  FOO: [1, 2]\n",
        "{file}:3:8: environment.FOO: expected a string or a number, got a list",
    ),
    (
        "environment-value-bool",
        "roles: {mayor: {}}\nenvironment:\n  DEBUG: yes\n",
        "{file}:3:10: environment.DEBUG: expected a string or a number "
        "(quote yes/no/on/off/true/false), got true",
    ),
    (
        "environment-bad-name",
        "roles: {mayor: {}}\nenvironment:\n  BAD-NAME: x\n",
        "{file}:3:3: environment: bad name 'BAD-NAME': an environment variable name uses "
        "letters, digits and '_'",
    ),
    (
        "options-value-mapping",
        "roles: {mayor: {}}\noptions:\n  mouse: {on: 1}\n",
        "{file}:3:10: options.mouse: expected a string, number or boolean, got a mapping",
    ),
    (
        "unknown-runtime",
        "runtime: gpt\nroles: {mayor: {}}\n",
        "{file}:1:10: runtime: expected one of sim, claude, codex, gemini, aider, command, "
        "builtin, got 'gpt'",
    ),
    (
        "unknown-runtime-in-role-override",
        "roles:\n  mayor: {runtime: gpt}\n",
        "{file}:2:20: roles.mayor.runtime: expected one of sim, claude, codex, gemini, aider, "
        "command, builtin, got 'gpt'",
    ),
    (
        "command-runtime-without-command",
        "roles:\n  mayor: {runtime: command}\n",
        "{file}:2:20: roles.mayor.runtime: role 'mayor': runtime 'command' needs a 'command' "
        "list (the argv to run)",
    ),
    (
        "polecats-per-window-0",
        "polecats_per_window: 0\nroles: {mayor: {}}\n",
        "{file}:1:22: polecats_per_window: expected an integer from 1 to 100, got 0",
    ),
    (
        "merge-batch-size-0",
        "roles: {mayor: {}}\nmerge: {batch_size: 0}\n",
        "{file}:2:21: merge.batch_size: expected an integer from 1 to 32, got 0",
    ),
    (
        "merge-strategy-squash",
        "roles: {mayor: {}}\nmerge:\n  strategy: squash\n",
        "{file}:3:13: merge.strategy: expected one of rebase, merge, got 'squash'",
    ),
    (
        "merge-max-bounces-21",
        "roles: {mayor: {}}\nmerge: {max_bounces: 21}\n",
        "{file}:2:22: merge.max_bounces: expected an integer from 1 to 20, got 21",
    ),
    (
        "windows-not-a-list",
        "roles: {mayor: {}}\nwindows:\n  name: a\n",
        "{file}:3:3: windows: expected a list, got a mapping",
    ),
    (
        "pane-item-unknown-key",
        "roles: {mayor: {}}\nwindows:\n  - name: a\n    layout: main-vertical\n    panes:\n"
        "      - {agent: mayor, sise: 60%}\n",
        "{file}:6:24: windows[0].panes[0]: unknown key 'sise' (did you mean 'size'?)",
    ),
    (
        "pane-item-without-agent",
        "roles: {mayor: {}}\nwindows:\n  - name: a\n    panes:\n      - {size: 60%}\n",
        "{file}:5:9: windows[0].panes[0]: missing required key 'agent' "
        "(an agent name (polecat-2) or a role name (polecat))",
    ),
    (
        "window-without-name",
        "roles: {mayor: {}}\nwindows:\n  - layout: tiled\n    panes: [mayor]\n",
        "{file}:3:5: windows[0]: missing required key 'name' (the tmux window name)",
    ),
    (
        "window-named-controller",
        "roles: {mayor: {}}\nwindows:\n  - name: controller\n    panes: [mayor]\n",
        "{file}:3:11: windows[0].name: window name 'controller' is reserved for the swarm's "
        "controller",
    ),
    (
        "duplicate-window-name",
        "roles: {mayor: {}, witness: {}}\nwindows:\n  - name: a\n    panes: [mayor]\n"
        "  - name: a\n    panes: [witness]\n",
        "{file}:5:11: windows[1].name: window name 'a' is already used at windows[0].name",
    ),
    (
        "session-with-space",
        "session: my team\nroles: {mayor: {}}\n",
        "{file}:1:10: session: expected a name of letters, digits, '-' and '_', got 'my team'",
    ),
    (
        "role-name-starts-with-digit",
        "roles:\n  2fast: {}\n",
        "{file}:2:3: roles: bad name '2fast': a role name starts with a letter and uses "
        "letters, digits, '_' and '-'",
    ),
    (
        "role-reserved-name",
        "roles: {sidebar: {}}\n",
        "{file}:1:9: roles.sidebar: 'sidebar' is reserved for swarm's own pane",
    ),
    (
        "every-count-zero",
        "roles:\n  polecat: {count: 0}\n  mayor: {count: 0}\n",
        "{file}:2:3: roles: no agents to run: every role has count 0",
    ),
    (
        "health-max-restarts-0",
        "roles:\n  polecat:\n    health: {max_restarts: 0}\n",
        "{file}:3:28: roles.polecat.health.max_restarts: expected an integer from 1 to 100, got 0",
    ),
    (
        "health-stall-after-string",
        "roles:\n  polecat:\n    health: {stall_after: soon}\n",
        "{file}:3:27: roles.polecat.health.stall_after: expected a number greater than 0, "
        "got 'soon'",
    ),
    (
        "skip-permissions-int",
        "roles:\n  polecat:\n    permissions: {skip_permissions: 1}\n",
        "{file}:3:37: roles.polecat.permissions.skip_permissions: expected true or false, got 1",
    ),
    (
        "guard-deny-string",
        "roles:\n  polecat:\n    guard: {deny: git push}\n",
        "{file}:3:19: roles.polecat.guard.deny: expected a list of strings, got 'git push'",
    ),
    (
        "gate-a-string",
        "roles: {mayor: {}}\ngate: pytest -q\n",
        "{file}:2:7: gate: expected a list of strings, got 'pytest -q'",
    ),
    (
        "gate-item-int",
        "roles: {mayor: {}}\ngate: [pytest, 3]\n",
        "{file}:2:16: gate[1]: expected a string, got 3",
    ),
    (
        "keys-prefix-empty",
        "roles: {mayor: {}}\nkeys: {prefix: ''}\n",
        "{file}:2:16: keys.prefix: expected a tmux key name such as 'g' or 'C-s', got ''",
    ),
    (
        "role-path-missing",
        "role_paths: [nope]\nroles: {mayor: {}}\n",
        "{file}:1:14: role_paths[0]: no such folder: {dir}/nope",
    ),
    (
        "undefined-alias",
        "roles: {mayor: *nope}\n",
        "{file}:1:16: YAML syntax error: found undefined alias",
    ),
    (
        "non-string-key",
        "roles: {mayor: {}}\n? [a, b]\n: 1\n",
        "{file}:2:3: mapping keys must be plain strings",
    ),
]

# Errors inside a role file name the role file itself: (id, role, expected).
ROLE_CASES: list[tuple[str, str, str]] = [
    (
        "role-file-negative-health",
        "badhealth",
        "{dir}/myroles/badhealth.yaml:3:16: health.stall_after: expected a number greater "
        "than 0, got -5",
    ),
    (
        "role-file-unknown-key",
        "odd",
        "{dir}/myroles/odd.yaml:2:1: unknown key 'promt' (did you mean 'prompt'?)",
    ),
    (
        "role-file-missing-runtime",
        "norun",
        "{dir}/myroles/norun.yaml:1:1: missing required key 'runtime' "
        "(what runs in the pane: sim, claude, builtin, ...)",
    ),
    (
        "role-file-command-without-argv",
        "cmd",
        "{dir}/myroles/cmd.yaml:1:10: runtime: role 'cmd': runtime 'command' needs a "
        "'command' list (the argv to run)",
    ),
    (
        "role-file-name-mismatch",
        "misnamed",
        "{dir}/myroles/misnamed.yaml:1:7: name: name 'other' does not match the file name "
        "'misnamed.yaml'",
    ),
    (
        "role-file-yaml-error",
        "badyaml",
        "{dir}/myroles/badyaml.yaml:2:1: YAML syntax error: did not find expected ',' or ']'",
    ),
]


@pytest.fixture
def work(tmp_path: Path) -> Path:
    folder = tmp_path.resolve()
    roles = folder / "myroles"
    roles.mkdir()
    for name, text in ROLE_FILES.items():
        (roles / name).write_text(text)
    return folder


def _expected(template: str, work: Path, file: Path) -> str:
    return (
        template.replace("{file}", str(file))
        .replace("{dir}", str(work))
        .replace("{bundled}", str(paths.bundled_dir("roles")))
    )


def _error(layout: Path, repo: Path) -> str:
    with pytest.raises(ConfigError) as info:
        validate_layout(layout, repo=repo)
    return info.value.message


def _check_one_line(message: str, starts_with: str) -> None:
    assert "\n" not in message
    assert message.startswith(starts_with)


@pytest.mark.parametrize(("text", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_malformed_layout(work: Path, text: str, expected: str) -> None:
    layout = work / "layout.yaml"
    layout.write_text(text)
    message = _error(layout, work)
    assert message == _expected(expected, work, layout)
    _check_one_line(message, f"{layout}:")


@pytest.mark.parametrize(
    ("role", "expected"), [c[1:] for c in ROLE_CASES], ids=[c[0] for c in ROLE_CASES]
)
def test_malformed_role_file(work: Path, role: str, expected: str) -> None:
    layout = work / "layout.yaml"
    layout.write_text(f"role_paths: [myroles]\nroles:\n  {role}: {{}}\n")
    message = _error(layout, work)
    assert message == _expected(expected, work, layout)
    _check_one_line(message, f"{work}/myroles/{role}.yaml:")


def test_case_count() -> None:
    assert len(CASES) + len(ROLE_CASES) >= 25


def test_cli_contract_message_and_exit_code(work: Path) -> None:
    """What the CLI prints for a bad layout: the one line, and exit code 2."""
    (work / ".git").mkdir()
    layout = work / "bad.yaml"
    layout.write_text("roles:\n  polecat: {count: 500}\n")
    with pytest.raises(SwarmError) as info:
        load_plan(str(layout), work)
    message, code = error_report(info.value)
    assert code == EXIT_USAGE == 2
    assert message == (
        f"{layout}:2:20: roles.polecat.count: expected an integer from 0 to 100, got 500"
    )


def test_cli_contract_unknown_layout_name(work: Path) -> None:
    (work / ".git").mkdir()
    with pytest.raises(SwarmError) as info:
        load_plan("fatcory", work)
    message, code = error_report(info.value)
    assert code == 2
    assert message == (
        "unknown layout 'fatcory' (did you mean 'factory'? bundled: demo, factory, solo, team)"
    )


def test_cli_contract_missing_layout_file(work: Path) -> None:
    (work / ".git").mkdir()
    with pytest.raises(SwarmError) as info:
        load_plan(str(work / "nope.yaml"), work)
    assert error_report(info.value) == (
        f"{work}/nope.yaml: no such file (a layout file, or a bundled name)",
        2,
    )


def test_cli_contract_not_a_git_repo(work: Path) -> None:
    with pytest.raises(SwarmError) as info:
        load_plan("solo", work)
    assert error_report(info.value) == (
        f"{work}: not a git repository (run `git init` first)",
        2,
    )


def test_bad_override_names_the_command_line(work: Path) -> None:
    (work / ".git").mkdir()
    with pytest.raises(ConfigError) as info:
        load_plan("team", work, overrides={"roles": {"polecat": {"count": 500}}})
    assert info.value.message == (
        "<command line>: roles.polecat.count: expected an integer from 0 to 100, got 500"
    )


def test_first_error_in_document_order_wins(work: Path) -> None:
    layout = work / "layout.yaml"
    layout.write_text("roles:\n  polecat: {count: 500}\nsidebar: {side: top}\nbogus: 1\n")
    assert _error(layout, work).startswith(f"{layout}:2:20: roles.polecat.count:")
