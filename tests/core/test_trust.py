"""Background git runs no program that a repo's own config names, unless the repo is trusted.

Every vector is a trap: a program that writes a marker file, named in the repo's own config (or
a file it includes), in a real repo with a real remote. Untrusted, the marker is never written;
with `trust: true` it is; the user's own global programs keep working either way.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from gitwatch_tui.core.autosync import SyncResult, fast_forward, rebase_autostash
from gitwatch_tui.core.config_file import load_config
from gitwatch_tui.core.details import read_details
from gitwatch_tui.core.discovery import resolve_repos
from gitwatch_tui.core.errors import ConfigError
from gitwatch_tui.core.git import RepoPaths, run_git, run_many
from gitwatch_tui.core.models import RepoSpec, RepoStatus
from gitwatch_tui.core.remotes import fetch
from gitwatch_tui.core.status import STATUS_ARGS, collect_statuses
from gitwatch_tui.core.tags import deploy_tag
from gitwatch_tui.core.trust import MAX_PAIRS, ConfigEntry, guard_from, names_programs
from tests.conftest import commit_file, git, make_remote_and_clone, push_from_elsewhere

HOOKS = (
    "post-merge",
    "post-checkout",
    "reference-transaction",
    "post-rewrite",
    "post-index-change",
)


class Traps:
    """Programs that leave a marker when run; `ran()` lists the ones that did."""

    def __init__(self, base: Path) -> None:
        self.dir = base / "traps"
        self.dir.mkdir()

    def make(self, name: str, then: str = "") -> Path:
        """A trap script; `then` is shell run after the marker is written."""
        script = self.dir / name
        script.write_text(f"#!/bin/sh\ntouch '{self.dir / name}.ran'\n{then}\n")
        script.chmod(0o755)
        return script

    def ran(self) -> set[str]:
        return {path.name.removesuffix(".ran") for path in self.dir.glob("*.ran")}

    def reset(self) -> None:
        for path in self.dir.glob("*.ran"):
            path.unlink()


@pytest.fixture()
def traps(tmp_path: Path) -> Traps:
    return Traps(tmp_path)


@pytest.fixture()
def global_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The user's own global config, for this test only (a copy of the isolated one)."""
    path = tmp_path / "global-gitconfig"
    path.write_text(Path(os.environ["GIT_CONFIG_GLOBAL"]).read_text())
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(path))
    return path


def spec_of(path: Path, **fields: Any) -> RepoSpec:
    return RepoSpec(path=path, name=path.name, **fields)


def status_of(spec: RepoSpec) -> RepoStatus:
    return collect_statuses([spec], jobs=1, timeout=20)[0]


def install_hooks(repo: Path, traps: Traps, names: tuple[str, ...] = HOOKS) -> None:
    hooks = repo / ".git" / "hooks"
    for name in names:
        target = hooks / name
        target.write_text(traps.make(name).read_text())
        target.chmod(0o755)


def filtered_repo(base: Path, traps: Traps) -> Path:
    """A clone whose own config defines a required clean filter for *.txt, with a committed
    a.txt that git must filter to compare (same size, newer mtime)."""
    _, repo = make_remote_and_clone(base, "filtered")
    (repo / ".gitattributes").write_text("*.txt filter=evil\n")
    commit_file(repo, "a.txt", "a\n")
    git(repo, "config", "filter.evil.clean", f"{traps.make('clean', 'cat')}")
    git(repo, "config", "filter.evil.required", "true")
    later = os.stat(repo / "a.txt").st_mtime + 5
    os.utime(repo / "a.txt", (later, later))
    return repo


# -- reads: status, details -------------------------------------------------------------------


@pytest.mark.parametrize("trusted", [False, True])
def test_status_runs_the_repos_clean_filter_only_when_trusted(
    tmp_path: Path, traps: Traps, trusted: bool
) -> None:
    repo = filtered_repo(tmp_path, traps)
    status = status_of(spec_of(repo, trust=trusted))
    assert status.error is None  # a required filter left out does not fail the read
    assert traps.ran() == ({"clean"} if trusted else set())


