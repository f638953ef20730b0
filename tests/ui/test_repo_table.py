"""The repo table renders only the rows on screen, and again only those whose cells changed."""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from pathlib import Path

import pytest
from rich.color import ColorSystem
from rich.style import Style
from rich.text import Text
from textual._two_way_dict import TwoWayDict
from textual.app import App, ComposeResult
from textual.cache import LRUCache
from textual.widgets import DataTable
from textual.widgets._data_table import RowRenderables
from textual.widgets.data_table import ColumnKey, RowKey

import gitwatch_tui.ui
from gitwatch_tui.ui.repo_view import Column
from gitwatch_tui.ui.theme_files import load_themes
from gitwatch_tui.ui.widgets.repo_table import RepoTable


class TableApp(App[None]):
    def __init__(self, rows: int = 30) -> None:
        super().__init__()
        self.values = {f"repo-{i}": f"v{i}" for i in range(rows)}
        self.made: list[str] = []  # the rows whose cells were asked for, in order

    def cells_for(self, key: str, columns: Sequence[Column]) -> list[Text]:
        self.made.append(key)
        return [Text(key if c.key == "repo" else self.values[key]) for c in columns]

    def compose(self) -> ComposeResult:
        yield RepoTable(self.cells_for)


def rendered(table: RepoTable, key: str) -> str:
    y = table.header_height + table.order.index(key) - round(table.scroll_offset.y)
    assert table.header_height <= y < table.size.height, f"{key} is not on screen"
    return table.render_line(y).text


async def test_one_changed_row_is_the_only_one_rendered_again() -> None:
    app = TableApp()
    async with app.run_test(size=(120, 20)) as pilot:
        table = app.query_one(RepoTable)
        table.sync(list(app.values))
        await pilot.pause()
        assert "v3" in rendered(table, "repo-3")
        for y in range(table.size.height):  # every line on screen is in the caches
            table.render_line(y)
        rendered_rows: list[object] = []
        original = table._render_line_in_row

        def counting(row_key, *args, **kwargs):  # type: ignore[no-untyped-def]
            rendered_rows.append(row_key.value)
            return original(row_key, *args, **kwargs)

        table._render_line_in_row = counting  # type: ignore[method-assign]
        app.values["repo-3"] = "changed"
        table.sync(list(app.values), {"repo-3", "repo-4"})  # repo-4 did not change
        for y in range(table.size.height):
            table.render_line(y)
        assert rendered_rows == ["repo-3"]
        assert "changed" in rendered(table, "repo-3")
        assert "v5" in rendered(table, "repo-5")


async def test_of_a_changed_row_only_the_cells_that_changed_are_rendered_again() -> None:
    """The clock ticking a row's "12s ago" re-rendered all its cells: once a second, every
    row in view with a recent fetch, the longest hold of the event loop during a refresh."""
    app = TableApp()
    async with app.run_test(size=(120, 20)) as pilot:
        table = app.query_one(RepoTable)
        table.sync(list(app.values))
        await pilot.pause()
        for y in range(table.size.height):
            table.render_line(y)
        row = RowKey("repo-3")

        def cached() -> set[object]:
            return {k[1].value for k in table._cell_render_cache.keys() if k[0] == row}  # noqa: SIM118

        assert {"repo", "branch"} <= cached()
        app.values["repo-3"] = "changed"  # every column but the name shows this value
        table.update_rows({"repo-3"})
        assert cached() == {"repo"}
        assert "changed" in rendered(table, "repo-3")


