"""Errors raised by the core layer."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from gitwatch_tui.core.models import SourceLocation


@dataclass(frozen=True, slots=True)
class ConfigProblem:
    """One thing wrong with a config file; `location` is None for whole-file problems."""

    location: SourceLocation | None
    message: str

    def __str__(self) -> str:
        return f"{self.location}: {self.message}" if self.location else self.message


class ConfigError(Exception):
    """A config file cannot be used; `problems` lists everything found wrong with it."""

    def __init__(self, problems: Iterable[ConfigProblem]) -> None:
        self.problems: tuple[ConfigProblem, ...] = tuple(problems)
        super().__init__("\n".join(str(problem) for problem in self.problems))


def file_error(filename: str, message: str) -> ConfigError:
    """A ConfigError about the file `filename` as a whole, not a place in it."""
    return ConfigError([ConfigProblem(None, f"{filename}: {message}")])
