"""Push: every refusal, push -u, the user's pre-push hook, an auth failure and force with
lease, on real repos with real bare remotes."""

from __future__ import annotations

import time
from pathlib import Path

from gitwatch_tui.core.models import RepoSpec
from gitwatch_tui.core.push import preview_push, push
from gitwatch_tui.core.results import PushRefusal, PushResult
from tests.conftest import commit_file, git, make_remote_and_clone, push_from_elsewhere

TIMEOUT = 20.0


def spec_of(path: Path) -> RepoSpec:
    return RepoSpec(path=path, name=path.name)


def remote_main(remote: Path) -> str:
    return git(remote, "rev-parse", "refs/heads/main")


def diverged_clone(base: Path) -> tuple[Path, Path]:
    """A clone with one commit of its own and one fetched from the remote it has not."""
    remote, clone = make_remote_and_clone(base, "app")
    commit_file(clone, "mine.txt", "mine\n")
    push_from_elsewhere(remote, base)
    git(clone, "fetch", "-q")
    return remote, clone


def test_a_branch_ahead_is_pushed_and_its_upstream_catches_up(tmp_path: Path) -> None:
    remote, clone = make_remote_and_clone(tmp_path, "app")
    old = remote_main(remote)
    head = commit_file(clone, "a.txt", "a\n", "add a")
    preview = preview_push(spec_of(clone), timeout=TIMEOUT)
    assert preview.refusal is None
    assert (preview.outgoing_total, [c.subject for c in preview.outgoing]) == (1, ["add a"])
    result = push(spec_of(clone), timeout=TIMEOUT)
    assert isinstance(result, PushResult), result
    assert remote_main(remote) == head
    assert (result.old_sha, result.new_sha, result.forced) == (old, head, False)
    assert git(clone, "rev-parse", "origin/main") == head  # the row shows ahead 0 after it
    assert f"{old[:7]}..{head[:7]}" in result.message


def test_push_is_refused_when_behind_and_nothing_changes(tmp_path: Path) -> None:
    remote, clone = make_remote_and_clone(tmp_path, "app")
    push_from_elsewhere(remote, tmp_path)
    git(clone, "fetch", "-q")
    before = remote_main(remote)
    result = push(spec_of(clone), timeout=TIMEOUT)
    assert isinstance(result, PushRefusal) and result.reason == "behind", result
    assert "pull first" in result.message
    assert remote_main(remote) == before


def test_push_is_refused_when_diverged_and_shows_what_a_force_would_drop(tmp_path: Path) -> None:
    remote, clone = diverged_clone(tmp_path)
    before = remote_main(remote)
    preview = preview_push(spec_of(clone), timeout=TIMEOUT)
    assert preview.refusal is not None and preview.refusal.reason == "diverged"
    assert preview.overwritten_total == 1
    assert [c.subject for c in preview.overwritten] == ["change upstream-other-0.txt"]
    result = push(spec_of(clone), timeout=TIMEOUT)
    assert isinstance(result, PushRefusal) and result.reason == "diverged"
    assert remote_main(remote) == before


def test_a_remote_moved_but_not_fetched_is_refused_by_git_as_behind(tmp_path: Path) -> None:
    remote, clone = make_remote_and_clone(tmp_path, "app")
    commit_file(clone, "mine.txt", "mine\n")
    push_from_elsewhere(remote, tmp_path)  # not fetched: the clone still thinks it is ahead
    before = remote_main(remote)
    result = push(spec_of(clone), timeout=TIMEOUT)
    assert isinstance(result, PushRefusal) and result.reason == "behind", result
    assert "not fetched" in result.message
    assert remote_main(remote) == before


def test_nothing_to_push_detached_and_no_commits_are_refused(tmp_path: Path) -> None:
    _, clone = make_remote_and_clone(tmp_path, "app")
    result = push(spec_of(clone), timeout=TIMEOUT)
    assert isinstance(result, PushRefusal) and result.reason == "up-to-date"
    git(clone, "switch", "-q", "--detach")
    result = push(spec_of(clone), timeout=TIMEOUT)
    assert isinstance(result, PushRefusal) and result.reason == "detached"
    empty = tmp_path / "empty"
    git(tmp_path, "init", "-q", str(empty))
    result = push(spec_of(empty), timeout=TIMEOUT)
    assert isinstance(result, PushRefusal) and "no commits yet" in result.message


def test_a_branch_without_upstream_is_offered_push_u_and_gets_one(tmp_path: Path) -> None:
    remote, clone = make_remote_and_clone(tmp_path, "app")
    git(clone, "switch", "-q", "-c", "feature")
    head = commit_file(clone, "f.txt", "f\n")
    preview = preview_push(spec_of(clone), timeout=TIMEOUT)
    assert preview.refusal is not None and preview.refusal.reason == "no-upstream"
    assert preview.needs_upstream and preview.remote == "origin"
    assert "git push -u origin feature" in preview.refusal.message
    assert isinstance(push(spec_of(clone), timeout=TIMEOUT), PushRefusal)  # not without -u
    result = push(spec_of(clone), timeout=TIMEOUT, set_upstream="origin")
    assert isinstance(result, PushResult) and result.set_upstream, result
    assert git(remote, "rev-parse", "refs/heads/feature") == head
    assert git(clone, "rev-parse", "--abbrev-ref", "feature@{upstream}") == "origin/feature"


