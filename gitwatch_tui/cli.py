"""Command line entry point: `gitwatch-tui [status] ...`.

Heavy imports (rich, Textual, aiohttp) happen inside the sub-command that needs them, so that
`status --json` starts in a few tens of milliseconds.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from gitwatch_tui import __version__
from gitwatch_tui.core.config import DEFAULT_SCAN_DEPTH, Config, NotifySettings, default_config
from gitwatch_tui.core.config_file import load_config, resolve_config_path
from gitwatch_tui.core.errors import ConfigError
from gitwatch_tui.core.git import looks_bare, resolve_git_dir
from gitwatch_tui.core.models import RepoSpec, RepoStatus, ScanRoot
from gitwatch_tui.engine.events import SyncState
from gitwatch_tui.engine.repo_state import TROUBLE, RepoState, StateWord, fetched, repo_state

if TYPE_CHECKING:  # imported by the sub-commands that use them: they cost start-up time
    from gitwatch_tui.core.remotes import FetchOutcome
    from gitwatch_tui.engine.engine import Engine
    from gitwatch_tui.engine.history import FetchTimes
    from gitwatch_tui.server.app import Services
    from gitwatch_tui.server.notify import Notifier

EXIT_OK, EXIT_REPO_ERROR, EXIT_USAGE = 0, 1, 2
STATUS_FORMATS = ("table", "tsv", "json")
SHELLS = ("bash", "zsh", "fish")
TSV_COLUMNS = (
    "name", "group", "path", "branch", "upstream", "ahead", "behind", "staged", "unstaged",
    "untracked", "conflicted", "stash", "last_fetch", "state", "error",
)  # fmt: skip


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gitwatch-tui",
        description="Watch many git repositories at once and keep them in sync.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument(
        "--config",
        metavar="PATH",
        help="config file (default: $GITWATCH_TUI_CONFIG, else ~/.config/gitwatch-tui/"
        "config.yaml; without one, the repos under the current folder)",
    )
    parser.add_argument(
        "--demo",
        action="store_true",
        help="open the dashboard on a throw-away sandbox of demo repos (removed on exit)",
    )
    _add_depth(parser)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    dashboard = commands.add_parser(
        "dashboard",
        help="the live dashboard (the default command)",
        description="Open the dashboard on the config's repos, or on the repos under PATHs.",
    )
    dashboard.add_argument("paths", nargs="*", metavar="PATH", help="repos, or folders to scan")
    _add_depth(dashboard, default=argparse.SUPPRESS)
    dashboard.add_argument(
        "--config", metavar="PATH", default=argparse.SUPPRESS, help="config file"
    )
    dashboard.add_argument(
        "--listen",
        metavar="HOST:PORT",
        help="also serve webhooks, /metrics and /api here, as the daemon does",
    )
    status = commands.add_parser(
        "status",
        help="print the status of every watched repo",
        description="Print one line per repo: branch, upstream, ahead/behind, changes, stash, "
        "last fetch, errors. Exit status 1 when any repo is in error.",
    )
    status.add_argument("paths", nargs="*", metavar="PATH", help="repos, or folders to scan")
    _add_depth(status, default=argparse.SUPPRESS)
    status.add_argument(
        "--format",
        choices=STATUS_FORMATS,
        help="table (the default; one unwrapped line per repo when not on a terminal), "
        "tsv (tab-separated, a header line first) or json (one object per line)",
    )
    status.add_argument("--json", action="store_true", help="the same as --format json")
    status.add_argument("--fetch", action="store_true", help="fetch every repo first")
    status.add_argument(
        "--branches",
        action="store_true",
        help="with --json: every local branch with its upstream and ahead/behind "
        "(one more git call per repo)",
    )
    status.add_argument("--config", metavar="PATH", default=argparse.SUPPRESS, help="config file")
    watch = commands.add_parser(
        "watch",
        help="run the sync engine headless and print what it does",
        description="Poll, fetch and (where the config allows) fast-forward every watched "
        "repo, pick up local changes, reload the config when it changes; print one line "
        "per event until interrupted.",
    )
    watch.add_argument("paths", nargs="*", metavar="PATH", help="repos, or folders to scan")
    _add_depth(watch, default=argparse.SUPPRESS)
    watch.add_argument("--json", action="store_true", help="one JSON object per event")
    watch.add_argument("--config", metavar="PATH", default=argparse.SUPPRESS, help="config file")
    completion = commands.add_parser(
        "completion",
        help="print the shell code that completes gitwatch-tui's commands and options",
        description="Print the completion code for SHELL. bash: add "
        '`eval "$(gitwatch-tui completion bash)"` to ~/.bashrc; zsh: the same with zsh, in '
        "~/.zshrc; fish: `gitwatch-tui completion fish | source` in config.fish.",
    )
    completion.add_argument("shell", choices=SHELLS)
    daemon = commands.add_parser(
        "daemon",
        help="run the engine and its webhook, /metrics and /api server as a service",
        description="Run the sync engine with no UI and serve webhooks, /metrics and /api "
        "(127.0.0.1:8787 unless the config's server.listen says otherwise). Logs one JSON "
        "object per line to stderr; SIGTERM or SIGINT stops it cleanly, SIGHUP reloads the "
        "config. Exit status: 0 stopped, 78 bad config, 75 port in use, 69 cannot listen.",
    )
    daemon.add_argument("--config", metavar="PATH", default=argparse.SUPPRESS, help="config file")
    daemon.add_argument("--listen", metavar="HOST:PORT", help="serve here instead")
    daemon.add_argument(
        "--verbose", action="store_true", help="also log each fetch's start and end of phase"
    )
    return parser


def _add_depth(parser: argparse.ArgumentParser, default: object = None) -> None:
    parser.add_argument(
        "--depth",
        type=_depth,
        metavar="N",
        default=default,
        help=f"how many folder levels to search for repos (default {DEFAULT_SCAN_DEPTH})",
    )


def _depth(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 20:
        raise argparse.ArgumentTypeError(f"expected a number of levels from 1 to 20, got {text!r}")
    return int(text)


COMMANDS = ("dashboard", "status", "watch", "completion", "daemon")
OPTIONS_WITH_VALUE = ("--config", "--depth")


def with_command(argv: Sequence[str]) -> list[str]:
    """`gitwatch-tui ~/src ~/work` is `gitwatch-tui dashboard ~/src ~/work`: a first word that
    is no command is a folder for the dashboard."""
    args = list(argv)
    index = 0
    while index < len(args):
        word = args[index]
        if word in OPTIONS_WITH_VALUE:
            index += 2
        elif word.startswith("-"):
            index += 1
        else:
            if word not in COMMANDS:
                args.insert(index, "dashboard")
            break
    return args


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    if "_ARGCOMPLETE" in os.environ:  # the shell asks for completions: answer, then exit
        import argcomplete

        argcomplete.autocomplete(parser)
    args = parser.parse_args(with_command(sys.argv[1:] if argv is None else argv))
    if args.demo:
        return demo_command()
    if args.command == "completion":
        from argcomplete.shell_integration import shellcode

        sys.stdout.write(shellcode(["gitwatch-tui"], shell=args.shell))
        return EXIT_OK
    if args.command == "daemon":  # it loads its own config: a bad one exits 78, logged as JSON
        from gitwatch_tui.core.early_signals import catch

        catch()  # a stop during the imports below is a clean stop too
        from gitwatch_tui.server.daemon import run_daemon

        return run_daemon(args.config, args.listen, verbose=args.verbose)
    try:
        config = _load_config(args.config)
    except ConfigError as error:
        print(f"gitwatch-tui: bad config:\n{error}", file=sys.stderr)
        return EXIT_USAGE
    paths = getattr(args, "paths", [])
    if args.command in (None, "dashboard"):
        paths = dashboard_folders(config, paths)
    config = with_depth(with_paths(config, paths), args.depth)
    if args.command == "status":
        output = "json" if args.json else args.format or "table"
        if args.branches and output != "json":
            print("gitwatch-tui: --branches goes with --json", file=sys.stderr)
            return EXIT_USAGE
        return status_command(config, output=output, fetch_first=args.fetch, branches=args.branches)
    if args.command == "watch":
        from gitwatch_tui.engine.headless import run_headless

        return run_headless(config, as_json=args.json)
    return dashboard_command(config, paths, getattr(args, "listen", None))


def dashboard_command(config: Config, paths: Sequence[str], listen: str | None = None) -> int:
    """`gitwatch-tui [dashboard] [PATH...]`: the live dashboard (Textual is imported here).
    `config` has the `paths` in it already (`with_paths`); they are named in the header."""
    if not sys.stdout.isatty():
        # Piped or scripted: no screen to draw on, so print the same repos as a table.
        return status_command(config)
    from gitwatch_tui.core.early_signals import catch
    from gitwatch_tui.engine.head_start import HeadStart
    from gitwatch_tui.engine.state_dir import DASHBOARD_SNAPSHOT

    # From here git runs: a hang-up or TERM before the app can stop cleanly waits for it.
    catch()
    # git reads every status while Textual is imported and the first frame is drawn.
    head_start = HeadStart.begin(config, snapshot=DASHBOARD_SNAPSHOT)
    from gitwatch_tui.ui.app import OPEN_DEMO, build_app
    from gitwatch_tui.ui.collector import Collector

    where = ", ".join(paths) if paths else None
    notify = config.notify != NotifySettings()  # a `notify:` section
    services = _serving(listen, notify=notify) if listen or notify else None
    app = build_app(
        config,
        where=where,
        head_start=head_start,
        services=services,
        stop_on_signals=True,
        collector=Collector(),
    )
    result = app.run()
    if result == OPEN_DEMO:  # asked for from the empty dashboard
        return demo_command()
    return result or EXIT_OK


@dataclass(frozen=True, slots=True)
class Companions:
    """What runs next to the dashboard's engine: the server, the notifier, or both."""

    services: Services | None = None
    notifier: Notifier | None = None

    @property
    def url(self) -> str | None:
        """The server's base URL; None when only the notifier runs."""
        return self.services.url if self.services is not None else None

    async def stop(self) -> None:
        """The server first (no new work comes in), then the notifier's deliveries end."""
        if self.services is not None:
            await self.services.stop()
        if self.notifier is not None:
            await self.notifier.aclose()


