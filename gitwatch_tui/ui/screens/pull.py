"""`p`: pull one repo, after seeing what comes in and what happens to local changes.

The panel opens at once on a preview from the remote-tracking refs already on disk, fetches,
and previews again. The pull goes to exactly the upstream commit on screen
(`expected_upstream`): if the remote moved meanwhile the engine refuses it as stale and the
panel shows the new preview.
"""

from __future__ import annotations

import asyncio

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import Static

from gitwatch_tui.core.results import PULL_MODES, PullMode, PullPreview, PullRefusal, PullResult
from gitwatch_tui.engine.engine import UnknownRepo
from gitwatch_tui.engine.events import SyncFinished
from gitwatch_tui.engine.locks import RepoBusy
from gitwatch_tui.ui.host import HostedScreen
from gitwatch_tui.ui.repo_view import ago
from gitwatch_tui.ui.widgets.footer import Footer

# Past this many the list ends with "… and N more" (the preview holds at most 50 commits).
_MAX_FILES = 200
# The key for a refusal's next step, by its reason (the message says the step in words).
NEXT_KEYS: dict[str, str] = {
    "diverged": "Press 2 to rebase or 3 to merge.",
    "local-merges": "Press 3 to merge.",
    "conflicts": "Press esc, then c for the conflict panel.",
    "operation": "Press esc, then c for the conflict panel.",
    "detached": "Press esc, then b to pick a branch.",
    "no-upstream": "Press esc, then b to pick another branch.",
    "upstream-gone": "Press esc, then b to pick another branch.",
    "stale": "Press p to pull what is shown now.",
    "not-behind": "Press esc to go back.",
}
_MODE_WORDS: dict[PullMode, str] = {
    "ff-only": "fast-forward only",
    "rebase": "rebase your commits on top",
    "merge": "merge commit when needed",
}


