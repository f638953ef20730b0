"""The repo table: one row per repo (and per group header), updated in place."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from typing import TypeVar, cast

from rich.text import Text
from textual._two_way_dict import TwoWayDict
from textual.binding import Binding
from textual.cache import LRUCache
from textual.events import Resize
from textual.geometry import Size
from textual.widgets import DataTable
from textual.widgets._data_table import Row, RowRenderables
from textual.widgets.data_table import ColumnKey, RowKey

from gitwatch_tui.ui.repo_view import Column, column_widths, columns_for, wanted_widths

CellsFor = Callable[[str, Sequence[Column]], list[Text]]
K = TypeVar("K")
V = TypeVar("V")


class RepoTable(DataTable[Text]):
    """Shows rows in the order it is given and diffs cells, so a flood of status events costs
    only the cells that changed. The cursor stays on its repo whatever moves around it.

    A row's cells are made when it is first drawn: with 1,000 repos only the thirty or so on
    screen are rendered as statuses arrive, and the rest when they scroll into view.
    """

    BINDINGS = [
        Binding("j", "cursor_down", "Down", show=False),
        Binding("k", "cursor_up", "Up", show=False),
        Binding("g", "scroll_top", "First row", show=False),
        Binding("G", "scroll_bottom", "Last row", show=False),
    ]

    def __init__(self, cells_for: CellsFor, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", cursor_foreground_priority="renderable")
        self._cells_for = cells_for
        self._order: list[str] = []
        self._drawn: dict[str, list[Text]] = {}  # the cells in place; a row not here has none
        self._layout: tuple[Column, ...] = ()
        self._widths: tuple[int, ...] = ()
        self._sort: tuple[str, bool] = ("repo", False)
        self._key_set: set[str] = set()
        self._keys_of: list[str] | None = None  # the `_order` list `_key_set` was made from

    # -- what the screen calls ----------------------------------------------------------------

    def sync(self, order: list[str], changed: set[str] | None = None) -> None:
        """Show the rows `order` names; re-render those in `changed` (None: all of them)."""
        if not self._layout:
            self._layout, self._widths = self._fit(self.size.width, order)
        if len(order) != len(self._order) or not self.shows(order):
            if not self._refit(self.size.width, order):
                self._rebuild(order)
            return
        self.update_rows(changed)
        if order != self._order:
            selected = self.selected_key
            self._order = list(order)
            # What `DataTable.sort` ends with, without sorting: the order is given.
            self._row_locations = TwoWayDict({RowKey(key): i for i, key in enumerate(order)})
            self._update_count += 1
            self.refresh()
            self._restore_cursor(selected)

    def update_rows(self, changed: Iterable[str] | None = None) -> None:
        """Re-render the rows in `changed` (None: all of them), in the order shown now: the
        cost is in the rows changed, not in the rows shown."""
        drawn = self._drawn
        keys = list(drawn) if changed is None else [key for key in changed if key in drawn]
        rows = self._rows_on_screen()
        on_screen = set(self._order[rows.start : rows.stop])
        # A row on screen is diffed now; one off screen drops its cells, made again if it
        # scrolls into view (a row with no cells has nothing cached either).
        dirty: dict[str, list[str] | None] = {}
        for key in keys:
            if key in on_screen:
                columns = self._update_row(key)
                if columns != []:
                    dirty[key] = columns
            elif drawn.pop(key, None) is not None:
                dirty[key] = None
        self._redraw(dirty)

    def shows(self, keys: Iterable[str]) -> bool:
        """Whether every one of `keys` has a row (folded and filtered-out repos have none)."""
        return self._keys().issuperset(keys)

    def set_sort(self, column: str, reverse: bool) -> None:
        """Mark the sorted column in the header (the order itself comes from `sync`)."""
        self._sort = (column, reverse)
        self._rebuild(self._order, columns=True)

    @property
    def selected_key(self) -> str | None:
        """The key of the row under the cursor: a repo name or `group:NAME`."""
        if 0 <= self.cursor_row < len(self._order):
            return self._order[self.cursor_row]
        return None

    @property
    def order(self) -> list[str]:
        return list(self._order)

    @property
    def columns_shown(self) -> tuple[Column, ...]:
        return self._layout

    def keys_on_screen(self) -> list[str]:
        """The keys of the rows in view, top to bottom."""
        rows = self._rows_on_screen()
        return self._order[rows.start : rows.stop]

    # -- internals ----------------------------------------------------------------------------

    def _keys(self) -> set[str]:
        """The keys of the rows, as a set made once per order (every change of order puts a
        new list in `_order`, and nothing changes that list in place)."""
        if self._keys_of is not self._order:
            self._key_set, self._keys_of = set(self._order), self._order
        return self._key_set

    def _fit(self, width: int, keys: Iterable[str]) -> tuple[tuple[Column, ...], tuple[int, ...]]:
        """The columns, each with the width it gets, for a table `width` cells wide showing
        the rows `keys` (the longest name decides what the Repo column wants)."""
        width = width or 120
        layout = columns_for(width)
        padding = 2 * self.cell_padding * len(layout) + 1  # + the scrollbar's column
        widths = column_widths(layout, width - padding, wanted_widths(layout, keys))
        laid_out = tuple(replace(c, width=w) for c, w in zip(layout, widths, strict=True))
        return laid_out, widths

    def on_resize(self, event: Resize) -> None:
        self._refit(event.size.width, self._order)

    def _refit(self, width: int, order: list[str]) -> bool:
        """Lay the columns out again for this width and these rows; True if they changed
        (and the table was rebuilt)."""
        layout, widths = self._fit(width, order)
        if (layout, widths) == (self._layout, self._widths):
            return False
        self._layout, self._widths = layout, widths
        self._rebuild(order, columns=True)
        return True

    def _label(self, column: Column) -> Text:
        sorted_by, reverse = self._sort
        if column.key != sorted_by:
            return Text(column.label)
        return Text(f"{column.label} {'▼' if reverse else '▲'}", style="bold")

    def _rebuild(self, order: list[str], *, columns: bool = False) -> None:
        selected = self.selected_key
        with self.app.batch_update():
            columns = columns or not self.columns
            self.clear(columns=columns)
            if columns:
                for column, width in zip(self._layout, self._widths, strict=True):
                    self.add_column(self._label(column), width=width, key=column.key)
            self._order, self._drawn = list(order), {}
            self._add_rows(order)
            self._restore_cursor(selected)

    def _add_rows(self, keys: list[str]) -> None:
        """`add_row` for each key with no cells yet (made when the row is drawn), doing once
        what it does per row: 10,000 `add_row` calls took half a second, most of it in setting
        the cursor again and counting the columns for every row, and in hashing each key a
        dozen times (a RowKey's hash is Python code): here it is hashed three times."""
        empty = cast("dict[ColumnKey, Text]", dict.fromkeys(c.key for c in self.ordered_columns))
        first = self.row_count
        added = [Row(RowKey(key), 1) for key in keys]
        if first == 0:  # one dict built at once, not a Python call per row
            self._row_locations = TwoWayDict({row.key: i for i, row in enumerate(added)})
        else:
            for index, row in enumerate(added, start=first):
                self._row_locations[row.key] = index
        self.rows.update({row.key: row for row in added})
        self._data.update({row.key: empty.copy() for row in added})  # a copy keeps the hashes
        # `_new_rows` is left alone: it only feeds `_update_dimensions`, which needs no rows.
        self._require_update_dimensions = True
        self.cursor_coordinate = self.cursor_coordinate
        self._update_count += 1
        if first == 0:  # the order is known: DataTable need not look up every row to find it
            self._ordered_row_cache[(len(added), self._update_count)] = added
        if (
            first == 0
            and added
            and self.columns
            and self.show_cursor
            and self.cursor_type != "none"
        ):
            self._highlight_cursor()  # a cell to highlight now exists
        self.check_idle()

    def _cells(self, key: str) -> list[Text]:
        """The row's cells, made and put in place if it has none."""
        cells = self._drawn.get(key)
        if cells is None:
            cells = self._drawn[key] = self._cells_for(key, self._layout)
            data = self._data[RowKey(key)]
            for column, cell in zip(self._layout, cells, strict=True):
                data[ColumnKey(column.key)] = cell
        return cells

    def _compute_row_renderables(self, row_index: int) -> RowRenderables:
        row = self._row_locations.get_key(row_index)
        if row is not None and row.value is not None:
            self._cells(row.value)
        return super()._compute_row_renderables(row_index)

    def get_row(self, row_key: RowKey | str) -> list[Text]:
        """The row's cells (made now if it was not drawn yet)."""
        key = row_key.value if isinstance(row_key, RowKey) else row_key
        if key is not None:
            self._cells(key)
        return super().get_row(row_key)

    def _update_row(self, key: str) -> list[str] | None:
        """Put the row's new cells in place; the columns whose cell changed (None: every
        one, the row had no cells)."""
        old = self._drawn.pop(key, None)
        cells = self._cells(key)
        if old is None:
            return None
        # Text's == compares text and spans, not the base style a cell's colour is in.
        return [
            column.key
            for column, new, before in zip(self._layout, cells, old, strict=True)
            if new != before or new.style != before.style
        ]

    def _redraw(self, dirty: dict[str, list[str] | None]) -> None:
        """Drop these rows' renders from the caches and repaint those on screen. Of each
        row's cells only those of the columns named are rendered again (None: all): the
        clock ticking a row's "12s ago" costs one cell, not the row's eight.

        `DataTable.update_cell` bumps a counter that every render cache is keyed on, so one
        changed cell re-renders every visible row (about 50 ms at 120x35): with polls changing
        a few rows a second that was most of the idle CPU. Instead only the changed rows'
        entries leave the caches (the widths are fixed, so nothing else moves). Tied to
        Textual's DataTable internals: textual is pinned, and tests/ui/test_repo_table.py
        checks each internal this class touches (cache keys, row locations, hooks)."""
        if not dirty:
            return
        rows = {RowKey(key) for key in dirty}
        whole = {RowKey(key) for key, columns in dirty.items() if columns is None}
        cells = {
            (RowKey(key), ColumnKey(column))
            for key, columns in dirty.items()
            for column in columns or ()
        }
        indexes = {i for row in rows if (i := self._row_locations.get(row)) is not None}
        # A row's line is its index, every row being one line high (`_y_offsets` is a list
        # of every row: walking it cost O(repos) per update).
        first_line = self.header_height if self.show_header else 0
        lines = {first_line + index for index in indexes}
        _discard(self._row_render_cache, lambda k: k[0] in rows)
        _discard(self._cell_render_cache, lambda k: k[0] in whole or (k[0], k[1]) in cells)
        _discard(self._row_renderable_cache, lambda k: k[1] in indexes)
        _discard(self._line_cache, lambda k: k[0] in lines)
        # Only rows on screen need painting (all rows are one line high); `refresh_row` sums
        # the heights of every row above its own, so calling it for a thousand off-screen rows
        # of the first sweep cost more than the rows' own drawing.
        on_screen = self._rows_on_screen()
        for index in indexes:
            if index in on_screen:
                self.refresh_row(index)

    def _rows_on_screen(self) -> range:
        """Indexes of the rows in view (every row is one line high)."""
        top = round(self.scroll_offset.y)
        return range(top, top + self.size.height)

    def _update_dimensions(self, new_rows: Iterable[RowKey]) -> None:
        """Only the scrollable size. DataTable measures every cell of new rows here to size
        its auto-width columns (8,000 measurements for the first 1,000 rows, a tenth of the
        first sweep's UI time); these columns have fixed widths and rows are one line high."""
        width = sum(column.get_render_width(self) for column in self.columns.values())
        header = self.header_height if self.show_header else 0
        self.virtual_size = Size(width, self._total_row_height + header)

    def _restore_cursor(self, selected: str | None) -> None:
        """Put the cursor back on its repo (or keep its place) after rows moved."""
        if not self._order:
            return
        if selected in self._order:
            row = self._order.index(selected)
        else:
            row = min(self.cursor_row, len(self._order) - 1)
        if row != self.cursor_row:
            self.move_cursor(row=row, animate=False, scroll=False)


def _discard(cache: LRUCache[K, V], dirty: Callable[[K], bool]) -> None:
    """Drop the entries whose keys are `dirty` from one of DataTable's render caches."""
    for key in [k for k in cache.keys() if dirty(k)]:  # noqa: SIM118 (an LRUCache)
        cache.discard(key)