def test_several_remotes_and_none_configured_asks_which(tmp_path: Path) -> None:
    remote, clone = make_remote_and_clone(tmp_path, "app")
    git(clone, "remote", "rename", "origin", "up")
    git(clone, "remote", "add", "fork", str(remote))
    git(clone, "switch", "-q", "-c", "feature")
    preview = preview_push(spec_of(clone), timeout=TIMEOUT)
    assert preview.refusal is not None and preview.refusal.reason == "pick-remote"
    assert preview.remote is None and set(preview.remotes) == {"up", "fork"}
    git(clone, "config", "remote.pushDefault", "fork")
    assert preview_push(spec_of(clone), timeout=TIMEOUT).remote == "fork"
    git(clone, "config", "branch.feature.pushRemote", "up")
    assert preview_push(spec_of(clone), timeout=TIMEOUT).remote == "up"


def test_a_failing_pre_push_hook_stops_the_push_with_its_message(tmp_path: Path) -> None:
    remote, clone = make_remote_and_clone(tmp_path, "app")
    before = remote_main(remote)
    commit_file(clone, "a.txt", "a\n")
    hook = clone / ".git" / "hooks" / "pre-push"
    hook.write_text("#!/bin/sh\necho 'tests are red: not pushing' >&2\nexit 1\n")
    hook.chmod(0o755)
    result = push(spec_of(clone), timeout=TIMEOUT)
    assert isinstance(result, PushRefusal) and result.reason == "hook", result
    assert "tests are red: not pushing" in result.message
    assert remote_main(remote) == before


def test_a_remote_that_wants_a_password_fails_at_once_and_says_so(
    tmp_path: Path, unauthorized_server: str
) -> None:
    _, clone = make_remote_and_clone(tmp_path, "app")
    commit_file(clone, "a.txt", "a\n")
    git(clone, "remote", "set-url", "origin", unauthorized_server)
    started = time.monotonic()
    result = push(spec_of(clone), timeout=TIMEOUT)
    assert time.monotonic() - started < 10  # no prompt waited on
    assert isinstance(result, PushRefusal) and result.reason == "auth", result
    assert "never prompts" in result.message


def test_force_with_lease_overwrites_only_the_remote_commit_seen(tmp_path: Path) -> None:
    remote, clone = diverged_clone(tmp_path)
    preview = preview_push(spec_of(clone), timeout=TIMEOUT)
    assert preview.upstream_sha == remote_main(remote)
    result = push(spec_of(clone), timeout=TIMEOUT, force_lease=preview.upstream_sha)
    assert isinstance(result, PushResult) and result.forced, result
    assert remote_main(remote) == git(clone, "rev-parse", "HEAD")
    assert result.undo.endswith(f"{preview.upstream_sha}:refs/heads/main")


def test_force_with_lease_is_refused_when_the_remote_moved_meanwhile(tmp_path: Path) -> None:
    remote, clone = diverged_clone(tmp_path)
    seen = preview_push(spec_of(clone), timeout=TIMEOUT).upstream_sha
    assert seen is not None
    push_from_elsewhere(remote, tmp_path, name="third")  # after the confirm, before the push
    moved = remote_main(remote)
    result = push(spec_of(clone), timeout=TIMEOUT, force_lease=seen)
    assert isinstance(result, PushRefusal) and result.reason == "stale", result
    assert remote_main(remote) == moved
    git(clone, "fetch", "-q")  # seen by a fetch too: refused before git is asked
    result = push(spec_of(clone), timeout=TIMEOUT, force_lease=seen)
    assert isinstance(result, PushRefusal) and result.reason == "stale"
    assert remote_main(remote) == moved


def test_a_remote_that_takes_no_pushes_fails_at_once_with_its_words(
    tmp_path: Path, git_daemon: tuple[str, Path]
) -> None:
    url, served = git_daemon  # a git daemon without receive-pack: read-only
    remote, clone = make_remote_and_clone(tmp_path, "app")
    git(tmp_path, "clone", "-q", "--bare", str(remote), str(served / "readonly.git"))
    git(clone, "remote", "set-url", "origin", f"{url}/readonly.git")
    commit_file(clone, "a.txt", "a\n")
    started = time.monotonic()
    result = push(spec_of(clone), timeout=TIMEOUT)
    assert time.monotonic() - started < 10
    assert isinstance(result, PushRefusal) and result.reason == "error", result
    assert "service not enabled" in result.message or "access denied" in result.message
