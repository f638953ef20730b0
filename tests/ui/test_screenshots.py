"""The screenshot script's panel scenes: each ends on its panel with the content read (not a
spinner), from a sandbox of its own, and a scene that never gets there fails loudly."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest

from gitwatch_tui.core.config import Config, Defaults
from gitwatch_tui.ui.app import build_app
from gitwatch_tui.ui.screenshots import SCENES, SceneError, _until, main, take

# What each panel shows once its content is in; the words of one styled run each (an SVG
# splits a line where the style changes).
PANELS = {
    "pull": ["rebase your commits on top", "Rotate signing keys every 24 hours"],
    "switch": ["Not switched: ", "src/dns_manager/records.py"],
    "stashes": ["WIP: focus ring on buttons", "+Buttons: focus ring."],
    "conflicts": ["merging", "REQUEST_TIMEOUT =", "theirs · origin/main"],
    "log": ["step 3/3 version", "2 files changed, 8 insertions(+)"],
    # Taken after the log scene pulled admin-panel: still behind here, its own new sandbox.
    "bulk": ["1 done · 11 skipped · 0 failed", "fast-forwarded"],  # no remote: skipped
    "push": ["Push · libs · 5 repos", "pushed"],
    "diffs": ["Staged (2)", "+_devices: dict[str, str] = {}  # user -> token"],
    "commits": ["↓1 not pulled", "Document token lifetimes"],
    "run": ["12 ok · 1 failed", "✗ exit 1", "Release 0.2.0"],
}


def svg_text(path: Path) -> str:
    """The SVG's text runs, tags dropped, one run a line."""
    runs = re.findall(r"<text[^>]*>([^<]*)</text>", path.read_text(encoding="utf-8"))
    return "\n".join(html.unescape(run).replace("\xa0", " ") for run in runs)


async def test_each_panel_scene_shows_its_panel_with_content(tmp_path: Path) -> None:
    (tmp_path / "shots").mkdir()
    written = await take(tmp_path / "shots", tmp_path / "sandbox", set(PANELS))
    assert [path.name for path in written] == [f"{name}.svg" for name in PANELS]
    for path in written:
        text = svg_text(path)
        for words in PANELS[path.stem]:
            assert words in text, f"{path.name}: {words!r} not shown"
        for spinner in ("reading", "⟳", "running"):
            assert spinner not in text, f"{path.name} still shows {spinner!r}"
        # The clock is set just after the demo's fixed-date history: ages read like real ones.
        days = [int(d) for d in re.findall(r"(\d+)d ago", text)]
        assert max(days, default=0) < 7, f"{path.name}: ages of {days} days"


async def test_a_scene_that_never_gets_ready_raises(tmp_path: Path) -> None:
    app = build_app(Config(defaults=Defaults()), state_dir=tmp_path, watch_files=False)
    async with app.run_test(size=(80, 24)) as pilot:
        with pytest.raises(SceneError, match="never: not ready within 0.2s"):
            await _until("never", lambda app: False, within=0.2)(pilot)


def test_an_unknown_scene_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(tmp_path / "shots"), "pull", "nope"]) == 2
    assert "no such scene: nope" in capsys.readouterr().err
    assert not (tmp_path / "shots").exists()
    assert set(PANELS) <= SCENES.keys()
