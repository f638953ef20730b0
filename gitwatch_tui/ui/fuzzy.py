"""Fuzzy matching for pick lists (the branch switcher): what the user typed, as a subsequence.

A match falls in one of six tiers, best first, so ranking is predictable to the user:

0. the whole name (case-insensitive);
1. a prefix of the name;
2. a run of text starting at a word boundary (`login` in `feature/login`);
3. a run of text anywhere else;
4. a subsequence made of word starts and the runs after them (`fl` in `feature/login`);
5. any other subsequence (`ftr` in `feature`).

Within a tier the caller's own order is kept (the branch list comes newest first), except in
the two subsequence tiers, where tighter matches come first.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")

_SEPARATORS = frozenset("/-_. @:")
# Scores for the subsequence tiers: a char at a word start counts most, then one right after
# the previous matched char, and every skipped char costs a little.
_BOUNDARY = 8
_CONSECUTIVE = 5
_GAP = 1


@dataclass(frozen=True, slots=True)
class Match:
    """How `query` matches a text: its tier (lower is better), a score within the tier
    (higher is better) and the matched character positions, for highlighting."""

    tier: int
    score: int
    positions: tuple[int, ...]


def boundaries(text: str) -> frozenset[int]:
    """Positions that start a word: the first char, one after a separator, a capital after
    a lower-case letter, a digit after a non-digit."""
    starts = set()
    for i, char in enumerate(text):
        before = text[i - 1] if i else ""
        if (
            i == 0
            or before in _SEPARATORS
            or (char.isupper() and before.islower())
            or (char.isdigit() and not before.isdigit())
        ) and char not in _SEPARATORS:
            starts.add(i)
    return frozenset(starts)


def fuzzy_match(query: str, text: str) -> Match | None:
    """The best way `query` matches `text` (case-insensitive), or None.

    An empty query matches everything, in tier 0 with no positions.
    """
    if not query:
        return Match(0, 0, ())
    q, t = query.casefold(), text.casefold()
    if len(q) != len(query) or len(t) != len(text):
        # Case folding changed a length (ß → ss): positions would not line up; use lower().
        q, t = query.lower(), text.lower()
    if not _is_subsequence(q, t):
        return None
    run = tuple(range(len(q)))
    if t == q:
        return Match(0, 0, run)
    if t.startswith(q):
        return Match(1, 0, run)
    starts = boundaries(text)
    first = t.find(q)
    if first >= 0:
        at = first
        while at >= 0:
            if at in starts:
                return Match(2, 0, tuple(range(at, at + len(q))))
            at = t.find(q, at + 1)
        return Match(3, 0, tuple(range(first, first + len(q))))
    score, positions = _best_alignment(q, t, starts)
    word_starts = all(
        p in starts or (i and positions[i - 1] == p - 1) for i, p in enumerate(positions)
    )
    return Match(4 if word_starts else 5, score, positions)


def rank(query: str, items: Iterable[T], key: Callable[[T], str]) -> list[tuple[T, Match]]:
    """The items whose `key` matches `query`, best first; ties keep the items' own order."""
    found = []
    for index, item in enumerate(items):
        match = fuzzy_match(query, key(item))
        if match is not None:
            found.append((match.tier, -match.score, index, item, match))
    found.sort(key=lambda entry: entry[:3])
    return [(item, match) for *_, item, match in found]


def _is_subsequence(query: str, text: str) -> bool:
    at = 0
    for char in query:
        at = text.find(char, at) + 1
        if not at:
            return False
    return True


def _best_alignment(query: str, text: str, starts: frozenset[int]) -> tuple[int, tuple[int, ...]]:
    """The highest-scoring positions of `query` in `text` (a subsequence is known to exist).

    Dynamic programming: `row[i]` is the best score with the current query char matched at
    text[i], coming either right after the previous char (a run) or after a gap, the best
    gap start kept as a running maximum. Linear per query char; only names that are not a
    plain substring match get here.
    """
    n = len(text)
    none = -(10**9)
    previous: list[int] = []
    came_from: list[list[int]] = []
    for j, char in enumerate(query):
        row, back = [none] * n, [-1] * n
        # max over k <= i-2 of previous[k] + _GAP * k: the best start of a gap ending at i.
        gap_best, gap_at = none, -1
        for i in range(n):
            if j and i >= 2 and previous[i - 2] > none:
                value = previous[i - 2] + _GAP * (i - 2)
                if value > gap_best:
                    gap_best, gap_at = value, i - 2
            if text[i] != char:
                continue
            bonus = _BOUNDARY if i in starts else 0
            if not j:
                row[i] = bonus
                continue
            if i and previous[i - 1] > none:
                row[i], back[i] = previous[i - 1] + _CONSECUTIVE + bonus, i - 1
            if gap_at >= 0 and gap_best - _GAP * (i - 1) + bonus > row[i]:
                row[i], back[i] = gap_best - _GAP * (i - 1) + bonus, gap_at
        previous = row
        came_from.append(back)
    last = max(range(n), key=lambda i: previous[i])
    positions = [last]
    for j in range(len(query) - 1, 0, -1):
        positions.append(came_from[j][positions[-1]])
    positions.reverse()
    return previous[last], tuple(positions)


def highlight_spans(positions: Sequence[int]) -> list[tuple[int, int]]:
    """Matched positions as (start, end) runs, for styling a Rich Text."""
    spans: list[tuple[int, int]] = []
    for p in positions:
        if spans and spans[-1][1] == p:
            spans[-1] = (spans[-1][0], p + 1)
        else:
            spans.append((p, p + 1))
    return spans
