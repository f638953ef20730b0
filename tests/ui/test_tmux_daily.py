"""End to end, a day's loop by keys only: the real `gitwatch-tui` in tmux on a folder holding one
clone of a real bare remote that moved on the same line as a local commit. Pull (merge), resolve
the conflict, see the unpushed commits, push: the bare remote ends up holding the merge. And the
push panel's every state and key at 80x24, its words whole."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import commit_file, git, make_remote_and_clone, push_from_elsewhere
from tests.ui.tmux import Terminal, row

# Under load (two busy cores, other test runs) a git call or a first frame can take seconds:
# every wait is for a screen state, with room to spare.
WITHIN = 60.0


def conflicting_clone(base: Path) -> tuple[Path, Path]:
    """A bare remote and a clone of it in `base/work`, each with a commit on the same line."""
    seed = base / "seed"
    seed.mkdir(parents=True)
    git(seed, "init", "-q")
    commit_file(seed, "settings.py", "NAME = 'app'\nTIMEOUT = 30\n", "Add settings")
    remote = base / "remotes" / "app.git"
    git(base, "clone", "-q", "--bare", str(seed), str(remote))
    clone = base / "work" / "app"
    git(base, "clone", "-q", str(remote), str(clone))
    commit_file(clone, "settings.py", "NAME = 'app'\nTIMEOUT = 45\n", "Wait longer")
    other = base / "other"
    git(base, "clone", "-q", str(remote), str(other))
    commit_file(other, "settings.py", "NAME = 'app'\nTIMEOUT = 60\n", "Wait much longer")
    git(other, "push", "-q", "origin", "HEAD:main")
    return remote, clone


def start_on(terminal: Terminal, folder: Path, home: Path, size: tuple[int, int]) -> None:
    """The dashboard on `folder`, with its own HOME and state dir and the tests' git config."""
    home.mkdir(exist_ok=True)
    terminal.start(
        str(folder),
        size,
        HOME=str(home),
        XDG_STATE_HOME=str(home / "state"),
        XDG_CONFIG_HOME=str(home / "config"),
        GIT_CONFIG_GLOBAL=os.environ["GIT_CONFIG_GLOBAL"],
        GIT_CONFIG_NOSYSTEM="1",
        GIT_TERMINAL_PROMPT="0",
    )


def row_says(name: str, *words: str) -> Callable[[str], bool]:
    """The screen check: `name`'s row holds every one of `words`."""
    return lambda screen: all(word in row(screen, name) for word in words)


@pytest.mark.parametrize("size", [(120, 35), (80, 24)], ids=lambda s: f"{s[0]}x{s[1]}")
def test_pull_resolve_push_all_by_keys(
    tmp_path: Path, terminal: Terminal, size: tuple[int, int]
) -> None:
    remote, clone = conflicting_clone(tmp_path)
    start_on(terminal, tmp_path / "work", tmp_path / "home", size)
    terminal.wait_for(row_says("app", "↑1"), WITHIN)

    terminal.keys("p")  # the panel fetches: the remote's commit comes in
    terminal.wait_for(lambda s: "Pull  app" in s and "Incoming commits (1)" in s, WITHIN)
    terminal.keys("3")  # merge: both commits changed TIMEOUT, so it stops on a conflict
    # p is greyed out until the merge's own preview is on screen (the mode shows at once)
    terminal.wait_for(lambda s: "3 [merge]" in s and "a merge commit joins" in s, WITHIN)
    terminal.keys("p")
    terminal.wait_for(lambda s: "merging · 0/1 resolved" in s and "hunk 1/1" in s, WITHIN)

    terminal.keys("o")  # ours for the only hunk: the file is resolved by itself
    terminal.wait_for(lambda s: "1/1 resolved" in s, WITHIN)
    terminal.keys("C")
    screen = terminal.wait_for(row_says("app", "↑2", "ahead"), WITHIN)  # ours and the merge
    assert "merging" not in screen
    merge = git(clone, "rev-parse", "HEAD")
    assert len(git(clone, "log", "-1", "--format=%P").split()) == 2

    terminal.keys("L")  # the commit log: ours and the merge are not pushed yet
    terminal.wait_for(lambda s: "↑2 not pushed" in s and "Merge remote-tracking" in s, WITHIN)
    terminal.keys("Escape")
    terminal.wait_for(lambda s: "not pushed" not in s and row(s, "app"), WITHIN)
    terminal.keys("P")
    terminal.wait_for(lambda s: "Push  app" in s and "To push (2)" in s, WITHIN)
    terminal.keys("Enter")
    terminal.wait_for(row_says("app", "in sync"), WITHIN)
    assert git(remote, "rev-parse", "main") == merge
    assert git(remote, "show", "main:settings.py") == "NAME = 'app'\nTIMEOUT = 45"
    terminal.quit()
    assert not terminal.alive(), terminal.screen()


