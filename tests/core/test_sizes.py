"""Sizes: every spelling the config accepts, read the same in every size key, and each key's
own range and `unlimited` permission, refused with file:line and what is wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from gitwatch_tui.core.config import Config
from gitwatch_tui.core.config_file import load_config
from gitwatch_tui.core.sizes import format_size, parse_size
from tests.core.configs import problems, write

KIB, MIB, GIB = 1024, 1024**2, 1024**3


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("1048576", MIB),
        ("1", 1),
        ("0", 0),
        ("10b", 10),
        ("10B", 10),
        ("512K", 512 * KIB),
        ("512k", 512 * KIB),
        ("512KB", 512 * KIB),
        ("512KiB", 512 * KIB),
        ("512kib", 512 * KIB),
        ("1m", MIB),
        ("1M", MIB),
        ("1MB", MIB),
        ("1mb", MIB),
        ("1MiB", MIB),
        ("2G", 2 * GIB),
        ("2gb", 2 * GIB),
        ("2GiB", 2 * GIB),
        ("1 MiB", MIB),
        ("  64K  ", 64 * KIB),
    ],
)
def test_every_spelling_is_bytes_or_a_binary_unit(text: str, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize(
    "text",
    ["", "lots", "1.5MiB", "-1", "1T", "1TiB", "1 M B", "MiB", "1MiBs", "0x10", "1_000"],
)
def test_what_is_not_a_size_is_refused_saying_what_is(text: str) -> None:
    with pytest.raises(ValueError, match=r"^not a size; use bytes, or a number with K, KB, KiB"):
        parse_size(text)


@pytest.mark.parametrize(
    ("size", "text"),
    [(1, "1 byte"), (1000, "1000 bytes"), (KIB, "1KiB"), (1536, "1536 bytes"), (MIB, "1MiB")],
)
def test_a_bound_is_written_in_its_largest_whole_unit(size: int, text: str) -> None:
    assert format_size(size) == text


def config_with(tmp_path: Path, text: str) -> Config:
    return load_config(write(tmp_path, text), {})


def step_with(key: str, value: str) -> str:
    """A config whose one pipeline step has `key: value`, written on line 6."""
    if key == "max_bytes":
        action, line = "cwd: .", f"configmap: {{name: c, files: [a], max_bytes: {value}}}"
    else:
        action, line = "run: [x]", f"limits: {{{key}: {value}}}"
    return f"""\
        repos:
          - path: app
            pipeline:
              - name: s
                {action}
                {line}
        """


def read_size(tmp_path: Path, key: str, value: str) -> int | None:
    """The bytes one size key holds once the config is read."""
    if key == "max_body":
        return config_with(tmp_path, f"server: {{max_body: {value}}}\n").server.max_body
    [step] = config_with(tmp_path, step_with(key, value)).repos[0].pipeline
    if key == "max_bytes":
        assert step.configmap is not None
        return step.configmap.max_bytes
    return step.limits.address_space if key == "memory" else step.limits.file_size


SIZE_KEYS = ("max_body", "memory", "file_size", "max_bytes")


@pytest.mark.parametrize("key", SIZE_KEYS)
@pytest.mark.parametrize(
    ("text", "size"),
    [("1MB", MIB), ("1m", MIB), ("1MiB", MIB), ("512K", 512 * KIB), ("512kb", 512 * KIB)],
)
def test_a_spelling_valid_in_one_key_is_valid_in_every_key(
    tmp_path: Path, key: str, text: str, size: int
) -> None:
    # 1MB and 512kb were refused in max_body (bytes, KiB or MiB only), valid in the others.
    assert read_size(tmp_path, key, text) == size


def size_config(key: str, value: str) -> str:
    return f"server: {{max_body: {value}}}\n" if key == "max_body" else step_with(key, value)


@pytest.mark.parametrize(
    ("key", "lowest", "least", "below"),
    [
        ("max_body", "1KiB", "1KiB", "1023"),
        ("memory", "1", "1 byte", "0"),
        ("file_size", "1b", "1 byte", "0K"),
        ("max_bytes", "1", "1 byte", "0"),
    ],
)
def test_each_key_keeps_its_own_minimum(
    tmp_path: Path, key: str, lowest: str, least: str, below: str
) -> None:
    assert read_size(tmp_path, key, lowest) == parse_size(lowest)
    [problem] = problems(tmp_path, size_config(key, below))
    assert problem.endswith(f": {key}: must be at least {least}, got '{below}'")


def test_max_bytes_keeps_its_maximum_of_kubernetes_one_mebibyte(tmp_path: Path) -> None:
    assert read_size(tmp_path, "max_bytes", "1MiB") == MIB
    assert read_size(tmp_path, "max_bytes", "1048576") == MIB
    [problem] = problems(tmp_path, step_with("max_bytes", "1048577"))
    assert problem == "6:53: max_bytes: must be at most 1MiB, got '1048577'"


@pytest.mark.parametrize("key", ["max_body", "memory", "file_size"])
def test_keys_without_a_maximum_take_gibibytes(tmp_path: Path, key: str) -> None:
    assert read_size(tmp_path, key, "64GiB") == 64 * GIB


@pytest.mark.parametrize("key", ["memory", "file_size"])
def test_rlimit_keys_stop_at_a_pebibyte(tmp_path: Path, key: str) -> None:
    # 99999999999G passed once and the step failed at its start (setrlimit's OverflowError).
    assert read_size(tmp_path, key, "1048576G") == 1024**5
    [problem] = problems(tmp_path, step_with(key, "99999999999G"))
    assert problem.endswith(f": {key}: must be at most 1048576GiB, got '99999999999G'")


def test_processes_stop_at_the_highest_pid_max(tmp_path: Path) -> None:
    [problem] = problems(tmp_path, step_with("processes", "99999999999999999999"))
    assert problem.endswith(": processes: must be at most 4194304, got 99999999999999999999")


@pytest.mark.parametrize("key", ["memory", "file_size"])
def test_rlimit_keys_may_be_unlimited(tmp_path: Path, key: str) -> None:
    assert read_size(tmp_path, key, "unlimited") is None


@pytest.mark.parametrize("key", ["max_body", "max_bytes"])
def test_other_keys_refuse_unlimited(tmp_path: Path, key: str) -> None:
    [problem] = problems(tmp_path, size_config(key, "unlimited"))
    assert problem.endswith(
        f": {key}: invalid size 'unlimited'; use bytes, or a number with K, KB, KiB, M, MB, MiB,"
        " G, GB or GiB"
    )


def test_a_bad_size_is_reported_with_its_file_line_and_column(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        """\
        server:
          max_body: 1.5MiB
        repos:
          - path: app
            pipeline:
              - name: s
                run: [x]
                limits: {memory: lots, file_size: 0}
        """,
    )
    spellings = "use bytes, or a number with K, KB, KiB, M, MB, MiB, G, GB or GiB"
    assert found == [
        f"2:13: max_body: invalid size '1.5MiB'; {spellings}",
        f"8:26: memory: invalid size 'lots'; {spellings}, or unlimited",
        "8:43: file_size: must be at least 1 byte, got '0'",
    ]
