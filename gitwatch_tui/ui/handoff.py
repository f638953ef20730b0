"""Handing the terminal over: the app suspends, the user's program runs in the foreground
(the hand-off tool, the editor), and the app comes back when it exits.

The program is picked in `core.handoff`; this is only the suspend around it. Where the app
cannot suspend (no real terminal: Pilot tests, Textual web), the caller says so in a toast.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Sequence
from pathlib import Path

from textual.app import App, SuspendNotSupported

from gitwatch_tui.core.git import RepoPaths
from gitwatch_tui.core.handoff import editor_argv, resolve_editor
from gitwatch_tui.core.models import RepoSpec

NO_SUSPEND = "This terminal cannot be handed over (no real terminal here)"
NOT_FOUND = 127  # the shell's exit status for a command it could not find


def hand_over(app: App[object], argv: Sequence[str], cwd: Path) -> int | str:
    """Run `argv` in `cwd` with the terminal, the app suspended meanwhile; its exit status,
    or why it could not run."""
    try:
        with app.suspend():
            # The user's own program, in the foreground: the app waits until it exits.
            return subprocess.run(list(argv), cwd=cwd, check=False).returncode
    except SuspendNotSupported:
        return f"{NO_SUSPEND}: open it in another terminal."
    except OSError as exc:
        return f"Could not start {argv[0]}: {exc.strerror}"


def editor_for(spec: RepoSpec) -> str:
    """The editor command for a repo, in git's order (its own core.editor included: the user
    pressed the key, and git would use it too)."""
    paths = RepoPaths.of(spec.path, bare=spec.bare, trusted=spec.trust)
    return resolve_editor(paths, os.environ)


def edit(app: App[object], spec: RepoSpec, target: Path) -> str | None:
    """Open `target` (a file or the repo's folder) in the repo's editor; None when it ran,
    else why not."""
    editor = editor_for(spec)
    outcome = hand_over(app, editor_argv(editor, target), spec.path)
    if isinstance(outcome, str):
        return outcome
    if outcome == NOT_FOUND:
        return f"Could not start the editor {editor!r}: not found (set $GIT_EDITOR or $EDITOR)"
    return None