def push_cases(base: Path) -> dict[str, Path]:
    """Under `base/work`: `site` diverged, `tool` on a new branch, `mirror` on a new branch with
    two remotes and neither named origin, `lib` in sync. Returns the bare remotes."""
    remotes: dict[str, Path] = {}
    for name in ("site", "tool", "mirror", "lib"):
        remotes[name], _ = make_remote_and_clone(base / "remotes", name)
        git(base / "remotes", "clone", "-q", str(remotes[name]), str(base / "work" / name))
    work = base / "work"
    commit_file(work / "site", "local.txt", "mine\n", "A local change")
    push_from_elsewhere(remotes["site"], base / "remotes")
    git(work / "site", "fetch", "-q")
    git(work / "tool", "switch", "-q", "-c", "feature/txt-records")
    commit_file(work / "tool", "tool.py", "print('tool')\n", "Add the tool")
    remotes["backup"] = base / "remotes" / "backup.git"
    git(base, "init", "-q", "--bare", str(remotes["backup"]))
    git(work / "mirror", "remote", "rename", "origin", "upstream")
    git(work / "mirror", "remote", "add", "backup", str(remotes["backup"]))
    git(work / "mirror", "switch", "-q", "-c", "docs")
    commit_file(work / "mirror", "docs.md", "# docs\n", "Add docs")
    return remotes


# The dashboard's rows, sorted by name.
ROWS = ("lib", "mirror", "site", "tool")


def open_push_on(terminal: Terminal, name: str) -> None:
    """Move to `name`'s row, press P and wait for its panel to have read.

    g and j move the cursor only, so the keys go at once: a key typed after one that moves
    the focus (/ to the filter line) could reach the widget that had it (s would open the
    stash switch instead of filtering)."""
    terminal.keys_at_once("g", *["j"] * ROWS.index(name), "P")
    terminal.wait_for(
        lambda s: f"Push  {name}" in s and "Will not push" in s and "esc Back" in s, WITHIN
    )


def whole(*lines: str) -> Callable[[str], bool]:
    """The screen check: every one of `lines` is on it, and nothing but a toast (whose long
    words go to the log screen, it says so) was cut short with an ellipsis. A wait, not a
    look: a toast may cover a line until it times out."""

    def check(screen: str) -> bool:
        shown = [line for line in screen.splitlines() if "▌" not in line]
        return all(line in screen for line in lines) and not any("…" in s for s in shown)

    return check


def test_push_panel_answers_its_keys_at_80x24(tmp_path: Path, terminal: Terminal) -> None:
    remotes = push_cases(tmp_path)
    work = tmp_path / "work"
    start_on(terminal, work, tmp_path / "home", (80, 24))
    terminal.wait_for(lambda s: "4 repos" in s and "diverged" in row(s, "site"), WITHIN)

    # Diverged: the refusal says both next steps; f asks first, esc keeps the remote as it is.
    open_push_on(terminal, "site")
    terminal.wait_for(
        whole("Press enter for the pull panel, or f to force with lease.", "esc Back"), WITHIN
    )
    terminal.keys("j", "k", "f")
    terminal.wait_for(
        whole("Force-push main over origin/main?", "origin/main loses 1 commit", "y  Force"), WITHIN
    )
    site_remote = git(remotes["site"], "rev-parse", "main")
    terminal.keys("Escape")
    terminal.wait_for(lambda s: "Force-push" not in s and "Push  site" in s, WITHIN)
    terminal.keys("Enter")  # the next step: the pull panel
    terminal.wait_for(lambda s: "Pull  site" in s and "Incoming commits (1)" in s, WITHIN)
    assert git(remotes["site"], "rev-parse", "main") == site_remote
    terminal.keys("Escape")
    terminal.wait_for(lambda s: "Pull  site" not in s and "4 repos" in s, WITHIN)

    # A new branch: enter pushes it with -u to the only remote.
    open_push_on(terminal, "tool")
    terminal.wait_for(whole("Press enter to push -u."), WITHIN)
    terminal.keys("Enter")
    terminal.wait_for(lambda s: "Push  tool" not in s and "in sync" in row(s, "tool"), WITHIN)
    assert git(remotes["tool"], "rev-parse", "feature/txt-records") == git(
        work / "tool", "rev-parse", "HEAD"
    )

    # Two remotes, neither configured for pushing: a number picks one.
    open_push_on(terminal, "mirror")
    terminal.wait_for(
        whole("Press the remote's number to push -u there.", "1  backup", "2  upstream"), WITHIN
    )
    terminal.keys("1")
    terminal.wait_for(lambda s: "Push  mirror" not in s and "in sync" in row(s, "mirror"), WITHIN)
    assert git(remotes["backup"], "rev-parse", "docs") == git(work / "mirror", "rev-parse", "HEAD")

    # Nothing to push: enter does nothing, esc goes back.
    open_push_on(terminal, "lib")
    terminal.wait_for(whole("nothing to push.", "Press esc to go back."), WITHIN)
    terminal.keys("Enter", "Escape")
    terminal.wait_for(lambda s: "Push  lib" not in s and "4 repos" in s, WITHIN)
    terminal.quit()
    assert not terminal.alive(), terminal.screen()
