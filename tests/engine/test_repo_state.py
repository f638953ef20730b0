"""`repo_state`: the one word for a repo, the most pressing first, and the words around it
("Fetched", retry times). The faces that show it are tested together in tests/test_faces.py."""

from __future__ import annotations

from dataclasses import replace

import pytest

from gitwatch_tui.core.models import RepoStatus
from gitwatch_tui.engine.events import PipelineStateChanged, SyncState
from gitwatch_tui.engine.repo_state import (
    STATE_WORDS,
    SYMBOLS,
    ago,
    fetched,
    repo_state,
    soon,
    until,
)

NOW = 1_000_000.0
SYNCED = RepoStatus("r", "/r", branch="m", head="abc", upstream="o/m", ahead=0, behind=0)
FAILING = SyncState("r", phase="backoff", failures=3, next_attempt=NOW + 90, last_error="boom")
CIRCUIT = SyncState("r", "circuit-open", 5, NOW + 30, "401", auth_failed=True, circuit_open=True)
FAILED_RUN = PipelineStateChanged("r", "run", "failed", failed=("test",))


@pytest.mark.parametrize(
    ("status", "sync", "pipeline", "word", "detail"),
    [
        (None, None, None, "unknown", "reading"),
        (replace(SYNCED, error="fatal: not a git repository", head=None), FAILING, FAILED_RUN,
         "error", "not a git repository"),
        (replace(SYNCED, operation="merge", conflicted=1, conflicts_total=3, behind=2), FAILING,
         FAILED_RUN, "conflict", "merging 2/3"),
        (replace(SYNCED, conflicted=2), None, None, "conflict", "2 conflicts"),
        (replace(SYNCED, behind=2), CIRCUIT, FAILED_RUN, "pipeline-failed",
         "pipeline failed at test"),
        (replace(SYNCED, behind=2), CIRCUIT, None, "circuit-open",
         "auth failed · retry in 30s"),
        (replace(SYNCED, upstream_gone=True), FAILING, None, "failing", "retry in 2m · 3×"),
        (SYNCED, SyncState("r", failures=1, last_error="fatal: gone\n"), None, "failing",
         "fetch failed: gone"),  # no engine to retry it (`status --fetch`)
        (replace(SYNCED, last_fetch_failed=NOW - 120), SyncState("r"), None, "failing",
         "fetch failed 2m ago"),  # as the record says: the engine has not tried again yet
        (replace(SYNCED, bare=True, upstream=None, ahead=None, behind=None), None, None, "bare",
         "bare repo"),
        (replace(SYNCED, head=None, upstream_gone=False), None, None, "empty",
         "empty, no commits yet"),
        (replace(SYNCED, upstream_gone=True, behind=None, ahead=None, unstaged=1), None, None,
         "upstream-gone", "upstream gone"),
        (replace(SYNCED, ahead=1, behind=1, untracked=1), None, None, "diverged", "diverged"),
        (replace(SYNCED, behind=1, unstaged=1), None, None, "behind", "behind"),
        (replace(SYNCED, ahead=1, staged=1), None, None, "ahead", "ahead"),
        (replace(SYNCED, untracked=1, stale_submodules=1), None, None, "dirty", "dirty"),
        (replace(SYNCED, stale_submodules=2), None, None, "stale-submodules",
         "stale submodules"),
        (replace(SYNCED, detached=True, upstream=None, no_remote=True), None, None, "detached",
         "detached"),
        (replace(SYNCED, upstream=None, no_remote=True), None, None, "no-remote", "no remote"),
        (replace(SYNCED, upstream=None), None, None, "no-upstream", "no upstream"),
        (SYNCED, SyncState("r", phase="fetching"), None, "in-sync", "in sync"),  # activity
        (SYNCED, None, PipelineStateChanged("r", "run", "ok"), "in-sync", "in sync"),
    ],
)  # fmt: skip
def test_the_most_pressing_state_wins(
    status: RepoStatus | None,
    sync: SyncState | None,
    pipeline: PipelineStateChanged | None,
    word: str,
    detail: str,
) -> None:
    state = repo_state(status, sync, NOW, pipeline=pipeline)
    assert (state.word, state.detail) == (word, detail)
    assert state.label == f"{SYMBOLS[state.word]} {detail}"
    assert STATE_WORDS[state.rank] == word