def _serving(
    listen: str | None, *, notify: bool = False
) -> Callable[[Engine], Awaitable[Companions]]:
    """Starts, next to the dashboard's engine, the daemon's server (webhooks, /metrics, /api)
    on `listen`, and with `notify` the notifier that follows the config's `notify:`."""

    async def start(engine: Engine) -> Companions:
        # Imported here, once the first frame is up: aiohttp costs about 0.1 s to import.
        from gitwatch_tui.server.app import start_services
        from gitwatch_tui.server.notify import start_notifier

        notifier = start_notifier(engine.events, engine.config.notify) if notify else None
        services: Services | None = None
        try:
            if listen:
                services = await start_services(engine, engine.config, listen=listen)
        except BaseException:
            # The app only reports the error: nothing it started may be left running.
            if notifier is not None:
                await notifier.aclose()
            raise
        return Companions(services, notifier)

    return start


def demo_command() -> int:
    """`gitwatch-tui --demo`: the dashboard over a sandbox that a background pusher keeps
    changing; the sandbox goes when the dashboard closes."""
    import tempfile

    from gitwatch_tui.demo import demo_sandbox
    from gitwatch_tui.ui.app import build_app
    from gitwatch_tui.ui.collector import Collector

    with (
        demo_sandbox() as config,
        tempfile.TemporaryDirectory(prefix="gitwatch-demo-state-") as state,
    ):
        # Demo history and locks stay in the sandbox, away from the user's own state.
        app = build_app(
            config, state_dir=Path(state), where="the demo sandbox", collector=Collector()
        )
        return app.run() or EXIT_OK


