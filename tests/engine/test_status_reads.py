"""Work that grows with what changed: after the first sweep a repo's status is read again when
the watcher saw it change, when a fetch updated a ref, or when the slow audit comes round;
not for a fetch that brought nothing. Reads are counted as git processes (a `git` early in
PATH that logs its arguments)."""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from gitwatch_tui.core import git as git_module
from gitwatch_tui.core.models import RepoSpec, RepoStatus
from gitwatch_tui.engine.engine import Engine, audit_pace
from gitwatch_tui.engine.events import NO_REMOTE
from gitwatch_tui.engine.snapshot import StatusSnapshot, read_known
from gitwatch_tui.engine.state_dir import SNAPSHOT_FILENAME
from tests.conftest import commit_file, git, make_remote_and_clone, push_from_elsewhere
from tests.engine.test_engine import config_for, start_engine, wait_for
from tests.engine.test_snapshot import key_of, make_repo

StatusCount = Callable[[Path], int]


@pytest.fixture()
def status_reads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> StatusCount:
    """How many `git status` processes have run in a work tree so far."""
    real = shutil.which("git")
    assert real is not None
    log = tmp_path / "git-calls.log"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    wrapper = bin_dir / "git"
    wrapper.write_text(f'#!/bin/sh\necho "$*" >> {log}\nexec {real} "$@"\n')
    wrapper.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{Path(real).parent}")

    def count(work_tree: Path) -> int:
        lines = log.read_text().splitlines() if log.exists() else []
        return sum(f"--work-tree={work_tree} " in line and " status " in line for line in lines)

    return count


def calls(tmp_path: Path, work_tree: Path) -> list[str]:
    """The fetch and status processes run in a work tree so far, in order (`status_reads`
    logs them)."""
    log = tmp_path / "git-calls.log"
    lines = log.read_text().splitlines() if log.exists() else []
    subcommands = (
        next((word for word in line.split() if word in ("fetch", "status")), None)
        for line in lines
        if f"--work-tree={work_tree} " in line
    )
    return [word for word in subcommands if word is not None]


async def watched_engine(tmp_path: Path, *names: str, **defaults: float) -> tuple[Engine, dict]:
    clones = {name: make_remote_and_clone(tmp_path, name) for name in names}
    specs = [RepoSpec(clone, name) for name, (_, clone) in clones.items()]
    engine = await start_engine(config_for(*specs, **defaults), tmp_path, watch_files=True)
    await wait_for(lambda: len(engine.statuses) == len(names) and engine.watching, within=20)
    return engine, clones


async def test_a_changed_repo_is_read_again_and_an_unchanged_one_is_not(
    tmp_path: Path, status_reads: StatusCount
) -> None:
    engine, clones = await watched_engine(tmp_path, "edited", "quiet")
    try:
        edited, quiet = clones["edited"][1], clones["quiet"][1]
        before = {"edited": status_reads(edited), "quiet": status_reads(quiet)}
        (edited / "new.txt").write_text("x\n")
        await wait_for(lambda: engine.statuses["edited"].untracked == 1, within=10)
        assert status_reads(edited) == before["edited"] + 1
        assert status_reads(quiet) == before["quiet"]
    finally:
        await engine.stop()


async def test_a_fetch_that_brings_nothing_does_not_read_the_status_again(
    tmp_path: Path, status_reads: StatusCount
) -> None:
    engine, clones = await watched_engine(tmp_path, "fetched", "other")
    try:
        remote, fetched = clones["fetched"]
        await engine.refresh_all()  # read while watched: a change since would be reported
        reads = status_reads(fetched)
        first = engine.statuses["fetched"]
        result = await engine.fetch("fetched")
        assert result.ok
        # A change to another repo, seen and read: the watcher has had its time.
        (clones["other"][1] / "new.txt").write_text("x\n")
        await wait_for(lambda: engine.statuses["other"].untracked == 1, within=10)
        assert status_reads(fetched) == reads
        after = engine.statuses["fetched"]
        assert after.last_fetch is not None and after.last_fetch != first.last_fetch
        # A fetch that brings a commit is read again: the repo is behind now.
        push_from_elsewhere(remote, tmp_path)
        assert (await engine.fetch("fetched")).ok
        assert engine.statuses["fetched"].behind == 1
        assert status_reads(fetched) == reads + 1
    finally:
        await engine.stop()


async def test_what_changes_while_a_fetch_runs_is_still_read(
    tmp_path: Path, status_reads: StatusCount
) -> None:
    engine, clones = await watched_engine(tmp_path, "busy")
    try:
        await engine.refresh_all()
        fetching = engine.fetch("busy")
        (clones["busy"][1] / "new.txt").write_text("x\n")
        assert (await fetching).ok
        await wait_for(lambda: engine.statuses["busy"].untracked == 1, within=10)
    finally:
        await engine.stop()


