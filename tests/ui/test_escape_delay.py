"""A lone Escape is taken as Escape after 50 ms, not Textual's 100; the user's ESCDELAY wins."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

SHOW = "import gitwatch_tui.ui.app, textual.constants as c; print(c.ESCAPE_DELAY)"


@pytest.mark.parametrize(("escdelay", "seconds"), [(None, "0.05"), ("200", "0.2")])
def test_escape_waits_50_ms_unless_the_user_says(escdelay: str | None, seconds: str) -> None:
    env = {k: v for k, v in os.environ.items() if k != "ESCDELAY"}
    if escdelay is not None:
        env["ESCDELAY"] = escdelay
    shown = subprocess.run(
        [sys.executable, "-c", SHOW], env=env, capture_output=True, text=True, check=True
    )
    assert shown.stdout.strip() == seconds
