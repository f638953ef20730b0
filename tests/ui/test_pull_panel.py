"""The pull panel (`p`) driven by keys from the dashboard, on real repos with bare remotes.

Commit dates are fixed (and so are the shas) and the app's clock too, so the snapshots are
the same on every run.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import Static

from gitwatch_tui.core.config import Config, Defaults
from gitwatch_tui.core.models import RepoSpec
from gitwatch_tui.ui.app import GitwatchApp
from gitwatch_tui.ui.screens.dashboard import DashboardScreen
from gitwatch_tui.ui.screens.pull import PullScreen
from tests.conftest import commit_file, git, make_remote_and_clone
from tests.ui.conftest import all_read, make_app, plain, table, until

NOW = 1_700_000_000.0
COMMIT_DATE = "@1699990000 +0000"  # 2h46m before NOW
SIZES = [(80, 24), (120, 35)]


@pytest.fixture(autouse=True)
def fixed_dates(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every commit made in a test (set-up, the pull's own merge) has the same date."""
    monkeypatch.setenv("GIT_AUTHOR_DATE", COMMIT_DATE)
    monkeypatch.setenv("GIT_COMMITTER_DATE", COMMIT_DATE)
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.delenv("TEXTUAL_THEME", raising=False)


def push(remote: Path, base: Path, files: dict[str, str], message: str, author: str = "") -> str:
    """Another developer commits `files` on main and pushes; returns the new commit."""
    other = base / f"{remote.stem}-pusher"
    if not other.exists():
        git(base, "clone", "-q", str(remote), str(other))
    git(other, "pull", "-q", "--ff-only")
    for name, content in files.items():
        path = other / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
        git(other, "add", "--", name)
    extra = [f"--author={author} <{author.lower()}@example.invalid>"] if author else []
    git(other, "commit", "-q", *extra, "-m", message)
    git(other, "push", "-q", "origin", "HEAD:main")
    return git(other, "rev-parse", "HEAD")


def config_of(clones: dict[str, Path]) -> Config:
    defaults = Defaults(poll_interval=3600, fetch_timeout=20, status_timeout=20)
    specs = tuple(RepoSpec(path=path, name=name) for name, path in clones.items())
    return Config(defaults=defaults, repos=specs)


def behind_repo(base: Path) -> tuple[Path, Path, str]:
    """A clone two commits behind its remote (not fetched yet): returns remote, clone, tip."""
    remote, clone = make_remote_and_clone(base, "service")
    push(remote, base, {"src/parser.py": "def parse():\n    pass\n"}, "Add the parser", "Ada")
    tip = push(remote, base, {"README.md": "hello, parser\n"}, "Explain the parser", "Grace")
    return remote, clone, tip


def diverged_repo(base: Path) -> tuple[Path, Path]:
    """A clone with a local commit to README.md and another one to it upstream."""
    remote, clone = make_remote_and_clone(base, "site")
    push(remote, base, {"README.md": "theirs\n"}, "Their README")
    commit_file(clone, "README.md", "mine\n", "My README")
    return remote, clone


def panel_text(app: GitwatchApp) -> str:
    return "\n".join(plain(widget) for widget in app.screen.query(Static))


def head(repo: Path) -> str:
    return git(repo, "rev-parse", "HEAD")


async def open_pull(pilot: Pilot[int], app: GitwatchApp, name: str) -> PullScreen:
    """Select `name` on the dashboard, press p, wait for the preview after the fetch."""
    await until(pilot, lambda: all_read(app))
    rows = table(app)
    rows.move_cursor(row=rows.order.index(name))
    await pilot.pause()
    await pilot.press("p")
    await until(pilot, lambda: isinstance(app.screen, PullScreen) and app.screen.loaded)
    screen = app.screen
    assert isinstance(screen, PullScreen)
    return screen


