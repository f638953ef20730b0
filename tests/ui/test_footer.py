"""The footer is remade when the keys it shows change, and only then."""

from __future__ import annotations

from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.widgets import Static
from textual.widgets._footer import FooterKey

from gitwatch_tui.ui.widgets.footer import Footer


class Keys(App[None]):
    BINDINGS = [Binding("p", "pull", "Pull"), Binding("x", "hidden", "Hidden", show=False)]

    def __init__(self) -> None:
        super().__init__()
        self.can_pull = True

    def compose(self) -> ComposeResult:
        yield Static("body")
        yield Footer()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return (True if self.can_pull else None) if action == "pull" else True


def keys_shown(app: App[None]) -> list[FooterKey]:
    return list(app.screen.query(FooterKey))


async def test_a_bindings_refresh_that_changes_nothing_keeps_the_keys() -> None:
    app = Keys()
    async with app.run_test() as pilot:
        await pilot.pause()
        before = keys_shown(app)
        assert [key.description for key in before] == ["Pull", "palette"]
        for _ in range(3):
            app.screen.refresh_bindings()
            await pilot.pause()
        assert keys_shown(app) == before  # the very same widgets: nothing was remade


async def test_a_key_that_is_disabled_or_enabled_is_shown_so() -> None:
    app = Keys()
    async with app.run_test() as pilot:
        await pilot.pause()
        app.can_pull = False
        app.screen.refresh_bindings()
        await pilot.pause()
        pull = keys_shown(app)[0]
        assert pull.description == "Pull" and pull.has_class("-disabled")
        app.can_pull = True
        app.screen.refresh_bindings()
        await pilot.pause()
        assert not keys_shown(app)[0].has_class("-disabled")
