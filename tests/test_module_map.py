"""The README's module map names every module of the core, and no module that is gone."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def module_map() -> str:
    """The tree drawn at the top of the README's Development section."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("\n## Development\n") :]
    return section[section.index("```\n") + 4 : section.index("\n```", section.index("```\n") + 4)]


def test_every_core_module_is_on_the_map() -> None:
    modules = {path.name for path in (ROOT / "gitwatch_tui" / "core").glob("*.py")}
    on_map = set(re.findall(r"\b\w+\.py\b", module_map().split("  engine/")[0]))
    assert modules - {"__init__.py"} <= on_map, "not on the README's module map"
    assert on_map - {"cli.py"} <= modules, "on the README's module map but not in core/"