async def test_preview_fetches_then_shows_incoming_commits_files_and_effects(
    tmp_path: Path,
) -> None:
    _, clone, tip = behind_repo(tmp_path)
    app = make_app(config_of({"service": clone}), tmp_path, clock=lambda: NOW)
    async with app.run_test(size=(120, 35)) as pilot:
        screen = await open_pull(pilot, app, "service")
        assert screen.preview is not None and screen.preview.upstream_sha == tip
        text = panel_text(app)
        assert "main → origin/main" in text
        assert "↓2 incoming" in text and "↑0 outgoing" in text
        assert "Incoming commits (2)" in text
        assert "Explain the parser" in text and "Grace" in text and "2h ago" in text
        assert "Add the parser" in text and "Ada" in text
        assert "A src/parser.py" in text and "M README.md" in text
        assert "fast-forward main by 2 incoming commits" in text
        assert "[ff-only]" in text  # the default mode
        assert screen.check_action("pull", ()) is True
        assert head(clone) != tip  # a preview changes nothing


async def test_pull_fast_forwards_on_disk_and_closes_with_the_range(tmp_path: Path) -> None:
    _, clone, tip = behind_repo(tmp_path)
    old = head(clone)
    app = make_app(config_of({"service": clone}), tmp_path, clock=lambda: NOW)
    async with app.run_test(size=(120, 35)) as pilot:
        await open_pull(pilot, app, "service")
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, DashboardScreen))
        assert head(clone) == tip
        assert (clone / "src" / "parser.py").read_text() == "def parse():\n    pass\n"
        toasts = [n.message for n in app._notifications]
        assert any(f"{old[:7]}..{tip[:7]}" in m and "undo: git reset --keep" in m for m in toasts)


async def test_refused_when_a_local_edit_touches_an_incoming_file(tmp_path: Path) -> None:
    _, clone, tip = behind_repo(tmp_path)
    (clone / "README.md").write_text("my unsaved words\n")
    old = head(clone)
    app = make_app(config_of({"service": clone}), tmp_path, clock=lambda: NOW)
    async with app.run_test(size=(120, 35)) as pilot:
        screen = await open_pull(pilot, app, "service")
        text = panel_text(app)
        assert "✗ Will not pull: 1 file with local changes" in text
        assert "would be changed by the pull" in text and "    README.md" in text
        assert screen.check_action("pull", ()) is None  # greyed out in the footer
        await pilot.press("enter", "p")
        await pilot.pause(0.2)
        assert app.screen is screen and not screen.pulling
    assert head(clone) == old != tip
    assert (clone / "README.md").read_text() == "my unsaved words\n"


async def test_a_failed_fetch_is_said_and_the_last_fetched_upstream_can_still_be_pulled(
    tmp_path: Path,
) -> None:
    _, clone, tip = behind_repo(tmp_path)
    git(clone, "fetch", "-q")
    git(clone, "remote", "set-url", "origin", str(tmp_path / "gone.git"))
    app = make_app(config_of({"service": clone}), tmp_path, clock=lambda: NOW)
    async with app.run_test(size=(120, 35)) as pilot:
        screen = await open_pull(pilot, app, "service")
        assert "✗ fetch failed, preview from the last fetch" in panel_text(app)
        assert "Incoming commits (2)" in panel_text(app)
        assert screen.check_action("pull", ()) is True
        await pilot.press("p")
        await until(pilot, lambda: isinstance(app.screen, DashboardScreen))
    assert head(clone) == tip


