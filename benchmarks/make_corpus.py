"""Build a deterministic corpus of git repositories for the status benchmarks.

Usage: python benchmarks/make_corpus.py OUT_DIR --repos N [--seed 1] [--jobs J] [--force]

Layout: OUT_DIR/remotes/<name>.git (bare upstreams), OUT_DIR/work/<name> (clones whose origin
is file:// the bare repo) and OUT_DIR/manifest.json (the expected status of every clone).
Only the standard library and the git CLI are used; see benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import shutil
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from itertools import repeat
from pathlib import Path
from typing import Any

# Branch states and their weights. Largest-remainder split, so the weights need not sum to 100.
STATES: dict[str, float] = {
    "up-to-date": 50,
    "behind": 13,
    "ahead": 12,
    "diverged": 7,
    "detached": 6,
    "no-upstream": 6,
    "upstream-gone": 3,
}
DIRTY_SHARE, STASH_SHARE, BIG_SHARE, DEEP_SHARE = 0.25, 0.08, 0.02, 0.02
NAME, EMAIL = "Corpus Bot", "corpus@example.invalid"
EPOCH = 1_600_000_000  # every timestamp derives from this, so ids never depend on the clock
GITIGNORE = b"build/\n*.pyc\n"
TOP_DIRS = ("src", "tests", "docs", "lib")
SUFFIXES = (".py", ".txt", ".md")
FEATURES = ("login", "cache", "export", "retry", "themes", "search")
MANIFEST_KEYS = (
    *("branch", "upstream", "upstream_gone", "ahead", "behind"),
    *("staged", "unstaged", "untracked", "stash", "head"),
)


def _git_env() -> dict[str, str]:
    """Environment isolated from the user's git config and from any enclosing git command."""
    # Drop GIT_DIR, GIT_INDEX_FILE etc. in case we run from inside a hook or a git alias.
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(GIT_CONFIG_GLOBAL=os.devnull, GIT_CONFIG_NOSYSTEM="1", LC_ALL="C")
    for role in ("AUTHOR", "COMMITTER"):
        env.update({f"GIT_{role}_NAME": NAME, f"GIT_{role}_EMAIL": EMAIL})
        env[f"GIT_{role}_DATE"] = f"{EPOCH} +0000"
    return env


ENV = _git_env()
# fast-import frees and re-grows big buffers for every object, and glibc's default 128 KiB trim
# threshold turns each cycle into brk calls and page faults: 3x slower. Ignored off glibc.
_TRIM = "glibc.malloc.trim_threshold=268435456"
FAST_IMPORT_ENV = {
    **ENV,
    "GLIBC_TUNABLES": ":".join(filter(None, [ENV.get("GLIBC_TUNABLES"), _TRIM])),
}
# unpackLimit=0 keeps even a tiny import as one pack: loose objects cost a file creation each.
GIT_OPTIONS = ("-c", "init.defaultBranch=main", "-c", "gc.auto=0", "-c", "fastimport.unpackLimit=0")


def git(*args: str | Path, stdin: bytes | None = None, env: dict[str, str] | None = None) -> str:
    """Run git with the isolated environment; raise RuntimeError with its stderr on failure."""
    cmd = ["git", *GIT_OPTIONS, *map(str, args)]
    res = subprocess.run(cmd, input=stdin, capture_output=True, env=env or ENV, check=False)
    if res.returncode:
        raise RuntimeError(
            f"git {' '.join(cmd[7:])}: {res.stderr.decode(errors='replace').strip()}"
        )
    return res.stdout.decode()


def split(n: int, weights: dict[str, float]) -> dict[str, int]:
    """Split n items by weight with the largest-remainder method (ties go to the earlier key)."""
    total = sum(weights.values())
    quotas = {k: n * w / total for k, w in weights.items()}
    counts = {k: math.floor(q) for k, q in quotas.items()}
    by_remainder = sorted(quotas, key=lambda k: counts[k] - quotas[k])  # stable sort
    for k in by_remainder[: n - sum(counts.values())]:
        counts[k] += 1
    return counts


@dataclass(frozen=True)
class RepoSpec:
    """What one repository should look like; everything else follows from its own rng."""

    name: str
    state: str
    dirty: bool
    stash: int
    big: bool
    deep: bool