async def test_without_a_watcher_a_fetch_soon_after_a_read_reads_only_if_it_brings_something(
    tmp_path: Path, status_reads: StatusCount
) -> None:
    remote, clone = make_remote_and_clone(tmp_path, "polled")
    engine = await start_engine(config_for(RepoSpec(clone, "polled")), tmp_path)
    try:
        await wait_for(lambda: "polled" in engine.statuses)
        reads = status_reads(clone)
        # Read just now, polled hourly: a fetch-all right after the sweep reads nothing.
        assert (await engine.fetch("polled")).ok
        assert status_reads(clone) == reads
        assert engine.statuses["polled"].last_fetch is not None
        push_from_elsewhere(remote, tmp_path)
        assert (await engine.fetch("polled")).ok
        assert status_reads(clone) == reads + 1
        assert engine.statuses["polled"].behind == 1
    finally:
        await engine.stop()


async def test_a_fetch_that_brings_nothing_runs_one_git_process(
    tmp_path: Path, status_reads: StatusCount
) -> None:
    _, clone = make_remote_and_clone(tmp_path, "quiet")
    engine = await start_engine(config_for(RepoSpec(clone, "quiet")), tmp_path)
    try:
        await wait_for(lambda: "quiet" in engine.statuses)
        assert (await engine.fetch("quiet")).ok  # the first also reads the remotes' config
        log = tmp_path / "git-calls.log"
        before = len(log.read_text().splitlines())
        assert (await engine.fetch("quiet")).ok
        started = log.read_text().splitlines()[before:]
        assert len(started) == 1 and " fetch " in started[0]
    finally:
        await engine.stop()


