"""Plain, immutable data shared by every layer: what to watch and what was seen."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from gitwatch_tui.core.cron import CronSchedule
from gitwatch_tui.core.secrets import SecretSource

AutoSync = Literal["off", "ff-only", "rebase-autostash"]
AUTO_SYNC_POLICIES: tuple[str, ...] = ("off", "ff-only", "rebase-autostash")

Operation = Literal["merge", "rebase", "am", "cherry-pick", "revert", "bisect"]

PullMode = Literal["ff-only", "rebase", "merge"]
PULL_MODES: tuple[str, ...] = ("ff-only", "rebase", "merge")
OnFailure = Literal["stop", "continue"]


@dataclass(frozen=True, slots=True)
class SourceLocation:
    """Where a value came from in a config file (1-based line and column)."""

    file: str
    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


@dataclass(frozen=True, slots=True)
class ScanRoot:
    """A folder searched for repositories, `depth` levels deep."""

    path: Path
    depth: int = 3
    include_bare: bool = False
    group: str | None = None
    exclude: tuple[str, ...] = ()
    trust: bool = False  # the repos found here run their own config's programs (RepoSpec)
    # No config: a repo in a folder below the root is grouped by that folder (`company/api`
    # in group `company`, as gita does); those right under the root stay ungrouped.
    group_by_folder: bool = False


@dataclass(frozen=True, slots=True)
class CloneOptions:
    """How to clone a configured repo that is missing (`git clone` options)."""

    branch: str | None = None
    depth: int | None = None
    filter: str | None = None  # e.g. "blob:none" for a partial clone


@dataclass(frozen=True, slots=True)
class StepLimits:
    """Resource limits of one pipeline step (`setrlimit`); None leaves the limit as it is.

    `processes` is RLIMIT_NPROC, which counts every process of the daemon's user (and root
    ignores it), so it stops a fork bomb rather than limiting the step to N processes.
    """

    cpu_seconds: int | None = 600
    address_space: int | None = 8 * 1024**3
    file_size: int | None = 1024**3
    processes: int | None = 4096


@dataclass(frozen=True, slots=True)
class ConfigMapSpec:
    """The built-in `configmap` step: repo files matching `files` into a Kubernetes ConfigMap."""

    name: str
    files: tuple[str, ...]
    namespace: str | None = None
    labels: tuple[tuple[str, str], ...] = ()
    output: str = "deploy/configmaps"  # relative to the repo, or absolute
    max_bytes: int = 1024 * 1024
    apply: bool = False


@dataclass(frozen=True, slots=True)
class PipelineStep:
    """One step run after HEAD changes: a command (`run`) or the built-in `configmap`.

    `run` is an argv; a string in the config becomes `("sh", "-c", text)`. `cwd` is relative
    to the repo. The step sees only PATH, HOME, LANG, `env` and the `secrets` named. `run_as`
    (`user` or `user:group`) starts it as another user (the daemon must be root).

    `secrets` names, in config order, every variable the step gets as a secret; each comes
    from the daemon's variable of that name unless `secret_files` gives a file for it.
    """

    name: str
    run: tuple[str, ...] = ()
    configmap: ConfigMapSpec | None = None
    cwd: str = "."
    env: tuple[tuple[str, str], ...] = ()
    secrets: tuple[str, ...] = ()
    timeout: float = 600.0
    on_failure: OnFailure = "stop"
    branches: tuple[str, ...] = ()
    limits: StepLimits = StepLimits()
    run_as: str | None = None
    secret_files: tuple[tuple[str, Path], ...] = ()

    def __post_init__(self) -> None:
        if not {name for name, _ in self.secret_files} <= set(self.secrets):
            raise ValueError("each name in secret_files must be in secrets too")

    @property
    def secret_names(self) -> tuple[str, ...]:
        """Every variable the step receives as a secret (from the environment or a file)."""
        return self.secrets

    def secret_sources(self) -> tuple[tuple[str, SecretSource], ...]:
        """Each secret's variable name and where its value comes from, in config order."""
        files = dict(self.secret_files)
        return tuple(
            (name, SecretSource(file=files[name]) if name in files else SecretSource(env=name))
            for name in self.secrets
        )


