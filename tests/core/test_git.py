"""The git runner's invariants, each against real git and real servers on 127.0.0.1."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gitwatch_tui.core.git import (
    RepoPaths,
    condense_stderr,
    git_env,
    run_git,
    run_git_async,
    run_many,
)
from gitwatch_tui.core.models import RepoSpec
from gitwatch_tui.core.remotes import fetch
from tests.conftest import commit_file, git, make_remote_and_clone, push_from_elsewhere
from tests.processes import SHORT_OF_DESCRIPTORS


@pytest.fixture()
def repo(tmp_path: Path) -> Path:
    return make_remote_and_clone(tmp_path, "repo")[1]


def processes_mentioning(text: str) -> list[int]:
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if text in cmdline and state != "Z":
            found.append(int(proc.name))
    return found


def test_stdin_is_closed(repo: Path) -> None:
    # Reads stdin to EOF: with the test's stdin inherited this could block forever.
    result = run_git(["hash-object", "--stdin"], RepoPaths.of(repo), timeout=10)
    assert result.stdout.strip() == b"e69de29bb2d1d6434b8b29ae775ad8c2e48c5391"  # empty blob


def test_inherited_git_dir_does_not_redirect_calls(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, other = make_remote_and_clone(tmp_path, "other")
    monkeypatch.setenv("GIT_DIR", str(other / ".git"))
    monkeypatch.setenv("GIT_WORK_TREE", str(other))
    result = run_git(["rev-parse", "--show-toplevel"], RepoPaths.of(repo), timeout=10)
    assert result.stdout.decode().strip() == str(repo)


def test_editor_and_pager_never_wait(repo: Path) -> None:
    env = git_env()
    assert (env["GIT_EDITOR"], env["GIT_PAGER"], env["LC_ALL"]) == ("true", "cat", "C")
    assert env["GIT_TERMINAL_PROMPT"] == "0" and env["GIT_OPTIONAL_LOCKS"] == "0"
    assert "GIT_OPTIONAL_LOCKS" not in git_env(background=False)
    # A commit without -m would open an editor; with ours it returns at once.
    (repo / "README.md").write_text("edited\n")
    git(repo, "add", "README.md")
    result = run_git(["commit"], RepoPaths.of(repo), timeout=10, background=False)
    assert not result.timed_out


def test_http_401_fails_fast_as_an_auth_error(repo: Path, unauthorized_server: str) -> None:
    git(repo, "remote", "set-url", "origin", unauthorized_server)
    started = time.monotonic()
    outcome = fetch(RepoSpec(path=repo, name="repo"), timeout=20)
    assert time.monotonic() - started < 10
    assert outcome.auth_failed, outcome.error
    assert "authentication failed" in (outcome.error or "")


def test_hung_remote_times_out_and_its_helper_is_killed(repo: Path, silent_server: str) -> None:
    git(repo, "remote", "set-url", "origin", silent_server)
    started = time.monotonic()
    outcome = fetch(RepoSpec(path=repo, name="repo"), timeout=1.0)
    assert outcome.timed_out and "timed out" in (outcome.error or "")
    assert time.monotonic() - started < 1.0 + 2 + 3  # timeout + TERM grace + slack
    port = silent_server.rsplit(":", 1)[1].split("/")[0]
    deadline = time.monotonic() + 3
    while processes_mentioning(f"127.0.0.1:{port}") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert processes_mentioning(f"127.0.0.1:{port}") == []  # git-remote-http is gone too


async def test_async_run_times_out_without_blocking_the_loop(
    repo: Path, silent_server: str
) -> None:
    git(repo, "remote", "set-url", "origin", silent_server)
    result = await run_git_async(["fetch", "origin"], RepoPaths.of(repo), timeout=1.0)
    assert result.timed_out and not result.ok


async def test_async_run_returns_output(repo: Path) -> None:
    result = await run_git_async(
        ["rev-parse", "--abbrev-ref", "HEAD"], RepoPaths.of(repo), timeout=10
    )
    assert (result.ok, result.stdout.strip()) == (True, b"main")


def test_ssh_runs_in_batch_mode_without_a_terminal(repo: Path, tmp_path: Path) -> None:
    """A stand-in ssh records how git started it; a real one would try to prompt on the tty."""
    record = tmp_path / "ssh-record"
    fake_ssh = tmp_path / "fake-ssh"
    fake_ssh.write_text(
        "#!/bin/sh\n"
        f'echo "args: $*" > {record}\n'
        f"if (: </dev/tty) 2>/dev/null; then echo tty >> {record}; "
        f"else echo no-tty >> {record}; fi\n"
        "exit 255\n"
    )
    fake_ssh.chmod(0o755)
    git(repo, "config", "core.sshCommand", str(fake_ssh))
    git(repo, "remote", "set-url", "origin", "ssh://git@127.0.0.1:1/x.git")
    # A trusted repo: its own ssh command is honoured (untrusted ones: tests/core/test_trust.py).
    outcome = fetch(RepoSpec(path=repo, name="repo", trust=True), timeout=10)
    assert outcome.error
    recorded = record.read_text()
    assert "-o BatchMode=yes" in recorded
    assert "no-tty" in recorded


def test_a_fetch_failure_keeps_the_lines_that_say_why(tmp_path: Path) -> None:
    """An LFS-like failure: the server's side prints what went wrong, then hangs up mid-fetch;
    git's own last word is the generic "the remote end hung up unexpectedly"."""
    remote, repo = make_remote_and_clone(tmp_path, "lfs")
    push_from_elsewhere(remote, tmp_path)  # something to fetch, so git asks for it
    advert = tmp_path / "advertisement"
    advert.write_bytes(
        subprocess.run(
            ["git", "upload-pack", "--advertise-refs", "--stateless-rpc", str(remote)],
            capture_output=True, check=True, stdin=subprocess.DEVNULL,
        ).stdout
    )  # fmt: skip
    fake_ssh = tmp_path / "fake-ssh"
    fake_ssh.write_text(
        "#!/bin/sh\n"
        "echo 'batch response: Git LFS is disabled for this repository.' >&2\n"
        "echo 'Git LFS: (0 of 1 files) 0 B / 1.2 MB' >&2\n"
        f"cat {advert}\n"
        "head -c 60 >/dev/null\n"  # read the request, then hang up
    )
    fake_ssh.chmod(0o755)
    git(repo, "config", "core.sshCommand", str(fake_ssh))
    git(repo, "remote", "set-url", "origin", "ssh://git@forge.invalid/lfs.git")
    outcome = fetch(RepoSpec(path=repo, name="lfs", trust=True), timeout=20)  # its own ssh
    assert outcome.error == (
        "batch response: Git LFS is disabled for this repository.; "
        "Git LFS: (0 of 1 files) 0 B / 1.2 MB; the remote end hung up unexpectedly"
    )


