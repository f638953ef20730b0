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


def test_a_full_collection_waits_for_a_quiet_keyboard_a_changed_heap_and_its_period() -> None:
    clock = Clock()
    collector = Collector(clock)
    collector.pause()
    assert not gc.isenabled()
    assert not collector.check()  # not started yet
    collector.start()
    assert gc.isenabled() and gc.get_freeze_count() > 0
    clock.now += FULL_AT_MOST_EVERY
    assert not collector.check()  # no full pass since the freeze: nothing much has changed
    full_pass()
    collector.key_pressed()
    clock.now += QUIET_FOR / 2
    assert not collector.check()  # the user is typing
    clock.now += QUIET_FOR
    assert collector.check() and collector.full_collections == 1
    assert gc.get_freeze_count() > 0  # frozen again
    full_pass()
    clock.now += FULL_AT_MOST_EVERY / 2
    assert not collector.check()  # too soon after the last one
    clock.now += FULL_AT_MOST_EVERY / 2
    assert collector.check() and collector.full_collections == 2


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
    assert collector.check()
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
        full_pass()
        clock.now += FULL_AT_MOST_EVERY
        await pilot.press("down")
        assert not collector.check()  # a key was just pressed
        clock.now += QUIET_FOR
        assert collector.check()
