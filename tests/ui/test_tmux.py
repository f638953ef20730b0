"""End to end: the real `gitwatch-tui` in a real terminal (tmux), driven by keys and read back
with `capture-pane`, on real repos with real remotes."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from gitwatch_tui.demo import UNREACHABLE_URL
from tests.conftest import git, make_remote_and_clone, push_from_elsewhere
from tests.ui.conftest import RepoSet
from tests.ui.tmux import Terminal, row

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")


def test_the_real_program_in_a_terminal(
    repo_set: RepoSet, tmp_path: Path, terminal: Terminal
) -> None:
    config = tmp_path / "config.yaml"
    lines = ["defaults:", "  poll_interval: 3600", "repos:"]
    for name, clone in repo_set.clones.items():
        lines += [f"  - path: {clone}", f"    name: {name}"]
    config.write_text("\n".join(lines) + "\n")
    terminal.start(
        "", (100, 24), GITWATCH_TUI_CONFIG=str(config), XDG_STATE_HOME=str(tmp_path / "state")
    )
    screen = terminal.wait_for(lambda s: "4 repos" in s and "↓1" in row(s, "web"))
    assert "~1 ?1" in row(screen, "docs") and "↑1" in row(screen, "tools")
    assert "r Refresh" in screen and "? Help" in screen  # the footer, at 100 columns

    terminal.keys("/", *"behind", "Enter")
    screen = terminal.wait_for(lambda s: "filter: behind" in s and not row(s, "api"))
    assert row(screen, "web")
    terminal.keys("Escape")
    terminal.wait_for(lambda s: row(s, "api") and "filter:" not in s)

    terminal.keys("?")
    terminal.wait_for(lambda s: "Fetch all" in s and "keys and symbols" in s)
    terminal.keys("Escape")
    terminal.wait_for(lambda s: "keys and symbols" not in s)

    push_from_elsewhere(repo_set.remotes["api"], repo_set.base)
    terminal.keys("F")
    terminal.wait_for(lambda s: "↓1" in row(s, "api"))

    # An arrow comes as ESC [ A: read whole it moves the cursor; split, it would be Escape.
    terminal.keys("Up", "Enter")  # from web (the filter's row) to tools
    terminal.wait_for(lambda s: "Outgoing (1)" in s and "Add a tool" in s)
    terminal.keys("Escape")
    terminal.wait_for(lambda s: "Outgoing" not in s)
    terminal.keys("Down", "Enter")  # back to web
    terminal.wait_for(lambda s: "Incoming (1)" in s)
    # A key right after Escape would read as alt+key: wait for Escape to be seen first.
    terminal.keys("Escape")
    terminal.wait_for(lambda s: "Incoming" not in s)
    terminal.quit()
    assert not terminal.alive(), terminal.screen()


def test_demo_shows_its_sandbox_lets_rows_change_and_removes_it_on_quit(
    tmp_path: Path, terminal: Terminal
) -> None:
    temp = tmp_path / "tmp"
    temp.mkdir()
    # TMPDIR: where the sandbox goes, so the test can see it go
    terminal.start("--demo", (120, 35), TMPDIR=str(temp), XDG_STATE_HOME=str(tmp_path / "state"))
    screen = terminal.wait_for(lambda s: "13 repos" in s and "scanning" not in s)
    assert "conflict-me" in screen and "legacy-tools" in screen
    assert any(p.name.startswith("gitwatch-demo-") for p in temp.iterdir())
    # Fetch everything: the pusher's commits arrive, the unreachable remote fails.
    terminal.keys("F")
    screen = terminal.wait_for(lambda s: "retry" in row(s, "offsite-backup"), within=20)
    terminal.quit()
    assert not terminal.alive()
    assert list(temp.iterdir()) == []  # the sandbox and the pusher are gone


def test_a_conflict_made_in_the_demo_is_resolved_with_keys_only(
    tmp_path: Path, terminal: Terminal
) -> None:
    temp = tmp_path / "tmp"
    temp.mkdir()
    terminal.start("--demo", (100, 30), TMPDIR=str(temp), XDG_STATE_HOME=str(tmp_path / "state"))
    terminal.wait_for(lambda s: "13 repos" in s and "diverged" in row(s, "conflict-me"), 30)
    (repo,) = temp.glob("gitwatch-demo-*/work/apps/conflict-me")
    terminal.keys("/", *"conflict-me", "Enter")
    terminal.wait_for(lambda s: "conflict-me" in s and "mobile-api" not in s)
    terminal.keys("j", "p")  # past the group row to the repo; the pull panel
    terminal.wait_for(lambda s: "Pull  conflict-me" in s and "Incoming commits (1)" in s)
    terminal.keys("3")  # merge mode
    # The merge preview, not only the mode: until it is read, `p` is greyed out and does nothing.
    terminal.wait_for(lambda s: "3 [merge]" in s and "merge: a merge commit joins" in s)
    terminal.keys("p")
    terminal.wait_for(lambda s: "merging · 0/1 resolved" in s and "hunk 1/1" in s)
    # Back to back, no waiting: take theirs for the hunk (the file's last, so it is marked
    # resolved by itself), then continue. Keys pressed while a change runs wait their turn.
    terminal.keys_at_once("t", "C")
    terminal.wait_for(lambda s: "merge continued" in s)  # a toast: gone after a while
    terminal.wait_for(lambda s: "↑ ahead" in row(s, "conflict-me"))
    parents = subprocess.run(
        ["git", "-C", str(repo), "log", "-1", "--format=%P"], capture_output=True, text=True
    ).stdout.split()
    assert len(parents) == 2  # a merge commit
    settings = (repo / "src" / "conflict_me" / "settings.py").read_text()
    assert "REQUEST_TIMEOUT = 45" in settings and "<<<<<<<" not in settings
    terminal.quit()
    assert not terminal.alive()


LONG_BRANCH = "feature/txt-records-import"  # 26 characters


def _table_reading_config(tmp_path: Path) -> Path:
    """Three repos on one unreachable server (a fetch of all three opens its circuit), one of
    them on a long branch, and a folder that is not a repository."""
    base = tmp_path / "repos"
    lines = ["defaults:", "  poll_interval: 3600", "repos:"]
    for name in ("mirror-a", "mirror-b", "mirror-c"):
        _, clone = make_remote_and_clone(base, name)
        git(clone, "remote", "set-url", "origin", UNREACHABLE_URL)
        lines += [f"  - path: {clone}", f"    name: {name}"]
    git(base / "mirror-a", "switch", "-q", "-c", LONG_BRANCH)
    (base / "legacy-tools").mkdir()
    lines += [f"  - path: {base / 'legacy-tools'}", "    name: legacy-tools"]
    config = tmp_path / "config.yaml"
    config.write_text("\n".join(lines) + "\n")
    return config


_SGR = re.compile(r"\x1b\[([0-9;]*)m")


def _line_looks(styled: str) -> list[tuple[str, bool]]:
    """Each line's (background, reverse video) where its text starts, following the SGR
    escapes from the top of the screen (tmux leaves out what does not change)."""
    background, reverse, looks = "default", False, []
    for line in styled.splitlines():
        start: tuple[str, bool] | None = None
        # split() alternates text (even indexes) and an escape's parameters (odd ones)
        for i, part in enumerate(_SGR.split(line)):
            if i % 2:
                background, reverse = _apply_sgr(part.split(";"), background, reverse)
            elif start is None and part.strip():
                start = (background, reverse)
        looks.append(start or (background, reverse))
    return looks


def _apply_sgr(codes: list[str], background: str, reverse: bool) -> tuple[str, bool]:
    i = 0
    while i < len(codes):
        code = codes[i] or "0"
        if code == "0":
            background, reverse = "default", False
        elif code == "7":
            reverse = True
        elif code == "27":
            reverse = False
        elif code == "49":
            background = "default"
        elif code == "48" and i + 1 < len(codes):
            size = 3 if codes[i + 1] == "5" else 5
            background = ";".join(codes[i : i + size])
            i += size - 1
        elif code == "38" and i + 1 < len(codes):
            i += 2 if codes[i + 1] == "5" else 4
        i += 1
    return background, reverse


@pytest.mark.parametrize("size", [(80, 24), (120, 35)], ids=lambda s: f"{s[0]}x{s[1]}")
def test_states_show_whole_and_the_cursor_row_stands_out(
    tmp_path: Path, terminal: Terminal, size: tuple[int, int]
) -> None:
    config = _table_reading_config(tmp_path)
    state = str(tmp_path / "state")
    terminal.start("", size, GITWATCH_TUI_CONFIG=str(config), XDG_STATE_HOME=state)
    screen = terminal.wait_for(lambda s: "✗" in row(s, "legacy-tools") and "never" in s)
    wide = size[0] >= 110
    broken = row(screen, "legacy-tools").rstrip()
    assert broken.endswith("✗ not a git repository" if wide else "✗ not a repo"), broken
    if wide:
        assert LONG_BRANCH in row(screen, "mirror-a")
    # The cursor is on the first row, under the header: each looks different.
    header = next(i for i, line in enumerate(screen.splitlines()) if " Repo " in line)
    looks = _line_looks(terminal.styled_screen())
    assert looks[header + 1] != looks[header], looks[header : header + 3]
    assert looks[header + 1] != looks[header + 2], looks[header : header + 3]

    terminal.keys("F")  # three refused fetches on one server: its circuit opens
    circuit = re.compile(r"⊘ circuit open · retry in \d+m$" if wide else r"⊘ open \d+m$")
    # (within: the fetch failures' toasts cover the State column until they time out)
    terminal.wait_for(
        lambda s: any(circuit.search(line.rstrip()) for line in s.splitlines()), within=45
    )
    terminal.quit()


def test_without_colour_the_cursor_row_is_in_reverse_video(
    tmp_path: Path, terminal: Terminal
) -> None:
    config = _table_reading_config(tmp_path)
    state = str(tmp_path / "state")
    terminal.start(
        "", (80, 24), GITWATCH_TUI_CONFIG=str(config), XDG_STATE_HOME=state, NO_COLOR="1"
    )
    screen = terminal.wait_for(lambda s: "✗" in row(s, "legacy-tools") and "never" in s)
    header = next(i for i, line in enumerate(screen.splitlines()) if " Repo " in line)
    looks = _line_looks(terminal.styled_screen())
    assert looks[header + 1][1] and not looks[header][1] and not looks[header + 2][1]
    terminal.quit()