def plan(n: int, seed: int) -> list[RepoSpec]:
    """Assign states and flags to n repos: exact proportions, shuffled by the seed."""
    rng = random.Random(seed)
    states = [s for s, c in split(n, STATES).items() for _ in range(c)]
    rng.shuffle(states)

    def share(p: float) -> int:
        return split(n, {"yes": p, "no": 1 - p})["yes"]

    dirty = set(rng.sample(range(n), share(DIRTY_SHARE)))
    stash = set(rng.sample(range(n), share(STASH_SHARE)))
    order = rng.sample(range(n), n)  # big and deep are disjoint size classes
    n_big, n_deep = share(BIG_SHARE), share(DEEP_SHARE)
    big, deep = set(order[:n_big]), set(order[n_big : n_big + n_deep])
    width = max(4, len(str(n)))
    return [
        RepoSpec(
            name=f"repo-{i + 1:0{width}d}",
            state=states[i],
            dirty=i in dirty,
            stash=rng.randint(1, 3) if i in stash else 0,
            big=i in big,
            deep=i in deep,
        )
        for i in range(n)
    ]


def content(path: str, rev: int) -> bytes:
    """File text at a revision; it grows with every revision, so each edit changes the size."""
    if path == ".gitignore":
        return GITIGNORE
    lines = [f"line {i} of {path}\n" for i in range(len(path) % 13 + 3)]
    return "".join(lines + [f"revision {r}\n" for r in range(2, rev + 1)]).encode()


def data(payload: bytes) -> bytes:
    """A fast-import `data` command."""
    return b"data %d\n%s\n" % (len(payload), payload)


