"""`b` / `s`: switch one repo to another branch, picked by typing part of its name.

The list holds the local branches and the remote ones no local branch tracks yet (picking one
creates the tracking branch). A switch that would overwrite local changes is refused with the
files, and `s` then stashes everything (untracked files too) and switches; coming back to the
branch offers that stash again. `SwitchScreen(name, stash=True)` does the stash from the start.

Branches are made, deleted and renamed here too, with ctrl keys (the filter takes every
printable one): typed text that names no branch gets a first row "create <name> from <HEAD>"
(enter makes it and switches to it); ctrl+n makes a branch from the highlighted row (a remote
one is tracked), ctrl+d deletes one after a confirm (two when it has commits no other branch
has), ctrl+r renames one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Coroutine
from dataclasses import dataclass
from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option

from gitwatch_tui.core.results import (
    BranchDeletePreview,
    BranchList,
    BranchRefusal,
    BranchResult,
    StashOutcome,
    SwitchRefusal,
    SwitchResult,
    plural,
)
from gitwatch_tui.engine.engine import UnknownRepo
from gitwatch_tui.engine.locks import RepoBusy
from gitwatch_tui.ui.fuzzy import Match, highlight_spans, rank
from gitwatch_tui.ui.host import HostedScreen
from gitwatch_tui.ui.repo_view import ago
from gitwatch_tui.ui.screens.confirm import ConfirmScreen
from gitwatch_tui.ui.widgets.footer import Footer

# The key for a refusal's next step, by its reason (the message says the step in words).
NEXT_KEYS: dict[str, str] = {
    "already-on": "Press ↑ or ↓ to pick another, enter to switch.",
    "not-found": "Type to filter the list, enter to switch.",
    "ambiguous": "Type the remote's name too, enter to switch.",
    "operation": "Press esc, then c for the conflict panel.",
    "conflicts": "Press esc, then c for the conflict panel.",
    "name-taken": "Type its local name, enter to switch.",
}
_MAX_PATHS = 12  # files listed under a refusal; the rest are counted
_NAME_SHARE = 0.4  # of the list's width, at most, for the branch name column
_MAX_ROWS = 300  # rows drawn per keystroke in a repo with thousands of branches


@dataclass(frozen=True, slots=True)
class BranchEntry:
    """One row of the list: a local branch, or a remote one without a local branch."""

    name: str  # what is matched and what `switch_branch` is given: main, origin/feature
    remote: bool = False
    current: bool = False
    upstream: str | None = None
    upstream_gone: bool = False
    ahead: int | None = None
    behind: int | None = None
    time: float = 0.0
    subject: str = ""
    worktree: str | None = None  # checked out in another worktree: git will refuse
    local_name: str | None = None  # a remote branch's name on its remote: feature


def branch_entries(listing: BranchList) -> list[BranchEntry]:
    """The current branch first, the other local branches, then the remote-only ones; newest
    commit first within each (the order the list shows before anything is typed)."""
    local = [
        BranchEntry(
            name=b.name,
            current=b.current,
            upstream=b.upstream,
            upstream_gone=b.upstream_gone,
            ahead=b.ahead,
            behind=b.behind,
            time=b.time,
            subject=b.subject,
            worktree=b.worktree,
        )  # fmt: skip
        for b in listing.local
    ]
    local.sort(key=lambda entry: not entry.current)  # stable: the rest stay newest first
    remote = [
        BranchEntry(name=r.name, remote=True, time=r.time, subject=r.subject, local_name=r.branch)
        for r in listing.remote_only
    ]
    return local + remote


class _FilterInput(Input):
    """The filter box; it lets `s` through to the screen while stash-and-switch is offered
    (an Input otherwise takes every printable key, bindings included)."""

    def check_consume_key(self, key: str, character: str | None) -> bool:
        if key == "s" and getattr(self.screen, "offer", None) is not None:
            return False
        return super().check_consume_key(key, character)


class SwitchScreen(HostedScreen):
    """Pick a branch of repo `name` and switch to it (`stash`: stash everything first)."""

    DEFAULT_CSS = """
    SwitchScreen #switch-title {
        height: 1;
        background: $panel;
    }
    SwitchScreen #switch-head {
        padding: 0 1;
        height: auto;
    }
    SwitchScreen #switch-filter {
        border: none;
        height: 1;
        padding: 0 1;
        margin: 1 0 0 0;
        background: $boost;
    }
    SwitchScreen #switch-list {
        height: 1fr;
        border: none;
        padding: 0;
    }
    SwitchScreen #switch-message {
        height: auto;
        max-height: 50%;
        overflow-y: auto;
        padding: 0 1;
        border-top: solid $panel;
    }
    SwitchScreen #switch-message.-error {
        color: $repo-error;
    }
    """

    BINDINGS = [
        Binding("escape", "close", "Close"),
        # Priority: enter and s must reach the screen, not the filter box that has the focus.
        # One of the two, by the panel's kind (check_action), so the footer names what it does.
        Binding("enter", "switch(False)", "Switch", priority=True),
        Binding("enter", "switch(True)", "Stash & switch", priority=True),
        Binding("s", "stash_switch", "Stash & switch", priority=True),
        # ctrl keys: the filter box takes every printable one.
        Binding("ctrl+n", "new_branch", "New", priority=True),
        Binding("ctrl+d", "delete_branch", "Delete", priority=True),
        Binding("ctrl+r", "rename_branch", "Rename", priority=True),
        Binding("down", "cursor(1)", "Next branch", show=False),
        Binding("up", "cursor(-1)", "Previous branch", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
    ]

    def __init__(self, name: str, *, stash: bool = False) -> None:
        super().__init__()
        self.repo = name
        self.stash = stash
        self.listing: BranchList | None = None
        self.entries: list[BranchEntry] = []
        self.shown: list[tuple[BranchEntry, Match]] = []
        self.busy: str | None = None  # what is under way, in words
        # The branch a switch was refused for because of local changes: `s` stashes and goes.
        self.offer: BranchEntry | None = None
        # The typed text when it names no branch: the "create" row, first in the list.
        self.create_name: str | None = None

    def compose(self) -> ComposeResult:
        yield Static(id="switch-title")
        yield Static(id="switch-head")
        yield _FilterInput(placeholder="type to filter branches (fuzzy)", id="switch-filter")
        branches = OptionList(id="switch-list")
        branches.can_focus = False  # the filter keeps the focus; up/down move in the list
        yield branches
        yield Static(id="switch-message")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#switch-filter", Input).focus()
        self._draw_title()
        self._draw_head()
        self._say(Text("… reading the branches", self._p["repo-muted"]))
        self.run_worker(self._load(), group="switch-load", exclusive=True)

    @property
    def _p(self) -> dict[str, str]:
        return self.gw_app.palette()

    # -- reading ------------------------------------------------------------------------------

    async def _load(self, keep_message: bool = False) -> None:
        try:
            listing = await self.gw_app.engine.list_branches(self.repo)
        except (UnknownRepo, OSError) as error:
            self._say(Text(f"✗ Cannot read the branches: {error}"), error=True)
            return
        self.listing = listing
        self.entries = branch_entries(listing)
        self._draw_head()
        if listing.error:
            self._say(Text(f"✗ Cannot read the branches: {listing.error}"), error=True)
        elif not keep_message:
            self._say(self._hint())
        self._filter(self.query_one("#switch-filter", Input).value)

    # -- the list -----------------------------------------------------------------------------

    def on_resize(self) -> None:
        self._filter(self.query_one("#switch-filter", Input).value)  # the name column's width

    @on(Input.Changed, "#switch-filter")
    def _typed(self, event: Input.Changed) -> None:
        if self.offer is not None:  # typing on: `s` is a letter of the filter again
            self.offer = None
            self._say(self._hint())
        self._filter(event.value)

    def _filter(self, query: str) -> None:
        ranked = rank(query.strip(), self.entries, key=lambda entry: entry.name)
        self.shown = ranked[:_MAX_ROWS]
        self.create_name = self._new_name(query.strip())
        branches = self.query_one("#switch-list", OptionList)
        width = self.app.size.width
        now = self.gw_app.clock()
        p = self._p
        name_width = min(
            max((len(self._label(e)) for e, _ in self.shown), default=10),
            int(width * _NAME_SHARE),
        )
        options = [
            Option(self._row(entry, match, name_width, now, p), id=str(index))
            for index, (entry, match) in enumerate(self.shown)
        ]
        if self.create_name is not None:
            options.insert(0, Option(self._create_row(self.create_name, p), id="create"))
        if len(ranked) > len(self.shown):
            more = Text(f"  … and {len(ranked) - len(self.shown)} more: type to narrow")
            more.stylize(p["repo-muted"])
            options.append(Option(more, disabled=True))
        branches.set_options(options)
        if self.shown:
            first = 0
            if not query.strip() and self.shown[0][0].current and len(self.shown) > 1:
                first = 1  # nothing typed: the likeliest pick is not where you are
            # The best match, not the create row above it: enter still switches to it.
            branches.highlighted = first + self._offset
        elif self.create_name is not None:
            branches.highlighted = 0
        self.refresh_bindings()

    @property
    def _offset(self) -> int:
        """1 while the create row heads the list."""
        return 1 if self.create_name is not None else 0

    def _new_name(self, typed: str) -> str | None:
        """The typed text when it could name a new branch (not in stash & switch)."""
        if self.stash or not typed or self.listing is None or " " in typed:
            return None
        taken = {e.name for e in self.entries} | {e.local_name for e in self.entries}
        return None if typed in taken else typed

    def _create_row(self, name: str, p: dict[str, str]) -> Text:
        row = Text(no_wrap=True, overflow="ellipsis", end="")
        row.append("+ create ", p["repo-clean"])
        row.append(name, "bold")
        row.append(f" from {self._head_name()}", p["repo-muted"])
        return row

    def _head_name(self) -> str:
        listing = self.listing
        if listing is None or listing.detached:
            return (listing.head or "HEAD")[:10] if listing else "HEAD"
        return listing.current or "HEAD"

    def _on_create_row(self) -> bool:
        index = self.query_one("#switch-list", OptionList).highlighted
        return self.create_name is not None and index == 0

    @staticmethod
    def _label(entry: BranchEntry) -> str:
        return entry.name + (" (remote)" if entry.remote else "")

    def _row(
        self, entry: BranchEntry, match: Match, name_width: int, now: float, p: dict[str, str]
    ) -> Text:
        row = Text(no_wrap=True, overflow="ellipsis", end="")
        row.append("● " if entry.current else "  ", p["repo-clean"])
        name = Text(entry.name, "bold" if entry.current else "")
        for start, end in highlight_spans(match.positions):
            name.stylize(f"underline {p['repo-behind']}", start, end)
        if entry.remote:
            name.append(" (remote)", p["repo-muted"])
        name.truncate(name_width, overflow="ellipsis", pad=True)
        row.append_text(name)
        row.append("  ")
        row.append_text(_tracking(entry, p, width=9))
        row.append("  ")
        row.append(f"{ago(entry.time, now):>8}", p["repo-muted"])
        row.append("  ")
        if entry.worktree:
            row.append("(in another worktree) ", p["repo-muted"])
        if entry.upstream_gone and not entry.current:
            row.append("upstream gone · ctrl+d deletes  ", p["repo-dirty"])
        row.append(entry.subject)
        return row

    def _selected(self) -> BranchEntry | None:
        index = self.query_one("#switch-list", OptionList).highlighted
        if index is None:
            return None
        index -= self._offset
        if not 0 <= index < len(self.shown):
            return None
        return self.shown[index][0]

    # -- actions ------------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "stash_switch":
            # Only after a refusal it can help with: otherwise `s` is typed into the filter.
            return self.offer is not None and self.busy is None
        if action == "switch":
            if parameters and parameters[0] != self.stash:
                return False
            return True if self.busy is None and (self.shown or self.create_name) else None
        if action in ("new_branch", "delete_branch", "rename_branch"):
            # Not in stash & switch, which is about one thing; disabled while busy.
            return False if self.stash else (True if self.busy is None else None)
        if action == "close":
            return None if self.busy else True
        return True

    def action_close(self) -> None:
        if self.busy is None:
            self.dismiss()

    def action_cursor(self, step: int) -> None:
        branches = self.query_one("#switch-list", OptionList)
        if step > 0:
            branches.action_cursor_down()
        else:
            branches.action_cursor_up()

    def action_page(self, step: int) -> None:
        branches = self.query_one("#switch-list", OptionList)
        page = branches.action_page_down if step > 0 else branches.action_page_up
        page()  # type: ignore[no-untyped-call]  # textual leaves OptionList's page actions untyped

    @on(OptionList.OptionSelected, "#switch-list")
    def _clicked(self, event: OptionList.OptionSelected) -> None:
        self.action_switch()  # a click; the keys come through the enter bindings

    def action_switch(self, stash: bool | None = None) -> None:
        if self.busy is None and self._on_create_row() and self.create_name is not None:
            self._run_branch_change(self._create(self.create_name, None, switch=True))
            return
        entry = self._selected()
        if entry is None or self.busy is not None:
            return
        self._start(entry, stash=self.stash)

    def action_stash_switch(self) -> None:
        if self.offer is not None and self.busy is None:
            self._start(self.offer, stash=True)

    def _start(self, entry: BranchEntry, *, stash: bool) -> None:
        self.offer = None
        self.busy = (
            f"stashing and switching to {entry.name}…" if stash else (f"switching to {entry.name}…")
        )
        self._draw_title()
        self._say(Text(f"⟳ {self.busy}", self._p["repo-busy"]))
        self.refresh_bindings()
        self.run_worker(self._switch(entry, stash), group="switch-run")

    async def _switch(self, entry: BranchEntry, stash: bool) -> None:
        app = self.gw_app
        try:
            if stash:
                change = app.engine.stash_and_switch(self.repo, entry.name)
            else:
                change = app.engine.switch(self.repo, entry.name)
            # Shielded: the engine still logs the change to history if the panel goes away.
            result = await asyncio.shield(change)
        except (RepoBusy, UnknownRepo, OSError) as error:
            self._idle()
            self._say(Text(f"✗ Not switched: {error}"), error=True)
            return
        self._idle()
        if isinstance(result, SwitchRefusal):
            self._refused(entry, result, stash)
            return
        if result.offer_stash is not None:
            await self._offer_stash(result)
            return
        self.dismiss()
        self.app.notify(result.message, title=f"{self.repo}: switched", timeout=8)

    def _idle(self) -> None:
        self.busy = None
        self._draw_title()
        self.refresh_bindings()

    def _refused(self, entry: BranchEntry, refusal: SwitchRefusal, stash: bool) -> None:
        text = Text.assemble(("✗ Not switched: ", "bold"), refusal.message)
        # The message names the first few files; a longer list follows, one file a line.
        named = all(path in refusal.message for path in refusal.paths)
        for path in () if named else refusal.paths[:_MAX_PATHS]:
            text.append(f"\n    {path}")
        if not named and len(refusal.paths) > _MAX_PATHS:
            text.append(f"\n    … and {len(refusal.paths) - _MAX_PATHS} more")
        if refusal.reason in NEXT_KEYS:
            text.append(f"\n{NEXT_KEYS[refusal.reason]}")
        if refusal.reason == "would-overwrite" and not stash:
            self.offer = entry
            text.append("\npress ")
            text.append("s", "bold reverse")
            text.append(
                f" to stash your changes (untracked files too) and switch to {entry.name}; "
                "they are offered back when you return"
            )
        self._say(text, error=refusal.reason not in ("already-on",))
        self.refresh_bindings()

    async def _offer_stash(self, result: SwitchResult) -> None:
        """Back on a branch left with stash-and-switch: ask to re-apply what was stashed."""
        app = self.gw_app
        stash = result.offer_stash
        assert stash is not None
        self._say(Text(f"✓ {result.message}", self._p["repo-clean"]))
        when = ago(stash.time, app.clock()) if stash.time else "earlier"
        body = (
            f"When you left {result.branch} ({when}), gitwatch stashed your changes in "
            f"{stash.ref} ({stash.sha[:10]}).\n\nRe-apply them now? The stash is dropped once "
            "they are back; if they conflict it is kept and the conflict panel opens."
        )
        title = f"Re-apply your changes on {result.branch}?"
        if not await self.app.push_screen_wait(ConfirmScreen(title, body, yes="Re-apply")):
            self.dismiss()
            self.app.notify(
                f"{result.message}; the stash stays: S lists it", title=f"{self.repo}: switched"
            )
            return
        self.busy = f"re-applying {stash.ref}…"
        self._draw_title()
        try:
            outcome: StashOutcome = await asyncio.shield(
                app.engine.apply_stash(self.repo, stash.sha, pop=True)
            )
        except (RepoBusy, UnknownRepo, OSError) as error:
            outcome = StashOutcome(False, message=str(error))
        self._idle()
        if outcome.ok:
            self.dismiss()
            self.app.notify(f"{result.message}; {outcome.message}", title=f"{self.repo}: switched")
        elif outcome.conflicts:
            self.dismiss()
            self.app.notify(outcome.message, title=f"{self.repo}: re-apply conflicts", timeout=10,
                       severity="warning")  # fmt: skip
            app.open_conflicts(self.repo)
        else:  # refused, nothing changed: the stash is still there; say why and stay
            self._say(
                Text.assemble(
                    (f"✓ {result.message}\n", self._p["repo-clean"]),
                    ("✗ Your stash was not re-applied: ", "bold"),
                    f"{outcome.message}; it is kept ({stash.sha[:10]})",
                    *(f"\n    {path}" for path in outcome.blocked[:_MAX_PATHS]),
                ),
                error=True,
            )
            self.run_worker(self._load(keep_message=True), group="switch-load", exclusive=True)

    # -- branches: create, delete, rename ------------------------------------------------------

    def action_new_branch(self) -> None:
        """ctrl+n: a new branch from the highlighted row (HEAD on the create row), named in a
        box that offers the typed name, or a remote branch's own name."""
        if self.busy is not None:
            return
        entry = None if self._on_create_row() else self._selected()
        start = entry.name if entry is not None else None
        # Typed text filters the rows: it is offered as the name only from the create row.
        offered = (entry.local_name if entry is not None else self.create_name) or ""
        self._run_branch_change(self._ask_and_create(start, offered))

    def action_delete_branch(self) -> None:
        entry = self._selected()
        if self.busy is not None or entry is None or self._on_create_row():
            return
        if entry.remote:
            self._say(
                Text("✗ ctrl+d deletes local branches; this one is on the remote"), error=True
            )
            return
        self._run_branch_change(self._delete(entry))

    def action_rename_branch(self) -> None:
        entry = self._selected()
        if self.busy is not None or entry is None or self._on_create_row():
            return
        if entry.remote:
            self._say(
                Text("✗ ctrl+r renames local branches; this one is on the remote"), error=True
            )
            return
        self._run_branch_change(self._rename(entry))

    def _run_branch_change(self, work: Coroutine[Any, Any, None]) -> None:
        self.run_worker(work, group="switch-run")

    async def _ask_and_create(self, start: str | None, offered: str) -> None:
        title = f"New branch from {start or self._head_name()}"
        name = await self.app.push_screen_wait(BranchNameInput(title, offered, yes="create"))
        if name:
            await self._create(name, start, switch=False)

    async def _create(self, name: str, start: str | None, *, switch: bool) -> None:
        engine = self.gw_app.engine
        change = engine.create_branch(self.repo, name, start=start, switch=switch)
        result = await self._branch_change(f"creating {name}…", change)
        if isinstance(result, BranchResult) and result.switched:
            self.dismiss()
            self.app.notify(result.message, title=f"{self.repo}: new branch", timeout=8)

    async def _delete(self, entry: BranchEntry) -> None:
        engine = self.gw_app.engine
        try:
            preview = await engine.preview_delete_branch(self.repo, entry.name)
        except (UnknownRepo, OSError) as error:
            self._say(Text(f"✗ Not deleted: {error}"), error=True)
            return
        if preview.refusal is not None:
            self._branch_refused(preview.refusal)
            return
        if not await self._confirm_delete(preview):
            self._say(Text(f"{entry.name} is kept", self._p["repo-muted"]))
            return
        change = engine.delete_branch(
            self.repo, entry.name, expected_sha=preview.sha, drop_unmerged=not preview.merged
        )
        await self._branch_change(f"deleting {entry.name}…", change)

    async def _confirm_delete(self, preview: BranchDeletePreview) -> bool:
        """One confirm for a merged branch; for one with commits no other branch has, a first
        that lists them, then a second."""
        name, sha = preview.branch, preview.sha
        undo = f"To undo: u on the dashboard, or git branch {name} {sha}"
        if preview.merged:
            where = "its upstream is gone, and " if preview.upstream_gone else ""
            body = f"{name} is at {sha[:10]}; {where}every commit of it is on another branch."
            body += f"\n\n{undo}"
            return await self.app.push_screen_wait(
                ConfirmScreen(f"Delete branch {name}?", body, yes="Delete")
            )
        commits = plural(preview.dropped_total, "commit")
        listed = "\n".join(f"  {c.sha}  {c.subject}" for c in preview.dropped)
        more = preview.dropped_total - len(preview.dropped)
        listed += f"\n  … and {more} more" if more > 0 else ""
        body = (
            f"{name} has {commits} on no other branch, remote branch or tag:\n{listed}\n\n"
            f"Deleting it drops them from every branch. {undo}"
        )
        title = f"Delete unmerged branch {name}?"
        if not await self.app.push_screen_wait(
            ConfirmScreen(title, body, yes="Delete", danger=True)
        ):
            return False
        again = f"Only {sha[:10]} will still name them (git branch {name} {sha})."
        title = f"Really drop {commits}?"
        return await self.app.push_screen_wait(
            ConfirmScreen(title, again, yes="Drop them", danger=True)
        )

    async def _rename(self, entry: BranchEntry) -> None:
        title = f"Rename {entry.name}"
        new = await self.app.push_screen_wait(BranchNameInput(title, entry.name, yes="rename"))
        if not new or new == entry.name:
            return
        change = self.gw_app.engine.rename_branch(self.repo, entry.name, new)
        await self._branch_change(f"renaming {entry.name}…", change)

    async def _branch_change(
        self, doing: str, change: Awaitable[BranchResult | BranchRefusal]
    ) -> BranchResult | BranchRefusal | None:
        """Run a branch change with the panel busy; say its result, then read the list again."""
        self.busy = doing
        self._draw_title()
        self.refresh_bindings()
        try:
            # Shielded: the engine still logs the change to history if the panel goes away.
            result = await asyncio.shield(change)
        except (RepoBusy, UnknownRepo, OSError) as error:
            self._idle()
            self._say(Text(f"✗ {error}"), error=True)
            return None
        self._idle()
        if isinstance(result, BranchRefusal):
            self._branch_refused(result)
            return result
        said = Text(f"✓ {result.message}", self._p["repo-clean"])
        said.append(f"\nundo: u on the dashboard, or {result.undo}", self._p["repo-muted"])
        self._say(said)
        self.query_one("#switch-filter", Input).value = ""
        await self._load(keep_message=True)
        return result

    def _branch_refused(self, refusal: BranchRefusal) -> None:
        self._say(Text.assemble(("✗ ", "bold"), refusal.message), error=True)

    # -- drawing ------------------------------------------------------------------------------

    def _say(self, text: Text, *, error: bool = False) -> None:
        message = self.query_one("#switch-message", Static)
        message.update(text)
        message.set_class(error, "-error")

    def _hint(self) -> Text:
        if self.stash:
            return Text(
                "enter stashes every local change (untracked files too, in a stash named after "
                "this branch) and switches; coming back here offers to re-apply it",
                self._p["repo-muted"],
            )
        return Text(
            "enter switches; a remote branch gets a local branch that tracks it; a new name "
            "typed creates a branch",
            self._p["repo-muted"],
        )

    def _draw_title(self) -> None:
        title = Text(no_wrap=True, overflow="ellipsis")
        title.append(" Stash & switch " if self.stash else " Switch branch ", "bold reverse")
        title.append(f" {self.repo}", "bold")
        if self.busy:
            title.append(f"  ⟳ {self.busy}", self._p["repo-busy"])
        self.query_one("#switch-title", Static).update(title)

    def _draw_head(self) -> None:
        p = self._p
        head = Text(no_wrap=True, overflow="ellipsis")
        listing = self.listing
        if listing is None:
            head.append("…", p["repo-muted"])
        elif listing.detached:
            head.append("HEAD detached at ")
            head.append((listing.head or "?")[:10], "bold")
        else:
            head.append("On ")
            head.append(listing.current or "?", "bold")
            current = next((e for e in self.entries if e.current), None)
            if current is not None and current.upstream:
                head.append(" → ")
                head.append(current.upstream, p["repo-group"])
                head.append("  ")
                head.append_text(_tracking(current, p))
                if not current.ahead and not current.behind and not current.upstream_gone:
                    head.append(" in sync", p["repo-clean"])
        status = self.gw_app.engine.statuses.get(self.repo)
        if status is not None and status.dirty:
            changes = status.staged + status.unstaged + status.conflicted
            head.append("  ● ", p["repo-dirty"])
            head.append(f"{changes} changed, {status.untracked} untracked", p["repo-dirty"])
        self.query_one("#switch-head", Static).update(head)