def _load_config(cli_path: str | None) -> Config:
    """The config file's settings; the repos under the current folder when it names none (a
    file with only `defaults:` or a theme is read as no config at all, for the repos)."""
    path = resolve_config_path(cli_path)
    if path is None:
        return default_config(Path.cwd())
    config = load_config(path)
    if not config.repos and not config.scan:
        return replace(config, scan=default_config(Path.cwd()).scan)
    return config


def names_repos(config: Config) -> bool:
    """The config file lists repos or folders itself (it is not the no-config default)."""
    return config.source is not None and config.scan != default_config(Path.cwd()).scan


def dashboard_folders(config: Config, paths: Sequence[str]) -> list[str]:
    """What the dashboard opens on: the PATHs named (their folders remembered for next time);
    else the config's repos; else the remembered folders, the current one, or the folder
    that holds the repo we are in (`starting_folders`)."""
    from gitwatch_tui.core.starting_folders import remember_folders, starting_folders
    from gitwatch_tui.engine.state_dir import default_state_dir

    state_dir = default_state_dir()
    if paths:
        named = [Path(raw).expanduser().absolute() for raw in paths]
        folders = [p for p in named if p.is_dir() and not resolve_git_dir(p) and not looks_bare(p)]
        if folders:
            remember_folders(state_dir, folders)
        return list(paths)
    if names_repos(config):
        return []
    return [str(folder) for folder in starting_folders(Path.cwd(), state_dir)]