async def test_cells_are_made_for_rows_on_screen_and_when_scrolled_into_view() -> None:
    app = TableApp(rows=500)
    async with app.run_test(size=(120, 20)) as pilot:
        table = app.query_one(RepoTable)
        table.sync(list(app.values))
        await pilot.pause()
        on_screen = set(table.order[: table.size.height])
        assert set(app.made) <= on_screen and "repo-0" in app.made

        # A change to a row off screen costs nothing now, and shows once it is in view.
        app.made.clear()
        app.values["repo-400"] = "changed"
        table.sync(list(app.values), {"repo-400", "repo-1"})
        assert app.made == ["repo-1"]  # on screen: diffed at once
        table.move_cursor(row=400)
        await pilot.pause()
        assert "changed" in rendered(table, "repo-400")
        assert table.get_row("repo-499")[1].plain == "v499"  # asked for directly: made then

        # Once drawn, a row that changes while scrolled away is drawn again when back.
        app.values["repo-1"] = "again"
        table.sync(list(app.values), {"repo-1"})
        table.move_cursor(row=0)
        await pilot.pause()
        assert "again" in rendered(table, "repo-1")


class ThemedTableApp(TableApp):
    """The table with the app's style sheet and themes."""

    CSS_PATH = Path(gitwatch_tui.ui.__file__).parent / "app.tcss"

    def __init__(self) -> None:
        super().__init__(rows=5)
        for theme in load_themes()[0]:
            self.register_theme(theme)


def line_style(table: RepoTable, y: int) -> Style:
    """The style of a rendered line's first cell (its padding: the row's own colours)."""
    return table.render_line(y)._segments[0].style or Style()


def background(style: Style, system: ColorSystem) -> str:
    colour = style.bgcolor
    assert colour is not None
    shown = colour.downgrade(system)
    return str(shown.number) if system == ColorSystem.EIGHT_BIT else shown.name


# Ours, and a few of Textual's (the config may name any of them).
THEMES = ["gitwatch-dark", "gitwatch-light", "gitwatch-high-contrast", "textual-dark",
          "textual-light", "nord", "gruvbox"]  # fmt: skip


@pytest.mark.parametrize("theme", THEMES)
async def test_the_cursor_row_stands_out_from_the_header_and_the_rows(theme: str) -> None:
    app = ThemedTableApp()
    async with app.run_test(size=(80, 10)) as pilot:
        app.theme = theme
        table = app.query_one(RepoTable)
        table.sync(list(app.values))
        table.move_cursor(row=1)
        await pilot.pause()
        header, above, cursor, below = (line_style(table, y) for y in range(4))
        # In true colour and in a 256-colour terminal (tmux's default), where near colours
        # become one: the dark theme's cursor and header did.
        for system in (ColorSystem.TRUECOLOR, ColorSystem.EIGHT_BIT):
            others = {background(style, system) for style in (header, above, below)}
            assert background(cursor, system) not in others, (theme, system)


