"""The branch switcher's fuzzy filter: which names match, in which order, what is highlighted."""

from __future__ import annotations

import pytest

from gitwatch_tui.ui.fuzzy import boundaries, fuzzy_match, highlight_spans, rank


def names(query: str, items: list[str]) -> list[str]:
    return [item for item, _ in rank(query, items, key=str)]


@pytest.mark.parametrize(
    ("query", "text", "tier"),
    [
        ("main", "main", 0),
        ("MAIN", "main", 0),  # case-insensitive
        ("feat", "feature", 1),
        ("login", "feature/login", 2),  # after a separator
        ("bar", "fooBar", 2),  # a capital after a lower-case letter
        ("42", "issue42", 2),  # digits after letters
        ("ogi", "login", 3),  # a run inside a word
        ("fl", "feature/login", 4),  # word starts
        ("felo", "feature/login", 4),  # word starts and the runs after them
        ("ftr", "feature", 5),  # anything else in order
    ],
)
def test_tiers(query: str, text: str, tier: int) -> None:
    match = fuzzy_match(query, text)
    assert match is not None and match.tier == tier


@pytest.mark.parametrize(("query", "text"), [("xyz", "feature"), ("ef", "fe"), ("mainn", "main")])
def test_no_match_when_not_a_subsequence(query: str, text: str) -> None:
    assert fuzzy_match(query, text) is None


def test_an_empty_query_matches_everything_in_the_given_order() -> None:
    assert names("", ["b", "a", "c"]) == ["b", "a", "c"]
    assert fuzzy_match("", "x") is not None


def test_positions_for_highlighting() -> None:
    assert fuzzy_match("login", "feature/login").positions == (8, 9, 10, 11, 12)  # type: ignore[union-attr]
    assert fuzzy_match("fl", "feature/login").positions == (0, 8)  # type: ignore[union-attr]
    # The word start wins over the first occurrence of the letter.
    assert fuzzy_match("fl", "fable/lint").positions == (0, 6)  # type: ignore[union-attr]
    # A run wins over scattered letters.
    assert fuzzy_match("fix", "f-i-x-fix9").positions == (6, 7, 8)  # type: ignore[union-attr]
    assert fuzzy_match("fs", "ßfs").positions == (1, 2)  # type: ignore[union-attr]


def test_ranking_puts_prefix_and_word_boundary_matches_first() -> None:
    items = ["safe", "fix/empty", "origin/feature", "feature-x", "main", "fe"]
    assert names("fe", items) == ["fe", "feature-x", "origin/feature", "safe", "fix/empty"]


def test_ties_keep_the_callers_order_and_tighter_subsequences_win() -> None:
    assert names("feat", ["feature-b", "feature-a"]) == ["feature-b", "feature-a"]
    # both tier 5: the one with smaller gaps first
    assert names("ace", ["xabcdefghe", "xacxe"]) == ["xacxe", "xabcdefghe"]


def test_rank_uses_the_key() -> None:
    items = [("a", "origin/feature"), ("b", "main")]
    assert [item for item, _ in rank("ma", items, key=lambda pair: pair[1])] == [("b", "main")]


def test_boundaries_and_spans() -> None:
    assert boundaries("feature/logIn-2") == frozenset({0, 8, 11, 14})
    assert highlight_spans([0, 1, 2, 5, 7, 8]) == [(0, 3), (5, 6), (7, 9)]
    assert highlight_spans([]) == []
