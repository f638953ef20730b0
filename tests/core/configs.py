"""Config files written into a test's folder, and the problems that reading one reports."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from gitwatch_tui.core.config_file import load_config
from gitwatch_tui.core.errors import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    """`tmp_path/config.yaml` holding `text`, dedented."""
    path = tmp_path / "config.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def problems(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> list[str]:
    """Each problem found in the config `text` as `line:column: message` (the message alone
    when it is about the whole file); the config must be refused."""
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text), env or {})
    return [
        f"{p.location.line}:{p.location.column}: {p.message}" if p.location else p.message
        for p in info.value.problems
    ]
