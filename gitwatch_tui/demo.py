"""The --demo sandbox: a dozen throw-away repos that show every state the dashboard has.

`create_sandbox` builds the repos, each with a bare remote, deterministically: fixed authors,
dates, contents and branch names, and no say for the user's git config. `start_pusher` runs a
child process (`python -m gitwatch_tui.demo push ROOT`) that keeps pushing commits to the
"live" remotes from its own scratch clones, so rows turn behind once the engine fetches.
`demo_sandbox` wraps both in a temp dir that is removed on exit.

Layout under the root:
    work/<group>/<name>   the work trees the dashboard watches
    remotes/<name>.git    their bare remotes
    pusher/<name>         the pusher's scratch clones (never watched)
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import zlib
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from gitwatch_tui.core.config import Config, Defaults
from gitwatch_tui.core.git import GitResult, RepoPaths, git_argv, git_env, run_git, terminate_all
from gitwatch_tui.core.models import RepoSpec

# An address that refuses at once (the discard port on loopback): fetch fails without waiting.
UNREACHABLE_URL = "http://127.0.0.1:9/nothing.git"
CONFLICT_REPO = "conflict-me"
STOP_TIMEOUT = 2.0  # seconds between SIGTERM and SIGKILL for the pusher
_GIT_TIMEOUT = 60.0

_BASE_DATE = 1714986000  # 2024-05-06 09:00 UTC: no demo history starts earlier
_TICK = 41 * 60  # each commit is 41 minutes after the one before


class DemoError(RuntimeError):
    """The demo sandbox could not be built (git failed, or the folder is in use)."""


@dataclass(frozen=True, slots=True)
class _Person:
    name: str
    email: str


MAYA = _Person("Maya Chen", "maya.chen@example.com")  # wrote the projects
TOM = _Person("Tom Okafor", "tom.okafor@example.com")  # pushed since you last pulled
YOU = _Person("Demo User", "you@example.com")  # your local, unpushed work
PRIYA = _Person("Priya Raman", "priya.raman@example.com")  # the pusher: a busy teammate


@dataclass(frozen=True, slots=True)
class _Project:
    name: str
    group: str
    state: str  # what the row shows right after create_sandbox
    blurb: str
    feature: str  # src/<package>/<feature>.py
    feature_message: str
    feature_code: str

    @property
    def package(self) -> str:
        return self.name.replace("-", "_")


_PROJECTS: tuple[_Project, ...] = (
    _Project(
        "storefront", "apps", "clean", "The customer-facing web shop.",
        "cart", "Add shopping cart totals",
        '"""Shopping cart totals."""\n\nfrom decimal import Decimal\n\n\n'
        "def cart_total(prices: list[Decimal], discount: Decimal = Decimal(0)) -> Decimal:\n"
        '    """Sum of the prices minus a discount, never below zero."""\n'
        "    return max(sum(prices, Decimal(0)) - discount, Decimal(0))\n",
    ),
    _Project(
        "admin-panel", "apps", "behind", "Back-office tools for the support team.",
        "orders", "List orders with pagination",
        '"""Order listing for the back office."""\n\nPAGE_SIZE = 50\n\n\n'
        "def page(orders: list[dict[str, str]], number: int) -> list[dict[str, str]]:\n"
        '    """One page of orders, numbered from 1."""\n'
        "    start = (number - 1) * PAGE_SIZE\n"
        "    return orders[start : start + PAGE_SIZE]\n",
    ),
    _Project(
        "mobile-api", "apps", "dirty", "The JSON API behind the mobile apps.",
        "devices", "Register push notification devices",
        '"""Push notification device registry."""\n\n_devices: dict[str, str] = {}\n\n\n'
        "def register(user_id: str, token: str) -> None:\n"
        '    """Remember the device token a user\'s phone gave us."""\n'
        "    _devices[user_id] = token\n",
    ),
    _Project(
        CONFLICT_REPO, "apps", "conflict",
        "A local commit and the remote both change `REQUEST_TIMEOUT` in\n"
        "src/conflict_me/settings.py, so pulling it (merge or rebase) stops on a conflict.",
        "settings", "Add service settings",
        '"""Service settings."""\n\nSERVICE_NAME = "conflict-me"\n'
        "# Both the remote and a local commit change the next line: pulling conflicts.\n"
        "REQUEST_TIMEOUT = 30\nRETRIES = 3\n",
    ),
    _Project(
        "http-client", "libs", "ahead", "A small HTTP client with sane defaults.",
        "session", "Add a session with timeouts",
        '"""HTTP session with timeouts."""\n\nimport urllib.request\n\n\n'
        "def get(url: str, timeout: float = 10.0) -> bytes:\n"
        '    """Fetch a URL and return the body."""\n'
        "    with urllib.request.urlopen(url, timeout=timeout) as response:\n"
        "        return bytes(response.read())\n",
    ),
    _Project(
        "auth-lib", "libs", "diverged", "Token issuing and verification.",
        "tokens", "Issue signed access tokens",
        '"""Signed access tokens."""\n\nimport hashlib\nimport hmac\n\n\n'
        "def sign(payload: bytes, key: bytes) -> str:\n"
        '    """The hex HMAC-SHA256 of the payload."""\n'
        "    return hmac.new(key, payload, hashlib.sha256).hexdigest()\n",
    ),
    _Project(
        "ui-kit", "libs", "stash", "Shared buttons, forms and colour tokens.",
        "theme", "Add colour theme tokens",
        '"""Colour tokens shared by every screen."""\n\n'
        'PRIMARY = "#3366FF"\nBACKGROUND = "#FFFFFF"\nTEXT = "#1A1A1A"\n',
    ),
    _Project(
        "config-loader", "libs", "detached", "Layered settings from files and the environment.",
        "loader", "Load settings from TOML files",
        '"""Settings loader."""\n\nimport tomllib\nfrom pathlib import Path\n\n\n'
        "def load(path: Path) -> dict[str, object]:\n"
        '    """Read one TOML settings file."""\n'
        "    return tomllib.loads(path.read_text())\n",
    ),
    _Project(
        "data-models", "libs", "clean", "Dataclasses shared by the services.",
        "models", "Add Order and Customer models",
        '"""Shared data models."""\n\nfrom dataclasses import dataclass\n\n\n'
        "@dataclass(frozen=True)\nclass Customer:\n    id: int\n    email: str\n\n\n"
        "@dataclass(frozen=True)\nclass Order:\n    id: int\n    customer: Customer\n"
        "    total_cents: int\n",
    ),
    _Project(
        "deploy-scripts", "infra", "clean", "Scripts that ship the services.",
        "deploy", "Add rolling deploy script",
        '"""Rolling deploys, one host at a time."""\n\nimport subprocess\n\n\n'
        "def deploy(hosts: list[str], version: str) -> None:\n"
        '    """Install `version` on each host in turn."""\n'
        "    for host in hosts:\n"
        '        subprocess.run(["ssh", host, "deploy", version], check=True)\n',
    ),
    _Project(
        "dns-manager", "infra", "no-upstream", "Keeps DNS records in sync with the inventory.",
        "records", "Sync A and CNAME records",
        '"""DNS records wanted for each host."""\n\nRECORD_TYPES = ("A", "CNAME")\n\n\n'
        "def wanted(hosts: dict[str, str]) -> list[tuple[str, str, str]]:\n"
        '    """(name, type, value) for every host, in name order."""\n'
        '    return [(name, "A", ip) for name, ip in sorted(hosts.items())]\n',
    ),
    _Project(
        "offsite-backup", "infra", "unreachable", "Nightly backups to the offsite store.",
        "backup", "Add nightly backup job",
        '"""The nightly backup job."""\n\nimport tarfile\nfrom pathlib import Path\n\n\n'
        "def backup(folder: Path, target: Path) -> None:\n"
        '    """Write a compressed tarball of `folder` to `target`."""\n'
        '    with tarfile.open(target, "w:gz") as tar:\n'
        "        tar.add(folder, arcname=folder.name)\n",
    ),
    _Project(
        "legacy-tools", "infra", "broken", "Old one-off scripts.",
        "tools", "", '"""Old one-off scripts."""\n',
    ),
)  # fmt: skip

