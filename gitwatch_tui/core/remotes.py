"""A repo's remotes: which it has, fetching from one, cloning a missing repo, and which commits
a fetch has brought; each git call through the hardened runner, never prompting."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path

from gitwatch_tui.core.git import GitResult, RepoPaths, git_env, run_git
from gitwatch_tui.core.models import RepoSpec

# git's words when it wanted credentials it could not get: we never prompt, so these are
# reported as an authentication failure, not retried as a network blip.
_AUTH_FAILURE = re.compile(
    r"Authentication failed|could not read (Username|Password)|terminal prompts disabled"
    r"|Permission denied \(publickey|Host key verification failed|HTTP Basic: Access denied"
    r"|The requested URL returned error: 40[13]",
    re.IGNORECASE,
)
# git's (and curl's, ssh's) words when the server itself is unwell or unreachable, as opposed
# to answering about this one repo (401/403/404, "not found", a corrupt pack): only these
# count towards the server's circuit breaker.
_SERVER_FAILURE = re.compile(
    r"Failed to connect|Connection refused|Connection reset|Connection timed out"
    r"|Operation timed out|Could not resolve host|No route to host|Network is unreachable"
    r"|Empty reply from server|Connection closed by|unable to connect to"
    r"|The requested URL returned error: 5\d\d|HTTP/\S+ 5\d\d|RPC failed; HTTP 5\d\d"
    r"|SSL_connect|gnutls_handshake|TLS connection was non-properly terminated",
    re.IGNORECASE,
)
# A ref fetch updated, as git reports it on stderr (`   1a2b..3c4d  main -> origin/main`,
# ` * [new branch] ...`, ` + ... (forced update)`, ` - [deleted] ...`); a fetch that brings
# nothing prints none.
_REF_UPDATED = re.compile(r"^ [ +*t!-] .* -> ", re.MULTILINE)


@dataclass(frozen=True, slots=True)
class RemoteConfig:
    """The remotes a repo has (name to URL) and its ssh command, from one `git config` call."""

    urls: dict[str, str]
    ssh_command: str | None

    @property
    def remotes(self) -> tuple[str, ...]:
        return tuple(self.urls)


@dataclass(frozen=True, slots=True)
class FetchOutcome:
    """What a fetch did; `error` is None on success, `auth_failed` marks credential problems,
    `server_down` a failure that says the server (not this repo) is unwell: refused, reset,
    unreachable, timed out, 5xx. `refs_changed` is False only for a fetch that worked and
    updated no ref (nothing in the repo's status can have changed)."""

    remote: str | None
    url: str | None = None
    error: str | None = None
    auth_failed: bool = False
    timed_out: bool = False
    duration: float = 0.0
    no_remote: bool = False
    server_down: bool = False
    refs_changed: bool = True


def read_remote_config(repo: RepoPaths, *, timeout: float) -> RemoteConfig | str:
    """The repo's remotes and `core.sshCommand`, or the error text when it cannot be read.
    In a repo that is not trusted, git itself reads the user's own ssh command, not the
    repo's (`core.trust`).

    Cached per repo while its config file keeps the same mtime and size: a poll then starts
    one git process (the fetch) instead of two, which on two cores is a tenth of a fetch-all.
    """
    key = _config_file_key(repo)
    cached = _remote_configs.get((repo.git_dir, repo.trusted))
    if key is not None and cached is not None and cached[0] == key:
        return cached[1]
    result = run_git(
        ["config", "--get-regexp", r"^(remote\..*\.url|core\.sshcommand)$"], repo, timeout=timeout
    )
    if result.returncode not in (0, 1):  # 1: nothing matched, a repo without remotes
        return result.error_text
    urls: dict[str, str] = {}
    ssh_command = None
    for line in result.stdout.decode("utf-8", errors="replace").splitlines():
        key_name, _, value = line.partition(" ")
        if key_name == "core.sshcommand":
            ssh_command = value
        else:
            urls.setdefault(key_name[len("remote.") : -len(".url")], value)
    config = RemoteConfig(urls, ssh_command)
    if key is not None:
        _remote_configs[(repo.git_dir, repo.trusted)] = (key, config)
    return config


# git dir -> (config file's identity when read, what it said). Included files and the user's
# global config are not tracked: a remote is defined in the repo's own config in practice.
_remote_configs: dict[tuple[Path, bool], tuple[tuple[int, int, int], RemoteConfig]] = {}


def _config_file_key(repo: RepoPaths) -> tuple[int, int, int] | None:
    """Identity of the repo's config file (worktrees share the main repo's), None if unknown."""
    git_dir = repo.git_dir
    try:
        common = (git_dir / "commondir").read_text(encoding="utf-8").strip()
        git_dir = git_dir / common
    except OSError:
        pass
    try:
        stat = (git_dir / "config").stat()
    except OSError:
        return None
    return (stat.st_ino, stat.st_mtime_ns, stat.st_size)


_OBJECT_NAME = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")


def reachable_commits(spec: RepoSpec, shas: Iterable[str], *, timeout: float) -> set[str]:
    """Those of `shas` (full hex commit names) that the repo has and one of its refs reaches:
    a fetch has brought them. Empty when git cannot tell. Two git calls, however many shas."""
    wanted = sorted({sha for sha in shas if _OBJECT_NAME.fullmatch(sha)})  # hex: never an option
    if not wanted:
        return set()
    repo = RepoPaths.of(spec.path, bare=spec.bare, trusted=spec.trust)
    present = run_git(["rev-list", "--no-walk", "--ignore-missing", *wanted], repo, timeout=timeout)
    have = set(present.stdout.decode("ascii", "replace").split()) & set(wanted)
    if not present.ok or not have:
        return set()
    # What those commits bring that no ref has: a commit in that list is not reached yet.
    args = ["rev-list", "--ignore-missing", *sorted(have), "--not", "--all"]
    unreached = run_git(args, repo, timeout=timeout)
    if not unreached.ok:
        return set()
    return have - set(unreached.stdout.decode("ascii", "replace").split())


def fetch(spec: RepoSpec, *, timeout: float) -> FetchOutcome:
    """Fetch the repo's remote without ever prompting.

    The remote is `spec.remote`, else git's own choice (the branch's upstream remote, or
    `origin`), else the only remote there is. A repo without any remote is an error: git itself
    exits 0 there and fetches nothing.
    """
    repo = RepoPaths.of(spec.path, bare=spec.bare, trusted=spec.trust)
    config = read_remote_config(repo, timeout=timeout)
    if isinstance(config, str):
        return FetchOutcome(remote=spec.remote, error=config)
    if not config.remotes:
        return FetchOutcome(
            remote=None, error="no remote configured", no_remote=True, refs_changed=False
        )
    remote = spec.remote
    if remote is not None and remote not in config.remotes:
        return FetchOutcome(remote=remote, error=f"remote {remote!r} is not configured")
    if remote is None and "origin" not in config.remotes and len(config.remotes) == 1:
        remote = config.remotes[0]
    # Which URL git will talk to, for per-server back-off; a branch's own remote is not known
    # here without another git call, so origin stands in for it.
    url = config.urls.get(remote or "origin")
    # No auto-maintenance: a gc started by a background fetch could outlive our timeout.
    args = ["fetch", "--no-auto-maintenance", *([remote] if remote else [])]
    env = git_env(background=True, ssh_command=config.ssh_command)
    return _fetch_outcome(remote, url, run_git(args, repo, timeout=timeout, env=env))


def _fetch_outcome(remote: str | None, url: str | None, result: GitResult) -> FetchOutcome:
    if result.ok:
        changed = bool(_REF_UPDATED.search(result.stderr))
        return FetchOutcome(remote=remote, url=url, duration=result.duration, refs_changed=changed)
    auth_failed = bool(_AUTH_FAILURE.search(result.stderr))
    error = result.error_text
    if auth_failed:
        error = f"authentication failed (never prompted): {error}"
    return FetchOutcome(
        remote=remote,
        url=url,
        error=error,
        auth_failed=auth_failed,
        timed_out=result.timed_out,
        duration=result.duration,
        server_down=not auth_failed
        and (result.timed_out or bool(_SERVER_FAILURE.search(result.stderr))),
    )


def clone(spec: RepoSpec, *, timeout: float) -> FetchOutcome:
    """Clone a configured repo that is missing, with its `clone` options, never prompting.

    Refuses to clone into a folder that exists and is not empty. On failure or timeout git
    removes the half-made folder itself (the timeout sends SIGTERM first for that reason).
    """
    if spec.url is None:
        return FetchOutcome(remote=None, error="no url to clone from")
    if spec.path.exists() and (not spec.path.is_dir() or any(spec.path.iterdir())):
        return FetchOutcome(remote=None, url=spec.url, error="path exists and is not empty")
    options = spec.clone
    args = ["clone", "--quiet"]
    if options.branch:
        args += ["--branch", options.branch]
    if options.depth:
        args += ["--depth", str(options.depth)]
    if options.filter:
        args.append(f"--filter={options.filter}")
    args += ["--", spec.url, str(spec.path)]
    spec.path.parent.mkdir(parents=True, exist_ok=True)
    result = run_git(args, None, timeout=timeout, background=False)
    # --quiet lists no refs, but a new repo is all new.
    return replace(_fetch_outcome(spec.remote or "origin", spec.url, result), refs_changed=True)