def test_a_filter_whose_name_holds_an_equals_sign_is_neutralised_too(
    tmp_path: Path, traps: Traps
) -> None:
    """`-c filter.a=b.clean=` would set `filter.a`: the guard goes in the environment."""
    repo = filtered_repo(tmp_path, traps)
    (repo / ".gitattributes").write_text("*.txt filter=a=b\n")
    git(repo, "add", ".gitattributes")
    git(repo, "config", "filter.a=b.clean", f"{traps.make('odd', 'cat')}")
    os.utime(repo / "a.txt", (os.stat(repo / "a.txt").st_mtime + 5,) * 2)
    git(repo, "status")  # plain git does run it: the trap is real
    assert "odd" in traps.ran()
    traps.reset()
    os.utime(repo / "a.txt", (os.stat(repo / "a.txt").st_mtime + 5,) * 2)
    assert status_of(spec_of(repo)).error is None
    assert traps.ran() == set()


def test_a_filter_defined_in_an_included_file_is_neutralised_even_added_later(
    tmp_path: Path, traps: Traps
) -> None:
    _, repo = make_remote_and_clone(tmp_path, "including")
    (repo / ".gitattributes").write_text("*.txt filter=evil\n")
    commit_file(repo, "a.txt", "a\n")
    extra = tmp_path / "elsewhere.cfg"
    extra.write_text("")
    git(repo, "config", "include.path", str(extra))
    spec = spec_of(repo)
    assert status_of(spec).error is None
    # The included file changes; the repo's own config file does not.
    extra.write_text(f'[filter "evil"]\n\tclean = {traps.make("included", "cat")}\n')
    os.utime(repo / "a.txt", (os.stat(repo / "a.txt").st_mtime + 5,) * 2)
    assert status_of(spec).error is None
    assert traps.ran() == set()
    git(repo, "status")  # plain git does run it
    assert traps.ran() == {"included"}


def test_a_submodules_own_filter_is_not_run_by_the_status(tmp_path: Path, traps: Traps) -> None:
    _, repo = make_remote_and_clone(tmp_path, "super")
    sub_remote, _ = make_remote_and_clone(tmp_path, "sub")
    git(repo, "-c", "protocol.file.allow=always", "submodule", "add", "-q", str(sub_remote), "sub")
    git(repo, "commit", "-qm", "a submodule")
    sub = repo / "sub"
    (sub / ".gitattributes").write_text("*.md filter=evil\n")
    git(sub, "config", "filter.evil.clean", f"{traps.make('sub-clean', 'cat')}")
    os.utime(sub / "README.md", (os.stat(sub / "README.md").st_mtime + 5,) * 2)
    assert status_of(spec_of(repo)).error is None
    assert traps.ran() == set()
    git(repo, "status")  # plain git does run it
    assert traps.ran() == {"sub-clean"}


def test_details_run_no_diff_program_of_the_repo(tmp_path: Path, traps: Traps) -> None:
    """The detail pane reads changed files and both directions' commits: no external diff,
    no textconv, no clean filter of the repo's runs."""
    remote, repo = make_remote_and_clone(tmp_path, "detailed")
    (repo / ".gitattributes").write_text("*.txt diff=evil filter=evil\n")
    commit_file(repo, "a.txt", "a\n")
    (repo / "a.txt").write_text("b\n")  # a change, same size
    push_from_elsewhere(remote, tmp_path)
    git(repo, "fetch", "-q")
    git(repo, "config", "diff.external", str(traps.make("external")))
    git(repo, "config", "diff.evil.textconv", str(traps.make("textconv", 'cat "$1"')))
    git(repo, "config", "diff.evil.command", str(traps.make("command")))
    git(repo, "config", "filter.evil.clean", f"{traps.make('clean', 'cat')}")
    details = read_details(spec_of(repo), timeout=20)
    assert details.error is None
    assert (details.incoming_total, details.outgoing_total) == (1, 1)
    assert "a.txt" in [f.path for f in details.files]
    assert traps.ran() == set()


