"""Reading a secret from a variable or a real file: the newline, empty and unreadable rules."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from gitwatch_tui.core.secrets import MAX_SECRET_BYTES, SecretSource, SecretUnavailable

SECRET = "s3cret-value"
PEM = "-----BEGIN KEY-----\nabc\n-----END KEY-----"


def unavailable(source: SecretSource, environ: dict[str, str] | None = None) -> str:
    with pytest.raises(SecretUnavailable) as info:
        source.read(environ or {})
    assert SECRET not in str(info.value)
    return str(info.value)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (SECRET, SECRET),
        (SECRET + "\n", SECRET),
        (SECRET + "\r\n", SECRET),
        (SECRET + "\n\n", SECRET + "\n"),  # one newline only: the rest is the secret's own
        (SECRET + "\r", SECRET + "\r"),
        (" " + SECRET + " \n", " " + SECRET + " "),  # no other trimming
        (PEM + "\n", PEM),  # a multi-line key keeps its inner newlines
    ],
)
def test_a_file_loses_one_trailing_newline(tmp_path: Path, content: str, expected: str) -> None:
    path = tmp_path / "secret"
    path.write_bytes(content.encode())
    assert SecretSource(file=path).read({}) == expected


def test_a_file_is_read_each_time(tmp_path: Path) -> None:
    path = tmp_path / "secret"
    path.write_text("first\n")
    source = SecretSource(file=path)
    assert source.read({}) == "first"
    path.write_text("rotated\n")
    assert source.read({}) == "rotated"


@pytest.mark.parametrize("content", ["", "\n", "\r\n"])
def test_an_empty_file_is_an_error(tmp_path: Path, content: str) -> None:
    path = tmp_path / "secret"
    path.write_text(content, newline="")
    assert unavailable(SecretSource(file=path)) == f"file {path} is empty"


def test_what_cannot_be_read_names_the_path_and_why_never_the_content(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    assert unavailable(SecretSource(file=missing)) == (
        f"file {missing} cannot be read: No such file or directory"
    )
    assert unavailable(SecretSource(file=tmp_path)) == f"file {tmp_path} is not a regular file"
    binary = tmp_path / "binary"
    binary.write_bytes(SECRET.encode() + b"\xff\xfe")
    assert unavailable(SecretSource(file=binary)) == f"file {binary} is not UTF-8 text"
    huge = tmp_path / "huge"
    huge.write_text(SECRET * (MAX_SECRET_BYTES // len(SECRET) + 1))
    assert unavailable(SecretSource(file=huge)) == f"file {huge} is larger than 64 KiB"


@pytest.mark.skipif(os.geteuid() == 0, reason="root can read any file")
def test_a_file_without_read_permission(tmp_path: Path) -> None:
    path = tmp_path / "secret"
    path.write_text(SECRET)
    path.chmod(0)
    assert unavailable(SecretSource(file=path)) == f"file {path} cannot be read: Permission denied"


def test_a_fifo_is_refused_without_waiting_for_a_writer(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    outcome: list[str] = []
    reader = threading.Thread(target=lambda: outcome.append(unavailable(SecretSource(file=fifo))))
    reader.start()
    reader.join(10)
    if reader.is_alive():  # it hangs in open(): give it the writer it waits for, then fail
        with open(fifo, "w"):
            pass
        reader.join(10)
        pytest.fail("reading a FIFO waited for a writer")
    assert outcome == [f"file {fifo} is not a regular file"]


def test_a_variable_is_named_when_unset_or_empty() -> None:
    source = SecretSource(env="HOOK_SECRET")
    assert source.read({"HOOK_SECRET": SECRET}) == SECRET
    assert unavailable(source) == "environment variable HOOK_SECRET is not set"
    assert unavailable(source, {"HOOK_SECRET": ""}) == "environment variable HOOK_SECRET is empty"
    # A name that may be a pasted secret is not shown.
    assert "s3cr3t" not in unavailable(SecretSource(env="s3cr3t"))


def test_a_source_is_a_variable_or_a_file() -> None:
    with pytest.raises(ValueError):
        SecretSource()
    with pytest.raises(ValueError):
        SecretSource(env="X", file=Path("/x"))
