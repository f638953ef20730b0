"""Where a secret comes from, an environment variable or a file, and reading it.

One place for the rules every secret follows (webhook secrets, the SMTP login, the notify
webhook URL, a pipeline step's secrets): a file's content loses one trailing newline (editors
and `kubectl create secret --from-file` leave one), and an empty value is an error. A message
names the variable or the file and why it cannot be used, never the value.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

MAX_SECRET_BYTES = 64 * 1024  # a secret is a token or a key, not a data file

_CONVENTIONAL_NAME = re.compile(r"[A-Z_][A-Z0-9_]*")


class SecretUnavailable(Exception):  # noqa: N818 (reads as the state it reports)
    """A secret cannot be read: `subject` names where it was looked for, `reason` says why."""

    def __init__(self, subject: str, reason: str) -> None:
        super().__init__(f"{subject} {reason}")
        self.subject = subject
        self.reason = reason


@dataclass(frozen=True, slots=True)
class SecretSource:
    """A secret's origin: the environment variable `env`, or the file `file` (one of the two)."""

    env: str | None = None
    file: Path | None = None

    def __post_init__(self) -> None:
        if (self.env is None) == (self.file is None):
            raise ValueError("a secret comes from either an environment variable or a file")

    def read(self, environ: Mapping[str, str]) -> str:
        """The secret's value; SecretUnavailable when it is unset, empty or unreadable."""
        if self.file is not None:
            return read_secret_file(self.file)
        assert self.env is not None
        value = environ.get(self.env)
        if not value:
            raise SecretUnavailable(variable_label(self.env), _unset_or_empty(value))
        return value


def read_secret_file(path: Path) -> str:
    """A secret file's text without its one trailing newline; SecretUnavailable otherwise."""
    subject = f"file {path}"
    try:
        data = _read_regular_file(path)
    except OSError as exc:
        raise SecretUnavailable(subject, f"cannot be read: {exc.strerror or exc}") from None
    if data is None:
        raise SecretUnavailable(subject, "is not a regular file")
    if len(data) > MAX_SECRET_BYTES:
        raise SecretUnavailable(subject, f"is larger than {MAX_SECRET_BYTES // 1024} KiB")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise SecretUnavailable(subject, "is not UTF-8 text") from None
    text = text.removesuffix("\r\n") if text.endswith("\r\n") else text.removesuffix("\n")
    if not text:
        raise SecretUnavailable(subject, "is empty")
    return text


def variable_label(name: str) -> str:
    """The variable by its name, unless the name may be the secret itself pasted in its place:
    names are upper case by convention, and a random token can be a valid name too."""
    if _CONVENTIONAL_NAME.fullmatch(name):
        return f"environment variable {name}"
    return "the environment variable named there (not in upper case: may be a secret, not shown)"


def _read_regular_file(path: Path) -> bytes | None:
    """Up to one byte more than a secret may have; None when `path` is no regular file."""
    # O_NONBLOCK: a FIFO put there must not hang the caller (the event loop) in open().
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        with os.fdopen(fd, "rb", closefd=False) as file:
            return file.read(MAX_SECRET_BYTES + 1)
    finally:
        os.close(fd)


def _unset_or_empty(value: str | None) -> str:
    return "is not set" if value is None else "is empty"
