"""The one place that starts git: hardened, non-interactive, pinned to one repository."""

from __future__ import annotations

from pathlib import Path


def resolve_git_dir(worktree: Path) -> Path | None:
    """The git dir of a work tree: `.git` itself, or where a `.git` file (worktree,
    submodule) points. None when there is neither."""
    dot_git = worktree / ".git"
    try:
        if dot_git.is_dir():
            return dot_git
        text = dot_git.read_text(encoding="utf-8", errors="surrogateescape")
    except OSError:
        return None
    if not text.startswith("gitdir:"):
        return None
    target = Path(text[len("gitdir:") :].strip())
    return target if target.is_absolute() else (worktree / target)