class History:
    """Generates fast-import commit blocks (without their `commit <ref>` line) keyed by mark."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.blocks: dict[int, bytes] = {}
        self.clock = EPOCH + rng.randint(0, 10**7)
        self.added = 0

    def commit(self, parent: int | None, changes: dict[str, int | None], msg: str) -> int:
        """Append one commit; a change maps a path to its new revision, or None to delete it."""
        mark = len(self.blocks) + 1
        self.clock += self.rng.randint(300, 86_400)
        who = f"{NAME} <{EMAIL}> {self.clock} +0000"
        parts = [f"mark :{mark}\nauthor {who}\ncommitter {who}\n".encode(), data(msg.encode())]
        if parent is not None:
            parts.append(b"from :%d\n" % parent)
        for path, rev in changes.items():
            if rev is None:
                parts.append(f"D {path}\n".encode())
            else:
                parts += [f"M 100644 inline {path}\n".encode(), data(content(path, rev))]
        self.blocks[mark] = b"".join(parts) + b"\n"
        return mark

    def line(
        self, parent: int, files: dict[str, int], count: int, label: str
    ) -> tuple[list[int], dict[str, int]]:
        """Add `count` commits on top of parent; return their marks and the final file set."""
        files, marks = dict(files), []
        for _ in range(count):
            editable = [p for p in files if p != ".gitignore"]
            changes: dict[str, int | None] = {}
            for path in self.rng.sample(editable, min(len(editable), self.rng.randint(1, 3))):
                files[path] = changes[path] = files[path] + 1
            if self.rng.random() < 0.15:
                self.added += 1
                files[f"src/new{self.added}.py"] = changes[f"src/new{self.added}.py"] = 1
            elif self.rng.random() < 0.05 and len(editable) > 6:
                gone = self.rng.choice([p for p in editable if p not in changes])
                del files[gone]
                changes[gone] = None
            parent = self.commit(parent, changes, f"{label}: update {len(changes)} file(s)")
            marks.append(parent)
        return marks, files


def fast_import(repo: Path, stream: bytes, marks: Path | None = None) -> dict[int, str]:
    """Feed a stream to `git fast-import`; return mark -> commit id if `marks` is given."""
    args: list[str | Path] = ["-C", repo, "fast-import", "--quiet"]
    if marks:
        args.append(f"--export-marks={marks}")
    git(*args, stdin=stream, env=FAST_IMPORT_ENV)
    if not marks:
        return {}
    pairs = (line.split() for line in marks.read_text().splitlines())
    result = {int(mark[1:]): oid for mark, oid in pairs}
    marks.unlink()
    return result


def make_dirty(work: Path, rng: random.Random, tracked: list[str]) -> dict[str, int]:
    """Mix unstaged/staged edits, deletions, new files, MM files and untracked files."""
    kinds = ("edit", "delete", "staged", "mm", "new", "untracked")
    n = {k: rng.choice((0, 0, 1, 1, 2, 3)) for k in kinds}
    picked = rng.sample(tracked, min(len(tracked), n["edit"] + n["delete"] + n["staged"] + n["mm"]))
    use: dict[str, list[str]] = {}
    for k in ("edit", "delete", "staged", "mm"):
        use[k], picked = picked[: n[k]], picked[n[k] :]
    if not any(use.values()) and not n["new"] and not n["untracked"]:
        n["untracked"] = 1
    new = [f"src/staged{i}.py" for i in range(n["new"])]
    for path in use["staged"] + use["mm"] + new:
        (work / path).parent.mkdir(parents=True, exist_ok=True)
        with open(work / path, "a") as f:
            f.write("staged change\n")
    if use["staged"] or use["mm"] or new:
        git("-C", work, "add", "--", *use["staged"], *use["mm"], *new)
    for path in use["mm"] + use["edit"]:
        with open(work / path, "a") as f:
            f.write("unstaged change\n")
    for path in use["delete"]:
        (work / path).unlink()
    for i in range(n["untracked"]):  # top level only: git would fold an untracked dir to one
        (work / f"scratch-{i}.txt").write_text("notes\n")
    return {
        "staged": len(use["staged"]) + len(use["mm"]) + len(new),
        "unstaged": len(use["edit"]) + len(use["mm"]) + len(use["delete"]),
        "untracked": n["untracked"],
    }


@dataclass
class Layout:
    """The commit graph of one repo: fast-import blocks plus which marks go on which ref."""

    history: History
    base: list[int]  # main as both sides had it before they diverged
    upstream: list[int]  # on origin/main only (behind, diverged)
    local: list[int]  # on local main only (ahead, diverged)
    side: list[int]  # on the checked-out side branch (no-upstream, upstream-gone)
    branch: str | None  # checked-out branch, None when detached
    head: int
    files: list[str]  # tracked at HEAD


def design(spec: RepoSpec, rng: random.Random) -> Layout:
    """Generate the history for spec's size class and branch state (pure Python, no git)."""
    h = History(rng)
    if spec.big:
        n_files = rng.randint(1900, 2100)
    else:  # log-uniform: mostly small repos, a tail of 400-file ones
        n_files = int(math.exp(rng.uniform(math.log(5), math.log(400))))
    n_commits = rng.randint(480, 520) if spec.deep else rng.randint(3, 60)

    files = {".gitignore": 1, "README.md": 1}
    for k in range(n_files):
        files[f"{TOP_DIRS[k % 4]}/part{k // 40:02d}/file{k:04d}{SUFFIXES[k % 3]}"] = 1
    root = h.commit(None, dict(files), "Initial import")
    # Build main in two parts so a detached HEAD can sit on an older commit with a known tree.
    cut = rng.randrange(n_commits) if spec.state == "detached" else 0
    first, head_files = h.line(root, files, cut, "main")
    head = first[-1] if first else root
    rest, files = h.line(head, head_files, n_commits - 1 - cut, "main")
    base = [root, *first, *rest]

    both = spec.state == "diverged"
    n_up = rng.randint(1, 12) if spec.state == "behind" or both else 0
    n_local = rng.randint(1, 12) if spec.state == "ahead" or both else 0
    upstream, _ = h.line(base[-1], files, n_up, "upstream")
    local, local_files = h.line(base[-1], files, n_local, "local")
    branch = {"no-upstream": "experiment", "upstream-gone": f"feature/{rng.choice(FEATURES)}"}
    side: list[int] = []
    if spec.state in branch:
        side, head_files = h.line(base[-1], files, rng.randint(1, 4), branch[spec.state])
        head = side[-1]
    elif spec.state != "detached":
        head, head_files = (local or base)[-1], local_files
    return Layout(
        history=h,
        base=base,
        upstream=upstream,
        local=local,
        side=side,
        branch=None if spec.state == "detached" else branch.get(spec.state, "main"),
        head=head,
        files=[p for p in head_files if p != ".gitignore"],
    )


