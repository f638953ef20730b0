"""The cast converter: what util-linux `script` logged, as asciicast v2."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from gitwatch_tui.ui.cast import HEIGHT, WIDTH, to_asciicast


@pytest.mark.skipif(shutil.which("script") is None, reason="needs util-linux script")
def test_scripts_log_becomes_asciicast_v2_events_in_order(tmp_path: Path) -> None:
    raw, timing = tmp_path / "raw", tmp_path / "timing"
    # Two writes a little apart, the second with characters of several bytes each.
    program = "printf 'one\\n'; sleep 0.2; printf '✓ ⇅ two\\n'"
    subprocess.run(
        ["script", "-q", "-m", "advanced", "-O", str(raw), "-T", str(timing), "-c", program],
        check=True, capture_output=True, stdin=subprocess.DEVNULL, timeout=30,
    )  # fmt: skip
    header, *events = [json.loads(line) for line in to_asciicast(
        raw.read_bytes(), timing.read_text()
    ).splitlines()]  # fmt: skip
    assert (header["version"], header["width"], header["height"]) == (2, WIDTH, HEIGHT)
    assert all(kind == "o" for _, kind, _ in events)
    times = [at for at, _, _ in events]
    assert times == sorted(times) and times[-1] - times[0] >= 0.15
    assert "".join(text for _, _, text in events) == "one\r\n✓ ⇅ two\r\n"