def with_paths(config: Config, paths: Sequence[str]) -> Config:
    """The config, with its watch list replaced by the paths named on the command line (a path
    that is a repo is taken as is, any other folder is scanned); its defaults are kept."""
    if not paths:
        return config
    explicit: list[RepoSpec] = []
    roots: list[ScanRoot] = []
    for raw in paths:
        path = Path(raw).expanduser().absolute()
        if resolve_git_dir(path) is not None or looks_bare(path) or not path.is_dir():
            explicit.append(RepoSpec(path=path, name=path.name or str(path)))
        else:
            roots.append(ScanRoot(path=path, group_by_folder=True))
    return replace(config, repos=tuple(explicit), scan=tuple(roots), source=None)


def with_depth(config: Config, depth: int | None) -> Config:
    """The config with every scanned folder searched `depth` levels deep (None: as it says)."""
    if depth is None:
        return config
    return replace(config, scan=tuple(replace(root, depth=depth) for root in config.scan))


@dataclass(frozen=True, slots=True)
class StatusRow:
    """One repo as `status` prints it: its status (fetch times filled in), its state, and the
    error of the fetch this run made, if it failed."""

    status: RepoStatus
    state: RepoState
    fetch_error: str | None = None

    @property
    def shown(self) -> RepoStatus:
        """The status with the fetch's failure in `error`, as the JSON has always said it."""
        from gitwatch_tui.core.status import with_error

        if self.fetch_error is None:
            return self.status
        return with_error(self.status, f"fetch failed: {self.fetch_error}")

    def to_json(self) -> dict[str, object]:
        state = {"state": self.state.word, "state_detail": self.state.detail}
        return {**self.shown.to_json(), **state}


def status_command(
    config: Config, *, output: str = "table", fetch_first: bool = False, branches: bool = False
) -> int:
    """`gitwatch-tui status`: fetch if asked, read every repo, print, exit 1 on any error.
    `branches` adds every local branch to the JSON (one more git call per repo)."""
    # Here, not at the top: the dashboard reads statuses in its head start's child.
    from gitwatch_tui.core.discovery import resolve_repos
    from gitwatch_tui.core.status import collect_statuses

    specs, warnings = resolve_repos(config.repos, config.scan)
    for warning in warnings:
        print(f"gitwatch-tui: {warning}", file=sys.stderr)
    fetched_now = _fetch_all(specs, config) if fetch_first else {}
    record = _fetch_record(specs, fetched_now)
    statuses = collect_statuses(
        specs,
        jobs=config.defaults.status_loops(),
        timeout=config.defaults.status_timeout,
    )
    now = time.time()
    rows = [_status_row(s, record.get(s.path), fetched_now.get(s.name), now) for s in statuses]
    rows.sort(key=lambda row: (row.status.group or "", row.status.name))
    if output == "json":
        extra = _branches_json(specs, config) if branches else {}
        for row in rows:
            data = {**row.to_json(), **extra.get(row.status.name, {})}
            sys.stdout.write(json.dumps(data, ensure_ascii=False) + "\n")
    elif output == "tsv":
        _print_tsv(rows)
    else:
        _print_table(rows, config, now)
    return EXIT_REPO_ERROR if any(row.shown.error for row in rows) else EXIT_OK


def _branches_json(specs: Sequence[RepoSpec], config: Config) -> dict[str, dict[str, object]]:
    """By repo name: `branches`, every local branch as JSON; or `branches_error`."""
    from gitwatch_tui.core.unpushed import read_all_branches

    defaults = config.defaults
    found = read_all_branches(specs, jobs=defaults.status_loops(), timeout=defaults.status_timeout)
    return {
        name: {"branches_error": branches}
        if isinstance(branches, str)
        else {"branches": [branch.to_json() for branch in branches]}
        for name, branches in found.items()
    }


