"""Which folders the dashboard opens on when neither the command line nor a config names repos.

In this order: the folders the user last named (remembered in the state dir, so the dashboard
opens on them from anywhere); else the current folder, or, when that is inside a repository,
the folder holding that repository (its neighbours are what a multi-repo view is for).
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Sequence
from pathlib import Path

REMEMBERED_FILE = "folders.json"  # in the state dir: {"folders": ["/abs/path", ...]}


def remember_folders(state_dir: Path, folders: Sequence[Path]) -> None:
    """Keep these folders for the next start with nothing named; best effort, never raises."""
    data = json.dumps({"folders": [str(folder.absolute()) for folder in folders]})
    temporary = state_dir / f"{REMEMBERED_FILE}.{os.getpid()}.new"
    try:
        state_dir.mkdir(parents=True, exist_ok=True)
        temporary.write_text(data, encoding="utf-8")
        os.replace(temporary, state_dir / REMEMBERED_FILE)  # whole or not at all
    except OSError:
        with contextlib.suppress(OSError):
            temporary.unlink()


def remembered_folders(state_dir: Path) -> tuple[Path, ...]:
    """The remembered folders that still exist; none when the file is missing or unreadable."""
    try:
        data = json.loads((state_dir / REMEMBERED_FILE).read_text(encoding="utf-8"))
        folders = data["folders"]
    except (OSError, ValueError, KeyError, TypeError):
        return ()
    if not isinstance(folders, list):
        return ()
    return tuple(Path(f) for f in folders if isinstance(f, str) and Path(f).is_dir())


def enclosing_repo(folder: Path) -> Path | None:
    """The work tree `folder` is in (itself included), found by its `.git`; None outside one."""
    for candidate in (folder, *folder.parents):
        if (candidate / ".git").exists():
            return candidate
    return None


def starting_folders(cwd: Path, state_dir: Path) -> tuple[Path, ...]:
    """The folders to scan when nothing else names repos (see the module's docstring)."""
    remembered = remembered_folders(state_dir)
    if remembered:
        return remembered
    repo = enclosing_repo(cwd.absolute())
    if repo is not None and repo.parent != repo:
        return (repo.parent,)
    return (cwd.absolute(),)
