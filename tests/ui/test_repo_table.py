"""The repo table renders only the rows on screen, and again only those whose cells changed."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.app import App, ComposeResult

from gitwatch_tui.ui.repo_view import Column
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