def test_the_metric_labels_of_old_are_all_still_words() -> None:
    """`gitwatch_repos{state}` values: new ones may come, none may go or be renamed."""
    before = {"error", "conflict", "diverged", "behind", "ahead", "dirty", "detached",
              "no-upstream", "in-sync", "unknown"}  # fmt: skip
    assert before <= set(STATE_WORDS) and set(SYMBOLS) == set(STATE_WORDS)


def test_fetched_says_the_last_success_or_the_failure_since() -> None:
    never = RepoStatus("r", "/r")
    assert (fetched(never, NOW), fetched(never, NOW, short=True)) == ("never", "never")
    ok = replace(never, last_fetch=NOW - 180)
    assert (fetched(ok, NOW), fetched(ok, NOW, short=True)) == ("3m ago", "3m ago")
    failed = replace(ok, last_fetch_failed=NOW - 120)
    assert (fetched(failed, NOW), fetched(failed, NOW, short=True)) == ("failed 2m ago", "✗ 2m")
    assert ago(NOW - 3 * 86400, NOW) == "3d ago" and ago(NOW + 50, NOW) == "0s ago"
    assert (until(NOW + 75, NOW), until(NOW + 3700, NOW)) == ("1m15s", "1h01m")


@pytest.mark.parametrize(
    ("status", "sync", "labels"),
    [
        (replace(SYNCED, error="not a git repository (no .git here)", head=None), None,
         ("✗ not a git repository (no .git here)", "✗ not a git repository", "✗ not a repo")),
        (replace(SYNCED, error="stale index.lock (31s old): a git command crashed"), None,
         ("✗ stale index.lock (31s old): a git command crashed", "✗ stale index.lock",
          "✗ stale lock")),
        (SYNCED, replace(CIRCUIT, auth_failed=False, next_attempt=NOW + 235),
         ("⊘ circuit open · retry in 4m", "⊘ open 4m")),
        (SYNCED, CIRCUIT, ("⊘ auth failed · retry in 30s", "⊘ auth failed")),
        (SYNCED, FAILING, ("↻ retry in 2m · 3×", "↻ retry in 2m")),
        (replace(SYNCED, last_fetch_failed=NOW - 120), SyncState("r"),
         ("↻ fetch failed 2m ago", "↻ failed 2m")),
        (replace(SYNCED, operation="cherry-pick", conflicted=1, conflicts_total=2), None,
         ("⚠ cherry-picking 1/2", "⚠ picking 1/2")),
        (replace(SYNCED, stale_submodules=1), None, ("◐ stale submodules", "◐ submodules")),
        (replace(SYNCED, behind=1), None, ("↓ behind",)),
    ],
)  # fmt: skip
def test_each_state_has_a_short_form_for_a_narrow_table(
    status: RepoStatus, sync: SyncState | None, labels: tuple[str, ...]
) -> None:
    state = repo_state(status, sync, NOW)
    assert state.labels == labels
    assert len(state.labels[-1]) <= 15  # what the State column has at 80 columns


def test_another_error_is_cut_at_its_first_aside() -> None:
    error = replace(SYNCED, error="fatal: unable to access 'x': Could not resolve host")
    assert repo_state(error, None, NOW).labels == (
        "✗ unable to access 'x': Could not resolve host", "✗ unable to access 'x'",
    )  # fmt: skip


def test_a_countdown_in_the_table_is_in_whole_minutes() -> None:
    assert [soon(NOW + s, NOW) for s in (0, 59, 60, 61, 235, 3599, 3700)] == [
        "0s", "59s", "1m", "2m", "4m", "60m", "1h01m",
    ]  # fmt: skip