DEMO_REPOS: tuple[str, ...] = tuple(project.name for project in _PROJECTS)
# The repos the pusher commits to, in round-robin order: the clean ones, and conflict-me, whose
# remote gets the contested line changed again each time.
LIVE_REPOS: tuple[str, ...] = (
    *(project.name for project in _PROJECTS if project.state == "clean"),
    CONFLICT_REPO,
)


def create_sandbox(root: Path) -> Config:
    """Create the demo repos under `root` and return a config that lists them.

    Raises:
        DemoError: `root` already holds a sandbox, or a git command failed.
    """
    root = root.absolute()
    if (root / "work").exists() or (root / "remotes").exists():
        raise DemoError(f"{root} already holds a demo sandbox")
    builders = [_Builder(root, project) for project in _PROJECTS]
    # Repos are independent (each has its own clock), so they are built a few at a time.
    with ThreadPoolExecutor(max_workers=4, thread_name_prefix="demo-setup") as pool:
        try:
            for _ in pool.map(_Builder.build, builders):
                pass
        except BaseException:  # a failure or Ctrl+C: do not build the rest first
            pool.shutdown(cancel_futures=True)
            raise
    specs = [RepoSpec(path=b.work, name=b.project.name, group=b.project.group) for b in builders]
    return Config(defaults=Defaults(poll_interval=20.0, fetch_timeout=10.0), repos=tuple(specs))


