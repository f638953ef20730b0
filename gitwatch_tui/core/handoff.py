"""Handing a repo over to the user's own programs: the single-repo tool (`t`) and the editor (`e`).

Both are the user's action (a key press), so they behave like git would for the user: the
editor comes in git's own order, `core.editor` of the repo included, trusted or not (what the
user starts is not background work; see `core.trust`). Nothing here runs the program: the UI
does, with the terminal handed over.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path

from gitwatch_tui.core.git import RepoPaths, run_git

FALLBACK_SHELL = "/bin/sh"
FALLBACK_EDITOR = "vi"
_CONFIG_TIMEOUT = 5.0


def handoff_argv(tools: Sequence[str], env: Mapping[str, str]) -> list[str]:
    """The first of `tools` found on `env`'s PATH (as its full path), else `$SHELL`, else
    /bin/sh. A tool may carry arguments (`tig --all`): the first word is looked up."""
    path = env.get("PATH", "")
    for tool in tools:
        words = tool.split()
        found = shutil.which(words[0], path=path) if words else None
        if found is not None:
            return [found, *words[1:]]
    return [env.get("SHELL") or FALLBACK_SHELL]


def repo_editor(repo: RepoPaths) -> str | None:
    """The repo's `core.editor` (its own config, else the user's), None when unset."""
    result = run_git(
        ["config", "--get", "core.editor"], repo, timeout=_CONFIG_TIMEOUT, background=False
    )
    value = result.stdout.decode(errors="replace").strip() if result.ok else ""
    return value or None


def resolve_editor(repo: RepoPaths | None, env: Mapping[str, str]) -> str:
    """The editor command in git's order: `$GIT_EDITOR`, `core.editor` (of `repo`), `$VISUAL`,
    `$EDITOR`, then `vi`. A shell command line, as git runs it."""
    if editor := env.get("GIT_EDITOR"):
        return editor
    if repo is not None and (editor := repo_editor(repo)):
        return editor
    return env.get("VISUAL") or env.get("EDITOR") or FALLBACK_EDITOR


def editor_argv(editor: str, target: Path) -> list[str]:
    """The argv that opens `target` in `editor`, through the shell as git does (so
    `code --wait` and `"$HOME/bin/ed" -x` work), with the target passed as an argument."""
    return ["/bin/sh", "-c", f'{editor} "$@"', editor, str(target)]