@pytest.mark.parametrize(
    ("stderr", "said"),
    [
        ("warning: x\nfatal: repository 'r' not found\n", "repository 'r' not found"),
        ("ssh: connect to host h port 22: Connection refused\n"
         "fatal: Could not read from remote repository.\n\n"
         "Please make sure you have the correct access rights\nand the repository exists.\n",
         "ssh: connect to host h port 22: Connection refused; "
         "Could not read from remote repository."),
        ("remote: error: GitLab: LFS objects are missing\n"
         "fatal: the remote end hung up unexpectedly\n",
         "remote: error: GitLab: LFS objects are missing; the remote end hung up unexpectedly"),
        ("error: a\nerror: b\nerror: c\nerror: d\nfatal: early EOF\n", "a; b; c; early EOF"),
        ("plain last words\n", "plain last words"),
        ("", ""),
    ],
)  # fmt: skip
def test_condensed_stderr_says_why_first(stderr: str, said: str) -> None:
    assert condense_stderr(stderr) == said


def test_fetch_without_a_remote_is_an_error_not_a_silent_success(tmp_path: Path) -> None:
    lonely = tmp_path / "lonely"
    lonely.mkdir()
    git(lonely, "init", "-q")
    assert run_git(["fetch"], RepoPaths.of(lonely), timeout=10).ok  # git's own misleading 0
    assert fetch(RepoSpec(path=lonely, name="l"), timeout=10).error == "no remote configured"


def test_fetch_of_a_named_remote_that_does_not_exist(repo: Path) -> None:
    outcome = fetch(RepoSpec(path=repo, name="repo", remote="upstream"), timeout=10)
    assert outcome.error == "remote 'upstream' is not configured"


def test_run_many_keeps_order_of_odd_paths(tmp_path: Path) -> None:
    names = ["with space", "-leading-dash", "ünïcødé", "quote'n\"dollar$"]
    repos = []
    for name in names:
        path = tmp_path / name
        path.mkdir()
        git(path, "init", "-q")
        repos.append(RepoPaths.of(path))
    results = dict(run_many(repos, ["rev-parse", "--show-toplevel"], jobs=2, timeout=10))
    assert [results[i].stdout.decode().strip() for i in range(len(names))] == [
        str(tmp_path / name) for name in names
    ]


