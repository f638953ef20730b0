"""`P`: push one repo's current branch, after seeing what goes out.

Enter does the next step the panel offers: push; `push -u` for a branch without an upstream
(1-9 pick the remote when the config names none); for a branch behind or diverged, open the
pull panel. `f` on a diverged branch forces with lease, after a confirm that lists the remote's
commits it would drop; the lease is the remote sha shown, so a remote that moved since is
refused, never overwritten.
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

from gitwatch_tui.core.results import CommitInfo, PushPreview, PushRefusal, PushResult
from gitwatch_tui.engine.engine import UnknownRepo
from gitwatch_tui.engine.locks import RepoBusy
from gitwatch_tui.ui.host import HostedScreen
from gitwatch_tui.ui.repo_view import ago
from gitwatch_tui.ui.widgets.footer import Footer

# The key for a refusal's next step, by its reason (the message says the step in words).
NEXT_KEYS: dict[str, str] = {
    "behind": "Press enter for the pull panel.",
    "diverged": "Press enter for the pull panel, or f to force with lease.",
    "no-upstream": "Press enter to push -u.",
    "upstream-gone": "Press enter to push -u.",
    "pick-remote": "Press the remote's number to push -u there.",
    "detached": "Press esc, then b to pick a branch.",
    "up-to-date": "Press esc to go back.",
}
_TO_PULL = ("behind", "diverged")


class PushScreen(HostedScreen):
    """Preview and push the current branch of repo `name`."""

    DEFAULT_CSS = """
    PushScreen #push-title { height: 1; background: $panel; }
    PushScreen #push-body { padding: 0 1; }
    PushScreen .push-section { margin-top: 1; }
    PushScreen #push-refusal { color: $repo-error; }
    """

    BINDINGS = [
        Binding("escape,q", "close", "Back"),
        Binding("enter,P", "next_step", "Push"),
        Binding("f", "force", "Force with lease"),
        *[
            Binding(str(n), f"pick({n})", "Push -u to that remote", show=False)
            for n in range(1, 10)
        ],
        Binding("j,down", "scroll(1)", "Scroll down", show=False),
        Binding("k,up", "scroll(-1)", "Scroll up", show=False),
    ]

    def __init__(self, name: str) -> None:
        super().__init__()
        self.repo = name
        self.preview: PushPreview | None = None
        self.pushing = False
        self.outcome: Text | None = None  # the last push's refusal, in words

    def compose(self) -> ComposeResult:
        yield Static(id="push-title")
        with VerticalScroll(id="push-body"):
            yield Static(id="push-head")
            yield Static(id="push-refusal", classes="push-section")
            yield Static(id="push-outcome", classes="push-section")
            yield Static(id="push-commits", classes="push-section")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#push-body").focus()
        self._draw()
        self.run_worker(self._load(), group="push-load")

    async def _load(self) -> None:
        try:
            self.preview = await self.gw_app.engine.preview_push(self.repo)
        except (UnknownRepo, OSError) as error:  # the repo left the config, a thread failed
            self._refused(f"Cannot read {self.repo}: {error}")
        self._draw()

    # -- actions ------------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        reason = self._reason
        if action == "next_step":
            # None: greyed out in the footer, the key does nothing.
            return True if self._step() is not None else None
        if action == "force":
            return True if reason == "diverged" and not self.pushing else None
        if action.startswith("pick"):  # "pick(2)" when the palette asks
            return reason == "pick-remote" and not self.pushing
        if action == "close":
            return None if self.pushing else True
        return True

    @property
    def _reason(self) -> str | None:
        p = self.preview
        if p is None:
            return "reading"
        return p.refusal.reason if p.refusal is not None else None

    def _step(self) -> str | None:
        """What enter does now: "push", "push-u", "pull", or None."""
        if self.pushing or self.preview is None:
            return None
        reason = self._reason
        if reason is None:
            return "push"
        if reason in _TO_PULL:
            return "pull"
        if reason in ("no-upstream", "upstream-gone") and self.preview.remote:
            return "push-u"
        return None

    def action_close(self) -> None:
        if not self.pushing:  # a running push finishes first: its result must be seen
            self.dismiss()

    def action_next_step(self) -> None:
        step, preview = self._step(), self.preview
        if step is None or preview is None:
            return
        if step == "pull":
            from gitwatch_tui.ui.screens.pull import PullScreen

            self.dismiss()
            self.app.push_screen(PullScreen(self.repo))
        elif step == "push-u":
            self._start(set_upstream=preview.remote)
        else:
            self._start()

    def action_pick(self, number: int) -> None:
        preview = self.preview
        if preview is None or self._reason != "pick-remote" or number > len(preview.remotes):
            return
        self._start(set_upstream=preview.remotes[number - 1])

    def action_force(self) -> None:
        from gitwatch_tui.ui.screens.confirm import ConfirmScreen

        preview = self.preview
        if preview is None or self._reason != "diverged" or preview.upstream_sha is None:
            return
        lease = preview.upstream_sha
        body = force_words(preview)
        title = f"Force-push {preview.branch} over {preview.upstream}?"
        confirm = ConfirmScreen(title, body, yes="Force with lease", danger=True)
        self.app.push_screen(confirm, lambda yes: self._start(force_lease=lease) if yes else None)

    def _start(self, *, set_upstream: str | None = None, force_lease: str | None = None) -> None:
        self.pushing = True
        self.outcome = None
        self._draw()
        self.run_worker(self._push(set_upstream, force_lease), group="push-run")

    async def _push(self, set_upstream: str | None, force_lease: str | None) -> None:
        engine = self.gw_app.engine
        try:
            # Shielded: the engine still logs the push to history if the panel goes away.
            result = await asyncio.shield(
                engine.push(self.repo, set_upstream=set_upstream, force_lease=force_lease)
            )
        except (RepoBusy, UnknownRepo, OSError) as error:
            self._refused(f"Not pushed: {error}")
            return
        finally:
            self.pushing = False
        if isinstance(result, PushResult):
            self.dismiss()
            undo = f" · undo: {result.undo}" if result.undo else ""
            self.app.notify(result.message + undo, title=f"{self.repo}: pushed", timeout=8)
            return
        self._refused(f"Not pushed: {refusal_words(result)}")
        await self._load()  # the refusal may have changed what is true (the remote moved)

    def _refused(self, words: str) -> None:
        self.outcome = Text("✗ " + words, self.gw_app.palette()["repo-error"])
        self._draw()

    def action_scroll(self, lines: int) -> None:
        self.query_one("#push-body", VerticalScroll).scroll_relative(y=lines, animate=False)

    # -- drawing ------------------------------------------------------------------------------

    def _draw(self) -> None:
        if not self.is_mounted:
            return
        p = self.gw_app.palette()
        now = self.gw_app.clock()
        self.query_one("#push-title", Static).update(self._title(p))
        sections: dict[str, RenderableType] = {
            "#push-head": self._head(p),
            "#push-refusal": self._refusal(p),
            "#push-outcome": self.outcome or "",
            "#push-commits": self._commits(p, now),
        }
        self.fill_sections(sections)
        self.refresh_bindings()

    def _title(self, p: dict[str, str]) -> Text:
        title = Text(no_wrap=True, overflow="ellipsis")
        title.append(" Push ", "bold reverse")
        title.append(f" {self.repo}", "bold")
        if self.pushing:
            title.append("  ⟳ pushing…", p["repo-busy"])
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
        target = preview.upstream or (f"{preview.remote} (new, push -u)" if preview.remote else "")
        if target:
            branch.append(" → ").append(target, p["repo-group"])
        facts.add_row("Branch", branch)
        if preview.upstream:
            outgoing = Text(f"↑{preview.outgoing_total}", p["repo-ahead"])
            outgoing.append(f" to push, ↓{preview.overwritten_total} on the remote only", "")
            facts.add_row("Commits", outgoing)
        return facts

    def _refusal(self, p: dict[str, str]) -> RenderableType:
        preview = self.preview
        if preview is None or preview.refusal is None:
            return ""
        text = Text.assemble(("✗ Will not push: ", "bold"), refusal_words(preview.refusal))
        if preview.refusal.reason == "pick-remote":
            for number, remote in enumerate(preview.remotes[:9], 1):
                text.append(f"\n    {number}  {remote}", p["repo-group"])
        return text

    def _commits(self, p: dict[str, str], now: float) -> RenderableType:
        preview = self.preview
        if preview is None or preview.branch is None:
            return ""
        parts: list[RenderableType] = []
        lists = (
            ("To push", preview.outgoing, preview.outgoing_total, "repo-ahead"),
            ("On the remote only", preview.overwritten, preview.overwritten_total, "repo-behind"),
        )
        for heading, commits, total, colour in lists:
            if commits:
                parts.append(Text(f"{heading} ({total})", f"bold {p[colour]}"))
                parts.append(commit_table(commits, p, now, p[colour]))
                if total > len(commits):
                    parts.append(Text(f"  … and {total - len(commits)} more", p["repo-muted"]))
        return Group(*parts) if parts else ""


def commit_table(
    commits: tuple[CommitInfo, ...], p: dict[str, str], now: float, colour: str
) -> Table:
    """Commits one a line: sha, subject, author, age."""
    table = Table.grid(padding=(0, 1))
    table.add_column(style=colour, no_wrap=True)
    table.add_column(overflow="ellipsis", no_wrap=True, ratio=1)
    table.add_column(style=p["repo-muted"], no_wrap=True, overflow="ellipsis", max_width=20)
    table.add_column(style=p["repo-muted"], no_wrap=True, justify="right")
    for commit in commits:
        table.add_row(commit.sha, commit.subject, commit.author, ago(commit.time, now))
    return table


def refusal_words(refusal: PushRefusal) -> str:
    """The refusal's message, then the key for its next step where there is one."""
    key = NEXT_KEYS.get(refusal.reason)
    return f"{refusal.message}.\n{key}" if key else refusal.message


def force_words(preview: PushPreview) -> str:
    """The confirm's body: what the forced push drops from the remote, and how it is safe."""
    upstream, sha = preview.upstream or "the remote", (preview.upstream_sha or "")[:7]
    lines = [
        f"{upstream} loses {preview.overwritten_total} commit"
        f"{'s' if preview.overwritten_total != 1 else ''} that {preview.branch} does not have:",
        *[f"  {c.sha}  {c.subject}  ({c.author})" for c in preview.overwritten],
    ]
    hidden = preview.overwritten_total - len(preview.overwritten)
    if hidden > 0:
        lines.append(f"  … and {hidden} more")
    lines += [
        "",
        f"--force-with-lease on {sha}: if {upstream} moved since, nothing is pushed.",
        "The history log (l) keeps the push that puts them back.",
    ]
    return "\n".join(lines)