async def test_without_a_watcher_each_poll_reads_the_status(
    tmp_path: Path, status_reads: StatusCount
) -> None:
    _, clone = make_remote_and_clone(tmp_path, "polled")
    engine = await start_engine(config_for(RepoSpec(clone, "polled"), poll_interval=1.0), tmp_path)
    try:
        seen: list[str] = []

        def read_after_fourth_poll() -> bool:
            seen[:] = calls(tmp_path, clone)  # kept as it was when this held
            return seen.count("fetch") >= 4 and seen[-1] == "status"

        # Polls 0.9-1.1 s apart: each comes over half an interval after the last read (the
        # first may come just after the sweep's read, and read nothing).
        await wait_for(read_after_fourth_poll, within=30)
        second = seen.index("fetch", seen.index("fetch") + 1)
        polls = seen[second:]
        assert polls == ["fetch", "status"] * (len(polls) // 2)
    finally:
        await engine.stop()


async def test_the_audit_reads_every_repo_again_in_its_period(
    tmp_path: Path, status_reads: StatusCount
) -> None:
    engine, clones = await watched_engine(tmp_path, "a", "b", "c", audit_period=1.0)
    try:
        first = {name: status_reads(clone) for name, (_, clone) in clones.items()}
        await wait_for(
            lambda: all(status_reads(clones[n][1]) > first[n] for n in clones), within=15
        )
    finally:
        await engine.stop()


def test_the_audits_pace_grows_with_the_repo_count_and_reads_a_few_together() -> None:
    """Unless configured, every repo once in 30 min, or 2 s a repo when that is longer (at
    10,000 repos 5 h 33 min, about 0.3 % of a core): 8 repos a step, not one a second."""
    assert audit_pace(10_000) == (16.0, 8)  # 20,000 s for all of them
    assert audit_pace(1_000) == (16.0, 8)  # 2,000 s
    assert audit_pace(100) == (144.0, 8)  # 1,800 s
    assert audit_pace(3) == (1800.0, 3)
    # A short period configured: steps of at least a second, more repos in each.
    assert audit_pace(3, 1.0) == (1.0, 3)
    assert audit_pace(10_000, 600.0) == (1.0, 17)


async def test_a_poll_of_a_repo_without_remotes_reads_nothing_while_watched(
    tmp_path: Path, status_reads: StatusCount
) -> None:
    local = tmp_path / "local"
    local.mkdir()
    git(local, "init", "-q")
    commit_file(local, "a.txt", "a\n")
    engine = await start_engine(config_for(RepoSpec(local, "local")), tmp_path, watch_files=True)
    try:
        await wait_for(lambda: "local" in engine.statuses and engine.watching, within=20)
        await engine.refresh("local")
        reads = status_reads(local)
        finished = await engine.fetch("local")
        assert not finished.ok and finished.detail == NO_REMOTE
        (local / "new.txt").write_text("x\n")  # then a change: read, and only once
        await wait_for(lambda: engine.statuses["local"].untracked == 1, within=10)
        assert status_reads(local) == reads + 1
    finally:
        await engine.stop()


async def test_a_status_read_again_unchanged_waits_for_the_next_snapshot_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each snapshot write is the whole watch list's: the audit's reads, nearly all unchanged,
    wrote 10,000 rows every few seconds at 10,000 repos. They go with the next write of a
    change, or the one at stop."""
    saves: list[int] = []
    save = StatusSnapshot.save_rows

    def counted(snapshot: StatusSnapshot, rows: Iterable[str]) -> None:
        save(snapshot, rows)
        saves.append(1)

    monkeypatch.setattr(StatusSnapshot, "save_rows", counted)
    specs = [RepoSpec(make_repo(tmp_path / name), name) for name in ("same", "edited")]
    engine = await start_engine(config_for(*specs), tmp_path, snapshot="dashboard")
    try:
        await wait_for(lambda: len(engine.statuses) == 2 and saves, within=20)
        first = read_known(tmp_path / "state" / SNAPSHOT_FILENAME, key_of(*specs))["same"]
        await engine.refresh("same")
        assert not engine._snapshot_due.is_set()  # nothing to write
        (tmp_path / "edited" / "new.txt").write_text("x\n")
        await engine.refresh("edited")
        assert engine._snapshot_due.is_set()  # a change: written within SNAPSHOT_EVERY
    finally:
        await engine.stop()
    known = read_known(tmp_path / "state" / SNAPSHOT_FILENAME, key_of(*specs))
    assert known["edited"].status.untracked == 1
    assert known["same"].read_at > first.read_at  # its later read, written at stop


async def test_a_fetch_ending_between_a_read_and_its_taking_is_in_the_status_and_snapshot(
    tmp_path: Path,
) -> None:
    """The reading thread copies the fetch times in and makes the snapshot's row; a fetch
    that ends before the loop takes the status is in both all the same."""
    spec = RepoSpec(make_repo(tmp_path / "one"), "one")
    engine = await start_engine(config_for(spec), tmp_path, snapshot="dashboard")
    try:
        await wait_for(lambda: "one" in engine.statuses and not engine.unread, within=20)
        engine._accept_status_threadsafe(engine.statuses["one"])  # as a reading thread does
        engine.states["one"] = replace(engine.states["one"], last_success=12345.0)  # then this
        await wait_for(lambda: engine.statuses["one"].last_fetch == 12345.0)
    finally:
        await engine.stop()
    known = read_known(tmp_path / "state" / SNAPSHOT_FILENAME, key_of(spec))
    assert known["one"].status.last_fetch == 12345.0


async def read_once(tmp_path: Path, names: list[str]) -> tuple[Engine, dict[str, Path]]:
    """An engine over a clone per name, once every one has its first status."""
    clones = {name: make_remote_and_clone(tmp_path, name)[1] for name in names}
    engine = await start_engine(config_for(*(RepoSpec(clones[n], n) for n in names)), tmp_path)
    try:
        await wait_for(lambda: len(engine.statuses) == len(names), within=20)
    except BaseException:
        await engine.stop()
        raise
    return engine, clones


async def test_a_full_refresh_reads_every_repo_once_in_one_sweep(
    tmp_path: Path, status_reads: StatusCount, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`r` lets the loop turn while its requests are made (a key waits for no 10,000 of
    them), yet the repos are read in one sweep, not one per turn, even when the refresher
    is woken by something else meanwhile (it failed so under load, reading two sweeps)."""
    from gitwatch_tui.engine import engine as engine_module

    monkeypatch.setattr(engine_module, "_REQUESTS_PER_TURN", 1)  # a turn between any two
    names = ["one", "two", "three"]
    engine, clones = await read_once(tmp_path, names)
    try:
        sweeps: list[list[str]] = []
        real = engine_module.collect_statuses

        def counted(specs: list[RepoSpec], **options: object) -> object:
            sweeps.append([spec.name for spec in specs])
            return real(specs, **options)  # type: ignore[arg-type]

        monkeypatch.setattr(engine_module, "collect_statuses", counted)
        before = {name: status_reads(clone) for name, clone in clones.items()}
        refreshing = asyncio.create_task(engine.refresh_all())
        for _ in names:  # the refresher woken between two turns (a batch ending, a file change)
            engine._wake_refresher.set()
            await asyncio.sleep(0)
        statuses = await refreshing
        assert [status.name for status in statuses] == list(engine.specs)
        assert sweeps == [list(engine.specs)]
        assert all(status_reads(clones[n]) == before[n] + 1 for n in names)
    finally:
        await engine.stop()


async def test_a_refresh_asked_for_during_a_sweep_reads_its_repos_together(
    tmp_path: Path, status_reads: StatusCount, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`r` pressed while a full refresh is being read: each repo is read again once its
    first read is done, but together with the others, not in a sweep of its own as each
    status comes back (at 10,000 repos that was 10,000 sweeps, each wake a pass over every
    pending request). Here the sweep ends well before the re-reads' gathering time: they
    are read in one sweep when it ends."""
    from gitwatch_tui.engine import engine as engine_module

    monkeypatch.setattr(engine_module, "_REREAD_GATHER", 30.0)
    names = [f"repo{i}" for i in range(6)]
    engine, clones = await read_once(tmp_path, names)
    try:
        sweeps: list[list[str]] = []
        real = engine_module.collect_statuses
        asked_again = threading.Event()

        def counted(specs: list[RepoSpec], **options: Any) -> object:
            sweeps.append([spec.name for spec in specs])
            report = options.pop("on_status")

            def slowly(status: RepoStatus) -> None:  # statuses come back one by one
                asked_again.wait(10)
                report(status)
                time.sleep(0.02)

            return real(specs, on_status=slowly, **options)

        monkeypatch.setattr(engine_module, "collect_statuses", counted)
        before = {name: status_reads(clone) for name, clone in clones.items()}
        first = asyncio.create_task(engine.refresh_all())
        await wait_for(lambda: len(engine._reading) == len(names))
        again = asyncio.create_task(engine.refresh_all())  # `r` again: before any came back
        await wait_for(lambda: len(engine._pending_refresh) == len(names))
        asked_again.set()
        second = await again
        await first
        assert [status.name for status in second] == list(engine.specs)
        assert sweeps[0] == list(engine.specs)
        assert len(sweeps) == 2, sweeps  # was 1 + 6: a sweep per status as it came back
        assert sorted(sweeps[1]) == sorted(names)
        assert all(status_reads(clones[n]) == before[n] + 2 for n in names)
    finally:
        await engine.stop()


@pytest.mark.skipif(sys.platform != "linux", reason="a thread's own niceness is Linux's")
async def test_status_sweeps_run_at_background_priority_and_user_actions_do_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The status sweeps' threads yield the core to the UI's thread (at 10,000 repos their
    Python took a fifth of a core at its priority); the threads of what the user asks for,
    and the loop's own, keep the process's priority."""
    from gitwatch_tui.engine import engine as engine_module

    _, clone = make_remote_and_clone(tmp_path, "one")
    engine = await start_engine(config_for(RepoSpec(clone, "one")), tmp_path)
    try:
        await wait_for(lambda: "one" in engine.statuses, within=20)
        ours = os.getpriority(os.PRIO_PROCESS, os.getpid())
        seen: list[int] = []
        real = engine_module.collect_statuses

        def noted(specs: list[RepoSpec], **options: Any) -> object:
            seen.append(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))
            return real(specs, **options)

        monkeypatch.setattr(engine_module, "collect_statuses", noted)
        await engine.refresh("one")
        user = await engine._in_thread(
            lambda: os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
        )
        assert seen == [min(19, ours + 10)]
        assert user == ours
        assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == ours
    finally:
        await engine.stop()


async def test_a_status_read_waiting_for_a_thread_at_stop_never_starts(
    tmp_path: Path, status_reads: StatusCount
) -> None:
    """Stop drops the work waiting for the engine's status threads. A status read queued
    behind busy threads began after stop had ended every git call, and read its whole batch
    while a quit waited (0.6-2 s at 10,000 repos)."""
    _, clone = make_remote_and_clone(tmp_path, "queued")
    engine = await start_engine(config_for(RepoSpec(clone, "queued")), tmp_path)
    gate = threading.Event()
    busy = [asyncio.ensure_future(engine._in_thread(gate.wait, pool="status")) for _ in range(4)]
    try:
        request = asyncio.ensure_future(engine.refresh("queued"))  # waits for a thread
        await wait_for(lambda: engine._status_batches)
        before = status_reads(clone)
        ended = git_module._terminations[0]
        stopping = asyncio.ensure_future(engine.stop())
        await wait_for(lambda: git_module._terminations[0] != ended)  # git calls ended
    finally:
        gate.set()  # the threads are free: a read still queued would begin now
    await stopping
    await asyncio.gather(*busy)
    assert request.done()  # answered or cancelled: not left waiting forever
    assert status_reads(clone) == before
