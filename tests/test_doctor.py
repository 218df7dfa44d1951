"""`swarm doctor`: each check against stand-in programs, and the command's exit code."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from swarm import doctor


def fake_program(folder: Path, name: str, output: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(f"#!/bin/sh\necho '{output}'\n")
    path.chmod(0o755)
    return path


@pytest.fixture
def bin_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A PATH holding only stand-ins (and git, which the repo fixture needs)."""
    folder = tmp_path / "bin"
    folder.mkdir()
    git = subprocess.run(["which", "git"], capture_output=True, text=True).stdout.strip()
    (folder / "git").symlink_to(git)
    monkeypatch.setenv("PATH", str(folder))
    monkeypatch.delenv("SWARM_CLAUDE_BIN", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    return folder


@pytest.mark.parametrize(
    ("output", "ok", "says"),
    [
        ("tmux 3.3a", True, "3.3a"),
        ("tmux 3.2", True, "3.2"),
        ("tmux 3.1c", False, "too old"),
        ("tmux next-3.5", True, "3.5"),
    ],
)
def test_tmux_version(bin_dir: Path, output: str, ok: bool, says: str) -> None:
    fake_program(bin_dir, "tmux", output)
    check = doctor.check_tmux()
    assert check.ok is ok and says in check.detail


def test_tmux_missing(bin_dir: Path) -> None:
    check = doctor.check_tmux()
    assert not check.ok and check.required and "install tmux" in check.fix


def test_runtime_found_with_its_version(bin_dir: Path) -> None:
    fake_program(bin_dir, "claude", "2.1.197 (Claude Code)")
    fake_program(bin_dir, "codex", "codex-cli 0.46.0")
    env = {"PATH": str(bin_dir), "HOME": "/nonexistent"}
    claude = doctor.check_runtime("claude", env, ["mayor", "polecat-1"])
    assert (
        claude.ok
        and claude.detail.startswith("2.1.197 at ")
        and "(for mayor, polecat-1)" in claude.detail
    )
    assert doctor.check_runtime("codex", env).detail.startswith("0.46.0 at ")
    gemini = doctor.check_runtime("gemini", env)
    assert not gemini.ok and "@google/gemini-cli" in gemini.fix


def test_claude_from_swarm_claude_bin(bin_dir: Path, tmp_path: Path) -> None:
    fake = fake_program(tmp_path / "elsewhere", "claude", "2.1.200 (Claude Code)")
    assert doctor.check_runtime("claude", {"PATH": "", "SWARM_CLAUDE_BIN": str(fake)}).ok
    wrong = doctor.check_runtime("claude", {"PATH": "", "SWARM_CLAUDE_BIN": str(tmp_path / "nope")})
    assert not wrong.ok and "SWARM_CLAUDE_BIN" in wrong.detail and "npm install" in wrong.fix


@pytest.mark.parametrize(
    ("version", "ok", "says"),
    [
        ("2.1.100", False, "older than the oldest tested (2.1.197)"),
        ("2.1.197", True, ""),
        ("2.1.250", True, ""),
        ("2.1.332", True, ""),
        ("2.2.0", False, "newer than the newest tested (2.1.332)"),
    ],
)
def test_claude_outside_the_tested_versions_is_said(
    tmp_path: Path, version: str, ok: bool, says: str
) -> None:
    fake = fake_program(tmp_path / "bin", "claude", f"{version} (Claude Code)")
    check = doctor.check_runtime("claude", {"PATH": "", "SWARM_CLAUDE_BIN": str(fake)})
    assert check.ok is ok and says in check.detail
    assert check.required or not ok  # a warning: it may well work


def test_keys(tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert doctor.check_key("claude", {"ANTHROPIC_API_KEY": "k"}, home).ok  # type: ignore[union-attr]
    missing = doctor.check_key("claude", {}, home)
    assert missing is not None and not missing.ok and missing.required
    assert "ANTHROPIC_API_KEY" in missing.fix and "log in" in missing.fix
    (home / ".claude").mkdir(parents=True)
    (home / ".claude" / ".credentials.json").write_text("{}")
    assert doctor.check_key("claude", {}, home).ok  # type: ignore[union-attr]
    assert not doctor.check_key("gemini", {}, home).ok  # type: ignore[union-attr]
    aider = doctor.check_key("aider", {}, home)
    assert aider is not None and not aider.required
    assert doctor.check_key("sim", {}, home) is None


def test_report_and_exit_code() -> None:
    good = [doctor.Check("tmux", True, "3.3a")]
    text, code = doctor.report(good)
    assert code == 0 and text.splitlines() == ["ok       tmux: 3.3a", "all good"]
    warn = [*good, doctor.Check("aider key", False, "none set", "export X", required=False)]
    assert doctor.report(warn)[1] == 0
    bad = [*good, doctor.Check("git", False, "not found", "install git")]
    text, code = doctor.report(bad)
    assert code == 1 and "MISSING  git: not found" in text and "fix: install git" in text


def test_checks_follow_the_layout(repo: Path, bin_dir: Path) -> None:
    fake_program(bin_dir, "tmux", "tmux 3.3a")
    (repo / "swarm.yaml").write_text(
        "runtime: sim\nroles:\n  mayor: {count: 1}\n  polecat: {count: 2}\n"
        "  helper: {count: 1, runtime: command}\nrole_paths: [roles]\n"
        "environment: {ANTHROPIC_API_KEY: from-layout}\n"
    )
    (repo / "roles").mkdir()
    (repo / "roles" / "helper.yaml").write_text("runtime: command\ncommand: [my-helper, --serve]\n")
    checks = {
        c.name: c for c in doctor.run_checks(repo=repo, env={"PATH": str(bin_dir)}, home=repo)
    }
    assert checks["layout"].ok and "swarm (4 agents)" in checks["layout"].detail
    assert "claude" not in checks  # sim agents need no runtime
    assert (
        not checks["command my-helper"].ok and "(for helper)" in checks["command my-helper"].detail
    )
    fake_program(bin_dir, "claude", "2.1.197 (Claude Code)")
    checks = {c.name: c for c in doctor.run_checks("team", repo, {"PATH": str(bin_dir)}, repo)}
    assert checks["claude"].ok and "(for mayor, polecat-1, 3 more)" in checks["claude"].detail
    assert not checks["claude key"].ok  # team has no key in its environment


def test_a_broken_layout_is_a_failed_check(repo: Path, bin_dir: Path) -> None:
    (repo / "swarm.yaml").write_text("roles: {polecat: {count: many}}\n")
    checks = doctor.run_checks(repo=repo, env={"PATH": str(bin_dir)}, home=repo)
    layout = next(c for c in checks if c.name == "layout")
    assert not layout.ok and "swarm.yaml" in layout.detail


def test_swarm_doctor_command(repo: Path, bin_dir: Path) -> None:
    fake_program(bin_dir, "tmux", "tmux 3.3a")
    fake_program(bin_dir, "claude", "2.1.197 (Claude Code)")
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "CLAUDE_CODE_USE"))
    }
    run = [sys.executable, "-m", "swarm", "doctor"]
    missing = subprocess.run(run, cwd=repo, env=env, capture_output=True, text=True)
    assert missing.returncode == 1, missing.stdout + missing.stderr
    assert (
        "MISSING  claude key" in missing.stdout
        and "fix: export ANTHROPIC_API_KEY" in missing.stdout
    )
    ready = subprocess.run(
        run, cwd=repo, env={**env, "ANTHROPIC_API_KEY": "k"}, capture_output=True, text=True
    )
    assert ready.returncode == 0, ready.stdout
    assert ready.stdout.splitlines()[-1] == "all good"