@pytest.mark.parametrize("trusted", [False, True])
def test_fsmonitor_of_the_repo_runs_neither_in_status_nor_in_a_sync(
    tmp_path: Path, traps: Traps, trusted: bool
) -> None:
    """Background reads never start it; an untrusted repo's sync (a merge) does not either."""
    remote, repo = make_remote_and_clone(tmp_path, "monitored")
    push_from_elsewhere(remote, tmp_path)
    git(repo, "fetch", "-q")
    git(repo, "config", "core.fsmonitor", str(traps.make("fsmonitor")))
    spec = spec_of(repo, trust=trusted)
    status = status_of(spec)
    assert traps.ran() == set()
    assert isinstance(fast_forward(spec, status, timeout=20), SyncResult)
    assert traps.ran() == ({"fsmonitor"} if trusted else set())


# -- fetches ----------------------------------------------------------------------------------


@pytest.mark.parametrize("trusted", [False, True])
def test_fetch_runs_the_repos_credential_helper_only_when_trusted(
    tmp_path: Path, traps: Traps, unauthorized_server: str, trusted: bool
) -> None:
    _, repo = make_remote_and_clone(tmp_path, "private")
    git(repo, "remote", "set-url", "origin", unauthorized_server)
    git(repo, "config", "credential.helper", str(traps.make("helper")))
    outcome = fetch(spec_of(repo, trust=trusted), timeout=10)
    assert outcome.auth_failed
    assert traps.ran() == ({"helper"} if trusted else set())


def test_the_users_global_credential_helpers_still_answer(
    tmp_path: Path, traps: Traps, unauthorized_server: str, global_config: Path
) -> None:
    _, repo = make_remote_and_clone(tmp_path, "private")
    git(repo, "remote", "set-url", "origin", unauthorized_server)
    mine, scoped = traps.make("global-helper"), traps.make("global-url-helper")
    with global_config.open("a") as config:
        config.write(f"[credential]\n\thelper = {mine}\n")
        server = unauthorized_server.rsplit("/", 1)[0]  # http://127.0.0.1:PORT
        config.write(f'[credential "{server}"]\n\thelper = {scoped}\n')
    git(repo, "config", "credential.helper", str(traps.make("repo-helper")))
    git(repo, "config", "--add", f"credential.{unauthorized_server}.helper", str(traps.make("u")))
    outcome = fetch(spec_of(repo), timeout=10)
    assert outcome.auth_failed
    assert traps.ran() == {"global-helper", "global-url-helper"}


@pytest.mark.parametrize("trusted", [False, True])
def test_fetch_runs_the_repos_upload_pack_only_when_trusted(
    tmp_path: Path, traps: Traps, trusted: bool
) -> None:
    remote, repo = make_remote_and_clone(tmp_path, "packed")
    push_from_elsewhere(remote, tmp_path)
    upload = traps.make("upload-pack", 'exec git-upload-pack "$@"')
    git(repo, "config", "remote.origin.uploadpack", str(upload))
    outcome = fetch(spec_of(repo, trust=trusted), timeout=20)
    assert outcome.error is None
    assert git(repo, "rev-parse", "origin/main") == git(remote, "rev-parse", "main")
    assert traps.ran() == ({"upload-pack"} if trusted else set())


@pytest.mark.parametrize("trusted", [False, True])
def test_fetch_uses_the_repos_ssh_command_only_when_trusted(
    tmp_path: Path, traps: Traps, global_config: Path, trusted: bool
) -> None:
    """Untrusted, the user's own global `core.sshCommand` stands, still in batch mode."""
    _, repo = make_remote_and_clone(tmp_path, "remote-ssh")
    git(repo, "remote", "set-url", "origin", "ssh://git@127.0.0.1:1/x.git")
    git(repo, "config", "core.sshCommand", str(traps.make("repo-ssh", "exit 255")))
    record = tmp_path / "ssh-args"
    mine = traps.make("global-ssh", f'echo "$@" > {record}\nexit 255')
    with global_config.open("a") as config:
        config.write(f"[core]\n\tsshCommand = {mine}\n")
    assert fetch(spec_of(repo, trust=trusted), timeout=10).error
    assert traps.ran() == ({"repo-ssh"} if trusted else {"global-ssh"})
    if not trusted:
        assert "-o BatchMode=yes" in record.read_text()