def test_run_many_gives_each_repo_its_own_exit_status_and_output(tmp_path: Path) -> None:
    """One shell loop (jobs=1) over repos that fail and succeed in turn: each result is cut
    at its own end marker, statuses of several digits and NUL-separated output included."""
    repos = []
    for n in range(6):
        path = tmp_path / f"r{n}"
        path.mkdir()
        git(path, "init", "-q")
        if n % 2:
            commit_file(path, f"file{n}.txt", "x\n")
        repos.append(RepoPaths.of(path))
    verified = dict(run_many(repos, ["rev-parse", "--verify", "-q", "HEAD"], jobs=1, timeout=10))
    assert [verified[n].returncode for n in range(6)] == [1, 0, 1, 0, 1, 0]
    assert all(len(verified[n].stdout.strip()) == 40 for n in (1, 3, 5))
    listed = dict(run_many(repos, ["ls-files", "-z"], jobs=1, timeout=10))
    assert [listed[n].stdout for n in range(6)] == [
        b"" if n % 2 == 0 else f"file{n}.txt\0".encode() for n in range(6)
    ]
    failed = dict(run_many(repos, ["log", "--no-such-option"], jobs=1, timeout=10))
    assert {result.returncode for result in failed.values()} == {128}


def test_remote_config_cache_follows_config_edits(repo: Path, tmp_path: Path) -> None:
    from gitwatch_tui.core.remotes import read_remote_config

    first = read_remote_config(RepoPaths.of(repo), timeout=10)
    assert not isinstance(first, str) and first.remotes == ("origin",)
    git(repo, "remote", "add", "backup", str(tmp_path / "elsewhere.git"))
    second = read_remote_config(RepoPaths.of(repo), timeout=10)
    assert not isinstance(second, str)
    assert second.urls["backup"] == str(tmp_path / "elsewhere.git")


# `nice` prints the niceness it runs at; the sleep gives the renice after spawn time to land.
PRINT_NICENESS = ["-c", "alias.niceness=!sleep 0.2; nice", "niceness"]


def print_niceness_once_below(ours: int) -> list[str]:
    """A git alias that prints its niceness once it runs below `ours` (or after 10 s): the
    renice lands after the spawn, and on a loaded machine later than any fixed sleep."""
    wait = f"for i in $(seq 200); do [ $(nice) -gt {ours} ] && break; sleep 0.05; done"
    return ["-c", f"alias.niceness=!{wait}; nice", "niceness"]


def test_background_git_runs_below_our_priority(repo: Path) -> None:
    ours = os.getpriority(os.PRIO_PROCESS, 0)
    background = run_git(print_niceness_once_below(ours), RepoPaths.of(repo), timeout=30)
    asked_for = run_git(PRINT_NICENESS, RepoPaths.of(repo), timeout=10, background=False)
    assert int(background.stdout) == min(19, ours + 10)
    assert int(asked_for.stdout) == ours  # what the user asked for is not slowed down


async def test_background_async_git_runs_below_our_priority(repo: Path) -> None:
    ours = os.getpriority(os.PRIO_PROCESS, 0)
    result = await run_git_async(print_niceness_once_below(ours), RepoPaths.of(repo), timeout=30)
    assert int(result.stdout) == min(19, ours + 10)


def test_run_many_loops_run_below_our_priority(tmp_path: Path) -> None:
    repos = []
    for name in ("a", "b", "c"):
        git(tmp_path, "init", "-q", name)
        repos.append(RepoPaths.of(tmp_path / name))
    ours = os.getpriority(os.PRIO_PROCESS, 0)
    waiting = print_niceness_once_below(ours)
    results = [r for _, r in run_many(repos, waiting, jobs=2, timeout=30)]
    expected = min(19, ours + 10)
    assert [int(r.stdout) for r in results] == [expected] * 3