def _fetch_all(specs: Sequence[RepoSpec], config: Config) -> dict[str, tuple[FetchOutcome, float]]:
    """Fetch every repo, `fetch_concurrency` at a time; each outcome with when it ended, by
    repo name. A local-only repo (no remote at all) has nothing to fetch: it is left out."""
    from concurrent.futures import ThreadPoolExecutor

    from gitwatch_tui.core.remotes import fetch

    timeout = config.defaults.fetch_timeout

    def one(spec: RepoSpec) -> tuple[RepoSpec, FetchOutcome, float]:
        outcome = fetch(spec, timeout=timeout)
        return spec, outcome, time.time()

    with ThreadPoolExecutor(max_workers=config.defaults.fetch_concurrency) as pool:
        return {
            spec.name: (outcome, when)
            for spec, outcome, when in pool.map(one, specs)
            if not outcome.no_remote
        }


def _fetch_record(
    specs: Sequence[RepoSpec], fetched_now: dict[str, tuple[FetchOutcome, float]]
) -> dict[str, FetchTimes]:
    """The fetch record the engine keeps in history (by repo path), this run's fetches added
    to it first; empty when there is no history to read or write."""
    from gitwatch_tui.engine.history import (
        HISTORY_FILENAME,
        History,
        HistoryUnavailable,
    )
    from gitwatch_tui.engine.state_dir import default_state_dir

    path = default_state_dir() / HISTORY_FILENAME
    if not fetched_now and not path.exists():
        return {}  # nothing to tell, nothing to keep: no file is made for a plain `status`
    try:
        with History(path) as history:
            for spec in specs:
                if spec.name in fetched_now:
                    outcome, when = fetched_now[spec.name]
                    ok, error = outcome.error is None, outcome.error
                    history.record_fetch(str(spec.path), ok=ok, when=when, error=error)
            return history.fetch_times()
    except HistoryUnavailable as exc:
        print(f"gitwatch-tui: fetch times not kept: {exc}", file=sys.stderr)
        return {}


def _status_row(
    status: RepoStatus,
    known: FetchTimes | None,
    fetched_now: tuple[FetchOutcome, float] | None,
    now: float,
) -> StatusRow:
    """The repo's row: its fetch times from the record, its state with this run's fetch (the
    record may be missing: then this run's fetch is all that is known)."""
    if known is not None:
        status = replace(
            status, last_fetch=known.last_success, last_fetch_failed=known.last_failure
        )
    if fetched_now is None:
        return StatusRow(status, repo_state(status, None, now))
    outcome, when = fetched_now
    if outcome.error is None:
        last = max(when, status.last_fetch or 0)
        status = replace(status, last_fetch=last, last_fetch_failed=None)
        return StatusRow(status, repo_state(status, None, now))
    status = replace(status, last_fetch_failed=max(when, status.last_fetch_failed or 0))
    # What the engine would know after this one failure (no retry is scheduled here).
    sync = SyncState(status.name, failures=1, last_error=outcome.error, last_failure=when)
    return StatusRow(status, repo_state(status, sync, now), outcome.error)


def _print_tsv(rows: list[StatusRow]) -> None:
    """A header line, then one line per repo: the JSON's values, tabs and newlines as spaces."""
    sys.stdout.write("\t".join(TSV_COLUMNS) + "\n")
    for row in rows:
        data = row.to_json()
        cells = (_tsv_cell(data.get(column)) for column in TSV_COLUMNS)
        sys.stdout.write("\t".join(cells) + "\n")


def _tsv_cell(value: object) -> str:
    if value is None:
        return ""
    return " ".join(str(value).split()) if isinstance(value, str) else str(value)


def _print_table(rows: list[StatusRow], config: Config, now: float) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    if not console.is_terminal:
        # Piped (`| grep`, `| less -S`): one line per repo, nothing wrapped or cut.
        console = Console(width=100_000, soft_wrap=True)
    unwrapped = console.soft_wrap
    if not rows:
        where = "the configured paths" if config.source else str(Path.cwd())
        console.print(
            f"No git repositories found under {where}.\n"
            "Run gitwatch-tui in a folder that holds repositories, name them "
            "(gitwatch-tui status ~/src ~/work), or list them in a config file "
            "(see the README's Configuration section)."
        )
        return
    table = Table(box=None, header_style="bold", pad_edge=False, expand=False)
    table.add_column("Repo", overflow="fold", max_width=None if unwrapped else 28)
    table.add_column("Branch", overflow="ellipsis", max_width=None if unwrapped else 24)
    table.add_column("Upstream", overflow="ellipsis", max_width=None if unwrapped else 24)
    table.add_column("↑↓", no_wrap=True)
    table.add_column("Changes", no_wrap=True)
    table.add_column("Stash", justify="right")
    table.add_column("Fetched", no_wrap=True)
    table.add_column("State", overflow="fold", no_wrap=unwrapped)
    for row in rows:
        table.add_row(*_row(row.status, now, row.state, one_line=unwrapped))
    if unwrapped:  # without the padding that ends each line
        with console.capture() as captured:
            console.print(table)
        sys.stdout.write("".join(line.rstrip() + "\n" for line in captured.get().splitlines()))
    else:
        console.print(table)
    console.print(_summary(rows))


