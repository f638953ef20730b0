"""Fixtures shared by the core tests."""

from __future__ import annotations

import pytest

from gitwatch_tui.core import config_yaml


@pytest.fixture(params=["libyaml", "python"])
def yaml_parser(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Read configs with libyaml's parser (skipped when PyYAML lacks it), then PyYAML's own."""
    if request.param == "python":
        monkeypatch.setattr(config_yaml, "_FastLoader", None)
    elif config_yaml._FastLoader is None:
        pytest.skip("PyYAML is installed without libyaml")
    return str(request.param)
