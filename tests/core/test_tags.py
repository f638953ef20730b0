"""Deploy by tag: semver order, and a detached checkout that never loses work (real repos)."""

from __future__ import annotations

from pathlib import Path

import pytest

from gitwatch_tui.core.autosync import SyncRefusal, SyncResult
from gitwatch_tui.core.git import RepoPaths
from gitwatch_tui.core.models import RepoSpec, RepoStatus
from gitwatch_tui.core.tags import deploy_tag, list_tags, newest_tag, parse_version
from tests.conftest import commit_file, git, make_remote_and_clone

TIMEOUT = 10.0


def test_semver_precedence_with_pre_releases() -> None:
    # The order of the semver 2.0.0 spec's own example, shuffled.
    ordered = [
        "v1.0.0-alpha",
        "v1.0.0-alpha.1",
        "v1.0.0-alpha.beta",
        "v1.0.0-beta",
        "v1.0.0-beta.2",
        "v1.0.0-beta.11",
        "v1.0.0-rc.1",
        "v1.0.0",
        "v1.2.0",
        "v1.10.0",
    ]
    for i in range(1, len(ordered) + 1):
        shuffled = ordered[:i][::-1]
        assert newest_tag(shuffled, "v*") == ordered[i - 1]
    versions = [parse_version(tag) for tag in ordered]
    assert all(v is not None for v in versions)
    assert versions == sorted(versions)  # type: ignore[type-var]


def test_non_semver_tags_are_ignored_and_the_pattern_filters() -> None:
    tags = ["v2.0", "latest", "v9-final", "v1.2.3", "release-5.0.0", "v1.2.3+build.7"]
    assert newest_tag(tags, "v*") == "v1.2.3+build.7"  # equal versions: the name decides
    assert newest_tag(tags, "release-*") == "release-5.0.0"
    assert newest_tag(tags, "nothing-*") is None
    assert newest_tag(["v01.2.3", "v1.2"], "v*") is None  # leading zero, two parts: not semver
    assert str(parse_version("app-2-1.4.0")) == "1.4.0"
    assert str(parse_version("v1.0.0-rc.1")) == "1.0.0-rc.1"


@pytest.fixture()
def released(tmp_path: Path) -> tuple[Path, Path, dict[str, str]]:
    """A remote with tags v1.0.0, v1.2.0 (annotated), v1.10.0-rc.1 and a non-semver tag, and a
    clone on main that has not seen any of them."""
    remote, clone = make_remote_and_clone(tmp_path, "app")
    work = tmp_path / "releaser"
    git(tmp_path, "clone", "-q", str(remote), str(work))
    commits: dict[str, str] = {}
    commits["v1.0.0"] = commit_file(work, "version.txt", "1.0.0\n")
    git(work, "tag", "v1.0.0")
    commits["v1.2.0"] = commit_file(work, "version.txt", "1.2.0\n")
    git(work, "tag", "-a", "-m", "release 1.2.0", "v1.2.0")
    # A pre-release on a commit that no branch holds: only a tag fetch brings it.
    git(work, "switch", "-q", "--detach")
    commits["v1.10.0-rc.1"] = commit_file(work, "version.txt", "1.10.0-rc.1\n")
    git(work, "tag", "v1.10.0-rc.1")
    git(work, "tag", "nightly")
    git(work, "switch", "-q", "main")
    git(work, "push", "-q", "origin", "main", "--tags")
    return remote, clone, commits


def spec_for(clone: Path, pattern: str = "v*") -> RepoSpec:
    return RepoSpec(clone, "app", follow_tag=pattern)


