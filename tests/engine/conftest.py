"""Fixtures shared by the engine's tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import commit_file, git


@pytest.fixture()
def repo(tmp_path: Path) -> Path:
    """A repo with one commit on main, in `app`."""
    path = tmp_path / "app"
    path.mkdir()
    git(path, "init", "-q")
    commit_file(path, "README.md", "hello\n")
    return path
