"""The rules every refusal's words keep: no machine codes, no repeated words, no `(s)`
plurals, and a next step at the end. Every message a refusal kind can say is built from its
`WORDS`, so a new reason or message is checked here without a test of its own."""

from __future__ import annotations

import io
import re
import string
import tokenize
from pathlib import Path
from typing import get_args

import pytest

from gitwatch_tui.core.autosync import RefusalReason as SyncRefusalReason
from gitwatch_tui.core.autosync import SyncRefusal
from gitwatch_tui.core.results import (
    PullRefusal,
    PullRefusalReason,
    Refusal,
    SwitchRefusal,
    SwitchRefusalReason,
    plural,
)

PACKAGE = Path(__file__).resolve().parents[2] / "gitwatch_tui"
KINDS: list[tuple[type[Refusal], object]] = [
    (PullRefusal, PullRefusalReason),
    (SwitchRefusal, SwitchRefusalReason),
    (SyncRefusal, SyncRefusalReason),
]
# Facts as the code fills them in: counted nouns come through `plural`.
SAMPLE_FACTS = {
    "files": plural(2, "file"),
    "shown": "a.txt, b.txt",
    "ahead": plural(2, "local commit"),
    "behind": 1,
    "merges": plural(1, "local merge commit"),
    "remotes": plural(2, "remote"),
    "branch": "feature",
    "upstream": "origin/main",
    "remote": "origin/feature",
    "operation": "rebase",
    "mode": "rebase",
    "dropped": "abc1234",
    "old": "abc1234",
    "new": "def5678",
    "error": "fatal: unable to read tree 0123abc",
    "why": "it conflicts",
    "stash": "stash@{0} (0123456789)",
    "staged": 1,
    "unstaged": plural(2, "unstaged change"),
    "kept": "; your uncommitted changes are kept in stash@{0}",
    "pattern": "v*",
    "tag": "v1.2.0",
    "commits": plural(2, "commit"),
}
ALL_REASONS = {reason for _, literal in KINDS for reason in get_args(literal)}


def every_message() -> list[tuple[str, Refusal]]:
    """Each kind's every message, built as the code builds it."""
    built = []
    for kind, _ in KINDS:
        for key in kind.WORDS:
            built.append((f"{kind.__name__}:{key}", kind.of(key, **SAMPLE_FACTS)))
    return built


def broken_rules(message: str) -> list[str]:
    broken = []
    for reason in ALL_REASONS:
        if f"({reason})" in message:
            broken.append(f"the code ({reason})")
    if "(s)" in message:
        broken.append("a (s) plural")
    words = re.findall(r"[\w'-]+", message.lower())
    doubled = [a for a, b in zip(words, words[1:], strict=False) if a == b]
    if doubled:
        broken.append(f"a word twice in a row: {doubled}")
    if message.lower().count("nothing changed") > 1:
        broken.append("nothing changed said twice")
    return broken


@pytest.mark.parametrize(("key", "refusal"), every_message(), ids=[k for k, _ in every_message()])
def test_every_refusal_message_keeps_the_rules(key: str, refusal: Refusal) -> None:
    assert broken_rules(refusal.message) == []
    what, step = type(refusal).WORDS[key.split(":")[1]]
    assert step.strip(), "no next step"
    assert refusal.message.endswith(step.format(**SAMPLE_FACTS))


@pytest.mark.parametrize(("kind", "literal"), KINDS)
def test_every_reason_has_words(kind: type[Refusal], literal: object) -> None:
    said = {key.split("/")[0] for key in kind.WORDS}
    assert said == set(get_args(literal))


def test_words_name_only_facts_the_code_gives() -> None:
    for kind, _ in KINDS:
        for what, step in kind.WORDS.values():
            fields = {f for _, f, _, _ in string.Formatter().parse(what + step) if f}
            assert fields <= set(SAMPLE_FACTS)


def test_the_rules_catch_what_they_are_for() -> None:
    assert broken_rules("Will not pull (diverged): diverged: 2 commit(s)") == [
        "the code (diverged)",
        "a (s) plural",
        "a word twice in a row: ['diverged']",
    ]
    assert broken_rules("Nothing changed: x; nothing changed") == ["nothing changed said twice"]


def test_no_string_in_the_package_writes_a_plural_as_s_in_brackets() -> None:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        tokens = tokenize.generate_tokens(io.StringIO(path.read_text()).readline)
        for token in tokens:
            if token.type == tokenize.STRING and "(s)" in token.string:
                found.append(f"{path.relative_to(PACKAGE)}:{token.start[0]}")
    assert found == []
