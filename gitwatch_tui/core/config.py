"""The config's typed, frozen settings, the config used without a file, and the rule that a
config must name some repo.

Finding and reading the file is in `config_file`; YAML text becomes these settings in
`config_yaml`. Both import this module, never the other way round.
"""

from __future__ import annotations

import os
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from gitwatch_tui.core.errors import ConfigError, ConfigProblem
from gitwatch_tui.core.models import RepoSpec, ScanRoot, SourceLocation
from gitwatch_tui.core.secrets import SecretSource

DEFAULT_SCAN_DEPTH = 3


@dataclass(frozen=True, slots=True)
class Defaults:
    """Settings for every repository unless it overrides them (times in seconds)."""

    poll_interval: float = 300.0
    fetch_timeout: float = 30.0
    clone_timeout: float = 600.0
    status_timeout: float = 20.0
    # Shell loops reading statuses at once; None: see `status_loops`.
    status_concurrency: int | None = None
    fetch_concurrency: int = 8
    # Every repo's status is re-read once in this period, spread evenly: what file watching
    # missed shows within it. None: 30 min, or a second a repo where that is longer.
    audit_period: float | None = None

    def status_loops(self, *, alone: bool = False) -> int:
        """How many shell loops read statuses at once: what the user set, else one per core,
        and one more in a process that does nothing else (the head start's child). Each loop
        leaves its core idle while it makes its next command lines; the extra loop's git fills
        that. In the UI's process its Python would hold keys back; `status`, at the lower
        bound already, gained nothing measurable."""
        if self.status_concurrency is not None:
            return self.status_concurrency
        cores = os.cpu_count() or 2
        return cores + 1 if alone else cores


WEBHOOK_PROVIDERS: tuple[str, ...] = ("github", "gitlab", "gitea", "generic")
DEFAULT_LISTEN = "127.0.0.1:8787"


@dataclass(frozen=True, slots=True)
class RateLimit:
    """A token bucket: bursts of up to `requests`, refilled at `requests` per `per` seconds."""

    requests: int = 50
    per: float = 1.0


@dataclass(frozen=True, slots=True)
class ServerSettings:
    """The daemon's HTTP server (webhooks, /metrics, /api). `listen` None: no server.

    `secret_envs` maps a webhook provider to the environment variable holding its secret (the
    GitLab token), `secret_files` to the file holding it; the value itself is read only when
    the server starts, so it never sits in the config. A provider without an entry is disabled.

    `rate` limits each provider's correctly signed deliveries; `unauthenticated_rate` limits,
    per client, the requests that fail the signature check (stricter). The client is the TCP
    peer, or the `X-Forwarded-For` address when the peer is in `trusted_proxies` (addresses or
    CIDRs). The timeouts and `max_connections` hold slow and idle connections to account.
    """

    listen: str | None = DEFAULT_LISTEN
    max_body: int = 1_048_576
    rate: RateLimit = RateLimit()
    unauthenticated_rate: RateLimit = RateLimit(requests=20, per=60.0)
    trusted_proxies: tuple[str, ...] = ()
    header_timeout: float = 10.0
    body_timeout: float = 10.0
    keepalive_timeout: float = 75.0
    max_connections: int = 256
    shutdown_grace: float = 10.0
    secret_envs: tuple[tuple[str, str], ...] = ()
    secret_files: tuple[tuple[str, Path], ...] = ()

    def secret_env(self, provider: str) -> str | None:
        return dict(self.secret_envs).get(provider)

    def secret_sources(self) -> tuple[tuple[str, SecretSource], ...]:
        """Each enabled provider and where its secret comes from."""
        envs = [(p, SecretSource(env=name)) for p, name in self.secret_envs]
        return (*envs, *((p, SecretSource(file=path)) for p, path in self.secret_files))


def parse_listen(text: str) -> tuple[str, int]:
    """`HOST:PORT`, `[IPv6]:PORT` or a bare `PORT` (loopback) to (host, port); ValueError."""
    raw = text.strip()
    if raw.isdigit():
        host, port = "127.0.0.1", raw
    elif raw.startswith("["):
        host, sep, port = raw[1:].partition("]:")
        if not sep:
            raise ValueError(f"invalid address '{text}'; use [::1]:8787")
    else:
        host, sep, port = raw.rpartition(":")
        if not sep or ":" in host:
            raise ValueError(f"invalid address '{text}'; use HOST:PORT, e.g. 127.0.0.1:8787")
    if not host:
        # An empty host would bind every interface: say so explicitly instead (0.0.0.0).
        raise ValueError(f"invalid address '{text}': the host is missing (0.0.0.0 for all)")
    if not port.isdigit() or int(port) > 65535:
        raise ValueError(f"invalid port in '{text}': expected 0-65535")
    return host, int(port)


NOTIFY_KINDS: tuple[str, ...] = (
    "sync-failed",
    "circuit-opened",
    "auto-sync-applied",
    "pipeline-failed",
    "conflict-appeared",
)