def test_checks_out_the_newest_tag_detached(released: tuple[Path, Path, dict[str, str]]) -> None:
    _, clone, commits = released
    old = git(clone, "rev-parse", "HEAD")
    result = deploy_tag(spec_for(clone), RepoStatus("app", str(clone)), timeout=TIMEOUT)
    assert isinstance(result, SyncResult), result
    assert result.mode == "v1.10.0-rc.1"  # a pre-release of a higher version is newer
    assert (result.old_head, result.new_head) == (old, commits["v1.10.0-rc.1"])
    assert git(clone, "rev-parse", "HEAD") == commits["v1.10.0-rc.1"]
    assert git(clone, "rev-parse", "--abbrev-ref", "HEAD") == "HEAD"  # detached
    assert (clone / "version.txt").read_text() == "1.10.0-rc.1\n"
    assert git(clone, "rev-parse", "main") == old  # the branch itself is left alone
    # Once there, the next check is a quiet "nothing to do".
    again = deploy_tag(spec_for(clone), RepoStatus("app", str(clone)), timeout=TIMEOUT)
    assert isinstance(again, SyncRefusal) and again.reason == "not-behind"


def test_annotated_tags_are_peeled_to_their_commit(
    released: tuple[Path, Path, dict[str, str]],
) -> None:
    _, clone, commits = released
    result = deploy_tag(spec_for(clone, "v1.2.*"), RepoStatus("app", str(clone)), timeout=TIMEOUT)
    assert isinstance(result, SyncResult) and result.mode == "v1.2.0"
    assert git(clone, "rev-parse", "HEAD") == commits["v1.2.0"]
    tags = list_tags(RepoPaths.of(clone), timeout=TIMEOUT)
    assert isinstance(tags, dict) and tags["v1.2.0"] == commits["v1.2.0"]


def test_refuses_on_a_dirty_tree_and_changes_nothing(
    released: tuple[Path, Path, dict[str, str]],
) -> None:
    _, clone, _ = released
    old = git(clone, "rev-parse", "HEAD")
    (clone / "README.md").write_text("my unsaved edit\n")
    result = deploy_tag(spec_for(clone), RepoStatus("app", str(clone)), timeout=TIMEOUT)
    assert isinstance(result, SyncRefusal) and result.reason == "dirty", result
    assert result.paths == ("README.md",)
    assert git(clone, "rev-parse", "HEAD") == old
    assert (clone / "README.md").read_text() == "my unsaved edit\n"


def test_refuses_when_an_ignored_file_is_in_the_way(
    released: tuple[Path, Path, dict[str, str]],
) -> None:
    _, clone, _ = released
    (clone / ".git" / "info" / "exclude").write_text("version.txt\n")
    (clone / "version.txt").write_text("local and precious\n")
    result = deploy_tag(spec_for(clone), RepoStatus("app", str(clone)), timeout=TIMEOUT)
    assert isinstance(result, SyncRefusal) and result.reason == "would-overwrite", result
    assert (clone / "version.txt").read_text() == "local and precious\n"


def test_refuses_to_orphan_commits_made_on_a_detached_head(
    released: tuple[Path, Path, dict[str, str]],
) -> None:
    _, clone, _ = released
    git(clone, "switch", "-q", "--detach")
    mine = commit_file(clone, "hotfix.txt", "on no branch\n")
    result = deploy_tag(spec_for(clone), RepoStatus("app", str(clone)), timeout=TIMEOUT)
    assert isinstance(result, SyncRefusal) and result.reason == "detached", result
    assert git(clone, "rev-parse", "HEAD") == mine


def test_refuses_during_a_merge(released: tuple[Path, Path, dict[str, str]]) -> None:
    _, clone, _ = released
    git(clone, "switch", "-q", "-c", "side")
    commit_file(clone, "README.md", "side\n")
    git(clone, "switch", "-q", "main")
    commit_file(clone, "README.md", "main\n")
    with pytest.raises(AssertionError):
        git(clone, "merge", "-q", "side")  # stops on the conflict
    result = deploy_tag(spec_for(clone), RepoStatus("app", str(clone)), timeout=TIMEOUT)
    assert isinstance(result, SyncRefusal) and result.reason in ("conflicts", "operation")


def test_no_matching_tag_is_a_refusal_not_an_error(
    released: tuple[Path, Path, dict[str, str]],
) -> None:
    _, clone, _ = released
    result = deploy_tag(spec_for(clone, "prod-*"), RepoStatus("app", str(clone)), timeout=TIMEOUT)
    assert isinstance(result, SyncRefusal) and result.reason == "no-upstream"
    assert "prod-*" in result.message
