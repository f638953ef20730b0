"""A patch drawn line by line: only the lines on screen are rendered, so a 2,000-line diff
opens and scrolls as fast as a short one (a Static lays the whole text out at each layout:
0.7 s for 2,000 lines here). Long lines scroll sideways rather than wrap, as in `git diff`."""

from __future__ import annotations

from rich.text import Text
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip


class PatchLines(ScrollView, can_focus=True):
    """Styled lines in a scrolling view; `show` replaces them."""

    DEFAULT_CSS = "PatchLines { height: 1fr; }"

    def __init__(self, *, id: str | None = None) -> None:  # noqa: A002 (Textual's name)
        super().__init__(id=id)
        self.text = Text()
        self._lines: list[Text] = []
        self._strips: dict[int, Strip] = {}  # rendered lines, as they are first shown

    def show(self, text: Text, *, keep_scroll: bool = False) -> None:
        """Show `text` from its top (or where the view was: the same file read again)."""
        self.text = text
        self._lines = list(text.split("\n", allow_blank=True))
        self._strips.clear()
        width = max((line.cell_len for line in self._lines), default=0)
        self.virtual_size = Size(width, len(self._lines))
        if not keep_scroll:
            self.scroll_to(0, 0, animate=False)
        self.refresh()

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        index = scroll_y + y
        width, style = self.size.width, self.rich_style
        if index >= len(self._lines):
            return Strip.blank(width, style)
        strip = self._strips.get(index)
        if strip is None:
            line = self._lines[index]
            strip = Strip(list(line.render(self.app.console)), line.cell_len).apply_style(style)
            self._strips[index] = strip
        return strip.crop_extend(scroll_x, scroll_x + width, style).apply_offsets(scroll_x, index)
