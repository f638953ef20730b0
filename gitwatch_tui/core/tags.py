"""Deploy by tag: keep a checkout on the newest tag matching a pattern, in semver order.

Tags are compared as semantic versions (2.0.0 rules: pre-releases sort before their release,
numeric identifiers numerically), read from the tag's end after an optional prefix that
ends in a separator such as `-` or `/`: `v1.2.3`, `1.2.3`, `release-1.2.3` and `app/v1.2.3`
are all 1.2.3. A tag that matches the pattern but does not end in a semantic
version is ignored. The checkout is detached, and refused, with the reason, whenever it could
lose work: the same checks as an automatic sync (no local changes, no operation in progress,
no untracked or ignored file in the way), plus commits that only a detached HEAD holds.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from fnmatch import fnmatchcase

from gitwatch_tui.core.autosync import SyncRefusal, SyncResult
from gitwatch_tui.core.git import RepoPaths, git_env, run_git
from gitwatch_tui.core.local_state import find_overwritten, read_local_state, rev_parse, shown
from gitwatch_tui.core.models import RepoSpec, RepoStatus
from gitwatch_tui.core.remotes import read_remote_config
from gitwatch_tui.core.results import plural

_SEMVER = re.compile(
    r"(?:.*?[^0-9A-Za-z.])?[vV]?(?P<major>0|[1-9]\d*)\.(?P<minor>0|[1-9]\d*)\.(?P<patch>0|[1-9]\d*)"
    r"(?:-(?P<pre>[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?"
    r"(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?"
)
EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"  # what an unborn HEAD is compared from


@dataclass(frozen=True, slots=True, order=True)
class Version:
    """A semantic version, ordered by precedence (build metadata plays no part)."""

    major: int
    minor: int
    patch: int
    # A release sorts after every pre-release of it: (1,) vs (0, identifiers...).
    release: tuple[int, tuple[tuple[int, int, str], ...]]

    def __str__(self) -> str:
        pre = ".".join(str(num) if kind == 0 else text for kind, num, text in self.release[1])
        return f"{self.major}.{self.minor}.{self.patch}" + (f"-{pre}" if pre else "")


def parse_version(tag: str) -> Version | None:
    """The semantic version that ends `tag` (after a prefix ending in `-`, `/`...), else None."""
    match = _SEMVER.fullmatch(tag)
    if match is None:
        return None
    identifiers: list[tuple[int, int, str]] = []
    if match["pre"]:
        for part in match["pre"].split("."):
            # Numeric identifiers compare as numbers and sort before alphanumeric ones.
            identifiers.append((0, int(part), "") if part.isdigit() else (1, 0, part))
    release = (0, tuple(identifiers)) if identifiers else (1, ())
    return Version(int(match["major"]), int(match["minor"]), int(match["patch"]), release)


def newest_tag(tags: Iterable[str], pattern: str) -> str | None:
    """The tag matching `pattern` (fnmatch, case-sensitive) with the highest version.

    Equal versions (`v1.0.0`, `1.0.0+build`) are told apart by name, so the choice is stable.
    """
    best: tuple[Version, str] | None = None
    for tag in tags:
        if not fnmatchcase(tag, pattern):
            continue
        version = parse_version(tag)
        if version is not None and (best is None or (version, tag) > best):
            best = (version, tag)
    return best[1] if best else None


def list_tags(repo: RepoPaths, *, timeout: float) -> dict[str, str] | str:
    """Tag name -> the commit it names (annotated tags peeled), or git's error."""
    result = run_git(
        ["for-each-ref", "--format=%(refname:strip=2)%00%(objectname)%00%(*objectname)",
         "refs/tags"],
        repo,
        timeout=timeout,
    )  # fmt: skip
    if not result.ok:
        return result.error_text
    tags: dict[str, str] = {}
    for line in result.stdout.decode("utf-8", errors="surrogateescape").splitlines():
        name, obj, peeled = line.split("\0")
        tags[name] = peeled or obj
    return tags