@dataclass(frozen=True, slots=True)
class RepoSpec:
    """One repository to watch, from the config or from discovery."""

    path: Path
    name: str
    group: str | None = None
    remote: str | None = None
    url: str | None = None
    clone: CloneOptions = CloneOptions()
    poll_interval: float | None = None
    schedule: CronSchedule | None = None  # polls at these times instead of every interval
    branches: tuple[str, ...] = ()
    auto_sync: AutoSync = "off"
    bare: bool = False
    source: SourceLocation | None = None
    pull_mode: PullMode = "ff-only"  # what a manual pull does (`pull:` in the config)
    pipeline: tuple[PipelineStep, ...] = ()
    follow_tag: str | None = None  # check out the newest tag matching this, detached
    # Background git may run the programs the repo's own config names (hooks, filters, its
    # credential helper...); otherwise they are neutralised (`core.trust`).
    trust: bool = False


@dataclass(frozen=True, slots=True)
class RepoStatus:
    """A snapshot of one repository's state; `error` says why it could not be read.

    `last_fetch` is the last *successful* fetch and `last_fetch_failed` the last failed attempt
    since then (None when the latest attempt worked). Reading a repo cannot tell either (git
    touches FETCH_HEAD when a fetch fails too): core leaves them None, and whoever keeps the
    fetch record (the engine, `status`) fills them in.
    """

    name: str
    path: str
    group: str | None = None
    branch: str | None = None
    detached: bool = False
    head: str | None = None
    upstream: str | None = None
    upstream_gone: bool = False
    ahead: int | None = None
    behind: int | None = None
    staged: int = 0
    unstaged: int = 0
    untracked: int = 0
    conflicted: int = 0
    conflicts_total: int = 0  # conflicted when the merge/rebase stopped: "2/5 resolved"
    stash: int = 0
    operation: Operation | None = None
    last_fetch: float | None = None
    error: str | None = None
    last_fetch_failed: float | None = None
    bare: bool = False  # no work tree: no changes, no ahead/behind
    no_remote: bool = False  # a branch without upstream, in a repo without any remote
    # Submodules checked out at another commit than the one recorded, with no changes of
    # their own (after a pull moved their pointers): git lists them as modified, but nothing
    # in them was edited, so they are counted here and not as unstaged changes.
    stale_submodules: int = 0
    # A rebase in progress detaches HEAD: the branch it is rebasing, and its step (2, 3).
    rebase_branch: str | None = None
    rebase_step: tuple[int, int] | None = None
    # When this status was read, if it is the last one known from an earlier run (the
    # dashboard opens on it) and has not been read again since; None once read fresh.
    as_of: float | None = None

    @property
    def dirty(self) -> bool:
        return bool(self.staged or self.unstaged or self.untracked or self.conflicted)

    def to_json(self) -> dict[str, Any]:
        """The stable JSON shape documented in the README (`status --json`)."""
        data = asdict(self)
        # Only a status from an earlier run, not read again yet (a dashboard's first moments),
        # says when it was read: every other one is fresh, and keeps the shape it always had.
        if self.as_of is None:
            del data["as_of"]
        else:
            data["as_of"] = iso_time(self.as_of)
        data["last_fetch"] = iso_time(self.last_fetch)
        data["last_fetch_failed"] = iso_time(self.last_fetch_failed)
        return data


def iso_time(when: float | None) -> str | None:
    """A Unix time as ISO 8601 UTC to the second (`2025-11-21T04:40:00+00:00`), or None."""
    return None if when is None else datetime.fromtimestamp(when, UTC).isoformat(timespec="seconds")
