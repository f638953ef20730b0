"""The key bar at the bottom of every screen."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer as TextualFooter


class Footer(TextualFooter):
    """Textual's footer, remade only when the keys it shows change.

    Textual's own remakes and restyles every key on each bindings refresh (a focus move, a
    screen pushed or popped): three times while the dashboard starts, about 20 ms each, taken
    from the first status sweep. The keys seldom change, so each refresh now compares first.
    """

    _shown: tuple[tuple[str, Binding, bool, str], ...] | None = None

    def compose(self) -> ComposeResult:
        if self._bindings_ready:
            self._shown = self._keys_to_show(self.screen)
        yield from super().compose()

    def bindings_changed(self, screen: Screen[object]) -> None:
        if self._bindings_ready and self._shown == self._keys_to_show(screen):
            return
        super().bindings_changed(screen)

    def _keys_to_show(self, screen: Screen[object]) -> tuple[tuple[str, Binding, bool, str], ...]:
        palette = self.app.COMMAND_PALETTE_BINDING
        return tuple(
            (key, active.binding, active.enabled, active.tooltip)
            for key, active in screen.active_bindings.items()
            if active.binding.show or key == palette
        )