class PullScreen(HostedScreen):
    """Preview and pull the current branch of repo `name` from its upstream."""

    DEFAULT_CSS = """
    PullScreen #pull-title {
        height: 1;
        background: $panel;
    }
    PullScreen #pull-body {
        padding: 0 1;
    }
    PullScreen .pull-section {
        margin-top: 1;
    }
    PullScreen #pull-refusal {
        color: $repo-error;
    }
    """

    BINDINGS = [
        Binding("escape,q", "close", "Back"),
        Binding("enter,p", "pull", "Pull"),
        Binding("m", "cycle_mode", "Mode"),
        Binding("1", "mode('ff-only')", "Mode ff-only", show=False),
        Binding("2", "mode('rebase')", "Mode rebase", show=False),
        Binding("3", "mode('merge')", "Mode merge", show=False),
        Binding("j,down", "scroll(1)", "Scroll down", show=False),
        Binding("k,up", "scroll(-1)", "Scroll up", show=False),
    ]

    def __init__(self, name: str) -> None:
        super().__init__()
        self.repo = name
        self.mode: PullMode = "ff-only"  # the repo's own default is read on mount
        self.preview: PullPreview | None = None
        self.fetching = False
        self.loaded = False  # the preview after the fetch is on screen
        self.fetch_error: str | None = None
        self.pulling = False
        self.outcome: Text | None = None  # the last pull's refusal or failure, in words
        self._asked = 0  # preview requests made; the newest one answered wins
        self._shown = 0

    def compose(self) -> ComposeResult:
        yield Static(id="pull-title")
        with VerticalScroll(id="pull-body"):
            yield Static(id="pull-head")
            yield Static(id="pull-mode", classes="pull-section")
            yield Static(id="pull-refusal", classes="pull-section")
            yield Static(id="pull-outcome", classes="pull-section")
            yield Static(id="pull-effects", classes="pull-section")
            yield Static(id="pull-commits", classes="pull-section")
            yield Static(id="pull-files", classes="pull-section")
        yield Footer()

    def on_mount(self) -> None:
        spec = self.gw_app.engine.specs.get(self.repo)
        if spec is not None and spec.pull_mode in PULL_MODES:
            self.mode = spec.pull_mode
        self.query_one("#pull-body").focus()
        self._draw()
        self.run_worker(self._load(), group="pull-load")

    # -- reading ------------------------------------------------------------------------------

    async def _load(self) -> None:
        """Preview from what is on disk now, then fetch and preview again."""
        try:
            await self._preview()
            self.fetching = True
            self._draw()
            try:
                # Shielded: closing the panel must not kill a fetch half-way (its lock files).
                fetched = await asyncio.shield(self.gw_app.engine.fetch(self.repo))
            finally:
                self.fetching = False
            self.fetch_error = None if fetched.ok else (fetched.error or "fetch failed").strip()
            await self._preview()
        except (UnknownRepo, OSError) as error:  # the repo left the config, a thread failed
            self._refused(f"Cannot read {self.repo}: {error}")
        self.loaded = True

    async def _preview(self) -> None:
        self._asked += 1
        asked, mode = self._asked, self.mode
        preview = await self.gw_app.engine.preview_pull(self.repo, mode)
        # Previews may finish out of order (a mode change during the fetch): the newest wins.
        if asked > self._shown and mode == self.mode:
            self._shown = asked
            self.preview = preview
        self._draw()

    # -- actions ------------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "pull":
            # None: shown greyed out in the footer, the key does nothing.
            return True if self._can_pull else None
        if action in ("cycle_mode", "mode", "close"):
            return None if self.pulling else True
        return True

    @property
    def _can_pull(self) -> bool:
        p = self.preview
        return (
            not self.pulling
            and p is not None
            and p.mode == self.mode
            and p.refusal is None
            and p.upstream_sha is not None
        )

    def action_close(self) -> None:
        if not self.pulling:  # a running pull finishes first: its result must be seen
            self.dismiss()

    def action_cycle_mode(self) -> None:
        self.action_mode(PULL_MODES[(PULL_MODES.index(self.mode) + 1) % len(PULL_MODES)])

    def action_mode(self, mode: str) -> None:
        if mode not in PULL_MODES or mode == self.mode:
            return
        self.mode = mode
        self.outcome = None
        self._draw()
        self.run_worker(self._preview(), group="pull-preview")

    def action_pull(self) -> None:
        preview = self.preview
        if not self._can_pull or preview is None:
            return
        self.pulling = True
        self.outcome = None
        self._draw()
        self.run_worker(self._pull(preview), group="pull-run")

    async def _pull(self, preview: PullPreview) -> None:
        app = self.gw_app
        try:
            # Shielded: the engine still logs the pull to history if the panel goes away.
            result = await asyncio.shield(
                app.engine.pull(self.repo, preview.mode, expected_upstream=preview.upstream_sha)
            )
        except (RepoBusy, UnknownRepo, OSError) as error:
            self._refused(f"Not pulled: {error}")
            return
        finally:
            self.pulling = False
        status = app.engine.statuses.get(self.repo)
        if status is not None and status.operation in ("merge", "rebase"):
            # Stopped on conflicts: the merge or rebase is left for the conflict panel.
            self.dismiss()
            self.app.notify(
                "" if result.ok else _error(result).strip(),
                title=f"{self.repo}: pull stopped on conflicts", severity="warning", timeout=10,
            )  # fmt: skip
            app.open_conflicts(self.repo)
            return
        if isinstance(result, PullResult) and result.ok:
            self.dismiss()
            self.app.notify(_done_words(result), title=f"{self.repo}: pulled", timeout=8)
            return
        self._refused(_not_pulled_words(result))
        await self._preview()  # a stale preview is replaced by the current one

    def _refused(self, words: str) -> None:
        self.outcome = Text("✗ " + words, self.gw_app.palette()["repo-error"])
        self._draw()

    def action_scroll(self, lines: int) -> None:
        self.query_one("#pull-body", VerticalScroll).scroll_relative(y=lines, animate=False)

    # -- drawing ------------------------------------------------------------------------------

    def _draw(self) -> None:
        if not self.is_mounted:
            return
        p = self.gw_app.palette()
        now = self.gw_app.clock()
        self.query_one("#pull-title", Static).update(self._title(p))
        sections: dict[str, RenderableType] = {
            "#pull-head": self._head(p),
            "#pull-mode": self._modes(p),
            "#pull-refusal": self._refusal(),
            "#pull-outcome": self.outcome or "",
            "#pull-effects": self._effects(p),
            "#pull-commits": self._commits(p, now),
            "#pull-files": self._files(p),
        }
        self.fill_sections(sections)
        self.refresh_bindings()

    def _title(self, p: dict[str, str]) -> Text:
        title = Text(no_wrap=True, overflow="ellipsis")
        title.append(" Pull ", "bold reverse")
        title.append(f" {self.repo}", "bold")
        if self.pulling:
            title.append(f"  ⟳ pulling ({self.mode})…", p["repo-busy"])
        elif self.fetching:
            title.append("  ⟳ fetching…", p["repo-busy"])
        elif self.preview is None:
            title.append("  … reading", p["repo-muted"])
        return title

    def _head(self, p: dict[str, str]) -> RenderableType:
        preview = self.preview
        facts = Table.grid(padding=(0, 2))
        facts.add_column(style="bold", no_wrap=True)
        facts.add_column()
        if preview is None:
            facts.add_row("Branch", Text("… reading", p["repo-muted"]))
            return facts
        branch = Text(preview.branch or "—")
        if preview.upstream:
            branch.append(" → ")
            branch.append(preview.upstream, p["repo-group"])
        facts.add_row("Branch", branch)
        incoming = Text(f"↓{preview.incoming_total}", p["repo-behind"])
        incoming.append(f" incoming {_commits(preview.incoming_total)}", "")
        facts.add_row("Incoming", incoming)
        outgoing = Text(f"↑{preview.outgoing_total}", p["repo-ahead"])
        outgoing.append(f" outgoing {_commits(preview.outgoing_total)}, not on the upstream", "")
        facts.add_row("Outgoing", outgoing)
        if self.fetch_error:
            note = Text(f"✗ fetch failed, preview from the last fetch: {self.fetch_error}")
            note.stylize(p["repo-error"])
            facts.add_row("Fetch", note)
        return facts

    def _modes(self, p: dict[str, str]) -> Text:
        text = Text.assemble(("Mode  ", "bold"))
        for number, mode in enumerate(PULL_MODES, 1):
            chosen = mode == self.mode
            text.append(f"{number} ", p["repo-muted"])
            text.append(f"[{mode}]" if chosen else f" {mode} ", "bold reverse" if chosen else "")
            text.append("  ")
        text.append("m cycles", p["repo-muted"])
        text.append(f"\n      {_MODE_WORDS[self.mode]}", p["repo-muted"])
        return text

    def _refusal(self) -> RenderableType:
        preview = self.preview
        if preview is None or preview.refusal is None:
            return ""
        refusal = preview.refusal
        text = Text.assemble(("✗ Will not pull: ", "bold"), refusal_words(refusal))
        for path in refusal.paths[:_MAX_FILES]:
            text.append(f"\n    {path}")
        if len(refusal.paths) > _MAX_FILES:
            text.append(f"\n    … and {len(refusal.paths) - _MAX_FILES} more")
        return text

    def _effects(self, p: dict[str, str]) -> RenderableType:
        preview = self.preview
        # A refused pull does nothing; its effects would contradict the refusal's reason.
        if preview is None or not preview.effects or preview.refusal is not None:
            return ""
        text = Text.assemble(("What happens", "bold"))
        for effect in preview.effects:
            text.append(f"\n  • {effect}")
        return text

    def _commits(self, p: dict[str, str], now: float) -> RenderableType:
        preview = self.preview
        if preview is None:
            return ""
        if not preview.incoming_total:
            return Text("Incoming commits: none", p["repo-muted"])
        table = Table.grid(padding=(0, 1))
        table.add_column(style=p["repo-behind"], no_wrap=True)
        table.add_column(overflow="ellipsis", no_wrap=True, ratio=1)
        table.add_column(style=p["repo-muted"], no_wrap=True, overflow="ellipsis", max_width=20)
        table.add_column(style=p["repo-muted"], no_wrap=True, justify="right")
        for commit in preview.incoming:
            table.add_row(commit.sha, commit.subject, commit.author, ago(commit.time, now))
        heading = Text(f"Incoming commits ({preview.incoming_total})", f"bold {p['repo-behind']}")
        parts: list[RenderableType] = [heading, table]
        hidden = preview.incoming_total - len(preview.incoming)
        if hidden > 0:
            parts.append(Text(f"  … and {hidden} more", p["repo-muted"]))
        return Group(*parts)

    def _files(self, p: dict[str, str]) -> RenderableType:
        preview = self.preview
        if preview is None or not preview.files:
            return ""
        text = Text.assemble((f"Incoming files ({len(preview.files)})", "bold"))
        for change in preview.files[:_MAX_FILES]:
            text.append(f"\n  {change.status} ", p["repo-behind"])
            if change.orig_path:
                text.append(f"{change.orig_path} → ")
            text.append(change.path)
        if len(preview.files) > _MAX_FILES:
            text.append(f"\n  … and {len(preview.files) - _MAX_FILES} more", p["repo-muted"])
        return text