def build_repo(out: Path, spec: RepoSpec, seed: int) -> dict[str, Any]:
    """Create one bare upstream and its clone; return the clone's manifest entry."""
    rng = random.Random(f"{seed}:{spec.name}")  # per repo, so --jobs cannot change the result
    lay = design(spec, rng)
    blocks, tip = lay.history.blocks, lay.base[-1]
    remote, work = out / "remotes" / f"{spec.name}.git", out / "work" / spec.name

    def commits(ref: str, marks: list[int]) -> bytes:
        return b"".join(b"commit %s\n%s" % (ref.encode(), blocks[m]) for m in marks)

    # An empty template skips the sample hooks: ~30 file creations per repo, never read by status.
    git("init", "-q", "--template=", "--bare", remote)
    git("init", "-q", "--template=", "-b", lay.branch or "main", work)
    fast_import(remote, commits("refs/heads/main", lay.base + lay.upstream))
    stream = commits("refs/heads/main", lay.base + lay.local)
    stream += commits("refs/remotes/origin/main", lay.upstream)
    stream += b"reset refs/remotes/origin/main\nfrom :%d\n\n" % (lay.upstream or [tip])[-1]
    stream += commits(f"refs/heads/{lay.branch}", lay.side)
    oids = fast_import(work, stream, marks=work / ".git" / "corpus-marks")

    # Written directly instead of ~6 `git config` processes per repo; the format is stable.
    gone = spec.state == "upstream-gone"
    config = f'[remote "origin"]\n\turl = {remote.as_uri()}\n'
    config += "\tfetch = +refs/heads/*:refs/remotes/origin/*\n"
    for b in ["main", lay.branch] if gone else ["main"]:
        config += f'[branch "{b}"]\n\tremote = origin\n\tmerge = refs/heads/{b}\n'
    with open(work / ".git" / "config", "a") as f:
        f.write(config)
    origin_head = work / ".git" / "refs" / "remotes" / "origin" / "HEAD"
    origin_head.write_text("ref: refs/remotes/origin/main\n")
    if lay.branch is None:
        git("-C", work, "update-ref", "--no-deref", "HEAD", oids[lay.head])
    git("-C", work, "reset", "-q", "--hard")

    # Stash first: `git stash push` would sweep the dirty changes below into the stash.
    for i in range(spec.stash):
        with open(work / rng.choice(lay.files), "a") as f:
            f.write(f"stashed change {i}\n")
        when = f"{lay.history.clock + 60 * (i + 1)} +0000"
        env = {**ENV, "GIT_AUTHOR_DATE": when, "GIT_COMMITTER_DATE": when}
        git("-C", work, "stash", "push", "-q", env=env)
    counts = make_dirty(work, rng, lay.files) if spec.dirty else {}
    if spec.dirty or rng.random() < 0.2:  # ignored output, also in some clean repos
        (work / "build" / "lib").mkdir(parents=True)
        (work / "build" / "lib" / "module.so").write_bytes(b"\0" * 64)
        (work / "build" / "out.log").write_text("built\n")
        (work / "cached.pyc").write_bytes(b"\0" * 16)

    counted = spec.state not in ("detached", "no-upstream", "upstream-gone")
    return {
        "name": spec.name,
        "path": f"work/{spec.name}",
        "branch": lay.branch,
        "upstream": f"origin/{lay.branch}" if counted or gone else None,
        "upstream_gone": gone,
        "ahead": len(lay.local) if counted else None,
        "behind": len(lay.upstream) if counted else None,
        "staged": counts.get("staged", 0),
        "unstaged": counts.get("unstaged", 0),
        "untracked": counts.get("untracked", 0),
        "stash": spec.stash,
        "head": oids[lay.head],
        "state": spec.state,
        "dirty": spec.dirty,
        "big": spec.big,
        "deep": spec.deep,
        "files": len(lay.files) + 1,  # + .gitignore
        "commits": len(blocks),
    }


