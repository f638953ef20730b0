"""`gitwatch-tui watch`: one human line per pipeline event, never a Python repr."""

from __future__ import annotations

import pytest

from gitwatch_tui.engine.events import PipelineStateChanged
from gitwatch_tui.engine.headless import describe

LOG = "/state/pipelines/api/run-1.log"


@pytest.mark.parametrize(
    ("event", "line"),
    [
        (
            PipelineStateChanged("api", "run-1", "running", step="test", index=2, total=3),
            "api: pipeline step 2/3 test",
        ),
        (
            PipelineStateChanged("api", "run-1", "ok", index=3, total=3, duration=4.3),
            "api: pipeline ok in 4.3s, 3 steps",
        ),
        (
            PipelineStateChanged(
                "api", "run-1", "ok", index=2, total=2, failed=("lint",), duration=1.0
            ),
            "api: pipeline ok in 1.0s, 2 steps (failed, tolerated: lint)",
        ),
        (
            PipelineStateChanged(
                "api",
                "run-1",
                "failed",
                step="test",
                index=2,
                total=3,
                error="step test: exit 1",
                failed=("test",),
                log_path=LOG,
                duration=2.0,
            ),  # fmt: skip
            f"api: pipeline failed in 2.0s: step test: exit 1 (log: {LOG})",
        ),
        (
            PipelineStateChanged("api", "run-1", "timeout", step="deploy", duration=30.0),
            "api: pipeline timed out in 30.0s at step deploy",
        ),
        (
            PipelineStateChanged("api", "run-1", "cancelled", error="stopped", duration=0.5),
            "api: pipeline cancelled in 0.5s",
        ),
    ],
)
def test_pipeline_events_read_as_one_line(event: PipelineStateChanged, line: str) -> None:
    assert describe(event) == line