def _tracking(entry: BranchEntry, p: dict[str, str], width: int | None = None) -> Text:
    """↑ahead ↓behind against the upstream (padded to `width` so the columns line up)."""
    text = Text(end="")
    if entry.remote:
        pass  # its name says "(remote)"
    elif entry.upstream_gone:
        text.append("gone", p["repo-error"])
    elif entry.upstream is None:
        text.append("local", p["repo-muted"])
    elif not entry.ahead and not entry.behind:
        text.append("✓", p["repo-clean"])
    else:
        if entry.ahead:
            text.append(f"↑{entry.ahead}", p["repo-ahead"])
        if entry.ahead and entry.behind:
            text.append(" ")
        if entry.behind:
            text.append(f"↓{entry.behind}", p["repo-behind"])
    if width is not None:
        text.truncate(width, pad=True)
    return text


class BranchNameInput(ModalScreen[str | None]):
    """Asks for a branch name, offering `value` (enter accepts, esc cancels)."""

    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel")]
    DEFAULT_CSS = """
    BranchNameInput { align: center middle; background: $background 60%; }
    BranchNameInput > Vertical {
        width: 60; max-width: 100%; height: auto; border: round $accent; padding: 0 1;
        background: $surface;
    }
    """

    def __init__(self, title: str, value: str, *, yes: str) -> None:
        super().__init__()
        self.title_text = title
        self.value = value
        self.yes = yes

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = self.title_text
            box.border_subtitle = f"enter to {self.yes} · esc cancels"
            yield Input(self.value, placeholder="branch name", id="branch-name-input")

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value.strip() or None)
