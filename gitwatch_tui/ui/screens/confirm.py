"""The one confirm dialog every panel uses before a destructive step (drop, abort, ...)."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static
from textual.widgets.button import ButtonVariant


class ConfirmScreen(ModalScreen[bool]):
    """Ask yes or no: y / enter answer True, n / esc False.

    `danger` marks a step that cannot simply be taken back (red frame and a ⚠ in the title),
    so the body should say what it changes and how to go back where git allows it.
    """

    DEFAULT_CSS = """
    ConfirmScreen {
        align: center middle;
        background: $background 60%;
    }
    ConfirmScreen #confirm-box {
        width: 64;
        max-width: 100%;
        height: auto;
        max-height: 100%;
        border: round $primary;
        border-title-style: bold;
        padding: 0 1;
        background: $surface;
    }
    ConfirmScreen.-danger #confirm-box {
        border: round $repo-error;
        border-title-color: $repo-error;
    }
    ConfirmScreen #confirm-body {
        height: auto;
        max-height: 16;
        overflow-y: auto;
        margin-bottom: 1;
    }
    ConfirmScreen #confirm-buttons {
        height: auto;
        align-horizontal: right;
    }
    ConfirmScreen Button {
        margin-left: 2;
    }
    """

    # Priority: the answer keys win over anything focused inside the dialog.
    BINDINGS = [
        Binding("y,enter", "answer(True)", "Yes", priority=True),
        Binding("n,escape", "answer(False)", "No", priority=True),
    ]

    def __init__(self, title: str, body: str, *, yes: str = "Yes", danger: bool = False) -> None:
        super().__init__(classes="-danger" if danger else None)
        self.title_text = title
        self.body = body
        self.yes = yes
        self.danger = danger

    def compose(self) -> ComposeResult:
        box = Vertical(id="confirm-box")
        box.border_title = ("⚠ " if self.danger else "") + self.title_text
        with box:
            yield Static(Text(self.body), id="confirm-body")
            with Horizontal(id="confirm-buttons"):
                # Not focusable: the keys answer (enter always means yes); the buttons are
                # for the mouse and show which key does what.
                no = Button(" n  Cancel ", id="confirm-no", compact=True)
                variant: ButtonVariant = "error" if self.danger else "primary"
                yes = Button(f" y  {self.yes} ", variant, id="confirm-yes", compact=True)
                for button in (no, yes):
                    button.can_focus = False
                yield no
                yield yes

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "confirm-yes")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)
