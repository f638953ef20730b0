"""Sizes in bytes as the config writes them: `1048576`, `512K`, `1MB`, `1MiB`, `2g`, ...

One spelling for every size key, so a value valid in one key is valid in all of them; each key
keeps its own range. Every unit is a power of 1024 (`1MB` is `1MiB`): the limits these sizes
set (an HTTP body, an rlimit, a ConfigMap) are counted in binary units by what enforces them.
"""

from __future__ import annotations

import re

_SIZE = re.compile(r"(\d+)\s*(|b|k|kb|kib|m|mb|mib|g|gb|gib)", re.IGNORECASE)
_UNIT_BYTES = {"": 1, "b": 1, "k": 1024, "m": 1024**2, "g": 1024**3}
_NAMED = ((1024**3, "GiB"), (1024**2, "MiB"), (1024, "KiB"))

SIZE_SPELLINGS = "bytes, or a number with K, KB, KiB, M, MB, MiB, G, GB or GiB"


def parse_size(text: str) -> int:
    """The bytes that `text` says; ValueError when it is no size (`SIZE_SPELLINGS` says which
    are). The message does not quote `text`: the caller quotes it as it quotes values."""
    match = _SIZE.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"not a size; use {SIZE_SPELLINGS}")
    return int(match[1]) * _UNIT_BYTES[match[2][:1].lower()]


def format_size(size: int) -> str:
    """`size` in the largest binary unit that divides it: `1KiB`, `16MiB`, `1500 bytes`."""
    for unit, name in _NAMED:
        if size >= unit and size % unit == 0:
            return f"{size // unit}{name}"
    return "1 byte" if size == 1 else f"{size} bytes"