async def test_without_colour_the_cursor_row_is_in_reverse_video(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    app = ThemedTableApp()
    async with app.run_test(size=(80, 10)) as pilot:
        app.theme = "gitwatch-dark"
        table = app.query_one(RepoTable)
        table.sync(list(app.values))
        table.move_cursor(row=1)
        await pilot.pause()
        header, above, cursor, below = (line_style(table, y) for y in range(4))
        assert cursor.reverse and not (header.reverse or above.reverse or below.reverse)
        table.blur()  # the cursor of a table without focus (the filter is typed) as well
        await pilot.pause()
        assert line_style(table, 2).reverse


# -- the DataTable internals RepoTable relies on ----------------------------------------------
# RepoTable makes cells lazily, sets the row order without sorting, and drops only the changed
# rows from DataTable's render caches (see `RepoTable._redraw`). Each private part of DataTable
# it touches is checked here, so that a Textual upgrade that changes one fails a test rather
# than leaving rows stale on screen.


async def test_datatable_render_caches_are_keyed_as_repo_table_expects() -> None:
    app = TableApp(rows=8)
    async with app.run_test(size=(80, 12)) as pilot:
        table = app.query_one(RepoTable)
        table.sync(list(app.values))
        await pilot.pause()
        for y in range(table.size.height):
            table.render_line(y)
        keys = {RowKey(key) for key in app.values}
        rows = keys | {table._header_row_key}  # the header is a row too (index -1)
        caches = {
            "_row_render_cache": lambda k: k[0] in rows,  # (row key, line, …)
            "_cell_render_cache": lambda k: k[0] in rows and k[1] in table.columns,  # (row, col, …)
            "_row_renderable_cache": lambda k: k[1] in range(-1, len(keys)),  # (count, index)
            "_line_cache": lambda k: k[0] in range(table.size.height),  # (y, …)
        }
        for name, shaped in caches.items():
            cache = getattr(table, name)
            assert isinstance(cache, LRUCache), name
            assert len(cache) and all(shaped(k) for k in cache.keys()), name  # noqa: SIM118
        # One line per row, in the rows' order: a row's line is its index (what `_redraw`
        # drops from the line cache without walking every row's offset).
        assert [row for row, _ in table._y_offsets] == [RowKey(key) for key in table.order]


async def test_datatable_row_locations_data_and_update_count_are_as_repo_table_expects() -> None:
    app = TableApp(rows=4)
    async with app.run_test(size=(80, 12)) as pilot:
        table = app.query_one(RepoTable)
        table.sync(list(app.values))
        await pilot.pause()
        assert isinstance(table._row_locations, TwoWayDict)
        count = table._update_count
        order = list(reversed(app.values))
        table.sync(order)  # the same rows in another order: set in place, no sort
        assert [table._row_locations.get_key(i) for i in range(4)] == [RowKey(k) for k in order]
        assert table._update_count == count + 1
        # A cell put in `_data` is what DataTable's public API reads back.
        assert table.get_cell(RowKey("repo-2"), ColumnKey("branch")).plain == "v2"
        assert table._data[RowKey("repo-2")][ColumnKey("branch")].plain == "v2"


async def test_datatable_calls_the_hooks_repo_table_overrides() -> None:
    for hook, parameters in (
        ("_compute_row_renderables", ["self", "row_index"]),
        ("_update_dimensions", ["self", "new_rows"]),
    ):
        assert list(inspect.signature(getattr(DataTable, hook)).parameters) == parameters, hook
    assert RowRenderables._fields == ("label", "cells")
    app = TableApp(rows=4)
    calls: list[str] = []
    async with app.run_test(size=(80, 12)) as pilot:
        table = app.query_one(RepoTable)
        for hook in ("_compute_row_renderables", "_update_dimensions"):
            original = getattr(table, hook)
            setattr(table, hook, lambda *a, _f=original, _h=hook: calls.append(_h) or _f(*a))
        table.sync(list(app.values))
        await pilot.pause()
        assert {"_compute_row_renderables", "_update_dimensions"} <= set(calls)
        assert table.virtual_size.height == 4 + table.header_height


async def test_rows_added_at_once_leave_the_table_as_add_row_does() -> None:
    keys = [f"repo-{i}" for i in range(5)]
    app = TableApp(rows=5)
    async with app.run_test(size=(80, 12)) as pilot:
        table = app.query_one(RepoTable)
        table.sync(keys)  # the first rows: `_add_rows`
        await pilot.pause()
        plain: DataTable[Text] = DataTable(cursor_type="row")
        await app.mount(plain)
        for column in table.ordered_columns:
            plain.add_column(column.label, width=column.width, key=column.key.value)
        for key in keys:
            plain.add_row(key=key)
        await pilot.pause()
        for key in keys:
            assert table._row_locations.get(RowKey(key)) == plain._row_locations.get(RowKey(key))
        assert table.rows == plain.rows and table.ordered_rows == plain.ordered_rows
        # Cells not made yet are None in `_data`, as add_row leaves a row given no cells;
        # those on screen were made when drawn.
        made = {RowKey(k) for k in app.made}
        for key, cells in plain._data.items():
            assert list(cells) == list(table._data[key])
            if key not in made:
                assert table._data[key] == cells
        assert (table.row_count, table.cursor_coordinate) == (
            plain.row_count,
            plain.cursor_coordinate,
        )
        assert table.virtual_size.height == plain.virtual_size.height