def test_fetch_runs_no_git_proxy_of_the_repo(tmp_path: Path, traps: Traps) -> None:
    _, repo = make_remote_and_clone(tmp_path, "proxied")
    git(repo, "remote", "set-url", "origin", "git://127.0.0.1:1/x.git")
    git(repo, "config", "core.gitProxy", str(traps.make("proxy")))
    assert fetch(spec_of(repo), timeout=10).error
    assert traps.ran() == set()


def test_fetch_runs_the_repos_hooks_only_when_trusted(tmp_path: Path, traps: Traps) -> None:
    remote, repo = make_remote_and_clone(tmp_path, "hooked")
    push_from_elsewhere(remote, tmp_path)
    install_hooks(repo, traps)
    assert fetch(spec_of(repo), timeout=20).error is None
    assert traps.ran() == set()
    assert fetch(spec_of(repo, trust=True), timeout=20).error is None  # nothing new: no refs
    push_from_elsewhere(remote, tmp_path, name="again")
    assert fetch(spec_of(repo, trust=True), timeout=20).error is None
    assert traps.ran() == {"reference-transaction"}


# -- automatic syncs: fast-forward, rebase, tag deploy ------------------------------------------


@pytest.mark.parametrize("trusted", [False, True])
def test_fast_forward_runs_the_repos_hooks_only_when_trusted(
    tmp_path: Path, traps: Traps, trusted: bool
) -> None:
    remote, repo = make_remote_and_clone(tmp_path, "synced")
    push_from_elsewhere(remote, tmp_path)
    git(repo, "fetch", "-q")
    install_hooks(repo, traps)
    spec = spec_of(repo, trust=trusted)
    assert isinstance(fast_forward(spec, status_of(spec), timeout=20), SyncResult)
    ran = {"post-merge", "reference-transaction", "post-index-change"}
    assert traps.ran() == (ran if trusted else set())


def test_rebase_runs_none_of_the_repos_hooks(tmp_path: Path, traps: Traps) -> None:
    remote, repo = make_remote_and_clone(tmp_path, "rebased")
    push_from_elsewhere(remote, tmp_path)
    git(repo, "fetch", "-q")
    commit_file(repo, "mine.txt", "mine\n")
    (repo / "README.md").write_text("edited\n")  # carried over by the autostash
    install_hooks(repo, traps)
    spec = spec_of(repo)
    result = rebase_autostash(spec, status_of(spec), timeout=20)
    assert isinstance(result, SyncResult)
    assert traps.ran() == set()


@pytest.mark.parametrize("trusted", [False, True])
def test_fast_forward_checks_files_out_through_the_repos_filters_only_when_trusted(
    tmp_path: Path, traps: Traps, trusted: bool
) -> None:
    remote, repo = make_remote_and_clone(tmp_path, "smudged")
    (repo / ".gitattributes").write_text("*.dat filter=smudgy\n*.bin filter=proc\n")
    git(repo, "add", ".gitattributes")
    git(repo, "commit", "-qm", "attributes")
    git(repo, "push", "-q", "origin", "main")
    other = tmp_path / "other"
    git(tmp_path, "clone", "-q", str(remote), str(other))
    commit_file(other, "b.dat", "data\n")
    commit_file(other, "c.bin", "bin\n")
    git(other, "push", "-q", "origin", "main")
    git(repo, "fetch", "-q")
    git(repo, "config", "filter.smudgy.smudge", str(traps.make("smudge", "cat")))
    git(repo, "config", "filter.smudgy.required", "true")
    git(repo, "config", "filter.proc.process", str(traps.make("process", "exit 1")))
    spec = spec_of(repo, trust=trusted)
    result = fast_forward(spec, status_of(spec), timeout=20)
    if trusted:
        assert traps.ran() == {"smudge", "process"}
    else:
        assert isinstance(result, SyncResult)
        assert (repo / "b.dat").read_text() == "data\n"
        assert traps.ran() == set()