def observe(work: Path) -> dict[str, Any]:
    """Read a clone's status the way the benchmark does, in the manifest's terms."""
    out = git("-C", work, "status", "--porcelain=v2", "--branch", "--show-stash", "-z")
    seen: dict[str, Any] = dict.fromkeys(MANIFEST_KEYS)
    seen.update(staged=0, unstaged=0, untracked=0, stash=0)
    has_ab = False
    fields = iter(out.split("\0"))
    for field in fields:
        kind, _, rest = field.partition(" ")
        if kind == "#":
            key, _, value = rest.partition(" ")
            if key == "branch.oid":
                seen["head"] = value
            elif key == "branch.head":
                seen["branch"] = None if value == "(detached)" else value
            elif key == "branch.upstream":
                seen["upstream"] = value
            elif key == "branch.ab":
                has_ab = True
                ahead, behind = value.split()
                seen["ahead"], seen["behind"] = int(ahead), -int(behind)
            elif key == "stash":
                seen["stash"] = int(value)
        elif kind in ("1", "2", "u"):
            seen["staged"] += rest[0] != "."
            seen["unstaged"] += rest[1] != "."
            if kind == "2":  # a rename carries its original path as an extra field
                next(fields)
        elif kind == "?":
            seen["untracked"] += 1
    # An upstream without an ahead/behind line is one whose ref no longer exists.
    seen["upstream_gone"] = seen["upstream"] is not None and not has_ab
    return seen


def check(out: Path, entry: dict[str, Any]) -> list[str]:
    """Compare one clone's `git status` with its manifest entry; return the mismatches."""
    seen = observe(out / entry["path"])
    return [
        f"{entry['name']}: {key} expected {entry[key]!r}, git says {seen[key]!r}"
        for key in MANIFEST_KEYS
        if seen[key] != entry[key]
    ]


def prepare(out: Path, force: bool) -> None:
    """Create OUT_DIR; with --force wipe a previous corpus, but never anything else."""
    if out.exists() and any(out.iterdir()):
        if not force:
            sys.exit(f"error: {out} is not empty (use --force to replace a corpus)")
        # Guard against `--force` on the wrong directory: only corpus entries get deleted.
        unexpected = sorted({p.name for p in out.iterdir()} - {"remotes", "work", "manifest.json"})
        if unexpected:
            sys.exit(f"error: {out} holds {unexpected}; it is not a corpus, not wiping it")
        for p in out.iterdir():
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p)
            else:
                p.unlink()
    (out / "remotes").mkdir(parents=True)
    (out / "work").mkdir()


def summary(entries: list[dict[str, Any]], seed: int, times: tuple[float, float], ok: bool) -> str:
    """One line: counts per state and flag, sizes and the build and check times."""
    states = ", ".join(f"{s} {sum(e['state'] == s for e in entries)}" for s in STATES)
    flags = ", ".join(f"{k} {sum(bool(e[k]) for e in entries)}" for k in ("dirty", "stash"))
    sizes = ", ".join(f"{k} {sum(e[k] for e in entries)}" for k in ("big", "deep"))
    files, commits = sum(e["files"] for e in entries), sum(e["commits"] for e in entries)
    return (
        f"{len(entries)} repos (seed {seed}): {states}; {flags}; {sizes}; {files:,} files,"
        f" {commits:,} commits; built in {times[0]:.1f} s, checked in {times[1]:.1f} s; self-check "
        + ("ok" if ok else "FAILED")
    )


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    ap = argparse.ArgumentParser(description="Build a deterministic corpus of git repos.")
    ap.add_argument("out_dir", type=Path, metavar="OUT_DIR")
    ap.add_argument("--repos", type=int, required=True, metavar="N")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--force", action="store_true", help="replace an existing corpus in OUT_DIR")
    args = ap.parse_args(argv)
    if args.repos < 1 or args.jobs < 1:
        ap.error("--repos and --jobs must be at least 1")
    out = args.out_dir.resolve()  # absolute, for the file:// origin URLs
    prepare(out, args.force)

    start = time.perf_counter()
    with ProcessPoolExecutor(args.jobs) as pool:
        try:
            specs = plan(args.repos, args.seed)
            entries = list(pool.map(build_repo, repeat(out), specs, repeat(args.seed)))
        except RuntimeError as exc:
            print(f"error: git failed: {exc}", file=sys.stderr)
            return 2
        build_s = time.perf_counter() - start
        manifest = {"version": 1, "seed": args.seed, "repos": entries}
        (out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
        start = time.perf_counter()
        problems = [p for ps in pool.map(check, repeat(out), entries) for p in ps]
    times = (build_s, time.perf_counter() - start)
    print(summary(entries, args.seed, times, not problems))
    for problem in problems:
        print(problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