def start_pusher(root: Path, *, interval: float = 6.0) -> subprocess.Popen[bytes]:
    """Start the child process that pushes one commit to a live remote every `interval` s.

    It ends by itself when `root` disappears or this process dies; `stop_pusher` ends it now.
    Its stderr goes to `root/pusher.log`, never to the terminal the dashboard draws on.
    """
    root = root.absolute()
    argv = [sys.executable, "-m", "gitwatch_tui.demo", "push", str(root)]
    with open(root / "pusher.log", "ab") as log:
        return subprocess.Popen(
            [*argv, "--interval", repr(interval)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=log,
            start_new_session=True,  # Ctrl+C in the dashboard is not its business
        )


def stop_pusher(proc: subprocess.Popen[bytes]) -> None:
    """End the pusher: SIGTERM (it ends its git calls), then SIGKILL after a grace period."""
    if proc.poll() is None:  # not reaped yet, so the pid is still ours to signal
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
    proc.wait()


@contextlib.contextmanager
def demo_sandbox(*, pusher: bool = True, interval: float = 6.0) -> Iterator[Config]:
    """A sandbox in a new temp dir, with the pusher running; both are gone on exit."""
    root = Path(tempfile.mkdtemp(prefix="gitwatch-demo-"))
    proc: subprocess.Popen[bytes] | None = None
    try:
        config = create_sandbox(root)
        if pusher:
            proc = start_pusher(root, interval=interval)
        yield config
    finally:
        try:
            if proc is not None:
                stop_pusher(proc)
        finally:
            shutil.rmtree(root, ignore_errors=True)


def main(argv: Sequence[str]) -> int:
    """`python -m gitwatch_tui.demo push ROOT [--interval S]`: the pusher process."""
    parser = argparse.ArgumentParser(prog="python -m gitwatch_tui.demo")
    commands = parser.add_subparsers(dest="command", required=True)
    push = commands.add_parser("push", help="keep pushing commits to the sandbox's live remotes")
    push.add_argument("root", type=Path, help="the sandbox folder")
    push.add_argument("--interval", type=float, default=6.0, help="seconds between pushes")
    args = parser.parse_args(list(argv))
    return _run_pusher(args.root.absolute(), max(0.05, args.interval))


# --- building the sandbox -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Commit:
    message: str
    files: Mapping[str, str]  # path -> new text
    who: _Person = MAYA


def _history(project: _Project) -> list[_Commit]:
    """Four commits every project shares in shape: start, feature, tests, release."""
    pkg, feature = project.package, project.feature
    readme = f"# {project.name}\n\n{project.blurb}\n"
    return [
        _Commit("Initial commit", {
            "README.md": readme,
            ".gitignore": "__pycache__/\n*.pyc\n.venv/\ndist/\n",
            "CHANGELOG.md": "# Changelog\n",
            "pyproject.toml": _pyproject(project.name, "0.1.0"),
            f"src/{pkg}/__init__.py": f'"""{project.blurb}"""\n',
        }),
        _Commit(project.feature_message, {f"src/{pkg}/{feature}.py": project.feature_code}),
        _Commit(f"Add tests for {feature}", {f"tests/test_{feature}.py": (
            f"import {pkg}.{feature}\n\n\ndef test_module_is_documented() -> None:\n"
            f"    assert {pkg}.{feature}.__doc__\n"
        )}),
        _Commit("Release 0.2.0", {
            "pyproject.toml": _pyproject(project.name, "0.2.0"),
            "CHANGELOG.md": f"# Changelog\n\n## 0.2.0\n\n- {project.feature_message}\n",
        }),
    ]  # fmt: skip


def _pyproject(name: str, version: str) -> str:
    return f'[project]\nname = "{name}"\nversion = "{version}"\nrequires-python = ">=3.11"\n'


def _code(name: str) -> str:
    return next(project.feature_code for project in _PROJECTS if project.name == name)


_RETRY = (
    '"""Retries with exponential backoff."""\n\nimport time\nfrom collections.abc import '
    "Callable\n\n\ndef retry(call: Callable[[], bytes], attempts: int = 3) -> bytes:\n"
    '    """Call until it succeeds, sleeping 1 s, 2 s, 4 s... between attempts."""\n'
    "    for attempt in range(attempts - 1):\n        try:\n            return call()\n"
    "        except OSError:\n            time.sleep(2**attempt)\n    return call()\n"
)
_CONFLICT_FILE = "src/conflict_me/settings.py"

# Commits after the release that a teammate pushed and the work tree has fetched but not merged.
_UPSTREAM: dict[str, tuple[_Commit, ...]] = {
    "admin-panel": (
        _Commit("Show order status badges", {"src/admin_panel/badges.py": (
            '"""Status badges on the orders page."""\n\n'
            'COLOURS = {"paid": "green", "refunded": "grey", "failed": "red"}\n'
        )}, TOM),
        _Commit("Add a page count to the orders list", {"src/admin_panel/orders.py": (
            _code("admin-panel") + "\n\ndef page_count(total: int) -> int:\n"
            '    """How many pages `total` orders fill (at least one)."""\n'
            "    return max(1, -(-total // PAGE_SIZE))\n"
        )}, TOM),
    ),
    "auth-lib": (
        _Commit("Rotate signing keys every 24 hours", {"src/auth_lib/keys.py": (
            '"""Signing key rotation."""\n\nKEY_LIFETIME_SECONDS = 24 * 60 * 60\n'
        )}, TOM),
    ),
    CONFLICT_REPO: (
        _Commit("Raise request timeout to 45 s", {
            _CONFLICT_FILE: _code(CONFLICT_REPO).replace("TIMEOUT = 30", "TIMEOUT = 45"),
        }, TOM),
    ),
}  # fmt: skip

# Pushed after the release, by the project's author: config-loader's checkout of the v0.2.0
# tag sits two commits behind main.
_MORE_HISTORY: dict[str, tuple[_Commit, ...]] = {
    "config-loader": (
        _Commit("Read settings from environment variables", {"src/config_loader/env.py": (
            '"""Settings from the environment."""\n\nimport os\n\n\n'
            "def from_env(prefix: str) -> dict[str, str]:\n"
            '    """Every variable starting with `prefix`, prefix removed, lower-cased."""\n'
            "    n = len(prefix)\n"
            "    return {k[n:].lower(): v for k, v in os.environ.items() if k.startswith(prefix)}\n"
        )}),
        _Commit("Warn about unknown keys", {"src/config_loader/known.py": (
            '"""Keys the loader knows; others get a warning."""\n\n'
            'KNOWN_KEYS = frozenset({"debug", "port", "database_url"})\n'
        )}),
    ),
}  # fmt: skip

# Your own commits, not pushed: on main, except dns-manager's feature branch.
_LOCAL: dict[str, tuple[_Commit, ...]] = {
    "http-client": (
        _Commit("Add retry to http client", {"src/http_client/retry.py": _RETRY}, YOU),
        _Commit("Log retries at debug level", {"src/http_client/retry.py": (
            _RETRY.replace("import time\n", "import logging\nimport time\n").replace(
                "        except OSError:\n",
                "        except OSError as exc:\n"
                '            logging.getLogger(__name__).debug("retrying after %s", exc)\n',
            )
        )}, YOU),
    ),
    # Other files than the upstream commit: merging or rebasing goes through cleanly.
    "auth-lib": (
        _Commit("Support an audience claim in tokens", {"src/auth_lib/tokens.py": (
            _code("auth-lib") + "\n\ndef audience_ok(claims: dict[str, str], audience: str) "
            '-> bool:\n    return claims.get("aud") == audience\n'
        )}, YOU),
        _Commit("Document token lifetimes", {"README.md": (
            "# auth-lib\n\nToken issuing and verification.\n\nAccess tokens live 15 minutes.\n"
        )}, YOU),
    ),
    # The same line as the upstream commit: pulling stops on a conflict.
    CONFLICT_REPO: (
        _Commit("Lower request timeout to 15 s for faster failover", {
            _CONFLICT_FILE: _code(CONFLICT_REPO).replace("TIMEOUT = 30", "TIMEOUT = 15"),
        }, YOU),
    ),
    "dns-manager": (
        _Commit("Support TXT records", {"src/dns_manager/records.py": _code("dns-manager").replace(
            'RECORD_TYPES = ("A", "CNAME")', 'RECORD_TYPES = ("A", "CNAME", "TXT")'
        )}, YOU),
    ),
}  # fmt: skip
_LOCAL_BRANCH = {"dns-manager": "feature/txt-records"}  # never pushed: no upstream
_TAG = ("v0.2.0", "Release 0.2.0")  # on the release commit, checked out in config-loader

# Given on every set-up command: each beats anything in the repo's config that would change
# the result (signing prompts, hooks, line endings, auto-tracking).
_SETUP_CONFIG: tuple[str, ...] = (
    "commit.gpgSign=false",
    "tag.gpgSign=false",
    "core.hooksPath=/dev/null",
    "core.autocrlf=false",
    "core.fsmonitor=false",
    "protocol.file.allow=always",
    "advice.detachedHead=false",
)


class _Builder:
    """Runs the set-up git commands with a fixed clock, fixed identities and no user config.

    Histories are written with one `git fast-import` per repo rather than a commit and a push
    per change: about five git processes per repo instead of twenty.
    """

    def __init__(self, root: Path, project: _Project) -> None:
        self.root = root
        self.project = project
        self.work = root / "work" / project.group / project.name
        self.remote = root / "remotes" / f"{project.name}.git"
        # Each project's history starts at its own fixed time (from its name, so adding a
        # project changes no other's commits), one commit every _TICK seconds.
        self._start = _BASE_DATE + zlib.crc32(project.name.encode()) % (3 * 86400) // 60 * 60
        self._ticks = 0

    def _date(self) -> str:
        return f"{self._start + self._ticks * _TICK} +0000"

    def build(self) -> None:
        """Create the project's remote and history, clone it, then set up its state."""
        project, remote, work = self.project, self.remote, self.work
        if project.state == "broken":
            self._broken()
            return
        upstream = _UPSTREAM.get(project.name, ())
        local = _LOCAL.get(project.name, ())
        self.git(["init", "-q", "--bare", "--template=", "--initial-branch=main", str(remote)])
        tag = (_TAG, 4) if project.state == "detached" else None
        history = [*_history(project), *_MORE_HISTORY.get(project.name, ())]
        self.fast_import(remote, "refs/heads/main", [*history, *upstream], tag=tag)
        work.parent.mkdir(parents=True, exist_ok=True)
        # `--config` lands in the work tree's own config: a newcomer with no identity, or with
        # commit signing set up globally, can still merge or rebase inside the sandbox.
        self.git(["clone", "-q", "--template=", "--origin", "origin", "--branch", "main",
                  "--config", f"user.name={YOU.name}", "--config", f"user.email={YOU.email}",
                  "--config", "commit.gpgSign=false", str(remote), str(work)])  # fmt: skip
        # Commits the remote has that you have fetched but not merged: main starts before them.
        base = f"refs/remotes/origin/main~{len(upstream)}"
        branch = _LOCAL_BRANCH.get(project.name)
        if branch:
            self.fast_import(work, f"refs/heads/{branch}", local, start=base)
            self.git(["checkout", "-q", branch], work)
        elif local:
            self.fast_import(work, "refs/heads/main", local, start=base)
            self.git(["reset", "-q", "--hard", "HEAD"], work)  # the work tree follows main
        elif upstream:
            self.git(["reset", "-q", "--hard", base], work)
        _EXTRAS.get(project.state, _nothing)(self, project, work)

    def git(
        self, args: Sequence[str], repo: Path | None = None, *, stdin: bytes = b""
    ) -> GitResult:
        """Run one set-up git command (in `repo` if given); raise DemoError if it fails."""
        # Stashes take their dates from here; fast-import is given its own.
        env = _env(YOU, date=self._date())
        # Only the bare remotes end in .git; work trees never do.
        pin = RepoPaths.of(repo, bare=repo.suffix == ".git") if repo is not None else None
        argv = git_argv([*_config_args(YOU), *args], pin, background=False)
        # Plain subprocess.run rather than run_git: fast-import needs its stream on stdin.
        try:
            proc = subprocess.run(
                argv, input=stdin, capture_output=True, env=env, timeout=_GIT_TIMEOUT
            )
        except subprocess.TimeoutExpired:
            raise DemoError(f"demo set-up: git {args[0]} timed out") from None
        result = GitResult(
            tuple(args), proc.returncode, proc.stdout, proc.stderr.decode(errors="replace"), 0.0
        )
        if not result.ok:
            where = repo.relative_to(self.root) if repo is not None else "the sandbox"
            raise DemoError(
                f"demo set-up: git {' '.join(args)} failed in {where}: {result.error_text}"
            )
        return result

    def fast_import(
        self,
        repo: Path,
        ref: str,
        commits: Sequence[_Commit],
        *,
        start: str | None = None,
        tag: tuple[tuple[str, str], int] | None = None,
    ) -> None:
        """Write `commits` onto `ref`, the first one's parent being `start`.

        Args:
            tag: ((name, message), n) puts an annotated tag on the n-th commit (from 1).
        """
        stream = bytearray()
        for number, commit in enumerate(commits, 1):
            self._ticks += 1
            when = f"{commit.who.name} <{commit.who.email}> {self._date()}"
            stream += f"commit {ref}\nmark :{number}\n".encode()
            stream += f"author {when}\ncommitter {when}\n".encode()
            stream += _data(commit.message + "\n")
            if number == 1 and start is not None:
                stream += f"from {start}^0\n".encode()
            for path, text in commit.files.items():
                stream += f"M 100644 inline {path}\n".encode() + _data(text) + b"\n"
            stream += b"\n"
        if tag is not None:
            (name, message), number = tag
            stream += f"tag {name}\nfrom :{number}\n".encode()
            stream += f"tagger {MAYA.name} <{MAYA.email}> {self._date()}\n".encode()
            stream += _data(message + "\n")
        stream += b"done\n"
        # --force: main moves back to before the fetched upstream commits, not forward.
        self.git(["fast-import", "--quiet", "--force", "--done"], repo, stdin=bytes(stream))

    def _broken(self) -> None:
        """A work tree whose `.git` file points at a linked-worktree dir that is gone."""
        project, work = self.project, self.work
        (work / "bin").mkdir(parents=True)
        (work / "README.md").write_text(f"# {project.name}\n\n{project.blurb}\n", newline="\n")
        (work / "bin" / "rotate-logs.sh").write_text(
            "#!/bin/sh\nfind /var/log/app -name '*.log' -mtime +7 -delete\n", newline="\n"
        )
        (work / ".git").write_text(
            "gitdir: ../../../old-checkout/.git/worktrees/legacy-tools\n", newline="\n"
        )


def _env(who: _Person, date: str | None = None) -> dict[str, str]:
    """The environment for demo git calls: `who` commits, and the user's config is not read."""
    env = {k: v for k, v in os.environ.items() if k != "GIT_TEMPLATE_DIR"}
    env.update(
        GIT_CONFIG_GLOBAL=os.devnull,
        GIT_CONFIG_NOSYSTEM="1",
        GIT_AUTHOR_NAME=who.name,
        GIT_AUTHOR_EMAIL=who.email,
        GIT_COMMITTER_NAME=who.name,
        GIT_COMMITTER_EMAIL=who.email,
    )
    if date is not None:
        env.update(GIT_AUTHOR_DATE=date, GIT_COMMITTER_DATE=date)
    return git_env(background=False, base=env)


def _config_args(who: _Person) -> list[str]:
    """`-c` options that beat any repo config that would change the result; with the user's
    config not read at all (see `_env`), they also hold for a git too old to skip it."""
    config = [f"user.name={who.name}", f"user.email={who.email}", *_SETUP_CONFIG]
    return [part for item in config for part in ("-c", item)]


def _data(text: str) -> bytes:
    """A fast-import `data` block: the exact byte count, then the bytes."""
    raw = text.encode("utf-8")
    return f"data {len(raw)}\n".encode() + raw


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8", newline="\n")


def _nothing(builder: _Builder, project: _Project, work: Path) -> None:
    """Clean, or fully set up by its commits."""


def _dirty(builder: _Builder, project: _Project, work: Path) -> None:
    """Two staged changes, one unstaged, one untracked file."""
    pkg = work / "src" / project.package
    _write(pkg / "rate_limit.py", '"""Per-client rate limits."""\n\nREQUESTS_PER_MINUTE = 120\n')
    _write(pkg / "devices.py", project.feature_code.replace("= {}", "= {}  # user -> token"))
    builder.git(["add", "--", f"src/{project.package}"], work)
    _write(work / "README.md", f"# {project.name}\n\n{project.blurb}\n\nRun: `make serve`.\n")
    _write(work / "TODO.md", "- rate limit the login endpoint\n")


def _stash(builder: _Builder, project: _Project, work: Path) -> None:
    """Clean, with two stashed experiments."""
    theme = work / "src" / project.package / "theme.py"
    _write(theme, project.feature_code + 'DARK_BACKGROUND = "#121212"\n')
    builder.git(["stash", "push", "-q", "-m", "WIP: dark mode colours"], work)
    _write(work / "README.md", f"# {project.name}\n\n{project.blurb}\n\nButtons: focus ring.\n")
    builder.git(["stash", "push", "-q", "-m", "WIP: focus ring on buttons"], work)


def _detached(builder: _Builder, project: _Project, work: Path) -> None:
    """The release tag checked out, two commits behind main."""
    builder.git(["checkout", "-q", _TAG[0]], work)


def _unreachable(builder: _Builder, project: _Project, work: Path) -> None:
    """Its remote moved to an address that refuses, so every fetch fails."""
    builder.git(["remote", "set-url", "origin", UNREACHABLE_URL], work)
    shutil.rmtree(builder.remote)


_EXTRAS = {
    "dirty": _dirty,
    "stash": _stash,
    "detached": _detached,
    "unreachable": _unreachable,
}


# --- the pusher process -------------------------------------------------------------------

_PUSH_MESSAGES = (
    "Tighten input validation",
    "Update dependencies",
    "Improve error messages",
    "Speed up start-up",
    "Add missing type hints",
    "Clarify install steps in README",
    "Fix flaky test",
)
_TIMEOUT_LINE = re.compile(r"^REQUEST_TIMEOUT = (\d+)$", re.MULTILINE)


def _run_pusher(root: Path, interval: float) -> int:
    parent = os.getppid()

    def on_term(signum: int, frame: FrameType | None) -> None:
        terminate_all()  # each git call runs in its own session: end them too
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, on_term)
    count = 0
    while _wait(interval, root, parent):
        name = LIVE_REPOS[count % len(LIVE_REPOS)]
        try:
            _push_once(root, name, count)
        except (DemoError, OSError) as exc:
            if not _alive(root, parent):
                break
            print(f"pusher: {exc}", file=sys.stderr, flush=True)  # goes to pusher.log
        count += 1
    return 0