@pytest.mark.skipif(sys.platform != "linux", reason="a thread's own niceness is Linux's")
def test_a_background_thread_runs_below_our_priority_and_its_git_no_lower(repo: Path) -> None:
    """A thread lowered to background priority (the status sweeps') gives the UI's thread
    the core first; the git it starts runs at background git's priority, not lowered twice
    (a niceness taken from the calling thread would have made it 19)."""
    import threading

    from gitwatch_tui.core.git import lower_thread_priority

    ours = os.getpriority(os.PRIO_PROCESS, 0)
    seen: dict[str, int] = {}

    def in_background() -> None:
        lower_thread_priority()
        seen["thread"] = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
        below = print_niceness_once_below(ours)
        seen["git"] = int(run_git(below, RepoPaths.of(repo), timeout=30).stdout)

    thread = threading.Thread(target=in_background)
    thread.start()
    thread.join()
    assert seen == {"thread": min(19, ours + 10), "git": min(19, ours + 10)}
    assert os.getpriority(os.PRIO_PROCESS, 0) == ours  # this thread, the UI's, is untouched


def test_after_terminate_all_run_many_starts_no_further_loop(tmp_path: Path) -> None:
    """A stopping app's sweep of 10,000 repos went on, loop after loop, for a minute."""
    import threading

    from gitwatch_tui.core.git import terminate_all
    from gitwatch_tui.core.lifetime import kept_groups
    from tests.processes import blocking_repo

    repos = [RepoPaths.of(blocking_repo(tmp_path / f"stuck{i}")) for i in range(4)]
    before = set(kept_groups())

    def stop_once_a_loop_runs() -> None:
        deadline = time.monotonic() + 30
        while not set(kept_groups()) - before and time.monotonic() < deadline:
            time.sleep(0.01)
        terminate_all()

    stopper = threading.Thread(target=stop_once_a_loop_runs)
    stopper.start()
    results = list(run_many(repos, ["status"], jobs=1, timeout=60, chunk_size=1))
    stopper.join()
    assert [index for index, _ in results] == [0]  # the loop that ran; none started after
    assert not results[0][1].ok


def test_chunks_get_smaller_towards_the_end_and_cover_every_repo_once() -> None:
    from gitwatch_tui.core.git import _chunks

    chunks = _chunks(1000, 2, None)
    assert [i for chunk in chunks for i in chunk] == list(range(1000))
    sizes = [len(chunk) for chunk in chunks]
    assert sizes[0] == 32 and sizes[-1] == 1 and sizes == sorted(sizes, reverse=True)
    assert [len(chunk) for chunk in _chunks(10, 2, 3)] == [3, 3, 3, 1]  # a size given: kept


def test_a_forked_child_leaves_the_parents_git_calls_alone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A child (the dashboard's head start) that ends its own git must not end the parent's,
    nor wait for the lock one of the parent's threads held at the fork."""
    from gitwatch_tui.core import lifetime

    monkeypatch.setattr(lifetime, "_groups", [os.getpid()])  # "a call under way"
    with lifetime._lock:
        child = os.fork()
        if child == 0:
            try:
                free = lifetime._lock.acquire(blocking=False)
                os._exit(0 if free and not lifetime._groups else 1)
            finally:
                os._exit(2)
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert lifetime.kept_groups() == [os.getpid()]  # the parent's own are untouched


def test_a_fetch_says_whether_it_updated_a_ref(tmp_path: Path) -> None:
    remote, clone = make_remote_and_clone(tmp_path, "refs")
    spec = RepoSpec(path=clone, name="refs")
    assert fetch(spec, timeout=10).refs_changed is False  # nothing new: git lists no ref
    push_from_elsewhere(remote, tmp_path)
    brought = fetch(spec, timeout=10)
    assert brought.error is None and brought.refs_changed
    assert fetch(spec, timeout=10).refs_changed is False
    git(tmp_path / "refs-other", "push", "-q", "origin", "HEAD:feature")
    assert fetch(spec, timeout=10).refs_changed  # a new branch is an update too


# Run in a process of its own, short of descriptors a moment: git started meanwhile must wait
# for them, not fail.
_SHORT_OF_DESCRIPTORS = (
    SHORT_OF_DESCRIPTORS
    + """
import asyncio, sys
from gitwatch_tui.core.git import run_git, run_git_async

async def main() -> None:
    take_all()
    result = run_git(["--version"], timeout=10) if sys.argv[1] == "sync" else (
        await run_git_async(["--version"], timeout=10))
    print(result.returncode, result.stdout.decode().strip())

asyncio.run(main())
"""
)


@pytest.mark.parametrize("way", ["sync", "async"])
def test_git_started_while_descriptors_run_out_waits_for_some_to_free(way: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", _SHORT_OF_DESCRIPTORS, way],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("0 git version"), done.stdout
