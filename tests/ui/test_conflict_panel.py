"""The conflict panel driven by keys from the dashboard, over a real merge that stopped on a
text file with two hunks, a binary file and a file deleted by us; plus its snapshots."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import OptionList

from gitwatch_tui.core.config import Config, Defaults
from gitwatch_tui.core.models import RepoSpec
from gitwatch_tui.ui.app import GitwatchApp
from gitwatch_tui.ui.screens.confirm import ConfirmScreen
from gitwatch_tui.ui.screens.conflicts import ConflictScreen
from gitwatch_tui.ui.screens.dashboard import DashboardScreen
from gitwatch_tui.ui.screenshots import wait_until_read
from tests.conftest import git
from tests.ui.conftest import all_read, dashboard, make_app, plain, until

BASE = "".join(f"def f{i}(x):\n    return x + {i}\n\n" for i in range(8))
OURS = BASE.replace("x + 1\n", "x + 1000  # ours\n").replace("x + 6\n", "abs(x) + 6  # ours\n")
THEIRS = BASE.replace("x + 1\n", "x * 100  # theirs\n").replace("x + 6\n", "x - 6  # theirs\n")
# Hunk 1 from ours, hunk 2 from theirs.
MIXED = BASE.replace("x + 1\n", "x + 1000  # ours\n").replace("x + 6\n", "x - 6  # theirs\n")
NOW = 1_700_000_000.0
SIZES = [(80, 24), (120, 35)]


@pytest.fixture(autouse=True)
def fixed_dates(monkeypatch: pytest.MonkeyPatch) -> None:
    # Same commits, same shas, every run (the snapshots show them).
    for var in ("GIT_AUTHOR_DATE", "GIT_COMMITTER_DATE"):
        monkeypatch.setenv(var, "1699700000 +0000")
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.delenv("TEXTUAL_THEME", raising=False)
    monkeypatch.delenv("VISUAL", raising=False)
    monkeypatch.delenv("EDITOR", raising=False)
    monkeypatch.delenv("GIT_EDITOR", raising=False)


def commit(repo: Path, files: dict[str, str | bytes | None], message: str) -> str:
    for name, data in files.items():
        if data is None:
            git(repo, "rm", "-q", "--", name)
            continue
        (repo / name).write_bytes(data.encode() if isinstance(data, str) else data)
        git(repo, "add", "--", name)
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD")


def conflicted_repo(tmp_path: Path) -> tuple[Path, str]:
    """`feature` merged into main, stopped on: app.py both modified (2 hunks), logo.png
    binary, old.txt deleted by us. Returns the repo and main's commit before the merge."""
    repo = tmp_path / "api"
    repo.mkdir()
    git(repo, "init", "-q")
    commit(repo, {"app.py": BASE, "logo.png": b"\x89PNG\0base", "old.txt": "old\n"}, "base")
    git(repo, "switch", "-q", "-c", "feature")
    theirs = {"app.py": THEIRS, "logo.png": b"\x89PNG\0theirs", "old.txt": "old, changed\n"}
    commit(repo, theirs, "theirs")
    git(repo, "switch", "-q", "main")
    head = commit(repo, {"app.py": OURS, "logo.png": b"\x89PNG\0ours", "old.txt": None}, "ours")
    merged = subprocess.run(["git", "merge", "feature"], cwd=repo, capture_output=True)
    assert merged.returncode != 0
    return repo, head


def config_for(repo: Path) -> Config:
    defaults = Defaults(poll_interval=3600, fetch_timeout=20, status_timeout=20)
    return Config(defaults=defaults, repos=(RepoSpec(path=repo, name=repo.name),))


def unmerged(repo: Path) -> set[str]:
    listed = git(repo, "ls-files", "-u", "-z")
    return {record.split("\t", 1)[1] for record in listed.split("\0") if record}


def blob(repo: Path, rev: str) -> bytes:
    """The exact bytes git holds for `rev` (the `git` helper strips its output)."""
    shown = subprocess.run(["git", "cat-file", "blob", rev], cwd=repo, capture_output=True)
    assert shown.returncode == 0, shown.stderr
    return shown.stdout


def panel(app: GitwatchApp) -> ConflictScreen:
    assert isinstance(app.screen, ConflictScreen)
    return app.screen


async def open_panel(pilot: Pilot[int]) -> ConflictScreen:
    app = pilot.app
    await until(pilot, lambda: all_read(app))  # type: ignore[arg-type]
    await pilot.press("c")
    await until(pilot, lambda: isinstance(app.screen, ConflictScreen) and app.screen.state)
    return panel(app)  # type: ignore[arg-type]


async def idle(pilot: Pilot[int], screen: ConflictScreen) -> None:
    """Until the change running has finished and the panel has read the repo again."""
    await until(
        pilot,
        lambda: (
            not screen.busy
            and not any(w.node is screen and not w.is_finished for w in screen.app.workers)
        ),
    )


def message(screen: ConflictScreen) -> str:
    return plain(screen.query_one("#conflict-message"))