_STATE_COLOUR: dict[StateWord, str] = {
    "conflict": "bold yellow", "diverged": "yellow", "behind": "yellow", "ahead": "cyan",
    "dirty": "yellow", "stale-submodules": "yellow", "in-sync": "green",
}  # fmt: skip


def _row(s: RepoStatus, now: float, state: RepoState, *, one_line: bool) -> tuple[str, ...]:
    """A repo's cells; the State cell is `state`, as `repo_state` decided it."""
    name = f"{s.name} [dim]({s.group})[/]" if s.group else s.name
    colour = "red" if state.word in TROUBLE else _STATE_COLOUR.get(state.word, "dim")
    # An error is said in full here: the table folds long cells rather than cutting them.
    label = f"✗ {s.error}" if state.word == "error" and s.error else state.label
    if one_line:
        label = " ".join(label.split())
    state_cell = f"[{colour}]{_esc(label)}[/]"
    if s.error and s.head is None and s.branch is None:
        return (f"[bold red]{name}[/]", "", "", "", "", "", "", state_cell)
    branch = f"[magenta]({s.branch})[/]" if s.detached else _esc(s.branch or "")
    upstream = _esc(s.upstream) if s.upstream else "[dim]—[/]"
    if s.upstream_gone:
        upstream += " [red](gone)[/]"
    return (
        name,
        branch,
        upstream,
        _ahead_behind(s),
        _changes(s),
        f"[cyan]{s.stash}[/]" if s.stash else "",
        _fetched(s, now),
        state_cell,
    )


def _ahead_behind(s: RepoStatus) -> str:
    parts = []
    if s.ahead:
        parts.append(f"[cyan]↑{s.ahead}[/]")
    if s.behind:
        parts.append(f"[yellow]↓{s.behind}[/]")
    return " ".join(parts)


def _changes(s: RepoStatus) -> str:
    parts = []
    if s.conflicted:
        parts.append(f"[bold red]!{s.conflicted}[/]")
    if s.staged:
        parts.append(f"[green]+{s.staged}[/]")
    if s.unstaged:
        parts.append(f"[yellow]~{s.unstaged}[/]")
    if s.untracked:
        parts.append(f"[blue]?{s.untracked}[/]")
    return " ".join(parts)


def _fetched(s: RepoStatus, now: float) -> str:
    """The last successful fetch, or "failed 2m ago" when the attempts since failed."""
    text = fetched(s, now)
    if s.last_fetch_failed is not None:
        return f"[red]{text}[/]"
    return f"[dim]{text}[/]" if s.last_fetch is None else text


def _summary(rows: list[StatusRow]) -> str:
    """The counts the dashboard's summary line shows, counted the same way: "in error" is every
    repo whose state is trouble (✗ and ⊘ in red: unreadable, upstream gone, fetches failing)."""
    statuses = [row.shown for row in rows]
    behind = sum(1 for s in statuses if s.behind)
    ahead = sum(1 for s in statuses if s.ahead)
    dirty = sum(1 for s in statuses if s.dirty)
    errors = sum(1 for row in rows if row.state.word in TROUBLE or row.shown.error)
    repos = f"{len(statuses)} repo" + ("s" if len(statuses) != 1 else "")
    # "ahead" only when some repo is, as the dashboard's header says it: unpushed work.
    parts = [repos, f"{behind} behind", *([f"[cyan]{ahead} ahead[/]"] if ahead else [])]
    parts.append(f"{dirty} dirty")
    parts.append(f"[red]{errors} in error[/]" if errors else "0 in error")
    return " · ".join(parts) + "\n[dim]changes: +staged ~unstaged ?untracked !conflicted[/]"


def _esc(text: str) -> str:
    from rich.markup import escape

    return escape(text)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
