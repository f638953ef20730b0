"""`u`: undo the last change gitwatch made to the selected repo, after a confirm that says
what going back will do (or a toast saying why it will not: nothing to undo, undone already,
the repo moved on since, a local change in the way)."""

from __future__ import annotations

import asyncio

from textual.app import App

from gitwatch_tui.core.results import UndoPreview, UndoRefusal
from gitwatch_tui.engine.engine import UnknownRepo
from gitwatch_tui.engine.locks import RepoBusy
from gitwatch_tui.ui.host import Host
from gitwatch_tui.ui.screens.confirm import ConfirmScreen


def undo_confirm(name: str, preview: UndoPreview) -> ConfirmScreen:
    """The confirm for an undo that may go ahead: its steps, then git's words for it."""
    record = preview.record
    assert record is not None and preview.refusal is None
    steps = "\n".join(f"• {step}" for step in preview.steps)
    body = f"{steps}\n\nIn git's words: {record.command}\n\nAn undo is not undone by u again."
    return ConfirmScreen(f"Undo the {record.action} in {name}?", body, yes="Undo")


async def confirm_and_undo(host: Host, app: App[object], name: str) -> None:
    """Preview, confirm, undo, and say how it went (run as a worker: it waits for the user)."""
    engine = host.engine
    try:
        preview = await engine.preview_undo(name)
    except (UnknownRepo, OSError) as error:
        app.notify(str(error), title=f"{name}: nothing undone", severity="warning")
        return
    if preview.refusal is not None:
        app.notify(preview.refusal.message, title=f"{name}: nothing undone", severity="warning")
        return
    if not await app.push_screen_wait(undo_confirm(name, preview)):
        return
    try:
        # Shielded: the engine still logs the undo to history if the app goes away meanwhile.
        result = await asyncio.shield(engine.undo_last(name))
    except (RepoBusy, UnknownRepo, OSError) as error:
        app.notify(str(error), title=f"{name}: not undone", severity="error")
        return
    if isinstance(result, UndoRefusal):
        app.notify(result.message, title=f"{name}: not undone", severity="warning", timeout=10)
        return
    app.notify(result.message, title=f"{name}: undone", timeout=8)