def test_a_users_global_hooks_path_still_runs_in_the_background(
    tmp_path: Path, traps: Traps, global_config: Path
) -> None:
    """The user's own hooks, set for every repo, are the user's programs: they run; the
    repo's `core.hooksPath` does not take their place."""
    remote, repo = make_remote_and_clone(tmp_path, "synced")
    push_from_elsewhere(remote, tmp_path)
    git(repo, "fetch", "-q")
    mine = tmp_path / "my-hooks"
    mine.mkdir()
    (mine / "post-merge").write_text(traps.make("my-post-merge").read_text())
    (mine / "post-merge").chmod(0o755)
    with global_config.open("a") as config:
        config.write(f"[core]\n\thooksPath = {mine}\n")
    theirs = tmp_path / "their-hooks"
    theirs.mkdir()
    (theirs / "post-merge").write_text(traps.make("their-post-merge").read_text())
    (theirs / "post-merge").chmod(0o755)
    git(repo, "config", "core.hooksPath", str(theirs))
    spec = spec_of(repo)
    assert isinstance(fast_forward(spec, status_of(spec), timeout=20), SyncResult)
    assert traps.ran() == {"my-post-merge"}


def test_a_change_to_the_users_global_config_is_seen_at_the_next_call(
    tmp_path: Path, traps: Traps, global_config: Path
) -> None:
    remote, repo = make_remote_and_clone(tmp_path, "synced")
    push_from_elsewhere(remote, tmp_path)
    git(repo, "fetch", "-q")
    spec = spec_of(repo)
    status = status_of(spec)  # the repo's rules are worked out, and kept
    mine = tmp_path / "my-hooks"
    mine.mkdir()
    (mine / "post-merge").write_text(traps.make("my-post-merge").read_text())
    (mine / "post-merge").chmod(0o755)
    with global_config.open("a") as config:
        config.write(f"[core]\n\thooksPath = {mine}\n")
    assert isinstance(fast_forward(spec, status, timeout=20), SyncResult)
    assert traps.ran() == {"my-post-merge"}


def test_tag_deploy_runs_none_of_the_repos_hooks(tmp_path: Path, traps: Traps) -> None:
    remote, repo = make_remote_and_clone(tmp_path, "deployed")
    other = tmp_path / "tagger"
    git(tmp_path, "clone", "-q", str(remote), str(other))
    commit_file(other, "release.txt", "1\n")
    git(other, "tag", "v1.0.0")
    git(other, "push", "-q", "origin", "main", "v1.0.0")
    install_hooks(repo, traps)
    spec = spec_of(repo, follow_tag="v*")
    result = deploy_tag(spec, status_of(spec), timeout=20)
    assert isinstance(result, SyncResult) and result.mode == "v1.0.0"
    assert traps.ran() == set()


# -- the guard itself ---------------------------------------------------------------------------


def test_a_batch_of_trusted_and_untrusted_repos_each_gets_its_own_rules(
    tmp_path: Path, traps: Traps
) -> None:
    repos = []
    for name in ("one", "two", "three"):
        _, repo = make_remote_and_clone(tmp_path / name, name)
        (repo / ".gitattributes").write_text("*.md filter=evil\n")
        git(repo, "config", "filter.evil.clean", str(traps.make(name, "cat")))
        os.utime(repo / "README.md", (os.stat(repo / "README.md").st_mtime + 5,) * 2)
        repos.append(repo)
    paths = [RepoPaths.of(repo, trusted=repo.name == "two") for repo in repos]
    results = dict(run_many(paths, STATUS_ARGS, jobs=1, timeout=20))
    assert all(result.ok for result in results.values())
    assert traps.ran() == {"two"}


def test_a_repo_naming_too_many_programs_is_not_read_at_all(tmp_path: Path, traps: Traps) -> None:
    _, repo = make_remote_and_clone(tmp_path, "bomb")
    with (repo / ".git" / "config").open("a") as config:
        for n in range(MAX_PAIRS):
            config.write(f'[filter "f{n}"]\n\tclean = {traps.make("bomb")}\n')
    status = status_of(spec_of(repo))
    assert "too many programs" in (status.error or "")
    result = run_git(["status"], RepoPaths.of(repo), timeout=20)
    assert not result.ok and "too many programs" in result.error_text
    assert traps.ran() == set()


