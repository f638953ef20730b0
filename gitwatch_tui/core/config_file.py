"""The config file: where it is (`--config`, `$GITWATCH_TUI_CONFIG`, the XDG default) and
reading it into a typed Config, with every problem reported as file:line:column.

The YAML reader, `config_yaml`, is imported only when there is a file to read.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from pathlib import Path

from gitwatch_tui.core.config import Config, expand_user
from gitwatch_tui.core.errors import ConfigError, ConfigProblem, file_error
from gitwatch_tui.core.models import SourceLocation

CONFIG_ENV_VAR = "GITWATCH_TUI_CONFIG"


def default_config_path(env: Mapping[str, str] = os.environ) -> Path:
    """`$XDG_CONFIG_HOME/gitwatch-tui/config.yaml`, else `~/.config/gitwatch-tui/config.yaml`."""
    xdg = env.get("XDG_CONFIG_HOME", "")
    # The XDG spec says a relative value is invalid and must be ignored.
    base = Path(xdg) if os.path.isabs(xdg) else Path(expand_user("~/.config", env))
    return base / "gitwatch-tui" / "config.yaml"


def resolve_config_path(cli_path: str | None, env: Mapping[str, str] = os.environ) -> Path | None:
    """Pick the config file: `--config`, then `$GITWATCH_TUI_CONFIG`, then the default path.

    A file named explicitly must exist (ConfigError otherwise); a missing default gives None.
    """
    for raw, origin in ((cli_path, "--config"), (env.get(CONFIG_ENV_VAR), f"${CONFIG_ENV_VAR}")):
        if raw:
            path = Path(expand_user(raw, env))
            if not path.exists():
                raise file_error(str(path), f"config file named by {origin} does not exist")
            return path
    path = default_config_path(env)
    return path if path.exists() else None


def load_config(path: Path, env: Mapping[str, str] = os.environ) -> Config:
    """Read and parse `path`; any problem, an unreadable file included, raises ConfigError."""
    return config_from_bytes(path, read_config_bytes(path), env)


def read_config_bytes(path: Path) -> bytes:
    """The file's bytes; one that cannot be read raises ConfigError."""
    try:
        return path.read_bytes()
    except OSError as exc:  # missing, a directory, no permission...
        raise file_error(str(path), f"cannot read config file: {exc.strerror or exc}") from None


def config_from_bytes(path: Path, data: bytes, env: Mapping[str, str] = os.environ) -> Config:
    """Parse `data`, read from `path` (for its name and folder); raises ConfigError."""
    name = str(path)
    try:
        text = data.decode("utf-8")  # a BOM survives decoding and the YAML scanner skips it
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - data.rfind(b"\n", 0, exc.start)
        where = SourceLocation(name, line, column)
        raise ConfigError([ConfigProblem(where, "not UTF-8 text (a binary file?)")]) from None
    config = parse_config(text, name, base_dir=path.absolute().parent, env=env)
    return dataclasses.replace(config, source=path)


def parse_config(
    text: str, filename: str, *, base_dir: Path, env: Mapping[str, str] = os.environ
) -> Config:
    """Parse config text; relative paths are taken from `base_dir`. Raises ConfigError."""
    # Imported here: PyYAML and the reader cost ~40 ms of start-up that a run without a config
    # file (the common `status` case) does not need.
    from gitwatch_tui.core.config_yaml import read_config

    return read_config(text, filename, base_dir=base_dir, env=env)
