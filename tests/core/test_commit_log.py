"""The commit log on real repos with a real bare remote: the graph of HEAD and its upstream,
commits not pushed and not pulled marked, the cap, and search."""

from __future__ import annotations

from pathlib import Path

from gitwatch_tui.core.commit_log import read_commit_log
from gitwatch_tui.core.models import RepoSpec
from gitwatch_tui.core.results import CommitLog
from tests.conftest import commit_file, git, make_remote_and_clone, push_from_elsewhere


def log_of(path: Path, limit: int = 500) -> CommitLog:
    return read_commit_log(RepoSpec(path, path.name), timeout=20, limit=limit)


def marked(log: CommitLog, mark: str) -> list[str]:
    return [e.subject for e in log.entries if e.sha and e.mark == mark]


def test_a_diverged_repo_marks_its_unpushed_and_unpulled_commits(tmp_path: Path) -> None:
    remote, clone = make_remote_and_clone(tmp_path, "repo")
    push_from_elsewhere(remote, tmp_path, count=2)
    git(clone, "fetch", "-q")
    commit_file(clone, "mine-1.txt", "1\n", "mine one")
    commit_file(clone, "mine-2.txt", "2\n", "mine two")
    commit_file(clone, "mine-3.txt", "3\n", "mine three")

    log = log_of(clone)

    assert log.error is None and log.upstream == "origin/main"
    assert (log.unpushed, log.unpulled) == (3, 2)
    assert sorted(marked(log, "unpushed")) == ["mine one", "mine three", "mine two"]
    assert sorted(marked(log, "unpulled")) == [
        "change upstream-other-0.txt",
        "change upstream-other-1.txt",
    ]
    assert marked(log, "") == ["initial"]  # on both sides
    commits = [e for e in log.entries if e.sha]
    assert commits[-1].subject == "initial" and commits[-1].graph.rstrip().endswith("*")
    assert any("HEAD -> main" in e.refs for e in commits)
    assert any("origin/main" in e.refs for e in commits)
    assert any(e.sha is None and ("/" in e.graph or "|" in e.graph) for e in log.entries)
    assert not log.more


def test_search_finds_a_commit_by_subject_sha_author_or_ref(tmp_path: Path) -> None:
    _, clone = make_remote_and_clone(tmp_path, "repo")
    sha = commit_file(clone, "fix.py", "x\n", "Fix the Parser's crash")
    commit_file(clone, "other.py", "y\n", "something else")

    log = log_of(clone)

    (found,) = log.matches("parser's CRASH")
    assert log.entries[found].sha == sha
    assert log.matches(sha[:9]) == (found,)
    assert len(log.matches("test author")) == 3
    assert log.matches("nothing like it") == () and log.matches("") == ()
    assert [log.entries[i].subject for i in log.matches("origin/main")] == ["initial"]


def test_the_log_is_capped_and_says_there_is_more(tmp_path: Path) -> None:
    _, clone = make_remote_and_clone(tmp_path, "repo")
    for i in range(5):
        commit_file(clone, f"f{i}.txt", f"{i}\n", f"commit {i}")

    capped, whole = log_of(clone, limit=3), log_of(clone, limit=6)

    assert [e.subject for e in capped.entries if e.sha] == ["commit 4", "commit 3", "commit 2"]
    assert capped.more and capped.unpushed == 5
    assert len([e for e in whole.entries if e.sha]) == 6 and not whole.more


def test_no_upstream_shows_head_alone_and_an_empty_repo_says_so(tmp_path: Path) -> None:
    _, clone = make_remote_and_clone(tmp_path, "repo")
    git(clone, "switch", "-q", "-c", "local-only")
    commit_file(clone, "a.txt", "a\n", "local work")
    empty = tmp_path / "empty"
    empty.mkdir()
    git(empty, "init", "-q")

    local, nothing = log_of(clone), log_of(empty)

    assert local.upstream is None and local.error is None
    assert [e.subject for e in local.entries if e.sha] == ["local work", "initial"]
    assert {e.mark for e in local.entries} == {""}
    assert nothing.error == "no commits yet" and nothing.entries == ()