async def test_upstream_moved_after_the_preview_is_refused_as_stale_and_re_previewed(
    tmp_path: Path,
) -> None:
    remote, clone, tip = behind_repo(tmp_path)
    old = head(clone)
    app = make_app(config_of({"service": clone}), tmp_path, clock=lambda: NOW)
    async with app.run_test(size=(120, 35)) as pilot:
        screen = await open_pull(pilot, app, "service")
        newer = push(remote, tmp_path, {"late.txt": "late\n"}, "Late commit")
        git(clone, "fetch", "-q")  # the remote-tracking ref moves under the open panel
        await pilot.press("p")
        await until(pilot, lambda: screen.outcome is not None and screen.preview is not None
                    and screen.preview.upstream_sha == newer)  # fmt: skip
        text = panel_text(app)
        assert "✗ Not pulled: origin/main moved" in text and "moved since the preview" in text
        assert "Late commit" in text and "Incoming commits (3)" in text
        assert head(clone) == old  # not even to the commit previewed first
        await pilot.press("p")
        await until(pilot, lambda: isinstance(app.screen, DashboardScreen))
    assert head(clone) == newer != tip


async def test_mode_keys_re_preview_and_the_default_comes_from_the_config(
    tmp_path: Path,
) -> None:
    _, clone = diverged_repo(tmp_path)
    config = config_of({"site": clone})
    spec = config.repos[0]
    config = Config(
        defaults=config.defaults, repos=(RepoSpec(spec.path, "site", pull_mode="rebase"),)
    )
    app = make_app(config, tmp_path, clock=lambda: NOW)
    async with app.run_test(size=(120, 35)) as pilot:
        screen = await open_pull(pilot, app, "site")
        assert screen.mode == "rebase" and "[rebase]" in panel_text(app)
        assert "rebase: 1 outgoing commit replayed" in panel_text(app)
        await pilot.press("1")
        await until(pilot, lambda: screen.preview is not None and screen.preview.mode == "ff-only")
        assert "Will not pull: 1 local commit not on" in panel_text(app)
        assert "Press 2 to rebase or 3 to merge." in panel_text(app)
        assert screen.check_action("pull", ()) is None
        await pilot.press("m", "m")
        await until(pilot, lambda: screen.preview is not None and screen.preview.mode == "merge")
        assert "merge: a merge commit joins" in panel_text(app)
        assert screen.check_action("pull", ()) is True
        await pilot.press("escape")
        assert isinstance(app.screen, DashboardScreen)


@pytest.mark.skipif(
    importlib.util.find_spec("gitwatch_tui.ui.screens.conflicts") is None,
    reason="the conflict panel is not written yet",
)
async def test_merge_that_conflicts_opens_the_conflict_panel(tmp_path: Path) -> None:
    _, clone = diverged_repo(tmp_path)
    app = make_app(config_of({"site": clone}), tmp_path, clock=lambda: NOW)
    async with app.run_test(size=(120, 35)) as pilot:
        screen = await open_pull(pilot, app, "site")
        await pilot.press("m", "m")  # ff-only → rebase → merge
        await until(pilot, lambda: screen.preview is not None and screen.preview.mode == "merge")
        await pilot.press("p")
        await until(pilot, lambda: type(app.screen).__name__ == "ConflictScreen")
        assert screen not in app.screen_stack
    assert (clone / ".git" / "MERGE_HEAD").exists()
    assert "<<<<<<<" in (clone / "README.md").read_text()


def _pull_panel_of(name: str):  # type: ignore[no-untyped-def]
    async def run(pilot: Pilot[int]) -> None:
        await open_pull(pilot, pilot.app, name)  # type: ignore[arg-type]
        await pilot.pause(0.1)

    return run


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_snapshot_preview(snap_compare, tmp_path, size) -> None:  # type: ignore[no-untyped-def]
    _, clone, _ = behind_repo(tmp_path)
    app = make_app(config_of({"service": clone}), tmp_path, clock=lambda: NOW)
    assert snap_compare(app, terminal_size=size, run_before=_pull_panel_of("service"))


def test_snapshot_refused(snap_compare, tmp_path) -> None:  # type: ignore[no-untyped-def]
    _, clone, _ = behind_repo(tmp_path)
    (clone / "README.md").write_text("my unsaved words\n")
    app = make_app(config_of({"service": clone}), tmp_path, clock=lambda: NOW)
    assert snap_compare(app, terminal_size=(80, 24), run_before=_pull_panel_of("service"))