async def test_hunk_by_hunk_then_whole_files_then_continue(tmp_path: Path) -> None:
    repo, before = conflicted_repo(tmp_path)
    app = make_app(config_for(repo), tmp_path)
    async with app.run_test(size=(120, 35)) as pilot:
        screen = await open_panel(pilot)
        title = plain(screen.query_one("#conflict-title"))
        assert "merging · 0/3 resolved" in title
        files = " | ".join(
            str(option.prompt) for option in screen.query_one("#conflict-files", OptionList).options
        )
        assert "both modified" in files and "binary" in files and "deleted by us" in files
        assert screen.path == "app.py" and screen.file and len(screen.file.hunks) == 2
        head = plain(screen.query_one("#conflict-head"))
        assert "hunk 1/2" in head and "o = ours main" in head and "t = theirs feature" in head
        hunks = [plain(w) for w in screen.query(".hunk")]
        assert "x + 1000" in hunks[0] and "x * 100" in hunks[0] and "x + 1" in hunks[0]

        # Refused while markers remain / files are unmerged; nothing changes.
        await pilot.press("a")
        assert "still has 2 conflict hunks" in message(screen)
        await pilot.press("C")
        assert "3 files still conflicted" in message(screen)
        assert (repo / ".git" / "MERGE_HEAD").exists() and unmerged(repo) == {
            "app.py", "logo.png", "old.txt",
        }  # fmt: skip

        await pilot.press("o")  # hunk 1: ours
        await idle(pilot, screen)
        assert "hunk 1: took ours; 1 hunk left" in message(screen)
        assert len(screen.file.hunks) == 1 and screen.hunk == 0  # hunk 2 moved up
        await pilot.press("t")  # hunk 2: theirs
        await idle(pilot, screen)
        assert (repo / "app.py").read_bytes() == MIXED.encode()
        # Its last hunk taken, the file is marked resolved without an `a` of its own.
        assert "app.py marked resolved" in message(screen)
        assert "app.py" not in unmerged(repo)
        assert "1/3 resolved" in plain(screen.query_one("#conflict-title"))

        # On to the next file still conflicted: the binary one has no hunks.
        assert screen.path == "logo.png"
        await pilot.press("o")
        assert "no conflict hunks" in message(screen)
        await pilot.press("T")
        await idle(pilot, screen)
        assert (repo / "logo.png").read_bytes() == b"\x89PNG\0theirs"
        assert "logo.png" not in unmerged(repo)
        # A whole file done (and staged), the next one comes up: old.txt, deleted by us.
        assert screen.path == "old.txt"
        assert "O keeps it deleted" in plain(screen.query_one(".note"))
        await pilot.press("O")
        await idle(pilot, screen)
        assert not (repo / "old.txt").exists() and unmerged(repo) == set()
        assert "3/3 resolved" in plain(screen.query_one("#conflict-title"))

        await pilot.press("C")
        await until(pilot, lambda: isinstance(app.screen, DashboardScreen))
        parents = git(repo, "rev-list", "--parents", "-n", "1", "HEAD").split()
        assert parents[1:] == [before, git(repo, "rev-parse", "feature")]  # a merge commit
        assert blob(repo, "HEAD:app.py") == MIXED.encode()
        assert not (repo / ".git" / "MERGE_HEAD").exists()
        assert any("merge continued" in n.message for n in app._notifications)


