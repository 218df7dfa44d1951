"""Hands pytest the Claude Code fixtures, which live in claude_fixtures.py.

mypy checks tests/ and tests/e2e/ in one run, where two modules named `conftest` cannot both
be checked: this one only re-exports (and is left out of mypy in pyproject.toml), so the
fixtures and `ClaudeSwarm` are checked under a name of their own.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from claude_fixtures import claude_bin, claude_swarm, fake_api

__all__ = ["claude_bin", "claude_swarm", "fake_api"]