def _commits(count: int) -> str:
    return "commit" if count == 1 else "commits"


def refusal_words(refusal: PullRefusal) -> str:
    """The refusal's message, then the key for its next step where there is one."""
    key = NEXT_KEYS.get(refusal.reason)
    return f"{refusal.message}.\n{key}" if key else refusal.message


def _done_words(result: PullResult) -> str:
    """What the pull did and how to undo it ("main: 1a2b3c4..5d6e7f8 (ff-only from
    origin/main) · undo: git …"), else old..new."""
    undo = f"undo: {result.undo}" if result.undo else ""
    if said := " · ".join(part for part in (result.message, undo) if part):
        return said
    if result.old_head and result.new_head:
        return f"{result.old_head[:7]}..{result.new_head[:7]}"
    return "done"


def _not_pulled_words(result: PullResult | PullRefusal | SyncFinished) -> str:
    """Why the pull was not done: its refusal's message and next step, or what failed."""
    if isinstance(result, PullRefusal):
        return f"Not pulled: {refusal_words(result)}"
    said = (_error(result) or "failed").strip()
    if isinstance(result, PullResult) and result.undo:  # stopped, yet nothing is in progress
        said += f"; undo: {result.undo}"
    return f"Not pulled: {said}"


def _error(result: PullResult | PullRefusal | SyncFinished) -> str:
    """What a pull that was not done says of it."""
    if isinstance(result, SyncFinished):
        return result.error or ""
    return result.message