async def test_abort_asks_then_restores_the_state_before_the_merge(tmp_path: Path) -> None:
    repo, before = conflicted_repo(tmp_path)
    app = make_app(config_for(repo), tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_panel(pilot)
        await pilot.press("b")  # both, for hunk 1: the abort must undo it too
        await idle(pilot, screen)
        assert "x + 1000  # ours\n    return x * 100  # theirs\n" in (repo / "app.py").read_text()

        await pilot.press("A")
        assert isinstance(app.screen, ConfirmScreen)
        body = plain(app.screen.query_one("#confirm-body"))
        assert "git merge --abort" in body and "before the merge started" in body
        await pilot.press("n")
        assert app.screen is screen and "Abort cancelled" in message(screen)
        assert (repo / ".git" / "MERGE_HEAD").exists()

        await pilot.press("A", "y")
        await until(pilot, lambda: isinstance(app.screen, DashboardScreen))
        assert git(repo, "rev-parse", "HEAD") == before
        assert not (repo / ".git" / "MERGE_HEAD").exists()
        assert git(repo, "status", "--porcelain") == ""
        assert (repo / "app.py").read_bytes() == OURS.encode()
        assert (repo / "logo.png").read_bytes() == b"\x89PNG\0ours"
        assert not (repo / "old.txt").exists()


async def test_edit_in_the_editor_then_mark_resolved(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo, _ = conflicted_repo(tmp_path)
    app = make_app(config_for(repo), tmp_path)
    async with app.run_test(size=(120, 35)) as pilot:
        screen = await open_panel(pilot)
        await pilot.press("e")
        # No real terminal to hand over in a Pilot test: said, not failed.
        assert "cannot be handed over (no real terminal here)" in message(screen)

        # The "editor" writes the file resolved by hand. A headless test has no terminal
        # to hand over: suspending is a no-op here, the editor still runs for real.
        script = tmp_path / "editor.py"
        script.write_text(f"import sys\nopen(sys.argv[1], 'w').write({MIXED!r})\n")
        monkeypatch.setenv("EDITOR", f"{sys.executable} {script}")
        monkeypatch.setattr(type(app), "suspend", lambda self: contextlib.nullcontext())
        await pilot.press("e")
        await until(pilot, lambda: screen.file is not None and not screen.file.hunks)
        assert "No conflict markers left" in plain(screen.query_one(".note"))
        await pilot.press("a")
        await idle(pilot, screen)
        assert "app.py" not in unmerged(repo)
        assert blob(repo, ":app.py") == MIXED.encode()


def rebase_stopped(tmp_path: Path) -> tuple[Path, str]:
    """`topic` (two commits, each conflicting with main) rebased onto main, stopped on the
    first. Returns the repo and main's commit."""
    repo = tmp_path / "web"
    repo.mkdir()
    git(repo, "init", "-q")
    commit(repo, {"a.txt": "a\n", "b.txt": "b\n"}, "base")
    git(repo, "switch", "-q", "-c", "topic")
    commit(repo, {"a.txt": "a topic\n"}, "topic a")
    commit(repo, {"b.txt": "b topic\n"}, "topic b")
    git(repo, "switch", "-q", "main")
    main = commit(repo, {"a.txt": "a main\n", "b.txt": "b main\n"}, "main")
    git(repo, "switch", "-q", "topic")
    assert subprocess.run(["git", "rebase", "main"], cwd=repo, capture_output=True).returncode
    return repo, main


async def test_a_rebase_that_stops_twice_is_continued_twice(tmp_path: Path) -> None:
    repo, main = rebase_stopped(tmp_path)
    app = make_app(config_for(repo), tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_panel(pilot)
        assert "rebasing · 0/1 resolved" in plain(screen.query_one("#conflict-title"))
        # git's ours in a rebase is the upstream; the panel says so, and whose the commit is.
        head = plain(screen.query_one("#conflict-head"))
        assert "o = upstream main" in head and "t = your commit" in head
        # Theirs (topic's a.txt), then continue once it is in: a key that comes while a
        # change runs is refused ("Wait: ... is still running").
        await pilot.press("T")
        await idle(pilot, screen)
        await pilot.press("C")  # the next commit conflicts as well
        await until(pilot, lambda: screen.path == "b.txt" and not screen.busy)
        assert "the next step conflicts too" in message(screen)
        assert isinstance(app.screen, ConflictScreen)
        await pilot.press("T")
        await idle(pilot, screen)
        await pilot.press("C")
        await until(pilot, lambda: isinstance(app.screen, DashboardScreen))
        assert git(repo, "log", "--format=%s", "main..topic").splitlines() == ["topic b", "topic a"]
        assert git(repo, "merge-base", "main", "topic") == main
        assert (repo / "a.txt").read_text() == "a topic\n"
        assert git(repo, "symbolic-ref", "--short", "HEAD") == "topic"


async def test_no_conflict_in_progress(tmp_path: Path) -> None:
    repo = tmp_path / "docs"
    repo.mkdir()
    git(repo, "init", "-q")
    commit(repo, {"a.txt": "a\n"}, "base")
    app = make_app(config_for(repo), tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: all_read(app))
        await pilot.press("c")  # from the dashboard: one line, no empty panel
        await pilot.pause()
        assert app.screen is dashboard(app)
        assert any("docs has no conflict in progress" in n.message for n in app._notifications)
        app.open_conflicts("docs")  # the panel itself, as after a conflict ended
        await until(pilot, lambda: isinstance(app.screen, ConflictScreen) and app.screen.state)
        screen = panel(app)
        assert "no conflict in progress" in plain(screen.query_one("#conflict-title"))
        assert "No conflict in progress in docs" in plain(screen.query_one("#conflict-head"))
        await pilot.press("A")
        assert app.screen is screen and "nothing to abort" in message(screen)
        await pilot.press("o")
        assert "No conflicted file" in message(screen)


# -- snapshots --------------------------------------------------------------------------------


@pytest.fixture()
def snap_repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Config]:
    repo, _ = conflicted_repo(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path))
    yield config_for(repo)


async def _open_and_settle(pilot: Pilot[int]) -> None:
    await wait_until_read(pilot)
    await pilot.press("c")
    app = pilot.app
    await until(pilot, lambda: isinstance(app.screen, ConflictScreen) and app.screen.file)
    await pilot.press("j")  # the second hunk is the current one
    await pilot.pause(0.3)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_snapshot(snap_compare, snap_repo, tmp_path, size) -> None:  # type: ignore[no-untyped-def]
    app = make_app(snap_repo, tmp_path, clock=lambda: NOW)
    assert snap_compare(app, terminal_size=size, run_before=_open_and_settle)