_HTTP_URL = re.compile(r"https?://[^/\s]+")


def is_http_url(text: str) -> bool:
    """Whether `text` is an http:// or https:// URL with a host."""
    return _HTTP_URL.match(text) is not None


@dataclass(frozen=True, slots=True)
class WebhookTarget:
    """An outgoing JSON webhook at `url`, or at the URL read from `url_file` at send time.
    The URL often holds a token (Slack): kept out of repr."""

    url: str = field(default="", repr=False)
    timeout: float = 10.0
    retries: int = 3
    url_file: Path | None = None


@dataclass(frozen=True, slots=True)
class EmailTarget:
    """SMTP delivery; the login comes from the environment variables or files named, read at
    send time (a rotated file is picked up)."""

    host: str
    sender: str  # `from:` in the config
    to: tuple[str, ...]
    port: int = 587
    starttls: bool = True
    tls: bool = False  # implicit TLS from the first byte (port 465)
    username_env: str | None = None
    password_env: str | None = None
    timeout: float = 30.0
    username_file: Path | None = None
    password_file: Path | None = None

    def login_sources(self) -> tuple[SecretSource | None, SecretSource | None]:
        """Where the user name and the password come from; None: not configured."""
        return (
            _source(self.username_env, self.username_file),
            _source(self.password_env, self.password_file),
        )


@dataclass(frozen=True, slots=True)
class NotifyRate:
    """One message per repo and kind per `window` (repeats counted and reported after it),
    and at most `max_per_hour` messages in all."""

    window: float = 900.0
    max_per_hour: int = 60


@dataclass(frozen=True, slots=True)
class NotifySettings:
    """What to notify about (`on`) and where; no target means no notifications."""

    on: tuple[str, ...] = NOTIFY_KINDS
    webhook: WebhookTarget | None = None
    email: EmailTarget | None = None
    rate: NotifyRate = NotifyRate()

    @property
    def enabled(self) -> bool:
        return bool(self.on) and (self.webhook is not None or self.email is not None)


# The single-repo tools `t` hands over to, the first one installed (else the shell).
DEFAULT_HANDOFF: tuple[str, ...] = ("lazygit", "gitui", "tig")
DEFAULT_RUN_CONCURRENCY = 4


@dataclass(frozen=True, slots=True)
class SavedCommand:
    """A command kept in the config for run-anywhere (`!`): a shell line run in each repo."""

    name: str
    run: str


@dataclass(frozen=True, slots=True)
class Config:
    """The whole config; `source` is the file it came from, None for the built-in default.

    `theme` is only a name: the UI checks it against the themes it has (core knows none).
    """

    defaults: Defaults = field(default_factory=Defaults)
    scan: tuple[ScanRoot, ...] = ()
    repos: tuple[RepoSpec, ...] = ()
    theme: str | None = None
    server: ServerSettings = ServerSettings()
    notify: NotifySettings = NotifySettings()
    source: Path | None = None
    # Where `repos:` is written (None: nowhere), and whether it holds a list: only `repos: []`
    # empties the watch list on purpose; a bare `repos:` may be a file still being written.
    repos_key: SourceLocation | None = None
    repos_listed: bool = False
    # -- hand-off and run anywhere --
    handoff: tuple[str, ...] = DEFAULT_HANDOFF
    commands: tuple[SavedCommand, ...] = ()
    run_concurrency: int = DEFAULT_RUN_CONCURRENCY


def refuse_no_repos(config: Config, found: Collection[RepoSpec]) -> None:
    """Raise ConfigError when the config resolves to no repos (`found`) without saying so.

    An empty or comments-only file, a bare `repos:` and scan folders with nothing in them are
    more often a file caught half written, or a mistake, than a wish to watch nothing: only
    `repos: []` says that. The error points at `repos:`, else at line 1.
    """
    if found or config.repos_listed:
        return
    name = str(config.source) if config.source is not None else "config"
    where = config.repos_key or SourceLocation(name, 1, 1)
    message = (
        "no repos to watch: no `repos:` entries, and no repo found in the `scan:` folders; "
        "write `repos: []` to watch none on purpose"
    )
    raise ConfigError([ConfigProblem(where, message)])


def default_config(cwd: Path) -> Config:
    """The config used when there is no file: scan `cwd`, no explicit repos."""
    root = ScanRoot(path=cwd.absolute(), depth=DEFAULT_SCAN_DEPTH, group_by_folder=True)
    return Config(scan=(root,))


def expand_user(raw: str, env: Mapping[str, str]) -> str:
    """`raw` with a leading `~` made the home folder, `$HOME` taken from `env`."""
    if raw == "~" or raw.startswith("~/"):
        return (env.get("HOME") or str(Path.home())) + raw[1:]
    return os.path.expanduser(raw)  # `~user/...`


def _source(env: str | None, file: Path | None) -> SecretSource | None:
    if env is None and file is None:
        return None
    return SecretSource(env=env) if env is not None else SecretSource(file=file)
