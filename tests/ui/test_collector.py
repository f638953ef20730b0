"""The dashboard runs the process's garbage collector: off for the start, then on with what
the start made frozen, and a full collection now and then while no key is pressed."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator
from pathlib import Path

import pytest

from gitwatch_tui.ui.collector import FULL_AT_MOST_EVERY, QUIET_FOR, Collector
from tests.ui.conftest import RepoSet, all_read, make_app, until


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(autouse=True)
def _collector_as_it_was() -> Iterator[None]:
    """These tests change the test process's collector; it is put back as it was."""
    enabled = gc.isenabled()
    yield
    gc.unfreeze()
    if enabled:
        gc.enable()


def full_pass() -> None:
    gc.collect()  # counted as the collector's own full pass would be


def test_survivors_of_a_full_pass_are_frozen_and_a_full_collection_waits_for_quiet() -> None:
    clock = Clock()
    collector = Collector(clock)
    collector.pause()
    assert not gc.isenabled()
    assert collector.check() is None  # not started yet
    collector.start()
    assert gc.isenabled() and gc.get_freeze_count() > 0
    clock.now += FULL_AT_MOST_EVERY
    assert collector.check() is None  # no full pass since the freeze: nothing much was made
    made = [[n] for n in range(1000)]  # lives on, and is found by the next full pass
    full_pass()
    frozen = gc.get_freeze_count()
    collector.key_pressed()
    clock.now += QUIET_FOR / 2
    assert collector.check() == "freeze"  # the user is typing: no full collection
    assert gc.get_freeze_count() >= frozen + len(made)
    full_pass()
    clock.now += QUIET_FOR
    assert collector.check() == "full"
    assert gc.get_freeze_count() > 0  # frozen again
    full_pass()
    clock.now += FULL_AT_MOST_EVERY / 2
    assert collector.check() == "freeze"  # too soon after the last full collection
    full_pass()
    clock.now += FULL_AT_MOST_EVERY / 2
    assert collector.check() == "full"


def test_a_cycle_that_dies_while_frozen_is_freed_by_the_next_full_collection() -> None:
    clock = Clock()
    collector = Collector(clock)

    class Node:
        other: object = None

    a, b = Node(), Node()
    a.other, b.other = b, a
    alive = weakref.ref(a)
    collector.pause()
    collector.start()
    del a, b
    full_pass()
    assert alive() is not None  # frozen: no pass looks at it
    clock.now += FULL_AT_MOST_EVERY + QUIET_FOR
    assert collector.check() == "full"
    assert alive() is None


async def test_the_app_turns_the_collector_on_once_the_starts_rows_are_in(
    repo_set: RepoSet, tmp_path: Path
) -> None:
    clock = Clock()
    collector = Collector(clock)
    app = make_app(repo_set.config, tmp_path, collector=collector)
    assert not gc.isenabled()  # from the app's making on: the start is not collected
    async with app.run_test(size=(120, 35)) as pilot:
        await until(pilot, lambda: all_read(app) and gc.isenabled())
        assert gc.get_freeze_count() > 0
        clock.now += FULL_AT_MOST_EVERY
        await pilot.press("down")
        # No await from here: the app's own timer (every CHECK_EVERY s) cannot come between.
        full_pass()
        assert collector.check() == "freeze"  # a key was just pressed
        full_pass()
        clock.now += FULL_AT_MOST_EVERY
        assert collector.check() == "full"