def _alive(root: Path, parent: int) -> bool:
    """The sandbox still exists and whoever started us is still running."""
    return os.getppid() == parent and (root / "remotes").is_dir()


def _wait(interval: float, root: Path, parent: int) -> bool:
    """Sleep `interval` seconds, checking often; False as soon as it is time to stop."""
    deadline = time.monotonic() + interval
    while _alive(root, parent):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return True
        time.sleep(min(remaining, 0.2))
    return False


def _push_git(args: Sequence[str], repo: Path | None) -> None:
    # run_git: each call in its own process group that terminate_all() can end on SIGTERM.
    result = run_git(
        [*_config_args(PRIYA), *args],
        RepoPaths.of(repo) if repo else None,
        timeout=_GIT_TIMEOUT,
        background=False,
        env=_env(PRIYA),  # the time is now: these commits are news
    )
    if not result.ok:
        raise DemoError(f"git {' '.join(args)}: {result.error_text}")


def _push_once(root: Path, name: str, count: int) -> None:
    """One new commit on the remote's main, made in the pusher's own scratch clone."""
    scratch = root / "pusher" / name
    remote = root / "remotes" / f"{name}.git"
    if not (scratch / ".git").is_dir():
        shutil.rmtree(scratch, ignore_errors=True)  # a clone cut short last time
        # No `parents=True` here or below: with the sandbox deleted under us, recreating
        # folders would leave part of it behind. Failing is the way out.
        scratch.parent.mkdir(exist_ok=True)
        scratch.mkdir()
        _push_git(["clone", "-q", "--template=", "--origin", "origin", "--branch", "main",
                   str(remote), str(scratch)], None)  # fmt: skip
    else:
        # Start from whatever the remote has now: you may have pushed to it from the demo.
        _push_git(["fetch", "-q", "origin"], scratch)
        _push_git(["reset", "-q", "--hard", "origin/main"], scratch)
    if name == CONFLICT_REPO:
        path = scratch / _CONFLICT_FILE
        text = path.read_text(encoding="utf-8") if path.exists() else ""
        match = _TIMEOUT_LINE.search(text)
        seconds = int(match.group(1)) + 5 if match else 45
        text = (
            _TIMEOUT_LINE.sub(f"REQUEST_TIMEOUT = {seconds}", text, count=1)
            if match
            else text + f"REQUEST_TIMEOUT = {seconds}\n"
        )
        path.write_text(text, encoding="utf-8", newline="\n")
        message = f"Set request timeout to {seconds} s"
        changed = _CONFLICT_FILE
    else:
        number = 101 + count
        message = f"{_PUSH_MESSAGES[count % len(_PUSH_MESSAGES)]} (#{number})"
        with open(scratch / "CHANGELOG.md", "a", encoding="utf-8", newline="\n") as changelog:
            changelog.write(f"- {message}\n")
        changed = "CHANGELOG.md"
    _push_git(["add", "--", changed], scratch)
    _push_git(["commit", "-q", "--no-verify", "-m", message], scratch)
    _push_git(["push", "-q", "origin", "HEAD:refs/heads/main"], scratch)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