def fetch_tags(spec: RepoSpec, repo: RepoPaths, *, timeout: float) -> str | None:
    """Fetch the remote's tags (all of them: a release tag need not be on a branch); None when
    done or when there is no remote, else git's error. A tag moved on the remote is not forced
    over the local one: git refuses, and the error says so."""
    config = read_remote_config(repo, timeout=timeout)
    if isinstance(config, str):
        return config
    remote = spec.remote
    if remote is None:
        if "origin" in config.remotes:
            remote = "origin"
        elif len(config.remotes) == 1:
            remote = config.remotes[0]
        else:
            return None if not config.remotes else "several remotes and none chosen (remote:)"
    args = ["fetch", "--no-auto-maintenance", "--quiet", remote, "refs/tags/*:refs/tags/*"]
    env = git_env(background=True, ssh_command=config.ssh_command)
    result = run_git(args, repo, timeout=timeout, env=env)
    return None if result.ok else f"fetching tags failed: {result.error_text}"


def deploy_tag(spec: RepoSpec, status: RepoStatus, *, timeout: float) -> SyncResult | SyncRefusal:
    """Fetch tags, then check out the newest tag matching `spec.follow_tag`, detached.

    `SyncResult.mode` is the tag checked out. `status` is not trusted: every check is made on
    the repo as it is now. Refusals: "not-behind" (already there), "no-upstream" (no tag
    matches), "dirty", "conflicts", "operation", "detached" (commits only HEAD holds),
    "would-overwrite" and "error".
    """
    pattern = spec.follow_tag
    if pattern is None:
        return SyncRefusal.of("error/no-tag")
    if spec.bare:
        return SyncRefusal.of("error/bare-tag")
    repo = RepoPaths.of(spec.path, trusted=spec.trust)
    fetch_error = fetch_tags(spec, repo, timeout=timeout)
    if fetch_error is not None:
        return SyncRefusal.of("error", error=fetch_error)
    tags = list_tags(repo, timeout=timeout)
    if isinstance(tags, str):
        return SyncRefusal.of("error", error=tags)
    tag = newest_tag(tags, pattern)
    if tag is None:
        return SyncRefusal.of("no-upstream/tag", pattern=pattern)
    target = tags[tag]
    head = rev_parse(repo, "HEAD", timeout=timeout)
    if head == target:
        return SyncRefusal.of("not-behind/tag", tag=tag)
    refusal = _local_refusal(repo, head, target, timeout)
    if refusal is not None:
        return refusal
    # --no-overwrite-ignore: should an ignored file appear after the check, git refuses too.
    switched = run_git(
        ["switch", "--detach", "--no-overwrite-ignore", "--quiet", target],
        repo,
        timeout=timeout,
        background=False,
    )
    if not switched.ok:
        return SyncRefusal.of("error", error=switched.error_text)
    return SyncResult(head or "", rev_parse(repo, "HEAD", timeout=timeout) or target, tag)


def _local_refusal(
    repo: RepoPaths, head: str | None, target: str, timeout: float
) -> SyncRefusal | None:
    """Why moving this work tree to `target` could lose work, or None when it cannot."""
    local = read_local_state(repo, timeout=timeout)
    if isinstance(local, str):
        return SyncRefusal.of("error", error=local)
    if local.conflicted:
        return SyncRefusal.of("conflicts", files=plural(len(local.conflicted), "file"))
    if local.git_dir.operation:
        return SyncRefusal.of("operation", operation=local.git_dir.operation)
    if local.changed:
        changed = local.changed
        files = plural(len(changed), "file")
        return SyncRefusal.of("dirty/tag", changed, files=files, shown=shown(changed))
    if head is not None:
        # Commits made on a detached HEAD belong to no branch: moving HEAD would orphan them.
        orphans = run_git(
            ["rev-list", "--count", head, "--not", "--branches", "--tags", "--remotes"],
            repo,
            timeout=timeout,
        )
        if not orphans.ok:
            return SyncRefusal.of("error", error=orphans.error_text)
        count = int(orphans.stdout.strip() or 0)
        if count:
            return SyncRefusal.of("detached/orphans", commits=plural(count, "commit"))
    blockers = find_overwritten(repo, head or EMPTY_TREE, target, timeout=timeout)
    if isinstance(blockers, str):
        return SyncRefusal.of("error", error=blockers)
    if blockers:
        files = plural(len(blockers), "file")
        return SyncRefusal.of("would-overwrite/tag", blockers, files=files, shown=shown(blockers))
    return None