def test_guard_gives_back_the_users_own_values_and_neutral_ones() -> None:
    user = [
        ConfigEntry("global", "credential.helper", "store"),
        ConfigEntry("system", "credential.https://h.helper", "cache"),
        ConfigEntry("global", "filter.lfs.process", "git-lfs filter-process"),
        ConfigEntry("global", "filter.lfs.required", "true"),
        ConfigEntry("global", "core.hookspath", "~/hooks"),
    ]
    local = [
        ConfigEntry("local", "credential.helper", "evil"),
        ConfigEntry("local", "filter.lfs.process", "evil"),
        ConfigEntry("worktree", "filter.x.clean", "evil"),
        ConfigEntry("local", "merge.m.driver", "evil"),
        ConfigEntry("local", "remote.origin.uploadpack", "evil"),
        ConfigEntry("local", "core.gitproxy", "evil"),
        ConfigEntry("command", "filter.y.clean", "ours, not the repo's"),
    ]
    guard = guard_from(user, local)
    assert guard.config == (
        ("core.hookspath", "~/hooks"),
        ("submodule.recurse", "false"),
        ("credential.helper", ""),
        ("credential.helper", "store"),
        ("credential.https://h.helper", "cache"),
        ("filter.lfs.process", "git-lfs filter-process"),
        ("filter.lfs.required", "true"),
        ("filter.x.clean", ""),
        ("filter.x.required", "false"),
        ("merge.m.driver", "false"),
    )
    assert guard.env == (("GIT_PROXY_COMMAND", ""),)
    assert guard.upload_pack
    assert guard_from([], []).config == (
        ("core.hookspath", os.devnull),
        ("submodule.recurse", "false"),
    )
    # A relative hooks folder is one inside each repo: the repo's own hooks.
    relative = [ConfigEntry("global", "core.hookspath", ".githooks")]
    assert guard_from(relative, []).config[0] == ("core.hookspath", os.devnull)


@pytest.mark.parametrize(
    ("text", "names"),
    [
        (b"[core]\n\tbare = false\n[remote \"origin\"]\n\turl = /x\n[branch \"main\"]\n"
         b"\tmerge = refs/heads/main\n", False),
        (b'[FILTER "x"]\n\tCLEAN = evil\n', True),
        (b"[credential]\n\thelper = x\n", True),
        (b"[include]\n\tpath = other\n", True),
        (b"[core]\n\tsshCommand = x\n", True),
    ],
)  # fmt: skip
def test_only_config_that_mentions_a_program_key_is_read_with_git(text: bytes, names: bool) -> None:
    assert names_programs(text) is names


# -- the config -------------------------------------------------------------------------------


def test_trust_is_read_per_repo_and_per_scan_root(tmp_path: Path) -> None:
    (tmp_path / "mine" / "own").mkdir(parents=True)
    git(tmp_path / "mine" / "own", "init", "-q")
    config_file = tmp_path / "config.yaml"
    config_file.write_text(
        "repos:\n  - path: a\n    trust: yes\n  - path: b\nscan:\n  - path: mine\n    trust: true\n"
    )
    config = load_config(config_file, {})
    assert [spec.trust for spec in config.repos] == [True, False]
    specs, _ = resolve_repos(config.repos, config.scan)
    assert {spec.name: spec.trust for spec in specs} == {"a": True, "b": False, "own": True}


def test_a_bad_trust_value_is_reported_with_its_line(tmp_path: Path) -> None:
    config_file = tmp_path / "config.yaml"
    config_file.write_text("repos:\n  - path: a\n    trust: maybe\n")
    with pytest.raises(ConfigError) as info:
        load_config(config_file, {})
    assert str(info.value).count("trust: expected true or false, got 'maybe'") == 1
    assert f"{config_file}:3:12" in str(info.value)
